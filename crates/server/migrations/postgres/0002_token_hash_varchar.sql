-- token_hash was CHAR(64). sqlx binds the hash as text, and PostgreSQL cannot use a bpchar
-- unique index for a text comparison: every refresh and logout scanned the table. Hashes are
-- always 64 hex characters, so VARCHAR loses nothing.
ALTER TABLE refresh_tokens ALTER COLUMN token_hash TYPE VARCHAR(64);
