//! Download links: a CSV export the browser streams straight to disk.
//!
//! The web app holds its access token in memory, so a plain link to an export could not
//! carry it, and fetching the export first would hold the whole file in the page's
//! memory. Instead the app asks `POST /api/exports/links` for a link to exactly the export
//! it wants and follows it: the browser downloads it as any file, as it streams.
//!
//! A link's token is a JWT (HS256, the access tokens' key, its own audience so neither
//! token passes for the other) naming the user, tenant, role and session, and the request
//! target it opens (path and query without the token): it opens that export and nothing
//! else, once, within [`LINK_TTL_SECS`], and only while the session stands. The token
//! travels in the query (`download_token`), which the request log never records (it logs
//! paths only).

use axum::Json;
use axum::extract::State;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use avesa_model::{Role, TenantId};

use crate::AppState;
use crate::auth::{AuthUser, LEEWAY_SECS};
use crate::config::AuthConfig;
use crate::entities::ENTITY_SEGMENTS;
use crate::error::ApiError;
use crate::extract::ApiJson;

/// How long a download link opens its export.
pub const LINK_TTL_SECS: i64 = 60;

/// The query parameter carrying a link's token.
pub const TOKEN_PARAM: &str = "download_token";

/// The longest request target a link is made for.
const MAX_TARGET: usize = 8 * 1024;

#[derive(Debug, Serialize, Deserialize)]
struct LinkClaims {
    sub: String,
    tid: String,
    role: String,
    sid: String,
    iat: i64,
    exp: i64,
    iss: String,
    aud: String,
    /// The path and query the link opens.
    target: String,
    /// The link's id: each opens once.
    jti: String,
}

fn audience(cfg: &AuthConfig) -> String {
    format!("{}:download", cfg.audience)
}

/// Whether `path` is an export route (`/api/{segment}/export.csv`).
fn is_export_path(path: &str) -> bool {
    ENTITY_SEGMENTS.iter().any(|(segment, _)| path == format!("/api/{segment}/export.csv"))
}

/// A link's request target: the path and the query's components but the token, as sent.
/// `None` when the query holds no token.
fn split_token(path: &str, query: Option<&str>) -> Option<(String, String)> {
    let query = query?;
    let mut token = None;
    let mut rest = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some((k, v)) if k == TOKEN_PARAM => token = Some(v.to_owned()),
            _ if part == TOKEN_PARAM => token = Some(String::new()),
            _ => rest.push(part),
        }
    }
    let token = token?;
    let target =
        if rest.is_empty() { path.to_owned() } else { format!("{path}?{}", rest.join("&")) };
    Some((target, token))
}

/// Signs a link to `target` for the caller.
fn issue(cfg: &AuthConfig, user: &AuthUser, target: &str) -> Result<(String, i64), ApiError> {
    let now = Utc::now().timestamp();
    let mut id = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut id);
    let claims = LinkClaims {
        sub: user.user_id.clone(),
        tid: user.tenant.as_str().to_owned(),
        role: user.role.as_str().to_owned(),
        sid: user.session.clone(),
        iat: now,
        exp: now + LINK_TTL_SECS,
        iss: cfg.issuer.clone(),
        aud: audience(cfg),
        target: target.to_owned(),
        jti: id.iter().map(|b| format!("{b:02x}")).collect(),
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&cfg.jwt_secret),
    )
    .map_err(|e| {
        tracing::error!(error = %e, "cannot sign a download link");
        ApiError::internal()
    })?;
    Ok((token, claims.exp))
}

/// The link's claims, if its token verifies and it was made for `target`.
fn verify(cfg: &AuthConfig, token: &str, target: &str) -> Result<(AuthUser, String), ApiError> {
    let invalid = || ApiError::unauthorized("invalid or expired download link; export again");
    let mut v = Validation::new(Algorithm::HS256);
    v.set_issuer(&[&cfg.issuer]);
    v.set_audience(&[audience(cfg)]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    v.leeway = LEEWAY_SECS;
    let c =
        jsonwebtoken::decode::<LinkClaims>(token, &DecodingKey::from_secret(&cfg.jwt_secret), &v)
            .map_err(|e| {
                tracing::debug!(error = %e, "download link rejected");
                invalid()
            })?
            .claims;
    if c.target != target || c.iat > Utc::now().timestamp() + LEEWAY_SECS as i64 {
        return Err(invalid());
    }
    let tenant = TenantId::new(&c.tid).map_err(|_| invalid())?;
    let role = c.role.parse::<Role>().map_err(|_| invalid())?;
    if c.sub.is_empty() || c.sid.is_empty() || c.jti.is_empty() {
        return Err(invalid());
    }
    Ok((AuthUser { user_id: c.sub, tenant, role, session: c.sid }, c.jti))
}

/// The caller of a request without an `Authorization` header that follows a download
/// link; `None` when the request is not one (then the usual 401 applies).
pub(crate) async fn authenticate(
    parts: &Parts,
    state: &AppState,
) -> Option<Result<AuthUser, ApiError>> {
    if parts.method != axum::http::Method::GET || !is_export_path(parts.uri.path()) {
        return None;
    }
    let (target, token) = split_token(parts.uri.path(), parts.uri.query())?;
    Some(
        async {
            let (user, jti) = verify(&state.auth, &token, &target)?;
            if !state.sessions.first_use_of_link(&jti).await {
                return Err(ApiError::unauthorized(
                    "this download link has been used already; export again",
                ));
            }
            if !state.sessions.live(state, &user).await? {
                return Err(ApiError::unauthorized(
                    "the session has ended (signed out, revoked or the account disabled); sign in again",
                ));
            }
            Ok(user)
        }
        .await,
    )
}

/// `POST /api/exports/links`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// The export to open: `/api/{companies,contacts,tickets,time-entries,members}/export.csv`
    /// with the list's parameters, as it would be requested with a bearer token.
    pub path: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkResponse {
    /// The export's path and query with the link's token: follow it without a bearer token.
    pub url: String,
    /// When the link stops opening the export (it opens it once before then).
    pub expires_at: DateTime<Utc>,
}

/// A download link to one CSV export: opens it once, within a minute, without a bearer
/// token, so a browser downloads it straight to disk as it streams.
#[utoipa::path(
    post,
    path = "/api/exports/links",
    tag = "entities",
    request_body = LinkRequest,
    responses(
        (status = 200, description = "The link.", body = LinkResponse),
        (status = 400, description = "Not an export path.", body = crate::openapi::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_link(
    user: AuthUser,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LinkRequest>,
) -> Result<Json<LinkResponse>, ApiError> {
    let target = body.path.trim();
    let bad = |why: &str| ApiError::bad_request(format!("path: {why}"));
    if target.len() > MAX_TARGET {
        return Err(bad("too long"));
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    if !is_export_path(path) {
        return Err(bad(
            "not an export: /api/{companies,contacts,tickets,time-entries,members}/export.csv",
        ));
    }
    if query.is_some_and(|q| q.contains('#')) || target.chars().any(|c| c.is_whitespace()) {
        return Err(bad("not a URL path and query"));
    }
    if split_token(path, query).is_some() {
        return Err(bad(&format!("already holds a {TOKEN_PARAM}")));
    }
    let target = match query.filter(|q| !q.is_empty()) {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let (token, exp) = issue(&state.auth, &user, &target)?;
    let sep = if target.contains('?') { '&' } else { '?' };
    Ok(Json(LinkResponse {
        url: format!("{target}{sep}{TOKEN_PARAM}={token}"),
        expires_at: DateTime::from_timestamp(exp, 0).unwrap_or_else(Utc::now),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> AuthConfig {
        AuthConfig::new(b"0123456789abcdef0123456789abcdef".to_vec())
    }

    fn user() -> AuthUser {
        AuthUser {
            user_id: "u1".into(),
            tenant: TenantId::new("acme").unwrap(),
            role: Role::Analyst,
            session: "s1".into(),
        }
    }

    #[test]
    fn a_link_opens_the_export_it_was_made_for_and_no_other() {
        let target = "/api/tickets/export.csv?status=New&sort=opened_at";
        let (token, _) = issue(&cfg(), &user(), target).unwrap();
        let (u, jti) = verify(&cfg(), &token, target).unwrap();
        assert_eq!(u, user());
        assert_eq!(jti.len(), 32);
        // Another query, another table, another key: refused.
        for other in [
            "/api/tickets/export.csv?status=Closed&sort=opened_at",
            "/api/tickets/export.csv",
            "/api/companies/export.csv?status=New&sort=opened_at",
        ] {
            assert!(verify(&cfg(), &token, other).is_err(), "{other}");
        }
        let other_key = AuthConfig::new(b"another-key-another-key-another-".to_vec());
        assert!(verify(&other_key, &token, target).is_err());
        // An access token is not a link, nor a link an access token.
        let (access, _) =
            crate::auth::issue_access_token(&cfg(), "u1", &user().tenant, Role::Analyst, "s1")
                .unwrap();
        assert!(verify(&cfg(), &access, target).is_err());
        assert!(crate::auth::verify_access_token(&cfg(), &token).is_err());
    }

    #[test]
    fn the_token_is_taken_out_of_the_target_wherever_it_stands() {
        let p = "/api/tickets/export.csv";
        assert_eq!(
            split_token(p, Some("a=1&download_token=T&b=2")),
            Some(("/api/tickets/export.csv?a=1&b=2".into(), "T".into()))
        );
        assert_eq!(split_token(p, Some("download_token=T")), Some((p.into(), "T".into())));
        assert_eq!(split_token(p, Some("a=1")), None);
        assert_eq!(split_token(p, None), None);
        assert!(is_export_path("/api/time-entries/export.csv"));
        assert!(!is_export_path("/api/tickets"));
        assert!(!is_export_path("/api/tickets/export.csv/x"));
    }
}
