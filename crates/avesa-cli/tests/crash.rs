//! Crash safety, as an operator would meet it: the ConnectWise simulator runs as its own
//! process (`avesa sim connectwise`), the tenant is set up with the CLI, and `avesa sync`
//! is killed again and again — with SIGKILL at random instants and with an abort exactly
//! between the SCD2 apply and the commit — while the vendor's data keeps changing. After
//! a final clean sync the warehouse must equal the simulator's truth exactly: nothing
//! missing, nothing duplicated, and the lake holds one raw file per committed chunk.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use avesa_cli::demo::{SECOND, demo_credentials};
use avesa_model::{CanonicalTable, TenantId};
use avesa_warehouse::{DuckDbWarehouse, ListQuery, Warehouse};
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

fn avesa(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_avesa"));
    c.arg("--data-dir").arg(data).arg("--log").arg("warn").env_remove("AVESA_CRASH_AT");
    c.kill_on_drop(true);
    c
}

async fn run_ok(c: &mut Command) -> String {
    let out = c.output().await.unwrap();
    let (o, e) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "command failed:\n{o}\n{e}");
    o.into_owned()
}

/// Starts `avesa sim connectwise` on a free port and returns it with its base URL.
async fn start_sim(data: &Path) -> (Child, String) {
    let mut child = avesa(data)
        .args(["sim", "connectwise", "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("simulator starts")
        .unwrap()
        .unwrap();
    let url = first.split_whitespace().find(|w| w.starts_with("http://")).unwrap();
    let base = url.trim_end_matches('/').trim_end_matches("/v4_6_release/apis/3.0").to_owned();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_survives_being_killed_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_sim, base) = start_sim(&data).await;
    let http = reqwest::Client::new();
    let creds = demo_credentials(&SECOND, &base);

    run_ok(avesa(&data).args(["tenant", "add", "nw", "--name", "Northwind"])).await;
    // A wrong key is refused with one clear line, and nothing is stored.
    let out = avesa(&data)
        .args(["service", "add", "--tenant", "nw", "--service", "connectwise"])
        .args(["--api-url", &base, "--company-id", &creds.company_id])
        .args(["--public-key", &creds.public_key, "--private-key", "wrong"])
        .args(["--client-id", &creds.client_id])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("authentication failed"), "{err}");
    assert!(!err.contains("wrong\""), "the secret must not be echoed: {err}");
    run_ok(
        avesa(&data)
            .args(["service", "add", "--tenant", "nw", "--service", "connectwise"])
            .args(["--api-url", &base, "--company-id", &creds.company_id])
            .args(["--public-key", &creds.public_key, "--private-key", &creds.private_key])
            .args(["--client-id", &creds.client_id]),
    )
    .await;
    let out = run_ok(avesa(&data).args([
        "service",
        "test",
        "--tenant",
        "nw",
        "--service",
        "connectwise",
    ]))
    .await;
    assert!(out.contains("credentials accepted"), "{out}");

    let mut rng = rand::rngs::StdRng::seed_from_u64(20261127);
    let sync_args = ["sync", "--tenant", "nw", "--chunk-records", "400"];
    // `scripts/crash_soak.sh` raises this to 100.
    let trials: usize =
        std::env::var("AVESA_CRASH_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let mut interrupted = 0;
    for trial in 0..trials {
        let mut cmd = avesa(&data);
        cmd.args(sync_args).stdout(Stdio::null()).stderr(Stdio::null());
        if trial % 2 == 0 {
            // Abort exactly between an SCD2 apply and its commit.
            cmd.env("AVESA_CRASH_AT", format!("before_commit:{}", rng.gen_range(1..4)));
            let status = cmd.status().await.unwrap();
            interrupted += usize::from(!status.success());
        } else {
            let mut child = cmd.spawn().unwrap();
            tokio::time::sleep(Duration::from_millis(rng.gen_range(100..2500))).await;
            let _ = child.start_kill(); // SIGKILL
            let status = child.wait().await.unwrap();
            interrupted += usize::from(!status.success());
        }
        if trial % 3 == 2 {
            // The vendor's data moves on between crashes.
            let r = http
                .post(format!("{base}/_sim/advance?company={}", SECOND.id))
                .json(&serde_json::json!({"seconds": 3600, "updates": 60, "creates": 15}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
        }
    }
    assert!(
        interrupted * 2 >= trials,
        "only {interrupted} of {trials} syncs were actually interrupted"
    );
    let out = run_ok(avesa(&data).args(sync_args)).await;
    assert!(out.contains("succeeded"), "{out}");

    let truth: Value = http
        .get(format!("{base}/_sim/truth?company={}", SECOND.id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let wh = DuckDbWarehouse::open(&data.join("warehouse.duckdb")).unwrap();
    let tenant = TenantId::new("nw").unwrap();
    for (table, key, field, truth_field) in [
        (CanonicalTable::Companies, "companies", "name", "name"),
        (CanonicalTable::Contacts, "contacts", "last_name", "lastName"),
        (CanonicalTable::Tickets, "tickets", "status", "status"),
        (CanonicalTable::TimeEntries, "time_entries", "actual_hours", "actualHours"),
    ] {
        let want: BTreeMap<String, Value> = truth[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let v = match &r[truth_field] {
                    Value::Object(o) => o["name"].clone(),
                    other => other.clone(),
                };
                (format!("connectwise:{}", r["id"]), norm(v))
            })
            .collect();
        let page = wh
            .list(&tenant, table, &ListQuery { page_size: 100_000, ..Default::default() })
            .await
            .unwrap();
        let got: BTreeMap<String, Value> = page
            .items
            .iter()
            .map(|r| (r["id"].as_str().unwrap().to_owned(), norm(r[field].clone())))
            .collect();
        assert_eq!(page.total as usize, page.items.len());
        assert_eq!(got.len(), want.len(), "{key}: record count");
        assert_eq!(got, want, "{key}: current state differs from the simulator's truth");
    }

    // The lake: exactly one raw file per committed chunk that read records.
    drop(wh);
    let state = avesa_state::SqliteStore::open(&data.join("state.db")).await.unwrap();
    use avesa_state::StateStore;
    let mut committed_with_records = 0;
    for run in state.list_runs(Some(&tenant), 1000).await.unwrap() {
        for c in state.list_chunks(run.id).await.unwrap() {
            if c.status == avesa_state::ChunkStatus::Committed && c.counts.records > 0 {
                committed_with_records += 1;
            }
        }
    }
    let raw_files = walk(&data.join("lake/nw/raw"));
    assert_eq!(raw_files, committed_with_records, "raw files vs committed chunks");

    // Run records: the CLI lists the runs, failed (crashed) ones included, and shows one.
    let runs = run_ok(avesa(&data).args(["runs", "--tenant", "nw", "--limit", "100"])).await;
    assert!(runs.lines().count() > 2, "{runs}");
    let last = runs.lines().nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    assert!(runs.lines().nth(1).unwrap().contains("succeeded"), "newest first: {runs}");
    let shown = run_ok(avesa(&data).args(["runs", "show", &last])).await;
    assert!(shown.contains("status   succeeded") && shown.contains("service/tickets"), "{shown}");
    let out = avesa(&data).args(["runs", "show", "not-a-run"]).output().await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid id"));
}

/// Numbers compare by value (2 and 2.0 are the same hours).
fn norm(v: Value) -> Value {
    match v.as_f64() {
        Some(f) if v.is_number() => Value::String(format!("{f}")),
        _ => v,
    }
}

fn walk(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            n += walk(&p);
        } else if p.extension().is_some_and(|x| x == "parquet") {
            n += 1;
        }
    }
    n
}
