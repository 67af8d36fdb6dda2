//! The whole path, as a user runs it: the demo (simulator → pipeline → warehouse → API),
//! checked against the simulator's ground truth through the HTTP API; tenant isolation;
//! an incremental sync after the simulator's clock moves; and the browser test.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use avesa_cli::demo::{self, DemoOptions, DemoTenant, MAIN, SECOND};
use avesa_model::TenantId;
use avesa_pipeline::SyncRequest;
use avesa_sim::{AdvanceSpec, CwSizes};
use avesa_state::TableKey;
use reqwest::StatusCode;
use serde_json::Value;

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn login(&self, t: &DemoTenant) -> String {
        let r = self
            .http
            .post(format!("{}/auth/login", self.base))
            .json(&serde_json::json!({"tenant_id": t.id, "email": t.email, "password": t.password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "login {}", t.id);
        r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
    }

    async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let r =
            self.http.get(format!("{}{path}", self.base)).bearer_auth(token).send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn ok(&self, token: &str, path: &str) -> Value {
        let (s, v) = self.get(token, path).await;
        assert_eq!(s, StatusCode::OK, "GET {path}: {v}");
        v
    }

    /// Every item of a list route, page by page.
    async fn all(&self, token: &str, route: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for page in 1.. {
            let v = self.ok(token, &format!("{route}?page={page}&page_size=500")).await;
            let items = v["items"].as_array().unwrap().clone();
            let total = v["total"].as_u64().unwrap() as usize;
            out.extend(items);
            if out.len() >= total {
                break;
            }
        }
        out
    }
}

fn s(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    match cur {
        Value::String(x) => Some(x.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn f(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6 * a.abs().max(1.0)
}

/// What the dashboard must show for a tenant, computed from the simulator's truth.
struct Expected {
    companies: usize,
    contacts: usize,
    tickets: usize,
    open: usize,
    entries: usize,
    hours: f64,
    billable: f64,
    by_status: BTreeMap<String, u64>,
    hours_by_company: BTreeMap<String, f64>,
    ids: BTreeMap<&'static str, BTreeSet<String>>,
}

fn expected(sims: &demo::DemoSims, t: &DemoTenant) -> Expected {
    if t.id == SECOND.id {
        return expected_second(sims);
    }
    let truth = sims.connectwise.truth(t.id);
    let live = |v: &&Value| v.get("deletedFlag").and_then(Value::as_bool) != Some(true);
    let mut by_status = BTreeMap::new();
    for tk in &truth.tickets {
        *by_status.entry(s(tk, &["status", "name"]).unwrap()).or_insert(0) += 1;
    }
    let mut hours_by_company = BTreeMap::new();
    let (mut hours, mut billable) = (0.0, 0.0);
    for e in &truth.time_entries {
        let h = f(e, "actualHours");
        hours += h;
        if s(e, &["billableOption"]).as_deref() == Some("Billable") {
            billable += h;
        }
        *hours_by_company.entry(s(e, &["company", "id"]).unwrap()).or_insert(0.0) += h;
    }
    let ids = |vs: &[Value]| {
        vs.iter().map(|v| format!("connectwise:{}", s(v, &["id"]).unwrap())).collect()
    };
    Expected {
        companies: truth.companies.iter().filter(live).count(),
        contacts: truth.contacts.len(),
        tickets: truth.tickets.len(),
        open: truth.tickets.iter().filter(|t| t["closedFlag"] != Value::Bool(true)).count(),
        entries: truth.time_entries.len(),
        hours,
        billable,
        by_status,
        hours_by_company,
        ids: BTreeMap::from([
            ("companies", ids(&truth.companies)),
            ("contacts", ids(&truth.contacts)),
            ("tickets", ids(&truth.tickets)),
            ("time-entries", ids(&truth.time_entries)),
            ("members", ids(&truth.members)),
        ]),
    }
}

/// The second tenant: ServiceNow, Salesforce and Microsoft 365 together.
fn expected_second(sims: &demo::DemoSims) -> Expected {
    let sn = sims.servicenow.truth(SECOND.id);
    let sf = sims.salesforce.truth(SECOND.id);
    let g = sims.graph.truth(&sims.graph.tenants()[0].tenant_id);
    let sn_t = |t: &str| sn.tables[t].as_slice();
    let sf_t = |t: &str| sf.tables[t].as_slice();
    let ids = |svc: &str, key: &str, vs: &[Value]| -> BTreeSet<String> {
        vs.iter().map(|v| format!("{svc}:{}", v[key].as_str().unwrap())).collect()
    };
    let union =
        |a: BTreeSet<String>, b: BTreeSet<String>| a.union(&b).cloned().collect::<BTreeSet<_>>();
    let incident_status = |v: &Value| {
        match v["state"].as_str().unwrap() {
            "1" => "New",
            "2" => "In Progress",
            "3" => "On Hold",
            "6" => "Resolved",
            "7" => "Closed",
            "8" => "Canceled",
            other => panic!("incident state {other}"),
        }
        .to_owned()
    };
    let mut by_status = BTreeMap::new();
    for i in sn_t("incident") {
        *by_status.entry(incident_status(i)).or_insert(0) += 1;
    }
    for c in sf_t("Case") {
        *by_status.entry(c["Status"].as_str().unwrap().to_owned()).or_insert(0) += 1;
    }
    let hours: f64 = sn_t("task_time_worked")
        .iter()
        .map(|e| e["time_in_seconds"].as_str().unwrap().parse::<f64>().unwrap() / 3600.0)
        .sum();
    let open = sn_t("incident").iter().filter(|i| i["active"] == "true").count()
        + sf_t("Case").iter().filter(|c| c["IsClosed"] != Value::Bool(true)).count();
    Expected {
        companies: sn_t("core_company").len() + sf_t("Account").len(),
        contacts: sn_t("customer_contact").len() + sf_t("Contact").len(),
        tickets: sn_t("incident").len() + sf_t("Case").len(),
        open,
        entries: sn_t("task_time_worked").len(),
        hours,
        billable: 0.0,
        by_status,
        hours_by_company: BTreeMap::new(),
        ids: BTreeMap::from([
            (
                "companies",
                union(
                    ids("servicenow", "sys_id", sn_t("core_company")),
                    ids("salesforce", "Id", sf_t("Account")),
                ),
            ),
            (
                "contacts",
                union(
                    ids("servicenow", "sys_id", sn_t("customer_contact")),
                    ids("salesforce", "Id", sf_t("Contact")),
                ),
            ),
            (
                "tickets",
                union(
                    ids("servicenow", "sys_id", sn_t("incident")),
                    ids("salesforce", "Id", sf_t("Case")),
                ),
            ),
            ("time-entries", ids("servicenow", "sys_id", sn_t("task_time_worked"))),
            (
                "members",
                union(
                    union(
                        ids("servicenow", "sys_id", sn_t("sys_user")),
                        ids("salesforce", "Id", sf_t("User")),
                    ),
                    ids("microsoft365", "id", &g.tables["users"]),
                ),
            ),
        ]),
    }
}

async fn check_tenant_matches_truth(api: &Api, sims: &demo::DemoSims, t: &DemoTenant) {
    let want = expected(sims, t);
    let token = api.login(t).await;
    let d = api.ok(&token, "/api/analytics/dashboard").await;
    assert_eq!(d["companies"].as_u64().unwrap() as usize, want.companies, "{} companies", t.id);
    assert_eq!(d["contacts"].as_u64().unwrap() as usize, want.contacts, "{} contacts", t.id);
    assert_eq!(d["tickets"].as_u64().unwrap() as usize, want.tickets, "{} tickets", t.id);
    assert_eq!(d["open_tickets"].as_u64().unwrap() as usize, want.open, "{} open", t.id);
    assert_eq!(d["time_entries"].as_u64().unwrap() as usize, want.entries, "{} entries", t.id);
    assert!(
        close(f(&d, "total_hours"), want.hours),
        "{} hours {} vs {}",
        t.id,
        d["total_hours"],
        want.hours
    );
    assert!(close(f(&d, "billable_hours"), want.billable), "{} billable", t.id);
    assert!(d["last_synced_at"].is_string());
    // The app's "Last synced" reads the same instant without a warehouse query.
    let fresh = api.ok(&token, "/api/freshness").await;
    assert_eq!(fresh["last_synced_at"], d["last_synced_at"]);

    let st = api.ok(&token, "/api/analytics/tickets/status").await;
    let got: BTreeMap<String, u64> = st["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["status"].as_str().unwrap().to_owned(), i["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(got, want.by_status, "{} tickets per status", t.id);

    let top = api.ok(&token, "/api/analytics/companies/top?limit=10").await;
    let top = top["items"].as_array().unwrap();
    assert!(!top.is_empty());
    for c in top {
        let id = c["id"].as_str().unwrap().split_once(':').unwrap().1.to_owned();
        let want_h = want.hours_by_company.get(&id).copied().unwrap_or(0.0);
        assert!(
            close(f(c, "hours"), want_h),
            "{} hours of company {id}: {} vs {want_h}",
            t.id,
            c["hours"]
        );
    }

    for (route, total) in [
        ("companies", want.companies),
        ("tickets", want.tickets),
        ("members", want.ids["members"].len()),
    ] {
        let v = api.ok(&token, &format!("/api/{route}?page_size=5")).await;
        assert_eq!(v["total"].as_u64().unwrap() as usize, total, "{} {route} total", t.id);
        assert_eq!(v["items"].as_array().unwrap().len(), 5);
    }
}

async fn check_isolation(api: &Api, sims: &demo::DemoSims) {
    let a = expected(sims, &MAIN);
    let b = expected(sims, &SECOND);
    let token_b = api.login(&SECOND).await;
    let (missing_status, missing_body) =
        api.get(&token_b, "/api/tickets/connectwise:987654321").await;
    assert_eq!(missing_status, StatusCode::NOT_FOUND);
    for route in ["companies", "contacts", "tickets", "time-entries", "members"] {
        // Every list holds exactly B's records.
        let items = api.all(&token_b, &format!("/api/{route}")).await;
        let got: BTreeSet<String> =
            items.iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect();
        let want: BTreeSet<String> = b.ids[route].clone();
        if route == "companies" {
            assert!(got.is_subset(&want), "{route}: B sees records that are not B's");
        } else {
            assert_eq!(got, want, "{route}: B's list is not exactly B's records");
        }
        // An id of A's that B does not have answers exactly like a missing id.
        let only_a: Vec<&String> = a.ids[route].difference(&b.ids[route]).take(3).collect();
        assert!(!only_a.is_empty(), "{route}: the two tenants' ids fully overlap");
        for id in only_a {
            let (status, body) = api.get(&token_b, &format!("/api/{route}/{id}")).await;
            assert_eq!(status, missing_status, "{route}/{id}");
            assert_eq!(
                body["error"]["code"], missing_body["error"]["code"],
                "{route}/{id} must look like a missing id"
            );
            let (status, _) = api.get(&token_b, &format!("/api/{route}/{id}/history")).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{route}/{id}/history");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = DemoOptions::new(dir.path().join("data"));
    opts.main_sizes = CwSizes::demo();
    opts.second_sizes = demo::SecondSizes::small();
    let d = demo::prepare(opts.clone()).await.expect("demo prepares");
    assert_eq!(d.summary.status, avesa_state::RunStatus::Succeeded, "{:?}", d.summary);
    let (addr, _server) = demo::serve(&d.app, SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let api = Api { base: format!("http://{addr}"), http: reqwest::Client::new() };

    // 1. The warehouse, through the API, equals the simulator's truth for both tenants.
    check_tenant_matches_truth(&api, &d.sims, &MAIN).await;
    check_tenant_matches_truth(&api, &d.sims, &SECOND).await;
    // The demo's simulators run in its process: every demo service has a budget above
    // the vendors' own (ConnectWise's 8 requests a second kept the demo waiting).
    for t in [&MAIN, &SECOND] {
        let id = TenantId::new(t.id).unwrap();
        let services = d.app.store.list_services(&id).await.unwrap();
        assert!(!services.is_empty());
        for s in services {
            let cfg = avesa_pipeline::open_service_config(
                &d.app.cipher,
                &id,
                &s.service,
                &s.sealed_config,
            )
            .unwrap();
            let budget = demo::DEMO_REQUESTS_PER_SECOND.to_string();
            assert_eq!(cfg.creds.0.get("requests_per_second"), Some(&budget), "{}", s.service);
        }
    }

    // 2. Tenant isolation.
    check_isolation(&api, &d.sims).await;

    // 3. Incremental: the clock moves, records change and appear; the next sync fetches
    //    only what changed (plus the overlap window) and the changes get new versions.
    let main_id = TenantId::new(MAIN.id).unwrap();
    let mut cursors = BTreeMap::new();
    for table in avesa_sim::CW_TABLES {
        let key = TableKey {
            tenant_id: main_id.clone(),
            service: "connectwise".into(),
            table: table.into(),
        };
        cursors
            .insert(table, d.app.store.get_cursor(&key).await.unwrap().expect("cursor after sync"));
    }
    let report = d.sims.connectwise.advance(
        MAIN.id,
        AdvanceSpec { duration: chrono::Duration::days(1), updates: 300, creates: 60, deletes: 0 },
    );
    d.sims.connectwise.clear_requests();
    let run = d
        .app
        .pipeline(opts.pipeline.clone())
        .run(SyncRequest { tenant: Some(main_id.clone()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(run.status, avesa_state::RunStatus::Succeeded, "{run:?}");
    let truth = d.sims.connectwise.truth(MAIN.id);
    let overlap = opts.pipeline.overlap;
    for (table, records) in [
        ("company/companies", &truth.companies),
        ("company/contacts", &truth.contacts),
        ("service/tickets", &truth.tickets),
        ("time/entries", &truth.time_entries),
    ] {
        let from = cursors[table].updated_at - overlap;
        let want: BTreeSet<String> = records
            .iter()
            .filter(|r| {
                let t = s(r, &["_info", "lastUpdated"]).unwrap();
                chrono::DateTime::parse_from_rfc3339(&t).unwrap() >= from
            })
            .map(|r| s(r, &["id"]).unwrap())
            .collect();
        let reqs: Vec<_> = d
            .sims
            .connectwise
            .requests()
            .into_iter()
            .filter(|r| r.path == format!("/{table}"))
            .collect();
        assert!(!reqs.is_empty(), "{table}: no requests");
        for r in &reqs {
            let c = r.conditions.as_deref().unwrap_or("");
            assert!(c.contains("lastUpdated"), "{table}: unfiltered request {}", r.query);
        }
        let fetched: usize = reqs.iter().map(|r| r.records).sum();
        assert_eq!(
            fetched,
            want.len(),
            "{table}: fetched {fetched}, changed since watermark {}",
            want.len()
        );
        assert!(want.len() < records.len() / 5, "{table}: incremental fetched too much");
    }
    // The API shows the changes, and each updated ticket now has two versions.
    let token = api.login(&MAIN).await;
    let updated: Vec<String> = report
        .updated
        .get("service/tickets")
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .take(5)
        .map(|id| id.to_string())
        .collect();
    assert!(!updated.is_empty(), "advance updated no tickets");
    for id in &updated {
        let cur = api.ok(&token, &format!("/api/tickets/connectwise:{id}")).await;
        let t = truth.tickets.iter().find(|t| s(t, &["id"]).as_deref() == Some(id)).unwrap();
        assert_eq!(cur["status"].as_str(), s(t, &["status", "name"]).as_deref(), "ticket {id}");
        let h = api.ok(&token, &format!("/api/tickets/connectwise:{id}/history")).await;
        assert_eq!(h["items"].as_array().unwrap().len(), 2, "ticket {id} versions: {h}");
    }
    check_tenant_matches_truth(&api, &d.sims, &MAIN).await;

    // 4. Run records through the API, scoped to the caller's tenant.
    let runs = api.ok(&token, "/api/admin/runs").await;
    let runs = runs["items"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "the demo's all-tenant run and the incremental run: {runs:?}");
    assert_eq!(runs[0]["id"], run.run_id.to_string(), "newest first");
    let shown = api.ok(&token, &format!("/api/admin/runs/{}", run.run_id)).await;
    assert_eq!(shown["run"]["status"], "succeeded");
    let chunks = shown["chunks"].as_array().unwrap();
    assert!(!chunks.is_empty());
    assert!(chunks.iter().all(|c| c["key"]["tenant_id"] == MAIN.id));
    let demo_run =
        api.ok(&token, &format!("/api/admin/runs/{}", runs[1]["id"].as_str().unwrap())).await;
    assert!(
        demo_run["chunks"].as_array().unwrap().iter().all(|c| c["key"]["tenant_id"] == MAIN.id),
        "an all-tenant run shows only the caller's chunks"
    );
    let token_b = api.login(&SECOND).await;
    let (status, _) = api.get(&token_b, &format!("/api/admin/runs/{}", run.run_id)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's run is invisible");
    let b_runs = api.ok(&token_b, "/api/admin/runs").await;
    assert_eq!(b_runs["items"].as_array().unwrap().len(), 1, "B sees only the demo run");
    let (status, _) = api.get(&token_b, "/api/admin/runs/not-a-uuid").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// Running the demo again on the same data folder resumes: tenants, users and data are
/// kept, only the overlap window is re-read, and no version is duplicated. As `avesa
/// demo` does, the data ends at the first run's hour, which the second run reuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_rerun_resumes_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = DemoOptions::new(dir.path().join("data"));
    opts.main_sizes = CwSizes::small();
    opts.second_sizes = demo::SecondSizes::small();
    opts.epoch = demo::DemoEpoch::FirstRun;
    let main = TenantId::new(MAIN.id).unwrap();
    let counts = |d: &demo::Demo| {
        let wh = d.app.warehouse.clone();
        async move {
            let mut out = Vec::new();
            for t in [MAIN.id, SECOND.id] {
                let t = TenantId::new(t).unwrap();
                for table in avesa_model::CanonicalTable::ALL {
                    out.push(wh.version_count(&t, table).await.unwrap());
                }
            }
            out
        }
    };
    let first = demo::prepare(opts.clone()).await.unwrap();
    let before = counts(&first).await;
    let truth = first.sims.connectwise.truth(MAIN.id);
    assert_eq!(
        before[2] as usize,
        truth.tickets.len(),
        "one version per ticket after the first sync"
    );
    let first_records = first.summary.records();
    let epoch = first.app.store.get_setting(&main, demo::DEMO_EPOCH).await.unwrap();
    let at =
        chrono::DateTime::parse_from_rfc3339(epoch.as_ref().unwrap().as_str().unwrap()).unwrap();
    let age = chrono::Utc::now() - at.to_utc();
    assert!(
        age >= chrono::Duration::zero() && age < chrono::Duration::hours(2),
        "the data ends at the current hour: {at}"
    );
    let month_ago = (at - chrono::Duration::days(30)).to_utc();
    let recent = truth
        .tickets
        .iter()
        .filter_map(|t| t["_info"]["dateEntered"].as_str())
        .filter_map(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
        .filter(|d| d.to_utc() > month_ago)
        .count();
    assert!(recent > 0, "the last 30 days hold tickets");
    drop(first);

    let second = demo::prepare(opts).await.unwrap();
    assert_eq!(second.summary.status, avesa_state::RunStatus::Succeeded, "{:?}", second.summary);
    assert_eq!(counts(&second).await, before, "a rerun must not add versions");
    assert!(
        second.summary.records() * 10 < first_records,
        "a rerun re-reads only the overlap window: {} of {first_records}",
        second.summary.records()
    );
    assert_eq!(
        second.app.store.get_setting(&main, demo::DEMO_EPOCH).await.unwrap(),
        epoch,
        "the second run keeps the first's data"
    );
    let users = second.app.store.list_users(&main).await.unwrap();
    assert_eq!(users.len(), 1);
}
