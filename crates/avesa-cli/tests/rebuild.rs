//! `avesa rebuild`: a tenant's canonical tables rebuilt from the raw lake alone equal the
//! incrementally built warehouse, version for version; another tenant's data is not
//! touched; and the command says what it did, or one clear error.

use std::collections::BTreeMap;
use std::process::Command;

use avesa_cli::demo::{self, DemoOptions, MAIN, SECOND};
use avesa_model::{CanonicalTable, TenantId};
use avesa_pipeline::SyncRequest;
use avesa_sim::{AdvanceSpec, CwSizes};
use avesa_warehouse::{EntityId, ListQuery, Warehouse};
use chrono::Duration;
use serde_json::Value;

/// The tenant's warehouse as the API can see it: each table's version count, every
/// current record, every record as it stood at the demo's epoch (before the vendor moved
/// on), and every version of the first records of each table.
async fn snapshot(wh: &dyn Warehouse, t: &TenantId) -> BTreeMap<String, Vec<Value>> {
    let mut out = BTreeMap::new();
    let epoch = demo::sim_epoch().naive_utc();
    for table in CanonicalTable::ALL {
        let n = wh.version_count(t, table).await.unwrap();
        out.insert(format!("{table} versions"), vec![Value::from(n)]);
        for (label, as_of) in [("now", None), ("at the epoch", Some(epoch))] {
            let mut rows = Vec::new();
            for page in 1.. {
                let q = ListQuery {
                    page,
                    page_size: 500,
                    sort: Some("id".into()),
                    as_of,
                    ..Default::default()
                };
                let p = wh.list(t, table, &q).await.unwrap();
                let last = p.items.len() < 500;
                rows.extend(p.items.into_iter().map(Value::Object));
                if last {
                    break;
                }
            }
            if as_of.is_none() {
                for r in rows.iter().take(100) {
                    let id: EntityId = r["id"].as_str().unwrap().parse().unwrap();
                    let versions = wh.history(t, table, &id).await.unwrap();
                    out.insert(
                        format!("{table} {} history", r["id"]),
                        versions.into_iter().map(Value::Object).collect(),
                    );
                }
            }
            out.insert(format!("{table} {label}"), rows);
        }
    }
    out
}

fn total(s: &BTreeMap<String, Vec<Value>>, table: &str) -> u64 {
    s[&format!("{table} versions")][0].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_from_the_raw_lake_equals_the_incremental_warehouse() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut opts = DemoOptions::new(data.clone());
    opts.main_sizes = CwSizes::small();
    opts.second_sizes = demo::SecondSizes::small();
    let d = demo::prepare(opts.clone()).await.expect("demo prepares");
    let (main, second) = (TenantId::new(MAIN.id).unwrap(), TenantId::new(SECOND.id).unwrap());
    // A second sync after the vendor moved on: records with several versions.
    d.sims.connectwise.advance(
        MAIN.id,
        AdvanceSpec { duration: Duration::days(1), updates: 150, creates: 40, deletes: 0 },
    );
    let run = d
        .app
        .pipeline(opts.pipeline.clone())
        .run(SyncRequest { tenant: Some(main.clone()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(run.status, avesa_state::RunStatus::Succeeded, "{run:?}");
    let wh = d.app.warehouse.clone();
    let incremental = snapshot(wh.as_ref(), &main).await;
    let others = snapshot(wh.as_ref(), &second).await;
    assert!(
        total(&incremental, "tickets")
            > incremental.keys().filter(|k| k.starts_with("tickets connectwise:")).count() as u64,
        "some tickets have several versions"
    );

    // The warehouse loses the tenant's tickets; the lake still has every chunk.
    assert!(wh.purge(&main, CanonicalTable::Tickets).await.unwrap() > 0);
    let pipeline = d.app.pipeline(opts.pipeline.clone());
    let done = pipeline.rebuild(&main, None).await.unwrap();
    assert_eq!(done.len(), CanonicalTable::ALL.len(), "{done:?}");
    let tickets = done.iter().find(|t| t.table == "tickets").unwrap();
    assert_eq!((tickets.removed, tickets.versions), (0, total(&incremental, "tickets")));
    assert!(tickets.files >= 2 && tickets.records >= tickets.versions, "{tickets:?}");
    let rebuilt = snapshot(wh.as_ref(), &main).await;
    assert_eq!(rebuilt.len(), incremental.len());
    for (k, v) in &incremental {
        assert_eq!(rebuilt.get(k), Some(v), "{k} differs after the rebuild");
    }
    assert_eq!(snapshot(wh.as_ref(), &second).await, others, "the other tenant is untouched");
    // Serving processes see the rebuild: the tenant's settings moved on.
    assert!(d.app.store.get_setting(&main, "rebuilt_at").await.unwrap().is_some());

    // The command, as an operator runs it, on the same installation.
    drop(pipeline);
    drop(wh);
    let Demo { app, sims, pipeline, summary: _ } = d;
    drop((app, sims, pipeline));
    let avesa = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_avesa"));
        c.arg("--data-dir").arg(&data).env_remove("AVESA_DATA_DIR");
        c
    };
    let out =
        avesa().args(["rebuild", "--tenant", MAIN.id, "--table", "tickets"]).output().unwrap();
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let row: Vec<&str> =
        stdout.lines().find(|l| l.starts_with("tickets")).unwrap().split_whitespace().collect();
    let n = total(&incremental, "tickets").to_string();
    assert_eq!((row[3], row[4]), (n.as_str(), n.as_str()), "{stdout}");
    // Rows back in date order, on demand: every version of the tenant's tickets and time
    // entries rewritten, the reference tables left as they are.
    let out = avesa().args(["reorder", "--tenant", MAIN.id]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let rewritten = |table: &str| -> String {
        let line = stdout.lines().find(|l| l.starts_with(&format!("{table} "))).unwrap();
        line.split_whitespace().nth(1).unwrap().to_owned()
    };
    assert_eq!(rewritten("tickets"), n, "{stdout}");
    assert_eq!(rewritten("time_entries"), total(&incremental, "time_entries").to_string());
    assert_eq!(rewritten("companies"), "0", "{stdout}");
    for (args, says) in [
        (vec!["rebuild", "--tenant", MAIN.id, "--table", "nope"], "unknown canonical table"),
        (vec!["rebuild", "--tenant", "nobody"], "nobody"),
        (vec!["reorder", "--tenant", MAIN.id, "--table", "nope"], "unknown canonical table"),
        (vec!["reorder", "--tenant", "nobody"], "nobody"),
    ] {
        let out = avesa().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        assert!(errors[0].contains(says), "{stderr}");
    }
}

use demo::Demo;
