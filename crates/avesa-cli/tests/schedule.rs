//! The scheduler with a clock the test moves: a service with a schedule of its own reads
//! all its tables when its cron expression is due; a service without one reads each table
//! on its refresh interval (tickets and time every 4 minutes, the rest hourly), picking
//! up after a restart where the state store says; a run still going is never started
//! twice.

use std::collections::BTreeSet;
use std::sync::Arc;

use avesa_cli::app::App;
use avesa_cli::demo::{MAIN, demo_credentials, sim_epoch};
use avesa_model::TenantId;
use avesa_pipeline::schedule::{ManualClock, Scheduler};
use avesa_pipeline::{PipelineOptions, seal_service_config};
use avesa_sim::{ConnectWiseSim, CwCompanySpec, CwSizes, FaultKind, FaultRule};
use chrono::{DateTime, Utc};

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_fire_when_due_and_never_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(&dir.path().join("data")).await.unwrap();
    let sim = ConnectWiseSim::new();
    let creds = demo_credentials(&MAIN, "");
    sim.add_company(CwCompanySpec {
        company_id: creds.company_id.clone(),
        public_key: creds.public_key.clone(),
        private_key: creds.private_key.clone(),
        client_id: creds.client_id.clone(),
        seed: 2,
        sizes: CwSizes::derived(5, 10, 60, 60, 3),
        now: sim_epoch(),
    });
    let (addr, _server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let cfg = demo_credentials(&MAIN, &format!("http://{addr}")).config();
    let (a, b) = (TenantId::new("every5").unwrap(), TenantId::new("hourly").unwrap());
    for t in [&a, &b] {
        app.store.create_tenant(t, t.as_str()).await.unwrap();
        app.store
            .upsert_service(t, "connectwise", &seal_service_config(&app.cipher, t, &cfg))
            .await
            .unwrap();
    }
    app.store.set_schedule(&a, "connectwise", Some("*/5 * * * *")).await.unwrap();
    assert!(app.store.set_schedule(&a, "salesforce", Some("* * * * *")).await.is_err());

    let clock = Arc::new(ManualClock::new(at("2026-03-02T10:02:00Z")));
    let sched = Scheduler::new(app.pipeline(PipelineOptions::default()), clock.clone());
    let runs = |t: TenantId| {
        let store = app.store.clone();
        async move { store.list_runs(Some(&t), 100).await.unwrap().len() }
    };
    // The tables the tenant's latest run read.
    let last_tables = |t: TenantId| {
        let store = app.store.clone();
        async move {
            let run = store.list_runs(Some(&t), 1).await.unwrap().remove(0);
            let chunks = store.list_chunks(run.id).await.unwrap();
            chunks.into_iter().map(|c| c.key.table).collect::<BTreeSet<_>>()
        }
    };
    let wait = |handles: Vec<tokio::task::JoinHandle<()>>| async move {
        for h in handles {
            h.await.unwrap();
        }
    };
    let every: BTreeSet<String> = avesa_pipeline::Catalogue::builtin()
        .spec("connectwise")
        .unwrap()
        .tables
        .iter()
        .filter(|t| !t.optional)
        .map(|t| t.name.clone())
        .collect();
    let hot: BTreeSet<String> = ["service/tickets", "time/entries"].map(String::from).into();

    // 10:02: the five-minute schedule is not due; the tenant on the default has never
    // synced, so all its tables are read at once.
    let started = sched.tick().await;
    assert_eq!(started.len(), 1, "only the tenant that never synced");
    wait(started).await;
    assert_eq!(runs(a.clone()).await, 0);
    assert_eq!(last_tables(b.clone()).await, every);

    // 10:05: the five-minute schedule is due; its run is slowed down by the vendor.
    // The default tenant's tables were read at 10:02: not due yet.
    sim.faults().inject(FaultRule::new(FaultKind::Slow { millis: 1500 }).times(2));
    clock.set(at("2026-03-02T10:05:00Z"));
    let first = sched.tick().await;
    assert_eq!(first.len(), 1, "only the five-minute schedule");
    // 10:10 while that run is still going: not started again; the default tenant's
    // tickets and time (every 4 minutes) are due, its reference tables (hourly) are not.
    clock.set(at("2026-03-02T10:10:00Z"));
    let hot_run = sched.tick().await;
    assert_eq!(hot_run.len(), 1, "a running service is not started twice");
    wait(hot_run).await;
    assert_eq!(last_tables(b.clone()).await, hot);
    wait(first).await;
    assert_eq!(runs(a.clone()).await, 1);
    assert_eq!(last_tables(a.clone()).await, every, "a schedule of its own reads every table");
    // Once it finished, the missed slot fires.
    let again = sched.tick().await;
    assert_eq!(again.len(), 1);
    wait(again).await;
    assert_eq!(runs(a.clone()).await, 2);
    assert_eq!(runs(b.clone()).await, 2);

    // 11:00: the five-minute schedule and the hot tables fire; the reference tables,
    // read at 10:02, wait for 11:02.
    clock.set(at("2026-03-02T11:00:00Z"));
    let both = sched.tick().await;
    assert_eq!(both.len(), 2);
    wait(both).await;
    assert_eq!(runs(a.clone()).await, 3);
    assert_eq!(last_tables(b.clone()).await, hot);
    clock.set(at("2026-03-02T11:03:00Z"));
    wait(sched.tick().await).await;
    assert_eq!(
        last_tables(b.clone()).await,
        every.difference(&hot).cloned().collect(),
        "the reference tables, an hour after they were read"
    );
    assert_eq!(runs(b.clone()).await, 4);

    // A restarted scheduler goes on from the state store's last commits: nothing is read
    // again at once, and the hot tables come round after their interval.
    clock.set(at("2026-03-02T11:04:00Z"));
    let restarted = Scheduler::new(app.pipeline(PipelineOptions::default()), clock.clone());
    app.store.set_schedule(&a, "connectwise", None).await.unwrap();
    assert!(restarted.tick().await.is_empty(), "nothing is due right after a restart");
    clock.set(at("2026-03-02T11:08:00Z"));
    let due = restarted.tick().await;
    assert_eq!(due.len(), 2, "the hot tables of both tenants");
    wait(due).await;
    assert_eq!(last_tables(a.clone()).await, hot);
    assert_eq!(last_tables(b).await, hot);

    // A read that finds nothing new costs one request per table (no count probe) and
    // still records when the table was last read.
    let requests = sim.requests().len();
    clock.set(at("2026-03-02T11:12:00Z"));
    wait(restarted.tick().await).await;
    assert_eq!(sim.requests().len() - requests, 4, "two tables of two tenants, one request each");
}
