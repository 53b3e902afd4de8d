-- Invite codes for REGISTRATION=invite (made with `banter invite create`). Only a SHA-256 of
-- each code is stored; a code registers up to `uses_left` more accounts until `expires_at`.
CREATE TABLE invites (
    id          BIGSERIAL   PRIMARY KEY,
    code_hash   VARCHAR(64) NOT NULL UNIQUE,
    uses_left   BIGINT      NOT NULL CHECK (uses_left >= 0),
    expires_at  TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL
);

-- One row per operator action that ended sessions (`banter user disable`, `reset-password`,
-- `delete`): every node watches the newest id and, when it changes, checks its open sockets'
-- sessions at once.
CREATE TABLE session_signals (
    id          BIGSERIAL   PRIMARY KEY,
    created_at  TIMESTAMPTZ NOT NULL
);
