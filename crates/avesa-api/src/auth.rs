//! Authentication: login, refresh-token rotation, logout, `me`, and the [`AuthUser`]
//! extractor every protected handler takes.
//!
//! * **Access tokens** are JWTs signed with HS256 — the only algorithm accepted, whatever a
//!   token's header claims (so `alg: none` and RS/HS confusion fail). Claims: `sub` (user
//!   id), `tid` (tenant id), `role`, `iat`, `exp`, `iss`, `aud`; all are required and `exp`,
//!   `iss`, `aud` are checked (30 s leeway), `iat` must not be in the future.
//! * **Refresh tokens** are 256 random bits (base64url), stored only as their SHA-256. Each
//!   login starts a *family*; each refresh marks the presented token used and issues a new
//!   one in the same family. Presenting a used token again means it was stolen or replayed:
//!   the whole family is revoked and the call fails. Logout revokes the family.
//! * **The tenant** of a request comes only from the verified token's `tid`; no handler
//!   reads a tenant from the URL, the query or the body.

use axum::Json;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use avesa_model::{Role, TenantId};
use avesa_state::{NewRefreshToken, Tenant, User};

use crate::AppState;
use crate::config::AuthConfig;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::password::{dummy_hash, verify_password};

/// Clock skew tolerated when checking `exp` and `iat`, in seconds.
pub const LEEWAY_SECS: u64 = 30;

/// The claims of an access token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The tenant id.
    pub tid: String,
    /// The user's role (`platform_admin`, `tenant_admin`, `analyst`, `viewer`).
    pub role: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    /// The session: the refresh-token family the token was issued in. Logging out,
    /// refresh-token reuse, disabling the user or a new password end it, and with it
    /// every access token of the session.
    pub sid: String,
}

/// The caller of a protected route, as proven by a valid access token.
///
/// Extracting it fails with 401 `unauthorized` (and `WWW-Authenticate: Bearer`) when the
/// `Authorization: Bearer` header is missing or the token does not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthUser {
    pub user_id: String,
    /// The caller's tenant: the only tenant any of its requests may touch.
    pub tenant: TenantId,
    pub role: Role,
    /// The session the token belongs to.
    pub session: String,
}

impl AuthUser {
    /// 403 `forbidden` unless the caller has one of `roles`.
    pub fn require_role(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("the {} role may not do this", self.role)))
        }
    }
}

impl<S> FromRequestParts<S> for AuthUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Already verified by a middleware of this request (the read routes' cache).
        if let Some(user) = parts.extensions.get::<AuthUser>() {
            return Ok(user.clone());
        }
        let state = AppState::from_ref(state);
        AuthUser::authenticate(parts, &state).await
    }
}

impl AuthUser {
    /// Verifies the request's bearer token.
    pub async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            // A download link (an export the browser streams to disk) carries its own token.
            if let Some(user) = crate::links::authenticate(parts, state).await {
                return user;
            }
            return Err(ApiError::unauthorized(
                "missing access token: send `Authorization: Bearer <access token>`",
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("malformed Authorization header: expected `Bearer <token>`")
            })?;
        let user = verify_access_token(&state.auth, token)?;
        if !state.sessions.live(state, &user).await? {
            return Err(ApiError::unauthorized(
                "the session has ended (signed out, revoked or the account disabled); sign in again",
            ));
        }
        Ok(user)
    }
}

/// How long a session's standing is remembered before the state store is asked again.
/// Ending a session in this process takes effect at once; in another serving process,
/// within this long.
pub const SESSION_RECHECK: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether sessions still stand (the user exists and is enabled, the session's
/// refresh-token family is not revoked), remembered for [`SESSION_RECHECK`] so that a
/// request costs no state-store query.
pub struct Sessions {
    cache: moka::future::Cache<String, bool>,
    /// The download links followed (by id), kept past their lifetime: each opens once.
    used_links: moka::future::Cache<String, ()>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            cache: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(SESSION_RECHECK)
                .support_invalidation_closures()
                .build(),
            used_links: moka::future::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(std::time::Duration::from_secs(
                    2 * (crate::links::LINK_TTL_SECS as u64 + LEEWAY_SECS),
                ))
                .build(),
        }
    }
}

impl Sessions {
    /// Whether this is the first time the download link `id` is followed (in this
    /// process: with several serving processes a link opens at most once in each, within
    /// its minute).
    pub async fn first_use_of_link(&self, id: &str) -> bool {
        let entry = self.used_links.entry(id.to_owned()).or_insert(()).await;
        entry.is_fresh()
    }

    fn key(tenant: &TenantId, user_id: &str, session: &str) -> String {
        format!("{tenant}\n{user_id}\n{session}")
    }

    /// Whether the caller's session stands.
    pub async fn live(&self, state: &AppState, user: &AuthUser) -> Result<bool, ApiError> {
        let store = state.store.clone();
        let u = user.clone();
        self.cache
            .try_get_with(Self::key(&user.tenant, &user.user_id, &user.session), async move {
                let Some(found) = store.get_user(&u.tenant, &u.user_id).await? else {
                    return Ok(false);
                };
                if found.disabled {
                    return Ok(false);
                }
                store.session_live(&u.tenant, &u.user_id, &u.session).await
            })
            .await
            .map_err(|e: std::sync::Arc<avesa_state::StateError>| {
                tracing::error!(error = %e, "cannot check a session");
                ApiError::internal()
            })
    }

    /// Forgets what is known of a session (it was just ended here).
    pub async fn forget(&self, tenant: &TenantId, user_id: &str, session: &str) {
        self.cache.invalidate(&Self::key(tenant, user_id, session)).await;
    }

    /// Forgets every session of a user (disabled, or given a new password).
    pub fn forget_user(&self, tenant: &TenantId, user_id: &str) {
        let prefix = format!("{tenant}\n{user_id}\n");
        if let Err(e) = self.cache.invalidate_entries_if(move |k, _| k.starts_with(&prefix)) {
            tracing::error!(error = %e, "cannot forget a user's sessions; they end within the recheck");
        }
    }
}

/// Signs an access token for a user. Returns the token and its lifetime in seconds.
pub fn issue_access_token(
    cfg: &AuthConfig,
    user_id: &str,
    tenant: &TenantId,
    role: Role,
    session: &str,
) -> Result<(String, i64), ApiError> {
    let now = Utc::now().timestamp();
    let ttl = cfg.access_ttl.num_seconds().max(1);
    let claims = Claims {
        sub: user_id.to_owned(),
        tid: tenant.as_str().to_owned(),
        role: role.as_str().to_owned(),
        iat: now,
        exp: now + ttl,
        iss: cfg.issuer.clone(),
        aud: cfg.audience.clone(),
        sid: session.to_owned(),
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&cfg.jwt_secret),
    )
    .map_err(|e| {
        tracing::error!(error = %e, "cannot sign an access token");
        ApiError::internal()
    })?;
    Ok((token, ttl))
}

/// Verifies an access token: HS256 only, signature, `exp`, `iat`, `iss`, `aud`, and that
/// `tid` and `role` are well-formed.
pub fn verify_access_token(cfg: &AuthConfig, token: &str) -> Result<AuthUser, ApiError> {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_issuer(&[&cfg.issuer]);
    v.set_audience(&[&cfg.audience]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    v.leeway = LEEWAY_SECS;
    v.validate_exp = true;
    v.validate_nbf = false;
    let data =
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&cfg.jwt_secret), &v)
            .map_err(|e| {
                tracing::debug!(error = %e, "access token rejected");
                match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                        ApiError::unauthorized("access token expired")
                    }
                    _ => ApiError::unauthorized("invalid access token"),
                }
            })?;
    let c = data.claims;
    if c.iat > Utc::now().timestamp() + LEEWAY_SECS as i64 {
        return Err(ApiError::unauthorized("invalid access token"));
    }
    let tenant =
        TenantId::new(&c.tid).map_err(|_| ApiError::unauthorized("invalid access token"))?;
    let role =
        c.role.parse::<Role>().map_err(|_| ApiError::unauthorized("invalid access token"))?;
    if c.sub.is_empty() || c.sid.is_empty() {
        return Err(ApiError::unauthorized("invalid access token"));
    }
    Ok(AuthUser { user_id: c.sub, tenant, role, session: c.sid })
}

/// A new opaque refresh token (256 random bits, base64url).
fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// How a refresh token is stored: lowercase hex SHA-256.
pub fn hash_refresh_token(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A user as the API shows it (never the password hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub tenant_id: TenantId,
    pub tenant_name: String,
}

impl UserView {
    fn new(user: &User, tenant: &Tenant) -> Self {
        UserView {
            id: user.id.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            role: user.role,
            tenant_id: user.tenant_id.clone(),
            tenant_name: tenant.name.clone(),
        }
    }
}

/// The answer to login and refresh.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Also set as the HttpOnly cookie [`REFRESH_COOKIE`] (what the UI uses: script never
    /// sees it); API clients keep this one.
    pub refresh_token: String,
    /// Always `"Bearer"`.
    #[schema(value_type = String, example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    pub user: UserView,
    #[serde(skip)]
    refresh_ttl_secs: i64,
}

/// The cookie carrying the refresh token for the UI: `HttpOnly` (no script reads it),
/// `Secure`, `SameSite=Strict` (never sent by another site), only to `/auth`.
pub const REFRESH_COOKIE: &str = "avesa_refresh";

fn refresh_cookie(value: &str, max_age: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{REFRESH_COOKIE}={value}; Path=/auth; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("avesa_refresh=; Path=/auth; Max-Age=0"))
}

impl IntoResponse for TokenResponse {
    fn into_response(self) -> Response {
        let cookie = refresh_cookie(&self.refresh_token, self.refresh_ttl_secs);
        let mut resp = Json(self).into_response();
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp.headers_mut().insert(header::SET_COOKIE, cookie);
        resp
    }
}

/// The refresh token a request carries in its [`REFRESH_COOKIE`], if any.
fn cookie_token(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == REFRESH_COOKIE)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Issues an access token and a refresh token in `family_id`.
async fn issue_pair(
    state: &AppState,
    user: &User,
    tenant: &Tenant,
    family_id: String,
) -> Result<TokenResponse, ApiError> {
    let (access_token, expires_in) =
        issue_access_token(&state.auth, &user.id, &user.tenant_id, user.role, &family_id)?;
    let refresh_token = new_refresh_token();
    state
        .store
        .insert_refresh_token(NewRefreshToken {
            token_hash: hash_refresh_token(&refresh_token),
            family_id,
            user_id: user.id.clone(),
            tenant_id: user.tenant_id.clone(),
            expires_at: Utc::now() + state.auth.refresh_ttl,
        })
        .await?;
    Ok(TokenResponse {
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in,
        user: UserView::new(user, tenant),
        refresh_ttl_secs: state.auth.refresh_ttl.num_seconds().max(1),
    })
}

/// The body of `POST /auth/login`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub tenant_id: String,
    pub email: String,
    pub password: String,
}

/// The one message for every credential failure, so a caller cannot tell an unknown
/// tenant from an unknown user from a wrong password.
pub const BAD_CREDENTIALS: &str = "invalid tenant, email or password";

const MAX_EMAIL_LEN: usize = 254;
const MAX_PASSWORD_LEN: usize = 1024;

/// The client's address as the server saw it (`None` in in-process tests).
pub struct ClientIp(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(crate::server::peer_of(&parts.extensions).map(|a| a.ip())))
    }
}

/// Signs in: an access token (15 minutes) and a refresh token (also set as the
/// `avesa_refresh` HttpOnly cookie).
///
/// Bounded three ways (see [`crate::limiter::LoginLimits`]): failures per account from one
/// address (so nobody elsewhere can lock a user out), failures per address over all
/// accounts (password spraying), and failures per account from everywhere; and at most a
/// few password checks (argon2id, ~19 MiB and tens of milliseconds each) run at once.
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in.", body = TokenResponse),
        (status = 401, description = "Wrong tenant, email or password, or a disabled account.", body = crate::openapi::ErrorBody),
    )
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<TokenResponse, ApiError> {
    let tenant_id = TenantId::new(req.tenant_id.trim())
        .map_err(|e| ApiError::bad_request(format!("tenant_id: {e}")))?;
    let email = req.email.trim().to_lowercase();
    if email.is_empty() || email.len() > MAX_EMAIL_LEN {
        return Err(ApiError::bad_request(format!(
            "email: must be 1 to {MAX_EMAIL_LEN} characters"
        )));
    }
    if req.password.is_empty() || req.password.len() > MAX_PASSWORD_LEN {
        return Err(ApiError::bad_request(format!(
            "password: must be 1 to {MAX_PASSWORD_LEN} bytes"
        )));
    }

    let attempt = match state.login_limiter.begin(tenant_id.as_str(), &email, ip) {
        Ok(a) => a,
        Err(retry_after) => {
            tracing::warn!(tenant = %tenant_id, client = ?ip, "login refused: too many failures");
            return Err(ApiError::rate_limited(
                format!("too many failed logins; try again in {retry_after} seconds"),
                retry_after,
            ));
        }
    };

    let tenant = state.store.get_tenant(&tenant_id).await?;
    let user = match &tenant {
        Some(_) => state.store.find_user_by_email(&tenant_id, &email).await?,
        None => None,
    };
    // Verify something in every case so unknown tenants and users take as long as a
    // wrong password.
    let phc = user.as_ref().map_or_else(|| dummy_hash().to_owned(), |u| u.password_hash.clone());
    let password = req.password;
    let Ok(_permit) =
        tokio::time::timeout(HASHING_WAIT, state.hashing.clone().acquire_owned()).await
    else {
        state.login_limiter.forgive(&attempt);
        return Err(ApiError::rate_limited("too many sign-ins at once; try again shortly", 1));
    };
    let verified = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "password verification task failed");
            ApiError::internal()
        })?;

    let (Some(tenant), Some(user), true) = (tenant, user, verified) else {
        tracing::info!(tenant = %tenant_id, client = ?ip, "login failed");
        return Err(ApiError::unauthorized(BAD_CREDENTIALS));
    };
    state.login_limiter.succeeded(&attempt);
    if user.disabled {
        tracing::info!(tenant = %tenant_id, user = %user.id, "login of a disabled account refused");
        return Err(ApiError::unauthorized("this account is disabled; ask a tenant admin"));
    }
    tracing::info!(tenant = %tenant_id, user = %user.id, "login");
    issue_pair(&state, &user, &tenant, uuid::Uuid::new_v4().to_string()).await
}

/// How long a login waits for a turn to check its password before it is refused 429.
pub const HASHING_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The body of `POST /auth/refresh` and `POST /auth/logout`: the refresh token, or nothing
/// when it travels in the [`REFRESH_COOKIE`].
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// The refresh token of a refresh or logout: the body's, else the cookie's.
fn presented(headers: &axum::http::HeaderMap, req: &RefreshRequest) -> Option<String> {
    req.refresh_token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .or_else(|| cookie_token(headers))
}

/// Trades a refresh token (the body's, else the cookie's) for a new pair. Each refresh
/// token works once: presenting a used one ends the whole session.
#[utoipa::path(
    post,
    path = "/auth/refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair.", body = TokenResponse),
        (status = 401, description = "The refresh token is unknown, used, revoked or expired.", body = crate::openapi::ErrorBody),
    )
)]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<TokenResponse, ApiError> {
    let invalid = || ApiError::unauthorized("invalid refresh token");
    let Some(token) = presented(&headers, &req) else {
        return Err(ApiError::unauthorized("no refresh token: sign in"));
    };
    if token.len() > 256 {
        return Err(invalid());
    }
    let Some(rec) = state.store.use_refresh_token(&hash_refresh_token(&token)).await? else {
        return Err(invalid());
    };
    if rec.revoked {
        return Err(ApiError::unauthorized("refresh token revoked; sign in again"));
    }
    if rec.used {
        tracing::warn!(
            tenant = %rec.tenant_id,
            user = %rec.user_id,
            family = %rec.family_id,
            "refresh token reused: revoking its family"
        );
        state.store.revoke_token_family(&rec.family_id).await?;
        state.sessions.forget(&rec.tenant_id, &rec.user_id, &rec.family_id).await;
        return Err(ApiError::unauthorized(
            "refresh token already used; the session has been revoked, sign in again",
        ));
    }
    if rec.expires_at <= Utc::now() {
        return Err(ApiError::unauthorized("refresh token expired; sign in again"));
    }
    let tenant = state.store.get_tenant(&rec.tenant_id).await?;
    let user = state.store.get_user(&rec.tenant_id, &rec.user_id).await?;
    let (Some(tenant), Some(user)) = (tenant, user.filter(|u| !u.disabled)) else {
        state.store.revoke_token_family(&rec.family_id).await?;
        state.sessions.forget(&rec.tenant_id, &rec.user_id, &rec.family_id).await;
        return Err(invalid());
    };
    issue_pair(&state, &user, &tenant, rec.family_id).await
}

/// `POST /auth/logout`: revokes the token's family — its refresh tokens and the access
/// tokens of the session — and clears the cookie. Unknown tokens are not an error
/// (logging out twice is fine).
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "auth",
    request_body = RefreshRequest,
    responses((status = 204, description = "Signed out (also for an unknown token)."))
)]
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<Response, ApiError> {
    if let Some(token) = presented(&headers, &req)
        && token.len() <= 256
        && let Some(rec) = state.store.use_refresh_token(&hash_refresh_token(&token)).await?
    {
        state.store.revoke_token_family(&rec.family_id).await?;
        state.sessions.forget(&rec.tenant_id, &rec.user_id, &rec.family_id).await;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(header::SET_COOKIE, refresh_cookie("", 0));
    Ok(resp)
}

/// The signed-in user.
#[utoipa::path(
    get,
    path = "/auth/me",
    tag = "auth",
    responses((status = 200, description = "The user of the token.", body = UserView)),
    security(("bearer" = []))
)]
pub(crate) async fn me(
    user: AuthUser,
    State(state): State<AppState>,
) -> Result<Json<UserView>, ApiError> {
    let gone = || ApiError::unauthorized("the account no longer exists");
    let tenant = state.store.get_tenant(&user.tenant).await?.ok_or_else(gone)?;
    let u = state.store.get_user(&user.tenant, &user.user_id).await?.ok_or_else(gone)?;
    Ok(Json(UserView::new(&u, &tenant)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> AuthConfig {
        AuthConfig::new(b"0123456789abcdef0123456789abcdef".to_vec())
    }

    #[test]
    fn access_tokens_round_trip() {
        let t = TenantId::new("acme").unwrap();
        let (tok, ttl) = issue_access_token(&cfg(), "u1", &t, Role::Analyst, "s1").unwrap();
        assert_eq!(ttl, 15 * 60);
        let u = verify_access_token(&cfg(), &tok).unwrap();
        assert_eq!(
            u,
            AuthUser { user_id: "u1".into(), tenant: t, role: Role::Analyst, session: "s1".into() }
        );
    }

    #[test]
    fn wrong_audience_or_issuer_is_rejected() {
        let t = TenantId::new("acme").unwrap();
        let (tok, _) = issue_access_token(&cfg(), "u1", &t, Role::Viewer, "s1").unwrap();
        let mut other = cfg();
        other.audience = "someone-else".into();
        assert!(verify_access_token(&other, &tok).is_err());
        let mut other = cfg();
        other.issuer = "someone-else".into();
        assert!(verify_access_token(&other, &tok).is_err());
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let a = new_refresh_token();
        assert_ne!(a, new_refresh_token());
        assert_eq!(hash_refresh_token(&a).len(), 64);
        assert_ne!(hash_refresh_token(&a), a);
    }
}
