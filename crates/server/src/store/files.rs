//! Uploaded files: the [`FileStore`] part of the storage interface (metadata only; the bytes are
//! on disk, see [`crate::files`]). Written once for both backends (see `sql.rs` for how).
//!
//! A file's bytes are a *blob*, named by their SHA-256 and stored once however often they are
//! uploaded; each upload is an *attachment* (its own name, its uploader, the message it was sent
//! with). A blob no attachment refers to is an orphan: [`FileStore::forget_blob`] removes its row
//! and the caller its file.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Postgres, Sqlite};

use super::{PgStore, SqliteStore, StoreResult, Timestamp};

/// An upload as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AttachmentRow {
    pub id: i64,
    pub uploader_id: Option<i64>,
    /// The message it was sent with; `None` until then.
    pub message_id: Option<i64>,
    pub sha256: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
}

/// The most files one message carries.
pub const ATTACHMENTS_MAX: usize = 10;

/// An upload to record: its bytes are already on disk as the blob `sha256`.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub uploader_id: i64,
    pub sha256: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
}

/// [`AttachmentRow`]'s columns, of `attachments a`.
pub(super) const ATTACHMENT_COLUMNS: &str =
    "a.id, a.uploader_id, a.message_id, a.sha256, a.filename, a.content_type, a.size, a.width, a.height";

#[async_trait]
pub trait FileStore: Send + Sync + 'static {
    /// Records an upload (and its blob, if these bytes are new), in one transaction.
    async fn add_attachment(&self, new: &NewAttachment) -> StoreResult<AttachmentRow>;
    /// The attachment, if `user_id` may read it: they uploaded it, or they are a member of the
    /// room of the (not deleted) message it was sent with.
    async fn readable_attachment(&self, id: i64, user_id: i64) -> StoreResult<Option<AttachmentRow>>;
    /// Removes uploads never sent that were made before `before`, or whose uploader's account
    /// is gone (at most `limit`); returns how many.
    async fn remove_unsent(&self, before: Timestamp, limit: i64) -> StoreResult<u64>;
    /// The bytes of the user's uploads: all of them, and those not yet sent.
    async fn upload_usage(&self, user_id: i64) -> StoreResult<(i64, i64)>;
    /// Blobs no attachment refers to (at most `limit`).
    async fn orphan_blobs(&self, limit: i64) -> StoreResult<Vec<String>>;
    /// Removes the blob's row if it is still an orphan; `true` if it did (its file may go).
    async fn forget_blob(&self, sha256: &str) -> StoreResult<bool>;
    /// Whether the blob has a row (an upload of the same bytes may have brought it back).
    async fn blob_known(&self, sha256: &str) -> StoreResult<bool>;
}

macro_rules! sql_file_store {
    ($store:ty, $db:ty) => {
        #[async_trait]
        impl FileStore for $store {
            async fn add_attachment(&self, new: &NewAttachment) -> StoreResult<AttachmentRow> {
                let now = super::now();
                let mut tx = self.writer().begin().await?;
                sqlx::query(
                    // DO UPDATE (not NOTHING): an existing row is locked until the commit, so
                    // a sweep cannot remove it between here and the attachment's insert.
                    "INSERT INTO attachment_blobs (sha256, size, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (sha256) DO UPDATE SET size = excluded.size",
                )
                .bind(&new.sha256)
                .bind(new.size)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let sql = format!(
                    "INSERT INTO attachments (uploader_id, sha256, filename, content_type, size, width, height, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {}",
                    ATTACHMENT_COLUMNS.replace("a.", "")
                );
                let row = sqlx::query_as::<$db, AttachmentRow>(AssertSqlSafe(sql))
                    .bind(new.uploader_id)
                    .bind(&new.sha256)
                    .bind(&new.filename)
                    .bind(&new.content_type)
                    .bind(new.size)
                    .bind(new.width)
                    .bind(new.height)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await.map_err(super::StoreError::at_commit)?;
                Ok(row)
            }

            async fn readable_attachment(&self, id: i64, user_id: i64) -> StoreResult<Option<AttachmentRow>> {
                let sql = format!(
                    "SELECT {ATTACHMENT_COLUMNS} FROM attachments a LEFT JOIN messages m ON m.id = a.message_id \
                     WHERE a.id = $1 AND (a.uploader_id = $2 OR (m.deleted_at IS NULL AND EXISTS \
                     (SELECT 1 FROM chat_room_members me WHERE me.chat_room_id = m.chat_room_id AND me.user_id = $2)))"
                );
                Ok(sqlx::query_as::<$db, AttachmentRow>(AssertSqlSafe(sql))
                    .bind(id)
                    .bind(user_id)
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn remove_unsent(&self, before: Timestamp, limit: i64) -> StoreResult<u64> {
                let done = sqlx::query(
                    // The outer condition again: PostgreSQL rechecks only it on a row a send
                    // batch claimed meanwhile.
                    "DELETE FROM attachments WHERE id IN (SELECT id FROM attachments \
                     WHERE message_id IS NULL AND (created_at < $1 OR uploader_id IS NULL) LIMIT $2) \
                     AND message_id IS NULL",
                )
                .bind(before)
                .bind(limit)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected())
            }

            async fn upload_usage(&self, user_id: i64) -> StoreResult<(i64, i64)> {
                let (total, unsent): (Option<i64>, Option<i64>) = sqlx::query_as(
                    "SELECT CAST(SUM(size) AS BIGINT), \
                     CAST(SUM(CASE WHEN message_id IS NULL THEN size ELSE 0 END) AS BIGINT) \
                     FROM attachments WHERE uploader_id = $1",
                )
                .bind(user_id)
                .fetch_one(self.reader())
                .await?;
                Ok((total.unwrap_or(0), unsent.unwrap_or(0)))
            }

            async fn orphan_blobs(&self, limit: i64) -> StoreResult<Vec<String>> {
                Ok(sqlx::query_scalar(
                    "SELECT b.sha256 FROM attachment_blobs b \
                     WHERE NOT EXISTS (SELECT 1 FROM attachments a WHERE a.sha256 = b.sha256) LIMIT $1",
                )
                .bind(limit)
                .fetch_all(self.reader())
                .await?)
            }

            async fn forget_blob(&self, sha256: &str) -> StoreResult<bool> {
                let done = sqlx::query(
                    "DELETE FROM attachment_blobs WHERE sha256 = $1 \
                     AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.sha256 = $1)",
                )
                .bind(sha256)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn blob_known(&self, sha256: &str) -> StoreResult<bool> {
                let found: Option<String> = sqlx::query_scalar("SELECT sha256 FROM attachment_blobs WHERE sha256 = $1")
                    .bind(sha256)
                    .fetch_optional(self.writer())
                    .await?;
                Ok(found.is_some())
            }
        }
    };
}

sql_file_store!(SqliteStore, Sqlite);
sql_file_store!(PgStore, Postgres);
