//! Several nodes: events travel between them through Redis pub/sub (`REDIS_URL`).
//!
//! Each node applies its own events to its hub at once and publishes them, tagged with its node
//! id, on one channel; every node applies what the others publish. Redis carries events, not
//! data: messages are in the database before they are published, so Redis losing one (a
//! reconnect, an outage) costs delay, never a message.
//!
//! Order and exactly-once: every event, local or remote, goes through one sequencer per node,
//! which remembers the last `seq` it delivered per room. Messages at or below it are duplicates
//! and dropped; a message past the next expected `seq` means some were missed — usually another
//! node's publication still on its way — so it is held until they arrive, or for
//! [`GAP_WAIT`] at most, after which a filler task reads the missing ones from the database and
//! delivers them first. (Within a room, commits happen in `seq` order — each batch locks the room — so when
//! `seq` N is published, all below it are readable.) A room seen for the first time may have
//! messages on their way from another node: those stored since tracking began are read first.
//! After reconnecting to Redis, the filler also reads what each known room got meanwhile.
//! Nothing waiting on a gap, a node's own events are delivered before `publish` returns — so,
//! as on one node, a sender's devices see a message before its ack; when one does wait, the ack
//! can come first (it carries the message; clients drop the later copy by id).
//!
//! Why the `redis` crate: it is the maintained, widely used client, with tokio support and a
//! pub/sub API; reconnecting is a small loop here (with the node's own catch-up on reconnect,
//! which a client library's silent resubscription could not do).

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use banter_protocol::ServerFrame;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{
    broker::apply,
    hub::{Hub, PresenceChanges},
};
use crate::events::{Broker, Event, History};

/// The pub/sub channel every node publishes on.
const CHANNEL: &str = "banter:events";
/// Events waiting to be published at most; past it (Redis too slow or down for long) they are
/// not published — the other nodes fill the gap from the database.
const OUTBOUND: usize = 16 * 1024;
/// How often a node writes who is online on it, and reads who is on the others.
const PRESENCE_EVERY: Duration = Duration::from_secs(2);
/// How long a node's presence record outlives its last write: a node that dies stops counting
/// after this.
const PRESENCE_TTL_SECONDS: i64 = 10;

/// Events published in one pipeline at most.
const PUBLISH_BATCH: usize = 256;
/// How often the subscription is checked with a ping.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// Rooms whose last `seq` is read in one query when catching up.
const CATCH_UP_CHUNK: usize = 500;
/// Messages read from the database per room in one gap fill.
const FILL_LIMIT: i64 = 1000;
/// Rooms whose last delivered `seq` is remembered; past this the memory starts over (each room
/// then takes its next message as given).
const TRACKED_ROOMS: usize = 200_000;

/// What travels on the channel: an event, or a node's word that some of its events were not
/// published (dropped while Redis was slow or refused them), so the others catch up from the
/// database.
#[derive(Deserialize)]
struct Envelope {
    node: u64,
    #[serde(default)]
    event: Option<Event>,
    #[serde(default)]
    catch_up: bool,
}

#[derive(Serialize)]
struct OutgoingEnvelope<'a> {
    node: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<&'a Event>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    catch_up: bool,
}

/// Whether the sequencer knew the room when its event came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Known,
    /// First seen since tracking (re)started: messages stored since then may not have been
    /// delivered here yet (another node's, still on their way).
    First,
}

enum Step {
    /// A room's messages that came after a gap, or behind others waiting on one. Boxed: events
    /// are large, and the channel's slots are as big as the largest step.
    Deferred(Box<Event>, Seen),
    /// Reconnected to Redis: read what every known room got meanwhile.
    CatchUp,
}

pub struct RedisBroker {
    node: u64,
    client: redis::Client,
    sequencer: Arc<Sequencer>,
    outbound: mpsc::Sender<Outgoing>,
    up: Arc<AtomicBool>,
    /// Counts this node's events that were not published, and how many of them the other nodes
    /// were told to catch up on: while they differ, delivery across nodes is degraded.
    drops: Arc<Drops>,
    /// The background tasks, stopped at shutdown (or when the broker is dropped). The presence
    /// loop is first: shutdown stops it before removing this node's record.
    tasks: Vec<tokio::task::AbortHandle>,
}

/// What the publisher is given.
enum Outgoing {
    /// An event, serialised.
    Event(String),
    /// Answer once everything queued before is published, or dropped.
    Flush(tokio::sync::oneshot::Sender<()>),
}

impl RedisBroker {
    /// Starts the publisher, the subscriber, the presence loop and the gap filler. Fails only on
    /// a malformed URL: a Redis that is down now is connected to when it comes up.
    pub fn start(url: &str, hub: Arc<Hub>, history: Arc<dyn History>) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("REDIS_URL: {e}"))?;
        let node: u64 = rand::random();
        let up = Arc::new(AtomicBool::new(false));
        let (deferred, steps) = mpsc::unbounded_channel();
        let sequencer = Arc::new(Sequencer { hub, state: std::sync::Mutex::default(), deferred });
        let (outbound, to_publish) = mpsc::channel(OUTBOUND);
        let drops = Arc::new(Drops::default());
        let tasks = vec![
            tokio::spawn(presence_loop(client.clone(), node, sequencer.clone(), history.clone())).abort_handle(),
            tokio::spawn(fill_loop(steps, sequencer.clone(), history)).abort_handle(),
            tokio::spawn(publish_loop(client.clone(), node, to_publish, drops.clone())).abort_handle(),
            tokio::spawn(subscribe_loop(client.clone(), node, sequencer.clone(), up.clone())).abort_handle(),
        ];
        Ok(Self { node, client, sequencer, outbound, up, drops, tasks })
    }
}

impl Drop for RedisBroker {
    fn drop(&mut self) {
        self.tasks.iter().for_each(tokio::task::AbortHandle::abort);
    }
}

#[async_trait::async_trait]
impl Broker for RedisBroker {
    /// Publishes to the other nodes, and applies here without waiting for Redis (this node's
    /// clients never depend on it). Applied before returning unless the room waits on a gap
    /// fill (see the module docs).
    fn publish(&self, event: Event) {
        match serde_json::to_string(&OutgoingEnvelope { node: self.node, event: Some(&event), catch_up: false }) {
            // Full (Redis slow or down): the others catch up from the database once told.
            Ok(payload) => {
                if self.outbound.try_send(Outgoing::Event(payload)).is_err() && self.drops.drop_one() {
                    tracing::warn!(
                        "Redis is behind; events are not published (other nodes catch up from the database)"
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "an event could not be serialised"),
        }
        self.sequencer.offer(event);
    }

    /// Up when this node receives the others' events and publishes its own.
    fn linked(&self) -> Option<bool> {
        Some(self.up.load(Ordering::Relaxed) && !self.drops.owed())
    }

    /// Publishes what is queued (the connections' last presence events among it), removes this
    /// node's presence record so that its users count as offline at once rather than when the
    /// record expires, and stops. Bounded: a Redis that is away gets 3 s, then is given up on.
    async fn shutdown(&self) {
        if let Some(presence) = self.tasks.first() {
            presence.abort();
        }
        let (done, flushed) = tokio::sync::oneshot::channel();
        let flush = async {
            if self.outbound.send(Outgoing::Flush(done)).await.is_ok() {
                let _ = flushed.await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(3), flush).await.is_err() {
            tracing::warn!("Redis did not take this node's last events before shutdown");
        }
        let forget = async {
            let mut conn = self.client.get_multiplexed_async_connection().await?;
            redis::cmd("DEL").arg(presence_key(self.node)).query_async::<()>(&mut conn).await
        };
        if !matches!(tokio::time::timeout(Duration::from_secs(1), forget).await, Ok(Ok(()))) {
            tracing::debug!("could not remove this node's presence record; it expires by itself");
        }
        self.tasks.iter().for_each(tokio::task::AbortHandle::abort);
    }
}

/// Events not published, and how many of those the other nodes were told about.
#[derive(Default)]
struct Drops {
    dropped: std::sync::atomic::AtomicU64,
    told: std::sync::atomic::AtomicU64,
}

impl Drops {
    /// Counts a dropped event; `true` if it is the first since the others were last told (to
    /// log once).
    fn drop_one(&self) -> bool {
        self.drop_many(1)
    }

    fn drop_many(&self, n: usize) -> bool {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        self.dropped.fetch_add(n, Ordering::Relaxed) == self.told.load(Ordering::Relaxed)
    }

    fn owed(&self) -> bool {
        self.dropped.load(Ordering::Relaxed) != self.told.load(Ordering::Relaxed)
    }
}

fn presence_key(node: u64) -> String {
    format!("banter:presence:{node}")
}

/// A room event frame's seq (`new_message`, `message_updated`).
fn seq_of(frame: &ServerFrame) -> i64 {
    frame.seq().unwrap_or(0)
}

/// Delivers every event, each room's messages once, in order and without gaps.
struct Sequencer {
    hub: Arc<Hub>,
    state: std::sync::Mutex<Delivered>,
    deferred: mpsc::UnboundedSender<Step>,
}

struct Delivered {
    /// When tracking (re)started: a room first seen later may have messages stored since then
    /// that this node has not delivered.
    since: chrono::DateTime<chrono::Utc>,
    /// The last `seq` delivered per room.
    last: HashMap<i64, i64>,
    /// Rooms with messages waiting on a gap fill, and how many steps for each are queued: their
    /// later messages queue behind (never delivered past a gap).
    waiting: HashMap<i64, usize>,
    /// Messages that came before ones they follow (another node's publication still on its
    /// way): held for [`GAP_WAIT`], delivered as soon as the missing ones arrive — or, if they
    /// do not, after the gap is read from the database.
    held: HashMap<i64, Held>,
    /// Numbers each hold, so a timer started for one gap never cuts a later one short.
    next_hold: u64,
}

/// A room's held messages, and which hold (gap) they belong to.
struct Held {
    batches: Vec<Batch>,
    generation: u64,
}

impl Default for Delivered {
    fn default() -> Self {
        Self {
            since: chrono::Utc::now(),
            last: HashMap::new(),
            waiting: HashMap::new(),
            held: HashMap::new(),
            next_hold: 0,
        }
    }
}

/// A room's messages from one event: its members, and the frames in `seq` order.
type Batch = (Vec<i64>, Vec<ServerFrame>);

/// How long messages past a gap wait for the missing ones to arrive through Redis before the
/// gap is read from the database. (Two nodes writing to one room at once make such gaps all
/// the time, for about a Redis round trip; reading each from the database would be slow.)
const GAP_WAIT: Duration = Duration::from_millis(200);

impl Sequencer {
    fn lock(&self) -> std::sync::MutexGuard<'_, Delivered> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Delivers an event now if nothing is missing before it; else holds it until the missing
    /// messages arrive, or queues it for the filler.
    fn offer(self: &Arc<Self>, event: Event) {
        let Event::Messages { room_id, members, frames } = event else {
            apply(&self.hub, event);
            return;
        };
        let Some(first) = frames.first().map(seq_of) else { return };
        let mut state = self.lock();
        if state.last.len() >= TRACKED_ROOMS && !state.last.contains_key(&room_id) {
            // Forget the rooms nothing waits in; a forgotten room counts as first seen again.
            let Delivered { last, held, waiting, .. } = &mut *state;
            last.retain(|room, _| held.contains_key(room) || waiting.contains_key(room));
            state.since = chrono::Utc::now();
        }
        let seen = match state.last.get(&room_id) {
            Some(_) => Seen::Known,
            None => {
                state.last.insert(room_id, first - 1);
                Seen::First
            }
        };
        if seen == Seen::First {
            *state.waiting.entry(room_id).or_insert(0) += 1;
            let event = Box::new(Event::Messages { room_id, members, frames });
            let _ = self.deferred.send(Step::Deferred(event, seen));
            return;
        }
        let last = state.last.get(&room_id).copied().unwrap_or(first - 1);
        let newest = frames.last().map_or(first, seq_of);
        if newest <= last {
            return; // all delivered already
        }
        if state.waiting.contains_key(&room_id) {
            // The filler is reading this room: held until it is done (it then releases them).
            self.hold(&mut state, room_id, (members, frames), false);
            return;
        }
        if first > last + 1 {
            self.hold(&mut state, room_id, (members, frames), true);
            return;
        }
        self.deliver_fresh(&mut state, room_id, &members, frames);
        self.release_held(&mut state, room_id);
    }

    /// Holds a batch past a gap; a new hold with `timed` gets a timer of [`GAP_WAIT`].
    fn hold(self: &Arc<Self>, state: &mut Delivered, room_id: i64, batch: Batch, timed: bool) {
        if let Some(held) = state.held.get_mut(&room_id) {
            held.batches.push(batch);
            return;
        }
        state.next_hold += 1;
        let generation = state.next_hold;
        state.held.insert(room_id, Held { batches: vec![batch], generation });
        if timed {
            self.time_hold(room_id, generation);
        }
    }

    fn time_hold(self: &Arc<Self>, room_id: i64, generation: u64) {
        let sequencer = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(GAP_WAIT).await;
            sequencer.gap_expired(room_id, generation);
        });
    }

    /// Delivers held messages that now follow on (their gap was filled); what still waits past
    /// a gap stays held, timed.
    fn release_held(self: &Arc<Self>, state: &mut Delivered, room_id: i64) {
        loop {
            let last = state.last.get(&room_id).copied().unwrap_or(0);
            let Some(held) = state.held.get_mut(&room_id) else { return };
            held.batches.sort_by_key(|(_, frames)| frames.first().map_or(0, seq_of));
            match held.batches.first() {
                Some((_, frames)) if frames.first().map_or(0, seq_of) <= last + 1 => {
                    let (members, frames) = held.batches.remove(0);
                    self.deliver_fresh(state, room_id, &members, frames);
                }
                Some(_) => return,
                None => {
                    state.held.remove(&room_id);
                    return;
                }
            }
        }
    }

    /// A gap did not close by itself in [`GAP_WAIT`]: what waits behind it goes to the filler,
    /// which reads the gap from the database first. (A timer of an earlier hold does nothing.)
    fn gap_expired(&self, room_id: i64, generation: u64) {
        let mut state = self.lock();
        if state.held.get(&room_id).is_none_or(|h| h.generation != generation) || state.waiting.contains_key(&room_id) {
            return;
        }
        let Some(mut held) = state.held.remove(&room_id) else { return };
        held.batches.sort_by_key(|(_, frames)| frames.first().map_or(0, seq_of));
        for (members, frames) in held.batches {
            *state.waiting.entry(room_id).or_insert(0) += 1;
            let event = Box::new(Event::Messages { room_id, members, frames });
            let _ = self.deferred.send(Step::Deferred(event, Seen::Known));
        }
    }

    /// The filler finished one step for the room: once nothing more is queued for it, what was
    /// held meanwhile is delivered (and what still follows a gap, held and timed anew).
    fn step_done(self: &Arc<Self>, state: &mut Delivered, room_id: i64) {
        Self::done_waiting(state, room_id);
        if state.waiting.contains_key(&room_id) {
            return;
        }
        self.release_held(state, room_id);
        if let Some(held) = state.held.get(&room_id) {
            self.time_hold(room_id, held.generation);
        }
    }

    /// Delivers the frames past the room's last delivered `seq` (the rest were delivered).
    fn deliver_fresh(&self, state: &mut Delivered, room_id: i64, members: &[i64], frames: Vec<ServerFrame>) {
        let last = state.last.get(&room_id).copied().unwrap_or(0);
        let fresh: Vec<ServerFrame> = frames.into_iter().filter(|f| seq_of(f) > last).collect();
        if let Some(newest) = fresh.last().map(seq_of) {
            self.hub.deliver_messages(room_id, members, &fresh);
            state.last.insert(room_id, newest);
        }
    }

    fn done_waiting(state: &mut Delivered, room_id: i64) {
        if let Some(n) = state.waiting.get_mut(&room_id) {
            *n -= 1;
            if *n == 0 {
                state.waiting.remove(&room_id);
            }
        }
    }
}

/// Fills gaps from the database, then delivers what waited on them, in order.
async fn fill_loop(mut steps: mpsc::UnboundedReceiver<Step>, sequencer: Arc<Sequencer>, history: Arc<dyn History>) {
    while let Some(step) = steps.recv().await {
        match step {
            Step::Deferred(event, seen) => {
                let Event::Messages { room_id, members, frames } = *event else { continue };
                let first = frames.first().map_or(0, seq_of);
                if seen == Seen::First {
                    // Stored since tracking began and not delivered here (another node's
                    // publication may still be on its way): deliver those first. Nodes' clocks
                    // may differ a little, hence the margin; what it re-delivers, clients drop
                    // by id.
                    let since = sequencer.lock().since - chrono::Duration::seconds(5);
                    if let Some(Ok((members, earlier))) =
                        retry(|| history.recent_before(room_id, first, since, FILL_LIMIT)).await
                    {
                        if !earlier.is_empty() {
                            sequencer.hub.deliver_messages(room_id, &members, &earlier);
                        }
                    }
                }
                let last = sequencer.lock().last.get(&room_id).copied().unwrap_or(first - 1);
                if first > last + 1 {
                    // Nothing else delivers this room meanwhile: its messages wait in line here.
                    let filled = fill(&sequencer.hub, history.as_ref(), room_id, last, first - 1).await;
                    sequencer.lock().last.insert(room_id, filled);
                }
                let mut state = sequencer.lock();
                sequencer.deliver_fresh(&mut state, room_id, &members, frames);
                sequencer.step_done(&mut state, room_id);
            }
            Step::CatchUp => catch_up(&sequencer, history.as_ref()).await,
        }
    }
}

/// Reads what the known rooms got that this node has not delivered (after a reconnect, or when
/// another node died or dropped events): compares each room's last `seq` in the database with
/// the last delivered, in chunks, and fills only the rooms behind — their live messages held
/// meanwhile.
async fn catch_up(sequencer: &Arc<Sequencer>, history: &dyn History) {
    let rooms: Vec<i64> = sequencer.lock().last.keys().copied().collect();
    for chunk in rooms.chunks(CATCH_UP_CHUNK) {
        let Some(Ok(stored)) = retry(|| history.last_seqs(chunk)).await else {
            tracing::warn!("could not catch up from the database; clients recover with sync");
            return;
        };
        // Behind, and not already waiting on a fill (which reads up to the latest itself).
        let behind: Vec<(i64, i64, i64)> = {
            let mut state = sequencer.lock();
            let behind: Vec<(i64, i64, i64)> = stored
                .into_iter()
                .filter(|(room, _)| !state.waiting.contains_key(room))
                .filter_map(|(room, newest)| {
                    let last = state.last.get(&room).copied()?;
                    (newest > last).then_some((room, last, newest))
                })
                .collect();
            for (room, _, _) in &behind {
                state.waiting.insert(*room, 1);
            }
            behind
        };
        for (room_id, last, newest) in behind {
            let filled = fill(&sequencer.hub, history, room_id, last, newest).await;
            let mut state = sequencer.lock();
            let now = state.last.entry(room_id).or_insert(filled);
            *now = (*now).max(filled);
            sequencer.step_done(&mut state, room_id);
        }
    }
}

/// Delivers the room's messages after `after` up to `upto` from the database; returns the last
/// `seq` delivered.
async fn fill(hub: &Hub, history: &dyn History, room_id: i64, after: i64, upto: i64) -> i64 {
    let mut last = after;
    while last < upto {
        match retry(|| history.messages_after(room_id, last, FILL_LIMIT)).await {
            Some(Ok((members, frames))) => {
                let frames: Vec<ServerFrame> = frames.into_iter().filter(|f| seq_of(f) <= upto).collect();
                let Some(newest) = frames.last().map(seq_of) else { break };
                hub.deliver_messages(room_id, &members, &frames);
                last = newest;
            }
            _ => {
                // The database could not be read for a few seconds: live delivery goes on
                // from here, and the room's clients recover the rest with `sync`.
                tracing::warn!(room_id, after = last, "could not fill a gap in a room's messages");
                break;
            }
        }
    }
    last
}

/// Runs a database read up to four times, waiting 0.1, 0.4 and 1.6 s between tries.
async fn retry<T, F, Fut>(read: F) -> Option<anyhow::Result<T>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut wait = Duration::from_millis(100);
    for attempt in 0..4 {
        match read().await {
            Ok(found) => return Some(Ok(found)),
            Err(e) if attempt == 3 => return Some(Err(e)),
            Err(e) => tracing::debug!(error = %e, "a gap fill read failed; retrying"),
        }
        tokio::time::sleep(wait).await;
        wait *= 4;
    }
    None
}

/// Publishes this node's events in order, each at least once: while Redis is unreachable the
/// next event waits (and the rest queue behind it, up to [`OUTBOUND`]) and is sent again once
/// Redis is back — a publication whose answer was lost may arrive twice, which the receivers'
/// sequencers drop. Events that could not wait (the queue was full, or Redis refused them) are
/// dropped and counted; the next batch that goes out ends with a catch-up word, on which the
/// other nodes read what they missed from the database.
async fn publish_loop(client: redis::Client, node: u64, mut events: mpsc::Receiver<Outgoing>, drops: Arc<Drops>) {
    let catch_up = serde_json::to_string(&OutgoingEnvelope { node, event: None, catch_up: true }).unwrap_or_default();
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    // Everything waiting goes out in one pipeline: one round trip for many events.
    let mut pending: Vec<String> = Vec::new();
    // Asked to answer once `pending` is out.
    let mut flushes: Vec<tokio::sync::oneshot::Sender<()>> = Vec::new();
    let mut backoff = Duration::from_millis(50);
    loop {
        if pending.is_empty() {
            for done in flushes.drain(..) {
                let _ = done.send(());
            }
            match events.recv().await {
                Some(Outgoing::Event(p)) => pending.push(p),
                Some(Outgoing::Flush(done)) => {
                    let _ = done.send(());
                    continue;
                }
                None => return,
            }
        }
        while pending.len() < PUBLISH_BATCH && flushes.is_empty() {
            match events.try_recv() {
                Ok(Outgoing::Event(p)) => pending.push(p),
                Ok(Outgoing::Flush(done)) => flushes.push(done),
                Err(_) => break,
            }
        }
        if conn.is_none() {
            // Answers may take a while for a large pipeline; the timeout below bounds the wait.
            let config = redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(5)));
            let connecting = tokio::time::timeout(
                Duration::from_secs(2),
                client.get_multiplexed_async_connection_with_config(&config),
            );
            conn = connecting.await.ok().and_then(Result::ok);
        }
        let Some(c) = conn.as_mut() else {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
            continue;
        };
        // Dropped events not yet told about: this batch ends with the word.
        let dropped = drops.dropped.load(Ordering::Relaxed);
        let tell = dropped != drops.told.load(Ordering::Relaxed);
        let mut pipe = redis::pipe();
        for payload in pending.iter().chain(tell.then_some(&catch_up)) {
            pipe.cmd("PUBLISH").arg(CHANNEL).arg(payload).ignore();
        }
        // Bounded: a connection to a Redis that went away can leave a request unanswered.
        match tokio::time::timeout(Duration::from_secs(5), pipe.query_async::<()>(c)).await {
            Ok(Ok(())) => {
                pending.clear();
                backoff = Duration::from_millis(50);
                if tell {
                    drops.told.store(dropped, Ordering::Relaxed);
                    tracing::info!("publishing to Redis again; the other nodes catch up on what was dropped");
                }
            }
            // Redis answered, and refused (say, NOAUTH or READONLY): trying again would block
            // every later event behind these. Dropped and counted.
            Ok(Err(e)) if !(e.is_io_error() || e.is_connection_dropped() || e.is_timeout()) => {
                if drops.drop_many(pending.len()) {
                    tracing::error!(error = %e, "Redis refuses this node's events; other nodes catch up from the database");
                }
                pending.clear();
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
            _ => {
                conn = None;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Cluster-wide presence: every [`PRESENCE_EVERY`], writes the users connected to this node as
/// `banter:presence:{node}` (expiring after [`PRESENCE_TTL_SECONDS`]) and reads the other
/// nodes' records into the hub. Presence frames from other nodes update it in between; a node
/// that dies drops out when its record expires.
async fn presence_loop(client: redis::Client, node: u64, sequencer: Arc<Sequencer>, history: Arc<dyn History>) {
    let hub = sequencer.hub.clone();
    let own = presence_key(node);
    // The other nodes' records last read: one that disappears is a node that died (or stopped),
    // perhaps before it published its last messages.
    let mut nodes: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    let mut every = tokio::time::interval(PRESENCE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if conn.is_none() {
            let connecting = tokio::time::timeout(Duration::from_secs(2), client.get_multiplexed_async_connection());
            conn = connecting.await.ok().and_then(Result::ok);
        }
        let Some(c) = conn.as_mut() else { continue };
        let round = async {
            let users = hub.local_online();
            let mut pipe = redis::pipe();
            pipe.atomic().cmd("DEL").arg(&own).ignore();
            if !users.is_empty() {
                pipe.cmd("SADD").arg(&own).arg(&users).ignore();
                pipe.cmd("EXPIRE").arg(&own).arg(PRESENCE_TTL_SECONDS).ignore();
            }
            pipe.query_async::<()>(c).await?;
            let mut others = std::collections::HashSet::new();
            let mut seen = std::collections::HashSet::new();
            let mut cursor: u64 = 0;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg("banter:presence:*")
                    .arg("COUNT")
                    .arg(100)
                    .query_async(c)
                    .await?;
                for key in keys.into_iter().filter(|k| *k != own) {
                    let members: Vec<i64> = redis::cmd("SMEMBERS").arg(&key).query_async(c).await?;
                    others.extend(members);
                    seen.insert(key);
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            redis::RedisResult::Ok((others, seen))
        };
        match tokio::time::timeout(Duration::from_secs(5), round).await {
            Ok(Ok((others, seen))) => {
                if nodes.iter().any(|n| !seen.contains(n)) {
                    let _ = sequencer.deferred.send(Step::CatchUp);
                }
                nodes = seen;
                let changes = hub.set_remote_online(others);
                announce(&hub, history.as_ref(), changes).await;
            }
            // Redis is away (the subscriber says so once); what other nodes said last stands.
            _ => conn = None,
        }
    }
}

/// Presence news found in the records rather than in an event (a node died, or events were lost
/// while Redis was away), told to the users here who share a room with each user — each node
/// tells its own connections.
async fn announce(hub: &Hub, history: &dyn History, changes: PresenceChanges) {
    for (user_id, online) in changes {
        match retry(|| history.presence(user_id, online)).await {
            // Announced only if still true (they may have come back meanwhile).
            Some(Ok(Some((peers, frame)))) if hub.is_online(user_id) == online => hub.deliver_users(&peers, &frame),
            Some(Err(e)) => tracing::warn!(error = %e, user_id, "presence change not announced: the database is away"),
            _ => {}
        }
    }
}

/// Receives the other nodes' events; reconnects with backoff, and after each reconnect has the
/// sequencer catch up from the database. Logs each change of state once.
async fn subscribe_loop(client: redis::Client, node: u64, sequencer: Arc<Sequencer>, up: Arc<AtomicBool>) {
    let mut backoff = Duration::from_millis(100);
    let mut was_up = false;
    let mut reported_down = false;
    loop {
        let connected = tokio::time::timeout(Duration::from_secs(2), async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(CHANNEL).await?;
            redis::RedisResult::Ok(pubsub)
        })
        .await;
        match connected {
            Ok(Ok(pubsub)) => {
                up.store(true, Ordering::Relaxed);
                tracing::info!("connected to Redis; events flow between nodes");
                if was_up || reported_down {
                    let _ = sequencer.deferred.send(Step::CatchUp);
                }
                was_up = true;
                backoff = Duration::from_millis(100);
                let (mut sink, mut messages) = pubsub.split();
                // A ping now and then: a connection that died without a word (a half-open TCP
                // connection) would otherwise look up forever.
                let mut keepalive = tokio::time::interval(KEEPALIVE);
                keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                keepalive.tick().await;
                loop {
                    tokio::select! {
                        msg = messages.next() => {
                            let Some(msg) = msg else { break };
                            match serde_json::from_slice::<Envelope>(msg.get_payload_bytes()) {
                                Ok(envelope) if envelope.node == node => {}
                                Ok(Envelope { catch_up: true, .. }) => {
                                    let _ = sequencer.deferred.send(Step::CatchUp);
                                }
                                Ok(Envelope { event: Some(event), .. }) => {
                                    // Another node's user came online or went offline there.
                                    if let Event::Users { frame: ServerFrame::Presence { user_id, online, .. }, .. } = &event {
                                        sequencer.hub.remote_presence(*user_id, *online);
                                        // Not what is true here (connected here too, say): not news.
                                        if sequencer.hub.is_online(*user_id) != *online {
                                            continue;
                                        }
                                    }
                                    sequencer.offer(event);
                                }
                                Ok(_) => {}
                                Err(e) => tracing::warn!(error = %e, "an event from Redis could not be read"),
                            }
                        }
                        _ = keepalive.tick() => {
                            let ping = tokio::time::timeout(Duration::from_secs(5), sink.ping::<redis::Value>()).await;
                            if !matches!(ping, Ok(Ok(_))) {
                                break;
                            }
                        }
                    }
                }
                up.store(false, Ordering::Relaxed);
                tracing::warn!("lost the connection to Redis; messages are still stored, and delivered across nodes once it is back");
                reported_down = true;
            }
            Ok(Err(e)) if !reported_down => {
                up.store(false, Ordering::Relaxed);
                tracing::warn!(error = %e, "cannot reach Redis; retrying (messages are still stored)");
                reported_down = true;
            }
            Err(_) if !reported_down => {
                up.store(false, Ordering::Relaxed);
                tracing::warn!("Redis did not answer in 2 s; retrying (messages are still stored)");
                reported_down = true;
            }
            _ => {}
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::hub::Outbound;

    fn frame(room: i64, seq: i64) -> ServerFrame {
        ServerFrame::new_message(banter_protocol::Message {
            id: seq,
            chat_room_id: room,
            sender_id: Some(1),
            content: format!("m{seq}"),
            is_read: false,
            created_at: chrono::Utc::now(),
            sender_username: "u".into(),
            sender_full_name: None,
            room_id: room,
            seq,
            client_id: None,
            edited_at: None,
            deleted_at: None,
            reactions: Vec::new(),
            reply_to: None,
            mentions: Vec::new(),
            attachments: Vec::new(),
        })
    }

    fn batch(room: i64, seqs: std::ops::RangeInclusive<i64>) -> Event {
        Event::Messages { room_id: room, members: vec![1], frames: seqs.map(|s| frame(room, s)).collect() }
    }

    /// The room's stored messages, as the database would give them (a test double for the
    /// database, for the sequencing logic alone; the cluster tests run the real thing).
    struct Stored(Vec<i64>);

    #[async_trait::async_trait]
    impl History for Stored {
        async fn messages_after(
            &self,
            room: i64,
            seq: i64,
            limit: i64,
        ) -> anyhow::Result<(Vec<i64>, Vec<ServerFrame>)> {
            let frames = self.0.iter().filter(|s| **s > seq).take(limit as usize).map(|s| frame(room, *s)).collect();
            Ok((vec![1], frames))
        }

        async fn recent_before(
            &self,
            room: i64,
            seq: i64,
            _since: chrono::DateTime<chrono::Utc>,
            _limit: i64,
        ) -> anyhow::Result<(Vec<i64>, Vec<ServerFrame>)> {
            Ok((vec![1], self.0.iter().filter(|s| **s < seq).map(|s| frame(room, *s)).collect()))
        }

        async fn last_seqs(&self, rooms: &[i64]) -> anyhow::Result<Vec<(i64, i64)>> {
            Ok(rooms.iter().map(|r| (*r, self.0.iter().copied().max().unwrap_or(0))).collect())
        }

        async fn presence(&self, _user: i64, _online: bool) -> anyhow::Result<Option<(Vec<i64>, ServerFrame)>> {
            Ok(None)
        }
    }

    fn sequencer(stored: Vec<i64>) -> (Arc<Sequencer>, crate::realtime::hub::Inbox) {
        let hub = Arc::new(Hub::default());
        let mut reg = hub.connect(1, "s", Outbound::Frame("hi".into()));
        hub.subscribe_all(reg.id);
        let _ = reg.rx.try_recv();
        let (deferred, steps) = mpsc::unbounded_channel();
        let sequencer = Arc::new(Sequencer { hub, state: std::sync::Mutex::default(), deferred });
        tokio::spawn(fill_loop(steps, sequencer.clone(), Arc::new(Stored(stored))));
        (sequencer, reg.rx)
    }

    /// The seqs delivered so far, in order.
    fn delivered(inbox: &mut crate::realtime::hub::Inbox) -> Vec<i64> {
        let mut seqs = Vec::new();
        while let Some(item) = inbox.try_recv() {
            if let Outbound::Messages { items, .. } = item {
                seqs.extend(items.iter().map(|(seq, _)| *seq));
            }
        }
        seqs
    }

    async fn until_delivered(inbox: &mut crate::realtime::hub::Inbox, want: &[i64]) -> Vec<i64> {
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while got.len() < want.len() && tokio::time::Instant::now() < deadline {
            inbox.ready().await;
            got.extend(delivered(inbox));
        }
        got
    }

    #[tokio::test]
    async fn out_of_order_messages_wait_for_the_gap_and_duplicates_are_dropped() {
        // Nothing in the database before seq 1: the first-seen read finds nothing.
        let (seq, mut inbox) = sequencer(vec![]);
        seq.offer(batch(7, 1..=2));
        assert_eq!(until_delivered(&mut inbox, &[1, 2]).await, [1, 2]);
        // 5 comes before 3-4 (another node's, on their way): held, then all in order.
        seq.offer(batch(7, 5..=5));
        seq.offer(batch(7, 3..=4));
        assert_eq!(until_delivered(&mut inbox, &[3, 4, 5]).await, [3, 4, 5]);
        // Duplicates (a re-sent publication) are dropped.
        seq.offer(batch(7, 2..=5));
        seq.offer(batch(7, 6..=6));
        assert_eq!(until_delivered(&mut inbox, &[6]).await, [6]);
    }

    #[tokio::test]
    async fn catching_up_reads_only_what_a_known_room_missed() {
        let (seq, mut inbox) = sequencer((1..=9).collect());
        seq.offer(batch(4, 1..=5));
        assert_eq!(until_delivered(&mut inbox, &[1, 2, 3, 4, 5]).await, [1, 2, 3, 4, 5]);
        // 6-9 were committed, and their publication lost (say, the node that wrote them died).
        let _ = seq.deferred.send(Step::CatchUp);
        assert_eq!(until_delivered(&mut inbox, &[6, 7, 8, 9]).await, [6, 7, 8, 9]);
        // Nothing more to read: a second catch-up delivers nothing, and live delivery goes on.
        let _ = seq.deferred.send(Step::CatchUp);
        seq.offer(batch(4, 10..=10));
        assert_eq!(until_delivered(&mut inbox, &[10]).await, [10]);
    }

    #[tokio::test]
    async fn a_gap_that_does_not_close_is_read_from_the_database() {
        let (seq, mut inbox) = sequencer((1..=9).collect());
        // First seen at 3: 1-2, stored since tracking began, are read first.
        seq.offer(batch(3, 3..=3));
        assert_eq!(until_delivered(&mut inbox, &[1, 2, 3]).await, [1, 2, 3]);
        // 4-6 never arrive through Redis: after the hold, they come from the database, then 7.
        seq.offer(batch(3, 7..=7));
        assert_eq!(until_delivered(&mut inbox, &[4, 5, 6, 7]).await, [4, 5, 6, 7]);
        // And the room is back on the fast path: the next one is delivered at once.
        seq.offer(batch(3, 8..=8));
        assert_eq!(delivered(&mut inbox), [8]);
    }
}
