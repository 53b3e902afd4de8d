//! The SQL implementation of [`Store`], written once and compiled for both backends.
//!
//! `sql_store!` expands the same method bodies for [`SqliteStore`] and [`PgStore`]; inside, `$db`
//! is the concrete `sqlx::Database`, so every query is type-checked against both drivers without
//! generic trait bounds. The SQL itself sticks to what both dialects share: `$n` placeholders,
//! `RETURNING`, `lower()`, `ON CONFLICT`. Where they would differ it is said at the spot.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Postgres, Sqlite};

use super::{now, AccountStore, Left, NewUser, PgStore, Rotation, SqliteStore, StoreResult, Timestamp, User};

/// The case-insensitive key of an email or name: Unicode lowercase, computed here so that both
/// backends compare the same thing.
pub fn fold(s: &str) -> String {
    s.to_lowercase()
}

const USER_COLUMNS: &str = "id, username, email, hashed_password, full_name, is_active, is_verified, \
     created_at, updated_at, username_key, email_key";

macro_rules! sql_store {
    ($store:ty, $db:ty, $backend:literal, $migrations:literal) => {
        impl $store {
            /// Takes the user row's lock for the rest of `tx`. Rotating a refresh token and
            /// revoking sessions both take it first, so they serialise: a revocation always sees
            /// (and revokes) the token a concurrent rotation inserted. Without it, on PostgreSQL a
            /// refresh racing a logout-all could leave the new token alive.
            async fn lock_user(tx: &mut sqlx::Transaction<'static, $db>, user_id: i64) -> StoreResult<()> {
                sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
                    .bind(user_id)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }
        }

        #[async_trait]
        impl AccountStore for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn migrate(&self) -> anyhow::Result<()> {
                sqlx::migrate!($migrations).run(self.writer()).await?;
                Ok(())
            }

            async fn migrations_behind(&self) -> anyhow::Result<usize> {
                let applied: Vec<(i64,)> = sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success")
                    .fetch_all(self.reader())
                    .await
                    .map_err(|e| anyhow::anyhow!("not a Banter database, or never started ({e})"))?;
                let applied: std::collections::HashSet<i64> = applied.into_iter().map(|(v,)| v).collect();
                Ok(sqlx::migrate!($migrations).iter().filter(|m| !applied.contains(&m.version)).count())
            }

            fn pool_stats(&self) -> (usize, usize) {
                self.pools().iter().fold((0, 0), |(size, idle), pool| (size + pool.size() as usize, idle + pool.num_idle()))
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(self.reader()).await?;
                Ok(())
            }

            async fn create_user(&self, user: NewUser) -> StoreResult<User> {
                let now = now();
                let sql = format!(
                    "INSERT INTO users (username, email, hashed_password, full_name, is_active, \
                     is_verified, created_at, updated_at, email_key, name_key, username_key) \
                     VALUES ($1, $2, $3, $4, TRUE, FALSE, $5, $5, $6, $7, $8) RETURNING {USER_COLUMNS}"
                );
                Ok(sqlx::query_as::<$db, User>(AssertSqlSafe(sql))
                    .bind(&user.username)
                    .bind(&user.email)
                    .bind(&user.hashed_password)
                    .bind(&user.full_name)
                    .bind(now)
                    .bind(fold(&user.email))
                    .bind(user.full_name.as_deref().map(fold).unwrap_or_default())
                    .bind(fold(&user.username))
                    .fetch_one(self.writer())
                    .await?)
            }

            async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
                Ok(sqlx::query_as::<$db, User>(AssertSqlSafe(sql)).bind(id).fetch_optional(self.reader()).await?)
            }

            async fn users_by_login(&self, username: &str, email: &str) -> StoreResult<Vec<User>> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1 OR email = $2");
                Ok(sqlx::query_as::<$db, User>(AssertSqlSafe(sql)).bind(username).bind(email).fetch_all(self.reader()).await?)
            }

            async fn users_by_key(&self, key: &str, limit: i64) -> StoreResult<Vec<User>> {
                let sql = format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE username_key = $1 OR email_key = $1 ORDER BY id LIMIT $2"
                );
                Ok(sqlx::query_as::<$db, User>(AssertSqlSafe(sql)).bind(key).bind(limit).fetch_all(self.reader()).await?)
            }

            async fn username_taken(&self, username: &str) -> StoreResult<bool> {
                let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE username = $1")
                    .bind(username)
                    .fetch_optional(self.reader())
                    .await?;
                Ok(row.is_some())
            }

            async fn email_taken(&self, email: &str) -> StoreResult<bool> {
                let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE email = $1")
                    .bind(email)
                    .fetch_optional(self.reader())
                    .await?;
                Ok(row.is_some())
            }

            async fn set_password(&self, user_id: i64, hashed_password: &str) -> StoreResult<()> {
                sqlx::query("UPDATE users SET hashed_password = $1, updated_at = $2 WHERE id = $3")
                    .bind(hashed_password)
                    .bind(now())
                    .bind(user_id)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn set_full_name(&self, user_id: i64, full_name: Option<&str>) -> StoreResult<()> {
                sqlx::query("UPDATE users SET full_name = $1, name_key = $2, updated_at = $3 WHERE id = $4")
                    .bind(full_name)
                    .bind(full_name.map(fold).unwrap_or_default())
                    .bind(now())
                    .bind(user_id)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn set_active(&self, user_id: i64, active: bool) -> StoreResult<()> {
                sqlx::query("UPDATE users SET is_active = $1, updated_at = $2 WHERE id = $3")
                    .bind(active)
                    .bind(now())
                    .bind(user_id)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
                Ok(sqlx::query_as::<$db, User>(AssertSqlSafe(sql)).bind(username).fetch_optional(self.reader()).await?)
            }

            async fn all_users(&self) -> StoreResult<Vec<User>> {
                let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY id");
                Ok(sqlx::query_as::<$db, User>(AssertSqlSafe(sql)).fetch_all(self.reader()).await?)
            }

            async fn create_invite(&self, code_hash: &str, uses: i64, expires_at: Option<Timestamp>) -> StoreResult<()> {
                sqlx::query("INSERT INTO invites (code_hash, uses_left, expires_at, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(code_hash)
                    .bind(uses)
                    .bind(expires_at)
                    .bind(now())
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn use_invite(&self, code_hash: &str) -> StoreResult<bool> {
                let taken = sqlx::query(
                    "UPDATE invites SET uses_left = uses_left - 1 \
                     WHERE code_hash = $1 AND uses_left > 0 AND (expires_at IS NULL OR expires_at > $2)",
                )
                .bind(code_hash)
                .bind(now())
                .execute(self.writer())
                .await?;
                Ok(taken.rows_affected() == 1)
            }

            async fn return_invite(&self, code_hash: &str) -> StoreResult<()> {
                sqlx::query("UPDATE invites SET uses_left = uses_left + 1 WHERE code_hash = $1")
                    .bind(code_hash)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn backup_into(&self, path: &str) -> anyhow::Result<()> {
                if $backend != "sqlite" {
                    anyhow::bail!("use pg_dump to back up PostgreSQL");
                }
                sqlx::query("VACUUM INTO $1").bind(path).execute(self.writer()).await?;
                Ok(())
            }

            async fn signal_sessions_ended(&self) -> StoreResult<()> {
                sqlx::query("INSERT INTO session_signals (created_at) VALUES ($1)").bind(now()).execute(self.writer()).await?;
                Ok(())
            }

            async fn sessions_signal(&self) -> StoreResult<i64> {
                let newest: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(id) FROM session_signals").fetch_one(self.reader()).await?;
                Ok(newest.unwrap_or(0))
            }

            async fn delete_user(&self, user_id: i64) -> StoreResult<Vec<(i64, Left)>> {
                let mut tx = self.writer().begin().await?;
                // Every room the deletion touches — each the user is in (their memberships go,
                // direct rooms included) and each group they created — locked first, in id order,
                // as a send batch locks its rooms: a batch and a deletion never wait on each
                // other in a cycle, and a batch either commits before the deletion or sees the
                // user gone (never a message from a sender deleted under it). Then the user's
                // row, so no membership can be added meanwhile (adding one takes a key-share
                // lock on it); a room that gained the user between the two steps is locked
                // last (rare, and PostgreSQL resolves the one possible deadlock with a retry).
                let touched = "SELECT id FROM chat_rooms WHERE id IN \
                     (SELECT chat_room_id FROM chat_room_members WHERE user_id = $1) \
                     OR (created_by = $1 AND room_type = 'group') ORDER BY id";
                let mut locked: Vec<i64> = Vec::new();
                for pass in 0..2 {
                    let rooms: Vec<(i64,)> = sqlx::query_as(touched).bind(user_id).fetch_all(&mut *tx).await?;
                    for (room_id,) in rooms {
                        if locked.contains(&room_id) {
                            continue;
                        }
                        sqlx::query("UPDATE chat_rooms SET updated_at = updated_at WHERE id = $1")
                            .bind(room_id)
                            .execute(&mut *tx)
                            .await?;
                        locked.push(room_id);
                    }
                    if pass == 0 && $backend == "postgres" {
                        sqlx::query("SELECT id FROM users WHERE id = $1 FOR UPDATE")
                            .bind(user_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                let groups: Vec<(i64,)> = sqlx::query_as(
                    "SELECT m.chat_room_id FROM chat_room_members m JOIN chat_rooms r ON r.id = m.chat_room_id \
                     WHERE m.user_id = $1 AND r.room_type = 'group' ORDER BY m.chat_room_id",
                )
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
                let mut outcomes = Vec::with_capacity(groups.len());
                for (room_id,) in groups {
                    outcomes.push((room_id, Self::remove_member_tx(&mut tx, room_id, user_id, None).await?));
                }
                // Groups the user created but had already left: hand them on too (or delete them
                // if empty), so that no group is left without anyone who may manage it.
                let orphans: Vec<(i64,)> = sqlx::query_as(
                    "SELECT id FROM chat_rooms WHERE created_by = $1 AND room_type = 'group' ORDER BY id",
                )
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
                for (room_id,) in orphans {
                    // The room row's lock first, as every membership change takes it.
                    sqlx::query("UPDATE chat_rooms SET updated_at = $1 WHERE id = $2")
                        .bind(now())
                        .bind(room_id)
                        .execute(&mut *tx)
                        .await?;
                    outcomes.push((room_id, Self::hand_over_tx(&mut tx, room_id).await?));
                }
                sqlx::query("DELETE FROM users WHERE id = $1").bind(user_id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(outcomes)
            }

            async fn insert_refresh_token(
                &self,
                user_id: i64,
                token_hash: &str,
                session_id: &str,
                expires_at: Timestamp,
            ) -> StoreResult<bool> {
                let now = now();
                // Expired tokens are only kept for reuse detection; drop the owner's old ones here
                // rather than in a background job.
                let mut tx = self.writer().begin().await?;
                sqlx::query("DELETE FROM refresh_tokens WHERE user_id = $1 AND expires_at < $2")
                    .bind(user_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                // Only for an active account: one disabled while its password was being checked
                // gets no session (disabling revokes sessions after it marks the account).
                let inserted = sqlx::query(
                    "INSERT INTO refresh_tokens (user_id, token_hash, session_id, expires_at, created_at) \
                     SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM users WHERE id = $1 AND is_active)",
                )
                .bind(user_id)
                .bind(token_hash)
                .bind(session_id)
                .bind(expires_at)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(inserted.rows_affected() == 1)
            }

            async fn rotate_refresh_token(
                &self,
                old_hash: &str,
                new_hash: &str,
                expires_at: Timestamp,
            ) -> StoreResult<Rotation> {
                let now = now();
                let mut tx = self.writer().begin().await?;
                let owner: Option<(i64,)> = sqlx::query_as("SELECT user_id FROM refresh_tokens WHERE token_hash = $1")
                    .bind(old_hash)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some((owner,)) = owner else { return Ok(Rotation::Invalid) };
                Self::lock_user(&mut tx, owner).await?;
                // Claim the token with one conditional UPDATE: concurrent rotations of the same
                // token serialise on its row, and only the first sees it unrevoked.
                let claimed: Option<(i64, String)> = sqlx::query_as(
                    "UPDATE refresh_tokens SET revoked_at = $1 \
                     WHERE token_hash = $2 AND revoked_at IS NULL AND expires_at > $1 \
                     RETURNING user_id, session_id",
                )
                .bind(now)
                .bind(old_hash)
                .fetch_optional(&mut *tx)
                .await?;
                let outcome = match claimed {
                    Some((user_id, session_id)) => {
                        let rotated = sqlx::query(
                            "INSERT INTO refresh_tokens (user_id, token_hash, session_id, expires_at, created_at) \
                             SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM users WHERE id = $1 AND is_active)",
                        )
                        .bind(user_id)
                        .bind(new_hash)
                        .bind(&session_id)
                        .bind(expires_at)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                        if rotated.rows_affected() == 0 {
                            // A disabled account: its session is over.
                            return Ok(Rotation::Ended);
                        }
                        Rotation::Rotated { user_id, session_id }
                    }
                    None => {
                        let spent: Option<(i64, String, Option<Timestamp>)> = sqlx::query_as(
                            "SELECT user_id, session_id, revoked_at FROM refresh_tokens WHERE token_hash = $1",
                        )
                        .bind(old_hash)
                        .fetch_optional(&mut *tx)
                        .await?;
                        match spent {
                            // Revoked because it was rotated (a newer token of its session
                            // exists), not because the session ended: this is a replay.
                            Some((user_id, session_id, Some(_))) => {
                                let revoked = sqlx::query(
                                    "UPDATE refresh_tokens SET revoked_at = $1 \
                                     WHERE session_id = $2 AND revoked_at IS NULL",
                                )
                                .bind(now)
                                .bind(&session_id)
                                .execute(&mut *tx)
                                .await?;
                                if revoked.rows_affected() > 0 {
                                    Rotation::Reused { user_id, session_id }
                                } else {
                                    Rotation::Ended
                                }
                            }
                            // Not revoked, yet not claimable: it has expired.
                            Some((_, _, None)) => Rotation::Expired,
                            None => Rotation::Invalid,
                        }
                    }
                };
                tx.commit().await?;
                Ok(outcome)
            }

            async fn revoke_session_of(&self, token_hash: &str) -> StoreResult<Option<(i64, String)>> {
                let mut tx = self.writer().begin().await?;
                let found: Option<(i64, String)> =
                    sqlx::query_as("SELECT user_id, session_id FROM refresh_tokens WHERE token_hash = $1")
                        .bind(token_hash)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some((user_id, session_id)) = found else { return Ok(None) };
                Self::lock_user(&mut tx, user_id).await?;
                let revoked = sqlx::query(
                    "UPDATE refresh_tokens SET revoked_at = $1 WHERE session_id = $2 AND revoked_at IS NULL",
                )
                .bind(now())
                .bind(&session_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok((revoked.rows_affected() > 0).then_some((user_id, session_id)))
            }

            async fn revoke_all_sessions(&self, user_id: i64) -> StoreResult<u64> {
                let now = now();
                let mut tx = self.writer().begin().await?;
                Self::lock_user(&mut tx, user_id).await?;
                // A live session has exactly one unrevoked, unexpired token (rotation revokes the
                // old one); expired ones are revoked too but not counted.
                let revoked: Vec<(Timestamp,)> = sqlx::query_as(
                    "UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL \
                     RETURNING expires_at",
                )
                .bind(now)
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(revoked.iter().filter(|(expires,)| *expires > now).count() as u64)
            }

            async fn user_in_session(&self, user_id: i64, session_id: &str) -> StoreResult<Option<User>> {
                let sql = format!(
                    "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1 AND u.is_active AND EXISTS ( \
                       SELECT 1 FROM refresh_tokens t WHERE t.user_id = u.id AND t.session_id = $2 \
                       AND t.revoked_at IS NULL AND t.expires_at > $3)"
                );
                Ok(sqlx::query_as::<$db, User>(AssertSqlSafe(sql))
                    .bind(user_id)
                    .bind(session_id)
                    .bind(now())
                    .fetch_optional(self.reader())
                    .await?)
            }

            async fn live_sessions(&self, session_ids: &[&str]) -> StoreResult<Vec<(i64, String)>> {
                if session_ids.is_empty() {
                    return Ok(Vec::new());
                }
                let list = (2..2 + session_ids.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
                let sql = format!(
                    "SELECT DISTINCT t.user_id, t.session_id FROM refresh_tokens t JOIN users u ON u.id = t.user_id \
                     WHERE u.is_active AND t.revoked_at IS NULL AND t.expires_at > $1 AND t.session_id IN ({list})"
                );
                let mut query = sqlx::query_as::<$db, (i64, String)>(AssertSqlSafe(sql)).bind(now());
                for id in session_ids {
                    query = query.bind(*id);
                }
                Ok(query.fetch_all(self.reader()).await?)
            }
        }
    };
}

sql_store!(SqliteStore, Sqlite, "sqlite", "./migrations/sqlite");
sql_store!(PgStore, Postgres, "postgres", "./migrations/postgres");
