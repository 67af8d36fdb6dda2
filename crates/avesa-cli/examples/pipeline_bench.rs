//! End-to-end pipeline benchmark (issue 4): simulator → connector → raw and canonical
//! Parquet → DuckDB SCD2 → commit, on the embedded defaults. Run by `bench/pipeline.sh`.
//!
//! ```text
//! cargo run [--release] -p avesa-cli --example pipeline_bench -- [TICKETS] [TENANTS]
//! ```
//!
//! 1. One tenant, `service/tickets` with TICKETS records (default 1,000,000): records/s,
//!    MB/s of vendor JSON, peak RSS, and the simulator's serving ceiling for the same
//!    requests replayed by a bare client.
//! 2. 1% of the tickets change; the incremental sync's wall time.
//! 3. TENANTS tenants (default 10) × four tables in one run, against one tenant alone.

use std::time::Instant;

use avesa_cli::app::App;
use avesa_cli::demo::{MAIN, demo_credentials};
use avesa_model::TenantId;
use avesa_pipeline::{PipelineOptions, SyncRequest, seal_service_config};
use avesa_sim::{AdvanceSpec, ConnectWiseSim, CwCompanySpec, CwSizes};

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn tenant(app: &App, sim: &ConnectWiseSim, id: &str, sizes: CwSizes, api: &str) -> TenantId {
    let t = TenantId::new(id).unwrap();
    app.store.create_tenant(&t, id).await.unwrap();
    let mut creds = demo_credentials(&MAIN, api);
    creds.company_id = id.to_owned();
    sim.add_company(CwCompanySpec {
        company_id: creds.company_id.clone(),
        public_key: creds.public_key.clone(),
        private_key: creds.private_key.clone(),
        client_id: creds.client_id.clone(),
        seed: id.len() as u64 + 11,
        sizes,
        now: avesa_cli::demo::sim_epoch(),
    });
    app.store
        .upsert_service(&t, "connectwise", &seal_service_config(&app.cipher, &creds.config()))
        .await
        .unwrap();
    t
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tickets: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let tenants: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(&dir.path().join("data")).await.unwrap();
    let sim = ConnectWiseSim::new();
    let (addr, _server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let api = format!("http://{addr}");
    let opts = PipelineOptions::default();

    // 1. One big table.
    let started = Instant::now();
    let big = tenant(&app, &sim, "big", CwSizes::derived(200, 500, tickets, 10, 25), &api).await;
    println!(
        "generated {tickets} tickets in {:.1}s; RSS so far {:.0} MB",
        started.elapsed().as_secs_f64(),
        peak_rss_mb()
    );
    let req = |t: &TenantId, table: Option<&str>| SyncRequest {
        tenant: Some(t.clone()),
        service: Some("connectwise".into()),
        table: table.map(str::to_owned),
        ..Default::default()
    };
    sim.clear_requests();
    let started = Instant::now();
    let run = app.pipeline(opts.clone()).run(req(&big, Some("service/tickets"))).await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    let bytes: u64 =
        app.store.list_chunks(run.run_id).await.unwrap().iter().map(|c| c.counts.bytes).sum();
    println!(
        "full sync: {} records in {secs:.1}s = {:.0} rec/s, {:.1} MB/s vendor JSON, {} chunks, status {}",
        run.records(),
        run.records() as f64 / secs,
        bytes as f64 / 1e6 / secs,
        run.tables[0].chunks,
        run.status.as_str()
    );
    // The simulator's ceiling: the same requests, replayed by a bare client.
    let spec = sim.companies().into_iter().find(|c| c.company_id == "big").unwrap();
    let urls: Vec<String> = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/service/tickets")
        .map(|r| format!("{}{}?{}", ConnectWiseSim::api_base(addr), r.path, r.query))
        .collect();
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut served = 0u64;
    for u in &urls {
        let r = http
            .get(u)
            .header("Authorization", spec.authorization())
            .header("clientId", &spec.client_id)
            .send()
            .await
            .unwrap();
        served += r.bytes().await.unwrap().len() as u64;
    }
    let ceiling = started.elapsed().as_secs_f64();
    println!(
        "simulator ceiling: {} requests, {:.0} rec/s, {:.1} MB/s; peak RSS of this process {:.0} MB",
        urls.len(),
        run.records() as f64 / ceiling,
        served as f64 / 1e6 / ceiling,
        peak_rss_mb()
    );

    // 2. 1% changes, incremental.
    sim.advance(
        "big",
        AdvanceSpec {
            duration: chrono::Duration::hours(1),
            updates: tickets / 100,
            creates: 0,
            deletes: 0,
        },
    );
    let started = Instant::now();
    let run = app.pipeline(opts.clone()).run(req(&big, Some("service/tickets"))).await.unwrap();
    println!(
        "incremental after ~1% changed: {} records in {:.1}s",
        run.records(),
        started.elapsed().as_secs_f64()
    );

    // 3. Many tenants × every ConnectWise table (four canonical ones) in one run, against
    //    one tenant alone, each on a fresh installation.
    let small = CwSizes::derived(100, 400, 5_000, 5_000, 10);
    let mut timings = Vec::new();
    for n in [1, tenants] {
        let dir = tempfile::tempdir().unwrap();
        let app = App::open(&dir.path().join("data")).await.unwrap();
        for i in 0..n {
            tenant(&app, &sim, &format!("n{n}t{i:02}"), small.clone(), &api).await;
        }
        let started = Instant::now();
        let run = app.pipeline(opts.clone()).run(SyncRequest::default()).await.unwrap();
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
    println!("peak RSS {:.0} MB", peak_rss_mb());
}
