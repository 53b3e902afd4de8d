//! Password hashing: argon2id at OWASP's recommended cost (19 MiB, 2 passes, 1 lane), always on
//! tokio's blocking pool — a hash takes tens of milliseconds of CPU and would stall every
//! connection sharing an async worker.

use std::sync::LazyLock;

use anyhow::Context as _;
use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};

fn argon2() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A hash of a password nobody has, verified against when the login names no user, so that
/// "no such user" and "wrong password" take the same time.
static DUMMY_HASH: LazyLock<Option<String>> = LazyLock::new(|| hash_blocking("banter-dummy-password").ok());

/// At most one hash per core at a time: each takes 19 MiB and a core for tens of milliseconds,
/// so a flood of logins queues here instead of starting hundreds of blocking threads.
static SLOTS: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZero::get))
});

/// Runs one argon2 job on the blocking pool, within [`SLOTS`].
async fn limited<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    let _slot = SLOTS.acquire().await.context("password hashing is shut down")?;
    tokio::task::spawn_blocking(job).await.context("password hashing task")
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let hash = argon2().hash_password(password.as_bytes(), &salt).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(hash.to_string())
}

fn verify_blocking(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| argon2().verify_password(password.as_bytes(), &parsed).is_ok())
}

pub async fn hash(password: String) -> anyhow::Result<String> {
    limited(move || hash_blocking(&password)).await?
}

/// Checks `password` against `hash`; with no hash (unknown user) it does the same work and
/// answers false.
pub async fn verify(password: String, hash: Option<String>) -> anyhow::Result<bool> {
    limited(move || match hash {
        Some(hash) => verify_blocking(&password, &hash),
        None => {
            if let Some(dummy) = DUMMY_HASH.as_deref() {
                verify_blocking(&password, dummy);
            }
            false
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hashes_are_salted_argon2id_and_verify() {
        let a = super::hash("correct horse".into()).await.expect("hash");
        let b = super::hash("correct horse".into()).await.expect("hash");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(super::verify("correct horse".into(), Some(a.clone())).await.expect("verify"));
        assert!(!super::verify("correct horsE".into(), Some(a)).await.expect("verify"));
        assert!(!super::verify("anything".into(), None).await.expect("verify"));
    }
}
