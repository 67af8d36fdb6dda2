//! The pipeline: tenant → service → table → chunk, executed bottom-up.
//!
//! A chunk is a bounded slice of one source table, read in `(updated_at, id)` order
//! strictly after a cursor. Its steps are fetch pages → raw Parquet → canonical Parquet →
//! SCD2 apply → commit, where the commit (chunk state, file list, counts and the cursor
//! advance) is one state-store transaction and the last step. Every step before it is
//! idempotent — lake files are named by chunk id and overwritten on retry, the SCD2 apply
//! is idempotent — so a crash anywhere is repaired by running the chunk again: the next
//! run finds the unfinished chunk and resumes it under the same id from the same cursor.
//!
//! Because chunks of one table run in cursor order and each starts where the previous
//! commit ended, the committed chunks always form a contiguous prefix and the cursor
//! (watermark) never passes a gap.
//!
//! Concurrency is bounded globally and per tenant, across all runs of a pipeline (the
//! scheduler's and the API's runs in `avesa serve` share one). A table holds one of its
//! tenant's table slots for its whole sync, but one of the global chunk slots only while
//! a chunk runs: between chunks it queues again (first come, first served), so a tenant with a
//! huge table takes turns with everyone else instead of starving them. One table's, one
//! service's or one tenant's failure is recorded and never stops the others.

mod chunk;
mod error;
pub mod failpoints;
pub mod metrics;
pub mod notify;
pub mod partition;
mod plan;
pub mod queue;
pub mod rebuild;
pub mod schedule;
mod services;
mod table;
#[cfg(test)]
mod tests;
pub mod worker;

pub use error::{ErrorClass, TableError};
pub use services::{
    Catalogue, ConnectorFactory, ServiceConfig, is_unbound_seal, open_service_config,
    seal_service_config,
};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use avesa_lake::Lake;
use avesa_model::{Backfill, RunId, RunKind, TenantId};
use avesa_state::{ChunkStatus, Cipher, RunRecord, RunStatus, StateStore, TableKey};
use avesa_warehouse::Warehouse;
use chrono::Utc;
use plan::Plan;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

/// Tuning knobs.
#[derive(Clone, Debug)]
pub struct PipelineOptions {
    /// Records per chunk (the unit of commit).
    pub chunk_records: usize,
    /// Records per vendor request.
    pub page_size: u32,
    /// Chunks in flight across all tenants and all runs of a pipeline and its clones
    /// (each table runs one chunk at a time).
    pub max_concurrent_chunks: usize,
    /// Tables in flight per tenant, across all runs of a pipeline and its clones.
    pub max_tables_per_tenant: usize,
    /// An incremental run re-reads this far behind the watermark, to catch records a
    /// vendor commits late with an earlier updated-at. Re-reads are harmless: the SCD2
    /// apply is idempotent.
    pub overlap: chrono::Duration,
    /// Where a JSON event is POSTed when a run finishes (`AVESA_WEBHOOK_URL`).
    pub webhook_url: Option<String>,
    /// How long a chunk may fetch before it commits what it has and hands the rest on
    /// to a continuation chunk. Later chunks of the table are sized from the throughput
    /// of earlier ones to fit it (never above `chunk_records`).
    pub chunk_budget: std::time::Duration,
    /// At most this many partitions of one table are read side by side (1: never split).
    pub partitions: usize,
    /// A table read by an updated-at cursor with at least two partitions' worth to read
    /// is split into partitions of about this many records ([`partition`]).
    pub partition_records: usize,
    /// A table's run that writes at least this many versions ends with
    /// [`Warehouse::reorder`](avesa_warehouse::Warehouse::reorder) of the tenant's rows of
    /// that table (0: never): partitions read side by side land interleaved, and a
    /// period's scan then reads most of the table.
    pub reorder_after: u64,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            chunk_records: 5_000,
            page_size: 1_000,
            max_concurrent_chunks: 4,
            max_tables_per_tenant: 2,
            overlap: chrono::Duration::seconds(60),
            webhook_url: None,
            chunk_budget: std::time::Duration::from_secs(60),
            partitions: 4,
            partition_records: 25_000,
            reorder_after: 100_000,
        }
    }
}

/// What to sync.
#[derive(Clone, Debug, Default)]
pub struct SyncRequest {
    /// One tenant, or every tenant.
    pub tenant: Option<TenantId>,
    pub service: Option<String>,
    /// These source tables (e.g. `service/tickets`); empty: every table.
    pub tables: Vec<String>,
    /// Read whole tables instead of from the watermark.
    pub full: bool,
    /// Read only records updated in `[from, to)`, without touching the tables'
    /// watermarks. Progress is kept under the backfill's own key, so running the same
    /// backfill again resumes it.
    pub backfill: Option<Backfill>,
    /// The run's id, when the caller needs it before the run ends (API triggers).
    pub run_id: Option<RunId>,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    State(#[from] avesa_state::StateError),
    /// The request names a tenant that does not exist.
    #[error("unknown tenant {0}")]
    UnknownTenant(TenantId),
    /// The request names a service the tenant has not (or not enabled).
    #[error("tenant {tenant} has no service {service}")]
    UnknownService { tenant: TenantId, service: String },
    /// The request names a table the service's connector does not read.
    #[error("{service} has no table {table:?}; tables: {}", known.join(", "))]
    UnknownTable { service: String, table: String, known: Vec<String> },
    #[error("shutting down: no new runs start")]
    ShuttingDown,
}

/// Counts a run in progress until dropped.
struct ActiveRun(tokio::sync::watch::Sender<usize>);

impl Drop for ActiveRun {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// The outcome of one table in a run.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct TableOutcome {
    pub tenant_id: TenantId,
    pub service: String,
    pub table: String,
    pub status: ChunkStatus,
    pub chunks: u64,
    pub records: u64,
    pub versions_inserted: u64,
    pub requests: u64,
    pub error: Option<String>,
    /// Who has to act on the error.
    pub error_class: Option<ErrorClass>,
    /// Why the table stopped early without failing (a vendor quota ran out).
    pub notice: Option<String>,
    /// Records the count probe expected at the start (where the API can count).
    pub planned: Option<u64>,
    /// Partitions read side by side in this run (0: read sequentially).
    #[serde(default)]
    pub partitions: u32,
    /// The most requests of the table's (tenant, service) in flight at once while it ran
    /// (other tables of the service included): the adaptive window at work.
    #[serde(default)]
    pub concurrency: u32,
    pub seconds: f64,
}

impl TableOutcome {
    /// The outcome of a table that has done nothing yet.
    pub(crate) fn empty(key: &TableKey) -> Self {
        TableOutcome {
            tenant_id: key.tenant_id.clone(),
            service: key.service.clone(),
            table: key.table.clone(),
            status: ChunkStatus::Committed,
            chunks: 0,
            records: 0,
            versions_inserted: 0,
            requests: 0,
            error: None,
            error_class: None,
            notice: None,
            planned: None,
            partitions: 0,
            concurrency: 0,
            seconds: 0.0,
        }
    }
}

/// The outcome of a run.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub run_id: RunId,
    pub status: RunStatus,
    pub tables: Vec<TableOutcome>,
    pub seconds: f64,
}

impl RunSummary {
    pub fn records(&self) -> u64 {
        self.tables.iter().map(|t| t.records).sum()
    }
}

/// The pipeline and its dependencies.
#[derive(Clone)]
pub struct Pipeline {
    store: Arc<dyn StateStore>,
    lake: Lake,
    warehouse: Arc<dyn Warehouse>,
    cipher: Cipher,
    catalogue: Catalogue,
    opts: PipelineOptions,
    /// Tables being synced by a run of this pipeline (or another sharing the set).
    active_tables: ActiveTables,
    /// Where the pipeline counts (the app's registry, served at `/metrics`).
    metrics: avesa_model::metrics::Metrics,
    cancel: Arc<std::sync::atomic::AtomicBool>,
    /// Runs in progress on this pipeline (and its clones); `drain` waits for none.
    active: tokio::sync::watch::Sender<usize>,
    /// Global chunk slots, shared by every run of this pipeline and its clones.
    chunk_slots: Arc<Semaphore>,
    /// Table slots per tenant, likewise shared.
    tenant_slots: Arc<std::sync::Mutex<BTreeMap<TenantId, Arc<Semaphore>>>>,
    /// Where runs' table jobs go (the distributed shape); `None`: this process runs them.
    queue: Option<queue::JobQueue>,
}

/// Stops a pipeline's runs cleanly: each table commits what its chunk has read and stops;
/// the next run resumes from there.
#[derive(Clone, Debug)]
pub struct CancelHandle(Arc<std::sync::atomic::AtomicBool>);

impl CancelHandle {
    pub fn cancel(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Pipeline {
    pub fn new(
        store: Arc<dyn StateStore>,
        lake: Lake,
        warehouse: Arc<dyn Warehouse>,
        cipher: Cipher,
        catalogue: Catalogue,
        opts: PipelineOptions,
    ) -> Self {
        Self {
            store,
            lake,
            warehouse,
            cipher,
            catalogue,
            active_tables: ActiveTables::default(),
            metrics: {
                let m = avesa_model::metrics::Metrics::new();
                m.declare(metrics::METRICS);
                m
            },
            cancel: Arc::default(),
            active: tokio::sync::watch::Sender::new(0),
            chunk_slots: Arc::new(Semaphore::new(opts.max_concurrent_chunks.max(1))),
            tenant_slots: Arc::default(),
            queue: None,
            opts,
        }
    }

    /// Hands runs' table jobs to `queue`, for `avesa worker` processes to run, instead of
    /// running them in this process. A run is then finished by the worker that records its
    /// last table's outcome.
    pub fn with_queue(mut self, queue: queue::JobQueue) -> Self {
        self.queue = Some(queue);
        self
    }

    /// The queue runs' jobs go to, if any.
    pub fn queue(&self) -> Option<&queue::JobQueue> {
        self.queue.as_ref()
    }

    /// Shares `tables` with other pipelines over the same installation, so that no two
    /// of their runs sync one table at once.
    pub fn with_active_tables(mut self, tables: ActiveTables) -> Self {
        self.active_tables = tables;
        self
    }

    /// Counts into `metrics` (the app's registry) instead of a registry of its own.
    pub fn with_metrics(mut self, registry: avesa_model::metrics::Metrics) -> Self {
        registry.declare(metrics::METRICS);
        self.metrics = registry;
        self
    }

    /// The services this pipeline knows.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    fn tenant_slots(&self, tenant: &TenantId) -> Arc<Semaphore> {
        let mut map = self.tenant_slots.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(tenant.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(self.opts.max_tables_per_tenant.max(1))))
            .clone()
    }

    /// Waits until no run of this pipeline (or its clones) is in progress. After a
    /// [`CancelHandle::cancel`], that is when every table has committed its last chunk.
    pub async fn drain(&self) {
        let mut rx = self.active.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    /// Runs in progress.
    pub fn active_runs(&self) -> usize {
        *self.active.borrow()
    }

    /// A handle that cancels this pipeline's runs (Ctrl-C, SIGTERM).
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle(self.cancel.clone())
    }

    /// Whether this pipeline was cancelled (it starts no new runs).
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Runs one sync over the requested tenants, services and tables.
    pub async fn run(&self, req: SyncRequest) -> Result<RunSummary, PipelineError> {
        if self.is_cancelled() {
            return Err(PipelineError::ShuttingDown);
        }
        self.active.send_modify(|n| *n += 1);
        let _active = ActiveRun(self.active.clone());
        let started = Instant::now();
        let run_id = req.run_id.unwrap_or_default();
        let span = tracing::info_span!("run", run_id = %run_id);
        let Plan { jobs, mut outcomes } = self.plan(&req).await?;
        // The request is valid: record the run.
        let run = RunRecord {
            id: run_id,
            tenant_id: req.tenant.clone(),
            kind: match (&req.backfill, req.full) {
                (Some(_), _) => RunKind::Backfill,
                (None, true) => RunKind::Full,
                (None, false) => RunKind::Incremental,
            },
            status: RunStatus::Running,
            started_at: Utc::now(),
            finished_at: None,
            error: None,
            tables_planned: self
                .queue
                .as_ref()
                .map(|_| u32::try_from(jobs.len() + outcomes.len()).unwrap_or(u32::MAX)),
            cancel_requested: false,
        };
        self.store.create_run(&run).await?;
        if let Some(queue) = &self.queue {
            return self.dispatch(queue, &req, &run, jobs, outcomes).await;
        }
        let mut set = JoinSet::new();
        let mut task_keys = BTreeMap::new();
        for job in jobs {
            let tenant_sem = self.tenant_slots(&job.key.tenant_id);
            let this = self.clone();
            let full = req.full;
            let run_id = run.id;
            let span = tracing::info_span!(parent: &span, "table",
                tenant = %job.key.tenant_id, service = %job.key.service, table = %job.key.table);
            let key = job.key.clone();
            let handle = set.spawn(
                async move {
                    let _t = tenant_sem.acquire_owned().await.expect("semaphore never closed");
                    this.sync_table(run_id, job, full).await
                }
                .instrument(span),
            );
            task_keys.insert(handle.id(), key);
        }
        while let Some(res) = set.join_next_with_id().await {
            match res {
                Ok((_, o)) => outcomes.push(o),
                Err(e) => {
                    // A bug, not data: record the table as failed so the run can't pass.
                    tracing::error!(error = %e, "table task panicked");
                    if let Some(k) = task_keys.get(&e.id()) {
                        outcomes.push(failed(
                            &k.tenant_id,
                            &k.service,
                            &k.table,
                            ErrorClass::Bug,
                            format!("internal error: {e}"),
                        ));
                    }
                }
            }
        }
        self.conclude(run.id, req.tenant.as_ref(), outcomes, started.elapsed().as_secs_f64()).await
    }

    /// Finishes a run from its tables' outcomes: its status and error, the run record,
    /// metrics and the webhook. In the distributed shape, the worker that records a run's
    /// last outcome calls it.
    pub(crate) async fn conclude(
        &self,
        run_id: RunId,
        tenant: Option<&TenantId>,
        mut outcomes: Vec<TableOutcome>,
        seconds: f64,
    ) -> Result<RunSummary, PipelineError> {
        outcomes.sort_by(|a, b| {
            (&a.tenant_id, &a.service, &a.table).cmp(&(&b.tenant_id, &b.service, &b.table))
        });
        let failures: Vec<&TableOutcome> =
            outcomes.iter().filter(|o| o.status != ChunkStatus::Committed).collect();
        let cancelled = self.is_cancelled()
            || (!failures.is_empty()
                && failures.iter().all(|o| o.error_class == Some(ErrorClass::Cancelled)));
        let status = match failures.len() {
            0 => RunStatus::Succeeded,
            _ if cancelled => RunStatus::Cancelled,
            n if n == outcomes.len() => RunStatus::Failed,
            _ => RunStatus::PartiallyFailed,
        };
        let error = (!failures.is_empty()).then(|| {
            failures
                .iter()
                .filter_map(|o| {
                    o.error
                        .as_ref()
                        .map(|e| format!("{}/{}/{}: {e}", o.tenant_id, o.service, o.table))
                })
                .collect::<Vec<_>>()
                .join("; ")
        });
        self.store.finish_run(run_id, status, error.as_deref()).await?;
        let summary = RunSummary { run_id, status, tables: outcomes, seconds };
        let st = [("status", status.as_str())];
        self.metrics.add("avesa_runs_total", &st, 1.0);
        self.metrics.observe("avesa_run_duration_seconds", &st, summary.seconds);
        if let Some(url) = &self.opts.webhook_url {
            let event = notify::event_json(&summary, tenant.map(TenantId::as_str));
            if !notify::send(url, &event).await {
                tracing::error!(url = %url, run = %summary.run_id, "the run's webhook was not delivered");
            }
        }
        Ok(summary)
    }
}

impl Pipeline {
    /// Queues a planned run's jobs. Tables that cannot run are recorded as outcomes now;
    /// a job that cannot be queued is recorded as failed. Returns at once with the run
    /// `running` (or finished, when nothing was queued).
    async fn dispatch(
        &self,
        queue: &queue::JobQueue,
        req: &SyncRequest,
        run: &RunRecord,
        jobs: Vec<plan::TableJob>,
        outcomes: Vec<TableOutcome>,
    ) -> Result<RunSummary, PipelineError> {
        let mut unqueued = outcomes;
        let mut queued = 0usize;
        for job in jobs {
            let message = queue::JobMessage {
                run_id: run.id,
                tenant: job.key.tenant_id.clone(),
                service: job.key.service.clone(),
                source: job.source.clone(),
                full: req.full,
                backfill: job.range.map(|b| (b.from, b.to)),
            };
            match queue.publish(&message).await {
                Ok(()) => queued += 1,
                Err(e) => {
                    tracing::error!(error = %e, table = %job.key.table, "could not queue a table job");
                    unqueued.push(failed(
                        &job.key.tenant_id,
                        &job.key.service,
                        &job.key.table,
                        ErrorClass::Platform,
                        e,
                    ));
                }
            }
        }
        tracing::info!(run = %run.id, jobs = queued, "run queued for workers");
        let mut summary = RunSummary {
            run_id: run.id,
            status: RunStatus::Running,
            tables: Vec::new(),
            seconds: 0.0,
        };
        if queued == 0 {
            // Nothing for a worker to finish: finish it here.
            return self.conclude(run.id, req.tenant.as_ref(), unqueued, 0.0).await;
        }
        for o in unqueued {
            if let Some(all) = self.record_outcome(run.id, &o).await? {
                summary = self.conclude_recorded(run.id, all).await?;
            }
        }
        Ok(summary)
    }

    /// Records one table's outcome of a distributed run; `Some` with every outcome when
    /// it was the run's last.
    pub(crate) async fn record_outcome(
        &self,
        run_id: RunId,
        o: &TableOutcome,
    ) -> Result<Option<Vec<TableOutcome>>, PipelineError> {
        let name = format!("{}/{}/{}", o.tenant_id, o.service, o.table);
        let json = serde_json::to_string(o).expect("an outcome serializes");
        let Some(all) = self.store.record_outcome(run_id, &name, &json).await? else {
            return Ok(None);
        };
        let parsed = all
            .iter()
            .map(|j| {
                serde_json::from_str(j).map_err(|e| {
                    avesa_state::StateError::Corrupt(format!("a run's table outcome: {e}"))
                })
            })
            .collect::<Result<Vec<TableOutcome>, _>>()?;
        Ok(Some(parsed))
    }

    /// Runs one sync and waits for it to finish: [`run`](Self::run) when this process runs
    /// the jobs; with a queue, until the workers have finished every table (polling the
    /// state store), the summary then made of the outcomes they recorded.
    pub async fn run_and_wait(&self, req: SyncRequest) -> Result<RunSummary, PipelineError> {
        let summary = self.run(req).await?;
        if summary.status != RunStatus::Running {
            return Ok(summary);
        }
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            let Some(run) = self.store.get_run(summary.run_id).await? else { continue };
            if run.status == RunStatus::Running {
                continue;
            }
            let tables = self
                .store
                .list_outcomes(run.id)
                .await?
                .iter()
                .map(|j| {
                    serde_json::from_str(j).map_err(|e| {
                        avesa_state::StateError::Corrupt(format!("a run's table outcome: {e}"))
                    })
                })
                .collect::<Result<Vec<TableOutcome>, _>>()?;
            let seconds = run
                .finished_at
                .map(|f| (f - run.started_at).num_milliseconds().max(0) as f64 / 1000.0)
                .unwrap_or_default();
            return Ok(RunSummary { run_id: run.id, status: run.status, tables, seconds });
        }
    }

    /// Concludes a distributed run whose outcomes are all recorded.
    pub(crate) async fn conclude_recorded(
        &self,
        run_id: RunId,
        outcomes: Vec<TableOutcome>,
    ) -> Result<RunSummary, PipelineError> {
        let run = self.store.get_run(run_id).await?;
        let tenant = run.as_ref().and_then(|r| r.tenant_id.clone());
        let seconds = run
            .map(|r| (Utc::now() - r.started_at).num_milliseconds().max(0) as f64 / 1000.0)
            .unwrap_or(0.0);
        self.conclude(run_id, tenant.as_ref(), outcomes, seconds).await
    }
}

/// The tables being synced, shared by the pipelines of one installation (the app holds
/// one set and gives it to every pipeline it makes).
#[derive(Clone, Debug, Default)]
pub struct ActiveTables(Arc<std::sync::Mutex<std::collections::HashSet<TableKey>>>);

impl ActiveTables {
    /// Claims `key`; `None` if a run already holds it. Released when the claim drops.
    fn claim(&self, key: &TableKey) -> Option<ActiveTable> {
        let mut set = self.0.lock().unwrap_or_else(|e| e.into_inner());
        set.insert(key.clone()).then(|| ActiveTable(self.clone(), key.clone()))
    }
}

/// A claimed table; released when dropped.
struct ActiveTable(ActiveTables, TableKey);

impl Drop for ActiveTable {
    fn drop(&mut self) {
        (self.0).0.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.1);
    }
}

fn failed(
    tenant: &TenantId,
    service: &str,
    table: &str,
    class: ErrorClass,
    e: impl ToString,
) -> TableOutcome {
    TableOutcome {
        tenant_id: tenant.clone(),
        service: service.to_owned(),
        table: table.to_owned(),
        status: ChunkStatus::Failed,
        chunks: 0,
        records: 0,
        versions_inserted: 0,
        requests: 0,
        error: Some(e.to_string()),
        error_class: Some(class),
        notice: None,
        planned: None,
        partitions: 0,
        concurrency: 0,
        seconds: 0.0,
    }
}
