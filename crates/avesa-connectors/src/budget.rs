//! Request budgets: one per (tenant, service), shared by every table, partition and chunk
//! of that tenant's service in this process. A budget bounds two things.
//!
//! **Rate**: a token bucket refilling at the spec's `requests_per_second` up to `burst`.
//! A throttle (429/503) cuts the rate to 70% (down to a sixteenth of the configured one)
//! and blocks every request of the bucket until the vendor's `Retry-After` has passed;
//! no tokens gather during that wait (the requests held leave at the cut rate, not in a
//! burst); each success wins back a two-hundredth of the configured rate, so after a cut the
//! rate creeps back up to the vendor's limit instead of leaping past it. The rate never exceeds
//! the configured one.
//!
//! **Concurrency**: how many requests may be in flight at once, a window that adapts by
//! additive increase, multiplicative decrease (AIMD, as TCP's congestion window), between 1
//! and the spec's `max_in_flight`:
//!
//! - it starts at 2 and, until the first sign of congestion, grows by one per success
//!   (slow start: doubling every round trip); after that by one per window's worth of
//!   successes (`1/window` each). It grows only while it is full, so a table read one
//!   page at a time never claims a window it does not use;
//! - it halves on a throttle (429/503), and shrinks by a quarter when a request fails
//!   otherwise (5xx, reset, timeout) or when latency rises: the smoothed latency (an
//!   exponential average, a quarter weight to each request) above twice the base latency
//!   plus 20 ms. The base is the lowest latency seen, forgotten slowly (it creeps up 1% a
//!   request) so a vendor that became slower for good becomes the new normal.
//!
//! A cut of the rate or the window counts once per episode: only a request sent after the
//! last cut can cut again, so eight requests in flight throttled together halve the window
//! once, not eight times.
//!
//! A request first takes a place in the window, then a token ([`Budget::acquire`]); the
//! [`Permit`] it gets back reports how the request went ([`Permit::succeeded`],
//! [`Permit::throttled`], [`Permit::failed`]) and gives the place back. [`Budget::watch`]
//! records the most requests in flight at once while it lives: the run record's
//! `concurrency` of a table.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// The concurrency ceiling when a spec sets none.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 8;
/// The window a budget starts with.
const INITIAL_WINDOW: f64 = 2.0;
/// Latency above `2 × base + LATENCY_SLACK` (smoothed) counts as congestion.
const LATENCY_SLACK: Duration = Duration::from_millis(20);

#[derive(Debug)]
struct State {
    tokens: f64,
    last: Instant,
    rate: f64,
    blocked_until: Option<Instant>,
    /// Requests allowed in flight (its floor, at least 1).
    window: f64,
    in_flight: u32,
    /// Still in slow start (no congestion seen yet).
    slow_start: bool,
    base_latency: Option<Duration>,
    smoothed_latency: Option<Duration>,
    last_decrease: Option<Instant>,
    last_rate_cut: Option<Instant>,
    /// Live watches, each keeping the most requests in flight at once while it lives.
    watches: Vec<Weak<AtomicU32>>,
}

impl State {
    fn allowed(&self) -> u32 {
        (self.window.floor() as u32).max(1)
    }

    /// Shrinks the window to `factor` of itself, unless the request that says so (sent
    /// at `sent`) left before the last decrease.
    fn decrease(&mut self, factor: f64, now: Instant, sent: Instant) {
        if self.last_decrease.is_some_and(|at| sent <= at) {
            return;
        }
        self.window = (self.window * factor).max(1.0);
        self.slow_start = false;
        self.last_decrease = Some(now);
    }

    /// A request sent at `sent` succeeded now; `full`: the window was full when it
    /// was sent.
    fn sample(&mut self, sent: Instant, full: bool, max: f64, now: Instant) {
        let latency = now.duration_since(sent);
        let base = match self.base_latency {
            Some(b) => latency.min(b.mul_f64(1.01)),
            None => latency,
        };
        self.base_latency = Some(base);
        let smoothed = match self.smoothed_latency {
            Some(s) => s.mul_f64(0.75) + latency.mul_f64(0.25),
            None => latency,
        };
        self.smoothed_latency = Some(smoothed);
        if smoothed > base * 2 + LATENCY_SLACK {
            self.decrease(0.75, now, sent);
        } else if full {
            self.window =
                (self.window + if self.slow_start { 1.0 } else { 1.0 / self.window }).min(max);
        }
    }
}

/// A request budget: a token bucket and an adaptive concurrency window.
#[derive(Debug)]
pub struct Budget {
    base_rate: f64,
    burst: f64,
    max_in_flight: f64,
    state: Mutex<State>,
    /// Woken when a place in the window frees up or the window grows.
    freed: Notify,
}

/// How a request went, for the window.
enum Signal {
    Ok,
    Throttled,
    Failed,
}

/// A place in a budget's concurrency window, held while a request is in flight. Dropped
/// without a report (the request was cancelled), it gives the place back and teaches
/// the window nothing.
#[derive(Debug)]
pub struct Permit<'a> {
    budget: &'a Budget,
    sent: Instant,
    full: bool,
    done: bool,
}

impl Permit<'_> {
    /// The request succeeded: its latency feeds the window, and the rate wins back a bit.
    pub fn succeeded(mut self) {
        self.finish(Signal::Ok);
    }

    /// The vendor throttled the request (429/503): the window halves, the rate halves,
    /// and every request of the budget waits for `wait`.
    pub fn throttled(mut self, wait: Option<Duration>) {
        self.budget.throttle(wait, Some(self.sent));
        self.finish(Signal::Throttled);
    }

    /// The request failed otherwise (5xx, reset, timeout): the window shrinks.
    pub fn failed(mut self) {
        self.finish(Signal::Failed);
    }

    fn finish(&mut self, signal: Signal) {
        self.done = true;
        let b = self.budget;
        let now = Instant::now();
        {
            let mut s = b.lock();
            s.in_flight = s.in_flight.saturating_sub(1);
            match signal {
                Signal::Ok => {
                    if s.rate < b.base_rate {
                        s.rate = (s.rate + b.base_rate / 200.0).min(b.base_rate);
                    }
                    s.sample(self.sent, self.full, b.max_in_flight, now);
                }
                Signal::Throttled => s.decrease(0.5, now, self.sent),
                Signal::Failed => s.decrease(0.75, now, self.sent),
            }
        }
        b.freed.notify_waiters();
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done {
            let mut s = self.budget.lock();
            s.in_flight = s.in_flight.saturating_sub(1);
            drop(s);
            self.budget.freed.notify_waiters();
        }
    }
}

/// Keeps the most requests a budget had in flight at once while it lives.
#[derive(Debug)]
pub struct Watch(Arc<AtomicU32>);

impl Watch {
    /// The most requests in flight at once so far.
    pub fn peak(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Budget {
    pub fn new(requests_per_second: f64, burst: u32) -> Self {
        Self::with_max_in_flight(requests_per_second, burst, DEFAULT_MAX_IN_FLIGHT)
    }

    /// A budget of `requests_per_second` (bursts of `burst`) with at most `max_in_flight`
    /// requests in flight at once.
    pub fn with_max_in_flight(requests_per_second: f64, burst: u32, max_in_flight: u32) -> Self {
        let burst = f64::from(burst.max(1));
        let max_in_flight = f64::from(max_in_flight.max(1));
        Budget {
            base_rate: requests_per_second,
            burst,
            max_in_flight,
            state: Mutex::new(State {
                tokens: burst,
                last: Instant::now(),
                rate: requests_per_second,
                blocked_until: None,
                window: INITIAL_WINDOW.min(max_in_flight),
                in_flight: 0,
                slow_start: true,
                base_latency: None,
                smoothed_latency: None,
                last_decrease: None,
                last_rate_cut: None,
                watches: Vec::new(),
            }),
            freed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a place in the concurrency window, then until a request may be sent
    /// under the rate, and takes the token. The place is held until the permit is
    /// reported or dropped.
    pub async fn acquire(&self) -> Permit<'_> {
        let full = loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut s = self.lock();
                if s.in_flight < s.allowed() {
                    s.in_flight += 1;
                    let n = s.in_flight;
                    s.watches.retain(|w| match w.upgrade() {
                        Some(peak) => {
                            peak.fetch_max(n, Ordering::Relaxed);
                            true
                        }
                        None => false,
                    });
                    break n >= s.allowed();
                }
            }
            freed.await;
        };
        let mut permit = Permit { budget: self, sent: Instant::now(), full, done: false };
        self.take_token().await;
        permit.sent = Instant::now();
        permit
    }

    async fn take_token(&self) {
        loop {
            let wait = {
                let mut s = self.lock();
                let now = Instant::now();
                let elapsed = now.duration_since(s.last).as_secs_f64();
                s.tokens = (s.tokens + elapsed * s.rate).min(self.burst);
                s.last = now;
                match s.blocked_until {
                    // No tokens gather while the vendor holds us: when the wait ends,
                    // requests leave at the (cut) rate, not in a burst.
                    Some(until) if until > now => {
                        s.tokens = 0.0;
                        s.last = until;
                        until - now
                    }
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
        self.throttle(wait, None);
    }

    /// A throttle of a request sent at `sent`: the rate is cut unless it was sent before
    /// the last cut (that episode is counted already); the wait holds either way.
    fn throttle(&self, wait: Option<Duration>, sent: Option<Instant>) {
        let mut s = self.lock();
        let counted = sent.is_some_and(|at| s.last_rate_cut.is_some_and(|cut| at <= cut));
        if !counted {
            s.rate = (s.rate * 0.7).max(self.base_rate / 16.0);
            s.last_rate_cut = Some(Instant::now());
        }
        s.tokens = 0.0;
        if let Some(w) = wait {
            let until = Instant::now() + w;
            s.blocked_until = Some(s.blocked_until.map_or(until, |u| u.max(until)));
        }
    }

    /// The current sustained rate (requests per second).
    pub fn rate(&self) -> f64 {
        self.lock().rate
    }

    /// The current concurrency window: how many requests may be in flight at once.
    pub fn window(&self) -> u32 {
        self.lock().allowed()
    }

    /// The configured ceiling of the window.
    pub fn max_in_flight(&self) -> u32 {
        self.max_in_flight as u32
    }

    /// Starts recording the most requests in flight at once (from now on).
    pub fn watch(&self) -> Watch {
        let peak = Arc::new(AtomicU32::new(0));
        self.lock().watches.push(Arc::downgrade(&peak));
        Watch(peak)
    }
}

/// The request budgets of every (tenant, service), shared by every connector built from
/// it: the pipeline's catalogue owns one, so all runs of a tenant's service draw from the
/// same bucket and window. Clones share the set.
#[derive(Clone, Debug, Default)]
pub struct Budgets(Arc<Mutex<BudgetMap>>);

/// (tenant, service) → its budget.
type BudgetMap = HashMap<(String, String), Arc<Budget>>;

impl Budgets {
    pub fn new() -> Self {
        Self::default()
    }

    /// The budget of a (tenant, service); created on first use, and replaced when the
    /// configured rate, burst or concurrency ceiling changes (a tenant's override edited).
    pub fn get(
        &self,
        tenant: &str,
        service: &str,
        rps: f64,
        burst: u32,
        max_in_flight: u32,
    ) -> Arc<Budget> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let slot = map
            .entry((tenant.to_owned(), service.to_owned()))
            .or_insert_with(|| Arc::new(Budget::with_max_in_flight(rps, burst, max_in_flight)));
        if slot.base_rate != rps
            || slot.burst != f64::from(burst.max(1))
            || slot.max_in_flight != f64::from(max_in_flight.max(1))
        {
            *slot = Arc::new(Budget::with_max_in_flight(rps, burst, max_in_flight));
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
        let a = budgets.get("reg-t", "svc", 8.0, 8, 4);
        let b = budgets.clone().get("reg-t", "svc", 8.0, 8, 4);
        assert!(Arc::ptr_eq(&a, &b));
        let c = budgets.get("reg-t", "svc", 100.0, 100, 4);
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(c.rate(), 100.0);
        let d = budgets.get("reg-t", "svc", 100.0, 100, 6);
        assert!(!Arc::ptr_eq(&c, &d), "a new concurrency ceiling");
        assert_eq!(d.max_in_flight(), 6);
        assert!(!Arc::ptr_eq(&d, &budgets.get("reg-t2", "svc", 100.0, 100, 6)));
        assert!(
            !Arc::ptr_eq(&d, &Budgets::new().get("reg-t", "svc", 100.0, 100, 6)),
            "separate sets"
        );
    }

    #[tokio::test]
    async fn bucket_paces_requests_after_the_burst() {
        let b = Budget::new(50.0, 2);
        let start = Instant::now();
        for _ in 0..12 {
            b.acquire().await.succeeded();
        }
        // 2 from the burst, then 10 at 50/s.
        assert!(start.elapsed() >= Duration::from_millis(195), "{:?}", start.elapsed());
    }

    #[tokio::test]
    async fn throttle_blocks_until_retry_after_and_cuts_the_rate() {
        let b = Budget::new(8.0, 1);
        b.acquire().await.succeeded();
        b.throttled(Some(Duration::from_millis(300)));
        assert!((b.rate() - 5.6).abs() < 1e-9, "{}", b.rate());
        let start = Instant::now();
        let p = b.acquire().await;
        assert!(start.elapsed() >= Duration::from_millis(295), "{:?}", start.elapsed());
        p.succeeded();
        for _ in 0..100 {
            b.acquire().await.succeeded();
        }
        assert_eq!(b.rate(), 8.0);
        for _ in 0..10 {
            b.throttled(None);
        }
        assert_eq!(b.rate(), 0.5, "the rate never falls below a sixteenth");
    }

    /// Sends `n` requests from `tasks` tasks at once, each taking `latency` and answered
    /// as `answer(i)` says; returns the most in flight at once.
    async fn drive(
        b: &Arc<Budget>,
        tasks: usize,
        n: usize,
        latency: Duration,
        answer: impl Fn(usize) -> Option<u16> + Send + Sync + Copy + 'static,
    ) -> u32 {
        let watch = b.watch();
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut handles = Vec::new();
        for _ in 0..tasks {
            let (b, next) = (b.clone(), next.clone());
            handles.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    let p = b.acquire().await;
                    tokio::time::sleep(latency).await;
                    match answer(i) {
                        None => p.succeeded(),
                        Some(429) => p.throttled(None),
                        Some(_) => p.failed(),
                    }
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        watch.peak()
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_grows_to_its_ceiling_while_requests_go_well() {
        let b = Arc::new(Budget::with_max_in_flight(1000.0, 1000, 6));
        assert_eq!(b.window(), 2, "starts small");
        let peak = drive(&b, 16, 200, Duration::from_millis(100), |_| None).await;
        assert_eq!(b.window(), 6, "grew to the ceiling");
        assert_eq!(peak, 6, "and never past it, with 16 tasks asking");
    }

    #[tokio::test(start_paused = true)]
    async fn one_reader_at_a_time_never_grows_the_window() {
        let b = Arc::new(Budget::with_max_in_flight(1000.0, 1000, 8));
        let peak = drive(&b, 1, 50, Duration::from_millis(50), |_| None).await;
        assert_eq!((peak, b.window()), (1, 2), "a window it does not fill does not grow");
    }

    #[tokio::test(start_paused = true)]
    async fn throttles_halve_the_window_once_per_round_trip() {
        let b = Arc::new(Budget::with_max_in_flight(1000.0, 1000, 8));
        drive(&b, 16, 100, Duration::from_millis(100), |_| None).await;
        assert_eq!(b.window(), 8);
        // Eight requests in flight together all throttled: one halving, not eight, and
        // one cut of the rate.
        drive(&b, 8, 8, Duration::from_millis(100), |_| Some(429)).await;
        assert_eq!(b.window(), 4);
        assert!((b.rate() - 700.0).abs() < 1e-9, "{}", b.rate());
        // A later failure (a request sent after the cut) shrinks it by a quarter.
        tokio::time::sleep(Duration::from_secs(1)).await;
        drive(&b, 1, 1, Duration::from_millis(100), |_| Some(500)).await;
        assert_eq!(b.window(), 3);
        // Then it grows back by about one per window's worth of successes.
        drive(&b, 16, 60, Duration::from_millis(100), |_| None).await;
        assert!(b.window() > 4, "{}", b.window());
    }

    #[tokio::test(start_paused = true)]
    async fn rising_latency_shrinks_the_window() {
        let b = Arc::new(Budget::with_max_in_flight(1000.0, 1000, 8));
        drive(&b, 16, 100, Duration::from_millis(50), |_| None).await;
        assert_eq!(b.window(), 8);
        // The vendor slows down fourfold: the window backs off.
        drive(&b, 16, 40, Duration::from_millis(400), |_| None).await;
        assert!(b.window() < 8, "{}", b.window());
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_request_gives_its_place_back() {
        let b = Budget::with_max_in_flight(1000.0, 1000, 1);
        let p = b.acquire().await;
        drop(p);
        let p = tokio::time::timeout(Duration::from_secs(1), b.acquire()).await;
        assert!(p.is_ok(), "the place was given back");
    }
}
