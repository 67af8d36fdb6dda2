//! Crash safety, as an operator would meet it: the ConnectWise simulator runs as its own
//! process (`avesa sim connectwise`), the tenant is set up with the CLI, and `avesa sync`
//! is killed again and again — incremental and full syncs, with SIGKILL at random
//! instants, with an abort exactly between an SCD2 apply and its commit, and with an abort
//! between a full sync's key-scan deletions and their commit — while the vendor's data
//! keeps changing (updates, creates and deletes). Tables of more than 2,000 records are
//! read in partitions side by side (`AVESA_PARTITION_RECORDS=1000`), so the kills land in
//! partitioned first, incremental and full syncs too. After a final clean full sync the
//! warehouse must equal the simulator's truth exactly: nothing missing, nothing
//! duplicated, every record's history a gap-free chain of distinct versions, and the lake
//! holding one raw file per committed chunk.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use avesa_cli::demo::{SECOND, demo_credentials};
use avesa_model::{CanonicalTable, TenantId};
use avesa_warehouse::{ListQuery, Warehouse};
use avesa_warehouse_duckdb::{DuckDbOptions, DuckDbWarehouse};
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

fn avesa(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_avesa"));
    c.arg("--data-dir").arg(data).arg("--log").arg("warn").env_remove("AVESA_FAILPOINTS");
    // Tickets and time entries split into partitions read side by side.
    c.env("AVESA_PARTITION_RECORDS", "1000");
    c.kill_on_drop(true);
    c
}

async fn run_ok(c: &mut Command) -> String {
    let out = c.output().await.unwrap();
    let (o, e) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "command failed:\n{o}\n{e}");
    o.into_owned()
}

/// Spawns `cmd`, waits for the first line of its output and returns the process, the
/// first `http://` URL on that line, and the rest of its output as it comes.
async fn spawn_announcing(
    cmd: &mut Command,
) -> (Child, String, std::sync::Arc<std::sync::Mutex<String>>) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the process announces its address")
        .unwrap()
        .unwrap();
    let url = first.split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_owned();
    let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = out.clone();
    tokio::spawn(async move {
        while let Ok(Some(l)) = lines.next_line().await {
            sink.lock().unwrap().push_str(&(l + "\n"));
        }
    });
    (child, url, out)
}

/// Starts `avesa sim connectwise` on a free port and returns it with its base URL.
async fn start_sim(data: &Path) -> (Child, String) {
    let (child, url, _) =
        spawn_announcing(avesa(data).args(["sim", "connectwise", "--port", "0"])).await;
    let base = url.trim_end_matches('/').trim_end_matches("/v4_6_release/apis/3.0").to_owned();
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
    let full_args = ["sync", "--tenant", "nw", "--chunk-records", "400", "--full"];
    // `scripts/crash_soak.sh` raises this to 100.
    let trials: usize =
        std::env::var("AVESA_CRASH_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let mut interrupted = 0;
    for trial in 0..trials {
        let mut cmd = avesa(&data);
        let full = trial % 4 >= 2;
        cmd.args(if full { &full_args[..] } else { &sync_args[..] });
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        if trial % 4 == 2 {
            // Abort between the key scan's deletion versions and their commit.
            cmd.env("AVESA_FAILPOINTS", "key_scan_before_commit=return");
            let status = cmd.status().await.unwrap();
            interrupted += usize::from(!status.success());
        } else if trial % 2 == 0 {
            // Abort exactly between an SCD2 apply and its commit.
            // Abort at the 1st, 2nd or 3rd commit.
            let passes = rng.gen_range(0..3);
            let actions =
                if passes == 0 { "return".to_owned() } else { format!("{passes}*off->return") };
            cmd.env("AVESA_FAILPOINTS", format!("before_commit={actions}"));
            let status = cmd.status().await.unwrap();
            interrupted += usize::from(!status.success());
        } else {
            let mut child = cmd.spawn().unwrap();
            tokio::time::sleep(Duration::from_millis(rng.gen_range(100..2500))).await;
            let _ = child.start_kill(); // SIGKILL
            let status = child.wait().await.unwrap();
            interrupted += usize::from(!status.success());
        }
        if trial % 4 == 1 || trial % 4 == 3 {
            // The vendor's data moves on between crashes; some records vanish, which
            // only a full sync's key scan can see.
            let r = http
                .post(format!("{base}/_sim/advance?company={}", SECOND.id))
                .json(&serde_json::json!({"seconds": 3600, "updates": 60, "creates": 15, "deletes": 6}))
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
    let out = run_ok(avesa(&data).args(full_args)).await;
    assert!(out.contains("succeeded"), "{out}");

    let truth: Value = http
        .get(format!("{base}/_sim/truth?company={}", SECOND.id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let wh =
        DuckDbWarehouse::open(&data.join("warehouse.duckdb"), &DuckDbOptions::default()).unwrap();
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

        // History: per record, versions chain without gaps or overlaps, exactly the last
        // is current, and no two neighbours are the same version twice (a replayed chunk
        // must not add one). A sample, as each history is one query.
        let step = (page.items.len() / 150).max(1);
        for r in page.items.iter().step_by(step) {
            let id: avesa_warehouse::EntityId = r["id"].as_str().unwrap().parse().unwrap();
            let h = wh.history(&tenant, table, &id).await.unwrap();
            assert!(!h.is_empty(), "{key} {id}: no history");
            for (i, v) in h.iter().enumerate() {
                let last = i + 1 == h.len();
                assert_eq!(v["is_current"], Value::Bool(last), "{key} {id}: {h:#?}");
                if !last {
                    assert_eq!(v["valid_to"], h[i + 1]["valid_from"], "{key} {id}: gap: {h:#?}");
                    let strip = |v: &avesa_warehouse::Record| {
                        let mut v = v.clone();
                        for k in ["valid_from", "valid_to", "is_current"] {
                            v.remove(k);
                        }
                        v
                    };
                    assert_ne!(strip(v), strip(&h[i + 1]), "{key} {id}: a duplicated version");
                }
            }
        }
    }

    // The lake: exactly one raw file per committed chunk that read records.
    drop(wh);
    let state = avesa_state::SqliteStore::open(&data.join("state.db")).await.unwrap();
    use avesa_state::StateStore;
    let (mut committed_with_records, mut in_partitions) = (0, 0);
    for run in state.list_runs(Some(&tenant), 1000).await.unwrap() {
        for c in state.list_chunks(run.id).await.unwrap() {
            if c.status == avesa_state::ChunkStatus::Committed && c.counts.records > 0 {
                committed_with_records += 1;
                in_partitions += usize::from(c.key.table.contains("@part-"));
            }
        }
    }
    assert!(in_partitions > 0, "no chunk was read in a partition");
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

/// `avesa serve` on SIGTERM: no new runs, the run in flight commits its chunk and stops,
/// the process exits cleanly, and the run is recorded `cancelled`; a serve killed outright
/// leaves a run the next process marks `interrupted`. Either way the next sync completes
/// the table exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stops_gracefully_on_sigterm_and_resumes() {
    use avesa_sim::{ConnectWiseSim, CwSizes, FaultKind, FaultRule};
    use avesa_state::{ChunkStatus, RunStatus, StateStore};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sim = ConnectWiseSim::new();
    let creds = demo_credentials(&SECOND, "");
    sim.add_company(creds.company_spec(31, CwSizes::derived(20, 40, 30_000, 50, 3)));
    let total = sim.truth(&creds.company_id).tickets.len();
    let (addr, _server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{addr}");
    run_ok(avesa(&data).args(["tenant", "add", "gs", "--name", "Graceful"])).await;
    run_ok(
        avesa(&data)
            .args(["service", "add", "--tenant", "gs", "--service", "connectwise"])
            .args(["--api-url", &base, "--company-id", &creds.company_id])
            .args(["--public-key", &creds.public_key, "--private-key", &creds.private_key])
            .args(["--client-id", &creds.client_id]),
    )
    .await;
    run_ok(
        avesa(&data).args(["user", "add", "--tenant", "gs", "--email", "ops@gs.example"]).args([
            "--role",
            "tenant_admin",
            "--password",
            "graceful-pass-1",
        ]),
    )
    .await;
    // Every tickets page is slow, so a run is still going when the signal comes.
    sim.faults().inject(FaultRule::new(FaultKind::Slow { millis: 400 }).path("service/tickets?"));

    let http = reqwest::Client::new();
    let start_serve = || async {
        spawn_announcing(avesa(&data).args(["serve", "--bind", "127.0.0.1:0", "--no-scheduler"]))
            .await
    };
    // Starts a run of the tickets table over the API and waits for its first commit.
    let trigger = |url: String| {
        let http = http.clone();
        async move {
            let r = http
                .post(format!("{url}/auth/login"))
                .json(&serde_json::json!({"tenant_id": "gs", "email": "ops@gs.example", "password": "graceful-pass-1"}))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success());
            let token =
                r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
            let r = http
                .post(format!("{url}/api/admin/runs"))
                .bearer_auth(&token)
                .json(&serde_json::json!({"service": "connectwise", "table": "service/tickets"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
            let run = r.json::<Value>().await.unwrap()["run_id"].as_str().unwrap().to_owned();
            // The run is on record by the time its id is answered.
            let at_once = http
                .get(format!("{url}/api/admin/runs/{run}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(at_once.status(), reqwest::StatusCode::OK);
            for _ in 0..300 {
                let v: Value = http
                    .get(format!("{url}/api/admin/runs/{run}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let committed = v["chunks"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["status"] == "committed"));
                if committed {
                    return (run, token);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("run {run} committed no chunk in 30 s");
        }
    };

    // 1. SIGTERM: a clean stop.
    let (mut serve, url, out) = start_serve().await;
    let (run1, token) = trigger(url.clone()).await;
    let pid = serve.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    // Once the signal is handled, new runs are refused with 503 (or the server is gone).
    for _ in 0..300 {
        if out.lock().unwrap().contains("stopping") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Ok(r) = http
        .post(format!("{url}/api/admin/runs"))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await
    {
        assert_eq!(r.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    }
    let status = tokio::time::timeout(Duration::from_secs(60), serve.wait())
        .await
        .expect("serve stops within a minute")
        .unwrap();
    let said = out.lock().unwrap().clone();
    assert!(status.success(), "{status:?}\n{said}");
    assert!(said.contains("stopping") && said.contains("stopped cleanly"), "{said}");
    {
        let state = avesa_state::SqliteStore::open(&data.join("state.db")).await.unwrap();
        let run1 = run1.parse().unwrap();
        let r = state.get_run(run1).await.unwrap().unwrap();
        assert_eq!(r.status, RunStatus::Cancelled, "{r:?}");
        let chunks = state.list_chunks(run1).await.unwrap();
        assert!(chunks.iter().all(|c| c.status == ChunkStatus::Committed), "{chunks:#?}");
        let read: u64 = chunks.iter().map(|c| c.counts.records).sum();
        assert!(read > 0 && (read as usize) < total, "{read} of {total}");
    }

    // 2. SIGKILL: the run stays `running` until the next process marks it interrupted.
    let (mut serve, url, _out) = start_serve().await;
    let (run2, _) = trigger(url).await;
    serve.start_kill().unwrap();
    serve.wait().await.unwrap();

    // 3. The next sync completes the table exactly.
    // (With JSON logs: every chunk's lines carry the run, tenant, service, table and
    // chunk ids in their spans.)
    sim.faults().clear();
    let synced = Command::new(env!("CARGO_BIN_EXE_avesa"))
        .arg("--data-dir")
        .arg(&data)
        .args(["--log", "info", "--log-json"])
        .args(["sync", "--tenant", "gs", "--table", "service/tickets"])
        .output()
        .await
        .unwrap();
    let (out, err) =
        (String::from_utf8_lossy(&synced.stdout), String::from_utf8_lossy(&synced.stderr));
    assert!(synced.status.success() && out.contains("succeeded"), "{out}\n{err}");
    let applied: Vec<Value> = err
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "chunk applied")
        .collect();
    assert!(!applied.is_empty(), "no chunk log lines:\n{err}");
    for line in &applied {
        let spans = line["spans"].as_array().expect("span list");
        let field = |name: &str| spans.iter().find_map(|s| s.get(name)).cloned();
        assert!(field("run_id").is_some_and(|v| v.as_str().is_some_and(|s| s.len() > 8)), "{line}");
        assert_eq!(field("tenant"), Some(Value::from("gs")), "{line}");
        assert_eq!(field("service"), Some(Value::from("connectwise")), "{line}");
        assert_eq!(field("table"), Some(Value::from("service/tickets")), "{line}");
        assert!(field("chunk").is_some(), "{line}");
        assert!(line["fields"]["records"].as_u64().is_some_and(|n| n > 0), "{line}");
    }
    let state = avesa_state::SqliteStore::open(&data.join("state.db")).await.unwrap();
    let r = state.get_run(run2.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(r.status, RunStatus::Interrupted, "{r:?}");
    assert!(r.error.unwrap().contains("interrupted"));
    drop(state);
    let wh =
        DuckDbWarehouse::open(&data.join("warehouse.duckdb"), &DuckDbOptions::default()).unwrap();
    let tenant = TenantId::new("gs").unwrap();
    assert_eq!(wh.version_count(&tenant, CanonicalTable::Tickets).await.unwrap() as usize, total);
}
