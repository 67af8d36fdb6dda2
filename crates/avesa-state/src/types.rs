//! Records the state store keeps.

use avesa_model::{ChunkId, Position, Role, RunId, RunKind, TenantId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// A service attached to a tenant; `sealed_config` is ciphertext.
#[derive(Clone, Debug)]
pub struct ServiceRecord {
    pub tenant_id: TenantId,
    pub service: String,
    pub sealed_config: Vec<u8>,
    pub enabled: bool,
    /// A 5-field cron expression (UTC) for scheduled runs; `None` = the default (hourly).
    pub schedule: Option<String>,
}

/// How fresh one table of a tenant is: when its data last landed, how far its watermark
/// has come, and how much has landed (its partitions' reads counted; backfills' own progress not).
#[derive(Clone, Debug, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct TableFreshness {
    pub service: String,
    pub table: String,
    /// When a chunk of the table last committed.
    pub last_commit_at: Option<DateTime<Utc>>,
    /// The vendor's updated-at the table's incremental syncs have read up to.
    pub watermark: Option<DateTime<Utc>>,
    /// Records committed over all runs (versions read, not rows in the warehouse).
    pub records: u64,
}

#[derive(Clone, Debug)]
pub struct NewUser {
    pub tenant_id: TenantId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub tenant_id: TenantId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    /// A disabled user cannot sign in, and their tokens stop working.
    pub disabled: bool,
}

/// How many saved views one user may keep (over all pages): a create beyond it is refused
/// with [`StateError::Conflict`](crate::StateError::Conflict).
pub const MAX_SAVED_VIEWS: u32 = 100;

/// A user's saved view: a name for a page of the web app and the query string that
/// makes it (its filters, search, sort …). Private to its user: every store method takes
/// the tenant and the user, and never reads or changes another user's views.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedView {
    /// Unique (a UUID), chosen by the store.
    pub id: String,
    pub tenant_id: TenantId,
    pub user_id: String,
    /// The page it is for (`dashboard`, `tickets` …; the API checks the value).
    pub page: String,
    /// Unique per user and page.
    pub name: String,
    /// An `application/x-www-form-urlencoded` query string, without a leading `?`.
    pub query: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A view to save.
#[derive(Clone, Debug)]
pub struct NewSavedView {
    pub page: String,
    pub name: String,
    pub query: String,
}

/// A change to a saved view: each `Some` field is set.
#[derive(Clone, Debug, Default)]
pub struct SavedViewUpdate {
    pub name: Option<String>,
    pub query: Option<String>,
}

/// A change to a user: each `Some` field is set.
#[derive(Clone, Debug, Default)]
pub struct UserUpdate {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
}

#[derive(Clone, Debug)]
pub struct NewRefreshToken {
    pub token_hash: String,
    pub family_id: String,
    pub user_id: String,
    pub tenant_id: TenantId,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct RefreshTokenRecord {
    pub token_hash: String,
    pub family_id: String,
    pub user_id: String,
    pub tenant_id: TenantId,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
    pub revoked: bool,
}

/// One source table of one tenant's service.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TableKey {
    pub tenant_id: TenantId,
    pub service: String,
    pub table: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    PartiallyFailed,
    /// Stopped by a shutdown (Ctrl-C, SIGTERM): in-flight chunks committed, and the next
    /// run resumes where it stopped.
    Cancelled,
    /// The process running it ended without finishing it (a crash or a kill); found and
    /// marked by the next process to open the installation. Its unfinished chunks are
    /// resumed by the next run.
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::PartiallyFailed => "partially_failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            "partially_failed" => RunStatus::PartiallyFailed,
            "cancelled" => RunStatus::Cancelled,
            "interrupted" => RunStatus::Interrupted,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RunRecord {
    pub id: RunId,
    /// The tenant this run covers, or `None` for a run over every tenant.
    pub tenant_id: Option<TenantId>,
    pub kind: RunKind,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    /// A run whose tables run as jobs on workers: how many table outcomes complete it
    /// ([`StateStore::record_outcome`](crate::StateStore::record_outcome)). `None`: the
    /// process that started the run finishes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tables_planned: Option<u32>,
    /// Someone asked the run to stop (`POST /api/admin/runs/{id}/cancel`); it ends
    /// `cancelled` once its tables have committed what they read.
    pub cancel_requested: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChunkStatus {
    Running,
    Committed,
    Failed,
    /// Left unfinished and then superseded (a full sync started over); never resumed.
    Abandoned,
}

impl ChunkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChunkStatus::Running => "running",
            ChunkStatus::Committed => "committed",
            ChunkStatus::Failed => "failed",
            ChunkStatus::Abandoned => "abandoned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => ChunkStatus::Running,
            "committed" => ChunkStatus::Committed,
            "failed" => ChunkStatus::Failed,
            "abandoned" => ChunkStatus::Abandoned,
            _ => return None,
        })
    }
}

/// What a chunk did; filled in at commit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ChunkCounts {
    pub records: u64,
    pub pages: u64,
    pub requests: u64,
    pub bytes: u64,
    pub versions_inserted: u64,
    /// Vendor requests retried after a transient failure.
    pub retries: u64,
    /// Vendor responses that throttled us (429/503).
    pub throttles: u64,
    /// Wall time of the chunk, milliseconds.
    pub millis: u64,
    /// The most requests of the chunk's (tenant, service) in flight at once while it ran
    /// (other tables' and partitions' included): the adaptive concurrency window at work.
    #[serde(default)]
    pub concurrency: u64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ChunkRecord {
    pub id: ChunkId,
    pub run_id: RunId,
    pub key: TableKeyView,
    pub status: ChunkStatus,
    /// Where the chunk starts reading (exclusive); `None` = from the beginning.
    pub start: Option<Position>,
    /// The last record the chunk read, once committed.
    pub end: Option<Position>,
    pub counts: ChunkCounts,
    pub files: Vec<String>,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// When beginning it: the fencing token of the table's lease the beginning worker
    /// holds; refused with [`StateError::Fenced`](crate::StateError::Fenced) if stale.
    /// Not stored (always `None` when read).
    #[serde(skip)]
    pub fence: Option<u64>,
}

impl ChunkRecord {
    /// A chunk about to run: `start` is where it reads from (exclusive).
    pub fn running(id: ChunkId, run_id: RunId, key: TableKey, start: Option<Position>) -> Self {
        ChunkRecord {
            id,
            run_id,
            key: key.into(),
            status: ChunkStatus::Running,
            start,
            end: None,
            counts: ChunkCounts::default(),
            files: vec![],
            error: None,
            started_at: Utc::now(),
            finished_at: None,
            fence: None,
        }
    }
}

/// [`TableKey`] as it appears in records and JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TableKeyView {
    pub tenant_id: TenantId,
    pub service: String,
    pub table: String,
}

impl From<TableKey> for TableKeyView {
    fn from(k: TableKey) -> Self {
        TableKeyView { tenant_id: k.tenant_id, service: k.service, table: k.table }
    }
}

impl TableKeyView {
    pub fn key(&self) -> TableKey {
        TableKey {
            tenant_id: self.tenant_id.clone(),
            service: self.service.clone(),
            table: self.table.clone(),
        }
    }
}

/// The commit of one chunk.
#[derive(Clone, Debug)]
pub struct ChunkCommit {
    pub chunk_id: ChunkId,
    pub key: TableKey,
    /// The new cursor; `None` when the chunk read nothing (the cursor stays).
    pub end: Option<Position>,
    pub counts: ChunkCounts,
    pub files: Vec<String>,
    /// The fencing token of the table's lease the committing worker holds
    /// ([`TableKey::lease_name`]); the commit fails with [`StateError::Fenced`](crate::StateError::Fenced)
    /// when the lease has since been claimed by another. `None`: no lease (one process).
    pub fence: Option<u64>,
}

impl TableKey {
    /// The name of the table's lease among a store's leases. A partition of a table
    /// (`service/tickets@part-…`) is read under its table's lease.
    pub fn lease_name(&self) -> String {
        let table = self.table.split_once("@part-").map_or(self.table.as_str(), |(t, _)| t);
        format!("table/{}/{}/{}", self.tenant_id, self.service, table)
    }
}

/// A worker process, as its heartbeats describe it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorkerRecord {
    /// Unique per process (host, pid and a random suffix).
    pub id: String,
    pub host: String,
    pub pid: u32,
    /// Jobs it runs at once, and is running now.
    pub concurrency: u32,
    pub running: u32,
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat.
    pub seen_at: DateTime<Utc>,
}

/// How many client-report schedules one tenant may keep.
pub const MAX_REPORT_SCHEDULES: u32 = 500;

/// A client report sent on a schedule: which company's, how often, for what period, to
/// whom, and how its last delivery went. The API checks the values; the store keeps them
/// and hands each due delivery to exactly one process ([`StateStore::claim_report_schedule`](crate::StateStore::claim_report_schedule)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportSchedule {
    /// Unique (a UUID), chosen by the caller.
    pub id: String,
    pub tenant_id: TenantId,
    /// The company (`connectwise:250`).
    pub company_id: String,
    /// `weekly` or `monthly`.
    pub cadence: String,
    /// The weekday (1 Monday … 7 Sunday) or the day of the month (1 … 28).
    pub day: u32,
    /// The hour of the day, in `tz`.
    pub hour: u32,
    /// The time zone `day` and `hour` are read in.
    pub tz: String,
    /// The named period each report covers (`last_month` …).
    pub period: String,
    /// Addresses it goes to.
    pub recipients: Vec<String>,
    /// Whether it also goes to the company's contacts.
    pub contacts: bool,
    pub message: Option<String>,
    /// The user who made it.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// When it is next due (whole seconds).
    pub next_run_at: DateTime<Utc>,
    /// When a delivery last began.
    pub last_run_at: Option<DateTime<Utc>>,
    /// `sending` (begun, not known to have finished), `sent` or `failed`.
    pub last_status: Option<String>,
    pub last_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_is_read_under_its_tables_lease() {
        let key = |table: &str| TableKey {
            tenant_id: TenantId::new("acme").unwrap(),
            service: "connectwise".into(),
            table: table.into(),
        };
        assert_eq!(
            key("service/tickets@part-20261206T014400-2of4").lease_name(),
            key("service/tickets").lease_name()
        );
        assert_ne!(
            key("service/tickets@backfill-20240101T000000-20240201T000000").lease_name(),
            key("service/tickets").lease_name(),
            "a backfill has a lease of its own"
        );
    }
}
