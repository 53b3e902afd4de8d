//! Health, readiness, the API documentation, `/` (the seed's banner for API clients, the web
//! client for browsers), the seed's answers for unknown routes, wrong methods and trailing
//! slashes, and its default CORS policy.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::TestApp;

backend_tests!(health_ready_and_docs, unknown_routes_answer_in_json, a_trailing_slash_redirects_to_the_route);

/// What a browser sends when it navigates to a page.
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).map(|v| v.to_str().expect("ascii header"))
}

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

    let redoc = no_redirects().get(app.url("/redoc")).send().await.expect("sent");
    assert!(redoc.status().is_redirection());
    assert_eq!(redoc.headers().get("location").map(|v| v.as_bytes()), Some(&b"/docs/"[..]));

    // Every response carries a request id.
    let resp = app.client.get(app.url("/health")).send().await.expect("sent");
    assert!(resp.headers().get("x-request-id").is_some_and(|v| v.len() >= 32));
}

async fn unknown_routes_answer_in_json(app: TestApp) {
    for path in ["/no/such/route", "/no/such/route/", "/auth", "/auth/me/extra"] {
        let resp = app.client.get(app.url(path)).send().await.expect("sent");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(header(&resp, "content-type"), Some("application/json"), "{path}");
        assert_eq!(resp.json::<Value>().await.expect("json"), json!({"detail": "Not Found"}), "{path}");
    }
    for (method, path, allowed) in [
        (reqwest::Method::DELETE, "/health", "GET"),
        (reqwest::Method::GET, "/auth/login", "POST"),
        (reqwest::Method::PUT, "/auth/me", "DELETE"),
    ] {
        let resp = app.client.request(method.clone(), app.url(path)).send().await.expect("sent");
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        let allow = header(&resp, "allow").unwrap_or_else(|| panic!("{method} {path}: an allow header")).to_owned();
        assert!(allow.split(',').any(|m| m.trim() == allowed), "{method} {path}: {allow}");
        assert!(!allow.split(',').any(|m| m.trim() == method.as_str()), "{method} {path}: {allow}");
        assert_eq!(resp.json::<Value>().await.expect("json"), json!({"detail": "Method Not Allowed"}));
    }
}

async fn a_trailing_slash_redirects_to_the_route(app: TestApp) {
    let client = no_redirects();
    for (method, path, target) in [
        (reqwest::Method::GET, "/auth/me/", "/auth/me"),
        (reqwest::Method::GET, "/messages/chat/5/?limit=2", "/messages/chat/5?limit=2"),
        (reqwest::Method::POST, "/auth/login/", "/auth/login"),
        (reqwest::Method::GET, "/health/", "/health"),
    ] {
        let resp = client.request(method.clone(), app.url(path)).send().await.expect("sent");
        assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT, "{method} {path}");
        let location = format!("http://{}{target}", app.addr);
        assert_eq!(header(&resp, "location"), Some(location.as_str()), "{method} {path}: an absolute URL");
        assert!(resp.text().await.expect("body").is_empty());
    }
    // A client that follows it (a 307 keeps the method, the body and, on the same host, the
    // credentials) gets the route's answer.
    let user = app.user("slash").await;
    let (status, me) = app.get("/auth/me/", &user.access).await;
    assert_eq!((status, me["id"].as_i64()), (StatusCode::OK, Some(user.id)));
    let (status, body) =
        app.post_anon("/auth/login/", json!({"username": user.username, "password": crate::helpers::PASSWORD})).await;
    assert_eq!((status, body["user"]["id"].as_i64()), (StatusCode::OK, Some(user.id)), "{body}");
}

#[tokio::test]
async fn root_answers_api_clients_with_the_seeds_banner() {
    let Some(app) = TestApp::spawn(crate::helpers::Backend::Sqlite).await else { return };
    for accept in [None, Some("*/*"), Some("application/json")] {
        let mut req = app.client.get(app.url("/"));
        if let Some(accept) = accept {
            req = req.header("accept", accept);
        }
        let resp = req.send().await.expect("sent");
        assert_eq!(resp.status(), StatusCode::OK, "{accept:?}");
        assert_eq!(header(&resp, "content-type"), Some("application/json"), "{accept:?}");
        assert!(header(&resp, "vary").is_some_and(|v| v.to_ascii_lowercase().contains("accept")), "{accept:?}");
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body, json!({"message": "Real-time Chat API", "status": "running", "docs": "/docs"}));
        let keys: Vec<&str> = body.as_object().expect("object").keys().map(String::as_str).collect();
        assert_eq!(keys, ["message", "status", "docs"], "the seed's key order");
    }
}

#[tokio::test]
async fn cors_allows_any_origin_by_default_as_the_seed_does() {
    let Some(app) = TestApp::spawn(crate::helpers::Backend::Sqlite).await else { return };
    let resp =
        app.client.get(app.url("/health")).header("origin", "https://anywhere.example").send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&resp, "access-control-allow-credentials"), Some("true"));
    let resp = app.client.get(app.url("/health")).send().await.expect("sent");
    assert_eq!(header(&resp, "access-control-allow-origin"), None, "no Origin, no CORS headers");

    let resp = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/auth/login"))
        .header("origin", "https://anywhere.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type")
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, "access-control-allow-origin"), Some("https://anywhere.example"), "echoed");
    assert_eq!(header(&resp, "access-control-allow-methods"), Some("DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"));
    assert_eq!(header(&resp, "access-control-allow-headers"), Some("authorization,content-type"), "echoed");
    assert_eq!(header(&resp, "access-control-allow-credentials"), Some("true"));
    assert_eq!(header(&resp, "access-control-max-age"), Some("600"));
    assert!(header(&resp, "vary").is_some_and(|v| v.contains("Origin")));
    assert_eq!(resp.text().await.expect("body"), "OK");
}

#[tokio::test]
async fn the_web_client_is_served_with_a_strict_policy() {
    let Some(app) = TestApp::spawn(crate::helpers::Backend::Sqlite).await else { return };
    // A browser asks for HTML (API clients get the seed's banner instead: see above).
    let page = app.client.get(app.url("/")).header("accept", BROWSER_ACCEPT).send().await.expect("sent");
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    assert!(headers["content-type"].to_str().is_ok_and(|t| t.starts_with("text/html")));
    assert!(headers["vary"].to_str().is_ok_and(|v| v.to_ascii_lowercase().contains("accept")));
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
