//! Operations routes: the caller's tenant's sync runs and their chunks (tenant admins and
//! platform admins). A run over every tenant is shown to a tenant only through its own
//! chunks, and its error is rebuilt from those chunks, so no other tenant's table names
//! or errors leak.

use avesa_model::{Role, RunId, RunKind};
use avesa_state::{ChunkRecord, ChunkStatus, RunRecord, RunStatus};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::{AppState, AuthUser};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_eyes_see_vendor_words_not_internals_or_tokens() {
        let e = "connectwise/service/tickets: connectwise: cannot reach http://127.0.0.1:35793/v1.0/users/delta?$deltatoken=SECRET: Connection refused; \
                 connectwise/company/companies: warehouse: IO Error: /var/lib/avesa/warehouse.duckdb is full";
        let seen = for_tenant_eyes(e);
        assert!(
            !seen.contains("SECRET") && !seen.contains("duckdb") && !seen.contains("/var/lib"),
            "{seen}"
        );
        assert!(
            seen.contains(
                "cannot reach http://127.0.0.1:35793/v1.0/users/delta?…: Connection refused"
            ),
            "{seen}"
        );
        assert!(seen.contains("connectwise/company/companies: an internal error"), "{seen}");
        assert_eq!(
            for_tenant_eyes("connectwise: authentication failed: HTTP 401"),
            "connectwise: authentication failed: HTTP 401"
        );
    }
}

/// Query of `GET /api/admin/runs`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunsParams {
    /// How many runs, newest first (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// The tenant (platform admins must name it; a tenant admin's is their own).
    tenant: Option<String>,
}

crate::openapi::items!(
    /// The tenant's runs, newest first.
    RunList,
    RunRecord
);

/// A run and the caller's tenant's chunks of it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RunDetail {
    pub run: RunRecord,
    pub chunks: Vec<ChunkRecord>,
}

/// A run that has started.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RunStarted {
    /// Follow it at `GET /api/admin/runs/{run_id}`.
    pub run_id: String,
}

/// What a tenant admin sees of a failure: the vendor's and the configuration's own words
/// (which they can act on), without URLs' queries (continuation tokens), and a reference
/// in place of AVESA's internal errors (engine, store, lake), whose detail is logged.
pub fn for_tenant_eyes(error: &str) -> String {
    const INTERNAL: [&str; 8] = [
        "state store",
        "warehouse",
        "lake",
        "parquet:",
        "arrow:",
        "internal error",
        "lease ",
        "the query ",
    ];
    let parts: Vec<String> = error
        .split("; ")
        .map(|part| {
            // "{service}/{table}: {error}" in a run's error; the error alone in a chunk's.
            let (head, body) = match part.split_once(": ") {
                Some((h, b)) if h.contains('/') && !h.contains(' ') => (Some(h), b),
                _ => (None, part),
            };
            let body = if INTERNAL.iter().any(|p| body.trim_start().starts_with(p)) {
                "an internal error of the platform stopped this table; its operators have the details (quote the run id)".to_owned()
            } else {
                strip_url_queries(body)
            };
            match head {
                Some(h) => format!("{h}: {body}"),
                None => body,
            }
        })
        .collect();
    parts.join("; ")
}

/// `http(s)://host/path?query` → `http(s)://host/path?…`.
fn strip_url_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("http") {
        let (before, from) = rest.split_at(i);
        out.push_str(before);
        if !(from.starts_with("http://") || from.starts_with("https://")) {
            out.push_str("http");
            rest = &from[4..];
            continue;
        }
        let end =
            from.find(|c: char| c.is_whitespace() || c == '"' || c == '\'').unwrap_or(from.len());
        let url = &from[..end];
        // A trailing ':' belongs to the sentence ("cannot reach URL: refused").
        let (url, tail) = match url.strip_suffix(':') {
            Some(u) => (u, ":"),
            None => (url, ""),
        };
        match url.split_once('?') {
            Some((path, _)) => {
                out.push_str(path);
                out.push_str("?…");
            }
            None => out.push_str(url),
        }
        out.push_str(tail);
        rest = &from[end..];
    }
    out.push_str(rest);
    out
}

/// A chunk as a tenant admin sees it: positions without the vendor's continuation (an
/// internal URL with its tokens), and its error for tenant eyes.
fn chunk_for_tenant(mut c: ChunkRecord) -> ChunkRecord {
    for p in [&mut c.start, &mut c.end].into_iter().flatten() {
        p.continuation = None;
    }
    c.error = c.error.as_deref().map(for_tenant_eyes);
    c
}

/// Restricts a run to what the caller's tenant may see.
fn scoped(mut run: RunRecord, own: &[ChunkRecord]) -> RunRecord {
    if run.tenant_id.is_none() {
        let errors: Vec<String> = own
            .iter()
            .filter(|c| c.status == ChunkStatus::Failed)
            .filter_map(|c| {
                c.error.as_ref().map(|e| format!("{}/{}: {e}", c.key.service, c.key.table))
            })
            .collect();
        run.error = (!errors.is_empty()).then(|| errors.join("; "));
    }
    run
}

/// The chunks of a run that belong to `tenant`.
async fn own_chunks(
    state: &AppState,
    run: RunId,
    tenant: &avesa_model::TenantId,
) -> Result<Vec<ChunkRecord>, ApiError> {
    let chunks = state.store.list_chunks(run).await?;
    Ok(chunks.into_iter().filter(|c| c.key.tenant_id == *tenant).collect())
}

/// The body of `POST /api/admin/runs`: a sync of the caller's tenant (one service,
/// optionally one table; `full` for a full sync with delete detection), or, with `from`
/// and `to`, a backfill of that date range.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    /// One service of the tenant (default: all).
    service: Option<String>,
    /// One table of that service (default: all).
    table: Option<String>,
    /// Whole tables, with delete detection (at most 4 a day per tenant).
    #[serde(default)]
    full: bool,
    /// Backfill from (YYYY-MM-DD or RFC 3339; with `to` and a service; at most 366 days).
    from: Option<String>,
    /// Backfill to (exclusive).
    to: Option<String>,
}

fn instant(field: &str, s: &str) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    avesa_model::parse_instant(s).ok_or_else(|| {
        ApiError::bad_request(format!("{field} {s:?}: expected YYYY-MM-DD or an RFC 3339 instant"))
    })
}

/// Starts a sync or backfill of the tenant in the background and answers `202 {run_id}`
/// once the run is on record; `GET /api/admin/runs/{run_id}` follows it. At most 2 runs
/// of a tenant at once, and 4 full syncs and 4 backfills a day.
#[utoipa::path(
    post,
    path = "/api/admin/runs",
    tag = "runs",
    params(crate::ops::TenantParam),
    request_body = StartRun,
    responses((status = 202, description = "Started.", body = RunStarted)),
    security(("bearer" = []))
)]
pub(crate) async fn start_run(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(p): ApiQuery<crate::ops::TenantParam>,
    crate::extract::ApiJson(body): crate::extract::ApiJson<StartRun>,
) -> Result<(axum::http::StatusCode, Json<RunStarted>), ApiError> {
    let tenant = crate::ops::target_tenant(&user, &p)?;
    let Some(trigger) = state.trigger.clone() else {
        return Err(ApiError::new(
            crate::error::ErrorCode::Unavailable,
            "this server does not run syncs",
        ));
    };
    let backfill = match (&body.from, &body.to) {
        (None, None) => None,
        (Some(f), Some(t)) => {
            let (from, to) = (instant("from", f)?, instant("to", t)?);
            if from >= to {
                return Err(ApiError::bad_request("from must be before to"));
            }
            if body.service.is_none() {
                return Err(ApiError::bad_request("a backfill needs a service"));
            }
            Some((from, to))
        }
        _ => return Err(ApiError::bad_request("a backfill needs both from and to")),
    };
    if backfill.is_some() && body.full {
        return Err(ApiError::bad_request("full and a backfill range exclude each other"));
    }
    if let Some((from, to)) = backfill
        && to - from > chrono::Duration::days(MAX_BACKFILL_DAYS)
    {
        return Err(ApiError::bad_request(format!(
            "a backfill covers at most {MAX_BACKFILL_DAYS} days; split the range"
        ))
        .with_details(json!({ "param": "to" })));
    }
    let services = state.store.list_services(&tenant).await?;
    if let Some(s) = &body.service
        && !services.iter().any(|r| r.service == *s)
    {
        let known: Vec<&str> = services.iter().map(|r| r.service.as_str()).collect();
        return Err(ApiError::bad_request(format!(
            "this tenant has no service {s:?} (it has: {})",
            known.join(", ")
        )));
    }
    if body.table.is_some() && body.service.is_none() {
        return Err(ApiError::bad_request("a table needs its service"));
    }
    // One tenant admin's requests cannot burn the tenant's vendor quotas: a few runs at
    // once, a few full syncs and backfills a day. Checked and started under the tenant's
    // lock, so a burst of requests is counted one by one.
    let lock = state.run_quota.lock_for(&tenant);
    let _held = lock.lock().await;
    let kind = if backfill.is_some() {
        RunKind::Backfill
    } else if body.full {
        RunKind::Full
    } else {
        RunKind::Incremental
    };
    check_quota(&state, &tenant, kind).await?;
    let req = crate::TriggerRequest {
        tenant: tenant.clone(),
        service: body.service,
        table: body.table,
        full: body.full,
        backfill,
    };
    let run_id = trigger(req).await.map_err(|r| match r {
        crate::TriggerRefusal::Invalid(m) => ApiError::bad_request(m),
        crate::TriggerRefusal::Unavailable(m) => ApiError::unavailable(m),
    })?;
    state.run_quota.started(&tenant, &run_id, kind);
    Ok((axum::http::StatusCode::ACCEPTED, Json(RunStarted { run_id })))
}

/// The longest backfill range the API starts (days).
pub const MAX_BACKFILL_DAYS: i64 = 366;
/// Runs of one tenant in progress at once, started from the API or not.
pub const MAX_ACTIVE_RUNS: usize = 2;
/// Full syncs, and backfills, the API starts per tenant in 24 hours (each kind).
pub const MAX_HEAVY_RUNS_PER_DAY: usize = 4;

/// A run the API started: its id, kind and when.
type Started = (String, RunKind, chrono::DateTime<chrono::Utc>);

/// The runs the API started recently, per tenant: counted with the state store's record
/// until it shows them (a run's record is written just after its id is returned).
#[derive(Default)]
pub struct RunQuota {
    recent: std::sync::Mutex<std::collections::HashMap<String, Vec<Started>>>,
    locks:
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
}

impl RunQuota {
    fn lock_for(&self, tenant: &avesa_model::TenantId) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        locks.entry(tenant.as_str().to_owned()).or_default().clone()
    }

    fn started(&self, tenant: &avesa_model::TenantId, run_id: &str, kind: RunKind) {
        let mut recent = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let day_ago = chrono::Utc::now() - chrono::Duration::days(1);
        let list = recent.entry(tenant.as_str().to_owned()).or_default();
        list.retain(|(_, _, at)| *at > day_ago);
        list.push((run_id.to_owned(), kind, chrono::Utc::now()));
    }

    fn recent(
        &self,
        tenant: &avesa_model::TenantId,
    ) -> Vec<(String, RunKind, chrono::DateTime<chrono::Utc>)> {
        let recent = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        recent.get(tenant.as_str()).cloned().unwrap_or_default()
    }
}

/// 429 when the tenant has [`MAX_ACTIVE_RUNS`] runs in progress, or has had
/// [`MAX_HEAVY_RUNS_PER_DAY`] of this heavy kind (full, backfill) in the last 24 hours.
async fn check_quota(
    state: &AppState,
    tenant: &avesa_model::TenantId,
    kind: RunKind,
) -> Result<(), ApiError> {
    let now = chrono::Utc::now();
    let day_ago = now - chrono::Duration::days(1);
    let runs: Vec<RunRecord> = state
        .store
        .list_runs(Some(tenant), 500)
        .await?
        .into_iter()
        .filter(|r| r.tenant_id.as_ref() == Some(tenant))
        .collect();
    let known = |id: &str| runs.iter().any(|r| r.id.to_string() == id);
    // Recently started runs whose record may not be written yet count as running.
    let pending: Vec<_> = state
        .run_quota
        .recent(tenant)
        .into_iter()
        .filter(|(id, _, at)| !known(id) && now - *at < chrono::Duration::seconds(30))
        .collect();
    let active = runs.iter().filter(|r| r.status == RunStatus::Running).count() + pending.len();
    if active >= MAX_ACTIVE_RUNS {
        return Err(ApiError::rate_limited(
            format!(
                "this tenant already has {active} runs in progress (at most {MAX_ACTIVE_RUNS}); wait for one to finish"
            ),
            30,
        ));
    }
    if kind != RunKind::Incremental {
        let mut starts: Vec<chrono::DateTime<chrono::Utc>> = runs
            .iter()
            .filter(|r| r.kind == kind && r.started_at > day_ago)
            .map(|r| r.started_at)
            .chain(pending.iter().filter(|(_, k, _)| *k == kind).map(|(_, _, at)| *at))
            .collect();
        if starts.len() >= MAX_HEAVY_RUNS_PER_DAY {
            starts.sort();
            let wait = (starts[starts.len() - MAX_HEAVY_RUNS_PER_DAY] + chrono::Duration::days(1)
                - now)
                .num_seconds()
                .max(1);
            return Err(ApiError::rate_limited(
                format!(
                    "at most {MAX_HEAVY_RUNS_PER_DAY} {kind} runs a day per tenant (they read whole tables from the vendor); the next may start in {} minutes",
                    wait / 60 + 1
                ),
                wait as u64,
            ));
        }
    }
    Ok(())
}

/// The tenant's recent runs, newest first.
#[utoipa::path(
    get,
    path = "/api/admin/runs",
    tag = "runs",
    params(RunsParams),
    responses((status = 200, description = "Runs.", body = RunList)),
    security(("bearer" = []))
)]
pub(crate) async fn list_runs(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(p): ApiQuery<RunsParams>,
) -> Result<Json<RunList>, ApiError> {
    let tenant =
        crate::ops::target_tenant(&user, &crate::ops::TenantParam { tenant: p.tenant.clone() })?;
    let limit = p.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit must be between 1 and 500, got {limit}")));
    }
    let mut items = Vec::new();
    for run in state.store.list_runs(Some(&tenant), limit).await? {
        // Only all-tenant runs need their chunks (to rebuild the error).
        let own = match run.tenant_id {
            None => own_chunks(&state, run.id, &tenant).await?,
            Some(_) => Vec::new(),
        };
        let mut run = scoped(run, &own);
        if user.role != Role::PlatformAdmin {
            run.error = run.error.as_deref().map(for_tenant_eyes);
        }
        items.push(run);
    }
    Ok(Json(RunList { items }))
}

/// A run and the tenant's chunks of it. Tenant admins see errors in the vendor's words
/// and no continuation tokens.
#[utoipa::path(
    get,
    path = "/api/admin/runs/{id}",
    tag = "runs",
    params(("id" = String, Path, description = "The run id (a UUID)."), crate::ops::TenantParam),
    responses((status = 200, description = "The run.", body = RunDetail)),
    security(("bearer" = []))
)]
pub(crate) async fn get_run(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<crate::ops::TenantParam>,
) -> Result<Json<RunDetail>, ApiError> {
    let tenant = crate::ops::target_tenant(&user, &p)?;
    let id: RunId = id.parse().map_err(|e: avesa_model::IdError| ApiError::bad_request(e.0))?;
    let not_found = || ApiError::not_found("run not found");
    let run = state.store.get_run(id).await?.ok_or_else(not_found)?;
    let chunks = own_chunks(&state, id, &tenant).await?;
    let visible = match &run.tenant_id {
        Some(t) => *t == tenant,
        None => !chunks.is_empty(),
    };
    if !visible {
        return Err(not_found());
    }
    let mut run = scoped(run, &chunks);
    let chunks = if user.role == Role::PlatformAdmin {
        chunks
    } else {
        run.error = run.error.as_deref().map(for_tenant_eyes);
        chunks.into_iter().map(chunk_for_tenant).collect()
    };
    Ok(Json(RunDetail { run, chunks }))
}

/// A run that has been asked to stop.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RunCancelled {
    pub run_id: String,
    /// Always true: the run's tables commit what they have read and stop within seconds;
    /// the run then ends `cancelled`, and the next run resumes where it stopped.
    pub cancel_requested: bool,
}

/// Asks a running run of the tenant to stop. Each of its tables commits what it has read
/// and stops (within a few seconds); the run ends `cancelled`, and the next run resumes
/// where it stopped. A run over every tenant (the scheduler's) only a platform admin may
/// stop. Asking twice is fine; a finished run is a 409.
#[utoipa::path(
    post,
    path = "/api/admin/runs/{id}/cancel",
    tag = "runs",
    params(("id" = String, Path, description = "The run id (a UUID)."), crate::ops::TenantParam),
    responses(
        (status = 202, description = "Asked to stop.", body = RunCancelled),
        (status = 409, description = "The run has already finished.", body = crate::openapi::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn cancel_run(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<crate::ops::TenantParam>,
) -> Result<(axum::http::StatusCode, Json<RunCancelled>), ApiError> {
    let tenant = crate::ops::target_tenant(&user, &p)?;
    let run_id: RunId = id.parse().map_err(|e: avesa_model::IdError| ApiError::bad_request(e.0))?;
    let not_found = || ApiError::not_found("run not found");
    let run = state.store.get_run(run_id).await?.ok_or_else(not_found)?;
    let visible = match &run.tenant_id {
        Some(t) => *t == tenant,
        None => !own_chunks(&state, run_id, &tenant).await?.is_empty(),
    };
    if !visible {
        return Err(not_found());
    }
    if run.tenant_id.is_none() && user.role != Role::PlatformAdmin {
        return Err(ApiError::forbidden(
            "this run syncs every tenant; only a platform admin may stop it",
        ));
    }
    if run.status != RunStatus::Running || !state.store.request_cancel(run_id).await? {
        let now = state.store.get_run(run_id).await?.map_or(run.status, |r| r.status);
        return Err(ApiError::conflict(format!("the run has already finished ({})", now.as_str())));
    }
    tracing::info!(run = %run_id, tenant = %tenant, by = %user.user_id, "run asked to stop");
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(RunCancelled { run_id: run_id.to_string(), cancel_requested: true }),
    ))
}
