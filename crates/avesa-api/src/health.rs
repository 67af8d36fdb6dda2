//! Health routes (no authentication).
//!
//! `/health` says the process answers. `/health/detailed` probes each backend with a
//! timeout and reports `ok` or `degraded`; it still answers 200 so the body is readable, and
//! a failing probe's cause is logged, not returned (it is an unauthenticated route).

use std::future::Future;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::AppState;

/// How long a backend probe may take before it counts as failed.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether everything answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
    Degraded,
}

/// `GET /health`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: HealthStatus,
}

/// `GET /health/detailed`.
#[derive(Serialize, ToSchema)]
pub struct HealthReport {
    pub status: HealthStatus,
    /// Per backend (`state`, `warehouse`, and `cluster` in the distributed shape):
    /// `{"status": "ok"}` or `{"status": "error", "error": …}`.
    #[schema(value_type = Object)]
    pub checks: Value,
}

/// The process answers.
#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    responses((status = 200, description = "Alive.", body = Health))
)]
pub(crate) async fn health() -> Json<Health> {
    Json(Health { status: HealthStatus::Ok })
}

async fn probe<E: std::fmt::Display>(
    name: &str,
    fut: impl Future<Output = Result<(), E>>,
) -> (bool, Value) {
    match tokio::time::timeout(PROBE_TIMEOUT, fut).await {
        Ok(Ok(())) => (true, json!({ "status": "ok" })),
        Ok(Err(e)) => {
            tracing::warn!(backend = name, error = %e, "health probe failed");
            (false, json!({ "status": "error", "error": format!("{name} probe failed") }))
        }
        Err(_) => {
            tracing::warn!(backend = name, "health probe timed out");
            let msg = format!("{name} probe timed out after {}s", PROBE_TIMEOUT.as_secs());
            (false, json!({ "status": "error", "error": msg }))
        }
    }
}

/// Probes each backend. In the distributed shape it also reports the workers (id,
/// host, jobs running, seconds since their heartbeat) and the job queue's depth, and is
/// `degraded` while no worker is alive or the queue does not answer.
#[utoipa::path(
    get,
    path = "/health/detailed",
    tag = "health",
    responses((status = 200, description = "Each backend's state (200 even when degraded).", body = HealthReport))
)]
pub(crate) async fn detailed(State(state): State<AppState>) -> Json<HealthReport> {
    let store = state.store.clone();
    let warehouse = state.warehouse.clone();
    let cluster = state.cluster.clone();
    let ((state_ok, state_check), (wh_ok, wh_check), cluster) = tokio::join!(
        probe("state", async move { store.list_tenants().await.map(|_| ()) }),
        probe("warehouse", async move { warehouse.ping().await }),
        async move {
            let probe = cluster?;
            Some(match tokio::time::timeout(PROBE_TIMEOUT, probe()).await {
                Ok(r) => r,
                Err(_) => (false, json!({ "status": "error", "error": "cluster probe timed out" })),
            })
        },
    );
    let cluster_ok = cluster.as_ref().is_none_or(|(ok, _)| *ok);
    let status =
        if state_ok && wh_ok && cluster_ok { HealthStatus::Ok } else { HealthStatus::Degraded };
    let mut checks = json!({ "state": state_check, "warehouse": wh_check });
    if let Some((_, detail)) = cluster {
        checks["cluster"] = detail;
    }
    Json(HealthReport { status, checks })
}
