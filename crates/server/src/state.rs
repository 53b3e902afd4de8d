//! `AppState`: everything a request handler or connection task needs, cloned cheaply per request.

use std::sync::Arc;

use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    auth::tokens::TokenKeys,
    config::Config,
    realtime::{Broker, Hub},
    store::DynStore,
};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub keys: Arc<TokenKeys>,
    /// This node's open WebSocket connections.
    pub hub: Arc<Hub>,
    /// Where events are published; delivers to every node's hub.
    pub broker: Arc<dyn Broker>,
    /// Serialises persist-then-publish per room on this node, so each room's `new_message`
    /// frames leave in `seq` order.
    pub room_locks: Arc<RoomLocks>,
    /// Cancelled when the server begins shutting down.
    pub shutdown: CancellationToken,
    /// Open WebSocket connections, so shutdown can wait for them to finish.
    pub connections: TaskTracker,
    /// The most WebSocket connections accepted at once (see [`crate::max_connections`]).
    pub max_connections: usize,
    /// Upgraded sockets open now, authenticated or not (each holds a file descriptor).
    pub sockets: Arc<std::sync::atomic::AtomicUsize>,
}

/// A fixed set of async mutexes, one chosen per room: bounded memory, no pruning needed.
pub struct RoomLocks(Vec<Arc<tokio::sync::Mutex<()>>>);

impl Default for RoomLocks {
    fn default() -> Self {
        Self((0..64).map(|_| Arc::new(tokio::sync::Mutex::new(()))).collect())
    }
}

impl RoomLocks {
    /// An owned guard, so the publishing task can keep holding it.
    pub async fn lock(&self, room_id: i64) -> tokio::sync::OwnedMutexGuard<()> {
        let stripe = usize::try_from(room_id.rem_euclid(64)).unwrap_or(0);
        self.0[stripe].clone().lock_owned().await
    }
}
