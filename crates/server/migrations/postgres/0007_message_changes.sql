-- Messages people can change: see migrations/sqlite/0006_message_changes.sql.
ALTER TABLE chat_rooms ADD COLUMN last_message_seq BIGINT NOT NULL DEFAULT 0;
UPDATE chat_rooms SET last_message_seq = last_seq;
ALTER TABLE messages ADD COLUMN edited_at TIMESTAMPTZ;
ALTER TABLE messages ADD COLUMN deleted_at TIMESTAMPTZ;
ALTER TABLE messages ADD COLUMN reply_to_id BIGINT;

CREATE TABLE message_reactions (
    id         BIGSERIAL    PRIMARY KEY,
    message_id BIGINT       NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id    BIGINT       NOT NULL,
    emoji      VARCHAR(64)  NOT NULL,
    created_at TIMESTAMPTZ  NOT NULL,
    UNIQUE (message_id, emoji, user_id)
);
