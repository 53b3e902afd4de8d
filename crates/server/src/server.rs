//! The HTTP server loop: accepts TCP connections and serves the router on each with hyper —
//! with the deadlines `axum::serve` does not set, and a cap that keeps file descriptors for
//! what must always work.
//!
//! - **Deadlines.** A connection must send a whole request head within `HEADER_TIMEOUT_SECONDS`
//!   of opening, and of its previous response: one that sends nothing, trickles its headers
//!   (slowloris) or idles between keep-alive requests is closed. Bodies and handlers are bounded
//!   by the request timeout (a layer of the router).
//! - **A reserve of descriptors.** Every connection holds a file descriptor, under the
//!   process's open-files limit; the database pool, Redis and the listener need some too. Open
//!   connections (HTTP and WebSocket together) are kept [`RESERVE`] below the limit: at the cap,
//!   the connection that has been idle longest (waiting for a request) is closed to make room, so
//!   that a pile of idle sockets never stops `/health` or a login. If nothing is idle, new
//!   connections wait in the kernel's backlog until one closes.

use std::{
    collections::HashMap,
    future::Future,
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use axum::{extract::ConnectInfo, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// Descriptors kept free of connections (database pool, Redis, the listener, files).
pub const RESERVE: usize = 64;

/// How the server treats connections.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Time to send a request head, from opening or from the previous response.
    pub header_timeout: Duration,
    /// Connections open at once (HTTP and WebSocket), at most.
    pub max_open: usize,
}

/// The open HTTP connections, each with when it last became idle (`None` while a request is
/// being answered) and a token that closes it.
#[derive(Default)]
struct Connections {
    open: Mutex<HashMap<u64, (Option<Instant>, CancellationToken)>>,
    next: AtomicU64,
    /// Signalled when one closes.
    closed: tokio::sync::Notify,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (Option<Instant>, CancellationToken)>> {
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn add(&self) -> (u64, CancellationToken) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let token = CancellationToken::new();
        self.lock().insert(id, (Some(Instant::now()), token.clone()));
        (id, token)
    }

    fn set_idle(&self, id: u64, idle: bool) {
        if let Some(entry) = self.lock().get_mut(&id) {
            entry.0 = idle.then(Instant::now);
        }
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
        self.closed.notify_waiters();
    }

    /// Closes the connection idle longest (not one already being closed); `false` if none is.
    fn evict_idlest(&self) -> bool {
        let open = self.lock();
        let idlest = open
            .values()
            .filter(|(_, token)| !token.is_cancelled())
            .filter_map(|(since, token)| since.map(|s| (s, token)))
            .min_by_key(|(s, _)| *s);
        match idlest {
            Some((_, token)) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    fn count(&self) -> usize {
        self.lock().len()
    }
}

/// Serves `router` on `listener` until `stop` is cancelled; then stops accepting, lets requests
/// in flight finish (idle connections close at once) and returns once every HTTP connection has
/// closed, or after `grace`. `sockets` counts the upgraded WebSockets (they hold descriptors
/// too, but are not this loop's to close).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: Options,
    sockets: Arc<AtomicUsize>,
    stop: CancellationToken,
    grace: Duration,
) {
    let connections = Arc::new(Connections::default());
    let tasks = TaskTracker::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(options.header_timeout);
    let mut full_logged = false;
    loop {
        // At the cap: make room by closing the idlest connection, or wait for one to close.
        while connections.count() + sockets.load(Ordering::Relaxed) >= options.max_open && !stop.is_cancelled() {
            if !full_logged {
                tracing::warn!(limit = options.max_open, "connection cap reached; closing idle connections");
                full_logged = true;
            }
            let closed = connections.closed.notified();
            connections.evict_idlest();
            tokio::select! {
                () = stop.cancelled() => {}
                () = closed => {}
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        let accepted = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(found) => found,
            Err(e) => {
                // Out of descriptors (EMFILE/ENFILE): make room, and go on after a moment. Any
                // other error is one connection that died in the backlog.
                if matches!(e.raw_os_error(), Some(23 | 24)) {
                    if !full_logged {
                        tracing::warn!(error = %e, "out of file descriptors; closing idle connections");
                        full_logged = true;
                    }
                    connections.evict_idlest();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                } else {
                    tracing::debug!(error = %e, "accept failed");
                }
                continue;
            }
        };
        full_logged = false;
        // Chat traffic is many small frames: without TCP_NODELAY, Nagle's algorithm holds a
        // frame written right after another until the peer's delayed ACK, about 40 ms later.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let (id, evict) = connections.add();
        let service = Service { router: router.clone(), peer, id, connections: connections.clone() };
        let conn = builder.serve_connection(TokioIo::new(tcp), hyper_util::service::TowerToHyperService::new(service));
        let (connections, stop) = (connections.clone(), stop.clone());
        tasks.spawn(async move {
            let mut conn = std::pin::pin!(conn.with_upgrades());
            tokio::select! {
                _ = conn.as_mut() => {}
                // Made room for another: closed at once. It was waiting for a request (or
                // still handing a finished answer to a slow reader, which is cut short).
                () = evict.cancelled() => {}
                // Shutting down: requests in flight finish (bounded by the caller's grace).
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = (&mut conn).await;
                }
            }
            connections.remove(id);
        });
    }
    tasks.close();
    if tokio::time::timeout(grace, tasks.wait()).await.is_err() {
        tracing::warn!("some HTTP connections did not finish in time");
    }
}

/// The router for one connection: tells handlers the peer's address (axum's `ConnectInfo`),
/// and the connection list when a request starts and ends.
#[derive(Clone)]
struct Service {
    router: Router,
    peer: SocketAddr,
    id: u64,
    connections: Arc<Connections>,
}

impl tower::Service<axum::http::Request<hyper::body::Incoming>> for Service {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: axum::http::Request<hyper::body::Incoming>) -> Self::Future {
        use tower::ServiceExt as _;
        req.extensions_mut().insert(ConnectInfo(self.peer));
        self.connections.set_idle(self.id, false);
        let (router, connections, id) = (self.router.clone(), self.connections.clone(), self.id);
        Box::pin(async move {
            let response = router.oneshot(req.map(axum::body::Body::new)).await;
            connections.set_idle(id, true);
            response
        })
    }
}
