//! Rooms and memberships: the [`RoomStore`] part of the storage interface, with its SQL written
//! once for both backends (see `sql.rs` for how).
//!
//! Lock order: every membership change takes the room row's lock first and member rows second,
//! as the message batch does (`messages.rs`), so they serialise and cannot deadlock.

use async_trait::async_trait;
use banter_protocol::{RoomChange, RoomKind};
use sqlx::{AssertSqlSafe, Postgres, Sqlite, Transaction};

use super::{now, Leave as LeaveOutcome, PgStore, SqliteStore, StoreError, StoreResult, Timestamp};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Room {
    pub id: i64,
    pub name: Option<String>,
    #[sqlx(try_from = "String")]
    pub room_type: RoomKind,
    pub created_by: Option<i64>,
    pub last_seq: i64,
    pub created_at: Timestamp,
    pub member_count: i64,
}

impl Room {
    pub fn is_group(&self) -> bool {
        self.room_type == RoomKind::Group
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Member {
    pub user_id: i64,
    pub username: String,
    pub full_name: Option<String>,
    pub joined_at: Timestamp,
    pub last_read_seq: i64,
}

/// One row of a user's conversation list, with the last message flattened in.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoomRow {
    pub room_id: i64,
    /// The caller's membership row: its order is the order they joined their rooms in.
    pub membership_id: i64,
    #[sqlx(try_from = "String")]
    pub room_type: RoomKind,
    pub name: Option<String>,
    pub created_by: Option<i64>,
    pub last_seq: i64,
    pub last_message_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub last_read_seq: i64,
    pub member_count: i64,
    pub other_id: Option<i64>,
    pub other_username: Option<String>,
    pub other_full_name: Option<String>,
    /// The newest message (see [`MessageStore::messages_by_ids`](super::MessageStore)).
    pub lm_id: Option<i64>,
    /// Messages after the caller's read position that are not deleted.
    pub unread_count: i64,
    /// Those of them that mention the caller.
    pub mention_count: i64,
    /// The caller muted the room.
    pub muted: bool,
}

use super::Leave;

/// A line in a group's timeline: what happened to the group (see
/// `migrations/sqlite/0009_room_notices.sql`). Written in the transaction that makes the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub id: i64,
    pub room_id: i64,
    pub change: RoomChange,
    /// Who did it; `None` for the server's own doing (a handover).
    pub actor_id: Option<i64>,
    /// Whom it is about.
    pub user_ids: Vec<i64>,
    /// `Renamed`: the new name.
    pub name: Option<String>,
    /// The room's last seq when it happened.
    pub after_seq: i64,
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct NoticeRow {
    id: i64,
    room_id: i64,
    change: String,
    actor_id: Option<i64>,
    user_ids: String,
    name: Option<String>,
    after_seq: i64,
    created_at: Timestamp,
}

impl NoticeRow {
    /// `None` for a change this version does not know (written by a newer one).
    fn into_notice(self) -> Option<Notice> {
        let change = RoomChange::parse(&self.change)?;
        // Written by `notice_tx` as a JSON array of ids; anything else reads as nobody.
        let user_ids = serde_json::from_str(&self.user_ids).unwrap_or_default();
        Some(Notice {
            id: self.id,
            room_id: self.room_id,
            change,
            actor_id: self.actor_id,
            user_ids,
            name: self.name,
            after_seq: self.after_seq,
            created_at: self.created_at,
        })
    }
}

/// What a membership change did to the group, and the notices it wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    pub outcome: Leave,
    pub notices: Vec<Notice>,
}

#[async_trait]
pub trait RoomStore: Send + Sync + 'static {
    /// Which of `ids` name existing users.
    async fn existing_user_ids(&self, ids: &[i64]) -> StoreResult<Vec<i64>>;
    /// Users whose username or full name starts with `prefix` (case-insensitive; a word of the
    /// full name counts too), except `exclude`, by username.
    /// Active users (never `viewer`) whose username or a word of whose full name starts with
    /// `prefix`, each with whether they share a room with `viewer`. With `shared_only`, only
    /// those who do — and whoever has exactly that username.
    async fn search_users(&self, search: &UserSearch<'_>) -> StoreResult<Vec<Found>>;
    /// Whether two users are members of one room.
    async fn share_a_room(&self, a: i64, b: i64) -> StoreResult<bool>;

    async fn room(&self, room_id: i64) -> StoreResult<Option<Room>>;
    /// The DM room of two users, if they have one.
    async fn direct_room(&self, a: i64, b: i64) -> StoreResult<Option<i64>>;
    /// The DM room of two users, created (with both as members) if missing.
    /// Returns the room and whether this call created it.
    async fn get_or_create_direct_room(&self, a: i64, b: i64) -> StoreResult<(i64, bool)>;
    /// A group with `creator` and `members` (deduplicated, creator first).
    async fn create_group(&self, name: &str, creator: i64, members: &[i64]) -> StoreResult<Room>;
    /// `actor` adds users to a group; returns those who were not members before with the
    /// notice saying so (if anyone was added), or `None` (and adds nobody) if the group would
    /// then have more than `max` members.
    async fn add_members(
        &self,
        room_id: i64,
        actor: i64,
        user_ids: &[i64],
        max: i64,
    ) -> StoreResult<Option<(Vec<i64>, Option<Notice>)>>;
    /// `actor` removes a member from a group (themself: leaving). The creator keeps managing
    /// the group after leaving it (as in the seed); a group is deleted only when it has neither
    /// members nor a creator.
    async fn leave_group(&self, room_id: i64, user_id: i64, actor: i64) -> StoreResult<Left>;

    /// The member's read position, or `None` if not a member.
    async fn membership(&self, room_id: i64, user_id: i64) -> StoreResult<Option<i64>>;
    async fn members(&self, room_id: i64) -> StoreResult<Vec<Member>>;
    async fn member_ids(&self, room_id: i64) -> StoreResult<Vec<i64>>;
    /// The rooms `user_id` is a member of.
    async fn room_ids_of(&self, user_id: i64) -> StoreResult<Vec<i64>>;
    /// The last `seq` of each of these rooms that exists.
    async fn last_seqs(&self, room_ids: &[i64]) -> StoreResult<Vec<(i64, i64)>>;
    /// Everyone who shares at least one room with `user_id`.
    async fn co_member_ids(&self, user_id: i64) -> StoreResult<Vec<i64>>;
    /// The user's conversations, newest activity first (or just `only_room`).
    async fn room_rows(&self, user_id: i64, only_room: Option<i64>) -> StoreResult<Vec<RoomRow>>;
    /// The member's settings for a room (`muted`), or `None` if not a member.
    async fn muted(&self, room_id: i64, user_id: i64) -> StoreResult<Option<bool>>;
    /// Changes them; `false` if not a member.
    async fn set_muted(&self, room_id: i64, user_id: i64, muted: bool) -> StoreResult<bool>;
    /// The room's members with their usernames.
    async fn member_names(&self, room_id: i64) -> StoreResult<Vec<(i64, String)>>;
    /// `actor` renames a group; the notice saying so, or `None` if there is no such group.
    async fn rename_group(&self, room_id: i64, name: &str, actor: i64) -> StoreResult<Option<Notice>>;
    /// A group's notices with an id below `before` (all: `None`), the newest `limit` of them,
    /// oldest first.
    async fn notices(&self, room_id: i64, before: Option<i64>, limit: i64) -> StoreResult<Vec<Notice>>;
    /// The names of those of `ids` who exist: (id, username, full name).
    async fn names(&self, ids: &[i64]) -> StoreResult<Vec<(i64, String, Option<String>)>>;
}

const ROOM_SELECT: &str = "SELECT r.id, r.name, r.room_type, r.created_by, r.last_seq, r.created_at, \
     (SELECT COUNT(*) FROM chat_room_members c WHERE c.chat_room_id = r.id) AS member_count \
     FROM chat_rooms r";

const ROOM_ROWS: &str = "SELECT r.id AS room_id, me.id AS membership_id, r.room_type, r.name, r.created_by, r.last_seq, r.last_message_at, \
     r.created_at, me.last_read_seq, \
     (SELECT COUNT(*) FROM chat_room_members c WHERE c.chat_room_id = r.id) AS member_count, \
     ou.id AS other_id, ou.username AS other_username, ou.full_name AS other_full_name, lm.id AS lm_id, \
     CASE WHEN r.last_message_seq <= me.last_read_seq THEN 0 ELSE \
     (SELECT COUNT(*) FROM messages um WHERE um.chat_room_id = r.id AND um.seq > me.last_read_seq \
     AND um.deleted_at IS NULL) END AS unread_count, \
     CASE WHEN r.last_message_seq <= me.last_read_seq THEN 0 ELSE \
     (SELECT COUNT(*) FROM message_mentions mm JOIN messages mx ON mx.id = mm.message_id \
     WHERE mm.user_id = me.user_id AND mx.chat_room_id = r.id AND mx.seq > me.last_read_seq \
     AND mx.deleted_at IS NULL) END AS mention_count, me.muted \
     FROM chat_room_members me \
     JOIN chat_rooms r ON r.id = me.chat_room_id \
     LEFT JOIN chat_room_members om ON r.room_type = 'direct' AND om.chat_room_id = r.id AND om.user_id <> me.user_id \
     LEFT JOIN users ou ON ou.id = om.user_id \
     LEFT JOIN messages lm ON lm.chat_room_id = r.id AND lm.seq = r.last_message_seq \
     WHERE me.user_id = $1";

/// `$1, $2, …` for an `IN (…)` list starting at placeholder `first`.
pub(super) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// A people search: see [`RoomStore::search_users`].
pub struct UserSearch<'a> {
    pub prefix: &'a str,
    pub viewer: i64,
    pub limit: i64,
    pub offset: i64,
    pub shared_only: bool,
}

/// A user found by a search, and whether they share a room with the one who searched.
#[derive(Debug, sqlx::FromRow)]
pub struct Found {
    pub id: i64,
    pub username: String,
    pub full_name: Option<String>,
    pub shared: bool,
}

/// A LIKE pattern matching strings that start with `prefix`, with `\` escaping wildcards.
fn like_prefix(prefix: &str) -> String {
    let mut p = String::with_capacity(prefix.len() + 1);
    for c in super::sql::fold(prefix).chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

macro_rules! sql_chat_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Removes a member inside `tx` and applies the leave rule to the group. As in the
            /// seed, a creator who leaves keeps the right to manage the group, and a group whose
            /// last member left stays for its creator to add people back. Only when the creator's
            /// account goes (`actor` is `None`: the account is being deleted) does the group pass
            /// to its longest-standing member — or, with nobody left who could use it, get deleted.
            /// Otherwise `actor` is who did it (the member: leaving). The notices say what happened.
            pub(super) async fn remove_member_tx(
                tx: &mut Transaction<'static, $db>,
                room_id: i64,
                user_id: i64,
                actor: Option<i64>,
            ) -> StoreResult<Left> {
                let account_deleted = actor.is_none();
                // Room row first, member rows second: the order a message batch takes them in,
                // so a member leaving while sending cannot deadlock.
                sqlx::query("UPDATE chat_rooms SET updated_at = $1 WHERE id = $2")
                    .bind(now())
                    .bind(room_id)
                    .execute(&mut **tx)
                    .await?;
                let removed = sqlx::query("DELETE FROM chat_room_members WHERE chat_room_id = $1 AND user_id = $2")
                    .bind(room_id)
                    .bind(user_id)
                    .execute(&mut **tx)
                    .await?;
                if removed.rows_affected() == 0 {
                    return Ok(Left { outcome: LeaveOutcome::NotMember, notices: Vec::new() });
                }
                let change = if actor.is_some_and(|a| a != user_id) { RoomChange::MemberRemoved } else { RoomChange::MemberLeft };
                let mut notices: Vec<Notice> =
                    Self::notice_tx(tx, room_id, change, actor, &[user_id], None).await?.into_iter().collect();
                let creator: Option<(Option<i64>,)> = sqlx::query_as("SELECT created_by FROM chat_rooms WHERE id = $1")
                    .bind(room_id)
                    .fetch_optional(&mut **tx)
                    .await?;
                let creator = creator.and_then(|(c,)| c);
                // Whoever can still manage the group once this member is gone.
                let creator = creator.filter(|&c| !(account_deleted && c == user_id));
                match creator {
                    Some(_) => Ok(Left { outcome: LeaveOutcome::Left, notices }),
                    None => {
                        let mut handed = Self::hand_over_tx(tx, room_id).await?;
                        if handed.outcome == LeaveOutcome::Deleted {
                            notices.clear(); // gone with the group
                        }
                        notices.append(&mut handed.notices);
                        Ok(Left { outcome: handed.outcome, notices })
                    }
                }
            }

            /// Records a notice inside `tx` (the room row locked by the caller), placed after
            /// the room's last seq; `None` if the room does not exist.
            async fn notice_tx(
                tx: &mut Transaction<'static, $db>,
                room_id: i64,
                change: RoomChange,
                actor_id: Option<i64>,
                user_ids: &[i64],
                name: Option<&str>,
            ) -> StoreResult<Option<Notice>> {
                let ids = user_ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
                let created_at = now();
                let row: Option<(i64, i64)> = sqlx::query_as(
                    "INSERT INTO room_notices (room_id, change, actor_id, user_ids, name, after_seq, created_at) \
                     SELECT id, $2, $3, $4, $5, last_seq, $6 FROM chat_rooms WHERE id = $1 RETURNING id, after_seq",
                )
                .bind(room_id)
                .bind(change.as_str())
                .bind(actor_id)
                .bind(format!("[{ids}]"))
                .bind(name)
                .bind(created_at)
                .fetch_optional(&mut **tx)
                .await?;
                Ok(row.map(|(id, after_seq)| Notice {
                    id,
                    room_id,
                    change,
                    actor_id,
                    user_ids: user_ids.to_vec(),
                    name: name.map(str::to_owned),
                    after_seq,
                    created_at,
                }))
            }

            /// Gives a group without a creator to its longest-standing member, or deletes it if
            /// it has none. The caller holds the room row's lock.
            pub(super) async fn hand_over_tx(
                tx: &mut Transaction<'static, $db>,
                room_id: i64,
            ) -> StoreResult<Left> {
                let successor: Option<(i64,)> = sqlx::query_as(
                    "SELECT user_id FROM chat_room_members WHERE chat_room_id = $1 ORDER BY joined_at, id LIMIT 1",
                )
                .bind(room_id)
                .fetch_optional(&mut **tx)
                .await?;
                match successor {
                    Some((successor,)) => {
                        sqlx::query("UPDATE chat_rooms SET created_by = $1, updated_at = $2 WHERE id = $3")
                            .bind(successor)
                            .bind(now())
                            .bind(room_id)
                            .execute(&mut **tx)
                            .await?;
                        let notices = Self::notice_tx(tx, room_id, RoomChange::OwnerChanged, None, &[successor], None)
                            .await?
                            .into_iter()
                            .collect();
                        Ok(Left { outcome: LeaveOutcome::HandedOver(successor), notices })
                    }
                    None => {
                        sqlx::query("DELETE FROM chat_rooms WHERE id = $1").bind(room_id).execute(&mut **tx).await?;
                        Ok(Left { outcome: LeaveOutcome::Deleted, notices: Vec::new() })
                    }
                }
            }

            /// Adds a member inside `tx`; `false` if they already were one.
            async fn add_member_tx(
                tx: &mut Transaction<'static, $db>,
                room_id: i64,
                user_id: i64,
                now: Timestamp,
            ) -> StoreResult<bool> {
                let r = sqlx::query(
                    "INSERT INTO chat_room_members (chat_room_id, user_id, joined_at, last_read_seq) \
                     VALUES ($1, $2, $3, 0) ON CONFLICT (chat_room_id, user_id) DO NOTHING",
                )
                .bind(room_id)
                .bind(user_id)
                .bind(now)
                .execute(&mut **tx)
                .await?;
                Ok(r.rows_affected() == 1)
            }

        }

        #[async_trait]
        impl RoomStore for $store {
            async fn existing_user_ids(&self, ids: &[i64]) -> StoreResult<Vec<i64>> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let sql = format!("SELECT id FROM users WHERE id IN ({})", placeholders(1, ids.len()));
                let mut q = sqlx::query_as::<$db, (i64,)>(AssertSqlSafe(sql));
                for id in ids {
                    q = q.bind(id);
                }
                Ok(q.fetch_all(self.reader()).await?.into_iter().map(|(id,)| id).collect())
            }

            async fn search_users(&self, search: &UserSearch<'_>) -> StoreResult<Vec<Found>> {
                let pattern = like_prefix(search.prefix);
                let word = format!("% {pattern}");
                let only = if search.shared_only { "AND (shared OR username_key = $6)" } else { "" };
                let sql = format!(
                    "SELECT id, username, full_name, shared FROM ( \
                       SELECT u.id, u.username, u.full_name, u.username_key, EXISTS ( \
                         SELECT 1 FROM chat_room_members a JOIN chat_room_members b ON b.chat_room_id = a.chat_room_id \
                         WHERE a.user_id = $1 AND b.user_id = u.id) AS shared \
                       FROM users u WHERE u.id <> $1 AND u.is_active AND ( \
                         u.username_key LIKE $2 ESCAPE '\\' OR u.name_key LIKE $2 ESCAPE '\\' \
                         OR u.name_key LIKE $3 ESCAPE '\\')) found \
                     WHERE TRUE {only} ORDER BY username_key, id LIMIT $4 OFFSET $5"
                );
                let mut query = sqlx::query_as(AssertSqlSafe(sql))
                    .bind(search.viewer)
                    .bind(&pattern)
                    .bind(&word)
                    .bind(search.limit)
                    .bind(search.offset);
                if search.shared_only {
                    query = query.bind(super::sql::fold(search.prefix));
                }
                Ok(query.fetch_all(self.reader()).await?)
            }

            async fn share_a_room(&self, a: i64, b: i64) -> StoreResult<bool> {
                Ok(sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM chat_room_members a JOIN chat_room_members b \
                     ON b.chat_room_id = a.chat_room_id WHERE a.user_id = $1 AND b.user_id = $2)",
                )
                .bind(a)
                .bind(b)
                .fetch_one(self.reader())
                .await?)
            }

            async fn room(&self, room_id: i64) -> StoreResult<Option<Room>> {
                let sql = format!("{ROOM_SELECT} WHERE r.id = $1");
                Ok(sqlx::query_as::<$db, Room>(AssertSqlSafe(sql)).bind(room_id).fetch_optional(self.reader()).await?)
            }

            async fn direct_room(&self, a: i64, b: i64) -> StoreResult<Option<i64>> {
                let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM chat_rooms WHERE direct_key = $1")
                    .bind(direct_key(a, b))
                    .fetch_optional(self.reader())
                    .await?;
                Ok(row.map(|(id,)| id))
            }

            async fn get_or_create_direct_room(&self, a: i64, b: i64) -> StoreResult<(i64, bool)> {
                let key = direct_key(a, b);
                let now = now();
                let mut tx = self.writer().begin().await?;
                // The unique direct_key makes concurrent first messages between two users agree
                // on one room: the loser's insert does nothing and it reads the winner's row.
                let created: Option<(i64,)> = sqlx::query_as(
                    "INSERT INTO chat_rooms (name, room_type, created_by, direct_key, last_seq, created_at, updated_at) \
                     VALUES (NULL, 'direct', $1, $2, 0, $3, $3) ON CONFLICT (direct_key) DO NOTHING RETURNING id",
                )
                .bind(a)
                .bind(&key)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let found = match created {
                    Some((id,)) => {
                        for user in [a, b] {
                            Self::add_member_tx(&mut tx, id, user, now).await?;
                        }
                        (id, true)
                    }
                    None => {
                        let (id,): (i64,) = sqlx::query_as("SELECT id FROM chat_rooms WHERE direct_key = $1")
                            .bind(&key)
                            .fetch_one(&mut *tx)
                            .await?;
                        (id, false)
                    }
                };
                tx.commit().await?;
                Ok(found)
            }

            async fn create_group(&self, name: &str, creator: i64, members: &[i64]) -> StoreResult<Room> {
                let now = now();
                let mut tx = self.writer().begin().await?;
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO chat_rooms (name, room_type, created_by, last_seq, created_at, updated_at) \
                     VALUES ($1, 'group', $2, 0, $3, $3) RETURNING id",
                )
                .bind(name)
                .bind(creator)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                // The creator first: the longest-standing member, should the group be handed on.
                for &user in std::iter::once(&creator).chain(members) {
                    Self::add_member_tx(&mut tx, id, user, now).await?;
                }
                tx.commit().await?;
                self.room(id).await?.ok_or_else(|| StoreError::Other(sqlx::Error::RowNotFound))
            }

            async fn add_members(
                &self,
                room_id: i64,
                actor: i64,
                user_ids: &[i64],
                max: i64,
            ) -> StoreResult<Option<(Vec<i64>, Option<Notice>)>> {
                let now = now();
                let mut added = Vec::new();
                let mut tx = self.writer().begin().await?;
                // The room's lock makes the size check and the inserts one step.
                sqlx::query("UPDATE chat_rooms SET updated_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(room_id)
                    .execute(&mut *tx)
                    .await?;
                for &user in user_ids {
                    if Self::add_member_tx(&mut tx, room_id, user, now).await? {
                        added.push(user);
                    }
                }
                let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM chat_room_members WHERE chat_room_id = $1")
                    .bind(room_id)
                    .fetch_one(&mut *tx)
                    .await?;
                if count > max {
                    return Ok(None); // dropping `tx` rolls back
                }
                let notice = if added.is_empty() {
                    None
                } else {
                    Self::notice_tx(&mut tx, room_id, RoomChange::MembersAdded, Some(actor), &added, None).await?
                };
                tx.commit().await?;
                Ok(Some((added, notice)))
            }

            async fn leave_group(&self, room_id: i64, user_id: i64, actor: i64) -> StoreResult<Left> {
                let mut tx = self.writer().begin().await?;
                let left = Self::remove_member_tx(&mut tx, room_id, user_id, Some(actor)).await?;
                tx.commit().await?;
                Ok(left)
            }

            async fn membership(&self, room_id: i64, user_id: i64) -> StoreResult<Option<i64>> {
                let row: Option<(i64,)> = sqlx::query_as(
                    "SELECT last_read_seq FROM chat_room_members WHERE chat_room_id = $1 AND user_id = $2",
                )
                .bind(room_id)
                .bind(user_id)
                .fetch_optional(self.reader())
                .await?;
                Ok(row.map(|(seq,)| seq))
            }

            async fn members(&self, room_id: i64) -> StoreResult<Vec<Member>> {
                Ok(sqlx::query_as::<$db, Member>(
                    "SELECT m.user_id, u.username, u.full_name, m.joined_at, m.last_read_seq \
                     FROM chat_room_members m JOIN users u ON u.id = m.user_id \
                     WHERE m.chat_room_id = $1 ORDER BY m.joined_at, m.id",
                )
                .bind(room_id)
                .fetch_all(self.reader())
                .await?)
            }

            async fn member_ids(&self, room_id: i64) -> StoreResult<Vec<i64>> {
                let rows: Vec<(i64,)> = sqlx::query_as("SELECT user_id FROM chat_room_members WHERE chat_room_id = $1")
                    .bind(room_id)
                    .fetch_all(self.reader())
                    .await?;
                Ok(rows.into_iter().map(|(id,)| id).collect())
            }

            async fn room_ids_of(&self, user_id: i64) -> StoreResult<Vec<i64>> {
                let rows: Vec<(i64,)> =
                    sqlx::query_as("SELECT chat_room_id FROM chat_room_members WHERE user_id = $1 ORDER BY chat_room_id")
                        .bind(user_id)
                        .fetch_all(self.reader())
                        .await?;
                Ok(rows.into_iter().map(|(id,)| id).collect())
            }

            async fn last_seqs(&self, room_ids: &[i64]) -> StoreResult<Vec<(i64, i64)>> {
                if room_ids.is_empty() {
                    return Ok(Vec::new());
                }
                let sql = format!("SELECT id, last_seq FROM chat_rooms WHERE id IN ({})", placeholders(1, room_ids.len()));
                let mut query = sqlx::query_as::<$db, (i64, i64)>(AssertSqlSafe(sql));
                for id in room_ids {
                    query = query.bind(id);
                }
                Ok(query.fetch_all(self.reader()).await?)
            }

            async fn co_member_ids(&self, user_id: i64) -> StoreResult<Vec<i64>> {
                let rows: Vec<(i64,)> = sqlx::query_as(
                    "SELECT DISTINCT o.user_id FROM chat_room_members me \
                     JOIN chat_room_members o ON o.chat_room_id = me.chat_room_id \
                     WHERE me.user_id = $1 AND o.user_id <> $1",
                )
                .bind(user_id)
                .fetch_all(self.reader())
                .await?;
                Ok(rows.into_iter().map(|(id,)| id).collect())
            }

            async fn muted(&self, room_id: i64, user_id: i64) -> StoreResult<Option<bool>> {
                let row: Option<(bool,)> =
                    sqlx::query_as("SELECT muted FROM chat_room_members WHERE chat_room_id = $1 AND user_id = $2")
                        .bind(room_id)
                        .bind(user_id)
                        .fetch_optional(self.reader())
                        .await?;
                Ok(row.map(|(m,)| m))
            }

            async fn set_muted(&self, room_id: i64, user_id: i64, muted: bool) -> StoreResult<bool> {
                let r = sqlx::query("UPDATE chat_room_members SET muted = $1 WHERE chat_room_id = $2 AND user_id = $3")
                    .bind(muted)
                    .bind(room_id)
                    .bind(user_id)
                    .execute(self.writer())
                    .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn rename_group(&self, room_id: i64, name: &str, actor: i64) -> StoreResult<Option<Notice>> {
                let mut tx = self.writer().begin().await?;
                let r = sqlx::query("UPDATE chat_rooms SET name = $1, updated_at = $2 WHERE id = $3 AND room_type = 'group'")
                    .bind(name)
                    .bind(super::now())
                    .bind(room_id)
                    .execute(&mut *tx)
                    .await?;
                if r.rows_affected() == 0 {
                    return Ok(None);
                }
                let notice = Self::notice_tx(&mut tx, room_id, RoomChange::Renamed, Some(actor), &[], Some(name)).await?;
                tx.commit().await?;
                Ok(notice)
            }

            async fn notices(&self, room_id: i64, before: Option<i64>, limit: i64) -> StoreResult<Vec<Notice>> {
                let rows: Vec<NoticeRow> = sqlx::query_as(
                    "SELECT id, room_id, change, actor_id, user_ids, name, after_seq, created_at FROM room_notices \
                     WHERE room_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                )
                .bind(room_id)
                .bind(before.unwrap_or(i64::MAX))
                .bind(limit)
                .fetch_all(self.reader())
                .await?;
                Ok(rows.into_iter().rev().filter_map(NoticeRow::into_notice).collect())
            }

            async fn names(&self, ids: &[i64]) -> StoreResult<Vec<(i64, String, Option<String>)>> {
                let mut names = Vec::with_capacity(ids.len());
                // In slices: a page of notices can name more people than a query may bind.
                for chunk in ids.chunks(500) {
                    let sql = format!("SELECT id, username, full_name FROM users WHERE id IN ({})", placeholders(1, chunk.len()));
                    let mut q = sqlx::query_as::<$db, (i64, String, Option<String>)>(AssertSqlSafe(sql));
                    for id in chunk {
                        q = q.bind(id);
                    }
                    names.extend(q.fetch_all(self.reader()).await?);
                }
                Ok(names)
            }

            async fn member_names(&self, room_id: i64) -> StoreResult<Vec<(i64, String)>> {
                Ok(sqlx::query_as(
                    "SELECT u.id, u.username FROM chat_room_members m JOIN users u ON u.id = m.user_id \
                     WHERE m.chat_room_id = $1 ORDER BY u.id",
                )
                .bind(room_id)
                .fetch_all(self.reader())
                .await?)
            }

            async fn room_rows(&self, user_id: i64, only_room: Option<i64>) -> StoreResult<Vec<RoomRow>> {
                let sql = match only_room {
                    Some(_) => format!("{ROOM_ROWS} AND r.id = $2"),
                    None => format!("{ROOM_ROWS} ORDER BY COALESCE(r.last_message_at, r.created_at) DESC, r.id DESC"),
                };
                let mut q = sqlx::query_as::<$db, RoomRow>(AssertSqlSafe(sql)).bind(user_id);
                if let Some(room) = only_room {
                    q = q.bind(room);
                }
                Ok(q.fetch_all(self.reader()).await?)
            }

        }
    };
}

/// The unique key of the DM room between two users, whichever of them asks.
fn direct_key(a: i64, b: i64) -> String {
    format!("{}:{}", a.min(b), a.max(b))
}

sql_chat_store!(SqliteStore, Sqlite);
sql_chat_store!(PgStore, Postgres);
