//! Tenant isolation as a property: two tenants with look-alike data in the reference
//! warehouse; hundreds of random requests — every read route, random ids (the caller's,
//! the other tenant's, made-up ones), random searches, sorts, pages and instants — each
//! answered only from the caller's data. Another tenant's record answers byte for byte as
//! a record that does not exist; every analytics answer is the caller's own.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tower::ServiceExt;

use avesa_api::{AppState, AuthConfig, hash_password};
use avesa_model::{CanonicalTable, Role, TenantId};
use avesa_state::{NewUser, SqliteStore, StateStore};
use avesa_warehouse::conformance::{Row, batch};
use avesa_warehouse::{MemoryWarehouse, Warehouse};

const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";
const PASSWORD: &str = "a-long-enough-password";
const TENANTS: [(&str, &str); 2] = [("acme", "a"), ("globex", "g")];
const WORDS: [&str; 5] = ["printer", "email", "server", "vpn", "backup"];

/// Each tenant's rows: ids prefixed by the tenant's letter, the same words and shapes, two
/// versions of some records.
async fn load(wh: &MemoryWarehouse) {
    for (tenant, p) in TENANTS {
        let mut companies = Vec::new();
        let mut contacts = Vec::new();
        let mut tickets = Vec::new();
        let mut entries = Vec::new();
        let mut members = Vec::new();
        for i in 0..12 {
            let w = WORDS[i % WORDS.len()];
            companies.push(
                Row::new(tenant, &format!("{p}{i}"), 1_000 + i as i64)
                    .text("name", &format!("{w} co {i}")),
            );
            if i % 3 == 0 {
                companies.push(
                    Row::new(tenant, &format!("{p}{i}"), 5_000 + i as i64)
                        .text("name", &format!("{w} renamed {i}")),
                );
            }
            contacts.push(
                Row::new(tenant, &format!("{p}{i}"), 1_000 + i as i64)
                    .text("company_id", &format!("{p}{}", i % 4))
                    .text("first_name", w),
            );
            tickets.push(
                Row::new(tenant, &format!("{p}{i}"), 2_000 + i as i64)
                    .text("company_id", &format!("{p}{}", i % 4))
                    .text("summary", &format!("{w} down"))
                    .text("status", if i % 2 == 0 { "New" } else { "Closed" })
                    .flag("closed", i % 2 == 1),
            );
            entries.push(
                Row::new(tenant, &format!("{p}{i}"), 3_000 + i as i64)
                    .text("company_id", &format!("{p}{}", i % 4))
                    .text("notes", w)
                    .float("actual_hours", 0.25 * i as f64),
            );
            members.push(Row::new(tenant, &format!("{p}{i}"), 1_000).text("first_name", w));
        }
        for (table, rows) in [
            (CanonicalTable::Companies, companies),
            (CanonicalTable::Contacts, contacts),
            (CanonicalTable::Tickets, tickets),
            (CanonicalTable::TimeEntries, entries),
            (CanonicalTable::Members, members),
        ] {
            wh.apply(table, batch(table, &rows)).await.unwrap();
        }
    }
}

struct T {
    app: Router,
    wh: Arc<MemoryWarehouse>,
    tokens: Vec<String>,
    _dir: tempfile::TempDir,
}

async fn setup() -> T {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("state.db")).await.unwrap());
    for (t, _) in TENANTS {
        let id = TenantId::new(t).unwrap();
        store.create_tenant(&id, t).await.unwrap();
        store
            .create_user(NewUser {
                tenant_id: id,
                email: format!("ann@{t}.io"),
                name: "Ann".into(),
                role: Role::Analyst,
                password_hash: hash_password(PASSWORD),
            })
            .await
            .unwrap();
    }
    let wh = Arc::new(MemoryWarehouse::new());
    load(&wh).await;
    let app = avesa_api::router(AppState::new(store, wh.clone(), AuthConfig::new(SECRET.to_vec())));
    let mut tokens = Vec::new();
    for (t, _) in TENANTS {
        let body = json!({"tenant_id": t, "email": format!("ann@{t}.io"), "password": PASSWORD});
        let (s, v) = call(&app, Method::POST, "/auth/login", None, Some(body)).await;
        assert_eq!(s, StatusCode::OK);
        tokens.push(v.0["access_token"].as_str().unwrap().to_owned());
    }
    T { app, wh, tokens, _dir: dir }
}

async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, (Value, Vec<u8>)) {
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
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap().to_vec();
    (status, (serde_json::from_slice(&bytes).unwrap_or(Value::Null), bytes))
}

const SEGMENTS: [(&str, CanonicalTable); 5] = [
    ("companies", CanonicalTable::Companies),
    ("contacts", CanonicalTable::Contacts),
    ("tickets", CanonicalTable::Tickets),
    ("time-entries", CanonicalTable::TimeEntries),
    ("members", CanonicalTable::Members),
];

/// Every id in an answer (items' ids, a record's id, the ids it refers to) must be the
/// caller's, prefixed with its letter; every tenant id, the caller's.
fn assert_own(v: &Value, tenant: &str, letter: &str, what: &str) {
    const ID_KEYS: [&str; 7] =
        ["id", "source_id", "company_id", "contact_id", "ticket_id", "member_id", "owner_id"];
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if let (true, Some(s)) = (ID_KEYS.contains(&k.as_str()), x.as_str()) {
                    let source = s.split_once(':').map_or(s, |(_, id)| id);
                    assert!(source.starts_with(letter), "{what}: {k} = {s} is not the caller's");
                }
                if let ("tenant_id", Some(t)) = (k.as_str(), x.as_str()) {
                    assert_eq!(t, tenant, "{what}");
                }
                assert_own(x, tenant, letter, what);
            }
        }
        Value::Array(items) => items.iter().for_each(|x| assert_own(x, tenant, letter, what)),
        _ => {}
    }
}

#[tokio::test]
async fn random_requests_only_ever_answer_from_the_callers_tenant() {
    let t = setup().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x0150_1a7e);
    // How much of it was substance, so a test that answers nothing cannot pass.
    let (mut listed, mut own_found, mut foreign_refused, mut metric_answers) = (0, 0, 0, 0);
    for round in 0..400 {
        let who = rng.gen_range(0..2);
        let (tenant, letter) = TENANTS[who];
        let other = TENANTS[1 - who].1;
        let token = &t.tokens[who];
        let (segment, table) = *SEGMENTS.choose(&mut rng).unwrap();
        let id = match rng.gen_range(0..3) {
            0 => format!("connectwise:{letter}{}", rng.gen_range(0..12)),
            1 => format!("connectwise:{other}{}", rng.gen_range(0..12)),
            _ => format!("connectwise:z{}", rng.gen_range(0..1000)),
        };
        let as_of = match rng.gen_range(0..3) {
            0 => String::new(),
            1 => format!("&as_of=1970-01-01T01:{:02}:00Z", rng.gen_range(0..99) % 60),
            _ => "&as_of=2030-01-01T00:00:00Z".into(),
        };
        let uri = match rng.gen_range(0..7) {
            0 | 1 => {
                let cols: Vec<&str> =
                    table.columns().iter().map(|c| c.name).chain(["id"]).collect();
                let q = match rng.gen_range(0..4) {
                    0 => String::new(),
                    1 => format!("&q={}", WORDS.choose(&mut rng).unwrap()),
                    2 => format!("&q={other}{}", rng.gen_range(0..12)),
                    _ => format!("&q={letter}{}", rng.gen_range(0..12)),
                };
                format!(
                    "/api/{segment}?page={}&page_size={}&sort={}&order={}{q}{as_of}",
                    rng.gen_range(1..4),
                    rng.gen_range(1..30),
                    cols.choose(&mut rng).unwrap(),
                    ["asc", "desc"].choose(&mut rng).unwrap(),
                )
            }
            2 => {
                format!("/api/{segment}/{id}?x=1{as_of}").replace("?x=1&", "?").replace("?x=1", "")
            }
            3 => format!("/api/{segment}/{id}/history"),
            4 => "/api/analytics/dashboard".into(),
            6 => format!(
                "/api/analytics/metrics/open_backlog?group_by=company&limit=50&compare=previous{as_of}"
            ),
            _ => ["/api/analytics/tickets/status", "/api/analytics/companies/top?limit=50"]
                .choose(&mut rng)
                .unwrap()
                .to_string(),
        };
        let (status, (v, bytes)) = call(&t.app, Method::GET, &uri, Some(token), None).await;
        let what = format!("round {round}: {tenant} GET {uri}");
        assert!(
            status == StatusCode::OK
                || status == StatusCode::NOT_FOUND
                || status == StatusCode::BAD_REQUEST,
            "{what}: {status} {v}"
        );
        assert_own(&v, tenant, letter, &what);
        if v["items"].as_array().is_some_and(|i| !i.is_empty()) {
            listed += 1;
        }
        if status == StatusCode::OK && uri.contains(&format!(":{letter}")) {
            own_found += 1;
        }
        // Another tenant's record answers exactly as a missing one.
        if status == StatusCode::NOT_FOUND && id.contains(&format!(":{other}")) && uri.contains(&id)
        {
            let missing = uri.replace(&id, "connectwise:zz404");
            let (s2, (_, bytes2)) = call(&t.app, Method::GET, &missing, Some(token), None).await;
            assert_eq!((status, bytes.clone()), (s2, bytes2), "{what}");
            foreign_refused += 1;
        }
        if uri.contains("group_by=company") && status == StatusCode::OK {
            // Every group is one of the caller's companies, and they add up to the
            // caller's open tickets.
            let groups = v["groups"].as_array().unwrap_or_else(|| panic!("{what}: {v}"));
            let mut sum = 0.0;
            for g in groups {
                let key = g["key"].as_str().unwrap_or("connectwise:-");
                assert!(
                    key.split_once(':').unwrap().1.starts_with(letter) || g["key"].is_null(),
                    "{what}: {g}"
                );
                sum += g["value"].as_f64().unwrap();
            }
            assert_eq!(Some(sum), v["value"].as_f64(), "{what}");
            metric_answers += 1;
        }
        if uri == "/api/analytics/dashboard" {
            let own = t.wh.dashboard(&TenantId::new(tenant).unwrap()).await.unwrap();
            let own = serde_json::to_value(own).unwrap();
            for (k, x) in own.as_object().unwrap() {
                assert_eq!(&v[k], x, "{what}: {k}");
            }
        }
    }
    assert!(
        listed > 60 && own_found > 20 && foreign_refused > 20 && metric_answers > 20,
        "{listed} {own_found} {foreign_refused} {metric_answers}"
    );
}
