-- Search, mentions and per-member room settings: see migrations/sqlite/0007_search_mentions.sql.
ALTER TABLE messages ADD COLUMN search_text TEXT;
ALTER TABLE chat_room_members ADD COLUMN muted BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE message_mentions (
    message_id BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL,
    PRIMARY KEY (message_id, user_id)
);
CREATE INDEX message_mentions_user ON message_mentions (user_id, message_id);

-- The server writes search_text folded (lower case, no accents); messages from before this
-- migration get their content lower-cased here (accents there still have to match exactly).
UPDATE messages SET search_text = lower(regexp_replace(content, '[^[:alnum:]]+', ' ', 'g'))
    WHERE deleted_at IS NULL;
CREATE INDEX messages_search ON messages USING GIN (to_tsvector('simple', search_text));
