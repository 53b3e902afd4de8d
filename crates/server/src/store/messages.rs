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

use super::{
    files::{AttachmentRow, ATTACHMENTS_MAX, ATTACHMENT_COLUMNS},
    PgStore, SqliteStore, StoreResult, Timestamp,
};

/// A message with its sender's current name (`None` once the sender deleted their account),
/// its reactions and the message it answers, as they are now.
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
    pub edited_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
    #[sqlx(flatten)]
    pub reply: ReplyRow,
    /// Each emoji with who used it, in the order of first use.
    #[sqlx(skip)]
    pub reactions: Vec<(String, Vec<i64>)>,
    /// The members it mentions.
    #[sqlx(skip)]
    pub mentions: Vec<i64>,
    /// The files sent with it, in order.
    #[sqlx(skip)]
    pub attachments: Vec<AttachmentRow>,
}

/// The message a reply answers: all `None` when it answers nothing.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct ReplyRow {
    pub reply_to_id: Option<i64>,
    pub reply_room_id: Option<i64>,
    pub reply_sender_id: Option<i64>,
    pub reply_sender_username: Option<String>,
    /// Its first 200 characters.
    pub reply_content: Option<String>,
    pub reply_deleted_at: Option<Timestamp>,
}

/// Different emoji one message may carry.
pub const REACTION_KINDS_MAX: i64 = 50;

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

/// What kind of change a room event records: a new message, or a change to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Message,
    Edit,
    Delete,
    React,
    Unreact,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::Edit => "edit",
            Self::Delete => "delete",
            Self::React => "react",
            Self::Unreact => "unreact",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Message, Self::Edit, Self::Delete, Self::React, Self::Unreact].into_iter().find(|k| k.as_str() == s)
    }
}

/// A change to a message, by `actor_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRequest {
    pub message_id: i64,
    pub actor_id: i64,
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// New content (already validated), its search text, and the users it mentions (kept if
    /// they are members).
    Edit {
        content: String,
        search_text: String,
        mentions: Vec<i64>,
    },
    Delete,
    /// Add the actor's reaction with this emoji (already validated).
    React(String),
    /// Take it back.
    Unreact(String),
}

impl Change {
    fn kind(&self) -> EventKind {
        match self {
            Self::Edit { .. } => EventKind::Edit,
            Self::Delete => EventKind::Delete,
            Self::React(_) => EventKind::React,
            Self::Unreact(_) => EventKind::Unreact,
        }
    }
}

/// Why a change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Only the sender may edit.
    NotSender,
    /// Only the sender, or in a group its creator, may delete.
    NotSenderOrCreator,
    /// The message was deleted: nothing more can change.
    Deleted,
    /// The message already carries [`REACTION_KINDS_MAX`] different emoji.
    TooManyReactions,
}

/// What a [`ChangeRequest`] did.
#[derive(Debug, Clone)]
pub enum ChangeOutcome {
    /// Recorded as the room event `seq`; the message as it now is, whether each member has read
    /// it, and the room's members then.
    Changed {
        seq: i64,
        message: MessageRow,
        is_read: bool,
        members: Vec<i64>,
    },
    /// Nothing to do (deleting twice, the same reaction again): the message as it is.
    Unchanged {
        message: MessageRow,
        is_read: bool,
    },
    /// No such message, or the actor is not a member of its room.
    NotFound,
    Refused(Refusal),
}

/// What a change needs to know, read under the room's lock.
#[derive(Debug, Clone)]
struct ChangeFacts {
    room_id: i64,
    group: bool,
    created_by: Option<i64>,
    member: bool,
    sender_id: Option<i64>,
    deleted: bool,
    content: String,
    /// The actor already reacted with the change's emoji.
    reacted: bool,
    /// Someone already reacted with the change's emoji.
    emoji_used: bool,
    /// Different emoji on the message.
    kinds: i64,
}

/// What to do about a change: the rules for who may change what, in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    NotFound,
    Refuse(Refusal),
    Nothing,
    Apply,
}

fn decide(f: &ChangeFacts, actor: i64, change: &Change) -> Decision {
    if !f.member {
        return Decision::NotFound;
    }
    let own = f.sender_id == Some(actor);
    match change {
        Change::Edit { .. } if !own => Decision::Refuse(Refusal::NotSender),
        Change::Edit { .. } if f.deleted => Decision::Refuse(Refusal::Deleted),
        Change::Edit { content, .. } if *content == f.content => Decision::Nothing,
        Change::Delete if !(own || (f.group && f.created_by == Some(actor))) => {
            Decision::Refuse(Refusal::NotSenderOrCreator)
        }
        Change::Delete if f.deleted => Decision::Nothing,
        Change::React(_) if f.deleted => Decision::Refuse(Refusal::Deleted),
        Change::React(_) if f.reacted => Decision::Nothing,
        Change::React(_) if !f.emoji_used && f.kinds >= REACTION_KINDS_MAX => {
            Decision::Refuse(Refusal::TooManyReactions)
        }
        Change::Unreact(_) if !f.reacted => Decision::Nothing,
        _ => Decision::Apply,
    }
}

/// Answers "has every member but its sender read message `seq`" in O(1) per message, from the
/// lowest read position and the lowest among everyone but its holder.
#[derive(Debug, Clone, Copy)]
pub struct ReadFlags {
    lowest: Option<(i64, i64)>,
    second: Option<i64>,
}

impl ReadFlags {
    /// `reads`: each member's (user, last read seq).
    pub fn new(reads: &[(i64, i64)]) -> Self {
        let mut sorted = reads.to_vec();
        sorted.sort_by_key(|(_, seq)| *seq);
        Self { lowest: sorted.first().copied(), second: sorted.get(1).map(|(_, seq)| *seq) }
    }

    pub fn is_read(&self, sender: Option<i64>, seq: i64) -> bool {
        let others_min = match self.lowest {
            Some((holder, _)) if Some(holder) == sender => self.second,
            Some((_, read)) => Some(read),
            None => None,
        };
        others_min.is_some_and(|min| min >= seq)
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
    /// The message it answers: must be in the same room.
    pub reply_to_id: Option<i64>,
    /// Its search text ([`crate::chat`] folds it).
    pub search_text: String,
    /// The users it mentions: stored for those who are members when it is written.
    pub mentions: Vec<i64>,
    /// Refuse the room unless it is a group (the seed's `/groups/send`).
    pub group_only: bool,
    /// Uploads to send with it: the sender's own, not yet sent, at most [`ATTACHMENTS_MAX`].
    pub attachment_ids: Vec<i64>,
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
    Existing(Box<MessageRow>),
    /// The sender used this `client_id` earlier in the same batch (the entry at this index).
    SameAs(usize),
    NoRoom,
    NotGroup,
    NotMember,
    /// `reply_to_id` names no message of the same room.
    BadReply,
    /// `attachment_ids` names something other than the sender's own unsent uploads (or too many).
    BadAttachments,
    /// A DM whose other member is gone (their account was deleted).
    NoRecipient,
}

/// A batch's outcome: one [`Appended`] per input, in order, the time stamped on every new
/// message, and each touched room's members at commit (who must receive its messages).
#[derive(Debug, Clone)]
pub struct AppendBatch {
    pub outcomes: Vec<Appended>,
    pub created_at: Timestamp,
    pub members: HashMap<i64, Vec<i64>>,
    /// The messages the new ones answer, by id.
    pub replies: HashMap<i64, ReplyRow>,
    /// The uploads the batch named, by id, as they were before it (`message_id` unset).
    pub uploads: HashMap<i64, AttachmentRow>,
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
    /// These messages, in no particular order (those that exist).
    async fn messages_by_ids(&self, ids: &[i64]) -> StoreResult<Vec<MessageRow>>;
    /// The room's events after `seq`, oldest first, at most `limit`.
    async fn events_after(&self, room_id: i64, seq: i64, limit: i64) -> StoreResult<Vec<RoomEvent>>;
    /// The room's newest `limit` events before `seq` logged at or after `since`, oldest first.
    async fn recent_events(&self, room_id: i64, seq: i64, since: Timestamp, limit: i64) -> StoreResult<Vec<RoomEvent>>;
    /// Moves the read position forward to `up_to` (never back). `true` if it moved.
    async fn mark_read(&self, room_id: i64, user_id: i64, up_to: i64) -> StoreResult<bool>;
    /// The member's read position and the messages after it that are not deleted (`None` if
    /// not a member).
    async fn unread(&self, room_id: i64, user_id: i64) -> StoreResult<Option<(i64, i64)>>;
    /// Messages of rooms `user_id` is a member of (only `room_id`, if given) whose search text
    /// has every one of `words` (folded) as a word or the start of one, not deleted, with an id
    /// below `before`; newest first, at most `limit`.
    async fn search(
        &self,
        user_id: i64,
        words: &[String],
        room_id: Option<i64>,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<MessageRow>>;
    /// Messages stored before search existed (no search text yet, not deleted) with an id above
    /// `after`: (id, content), oldest first, at most `limit`.
    async fn unindexed(&self, after: i64, limit: i64) -> StoreResult<Vec<(i64, String)>>;
    /// Stores their search text (unless an edit or a deletion got there first).
    async fn index(&self, rows: &[(i64, String)]) -> StoreResult<()>;
    /// Applies a change in one transaction, under the room's lock: checks it against the rules
    /// ([`decide`]), updates the message, and logs it as a room event with the room's next seq.
    async fn change_message(&self, request: &ChangeRequest) -> StoreResult<ChangeOutcome>;
}

/// Messages with their sender and the message they answer ([`MessageRow`] without reactions).
pub(super) const MESSAGE_SELECT: &str = "SELECT m.id, m.chat_room_id AS room_id, m.seq, m.sender_id, \
     u.username AS sender_username, u.full_name AS sender_full_name, m.content, m.client_id, m.created_at, \
     m.edited_at, m.deleted_at, m.reply_to_id, rm.chat_room_id AS reply_room_id, rm.sender_id AS reply_sender_id, \
     ru.username AS reply_sender_username, substr(rm.content, 1, 200) AS reply_content, \
     rm.deleted_at AS reply_deleted_at \
     FROM messages m LEFT JOIN users u ON u.id = m.sender_id \
     LEFT JOIN messages rm ON rm.id = m.reply_to_id LEFT JOIN users ru ON ru.id = rm.sender_id";

/// The messages replies answer, as [`ReplyRow`]s, by id (`{ids}` is an `IN` list).
const REPLY_SELECT: &str = "SELECT rm.id AS reply_to_id, rm.chat_room_id AS reply_room_id, \
     rm.sender_id AS reply_sender_id, ru.username AS reply_sender_username, \
     substr(rm.content, 1, 200) AS reply_content, rm.deleted_at AS reply_deleted_at \
     FROM messages rm LEFT JOIN users ru ON ru.id = rm.sender_id WHERE rm.id IN";

/// Groups reaction rows (message, emoji, user; in the order they were made) onto their messages.
fn attach_reactions(rows: &mut [MessageRow], reactions: Vec<(i64, String, i64)>) {
    let mut by_message: HashMap<i64, Vec<(String, Vec<i64>)>> = HashMap::new();
    for (message_id, emoji, user_id) in reactions {
        let list = by_message.entry(message_id).or_default();
        match list.iter_mut().find(|(e, _)| *e == emoji) {
            Some((_, users)) => users.push(user_id),
            None => list.push((emoji, vec![user_id])),
        }
    }
    for row in rows {
        row.reactions = by_message.remove(&row.id).unwrap_or_default();
    }
}

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
    replies: &HashMap<i64, ReplyRow>,
    uploads: &HashMap<i64, AttachmentRow>,
) -> (Vec<Appended>, Vec<Planned>, BTreeMap<i64, i64>) {
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut planned = Vec::new();
    let mut next: BTreeMap<i64, i64> = BTreeMap::new();
    let mut seen: HashMap<(i64, &str), usize> = HashMap::new();
    // Uploads already claimed by an earlier message of the batch.
    let mut claimed: std::collections::HashSet<i64> = std::collections::HashSet::new();
    for (index, a) in batch.iter().enumerate() {
        let Some(room) = rooms.get(&a.room_id) else {
            outcomes.push(Appended::NoRoom);
            continue;
        };
        if a.group_only && room.room_type != banter_protocol::RoomKind::Group {
            outcomes.push(Appended::NotGroup);
            continue;
        }
        let room_members = members.get(&a.room_id);
        if !room_members.is_some_and(|m| m.contains(&a.sender_id)) {
            outcomes.push(Appended::NotMember);
            continue;
        }
        if let Some(client_id) = a.client_id.as_deref() {
            if let Some(row) = existing.get(&(a.sender_id, client_id.to_owned())) {
                outcomes.push(Appended::Existing(Box::new(row.clone())));
                continue;
            }
            if let Some(&first) = seen.get(&(a.sender_id, client_id)) {
                outcomes.push(Appended::SameAs(first));
                continue;
            }
        }
        // A DM whose other member deleted their account: nobody would ever read it (checked
        // after the client_id, so a retry of a message sent before still gets its original).
        if room.room_type == banter_protocol::RoomKind::Direct && room_members.is_some_and(|m| m.len() < 2) {
            outcomes.push(Appended::NoRecipient);
            continue;
        }
        if let Some(reply_to) = a.reply_to_id {
            if replies.get(&reply_to).is_none_or(|r| r.reply_room_id != Some(a.room_id)) {
                outcomes.push(Appended::BadReply);
                continue;
            }
        }
        if !a.attachment_ids.is_empty() {
            let mut ids = a.attachment_ids.clone();
            ids.sort_unstable();
            ids.dedup();
            let usable = ids.len() == a.attachment_ids.len()
                && ids.len() <= ATTACHMENTS_MAX
                && ids.iter().all(|id| {
                    !claimed.contains(id)
                        && uploads.get(id).is_some_and(|u| u.uploader_id == Some(a.sender_id) && u.message_id.is_none())
                });
            if !usable {
                outcomes.push(Appended::BadAttachments);
                continue;
            }
            claimed.extend(ids);
        }
        if let Some(client_id) = a.client_id.as_deref() {
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
        impl $store {
            /// Log entries (seq, kind, message id) with their messages as they are now.
            async fn events_with_messages(
                conn: &mut <$db as sqlx::Database>::Connection,
                events: Vec<(i64, String, Option<i64>)>,
            ) -> StoreResult<Vec<RoomEvent>> {
                let mut ids: Vec<i64> = events.iter().filter_map(|(_, _, m)| *m).collect();
                ids.sort_unstable();
                ids.dedup();
                let messages: HashMap<i64, MessageRow> =
                    Self::messages_by_id(conn, &ids).await?.into_iter().map(|m| (m.id, m)).collect();
                Ok(events
                    .into_iter()
                    // A kind this version does not know (written by a newer one) is left out.
                    .filter_map(|(seq, kind, message_id)| {
                        let kind = EventKind::parse(&kind)?;
                        Some(RoomEvent { seq, kind, message: message_id.and_then(|id| messages.get(&id).cloned()) })
                    })
                    .collect())
            }

            /// Fills in the reactions and mentions of `rows`, on the connection (or transaction)
            /// given.
            async fn with_extras(conn: &mut <$db as sqlx::Database>::Connection, rows: &mut [MessageRow]) -> StoreResult<()> {
                if rows.is_empty() {
                    return Ok(());
                }
                let list = super::rooms::placeholders(1, rows.len());
                let sql = format!("SELECT message_id, emoji, user_id FROM message_reactions WHERE message_id IN ({list}) ORDER BY id");
                let mut q = sqlx::query_as::<$db, (i64, String, i64)>(AssertSqlSafe(sql));
                for row in rows.iter() {
                    q = q.bind(row.id);
                }
                let reactions = q.fetch_all(&mut *conn).await?;
                attach_reactions(rows, reactions);
                let sql = format!("SELECT message_id, user_id FROM message_mentions WHERE message_id IN ({list}) ORDER BY user_id");
                let mut q = sqlx::query_as::<$db, (i64, i64)>(AssertSqlSafe(sql));
                for row in rows.iter() {
                    q = q.bind(row.id);
                }
                let mut mentions: HashMap<i64, Vec<i64>> = HashMap::new();
                for (message, user) in q.fetch_all(&mut *conn).await? {
                    mentions.entry(message).or_default().push(user);
                }
                for row in rows.iter_mut() {
                    row.mentions = mentions.remove(&row.id).unwrap_or_default();
                }
                let sql = format!(
                    "SELECT {ATTACHMENT_COLUMNS} FROM attachments a WHERE a.message_id IN ({list}) ORDER BY a.position"
                );
                let mut q = sqlx::query_as::<$db, AttachmentRow>(AssertSqlSafe(sql));
                for row in rows.iter() {
                    q = q.bind(row.id);
                }
                let mut files: HashMap<i64, Vec<AttachmentRow>> = HashMap::new();
                for file in q.fetch_all(&mut *conn).await? {
                    if let Some(message) = file.message_id {
                        files.entry(message).or_default().push(file);
                    }
                }
                for row in rows.iter_mut() {
                    row.attachments = files.remove(&row.id).unwrap_or_default();
                }
                Ok(())
            }

            /// The uploads a batch names, by id; on PostgreSQL locked until the batch commits, so
            /// two batches (on two nodes) cannot both send one.
            async fn uploads_for(conn: &mut <$db as sqlx::Database>::Connection, batch: &[Append]) -> StoreResult<HashMap<i64, AttachmentRow>> {
                let mut ids: Vec<i64> = batch.iter().flat_map(|a| a.attachment_ids.iter().copied()).collect();
                ids.sort_unstable();
                ids.dedup();
                if ids.is_empty() {
                    return Ok(HashMap::new());
                }
                let lock = if <$db as sqlx::Database>::NAME == "SQLite" { "" } else { " FOR UPDATE" };
                let sql = format!(
                    "SELECT {ATTACHMENT_COLUMNS} FROM attachments a WHERE a.id IN ({}) ORDER BY a.id{lock}",
                    super::rooms::placeholders(1, ids.len())
                );
                let mut q = sqlx::query_as::<$db, AttachmentRow>(AssertSqlSafe(sql));
                for id in &ids {
                    q = q.bind(*id);
                }
                Ok(q.fetch_all(&mut *conn).await?.into_iter().map(|a| (a.id, a)).collect())
            }

            /// These messages (any order), with their reactions.
            async fn messages_by_id(conn: &mut <$db as sqlx::Database>::Connection, ids: &[i64]) -> StoreResult<Vec<MessageRow>> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let sql = format!("{MESSAGE_SELECT} WHERE m.id IN ({})", super::rooms::placeholders(1, ids.len()));
                let mut q = sqlx::query_as::<$db, MessageRow>(AssertSqlSafe(sql));
                for id in ids {
                    q = q.bind(*id);
                }
                let mut rows = q.fetch_all(&mut *conn).await?;
                Self::with_extras(conn, &mut rows).await?;
                Ok(rows)
            }

            /// The messages replies in a batch answer, by id.
            async fn replies_to(conn: &mut <$db as sqlx::Database>::Connection, batch: &[Append]) -> StoreResult<HashMap<i64, ReplyRow>> {
                let mut ids: Vec<i64> = batch.iter().filter_map(|a| a.reply_to_id).collect();
                ids.sort_unstable();
                ids.dedup();
                if ids.is_empty() {
                    return Ok(HashMap::new());
                }
                let sql = format!("{REPLY_SELECT} ({})", super::rooms::placeholders(1, ids.len()));
                let mut q = sqlx::query_as::<$db, ReplyRow>(AssertSqlSafe(sql));
                for id in &ids {
                    q = q.bind(*id);
                }
                Ok(q.fetch_all(&mut *conn).await?.into_iter().filter_map(|r| r.reply_to_id.map(|id| (id, r))).collect())
            }

            /// Reads what a change needs under the room's lock, applies it if the rules allow,
            /// and logs it. Runs inside the caller's transaction, which has locked the room.
            async fn change_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                room: (i64, String, Option<i64>),
                request: &ChangeRequest,
            ) -> StoreResult<ChangeOutcome> {
                let (room_id, room_type, created_by) = room;
                let actor = request.actor_id;
                let reads: Vec<(i64, i64)> =
                    sqlx::query_as("SELECT user_id, last_read_seq FROM chat_room_members WHERE chat_room_id = $1")
                        .bind(room_id)
                        .fetch_all(&mut *conn)
                        .await?;
                let Some(message) = Self::messages_by_id(conn, &[request.message_id]).await?.pop() else {
                    return Ok(ChangeOutcome::NotFound);
                };
                let emoji = match &request.change {
                    Change::React(e) | Change::Unreact(e) => Some(e.as_str()),
                    _ => None,
                };
                let users_of = |e: &str| message.reactions.iter().find(|(x, _)| x == e).map(|(_, u)| u.clone());
                let facts = ChangeFacts {
                    room_id,
                    group: room_type == "group",
                    created_by,
                    member: reads.iter().any(|(u, _)| *u == actor),
                    sender_id: message.sender_id,
                    deleted: message.deleted_at.is_some(),
                    content: message.content.clone(),
                    reacted: emoji.and_then(users_of).is_some_and(|u| u.contains(&actor)),
                    emoji_used: emoji.and_then(users_of).is_some(),
                    kinds: message.reactions.len() as i64,
                };
                let flags = ReadFlags::new(&reads);
                let is_read = |m: &MessageRow| flags.is_read(m.sender_id, m.seq);
                match decide(&facts, actor, &request.change) {
                    Decision::NotFound => return Ok(ChangeOutcome::NotFound),
                    Decision::Refuse(why) => return Ok(ChangeOutcome::Refused(why)),
                    Decision::Nothing => {
                        let is_read = is_read(&message);
                        return Ok(ChangeOutcome::Unchanged { message, is_read });
                    }
                    Decision::Apply => {}
                }
                let now = super::now();
                let id = request.message_id;
                match &request.change {
                    Change::Edit { content, search_text, mentions } => {
                        sqlx::query("UPDATE messages SET content = $1, edited_at = $2, search_text = $3 WHERE id = $4")
                            .bind(content)
                            .bind(now)
                            .bind(search_text)
                            .bind(id)
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("DELETE FROM message_mentions WHERE message_id = $1").bind(id).execute(&mut *conn).await?;
                        for user in mentions.iter().filter(|u| reads.iter().any(|(m, _)| m == *u)) {
                            sqlx::query("INSERT INTO message_mentions (message_id, user_id) VALUES ($1, $2)")
                                .bind(id)
                                .bind(*user)
                                .execute(&mut *conn)
                                .await?;
                        }
                    }
                    Change::Delete => {
                        // The text is gone from the database (and the search index), not only hidden.
                        sqlx::query(
                            "UPDATE messages SET content = '', search_text = NULL, deleted_at = $1, reply_to_id = NULL \
                             WHERE id = $2",
                        )
                        .bind(now)
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                        sqlx::query("DELETE FROM message_reactions WHERE message_id = $1").bind(id).execute(&mut *conn).await?;
                        sqlx::query("DELETE FROM message_mentions WHERE message_id = $1").bind(id).execute(&mut *conn).await?;
                        // Its files go with it (their bytes once nothing else refers to them).
                        sqlx::query("DELETE FROM attachments WHERE message_id = $1").bind(id).execute(&mut *conn).await?;
                    }
                    Change::React(emoji) => {
                        sqlx::query("INSERT INTO message_reactions (message_id, user_id, emoji, created_at) VALUES ($1, $2, $3, $4)")
                            .bind(id)
                            .bind(actor)
                            .bind(emoji)
                            .bind(now)
                            .execute(&mut *conn)
                            .await?;
                    }
                    Change::Unreact(emoji) => {
                        sqlx::query("DELETE FROM message_reactions WHERE message_id = $1 AND user_id = $2 AND emoji = $3")
                            .bind(id)
                            .bind(actor)
                            .bind(emoji)
                            .execute(&mut *conn)
                            .await?;
                    }
                }
                let (seq,): (i64,) =
                    sqlx::query_as("UPDATE chat_rooms SET last_seq = last_seq + 1, updated_at = $2 WHERE id = $1 RETURNING last_seq")
                        .bind(facts.room_id)
                        .bind(now)
                        .fetch_one(&mut *conn)
                        .await?;
                sqlx::query(
                    "INSERT INTO room_events (room_id, seq, kind, message_id, actor_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(facts.room_id)
                .bind(seq)
                .bind(request.change.kind().as_str())
                .bind(id)
                .bind(actor)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                let message = Self::messages_by_id(conn, &[id])
                    .await?
                    .pop()
                    .ok_or_else(|| super::StoreError::Other(sqlx::Error::RowNotFound))?;
                let is_read = is_read(&message);
                Ok(ChangeOutcome::Changed { seq, message, is_read, members: reads.into_iter().map(|(u, _)| u).collect() })
            }
        }

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
                let mut conn = self.reader().acquire().await?;
                let mut rows =
                    sqlx::query_as::<$db, MessageRow>(AssertSqlSafe(sql)).bind(room_id).bind(a).bind(b).fetch_all(&mut *conn).await?;
                if newest_first {
                    rows.reverse();
                }
                Self::with_extras(&mut conn, &mut rows).await?;
                Ok(rows)
            }

            async fn messages_by_ids(&self, ids: &[i64]) -> StoreResult<Vec<MessageRow>> {
                let mut conn = self.reader().acquire().await?;
                Self::messages_by_id(&mut conn, ids).await
            }

            async fn events_after(&self, room_id: i64, seq: i64, limit: i64) -> StoreResult<Vec<RoomEvent>> {
                let mut conn = self.reader().acquire().await?;
                let events: Vec<(i64, String, Option<i64>)> = sqlx::query_as(
                    "SELECT seq, kind, message_id FROM room_events WHERE room_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                )
                .bind(room_id)
                .bind(seq)
                .bind(limit)
                .fetch_all(&mut *conn)
                .await?;
                Self::events_with_messages(&mut conn, events).await
            }

            async fn recent_events(&self, room_id: i64, seq: i64, since: Timestamp, limit: i64) -> StoreResult<Vec<RoomEvent>> {
                let mut conn = self.reader().acquire().await?;
                let mut events: Vec<(i64, String, Option<i64>)> = sqlx::query_as(
                    "SELECT seq, kind, message_id FROM room_events \
                     WHERE room_id = $1 AND seq < $2 AND created_at >= $3 ORDER BY seq DESC LIMIT $4",
                )
                .bind(room_id)
                .bind(seq)
                .bind(since)
                .bind(limit)
                .fetch_all(&mut *conn)
                .await?;
                events.reverse();
                Self::events_with_messages(&mut conn, events).await
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

            async fn unread(&self, room_id: i64, user_id: i64) -> StoreResult<Option<(i64, i64)>> {
                Ok(sqlx::query_as(
                    "SELECT me.last_read_seq, (SELECT COUNT(*) FROM messages m WHERE m.chat_room_id = me.chat_room_id \
                     AND m.seq > me.last_read_seq AND m.deleted_at IS NULL) \
                     FROM chat_room_members me WHERE me.chat_room_id = $1 AND me.user_id = $2",
                )
                .bind(room_id)
                .bind(user_id)
                .fetch_optional(self.reader())
                .await?)
            }

            async fn change_message(&self, request: &ChangeRequest) -> StoreResult<ChangeOutcome> {
                self.change(request).await
            }

            async fn search(
                &self,
                user_id: i64,
                words: &[String],
                room_id: Option<i64>,
                before: Option<i64>,
                limit: i64,
            ) -> StoreResult<Vec<MessageRow>> {
                if words.is_empty() {
                    return Ok(Vec::new());
                }
                // Each backend's full-text index. The words are letters and digits only (no quotes),
                // quoted so that none can be read as query syntax; a word of two characters or
                // more also matches as the start of a longer one.
                let sqlite = <$db as sqlx::Database>::NAME == "SQLite";
                let term = |w: &String| match (sqlite, w.chars().count() > 1) {
                    (true, true) => format!("\"{w}\"*"),
                    (true, false) => format!("\"{w}\""),
                    (false, true) => format!("'{w}':*"),
                    (false, false) => format!("'{w}'"),
                };
                let query = words.iter().map(term).collect::<Vec<_>>().join(if sqlite { " " } else { " & " });
                let sql = if sqlite {
                    format!(
                        "{MESSAGE_SELECT} JOIN chat_room_members me ON me.chat_room_id = m.chat_room_id AND me.user_id = $1 \
                         WHERE m.id IN (SELECT rowid FROM message_search WHERE message_search MATCH $2 AND rowid < $4) \
                         AND m.deleted_at IS NULL AND ($3 < 0 OR m.chat_room_id = $3) ORDER BY m.id DESC LIMIT $5"
                    )
                } else {
                    // The index answers first, once (a materialised CTE: no plan may rescan it per
                    // room or walk the table), then membership, order and the page.
                    format!(
                        "WITH hits AS MATERIALIZED (SELECT id, chat_room_id FROM messages \
                         WHERE search_tsv @@ to_tsquery('simple', $2) AND id < $4) \
                         {MESSAGE_SELECT} JOIN chat_room_members me ON me.chat_room_id = m.chat_room_id AND me.user_id = $1 \
                         WHERE m.id IN (SELECT h.id FROM hits h WHERE $3 < 0 OR h.chat_room_id = $3) \
                         AND m.deleted_at IS NULL ORDER BY m.id DESC LIMIT $5"
                    )
                };
                let mut tx = self.reader().begin().await?;
                if !sqlite {
                    // A search is never worth more than a few seconds of the database.
                    sqlx::query("SELECT set_config('statement_timeout', '5s', true)").execute(&mut *tx).await?;
                }
                let mut rows = sqlx::query_as::<$db, MessageRow>(AssertSqlSafe(sql))
                    .bind(user_id)
                    .bind(query)
                    .bind(room_id.unwrap_or(-1))
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                Self::with_extras(&mut tx, &mut rows).await?;
                tx.commit().await?;
                Ok(rows)
            }

            async fn unindexed(&self, after: i64, limit: i64) -> StoreResult<Vec<(i64, String)>> {
                Ok(sqlx::query_as(
                    "SELECT id, content FROM messages WHERE id > $1 AND search_text IS NULL AND deleted_at IS NULL \
                     ORDER BY id LIMIT $2",
                )
                .bind(after)
                .bind(limit)
                .fetch_all(self.reader())
                .await?)
            }

            async fn index(&self, rows: &[(i64, String)]) -> StoreResult<()> {
                let mut tx = self.writer().begin().await?;
                for (id, text) in rows {
                    // Not if an edit or a deletion got there first.
                    sqlx::query("UPDATE messages SET search_text = $1 WHERE id = $2 AND search_text IS NULL AND deleted_at IS NULL")
                        .bind(text)
                        .bind(*id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
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
    /// Per new message, in batch order.
    messages: Vec<NewRow>,
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
                (
                    a.room_id,
                    a.sender_id,
                    a.content.clone(),
                    p.seq,
                    a.client_id.clone(),
                    a.reply_to_id,
                    a.search_text.clone(),
                )
            })
            .collect();
        Self {
            last_seqs: last_seqs.iter().map(|(r, s)| (*r, *s)).collect(),
            messages,
            reads: reads.into_iter().map(|((r, u), s)| (r, u, s)).collect(),
        }
    }
}

/// A new message's row: (room, sender, content, seq, client_id, reply_to_id, search_text); a
/// tuple, so that SQLite reads it as a JSON array.
type NewRow = (i64, i64, String, i64, Option<String>, Option<i64>, String);

/// (message id, user id) of each mention of a member by a new message of the batch.
fn mention_rows(
    outcomes: &[Appended],
    planned: &[Planned],
    batch: &[Append],
    members: &HashMap<i64, Vec<i64>>,
) -> Vec<(i64, i64)> {
    let mut rows = Vec::new();
    for p in planned {
        let a = &batch[p.index];
        let Appended::New { id, .. } = outcomes[p.index] else { continue };
        let room = members.get(&a.room_id);
        for user in &a.mentions {
            if room.is_some_and(|m| m.contains(user)) {
                rows.push((id, *user));
            }
        }
    }
    rows
}

/// (upload id, message id, position) of each upload a new message of the batch sends.
fn attachment_claims(outcomes: &[Appended], planned: &[Planned], batch: &[Append]) -> Vec<(i64, i64, i64)> {
    let mut rows = Vec::new();
    for p in planned {
        let Appended::New { id, .. } = outcomes[p.index] else { continue };
        for (position, file) in batch[p.index].attachment_ids.iter().enumerate() {
            rows.push((*file, id, position as i64));
        }
    }
    rows
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
    reply_to_ids: Vec<Option<i64>>,
    search_texts: Vec<String>,
}

impl MessageColumns {
    fn of(w: &Writes) -> Self {
        let mut c = Self::default();
        for (room, sender, content, seq, client_id, reply_to_id, search_text) in &w.messages {
            c.rooms.push(*room);
            c.senders.push(*sender);
            c.contents.push(content.clone());
            c.seqs.push(*seq);
            c.client_ids.push(client_id.clone());
            c.reply_to_ids.push(*reply_to_id);
            c.search_texts.push(search_text.clone());
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
            let mut rows = sqlx::query_as::<Postgres, MessageRow>(AssertSqlSafe(sql))
                .bind(&senders)
                .bind(&client_ids)
                .fetch_all(&mut *tx)
                .await?;
            Self::with_extras(&mut tx, &mut rows).await?;
            for row in rows {
                if let (Some(sender), Some(client_id)) = (row.sender_id, row.client_id.clone()) {
                    existing.insert((sender, client_id), row);
                }
            }
        }
        let replies = Self::replies_to(&mut tx, batch).await?;
        let uploads = Self::uploads_for(&mut tx, batch).await?;
        let (mut outcomes, planned, last_seqs) = plan(batch, &rooms, &members, &existing, &replies, &uploads);
        if planned.is_empty() {
            tx.commit().await.map_err(super::StoreError::at_commit)?;
            return Ok(AppendBatch { outcomes, created_at, members, replies, uploads });
        }
        let w = Writes::new(batch, &planned, &last_seqs);
        // 4. Each room's sequence.
        let (rooms_col, seqs_col): (Vec<i64>, Vec<i64>) = w.last_seqs.iter().copied().unzip();
        sqlx::query(
            "UPDATE chat_rooms r SET last_seq = v.seq, last_message_seq = v.seq, last_message_at = $3, updated_at = $3 \
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
            "INSERT INTO messages (chat_room_id, sender_id, content, seq, client_id, reply_to_id, search_text, created_at) \
             SELECT r, s, c, q, k, p, x, $6 \
             FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::int8[], $5::text[], $7::int8[], $8::text[]) \
             AS t(r, s, c, q, k, p, x) RETURNING id, chat_room_id, seq",
        )
        .bind(&cols.rooms)
        .bind(&cols.senders)
        .bind(&cols.contents)
        .bind(&cols.seqs)
        .bind(&cols.client_ids)
        .bind(created_at)
        .bind(&cols.reply_to_ids)
        .bind(&cols.search_texts)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(id, room, seq)| ((room, seq), id))
        .collect();
        assign_ids(&mut outcomes, &planned, batch, &ids)?;
        let mentions = mention_rows(&outcomes, &planned, batch, &members);
        if !mentions.is_empty() {
            let (messages, users): (Vec<i64>, Vec<i64>) = mentions.into_iter().unzip();
            sqlx::query(
                "INSERT INTO message_mentions (message_id, user_id) SELECT * FROM UNNEST($1::int8[], $2::int8[])",
            )
            .bind(&messages)
            .bind(&users)
            .execute(&mut *tx)
            .await?;
        }
        let claims = attachment_claims(&outcomes, &planned, batch);
        if !claims.is_empty() {
            let (mut files, mut messages, mut positions) = (Vec::new(), Vec::new(), Vec::new());
            for (file, message, position) in claims {
                files.push(file);
                messages.push(message);
                positions.push(position);
            }
            sqlx::query(
                "UPDATE attachments a SET message_id = v.m, position = v.p \
                 FROM UNNEST($1::int8[], $2::int8[], $3::int8[]) AS v(id, m, p) WHERE a.id = v.id",
            )
            .bind(&files)
            .bind(&messages)
            .bind(&positions)
            .execute(&mut *tx)
            .await?;
        }
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
        Ok(AppendBatch { outcomes, created_at, members, replies, uploads })
    }
}

impl PgStore {
    async fn change(&self, request: &ChangeRequest) -> StoreResult<ChangeOutcome> {
        let mut tx = self.batch_writer().begin().await?;
        sqlx::query("SELECT set_config('lock_timeout', '5s', true), set_config('statement_timeout', '15s', true)")
            .execute(&mut *tx)
            .await?;
        let room: Option<(i64, String, Option<i64>)> = sqlx::query_as(
            "SELECT r.id, r.room_type, r.created_by FROM chat_rooms r \
             WHERE r.id = (SELECT chat_room_id FROM messages WHERE id = $1) FOR UPDATE",
        )
        .bind(request.message_id)
        .fetch_optional(&mut *tx)
        .await?;
        let outcome = match room {
            Some(room) => Self::change_in(&mut tx, room, request).await?,
            None => ChangeOutcome::NotFound,
        };
        tx.commit().await.map_err(super::StoreError::at_commit)?;
        Ok(outcome)
    }
}

impl SqliteStore {
    async fn change(&self, request: &ChangeRequest) -> StoreResult<ChangeOutcome> {
        let mut tx = self.writer().begin_with("BEGIN IMMEDIATE").await?;
        let room: Option<(i64, String, Option<i64>)> = sqlx::query_as(
            "SELECT r.id, r.room_type, r.created_by FROM chat_rooms r \
             WHERE r.id = (SELECT chat_room_id FROM messages WHERE id = $1)",
        )
        .bind(request.message_id)
        .fetch_optional(&mut *tx)
        .await?;
        let outcome = match room {
            Some(room) => Self::change_in(&mut tx, room, request).await?,
            None => ChangeOutcome::NotFound,
        };
        tx.commit().await.map_err(super::StoreError::at_commit)?;
        Ok(outcome)
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
            let mut rows = sqlx::query_as::<Sqlite, MessageRow>(AssertSqlSafe(sql))
                .bind(json_rows(&keyed))
                .fetch_all(&mut *tx)
                .await?;
            Self::with_extras(&mut tx, &mut rows).await?;
            for row in rows {
                if let (Some(sender), Some(client_id)) = (row.sender_id, row.client_id.clone()) {
                    existing.insert((sender, client_id), row);
                }
            }
        }
        let replies = Self::replies_to(&mut tx, batch).await?;
        let uploads = Self::uploads_for(&mut tx, batch).await?;
        let (mut outcomes, planned, last_seqs) = plan(batch, &rooms, &members, &existing, &replies, &uploads);
        if planned.is_empty() {
            tx.commit().await.map_err(super::StoreError::at_commit)?;
            return Ok(AppendBatch { outcomes, created_at, members, replies, uploads });
        }
        let w = Writes::new(batch, &planned, &last_seqs);
        sqlx::query(
            "UPDATE chat_rooms SET last_seq = v.seq, last_message_seq = v.seq, last_message_at = $2, updated_at = $2 \
             FROM (SELECT value ->> 0 AS id, value ->> 1 AS seq FROM json_each($1)) AS v WHERE chat_rooms.id = v.id",
        )
        .bind(json_rows(&w.last_seqs))
        .bind(created_at)
        .execute(&mut *tx)
        .await?;
        let ids: HashMap<(i64, i64), i64> = sqlx::query_as::<Sqlite, (i64, i64, i64)>(
            "INSERT INTO messages (chat_room_id, sender_id, content, seq, client_id, reply_to_id, search_text, created_at) \
             SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, $2 \
             FROM json_each($1) WHERE true RETURNING id, chat_room_id, seq",
        )
        .bind(json_rows(&w.messages))
        .bind(created_at)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(id, room, seq)| ((room, seq), id))
        .collect();
        assign_ids(&mut outcomes, &planned, batch, &ids)?;
        let mentions = mention_rows(&outcomes, &planned, batch, &members);
        if !mentions.is_empty() {
            sqlx::query(
                "INSERT INTO message_mentions (message_id, user_id) \
                 SELECT value ->> 0, value ->> 1 FROM json_each($1) WHERE true",
            )
            .bind(json_rows(&mentions))
            .execute(&mut *tx)
            .await?;
        }
        let claims = attachment_claims(&outcomes, &planned, batch);
        if !claims.is_empty() {
            sqlx::query(
                "UPDATE attachments SET message_id = v.m, position = v.p \
                 FROM (SELECT value ->> 0 AS id, value ->> 1 AS m, value ->> 2 AS p FROM json_each($1)) AS v \
                 WHERE attachments.id = v.id",
            )
            .bind(json_rows(&claims))
            .execute(&mut *tx)
            .await?;
        }
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
        Ok(AppendBatch { outcomes, created_at, members, replies, uploads })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(room_id: i64, sender_id: i64, client_id: Option<&str>) -> Append {
        Append {
            room_id,
            sender_id,
            content: "x".into(),
            client_id: client_id.map(Into::into),
            reply_to_id: None,
            search_text: "x".into(),
            mentions: Vec::new(),
            group_only: false,
            attachment_ids: Vec::new(),
        }
    }

    fn facts() -> ChangeFacts {
        ChangeFacts {
            room_id: 1,
            group: true,
            created_by: Some(9),
            member: true,
            sender_id: Some(7),
            deleted: false,
            content: "hi".into(),
            reacted: false,
            emoji_used: false,
            kinds: 0,
        }
    }

    #[test]
    fn the_rules_for_changing_a_message() {
        let f = facts();
        let edit_to =
            |content: &str| Change::Edit { content: content.into(), search_text: String::new(), mentions: Vec::new() };
        let edit = edit_to("hello");
        assert_eq!(decide(&f, 7, &edit), Decision::Apply);
        assert_eq!(decide(&f, 8, &edit), Decision::Refuse(Refusal::NotSender));
        assert_eq!(decide(&f, 9, &edit), Decision::Refuse(Refusal::NotSender), "a creator edits no one's text");
        assert_eq!(decide(&f, 7, &edit_to("hi")), Decision::Nothing);
        assert_eq!(decide(&ChangeFacts { member: false, ..facts() }, 7, &edit), Decision::NotFound);
        assert_eq!(decide(&ChangeFacts { deleted: true, ..facts() }, 7, &edit), Decision::Refuse(Refusal::Deleted));

        assert_eq!(decide(&f, 7, &Change::Delete), Decision::Apply);
        assert_eq!(decide(&f, 9, &Change::Delete), Decision::Apply, "the group's creator");
        assert_eq!(decide(&f, 8, &Change::Delete), Decision::Refuse(Refusal::NotSenderOrCreator));
        let dm = ChangeFacts { group: false, ..facts() };
        assert_eq!(decide(&dm, 9, &Change::Delete), Decision::Refuse(Refusal::NotSenderOrCreator));
        assert_eq!(decide(&ChangeFacts { deleted: true, ..facts() }, 7, &Change::Delete), Decision::Nothing);
        assert_eq!(
            decide(&ChangeFacts { deleted: true, ..facts() }, 8, &Change::Delete),
            Decision::Refuse(Refusal::NotSenderOrCreator)
        );

        let react = Change::React("👍".into());
        assert_eq!(decide(&f, 8, &react), Decision::Apply);
        assert_eq!(decide(&ChangeFacts { reacted: true, emoji_used: true, ..facts() }, 8, &react), Decision::Nothing);
        assert_eq!(decide(&ChangeFacts { deleted: true, ..facts() }, 8, &react), Decision::Refuse(Refusal::Deleted));
        let full = ChangeFacts { kinds: REACTION_KINDS_MAX, ..facts() };
        assert_eq!(decide(&full, 8, &react), Decision::Refuse(Refusal::TooManyReactions));
        assert_eq!(decide(&ChangeFacts { emoji_used: true, ..full }, 8, &react), Decision::Apply);
        let unreact = Change::Unreact("👍".into());
        assert_eq!(decide(&f, 8, &unreact), Decision::Nothing);
        assert_eq!(decide(&ChangeFacts { reacted: true, emoji_used: true, ..facts() }, 8, &unreact), Decision::Apply);
    }

    #[test]
    fn read_by_everyone_but_the_sender() {
        let flags = ReadFlags::new(&[(1, 5), (2, 3), (3, 9)]);
        assert!(flags.is_read(Some(2), 5));
        assert!(!flags.is_read(Some(1), 5));
        assert!(flags.is_read(Some(1), 3));
        assert!(!ReadFlags::new(&[(1, 9)]).is_read(Some(1), 1), "nobody else to read it");
        assert!(!flags.is_read(None, 4));
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
        let (outcomes, planned, last) =
            plan(&batch, &rooms, &members, &HashMap::new(), &HashMap::new(), &HashMap::new());
        let seqs: Vec<(usize, i64)> = planned.iter().map(|p| (p.index, p.seq)).collect();
        assert_eq!(seqs, [(0, 11), (1, 1), (5, 12)]);
        assert!(matches!(outcomes[2], Appended::NotMember));
        assert!(matches!(outcomes[3], Appended::SameAs(0)));
        assert!(matches!(outcomes[4], Appended::NoRoom));
        assert_eq!(last, BTreeMap::from([(1, 12), (2, 1)]));
    }
}
