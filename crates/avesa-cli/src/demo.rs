//! `avesa demo`: simulators → pipeline → warehouse → API + UI, on the embedded defaults.
//!
//! It starts an in-process ConnectWise simulator holding two companies, creates (or
//! finds) the two demo tenants with their services and users, syncs everything and then
//! serves. Every step is idempotent, so running the demo again resumes: tenants and users
//! are kept, the service configuration is pointed at the new simulator, and the sync
//! continues from the stored watermarks (the simulator's data is deterministic from its
//! seed, and the SCD2 apply is idempotent, so nothing is duplicated).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use avesa_connectors::ConnectWiseConfig;
use avesa_model::{Role, TenantId};
use avesa_pipeline::{
    PipelineOptions, RunSummary, ServiceConfig, SyncRequest, seal_service_config,
};
use avesa_sim::{ConnectWiseSim, CwCompanySpec, CwSizes};
use avesa_state::{NewUser, StateError};
use chrono::{DateTime, Utc};

use crate::app::App;

/// A demo tenant: its id and name, its login, and its simulated ConnectWise company.
#[derive(Clone, Debug)]
pub struct DemoTenant {
    pub id: &'static str,
    pub name: &'static str,
    pub email: &'static str,
    pub password: &'static str,
    pub seed: u64,
}

pub const MAIN: DemoTenant = DemoTenant {
    id: "sitetechnology",
    name: "Site Technology",
    email: "admin@sitetechnology.com",
    password: "demo123",
    seed: 42,
};

pub const SECOND: DemoTenant = DemoTenant {
    id: "northwind",
    name: "Northwind IT Services",
    email: "admin@northwind.example",
    password: "demo123",
    seed: 7,
};

/// The simulated "now" of the demo data: fixed, so every demo run sees the same data.
pub fn sim_epoch() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").expect("valid constant").to_utc()
}

/// The ConnectWise credentials of a demo tenant's simulated company.
pub fn demo_credentials(t: &DemoTenant, api_url: &str) -> ConnectWiseConfig {
    ConnectWiseConfig {
        api_url: api_url.to_owned(),
        codebase: "v4_6_release".into(),
        company_id: t.id.to_owned(),
        public_key: format!("{}-public", t.id),
        private_key: format!("{}-private-key", t.id),
        client_id: "7a1c3a8e-0d4b-4c55-9c0e-5a1d2f3b4c5d".into(),
    }
}

#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub data_dir: PathBuf,
    /// Where the simulator listens (port 0 = any free port).
    pub sim_addr: SocketAddr,
    pub main_sizes: CwSizes,
    pub second_sizes: CwSizes,
    pub pipeline: PipelineOptions,
}

impl DemoOptions {
    pub fn new(data_dir: PathBuf) -> Self {
        DemoOptions {
            data_dir,
            sim_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            main_sizes: CwSizes::demo(),
            second_sizes: CwSizes::small(),
            pipeline: PipelineOptions::default(),
        }
    }
}

/// A prepared demo: everything synced, ready to serve.
pub struct Demo {
    pub app: App,
    pub sim: ConnectWiseSim,
    pub sim_addr: SocketAddr,
    pub summary: RunSummary,
}

/// Starts the simulator, sets up both tenants and runs the sync.
pub async fn prepare(opts: DemoOptions) -> Result<Demo> {
    let app = App::open(&opts.data_dir).await?;
    let sim = ConnectWiseSim::new();
    for (t, sizes) in [(&MAIN, &opts.main_sizes), (&SECOND, &opts.second_sizes)] {
        let creds = demo_credentials(t, "http://unused");
        sim.add_company(CwCompanySpec {
            company_id: creds.company_id,
            public_key: creds.public_key,
            private_key: creds.private_key,
            client_id: creds.client_id,
            seed: t.seed,
            sizes: sizes.clone(),
            now: sim_epoch(),
        });
    }
    let (sim_addr, _task) = sim
        .serve(opts.sim_addr)
        .await
        .with_context(|| format!("starting the ConnectWise simulator on {}", opts.sim_addr))?;
    let api_url = format!("http://{sim_addr}");
    for t in [&MAIN, &SECOND] {
        ensure_tenant(&app, t, &api_url).await?;
    }
    let summary = app
        .pipeline(opts.pipeline.clone())
        .run(SyncRequest::default())
        .await
        .context("demo sync")?;
    Ok(Demo { app, sim, sim_addr, summary })
}

/// Creates the tenant and its user if missing, and (re)points its ConnectWise service
/// at the simulator.
pub async fn ensure_tenant(app: &App, t: &DemoTenant, api_url: &str) -> Result<()> {
    let id = TenantId::new(t.id)?;
    match app.store.create_tenant(&id, t.name).await {
        Ok(_) | Err(StateError::AlreadyExists(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let cfg = ServiceConfig::Connectwise(demo_credentials(t, api_url));
    app.store.upsert_service(&id, "connectwise", &seal_service_config(&app.cipher, &cfg)).await?;
    if app.store.find_user_by_email(&id, t.email).await?.is_none() {
        app.store
            .create_user(NewUser {
                tenant_id: id,
                email: t.email.into(),
                name: format!("{} Admin", t.name),
                role: Role::TenantAdmin,
                password_hash: avesa_api::hash_password(t.password),
            })
            .await?;
    }
    Ok(())
}

/// Serves the API and UI until the process ends; returns the bound address.
pub async fn serve(
    app: &App,
    bind: SocketAddr,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let addr = listener.local_addr()?;
    let router = avesa_api::router(app.api_state());
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "server stopped");
        }
    });
    Ok((addr, task))
}
