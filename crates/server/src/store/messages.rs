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
use sqlx::{Postgres, Sqlite};

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

/// `($1, $2), ($3, $4), …`: `rows` tuples of `width` placeholders, numbered from `first`.
fn tuples(rows: usize, width: usize, first: usize) -> String {
    (0..rows)
        .map(|r| {
            let cols: Vec<String> = (0..width).map(|c| format!("${}", first + r * width + c)).collect();
            format!("({})", cols.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `$first, …` for an `IN (…)` list.
fn list(n: usize, first: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// A room as a batch found it under its lock.
#[derive(sqlx::FromRow)]
struct LockedRoom {
    id: i64,
    room_type: String,
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
        if a.group_only && room.room_type != "group" {
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
    ($store:ty, $db:ty, $lock_rows:literal) => {
        #[async_trait]
        impl MessageStore for $store {
            async fn append_messages(&self, batch: &[Append]) -> StoreResult<AppendBatch> {
                let created_at = super::now();
                let mut room_ids: Vec<i64> = batch.iter().map(|a| a.room_id).collect();
                room_ids.sort_unstable();
                room_ids.dedup();
                let mut tx = self.writer().begin().await?;

                // 1. The rooms, locked in id order.
                let sql = format!(
                    "SELECT id, room_type, last_seq FROM chat_rooms WHERE id IN ({}) ORDER BY id{}",
                    list(room_ids.len(), 1),
                    $lock_rows
                );
                let mut q = sqlx::query_as::<$db, LockedRoom>(&sql);
                for id in &room_ids {
                    q = q.bind(id);
                }
                let rooms: HashMap<i64, LockedRoom> =
                    q.fetch_all(&mut *tx).await?.into_iter().map(|r| (r.id, r)).collect();

                // 2. Their members, under the rooms' locks.
                let mut members: HashMap<i64, Vec<i64>> = HashMap::new();
                if !rooms.is_empty() {
                    let ids: Vec<i64> = rooms.keys().copied().collect();
                    let sql = format!(
                        "SELECT chat_room_id, user_id FROM chat_room_members WHERE chat_room_id IN ({})",
                        list(ids.len(), 1)
                    );
                    let mut q = sqlx::query_as::<$db, (i64, i64)>(&sql);
                    for id in &ids {
                        q = q.bind(id);
                    }
                    for (room, user) in q.fetch_all(&mut *tx).await? {
                        members.entry(room).or_default().push(user);
                    }
                }

                // 3. Client ids the senders used before.
                let keyed: Vec<(i64, &str)> =
                    batch.iter().filter_map(|a| a.client_id.as_deref().map(|c| (a.sender_id, c))).collect();
                let mut existing: HashMap<(i64, String), MessageRow> = HashMap::new();
                if !keyed.is_empty() {
                    let sql = format!(
                        "{MESSAGE_SELECT} WHERE (m.sender_id, m.client_id) IN (VALUES {})",
                        tuples(keyed.len(), 2, 1)
                    );
                    let mut q = sqlx::query_as::<$db, MessageRow>(&sql);
                    for (sender, client_id) in &keyed {
                        q = q.bind(sender).bind(*client_id);
                    }
                    for row in q.fetch_all(&mut *tx).await? {
                        if let (Some(sender), Some(client_id)) = (row.sender_id, row.client_id.clone()) {
                            existing.insert((sender, client_id), row);
                        }
                    }
                }

                let (mut outcomes, planned, last_seqs) = plan(batch, &rooms, &members, &existing);
                if planned.is_empty() {
                    tx.commit().await?;
                    return Ok(AppendBatch { outcomes, created_at, members });
                }

                // 4. Advance each room's sequence.
                let cases: String = (0..last_seqs.len())
                    .map(|i| format!("WHEN ${} THEN ${}", 2 * i + 2, 2 * i + 3))
                    .collect::<Vec<_>>()
                    .join(" ");
                let sql = format!(
                    "UPDATE chat_rooms SET last_seq = CASE id {cases} END, last_message_at = $1, updated_at = $1 \
                     WHERE id IN ({})",
                    (0..last_seqs.len()).map(|i| format!("${}", 2 * i + 2)).collect::<Vec<_>>().join(", ")
                );
                let mut q = sqlx::query::<$db>(&sql).bind(created_at);
                for (room, seq) in &last_seqs {
                    q = q.bind(room).bind(seq);
                }
                q.execute(&mut *tx).await?;

                // 5. The messages, in one statement.
                let sql = format!(
                    "INSERT INTO messages (chat_room_id, sender_id, content, seq, client_id, created_at) \
                     VALUES {} RETURNING id, chat_room_id, seq",
                    tuples(planned.len(), 6, 1)
                );
                let mut q = sqlx::query_as::<$db, (i64, i64, i64)>(&sql);
                for p in &planned {
                    let a = &batch[p.index];
                    q = q.bind(a.room_id).bind(a.sender_id).bind(&a.content).bind(p.seq).bind(&a.client_id).bind(created_at);
                }
                let ids: HashMap<(i64, i64), i64> =
                    q.fetch_all(&mut *tx).await?.into_iter().map(|(id, room, seq)| ((room, seq), id)).collect();
                for p in &planned {
                    let room = batch[p.index].room_id;
                    let id = ids.get(&(room, p.seq)).copied().ok_or_else(|| {
                        super::StoreError::Other(sqlx::Error::Protocol("inserted message not returned".into()))
                    })?;
                    outcomes[p.index] = Appended::New { id, seq: p.seq };
                }

                // 6. The room event log.
                let sql = format!(
                    "INSERT INTO room_events (room_id, seq, kind, message_id, actor_id, created_at) VALUES {}",
                    tuples(planned.len(), 6, 1)
                );
                let mut q = sqlx::query::<$db>(&sql);
                for p in &planned {
                    let a = &batch[p.index];
                    let id = match outcomes[p.index] {
                        Appended::New { id, .. } => id,
                        _ => 0,
                    };
                    q = q.bind(a.room_id).bind(p.seq).bind(EventKind::Message.as_str()).bind(id).bind(a.sender_id).bind(created_at);
                }
                q.execute(&mut *tx).await?;

                // 7. Each sender has read up to their own newest message.
                let mut read: BTreeMap<(i64, i64), i64> = BTreeMap::new();
                for p in &planned {
                    let a = &batch[p.index];
                    let at = read.entry((a.room_id, a.sender_id)).or_insert(p.seq);
                    *at = (*at).max(p.seq);
                }
                let sql = format!(
                    "UPDATE chat_room_members SET last_read_seq = v.column3 FROM (VALUES {}) AS v \
                     WHERE chat_room_id = v.column1 AND user_id = v.column2 AND last_read_seq < v.column3",
                    tuples(read.len(), 3, 1)
                );
                let mut q = sqlx::query::<$db>(&sql);
                for ((room, user), seq) in &read {
                    q = q.bind(room).bind(user).bind(seq);
                }
                q.execute(&mut *tx).await?;

                tx.commit().await?;
                Ok(AppendBatch { outcomes, created_at, members })
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
                    sqlx::query_as::<$db, MessageRow>(&sql).bind(room_id).bind(a).bind(b).fetch_all(self.reader()).await?;
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
                let rows = sqlx::query_as::<$db, Row>(&sql)
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

sql_message_store!(SqliteStore, Sqlite, "");
sql_message_store!(PgStore, Postgres, " FOR UPDATE");

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
            .map(|(id, last_seq)| (id, LockedRoom { id, room_type: "group".into(), last_seq }))
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
