//! Sockets live only as long as their session: every so often each node checks the sessions of
//! its open connections against the database and closes those that ended — expired, or revoked
//! while the revocation event could not reach this node (Redis away, a node killed before it
//! published). Revocations normally close sockets at once through the broker; this is the
//! bound when that fails, and the only way an expiry is noticed.

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use super::Hub;
use crate::store::DynStore;

/// Sessions checked per query.
const CHUNK: usize = 500;

/// How often a node looks for an operator's signal that sessions were ended (`banter user
/// disable`, …): a one-row read.
const SIGNAL_EVERY: Duration = Duration::from_secs(1);

/// Checks every `every`, and at once when an operator's command signals it, until `stop`.
pub async fn sweep_loop(store: DynStore, hub: Arc<Hub>, every: Duration, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    let mut signals = tokio::time::interval(SIGNAL_EVERY);
    signals.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = store.sessions_signal().await.unwrap_or(0);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {
                sweep(&store, &hub).await;
            }
            _ = signals.tick() => {
                if let Ok(newest) = store.sessions_signal().await {
                    // Taken as seen only once a sweep got through (else tried again next second).
                    if newest > seen && sweep(&store, &hub).await {
                        seen = newest;
                    }
                }
            }
        }
    }
}

/// One check: closes the connections whose session ended; `false` if the database did not
/// answer (nothing is closed then; the next check tries again).
pub async fn sweep(store: &DynStore, hub: &Hub) -> bool {
    for chunk in hub.sessions().chunks(CHUNK) {
        let ids: Vec<&str> = chunk.iter().map(|(_, s)| &**s).collect();
        let live = match store.live_sessions(&ids).await {
            Ok(live) => live,
            Err(e) => {
                tracing::debug!(error = %e, "session check skipped: the database did not answer");
                return false;
            }
        };
        for (user_id, session_id) in chunk {
            if !live.iter().any(|(u, s)| u == user_id && **s == **session_id) {
                tracing::info!(user_id, "closing sockets of an ended session");
                hub.close_sessions(*user_id, Some(session_id));
            }
        }
    }
    true
}
