-- Search, mentions and per-member room settings.
--   messages.search_text  the content folded for search (lower case, accents removed, words
--                         separated by single spaces; computed by the server); NULL once deleted
--   chat_room_members.muted  the member muted the room (clients do not notify for it)
ALTER TABLE messages ADD COLUMN search_text TEXT;
ALTER TABLE chat_room_members ADD COLUMN muted INTEGER NOT NULL DEFAULT 0;

-- Who a message mentions (members of its room when it was written or last edited).
CREATE TABLE message_mentions (
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL,
    PRIMARY KEY (message_id, user_id)
);
CREATE INDEX message_mentions_user ON message_mentions (user_id, message_id);

-- Full-text search over search_text, kept current by triggers (an edit rewrites it; a deletion
-- sets it NULL, which takes the message out of the index). Messages from before this migration
-- get their search text from the server when it starts (it folds text as SQL cannot).
CREATE VIRTUAL TABLE message_search USING fts5(
    search_text, content = 'messages', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER messages_search_insert AFTER INSERT ON messages WHEN new.search_text IS NOT NULL BEGIN
    INSERT INTO message_search (rowid, search_text) VALUES (new.id, new.search_text);
END;
CREATE TRIGGER messages_search_update AFTER UPDATE OF search_text ON messages BEGIN
    INSERT INTO message_search (message_search, rowid, search_text)
        SELECT 'delete', old.id, old.search_text WHERE old.search_text IS NOT NULL;
    INSERT INTO message_search (rowid, search_text) SELECT new.id, new.search_text WHERE new.search_text IS NOT NULL;
END;
CREATE TRIGGER messages_search_delete AFTER DELETE ON messages WHEN old.search_text IS NOT NULL BEGIN
    INSERT INTO message_search (message_search, rowid, search_text) VALUES ('delete', old.id, old.search_text);
END;
