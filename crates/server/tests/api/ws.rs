//! A WebSocket test client: typed waits on frames, never sleeps.

#![allow(dead_code)]

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio_tungstenite::{
    tungstenite::{self, client::IntoClientRequest as _, protocol::CloseFrame, Message},
    MaybeTlsStream, WebSocketStream,
};

use crate::helpers::TestApp;

pub const WAIT: Duration = Duration::from_secs(10);

pub struct Ws {
    stream: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
}

/// How a connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Closed(u16, String),
    Dropped,
}

impl Ws {
    /// Connects to `/ws/{token}` (the seed's form) and returns after the `connected` frame.
    pub async fn connect(app: &TestApp, token: &str) -> Self {
        let mut ws = Self::open(app, &format!("/ws/{token}")).await;
        let hello = ws.expect("connected").await;
        assert_eq!(hello["message"], "Connected to chat server");
        ws
    }

    /// Connects and subscribes to all the user's rooms.
    pub async fn subscribed(app: &TestApp, token: &str) -> Self {
        let mut ws = Self::connect(app, token).await;
        ws.send(json!({"type": "subscribe_all"})).await;
        ws.expect("subscribed").await;
        ws
    }

    pub fn from_stream(stream: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>) -> Self {
        Self { stream }
    }

    pub async fn open(app: &TestApp, path: &str) -> Self {
        Self::try_open(app, path, &[]).await.expect("websocket connects")
    }

    pub async fn open_request(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Result<Self, String> {
        Self::try_open(app, path, headers).await.map_err(|e| e.to_string())
    }

    /// Opens a socket, keeping the handshake's error (e.g. the refusing HTTP response).
    pub async fn try_open(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Result<Self, tungstenite::Error> {
        let mut req = format!("ws://{}{path}", app.addr).into_client_request().expect("request");
        for (k, v) in headers {
            let name: reqwest::header::HeaderName = k.parse().expect("header name");
            req.headers_mut().insert(name, v.parse().expect("header"));
        }
        tokio_tungstenite::connect_async(req).await.map(|(stream, _)| Self { stream })
    }

    /// The HTTP response that refused an upgrade to `path`: its status and body.
    pub async fn refused(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<u8>) {
        match Self::try_open(app, path, headers).await {
            Ok(_) => panic!("{path}: the upgrade was accepted"),
            Err(tungstenite::Error::Http(resp)) => (resp.status().as_u16(), resp.body().clone().unwrap_or_default()),
            Err(e) => panic!("{path}: expected an HTTP refusal, got {e}"),
        }
    }

    /// Sends a frame built from the protocol crate's types.
    pub async fn send_frame(&mut self, frame: &banter_protocol::ClientFrame) {
        self.send(serde_json::to_value(frame).expect("frame serialises")).await;
    }

    pub async fn send(&mut self, frame: Value) {
        self.stream.send(Message::text(frame.to_string())).await.expect("frame sent");
    }

    pub async fn send_raw(&mut self, text: String) {
        self.stream.send(Message::text(text)).await.expect("frame sent");
    }

    /// Sends a text frame, reporting (not panicking on) a connection the server already ended.
    pub async fn try_send_raw(&mut self, text: String) -> Result<(), tungstenite::Error> {
        self.stream.send(Message::text(text)).await
    }

    pub async fn send_binary(&mut self, data: Vec<u8>) {
        self.stream.send(Message::binary(data)).await.expect("frame sent");
    }

    /// The next message of any kind, exactly as the client library reports it.
    pub async fn next_message(&mut self) -> Option<Result<Message, tungstenite::Error>> {
        tokio::time::timeout(WAIT, self.stream.next()).await.expect("a message within the wait")
    }

    /// The next JSON frame, or how the connection ended.
    pub async fn next(&mut self) -> Result<Value, Ended> {
        let text = self.next_text().await?;
        Ok(serde_json::from_str(&text).expect("JSON frame"))
    }

    /// The next text frame exactly as the server wrote it (checked against the protocol crate),
    /// or how the connection ended.
    pub async fn next_text(&mut self) -> Result<String, Ended> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.stream.next()).await.expect("a frame within the wait");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    // Every frame the server sends must be one the protocol crate describes.
                    if let Err(e) = serde_json::from_str::<banter_protocol::ServerFrame>(&t) {
                        panic!("frame does not match banter_protocol::ServerFrame ({e}): {t}");
                    }
                    return Ok(t.to_string());
                }
                Some(Ok(Message::Close(Some(CloseFrame { code, reason })))) => {
                    return Err(Ended::Closed(code.into(), reason.to_string()))
                }
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return Err(Ended::Dropped),
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next frame of type `kind`, skipping presence and typing chatter.
    pub async fn expect(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next().await.unwrap_or_else(|e| panic!("waiting for {kind}: connection ended: {e:?}"));
            if frame["type"] == kind {
                return frame;
            }
            assert!(is_chatter(frame["type"].as_str().unwrap_or_default()), "waiting for {kind}, got {frame}");
        }
    }

    /// The next frame of type `kind`, passing over any other.
    pub async fn expect_skipping(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next().await.unwrap_or_else(|e| panic!("waiting for {kind}: connection ended: {e:?}"));
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Frames up to and including the first of type `kind`.
    pub async fn until(&mut self, kind: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let frame = self.next().await.unwrap_or_else(|e| panic!("waiting for {kind}: ended: {e:?}"));
            let done = frame["type"] == kind;
            seen.push(frame);
            if done {
                return seen;
            }
        }
    }

    /// Reads until the connection ends.
    pub async fn ended(&mut self) -> Ended {
        loop {
            if let Err(end) = self.next().await {
                return end;
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
        while let Ok(Some(_)) = tokio::time::timeout(WAIT, self.stream.next()).await {}
    }
}

/// Reads frames until one of each `kinds` has come, in any order (an `ack` may come before or
/// after the sender's own `new_message`); chatter is passed over, anything else fails.
pub async fn frames_of(ws: &mut Ws, kinds: &[&str]) -> Vec<Value> {
    let mut got: Vec<Option<Value>> = vec![None; kinds.len()];
    while got.iter().any(Option::is_none) {
        let frame = ws.next().await.unwrap_or_else(|e| panic!("waiting for {kinds:?}: ended {e:?}"));
        let kind = frame["type"].as_str().unwrap_or_default().to_owned();
        match kinds.iter().position(|k| *k == kind) {
            Some(i) => {
                assert!(got[i].is_none(), "a second {kind}: {frame}");
                got[i] = Some(frame);
            }
            None => assert!(is_chatter(&kind), "waiting for {kinds:?}, got {frame}"),
        }
    }
    got.into_iter().map(|f| f.expect("seen")).collect()
}

/// Frames that may come between any two others (presence, typing, read positions, rooms and
/// people changing): waiting for something passes over them.
fn is_chatter(kind: &str) -> bool {
    matches!(kind, "presence" | "user_typing" | "read" | "room_added" | "room_changed" | "user_updated")
}
