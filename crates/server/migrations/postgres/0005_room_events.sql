-- The room event log: see migrations/sqlite/0004_room_events.sql.
CREATE TABLE room_events (
    room_id    BIGINT      NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE,
    seq        BIGINT      NOT NULL,
    kind       VARCHAR(20) NOT NULL,
    message_id BIGINT,
    actor_id   BIGINT,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (room_id, seq)
);
INSERT INTO room_events (room_id, seq, kind, message_id, actor_id, created_at)
SELECT chat_room_id, seq, 'message', id, sender_id, created_at FROM messages;

DROP INDEX messages_created_at;
DROP INDEX messages_sender;
