//! HTTP routes: every instance's Table API and OAuth endpoint, and the `/_sim` control routes.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::post;
use base64::Engine as _;
use serde_json::json;

use super::data::{DisplayMode, Emit, Id, Tab};
use super::{InstanceState, ServiceNowSim};
use crate::SimRequest;
use crate::host::no_content;

const DEFAULT_LIMIT: usize = 10_000;
const CONTENT_TYPE: &str = "application/json;charset=UTF-8";
const MAX_BODY: usize = 1 << 20;

pub(super) fn routes() -> Router<ServiceNowSim> {
    Router::new().route("/_sim/expire_tokens", post(sim_expire_tokens)).fallback(api)
}

// ---------------------------------------------------------------------------------------------
// Replies

struct Reply {
    status: StatusCode,
    body: String,
    headers: Vec<(&'static str, String)>,
    records: usize,
}

impl Reply {
    fn json(status: StatusCode, body: String, records: usize) -> Reply {
        Reply { status, body, headers: Vec::new(), records }
    }

    /// The Table API error body `{"error":{"message","detail"},"status":"failure"}`.
    fn error(status: StatusCode, message: &str, detail: Option<&str>) -> Reply {
        let body =
            json!({ "error": { "message": message, "detail": detail }, "status": "failure" });
        Reply::json(status, body.to_string(), 0)
    }

    fn unauthenticated() -> Reply {
        let mut r = Reply::error(
            StatusCode::UNAUTHORIZED,
            "User Not Authenticated",
            Some("Required to provide Auth information"),
        );
        r.headers.push(("www-authenticate", "BASIC realm=\"Service-now\"".into()));
        r
    }

    /// The OAuth endpoint's error body `{"error","error_description"}`.
    fn oauth_error(status: StatusCode, error: &str, description: &str) -> Reply {
        let body = json!({ "error": error, "error_description": description });
        Reply::json(status, body.to_string(), 0)
    }

    fn into_response(self) -> Response {
        let mut b =
            Response::builder().status(self.status).header(header::CONTENT_TYPE, CONTENT_TYPE);
        for (k, v) in &self.headers {
            b = b.header(*k, v);
        }
        b.body(Body::from(self.body)).unwrap_or_else(|_| {
            let mut r = Response::new(Body::from(
                r#"{"error":{"message":"bad response header","detail":null},"status":"failure"}"#,
            ));
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Vendor routes

async fn api(State(sim): State<ServiceNowSim>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY).await.unwrap_or_default();
    let job = tokio::task::spawn_blocking(move || {
        sim.handle(&parts.method, &parts.uri, &parts.headers, &body)
    });
    match job.await {
        Ok(resp) => resp,
        Err(e) => {
            Reply::error(StatusCode::INTERNAL_SERVER_ERROR, "Simulator error", Some(&e.to_string()))
                .into_response()
        }
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn flag(params: &[(String, String)], name: &str) -> bool {
    param(params, name).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Decodes a Basic `Authorization` header into (user, password).
fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl ServiceNowSim {
    /// Serves one request to an instance and logs it.
    fn handle(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Response {
        let path = uri.path();
        let trimmed = path.trim_start_matches('/');
        let (instance, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
        let reply = if instance.is_empty() {
            Reply::error(
                StatusCode::BAD_REQUEST,
                "Requested URI does not represent any resource",
                None,
            )
        } else {
            self.reply(instance, rest, method, uri, headers, body)
        };
        self.log(SimRequest {
            at_ms: chrono::Utc::now().timestamp_millis(),
            tenant: (!instance.is_empty()).then(|| instance.to_string()),
            method: method.to_string(),
            path: path.to_string(),
            query: uri.query().unwrap_or_default().to_string(),
            status: reply.status.as_u16(),
            records: reply.records,
        });
        reply.into_response()
    }

    fn reply(
        &self,
        instance: &str,
        rest: &str,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Reply {
        let Some(state) = self.state(instance) else {
            return Reply::error(
                StatusCode::NOT_FOUND,
                "Instance not found",
                Some(&format!("No simulated ServiceNow instance named '{instance}'")),
            );
        };
        let rest = rest.trim_end_matches('/');
        if rest == "oauth_token.do" {
            if *method != Method::POST {
                return Reply::oauth_error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "invalid_request",
                    "POST required",
                );
            }
            return self.token(instance, &state, headers, body);
        }
        if !self.authenticated(instance, &state, headers) {
            return Reply::unauthenticated();
        }
        let Some(api) = rest.strip_prefix("api/now/") else {
            return Reply::error(
                StatusCode::BAD_REQUEST,
                "Requested URI does not represent any resource",
                None,
            );
        };
        let (v1, api) = match api.split_once('/') {
            Some(("v1", tail)) => (true, tail),
            Some(("v2", tail)) => (false, tail),
            _ => (false, api),
        };
        let Some(table_path) = api.strip_prefix("table/") else {
            return Reply::error(
                StatusCode::BAD_REQUEST,
                "Requested URI does not represent any resource",
                None,
            );
        };
        if *method != Method::GET {
            return Reply::error(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not Supported",
                Some(&format!(
                    "{method} method not supported for API (the simulator is read-only)"
                )),
            );
        }
        let (table, sys_id) = match table_path.split_once('/') {
            Some((t, id)) => (t, Some(id)),
            None => (table_path, None),
        };
        let Some(t) = Tab::from_name(table) else {
            return Reply::error(StatusCode::BAD_REQUEST, &format!("Invalid table {table}"), None);
        };
        let params: Vec<(String, String)> =
            url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let base = self.link_base(instance);
        match sys_id {
            Some(id) => get_one(&state, t, id, &params, &base),
            None => list(&state, t, v1, &params, &base, uri, headers),
        }
    }

    fn authenticated(&self, instance: &str, state: &InstanceState, headers: &HeaderMap) -> bool {
        if let Some(token) = bearer(headers) {
            return self.token_instance(token).as_deref() == Some(instance);
        }
        match basic(headers) {
            Some((user, password)) => {
                let ds = state.read();
                user == ds.spec.username && password == ds.spec.password
            }
            None => false,
        }
    }

    /// `POST /{instance}/oauth_token.do`.
    fn token(
        &self,
        instance: &str,
        state: &InstanceState,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Reply {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
        let (mut client_id, mut client_secret) = (
            param(&form, "client_id").map(str::to_string),
            param(&form, "client_secret").map(str::to_string),
        );
        if client_id.is_none()
            && let Some((id, secret)) = basic(headers)
        {
            client_id = Some(id);
            client_secret = Some(secret);
        }
        let spec = state.read().spec.clone();
        let denied = |why: &str| Reply::oauth_error(StatusCode::UNAUTHORIZED, "access_denied", why);
        let client_ok = client_id.as_deref() == Some(spec.client_id.as_str())
            && client_secret.as_deref() == Some(spec.client_secret.as_str());
        let grant = param(&form, "grant_type").unwrap_or_default();
        let refresh = match grant {
            "password" | "client_credentials" | "refresh_token" if !client_ok => {
                return denied("Invalid client credentials");
            }
            "password" => {
                if param(&form, "username") != Some(spec.username.as_str())
                    || param(&form, "password") != Some(spec.password.as_str())
                {
                    return denied("Invalid username or password");
                }
                None
            }
            "client_credentials" => None,
            "refresh_token" => {
                let Some(token) = param(&form, "refresh_token") else {
                    return Reply::oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "refresh_token is required",
                    );
                };
                match self.refresh_instance(token) {
                    Some((inst, client)) if inst == instance && client == spec.client_id => {
                        Some(token.to_string())
                    }
                    _ => return denied("Invalid refresh token"),
                }
            }
            "" => {
                return Reply::oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "grant_type is required",
                );
            }
            other => {
                return Reply::oauth_error(
                    StatusCode::BAD_REQUEST,
                    "unsupported_grant_type",
                    &format!("Unsupported grant type: {other}"),
                );
            }
        };
        let (access, refresh) = self.issue_tokens(instance, &spec.client_id, refresh);
        let body = json!({
            "access_token": access,
            "refresh_token": refresh,
            "scope": "useraccount",
            "token_type": "Bearer",
            "expires_in": 1799,
        });
        Reply::json(StatusCode::OK, body.to_string(), 0)
    }
}

/// What a request asks of the writer (`sysparm_fields`, display value, reference links).
fn emit_options(t: Tab, params: &[(String, String)]) -> (DisplayMode, bool, Option<Vec<usize>>) {
    let mode = match param(params, "sysparm_display_value").map(|v| v.trim().to_ascii_lowercase()) {
        Some(v) if v == "true" => DisplayMode::Display,
        Some(v) if v == "all" => DisplayMode::All,
        _ => DisplayMode::Raw,
    };
    let exclude = flag(params, "sysparm_exclude_reference_link");
    let fields = param(params, "sysparm_fields").filter(|f| !f.trim().is_empty()).map(|f| {
        let mut cols: Vec<usize> = Vec::new();
        for name in f.split(',') {
            if let Some(c) = t.field(name.trim())
                && !cols.contains(&c)
            {
                cols.push(c);
            }
        }
        cols
    });
    (mode, exclude, fields)
}

fn get_one(
    state: &InstanceState,
    t: Tab,
    id: &str,
    params: &[(String, String)],
    base: &str,
) -> Reply {
    let ds = state.read();
    let Some(row) = Id::parse(id).and_then(|id| ds.get(t, id)) else {
        return Reply::error(
            StatusCode::NOT_FOUND,
            "No Record found",
            Some("Record doesn't exist or ACL restricts the record retrieval"),
        );
    };
    let (mode, exclude_links, fields) = emit_options(t, params);
    let e = Emit { mode, exclude_links, fields: fields.as_deref(), base };
    let mut body = String::from("{\"result\":");
    ds.write_row(&mut body, t, row, &e);
    body.push('}');
    Reply::json(StatusCode::OK, body, 1)
}

fn usize_param(params: &[(String, String)], name: &str) -> Option<usize> {
    param(params, name).and_then(|v| v.trim().parse::<usize>().ok())
}

fn list(
    state: &InstanceState,
    t: Tab,
    v1: bool,
    params: &[(String, String)],
    base: &str,
    uri: &Uri,
    headers: &HeaderMap,
) -> Reply {
    let ds = state.read();
    let limit = usize_param(params, "sysparm_limit").filter(|l| *l > 0).unwrap_or(DEFAULT_LIMIT);
    let offset = usize_param(params, "sysparm_offset").unwrap_or(0);
    let query = param(params, "sysparm_query").unwrap_or_default();
    let (rows, total) = state.select(&ds, t, query, offset.saturating_add(limit));
    if v1 && total == 0 {
        return Reply::error(
            StatusCode::NOT_FOUND,
            "No Record found",
            Some("Records matching query not found"),
        );
    }
    let (mode, exclude_links, fields) = emit_options(t, params);
    let e = Emit { mode, exclude_links, fields: fields.as_deref(), base };
    let start = offset.min(rows.len());
    let end = start.saturating_add(limit).min(rows.len());
    let table = ds.rows(t);
    let mut body = String::with_capacity(64 + (end - start) * 1024);
    body.push_str("{\"result\":[");
    for (n, &i) in rows[start..end].iter().enumerate() {
        if n > 0 {
            body.push(',');
        }
        ds.write_row(&mut body, t, &table[i as usize], &e);
    }
    body.push_str("]}");
    let mut reply = Reply::json(StatusCode::OK, body, end - start);
    if !flag(params, "sysparm_no_count") {
        reply.headers.push(("x-total-count", total.to_string()));
    }
    if !flag(params, "sysparm_suppress_pagination_header") {
        let last = if total == 0 { 0 } else { (total - 1) / limit * limit };
        let mut links = vec![(0, "first")];
        if offset > 0 {
            links.push((offset.saturating_sub(limit), "prev"));
        }
        if offset.saturating_add(limit) < total {
            links.push((offset + limit, "next"));
        }
        links.push((last, "last"));
        let value: Vec<String> = links
            .into_iter()
            .map(|(o, rel)| format!("<{}>;rel=\"{rel}\"", link_url(uri, headers, limit, o)))
            .collect();
        reply.headers.push(("link", value.join(",")));
    }
    reply
}

/// The request's own URL with every original parameter kept (as sent) except
/// `sysparm_limit` and `sysparm_offset`, which are appended with the given values.
fn link_url(uri: &Uri, headers: &HeaderMap, limit: usize, offset: usize) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let mut parts: Vec<&str> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|seg| !seg.is_empty())
        .filter(|seg| {
            let key = seg.split('=').next().unwrap_or_default();
            key != "sysparm_limit" && key != "sysparm_offset"
        })
        .collect();
    let tail = format!("sysparm_limit={limit}&sysparm_offset={offset}");
    parts.push(&tail);
    format!("http://{host}{}?{}", uri.path(), parts.join("&"))
}

// ---------------------------------------------------------------------------------------------
// Control routes of ServiceNow's own (the host serves the common ones)

async fn sim_expire_tokens(State(sim): State<ServiceNowSim>) -> Response {
    sim.expire_tokens();
    no_content()
}
