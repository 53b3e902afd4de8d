-- Banter schema, PostgreSQL flavour. Mirrors migrations/sqlite/0001_init.sql table for table;
-- see that file for what each added column is for. Timestamps are TIMESTAMPTZ (UTC).

CREATE TABLE users (
    id              BIGSERIAL    PRIMARY KEY,
    username        VARCHAR(50)  NOT NULL,
    email           VARCHAR(254) NOT NULL,
    hashed_password VARCHAR(255) NOT NULL,
    full_name       VARCHAR(100),
    is_active       BOOLEAN      NOT NULL DEFAULT TRUE,
    is_verified     BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMPTZ  NOT NULL,
    updated_at      TIMESTAMPTZ  NOT NULL
);
CREATE UNIQUE INDEX users_username_lower ON users (lower(username));
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));

CREATE TABLE chat_rooms (
    id              BIGSERIAL    PRIMARY KEY,
    name            VARCHAR(100),
    room_type       VARCHAR(20)  NOT NULL CHECK (room_type IN ('direct', 'group')),
    created_by      BIGINT       REFERENCES users (id) ON DELETE SET NULL,
    direct_key      VARCHAR(50)  UNIQUE,
    last_seq        BIGINT       NOT NULL DEFAULT 0,
    last_message_at TIMESTAMPTZ,
    created_at      TIMESTAMPTZ  NOT NULL,
    updated_at      TIMESTAMPTZ  NOT NULL
);

CREATE TABLE chat_room_members (
    id            BIGSERIAL   PRIMARY KEY,
    chat_room_id  BIGINT      NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE,
    user_id       BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at     TIMESTAMPTZ NOT NULL,
    last_read_seq BIGINT      NOT NULL DEFAULT 0,
    UNIQUE (chat_room_id, user_id)
);
CREATE INDEX chat_room_members_user ON chat_room_members (user_id);

CREATE TABLE messages (
    id           BIGSERIAL   PRIMARY KEY,
    chat_room_id BIGINT      NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE,
    sender_id    BIGINT      REFERENCES users (id) ON DELETE SET NULL,
    content      TEXT        NOT NULL,
    seq          BIGINT      NOT NULL,
    client_id    VARCHAR(64),
    created_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (chat_room_id, seq),
    UNIQUE (sender_id, client_id)
);
CREATE INDEX messages_sender ON messages (sender_id);
CREATE INDEX messages_created_at ON messages (created_at DESC);

CREATE TABLE refresh_tokens (
    id          BIGSERIAL   PRIMARY KEY,
    user_id     BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  CHAR(64)    NOT NULL UNIQUE,
    session_id  VARCHAR(36) NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
