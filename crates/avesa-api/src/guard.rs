//! What keeps the read routes fast under load and one tenant's load off another's:
//!
//! * **The response cache.** A read route's answer (analytics, lists, records, histories)
//!   is cached under (tenant, path and query, the tenant's *data version*). The data
//!   version moves when the tenant's data changes: at once for applies made in this
//!   process ([`DataEpochs`]), and within [`ReadLimits::version_ttl`] for commits made by
//!   other processes (the state store's last commit, polled at most that often per
//!   tenant). A dashboard nothing has changed under is answered from memory. Concurrent
//!   misses of one key run one query (the others wait for its answer). A tenant's answers
//!   take at most half the cache ([`CacheShares`]). Answers for periods that run to now are
//!   keyed by the minute as well; when the minute turns, the latest answer of the last
//!   [`STALE_MINUTES`] is served (`X-Cache: stale`) while this minute's is computed in the
//!   background, so a dashboard kept open never waits for the recomputation (the data
//!   version must match: new data is never answered with an old answer).
//! * **The read gate.** A miss runs its query only with a permit from the tenant's
//!   semaphore and from the global one; a request that waits longer than
//!   [`ReadLimits::queue_wait`] is answered 429 with `Retry-After`. A tenant can never hold
//!   more than its share of the warehouse, so another tenant's requests always find room.
//!   A read of a tenant that asks for more than one at once (in flight or waiting) is
//!   answered at [`ReadPriority::Background`]: its threads yield the CPU to the reads of
//!   tenants asking one thing at a time (a running query cannot be paused, but it can
//!   wait for the core).
//! * Deadlines are the warehouse's: a read past its query timeout is cancelled in the
//!   engine and answered 503 (see [`crate::error`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use avesa_analytics::settings::TenantSettings;
use avesa_model::TenantId;
use avesa_warehouse::{DataEpochs, ReadPriority};

use crate::AppState;
use crate::auth::AuthUser;
use crate::error::ApiError;

/// Bounds on the warehouse reads the API runs and on what it caches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadLimits {
    /// Warehouse reads in flight across all tenants.
    pub global: usize,
    /// Warehouse reads in flight per tenant (at most `global`).
    pub per_tenant: usize,
    /// How long a read waits for a permit before it is answered 429.
    pub queue_wait: Duration,
    /// Bytes of answers the response cache keeps (0: no cache).
    pub cache_bytes: u64,
    /// How stale another process's commit may be before the cache notices it.
    pub version_ttl: Duration,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            global: 8,
            per_tenant: 4,
            queue_wait: Duration::from_secs(2),
            cache_bytes: 64 << 20,
            version_ttl: Duration::from_secs(1),
        }
    }
}

impl ReadLimits {
    pub fn validate(&self) -> Result<(), String> {
        if self.global == 0 || self.per_tenant == 0 {
            return Err("read limits must be at least 1".into());
        }
        if self.per_tenant > self.global {
            return Err(format!(
                "reads per tenant ({}) cannot exceed reads in all ({})",
                self.per_tenant, self.global
            ));
        }
        Ok(())
    }
}

/// Permits for warehouse reads, globally and per tenant.
pub struct ReadGate {
    limits: ReadLimits,
    global: Arc<Semaphore>,
    tenants: Mutex<HashMap<String, Arc<TenantReads>>>,
}

/// One tenant's side of the gate.
struct TenantReads {
    permits: Arc<Semaphore>,
    /// The tenant's reads in flight or waiting for a permit.
    asking: AtomicUsize,
}

impl TenantReads {
    /// The priority of a read that has just taken one of the tenant's permits:
    /// background while the tenant asks for more than one read at once.
    fn priority(&self) -> ReadPriority {
        if self.asking.load(AtomicOrdering::SeqCst) > 1 {
            ReadPriority::Background
        } else {
            ReadPriority::Interactive
        }
    }
}

/// A read counted in its tenant's [`TenantReads::asking`] until dropped.
struct Asking(Arc<TenantReads>);

impl Asking {
    fn new(reads: Arc<TenantReads>) -> Self {
        reads.asking.fetch_add(1, AtomicOrdering::SeqCst);
        Asking(reads)
    }
}

impl Drop for Asking {
    fn drop(&mut self) {
        self.0.asking.fetch_sub(1, AtomicOrdering::SeqCst);
    }
}

/// A read's permits; dropping it lets the next read in.
pub struct ReadPermit {
    _tenant: OwnedSemaphorePermit,
    _global: OwnedSemaphorePermit,
    _asking: Asking,
    priority: ReadPriority,
}

impl ReadPermit {
    /// How urgently the read is answered: run its warehouse calls in
    /// [`ReadPriority::scope`].
    pub fn priority(&self) -> ReadPriority {
        self.priority
    }
}

impl ReadGate {
    pub fn new(limits: ReadLimits) -> Self {
        ReadGate {
            global: Arc::new(Semaphore::new(limits.global.max(1))),
            limits,
            tenants: Mutex::default(),
        }
    }

    fn tenant_reads(&self, tenant: &TenantId) -> Arc<TenantReads> {
        let mut map = self.tenants.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let per = self.limits.per_tenant.max(1);
        if map.len() > 10_000 {
            // Forget idle tenants (one with a read in flight or waiting is kept).
            map.retain(|_, t| {
                t.permits.available_permits() < per || t.asking.load(AtomicOrdering::SeqCst) > 0
            });
        }
        map.entry(tenant.as_str().to_owned())
            .or_insert_with(|| {
                Arc::new(TenantReads {
                    permits: Arc::new(Semaphore::new(per)),
                    asking: AtomicUsize::new(0),
                })
            })
            .clone()
    }

    /// Waits (at most [`ReadLimits::queue_wait`] in all) for the tenant's permit, then
    /// the global one; 429 with `Retry-After` when the wait runs out. The permit says at
    /// which priority the read runs (see the module's docs).
    pub async fn enter(&self, tenant: &TenantId) -> Result<ReadPermit, ApiError> {
        let deadline = Instant::now() + self.limits.queue_wait;
        let busy = || {
            ApiError::rate_limited(
                "too many requests for the warehouse at once; retry after the time given",
                1,
            )
        };
        let reads = self.tenant_reads(tenant);
        let asking = Asking::new(reads.clone());
        let t = tokio::time::timeout_at(deadline.into(), reads.permits.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| ApiError::internal())?;
        let priority = reads.priority();
        let g = tokio::time::timeout_at(deadline.into(), self.global.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| ApiError::internal())?;
        Ok(ReadPermit { _tenant: t, _global: g, _asking: asking, priority })
    }
}

/// Each tenant's data version: this process's epoch and the state store's last commit,
/// the latter polled at most once per [`ReadLimits::version_ttl`].
pub struct DataVersions {
    epochs: DataEpochs,
    commits: moka::future::Cache<String, Option<i64>>,
}

impl DataVersions {
    pub fn new(epochs: DataEpochs, ttl: Duration) -> Self {
        DataVersions {
            epochs,
            commits: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl.max(Duration::from_millis(1)))
                .build(),
        }
    }

    /// The version to key the tenant's cached answers by; `None` if the state store cannot
    /// say (then nothing is cached).
    pub async fn get(&self, state: &AppState, tenant: &TenantId) -> Option<String> {
        // Read the epoch first: an apply that lands while the store is asked then moves
        // the key on, never back.
        let epoch = self.epochs.get(tenant);
        let store = state.store.clone();
        let t = tenant.clone();
        let commit = self
            .commits
            .try_get_with(tenant.as_str().to_owned(), async move {
                store.last_commit_at(&t).await.map(|c| c.map(|c| c.timestamp_micros()))
            })
            .await;
        match commit {
            Ok(c) => Some(format!("{epoch}.{}", c.unwrap_or(0))),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the data version; not caching");
                None
            }
        }
    }
}

/// Each tenant's analytics settings (time zone, capacities, goals, calculated metrics),
/// read from the state store at most once per [`ReadLimits::version_ttl`] per tenant, and
/// at once after a change made through this process.
pub struct SettingsCache {
    cache: moka::future::Cache<String, Arc<TenantSettings>>,
}

impl SettingsCache {
    pub fn new(ttl: Duration) -> Self {
        SettingsCache {
            cache: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl.max(Duration::from_millis(1)))
                .build(),
        }
    }

    /// The tenant's settings.
    pub async fn get(
        &self,
        state: &AppState,
        tenant: &TenantId,
    ) -> Result<Arc<TenantSettings>, ApiError> {
        let store = state.store.clone();
        let t = tenant.clone();
        self.cache
            .try_get_with(tenant.as_str().to_owned(), async move {
                let entries = store.list_settings(&t, "").await?;
                let (settings, skipped) = TenantSettings::from_entries(&entries);
                if !skipped.is_empty() {
                    tracing::warn!(tenant = %t, ?skipped, "settings that no longer read are ignored");
                }
                Ok::<_, avesa_state::StateError>(Arc::new(settings))
            })
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot read the tenant's settings");
                ApiError::unavailable("the tenant's settings cannot be read now; try again")
            })
    }

    /// Forgets what was read of the tenant's settings (after a change).
    pub async fn forget(&self, tenant: &TenantId) {
        self.cache.invalidate(tenant.as_str()).await;
    }
}

/// An answer as the cache keeps it.
#[derive(Clone)]
pub struct Snapshot {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Snapshot {
    async fn of(resp: Response) -> Snapshot {
        let (parts, body) = resp.into_parts();
        match axum::body::to_bytes(body, MAX_CACHED_BODY).await {
            Ok(body) => Snapshot { status: parts.status, headers: parts.headers, body },
            Err(e) => {
                tracing::error!(error = %e, "cannot read a response body to cache it");
                let r = ApiError::internal().into_response();
                let (parts, _) = r.into_parts();
                Snapshot {
                    status: parts.status,
                    headers: parts.headers,
                    body: Bytes::from(ApiError::internal().body().to_string()),
                }
            }
        }
    }

    fn response(&self, how: &'static str) -> Response {
        let mut resp = Response::new(Body::from(self.body.clone()));
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers.clone();
        resp.headers_mut().insert("x-cache", HeaderValue::from_static(how));
        resp
    }
}

/// How many minutes old an answer for a period that runs to now may be when it is served
/// while the current minute's is computed (an open dashboard reads again every 2 minutes).
pub const STALE_MINUTES: i64 = 5;

/// The largest answer read into the cache (a 500-row page of wide records fits).
pub const MAX_CACHED_BODY: usize = 16 << 20;

/// What the time is: `Utc::now` but in tests.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The real clock.
pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// The response cache: answers by (tenant, path and query, data version).
pub struct ResponseCache {
    /// `None` when the configured size is 0.
    cache: Option<moka::future::Cache<String, Snapshot>>,
    /// The clock analytics answers are read at (see [`ResponseCache::minute`]).
    clock: Clock,
    /// What each tenant holds of it.
    shares: Arc<CacheShares>,
    pub(crate) versions: DataVersions,
    pub(crate) gate: ReadGate,
    pub(crate) settings: SettingsCache,
}

/// The bytes of cached answers each tenant holds: a tenant at its share (half the cache)
/// has its further answers computed but not kept, so one tenant flooding the cache with
/// answers it asks for again and again cannot push out every other tenant's.
pub struct CacheShares {
    limit: u64,
    used: Mutex<HashMap<String, u64>>,
}

impl CacheShares {
    fn has_room(&self, tenant: &TenantId) -> bool {
        let used = self.used.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        used.get(tenant.as_str()).copied().unwrap_or(0) < self.limit
    }

    fn add(&self, tenant: &str, bytes: u64) {
        let mut used = self.used.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *used.entry(tenant.to_owned()).or_default() += bytes;
    }

    fn release(&self, tenant: &str, bytes: u64) {
        let mut used = self.used.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(u) = used.get_mut(tenant) {
            *u = u.saturating_sub(bytes);
            if *u == 0 {
                used.remove(tenant);
            }
        }
    }

    /// Bytes the tenant's cached answers weigh now.
    pub fn used(&self, tenant: &TenantId) -> u64 {
        let used = self.used.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        used.get(tenant.as_str()).copied().unwrap_or(0)
    }
}

/// What a cached answer counts for against the cache's size and its tenant's share.
fn weight(key: &str, snap: &Snapshot) -> u64 {
    (key.len() + snap.body.len() + 256) as u64
}

/// The tenant a cache key belongs to (keys start `{tenant}\n`).
fn key_tenant(key: &str) -> &str {
    key.split_once('\n').map_or(key, |(t, _)| t)
}

impl ResponseCache {
    pub fn new(limits: ReadLimits, epochs: DataEpochs, clock: Clock) -> Self {
        let shares =
            Arc::new(CacheShares { limit: limits.cache_bytes / 2, used: Mutex::default() });
        let released = shares.clone();
        let cache = (limits.cache_bytes > 0).then(|| {
            moka::future::Cache::builder()
                .max_capacity(limits.cache_bytes)
                .weigher(|k: &String, v: &Snapshot| u32::try_from(weight(k, v)).unwrap_or(u32::MAX))
                .eviction_listener(move |k: Arc<String>, v: Snapshot, _| {
                    released.release(key_tenant(&k), weight(&k, &v));
                })
                // Old versions' answers are never asked for again; let them go.
                .time_to_idle(Duration::from_secs(600))
                .build()
        });
        ResponseCache {
            versions: DataVersions::new(epochs, limits.version_ttl),
            settings: SettingsCache::new(limits.version_ttl),
            gate: ReadGate::new(limits.clone()),
            shares,
            cache,
            clock,
        }
    }

    /// The clock of an analytics answer: now, to the minute (answers for periods that run
    /// to now are computed, and cached, per minute).
    pub fn minute(&self) -> DateTime<Utc> {
        let now = (self.clock)();
        now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now)
    }

    /// What each tenant holds of the cache.
    pub fn shares(&self) -> &CacheShares {
        &self.shares
    }

    /// Finishes the cache's pending evictions (they run lazily), so that what it holds
    /// and what each tenant's share counts are current.
    pub async fn settle(&self) {
        if let Some(c) = &self.cache {
            c.run_pending_tasks().await;
        }
    }
}

/// The middleware of the warehouse read routes: authenticate, then answer from the cache
/// or run the handler under the read gate (one run per key at a time).
pub(crate) async fn cached_read(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if req.method() != Method::GET {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let user = match AuthUser::authenticate(&mut parts, &state).await {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    parts.extensions.insert(user.clone());
    let req = Request::from_parts(parts, body);
    let guard = state.reads.clone();
    let version = match &guard.cache {
        Some(_) => guard.versions.get(&state, &user.tenant).await,
        None => None,
    };
    let cached = match (guard.cache.clone(), version) {
        // A tenant at its share of the cache is answered without keeping the answer.
        (Some(c), Some(v)) if guard.shares.has_room(&user.tenant) => Some((c, v)),
        _ => None,
    };
    let Some((cache, version)) = cached else {
        // Not cached: still gated.
        let permit = match guard.gate.enter(&user.tenant).await {
            Ok(p) => p,
            Err(e) => return e.into_response(),
        };
        let mut resp = permit.priority().scope(next.run(req)).await;
        if guard.cache.is_some() {
            resp.headers_mut().insert("x-cache", HeaderValue::from_static("miss"));
        }
        return resp;
    };
    let path = req.uri().path_and_query().map_or("", |p| p.as_str()).to_owned();
    // Metric answers depend on the clock too (periods run to now), read to the minute.
    let minute = crate::kpi::reads_the_clock(&path).then(|| guard.minute());
    // Answers depend on the tenant's settings (time zone, goals, calculated metrics).
    let settings = match guard.settings.get(&state, &user.tenant).await {
        Ok(s) => s.fingerprint,
        Err(e) => return e.into_response(),
    };
    let key_at = |minute: Option<DateTime<Utc>>| {
        let clock = minute.map(|m| m.timestamp().to_string()).unwrap_or_default();
        format!("{}\n{path}\n{version}.{settings:x}\n{clock}", user.tenant)
    };
    let key = key_at(minute);
    let counted_key = key.clone();
    let gate_guard = guard.clone();
    let tenant = user.tenant.clone();
    let computed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let computed_in = computed.clone();
    let compute = async move {
        computed_in.store(true, std::sync::atomic::Ordering::Relaxed);
        let permit = match gate_guard.gate.enter(&tenant).await {
            Ok(p) => p,
            Err(e) => return Err(Snapshot::of(e.into_response()).await),
        };
        let snap = Snapshot::of(permit.priority().scope(next.run(req)).await).await;
        if snap.status != StatusCode::OK {
            return Err(snap);
        }
        // Counted before the cache holds it, so its eviction always comes after.
        gate_guard.shares.add(tenant.as_str(), weight(&counted_key, &snap));
        Ok(snap)
    };
    // The minute has turned since this answer was last asked for: the latest answer of the
    // last few minutes (same data version, same settings) now, this minute's in the
    // background.
    let previous = match minute {
        Some(m) if !cache.contains_key(&key) => {
            let mut found = None;
            for back in 1..=STALE_MINUTES {
                if let Some(p) = cache.get(&key_at(Some(m - TimeDelta::minutes(back)))).await {
                    found = Some(p);
                    break;
                }
            }
            found
        }
        _ => None,
    };
    if let Some(previous) = previous {
        let background = cache.clone();
        tokio::spawn(async move {
            // Concurrent requests for the same key share this one computation.
            let _ = background.try_get_with(key, compute).await;
        });
        return previous.response("stale");
    }
    let result = cache.try_get_with(key, compute).await;
    let fresh = computed.load(std::sync::atomic::Ordering::Relaxed);
    match result {
        Ok(snap) => snap.response(if fresh { "miss" } else { "hit" }),
        Err(snap) => snap.response("miss"),
    }
}
