//! ServiceNow Table API simulator.
//!
//! [`ServiceNowSim`] holds any number of simulated ServiceNow *instances* (one per tenant),
//! each generated deterministically from a [`SnTenantSpec`], all served on one port. An
//! instance lives under its own path prefix, so its instance URL is
//! `http://{addr}/{instance}` (see [`ServiceNowSim::instance_url`]). The wire protocol follows
//! `docs/vendor-apis.md` §2 and §8:
//!
//! * `GET /{instance}/api/now/table/{table}` (also `/api/now/v1/table/…`, `/api/now/v2/table/…`)
//!   → `{"result":[…]}`; `GET …/{table}/{sys_id}` → `{"result":{…}}` or 404 `No Record found`;
//!   an unknown table is 400 `Invalid table <t>`. On `v1` a query without matches answers
//!   404 (the documented v1 behaviour); the default path and `v2` answer `200 {"result":[]}`.
//! * Tables: `incident`, `sys_user` (the MSP's agents), `core_company`, `customer_contact`,
//!   `task_time_worked`, `sys_audit_delete` (one row per deleted record of the others).
//!   Every value is a string; references are `{"link","value"}` or `""`; dates are
//!   `YYYY-MM-DD HH:MM:SS` UTC; durations `1970-01-01 HH:MM:SS`.
//! * Parameters: `sysparm_limit` (default 10000), `sysparm_offset`, `sysparm_query` (see
//!   the `query` module), `sysparm_fields`, `sysparm_display_value=false|true|all`,
//!   `sysparm_exclude_reference_link`, `sysparm_suppress_pagination_header`,
//!   `sysparm_no_count`. Headers `X-Total-Count` and `Link` (`first`, `prev`, `next`, `last`,
//!   absolute URLs keeping every original parameter).
//! * Auth: HTTP Basic with the spec's user, or `Authorization: Bearer` with an access token
//!   from `POST /{instance}/oauth_token.do` (grants `password`, `client_credentials`,
//!   `refresh_token`). Access tokens live 1800 s of wall-clock time, or until
//!   [`ServiceNowSim::expire_tokens`]; refresh tokens stay valid.
//!
//! Test hooks come from the simulator host ([`crate::host`]): `advance` moves an instance's
//! clock and updates, creates and deletes records; `truth` is what a perfect sync holds;
//! `requests` logs every API request; the same hooks are served under `/_sim/…`, plus
//! `POST /_sim/expire_tokens` ([`ServiceNowSim::expire_tokens`]).
//!
//! Departures from a real instance, on purpose: `customer_contact` and `sys_user` are
//! separate tables (on a real instance `customer_contact` extends `sys_user`), so a
//! reference's `link` names the table the record is really in; tables that are not simulated
//! (groups, locations, CIs) are not referenced at all; the simulator serves `GET` only.

mod advance;
mod data;
mod generate;
mod http;
mod query;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::faults::ErrorStyle;
use crate::host::Vendor;
use crate::{ChangeReport, Changes, SimRequest, Truth};
use data::{Dataset, DisplayMode, Emit, Tab};

/// The tables the simulator serves, by Table API name.
pub const SN_TABLES: [&str; 6] = [
    "core_company",
    "sys_user",
    "customer_contact",
    "incident",
    "task_time_worked",
    "sys_audit_delete",
];

/// Lifetime of an access token (`expires_in` says 1799, as ServiceNow does).
pub const SN_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(1800);

/// How many records of each kind a simulated instance starts with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnSizes {
    pub companies: usize,
    /// Staff (agents) in `sys_user`.
    pub users: usize,
    /// Customer contacts in `customer_contact`.
    pub contacts: usize,
    pub incidents: usize,
    /// Rows of `task_time_worked`.
    pub time_worked: usize,
}

impl SnSizes {
    /// A mid-sized MSP: 150 companies, 30 agents, 900 contacts, 15,000 incidents, 30,000
    /// time-worked rows.
    pub fn demo() -> Self {
        SnSizes { companies: 150, users: 30, contacts: 900, incidents: 15_000, time_worked: 30_000 }
    }

    /// A small MSP for fast tests: 20 companies, 6 agents, 60 contacts, 400 incidents,
    /// 800 time-worked rows.
    pub fn small() -> Self {
        SnSizes { companies: 20, users: 6, contacts: 60, incidents: 400, time_worked: 800 }
    }
}

/// One simulated ServiceNow instance and its credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnTenantSpec {
    /// Instance name (`acme` for `https://acme.service-now.com`); the path prefix here.
    pub instance: String,
    /// The integration user (Basic auth, OAuth password grant).
    pub username: String,
    pub password: String,
    /// The OAuth application registry entry.
    pub client_id: String,
    pub client_secret: String,
    /// Seed of all generated data.
    pub seed: u64,
    pub sizes: SnSizes,
    /// Simulated "now" at creation (truncated to whole seconds); data covers the two years
    /// before it.
    pub now: DateTime<Utc>,
}

impl SnTenantSpec {
    /// A spec with credentials derived deterministically from `instance` and `seed`.
    pub fn new(instance: impl Into<String>, seed: u64, sizes: SnSizes, now: DateTime<Utc>) -> Self {
        let instance = instance.into();
        let salt = instance
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        let mut g = generate::Gen::new(seed ^ salt, 0x534e_4352);
        const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        const HEX: &[u8] = b"0123456789abcdef";
        let mut text = |n: usize, alphabet: &[u8]| -> String {
            (0..n).map(|_| alphabet[g.index(alphabet.len())] as char).collect()
        };
        let password = text(20, ALNUM);
        let client_id = text(32, HEX);
        let client_secret = text(16, ALNUM);
        SnTenantSpec {
            instance,
            username: "avesa.integration".to_string(),
            password,
            client_id,
            client_secret,
            seed,
            sizes,
            now,
        }
    }

    /// `Authorization` header value for Basic auth with the integration user.
    pub fn basic_authorization(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
    }
}

/// A cached selection (matching row indexes in response order) for one query.
struct CacheEntry {
    version: u64,
    key: String,
    rows: Arc<Vec<u32>>,
}

const CACHE_ENTRIES: usize = 16;

/// One simulated instance (its data and query cache; opaque).
pub struct InstanceState {
    data: RwLock<Dataset>,
    cache: Mutex<Vec<CacheEntry>>,
}

impl InstanceState {
    fn read(&self) -> RwLockReadGuard<'_, Dataset> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Dataset> {
        self.data.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Matching rows in response order (at least the first `first` of them) and how many
    /// match. Full results are cached per (table, query) and dataset version, so offset
    /// paging through a large result filters and sorts once. A request for a small head of
    /// a large, uncached, ordered result (a keyset page) is answered by partial selection.
    fn select(
        &self,
        ds: &Dataset,
        t: Tab,
        raw_query: &str,
        first: usize,
    ) -> (Arc<Vec<u32>>, usize) {
        let key = format!("{}\u{1}{raw_query}", t.name());
        {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(e) = cache.iter().find(|e| e.version == ds.version && e.key == key) {
                let total = e.rows.len();
                return (e.rows.clone(), total);
            }
        }
        let q = query::parse(t, raw_query);
        let partial = first.saturating_mul(4) < ds.rows(t).len();
        let (rows, total) = q.select(ds, t, partial.then_some(first));
        let rows = Arc::new(rows);
        if rows.len() == total {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache.retain(|e| e.version == ds.version);
            if cache.len() >= CACHE_ENTRIES {
                cache.remove(0);
            }
            cache.push(CacheEntry { version: ds.version, key, rows: rows.clone() });
        }
        (rows, total)
    }
}

/// An issued access token.
struct AccessToken {
    instance: String,
    issued: Instant,
}

#[derive(Default)]
struct Tokens {
    access: HashMap<String, AccessToken>,
    /// refresh token → (instance, client_id)
    refresh: HashMap<String, (String, String)>,
    issued: u64,
}

/// The ServiceNow vendor in the simulator host: per-instance data, and the OAuth tokens.
#[derive(Default)]
pub struct ServiceNow {
    tokens: Mutex<Tokens>,
}

/// The ServiceNow simulator: cheap to clone, all clones share state.
pub type ServiceNowSim = crate::host::Sim<ServiceNow>;

impl Vendor for ServiceNow {
    const NAME: &'static str = "ServiceNow";
    const TENANT_ALIAS: &'static str = "instance";
    const ERROR_STYLE: ErrorStyle = ErrorStyle::ServiceNow;
    type Tenant = InstanceState;
    type Request = SimRequest;
    type Report = ChangeReport;
    type Truth = Truth;

    fn routes() -> axum::Router<ServiceNowSim> {
        http::routes()
    }

    fn now(tenant: &InstanceState) -> i64 {
        tenant.read().now
    }

    /// See the `advance` module docs.
    fn advance(tenant: &InstanceState, changes: &Changes) -> ChangeReport {
        let mut ds = tenant.write();
        let report = advance::advance(&mut ds, changes);
        tenant.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
        report
    }

    /// Every live record of every table exactly as served with `sysparm_display_value=false`
    /// and no `sysparm_fields` (in `sys_id` order), and the ids deleted since generation
    /// (sorted, per table). Reference `link`s use the served address.
    fn truth(sim: &ServiceNowSim, name: &str, tenant: &InstanceState) -> Truth {
        let ds = tenant.read();
        let base = sim.link_base(name);
        let e = Emit { mode: DisplayMode::Raw, exclude_links: false, fields: None, base: &base };
        let mut tables = BTreeMap::new();
        let mut buf = String::new();
        for t in Tab::ALL {
            let rows = ds
                .rows(t)
                .iter()
                .map(|r| {
                    buf.clear();
                    ds.write_row(&mut buf, t, r, &e);
                    serde_json::from_str(&buf).unwrap_or_default()
                })
                .collect();
            tables.insert(t.name().to_string(), rows);
        }
        let mut deleted = ds.deleted.clone();
        deleted.values_mut().for_each(|ids| ids.sort_unstable());
        Truth { tables, deleted }
    }

    fn describe(_: &ServiceNowSim, _: &str, tenant: &InstanceState) -> serde_json::Value {
        let ds = tenant.read();
        let spec = SnTenantSpec { now: crate::time::to_datetime(ds.now), ..ds.spec.clone() };
        let counts: serde_json::Map<String, serde_json::Value> = Tab::ALL
            .iter()
            .map(|t| (t.name().to_string(), serde_json::json!(ds.rows(*t).len())))
            .collect();
        let mut v = serde_json::to_value(&spec).unwrap_or_default();
        v["counts"] = serde_json::Value::Object(counts);
        v
    }
}

impl ServiceNowSim {
    /// Generates an instance's data from `spec.seed` and adds it (replacing one with the same
    /// name).
    pub fn add_tenant(&self, mut spec: SnTenantSpec) {
        spec.now = crate::time::to_datetime(spec.now.timestamp());
        let name = spec.instance.clone();
        let ds = generate::generate(spec);
        self.insert_tenant(
            name,
            InstanceState { data: RwLock::new(ds), cache: Mutex::new(Vec::new()) },
        );
    }

    /// Specs of all instances (with `now` as it is now), in name order.
    pub fn tenants(&self) -> Vec<SnTenantSpec> {
        self.tenant_states()
            .iter()
            .map(|(_, s)| {
                let ds = s.read();
                SnTenantSpec { now: crate::time::to_datetime(ds.now), ..ds.spec.clone() }
            })
            .collect()
    }

    /// `http://{addr}/{instance}`: the instance URL a connector is given.
    pub fn instance_url(addr: SocketAddr, instance: &str) -> String {
        format!("http://{addr}/{instance}")
    }

    /// Invalidates every access token issued so far (refresh tokens stay valid), as if they
    /// had all reached their 1800 s lifetime.
    pub fn expire_tokens(&self) {
        self.tokens().access.clear();
    }

    // ---- internals

    /// `{base}/{instance}`, the prefix of reference links.
    fn link_base(&self, instance: &str) -> String {
        format!("{}/{instance}", self.base_url())
    }

    fn tokens(&self) -> MutexGuard<'_, Tokens> {
        self.vendor().tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Issues an access token (and a refresh token unless one is being reused).
    fn issue_tokens(
        &self,
        instance: &str,
        client_id: &str,
        refresh: Option<String>,
    ) -> (String, String) {
        let mut tokens = self.tokens();
        tokens.issued += 1;
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        let mut g = generate::Gen::new(wall ^ tokens.issued.rotate_left(32), 0x544f_4b4e);
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut token = |n: usize| g.string(ALPHABET, n);
        let access = token(86);
        let refresh = refresh.unwrap_or_else(|| token(86));
        tokens.access.insert(
            access.clone(),
            AccessToken { instance: instance.to_string(), issued: Instant::now() },
        );
        tokens.refresh.insert(refresh.clone(), (instance.to_string(), client_id.to_string()));
        (access, refresh)
    }

    /// The instance an unexpired access token was issued for.
    fn token_instance(&self, token: &str) -> Option<String> {
        let mut tokens = self.tokens();
        let t = tokens.access.get(token)?;
        if t.issued.elapsed() >= SN_ACCESS_TOKEN_TTL {
            tokens.access.remove(token);
            return None;
        }
        Some(t.instance.clone())
    }

    fn refresh_instance(&self, token: &str) -> Option<(String, String)> {
        self.tokens().refresh.get(token).cloned()
    }
}
