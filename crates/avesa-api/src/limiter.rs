//! The login brute-force limiter (in memory, per process).
//!
//! Keyed by `(tenant id, email)`: after `max_failures` failed logins within `window`, further
//! attempts for that key are refused with 429 until the oldest failure leaves the window. An
//! attempt is counted *before* the password is checked and forgiven on success, so a burst
//! of concurrent guesses cannot slip past the limit. A success clears the key.

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
    fn failures_expire() {
        let l = LoginLimiter::new(1, Duration::from_millis(20));
        assert!(l.begin("acme", "a@x.io").is_ok());
        assert!(l.begin("acme", "a@x.io").is_err());
        std::thread::sleep(Duration::from_millis(30));
        assert!(l.begin("acme", "a@x.io").is_ok());
    }
}
