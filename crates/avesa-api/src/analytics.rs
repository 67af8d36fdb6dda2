//! Analytics routes: dashboard KPIs, ticket status distribution, top companies. All run in
//! the caller's tenant.

use axum::Json;
use axum::extract::State;
use chrono::SecondsFormat;
use serde::Deserialize;
use serde_json::Value;

use crate::AppState;
use crate::auth::AuthUser;
use crate::entities::{NoParams, int_param};
use crate::error::ApiError;
use crate::extract::ApiQuery;

/// Largest `limit` of `/api/analytics/companies/top`.
pub const MAX_TOP_LIMIT: u32 = 100;
/// Default `limit` of `/api/analytics/companies/top`.
pub const DEFAULT_TOP_LIMIT: u32 = 10;

/// `GET /api/analytics/dashboard`: the warehouse's KPIs plus `last_synced_at`, the last
/// time data was committed for the tenant (RFC 3339, or null if never).
pub(crate) async fn dashboard(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(NoParams {}): ApiQuery<NoParams>,
) -> Result<Json<Value>, ApiError> {
    let (stats, last) = tokio::join!(
        state.warehouse.dashboard(&user.tenant),
        state.store.last_commit_at(&user.tenant)
    );
    let mut body = match serde_json::to_value(stats?) {
        Ok(Value::Object(map)) => map,
        other => {
            tracing::error!(?other, "dashboard stats did not serialize to an object");
            return Err(ApiError::internal());
        }
    };
    let last = last?.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true));
    body.insert("last_synced_at".into(), last.map_or(Value::Null, Value::String));
    Ok(Json(Value::Object(body)))
}

/// `GET /api/analytics/tickets/status`: `{"items": [{"status", "count"}]}`.
pub(crate) async fn ticket_status(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(NoParams {}): ApiQuery<NoParams>,
) -> Result<Json<Value>, ApiError> {
    let items = state.warehouse.ticket_status(&user.tenant).await?;
    Ok(Json(serde_json::json!({ "items": items })))
}

/// Query of `/api/analytics/companies/top`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopParams {
    pub limit: Option<String>,
}

/// `GET /api/analytics/companies/top?limit=10` (1..=100): `{"items": [TopCompany]}`.
pub(crate) async fn top_companies(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<TopParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = int_param("limit", p.limit.as_deref(), DEFAULT_TOP_LIMIT, 1, MAX_TOP_LIMIT)?;
    let items = state.warehouse.top_companies(&user.tenant, limit).await?;
    Ok(Json(serde_json::json!({ "items": items })))
}
