//! ConnectWise PSA (Manage) simulator.
//!
//! [`ConnectWiseSim`] holds any number of simulated ConnectWise *companies* (a company is one
//! PSA instance, i.e. one of our tenants' ConnectWise logins), each generated
//! deterministically from a [`CwCompanySpec`], and serves them over ConnectWise's wire
//! protocol (see `docs/vendor-apis.md` §1):
//!
//! * `GET /login/companyinfo/{companyId}` (no auth): codebase discovery, or JSON `null`;
//! * `GET /v4_6_release/apis/3.0/{table}`, `/{table}/count`, `/{table}/{id}` for
//!   [`CW_ALL_TABLES`] (the four [`CW_TABLES`], `system/members`, `finance/agreements`,
//!   `company/configurations`, `project/projects`, `sales/opportunities`, `service/boards`),
//!   board statuses per board at `service/boards/{boardId}/statuses` (404 `NotFound` for an
//!   unknown board), plus `system/info`;
//! * Basic auth `{companyId}+{publicKey}:{privateKey}` selects the company (401 otherwise),
//!   the `clientId` header must be the spec's (400 otherwise);
//! * `page`/`pageSize` (default 25, max 1000) with an RFC 5988 `Link` header whose URLs keep
//!   every original parameter and end with `page=N`; `pagination-type: forward-only` with
//!   `pageId` is supported too;
//! * `conditions` (see [`crate::conditions`]), `orderBy`, `fields`;
//! * error bodies `{code, message, errors?}`.
//!
//! Besides the vendor API it has the simulator host's test hooks ([`crate::host`]): `advance`
//! moves a company's clock and changes records, `truth` returns exactly what a perfect sync
//! must hold, `requests` is the log of every API request; the same hooks are served under
//! `/_sim/…` for use from another process (`GET /_sim/companies` is `/_sim/tenants`). In
//! front of the API sits the host's fault layer: injected faults, a rate limit and a traffic
//! log, with ConnectWise error bodies.

mod advance;
pub mod catalog;
mod data;
mod generate;
mod http;
mod query;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::conditions::{Expr, OrderKey};
use crate::faults::ErrorStyle;
use crate::host::{LogEntry, Vendor};
use crate::sink::Selection;
use data::Dataset;

/// The four tables the pipeline syncs, by API path. `system/members` is served too.
pub const CW_TABLES: [&str; 4] =
    ["company/companies", "company/contacts", "service/tickets", "time/entries"];

/// Every list the simulator serves, by API path. Board statuses are served per board at
/// `service/boards/{boardId}/statuses`; `service/boards/statuses` names all boards' statuses
/// together (in [`CwTruth::table`] and [`AdvanceReport`] keys), it is not an API path.
pub const CW_ALL_TABLES: [&str; 11] = [
    "company/companies",
    "company/contacts",
    "service/tickets",
    "time/entries",
    "system/members",
    "finance/agreements",
    "company/configurations",
    "project/projects",
    "sales/opportunities",
    "service/boards",
    "service/boards/statuses",
];

/// Path prefix of the REST API (codebase + API version).
pub const CW_API_PREFIX: &str = "/v4_6_release/apis/3.0";

/// Codebase reported by `/login/companyinfo/{companyId}`.
pub const CW_CODEBASE: &str = "v4_6_release/";

/// Value of the `api-current-version` response header.
pub const CW_API_VERSION: &str = "2025.1";

/// A simulated table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Table {
    Companies,
    Contacts,
    Tickets,
    TimeEntries,
    Members,
    Agreements,
    Configurations,
    Projects,
    Opportunities,
    Boards,
    /// All boards' statuses; served per board at `service/boards/{boardId}/statuses`.
    BoardStatuses,
}

impl Table {
    pub const COUNT: usize = 11;

    pub const ALL: [Table; Table::COUNT] = [
        Table::Companies,
        Table::Contacts,
        Table::Tickets,
        Table::TimeEntries,
        Table::Members,
        Table::Agreements,
        Table::Configurations,
        Table::Projects,
        Table::Opportunities,
        Table::Boards,
        Table::BoardStatuses,
    ];

    pub fn path(self) -> &'static str {
        match self {
            Table::Companies => "company/companies",
            Table::Contacts => "company/contacts",
            Table::Tickets => "service/tickets",
            Table::TimeEntries => "time/entries",
            Table::Members => "system/members",
            Table::Agreements => "finance/agreements",
            Table::Configurations => "company/configurations",
            Table::Projects => "project/projects",
            Table::Opportunities => "sales/opportunities",
            Table::Boards => "service/boards",
            Table::BoardStatuses => "service/boards/statuses",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_path(path: &str) -> Option<Table> {
        let path = path.trim_matches('/');
        Table::ALL.into_iter().find(|t| t.path().eq_ignore_ascii_case(path))
    }

    /// Resource name used in error bodies.
    pub fn resource(self) -> &'static str {
        match self {
            Table::Companies => "company",
            Table::Contacts => "contact",
            Table::Tickets => "ticket",
            Table::TimeEntries => "timeEntry",
            Table::Members => "member",
            Table::Agreements => "agreement",
            Table::Configurations => "configuration",
            Table::Projects => "project",
            Table::Opportunities => "opportunity",
            Table::Boards => "board",
            Table::BoardStatuses => "boardStatus",
        }
    }
}

/// How many records of each kind a simulated company starts with. Boards and their
/// statuses come from the fixed catalog (5 boards, 28 statuses).
///
/// When deserializing, a missing `agreements`, `configurations`, `projects` or
/// `opportunities` is derived from `companies` ([`CwSizes::derived`]), so specs written
/// before those tables existed keep working.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "CwSizesWire")]
pub struct CwSizes {
    pub companies: usize,
    pub contacts: usize,
    pub tickets: usize,
    pub time_entries: usize,
    pub members: usize,
    /// `finance/agreements`: every client company with a managed-services agreement (about
    /// half of the companies; tickets and time entries reference it) has one, and other
    /// agreements make up the rest, so there are at least as many as such clients.
    pub agreements: usize,
    /// `company/configurations`.
    pub configurations: usize,
    /// `project/projects`.
    pub projects: usize,
    /// `sales/opportunities`.
    pub opportunities: usize,
}

#[derive(Deserialize)]
struct CwSizesWire {
    companies: usize,
    contacts: usize,
    tickets: usize,
    time_entries: usize,
    members: usize,
    #[serde(default)]
    agreements: Option<usize>,
    #[serde(default)]
    configurations: Option<usize>,
    #[serde(default)]
    projects: Option<usize>,
    #[serde(default)]
    opportunities: Option<usize>,
}

impl From<CwSizesWire> for CwSizes {
    fn from(w: CwSizesWire) -> Self {
        let d = CwSizes::derived(w.companies, w.contacts, w.tickets, w.time_entries, w.members);
        CwSizes {
            agreements: w.agreements.unwrap_or(d.agreements),
            configurations: w.configurations.unwrap_or(d.configurations),
            projects: w.projects.unwrap_or(d.projects),
            opportunities: w.opportunities.unwrap_or(d.opportunities),
            ..d
        }
    }
}

impl CwSizes {
    /// A mid-sized MSP: 220 companies, 1,200 contacts, 20,000 tickets, 50,000 time entries,
    /// 25 members, 110 agreements, 1,100 configurations, 73 projects, 440 opportunities.
    pub fn demo() -> Self {
        CwSizes::derived(220, 1_200, 20_000, 50_000, 25)
    }

    /// A small MSP for fast tests: 40 companies, 150 contacts, 1,500 tickets, 3,000 time
    /// entries, 8 members, 20 agreements, 200 configurations, 13 projects, 80 opportunities.
    pub fn small() -> Self {
        CwSizes::derived(40, 150, 1_500, 3_000, 8)
    }

    /// Sizes with the newer tables derived from `companies`: agreements = companies / 2,
    /// configurations = companies × 5, projects = companies / 3, opportunities =
    /// companies × 2.
    pub fn derived(
        companies: usize,
        contacts: usize,
        tickets: usize,
        time_entries: usize,
        members: usize,
    ) -> Self {
        CwSizes {
            companies,
            contacts,
            tickets,
            time_entries,
            members,
            agreements: companies / 2,
            configurations: companies * 5,
            projects: companies / 3,
            opportunities: companies * 2,
        }
    }
}

/// One simulated ConnectWise company (PSA instance) and its API credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CwCompanySpec {
    /// The login company id (`companyId` in Basic auth and `/login/companyinfo/{companyId}`);
    /// case-sensitive.
    pub company_id: String,
    pub public_key: String,
    pub private_key: String,
    /// The `clientId` header value requests must carry.
    pub client_id: String,
    /// Seed of all generated data.
    pub seed: u64,
    pub sizes: CwSizes,
    /// Simulated "now" at creation (truncated to whole seconds); data covers the two years
    /// before it.
    pub now: DateTime<Utc>,
}

impl CwCompanySpec {
    /// A spec with keys and clientId derived deterministically from `company_id` and `seed`.
    pub fn new(
        company_id: impl Into<String>,
        seed: u64,
        sizes: CwSizes,
        now: DateTime<Utc>,
    ) -> Self {
        let company_id = company_id.into();
        let salt = company_id
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
        let mut g = generate::Gen::new(seed ^ salt, 0x4b45_5953);
        const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut key =
            |n: usize| -> String { (0..n).map(|_| ALNUM[g.index(ALNUM.len())] as char).collect() };
        let public_key = key(16);
        let private_key = key(16);
        let hex: String = {
            let mut g2 = generate::Gen::new(seed ^ salt, 0x434c_4945);
            (0..32).map(|_| char::from_digit(g2.index(16) as u32, 16).unwrap_or('0')).collect()
        };
        let client_id = format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        );
        CwCompanySpec { company_id, public_key, private_key, client_id, seed, sizes, now }
    }

    /// The `Authorization` header value for this company's keys.
    pub fn authorization(&self) -> String {
        let raw = format!("{}+{}:{}", self.company_id, self.public_key, self.private_key);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
    }
}

/// What [`ConnectWiseSim::advance`] should do (the host's [`crate::Changes`]):
///
/// * `duration`: how far the clock moves (at least one second);
/// * `updates`: existing records to change, spread over [`CW_TABLES`], agreements,
///   configurations, projects, opportunities, boards and board statuses in proportion to their
///   sizes (each table gets at least one when there are enough);
/// * `creates`: new records to create, spread the same way over the tables but boards and
///   board statuses (catalog data, never created). (A new time entry needs a ticket entered
///   at least 15 minutes before it; when there is none, fewer entries are created.)
/// * `deletes`: existing records to delete, spread the same way over records not changed by
///   this advance. Companies are soft-deleted (`deletedFlag` true, `dateDeleted`,
///   `deletedBy`, `_info.lastUpdated` in the window) and still served; contacts (other than a
///   company's default contact), tickets (without time entries), time entries, agreements
///   (other than the managed-services ones tickets reference), configurations, projects and
///   opportunities vanish from the API. Boards and board statuses are never deleted. When
///   there are not enough such records, fewer are deleted.
pub type AdvanceSpec = crate::Changes;

/// What an advance changed: ids per table path (every one of [`CW_ALL_TABLES`] but
/// `system/members` is a key; board statuses under `service/boards/statuses`).
/// Every updated, created or soft-deleted (company) record has `_info.lastUpdated` in
/// `(from, to]`, and no other record has; deleted contacts, tickets and time entries are no
/// longer served.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AdvanceReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub updated: BTreeMap<String, Vec<i64>>,
    pub created: BTreeMap<String, Vec<i64>>,
    /// Deleted ids, sorted: soft-deleted companies, vanished records of the other tables.
    #[serde(default)]
    pub deleted: BTreeMap<String, Vec<i64>>,
}

impl AdvanceReport {
    pub fn updated_ids(&self, table: &str) -> &[i64] {
        self.updated.get(table).map_or(&[], Vec::as_slice)
    }

    pub fn created_ids(&self, table: &str) -> &[i64] {
        self.created.get(table).map_or(&[], Vec::as_slice)
    }

    pub fn deleted_ids(&self, table: &str) -> &[i64] {
        self.deleted.get(table).map_or(&[], Vec::as_slice)
    }

    /// Ids of a table whose records the API now serves with `_info.lastUpdated` in the
    /// window, sorted: updated and created ones, and soft-deleted companies.
    pub fn changed_ids(&self, table: &str) -> Vec<i64> {
        let soft_deleted = if Table::from_path(table) == Some(Table::Companies) {
            self.deleted_ids(table)
        } else {
            &[]
        };
        let mut ids: Vec<i64> = self
            .updated_ids(table)
            .iter()
            .chain(self.created_ids(table))
            .chain(soft_deleted)
            .copied()
            .collect();
        ids.sort_unstable();
        ids
    }
}

/// One API request as the simulator saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Wall-clock time the request was served, milliseconds since the Unix epoch.
    #[serde(default)]
    pub at_ms: i64,
    /// The company named by the request's Basic auth (even when the keys were wrong), or the
    /// one asked about by `/login/companyinfo`; `None` without a readable one.
    pub company_id: Option<String>,
    pub method: String,
    /// Path after `/v4_6_release/apis/3.0` (e.g. `/service/tickets/count`); other paths whole.
    pub path: String,
    /// Raw query string, as sent.
    pub query: String,
    /// The decoded `conditions` parameter.
    pub conditions: Option<String>,
    pub status: u16,
    /// Records in the response body (list length, 1 for a single record, 0 otherwise).
    pub records: usize,
}

/// Every record of a simulated company exactly as the API serves it now (in id order), and
/// the ids of the records deleted since generation that it no longer serves. Soft-deleted
/// companies are still served (with `deletedFlag` true), so they are in `companies`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CwTruth {
    pub companies: Vec<serde_json::Value>,
    pub contacts: Vec<serde_json::Value>,
    pub tickets: Vec<serde_json::Value>,
    pub time_entries: Vec<serde_json::Value>,
    pub members: Vec<serde_json::Value>,
    #[serde(default)]
    pub agreements: Vec<serde_json::Value>,
    #[serde(default)]
    pub configurations: Vec<serde_json::Value>,
    #[serde(default)]
    pub projects: Vec<serde_json::Value>,
    #[serde(default)]
    pub opportunities: Vec<serde_json::Value>,
    #[serde(default)]
    pub boards: Vec<serde_json::Value>,
    /// Every board's statuses, in id order (the API serves them per board).
    #[serde(default)]
    pub board_statuses: Vec<serde_json::Value>,
    /// Ids of vanished records per table path, sorted (tables without any are absent).
    #[serde(default)]
    pub deleted: BTreeMap<String, Vec<i64>>,
}

impl CwTruth {
    /// Ids of a table's vanished records (`service/tickets`, …), sorted.
    pub fn deleted_ids(&self, path: &str) -> &[i64] {
        self.deleted.get(path).map_or(&[], Vec::as_slice)
    }

    /// Records of a table by path, one of [`CW_ALL_TABLES`] (`service/tickets`,
    /// `system/members`, `finance/agreements`, …; `service/boards/statuses` is every board's
    /// statuses).
    pub fn table(&self, path: &str) -> Option<&[serde_json::Value]> {
        Some(match Table::from_path(path)? {
            Table::Companies => &self.companies,
            Table::Contacts => &self.contacts,
            Table::Tickets => &self.tickets,
            Table::TimeEntries => &self.time_entries,
            Table::Members => &self.members,
            Table::Agreements => &self.agreements,
            Table::Configurations => &self.configurations,
            Table::Projects => &self.projects,
            Table::Opportunities => &self.opportunities,
            Table::Boards => &self.boards,
            Table::BoardStatuses => &self.board_statuses,
        })
    }
}

/// Vanished ids per table path, sorted; tables without any are absent.
fn vanished(ds: &Dataset) -> BTreeMap<String, Vec<i64>> {
    Table::ALL
        .into_iter()
        .filter(|t| !ds.vanished[t.index()].is_empty())
        .map(|t| {
            let mut ids = ds.vanished[t.index()].clone();
            ids.sort_unstable();
            (t.path().to_string(), ids)
        })
        .collect()
}

/// A cached `select` result for one query on one dataset version.
struct CacheEntry {
    version: u64,
    key: String,
    rows: Arc<Vec<u32>>,
}

/// One simulated company (its data and query caches; opaque).
pub struct CompanyState {
    data: RwLock<Dataset>,
    cache: Mutex<Vec<CacheEntry>>,
    /// Whole tables sorted by an `orderBy`: keyset paging asks for a new condition on
    /// every page but the same order, so the sort is done once per dataset version.
    orders: Mutex<Vec<CacheEntry>>,
}

const CACHE_ENTRIES: usize = 16;
const ORDER_ENTRIES: usize = 8;

/// Looks `key` up in `cache` for `version`, or computes and remembers it (keeping at most
/// `cap` entries, all of this version).
fn cached(
    cache: &Mutex<Vec<CacheEntry>>,
    cap: usize,
    version: u64,
    key: String,
    compute: impl FnOnce() -> Vec<u32>,
) -> Arc<Vec<u32>> {
    {
        let cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = cache.iter().find(|e| e.version == version && e.key == key) {
            return e.rows.clone();
        }
    }
    let rows = Arc::new(compute());
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    cache.retain(|e| e.version == version);
    if cache.len() >= cap {
        cache.remove(0);
    }
    cache.push(CacheEntry { version, key, rows: rows.clone() });
    rows
}

impl CompanyState {
    fn read(&self) -> RwLockReadGuard<'_, Dataset> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Dataset> {
        self.data.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Filtered and ordered row indexes, cached per (table, conditions, orderBy) so that
    /// paging through a filtered or re-ordered table does the work once.
    fn select(
        &self,
        ds: &Dataset,
        t: Table,
        key: String,
        cond: Option<&Expr>,
        order: &[OrderKey],
    ) -> Arc<Vec<u32>> {
        let version = ds.advances;
        cached(&self.cache, CACHE_ENTRIES, version, key, || {
            if query::is_default_order(order) {
                return query::select(ds, t, cond, None);
            }
            let order_key = order.iter().fold(t.path().to_string(), |mut k, o| {
                k.push('\u{1}');
                k.push_str(&o.field.text);
                k.push_str(if o.desc { " desc" } else { " asc" });
                k
            });
            let sorted = cached(&self.orders, ORDER_ENTRIES, version, order_key, || {
                query::sort(ds, t, order)
            });
            query::select(ds, t, cond, Some((&sorted, order)))
        })
    }
}

/// The ConnectWise vendor in the simulator host: per-company data; no shared state of its own.
#[derive(Default)]
pub struct ConnectWise;

/// The ConnectWise simulator: cheap to clone, all clones share state.
pub type ConnectWiseSim = crate::host::Sim<ConnectWise>;

impl LogEntry for RequestRecord {
    fn tenant(&self) -> Option<&str> {
        self.company_id.as_deref()
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

impl Vendor for ConnectWise {
    const NAME: &'static str = "ConnectWise";
    const TENANT_ALIAS: &'static str = "company";
    const ERROR_STYLE: ErrorStyle = ErrorStyle::ConnectWise;
    type Tenant = CompanyState;
    type Request = RequestRecord;
    type Report = AdvanceReport;
    type Truth = CwTruth;

    fn routes() -> axum::Router<ConnectWiseSim> {
        http::routes()
    }

    fn now(tenant: &CompanyState) -> i64 {
        tenant.read().now
    }

    /// Moves a company's clock forward by `spec.duration` and changes records inside that
    /// window: updated records get a new `_info.lastUpdated` in the window (ticket status
    /// moves, closes with `closedDate`, or reopens; time-entry hours change; company phone or
    /// status; contact title; agreement renewals and cancellations; configuration status,
    /// warranty or contact; project progress; opportunity stage moves and closes; board
    /// department; status `displayOnBoard`), created records get new, larger ids, deleted
    /// records are soft-deleted (companies) or vanish (see [`AdvanceSpec`]).
    fn advance(tenant: &CompanyState, spec: &AdvanceSpec) -> AdvanceReport {
        let mut ds = tenant.write();
        let report = advance::advance(&mut ds, spec);
        tenant.cache.lock().unwrap_or_else(|e| e.into_inner()).clear();
        report
    }

    /// Everything the company's API serves now, per table in id order.
    fn truth(_: &ConnectWiseSim, _: &str, tenant: &CompanyState) -> CwTruth {
        let ds = tenant.read();
        let table = |t: Table| -> Vec<serde_json::Value> {
            let json = query::write_rows(&ds, t, ds.live_rows(t).into_iter(), &Selection::All);
            serde_json::from_str(&json).unwrap_or_default()
        };
        CwTruth {
            companies: table(Table::Companies),
            contacts: table(Table::Contacts),
            tickets: table(Table::Tickets),
            time_entries: table(Table::TimeEntries),
            members: table(Table::Members),
            agreements: table(Table::Agreements),
            configurations: table(Table::Configurations),
            projects: table(Table::Projects),
            opportunities: table(Table::Opportunities),
            boards: table(Table::Boards),
            board_statuses: table(Table::BoardStatuses),
            deleted: vanished(&ds),
        }
    }

    /// One table by path (`service/tickets`, …; see [`CwTruth::table`]).
    fn table_truth(
        _: &ConnectWiseSim,
        _: &str,
        tenant: &CompanyState,
        table: &str,
    ) -> Option<String> {
        let t = Table::from_path(table)?;
        let ds = tenant.read();
        Some(query::write_rows(&ds, t, ds.live_rows(t).into_iter(), &Selection::All))
    }

    fn describe(_: &ConnectWiseSim, _: &str, tenant: &CompanyState) -> serde_json::Value {
        let ds = tenant.read();
        let spec = CwCompanySpec { now: crate::time::to_datetime(ds.now), ..ds.spec.clone() };
        let counts: serde_json::Map<String, serde_json::Value> = Table::ALL
            .iter()
            .map(|t| (t.path().to_string(), serde_json::json!(ds.live_len(*t))))
            .collect();
        let mut v = serde_json::to_value(&spec).unwrap_or_default();
        v["authorization"] = serde_json::json!(spec.authorization());
        v["counts"] = serde_json::Value::Object(counts);
        v
    }
}

impl ConnectWiseSim {
    /// Generates a company's data from `spec.seed` and adds it (replacing one with the same
    /// `company_id`).
    pub fn add_company(&self, mut spec: CwCompanySpec) {
        spec.now = crate::time::to_datetime(spec.now.timestamp());
        let id = spec.company_id.clone();
        let ds = generate::generate(spec);
        self.insert_tenant(
            id,
            CompanyState {
                data: RwLock::new(ds),
                cache: Mutex::new(Vec::new()),
                orders: Mutex::new(Vec::new()),
            },
        );
    }

    /// Specs of all companies (with `now` as it is now), in company-id order.
    pub fn companies(&self) -> Vec<CwCompanySpec> {
        self.tenant_states()
            .iter()
            .map(|(_, s)| {
                let ds = s.read();
                CwCompanySpec { now: crate::time::to_datetime(ds.now), ..ds.spec.clone() }
            })
            .collect()
    }

    /// `http://{addr}/v4_6_release/apis/3.0`: the API base URL for a served address.
    pub fn api_base(addr: SocketAddr) -> String {
        format!("http://{addr}{CW_API_PREFIX}")
    }
}
