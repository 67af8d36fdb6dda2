//! The login brute-force limiters (in memory, per process).
//!
//! A [`LoginLimiter`] counts failures per key: after `max_failures` failed logins within
//! `window`, further attempts for that key are refused with 429 until the oldest failure
//! leaves the window. An attempt is counted *before* the password is checked and forgiven
//! on success, so a burst of concurrent guesses cannot slip past the limit.
//!
//! [`LoginLimits`] keys a login three ways:
//!
//! * the account from this client address (5 per 5 minutes): guessing one password is
//!   slow, and an attacker elsewhere cannot lock the user out of their correct password;
//! * this client address over all accounts (20 per 5 minutes): spraying one password
//!   over many accounts is limited;
//! * the account from every address (100 per 5 minutes): a distributed guess is bounded.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins allowed per key within the window (docs/design.md §8).
pub const DEFAULT_MAX_FAILURES: usize = 5;
/// The window failures are counted over.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Counts failed logins per `(tenant, email)`.
#[derive(Debug)]
pub struct LoginLimiter {
    max_failures: usize,
    window: Duration,
    attempts: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::new(DEFAULT_MAX_FAILURES, DEFAULT_WINDOW)
    }
}

/// Above this many keys, stale keys are swept on the next attempt.
const SWEEP_ABOVE: usize = 10_000;

impl LoginLimiter {
    pub fn new(max_failures: usize, window: Duration) -> Self {
        LoginLimiter { max_failures: max_failures.max(1), window, attempts: Mutex::default() }
    }

    fn key(tenant: &str, email: &str) -> String {
        format!("{}\n{}", tenant.trim(), email.trim().to_lowercase())
    }

    /// Starts an attempt: `Err(retry_after_secs)` if the key is locked, otherwise the
    /// attempt is counted as a failure until [`LoginLimiter::succeeded`] forgives it.
    pub fn begin(&self, tenant: &str, email: &str) -> Result<(), u64> {
        let now = Instant::now();
        let key = Self::key(tenant, email);
        let mut map = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > SWEEP_ABOVE {
            let window = self.window;
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let q = map.entry(key).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
            q.pop_front();
        }
        if q.len() >= self.max_failures {
            let oldest = *q.front().expect("non-empty");
            let wait = (oldest + self.window).saturating_duration_since(now);
            // Round up: a client that waits exactly Retry-After seconds must get through.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Err(secs.max(1));
        }
        q.push_back(now);
        Ok(())
    }

    /// The attempt succeeded: the key starts over.
    pub fn succeeded(&self, tenant: &str, email: &str) {
        let mut map = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&Self::key(tenant, email));
    }

    /// Uncounts the latest attempt of the key (it was not a failure).
    fn forgive(&self, tenant: &str, email: &str) {
        let mut map = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(q) = map.get_mut(&Self::key(tenant, email)) {
            q.pop_back();
        }
    }
}

/// A login being attempted: the keys it was counted under.
pub struct Attempt {
    account_at: (String, String),
    client: String,
    account: (String, String),
}

/// The three limiters a login passes (see the module docs).
#[derive(Debug)]
pub struct LoginLimits {
    /// Per (tenant, email, client address).
    pub account_at_client: LoginLimiter,
    /// Per client address.
    pub client: LoginLimiter,
    /// Per (tenant, email).
    pub account: LoginLimiter,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            account_at_client: LoginLimiter::new(DEFAULT_MAX_FAILURES, DEFAULT_WINDOW),
            client: LoginLimiter::new(20, DEFAULT_WINDOW),
            account: LoginLimiter::new(100, DEFAULT_WINDOW),
        }
    }
}

impl LoginLimits {
    /// Counts an attempt under every key, or refuses it (`Err(retry_after_secs)`) if any
    /// key is locked (then it is counted under none).
    pub fn begin(
        &self,
        tenant: &str,
        email: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<Attempt, u64> {
        let ip = client.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        let a = Attempt {
            account_at: (tenant.to_owned(), format!("{}\n{ip}", email.trim().to_lowercase())),
            client: ip.clone(),
            account: (tenant.to_owned(), email.to_owned()),
        };
        self.account_at_client.begin(&a.account_at.0, &a.account_at.1)?;
        if let Err(r) = self.client.begin("", &a.client) {
            self.account_at_client.forgive(&a.account_at.0, &a.account_at.1);
            return Err(r);
        }
        if let Err(r) = self.account.begin(&a.account.0, &a.account.1) {
            self.account_at_client.forgive(&a.account_at.0, &a.account_at.1);
            self.client.forgive("", &a.client);
            return Err(r);
        }
        Ok(a)
    }

    /// The attempt was no failure (it never checked a password).
    pub fn forgive(&self, a: &Attempt) {
        self.account_at_client.forgive(&a.account_at.0, &a.account_at.1);
        self.client.forgive("", &a.client);
        self.account.forgive(&a.account.0, &a.account.1);
    }

    /// The password was right: the account starts over from this address, and this
    /// attempt is uncounted elsewhere (a success does not wipe an address's failures on
    /// other accounts).
    pub fn succeeded(&self, a: &Attempt) {
        self.account_at_client.succeeded(&a.account_at.0, &a.account_at.1);
        self.client.forgive("", &a.client);
        self.account.forgive(&a.account.0, &a.account.1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_and_success_resets() {
        let l = LoginLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(l.begin("acme", "a@x.io").is_ok());
        }
        let retry = l.begin("acme", " A@X.io ").unwrap_err();
        assert!((1..=60).contains(&retry), "{retry}");
        // Other keys are unaffected.
        assert!(l.begin("acme", "b@x.io").is_ok());
        assert!(l.begin("other", "a@x.io").is_ok());
        l.succeeded("acme", "a@x.io");
        assert!(l.begin("acme", "a@x.io").is_ok());
    }

    #[test]
    fn an_attacker_elsewhere_cannot_lock_the_user_out_and_spraying_is_limited() {
        let l = LoginLimits::default();
        let attacker: Option<std::net::IpAddr> = Some("203.0.113.9".parse().unwrap());
        let user: Option<std::net::IpAddr> = Some("198.51.100.7".parse().unwrap());
        for _ in 0..DEFAULT_MAX_FAILURES {
            assert!(l.begin("acme", "ann@acme.io", attacker).is_ok());
        }
        assert!(l.begin("acme", "ann@acme.io", attacker).is_err(), "the attacker is locked");
        let a = l.begin("acme", "ann@acme.io", user).expect("the user is not");
        l.succeeded(&a);
        // One password over many accounts from one address: stopped at 20 in all.
        let sprayer: Option<std::net::IpAddr> = Some("192.0.2.1".parse().unwrap());
        let mut allowed = 0;
        for i in 0..40 {
            if l.begin("acme", &format!("user{i}@acme.io"), sprayer).is_ok() {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 20);
        // A refused attempt is counted nowhere: another address still gets through for
        // those accounts.
        assert!(l.begin("acme", "user30@acme.io", user).is_ok());
    }

    #[test]
    fn failures_expire() {
        let l = LoginLimiter::new(1, Duration::from_millis(20));
        assert!(l.begin("acme", "a@x.io").is_ok());
        assert!(l.begin("acme", "a@x.io").is_err());
        std::thread::sleep(Duration::from_millis(30));
        assert!(l.begin("acme", "a@x.io").is_ok());
    }
}
