//! Real-time delivery: the hub of open WebSocket connections, the broker that feeds it, and the
//! connection task speaking the seed's protocol (`docs/PROTOCOL.md`).

pub mod broker;
mod connection;
pub mod hub;
pub mod redis;
pub mod sessions;

use axum::{
    extract::{
        ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade},
        Path, State,
    },
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Extension, Router,
};
pub use broker::LocalBroker;
pub use hub::Hub;

use crate::{accounts, error::Error, http::proxy::ClientAddr, state::AppState, store::User};

/// The largest client frame accepted, in bytes (a 5,000-character message is at most 20 KB).
/// The socket stops reading a larger frame at its header — so an idle or unauthenticated
/// connection can never make the server hold more than this — and closes with 1009.
pub const MAX_FRAME: usize = 64 * 1024;
/// Per-connection socket buffers: small, because an idle connection should cost little
/// (axum's default read buffer alone is 128 KiB). The read buffer is allocated at this size
/// for the connection's lifetime and grows to fit a larger frame when one comes; chat frames
/// are mostly a few hundred bytes. The write buffer grows as frames need it.
const READ_BUFFER: usize = 512;
const WRITE_BUFFER: usize = 4 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade)).route("/ws/{token}", get(upgrade_with_token))
}

/// How a connection proves who it is.
enum Credentials {
    /// Checked before the upgrade (`/ws/{token}`, the seed's form).
    Checked(User, String),
    /// To check once upgraded: from the subprotocol, or (`None`) from a first `auth` frame.
    Later(Option<String>),
}

/// `ws://HOST/ws/{token}`: the seed's form. A bad token is refused before the upgrade, as the
/// seed refuses it: HTTP 403, no body.
async fn upgrade_with_token(
    state: State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    client: Option<Extension<ClientAddr>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Error> {
    // A plain GET here is the seed's 404.
    let Ok(ws) = ws else { return Err(Error::NotFound("Not Found".into())) };
    match accounts::authenticate(&state, &token).await {
        Ok((user, session)) => accept(state, Credentials::Checked(user, session), &headers, client, ws),
        Err(Error::Unauthorized(_)) => {
            Ok((StatusCode::FORBIDDEN, [(header::CONNECTION, "close")], axum::body::Body::empty()).into_response())
        }
        Err(e) => Err(e),
    }
}

/// `ws://HOST/ws`: the token comes as the subprotocol `bearer.<token>` or in a first
/// `{"type": "auth"}` frame, so it never appears in a URL (or a proxy's access log). A bad token
/// is answered after the upgrade, with close code 4001, which a browser can see.
async fn upgrade(
    state: State<AppState>,
    headers: HeaderMap,
    client: Option<Extension<ClientAddr>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Error> {
    let Ok(ws) = ws else { return Err(Error::NotFound("Not Found".into())) };
    accept(state, Credentials::Later(None), &headers, client, ws)
}

fn accept(
    State(state): State<AppState>,
    credentials: Credentials,
    headers: &HeaderMap,
    client: Option<Extension<ClientAddr>>,
    ws: WebSocketUpgrade,
) -> Result<Response, Error> {
    let client = client.as_ref().map(|Extension(c)| c);
    check_origin(&state, headers, client)?;
    // Counted from the upgrade on, authenticated or not: every socket holds a descriptor.
    let mut slot = SocketSlot::take(&state, client)?;
    if let Credentials::Checked(user, _) = &credentials {
        slot.permit.claim_user(user.id)?;
    }
    let offered = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|p| p.starts_with("bearer."))
        .map(str::to_owned);
    let mut ws = ws
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME);
    let credentials = match (credentials, offered) {
        (Credentials::Later(None), Some(protocol)) => {
            ws = ws.protocols([protocol.clone()]);
            Credentials::Later(protocol.strip_prefix("bearer.").map(str::to_owned))
        }
        (other, _) => other,
    };
    Ok(ws.on_upgrade(move |socket| connection::serve(state, socket, credentials, slot)))
}

/// One of the node's `max_connections` socket slots, and the socket's place under the
/// per-address and per-user caps; all released when dropped (also when the upgrade never
/// completes).
pub(crate) struct SocketSlot {
    taken: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    pub(crate) permit: crate::limits::SocketPermit,
}

impl SocketSlot {
    fn take(state: &AppState, client: Option<&ClientAddr>) -> Result<Self, Error> {
        use std::sync::atomic::Ordering;
        let taken = state.sockets.fetch_add(1, Ordering::AcqRel);
        let permit = if taken >= state.max_connections {
            tracing::warn!(limit = state.max_connections, "websocket refused: connection limit reached");
            Err(Error::Unavailable("Too many connections; try again later".into()))
        } else {
            state.limits.socket_from(client)
        };
        match permit {
            Ok(permit) => Ok(Self { taken: state.sockets.clone(), permit }),
            Err(e) => {
                state.sockets.fetch_sub(1, Ordering::AcqRel);
                Err(e)
            }
        }
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        self.taken.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Browsers send `Origin`; the server's own origin and the `CORS_ORIGINS` may open sockets
/// (by default any, as in the seed). That is safe only because a socket is authenticated by a
/// token the page must hold and send itself, never by a cookie the browser would attach on its
/// own: if cookie authentication is ever added, sockets must check the origin regardless.
/// Non-browser clients send no `Origin`.
///
/// The server's own origin: `PUBLIC_URL` when set; what a trusted proxy forwarded
/// (`X-Forwarded-Proto` + `X-Forwarded-Host`); or, talking to browsers directly, the `Host`
/// header (a proxy that rewrites it would make every browser socket look foreign — hence
/// `PUBLIC_URL`).
fn check_origin(state: &AppState, headers: &HeaderMap, client: Option<&ClientAddr>) -> Result<(), Error> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else { return Ok(()) };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    let same_host = origin.split_once("://").is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host));
    let public = state.config.public_origin.as_deref().is_some_and(|o| o.eq_ignore_ascii_case(origin));
    let forwarded = client.and_then(|c| c.forwarded_origin.as_deref()).is_some_and(|o| o.eq_ignore_ascii_case(origin));
    if public || forwarded || same_host || state.config.cors_origins.allows(origin) {
        Ok(())
    } else {
        Err(Error::Forbidden("Origin not allowed".into()))
    }
}
