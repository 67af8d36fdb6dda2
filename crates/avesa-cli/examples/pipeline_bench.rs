//! End-to-end pipeline benchmark (issue 4): simulator → connector → raw and canonical
//! Parquet → DuckDB SCD2 → commit, on the embedded defaults. Run by `bench/pipeline.sh`.
//!
//! ```text
//! cargo run [--release] -p avesa-cli --example pipeline_bench -- [TICKETS] [TENANTS]
//! ```
//!
//! The ConnectWise simulator runs in a child process (this binary with `--sim`), so the
//! peak RSS reported is the pipeline's own.
//!
//! 1. One tenant with TICKETS / 10 tickets, then one with TICKETS (default 1,000,000):
//!    records/s, MB/s of vendor JSON, and the pipeline's peak RSS after each (the same
//!    peak for a table ten times larger: memory independent of table size). Then the
//!    simulator's serving ceiling: the same requests replayed by a bare client.
//! 2. 1% of the big table's tickets change; the incremental sync's wall time.
//! 3. TENANTS tenants (default 10) × four tables in one run, against one tenant alone.
//!
//! `pipeline_bench ingest [TICKETS]` (`bench/ingest.sh`) measures the ingest speed of one
//! table instead, each on a fresh installation against the same simulator process: a full
//! first sync of TICKETS tickets read sequentially and in partitions side by side, on
//! loopback and with every vendor request 150 ms slow under a budget of 50 requests/s
//! (what a real vendor allows); records/s, the pipeline's CPU-µs per record (user +
//! system) and its peak RSS for each; then, after 1% of the tickets changed, an
//! incremental sync on the sequential installation and on the eight partitions' one;
//! then the SCD2 apply alone of another 1% change (the batches a sync of it landed,
//! applied to a warehouse holding every ticket's previous version).
//!
//! `pipeline_bench services [RECORDS]` (also `bench/ingest.sh`) measures the same for the
//! other vendors, from their simulators in a child process holding RECORDS (default
//! 100,000) ServiceNow incidents, Salesforce cases and Microsoft 365 users: incidents and
//! cases sequentially and in partitions, users (a Graph delta read, forward-only)
//! sequentially whatever the partitions asked.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use avesa_cli::app::App;
use avesa_cli::demo::{MAIN, SECOND, SecondSizes, demo_credentials, demo_sims};
use avesa_model::{CanonicalTable, TenantId};
use avesa_pipeline::{PipelineOptions, ServiceConfig, SyncRequest, seal_service_config};
use avesa_sim::{ConnectWiseSim, CwCompanySpec, CwSizes, GraphSizes, SfSizes, SnSizes};
use serde_json::Value;

fn peak_rss_mb(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The companies of the run: (id, sizes).
fn companies(tickets: usize, tenants: usize) -> Vec<(String, CwSizes)> {
    let small = CwSizes::derived(100, 400, 5_000, 5_000, 10);
    let mut v = vec![
        ("tenth".to_owned(), CwSizes::derived(200, 500, tickets / 10, 10, 25)),
        ("big".to_owned(), CwSizes::derived(200, 500, tickets, 10, 25)),
    ];
    for n in [1, tenants] {
        for i in 0..n {
            v.push((format!("n{n}t{i:02}"), small.clone()));
        }
    }
    v
}

fn spec(id: &str, sizes: CwSizes, seed: u64) -> CwCompanySpec {
    let mut creds = demo_credentials(&MAIN, "");
    creds.company_id = id.to_owned();
    creds.company_spec(seed, sizes)
}

/// `--sim TICKETS TENANTS`: generates the companies, serves them, prints `ADDR a.b.c.d:p`,
/// and serves until stdin closes.
async fn serve_sim(tickets: usize, tenants: usize) {
    let sim = ConnectWiseSim::new();
    for (i, (id, sizes)) in companies(tickets, tenants).into_iter().enumerate() {
        sim.add_company(spec(&id, sizes, 11 + i as u64));
    }
    let (addr, _server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    println!("ADDR {addr}");
    wait_for_stdin().await;
}

/// An installation on the embedded defaults in `dir`; `AVESA_BENCH_DUCKDB_MB` sets
/// DuckDB's memory limit (`duckdb.memory_limit`) in MB, to measure its share of the RSS,
/// and `AVESA_BENCH_CHECKPOINT_MB` its `duckdb.checkpoint_threshold`.
async fn open_app(dir: &std::path::Path) -> App {
    let mut settings = avesa_config::Settings::embedded(dir);
    let mb = |var: &str| std::env::var(var).ok().and_then(|v| v.parse::<u64>().ok());
    if let Some(mb) = mb("AVESA_BENCH_DUCKDB_MB") {
        settings.duckdb.memory_limit = format!("{mb}MB");
        settings.duckdb.memory_limit_bytes = mb * 1_000_000;
    }
    if let Some(mb) = mb("AVESA_BENCH_CHECKPOINT_MB") {
        settings.duckdb.checkpoint_threshold = format!("{mb}MB");
        settings.duckdb.checkpoint_threshold_bytes = mb * 1_000_000;
    }
    App::open_with(settings).await.unwrap()
}

async fn tenant(app: &App, id: &str, api: &str) -> TenantId {
    tenant_with_budget(app, id, api, 1000).await
}

async fn tenant_with_budget(app: &App, id: &str, api: &str, rps: u32) -> TenantId {
    let mut creds = demo_credentials(&MAIN, api);
    creds.company_id = id.to_owned();
    tenant_with_service(app, id, creds.config(), rps).await
}

/// A new tenant `id` with the service `cfg`, allowed `rps` requests a second: the
/// simulators impose no limit, and a spec's default budget (8 requests/s for real
/// ConnectWise) would be the bottleneck here.
async fn tenant_with_service(app: &App, id: &str, mut cfg: ServiceConfig, rps: u32) -> TenantId {
    let t = TenantId::new(id).unwrap();
    app.store.create_tenant(&t, id).await.unwrap();
    cfg.creds.0.insert("requests_per_second".into(), rps.to_string());
    app.store
        .upsert_service(&t, &cfg.service, &seal_service_config(&app.cipher, &t, &cfg))
        .await
        .unwrap();
    t
}

/// The simulator at `api` changes `updates` of company `big`'s tickets, an hour later.
async fn advance(http: &reqwest::Client, api: &str, updates: usize) {
    let r = http
        .post(format!("{api}/_sim/advance?company=big"))
        .json(&serde_json::json!({"seconds": 3600, "updates": updates}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

fn tickets_req(t: &TenantId) -> SyncRequest {
    SyncRequest {
        tenant: Some(t.clone()),
        service: Some("connectwise".into()),
        tables: vec!["service/tickets".into()],
        ..Default::default()
    }
}

/// A full first sync of one tenant's tickets; returns (records, seconds).
async fn full_sync(app: &App, t: &TenantId, label: &str) -> (u64, f64) {
    let started = Instant::now();
    let run = app.pipeline(PipelineOptions::default()).run(tickets_req(t)).await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    let chunks = app.store.list_chunks(run.run_id).await.unwrap();
    let bytes: u64 = chunks.iter().map(|c| c.counts.bytes).sum();
    let pages: u64 = chunks.iter().map(|c| c.counts.pages).sum();
    println!(
        "{label}: {} records in {secs:.1}s = {:.0} rec/s, {:.1} MB/s vendor JSON ({:.0} MB), \
         {pages} pages, {} chunks, status {}; pipeline peak RSS so far {:.0} MB",
        run.records(),
        run.records() as f64 / secs,
        bytes as f64 / 1e6 / secs,
        bytes as f64 / 1e6,
        chunks.len(),
        run.status.as_str(),
        peak_rss_mb("self")
    );
    (run.records(), secs)
}

/// This process's CPU time so far (user + system), from `/proc/self/stat`.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 14th field.
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<f64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    // Clock ticks of 1/100 s (USER_HZ on Linux).
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

/// Resets this process's peak RSS (`VmHWM`) to its current RSS.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// One line of a table's ingest: a sync of `req` with `partitions` (and as many chunk
/// slots), every vendor request `slow_ms` late (the simulator at `sim` answers), timed;
/// prints records/s, partitions, requests, CPU-µs a record and peak RSS. Returns the
/// pipeline options it used.
#[allow(clippy::too_many_arguments)]
async fn measure_line(
    app: &App,
    http: &reqwest::Client,
    sim: &str,
    req: SyncRequest,
    label: &str,
    expected: usize,
    partitions: usize,
    slow_ms: u64,
) -> PipelineOptions {
    http.delete(format!("{sim}/_sim/faults")).send().await.unwrap();
    if slow_ms > 0 {
        let rule = serde_json::json!({"kind": {"type": "slow", "millis": slow_ms}});
        let r = http.post(format!("{sim}/_sim/faults")).json(&rule).send().await.unwrap();
        assert!(r.status().is_success(), "{:?}", r.text().await);
    }
    // As many chunks in flight as partitions (`pipeline.max_concurrent_chunks`).
    let opts = PipelineOptions {
        partitions,
        max_concurrent_chunks: partitions.max(PipelineOptions::default().max_concurrent_chunks),
        ..PipelineOptions::default()
    };
    reset_peak_rss();
    let (cpu, started) = (cpu_secs(), Instant::now());
    let run = app.pipeline(opts.clone()).run(req).await.unwrap();
    let (secs, cpu) = (started.elapsed().as_secs_f64(), cpu_secs() - cpu);
    let chunks = app.store.list_chunks(run.run_id).await.unwrap();
    let requests: u64 = chunks.iter().map(|c| c.counts.requests).sum();
    let in_flight = chunks.iter().map(|c| c.counts.concurrency).max().unwrap_or(0);
    let parts = chunks
        .iter()
        .map(|c| c.key.table.as_str())
        .filter(|t| t.contains("@part-"))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    println!(
        "{label}: {} of {expected} records in {secs:.1}s = {:.0} rec/s, {} partitions, \
         {requests} requests ({:.1}/s), up to {in_flight} in flight, {:.1} CPU-µs/record, \
         peak RSS {:.0} MB, status {}",
        run.records(),
        run.records() as f64 / secs,
        parts,
        requests as f64 / secs,
        cpu * 1e6 / run.records().max(1) as f64,
        peak_rss_mb("self"),
        run.status.as_str()
    );
    http.delete(format!("{sim}/_sim/faults")).send().await.unwrap();
    opts
}

/// `--sim-services RECORDS`: the demo's second tenant's ServiceNow instance, Salesforce
/// org and Microsoft 365 directory, with RECORDS incidents, cases and users; prints
/// `SERVICES <json>` (each service's configuration and its simulator's address) and
/// serves until stdin closes.
async fn serve_services(records: usize) {
    let second = SecondSizes {
        servicenow: SnSizes {
            companies: 200,
            users: 25,
            contacts: 1_000,
            incidents: records,
            time_worked: 100,
        },
        salesforce: SfSizes {
            accounts: 200,
            contacts: 1_000,
            cases: records,
            opportunities: 100,
            users: 25,
        },
        graph: GraphSizes { users: records, groups: 10 },
    };
    let mut sims = demo_sims(&CwSizes::small(), &second, chrono::Utc::now());
    sims.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let services: Vec<Value> = sims
        .configs(&SECOND)
        .into_iter()
        .map(|c| {
            serde_json::json!({
                "service": c.service,
                "sim": format!("http://{}", sims.addrs[c.service.as_str()]),
                "fields": c.creds.0,
            })
        })
        .collect();
    println!("SERVICES {}", Value::Array(services));
    wait_for_stdin().await;
}

/// Returns when stdin closes (the parent process ended or let go of us).
async fn wait_for_stdin() {
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {}
    })
    .await
    .unwrap();
}

/// `services [RECORDS]`: ServiceNow incidents, Salesforce cases (each read sequentially
/// and in partitions, on loopback and 150 ms away under 50 requests/s) and Microsoft 365
/// users (a Graph delta read: forward-only, sequential whatever `partitions` says), from
/// simulators in a child process; the same figures as `ingest`.
async fn services(http: &reqwest::Client, records: usize) {
    let mut child: Child = Command::new(std::env::current_exe().unwrap())
        .args(["--sim-services", &records.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let json = first.trim().strip_prefix("SERVICES ").expect("the simulators' configurations");
    let configs: Vec<Value> = serde_json::from_str(json).unwrap();
    let lines: [(&str, &str, usize, u64, u32); 10] = [
        ("servicenow", "incident", 1, 0, 1000),
        ("servicenow", "incident", 4, 0, 1000),
        ("servicenow", "incident", 1, 150, 50),
        ("servicenow", "incident", 8, 150, 50),
        ("salesforce", "Case", 1, 0, 1000),
        ("salesforce", "Case", 4, 0, 1000),
        ("salesforce", "Case", 1, 150, 50),
        ("salesforce", "Case", 8, 150, 50),
        ("microsoft365", "users", 1, 0, 1000),
        ("microsoft365", "users", 8, 150, 50),
    ];
    for (service, table, partitions, slow_ms, rps) in lines {
        let c = configs.iter().find(|c| c["service"] == service).expect("a configuration");
        let fields = c["fields"].as_object().unwrap().iter();
        let cfg = ServiceConfig::new(
            service,
            fields.map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())),
        );
        let dir = tempfile::tempdir().unwrap();
        let app = open_app(&dir.path().join("data")).await;
        let t = tenant_with_service(&app, SECOND.id, cfg, rps).await;
        let req = SyncRequest {
            tenant: Some(t),
            service: Some(service.into()),
            tables: vec![table.into()],
            ..Default::default()
        };
        let label = match slow_ms {
            0 => format!("{service} {table}, loopback, partitions = {partitions}"),
            ms => format!(
                "{service} {table}, {ms} ms a request, {rps} requests/s, partitions = {partitions}"
            ),
        };
        let sim = c["sim"].as_str().unwrap();
        measure_line(&app, http, sim, req, &label, records, partitions, slow_ms).await;
    }
    drop(child.stdin.take());
    let _ = child.wait();
}

/// `ingest [TICKETS]`: one table's ingest speed, sequential and in partitions.
async fn ingest(api: &str, http: &reqwest::Client, tickets: usize) {
    let scenarios: [(&str, usize, u64, u32); 4] = [
        ("loopback, sequential (partitions = 1)", 1, 0, 1000),
        ("loopback, 4 partitions (the default)", 4, 0, 1000),
        ("150 ms a request, 50 requests/s, sequential", 1, 150, 50),
        ("150 ms a request, 50 requests/s, 8 partitions", 8, 150, 50),
    ];
    // The installations of the first line (loopback, sequential) and of the last.
    let (mut first, mut last) = (None, None);
    // AVESA_BENCH_SCENARIO=N runs only the Nth line (0-based; for profiling one of them).
    let only: Option<usize> =
        std::env::var("AVESA_BENCH_SCENARIO").ok().and_then(|v| v.parse().ok());
    for (i, (label, partitions, slow_ms, rps)) in scenarios.into_iter().enumerate() {
        if only.is_some_and(|o| o != i) {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let app = open_app(&dir.path().join("data")).await;
        let t = tenant_with_budget(&app, "big", api, rps).await;
        let opts =
            measure_line(&app, http, api, tickets_req(&t), label, tickets, partitions, slow_ms)
                .await;
        if first.is_none() {
            first = Some((dir, app, t, opts));
        } else {
            last = Some((dir, app, t, opts));
        }
    }
    http.delete(format!("{api}/_sim/faults")).send().await.unwrap();
    if only.is_some() {
        return;
    }
    // A tenant's every table, then a run that finds nothing new (what the scheduler
    // does every few minutes): its wall time and requests.
    {
        let dir = tempfile::tempdir().unwrap();
        let app = open_app(&dir.path().join("data")).await;
        let t = tenant(&app, "n1t00", api).await;
        let all = SyncRequest { tenant: Some(t), ..Default::default() };
        let first = app.pipeline(PipelineOptions::default()).run(all.clone()).await.unwrap();
        let started = Instant::now();
        let quiet = app.pipeline(PipelineOptions::default()).run(all).await.unwrap();
        println!(
            "a run that finds nothing new, {} tables ({} records synced before): {:.2}s, {} requests, {} records re-read (the overlap window), status {}",
            quiet.tables.len(),
            first.records(),
            started.elapsed().as_secs_f64(),
            quiet.tables.iter().map(|t| t.requests).sum::<u64>(),
            quiet.records(),
            quiet.status.as_str()
        );
    }
    // 1% changes; then an incremental sync on the first installation (loopback,
    // sequential) and on the last (eight partitions, 50 requests/s; the vendor answers at
    // loopback speed now).
    let (Some((_d0, app0, t0, opts0)), Some((_d3, app3, t3, opts3))) = (first, last) else {
        return;
    };
    advance(http, api, tickets / 100).await;
    for (label, app, t, opts) in [
        ("loopback, sequential installation", &app0, &t0, &opts0),
        ("8 partitions' installation, 50 requests/s", &app3, &t3, &opts3),
    ] {
        let (cpu, started) = (cpu_secs(), Instant::now());
        let run = app.pipeline(opts.clone()).run(tickets_req(t)).await.unwrap();
        let chunks = app.store.list_chunks(run.run_id).await.unwrap();
        println!(
            "incremental after 1% changed, {label}: {} records in {:.2}s, {} chunks, \
             {} requests, {:.1} CPU-µs/record, status {}",
            run.records(),
            started.elapsed().as_secs_f64(),
            chunks.len(),
            chunks.iter().map(|c| c.counts.requests).sum::<u64>(),
            (cpu_secs() - cpu) * 1e6 / run.records().max(1) as f64,
            run.status.as_str()
        );
    }
    // The SCD2 apply alone: another 1% changes, read by the first installation; its
    // canonical batches are then applied to the last one's warehouse (which holds every
    // ticket's previous version), timed.
    advance(http, api, tickets / 100).await;
    let run = app0.pipeline(opts0.clone()).run(tickets_req(&t0)).await.unwrap();
    // One batch a chunk, as the pipeline applies it (the reader yields a file in pieces).
    let mut batches = Vec::new();
    for c in app0.store.list_chunks(run.run_id).await.unwrap() {
        for f in c.files.iter().filter(|f| f.contains("/canonical/")) {
            let pieces = app0.lake.read_batches(&f.as_str().into()).await.unwrap();
            if let Some(first) = pieces.first() {
                batches.push(arrow::compute::concat_batches(&first.schema(), &pieces).unwrap());
            }
        }
    }
    let before = app3.warehouse.version_count(&t3, CanonicalTable::Tickets).await.unwrap();
    let started = Instant::now();
    let mut rows = 0;
    let mut inserted = 0;
    for b in batches.iter().cloned() {
        let r = app3.warehouse.apply(CanonicalTable::Tickets, b).await.unwrap();
        (rows, inserted) = (rows + r.rows, inserted + r.inserted);
    }
    println!(
        "SCD2 apply of a 1% change: {rows} rows ({inserted} new versions) in {} batches \
         onto {before} stored versions: {:.2}s",
        batches.len(),
        started.elapsed().as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sim_mode = args.first().is_some_and(|a| a == "--sim");
    let ingest_mode = args.first().is_some_and(|a| a == "ingest");
    let nums: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    match args.first().map(String::as_str) {
        Some("--sim-services") => return serve_services(nums[0]).await,
        Some("services") => {
            return services(&reqwest::Client::new(), nums.first().copied().unwrap_or(100_000))
                .await;
        }
        _ => {}
    }
    let tickets = nums.first().copied().unwrap_or(1_000_000);
    let tenants = if ingest_mode { 0 } else { nums.get(1).copied().unwrap_or(10) };
    if sim_mode {
        serve_sim(tickets, tenants).await;
        return;
    }
    if let Ok(filter) = std::env::var("AVESA_LOG") {
        // e.g. AVESA_LOG=avesa_pipeline=debug: each chunk's fetch, transform and apply times.
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }

    let started = Instant::now();
    let mut child: Child = Command::new(std::env::current_exe().unwrap())
        .args(["--sim", &tickets.to_string(), &tenants.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let sim_pid = child.id().to_string();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let addr = first.trim().strip_prefix("ADDR ").expect("the simulator's address").to_owned();
    let api = format!("http://{addr}");
    println!(
        "simulator process generated {tickets} + {} tickets and more in {:.1}s (its RSS {:.0} MB)",
        tickets / 10,
        started.elapsed().as_secs_f64(),
        peak_rss_mb(&sim_pid)
    );
    let http = reqwest::Client::new();
    if ingest_mode {
        ingest(&api, &http, tickets).await;
        println!("peak RSS of the simulator process {:.0} MB", peak_rss_mb(&sim_pid));
        drop(child.stdin.take());
        let _ = child.wait();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let app = open_app(&dir.path().join("data")).await;

    // 1. A table a tenth the size, then the big one.
    let tenth = tenant(&app, "tenth", &api).await;
    full_sync(&app, &tenth, "full sync, 1/10 size").await;
    let big = tenant(&app, "big", &api).await;
    http.delete(format!("{api}/_sim/requests")).send().await.unwrap();
    let (records, secs) = full_sync(&app, &big, "full sync").await;

    // The simulator's ceiling: the same requests, replayed by a bare client.
    let log: Vec<Value> =
        http.get(format!("{api}/_sim/requests")).send().await.unwrap().json().await.unwrap();
    let urls: Vec<String> = log
        .iter()
        .filter(|r| r["path"] == "/service/tickets" && r["company_id"] == "big")
        .map(|r| {
            format!(
                "{}{}?{}",
                ConnectWiseSim::api_base(addr.parse().unwrap()),
                r["path"].as_str().unwrap(),
                r["query"].as_str().unwrap()
            )
        })
        .collect();
    let s = spec("big", CwSizes::derived(1, 1, 1, 1, 1), 0);
    let replay = Instant::now();
    let mut served = 0u64;
    for u in &urls {
        let r = http
            .get(u)
            .header("Authorization", s.authorization())
            .header("clientId", &s.client_id)
            .send()
            .await
            .unwrap();
        served += r.bytes().await.unwrap().len() as u64;
    }
    let ceiling = replay.elapsed().as_secs_f64();
    println!(
        "simulator ceiling: {} requests replayed in {ceiling:.1}s = {:.0} rec/s, {:.1} MB/s; \
         the pipeline ran at {:.0}% of it",
        urls.len(),
        records as f64 / ceiling,
        served as f64 / 1e6 / ceiling,
        100.0 * ceiling / secs
    );

    // 2. 1% changes, incremental.
    advance(&http, &api, tickets / 100).await;
    let started = Instant::now();
    let run = app.pipeline(PipelineOptions::default()).run(tickets_req(&big)).await.unwrap();
    println!(
        "incremental after 1% changed: {} records in {:.1}s, status {}",
        run.records(),
        started.elapsed().as_secs_f64(),
        run.status.as_str()
    );
    println!("pipeline peak RSS {:.0} MB", peak_rss_mb("self"));

    // 3. Many tenants × every ConnectWise table (four canonical ones) in one run, against
    //    one tenant alone, each on a fresh installation.
    let mut timings = Vec::new();
    for n in [1, tenants] {
        let dir = tempfile::tempdir().unwrap();
        let app = open_app(&dir.path().join("data")).await;
        for i in 0..n {
            tenant(&app, &format!("n{n}t{i:02}"), &api).await;
        }
        let started = Instant::now();
        let run =
            app.pipeline(PipelineOptions::default()).run(SyncRequest::default()).await.unwrap();
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{n} tenant(s) in one run: {} records, {} tables, {secs:.1}s, status {}",
            run.records(),
            run.tables.len(),
            run.status.as_str()
        );
        timings.push((secs, run.records()));
    }
    println!(
        "{tenants} tenants took {:.1}x the time of one for {:.1}x the records",
        timings[1].0 / timings[0].0,
        timings[1].1 as f64 / timings[0].1 as f64
    );
    println!(
        "peak RSS: pipeline {:.0} MB, simulator process {:.0} MB",
        peak_rss_mb("self"),
        peak_rss_mb(&sim_pid)
    );
    drop(child.stdin.take());
    let _ = child.wait();
}
