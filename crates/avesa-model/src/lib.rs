//! Domain types shared by every AVESA crate: identifiers, roles and the canonical model.
//!
//! No I/O lives here. The canonical model (section 6 of DESIGN.md) is described once, as
//! data ([`CanonicalTable::columns`]), and every layer derives from that description: the
//! Arrow schema of canonical Parquet, the warehouse DDL, the API's JSON.

mod canonical;
mod ids;
pub mod metrics;

pub use canonical::{CanonicalTable, Column, ColumnType, META_COLUMNS, SCD2_COLUMNS};
pub use ids::{ChunkId, IdError, Role, RunId, ServiceKind, TenantId};
