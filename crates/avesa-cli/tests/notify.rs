//! Run notifications and metrics: a webhook receives an event when a run succeeds or
//! fails (with no credential in it), chunk records carry retries and throttles, and
//! `/metrics` exports the pipeline's and the API's counters.

use std::sync::{Arc, Mutex};

use avesa_cli::app::App;
use avesa_cli::demo::{self, MAIN, demo_credentials};
use avesa_model::TenantId;
use avesa_pipeline::{PipelineOptions, SyncRequest, seal_service_config};
use avesa_sim::{ConnectWiseSim, CwCompanySpec, CwSizes, FaultRule};
use avesa_state::RunStatus;
use serde_json::Value;

async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(v);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_run_records_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(&dir.path().join("data")).await.unwrap();
    let (hook, events) = receiver().await;
    let sim = ConnectWiseSim::new();
    let creds = demo_credentials(&MAIN, "");
    sim.add_company(CwCompanySpec {
        company_id: creds.company_id.clone(),
        public_key: creds.public_key.clone(),
        private_key: creds.private_key.clone(),
        client_id: creds.client_id.clone(),
        seed: 3,
        sizes: CwSizes::derived(8, 20, 150, 300, 4),
        now: demo::sim_epoch(),
    });
    let (addr, _server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let good = TenantId::new("good").unwrap();
    let bad = TenantId::new("bad").unwrap();
    for (t, key) in [(&good, creds.private_key.clone()), (&bad, "not-the-key-42".to_owned())] {
        app.store.create_tenant(t, t.as_str()).await.unwrap();
        let mut c = demo_credentials(&MAIN, &format!("http://{addr}"));
        c.private_key = key;
        app.store
            .upsert_service(t, "connectwise", &seal_service_config(&app.cipher, t, &c.config()))
            .await
            .unwrap();
    }
    // One transient failure on the tickets table: retried, and the chunk record says so.
    sim.faults().inject(FaultRule::status(503).path("service/tickets?").times(1));
    let opts = PipelineOptions { webhook_url: Some(hook.clone()), ..Default::default() };
    let run = app
        .pipeline(opts.clone())
        .run(SyncRequest { tenant: Some(good.clone()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    let chunks = app.store.list_chunks(run.run_id).await.unwrap();
    let tickets: Vec<_> = chunks.iter().filter(|c| c.key.table == "service/tickets").collect();
    assert_eq!(tickets.iter().map(|c| c.counts.throttles).sum::<u64>(), 1, "{tickets:?}");
    assert!(tickets.iter().map(|c| c.counts.retries).sum::<u64>() >= 1);
    assert!(chunks.iter().all(|c| c.counts.millis > 0 || c.counts.records == 0));

    let run_bad = app
        .pipeline(opts)
        .run(SyncRequest { tenant: Some(bad.clone()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(run_bad.status, RunStatus::Failed);
    let events = events.lock().unwrap().clone();
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_eq!(events[0]["event"], "run.succeeded");
    assert_eq!(events[0]["run_id"], run.run_id.to_string());
    assert_eq!(events[0]["tenant_id"], "good");
    assert_eq!(events[0]["records"].as_u64().unwrap(), run.records());
    assert_eq!(events[1]["event"], "run.failed");
    assert!(events[1]["failed_tables"].as_u64().unwrap() >= 1);
    let text = events[1].to_string();
    assert!(text.contains("authentication failed"), "{text}");
    assert!(!text.contains("not-the-key-42"), "no credential in events");

    // Metrics: the pipeline's counters per service, table and tenant, and the API's own.
    let tickets_total = sim.truth(&creds.company_id).tickets.len() as f64;
    let n = app.metrics.counter_value(
        "avesa_records_total",
        &[("service", "connectwise"), ("table", "service/tickets"), ("tenant", "good")],
    );
    assert_eq!(n, tickets_total);
    let state = app.api_state().with_metrics_token(Some("a-scraper-token-for-tests".into()));
    let (api, _srv) =
        demo::serve_state(state, "127.0.0.1:0".parse().unwrap(), Default::default()).await.unwrap();
    let http = reqwest::Client::new();
    http.get(format!("http://{api}/health")).send().await.unwrap();
    // Only the scraper's token (or a platform admin) reads them: they name every tenant.
    let refused = http.get(format!("http://{api}/metrics")).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let refused =
        http.get(format!("http://{api}/metrics")).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let text = http
        .get(format!("http://{api}/metrics"))
        .bearer_auth("a-scraper-token-for-tests")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("# TYPE avesa_records_total counter"), "{text}");
    assert!(text.contains(r#"avesa_throttles_total{service="connectwise",table="service/tickets",tenant="good"} 1"#), "{text}");
    assert!(text.contains("avesa_chunk_duration_seconds_bucket"), "{text}");
    assert!(text.contains(r#"avesa_runs_total{status="failed"}"#), "{text}");
    assert!(
        text.contains(r#"avesa_http_requests_total{method="GET",route="/health",status="200"}"#),
        "{text}"
    );
    // Made-up methods do not make series of their own (the registry cannot be grown).
    for m in ["BREW", "PROPFIND", "XYZZY"] {
        let method = reqwest::Method::from_bytes(m.as_bytes()).unwrap();
        http.request(method, format!("http://{api}/health")).send().await.unwrap();
    }
    let text = http
        .get(format!("http://{api}/metrics"))
        .bearer_auth("a-scraper-token-for-tests")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for m in ["BREW", "PROPFIND", "XYZZY"] {
        assert!(!text.contains(m), "{m} made a series: {text}");
    }
    assert!(text.contains(r#"method="other""#), "{text}");
}
