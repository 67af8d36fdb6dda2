//! The host every simulator runs in.
//!
//! A vendor simulator is its data and its handlers: a type implementing [`Vendor`] (what one
//! simulated tenant holds, how its clock advances, what a perfect sync of it must hold, and
//! the vendor's API routes). Everything else is shared, in [`Sim`]:
//!
//! * the tenant registry (by name, each tenant's state behind its own lock);
//! * the request log ([`Sim::requests`]): every API request the vendor handlers served;
//! * the [`Faults`] layer in front of the API (fault injection, rate limit, traffic log);
//! * binding and serving ([`Sim::serve`]), and the served base URL;
//! * the clock ([`Sim::now`], [`Sim::advance`]) and the ground truth ([`Sim::truth`]);
//! * the control routes, the same for every vendor:
//!
//! | route | what it does |
//! |---|---|
//! | `GET /_sim/tenants` | every tenant: its spec, credentials and record counts |
//! | `POST /_sim/advance` | moves a tenant's clock and changes records; tenant as `?tenant=` or in the body, body `{"duration": 3600, "updates": 5, "creates": 2, "deletes": 1}` (`seconds` is accepted for `duration`); answers the change report |
//! | `GET /_sim/truth?tenant=…[&table=…]` | what a perfect sync holds now (one table's records with `table`) |
//! | `GET /_sim/requests`, `DELETE /_sim/requests` | the request log, and clearing it |
//! | `/_sim/faults`, `/_sim/rate_limit`, `/_sim/traffic` | see [`crate::faults`] |
//!
//! Each vendor may accept its own word for a tenant besides `tenant` ([`Vendor::TENANT_ALIAS`]:
//! `company`, `instance`, `org`) and add control routes of its own (token expiry and the like).
//!
//! The seeded generator all vendors draw their data from is [`crate::rng::Gen`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Changes;
use crate::faults::{ErrorStyle, Faults};

/// One vendor's simulator: its data and its handlers. [`Sim`] hosts it.
pub trait Vendor: Default + Send + Sync + Sized + 'static {
    /// The vendor's name, for logs and messages (`"ServiceNow"`).
    const NAME: &'static str;
    /// The vendor's own word for a tenant, accepted by the control routes besides `tenant`.
    const TENANT_ALIAS: &'static str;
    /// Whose error bodies the fault layer answers with.
    const ERROR_STYLE: ErrorStyle;

    /// Everything one simulated tenant holds (data, caches, quotas).
    type Tenant: Send + Sync + 'static;
    /// One entry of the request log.
    type Request: LogEntry;
    /// What an advance changed.
    type Report: Serialize + Send + 'static;
    /// What a perfect sync of a tenant holds now.
    type Truth: Serialize + Send + 'static;

    /// The vendor API, and any control routes of the vendor's own (under `/_sim/`). Must not
    /// define the host's control routes.
    fn routes() -> Router<Sim<Self>>;

    /// The registry key of the tenant a name means; by default the name itself.
    /// (Microsoft 365 also accepts a tenant's domain, in any case.)
    fn resolve(sim: &Sim<Self>, name: &str) -> Option<String> {
        sim.tenants_ref().contains_key(name).then(|| name.to_string())
    }

    /// The tenant's simulated now, Unix seconds.
    fn now(tenant: &Self::Tenant) -> i64;

    /// Moves the tenant's clock forward by `changes.duration` and changes records in that
    /// window.
    fn advance(tenant: &Self::Tenant, changes: &Changes) -> Self::Report;

    /// What a perfect sync of the tenant holds now.
    fn truth(sim: &Sim<Self>, name: &str, tenant: &Self::Tenant) -> Self::Truth;

    /// One table's records in the truth, as JSON text; `None` for an unknown table. By
    /// default `truth.tables[table]`.
    fn table_truth(
        sim: &Sim<Self>,
        name: &str,
        tenant: &Self::Tenant,
        table: &str,
    ) -> Option<String> {
        let truth = serde_json::to_value(Self::truth(sim, name, tenant)).ok()?;
        truth.get("tables")?.get(table).map(Value::to_string)
    }

    /// The tenant's entry in `GET /_sim/tenants`.
    fn describe(sim: &Sim<Self>, name: &str, tenant: &Self::Tenant) -> Value;
}

/// What the host needs to know of a request-log entry (for its trace line).
pub trait LogEntry: Clone + Serialize + Send + 'static {
    fn tenant(&self) -> Option<&str>;
    fn method(&self) -> &str;
    fn path(&self) -> &str;
    fn status(&self) -> u16;
    fn records(&self) -> usize;
}

impl LogEntry for crate::SimRequest {
    fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }
    fn method(&self) -> &str {
        &self.method
    }
    fn path(&self) -> &str {
        &self.path
    }
    fn status(&self) -> u16 {
        self.status
    }
    fn records(&self) -> usize {
        self.records
    }
}

struct Shared<V: Vendor> {
    vendor: V,
    tenants: RwLock<BTreeMap<String, Arc<V::Tenant>>>,
    requests: Mutex<Vec<V::Request>>,
    /// Scheme and authority the simulator is reached at, once known.
    base_url: RwLock<Option<String>>,
    faults: Faults,
}

/// A vendor simulator in its host: cheap to clone, all clones share state.
pub struct Sim<V: Vendor> {
    shared: Arc<Shared<V>>,
}

impl<V: Vendor> Clone for Sim<V> {
    fn clone(&self) -> Self {
        Sim { shared: self.shared.clone() }
    }
}

impl<V: Vendor> Default for Sim<V> {
    fn default() -> Self {
        Sim {
            shared: Arc::new(Shared {
                vendor: V::default(),
                tenants: RwLock::default(),
                requests: Mutex::default(),
                base_url: RwLock::default(),
                faults: Faults::default(),
            }),
        }
    }
}

impl<V: Vendor> Sim<V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// The router serving the vendor API and the control routes, behind [`Self::faults`].
    pub fn router(&self) -> Router {
        let control = Router::new()
            .route("/_sim/tenants", get(sim_tenants::<V>))
            .route("/_sim/advance", post(sim_advance::<V>))
            .route("/_sim/requests", get(sim_requests::<V>).delete(sim_clear_requests::<V>))
            .route("/_sim/truth", get(sim_truth::<V>));
        let app = V::routes().merge(control).with_state(self.clone());
        self.shared.faults.layer(app, V::ERROR_STYLE)
    }

    /// Fault injection, rate limit and traffic log in front of the API.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Binds `addr` (port 0 picks a free port) and serves [`Self::router`] until the task is
    /// aborted. Returns the bound address. Unless [`Self::set_base_url`] was called, the
    /// simulator's own links use `http://{bound address}` from now on (an unspecified IP
    /// becomes `127.0.0.1`).
    pub async fn serve(
        &self,
        addr: SocketAddr,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        {
            let mut base = self.shared.base_url.write().unwrap_or_else(|e| e.into_inner());
            if base.is_none() {
                let mut shown = local;
                if shown.ip().is_unspecified() {
                    shown.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                *base = Some(format!("http://{shown}"));
            }
        }
        let app = self.router();
        let handle = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, vendor = V::NAME, "simulator stopped");
            }
        });
        tracing::info!(%local, vendor = V::NAME, "simulator listening");
        Ok((local, handle))
    }

    /// Sets the scheme and authority (`http://127.0.0.1:8080`) the simulator's own links
    /// start with; needed only when the router is served by someone other than
    /// [`Self::serve`].
    pub fn set_base_url(&self, url: impl Into<String>) {
        let url = url.into().trim_end_matches('/').to_string();
        *self.shared.base_url.write().unwrap_or_else(|e| e.into_inner()) = Some(url);
    }

    /// The scheme and authority the simulator is reached at (`http://127.0.0.1` until known).
    pub fn base_url(&self) -> String {
        let base = self.shared.base_url.read().unwrap_or_else(|e| e.into_inner());
        base.as_deref().unwrap_or("http://127.0.0.1").to_string()
    }

    /// Names of every tenant, in order.
    pub fn tenant_names(&self) -> Vec<String> {
        self.tenants_ref().keys().cloned().collect()
    }

    /// Moves a tenant's clock forward by `changes.duration` and changes records inside that
    /// window (what changes is the vendor's; see its module docs).
    ///
    /// # Panics
    /// If the tenant does not exist.
    pub fn advance(&self, tenant: &str, changes: Changes) -> V::Report {
        self.try_advance(tenant, changes)
            .unwrap_or_else(|| panic!("unknown {} tenant {tenant:?}", V::NAME))
    }

    /// Like [`Self::advance`], `None` for an unknown tenant.
    pub fn try_advance(&self, tenant: &str, changes: Changes) -> Option<V::Report> {
        let state = self.state(tenant)?;
        Some(V::advance(&state, &changes))
    }

    /// What a perfect sync of the tenant holds now.
    ///
    /// # Panics
    /// If the tenant does not exist.
    pub fn truth(&self, tenant: &str) -> V::Truth {
        self.try_truth(tenant).unwrap_or_else(|| panic!("unknown {} tenant {tenant:?}", V::NAME))
    }

    /// Like [`Self::truth`], `None` for an unknown tenant.
    pub fn try_truth(&self, tenant: &str) -> Option<V::Truth> {
        let name = V::resolve(self, tenant)?;
        let state = self.tenants_ref().get(&name).cloned()?;
        Some(V::truth(self, &name, &state))
    }

    /// The tenant's simulated "now".
    ///
    /// # Panics
    /// If the tenant does not exist.
    pub fn now(&self, tenant: &str) -> DateTime<Utc> {
        let state =
            self.state(tenant).unwrap_or_else(|| panic!("unknown {} tenant {tenant:?}", V::NAME));
        crate::time::to_datetime(V::now(&state))
    }

    /// Every API request so far (not the control routes), oldest first.
    pub fn requests(&self) -> Vec<V::Request> {
        self.requests_mut().clone()
    }

    pub fn clear_requests(&self) {
        self.requests_mut().clear();
    }

    // ---- for the vendors' code

    /// The vendor's own shared state (tokens and the like).
    pub(crate) fn vendor(&self) -> &V {
        &self.shared.vendor
    }

    /// The tenant a name means (see [`Vendor::resolve`]).
    pub(crate) fn state(&self, name: &str) -> Option<Arc<V::Tenant>> {
        let key = V::resolve(self, name)?;
        self.tenants_ref().get(&key).cloned()
    }

    /// Adds a tenant, replacing one with the same name.
    pub(crate) fn insert_tenant(&self, name: String, tenant: V::Tenant) {
        self.shared
            .tenants
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name, Arc::new(tenant));
    }

    /// Every tenant, in name order.
    pub(crate) fn tenant_states(&self) -> Vec<(String, Arc<V::Tenant>)> {
        self.tenants_ref().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    pub(crate) fn tenants_ref(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<V::Tenant>>> {
        self.shared.tenants.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends to the request log.
    pub(crate) fn log(&self, record: V::Request) {
        tracing::debug!(
            vendor = V::NAME,
            tenant = record.tenant().unwrap_or("-"),
            method = %record.method(),
            path = %record.path(),
            status = record.status(),
            records = record.records(),
            "simulator request"
        );
        self.requests_mut().push(record);
    }

    fn requests_mut(&self) -> MutexGuard<'_, Vec<V::Request>> {
        self.shared.requests.lock().unwrap_or_else(|e| e.into_inner())
    }
}

// ---------------------------------------------------------------------------------------------
// Control routes

/// A JSON response (control routes speak plain JSON, not the vendor's dialect).
pub(crate) fn control_json(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    r
}

/// `{"error": message}` with `status`.
pub(crate) fn control_error(status: StatusCode, message: impl Into<String>) -> Response {
    control_json(status, json!({ "error": message.into() }).to_string())
}

/// `204 No Content`.
pub(crate) fn no_content() -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

/// The first of `names` in a raw query string, decoded.
pub(crate) fn query_param(raw: &Option<String>, names: &[&str]) -> Option<String> {
    let raw = raw.as_deref().unwrap_or_default();
    url::form_urlencoded::parse(raw.as_bytes())
        .find(|(k, _)| names.contains(&k.as_ref()))
        .map(|(_, v)| v.into_owned())
}

fn unknown<V: Vendor>(tenant: &str) -> Response {
    control_error(
        StatusCode::NOT_FOUND,
        format!("unknown {} {tenant} (GET /_sim/tenants lists them)", V::TENANT_ALIAS),
    )
}

pub(crate) async fn sim_tenants<V: Vendor>(State(sim): State<Sim<V>>) -> Response {
    let job = tokio::task::spawn_blocking(move || {
        let list: Vec<Value> =
            sim.tenant_states().iter().map(|(name, t)| V::describe(&sim, name, t)).collect();
        Value::Array(list).to_string()
    });
    match job.await {
        Ok(body) => control_json(StatusCode::OK, body),
        Err(e) => control_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Deserialize)]
struct AdvanceBody {
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    company: Option<String>,
    #[serde(default)]
    instance: Option<String>,
    #[serde(default)]
    org: Option<String>,
    #[serde(default, alias = "seconds")]
    duration: Option<i64>,
    #[serde(default)]
    updates: usize,
    #[serde(default)]
    creates: usize,
    #[serde(default)]
    deletes: usize,
}

const DEFAULT_ADVANCE_SECS: i64 = 3600;

async fn sim_advance<V: Vendor>(
    State(sim): State<Sim<V>>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let body: AdvanceBody = if body.iter().all(u8::is_ascii_whitespace) {
        match serde_json::from_str("{}") {
            Ok(b) => b,
            Err(e) => return control_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => return control_error(StatusCode::BAD_REQUEST, format!("bad body: {e}")),
        }
    };
    let named = query_param(&raw, &["tenant", V::TENANT_ALIAS])
        .or(body.tenant)
        .or(body.company)
        .or(body.instance)
        .or(body.org);
    let Some(tenant) = named else {
        return control_error(
            StatusCode::BAD_REQUEST,
            format!("name the {}: ?tenant= or \"tenant\" in the body", V::TENANT_ALIAS),
        );
    };
    let changes = Changes {
        duration: chrono::Duration::seconds(body.duration.unwrap_or(DEFAULT_ADVANCE_SECS).max(1)),
        updates: body.updates,
        creates: body.creates,
        deletes: body.deletes,
    };
    let job = tokio::task::spawn_blocking(move || {
        sim.try_advance(&tenant, changes).map(|r| serde_json::to_string(&r)).ok_or(tenant)
    });
    match job.await {
        Ok(Ok(Ok(report))) => control_json(StatusCode::OK, report),
        Ok(Ok(Err(e))) => control_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Ok(Err(tenant)) => unknown::<V>(&tenant),
        Err(e) => control_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn sim_requests<V: Vendor>(State(sim): State<Sim<V>>) -> Response {
    match serde_json::to_string(&sim.requests()) {
        Ok(body) => control_json(StatusCode::OK, body),
        Err(e) => control_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn sim_clear_requests<V: Vendor>(State(sim): State<Sim<V>>) -> Response {
    sim.clear_requests();
    no_content()
}

enum TruthError {
    Tenant(String),
    Table(String),
    Json(serde_json::Error),
}

async fn sim_truth<V: Vendor>(State(sim): State<Sim<V>>, RawQuery(raw): RawQuery) -> Response {
    let Some(tenant) = query_param(&raw, &["tenant", V::TENANT_ALIAS]) else {
        return control_error(StatusCode::BAD_REQUEST, "missing ?tenant=");
    };
    let table = query_param(&raw, &["table"]);
    let job = tokio::task::spawn_blocking(move || {
        let Some(name) = V::resolve(&sim, &tenant) else {
            return Err(TruthError::Tenant(tenant));
        };
        let Some(state) = sim.tenants_ref().get(&name).cloned() else {
            return Err(TruthError::Tenant(tenant));
        };
        match table {
            Some(table) => {
                V::table_truth(&sim, &name, &state, &table).ok_or(TruthError::Table(table))
            }
            None => serde_json::to_string(&V::truth(&sim, &name, &state)).map_err(TruthError::Json),
        }
    });
    match job.await {
        Ok(Ok(body)) => control_json(StatusCode::OK, body),
        Ok(Err(TruthError::Tenant(t))) => unknown::<V>(&t),
        Ok(Err(TruthError::Table(t))) => {
            control_error(StatusCode::NOT_FOUND, format!("unknown table {t}"))
        }
        Ok(Err(TruthError::Json(e))) => {
            control_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
        Err(e) => control_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    //! A fifth vendor is its data and handlers only: this one is a dozen lines of each, and
    //! gets the registry, log, clock, control routes and fault layer from the host.

    use super::*;
    use crate::{ChangeReport, SimRequest, Truth};

    #[derive(Default)]
    struct Toy;

    struct ToyTenant {
        state: Mutex<(i64, Vec<i64>)>,
    }

    impl Vendor for Toy {
        const NAME: &'static str = "Toy";
        const TENANT_ALIAS: &'static str = "shop";
        const ERROR_STYLE: ErrorStyle = ErrorStyle::ConnectWise;
        type Tenant = ToyTenant;
        type Request = SimRequest;
        type Report = ChangeReport;
        type Truth = Truth;

        fn routes() -> Router<Sim<Toy>> {
            Router::new().route("/{shop}/items", get(items))
        }
        fn now(t: &ToyTenant) -> i64 {
            t.state.lock().unwrap().0
        }
        fn advance(t: &ToyTenant, changes: &Changes) -> ChangeReport {
            let mut s = t.state.lock().unwrap();
            let from = s.0;
            s.0 += changes.duration.num_seconds();
            let start = s.1.len();
            s.1.extend((0..changes.creates).map(|_| from + 1));
            let created = (start..s.1.len()).map(|i| i.to_string()).collect();
            ChangeReport {
                from: crate::time::to_datetime(from),
                to: crate::time::to_datetime(s.0),
                created: [("items".to_string(), created)].into(),
                ..Default::default()
            }
        }
        fn truth(_: &Sim<Toy>, _: &str, t: &ToyTenant) -> Truth {
            let items = t.state.lock().unwrap().1.iter().map(|at| json!({ "at": at })).collect();
            Truth { tables: [("items".to_string(), items)].into(), ..Default::default() }
        }
        fn describe(_: &Sim<Toy>, name: &str, t: &ToyTenant) -> Value {
            json!({ "shop": name, "items": t.state.lock().unwrap().1.len() })
        }
    }

    async fn items(
        State(sim): State<Sim<Toy>>,
        axum::extract::Path(shop): axum::extract::Path<String>,
    ) -> Response {
        let (status, body, n) = match sim.state(&shop) {
            Some(t) => {
                let n = t.state.lock().unwrap().1.len();
                (StatusCode::OK, json!({ "count": n }).to_string(), n)
            }
            None => (StatusCode::NOT_FOUND, "{}".to_string(), 0),
        };
        sim.log(SimRequest {
            at_ms: 0,
            tenant: Some(shop),
            method: "GET".into(),
            path: "/items".into(),
            query: String::new(),
            status: status.as_u16(),
            records: n,
        });
        control_json(status, body)
    }

    #[tokio::test]
    async fn a_new_vendor_gets_the_whole_host() {
        let sim: Sim<Toy> = Sim::new();
        sim.insert_tenant("corner".into(), ToyTenant { state: Mutex::new((1_000, vec![])) });
        let (addr, server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        assert_eq!(sim.base_url(), format!("http://{addr}"));
        let http = reqwest::Client::new();
        let url = |p: &str| format!("http://{addr}{p}");

        // The clock and changes, through the control route with the vendor's own word.
        let r = http
            .post(url("/_sim/advance?shop=corner"))
            .body(r#"{"seconds": 60, "creates": 3}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let report: ChangeReport = r.json().await.unwrap();
        assert_eq!(report.created["items"], ["0", "1", "2"]);
        assert_eq!(sim.now("corner").timestamp(), 1_060);
        // … and in the body, with `duration`.
        let r = http
            .post(url("/_sim/advance"))
            .body(r#"{"tenant": "corner", "duration": 40, "creates": 1}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(sim.now("corner").timestamp(), 1_100);
        let r = http.post(url("/_sim/advance")).body(r#"{"tenant": "nope"}"#).send().await.unwrap();
        assert_eq!(r.status(), 404);
        let r = http.post(url("/_sim/advance")).body("{").send().await.unwrap();
        assert_eq!(r.status(), 400);

        // Tenants and truth.
        let list: Value =
            http.get(url("/_sim/tenants")).send().await.unwrap().json().await.unwrap();
        assert_eq!(list, json!([{ "shop": "corner", "items": 4 }]));
        let items: Value = http
            .get(url("/_sim/truth?tenant=corner&table=items"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(items.as_array().unwrap().len(), 4);
        let r = http.get(url("/_sim/truth?tenant=corner&table=nope")).send().await.unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(http.get(url("/_sim/truth")).send().await.unwrap().status(), 400);

        // The vendor's route is logged; control routes are not.
        let body: Value =
            http.get(url("/corner/items")).send().await.unwrap().json().await.unwrap();
        assert_eq!(body["count"], 4);
        let log = sim.requests();
        assert_eq!(log.len(), 1);
        assert_eq!((log[0].tenant.as_deref(), log[0].records), (Some("corner"), 4));
        assert_eq!(http.delete(url("/_sim/requests")).send().await.unwrap().status(), 204);
        assert!(sim.requests().is_empty());

        // The fault layer sits in front of the vendor's routes, not the control routes.
        sim.faults().inject(crate::FaultRule::status(503).path("/items").times(1));
        assert_eq!(http.get(url("/corner/items")).send().await.unwrap().status(), 503);
        assert_eq!(http.get(url("/corner/items")).send().await.unwrap().status(), 200);
        sim.faults().inject(crate::FaultRule::status(503));
        assert_eq!(http.get(url("/_sim/tenants")).send().await.unwrap().status(), 200);
        server.abort();
    }
}
