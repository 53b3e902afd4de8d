//! A two-node cluster (one database, one private Redis) behind the reverse proxies whose
//! configs Banter ships (`docs/deploy/`): nginx and Caddy from Debian's packages, started by the
//! test on free ports with the documented config (only the listen address and the upstreams
//! swapped). Through each: HTTP answers, browser-style WebSockets (with an `Origin` header naming
//! `PUBLIC_URL`) connect — spread over both nodes — and chat, and a foreign origin is refused.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use futures_util::SinkExt as _;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest as _, Message};

use crate::{
    helpers::{Backend, Storage, TestApp},
    ws::Ws,
};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A proxy process, killed when dropped.
struct Proxy {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `None` (loudly) if the proxy is not installed; with `BANTER_REQUIRE_ALL=1` (CI) that fails.
fn installed(binary: &str) -> bool {
    if std::path::Path::new(binary).exists() {
        return true;
    }
    assert!(
        std::env::var("BANTER_REQUIRE_ALL").as_deref() != Ok("1"),
        "BANTER_REQUIRE_ALL=1 but {binary} is missing (apt-get install nginx caddy)"
    );
    eprintln!("!!! proxy test SKIPPED: {binary} is not installed (apt-get install nginx caddy)");
    false
}

impl Proxy {
    fn nginx(port: u16, upstreams: &[u16]) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let site = include_str!("../../../../docs/deploy/nginx.conf")
            .replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
            .replace(
                "server 127.0.0.1:8000;",
                &upstreams.iter().map(|p| format!("server 127.0.0.1:{p};")).collect::<Vec<_>>().join("\n    "),
            );
        let path = dir.path().display().to_string();
        std::fs::write(dir.path().join("site.conf"), site).expect("site");
        let main = format!(
            "daemon off;\nmaster_process off;\npid {path}/nginx.pid;\nerror_log {path}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {path}/body;\n  proxy_temp_path {path}/proxy;\n  \
             fastcgi_temp_path {path}/fastcgi;\n  uwsgi_temp_path {path}/uwsgi;\n  scgi_temp_path {path}/scgi;\n  \
             include {path}/site.conf;\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), main).expect("conf");
        let child = Command::new("/usr/sbin/nginx")
            .args(["-p", &path, "-c", &format!("{path}/nginx.conf")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        Self { child, port, _dir: dir }
    }

    fn caddy(port: u16, upstreams: &[u16]) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let site = include_str!("../../../../docs/deploy/Caddyfile")
            .replace("chat.example.com {", &format!("http://127.0.0.1:{port} {{"))
            .replace(
                "127.0.0.1:8000",
                &upstreams.iter().map(|p| format!("127.0.0.1:{p}")).collect::<Vec<_>>().join(" "),
            );
        // The test's own global options: no admin endpoint, nothing written outside its dir.
        std::fs::write(dir.path().join("Caddyfile"), format!("{{\n\tadmin off\n}}\n\n{site}")).expect("Caddyfile");
        let child = Command::new("/usr/bin/caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(dir.path().join("Caddyfile"))
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("caddy starts");
        Self { child, port, _dir: dir }
    }

    /// Waits (bounded) until the proxy answers `/ready` from Banter.
    async fn until_ready(&self, client: &reqwest::Client) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(resp) = client.get(format!("http://127.0.0.1:{}/ready", self.port)).send().await {
                if resp.status() == StatusCode::OK {
                    return resp.json().await.expect("json");
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "the proxy did not pass /ready through in 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Opens `/ws/{token}` through the proxy as a browser on `origin` would.
async fn browser_socket(port: u16, token: &str, origin: &str) -> Result<Ws, tungstenite::Error> {
    let mut req = format!("ws://127.0.0.1:{port}/ws/{token}").into_client_request().expect("request");
    req.headers_mut().insert("origin", origin.parse().expect("origin"));
    let (stream, _) = tokio_tungstenite::connect_async(req).await?;
    Ok(Ws::from_stream(stream))
}

async fn through(proxy: fn(u16, &[u16]) -> Proxy, binary: &str) {
    if !installed(binary) {
        return;
    }
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let storage = Storage::new(Backend::Sqlite).await.expect("sqlite");
    let redis = crate::cluster::RedisServer::start();
    let url = redis.url();
    // Only the public address may open sockets from a browser (not any origin, the default).
    let settings = [
        ("PUBLIC_URL", public.as_str()),
        ("TRUSTED_PROXIES", "127.0.0.1, ::1"),
        ("CORS_ORIGINS", "http://elsewhere.example"),
        ("REDIS_URL", url.as_str()),
    ];
    let app = TestApp::start(storage.clone(), &settings).await;
    let other = TestApp::start(storage, &settings).await;
    let proxy = proxy(port, &[app.addr.port(), other.addr.port()]);
    let ready = proxy.until_ready(&app.client).await;
    assert_eq!(ready["status"], "ready");

    let (a, b) = (app.user("proxied").await, app.user("proxied").await);
    let (_, group) = app.post("/groups/create", &a.access, json!({"name": "proxy", "member_ids": [b.id]})).await;
    let room = group["group"]["id"].as_i64().expect("room");

    // A browser on the public address: connected, and chatting works both ways through it.
    let mut aw = browser_socket(port, &a.access, &public).await.expect("the public origin is allowed");
    assert_eq!(aw.expect("connected").await["user_id"], a.id);
    let mut bw = browser_socket(port, &b.access, &public).await.expect("the public origin is allowed");
    bw.expect("connected").await;
    bw.send(json!({"type": "subscribe_all"})).await;
    bw.expect("subscribed").await;
    aw.send(json!({"type": "message", "room_id": room, "content": "via the proxy", "client_id": "px-1"})).await;
    assert_eq!(aw.expect("ack").await["message"]["content"], "via the proxy");
    assert_eq!(bw.expect("new_message").await["content"], "via the proxy");

    // The proxy spreads sockets over both nodes (opened until both have one; bounded).
    let mut extra = Vec::new();
    while app.state.hub.connection_count() == 0 || other.state.hub.connection_count() == 0 {
        assert!(extra.len() < 20, "20 sockets through the proxy all went to one node");
        let mut ws = browser_socket(port, &a.access, &public).await.expect("connects");
        ws.expect("connected").await;
        extra.push(ws);
    }

    // A 3 MiB file uploaded through the proxy (past nginx's default 1 MiB body limit) comes back
    // byte-exact through it, from whichever node answers (they share DATA_DIR).
    let bytes: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let form = reqwest::multipart::Form::new()
        .part("file", reqwest::multipart::Part::bytes(bytes.clone()).file_name("big.bin"));
    let resp = app
        .client
        .post(format!("http://127.0.0.1:{port}/attachments"))
        .bearer_auth(&a.access)
        .multipart(form)
        .send()
        .await
        .expect("upload through the proxy");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let file: Value = resp.json().await.expect("json");
    assert_eq!(file["size"], bytes.len());
    for _ in 0..2 {
        let resp = app
            .client
            .get(format!("http://127.0.0.1:{port}{}", file["url"].as_str().expect("url")))
            .bearer_auth(&a.access)
            .send()
            .await
            .expect("download through the proxy");
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.bytes().await.expect("body") == bytes, "the same bytes came back");
    }

    // Another site's page is refused at the upgrade.
    match browser_socket(port, &a.access, "http://evil.example").await {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        Err(other) => panic!("expected a 403 at the upgrade, got {other}"),
        Ok(_) => panic!("a foreign origin was let in"),
    }
    // Directly, without the proxy, a page claiming the public origin is still the public one.
    let direct = format!("ws://{}/ws/{}", app.addr, a.access);
    let mut req = direct.into_client_request().expect("request");
    req.headers_mut().insert("origin", public.parse().expect("origin"));
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("direct with the public origin");
    ws.send(Message::text(r#"{"type":"ping"}"#)).await.expect("ping");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_and_http_work_behind_nginx() {
    through(Proxy::nginx, "/usr/sbin/nginx").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_and_http_work_behind_caddy() {
    through(Proxy::caddy, "/usr/bin/caddy").await;
}
