//! Microsoft Graph (Microsoft 365 / Entra ID) simulator.
//!
//! [`GraphSim`] holds any number of simulated Entra ID *directories* (tenants), each
//! generated deterministically from a [`GraphTenantSpec`], and serves them over the Microsoft
//! identity platform and Graph wire protocols (`docs/vendor-apis.md` §4 and §8):
//!
//! * login, one per tenant, named by tenant id (GUID) or domain (`acme.onmicrosoft.com`):
//!   `GET /{tenant}/v2.0/.well-known/openid-configuration` and
//!   `POST /{tenant}/oauth2/v2.0/token` (client-credentials grant, form body). The real
//!   service lives at `https://login.microsoftonline.com`; the simulator serves login and API
//!   from one plain-`http` address. The discovery document is Microsoft's, field for field:
//!   its issuer and endpoints are `https://login.microsoftonline.com/{tenant id}/…` whatever
//!   host served it (a client that follows them needs `login.microsoftonline.com` routed to
//!   the simulator); the API's own links (`@odata.nextLink`, `@odata.deltaLink`) are
//!   `http://{Host header}/…`. Access tokens carry the tenant's v1.0 issuer
//!   (`https://sts.windows.net/{tenant id}/`), as Graph tokens from Entra ID do;
//! * the API at `/v1.0/…`, where the Bearer token selects the tenant: `users`, `groups`
//!   (paged lists with `$top`, `$select`, `$skiptoken`, `$count`), `users/{id}`,
//!   `groups/{id}`, and delta queries `users/delta` and `groups/delta` (also `delta()`);
//! * Graph error bodies `{"error":{"code","message","innerError":{…}}}` and login error bodies
//!   `{"error","error_description","error_codes",…}`.
//!
//! Delta follows a per-tenant change sequence: every create, update and delete takes the next
//! number and stamps the object with it, so "changes after a token" are the objects whose
//! number is larger, in number order. Tokens carry their position and issue time (simulated
//! clock) and nothing else; nothing is stored per token. Delta tokens expire after 7 days of
//! simulated time (410 Gone `syncStateNotFound`). Deleted users are reported as soft-deleted
//! (`"@removed": {"reason": "changed"}`), deleted groups as permanently deleted (`"deleted"`).
//! Changed objects come back whole (all selected properties) — real Graph may send only the
//! changed ones, so clients must upsert partial objects anyway.
//!
//! Test hooks: [`GraphSim::advance`], [`GraphSim::truth`], [`GraphSim::requests`],
//! [`GraphSim::expire_tokens`] and [`GraphSim::expire_delta_tokens`], also served under
//! `/_sim/…`.

mod advance;
mod data;
mod http;
mod token;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::faults::ErrorStyle;
use crate::host::Vendor;
use crate::{ChangeReport, Changes, SimRequest, Truth};
use data::{Directory, GROUP_PROPS, Gen, USER_PROPS};

/// The `scope` a client-credentials token request must ask for.
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// Seconds an access token is valid (`expires_in`), on the wall clock.
pub const GRAPH_TOKEN_LIFETIME: i64 = 3599;

/// How long a delta token stays valid, in simulated time.
pub const GRAPH_DELTA_TOKEN_DAYS: i64 = 7;

/// A directory object type served by the simulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) enum Kind {
    #[serde(rename = "users")]
    Users,
    #[serde(rename = "groups")]
    Groups,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Users, Kind::Groups];

    /// Entity set name (`users`, `groups`): URL segment, report and truth key.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Users => "users",
            Kind::Groups => "groups",
        }
    }

    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name().eq_ignore_ascii_case(s))
    }

    /// OData type name, for error messages.
    pub fn type_name(self) -> &'static str {
        match self {
            Kind::Users => "microsoft.graph.user",
            Kind::Groups => "microsoft.graph.group",
        }
    }

    /// Every property, in schema order.
    pub fn props(self) -> &'static [&'static str] {
        match self {
            Kind::Users => &USER_PROPS,
            Kind::Groups => &GROUP_PROPS,
        }
    }

    /// Properties returned without `$select`.
    pub fn default_props(self) -> &'static [&'static str] {
        match self {
            Kind::Users => &data::USER_DEFAULT,
            Kind::Groups => &GROUP_PROPS,
        }
    }

    /// `@removed.reason` of a deleted object in delta responses.
    pub fn removed_reason(self) -> &'static str {
        match self {
            Kind::Users => "changed",
            Kind::Groups => "deleted",
        }
    }
}

/// How many objects a simulated directory starts with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphSizes {
    pub users: usize,
    pub groups: usize,
}

impl GraphSizes {
    /// A mid-sized customer: 400 users, 60 groups.
    pub fn demo() -> Self {
        GraphSizes { users: 400, groups: 60 }
    }

    /// A small customer for fast tests: 30 users, 6 groups.
    pub fn small() -> Self {
        GraphSizes { users: 30, groups: 6 }
    }
}

/// One simulated Entra ID directory (a customer's Microsoft 365 tenant) and the credentials
/// of the MSP's app registration consented in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphTenantSpec {
    /// Directory (tenant) id, a lower-case GUID.
    pub tenant_id: String,
    /// Initial domain, e.g. `acme.onmicrosoft.com`; accepted in login URLs like the id.
    pub domain: String,
    /// Application (client) id, a GUID.
    pub client_id: String,
    pub client_secret: String,
    /// Seed of all generated data.
    pub seed: u64,
    pub sizes: GraphSizes,
    /// Simulated "now" at creation (truncated to whole seconds); objects were created in the
    /// two years before it.
    pub now: DateTime<Utc>,
}

impl GraphTenantSpec {
    /// A spec for `{name}.onmicrosoft.com` with tenant id, client id and secret derived
    /// deterministically from `name` and `seed`.
    pub fn new(name: &str, seed: u64, sizes: GraphSizes, now: DateTime<Utc>) -> Self {
        let name = name.trim().to_ascii_lowercase();
        let mut g = Gen::new(seed ^ data::fnv(&name), 0x4352_4544);
        let tenant_id = g.guid();
        let client_id = g.guid();
        // Entra ID client secrets look like `Abc8Q~` followed by 34 characters.
        const HEAD: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        const TAIL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~";
        let client_secret = format!("{}8Q~{}", g.string(HEAD, 3), g.string(TAIL, 34));
        GraphTenantSpec {
            tenant_id,
            domain: format!("{name}.onmicrosoft.com"),
            client_id,
            client_secret,
            seed,
            sizes,
            now,
        }
    }
}

/// One simulated directory (opaque).
pub struct TenantState {
    dir: RwLock<Directory>,
}

impl TenantState {
    fn read(&self) -> RwLockReadGuard<'_, Directory> {
        self.dir.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Directory> {
        self.dir.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The Microsoft Graph vendor in the simulator host: per-tenant directories, the domain
/// index and the access-token epoch.
#[derive(Default)]
pub struct Graph {
    /// Lower-cased domain → tenant id.
    domains: RwLock<BTreeMap<String, String>>,
    /// Access tokens of an older epoch are rejected.
    token_epoch: AtomicU64,
}

/// The Microsoft Graph simulator: cheap to clone, all clones share state.
pub type GraphSim = crate::host::Sim<Graph>;

impl Vendor for Graph {
    const NAME: &'static str = "Microsoft Graph";
    const TENANT_ALIAS: &'static str = "tenant";
    const ERROR_STYLE: ErrorStyle = ErrorStyle::Graph;
    type Tenant = TenantState;
    type Request = SimRequest;
    type Report = ChangeReport;
    type Truth = Truth;

    fn routes() -> axum::Router<GraphSim> {
        http::routes()
    }

    /// A tenant id or one of its domains, in any case.
    fn resolve(sim: &GraphSim, tenant: &str) -> Option<String> {
        let key = tenant.trim().to_ascii_lowercase();
        if sim.tenants_ref().contains_key(&key) {
            return Some(key);
        }
        sim.vendor().domains.read().unwrap_or_else(|e| e.into_inner()).get(&key).cloned()
    }

    fn now(tenant: &TenantState) -> i64 {
        tenant.read().now
    }

    /// Updates change a user's `jobTitle`, `department`, `displayName` (with `surname`) or
    /// `mobilePhone`, or a group's `description`; creates add users and groups; deletes
    /// remove them (users soft, groups hard). Work is spread over users and groups in
    /// proportion to their live counts. The report is keyed by `users` and `groups`.
    fn advance(tenant: &TenantState, changes: &Changes) -> ChangeReport {
        advance::advance(&mut tenant.write(), changes)
    }

    /// Every live user and group with all properties (as `$select` of every property serves
    /// them), in id order, and the ids deleted since generation.
    fn truth(_: &GraphSim, _: &str, tenant: &TenantState) -> Truth {
        let dir = tenant.read();
        let mut truth = Truth::default();
        for kind in Kind::ALL {
            let (rows, mut deleted): (Vec<serde_json::Value>, Vec<String>) = match kind {
                Kind::Users => (
                    dir.users
                        .by_id
                        .values()
                        .map(|&i| data::to_json(&dir.users.objs[i as usize], kind.props()))
                        .collect(),
                    dir.users.deleted.clone(),
                ),
                Kind::Groups => (
                    dir.groups
                        .by_id
                        .values()
                        .map(|&i| data::to_json(&dir.groups.objs[i as usize], kind.props()))
                        .collect(),
                    dir.groups.deleted.clone(),
                ),
            };
            deleted.sort();
            truth.tables.insert(kind.name().to_string(), rows);
            truth.deleted.insert(kind.name().to_string(), deleted);
        }
        truth
    }

    fn describe(_: &GraphSim, _: &str, tenant: &TenantState) -> serde_json::Value {
        let d = tenant.read();
        let spec = GraphTenantSpec { now: crate::time::to_datetime(d.now), ..d.spec.clone() };
        let mut v = serde_json::to_value(&spec).unwrap_or_default();
        v["counts"] = serde_json::json!({ "users": d.users.live(), "groups": d.groups.live() });
        v
    }
}

impl GraphSim {
    /// Generates a directory from `spec.seed` and adds it (replacing one with the same tenant
    /// id).
    pub fn add_tenant(&self, mut spec: GraphTenantSpec) {
        spec.now = crate::time::to_datetime(spec.now.timestamp());
        spec.tenant_id = spec.tenant_id.to_ascii_lowercase();
        let id = spec.tenant_id.clone();
        let domain = spec.domain.to_ascii_lowercase();
        {
            let mut domains = self.vendor().domains.write().unwrap_or_else(|e| e.into_inner());
            domains.retain(|_, t| *t != id);
            domains.insert(domain, id.clone());
        }
        self.insert_tenant(id, TenantState { dir: RwLock::new(data::generate(spec)) });
    }

    /// Specs of all tenants (with `now` as it is now), in tenant-id order.
    pub fn tenants(&self) -> Vec<GraphTenantSpec> {
        self.tenant_states()
            .iter()
            .map(|(_, s)| {
                let d = s.read();
                GraphTenantSpec { now: crate::time::to_datetime(d.now), ..d.spec.clone() }
            })
            .collect()
    }

    /// `http://{addr}/v1.0`: the Graph API base URL for a served address.
    pub fn api_base(addr: SocketAddr) -> String {
        format!("http://{addr}/v1.0")
    }

    /// `http://{addr}`: the login authority host (the real one is
    /// `https://login.microsoftonline.com`); the authority of a tenant is `{this}/{tenant}`.
    pub fn login_base(addr: SocketAddr) -> String {
        format!("http://{addr}")
    }

    /// `http://{addr}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(addr: SocketAddr, tenant: &str) -> String {
        format!("http://{addr}/{tenant}/oauth2/v2.0/token")
    }

    /// Invalidates every access token issued so far (requests with them get 401
    /// `InvalidAuthenticationToken`, as after expiry).
    pub fn expire_tokens(&self) {
        self.vendor().token_epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Makes every delta token (and delta skiptoken) issued so far, in every tenant, expired:
    /// using one answers 410 Gone `syncStateNotFound`.
    pub fn expire_delta_tokens(&self) {
        for (_, s) in self.tenant_states() {
            s.write().delta_epoch += 1;
        }
    }

    // ---- internals

    fn token_epoch(&self) -> u64 {
        self.vendor().token_epoch.load(Ordering::SeqCst)
    }
}
