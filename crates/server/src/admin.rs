//! The operator's commands (`banter user …`, `banter invite create`, `banter backup`): run by
//! the same binary, with the same settings, on the same database as the server — while it runs.
//!
//! Commands that end sessions (disable, reset-password, delete) revoke them in the database and
//! leave a signal there that every running node looks for each second: the users' open sockets
//! close (4003) on every node within about a second.

use std::time::Duration;

use anyhow::{bail, Context as _};

use crate::{
    accounts::{self, NewAccount},
    auth::{password, tokens},
    config::DatabaseUrl,
    store::{self, DynStore, User},
    validate,
};

/// A generated password: 20 letters and digits (about 119 bits).
pub fn generate_password() -> String {
    use rand::distr::{Alphanumeric, SampleString as _};
    Alphanumeric.sample_string(&mut rand::rng(), 20)
}

/// Opens the database the server uses — an existing one, already migrated to this binary's
/// version: an operator's command neither creates a database (a mistyped `DATABASE_URL` would
/// otherwise get a new, empty one) nor migrates one under a running server of another version.
pub async fn open(url: &DatabaseUrl) -> anyhow::Result<DynStore> {
    if let Some(file) = url.sqlite_file() {
        anyhow::ensure!(
            file.exists(),
            "no database at {} (check DATABASE_URL, or start the server once)",
            file.display()
        );
    }
    let store = store::connect(url).await?;
    match store.migrations_behind().await? {
        0 => Ok(store),
        n => bail!(
            "the database is {n} migration(s) behind this binary: run `banter migrate` (or start the new server) first"
        ),
    }
}

async fn user_named(store: &DynStore, name: &str) -> anyhow::Result<User> {
    store.user_by_username(name).await?.with_context(|| format!("no user named {name:?}"))
}

/// What a validation refusal says, for a terminal.
fn explain(e: crate::error::Error) -> anyhow::Error {
    anyhow::anyhow!("{}", e.message())
}

/// `banter user create`: the account, as registration would make it (same rules).
pub async fn create_user(
    store: &DynStore,
    username: &str,
    email: &str,
    full_name: Option<&str>,
    password: &str,
) -> anyhow::Result<User> {
    let account = NewAccount::checked(username, email, password, full_name).map_err(explain)?;
    accounts::create_account(store, account).await.map_err(explain)
}

/// `banter user list`: one line per account.
pub async fn list_users(store: &DynStore) -> anyhow::Result<String> {
    let users = store.all_users().await?;
    let mut out = format!("{:>6}  {:<24} {:<32} {:<8} {}\n", "ID", "USERNAME", "EMAIL", "STATUS", "CREATED");
    for u in users {
        let status = if u.is_active { "active" } else { "disabled" };
        let created = u.created_at.format("%Y-%m-%d %H:%M");
        out.push_str(&format!("{:>6}  {:<24} {:<32} {:<8} {created}\n", u.id, u.username, u.email, status));
    }
    Ok(out)
}

/// Ends every session of the user and tells the nodes to close their sockets; returns how many
/// sessions were live.
async fn end_sessions(store: &DynStore, user_id: i64) -> anyhow::Result<u64> {
    let ended = store.revoke_all_sessions(user_id).await?;
    store.signal_sessions_ended().await?;
    Ok(ended)
}

/// `banter user disable` / `enable`. Disabling ends every session at once; a disabled account
/// cannot log in (`Account is inactive`) until enabled again.
pub async fn set_enabled(store: &DynStore, name: &str, enabled: bool) -> anyhow::Result<String> {
    let user = user_named(store, name).await?;
    store.set_active(user.id, enabled).await?;
    if enabled {
        return Ok(format!("enabled {}", user.username));
    }
    let ended = end_sessions(store, user.id).await?;
    Ok(format!("disabled {}; {ended} session(s) ended", user.username))
}

/// `banter user reset-password`: sets the password and ends every session.
pub async fn reset_password(store: &DynStore, name: &str, new_password: &str) -> anyhow::Result<String> {
    let user = user_named(store, name).await?;
    let checked = validate::password(new_password).map_err(|p| anyhow::anyhow!("password: {}", p.msg))?;
    let hashed = password::hash(checked).await.map_err(explain)?;
    store.set_password(user.id, &hashed).await?;
    let ended = end_sessions(store, user.id).await?;
    Ok(format!("password of {} reset; {ended} session(s) ended", user.username))
}

/// `banter user delete`: the account-deletion rules (messages stay as "Deleted User"; groups
/// pass to their longest-standing member).
pub async fn delete_user(store: &DynStore, name: &str) -> anyhow::Result<String> {
    let user = user_named(store, name).await?;
    end_sessions(store, user.id).await?;
    let groups = store.delete_user(user.id).await?;
    Ok(format!("deleted {} (was in {} group(s))", user.username, groups.len()))
}

/// `banter invite create`: a code for `REGISTRATION=invite`, good for `uses` accounts until it
/// expires. Only its hash is stored: the code is shown once.
pub async fn create_invite(store: &DynStore, uses: i64, expires: Option<Duration>) -> anyhow::Result<String> {
    if uses < 1 {
        bail!("--uses must be 1 or more");
    }
    let code = tokens::new_refresh_token();
    let expires_at = match expires {
        Some(d) => {
            let d = chrono::Duration::from_std(d).ok().context("--expires is too long")?;
            Some(store::now().checked_add_signed(d).context("--expires is too long")?)
        }
        None => None,
    };
    store.create_invite(&tokens::refresh_token_hash(&code), uses, expires_at).await?;
    Ok(code)
}

/// `7d`, `12h`, `30m`: a duration for `--expires`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 7d, 12h or 30m"))?;
    let seconds = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" | "" => 1,
        _ => return Err(format!("{text:?}: the unit must be d, h, m or s")),
    };
    n.checked_mul(seconds)
        .filter(|s| *s > 0)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is out of range"))
}

/// `banter backup PATH`: SQLite only — a consistent copy of the live database (`VACUUM INTO`),
/// safe while the server runs. PostgreSQL has `pg_dump` for that.
pub async fn backup(url: &DatabaseUrl, path: &std::path::Path) -> anyhow::Result<String> {
    let DatabaseUrl::Sqlite(_) = url else {
        bail!("this is a PostgreSQL database: back it up with pg_dump (e.g. pg_dump -Fc -f banter.dump \"$DATABASE_URL\")");
    };
    if path.exists() {
        bail!("{} exists already; choose a new file", path.display());
    }
    let target = path.to_str().context("the backup path is not valid UTF-8")?;
    let store = open(url).await?;
    store.backup_into(target).await?;
    // The copy holds password hashes: readable by its owner only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {}", path.display()))?;
    }
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    Ok(format!("backed up to {} ({size} bytes)", path.display()))
}
