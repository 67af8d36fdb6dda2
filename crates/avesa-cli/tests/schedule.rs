//! The scheduler with a clock the test moves: a service runs when its cron expression is
//! due, the default schedule is hourly, and a run still going is never started twice.

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
    assert!(sched.tick().await.is_empty(), "nothing is due at 10:02");

    // 10:05: the five-minute schedule is due; its run is slowed down by the vendor.
    sim.faults().inject(FaultRule::new(FaultKind::Slow { millis: 1500 }).times(1));
    clock.set(at("2026-03-02T10:05:00Z"));
    let first = sched.tick().await;
    assert_eq!(first.len(), 1, "only the five-minute schedule");
    // 10:10 while that run is still going: not started again.
    clock.set(at("2026-03-02T10:10:00Z"));
    assert!(sched.tick().await.is_empty(), "a running service is not started twice");
    for h in first {
        h.await.unwrap();
    }
    assert_eq!(runs(a.clone()).await, 1);
    // Once it finished, the missed slot fires.
    let again = sched.tick().await;
    assert_eq!(again.len(), 1);
    for h in again {
        h.await.unwrap();
    }
    assert_eq!(runs(a.clone()).await, 2);
    assert_eq!(runs(b.clone()).await, 0, "hourly has not come yet");

    // 11:00: the default hourly schedule fires, and the five-minute one again.
    clock.set(at("2026-03-02T11:00:00Z"));
    let both = sched.tick().await;
    assert_eq!(both.len(), 2);
    for h in both {
        h.await.unwrap();
    }
    assert_eq!(runs(b).await, 1);
    assert_eq!(runs(a).await, 3);
}
