//! Fault injection and rate limiting in front of any simulator's router.
//!
//! [`Faults`] is shared state (cheap to clone, all clones share it) plus an axum middleware
//! that [`Faults::layer`] puts in front of every route of a simulator except its `/_sim/…`
//! control routes. For each request, in this order:
//!
//! 1. the request is appended to the traffic log ([`Faults::traffic`], in arrival order);
//! 2. with a [`RateLimit`] set, the client's token bucket (keyed by the `Authorization`
//!    header value, or `anonymous`) must hold a token, or the request is refused with 429, a
//!    `Retry-After` and the vendor's error body ([`ErrorStyle`]). A refused request takes no
//!    token and does not count for fault rules;
//! 3. every [`FaultRule`] whose `path_contains` matches counts the request; the first rule (in
//!    injection order) for which this is one of the `times` requests after its first `skip`
//!    applies its [`FaultKind`]. Otherwise the request passes through.
//!
//! Requests answered by a fault (`Status`, `Drop`, `Garbage`) or refused by the rate limit
//! never reach the simulator, so they are absent from its own request log; `Slow` and
//! `Truncate` pass through and are logged by both.
//!
//! The same controls are served as JSON routes, for use from another process:
//!
//! | route | body |
//! |---|---|
//! | `POST /_sim/faults` | a [`FaultRule`] or an array of them, e.g. `{"path_contains": "service/tickets", "skip": 1, "times": 2, "kind": {"type": "status", "status": 503, "retry_after": 2}}` |
//! | `GET /_sim/faults` | the rules, each with `seen` (matching requests so far) |
//! | `DELETE /_sim/faults` | removes every rule |
//! | `POST /_sim/rate_limit` | a [`RateLimit`]: `{"per_second": 2.0, "burst": 5, "retry_after": null}` |
//! | `DELETE /_sim/rate_limit` | no rate limit |
//! | `GET /_sim/traffic` | the traffic log, an array of [`TrafficEntry`] |
//! | `DELETE /_sim/traffic` | clears it |

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::host::no_content;

/// What a fault does to a request it applies to.
///
/// JSON: internally tagged by `type`, snake_case: `{"type": "status", "status": 503,
/// "retry_after": 2}`, `{"type": "slow", "millis": 1500}`, `{"type": "truncate"}`,
/// `{"type": "drop"}`, `{"type": "garbage"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status and the vendor's error body (see [`ErrorStyle`]), with
    /// `Retry-After: N` when `retry_after` is set.
    Status {
        status: u16,
        #[serde(default)]
        retry_after: Option<u64>,
    },
    /// Wait, then pass the request through.
    Slow { millis: u64 },
    /// Pass through, but send only the first half of the real body while declaring its full
    /// `Content-Length`, then end the connection: the client sees an incomplete body.
    Truncate,
    /// Fail the connection: it is closed without a response, so the client gets a transport
    /// error.
    Drop,
    /// `200 OK` with an HTML error page from a proxy (`text/html`), not JSON.
    Garbage,
}

impl FaultKind {
    /// `status`, `slow`, `truncate`, `drop` or `garbage` (as in a traffic entry's outcome).
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Status { .. } => "status",
            FaultKind::Slow { .. } => "slow",
            FaultKind::Truncate => "truncate",
            FaultKind::Drop => "drop",
            FaultKind::Garbage => "garbage",
        }
    }
}

/// One injected fault: which requests it applies to and what it does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRule {
    /// A substring of the request's path and query (`/path?query`) that the rule matches;
    /// `None` matches every request.
    #[serde(default)]
    pub path_contains: Option<String>,
    /// Let the first `skip` matching requests through.
    #[serde(default)]
    pub skip: u32,
    /// Then apply to the next `times` matching requests; 0 means to every one after `skip`.
    #[serde(default)]
    pub times: u32,
    pub kind: FaultKind,
}

impl FaultRule {
    /// A rule applying `kind` to every request.
    pub fn new(kind: FaultKind) -> Self {
        FaultRule { path_contains: None, skip: 0, times: 0, kind }
    }

    /// Only requests whose path and query contain `needle`.
    pub fn path(mut self, needle: impl Into<String>) -> Self {
        self.path_contains = Some(needle.into());
        self
    }

    /// Let the first `n` matching requests through.
    pub fn skip(mut self, n: u32) -> Self {
        self.skip = n;
        self
    }

    /// Apply to `n` matching requests (after the skipped ones), then no more.
    pub fn times(mut self, n: u32) -> Self {
        self.times = n;
        self
    }

    /// `Status { status, retry_after: None }` on every request.
    pub fn status(status: u16) -> Self {
        FaultRule::new(FaultKind::Status { status, retry_after: None })
    }

    fn matches(&self, target: &str) -> bool {
        self.path_contains.as_deref().is_none_or(|n| target.contains(n))
    }

    /// Whether the `seen`-th matching request (1-based) gets the fault.
    fn fires(&self, seen: u64) -> bool {
        let skip = self.skip as u64;
        seen > skip && (self.times == 0 || seen <= skip + self.times as u64)
    }
}

/// A token bucket per client credential: `burst` tokens at most, refilled at `per_second`;
/// each request takes one. A request that finds no token is refused with 429 and a
/// `Retry-After` of `retry_after` seconds, or of the time until a token is available
/// (rounded up), whichever is longer — so a client that waits as told is never refused twice
/// in a row (unless another client shares its credential).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    pub per_second: f64,
    /// Bucket size (at least 1): how many requests a fresh or rested client may send at once.
    pub burst: u32,
    #[serde(default)]
    pub retry_after: Option<u64>,
}

impl RateLimit {
    pub fn new(per_second: f64, burst: u32) -> Self {
        RateLimit { per_second, burst, retry_after: None }
    }
}

/// One request that reached the layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficEntry {
    /// Wall-clock arrival, milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub method: String,
    pub path: String,
    /// Raw query string, as sent (empty without one).
    pub query: String,
    /// A short stable hash of the `Authorization` header (never the secret itself), or
    /// `anonymous` without one.
    pub client: String,
    /// `passed`, `fault:<kind>` (see [`FaultKind::name`]) or `throttled`.
    pub outcome: String,
    /// The status sent; 0 when none was (`fault:drop`, or a request still in flight).
    pub status: u16,
}

/// Whose error bodies a simulator speaks (`docs/vendor-apis.md` §1.8, §2.7, §3.7, §4.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorStyle {
    /// `{"code": "...", "message": "..."}`
    ConnectWise,
    /// `{"error": {"message": "...", "detail": "..."}, "status": "failure"}`
    ServiceNow,
    /// `[{"message": "...", "errorCode": "..."}]`
    Salesforce,
    /// `{"error": {"code": "...", "message": "...", "innerError": {...}}}`
    Graph,
}

/// What an error body may mention besides its status.
#[derive(Default)]
struct ErrorContext {
    /// The rate limit in requests per hour (ServiceNow's message names it).
    hourly_limit: Option<u64>,
    request_id: String,
    client_request_id: Option<String>,
}

impl ErrorStyle {
    /// The vendor's error body for `status`.
    pub fn body(self, status: u16) -> String {
        let ctx = ErrorContext { request_id: pseudo_guid(status as u64), ..Default::default() };
        self.render(status, &ctx)
    }

    /// The `Content-Type` the vendor sends with an error body.
    pub fn content_type(self) -> &'static str {
        match self {
            ErrorStyle::ConnectWise => "application/json; charset=utf-8",
            ErrorStyle::ServiceNow | ErrorStyle::Salesforce => "application/json;charset=UTF-8",
            ErrorStyle::Graph => "application/json",
        }
    }

    fn render(self, status: u16, ctx: &ErrorContext) -> String {
        let reason = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error")
            .to_string();
        match self {
            ErrorStyle::ConnectWise => {
                let (code, message) = match status {
                    400 => ("InvalidObject", "The request is invalid".to_string()),
                    401 => ("Unauthorized", "Username or password is incorrect".to_string()),
                    403 => (
                        "Security",
                        "You do not have security permission to access this resource".to_string(),
                    ),
                    404 => ("NotFound", "The requested resource was not found".to_string()),
                    405 => ("MethodNotAllowed", "The method is not allowed".to_string()),
                    409 => ("Conflict", "The request conflicts with the resource".to_string()),
                    429 => (
                        "TooManyRequests",
                        "Too many requests: retry after the Retry-After interval".to_string(),
                    ),
                    500 => ("ConnectWiseApi", "An unexpected server error occurred".to_string()),
                    _ => ("ConnectWiseApi", reason),
                };
                json!({ "code": code, "message": message }).to_string()
            }
            ErrorStyle::ServiceNow => {
                let (message, detail) = match status {
                    400 => (
                        "Invalid request".to_string(),
                        "The request could not be processed".to_string(),
                    ),
                    401 => (
                        "User Not Authenticated".to_string(),
                        "Required to provide Auth information".to_string(),
                    ),
                    403 => (
                        "User Not Authorized".to_string(),
                        "ACL restricts access to the resource".to_string(),
                    ),
                    404 => (
                        "No Record found".to_string(),
                        "Record doesn't exist or ACL restricts the record retrieval".to_string(),
                    ),
                    429 => (
                        "Rate limit exceeded".to_string(),
                        format!(
                            "Rate limit of {} requests per hour for Table API exceeded",
                            ctx.hourly_limit.unwrap_or(5_000)
                        ),
                    ),
                    _ => (reason.clone(), format!("{status} {reason}")),
                };
                json!({ "error": { "message": message, "detail": detail }, "status": "failure" })
                    .to_string()
            }
            ErrorStyle::Salesforce => {
                let (code, message) = match status {
                    400 => ("MALFORMED_QUERY", "The request could not be parsed".to_string()),
                    401 => ("INVALID_SESSION_ID", "Session expired or invalid".to_string()),
                    403 | 429 => {
                        ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.".to_string())
                    }
                    404 => ("NOT_FOUND", "The requested resource does not exist".to_string()),
                    503 => ("SERVER_UNAVAILABLE", "Server is unavailable".to_string()),
                    _ => (
                        "UNKNOWN_EXCEPTION",
                        format!(
                            "An unexpected error occurred. Please include this ErrorId if you contact support: {}",
                            ctx.request_id.get(..8).unwrap_or_default()
                        ),
                    ),
                };
                json!([{ "message": message, "errorCode": code }]).to_string()
            }
            ErrorStyle::Graph => {
                let (code, message) = match status {
                    400 => ("BadRequest", "Invalid request.".to_string()),
                    401 => (
                        "InvalidAuthenticationToken",
                        "Access token has expired or is not yet valid.".to_string(),
                    ),
                    403 => (
                        "Authorization_RequestDenied",
                        "Insufficient privileges to complete the operation.".to_string(),
                    ),
                    404 => ("Request_ResourceNotFound", "Resource not found.".to_string()),
                    429 => ("TooManyRequests", "Too Many Requests".to_string()),
                    500 => ("generalException", "General exception while processing".to_string()),
                    503 => ("serviceNotAvailable", "Service Unavailable".to_string()),
                    504 => ("gatewayTimeout", "Gateway Timeout".to_string()),
                    _ => ("UnknownError", reason),
                };
                let date = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
                let client_id = ctx.client_request_id.as_deref().unwrap_or(&ctx.request_id);
                let mut inner = json!({
                    "date": date,
                    "request-id": ctx.request_id,
                    "client-request-id": client_id,
                });
                if status == 429 {
                    inner["code"] = json!("throttledRequest");
                }
                json!({ "error": { "code": code, "message": message, "innerError": inner } })
                    .to_string()
            }
        }
    }

    /// A complete error response: status, vendor body and headers.
    fn response(self, status: u16, retry_after: Option<u64>, ctx: &ErrorContext) -> Response {
        let mut r = Response::new(Body::from(self.render(status, ctx)));
        *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(self.content_type()));
        if let Some(secs) = retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self == ErrorStyle::Graph
            && let Ok(v) = HeaderValue::from_str(&ctx.request_id)
        {
            h.insert("request-id", v.clone());
            let client =
                ctx.client_request_id.as_deref().and_then(|c| HeaderValue::from_str(c).ok());
            h.insert("client-request-id", client.unwrap_or(v));
        }
        r
    }
}

/// A deterministic GUID-shaped id from a number.
fn pseudo_guid(n: u64) -> String {
    let mut x = n ^ 0x5851_F42D_4C95_7F2D;
    let mut next = || {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let (a, b) = (next(), next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// A short stable hash of a credential (FNV-1a, 12 hex digits).
fn client_hash(auth: Option<&[u8]>) -> String {
    match auth {
        None => "anonymous".to_string(),
        Some(bytes) => {
            let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
                (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
            });
            format!("{:012x}", h >> 16)
        }
    }
}

struct Armed {
    rule: FaultRule,
    seen: u64,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Default)]
struct Inner {
    rules: Vec<Armed>,
    rate: Option<RateLimit>,
    buckets: HashMap<String, Bucket>,
    /// Entries with their sequence numbers (for filling in the status when a request ends).
    traffic: Vec<(u64, TrafficEntry)>,
    seq: u64,
}

/// What the layer does with one request.
enum Decision {
    Pass,
    Throttle { retry_after: u64, reset_at: i64 },
    Fault(FaultKind),
}

/// Fault rules, a rate limit and a traffic log shared by a simulator's router (see the
/// module docs). Cheap to clone; clones share state.
#[derive(Clone, Default)]
pub struct Faults {
    inner: Arc<Mutex<Inner>>,
}

impl Faults {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a rule after the existing ones.
    pub fn inject(&self, rule: FaultRule) {
        self.lock().rules.push(Armed { rule, seen: 0 });
    }

    /// Removes every fault rule (the rate limit stays).
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// The rules, each with how many matching requests it has seen.
    pub fn rules(&self) -> Vec<(FaultRule, u64)> {
        self.lock().rules.iter().map(|a| (a.rule.clone(), a.seen)).collect()
    }

    /// Sets (every bucket starts full) or removes the rate limit.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        let mut inner = self.lock();
        inner.rate = limit;
        inner.buckets.clear();
    }

    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.lock().rate.clone()
    }

    /// Every request through the layer so far, in arrival order.
    pub fn traffic(&self) -> Vec<TrafficEntry> {
        self.lock().traffic.iter().map(|(_, e)| e.clone()).collect()
    }

    pub fn clear_traffic(&self) {
        self.lock().traffic.clear();
    }

    /// Wraps every route of `router` except paths starting with `/_sim` with the fault and
    /// rate-limit middleware, and adds the `/_sim/faults`, `/_sim/rate_limit` and
    /// `/_sim/traffic` control routes. `router` must not define those three paths.
    pub fn layer(&self, router: Router, style: ErrorStyle) -> Router {
        let wrapped =
            router.layer(axum::middleware::from_fn_with_state((self.clone(), style), middleware));
        let control = Router::new()
            .route("/_sim/faults", get(get_faults).post(post_faults).delete(delete_faults))
            .route(
                "/_sim/rate_limit",
                get(get_rate_limit).post(post_rate_limit).delete(delete_rate_limit),
            )
            .route("/_sim/traffic", get(get_traffic).delete(delete_traffic))
            .with_state(self.clone());
        wrapped.merge(control)
    }

    // ---- internals

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Logs the request's arrival and decides its fate, atomically (so the log is in arrival
    /// order and rule counts are exact under concurrency).
    fn decide(&self, key: &str, target: &str, mut entry: TrafficEntry) -> (u64, Decision) {
        let mut inner = self.lock();
        let now = Instant::now();
        let mut decision = None;
        if let Some(rate) = inner.rate.clone() {
            let burst = rate.burst.max(1) as f64;
            let per_second = rate.per_second.max(0.0);
            let bucket =
                inner.buckets.entry(key.to_string()).or_insert(Bucket { tokens: burst, at: now });
            let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * per_second).min(burst);
            bucket.at = now;
            if bucket.tokens >= 1.0 - 1e-9 {
                bucket.tokens = (bucket.tokens - 1.0).max(0.0);
            } else {
                let wait = if per_second > 0.0 {
                    ((1.0 - bucket.tokens) / per_second).ceil().clamp(1.0, 86_400.0) as u64
                } else {
                    3_600
                };
                let retry_after = wait.max(rate.retry_after.unwrap_or(0));
                decision = Some(Decision::Throttle {
                    retry_after,
                    reset_at: chrono::Utc::now().timestamp() + retry_after as i64,
                });
            }
        }
        let decision = decision.unwrap_or_else(|| {
            let mut fired = None;
            for armed in inner.rules.iter_mut().filter(|a| a.rule.matches(target)) {
                armed.seen += 1;
                if fired.is_none() && armed.rule.fires(armed.seen) {
                    fired = Some(armed.rule.kind.clone());
                }
            }
            fired.map_or(Decision::Pass, Decision::Fault)
        });
        entry.outcome = match &decision {
            Decision::Pass => "passed".to_string(),
            Decision::Throttle { .. } => "throttled".to_string(),
            Decision::Fault(k) => format!("fault:{}", k.name()),
        };
        inner.seq += 1;
        let seq = inner.seq;
        inner.traffic.push((seq, entry));
        (seq, decision)
    }

    fn finish(&self, seq: u64, status: u16) {
        let mut inner = self.lock();
        if let Ok(i) = inner.traffic.binary_search_by_key(&seq, |(s, _)| *s) {
            inner.traffic[i].1.status = status;
        }
    }

    fn hourly_limit(&self) -> Option<u64> {
        self.lock().rate.as_ref().map(|r| (r.per_second.max(0.0) * 3600.0).round() as u64)
    }
}

async fn middleware(
    State((faults, style)): State<(Faults, ErrorStyle)>,
    req: Request,
    next: Next,
) -> Response {
    if req.uri().path().starts_with("/_sim") {
        return next.run(req).await;
    }
    let auth = req.headers().get(header::AUTHORIZATION).map(|v| v.as_bytes().to_vec());
    let key = auth
        .as_deref()
        .map_or_else(|| "anonymous".to_string(), |a| String::from_utf8_lossy(a).into_owned());
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let target = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
    let entry = TrafficEntry {
        at_ms: chrono::Utc::now().timestamp_millis(),
        method: req.method().to_string(),
        path,
        query,
        client: client_hash(auth.as_deref()),
        outcome: String::new(),
        status: 0,
    };
    let (seq, decision) = faults.decide(&key, &target, entry);
    let ctx = ErrorContext {
        hourly_limit: faults.hourly_limit(),
        request_id: pseudo_guid(seq ^ chrono::Utc::now().timestamp_millis() as u64),
        client_request_id: req
            .headers()
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    let response = match decision {
        Decision::Pass => next.run(req).await,
        Decision::Throttle { retry_after, reset_at } => {
            let mut r = style.response(429, Some(retry_after), &ctx);
            if style == ErrorStyle::ServiceNow {
                let h = r.headers_mut();
                h.insert("X-RateLimit-Limit", HeaderValue::from(ctx.hourly_limit.unwrap_or(0)));
                h.insert("X-RateLimit-Reset", HeaderValue::from(reset_at));
            }
            r
        }
        Decision::Fault(FaultKind::Status { status, retry_after }) => {
            style.response(status, retry_after, &ctx)
        }
        Decision::Fault(FaultKind::Slow { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            next.run(req).await
        }
        Decision::Fault(FaultKind::Truncate) => truncate(next.run(req).await).await,
        Decision::Fault(FaultKind::Drop) => {
            faults.finish(seq, 0);
            // A body that fails before its first byte makes hyper abandon the connection
            // before the buffered response head is flushed: the client sees the connection
            // close with no response at all.
            let failing = futures::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::other("simulated connection drop"))
            });
            return Response::new(Body::from_stream(failing));
        }
        Decision::Fault(FaultKind::Garbage) => {
            let mut r = Response::new(Body::from(GARBAGE_PAGE));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=UTF-8"));
            r
        }
    };
    faults.finish(seq, response.status().as_u16());
    response
}

const GARBAGE_PAGE: &str = "<!DOCTYPE html>\n<html>\n<head><title>502 Bad Gateway</title></head>\n\
<body>\n<center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx</center>\n\
<p>The upstream server did not answer in time. Please try again later.</p>\n</body>\n</html>\n";

/// The same response, declaring its full `Content-Length` but sending only the first half
/// of the body before the connection fails.
async fn truncate(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let declared = bytes.len().max(1);
    let half = bytes.slice(..bytes.len() / 2);
    parts.headers.remove(header::TRANSFER_ENCODING);
    parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(declared));
    // The pause lets hyper flush the head and the half body before the error closes the
    // connection.
    let stream = futures::stream::iter([Ok::<Bytes, std::io::Error>(half)]).chain(
        futures::stream::once(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err(std::io::Error::other("simulated truncated response"))
        }),
    );
    Response::from_parts(parts, Body::from_stream(stream))
}

// ---------------------------------------------------------------------------------------------
// Control routes

fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn bad_request(message: String) -> Response {
    json_response(StatusCode::BAD_REQUEST, json!({ "error": message }).to_string())
}

async fn get_faults(State(faults): State<Faults>) -> Response {
    let rules: Vec<serde_json::Value> = faults
        .rules()
        .into_iter()
        .map(|(rule, seen)| {
            let mut v = serde_json::to_value(rule).unwrap_or_default();
            v["seen"] = json!(seen);
            v
        })
        .collect();
    json_response(StatusCode::OK, serde_json::Value::Array(rules).to_string())
}

async fn post_faults(State(faults): State<Faults>, body: Bytes) -> Response {
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("bad body: {e}")),
    };
    let parsed = if value.is_array() {
        serde_json::from_value::<Vec<FaultRule>>(value)
    } else {
        serde_json::from_value::<FaultRule>(value).map(|r| vec![r])
    };
    let rules = match parsed {
        Ok(rules) => rules,
        Err(e) => return bad_request(format!("bad fault rule: {e}")),
    };
    let n = rules.len();
    for rule in rules {
        faults.inject(rule);
    }
    json_response(StatusCode::OK, json!({ "added": n, "rules": faults.rules().len() }).to_string())
}

async fn delete_faults(State(faults): State<Faults>) -> Response {
    faults.clear();
    no_content()
}

async fn get_rate_limit(State(faults): State<Faults>) -> Response {
    json_response(StatusCode::OK, serde_json::to_string(&faults.rate_limit()).unwrap_or_default())
}

async fn post_rate_limit(State(faults): State<Faults>, body: Bytes) -> Response {
    match serde_json::from_slice::<RateLimit>(&body) {
        Ok(limit) => {
            faults.set_rate_limit(Some(limit));
            no_content()
        }
        Err(e) => bad_request(format!("bad rate limit: {e}")),
    }
}

async fn delete_rate_limit(State(faults): State<Faults>) -> Response {
    faults.set_rate_limit(None);
    no_content()
}

async fn get_traffic(State(faults): State<Faults>) -> Response {
    json_response(StatusCode::OK, serde_json::to_string(&faults.traffic()).unwrap_or_default())
}

async fn delete_traffic(State(faults): State<Faults>) -> Response {
    faults.clear_traffic();
    no_content()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_windows() {
        let r = FaultRule::status(500).skip(2).times(3);
        let fired: Vec<bool> = (1..=7).map(|n| r.fires(n)).collect();
        assert_eq!(fired, [false, false, true, true, true, false, false]);
        let forever = FaultRule::status(500).skip(1);
        assert!(!forever.fires(1) && forever.fires(2) && forever.fires(1_000));
    }

    #[test]
    fn rules_round_trip_as_json() {
        let r: FaultRule = serde_json::from_str(
            r#"{"path_contains":"tickets","times":2,"kind":{"type":"status","status":503,"retry_after":4}}"#,
        )
        .unwrap();
        assert_eq!(
            r,
            FaultRule::new(FaultKind::Status { status: 503, retry_after: Some(4) })
                .path("tickets")
                .times(2)
        );
        let d: FaultRule = serde_json::from_str(r#"{"kind":{"type":"drop"}}"#).unwrap();
        assert_eq!(d, FaultRule::new(FaultKind::Drop));
        let back: FaultRule = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn client_hash_is_short_stable_and_hides_the_secret() {
        let a = client_hash(Some(b"Basic c2VjcmV0"));
        assert_eq!(a, client_hash(Some(b"Basic c2VjcmV0")));
        assert_eq!(a.len(), 12);
        assert!(!a.contains("c2Vj"));
        assert_ne!(a, client_hash(Some(b"Basic b3RoZXI=")));
        assert_eq!(client_hash(None), "anonymous");
    }

    #[test]
    fn error_bodies_follow_the_vendors() {
        let sn: serde_json::Value =
            serde_json::from_str(&ErrorStyle::ServiceNow.body(429)).unwrap();
        assert_eq!(sn["status"], "failure");
        assert_eq!(sn["error"]["message"], "Rate limit exceeded");
        assert!(
            sn["error"]["detail"].as_str().unwrap().contains("requests per hour for Table API")
        );
        let sf: serde_json::Value =
            serde_json::from_str(&ErrorStyle::Salesforce.body(401)).unwrap();
        assert_eq!(sf[0]["errorCode"], "INVALID_SESSION_ID");
        let g: serde_json::Value = serde_json::from_str(&ErrorStyle::Graph.body(429)).unwrap();
        assert_eq!(g["error"]["code"], "TooManyRequests");
        assert_eq!(g["error"]["innerError"]["code"], "throttledRequest");
        assert!(g["error"]["innerError"]["request-id"].is_string());
        let cw: serde_json::Value =
            serde_json::from_str(&ErrorStyle::ConnectWise.body(404)).unwrap();
        assert_eq!(cw["code"], "NotFound");
        assert!(cw["message"].is_string());
    }
}
