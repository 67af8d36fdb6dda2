//! HTTP routes: the ConnectWise API and the `/_sim` control routes.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::{any, get};
use base64::Engine as _;
use serde_json::json;

use super::catalog::BOARDS;
use super::query::{self, is_default_order, resolve_field};
use super::{
    CW_API_PREFIX, CW_API_VERSION, CW_CODEBASE, CompanyState, ConnectWiseSim, RequestRecord, Table,
};
use crate::conditions::{
    CmpOp, ConditionError, Expr, Field, FieldKind, Literal, parse_conditions, parse_order_by,
};
use crate::sink::Selection;

const MAX_PAGE_SIZE: i64 = 1000;
const DEFAULT_PAGE_SIZE: i64 = 25;

/// The ConnectWise API; `GET /_sim/companies` is the host's `/_sim/tenants` by its old name.
pub(super) fn routes() -> Router<ConnectWiseSim> {
    Router::new()
        .route("/login/companyinfo/{company}", any(company_info))
        .route(CW_API_PREFIX, any(api))
        .route(&format!("{CW_API_PREFIX}/{{*rest}}"), any(api))
        .route("/_sim/companies", get(crate::host::sim_tenants::<super::ConnectWise>))
        .fallback(fallback)
}

// ---------------------------------------------------------------------------------------------
// Replies

/// A sub-error of a ConnectWise error body.
struct SubError {
    code: &'static str,
    message: String,
    resource: String,
    field: String,
}

struct Reply {
    status: StatusCode,
    body: String,
    link: Option<String>,
    records: usize,
}

impl Reply {
    fn ok(body: String, records: usize) -> Reply {
        Reply { status: StatusCode::OK, body, link: None, records }
    }

    fn error(
        status: StatusCode,
        code: &str,
        message: impl Into<String>,
        errors: Vec<SubError>,
    ) -> Reply {
        let mut body = json!({ "code": code, "message": message.into() });
        if !errors.is_empty() {
            body["errors"] = errors
                .into_iter()
                .map(|e| json!({ "code": e.code, "message": e.message, "resource": e.resource, "field": e.field }))
                .collect();
        }
        Reply { status, body: body.to_string(), link: None, records: 0 }
    }

    fn invalid(message: impl Into<String>, sub: SubError) -> Reply {
        Reply::error(StatusCode::BAD_REQUEST, "InvalidObject", message, vec![sub])
    }

    fn not_found(message: impl Into<String>) -> Reply {
        Reply::error(StatusCode::NOT_FOUND, "NotFound", message, Vec::new())
    }

    fn into_response(self) -> Response {
        let mut b = Response::builder()
            .status(self.status)
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .header("api-current-version", CW_API_VERSION);
        if let Some(link) = &self.link {
            b = b.header(header::LINK, link);
        }
        b.body(Body::from(self.body)).unwrap_or_else(|_| {
            let mut r = Response::new(Body::from(
                r#"{"code":"ConnectWiseApi","message":"bad response header"}"#,
            ));
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        })
    }
}

fn plain_json(status: StatusCode, body: String) -> Response {
    Reply { status, body, link: None, records: 0 }.into_response()
}

// ---------------------------------------------------------------------------------------------
// Vendor routes

async fn company_info(
    State(sim): State<ConnectWiseSim>,
    Path(company): Path<String>,
    req: Request,
) -> Response {
    let state = sim.state(&company);
    let body = match &state {
        Some(state) => {
            let ds = state.read();
            let name = ds.spec.company_id.clone();
            json!({
                "CompanyName": format!("{name} (simulated)"),
                "Codebase": CW_CODEBASE,
                "VersionCode": format!("v{CW_API_VERSION}"),
                "VersionNumber": "v4.6.94512",
                "CompanyID": name,
                "IsCloud": true,
                "SiteUrl": "api-na.myconnectwise.net",
            })
            .to_string()
        }
        None => "null".to_string(),
    };
    sim.log(RequestRecord {
        at_ms: now_ms(),
        company_id: Some(company),
        method: req.method().to_string(),
        path: req.uri().path().to_string(),
        query: req.uri().query().unwrap_or_default().to_string(),
        conditions: None,
        status: 200,
        records: usize::from(state.is_some()),
    });
    plain_json(StatusCode::OK, body)
}

async fn api(State(sim): State<ConnectWiseSim>, req: Request) -> Response {
    let (parts, _body) = req.into_parts();
    let job = tokio::task::spawn_blocking(move || {
        sim.handle_api(&parts.method, &parts.uri, &parts.headers)
    });
    match job.await {
        Ok(resp) => resp,
        Err(e) => Reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ConnectWiseApi",
            format!("simulator error: {e}"),
            Vec::new(),
        )
        .into_response(),
    }
}

async fn fallback(State(sim): State<ConnectWiseSim>, req: Request) -> Response {
    let reply = Reply::not_found(format!("No route for {} {}", req.method(), req.uri().path()));
    sim.log(RequestRecord {
        at_ms: now_ms(),
        company_id: None,
        method: req.method().to_string(),
        path: req.uri().path().to_string(),
        query: req.uri().query().unwrap_or_default().to_string(),
        conditions: None,
        status: reply.status.as_u16(),
        records: 0,
    });
    reply.into_response()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Everything about one API request that the reply needs.
struct Req<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    rest: &'a str,
    params: Vec<(String, String)>,
}

impl ConnectWiseSim {
    /// Serves one API request and logs it.
    fn handle_api(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Response {
        let path = uri.path();
        let rest = path.strip_prefix(CW_API_PREFIX).unwrap_or(path);
        let query = uri.query().unwrap_or_default();
        let params: Vec<(String, String)> =
            url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let conditions = param(&params, "conditions").map(str::to_string);
        let req = Req { method, uri, headers, rest, params };
        let mut claim = None;
        let reply = self.reply(&req, &mut claim);
        self.log(RequestRecord {
            at_ms: now_ms(),
            company_id: claim,
            method: method.to_string(),
            path: if rest.is_empty() { "/".to_string() } else { rest.to_string() },
            query: query.to_string(),
            conditions,
            status: reply.status.as_u16(),
            records: reply.records,
        });
        reply.into_response()
    }

    fn reply(&self, req: &Req<'_>, claim: &mut Option<String>) -> Reply {
        let state = match self.authenticate(req.headers, claim) {
            Ok(s) => s,
            Err(r) => return r,
        };
        if *req.method != Method::GET {
            return Reply::error(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                format!("The simulator serves GET only, not {}", req.method),
                Vec::new(),
            );
        }
        let rest = req.rest.trim_matches('/');
        if rest.eq_ignore_ascii_case("system/info") {
            let body = json!({
                "version": format!("v{CW_API_VERSION}.94512"),
                "isCloud": true,
                "serverTimeZone": "Eastern Standard Time",
                "licenseBits": [],
                "cloudRegion": "NA",
            });
            return Reply::ok(body.to_string(), 0);
        }
        if let Some(reply) = board_statuses(&state, rest, req) {
            return reply;
        }
        for t in Table::ALL {
            if t == Table::BoardStatuses {
                continue; // served per board only
            }
            let Some(tail) = strip_prefix_ci(rest, t.path()) else { continue };
            let tail = tail.trim_start_matches('/');
            if tail.is_empty() {
                return list(&state, t, None, req);
            }
            if tail.eq_ignore_ascii_case("count") {
                return count(&state, t, None, req);
            }
            if let Ok(id) = tail.parse::<i64>() {
                return get_one(&state, t, None, id, req);
            }
            if !tail.contains('/')
                && rest.len() > t.path().len()
                && rest.as_bytes()[t.path().len()] == b'/'
            {
                return Reply::invalid(
                    format!("'{tail}' is not a valid id"),
                    SubError {
                        code: "InvalidValue",
                        message: "id must be an integer".into(),
                        resource: t.resource().into(),
                        field: "id".into(),
                    },
                );
            }
        }
        Reply::not_found(format!("The resource /{rest} is not available in this simulator"))
    }

    /// Checks Basic auth and the clientId header; returns the company.
    fn authenticate(
        &self,
        headers: &HeaderMap,
        claim: &mut Option<String>,
    ) -> Result<Arc<CompanyState>, Reply> {
        let unauthorized =
            |m: &str| Reply::error(StatusCode::UNAUTHORIZED, "Unauthorized", m, Vec::new());
        let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
            return Err(unauthorized(
                "Authorization header is missing: use Basic authentication with '{companyId}+{publicKey}' and the private key",
            ));
        };
        let Some(encoded) = value
            .split_once(' ')
            .filter(|(s, _)| s.eq_ignore_ascii_case("basic"))
            .map(|(_, e)| e.trim())
        else {
            return Err(unauthorized("Only Basic authentication is supported"));
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        let Some((user, private_key)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
            return Err(unauthorized("Malformed Basic credentials"));
        };
        let Some((company_id, public_key)) = user.split_once('+') else {
            return Err(unauthorized("The user name must be '{companyId}+{publicKey}'"));
        };
        *claim = Some(company_id.to_string());
        let Some(state) = self.state(company_id) else {
            return Err(unauthorized("Username or password is incorrect"));
        };
        {
            let ds = state.read();
            if ds.spec.public_key != public_key || ds.spec.private_key != private_key {
                return Err(unauthorized("Username or password is incorrect"));
            }
            let client_id = headers.get("clientid").and_then(|v| v.to_str().ok()).map(str::trim);
            let problem = match client_id {
                None | Some("") => Some(
                    "The clientId header is missing: every request must carry the clientId of a registered integration",
                ),
                Some(c) if c != ds.spec.client_id => {
                    Some("The clientId header does not name a registered integration")
                }
                Some(_) => None,
            };
            if let Some(message) = problem {
                return Err(Reply::invalid(
                    message,
                    SubError {
                        code: "InvalidValue",
                        message: "clientId is invalid".into(),
                        resource: "request".into(),
                        field: "clientId".into(),
                    },
                ));
            }
        }
        Ok(state)
    }
}

/// `service/boards/{boardId}/statuses[/count | /{id}]`: one board's statuses, with the same
/// paging, conditions and ordering as any list; `None` for other paths.
fn board_statuses(state: &CompanyState, rest: &str, req: &Req<'_>) -> Option<Reply> {
    let tail = strip_prefix_ci(rest, "service/boards/")?;
    let segs: Vec<&str> = tail.split('/').collect();
    if segs.len() < 2 || segs.len() > 3 || !segs[1].eq_ignore_ascii_case("statuses") {
        return None;
    }
    let t = Table::BoardStatuses;
    let bad_id = |what: &str, field: &str| {
        Reply::invalid(
            format!("'{what}' is not a valid id"),
            SubError {
                code: "InvalidValue",
                message: "id must be an integer".into(),
                resource: if field == "boardId" { "board" } else { t.resource() }.into(),
                field: field.into(),
            },
        )
    };
    let Ok(board) = segs[0].parse::<i64>() else { return Some(bad_id(segs[0], "boardId")) };
    if state.read().find(Table::Boards, board).is_none() {
        return Some(Reply::not_found(format!("Board with id {board} was not found")));
    }
    Some(match segs.get(2) {
        None => list(state, t, Some(board), req),
        Some(s) if s.eq_ignore_ascii_case("count") => count(state, t, Some(board), req),
        Some(s) => match s.parse::<i64>() {
            Ok(id) => get_one(state, t, Some(board), id, req),
            Err(_) => bad_id(s, "id"),
        },
    })
}

/// Whether row `i` of `t` belongs to the board a per-board list is scoped to.
fn in_scope(ds: &super::Dataset, t: Table, i: usize, board: Option<i64>) -> bool {
    match (t, board) {
        (Table::BoardStatuses, Some(b)) => BOARDS[ds.statuses[i].board as usize].id == b,
        _ => true,
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

fn int_param(
    req: &Req<'_>,
    t: Table,
    name: &str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, Reply> {
    let Some(raw) = param(&req.params, name).map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(default);
    };
    let sub = |code: &'static str, message: String| SubError {
        code,
        message,
        resource: t.resource().into(),
        field: name.into(),
    };
    match raw.parse::<i64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        Ok(_) => Err(Reply::invalid(
            format!("{name} is out of range"),
            sub("OutOfRange", format!("{name} must be between {min} and {max}")),
        )),
        Err(_) => Err(Reply::invalid(
            format!("{name} must be an integer"),
            sub("InvalidValue", format!("'{raw}' is not an integer")),
        )),
    }
}

fn syntax_error(t: Table, field: &str, e: ConditionError) -> Reply {
    let message =
        if e.message.starts_with(field) { e.to_string() } else { format!("{field}: {e}") };
    Reply::invalid(
        message.clone(),
        SubError {
            code: "InvalidValue",
            message,
            resource: t.resource().into(),
            field: field.into(),
        },
    )
}

/// Parsed and validated `conditions` and `orderBy`.
struct Filter {
    cond: Option<Expr>,
    order: Vec<crate::conditions::OrderKey>,
    key: String,
}

/// With `board`, rows are limited to that board's (`board/id = {board}` and the request's
/// conditions).
fn filter(
    ds: &super::Dataset,
    t: Table,
    board: Option<i64>,
    req: &Req<'_>,
    with_order: bool,
) -> Result<Filter, Reply> {
    let cond_text = param(&req.params, "conditions").unwrap_or_default();
    let mut cond = parse_conditions(cond_text).map_err(|e| syntax_error(t, "conditions", e))?;
    if let Some(e) = &mut cond {
        e.fields_mut(&mut |f| resolve_field(ds, t, f, "conditions"))
            .map_err(|e| syntax_error(t, "conditions", e))?;
    }
    if let Some(b) = board {
        let scope = Expr::Cmp {
            field: Field {
                text: "board/id".into(),
                path: vec!["board".into(), "id".into()],
                kind: FieldKind::Path,
                pos: 0,
            },
            op: CmpOp::Eq,
            value: Literal::Int(b),
        };
        cond = Some(match cond {
            None => scope,
            Some(e) => Expr::And(vec![scope, e]),
        });
    }
    let order_text =
        if with_order { param(&req.params, "orderBy").unwrap_or_default() } else { "" };
    let mut order = parse_order_by(order_text).map_err(|e| syntax_error(t, "orderBy", e))?;
    for k in &mut order {
        resolve_field(ds, t, &mut k.field, "orderBy").map_err(|e| syntax_error(t, "orderBy", e))?;
    }
    let key = format!(
        "{}{}\u{1}{}\u{1}{}",
        t.path(),
        board.map(|b| format!("#{b}")).unwrap_or_default(),
        cond_text.trim(),
        if is_default_order(&order) { "" } else { order_text.trim() }
    );
    Ok(Filter { cond, order, key })
}

/// Matching rows in response order: all rows by id, or a cached selection.
enum Rows {
    All(usize),
    Some(Arc<Vec<u32>>),
}

impl Rows {
    fn len(&self) -> usize {
        match self {
            Rows::All(n) => *n,
            Rows::Some(v) => v.len(),
        }
    }
    fn at(&self, i: usize) -> usize {
        match self {
            Rows::All(_) => i,
            Rows::Some(v) => v[i] as usize,
        }
    }
}

fn rows(state: &CompanyState, ds: &super::Dataset, t: Table, f: Filter) -> Rows {
    if f.cond.is_none() && is_default_order(&f.order) && ds.live_len(t) == ds.len(t) {
        Rows::All(ds.len(t))
    } else {
        Rows::Some(state.select(ds, t, f.key, f.cond.as_ref(), &f.order))
    }
}

fn list(state: &CompanyState, t: Table, board: Option<i64>, req: &Req<'_>) -> Reply {
    let ds = state.read();
    let page_size = match int_param(req, t, "pageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE) {
        Ok(v) => v as usize,
        Err(r) => return r,
    };
    let forward_only = req
        .headers
        .get("pagination-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("forward-only"));
    let f = match filter(&ds, t, board, req, !forward_only) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let sel = Selection::parse(param(&req.params, "fields").unwrap_or_default());
    let rows = rows(state, &ds, t, f);
    let total = rows.len();

    if forward_only {
        let after = match int_param(req, t, "pageId", 0, i64::MIN, i64::MAX) {
            Ok(v) => v,
            Err(r) => return r,
        };
        // rows are in id order here: find the first id after pageId
        let (mut lo, mut hi) = (0, total);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if ds.id_at(t, rows.at(mid)) <= after {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let end = (lo + page_size).min(total);
        let body = query::write_rows(&ds, t, (lo..end).map(|i| rows.at(i)), &sel);
        let mut reply = Reply::ok(body, end - lo);
        if end < total && end > lo {
            let last_id = ds.id_at(t, rows.at(end - 1));
            reply.link = Some(format!(
                "<{}>; rel=\"next\"",
                link_url(req, &["pageId", "page"], "pageId", last_id)
            ));
        }
        return reply;
    }

    let page = match int_param(req, t, "page", 1, 1, i64::MAX / 2) {
        Ok(v) => v as usize,
        Err(r) => return r,
    };
    let start = (page - 1).saturating_mul(page_size).min(total);
    let end = start.saturating_add(page_size).min(total);
    let body = query::write_rows(&ds, t, (start..end).map(|i| rows.at(i)), &sel);
    let mut reply = Reply::ok(body, end - start);
    let last_page = total.div_ceil(page_size).max(1);
    let mut links = Vec::new();
    let mut link = |rel: &str, p: usize| {
        links.push(format!("<{}>; rel=\"{rel}\"", link_url(req, &["page"], "page", p as i64)))
    };
    if total > 0 {
        if page > 1 {
            link("first", 1);
            if page - 1 <= last_page {
                link("prev", page - 1);
            }
        }
        if page < last_page {
            link("next", page + 1);
        }
        if page != last_page {
            link("last", last_page);
        }
    }
    if !links.is_empty() {
        reply.link = Some(links.join(", "));
    }
    reply
}

/// The request's own URL with `drop` parameters removed and `add=value` appended last.
fn link_url(req: &Req<'_>, drop: &[&str], add: &str, value: i64) -> String {
    let host = req.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let mut parts: Vec<&str> = req
        .uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|seg| !seg.is_empty())
        .filter(|seg| {
            let key = seg.split('=').next().unwrap_or_default();
            let key: String = url::form_urlencoded::parse(key.as_bytes())
                .map(|(k, _)| k.into_owned())
                .next()
                .unwrap_or_default();
            !drop.iter().any(|d| d.eq_ignore_ascii_case(&key))
        })
        .collect();
    let tail = format!("{add}={value}");
    parts.push(&tail);
    format!("http://{host}{}?{}", req.uri.path(), parts.join("&"))
}

fn count(state: &CompanyState, t: Table, board: Option<i64>, req: &Req<'_>) -> Reply {
    let ds = state.read();
    let f = match filter(&ds, t, board, req, false) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let n = rows(state, &ds, t, f).len();
    Reply::ok(json!({ "count": n }).to_string(), 0)
}

fn get_one(state: &CompanyState, t: Table, board: Option<i64>, id: i64, req: &Req<'_>) -> Reply {
    let ds = state.read();
    match ds.find(t, id).filter(|&i| ds.live(t, i) && in_scope(&ds, t, i, board)) {
        Some(i) => {
            let sel = Selection::parse(param(&req.params, "fields").unwrap_or_default());
            Reply::ok(query::write_row(&ds, t, i, &sel), 1)
        }
        None => {
            let name = t.resource();
            let mut name = name.to_string();
            if let Some(first) = name.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            Reply::not_found(format!("{name} with id {id} was not found"))
        }
    }
}
