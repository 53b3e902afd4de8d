//! A PostgreSQL database of its own for every test: cloned from a template that is migrated once
//! (`CREATE DATABASE … TEMPLATE`), and dropped when the test's [`TestDb`] goes.
//!
//! The template's name carries a hash of the migrations, so changing a migration makes a new
//! template instead of failing against an old one. Databases left behind by test processes that
//! died are dropped the next time a template is prepared.

use std::sync::atomic::{AtomicU64, Ordering};

use sha2::Digest as _;
use sqlx::{postgres::PgConnectOptions, ConnectOptions as _, Connection as _, PgConnection};

/// Prefix of every per-test database: `banter_t_<pid>_<n>`.
const PREFIX: &str = "banter_t_";
/// An advisory lock key: one template preparation or clone at a time, across test processes.
const LOCK: i64 = 0x0000_6261_6e74_6572;

static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A test's own database; dropped (in the background) when this is.
#[derive(Debug)]
pub struct TestDb {
    admin_url: String,
    pub name: String,
    pub url: String,
}

fn with_database(url: &str, database: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{database}"),
        None => format!("{url}/{database}"),
    }
}

async fn admin(url: &str) -> PgConnection {
    let options: PgConnectOptions = url.parse().expect("BANTER_TEST_DATABASE_URL is a PostgreSQL URL");
    options.connect().await.expect("PostgreSQL accepts the test connection")
}

/// The migrated template database, prepared once per test process.
async fn template(admin_url: &str) -> String {
    TEMPLATE
        .get_or_init(|| async {
            let migrator = sqlx::migrate!("./migrations/postgres");
            let mut hash = sha2::Sha256::new();
            for m in migrator.iter() {
                hash.update(m.version.to_le_bytes());
                hash.update(&*m.checksum);
            }
            let digest: String = hash.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect();
            let name = format!("banter_tpl_{digest}");

            let mut conn = admin(admin_url).await;
            sqlx::query("SELECT pg_advisory_lock($1)").bind(LOCK).execute(&mut conn).await.expect("lock");
            drop_abandoned(&mut conn).await;
            let exists: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
                .bind(&name)
                .fetch_optional(&mut conn)
                .await
                .expect("look up the template");
            if exists.is_none() {
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create template");
                let mut tpl = admin(&with_database(admin_url, &name)).await;
                migrator.run(&mut tpl).await.expect("migrate the template");
                tpl.close().await.expect("close the template");
            }
            sqlx::query("SELECT pg_advisory_unlock($1)").bind(LOCK).execute(&mut conn).await.expect("unlock");
            let _ = conn.close().await;
            name
        })
        .await
        .clone()
}

/// Drops per-test databases whose test process is gone.
async fn drop_abandoned(conn: &mut PgConnection) {
    let names: Vec<(String,)> = sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'banter\\_t\\_%'")
        .fetch_all(&mut *conn)
        .await
        .unwrap_or_default();
    for (name,) in names {
        let pid = name.trim_start_matches(PREFIX).split('_').next().unwrap_or_default();
        let alive = !pid.is_empty() && std::path::Path::new(&format!("/proc/{pid}")).exists();
        if !alive {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                .execute(&mut *conn)
                .await;
        }
    }
}

impl TestDb {
    /// A new, migrated, empty database.
    pub async fn create(admin_url: &str) -> Self {
        let template = template(admin_url).await;
        let name = format!("{PREFIX}{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let mut conn = admin(admin_url).await;
        // Cloning needs the template to itself; clones from several tests take turns.
        sqlx::query("SELECT pg_advisory_lock($1)").bind(LOCK).execute(&mut conn).await.expect("lock");
        let created = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name} TEMPLATE {template}")))
            .execute(&mut conn)
            .await;
        sqlx::query("SELECT pg_advisory_unlock($1)").bind(LOCK).execute(&mut conn).await.expect("unlock");
        created.expect("clone the template");
        let _ = conn.close().await;
        Self { admin_url: admin_url.to_owned(), url: with_database(admin_url, &name), name }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop cannot wait: a thread of its own drops the database (with any connection the
        // test's server still holds). Should the process end first, the next run drops it.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                let Ok(options) = admin_url.parse::<PgConnectOptions>() else { return };
                let Ok(mut conn) = options.connect().await else { return };
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                    .execute(&mut conn)
                    .await;
                let _ = conn.close().await;
            });
        });
    }
}
