//! Makes an installation for `bench/api_load.sh`: one tenant (`big`) with TICKETS
//! ConnectWise tickets (and a quarter as many time entries), synced from the simulator
//! into DATA_DIR on the embedded defaults, and its tenant admin
//! `admin@big.example` / `bench-password-1`.
//!
//! ```text
//! cargo run --release -p avesa-cli --example api_bench_data -- DATA_DIR [TICKETS]
//! ```

use std::time::Instant;

use avesa_cli::app::App;
use avesa_cli::demo::{MAIN, demo_credentials};
use avesa_model::{Role, TenantId};
use avesa_pipeline::{SyncRequest, seal_service_config};
use avesa_sim::{ConnectWiseSim, CwSizes};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir =
        args.next().ok_or_else(|| anyhow::anyhow!("usage: api_bench_data DATA_DIR [TICKETS]"))?;
    let tickets: usize = args.next().map_or(Ok(1_000_000), |s| s.parse())?;
    let app = App::open(std::path::Path::new(&dir)).await?;
    let sim = ConnectWiseSim::new();
    let (addr, _server) = sim.serve("127.0.0.1:0".parse()?).await?;
    let mut creds = demo_credentials(&MAIN, &format!("http://{addr}"));
    creds.company_id = "big".into();
    sim.add_company(creds.company_spec(7, CwSizes::derived(200, 2_000, tickets, tickets / 4, 25)));
    let t = TenantId::new("big")?;
    app.store.create_tenant(&t, "Big MSP").await?;
    app.store
        .upsert_service(&t, "connectwise", &seal_service_config(&app.cipher, &t, &creds.config()))
        .await?;
    app.store
        .create_user(avesa_state::NewUser {
            tenant_id: t.clone(),
            email: "admin@big.example".into(),
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
        "synced {} records in {:.1} s: {:?}",
        run.records(),
        started.elapsed().as_secs_f64(),
        run.status
    );
    Ok(())
}
