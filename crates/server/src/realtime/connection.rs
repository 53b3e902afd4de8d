//! One WebSocket connection: authentication, then one task that reads client frames and
//! writes everything queued for the connection, in order.
//!
//! One task, not a reader and a writer: an idle connection is then one small future waiting on
//! its socket, its queue and one timer. Its queue ([`Inbox`]) is the only way frames reach the
//! socket, so acks, errors and hub deliveries reach the client in the order they were queued;
//! after handling a client frame the task writes out what is queued before it reads the next
//! one, and a socket that takes nothing for [`WRITE_TIMEOUT`] (or a hub that says stop) ends the
//! connection even mid-write. Catch-up uses that order: on `sync` the task queues `SyncStart`,
//! subscribes, reads the missed messages and queues them as one `SyncBatch`; the writing side
//! holds live frames in between and, after the batch, drops the live `new_message`s the batch
//! already contained — missed messages once, in order, then live ones with no gap.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket};
use banter_protocol::{close, python_repr, ClientFrame, ErrorCode, RoomRef, ServerFrame};
use futures_util::SinkExt as _;
use tokio::time::Instant;

use super::{
    hub::{encode, Announcement, Inbox, Outbound, Outbox, SyncBatch},
    Credentials,
};
use crate::{
    accounts,
    chat::{self, Target},
    error::Error,
    events::Event,
    state::AppState,
    store::User,
};

/// The seed's `error` texts.
const NO_ACCESS: &str = "You don't have access to this room";
const NOT_IN_ROOM: &str = "You are not in this room";

/// A typing indicator ends by itself after this long without a new `typing` frame.
pub const TYPING_EXPIRES: Duration = Duration::from_secs(5);
/// The most bytes of live frames held back during one catch-up before the client counts as
/// too slow.
const HOLD_MAX_BYTES: usize = 4 << 20;
/// A frame that cannot be written within this long means the peer stopped reading.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection being dropped tries to send its close frame.
const LAST_WORD: Duration = Duration::from_secs(1);
/// Client frames per second a connection may send on average, and in a burst — every frame:
/// text, binary, ping and pong alike.
const FRAMES_PER_SECOND: f64 = 100.0;
const FRAME_BURST: f64 = 200.0;
/// Frames refused (each answered with a `rate_limited` error) within [`REFUSED_WINDOW`] before
/// the connection is closed with 1008: a client that does not slow down is cut off.
const REFUSED_MAX: u32 = 400;
const REFUSED_WINDOW: Duration = Duration::from_secs(10);

/// Serves one upgraded socket until it closes.
///
/// This runs in the upgrade's task, which ends once the connection is set up: the connection
/// then lives on in a task of its own ([`run`]), sized for what it holds while it runs — the
/// setup's state (authentication and its futures) is not carried for the connection's life.
pub async fn serve(state: AppState, mut socket: WebSocket, credentials: Credentials, mut slot: super::SocketSlot) {
    // Counted from the upgrade, so that shutdown also waits for a connection still being set up.
    let tracked = state.connections.token();
    let authed = match credentials {
        Credentials::Checked(user, session) => Ok((user, session)),
        Credentials::Later(token) => {
            let token = match token {
                Some(t) => Some(t),
                None => first_frame_token(&mut socket, state.config.ws_auth_timeout).await,
            };
            match token {
                Some(t) => accounts::authenticate(&state, &t).await,
                None => Err(Error::Unauthorized("no token".into())),
            }
        }
    };
    let (mut user, session_id) = match authed {
        Ok(found) => found,
        Err(Error::Unauthorized(_)) => {
            let _ = socket.send(close_frame(close::INVALID_TOKEN, "Invalid token")).await;
            return;
        }
        // Not the client's fault (e.g. the database is down): 1011, so it retries rather than
        // discarding its tokens.
        Err(e) => {
            tracing::warn!(error = %e, "websocket authentication failed");
            let _ = socket.send(close_frame(1011, "Server error, try again")).await;
            return;
        }
    };
    // `MAX_CONNECTIONS_PER_USER` (for `/ws/{token}` checked before the upgrade, with a 429).
    if slot.permit.claim_user(user.id).is_err() {
        let _ = socket.send(close_frame(1008, "Too many connections for this account")).await;
        return;
    }
    // The connection needs the user's id and names; the password hash and the lookup keys are
    // not kept (in memory, once per open connection).
    for unused in [&mut user.hashed_password, &mut user.email, &mut user.username_key, &mut user.email_key] {
        *unused = String::new();
    }

    let connected = ServerFrame::Connected {
        user_id: user.id,
        username: user.username.clone(),
        message: "Connected to chat server".into(),
    };
    let reg = state.hub.connect(user.id, &session_id, Outbound::Frame(encode(&connected)));
    let conn = Conn {
        state: state.clone(),
        user,
        session_id,
        id: reg.id,
        tx: reg.tx,
        typing: Vec::new(),
        budget: FRAME_BURST,
        refilled: Instant::now(),
        refused: (0, Instant::now()),
    };
    // A revocation between authenticating and registering would have missed this connection.
    if !matches!(state.store.user_in_session(conn.user.id, &conn.session_id).await, Ok(Some(_))) {
        state.hub.close_sessions(conn.user.id, Some(&conn.session_id));
    }
    // A shutdown that began before the connection was registered did not reach it.
    if state.shutdown.is_cancelled() {
        conn.tx.close_gracefully();
    }
    if reg.came_online {
        conn.announce_presence(true).await;
    }
    tracing::debug!(user_id = conn.user.id, conn = conn.id, "websocket connected");
    // Handed over in a box: a future keeps its arguments apart from its locals for its whole
    // life, so arguments this large would be held twice.
    let setup = Box::new(Setup { conn, socket, inbox: reg.rx, slot, tracked });
    let task = run(setup);
    tracing::trace!(bytes = std::mem::size_of_val(&task), "connection task");
    tokio::spawn(task);
}

/// What a connection's task starts from.
struct Setup {
    conn: Conn,
    socket: WebSocket,
    inbox: Inbox,
    slot: super::SocketSlot,
    /// Shutdown waits for this connection until its task ends.
    tracked: tokio_util::task::task_tracker::TaskTrackerToken,
}

impl Setup {
    fn unbox(setup: Box<Self>) -> Self {
        *setup
    }
}

/// Unregisters a closed connection; the user goes offline with their last one — on every node.
/// (If another node still counts them, that node says so when they leave there; or, if its
/// record of them is only stale, every node announces it when the record catches up: see
/// `Hub::set_remote_online`.)
async fn finish(conn: Conn) {
    if let Some((user_id, _)) = conn.state.hub.disconnect(conn.id) {
        debug_assert_eq!(user_id, conn.user.id);
        if !conn.state.hub.is_online(user_id) {
            conn.announce_presence(false).await;
        }
    }
}

/// Waits for `{"type": "auth", "token": …}` as the first frame.
async fn first_frame_token(socket: &mut WebSocket, wait: Duration) -> Option<String> {
    let frame = tokio::time::timeout(wait, socket.recv()).await.ok()??.ok()?;
    match frame {
        WsMessage::Text(text) => match serde_json::from_str::<ClientFrame>(&text) {
            Ok(ClientFrame::Auth { token }) => Some(token),
            _ => None,
        },
        _ => None,
    }
}

fn close_frame(code: u16, reason: &'static str) -> WsMessage {
    WsMessage::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))
}

/// The reader's view of its connection.
struct Conn {
    state: AppState,
    user: User,
    id: super::hub::ConnId,
    session_id: String,
    tx: Outbox,
    /// Rooms this connection is typing in (a start was relayed), and when that expires.
    typing: Vec<(i64, Instant)>,
    /// Token bucket for client frames.
    budget: f64,
    refilled: Instant,
    /// Frames refused for coming too fast, and since when (counted per [`REFUSED_WINDOW`]).
    refused: (u32, Instant),
}

impl Conn {
    fn queue(&self, item: Outbound) {
        self.tx.push(item);
    }

    fn reply(&self, frame: &ServerFrame) {
        if let Ok(text) = serde_json::to_string(frame) {
            self.queue(Outbound::Frame(text.into()));
        }
    }

    fn error(&self, error: &Error, client_id: Option<String>) {
        if let Error::Internal(cause) = error {
            tracing::error!(error = format!("{cause:#}"), user_id = self.user.id, "websocket frame failed");
        }
        let retry_after_ms = error.retry_after().map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1));
        self.reply(&ServerFrame::Error { code: error.code(), message: error.message(), client_id, retry_after_ms });
    }

    async fn announce_presence(&self, online: bool) {
        let Ok(peers) = self.state.store.co_member_ids(self.user.id).await else { return };
        // Another connection may have opened or closed meanwhile (a page reload): announce only
        // what is still true, so "offline" never lands after "online".
        if self.state.hub.is_online(self.user.id) != online {
            return;
        }
        let frame = ServerFrame::Presence { user_id: self.user.id, username: self.user.username.clone(), online };
        self.state.broker.publish(Event::Users { user_ids: peers, frame });
    }

    /// Takes one frame from the token bucket; `false` if the client is sending too fast.
    fn admit(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.refilled).as_secs_f64() * FRAMES_PER_SECOND;
        self.budget = (self.budget + refill).min(FRAME_BURST);
        self.refilled = now;
        if self.budget >= 1.0 {
            self.budget -= 1.0;
            true
        } else {
            false
        }
    }

    async fn room_event(&self, room_id: i64, frame: ServerFrame) -> Result<(), Error> {
        let members = self.state.store.member_ids(room_id).await?;
        self.state.broker.publish(Event::Room { room_id, members, skip_user: Some(self.user.id), frame });
        Ok(())
    }

    /// Membership, for the seed's frames; a non-member is told `error_text`.
    async fn require_member(&self, room: &RoomRef, error_text: &'static str) -> Result<i64, Error> {
        let refused = || Error::Forbidden(error_text.into());
        let room_id = room.id().ok_or_else(refused)?;
        match self.state.store.membership(room_id, self.user.id).await? {
            Some(_) => Ok(room_id),
            None => Err(refused()),
        }
    }

    async fn handle(&mut self, frame: ClientFrame) -> Result<(), Error> {
        let user_id = self.user.id;
        match frame {
            ClientFrame::Ping => self.reply(&ServerFrame::Pong),
            ClientFrame::Auth { .. } => return Err(Error::BadRequest("Already authenticated".into())),
            ClientFrame::JoinRoom { room_id: room } => {
                let room_id = self.require_member(&room, NO_ACCESS).await?;
                let new = self.state.hub.join(self.id, room_id);
                // Announce before answering: once the joiner hears `room_joined`, everyone
                // subscribed at that moment has been told.
                if new && self.state.hub.throttle(Announcement::Joined, user_id, room_id) {
                    let username = self.user.username.clone();
                    self.room_event(room_id, ServerFrame::UserJoined { room_id, user_id, username }).await?;
                }
                self.reply(&ServerFrame::room_joined(&room));
            }
            ClientFrame::LeaveRoom { room_id: room } => {
                // As in the seed, leaving always succeeds, joined or not.
                if let Some(room_id) = room.id() {
                    let member = self.state.store.membership(room_id, user_id).await?.is_some();
                    let was = self.state.hub.leave(self.id, room_id, member);
                    if was && member && self.state.hub.throttle(Announcement::Left, user_id, room_id) {
                        let username = self.user.username.clone();
                        self.room_event(room_id, ServerFrame::UserLeft { room_id, user_id, username }).await?;
                    }
                }
                self.reply(&ServerFrame::room_left(&room));
            }
            ClientFrame::SubscribeAll => {
                self.state.hub.subscribe_all(self.id);
                let room_ids = self.state.store.room_ids_of(user_id).await?;
                self.reply(&ServerFrame::Subscribed { room_ids });
            }
            ClientFrame::Message { room_id: room, content, client_id, reply_to_id, attachment_ids } => {
                let result = match room.id() {
                    Some(room_id) => {
                        let out = chat::Outgoing {
                            content: &content,
                            client_id: client_id.as_deref(),
                            reply_to_id,
                            attachment_ids: &attachment_ids,
                        };
                        chat::send(&self.state, &self.user, Target::Room(room_id), out).await
                    }
                    None => Err(Error::NotFound(chat::ROOM_NOT_FOUND.into())),
                };
                match result {
                    Ok((message, _)) => {
                        // The message ended the typing indicator: the next keystroke starts a
                        // new one, announced at once, however soon.
                        self.state.hub.unthrottle(Announcement::Typing, self.user.id, message.room_id);
                        self.reply(&ServerFrame::Ack { client_id, message });
                    }
                    // The seed's words for "not a member of that room".
                    Err(Error::NotFound(_)) => self.error(&Error::Forbidden(NOT_IN_ROOM.into()), client_id),
                    Err(e) => self.error(&e, client_id),
                }
                if let Some(room_id) = room.id() {
                    self.stop_typing(room_id).await;
                }
            }
            ClientFrame::Typing { room_id: room, is_typing } => self.typing(&room, is_typing).await?,
            ClientFrame::Sync { rooms } => {
                // Everything queued before this frame has been written (see `run`), so at most
                // one catch-up batch is in memory. Live frames are held from here until the batch
                // is queued (see the module docs).
                self.queue(Outbound::SyncStart);
                self.state.hub.subscribe_all(self.id);
                let (messages, positions, complete) = match chat::sync(&self.state, &self.user, &rooms).await {
                    Ok(found) => found,
                    Err(e) => {
                        let done = encode(&ServerFrame::SyncComplete { rooms, complete: false });
                        let batch = SyncBatch { messages: Vec::new(), done, covered: Vec::new() };
                        self.queue(Outbound::SyncBatch(Box::new(batch)));
                        return Err(e);
                    }
                };
                let messages = messages
                    .into_iter()
                    .map(|r| {
                        let (room, seq) = (r.room_id(), r.seq());
                        (room, seq, encode(&r.frame()))
                    })
                    .collect();
                let covered = positions.iter().map(|(room, seq)| (*room, *seq)).collect();
                let done = encode(&ServerFrame::SyncComplete { rooms: positions, complete });
                self.queue(Outbound::SyncBatch(Box::new(SyncBatch { messages, done, covered })));
            }
            ClientFrame::Read { room_id, up_to } => {
                chat::mark_read(&self.state, &self.user, room_id, up_to).await?;
            }
        }
        Ok(())
    }

    /// `typing`: relayed to the room's other subscribers. Unlike the seed (⚠BUG B9), only a
    /// member may send it.
    async fn typing(&mut self, room: &RoomRef, is_typing: bool) -> Result<(), Error> {
        let Some(room_id) = room.id() else { return Err(Error::Forbidden(NOT_IN_ROOM.into())) };
        if !is_typing {
            if self.typing.iter().any(|(r, _)| *r == room_id) {
                self.stop_typing(room_id).await;
            } else {
                // Nothing to stop; still, a room one is not in gets the same answer as a start.
                self.require_member(room, NOT_IN_ROOM).await?;
            }
            return Ok(());
        }
        if let Some(entry) = self.typing.iter_mut().find(|(r, _)| *r == room_id) {
            // Already announced: just keep it alive.
            entry.1 = Instant::now() + TYPING_EXPIRES;
            return Ok(());
        }
        // Members only, checked before anything is recorded or relayed.
        self.require_member(room, NOT_IN_ROOM).await?;
        if self.state.hub.throttle(Announcement::Typing, self.user.id, room_id) {
            self.typing.push((room_id, Instant::now() + TYPING_EXPIRES));
            self.typing_event(room_id, true).await?;
        }
        Ok(())
    }

    /// Ends a typing indicator this connection started; nothing if it never announced one.
    async fn stop_typing(&mut self, room_id: i64) {
        let before = self.typing.len();
        self.typing.retain(|(r, _)| *r != room_id);
        if self.typing.len() < before {
            let _ = self.typing_event(room_id, false).await;
        }
    }

    async fn typing_event(&self, room_id: i64, is_typing: bool) -> Result<(), Error> {
        let (user_id, username) = (self.user.id, self.user.username.clone());
        // The name as it is now (it may have changed since this connection opened): read once
        // per announced start, which the flood guard keeps rare.
        let full_name = match is_typing {
            true => match self.state.store.user_by_id(user_id).await {
                Ok(Some(u)) => u.full_name,
                _ => self.user.full_name.clone(),
            },
            false => self.user.full_name.clone(),
        };
        self.room_event(room_id, ServerFrame::UserTyping { room_id, user_id, username, is_typing, full_name }).await
    }

    /// Handles what the socket gave: a client frame (answered, and what is queued written out
    /// before the next is read), a close, or an error. `false` once the connection must end.
    async fn incoming(
        &mut self,
        incoming: Option<Result<WsMessage, axum::Error>>,
        socket: &mut WebSocket,
        inbox: &mut Inbox,
        writer: &mut Writer,
    ) -> bool {
        match incoming {
            Some(Ok(WsMessage::Close(_))) | None => return false,
            Some(Ok(_)) if !self.admit() => {
                let now = Instant::now();
                if now.duration_since(self.refused.1) > REFUSED_WINDOW {
                    self.refused = (0, now);
                }
                self.refused.0 += 1;
                if self.refused.0 > REFUSED_MAX {
                    self.queue(Outbound::Close(1008, "Too many frames"));
                    writer.write_out(socket, inbox, usize::MAX).await;
                    // Unread frames are still coming: closing at once would reset the socket
                    // and could destroy the close frame on its way.
                    linger().await;
                    return false;
                }
                crate::metrics::rate_limited("frames");
                let wait = Duration::from_secs_f64((1.0 - self.budget).max(0.0) / FRAMES_PER_SECOND);
                self.error(
                    &Error::RateLimited { detail: "Too many frames; slow down".into(), retry_after: wait },
                    None,
                );
            }
            Some(Ok(WsMessage::Text(text))) => match parse_frame(&text) {
                Ok(frame) => {
                    // A catch-up starts from an empty queue: one batch in memory at most.
                    if matches!(frame, ClientFrame::Sync { .. }) {
                        let queued = inbox.queued();
                        if !writer.write_out(socket, inbox, queued).await {
                            return false;
                        }
                    }
                    // Boxed: the handler's state (a whole send or sync) is large, and an
                    // idle connection should not carry room for it. While it runs (a send
                    // waits for its commit, a catch-up reads every room), what the hub queues
                    // for this connection keeps going out, and a stop still stops it.
                    let result = {
                        let mut handling = Box::pin(self.handle(frame));
                        loop {
                            tokio::select! {
                                result = &mut handling => break result,
                                () = inbox.output() => {
                                    if !writer.write_out(socket, inbox, WRITE_BATCH).await {
                                        return false;
                                    }
                                }
                            }
                        }
                    };
                    if let Err(e) = result {
                        self.error(&e, None);
                    }
                }
                Err(why) => self.reply(&ServerFrame::error(ErrorCode::BadFrame, why)),
            },
            // The seed stopped answering after one of these (⚠BUG B11); Banter says why.
            Some(Ok(WsMessage::Binary(_))) => {
                self.reply(&ServerFrame::error(ErrorCode::BadFrame, "Frames must be JSON text"));
            }
            Some(Ok(_)) => {} // ping/pong: axum answers pings itself
            Some(Err(e)) => {
                // tungstenite's `Error::Capacity` ("Space limit exceeded: Message too
                // long: …"); the type itself is not reachable through axum.
                let text = e.to_string();
                if text.contains("Space limit exceeded") || text.contains("too long") {
                    self.queue(Outbound::Close(1009, TOO_BIG));
                    writer.write_out(socket, inbox, usize::MAX).await;
                    linger().await;
                }
                return false;
            }
        }
        // The answers go out before the next frame is read (what is queued now: a steady stream
        // of deliveries must not keep the connection from reading).
        let queued = inbox.queued();
        queued == 0 || writer.write_out(socket, inbox, queued).await
    }

    /// When the earliest typing indicator of this connection runs out, if any.
    fn typing_deadline(&self) -> Option<Instant> {
        self.typing.iter().map(|(_, at)| *at).min()
    }

    /// Ends typing indicators that were not renewed in time.
    async fn expire_typing(&mut self) {
        let now = Instant::now();
        let expired: Vec<i64> = self.typing.iter().filter(|(_, at)| *at <= now).map(|(r, _)| *r).collect();
        for room_id in expired {
            self.stop_typing(room_id).await;
        }
    }
}

/// The connection's one task: reads and handles client frames, writes what is queued, pings,
/// and ends typing indicators, until the socket closes, the hub says stop, or the server shuts
/// down.
async fn run(setup: Box<Setup>) {
    // Unboxed by a function, so the box is freed now, not when the task ends.
    let Setup { mut conn, mut socket, mut inbox, slot, tracked } = Setup::unbox(setup);
    let mut writer = Writer::default();
    // The server pings every `ping_every`; a peer silent for 2.4 pings (60 s by default) is dead.
    let ping_every = conn.state.config.ws_ping_interval;
    let peer_timeout = ping_every.mul_f32(2.4);
    let mut last_heard = Instant::now();
    let mut next_ping = last_heard + ping_every;
    // One timer for everything time-driven (ping, silence, typing expiry): an idle connection
    // wakes once per ping interval, not every second.
    let mut timer = std::pin::pin!(tokio::time::sleep_until(next_ping));
    loop {
        let due = [Some(next_ping), Some(last_heard + peer_timeout), conn.typing_deadline()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(next_ping);
        if timer.deadline() != due {
            timer.as_mut().reset(due);
        }
        tokio::select! {
            () = inbox.ready() => {
                if inbox.closing() {
                    // Server shutdown. Every frame read so far has been handled and answered;
                    // close after those.
                    conn.queue(Outbound::Close(1001, "server shutting down"));
                    Box::pin(writer.write_out(&mut socket, &mut inbox, usize::MAX)).await;
                    break;
                }
                if !Box::pin(writer.write_out(&mut socket, &mut inbox, WRITE_BATCH)).await {
                    break;
                }
            }
            () = &mut timer => {
                if !conn.typing.is_empty() {
                    Box::pin(conn.expire_typing()).await;
                }
                let now = Instant::now();
                if now >= last_heard + peer_timeout {
                    conn.queue(Outbound::Close(1001, "no answer to ping"));
                    Box::pin(writer.write_out(&mut socket, &mut inbox, usize::MAX)).await;
                    break;
                }
                if now >= next_ping {
                    next_ping = now + ping_every;
                    conn.queue(Outbound::Ping);
                }
            }
            incoming = socket.recv() => {
                last_heard = Instant::now();
                // Boxed, like everything a branch awaits: an idle connection's task is only as
                // large as what it holds while waiting, not what handling a frame needs.
                if !Box::pin(conn.incoming(incoming, &mut socket, &mut inbox, &mut writer)).await {
                    break;
                }
            }
        }
    }
    drop((socket, inbox, slot));
    Box::pin(finish(conn)).await;
    drop(tracked);
}

/// The reason of a 1009 close (the limit is `super::MAX_FRAME`).
const TOO_BIG: &str = "Message too big: frames are limited to 65536 bytes";

/// After closing with 1009 (the close frame is written), keeps the socket open a moment
/// longer, so that the client reads the close code before the socket goes (the rest of its
/// oversized frame cannot be read as frames, and closing a socket with unread input resets it).
async fn linger() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// Reads a client frame; on failure, the text of the `error` frame that answers it: the seed's
/// `Unknown message type: …` for a `type` it does not know, else what is wrong.
fn parse_frame(text: &str) -> Result<ClientFrame, String> {
    let short = |e: &serde_json::Error| {
        let msg = e.to_string();
        msg.split(" at line ").next().unwrap_or(&msg).to_owned()
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("Invalid JSON: {}", short(&e)))?;
    let Some(object) = value.as_object() else { return Err("Frames must be JSON objects".into()) };
    let kind = object.get("type").cloned().unwrap_or(serde_json::Value::Null);
    if !kind.as_str().is_some_and(|k| ClientFrame::TYPES.contains(&k)) {
        return Err(format!("Unknown message type: {}", python_repr(&kind)));
    }
    serde_json::from_value(value).map_err(|e| format!("Invalid {} frame: {}", python_repr(&kind), short(&e)))
}

/// How the writer should go on after handling one queued item.
enum Next {
    More,
    /// Send this close frame after what is already out, then stop.
    Close(WsMessage),
}

/// The writer's state between items: the catch-up hold (see the module docs).
#[derive(Default)]
struct Writer {
    held: Option<Vec<Outbound>>,
    held_bytes: usize,
    /// Per room, the highest seq a catch-up batch covered.
    synced: std::collections::HashMap<i64, i64>,
}

impl Writer {
    /// Turns one queued item into frames to send (appended to `out`), or holds it.
    fn take(&mut self, item: Outbound, out: &mut Vec<WsMessage>) -> Next {
        let items = match item {
            Outbound::SyncStart => {
                self.held.get_or_insert_with(Vec::new);
                return Next::More;
            }
            Outbound::SyncBatch(batch) => {
                let SyncBatch { messages, done, covered } = *batch;
                self.held_bytes = 0;
                for (room, seq) in covered {
                    let high = self.synced.entry(room).or_insert(seq);
                    *high = (*high).max(seq);
                }
                out.extend(messages.into_iter().map(|(_, _, text)| WsMessage::Text(text)));
                out.push(WsMessage::Text(done));
                self.held.take().unwrap_or_default()
            }
            other => match self.held.as_mut() {
                Some(held) => {
                    self.held_bytes += other.weight();
                    if self.held_bytes > HOLD_MAX_BYTES {
                        return Next::Close(close_frame(close::TOO_SLOW, "too slow during catch-up"));
                    }
                    held.push(other);
                    return Next::More;
                }
                None => vec![other],
            },
        };
        for item in items {
            match item {
                Outbound::Ping => out.push(WsMessage::Ping(Default::default())),
                Outbound::Frame(text) => out.push(WsMessage::Text(text)),
                Outbound::Messages { room_id, items } => {
                    let synced = self.synced.get(&room_id).copied().unwrap_or(0);
                    // Those a catch-up batch already delivered are skipped.
                    out.extend(items.iter().filter(|(seq, _)| *seq > synced).map(|(_, t)| WsMessage::Text(t.clone())));
                }
                Outbound::Close(code, why) => return Next::Close(close_frame(code, why)),
                Outbound::SyncStart | Outbound::SyncBatch(_) => {}
            }
        }
        Next::More
    }
}

/// The most queued items taken into one write.
const WRITE_BATCH: usize = 256;

impl Writer {
    /// Writes up to `limit` queued items (in writes of at most [`WRITE_BATCH`]), or closes if
    /// the hub said stop. Returns `false` once the connection must end.
    ///
    /// Everything taken in one go is fed to the socket, then flushed once: under load, each
    /// socket's frames coalesce into fewer system calls, and an idle socket still gets each
    /// frame at once.
    async fn write_out(&mut self, socket: &mut WebSocket, inbox: &mut Inbox, limit: usize) -> bool {
        let mut written = 0;
        loop {
            if inbox.stop_reason().is_some() {
                last_word(socket, inbox, Ended::Stopped).await;
                return false;
            }
            let mut next = Next::More;
            let mut taken = 0;
            let mut out = Vec::new();
            while matches!(next, Next::More) && taken < WRITE_BATCH && written + taken < limit {
                let Some(item) = inbox.try_recv() else { break };
                next = self.take(item, &mut out);
                taken += 1;
            }
            if taken == 0 {
                return true;
            }
            written += taken;
            let mut ended = None;
            for msg in out.drain(..) {
                if let Err(why) = guarded(socket.feed(msg), inbox).await {
                    ended = Some(why);
                    break;
                }
            }
            if ended.is_none() {
                ended = guarded(socket.flush(), inbox).await.err();
            }
            if let Some(why) = ended {
                last_word(socket, inbox, why).await;
                return false;
            }
            if let Next::Close(frame) = next {
                let _ = tokio::time::timeout(WRITE_TIMEOUT, socket.send(frame)).await;
                return false;
            }
        }
    }
}

/// Why writing to a socket ended the connection.
#[derive(Debug, Clone, Copy)]
enum Ended {
    /// The write failed: the socket is gone.
    Failed,
    /// The hub said stop (the client is too slow, its session was revoked, …).
    Stopped,
    /// The peer took nothing for [`WRITE_TIMEOUT`].
    Stalled,
}

/// Runs one write to the socket, unless the hub says stop or the peer takes nothing for
/// [`WRITE_TIMEOUT`].
async fn guarded<E>(write: impl std::future::Future<Output = Result<(), E>>, inbox: &Inbox) -> Result<(), Ended> {
    tokio::select! {
        biased;
        _ = inbox.stopped() => Err(Ended::Stopped),
        done = write => done.map_err(|_| Ended::Failed),
        () = tokio::time::sleep(WRITE_TIMEOUT) => Err(Ended::Stalled),
    }
}

/// Before dropping a connection that is still there, tries for a moment to send a close frame
/// saying why (after whatever frame was half written: the socket keeps it, so the stream stays
/// well-formed). A client that has stopped reading cannot take it — the bytes ahead of it fill
/// its buffers — and sees the connection end without one (1006); one that reads slowly gets it.
async fn last_word(socket: &mut WebSocket, inbox: &Inbox, why: Ended) {
    let (code, reason) = match (why, inbox.stop_reason()) {
        (Ended::Failed, _) => return,
        (_, Some(stop)) => stop,
        (_, None) => (close::TOO_SLOW, "too slow: nothing read for 10 s"),
    };
    let _ = tokio::time::timeout(LAST_WORD, socket.send(close_frame(code, reason))).await;
}
