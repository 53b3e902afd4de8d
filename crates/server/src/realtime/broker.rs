//! The in-process broker, and how every broker applies what it receives to its hub.
//!
//! The send path only ever calls [`Broker::publish`] (`crate::events`). [`LocalBroker`] hands events straight to
//! this process's hub; a multi-node broker (Redis pub/sub) would publish the serialised event and
//! apply what it receives to its local hub, with no change to the send path.

use std::sync::Arc;

use super::hub::Hub;
use crate::events::{Broker, Event};

/// Applies an event to a hub: what every broker does with what it receives.
pub fn apply(hub: &Hub, event: Event) {
    match event {
        Event::Room { room_id, members, skip_user, frame } => hub.deliver_room(room_id, &members, skip_user, &frame),
        Event::Messages { room_id, members, frames } => hub.deliver_messages(room_id, &members, &frames),
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
