-- Banter schema, SQLite flavour. Mirrors migrations/postgres/0001_init.sql table for table;
-- timestamps are UTC, bound from Rust (never CURRENT_TIMESTAMP, whose text format differs).

-- The seed's `users`. Uniqueness of username and email is case-insensitive: two accounts must
-- never differ only by case, and login compares the same way. Usernames are ASCII by validation,
-- so SQLite's ASCII-only lower() agrees with PostgreSQL's.
CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    username        TEXT    NOT NULL,
    email           TEXT    NOT NULL,
    hashed_password TEXT    NOT NULL,
    full_name       TEXT,
    is_active       BOOLEAN NOT NULL DEFAULT 1,
    is_verified     BOOLEAN NOT NULL DEFAULT 0,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
);
CREATE UNIQUE INDEX users_username_lower ON users (lower(username));
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));

-- The seed's `chat_rooms`, plus:
--   last_seq        the room's message sequence: the highest `messages.seq` handed out. Bumped in
--                   the same transaction as the insert, which also serialises concurrent senders.
--   last_message_at newest activity, so conversation lists sort without scanning messages.
--   direct_key      "lo:hi" user ids for a direct room: at most one DM room per pair, race-free.
CREATE TABLE chat_rooms (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT,
    room_type       TEXT    NOT NULL CHECK (room_type IN ('direct', 'group')),
    created_by      INTEGER REFERENCES users (id) ON DELETE SET NULL,
    direct_key      TEXT    UNIQUE,
    last_seq        INTEGER NOT NULL DEFAULT 0,
    last_message_at TEXT,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
);

-- The seed's junction table, plus the member's read position: every message with
-- seq <= last_read_seq counts as read by this member (replaces the seed's per-message is_read,
-- which cannot say "read by Bob but not by Carol").
CREATE TABLE chat_room_members (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_room_id  INTEGER NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at     TEXT    NOT NULL,
    last_read_seq INTEGER NOT NULL DEFAULT 0,
    UNIQUE (chat_room_id, user_id)
);
CREATE INDEX chat_room_members_user ON chat_room_members (user_id);

-- The seed's `messages`. sender_id becomes NULL when the sender deletes their account (shown as
-- "Deleted User"). seq is the per-room order; client_id makes sends idempotent per sender.
CREATE TABLE messages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_room_id INTEGER NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE,
    sender_id    INTEGER REFERENCES users (id) ON DELETE SET NULL,
    content      TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    client_id    TEXT,
    created_at   TEXT    NOT NULL,
    UNIQUE (chat_room_id, seq),
    UNIQUE (sender_id, client_id)
);
CREATE INDEX messages_sender ON messages (sender_id);
CREATE INDEX messages_created_at ON messages (created_at DESC);

-- The seed's `refresh_tokens`, storing only a SHA-256 of each token. Every token belongs to a
-- session (session_id, shared by all tokens one login rotated through). A rotated token keeps its
-- row with revoked_at set, so presenting it again is recognised as reuse and ends the session.
CREATE TABLE refresh_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  TEXT    NOT NULL UNIQUE,
    session_id  TEXT    NOT NULL,
    expires_at  TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
