//! The distributed shape as an operator runs it: `avesa serve` and three `avesa worker`
//! processes over PostgreSQL, an S3 bucket, ClickHouse and NATS JetStream, configured by
//! environment variables only, syncing both demo tenants (ConnectWise; ServiceNow,
//! Salesforce and Microsoft 365). Full syncs are started through the API; while their
//! tables run, one worker holding a table is paused (SIGSTOP) past its lease and resumed,
//! another is killed (SIGKILL) and a fresh one started, and the vendor's data changes. The
//! runs must still succeed; after an incremental run the warehouse must equal the
//! simulator's truth exactly, every sampled history be a gap-free chain of distinct
//! versions, the bucket hold one raw file per committed chunk, the paused worker's late
//! commit be refused (fenced), `/health/detailed` and `/metrics` report the live workers
//! and an empty queue, and the API answer byte for byte as an embedded installation
//! synced from the same vendors.
//!
//! Servers: as `scale_out.rs`, plus `AVESA_TEST_NATS_URL` (default
//! `nats://127.0.0.1:4222`); the test makes its own database, bucket and stream.

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use avesa_cli::app::App;
use avesa_cli::demo::{self, MAIN, SECOND, SecondSizes};
use avesa_config::{Inputs, resolve};
use avesa_model::{CanonicalTable, TenantId};
use avesa_pipeline::{PipelineOptions, SyncRequest};
use avesa_sim::{CwSizes, FaultKind, FaultRule};
use avesa_state::{ChunkStatus, RunStatus};
use avesa_warehouse::ListQuery;
use serde_json::Value;
use sqlx::{Connection, PgConnection};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The scraper token `/metrics` wants.
const METRICS_TOKEN: &str = "a-scraper-token-for-tests";
const LEASE_SECS: u64 = 5;

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

/// A process of the cluster, its output collected as it comes.
struct Proc {
    child: Child,
    pid: u32,
    out: Arc<Mutex<String>>,
}

impl Proc {
    fn spawn(env: &BTreeMap<String, String>, data: &std::path::Path, args: &[&str]) -> Proc {
        let mut c = Command::new(env!("CARGO_BIN_EXE_avesa"));
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .arg("--data-dir")
            .arg(data)
            .arg("--log")
            .arg("info,avesa_connectors=warn")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = c.spawn().unwrap();
        let pid = child.id().unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let sink = out.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    sink.lock().unwrap().push_str(&(l + "\n"));
                }
            });
        }
        Proc { child, pid, out }
    }

    fn output(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    /// Waits until the output contains `needle`; the output.
    async fn wait_for(&self, needle: &str, within: Duration) -> String {
        let until = tokio::time::Instant::now() + within;
        loop {
            let out = self.output();
            if out.contains(needle) {
                return out;
            }
            assert!(tokio::time::Instant::now() < until, "no {needle:?} within {within:?}:\n{out}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .args([sig, &self.pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {}", self.pid);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_three_workers_survive_a_paused_and_a_killed_worker() {
    let postgres = env_or("AVESA_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test");
    let s3 = env_or("AVESA_TEST_S3_ENDPOINT", "http://127.0.0.1:19900");
    let clickhouse = env_or("AVESA_TEST_CLICKHOUSE_URL", "http://127.0.0.1:18123");
    let nats = env_or("AVESA_TEST_NATS_URL", "nats://127.0.0.1:4222");
    let name = format!("avesa_dist_{}", uuid::Uuid::new_v4().simple());
    let stream = name.to_uppercase();
    let mut admin = PgConnection::connect(&postgres).await.expect("PostgreSQL");
    sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    let bucket = name.replace('_', "-");
    let made = reqwest::Client::new()
        .put(format!("{s3}/{bucket}"))
        .send()
        .await
        .expect("the S3 test server");
    assert!(made.status().is_success(), "{}", made.status());
    let mut pg = reqwest::Url::parse(&postgres).unwrap();
    pg.set_path(&name);
    let ch = clickhouse.replacen("http://", "clickhouse+http://", 1);
    let env: BTreeMap<String, String> = [
        ("AVESA_STATE", pg.to_string()),
        ("AVESA_LAKE", format!("s3://{bucket}/lake")),
        ("AVESA_S3_ENDPOINT", s3.clone()),
        ("AVESA_S3_ACCESS_KEY_ID", "avesa-test".into()),
        ("AVESA_S3_SECRET_ACCESS_KEY", "avesa-test-secret".into()),
        ("AVESA_WAREHOUSE", format!("{ch}/{name}")),
        ("AVESA_QUEUE", nats.clone()),
        ("AVESA_QUEUE_STREAM", stream.clone()),
        ("AVESA_QUEUE_LEASE_SECS", LEASE_SECS.to_string()),
        // Shared by every process: credentials sealed by one are opened by the others.
        ("AVESA_MASTER_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into()),
        ("AVESA_JWT_SECRET", "a-test-signing-key-of-at-least-32-characters".into()),
        ("AVESA_METRICS_TOKEN", METRICS_TOKEN.into()),
        ("AVESA_CHUNK_RECORDS", "300".into()),
        ("AVESA_PAGE_SIZE", "100".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();

    let result = tokio::spawn(check(env.clone(), pg.to_string())).await;

    if let Ok(q) =
        avesa_pipeline::queue::JobQueue::connect(&nats, &stream, Duration::from_secs(LEASE_SECS))
            .await
    {
        let _ = q.delete().await;
    }
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    let _ = reqwest::Client::new()
        .post(&clickhouse)
        .body(format!("DROP DATABASE IF EXISTS {name}"))
        .send()
        .await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Starts a run of the caller's tenant through the API; its id.
async fn start_run(api: std::net::SocketAddr, token: &str, body: Value) -> avesa_model::RunId {
    let r = reqwest::Client::new()
        .post(format!("http://{api}/api/admin/runs"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    r.json::<Value>().await.unwrap()["run_id"].as_str().unwrap().parse().unwrap()
}

async fn check(env: BTreeMap<String, String>, pg: String) {
    let dir = tempfile::tempdir().unwrap();
    let inputs = Inputs {
        env: env.clone(),
        flags: vec![("data_dir", "--data-dir", dir.path().join("setup").display().to_string())],
        working_dir: dir.path().to_owned(),
        ..Inputs::default()
    };
    let settings = resolve(&inputs).expect("the distributed settings").settings;
    let app = App::open_with(settings).await.expect("opening the distributed backends");

    // Both demo tenants: Site Technology on ConnectWise, Northwind on ServiceNow,
    // Salesforce and Microsoft 365. ConnectWise's pages are a little slow, so that tables
    // are still running when workers are paused and killed.
    let mut sims = demo::demo_sims(
        &CwSizes::derived(40, 200, 2400, 1600, 8),
        &SecondSizes::small(),
        demo::sim_epoch(),
    );
    sims.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    for t in [&MAIN, &SECOND] {
        demo::ensure_tenant(&app, t, &sims.configs(t)).await.unwrap();
    }
    sims.connectwise.faults().inject(FaultRule::new(FaultKind::Slow { millis: 120 }));
    let cw = format!("http://{}", sims.addrs["connectwise"]);

    // The cluster: one serving process and three workers, each with its own data folder.
    let serve = Proc::spawn(
        &env,
        &dir.path().join("serve"),
        &["serve", "--no-scheduler", "--bind", "127.0.0.1:0"],
    );
    let line = serve.wait_for("AVESA is serving on http://", Duration::from_secs(60)).await;
    let api: std::net::SocketAddr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let spawn_worker = |i: usize| {
        Proc::spawn(&env, &dir.path().join(format!("worker{i}")), &["worker", "--concurrency", "2"])
    };
    let mut workers: Vec<Proc> = (0..3).map(spawn_worker).collect();
    for w in &workers {
        w.wait_for("takes up to 2 job(s)", Duration::from_secs(60)).await;
    }

    // A full sync of each tenant, started as its admin would.
    let main_token =
        common::login(api, &TenantId::new(MAIN.id).unwrap(), MAIN.email, MAIN.password).await;
    let second_token =
        common::login(api, &TenantId::new(SECOND.id).unwrap(), SECOND.email, SECOND.password).await;
    let runs = [
        start_run(api, &main_token, serde_json::json!({"full": true})).await,
        start_run(api, &second_token, serde_json::json!({"full": true})).await,
    ];

    // Pause a worker that holds a table past its lease, and kill another that holds one.
    let mut db = PgConnection::connect(&pg).await.unwrap();
    let holder_pid = |holder: &str| -> Option<u32> {
        // `{host}-{pid}-{suffix}/{run}`
        let worker = holder.split('/').next()?;
        worker.rsplit('-').nth(1)?.parse().ok()
    };
    let mut paused = None;
    let mut killed = None;
    let until = tokio::time::Instant::now() + Duration::from_secs(90);
    while paused.is_none() || killed.is_none() {
        assert!(tokio::time::Instant::now() < until, "no two workers ever held tables");
        let holders: Vec<String> = sqlx::query_scalar(
            "SELECT holder FROM leases WHERE name LIKE 'table/%' AND expires_at > now()",
        )
        .fetch_all(&mut db)
        .await
        .unwrap();
        for pid in holders.iter().filter_map(|h| holder_pid(h)) {
            let Some(i) = workers.iter().position(|w| w.pid == pid) else { continue };
            if paused.is_none() {
                workers[i].signal("-STOP");
                paused = Some(i);
            } else if killed.is_none() && paused != Some(i) {
                workers[i].child.start_kill().unwrap();
                killed = Some(i);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (paused, killed) = (paused.unwrap(), killed.unwrap());
    let killed_pid = workers[killed].pid;
    // The vendor's data moves on meanwhile, and the killed worker is started again.
    let r = reqwest::Client::new()
        .post(format!("{cw}/_sim/advance?company={}", MAIN.id))
        .json(&serde_json::json!({"seconds": 1800, "updates": 40, "creates": 10, "deletes": 0}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    workers.push(spawn_worker(3));
    tokio::time::sleep(Duration::from_secs(LEASE_SECS + 4)).await;
    workers[paused].signal("-CONT");

    // The runs finish on the surviving workers.
    for run in runs {
        let run =
            common::finished(app.store.as_ref(), run, Duration::from_secs(240), || serve.output())
                .await;
        let logs = || workers.iter().map(Proc::output).collect::<Vec<_>>().join("\n----\n");
        assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}\n{}", logs());
    }
    // The paused worker woke up without its lease: its late commit was refused, and once
    // it has voided its chunks it runs nothing (its heartbeat says so).
    workers[paused].wait_for("lost to another worker", Duration::from_secs(60)).await;
    let since = chrono::Utc::now();
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let idle = app
            .store
            .list_workers()
            .await
            .unwrap()
            .iter()
            .any(|w| w.pid == workers[paused].pid && w.running == 0 && w.seen_at > since);
        if idle {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "{}", workers[paused].output());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // One raw file per committed chunk that read records: the paused worker's void chunk
    // and the killed worker's unfinished one left nothing behind.
    for t in [&MAIN, &SECOND] {
        let mut committed = 0;
        for run in app.store.list_runs(Some(&TenantId::new(t.id).unwrap()), 10).await.unwrap() {
            for c in app.store.list_chunks(run.id).await.unwrap() {
                if c.status == ChunkStatus::Committed
                    && c.counts.records > 0
                    && c.key.tenant_id.as_str() == t.id
                {
                    committed += 1;
                }
            }
        }
        let raw = app.lake.list(&format!("{}/raw", t.id)).await.unwrap();
        assert_eq!(raw.len(), committed, "{}: raw files vs committed chunks: {raw:?}", t.id);
    }

    // An incremental run of each tenant lands the vendor's changes.
    for token in [&main_token, &second_token] {
        let run = start_run(api, token, serde_json::json!({})).await;
        let run =
            common::finished(app.store.as_ref(), run, Duration::from_secs(120), || serve.output())
                .await;
        assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    }

    // Site Technology's warehouse equals the vendor's truth, and every sampled history is
    // a gap-free chain of distinct versions (no version twice).
    let t = TenantId::new(MAIN.id).unwrap();
    let truth: Value = reqwest::get(format!("{cw}/_sim/truth?company={}", MAIN.id))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (table, key, field, truth_field) in [
        (CanonicalTable::Companies, "companies", "name", "name"),
        (CanonicalTable::Contacts, "contacts", "last_name", "lastName"),
        (CanonicalTable::Tickets, "tickets", "status", "status"),
        (CanonicalTable::TimeEntries, "time_entries", "actual_hours", "actualHours"),
    ] {
        let want: BTreeMap<String, Value> = truth[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let v = match &r[truth_field] {
                    Value::Object(o) => o["name"].clone(),
                    other => other.clone(),
                };
                (format!("connectwise:{}", r["id"]), norm(v))
            })
            .collect();
        let page = app
            .warehouse
            .list(&t, table, &ListQuery { page_size: 100_000, ..Default::default() })
            .await
            .unwrap();
        let got: BTreeMap<String, Value> = page
            .items
            .iter()
            .map(|r| (r["id"].as_str().unwrap().to_owned(), norm(r[field].clone())))
            .collect();
        assert_eq!(page.total as usize, page.items.len());
        assert_eq!(got, want, "{key}: current state differs from the simulator's truth");
        let step = (page.items.len() / 40).max(1);
        for r in page.items.iter().step_by(step) {
            let id: avesa_warehouse::EntityId = r["id"].as_str().unwrap().parse().unwrap();
            let h = app.warehouse.history(&t, table, &id).await.unwrap();
            for (i, v) in h.iter().enumerate() {
                assert_eq!(v["is_current"], Value::Bool(i + 1 == h.len()), "{key} {id}: {h:#?}");
                if i + 1 < h.len() {
                    assert_eq!(v["valid_to"], h[i + 1]["valid_from"], "{key} {id}: {h:#?}");
                    assert_ne!(v["valid_from"], h[i + 1]["valid_from"], "{key} {id}: {h:#?}");
                }
            }
        }
    }

    // The serving process reports the live workers (the restarted one among them, the
    // killed one dead) and nothing queued.
    let http = reqwest::Client::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let h: Value = http
            .get(format!("http://{api}/health/detailed"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let cluster = &h["checks"]["cluster"];
        let settled = cluster["workers_alive"] == 3
            && cluster["queue"] == serde_json::json!({"waiting": 0, "running": 0});
        if settled {
            assert_eq!(h["status"], "ok", "{h:#}");
            let dead = cluster["workers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|w| w["pid"] == killed_pid)
                .expect("the killed worker is still listed");
            assert_eq!(dead["alive"], false, "{h:#}");
            break;
        }
        assert!(tokio::time::Instant::now() < until, "the cluster did not settle: {h:#}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let anonymous = http.get(format!("http://{api}/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401, "metrics name every tenant: not for anyone");
    let metrics = http
        .get(format!("http://{api}/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await;
    let metrics = metrics.unwrap();
    assert!(metrics.contains("avesa_workers_alive 3"), "{metrics}");
    assert!(metrics.contains("avesa_queue_jobs{state=\"waiting\"} 0"), "{metrics}");

    // The API answers as an embedded installation synced from the same vendors, for both
    // tenants (histories aside: the distributed side saw the data move mid-run).
    sims.connectwise.faults().clear();
    let embedded = App::open(&dir.path().join("embedded")).await.unwrap();
    for t in [&MAIN, &SECOND] {
        demo::ensure_tenant(&embedded, t, &sims.configs(t)).await.unwrap();
    }
    let summary = embedded
        .pipeline(PipelineOptions { chunk_records: 300, page_size: 100, ..Default::default() })
        .run(SyncRequest { full: true, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(summary.status, RunStatus::Succeeded, "{summary:#?}");
    let (e_addr, _e) =
        avesa_cli::demo::serve(&embedded, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    for (t, token) in [(&MAIN, &main_token), (&SECOND, &second_token)] {
        let id = TenantId::new(t.id).unwrap();
        let e_token = common::login(e_addr, &id, t.email, t.password).await;
        common::assert_same_answers((e_addr, &e_token), (api, token), false).await;
    }

    // A run asked to stop stops on the workers: each of its tables commits what it has
    // read and is recorded cancelled (not handed back to the queue), and the run ends
    // cancelled with nothing left queued or leased.
    sims.connectwise.faults().inject(FaultRule::new(FaultKind::Slow { millis: 120 }));
    let run = start_run(api, &main_token, serde_json::json!({"full": true})).await;
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let held: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM leases WHERE holder LIKE $1 AND expires_at > now()",
        )
        .bind(format!("%/{run}"))
        .fetch_one(&mut db)
        .await
        .unwrap();
        if held > 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "no worker took a table of {run}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = http
        .post(format!("http://{api}/api/admin/runs/{run}/cancel"))
        .bearer_auth(&main_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let stopped =
        common::finished(app.store.as_ref(), run, Duration::from_secs(60), || serve.output()).await;
    assert_eq!(stopped.status, RunStatus::Cancelled, "{stopped:#?}");
    assert!(stopped.cancel_requested);
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let h: Value = http
            .get(format!("http://{api}/health/detailed"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if h["checks"]["cluster"]["queue"] == serde_json::json!({"waiting": 0, "running": 0}) {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "the stopped run's jobs stayed queued: {h:#}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    for w in &mut workers {
        let _ = w.child.start_kill();
    }
    drop(serve);
}

/// Numbers compare by value (2 and 2.0 are the same hours).
fn norm(v: Value) -> Value {
    match v.as_f64() {
        Some(f) => serde_json::json!(f),
        None => v,
    }
}
