//! `AppState`: everything a request handler or connection task needs, cloned cheaply per request.

use std::sync::Arc;

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
}
