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
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use avesa_model::{Role, TenantId};
use avesa_state::{NewUser, StateError, TableFreshness, Tenant, User, UserUpdate};

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
    /// How often the scheduler reads `table` of `service` when the service has no
    /// schedule of its own; `None` for a table it does not know.
    fn refresh_every(&self, _service: &str, _table: &str) -> Option<std::time::Duration> {
        None
    }
}

const ADMINS: &[Role] = &[Role::TenantAdmin, Role::PlatformAdmin];

/// `?tenant=`: which tenant a platform admin acts on.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TenantParam {
    /// The tenant (platform admins must name it; a tenant admin's is their own).
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
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// Lowercase letters, digits, `-` and `_`, starting with a letter.
    #[schema(example = "acme")]
    id: String,
    /// 1 to 200 characters.
    name: String,
}

crate::openapi::items!(
    /// Every tenant.
    TenantList,
    Tenant
);

/// Every tenant (platform admins).
#[utoipa::path(
    get,
    path = "/api/admin/tenants",
    tag = "tenants",
    responses((status = 200, description = "Tenants.", body = TenantList)),
    security(("bearer" = []))
)]
pub(crate) async fn list_tenants(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<TenantList>, ApiError> {
    user.require_role(&[Role::PlatformAdmin])?;
    Ok(Json(TenantList { items: state.store.list_tenants().await? }))
}

/// Creates a tenant (platform admins).
#[utoipa::path(
    post,
    path = "/api/admin/tenants",
    tag = "tenants",
    request_body = NewTenant,
    responses(
        (status = 201, description = "Created.", body = Tenant),
        (status = 409, description = "A tenant with this id exists.", body = crate::openapi::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn create_tenant(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<NewTenant>,
) -> Result<(StatusCode, Json<Tenant>), ApiError> {
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
    Ok((StatusCode::CREATED, Json(tenant)))
}

fn conflict(e: StateError) -> ApiError {
    match e {
        StateError::AlreadyExists(what) => ApiError::conflict(format!("{what} already exists")),
        StateError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
        other => other.into(),
    }
}

// ---- services ----

/// A service attached to a tenant (never its credentials).
#[derive(Serialize, ToSchema)]
pub struct ServiceView {
    pub service: String,
    /// Whether scheduled and triggered runs include it.
    pub enabled: bool,
    /// A 5-field cron expression (UTC); null: the default (hourly).
    pub schedule: Option<String>,
}

impl From<avesa_state::ServiceRecord> for ServiceView {
    fn from(s: avesa_state::ServiceRecord) -> Self {
        ServiceView { service: s.service, enabled: s.enabled, schedule: s.schedule }
    }
}

/// A credential field a service takes.
#[derive(Serialize, ToSchema)]
pub struct CredentialField {
    pub name: String,
    pub optional: bool,
}

/// A service that can be attached, and the credentials it takes.
#[derive(Serialize, ToSchema)]
pub struct AvailableService {
    pub service: String,
    pub fields: Vec<CredentialField>,
}

/// `GET /api/admin/services`.
#[derive(Serialize, ToSchema)]
pub struct ServiceList {
    pub items: Vec<ServiceView>,
    /// What can be attached; null where this server does not manage services.
    pub available: Option<Vec<AvailableService>>,
}

/// The tenant's services, and those that can be attached.
#[utoipa::path(
    get,
    path = "/api/admin/services",
    tag = "services",
    params(TenantParam),
    responses((status = 200, description = "Services.", body = ServiceList)),
    security(("bearer" = []))
)]
pub(crate) async fn list_services(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(p): ApiQuery<TenantParam>,
) -> Result<Json<ServiceList>, ApiError> {
    let tenant = target_tenant(&user, &p)?;
    existing_tenant(&state, &tenant).await?;
    let items = state.store.list_services(&tenant).await?.into_iter().map(Into::into).collect();
    let available = state.services.as_ref().map(|s| {
        s.known()
            .into_iter()
            .map(|(service, fields)| AvailableService {
                service,
                fields: fields
                    .into_iter()
                    .map(|(name, optional)| CredentialField { name, optional })
                    .collect(),
            })
            .collect()
    });
    Ok(Json(ServiceList { items, available }))
}

/// The body of `PUT /api/admin/services/{service}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutService {
    /// The service's credential fields (see `available` in `GET /api/admin/services`).
    credentials: BTreeMap<String, String>,
    /// Try them against the vendor before storing them (default true).
    #[serde(default = "yes")]
    test: bool,
}

/// Credentials stored.
#[derive(Serialize, ToSchema)]
pub struct ServiceSet {
    pub service: String,
    /// Whether they were tried against the vendor first.
    pub tested: bool,
}

fn yes() -> bool {
    true
}

/// Attaches a service to the tenant, or replaces its credentials (sealed at rest, bound
/// to the tenant and service, never returned).
#[utoipa::path(
    put,
    path = "/api/admin/services/{service}",
    tag = "services",
    params(("service" = String, Path, description = "The service, e.g. `connectwise`."), TenantParam),
    request_body = PutService,
    responses((status = 200, description = "Stored.", body = ServiceSet)),
    security(("bearer" = []))
)]
pub(crate) async fn put_service(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(service): ApiPath<String>,
    ApiQuery(p): ApiQuery<TenantParam>,
    ApiJson(body): ApiJson<PutService>,
) -> Result<Json<ServiceSet>, ApiError> {
    let tenant = target_tenant(&user, &p)?;
    existing_tenant(&state, &tenant).await?;
    let admin = service_admin(&state)?;
    let sealed = admin
        .seal(&tenant, &service, body.credentials, body.test)
        .await
        .map_err(ApiError::bad_request)?;
    state.store.upsert_service(&tenant, &service, &sealed).await?;
    tracing::info!(tenant = %tenant, %service, by = %user.user_id, "service credentials set");
    Ok(Json(ServiceSet { service, tested: body.test }))
}

/// The body of `PATCH /api/admin/services/{service}`: `schedule: null` resets it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchService {
    /// Switch runs of the service on or off.
    enabled: Option<bool>,
    /// A 5-field cron expression (UTC); null resets the default (hourly).
    #[serde(default, deserialize_with = "some_or_null")]
    #[schema(value_type = Option<String>, example = "*/15 * * * *")]
    schedule: Option<Option<String>>,
}

/// A field that may be absent (`None`), null (`Some(None)`) or a value.
fn some_or_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// Switches a service on or off, or sets its schedule.
#[utoipa::path(
    patch,
    path = "/api/admin/services/{service}",
    tag = "services",
    params(("service" = String, Path, description = "The service, e.g. `connectwise`."), TenantParam),
    request_body = PatchService,
    responses((status = 200, description = "The service as it now is.", body = ServiceView)),
    security(("bearer" = []))
)]
pub(crate) async fn patch_service(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(service): ApiPath<String>,
    ApiQuery(p): ApiQuery<TenantParam>,
    ApiJson(body): ApiJson<PatchService>,
) -> Result<Json<ServiceView>, ApiError> {
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
    Ok(Json(s.into()))
}

/// What a credentials test found.
#[derive(Serialize, ToSchema)]
pub struct ServiceTest {
    pub service: String,
    pub ok: bool,
    /// Why not, in the vendor's words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Tries the stored credentials against the vendor.
#[utoipa::path(
    post,
    path = "/api/admin/services/{service}/test",
    tag = "services",
    params(("service" = String, Path, description = "The service, e.g. `connectwise`."), TenantParam),
    responses((status = 200, description = "The outcome (200 also when the vendor refuses).", body = ServiceTest)),
    security(("bearer" = []))
)]
pub(crate) async fn test_service(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(service): ApiPath<String>,
    ApiQuery(p): ApiQuery<TenantParam>,
) -> Result<Json<ServiceTest>, ApiError> {
    let tenant = target_tenant(&user, &p)?;
    let svc = state
        .store
        .list_services(&tenant)
        .await?
        .into_iter()
        .find(|s| s.service == service)
        .ok_or_else(|| ApiError::not_found("service not found"))?;
    match service_admin(&state)?.test(&tenant, &service, &svc.sealed_config).await {
        Ok(()) => Ok(Json(ServiceTest { service, ok: true, error: None })),
        Err(why) => Ok(Json(ServiceTest { service, ok: false, error: Some(why) })),
    }
}

// ---- users ----

/// A user as the operations API shows one (never the password hash).
#[derive(Serialize, ToSchema)]
pub struct AdminUser {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub tenant_id: TenantId,
    /// A disabled user cannot sign in; their sessions have ended.
    pub disabled: bool,
}

fn user_json(u: &User) -> AdminUser {
    AdminUser {
        id: u.id.clone(),
        email: u.email.clone(),
        name: u.name.clone(),
        role: u.role,
        tenant_id: u.tenant_id.clone(),
        disabled: u.disabled,
    }
}

crate::openapi::items!(
    /// The tenant's users.
    UserList,
    AdminUser
);

/// Whether the caller may give (or take) `role`: only a platform admin deals in platform
/// admins.
fn may_grant(user: &AuthUser, role: Role) -> Result<(), ApiError> {
    if role == Role::PlatformAdmin && user.role != Role::PlatformAdmin {
        return Err(ApiError::forbidden("only a platform admin grants or changes platform_admin"));
    }
    Ok(())
}

/// The tenant's users.
#[utoipa::path(
    get,
    path = "/api/admin/users",
    tag = "users",
    params(TenantParam),
    responses((status = 200, description = "Users.", body = UserList)),
    security(("bearer" = []))
)]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(p): ApiQuery<TenantParam>,
) -> Result<Json<UserList>, ApiError> {
    let tenant = target_tenant(&user, &p)?;
    let items = state.store.list_users(&tenant).await?.iter().map(user_json).collect();
    Ok(Json(UserList { items }))
}

/// The body of `POST /api/admin/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    #[schema(example = "ann@example.com")]
    email: String,
    /// Default: the email.
    name: Option<String>,
    /// `tenant_admin`, `analyst` or `viewer` (`platform_admin` only from a platform admin).
    #[schema(example = "analyst")]
    role: String,
    /// At least 12 characters.
    password: String,
}

/// A 400 naming the body field at fault.
pub(crate) fn field(name: &str, why: impl std::fmt::Display) -> ApiError {
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

/// Creates a user of the tenant.
#[utoipa::path(
    post,
    path = "/api/admin/users",
    tag = "users",
    params(TenantParam),
    request_body = CreateUser,
    responses(
        (status = 201, description = "Created.", body = AdminUser),
        (status = 404, description = "No such tenant.", body = crate::openapi::ErrorBody),
        (status = 409, description = "A user with this email exists.", body = crate::openapi::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(p): ApiQuery<TenantParam>,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<AdminUser>), ApiError> {
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
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    name: Option<String>,
    /// A new role; takes effect at the user's next sign-in or refresh.
    role: Option<String>,
    /// Disabling ends the user's sessions at once.
    disabled: Option<bool>,
}

async fn users_target(state: &AppState, tenant: &TenantId, id: &str) -> Result<User, ApiError> {
    state.store.get_user(tenant, id).await?.ok_or_else(|| ApiError::not_found("user not found"))
}

/// Renames a user, changes their role, or disables or re-enables them.
#[utoipa::path(
    patch,
    path = "/api/admin/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "The user id."), TenantParam),
    request_body = PatchUser,
    responses((status = 200, description = "The user as they now are.", body = AdminUser)),
    security(("bearer" = []))
)]
pub(crate) async fn patch_user(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<TenantParam>,
    ApiJson(body): ApiJson<PatchUser>,
) -> Result<Json<AdminUser>, ApiError> {
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
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    /// At least 12 characters.
    password: String,
}

/// Sets a user's password and ends their sessions.
#[utoipa::path(
    post,
    path = "/api/admin/users/{id}/password",
    tag = "users",
    params(("id" = String, Path, description = "The user id."), TenantParam),
    request_body = ResetPassword,
    responses((status = 204, description = "Reset.")),
    security(("bearer" = []))
)]
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

/// How fresh one table is.
#[derive(Serialize, ToSchema)]
pub struct Freshness {
    #[serde(flatten)]
    pub table: TableFreshness,
    /// Seconds since a chunk of the table last committed (every scheduled read commits,
    /// even one that finds nothing new); null if never.
    pub age_secs: Option<i64>,
    /// The service's own schedule (5-field cron, UTC); null when the table is read on its
    /// refresh interval.
    pub schedule: Option<String>,
    /// How often the scheduler reads the table when its service has no schedule of its
    /// own (tickets and time every 240 s by default, reference tables every 3,600 s).
    pub refresh_secs: Option<u64>,
    /// Older than two refresh intervals: scheduled reads are failing or not running (the
    /// service is disabled, the scheduler is off, the vendor refuses).
    pub overdue: bool,
}

crate::openapi::items!(
    /// Per service and table.
    FreshnessList,
    Freshness
);

/// Per service and table: when data last landed, the watermark, records committed.
#[utoipa::path(
    get,
    path = "/api/admin/freshness",
    tag = "services",
    params(TenantParam),
    responses((status = 200, description = "Tables.", body = FreshnessList)),
    security(("bearer" = []))
)]
pub(crate) async fn freshness(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(p): ApiQuery<TenantParam>,
) -> Result<Json<FreshnessList>, ApiError> {
    let tenant = target_tenant(&user, &p)?;
    let now = chrono::Utc::now();
    let services = state.store.list_services(&tenant).await?;
    let items = state
        .store
        .table_freshness(&tenant)
        .await?
        .into_iter()
        .map(|f| {
            let age_secs = f.last_commit_at.map(|at| (now - at).num_seconds().max(0));
            let svc = services.iter().find(|s| s.service == f.service);
            let schedule = svc.and_then(|s| s.schedule.clone());
            let refresh_secs = match (&schedule, &state.services) {
                (None, Some(admin)) => {
                    admin.refresh_every(&f.service, &f.table).map(|d| d.as_secs())
                }
                _ => None,
            };
            let overdue = svc.is_some_and(|s| s.enabled)
                && match (refresh_secs, age_secs) {
                    (Some(every), Some(age)) => age > 2 * every as i64,
                    _ => false,
                };
            Freshness { age_secs, schedule, refresh_secs, overdue, table: f }
        })
        .collect();
    Ok(Json(FreshnessList { items }))
}
