-- The seed's uniqueness rules: see migrations/sqlite/0003_seed_uniqueness.sql.
UPDATE users SET email = substr(email, 1, strpos(email, '@')) || lower(substr(email, strpos(email, '@') + 1))
 WHERE strpos(email, '@') > 0;
DROP INDEX users_username_lower;
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_username ON users (username);
CREATE UNIQUE INDEX users_email ON users (email);
-- Lower-casing can lengthen text ("İ" becomes two characters), so the Rust-computed keys are
-- TEXT: a 50-character username may have a longer key.
ALTER TABLE users ADD COLUMN username_key TEXT NOT NULL DEFAULT '';
ALTER TABLE users ALTER COLUMN email_key TYPE TEXT;
ALTER TABLE users ALTER COLUMN name_key TYPE TEXT;
UPDATE users SET username_key = lower(username);
CREATE INDEX users_username_key ON users (username_key);
CREATE INDEX users_email_key ON users (email_key);

-- Account deletion hands on the groups a user created (store::delete_user).
CREATE INDEX chat_rooms_created_by ON chat_rooms (created_by);
