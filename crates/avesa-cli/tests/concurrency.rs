//! Adaptive concurrency: a table read in partitions against a vendor 100 ms away keeps
//! several requests in flight — never more than the budget's rate allows, per the
//! simulator's own request log — and gets close to that rate; against a vendor that
//! allows less than our budget, the window and rate back off on its 429s and the
//! throughput settles near the vendor's limit. The data is exact either way, and the run
//! record shows the concurrency used.

mod common;

use avesa_cli::app::App;
use avesa_model::{CanonicalTable, TenantId};
use avesa_pipeline::{PipelineOptions, SyncRequest, seal_service_config};
use avesa_sim::{ConnectWiseSim, CwSizes, FaultKind, FaultRule, RateLimit, TrafficEntry};
use avesa_state::RunStatus;

const TICKETS: &str = "service/tickets";

/// Arrival times (ms) of the ticket requests in the log that `keep` accepts.
fn arrivals(traffic: &[TrafficEntry], keep: impl Fn(&TrafficEntry) -> bool) -> Vec<i64> {
    let mut at: Vec<i64> = traffic
        .iter()
        .filter(|t| t.path.contains(TICKETS) && !t.path.contains("count") && keep(t))
        .map(|t| t.at_ms)
        .collect();
    at.sort_unstable();
    at
}

/// The most arrivals within any window of `ms` milliseconds.
fn most_within(at: &[i64], ms: i64) -> usize {
    at.iter()
        .enumerate()
        .map(|(i, s)| at[i..].iter().take_while(|t| **t < s + ms).count())
        .max()
        .unwrap_or(0)
}

/// Requests per second from the first to the last arrival.
fn rate(at: &[i64]) -> f64 {
    let span = (at[at.len() - 1] - at[0]).max(1) as f64 / 1000.0;
    (at.len() - 1) as f64 / span
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_keep_the_window_full_within_the_budget_and_back_off_on_throttles() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(&dir.path().join("data")).await.unwrap();
    let sim = ConnectWiseSim::new();
    let (addr, _server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let (t, creds) = common::cw_tenant(
        &app,
        &sim,
        addr,
        "aimd",
        "aimd",
        21,
        CwSizes::derived(10, 30, 4_000, 100, 4),
    )
    .await;
    // Our budget for this tenant's ConnectWise: 20 requests a second (burst 20).
    const BUDGET: f64 = 20.0;
    let mut config = creds.config();
    config.creds.0.insert("requests_per_second".into(), BUDGET.to_string());
    app.store
        .upsert_service(&t, "connectwise", &seal_service_config(&app.cipher, &t, &config))
        .await
        .unwrap();
    // Every ticket request takes 100 ms: one at a time, 10 pages a second at most.
    sim.faults().inject(FaultRule::new(FaultKind::Slow { millis: 100 }).path(TICKETS));
    let opts = PipelineOptions {
        page_size: 50,
        chunk_records: 500,
        partitions: 8,
        partition_records: 600,
        max_concurrent_chunks: 8,
        ..Default::default()
    };
    let req = SyncRequest {
        tenant: Some(t.clone()),
        service: Some("connectwise".into()),
        tables: vec![TICKETS.into()],
        full: true,
        ..Default::default()
    };
    let truth = sim.truth(&creds.company_id).tickets.len();
    let tickets = |app: &App, t: &TenantId| {
        let (w, t) = (app.warehouse.clone(), t.clone());
        async move { w.current_ids(&t, CanonicalTable::Tickets, "connectwise").await.unwrap().len() }
    };

    // 1. The vendor allows anything; our budget is the limit.
    sim.faults().clear_traffic();
    let run = app.pipeline(opts.clone()).run(req.clone()).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(tickets(&app, &t).await, truth);
    let table = &run.tables[0];
    assert!(table.partitions >= 4, "{table:?}");
    assert!(
        (3..=8).contains(&table.concurrency),
        "several requests in flight, never past the ceiling: {table:?}"
    );
    let chunks = app.store.list_chunks(run.run_id).await.unwrap();
    let most = chunks.iter().map(|c| c.counts.concurrency).max().unwrap();
    assert!(most >= 3, "the chunks record the concurrency: {chunks:#?}");
    let traffic = sim.faults().traffic();
    let all = arrivals(&traffic, |_| true);
    assert!(all.len() > 70, "{} requests", all.len());
    // The token bucket's bound: no window of a second holds more than burst + rate.
    let in_a_second = most_within(&arrivals(&traffic, |_| true), 1000);
    assert!(in_a_second as f64 <= 2.0 * BUDGET + 1.0, "{in_a_second} requests in a second");
    // Past the first burst, never faster than the budget; and in the middle of the read
    // (all partitions going, none finished yet) close to it, where one request at a time
    // could give only 10/s.
    let r = rate(&all[BUDGET as usize..]);
    let middle = rate(&all[all.len() / 4..all.len() * 3 / 4]);
    eprintln!("middle {middle:.1}/s");
    eprintln!("budget {BUDGET}/s: {r:.1} requests/s, {} in flight at most", table.concurrency);
    assert!(r <= BUDGET * 1.1, "{r:.1} requests/s over a budget of {BUDGET}");
    assert!(middle >= BUDGET * 0.7, "{middle:.1} requests/s: the window did not fill the budget");

    // 2. The vendor allows 8 a second (burst 2), less than our budget: it throttles, the
    // budget backs off, and the requests it lets through settle near its limit.
    const VENDOR: f64 = 8.0;
    sim.faults().set_rate_limit(Some(RateLimit::new(VENDOR, 2)));
    sim.faults().clear_traffic();
    let run = app.pipeline(opts.clone()).run(req.clone()).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(tickets(&app, &t).await, truth, "exact after the throttles");
    let traffic = sim.faults().traffic();
    let passed = arrivals(&traffic, |t| t.outcome != "throttled");
    let throttled = arrivals(&traffic, |t| t.outcome == "throttled");
    assert!(!throttled.is_empty(), "the vendor's limit was hit");
    let r = rate(&passed);
    eprintln!("vendor {VENDOR}/s: {r:.1} let through, {} throttled", throttled.len());
    // Once settled (the second half of the read), near the vendor's limit.
    let settled = rate(&passed[passed.len() / 2..]);
    eprintln!("settled {settled:.1}/s");
    assert!(settled >= VENDOR * 0.6, "{settled:.1} requests/s let through: backed off too far");
    assert!(r <= VENDOR * 1.1, "{r:.1} requests/s let through, over the vendor's limit?");
    assert!(
        throttled.len() * 2 < passed.len(),
        "{} throttled for {} let through: it kept pushing",
        throttled.len(),
        passed.len()
    );
    let chunks = app.store.list_chunks(run.run_id).await.unwrap();
    assert!(chunks.iter().map(|c| c.counts.throttles).sum::<u64>() > 0, "throttles recorded");
}
