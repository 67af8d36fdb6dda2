//! A tenant's analytics settings over HTTP: its time zone and members' capacities, its
//! goals, and its calculated metrics. Everyone in the tenant reads them; tenant admins
//! (and platform admins, naming the tenant) change them. Every change is checked before
//! it is stored, and cached answers that depended on the old settings are not served
//! again (the response cache keys by the settings' fingerprint).
//!
//! | route | who | what |
//! | --- | --- | --- |
//! | `GET /api/settings` | everyone | time zone, default and members' capacities |
//! | `PUT /api/admin/settings` | admins | set the time zone, the default capacity |
//! | `PUT`, `DELETE /api/admin/capacity/{member}` | admins | one member's capacity |
//! | `GET /api/analytics/goals` | everyone | the goals |
//! | `PUT`, `DELETE /api/admin/goals/{metric}` | admins | one metric's goal |
//! | `PUT`, `DELETE /api/admin/metrics/{id}` | admins | a calculated metric |

use std::sync::Arc;

use avesa_analytics::calculated::{Calculated, CalculatedDef};
use avesa_analytics::metrics::{Better, Unit, metric};
use avesa_analytics::period::parse_tz;
use avesa_analytics::settings::{
    self, Goal, GoalInput, MAX_DEFINITIONS, TenantSettings, check_capacity,
};
use avesa_model::TenantId;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::ops::{TenantParam, field, target_tenant};
use crate::{AppState, AuthUser};

/// The tenant's settings, as read now.
pub(crate) async fn load(
    state: &AppState,
    tenant: &TenantId,
) -> Result<Arc<TenantSettings>, ApiError> {
    state.reads.settings.get(state, tenant).await
}

/// A message `"{field}: why"` as a 400 naming the field.
fn named(message: String) -> ApiError {
    match message.split_once(':') {
        Some((f, _)) if f.chars().all(|c| c.is_ascii_lowercase() || c == '_') => {
            let f = f.to_owned();
            ApiError::bad_request(message).with_details(json!({ "field": f }))
        }
        _ => ApiError::bad_request(message),
    }
}

async fn changed(state: &AppState, tenant: &TenantId) {
    state.reads.settings.forget(tenant).await;
}

// ---- time zone and capacity ----

/// One member's working hours a day.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberCapacity {
    /// The member's id (`connectwise:167`).
    pub member: String,
    pub hours_per_day: f64,
}

/// `GET /api/settings`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsView {
    /// The IANA time zone periods and days are read in unless a request names one.
    pub time_zone: String,
    /// A member's working hours a day (Monday to Friday) unless set for them; what
    /// utilisation divides by.
    pub default_hours_per_day: f64,
    pub members: Vec<MemberCapacity>,
}

fn settings_view(s: &TenantSettings) -> SettingsView {
    SettingsView {
        time_zone: s.time_zone.name().to_owned(),
        default_hours_per_day: s.capacity.hours_per_day(None),
        members: s
            .capacity
            .members
            .iter()
            .map(|(m, h)| MemberCapacity { member: m.clone(), hours_per_day: *h })
            .collect(),
    }
}

/// The tenant's time zone and capacities.
#[utoipa::path(
    get,
    path = "/api/settings",
    tag = "settings",
    responses((status = 200, description = "The settings.", body = SettingsView)),
    security(("bearer" = []))
)]
pub(crate) async fn get_settings(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<SettingsView>, ApiError> {
    let s = load(&state, &user.tenant).await?;
    Ok(Json(settings_view(&s)))
}

/// The body of `PUT /api/admin/settings`: what is left out stays as it is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSettings {
    /// An IANA time zone (`Europe/Amsterdam`).
    pub time_zone: Option<String>,
    /// Working hours a day of members without their own (more than 0, at most 24).
    pub default_hours_per_day: Option<f64>,
}

/// Sets the tenant's time zone or default capacity.
#[utoipa::path(
    put,
    path = "/api/admin/settings",
    tag = "settings",
    params(TenantParam),
    request_body = PutSettings,
    responses((status = 200, description = "The settings now.", body = SettingsView)),
    security(("bearer" = []))
)]
pub(crate) async fn put_settings(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(p): ApiQuery<TenantParam>,
    ApiJson(body): ApiJson<PutSettings>,
) -> Result<Json<SettingsView>, ApiError> {
    let tenant = target_tenant(&user, &p)?;
    let tz = body
        .time_zone
        .as_deref()
        .map(|z| parse_tz(z.trim()).map_err(|e| field("time_zone", e.0.trim_start_matches("tz: "))))
        .transpose()?;
    let hours = body
        .default_hours_per_day
        .map(|h| check_capacity(h).map_err(|e| field("default_hours_per_day", e)))
        .transpose()?;
    if let Some(tz) = tz {
        state.store.put_setting(&tenant, settings::TIME_ZONE, &json!(tz.name())).await?;
    }
    if let Some(h) = hours {
        state.store.put_setting(&tenant, settings::DEFAULT_CAPACITY, &json!(h)).await?;
    }
    changed(&state, &tenant).await;
    tracing::info!(tenant = %tenant, by = %user.user_id, "settings changed");
    let s = load(&state, &tenant).await?;
    Ok(Json(settings_view(&s)))
}

/// A member id as the API writes it: `{service}:{source id}`.
fn member_id(raw: &str) -> Result<String, ApiError> {
    let ok = raw.len() <= 200
        && raw.split_once(':').is_some_and(|(s, id)| {
            !s.is_empty()
                && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                && !id.is_empty()
                && !id.chars().any(char::is_control)
        });
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::bad_request(format!(
            "member: {raw:?} is not a member id such as connectwise:167"
        ))
        .with_details(json!({ "param": "member" })))
    }
}

/// The body of `PUT /api/admin/capacity/{member}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutCapacity {
    /// Working hours a day, Monday to Friday (more than 0, at most 24).
    pub hours_per_day: f64,
}

/// Sets one member's working hours a day.
#[utoipa::path(
    put,
    path = "/api/admin/capacity/{member}",
    tag = "settings",
    params(("member" = String, Path, description = "The member's id (connectwise:167)."), TenantParam),
    request_body = PutCapacity,
    responses((status = 200, description = "The member's capacity.", body = MemberCapacity)),
    security(("bearer" = []))
)]
pub(crate) async fn put_capacity(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(member): ApiPath<String>,
    ApiQuery(p): ApiQuery<TenantParam>,
    ApiJson(body): ApiJson<PutCapacity>,
) -> Result<Json<MemberCapacity>, ApiError> {
    let tenant = target_tenant(&user, &p)?;
    let member = member_id(&member)?;
    let hours = check_capacity(body.hours_per_day).map_err(|e| field("hours_per_day", e))?;
    let key = format!("{}{member}", settings::CAPACITY_PREFIX);
    let current = load(&state, &tenant).await?;
    if !current.capacity.members.contains_key(&member)
        && current.capacity.members.len() >= 10 * MAX_DEFINITIONS
    {
        return Err(ApiError::conflict(format!(
            "at most {} members have their own capacity; remove one first",
            10 * MAX_DEFINITIONS
        )));
    }
    state.store.put_setting(&tenant, &key, &json!(hours)).await?;
    changed(&state, &tenant).await;
    Ok(Json(MemberCapacity { member, hours_per_day: hours }))
}

/// Removes a member's own capacity (the default applies again).
#[utoipa::path(
    delete,
    path = "/api/admin/capacity/{member}",
    tag = "settings",
    params(("member" = String, Path, description = "The member's id."), TenantParam),
    responses((status = 204, description = "Removed.")),
    security(("bearer" = []))
)]
pub(crate) async fn delete_capacity(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(member): ApiPath<String>,
    ApiQuery(p): ApiQuery<TenantParam>,
) -> Result<StatusCode, ApiError> {
    let tenant = target_tenant(&user, &p)?;
    let member = member_id(&member)?;
    let key = format!("{}{member}", settings::CAPACITY_PREFIX);
    remove(&state, &tenant, &key, "no capacity is set for this member").await
}

async fn remove(
    state: &AppState,
    tenant: &TenantId,
    key: &str,
    missing: &str,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_setting(tenant, key).await? {
        changed(state, tenant).await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(missing))
    }
}

// ---- goals ----

/// A metric's goal.
#[derive(Debug, Serialize, ToSchema)]
pub struct GoalEntry {
    pub metric: String,
    pub label: String,
    pub goal: Goal,
}

crate::openapi::items!(
    /// The tenant's goals, by metric id.
    GoalList,
    GoalEntry
);

/// A metric's label, unit and direction: built-in or the tenant's calculated one.
fn describe(s: &TenantSettings, id: &str) -> Option<(String, Unit, Better)> {
    metric(id)
        .map(|m| (m.label.to_owned(), m.unit, m.better))
        .or_else(|| s.calculated.get(id).map(|c| (c.def.label.clone(), c.def.unit, c.def.better)))
}

/// Every goal the tenant has set.
#[utoipa::path(
    get,
    path = "/api/analytics/goals",
    tag = "analytics",
    responses((status = 200, description = "The goals.", body = GoalList)),
    security(("bearer" = []))
)]
pub(crate) async fn list_goals(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<GoalList>, ApiError> {
    let s = load(&state, &user.tenant).await?;
    let items = s
        .goals
        .iter()
        .filter_map(|(id, g)| {
            describe(&s, id).map(|(label, ..)| GoalEntry {
                metric: id.clone(),
                label,
                goal: g.clone(),
            })
        })
        .collect();
    Ok(Json(GoalList { items }))
}

/// Sets a metric's goal (built-in or calculated): its target, direction, warning band
/// and the span of period it is for. Every answer for the metric then carries its status.
#[utoipa::path(
    put,
    path = "/api/admin/goals/{metric}",
    tag = "settings",
    params(("metric" = String, Path, description = "A metric id."), TenantParam),
    request_body = GoalInput,
    responses((status = 200, description = "The goal.", body = GoalEntry)),
    security(("bearer" = []))
)]
pub(crate) async fn put_goal(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<TenantParam>,
    ApiJson(body): ApiJson<GoalInput>,
) -> Result<Json<GoalEntry>, ApiError> {
    let tenant = target_tenant(&user, &p)?;
    let s = load(&state, &tenant).await?;
    let (label, _unit, better) = describe(&s, &id).ok_or_else(|| {
        ApiError::not_found(format!("no metric {id:?}; GET /api/analytics/metrics lists them"))
    })?;
    let goal = Goal::new(body, better).map_err(named)?;
    if !s.goals.contains_key(&id) && s.goals.len() >= MAX_DEFINITIONS {
        return Err(ApiError::conflict(format!(
            "at most {MAX_DEFINITIONS} goals; remove one first"
        )));
    }
    let key = format!("{}{id}", settings::GOAL_PREFIX);
    let value = serde_json::to_value(&goal).map_err(|_| ApiError::internal())?;
    state.store.put_setting(&tenant, &key, &value).await?;
    changed(&state, &tenant).await;
    tracing::info!(tenant = %tenant, metric = %id, by = %user.user_id, "goal set");
    Ok(Json(GoalEntry { metric: id, label, goal }))
}

/// Removes a metric's goal.
#[utoipa::path(
    delete,
    path = "/api/admin/goals/{metric}",
    tag = "settings",
    params(("metric" = String, Path, description = "A metric id."), TenantParam),
    responses((status = 204, description = "Removed.")),
    security(("bearer" = []))
)]
pub(crate) async fn delete_goal(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<TenantParam>,
) -> Result<StatusCode, ApiError> {
    let tenant = target_tenant(&user, &p)?;
    let key = format!("{}{id}", settings::GOAL_PREFIX);
    remove(&state, &tenant, &key, "this metric has no goal").await
}

// ---- calculated metrics ----

/// A calculated metric as saved.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalculatedView {
    pub id: String,
    #[serde(flatten)]
    pub definition: CalculatedDef,
    /// The built-in metrics the expression names.
    pub metrics: Vec<String>,
    /// The breakdowns it takes (those every metric named has).
    pub group_by: Vec<String>,
}

pub(crate) fn calculated_view(c: &Calculated) -> CalculatedView {
    CalculatedView {
        id: c.id.clone(),
        definition: c.def.clone(),
        metrics: c.refs.iter().map(|m| m.id.to_owned()).collect(),
        group_by: c.group_names(),
    }
}

/// Defines (or redefines) a calculated metric: an expression over built-in metrics,
/// checked now, answered like any metric from then on.
#[utoipa::path(
    put,
    path = "/api/admin/metrics/{id}",
    tag = "settings",
    params(("id" = String, Path, description = "The new metric's id (lower case, digits, _)."), TenantParam),
    request_body = CalculatedDef,
    responses((status = 200, description = "The metric.", body = CalculatedView)),
    security(("bearer" = []))
)]
pub(crate) async fn put_metric(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<TenantParam>,
    ApiJson(body): ApiJson<CalculatedDef>,
) -> Result<Json<CalculatedView>, ApiError> {
    let tenant = target_tenant(&user, &p)?;
    let c = Calculated::new(&id, body).map_err(named)?;
    let s = load(&state, &tenant).await?;
    if !s.calculated.contains_key(&id) && s.calculated.len() >= MAX_DEFINITIONS {
        return Err(ApiError::conflict(format!(
            "at most {MAX_DEFINITIONS} calculated metrics; remove one first"
        )));
    }
    let key = format!("{}{id}", settings::METRIC_PREFIX);
    let value = serde_json::to_value(&c.def).map_err(|_| ApiError::internal())?;
    state.store.put_setting(&tenant, &key, &value).await?;
    changed(&state, &tenant).await;
    tracing::info!(tenant = %tenant, metric = %id, by = %user.user_id, "calculated metric set");
    Ok(Json(calculated_view(&c)))
}

/// Removes a calculated metric and its goal.
#[utoipa::path(
    delete,
    path = "/api/admin/metrics/{id}",
    tag = "settings",
    params(("id" = String, Path, description = "The calculated metric's id."), TenantParam),
    responses((status = 204, description = "Removed.")),
    security(("bearer" = []))
)]
pub(crate) async fn delete_metric(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<TenantParam>,
) -> Result<StatusCode, ApiError> {
    let tenant = target_tenant(&user, &p)?;
    if metric(&id).is_some() {
        return Err(ApiError::bad_request(format!(
            "{id} is a built-in metric; only calculated metrics can be removed"
        )));
    }
    let goal = format!("{}{id}", settings::GOAL_PREFIX);
    state.store.delete_setting(&tenant, &goal).await?;
    let key = format!("{}{id}", settings::METRIC_PREFIX);
    remove(&state, &tenant, &key, "no calculated metric by this id").await
}
