//! The hub: which WebSocket connections of this node want which events, and delivery to them.
//!
//! Each connection has a bounded outbound queue. Delivery never waits: a frame that does not fit
//! marks the connection as too slow, and it is closed (close code 4008) instead of growing the
//! server's memory or slowing the rest of its room. One `std::sync::Mutex` guards the indexes;
//! it is never held across an `.await`, and delivery under it is `try_send` only.
//!
//! Who receives a room's message: every connection of every *current member* that either joined
//! the room (`join_room`) or subscribed to all its user's rooms (`subscribe_all`). The member list
//! travels with the event, so a removed member stops receiving at once on every node.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
};

use banter_protocol::{close, ServerFrame};

/// A frame's text, serialised once and shared by every recipient (cloning it is a reference
/// count, not a copy).
pub type Text = axum::extract::ws::Utf8Bytes;

/// What a connection's writer receives, in order. Frames are serialised once for all their
/// recipients.
#[derive(Debug)]
pub enum Outbound {
    Frame(Text),
    /// A WebSocket ping (liveness check).
    Ping,
    /// A room's `new_message` frames, in seq order, with their seqs (what the writer needs to
    /// keep catch-up free of duplicates); shared by every recipient.
    Messages {
        room_id: i64,
        items: Arc<[(i64, Text)]>,
    },
    /// The connection asked for catch-up: hold live frames until the batch arrives.
    SyncStart,
    /// The missed messages and the `sync_complete` frame. Boxed: it is rare and large, and every
    /// queue slot of every connection is as big as the largest variant.
    SyncBatch(Box<SyncBatch>),
    /// Close after everything queued before it (server shutdown).
    Close(u16, &'static str),
}

impl Outbound {
    /// The bytes of text this item puts on the wire (what the outbound bound counts).
    pub fn weight(&self) -> usize {
        match self {
            Self::Frame(t) => t.len(),
            Self::Messages { items, .. } => items.iter().map(|(_, t)| t.len()).sum(),
            Self::SyncBatch(b) => b.messages.iter().map(|(_, _, t)| t.len()).sum::<usize>() + b.done.len(),
            Self::Ping | Self::SyncStart | Self::Close(..) => 0,
        }
    }
}

/// The sending side of a connection's outbound queue, and its stop signal. The hub holds one
/// per connection; the connection's own replies go through a clone, so everything reaches the
/// client in the order it was queued.
///
/// Hub deliveries are bounded: at most [`QUEUE`] items and [`QUEUE_BYTES`] bytes may wait; what
/// does not fit marks the connection as too slow. The queue allocates nothing until something
/// is queued and gives its memory back once drained, so an idle connection costs one small
/// shared block here.
#[derive(Clone)]
pub struct Outbox(Arc<Shared>);

/// The receiving side of an [`Outbox`], held by the connection's task.
pub struct Inbox(Arc<Shared>);

struct Shared {
    queue: Mutex<Queue>,
    /// Wakes the connection's task: something was queued, or it must stop.
    wake: tokio::sync::Notify,
}

#[derive(Default)]
struct Queue {
    /// Each item with the bytes it counts against the bound (hub deliveries only).
    items: std::collections::VecDeque<(Outbound, usize)>,
    /// Bytes of hub deliveries waiting in `items`.
    bytes: usize,
    stop: Stop,
    /// The server is shutting down: the connection closes after what it has read is answered.
    closing: bool,
    /// The connection's task has gone: nothing more is kept.
    closed: bool,
}

fn outbox() -> (Outbox, Inbox) {
    let shared = Arc::new(Shared { queue: Mutex::default(), wake: tokio::sync::Notify::new() });
    (Outbox(shared.clone()), Inbox(shared))
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Outbox {
    /// Queues a hub delivery if it fits; `false` if the queue is full (by items or bytes).
    fn try_push(&self, item: Outbound) -> bool {
        let weight = item.weight();
        let mut queue = self.0.lock();
        // Closed, or told to stop (nothing more will be written): dropped, and not reported
        // again as too slow.
        if queue.closed || queue.stop.is_some() {
            return true;
        }
        // One item always fits, however large.
        if queue.items.len() >= QUEUE || (queue.bytes > 0 && queue.bytes + weight > QUEUE_BYTES) {
            return false;
        }
        queue.bytes += weight;
        queue.items.push_back((item, weight));
        drop(queue);
        self.0.wake.notify_one();
        true
    }

    /// Queues one of the connection's own replies (acks, errors, a catch-up batch). Neither
    /// bounded nor counted against the bound on hub deliveries: the connection queues them
    /// only while handling a client frame and writes out what is queued before it reads the
    /// next one, so they never pile up (a catch-up batch is bounded by `SYNC_BYTES`).
    pub fn push(&self, item: Outbound) {
        let mut queue = self.0.lock();
        if queue.closed {
            return;
        }
        queue.items.push_back((item, 0));
        drop(queue);
        self.0.wake.notify_one();
    }

    /// Tells the connection that the server is shutting down: it answers what it has read,
    /// then closes with 1001.
    pub fn close_gracefully(&self) {
        self.0.lock().closing = true;
        self.0.wake.notify_one();
    }

    /// Tells the connection to close with this code and reason (the first reason given wins),
    /// even while it is blocked writing to a slow socket.
    pub fn stop(&self, code: u16, reason: &'static str) {
        let mut queue = self.0.lock();
        if queue.stop.is_none() {
            queue.stop = Some((code, reason));
        }
        drop(queue);
        self.0.wake.notify_one();
    }
}

impl Inbox {
    /// The next queued item, if any.
    pub fn try_recv(&mut self) -> Option<Outbound> {
        let mut queue = self.0.lock();
        let (item, counted) = queue.items.pop_front()?;
        queue.bytes -= counted;
        if queue.items.is_empty() {
            // Drained: give the memory back (an idle connection keeps none).
            queue.items = std::collections::VecDeque::new();
        }
        Some(item)
    }

    /// How many items are queued.
    pub fn queued(&self) -> usize {
        self.0.lock().items.len()
    }

    /// Whether the server is shutting down.
    pub fn closing(&self) -> bool {
        self.0.lock().closing
    }

    /// Why the connection must close, once told to.
    pub fn stop_reason(&self) -> Stop {
        self.0.lock().stop
    }

    /// Completes when something is queued or the connection is told to stop. Cancel-safe: the
    /// state is checked before every wait.
    pub async fn ready(&self) {
        loop {
            {
                let queue = self.0.lock();
                if !queue.items.is_empty() || queue.stop.is_some() || queue.closing {
                    return;
                }
            }
            self.0.wake.notified().await;
        }
    }

    /// Completes when something is queued or the connection is told to stop — not on shutdown
    /// (for writing while a client frame is handled; shutdown waits for that to finish).
    pub async fn output(&self) {
        loop {
            {
                let queue = self.0.lock();
                if !queue.items.is_empty() || queue.stop.is_some() {
                    return;
                }
            }
            self.0.wake.notified().await;
        }
    }

    /// Completes when the connection is told to stop.
    pub async fn stopped(&self) -> (u16, &'static str) {
        loop {
            if let Some(stop) = self.stop_reason() {
                return stop;
            }
            self.0.wake.notified().await;
        }
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        let mut queue = self.0.lock();
        queue.closed = true;
        queue.items = std::collections::VecDeque::new();
        queue.bytes = 0;
    }
}

/// A catch-up answer: the missed messages (room, seq, frame), then the `sync_complete` frame.
#[derive(Debug)]
pub struct SyncBatch {
    pub messages: Vec<(i64, i64, Text)>,
    pub done: Text,
    /// Per room, the seq the catch-up covered: live frames up to it are not sent again.
    pub covered: Vec<(i64, i64)>,
}

/// Why the hub wants a connection closed: a close code and reason.
pub type Stop = Option<(u16, &'static str)>;

/// How many items (a frame, or one room's messages of one send batch) may wait for one
/// connection before it counts as too slow.
pub const QUEUE: usize = 256;

/// How many bytes of frames may wait for one connection before it counts as too slow (one item
/// always fits, however large).
pub const QUEUE_BYTES: usize = 1 << 20;

pub type ConnId = u64;

struct Conn {
    user_id: i64,
    session_id: Arc<str>,
    tx: Outbox,
    all_rooms: bool,
    /// Small sets, kept as vectors: most connections have none (they subscribe to all).
    rooms: Vec<i64>,
    /// Rooms this connection left with `leave_room` while subscribed to all.
    left: Vec<i64>,
}

impl Conn {
    fn wants(&self, room_id: i64) -> bool {
        self.rooms.contains(&room_id) || (self.all_rooms && !self.left.contains(&room_id))
    }
}

#[derive(Default)]
struct Index {
    conns: HashMap<ConnId, Conn>,
    /// Items queued for connections, and connections stopped for not reading (for metrics).
    delivered: u64,
    too_slow: u64,
    /// Connections per user (presence, per-user frames, room delivery: a room's frames go to
    /// its members' connections, so no per-room index is needed).
    users: HashMap<i64, HashSet<ConnId>>,
}

/// The shortest interval between two relayed typing signals of one user in one room.
pub const TYPING_THROTTLE: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Default)]
pub struct Hub {
    index: Mutex<Index>,
    next_id: AtomicU64,
    /// When each (announcement, user, room) was last relayed.
    throttled: Mutex<HashMap<(Announcement, i64, i64), std::time::Instant>>,
    /// Users online on other nodes (several nodes only).
    remote: Mutex<Remote>,
}

/// Who is online on the other nodes, as their presence records and presence events say.
#[derive(Default)]
struct Remote {
    users: HashSet<i64>,
    /// Users whose presence an event changed lately, and to what: until the records agree (or
    /// for [`RECORDS_LAG`]), a record — written up to 2 s before it was read — does not override
    /// the event.
    recent: HashMap<i64, (std::time::Instant, bool)>,
    /// Whether the records were read once: the first read finds everyone online elsewhere, which
    /// is no news to anyone connected here.
    primed: bool,
}

/// How far behind presence events the other nodes' presence records may be (written every 2 s,
/// read every 2 s; see `realtime::redis`).
const RECORDS_LAG: std::time::Duration = std::time::Duration::from_secs(5);

/// Users whose presence changed without a presence event: came online (`true`) or went offline.
pub type PresenceChanges = Vec<(i64, bool)>;

/// Room announcements a client can trigger, each throttled separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Announcement {
    Typing,
    Joined,
    Left,
}

/// A connection's registration; dropping it does not unregister (call [`Hub::disconnect`]).
pub struct Registration {
    pub id: ConnId,
    pub rx: Inbox,
    /// For the connection's own replies, so they queue in order with hub frames.
    pub tx: Outbox,
    /// True if this is the user's first open connection (they just came online).
    pub came_online: bool,
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, Index> {
        // A panic while holding the lock cannot leave the indexes half-updated in a way that
        // matters more than losing every connection, so keep serving.
        self.index.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a connection. `first` is queued before the connection becomes visible to
    /// publishers, so it is the first frame the client sees (`connected`).
    pub fn connect(&self, user_id: i64, session_id: &str, first: Outbound) -> Registration {
        let (tx, rx) = outbox();
        // Cannot fail: the channel is new, empty and has room.
        tx.try_push(first);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut index = self.lock();
        index.conns.insert(
            id,
            Conn {
                user_id,
                session_id: session_id.into(),
                tx: tx.clone(),
                all_rooms: false,
                rooms: Vec::new(),
                left: Vec::new(),
            },
        );
        let conns = index.users.entry(user_id).or_default();
        conns.insert(id);
        Registration { id, rx, tx, came_online: conns.len() == 1 }
    }

    /// Unregisters a connection; returns `Some(user_id)` if that was the user's last one.
    pub fn disconnect(&self, id: ConnId) -> Option<(i64, Vec<i64>)> {
        let mut index = self.lock();
        let conn = index.conns.remove(&id)?;
        let last = match index.users.get_mut(&conn.user_id) {
            Some(set) => {
                set.remove(&id);
                set.is_empty()
            }
            None => true,
        };
        if last {
            index.users.remove(&conn.user_id);
        }
        last.then(|| (conn.user_id, conn.rooms.into_iter().collect()))
    }

    pub fn join(&self, id: ConnId, room_id: i64) -> bool {
        let mut index = self.lock();
        let Some(conn) = index.conns.get_mut(&id) else { return false };
        conn.left.retain(|r| *r != room_id);
        insert(&mut conn.rooms, room_id)
    }

    /// Unsubscribes a connection from a room. For a member's room this also overrides
    /// `subscribe_all` (non-members' rooms are never delivered anyway, so they are not recorded).
    pub fn leave(&self, id: ConnId, room_id: i64, member: bool) -> bool {
        let mut index = self.lock();
        let Some(conn) = index.conns.get_mut(&id) else { return false };
        remove(&mut conn.rooms, room_id) | (member && conn.all_rooms && insert(&mut conn.left, room_id))
    }

    pub fn subscribe_all(&self, id: ConnId) {
        if let Some(conn) = self.lock().conns.get_mut(&id) {
            conn.all_rooms = true;
            conn.left = Vec::new();
        }
    }

    /// Whether this connection receives `room_id`'s events (joined it, or subscribed to all).
    pub fn is_subscribed(&self, id: ConnId, room_id: i64) -> bool {
        self.lock().conns.get(&id).is_some_and(|c| c.wants(room_id))
    }

    /// Whether the user has a connection here or (with several nodes) on another node.
    pub fn is_online(&self, user_id: i64) -> bool {
        self.lock().users.contains_key(&user_id) || self.remote().users.contains(&user_id)
    }

    /// Which of `user_ids` are online, here or on another node.
    pub fn online_among(&self, user_ids: impl IntoIterator<Item = i64>) -> Vec<i64> {
        let index = self.lock();
        let remote = self.remote();
        user_ids.into_iter().filter(|u| index.users.contains_key(u) || remote.users.contains(u)).collect()
    }

    /// Whether the user has a connection on this node.
    pub fn is_local(&self, user_id: i64) -> bool {
        self.lock().users.contains_key(&user_id)
    }

    /// The users with a connection on this node.
    pub fn local_online(&self) -> Vec<i64> {
        self.lock().users.keys().copied().collect()
    }

    fn remote(&self) -> MutexGuard<'_, Remote> {
        self.remote.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Who is online on the other nodes, as their presence records say now (several nodes; kept
    /// by the broker). Returns whose presence changed without an event saying so — a node that
    /// died and whose record expired, or events lost while Redis was away — for the broker to
    /// announce to this node's connections. Users connected here are never among them.
    pub fn set_remote_online(&self, mut users: HashSet<i64>) -> PresenceChanges {
        let local: HashSet<i64> = self.lock().users.keys().copied().collect();
        let mut remote = self.remote();
        let now = std::time::Instant::now();
        // An event stands until the records agree with it (they caught up), or for the lag.
        remote
            .recent
            .retain(|user, (at, online)| now.duration_since(*at) < RECORDS_LAG && users.contains(user) != *online);
        for (user, (_, online)) in &remote.recent {
            if *online {
                users.insert(*user);
            } else {
                users.remove(user);
            }
        }
        let mut changes = PresenceChanges::new();
        if remote.primed {
            let was = &remote.users;
            changes.extend(users.difference(was).filter(|u| !local.contains(u)).map(|u| (*u, true)));
            changes.extend(was.difference(&users).filter(|u| !local.contains(u)).map(|u| (*u, false)));
        }
        remote.primed = true;
        remote.users = users;
        changes
    }

    /// Another node said a user came online or went offline there.
    pub fn remote_presence(&self, user_id: i64, online: bool) {
        let mut remote = self.remote();
        remote.recent.insert(user_id, (std::time::Instant::now(), online));
        if online {
            remote.users.insert(user_id);
        } else {
            remote.users.remove(&user_id);
        }
    }

    /// Items queued for connections so far, and connections stopped for not reading.
    pub fn counts(&self) -> (u64, u64) {
        let index = self.lock();
        (index.delivered, index.too_slow)
    }

    pub fn connection_count(&self) -> usize {
        self.lock().conns.len()
    }

    /// The subscribed connections of `members` (except `skip_user`'s) for a room.
    fn room_targets(index: &Index, room_id: i64, members: &[i64], skip_user: Option<i64>) -> Vec<ConnId> {
        let mut targets: Vec<ConnId> = Vec::new();
        for user in members.iter().filter(|u| Some(**u) != skip_user) {
            if let Some(conns) = index.users.get(user) {
                targets.extend(conns.iter().filter(|c| index.conns.get(c).is_some_and(|c| c.wants(room_id))));
            }
        }
        targets
    }

    /// Delivers a room event to the subscribed connections of `members`, except `skip_user`'s.
    pub fn deliver_room(&self, room_id: i64, members: &[i64], skip_user: Option<i64>, frame: &ServerFrame) {
        let text = encode(frame);
        let mut index = self.lock();
        let targets = Self::room_targets(&index, room_id, members, skip_user);
        send_all(&mut index, targets, |_| Outbound::Frame(text.clone()));
    }

    /// Delivers a room's new messages, encoded once, as one queue item per connection.
    /// Delivers a room's event frames (`new_message`, `message_updated`), in seq order. They are
    /// serialised once for everyone, except for a user who reacted to one of their messages,
    /// who gets copies of their own (reactions' `me`).
    pub fn deliver_messages(&self, room_id: i64, members: &[i64], frames: &[ServerFrame]) {
        let items: Arc<[(i64, Text)]> = frames.iter().map(|f| (f.seq().unwrap_or(0), encode(f))).collect();
        let reactors: HashSet<i64> = frames
            .iter()
            .filter_map(ServerFrame::message)
            .flat_map(|m| m.reactions.iter().flat_map(|r| r.user_ids.iter().copied()))
            .collect();
        let members_set: HashSet<i64> = members.iter().copied().collect();
        // Only the frames that differ for the user are serialised again.
        let own: HashMap<i64, Arc<[(i64, Text)]>> = reactors
            .into_iter()
            .filter(|u| members_set.contains(u))
            .map(|user| {
                let mine: Arc<[(i64, Text)]> = frames
                    .iter()
                    .zip(items.iter())
                    .map(|(f, shared)| match f.personalized(user) {
                        Some(copy) => (shared.0, encode(&copy)),
                        None => shared.clone(),
                    })
                    .collect();
                (user, mine)
            })
            .collect();
        let mut index = self.lock();
        let targets = Self::room_targets(&index, room_id, members, None);
        send_all(&mut index, targets, |user| Outbound::Messages {
            room_id,
            items: own.get(&user).unwrap_or(&items).clone(),
        });
    }

    /// Delivers a frame to every connection of each of `user_ids`.
    pub fn deliver_users(&self, user_ids: &[i64], frame: &ServerFrame) {
        let text = encode(frame);
        let mut index = self.lock();
        let targets: Vec<ConnId> =
            user_ids.iter().filter_map(|u| index.users.get(u)).flat_map(|s| s.iter().copied()).collect();
        send_all(&mut index, targets, |_| Outbound::Frame(text.clone()));
    }

    /// A user is no longer a member: their connections stop receiving the room at once.
    pub fn remove_member(&self, room_id: i64, user_id: i64) {
        let mut index = self.lock();
        let conns: Vec<ConnId> = index.users.get(&user_id).map(|s| s.iter().copied().collect()).unwrap_or_default();
        for id in conns {
            if let Some(conn) = index.conns.get_mut(&id) {
                remove(&mut conn.rooms, room_id);
            }
        }
    }

    /// Server shutdown: every connection answers what it has read, then closes with 1001.
    pub fn close_all(&self) {
        for conn in self.lock().conns.values() {
            conn.tx.close_gracefully();
        }
    }

    /// Closes the user's connections of one session, or of all sessions.
    pub fn close_sessions(&self, user_id: i64, session_id: Option<&str>) {
        let index = self.lock();
        let Some(conns) = index.users.get(&user_id) else { return };
        for conn in conns.iter().filter_map(|c| index.conns.get(c)) {
            if session_id.is_none_or(|s| *conn.session_id == *s) {
                conn.tx.stop(close::SESSION_REVOKED, "session revoked");
            }
        }
    }

    /// The sessions with a connection here: `(user_id, session_id)`, each once.
    pub fn sessions(&self) -> Vec<(i64, Arc<str>)> {
        let index = self.lock();
        let mut sessions: Vec<(i64, Arc<str>)> =
            index.conns.values().map(|c| (c.user_id, c.session_id.clone())).collect();
        sessions.sort_unstable();
        sessions.dedup();
        sessions
    }

    /// Whether to relay an announcement of `kind` (typing, joined, left) by a user in a room
    /// now: at most one of each kind per user and room every [`TYPING_THROTTLE`], so nobody can
    /// flood a room's members with them.
    pub fn throttle(&self, kind: Announcement, user_id: i64, room_id: i64) -> bool {
        let mut last = self.throttled.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = std::time::Instant::now();
        let key = (kind, user_id, room_id);
        if last.get(&key).is_some_and(|t| now.duration_since(*t) < TYPING_THROTTLE) {
            return false;
        }
        // Forget old entries now and then so the map stays small.
        if last.len() > 10_000 {
            last.retain(|_, t| now.duration_since(*t) < TYPING_THROTTLE);
        }
        last.insert(key, now);
        true
    }
}

impl Hub {
    /// Lets the next announcement of `kind` by the user in the room through at once.
    pub fn unthrottle(&self, kind: Announcement, user_id: i64, room_id: i64) {
        let mut last = self.throttled.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        last.remove(&(kind, user_id, room_id));
    }
}

/// Adds `room` to a small set; `true` if it was not there.
fn insert(set: &mut Vec<i64>, room: i64) -> bool {
    let new = !set.contains(&room);
    if new {
        set.push(room);
    }
    new
}

/// Removes `room` from a small set; `true` if it was there.
fn remove(set: &mut Vec<i64>, room: i64) -> bool {
    let before = set.len();
    set.retain(|r| *r != room);
    set.len() < before
}

pub fn encode(frame: &ServerFrame) -> Text {
    serde_json::to_string(frame)
        .unwrap_or_else(|_| r#"{"type":"error","message":"","code":"internal_error"}"#.into())
        .into()
}

/// Queues `text` for each target. A full queue means the reader is too slow: it is told to
/// close (4008) rather than buffered without bound or waited for.
/// Queues `item(user)` on each target connection, closing those too slow to take it.
fn send_all(index: &mut Index, targets: Vec<ConnId>, item: impl Fn(i64) -> Outbound) {
    index.delivered += targets.len() as u64;
    let mut too_slow = 0;
    for id in targets {
        let Some(conn) = index.conns.get(&id) else { continue };
        if !conn.tx.try_push(item(conn.user_id)) {
            too_slow += 1;
            tracing::warn!(conn = id, user_id = conn.user_id, "outbound queue full; closing slow connection");
            conn.tx.stop(close::TOO_SLOW, "too slow: outbound queue full");
        }
    }
    index.too_slow += too_slow;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(item: Option<Outbound>) -> String {
        match item {
            Some(Outbound::Frame(t)) => t.to_string(),
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[test]
    fn the_first_frame_precedes_anything_published_after_registration() {
        let hub = Hub::default();
        let mut reg = hub.connect(1, "s", Outbound::Frame("first".into()));
        // Published the instant the connection is visible, e.g. a co-member coming online.
        hub.deliver_users(&[1], &ServerFrame::Pong);
        assert_eq!(text(reg.rx.try_recv()), "first");
        assert_eq!(text(reg.rx.try_recv()), r#"{"type":"pong"}"#);
    }

    #[test]
    fn presence_records_report_what_no_event_said_and_never_override_a_newer_event() {
        let hub = Hub::default();
        let set = |users: &[i64]| users.iter().copied().collect::<HashSet<i64>>();
        let sorted = |mut changes: PresenceChanges| {
            changes.sort_unstable();
            changes
        };
        // The first read is no news; 9 is connected here, so never news either.
        let _here = hub.connect(9, "s", Outbound::Frame("hi".into()));
        assert_eq!(hub.set_remote_online(set(&[1, 2, 9])), []);
        assert!(hub.is_online(1) && hub.is_online(2));
        // 2's node died (its record expired); 3 came online and its event was lost.
        assert_eq!(sorted(hub.set_remote_online(set(&[1, 3]))), [(2, false), (3, true)]);
        assert!(!hub.is_online(2) && hub.is_online(3));
        // An event says 1 left; a record written before it still has 1: the event stands, and
        // nothing is reported (the event was delivered).
        hub.remote_presence(1, false);
        assert_eq!(hub.set_remote_online(set(&[1, 3])), []);
        assert!(!hub.is_online(1));
        // The records catch up, then 1 comes back without an event: reported.
        assert_eq!(hub.set_remote_online(set(&[3])), []);
        assert_eq!(hub.set_remote_online(set(&[1, 3])), [(1, true)]);
        // 9 leaves another node while connected here: still online, nothing to report.
        assert_eq!(hub.set_remote_online(set(&[1, 3, 9])), []);
        assert_eq!(hub.set_remote_online(set(&[1, 3])), []);
        assert!(hub.is_online(9));
    }

    #[test]
    fn room_frames_reach_only_subscribed_connections_of_members() {
        let hub = Hub::default();
        let mut joined = hub.connect(1, "a", Outbound::Frame("hi".into()));
        let mut all = hub.connect(2, "b", Outbound::Frame("hi".into()));
        let mut idle = hub.connect(3, "c", Outbound::Frame("hi".into()));
        for r in [&mut joined, &mut all, &mut idle] {
            r.rx.try_recv();
        }
        hub.join(joined.id, 7);
        hub.subscribe_all(all.id);
        hub.deliver_room(7, &[1, 2, 3], None, &ServerFrame::Pong);
        assert!(joined.rx.try_recv().is_some());
        assert!(all.rx.try_recv().is_some());
        assert!(idle.rx.try_recv().is_none(), "not subscribed");
        // Not in the member list (removed from the room): nothing, even when subscribed.
        hub.deliver_room(7, &[3], None, &ServerFrame::Pong);
        assert!(joined.rx.try_recv().is_none() && all.rx.try_recv().is_none());
    }

    #[test]
    fn a_full_queue_stops_the_connection_instead_of_growing() {
        let hub = Hub::default();
        let reg = hub.connect(1, "s", Outbound::Frame("hi".into()));
        hub.subscribe_all(reg.id);
        for _ in 0..QUEUE + 1 {
            hub.deliver_users(&[1], &ServerFrame::Pong);
        }
        assert_eq!(reg.rx.stop_reason(), Some((close::TOO_SLOW, "too slow: outbound queue full")));
    }

    #[test]
    fn the_bound_counts_bytes_not_items() {
        let hub = Hub::default();
        let mut reg = hub.connect(1, "s", Outbound::Frame("hi".into()));
        hub.subscribe_all(reg.id);
        // Few items, but large ones: the byte bound trips long before the item bound.
        let big = ServerFrame::error(banter_protocol::ErrorCode::Unavailable, "x".repeat(100_000));
        for _ in 0..QUEUE_BYTES / 100_000 {
            hub.deliver_users(&[1], &big);
        }
        assert_eq!(reg.rx.stop_reason(), None, "what fits is queued");
        hub.deliver_users(&[1], &big);
        assert_eq!(reg.rx.stop_reason(), Some((close::TOO_SLOW, "too slow: outbound queue full")));
        // Taking items off the queue frees their bytes.
        let hub = Hub::default();
        let mut reg2 = hub.connect(1, "s", Outbound::Frame("hi".into()));
        for _ in 0..3 * (QUEUE_BYTES / 100_000) {
            hub.deliver_users(&[1], &big);
            assert!(reg2.rx.try_recv().is_some());
        }
        assert_eq!(reg2.rx.stop_reason(), None);
        drop(reg.rx.try_recv());
    }

    #[test]
    fn the_connections_own_replies_do_not_count_against_the_bound() {
        let hub = Hub::default();
        let mut reg = hub.connect(1, "s", Outbound::Frame("hi".into()));
        // A large catch-up answer of its own, still unwritten...
        reg.tx.push(Outbound::Frame("x".repeat(2 * QUEUE_BYTES).into()));
        // ...does not make the connection too slow for hub deliveries.
        hub.deliver_users(&[1], &ServerFrame::Pong);
        assert_eq!(reg.rx.stop_reason(), None);
        assert_eq!(reg.rx.queued(), 3);
        while reg.rx.try_recv().is_some() {}
        assert_eq!(reg.rx.queued(), 0);
    }
}
