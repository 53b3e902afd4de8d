//! Hardening for the open internet: privacy of presence, the people directory, and response
//! headers (more limits and timeouts alongside).

use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

use crate::{
    helpers::{execute, session_of, Storage, TestApp, PASSWORD},
    ws::{Ended, Ws},
};

backend_tests!(
    presence_is_shown_only_to_people_who_share_a_room,
    a_shared_directory_lists_only_people_you_share_a_room_with,
    a_socket_ends_with_its_session,
    account_requests_are_limited_per_client_address,
    wrong_passwords_lock_the_account_from_any_address,
    sends_are_limited_per_user_over_rest_and_websocket_together,
    websockets_are_capped_per_user_and_per_address,
);

fn names(found: &Value) -> Vec<&str> {
    found.as_array().expect("a list").iter().map(|u| u["username"].as_str().expect("username")).collect()
}

/// A stranger (no room in common) never learns whether someone is online; a co-member does.
async fn presence_is_shown_only_to_people_who_share_a_room(app: TestApp) {
    let (online, friend, stranger) = (app.user("seen").await, app.user("friend").await, app.user("stranger").await);
    let (status, _) = app.post("/groups/create", &friend.access, json!({"name": "f", "member_ids": [online.id]})).await;
    assert_eq!(status, StatusCode::CREATED);
    let _socket = Ws::subscribed(&app, &online.access).await;

    let (_, profile) = app.get(&format!("/users/{}", online.id), &friend.access).await;
    assert_eq!(
        (profile["username"].as_str(), profile["online"].as_bool()),
        (Some(online.username.as_str()), Some(true))
    );
    let (_, profile) = app.get(&format!("/users/{}", online.id), &stranger.access).await;
    assert_eq!(
        (profile["username"].as_str(), profile["online"].as_bool()),
        (Some(online.username.as_str()), Some(false))
    );
    let (_, me) = app.get(&format!("/users/{}", online.id), &online.access).await;
    assert_eq!(me["online"], true, "your own presence: {me}");

    let search = format!("/users/search?q={}", online.username);
    let (_, found) = app.get(&search, &friend.access).await;
    assert_eq!((names(&found), found[0]["online"].as_bool()), (vec![online.username.as_str()], Some(true)));
    let (_, found) = app.get(&search, &stranger.access).await;
    assert_eq!((names(&found), found[0]["online"].as_bool()), (vec![online.username.as_str()], Some(false)));
}

/// `DIRECTORY=shared`: search finds the people you share a room with, and someone else only by
/// their exact username (in any case) — never by a prefix or their full name.
async fn a_shared_directory_lists_only_people_you_share_a_room_with(app: TestApp) {
    let storage: Storage = app.stop().await;
    let app = TestApp::start(storage, &[("DIRECTORY", "shared")]).await;
    let me = app.user("dirme").await;
    let (friend, other) = (app.user("dirpal").await, app.user("dirpal").await);
    let (status, _) = app.post("/groups/create", &me.access, json!({"name": "d", "member_ids": [friend.id]})).await;
    assert_eq!(status, StatusCode::CREATED);

    // Both names start with "dirpal_": only the co-member is listed.
    let (_, found) = app.get("/users/search?q=dirpal", &me.access).await;
    assert_eq!(names(&found), vec![friend.username.as_str()]);
    // By full name ("dirpal Tester"): the same.
    let (_, found) = app.get("/users/search?q=dirpal%20tester", &me.access).await;
    assert_eq!(names(&found), vec![friend.username.as_str()]);
    // The exact username, even in another case, finds anyone.
    let (_, found) = app.get(&format!("/users/search?q={}", other.username.to_uppercase()), &me.access).await;
    assert_eq!(names(&found), vec![other.username.as_str()]);
    assert_eq!(found[0]["online"], false);
}

/// Token answers are never cached; no page can be framed by another site.
#[tokio::test]
async fn private_answers_are_not_cached_and_pages_cannot_be_framed() {
    let Some(app) = TestApp::spawn(crate::helpers::Backend::Sqlite).await else { return };
    let user = app.user("hdr").await;
    let login = app
        .client
        .post(app.url("/auth/login"))
        .json(&json!({"username": user.username, "password": crate::helpers::PASSWORD}))
        .send()
        .await
        .expect("sent");
    assert_eq!(login.status(), StatusCode::OK);
    assert_eq!(login.headers()[header::CACHE_CONTROL], "no-store");
    for path in ["/docs/", "/redoc", "/"] {
        let page = app.client.get(app.url(path)).header(header::ACCEPT, "text/html").send().await.expect("sent");
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        assert_eq!(page.headers()[header::X_FRAME_OPTIONS], "DENY", "{path}");
        let csp = page.headers()[header::CONTENT_SECURITY_POLICY].to_str().expect("ascii");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
    }
    // Static files keep their own caching (revalidated by ETag).
    let css = app.client.get(app.url("/app.css")).send().await.expect("sent");
    assert_eq!(css.headers()[header::CACHE_CONTROL], "no-cache");
}

/// An open socket lives only as long as its session: one that expired, or was revoked without
/// this node hearing of it (the event lost), is closed at the next check — and only that one.
async fn a_socket_ends_with_its_session(app: TestApp) {
    let storage: Storage = app.stop().await;
    let app = TestApp::start(storage.clone(), &[("SESSION_CHECK_SECONDS", "1")]).await;
    let user = app.user("sess").await;
    let (expiring, revoked) = (app.login(&user).await, app.login(&user).await);
    let mut stays = Ws::subscribed(&app, &user.access).await;
    let mut expires = Ws::subscribed(&app, &expiring.access).await;
    let mut dies = Ws::subscribed(&app, &revoked.access).await;

    let sql = "UPDATE refresh_tokens SET expires_at = created_at WHERE session_id = $1";
    assert!(execute(&storage, sql, &session_of(&expiring.access)).await > 0);
    let sql = "UPDATE refresh_tokens SET revoked_at = created_at WHERE session_id = $1";
    assert!(execute(&storage, sql, &session_of(&revoked.access)).await > 0);

    assert_eq!(expires.ended().await, Ended::Closed(4003, "session revoked".into()));
    assert_eq!(dies.ended().await, Ended::Closed(4003, "session revoked".into()));
    stays.send(json!({"type": "ping"})).await;
    stays.expect("pong").await;
}

/// A server on the test's storage with `settings`, behind a (pretend) proxy on 127.0.0.1 whose
/// `X-Forwarded-For` says who the client is.
async fn behind_proxy(app: TestApp, settings: &[(&str, &str)]) -> TestApp {
    let storage: Storage = app.stop().await;
    let mut all = vec![("TRUSTED_PROXIES", "127.0.0.1")];
    all.extend_from_slice(settings);
    TestApp::start(storage, &all).await
}

/// A request from `client` (through the proxy), or straight from this machine with `None`.
async fn from(
    app: &TestApp,
    client: Option<&str>,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut req = app.client.request(method, app.url(path)).json(&body);
    if let Some(ip) = client {
        req = req.header("x-forwarded-for", ip);
    }
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.expect("sent")
}

/// A 429 with a `Retry-After` of at least a second and at most `max` seconds, and a detail.
async fn too_many(response: reqwest::Response, max: u64) -> String {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response.headers()[header::RETRY_AFTER].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=max).contains(&wait), "Retry-After {wait}");
    let body: Value = response.json().await.expect("json");
    body["detail"].as_str().expect("detail").to_owned()
}

/// `AUTH_RATE_LIMIT`: 3 account requests a minute per client address — registering, changing
/// a password, deleting an account, logging in and refreshing all count; the 4th gets 429 with
/// `Retry-After`, while another address, and requests straight from this machine, go on.
async fn account_requests_are_limited_per_client_address(app: TestApp) {
    let app = behind_proxy(app, &[("AUTH_RATE_LIMIT", "3"), ("LOGIN_FAILURE_LIMIT", "0")]).await;
    let user = app.user("rate").await;
    let ip = Some("203.0.113.5");
    let name = crate::helpers::unique("rate");
    let register = json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD});
    assert_eq!(from(&app, ip, Method::POST, "/auth/register", None, register).await.status(), StatusCode::CREATED);
    let change = json!({"old_password": "not-the-password", "new_password": "another-password"});
    let r = from(&app, ip, Method::POST, "/auth/change-password", Some(&user.access), change).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r =
        from(&app, ip, Method::DELETE, "/auth/me", Some(&user.access), json!({"password": "not-the-password"})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let right = json!({"username": user.username, "password": PASSWORD});
    let r = from(&app, ip, Method::POST, "/auth/login", None, right.clone()).await;
    assert_eq!(too_many(r, 60).await, "Too many requests; try again later");
    let r = from(&app, ip, Method::POST, "/auth/refresh", None, json!({"refresh_token": user.refresh})).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // The same /64 is the same client for IPv6.
    for ip in ["2001:db8:7:7::1", "2001:db8:7:7::2", "2001:db8:7:7::3"] {
        let r = from(&app, Some(ip), Method::POST, "/auth/refresh", None, json!({"refresh_token": "x"})).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r =
        from(&app, Some("2001:db8:7:7:ffff::9"), Method::POST, "/auth/refresh", None, json!({"refresh_token": "x"}))
            .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another client, and this machine itself, are not held back.
    let r = from(&app, Some("203.0.113.6"), Method::POST, "/auth/login", None, right.clone()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = from(&app, None, Method::POST, "/auth/login", None, right).await;
    assert_eq!(r.status(), StatusCode::OK);
    // Other endpoints are not limited by it.
    let r = from(&app, ip, Method::GET, "/auth/me", Some(&user.access), json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// `LOGIN_FAILURE_LIMIT`: 3 wrong passwords for one account, from three addresses, lock it —
/// even the right password gets 429 — without touching other accounts. A name that matches no
/// account locks the same way, so a lock-out does not tell who has an account.
async fn wrong_passwords_lock_the_account_from_any_address(app: TestApp) {
    let app = behind_proxy(app, &[("LOGIN_FAILURE_LIMIT", "3"), ("AUTH_RATE_LIMIT", "0")]).await;
    let (victim, bystander) = (app.user("lock").await, app.user("lock").await);
    for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        let wrong = json!({"username": victim.username, "password": "guess-guess"});
        let r = from(&app, Some(ip), Method::POST, "/auth/login", None, wrong).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let right = json!({"username": victim.username, "password": PASSWORD});
    let r = from(&app, Some("198.51.100.4"), Method::POST, "/auth/login", None, right).await;
    assert_eq!(too_many(r, 15 * 60).await, "Too many failed attempts; try again later");
    // By email too: it is the account that is locked.
    let by_email = json!({"username": format!("{}@example.com", victim.username), "password": PASSWORD});
    let r = from(&app, None, Method::POST, "/auth/login", None, by_email).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Change-password checks count against the same account.
    let body = json!({"old_password": PASSWORD, "new_password": "another-password-1"});
    let r = from(&app, None, Method::POST, "/auth/change-password", Some(&victim.access), body).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    // Someone else is not affected.
    let r = from(
        &app,
        Some("198.51.100.1"),
        Method::POST,
        "/auth/login",
        None,
        json!({"username": bystander.username, "password": PASSWORD}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    // Nobody by that name: the same three 401s, then the same 429.
    let ghost = json!({"username": "nobody_by_this_name", "password": "guess-guess"});
    for _ in 0..3 {
        assert_eq!(
            from(&app, None, Method::POST, "/auth/login", None, ghost.clone()).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        from(&app, None, Method::POST, "/auth/login", None, ghost).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// `SEND_RATE_LIMIT=1`: one message a second, bursts of two — counted over REST and WebSocket
/// together; refused over REST with 429 and over the socket with a `rate_limited` error that
/// says when to retry. (The bucket starts full, so the first two always pass; after them a send
/// is refused unless a whole second went by, so the refusal is awaited over a few tries.)
async fn sends_are_limited_per_user_over_rest_and_websocket_together(app: TestApp) {
    let storage: Storage = app.stop().await;
    let app = TestApp::start(storage, &[("SEND_RATE_LIMIT", "1")]).await;
    let (me, peer) = (app.user("burst").await, app.user("burst").await);
    let (status, dm) = app.post("/messages/send", &peer.access, json!({"recipient_id": me.id, "content": "hi"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let room = dm["data"]["chat_room_id"].as_i64().expect("room");
    let mut ws = Ws::connect(&app, &me.access).await;
    let send = json!({"recipient_id": peer.id, "content": "one"});
    let (status, _) = app.post("/messages/send", &me.access, send.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    ws.send(json!({"type": "message", "room_id": room, "content": "two", "client_id": "c2"})).await;
    assert_eq!(ws.expect("ack").await["client_id"], "c2");
    let mut refused = None;
    for i in 3..8 {
        let client_id = format!("c{i}");
        ws.send(json!({"type": "message", "room_id": room, "content": "more", "client_id": client_id})).await;
        let frame = ws.next().await.expect("an answer");
        if frame["type"] == "error" {
            refused = Some(frame);
            break;
        }
        assert_eq!((frame["type"].as_str(), frame["client_id"].as_str()), (Some("ack"), Some(client_id.as_str())));
    }
    let refused = refused.expect("a send refused");
    assert_eq!(refused["code"], "rate_limited", "{refused}");
    assert!((1..=1000).contains(&refused["retry_after_ms"].as_u64().expect("retry_after_ms")), "{refused}");
    let mut limited = None;
    for _ in 0..5 {
        let r = from(&app, None, Method::POST, "/messages/send", Some(&me.access), send.clone()).await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    assert_eq!(too_many(limited.expect("a REST send refused"), 1).await, "Too many messages; slow down");
    // The other user has an allowance of their own.
    let (status, _) = app.post("/messages/send", &peer.access, json!({"recipient_id": me.id, "content": "ok"})).await;
    assert_eq!(status, StatusCode::CREATED);
}

/// `MAX_CONNECTIONS_PER_USER=2`, `MAX_CONNECTIONS_PER_IP=3`: past them, `/ws/{token}` is
/// refused with 429 before the upgrade and `/ws` closes with 1008 after authenticating; a
/// place that frees up can be taken again.
async fn websockets_are_capped_per_user_and_per_address(app: TestApp) {
    let app = behind_proxy(app, &[("MAX_CONNECTIONS_PER_USER", "2"), ("MAX_CONNECTIONS_PER_IP", "3")]).await;
    let (me, other) = (app.user("cap").await, app.user("cap").await);
    let first = Ws::connect(&app, &me.access).await;
    let _second = Ws::connect(&app, &me.access).await;
    let refused = Ws::open_request(&app, &format!("/ws/{}", me.access), &[]).await.err().expect("refused");
    assert!(refused.contains("429"), "{refused}");
    let mut late = Ws::open(&app, "/ws").await;
    late.send(json!({"type": "auth", "token": me.access})).await;
    assert_eq!(late.ended().await, Ended::Closed(1008, "Too many connections for this account".into()));
    first.close().await;
    // The place frees once the server has seen the close: wait for it by trying (bounded).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while let Err(e) = Ws::open_request(&app, &format!("/ws/{}", me.access), &[]).await {
        assert!(e.contains("429") && tokio::time::Instant::now() < deadline, "{e}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Per address: three from one client address, whoever they are; the fourth is refused, and
    // another address is not.
    let third = app.user("cap").await;
    let forwarded = [("x-forwarded-for", "192.0.2.7")];
    let mut held = Vec::new();
    for token in [&other.access, &other.access, &third.access] {
        held.push(Ws::open_request(&app, &format!("/ws/{token}"), &forwarded).await.expect("under the cap"));
    }
    let refused = Ws::open_request(&app, &format!("/ws/{}", third.access), &forwarded).await.err().expect("refused");
    assert!(refused.contains("429"), "{refused}");
    let elsewhere = [("x-forwarded-for", "192.0.2.8")];
    Ws::open_request(&app, &format!("/ws/{}", third.access), &elsewhere).await.expect("another address");
}

/// Reads from a raw connection until the server closes it; what it said before closing.
async fn until_closed(tcp: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt as _;
    let mut said = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(crate::ws::WAIT, tcp.read(&mut buf)).await.expect("closed within the wait");
        match read {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&said).into_owned(),
            Ok(n) => said.extend_from_slice(&buf[..n]),
        }
    }
}

/// What the server said before closing, and when it closed (since `started`).
async fn timed_close(tcp: &mut tokio::net::TcpStream, started: std::time::Instant) -> (String, std::time::Duration) {
    let said = until_closed(tcp).await;
    (said, started.elapsed())
}

/// `HEADER_TIMEOUT_SECONDS=1`: a connection that sends nothing, one that sends half a request
/// head, and one idle after its answer are all closed by the server; a prompt request is
/// answered as usual.
#[tokio::test]
async fn connections_without_a_request_are_closed_after_the_header_timeout() {
    use tokio::io::AsyncWriteExt as _;
    let storage = Storage::new(crate::helpers::Backend::Sqlite).await.expect("sqlite");
    let app = TestApp::start(storage, &[("HEADER_TIMEOUT_SECONDS", "1")]).await;
    let mut silent = tokio::net::TcpStream::connect(app.addr).await.expect("connect");
    let mut half = tokio::net::TcpStream::connect(app.addr).await.expect("connect");
    half.write_all(b"GET /health HTTP/1.1\r\nHost: banter\r\n").await.expect("write");
    let mut idle = tokio::net::TcpStream::connect(app.addr).await.expect("connect");
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: banter\r\n\r\n").await.expect("write");
    let started = std::time::Instant::now();
    let ((silent, a), (half, b), (idle, c)) = tokio::join!(
        timed_close(&mut silent, started),
        timed_close(&mut half, started),
        timed_close(&mut idle, started)
    );
    assert!(!silent.contains("200 OK") && !half.contains("200 OK"), "{silent} / {half}");
    assert!(idle.starts_with("HTTP/1.1 200 OK") && idle.contains(r#"{"status":"healthy"}"#), "{idle}");
    // Each closed by the timeout, not at once (a reader that gives up early would pass vacuously).
    let second = std::time::Duration::from_millis(900);
    assert!(a >= second && b >= second && c >= second, "{a:?} {b:?} {c:?}");
}

/// Under an open-files limit of 256, 300 idle connections do not stop `/health` or a login:
/// the server closes the idlest connections to stay below the limit.
#[tokio::test]
async fn a_pile_of_idle_connections_does_not_stop_health_or_logins() {
    let storage = Storage::new(crate::helpers::Backend::Sqlite).await.expect("sqlite");
    let node = crate::node::Node::start_with_open_files(&storage, 256, 256, &[("HEADER_TIMEOUT_SECONDS", "600")]).await;
    // Half of them silent, half stuck a few bytes into a request head.
    use tokio::io::AsyncWriteExt as _;
    let mut idle = Vec::new();
    for i in 0..300 {
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", node.port)).await.expect("connect");
        if i % 2 == 1 {
            tcp.write_all(b"GET /he").await.expect("write");
        }
        idle.push(tcp);
    }
    let client = reqwest::Client::new();
    let health = client.get(format!("{}/health", node.base)).send().await.expect("answered");
    assert_eq!(health.status(), StatusCode::OK);
    let body = json!({"username": "pile_user", "email": "pile@example.com", "password": PASSWORD});
    let registered = client.post(format!("{}/auth/register", node.base)).json(&body).send().await.expect("answered");
    assert_eq!(registered.status(), StatusCode::CREATED);
    let login = client.post(format!("{}/auth/login", node.base)).json(&body).send().await.expect("answered");
    assert_eq!(login.status(), StatusCode::OK);
    drop(idle);
}

/// `WS_AUTH_TIMEOUT_SECONDS=1`: a socket on `/ws` that never sends its `auth` frame is closed
/// with 4001, and its place is given back.
#[tokio::test]
async fn a_socket_that_never_authenticates_is_closed() {
    let storage = Storage::new(crate::helpers::Backend::Sqlite).await.expect("sqlite");
    let app = TestApp::start(storage, &[("WS_AUTH_TIMEOUT_SECONDS", "1")]).await;
    let mut silent = Ws::open(&app, "/ws").await;
    assert_eq!(silent.ended().await, Ended::Closed(4001, "Invalid token".into()));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while app.state.sockets.load(std::sync::atomic::Ordering::Relaxed) > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the socket's slot was not given back");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A cross-site form post cannot reach the API: a `text/plain` (or form) body holding valid
/// JSON is never parsed — the seed's 422, and no account — and JSON with bytes after it is
/// refused.
#[tokio::test]
async fn bodies_that_are_not_exactly_json_are_refused() {
    let Some(app) = TestApp::spawn(crate::helpers::Backend::Sqlite).await else { return };
    let name = crate::helpers::unique("xsite");
    let body = json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD}).to_string();
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let r = app.client.post(app.url("/auth/register")).header("content-type", content_type).body(body.clone());
        let r = r.send().await.expect("sent");
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{content_type}");
        let detail: Value = r.json().await.expect("json");
        assert_eq!(detail["detail"][0]["type"], "model_attributes_type", "{content_type}: {detail}");
    }
    let login = json!({"username": name, "password": PASSWORD});
    assert_eq!(app.post_anon("/auth/login", login).await.0, StatusCode::UNAUTHORIZED, "no account was made");

    let r = app.client.post(app.url("/auth/register")).header("content-type", "application/json");
    let r = r.body(format!("{body} {{}}")).send().await.expect("sent");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let detail: Value = r.json().await.expect("json");
    assert_eq!(
        (detail["detail"][0]["type"].as_str(), detail["detail"][0]["ctx"]["error"].as_str()),
        (Some("json_invalid"), Some("trailing characters"))
    );
}

/// A client that keeps sending frames far past the frame limit is cut off with 1008.
#[tokio::test]
async fn a_frame_flood_that_does_not_slow_down_is_cut_off() {
    let Some(app) = TestApp::spawn(crate::helpers::Backend::Sqlite).await else { return };
    let user = app.user("flood").await;
    let mut ws = Ws::connect(&app, &user.access).await;
    for _ in 0..1000 {
        if ws.try_send_raw(json!({"type": "ping"}).to_string()).await.is_err() {
            break;
        }
    }
    let mut pongs = 0;
    let end = loop {
        match ws.next().await {
            Ok(frame) if frame["type"] == "pong" => pongs += 1,
            Ok(frame) => assert_eq!(frame["code"], "rate_limited", "{frame}"),
            Err(end) => break end,
        }
    };
    assert_eq!(end, Ended::Closed(1008, "Too many frames".into()), "after {pongs} pongs");
    assert!(pongs >= 200, "the burst was answered: {pongs}");
}

/// The web client's files and the API docs are compressed for browsers that accept it, and
/// revalidated by ETag (304 when unchanged).
#[tokio::test]
async fn static_files_are_compressed_and_revalidated() {
    let Some(app) = TestApp::spawn(crate::helpers::Backend::Sqlite).await else { return };
    for (path, encoding) in [("/js/main.js", "br"), ("/app.css", "gzip"), ("/docs/", "br")] {
        let r = app.client.get(app.url(path)).header(header::ACCEPT_ENCODING, encoding).send().await.expect("sent");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()[header::CONTENT_ENCODING], encoding, "{path}");
    }
    let plain = app.client.get(app.url("/app.css")).send().await.expect("sent");
    assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
    let etag = plain.headers()[header::ETAG].clone();
    let again = app.client.get(app.url("/app.css")).header(header::IF_NONE_MATCH, etag).send().await.expect("sent");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
}
