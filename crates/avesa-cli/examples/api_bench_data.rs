//! Makes an installation for the API benchmarks (`bench/api_load.sh`,
//! `bench/analytics.sh`): one tenant with a simulated ConnectWise company of the given
//! size, synced from the simulator through the pipeline into DATA_DIR on the embedded
//! defaults, and its tenant admin `admin@{TENANT}.example` / `bench-password-1`. Run it
//! again on the same DATA_DIR with another `--tenant` to add a second tenant.
//!
//! ```text
//! cargo run --release -p avesa-cli --example api_bench_data -- DATA_DIR [TICKETS]
//!     [--time-entries N] [--companies N] [--members N] [--tenant T] [--now]
//! ```
//!
//! Defaults: 1,000,000 tickets, a quarter as many time entries, 200 companies (2,000
//! contacts), 25 members, tenant `big`. The simulated company's "now" is the demo epoch
//! unless `--now` makes it the current time, so that named periods (`30d`, `month`) hold
//! the latest data.

use std::time::Instant;

use avesa_cli::app::App;
use avesa_cli::demo::{MAIN, demo_credentials};
use avesa_model::{Role, TenantId};
use avesa_pipeline::{SyncRequest, seal_service_config};
use avesa_sim::{ConnectWiseSim, CwSizes};
use chrono::{SubsecRound, Utc};

const USAGE: &str = "usage: api_bench_data DATA_DIR [TICKETS] [--time-entries N] \
                     [--companies N] [--members N] [--tenant T] [--now]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut dir = None;
    let mut tickets = 1_000_000usize;
    let mut time_entries = None;
    let mut companies = 200usize;
    let mut members = 25usize;
    let mut tenant = "big".to_string();
    let mut now = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next().ok_or_else(|| anyhow::anyhow!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--time-entries" => time_entries = Some(value(&arg)?.parse()?),
            "--companies" => companies = value(&arg)?.parse()?,
            "--members" => members = value(&arg)?.parse()?,
            "--tenant" => tenant = value(&arg)?,
            "--now" => now = true,
            _ if arg.starts_with("--") => anyhow::bail!("unknown flag {arg}\n{USAGE}"),
            _ if dir.is_none() => dir = Some(arg),
            _ => tickets = arg.parse()?,
        }
    }
    let dir = dir.ok_or_else(|| anyhow::anyhow!(USAGE))?;
    let time_entries = time_entries.unwrap_or(tickets / 4);
    let app = App::open(std::path::Path::new(&dir)).await?;
    let sim = ConnectWiseSim::new();
    let (addr, _server) = sim.serve("127.0.0.1:0".parse()?).await?;
    let mut creds = demo_credentials(&MAIN, &format!("http://{addr}"));
    creds.company_id = tenant.clone();
    let mut spec = creds.company_spec(
        7,
        CwSizes::derived(companies, companies * 10, tickets, time_entries, members),
    );
    if now {
        spec.now = Utc::now().trunc_subsecs(0);
    }
    sim.add_company(spec);
    let t = TenantId::new(&tenant)?;
    app.store.create_tenant(&t, &format!("{tenant} MSP")).await?;
    app.store
        .upsert_service(&t, "connectwise", &seal_service_config(&app.cipher, &t, &creds.config()))
        .await?;
    app.store
        .create_user(avesa_state::NewUser {
            tenant_id: t.clone(),
            email: format!("admin@{tenant}.example"),
            name: "Bench".into(),
            role: Role::TenantAdmin,
            password_hash: avesa_api::hash_password("bench-password-1"),
        })
        .await?;
    let started = Instant::now();
    let run = app
        .pipeline(app.pipeline_options())
        .run(SyncRequest { tenant: Some(t), ..SyncRequest::default() })
        .await?;
    println!(
        "tenant {tenant}: synced {} records in {:.1} s: {:?}",
        run.records(),
        started.elapsed().as_secs_f64(),
        run.status
    );
    Ok(())
}
