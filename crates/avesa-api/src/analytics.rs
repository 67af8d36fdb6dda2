//! Analytics routes: dashboard KPIs, ticket status distribution, top companies. All run in
//! the caller's tenant.

use avesa_warehouse::{DashboardStats, StatusCount, TopCompany};
use axum::Json;
use axum::extract::State;
use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::AuthUser;
use crate::entities::{NoParams, int_param};
use crate::error::ApiError;
use crate::extract::ApiQuery;

/// Largest `limit` of `/api/analytics/companies/top`.
pub const MAX_TOP_LIMIT: u32 = 100;
/// Default `limit` of `/api/analytics/companies/top`.
pub const DEFAULT_TOP_LIMIT: u32 = 10;

/// `GET /api/analytics/dashboard`.
#[derive(Serialize, ToSchema)]
pub struct Dashboard {
    #[serde(flatten)]
    pub stats: DashboardStats,
    /// When data last committed for the tenant (RFC 3339), or null if never.
    #[schema(format = DateTime)]
    pub last_synced_at: Option<String>,
}

crate::openapi::items!(
    /// `GET /api/analytics/tickets/status`: current tickets per status.
    StatusCounts,
    StatusCount
);
crate::openapi::items!(
    /// `GET /api/analytics/companies/top`: companies by ticket count.
    TopCompanies,
    TopCompany
);

/// The warehouse's KPIs plus `last_synced_at`, the last time data was committed for the
/// tenant.
#[utoipa::path(
    get,
    path = "/api/analytics/dashboard",
    tag = "analytics",
    responses((status = 200, description = "The tenant's figures.", body = Dashboard)),
    security(("bearer" = []))
)]
pub(crate) async fn dashboard(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(NoParams {}): ApiQuery<NoParams>,
) -> Result<Json<Dashboard>, ApiError> {
    let (stats, last) = tokio::join!(
        state.warehouse.dashboard(&user.tenant),
        state.store.last_commit_at(&user.tenant)
    );
    let last_synced_at = last?.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true));
    Ok(Json(Dashboard { stats: stats?, last_synced_at }))
}

/// `GET /api/freshness`.
#[derive(Serialize, ToSchema)]
pub struct LastSynced {
    /// When data last committed for the tenant (RFC 3339), or null if never.
    #[schema(format = DateTime)]
    pub last_synced_at: Option<String>,
}

/// When the tenant's data last changed: the app's "Last synced", read from the state store
/// alone (no warehouse query, never queued behind the tenant's analytics).
#[utoipa::path(
    get,
    path = "/api/freshness",
    tag = "analytics",
    responses((status = 200, description = "The tenant's last sync.", body = LastSynced)),
    security(("bearer" = []))
)]
pub(crate) async fn freshness(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(NoParams {}): ApiQuery<NoParams>,
) -> Result<Json<LastSynced>, ApiError> {
    let last = state.store.last_commit_at(&user.tenant).await?;
    Ok(Json(LastSynced {
        last_synced_at: last.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
    }))
}

/// The tenant's current tickets counted by status.
#[utoipa::path(
    get,
    path = "/api/analytics/tickets/status",
    tag = "analytics",
    responses((status = 200, description = "Counts by status.", body = StatusCounts)),
    security(("bearer" = []))
)]
pub(crate) async fn ticket_status(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(NoParams {}): ApiQuery<NoParams>,
) -> Result<Json<StatusCounts>, ApiError> {
    let items = state.warehouse.ticket_status(&user.tenant).await?;
    Ok(Json(StatusCounts { items }))
}

/// Query of `/api/analytics/companies/top`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TopParams {
    /// How many companies (default 10).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// The companies with the most tickets.
#[utoipa::path(
    get,
    path = "/api/analytics/companies/top",
    tag = "analytics",
    params(TopParams),
    responses((status = 200, description = "Companies, most tickets first.", body = TopCompanies)),
    security(("bearer" = []))
)]
pub(crate) async fn top_companies(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<TopParams>,
) -> Result<Json<TopCompanies>, ApiError> {
    let limit = int_param("limit", p.limit.as_deref(), DEFAULT_TOP_LIMIT, 1, MAX_TOP_LIMIT)?;
    let items = state.warehouse.top_companies(&user.tenant, limit).await?;
    Ok(Json(TopCompanies { items }))
}
