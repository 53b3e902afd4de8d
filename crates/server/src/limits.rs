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

/// Whose password is checked: a known account, or a login name that matches none (counted too,
/// so that a lock-out does not tell who has an account; kept as a hash of the name, so that
/// long names cost no more than short ones).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Account {
    User(i64),
    Name([u8; 16]),
}

impl Account {
    /// A login name (already case-folded) that matches no account.
    pub fn unknown(folded: &str) -> Self {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(folded.as_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        Self::Name(key)
    }
}

/// The address limits are kept per: an IPv4 address, or an IPv6 /64 (what one subscriber
/// typically holds, so rotating addresses within it gains nothing).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
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

/// A refusal by `limit` (counted in the metrics).
fn too_many(limit: &'static str, detail: &str, wait: Duration) -> Error {
    crate::metrics::rate_limited(limit);
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
        limiter.check_key(&client_key(client.ip)).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            too_many("auth", "Too many requests; try again later", wait)
        })
    }

    /// One message from `user_id`, by whatever way it came.
    pub fn send(&self, user_id: i64) -> Result<(), Error> {
        let Some(limiter) = &self.sends else { return Ok(()) };
        limiter.check_key(&user_id).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            too_many("sends", "Too many messages; slow down", wait)
        })
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<Account, VecDeque<Instant>>> {
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Before checking a password of `account`: refused while it has had too many failures;
    /// otherwise counted as a failure at once — so guesses sent in parallel count before their
    /// answers are known — and forgotten again if the password proves right.
    pub fn password_attempt(&self, account: &Account) -> Result<(), Error> {
        let limit = self.settings.login_failures as usize;
        if limit == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut failures = self.failures();
        if let Some(times) = failures.get_mut(account) {
            while times.front().is_some_and(|t| now.duration_since(*t) >= FAILURE_WINDOW) {
                times.pop_front();
            }
            if let (Some(oldest), true) = (times.front(), times.len() >= limit) {
                let wait = FAILURE_WINDOW.saturating_sub(now.duration_since(*oldest));
                return Err(too_many("login_failures", "Too many failed attempts; try again later", wait));
            }
        }
        if failures.len() >= FAILURES_TRACKED && !failures.contains_key(account) {
            failures.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < FAILURE_WINDOW));
            if failures.len() >= FAILURES_TRACKED {
                // Still full of live entries (a flood of names): forget the stalest.
                let stalest = failures.iter().min_by_key(|(_, t)| t.back().copied()).map(|(k, _)| k.clone());
                if let Some(key) = stalest {
                    failures.remove(&key);
                }
            }
        }
        failures.entry(account.clone()).or_default().push_back(now);
        Ok(())
    }

    /// The password could not be checked (the server was busy): the attempt does not count.
    pub fn password_unchecked(&self, account: &Account) {
        if let Some(times) = self.failures().get_mut(account) {
            times.pop_back();
        }
    }

    /// The right password: the account's failures are forgotten (its attempt included).
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
        let key = client_key(client.ip);
        let n = counts.addrs.entry(key).or_insert(0);
        if *n >= cap {
            return Err(too_many(
                "sockets_per_addr",
                "Too many connections from this address",
                Duration::from_secs(10),
            ));
        }
        *n += 1;
        permit.addr = Some(key);
        Ok(permit)
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
        let cap = self.limits.settings.sockets_per_user;
        if cap == 0 || self.user.is_some() {
            return Ok(());
        }
        let mut counts = self.limits.sockets();
        let n = counts.users.entry(user_id).or_insert(0);
        if *n >= cap {
            return Err(too_many("sockets_per_user", "Too many connections for this account", Duration::from_secs(10)));
        }
        *n += 1;
        drop(counts);
        self.user = Some(user_id);
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_limited_per_ipv4_address_and_per_ipv6_64() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(client_key(ip("203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(client_key(ip("::ffff:203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(client_key(ip("2001:db8:1:2:aaaa::1")), client_key(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(client_key(ip("2001:db8:1:2::1")), client_key(ip("2001:db8:1:3::1")));
    }

    #[test]
    fn attempts_count_before_their_answers_and_a_right_password_clears_them() {
        let settings = LimitSettings {
            auth_per_minute: 0,
            login_failures: 3,
            sends_per_second: 0,
            sockets_per_user: 0,
            sockets_per_addr: 0,
        };
        let limits = Limits::new(settings);
        let account = Account::User(7);
        // Three guesses in flight at once: the fourth is refused before any is answered.
        for _ in 0..3 {
            assert!(limits.password_attempt(&account).is_ok());
        }
        let refused = limits.password_attempt(&account).expect_err("locked");
        assert!(refused.retry_after().is_some_and(|w| w > Duration::from_secs(14 * 60)));
        // Another account, and an unknown name, have their own counts.
        assert!(limits.password_attempt(&Account::User(8)).is_ok());
        assert_eq!(Account::unknown("nobody"), Account::unknown("nobody"));
        assert!(limits.password_attempt(&Account::unknown("nobody")).is_ok());
        // The right password (checked before the lock) clears the account.
        limits.password_succeeded(7);
        assert!(limits.password_attempt(&account).is_ok());
    }
}
