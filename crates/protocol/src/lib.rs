//! Banter's wire protocol: the objects REST and WebSocket share ([`Message`], [`RoomSummary`],
//! [`UserPublic`]) and the WebSocket frames ([`ClientFrame`], [`ServerFrame`]), as plain serde
//! types with no server dependencies — used by the server, its tests and load tools alike.
//!
//! Frames are JSON objects tagged by `"type"`, as in the seed. The seed's frames keep their
//! field names; Banter's additions are additive fields and new frame types.

pub mod time;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A stored message, as every API returns it. The seed's fields come first, in the seed's order
/// (`id, chat_room_id, sender_id, content, is_read, created_at, sender_username,
/// sender_full_name`); Banter's additions follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub id: i64,
    /// The room (the seed's name; the same id space as groups' `id`).
    pub chat_room_id: i64,
    /// `None` once the sender deleted their account.
    pub sender_id: Option<i64>,
    pub content: String,
    /// DM: the recipient has read it. Group: every other current member has read it.
    pub is_read: bool,
    /// UTC, without an offset, as the seed writes it: `2026-11-30T16:34:18.951466`.
    #[serde(with = "time")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "2026-11-30T16:34:18.951466"))]
    pub created_at: DateTime<Utc>,
    /// `"Deleted User"` once the sender deleted their account.
    pub sender_username: String,
    pub sender_full_name: Option<String>,
    /// The same as `chat_room_id`.
    pub room_id: i64,
    /// Position in the room: 1, 2, 3… strictly increasing, never a gap once visible.
    pub seq: i64,
    /// The sender's idempotency key, if one was given.
    pub client_id: Option<String>,
    /// When its sender last edited it.
    #[serde(default, with = "time::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub edited_at: Option<DateTime<Utc>>,
    /// Set once it was deleted: `content` is then `""` and `reactions` empty (a tombstone).
    #[serde(default, with = "time::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub deleted_at: Option<DateTime<Utc>>,
    /// One entry per emoji, in the order each was first used.
    #[serde(default)]
    pub reactions: Vec<Reaction>,
    /// The message this one answers, as it is now.
    #[serde(default)]
    pub reply_to: Option<ReplyPreview>,
    /// The members of its room it calls by name (`@username`).
    #[serde(default)]
    pub mentions: Vec<i64>,
    /// The files sent with it, in the order they were given (`[]` once deleted).
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

impl Message {
    /// Sets each reaction's `me` for the user this copy is for.
    pub fn personalize(&mut self, viewer: i64) {
        for r in &mut self.reactions {
            r.me = r.user_ids.contains(&viewer);
        }
        // Nested copies carry no reactions.
    }

    /// Whether anyone reacted to it (so copies for different users differ in `me`).
    pub fn reacted_by(&self, user: i64) -> bool {
        self.reactions.iter().any(|r| r.user_ids.contains(&user))
    }
}

/// Everyone who reacted to a message with one emoji.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reaction {
    pub emoji: String,
    pub count: i64,
    /// In the order they reacted.
    pub user_ids: Vec<i64>,
    /// The user this answer or frame is for is among `user_ids`.
    pub me: bool,
}

/// A file sent with a message (or uploaded and not yet sent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attachment {
    pub id: i64,
    /// As the uploader named it.
    pub filename: String,
    /// What the server found the bytes to be (never what the client claimed).
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// Where to download it: `/attachments/{id}` (authenticated; `…/thumbnail` for images).
    pub url: String,
    /// Pixels, for images.
    pub width: Option<i64>,
    pub height: Option<i64>,
}

/// The message a reply answers, as it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplyPreview {
    pub id: i64,
    pub sender_id: Option<i64>,
    pub sender_username: String,
    /// Its first 200 characters (`""` once deleted).
    pub content: String,
    pub deleted: bool,
}

/// What happened to a group ([`ServerFrame::RoomChanged`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RoomChange {
    MembersAdded,
    MemberLeft,
    MemberRemoved,
    Renamed,
    OwnerChanged,
}

impl RoomChange {
    /// Every change (a unit test checks it against the enum and its serde names).
    pub const ALL: [RoomChange; 5] =
        [Self::MembersAdded, Self::MemberLeft, Self::MemberRemoved, Self::Renamed, Self::OwnerChanged];

    /// The name on the wire (and in storage).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MembersAdded => "members_added",
            Self::MemberLeft => "member_left",
            Self::MemberRemoved => "member_removed",
            Self::Renamed => "renamed",
            Self::OwnerChanged => "owner_changed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A line in a group's timeline saying what happened to the group: `GET /rooms/{id}/notices`,
/// and live as `room_changed.notice`. Names are as they are now ("Deleted User" for a deleted
/// account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomNotice {
    pub id: i64,
    pub room_id: i64,
    pub change: RoomChange,
    /// Who did it (`null`: the server, e.g. a handover after the owner deleted their account).
    pub actor_id: Option<i64>,
    pub actor: Option<MemberRef>,
    /// Whom it is about: the members added, the one who left or was removed, the new owner.
    pub users: Vec<MemberRef>,
    /// `renamed`: the name the group was given.
    pub name: Option<String>,
    /// The room's last `seq` when it happened: the notice comes after the messages up to it
    /// (and before any later one).
    pub after_seq: i64,
    #[serde(with = "time")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: DateTime<Utc>,
}

/// A user a room change is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberRef {
    pub id: i64,
    /// `"Deleted User"` for a deleted account.
    pub username: String,
    pub full_name: Option<String>,
}

/// Another user, as anyone may see them: never an email or a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserPublic {
    pub id: i64,
    pub username: String,
    pub full_name: Option<String>,
    /// At least one WebSocket connection of theirs is open.
    pub online: bool,
}

/// What a room is: a direct conversation of two people, or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RoomKind {
    Direct,
    Group,
}

impl TryFrom<String> for RoomKind {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "direct" => Ok(Self::Direct),
            "group" => Ok(Self::Group),
            other => Err(format!("unknown room type {other:?}")),
        }
    }
}

/// The `code` of a WebSocket `error` frame: what kind of refusal it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, not an object, binary, an unknown `type`, or a field of the wrong type.
    BadFrame,
    /// Too many frames.
    RateLimited,
    /// A field's value breaks a rule (e.g. empty content).
    ValidationError,
    BadRequest,
    Unauthorized,
    /// Not allowed, e.g. a room one is not in.
    Forbidden,
    NotFound,
    /// A `client_id` already used for another room.
    Conflict,
    TooLarge,
    /// The server is busy or its database is not answering: try again.
    Unavailable,
    InternalError,
}

/// One conversation in a user's list: a DM or a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomSummary {
    pub room_id: i64,
    /// `direct` or `group`.
    pub room_type: RoomKind,
    /// The group's name, or the other user's username for a DM.
    pub name: String,
    /// The other participant of a DM (`None` for groups, or if they deleted their account).
    pub other_user: Option<UserPublic>,
    pub created_by: Option<i64>,
    pub member_count: i64,
    /// The newest message's `seq` (0 if none).
    pub last_seq: i64,
    pub last_message: Option<Message>,
    #[serde(with = "time::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub last_message_time: Option<DateTime<Utc>>,
    pub unread_count: i64,
    pub last_read_seq: i64,
    #[serde(with = "time")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub created_at: DateTime<Utc>,
    /// Unread messages (as counted in `unread_count`) that mention you.
    #[serde(default)]
    pub mention_count: i64,
    /// You muted the room: clients do not notify for it (except mentions).
    #[serde(default)]
    pub muted: bool,
}

/// Last seen `seq` per room id (JSON object keys are strings: `{"7": 13}`).
pub type Positions = BTreeMap<i64, i64>;

/// Reads [`Positions`] from a JSON object whose keys are room ids as strings. Needed because
/// inside a `#[serde(tag = "type")]` enum serde buffers the object and no longer turns string
/// keys into integers by itself.
pub fn deserialize_positions<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Positions, D::Error> {
    use serde::de::Error as _;
    let raw: BTreeMap<String, i64> = Deserialize::deserialize(d)?;
    raw.into_iter()
        .map(|(k, v)| {
            k.trim()
                .parse::<i64>()
                .map(|k| (k, v))
                .map_err(|_| D::Error::custom(format!("room id {k:?} is not a number")))
        })
        .collect()
}

/// A room as a client named it in one of the seed's frames: whatever JSON value it sent,
/// echoed back as sent (the seed answers `room_joined` with the client's own value), and read as
/// a room id when it is an integer or a string holding one (`5` and `"5"` name the same room).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RoomRef(pub Value);

impl RoomRef {
    pub fn id(&self) -> Option<i64> {
        match &self.0 {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as Python would print it in the seed's texts (`Left room None`).
    pub fn display(&self) -> String {
        python_repr(&self.0)
    }
}

impl From<i64> for RoomRef {
    fn from(id: i64) -> Self {
        Self(Value::from(id))
    }
}

/// How the seed (Python) prints a JSON value inside a message: `None`, `True`, strings bare.
pub fn python_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Frames a client sends. The seed's four (`join_room`, `leave_room`, `message`, `typing`) and
/// `ping` keep its field names; the rest are Banter's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Authenticate a connection opened without a token in its URL. Must be the first frame.
    Auth {
        token: String,
    },
    JoinRoom {
        #[serde(default)]
        room_id: RoomRef,
    },
    LeaveRoom {
        #[serde(default)]
        room_id: RoomRef,
    },
    /// Subscribe this connection to every room of its user, including rooms added later.
    SubscribeAll,
    Message {
        #[serde(default)]
        room_id: RoomRef,
        #[serde(default)]
        content: String,
        #[serde(default)]
        client_id: Option<String>,
        /// The message this one answers (in the same room).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to_id: Option<i64>,
        /// Uploads to send with it (`POST /attachments`): at most 10, the sender's own, not yet
        /// sent. `content` may then be empty.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachment_ids: Vec<i64>,
    },
    Typing {
        #[serde(default)]
        room_id: RoomRef,
        #[serde(default = "yes")]
        is_typing: bool,
    },
    /// Catch up: every message after these positions (rooms left out count as 0).
    Sync {
        #[serde(default, deserialize_with = "deserialize_positions")]
        rooms: Positions,
    },
    Read {
        room_id: i64,
        up_to: i64,
    },
    Ping,
}

impl ClientFrame {
    /// Every `type` a client may send.
    pub const TYPES: &'static [&'static str] =
        &["auth", "join_room", "leave_room", "subscribe_all", "message", "typing", "sync", "read", "ping"];
}

fn yes() -> bool {
    true
}

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Connected {
        user_id: i64,
        username: String,
        message: String,
    },
    /// The seed's fields in its order (`created_at` in its WebSocket form, with a space), plus
    /// `seq`, `client_id` and the whole message as REST returns it.
    NewMessage {
        room_id: i64,
        message_id: i64,
        sender_id: Option<i64>,
        sender_username: String,
        sender_full_name: Option<String>,
        content: String,
        #[serde(with = "time::space")]
        created_at: DateTime<Utc>,
        seq: i64,
        client_id: Option<String>,
        message: Message,
    },
    /// A message was edited or deleted, or its reactions changed. `seq` is this change's own
    /// position in the room's event log; `message` the message's whole new state.
    MessageUpdated {
        room_id: i64,
        seq: i64,
        message: Message,
    },
    /// The sender's message is committed.
    Ack {
        client_id: Option<String>,
        message: Message,
    },
    /// `room_id` echoes the client's value; `message` is `Joined room {room_id}`.
    RoomJoined {
        room_id: Value,
        message: String,
    },
    /// `room_id` echoes the client's value; `message` is `Left room {room_id}`.
    RoomLeft {
        room_id: Value,
        message: String,
    },
    UserJoined {
        room_id: i64,
        user_id: i64,
        username: String,
    },
    UserLeft {
        room_id: i64,
        user_id: i64,
        username: String,
    },
    UserTyping {
        room_id: i64,
        user_id: i64,
        username: String,
        is_typing: bool,
        /// Banter's addition: the typist's full name, for "Ada Lovelace is typing…".
        #[serde(default)]
        full_name: Option<String>,
    },
    Subscribed {
        room_ids: Vec<i64>,
    },
    RoomAdded {
        room: RoomSummary,
    },
    RoomRemoved {
        room_id: i64,
    },
    Presence {
        user_id: i64,
        username: String,
        online: bool,
    },
    /// You changed your settings for a room (on this or another device).
    RoomSettings {
        room_id: i64,
        muted: bool,
    },
    /// A group changed: members came or went, it was renamed, or it has a new owner. Sent to
    /// every member's connections (and to those added); the room as it now is, and what
    /// happened, for a notice in the timeline.
    RoomChanged {
        room_id: i64,
        name: Option<String>,
        created_by: Option<i64>,
        member_count: i64,
        change: RoomChange,
        /// Who did it (`None` for the server's own doing, e.g. a handover).
        actor_id: Option<i64>,
        /// The same person with their names, for the notice.
        #[serde(default)]
        actor: Option<MemberRef>,
        /// Whom it is about: the members added, the one who left or was removed, the new owner.
        users: Vec<MemberRef>,
        /// The same change as a line for the group's timeline (also in `GET /rooms/{id}/notices`).
        #[serde(default)]
        notice: Option<RoomNotice>,
    },
    /// Someone you share a room with changed their profile, or deleted their account
    /// (`deleted`: then `username` is `"Deleted User"` and they are offline for good).
    UserUpdated {
        user: UserPublic,
        #[serde(default)]
        deleted: bool,
    },
    SyncComplete {
        #[serde(deserialize_with = "deserialize_positions")]
        rooms: Positions,
        /// `false` if the catch-up was cut short (size limits): send `sync` again with `rooms`.
        #[serde(default = "yes")]
        complete: bool,
    },
    /// A member's read position moved. `unread_count` only in the copies for the reader's own
    /// connections.
    Read {
        room_id: i64,
        user_id: i64,
        last_read_seq: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unread_count: Option<i64>,
    },
    Pong,
    /// `message` is the seed's text where the seed has one (`You don't have access to this
    /// room`, `You are not in this room`, `Unknown message type: …`); `code` is Banter's.
    Error {
        message: String,
        code: ErrorCode,
        /// The `client_id` of the `message` frame that failed, so the client can mark it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
        /// With `rate_limited`: milliseconds to wait before trying again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
}

impl ServerFrame {
    pub fn new_message(message: Message) -> Self {
        Self::NewMessage {
            room_id: message.room_id,
            message_id: message.id,
            sender_id: message.sender_id,
            sender_username: message.sender_username.clone(),
            sender_full_name: message.sender_full_name.clone(),
            content: message.content.clone(),
            created_at: message.created_at,
            seq: message.seq,
            client_id: message.client_id.clone(),
            message,
        }
    }

    /// The position of a room event frame in its room's log (`new_message`, `message_updated`).
    pub fn seq(&self) -> Option<i64> {
        match self {
            Self::NewMessage { seq, .. } | Self::MessageUpdated { seq, .. } => Some(*seq),
            _ => None,
        }
    }

    /// The message a frame carries, if any.
    pub fn message(&self) -> Option<&Message> {
        match self {
            Self::NewMessage { message, .. } | Self::MessageUpdated { message, .. } | Self::Ack { message, .. } => {
                Some(message)
            }
            _ => None,
        }
    }

    /// This frame as `viewer` should see it (reactions' `me`); `None` if it is the same for
    /// everyone who has not reacted.
    pub fn personalized(&self, viewer: i64) -> Option<Self> {
        if !self.message().is_some_and(|m| m.reacted_by(viewer) || m.reactions.iter().any(|r| r.me)) {
            return None;
        }
        let mut frame = self.clone();
        if let Self::NewMessage { message, .. } | Self::MessageUpdated { message, .. } | Self::Ack { message, .. } =
            &mut frame
        {
            message.personalize(viewer);
        }
        Some(frame)
    }

    pub fn room_joined(room_id: &RoomRef) -> Self {
        Self::RoomJoined { room_id: room_id.0.clone(), message: format!("Joined room {}", room_id.display()) }
    }

    pub fn room_left(room_id: &RoomRef) -> Self {
        Self::RoomLeft { room_id: room_id.0.clone(), message: format!("Left room {}", room_id.display()) }
    }

    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Error { message: message.into(), code, client_id: None, retry_after_ms: None }
    }
}

/// WebSocket close codes Banter uses besides the standard ones.
pub mod close {
    /// The token is missing, invalid or expired.
    pub const INVALID_TOKEN: u16 = 4001;
    /// The session was revoked (logout, logout-all, password change, account deletion).
    pub const SESSION_REVOKED: u16 = 4003;
    /// The client did not read its frames fast enough.
    pub const TOO_SLOW: u16 = 4008;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_changes_are_all_listed_and_named_as_on_the_wire() {
        // A new variant fails to compile here until it has a place, and then this test until
        // it is in `ALL` (which storage reads notices back with).
        let place = |c: RoomChange| match c {
            RoomChange::MembersAdded => 0,
            RoomChange::MemberLeft => 1,
            RoomChange::MemberRemoved => 2,
            RoomChange::Renamed => 3,
            RoomChange::OwnerChanged => 4,
        };
        assert_eq!(RoomChange::ALL.map(place), [0, 1, 2, 3, 4]);
        for c in RoomChange::ALL {
            assert_eq!(serde_json::to_value(c).expect("serialise"), serde_json::Value::from(c.as_str()));
            assert_eq!(RoomChange::parse(c.as_str()), Some(c));
        }
        assert_eq!(RoomChange::parse("exploded"), None);
    }

    #[test]
    fn seed_client_frames_parse() {
        let f: ClientFrame = serde_json::from_str(r#"{"type": "join_room", "room_id": 1}"#).expect("join");
        assert_eq!(f, ClientFrame::JoinRoom { room_id: 1.into() });
        let f: ClientFrame =
            serde_json::from_str(r#"{"type": "message", "room_id": 1, "content": "Hello everyone!"}"#).expect("msg");
        assert_eq!(
            f,
            ClientFrame::Message {
                room_id: 1.into(),
                content: "Hello everyone!".into(),
                client_id: None,
                reply_to_id: None,
                attachment_ids: Vec::new()
            }
        );
        let f: ClientFrame = serde_json::from_str(r#"{"type": "typing", "room_id": 1}"#).expect("typing");
        assert_eq!(f, ClientFrame::Typing { room_id: 1.into(), is_typing: true });
        // The seed reads room ids as given: a numeric string names the same room; null is kept.
        let f: ClientFrame = serde_json::from_str(r#"{"type": "join_room", "room_id": "7"}"#).expect("join");
        let ClientFrame::JoinRoom { room_id } = f else { panic!("join_room") };
        assert_eq!(room_id.id(), Some(7));
        assert_eq!(serde_json::to_value(ServerFrame::room_joined(&room_id)).expect("json")["room_id"], "7");
        let f: ClientFrame = serde_json::from_str(r#"{"type": "leave_room", "room_id": null}"#).expect("leave");
        let ClientFrame::LeaveRoom { room_id } = f else { panic!("leave_room") };
        assert_eq!(room_id.id(), None);
        let v = serde_json::to_value(ServerFrame::room_left(&room_id)).expect("json");
        assert_eq!(v, serde_json::json!({"type": "room_left", "room_id": null, "message": "Left room None"}));
        let f: ClientFrame = serde_json::from_str(r#"{"type": "ping"}"#).expect("ping");
        assert_eq!(f, ClientFrame::Ping);
        let f: ClientFrame = serde_json::from_str(r#"{"type": "sync", "rooms": {"7": 13}}"#).expect("sync");
        assert_eq!(f, ClientFrame::Sync { rooms: BTreeMap::from([(7, 13)]) });
    }

    #[test]
    fn server_frames_round_trip() {
        let done = ServerFrame::SyncComplete { rooms: BTreeMap::from([(7, 15)]), complete: true };
        let text = serde_json::to_string(&done).expect("json");
        assert_eq!(text, r#"{"type":"sync_complete","rooms":{"7":15},"complete":true}"#);
        assert_eq!(serde_json::from_str::<ServerFrame>(&text).expect("parses back"), done);
    }

    #[test]
    fn server_frames_carry_the_seed_fields() {
        let v = serde_json::to_value(ServerFrame::Pong).expect("json");
        assert_eq!(v, serde_json::json!({"type": "pong"}));
        let v = serde_json::to_value(ServerFrame::UserTyping {
            room_id: 1,
            user_id: 2,
            username: "jane_doe".into(),
            is_typing: true,
            full_name: Some("Jane Doe".into()),
        })
        .expect("json");
        assert_eq!(v["type"], "user_typing");
        assert_eq!(v["username"], "jane_doe");
        assert_eq!(v["full_name"], "Jane Doe");
    }
}
