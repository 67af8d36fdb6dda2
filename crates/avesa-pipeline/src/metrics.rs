//! What the pipeline counts: its metrics, declared in one place.

use avesa_model::metrics::{MetricDef, Metrics};
use avesa_state::ChunkCounts;

/// The pipeline's metrics and what each is.
pub const METRICS: &[MetricDef] = &[
    ("avesa_records_total", "Records fetched from vendors."),
    ("avesa_pages_total", "Pages fetched from vendors."),
    ("avesa_requests_total", "HTTP requests sent to vendors (retries included)."),
    ("avesa_retries_total", "Vendor requests retried after a transient failure."),
    ("avesa_throttles_total", "Vendor responses that throttled us (429/503)."),
    ("avesa_bytes_total", "Bytes of vendor responses (JSON)."),
    ("avesa_versions_inserted_total", "SCD2 versions inserted into the warehouse."),
    ("avesa_chunks_total", "Chunks finished, by status."),
    ("avesa_runs_total", "Sync runs finished, by status."),
    ("avesa_chunk_duration_seconds", "Wall time of a chunk: fetch, land, apply, commit."),
    ("avesa_run_duration_seconds", "Wall time of a sync run."),
];

/// What a serving process reports of the distributed shape (`worker::cluster_status`).
pub const CLUSTER_METRICS: &[MetricDef] = &[
    ("avesa_workers_alive", "Workers whose heartbeat is recent."),
    ("avesa_queue_jobs", "Table jobs in the queue, by state (waiting, running)."),
];

/// Adds a finished chunk's counts.
pub(crate) fn record_chunk(m: &Metrics, labels: &[(&str, &str); 3], c: &ChunkCounts, status: &str) {
    m.add("avesa_records_total", labels, c.records as f64);
    m.add("avesa_pages_total", labels, c.pages as f64);
    m.add("avesa_requests_total", labels, c.requests as f64);
    m.add("avesa_retries_total", labels, c.retries as f64);
    m.add("avesa_throttles_total", labels, c.throttles as f64);
    m.add("avesa_bytes_total", labels, c.bytes as f64);
    m.add("avesa_versions_inserted_total", labels, c.versions_inserted as f64);
    m.add("avesa_chunks_total", &[labels[0], labels[1], labels[2], ("status", status)], 1.0);
}
