-- The room event log: every change a client must replay, in the room's order. Each event takes
-- the room's next seq (chat_rooms.last_seq), so a client that has seen seq N of a room catches
-- up with exactly the events after N — new messages today; edits, deletions, reactions and read
-- receipts later, each a kind of its own. A message's `seq` is the seq of its creation event.
--   kind        'message' (a new message); later kinds add to the list
--   message_id  the message the event is about (NULL for events about no message)
--   actor_id    who caused it
-- Neither is a foreign key: the events go with their room (ON DELETE CASCADE), and a key on
-- them would make every message or account deletion scan the log for references.
CREATE TABLE room_events (
    room_id    INTEGER NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    message_id INTEGER,
    actor_id   INTEGER,
    created_at TEXT    NOT NULL,
    PRIMARY KEY (room_id, seq)
);
INSERT INTO room_events (room_id, seq, kind, message_id, actor_id, created_at)
SELECT chat_room_id, seq, 'message', id, sender_id, created_at FROM messages;

-- No query reads messages by time or by sender alone (the (sender_id, client_id) unique index
-- serves both idempotency and the sender's ON DELETE SET NULL); each index cost every insert.
DROP INDEX messages_created_at;
DROP INDEX messages_sender;
