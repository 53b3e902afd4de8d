//! Password hashing: argon2id at OWASP's recommended cost (19 MiB, 2 passes, 1 lane) on a fixed
//! set of hashing threads — one per core — each reusing one preallocated 19 MiB memory block.
//!
//! Why not a fresh allocation per hash on the blocking pool: every hash would allocate 19 MiB,
//! and the allocator keeps such blocks once freed (glibc raises its mmap threshold after the
//! first free, so the next ones come from per-thread arenas that never shrink). A server that
//! had seen a burst of logins kept hundreds of MiB it no longer used. Here memory for hashing is
//! fixed at start: threads × 19 MiB.
//!
//! In front of the threads is a bounded queue ([`QUEUE`]): a login flood gets "busy" (503) at
//! once instead of unbounded waiting and memory. A hash takes tens of milliseconds of CPU and
//! never runs on an async worker, where it would stall every connection sharing it.

use std::sync::LazyLock;

use argon2::{
    password_hash::{rand_core::OsRng, Output, ParamsString, PasswordHash, SaltString},
    Algorithm, Argon2, Block, Params, Version,
};
use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1.
const M_COST: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;

/// Hashes that may wait for a free thread; past this a hash or login is refused as busy. At
/// ~30 ms a hash and one thread per core, a full queue is about a second of work.
pub const QUEUE: usize = 64;

fn params() -> Params {
    Params::new(M_COST, T_COST, P_COST, None).unwrap_or_default()
}

enum Job {
    Hash { password: String, reply: oneshot::Sender<anyhow::Result<String>> },
    Verify { password: String, hash: Option<String>, reply: oneshot::Sender<bool> },
}

impl Job {
    fn abandoned(&self) -> bool {
        match self {
            Self::Hash { reply, .. } => reply.is_closed(),
            Self::Verify { reply, .. } => reply.is_closed(),
        }
    }
}

/// The hashing threads and their queue.
pub struct Hasher {
    tx: flume::Sender<Job>,
}

impl Hasher {
    /// Starts `threads` hashing threads behind a queue of `queue` jobs.
    pub fn start(threads: usize, queue: usize) -> Self {
        let (tx, rx) = flume::bounded::<Job>(queue);
        for n in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("banter-hash-{n}")).spawn(move || {
                // The thread's one block of argon2 memory, made for its first hash and reused by
                // every later one.
                let mut memory: Vec<Block> = Vec::new();
                while let Ok(job) = rx.recv() {
                    // Its asker gave up (a closed request): nobody would read the answer.
                    if job.abandoned() {
                        continue;
                    }
                    if memory.is_empty() {
                        memory = vec![Block::default(); params().block_count()];
                    }
                    // A panic fails this job (its asker gets an error), not the thread.
                    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(job, &mut memory)));
                    if ran.is_err() {
                        tracing::error!("a password hashing job panicked");
                    }
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "a password hashing thread could not start");
            }
        }
        Self { tx }
    }

    fn submit(&self, job: Job) -> Result<()> {
        self.tx.try_send(job).map_err(|e| match e {
            flume::TrySendError::Full(_) => {
                tracing::warn!("password hashing queue full; refusing");
                Error::Unavailable("Server busy, please retry".into())
            }
            flume::TrySendError::Disconnected(_) => Error::Internal(anyhow::anyhow!("password hashing stopped")),
        })
    }

    /// A new salted argon2id hash of `password`, in PHC string form.
    pub async fn hash(&self, password: String) -> Result<String> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash { password, reply })?;
        answer.await.map_err(|_| Error::Internal(anyhow::anyhow!("password hashing stopped")))?.map_err(Error::Internal)
    }

    /// Checks `password` against `hash`; with no hash (unknown user) it does the same work and
    /// answers false, so "no such user" and "wrong password" take the same time.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Verify { password, hash, reply })?;
        answer.await.map_err(|_| Error::Internal(anyhow::anyhow!("password hashing stopped")))
    }
}

fn run(job: Job, memory: &mut [Block]) {
    match job {
        Job::Hash { password, reply } => {
            let _ = reply.send(hash_with(&password, memory));
        }
        Job::Verify { password, hash, reply } => {
            let ok = match hash {
                Some(hash) => verify_with(&password, &hash, memory),
                None => {
                    verify_with(&password, DUMMY_HASH, memory);
                    false
                }
            };
            let _ = reply.send(ok);
        }
    }
}

/// A hash (at today's parameters) of a password nobody has, verified against when the login
/// names no user, so that "no such user" takes as long as "wrong password".
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$HBnFJtWrzxgby/1uYAlFIQ$19YdwS1vw/a5WeQFF8GgXJU6TO/CgkbBod80ZdTkNgk";

/// The most memory a stored hash may ask to be verified with (a hash with a larger `m` is not
/// one this server made: refused rather than allocated).
const M_COST_MAX: u32 = 4 * M_COST;

fn hash_with(password: &str, memory: &mut [Block]) -> anyhow::Result<String> {
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("argon2: {e}");
    let params = params();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| err(&e))?;
    let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        argon2.hash_password_into_with_memory(password.as_bytes(), salt_bytes, out, &mut *memory).map_err(Into::into)
    })
    .map_err(|e| err(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| err(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Checks `password` against a PHC string. A hash made with other parameters than today's
/// still verifies (in this thread's memory if it fits, else in a block of its own).
fn verify_with(password: &str, hash: &str, memory: &mut [Block]) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    let (Ok(algorithm), Some(expected), Some(salt)) = (Algorithm::try_from(parsed.algorithm), parsed.hash, parsed.salt)
    else {
        return false;
    };
    let version = parsed.version.map_or(Ok(Version::V0x13), Version::try_from);
    let (Ok(version), Ok(params)) = (version, Params::try_from(&parsed)) else { return false };
    if params.m_cost() > M_COST_MAX {
        return false;
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else { return false };
    let needed = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut own;
    let memory = if needed <= memory.len() {
        memory
    } else {
        own = vec![Block::default(); needed];
        own.as_mut_slice()
    };
    let computed = Output::init_with(expected.len(), |out| {
        argon2.hash_password_into_with_memory(password.as_bytes(), salt_bytes, out, &mut *memory).map_err(Into::into)
    });
    // `Output`'s equality is constant-time.
    computed.is_ok_and(|c| c == expected)
}

/// The node's hashing threads (one per core), started on first use.
static HASHER: LazyLock<Hasher> =
    LazyLock::new(|| Hasher::start(std::thread::available_parallelism().map_or(2, std::num::NonZero::get), QUEUE));

/// Starts the hashing threads now rather than at the first login.
pub fn warm_up() {
    LazyLock::force(&HASHER);
}

pub async fn hash(password: String) -> Result<String> {
    HASHER.hash(password).await
}

pub async fn verify(password: String, hash: Option<String>) -> Result<bool> {
    HASHER.verify(password, hash).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_is_made_with_todays_parameters() {
        let parsed = PasswordHash::new(DUMMY_HASH).expect("a PHC string");
        assert_eq!(Params::try_from(&parsed).expect("params").block_count(), params().block_count());
        assert!(DUMMY_HASH.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let mut memory = vec![Block::default(); params().block_count()];
        assert!(verify_with("banter-dummy-password", DUMMY_HASH, &mut memory), "and it is a real hash");
    }

    #[test]
    fn hashes_asking_for_more_memory_than_this_server_uses_are_refused() {
        use argon2::PasswordHasher as _;
        let big = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(M_COST_MAX + 1024, 1, 1, None).expect("params"),
        );
        let phc = big.hash_password(b"pw", &SaltString::generate(&mut OsRng)).expect("hash").to_string();
        let mut memory = vec![Block::default(); params().block_count()];
        assert!(!verify_with("pw", &phc, &mut memory));
    }

    #[tokio::test]
    async fn hashes_are_salted_argon2id_and_verify() {
        let a = hash("correct horse".into()).await.expect("hash");
        let b = hash("correct horse".into()).await.expect("hash");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(verify("correct horse".into(), Some(a.clone())).await.expect("verify"));
        assert!(!verify("correct horsE".into(), Some(a)).await.expect("verify"));
        assert!(!verify("anything".into(), None).await.expect("verify"));
        assert!(!verify("anything".into(), Some("not a hash".into())).await.expect("verify"));
    }

    #[tokio::test]
    async fn hashes_made_by_the_argon2_crate_with_other_parameters_verify() {
        use argon2::PasswordHasher as _;
        for (m, t) in [(8 * 1024, 1), (32 * 1024, 2)] {
            let other = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(m, t, 1, None).expect("params"));
            let salt = SaltString::generate(&mut OsRng);
            let phc = other.hash_password(b"pw", &salt).expect("hash").to_string();
            assert!(verify("pw".into(), Some(phc.clone())).await.expect("verify"), "m={m}");
            assert!(!verify("pW".into(), Some(phc)).await.expect("verify"), "m={m}");
        }
        // And ours verify with the crate's own verifier.
        use argon2::PasswordVerifier as _;
        let ours = hash("pw".into()).await.expect("hash");
        let parsed = PasswordHash::new(&ours).expect("phc");
        assert!(Argon2::default().verify_password(b"pw", &parsed).is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_hashes_all_verify_on_a_small_pool() {
        let hasher = std::sync::Arc::new(Hasher::start(2, 32));
        let jobs = (0..16).map(|i| {
            let hasher = hasher.clone();
            tokio::spawn(async move {
                let password = format!("password {i}");
                let h = hasher.hash(password.clone()).await.expect("hash");
                (
                    hasher.verify(password, Some(h.clone())).await.expect("verify"),
                    hasher.verify("x".into(), Some(h)).await.expect("verify"),
                )
            })
        });
        for job in jobs {
            assert_eq!(job.await.expect("joined"), (true, false));
        }
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy_at_once() {
        // One thread and room for one waiting job: the first occupies the thread, the second
        // waits, and from then on hashes are refused rather than queued.
        let hasher = std::sync::Arc::new(Hasher::start(1, 1));
        let mut pending = Vec::new();
        let mut busy = 0;
        for i in 0..20 {
            let (reply, answer) = oneshot::channel();
            match hasher.submit(Job::Hash { password: format!("p{i}"), reply }) {
                Ok(()) => pending.push(answer),
                Err(Error::Unavailable(detail)) => {
                    assert_eq!(detail, "Server busy, please retry");
                    busy += 1;
                }
                Err(other) => panic!("{other:?}"),
            }
        }
        assert!(busy >= 18, "at most one running and one waiting: {busy} refused");
        for answer in pending {
            assert!(answer.await.expect("answered").expect("hashed").starts_with("$argon2id$"));
        }
    }
}
