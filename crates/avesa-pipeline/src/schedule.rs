//! Scheduled runs. A service with a schedule of its own (a 5-field cron expression, UTC)
//! reads all its tables when it fires. A service without one reads each table on the
//! table's own refresh interval (its spec's `refresh_minutes`): tickets and time every few
//! minutes, reference tables hourly, so that what people work on is minutes old while
//! the vendor budget goes mostly unspent. A scheduler inside `avesa serve` starts due runs
//! and never two of the same table at once.
//!
//! The scheduler reads time from a [`Clock`], so tests drive it with a clock they move.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use avesa_model::TenantId;
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};

use crate::{Pipeline, SyncRequest};

/// What a service without a schedule of its own does, in words (for the CLI and logs).
pub const DEFAULT_SCHEDULE: &str =
    "each table on its refresh interval (tickets and time every 4 minutes, the rest hourly)";

/// A parsed cron expression: minute, hour, day of month, month, day of week (0 or 7 =
/// Sunday), each `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, or a list of
/// those. Times are UTC. As in cron, when both day fields are restricted a day matching
/// either one fires.
#[derive(Clone, PartialEq, Eq)]
pub struct Cron {
    source: String,
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Vec<bool>,
    months: Vec<bool>,
    weekdays: Vec<bool>,
    days_any: bool,
    weekdays_any: bool,
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cron({:?})", self.source)
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn field(name: &str, text: &str, lo: u32, hi: u32) -> Result<Vec<bool>, String> {
    let mut set = vec![false; hi as usize + 1];
    for part in text.split(',') {
        let bad = |why: &str| format!("{name} field {text:?}: {why}");
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 =
                    s.parse().map_err(|_| bad(&format!("step {s:?} is not a number")))?;
                if step == 0 {
                    return Err(bad("a step of 0"));
                }
                (r, step)
            }
            None => (part, 1),
        };
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            let a: u32 = a.parse().map_err(|_| bad(&format!("{a:?} is not a number")))?;
            let b: u32 = b.parse().map_err(|_| bad(&format!("{b:?} is not a number")))?;
            (a, b)
        } else {
            let a: u32 = range.parse().map_err(|_| bad(&format!("{range:?} is not a number")))?;
            (a, if part.contains('/') { hi } else { a })
        };
        if a < lo || b > hi || a > b {
            return Err(bad(&format!("{a}-{b} is outside {lo}-{hi}")));
        }
        for v in (a..=b).step_by(step as usize) {
            set[v as usize] = true;
        }
    }
    Ok(set)
}

impl FromStr for Cron {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split_whitespace().collect();
        let [mi, h, dom, mo, dow] = parts[..] else {
            return Err(format!(
                "schedule {s:?}: expected 5 fields (minute hour day-of-month month day-of-week), got {}",
                parts.len()
            ));
        };
        let mut weekdays = field("day-of-week", dow, 0, 7)?;
        if weekdays[7] {
            weekdays[0] = true;
        }
        Ok(Cron {
            source: parts.join(" "),
            minutes: field("minute", mi, 0, 59)?,
            hours: field("hour", h, 0, 23)?,
            days: field("day-of-month", dom, 1, 31)?,
            months: field("month", mo, 1, 12)?,
            weekdays,
            days_any: dom == "*",
            weekdays_any: dow == "*",
        })
    }
}

impl Cron {
    fn day_matches(&self, t: DateTime<Utc>) -> bool {
        let dom = self.days[t.day() as usize];
        let dow = self.weekdays[t.weekday().num_days_from_sunday() as usize];
        match (self.days_any, self.weekdays_any) {
            (true, true) => true,
            (true, false) => dow,
            (false, true) => dom,
            (false, false) => dom || dow,
        }
    }

    /// The first whole minute strictly after `t` that the expression matches (within
    /// five years; `None` for an expression that never fires, like Feb 30).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut c = t.with_second(0)?.with_nanosecond(0)? + Duration::minutes(1);
        let limit = t + Duration::days(5 * 366);
        while c <= limit {
            if !self.months[c.month() as usize] {
                // First minute of the next month.
                let (y, m) =
                    if c.month() == 12 { (c.year() + 1, 1) } else { (c.year(), c.month() + 1) };
                c = chrono::NaiveDate::from_ymd_opt(y, m, 1)?.and_hms_opt(0, 0, 0)?.and_utc();
                continue;
            }
            if !self.day_matches(c) {
                c = (c + Duration::days(1)).with_hour(0)?.with_minute(0)?;
                continue;
            }
            if !self.hours[c.hour() as usize] {
                c = (c + Duration::hours(1)).with_minute(0)?;
                continue;
            }
            if !self.minutes[c.minute() as usize] {
                c += Duration::minutes(1);
                continue;
            }
            return Some(c);
        }
        None
    }
}

/// Where the scheduler reads the time.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock tests move by hand.
#[derive(Default)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(t: DateTime<Utc>) -> Self {
        ManualClock(Mutex::new(t))
    }
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type ServiceKey = (TenantId, String);
/// A tenant's table: tenant, service, source table.
type TableRef = (TenantId, String, String);

/// Starts due runs. Cheap to clone; clones share what they know.
#[derive(Clone)]
pub struct Scheduler {
    pipeline: Pipeline,
    clock: Arc<dyn Clock>,
    started: DateTime<Utc>,
    /// When each service with a schedule of its own last fired (or the scheduler's start).
    last: Arc<Mutex<BTreeMap<ServiceKey, DateTime<Utc>>>>,
    /// When each table read on its refresh interval was last started; `None`: never read.
    /// A tenant's tables are first seeded from the state store's last commits, so a
    /// restarted (or newly elected) scheduler goes on where the last one was.
    last_read: Arc<Mutex<BTreeMap<TableRef, Option<DateTime<Utc>>>>>,
    seeded: Arc<Mutex<BTreeSet<TenantId>>>,
    /// Tables in a run this scheduler started that has not ended.
    running: Arc<Mutex<BTreeSet<TableRef>>>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Scheduler {
    pub fn new(pipeline: Pipeline, clock: Arc<dyn Clock>) -> Self {
        let started = clock.now();
        Scheduler {
            pipeline,
            clock,
            started,
            last: Arc::default(),
            last_read: Arc::default(),
            seeded: Arc::default(),
            running: Arc::default(),
        }
    }

    /// Learns when each of the tenant's tables last committed, once per tenant.
    async fn seed(&self, tenant: &TenantId, now: DateTime<Utc>) {
        if locked(&self.seeded).contains(tenant) {
            return;
        }
        match self.pipeline.store.table_freshness(tenant).await {
            Ok(tables) => {
                let mut last = locked(&self.last_read);
                for t in tables {
                    // A commit "in the future" (a test's clock, a skewed host) counts as now.
                    let at = t.last_commit_at.map(|at| at.min(now));
                    last.entry((tenant.clone(), t.service, t.table)).or_insert(at);
                }
                locked(&self.seeded).insert(tenant.clone());
            }
            Err(e) => {
                tracing::warn!(tenant = %tenant, error = %e, "scheduler: cannot read when tables last synced")
            }
        }
    }

    /// The tables of a tenant service that are due now: all of them when the service's
    /// own schedule fires, else those whose refresh interval has passed since they were
    /// last read. `Err`: the service cannot be scheduled (why).
    async fn due_tables(
        &self,
        tenant: &TenantId,
        svc: &avesa_state::ServiceRecord,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, String> {
        let spec = self.pipeline.catalogue.spec(&svc.service)?;
        let tables = spec.tables.iter().filter(|t| !t.optional);
        if let Some(text) = svc.schedule.as_deref() {
            let cron: Cron = text.parse()?;
            let key = (tenant.clone(), svc.service.clone());
            let last = *locked(&self.last).get(&key).unwrap_or(&self.started);
            if cron.next_after(last).is_none_or(|due| due > now) {
                return Ok(vec![]);
            }
            return Ok(tables.map(|t| t.name.clone()).collect());
        }
        self.seed(tenant, now).await;
        let last = locked(&self.last_read);
        Ok(tables
            .filter(|t| {
                let key = (tenant.clone(), svc.service.clone(), t.name.clone());
                let refresh = Duration::from_std(t.refresh).unwrap_or(Duration::hours(1));
                match last.get(&key) {
                    Some(Some(at)) => *at + refresh <= now,
                    // Never read: now.
                    _ => true,
                }
            })
            .map(|t| t.name.clone())
            .collect())
    }

    /// Starts a run for every tenant service with tables due now that no run of this
    /// scheduler is reading; returns the tasks started (each ends when its run does).
    pub async fn tick(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let now = self.clock.now();
        let mut started = Vec::new();
        let tenants = match self.pipeline.store.list_tenants().await {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "scheduler: cannot list tenants");
                return started;
            }
        };
        for tenant in tenants {
            let services = match self.pipeline.store.list_services(&tenant.id).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(tenant = %tenant.id, error = %e, "scheduler: cannot list services");
                    continue;
                }
            };
            for svc in services.into_iter().filter(|s| s.enabled) {
                let due = match self.due_tables(&tenant.id, &svc, now).await {
                    Ok(due) => due,
                    Err(e) => {
                        tracing::error!(tenant = %tenant.id, service = %svc.service, error = %e, "scheduler: bad schedule");
                        continue;
                    }
                };
                if due.is_empty() {
                    continue;
                }
                let refs = |t: &String| (tenant.id.clone(), svc.service.clone(), t.clone());
                let due: Vec<String> = {
                    let mut running = locked(&self.running);
                    let free: Vec<String> =
                        due.into_iter().filter(|t| !running.contains(&refs(t))).collect();
                    running.extend(free.iter().map(refs));
                    free
                };
                if due.is_empty() {
                    tracing::info!(tenant = %tenant.id, service = %svc.service, "scheduler: previous run still going; skipped");
                    continue;
                }
                match svc.schedule {
                    Some(_) => {
                        locked(&self.last).insert((tenant.id.clone(), svc.service.clone()), now);
                    }
                    None => {
                        let mut last = locked(&self.last_read);
                        for t in &due {
                            last.insert(refs(t), Some(now));
                        }
                    }
                }
                let this = self.clone();
                let (tenant_id, service) = (tenant.id.clone(), svc.service.clone());
                started.push(tokio::spawn(async move {
                    let req = SyncRequest {
                        tenant: Some(tenant_id.clone()),
                        service: Some(service.clone()),
                        tables: due.clone(),
                        ..Default::default()
                    };
                    tracing::info!(tenant = %tenant_id, service = %service, tables = ?due, "scheduled run starting");
                    if let Err(e) = this.pipeline.run(req).await {
                        tracing::error!(tenant = %tenant_id, service = %service, error = %e, "scheduled run failed to start");
                    }
                    let mut running = locked(&this.running);
                    for t in due {
                        running.remove(&(tenant_id.clone(), service.clone(), t));
                    }
                }));
            }
        }
        started
    }

    /// Ticks every `every` until the task is aborted.
    pub async fn run(self, every: std::time::Duration) {
        loop {
            self.tick().await;
            tokio::time::sleep(every).await;
        }
    }

    /// Ticks every `every` while this process holds the state store's planner lease
    /// ([`PLANNER_LEASE`], renewed every third of `lease`), until the task is aborted. Any
    /// number of `avesa serve` processes run this; one of them plans scheduled runs at a
    /// time, and another takes over within `lease` of its stopping.
    pub async fn run_when_leader(
        self,
        every: std::time::Duration,
        lease: std::time::Duration,
        holder: String,
    ) {
        let store = self.pipeline.store.clone();
        loop {
            match store.claim_lease(PLANNER_LEASE, &holder, lease).await {
                Ok(Some(token)) => {
                    tracing::info!(holder = %holder, "this process now plans scheduled runs");
                    let ticking = tokio::spawn(self.clone().run(every));
                    let held =
                        HeldLease { store: store.clone(), token, ticking: ticking.abort_handle() };
                    loop {
                        tokio::time::sleep(lease / 3).await;
                        match store.renew_lease(PLANNER_LEASE, token, lease).await {
                            Ok(true) => {}
                            Ok(false) => {
                                tracing::warn!("another process took over planning scheduled runs");
                                break;
                            }
                            Err(e) => tracing::warn!(error = %e, "cannot renew the planner lease"),
                        }
                    }
                    // Stops ticking (and releases nothing: the lease is another's now).
                    drop(held);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot claim the planner lease"),
            }
            tokio::time::sleep(lease / 3).await;
        }
    }
}

/// The state store lease whose holder plans scheduled runs.
pub const PLANNER_LEASE: &str = "planner";

/// The planner lease while held: dropped (the leader's task aborted at shutdown, or the
/// lease lost), it stops the ticking and releases the lease, so that another process takes
/// over at once rather than after the lease.
struct HeldLease {
    store: Arc<dyn avesa_state::StateStore>,
    token: u64,
    ticking: tokio::task::AbortHandle,
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        self.ticking.abort();
        let (store, token) = (self.store.clone(), self.token);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = store.release_lease(PLANNER_LEASE, token).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn next_times() {
        let c: Cron = "0 * * * *".parse().unwrap();
        assert_eq!(c.next_after(at("2026-01-01T10:00:00Z")), Some(at("2026-01-01T11:00:00Z")));
        assert_eq!(c.next_after(at("2026-01-01T10:59:59Z")), Some(at("2026-01-01T11:00:00Z")));
        let c: Cron = "*/15 9-17 * * 1-5".parse().unwrap();
        // Friday 17:50 → Monday 09:00.
        assert_eq!(c.next_after(at("2026-01-02T17:50:00Z")), Some(at("2026-01-05T09:00:00Z")));
        let c: Cron = "30 2 1 */3 *".parse().unwrap();
        assert_eq!(c.next_after(at("2026-01-15T00:00:00Z")), Some(at("2026-04-01T02:30:00Z")));
        let c: Cron = "0 0 29 2 *".parse().unwrap();
        assert_eq!(c.next_after(at("2026-03-01T00:00:00Z")), Some(at("2028-02-29T00:00:00Z")));
        // Either day field matches when both are restricted; 7 is Sunday.
        let c: Cron = "0 12 13 * 7".parse().unwrap();
        assert_eq!(c.next_after(at("2026-01-01T00:00:00Z")), Some(at("2026-01-04T12:00:00Z")));
        assert_eq!(c.next_after(at("2026-01-11T13:00:00Z")), Some(at("2026-01-13T12:00:00Z")));
        assert_eq!(
            "0 0 30 2 *".parse::<Cron>().unwrap().next_after(at("2026-01-01T00:00:00Z")),
            None
        );
    }

    #[test]
    fn bad_expressions_say_which_field() {
        let e = "61 * * * *".parse::<Cron>().unwrap_err();
        assert!(e.contains("minute") && e.contains("0-59"), "{e}");
        let e = "* * * *".parse::<Cron>().unwrap_err();
        assert!(e.contains("expected 5 fields"), "{e}");
        let e = "*/0 * * * *".parse::<Cron>().unwrap_err();
        assert!(e.contains("step of 0"), "{e}");
        let e = "* * * jan *".parse::<Cron>().unwrap_err();
        assert!(e.contains("month") && e.contains("jan"), "{e}");
    }
}
