//! The noisy-neighbour reproduction, on the real embedded warehouse (DuckDB with a small
//! memory pool): one analyst of tenant A floods the API with heavy searches, 16 at a
//! time, while tenant B reads and syncs. A gets only answers and 429s (never a 5xx), B's
//! every request is answered, and B's sync commits every chunk (no write fails for want
//! of memory the reads hold).

mod common;

use std::sync::Arc;
use std::time::Duration;

use avesa_cli::app::App;
use avesa_config::Settings;
use avesa_pipeline::SyncRequest;
use avesa_sim::{AdvanceSpec, ConnectWiseSim, CwSizes};
use avesa_state::RunStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenants_heavy_searches_never_fail_another_tenant_or_its_sync() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::embedded(&dir.path().join("data"));
    // Small enough that unbounded concurrent searches ran DuckDB out of memory.
    settings.duckdb.memory_limit_bytes = 64_000_000;
    // A debug build's DuckDB is slow; the deadline is not what this test is about.
    settings.server.query_timeout = Duration::from_secs(120);
    let app = App::open_with(settings).await.unwrap();
    let sim = ConnectWiseSim::new();
    let (sim_addr, _sim) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let sizes = CwSizes::derived(30, 100, 1_500, 6_000, 8);
    let (a, _) =
        common::cw_tenant(&app, &sim, sim_addr, "noisy", "noisy_co", 11, sizes.clone()).await;
    let (b, b_creds) =
        common::cw_tenant(&app, &sim, sim_addr, "quiet", "quiet_co", 12, sizes).await;
    let pipeline = app.pipeline(app.pipeline_options());
    let first = pipeline.run(SyncRequest::default()).await.unwrap();
    assert_eq!(first.status, RunStatus::Succeeded, "{first:?}");

    let (api, token_a) = common::login_and_serve(&app, &a).await;
    app.store
        .create_user(avesa_state::NewUser {
            tenant_id: b.clone(),
            email: "bea@quiet.example".into(),
            name: "Bea".into(),
            role: avesa_model::Role::Analyst,
            password_hash: avesa_api::hash_password("a-long-enough-password"),
        })
        .await
        .unwrap();
    let token_b = common::login(api, &b, "bea@quiet.example", "a-long-enough-password").await;
    let http = reqwest::Client::new();
    let as_of = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);

    // A: 48 heavy searches (every one different, so none is answered from the cache),
    // 16 at a time.
    let flood = {
        let (http, token) = (http.clone(), token_a.clone());
        let as_of = as_of.clone();
        tokio::spawn(async move {
            let sem = Arc::new(tokio::sync::Semaphore::new(16));
            let mut tasks = Vec::new();
            for i in 0..48 {
                let permit = sem.clone().acquire_owned().await.unwrap();
                let (http, token) = (http.clone(), token.clone());
                let url = format!(
                    "http://{api}/api/time-entries?page_size=500&q={}&sort=notes&as_of={}",
                    ["e", "a", "o", "i"][i % 4],
                    urlencode(&as_of, i)
                );
                tasks.push(tokio::spawn(async move {
                    let r = http.get(url).bearer_auth(token).send().await.unwrap();
                    let status = r.status().as_u16();
                    let body = r.text().await.unwrap();
                    drop(permit);
                    (status, body)
                }));
            }
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        })
    };

    // B meanwhile: a sync of new changes, and reads.
    sim.advance(
        &b_creds.company_id,
        AdvanceSpec { duration: chrono::Duration::hours(6), updates: 200, creates: 80, deletes: 0 },
    );
    let b_sync = {
        let (pipeline, b) = (pipeline.clone(), b.clone());
        tokio::spawn(async move {
            pipeline.run(SyncRequest { tenant: Some(b), ..SyncRequest::default() }).await
        })
    };
    let mut b_statuses = Vec::new();
    for page in 1..=12 {
        let r = http
            .get(format!(
                "http://{api}/api/tickets?page={page}&page_size=50&sort=opened_at&order=desc"
            ))
            .bearer_auth(&token_b)
            .send()
            .await
            .unwrap();
        b_statuses.push((r.status().as_u16(), r.text().await.unwrap()));
    }

    let a_results = flood.await.unwrap();
    let run = b_sync.await.unwrap().unwrap();
    for (status, body) in &a_results {
        assert!(*status == 200 || *status == 429, "A got {status}: {body}");
    }
    assert!(a_results.iter().any(|(s, _)| *s == 200), "A's searches were all refused");
    for (status, body) in &b_statuses {
        assert_eq!(*status, 200, "B got {status}: {body}");
    }
    assert_eq!(run.status, RunStatus::Succeeded, "B's sync: {run:?}");
    let chunks = app.store.list_chunks(run.run_id).await.unwrap();
    assert!(!chunks.is_empty());
    assert!(
        chunks.iter().all(|c| c.status == avesa_state::ChunkStatus::Committed),
        "every chunk of B's sync committed: {chunks:?}"
    );
}

/// `as_of`, percent-encoded, a second earlier per `i` (so every search differs).
fn urlencode(as_of: &str, i: usize) -> String {
    let t =
        chrono::DateTime::parse_from_rfc3339(as_of).unwrap() - chrono::Duration::seconds(i as i64);
    t.to_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true).replace(':', "%3A")
}
