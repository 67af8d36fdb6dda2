//! Two warehouse backends, one API: the same versions applied to DuckDB and to the
//! in-memory reference warehouse give byte-identical answers to the same requests, because
//! every backend returns its rows through one presentation layer.

use std::net::SocketAddr;
use std::sync::Arc;

use avesa_api::{AppState, AuthConfig, hash_password};
use avesa_model::{CanonicalTable, Role, TenantId};
use avesa_state::{NewUser, SqliteStore, StateStore};
use avesa_warehouse::conformance::{Row, batch};
use avesa_warehouse::{MemoryWarehouse, Warehouse};
use avesa_warehouse_duckdb::DuckDbWarehouse;

const SECRET: &[u8] = b"a-test-signing-secret-that-is-at-least-32-bytes";

/// Companies, contacts, tickets, time entries and members of one tenant (and a little of
/// another), with updates and deletions over time.
fn batches() -> Vec<(CanonicalTable, Vec<Row>)> {
    let company = |t: &'static str, id: &str, at: i64, name: &str| {
        Row::new(t, id, at).text("name", name).text("city", "Leeds").int("employee_count", 12)
    };
    let ticket = |id: &str, at: i64, company: &str, status: &str, closed: bool| {
        Row::new("acme", id, at)
            .text("company_id", company)
            .text("summary", &format!("Ticket {id}: printer on floor {at}"))
            .text("status", status)
            .text("priority", "P2")
            .time("opened_at", at - 100)
            .flag("closed", closed)
            .float("budget_hours", 2.25)
    };
    vec![
        (
            CanonicalTable::Companies,
            vec![
                company("acme", "1", 10, "Acme Corp"),
                company("acme", "2", 10, "Bolt Ltd"),
                company("acme", "3", 10, "Cog & Sons"),
                company("globex", "1", 10, "Globex"),
            ],
        ),
        (CanonicalTable::Companies, vec![company("acme", "1", 500, "Acme Corporation")]),
        (CanonicalTable::Companies, vec![company("acme", "3", 600, "Cog & Sons").deleted()]),
        (
            CanonicalTable::Contacts,
            vec![
                Row::new("acme", "100", 20)
                    .text("company_id", "1")
                    .text("first_name", "Ann")
                    .flag("active", true),
                Row::new("acme", "101", 20)
                    .text("company_id", "2")
                    .text("first_name", "Bob")
                    .flag("active", false),
            ],
        ),
        (
            CanonicalTable::Tickets,
            vec![
                ticket("241000", 200, "1", "New", false),
                ticket("241001", 210, "1", "Closed", true),
                ticket("241002", 220, "2", "In Progress", false),
                ticket("241003", 230, "3", "New", false),
            ],
        ),
        (CanonicalTable::Tickets, vec![ticket("241000", 700, "1", "Closed", true)]),
        (
            CanonicalTable::TimeEntries,
            vec![
                Row::new("acme", "9001", 300)
                    .text("company_id", "1")
                    .text("ticket_id", "241000")
                    .float("actual_hours", 1.5)
                    .float("hourly_rate", 150.0)
                    .text("billable_option", "Billable")
                    .text("notes", "Replaced the fuser"),
                Row::new("acme", "9002", 310)
                    .text("company_id", "2")
                    .float("actual_hours", 0.25)
                    .text("billable_option", "DoNotBill"),
            ],
        ),
        (
            CanonicalTable::Members,
            vec![
                Row::new("acme", "7", 5)
                    .text("identifier", "jdoe")
                    .text("name", "Jane Doe")
                    .flag("active", true),
            ],
        ),
    ]
}

async fn serve(state: AppState) -> SocketAddr {
    let (addr, _task) =
        avesa_cli::demo::serve_state(state, "127.0.0.1:0".parse().unwrap(), Default::default())
            .await
            .unwrap();
    addr
}

#[tokio::test]
async fn duckdb_and_the_reference_warehouse_answer_byte_for_byte_alike() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(SqliteStore::open(&dir.path().join("state.db")).await.unwrap());
    let acme = TenantId::new("acme").unwrap();
    store.create_tenant(&acme, "Acme MSP").await.unwrap();
    store
        .create_user(NewUser {
            tenant_id: acme.clone(),
            email: "ann@acme.example".into(),
            name: "Ann".into(),
            role: Role::Analyst,
            password_hash: hash_password("correct horse"),
        })
        .await
        .unwrap();
    let duck: Arc<dyn Warehouse> = Arc::new(DuckDbWarehouse::in_memory().unwrap());
    let memory: Arc<dyn Warehouse> = Arc::new(MemoryWarehouse::new());
    for wh in [&duck, &memory] {
        for (table, rows) in batches() {
            wh.apply(table, batch(table, &rows)).await.unwrap();
        }
    }
    let mut addrs = Vec::new();
    for wh in [duck, memory] {
        addrs.push(serve(AppState::new(store.clone(), wh, AuthConfig::new(SECRET.to_vec()))).await);
    }
    let http = reqwest::Client::new();
    let login = http
        .post(format!("http://{}/auth/login", addrs[0]))
        .json(&serde_json::json!({"tenant_id": "acme", "email": "ann@acme.example", "password": "correct horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let token: serde_json::Value = login.json().await.unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let then = chrono::DateTime::from_timestamp(1_700_000_000 + 400, 0).unwrap().to_rfc3339();
    let paths = [
        "/api/companies".to_owned(),
        "/api/companies?sort=name&order=desc".into(),
        "/api/companies?q=%26".into(),
        format!("/api/companies?as_of={then}"),
        "/api/companies/connectwise:1".into(),
        format!("/api/companies/connectwise:1?as_of={then}"),
        "/api/companies/connectwise:1/history".into(),
        "/api/companies/connectwise:3/history".into(),
        "/api/companies/connectwise:3".into(),
        "/api/contacts?sort=company_name".into(),
        "/api/tickets".into(),
        "/api/tickets?q=printer&sort=opened_at&order=desc&page_size=2&page=2".into(),
        format!("/api/tickets?as_of={then}"),
        "/api/tickets/connectwise:241000/history".into(),
        "/api/time-entries".into(),
        "/api/members".into(),
        "/api/analytics/dashboard".into(),
        "/api/analytics/tickets/status".into(),
        "/api/analytics/companies/top".into(),
        "/api/companies?sort=nope".into(),
    ];
    for path in &paths {
        let mut bodies = Vec::new();
        for addr in &addrs {
            let r =
                http.get(format!("http://{addr}{path}")).bearer_auth(&token).send().await.unwrap();
            let status = r.status().as_u16();
            bodies.push((status, r.bytes().await.unwrap()));
        }
        assert_eq!(
            bodies[0],
            bodies[1],
            "{path}: DuckDB answered\n{}\nthe reference answered\n{}",
            String::from_utf8_lossy(&bodies[0].1),
            String::from_utf8_lossy(&bodies[1].1)
        );
        let expected = match path.as_str() {
            "/api/companies?sort=nope" => 400,
            "/api/companies/connectwise:3" => 404,
            _ => 200,
        };
        assert_eq!(bodies[0].0, expected, "{path}: {}", String::from_utf8_lossy(&bodies[0].1));
    }
}
