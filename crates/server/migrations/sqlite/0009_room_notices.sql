-- Group notices: what happened to a group — members added, a member left or was removed, a new
-- name, a new owner — shown as a line in its timeline (GET /rooms/{id}/notices, and live in the
-- room_changed frame). Written in the transaction that makes the change.
--   change     'members_added' | 'member_left' | 'member_removed' | 'renamed' | 'owner_changed'
--   actor_id   who did it (NULL: the server, e.g. a handover after an account deletion)
--   user_ids   whom it is about, a JSON array of user ids; names are looked up when read, so a
--              deleted account reads as "Deleted User"
--   name       the group's new name ('renamed')
--   after_seq  the room's last seq when it happened: the notice sits after those messages. Not
--              part of the seq log (room_events): notices are not replayed by sync.
-- Neither actor_id nor user_ids is a foreign key (as in room_events): notices go with their room.
CREATE TABLE room_notices (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id    INTEGER NOT NULL REFERENCES chat_rooms (id) ON DELETE CASCADE,
    change     TEXT    NOT NULL,
    actor_id   INTEGER,
    user_ids   TEXT    NOT NULL,
    name       TEXT,
    after_seq  INTEGER NOT NULL,
    created_at TEXT    NOT NULL
);
CREATE INDEX room_notices_room ON room_notices (room_id, id);
