//! What happened, for the connections that must hear of it: the [`Event`]s the domain
//! (`chat`, `accounts`) publishes, and the [`Broker`] that carries them to every node's hub.
//!
//! This module sits between the domain and the transport: `chat` and `accounts` publish here
//! without knowing about WebSockets, and `realtime` implements the broker and applies events to
//! its connections. Dependencies run one way: `realtime` → `events` ← `chat`.

use banter_protocol::ServerFrame;
use serde::{Deserialize, Serialize};

/// Something that happened, addressed by room or user, for every node's hub to apply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Event {
    /// A room event for the subscribed connections of these members (except `skip_user`'s).
    Room { room_id: i64, members: Vec<i64>, skip_user: Option<i64>, frame: ServerFrame },
    /// A room's new messages (`new_message` frames, in `seq` order), for the subscribed
    /// connections of these members: one event per room per send batch, so each connection
    /// takes a batch's messages in one go.
    Messages { room_id: i64, members: Vec<i64>, frames: Vec<ServerFrame> },
    /// A frame for every connection of these users.
    Users { user_ids: Vec<i64>, frame: ServerFrame },
    /// A user left a room (removed, left, or account deleted): stop delivering it to them.
    MemberRemoved { room_id: i64, user_id: i64 },
    /// Close the user's connections of one session, or of all sessions.
    SessionsRevoked { user_id: i64, session_id: Option<String> },
}

/// Carries events to every node. Publishing never waits and never fails from the caller's point
/// of view: delivery is the broker's job.
#[async_trait::async_trait]
pub trait Broker: Send + Sync + 'static {
    fn publish(&self, event: Event);

    /// Whether the link to the other nodes is up: `None` for a single node (nothing to link).
    fn linked(&self) -> Option<bool> {
        None
    }

    /// At shutdown, once the connections have closed: sends on what is still queued for the
    /// other nodes (bounded in time) and stops the broker's background work.
    async fn shutdown(&self) {}
}

/// What a broker reads from the database, through the domain that owns it: a room's messages it
/// missed (a lost publication, a Redis outage), and presence news no event carried (a node died).
#[async_trait::async_trait]
pub trait History: Send + Sync + 'static {
    /// The room's current members and its log's frames (`new_message`, `message_updated`)
    /// after `seq`, oldest first, at most `limit`.
    async fn messages_after(&self, room_id: i64, seq: i64, limit: i64) -> anyhow::Result<(Vec<i64>, Vec<ServerFrame>)>;

    /// The room's current members and its log's frames (`new_message`, `message_updated`)
    /// before `seq` that were logged at or after `since`, oldest first (at most the newest
    /// `limit`).
    async fn recent_before(
        &self,
        room_id: i64,
        seq: i64,
        since: chrono::DateTime<chrono::Utc>,
        limit: i64,
    ) -> anyhow::Result<(Vec<i64>, Vec<ServerFrame>)>;

    /// The last `seq` of each of these rooms (rooms that no longer exist are left out).
    async fn last_seqs(&self, room_ids: &[i64]) -> anyhow::Result<Vec<(i64, i64)>>;

    /// The `presence` frame saying the user is `online` (or not), and whom it is for (the users
    /// they share a room with); `None` if the account is gone.
    async fn presence(&self, user_id: i64, online: bool) -> anyhow::Result<Option<(Vec<i64>, ServerFrame)>>;
}
