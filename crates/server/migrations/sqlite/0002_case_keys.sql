-- Case-insensitive matching computed in Rust, not by the database: SQLite's lower() folds only
-- ASCII, PostgreSQL's follows its locale, so "É@x.io" and "é@x.io" were one account on one
-- backend and two on the other. Banter now stores Unicode-lowercased keys and compares those.
-- (Usernames are ASCII by validation, so lower(username) already agrees on both.)
ALTER TABLE users ADD COLUMN email_key TEXT;
ALTER TABLE users ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
UPDATE users SET email_key = lower(email), name_key = lower(coalesce(full_name, ''));
DROP INDEX users_email_lower;
CREATE UNIQUE INDEX users_email_key ON users (email_key);
