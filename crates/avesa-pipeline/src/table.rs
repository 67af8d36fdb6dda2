//! One table's run: where it starts (resume, supersede or go on from the watermark), then
//! its chunks one after another, each committed before the next begins, with the next
//! one read ahead while the current one lands — or, with much to read, its partitions
//! side by side first ([`crate::partition`]); a full sync ends with a key scan.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use avesa_model::{Backfill, ChunkId, RunId, StopReason};
use avesa_state::{ChunkRecord, ChunkStatus, Position};
use tracing::Instrument;

use crate::chunk::{Fetched, chunk_paths, crash_point};
use crate::error::TableError;
use crate::metrics::record_chunk;
use crate::partition;
use crate::plan::TableJob;
use crate::{ErrorClass, Pipeline, TableOutcome, failed};

/// Where a table's run begins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Start {
    /// An unfinished chunk, resumed under its own id (its lake files are overwritten, not
    /// duplicated), from its start.
    Resume { chunk: ChunkId, from: Option<Position> },
    /// A new chunk from `from` (`None`: the table's beginning), after abandoning the
    /// unfinished chunk `supersede`, if any.
    Fresh { supersede: Option<ChunkId>, from: Option<Position> },
}

/// The table's state machine, as a pure function of what the state store holds:
///
/// - an unfinished chunk is resumed under its id, from its start rewound by the overlap;
/// - unless the run is a full sync, or the chunk read from the table's beginning while the
///   table has a watermark (a full sync's first chunk or its key scan, whose work only a
///   full sync redoes): then it is superseded, and the run goes on from the watermark
///   (incremental) or the beginning (full);
/// - otherwise a full sync starts at the beginning, an incremental run at the watermark
///   rewound by the overlap, and a backfill without progress at its range's start.
///
/// `rewind` applies the overlap window (and a backfill's floor) to a position.
pub(crate) fn start_of(
    unfinished: Option<&ChunkRecord>,
    watermark: Option<Position>,
    full: bool,
    range: Option<Backfill>,
    rewind: &dyn Fn(Position) -> Position,
) -> Start {
    match unfinished {
        Some(c) if full || (c.start.is_none() && watermark.is_some()) => Start::Fresh {
            supersede: Some(c.id),
            from: match (full, watermark) {
                (false, Some(w)) => Some(rewind(w)),
                _ => None,
            },
        },
        Some(c) => Start::Resume { chunk: c.id, from: c.start.clone().map(rewind) },
        None if full => Start::Fresh { supersede: None, from: None },
        None => Start::Fresh {
            supersede: None,
            from: match (watermark, range) {
                (Some(w), _) => Some(rewind(w)),
                // A backfill starts at its range's beginning (inclusive).
                (None, Some(b)) => Some(Position::from_instant(b.from)),
                (None, None) => None,
            },
        },
    }
}

/// How often a running table checks whether its run has been asked to stop.
pub const STOP_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// Aborts the task it holds when dropped.
pub(crate) struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Pipeline {
    /// Whether `job` should stop reading: the pipeline is shutting down, or the job's
    /// run has been asked to stop.
    pub(crate) fn stopping(&self, job: &TableJob) -> bool {
        self.is_cancelled() || job.stop.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Sets `job.stop` once its run is asked to stop ([`StateStore::request_cancel`]):
    /// checked now, then every [`STOP_POLL`] until the returned guard is dropped. The
    /// state store is the one place every process running the run's tables can see.
    ///
    /// [`StateStore::request_cancel`]: avesa_state::StateStore::request_cancel
    async fn watch_for_stop(&self, run_id: RunId, job: &TableJob) -> AbortOnDrop {
        let store = self.store.clone();
        let stop = job.stop.clone();
        let check = move || {
            let store = store.clone();
            async move {
                match store.cancel_requested(run_id).await {
                    Ok(asked) => asked,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot check whether the run was cancelled");
                        false
                    }
                }
            }
        };
        if check().await {
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        AbortOnDrop(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                tokio::time::sleep(STOP_POLL).await;
                if check().await {
                    tracing::info!(run = %run_id, "the run was asked to stop");
                    stop.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
        }))
    }

    /// Syncs one table chunk by chunk until the source has nothing more.
    pub(crate) async fn sync_table(
        &self,
        run_id: RunId,
        job: TableJob,
        full: bool,
    ) -> TableOutcome {
        let started = Instant::now();
        // One run at a time per table in this process (the scheduler, API triggers and
        // a manual sync may overlap).
        let Some(_active) = self.active_tables.claim(&job.key) else {
            let mut o =
                failed(&job.key.tenant_id, &job.key.service, &job.key.table, ErrorClass::Bug, "");
            o.status = ChunkStatus::Committed;
            o.error = None;
            o.error_class = None;
            o.notice = Some("skipped: another run is syncing this table".into());
            return o;
        };
        // A table of a run someone asked to stop stops like one of a shutdown: it commits
        // what it has read, and the next run resumes.
        let _watch = self.watch_for_stop(run_id, &job).await;
        // The most requests of this (tenant, service) in flight at once while it runs.
        let budget = job.connector.budget();
        let in_flight = budget.as_ref().map(|b| b.watch());
        let mut out = TableOutcome::empty(&job.key);
        let result = self.sync_table_inner(run_id, &job, full, &mut out).await;
        out.concurrency = in_flight.map_or(0, |w| w.peak());
        if let Some(m) = &job.mapping
            && !self.stopping(&job)
        {
            self.reorder_after(&job.key.tenant_id, m.canonical_table, out.versions_inserted).await;
        }
        if let Err(e) = result {
            let class = e.class();
            if e.is_bug() {
                tracing::error!(error = %e, ?class, "table failed: a bug in AVESA");
            } else {
                tracing::error!(error = %e, ?class, "table failed");
            }
            out.status = ChunkStatus::Failed;
            out.error = Some(e.to_string());
            out.error_class = Some(class);
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
    ) -> Result<(), TableError> {
        let key = &job.key;
        let watermark = self.store.get_cursor(key).await.map_err(TableError::from)?;
        // A full sync of a table that lists every record ends with a key scan: current
        // records the vendor no longer lists were deleted there.
        let seen = (full
            && job.range.is_none()
            && job.mapping.is_some()
            && job.connector.lists_all(&job.source))
        .then(|| Arc::new(Mutex::new(HashSet::new())));
        // The count probe (a progress hint, and what sizes partitions) costs a request:
        // made up front for what reads much (a table's first or full sync, a backfill);
        // an incremental run, which mostly finds little, asks only once its first chunk
        // comes back full.
        let mut probe_later = false;
        let (chunk_id, start) = match watermark.as_ref().and_then(partition::plan_of) {
            // A partitioned read that was cut off: its partitions go on, each from its own
            // progress (an unfinished chunk of the table itself, a plan's marker cut off
            // before its commit, is superseded).
            Some(bounds) if !full => {
                if let Some(c) = self.store.find_unfinished_chunk(key).await? {
                    self.abandon(job, c.id).await?;
                }
                tracing::info!(partitions = bounds.len() - 1, "resuming a partitioned read");
                match self.read_partitions(run_id, job, bounds, false, None, out).await? {
                    Some(tail) => (ChunkId::new(), Some(tail)),
                    None => return Ok(()),
                }
            }
            plan => {
                // A full sync reads everything again: the old plan's partitions are void.
                if let Some(old) = plan {
                    self.drop_partitions(job, &old).await?;
                }
                let first = watermark.is_none();
                let (chunk_id, start, resumed) = self.begin_at(job, watermark, full).await?;
                if full || job.range.is_some() || first {
                    if let Ok(n) = job.connector.count(&job.source, start.as_ref()).await {
                        tracing::info!(
                            planned = n,
                            chunks = n.div_ceil(self.opts.chunk_records.max(1) as u64),
                            "table planned"
                        );
                        out.planned = Some(n);
                    }
                } else {
                    probe_later = true;
                }
                let plan = match (resumed, out.planned) {
                    (false, Some(n)) => self.plan_partitions(job, start.as_ref(), n).await,
                    _ => None,
                };
                match plan {
                    // Much to read from a fresh start: partitions side by side.
                    Some(bounds) => {
                        match self
                            .read_partitions(run_id, job, bounds, true, seen.clone(), out)
                            .await?
                        {
                            Some(tail) => (ChunkId::new(), Some(tail)),
                            None => return Ok(()),
                        }
                    }
                    None => (chunk_id, start),
                }
            }
        };
        let finished = self
            .run_chunks(run_id, job, chunk_id, start, seen.as_deref(), probe_later, out)
            .await?;
        if let (true, Some(seen)) = (finished, seen) {
            let _slot = self.chunk_slots.acquire().await.expect("semaphore never closed");
            let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(|e| e.into_inner()));
            let gone = self.key_scan(run_id, job, seen).await?;
            out.versions_inserted += gone;
        }
        Ok(())
    }

    /// After a run that wrote `written` versions of `table` (at least
    /// [`PipelineOptions::reorder_after`]), the warehouse rewrites the tenant's rows of it
    /// in date order ([`Warehouse::reorder`]). Only a speed-up of later reads: a failure
    /// is logged, and the run's outcome stays what it was.
    ///
    /// [`PipelineOptions::reorder_after`]: crate::PipelineOptions::reorder_after
    /// [`Warehouse::reorder`]: avesa_warehouse::Warehouse::reorder
    pub(crate) async fn reorder_after(
        &self,
        tenant: &avesa_model::TenantId,
        table: avesa_model::CanonicalTable,
        written: u64,
    ) {
        if self.opts.reorder_after == 0 || written < self.opts.reorder_after {
            return;
        }
        // DuckDB's work, like a chunk's: under the same bound.
        let _slot = self.chunk_slots.acquire().await.expect("semaphore never closed");
        let started = Instant::now();
        match self.warehouse.reorder(tenant, table).await {
            Ok(rows) => tracing::info!(
                %table,
                written,
                rows,
                ms = started.elapsed().as_millis() as u64,
                "table reordered by date"
            ),
            Err(e) => tracing::warn!(%table, error = %e, "reordering the table failed"),
        }
    }

    /// Where `job` begins, by [`start_of`]: the chunk to run (an unfinished one resumed
    /// under its id, or a new one), the position to read after, and whether it resumes.
    pub(crate) async fn begin_at(
        &self,
        job: &TableJob,
        watermark: Option<Position>,
        full: bool,
    ) -> Result<(ChunkId, Option<Position>, bool), TableError> {
        // Resume a chunk a crashed or failed run left behind, under its own id.
        let resumed = self.store.find_unfinished_chunk(&job.key).await.map_err(TableError::from)?;
        let rewind = |c: Position| {
            let c = job.connector.resume_from(c, self.opts.overlap);
            match job.range {
                // A backfill (or a partition) never rewinds before its range.
                Some(b) if c.updated_at < b.from => Position::from_instant(b.from),
                _ => c,
            }
        };
        Ok(match start_of(resumed.as_ref(), watermark, full, job.range, &rewind) {
            // Under a lease, the chunk's first runner may be alive (paused, cut off) and
            // still write under its id: read from the same start under a new id.
            Start::Resume { chunk, from } if job.fence.is_some() => {
                tracing::info!(chunk = %chunk, "taking over an unfinished chunk");
                self.abandon(job, chunk).await?;
                (ChunkId::new(), from, true)
            }
            Start::Resume { chunk, from } => {
                tracing::info!(chunk = %chunk, "resuming unfinished chunk");
                (chunk, from, true)
            }
            Start::Fresh { supersede, from } => {
                if let Some(old) = supersede {
                    self.abandon(job, old).await?;
                }
                (ChunkId::new(), from, false)
            }
        })
    }

    /// Reads `job` chunk by chunk from `start` (the first chunk `chunk_id`) until the
    /// source has nothing more, each chunk committed before the next begins and the next
    /// one read ahead while the current one lands. `Ok(true)`: read to the end;
    /// `Ok(false)`: stopped early without failing (a vendor quota: `out.notice` says).
    /// With `probe_later`, the first chunk probes the table's size once its first page
    /// says there is more ([`Pipeline::fetch`]), so a read that finds little makes none.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn run_chunks(
        &self,
        run_id: RunId,
        job: &TableJob,
        mut chunk_id: ChunkId,
        mut start: Option<Position>,
        seen: Option<&Mutex<HashSet<String>>>,
        mut probe_later: bool,
        out: &mut TableOutcome,
    ) -> Result<bool, TableError> {
        let key = &job.key;
        let mut target = self.opts.chunk_records;
        let mut prefetched: Option<Result<Fetched, TableError>> = None;
        loop {
            // A global chunk slot, held until this chunk commits.
            let slot = self.chunk_slots.acquire().await.expect("semaphore never closed");
            if self.stopping(job) {
                return Err(TableError::Cancelled);
            }
            let record = ChunkRecord {
                fence: job.fence,
                ..ChunkRecord::running(chunk_id, run_id, key.clone(), start.clone())
            };
            self.store.begin_chunk(&record).await.map_err(TableError::from)?;
            let span = tracing::info_span!("chunk", chunk = %chunk_id);
            let chunk_started = Instant::now();
            let fetched = match prefetched.take() {
                Some(f) => f,
                None => {
                    self.fetch(job, start.clone(), target, std::mem::take(&mut probe_later))
                        .instrument(span.clone())
                        .await
                }
            };
            if let Ok(Fetched { planned: Some(n), .. }) = &fetched {
                out.planned = Some(out.records + n);
                tracing::info!(planned = out.planned, "table planned");
            }
            let result = match fetched {
                Err(e) => Err(e),
                Ok(f) => {
                    // While this chunk lands, the next one is read (it begins, and counts,
                    // only once this one has committed; a crash just drops what it read).
                    let next = match &f {
                        f if f.more
                            && f.stop.as_ref().is_none_or(|s| !s.ends_table())
                            && !f.records.is_empty() =>
                        {
                            f.end.clone()
                        }
                        _ => None,
                    };
                    let land = self.land_chunk(job, chunk_id, f, seen).instrument(span);
                    match next {
                        None => land.await,
                        Some(next) => {
                            let prefetch = self
                                .fetch(job, Some(next), target, false)
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
            self.metrics.observe(
                "avesa_chunk_duration_seconds",
                &labels[..2],
                elapsed.as_secs_f64(),
            );
            match result {
                Ok((mut commit, more, stop)) => {
                    // Rounded up: a chunk that did work never reads as having taken 0 ms.
                    commit.counts.millis =
                        u64::try_from(elapsed.as_micros().div_ceil(1000)).unwrap_or(u64::MAX);
                    // Size the next chunk from this one's throughput to fit the budget.
                    if commit.counts.records > 0 && !elapsed.is_zero() {
                        let rate = commit.counts.records as f64 / elapsed.as_secs_f64();
                        let fit = (rate * self.opts.chunk_budget.as_secs_f64()) as usize;
                        let max = self.opts.chunk_records.max(1);
                        target = fit.clamp((self.opts.page_size as usize).min(max), max);
                    }
                    record_chunk(&self.metrics, &labels, &commit.counts, "committed");
                    out.chunks += 1;
                    out.records += commit.counts.records;
                    out.versions_inserted += commit.counts.versions_inserted;
                    out.requests += commit.counts.requests;
                    let end = commit.end.clone();
                    crash_point("before_commit");
                    if let Err(e) = self.store.commit_chunk(&commit).await {
                        return Err(self.void_if_fenced(job, chunk_id, e.into()).await);
                    }
                    match stop {
                        Some(StopReason::Cancelled) => return Err(TableError::Cancelled),
                        Some(StopReason::Quota(q)) => {
                            tracing::warn!(error = %q, "vendor quota exhausted; the next run resumes here");
                            out.notice =
                                Some(format!("stopped early: {q}; the next run resumes here"));
                            return Ok(false);
                        }
                        Some(StopReason::TimeBudget) | None => {}
                    }
                    drop(slot);
                    match (more, end) {
                        (true, Some(end)) => {
                            start = Some(end);
                            chunk_id = ChunkId::new();
                        }
                        _ => return Ok(true),
                    }
                }
                Err(e) => {
                    self.metrics.add(
                        "avesa_chunks_total",
                        &[labels[0], labels[1], labels[2], ("status", "failed")],
                        1.0,
                    );
                    // Best effort: if even this fails, the chunk stays "running" and the
                    // next run resumes it all the same.
                    let _ = self.store.fail_chunk(chunk_id, &e.to_string()).await;
                    return Err(e);
                }
            }
        }
    }

    /// A failed commit's error; when it failed because another worker took the table over,
    /// the chunk is void: marked abandoned, its lake files deleted (best effort; they
    /// belong to no commit).
    pub(crate) async fn void_if_fenced(
        &self,
        job: &TableJob,
        chunk: ChunkId,
        e: TableError,
    ) -> TableError {
        if e.is_fenced() {
            tracing::warn!(chunk = %chunk, "lease lost to another worker: the chunk is void");
            // Its own chunk, which no one else runs: abandoned without the lost lease.
            let _ = self.abandon_under(job, chunk, None).await;
        }
        e
    }

    /// Marks an unfinished chunk abandoned and deletes the lake files it may have
    /// written: only committed chunks' files belong to the lake. (Versions its SCD2 apply
    /// may have written stay: they are states the vendor really had, and the apply is
    /// idempotent.)
    pub(crate) async fn abandon(&self, job: &TableJob, chunk: ChunkId) -> Result<(), TableError> {
        tracing::info!(chunk = %chunk, "superseding an unfinished chunk");
        self.abandon_under(job, chunk, job.fence).await
    }

    /// [`abandon`](Self::abandon) under the table's lease `fence` (refused if it is stale),
    /// or none.
    async fn abandon_under(
        &self,
        job: &TableJob,
        chunk: ChunkId,
        fence: Option<u64>,
    ) -> Result<(), TableError> {
        let lease = job.key.lease_name();
        self.store.abandon_chunk(chunk, fence.map(|t| (lease.as_str(), t))).await?;
        let (raw, canonical) = chunk_paths(job, chunk);
        for p in std::iter::once(raw).chain(canonical) {
            self.lake.delete(&p).await?;
        }
        Ok(())
    }
}
