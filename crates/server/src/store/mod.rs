//! Storage: one interface ([`Store`]), one SQL implementation compiled for two backends —
//! embedded SQLite (the default) and PostgreSQL — chosen from `DATABASE_URL` at start.
//!
//! Every query is written once in [`sql`]; the conformance suite in `tests/` runs against both.

mod files;
mod messages;
mod rooms;
mod sql;

pub use sql::fold;

pub use files::{AttachmentRow, FileStore, NewAttachment, ATTACHMENTS_MAX};
pub use messages::{
    Append, AppendBatch, Appended, Change, ChangeOutcome, ChangeRequest, EventKind, MessageRow, MessageStore, Page,
    ReadFlags, Refusal, ReplyRow, RoomEvent, REACTION_KINDS_MAX,
};
pub use rooms::{Found, Left, Member, Notice, Room, RoomRow, RoomStore, UserSearch};

use std::{str::FromStr, sync::Arc, time::Duration};

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions, PgSslMode},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    PgPool, SqlitePool,
};

use crate::config::DatabaseUrl;

pub type Timestamp = DateTime<Utc>;

/// The current time at the precision both backends store (microseconds), so a value read back
/// equals the value written.
pub fn now() -> Timestamp {
    let t = Utc::now();
    t - chrono::Duration::nanoseconds(i64::from(t.timestamp_subsec_nanos() % 1000))
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule would be broken (duplicate username, client id, …).
    #[error("unique constraint violated: {0}")]
    UniqueViolation(String),
    /// The database cannot be reached or has no free connection.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The write met another one (a deadlock, a lock timeout, SQLite busy) and was rolled back:
    /// trying again is expected to work.
    #[error("write conflict, rolled back: {0}")]
    Conflict(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::UniqueViolation(db.message().to_owned()),
            e @ (sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)) => Self::Unavailable(e),
            sqlx::Error::Database(db) => {
                let code = db.code().map(std::borrow::Cow::into_owned);
                let sqlite = db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some();
                let transient = if sqlite { sqlite_transient(code.as_deref()) } else { pg_transient(code.as_deref()) };
                match transient {
                    Some(Transient::Conflict) => Self::Conflict(sqlx::Error::Database(db)),
                    Some(Transient::Unavailable) => Self::Unavailable(sqlx::Error::Database(db)),
                    None => Self::Other(sqlx::Error::Database(db)),
                }
            }
            e => Self::Other(e),
        }
    }
}

impl StoreError {
    /// An error from `COMMIT`: whether the transaction was applied is unknown (the connection
    /// may have dropped after the server committed), so it must never be retried as if it had
    /// failed — its senders are told "busy" and may retry with their `client_id`.
    pub fn at_commit(e: sqlx::Error) -> Self {
        match Self::from(e) {
            Self::Other(e) | Self::Conflict(e) => Self::Unavailable(e),
            other => other,
        }
    }
}

/// Errors that say "try again", not "this is wrong".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transient {
    /// The write met another one and was rolled back: retrying soon should work.
    Conflict,
    /// The database is not answering as it should (shutting down, read-only after a failover,
    /// too slow): retry later.
    Unavailable,
}

/// PostgreSQL: deadlock (40P01), serialization failure (40001), lock timeout (55P03) conflict;
/// statement timeout (57014), shutdown (57P01–57P03), a read-only transaction after a failover
/// (25006) and connection errors (class 08) mean the database is unavailable.
fn pg_transient(code: Option<&str>) -> Option<Transient> {
    match code? {
        "40P01" | "40001" | "55P03" => Some(Transient::Conflict),
        "57014" | "57P01" | "57P02" | "57P03" | "25006" => Some(Transient::Unavailable),
        code if code.starts_with("08") => Some(Transient::Unavailable),
        _ => None,
    }
}

/// SQLite: BUSY and LOCKED, with their extended codes (the low byte is the primary code).
fn sqlite_transient(code: Option<&str>) -> Option<Transient> {
    let code = code?.parse::<i32>().ok()?;
    matches!(code & 0xff, 5 | 6).then_some(Transient::Conflict)
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub hashed_password: String,
    pub full_name: Option<String>,
    pub is_active: bool,
    pub is_verified: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The username and email lower-cased (by Rust, so both backends agree): for finding an
    /// account by a name typed in another case. Not unique.
    pub username_key: String,
    pub email_key: String,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub hashed_password: String,
    pub full_name: Option<String>,
}

/// What presenting a refresh token to [`Store::rotate_refresh_token`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live; it is now spent and the new one replaces it in the same session.
    Rotated { user_id: i64, session_id: String },
    /// The token had already been rotated: someone replayed it. The whole session is now revoked.
    Reused { user_id: i64, session_id: String },
    /// The token was rotated away or its session ended (logout, password change, replay).
    Ended,
    /// The token outlived its lifetime.
    Expired,
    /// Not a token this server issued.
    Invalid,
}

/// Everything Banter keeps: accounts and sessions here, rooms in [`RoomStore`], messages and
/// the room event log in [`MessageStore`], uploads' metadata in [`FileStore`].
pub trait Store: AccountStore + RoomStore + MessageStore + FileStore {}

impl<T: AccountStore + RoomStore + MessageStore + FileStore> Store for T {}

/// Accounts and sessions. Implementations must be safe to share across tasks.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Applies pending migrations.
    async fn migrate(&self) -> anyhow::Result<()>;

    /// How many of this binary's migrations the database has not applied.
    async fn migrations_behind(&self) -> anyhow::Result<usize>;

    /// A round trip to the database, for readiness checks.
    async fn ping(&self) -> StoreResult<()>;

    /// The connection pools' size and idle connections, for metrics.
    fn pool_stats(&self) -> (usize, usize);

    // --- accounts ---------------------------------------------------------------------------

    async fn create_user(&self, user: NewUser) -> StoreResult<User>;
    async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>>;
    /// The accounts whose username is `username` or whose email is `email`, exactly (two at
    /// most: the columns are unique).
    async fn users_by_login(&self, username: &str, email: &str) -> StoreResult<Vec<User>>;
    /// The accounts whose username key or email key is `key` (at most `limit`).
    async fn users_by_key(&self, key: &str, limit: i64) -> StoreResult<Vec<User>>;
    async fn username_taken(&self, username: &str) -> StoreResult<bool>;
    async fn email_taken(&self, email: &str) -> StoreResult<bool>;
    async fn set_password(&self, user_id: i64, hashed_password: &str) -> StoreResult<()>;
    /// Changes the account's full name (and the key people search finds it by).
    async fn set_full_name(&self, user_id: i64, full_name: Option<&str>) -> StoreResult<()>;
    /// Enables or disables an account (a disabled one cannot log in or use its tokens).
    async fn set_active(&self, user_id: i64, active: bool) -> StoreResult<()>;
    /// The user with exactly this username.
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    /// Every account, oldest first (for the admin CLI).
    async fn all_users(&self) -> StoreResult<Vec<User>>;
    /// Stores an invite code's hash, good for `uses` registrations until `expires_at`.
    async fn create_invite(&self, code_hash: &str, uses: i64, expires_at: Option<Timestamp>) -> StoreResult<()>;
    /// Takes one use of an invite code; `false` if it is unknown, used up or expired.
    async fn use_invite(&self, code_hash: &str) -> StoreResult<bool>;
    /// Gives back a use taken by a registration that then failed.
    async fn return_invite(&self, code_hash: &str) -> StoreResult<()>;
    /// Tells every node that sessions were ended outside it (an operator's command).
    async fn signal_sessions_ended(&self) -> StoreResult<()>;
    /// The newest such signal (0 if none).
    async fn sessions_signal(&self) -> StoreResult<i64>;
    /// A consistent copy of the whole database in a new file at `path` (SQLite's `VACUUM
    /// INTO`; PostgreSQL has `pg_dump` instead and refuses).
    async fn backup_into(&self, path: &str) -> anyhow::Result<()>;
    /// Deletes the account: memberships and sessions go with it, messages stay with a NULL
    /// sender, and each group it was in follows the leave rule ([`RoomStore::leave_group`]).
    /// Returns what happened to each group, with the notices it wrote there.
    async fn delete_user(&self, user_id: i64) -> StoreResult<Vec<(i64, Left)>>;

    // --- sessions ---------------------------------------------------------------------------

    /// Stores the hash of a new session's first refresh token; `false` (nothing stored) if the
    /// account is disabled.
    async fn insert_refresh_token(
        &self,
        user_id: i64,
        token_hash: &str,
        session_id: &str,
        expires_at: Timestamp,
    ) -> StoreResult<bool>;
    /// Spends `old_hash` and, if it was live, stores `new_hash` in its place, atomically: of two
    /// concurrent rotations of one token exactly one succeeds.
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        expires_at: Timestamp,
    ) -> StoreResult<Rotation>;
    /// Revokes the session `token_hash` belongs to; returns its owner and session id if the
    /// token was known and its session still live.
    async fn revoke_session_of(&self, token_hash: &str) -> StoreResult<Option<(i64, String)>>;
    /// Revokes every session of the user; returns how many were live.
    async fn revoke_all_sessions(&self, user_id: i64) -> StoreResult<u64>;
    /// The user, if they are active and `session_id` is one of their live sessions.
    async fn user_in_session(&self, user_id: i64, session_id: &str) -> StoreResult<Option<User>>;
    /// Which of these sessions are live: `(user_id, session_id)` of an active user, neither
    /// revoked nor expired.
    async fn live_sessions(&self, session_ids: &[&str]) -> StoreResult<Vec<(i64, String)>>;
}

pub type DynStore = Arc<dyn Store>;

/// SQLite: one writer connection (SQLite allows one writer at a time; serialising writes in the
/// pool instead of in the file lock means no SQLITE_BUSY under load) and a few readers, which
/// WAL lets run beside the writer.
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

pub struct PgStore {
    pool: PgPool,
    /// The send pipeline's own connections (`MessageStore::append_messages`), apart from the
    /// request pool: its writer runs on a thread of its own, which opens them there, and a burst
    /// of requests never makes a batch wait for a connection.
    batch_pool: PgPool,
}

impl SqliteStore {
    fn writer(&self) -> &SqlitePool {
        &self.writer
    }
    fn reader(&self) -> &SqlitePool {
        &self.reader
    }
}

impl SqliteStore {
    fn pools(&self) -> [&SqlitePool; 2] {
        [&self.writer, &self.reader]
    }
}

impl PgStore {
    fn pools(&self) -> [&PgPool; 2] {
        [&self.pool, &self.batch_pool]
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }
    fn reader(&self) -> &PgPool {
        &self.pool
    }
    fn batch_writer(&self) -> &PgPool {
        &self.batch_pool
    }
}

/// Opens the database named by `url`. Does not migrate: call [`Store::migrate`].
pub async fn connect(url: &DatabaseUrl) -> anyhow::Result<DynStore> {
    match url {
        DatabaseUrl::Sqlite(url) => {
            // synchronous=FULL: a commit is on disk before the server acknowledges it, even
            // across power loss. NORMAL in WAL mode could lose the last commits on power loss,
            // which would break "acknowledged means durable".
            let options = SqliteConnectOptions::from_str(url)
                .with_context(|| "parsing DATABASE_URL")?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                // A deleted message's text is overwritten on disk, not only unlinked.
                .pragma("secure_delete", "ON")
                .busy_timeout(Duration::from_secs(10));
            let in_memory = url.contains(":memory:");
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options.clone())
                .await
                .with_context(|| format!("opening SQLite database {url}"))?;
            // An in-memory database exists once per connection: readers must share the writer.
            let reader = if in_memory {
                writer.clone()
            } else {
                SqlitePoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await
                    .with_context(|| format!("opening SQLite database {url}"))?
            };
            Ok(Arc::new(SqliteStore { writer, reader }))
        }
        DatabaseUrl::Postgres(url) => {
            let mut options = PgConnectOptions::from_str(url).context("parsing DATABASE_URL")?;
            // `sslmode` as libpq reads it, default `prefer` — except to this machine itself,
            // where TLS protects nothing and halves throughput (measured: docs/BENCHMARKS.md).
            let host = options.get_host();
            let local = host == "localhost"
                || host.starts_with('/')
                || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if local && !url.contains("sslmode=") {
                options = options.ssl_mode(PgSslMode::Disable);
            }
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options.clone())
                .await
                .context("connecting to PostgreSQL")?;
            let batch_pool = PgPoolOptions::new()
                .max_connections(2)
                .min_connections(0)
                .acquire_timeout(Duration::from_secs(10))
                .connect_lazy_with(options);
            Ok(Arc::new(PgStore { pool, batch_pool }))
        }
    }
}

/// What removing a member from a group did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leave {
    /// The user was not a member.
    NotMember,
    Left,
    /// The creator's account was deleted; the group now belongs to this longest-standing member.
    HandedOver(i64),
    /// Nobody is left who could ever use the group (no member, no creator): it and its
    /// messages are gone.
    Deleted,
}

/// A user is "Deleted User" once their row is gone; messages keep a NULL sender.
pub const DELETED_USER: &str = "Deleted User";

#[cfg(test)]
mod transient_tests {
    use super::{pg_transient, sqlite_transient, Transient};

    #[test]
    fn retryable_database_errors_are_told_apart() {
        for code in ["40P01", "40001", "55P03"] {
            assert_eq!(pg_transient(Some(code)), Some(Transient::Conflict), "{code}");
        }
        for code in ["57014", "57P01", "25006", "08006"] {
            assert_eq!(pg_transient(Some(code)), Some(Transient::Unavailable), "{code}");
        }
        // PostgreSQL codes that happen to be numbers are not read as SQLite's.
        for code in ["23505", "23503", "22021", "22022", "42501", "XX000"] {
            assert_eq!(pg_transient(Some(code)), None, "{code}");
        }
        for code in ["5", "6", "517", "261", "262"] {
            assert_eq!(sqlite_transient(Some(code)), Some(Transient::Conflict), "{code}");
        }
        for code in ["2067", "19", "1", "1811"] {
            assert_eq!(sqlite_transient(Some(code)), None, "{code}");
        }
        assert_eq!(pg_transient(None), None);
        assert_eq!(sqlite_transient(None), None);
    }
}
