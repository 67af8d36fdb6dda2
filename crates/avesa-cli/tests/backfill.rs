//! Backfill: a date range lands exactly that range, survives a failure midway (the same
//! backfill run again resumes), never moves the table's watermark, and shows in run
//! records as a backfill.

mod common;

use std::collections::BTreeSet;

use avesa_cli::app::App;
use avesa_model::Backfill;
use avesa_model::{CanonicalTable, TenantId};
use avesa_pipeline::{PipelineOptions, SyncRequest};
use avesa_sim::{ConnectWiseSim, CwSizes, FaultRule};
use avesa_state::{RunStatus, TableKey};
use chrono::{DateTime, Utc};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_lands_exactly_its_range_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(&dir.path().join("data")).await.unwrap();
    let sim = ConnectWiseSim::new();
    let (addr, _server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let (t, creds) =
        common::cw_tenant(&app, &sim, addr, "bf", "bf", 5, CwSizes::derived(10, 30, 400, 200, 4))
            .await;

    let stamps: Vec<(DateTime<Utc>, String)> = {
        let mut v: Vec<_> = sim
            .truth(&creds.company_id)
            .tickets
            .iter()
            .map(|tk| {
                let at = tk["_info"]["lastUpdated"].as_str().unwrap();
                (DateTime::parse_from_rfc3339(at).unwrap().to_utc(), tk["id"].to_string())
            })
            .collect();
        v.sort();
        v
    };
    let (from, to) = (stamps[100].0, stamps[300].0);
    let want: BTreeSet<String> =
        stamps.iter().filter(|(at, _)| *at >= from && *at < to).map(|(_, id)| id.clone()).collect();
    assert!(want.len() > 150, "{}", want.len());

    let req = SyncRequest {
        tenant: Some(t.clone()),
        service: Some("connectwise".into()),
        tables: vec!["service/tickets".into()],
        backfill: Some(Backfill::new(from, to).unwrap()),
        ..Default::default()
    };
    let opts = PipelineOptions { chunk_records: 40, page_size: 20, ..Default::default() };
    // A failure midway: the vendor refuses the fifth request outright.
    sim.faults().inject(FaultRule::status(400).path("service/tickets").skip(4).times(1));
    let run = app.pipeline(opts.clone()).run(req.clone()).await.unwrap();
    assert_ne!(run.status, RunStatus::Succeeded, "{run:#?}");
    let partial = app.warehouse.version_count(&t, CanonicalTable::Tickets).await.unwrap();
    assert!(partial > 0 && (partial as usize) < want.len(), "{partial}");

    // The same backfill again resumes and finishes; exactly the range, nothing twice.
    let run = app.pipeline(opts.clone()).run(req).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(
        app.warehouse.version_count(&t, CanonicalTable::Tickets).await.unwrap() as usize,
        want.len()
    );
    let runs = app.store.list_runs(Some(&t), 10).await.unwrap();
    assert!(runs.iter().all(|r| r.kind == avesa_model::RunKind::Backfill), "{runs:?}");
    let chunks = app.store.list_chunks(run.run_id).await.unwrap();
    assert!(
        chunks
            .iter()
            .all(|c| c.key.table == Backfill::new(from, to).unwrap().key("service/tickets"))
    );

    // The table's own watermark was never touched: an incremental sync reads it all.
    let key = TableKey {
        tenant_id: t.clone(),
        service: "connectwise".into(),
        table: "service/tickets".into(),
    };
    assert!(app.store.get_cursor(&key).await.unwrap().is_none());
    let run = app
        .pipeline(opts)
        .run(SyncRequest {
            tenant: Some(t.clone()),
            service: Some("connectwise".into()),
            tables: vec!["service/tickets".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(
        app.warehouse.version_count(&t, CanonicalTable::Tickets).await.unwrap() as usize,
        stamps.len()
    );
}

/// Cancelling a run (Ctrl-C / SIGTERM in `avesa sync`) commits what each table has read
/// and stops; the next run resumes and the result is exact. A small time budget splits
/// the reads into continuation chunks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_then_resume_and_time_budgeted_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(&dir.path().join("data")).await.unwrap();
    let sim = ConnectWiseSim::new();
    let (addr, _server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let (t, creds) =
        common::cw_tenant(&app, &sim, addr, "cx", "cx", 8, CwSizes::derived(6, 20, 300, 100, 3))
            .await;
    let req = SyncRequest {
        tenant: Some(t.clone()),
        service: Some("connectwise".into()),
        tables: vec!["service/tickets".into()],
        ..Default::default()
    };
    // Every tickets page takes 150 ms; chunks may fetch for 200 ms, so each chunk holds
    // about two pages and the table needs many continuation chunks.
    sim.faults().inject(
        FaultRule::new(avesa_sim::FaultKind::Slow { millis: 150 }).path("service/tickets?"),
    );
    let opts = PipelineOptions {
        chunk_records: 1000,
        page_size: 20,
        chunk_budget: std::time::Duration::from_millis(200),
        ..Default::default()
    };
    let pipeline = app.pipeline(opts.clone());
    let cancel = pipeline.cancel_handle();
    let run = tokio::spawn({
        let req = req.clone();
        async move { pipeline.run(req).await.unwrap() }
    });
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    cancel.cancel();
    let run = run.await.unwrap();
    assert_ne!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert!(run.tables[0].error.as_deref().unwrap().contains("cancelled"), "{run:#?}");
    let partial = app.warehouse.version_count(&t, CanonicalTable::Tickets).await.unwrap();
    let total = sim.truth(&creds.company_id).tickets.len() as u64;
    assert!(partial > 0 && partial < total, "{partial} of {total}");

    let run = app.pipeline(opts).run(req).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(app.warehouse.version_count(&t, CanonicalTable::Tickets).await.unwrap(), total);
    let chunks = app.store.list_chunks(run.run_id).await.unwrap();
    assert!(chunks.len() >= 3, "time-budgeted continuation chunks: {}", chunks.len());
    assert!(chunks.iter().all(|c| c.counts.records <= 100), "{chunks:?}");
    assert!(
        run.tables[0].planned.is_some_and(|p| p >= run.tables[0].records.min(total - partial)),
        "{run:#?}"
    );
}

/// With a chunk failing in the middle of a table, the watermark stays at the end of the
/// last committed chunk, and the next run fills exactly the gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watermark_never_passes_a_failed_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(&dir.path().join("data")).await.unwrap();
    let sim = ConnectWiseSim::new();
    let (addr, _server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let (t, creds) =
        common::cw_tenant(&app, &sim, addr, "wm", "wm", 9, CwSizes::derived(6, 20, 200, 100, 3))
            .await;
    let req = SyncRequest {
        tenant: Some(t.clone()),
        service: Some("connectwise".into()),
        tables: vec!["service/tickets".into()],
        ..Default::default()
    };
    let opts = PipelineOptions { chunk_records: 40, page_size: 20, ..Default::default() };
    // The third chunk's first page is refused outright.
    sim.faults().inject(FaultRule::status(400).path("service/tickets?").skip(4).times(1));
    let run = app.pipeline(opts.clone()).run(req.clone()).await.unwrap();
    assert_ne!(run.status, RunStatus::Succeeded);
    let chunks = app.store.list_chunks(run.run_id).await.unwrap();
    let committed: Vec<_> =
        chunks.iter().filter(|c| c.status == avesa_state::ChunkStatus::Committed).collect();
    assert_eq!(committed.len(), 2, "{chunks:#?}");
    assert!(chunks.iter().any(|c| c.status == avesa_state::ChunkStatus::Failed));
    let key = TableKey {
        tenant_id: t.clone(),
        service: "connectwise".into(),
        table: "service/tickets".into(),
    };
    let mark = app.store.get_cursor(&key).await.unwrap().unwrap();
    let last_end = committed
        .iter()
        .filter_map(|c| c.end.clone())
        .max_by_key(|e| (e.updated_at, e.id.clone()))
        .unwrap();
    assert_eq!(mark, last_end, "the watermark is the end of the last committed chunk");
    assert_eq!(app.warehouse.version_count(&t, CanonicalTable::Tickets).await.unwrap(), 80);

    let run = app.pipeline(opts).run(req).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(
        app.warehouse.version_count(&t, CanonicalTable::Tickets).await.unwrap() as usize,
        sim.truth(&creds.company_id).tickets.len()
    );
}

/// Fairness: with one chunk slot for everybody, a tenant with a huge table takes turns
/// with the others chunk by chunk instead of holding the slot until its table is done,
/// and the slot is shared by every run of the pipeline (as the scheduler's and the API's
/// runs share one in `avesa serve`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_table_does_not_starve_other_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(&dir.path().join("data")).await.unwrap();
    let sim = ConnectWiseSim::new();
    let (addr, _server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let tenants = [("huge", 3000), ("s1", 60), ("s2", 60), ("s3", 60)];
    for (i, (id, tickets)) in tenants.iter().enumerate() {
        let sizes = CwSizes::derived(5, 10, *tickets, 10, 2);
        common::cw_tenant(&app, &sim, addr, id, id, 40 + i as u64, sizes).await;
    }
    let pipeline = app.pipeline(PipelineOptions {
        chunk_records: 200,
        page_size: 100,
        max_concurrent_chunks: 1,
        max_tables_per_tenant: 1,
        ..Default::default()
    });
    let req = |t: &str| SyncRequest {
        tenant: Some(TenantId::new(t).unwrap()),
        service: Some("connectwise".into()),
        tables: vec!["service/tickets".into()],
        run_id: Some(avesa_model::RunId::new()),
        ..Default::default()
    };
    // The huge table's run starts first; once its first chunk has committed, each small
    // tenant's run starts.
    let huge = req("huge");
    let mut runs = vec![huge.run_id.unwrap()];
    let mut tasks = vec![tokio::spawn({
        let p = pipeline.clone();
        async move { p.run(huge).await.unwrap() }
    })];
    for _ in 0..500 {
        let chunks = app.store.list_chunks(runs[0]).await.unwrap();
        if chunks.iter().any(|c| c.status == avesa_state::ChunkStatus::Committed) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for t in ["s1", "s2", "s3"] {
        let r = req(t);
        runs.push(r.run_id.unwrap());
        let p = pipeline.clone();
        tasks.push(tokio::spawn(async move { p.run(r).await.unwrap() }));
    }
    for t in tasks {
        let run = t.await.unwrap();
        assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    }
    let mut chunks = Vec::new();
    for r in runs {
        chunks.extend(app.store.list_chunks(r).await.unwrap());
    }
    chunks.retain(|c| c.counts.records > 0);
    chunks.sort_by_key(|c| c.finished_at);
    let order: Vec<&str> = chunks.iter().map(|c| c.key.tenant_id.as_str()).collect();
    assert_eq!(order.iter().filter(|t| **t == "huge").count(), 15, "{order:?}");
    // Every small tenant's table is done before the huge one's fourth chunk.
    let fourth_huge = order.iter().enumerate().filter(|(_, t)| **t == "huge").nth(3).unwrap().0;
    for small in ["s1", "s2", "s3"] {
        let at = order.iter().position(|t| *t == small).unwrap();
        assert!(at < fourth_huge, "{small} waited behind the huge table: {order:?}");
    }
    // The one slot really was one, across the four runs: no two chunks overlapped.
    for w in chunks.windows(2) {
        assert!(w[1].started_at >= w[0].finished_at.unwrap(), "overlapping chunks: {w:#?}");
    }
}
