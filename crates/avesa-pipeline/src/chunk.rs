//! One chunk: fetch pages → raw Parquet → canonical Parquet → SCD2 apply, then (in
//! [`crate::table`]) the commit. Everything here is idempotent: lake files are named by
//! chunk id and the apply is idempotent, so a chunk cut off anywhere is simply run again.

use std::time::Instant;

use avesa_lake::{Lake, raw_batch};
use avesa_model::{ChunkId, Continuation, RunId, StopReason};
use avesa_state::{ChunkCommit, ChunkCounts, ChunkRecord, Position};
use chrono::Utc;

use crate::Pipeline;
use crate::error::TableError;
use crate::plan::TableJob;

/// One chunk's records as read, before they land.
pub(crate) struct Fetched {
    pub(crate) records: Vec<avesa_model::RawRecord>,
    pub(crate) counts: ChunkCounts,
    pub(crate) end: Option<Position>,
    pub(crate) more: bool,
    /// Why reading stopped before `more` ran out, if it did.
    pub(crate) stop: Option<StopReason>,
    pub(crate) fetch_ms: u64,
    /// The count probe's answer, when the chunk made one: records after its start.
    pub(crate) planned: Option<u64>,
}

impl Pipeline {
    /// The key scan that ends a full sync: every current record of this service in the
    /// table's canonical table whose id the full read did not see gets a deletion
    /// version, landed and recorded like any chunk (the apply is idempotent, so a crash
    /// here is repaired by the next full sync).
    pub(crate) async fn key_scan(
        &self,
        run_id: RunId,
        job: &TableJob,
        seen: std::collections::HashSet<String>,
    ) -> Result<u64, TableError> {
        let key = &job.key;
        let Some(mapping) = job.mapping.clone() else { return Ok(0) };
        let table = mapping.canonical_table;
        let current = self.warehouse.current_ids(&key.tenant_id, table, &key.service).await?;
        let now = Utc::now();
        let gone: Vec<avesa_model::RawRecord> = current
            .into_iter()
            .filter(|id| !seen.contains(id))
            .map(|id| avesa_model::RawRecord::new(id, Some(now), true, "{}"))
            .collect();
        if gone.is_empty() {
            return Ok(0);
        }
        tracing::info!(deleted = gone.len(), "key scan: records the vendor no longer lists");
        let chunk = ChunkId::new();
        let record = ChunkRecord {
            fence: job.fence,
            ..ChunkRecord::running(chunk, run_id, key.clone(), None)
        };
        self.store.begin_chunk(&record).await?;
        let mut counts = ChunkCounts { records: gone.len() as u64, ..Default::default() };
        let (files, inserted) = self.land(job, chunk, now, gone).await?;
        counts.versions_inserted = inserted;
        let commit = ChunkCommit {
            chunk_id: chunk,
            key: key.clone(),
            end: None,
            counts,
            files,
            fence: job.fence,
        };
        crash_point("key_scan_before_commit");
        if let Err(e) = self.store.commit_chunk(&commit).await {
            return Err(self.void_if_fenced(job, chunk, e.into()).await);
        }
        Ok(inserted)
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
        records: Vec<avesa_model::RawRecord>,
    ) -> Result<(Vec<String>, u64), TableError> {
        let key = &job.key;
        let began = Instant::now();
        let (tenant, service, table) =
            (key.tenant_id.clone(), key.service.clone(), job.source.clone());
        let mapping = job.mapping.clone();
        let (raw, canonical) = tokio::task::spawn_blocking(move || {
            let raw = raw_batch(&tenant, &service, &table, chunk, extracted_at, &records);
            let canonical = mapping
                .map(|m| {
                    m.apply(&tenant, chunk, extracted_at, &records)
                        .map(|batch| (m.canonical_table, batch))
                        .map_err(TableError::from)
                })
                .transpose()?;
            Ok::<_, TableError>((raw, canonical))
        })
        .await
        .map_err(|e| TableError::Internal(format!("transform task failed: {e}")))??;
        let transform_ms = began.elapsed().as_millis() as u64;
        let (raw_path, canonical_path) = chunk_paths(job, chunk);
        let put_raw = async { self.lake.put_batch(&raw_path, raw).await.map_err(TableError::from) };
        let (Some((table, canonical)), Some(canonical_path)) = (canonical, canonical_path) else {
            put_raw.await?;
            return Ok((vec![raw_path.to_string()], 0));
        };
        let put_canonical = async {
            self.lake.put_batch(&canonical_path, canonical.clone()).await.map_err(TableError::from)
        };
        let apply = async {
            let started = Instant::now();
            let r = self.warehouse.apply(table, canonical.clone()).await.map_err(TableError::from);
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
    ///
    /// With `probe` (a read whose size is unknown, an incremental), a first page that
    /// says there is more starts a count probe of the records after `start`, in flight
    /// beside the next pages (its answer is `planned` whenever more is left). When the chunk reaches `target` and the probe says that at
    /// most a quarter of a chunk is left, the chunk reads on to the end rather than
    /// leaving the rest to a chunk of its own: an incremental a little over one chunk
    /// (1% of 500,000 tickets is 5,287 records, chunks of 5,000) commits once, and pays
    /// the apply's fixed cost once.
    pub(crate) async fn fetch(
        &self,
        job: &TableJob,
        start: Option<Position>,
        target: usize,
        probe: bool,
    ) -> Result<Fetched, TableError> {
        let key = &job.key;
        let mut counts = ChunkCounts::default();
        let mut records = Vec::new();
        let probe_at = start.clone();
        let mut after: Option<Position> = start;
        let mut more = true;
        let mut stop = None;
        let began = Instant::now();
        let in_flight = job.connector.budget().map(|b| b.watch());
        let mut target = target.clamp(1, self.opts.chunk_records);
        let most = self.opts.chunk_records.saturating_add(self.opts.chunk_records / 4);
        let mut probing: Option<futures::future::BoxFuture<'_, Option<u64>>> = None;
        let mut planned: Option<u64> = None;
        // Reading the rest: ask one record more than the count, so that the last page
        // comes back short and says that the table ends here (no empty chunk after).
        let mut extended = false;
        loop {
            if records.len() >= target {
                if let Some(p) = probing.take() {
                    planned = p.await;
                }
                // Once at most: what the count missed is the next chunk's.
                match planned.map(|n| usize::try_from(n).unwrap_or(usize::MAX)) {
                    Some(n) if more && n > target && n <= most => {
                        tracing::debug!(records = n, "the rest of the table fits this chunk");
                        target = n;
                        extended = true;
                    }
                    _ => break,
                }
            }
            if !more {
                break;
            }
            if !records.is_empty() && began.elapsed() >= self.opts.chunk_budget {
                // Over budget: commit this much; a continuation chunk reads on.
                tracing::info!(
                    records = records.len(),
                    "chunk over its time budget; continuing in a new chunk"
                );
                stop = Some(StopReason::TimeBudget);
                break;
            }
            if self.stopping(job) {
                stop = Some(StopReason::Cancelled);
                break;
            }
            let want =
                (target - records.len() + usize::from(extended)).min(self.opts.page_size as usize);
            let page = job.connector.fetch_page(&job.source, after.as_ref(), want as u32);
            let page = match probing.as_mut() {
                None => page.await,
                Some(p) => {
                    tokio::pin!(page);
                    tokio::select! {
                        biased;
                        page = &mut page => page,
                        n = p => {
                            planned = n;
                            probing = None;
                            page.await
                        }
                    }
                }
            };
            let first = counts.pages == 0;
            let page = match page {
                Ok(p) => p,
                // The vendor's quota ran out: keep what this chunk has, stop cleanly.
                Err(e) if e.is_quota() => {
                    stop = Some(StopReason::Quota(e.to_string()));
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            counts.pages += 1;
            counts.requests += page.stats.requests;
            counts.bytes += page.stats.bytes;
            counts.retries += page.stats.retries;
            counts.throttles += page.stats.throttles;
            more = page.more;
            let mut page = page;
            if let Some(to) = job.range.map(|b| b.to) {
                // The range ends here: keep what was updated before `to`, stop after.
                let n = page.records.len();
                page.records.retain(|r| r.updated_at.is_none_or(|u| u < to));
                if page.records.len() < n {
                    more = false;
                    page.last = page
                        .records
                        .last()
                        .map(|r| Position::new(r.updated_at.unwrap_or(to), r.source_id.clone()));
                    if page.last.is_none() {
                        break;
                    }
                }
            }
            match page.last {
                Some(last) if after.as_ref() == Some(&last) => {
                    return Err(TableError::Source(format!(
                        "{} {}: the source returned the same page twice (position {} / {}); \
                         stopping instead of looping",
                        key.service, key.table, last.updated_at, last.id
                    )));
                }
                Some(last) => after = Some(last),
                None => more = false,
            }
            if probe && first && more && job.range.is_none() {
                let (connector, source) = (&job.connector, job.source.as_str());
                let at = probe_at.clone();
                probing =
                    Some(Box::pin(async move { connector.count(source, at.as_ref()).await.ok() }));
            }
            records.extend(page.records);
        }
        if more && let Some(p) = probing.take() {
            // Stopped early (time budget, cancel, quota) with more to read: the plan
            // still counts it.
            planned = p.await;
        }
        counts.records = records.len() as u64;
        counts.concurrency = in_flight.map_or(0, |w| u64::from(w.peak()));
        let fetch_ms = began.elapsed().as_millis() as u64;
        Ok(Fetched { records, counts, end: after, more, stop, fetch_ms, planned })
    }

    /// Lands one fetched chunk: raw Parquet → canonical Parquet → SCD2 apply. Returns the
    /// commit to record and whether the source has more.
    pub(crate) async fn land_chunk(
        &self,
        job: &TableJob,
        chunk: ChunkId,
        f: Fetched,
        seen: Option<&std::sync::Mutex<std::collections::HashSet<String>>>,
    ) -> Result<(ChunkCommit, bool, Option<StopReason>), TableError> {
        let key = &job.key;
        let Fetched { records, mut counts, end, more, stop, fetch_ms, .. } = f;
        let began = Instant::now();
        if records.is_empty() {
            // Nothing read; a delta API may still hand out a new delta link to keep.
            let end = end.filter(|e| e.continuation.as_ref().is_some_and(Continuation::is_delta));
            let commit = ChunkCommit {
                chunk_id: chunk,
                key: key.clone(),
                end,
                counts,
                files: vec![],
                fence: job.fence,
            };
            return Ok((commit, false, stop));
        }
        if let Some(seen) = seen {
            let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
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
        let commit =
            ChunkCommit { chunk_id: chunk, key: key.clone(), end, counts, files, fence: job.fence };
        let more = more && stop.as_ref().is_none_or(|s| !s.ends_table());
        Ok((commit, more, stop))
    }
}

/// The lake files a chunk of `job` writes: raw, and canonical when the table is mapped.
/// Raw files go under the source table whatever key the job commits under (a backfill's,
/// a partition's), so the table's raw folder is its whole replay log.
pub(crate) fn chunk_paths(
    job: &TableJob,
    chunk: ChunkId,
) -> (avesa_lake::LakePath, Option<avesa_lake::LakePath>) {
    let key = &job.key;
    let raw = Lake::raw_path(&key.tenant_id, &key.service, &job.source, chunk);
    let canonical = job
        .mapping
        .as_ref()
        .map(|m| Lake::canonical_path(&key.tenant_id, m.canonical_table, &key.service, chunk));
    (raw, canonical)
}

/// A failpoint for crash-safety tests: compiled in only with the `failpoints` feature
/// (test builds), and then configured by [`failpoints::configure`]; when its action is
/// `return`, the process aborts there, as a power cut would stop it. Points:
/// `before_commit` (after a chunk's SCD2 apply, before its commit) and
/// `key_scan_before_commit` (after a full sync's deletion versions are applied, before the
/// key-scan chunk commits).
pub(crate) fn crash_point(point: &'static str) {
    // Without the feature the failpoint compiles to nothing and `point` goes unused.
    let _ = point;
    fail::fail_point!(point, |_| {
        eprintln!("failpoint: aborting at {point}");
        std::process::abort();
    });
}
