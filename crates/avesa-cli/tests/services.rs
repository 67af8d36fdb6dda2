//! All four services through the whole pipeline for one tenant: full sync equals the
//! simulators' truth in every canonical table, deletes become deletion versions after an
//! incremental sync, and Salesforce's daily quota ends that service's work cleanly with
//! the next run resuming where it stopped.

use std::collections::BTreeMap;

use avesa_cli::app::App;
use avesa_cli::demo::{SecondSizes, demo_sims, sim_epoch};
use avesa_model::{CanonicalTable, TenantId};
use avesa_pipeline::{PipelineOptions, SyncRequest, seal_service_config};
use avesa_sim::{AdvanceSpec, Changes, CwSizes};
use avesa_state::RunStatus;
use avesa_warehouse::{EntityId, ListQuery};

fn sizes() -> (CwSizes, SecondSizes) {
    let cw = CwSizes::derived(12, 40, 260, 500, 5);
    let mut second = SecondSizes::small();
    second.salesforce.cases = 900;
    (cw, second)
}

async fn current(app: &App, t: &TenantId, table: CanonicalTable) -> u64 {
    let q = ListQuery { page_size: 1, ..Default::default() };
    app.warehouse.list(t, table, &q).await.unwrap().total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_services_sync_exactly_with_deletes_and_quota() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::open(&dir.path().join("data")).await.unwrap();
    let (cw_sizes, second) = sizes();
    let mut sims = demo_sims(&cw_sizes, &second, sim_epoch());
    sims.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    // One tenant with all four services: ConnectWise as the first demo tenant has it,
    // the other three as the second.
    let t = TenantId::new("multi").unwrap();
    app.store.create_tenant(&t, "Multi").await.unwrap();
    let configs: Vec<_> = sims
        .configs(&avesa_cli::demo::MAIN)
        .into_iter()
        .chain(sims.configs(&avesa_cli::demo::SECOND))
        .collect();
    assert_eq!(configs.len(), 4);
    for cfg in &configs {
        app.store
            .upsert_service(&t, cfg.service(), &seal_service_config(&app.cipher, &t, cfg))
            .await
            .unwrap();
    }
    // Small chunks: continuation tokens (Salesforce nextRecordsUrl, Graph nextLink) are
    // committed and resumed across chunk boundaries.
    let opts = PipelineOptions { chunk_records: 300, page_size: 200, ..Default::default() };
    let run = app
        .pipeline(opts.clone())
        .run(SyncRequest { tenant: Some(t.clone()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    let raw_only: Vec<_> =
        run.tables.iter().filter(|o| o.table == "groups" || o.table == "Opportunity").collect();
    assert_eq!(raw_only.len(), 2);
    assert!(raw_only.iter().all(|o| o.records > 0 && o.versions_inserted == 0), "{raw_only:?}");

    let (main, sec) = (avesa_cli::demo::MAIN.id, avesa_cli::demo::SECOND.id);
    let expect = || {
        let cw = sims.connectwise.truth(main);
        let sn = sims.servicenow.truth(sec);
        let sf = sims.salesforce.truth(sec);
        let g = sims.graph.truth(&sims.graph.tenants()[0].tenant_id);
        let n = |v: &[serde_json::Value]| v.len() as u64;
        let live_companies =
            cw.companies.iter().filter(|c| c["deletedFlag"] != true).count() as u64;
        BTreeMap::from([
            (
                CanonicalTable::Companies,
                live_companies + n(&sn.tables["core_company"]) + n(&sf.tables["Account"]),
            ),
            (
                CanonicalTable::Contacts,
                n(&cw.contacts) + n(&sn.tables["customer_contact"]) + n(&sf.tables["Contact"]),
            ),
            (
                CanonicalTable::Tickets,
                n(&cw.tickets) + n(&sn.tables["incident"]) + n(&sf.tables["Case"]),
            ),
            (CanonicalTable::TimeEntries, n(&cw.time_entries) + n(&sn.tables["task_time_worked"])),
            (
                CanonicalTable::Members,
                n(&cw.members)
                    + n(&sn.tables["sys_user"])
                    + n(&sf.tables["User"])
                    + n(&g.tables["users"]),
            ),
        ])
    };
    for (table, want) in expect() {
        assert_eq!(current(&app, &t, table).await, want, "{table} after the full sync");
    }

    // The vendors change, create and delete; ConnectWise soft-deletes companies (its other
    // deletions leave no trace but a full sync's key scan).
    sims.connectwise.advance(
        main,
        AdvanceSpec { duration: chrono::Duration::hours(6), updates: 40, creates: 10, deletes: 0 },
    );
    let changes =
        Changes { duration: chrono::Duration::hours(6), updates: 30, creates: 10, deletes: 6 };
    let sn_report = sims.servicenow.advance(sec, changes.clone());
    let sf_report = sims.salesforce.advance(sec, changes.clone());
    let g_report = sims.graph.advance(&sims.graph.tenants()[0].tenant_id.clone(), changes);
    let run = app
        .pipeline(opts.clone())
        .run(SyncRequest { tenant: Some(t.clone()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    for (table, want) in expect() {
        assert_eq!(current(&app, &t, table).await, want, "{table} after the incremental sync");
    }
    let canonical = |service: &str, table: &str| match (service, table) {
        ("servicenow", "incident") | ("salesforce", "Case") => Some(CanonicalTable::Tickets),
        ("servicenow", "task_time_worked") => Some(CanonicalTable::TimeEntries),
        ("servicenow", "customer_contact") | ("salesforce", "Contact") => {
            Some(CanonicalTable::Contacts)
        }
        ("servicenow", "core_company") | ("salesforce", "Account") => {
            Some(CanonicalTable::Companies)
        }
        ("servicenow", "sys_user") | ("salesforce", "User") | ("microsoft365", "users") => {
            Some(CanonicalTable::Members)
        }
        _ => None,
    };
    let mut checked = 0;
    for (service, report) in
        [("servicenow", &sn_report), ("salesforce", &sf_report), ("microsoft365", &g_report)]
    {
        for (table, ids) in &report.deleted {
            let Some(ct) = canonical(service, table) else { continue };
            for id in ids {
                let eid = EntityId { service: service.into(), source_id: id.clone() };
                assert!(
                    app.warehouse.get(&t, ct, &eid, None).await.unwrap().is_none(),
                    "{service} {table} {id} still current"
                );
                let h = app.warehouse.history(&t, ct, &eid).await.unwrap();
                assert!(h.len() >= 2, "{service} {table} {id}: {h:?}");
                assert_eq!(h.last().unwrap()["is_deleted"], true, "{service} {table} {id}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 6, "{checked} deletions checked");

    // ConnectWise deletions that leave no trace: a full sync's key scan finds them.
    let cw_report = sims.connectwise.advance(
        main,
        AdvanceSpec { duration: chrono::Duration::hours(2), updates: 5, creates: 0, deletes: 12 },
    );
    let full = SyncRequest {
        tenant: Some(t.clone()),
        service: Some("connectwise".into()),
        full: true,
        ..Default::default()
    };
    let run = app.pipeline(opts.clone()).run(full).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    for (table, want) in expect() {
        assert_eq!(current(&app, &t, table).await, want, "{table} after the full sync's key scan");
    }
    let vanished = cw_report.deleted_ids("service/tickets");
    assert!(!vanished.is_empty(), "{cw_report:?}");
    for id in vanished {
        let eid = EntityId { service: "connectwise".into(), source_id: id.to_string() };
        let h = app.warehouse.history(&t, CanonicalTable::Tickets, &eid).await.unwrap();
        assert_eq!(h.last().unwrap()["is_deleted"], true, "ticket {id}: {h:?}");
    }
    // Running it again finds nothing more to delete.
    let again = SyncRequest {
        tenant: Some(t.clone()),
        service: Some("connectwise".into()),
        full: true,
        ..Default::default()
    };
    let before = app.warehouse.version_count(&t, CanonicalTable::Tickets).await.unwrap();
    app.pipeline(opts.clone()).run(again).await.unwrap();
    assert_eq!(app.warehouse.version_count(&t, CanonicalTable::Tickets).await.unwrap(), before);

    // Salesforce's daily quota runs out mid-table: the service stops cleanly (the run
    // still succeeds, with a notice), the others complete, the next run finishes the job.
    sims.salesforce.advance(
        sec,
        Changes { duration: chrono::Duration::hours(1), updates: 0, creates: 700, deletes: 0 },
    );
    let (_, limit) = sims.salesforce.api_usage(sec);
    sims.salesforce.set_api_usage(sec, limit - 2);
    let run = app
        .pipeline(opts.clone())
        .run(SyncRequest { tenant: Some(t.clone()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    let stopped: Vec<_> = run.tables.iter().filter(|o| o.notice.is_some()).collect();
    assert!(!stopped.is_empty() && stopped.iter().all(|o| o.service == "salesforce"), "{run:#?}");
    assert!(stopped[0].notice.as_deref().unwrap().contains("REQUEST_LIMIT_EXCEEDED"));
    assert!(current(&app, &t, CanonicalTable::Tickets).await < expect()[&CanonicalTable::Tickets]);
    sims.salesforce.set_api_usage(sec, 0);
    let run = app
        .pipeline(opts)
        .run(SyncRequest { tenant: Some(t.clone()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    for (table, want) in expect() {
        assert_eq!(current(&app, &t, table).await, want, "{table} after the quota was restored");
    }
}
