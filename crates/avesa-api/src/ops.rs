//! The operations API: what the CLI does for tenants, services and users, with the same
//! checks, for tenant admins (their own tenant) and platform admins (any tenant, named
//! explicitly with `?tenant=`; the tenants themselves).
//!
//! | Route | Who | Does |
//! |---|---|---|
//! | `GET /api/admin/tenants`, `POST /api/admin/tenants {id, name}` | platform admin | list, create |
//! | `GET /api/admin/services` | admins | the tenant's services (never their credentials) |
//! | `PUT /api/admin/services/{service} {credentials, test?}` | admins | attach, or replace the credentials (tested against the vendor unless `test: false`) |
//! | `PATCH /api/admin/services/{service} {enabled?, schedule?}` | admins | switch runs on/off, set the schedule (`null`: the default) |
//! | `POST /api/admin/services/{service}/test` | admins | try the stored credentials |
//! | `GET /api/admin/users`, `POST /api/admin/users {email, name?, role, password}` | admins | list, create |
//! | `PATCH /api/admin/users/{id} {name?, role?, disabled?}` | admins | change; disabling ends the user's sessions |
//! | `POST /api/admin/users/{id}/password {password}` | admins | reset; ends the user's sessions |
//! | `GET /api/admin/freshness` | admins | per service and table: last commit, watermark, records |

use std::collections::BTreeMap;

use async_trait::async_trait;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use avesa_model::{Role, TenantId};
use avesa_state::{NewUser, StateError, User, UserUpdate};

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::{AppState, AuthUser};

/// What the API needs of the pipeline's catalogue to manage services: the API crate does
/// not link the connectors; the binary hands it this.
#[async_trait]
pub trait ServiceAdmin: Send + Sync + 'static {
    /// The services that can be attached: name → the credential fields it takes
    /// (`name`, whether optional).
    fn known(&self) -> BTreeMap<String, Vec<(String, bool)>>;
    /// Checks the fields and seals them for the tenant's service, testing them against
    /// the vendor first when `test`. `Err`: what is wrong, naming the field.
    async fn seal(
        &self,
        tenant: &TenantId,
        service: &str,
        fields: BTreeMap<String, String>,
        test: bool,
    ) -> Result<Vec<u8>, String>;
    /// Tries a stored, sealed configuration against the vendor.
    async fn test(&self, tenant: &TenantId, service: &str, sealed: &[u8]) -> Result<(), String>;
    /// Checks a schedule (a 5-field cron expression, UTC).
    fn check_schedule(&self, cron: &str) -> Result<(), String>;
}

const ADMINS: &[Role] = &[Role::TenantAdmin, Role::PlatformAdmin];

/// `?tenant=`: which tenant a platform admin acts on.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantParam {
    pub tenant: Option<String>,
}

/// The tenant an admin route acts on: a tenant admin's own (naming another is refused as
/// if it did not exist); the one a platform admin names (required).
pub(crate) fn target_tenant(user: &AuthUser, param: &TenantParam) -> Result<TenantId, ApiError> {
    user.require_role(ADMINS)?;
    let named = param
        .tenant
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            TenantId::new(t).map_err(|e| {
                ApiError::bad_request(format!("tenant: {e}"))
                    .with_details(json!({ "param": "tenant" }))
            })
        })
        .transpose()?;
    match (user.role, named) {
        (Role::PlatformAdmin, Some(t)) => Ok(t),
        (Role::PlatformAdmin, None) => {
            Err(ApiError::bad_request("a platform admin names the tenant: add ?tenant=<tenant id>")
                .with_details(json!({ "param": "tenant" })))
        }
        (_, Some(t)) if t != user.tenant => Err(ApiError::not_found("tenant not found")),
        _ => Ok(user.tenant.clone()),
    }
}

async fn existing_tenant(state: &AppState, t: &TenantId) -> Result<(), ApiError> {
    match state.store.get_tenant(t).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found("tenant not found")),
    }
}

fn service_admin(state: &AppState) -> Result<&dyn ServiceAdmin, ApiError> {
    state
        .services
        .as_deref()
        .ok_or_else(|| ApiError::unavailable("this server does not manage services"))
}

// ---- tenants ----

/// The body of `POST /api/admin/tenants`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    id: String,
    name: String,
}

pub(crate) async fn list_tenants(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Value>, ApiError> {
    user.require_role(&[Role::PlatformAdmin])?;
    Ok(Json(json!({ "items": state.store.list_tenants().await? })))
}

pub(crate) async fn create_tenant(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<NewTenant>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    user.require_role(&[Role::PlatformAdmin])?;
    let id = TenantId::new(body.id.trim()).map_err(|e| {
        ApiError::bad_request(format!("id: {e}")).with_details(json!({"field": "id"}))
    })?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::bad_request("name: 1 to 200 characters")
            .with_details(json!({ "field": "name" })));
    }
    let tenant = state.store.create_tenant(&id, name).await.map_err(conflict)?;
    tracing::info!(tenant = %id, by = %user.user_id, "tenant created");
    Ok((StatusCode::CREATED, Json(json!(tenant))))
}

fn conflict(e: StateError) -> ApiError {
    match e {
        StateError::AlreadyExists(what) => ApiError::conflict(format!("{what} already exists")),
        StateError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
        other => other.into(),
    }
}

// ---- services ----

pub(crate) async fn list_services(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(p): ApiQuery<TenantParam>,
) -> Result<Json<Value>, ApiError> {
    let tenant = target_tenant(&user, &p)?;
    existing_tenant(&state, &tenant).await?;
    let items: Vec<Value> = state
        .store
        .list_services(&tenant)
        .await?
        .into_iter()
        .map(|s| json!({ "service": s.service, "enabled": s.enabled, "schedule": s.schedule }))
        .collect();
    let known = state.services.as_ref().map(|s| {
        s.known()
            .into_iter()
            .map(|(name, fields)| {
                let fields: Vec<Value> = fields
                    .into_iter()
                    .map(|(f, optional)| json!({ "name": f, "optional": optional }))
                    .collect();
                json!({ "service": name, "fields": fields })
            })
            .collect::<Vec<_>>()
    });
    Ok(Json(json!({ "items": items, "available": known })))
}

/// The body of `PUT /api/admin/services/{service}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutService {
    credentials: BTreeMap<String, String>,
    #[serde(default = "yes")]
    test: bool,
}

fn yes() -> bool {
    true
}

pub(crate) async fn put_service(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(service): ApiPath<String>,
    ApiQuery(p): ApiQuery<TenantParam>,
    ApiJson(body): ApiJson<PutService>,
) -> Result<Json<Value>, ApiError> {
    let tenant = target_tenant(&user, &p)?;
    existing_tenant(&state, &tenant).await?;
    let admin = service_admin(&state)?;
    let sealed = admin
        .seal(&tenant, &service, body.credentials, body.test)
        .await
        .map_err(ApiError::bad_request)?;
    state.store.upsert_service(&tenant, &service, &sealed).await?;
    tracing::info!(tenant = %tenant, %service, by = %user.user_id, "service credentials set");
    Ok(Json(json!({ "service": service, "tested": body.test })))
}

/// The body of `PATCH /api/admin/services/{service}`: `schedule: null` resets it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchService {
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "some_or_null")]
    schedule: Option<Option<String>>,
}

/// A field that may be absent (`None`), null (`Some(None)`) or a value.
fn some_or_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

pub(crate) async fn patch_service(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(service): ApiPath<String>,
    ApiQuery(p): ApiQuery<TenantParam>,
    ApiJson(body): ApiJson<PatchService>,
) -> Result<Json<Value>, ApiError> {
    let tenant = target_tenant(&user, &p)?;
    let services = state.store.list_services(&tenant).await?;
    if !services.iter().any(|s| s.service == service) {
        return Err(ApiError::not_found("service not found"));
    }
    if let Some(Some(cron)) = &body.schedule {
        service_admin(&state)?.check_schedule(cron).map_err(|e| {
            ApiError::bad_request(format!("schedule: {e}"))
                .with_details(json!({"field": "schedule"}))
        })?;
    }
    if let Some(enabled) = body.enabled {
        state.store.set_service_enabled(&tenant, &service, enabled).await?;
    }
    if let Some(schedule) = &body.schedule {
        state.store.set_schedule(&tenant, &service, schedule.as_deref()).await.map_err(conflict)?;
    }
    let s = state
        .store
        .list_services(&tenant)
        .await?
        .into_iter()
        .find(|s| s.service == service)
        .ok_or_else(|| ApiError::not_found("service not found"))?;
    Ok(Json(json!({ "service": s.service, "enabled": s.enabled, "schedule": s.schedule })))
}

pub(crate) async fn test_service(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(service): ApiPath<String>,
    ApiQuery(p): ApiQuery<TenantParam>,
) -> Result<Json<Value>, ApiError> {
    let tenant = target_tenant(&user, &p)?;
    let svc = state
        .store
        .list_services(&tenant)
        .await?
        .into_iter()
        .find(|s| s.service == service)
        .ok_or_else(|| ApiError::not_found("service not found"))?;
    match service_admin(&state)?.test(&tenant, &service, &svc.sealed_config).await {
        Ok(()) => Ok(Json(json!({ "service": service, "ok": true }))),
        Err(why) => Ok(Json(json!({ "service": service, "ok": false, "error": why }))),
    }
}

// ---- users ----

/// A user as the operations API shows one (never the password hash).
fn user_json(u: &User) -> Value {
    json!({
        "id": u.id, "email": u.email, "name": u.name, "role": u.role,
        "tenant_id": u.tenant_id, "disabled": u.disabled,
    })
}

/// Whether the caller may give (or take) `role`: only a platform admin deals in platform
/// admins.
fn may_grant(user: &AuthUser, role: Role) -> Result<(), ApiError> {
    if role == Role::PlatformAdmin && user.role != Role::PlatformAdmin {
        return Err(ApiError::forbidden("only a platform admin grants or changes platform_admin"));
    }
    Ok(())
}

pub(crate) async fn list_users(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(p): ApiQuery<TenantParam>,
) -> Result<Json<Value>, ApiError> {
    let tenant = target_tenant(&user, &p)?;
    let items: Vec<Value> = state.store.list_users(&tenant).await?.iter().map(user_json).collect();
    Ok(Json(json!({ "items": items })))
}

/// The body of `POST /api/admin/users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    email: String,
    name: Option<String>,
    role: String,
    password: String,
}

fn field(name: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("{name}: {why}")).with_details(json!({ "field": name }))
}

fn parse_role(raw: &str) -> Result<Role, ApiError> {
    raw.parse::<Role>().map_err(|e| field("role", e))
}

async fn hash_off_reactor(state: &AppState, password: String) -> Result<String, ApiError> {
    crate::password::check_new_password(&password).map_err(|e| field("password", e))?;
    let _permit = state.hashing.clone().acquire_owned().await.map_err(|_| ApiError::internal())?;
    tokio::task::spawn_blocking(move || crate::password::hash_password(&password)).await.map_err(
        |e| {
            tracing::error!(error = %e, "password hashing task failed");
            ApiError::internal()
        },
    )
}

pub(crate) async fn create_user(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(p): ApiQuery<TenantParam>,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant = target_tenant(&user, &p)?;
    existing_tenant(&state, &tenant).await?;
    let role = parse_role(&body.role)?;
    may_grant(&user, role)?;
    let email = body.email.trim().to_lowercase();
    let at = email.find('@');
    if email.len() > 254 || at.is_none_or(|i| i == 0 || i + 1 == email.len()) {
        return Err(field("email", "expected an address such as ann@example.com"));
    }
    let name = body.name.as_deref().map(str::trim).filter(|n| !n.is_empty()).unwrap_or(&email);
    let password_hash = hash_off_reactor(&state, body.password).await?;
    let created = state
        .store
        .create_user(NewUser {
            tenant_id: tenant.clone(),
            email: email.clone(),
            name: name.to_owned(),
            role,
            password_hash,
        })
        .await
        .map_err(conflict)?;
    tracing::info!(tenant = %tenant, user = %created.id, by = %user.user_id, "user created");
    Ok((StatusCode::CREATED, Json(user_json(&created))))
}

/// The body of `PATCH /api/admin/users/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    name: Option<String>,
    role: Option<String>,
    disabled: Option<bool>,
}

async fn users_target(state: &AppState, tenant: &TenantId, id: &str) -> Result<User, ApiError> {
    state.store.get_user(tenant, id).await?.ok_or_else(|| ApiError::not_found("user not found"))
}

pub(crate) async fn patch_user(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<TenantParam>,
    ApiJson(body): ApiJson<PatchUser>,
) -> Result<Json<Value>, ApiError> {
    let tenant = target_tenant(&user, &p)?;
    let target = users_target(&state, &tenant, &id).await?;
    may_grant(&user, target.role)?;
    let role = body.role.as_deref().map(parse_role).transpose()?;
    if let Some(r) = role {
        may_grant(&user, r)?;
    }
    if target.id == user.user_id
        && (body.disabled == Some(true) || role.is_some_and(|r| r != user.role))
    {
        return Err(ApiError::bad_request(
            "you cannot disable yourself or change your own role; ask another admin",
        ));
    }
    let name = match body.name.as_deref().map(str::trim) {
        Some("") => return Err(field("name", "must not be empty")),
        n => n.map(str::to_owned),
    };
    let update = UserUpdate { name, role, disabled: body.disabled, password_hash: None };
    let changed = state
        .store
        .update_user(&tenant, &id, update)
        .await?
        .ok_or_else(|| ApiError::not_found("user not found"))?;
    if body.disabled == Some(true) || role.is_some() {
        // A disabled user's sessions end; a new role takes effect at the next sign-in.
        if body.disabled == Some(true) {
            state.store.revoke_user_tokens(&tenant, &id).await?;
        }
        state.sessions.forget_user(&tenant, &id);
    }
    tracing::info!(tenant = %tenant, user = %id, by = %user.user_id, "user changed");
    Ok(Json(user_json(&changed)))
}

/// The body of `POST /api/admin/users/{id}/password`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    password: String,
}

pub(crate) async fn reset_password(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<TenantParam>,
    ApiJson(body): ApiJson<ResetPassword>,
) -> Result<StatusCode, ApiError> {
    let tenant = target_tenant(&user, &p)?;
    let target = users_target(&state, &tenant, &id).await?;
    may_grant(&user, target.role)?;
    let password_hash = hash_off_reactor(&state, body.password).await?;
    state
        .store
        .update_user(
            &tenant,
            &id,
            UserUpdate { password_hash: Some(password_hash), ..UserUpdate::default() },
        )
        .await?;
    // Whoever knew the old password is signed out everywhere.
    state.store.revoke_user_tokens(&tenant, &id).await?;
    state.sessions.forget_user(&tenant, &id);
    tracing::info!(tenant = %tenant, user = %id, by = %user.user_id, "password reset");
    Ok(StatusCode::NO_CONTENT)
}

// ---- freshness ----

pub(crate) async fn freshness(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(p): ApiQuery<TenantParam>,
) -> Result<Json<Value>, ApiError> {
    let tenant = target_tenant(&user, &p)?;
    let now = chrono::Utc::now();
    let items: Vec<Value> = state
        .store
        .table_freshness(&tenant)
        .await?
        .into_iter()
        .map(|f| {
            let age = f.last_commit_at.map(|at| (now - at).num_seconds().max(0));
            let mut v = json!(f);
            v["age_secs"] = json!(age);
            v
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}
