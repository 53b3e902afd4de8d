//! `banter` as a separate process: for tests that need two servers on one database, or a server
//! killed with SIGKILL mid-traffic and started again.

#![allow(dead_code)]

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use crate::helpers::{Storage, SECRET};

/// A running `banter serve` process.
pub struct Node {
    child: Child,
    pub port: u16,
    /// The "listening" log line (JSON).
    pub listening: serde_json::Value,
    pub base: String,
    storage: Storage,
    /// The working directory (where a generated key file would go).
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl Node {
    /// Starts a server on `storage` and waits until it answers `/health`.
    pub async fn start(storage: &Storage) -> Self {
        Self::start_on(storage, free_port()).await
    }

    async fn start_on(storage: &Storage, port: u16) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_banter"));
        command.env_clear();
        Self::launch(storage, port, command).await
    }

    /// Starts a server whose open-files limit is `soft`:`hard` when it starts (set by `prlimit`,
    /// which then runs the server in its own process).
    pub async fn start_with_open_files(storage: &Storage, soft: u64, hard: u64, settings: &[(&str, &str)]) -> Self {
        let mut command = Command::new("prlimit");
        command.env_clear().arg(format!("--nofile={soft}:{hard}")).arg("--").arg(env!("CARGO_BIN_EXE_banter"));
        for (k, v) in settings {
            command.env(k, v);
        }
        Self::launch(storage, free_port(), command).await
    }

    /// Starts a server with extra settings.
    pub async fn start_with(storage: &Storage, settings: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_banter"));
        command.env_clear();
        for (k, v) in settings {
            command.env(k, v);
        }
        Self::launch(storage, free_port(), command).await
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// (Settings already on `command` are kept; nothing else is inherited from the tests.)
    async fn launch(storage: &Storage, port: u16, mut command: Command) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let child = command
            .current_dir(dir.path())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &storage.database_url)
            .env("DATA_DIR", storage.data_dir())
            .env("SECRET_KEY", SECRET)
            .env("SEND_RATE_LIMIT", "0")
            .env("MAX_CONNECTIONS_PER_USER", "0")
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("RUST_LOG", "info")
            .env("LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("banter starts");
        let mut node = Self {
            child,
            port,
            listening: serde_json::Value::Null,
            base: format!("http://127.0.0.1:{port}"),
            storage: storage.clone(),
            dir,
        };
        node.listening = node.wait_listening().await;
        node
    }

    /// Waits for the server's "listening" log line (it is logged once the socket is bound), then
    /// keeps reading its output so the pipe never fills.
    async fn wait_listening(&mut self) -> serde_json::Value {
        let stdout = self.child.stdout.take().expect("piped stdout");
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            let mut tx = Some(tx);
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("Banter is listening") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(serde_json::from_str(&line).unwrap_or_default());
                    }
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .expect("banter starts listening within a minute")
            .expect("banter exited before listening")
    }

    /// SIGKILL: no shutdown, no flush, nothing but what was committed.
    pub fn kill(mut self) -> Storage {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.storage.clone()
    }

    /// SIGTERM, as an orchestrator stops a node: waits (bounded) for the process to exit and
    /// returns whether it exited cleanly.
    pub fn terminate(mut self) -> bool {
        let sent = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        assert!(sent.is_ok_and(|s| s.success()), "SIGTERM sent");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            assert!(std::time::Instant::now() < deadline, "banter did not exit within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process, then starts a new one on the same storage and port.
    pub async fn restart_after_kill(self) -> Self {
        let port = self.port;
        let storage = self.kill();
        Self::start_on(&storage, port).await
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
