-- Group notices: see migrations/sqlite/0009_room_notices.sql.
CREATE TABLE room_notices (
    id         BIGSERIAL    PRIMARY KEY,
    room_id    BIGINT       NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE,
    change     VARCHAR(20)  NOT NULL,
    actor_id   BIGINT,
    user_ids   TEXT         NOT NULL,
    name       VARCHAR(100),
    after_seq  BIGINT       NOT NULL,
    created_at TIMESTAMPTZ  NOT NULL
);
CREATE INDEX room_notices_room ON room_notices (room_id, id);
