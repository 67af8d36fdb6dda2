//! Vendor API simulators for AVESA.
//!
//! A simulator speaks a vendor's real wire protocol — auth, paths, paging, filters, error
//! bodies, date formats — over deterministic, seeded data for any number of tenants, so that
//! the real connectors run against it unchanged. Each simulator also exposes what tests need
//! and a vendor never would: a clock to advance (records change and appear), the ground
//! truth a perfect sync must reproduce, and a log of every request it served.
//!
//! For example the ConnectWise PSA simulator, [`ConnectWiseSim`] (= `Sim<ConnectWise>`):
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use avesa_sim::{AdvanceSpec, ConnectWiseSim, CwCompanySpec, CwSizes};
//! let now = chrono::DateTime::parse_from_rfc3339("2025-01-15T12:00:00Z").unwrap().to_utc();
//! let sim = ConnectWiseSim::new();
//! let spec = CwCompanySpec::new("acme", 42, CwSizes::small(), now);
//! let auth = spec.authorization(); // "Basic …" for `acme+{publicKey}:{privateKey}`
//! sim.add_company(spec);
//! let (addr, _server) = sim.serve("127.0.0.1:0".parse().unwrap()).await?;
//! // GET http://{addr}/v4_6_release/apis/3.0/service/tickets?pageSize=1000
//! //     Authorization: {auth}, clientId: {spec.client_id}
//! let report = sim.advance("acme", AdvanceSpec {
//!     duration: chrono::Duration::hours(1), updates: 50, creates: 10, deletes: 2,
//! });
//! let truth = sim.truth("acme"); // what a perfect sync holds now
//! // make the next two ticket requests fail with 503, then let them through
//! sim.faults().inject(avesa_sim::FaultRule::status(503).path("service/tickets").times(2));
//! # let _ = (addr, auth, report, truth); Ok(()) }
//! ```
//!
//! Module map: [`host`] (what every simulator shares: [`Sim`] hosts a [`Vendor`] — tenant
//! registry, request log, clock, ground truth, the `/_sim/*` control routes, serving — so a
//! new vendor is its data and handlers only), [`connectwise`], [`servicenow`] (instances
//! under `/{instance}/`, Basic or OAuth, encoded queries, `sys_audit_delete`),
//! [`salesforce`] (OAuth, SOQL, `queryAll`, `getDeleted`, API usage) and [`graph`]
//! (Microsoft 365 / Entra ID: client-credentials login per tenant, `/v1.0/users` and
//! `/v1.0/groups` with OData paging, delta queries with expiring delta tokens) — each its
//! data generation, advance and HTTP handlers; [`conditions`] (the ConnectWise
//! `conditions`/`orderBy` language), [`faults`] (fault injection, rate limiting and a
//! traffic log in front of every simulator's API), `rng` (the seeded generator all vendors
//! draw from), `sink` (one description of a record feeding the JSON writer, field lookups
//! and schema checks), `time` (second-resolution timestamps).

pub mod conditions;
pub mod connectwise;
pub mod faults;
pub mod graph;
pub mod host;
mod rng;
pub mod salesforce;
pub mod servicenow;
mod sink;
mod time;

pub use connectwise::{
    AdvanceReport, AdvanceSpec, CW_ALL_TABLES, CW_API_PREFIX, CW_API_VERSION, CW_CODEBASE,
    CW_TABLES, ConnectWiseSim, CwCompanySpec, CwSizes, CwTruth, RequestRecord,
};
pub use faults::{ErrorStyle, FaultKind, FaultRule, Faults, RateLimit, TrafficEntry};
pub use graph::{GraphSim, GraphSizes, GraphTenantSpec};
pub use host::{Sim, Vendor};
pub use salesforce::{SalesforceSim, SfOrgSpec, SfSizes};
pub use servicenow::{SN_ACCESS_TOKEN_TTL, SN_TABLES, ServiceNowSim, SnSizes, SnTenantSpec};

// ---------------------------------------------------------------------------------------------
// Types shared by the simulators (ConnectWise keeps a richer report, truth and request record
// of its own).

/// What an `advance` of a simulated tenant should do: move the clock forward by `duration`
/// and change records inside that window.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Changes {
    /// How far the clock moves (whole seconds, at least one).
    #[serde(with = "secs")]
    pub duration: chrono::Duration,
    /// Existing records to change, spread over the tables in proportion to their sizes.
    #[serde(default)]
    pub updates: usize,
    /// New records to create, spread the same way.
    #[serde(default)]
    pub creates: usize,
    /// Existing records to delete, spread the same way.
    #[serde(default)]
    pub deletes: usize,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(d: &chrono::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(d.num_seconds())
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<chrono::Duration, D::Error> {
        let n = <i64 as serde::Deserialize>::deserialize(d)?;
        Ok(chrono::Duration::seconds(n.max(1)))
    }
}

/// What an advance changed, by table (the vendor's table name) and record id (as the
/// vendor writes it, as a string). Every changed record's updated-at lies in `(from, to]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChangeReport {
    pub from: chrono::DateTime<chrono::Utc>,
    pub to: chrono::DateTime<chrono::Utc>,
    pub updated: std::collections::BTreeMap<String, Vec<String>>,
    pub created: std::collections::BTreeMap<String, Vec<String>>,
    pub deleted: std::collections::BTreeMap<String, Vec<String>>,
}

/// What a perfect sync of one simulated tenant holds now: per table, every live record
/// exactly as the API serves it (raw values, all fields, in id order), and the ids of the
/// records deleted since the data was generated.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Truth {
    pub tables: std::collections::BTreeMap<String, Vec<serde_json::Value>>,
    pub deleted: std::collections::BTreeMap<String, Vec<String>>,
}

/// One request as a simulator saw it, for tests that assert on traffic (throttling, retry
/// storms, incremental filters).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SimRequest {
    /// Wall-clock arrival, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The simulated tenant (instance, org, directory) the request was for, when known.
    pub tenant: Option<String>,
    pub method: String,
    pub path: String,
    /// Raw query string, as sent.
    pub query: String,
    pub status: u16,
    /// Records in the response body.
    pub records: usize,
}
