//! In-process tests of the whole router: a real SQLite state store in a temp dir and an
//! in-memory warehouse holding two tenants' records that enforces tenant scoping itself,
//! so a leak across tenants can only come from the API passing the wrong tenant.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tower::ServiceExt;

use avesa_api::{AppState, AuthConfig, Claims, HttpConfig, hash_password, router};
use avesa_model::{CanonicalTable, Role, TenantId};
use avesa_state::{NewRefreshToken, NewUser, SqliteStore, StateStore};
use avesa_warehouse::{
    ApplyReport, DashboardStats, EntityId, ListQuery, Page, Record, StatusCount, TopCompany,
    Warehouse, WarehouseError,
};

const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";
const ALICE: (&str, &str, &str) = ("acme", "alice@acme.io", "alice-password");
const BOB: (&str, &str, &str) = ("globex", "bob@globex.io", "bob-password");

// ---------------------------------------------------------------------------------------
// An in-memory warehouse
// ---------------------------------------------------------------------------------------

/// Versions keyed by (tenant, table); every read filters by the tenant it is given.
#[derive(Default)]
struct MemWarehouse {
    rows: BTreeMap<(String, CanonicalTable), Vec<Record>>,
    /// Tenants the API asked about, in order (to check the token's tenant is used).
    seen: Mutex<Vec<String>>,
}

fn rec(id: &str, fields: Value, valid_from: &str, current: bool) -> Record {
    let mut m = fields.as_object().cloned().unwrap();
    m.insert("id".into(), json!(id));
    m.insert("valid_from".into(), json!(valid_from));
    m.insert("is_current".into(), json!(current));
    m
}

impl MemWarehouse {
    fn sample() -> Self {
        let mut w = MemWarehouse::default();
        let mut put = |t: &str, table, rows: Vec<Record>| {
            w.rows.insert((t.to_owned(), table), rows);
        };
        put(
            "acme",
            CanonicalTable::Companies,
            vec![
                rec(
                    "connectwise:1",
                    json!({"name": "Acme Old Name"}),
                    "2024-01-01T00:00:00",
                    false,
                ),
                rec("connectwise:1", json!({"name": "Acme Corp"}), "2024-03-01T00:00:00", true),
                rec("connectwise:2", json!({"name": "Acme Two"}), "2024-01-01T00:00:00", true),
            ],
        );
        put(
            "acme",
            CanonicalTable::Tickets,
            vec![
                rec(
                    "connectwise:10",
                    json!({"summary": "Printer", "status": "New"}),
                    "2024-01-01T00:00:00",
                    true,
                ),
                rec(
                    "connectwise:11",
                    json!({"summary": "VPN", "status": "Closed"}),
                    "2024-01-01T00:00:00",
                    true,
                ),
            ],
        );
        put(
            "globex",
            CanonicalTable::Companies,
            vec![
                rec("connectwise:100", json!({"name": "Globex Inc"}), "2024-01-01T00:00:00", true),
                rec("connectwise:101", json!({"name": "Globex Labs"}), "2024-01-01T00:00:00", true),
                rec(
                    "connectwise:102",
                    json!({"name": "Globex Retail"}),
                    "2024-01-01T00:00:00",
                    true,
                ),
            ],
        );
        put(
            "globex",
            CanonicalTable::Tickets,
            vec![rec(
                "connectwise:200",
                json!({"summary": "Email", "status": "New"}),
                "2024-01-01T00:00:00",
                true,
            )],
        );
        w
    }

    fn versions(&self, tenant: &TenantId, table: CanonicalTable) -> Vec<Record> {
        self.seen.lock().unwrap().push(tenant.as_str().to_owned());
        self.rows.get(&(tenant.as_str().to_owned(), table)).cloned().unwrap_or_default()
    }

    fn current(&self, tenant: &TenantId, table: CanonicalTable) -> Vec<Record> {
        self.versions(tenant, table)
            .into_iter()
            .filter(|r| r["is_current"] == json!(true))
            .collect()
    }
}

#[async_trait]
impl Warehouse for MemWarehouse {
    async fn apply(
        &self,
        _table: CanonicalTable,
        _batch: arrow::record_batch::RecordBatch,
    ) -> Result<ApplyReport, WarehouseError> {
        Err(WarehouseError::Engine("read-only test warehouse".into()))
    }

    async fn list(
        &self,
        tenant: &TenantId,
        table: CanonicalTable,
        q: &ListQuery,
    ) -> Result<Page, WarehouseError> {
        let mut rows = self.current(tenant, table);
        if let Some(s) = &q.search {
            let s = s.to_lowercase();
            rows.retain(|r| {
                r.values().any(|v| v.as_str().is_some_and(|t| t.to_lowercase().contains(&s)))
            });
        }
        if let Some(col) = &q.sort {
            if col != "id" && table.column(col).is_none() {
                return Err(WarehouseError::BadRequest(format!(
                    "unknown sort column {col:?} for {table}"
                )));
            }
            rows.sort_by(|a, b| {
                a.get(col).map(Value::to_string).cmp(&b.get(col).map(Value::to_string))
            });
            if q.descending {
                rows.reverse();
            }
        }
        let total = rows.len() as u64;
        let items = rows
            .into_iter()
            .skip(((q.page - 1) * q.page_size) as usize)
            .take(q.page_size as usize)
            .collect();
        Ok(Page { items, page: q.page, page_size: q.page_size, total })
    }

    async fn get(
        &self,
        tenant: &TenantId,
        table: CanonicalTable,
        id: &EntityId,
        _as_of: Option<chrono::NaiveDateTime>,
    ) -> Result<Option<Record>, WarehouseError> {
        Ok(self.current(tenant, table).into_iter().find(|r| r["id"] == json!(id.to_string())))
    }

    async fn history(
        &self,
        tenant: &TenantId,
        table: CanonicalTable,
        id: &EntityId,
    ) -> Result<Vec<Record>, WarehouseError> {
        Ok(self
            .versions(tenant, table)
            .into_iter()
            .filter(|r| r["id"] == json!(id.to_string()))
            .collect())
    }

    async fn dashboard(&self, tenant: &TenantId) -> Result<DashboardStats, WarehouseError> {
        let tickets = self.current(tenant, CanonicalTable::Tickets);
        let closed = tickets.iter().filter(|t| t["status"] == json!("Closed")).count() as u64;
        Ok(DashboardStats {
            companies: self.current(tenant, CanonicalTable::Companies).len() as u64,
            tickets: tickets.len() as u64,
            open_tickets: tickets.len() as u64 - closed,
            closed_tickets: closed,
            ..DashboardStats::default()
        })
    }

    async fn ticket_status(&self, tenant: &TenantId) -> Result<Vec<StatusCount>, WarehouseError> {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for t in self.current(tenant, CanonicalTable::Tickets) {
            *counts.entry(t["status"].as_str().unwrap_or("").to_owned()).or_default() += 1;
        }
        Ok(counts.into_iter().map(|(status, count)| StatusCount { status, count }).collect())
    }

    async fn top_companies(
        &self,
        tenant: &TenantId,
        limit: u32,
    ) -> Result<Vec<TopCompany>, WarehouseError> {
        Ok(self
            .current(tenant, CanonicalTable::Companies)
            .into_iter()
            .take(limit as usize)
            .map(|c| TopCompany {
                id: c["id"].as_str().unwrap().to_owned(),
                name: c["name"].as_str().unwrap().to_owned(),
                tickets: 0,
                open_tickets: 0,
                hours: 0.0,
            })
            .collect())
    }

    async fn version_count(
        &self,
        tenant: &TenantId,
        table: CanonicalTable,
    ) -> Result<u64, WarehouseError> {
        Ok(self.versions(tenant, table).len() as u64)
    }

    async fn current_ids(
        &self,
        tenant: &TenantId,
        table: CanonicalTable,
        service: &str,
    ) -> Result<Vec<String>, WarehouseError> {
        Ok(self
            .current(tenant, table)
            .iter()
            .filter_map(|r| {
                r["id"].as_str()?.strip_prefix(&format!("{service}:")).map(str::to_owned)
            })
            .collect())
    }

    async fn ping(&self) -> Result<(), WarehouseError> {
        Ok(())
    }
    async fn purge(&self, _: &TenantId, _: CanonicalTable) -> Result<u64, WarehouseError> {
        Err(WarehouseError::Engine("this test warehouse's records are fixed".into()))
    }
    async fn aggregate(
        &self,
        _: &TenantId,
        _: &avesa_warehouse::Aggregate,
    ) -> Result<Vec<avesa_warehouse::AggRow>, WarehouseError> {
        Err(WarehouseError::Engine("no aggregates in this test warehouse".into()))
    }
    async fn aggregate_many(
        &self,
        tenant: &TenantId,
        qs: &[avesa_warehouse::Aggregate],
    ) -> Result<Vec<Vec<avesa_warehouse::AggRow>>, WarehouseError> {
        avesa_warehouse::batch::one_by_one(self, tenant, qs).await
    }
    async fn reorder(&self, _: &TenantId, _: CanonicalTable) -> Result<u64, WarehouseError> {
        Err(WarehouseError::Engine("read-only test warehouse".into()))
    }
}

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

struct TestApp {
    app: Router,
    store: Arc<SqliteStore>,
    warehouse: Arc<MemWarehouse>,
    _dir: tempfile::TempDir,
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    bytes: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.bytes)))
    }

    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the error shape and code, returns the message.
    fn error(&self, status: StatusCode, code: &str) -> String {
        assert_eq!(self.status, status, "body: {}", String::from_utf8_lossy(&self.bytes));
        assert!(
            self.header(header::CONTENT_TYPE).unwrap_or("").starts_with("application/json"),
            "content type {:?}",
            self.header(header::CONTENT_TYPE)
        );
        let v = self.json();
        let obj = v.as_object().expect("an object");
        assert_eq!(obj.len(), 1, "only `error` at top level: {v}");
        let e = v["error"].as_object().expect("error object");
        assert_eq!(e["code"], json!(code), "{v}");
        assert!(e.keys().all(|k| ["code", "message", "details"].contains(&k.as_str())), "{v}");
        let msg = e["message"].as_str().expect("message").to_owned();
        assert!(!msg.is_empty());
        msg
    }
}

async fn setup() -> TestApp {
    setup_with(HttpConfig::default()).await
}

async fn setup_with(http: HttpConfig) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("state.db")).await.unwrap());
    for (tenant, name) in [("acme", "Acme MSP"), ("globex", "Globex Services")] {
        store.create_tenant(&TenantId::new(tenant).unwrap(), name).await.unwrap();
    }
    for ((tenant, email, password), name, role) in
        [(ALICE, "Alice", Role::Analyst), (BOB, "Bob", Role::TenantAdmin)]
    {
        store
            .create_user(NewUser {
                tenant_id: TenantId::new(tenant).unwrap(),
                email: email.to_owned(),
                name: name.to_owned(),
                role,
                password_hash: hash_password(password),
            })
            .await
            .unwrap();
    }
    let warehouse = Arc::new(MemWarehouse::sample());
    let state = AppState::new(store.clone(), warehouse.clone(), AuthConfig::new(SECRET.to_vec()))
        .with_http_config(http);
    TestApp { app: router(state), store, warehouse, _dir: dir }
}

impl TestApp {
    async fn send(&self, req: Request<Body>) -> Resp {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap().to_vec();
        Resp { status, headers, bytes }
    }

    async fn get(&self, uri: &str, token: Option<&str>) -> Resp {
        let mut b = Request::builder().method(Method::GET).uri(uri);
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    async fn post(&self, uri: &str, body: Value) -> Resp {
        let req = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        self.send(req).await
    }

    async fn login(&self, who: (&str, &str, &str)) -> Resp {
        self.post("/auth/login", json!({"tenant_id": who.0, "email": who.1, "password": who.2}))
            .await
    }

    /// Logs in and returns (access token, refresh token).
    async fn tokens(&self, who: (&str, &str, &str)) -> (String, String) {
        let r = self.login(who).await;
        assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
        let v = r.json();
        (
            v["access_token"].as_str().unwrap().to_owned(),
            v["refresh_token"].as_str().unwrap().to_owned(),
        )
    }
}

fn claims(tenant: &str, exp_offset: i64) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: "someone".into(),
        tid: tenant.into(),
        role: "analyst".into(),
        iat: now - 10,
        exp: now + exp_offset,
        iss: avesa_api::DEFAULT_ISSUER.into(),
        aud: avesa_api::DEFAULT_AUDIENCE.into(),
        sid: "a-session".into(),
    }
}

fn sign(claims: &Claims, alg: jsonwebtoken::Algorithm, key: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(alg),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(key),
    )
    .unwrap()
}

// ---------------------------------------------------------------------------------------
// Auth
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn login_returns_tokens_and_user_and_me_answers() {
    let t = setup().await;
    let r = t.login(ALICE).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header(header::CACHE_CONTROL), Some("no-store"));
    let v = r.json();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 900);
    assert!(v["access_token"].as_str().unwrap().split('.').count() == 3);
    assert!(v["refresh_token"].as_str().unwrap().len() >= 40);
    let user = &v["user"];
    assert_eq!(user["email"], "alice@acme.io");
    assert_eq!(user["name"], "Alice");
    assert_eq!(user["role"], "analyst");
    assert_eq!(user["tenant_id"], "acme");
    assert_eq!(user["tenant_name"], "Acme MSP");
    let body = String::from_utf8_lossy(&r.bytes);
    assert!(!body.contains("argon2") && !body.contains("password"), "{body}");

    // Email is case- and space-insensitive.
    let r = t.login(("acme", "  ALICE@acme.io ", ALICE.2)).await;
    assert_eq!(r.status, StatusCode::OK);

    let access = v["access_token"].as_str().unwrap();
    let me = t.get("/auth/me", Some(access)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json(), *user);
    assert!(!String::from_utf8_lossy(&me.bytes).contains("argon2"));
}

#[tokio::test]
async fn bad_credentials_are_indistinguishable() {
    let t = setup().await;
    let wrong_password = t.login(("acme", ALICE.1, "nope")).await;
    let unknown_user = t.login(("acme", "mallory@acme.io", "nope")).await;
    let unknown_tenant = t.login(("initech", ALICE.1, ALICE.2)).await;
    // A user of another tenant cannot log in through this one.
    let other_tenant = t.login(("globex", ALICE.1, ALICE.2)).await;
    let msg = wrong_password.error(StatusCode::UNAUTHORIZED, "unauthorized");
    for r in [&unknown_user, &unknown_tenant, &other_tenant] {
        assert_eq!(r.error(StatusCode::UNAUTHORIZED, "unauthorized"), msg);
        assert_eq!(r.bytes, wrong_password.bytes);
    }
    assert!(wrong_password.header(header::WWW_AUTHENTICATE).unwrap().starts_with("Bearer"));
}

#[tokio::test]
async fn repeated_failures_are_rate_limited() {
    let t = setup().await;
    for _ in 0..5 {
        t.login(("acme", ALICE.1, "wrong")).await.error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    // Locked now, even with the right password.
    for who in [("acme", ALICE.1, "wrong"), ALICE] {
        let r = t.login(who).await;
        r.error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        let secs: u64 = r.header(header::RETRY_AFTER).expect("Retry-After").parse().unwrap();
        assert!((1..=300).contains(&secs), "{secs}");
    }
    // Only that (tenant, email) is locked.
    assert_eq!(t.login(BOB).await.status, StatusCode::OK);
    t.login(("acme", "carol@acme.io", "x")).await.error(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn success_resets_the_failure_count() {
    let t = setup().await;
    for _ in 0..4 {
        t.login(("acme", ALICE.1, "wrong")).await.error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    assert_eq!(t.login(ALICE).await.status, StatusCode::OK);
    for _ in 0..4 {
        t.login(("acme", ALICE.1, "wrong")).await.error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    assert_eq!(t.login(ALICE).await.status, StatusCode::OK);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let t = setup().await;
    let (_, r1) = t.tokens(ALICE).await;

    let r = t.post("/auth/refresh", json!({"refresh_token": r1})).await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    let r2 = v["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r2, r1);
    assert_eq!(v["user"]["tenant_id"], "acme");
    let access2 = v["access_token"].as_str().unwrap();
    assert_eq!(t.get("/auth/me", Some(access2)).await.status, StatusCode::OK);

    // r2 works once → r3.
    let r = t.post("/auth/refresh", json!({"refresh_token": r2})).await;
    assert_eq!(r.status, StatusCode::OK);
    let r3 = r.json()["refresh_token"].as_str().unwrap().to_owned();

    // Replaying r1 (already used) is theft: 401 and the whole family dies.
    t.post("/auth/refresh", json!({"refresh_token": r1}))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
    t.post("/auth/refresh", json!({"refresh_token": r3}))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");

    // Another login (another family) is unaffected.
    let (_, other) = t.tokens(ALICE).await;
    assert_eq!(
        t.post("/auth/refresh", json!({"refresh_token": other})).await.status,
        StatusCode::OK
    );

    // Unknown and empty tokens.
    t.post("/auth/refresh", json!({"refresh_token": "nope"}))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
    t.post("/auth/refresh", json!({"refresh_token": ""}))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn expired_refresh_tokens_are_refused() {
    let t = setup().await;
    let (access, _) = t.tokens(ALICE).await;
    let me = t.get("/auth/me", Some(&access)).await.json();
    let token = "expired-refresh-token-expired-refresh-token";
    t.store
        .insert_refresh_token(NewRefreshToken {
            token_hash: avesa_api::auth::hash_refresh_token(token),
            family_id: "fam-expired".into(),
            user_id: me["id"].as_str().unwrap().to_owned(),
            tenant_id: TenantId::new("acme").unwrap(),
            expires_at: chrono::Utc::now() - chrono::Duration::minutes(1),
        })
        .await
        .unwrap();
    t.post("/auth/refresh", json!({"refresh_token": token}))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn logout_revokes_the_family() {
    let t = setup().await;
    let (_, r1) = t.tokens(ALICE).await;
    let r = t.post("/auth/refresh", json!({"refresh_token": r1})).await;
    let r2 = r.json()["refresh_token"].as_str().unwrap().to_owned();

    // No access token needed.
    let r = t.post("/auth/logout", json!({"refresh_token": r2})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.bytes.is_empty());
    t.post("/auth/refresh", json!({"refresh_token": r2}))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
    // Logging out again, or with an unknown token, is harmless.
    assert_eq!(
        t.post("/auth/logout", json!({"refresh_token": r2})).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        t.post("/auth/logout", json!({"refresh_token": "unknown"})).await.status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn protected_routes_need_a_valid_token() {
    let t = setup().await;
    let (good, _) = t.tokens(ALICE).await;
    assert_eq!(t.get("/api/companies", Some(&good)).await.status, StatusCode::OK);

    let expired = sign(&claims("acme", -3600), jsonwebtoken::Algorithm::HS256, SECRET);
    let wrong_key = sign(
        &claims("acme", 600),
        jsonwebtoken::Algorithm::HS256,
        b"another-key-another-key-another-key",
    );
    let other_alg = sign(&claims("acme", 600), jsonwebtoken::Algorithm::HS512, SECRET);
    let mut c = claims("acme", 600);
    c.aud = "someone-else".into();
    let wrong_aud = sign(&c, jsonwebtoken::Algorithm::HS256, SECRET);
    let mut c = claims("acme", 600);
    c.iss = "someone-else".into();
    let wrong_iss = sign(&c, jsonwebtoken::Algorithm::HS256, SECRET);
    let mut c = claims("acme", 600);
    c.tid = "NOT A TENANT".into();
    let bad_tenant = sign(&c, jsonwebtoken::Algorithm::HS256, SECRET);
    let mut c = claims("acme", 600);
    c.role = "god".into();
    let bad_role = sign(&c, jsonwebtoken::Algorithm::HS256, SECRET);
    let mut c = claims("acme", 600);
    c.iat = chrono::Utc::now().timestamp() + 3600;
    let future_iat = sign(&c, jsonwebtoken::Algorithm::HS256, SECRET);
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims("acme", 600)).unwrap())
    );
    // A valid signature moved onto a tampered payload.
    let parts: Vec<&str> = good.split('.').collect();
    let mut forged_claims = claims("globex", 600);
    forged_claims.sub = "x".into();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged_claims).unwrap()),
        parts[2]
    );

    for (name, token) in [
        ("expired", expired.as_str()),
        ("wrong key", &wrong_key),
        ("HS512", &other_alg),
        ("wrong aud", &wrong_aud),
        ("wrong iss", &wrong_iss),
        ("bad tenant", &bad_tenant),
        ("bad role", &bad_role),
        ("future iat", &future_iat),
        ("alg none", &alg_none),
        ("tampered", &tampered),
        ("garbage", "not.a.jwt"),
    ] {
        for uri in ["/api/companies", "/auth/me", "/api/analytics/dashboard"] {
            let r = t.get(uri, Some(token)).await;
            r.error(StatusCode::UNAUTHORIZED, "unauthorized");
            assert!(
                r.header(header::WWW_AUTHENTICATE).is_some_and(|h| h.starts_with("Bearer")),
                "{name} {uri}"
            );
        }
    }
    let msg = t
        .get("/api/companies", Some(&expired))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(msg.contains("expired"), "{msg}");

    // No header, or another scheme.
    let r = t.get("/api/tickets", None).await;
    r.error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(r.header(header::WWW_AUTHENTICATE).is_some());
    let req = Request::builder()
        .uri("/api/tickets")
        .header(header::AUTHORIZATION, format!("Basic {good}"))
        .body(Body::empty())
        .unwrap();
    t.send(req).await.error(StatusCode::UNAUTHORIZED, "unauthorized");
}

/// Access tokens die with their session: after logout, after refresh-token reuse is
/// detected, when the user is disabled or no longer exists — though their signature and
/// expiry still verify.
#[tokio::test]
async fn access_tokens_end_with_their_session_and_their_user() {
    let t = setup().await;
    let ok =
        |r: &Resp| assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.bytes));
    // Logout ends the session's access tokens at once; another session goes on.
    let (a1, r1) = t.tokens(ALICE).await;
    let (a2, _) = t.tokens(ALICE).await;
    ok(&t.get("/api/companies", Some(&a1)).await);
    assert_eq!(
        t.post("/auth/logout", json!({"refresh_token": r1})).await.status,
        StatusCode::NO_CONTENT
    );
    for uri in ["/api/companies", "/auth/me", "/api/analytics/dashboard"] {
        let msg = t.get(uri, Some(&a1)).await.error(StatusCode::UNAUTHORIZED, "unauthorized");
        assert!(msg.contains("session has ended"), "{uri}: {msg}");
    }
    ok(&t.get("/api/companies", Some(&a2)).await);

    // A refresh token used twice (stolen and replayed) ends the session and its tokens.
    let (_, r3) = t.tokens(ALICE).await;
    let rotated = t.post("/auth/refresh", json!({"refresh_token": r3})).await;
    ok(&rotated);
    let a4 = rotated.json()["access_token"].as_str().unwrap().to_owned();
    ok(&t.get("/api/companies", Some(&a4)).await);
    t.post("/auth/refresh", json!({"refresh_token": r3}))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
    t.get("/api/companies", Some(&a4)).await.error(StatusCode::UNAUTHORIZED, "unauthorized");

    // A token of a user who does not exist (deleted), well signed and unexpired.
    let (bob, _) = t.tokens(BOB).await;
    let mut c = claims("globex", 600);
    c.sid = "made-up".into();
    let ghost = sign(&c, jsonwebtoken::Algorithm::HS256, SECRET);
    t.get("/api/companies", Some(&ghost)).await.error(StatusCode::UNAUTHORIZED, "unauthorized");

    // A disabled user: refused within the session recheck, and at login and refresh.
    ok(&t.get("/api/companies", Some(&bob)).await);
    let globex = TenantId::new("globex").unwrap();
    let bob_user = t.store.find_user_by_email(&globex, BOB.1).await.unwrap().unwrap();
    t.store
        .update_user(
            &globex,
            &bob_user.id,
            avesa_state::UserUpdate { disabled: Some(true), ..Default::default() },
        )
        .await
        .unwrap();
    tokio::time::sleep(avesa_api::auth::SESSION_RECHECK + std::time::Duration::from_millis(300))
        .await;
    t.get("/api/companies", Some(&bob)).await.error(StatusCode::UNAUTHORIZED, "unauthorized");
    let msg = t.login(BOB).await.error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(msg.contains("disabled"), "{msg}");
}

/// The UI's refresh token travels only in an HttpOnly, Secure, SameSite=Strict cookie:
/// refresh and logout read it from there, and logout clears it.
#[tokio::test]
async fn the_refresh_token_cookie() {
    let t = setup().await;
    let r = t.login(ALICE).await;
    let cookie = r.header(header::SET_COOKIE).unwrap().to_owned();
    for part in ["avesa_refresh=", "HttpOnly", "Secure", "SameSite=Strict", "Path=/auth"] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    let value = cookie.split(';').next().unwrap().to_owned();
    let with_cookie = |uri: &str, cookie: &str| {
        Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, cookie)
            .body(Body::from("{}"))
            .unwrap()
    };
    let refreshed = t.send(with_cookie("/auth/refresh", &value)).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", String::from_utf8_lossy(&refreshed.bytes));
    let next = refreshed.header(header::SET_COOKIE).unwrap().split(';').next().unwrap().to_owned();
    assert_ne!(next, value, "rotated");
    // The old cookie again is reuse.
    t.send(with_cookie("/auth/refresh", &value))
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
    // No cookie and no body token: a clear 401.
    let msg =
        t.post("/auth/refresh", json!({})).await.error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(msg.contains("sign in"), "{msg}");
    let out = t.send(with_cookie("/auth/logout", &value)).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(out.header(header::SET_COOKIE).unwrap().contains("Max-Age=0"));
}

// ---------------------------------------------------------------------------------------
// Tenant isolation
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn tenants_only_see_their_own_records() {
    let t = setup().await;
    let (alice, _) = t.tokens(ALICE).await;
    let (bob, _) = t.tokens(BOB).await;

    // Alice sees her company.
    let r = t.get("/api/companies/connectwise:1", Some(&alice)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["name"], "Acme Corp");

    // Bob asking for Alice's company gets exactly what a missing id gets.
    let foreign = t.get("/api/companies/connectwise:1", Some(&bob)).await;
    let missing = t.get("/api/companies/connectwise:999999", Some(&bob)).await;
    foreign.error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(foreign.bytes, missing.bytes);
    assert_eq!(foreign.status, missing.status);
    assert_eq!(foreign.header(header::CONTENT_TYPE), missing.header(header::CONTENT_TYPE));
    let foreign = t.get("/api/companies/connectwise:1/history", Some(&bob)).await;
    let missing = t.get("/api/companies/connectwise:999999/history", Some(&bob)).await;
    foreign.error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(foreign.bytes, missing.bytes);

    // Lists hold only the caller's rows, even when searching for the other tenant's names.
    let page = t.get("/api/companies", Some(&bob)).await.json();
    assert_eq!(page["total"], 3);
    let ids: Vec<&str> =
        page["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["connectwise:100", "connectwise:101", "connectwise:102"]);
    let page = t.get("/api/companies?q=acme", Some(&bob)).await.json();
    assert_eq!(page["total"], 0, "{page}");
    assert_eq!(page["items"], json!([]));
    let page = t.get("/api/tickets", Some(&bob)).await.json();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);

    // Tenant-looking parameters in the URL are not honoured (unknown parameter).
    t.get("/api/companies?tenant_id=acme", Some(&bob))
        .await
        .error(StatusCode::BAD_REQUEST, "bad_request");

    // Every warehouse call was made with the token's tenant.
    t.warehouse.seen.lock().unwrap().clear();
    t.get("/api/companies", Some(&bob)).await;
    t.get("/api/analytics/dashboard", Some(&bob)).await;
    t.get("/api/contacts/connectwise:1", Some(&bob)).await;
    let seen = t.warehouse.seen.lock().unwrap().clone();
    assert!(!seen.is_empty() && seen.iter().all(|s| s == "globex"), "{seen:?}");
}

// ---------------------------------------------------------------------------------------
// Entities and analytics
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn lists_details_and_history() {
    let t = setup().await;
    let (alice, _) = t.tokens(ALICE).await;

    let page = t.get("/api/companies?page=1&page_size=1&sort=name&order=desc", Some(&alice)).await;
    assert_eq!(page.status, StatusCode::OK);
    let v = page.json();
    assert_eq!(v["page"], 1);
    assert_eq!(v["page_size"], 1);
    assert_eq!(v["total"], 2);
    assert_eq!(v["items"][0]["name"], "Acme Two");
    let v =
        t.get("/api/companies?page=2&page_size=1&sort=name&order=desc", Some(&alice)).await.json();
    assert_eq!(v["items"][0]["name"], "Acme Corp");
    let v = t.get("/api/companies?as_of=2024-05-01T00:00:00Z&q=", Some(&alice)).await.json();
    assert_eq!(v["page_size"], 50);
    assert_eq!(t.get("/api/time-entries", Some(&alice)).await.json()["total"], 0);
    assert_eq!(t.get("/api/contacts", Some(&alice)).await.json()["total"], 0);

    let r =
        t.get("/api/tickets/connectwise:10?as_of=2024-05-01T00:00:00%2B02:00", Some(&alice)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["summary"], "Printer");

    let h = t.get("/api/companies/connectwise:1/history", Some(&alice)).await;
    assert_eq!(h.status, StatusCode::OK);
    let items = h.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["name"], "Acme Old Name");

    t.get("/api/time-entries/connectwise:1", Some(&alice))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn analytics_are_per_tenant() {
    let t = setup().await;
    let (alice, _) = t.tokens(ALICE).await;
    let d = t.get("/api/analytics/dashboard", Some(&alice)).await;
    assert_eq!(d.status, StatusCode::OK);
    let d = d.json();
    assert_eq!(d["companies"], 2);
    assert_eq!(d["tickets"], 2);
    assert_eq!(d["closed_tickets"], 1);
    assert_eq!(d["last_synced_at"], Value::Null);
    let f = t.get("/api/freshness", Some(&alice)).await;
    assert_eq!(f.status, StatusCode::OK);
    assert_eq!(f.json(), json!({"last_synced_at": null}));
    for k in ["contacts", "open_tickets", "time_entries", "total_hours", "billable_hours"] {
        assert!(d.get(k).is_some(), "{k}");
    }

    let s = t.get("/api/analytics/tickets/status", Some(&alice)).await.json();
    assert_eq!(
        s,
        json!({"items": [{"status": "Closed", "count": 1}, {"status": "New", "count": 1}]})
    );

    let top = t.get("/api/analytics/companies/top?limit=1", Some(&alice)).await.json();
    assert_eq!(top["items"].as_array().unwrap().len(), 1);
    assert_eq!(top["items"][0]["id"], "connectwise:1");
    let top = t.get("/api/analytics/companies/top", Some(&alice)).await.json();
    assert_eq!(top["items"].as_array().unwrap().len(), 2);
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_query_params_are_400_naming_the_param() {
    let t = setup().await;
    let (alice, _) = t.tokens(ALICE).await;
    for (uri, param) in [
        ("/api/companies?page=0", "page"),
        ("/api/companies?page=abc", "page"),
        ("/api/companies?page_size=0", "page_size"),
        ("/api/tickets?page_size=501", "page_size"),
        ("/api/contacts?order=sideways", "order"),
        ("/api/time-entries?as_of=yesterday", "as_of"),
        ("/api/companies/connectwise:1?as_of=2024-13-01T00:00:00Z", "as_of"),
        ("/api/companies?sort=name%3Bdrop", "sort"),
        ("/api/companies?sort=no_such_column", "no_such_column"),
        ("/api/companies?foo=1", "foo"),
        ("/api/companies?page=1&page=2", "page"),
        ("/api/analytics/companies/top?limit=0", "limit"),
        ("/api/analytics/companies/top?limit=101", "limit"),
        ("/api/analytics/companies/top?limit=ten", "limit"),
        ("/api/companies/not-an-id", "id"),
        ("/api/companies/Bad Service:1/history", "id"),
    ] {
        let uri = uri.replace(' ', "%20");
        let msg = t.get(&uri, Some(&alice)).await.error(StatusCode::BAD_REQUEST, "bad_request");
        assert!(msg.contains(param), "{uri}: {msg}");
    }
    // Bad params without a token: authentication is checked first.
    t.get("/api/companies?page=0", None).await.error(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn malformed_bodies_are_400() {
    let t = setup().await;
    let raw = |body: &'static str, content_type: Option<&'static str>| {
        let mut b = Request::builder().method(Method::POST).uri("/auth/login");
        if let Some(ct) = content_type {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        b.body(Body::from(body)).unwrap()
    };
    let cases = [
        raw("{not json", Some("application/json")),
        raw("", Some("application/json")),
        raw(r#"{"tenant_id":"acme","email":"a@b.c","password":"x"}"#, None),
        raw(r#"{"tenant_id":"acme","email":"a@b.c","password":"x"}"#, Some("text/plain")),
        raw(r#"{"tenant_id":"acme","email":"a@b.c"}"#, Some("application/json")),
        raw(r#"{"tenant_id":"acme","email":"a@b.c","password":7}"#, Some("application/json")),
        raw(
            r#"{"tenant_id":"acme","email":"a@b.c","password":"x","admin":true}"#,
            Some("application/json"),
        ),
        raw(
            r#"{"tenant_id":"Not A Slug","email":"a@b.c","password":"x"}"#,
            Some("application/json"),
        ),
        raw(r#"{"tenant_id":"acme","email":"","password":"x"}"#, Some("application/json")),
        raw("[]", Some("application/json")),
    ];
    for req in cases {
        t.send(req).await.error(StatusCode::BAD_REQUEST, "bad_request");
    }
    let r = t
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/auth/refresh")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{\"refresh_token\": }"))
                .unwrap(),
        )
        .await;
    r.error(StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn oversized_bodies_are_rejected_in_the_error_shape() {
    let t = setup_with(HttpConfig { body_limit_bytes: 1024, ..HttpConfig::default() }).await;
    let big = json!({"tenant_id": "acme", "email": "a@b.c", "password": "x".repeat(4096)});
    t.post("/auth/login", big).await.error(StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn unknown_routes_and_methods_keep_the_error_shape() {
    let t = setup().await;
    let (alice, _) = t.tokens(ALICE).await;
    for uri in
        ["/api/nope", "/api", "/api/companies/connectwise:1/nope", "/auth/nope", "/health/nope"]
    {
        t.get(uri, Some(&alice)).await.error(StatusCode::NOT_FOUND, "not_found");
        t.get(uri, None).await.error(StatusCode::NOT_FOUND, "not_found");
    }
    let r = t.get("/auth/login", None).await;
    let msg = r.error(StatusCode::BAD_REQUEST, "bad_request");
    assert!(msg.contains("not allowed"), "{msg}");
    assert!(r.header(header::ALLOW).is_some_and(|a| a.contains("POST")));
    t.post("/health", json!({})).await.error(StatusCode::BAD_REQUEST, "bad_request");
    t.post("/companies", json!({})).await.error(StatusCode::NOT_FOUND, "not_found");
}

// ---------------------------------------------------------------------------------------
// Health, UI, CORS
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn health_endpoints() {
    let t = setup().await;
    let r = t.get("/health", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!({"status": "ok"}));
    let r = t.get("/health/detailed", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json(),
        json!({"status": "ok", "checks": {"state": {"status": "ok"}, "warehouse": {"status": "ok"}}})
    );
}

#[tokio::test]
async fn spa_fallback_serves_index_html() {
    let t = setup().await;
    let index =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/dist/index.html")).ok();
    for uri in ["/", "/companies/xyz", "/login", "/tickets/connectwise:1"] {
        let r = t.get(uri, None).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert!(r.header(header::CONTENT_TYPE).unwrap().starts_with("text/html"), "{uri}");
        assert_eq!(r.header(header::CACHE_CONTROL), Some("no-cache"));
        let body = String::from_utf8_lossy(&r.bytes).to_lowercase();
        assert!(body.contains("<html") || body.contains("<!doctype html"), "{uri}: {body}");
        if let Some(index) = &index {
            // The UI may be rebuilt concurrently; compare only when it is stable.
            let now =
                std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/dist/index.html"))
                    .ok();
            if now.as_ref() == Some(index) {
                assert_eq!(&r.bytes, index, "{uri}");
            }
        }
    }
    // A missing hashed asset is a 404, not HTML.
    t.get("/assets/missing-0000.js", None).await.error(StatusCode::NOT_FOUND, "not_found");
    // Traversal attempts never reach the file system.
    t.get("/../Cargo.toml", None).await;
    let r = t.get("/assets/..%2F..%2FCargo.toml", None).await;
    assert_ne!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn cors_is_closed_by_default_and_opens_for_configured_origins() {
    let preflight = |origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/api/companies")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
            .body(Body::empty())
            .unwrap()
    };
    let t = setup().await;
    let r = t.send(preflight("https://evil.example")).await;
    assert!(r.header(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    let r = t.get("/health", None).await;
    assert!(r.header(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());

    let t = setup_with(HttpConfig {
        cors_allowed_origins: vec!["https://ui.example".into()],
        ..HttpConfig::default()
    })
    .await;
    let r = t.send(preflight("https://ui.example")).await;
    assert_eq!(r.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), Some("https://ui.example"));
    let r = t.send(preflight("https://evil.example")).await;
    assert!(r.header(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}
