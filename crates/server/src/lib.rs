//! Banter: a self-hosted real-time chat server.
//!
//! The binary (`main.rs`) is a thin shell over this library: [`build_state`] opens the database
//! and keys, [`app`] is the whole HTTP/WebSocket service as an axum `Router`, and [`run`] serves it
//! on a listener until a shutdown future completes — which is how the tests start real servers
//! on port 0.

pub mod accounts;
pub mod admin;
pub mod auth;
pub mod chat;
pub mod config;
pub mod error;
pub mod events;
pub mod files;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod realtime;
pub mod server;
pub mod state;
pub mod store;
pub mod validate;

use std::{future::Future, sync::Arc};

use anyhow::Context as _;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    auth::tokens::TokenKeys,
    config::{load_or_create_key, KeySource},
};
pub use crate::{config::Config, state::AppState};

/// Opens (and migrates) the database and loads the signing key.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    let store = store::connect(&config.database_url).await?;
    store.migrate().await.context("applying database migrations")?;
    let key = match &config.key {
        KeySource::Given(key) => key.clone(),
        KeySource::File(path) => load_or_create_key(path)?,
    };
    let keys = TokenKeys::new(&key, config.algorithm, config.access_token_ttl, config.refresh_token_ttl);
    let max_connections = max_connections(&config);
    auth::password::warm_up();
    let hub = Arc::new(realtime::Hub::default());
    let broker: Arc<dyn events::Broker> = match &config.redis_url {
        Some(url) => {
            let history = Arc::new(chat::StoreHistory(store.clone()));
            Arc::new(realtime::redis::RedisBroker::start(url, hub.clone(), history)?)
        }
        None => Arc::new(realtime::LocalBroker::new(hub.clone())),
    };
    tokio::spawn(chat::index_backlog(store.clone()));
    let pipeline = chat::Pipeline::start(store.clone(), broker.clone(), config.send_queue, config.send_queue_wait);
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(realtime::sessions::sweep_loop(store.clone(), hub.clone(), config.session_check, shutdown.clone()));
    let limits = Arc::new(limits::Limits::new(config.limits));
    let metrics = (config.metrics || config.metrics_addr.is_some()).then(metrics::install).flatten();
    if let Some(handle) = &metrics {
        tokio::spawn(metrics::upkeep(handle.clone(), shutdown.clone()));
    }
    tokio::spawn(limits::housekeeping(limits.clone(), shutdown.clone()));
    let files = Arc::new(files::Files::open(&config.data_dir, config.max_upload_bytes, config.upload_quota_bytes)?);
    files.clone().spawn_sweeper(store.clone(), shutdown.clone());
    Ok(AppState {
        files,
        config: Arc::new(config),
        store,
        keys: Arc::new(keys),
        hub,
        broker,
        pipeline,
        shutdown,
        connections: tokio_util::task::TaskTracker::new(),
        max_connections,
        sockets: Arc::default(),
        limits,
        metrics,
    })
}

/// The whole service as a router.
pub fn app(state: AppState) -> Router {
    http::router(state)
}

/// How long shutdown waits for WebSocket connections to finish before giving up on them.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves `state` on `listener` until `shutdown` completes, then drains: HTTP requests in flight
/// finish, and every WebSocket answers the frames it has read (acks included) and closes with
/// 1001 "going away".
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let token = state.shutdown.clone();
    let connections = state.connections.clone();
    let hub = state.hub.clone();
    let broker = state.broker.clone();
    let options = server::Options { header_timeout: state.config.header_timeout, max_open: max_open_connections() };
    if state.max_connections > options.max_open {
        tracing::warn!(
            max_connections = state.max_connections,
            reachable = options.max_open,
            "MAX_CONNECTIONS is above what the open-files limit allows; raise the limit"
        );
    }
    let sockets = state.sockets.clone();
    let stop = CancellationToken::new();
    let signal = {
        let stop = stop.clone();
        async move {
            shutdown.await;
            // Cancelled first: a connection registering after `close_all` sees it and closes too.
            token.cancel();
            hub.close_all();
            stop.cancel();
        }
    };
    let signalled = tokio::spawn(signal);
    if let (Some(addr), Some(handle)) = (state.config.metrics_addr, state.metrics.clone()) {
        let listener = TcpListener::bind(addr).await?;
        tracing::info!(address = %listener.local_addr()?, "metrics at /metrics");
        let metrics = axum::Router::new().route(
            "/metrics",
            axum::routing::get({
                let state = state.clone();
                move || async move { metrics::render(&state, &handle) }
            }),
        );
        let stop = stop.clone();
        tokio::spawn(async move {
            let serving = axum::serve(listener, metrics).with_graceful_shutdown(stop.cancelled_owned());
            if let Err(e) = serving.await {
                tracing::error!(error = %e, "the metrics listener failed");
            }
        });
    }
    server::serve(listener, app(state), options, sockets, stop, SHUTDOWN_GRACE).await;
    signalled.abort();
    connections.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, connections.wait()).await.is_err() {
        tracing::warn!("some WebSocket connections did not close in time");
    }
    // After the connections: their last events (users going offline) reach the other nodes.
    broker.shutdown().await;
    Ok(())
}

/// Connections (HTTP and WebSocket) open at once, at most: the open-files limit less
/// [`server::RESERVE`] (a `MAX_CONNECTIONS` above that cannot be reached).
pub fn max_open_connections() -> usize {
    let limit = open_files_limit().and_then(|l| usize::try_from(l).ok()).unwrap_or(1024);
    limit.saturating_sub(server::RESERVE).max(16)
}

/// Each WebSocket holds a file descriptor; past the process's open-files limit the server could
/// not even accept HTTP requests or open database connections. So, unless `MAX_CONNECTIONS` says
/// otherwise, accept WebSockets up to the limit less a reserve of 512 for everything else.
pub fn max_connections(config: &Config) -> usize {
    config.max_connections.unwrap_or_else(|| {
        let limit = open_files_limit().and_then(|l| usize::try_from(l).ok()).unwrap_or(1024);
        limit.saturating_sub(512).max(16)
    })
}

/// The soft limit on open files this process runs under (each connection holds one); `None`
/// where the platform has no such limit.
pub fn open_files_limit() -> Option<u64> {
    rlimit::getrlimit(rlimit::Resource::NOFILE).ok().map(|(soft, _)| soft)
}

/// Raises the soft open-files limit to the hard limit. Most systems start a process with a soft
/// limit of 1,024 — 512 WebSockets after the reserve — though the hard limit allows far more.
/// Returns (soft limit before, soft limit now, hard limit).
pub fn raise_open_files_limit() -> std::io::Result<(u64, u64, u64)> {
    let (before, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    let now = rlimit::increase_nofile_limit(hard)?;
    Ok((before, now, hard))
}
