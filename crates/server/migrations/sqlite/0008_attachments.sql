-- Files people share.
--   attachment_blobs  one row per distinct file content, named by its SHA-256 (the bytes live
--                     on disk under DATA_DIR/attachments/, stored once however often uploaded);
--                     a row no attachment refers to any more is removed with its file
--   attachments       one row per upload: who uploaded it, what it was called, what the server
--                     found it to be, and the message it was sent with (NULL until sent; an
--                     upload never sent is removed after a day). Deleting a message removes
--                     its attachments.
CREATE TABLE attachment_blobs (
    sha256     TEXT      PRIMARY KEY NOT NULL,
    size       INTEGER   NOT NULL,
    created_at TEXT      NOT NULL
);

CREATE TABLE attachments (
    id           INTEGER   PRIMARY KEY AUTOINCREMENT,
    uploader_id  INTEGER   REFERENCES users (id) ON DELETE SET NULL,
    message_id   INTEGER   REFERENCES messages (id) ON DELETE CASCADE,
    position     INTEGER   NOT NULL DEFAULT 0,
    sha256       TEXT      NOT NULL REFERENCES attachment_blobs (sha256),
    filename     TEXT      NOT NULL,
    content_type TEXT      NOT NULL,
    size         INTEGER   NOT NULL,
    width        INTEGER,
    height       INTEGER,
    created_at   TEXT      NOT NULL
);
CREATE INDEX attachments_message ON attachments (message_id);
CREATE INDEX attachments_blob ON attachments (sha256);
CREATE INDEX attachments_unsent ON attachments (created_at) WHERE message_id IS NULL;
CREATE INDEX attachments_uploader ON attachments (uploader_id);
