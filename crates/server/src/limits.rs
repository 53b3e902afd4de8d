//! Abuse limits, in one place: requests to the account endpoints per client address, failed
//! password checks per account, messages per user (REST and WebSocket together), and WebSocket
//! connections per user and per address. Each is a setting where `0` turns it off.
//!
//! Counts are per node: behind a proxy that spreads clients over N nodes, a client can get up to
//! N times a per-address or per-user allowance (the failed-password limit too, unless a client
//! keeps to one node). Requests straight from this machine (a loopback peer with no forwarding
//! header: tests, local tools, health checks) are not limited per address.

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use governor::{clock::Clock as _, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::{config::LimitSettings, error::Error, http::proxy::ClientAddr};

/// The window of the failed-password limit.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Accounts (or unknown login names) whose failures are remembered, at most; past it the oldest
/// failures are forgotten first.
const FAILURES_TRACKED: usize = 100_000;

pub struct Limits {
    settings: LimitSettings,
    auth: Option<DefaultKeyedRateLimiter<IpAddr>>,
    sends: Option<DefaultKeyedRateLimiter<i64>>,
    failures: Mutex<HashMap<Account, VecDeque<Instant>>>,
    sockets: Mutex<SocketCounts>,
}

/// Whose password was wrong: a known account, or a login name that matches none (counted too,
/// so that a lock-out does not tell who has an account).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Account {
    User(i64),
    Name(String),
}

#[derive(Default)]
struct SocketCounts {
    users: HashMap<i64, usize>,
    addrs: HashMap<IpAddr, usize>,
}

/// A WebSocket's place under the per-user and per-address caps, given back when dropped.
pub struct SocketPermit {
    limits: Arc<Limits>,
    user: Option<i64>,
    addr: Option<IpAddr>,
}

fn per(count: u32, period: Duration, burst: u32) -> Option<Quota> {
    let count = NonZeroU32::new(count)?;
    let burst = NonZeroU32::new(burst)?;
    Quota::with_period(period / count.get()).map(|q| q.allow_burst(burst))
}

fn too_many(detail: &str, wait: Duration) -> Error {
    Error::RateLimited { detail: detail.into(), retry_after: wait }
}

impl Limits {
    pub fn new(settings: LimitSettings) -> Self {
        let auth =
            per(settings.auth_per_minute, Duration::from_secs(60), settings.auth_per_minute).map(RateLimiter::keyed);
        let sends = per(settings.sends_per_second, Duration::from_secs(1), settings.sends_per_second.saturating_mul(2))
            .map(RateLimiter::keyed);
        Self { settings, auth, sends, failures: Mutex::default(), sockets: Mutex::default() }
    }

    /// One request to an account endpoint (register, login, refresh, change password, delete
    /// account) from `client`.
    pub fn auth_request(&self, client: &ClientAddr) -> Result<(), Error> {
        let Some(limiter) = &self.auth else { return Ok(()) };
        if client.local {
            return Ok(());
        }
        limiter.check_key(&client.ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            too_many("Too many requests; try again later", wait)
        })
    }

    /// One message from `user_id`, by whatever way it came.
    pub fn send(&self, user_id: i64) -> Result<(), Error> {
        let Some(limiter) = &self.sends else { return Ok(()) };
        limiter.check_key(&user_id).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            too_many("Too many messages; slow down", wait)
        })
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<Account, VecDeque<Instant>>> {
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Before checking a password of `account`: refused while it has had too many failures.
    pub fn password_allowed(&self, account: &Account) -> Result<(), Error> {
        let limit = self.settings.login_failures as usize;
        if limit == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut failures = self.failures();
        let Some(times) = failures.get_mut(account) else { return Ok(()) };
        while times.front().is_some_and(|t| now.duration_since(*t) >= FAILURE_WINDOW) {
            times.pop_front();
        }
        match times.front() {
            Some(oldest) if times.len() >= limit => {
                let wait = FAILURE_WINDOW.saturating_sub(now.duration_since(*oldest));
                Err(too_many("Too many failed attempts; try again later", wait))
            }
            _ => Ok(()),
        }
    }

    /// A password of `account` was wrong.
    pub fn password_failed(&self, account: Account) {
        let limit = self.settings.login_failures as usize;
        if limit == 0 {
            return;
        }
        let now = Instant::now();
        let mut failures = self.failures();
        if failures.len() >= FAILURES_TRACKED && !failures.contains_key(&account) {
            failures.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < FAILURE_WINDOW));
            if failures.len() >= FAILURES_TRACKED {
                // Still full of live entries (a flood of names): forget the stalest.
                let stalest = failures.iter().min_by_key(|(_, t)| t.back().copied()).map(|(k, _)| k.clone());
                if let Some(key) = stalest {
                    failures.remove(&key);
                }
            }
        }
        let times = failures.entry(account).or_default();
        times.push_back(now);
        while times.len() > limit {
            times.pop_front();
        }
    }

    /// The right password: the account's failures are forgotten.
    pub fn password_succeeded(&self, user_id: i64) {
        self.failures().remove(&Account::User(user_id));
    }

    fn sockets(&self) -> std::sync::MutexGuard<'_, SocketCounts> {
        self.sockets.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A WebSocket from `client` (counted per address).
    pub fn socket_from(self: &Arc<Self>, client: Option<&ClientAddr>) -> Result<SocketPermit, Error> {
        let cap = self.settings.sockets_per_addr;
        let mut permit = SocketPermit { limits: Arc::clone(self), user: None, addr: None };
        let Some(client) = client else { return Ok(permit) };
        if cap == 0 || client.local {
            return Ok(permit);
        }
        let mut counts = self.sockets();
        let n = counts.addrs.entry(client.ip).or_insert(0);
        if *n >= cap {
            return Err(Error::RateLimited {
                detail: "Too many connections from this address".into(),
                retry_after: Duration::from_secs(10),
            });
        }
        *n += 1;
        permit.addr = Some(client.ip);
        Ok(permit)
    }

    /// Takes the socket's place among `user_id`'s (once the user is known).
    pub fn socket_of(&self, permit: &mut SocketPermit, user_id: i64) -> Result<(), Error> {
        let cap = self.settings.sockets_per_user;
        if cap == 0 || permit.user.is_some() {
            return Ok(());
        }
        let mut counts = self.sockets();
        let n = counts.users.entry(user_id).or_insert(0);
        if *n >= cap {
            return Err(Error::RateLimited {
                detail: "Too many connections for this account".into(),
                retry_after: Duration::from_secs(10),
            });
        }
        *n += 1;
        permit.user = Some(user_id);
        Ok(())
    }

    /// Forgets what no longer limits anyone (run now and then).
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.sends {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.auth {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let now = Instant::now();
        self.failures().retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < FAILURE_WINDOW));
    }
}

impl SocketPermit {
    /// Counts the socket as `user_id`'s too (refused past the per-user cap).
    pub fn claim_user(&mut self, user_id: i64) -> Result<(), Error> {
        let limits = Arc::clone(&self.limits);
        limits.socket_of(self, user_id)
    }
}

impl Drop for SocketPermit {
    fn drop(&mut self) {
        if self.user.is_none() && self.addr.is_none() {
            return;
        }
        let mut counts = self.limits.sockets();
        if let Some(user) = self.user {
            release(&mut counts.users, &user);
        }
        if let Some(addr) = self.addr {
            release(&mut counts.addrs, &addr);
        }
    }
}

fn release<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

/// Forgets idle limiter state every minute until `stop`.
pub async fn housekeeping(limits: Arc<Limits>, stop: tokio_util::sync::CancellationToken) {
    let mut ticks = tokio::time::interval(Duration::from_secs(60));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => limits.forget_idle(),
        }
    }
}
