//! Operator tools: metrics (and, alongside, registration control and the admin CLI).

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    helpers::{Storage, TestApp},
    ws::Ws,
};

backend_tests!(metrics_count_requests_messages_and_connections);

/// `METRICS=true`: `/metrics` in Prometheus' text format — requests by route template (never a
/// raw path), latency histograms, messages persisted, deliveries, open sockets, the pool.
async fn metrics_count_requests_messages_and_connections(app: TestApp) {
    let (status, _) = app.request(reqwest::Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "off by default");
    let storage: Storage = app.stop().await;
    let app = TestApp::start(storage, &[("METRICS", "true")]).await;
    let (me, peer) = (app.user("metric").await, app.user("metric").await);
    let _socket = Ws::subscribed(&app, &peer.access).await;
    let (status, _) =
        app.post("/messages/send", &me.access, json!({"recipient_id": peer.id, "content": "counted"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app.get(&format!("/users/{}", peer.id), &me.access).await;
    assert_eq!(status, StatusCode::OK);

    let response = app.client.get(app.url("/metrics")).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("text");
    let has = |needle: &str| assert!(text.contains(needle), "no {needle} in:\n{text}");
    has(r#"banter_http_requests_total{route="/auth/register",status="201"}"#);
    has(r#"banter_http_requests_total{route="/users/{user_id}",status="200"}"#);
    has(r#"banter_http_request_duration_seconds_bucket{route="/messages/send",le="0.005"}"#);
    has("banter_ws_connections 1\n");
    has(r#"banter_db_pool_connections{state="idle"}"#);
    has("banter_send_batch_size_bucket");
    assert!(!text.contains(&format!("/users/{}", peer.id)), "a raw path in a label");
    let value = |name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
    };
    assert!(value("banter_messages_persisted_total") >= 1.0);
    assert!(value("banter_deliveries_total") >= 1.0, "the message reached peer's socket");
}

/// `METRICS_ADDR`: the metrics on an address of their own, and not on the main one.
#[tokio::test]
async fn metrics_can_have_an_address_of_their_own() {
    let storage = Storage::new(crate::helpers::Backend::Sqlite).await.expect("sqlite");
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let addr = format!("127.0.0.1:{port}");
    let node = crate::node::Node::start_with(&storage, &[("METRICS_ADDR", addr.as_str())]).await;
    let client = reqwest::Client::new();
    let main = client.get(format!("{}/metrics", node.base)).send().await.expect("sent");
    assert_eq!(main.status(), StatusCode::NOT_FOUND);
    let own = client.get(format!("http://{addr}/metrics")).send().await.expect("sent");
    assert_eq!(own.status(), StatusCode::OK);
    assert!(own.text().await.expect("text").contains("banter_ws_connections 0"));
}
