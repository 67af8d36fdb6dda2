//! Operations routes: the caller's tenant's sync runs and their chunks (tenant admins and
//! platform admins). A run over every tenant is shown to a tenant only through its own
//! chunks, and its error is rebuilt from those chunks, so no other tenant's table names
//! or errors leak.

use avesa_model::{Role, RunId};
use avesa_state::{ChunkRecord, ChunkStatus, RunRecord};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::{AppState, AuthUser};

const ADMINS: &[Role] = &[Role::TenantAdmin, Role::PlatformAdmin];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunsParams {
    limit: Option<u32>,
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    service: Option<String>,
    table: Option<String>,
    #[serde(default)]
    full: bool,
    from: Option<String>,
    to: Option<String>,
}

fn instant(field: &str, s: &str) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    avesa_model::parse_instant(s).ok_or_else(|| {
        ApiError::bad_request(format!("{field} {s:?}: expected YYYY-MM-DD or an RFC 3339 instant"))
    })
}

/// `POST /api/admin/runs`: starts a run of the caller's tenant in the background and
/// answers `202 {run_id}` at once; `GET /api/admin/runs/{run_id}` follows it.
pub(crate) async fn start_run(
    State(state): State<AppState>,
    user: AuthUser,
    crate::extract::ApiJson(body): crate::extract::ApiJson<StartRun>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    user.require_role(ADMINS)?;
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
    let services = state.store.list_services(&user.tenant).await?;
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
    let req = crate::TriggerRequest {
        tenant: user.tenant.clone(),
        service: body.service,
        table: body.table,
        full: body.full,
        backfill,
    };
    let run_id = trigger(req).await.map_err(|r| match r {
        crate::TriggerRefusal::Invalid(m) => ApiError::bad_request(m),
        crate::TriggerRefusal::Unavailable(m) => ApiError::unavailable(m),
    })?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(json!({ "run_id": run_id }))))
}

/// `GET /api/admin/runs?limit=50`.
pub(crate) async fn list_runs(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(p): ApiQuery<RunsParams>,
) -> Result<Json<Value>, ApiError> {
    user.require_role(ADMINS)?;
    let limit = p.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit must be between 1 and 500, got {limit}")));
    }
    let mut items = Vec::new();
    for run in state.store.list_runs(Some(&user.tenant), limit).await? {
        // Only all-tenant runs need their chunks (to rebuild the error).
        let own = match run.tenant_id {
            None => own_chunks(&state, run.id, &user.tenant).await?,
            Some(_) => Vec::new(),
        };
        items.push(scoped(run, &own));
    }
    Ok(Json(json!({ "items": items })))
}

/// `GET /api/admin/runs/{id}`: the run and the caller's tenant's chunks of it.
pub(crate) async fn get_run(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    user.require_role(ADMINS)?;
    let id: RunId = id.parse().map_err(|e: avesa_model::IdError| ApiError::bad_request(e.0))?;
    let not_found = || ApiError::not_found("run not found");
    let run = state.store.get_run(id).await?.ok_or_else(not_found)?;
    let chunks = own_chunks(&state, id, &user.tenant).await?;
    let visible = match &run.tenant_id {
        Some(t) => *t == user.tenant,
        None => !chunks.is_empty(),
    };
    if !visible {
        return Err(not_found());
    }
    Ok(Json(json!({ "run": scoped(run, &chunks), "chunks": chunks })))
}
