//! The work queue of the distributed shape: table jobs on a NATS JetStream work-queue
//! stream (`async-nats`).
//!
//! `avesa serve` plans a run and publishes one message per table ([`JobMessage`]); any
//! number of `avesa worker` processes pull them from one durable pull consumer, each
//! message going to one worker at a time. A job's lease is the consumer's ack wait: a
//! worker extends it with progress acks while the table's chunks run, and a worker that
//! dies or stalls stops extending it, so the message is delivered to another worker after
//! the lease. The state store's lease on the table, with its fencing token, makes sure the
//! stalled worker's later commits fail instead of landing twice (`worker.rs`).
//!
//! Publishing is idempotent: a message's `Nats-Msg-Id` is its run and table, so a planner
//! that retries a publish inside the stream's duplicate window queues the job once.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use avesa_model::{Backfill, RunId, TenantId};
use avesa_state::TableKey;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why the queue could not be used.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("cannot reach the job queue at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("job queue ({stream}): {message}")]
    JetStream { stream: String, message: String },
}

/// One table of one run, as it travels to a worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMessage {
    pub run_id: RunId,
    pub tenant: TenantId,
    pub service: String,
    /// The source table to read.
    pub source: String,
    /// Read the whole table instead of from its watermark.
    pub full: bool,
    /// A backfill's range `[from, to)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl JobMessage {
    /// The backfill's range, checked.
    pub fn range(&self) -> Result<Option<Backfill>, String> {
        self.backfill
            .map(|(from, to)| Backfill::new(from, to).map_err(|e| e.to_string()))
            .transpose()
    }

    /// The table the job syncs (a backfill has a key of its own).
    pub fn key(&self) -> Result<TableKey, String> {
        Ok(TableKey {
            tenant_id: self.tenant.clone(),
            service: self.service.clone(),
            table: match self.range()? {
                Some(b) => b.key(&self.source),
                None => self.source.clone(),
            },
        })
    }
}

/// How many jobs wait and run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QueueDepth {
    /// Published, not yet delivered to a worker.
    pub waiting: u64,
    /// Delivered to a worker and not yet acknowledged (running, or lost with a worker
    /// until their lease runs out).
    pub running: u64,
}

/// A connection to the job stream and its consumer; cheap to clone.
#[derive(Clone)]
pub struct JobQueue {
    js: jetstream::Context,
    stream: String,
    subject: String,
    consumer: String,
    lease: Duration,
}

impl std::fmt::Debug for JobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobQueue").field("stream", &self.stream).finish()
    }
}

impl JobQueue {
    /// Connects to `url` (`nats://host:port`) and makes sure the stream `stream` (a work
    /// queue on `{stream}.jobs`) and its durable consumer (ack wait = `lease`) exist.
    pub async fn connect(url: &str, stream: &str, lease: Duration) -> Result<Self, QueueError> {
        // The first connection must succeed (a wrong URL is an error now); after that the
        // client reconnects on its own, for ever, while the server restarts.
        let client = async_nats::ConnectOptions::new()
            .name("avesa")
            .connection_timeout(Duration::from_secs(5))
            .max_reconnects(None)
            .connect(url);
        let client = tokio::time::timeout(Duration::from_secs(10), client)
            .await
            .map_err(|_| QueueError::Connect {
                url: url.to_owned(),
                message: "no answer within 10s".into(),
            })?
            .map_err(|e| QueueError::Connect { url: url.to_owned(), message: e.to_string() })?;
        let queue = JobQueue {
            js: jetstream::new(client),
            stream: stream.to_owned(),
            subject: format!("{stream}.jobs"),
            consumer: format!("{stream}_workers"),
            lease,
        };
        queue.ensure().await?;
        Ok(queue)
    }

    fn fail(&self, e: impl std::fmt::Display) -> QueueError {
        QueueError::JetStream { stream: self.stream.clone(), message: e.to_string() }
    }

    async fn ensure(&self) -> Result<(), QueueError> {
        let stream = self
            .js
            .get_or_create_stream(stream::Config {
                name: self.stream.clone(),
                subjects: vec![self.subject.clone()],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await
            .map_err(|e| self.fail(e))?;
        stream
            .get_or_create_consumer(
                &self.consumer,
                consumer::pull::Config {
                    durable_name: Some(self.consumer.clone()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: self.lease,
                    // A job is delivered until a worker finishes it: a worker that dies
                    // only delays it by a lease.
                    max_deliver: -1,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// The lease (the consumer's ack wait).
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// The stream's name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Queues a job and waits for the stream to have stored it.
    pub async fn publish(&self, job: &JobMessage) -> Result<(), QueueError> {
        let key = job.key().map_err(|e| self.fail(e))?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("{}/{}", job.run_id, key.lease_name()).as_str());
        let payload = serde_json::to_vec(job).map_err(|e| self.fail(e))?;
        self.js
            .publish_with_headers(self.subject.clone(), headers, payload.into())
            .await
            .map_err(|e| self.fail(e))?
            .await
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// The durable consumer workers pull from.
    pub async fn consumer(&self) -> Result<consumer::PullConsumer, QueueError> {
        self.js
            .get_consumer_from_stream(&self.consumer, &self.stream)
            .await
            .map_err(|e| self.fail(e))
    }

    /// Jobs waiting and running, from the consumer's state.
    pub async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let mut c = self.consumer().await?;
        let info = c.info().await.map_err(|e| self.fail(e))?;
        Ok(QueueDepth { waiting: info.num_pending, running: info.num_ack_pending as u64 })
    }

    /// Deletes the stream and its consumer (tests, and an operator starting over).
    pub async fn delete(&self) -> Result<(), QueueError> {
        self.js.delete_stream(&self.stream).await.map_err(|e| self.fail(e))?;
        Ok(())
    }
}
