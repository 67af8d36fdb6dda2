//! `avesa demo`: simulators → pipeline → warehouse → API + UI, on the embedded defaults.
//!
//! It starts the four in-process simulators — ConnectWise for the first tenant;
//! ServiceNow, Salesforce and Microsoft 365 for the second — creates (or finds) the two
//! demo tenants with their services and users, syncs everything and then serves. Every step is idempotent, so running the demo again resumes: tenants and users
//! are kept, the service configuration is pointed at the new simulator, and the sync
//! continues from the stored watermarks (the simulator's data is deterministic from its
//! seed and its "now", and the SCD2 apply is idempotent, so nothing is duplicated). The
//! data ends at the hour of the installation's first demo (kept in the main tenant's
//! settings, [`DEMO_EPOCH`]), so the dashboard's "last 30 days" holds a month of work.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use avesa_model::{Role, TenantId};
use avesa_pipeline::{
    PipelineOptions, RunSummary, ServiceConfig, SyncRequest, seal_service_config,
};
use avesa_sim::{
    ConnectWiseSim, CwCompanySpec, CwSizes, GraphSim, GraphSizes, GraphTenantSpec, SalesforceSim,
    ServiceNowSim, SfOrgSpec, SfSizes, SnSizes, SnTenantSpec,
};
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
    password: "demo-password",
    seed: 42,
};

pub const SECOND: DemoTenant = DemoTenant {
    id: "northwind",
    name: "Northwind IT Services",
    email: "admin@northwind.example",
    password: "demo-password",
    seed: 7,
};

/// The fixed simulated "now" of the tests' demo data ([`DemoEpoch::Fixed`]).
pub fn sim_epoch() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").expect("valid constant").to_utc()
}

/// The request budget of the demo's services. The vendors' own (ConnectWise 8 requests
/// a second, ServiceNow 10, Salesforce and Graph 20: the connector specs) stand for
/// what a real vendor allows; the demo's simulators run in this process, and at
/// ConnectWise's 8 a second the demo's 77 pages of tickets and time entries alone took
/// ten seconds of waiting for the budget (BENCHMARKS.md, "The demo").
pub const DEMO_REQUESTS_PER_SECOND: u32 = 200;

/// A demo tenant's ConnectWise credentials (for its simulated company).
#[derive(Clone, Debug)]
pub struct CwCredentials {
    pub api_url: String,
    pub company_id: String,
    pub public_key: String,
    pub private_key: String,
    pub client_id: String,
}

impl CwCredentials {
    /// The service configuration `avesa service add` would store.
    pub fn config(&self) -> ServiceConfig {
        ServiceConfig::new(
            "connectwise",
            [
                ("api_url", &self.api_url),
                ("company_id", &self.company_id),
                ("public_key", &self.public_key),
                ("private_key", &self.private_key),
                ("client_id", &self.client_id),
            ]
            .map(|(k, v)| (k.to_owned(), v.clone())),
        )
    }

    /// The simulator company these credentials log in to, generated from `seed`.
    pub fn company_spec(&self, seed: u64, sizes: CwSizes) -> CwCompanySpec {
        CwCompanySpec {
            company_id: self.company_id.clone(),
            public_key: self.public_key.clone(),
            private_key: self.private_key.clone(),
            client_id: self.client_id.clone(),
            seed,
            sizes,
            now: sim_epoch(),
        }
    }
}

/// The ConnectWise credentials of a demo tenant's simulated company.
pub fn demo_credentials(t: &DemoTenant, api_url: &str) -> CwCredentials {
    CwCredentials {
        api_url: api_url.to_owned(),
        company_id: t.id.to_owned(),
        public_key: format!("{}-public", t.id),
        private_key: format!("{}-private-key", t.id),
        client_id: "7a1c3a8e-0d4b-4c55-9c0e-5a1d2f3b4c5d".into(),
    }
}

/// Sizes of the second tenant's three services.
#[derive(Clone, Debug)]
pub struct SecondSizes {
    pub servicenow: SnSizes,
    pub salesforce: SfSizes,
    pub graph: GraphSizes,
}

impl SecondSizes {
    /// A mid-sized second tenant: about 14,000 records over three services.
    pub fn demo() -> Self {
        SecondSizes {
            servicenow: SnSizes {
                companies: 60,
                users: 15,
                contacts: 300,
                incidents: 3_000,
                time_worked: 6_000,
            },
            salesforce: SfSizes {
                accounts: 80,
                contacts: 400,
                cases: 2_500,
                opportunities: 300,
                users: 12,
            },
            graph: GraphSizes { users: 40, groups: 8 },
        }
    }

    /// Small, for fast tests.
    pub fn small() -> Self {
        SecondSizes {
            servicenow: SnSizes::small(),
            salesforce: SfSizes::small(),
            graph: GraphSizes::small(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub settings: avesa_config::Settings,
    /// Where the ConnectWise simulator listens (port 0 = any free port); the other
    /// simulators take free ports on the same host.
    pub sim_addr: SocketAddr,
    pub main_sizes: CwSizes,
    pub second_sizes: SecondSizes,
    pub pipeline: PipelineOptions,
    /// The simulated "now" of the demo data.
    pub epoch: DemoEpoch,
}

/// Where the demo data ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DemoEpoch {
    /// At [`sim_epoch`]: the same data on every machine and day (the tests').
    Fixed,
    /// At the hour the installation's first demo ran, kept in the main tenant's settings
    /// ([`DEMO_EPOCH`]), so its figures for "the last 30 days" hold data and a later run
    /// finds the same records (`avesa demo`).
    FirstRun,
}

/// The settings key of the main demo tenant that keeps [`DemoEpoch::FirstRun`]'s instant.
pub const DEMO_EPOCH: &str = "demo_epoch";

/// The demo's simulated "now": fixed, or the one the installation's first demo stored
/// (the current hour when there is none yet).
pub async fn demo_epoch(app: &App, epoch: DemoEpoch) -> Result<DateTime<Utc>> {
    if epoch == DemoEpoch::Fixed {
        return Ok(sim_epoch());
    }
    let stored = app.store.get_setting(&TenantId::new(MAIN.id)?, DEMO_EPOCH).await?;
    if let Some(at) = stored.as_ref().and_then(|v| v.as_str()) {
        return DateTime::parse_from_rfc3339(at).map(|t| t.to_utc()).with_context(|| {
            format!("the demo tenant's setting {DEMO_EPOCH} is not an instant: {at:?}")
        });
    }
    let now = Utc::now().timestamp();
    Ok(DateTime::from_timestamp(now - now.rem_euclid(3600), 0).unwrap_or_else(sim_epoch))
}

impl DemoOptions {
    /// The demo on the embedded defaults in `data_dir`.
    pub fn new(data_dir: PathBuf) -> Self {
        Self::with_settings(avesa_config::Settings::embedded(&data_dir))
    }

    /// The demo on resolved settings (`avesa demo` honours the configuration).
    pub fn with_settings(settings: avesa_config::Settings) -> Self {
        DemoOptions {
            pipeline: crate::app::pipeline_options(&settings),
            settings,
            sim_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            main_sizes: CwSizes::demo(),
            second_sizes: SecondSizes::demo(),
            epoch: DemoEpoch::Fixed,
        }
    }
}

/// The four simulators of the demo, and where they listen.
#[derive(Clone)]
pub struct DemoSims {
    pub connectwise: ConnectWiseSim,
    pub servicenow: ServiceNowSim,
    pub salesforce: SalesforceSim,
    pub graph: GraphSim,
    pub addrs: BTreeMap<&'static str, SocketAddr>,
    /// The serving tasks: the simulators stop serving when the last clone of this value
    /// is dropped, as they do when an `avesa demo` process ends.
    servers: Vec<std::sync::Arc<AbortOnDrop>>,
}

/// Stops a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The simulators holding the demo tenants' data: MAIN's (and, for the crash tests,
/// SECOND's) ConnectWise company, and SECOND's ServiceNow instance, Salesforce org and
/// Microsoft 365 directory, their data ending at `epoch`. Not yet serving.
pub fn demo_sims(main_sizes: &CwSizes, second: &SecondSizes, epoch: DateTime<Utc>) -> DemoSims {
    let connectwise = ConnectWiseSim::new();
    for (t, sizes) in [(&MAIN, main_sizes.clone()), (&SECOND, CwSizes::small())] {
        let spec = demo_credentials(t, "http://unused").company_spec(t.seed, sizes);
        connectwise.add_company(CwCompanySpec { now: epoch, ..spec });
    }
    let servicenow = ServiceNowSim::new();
    servicenow.add_tenant(SnTenantSpec::new(
        SECOND.id,
        SECOND.seed,
        second.servicenow.clone(),
        epoch,
    ));
    let salesforce = SalesforceSim::new();
    salesforce.add_org(SfOrgSpec::new(SECOND.id, SECOND.seed, second.salesforce.clone(), epoch));
    let graph = GraphSim::new();
    graph.add_tenant(GraphTenantSpec::new(SECOND.id, SECOND.seed, second.graph.clone(), epoch));
    DemoSims {
        connectwise,
        servicenow,
        salesforce,
        graph,
        addrs: BTreeMap::new(),
        servers: Vec::new(),
    }
}

impl DemoSims {
    /// Serves all four; ConnectWise on `cw_addr`, the others on free ports of its host.
    pub async fn serve(&mut self, cw_addr: SocketAddr) -> Result<()> {
        let any = SocketAddr::new(cw_addr.ip(), 0);
        let what =
            |name: &str, addr: SocketAddr| format!("starting the {name} simulator on {addr}");
        let (a, t) =
            self.connectwise.serve(cw_addr).await.with_context(|| what("ConnectWise", cw_addr))?;
        self.addrs.insert("connectwise", a);
        self.servers.push(std::sync::Arc::new(AbortOnDrop(t)));
        let (a, t) = self.servicenow.serve(any).await.with_context(|| what("ServiceNow", any))?;
        self.addrs.insert("servicenow", a);
        self.servers.push(std::sync::Arc::new(AbortOnDrop(t)));
        let (a, t) = self.salesforce.serve(any).await.with_context(|| what("Salesforce", any))?;
        self.addrs.insert("salesforce", a);
        self.servers.push(std::sync::Arc::new(AbortOnDrop(t)));
        let (a, t) = self.graph.serve(any).await.with_context(|| what("Microsoft Graph", any))?;
        self.addrs.insert("microsoft365", a);
        self.servers.push(std::sync::Arc::new(AbortOnDrop(t)));
        Ok(())
    }

    /// The service configurations of a demo tenant, pointing at the served simulators,
    /// each with a request budget of [`DEMO_REQUESTS_PER_SECOND`].
    pub fn configs(&self, t: &DemoTenant) -> Vec<ServiceConfig> {
        let mut configs = self.vendor_configs(t);
        for c in &mut configs {
            c.creds.0.insert(
                avesa_connectors::spec::RATE_FIELD.to_owned(),
                DEMO_REQUESTS_PER_SECOND.to_string(),
            );
        }
        configs
    }

    fn vendor_configs(&self, t: &DemoTenant) -> Vec<ServiceConfig> {
        let base = |s: &str| format!("http://{}", self.addrs[s]);
        if t.id == MAIN.id {
            return vec![demo_credentials(t, &base("connectwise")).config()];
        }
        let sn = &self.servicenow.tenants()[0];
        let sf = &self.salesforce.orgs()[0];
        let g = &self.graph.tenants()[0];
        let cfg = |service: &str, fields: &[(&str, &str)]| {
            ServiceConfig::new(
                service,
                fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            )
        };
        vec![
            cfg(
                "servicenow",
                &[
                    (
                        "instance_url",
                        &ServiceNowSim::instance_url(self.addrs["servicenow"], &sn.instance),
                    ),
                    ("username", &sn.username),
                    ("password", &sn.password),
                    ("client_id", &sn.client_id),
                    ("client_secret", &sn.client_secret),
                ],
            ),
            cfg(
                "salesforce",
                &[
                    ("login_url", &base("salesforce")),
                    ("client_id", &sf.client_id),
                    ("client_secret", &sf.client_secret),
                ],
            ),
            cfg(
                "microsoft365",
                &[
                    ("tenant_id", &g.tenant_id),
                    ("client_id", &g.client_id),
                    ("client_secret", &g.client_secret),
                    ("login_url", &base("microsoft365")),
                    ("graph_url", &base("microsoft365")),
                ],
            ),
        ]
    }
}

/// A prepared demo: everything synced, ready to serve.
pub struct Demo {
    pub app: App,
    pub sims: DemoSims,
    pub summary: RunSummary,
    /// The pipeline runs go to: this process's, or the job queue's when configured.
    pub pipeline: avesa_pipeline::Pipeline,
}

/// Starts the simulators, sets up both tenants and runs the sync.
pub async fn prepare(opts: DemoOptions) -> Result<Demo> {
    let app = App::open_with(opts.settings.clone()).await?;
    let epoch = demo_epoch(&app, opts.epoch).await?;
    let mut sims = demo_sims(&opts.main_sizes, &opts.second_sizes, epoch);
    sims.serve(opts.sim_addr).await?;
    for t in [&MAIN, &SECOND] {
        ensure_tenant(&app, t, &sims.configs(t)).await?;
    }
    if opts.epoch == DemoEpoch::FirstRun {
        let at =
            serde_json::Value::String(epoch.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        app.store.put_setting(&TenantId::new(MAIN.id)?, DEMO_EPOCH, &at).await?;
    }
    let mut pipeline = app.pipeline(opts.pipeline.clone());
    if let Some(queue) = crate::app::open_queue(&opts.settings).await? {
        println!("the demo sync goes to the job queue: its tables run on `avesa worker` processes");
        pipeline = pipeline.with_queue(queue);
    }
    let summary = pipeline.run_and_wait(SyncRequest::default()).await.context("demo sync")?;
    Ok(Demo { app, sims, summary, pipeline })
}

/// Creates the tenant and its user if missing, and (re)points its services at the
/// simulators.
pub async fn ensure_tenant(app: &App, t: &DemoTenant, services: &[ServiceConfig]) -> Result<()> {
    let id = TenantId::new(t.id)?;
    match app.store.create_tenant(&id, t.name).await {
        Ok(_) | Err(StateError::AlreadyExists(_)) => {}
        Err(e) => return Err(e.into()),
    }
    for cfg in services {
        app.store
            .upsert_service(&id, cfg.service(), &seal_service_config(&app.cipher, &id, cfg))
            .await?;
    }
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
    serve_state(app.api_state(), bind, serve_options(&app.settings)).await
}

/// The connection bounds `settings` give.
pub fn serve_options(settings: &avesa_config::Settings) -> avesa_api::ServeOptions {
    avesa_api::ServeOptions {
        max_connections: settings.server.max_connections,
        header_timeout: settings.server.header_timeout,
    }
}

/// Serves the API and UI over `state` until the process ends.
pub async fn serve_state(
    state: avesa_api::AppState,
    bind: SocketAddr,
    opts: avesa_api::ServeOptions,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let addr = listener.local_addr()?;
    let router = avesa_api::router(state);
    let task = tokio::spawn(avesa_api::serve(listener, router, opts));
    Ok((addr, task))
}
