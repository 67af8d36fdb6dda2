//! Parallel fetch within one table.
//!
//! A vendor answers one page at a time, 100–300 ms apiece, so a big table read one page
//! after another is bound by latency, whatever the machine. A table read by an updated-at
//! cursor (every ConnectWise, ServiceNow and Salesforce table; not Graph's delta links,
//! which only go forward, nor tables listed per parent) with at least two partitions'
//! worth to read from a fresh start (`pipeline.partition_records`, default 25,000) is split
//! by updated-at into at most `pipeline.partitions` ranges of about equal size, sized from
//! count probes, and the ranges are read side by side, each by the ordinary chunk loop,
//! under the tenant's request budget for the service (the budget, not the partition count,
//! is what bounds the requests in flight).
//!
//! Crash safety is the sequential table's, by construction:
//!
//! - The plan (the ranges' bounds, and the instant it was made, which names it) is
//!   committed first, into the table's own cursor (a [`Continuation::Partitions`] at the
//!   plan's start), by an empty "marker" chunk.
//! - Each partition but the last reads `[from, to)` like a backfill, under a key of its
//!   own (`service/tickets@part-<made>-2of4`): its chunks commit atomically with its own
//!   position, and an unfinished one is resumed or superseded by the same rules. The last
//!   reads from its start to the end, as a sequential read would: no bound comes from
//!   AVESA's clock, so a vendor whose clock differs from ours loses nothing.
//! - The table's cursor advances, by another marker, only over the contiguous prefix of
//!   finished partitions; once all have finished it takes the last partition's position
//!   (the vendor's last updated-at read), dropping the plan, and the table reads on from
//!   there as usual.
//! - A run cut off anywhere finds the plan in the cursor: the next incremental run resumes
//!   the same partitions, each from its own progress (a finished one costs one request to
//!   confirm); a full sync drops the plan (superseding its partitions' unfinished chunks)
//!   and reads everything again under a new plan, whose keys differ by when it was made.
//!
//! A record that changes while the partitions run moves to the vendor's present, which
//! the last partition (reading to the end) or the next run reads; re-reads are harmless
//! (the SCD2 apply is idempotent), so no version is lost or doubled. AVESA's clock only
//! places the probes that size the ranges (a vendor's clock far from ours makes them
//! uneven, never wrong).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use avesa_model::{Backfill, ChunkId, Continuation, RunId};
use avesa_state::{ChunkCommit, ChunkCounts, ChunkRecord, Position, TableKey};
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use tracing::Instrument;

use crate::error::TableError;
use crate::plan::TableJob;
use crate::{Pipeline, TableOutcome};

/// Count probes spread over the range to size partitions.
const PROBES: i64 = 16;

/// The plan a table's cursor carries, if it carries one: the partitions' starts, then
/// the instant the plan was made (its name; partition `i` reads from `bounds[i]` to
/// `bounds[i + 1]`, the last one to the end).
pub(crate) fn plan_of(cursor: &Position) -> Option<Vec<DateTime<Utc>>> {
    match &cursor.continuation {
        Some(Continuation::Partitions(bounds)) if bounds.len() >= 2 => Some(bounds.clone()),
        _ => None,
    }
}

/// The key partition `i` (0-based) of `n` of a plan made at `made` commits under.
pub fn partition_key(table: &str, made: DateTime<Utc>, i: usize, n: usize) -> String {
    format!("{table}@part-{}-{}of{n}", made.format("%Y%m%dT%H%M%S"), i + 1)
}

/// Whole seconds, down.
fn floor_secs(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// The starts of `parts` ranges of about equal size between `lo` and `hi`, from the
/// cumulative counts at `points` (`(instant, records before it)`, increasing instants,
/// starting with `(lo, 0)` and ending with `(hi, total)`): `lo`, then each inner bound
/// where the counts, interpolated linearly between probes, reach its share. Whole
/// seconds; `None` when fewer than two ranges come out.
pub(crate) fn split(points: &[(DateTime<Utc>, u64)], parts: usize) -> Option<Vec<DateTime<Utc>>> {
    let (lo, hi) = (points.first()?.0, points.last()?.0);
    let total = points.last()?.1;
    let mut bounds = vec![floor_secs(lo)];
    for k in 1..parts {
        let target = total as f64 * k as f64 / parts as f64;
        let seg = points.windows(2).find(|w| (w[1].1 as f64) >= target)?;
        let ((t0, c0), (t1, c1)) = (seg[0], seg[1]);
        let frac = if c1 > c0 { (target - c0 as f64) / (c1 - c0) as f64 } else { 0.0 };
        let span = (t1 - t0).num_milliseconds() as f64;
        let at = floor_secs(t0 + TimeDelta::milliseconds((span * frac.clamp(0.0, 1.0)) as i64));
        if at > *bounds.last()? && at < hi {
            bounds.push(at);
        }
    }
    (bounds.len() >= 2).then_some(bounds)
}

impl Pipeline {
    /// A plan of partitions for `job` reading after `start` with `planned` records to
    /// read, or `None` where it reads sequentially: too little to read, a table without an
    /// updated-at cursor, a backfill, partitions switched off, or probes that failed.
    pub(crate) async fn plan_partitions(
        &self,
        job: &TableJob,
        start: Option<&Position>,
        planned: u64,
    ) -> Option<Vec<DateTime<Utc>>> {
        let per = self.opts.partition_records.max(1) as u64;
        if self.opts.partitions < 2
            || planned < 2 * per
            || job.range.is_some()
            || !job.connector.supports_range(&job.source)
        {
            return None;
        }
        let parts = planned.div_ceil(per).min(self.opts.partitions as u64) as usize;
        let horizon = floor_secs(Utc::now()) + TimeDelta::seconds(1);
        let lo = match start {
            Some(p) => p.updated_at,
            // A first or full read: from the oldest record.
            None => {
                let page = job.connector.fetch_page(&job.source, None, 1).await.ok()?;
                page.records.first()?.updated_at?
            }
        };
        let lo = floor_secs(lo);
        if lo + TimeDelta::seconds(parts as i64) >= horizon {
            return None;
        }
        // Probes spread over [lo, hi), narrowed to where the records are: AVESA's clock
        // bounds the first round, and a vendor whose records all lie far before it (a
        // clock behind ours, a table nobody touched for months) gets finer rounds.
        let mut hi = horizon;
        let mut points = Vec::new();
        for _round in 0..6 {
            let span = (hi - lo).num_milliseconds();
            let mut instants: Vec<DateTime<Utc>> =
                (1..PROBES).map(|j| lo + TimeDelta::milliseconds(span * j / PROBES)).collect();
            instants.push(hi);
            let mut probes = Vec::with_capacity(instants.len());
            for t in &instants {
                let (connector, source, at) =
                    (job.connector.clone(), job.source.clone(), Position::from_instant(*t));
                probes.push(async move { connector.count(&source, Some(&at)).await });
            }
            let counts: Vec<_> = futures::stream::iter(probes).buffered(4).collect().await;
            // Records before each instant: what the table has after `start` less what
            // lies after the instant (kept increasing: the vendor's data moves meanwhile).
            points = vec![(lo, 0u64)];
            let mut empty_after = None;
            for (t, c) in instants.iter().zip(counts) {
                let c = c.ok()?;
                if c == 0 && empty_after.is_none() {
                    empty_after = Some(*t);
                }
                let before = planned.saturating_sub(c).max(points.last()?.1);
                points.push((*t, before));
            }
            match empty_after {
                // Nothing after a quarter of the range: look closer.
                Some(t) if (t - lo) * 4 < (hi - lo) && t > lo + TimeDelta::seconds(PROBES) => {
                    hi = t
                }
                _ => break,
            }
        }
        let mut bounds = split(&points, parts)?;
        tracing::info!(
            partitions = bounds.len(),
            planned,
            from = %bounds[0],
            "table split into partitions read side by side"
        );
        // The plan's last element: when it was made (its partitions' keys carry it).
        bounds.push(horizon);
        Some(bounds)
    }

    /// Reads the partitions of `bounds` side by side, advancing the table's cursor over
    /// the finished prefix as they finish: a new plan's (`fresh`) each from its range's
    /// start, a resumed one's each from its own progress. Returns where the table reads
    /// on (the last partition's end), or `None` when a partition stopped early without
    /// failing (a quota: `out.notice` says why; the next run resumes).
    pub(crate) async fn read_partitions(
        &self,
        run_id: RunId,
        job: &TableJob,
        bounds: Vec<DateTime<Utc>>,
        fresh: bool,
        seen: Option<Arc<Mutex<HashSet<String>>>>,
        out: &mut TableOutcome,
    ) -> Result<Option<Position>, TableError> {
        let n = bounds.len() - 1;
        out.partitions = u32::try_from(n).unwrap_or(u32::MAX);
        let plan = Continuation::Partitions(bounds.clone());
        // The plan first, in the table's cursor (again, when resuming: harmless).
        self.commit_marker(run_id, job, Position::from_instant(bounds[0]).with(plan.clone()))
            .await?;
        // Each partition is a task of its own: it makes progress (and finishes the state
        // store transaction it may be in) while this one commits a marker. Polled from
        // here instead, a partition holding the store's write lock between two awaits
        // would wait for this task, which waits for the lock.
        let mut pending = tokio::task::JoinSet::new();
        for i in 0..n {
            let (part, from) = (self.partition_job(job, &bounds, i)?, bounds[i]);
            let (this, seen) = (self.clone(), seen.clone());
            pending.spawn(
                async move {
                    (i, this.read_partition(run_id, part, from, fresh, seen.as_deref()).await)
                }
                .instrument(tracing::Span::current()),
            );
        }
        let mut done = vec![false; n];
        let mut prefix = 0;
        let mut failed = None;
        let mut stopped = false;
        while let Some(joined) = pending.join_next().await {
            let (i, result) = joined
                .map_err(|e| TableError::Internal(format!("a partition's task failed: {e}")))?;
            match result {
                Ok((part, finished)) => {
                    out.chunks += part.chunks;
                    out.records += part.records;
                    out.versions_inserted += part.versions_inserted;
                    out.requests += part.requests;
                    if finished {
                        done[i] = true;
                    } else {
                        stopped = true;
                        out.notice = out.notice.take().or(part.notice);
                    }
                }
                // The others go on: what they read commits, and the next run resumes.
                Err(e) => {
                    tracing::warn!(partition = i + 1, error = %e, "a partition failed");
                    failed = failed.or(Some(e));
                }
            }
            let before = prefix;
            while prefix < n && done[prefix] {
                prefix += 1;
            }
            if prefix > before {
                let at = if prefix == n {
                    self.partitions_end(job, &bounds).await?
                } else {
                    Position::from_instant(bounds[prefix]).with(plan.clone())
                };
                self.commit_marker(run_id, job, at).await?;
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        if stopped || prefix < n {
            return Ok(None);
        }
        Ok(Some(self.partitions_end(job, &bounds).await?))
    }

    /// Where a finished plan leaves the table: the furthest position a partition read
    /// (the last record the vendor had, by its own clock), or the plan's start if none
    /// read anything — never a bound of AVESA's making, which a vendor whose clock is
    /// behind ours could still write records before.
    async fn partitions_end(
        &self,
        job: &TableJob,
        bounds: &[DateTime<Utc>],
    ) -> Result<Position, TableError> {
        let mut end: Option<Position> = None;
        for i in 0..bounds.len() - 1 {
            let part = self.partition_job(job, bounds, i)?;
            if let Some(c) = self.store.get_cursor(&part.key).await?
                && end.as_ref().is_none_or(|e| (&c.updated_at, &c.id) > (&e.updated_at, &e.id))
            {
                end = Some(Position { continuation: None, ..c });
            }
        }
        Ok(end.unwrap_or_else(|| Position::from_instant(bounds[0])))
    }

    /// The job of partition `i` of `bounds` under a key of its own, read under the
    /// table's lease: `[bounds[i], bounds[i + 1])`, the last one from `bounds[i]` on.
    fn partition_job(
        &self,
        job: &TableJob,
        bounds: &[DateTime<Utc>],
        i: usize,
    ) -> Result<TableJob, TableError> {
        let n = bounds.len() - 1;
        let range = match i + 1 < n {
            true => Some(
                Backfill::new(bounds[i], bounds[i + 1])
                    .map_err(|e| TableError::Internal(format!("partition bounds: {e}")))?,
            ),
            false => None,
        };
        Ok(TableJob {
            key: TableKey {
                table: partition_key(&job.key.table, bounds[n], i, n),
                ..job.key.clone()
            },
            source: job.source.clone(),
            range,
            connector: job.connector.clone(),
            mapping: job.mapping.clone(),
            fence: job.fence,
            stop: job.stop.clone(),
        })
    }

    /// Reads one partition to its end: from its start `from` (`fresh`: whatever an
    /// earlier plan under the same key left, which a full sync must not skip), or from
    /// its own progress. Returns its counts and whether it read to the end.
    async fn read_partition(
        &self,
        run_id: RunId,
        part: TableJob,
        from: DateTime<Utc>,
        fresh: bool,
        seen: Option<&Mutex<HashSet<String>>>,
    ) -> Result<(TableOutcome, bool), TableError> {
        let (chunk_id, start) = match fresh {
            true => {
                if let Some(c) = self.store.find_unfinished_chunk(&part.key).await? {
                    self.abandon(&part, c.id).await?;
                }
                (ChunkId::new(), Some(Position::from_instant(from)))
            }
            false => {
                let cursor = self.store.get_cursor(&part.key).await?;
                let (chunk_id, start, _) = self.begin_at(&part, cursor, false).await?;
                (chunk_id, start)
            }
        };
        let mut out = TableOutcome::empty(&part.key);
        let finished =
            self.run_chunks(run_id, &part, chunk_id, start, seen, false, &mut out).await?;
        Ok((out, finished))
    }

    /// Moves the table's cursor to `at` by an empty chunk (begun and committed at once,
    /// under the table's lease when a worker holds it).
    async fn commit_marker(
        &self,
        run_id: RunId,
        job: &TableJob,
        at: Position,
    ) -> Result<(), TableError> {
        let chunk = ChunkId::new();
        let record = ChunkRecord {
            fence: job.fence,
            ..ChunkRecord::running(chunk, run_id, job.key.clone(), Some(at.clone()))
        };
        self.store.begin_chunk(&record).await?;
        let commit = ChunkCommit {
            chunk_id: chunk,
            key: job.key.clone(),
            end: Some(at),
            counts: ChunkCounts::default(),
            files: vec![],
            fence: job.fence,
        };
        if let Err(e) = self.store.commit_chunk(&commit).await {
            return Err(self.void_if_fenced(job, chunk, e.into()).await);
        }
        Ok(())
    }

    /// Supersedes the unfinished chunks of a plan's partitions (a full sync starts over).
    pub(crate) async fn drop_partitions(
        &self,
        job: &TableJob,
        bounds: &[DateTime<Utc>],
    ) -> Result<(), TableError> {
        for i in 0..bounds.len().saturating_sub(1) {
            let part = self.partition_job(job, bounds, i)?;
            if let Some(c) = self.store.find_unfinished_chunk(&part.key).await? {
                self.abandon(&part, c.id).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    #[test]
    fn bounds_split_the_counts_evenly() {
        // 100 records evenly over 100 s: quarters at 25, 50, 75 s.
        let even: Vec<_> = (0..=4).map(|k| (t(k * 25), k as u64 * 25)).collect();
        assert_eq!(split(&even, 4), Some(vec![t(0), t(25), t(50), t(75)]));
        // Skewed: 90 of 100 records in the last tenth of the range.
        let skewed = [(t(0), 0), (t(90), 10), (t(100), 100)];
        let b = split(&skewed, 2).unwrap();
        assert_eq!(b.len(), 2);
        assert!(b[1] > t(90) && b[1] < t(100), "{b:?}");
        // Nothing to split: one range only.
        assert_eq!(split(&[(t(0), 0), (t(1), 0)], 4), None);
    }

    #[test]
    fn plans_round_trip_through_the_cursor() {
        let p = Position::from_instant(t(0)).with(Continuation::Partitions(vec![t(0), t(9)]));
        assert_eq!(plan_of(&p), Some(vec![t(0), t(9)]));
        assert_eq!(plan_of(&Position::from_instant(t(0))), None);
        assert_eq!(
            partition_key("service/tickets", t(0), 1, 4),
            "service/tickets@part-20231114T221320-2of4"
        );
    }
}
