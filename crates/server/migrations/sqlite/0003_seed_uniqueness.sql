-- The seed's uniqueness rules: usernames are unique as written (`Alice` and `alice` are two
-- accounts), emails are unique after normalisation (domain lower-cased, local part as written).
-- Usernames may now use any script, so the case-insensitive key used for login fallback and
-- search is computed in Rust (`username_key`), as `email_key` and `name_key` already are; both
-- keys are plain indexes now, no longer uniqueness rules.
UPDATE users SET email = substr(email, 1, instr(email, '@')) || lower(substr(email, instr(email, '@') + 1))
 WHERE instr(email, '@') > 0;
DROP INDEX users_username_lower;
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_username ON users (username);
CREATE UNIQUE INDEX users_email ON users (email);
ALTER TABLE users ADD COLUMN username_key TEXT NOT NULL DEFAULT '';
UPDATE users SET username_key = lower(username);
CREATE INDEX users_username_key ON users (username_key);
CREATE INDEX users_email_key ON users (email_key);

-- Account deletion hands on the groups a user created (store::delete_user).
CREATE INDEX chat_rooms_created_by ON chat_rooms (created_by);
