//! Messages, the room event log and read positions: the [`MessageStore`] part of the storage
//! interface, written once for both backends (see `sql.rs` for how).
//!
//! Appending is batched ([`MessageStore::append_messages`]): a whole batch of sends — from any
//! rooms and senders — is checked, numbered and written in one transaction with a fixed number
//! of statements, whatever its size, and committed once. Commit latency is the price of a write;
//! batching pays it once for many messages.
//!
//! Ordering: each room's `last_seq` is read and advanced inside the batch's transaction. On
//! PostgreSQL the batch first locks its rooms' rows, in room-id order (so two batches, on one
//! node or two, never deadlock); a concurrent batch for the same room waits for the commit and
//! then numbers after it, so a reader never sees seq N+1 before seq N. SQLite has a single
//! writer. Membership is checked under the same locks, so a member removed before the batch
//! locked the room cannot post in it.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Postgres, Sqlite};

use super::{PgStore, SqliteStore, StoreResult, Timestamp};

/// A message with its sender's current name (`None` once the sender deleted their account).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub id: i64,
    pub room_id: i64,
    pub seq: i64,
    pub sender_id: Option<i64>,
    pub sender_username: Option<String>,
    pub sender_full_name: Option<String>,
    pub content: String,
    pub client_id: Option<String>,
    pub created_at: Timestamp,
}

/// Which slice of a room's history to read. Every form returns messages oldest → newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// The seed's form: skip the newest `offset`, then the newest `limit` of the rest.
    Latest { limit: i64, offset: i64 },
    /// The newest `limit` messages with seq < `seq`.
    Before { seq: i64, limit: i64 },
    /// The oldest `limit` messages with seq > `seq`.
    After { seq: i64, limit: i64 },
}

/// What kind of change a room event records. Only new messages exist so far; edits,
/// deletions, reactions and read receipts will each be a kind of their own, replayed in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Message,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
        }
    }
}

/// One entry of a room's event log, with the message it is about as it is now.
#[derive(Debug, Clone)]
pub struct RoomEvent {
    pub seq: i64,
    pub kind: EventKind,
    pub message: Option<MessageRow>,
}

/// One message to append.
#[derive(Debug, Clone)]
pub struct Append {
    pub room_id: i64,
    pub sender_id: i64,
    pub content: String,
    pub client_id: Option<String>,
    /// Refuse the room unless it is a group (the seed's `/groups/send`).
    pub group_only: bool,
}

/// What became of one [`Append`].
#[derive(Debug, Clone)]
pub enum Appended {
    /// Stored as message `id` with this `seq`.
    New {
        id: i64,
        seq: i64,
    },
    /// The sender used this `client_id` before, in an earlier batch: nothing was written.
    Existing(MessageRow),
    /// The sender used this `client_id` earlier in the same batch (the entry at this index).
    SameAs(usize),
    NoRoom,
    NotGroup,
    NotMember,
}

/// A batch's outcome: one [`Appended`] per input, in order, the time stamped on every new
/// message, and each touched room's members at commit (who must receive its messages).
#[derive(Debug, Clone)]
pub struct AppendBatch {
    pub outcomes: Vec<Appended>,
    pub created_at: Timestamp,
    pub members: HashMap<i64, Vec<i64>>,
}

#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    /// Appends a batch in one transaction: for each message, checks the room (and its type when
    /// asked) and the sender's membership, returns the original for a `client_id` the sender
    /// already used (in an earlier batch or earlier in this one: neither takes a seq), gives
    /// each new message its room's next seq, logs it as a room event, and moves its sender's
    /// read position to it. One commit for the batch.
    async fn append_messages(&self, batch: &[Append]) -> StoreResult<AppendBatch>;
    async fn messages(&self, room_id: i64, page: Page) -> StoreResult<Vec<MessageRow>>;
    /// The room's events after `seq`, oldest first, at most `limit`.
    async fn events_after(&self, room_id: i64, seq: i64, limit: i64) -> StoreResult<Vec<RoomEvent>>;
    /// Moves the read position forward to `up_to` (never back). `true` if it moved.
    async fn mark_read(&self, room_id: i64, user_id: i64, up_to: i64) -> StoreResult<bool>;
}

pub(super) const MESSAGE_COLUMNS: &str = "m.id, m.chat_room_id AS room_id, m.seq, m.sender_id, \
     u.username AS sender_username, u.full_name AS sender_full_name, m.content, m.client_id, m.created_at";

pub(super) const MESSAGE_SELECT: &str = "SELECT m.id, m.chat_room_id AS room_id, m.seq, m.sender_id, \
     u.username AS sender_username, u.full_name AS sender_full_name, m.content, m.client_id, m.created_at \
     FROM messages m LEFT JOIN users u ON u.id = m.sender_id";

/// A room as a batch found it under its lock.
#[derive(sqlx::FromRow)]
struct LockedRoom {
    id: i64,
    #[sqlx(try_from = "String")]
    room_type: banter_protocol::RoomKind,
    last_seq: i64,
}

/// A message the batch will insert.
struct Planned {
    index: usize,
    seq: i64,
}

/// Decides every outcome that needs no write, and the seq of every new message.
fn plan(
    batch: &[Append],
    rooms: &HashMap<i64, LockedRoom>,
    members: &HashMap<i64, Vec<i64>>,
    existing: &HashMap<(i64, String), MessageRow>,
) -> (Vec<Appended>, Vec<Planned>, BTreeMap<i64, i64>) {
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut planned = Vec::new();
    let mut next: BTreeMap<i64, i64> = BTreeMap::new();
    let mut seen: HashMap<(i64, &str), usize> = HashMap::new();
    for (index, a) in batch.iter().enumerate() {
        let Some(room) = rooms.get(&a.room_id) else {
            outcomes.push(Appended::NoRoom);
            continue;
        };
        if a.group_only && room.room_type != banter_protocol::RoomKind::Group {
            outcomes.push(Appended::NotGroup);
            continue;
        }
        if !members.get(&a.room_id).is_some_and(|m| m.contains(&a.sender_id)) {
            outcomes.push(Appended::NotMember);
            continue;
        }
        if let Some(client_id) = a.client_id.as_deref() {
            if let Some(row) = existing.get(&(a.sender_id, client_id.to_owned())) {
                outcomes.push(Appended::Existing(row.clone()));
                continue;
            }
            if let Some(&first) = seen.get(&(a.sender_id, client_id)) {
                outcomes.push(Appended::SameAs(first));
                continue;
            }
            seen.insert((a.sender_id, client_id), index);
        }
        let last = next.entry(a.room_id).or_insert(room.last_seq);
        *last += 1;
        planned.push(Planned { index, seq: *last });
        // A placeholder until the insert returns the id.
        outcomes.push(Appended::New { id: 0, seq: *last });
    }
    (outcomes, planned, next)
}

macro_rules! sql_message_store {
    ($store:ty, $db:ty) => {
        #[async_trait]
        impl MessageStore for $store {
            async fn append_messages(&self, batch: &[Append]) -> StoreResult<AppendBatch> {
                self.append_batch(batch).await
            }

            async fn messages(&self, room_id: i64, page: Page) -> StoreResult<Vec<MessageRow>> {
                let (sql, a, b, newest_first) = match page {
                    Page::Latest { limit, offset } => (
                        format!("{MESSAGE_SELECT} WHERE m.chat_room_id = $1 ORDER BY m.seq DESC LIMIT $2 OFFSET $3"),
                        limit,
                        offset,
                        true,
                    ),
                    Page::Before { seq, limit } => (
                        format!("{MESSAGE_SELECT} WHERE m.chat_room_id = $1 AND m.seq < $3 ORDER BY m.seq DESC LIMIT $2"),
                        limit,
                        seq,
                        true,
                    ),
                    Page::After { seq, limit } => (
                        format!("{MESSAGE_SELECT} WHERE m.chat_room_id = $1 AND m.seq > $3 ORDER BY m.seq ASC LIMIT $2"),
                        limit,
                        seq,
                        false,
                    ),
                };
                let mut rows =
                    sqlx::query_as::<$db, MessageRow>(AssertSqlSafe(sql)).bind(room_id).bind(a).bind(b).fetch_all(self.reader()).await?;
                if newest_first {
                    rows.reverse();
                }
                Ok(rows)
            }

            async fn events_after(&self, room_id: i64, seq: i64, limit: i64) -> StoreResult<Vec<RoomEvent>> {
                #[derive(sqlx::FromRow)]
                struct Row {
                    event_seq: i64,
                    kind: String,
                    #[sqlx(flatten)]
                    message: OptionalMessage,
                }
                #[derive(sqlx::FromRow)]
                struct OptionalMessage {
                    id: Option<i64>,
                    room_id: Option<i64>,
                    seq: Option<i64>,
                    sender_id: Option<i64>,
                    sender_username: Option<String>,
                    sender_full_name: Option<String>,
                    content: Option<String>,
                    client_id: Option<String>,
                    created_at: Option<Timestamp>,
                }
                let sql = format!(
                    "SELECT e.seq AS event_seq, e.kind, {MESSAGE_COLUMNS} FROM room_events e \
                     LEFT JOIN messages m ON m.id = e.message_id LEFT JOIN users u ON u.id = m.sender_id \
                     WHERE e.room_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3"
                );
                let rows = sqlx::query_as::<$db, Row>(AssertSqlSafe(sql))
                    .bind(room_id)
                    .bind(seq)
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?;
                Ok(rows
                    .into_iter()
                    .filter_map(|r| {
                        let kind = match r.kind.as_str() {
                            "message" => EventKind::Message,
                            // A kind this version does not know (written by a newer one).
                            _ => return None,
                        };
                        let m = r.message;
                        let message = match (m.id, m.room_id, m.seq, m.content, m.created_at) {
                            (Some(id), Some(room_id), Some(seq), Some(content), Some(created_at)) => Some(MessageRow {
                                id,
                                room_id,
                                seq,
                                sender_id: m.sender_id,
                                sender_username: m.sender_username,
                                sender_full_name: m.sender_full_name,
                                content,
                                client_id: m.client_id,
                                created_at,
                            }),
                            _ => None,
                        };
                        Some(RoomEvent { seq: r.event_seq, kind, message })
                    })
                    .collect())
            }

            async fn mark_read(&self, room_id: i64, user_id: i64, up_to: i64) -> StoreResult<bool> {
                let r = sqlx::query(
                    "UPDATE chat_room_members SET last_read_seq = $1 \
                     WHERE chat_room_id = $2 AND user_id = $3 AND last_read_seq < $1",
                )
                .bind(up_to)
                .bind(room_id)
                .bind(user_id)
                .execute(self.writer())
                .await?;
                Ok(r.rows_affected() > 0)
            }
        }
    };
}

sql_message_store!(SqliteStore, Sqlite);
sql_message_store!(PgStore, Postgres);

/// The rows a batch writes, as columns (PostgreSQL binds them as arrays for `UNNEST`) and as
/// JSON rows (SQLite reads them with `json_each`): either way each statement is prepared once and
/// takes a fixed number of parameters, whatever the batch's size.
struct Writes {
    /// Each room's new `last_seq`.
    last_seqs: Vec<(i64, i64)>,
    /// (room, sender, content, seq, client_id) per new message, in batch order.
    messages: Vec<(i64, i64, String, i64, Option<String>)>,
    /// (room, user, seq): each sender's newest own message per room.
    reads: Vec<(i64, i64, i64)>,
}

impl Writes {
    fn new(batch: &[Append], planned: &[Planned], last_seqs: &BTreeMap<i64, i64>) -> Self {
        let mut reads: BTreeMap<(i64, i64), i64> = BTreeMap::new();
        let messages = planned
            .iter()
            .map(|p| {
                let a = &batch[p.index];
                let at = reads.entry((a.room_id, a.sender_id)).or_insert(p.seq);
                *at = (*at).max(p.seq);
                (a.room_id, a.sender_id, a.content.clone(), p.seq, a.client_id.clone())
            })
            .collect();
        Self {
            last_seqs: last_seqs.iter().map(|(r, s)| (*r, *s)).collect(),
            messages,
            reads: reads.into_iter().map(|((r, u), s)| (r, u, s)).collect(),
        }
    }
}

/// Fills in the ids the insert returned; fails if one is missing (it cannot be, short of a
/// driver bug, but a message must never be acknowledged without its id).
fn assign_ids(
    outcomes: &mut [Appended],
    planned: &[Planned],
    batch: &[Append],
    ids: &HashMap<(i64, i64), i64>,
) -> StoreResult<()> {
    for p in planned {
        let room = batch[p.index].room_id;
        let id = ids
            .get(&(room, p.seq))
            .copied()
            .ok_or_else(|| super::StoreError::Other(sqlx::Error::Protocol("inserted message not returned".into())))?;
        outcomes[p.index] = Appended::New { id, seq: p.seq };
    }
    Ok(())
}

fn distinct_rooms(batch: &[Append]) -> Vec<i64> {
    let mut ids: Vec<i64> = batch.iter().map(|a| a.room_id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// A batch's new messages as columns, for PostgreSQL's `UNNEST`.
#[derive(Default)]
struct MessageColumns {
    rooms: Vec<i64>,
    senders: Vec<i64>,
    contents: Vec<String>,
    seqs: Vec<i64>,
    client_ids: Vec<Option<String>>,
}

impl MessageColumns {
    fn of(w: &Writes) -> Self {
        let mut c = Self::default();
        for (room, sender, content, seq, client_id) in &w.messages {
            c.rooms.push(*room);
            c.senders.push(*sender);
            c.contents.push(content.clone());
            c.seqs.push(*seq);
            c.client_ids.push(client_id.clone());
        }
        c
    }
}

impl PgStore {
    async fn append_batch(&self, batch: &[Append]) -> StoreResult<AppendBatch> {
        let created_at = super::now();
        let room_ids = distinct_rooms(batch);
        let mut tx = self.batch_writer().begin().await?;
        // A batch waits for row locks held by other transactions (another node's batch, a
        // membership change): bounded, so a stuck transaction elsewhere turns into a retry and
        // then a 503, not a writer that waits forever with every sender behind it. Set per
        // transaction (not as connection options, which a pooler such as PgBouncer refuses).
        sqlx::query("SELECT set_config('lock_timeout', '5s', true), set_config('statement_timeout', '15s', true)")
            .execute(&mut *tx)
            .await?;
        // 1. The rooms, locked in id order (two batches never wait on each other in a cycle).
        let rooms: HashMap<i64, LockedRoom> = sqlx::query_as::<Postgres, LockedRoom>(
            "SELECT id, room_type, last_seq FROM chat_rooms WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        )
        .bind(&room_ids)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
        // 2. Their members, under the rooms' locks.
        let mut members: HashMap<i64, Vec<i64>> = HashMap::new();
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT chat_room_id, user_id FROM chat_room_members WHERE chat_room_id = ANY($1)")
                .bind(&room_ids)
                .fetch_all(&mut *tx)
                .await?;
        for (room, user) in rows {
            members.entry(room).or_default().push(user);
        }
        // 3. Client ids the senders used before.
        let (senders, client_ids): (Vec<i64>, Vec<String>) =
            batch.iter().filter_map(|a| a.client_id.clone().map(|c| (a.sender_id, c))).unzip();
        let mut existing: HashMap<(i64, String), MessageRow> = HashMap::new();
        if !senders.is_empty() {
            let sql = format!(
                "{MESSAGE_SELECT} WHERE (m.sender_id, m.client_id) IN (SELECT * FROM UNNEST($1::int8[], $2::text[]))"
            );
            let rows = sqlx::query_as::<Postgres, MessageRow>(AssertSqlSafe(sql))
                .bind(&senders)
                .bind(&client_ids)
                .fetch_all(&mut *tx)
                .await?;
            for row in rows {
                if let (Some(sender), Some(client_id)) = (row.sender_id, row.client_id.clone()) {
                    existing.insert((sender, client_id), row);
                }
            }
        }
        let (mut outcomes, planned, last_seqs) = plan(batch, &rooms, &members, &existing);
        if planned.is_empty() {
            tx.commit().await.map_err(super::StoreError::at_commit)?;
            return Ok(AppendBatch { outcomes, created_at, members });
        }
        let w = Writes::new(batch, &planned, &last_seqs);
        // 4. Each room's sequence.
        let (rooms_col, seqs_col): (Vec<i64>, Vec<i64>) = w.last_seqs.iter().copied().unzip();
        sqlx::query(
            "UPDATE chat_rooms r SET last_seq = v.seq, last_message_at = $3, updated_at = $3 \
             FROM UNNEST($1::int8[], $2::int8[]) AS v(id, seq) WHERE r.id = v.id",
        )
        .bind(&rooms_col)
        .bind(&seqs_col)
        .bind(created_at)
        .execute(&mut *tx)
        .await?;
        // 5. The messages.
        let cols = MessageColumns::of(&w);
        let ids: HashMap<(i64, i64), i64> = sqlx::query_as::<Postgres, (i64, i64, i64)>(
            "INSERT INTO messages (chat_room_id, sender_id, content, seq, client_id, created_at) \
             SELECT r, s, c, q, k, $6 FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::int8[], $5::text[]) \
             AS t(r, s, c, q, k) RETURNING id, chat_room_id, seq",
        )
        .bind(&cols.rooms)
        .bind(&cols.senders)
        .bind(&cols.contents)
        .bind(&cols.seqs)
        .bind(&cols.client_ids)
        .bind(created_at)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(id, room, seq)| ((room, seq), id))
        .collect();
        assign_ids(&mut outcomes, &planned, batch, &ids)?;
        // 6. The event log.
        let message_ids: Vec<i64> = planned
            .iter()
            .map(|p| match outcomes[p.index] {
                Appended::New { id, .. } => id,
                _ => 0,
            })
            .collect();
        sqlx::query(
            "INSERT INTO room_events (room_id, seq, kind, message_id, actor_id, created_at) \
             SELECT r, q, $5, m, a, $6 FROM UNNEST($1::int8[], $2::int8[], $3::int8[], $4::int8[]) AS t(r, q, m, a)",
        )
        .bind(&cols.rooms)
        .bind(&cols.seqs)
        .bind(&message_ids)
        .bind(&cols.senders)
        .bind(EventKind::Message.as_str())
        .bind(created_at)
        .execute(&mut *tx)
        .await?;
        // 7. Each sender has read up to their own newest message.
        let mut reads: (Vec<i64>, Vec<i64>, Vec<i64>) = Default::default();
        for (room, user, seq) in &w.reads {
            reads.0.push(*room);
            reads.1.push(*user);
            reads.2.push(*seq);
        }
        sqlx::query(
            "UPDATE chat_room_members SET last_read_seq = v.seq FROM UNNEST($1::int8[], $2::int8[], $3::int8[]) \
             AS v(room, usr, seq) WHERE chat_room_id = v.room AND user_id = v.usr AND last_read_seq < v.seq",
        )
        .bind(&reads.0)
        .bind(&reads.1)
        .bind(&reads.2)
        .execute(&mut *tx)
        .await?;
        tx.commit().await.map_err(super::StoreError::at_commit)?;
        Ok(AppendBatch { outcomes, created_at, members })
    }
}

/// `[a, b, …]` as a JSON array, for SQLite's `json_each`.
fn json_rows<T: serde::Serialize>(rows: &T) -> String {
    serde_json::to_string(rows).unwrap_or_else(|_| "[]".into())
}

impl SqliteStore {
    async fn append_batch(&self, batch: &[Append]) -> StoreResult<AppendBatch> {
        let created_at = super::now();
        let room_ids = json_rows(&distinct_rooms(batch));
        // IMMEDIATE: take the write lock before reading, so the rooms read here cannot change
        // under the batch (this node has one writer connection; another process — a second
        // server, an admin command — waits on the busy timeout instead of failing the batch).
        let mut tx = self.writer().begin_with("BEGIN IMMEDIATE").await?;
        let rooms: HashMap<i64, LockedRoom> = sqlx::query_as::<Sqlite, LockedRoom>(
            "SELECT id, room_type, last_seq FROM chat_rooms WHERE id IN (SELECT value FROM json_each($1))",
        )
        .bind(&room_ids)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
        let mut members: HashMap<i64, Vec<i64>> = HashMap::new();
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT chat_room_id, user_id FROM chat_room_members \
             WHERE chat_room_id IN (SELECT value FROM json_each($1))",
        )
        .bind(&room_ids)
        .fetch_all(&mut *tx)
        .await?;
        for (room, user) in rows {
            members.entry(room).or_default().push(user);
        }
        let keyed: Vec<(i64, &str)> =
            batch.iter().filter_map(|a| a.client_id.as_deref().map(|c| (a.sender_id, c))).collect();
        let mut existing: HashMap<(i64, String), MessageRow> = HashMap::new();
        if !keyed.is_empty() {
            let sql = format!(
                "{MESSAGE_SELECT} WHERE (m.sender_id, m.client_id) IN \
                 (SELECT value ->> 0, value ->> 1 FROM json_each($1))"
            );
            let rows = sqlx::query_as::<Sqlite, MessageRow>(AssertSqlSafe(sql))
                .bind(json_rows(&keyed))
                .fetch_all(&mut *tx)
                .await?;
            for row in rows {
                if let (Some(sender), Some(client_id)) = (row.sender_id, row.client_id.clone()) {
                    existing.insert((sender, client_id), row);
                }
            }
        }
        let (mut outcomes, planned, last_seqs) = plan(batch, &rooms, &members, &existing);
        if planned.is_empty() {
            tx.commit().await.map_err(super::StoreError::at_commit)?;
            return Ok(AppendBatch { outcomes, created_at, members });
        }
        let w = Writes::new(batch, &planned, &last_seqs);
        sqlx::query(
            "UPDATE chat_rooms SET last_seq = v.seq, last_message_at = $2, updated_at = $2 \
             FROM (SELECT value ->> 0 AS id, value ->> 1 AS seq FROM json_each($1)) AS v WHERE chat_rooms.id = v.id",
        )
        .bind(json_rows(&w.last_seqs))
        .bind(created_at)
        .execute(&mut *tx)
        .await?;
        let ids: HashMap<(i64, i64), i64> = sqlx::query_as::<Sqlite, (i64, i64, i64)>(
            "INSERT INTO messages (chat_room_id, sender_id, content, seq, client_id, created_at) \
             SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, $2 FROM json_each($1) WHERE true \
             RETURNING id, chat_room_id, seq",
        )
        .bind(json_rows(&w.messages))
        .bind(created_at)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(id, room, seq)| ((room, seq), id))
        .collect();
        assign_ids(&mut outcomes, &planned, batch, &ids)?;
        let events: Vec<(i64, i64, i64, i64)> = planned
            .iter()
            .map(|p| {
                let a = &batch[p.index];
                let id = match outcomes[p.index] {
                    Appended::New { id, .. } => id,
                    _ => 0,
                };
                (a.room_id, p.seq, id, a.sender_id)
            })
            .collect();
        sqlx::query(
            "INSERT INTO room_events (room_id, seq, kind, message_id, actor_id, created_at) \
             SELECT value ->> 0, value ->> 1, $2, value ->> 2, value ->> 3, $3 FROM json_each($1) WHERE true",
        )
        .bind(json_rows(&events))
        .bind(EventKind::Message.as_str())
        .bind(created_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE chat_room_members SET last_read_seq = v.seq \
             FROM (SELECT value ->> 0 AS room, value ->> 1 AS usr, value ->> 2 AS seq FROM json_each($1)) AS v \
             WHERE chat_room_id = v.room AND user_id = v.usr AND last_read_seq < v.seq",
        )
        .bind(json_rows(&w.reads))
        .execute(&mut *tx)
        .await?;
        tx.commit().await.map_err(super::StoreError::at_commit)?;
        Ok(AppendBatch { outcomes, created_at, members })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(room_id: i64, sender_id: i64, client_id: Option<&str>) -> Append {
        Append { room_id, sender_id, content: "x".into(), client_id: client_id.map(Into::into), group_only: false }
    }

    #[test]
    fn a_batch_numbers_each_room_on_from_its_last_seq_and_skips_refusals() {
        let rooms: HashMap<i64, LockedRoom> = [(1, 10), (2, 0)]
            .into_iter()
            .map(|(id, last_seq)| (id, LockedRoom { id, room_type: banter_protocol::RoomKind::Group, last_seq }))
            .collect();
        let members: HashMap<i64, Vec<i64>> = [(1, vec![7, 8]), (2, vec![7])].into_iter().collect();
        let batch = [
            append(1, 7, Some("a")),
            append(2, 7, None),
            append(1, 9, None),      // not a member
            append(1, 7, Some("a")), // same client id earlier in the batch
            append(3, 7, None),      // no such room
            append(1, 8, None),
        ];
        let (outcomes, planned, last) = plan(&batch, &rooms, &members, &HashMap::new());
        let seqs: Vec<(usize, i64)> = planned.iter().map(|p| (p.index, p.seq)).collect();
        assert_eq!(seqs, [(0, 11), (1, 1), (5, 12)]);
        assert!(matches!(outcomes[2], Appended::NotMember));
        assert!(matches!(outcomes[3], Appended::SameAs(0)));
        assert!(matches!(outcomes[4], Appended::NoRoom));
        assert_eq!(last, BTreeMap::from([(1, 12), (2, 1)]));
    }
}
