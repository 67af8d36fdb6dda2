//! `avesa worker`: runs table jobs from the queue (`queue.rs`), any number of processes at
//! once, each stateless.
//!
//! A job is run under two leases that expire together: the queue's (the message's ack
//! wait) and the table's in the state store, whose fencing token every commit of the job
//! carries. While the job runs, the worker renews the table's lease and sends a progress
//! ack every third of the lease. A worker that dies or stalls stops both: after the lease
//! the message goes to another worker, which claims the table (a greater token) and takes
//! over its unfinished chunk under a new id. Should the stalled worker wake up, its next
//! commit fails (`StateError::Fenced`), it voids its chunk and gives the job up without
//! acknowledging it, so nothing lands twice.
//!
//! A job whose table another job holds (two runs of one table) is put back with a delay.
//! On shutdown a worker's tables commit what they have read and the jobs go back to the
//! queue at once, for another worker to resume.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use async_nats::jetstream::AckKind;
use async_nats::jetstream::Message;
use avesa_state::WorkerRecord;
use chrono::Utc;
use futures::StreamExt;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::queue::{JobMessage, JobQueue, QueueError};
use crate::{ErrorClass, Pipeline};

/// How a worker runs.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// Jobs run at once.
    pub concurrency: usize,
    /// This process's id among workers (heartbeats, lease holders, logs).
    pub id: String,
}

impl WorkerOptions {
    /// `concurrency` jobs at once, under an id made of the host, the process id and a
    /// random suffix.
    pub fn new(concurrency: usize) -> Self {
        let host = hostname();
        let id = format!("{host}-{}-{}", std::process::id(), &uuid_suffix());
        WorkerOptions { concurrency: concurrency.max(1), id }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

fn uuid_suffix() -> String {
    avesa_model::RunId::new().to_string().chars().rev().take(6).collect()
}

/// A worker: a pipeline (its backends) and the queue it pulls from.
pub struct Worker {
    pipeline: Pipeline,
    queue: JobQueue,
    opts: WorkerOptions,
    running: Arc<AtomicU32>,
}

impl Worker {
    pub fn new(pipeline: Pipeline, queue: JobQueue, opts: WorkerOptions) -> Self {
        Worker { pipeline, queue, opts, running: Arc::default() }
    }

    /// This worker's id.
    pub fn id(&self) -> &str {
        &self.opts.id
    }

    /// Pulls and runs jobs until the pipeline is cancelled, then waits for the jobs in
    /// hand (each commits what it has read and goes back to the queue).
    pub async fn run(self) -> Result<(), QueueError> {
        let consumer = self.queue.consumer().await?;
        let slots = Arc::new(tokio::sync::Semaphore::new(self.opts.concurrency));
        let started_at = Utc::now();
        let beat = tokio::spawn(heartbeat(
            self.pipeline.clone(),
            self.opts.clone(),
            self.running.clone(),
            started_at,
            heartbeat_every(self.queue.lease()),
        ));
        tracing::info!(worker = %self.opts.id, concurrency = self.opts.concurrency, "worker started");
        let mut jobs = JoinSet::new();
        while !self.pipeline.is_cancelled() {
            while jobs.try_join_next().is_some() {}
            let Ok(slot) = slots.clone().acquire_owned().await else { break };
            let batch =
                consumer.fetch().max_messages(1).expires(Duration::from_secs(1)).messages().await;
            let mut batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    // The server is away (restarting, unreachable): the client reconnects.
                    tracing::warn!(error = %e, "cannot pull jobs; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let message = match batch.next().await {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "cannot pull jobs; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                None => continue,
            };
            let this = JobRun {
                pipeline: self.pipeline.clone(),
                lease: self.queue.lease(),
                holder: self.opts.id.clone(),
                running: self.running.clone(),
            };
            jobs.spawn(async move {
                let _slot = slot;
                this.handle(message).await;
            });
        }
        while jobs.join_next().await.is_some() {}
        beat.abort();
        let _ = self.pipeline.store.remove_worker(&self.opts.id).await;
        tracing::info!(worker = %self.opts.id, "worker stopped");
        Ok(())
    }
}

/// Records the worker's heartbeat every `every`.
async fn heartbeat(
    pipeline: Pipeline,
    opts: WorkerOptions,
    running: Arc<AtomicU32>,
    started_at: chrono::DateTime<Utc>,
    every: Duration,
) {
    let host = hostname();
    loop {
        let beat = WorkerRecord {
            id: opts.id.clone(),
            host: host.clone(),
            pid: std::process::id(),
            concurrency: u32::try_from(opts.concurrency).unwrap_or(u32::MAX),
            running: running.load(Ordering::Relaxed),
            started_at,
            seen_at: Utc::now(),
        };
        if let Err(e) = pipeline.store.worker_heartbeat(&beat).await {
            tracing::warn!(error = %e, "cannot record the worker's heartbeat");
        }
        tokio::time::sleep(every).await;
    }
}

/// What one job needs.
struct JobRun {
    pipeline: Pipeline,
    lease: Duration,
    holder: String,
    running: Arc<AtomicU32>,
}

/// Counts a job as running until dropped.
struct Running(Arc<AtomicU32>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl JobRun {
    async fn handle(self, message: Message) {
        let job: JobMessage = match serde_json::from_slice(&message.payload) {
            Ok(j) => j,
            Err(e) => {
                // Not ours to run, ever: dropped from the queue, loudly.
                tracing::error!(error = %e, "a job message AVESA cannot read; dropped");
                let _ = message.ack_with(AckKind::Term).await;
                return;
            }
        };
        let span = tracing::info_span!("job", run_id = %job.run_id, tenant = %job.tenant,
            service = %job.service, table = %job.source);
        self.run(job, message).instrument(span).await;
    }

    async fn run(self, job: JobMessage, message: Message) {
        let store = self.pipeline.store.clone();
        let key = match job.key() {
            Ok(k) => k,
            Err(e) => {
                tracing::error!(error = %e, "a job with an invalid table; dropped");
                let _ = message.ack_with(AckKind::Term).await;
                return;
            }
        };
        let name = key.lease_name();
        let holder = format!("{}/{}", self.holder, job.run_id);
        let retry_later = (self.lease / 4).clamp(Duration::from_secs(1), Duration::from_secs(15));
        let token = match store.claim_lease(&name, &holder, self.lease).await {
            Ok(Some(t)) => t,
            Ok(None) => {
                // Another job (another run of this table) holds it: back in the queue.
                tracing::info!("the table is busy with another job; retrying later");
                let _ = message.ack_with(AckKind::Nak(Some(retry_later))).await;
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim the table; retrying later");
                let _ = message.ack_with(AckKind::Nak(Some(retry_later))).await;
                return;
            }
        };
        self.running.fetch_add(1, Ordering::Relaxed);
        let _running = Running(self.running.clone());
        let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
        tracing::info!(token, delivered, "job started");
        let message = Arc::new(message);
        let fenced = Arc::new(AtomicBool::new(false));
        let keeper = tokio::spawn(keep_lease(
            store.clone(),
            message.clone(),
            name.clone(),
            token,
            self.lease,
            fenced.clone(),
        ));
        let outcome = match self.pipeline.job_from_message(&job).await {
            Ok(mut table_job) => {
                table_job.fence = Some(token);
                let slots = self.pipeline.tenant_slots(&job.tenant);
                let _slot = slots.acquire_owned().await.expect("semaphore never closed");
                self.pipeline.sync_table(job.run_id, table_job, job.full).await
            }
            Err(outcome) => outcome,
        };
        keeper.abort();
        // Still ours? A takeover while the job ran voids its outcome.
        let ours = !fenced.load(Ordering::SeqCst)
            && store.renew_lease(&name, token, self.lease).await.unwrap_or(false);
        if !ours {
            tracing::warn!("the lease was lost to another worker, which runs this table now");
            return;
        }
        if outcome.error_class == Some(ErrorClass::Cancelled) && self.pipeline.is_cancelled() {
            // Shutting down: what was read is committed; another worker resumes it now.
            // (A run asked to stop records the table as cancelled, below.)
            let _ = store.release_lease(&name, token).await;
            let _ = message.ack_with(AckKind::Nak(None)).await;
            tracing::info!("job handed back to the queue (shutdown)");
            return;
        }
        tracing::info!(
            status = outcome.status.as_str(),
            records = outcome.records,
            chunks = outcome.chunks,
            "job finished"
        );
        match self.pipeline.record_outcome(job.run_id, &outcome).await {
            Ok(Some(all)) => match self.pipeline.conclude_recorded(job.run_id, all).await {
                Ok(s) => {
                    tracing::info!(run = %s.run_id, status = s.status.as_str(), "run finished")
                }
                Err(e) => tracing::error!(error = %e, "cannot finish the run"),
            },
            Ok(None) => {}
            Err(e) => {
                // The table's work is committed; only its outcome is missing. Delivered
                // again, the job re-reads from the watermark (nothing new) and records it.
                tracing::error!(error = %e, "cannot record the job's outcome; retrying later");
                let _ = store.release_lease(&name, token).await;
                let _ = message.ack_with(AckKind::Nak(Some(retry_later))).await;
                return;
            }
        }
        let _ = store.release_lease(&name, token).await;
        if let Err(e) = message.double_ack().await {
            // Delivered again after the lease, it finds nothing new and records the same.
            tracing::warn!(error = %e, "the job's acknowledgement was not confirmed");
        }
    }
}

/// Renews the table's lease and the message's ack wait every third of the lease, until
/// aborted; sets `fenced` and stops if another worker has claimed the table.
async fn keep_lease(
    store: Arc<dyn avesa_state::StateStore>,
    message: Arc<Message>,
    name: String,
    token: u64,
    lease: Duration,
    fenced: Arc<AtomicBool>,
) {
    loop {
        tokio::time::sleep(lease / 3).await;
        match store.renew_lease(&name, token, lease).await {
            Ok(true) => {
                if let Err(e) = message.ack_with(AckKind::Progress).await {
                    tracing::warn!(error = %e, "cannot extend the job's lease in the queue");
                }
            }
            Ok(false) => {
                fenced.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => tracing::warn!(error = %e, "cannot renew the table's lease"),
        }
    }
}

/// How often a worker with `lease` sends its heartbeat.
pub fn heartbeat_every(lease: Duration) -> Duration {
    (lease / 3).min(Duration::from_secs(5))
}

/// A worker as `/health/detailed` shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WorkerView {
    pub id: String,
    pub host: String,
    pub pid: u32,
    pub concurrency: u32,
    pub running: u32,
    /// Seconds since its last heartbeat.
    pub seen_secs_ago: i64,
    /// Whether it sent a heartbeat within three heartbeat periods.
    pub alive: bool,
}

/// Workers and the queue, as the serving process sees them.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ClusterStatus {
    pub stream: String,
    /// `None` when the queue could not be asked (its error is logged).
    pub queue: Option<crate::queue::QueueDepth>,
    pub workers_alive: usize,
    pub workers: Vec<WorkerView>,
}

impl ClusterStatus {
    /// Whether jobs can run: the queue answers and a worker is alive.
    pub fn ok(&self) -> bool {
        self.queue.is_some() && self.workers_alive > 0
    }
}

/// Asks the state store for workers' heartbeats and the queue for its depth, and sets the
/// gauges `avesa_workers_alive` and `avesa_queue_jobs{state}` in `metrics`.
pub async fn cluster_status(
    store: &dyn avesa_state::StateStore,
    queue: &JobQueue,
    metrics: &avesa_model::metrics::Metrics,
) -> ClusterStatus {
    let window = heartbeat_every(queue.lease()) * 3;
    let now = Utc::now();
    let workers: Vec<WorkerView> = match store.list_workers().await {
        Ok(ws) => ws
            .into_iter()
            .map(|w| {
                let ago = (now - w.seen_at).num_milliseconds().max(0);
                WorkerView {
                    alive: (ago as u128) <= window.as_millis(),
                    seen_secs_ago: ago / 1000,
                    id: w.id,
                    host: w.host,
                    pid: w.pid,
                    concurrency: w.concurrency,
                    running: w.running,
                }
            })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list workers");
            Vec::new()
        }
    };
    let queue_depth = match queue.depth().await {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the job queue's depth");
            None
        }
    };
    let alive = workers.iter().filter(|w| w.alive).count();
    metrics.declare(crate::metrics::CLUSTER_METRICS);
    metrics.set("avesa_workers_alive", &[], alive as f64);
    if let Some(d) = queue_depth {
        metrics.set("avesa_queue_jobs", &[("state", "waiting")], d.waiting as f64);
        metrics.set("avesa_queue_jobs", &[("state", "running")], d.running as f64);
    }
    ClusterStatus {
        stream: queue.stream().to_owned(),
        queue: queue_depth,
        workers_alive: alive,
        workers,
    }
}
