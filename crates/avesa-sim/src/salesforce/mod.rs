//! Salesforce REST API (SOQL) simulator.
//!
//! [`SalesforceSim`] holds any number of simulated Salesforce *orgs* (one per tenant), each
//! generated deterministically from an [`SfOrgSpec`], and serves them over Salesforce's wire
//! protocol (see `docs/vendor-apis.md` §3 and §8):
//!
//! * `POST /services/oauth2/token` (form): `client_credentials` (consumer key and secret in a
//!   Basic `Authorization` header, or `client_id`/`client_secret` in the body), `password`
//!   and `refresh_token` grants. The credentials select the org; the response's
//!   `instance_url` is `http://{Host}` (no path), so all orgs share one host and data calls
//!   are routed by their Bearer token;
//! * `GET /services/data/` (versions), `/services/data/vNN.N/` (resources),
//!   `…/query/?q=` and `…/queryAll/?q=` (with or without the slash), next batches at
//!   `…/query/{locator}-{position}`, `…/sobjects`, `…/sobjects/{Type}/describe`,
//!   `…/sobjects/{Type}/{Id}`, `…/sobjects/{Type}/deleted/?start=&end=`, `…/limits`;
//! * SOQL per [`soql`]: five objects ([`schema::Obj`]), `Sforce-Query-Options: batchSize=N`
//!   (200–2000, default 2000), `COUNT()`;
//! * a daily API allocation per org with `Sforce-Limit-Info: api-usage=used/allotted` on every
//!   response of a known org and `403 REQUEST_LIMIT_EXCEEDED` beyond it;
//! * error bodies `[{"message", "errorCode"}]`.
//!
//! Test hooks beside the vendor API: [`SalesforceSim::advance`] moves an org's clock and
//! creates, updates and deletes records (deletes go to the recycle bin: `IsDeleted = true`,
//! served by `queryAll` and `/deleted`, not by `query`), [`SalesforceSim::truth`],
//! [`SalesforceSim::requests`], [`SalesforceSim::expire_tokens`],
//! [`SalesforceSim::expire_locators`], [`SalesforceSim::set_api_usage`]; the same under
//! `/_sim/…` for use from another process.

mod advance;
mod generate;
mod http;
pub mod schema;
pub mod soql;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::faults::ErrorStyle;
use crate::host::Vendor;
use crate::{ChangeReport, Changes, SimRequest, Truth};
use schema::{Obj, Rec, Val, push_record};

/// The newest API version served (`/services/data/v62.0`); versions from v20.0 are served.
pub const SF_API_VERSION: &str = "62.0";

/// The default daily API request allocation of an org.
pub const SF_DEFAULT_DAILY_LIMIT: u64 = 100_000;

/// How many records of each object a simulated org starts with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SfSizes {
    pub accounts: usize,
    pub contacts: usize,
    pub cases: usize,
    pub opportunities: usize,
    pub users: usize,
}

impl SfSizes {
    /// A mid-sized org: 200 accounts, 1,000 contacts, 12,000 cases, 1,500 opportunities,
    /// 40 users.
    pub fn demo() -> Self {
        SfSizes { accounts: 200, contacts: 1_000, cases: 12_000, opportunities: 1_500, users: 40 }
    }

    /// A small org for fast tests: 20 accounts, 80 contacts, 500 cases, 60 opportunities,
    /// 6 users.
    pub fn small() -> Self {
        SfSizes { accounts: 20, contacts: 80, cases: 500, opportunities: 60, users: 6 }
    }

    fn of(&self, obj: Obj) -> usize {
        match obj {
            Obj::Account => self.accounts,
            Obj::Contact => self.contacts,
            Obj::Case => self.cases,
            Obj::Opportunity => self.opportunities,
            Obj::User => self.users,
        }
    }
}

/// One simulated org and its API credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SfOrgSpec {
    /// The org's name (our tenant's handle for it), e.g. `acme`.
    pub org: String,
    /// Consumer key of the connected app.
    pub client_id: String,
    /// Consumer secret of the connected app.
    pub client_secret: String,
    /// The API user's username (for the password grant).
    pub username: String,
    pub password: String,
    /// Daily API request allocation.
    pub daily_api_limit: u64,
    /// Seed of all generated data.
    pub seed: u64,
    pub sizes: SfSizes,
    /// Simulated "now" at creation (truncated to whole seconds); data covers the two years
    /// before it.
    pub now: DateTime<Utc>,
}

impl SfOrgSpec {
    /// A spec with credentials derived deterministically from `org` and `seed`, and the
    /// default daily API allocation.
    pub fn new(org: impl Into<String>, seed: u64, sizes: SfSizes, now: DateTime<Utc>) -> Self {
        let org = org.into();
        let mut g = generate::sf_gen(seed ^ generate::hash(&org), 0x4b45_5953);
        const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";
        const HEX: &[u8] = b"0123456789ABCDEF";
        let mut draw = |alphabet: &[u8], n: usize| -> String {
            (0..n).map(|_| alphabet[g.index(alphabet.len())] as char).collect()
        };
        let client_id = format!("3MVG9{}", draw(&ALNUM[..62], 80));
        let client_secret = draw(HEX, 64);
        let password = draw(&ALNUM[..62], 16);
        let username = format!("integration@{}.example.com", generate::slug(&org));
        SfOrgSpec {
            org,
            client_id,
            client_secret,
            username,
            password,
            daily_api_limit: SF_DEFAULT_DAILY_LIMIT,
            seed,
            sizes,
            now,
        }
    }
}

/// The rows of one object.
#[derive(Default)]
pub(crate) struct Table {
    pub rows: Vec<Rec>,
    /// Counter of the next id.
    pub next_counter: u64,
}

/// All data of one org.
pub(crate) struct Org {
    pub spec: SfOrgSpec,
    /// Two-character pod code inside every id.
    pub pod: String,
    pub org_id: String,
    /// Simulated now, Unix seconds.
    pub now: i64,
    pub tables: [Table; 5],
    pub case_counter: u64,
    pub advances: u64,
}

impl Org {
    fn empty(spec: SfOrgSpec) -> Org {
        let h = generate::hash(&spec.org) ^ spec.seed.rotate_left(7);
        let digits = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let pod: String =
            [digits[(h % 36) as usize] as char, digits[((h / 36) % 36) as usize] as char]
                .into_iter()
                .collect();
        let org_id = schema::make_id("00D", &pod, 1_000 + (h >> 40) % 50_000);
        let base = 40_000 + (h >> 20) % 1_000_000;
        let tables =
            std::array::from_fn(|i| Table { rows: Vec::new(), next_counter: base + i as u64 * 7 });
        Org {
            now: spec.now.timestamp(),
            spec,
            pod,
            org_id,
            tables,
            case_counter: 1_000,
            advances: 0,
        }
    }

    pub fn table(&self, obj: Obj) -> &Table {
        &self.tables[obj.index()]
    }

    pub fn table_mut(&mut self, obj: Obj) -> &mut Table {
        &mut self.tables[obj.index()]
    }

    /// The API user (the first user).
    pub fn api_user(&self) -> String {
        self.user_id(0)
    }

    /// Every live record of `obj` as `query` serves it with all fields, in id order.
    fn live_json(&self, obj: Obj, version: &str) -> Vec<serde_json::Value> {
        let all: Vec<usize> = (0..obj.fields().len()).collect();
        let is_deleted = obj.sys().is_deleted;
        let mut out = Vec::new();
        let mut buf = String::new();
        for r in &self.table(obj).rows {
            if r.vals[is_deleted] == Val::Bool(true) {
                continue;
            }
            buf.clear();
            push_record(&mut buf, obj, r, &all, version);
            out.push(serde_json::from_str(&buf).unwrap_or_default());
        }
        out
    }
}

/// A query cursor: the parsed query, not its result.
struct Locator {
    query: Arc<soql::Query>,
    all: bool,
    batch: usize,
    last_used: Instant,
}

/// Locators expire after this much inactivity (as Salesforce's do).
const LOCATOR_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// Open locators kept per org (the oldest is dropped beyond it).
const MAX_LOCATORS: usize = 1_000;

struct Usage {
    used: u64,
    limit: u64,
}

/// One simulated org (its data, API usage and query locators; opaque).
pub struct OrgState {
    data: RwLock<Org>,
    usage: Mutex<Usage>,
    locators: Mutex<HashMap<String, Locator>>,
}

impl OrgState {
    fn read(&self) -> RwLockReadGuard<'_, Org> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Org> {
        self.data.write().unwrap_or_else(|e| e.into_inner())
    }

    fn usage(&self) -> MutexGuard<'_, Usage> {
        self.usage.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn locators(&self) -> MutexGuard<'_, HashMap<String, Locator>> {
        self.locators.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The Salesforce vendor in the simulator host: per-org data, and the OAuth tokens.
#[derive(Default)]
pub struct Salesforce {
    /// Access token → org name.
    tokens: Mutex<HashMap<String, String>>,
    /// Refresh token → org name (these survive [`SalesforceSim::expire_tokens`]).
    refresh_tokens: Mutex<HashMap<String, String>>,
    counter: AtomicU64,
}

/// The Salesforce simulator: cheap to clone, all clones share state.
pub type SalesforceSim = crate::host::Sim<Salesforce>;

impl Vendor for Salesforce {
    const NAME: &'static str = "Salesforce";
    const TENANT_ALIAS: &'static str = "org";
    const ERROR_STYLE: ErrorStyle = ErrorStyle::Salesforce;
    type Tenant = OrgState;
    type Request = SimRequest;
    type Report = ChangeReport;
    type Truth = Truth;

    fn routes() -> axum::Router<SalesforceSim> {
        http::routes()
    }

    fn now(tenant: &OrgState) -> i64 {
        tenant.read().now
    }

    /// Updates (case status moves, opportunity stages, account and contact details) and
    /// deletes (to the recycle bin) set `LastModifiedDate` and `SystemModstamp` in
    /// `(from, to]`, creates get new, larger ids and `CreatedDate` in the window. Report keys
    /// are object names; users are never deleted.
    fn advance(tenant: &OrgState, changes: &Changes) -> ChangeReport {
        advance::advance(&mut tenant.write(), changes)
    }

    /// Per object name, every live record as `query` serves it with all fields (in id
    /// order), and the ids of records deleted since generation.
    fn truth(_: &SalesforceSim, _: &str, tenant: &OrgState) -> Truth {
        let data = tenant.read();
        let version = format!("v{SF_API_VERSION}");
        let mut truth = Truth::default();
        for obj in Obj::ALL {
            truth.tables.insert(obj.name().to_string(), data.live_json(obj, &version));
            let is_deleted = obj.sys().is_deleted;
            let deleted: Vec<String> = data
                .table(obj)
                .rows
                .iter()
                .filter(|r| r.vals[is_deleted] == Val::Bool(true))
                .map(|r| r.id().to_string())
                .collect();
            truth.deleted.insert(obj.name().to_string(), deleted);
        }
        truth
    }

    fn describe(_: &SalesforceSim, _: &str, tenant: &OrgState) -> serde_json::Value {
        let org = tenant.read();
        let (used, limit) = {
            let u = tenant.usage();
            (u.used, u.limit)
        };
        let spec = SfOrgSpec {
            now: crate::time::to_datetime(org.now),
            daily_api_limit: limit,
            ..org.spec.clone()
        };
        let mut v = serde_json::to_value(&spec).unwrap_or_default();
        v["org_id"] = serde_json::json!(org.org_id);
        v["counts"] = Obj::ALL
            .iter()
            .map(|o| (o.name().to_string(), serde_json::json!(org.table(*o).rows.len())))
            .collect::<serde_json::Map<_, _>>()
            .into();
        v["api_usage"] = serde_json::json!({ "used": used, "limit": limit });
        v
    }
}

impl SalesforceSim {
    /// Generates an org's data from `spec.seed` and adds it (replacing one with the same
    /// name).
    pub fn add_org(&self, mut spec: SfOrgSpec) {
        spec.now = crate::time::to_datetime(spec.now.timestamp());
        let name = spec.org.clone();
        let limit = spec.daily_api_limit;
        let org = generate::generate(spec);
        self.insert_tenant(
            name,
            OrgState {
                data: RwLock::new(org),
                usage: Mutex::new(Usage { used: 0, limit }),
                locators: Mutex::new(HashMap::new()),
            },
        );
    }

    /// Same as [`Self::add_org`] (the name every simulator shares).
    pub fn add_tenant(&self, spec: SfOrgSpec) {
        self.add_org(spec);
    }

    /// Specs of all orgs (with `now` as it is now), in name order.
    pub fn orgs(&self) -> Vec<SfOrgSpec> {
        self.tenant_states()
            .iter()
            .map(|(_, s)| {
                let org = s.read();
                let limit = s.usage().limit;
                SfOrgSpec {
                    now: crate::time::to_datetime(org.now),
                    daily_api_limit: limit,
                    ..org.spec.clone()
                }
            })
            .collect()
    }

    /// The 18-character organization id (`00D…`) of an org.
    ///
    /// # Panics
    /// If the org does not exist.
    pub fn org_id(&self, org: &str) -> String {
        self.expect(org).read().org_id.clone()
    }

    /// Invalidates every access token issued so far (refresh tokens stay valid): the next
    /// data call with one answers `401 INVALID_SESSION_ID`.
    pub fn expire_tokens(&self) {
        lock(&self.vendor().tokens).clear();
    }

    /// Invalidates every open query locator: fetching a `nextRecordsUrl` answers
    /// `400 INVALID_QUERY_LOCATOR`.
    pub fn expire_locators(&self) {
        for (_, s) in self.tenant_states() {
            s.locators().clear();
        }
    }

    /// Sets how many API requests the org has used of its daily allocation.
    ///
    /// # Panics
    /// If the org does not exist.
    pub fn set_api_usage(&self, org: &str, used: u64) {
        self.expect(org).usage().used = used;
    }

    /// Sets the org's daily API allocation.
    ///
    /// # Panics
    /// If the org does not exist.
    pub fn set_api_limit(&self, org: &str, limit: u64) {
        self.expect(org).usage().limit = limit;
    }

    /// `(used, allotted)` of the org's daily API allocation.
    ///
    /// # Panics
    /// If the org does not exist.
    pub fn api_usage(&self, org: &str) -> (u64, u64) {
        let s = self.expect(org);
        let u = s.usage();
        (u.used, u.limit)
    }

    // ---- internals

    fn expect(&self, org: &str) -> Arc<OrgState> {
        self.state(org).unwrap_or_else(|| panic!("unknown Salesforce org {org:?}"))
    }

    fn next_counter(&self) -> u64 {
        self.vendor().counter.fetch_add(1, AtomicOrdering::Relaxed)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
