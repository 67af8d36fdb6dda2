//! The operations API on the real catalogue: a tenant admin attaches ConnectWise through
//! the API — fields checked against the spec, the credentials tested against the
//! simulator, a URL on this machine refused unless the operator allows it — and then
//! syncs it, reads its freshness, and switches it off.

mod common;

use std::time::Duration;

use avesa_cli::app::App;
use avesa_cli::demo::{MAIN, demo_credentials};
use avesa_config::Settings;
use avesa_model::TenantId;
use avesa_sim::{ConnectWiseSim, CwSizes};
use serde_json::{Value, json};

async fn admin_api(app: &App) -> (std::net::SocketAddr, String) {
    let t = TenantId::new("acme").unwrap();
    app.store.create_tenant(&t, "Acme").await.unwrap();
    app.store
        .create_user(avesa_state::NewUser {
            tenant_id: t.clone(),
            email: "boss@acme.example".into(),
            name: "Boss".into(),
            role: avesa_model::Role::TenantAdmin,
            password_hash: avesa_api::hash_password("a-long-enough-password"),
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
    let token = common::login(addr, &t, "boss@acme.example", "a-long-enough-password").await;
    (addr, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_admin_attaches_syncs_and_switches_off_a_service() {
    let sim = ConnectWiseSim::new();
    let (sim_addr, _sim) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut creds = demo_credentials(&MAIN, &format!("http://{sim_addr}"));
    creds.company_id = "acme_co".into();
    sim.add_company(creds.company_spec(3, CwSizes::derived(10, 20, 60, 40, 4)));
    let fields = json!({
        "api_url": creds.api_url, "company_id": creds.company_id, "public_key": creds.public_key,
        "private_key": creds.private_key, "client_id": creds.client_id,
    });
    let http = reqwest::Client::new();

    // By default the API refuses a vendor on this machine: no tenant makes the server
    // call its own network.
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(&dir.path().join("data")).await.unwrap();
    let (api, token) = admin_api(&app).await;
    let put = |fields: Value, test: bool| {
        http.put(format!("http://{api}/api/admin/services/connectwise"))
            .bearer_auth(&token)
            .json(&json!({"credentials": fields, "test": test}))
            .send()
    };
    let r = put(fields.clone(), true).await.unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("credentials.api_url") && msg.contains("private"), "{msg}");

    // The operator allows it: fields are checked, credentials tested, then stored.
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::embedded(&dir.path().join("data"));
    settings.server.allow_private_vendor_urls = true;
    let app = App::open_with(settings).await.unwrap();
    let (api, token) = admin_api(&app).await;
    let put = |fields: Value, test: bool| {
        http.put(format!("http://{api}/api/admin/services/connectwise"))
            .bearer_auth(&token)
            .json(&json!({"credentials": fields, "test": test}))
            .send()
    };
    let mut unknown = fields.clone();
    unknown["colour"] = json!("blue");
    let v: Value = put(unknown, true).await.unwrap().json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("credentials.colour"), "{v}");
    let mut missing = fields.clone();
    missing.as_object_mut().unwrap().remove("private_key");
    let v: Value = put(missing, true).await.unwrap().json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("credentials.private_key"), "{v}");
    let mut wrong = fields.clone();
    wrong["private_key"] = json!("not-the-key");
    let r = put(wrong, true).await.unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("testing the credentials failed"),
        "{v}"
    );
    let r = put(fields.clone(), true).await.unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let listed: Value = http
        .get(format!("http://{api}/api/admin/services"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["service"], "connectwise");
    assert!(!listed.to_string().contains(creds.private_key.as_str()), "credentials never leave");

    // A run through the API, then the tables' freshness.
    let r = http
        .post(format!("http://{api}/api/admin/runs"))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let run = r.json::<Value>().await.unwrap()["run_id"].as_str().unwrap().to_owned();
    let run_id: avesa_model::RunId = run.parse().unwrap();
    let rec =
        common::finished(app.store.as_ref(), run_id, Duration::from_secs(60), || run.clone()).await;
    assert_eq!(rec.status, avesa_state::RunStatus::Succeeded, "{rec:?}");
    // One table's row of the tenant's freshness, as the API shows it now.
    let freshness = |table: &'static str| {
        let (http, token) = (http.clone(), token.clone());
        async move {
            let fresh: Value = http
                .get(format!("http://{api}/api/admin/freshness"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            fresh["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["table"] == table)
                .cloned()
                .unwrap_or_else(|| panic!("no {table} freshness: {fresh}"))
        }
    };
    let tickets = freshness("service/tickets").await;
    assert_eq!(tickets["records"], 60);
    assert!(tickets["age_secs"].as_i64().unwrap() < 120, "{tickets}");
    // Read every 4 minutes by default, reference tables hourly; fresh, not overdue.
    assert_eq!(
        (tickets["refresh_secs"].as_u64(), tickets["overdue"].as_bool()),
        (Some(240), Some(false)),
        "{tickets}"
    );
    assert!(tickets["schedule"].is_null(), "{tickets}");
    let companies = freshness("company/companies").await;
    assert_eq!(companies["refresh_secs"], 3600, "{companies}");

    // A schedule of its own replaces the refresh intervals.
    let r = http
        .patch(format!("http://{api}/api/admin/services/connectwise"))
        .bearer_auth(&token)
        .json(&json!({"schedule": "*/15 * * * *"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let tickets = freshness("service/tickets").await;
    assert_eq!(tickets["schedule"], "*/15 * * * *", "{tickets}");
    assert!(tickets["refresh_secs"].is_null(), "{tickets}");

    // Switched off: a run of it is refused as a service the tenant does not have enabled.
    let r = http
        .patch(format!("http://{api}/api/admin/services/connectwise"))
        .bearer_auth(&token)
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(format!("http://{api}/api/admin/runs"))
        .bearer_auth(&token)
        .json(&json!({"service": "connectwise"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "{:?}", r.text().await);
}
