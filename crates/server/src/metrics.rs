//! Prometheus metrics (`METRICS=true`: `GET /metrics`; or `METRICS_ADDR`: a listener of its own).
//!
//! Counters and histograms of events are recorded where they happen, through the `metrics`
//! facade; levels (connections open, the database pool, the send queue) and the hub's hot-path
//! counters (kept as plain atomics there, so delivering a frame costs no registry lookup) are
//! read when Prometheus scrapes.

use std::sync::OnceLock;

use axum::{extract::MatchedPath, extract::Request, middleware::Next, response::Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// The recorder, installed once per process (the first server started installs it; tests run
/// many servers in one process, and they share it).
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder if it is not yet; `None` if another recorder holds the process.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let seconds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
            let sizes = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full("banter_send_batch_size".into()), &sizes))
                .and_then(PrometheusBuilder::install_recorder);
            match built {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_histogram, Unit};
    describe_counter!("banter_http_requests_total", "HTTP requests answered, by route template and status");
    describe_histogram!(
        "banter_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency, by route template"
    );
    describe_counter!("banter_messages_persisted_total", "Messages committed by this node's writer");
    describe_histogram!("banter_send_batch_size", "Sends written per writer transaction");
    describe_counter!("banter_rate_limited_total", "Requests, frames and connections refused by a limit, by limit");
}

/// Keeps the recorder's memory bounded whether or not anyone scrapes (histograms are drained
/// by upkeep, not only by rendering), until `stop`.
pub async fn upkeep(handle: PrometheusHandle, stop: tokio_util::sync::CancellationToken) {
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => handle.run_upkeep(),
        }
    }
}

/// One refusal by `limit` (`auth`, `login_failures`, `sends`, `frames`, `sockets_per_user`,
/// `sockets_per_addr`).
pub fn rate_limited(limit: &'static str) {
    metrics::counter!("banter_rate_limited_total", "limit" => limit).increment(1);
}

/// A writer transaction that committed `sends` messages.
pub fn batch_committed(sends: usize) {
    metrics::counter!("banter_messages_persisted_total").increment(sends as u64);
    metrics::histogram!("banter_send_batch_size").record(sends as f64);
}

/// Counts each request by route template (never a raw path: ids and tokens stay out of labels).
pub async fn track(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_owned();
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("banter_http_requests_total", "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("banter_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The scrape: what was recorded, then this node's levels and hot-path counters, read now
/// (written here rather than through the global recorder, which every server in a process
/// shares).
pub fn render(state: &AppState, handle: &PrometheusHandle) -> String {
    use std::fmt::Write as _;
    let mut text = handle.render();
    let (deliveries, slow) = state.hub.counts();
    let (size, idle) = state.store.pool_stats();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, f64)]| {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(text, "{name}{labels} {value}");
        }
    };
    let open = state.hub.connection_count() as f64;
    metric("banter_ws_connections", "gauge", "WebSocket connections open on this node", &[("", open)]);
    metric(
        "banter_deliveries_total",
        "counter",
        "Items (a frame, or a batch of messages) queued for this node's sockets",
        &[("", deliveries as f64)],
    );
    metric(
        "banter_slow_consumer_disconnects_total",
        "counter",
        "Sockets closed because their outbound queue filled (4008)",
        &[("", slow as f64)],
    );
    metric(
        "banter_db_pool_connections",
        "gauge",
        "Database pool connections, by state",
        &[(r#"{state="idle"}"#, idle as f64), (r#"{state="in_use"}"#, size.saturating_sub(idle) as f64)],
    );
    metric(
        "banter_send_queue",
        "gauge",
        "Sends waiting for this node's writer",
        &[("", state.pipeline.pending() as f64)],
    );
    text
}
