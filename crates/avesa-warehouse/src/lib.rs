//! The warehouse: SCD2 tables of the canonical model, and the queries the API serves.
//!
//! [`Warehouse`] is the seam; the embedded implementation is `DuckDbWarehouse` in the
//! `avesa-warehouse-duckdb` crate (ClickHouse comes later behind the same trait). Every
//! backend passes one conformance suite ([`conformance`], behind the `conformance`
//! feature) and returns records through one presentation layer ([`present`]).
//!
//! SCD2 semantics (docs/design.md §7): a version is identified by
//! `(tenant_id, source_service, source_id, valid_from)` where `valid_from` is the source's
//! updated-at. `valid_to` is the next version's `valid_from` (null while current). A deletion
//! is a version of its own with `is_deleted = true`. [`Warehouse::apply`] is idempotent and
//! order-independent: applying any set of batches, any number of times, in any order,
//! yields the same table. When two batches disagree about the same version key, the row
//! with the later `extracted_at` wins (then the greater `record_hash`), which is a property
//! of the set of batches, not of their order.

pub mod aggregate;
pub mod batch;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod epochs;
mod memory;
pub mod present;
mod priority;
mod query;

pub use aggregate::{AggRow, Aggregate};
pub use batch::aggregate_all;
pub use epochs::{DataEpochs, EpochWarehouse};
pub use memory::MemoryWarehouse;
pub use priority::ReadPriority;
pub use query::*;

/// The reference backend passes the suite every backend passes.
#[cfg(test)]
mod memory_conformance {
    use std::sync::Arc;

    async fn open_warehouse() -> ((), Arc<dyn crate::Warehouse>) {
        ((), Arc::new(crate::MemoryWarehouse::new()))
    }

    crate::warehouse_conformance!(open_warehouse);
}

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use avesa_model::{CanonicalTable, TenantId};

#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    /// The caller asked for something invalid (unknown sort column, bad id): a 400.
    #[error("{0}")]
    BadRequest(String),
    /// The engine failed (I/O, memory, a lock): the error it gave is the source.
    #[error("warehouse: {0}")]
    Engine(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A bug in AVESA: a backend broke the contract (a row of the wrong shape, a batch of
    /// the wrong schema).
    #[error("warehouse bug: {0}")]
    Internal(String),
    /// A read ran past its deadline and was cancelled in the engine, or the engine had no
    /// memory left for it: the request may succeed later or narrower (a 503, not a bug).
    #[error("{0}")]
    Overloaded(String),
}

impl WarehouseError {
    /// An engine error with only a message.
    pub fn engine(message: impl Into<String>) -> Self {
        WarehouseError::Engine(message.into().into())
    }
}

pub type Result<T, E = WarehouseError> = std::result::Result<T, E>;

/// What one apply did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Rows in the batch.
    pub rows: u64,
    /// Versions that did not exist before.
    pub inserted: u64,
}

/// The warehouse seam. Every read takes the tenant explicitly and is bound to it.
#[async_trait]
pub trait Warehouse: Send + Sync + 'static {
    /// Applies a batch of canonical rows (schema [`CanonicalTable::arrow_schema`]).
    async fn apply(&self, table: CanonicalTable, batch: RecordBatch) -> Result<ApplyReport>;
    /// A page of current (or as-of) records.
    async fn list(&self, tenant: &TenantId, table: CanonicalTable, q: &ListQuery) -> Result<Page>;
    /// One record, current or as of a time; `None` if it does not exist for this tenant.
    async fn get(
        &self,
        tenant: &TenantId,
        table: CanonicalTable,
        id: &EntityId,
        as_of: Option<chrono::NaiveDateTime>,
    ) -> Result<Option<Record>>;
    /// Every version of one record, oldest first.
    async fn history(
        &self,
        tenant: &TenantId,
        table: CanonicalTable,
        id: &EntityId,
    ) -> Result<Vec<Record>>;
    async fn dashboard(&self, tenant: &TenantId) -> Result<DashboardStats>;
    async fn ticket_status(&self, tenant: &TenantId) -> Result<Vec<StatusCount>>;
    async fn top_companies(&self, tenant: &TenantId, limit: u32) -> Result<Vec<TopCompany>>;
    /// Number of versions (all, including history) of a table for a tenant.
    async fn version_count(&self, tenant: &TenantId, table: CanonicalTable) -> Result<u64>;
    /// Source ids of a service's current (live) records of a table for a tenant: what a
    /// full sync's key scan compares with the ids the vendor still has.
    async fn current_ids(
        &self,
        tenant: &TenantId,
        table: CanonicalTable,
        service: &str,
    ) -> Result<Vec<String>>;
    /// A cheap liveness probe.
    async fn ping(&self) -> Result<()>;
    /// Removes every version of the tenant's records in `table`, and nothing of any other
    /// tenant's: where a rebuild from the raw lake starts. Returns the versions removed.
    async fn purge(&self, tenant: &TenantId, table: CanonicalTable) -> Result<u64>;
    /// Groups and measures of the tenant's rows of one table ([`aggregate`]): what every
    /// analytics figure is computed from.
    async fn aggregate(&self, tenant: &TenantId, q: &Aggregate) -> Result<Vec<AggRow>>;
    /// Several aggregates of one request, each answered as [`Warehouse::aggregate`] would
    /// answer it, in order. A backend may share work between them (the embedded one reads
    /// the rows a report's aggregates all narrow to, one company's or one member's, once),
    /// or answer them one after another ([`batch::one_by_one`]).
    async fn aggregate_many(&self, tenant: &TenantId, qs: &[Aggregate])
    -> Result<Vec<Vec<AggRow>>>;
    /// Rewrites the tenant's versions of `table` in the order analytics read them by (the
    /// table's dates), so that a scan of one period skips the rest of the table: rows
    /// land in the order they were read, and partitions read side by side land
    /// interleaved. Changes no answer of any read, and applies after it behave as before.
    /// Returns the versions rewritten: 0 when there was nothing to do, when the backend
    /// keeps its own order (ClickHouse sorts by its key as it merges), or when the
    /// tenant's rows changed while it ran (a later reorder tries again).
    async fn reorder(&self, tenant: &TenantId, table: CanonicalTable) -> Result<u64>;
}
