//! AVESA's HTTP API (docs/design.md §8–§9): JSON over HTTP with axum, plus the embedded UI.
//!
//! [`router`] builds the whole application from an [`AppState`] (the [`StateStore`], the
//! [`Warehouse`] and the [`AuthConfig`]); the binary only binds a listener and serves it.
//!
//! # Routes
//!
//! | Route | Auth | Answer |
//! |---|---|---|
//! | `POST /auth/login` `{tenant_id, email, password}` | – | tokens + user |
//! | `POST /auth/refresh` `{refresh_token}` | – | new tokens (rotation) |
//! | `POST /auth/logout` `{refresh_token}` | – | 204, family revoked |
//! | `GET /auth/me` | bearer | the user |
//! | `GET /api/analytics/dashboard` | bearer | KPIs + `last_synced_at` |
//! | `GET /api/analytics/tickets/status` | bearer | `{items: [{status, count}]}` |
//! | `GET /api/analytics/companies/top?limit=` | bearer | `{items: [TopCompany]}` |
//! | `GET /api/analytics/metrics[/{metric}[/series]]`, `GET /api/analytics/kpis` | bearer | metrics for a period ([`kpi`]) |
//! | `GET /api/{companies,contacts,tickets,time-entries}` | bearer | a [`Page`](avesa_warehouse::Page) |
//! | `GET /api/{entity}/{id}?as_of=` | bearer | one record |
//! | `GET /api/{entity}/{id}/history` | bearer | `{items: [versions]}` |
//! | `GET`, `POST /api/views`, `PATCH`, `DELETE /api/views/{id}` | bearer | the caller's saved views ([`views`]) |
//! | `GET /health`, `GET /health/detailed` | – | liveness, backend checks |
//! | `GET /*` (anything else) | – | the UI: an embedded file or `index.html` |
//!
//! # Guarantees
//!
//! * **Tenant isolation**: protected handlers take an [`AuthUser`], whose tenant comes only
//!   from the verified access token; every warehouse and state call is given that tenant.
//!   A record of another tenant answers exactly like a record that does not exist.
//! * **One error shape**: every error — from handlers, extractor rejections (malformed JSON,
//!   wrong content type, bad query parameters), the body limit, unknown routes, wrong methods
//!   and panics — is `{"error": {"code", "message", "details"?}}` with a code from the closed
//!   set [`ErrorCode`]. Engine and database failures are logged and answered with a generic
//!   500. Password hashes and tokens' hashes never leave the server.
//! * **Auth**: see [`auth`] (HS256 JWT access tokens, rotating refresh tokens with reuse
//!   detection, a login brute-force limiter, argon2id passwords).
//! * **CORS** is closed unless [`HttpConfig::cors_allowed_origins`] says otherwise; request
//!   bodies are limited to [`HttpConfig::body_limit_bytes`]; every request is traced.

pub mod admin;
pub mod analytics;
pub mod auth;
mod config;
pub mod entities;
mod error;
mod extract;
pub mod guard;
pub mod health;
pub mod kpi;
mod limiter;
pub mod links;
pub mod openapi;
pub mod ops;
mod password;
pub mod reports;
pub mod schedules;
pub mod server;
pub mod tenant_settings;
mod ui;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use avesa_model::metrics::{MetricDef, Metrics};
use avesa_state::StateStore;
use avesa_warehouse::Warehouse;

pub use auth::{AuthUser, Claims, TokenResponse, UserView};
pub use config::{AuthConfig, DEFAULT_AUDIENCE, DEFAULT_ISSUER, HttpConfig, MIN_SECRET_LEN};
pub use error::{ApiError, ErrorCode, INTERNAL_MESSAGE};
pub use extract::{ApiJson, ApiPath, ApiQuery};
pub use guard::{Clock, ReadLimits, ResponseCache, system_clock};
pub use limiter::{DEFAULT_MAX_FAILURES, DEFAULT_WINDOW, LoginLimiter, LoginLimits};
pub use password::{MIN_PASSWORD_LEN, check_new_password, hash_password, verify_password};
pub use server::{ServeOptions, serve};

/// Everything a handler needs. Cheap to clone (all `Arc`s).
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn StateStore>,
    pub warehouse: Arc<dyn Warehouse>,
    pub auth: Arc<AuthConfig>,
    pub http: Arc<HttpConfig>,
    /// Failed logins per account and client, per client and per account; shared by
    /// every clone of the state.
    pub login_limiter: Arc<LoginLimits>,
    /// Password checks in flight (argon2id costs ~19 MiB and tens of milliseconds each).
    pub hashing: Arc<tokio::sync::Semaphore>,
    /// Which sessions still stand.
    pub sessions: Arc<auth::Sessions>,
    /// Runs the API started, per tenant (for the run quotas).
    pub run_quota: Arc<admin::RunQuota>,
    /// Seals and tests service credentials (`/api/admin/services`); `None` where this
    /// process cannot.
    pub services: Option<Arc<dyn ops::ServiceAdmin>>,
    /// Starts sync runs and backfills (`POST /api/admin/runs`); `None` where this
    /// process does not run the pipeline.
    pub trigger: Option<Trigger>,
    /// Reports the distributed shape's workers and job queue in `/health/detailed`;
    /// `None` where jobs run in this process.
    pub cluster: Option<ClusterProbe>,
    /// The registry `/metrics` serves (the app's, shared with its pipeline).
    pub metrics: Metrics,
    /// The bearer token a metrics scraper presents at `/metrics` (platform admins may use
    /// their access token instead); `None`: only platform admins.
    pub metrics_token: Option<Arc<str>>,
    /// Where this process's applies are counted (the response cache keys by them).
    pub epochs: avesa_warehouse::DataEpochs,
    /// Sends client reports by e-mail; `None` when no SMTP server is configured.
    pub mailer: Option<Arc<avesa_report::Mailer>>,
    /// The read routes' cache and gate.
    pub reads: Arc<ResponseCache>,
    /// What the time is (analytics periods run to now); the system clock but in tests.
    pub clock: guard::Clock,
}

/// The API's metrics and what each is.
pub const METRICS: &[MetricDef] = &[
    ("avesa_http_requests_total", "API requests served, by route and status."),
    ("avesa_http_request_duration_seconds", "API request latency, by route."),
];

/// What every response carries (the UI is served from the same origin and needs nothing
/// more: scripts and styles from files, data from the API).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; \
     frame-ancestors 'none'";

/// What `POST /api/admin/runs` asks for; the tenant is the caller's.
#[derive(Clone, Debug)]
pub struct TriggerRequest {
    pub tenant: avesa_model::TenantId,
    pub service: Option<String>,
    pub table: Option<String>,
    pub full: bool,
    pub backfill: Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
}

/// Why a run was not started.
#[derive(Clone, Debug)]
pub enum TriggerRefusal {
    /// The request is wrong (400), e.g. an unknown table.
    Invalid(String),
    /// The server cannot start runs now (503), e.g. it is shutting down.
    Unavailable(String),
}

/// Starts a run in the background and returns its id at once, or says why it cannot.
pub type Trigger = Arc<
    dyn Fn(
            TriggerRequest,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<String, TriggerRefusal>> + Send>,
        > + Send
        + Sync,
>;

/// Reports workers and the job queue: whether jobs can run, and the details.
pub type ClusterProbe = Arc<
    dyn Fn()
            -> std::pin::Pin<Box<dyn std::future::Future<Output = (bool, serde_json::Value)> + Send>>
        + Send
        + Sync,
>;

impl AppState {
    /// A state with the default [`HttpConfig`] (CORS closed, 1 MiB bodies) and the default
    /// login limiter (5 failures per 5 minutes). Computes the dummy password hash once per
    /// process (argon2id, some tens of milliseconds of CPU).
    pub fn new(
        store: Arc<dyn StateStore>,
        warehouse: Arc<dyn Warehouse>,
        auth: AuthConfig,
    ) -> Self {
        // Compute the dummy hash now, so the first login of an unknown user does not take
        // visibly longer than a wrong password.
        let _ = password::dummy_hash();
        let epochs = avesa_warehouse::DataEpochs::default();
        let http = HttpConfig::default();
        let clock = guard::system_clock();
        let reads = Arc::new(ResponseCache::new(http.reads.clone(), epochs.clone(), clock.clone()));
        AppState {
            store,
            warehouse,
            auth: Arc::new(auth),
            http: Arc::new(http),
            login_limiter: Arc::new(LoginLimits::default()),
            hashing: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 4),
            )),
            sessions: Arc::new(auth::Sessions::default()),
            run_quota: Arc::new(admin::RunQuota::default()),
            services: None,
            trigger: None,
            cluster: None,
            metrics: {
                let m = Metrics::new();
                m.declare(METRICS);
                m
            },
            metrics_token: None,
            epochs,
            reads,
            clock,
            mailer: None,
        }
    }

    /// Reads analytics periods at `clock` instead of the system clock (tests).
    pub fn with_clock(mut self, clock: guard::Clock) -> Self {
        self.clock = clock;
        self.reads = Arc::new(ResponseCache::new(
            self.http.reads.clone(),
            self.epochs.clone(),
            self.clock.clone(),
        ));
        self
    }

    /// E-mails client reports through `mailer`.
    pub fn with_mailer(mut self, mailer: Option<Arc<avesa_report::Mailer>>) -> Self {
        self.mailer = mailer;
        self
    }

    /// Lets a scraper read `/metrics` with `Authorization: Bearer <token>`.
    pub fn with_metrics_token(mut self, token: Option<String>) -> Self {
        self.metrics_token = token.filter(|t| !t.is_empty()).map(Arc::from);
        self
    }

    /// Keys the response cache by `epochs`, which the process's warehouse bumps on every
    /// apply (see [`avesa_warehouse::EpochWarehouse`]).
    pub fn with_data_epochs(mut self, epochs: avesa_warehouse::DataEpochs) -> Self {
        self.epochs = epochs;
        self.reads = Arc::new(ResponseCache::new(
            self.http.reads.clone(),
            self.epochs.clone(),
            self.clock.clone(),
        ));
        self
    }

    /// Counts into `registry` (the app's, which its pipeline shares) and serves it.
    pub fn with_metrics(mut self, registry: Metrics) -> Self {
        registry.declare(METRICS);
        self.metrics = registry;
        self
    }

    /// Reports workers and the job queue in `/health/detailed`.
    pub fn with_cluster_probe(mut self, probe: ClusterProbe) -> Self {
        self.cluster = Some(probe);
        self
    }

    /// Lets the API attach services and test their credentials.
    pub fn with_service_admin(mut self, admin: Arc<dyn ops::ServiceAdmin>) -> Self {
        self.services = Some(admin);
        self
    }

    /// Lets the API start runs (`POST /api/admin/runs`).
    pub fn with_trigger(mut self, trigger: Trigger) -> Self {
        self.trigger = Some(trigger);
        self
    }

    /// Replaces the HTTP settings (CORS origins, body limit, timeouts, read limits).
    pub fn with_http_config(mut self, http: HttpConfig) -> Self {
        self.reads = Arc::new(ResponseCache::new(
            http.reads.clone(),
            self.epochs.clone(),
            self.clock.clone(),
        ));
        self.http = Arc::new(http);
        self
    }
}

/// Every route, each registered with its operation in the OpenAPI document.
fn documented_routes(state: &AppState) -> OpenApiRouter<AppState> {
    // The warehouse read routes: answered from the response cache or under the read gate.
    let reads = OpenApiRouter::new()
        .routes(routes!(analytics::dashboard))
        .routes(routes!(analytics::ticket_status))
        .routes(routes!(analytics::top_companies))
        .routes(routes!(kpi::catalogue))
        .routes(routes!(kpi::one))
        .routes(routes!(kpi::series_route))
        .routes(routes!(kpi::kpis))
        .routes(routes!(kpi::company_report))
        .routes(routes!(kpi::member_report))
        .routes(routes!(reports::company_pdf))
        .merge(entities::routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), guard::cached_read));
    OpenApiRouter::new()
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(analytics::freshness))
        .merge(reads)
        .merge(entities::export_routes())
        .routes(routes!(links::create_link))
        .routes(routes!(admin::list_runs, admin::start_run))
        .routes(routes!(admin::get_run))
        .routes(routes!(admin::cancel_run))
        .routes(routes!(ops::list_tenants, ops::create_tenant))
        .routes(routes!(ops::list_services))
        .routes(routes!(ops::put_service, ops::patch_service))
        .routes(routes!(ops::test_service))
        .routes(routes!(ops::list_users, ops::create_user))
        .routes(routes!(ops::patch_user))
        .routes(routes!(ops::reset_password))
        .routes(routes!(ops::freshness))
        .routes(routes!(tenant_settings::get_settings))
        .routes(routes!(tenant_settings::put_settings))
        .routes(routes!(tenant_settings::put_capacity, tenant_settings::delete_capacity))
        .routes(routes!(tenant_settings::list_goals))
        .routes(routes!(tenant_settings::put_goal, tenant_settings::delete_goal))
        .routes(routes!(tenant_settings::put_metric, tenant_settings::delete_metric))
        // Each user's saved views: state-store routes, never cached.
        .routes(routes!(views::list_views, views::create_view))
        .routes(routes!(views::patch_view, views::delete_view))
        // Client reports: branding, e-mail now, e-mail on a schedule.
        .routes(routes!(reports::get_branding))
        .routes(routes!(reports::put_branding))
        .routes(routes!(reports::email_company_report))
        .routes(routes!(schedules::list, schedules::create))
        .routes(routes!(schedules::delete))
        .routes(routes!(health::health))
        .routes(routes!(health::detailed))
        .routes(routes!(metrics))
        .routes(routes!(openapi::docs_page))
}

/// The routes and their OpenAPI document, which lists the route that serves it.
fn routes_and_document(state: &AppState) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let served: Arc<std::sync::OnceLock<bytes::Bytes>> = Arc::default();
    let serve = served.clone();
    let (app, spec) = documented_routes(state)
        .routes((
            Vec::new(),
            openapi::spec_paths(),
            get(move || {
                let json = serve.get().cloned().unwrap_or_default();
                async move { openapi::document_response(json) }
            }),
        ))
        .split_for_parts();
    let spec = openapi::finish(spec);
    let json = serde_json::to_vec(&spec).unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot serialize the OpenAPI document");
        b"{}".to_vec()
    });
    let _ = served.set(bytes::Bytes::from(json));
    (app, spec)
}

/// The OpenAPI document of every route (what `GET /api/openapi.json` serves).
pub fn openapi_document(state: &AppState) -> utoipa::openapi::OpenApi {
    routes_and_document(state).1
}

/// The application: every route, the UI fallback, and the layers (tracing, CORS, panic
/// catching, error normalisation, body limit).
pub fn router(state: AppState) -> Router {
    let limit = state.http.body_limit_bytes;
    let (app, _) = routes_and_document(&state);
    let app = app
        .fallback(ui::fallback)
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            state.http.request_timeout,
        ))
        .layer(middleware::from_fn(finish_response))
        .layer(middleware::from_fn_with_state(state.clone(), time_request));
    let app = match cors_layer(&state.http) {
        Some(cors) => app.layer(cors),
        None => app,
    };
    app.layer(
        TraceLayer::new_for_http()
            .make_span_with(|req: &Request| {
                let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                tracing::info_span!(
                    "request",
                    method = %req.method(),
                    uri = %req.uri().path(),
                    request_id = %id,
                )
            })
            .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
    )
    .layer(PropagateRequestIdLayer::new(REQUEST_ID))
    .layer(SetRequestIdLayer::new(REQUEST_ID, ValidRequestId))
    .layer(middleware::map_request(drop_odd_request_id))
    .with_state(state)
}

/// Drops a client's request id that is long or not plain text (a new one is made).
async fn drop_odd_request_id(mut req: Request) -> Request {
    let odd = req.headers().get(REQUEST_ID).is_some_and(|v| {
        v.len() > 64
            || v.is_empty()
            || !v
                .as_bytes()
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    });
    if odd {
        req.headers_mut().remove(REQUEST_ID);
    }
    req
}

/// The header carrying each request's id: the client's if it sent a sane one, else a new
/// UUID; echoed on the response and logged with the request.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Makes a UUID for a request that came without a (plain, short) id.
#[derive(Clone, Copy)]
struct ValidRequestId;

impl MakeRequestId for ValidRequestId {
    fn make_request_id<B>(&mut self, req: &axum::http::Request<B>) -> Option<RequestId> {
        // Called only when the request has none (odd ones were dropped before).
        let _ = req;
        HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).ok().map(RequestId::new)
    }
}

/// Prometheus metrics of this app (pipeline and API), text format 0.0.4. They name every
/// tenant, so only a scraper holding the metrics token or a platform admin may read them.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    responses((status = 200, description = "Prometheus text format 0.0.4.", body = String, content_type = "text/plain")),
    security(("bearer" = []))
)]
async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
) -> axum::response::Response {
    let (mut parts, _) = req.into_parts();
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned());
    let scraper = match (&state.metrics_token, &bearer) {
        (Some(want), Some(got)) => {
            use sha2::Digest;
            // Compare digests: equal length, no early exit on the secret's bytes.
            sha2::Sha256::digest(want.as_bytes()) == sha2::Sha256::digest(got.as_bytes())
        }
        _ => false,
    };
    if !scraper {
        match AuthUser::authenticate(&mut parts, &state).await {
            Ok(u) if u.role == avesa_model::Role::PlatformAdmin => {}
            Ok(u) => {
                return ApiError::forbidden(format!("the {} role may not read metrics", u.role))
                    .into_response();
            }
            Err(e) => return e.into_response(),
        }
    }
    axum::response::Response::builder()
        .header(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")
        .body(axum::body::Body::from(state.metrics.render()))
        .unwrap_or_default()
}

/// Counts and times every request by its route pattern (never the raw path: ids would
/// make unbounded label values) and status.
async fn time_request(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "other".to_owned(), |m| m.as_str().to_owned());
    // Only the methods the API knows make their own series: any other is "other", so a
    // client cannot grow the registry.
    let method = match *req.method() {
        Method::GET
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::HEAD
        | Method::OPTIONS => req.method().as_str().to_owned(),
        _ => "other".to_owned(),
    };
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    let labels = [("method", method.as_str()), ("route", route.as_str())];
    state.metrics.observe(
        "avesa_http_request_duration_seconds",
        &labels,
        started.elapsed().as_secs_f64(),
    );
    state.metrics.add(
        "avesa_http_requests_total",
        &[labels[0], labels[1], ("status", status.as_str())],
        1.0,
    );
    resp
}

/// CORS for the configured origins; `None` (no CORS headers: cross-origin browser calls
/// are refused) when none are configured.
fn cors_layer(http: &HttpConfig) -> Option<CorsLayer> {
    if http.cors_allowed_origins.is_empty() {
        return None;
    }
    let origin = if http.cors_allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let list: Vec<HeaderValue> = http
            .cors_allowed_origins
            .iter()
            .filter_map(|o| match HeaderValue::from_str(o) {
                Ok(v) => Some(v),
                Err(_) => {
                    tracing::warn!(origin = %o, "ignoring an invalid CORS origin");
                    None
                }
            })
            .collect();
        AllowOrigin::list(list)
    };
    Some(
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .expose_headers([header::RETRY_AFTER, header::WWW_AUTHENTICATE])
            .max_age(Duration::from_secs(600)),
    )
}

/// Adds the security headers (CSP, frame, referrer and content-type policies; HSTS
/// behind TLS; `Cache-Control: no-store` on everything but the UI's files) and rewrites any error response that is not
/// already JSON (axum's 405, the body limit's 413, …) into the API's error shape.
async fn finish_response(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    // Behind a TLS-terminating proxy (HSTS is ignored over plain HTTP anyway).
    let https = req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));

    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let mut resp = if status.as_u16() < 400 || is_json {
        resp
    } else {
        let allow = resp.headers().get(header::ALLOW).cloned();
        let retry_after = resp.headers().get(header::RETRY_AFTER).cloned();
        let reason = status.canonical_reason().unwrap_or("error").to_lowercase();
        let err = match status {
            StatusCode::PAYLOAD_TOO_LARGE => extract::body_too_large(),
            StatusCode::NOT_FOUND => ApiError::not_found(format!("no route for {method} {path}")),
            // axum adds the `Allow` header after this layer has run.
            StatusCode::METHOD_NOT_ALLOWED => {
                ApiError::bad_request(format!("method {method} not allowed for {path}"))
            }
            StatusCode::UNAUTHORIZED => ApiError::unauthorized(reason),
            StatusCode::FORBIDDEN => ApiError::forbidden(reason),
            StatusCode::CONFLICT => ApiError::conflict(reason),
            StatusCode::TOO_MANY_REQUESTS => ApiError::new(ErrorCode::RateLimited, reason),
            StatusCode::SERVICE_UNAVAILABLE => ApiError::unavailable(reason),
            s if s.is_client_error() => ApiError::bad_request(reason),
            s => {
                tracing::error!(status = s.as_u16(), %method, %path, "non-JSON error response");
                ApiError::internal()
            }
        };
        let mut new = err.into_response();
        if let Some(a) = allow {
            new.headers_mut().insert(header::ALLOW, a);
        }
        if let Some(r) = retry_after {
            new.headers_mut().insert(header::RETRY_AFTER, r);
        }
        new
    };
    let h = resp.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    if https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    // Tenant data must not sit in shared or browser caches (the UI's files say their own).
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// A panicking handler answers a generic 500 (the panic is logged).
fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("(non-string panic)");
    tracing::error!(panic = %detail, "handler panicked");
    ApiError::internal().into_response()
}
