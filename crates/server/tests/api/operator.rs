//! Operator tools: metrics (and, alongside, registration control and the admin CLI).

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    helpers::{Backend, Storage, TestApp, PASSWORD},
    ws::{Ended, Ws},
};

/// Runs `banter ARGS` on the storage's database (as an operator would, beside the server);
/// returns whether it succeeded, its stdout and its stderr.
fn cli(storage: &Storage, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    use std::io::Write as _;
    let dir = tempfile::tempdir().expect("dir");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_banter"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &storage.database_url)
        .env("SECRET_KEY", crate::helpers::SECRET)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("banter runs");
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("banter ends");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

backend_tests!(
    metrics_count_requests_messages_and_connections,
    registration_can_be_closed_or_by_invitation,
    the_admin_cli_manages_accounts_on_a_running_server,
);

/// `METRICS=true`: `/metrics` in Prometheus' text format — requests by route template (never a
/// raw path), latency histograms, messages persisted, deliveries, open sockets, the pool.
async fn metrics_count_requests_messages_and_connections(app: TestApp) {
    let (status, _) = app.request(reqwest::Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "off by default");
    let storage: Storage = app.stop().await;
    let app = TestApp::start(storage, &[("METRICS", "true"), ("SEND_RATE_LIMIT", "1")]).await;
    let (me, peer) = (app.user("metric").await, app.user("metric").await);
    let _socket = Ws::subscribed(&app, &peer.access).await;
    let (status, _) =
        app.post("/messages/send", &me.access, json!({"recipient_id": peer.id, "content": "counted"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app.get(&format!("/users/{}", peer.id), &me.access).await;
    assert_eq!(status, StatusCode::OK);
    // Past the send limit (one a second, bursts of two): a refusal to count.
    let mut refused = false;
    for _ in 0..5 {
        let (status, _) =
            app.post("/messages/send", &me.access, json!({"recipient_id": peer.id, "content": "more"})).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused = true;
            break;
        }
    }
    assert!(refused);

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
    has(r#"banter_rate_limited_total{limit="sends"}"#);
    has(r#"banter_http_requests_total{route="/messages/send",status="429"}"#);
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

/// `REGISTRATION=closed`: 403 `Registration is closed`. `REGISTRATION=invite`: a code from
/// `banter invite create` is needed; each registers as many accounts as it has uses, and a
/// registration refused for another reason does not spend one.
async fn registration_can_be_closed_or_by_invitation(app: TestApp) {
    let storage: Storage = app.stop().await;
    let body = |name: &str, code: Option<&str>| {
        let mut b = json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD});
        if let Some(code) = code {
            b["invite_code"] = json!(code);
        }
        b
    };
    let closed = TestApp::start(storage.clone(), &[("REGISTRATION", "closed")]).await;
    let (_, mode) = closed.request(reqwest::Method::GET, "/auth/registration", None, None).await;
    assert_eq!(mode, json!({"mode": "closed"}));
    let (status, refused) = closed.post_anon("/auth/register", body("closed_one", None)).await;
    assert_eq!((status, refused), (StatusCode::FORBIDDEN, json!({"detail": "Registration is closed"})));
    drop(closed);

    let app = TestApp::start(storage.clone(), &[("REGISTRATION", "invite")]).await;
    let (_, mode) = app.request(reqwest::Method::GET, "/auth/registration", None, None).await;
    assert_eq!(mode, json!({"mode": "invite"}));
    let needed = json!({"detail": "A valid invite code is required to register"});
    let (status, refused) = app.post_anon("/auth/register", body(&crate::helpers::unique("inv"), None)).await;
    assert_eq!((status, refused), (StatusCode::FORBIDDEN, needed.clone()));
    let (status, refused) =
        app.post_anon("/auth/register", body(&crate::helpers::unique("inv"), Some("made-up"))).await;
    assert_eq!((status, refused), (StatusCode::FORBIDDEN, needed.clone()));

    let (ok, code, err) = cli(&storage, &["invite", "create", "--uses", "1", "--expires", "1d"], None);
    assert!(ok, "{err}");
    let code = code.trim();
    // A taken username: refused, and the code keeps its use.
    let existing = crate::helpers::unique("inv");
    let email = format!("{existing}@example.org");
    let (ok, _, err) =
        cli(&storage, &["user", "create", &existing, "--email", &email, "--password-stdin"], Some(PASSWORD));
    assert!(ok, "{err}");
    let (status, _) = app.post_anon("/auth/register", body(&existing, Some(code))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, welcome) = app.post_anon("/auth/register", body(&crate::helpers::unique("inv"), Some(code))).await;
    assert_eq!(status, StatusCode::CREATED, "{welcome}");
    let (status, refused) = app.post_anon("/auth/register", body(&crate::helpers::unique("inv"), Some(code))).await;
    assert_eq!((status, refused), (StatusCode::FORBIDDEN, needed), "used up");
}

/// Every `banter user` command end to end, beside a running server on the same database.
async fn the_admin_cli_manages_accounts_on_a_running_server(app: TestApp) {
    let storage = app.storage.clone();
    let name = crate::helpers::unique("ops");
    let email = format!("{name}@example.com");
    let login = |password: &str| json!({"username": name, "password": password});

    // Create, with a password from stdin; it logs in over HTTP and is listed.
    let (ok, out, err) =
        cli(&storage, &["user", "create", &name, "--email", &email, "--password-stdin"], Some("stdin-password-1\n"));
    assert!(ok && out.starts_with(&format!("created {name} (id ")), "{out}{err}");
    let (status, session) = app.post_anon("/auth/login", login("stdin-password-1")).await;
    assert_eq!(status, StatusCode::OK);
    let (ok, list, _) = cli(&storage, &["user", "list"], None);
    assert!(ok && list.lines().any(|l| l.contains(&name) && l.contains(&email) && l.contains("active")), "{list}");

    // Disable: its open socket closes at once (the nodes watch for the signal each second),
    // and it cannot log in; enable again.
    let token = session["tokens"]["access_token"].as_str().expect("token").to_owned();
    let mut socket = Ws::subscribed(&app, &token).await;
    let (ok, out, err) = cli(&storage, &["user", "disable", &name], None);
    assert!(ok && out.contains(&format!("disabled {name}; 1 session(s) ended")), "{out}{err}");
    assert_eq!(socket.ended().await, Ended::Closed(4003, "session revoked".into()));
    let (status, _) = app.post_anon("/auth/login", login("stdin-password-1")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (ok, list, _) = cli(&storage, &["user", "list"], None);
    assert!(ok && list.lines().any(|l| l.contains(&name) && l.contains("disabled")), "{list}");
    assert!(cli(&storage, &["user", "enable", &name], None).0);
    assert_eq!(app.post_anon("/auth/login", login("stdin-password-1")).await.0, StatusCode::OK);

    // Reset the password: generated, printed once; the old one stops working.
    let (ok, out, err) = cli(&storage, &["user", "reset-password", &name], None);
    assert!(ok, "{err}");
    let generated = out.lines().find_map(|l| l.strip_prefix("password: ")).expect("a generated password");
    assert_eq!(generated.len(), 20);
    assert_eq!(app.post_anon("/auth/login", login("stdin-password-1")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.post_anon("/auth/login", login(generated)).await.0, StatusCode::OK);

    // Delete; then it is gone. Unknown names fail with a message and a non-zero exit.
    let (ok, out, _) = cli(&storage, &["user", "delete", &name], None);
    assert!(ok && out.starts_with(&format!("deleted {name}")), "{out}");
    assert_eq!(app.post_anon("/auth/login", login(generated)).await.0, StatusCode::UNAUTHORIZED);
    let (ok, _, err) = cli(&storage, &["user", "delete", &name], None);
    assert!(!ok && err.contains("no user named"), "{err}");
    // The registration rules apply.
    let (ok, _, err) = cli(&storage, &["user", "create", "x", "--email", "nope"], None);
    assert!(!ok && err.contains("username") && err.contains("email"), "{err}");

    // Backup: SQLite makes a consistent copy that opens as a database; PostgreSQL points to
    // pg_dump and fails.
    let dir = tempfile::tempdir().expect("dir");
    let copy = dir.path().join("copy.db");
    let (ok, out, err) = cli(&storage, &["backup", copy.to_str().expect("path")], None);
    match storage.backend {
        Backend::Sqlite => {
            assert!(ok && out.starts_with("backed up to"), "{out}{err}");
            let copy_storage = Storage { database_url: format!("sqlite://{}", copy.display()), ..storage.clone() };
            let (ok, list, _) = cli(&copy_storage, &["user", "list"], None);
            assert!(ok && list.contains("USERNAME"), "{list}");
            let (again, _, err) = cli(&storage, &["backup", copy.to_str().expect("path")], None);
            assert!(!again && err.contains("exists"), "{err}");
        }
        Backend::Postgres => assert!(!ok && err.contains("pg_dump"), "{err}"),
    }
}

/// PostgreSQL over TLS, `sslmode` in `DATABASE_URL` as in libpq. The local PostgreSQL serves TLS
/// with Debian's self-signed certificate for `localhost` (`.ci/run` makes sure): `require`
/// encrypts without checking the certificate; `verify-full` with that certificate as
/// `sslrootcert` checks it — accepted for `localhost`, refused for `127.0.0.1` (not a name in
/// it); `disable` does not encrypt.
#[tokio::test]
async fn postgres_connections_use_tls_as_sslmode_says() {
    let Some(storage) = Storage::new(Backend::Postgres).await else { return };
    const CERT: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
    let url = |params: &str| format!("{}?{params}", storage.database_url);
    // Which of this test's connections (by application name) are encrypted.
    let encrypted = |app_name: &'static str| {
        let admin_url = storage.database_url.clone();
        async move {
            use sqlx::Connection as _;
            let mut admin = sqlx::PgConnection::connect(&admin_url).await.expect("admin connection");
            let rows: Vec<(bool,)> = sqlx::query_as(
                "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid WHERE a.application_name = $1",
            )
            .bind(app_name)
            .fetch_all(&mut admin)
            .await
            .expect("pg_stat_ssl");
            assert!(!rows.is_empty(), "no connection named {app_name}");
            rows.iter().all(|(ssl,)| *ssl)
        }
    };

    let app =
        TestApp::start(storage.clone(), &[("DATABASE_URL", &url("sslmode=require&application_name=tls-require"))])
            .await;
    app.user("tls").await;
    assert!(encrypted("tls-require").await, "sslmode=require encrypts");
    drop(app);

    let localhost = storage.database_url.replacen("127.0.0.1", "localhost", 1);
    let verified = format!("{localhost}?sslmode=verify-full&sslrootcert={CERT}&application_name=tls-verify");
    let app = TestApp::start(storage.clone(), &[("DATABASE_URL", &verified)]).await;
    app.user("tls").await;
    assert!(encrypted("tls-verify").await);
    drop(app);

    let wrong_name = url(&format!("sslmode=verify-full&sslrootcert={CERT}"));
    let config = storage.config(&[("DATABASE_URL", &wrong_name)]).expect("config");
    assert!(banter::build_state(config).await.is_err(), "a certificate for another name is refused");

    let app =
        TestApp::start(storage.clone(), &[("DATABASE_URL", &url("sslmode=disable&application_name=tls-off"))]).await;
    app.user("tls").await;
    assert!(!encrypted("tls-off").await, "sslmode=disable does not encrypt");
    drop(app);

    // No sslmode, to this machine itself: no TLS (it would protect nothing, and costs half the
    // throughput); to another host the default is libpq's `prefer`.
    let app = TestApp::start(storage.clone(), &[("DATABASE_URL", &url("application_name=tls-default"))]).await;
    app.user("tls").await;
    assert!(!encrypted("tls-default").await, "no TLS on loopback by default");
}

/// Operator commands never create a database (a mistyped `DATABASE_URL` would get a new, empty
/// one) nor migrate one: they say what is wrong and exit non-zero.
#[tokio::test]
async fn operator_commands_refuse_a_missing_database() {
    let dir = tempfile::tempdir().expect("dir");
    let missing = dir.path().join("nowhere.db");
    let storage = Storage {
        backend: Backend::Sqlite,
        database_url: format!("sqlite://{}", missing.display()),
        dir: None,
        pg: None,
    };
    let (ok, _, err) = cli(&storage, &["user", "list"], None);
    assert!(!ok && err.contains("no database at"), "{err}");
    assert!(!missing.exists(), "nothing was created");
}
