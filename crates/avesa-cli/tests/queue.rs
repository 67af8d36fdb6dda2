//! The job queue when its server goes away: a NATS server of the test's own (Debian's
//! `nats-server` with JetStream, file storage in a temporary folder) is killed while a
//! run's tables are on a worker and started again on the same folder; the run still
//! finishes and the warehouse equals the vendor's truth. And `avesa worker` refuses to
//! start without a queue or with a DuckDB warehouse, in one line.

mod common;

use std::net::TcpListener;
use std::time::Duration;

use avesa_cli::app::App;
use avesa_model::CanonicalTable;
use avesa_pipeline::queue::JobQueue;
use avesa_pipeline::worker::{Worker, WorkerOptions};
use avesa_pipeline::{PipelineOptions, SyncRequest};
use avesa_sim::{ConnectWiseSim, CwSizes, FaultKind, FaultRule};
use avesa_state::RunStatus;
use avesa_warehouse::ListQuery;

fn nats_server(port: u16, store: &std::path::Path) -> tokio::process::Child {
    tokio::process::Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(store)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("Debian's nats-server")
}

async fn wait_listening(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nats-server did not start on {port}");
}

/// A ConnectWise company whose pages are slow, its tenant in `app`, and a full sync of it
/// queued on `queue` for a worker running in this process.
struct QueuedSync {
    addr: std::net::SocketAddr,
    tenant: avesa_model::TenantId,
    planner: avesa_pipeline::Pipeline,
    worker_pipeline: avesa_pipeline::Pipeline,
    worker: tokio::task::JoinHandle<Result<(), avesa_pipeline::queue::QueueError>>,
    run: avesa_model::RunId,
    _sim: (ConnectWiseSim, tokio::task::JoinHandle<()>),
}

impl QueuedSync {
    async fn start(app: &App, queue: JobQueue, seed: u64, page_millis: u64) -> QueuedSync {
        let sim = ConnectWiseSim::new();
        let (addr, server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let sizes = CwSizes::derived(20, 100, 1500, 800, 6);
        let (tenant, _) = common::cw_tenant(app, &sim, addr, "acme", "acme", seed, sizes).await;
        sim.faults().inject(FaultRule::new(FaultKind::Slow { millis: page_millis }));
        let opts = PipelineOptions { chunk_records: 200, page_size: 100, ..Default::default() };
        let planner = app.pipeline(opts.clone()).with_queue(queue.clone());
        let worker_pipeline = app.pipeline(opts);
        let worker = Worker::new(worker_pipeline.clone(), queue, WorkerOptions::new(2));
        let worker = tokio::spawn(worker.run());
        let queued = planner
            .run(SyncRequest { tenant: Some(tenant.clone()), full: true, ..Default::default() })
            .await
            .unwrap();
        assert_eq!(queued.status, RunStatus::Running, "queued for the worker");
        // Under way: the worker has begun a chunk.
        let until = tokio::time::Instant::now() + Duration::from_secs(60);
        while app.store.list_chunks(queued.run_id).await.unwrap().is_empty() {
            assert!(tokio::time::Instant::now() < until, "the worker never started");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        QueuedSync {
            addr,
            tenant,
            planner,
            worker_pipeline,
            worker,
            run: queued.run_id,
            _sim: (sim, server),
        }
    }

    /// Stops the worker cleanly.
    async fn stop(self) {
        self.worker_pipeline.cancel_handle().cancel();
        self.worker.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_survives_the_queue_server_restarting() {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let store = dir.path().join("nats");
    let mut nats = nats_server(port, &store);
    wait_listening(port).await;
    let url = format!("nats://127.0.0.1:{port}");

    let app = App::open(&dir.path().join("data")).await.unwrap();
    let queue = JobQueue::connect(&url, "AVESA_TEST", Duration::from_secs(10)).await.unwrap();
    let sync = QueuedSync::start(&app, queue, 5, 100).await;
    let (addr, t) = (sync.addr, sync.tenant.clone());
    // Once the worker is under way, the queue's server dies and comes back.
    nats.start_kill().unwrap();
    nats.wait().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _nats = nats_server(port, &store);
    wait_listening(port).await;

    let run =
        common::finished(app.store.as_ref(), sync.run, Duration::from_secs(180), String::new).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    let truth: serde_json::Value = reqwest::get(format!("http://{addr}/_sim/truth?company=acme"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (table, key) in [
        (CanonicalTable::Tickets, "tickets"),
        (CanonicalTable::TimeEntries, "time_entries"),
        (CanonicalTable::Companies, "companies"),
    ] {
        let page = app
            .warehouse
            .list(&t, table, &ListQuery { page_size: 100_000, ..Default::default() })
            .await
            .unwrap();
        let mut got: Vec<String> =
            page.items.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
        let mut want: Vec<String> = truth[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("connectwise:{}", r["id"]))
            .collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{key}");
        let versions = app.warehouse.version_count(&t, table).await.unwrap();
        assert_eq!(versions as usize, want.len(), "{key}: one version each, none twice");
    }
    sync.stop().await;
    assert!(app.store.list_workers().await.unwrap().is_empty(), "a stopped worker is forgotten");
}

#[tokio::test]
async fn a_worker_needs_a_queue_and_a_shared_warehouse() {
    let dir = tempfile::tempdir().unwrap();
    let run = |envs: &[(&str, &str)]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_avesa"));
        c.arg("--data-dir").arg(dir.path()).arg("worker").env_remove("AVESA_QUEUE");
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let out = run(&[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("set queue.url (AVESA_QUEUE=nats://HOST:PORT)"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let out = run(&[("AVESA_QUEUE", "nats://127.0.0.1:4222")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("clickhouse+http://") && err.contains("DuckDB"), "{err}");
}

/// A TCP proxy whose far side can be cut: while down it refuses new connections (closes
/// them at once) and cuts the ones open.
struct Proxy {
    addr: std::net::SocketAddr,
    down: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (down, _) = tokio::sync::watch::channel(false);
        let watch = down.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut cut = watch.subscribe();
                if *cut.borrow() {
                    continue; // dropped: the client sees the connection closed
                }
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.wait_for(|d| *d) => {}
                    }
                });
            }
        });
        Proxy { addr, down }
    }

    fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_survives_the_warehouse_going_away_briefly() {
    let clickhouse = std::env::var("AVESA_TEST_CLICKHOUSE_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:18123".into());
    let nats =
        std::env::var("AVESA_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let name = format!("avesa_chdown_{}", uuid::Uuid::new_v4().simple());
    let proxy = Proxy::start(clickhouse.trim_start_matches("http://").to_owned()).await;
    let dir = tempfile::tempdir().unwrap();
    let inputs = avesa_config::Inputs {
        env: [("AVESA_WAREHOUSE".to_owned(), format!("clickhouse+http://{}/{name}", proxy.addr))]
            .into(),
        flags: vec![("data_dir", "--data-dir", dir.path().display().to_string())],
        working_dir: dir.path().to_owned(),
        ..Default::default()
    };
    let settings = avesa_config::resolve(&inputs).unwrap().settings;
    let app = App::open_with(settings).await.unwrap();
    let result = tokio::spawn(warehouse_away(app.clone(), proxy, nats, name.to_uppercase())).await;
    let _ = reqwest::Client::new()
        .post(&clickhouse)
        .body(format!("DROP DATABASE IF EXISTS {name}"))
        .send()
        .await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn warehouse_away(app: App, proxy: Proxy, nats: String, stream: String) {
    let queue = JobQueue::connect(&nats, &stream, Duration::from_secs(10)).await.unwrap();
    let sync = QueuedSync::start(&app, queue.clone(), 9, 60).await;
    let (addr, t) = (sync.addr, sync.tenant.clone());
    // The warehouse goes away for three seconds.
    proxy.set_down(true);
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.set_down(false);
    let summary =
        common::finished(app.store.as_ref(), sync.run, Duration::from_secs(180), String::new).await;
    // The run finishes, clearly: every table either committed or failed with the
    // warehouse named as the cause (a platform failure, not a vendor's or a bug).
    assert_ne!(summary.status, RunStatus::Running);
    for c in app.store.list_chunks(sync.run).await.unwrap() {
        if let Some(e) = &c.error {
            assert!(e.contains("ClickHouse") || e.contains("warehouse"), "{e}");
        }
    }
    // The next run completes, and nothing is lost or doubled.
    let next =
        sync.planner.run_and_wait(SyncRequest { tenant: Some(t.clone()), ..Default::default() });
    let next = tokio::time::timeout(Duration::from_secs(180), next).await.unwrap().unwrap();
    assert_eq!(next.status, RunStatus::Succeeded, "{next:#?}");
    let truth: serde_json::Value = reqwest::get(format!("http://{addr}/_sim/truth?company=acme"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (table, key) in
        [(CanonicalTable::Tickets, "tickets"), (CanonicalTable::TimeEntries, "time_entries")]
    {
        let want = truth[key].as_array().unwrap().len();
        let page = app
            .warehouse
            .list(&t, table, &ListQuery { page_size: 1, ..Default::default() })
            .await
            .unwrap();
        assert_eq!(page.total as usize, want, "{key}");
        assert_eq!(app.warehouse.version_count(&t, table).await.unwrap() as usize, want, "{key}");
    }
    sync.stop().await;
    let _ = queue.delete().await;
}
