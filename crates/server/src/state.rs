//! `AppState`: everything a request handler or connection task needs, cloned cheaply per request.

use std::sync::Arc;

use crate::{auth::tokens::TokenKeys, config::Config, store::DynStore};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub keys: Arc<TokenKeys>,
}
