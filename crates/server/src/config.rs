//! Configuration: read once at start from the environment (and an optional `.env`, loaded by
//! `main`), validated into typed values. A bad setting is a [`ConfigError`] naming the setting;
//! `main` prints it on one line and exits non-zero.
//!
//! Names and defaults follow the seed (`DATABASE_URL`, `SECRET_KEY`, `ALGORITHM`,
//! `ACCESS_TOKEN_EXPIRE_MINUTES`, `REFRESH_TOKEN_EXPIRE_DAYS`, `DEBUG`, `APP_NAME`), plus `HOST`,
//! `PORT`, `CORS_ORIGINS`, `LOG_FORMAT` and `SECRET_KEY_FILE`.

use std::{fmt, path::PathBuf, time::Duration};

use jsonwebtoken::Algorithm;

/// Where the data lives. Chosen from `DATABASE_URL`'s scheme.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://path` (or the default `sqlite://banter.db` in the working directory).
    Sqlite(String),
    /// `postgres://…` or `postgresql://…`.
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(url.to_owned()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(url.to_owned()))
        } else {
            Err("must start with sqlite:, postgres:// or postgresql://".into())
        }
    }

    /// The SQLite file, if this is a file-backed SQLite URL.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        let Self::Sqlite(url) = self else { return None };
        let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
        let path = path.split('?').next().unwrap_or_default();
        (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// The HMAC key for access tokens. Never printed: `Debug` is redacted.
#[derive(Clone)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    /// The shortest key accepted: 256 bits, what HS256 needs to be at full strength.
    pub const MIN_LEN: usize = 32;

    pub fn new(bytes: Vec<u8>) -> Result<Self, String> {
        if bytes.len() < Self::MIN_LEN {
            return Err(format!(
                "must be at least {} bytes (got {}); generate one with `openssl rand -hex 32`",
                Self::MIN_LEN,
                bytes.len()
            ));
        }
        Ok(Self(bytes))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// Where the signing key comes from when `SECRET_KEY` is not set.
#[derive(Clone, Debug)]
pub enum KeySource {
    Given(SecretKey),
    /// Generated on first start and kept in this file (mode 0600), reused afterwards.
    File(PathBuf),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Which browser origins may call the API and open WebSockets (default: any, as in the seed).
/// Same-origin is always allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorsOrigins {
    Any,
    List(Vec<String>),
}

impl CorsOrigins {
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            Self::Any => true,
            Self::List(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        }
    }
}

/// Abuse limits (see `crate::limits`); `0` turns one off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitSettings {
    /// Requests per minute per client address to the account endpoints (`AUTH_RATE_LIMIT`).
    pub auth_per_minute: u32,
    /// Failed password checks per account per 15 minutes (`LOGIN_FAILURE_LIMIT`).
    pub login_failures: u32,
    /// Messages per second per user, bursts of twice that (`SEND_RATE_LIMIT`).
    pub sends_per_second: u32,
    /// WebSockets per user on this node (`MAX_CONNECTIONS_PER_USER`).
    pub sockets_per_user: usize,
    /// WebSockets per client address on this node (`MAX_CONNECTIONS_PER_IP`).
    pub sockets_per_addr: usize,
}

/// Who may create an account (`REGISTRATION`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Anyone (the default, as in the seed).
    Open,
    /// Whoever has an invite code (`banter invite create`).
    Invite,
    /// Nobody: accounts are made by an operator (`banter user create`).
    Closed,
}

/// Whom `/users/search` lists (`DIRECTORY`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Directory {
    /// Every active user, as team chats do (the default).
    All,
    /// Only people who share a room with the one searching, and an exact username match.
    Shared,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: DatabaseUrl,
    pub key: KeySource,
    pub algorithm: Algorithm,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub debug: bool,
    pub app_name: String,
    pub host: String,
    pub port: u16,
    pub cors_origins: CorsOrigins,
    pub log_format: LogFormat,
    /// The most WebSocket connections this node accepts; `None`: derived from the open-files
    /// limit at start.
    pub max_connections: Option<usize>,
    /// How often the server pings each WebSocket; a peer silent for 2.4 times this is dropped.
    pub ws_ping_interval: Duration,
    /// Sends waiting for this node's writer, at most (`SEND_QUEUE`).
    pub send_queue: usize,
    /// How long a send waits for room in a full queue before "server busy" (`SEND_QUEUE_WAIT`).
    pub send_queue_wait: Duration,
    /// The origin users open (`PUBLIC_URL`, e.g. `https://chat.example.com`): browsers' sockets
    /// from it are the server's own, whatever Host header a proxy passes on.
    pub public_origin: Option<String>,
    /// Redis for several nodes (`REDIS_URL`); without it, one node with in-process delivery.
    pub redis_url: Option<String>,
    /// Proxies whose `X-Forwarded-*` headers are believed (`TRUSTED_PROXIES`).
    pub trusted_proxies: std::sync::Arc<[crate::http::proxy::Net]>,
    /// Whom people search lists (`DIRECTORY`).
    pub directory: Directory,
    /// Who may create an account (`REGISTRATION`).
    pub registration: Registration,
    /// How often open sockets' sessions are checked against the database (`SESSION_CHECK_SECONDS`).
    pub session_check: Duration,
    pub limits: LimitSettings,
    /// How long a WebSocket may take to authenticate (`WS_AUTH_TIMEOUT_SECONDS`).
    pub ws_auth_timeout: Duration,
    /// How long a connection may take to send a request head, from opening or from its
    /// previous response (`HEADER_TIMEOUT_SECONDS`).
    pub header_timeout: Duration,
    /// How long a request (its body included) may take to be answered (`REQUEST_TIMEOUT_SECONDS`).
    pub request_timeout: Duration,
    /// Prometheus metrics at `/metrics` on the main address (`METRICS`).
    pub metrics: bool,
    /// Prometheus metrics on an address of their own instead (`METRICS_ADDR`).
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Where uploaded files are kept (`DATA_DIR`; default `data/` beside the SQLite file, or in
    /// the working directory with PostgreSQL).
    pub data_dir: PathBuf,
    /// The largest file accepted (`MAX_UPLOAD_BYTES`, default 25 MiB).
    pub max_upload_bytes: u64,
    /// `UPLOAD_QUOTA_BYTES`: the most one user's files may take, sent or not (0: no limit).
    pub upload_quota_bytes: u64,
}

/// A setting that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {setting}: {reason}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub reason: String,
}

fn bad(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError { setting, reason: reason.into() }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads settings through `var`, so tests can check every rule without touching the
    /// process environment. Empty values count as unset.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());

        let database_url = match get("DATABASE_URL") {
            Some(url) => DatabaseUrl::parse(&url).map_err(|r| bad("DATABASE_URL", r))?,
            None => DatabaseUrl::Sqlite("sqlite://banter.db".into()),
        };

        let key = match get("SECRET_KEY") {
            Some(key) => KeySource::Given(SecretKey::new(key.into_bytes()).map_err(|r| bad("SECRET_KEY", r))?),
            None => KeySource::File(match get("SECRET_KEY_FILE") {
                Some(path) => PathBuf::from(path),
                None => database_url
                    .sqlite_file()
                    .and_then(|db| db.parent().map(|dir| dir.join("banter.secret")))
                    .unwrap_or_else(|| PathBuf::from("banter.secret")),
            }),
        };

        let algorithm = match get("ALGORITHM").as_deref().unwrap_or("HS256") {
            "HS256" => Algorithm::HS256,
            "HS384" => Algorithm::HS384,
            "HS512" => Algorithm::HS512,
            other => return Err(bad("ALGORITHM", format!("{other:?} is not one of HS256, HS384, HS512"))),
        };

        let access_minutes = positive(&get, "ACCESS_TOKEN_EXPIRE_MINUTES", 30, 60 * 24 * 365)?;
        let refresh_days = positive(&get, "REFRESH_TOKEN_EXPIRE_DAYS", 7, 3650)?;

        let debug = match get("DEBUG") {
            None => false,
            Some(v) => parse_bool(&v).ok_or_else(|| bad("DEBUG", format!("{v:?} is not true or false")))?,
        };

        let port = match get("PORT") {
            None => 8000,
            Some(v) => v.parse::<u16>().map_err(|_| bad("PORT", format!("{v:?} is not a port number (0-65535)")))?,
        };

        let cors_origins = match get("CORS_ORIGINS") {
            // Any origin, as the seed allows: credentials are bearer tokens a page must hold
            // explicitly, never cookies a browser would attach on its own.
            None => CorsOrigins::Any,
            Some(v) if v == "*" => CorsOrigins::Any,
            Some(v) => {
                let list: Vec<String> =
                    v.split(',').map(|o| o.trim().trim_end_matches('/').to_owned()).filter(|o| !o.is_empty()).collect();
                if let Some(o) = list.iter().find(|o| !(o.starts_with("http://") || o.starts_with("https://"))) {
                    return Err(bad("CORS_ORIGINS", format!("{o:?} is not an http(s) origin")));
                }
                CorsOrigins::List(list)
            }
        };

        let log_format = match get("LOG_FORMAT").as_deref().unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => return Err(bad("LOG_FORMAT", format!("{other:?} is not text or json"))),
        };

        let max_connections = match get("MAX_CONNECTIONS") {
            None => None,
            Some(v) => Some(
                v.parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("MAX_CONNECTIONS", format!("{v:?} is not a positive whole number")))?,
            ),
        };

        let public_origin = match get("PUBLIC_URL") {
            None => None,
            Some(url) => {
                Some(origin_of(&url).ok_or_else(|| bad("PUBLIC_URL", format!("{url:?} is not an http(s) URL")))?)
            }
        };
        let redis_url = match get("REDIS_URL") {
            Some(url)
                if !(url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("unix://")) =>
            {
                return Err(bad("REDIS_URL", format!("{url:?} is not a redis:// URL")));
            }
            other => other,
        };
        let trusted_proxies = match get("TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(|n| n.parse().map_err(|r| bad("TRUSTED_PROXIES", r)))
                .collect::<Result<_, _>>()?,
        };

        let registration = match get("REGISTRATION").as_deref().unwrap_or("open") {
            "open" => Registration::Open,
            "invite" => Registration::Invite,
            "closed" => Registration::Closed,
            other => return Err(bad("REGISTRATION", format!("{other:?} is not open, invite or closed"))),
        };
        let directory = match get("DIRECTORY").as_deref().unwrap_or("all") {
            "all" => Directory::All,
            "shared" => Directory::Shared,
            other => return Err(bad("DIRECTORY", format!("{other:?} is not all or shared"))),
        };

        let ws_ping = positive(&get, "WS_PING_SECONDS", 25, 3600)?;
        let send_queue = positive(&get, "SEND_QUEUE", 8192, 1_000_000)?;
        let send_queue_wait = positive(&get, "SEND_QUEUE_WAIT", 5, 300)?;
        let session_check = positive(&get, "SESSION_CHECK_SECONDS", 30, 3600)?;
        let ws_auth_timeout = positive(&get, "WS_AUTH_TIMEOUT_SECONDS", 10, 600)?;
        let header_timeout = positive(&get, "HEADER_TIMEOUT_SECONDS", 30, 3600)?;
        let request_timeout = positive(&get, "REQUEST_TIMEOUT_SECONDS", 30, 3600)?;
        let metrics = match get("METRICS") {
            None => false,
            Some(v) => parse_bool(&v).ok_or_else(|| bad("METRICS", format!("{v:?} is not true or false")))?,
        };
        let metrics_addr = match get("METRICS_ADDR") {
            None => None,
            Some(v) => Some(
                v.parse().map_err(|_| bad("METRICS_ADDR", format!("{v:?} is not an address like 127.0.0.1:9100")))?,
            ),
        };
        let limits = LimitSettings {
            auth_per_minute: limit(&get, "AUTH_RATE_LIMIT", 30, 1_000_000)?,
            login_failures: limit(&get, "LOGIN_FAILURE_LIMIT", 10, 1_000_000)?,
            sends_per_second: limit(&get, "SEND_RATE_LIMIT", 20, 1_000_000)?,
            sockets_per_user: limit(&get, "MAX_CONNECTIONS_PER_USER", 20, 1_000_000)? as usize,
            sockets_per_addr: limit(&get, "MAX_CONNECTIONS_PER_IP", 200, 1_000_000)? as usize,
        };

        let data_dir = match get("DATA_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => database_url
                .sqlite_file()
                .and_then(|db| db.parent().map(|dir| dir.join("data")))
                .unwrap_or_else(|| PathBuf::from("data")),
        };
        let max_upload_bytes = positive(&get, "MAX_UPLOAD_BYTES", 25 * 1024 * 1024, 1 << 40)?;
        let upload_quota_bytes = match get("UPLOAD_QUOTA_BYTES") {
            None => 2 << 30,
            Some(v) => v.parse::<u64>().ok().filter(|n| *n <= 1 << 50).ok_or_else(|| {
                bad("UPLOAD_QUOTA_BYTES", format!("{v:?} is not a whole number from 0 (no limit) to {}", 1u64 << 50))
            })?,
        };

        Ok(Self {
            data_dir,
            max_upload_bytes,
            upload_quota_bytes,
            database_url,
            key,
            algorithm,
            access_token_ttl: Duration::from_secs(access_minutes * 60),
            refresh_token_ttl: Duration::from_secs(refresh_days * 24 * 3600),
            debug,
            app_name: get("APP_NAME").unwrap_or_else(|| "Banter".into()),
            host: get("HOST").unwrap_or_else(|| "127.0.0.1".into()),
            port,
            cors_origins,
            log_format,
            max_connections,
            ws_ping_interval: Duration::from_secs(ws_ping),
            send_queue: usize::try_from(send_queue).unwrap_or(8192),
            send_queue_wait: Duration::from_secs(send_queue_wait),
            public_origin,
            redis_url,
            trusted_proxies: trusted_proxies.into(),
            directory,
            registration,
            session_check: Duration::from_secs(session_check),
            limits,
            ws_auth_timeout: Duration::from_secs(ws_auth_timeout),
            header_timeout: Duration::from_secs(header_timeout),
            request_timeout: Duration::from_secs(request_timeout),
            metrics,
            metrics_addr,
        })
    }
}

/// `scheme://host[:port]` of an http(s) URL, lower-cased (a path is allowed and dropped).
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let host = rest.split(['/', '?', '#']).next()?;
    if !matches!(scheme.as_str(), "http" | "https") || host.is_empty() || host.contains('@') {
        return None;
    }
    Some(format!("{scheme}://{}", host.to_ascii_lowercase()))
}

fn positive(
    get: &impl Fn(&str) -> Option<String>,
    setting: &'static str,
    default: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    match get(setting) {
        None => Ok(default),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(bad(setting, format!("{v:?} is not a whole number from 1 to {max}"))),
        },
    }
}

/// A limit: a whole number up to `max`, where `0` turns the limit off.
fn limit(
    get: &impl Fn(&str) -> Option<String>,
    setting: &'static str,
    default: u32,
    max: u32,
) -> Result<u32, ConfigError> {
    match get(setting) {
        None => Ok(default),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if n <= max => Ok(n),
            _ => Err(bad(setting, format!("{v:?} is not a whole number from 0 (off) to {max}"))),
        },
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Loads the key from `path`, or creates it there (32 random bytes, hex, mode 0600) on first
/// start, so access tokens stay valid across restarts without any configuration.
pub fn load_or_create_key(path: &std::path::Path) -> anyhow::Result<SecretKey> {
    use anyhow::Context as _;
    use std::io::Write as _;

    match std::fs::read_to_string(path) {
        Ok(text) => SecretKey::new(text.trim().as_bytes().to_vec())
            .map_err(|r| anyhow::anyhow!("key file {} {r}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            rand::fill(&mut bytes);
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).with_context(|| format!("creating key file {}", path.display()))?;
            file.write_all(hex.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing key file {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a new signing key");
            SecretKey::new(hex.into_bytes()).map_err(|r| anyhow::anyhow!(r))
        }
        Err(e) => Err(e).with_context(|| format!("reading key file {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn defaults_need_no_configuration() {
        let c = config(&[]).expect("defaults are valid");
        assert_eq!(c.database_url, DatabaseUrl::Sqlite("sqlite://banter.db".into()));
        assert_eq!(c.algorithm, Algorithm::HS256);
        assert_eq!(c.access_token_ttl, Duration::from_secs(30 * 60));
        assert_eq!(c.refresh_token_ttl, Duration::from_secs(7 * 86400));
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 8000));
        assert!(matches!(c.key, KeySource::File(ref p) if p == &PathBuf::from("banter.secret")));
    }

    #[test]
    fn each_bad_setting_is_named() {
        for (name, value) in [
            ("SECRET_KEY", "too-short"),
            ("ALGORITHM", "none"),
            ("ALGORITHM", "RS256"),
            ("ACCESS_TOKEN_EXPIRE_MINUTES", "0"),
            ("ACCESS_TOKEN_EXPIRE_MINUTES", "ten"),
            ("REFRESH_TOKEN_EXPIRE_DAYS", "-1"),
            ("DEBUG", "maybe"),
            ("PORT", "70000"),
            ("DATABASE_URL", "mysql://localhost/x"),
            ("CORS_ORIGINS", "example.com"),
            ("LOG_FORMAT", "xml"),
            ("MAX_CONNECTIONS", "0"),
            ("WS_PING_SECONDS", "0"),
            ("SEND_QUEUE", "0"),
            ("SEND_QUEUE_WAIT", "-1"),
            ("PUBLIC_URL", "chat.example.com"),
            ("REDIS_URL", "localhost:6379"),
            ("PUBLIC_URL", "ftp://chat.example.com"),
            ("TRUSTED_PROXIES", "127.0.0.1, nonsense"),
            ("TRUSTED_PROXIES", "10.0.0.0/40"),
        ] {
            let err = config(&[(name, value)]).expect_err(name);
            assert_eq!(err.setting, name);
            assert!(err.to_string().starts_with(&format!("invalid setting {name}: ")), "{err}");
        }
    }

    #[test]
    fn the_public_url_is_kept_as_an_origin() {
        let c = config(&[("PUBLIC_URL", "HTTPS://Chat.Example.com:8443/app/"), ("TRUSTED_PROXIES", "127.0.0.1,::1")])
            .expect("valid");
        assert_eq!(c.public_origin.as_deref(), Some("https://chat.example.com:8443"));
        assert_eq!(c.trusted_proxies.len(), 2);
        assert_eq!(config(&[]).expect("defaults").public_origin, None);
    }

    #[test]
    fn secret_key_is_never_printed() {
        let key = "k".repeat(40);
        let c = config(&[("SECRET_KEY", &key)]).expect("valid key");
        assert!(!format!("{c:?}").contains(&key));
    }

    #[test]
    fn key_file_sits_beside_the_sqlite_database() {
        let c = config(&[("DATABASE_URL", "sqlite:///var/lib/banter/chat.db")]).expect("valid");
        assert!(matches!(c.key, KeySource::File(ref p) if p == &PathBuf::from("/var/lib/banter/banter.secret")));
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/banter/data"), "and so do uploaded files");
        assert_eq!(c.max_upload_bytes, 25 * 1024 * 1024);
        let pg = config(&[("DATABASE_URL", "postgres://db/banter"), ("MAX_UPLOAD_BYTES", "1000")]).expect("valid");
        assert_eq!((pg.data_dir, pg.max_upload_bytes), (PathBuf::from("data"), 1000));
        assert!(config(&[("MAX_UPLOAD_BYTES", "0")]).is_err());
        assert_eq!(c.upload_quota_bytes, 2 << 30, "2 GiB of files per user by default");
        assert_eq!(config(&[("UPLOAD_QUOTA_BYTES", "0")]).expect("off").upload_quota_bytes, 0);
        assert_eq!(config(&[("UPLOAD_QUOTA_BYTES", "5000")]).expect("valid").upload_quota_bytes, 5000);
        assert!(config(&[("UPLOAD_QUOTA_BYTES", "-1")]).is_err());
    }

    #[test]
    fn cors_list_is_parsed() {
        let c = config(&[("CORS_ORIGINS", "https://a.example, http://b.example/")]).expect("valid");
        assert!(c.cors_origins.allows("https://a.example"));
        assert!(c.cors_origins.allows("http://b.example"));
        assert!(!c.cors_origins.allows("https://c.example"));
    }
}
