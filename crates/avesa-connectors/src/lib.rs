//! Connectors: how records come out of vendor APIs.
//!
//! A [`Connector`] reads one source table as a stream of pages in `(updated_at, id)`
//! order, starting strictly after a [`Cursor`]. That order makes every page boundary a
//! resumable keyset position: the pipeline can stop anywhere, commit what it has, and the
//! next chunk (or the next run) continues exactly where the last commit ended, with no
//! page-number drift when the vendor's data changes mid-sync.
//!
//! [`http`] holds what every REST connector shares (retries with capped exponential
//! backoff and jitter, `Retry-After`, clear errors); [`connectwise`] is ConnectWise PSA.

pub mod connectwise;
pub mod http;

use async_trait::async_trait;
use avesa_lake::RawRecord;
use chrono::{DateTime, Utc};

pub use connectwise::{ConnectWise, ConnectWiseConfig};

/// A keyset position: everything up to and including `(updated_at, id)` has been read.
/// An empty `id` means "from `updated_at` inclusive" (used for overlap windows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub updated_at: DateTime<Utc>,
    pub id: String,
}

/// One source table a connector can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceTable {
    /// The vendor's name for it, e.g. `service/tickets`.
    pub name: &'static str,
}

/// One page of records.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub records: Vec<RawRecord>,
    /// The position after this page (the last record's), `None` if the page is empty.
    pub last: Option<Cursor>,
    /// Whether more records may follow.
    pub more: bool,
    pub stats: FetchStats,
}

/// Counters for run records and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FetchStats {
    pub requests: u64,
    pub retries: u64,
    pub throttles: u64,
    pub bytes: u64,
}

impl std::ops::AddAssign for FetchStats {
    fn add_assign(&mut self, o: Self) {
        self.requests += o.requests;
        self.retries += o.retries;
        self.throttles += o.throttles;
        self.bytes += o.bytes;
    }
}

/// What went wrong talking to a vendor. The message always names the service and, where
/// it applies, the endpoint; the vendor's own error message is kept.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// Credentials were refused (401/403): retrying will not help.
    #[error("{service}: authentication failed: {message}")]
    Auth { service: String, message: String },
    /// The vendor refused the request (4xx other than 408/429).
    #[error("{service}: {endpoint}: HTTP {status}: {message}")]
    Rejected { service: String, endpoint: String, status: u16, message: String },
    /// Retries ran out on a transient failure.
    #[error("{service}: {endpoint}: gave up after {attempts} attempts: {message}")]
    Exhausted { service: String, endpoint: String, attempts: u32, message: String },
    /// The response was not what the API promises.
    #[error("{service}: {endpoint}: unexpected response: {message}")]
    Decode { service: String, endpoint: String, message: String },
    /// The connection could not be made at all.
    #[error("{service}: cannot reach {url}: {message}")]
    Unreachable { service: String, url: String, message: String },
    #[error("{service}: invalid configuration: {message}")]
    Config { service: String, message: String },
}

impl ConnectorError {
    /// Whether the failure is about credentials or configuration, which no retry fixes.
    pub fn is_permanent(&self) -> bool {
        matches!(self, ConnectorError::Auth { .. } | ConnectorError::Config { .. })
    }
}

pub type Result<T, E = ConnectorError> = std::result::Result<T, E>;

/// A vendor connector.
#[async_trait]
pub trait Connector: Send + Sync {
    fn service(&self) -> &'static str;
    fn tables(&self) -> &'static [SourceTable];
    /// Reads up to `page_size` records of `table` strictly after `after` (or from the
    /// beginning), in `(updated_at, id)` order.
    async fn fetch_page(&self, table: &str, after: Option<&Cursor>, page_size: u32)
    -> Result<Page>;
    /// How many records lie after `after` (a planning hint).
    async fn count(&self, table: &str, after: Option<&Cursor>) -> Result<u64>;
    /// Checks credentials and reachability with one cheap call.
    async fn test(&self) -> Result<()>;
}
