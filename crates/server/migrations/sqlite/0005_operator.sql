-- Invite codes for REGISTRATION=invite (made with `banter invite create`). Only a SHA-256 of
-- each code is stored; a code registers up to `uses_left` more accounts until `expires_at`.
CREATE TABLE invites (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    code_hash   TEXT    NOT NULL UNIQUE,
    uses_left   INTEGER NOT NULL CHECK (uses_left >= 0),
    expires_at  TEXT,
    created_at  TEXT    NOT NULL
);

-- One row per operator action that ended sessions (`banter user disable`, `reset-password`,
-- `delete`): every node watches the newest id and, when it changes, checks its open sockets'
-- sessions at once.
CREATE TABLE session_signals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  TEXT    NOT NULL
);
