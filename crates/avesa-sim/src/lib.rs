//! Vendor API simulators for AVESA.
//!
//! A simulator speaks a vendor's real wire protocol — auth, paths, paging, filters, error
//! bodies, date formats — over deterministic, seeded data for any number of tenants, so that
//! the real connectors run against it unchanged. Each simulator also exposes what tests need
//! and a vendor never would: a clock to advance (records change and appear), the ground
//! truth a perfect sync must reproduce, and a log of every request it served.
//!
//! Today this crate has the ConnectWise PSA simulator, [`ConnectWiseSim`]:
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
//! let report = sim.advance("acme", AdvanceSpec { duration: chrono::Duration::hours(1), updates: 50, creates: 10 });
//! let truth = sim.truth("acme"); // what a perfect sync holds now
//! # let _ = (addr, auth, report, truth); Ok(()) }
//! ```
//!
//! Module map: [`connectwise`] (the simulator: data generation, advance, HTTP), [`conditions`]
//! (the ConnectWise `conditions`/`orderBy` language), `sink` (one description of a record
//! feeding the JSON writer, field lookups and schema checks), `time` (second-resolution
//! timestamps).

pub mod conditions;
pub mod connectwise;
mod sink;
mod time;

pub use connectwise::{
    AdvanceReport, AdvanceSpec, CW_API_PREFIX, CW_API_VERSION, CW_CODEBASE, CW_TABLES,
    ConnectWiseSim, CwCompanySpec, CwSizes, CwTruth, RequestRecord,
};
