-- Messages people can change (edits, deletions, reactions, replies). Each change is a room event
-- (room_events.kind 'edit', 'delete', 'react', 'unreact') with the room's next seq, so
-- chat_rooms.last_seq is now the newest *event*, and:
--   last_message_seq  the newest message's seq (for the conversation list's last message)
--   edited_at         when the sender last edited the message
--   deleted_at        set when it was deleted; content is then '' (the text is gone, not hidden)
--   reply_to_id       the message it answers, always in the same room. Not a foreign key: both
--                     go with their room, and a key would make every deletion scan for replies.
ALTER TABLE chat_rooms ADD COLUMN last_message_seq INTEGER NOT NULL DEFAULT 0;
UPDATE chat_rooms SET last_message_seq = last_seq;
ALTER TABLE messages ADD COLUMN edited_at TEXT;
ALTER TABLE messages ADD COLUMN deleted_at TEXT;
ALTER TABLE messages ADD COLUMN reply_to_id INTEGER;

-- Who reacted with what. id orders reactions by first use; one row per (message, emoji, user).
-- user_id is not a foreign key: a deleted account's reactions stay, as its messages do (ids are
-- never reused), so deleting an account changes no message behind its readers' backs — every
-- change to a message is a room event.
CREATE TABLE message_reactions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL,
    emoji      TEXT    NOT NULL,
    created_at TEXT    NOT NULL,
    UNIQUE (message_id, emoji, user_id)
);
