//! `AppState`: everything a request handler or connection task needs, cloned cheaply per request.

use std::sync::Arc;

use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{auth::tokens::TokenKeys, config::Config, events::Broker, realtime::Hub, store::DynStore};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub keys: Arc<TokenKeys>,
    /// This node's open WebSocket connections.
    pub hub: Arc<Hub>,
    /// Where events are published; delivers to every node's hub.
    pub broker: Arc<dyn Broker>,
    /// This node's send queue and its writer (see `chat::pipeline`).
    pub pipeline: crate::chat::Pipeline,
    /// Cancelled when the server begins shutting down.
    pub shutdown: CancellationToken,
    /// Open WebSocket connections, so shutdown can wait for them to finish.
    pub connections: TaskTracker,
    /// The most WebSocket connections accepted at once (see [`crate::max_connections`]).
    pub max_connections: usize,
    /// Upgraded sockets open now, authenticated or not (each holds a file descriptor).
    pub sockets: Arc<std::sync::atomic::AtomicUsize>,
    /// Rate limits and connection caps.
    pub limits: Arc<crate::limits::Limits>,
    /// Uploaded files on disk (`DATA_DIR`).
    pub files: Arc<crate::files::Files>,
    /// The metrics recorder, when metrics are on (`METRICS`, `METRICS_ADDR`).
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}
