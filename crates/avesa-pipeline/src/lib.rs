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

pub mod notify;
pub mod schedule;
mod services;

pub use services::{ServiceConfig, open_service_config, seal_service_config, spec, specs};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use avesa_connectors::{Connector, Cursor as SourceCursor};
use avesa_lake::{Lake, raw_batch};
use avesa_model::{ChunkId, RunId, TenantId};
use avesa_state::{
    ChunkCommit, ChunkCounts, ChunkRecord, ChunkStatus, Cipher, Cursor, RunRecord, RunStatus,
    StateStore, TableKey,
};
use avesa_transform::Mapping;
use avesa_warehouse::Warehouse;
use chrono::Utc;
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
        }
    }
}

/// What to sync.
#[derive(Clone, Debug, Default)]
pub struct SyncRequest {
    /// One tenant, or every tenant.
    pub tenant: Option<TenantId>,
    pub service: Option<String>,
    /// One source table (e.g. `service/tickets`) or every table.
    pub table: Option<String>,
    /// Read whole tables instead of from the watermark.
    pub full: bool,
    /// Read only records updated in `[from, to)`, without touching the tables'
    /// watermarks. Progress is kept under the backfill's own key, so running the same
    /// backfill again resumes it.
    pub backfill: Option<(chrono::DateTime<Utc>, chrono::DateTime<Utc>)>,
    /// The run's id, when the caller needs it before the run ends (API triggers).
    pub run_id: Option<RunId>,
}

/// The key a backfill of `table` over `[from, to)` keeps its progress (and run records)
/// under: `service/tickets@backfill-20240101T000000-20240201T000000`.
pub fn backfill_key(table: &str, from: chrono::DateTime<Utc>, to: chrono::DateTime<Utc>) -> String {
    format!("{table}@backfill-{}-{}", from.format("%Y%m%dT%H%M%S"), to.format("%Y%m%dT%H%M%S"))
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{0}")]
    State(#[from] avesa_state::StateError),
    #[error("{0}")]
    Invalid(String),
    #[error("shutting down: no new runs start")]
    ShuttingDown,
}

/// A table's error when its run was cancelled.
const CANCELLED: &str = "cancelled; the next run resumes from the last commit";

/// One chunk's records as read, before they land.
struct Fetched {
    records: Vec<avesa_lake::RawRecord>,
    counts: ChunkCounts,
    end: Option<Cursor>,
    more: bool,
    /// Why reading stopped early (a vendor quota, or `cancelled`).
    quota: Option<String>,
    fetch_ms: u64,
}

/// Counts a run in progress until dropped.
struct ActiveRun(tokio::sync::watch::Sender<usize>);

impl Drop for ActiveRun {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// The outcome of one table in a run.
#[derive(Clone, Debug, Serialize)]
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
    /// Why the table stopped early without failing (a vendor quota ran out).
    pub notice: Option<String>,
    /// Records the count probe expected at the start (where the API can count).
    pub planned: Option<u64>,
    pub seconds: f64,
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
    mappings: Arc<Vec<Mapping>>,
    opts: PipelineOptions,
    cancel: Arc<std::sync::atomic::AtomicBool>,
    /// Runs in progress on this pipeline (and its clones); `drain` waits for none.
    active: tokio::sync::watch::Sender<usize>,
    /// Global chunk slots, shared by every run of this pipeline and its clones.
    chunk_slots: Arc<Semaphore>,
    /// Table slots per tenant, likewise shared.
    tenant_slots: Arc<std::sync::Mutex<BTreeMap<TenantId, Arc<Semaphore>>>>,
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

struct TableJob {
    key: TableKey,
    /// The source table to read (`key.table` differs for a backfill).
    source: String,
    /// A backfill's range.
    range: Option<(chrono::DateTime<Utc>, chrono::DateTime<Utc>)>,
    connector: Arc<dyn Connector>,
    /// `None`: the table is landed as raw Parquet only.
    mapping: Option<Arc<Mapping>>,
}

impl Pipeline {
    pub fn new(
        store: Arc<dyn StateStore>,
        lake: Lake,
        warehouse: Arc<dyn Warehouse>,
        cipher: Cipher,
        mappings: Vec<Mapping>,
        opts: PipelineOptions,
    ) -> Self {
        Self {
            store,
            lake,
            warehouse,
            cipher,
            mappings: Arc::new(mappings),
            cancel: Arc::default(),
            active: tokio::sync::watch::Sender::new(0),
            chunk_slots: Arc::new(Semaphore::new(opts.max_concurrent_chunks.max(1))),
            tenant_slots: Arc::default(),
            opts,
        }
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
        let tenants = match &req.tenant {
            Some(t) => match self.store.get_tenant(t).await? {
                Some(t) => vec![t],
                None => return Err(PipelineError::Invalid(format!("unknown tenant {t}"))),
            },
            None => self.store.list_tenants().await?,
        };
        let run_id = req.run_id.unwrap_or_default();
        let span = tracing::info_span!("run", run_id = %run_id);
        let mut outcomes = Vec::new();
        let mut jobs = Vec::new();
        for tenant in &tenants {
            let services = self.store.list_services(&tenant.id).await?;
            let services: Vec<_> = services
                .into_iter()
                .filter(|s| s.enabled && req.service.as_ref().is_none_or(|w| *w == s.service))
                .collect();
            if req.service.is_some() && services.is_empty() && req.tenant.is_some() {
                return Err(PipelineError::Invalid(format!(
                    "tenant {} has no service {}",
                    tenant.id,
                    req.service.as_deref().unwrap_or_default()
                )));
            }
            for svc in services {
                let connector = open_service_config(&self.cipher, &svc.service, &svc.sealed_config)
                    .and_then(|cfg| cfg.connector(tenant.id.as_str()));
                let connector: Arc<dyn Connector> = match connector {
                    Ok(c) => Arc::from(c),
                    Err(e) => {
                        outcomes.push(failed(&tenant.id, &svc.service, "*", e));
                        continue;
                    }
                };
                let mut matched = false;
                for table in connector.tables() {
                    if req.table.as_ref().is_some_and(|t| *t != table) {
                        continue;
                    }
                    matched = true;
                    let key = TableKey {
                        tenant_id: tenant.id.clone(),
                        service: svc.service.clone(),
                        table: match req.backfill {
                            Some((from, to)) => backfill_key(&table, from, to),
                            None => table.clone(),
                        },
                    };
                    if req.backfill.is_some() && !connector.supports_range(&table) {
                        if req.table.is_some() {
                            outcomes.push(failed(
                                &tenant.id,
                                &svc.service,
                                &table,
                                "a backfill needs a table read by an updated-at cursor",
                            ));
                        }
                        continue;
                    }
                    let base = TableJob {
                        key,
                        source: table.clone(),
                        range: req.backfill,
                        connector: connector.clone(),
                        mapping: None,
                    };
                    let Some(source) = connector.mapping_of(&table) else {
                        jobs.push(base);
                        continue;
                    };
                    let mapping = self
                        .mappings
                        .iter()
                        .find(|m| m.service == svc.service && m.source_table == source);
                    match mapping {
                        Some(m) => {
                            jobs.push(TableJob { mapping: Some(Arc::new(m.clone())), ..base })
                        }
                        None => outcomes.push(failed(
                            &tenant.id,
                            &svc.service,
                            &table,
                            format!("no mapping for {} {source}", svc.service),
                        )),
                    }
                }
                if let (false, Some(t)) = (matched, &req.table) {
                    let known = connector.tables();
                    return Err(PipelineError::Invalid(format!(
                        "{} has no table {t:?}; tables: {}",
                        svc.service,
                        known.join(", ")
                    )));
                }
            }
        }

        // The request is valid: record the run.
        let run = RunRecord {
            id: run_id,
            tenant_id: req.tenant.clone(),
            kind: match (&req.backfill, req.full) {
                (Some(_), _) => "backfill",
                (None, true) => "full",
                (None, false) => "incremental",
            }
            .into(),
            status: RunStatus::Running,
            started_at: Utc::now(),
            finished_at: None,
            error: None,
        };
        self.store.create_run(&run).await?;
        // Interleave tenants so that one tenant's many tables don't queue ahead of others.
        jobs.sort_by_key(|j| j.key.tenant_id.clone());
        let jobs = interleave_by_tenant(jobs);
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
                            format!("internal error: {e}"),
                        ));
                    }
                }
            }
        }
        outcomes.sort_by(|a, b| {
            (&a.tenant_id, &a.service, &a.table).cmp(&(&b.tenant_id, &b.service, &b.table))
        });
        let failed_n = outcomes.iter().filter(|o| o.status != ChunkStatus::Committed).count();
        let status = match failed_n {
            0 => RunStatus::Succeeded,
            _ if self.is_cancelled() => RunStatus::Cancelled,
            n if n == outcomes.len() => RunStatus::Failed,
            _ => RunStatus::PartiallyFailed,
        };
        let error = (failed_n > 0).then(|| {
            outcomes
                .iter()
                .filter_map(|o| {
                    o.error
                        .as_ref()
                        .map(|e| format!("{}/{}/{}: {e}", o.tenant_id, o.service, o.table))
                })
                .collect::<Vec<_>>()
                .join("; ")
        });
        self.store.finish_run(run.id, status, error.as_deref()).await?;
        let summary = RunSummary {
            run_id: run.id,
            status,
            tables: outcomes,
            seconds: started.elapsed().as_secs_f64(),
        };
        let st = [("status", status.as_str())];
        avesa_model::metrics::add("avesa_runs_total", &st, 1.0);
        avesa_model::metrics::observe("avesa_run_duration_seconds", &st, summary.seconds);
        if let Some(url) = &self.opts.webhook_url {
            let event = notify::event_json(&summary, req.tenant.as_ref().map(TenantId::as_str));
            if !notify::send(url, &event).await {
                tracing::error!(url = %url, run = %summary.run_id, "the run's webhook was not delivered");
            }
        }
        Ok(summary)
    }

    /// Syncs one table chunk by chunk until the source has nothing more.
    async fn sync_table(&self, run_id: RunId, job: TableJob, full: bool) -> TableOutcome {
        let started = Instant::now();
        // One run at a time per table in this process (the scheduler, API triggers and
        // a manual sync may overlap).
        let store_id = Arc::as_ptr(&self.store) as *const () as usize;
        let Some(_active) = ActiveTable::claim(store_id, &job.key) else {
            let mut o = failed(&job.key.tenant_id, &job.key.service, &job.key.table, "");
            o.status = ChunkStatus::Committed;
            o.error = None;
            o.notice = Some("skipped: another run is syncing this table".into());
            return o;
        };
        let mut out = TableOutcome {
            tenant_id: job.key.tenant_id.clone(),
            service: job.key.service.clone(),
            table: job.key.table.clone(),
            status: ChunkStatus::Committed,
            chunks: 0,
            records: 0,
            versions_inserted: 0,
            requests: 0,
            error: None,
            notice: None,
            planned: None,
            seconds: 0.0,
        };
        let result = self.sync_table_inner(run_id, &job, full, &mut out).await;
        if let Err(e) = result {
            tracing::error!(error = %e, "table failed");
            out.status = ChunkStatus::Failed;
            out.error = Some(e);
        }
        out.seconds = started.elapsed().as_secs_f64();
        out
    }

    async fn sync_table_inner(
        &self,
        run_id: RunId,
        job: &TableJob,
        full: bool,
        out: &mut TableOutcome,
    ) -> Result<(), String> {
        let key = &job.key;
        let st = |e: avesa_state::StateError| e.to_string();
        // Resume a chunk a crashed or failed run left behind, under its own id.
        let resumed = self.store.find_unfinished_chunk(key).await.map_err(st)?;
        let overlap = |c: Cursor| {
            let c = from_source(job.connector.resume_from(to_source(c), self.opts.overlap));
            match job.range {
                // A backfill never rewinds before its range.
                Some((from, _)) if c.updated_at < from => {
                    Cursor { updated_at: from, id: String::new(), token: None }
                }
                _ => c,
            }
        };
        let cursor = self.store.get_cursor(key).await.map_err(st)?;
        let (mut chunk_id, mut start) = match resumed {
            // A full sync starts over, superseding the unfinished chunk. So does an
            // incremental run when that chunk read from the beginning of a table that
            // has a watermark: it was a full sync's first chunk or its key scan, whose
            // work a full sync redoes, and the watermark is the place to go on from.
            Some(c) if full || (c.start.is_none() && cursor.is_some()) => {
                self.abandon(job, c.id).await?;
                match (full, cursor) {
                    (false, Some(c)) => (ChunkId::new(), Some(overlap(c))),
                    _ => (ChunkId::new(), None),
                }
            }
            Some(c) => {
                // Same id (its files are overwritten), from its start minus the overlap
                // window (a late-committed record may have appeared just behind it).
                tracing::info!(chunk = %c.id, "resuming unfinished chunk");
                (c.id, c.start.map(overlap))
            }
            None if full => (ChunkId::new(), None),
            None => {
                let start = match (cursor, job.range) {
                    (Some(c), _) => Some(overlap(c)),
                    // A backfill starts at its range's beginning (inclusive).
                    (None, Some((from, _))) => {
                        Some(Cursor { updated_at: from, id: String::new(), token: None })
                    }
                    (None, None) => None,
                };
                (ChunkId::new(), start)
            }
        };
        // A full sync of a table that lists every record ends with a key scan: current
        // records the vendor no longer lists were deleted there.
        let mut target = self.opts.chunk_records;
        if let Ok(n) = job.connector.count(&job.source, start.clone().map(to_source).as_ref()).await
        {
            tracing::info!(
                planned = n,
                chunks = n.div_ceil(self.opts.chunk_records.max(1) as u64),
                "table planned"
            );
            out.planned = Some(n);
        }
        let mut seen = (full
            && job.range.is_none()
            && job.mapping.is_some()
            && job.connector.lists_all(&job.source))
        .then(std::collections::HashSet::new);
        let mut prefetched: Option<Result<Fetched, String>> = None;
        loop {
            // A global chunk slot, held until this chunk commits.
            let slot = self.chunk_slots.acquire().await.expect("semaphore never closed");
            if self.is_cancelled() {
                return Err(CANCELLED.into());
            }
            let record = ChunkRecord::running(chunk_id, run_id, key.clone(), start.clone());
            self.store.begin_chunk(&record).await.map_err(st)?;
            let span = tracing::info_span!("chunk", chunk = %chunk_id);
            let chunk_started = Instant::now();
            let fetched = match prefetched.take() {
                Some(f) => f,
                None => self.fetch(job, start.clone(), target).instrument(span.clone()).await,
            };
            let result = match fetched {
                Err(e) => Err(e),
                Ok(f) => {
                    // While this chunk lands, the next one is read (it begins, and counts,
                    // only once this one has committed; a crash just drops what it read).
                    let next = match &f {
                        f if f.more && f.quota.is_none() && !f.records.is_empty() => f.end.clone(),
                        _ => None,
                    };
                    let land = self.land_chunk(job, chunk_id, f, seen.as_mut()).instrument(span);
                    match next {
                        None => land.await,
                        Some(next) => {
                            let prefetch = self
                                .fetch(job, Some(next), target)
                                .instrument(tracing::info_span!("prefetch"));
                            let (landed, read) = tokio::join!(land, prefetch);
                            prefetched = Some(read);
                            landed
                        }
                    }
                }
            };
            let labels = [
                ("service", key.service.as_str()),
                ("table", key.table.as_str()),
                ("tenant", key.tenant_id.as_str()),
            ];
            let elapsed = chunk_started.elapsed();
            avesa_model::metrics::observe(
                "avesa_chunk_duration_seconds",
                &labels[..2],
                elapsed.as_secs_f64(),
            );
            match result {
                Ok((mut commit, more, quota)) => {
                    commit.counts.millis = elapsed.as_millis() as u64;
                    // Size the next chunk from this one's throughput to fit the budget.
                    if commit.counts.records > 0 && !elapsed.is_zero() {
                        let rate = commit.counts.records as f64 / elapsed.as_secs_f64();
                        let fit = (rate * self.opts.chunk_budget.as_secs_f64()) as usize;
                        let max = self.opts.chunk_records.max(1);
                        target = fit.clamp((self.opts.page_size as usize).min(max), max);
                    }
                    record_metrics(&labels, &commit.counts, "committed");
                    out.chunks += 1;
                    out.records += commit.counts.records;
                    out.versions_inserted += commit.counts.versions_inserted;
                    out.requests += commit.counts.requests;
                    let end = commit.end.clone();
                    crash_point("before_commit");
                    self.store.commit_chunk(&commit).await.map_err(st)?;
                    if let Some(q) = quota {
                        if q == "cancelled" {
                            return Err(CANCELLED.into());
                        }
                        tracing::warn!(error = %q, "vendor quota exhausted; the next run resumes here");
                        out.notice = Some(format!("stopped early: {q}; the next run resumes here"));
                        return Ok(());
                    }
                    drop(slot);
                    match (more, end) {
                        (true, Some(end)) => {
                            start = Some(end);
                            chunk_id = ChunkId::new();
                        }
                        _ => {
                            if let Some(seen) = seen.take() {
                                let _slot = self
                                    .chunk_slots
                                    .acquire()
                                    .await
                                    .expect("semaphore never closed");
                                let gone = self.key_scan(run_id, job, seen).await?;
                                out.versions_inserted += gone;
                            }
                            return Ok(());
                        }
                    }
                }
                Err(e) => {
                    avesa_model::metrics::add(
                        "avesa_chunks_total",
                        &[labels[0], labels[1], labels[2], ("status", "failed")],
                        1.0,
                    );
                    // Best effort: if even this fails, the chunk stays "running" and the
                    // next run resumes it all the same.
                    let _ = self.store.fail_chunk(chunk_id, &e).await;
                    return Err(e);
                }
            }
        }
    }

    /// The key scan that ends a full sync: every current record of this service in the
    /// table's canonical table whose id the full read did not see gets a deletion
    /// version, landed and recorded like any chunk (the apply is idempotent, so a crash
    /// here is repaired by the next full sync).
    async fn key_scan(
        &self,
        run_id: RunId,
        job: &TableJob,
        seen: std::collections::HashSet<String>,
    ) -> Result<u64, String> {
        let key = &job.key;
        let Some(mapping) = job.mapping.clone() else { return Ok(0) };
        let table = mapping.canonical_table;
        let current = self
            .warehouse
            .current_ids(&key.tenant_id, table, &key.service)
            .await
            .map_err(|e| e.to_string())?;
        let now = Utc::now();
        let gone: Vec<avesa_lake::RawRecord> = current
            .into_iter()
            .filter(|id| !seen.contains(id))
            .map(|id| avesa_lake::RawRecord {
                source_id: id,
                updated_at: Some(now),
                deleted: true,
                json: "{}".into(),
            })
            .collect();
        if gone.is_empty() {
            return Ok(0);
        }
        tracing::info!(deleted = gone.len(), "key scan: records the vendor no longer lists");
        let chunk = ChunkId::new();
        let record = ChunkRecord::running(chunk, run_id, key.clone(), None);
        self.store.begin_chunk(&record).await.map_err(|e| e.to_string())?;
        let mut counts = ChunkCounts { records: gone.len() as u64, ..Default::default() };
        let (files, inserted) = self.land(job, chunk, now, gone).await?;
        counts.versions_inserted = inserted;
        let commit = ChunkCommit { chunk_id: chunk, key: key.clone(), end: None, counts, files };
        crash_point("key_scan_before_commit");
        self.store.commit_chunk(&commit).await.map_err(|e| e.to_string())?;
        Ok(inserted)
    }

    /// Marks an unfinished chunk abandoned and deletes the lake files it may have
    /// written: only committed chunks' files belong to the lake. (Versions its SCD2 apply
    /// may have written stay: they are states the vendor really had, and the apply is
    /// idempotent.)
    async fn abandon(&self, job: &TableJob, chunk: ChunkId) -> Result<(), String> {
        tracing::info!(chunk = %chunk, "superseding an unfinished chunk");
        self.store.abandon_chunk(chunk).await.map_err(|e| e.to_string())?;
        let (raw, canonical) = chunk_paths(job, chunk);
        for p in std::iter::once(raw).chain(canonical) {
            self.lake.delete(&p).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Raw Parquet → canonical Parquet → SCD2 apply for one chunk's records. Returns the
    /// files written and the versions inserted. Building the batches runs on a blocking
    /// thread; the two Parquet writes and the apply then run side by side (the commit,
    /// after all three, is what makes them count).
    async fn land(
        &self,
        job: &TableJob,
        chunk: ChunkId,
        extracted_at: chrono::DateTime<Utc>,
        records: Vec<avesa_lake::RawRecord>,
    ) -> Result<(Vec<String>, u64), String> {
        let key = &job.key;
        let began = Instant::now();
        let (tenant, service, table) =
            (key.tenant_id.clone(), key.service.clone(), key.table.clone());
        let mapping = job.mapping.clone();
        let (raw, canonical) = tokio::task::spawn_blocking(move || {
            let raw = raw_batch(&tenant, &service, &table, chunk, extracted_at, &records);
            let canonical = mapping
                .map(|m| {
                    m.apply(&tenant, chunk, extracted_at, &records)
                        .map(|batch| (m.canonical_table, batch))
                        .map_err(|e| format!("mapping failed: {e}"))
                })
                .transpose()?;
            Ok::<_, String>((raw, canonical))
        })
        .await
        .map_err(|e| format!("transform task failed: {e}"))??;
        let transform_ms = began.elapsed().as_millis() as u64;
        let (raw_path, canonical_path) = chunk_paths(job, chunk);
        let put_raw =
            async { self.lake.put_batch(&raw_path, raw).await.map_err(|e| e.to_string()) };
        let (Some((table, canonical)), Some(canonical_path)) = (canonical, canonical_path) else {
            put_raw.await?;
            return Ok((vec![raw_path.to_string()], 0));
        };
        let put_canonical = async {
            self.lake.put_batch(&canonical_path, canonical.clone()).await.map_err(|e| e.to_string())
        };
        let apply = async {
            let started = Instant::now();
            let r = self.warehouse.apply(table, canonical.clone()).await.map_err(|e| e.to_string());
            r.map(|r| (r, started.elapsed().as_millis() as u64))
        };
        let (_, _, (report, apply_ms)) = tokio::try_join!(put_raw, put_canonical, apply)?;
        tracing::debug!(
            transform_ms,
            apply_ms,
            land_ms = began.elapsed().as_millis() as u64,
            "chunk landed"
        );
        Ok((vec![raw_path.to_string(), canonical_path.to_string()], report.inserted))
    }

    /// Reads one chunk's records: pages from `start` until `target` records, the time
    /// budget, the end of the source, a quota or a cancel.
    async fn fetch(
        &self,
        job: &TableJob,
        start: Option<Cursor>,
        target: usize,
    ) -> Result<Fetched, String> {
        let key = &job.key;
        let mut counts = ChunkCounts::default();
        let mut records = Vec::new();
        let mut after: Option<SourceCursor> = start.map(to_source);
        let mut more = true;
        let mut quota = None;
        let began = Instant::now();
        let target = target.clamp(1, self.opts.chunk_records);
        while records.len() < target && more {
            if !records.is_empty() && began.elapsed() >= self.opts.chunk_budget {
                // Over budget: commit this much; a continuation chunk reads on.
                tracing::info!(
                    records = records.len(),
                    "chunk over its time budget; continuing in a new chunk"
                );
                break;
            }
            if self.is_cancelled() {
                quota = Some("cancelled".to_owned());
                break;
            }
            let want = (target - records.len()).min(self.opts.page_size as usize);
            let page =
                match job.connector.fetch_page(&job.source, after.as_ref(), want as u32).await {
                    Ok(p) => p,
                    // The vendor's quota ran out: keep what this chunk has, stop cleanly.
                    Err(e) if e.is_quota() => {
                        quota = Some(e.to_string());
                        break;
                    }
                    Err(e) => return Err(e.to_string()),
                };
            counts.pages += 1;
            counts.requests += page.stats.requests;
            counts.bytes += page.stats.bytes;
            counts.retries += page.stats.retries;
            counts.throttles += page.stats.throttles;
            more = page.more;
            let mut page = page;
            if let Some((_, to)) = job.range {
                // The range ends here: keep what was updated before `to`, stop after.
                let n = page.records.len();
                page.records.retain(|r| r.updated_at.is_none_or(|u| u < to));
                if page.records.len() < n {
                    more = false;
                    page.last = page.records.last().map(|r| SourceCursor {
                        updated_at: r.updated_at.unwrap_or(to),
                        id: r.source_id.clone(),
                        token: None,
                    });
                    if page.last.is_none() {
                        break;
                    }
                }
            }
            match page.last {
                Some(last) if after.as_ref() == Some(&last) => {
                    return Err(format!(
                        "{} {}: the source returned the same page twice (position {} / {}); \
                         stopping instead of looping",
                        key.service, key.table, last.updated_at, last.id
                    ));
                }
                Some(last) => after = Some(last),
                None => more = false,
            }
            records.extend(page.records);
        }
        counts.records = records.len() as u64;
        let fetch_ms = began.elapsed().as_millis() as u64;
        Ok(Fetched { records, counts, end: after.map(from_source), more, quota, fetch_ms })
    }

    /// Lands one fetched chunk: raw Parquet → canonical Parquet → SCD2 apply. Returns the
    /// commit to record and whether the source has more.
    async fn land_chunk(
        &self,
        job: &TableJob,
        chunk: ChunkId,
        f: Fetched,
        seen: Option<&mut std::collections::HashSet<String>>,
    ) -> Result<(ChunkCommit, bool, Option<String>), String> {
        let key = &job.key;
        let Fetched { records, mut counts, end, more, quota, fetch_ms } = f;
        let began = Instant::now();
        if records.is_empty() {
            // Nothing read; a delta API may still hand out a new delta link to keep.
            let end = end.filter(|e| e.token.as_deref().is_some_and(|t| t.starts_with("delta:")));
            let commit =
                ChunkCommit { chunk_id: chunk, key: key.clone(), end, counts, files: vec![] };
            return Ok((commit, false, quota));
        }
        if let Some(seen) = seen {
            seen.extend(records.iter().map(|r| r.source_id.clone()));
        }
        let (files, inserted) = self.land(job, chunk, Utc::now(), records).await?;
        counts.versions_inserted = inserted;
        tracing::info!(
            records = counts.records,
            inserted,
            fetch_ms,
            land_ms = began.elapsed().as_millis() as u64,
            "chunk applied"
        );
        let commit = ChunkCommit { chunk_id: chunk, key: key.clone(), end, counts, files };
        Ok((commit, more && quota.is_none(), quota))
    }
}

/// A table being synced by a run of this process, per state store (one installation);
/// released when dropped.
struct ActiveTable((usize, TableKey));

type ActiveSet = std::sync::Mutex<std::collections::HashSet<(usize, TableKey)>>;

static ACTIVE: std::sync::LazyLock<ActiveSet> = std::sync::LazyLock::new(Default::default);

impl ActiveTable {
    fn claim(store: usize, key: &TableKey) -> Option<ActiveTable> {
        let mut set = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
        let k = (store, key.clone());
        set.insert(k.clone()).then(|| ActiveTable(k))
    }
}

impl Drop for ActiveTable {
    fn drop(&mut self) {
        ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.0);
    }
}

/// Adds a committed chunk's counts to the process metrics.
fn record_metrics(labels: &[(&str, &str); 3], c: &ChunkCounts, status: &str) {
    use avesa_model::metrics::add;
    add("avesa_records_total", labels, c.records as f64);
    add("avesa_pages_total", labels, c.pages as f64);
    add("avesa_requests_total", labels, c.requests as f64);
    add("avesa_retries_total", labels, c.retries as f64);
    add("avesa_throttles_total", labels, c.throttles as f64);
    add("avesa_bytes_total", labels, c.bytes as f64);
    add("avesa_versions_inserted_total", labels, c.versions_inserted as f64);
    add("avesa_chunks_total", &[labels[0], labels[1], labels[2], ("status", status)], 1.0);
}

/// The lake files a chunk of `job` writes: raw, and canonical when the table is mapped.
fn chunk_paths(
    job: &TableJob,
    chunk: ChunkId,
) -> (avesa_lake::LakePath, Option<avesa_lake::LakePath>) {
    let key = &job.key;
    let raw = Lake::raw_path(&key.tenant_id, &key.service, &key.table, chunk);
    let canonical = job
        .mapping
        .as_ref()
        .map(|m| Lake::canonical_path(&key.tenant_id, m.canonical_table, &key.service, chunk));
    (raw, canonical)
}

fn to_source(c: Cursor) -> SourceCursor {
    SourceCursor { updated_at: c.updated_at, id: c.id, token: c.token }
}

fn from_source(c: SourceCursor) -> Cursor {
    Cursor { updated_at: c.updated_at, id: c.id, token: c.token }
}

/// A test hook for crash-safety tests: with `AVESA_CRASH_AT=<point>:<n>` in the
/// environment, the process aborts the `n`-th time it reaches `<point>` (as a power cut
/// would stop it). Points: `before_commit` (after a chunk's SCD2 apply, before its
/// commit) and `key_scan_before_commit` (after a full sync's deletion versions are
/// applied, before the key-scan chunk commits).
fn crash_point(point: &str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static HITS: AtomicU64 = AtomicU64::new(0);
    let Ok(spec) = std::env::var("AVESA_CRASH_AT") else { return };
    let Some((name, n)) = spec.split_once(':') else { return };
    if name != point {
        return;
    }
    let hit = HITS.fetch_add(1, Ordering::SeqCst) + 1;
    if n.parse::<u64>().is_ok_and(|n| n == hit) {
        eprintln!("AVESA_CRASH_AT: aborting at {point} #{hit}");
        std::process::abort();
    }
}

fn failed(tenant: &TenantId, service: &str, table: &str, e: impl ToString) -> TableOutcome {
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
        notice: None,
        planned: None,
        seconds: 0.0,
    }
}

/// Round-robin over tenants: t1a, t2a, t1b, t2b, …
fn interleave_by_tenant(jobs: Vec<TableJob>) -> Vec<TableJob> {
    let mut groups: BTreeMap<TenantId, std::collections::VecDeque<TableJob>> = BTreeMap::new();
    for j in jobs {
        groups.entry(j.key.tenant_id.clone()).or_default().push_back(j);
    }
    let mut out = Vec::new();
    while !groups.is_empty() {
        groups.retain(|_, q| {
            if let Some(j) = q.pop_front() {
                out.push(j);
            }
            !q.is_empty()
        });
    }
    out
}
