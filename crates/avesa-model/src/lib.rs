//! Domain types shared by every AVESA crate: identifiers, roles and the canonical model.
//!
//! No I/O lives here. The canonical model (section 6 of docs/design.md) is described once, as
//! data ([`CanonicalTable::columns`]), and every layer derives from that description: the
//! Arrow schema of canonical Parquet, the warehouse DDL, the API's JSON.

mod canonical;
mod ids;
pub mod json;
pub mod metrics;
mod sync;

pub use canonical::{CanonicalTable, Column, ColumnType, META_COLUMNS, SCD2_COLUMNS};
pub use ids::{ChunkId, IdError, Role, RunId, ServiceKind, TenantId};
pub use sync::{Backfill, Continuation, Position, RawRecord, RunKind, StopReason};

/// Parses an instant a person types: `YYYY-MM-DD` (midnight UTC) or RFC 3339. Used by the
/// CLI's and the API's date-range arguments alike.
pub fn parse_instant(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.to_utc());
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}
