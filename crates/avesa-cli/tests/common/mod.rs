//! Set-up shared by the pipeline tests: a company in the ConnectWise simulator and the
//! tenant that syncs from it.

use std::net::SocketAddr;

use avesa_cli::app::App;
use avesa_cli::demo::{CwCredentials, MAIN, demo_credentials};
use avesa_model::TenantId;
use avesa_pipeline::seal_service_config;
use avesa_sim::{ConnectWiseSim, CwSizes};

/// Adds company `company` (seeded with `seed`) to `sim`, served at `addr`, and tenant
/// `tenant` with a ConnectWise service reading it. Returns the credentials.
#[allow(dead_code)]
pub async fn cw_tenant(
    app: &App,
    sim: &ConnectWiseSim,
    addr: SocketAddr,
    tenant: &str,
    company: &str,
    seed: u64,
    sizes: CwSizes,
) -> (TenantId, CwCredentials) {
    let mut creds = demo_credentials(&MAIN, &format!("http://{addr}"));
    creds.company_id = company.to_owned();
    sim.add_company(creds.company_spec(seed, sizes));
    let t = TenantId::new(tenant).unwrap();
    app.store.create_tenant(&t, tenant).await.unwrap();
    app.store
        .upsert_service(&t, "connectwise", &seal_service_config(&app.cipher, &t, &creds.config()))
        .await
        .unwrap();
    (t, creds)
}

/// Adds analyst Ann to `tenant`, serves `app`'s API on a free port and logs her in:
/// the address and her access token.
#[allow(dead_code)]
pub async fn login_and_serve(app: &App, tenant: &TenantId) -> (SocketAddr, String) {
    app.store
        .create_user(avesa_state::NewUser {
            tenant_id: tenant.clone(),
            email: "ann@acme.example".into(),
            name: "Ann".into(),
            role: avesa_model::Role::Analyst,
            password_hash: avesa_api::hash_password("correct horse"),
        })
        .await
        .unwrap();
    let (addr, _task) = avesa_cli::demo::serve_state(
        app.api_state(),
        "127.0.0.1:0".parse().unwrap(),
        Default::default(),
    )
    .await
    .unwrap();
    let token = login(addr, tenant, "ann@acme.example", "correct horse").await;
    (addr, token)
}

/// Logs a user in at the API served on `addr`; their access token.
#[allow(dead_code)]
pub async fn login(addr: SocketAddr, tenant: &TenantId, email: &str, password: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/auth/login"))
        .json(&serde_json::json!({"tenant_id": tenant.as_str(), "email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

/// Asserts that two servers of the same tenant's data answer the API's reads byte for
/// byte alike (except when each last synced), `first` being the reference; a record's
/// history too when `history`.
#[allow(dead_code)]
pub async fn assert_same_answers(
    first: (SocketAddr, &str),
    second: (SocketAddr, &str),
    history: bool,
) {
    let http = reqwest::Client::new();
    let first_ticket = {
        let r = http
            .get(format!("http://{}/api/tickets?page_size=1", first.0))
            .bearer_auth(first.1)
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = r.json().await.unwrap();
        v["items"][0]["id"].as_str().unwrap().to_owned()
    };
    let paths = [
        "/api/companies?page_size=500".to_owned(),
        "/api/companies?sort=name&order=desc&page_size=7&page=2".into(),
        "/api/contacts?sort=company_name&page_size=500".into(),
        "/api/tickets?page_size=500".into(),
        "/api/tickets?q=a&sort=status&page_size=50".into(),
        format!("/api/tickets/{first_ticket}"),
        format!("/api/tickets/{first_ticket}/history"),
        "/api/time-entries?page_size=500".into(),
        "/api/members".into(),
        "/api/analytics/dashboard".into(),
        "/api/analytics/tickets/status".into(),
        "/api/analytics/companies/top".into(),
    ];
    for path in paths.iter().filter(|p| history || !p.ends_with("/history")) {
        let mut bodies = Vec::new();
        for (addr, token) in [first, second] {
            let r =
                http.get(format!("http://{addr}{path}")).bearer_auth(token).send().await.unwrap();
            let (status, mut text) = (r.status().as_u16(), r.text().await.unwrap());
            // When each installation last synced differs by nature, and so does the
            // updated-at of records whose vendor has none (Microsoft 365 users and
            // groups: the instant AVESA saw them); the rest must not.
            if let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&text)
                && strip_sync_instants(&mut v)
            {
                text = v.to_string();
            }
            bodies.push((status, text));
        }
        assert_eq!(bodies[0].0, 200, "{path}: {}", bodies[0].1);
        if bodies[0] != bodies[1] {
            panic!("{path}: the servers differ: {}", first_difference(&bodies[0].1, &bodies[1].1));
        }
    }
}

/// Where two JSON answers first differ: the first differing list item, or both whole.
#[allow(dead_code)]
fn first_difference(a: &str, b: &str) -> String {
    let (Ok(va), Ok(vb)) = (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) else {
        return format!("\n{a}\nvs\n{b}");
    };
    if va == vb {
        // The same values written differently: show where the texts part.
        let at = a.bytes().zip(b.bytes()).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
        let from = at.saturating_sub(200);
        return format!(
            "the same JSON values, different text at byte {at}:\n…{}\nvs\n…{}",
            a.get(from..(at + 200).min(a.len())).unwrap_or(""),
            b.get(from..(at + 200).min(b.len())).unwrap_or("")
        );
    }
    if let (Some(ia), Some(ib)) = (va["items"].as_array(), vb["items"].as_array()) {
        for (n, (x, y)) in ia.iter().zip(ib).enumerate() {
            if x != y {
                return format!("item {n}:\n{x}\nvs\n{y}");
            }
        }
        if ia.len() != ib.len() {
            return format!("{} items vs {}", ia.len(), ib.len());
        }
        let (mut ra, mut rb) = (va.clone(), vb.clone());
        ra["items"] = serde_json::Value::Null;
        rb["items"] = serde_json::Value::Null;
        return format!("\n{ra}\nvs\n{rb}");
    }
    format!("\n{va}\nvs\n{vb}")
}

/// Removes what differs by nature between two syncs of the same data (see
/// [`assert_same_answers`]); whether anything was removed.
#[allow(dead_code)]
fn strip_sync_instants(v: &mut serde_json::Value) -> bool {
    match v {
        serde_json::Value::Object(o) => {
            let mut changed = o.remove("last_synced_at").is_some();
            if o.get("source_service").and_then(|s| s.as_str()) == Some("microsoft365") {
                changed |= o.remove("source_updated_at").is_some();
            }
            for child in o.values_mut() {
                changed |= strip_sync_instants(child);
            }
            changed
        }
        serde_json::Value::Array(items) => {
            items.iter_mut().fold(false, |changed, i| strip_sync_instants(i) | changed)
        }
        _ => false,
    }
}

/// Waits until run `run` has finished (it is recorded once planned, which may be just
/// after an API's 202); `context` goes with a timeout's panic.
#[allow(dead_code)]
pub async fn finished(
    store: &dyn avesa_state::StateStore,
    run: avesa_model::RunId,
    within: std::time::Duration,
    context: impl Fn() -> String,
) -> avesa_state::RunRecord {
    let until = tokio::time::Instant::now() + within;
    loop {
        if let Some(r) = store.get_run(run).await.unwrap()
            && r.status != avesa_state::RunStatus::Running
        {
            return r;
        }
        assert!(tokio::time::Instant::now() < until, "run {run} did not finish: {}", context());
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}
