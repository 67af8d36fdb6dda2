//! The role × route matrix of docs/api.md, enforced: every route, every role. A role the
//! matrix allows is never refused for its role (401/403); any other gets 403. Then the
//! operations routes doing their work: users, services, freshness, tenants.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

use avesa_api::{AppState, AuthConfig, hash_password};
use avesa_model::{Role, TenantId};
use avesa_state::{NewUser, SqliteStore, StateStore};

const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";
const PASSWORD: &str = "a-long-enough-password";
const ROLES: [Role; 4] = [Role::Viewer, Role::Analyst, Role::TenantAdmin, Role::PlatformAdmin];

/// Seals credentials as `field=value;…` (no vendor behind it): enough to see the routes
/// store, test and refuse them.
struct FakeServices;

#[async_trait]
impl avesa_api::ops::ServiceAdmin for FakeServices {
    fn known(&self) -> BTreeMap<String, Vec<(String, bool)>> {
        BTreeMap::from([("connectwise".into(), vec![("private_key".into(), false)])])
    }
    async fn seal(
        &self,
        _: &TenantId,
        service: &str,
        fields: BTreeMap<String, String>,
        _test: bool,
    ) -> Result<Vec<u8>, String> {
        if service != "connectwise" {
            return Err(format!("unknown service {service:?}"));
        }
        match fields.get("private_key") {
            Some(k) if k == "good" => Ok(b"sealed:good".to_vec()),
            Some(_) => Err("testing the credentials failed: 401".into()),
            None => Err("credentials.private_key: required".into()),
        }
    }
    async fn test(&self, _: &TenantId, _: &str, sealed: &[u8]) -> Result<(), String> {
        if sealed == b"sealed:good" { Ok(()) } else { Err("refused".into()) }
    }
    fn check_schedule(&self, cron: &str) -> Result<(), String> {
        if cron.split_whitespace().count() == 5 { Ok(()) } else { Err("five fields".into()) }
    }
}

struct T {
    app: Router,
    store: Arc<SqliteStore>,
    _dir: tempfile::TempDir,
}

async fn setup() -> T {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("state.db")).await.unwrap());
    let hash = hash_password(PASSWORD);
    for t in ["acme", "globex"] {
        store.create_tenant(&TenantId::new(t).unwrap(), t).await.unwrap();
        for role in ROLES {
            store
                .create_user(NewUser {
                    tenant_id: TenantId::new(t).unwrap(),
                    email: format!("{role}@{t}.io"),
                    name: format!("{role}"),
                    role,
                    password_hash: hash.clone(),
                })
                .await
                .unwrap();
        }
        store
            .upsert_service(&TenantId::new(t).unwrap(), "connectwise", b"sealed:good")
            .await
            .unwrap();
    }
    let trigger: avesa_api::Trigger = Arc::new(|_req: avesa_api::TriggerRequest| {
        Box::pin(async { Ok(avesa_model::RunId::new().to_string()) })
    });
    let state = AppState::new(
        store.clone(),
        Arc::new(avesa_warehouse::MemoryWarehouse::new()),
        AuthConfig::new(SECRET.to_vec()),
    )
    .with_trigger(trigger)
    .with_service_admin(Arc::new(FakeServices));
    T { app: avesa_api::router(state), store, _dir: dir }
}

async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = match body {
        Some(v) => {
            b.header(header::CONTENT_TYPE, "application/json").body(Body::from(v.to_string()))
        }
        None => b.body(Body::empty()),
    }
    .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn token(app: &Router, tenant: &str, role: Role) -> String {
    let body =
        json!({"tenant_id": tenant, "email": format!("{role}@{tenant}.io"), "password": PASSWORD});
    let (s, v) = call(app, Method::POST, "/auth/login", None, Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["access_token"].as_str().unwrap().to_owned()
}

/// Who may call what: (method, route, body, the roles allowed). docs/api.md shows the same
/// table.
fn matrix(user_id: &str) -> Vec<(Method, String, Option<Value>, &'static [Role])> {
    const ALL: &[Role] = &ROLES;
    const ADMINS: &[Role] = &[Role::TenantAdmin, Role::PlatformAdmin];
    const PLATFORM: &[Role] = &[Role::PlatformAdmin];
    // Who sends the tenant's client reports.
    const SENDERS: &[Role] = &[Role::Analyst, Role::TenantAdmin];
    let get = |p: &str, who: &'static [Role]| (Method::GET, p.to_owned(), None, who);
    vec![
        get("/auth/me", ALL),
        get("/api/freshness", ALL),
        get("/api/analytics/dashboard", ALL),
        get("/api/analytics/tickets/status", ALL),
        get("/api/analytics/companies/top", ALL),
        get("/api/analytics/metrics", ALL),
        get("/api/analytics/metrics/open_backlog", ALL),
        get("/api/analytics/metrics/tickets_opened/series", ALL),
        get("/api/analytics/kpis", ALL),
        get("/api/analytics/companies/connectwise:1/report", ALL),
        get("/api/analytics/members/connectwise:1/report", ALL),
        get("/api/analytics/companies/connectwise:1/report.pdf", ALL),
        (
            Method::POST,
            "/api/analytics/companies/connectwise:1/report/email".into(),
            Some(json!({"to": ["ana@client.example"]})),
            SENDERS,
        ),
        get("/api/settings/branding", ALL),
        (Method::PUT, "/api/admin/branding".into(), Some(json!({"name": "Acme MSP"})), ADMINS),
        get("/api/report-schedules", ALL),
        (
            Method::POST,
            "/api/report-schedules".into(),
            Some(json!({"company": "connectwise:1", "cadence": "monthly", "day": 1, "hour": 8,
                        "period": "last_month", "contacts": true})),
            SENDERS,
        ),
        (Method::DELETE, "/api/report-schedules/0190b3c4".into(), None, SENDERS),
        get("/api/companies", ALL),
        get("/api/contacts", ALL),
        get("/api/tickets", ALL),
        get("/api/time-entries", ALL),
        get("/api/members", ALL),
        get("/api/companies/connectwise:1", ALL),
        get("/api/contacts/connectwise:1", ALL),
        get("/api/tickets/connectwise:1", ALL),
        get("/api/time-entries/connectwise:1", ALL),
        get("/api/members/connectwise:1", ALL),
        get("/api/companies/connectwise:1/history", ALL),
        get("/api/contacts/connectwise:1/history", ALL),
        get("/api/tickets/connectwise:1/history", ALL),
        get("/api/time-entries/connectwise:1/history", ALL),
        get("/api/members/connectwise:1/history", ALL),
        get("/api/companies/export.csv", ALL),
        get("/api/contacts/export.csv", ALL),
        get("/api/tickets/export.csv", ALL),
        get("/api/time-entries/export.csv", ALL),
        get("/api/members/export.csv", ALL),
        (
            Method::POST,
            "/api/exports/links".into(),
            Some(json!({"path": "/api/tickets/export.csv"})),
            ALL,
        ),
        get("/api/admin/runs", ADMINS),
        (Method::POST, "/api/admin/runs".into(), Some(json!({})), ADMINS),
        get("/api/admin/runs/0190b3c4-7a41-7000-8000-000000000000", ADMINS),
        (
            Method::POST,
            "/api/admin/runs/0190b3c4-7a41-7000-8000-000000000000/cancel".into(),
            None,
            ADMINS,
        ),
        get("/api/admin/services", ADMINS),
        (
            Method::PUT,
            "/api/admin/services/connectwise".into(),
            Some(json!({"credentials": {"private_key": "good"}})),
            ADMINS,
        ),
        (
            Method::PATCH,
            "/api/admin/services/connectwise".into(),
            Some(json!({"enabled": true})),
            ADMINS,
        ),
        (Method::POST, "/api/admin/services/connectwise/test".into(), None, ADMINS),
        get("/api/admin/users", ADMINS),
        (
            Method::POST,
            "/api/admin/users".into(),
            Some(json!({"email": "new@x.io", "role": "viewer", "password": PASSWORD})),
            ADMINS,
        ),
        (Method::PATCH, format!("/api/admin/users/{user_id}"), Some(json!({"name": "Vi"})), ADMINS),
        (
            Method::POST,
            format!("/api/admin/users/{user_id}/password"),
            Some(json!({"password": "another-long-password"})),
            ADMINS,
        ),
        get("/api/admin/freshness", ADMINS),
        get("/api/settings", ALL),
        (
            Method::PUT,
            "/api/admin/settings".into(),
            Some(json!({"time_zone": "Europe/Amsterdam"})),
            ADMINS,
        ),
        (
            Method::PUT,
            "/api/admin/capacity/connectwise:167".into(),
            Some(json!({"hours_per_day": 6})),
            ADMINS,
        ),
        (Method::DELETE, "/api/admin/capacity/connectwise:167".into(), None, ADMINS),
        get("/api/analytics/goals", ALL),
        (
            Method::PUT,
            "/api/admin/goals/sla_met_pct".into(),
            Some(json!({"target": 95, "warning_band": 5})),
            ADMINS,
        ),
        (Method::DELETE, "/api/admin/goals/sla_met_pct".into(), None, ADMINS),
        (
            Method::PUT,
            "/api/admin/metrics/closed_per_opened".into(),
            Some(json!({"label": "Closed per opened", "unit": "percent", "better": "higher",
                        "expression": "100 * tickets_closed / tickets_opened"})),
            ADMINS,
        ),
        (Method::DELETE, "/api/admin/metrics/closed_per_opened".into(), None, ADMINS),
        // Saved views are personal: every role keeps its own.
        get("/api/views", ALL),
        (
            Method::POST,
            "/api/views".into(),
            Some(json!({"page": "tickets", "name": "Open", "query": "status=New"})),
            ALL,
        ),
        (
            Method::PATCH,
            "/api/views/0190b3c4-7a41-7000-8000-000000000000".into(),
            Some(json!({"name": "Renamed"})),
            ALL,
        ),
        (Method::DELETE, "/api/views/0190b3c4-7a41-7000-8000-000000000000".into(), None, ALL),
        get("/api/admin/tenants", PLATFORM),
        (
            Method::POST,
            "/api/admin/tenants".into(),
            Some(json!({"id": "newco", "name": "New Co"})),
            PLATFORM,
        ),
        get("/metrics", PLATFORM),
    ]
}

#[tokio::test]
async fn every_route_admits_exactly_the_roles_of_the_matrix() {
    let t = setup().await;
    let acme = TenantId::new("acme").unwrap();
    let viewer = t.store.find_user_by_email(&acme, "viewer@acme.io").await.unwrap().unwrap();
    for role in ROLES {
        for (method, path, body, allowed) in matrix(&viewer.id) {
            // Each call signs in afresh: a password reset in the matrix ends sessions.
            let tok = token(&t.app, "acme", role).await;
            // A platform admin names the tenant of tenant-scoped admin routes.
            let uri = if role == Role::PlatformAdmin
                && path.starts_with("/api/admin/")
                && !path.starts_with("/api/admin/tenants")
            {
                format!("{path}?tenant=acme")
            } else {
                path.clone()
            };
            let (s, v) = call(&t.app, method.clone(), &uri, Some(&tok), body.clone()).await;
            if allowed.contains(&role) {
                assert!(
                    s != StatusCode::FORBIDDEN && s != StatusCode::UNAUTHORIZED,
                    "{role} {method} {uri}: refused ({s}) but the matrix allows it: {v}"
                );
                assert!(!s.is_server_error(), "{role} {method} {uri}: {s} {v}");
            } else {
                assert_eq!(s, StatusCode::FORBIDDEN, "{role} {method} {uri}: {v}");
                assert_eq!(v["error"]["code"], "forbidden");
            }
            // Without a token: 401, whatever the route (but health).
            let (s, _) = call(&t.app, method.clone(), &uri, None, body.clone()).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "anonymous {method} {uri}");
        }
    }
}

/// Whether `path` is an instance of the OpenAPI path `template` (`{x}`: any segment).
fn fits(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| t.starts_with('{') || t == p)
}

/// The OpenAPI document lists every route of the matrix as authenticated, and no
/// authenticated route the matrix lacks; the public ones are exactly sign-in, health and
/// the documentation.
#[tokio::test]
async fn the_openapi_document_lists_exactly_the_routes_of_the_matrix() {
    let t = setup().await;
    let (s, doc) = call(&t.app, Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let mut secured = Vec::new();
    let mut public = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let entry = (method.to_uppercase(), path.clone());
            match op.get("security") {
                Some(s) if s.as_array().is_some_and(|a| !a.is_empty()) => secured.push(entry),
                _ => public.push(entry),
            }
            for code in ["400", "503"] {
                let r = &op["responses"][code]["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(r, "#/components/schemas/ErrorBody", "{method} {path} {code}");
            }
        }
    }
    // Schemas are named by type: two types of one name would document one answer with the
    // other's shape (seen: `/api/freshness` documented as a table's freshness).
    let r = doc["paths"]["/api/freshness"]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let props = doc["components"]["schemas"][&r]["properties"].as_object().unwrap();
    assert!(props.contains_key("last_synced_at") && props.len() == 1, "{r}: {props:?}");
    let matrix = matrix("u1");
    for (method, path) in &secured {
        assert!(
            matrix.iter().any(|(m, p, _, _)| m.as_str() == method && fits(path, p)),
            "{method} {path} is documented but not in the role matrix"
        );
    }
    for (method, path, _, _) in &matrix {
        assert!(
            secured.iter().any(|(m, t)| m == method.as_str() && fits(t, path)),
            "{method} {path} is in the role matrix but not documented as authenticated"
        );
    }
    public.sort();
    let want: Vec<(String, String)> = [
        ("GET", "/api/docs"),
        ("GET", "/api/openapi.json"),
        ("GET", "/health"),
        ("GET", "/health/detailed"),
        ("POST", "/auth/login"),
        ("POST", "/auth/logout"),
        ("POST", "/auth/refresh"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(public, want);
    // Every documented route is routed: an anonymous call is never "no route".
    for (method, path) in secured.iter().chain(&public) {
        let uri = path.replace("{id}", "connectwise:1").replace("{service}", "connectwise");
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let body = (m != Method::GET).then(|| json!({}));
        let (s, v) = call(&t.app, m, &uri, None, body).await;
        let no_route = s == StatusCode::NOT_FOUND
            && v["error"]["message"].as_str().is_some_and(|m| m.starts_with("no route"));
        assert!(!no_route && s != StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}: {s} {v}");
    }
}

#[tokio::test]
async fn admins_ask_their_tenants_running_runs_to_stop() {
    let t = setup().await;
    let acme = TenantId::new("acme").unwrap();
    let run = |tenant: Option<&TenantId>| avesa_state::RunRecord {
        id: avesa_model::RunId::new(),
        tenant_id: tenant.cloned(),
        kind: avesa_model::RunKind::Incremental,
        status: avesa_state::RunStatus::Running,
        started_at: chrono::Utc::now(),
        finished_at: None,
        error: None,
        tables_planned: None,
        cancel_requested: false,
    };
    let running = run(Some(&acme));
    let everyone = run(None);
    for r in [&running, &everyone] {
        t.store.create_run(r).await.unwrap();
    }
    // The all-tenant run touched acme: a chunk of it is acme's.
    let chunk = avesa_state::ChunkRecord::running(
        avesa_model::ChunkId::new(),
        everyone.id,
        avesa_state::TableKey {
            tenant_id: acme.clone(),
            service: "connectwise".into(),
            table: "service/tickets".into(),
        },
        None,
    );
    t.store.begin_chunk(&chunk).await.unwrap();

    let admin = token(&t.app, "acme", Role::TenantAdmin).await;
    let cancel = |id: avesa_model::RunId| format!("/api/admin/runs/{id}/cancel");
    // Another tenant's admin: as if it did not exist.
    let other = token(&t.app, "globex", Role::TenantAdmin).await;
    let (s, v) = call(&t.app, Method::POST, &cancel(running.id), Some(&other), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert!(!t.store.cancel_requested(running.id).await.unwrap());

    let (s, v) = call(&t.app, Method::POST, &cancel(running.id), Some(&admin), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v, json!({"run_id": running.id.to_string(), "cancel_requested": true}));
    assert!(t.store.cancel_requested(running.id).await.unwrap());
    let (s, v) =
        call(&t.app, Method::GET, &format!("/api/admin/runs/{}", running.id), Some(&admin), None)
            .await;
    assert_eq!((s, &v["run"]["cancel_requested"]), (StatusCode::OK, &json!(true)), "{v}");
    // Asking twice is fine.
    let (s, _) = call(&t.app, Method::POST, &cancel(running.id), Some(&admin), None).await;
    assert_eq!(s, StatusCode::ACCEPTED);

    // The scheduler's run over every tenant: only a platform admin stops it.
    let (s, v) = call(&t.app, Method::POST, &cancel(everyone.id), Some(&admin), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(!t.store.cancel_requested(everyone.id).await.unwrap());
    let root = token(&t.app, "acme", Role::PlatformAdmin).await;
    let uri = format!("{}?tenant=acme", cancel(everyone.id));
    let (s, v) = call(&t.app, Method::POST, &uri, Some(&root), None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert!(t.store.cancel_requested(everyone.id).await.unwrap());

    // A finished run: 409, naming how it ended; an unknown one: 404; a bad id: 400.
    t.store.finish_run(running.id, avesa_state::RunStatus::Cancelled, None).await.unwrap();
    let (s, v) = call(&t.app, Method::POST, &cancel(running.id), Some(&admin), None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("cancelled"), "{v}");
    let (s, _) =
        call(&t.app, Method::POST, &cancel(avesa_model::RunId::new()), Some(&admin), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) =
        call(&t.app, Method::POST, "/api/admin/runs/nope/cancel", Some(&admin), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test]
async fn tenant_admins_manage_their_own_tenant_only() {
    let t = setup().await;
    let admin = token(&t.app, "acme", Role::TenantAdmin).await;
    // Naming another tenant is as if it did not exist.
    let (s, _) =
        call(&t.app, Method::GET, "/api/admin/users?tenant=globex", Some(&admin), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = call(&t.app, Method::GET, "/api/admin/users", Some(&admin), None).await;
    assert_eq!(s, StatusCode::OK);
    let emails: Vec<&str> =
        v["items"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
    assert!(emails.iter().all(|e| e.ends_with("@acme.io")), "{emails:?}");
    assert!(v["items"][0].get("password_hash").is_none());
    // A platform admin must name the tenant.
    let platform = token(&t.app, "acme", Role::PlatformAdmin).await;
    let (s, v) = call(&t.app, Method::GET, "/api/admin/users", Some(&platform), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["details"]["param"], "tenant");
    let (s, v) =
        call(&t.app, Method::GET, "/api/admin/users?tenant=globex", Some(&platform), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["items"].as_array().unwrap().iter().all(|u| u["tenant_id"] == "globex"));

    // Creating users: checked fields, no platform admins from a tenant admin, no duplicates.
    for (body, field) in [
        (json!({"email": "x", "role": "viewer", "password": PASSWORD}), "email"),
        (json!({"email": "a@acme.io", "role": "boss", "password": PASSWORD}), "role"),
        (json!({"email": "a@acme.io", "role": "viewer", "password": "short"}), "password"),
    ] {
        let (s, v) = call(&t.app, Method::POST, "/api/admin/users", Some(&admin), Some(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["error"]["details"]["field"], field, "{v}");
    }
    // A body missing a field, or with one of the wrong type, names it.
    for (body, field) in [
        (json!({"email": "a@acme.io", "role": "viewer"}), "password"),
        (json!({"email": "a@acme.io", "role": "viewer", "password": 12}), "password"),
    ] {
        let (s, v) = call(&t.app, Method::POST, "/api/admin/users", Some(&admin), Some(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(v["error"]["details"]["field"], field, "{v}");
    }
    let body = json!({"email": "boss@acme.io", "role": "platform_admin", "password": PASSWORD});
    let (s, _) = call(&t.app, Method::POST, "/api/admin/users", Some(&admin), Some(body)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let body =
        json!({"email": "Dan@Acme.io", "name": "Dan", "role": "analyst", "password": PASSWORD});
    let (s, dan) =
        call(&t.app, Method::POST, "/api/admin/users", Some(&admin), Some(body.clone())).await;
    assert_eq!(s, StatusCode::CREATED, "{dan}");
    assert_eq!(dan["email"], "dan@acme.io");
    let (s, _) = call(&t.app, Method::POST, "/api/admin/users", Some(&admin), Some(body)).await;
    assert_eq!(s, StatusCode::CONFLICT);

    // Dan signs in; disabling him ends his session at once; he cannot sign in.
    let (s, v) = call(
        &t.app,
        Method::POST,
        "/auth/login",
        None,
        Some(json!({"tenant_id": "acme", "email": "dan@acme.io", "password": PASSWORD})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let dan_token = v["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        call(&t.app, Method::GET, "/api/tickets", Some(&dan_token), None).await.0,
        StatusCode::OK
    );
    let uri = format!("/api/admin/users/{}", dan["id"].as_str().unwrap());
    let (s, v) =
        call(&t.app, Method::PATCH, &uri, Some(&admin), Some(json!({"disabled": true}))).await;
    assert_eq!((s, v["disabled"].clone()), (StatusCode::OK, json!(true)));
    assert_eq!(
        call(&t.app, Method::GET, "/api/tickets", Some(&dan_token), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    // An admin cannot disable themself (no tenant locks itself out by a slip).
    let me = call(&t.app, Method::GET, "/auth/me", Some(&admin), None).await.1;
    let uri = format!("/api/admin/users/{}", me["id"].as_str().unwrap());
    let (s, _) =
        call(&t.app, Method::PATCH, &uri, Some(&admin), Some(json!({"disabled": true}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn services_are_attached_switched_and_tested_without_showing_credentials() {
    let t = setup().await;
    let admin = token(&t.app, "acme", Role::TenantAdmin).await;
    let (s, v) = call(
        &t.app,
        Method::PUT,
        "/api/admin/services/connectwise",
        Some(&admin),
        Some(json!({"credentials": {"private_key": "wrong"}})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("testing the credentials failed"));
    let (s, v) = call(&t.app, Method::GET, "/api/admin/services", Some(&admin), None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!v.to_string().contains("sealed"), "credentials never leave: {v}");
    assert_eq!(v["items"][0]["enabled"], true);
    assert_eq!(v["available"][0]["service"], "connectwise");
    let (s, v) = call(
        &t.app,
        Method::PATCH,
        "/api/admin/services/connectwise",
        Some(&admin),
        Some(json!({"enabled": false, "schedule": "*/5 * * * *"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["enabled"].clone(), v["schedule"].clone()), (json!(false), json!("*/5 * * * *")));
    let (s, v) = call(
        &t.app,
        Method::PATCH,
        "/api/admin/services/connectwise",
        Some(&admin),
        Some(json!({"schedule": "every day"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["details"]["field"], "schedule");
    let (s, v) = call(
        &t.app,
        Method::PATCH,
        "/api/admin/services/connectwise",
        Some(&admin),
        Some(json!({"schedule": null})),
    )
    .await;
    assert_eq!((s, v["schedule"].clone()), (StatusCode::OK, Value::Null));
    let (s, v) =
        call(&t.app, Method::POST, "/api/admin/services/connectwise/test", Some(&admin), None)
            .await;
    assert_eq!((s, v["ok"].clone()), (StatusCode::OK, json!(true)));
    let (s, _) = call(
        &t.app,
        Method::PATCH,
        "/api/admin/services/salesforce",
        Some(&admin),
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = call(&t.app, Method::GET, "/api/admin/freshness", Some(&admin), None).await;
    assert_eq!((s, v["items"].clone()), (StatusCode::OK, json!([])));
}

#[tokio::test]
async fn platform_admins_create_tenants() {
    let t = setup().await;
    let platform = token(&t.app, "acme", Role::PlatformAdmin).await;
    let body = json!({"id": "initech", "name": "Initech"});
    let (s, v) =
        call(&t.app, Method::POST, "/api/admin/tenants", Some(&platform), Some(body.clone())).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, _) =
        call(&t.app, Method::POST, "/api/admin/tenants", Some(&platform), Some(body)).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, v) = call(
        &t.app,
        Method::POST,
        "/api/admin/tenants",
        Some(&platform),
        Some(json!({"id": "Bad Id", "name": "x"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["details"]["field"], "id");
    let (_, v) = call(&t.app, Method::GET, "/api/admin/tenants", Some(&platform), None).await;
    let ids: Vec<&str> =
        v["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["acme", "globex", "initech"]);
}
