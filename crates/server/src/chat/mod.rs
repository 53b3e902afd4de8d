//! Conversations: the rules for rooms, membership, messages and read state, shared by REST and
//! WebSocket. Handlers parse and format; every decision is made here.
//!
//! Authorization: every read and write of a room first checks membership, and a non-member gets
//! the same "not found" as for a room that does not exist, so room ids reveal nothing.

mod changes;
mod groups;
mod people;
pub mod pipeline;
mod search;
pub mod text;

use std::collections::BTreeMap;

use banter_protocol::{Attachment, Message, Positions, Reaction, ReplyPreview, ServerFrame, UserPublic};
pub use changes::{change, reads, MemberRead, Requested, MESSAGE_NOT_FOUND};
pub use groups::{
    add_members, create_group, members, notices, remove_member, rename_group, room_changed, MemberOut, NOTICES_MAX,
};
pub use people::{groups_in_join_order, room_summary, rooms, search_users, user_public};
pub use pipeline::{Pipeline, Sent};
pub use search::{index_backlog, search, SearchPage, SearchQuery, SearchResult};

use serde_json::{json, Value};

use crate::{
    error::{Error, FieldError, Result},
    events::Event,
    state::AppState,
    store::{Append, AttachmentRow, EventKind, MessageRow, Page, ReadFlags, Room, User, ATTACHMENTS_MAX, DELETED_USER},
    validate::{self, Problem},
};

pub use validate::CONTENT_MAX;
pub const CLIENT_ID_MAX: usize = 64;
pub const PAGE_MAX: i64 = 100;
/// Messages one sync answer carries at most per room; `complete: false` says ask again.
pub const SYNC_PER_ROOM: i64 = 500;
/// Bytes of message content one sync answer carries at most (checked per room batch, so an
/// answer stays within this plus one batch).
pub const SYNC_BYTES: usize = 1 << 20;

/// Where a message goes or history comes from, as the API names it.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// The DM with this user (created by the first message).
    Direct(i64),
    /// A group, by id: DM rooms are "not found" here.
    Group(i64),
    /// Any room the caller is a member of.
    Room(i64),
}

/// Checks message content ([`validate::content`]); a problem is reported at
/// `["body", "content"]` (the WebSocket turns it into an `error` frame).
pub fn check_content(content: &str) -> Result<()> {
    validate::content(content).map_err(|p| Error::validation(p.field("content", content)))
}

/// The content of a message sent with `files` uploads: as [`check_content`], except that a
/// message with files may have no text at all.
pub fn check_message_content(content: &str, files: usize) -> Result<()> {
    validate::message_content(content, files).map_err(|p| Error::validation(p.field("content", content)))
}

/// `attachment_ids` that name anything but the sender's own unsent uploads.
fn bad_attachments(ids: &[i64]) -> Error {
    let msg = format!("attachment_ids must name at most {ATTACHMENTS_MAX} of your own uploads not yet sent");
    Error::validation(Problem::value(&msg).field("attachment_ids", Value::from(ids.to_vec())))
}

fn check_client_id(client_id: Option<&str>) -> Result<()> {
    match client_id {
        Some(id)
            if id.is_empty()
                || id.len() > CLIENT_ID_MAX
                || !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')) =>
        {
            let msg = format!("client_id must be 1-{CLIENT_ID_MAX} characters of letters, digits, '-', '_', '.', ':'");
            Err(Error::validation(Problem::value(&msg).field("client_id", id)))
        }
        _ => Ok(()),
    }
}

/// The room a Banter `/rooms/…` request (or a WebSocket frame) names, if `user_id` is a member
/// of it, with their read position. A non-member gets the same answer as for a room that does
/// not exist, so ids reveal nothing.
async fn member_room(state: &AppState, user_id: i64, room_id: i64) -> Result<(Room, i64)> {
    let not_found = || Error::NotFound(ROOM_NOT_FOUND.into());
    let read = state.store.membership(room_id, user_id).await?.ok_or_else(not_found)?;
    let room = state.store.room(room_id).await?.ok_or_else(not_found)?;
    Ok((room, read))
}

pub const ROOM_NOT_FOUND: &str = "Room not found";
const NOT_A_GROUP: &str = "This is not a group chat";
const NOT_A_GROUP_MEMBER: &str = "You are not a member of this group";

/// A group as the seed's `GET /groups/{id}/messages` checks it: a non-member gets 403, whether
/// or not the group exists; a participant of a *direct* room is told it is not a group (the
/// seed would have shown it: ⚠BUG B4).
async fn group_to_read(state: &AppState, user_id: i64, group_id: i64) -> Result<(Room, i64)> {
    let not_member = || Error::Forbidden(NOT_A_GROUP_MEMBER.into());
    let read = state.store.membership(group_id, user_id).await?.ok_or_else(not_member)?;
    let room = state.store.room(group_id).await?.ok_or_else(not_member)?;
    if !room.is_group() {
        return Err(Error::BadRequest(NOT_A_GROUP.into()));
    }
    Ok((room, read))
}

/// What a sender asks to send.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub content: &'a str,
    pub client_id: Option<&'a str>,
    /// The message it answers (in the same room).
    pub reply_to_id: Option<i64>,
    /// Uploads to send with it.
    pub attachment_ids: &'a [i64],
}

/// The one send path, for REST and WebSocket alike: validate, then hand the message to this
/// node's [`Pipeline`], which persists it (idempotently by `client_id`) in the next batch and
/// publishes `new_message` to every subscribed connection of every member after the commit.
/// Returns the stored message and whether it is new.
pub async fn send(state: &AppState, sender: &User, target: Target, out: Outgoing<'_>) -> Result<(Message, bool)> {
    let Outgoing { content, client_id, reply_to_id, attachment_ids } = out;
    state.limits.send(sender.id)?;
    check_message_content(content, attachment_ids.len())?;
    check_client_id(client_id)?;
    if attachment_ids.len() > ATTACHMENTS_MAX {
        return Err(bad_attachments(attachment_ids));
    }
    let bad_reply = || {
        Error::validation(
            Problem::value("reply_to_id must name a message in the same room")
                .field("reply_to_id", reply_to_id.map_or(Value::Null, Value::from)),
        )
    };
    let (room_id, group_only) = match target {
        // A reply cannot open a conversation: what it answers would be in another room.
        Target::Direct(recipient) => match direct_room_for(state, sender, recipient, reply_to_id.is_none()).await? {
            Some(room_id) => (room_id, false),
            None => return Err(bad_reply()),
        },
        Target::Group(id) => (id, true),
        Target::Room(id) => (id, false),
    };
    let append = Append {
        room_id,
        sender_id: sender.id,
        content: content.to_owned(),
        client_id: client_id.map(str::to_owned),
        reply_to_id,
        search_text: text::search_text(content),
        mentions: mentioned(state, room_id, content).await?,
        group_only,
        attachment_ids: attachment_ids.to_vec(),
    };
    // The room, its type and the sender's membership are checked inside the batch, under the
    // room's lock: no round trip before, and no window between a check and the insert.
    let refused = |seed_text: &str| match target {
        Target::Group(_) => Error::BadRequest(seed_text.into()),
        Target::Direct(_) => Error::BadRequest("Recipient user not found".into()),
        Target::Room(_) => Error::NotFound(ROOM_NOT_FOUND.into()),
    };
    match state.pipeline.send(append, &sender.username, sender.full_name.as_deref()).await? {
        Sent::New(message) => Ok((message, true)),
        Sent::Existing(mut message) if message.room_id == room_id => {
            message.personalize(sender.id);
            Ok((message, false))
        }
        Sent::Existing(_) => Err(Error::Conflict("client_id was already used for a message to another room".into())),
        Sent::NoRoom => Err(refused("Group not found")),
        Sent::NotGroup => Err(refused(NOT_A_GROUP)),
        Sent::NotMember => Err(refused(NOT_A_GROUP_MEMBER)),
        Sent::BadReply => Err(bad_reply()),
        Sent::BadAttachments => Err(bad_attachments(attachment_ids)),
        // The seed's words for a recipient that does not exist.
        Sent::NoRecipient => Err(Error::BadRequest("Recipient user not found".into())),
    }
}

/// Who `content` mentions among the room's members (no query unless it has an `@`). The batch
/// keeps only those who are members when it is written.
async fn mentioned(state: &AppState, room_id: i64, content: &str) -> Result<Vec<i64>> {
    if !content.contains('@') {
        return Ok(Vec::new());
    }
    Ok(text::mentions(content, &state.store.member_names(room_id).await?))
}

/// The DM room between the sender and `recipient`, created (and announced to both) by the
/// first message if `create`; `None` if there is none and it may not be created. The seed
/// checks that the recipient exists before anything else.
async fn direct_room_for(state: &AppState, sender: &User, recipient: i64, create: bool) -> Result<Option<i64>> {
    if state.store.user_by_id(recipient).await?.is_none_or(|u| !u.is_active) {
        return Err(Error::BadRequest("Recipient user not found".into()));
    }
    if recipient == sender.id {
        return Err(Error::BadRequest("Cannot send message to yourself".into()));
    }
    if let Some(room_id) = state.store.direct_room(sender.id, recipient).await? {
        return Ok(Some(room_id));
    }
    if !create {
        return Ok(None);
    }
    let (room_id, created) = state.store.get_or_create_direct_room(sender.id, recipient).await?;
    if created {
        // Announced before its first message is even queued, so both members know the room
        // when that message arrives (groups are announced when created).
        for user in [sender.id, recipient] {
            if let Some(room) = room_summary(state, user, room_id).await? {
                state.broker.publish(Event::Users { user_ids: vec![user], frame: ServerFrame::RoomAdded { room } });
            }
        }
    }
    Ok(Some(room_id))
}

/// A query parameter below `min` or above `max`: FastAPI's 422 entry for it (with the input as
/// the string it came as).
pub(crate) fn out_of_range(name: &str, value: i64, min: i64, max: Option<i64>) -> Option<FieldError> {
    let input = Value::from(value.to_string());
    if value < min {
        let msg = format!("Input should be greater than or equal to {min}");
        return Some(FieldError::query("greater_than_equal", name, msg, input).with_ctx(json!({ "ge": min })));
    }
    let max = max.filter(|max| value > *max)?;
    let msg = format!("Input should be less than or equal to {max}");
    Some(FieldError::query("less_than_equal", name, msg, input).with_ctx(json!({ "le": max })))
}

/// Validates the history query: the seed's `limit` (1–100, default 50) and `offset` (≥ 0), or
/// Banter's `before`/`after` cursors. Out of range is the seed's 422.
pub fn page(limit: Option<i64>, offset: Option<i64>, before: Option<i64>, after: Option<i64>) -> Result<Page> {
    let limit = limit.unwrap_or(50);
    let mut errors: Vec<FieldError> = out_of_range("limit", limit, 1, Some(PAGE_MAX)).into_iter().collect();
    errors.extend(offset.and_then(|o| out_of_range("offset", o, 0, None)));
    errors.extend(before.and_then(|b| out_of_range("before", b, 1, None)));
    errors.extend(after.and_then(|a| out_of_range("after", a, 0, None)));
    let cursors =
        usize::from(before.is_some()) + usize::from(after.is_some()) + usize::from(offset.is_some_and(|o| o > 0));
    if errors.is_empty() && cursors > 1 {
        let msg = "Value error, use only one of offset, before and after";
        errors.push(FieldError::new("value_error", vec!["query".into()], msg, Value::Null));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    Ok(match (before, after) {
        (Some(seq), _) => Page::Before { seq, limit },
        (_, Some(seq)) => Page::After { seq, limit },
        _ => Page::Latest { limit, offset: offset.unwrap_or(0) },
    })
}

/// A page of history, oldest → newest. Reading advances the reader's read position to the
/// newest message returned, unless `mark_read` is false.
pub async fn history(
    state: &AppState,
    user: &User,
    target: Target,
    page: Page,
    mark_read: bool,
) -> Result<Vec<Message>> {
    let (room_id, read) = match target {
        Target::Direct(other) => {
            if state.store.user_by_id(other).await?.is_none() {
                return Err(Error::NotFound("User not found".into()));
            }
            // The seed answered with someone else's conversation here (⚠BUG B2).
            if other == user.id {
                return Err(Error::BadRequest("Cannot open a chat with yourself".into()));
            }
            // No DM yet: nothing to show, and (unlike the seed, ⚠BUG B13) nothing created.
            let Some(room_id) = state.store.direct_room(user.id, other).await? else { return Ok(Vec::new()) };
            let (_, read) = member_room(state, user.id, room_id).await?;
            (room_id, read)
        }
        Target::Group(id) => (id, group_to_read(state, user.id, id).await?.1),
        Target::Room(id) => (id, member_room(state, user.id, id).await?.1),
    };
    let rows = state.store.messages(room_id, page).await?;
    // Read first, so the page already shows what this read did (as the seed's answer does).
    if let Some(newest) = rows.iter().map(|m| m.seq).max().filter(|s| mark_read && *s > read) {
        advance_read(state, user.id, room_id, newest).await?;
    }
    with_read_flags(state, room_id, rows, user.id).await
}

/// Sets `is_read` on each message (every current member other than its sender has read it) and
/// each reaction's `me` for `viewer`.
async fn with_read_flags(state: &AppState, room_id: i64, rows: Vec<MessageRow>, viewer: i64) -> Result<Vec<Message>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let reads: Vec<(i64, i64)> =
        state.store.members(room_id).await?.into_iter().map(|m| (m.user_id, m.last_read_seq)).collect();
    let flags = ReadFlags::new(&reads);
    Ok(rows
        .into_iter()
        .map(|row| {
            let read = flags.is_read(row.sender_id, row.seq);
            let mut message = to_message(row, read);
            message.personalize(viewer);
            message
        })
        .collect())
}

/// A stored message as the API shows it, for no one in particular (every reaction's `me` is
/// false: see [`Message::personalize`]).
pub fn to_message(row: MessageRow, is_read: bool) -> Message {
    let r = row.reply;
    let reply_to = match (r.reply_to_id, r.reply_content) {
        (Some(id), Some(content)) => Some(ReplyPreview {
            id,
            sender_id: r.reply_sender_id,
            sender_username: r.reply_sender_username.unwrap_or_else(|| DELETED_USER.into()),
            content,
            deleted: r.reply_deleted_at.is_some(),
        }),
        _ => None,
    };
    Message {
        id: row.id,
        chat_room_id: row.room_id,
        sender_id: row.sender_id,
        content: row.content,
        is_read,
        created_at: row.created_at,
        sender_username: row.sender_username.unwrap_or_else(|| DELETED_USER.into()),
        sender_full_name: row.sender_full_name,
        room_id: row.room_id,
        seq: row.seq,
        client_id: row.client_id,
        edited_at: row.edited_at,
        deleted_at: row.deleted_at,
        reactions: row
            .reactions
            .into_iter()
            .map(|(emoji, user_ids)| Reaction { emoji, count: user_ids.len() as i64, user_ids, me: false })
            .collect(),
        reply_to,
        mentions: row.mentions,
        attachments: row.attachments.iter().map(to_attachment).collect(),
    }
}

/// An upload as the API shows it.
pub fn to_attachment(row: &AttachmentRow) -> Attachment {
    Attachment {
        id: row.id,
        filename: row.filename.clone(),
        content_type: row.content_type.clone(),
        size: row.size,
        url: format!("/attachments/{}", row.id),
        width: row.width,
        height: row.height,
    }
}

/// Where a member's read position now stands.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ReadState {
    pub room_id: i64,
    pub last_read_seq: i64,
    /// Messages after it that are not deleted.
    pub unread_count: i64,
}

async fn advance_read(state: &AppState, user_id: i64, room_id: i64, up_to: i64) -> Result<ReadState> {
    let moved = state.store.mark_read(room_id, user_id, up_to).await?;
    let (read, unread) = state.store.unread(room_id, user_id).await?.unwrap_or((up_to, 0));
    let status = ReadState { room_id, last_read_seq: read, unread_count: unread };
    // The user's other devices clear their badges too.
    state.broker.publish(Event::Users {
        user_ids: vec![user_id],
        frame: ServerFrame::Read {
            room_id,
            user_id,
            last_read_seq: status.last_read_seq,
            unread_count: Some(status.unread_count),
        },
    });
    // The other members see "Seen by" move (without the reader's own unread count).
    if moved {
        let members = state.store.member_ids(room_id).await?;
        let frame = ServerFrame::Read { room_id, user_id, last_read_seq: read, unread_count: None };
        state.broker.publish(Event::Room { room_id, members, skip_user: Some(user_id), frame });
    }
    Ok(status)
}

/// Moves the caller's read position to `up_to` (clamped to the room's newest message; never
/// backwards).
pub async fn mark_read(state: &AppState, user: &User, room_id: i64, up_to: i64) -> Result<ReadState> {
    let (room, _) = member_room(state, user.id, room_id).await?;
    if up_to < 0 {
        return Err(Error::validation(
            FieldError::body("greater_than_equal", "up_to", "Input should be greater than or equal to 0", up_to.into())
                .with_ctx(json!({ "ge": 0 })),
        ));
    }
    advance_read(state, user.id, room_id, up_to.min(room.last_seq)).await
}

/// One entry of a catch-up: a message created after the client's position, or a change to an
/// earlier one (at the seq of its newest change), each with the message's current state.
#[derive(Debug, Clone)]
pub enum Replay {
    New(Message),
    Updated { seq: i64, message: Message },
}

impl Replay {
    pub fn seq(&self) -> i64 {
        match self {
            Self::New(m) => m.seq,
            Self::Updated { seq, .. } => *seq,
        }
    }

    pub fn room_id(&self) -> i64 {
        match self {
            Self::New(m) | Self::Updated { message: m, .. } => m.room_id,
        }
    }

    pub fn frame(self) -> ServerFrame {
        match self {
            Self::New(m) => ServerFrame::new_message(m),
            Self::Updated { seq, message } => ServerFrame::MessageUpdated { room_id: message.room_id, seq, message },
        }
    }
}

/// A member's settings for a room.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RoomSettings {
    pub room_id: i64,
    /// Clients do not notify for a muted room (except mentions); it still counts unread.
    pub muted: bool,
}

/// The user's settings for a room they are a member of.
pub async fn room_settings(state: &AppState, user: &User, room_id: i64) -> Result<RoomSettings> {
    let muted = state.store.muted(room_id, user.id).await?.ok_or_else(|| Error::NotFound(ROOM_NOT_FOUND.into()))?;
    Ok(RoomSettings { room_id, muted })
}

/// Changes them; the user's devices hear of it (`room_settings`).
pub async fn set_room_settings(state: &AppState, user: &User, room_id: i64, muted: bool) -> Result<RoomSettings> {
    if !state.store.set_muted(room_id, user.id, muted).await? {
        return Err(Error::NotFound(ROOM_NOT_FOUND.into()));
    }
    state.broker.publish(Event::Users { user_ids: vec![user.id], frame: ServerFrame::RoomSettings { room_id, muted } });
    Ok(RoomSettings { room_id, muted })
}

/// Everything after `positions` in the user's rooms, per room in seq order, each message once in
/// its final state (see [`Replay`]); rooms not named count from 0. Returns the entries, the new
/// position per room, and whether that was all.
pub async fn sync(state: &AppState, user: &User, positions: &Positions) -> Result<(Vec<Replay>, Positions, bool)> {
    let mut replay = Vec::new();
    let mut now = BTreeMap::new();
    let mut complete = true;
    let mut bytes = 0;
    let room_ids = state.store.room_ids_of(user.id).await?;
    for (room_id, last_seq) in state.store.last_seqs(&room_ids).await? {
        let from = positions.get(&room_id).copied().unwrap_or(0).max(0);
        let mut at = from.min(last_seq);
        if last_seq > from && bytes < SYNC_BYTES {
            let events = state.store.events_after(room_id, from, SYNC_PER_ROOM).await?;
            at = events.last().map_or(at, |e| e.seq);
            // Each message once, at its newest event here: its row is its current state.
            let mut newest: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
            for e in &events {
                if let Some(m) = &e.message {
                    newest.insert(m.id, e.seq);
                }
            }
            let mut rows: Vec<(i64, bool, MessageRow)> = Vec::new();
            for e in events {
                let Some(row) = e.message else { continue };
                // A message the client has never seen comes once, where it was created (so
                // messages stay in seq order); one it has seen, once, at its newest change.
                let new = row.seq > from;
                let keep = if new { e.kind == EventKind::Message } else { newest.get(&row.id) == Some(&e.seq) };
                if keep {
                    rows.push((e.seq, new, row));
                }
            }
            bytes += rows.iter().map(|(_, _, r)| approximate_size(r)).sum::<usize>();
            let (kinds, rows): (Vec<(i64, bool)>, Vec<MessageRow>) =
                rows.into_iter().map(|(seq, new, row)| ((seq, new), row)).unzip();
            let messages = with_read_flags(state, room_id, rows, user.id).await?;
            replay.extend(kinds.into_iter().zip(messages).map(|((seq, new), message)| {
                if new {
                    Replay::New(message)
                } else {
                    Replay::Updated { seq, message }
                }
            }));
        }
        if at < last_seq {
            complete = false;
        }
        now.insert(room_id, at);
    }
    Ok((replay, now, complete))
}

/// About the bytes a message takes in a frame: its text, its reply's excerpt, its reactions and
/// the fields every message has.
fn approximate_size(row: &MessageRow) -> usize {
    let reactions: usize = row.reactions.iter().map(|(emoji, users)| emoji.len() + 40 + users.len() * 8).sum();
    let files: usize = row.attachments.iter().map(|a| 150 + a.filename.len()).sum();
    400 + row.content.len() + row.reply.reply_content.as_ref().map_or(0, String::len) + reactions + files
}

/// One frame per log entry, each with the message as it is now: a live client applies them in
/// turn, and a broker needs every seq to know the room has no gap.
fn event_frames(room_id: i64, events: Vec<crate::store::RoomEvent>) -> Vec<ServerFrame> {
    events
        .into_iter()
        .filter_map(|e| {
            let message = to_message(e.message?, false);
            Some(match e.kind {
                EventKind::Message => ServerFrame::new_message(message),
                _ => ServerFrame::MessageUpdated { room_id, seq: e.seq, message },
            })
        })
        .collect()
}

/// The room history brokers fill gaps from ([`crate::events::History`]).
pub struct StoreHistory(pub crate::store::DynStore);

#[async_trait::async_trait]
impl crate::events::History for StoreHistory {
    async fn messages_after(&self, room_id: i64, seq: i64, limit: i64) -> anyhow::Result<(Vec<i64>, Vec<ServerFrame>)> {
        let members = self.0.member_ids(room_id).await?;
        let events = self.0.events_after(room_id, seq, limit).await?;
        Ok((members, event_frames(room_id, events)))
    }

    async fn recent_before(
        &self,
        room_id: i64,
        seq: i64,
        since: chrono::DateTime<chrono::Utc>,
        limit: i64,
    ) -> anyhow::Result<(Vec<i64>, Vec<ServerFrame>)> {
        let members = self.0.member_ids(room_id).await?;
        let events = self.0.recent_events(room_id, seq, since, limit).await?;
        Ok((members, event_frames(room_id, events)))
    }

    async fn last_seqs(&self, room_ids: &[i64]) -> anyhow::Result<Vec<(i64, i64)>> {
        Ok(self.0.last_seqs(room_ids).await?)
    }

    async fn presence(&self, user_id: i64, online: bool) -> anyhow::Result<Option<(Vec<i64>, ServerFrame)>> {
        let Some(user) = self.0.user_by_id(user_id).await? else { return Ok(None) };
        let peers = self.0.co_member_ids(user_id).await?;
        Ok(Some((peers, ServerFrame::Presence { user_id, username: user.username, online })))
    }
}

/// `UserPublic` for a user, with live presence.
pub fn public(state: &AppState, id: i64, username: String, full_name: Option<String>) -> UserPublic {
    UserPublic { id, username, full_name, online: state.hub.is_online(id) }
}
