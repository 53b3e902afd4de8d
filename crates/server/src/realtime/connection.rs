//! One WebSocket connection: authentication, then a reader loop (client frames) and a writer
//! task (everything queued for this connection, in order).
//!
//! The writer owns the socket's sending half. It is the only place that turns queued
//! [`Outbound`] items into frames, so acks, errors and hub deliveries reach the client in the
//! order they were queued. Catch-up uses that order: on `sync` the reader queues `SyncStart`,
//! subscribes, reads the missed messages and queues them as one `SyncBatch`; the writer holds
//! live frames in between and, after the batch, drops the live `new_message`s the batch already
//! contained — missed messages once, in order, then live ones with no gap.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket};
use banter_protocol::{close, ClientFrame, ServerFrame};
use futures_util::{stream::SplitSink, SinkExt as _, StreamExt as _};
use tokio::{
    sync::{mpsc, watch},
    time::{interval, Instant, MissedTickBehavior},
};

use super::{
    hub::{Outbound, Stop},
    Event,
};
use crate::{
    accounts,
    chat::{self, Target},
    error::Error,
    state::AppState,
    store::User,
};

/// How long a connection opened without a token has to send its `auth` frame.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// A typing indicator ends by itself after this long without a new `typing` frame.
pub const TYPING_EXPIRES: Duration = Duration::from_secs(5);
/// The most live frames held back during one catch-up before the client counts as too slow.
const HOLD_MAX: usize = 4096;

/// Serves one upgraded socket until it closes. `token` is the token from the URL or
/// subprotocol, if there was one.
pub async fn serve(state: AppState, mut socket: WebSocket, token: Option<String>) {
    let token = match token {
        Some(t) => Some(t),
        None => first_frame_token(&mut socket).await,
    };
    let authed = match token {
        Some(t) => accounts::authenticate(&state, &t).await.ok(),
        None => None,
    };
    let Some((user, session_id)) = authed else {
        let _ = socket.send(close_frame(close::INVALID_TOKEN, "Invalid or expired token")).await;
        return;
    };
    let _tracked = state.connections.token();

    let connected = ServerFrame::Connected {
        user_id: user.id,
        username: user.username.clone(),
        message: "Connected to chat server".into(),
    };
    let reg = state.hub.connect(user.id, &session_id, Outbound::Frame(encode(&connected)));
    let (sink, stream) = socket.split();
    // When the writer stops (slow client, revoked session, broken socket) the reader stops too.
    let writer_done = tokio_util::sync::CancellationToken::new();
    let writer = tokio::spawn({
        let done = writer_done.clone().drop_guard();
        async move {
            write_loop(sink, reg.rx, reg.stop).await;
            drop(done);
        }
    });
    let conn = Conn { state: state.clone(), user, id: reg.id, tx: reg.tx, typing: Vec::new() };
    if reg.came_online {
        conn.announce_presence(true).await;
    }
    tracing::debug!(user_id = conn.user.id, conn = conn.id, "websocket connected");

    let conn = Box::pin(read_loop(conn, stream, writer_done)).await;

    if let Some((user_id, _)) = state.hub.disconnect(conn.id) {
        debug_assert_eq!(user_id, conn.user.id);
        conn.announce_presence(false).await;
    }
    drop(conn);
    let _ = writer.await;
}

/// Waits for `{"type": "auth", "token": …}` as the first frame.
async fn first_frame_token(socket: &mut WebSocket) -> Option<String> {
    let frame = tokio::time::timeout(AUTH_TIMEOUT, socket.recv()).await.ok()??.ok()?;
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
    tx: mpsc::Sender<Outbound>,
    /// Rooms this connection is typing in, and when that expires.
    typing: Vec<(i64, Instant)>,
}

impl Conn {
    async fn queue(&self, item: Outbound) {
        // Fails only when the writer is gone, i.e. the connection is closing anyway.
        let _ = self.tx.send(item).await;
    }

    async fn reply(&self, frame: &ServerFrame) {
        if let Ok(text) = serde_json::to_string(frame) {
            self.queue(Outbound::Frame(text.into())).await;
        }
    }

    async fn error(&self, error: &Error, client_id: Option<String>) {
        if let Error::Internal(cause) = error {
            tracing::error!(error = format!("{cause:#}"), user_id = self.user.id, "websocket frame failed");
        }
        self.reply(&ServerFrame::Error { code: error.code().into(), message: error.message(), client_id }).await;
    }

    async fn announce_presence(&self, online: bool) {
        let Ok(peers) = self.state.store.co_member_ids(self.user.id).await else { return };
        let frame = ServerFrame::Presence { user_id: self.user.id, username: self.user.username.clone(), online };
        self.state.broker.publish(Event::Users { user_ids: peers, frame });
    }

    async fn room_event(&self, room_id: i64, frame: ServerFrame) -> Result<(), Error> {
        let members = self.state.store.member_ids(room_id).await?;
        self.state.broker.publish(Event::Room { room_id, members, skip_user: Some(self.user.id), frame });
        Ok(())
    }

    async fn require_member(&self, room_id: i64) -> Result<(), Error> {
        match self.state.store.membership(room_id, self.user.id).await? {
            Some(_) => Ok(()),
            None => Err(Error::NotFound("Room not found".into())),
        }
    }

    async fn handle(&mut self, frame: ClientFrame) -> Result<(), Error> {
        let user_id = self.user.id;
        match frame {
            ClientFrame::Ping => self.reply(&ServerFrame::Pong).await,
            ClientFrame::Auth { .. } => return Err(Error::BadRequest("Already authenticated".into())),
            ClientFrame::JoinRoom { room_id } => {
                self.require_member(room_id).await?;
                let new = self.state.hub.join(self.id, room_id);
                // Announce before answering: once the joiner hears `room_joined`, everyone
                // subscribed at that moment has been told.
                if new {
                    let username = self.user.username.clone();
                    self.room_event(room_id, ServerFrame::UserJoined { room_id, user_id, username }).await?;
                }
                self.reply(&ServerFrame::RoomJoined { room_id }).await;
            }
            ClientFrame::LeaveRoom { room_id } => {
                let was = self.state.hub.leave(self.id, room_id);
                if was && self.state.store.membership(room_id, user_id).await?.is_some() {
                    let username = self.user.username.clone();
                    self.room_event(room_id, ServerFrame::UserLeft { room_id, user_id, username }).await?;
                }
                self.reply(&ServerFrame::RoomLeft { room_id }).await;
            }
            ClientFrame::SubscribeAll => {
                self.state.hub.subscribe_all(self.id);
                let room_ids = self.state.store.room_ids_of(user_id).await?;
                self.reply(&ServerFrame::Subscribed { room_ids }).await;
            }
            ClientFrame::Message { room_id, content, client_id } => {
                let result =
                    chat::send(&self.state, &self.user, Target::Room(room_id), &content, client_id.as_deref()).await;
                match result {
                    Ok((message, _)) => self.reply(&ServerFrame::Ack { client_id, message }).await,
                    Err(e) => self.error(&e, client_id).await,
                }
                self.stop_typing(room_id).await;
            }
            ClientFrame::Typing { room_id, is_typing } => self.typing(room_id, is_typing).await?,
            ClientFrame::Sync { rooms } => {
                // Hold live frames from here until the batch is queued (see the module docs).
                self.queue(Outbound::SyncStart).await;
                self.state.hub.subscribe_all(self.id);
                let (messages, positions, _complete) = match chat::sync(&self.state, &self.user, &rooms).await {
                    Ok(found) => found,
                    Err(e) => {
                        let done = encode(&ServerFrame::SyncComplete { rooms });
                        self.queue(Outbound::SyncBatch { messages: Vec::new(), done }).await;
                        return Err(e);
                    }
                };
                let messages =
                    messages.into_iter().map(|m| (m.room_id, m.seq, encode(&ServerFrame::new_message(m)))).collect();
                let done = encode(&ServerFrame::SyncComplete { rooms: positions });
                self.queue(Outbound::SyncBatch { messages, done }).await;
            }
            ClientFrame::Read { room_id, up_to } => {
                chat::mark_read(&self.state, &self.user, room_id, up_to).await?;
            }
        }
        Ok(())
    }

    async fn typing(&mut self, room_id: i64, is_typing: bool) -> Result<(), Error> {
        if !is_typing {
            self.stop_typing(room_id).await;
            return Ok(());
        }
        self.typing.retain(|(r, _)| *r != room_id);
        self.typing.push((room_id, Instant::now() + TYPING_EXPIRES));
        if self.state.hub.typing_allowed(self.user.id, room_id, true) {
            self.require_member(room_id).await?;
            self.typing_event(room_id, true).await?;
        }
        Ok(())
    }

    async fn stop_typing(&mut self, room_id: i64) {
        let before = self.typing.len();
        self.typing.retain(|(r, _)| *r != room_id);
        if self.typing.len() < before {
            self.state.hub.typing_allowed(self.user.id, room_id, false);
            let _ = self.typing_event(room_id, false).await;
        }
    }

    async fn typing_event(&self, room_id: i64, is_typing: bool) -> Result<(), Error> {
        let (user_id, username) = (self.user.id, self.user.username.clone());
        self.room_event(room_id, ServerFrame::UserTyping { room_id, user_id, username, is_typing }).await
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

fn encode(frame: &ServerFrame) -> std::sync::Arc<str> {
    serde_json::to_string(frame).unwrap_or_default().into()
}

async fn read_loop(
    mut conn: Conn,
    mut stream: futures_util::stream::SplitStream<WebSocket>,
    writer_done: tokio_util::sync::CancellationToken,
) -> Conn {
    let mut shutdown = std::pin::pin!(conn.state.shutdown.clone().cancelled_owned());
    let mut ticks = interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The server pings every `ping_every`; a peer silent for 2.4 pings (60 s by default) is dead.
    let ping_every = conn.state.config.ws_ping_interval;
    let peer_timeout = ping_every.mul_f32(2.4);
    let mut last_heard = Instant::now();
    let mut last_ping = Instant::now();
    loop {
        tokio::select! {
            () = writer_done.cancelled() => break,
            () = &mut shutdown => {
                // Every frame read so far has been handled and answered; close after those.
                conn.queue(Outbound::Close(1001, "server shutting down")).await;
                break;
            }
            _ = ticks.tick() => {
                conn.expire_typing().await;
                let now = Instant::now();
                if now.duration_since(last_heard) > peer_timeout {
                    conn.queue(Outbound::Close(1001, "no answer to ping")).await;
                    break;
                }
                if now.duration_since(last_ping) >= ping_every {
                    last_ping = now;
                    conn.queue(Outbound::Ping).await;
                }
            }
            incoming = stream.next() => {
                last_heard = Instant::now();
                match incoming {
                    Some(Ok(WsMessage::Text(text))) => match serde_json::from_str::<ClientFrame>(&text) {
                        Ok(frame) => {
                            // Boxed: the handler's state (a whole send or sync) is large, and an
                            // idle connection should not carry room for it.
                            if let Err(e) = Box::pin(conn.handle(frame)).await {
                                conn.error(&e, None).await;
                            }
                        }
                        Err(e) => conn.reply(&ServerFrame::error("bad_frame", bad_frame(&text, &e))).await,
                    },
                    Some(Ok(WsMessage::Binary(_))) => {
                        conn.reply(&ServerFrame::error("bad_frame", "Frames must be JSON text")).await;
                    }
                    Some(Ok(WsMessage::Close(_))) | None => break,
                    Some(Ok(_)) => {} // ping/pong: axum answers pings itself
                    Some(Err(e)) => {
                        let too_big = e.to_string().contains("too long") || e.to_string().contains("too big");
                        if too_big {
                            conn.queue(Outbound::Close(1009, "frame too large")).await;
                        }
                        break;
                    }
                }
            }
        }
    }
    conn
}

/// Says what is wrong with an unparseable frame, naming the type or field.
fn bad_frame(text: &str, error: &serde_json::Error) -> String {
    let kind = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned));
    let msg = error.to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg);
    match kind {
        None if error.is_syntax() || error.is_eof() => format!("Invalid JSON: {msg}"),
        None => "Missing field: type".into(),
        Some(kind) if msg.starts_with("unknown variant") => format!("Unknown frame type: {kind}"),
        Some(kind) => format!("Invalid {kind} frame: {msg}"),
    }
}

/// Sends queued items in order; closes on a stop signal even mid-send.
async fn write_loop(
    mut sink: SplitSink<WebSocket, WsMessage>,
    mut rx: mpsc::Receiver<Outbound>,
    mut stop: watch::Receiver<Stop>,
) {
    let mut held: Option<Vec<Outbound>> = None;
    // Once the hub forgets the connection its stop sender is dropped: from then on there is no
    // stop signal, only the queue to drain.
    let mut stop_open = true;
    let mut synced: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
    loop {
        let item = tokio::select! {
            biased;
            changed = stop.changed(), if stop_open => {
                if changed.is_err() {
                    stop_open = false;
                    continue;
                }
                let reason = *stop.borrow();
                if let Some((code, why)) = reason {
                    let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(close_frame(code, why))).await;
                    return;
                }
                continue;
            }
            item = rx.recv() => match item {
                Some(item) => item,
                None => return,
            },
        };
        let batch = match item {
            Outbound::SyncStart => {
                held.get_or_insert_with(Vec::new);
                continue;
            }
            Outbound::SyncBatch { messages, done } => {
                let mut out = Vec::with_capacity(messages.len() + 1);
                for (room, seq, text) in messages {
                    let high = synced.entry(room).or_insert(seq);
                    *high = (*high).max(seq);
                    out.push(Outbound::Frame(text));
                }
                out.push(Outbound::Frame(done));
                out.extend(held.take().unwrap_or_default());
                out
            }
            other => match held.as_mut() {
                Some(h) if h.len() >= HOLD_MAX => {
                    let _ = sink.send(close_frame(close::TOO_SLOW, "too slow during catch-up")).await;
                    return;
                }
                Some(h) => {
                    h.push(other);
                    continue;
                }
                None => vec![other],
            },
        };
        for item in batch {
            let msg = match item {
                Outbound::Ping => WsMessage::Ping(Default::default()),
                Outbound::Frame(text) => WsMessage::Text(Utf8Bytes::from(&*text)),
                // Already delivered by a catch-up batch.
                Outbound::Message { room_id, seq, .. } if synced.get(&room_id).is_some_and(|s| seq <= *s) => continue,
                Outbound::Message { text, .. } => WsMessage::Text(Utf8Bytes::from(&*text)),
                Outbound::Close(code, why) => {
                    let _ = sink.send(close_frame(code, why)).await;
                    return;
                }
                Outbound::SyncStart | Outbound::SyncBatch { .. } => continue,
            };
            // A send blocked on a client that stopped reading still yields to a stop signal; the
            // socket is then dropped (a close frame could not get through it either).
            let sent = {
                let mut send = std::pin::pin!(sink.send(msg));
                loop {
                    tokio::select! {
                        biased;
                        changed = stop.changed(), if stop_open => match changed {
                            Ok(()) if stop.borrow().is_some() => return,
                            Ok(()) => {}
                            Err(_) => stop_open = false,
                        },
                        sent = &mut send => break sent,
                    }
                }
            };
            if sent.is_err() {
                return;
            }
        }
    }
}
