//! Real-time delivery: the hub of open WebSocket connections, the broker that feeds it, and the
//! connection task speaking the seed's protocol (`docs/PROTOCOL.md`).

pub mod broker;
mod connection;
pub mod hub;

use axum::{
    extract::{ws::WebSocketUpgrade, Path, State},
    http::{header, HeaderMap},
    response::Response,
    routing::get,
    Router,
};
pub use broker::{Broker, Event, LocalBroker};
pub use hub::Hub;

use crate::{error::Error, state::AppState};

/// The largest client frame accepted, in bytes (a 5,000-character message is at most 20 KB).
pub const MAX_FRAME: usize = 64 * 1024;
/// Per-connection socket buffers: small, because an idle connection should cost little
/// (axum's default read buffer alone is 128 KiB).
const BUFFER: usize = 4 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade)).route("/ws/{token}", get(upgrade_with_token))
}

/// `ws://HOST/ws/{token}`: the seed's form.
async fn upgrade_with_token(
    state: State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, Error> {
    accept(state, Some(token), &headers, ws)
}

/// `ws://HOST/ws`: the token comes as the subprotocol `bearer.<token>` or in a first
/// `{"type": "auth"}` frame, so it never appears in a URL (or a proxy's access log).
async fn upgrade(state: State<AppState>, headers: HeaderMap, ws: WebSocketUpgrade) -> Result<Response, Error> {
    accept(state, None, &headers, ws)
}

fn accept(
    State(state): State<AppState>,
    token: Option<String>,
    headers: &HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, Error> {
    check_origin(&state, headers)?;
    // Counted from the upgrade on, authenticated or not: every socket holds a descriptor.
    let slot = SocketSlot::take(&state).ok_or_else(|| {
        tracing::warn!(limit = state.max_connections, "websocket refused: connection limit reached");
        Error::Unavailable("Too many connections; try again later".into())
    })?;
    let offered = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|p| p.starts_with("bearer."))
        .map(str::to_owned);
    let mut ws =
        ws.read_buffer_size(BUFFER).write_buffer_size(BUFFER).max_message_size(MAX_FRAME).max_frame_size(MAX_FRAME);
    let token = match (token, offered) {
        (Some(t), _) => Some(t),
        (None, Some(protocol)) => {
            ws = ws.protocols([protocol.clone()]);
            protocol.strip_prefix("bearer.").map(str::to_owned)
        }
        (None, None) => None,
    };
    Ok(ws.on_upgrade(move |socket| async move {
        let _slot = slot;
        connection::serve(state, socket, token).await;
    }))
}

/// One of the node's `max_connections` socket slots, released when dropped (also when the
/// upgrade never completes).
struct SocketSlot(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl SocketSlot {
    fn take(state: &AppState) -> Option<Self> {
        use std::sync::atomic::Ordering;
        let taken = state.sockets.fetch_add(1, Ordering::AcqRel);
        let slot = Self(state.sockets.clone());
        (taken < state.max_connections).then_some(slot)
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Browsers send `Origin`; only the server's own origin and the configured CORS origins may
/// open sockets (a page elsewhere must not ride a user's token). Non-browser clients send none.
fn check_origin(state: &AppState, headers: &HeaderMap) -> Result<(), Error> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else { return Ok(()) };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let same_origin = origin.split_once("://").is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host));
    if same_origin || state.config.cors_origins.allows(origin) {
        Ok(())
    } else {
        Err(Error::Forbidden("Origin not allowed".into()))
    }
}
