//! Distributed-shape benchmark (scale-out issue): run by `bench/distributed.sh`.
//!
//! ```text
//! cargo run --release -p avesa-cli --example distributed_bench -- [TICKETS] [TENANTS] [WORKERS,…]
//! ```
//!
//! TICKETS (default 1,000,000) ConnectWise tickets over TENANTS tenants (default 10), from
//! the simulator in a child process (this binary with `--sim`):
//!
//! 1. the embedded shape (SQLite, local folder, DuckDB) syncs every tenant's tickets in one
//!    run, in this process;
//! 2. the distributed shape (PostgreSQL, S3, ClickHouse, NATS JetStream) does the same with
//!    1, 2 and 4 `avesa worker` processes (the release binary beside this one, two jobs
//!    each): wall time, records/s, and each worker's CPU seconds (user + system), so the
//!    scaling on a bigger machine can be estimated from CPU per record;
//! 3. the dashboard and a list page (page 3, 50 tickets, newest first) of one tenant, 50
//!    times each, on DuckDB and on ClickHouse over the same data: p50 and p99;
//! 4. a worker killed (SIGKILL) while it syncs a table: how long until another worker has
//!    finished the job, with a 10-second lease.
//!
//! Servers as the tests': `AVESA_TEST_POSTGRES_URL`, `AVESA_TEST_S3_ENDPOINT`,
//! `AVESA_TEST_CLICKHOUSE_URL`, `AVESA_TEST_NATS_URL` (defaults as in `scripts/services.sh`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use avesa_cli::app::App;
use avesa_cli::demo::{MAIN, demo_credentials};
use avesa_model::{CanonicalTable, TenantId};
use avesa_pipeline::{PipelineOptions, SyncRequest, seal_service_config};
use avesa_sim::{ConnectWiseSim, CwSizes};
use avesa_warehouse::{ListQuery, Warehouse};
use sqlx::Connection;

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

/// User + system CPU seconds of a process so far (from `/proc`).
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // After the command name: state is field 0, utime 11, stime 12.
    (ticks(11) + ticks(12)) / 100.0
}

fn companies(tickets: usize, tenants: usize) -> Vec<(String, CwSizes)> {
    (0..tenants)
        .map(|i| (format!("t{i:02}"), CwSizes::derived(50, 100, tickets / tenants, 10, 20)))
        .collect()
}

/// `--sim TICKETS TENANTS`: serves the companies, prints `ADDR a.b.c.d:p`, serves until
/// stdin closes.
async fn serve_sim(tickets: usize, tenants: usize) {
    let sim = ConnectWiseSim::new();
    for (i, (id, sizes)) in companies(tickets, tenants).into_iter().enumerate() {
        let mut creds = demo_credentials(&MAIN, "");
        creds.company_id = id;
        sim.add_company(creds.company_spec(31 + i as u64, sizes));
    }
    let (addr, _server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    println!("ADDR {addr}");
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {}
    })
    .await
    .unwrap();
}

async fn add_tenants(app: &App, api: &str, tenants: usize) -> Vec<TenantId> {
    let mut out = Vec::new();
    for (id, _) in companies(0, tenants) {
        let t = TenantId::new(&id).unwrap();
        app.store.create_tenant(&t, &id).await.unwrap();
        let mut creds = demo_credentials(&MAIN, api);
        creds.company_id = id;
        let mut cfg = creds.config();
        cfg.creds.0.insert("requests_per_second".into(), "1000".into());
        app.store
            .upsert_service(&t, "connectwise", &seal_service_config(&app.cipher, &t, &cfg))
            .await
            .unwrap();
        out.push(t);
    }
    out
}

fn tickets_of_all() -> SyncRequest {
    SyncRequest {
        service: Some("connectwise".into()),
        tables: vec!["service/tickets".into()],
        ..Default::default()
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// p50 and p99 (ms) of 50 dashboards and 50 list pages of `t`.
async fn latencies(wh: &dyn Warehouse, t: &TenantId) -> [(f64, f64); 2] {
    let q = ListQuery {
        page: 3,
        page_size: 50,
        sort: Some("opened_at".into()),
        descending: true,
        ..Default::default()
    };
    let mut out = [(0.0, 0.0); 2];
    for (k, slot) in out.iter_mut().enumerate() {
        let mut ms = Vec::new();
        for _ in 0..50 {
            let started = Instant::now();
            if k == 0 {
                wh.dashboard(t).await.unwrap();
            } else {
                wh.list(t, CanonicalTable::Tickets, &q).await.unwrap();
            }
            ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        *slot = (pct(&ms, 0.5), pct(&ms, 0.99));
    }
    out
}

/// A distributed installation on fresh databases, a bucket and a stream of its own.
struct Cluster {
    env: BTreeMap<String, String>,
    app: App,
    dir: tempfile::TempDir,
    names: (String, String),
}

impl Cluster {
    async fn new(tag: &str, lease_secs: u64) -> Cluster {
        let postgres = env_or("AVESA_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test");
        let s3 = env_or("AVESA_TEST_S3_ENDPOINT", "http://127.0.0.1:19900");
        let ch = env_or("AVESA_TEST_CLICKHOUSE_URL", "http://127.0.0.1:18123");
        let nats = env_or("AVESA_TEST_NATS_URL", "nats://127.0.0.1:4222");
        let name = format!("avesa_bench_{tag}_{}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&postgres).await.unwrap();
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .unwrap();
        sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
        let bucket = name.replace('_', "-");
        reqwest::Client::new().put(format!("{s3}/{bucket}")).send().await.unwrap();
        let mut pg = reqwest::Url::parse(&postgres).unwrap();
        pg.set_path(&name);
        let env: BTreeMap<String, String> = [
            ("AVESA_STATE", pg.to_string()),
            ("AVESA_LAKE", format!("s3://{bucket}/lake")),
            ("AVESA_S3_ENDPOINT", s3),
            ("AVESA_S3_ACCESS_KEY_ID", "bench".into()),
            ("AVESA_S3_SECRET_ACCESS_KEY", "bench-secret".into()),
            (
                "AVESA_WAREHOUSE",
                format!("{}/{name}", ch.replacen("http://", "clickhouse+http://", 1)),
            ),
            ("AVESA_QUEUE", nats),
            ("AVESA_QUEUE_STREAM", name.to_uppercase()),
            ("AVESA_QUEUE_LEASE_SECS", lease_secs.to_string()),
            ("AVESA_MASTER_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=".into()),
            ("AVESA_JWT_SECRET", "a-bench-signing-key-of-at-least-32-characters".into()),
            ("AVESA_LOG", "warn".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let dir = tempfile::tempdir().unwrap();
        let inputs = avesa_config::Inputs {
            env: env.clone(),
            flags: vec![("data_dir", "--data-dir", dir.path().join("setup").display().to_string())],
            working_dir: dir.path().to_owned(),
            ..Default::default()
        };
        let settings = avesa_config::resolve(&inputs).unwrap().settings;
        let app = App::open_with(settings).await.unwrap();
        Cluster { env, app, dir, names: (name, ch) }
    }

    fn worker(&self, i: usize) -> Child {
        let bin =
            std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("avesa");
        Command::new(bin)
            .env_clear()
            .envs(&self.env)
            .arg("--data-dir")
            .arg(self.dir.path().join(format!("w{i}")))
            .args(["worker", "--concurrency", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the release avesa binary beside this example (cargo build --release)")
    }

    async fn pipeline(&self) -> avesa_pipeline::Pipeline {
        self.app.serving_pipeline().await.unwrap()
    }

    async fn drop_all(&self) {
        if let Some(q) = self.pipeline().await.queue() {
            let _ = q.delete().await;
        }
        let _ = reqwest::Client::new()
            .post(&self.names.1)
            .body(format!("DROP DATABASE IF EXISTS {}", self.names.0))
            .send()
            .await;
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sim_mode = args.first().is_some_and(|a| a == "--sim");
    let nums: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let tickets = nums.first().copied().unwrap_or(1_000_000);
    let tenants = nums.get(1).copied().unwrap_or(10);
    if sim_mode {
        serve_sim(tickets, tenants).await;
        return;
    }
    let worker_counts: Vec<usize> = args
        .get(2)
        .map(|w| w.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 4]);

    let mut sim: Child = Command::new(std::env::current_exe().unwrap())
        .args(["--sim", &tickets.to_string(), &tenants.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(sim.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let api = format!("http://{}", first.trim().strip_prefix("ADDR ").unwrap());
    println!("{tickets} tickets over {tenants} tenants; simulator at {api}");

    // 1. Embedded.
    let dir = tempfile::tempdir().unwrap();
    let embedded = App::open(&dir.path().join("data")).await.unwrap();
    let ts = add_tenants(&embedded, &api, tenants).await;
    let cpu0 = cpu_secs(std::process::id());
    let started = Instant::now();
    let run = embedded.pipeline(PipelineOptions::default()).run(tickets_of_all()).await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_secs(std::process::id()) - cpu0;
    println!(
        "embedded (SQLite, local folder, DuckDB; one process): {} records in {secs:.1}s = {:.0} rec/s, \
         {cpu:.1} CPU-s ({:.0} CPU-µs/record), status {}",
        run.records(),
        run.records() as f64 / secs,
        cpu * 1e6 / run.records().max(1) as f64,
        run.status.as_str()
    );

    // 2. Distributed, with 1, 2, 4 workers.
    let mut first_cluster = None;
    for &n in &worker_counts {
        let cluster = Cluster::new(&format!("w{n}"), 60).await;
        add_tenants(&cluster.app, &api, tenants).await;
        let mut workers: Vec<Child> = (0..n).map(|i| cluster.worker(i)).collect();
        let pipeline = cluster.pipeline().await;
        let started = Instant::now();
        let run = pipeline.run_and_wait(tickets_of_all()).await.unwrap();
        let secs = started.elapsed().as_secs_f64();
        let cpus: Vec<f64> = workers.iter().map(|w| cpu_secs(w.id())).collect();
        let total: f64 = cpus.iter().sum();
        println!(
            "distributed, {n} worker(s) (PostgreSQL, S3, ClickHouse, NATS): {} records in {secs:.1}s = {:.0} rec/s, \
             status {}; worker CPU-s {:?} = {total:.1} ({:.0} CPU-µs/record in workers)",
            run.records(),
            run.records() as f64 / secs,
            run.status.as_str(),
            cpus.iter().map(|c| (c * 10.0).round() / 10.0).collect::<Vec<_>>(),
            total * 1e6 / run.records().max(1) as f64
        );
        for w in &mut workers {
            let _ = w.kill();
            let _ = w.wait();
        }
        match first_cluster {
            None => first_cluster = Some(cluster),
            Some(_) => cluster.drop_all().await,
        }
    }

    // 3. Query latency on the same data.
    let cluster = first_cluster.expect("at least one distributed run");
    let t = &ts[0];
    for (label, wh) in
        [("DuckDB", embedded.warehouse.clone()), ("ClickHouse", cluster.app.warehouse.clone())]
    {
        let [(d50, d99), (l50, l99)] = latencies(wh.as_ref(), t).await;
        println!(
            "{label}: dashboard p50 {d50:.1} ms p99 {d99:.1} ms; ticket list page p50 {l50:.1} ms p99 {l99:.1} ms \
             (tenant of {} tickets, {} tenants in the warehouse)",
            tickets / tenants,
            tenants
        );
    }
    cluster.drop_all().await;

    // 4. Takeover: a worker killed while it syncs a table.
    let lease = 10;
    let cluster = Cluster::new("takeover", lease).await;
    add_tenants(&cluster.app, &api, 1).await;
    let mut workers: Vec<Child> = (0..2).map(|i| cluster.worker(i)).collect();
    let pipeline = cluster.pipeline().await;
    let queued = pipeline.run(tickets_of_all()).await.unwrap();
    // Wait for a committed chunk, then kill the worker holding the table.
    let holder = loop {
        let chunks = cluster.app.store.list_chunks(queued.run_id).await.unwrap();
        let workers_seen = cluster.app.store.list_workers().await.unwrap();
        if chunks.iter().any(|c| c.status == avesa_state::ChunkStatus::Committed)
            && let Some(w) = workers_seen.iter().find(|w| w.running > 0)
        {
            break w.pid;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let killed_at = Instant::now();
    if let Some(w) = workers.iter_mut().find(|w| w.id() == holder) {
        let _ = w.kill();
    }
    loop {
        let r = cluster.app.store.get_run(queued.run_id).await.unwrap().unwrap();
        if r.status != avesa_state::RunStatus::Running {
            println!(
                "takeover: worker killed mid-table; the job finished on another {:.1}s later \
                 (lease {lease}s; the rest of the table's sync included), run {}",
                killed_at.elapsed().as_secs_f64(),
                r.status.as_str()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for w in &mut workers {
        let _ = w.kill();
        let _ = w.wait();
    }
    cluster.drop_all().await;
    drop(sim.stdin.take());
    let _ = sim.wait();
}
