//! HTTP routes: the OAuth token endpoint, the REST data API and the `/_sim` control routes.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::{any, post};
use base64::Engine as _;
use rand::Rng;
use serde::Deserialize;
use serde_json::json;

use super::schema::{self, Obj, Ty, Val, datetime, push_record};
use super::soql::{self, Select};
use super::{
    LOCATOR_TTL, Locator, MAX_LOCATORS, Org, OrgState, SF_API_VERSION, SalesforceSim, lock,
};
use crate::SimRequest;
use crate::host::{control_error, no_content};
use crate::sink::push_json_str;

const MIN_BATCH: usize = 200;
const MAX_BATCH: usize = 2000;
const OLDEST_VERSION: u32 = 20;
const DELETED_LOG_DAYS: i64 = 15;

pub(super) fn routes() -> Router<SalesforceSim> {
    Router::new()
        .route("/services/oauth2/token", any(token))
        .route("/services/data", any(data))
        .route("/services/data/", any(data))
        .route("/services/data/{*rest}", any(data))
        .route("/_sim/expire_tokens", post(sim_expire_tokens))
        .route("/_sim/expire_locators", post(sim_expire_locators))
        .route("/_sim/api_usage", post(sim_api_usage))
        .fallback(fallback)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

// ---------------------------------------------------------------------------------------------
// Replies

struct Reply {
    status: StatusCode,
    body: String,
    records: usize,
}

impl Reply {
    fn ok(body: String, records: usize) -> Reply {
        Reply { status: StatusCode::OK, body, records }
    }

    /// Salesforce's error body: a JSON array of `{message, errorCode}`.
    fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Reply {
        let body = json!([{ "message": message.into(), "errorCode": code }]).to_string();
        Reply { status, body, records: 0 }
    }

    fn not_found() -> Reply {
        Reply::error(StatusCode::NOT_FOUND, "NOT_FOUND", "The requested resource does not exist")
    }

    fn bad_request(code: &str, message: impl Into<String>) -> Reply {
        Reply::error(StatusCode::BAD_REQUEST, code, message)
    }

    fn session() -> Reply {
        Reply::error(StatusCode::UNAUTHORIZED, "INVALID_SESSION_ID", "Session expired or invalid")
    }

    fn into_response(self, limit_info: Option<String>) -> Response {
        let mut b = Response::builder()
            .status(self.status)
            .header(header::CONTENT_TYPE, "application/json;charset=UTF-8");
        if let Some(info) = limit_info {
            b = b.header("Sforce-Limit-Info", info);
        }
        b.body(Body::from(self.body)).unwrap_or_else(|_| {
            let mut r = Response::new(Body::from("[]"));
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        })
    }
}

fn plain_json(status: StatusCode, body: String) -> Response {
    Reply { status, body, records: 0 }.into_response(None)
}

fn limit_info(state: &OrgState) -> String {
    let u = state.usage();
    format!("api-usage={}/{}", u.used, u.limit)
}

fn params(raw: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.as_bytes()).into_owned().collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

// ---------------------------------------------------------------------------------------------
// OAuth

fn oauth_error(error: &str, description: &str) -> (StatusCode, String) {
    (
        StatusCode::BAD_REQUEST,
        json!({ "error": error, "error_description": description }).to_string(),
    )
}

async fn token(State(sim): State<SalesforceSim>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let mut tenant = None;
    let (status, text) = if parts.method == Method::POST {
        sim.grant(&parts.headers, parts.uri.query().unwrap_or_default(), &body, &mut tenant)
    } else {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            json!({ "error": "invalid_request", "error_description": "must use HTTP POST" })
                .to_string(),
        )
    };
    sim.log(SimRequest {
        at_ms: now_ms(),
        tenant,
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or_default().to_string(),
        status: status.as_u16(),
        records: 0,
    });
    plain_json(status, text)
}

impl SalesforceSim {
    /// Runs one token request: `(status, body)`.
    fn grant(
        &self,
        headers: &HeaderMap,
        query: &str,
        body: &[u8],
        tenant: &mut Option<String>,
    ) -> (StatusCode, String) {
        let mut p = params(query);
        p.extend(url::form_urlencoded::parse(body).into_owned());
        let grant_type = param(&p, "grant_type").unwrap_or_default();
        if !matches!(grant_type, "client_credentials" | "password" | "refresh_token") {
            return oauth_error("unsupported_grant_type", "grant type not supported");
        }
        // consumer key and secret: a Basic header, or the body
        let basic = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' ').filter(|(s, _)| s.eq_ignore_ascii_case("basic")))
            .and_then(|(_, e)| base64::engine::general_purpose::STANDARD.decode(e.trim()).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.split_once(':').map(|(k, v)| {
                    let dec = |x: &str| {
                        url::form_urlencoded::parse(format!("x={x}").as_bytes())
                            .next()
                            .map(|(_, v)| v.into_owned())
                            .unwrap_or_default()
                    };
                    (dec(k), dec(v))
                })
            });
        let (client_id, client_secret) = match basic {
            Some((k, s)) => (k, s),
            None => (
                param(&p, "client_id").unwrap_or_default().to_string(),
                param(&p, "client_secret").unwrap_or_default().to_string(),
            ),
        };
        let found = self
            .tenants_ref()
            .iter()
            .find(|(_, s)| s.read().spec.client_id == client_id)
            .map(|(name, s)| (name.clone(), s.clone()));
        let Some((name, state)) = found else {
            return oauth_error("invalid_client", "invalid client credentials");
        };
        *tenant = Some(name.clone());
        let org = state.read();
        if org.spec.client_secret != client_secret {
            return oauth_error("invalid_client", "invalid client credentials");
        }
        let mut refresh = None;
        match grant_type {
            "password" => {
                if param(&p, "username") != Some(org.spec.username.as_str())
                    || param(&p, "password") != Some(org.spec.password.as_str())
                {
                    return oauth_error("invalid_grant", "authentication failure");
                }
                let r = self.random_token(&org.org_id[..15], 'R', 87);
                lock(&self.vendor().refresh_tokens).insert(r.clone(), name.clone());
                refresh = Some(r);
            }
            "refresh_token" => {
                let given = param(&p, "refresh_token").unwrap_or_default();
                let owner = lock(&self.vendor().refresh_tokens).get(given).cloned();
                if owner.as_deref() != Some(name.as_str()) {
                    return oauth_error("invalid_grant", "expired access/refresh token");
                }
            }
            _ => {}
        }
        let access = self.random_token(&org.org_id[..15], 'A', 96);
        lock(&self.vendor().tokens).insert(access.clone(), name);
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
        let instance_url = format!("http://{host}");
        let mut sig = [0u8; 32];
        rand::thread_rng().fill(&mut sig);
        let mut body = json!({
            "access_token": access,
            "instance_url": instance_url,
            "id": format!("{instance_url}/id/{}/{}", org.org_id, org.api_user()),
            "token_type": "Bearer",
            "issued_at": now_ms().to_string(),
            "signature": base64::engine::general_purpose::STANDARD.encode(sig),
        });
        if let Some(r) = refresh {
            body["refresh_token"] = json!(r);
        }
        (StatusCode::OK, body.to_string())
    }

    /// `{orgId15}!A…`: an opaque token in Salesforce's shape.
    fn random_token(&self, org15: &str, kind: char, len: usize) -> String {
        const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";
        let mut rng = rand::thread_rng();
        let n = self.next_counter();
        let tail: String = (0..len).map(|_| ALNUM[rng.gen_range(0..ALNUM.len())] as char).collect();
        format!("{org15}!{kind}Q{n:x}{tail}")
    }
}

// ---------------------------------------------------------------------------------------------
// Data API

async fn data(State(sim): State<SalesforceSim>, req: Request) -> Response {
    let (parts, _body) = req.into_parts();
    let job = tokio::task::spawn_blocking(move || {
        sim.handle_data(&parts.method, &parts.uri, &parts.headers)
    });
    match job.await {
        Ok(resp) => resp,
        Err(e) => Reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "UNKNOWN_EXCEPTION",
            format!("simulator error: {e}"),
        )
        .into_response(None),
    }
}

async fn fallback(State(sim): State<SalesforceSim>, req: Request) -> Response {
    let state = bearer(req.headers()).and_then(|t| sim.token_org(t));
    let reply = Reply::not_found();
    sim.log(SimRequest {
        at_ms: now_ms(),
        tenant: state.as_ref().map(|(n, _)| n.clone()),
        method: req.method().to_string(),
        path: req.uri().path().to_string(),
        query: req.uri().query().unwrap_or_default().to_string(),
        status: 404,
        records: 0,
    });
    reply.into_response(state.map(|(_, s)| limit_info(&s)))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth"))
        .then(|| token.trim())
}

/// `vNN.N` with 20 <= NN <= the newest: the version text without the `v`.
fn version(seg: &str) -> Option<&str> {
    let v = seg.strip_prefix('v')?;
    let (major, minor) = v.split_once('.')?;
    let m: u32 = major.parse().ok()?;
    let newest: u32 = SF_API_VERSION.split('.').next()?.parse().ok()?;
    (minor == "0" && (OLDEST_VERSION..=newest).contains(&m) && !major.starts_with('0')).then_some(v)
}

fn season(major: u32) -> String {
    // v59.0 is Winter '24; three releases a year
    let k = major as i64 - 59;
    let year = 24 + k.div_euclid(3);
    let name = ["Winter", "Spring", "Summer"][k.rem_euclid(3) as usize];
    format!("{name} '{year:02}")
}

fn versions() -> String {
    let newest: u32 = SF_API_VERSION.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(62);
    let list: Vec<serde_json::Value> = (OLDEST_VERSION..=newest)
        .map(|m| {
            json!({ "label": season(m), "url": format!("/services/data/v{m}.0"), "version": format!("{m}.0") })
        })
        .collect();
    serde_json::Value::Array(list).to_string()
}

/// Everything about one data request that a reply needs.
struct Req<'a> {
    headers: &'a HeaderMap,
    params: Vec<(String, String)>,
    /// `v62.0`
    version: String,
}

impl SalesforceSim {
    fn token_org(&self, token: &str) -> Option<(String, Arc<OrgState>)> {
        let name = lock(&self.vendor().tokens).get(token).cloned()?;
        let state = self.state(&name)?;
        Some((name, state))
    }

    fn handle_data(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Response {
        let mut org: Option<(String, Arc<OrgState>)> = None;
        let reply = self.data_reply(method, uri, headers, &mut org);
        self.log(SimRequest {
            at_ms: now_ms(),
            tenant: org.as_ref().map(|(n, _)| n.clone()),
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().unwrap_or_default().to_string(),
            status: reply.status.as_u16(),
            records: reply.records,
        });
        reply.into_response(org.map(|(_, s)| limit_info(&s)))
    }

    fn data_reply(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        org: &mut Option<(String, Arc<OrgState>)>,
    ) -> Reply {
        let rest = uri.path().strip_prefix("/services/data").unwrap_or_default();
        let rest = rest.trim_matches('/');
        if rest.is_empty() {
            return Reply::ok(versions(), 0);
        }
        let mut segs: Vec<&str> = rest.split('/').collect();
        let Some(v) = version(segs[0]) else {
            return Reply::not_found();
        };
        let version = format!("v{v}");
        segs.remove(0);

        let Some((name, state)) = bearer(headers).and_then(|t| self.token_org(t)) else {
            return Reply::session();
        };
        *org = Some((name, state.clone()));
        {
            let mut u = state.usage();
            if u.used >= u.limit {
                return Reply::error(
                    StatusCode::FORBIDDEN,
                    "REQUEST_LIMIT_EXCEEDED",
                    "TotalRequests Limit exceeded.",
                );
            }
            u.used += 1;
        }
        if *method != Method::GET && *method != Method::HEAD {
            return Reply::error(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                format!("HTTP Method '{method}' not allowed. Allowed are GET,HEAD"),
            );
        }
        let req = Req {
            headers,
            params: params(uri.query().unwrap_or_default()),
            version: version.clone(),
        };
        let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
        let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
        match lower.as_slice() {
            [] => {
                let base = format!("/services/data/{version}");
                let body = json!({
                    "sobjects": format!("{base}/sobjects"),
                    "query": format!("{base}/query"),
                    "queryAll": format!("{base}/queryAll"),
                    "limits": format!("{base}/limits"),
                });
                Reply::ok(body.to_string(), 0)
            }
            ["query"] => self.query(&state, &req, false),
            ["queryall"] => self.query(&state, &req, true),
            ["query" | "queryall", _] => self.next_batch(&state, &req, segs[1]),
            ["limits"] => {
                let u = state.usage();
                let body = json!({
                    "DailyApiRequests": { "Max": u.limit, "Remaining": u.limit.saturating_sub(u.used) }
                });
                Reply::ok(body.to_string(), 0)
            }
            ["sobjects"] => Reply::ok(sobjects(&version), 0),
            ["sobjects", ty, tail @ ..] => {
                let Some(obj) = Obj::from_name(ty) else {
                    return Reply::not_found();
                };
                match tail {
                    [] => Reply::ok(
                        json!({ "objectDescribe": describe(obj, &version, false), "recentItems": [] })
                            .to_string(),
                        0,
                    ),
                    ["describe"] => Reply::ok(describe(obj, &version, true).to_string(), 0),
                    ["deleted"] => deleted(&state.read(), obj, &req),
                    [_id] => get_record(&state.read(), obj, segs[2], &version),
                    _ => Reply::not_found(),
                }
            }
            _ => Reply::not_found(),
        }
    }

    fn query(&self, state: &OrgState, req: &Req<'_>, all: bool) -> Reply {
        let q = param(&req.params, "q").unwrap_or_default();
        if q.trim().is_empty() {
            return Reply::bad_request("MALFORMED_QUERY", "A query string has to be specified");
        }
        let query = match soql::parse(q) {
            Ok(query) => Arc::new(query),
            Err(e) => return Reply::bad_request(e.code, e.message),
        };
        let batch = batch_size(req.headers);
        let org = state.read();
        let w = query.window(&org.table(query.obj).rows, query.obj.sys().is_deleted, all, 0, batch);
        batch_reply(&org, &query, w, 0, &req.version, || {
            let id = schema::make_id("01g", &org.pod, self.next_counter());
            let mut locators = state.locators();
            if locators.len() >= MAX_LOCATORS {
                let oldest =
                    locators.iter().min_by_key(|(_, l)| l.last_used).map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    locators.remove(&k);
                }
            }
            locators.insert(
                id.clone(),
                Locator { query: query.clone(), all, batch, last_used: Instant::now() },
            );
            id
        })
    }

    fn next_batch(&self, state: &OrgState, req: &Req<'_>, locator: &str) -> Reply {
        let invalid = || Reply::bad_request("INVALID_QUERY_LOCATOR", "invalid query locator");
        let Some((id, pos)) = locator.rsplit_once('-') else {
            return invalid();
        };
        let Ok(pos) = pos.parse::<usize>() else {
            return invalid();
        };
        let (query, all, batch) = {
            let mut locators = state.locators();
            let expired = locators.get(id).is_some_and(|l| l.last_used.elapsed() > LOCATOR_TTL);
            if expired {
                locators.remove(id);
            }
            let Some(l) = locators.get_mut(id) else {
                return invalid();
            };
            l.last_used = Instant::now();
            (l.query.clone(), l.all, l.batch)
        };
        let org = state.read();
        let w =
            query.window(&org.table(query.obj).rows, query.obj.sys().is_deleted, all, pos, batch);
        if pos > w.total {
            return invalid();
        }
        batch_reply(&org, &query, w, pos, &req.version, || id.to_string())
    }
}

/// `Sforce-Query-Options: batchSize=N`, clamped to 200..=2000 (default 2000).
fn batch_size(headers: &HeaderMap) -> usize {
    headers
        .get("sforce-query-options")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',').find_map(|opt| {
                let (k, n) = opt.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("batchSize")
                    .then(|| n.trim().parse::<usize>().ok())?
            })
        })
        .map_or(MAX_BATCH, |n| n.clamp(MIN_BATCH, MAX_BATCH))
}

/// One batch of a query's result from position `from`; `locator` names the cursor when
/// there is more.
fn batch_reply(
    org: &Org,
    query: &soql::Query,
    w: soql::Window,
    from: usize,
    version: &str,
    locator: impl FnOnce() -> String,
) -> Reply {
    let obj = query.obj;
    let rows = &org.table(obj).rows;
    let end = from + w.rows.len();
    let done = matches!(query.select, Select::Count) || end >= w.total;
    let mut out = String::with_capacity(64 + w.rows.len() * 400);
    out.push_str(&format!("{{\"totalSize\":{},\"done\":{done}", w.total));
    if !done {
        out.push_str(",\"nextRecordsUrl\":");
        push_json_str(&mut out, &format!("/services/data/{version}/query/{}-{end}", locator()));
    }
    out.push_str(",\"records\":[");
    for (k, &r) in w.rows.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        push_record(&mut out, obj, &rows[r as usize], query.fields(), version);
    }
    out.push_str("]}");
    Reply::ok(out, w.rows.len())
}

fn soap_type(ty: Ty) -> &'static str {
    match ty {
        Ty::Id => "id",
        Ty::Ref => "reference",
        Ty::Str => "string",
        Ty::Pick => "picklist",
        Ty::Bool => "boolean",
        Ty::Int => "int",
        Ty::Num => "double",
        Ty::DateTime => "datetime",
        Ty::Date => "date",
    }
}

fn describe(obj: Obj, version: &str, fields: bool) -> serde_json::Value {
    let base = format!("/services/data/{version}/sobjects/{}", obj.name());
    let mut v = json!({
        "name": obj.name(),
        "label": obj.name(),
        "keyPrefix": obj.prefix(),
        "queryable": true,
        "retrieveable": true,
        "replicateable": obj != Obj::User,
        "deletable": obj != Obj::User,
        "urls": { "sobject": base, "describe": format!("{base}/describe") },
    });
    if fields {
        v["fields"] = obj
            .fields()
            .iter()
            .map(|f| {
                json!({
                    "name": f.name,
                    "type": soap_type(f.ty),
                    "nillable": !schema::required(obj, f.name) && f.ty != Ty::Bool,
                    "filterable": true,
                    "sortable": true,
                })
            })
            .collect();
    }
    v
}

fn sobjects(version: &str) -> String {
    let list: Vec<serde_json::Value> =
        Obj::ALL.iter().map(|&o| describe(o, version, false)).collect();
    json!({ "encoding": "UTF-8", "maxBatchSize": 200, "sobjects": list }).to_string()
}

fn get_record(org: &Org, obj: Obj, id: &str, version: &str) -> Reply {
    let Some(id) = schema::normalize_id(id) else {
        return Reply::not_found();
    };
    let rows = &org.table(obj).rows;
    let Ok(i) = rows.binary_search_by(|r| r.id().cmp(&id)) else {
        return Reply::not_found();
    };
    if rows[i].vals[obj.sys().is_deleted] == Val::Bool(true) {
        return Reply::error(StatusCode::NOT_FOUND, "ENTITY_IS_DELETED", "entity is deleted");
    }
    let all: Vec<usize> = (0..obj.fields().len()).collect();
    let mut out = String::new();
    push_record(&mut out, obj, &rows[i], &all, version);
    Reply::ok(out, 1)
}

fn parse_instant(s: &str) -> Option<i64> {
    let parse = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .or_else(|_| chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
            .ok()
            .map(|t| t.timestamp_millis())
    };
    // a '+' sent unescaped arrives as a space
    parse(s.trim()).or_else(|| parse(&s.trim().replace(' ', "+")))
}

/// `GET …/sobjects/{Type}/deleted/?start=&end=`.
fn deleted(org: &Org, obj: Obj, req: &Req<'_>) -> Reply {
    let mut bounds = [0i64; 2];
    for (k, name) in ["start", "end"].into_iter().enumerate() {
        let Some(raw) = param(&req.params, name).filter(|v| !v.trim().is_empty()) else {
            return Reply::bad_request("MISSING_ARGUMENT", format!("{name} not specified"));
        };
        let Some(t) = parse_instant(raw) else {
            return Reply::bad_request(
                "INVALID_REPLICATION_DATE",
                format!("{name} is not a valid ISO 8601 date-time: {raw}"),
            );
        };
        bounds[k] = t;
    }
    let [start, end] = bounds;
    if start > end {
        return Reply::bad_request(
            "INVALID_REPLICATION_DATE",
            "startDate must chronologically precede endDate",
        );
    }
    let minute = 60_000;
    let now = org.now * 1000;
    let earliest = (now - DELETED_LOG_DAYS * 86_400_000).div_euclid(minute) * minute;
    let latest = end.min(now).div_euclid(minute) * minute;
    let mut hits: Vec<(i64, &str)> = org
        .table(obj)
        .rows
        .iter()
        .filter_map(|r| r.deleted_at.map(|t| (t, r.id())))
        .filter(|&(t, _)| t >= start && t <= latest && t >= earliest)
        .collect();
    hits.sort_unstable();
    let list: Vec<serde_json::Value> =
        hits.iter().map(|(t, id)| json!({ "id": id, "deletedDate": datetime(*t) })).collect();
    let n = list.len();
    let body = json!({
        "deletedRecords": list,
        "earliestDateAvailable": datetime(earliest),
        "latestDateCovered": datetime(latest),
    });
    Reply::ok(body.to_string(), n)
}

// ---------------------------------------------------------------------------------------------
// Control routes of Salesforce's own (the host serves the common ones)

async fn sim_expire_tokens(State(sim): State<SalesforceSim>) -> Response {
    sim.expire_tokens();
    no_content()
}

async fn sim_expire_locators(State(sim): State<SalesforceSim>) -> Response {
    sim.expire_locators();
    no_content()
}

#[derive(Deserialize)]
struct UsageBody {
    #[serde(alias = "tenant")]
    org: String,
    used: u64,
    #[serde(default)]
    limit: Option<u64>,
}

async fn sim_api_usage(State(sim): State<SalesforceSim>, body: Bytes) -> Response {
    let body: UsageBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return control_error(StatusCode::BAD_REQUEST, format!("bad body: {e}")),
    };
    let Some(state) = sim.state(&body.org) else {
        return control_error(StatusCode::NOT_FOUND, format!("unknown org {}", body.org));
    };
    let mut u = state.usage();
    u.used = body.used;
    if let Some(limit) = body.limit {
        u.limit = limit;
    }
    let out = json!({ "org": body.org, "used": u.used, "limit": u.limit });
    plain_json(StatusCode::OK, out.to_string())
}
