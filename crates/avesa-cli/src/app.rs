//! Opening an AVESA installation from its [`Settings`]: each backend built from its URL
//! (a SQLite or PostgreSQL state store, a local-folder or S3 lake, a DuckDB or ClickHouse
//! warehouse),
//! plus the keys (from the settings, else key files in the data folder).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use avesa_api::{AppState, AuthConfig};
use avesa_config::{LakeBackend, Settings, StateBackend, WarehouseBackend};
use avesa_lake::Lake;
use avesa_pipeline::{ActiveTables, Catalogue, Pipeline, PipelineOptions};
use avesa_state::{Cipher, PostgresStore, SqliteStore, StateStore};
use avesa_warehouse::Warehouse;
use avesa_warehouse_clickhouse::{ClickHouseOptions, ClickHouseWarehouse};
use avesa_warehouse_duckdb::{DuckDbOptions, DuckDbWarehouse};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

/// What operator commands need: the state store and the credentials cipher. Opening only
/// these (not the warehouse, which one process holds at a time) lets `avesa tenant add`,
/// `avesa runs` and friends work while `avesa serve` is running.
#[derive(Clone)]
pub struct Ops {
    pub store: Arc<dyn StateStore>,
    pub cipher: Cipher,
    /// The services AVESA knows (specs and mappings).
    pub catalogue: Catalogue,
}

impl Ops {
    /// Opens the state store and the cipher the settings name.
    pub async fn open(settings: &Settings) -> Result<Self> {
        let data_dir = &settings.data_dir;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create data folder {}", data_dir.display()))?;
        make_private(settings)?;
        let cipher = match &settings.master_key {
            Some(k) => Cipher::from_base64(k.expose()).context("master_key")?,
            None => Cipher::load_or_create(&data_dir.join("master.key"))?,
        };
        let store: Arc<dyn StateStore> = match &settings.state {
            StateBackend::Sqlite(path) => Arc::new(
                SqliteStore::open(path)
                    .await
                    .with_context(|| format!("opening the state store {}", settings.state))?,
            ),
            StateBackend::Postgres(url) => Arc::new(
                PostgresStore::open(url)
                    .await
                    .with_context(|| format!("opening the state store {}", settings.state))?,
            ),
        };
        reseal_unbound(store.as_ref(), &cipher).await?;
        Ok(Self { store, cipher, catalogue: Catalogue::builtin() })
    }
}

/// Seals again, bound to their tenant and service, the service configurations an earlier
/// version sealed unbound (a copy of such a one into another tenant's row would open).
async fn reseal_unbound(store: &dyn StateStore, cipher: &Cipher) -> Result<()> {
    for tenant in store.list_tenants().await.context("listing tenants")? {
        for svc in store.list_services(&tenant.id).await.context("listing services")? {
            if !avesa_pipeline::is_unbound_seal(&svc.sealed_config) {
                continue;
            }
            match avesa_pipeline::open_service_config(
                cipher,
                &tenant.id,
                &svc.service,
                &svc.sealed_config,
            ) {
                Ok(cfg) => {
                    let sealed = avesa_pipeline::seal_service_config(cipher, &tenant.id, &cfg);
                    store
                        .upsert_service(&tenant.id, &svc.service, &sealed)
                        .await
                        .context("sealing a service configuration again")?;
                    tracing::info!(tenant = %tenant.id, service = %svc.service, "service configuration sealed again, bound to its tenant");
                }
                Err(e) => {
                    tracing::warn!(tenant = %tenant.id, error = %e, "cannot open a stored service configuration")
                }
            }
        }
    }
    Ok(())
}

/// Makes the data folder and the embedded backends' files its owner's alone (0700 folders,
/// 0600 files), whatever mode an earlier version or another tool left them in: they hold
/// password hashes, sealed credentials and every tenant's data.
pub fn make_private(settings: &Settings) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let set = |path: &Path, mode: u32| -> Result<()> {
            match std::fs::metadata(path) {
                Ok(m) if m.permissions().mode() & 0o777 != mode => {
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                        .with_context(|| format!("cannot make {} private", path.display()))
                }
                _ => Ok(()),
            }
        };
        set(&settings.data_dir, 0o700)?;
        let mut files =
            vec![settings.data_dir.join("master.key"), settings.data_dir.join("jwt.key")];
        if let avesa_config::StateBackend::Sqlite(p) = &settings.state {
            for suffix in ["", "-wal", "-shm"] {
                files.push(PathBuf::from(format!("{}{suffix}", p.display())));
            }
            if let Some(dir) = p.parent().filter(|d| *d != settings.data_dir) {
                set(dir, 0o700)?;
            }
        }
        if let WarehouseBackend::DuckDb(p) = &settings.warehouse {
            for suffix in ["", ".wal"] {
                files.push(PathBuf::from(format!("{}{suffix}", p.display())));
            }
            if let Some(dir) = p.parent().filter(|d| *d != settings.data_dir) {
                set(dir, 0o700)?;
            }
        }
        if let LakeBackend::File(root) = &settings.lake {
            set(root, 0o700)?;
        }
        for f in files {
            set(&f, 0o600)?;
        }
    }
    Ok(())
}

/// The lake the settings name; an S3 lake is checked (its bucket listed) so that a wrong
/// endpoint, bucket or key stops the process now rather than failing its first chunk.
pub async fn open_lake(settings: &Settings) -> Result<Lake> {
    match &settings.lake {
        LakeBackend::File(path) => Ok(Lake::local(path)?),
        LakeBackend::S3 { bucket, prefix } => {
            let s3 = &settings.s3;
            let lake = Lake::s3(&avesa_lake::S3Options {
                bucket: bucket.clone(),
                prefix: prefix.clone(),
                endpoint: s3.endpoint.clone(),
                region: s3.region.clone(),
                access_key_id: s3.access_key_id.clone(),
                secret_access_key: s3.secret_access_key.as_ref().map(|s| s.expose().to_owned()),
            })
            .with_context(|| format!("the lake {}", settings.lake))?;
            let at = s3.endpoint.as_deref().unwrap_or("AWS");
            lake.check().await.with_context(|| {
                format!("the lake {} (at {at}) cannot be listed", settings.lake)
            })?;
            Ok(lake)
        }
    }
}

/// The job queue the settings name (`queue.url`), if any: its stream and consumer are
/// created when missing.
pub async fn open_queue(settings: &Settings) -> Result<Option<avesa_pipeline::queue::JobQueue>> {
    let Some(url) = &settings.queue.url else { return Ok(None) };
    let q = &settings.queue;
    let queue = avesa_pipeline::queue::JobQueue::connect(url, &q.stream, q.lease)
        .await
        .with_context(|| format!("opening the job queue {url} (queue.url)"))?;
    Ok(Some(queue))
}

/// The warehouse the settings name.
pub async fn open_warehouse(settings: &Settings) -> Result<Arc<dyn Warehouse>> {
    Ok(match &settings.warehouse {
        WarehouseBackend::DuckDb(path) => {
            let opts = DuckDbOptions {
                memory_limit_bytes: settings.duckdb.memory_limit_bytes,
                query_timeout: settings.server.query_timeout,
                checkpoint_threshold_bytes: settings.duckdb.checkpoint_threshold_bytes,
            };
            Arc::new(DuckDbWarehouse::open(path, &opts).with_context(|| {
                format!(
                    "opening the warehouse {} (is another avesa process using it?)",
                    settings.warehouse
                )
            })?)
        }
        WarehouseBackend::ClickHouse(url) => {
            let mut opts = ClickHouseOptions::new(&url.endpoint, &url.database);
            opts.user = url.user.clone();
            opts.password = url.password.clone();
            opts.query_timeout = settings.server.query_timeout;
            Arc::new(
                ClickHouseWarehouse::open(opts)
                    .await
                    .with_context(|| format!("opening the warehouse {}", settings.warehouse))?,
            )
        }
    })
}

/// Everything a command needs, opened from one configuration.
#[derive(Clone)]
pub struct App {
    pub settings: Settings,
    pub data_dir: PathBuf,
    pub store: Arc<dyn StateStore>,
    pub lake: Lake,
    pub warehouse: Arc<dyn Warehouse>,
    pub cipher: Cipher,
    pub jwt_secret: Vec<u8>,
    pub catalogue: Catalogue,
    /// Shared by every pipeline of this app: no two runs sync one table at once.
    active_tables: ActiveTables,
    /// The app's metrics: its pipelines count into it, the API serves it at `/metrics`.
    pub metrics: avesa_model::metrics::Metrics,
    /// Moved by every apply of this process's warehouse; the API's response cache keys by
    /// them.
    pub epochs: avesa_warehouse::DataEpochs,
    /// Sends client reports (`smtp.url`); `None` when e-mailing reports is off.
    pub mailer: Option<Arc<avesa_report::Mailer>>,
}

/// The SMTP transport `settings.smtp` describes (no connection yet), or `None`.
pub fn open_mailer(settings: &Settings) -> Result<Option<Arc<avesa_report::Mailer>>> {
    let smtp = &settings.smtp;
    let Some(url) = &smtp.url else { return Ok(None) };
    let mailer = avesa_api::reports::mailer(&avesa_report::SmtpSettings {
        url: url.clone(),
        username: smtp.username.clone(),
        password: smtp.password.as_ref().map(|p| p.expose().to_owned()),
        from: smtp.from.clone().unwrap_or_default(),
        timeout: std::time::Duration::from_secs(60),
    })
    .context("the SMTP server for client reports (smtp.*)")?;
    Ok(Some(mailer))
}

impl App {
    /// Opens (creating if needed) the installation in `data_dir` on the embedded
    /// defaults, reading nothing from the environment (tests and tools).
    pub async fn open(data_dir: &Path) -> Result<Self> {
        Self::open_with(Settings::embedded(data_dir)).await
    }

    /// Opens (creating if needed) the installation the settings describe.
    ///
    /// Keys: `master_key` (base64, 32 bytes) encrypts vendor credentials, else
    /// `master.key` in the data folder (created 0600); `jwt_secret` signs tokens, else
    /// `jwt.key` likewise.
    pub async fn open_with(settings: Settings) -> Result<Self> {
        let data_dir = settings.data_dir.clone();
        let Ops { store, cipher, catalogue } = Ops::open(&settings).await?;
        let jwt_secret = match &settings.jwt_secret {
            Some(s) => s.expose().as_bytes().to_vec(),
            None => load_or_create_secret(&data_dir.join("jwt.key"))?,
        };
        let auth = AuthConfig::new(jwt_secret.clone());
        auth.validate().map_err(anyhow::Error::msg).context("JWT signing key")?;
        let lake = open_lake(&settings).await?;
        let epochs = avesa_warehouse::DataEpochs::default();
        let warehouse: Arc<dyn Warehouse> = Arc::new(avesa_warehouse::EpochWarehouse::new(
            open_warehouse(&settings).await?,
            epochs.clone(),
        ));
        // The backends' files exist now (a library caller has no umask of ours).
        make_private(&settings)?;
        let metrics = avesa_model::metrics::Metrics::new();
        metrics.set_tenant_label(settings.metrics.tenant_label);
        let mailer = open_mailer(&settings)?;
        // With a DuckDB warehouse this process now holds the installation (DuckDB admits
        // one): a run an earlier process left `running` was cut off by a crash or a kill.
        // A shared warehouse (ClickHouse) has other live processes, whose runs are theirs.
        if matches!(settings.warehouse, WarehouseBackend::DuckDb(_)) {
            let cut = store
                .interrupt_running_runs(
                    "interrupted: the process running it stopped before it finished; \
                     the next run resumes its unfinished chunks",
                )
                .await
                .context("marking interrupted runs")?;
            if cut > 0 {
                tracing::warn!(runs = cut, "marked runs of a stopped process as interrupted");
            }
        }
        Ok(Self {
            mailer,
            settings,
            data_dir,
            store,
            lake,
            warehouse,
            cipher,
            jwt_secret,
            catalogue,
            active_tables: ActiveTables::default(),
            metrics,
            epochs,
        })
    }

    /// The pipeline options the settings give.
    pub fn pipeline_options(&self) -> PipelineOptions {
        pipeline_options(&self.settings)
    }

    /// The pipeline over this installation. The settings' webhook, when `opts` has none,
    /// receives an event when each run finishes.
    pub fn pipeline(&self, mut opts: PipelineOptions) -> Pipeline {
        if opts.webhook_url.is_none() {
            opts.webhook_url = self.settings.pipeline.webhook_url.clone();
        }
        Pipeline::new(
            self.store.clone(),
            self.lake.clone(),
            self.warehouse.clone(),
            self.cipher.clone(),
            self.catalogue.clone(),
            opts,
        )
        .with_active_tables(self.active_tables.clone())
        .with_metrics(self.metrics.clone())
    }

    /// The pipeline of a serving process: with a job queue configured (`queue.url`), it
    /// plans runs and queues their tables for `avesa worker` processes; else it runs them.
    pub async fn serving_pipeline(&self) -> Result<Pipeline> {
        let pipeline = self.pipeline(self.pipeline_options());
        Ok(match open_queue(&self.settings).await? {
            Some(q) => pipeline.with_queue(q),
            None => pipeline,
        })
    }

    /// The API's state, able to start runs in this process (`POST /api/admin/runs`).
    pub fn api_state(&self) -> AppState {
        self.api_state_with(self.pipeline(self.pipeline_options()))
    }

    /// The API's state, starting runs on `pipeline` (shared with the scheduler in
    /// `avesa serve`, so one cancel stops them all and `drain` waits for them all).
    pub fn api_state_with(&self, pipeline: Pipeline) -> AppState {
        let cluster = pipeline.queue().cloned().map(|queue| {
            let store = self.store.clone();
            let metrics = self.metrics.clone();
            let probe: avesa_api::ClusterProbe = Arc::new(move || {
                let (store, queue, metrics) = (store.clone(), queue.clone(), metrics.clone());
                Box::pin(async move {
                    let s =
                        avesa_pipeline::worker::cluster_status(store.as_ref(), &queue, &metrics)
                            .await;
                    let mut detail = serde_json::to_value(&s).unwrap_or_default();
                    detail["status"] = serde_json::Value::from(if s.ok() { "ok" } else { "error" });
                    (s.ok(), detail)
                })
            });
            probe
        });
        let trigger_store = self.store.clone();
        let trigger: avesa_api::Trigger = std::sync::Arc::new(
            move |r: avesa_api::TriggerRequest| {
                let pipeline = pipeline.clone();
                let store = trigger_store.clone();
                Box::pin(async move {
                    use avesa_api::TriggerRefusal;
                    if pipeline.is_cancelled() {
                        return Err(TriggerRefusal::Unavailable(
                            "the server is shutting down; no new runs start".into(),
                        ));
                    }
                    if let (Some(service), Some(table)) = (&r.service, &r.table) {
                        let spec =
                            pipeline.catalogue().spec(service).map_err(TriggerRefusal::Invalid)?;
                        if spec.table(table).is_none() {
                            let known: Vec<&str> =
                                spec.tables.iter().map(|t| t.name.as_str()).collect();
                            return Err(TriggerRefusal::Invalid(format!(
                                "{service} has no table {table:?}; tables: {}",
                                known.join(", ")
                            )));
                        }
                    }
                    let run_id = avesa_model::RunId::new();
                    let req = avesa_pipeline::SyncRequest {
                        tenant: Some(r.tenant),
                        service: r.service,
                        tables: r.table.into_iter().collect(),
                        full: r.full,
                        backfill: r
                            .backfill
                            .map(|(from, to)| avesa_model::Backfill::new(from, to))
                            .transpose()
                            .map_err(|e| TriggerRefusal::Invalid(e.to_string()))?,
                        run_id: Some(run_id),
                    };
                    // Answer once the run's record exists (a GET of it right after the
                    // 202 finds it), or with why it could not start.
                    let (started_tx, mut started_rx) =
                        tokio::sync::oneshot::channel::<avesa_pipeline::PipelineError>();
                    tokio::spawn(async move {
                        if let Err(e) = pipeline.run(req).await {
                            tracing::error!(run = %run_id, error = %e, "triggered run did not start");
                            let _ = started_tx.send(e);
                        }
                    });
                    let waited = std::time::Instant::now();
                    loop {
                        if let Ok(Some(_)) = store.get_run(run_id).await {
                            break;
                        }
                        match started_rx.try_recv() {
                            Ok(avesa_pipeline::PipelineError::ShuttingDown) => {
                                return Err(TriggerRefusal::Unavailable(
                                    "the server is shutting down; no new runs start".into(),
                                ));
                            }
                            Ok(avesa_pipeline::PipelineError::State(_)) => {
                                return Err(TriggerRefusal::Unavailable(
                                    "the run could not be recorded; the cause is logged".into(),
                                ));
                            }
                            Ok(e) => return Err(TriggerRefusal::Invalid(e.to_string())),
                            // Finished (or failed after being recorded).
                            Err(tokio::sync::oneshot::error::TryRecvError::Closed) => break,
                            Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {}
                        }
                        if waited.elapsed() > std::time::Duration::from_secs(10) {
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                    Ok(run_id.to_string())
                })
            },
        );
        let state = AppState::new(
            self.store.clone(),
            self.warehouse.clone(),
            AuthConfig::new(self.jwt_secret.clone()),
        );
        let state = match cluster {
            Some(probe) => state.with_cluster_probe(probe),
            None => state,
        };
        let server = &self.settings.server;
        let (global, per_tenant) = read_permits(&self.settings);
        state
            .with_trigger(trigger)
            .with_metrics(self.metrics.clone())
            .with_metrics_token(self.settings.metrics.token.as_ref().map(|t| t.expose().to_owned()))
            .with_data_epochs(self.epochs.clone())
            .with_mailer(self.mailer.clone())
            .with_service_admin(Arc::new(CatalogueAdmin {
                catalogue: self.catalogue.clone(),
                cipher: self.cipher.clone(),
                allow_private: self.settings.server.allow_private_vendor_urls,
            }))
            .with_http_config(avesa_api::HttpConfig {
                cors_allowed_origins: server.cors_origins.clone(),
                body_limit_bytes: server.body_limit_bytes,
                request_timeout: server.request_timeout,
                reads: avesa_api::ReadLimits {
                    global,
                    per_tenant,
                    queue_wait: server.read_queue_wait,
                    cache_bytes: server.cache_bytes,
                    ..avesa_api::ReadLimits::default()
                },
            })
    }
}

/// The operations API's hands on the catalogue: checks credentials against the service's
/// spec, tests them against the vendor, seals them bound to the tenant.
struct CatalogueAdmin {
    catalogue: Catalogue,
    cipher: Cipher,
    /// `server.allow_private_vendor_urls`.
    allow_private: bool,
}

/// Whether an address is this machine's or its private network's: what a tenant must not
/// make the server call.
fn is_private(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64 // CGNAT 100.64/10
        }
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00 // unique local
                || (v6.segments()[0] & 0xffc0) == 0xfe80 // link local
                || v6.to_ipv4_mapped().is_some_and(|v4| is_private(std::net::IpAddr::V4(v4)))
        }
    }
}

/// Refuses a URL whose host is, or resolves to, a private address.
async fn public_url(field: &str, raw: &str) -> std::result::Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("credentials.{field}: not a URL ({e})"))?;
    let host = url.host_str().ok_or_else(|| format!("credentials.{field}: the URL has no host"))?;
    let port = url.port_or_known_default().unwrap_or(443);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<std::net::IpAddr> = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("credentials.{field}: cannot resolve {host} ({e})"))?
            .map(|a| a.ip())
            .collect(),
    };
    if addrs.iter().any(|a| is_private(*a)) {
        return Err(format!(
            "credentials.{field}: {host} is a loopback or private address; the operator can allow such vendors with server.allow_private_vendor_urls"
        ));
    }
    Ok(())
}

#[async_trait::async_trait]
impl avesa_api::ops::ServiceAdmin for CatalogueAdmin {
    fn known(&self) -> std::collections::BTreeMap<String, Vec<(String, bool)>> {
        self.catalogue
            .specs()
            .iter()
            .map(|s| {
                let fields = s
                    .config
                    .iter()
                    .map(|f| (f.name.clone(), f.optional || f.default.is_some()))
                    .collect();
                (s.service.clone(), fields)
            })
            .collect()
    }

    async fn seal(
        &self,
        tenant: &avesa_model::TenantId,
        service: &str,
        fields: std::collections::BTreeMap<String, String>,
        test: bool,
    ) -> std::result::Result<Vec<u8>, String> {
        let spec = self.catalogue.spec(service)?;
        let names = || spec.config.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ");
        if let Some(k) = fields.keys().find(|k| spec.config_field(k).is_none()) {
            return Err(format!(
                "credentials.{k}: {service} has no such field (its fields: {})",
                names()
            ));
        }
        if let Some(f) = spec
            .config
            .iter()
            .find(|f| !f.optional && f.default.is_none() && !fields.contains_key(&f.name))
        {
            return Err(format!("credentials.{}: required by {service}", f.name));
        }
        if !self.allow_private {
            for f in spec.config.iter().filter(|f| f.kind == avesa_connectors::spec::FieldKind::Url)
            {
                if let Some(v) = fields.get(&f.name).or(f.default.as_ref()) {
                    public_url(&f.name, v).await?;
                }
            }
        }
        let cfg = avesa_pipeline::ServiceConfig::new(service, fields);
        let connector = self.catalogue.connector(tenant, &cfg)?;
        if test {
            connector.test().await.map_err(|e| {
                format!(
                    "testing the credentials failed (send \"test\": false to store them anyway): {}",
                    e.explain()
                )
            })?;
        }
        Ok(avesa_pipeline::seal_service_config(&self.cipher, tenant, &cfg))
    }

    async fn test(
        &self,
        tenant: &avesa_model::TenantId,
        service: &str,
        sealed: &[u8],
    ) -> std::result::Result<(), String> {
        let cfg = avesa_pipeline::open_service_config(&self.cipher, tenant, service, sealed)?;
        let connector = self.catalogue.connector(tenant, &cfg)?;
        connector.test().await.map_err(|e| e.explain())
    }

    fn check_schedule(&self, cron: &str) -> std::result::Result<(), String> {
        let parsed: avesa_pipeline::schedule::Cron = cron.parse()?;
        match parsed.next_after(chrono::Utc::now()) {
            Some(_) => Ok(()),
            None => Err(format!("{cron:?} never fires")),
        }
    }

    fn refresh_every(&self, service: &str, table: &str) -> Option<std::time::Duration> {
        Some(self.catalogue.spec(service).ok()?.table(table)?.refresh)
    }
}

/// Memory of the embedded warehouse's pool one API read may count on; a quarter of the
/// pool is kept for the pipeline's writes.
pub const DUCKDB_BYTES_PER_READ: u64 = 16_000_000;

/// Warehouse reads the API runs at once, in all and per tenant: as configured, and with
/// the embedded warehouse (one memory pool and one process's cores for every query) no
/// more than three quarters of `duckdb.memory_limit` holds at [`DUCKDB_BYTES_PER_READ`]
/// each, nor more than the machine has cores — at least two, so that one tenant's read
/// always leaves room for another's. A tenant gets at most half: on two cores one read at
/// a time, so its heavy queries hold one core and leave the other to everyone else
/// (BENCHMARKS.md, "Analytics at a real MSP's size").
pub fn read_permits(settings: &Settings) -> (usize, usize) {
    let s = &settings.server;
    let mut global = s.max_concurrent_reads;
    if matches!(settings.warehouse, WarehouseBackend::DuckDb(_)) {
        let fit = (settings.duckdb.memory_limit_bytes * 3 / 4 / DUCKDB_BYTES_PER_READ).max(2);
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
        global = global.min(usize::try_from(fit).unwrap_or(usize::MAX)).min(cores);
    }
    let per_tenant = s.max_concurrent_reads_per_tenant.min((global / 2).max(1));
    (global, per_tenant)
}

/// The pipeline options `settings` give.
pub fn pipeline_options(settings: &Settings) -> PipelineOptions {
    let p = &settings.pipeline;
    PipelineOptions {
        chunk_records: p.chunk_records,
        page_size: p.page_size,
        max_concurrent_chunks: p.max_concurrent_chunks,
        max_tables_per_tenant: p.max_tables_per_tenant,
        overlap: chrono::Duration::from_std(p.overlap).unwrap_or(chrono::Duration::MAX),
        webhook_url: p.webhook_url.clone(),
        chunk_budget: p.chunk_budget,
        partitions: p.partitions,
        partition_records: p.partition_records,
        reorder_after: p.reorder_after,
    }
}

fn load_or_create_secret(path: &Path) -> Result<Vec<u8>> {
    if path.exists() {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let key = STANDARD
            .decode(text.trim())
            .with_context(|| format!("{} is not valid base64", path.display()))?;
        if key.len() < 32 {
            anyhow::bail!(
                "{} holds a {}-byte key; at least 32 bytes are required (delete it to make a new one)",
                path.display(),
                key.len()
            );
        }
        return Ok(key);
    }
    let mut key = vec![0u8; 48];
    rand::rngs::OsRng.fill_bytes(&mut key);
    write_private(path, STANDARD.encode(&key).as_bytes())?;
    Ok(key)
}

/// Writes a file readable only by its owner, atomically: a crash leaves either no file
/// or the whole file, never a truncated key.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path).with_context(|| format!("creating {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded warehouse runs no more reads at once than the machine has cores (at
    /// least two), and a tenant at most half of them; a remote warehouse as configured.
    #[test]
    fn reads_are_bounded_by_cores_and_halved_per_tenant() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
        let mut s = Settings::embedded(Path::new("/tmp/avesa-read-permits"));
        s.server.max_concurrent_reads = 1024;
        s.server.max_concurrent_reads_per_tenant = 1024;
        s.duckdb.memory_limit_bytes = 64_000_000_000;
        let (global, per_tenant) = read_permits(&s);
        assert_eq!(global, cores);
        assert_eq!(per_tenant, (cores / 2).max(1));
        s.server.max_concurrent_reads = 1;
        s.server.max_concurrent_reads_per_tenant = 1;
        assert_eq!(read_permits(&s), (1, 1), "a smaller setting holds");
        s.server.max_concurrent_reads = 8;
        s.server.max_concurrent_reads_per_tenant = 4;
        s.duckdb.memory_limit_bytes = 16_000_000;
        assert_eq!(read_permits(&s), (2, 1), "a small pool still leaves two");
    }
}
