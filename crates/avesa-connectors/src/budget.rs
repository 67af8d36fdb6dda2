//! Request budgets: one token bucket per (tenant, service), shared by every table and
//! chunk of that tenant's service in this process.
//!
//! The bucket refills at the spec's `requests_per_second` up to `burst`. It adapts: a
//! throttle (429/503) halves the rate (down to a sixteenth of the configured one) and
//! blocks every request of the bucket until the vendor's `Retry-After` has passed;
//! successes win the rate back gradually (5% per success).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
struct State {
    tokens: f64,
    last: Instant,
    rate: f64,
    blocked_until: Option<Instant>,
}

/// A token bucket.
#[derive(Debug)]
pub struct Budget {
    base_rate: f64,
    burst: f64,
    state: Mutex<State>,
}

impl Budget {
    pub fn new(requests_per_second: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Budget {
            base_rate: requests_per_second,
            burst,
            state: Mutex::new(State {
                tokens: burst,
                last: Instant::now(),
                rate: requests_per_second,
                blocked_until: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until a request may be sent, and takes its token.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut s = self.lock();
                let now = Instant::now();
                let elapsed = now.duration_since(s.last).as_secs_f64();
                s.tokens = (s.tokens + elapsed * s.rate).min(self.burst);
                s.last = now;
                match s.blocked_until {
                    Some(until) if until > now => until - now,
                    _ => {
                        s.blocked_until = None;
                        if s.tokens >= 1.0 {
                            s.tokens -= 1.0;
                            return;
                        }
                        Duration::from_secs_f64((1.0 - s.tokens) / s.rate)
                    }
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// The vendor throttled a request: slow down, and hold every request until `wait`.
    pub fn throttled(&self, wait: Option<Duration>) {
        let mut s = self.lock();
        s.rate = (s.rate / 2.0).max(self.base_rate / 16.0);
        s.tokens = 0.0;
        if let Some(w) = wait {
            let until = Instant::now() + w;
            s.blocked_until = Some(s.blocked_until.map_or(until, |u| u.max(until)));
        }
    }

    /// A request succeeded: win back some of the rate.
    pub fn succeeded(&self) {
        let mut s = self.lock();
        if s.rate < self.base_rate {
            s.rate = (s.rate * 1.05).min(self.base_rate);
        }
    }

    /// The current sustained rate (requests per second).
    pub fn rate(&self) -> f64 {
        self.lock().rate
    }
}

/// The request budgets of every (tenant, service), shared by every connector built from
/// it: the pipeline's catalogue owns one, so all runs of a tenant's service draw from the
/// same bucket. Clones share the set.
#[derive(Clone, Debug, Default)]
pub struct Budgets(Arc<Mutex<BudgetMap>>);

/// (tenant, service) → its bucket.
type BudgetMap = HashMap<(String, String), Arc<Budget>>;

impl Budgets {
    pub fn new() -> Self {
        Self::default()
    }

    /// The budget of a (tenant, service); created on first use, and replaced when the
    /// configured rate or burst changes (a tenant's override edited).
    pub fn get(&self, tenant: &str, service: &str, rps: f64, burst: u32) -> Arc<Budget> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let slot = map
            .entry((tenant.to_owned(), service.to_owned()))
            .or_insert_with(|| Arc::new(Budget::new(rps, burst)));
        if slot.base_rate != rps || slot.burst != f64::from(burst.max(1)) {
            *slot = Arc::new(Budget::new(rps, burst));
        }
        slot.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Only lower bounds on time: pacing can be slower on a busy machine, never faster.

    #[test]
    fn registry_shares_a_budget_and_replaces_it_when_the_rate_changes() {
        let budgets = Budgets::new();
        let a = budgets.get("reg-t", "svc", 8.0, 8);
        let b = budgets.clone().get("reg-t", "svc", 8.0, 8);
        assert!(Arc::ptr_eq(&a, &b));
        let c = budgets.get("reg-t", "svc", 100.0, 100);
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(c.rate(), 100.0);
        assert!(!Arc::ptr_eq(&c, &budgets.get("reg-t2", "svc", 100.0, 100)));
        assert!(!Arc::ptr_eq(&c, &Budgets::new().get("reg-t", "svc", 100.0, 100)), "separate sets");
    }

    #[tokio::test]
    async fn bucket_paces_requests_after_the_burst() {
        let b = Budget::new(50.0, 2);
        let start = Instant::now();
        for _ in 0..12 {
            b.acquire().await;
        }
        // 2 from the burst, then 10 at 50/s.
        assert!(start.elapsed() >= Duration::from_millis(195), "{:?}", start.elapsed());
    }

    #[tokio::test]
    async fn throttle_blocks_until_retry_after_and_halves_the_rate() {
        let b = Budget::new(8.0, 1);
        b.acquire().await;
        b.throttled(Some(Duration::from_millis(300)));
        assert_eq!(b.rate(), 4.0);
        let start = Instant::now();
        b.acquire().await;
        assert!(start.elapsed() >= Duration::from_millis(295), "{:?}", start.elapsed());
        for _ in 0..100 {
            b.succeeded();
        }
        assert_eq!(b.rate(), 8.0);
        for _ in 0..10 {
            b.throttled(None);
        }
        assert_eq!(b.rate(), 0.5, "the rate never falls below a sixteenth");
    }
}
