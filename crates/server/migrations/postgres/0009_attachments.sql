-- Files people share: see migrations/sqlite/0008_attachments.sql.
CREATE TABLE attachment_blobs (
    sha256     CHAR(64)    PRIMARY KEY,
    size       BIGINT      NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE attachments (
    id           BIGSERIAL    PRIMARY KEY,
    uploader_id  BIGINT       REFERENCES users (id) ON DELETE SET NULL,
    message_id   BIGINT       REFERENCES messages (id) ON DELETE CASCADE,
    position     BIGINT       NOT NULL DEFAULT 0,
    sha256       CHAR(64)     NOT NULL REFERENCES attachment_blobs (sha256),
    filename     TEXT         NOT NULL,
    content_type VARCHAR(100) NOT NULL,
    size         BIGINT       NOT NULL,
    width        BIGINT,
    height       BIGINT,
    created_at   TIMESTAMPTZ  NOT NULL
);
CREATE INDEX attachments_message ON attachments (message_id);
CREATE INDEX attachments_blob ON attachments (sha256);
CREATE INDEX attachments_unsent ON attachments (created_at) WHERE message_id IS NULL;
CREATE INDEX attachments_uploader ON attachments (uploader_id);
