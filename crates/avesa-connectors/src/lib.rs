//! Connectors: how records come out of vendor APIs.
//!
//! A [`Connector`] reads one source table as a stream of pages in `(updated_at, id)`
//! order, starting strictly after a [`Cursor`]. That order makes every page boundary a
//! resumable keyset position: the pipeline can stop anywhere, commit what it has, and the
//! next chunk (or the next run) continues exactly where the last commit ended, with no
//! page-number drift when the vendor's data changes mid-sync.
//!
//! Connectors are data: each service is a spec file (`specs/*.toml`, see [`spec`] and
//! `docs/connectors.md`) that one engine ([`engine::SpecConnector`]) executes. [`http`]
//! holds what every request shares (retries with capped exponential backoff and jitter,
//! `Retry-After`, clear errors), [`budget`] the per-(tenant, service) request budgets.

pub mod budget;
pub mod engine;
pub mod http;
pub mod spec;
pub mod template;

use async_trait::async_trait;
use avesa_model::{Continuation, RawRecord};

pub use engine::{ServiceCredentials, SpecConnector};
pub use spec::{Spec, SpecError, builtin_specs};

/// A keyset position (the model's [`avesa_model::Position`]): everything up to and
/// including `(updated_at, id)` has been read, plus the vendor's own continuation where it
/// has one. A connector falls back to the keyset position when a next-page continuation
/// has expired.
pub type Cursor = avesa_model::Position;

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
    /// The vendor's request quota is used up (Salesforce `REQUEST_LIMIT_EXCEEDED`): the
    /// work stops cleanly and resumes on a later run.
    #[error("{service}: API request quota exhausted: {message}")]
    Quota { service: String, message: String },
    /// The vendor refused the request (4xx other than 408/429).
    #[error("{service}: {endpoint}: HTTP {status}: {message}")]
    Rejected {
        service: String,
        endpoint: String,
        status: u16,
        message: String,
        /// The vendor's error code, where its error body has one.
        code: Option<String>,
    },
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

    /// One line for a person: what is wrong and what to check.
    pub fn explain(&self) -> String {
        match self {
            ConnectorError::Auth { service, message } => {
                format!(
                    "{service}: authentication failed: {message} (the credentials were refused; \
                     check the keys, user and company or instance id)"
                )
            }
            ConnectorError::Unreachable { service, url, message } => {
                let m = message.to_ascii_lowercase();
                let why = if m.contains("dns") || m.contains("resolve") || m.contains("lookup") {
                    "the host name does not resolve (DNS)"
                } else if m.contains("certificate") || m.contains("tls") || m.contains("ssl") {
                    "the TLS handshake failed (certificate or protocol)"
                } else if m.contains("refused") {
                    "the connection was refused (wrong host or port?)"
                } else if m.contains("timed out") || m.contains("timeout") {
                    "the connection timed out"
                } else {
                    "the connection failed"
                };
                format!("{service}: cannot reach {url}: {why} ({message})")
            }
            ConnectorError::Rejected { service, status: 400, message, .. }
                if message.to_ascii_lowercase().contains("clientid") =>
            {
                format!(
                    "{service}: the clientId was refused ({message}); register one at developer.connectwise.com"
                )
            }
            ConnectorError::Rejected { service, status: 404, message, endpoint, .. } => {
                format!(
                    "{service}: {endpoint} was not found ({message}); check the URL, codebase or instance"
                )
            }
            ConnectorError::Config { service, message } => {
                format!("{service}: configuration: {message}")
            }
            other => other.to_string(),
        }
    }

    /// Whether the vendor's quota ran out (stop cleanly, resume later).
    pub fn is_quota(&self) -> bool {
        matches!(self, ConnectorError::Quota { .. })
    }
}

pub type Result<T, E = ConnectorError> = std::result::Result<T, E>;

/// A vendor connector.
#[async_trait]
pub trait Connector: Send + Sync {
    fn service(&self) -> &str;
    /// The source tables a sync reads by default, in dependency order.
    fn tables(&self) -> Vec<String>;
    /// Reads up to `page_size` records of `table` strictly after `after` (or from the
    /// beginning), in `(updated_at, id)` order.
    async fn fetch_page(&self, table: &str, after: Option<&Cursor>, page_size: u32)
    -> Result<Page>;
    /// How many records lie after `after` (a planning hint).
    async fn count(&self, table: &str, after: Option<&Cursor>) -> Result<u64>;
    /// Checks credentials and reachability with one cheap call.
    async fn test(&self) -> Result<()>;
    /// The request budget this connector draws from (rate and concurrency window), if it
    /// has one.
    fn budget(&self) -> Option<std::sync::Arc<budget::Budget>> {
        None
    }
    /// Whether `table` is read by an updated-at cursor, so that a date range of it can be
    /// read (a backfill).
    fn supports_range(&self, _table: &str) -> bool {
        true
    }
    /// Whether reading `table` from the start lists every live record (so a full sync
    /// can detect deletions by the ids it did not see). Not true of tombstone streams
    /// and per-parent tables.
    fn lists_all(&self, _table: &str) -> bool {
        true
    }
    /// The mapping (source table name) that maps `table`'s records; `None` for a table
    /// landed as raw Parquet only.
    fn mapping_of(&self, table: &str) -> Option<String> {
        Some(table.to_owned())
    }
    /// Where the next run starts from a committed watermark: `overlap` behind it, unless the
    /// vendor's delta token says exactly where.
    fn resume_from(&self, c: Cursor, overlap: chrono::Duration) -> Cursor {
        match c.continuation {
            Some(Continuation::Delta(_)) => c,
            _ if overlap.is_zero() => Cursor { continuation: None, ..c },
            _ => Cursor::from_instant(c.updated_at - overlap),
        }
    }
}
