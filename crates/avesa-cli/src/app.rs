//! Opening an AVESA installation on the embedded defaults: a data folder holding the
//! SQLite state store, the local lake, the DuckDB warehouse and the key files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use avesa_api::{AppState, AuthConfig};
use avesa_lake::Lake;
use avesa_pipeline::{Pipeline, PipelineOptions};
use avesa_state::{Cipher, SqliteStore, StateStore};
use avesa_warehouse::{DuckDbWarehouse, Warehouse};
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
}

impl Ops {
    pub async fn open(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create data folder {}", data_dir.display()))?;
        let cipher = match std::env::var("AVESA_MASTER_KEY") {
            Ok(k) => Cipher::from_base64(&k).context("AVESA_MASTER_KEY")?,
            Err(_) => Cipher::load_or_create(&data_dir.join("master.key"))?,
        };
        let store = SqliteStore::open(&data_dir.join("state.db"))
            .await
            .context("opening the state store")?;
        Ok(Self { store: Arc::new(store), cipher })
    }
}

/// Everything a command needs, opened from one data folder.
#[derive(Clone)]
pub struct App {
    pub data_dir: PathBuf,
    pub store: Arc<dyn StateStore>,
    pub lake: Lake,
    pub warehouse: Arc<dyn Warehouse>,
    pub cipher: Cipher,
    pub jwt_secret: Vec<u8>,
}

impl App {
    /// Opens (creating if needed) the installation in `data_dir`.
    ///
    /// Keys: `AVESA_MASTER_KEY` (base64, 32 bytes) encrypts vendor credentials, else
    /// `master.key` in the data folder (created 0600); `AVESA_JWT_SECRET` signs tokens,
    /// else `jwt.key` likewise.
    pub async fn open(data_dir: &Path) -> Result<Self> {
        let Ops { store, cipher } = Ops::open(data_dir).await?;
        let jwt_secret = match std::env::var("AVESA_JWT_SECRET") {
            Ok(s) if s.len() >= 32 => s.into_bytes(),
            Ok(_) => anyhow::bail!("AVESA_JWT_SECRET must be at least 32 characters"),
            Err(_) => load_or_create_secret(&data_dir.join("jwt.key"))?,
        };
        let auth = AuthConfig::new(jwt_secret.clone());
        auth.validate().map_err(anyhow::Error::msg).context("JWT signing key")?;
        let lake = Lake::local(&data_dir.join("lake"))?;
        let wh_path = data_dir.join("warehouse.duckdb");
        let warehouse = DuckDbWarehouse::open(&wh_path).with_context(|| {
            format!(
                "opening the warehouse {} (is another avesa process using this data folder?)",
                wh_path.display()
            )
        })?;
        // This process now holds the installation (the warehouse admits one): a run an
        // earlier process left `running` was cut off by a crash or a kill.
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
        Ok(Self {
            data_dir: data_dir.to_owned(),
            store,
            lake,
            warehouse: Arc::new(warehouse),
            cipher,
            jwt_secret,
        })
    }

    /// The pipeline over this installation. `AVESA_WEBHOOK_URL`, when set and `opts` has
    /// none, receives an event when each run finishes; `AVESA_METRICS_TENANT_LABEL=false`
    /// drops the tenant label from metrics (for deployments with many tenants).
    pub fn pipeline(&self, mut opts: PipelineOptions) -> Pipeline {
        if opts.webhook_url.is_none() {
            opts.webhook_url =
                std::env::var("AVESA_WEBHOOK_URL").ok().filter(|u| !u.trim().is_empty());
        }
        if std::env::var("AVESA_METRICS_TENANT_LABEL").is_ok_and(|v| v == "false" || v == "0") {
            avesa_model::metrics::set_tenant_label(false);
        }
        Pipeline::new(
            self.store.clone(),
            self.lake.clone(),
            self.warehouse.clone(),
            self.cipher.clone(),
            avesa_transform::builtin_mappings(),
            opts,
        )
    }

    /// The API's state, able to start runs in this process (`POST /api/admin/runs`).
    pub fn api_state(&self) -> AppState {
        self.api_state_with(self.pipeline(PipelineOptions::default()))
    }

    /// The API's state, starting runs on `pipeline` (shared with the scheduler in
    /// `avesa serve`, so one cancel stops them all and `drain` waits for them all).
    pub fn api_state_with(&self, pipeline: Pipeline) -> AppState {
        let trigger: avesa_api::Trigger = std::sync::Arc::new(
            move |r: avesa_api::TriggerRequest| {
                let pipeline = pipeline.clone();
                Box::pin(async move {
                    use avesa_api::TriggerRefusal;
                    if pipeline.is_cancelled() {
                        return Err(TriggerRefusal::Unavailable(
                            "the server is shutting down; no new runs start".into(),
                        ));
                    }
                    if let (Some(service), Some(table)) = (&r.service, &r.table) {
                        let spec =
                            avesa_pipeline::spec(service).map_err(TriggerRefusal::Invalid)?;
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
                        table: r.table,
                        full: r.full,
                        backfill: r.backfill,
                        run_id: Some(run_id),
                    };
                    tokio::spawn(async move {
                        if let Err(e) = pipeline.run(req).await {
                            tracing::error!(run = %run_id, error = %e, "triggered run did not start");
                        }
                    });
                    Ok(run_id.to_string())
                })
            },
        );
        AppState::new(
            self.store.clone(),
            self.warehouse.clone(),
            AuthConfig::new(self.jwt_secret.clone()),
        )
        .with_trigger(trigger)
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
