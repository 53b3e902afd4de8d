//! The broker: how an event published on one node reaches the hubs that deliver it.
//!
//! The send path only ever calls [`Broker::publish`]. [`LocalBroker`] hands events straight to
//! this process's hub; a multi-node broker (Redis pub/sub) would publish the serialised event and
//! apply what it receives to its local hub, with no change to the send path.

use std::sync::Arc;

use banter_protocol::ServerFrame;
use serde::{Deserialize, Serialize};

use super::hub::Hub;

/// Something that happened, addressed by room or user, for every node's hub to apply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Event {
    /// A room event for the subscribed connections of these members (except `skip_user`'s).
    Room { room_id: i64, members: Vec<i64>, skip_user: Option<i64>, frame: ServerFrame },
    /// A frame for every connection of these users.
    Users { user_ids: Vec<i64>, frame: ServerFrame },
    /// A user left a room (removed, left, or account deleted): stop delivering it to them.
    MemberRemoved { room_id: i64, user_id: i64 },
    /// Close the user's connections of one session, or of all sessions.
    SessionsRevoked { user_id: i64, session_id: Option<String> },
}

pub trait Broker: Send + Sync + 'static {
    fn publish(&self, event: Event);
}

/// Applies an event to a hub: what every broker does with what it receives.
pub fn apply(hub: &Hub, event: Event) {
    match event {
        Event::Room { room_id, members, skip_user, frame } => hub.deliver_room(room_id, &members, skip_user, &frame),
        Event::Users { user_ids, frame } => hub.deliver_users(&user_ids, &frame),
        Event::MemberRemoved { room_id, user_id } => hub.remove_member(room_id, user_id),
        Event::SessionsRevoked { user_id, session_id } => hub.close_sessions(user_id, session_id.as_deref()),
    }
}

/// One node: events go straight to the local hub.
pub struct LocalBroker {
    hub: Arc<Hub>,
}

impl LocalBroker {
    pub fn new(hub: Arc<Hub>) -> Self {
        Self { hub }
    }
}

impl Broker for LocalBroker {
    fn publish(&self, event: Event) {
        apply(&self.hub, event);
    }
}
