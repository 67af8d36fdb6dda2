//! HTTP routes: Entra ID login, the Graph API and the `/_sim` control routes.

use std::ops::Bound;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::{any, post};
use base64::Engine as _;
use rand::Rng;
use serde_json::{Value, json};

use super::data::{Directory, Obj, Store, to_json};
use super::token::{self, AccessClaims, DeltaState, ListToken};
use super::{
    GRAPH_DELTA_TOKEN_DAYS, GRAPH_SCOPE, GRAPH_TOKEN_LIFETIME, GraphSim, Kind, TenantState,
};
use crate::SimRequest;
use crate::host::no_content;

/// Content type of Graph API responses (what graph.microsoft.com sends).
const GRAPH_JSON: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";
/// Content type of login responses.
const PLAIN_JSON: &str = "application/json; charset=utf-8";
/// The Microsoft identity platform's public authority host (worldwide cloud).
const LOGIN_AUTHORITY: &str = "https://login.microsoftonline.com";

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 999;

pub(super) fn routes() -> Router<GraphSim> {
    Router::new()
        .route("/{tenant}/v2.0/.well-known/openid-configuration", any(openid_configuration))
        .route("/{tenant}/oauth2/v2.0/token", any(token_endpoint))
        .route("/v1.0", any(api))
        .route("/v1.0/", any(api))
        .route("/v1.0/{*rest}", any(api))
        .route("/_sim/expire_tokens", post(sim_expire_tokens))
        .route("/_sim/expire_delta_tokens", post(sim_expire_delta_tokens))
        .fallback(fallback)
}

// ---------------------------------------------------------------------------------------------
// Replies

fn random_guid() -> String {
    let mut b: [u8; 16] = rand::thread_rng().r#gen();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

fn wall_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// Per-request facts every reply needs.
struct Ctx {
    host: String,
    request_id: String,
    client_request_id: String,
}

impl Ctx {
    fn new(headers: &HeaderMap) -> Ctx {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty())
            .unwrap_or("localhost")
            .to_string();
        let request_id = random_guid();
        let client_request_id = headers
            .get("client-request-id")
            .and_then(|h| h.to_str().ok())
            .map(str::trim)
            .filter(|h| !h.is_empty() && h.len() <= 100)
            .map_or_else(|| request_id.clone(), str::to_string);
        Ctx { host, request_id, client_request_id }
    }

    fn base(&self) -> String {
        format!("http://{}/v1.0", self.host)
    }
}

struct Reply {
    status: StatusCode,
    body: String,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    records: usize,
}

impl Reply {
    fn graph(status: StatusCode, body: &Value, records: usize) -> Reply {
        Reply {
            status,
            body: body.to_string(),
            content_type: GRAPH_JSON,
            headers: Vec::new(),
            records,
        }
    }

    /// A Graph error body: `{"error":{"code","message","innerError":{date,request-id,client-request-id}}}`.
    fn error(ctx: &Ctx, status: StatusCode, code: &str, message: impl Into<String>) -> Reply {
        let body = json!({
            "error": {
                "code": code,
                "message": message.into(),
                "innerError": {
                    "date": wall_now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                    "request-id": ctx.request_id,
                    "client-request-id": ctx.client_request_id,
                }
            }
        });
        Reply::graph(status, &body, 0)
    }

    fn bad_request(ctx: &Ctx, code: &str, message: impl Into<String>) -> Reply {
        Reply::error(ctx, StatusCode::BAD_REQUEST, code, message)
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    fn into_response(self, ctx: &Ctx) -> Response {
        let mut r = Response::new(Body::from(self.body));
        *r.status_mut() = self.status;
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        for (name, value) in
            [("request-id", &ctx.request_id), ("client-request-id", &ctx.client_request_id)]
        {
            if let Ok(v) = HeaderValue::from_str(value) {
                h.insert(name, v);
            }
        }
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.append(name, v);
            }
        }
        r
    }
}

fn record(
    tenant: Option<String>,
    method: &Method,
    path: &str,
    query: &str,
    status: StatusCode,
    records: usize,
) -> SimRequest {
    SimRequest {
        at_ms: wall_now().timestamp_millis(),
        tenant,
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        status: status.as_u16(),
        records,
    }
}

// ---------------------------------------------------------------------------------------------
// Login (login.microsoftonline.com)

/// An Entra ID (AADSTS) error reply.
fn login_error(status: StatusCode, error: &str, code: u32, message: &str) -> Reply {
    let now = wall_now();
    let ts = now.format("%Y-%m-%d %H:%M:%SZ").to_string();
    let trace = random_guid();
    let corr = random_guid();
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {message} Trace ID: {trace} Correlation ID: {corr} Timestamp: {}",
            now.format("%Y-%m-%d %H:%M:%S%.3fZ")
        ),
        "error_codes": [code],
        "timestamp": ts,
        "trace_id": trace,
        "correlation_id": corr,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    Reply {
        status,
        body: body.to_string(),
        content_type: PLAIN_JSON,
        headers: Vec::new(),
        records: 0,
    }
}

fn tenant_not_found(tenant: &str, error: &str) -> Reply {
    login_error(
        StatusCode::BAD_REQUEST,
        error,
        90002,
        &format!(
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
        ),
    )
}

/// The tenant's v2.0 OpenID Connect discovery document, as Microsoft serves it: every endpoint
/// and the issuer are under `https://login.microsoftonline.com/{tenant id}` whatever host
/// served the request (a tenant asked for by domain is answered with its id). Clients that
/// follow `token_endpoint` (msal) go to Microsoft's host, so pointing them at the simulator
/// takes a name override or proxy for `login.microsoftonline.com`; the connector instead
/// builds the token URL from its own `login_url` and never reads this document.
fn discovery_document(tid: &str) -> Value {
    let login = format!("{LOGIN_AUTHORITY}/{tid}");
    json!({
        "token_endpoint": format!("{login}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{login}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{login}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": format!("{login}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{login}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{login}/oauth2/v2.0/logout"),
        "claims_supported": [
            "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
            "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
            "name", "tid", "ver", "at_hash", "c_hash", "email"
        ],
        "kerberos_endpoint": format!("{login}/kerberos"),
        "tenant_region_scope": "NA",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    })
}

async fn openid_configuration(
    State(sim): State<GraphSim>,
    Path(tenant): Path<String>,
    req: Request,
) -> Response {
    let ctx = Ctx::new(req.headers());
    let state = sim.state(&tenant);
    let tid = state.as_ref().map(|s| s.read().spec.tenant_id.clone());
    let reply = match &tid {
        None => tenant_not_found(&tenant, "invalid_tenant"),
        Some(tid) => {
            let body = discovery_document(tid);
            Reply {
                status: StatusCode::OK,
                body: body.to_string(),
                content_type: PLAIN_JSON,
                headers: vec![
                    ("cache-control", "max-age=86400, private".to_string()),
                    ("access-control-allow-origin", "*".to_string()),
                ],
                records: 0,
            }
        }
    };
    sim.log(record(
        tid,
        req.method(),
        req.uri().path(),
        req.uri().query().unwrap_or_default(),
        reply.status,
        0,
    ));
    reply.into_response(&ctx)
}

async fn token_endpoint(
    State(sim): State<GraphSim>,
    Path(tenant): Path<String>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let ctx = Ctx::new(&parts.headers);
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let state = sim.state(&tenant);
    let tid = state.as_ref().map(|s| s.read().spec.tenant_id.clone());
    let reply = match &state {
        None => tenant_not_found(&tenant, "invalid_request"),
        Some(state) => sim.issue_token(state, &parts.method, &parts.headers, &body),
    };
    sim.log(record(
        tid,
        &parts.method,
        parts.uri.path(),
        parts.uri.query().unwrap_or_default(),
        reply.status,
        0,
    ));
    let mut resp = reply.into_response(&ctx);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
    resp.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// Scope values that name Microsoft Graph's default permissions.
fn is_graph_default_scope(s: &str) -> bool {
    let s = s.to_ascii_lowercase();
    s == GRAPH_SCOPE
        || s == "https://graph.microsoft.com//.default"
        || s == "00000003-0000-0000-c000-000000000000/.default"
}

impl GraphSim {
    /// The client-credentials grant.
    fn issue_token(
        &self,
        state: &TenantState,
        method: &Method,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Reply {
        let bad = StatusCode::BAD_REQUEST;
        if *method != Method::POST {
            return login_error(
                bad,
                "invalid_request",
                900561,
                &format!(
                    "The endpoint only accepts POST, OPTIONS requests. Received a {method} request."
                ),
            );
        }
        let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
        let field = |name: &str| -> Option<String> {
            form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).filter(|v| !v.is_empty())
        };
        // client_secret_basic: `Authorization: Basic base64(urlencode(id):urlencode(secret))`.
        let basic = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(s, _)| s.eq_ignore_ascii_case("basic"))
            .and_then(|(_, e)| base64::engine::general_purpose::STANDARD.decode(e.trim()).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|d| {
                let (id, secret) = d.split_once(':')?;
                let dec = |s: &str| -> String {
                    url::form_urlencoded::parse(format!("x={s}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                Some((dec(id), dec(secret)))
            });
        let missing = |p: &str| {
            login_error(
                bad,
                "invalid_request",
                900144,
                &format!("The request body must contain the following parameter: '{p}'."),
            )
        };
        let Some(grant) = field("grant_type") else { return missing("grant_type") };
        if grant != "client_credentials" {
            return login_error(
                bad,
                "unsupported_grant_type",
                70003,
                &format!(
                    "The app requested an unsupported grant type '{grant}'. The simulator supports client_credentials only."
                ),
            );
        }
        let Some(client_id) = field("client_id").or_else(|| basic.as_ref().map(|b| b.0.clone()))
        else {
            return missing("client_id");
        };
        let Some(scope) = field("scope") else {
            return login_error(
                bad,
                "invalid_scope",
                90014,
                "The required field 'scope' is missing from the credential. Ensure that you have all the necessary parameters for the login request.",
            );
        };
        let resources: Vec<&str> = scope
            .split_whitespace()
            .filter(|s| !matches!(*s, "openid" | "profile" | "offline_access"))
            .collect();
        if resources.len() != 1 || !is_graph_default_scope(resources[0]) {
            return login_error(
                bad,
                "invalid_scope",
                1002012,
                &format!(
                    "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI). The simulator serves {GRAPH_SCOPE} only."
                ),
            );
        }
        let (spec_client, spec_secret, tid, domain) = {
            let d = state.read();
            let s = &d.spec;
            (s.client_id.clone(), s.client_secret.clone(), s.tenant_id.clone(), s.domain.clone())
        };
        if !client_id.eq_ignore_ascii_case(&spec_client) {
            return login_error(
                bad,
                "unauthorized_client",
                700016,
                &format!(
                    "Application with identifier '{client_id}' was not found in the directory '{domain}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
                ),
            );
        }
        let secret = field("client_secret").or_else(|| basic.as_ref().map(|b| b.1.clone()));
        let Some(secret) = secret else {
            return login_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            );
        };
        if secret != spec_secret {
            return login_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000215,
                &format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{spec_client}'."
                ),
            );
        }
        let iat = wall_now().timestamp();
        // Microsoft Graph accepts v1.0-format access tokens only, so Entra ID issues them
        // with the v1.0 issuer of the same tenant (`https://sts.windows.net/{tid}/`), even
        // from the v2.0 token endpoint; the v2.0 discovery `issuer`
        // (`https://login.microsoftonline.com/{tid}/v2.0`) is the issuer of ID tokens.
        let claims = AccessClaims {
            aud: "https://graph.microsoft.com".into(),
            iss: format!("https://sts.windows.net/{tid}/"),
            iat,
            nbf: iat,
            exp: iat + GRAPH_TOKEN_LIFETIME,
            appid: spec_client,
            tid,
            roles: vec![
                "User.Read.All".into(),
                "Group.Read.All".into(),
                "Directory.Read.All".into(),
            ],
            sim_epoch: self.token_epoch(),
            uti: random_guid(),
        };
        let body = json!({
            "token_type": "Bearer",
            "expires_in": GRAPH_TOKEN_LIFETIME,
            "ext_expires_in": GRAPH_TOKEN_LIFETIME,
            "access_token": token::access_token(&claims),
        });
        Reply {
            status: StatusCode::OK,
            body: body.to_string(),
            content_type: PLAIN_JSON,
            headers: Vec::new(),
            records: 0,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The Graph API

async fn api(State(sim): State<GraphSim>, req: Request) -> Response {
    let (parts, _body) = req.into_parts();
    let job = tokio::task::spawn_blocking(move || {
        sim.handle_api(&parts.method, &parts.uri, &parts.headers)
    });
    match job.await {
        Ok(resp) => resp,
        Err(e) => {
            let ctx = Ctx::new(&HeaderMap::new());
            Reply::error(
                &ctx,
                StatusCode::INTERNAL_SERVER_ERROR,
                "generalException",
                format!("simulator error: {e}"),
            )
            .into_response(&ctx)
        }
    }
}

async fn fallback(State(sim): State<GraphSim>, req: Request) -> Response {
    let ctx = Ctx::new(req.headers());
    let reply = Reply::error(
        &ctx,
        StatusCode::NOT_FOUND,
        "NotFound",
        format!(
            "No route for {} {} in the Microsoft Graph simulator",
            req.method(),
            req.uri().path()
        ),
    );
    if !req.uri().path().starts_with("/_sim") {
        sim.log(record(
            None,
            req.method(),
            req.uri().path(),
            req.uri().query().unwrap_or_default(),
            reply.status,
            0,
        ));
    }
    reply.into_response(&ctx)
}

/// Query options of one request: names lower-cased without the optional `$`, values decoded.
struct Params {
    list: Vec<(String, String)>,
}

/// OData system query options the simulator knows (and may refuse per endpoint).
const KNOWN_OPTIONS: [&str; 12] = [
    "select",
    "top",
    "skiptoken",
    "count",
    "deltatoken",
    "filter",
    "orderby",
    "expand",
    "search",
    "skip",
    "format",
    "levels",
];

impl Params {
    fn parse(query: &str) -> Params {
        let list = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| {
                let k = k.trim();
                let k = k.strip_prefix('$').unwrap_or(k).to_ascii_lowercase();
                (k, v.into_owned())
            })
            .collect();
        Params { list }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.list.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// An unknown `$option`, if any (plain parameters without `$` are ignored, as Graph does).
    fn unknown(&self, query: &str) -> Option<String> {
        url::form_urlencoded::parse(query.as_bytes()).map(|(k, _)| k.trim().to_string()).find(|k| {
            k.starts_with('$') && !KNOWN_OPTIONS.contains(&k[1..].to_ascii_lowercase().as_str())
        })
    }
}

/// Everything about one API request that the reply needs.
struct ApiReq<'a> {
    headers: &'a HeaderMap,
    query: &'a str,
    params: Params,
    ctx: Ctx,
}

impl GraphSim {
    fn handle_api(&self, method: &Method, uri: &axum::http::Uri, headers: &HeaderMap) -> Response {
        let query = uri.query().unwrap_or_default();
        let req = ApiReq { headers, query, params: Params::parse(query), ctx: Ctx::new(headers) };
        let mut tenant = None;
        let reply = self.api_reply(method, uri.path(), &req, &mut tenant);
        self.log(record(tenant, method, uri.path(), query, reply.status, reply.records));
        reply.into_response(&req.ctx)
    }

    fn api_reply(
        &self,
        method: &Method,
        path: &str,
        req: &ApiReq<'_>,
        tenant: &mut Option<String>,
    ) -> Reply {
        let ctx = &req.ctx;
        let state = match self.authenticate(req, tenant) {
            Ok(s) => s,
            Err(r) => return r,
        };
        if *method != Method::GET {
            return Reply::error(
                ctx,
                StatusCode::METHOD_NOT_ALLOWED,
                "Request_BadRequest",
                "Specified HTTP method is not allowed for the request uri. The simulator is read-only.",
            );
        }
        if let Some(option) = req.params.unknown(req.query) {
            return Reply::bad_request(
                ctx,
                "BadRequest",
                format!("Query option '{option}' is not supported."),
            );
        }
        let rest = path.strip_prefix("/v1.0").unwrap_or(path).trim_matches('/');
        let segs: Vec<String> = rest
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            })
            .collect();
        let dir = state.read();
        let Some(first) = segs.first() else {
            let body = json!({
                "@odata.context": format!("{}/$metadata", ctx.base()),
                "value": Kind::ALL.iter().map(|k| json!({"name": k.name(), "kind": "EntitySet", "url": k.name()})).collect::<Vec<_>>(),
            });
            return Reply::graph(StatusCode::OK, &body, 0);
        };
        let Some(kind) = Kind::from_name(first) else {
            return Reply::bad_request(
                ctx,
                "BadRequest",
                format!("Resource not found for the segment '{first}'."),
            );
        };
        match segs.len() {
            1 => match kind {
                Kind::Users => list(&dir, &dir.users, kind, req),
                Kind::Groups => list(&dir, &dir.groups, kind, req),
            },
            2 if is_delta_segment(&segs[1]) => match kind {
                Kind::Users => delta(&dir, &dir.users, kind, req),
                Kind::Groups => delta(&dir, &dir.groups, kind, req),
            },
            2 => match kind {
                Kind::Users => get_one(&dir.users, kind, &segs[1], req),
                Kind::Groups => get_one(&dir.groups, kind, &segs[1], req),
            },
            _ => Reply::bad_request(
                ctx,
                "BadRequest",
                format!("Resource not found for the segment '{}'.", segs[2]),
            ),
        }
    }

    /// Checks the Bearer token; returns the tenant it was issued for.
    fn authenticate(
        &self,
        req: &ApiReq<'_>,
        tenant: &mut Option<String>,
    ) -> Result<Arc<TenantState>, Reply> {
        let unauthorized = |message: &str| {
            Reply::error(&req.ctx, StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message)
                .header(
                    "www-authenticate",
                    "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
                )
        };
        let value = req
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .unwrap_or_default();
        let bearer = value
            .split_once(' ')
            .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .unwrap_or_default();
        if bearer.is_empty() {
            return Err(unauthorized("Access token is empty."));
        }
        let Some(claims) = token::read_access_token(bearer) else {
            return Err(unauthorized("CompactToken parsing failed with error code: 80049217"));
        };
        *tenant = Some(claims.tid.clone());
        let now = wall_now().timestamp();
        if claims.sim_epoch != self.token_epoch() || now >= claims.exp || now < claims.nbf - 300 {
            return Err(unauthorized("Access token has expired or is not yet valid."));
        }
        let Some(state) = self.state(&claims.tid) else {
            return Err(unauthorized("Access token validation failure. Invalid audience."));
        };
        if !state.read().spec.client_id.eq_ignore_ascii_case(&claims.appid) {
            return Err(unauthorized("Access token validation failure."));
        }
        Ok(state)
    }
}

fn is_delta_segment(s: &str) -> bool {
    let s = s.to_ascii_lowercase();
    let s = s.strip_prefix("microsoft.graph.").unwrap_or(&s);
    s == "delta" || s == "delta()"
}

/// The properties named by `$select` (schema order, no duplicates), or an error reply.
fn parse_select(kind: Kind, raw: Option<&str>, ctx: &Ctx) -> Result<Option<Vec<String>>, Reply> {
    let Some(raw) = raw else { return Ok(None) };
    let mut wanted = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some(p) = kind.props().iter().find(|p| p.eq_ignore_ascii_case(name)) else {
            return Err(Reply::bad_request(
                ctx,
                "BadRequest",
                format!(
                    "Parsing OData Select and Expand failed: Could not find a property named '{name}' on type '{}'.",
                    kind.type_name()
                ),
            ));
        };
        wanted.push(*p);
    }
    if wanted.is_empty() {
        return Ok(None);
    }
    Ok(Some(kind.props().iter().filter(|p| wanted.contains(p)).map(|p| p.to_string()).collect()))
}

fn context(ctx: &Ctx, kind: Kind, select: Option<&[String]>) -> String {
    match select {
        Some(s) => format!("{}/$metadata#{}({})", ctx.base(), kind.name(), s.join(",")),
        None => format!("{}/$metadata#{}", ctx.base(), kind.name()),
    }
}

fn unsupported(ctx: &Ctx, message: impl Into<String>) -> Reply {
    Reply::bad_request(ctx, "Request_UnsupportedQuery", message)
}

fn list<T: Obj>(dir: &Directory, store: &Store<T>, kind: Kind, req: &ApiReq<'_>) -> Reply {
    let ctx = &req.ctx;
    let p = &req.params;
    if p.get("skip").is_some() {
        return unsupported(ctx, "'$skip' is not supported by the service.");
    }
    for option in ["filter", "orderby", "search", "expand", "deltatoken"] {
        if p.get(option).is_some() {
            return unsupported(
                ctx,
                format!(
                    "The Microsoft Graph simulator does not support '${option}' on /{}.",
                    kind.name()
                ),
            );
        }
    }
    let top = match p.get("top") {
        None => DEFAULT_PAGE,
        Some(raw) => match raw.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Reply::bad_request(
                    ctx,
                    "Request_BadRequest",
                    format!(
                        "Invalid page size specified: '{raw}'. Must be between 1 and 999 inclusive."
                    ),
                );
            }
        },
    };
    let select = match parse_select(kind, p.get("select"), ctx) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let count = match p.get("count").map(|c| c.trim().to_ascii_lowercase()) {
        None => false,
        Some(c) if c == "false" => false,
        Some(c) if c == "true" => {
            let eventual = req
                .headers
                .get("consistencylevel")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual"));
            if !eventual {
                return unsupported(
                    ctx,
                    "$count is not currently supported without the request header 'ConsistencyLevel: eventual'.",
                );
            }
            true
        }
        Some(c) => {
            return Reply::bad_request(
                ctx,
                "BadRequest",
                format!("Invalid value '{c}' for $count: expected true or false."),
            );
        }
    };
    let after = match p.get("skiptoken") {
        None => None,
        Some(raw) => match token::read_list_token(raw) {
            Some(t) if t.t == dir.spec.tenant_id && t.k == kind => Some(t.after),
            _ => {
                return Reply::bad_request(
                    ctx,
                    "Request_BadRequest",
                    "The specified page token value is invalid or has expired.",
                );
            }
        },
    };
    let props: Vec<&str> = match &select {
        Some(s) => s.iter().map(String::as_str).collect(),
        None => kind.default_props().to_vec(),
    };
    let lower = match &after {
        Some(a) => Bound::Excluded(a.clone()),
        None => Bound::Unbounded,
    };
    let mut iter = store.by_id.range::<String, _>((lower, Bound::Unbounded));
    let mut value = Vec::with_capacity(top.min(store.live()));
    let mut last = None;
    for (id, &i) in iter.by_ref().take(top) {
        value.push(to_json(&store.objs[i as usize], &props));
        last = Some(id.clone());
    }
    let more = iter.next().is_some();
    let mut body = serde_json::Map::new();
    body.insert("@odata.context".into(), json!(context(ctx, kind, select.as_deref())));
    if count {
        body.insert("@odata.count".into(), json!(store.live()));
    }
    if let (true, Some(last)) = (more, last) {
        let tok =
            token::list_token(&ListToken { t: dir.spec.tenant_id.clone(), k: kind, after: last });
        let mut query: Vec<&str> = req
            .query
            .split('&')
            .filter(|seg| !seg.is_empty())
            .filter(|seg| {
                let key = seg.split('=').next().unwrap_or_default();
                let key = url::form_urlencoded::parse(key.as_bytes())
                    .next()
                    .map(|(k, _)| k.into_owned())
                    .unwrap_or_default();
                let key = key.trim();
                !key.strip_prefix('$').unwrap_or(key).eq_ignore_ascii_case("skiptoken")
            })
            .collect();
        let tail = format!("$skiptoken={tok}");
        query.push(&tail);
        body.insert(
            "@odata.nextLink".into(),
            json!(format!("{}/{}?{}", ctx.base(), kind.name(), query.join("&"))),
        );
    }
    let n = value.len();
    body.insert("value".into(), Value::Array(value));
    Reply::graph(StatusCode::OK, &Value::Object(body), n)
}

fn get_one<T: Obj>(store: &Store<T>, kind: Kind, id: &str, req: &ApiReq<'_>) -> Reply {
    let ctx = &req.ctx;
    let select = match parse_select(kind, req.params.get("select"), ctx) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let is_guid = id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| {
            if matches!(i, 8 | 13 | 18 | 23) { b == b'-' } else { b.is_ascii_hexdigit() }
        });
    let found = if is_guid {
        store.get(&id.to_ascii_lowercase())
    } else if kind == Kind::Users {
        // Users can be addressed by userPrincipalName too.
        store.by_id.values().map(|&i| &store.objs[i as usize]).find(|u| {
            u.prop("userPrincipalName").as_str().is_some_and(|upn| upn.eq_ignore_ascii_case(id))
        })
    } else {
        return Reply::bad_request(
            ctx,
            "Request_BadRequest",
            format!("Invalid object identifier '{id}'."),
        );
    };
    let Some(obj) = found else {
        return Reply::error(
            ctx,
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        );
    };
    let props: Vec<&str> = match &select {
        Some(s) => s.iter().map(String::as_str).collect(),
        None => kind.default_props().to_vec(),
    };
    let mut v = to_json(obj, &props);
    if let Value::Object(m) = &mut v {
        let c = format!("{}/$entity", context(ctx, kind, select.as_deref()));
        let mut out = serde_json::Map::new();
        out.insert("@odata.context".into(), json!(c));
        out.append(m);
        v = Value::Object(out);
    }
    Reply::graph(StatusCode::OK, &v, 1)
}

/// `Prefer: odata.maxpagesize=N`, when sent and valid.
fn max_page_size(headers: &HeaderMap) -> Option<usize> {
    headers.get_all("prefer").iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        v.split(',').find_map(|pref| {
            let (k, n) = pref.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("odata.maxpagesize")
                .then(|| n.trim().trim_matches('"').parse::<usize>().ok())
                .flatten()
                .filter(|n| *n >= 1)
                .map(|n| n.min(MAX_PAGE))
        })
    })
}

fn delta<T: Obj>(dir: &Directory, store: &Store<T>, kind: Kind, req: &ApiReq<'_>) -> Reply {
    let ctx = &req.ctx;
    let p = &req.params;
    for option in ["top", "orderby", "expand", "filter", "search", "skip", "count"] {
        if p.get(option).is_some() {
            return unsupported(
                ctx,
                format!(
                    "Unsupported query option '${option}' for delta queries on {}.",
                    kind.name()
                ),
            );
        }
    }
    let invalid_token = || {
        Reply::bad_request(
            ctx,
            "Request_BadRequest",
            "The delta or skip token is badly formed or was issued for another resource.",
        )
    };
    let preferred = max_page_size(req.headers);
    let fresh_start = |select: Option<Vec<String>>, initial: bool| DeltaState {
        t: dir.spec.tenant_id.clone(),
        k: kind,
        pos: if initial { 0 } else { dir.seq },
        issued: dir.now,
        epoch: dir.delta_epoch,
        select,
        initial,
        page: preferred,
    };
    // Where this page starts.
    let round: DeltaState = if let Some(raw) = p.get("skiptoken") {
        match token::read_delta(raw, true) {
            Some(s) if s.t == dir.spec.tenant_id && s.k == kind => s,
            _ => return invalid_token(),
        }
    } else if let Some(raw) = p.get("deltatoken") {
        if raw.trim().eq_ignore_ascii_case("latest") {
            let select = match parse_select(kind, p.get("select"), ctx) {
                Ok(s) => s,
                Err(r) => return r,
            };
            let state = fresh_start(select, false);
            let mut body = serde_json::Map::new();
            body.insert(
                "@odata.context".into(),
                json!(context(ctx, kind, state.select.as_deref())),
            );
            body.insert(
                "@odata.deltaLink".into(),
                json!(format!(
                    "{}/{}/delta?$deltatoken={}",
                    ctx.base(),
                    kind.name(),
                    token::delta_token(&state)
                )),
            );
            body.insert("value".into(), json!([]));
            return Reply::graph(StatusCode::OK, &Value::Object(body), 0);
        }
        match token::read_delta(raw, false) {
            Some(s) if s.t == dir.spec.tenant_id && s.k == kind => s,
            _ => return invalid_token(),
        }
    } else {
        let select = match parse_select(kind, p.get("select"), ctx) {
            Ok(s) => s,
            Err(r) => return r,
        };
        fresh_start(select, true)
    };
    if round.epoch < dir.delta_epoch || dir.now - round.issued > GRAPH_DELTA_TOKEN_DAYS * 86_400 {
        let mut location = format!("{}/{}/delta", ctx.base(), kind.name());
        if let Some(s) = &round.select {
            location.push_str(&format!("?$select={}", s.join(",")));
        }
        return Reply::error(
            ctx,
            StatusCode::GONE,
            "syncStateNotFound",
            "The sync state generated by the delta token is expired or not found. Restart the synchronization with a full sync from the Location URL.",
        )
        .header("location", location);
    }
    let page = preferred.or(round.page).unwrap_or(DEFAULT_PAGE);
    // `id` always comes back from delta, whatever `$select` says.
    let props: Vec<&str> = match &round.select {
        Some(s) => std::iter::once("id")
            .chain(s.iter().map(String::as_str).filter(|p| *p != "id"))
            .collect(),
        None => kind.default_props().to_vec(),
    };
    let mut value = Vec::new();
    let mut last = round.pos;
    for (&seq, &i) in store.by_seq.range(round.pos + 1..) {
        last = seq;
        let obj = &store.objs[i as usize];
        if obj.meta().deleted {
            if round.initial {
                continue;
            }
            value.push(json!({ "id": obj.id(), "@removed": { "reason": kind.removed_reason() } }));
        } else {
            value.push(to_json(obj, &props));
        }
        if value.len() == page {
            break;
        }
    }
    let more = value.len() == page && store.by_seq.range(last + 1..).next().is_some();
    let mut body = serde_json::Map::new();
    body.insert("@odata.context".into(), json!(context(ctx, kind, round.select.as_deref())));
    let link_base = format!("{}/{}/delta", ctx.base(), kind.name());
    if more {
        let next = DeltaState {
            pos: last,
            epoch: dir.delta_epoch,
            page: preferred.or(round.page),
            ..round.clone()
        };
        body.insert(
            "@odata.nextLink".into(),
            json!(format!("{link_base}?$skiptoken={}", token::skip_token(&next))),
        );
    } else {
        let done = DeltaState {
            pos: dir.seq,
            issued: dir.now,
            epoch: dir.delta_epoch,
            initial: false,
            page: preferred.or(round.page),
            ..round.clone()
        };
        body.insert(
            "@odata.deltaLink".into(),
            json!(format!("{link_base}?$deltatoken={}", token::delta_token(&done))),
        );
    }
    let n = value.len();
    body.insert("value".into(), Value::Array(value));
    let mut reply = Reply::graph(StatusCode::OK, &Value::Object(body), n);
    if let Some(size) = preferred {
        reply = reply.header("preference-applied", format!("odata.maxpagesize={size}"));
    }
    reply
}

// ---------------------------------------------------------------------------------------------
// Control routes of Microsoft Graph's own (the host serves the common ones)

async fn sim_expire_tokens(State(sim): State<GraphSim>) -> Response {
    sim.expire_tokens();
    no_content()
}

async fn sim_expire_delta_tokens(State(sim): State<GraphSim>) -> Response {
    sim.expire_delta_tokens();
    no_content()
}
