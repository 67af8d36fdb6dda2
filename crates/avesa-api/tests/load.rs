//! The API under load and abuse: the response cache and its data versions, the read gate
//! (429 for the tenant over its share, room for the others), deep paging, the security
//! headers and request ids, `/metrics` access, and the server's connection bounds
//! (half-sent requests closed, a cap on open connections).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

use avesa_api::{AppState, AuthConfig, HttpConfig, ReadLimits, ServeOptions, hash_password};
use avesa_model::{CanonicalTable, Role, TenantId};
use avesa_state::{NewUser, SqliteStore, StateStore};
use avesa_warehouse::{
    ApplyReport, DashboardStats, EntityId, ListQuery, Page, ReadPriority, Record, StatusCount,
    TopCompany, Warehouse, WarehouseError,
};

const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

/// Answers every read after `delay`, counting the reads it ran.
struct SlowWarehouse {
    delay: Duration,
    reads: AtomicUsize,
}

impl SlowWarehouse {
    async fn read(&self) {
        self.reads.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
    }
}

#[async_trait]
impl Warehouse for SlowWarehouse {
    async fn apply(
        &self,
        _: CanonicalTable,
        _: arrow::record_batch::RecordBatch,
    ) -> Result<ApplyReport, WarehouseError> {
        Err(WarehouseError::Engine("read-only".into()))
    }
    async fn list(
        &self,
        tenant: &TenantId,
        _: CanonicalTable,
        q: &ListQuery,
    ) -> Result<Page, WarehouseError> {
        self.read().await;
        let mut r = Record::new();
        r.insert("id".into(), json!(format!("connectwise:{}", tenant.as_str())));
        r.insert("reads".into(), json!(self.reads.load(Ordering::SeqCst)));
        r.insert("priority".into(), json!(format!("{:?}", ReadPriority::current())));
        Ok(Page { items: vec![r], page: q.page, page_size: q.page_size, total: 1 })
    }
    async fn get(
        &self,
        _: &TenantId,
        _: CanonicalTable,
        _: &EntityId,
        _: Option<chrono::NaiveDateTime>,
    ) -> Result<Option<Record>, WarehouseError> {
        self.read().await;
        Ok(None)
    }
    async fn history(
        &self,
        _: &TenantId,
        _: CanonicalTable,
        _: &EntityId,
    ) -> Result<Vec<Record>, WarehouseError> {
        self.read().await;
        Ok(Vec::new())
    }
    async fn dashboard(&self, _: &TenantId) -> Result<DashboardStats, WarehouseError> {
        self.read().await;
        Ok(DashboardStats {
            tickets: self.reads.load(Ordering::SeqCst) as u64,
            ..DashboardStats::default()
        })
    }
    async fn ticket_status(&self, _: &TenantId) -> Result<Vec<StatusCount>, WarehouseError> {
        self.read().await;
        Ok(Vec::new())
    }
    async fn top_companies(&self, _: &TenantId, _: u32) -> Result<Vec<TopCompany>, WarehouseError> {
        self.read().await;
        Ok(Vec::new())
    }
    async fn version_count(&self, _: &TenantId, _: CanonicalTable) -> Result<u64, WarehouseError> {
        Ok(0)
    }
    async fn current_ids(
        &self,
        _: &TenantId,
        _: CanonicalTable,
        _: &str,
    ) -> Result<Vec<String>, WarehouseError> {
        Ok(Vec::new())
    }
    async fn ping(&self) -> Result<(), WarehouseError> {
        Ok(())
    }
    async fn purge(&self, _: &TenantId, _: CanonicalTable) -> Result<u64, WarehouseError> {
        // It holds no rows.
        Ok(0)
    }
    async fn reorder(&self, _: &TenantId, _: CanonicalTable) -> Result<u64, WarehouseError> {
        Ok(0)
    }
    async fn aggregate(
        &self,
        _: &TenantId,
        _: &avesa_warehouse::Aggregate,
    ) -> Result<Vec<avesa_warehouse::AggRow>, WarehouseError> {
        self.read().await;
        Ok(vec![])
    }
    async fn aggregate_many(
        &self,
        tenant: &TenantId,
        qs: &[avesa_warehouse::Aggregate],
    ) -> Result<Vec<Vec<avesa_warehouse::AggRow>>, WarehouseError> {
        avesa_warehouse::batch::one_by_one(self, tenant, qs).await
    }
}

struct T {
    app: Router,
    state: AppState,
    warehouse: Arc<SlowWarehouse>,
    _dir: tempfile::TempDir,
}

async fn setup(delay: Duration, reads: ReadLimits) -> T {
    setup_at(delay, reads, avesa_api::system_clock()).await
}

/// As [`setup`], with analytics periods read at `clock`.
async fn setup_at(delay: Duration, reads: ReadLimits, clock: avesa_api::Clock) -> T {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("state.db")).await.unwrap());
    let hash = hash_password("a-long-enough-password");
    for t in ["acme", "globex"] {
        store.create_tenant(&TenantId::new(t).unwrap(), t).await.unwrap();
        for role in [Role::Viewer, Role::Analyst, Role::TenantAdmin, Role::PlatformAdmin] {
            store
                .create_user(NewUser {
                    tenant_id: TenantId::new(t).unwrap(),
                    email: format!("{role}@{t}.io"),
                    name: "Ann".into(),
                    role,
                    password_hash: hash.clone(),
                })
                .await
                .unwrap();
        }
    }
    let warehouse = Arc::new(SlowWarehouse { delay, reads: AtomicUsize::new(0) });
    let state = AppState::new(store, warehouse.clone(), AuthConfig::new(SECRET.to_vec()))
        .with_clock(clock)
        .with_http_config(HttpConfig { reads, ..HttpConfig::default() })
        .with_metrics_token(Some("a-scraper-token-for-tests".into()));
    T { app: avesa_api::router(state.clone()), state, warehouse, _dir: dir }
}

/// Signs in the tenant's user of `role`: an access token.
async fn token(app: &Router, tenant: &str, role: Role) -> String {
    let body = json!({"tenant_id": tenant, "email": format!("{role}@{tenant}.io"), "password": "a-long-enough-password"});
    let req = Request::builder()
        .method(Method::POST)
        .uri("/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

async fn get(
    app: &Router,
    uri: &str,
    token: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut b = Request::builder().method(Method::GET).uri(uri);
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let resp = app.clone().oneshot(b.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, v)
}

fn limits(global: usize, per_tenant: usize, wait_ms: u64) -> ReadLimits {
    ReadLimits {
        global,
        per_tenant,
        queue_wait: Duration::from_millis(wait_ms),
        ..ReadLimits::default()
    }
}

/// One tenant asking again and again for many different answers holds at most half the
/// response cache: another tenant's cached answers stay.
#[tokio::test]
async fn one_tenant_cannot_take_the_whole_response_cache() {
    let cache_bytes = 64 << 10;
    let t = setup(Duration::ZERO, ReadLimits { cache_bytes, ..ReadLimits::default() }).await;
    let acme = token(&t.app, "acme", Role::Analyst).await;
    let globex = token(&t.app, "globex", Role::Analyst).await;
    let (s, h, _) = get(&t.app, "/api/tickets?page=1", Some(&globex)).await;
    assert_eq!((s, &h["x-cache"]), (StatusCode::OK, &"miss".parse().unwrap()));
    let (_, h, _) = get(&t.app, "/api/tickets?page=1", Some(&globex)).await;
    assert_eq!(h["x-cache"], "hit");
    // Acme: 400 different answers (several times the cache), each asked for five times.
    for round in 0..5 {
        for i in 0..400 {
            let (s, _, _) = get(&t.app, &format!("/api/tickets?q=x{i}"), Some(&acme)).await;
            assert_eq!(s, StatusCode::OK, "round {round}, answer {i}");
        }
        t.state.reads.settle().await;
    }
    let acme_id = TenantId::new("acme").unwrap();
    let held = t.state.reads.shares().used(&acme_id);
    assert!(held > 0, "acme's answers were cached too");
    assert!(held <= cache_bytes / 2 + 1024, "acme holds {held} of {cache_bytes} bytes");
    // Acme's answers beyond its share are computed each time (and correct).
    let (s, h, _) = get(&t.app, "/api/tickets?q=x399", Some(&acme)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["x-cache"], "miss");
    // Globex's answer is still there.
    let (_, h, _) = get(&t.app, "/api/tickets?page=1", Some(&globex)).await;
    assert_eq!(h["x-cache"], "hit", "another tenant's flood pushed out globex's answer");
}

/// When the minute turns, an answer for a period that runs to now is the previous
/// minute's at once (`X-Cache: stale`) while this minute's is computed behind it; an
/// answer older than that, or from before the tenant's data changed, is never served.
#[tokio::test]
async fn a_turning_minute_serves_the_last_answer_while_the_next_is_computed() {
    use chrono::TimeZone as _;
    let start = chrono::Utc.with_ymd_and_hms(2026, 12, 1, 9, 30, 10).unwrap().timestamp();
    let now = Arc::new(std::sync::atomic::AtomicI64::new(start));
    let clock_now = now.clone();
    let clock: avesa_api::Clock = Arc::new(move || {
        chrono::DateTime::from_timestamp(clock_now.load(Ordering::SeqCst), 0).unwrap()
    });
    let t = setup_at(Duration::from_millis(100), ReadLimits::default(), clock).await;
    let acme = token(&t.app, "acme", Role::Analyst).await;
    let path = "/api/analytics/metrics/tickets_opened?period=7d";
    let (s, h, first) = get(&t.app, path, Some(&acme)).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    assert_eq!(h["x-cache"], "miss");
    assert_eq!(first["period"]["to"], "2026-12-01T09:30:00Z", "{first}");
    now.fetch_add(30, Ordering::SeqCst);
    let (_, h, _) = get(&t.app, path, Some(&acme)).await;
    assert_eq!(h["x-cache"], "hit", "the same minute");

    // 09:31: the 09:30 answer at once; the 09:31 one is computed behind it.
    now.fetch_add(30, Ordering::SeqCst);
    let (s, h, stale) = get(&t.app, path, Some(&acme)).await;
    assert_eq!((s, &h["x-cache"]), (StatusCode::OK, &"stale".parse().unwrap()));
    assert_eq!(stale, first);
    let mut fresh = None;
    for _ in 0..100 {
        let (_, h, v) = get(&t.app, path, Some(&acme)).await;
        if h["x-cache"] == "hit" {
            fresh = Some(v);
            break;
        }
        assert_eq!(h["x-cache"], "stale", "while it is computed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fresh = fresh.expect("the 09:31 answer was computed in the background");
    assert_eq!(fresh["period"]["to"], "2026-12-01T09:31:00Z", "{fresh}");

    // Two minutes later (an open dashboard reads again every two): still at once.
    now.fetch_add(120, Ordering::SeqCst);
    let (_, h, v) = get(&t.app, path, Some(&acme)).await;
    assert_eq!(h["x-cache"], "stale");
    assert_eq!(v["period"]["to"], "2026-12-01T09:31:00Z");

    // Past STALE_MINUTES nothing is served that old: computed while it waits.
    now.fetch_add(60 * avesa_api::guard::STALE_MINUTES + 60, Ordering::SeqCst);
    let (_, h, v) = get(&t.app, path, Some(&acme)).await;
    assert_eq!(h["x-cache"], "miss");
    assert_eq!(v["period"]["to"], "2026-12-01T09:39:00Z");

    // The minute turns and the tenant's data changes: never the old answer.
    now.fetch_add(60, Ordering::SeqCst);
    t.state.epochs.bump("acme");
    let (_, h, v) = get(&t.app, path, Some(&acme)).await;
    assert_eq!(h["x-cache"], "miss");
    assert_eq!(v["period"]["to"], "2026-12-01T09:40:00Z");

    // Routes that do not read the clock are not keyed by it.
    let (_, h, _) = get(&t.app, "/api/tickets?page=1", Some(&acme)).await;
    assert_eq!(h["x-cache"], "miss");
    now.fetch_add(60, Ordering::SeqCst);
    let (_, h, _) = get(&t.app, "/api/tickets?page=1", Some(&acme)).await;
    assert_eq!(h["x-cache"], "hit");
}

#[tokio::test]
async fn answers_are_cached_until_the_tenants_data_changes() {
    let t = setup(Duration::ZERO, ReadLimits::default()).await;
    let acme = token(&t.app, "acme", Role::Analyst).await;
    let globex = token(&t.app, "globex", Role::Analyst).await;
    let (s, h, first) = get(&t.app, "/api/analytics/dashboard", Some(&acme)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["x-cache"], "miss");
    let (_, h, again) = get(&t.app, "/api/analytics/dashboard", Some(&acme)).await;
    assert_eq!(h["x-cache"], "hit");
    assert_eq!(first, again);
    assert_eq!(t.warehouse.reads.load(Ordering::SeqCst), 1, "the hit ran no query");
    // Another tenant's identical request is its own entry, never the first tenant's.
    let (_, h, _) = get(&t.app, "/api/analytics/dashboard", Some(&globex)).await;
    assert_eq!(h["x-cache"], "miss");
    // Another query string is another entry.
    let (_, h, _) = get(&t.app, "/api/tickets?page=2", Some(&acme)).await;
    assert_eq!(h["x-cache"], "miss");
    // An apply for acme moves its version: the next answer is computed afresh, and
    // globex's stays cached.
    t.state.epochs.bump("acme");
    let (_, h, after) = get(&t.app, "/api/analytics/dashboard", Some(&acme)).await;
    assert_eq!(h["x-cache"], "miss");
    assert_ne!(after["tickets"], first["tickets"], "{after} vs {first}");
    let (_, h, _) = get(&t.app, "/api/analytics/dashboard", Some(&globex)).await;
    assert_eq!(h["x-cache"], "hit");
    // Errors are not cached, and an unauthenticated request never reaches the cache.
    let (s, _, _) = get(&t.app, "/api/analytics/dashboard", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = get(&t.app, "/api/tickets?sort=x;y", Some(&acme)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn concurrent_misses_of_one_request_run_one_query() {
    let t = setup(Duration::from_millis(200), ReadLimits::default()).await;
    let acme = token(&t.app, "acme", Role::Analyst).await;
    let calls = (0..20).map(|_| get(&t.app, "/api/analytics/dashboard", Some(&acme)));
    let answers = futures::future::join_all(calls).await;
    assert!(answers.iter().all(|(s, _, _)| *s == StatusCode::OK));
    assert_eq!(t.warehouse.reads.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_tenant_over_its_share_gets_429_and_the_others_are_served() {
    // One read at a time per tenant, two in all, 100 ms of queueing.
    let t = setup(Duration::from_millis(400), limits(2, 1, 100)).await;
    let acme = token(&t.app, "acme", Role::Analyst).await;
    let globex = token(&t.app, "globex", Role::Analyst).await;
    // Acme sends six different searches at once: one runs, the rest wait 100 ms and are
    // refused with Retry-After.
    let floods = (0..6).map(|i| {
        let (app, acme) = (t.app.clone(), acme.clone());
        tokio::spawn(async move { get(&app, &format!("/api/tickets?q=e{i}"), Some(&acme)).await })
    });
    let floods: Vec<_> = floods.collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Globex is served meanwhile, in about one read's time.
    let started = std::time::Instant::now();
    let (s, _, _) = get(&t.app, "/api/tickets", Some(&globex)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
    let mut ok = 0;
    let mut limited = 0;
    for f in floods {
        let (s, h, v) = f.await.unwrap();
        match s {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                limited += 1;
                assert_eq!(h[header::RETRY_AFTER], "1");
                assert_eq!(v["error"]["code"], "rate_limited", "{v}");
            }
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert_eq!((ok, limited), (1, 5));
}

/// A tenant asking for several reads at once has them answered at background priority,
/// while another tenant asking one thing at a time stays interactive; when the flood
/// stops, the tenant is interactive again.
#[tokio::test]
async fn a_tenant_asking_many_reads_at_once_runs_them_in_the_background() {
    let t = setup(Duration::from_millis(300), limits(8, 2, 5_000)).await;
    let acme = token(&t.app, "acme", Role::Analyst).await;
    let globex = token(&t.app, "globex", Role::Analyst).await;
    let priority = |v: &Value| v["items"][0]["priority"].as_str().unwrap_or("").to_owned();
    let (s, _, v) = get(&t.app, "/api/tickets?q=alone", Some(&acme)).await;
    assert_eq!((s, priority(&v)), (StatusCode::OK, "Interactive".into()), "{v}");
    // Five different searches at once: two in flight, three waiting.
    let floods: Vec<_> = (0..5)
        .map(|i| {
            let (app, acme) = (t.app.clone(), acme.clone());
            tokio::spawn(
                async move { get(&app, &format!("/api/tickets?q=e{i}"), Some(&acme)).await },
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (s, _, v) = get(&t.app, "/api/tickets?q=meanwhile", Some(&globex)).await;
    assert_eq!((s, priority(&v)), (StatusCode::OK, "Interactive".into()), "another tenant");
    let mut background = 0;
    for f in floods {
        let (s, _, v) = f.await.unwrap();
        assert_eq!(s, StatusCode::OK, "{v}");
        background += usize::from(priority(&v) == "Background");
    }
    // The first may have started before the others asked, and the last runs alone.
    assert!(background >= 3, "{background} of 5 in the background");
    let (_, _, v) = get(&t.app, "/api/tickets?q=later", Some(&acme)).await;
    assert_eq!(priority(&v), "Interactive", "interactive again once the flood is over");
}

#[tokio::test]
async fn deep_pages_are_refused_naming_the_parameter() {
    let t = setup(Duration::ZERO, ReadLimits::default()).await;
    let acme = token(&t.app, "acme", Role::Analyst).await;
    let (s, _, v) = get(&t.app, "/api/tickets?page=200&page_size=50", Some(&acme)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _, v) = get(&t.app, "/api/tickets?page=21&page_size=500", Some(&acme)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["details"]["param"], "page", "{v}");
    assert_eq!(t.warehouse.reads.load(Ordering::SeqCst), 1, "the refused page ran nothing");
}

#[tokio::test]
async fn every_response_carries_security_headers_and_a_request_id() {
    let t = setup(Duration::ZERO, ReadLimits::default()).await;
    let acme = token(&t.app, "acme", Role::Analyst).await;
    for (uri, tok) in [
        ("/api/tickets", Some(acme.as_str())),
        ("/api/tickets", None),
        ("/health", None),
        ("/", None),
        ("/no/such/page", None),
    ] {
        let (_, h, _) = get(&t.app, uri, tok).await;
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'self'"),
            "{uri}: {csp}"
        );
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY", "{uri}");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer", "{uri}");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{uri}");
        assert!(h.get(header::STRICT_TRANSPORT_SECURITY).is_none(), "no HSTS over plain HTTP");
        let id = h["x-request-id"].to_str().unwrap();
        assert_eq!(id.len(), 36, "{uri}: a UUID, got {id}");
        if uri.starts_with("/api") || uri == "/health" {
            assert_eq!(h[header::CACHE_CONTROL], "no-store", "{uri}");
        }
    }
    // A client's plain request id is kept; an odd one is replaced.
    for (given, kept) in [("trace-123.a_b", true), ("bad id\twith tab", false)] {
        let req = Request::builder()
            .uri("/health")
            .header("x-request-id", given)
            .header("x-forwarded-proto", "https")
            .body(Body::empty())
            .unwrap();
        let resp = t.app.clone().oneshot(req).await.unwrap();
        let id = resp.headers()["x-request-id"].to_str().unwrap();
        assert_eq!(id == given, kept, "{given:?} → {id:?}");
        assert!(
            resp.headers()[header::STRICT_TRANSPORT_SECURITY]
                .to_str()
                .unwrap()
                .contains("max-age=")
        );
    }
}

#[tokio::test]
async fn metrics_are_for_the_scraper_and_platform_admins_only() {
    let t = setup(Duration::ZERO, ReadLimits::default()).await;
    let (s, _, _) = get(&t.app, "/metrics", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    for role in [Role::Viewer, Role::Analyst, Role::TenantAdmin] {
        let tok = token(&t.app, "acme", role).await;
        let (s, _, v) = get(&t.app, "/metrics", Some(&tok)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{role}: {v}");
    }
    let (s, _, _) = get(&t.app, "/metrics", Some("a-scraper-token-for-test")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a near miss is no token");
    let (s, _, _) = get(&t.app, "/metrics", Some("a-scraper-token-for-tests")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) =
        get(&t.app, "/metrics", Some(&token(&t.app, "acme", Role::PlatformAdmin).await)).await;
    assert_eq!(s, StatusCode::OK);
}

/// Serves `app` with `opts` on a free port.
async fn serve(app: Router, opts: ServeOptions) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(avesa_api::serve(listener, app, opts));
    addr
}

/// Reads until the server closes the connection (`Ok(bytes read)`) or `within` passes.
async fn closed_within(s: &mut tokio::net::TcpStream, within: Duration) -> Result<usize, ()> {
    let mut buf = Vec::new();
    match tokio::time::timeout(within, s.read_to_end(&mut buf)).await {
        Ok(Ok(_)) => Ok(buf.len()),
        Ok(Err(_)) => Ok(buf.len()), // reset: closed too
        Err(_) => Err(()),
    }
}

#[tokio::test]
async fn half_sent_requests_are_closed_after_the_header_timeout() {
    let t = setup(Duration::ZERO, ReadLimits::default()).await;
    let opts = ServeOptions { max_connections: 1000, header_timeout: Duration::from_secs(1) };
    let addr = serve(t.app.clone(), opts).await;
    let mut conns = Vec::new();
    for _ in 0..200 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
        conns.push(s);
    }
    // An idle keep-alive connection after a full request goes the same way.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    conns.push(idle);
    for s in &mut conns {
        closed_within(s, Duration::from_secs(5)).await.expect("the server closed it");
    }
    // And the server still answers.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_one_to_close() {
    let t = setup(Duration::ZERO, ReadLimits::default()).await;
    let opts = ServeOptions { max_connections: 2, header_timeout: Duration::from_secs(30) };
    let addr = serve(t.app.clone(), opts).await;
    let held: Vec<_> = futures::future::join_all((0..2).map(|_| async {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).await.unwrap();
        s
    }))
    .await;
    // The third is connected by the kernel but not served while two are open.
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    third.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut head = [0u8; 12];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read_exact(&mut head)).await;
    assert!(early.is_err(), "served beyond the cap");
    drop(held);
    tokio::time::timeout(Duration::from_secs(5), third.read_exact(&mut head))
        .await
        .expect("served once a slot is free")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
}

/// A trigger that starts nothing and answers a fresh run id (the run record is the test's
/// to write, as the pipeline would just after).
fn counting_trigger() -> avesa_api::Trigger {
    Arc::new(|_req: avesa_api::TriggerRequest| {
        Box::pin(async { Ok(avesa_model::RunId::new().to_string()) })
    })
}

async fn post(
    app: &Router,
    uri: &str,
    token: &str,
    body: Value,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let req = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// A tenant admin cannot burn the tenant's vendor quotas: two runs in progress at most,
/// four full syncs (and four backfills) a day, backfills of at most a year.
#[tokio::test]
async fn run_quotas_bound_what_a_tenant_admin_can_start() {
    let t = setup(Duration::ZERO, ReadLimits::default()).await;
    let state = t.state.clone().with_trigger(counting_trigger());
    let app = avesa_api::router(state.clone());
    let acme = TenantId::new("acme").unwrap();
    state.store.upsert_service(&acme, "connectwise", b"sealed").await.unwrap();
    let admin = token(&app, "acme", Role::TenantAdmin).await;
    // A burst: two start, the rest are refused before their records even exist.
    let mut codes = Vec::new();
    for _ in 0..5 {
        let (s, h, v) = post(&app, "/api/admin/runs", &admin, json!({})).await;
        if s == StatusCode::TOO_MANY_REQUESTS {
            assert!(h.contains_key(header::RETRY_AFTER));
            assert!(v["error"]["message"].as_str().unwrap().contains("in progress"), "{v}");
        }
        codes.push(s.as_u16());
    }
    assert_eq!(codes, [202, 202, 429, 429, 429]);
    // Backfills: at most 366 days.
    let (s, _, v) = post(
        &app,
        "/api/admin/runs",
        &admin,
        json!({"service": "connectwise", "from": "2020-01-01", "to": "2022-01-01"}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["details"]["param"], "to");

    // Four full syncs finished today: a fifth waits for tomorrow, an incremental does not.
    let fresh = setup(Duration::ZERO, ReadLimits::default()).await;
    let state = fresh.state.clone().with_trigger(counting_trigger());
    let app = avesa_api::router(state.clone());
    for _ in 0..4 {
        let run = avesa_state::RunRecord {
            id: avesa_model::RunId::new(),
            tenant_id: Some(acme.clone()),
            kind: avesa_model::RunKind::Full,
            status: avesa_state::RunStatus::Running,
            started_at: chrono::Utc::now() - chrono::Duration::hours(2),
            finished_at: None,
            error: None,
            tables_planned: None,
            cancel_requested: false,
        };
        state.store.create_run(&run).await.unwrap();
        state.store.finish_run(run.id, avesa_state::RunStatus::Succeeded, None).await.unwrap();
    }
    let admin = token(&app, "acme", Role::TenantAdmin).await;
    let (s, h, v) = post(&app, "/api/admin/runs", &admin, json!({"full": true})).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    let retry: u64 = h[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((20 * 3600..=22 * 3600).contains(&retry), "{retry}");
    let (s, _, v) = post(&app, "/api/admin/runs", &admin, json!({})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    // Another tenant is not affected by acme's quota.
    let other = token(&app, "globex", Role::TenantAdmin).await;
    let globex = TenantId::new("globex").unwrap();
    state.store.upsert_service(&globex, "connectwise", b"sealed").await.unwrap();
    let (s, _, v) = post(&app, "/api/admin/runs", &other, json!({"full": true})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
}

/// Password checks (argon2id: memory and CPU) run a few at a time: a login that cannot
/// get a turn is refused 429, not queued without bound.
#[tokio::test]
async fn password_checks_are_bounded() {
    let t = setup(Duration::ZERO, ReadLimits::default()).await;
    let mut state = t.state.clone();
    state.hashing = Arc::new(tokio::sync::Semaphore::new(0));
    let app = avesa_api::router(state);
    let req = Request::builder()
        .method(Method::POST)
        .uri("/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"tenant_id": "acme", "email": "analyst@acme.io", "password": "a-long-enough-password"})
                .to_string(),
        ))
        .unwrap();
    let resp = app.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key(header::RETRY_AFTER));
}
