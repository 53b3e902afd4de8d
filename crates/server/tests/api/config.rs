//! Configuration as the binary sees it: bad settings end the process with one line and a
//! non-zero exit; a generated key survives restarts; `CORS_ORIGINS` narrows the seed's
//! any-origin CORS policy to a list.

use std::process::Command;

use reqwest::StatusCode;

use crate::helpers::{Backend, Storage, TestApp};

fn banter(envs: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_banter"));
    cmd.current_dir(dir.path()).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).arg("migrate");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("banter runs")
}

#[test]
fn bad_settings_exit_with_one_clear_line() {
    for (name, value) in [
        ("SECRET_KEY", "short"),
        ("ALGORITHM", "none"),
        ("ACCESS_TOKEN_EXPIRE_MINUTES", "soon"),
        ("REFRESH_TOKEN_EXPIRE_DAYS", "0"),
        ("PORT", "99999"),
        ("DATABASE_URL", "mysql://db/banter"),
        ("DEBUG", "perhaps"),
        ("CORS_ORIGINS", "ftp://files.example"),
    ] {
        let out = banter(&[(name, value)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{name}: one line: {stderr}");
        assert!(stderr.contains(name), "{name} is named: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"), "{stderr}");
    }
}

#[test]
fn unreachable_database_is_one_line_too() {
    let out = banter(&[("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("PostgreSQL") && !stderr.contains("panicked"), "{stderr}");
}

#[test]
fn migrate_subcommand_creates_the_database() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("m.db");
    let out = banter(&[("DATABASE_URL", &format!("sqlite://{}", db.display()))]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(db.exists());
}

#[tokio::test]
async fn a_generated_key_is_private_and_survives_restarts() {
    let storage = Storage::new(Backend::Sqlite).await.expect("sqlite");
    let dir = storage.dir.clone().expect("dir");
    let app = TestApp::start(storage, &[("SECRET_KEY", "")]).await;
    let key_file = dir.path().join("banter.secret");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).expect("key file exists").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "readable by the owner only");
    }
    let user = app.user("restart").await;
    let storage = app.stop().await;

    let app = TestApp::start(storage, &[("SECRET_KEY", "")]).await;
    let (status, me) = app.get("/auth/me", &user.access).await;
    assert_eq!(status, StatusCode::OK, "tokens survive a restart: {me}");
    assert_eq!(me["id"], user.id);
}

#[tokio::test]
async fn cors_origins_limits_cross_origin_access_to_the_list() {
    let storage = Storage::new(Backend::Sqlite).await.expect("sqlite");
    let app = TestApp::start(storage, &[("CORS_ORIGINS", "https://good.example, https://also.example/")]).await;
    let header =
        |resp: &reqwest::Response, name: &str| resp.headers().get(name).map(|v| v.to_str().expect("ascii").to_owned());
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/auth/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };

    for origin in ["https://good.example", "https://also.example"] {
        let resp = preflight(origin).await.expect("sent");
        assert_eq!(resp.status(), StatusCode::OK, "{origin}");
        assert_eq!(header(&resp, "access-control-allow-origin").as_deref(), Some(origin));
        assert_eq!(resp.text().await.expect("body"), "OK");
        let resp = app.client.get(app.url("/health")).header("origin", origin).send().await.expect("sent");
        assert_eq!(header(&resp, "access-control-allow-origin").as_deref(), Some(origin), "echoed, not *");
        assert_eq!(header(&resp, "access-control-allow-credentials").as_deref(), Some("true"));
        assert!(header(&resp, "vary").is_some_and(|v| v.contains("Origin")));
    }

    let resp = preflight("https://evil.example").await.expect("sent");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(header(&resp, "access-control-allow-origin"), None);
    assert_eq!(resp.text().await.expect("body"), "Disallowed CORS origin");
    let resp = app.client.get(app.url("/health")).header("origin", "https://evil.example").send().await.expect("sent");
    assert_eq!(resp.status(), StatusCode::OK, "the request itself is answered; the browser withholds it");
    assert_eq!(header(&resp, "access-control-allow-origin"), None);
}

/// Started with the soft open-files limit most systems give a process (1,024) under a higher
/// hard limit, the server raises the soft limit to the hard one, says so, and sizes its
/// WebSocket capacity from it (the limit less a reserve of 512).
#[tokio::test]
async fn the_soft_open_files_limit_is_raised_to_the_hard_limit() {
    let storage = Storage::new(Backend::Sqlite).await.expect("sqlite");
    let node = crate::node::Node::start_with_open_files(&storage, 1024, 4096, &[]).await;
    assert_eq!(node.listening["open_files_limit"], 4096, "{}", node.listening);
    assert_eq!(node.listening["max_connections"], 4096 - 512, "{}", node.listening);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", node.pid())).expect("limits");
    let line = limits.lines().find(|l| l.starts_with("Max open files")).expect("open files line");
    assert_eq!(line.split_whitespace().collect::<Vec<_>>()[3..5], ["4096", "4096"], "{line}");
}

/// `banter healthcheck` (the container's health check): exit 0 while the server on HOST:PORT
/// is ready, non-zero when nothing answers there.
#[tokio::test]
async fn the_healthcheck_command_reports_readiness() {
    let storage = Storage::new(Backend::Sqlite).await.expect("sqlite");
    let node = crate::node::Node::start(&storage).await;
    let check = |port: u16| {
        let dir = tempfile::tempdir().expect("dir");
        Command::new(env!("CARGO_BIN_EXE_banter"))
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOST", "0.0.0.0")
            .env("PORT", port.to_string())
            .arg("healthcheck")
            .output()
            .expect("banter runs")
    };
    let ready = check(node.port);
    assert!(ready.status.success(), "{}", String::from_utf8_lossy(&ready.stderr));
    assert_eq!(String::from_utf8_lossy(&ready.stdout).trim(), "ready");
    let free = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let down = check(free);
    assert!(!down.status.success());
    assert!(
        String::from_utf8_lossy(&down.stderr).contains("connecting to 127.0.0.1:"),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
}
