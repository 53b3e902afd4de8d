//! Banter's wire protocol: the objects REST and WebSocket share ([`Message`], [`RoomSummary`],
//! [`UserPublic`]) and the WebSocket frames ([`ClientFrame`], [`ServerFrame`]), as plain serde
//! types with no server dependencies — used by the server, its tests and load tools alike.
//!
//! Frames are JSON objects tagged by `"type"`, as in the seed. The seed's frames keep their
//! field names; Banter's additions are additive fields and new frame types.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A stored message, as every API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub id: i64,
    pub room_id: i64,
    /// The seed's column name for `room_id`, kept for its clients.
    pub chat_room_id: i64,
    /// Position in the room: 1, 2, 3… strictly increasing, never a gap once visible.
    pub seq: i64,
    /// `None` once the sender deleted their account.
    pub sender_id: Option<i64>,
    /// `"Deleted User"` once the sender deleted their account.
    pub sender_username: String,
    pub sender_full_name: Option<String>,
    pub content: String,
    /// The sender's idempotency key, if one was given.
    pub client_id: Option<String>,
    /// DM: the recipient has read it. Group: every other current member has read it.
    pub is_read: bool,
    pub created_at: DateTime<Utc>,
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

/// One conversation in a user's list: a DM or a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomSummary {
    pub room_id: i64,
    /// `direct` or `group`.
    pub room_type: String,
    /// The group's name, or the other user's username for a DM.
    pub name: String,
    /// The other participant of a DM (`None` for groups, or if they deleted their account).
    pub other_user: Option<UserPublic>,
    pub created_by: Option<i64>,
    pub member_count: i64,
    /// The newest message's `seq` (0 if none).
    pub last_seq: i64,
    pub last_message: Option<Message>,
    pub last_message_time: Option<DateTime<Utc>>,
    pub unread_count: i64,
    pub last_read_seq: i64,
    pub created_at: DateTime<Utc>,
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

/// Frames a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Authenticate a connection opened without a token in its URL. Must be the first frame.
    Auth {
        token: String,
    },
    JoinRoom {
        room_id: i64,
    },
    LeaveRoom {
        room_id: i64,
    },
    /// Subscribe this connection to every room of its user, including rooms added later.
    SubscribeAll,
    Message {
        room_id: i64,
        content: String,
        #[serde(default)]
        client_id: Option<String>,
    },
    Typing {
        room_id: i64,
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
    /// The seed's fields, plus `seq`, `client_id`, `sender_full_name` and the whole message.
    NewMessage {
        room_id: i64,
        message_id: i64,
        seq: i64,
        sender_id: Option<i64>,
        sender_username: String,
        sender_full_name: Option<String>,
        content: String,
        client_id: Option<String>,
        created_at: DateTime<Utc>,
        message: Message,
    },
    /// The sender's message is committed.
    Ack {
        client_id: Option<String>,
        message: Message,
    },
    RoomJoined {
        room_id: i64,
    },
    RoomLeft {
        room_id: i64,
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
    SyncComplete {
        #[serde(deserialize_with = "deserialize_positions")]
        rooms: Positions,
        /// `false` if the catch-up was cut short (size limits): send `sync` again with `rooms`.
        #[serde(default = "yes")]
        complete: bool,
    },
    Read {
        room_id: i64,
        user_id: i64,
        last_read_seq: i64,
        unread_count: i64,
    },
    Pong,
    Error {
        code: String,
        message: String,
        /// The `client_id` of the `message` frame that failed, so the client can mark it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
}

impl ServerFrame {
    pub fn new_message(message: Message) -> Self {
        Self::NewMessage {
            room_id: message.room_id,
            message_id: message.id,
            seq: message.seq,
            sender_id: message.sender_id,
            sender_username: message.sender_username.clone(),
            sender_full_name: message.sender_full_name.clone(),
            content: message.content.clone(),
            client_id: message.client_id.clone(),
            created_at: message.created_at,
            message,
        }
    }

    pub fn error(code: &str, message: impl Into<String>) -> Self {
        Self::Error { code: code.into(), message: message.into(), client_id: None }
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
    fn seed_client_frames_parse() {
        let f: ClientFrame = serde_json::from_str(r#"{"type": "join_room", "room_id": 1}"#).expect("join");
        assert_eq!(f, ClientFrame::JoinRoom { room_id: 1 });
        let f: ClientFrame =
            serde_json::from_str(r#"{"type": "message", "room_id": 1, "content": "Hello everyone!"}"#).expect("msg");
        assert_eq!(f, ClientFrame::Message { room_id: 1, content: "Hello everyone!".into(), client_id: None });
        let f: ClientFrame = serde_json::from_str(r#"{"type": "typing", "room_id": 1}"#).expect("typing");
        assert_eq!(f, ClientFrame::Typing { room_id: 1, is_typing: true });
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
        })
        .expect("json");
        assert_eq!(v["type"], "user_typing");
        assert_eq!(v["username"], "jane_doe");
    }
}
