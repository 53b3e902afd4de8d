//! The test harness: `TestApp::spawn` starts a real server on port 0 over a fresh SQLite file or
//! the PostgreSQL database named by `BANTER_TEST_DATABASE_URL`, and typed helpers speak to it.
//! Each test makes its own users (unique names), so tests run in parallel and in any order.

#![allow(dead_code)]

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use banter::{config::Config, AppState};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// The signing key every test server uses, so tests can forge tokens on purpose.
pub const SECRET: &str = "test-secret-key-that-is-at-least-32-bytes-long";
pub const PASSWORD: &str = "correct-horse-battery";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates `mod sqlite` and `mod postgres`, each with one `#[tokio::test]` per listed test.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(app) = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(app) = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            )*
        }
    };
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other test (in this or another run) uses: 3–50 allowed characters.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let r: u32 = rand::random();
    format!("{prefix}_{r:08x}{n}")
}

/// Where a test server keeps its data.
#[derive(Clone, Debug)]
pub struct Storage {
    pub backend: Backend,
    pub database_url: String,
    /// The SQLite file's directory (with PostgreSQL: a directory for uploaded files only),
    /// removed when the last clone of this `Storage` is dropped (a test that restarts its
    /// server keeps one).
    pub dir: Option<Arc<tempfile::TempDir>>,
    /// The test's own PostgreSQL database, dropped when the last clone goes.
    pub pg: Option<Arc<crate::pg::TestDb>>,
}

impl Storage {
    /// `None` (and a loud message) if the backend is not configured. With
    /// `BANTER_REQUIRE_POSTGRES=1` (set by CI) a missing PostgreSQL fails the test instead.
    /// On PostgreSQL every `Storage` is a new database of its own.
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::Builder::new().prefix("banter-test").tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("banter.db").display());
                Some(Self { backend, database_url: url, dir: Some(Arc::new(dir)), pg: None })
            }
            Backend::Postgres => match std::env::var("BANTER_TEST_DATABASE_URL") {
                Ok(url) if !url.is_empty() => {
                    let db = crate::pg::TestDb::create(&url).await;
                    let dir = tempfile::Builder::new().prefix("banter-test").tempdir().expect("temp dir");
                    Some(Self {
                        backend,
                        database_url: db.url.clone(),
                        dir: Some(Arc::new(dir)),
                        pg: Some(Arc::new(db)),
                    })
                }
                _ => {
                    assert!(
                        std::env::var("BANTER_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                        "BANTER_REQUIRE_POSTGRES=1 but BANTER_TEST_DATABASE_URL is not set"
                    );
                    eprintln!("!!! PostgreSQL SKIPPED: set BANTER_TEST_DATABASE_URL to run this test on PostgreSQL");
                    None
                }
            },
        }
    }

    /// Where servers on this storage keep uploaded files (`DATA_DIR`).
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.as_ref().map_or_else(|| std::path::PathBuf::from("data"), |d| d.path().join("data"))
    }

    pub fn config(&self, extra: &[(&str, &str)]) -> Result<Config, banter::config::ConfigError> {
        // Tests send and connect far faster than people do: the per-user limits are off unless
        // a test sets them (the limits' own tests do).
        let mut vars: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), self.database_url.clone()),
            ("SECRET_KEY".into(), SECRET.into()),
            ("SEND_RATE_LIMIT".into(), "0".into()),
            ("MAX_CONNECTIONS_PER_USER".into(), "0".into()),
            ("DATA_DIR".into(), self.data_dir().display().to_string()),
        ];
        for (k, v) in extra {
            vars.retain(|(name, _)| name != k);
            vars.push(((*k).into(), (*v).into()));
        }
        Config::from_vars(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }
}

/// Runs one SQL statement (with `$1` bound to `arg`) on the storage's database, behind the
/// server's back: for tests that need a state no API call makes.
pub async fn execute(storage: &Storage, sql: &str, arg: &str) -> u64 {
    use sqlx::Connection as _;
    match storage.backend {
        Backend::Sqlite => {
            let mut db = sqlx::SqliteConnection::connect(&storage.database_url).await.expect("connect");
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .bind(arg)
                .execute(&mut db)
                .await
                .expect("sql runs")
                .rows_affected()
        }
        Backend::Postgres => {
            let mut db = sqlx::PgConnection::connect(&storage.database_url).await.expect("connect");
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .bind(arg)
                .execute(&mut db)
                .await
                .expect("sql runs")
                .rows_affected()
        }
    }
}

/// The session id (`sid` claim) of an access token.
pub fn session_of(access: &str) -> String {
    let key = jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes());
    let claims =
        jsonwebtoken::decode::<Value>(access, &key, &jsonwebtoken::Validation::default()).expect("a valid token");
    claims.claims["sid"].as_str().expect("sid").to_owned()
}

pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    pub storage: Storage,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<Self> {
        let storage = Storage::new(backend).await?;
        Some(Self::start(storage, &[]).await)
    }

    /// Starts a server on `storage` with extra settings.
    pub async fn start(storage: Storage, extra: &[(&str, &str)]) -> Self {
        let config = storage.config(extra).expect("test config is valid");
        let state = banter::build_state(config).await.expect("server state");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn({
            let state = state.clone();
            async move {
                banter::run(listener, state, async {
                    let _ = stopped.await;
                })
                .await
                .expect("server runs");
            }
        });
        Self {
            addr,
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            storage,
            state,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// Stops the server and waits until it has shut down.
    pub async fn stop(mut self) -> Storage {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task");
        }
        self.storage.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request; returns the status and the body parsed as JSON (`Value::Null` if empty
    /// or not JSON).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.request(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn post_anon(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.request(Method::POST, path, None, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.request(Method::DELETE, path, Some(token), Some(body)).await
    }

    /// Registers a new user with a unique name and [`PASSWORD`].
    pub async fn user(&self, prefix: &str) -> TestUser {
        let username = unique(prefix);
        let (status, body) = self
            .post_anon(
                "/auth/register",
                json!({
                    "username": username,
                    "email": format!("{username}@example.com"),
                    "password": PASSWORD,
                    "full_name": format!("{prefix} Tester"),
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        TestUser {
            id: body["user"]["id"].as_i64().expect("id"),
            username,
            access: body["tokens"]["access_token"].as_str().expect("access").into(),
            refresh: body["tokens"]["refresh_token"].as_str().expect("refresh").into(),
        }
    }

    /// A second session (device) for `user`.
    pub async fn login(&self, user: &TestUser) -> TestUser {
        let (status, body) =
            self.post_anon("/auth/login", json!({"username": user.username, "password": PASSWORD})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        TestUser {
            id: user.id,
            username: user.username.clone(),
            access: body["tokens"]["access_token"].as_str().expect("access").into(),
            refresh: body["tokens"]["refresh_token"].as_str().expect("refresh").into(),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: i64,
    pub username: String,
    pub access: String,
    pub refresh: String,
}

/// A DM sent over REST: the stored message.
pub async fn dm(app: &TestApp, from: &TestUser, to: &TestUser, content: &str) -> Value {
    let (status, body) =
        app.post("/messages/send", &from.access, json!({"recipient_id": to.id, "content": content})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"].clone()
}

/// A group of `owner` and `members`, created over REST: its id.
pub async fn group(app: &TestApp, owner: &TestUser, members: &[&TestUser]) -> i64 {
    let ids: Vec<i64> = members.iter().map(|m| m.id).collect();
    let (status, body) = app.post("/groups/create", &owner.access, json!({"name": "group", "member_ids": ids})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["group"]["id"].as_i64().expect("group id")
}

/// A group message sent over REST: the stored message.
pub async fn say(app: &TestApp, who: &TestUser, group_id: i64, content: &str) -> Value {
    let (status, body) = app.post("/groups/send", &who.access, json!({"group_id": group_id, "content": content})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"].clone()
}
