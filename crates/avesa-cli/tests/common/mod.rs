//! Set-up shared by the pipeline tests: a company in the ConnectWise simulator and the
//! tenant that syncs from it.

use std::net::SocketAddr;

use avesa_cli::app::App;
use avesa_cli::demo::{CwCredentials, MAIN, demo_credentials};
use avesa_model::TenantId;
use avesa_pipeline::seal_service_config;
use avesa_sim::{ConnectWiseSim, CwSizes};

/// Adds company `company` (seeded with `seed`) to `sim`, served at `addr`, and tenant
/// `tenant` with a ConnectWise service reading it. Returns the credentials.
pub async fn cw_tenant(
    app: &App,
    sim: &ConnectWiseSim,
    addr: SocketAddr,
    tenant: &str,
    company: &str,
    seed: u64,
    sizes: CwSizes,
) -> (TenantId, CwCredentials) {
    let mut creds = demo_credentials(&MAIN, &format!("http://{addr}"));
    creds.company_id = company.to_owned();
    sim.add_company(creds.company_spec(seed, sizes));
    let t = TenantId::new(tenant).unwrap();
    app.store.create_tenant(&t, tenant).await.unwrap();
    app.store
        .upsert_service(&t, "connectwise", &seal_service_config(&app.cipher, &creds.config()))
        .await
        .unwrap();
    (t, creds)
}
