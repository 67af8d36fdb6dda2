//! Run notifications: a JSON event POSTed to a webhook when a run finishes.
//!
//! The event is `run.succeeded`, `run.partially_failed`, `run.failed` or `run.cancelled`,
//! with the run's id, tenant (if the run was for one), timing, totals and per-table
//! outcomes (errors and notices included; credentials never appear in them). Delivery is attempted three
//! times with a short backoff; a webhook that fails is logged and never fails the run.

use std::time::Duration;

use serde::Serialize;

use crate::{RunSummary, TableOutcome};

#[derive(Serialize)]
struct Event<'a> {
    event: String,
    run_id: String,
    tenant_id: Option<&'a str>,
    status: &'a str,
    seconds: f64,
    records: u64,
    failed_tables: usize,
    tables: &'a [TableOutcome],
}

/// The event body for a finished run.
pub fn event_json(summary: &RunSummary, tenant: Option<&str>) -> serde_json::Value {
    let status = summary.status.as_str();
    serde_json::to_value(Event {
        event: format!("run.{status}"),
        run_id: summary.run_id.to_string(),
        tenant_id: tenant,
        status,
        seconds: summary.seconds,
        records: summary.records(),
        failed_tables: summary.tables.iter().filter(|t| t.error.is_some()).count(),
        tables: &summary.tables,
    })
    .expect("the event serializes")
}

/// POSTs the event; returns whether the webhook accepted it (2xx).
pub async fn send(url: &str, body: &serde_json::Value) -> bool {
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(10)).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "webhook client");
            return false;
        }
    };
    for attempt in 1..=3u32 {
        match client.post(url).json(body).send().await {
            Ok(r) if r.status().is_success() => return true,
            Ok(r) => tracing::warn!(url, attempt, status = r.status().as_u16(), "webhook refused"),
            Err(e) => tracing::warn!(url, attempt, error = %e, "webhook unreachable"),
        }
        tokio::time::sleep(Duration::from_millis(250 * u64::from(attempt))).await;
    }
    false
}
