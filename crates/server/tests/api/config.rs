//! Configuration as the binary sees it: bad settings end the process with one line and a
//! non-zero exit; a generated key survives restarts.

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
    let storage = Storage::new(Backend::Sqlite).expect("sqlite");
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
