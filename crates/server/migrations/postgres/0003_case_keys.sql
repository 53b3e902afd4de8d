-- Case-insensitive matching computed in Rust: see migrations/sqlite/0002_case_keys.sql.
ALTER TABLE users ADD COLUMN email_key VARCHAR(254);
ALTER TABLE users ADD COLUMN name_key VARCHAR(100) NOT NULL DEFAULT '';
UPDATE users SET email_key = lower(email), name_key = lower(coalesce(full_name, ''));
ALTER TABLE users ALTER COLUMN email_key SET NOT NULL;
DROP INDEX users_email_lower;
CREATE UNIQUE INDEX users_email_key ON users (email_key);
