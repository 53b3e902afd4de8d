//! Health, readiness, the API documentation, and JSON answers for unknown routes.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::TestApp;

backend_tests!(health_ready_and_docs, unknown_routes_answer_in_json);

async fn health_ready_and_docs(app: TestApp) {
    let health: Value = app.client.get(app.url("/health")).send().await.expect("sent").json().await.expect("json");
    assert_eq!(health, json!({"status": "healthy"}));

    let (status, ready) = app.request(reqwest::Method::GET, "/ready", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let backend = match app.storage.backend {
        crate::helpers::Backend::Sqlite => "sqlite",
        crate::helpers::Backend::Postgres => "postgres",
    };
    assert_eq!(ready, json!({"status": "ready", "database": backend}));

    let spec: Value = app.client.get(app.url("/openapi.json")).send().await.expect("sent").json().await.expect("json");
    let paths = spec["paths"].as_object().expect("paths");
    for path in [
        "/auth/register",
        "/auth/login",
        "/auth/refresh",
        "/auth/logout",
        "/auth/logout-all",
        "/auth/change-password",
        "/auth/me",
        "/health",
        "/ready",
    ] {
        assert!(paths.contains_key(path), "{path} is documented");
    }
    assert!(spec["components"]["schemas"]["RegisterRequest"].is_object());
    assert!(spec["components"]["schemas"]["Message"]["properties"]["seq"].is_object());
    assert!(spec["paths"]["/auth/me"]["delete"].is_object(), "account deletion documented");

    // Swagger UI is served from the binary: the page and its scripts, no CDN.
    let page = app.client.get(app.url("/docs/")).send().await.expect("sent");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("html");
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("https://"), "nothing loads from another host");
    let js = app.client.get(app.url("/docs/swagger-ui-bundle.js")).send().await.expect("sent");
    assert_eq!(js.status(), StatusCode::OK);
    assert!(js.text().await.expect("js").len() > 100_000);

    let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let redoc = no_redirect.get(app.url("/redoc")).send().await.expect("sent");
    assert!(redoc.status().is_redirection());
    assert_eq!(redoc.headers().get("location").map(|v| v.as_bytes()), Some(&b"/docs/"[..]));

    // Every response carries a request id.
    let resp = app.client.get(app.url("/health")).send().await.expect("sent");
    assert!(resp.headers().get("x-request-id").is_some_and(|v| v.len() >= 32));
}

async fn unknown_routes_answer_in_json(app: TestApp) {
    let (status, body) = app.request(reqwest::Method::GET, "/no/such/route", None, None).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"detail": "Not Found"})));
    let (status, body) = app.request(reqwest::Method::DELETE, "/health", None, None).await;
    assert_eq!((status, body), (StatusCode::METHOD_NOT_ALLOWED, json!({"detail": "Method Not Allowed"})));
}

#[tokio::test]
async fn the_web_client_is_served_with_a_strict_policy() {
    let Some(app) = TestApp::spawn(crate::helpers::Backend::Sqlite).await else { return };
    let page = app.client.get(app.url("/")).send().await.expect("sent");
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    assert!(headers["content-type"].to_str().is_ok_and(|t| t.starts_with("text/html")));
    let csp = headers["content-security-policy"].to_str().expect("csp");
    assert!(
        csp.contains("default-src 'self'") && csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    let html = page.text().await.expect("html");
    assert!(html.contains("js/main.js"), "{html}");
    assert!(!html.contains("http://") && !html.contains("https://"), "nothing from another origin");

    let js = app.client.get(app.url("/js/main.js")).send().await.expect("sent");
    assert_eq!(js.status(), StatusCode::OK);
    assert!(js.headers()["content-type"].to_str().is_ok_and(|t| t.contains("javascript")));
    let etag = js.headers()["etag"].clone();
    let again = app.client.get(app.url("/js/main.js")).header("if-none-match", etag).send().await.expect("sent");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(app.client.get(app.url("/app.css")).send().await.expect("sent").status(), StatusCode::OK);
    let (status, body) = app.request(reqwest::Method::GET, "/js/missing.js", None, None).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"detail": "Not Found"})));
    let (status, _) = app.request(reqwest::Method::GET, "/js/../Cargo.toml", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
