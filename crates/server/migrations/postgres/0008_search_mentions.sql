-- Search, mentions and per-member room settings: see migrations/sqlite/0007_search_mentions.sql.
ALTER TABLE messages ADD COLUMN search_text TEXT;
ALTER TABLE chat_room_members ADD COLUMN muted BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE message_mentions (
    message_id BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id    BIGINT NOT NULL,
    PRIMARY KEY (message_id, user_id)
);
CREATE INDEX message_mentions_user ON message_mentions (user_id, message_id);

-- The server writes search_text folded (lower case, no accents), also for messages from before
-- this migration, when it starts. search_tsv is its words, stored, so a search reads the index
-- and never recomputes a row's words.
ALTER TABLE messages ADD COLUMN search_tsv tsvector
    GENERATED ALWAYS AS (to_tsvector('simple', coalesce(search_text, ''))) STORED;
CREATE INDEX messages_search ON messages USING GIN (search_tsv);
