//! The canonical model: the tables every service maps into (docs/design.md §6).
//!
//! A canonical row is keyed by `(tenant_id, source_service, source_id)` and carries the
//! metadata columns ([`META_COLUMNS`]) followed by the table's business columns. The
//! warehouse adds the SCD2 columns ([`SCD2_COLUMNS`]). `record_hash` covers the business
//! columns only, so a vendor touching a field we do not map makes no new version.

use std::fmt;
use std::str::FromStr;
#[cfg(feature = "arrow")]
use std::sync::Arc;

#[cfg(feature = "arrow")]
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::IdError;

/// The type of a canonical column. Timestamps are UTC, microsecond precision, stored
/// without a zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    Text,
    Int,
    Float,
    Bool,
    Timestamp,
}

impl ColumnType {
    #[cfg(feature = "arrow")]
    pub fn arrow(self) -> DataType {
        match self {
            ColumnType::Text => DataType::Utf8,
            ColumnType::Int => DataType::Int64,
            ColumnType::Float => DataType::Float64,
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        }
    }

    /// The SQL type name shared by DuckDB and (later) ClickHouse DDL generators.
    pub fn sql(self) -> &'static str {
        match self {
            ColumnType::Text => "VARCHAR",
            ColumnType::Int => "BIGINT",
            ColumnType::Float => "DOUBLE",
            ColumnType::Bool => "BOOLEAN",
            ColumnType::Timestamp => "TIMESTAMP",
        }
    }
}

/// One column of a canonical table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
}

const fn col(name: &'static str, ty: ColumnType) -> Column {
    Column { name, ty }
}

use ColumnType::{Bool, Float, Int, Text, Timestamp};

/// Columns every canonical row carries before its business columns. All are non-null
/// except `source_updated_at` (a source without an updated-at falls back to extraction
/// time, so in practice it is always set).
pub const META_COLUMNS: &[Column] = &[
    col("tenant_id", Text),
    col("source_service", Text),
    col("source_id", Text),
    col("source_updated_at", Timestamp),
    col("is_deleted", Bool),
    col("record_hash", Text),
    col("extracted_at", Timestamp),
    col("chunk_id", Text),
];

/// Columns the warehouse adds to make a canonical table an SCD2 table.
pub const SCD2_COLUMNS: &[Column] =
    &[col("valid_from", Timestamp), col("valid_to", Timestamp), col("is_current", Bool)];

const COMPANIES: &[Column] = &[
    col("name", Text),
    col("identifier", Text),
    col("status", Text),
    col("company_type", Text),
    col("phone", Text),
    col("website", Text),
    col("address_line1", Text),
    col("address_line2", Text),
    col("city", Text),
    col("state", Text),
    col("zip", Text),
    col("country", Text),
    col("territory", Text),
    col("annual_revenue", Float),
    col("employee_count", Int),
    col("date_acquired", Timestamp),
];

const CONTACTS: &[Column] = &[
    col("company_id", Text),
    col("first_name", Text),
    col("last_name", Text),
    col("title", Text),
    col("email", Text),
    col("phone", Text),
    col("active", Bool),
];

const TICKETS: &[Column] = &[
    col("company_id", Text),
    col("contact_id", Text),
    col("summary", Text),
    col("board", Text),
    col("status", Text),
    col("priority", Text),
    col("ticket_type", Text),
    col("severity", Text),
    col("impact", Text),
    col("owner_id", Text),
    col("source", Text),
    col("opened_at", Timestamp),
    col("closed_at", Timestamp),
    col("resolved_at", Timestamp),
    col("closed", Bool),
    col("budget_hours", Float),
    col("actual_hours", Float),
    col("sla_met", Bool),
    // Added after the first release: warehouses made before add them on open.
    col("responded_at", Timestamp),
    col("reopen_count", Int),
    // The ticket's number as its source shows it: ConnectWise's ticket number (its id),
    // ServiceNow's "INC0010001", Salesforce's case number.
    col("number", Text),
];

const TIME_ENTRIES: &[Column] = &[
    col("company_id", Text),
    col("ticket_id", Text),
    col("member_id", Text),
    col("work_type", Text),
    col("work_role", Text),
    col("billable_option", Text),
    col("time_start", Timestamp),
    col("time_end", Timestamp),
    col("actual_hours", Float),
    col("billed_hours", Float),
    col("hourly_rate", Float),
    col("notes", Text),
];

/// The canonical tables.
/// The MSP's own staff (technicians, agents, users): what tickets' owners and time
/// entries' members refer to.
const MEMBERS: &[Column] = &[
    col("identifier", Text),
    col("name", Text),
    col("first_name", Text),
    col("last_name", Text),
    col("email", Text),
    col("title", Text),
    col("role", Text),
    col("department", Text),
    col("active", Bool),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CanonicalTable {
    Companies,
    Contacts,
    Tickets,
    TimeEntries,
    Members,
}

impl CanonicalTable {
    pub const ALL: [CanonicalTable; 5] = [
        CanonicalTable::Companies,
        CanonicalTable::Contacts,
        CanonicalTable::Tickets,
        CanonicalTable::TimeEntries,
        CanonicalTable::Members,
    ];

    /// The table's name in the lake and the warehouse.
    pub fn name(self) -> &'static str {
        match self {
            CanonicalTable::Companies => "companies",
            CanonicalTable::Contacts => "contacts",
            CanonicalTable::Tickets => "tickets",
            CanonicalTable::TimeEntries => "time_entries",
            CanonicalTable::Members => "members",
        }
    }

    /// The business columns, the ones `record_hash` covers.
    pub fn columns(self) -> &'static [Column] {
        match self {
            CanonicalTable::Companies => COMPANIES,
            CanonicalTable::Contacts => CONTACTS,
            CanonicalTable::Tickets => TICKETS,
            CanonicalTable::TimeEntries => TIME_ENTRIES,
            CanonicalTable::Members => MEMBERS,
        }
    }

    /// Metadata columns then business columns: the shape of canonical Parquet.
    pub fn all_columns(self) -> impl Iterator<Item = &'static Column> {
        META_COLUMNS.iter().chain(self.columns())
    }

    /// The text columns a search looks in, besides the source id: what a user reads in the
    /// table's lists and pages (a ticket's number and summary, a contact's names), not the
    /// ids a record refers to others by (which a search reaches through the names of the
    /// records they refer to) nor the codes the filters choose (board, status, billable
    /// option). Each column searched is a pass over every row's text: a search of a
    /// million tickets in these two columns costs a seventh of one in all fourteen.
    pub fn searched_columns(self) -> &'static [&'static str] {
        match self {
            CanonicalTable::Companies => &[
                "name",
                "identifier",
                "phone",
                "website",
                "address_line1",
                "address_line2",
                "city",
                "state",
                "zip",
                "country",
                "territory",
            ],
            CanonicalTable::Contacts => &["first_name", "last_name", "title", "email", "phone"],
            CanonicalTable::Tickets => &["summary", "number"],
            CanonicalTable::TimeEntries => &["notes", "work_type", "work_role"],
            CanonicalTable::Members => {
                &["identifier", "name", "first_name", "last_name", "email", "title", "department"]
            }
        }
    }

    pub fn column(self, name: &str) -> Option<&'static Column> {
        self.all_columns().find(|c| c.name == name)
    }

    /// The Arrow schema of canonical Parquet for this table.
    #[cfg(feature = "arrow")]
    pub fn arrow_schema(self) -> SchemaRef {
        let fields: Vec<Field> = self
            .all_columns()
            .map(|c| {
                let nullable = !matches!(
                    c.name,
                    "tenant_id" | "source_service" | "source_id" | "is_deleted" | "record_hash"
                );
                Field::new(c.name, c.ty.arrow(), nullable)
            })
            .collect();
        Arc::new(Schema::new(fields))
    }
}

impl fmt::Display for CanonicalTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CanonicalTable {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CanonicalTable::ALL.into_iter().find(|t| t.name() == s).ok_or_else(|| {
            IdError(format!(
                "unknown canonical table {s:?}: use companies, contacts, tickets, time_entries or members"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A search looks in text columns of the table's own, never in the ids it refers to
    /// others by, and finds a ticket by its number and summary.
    #[test]
    fn searched_columns_are_the_tables_readable_text() {
        for t in CanonicalTable::ALL {
            assert!(!t.searched_columns().is_empty(), "{t}");
            for name in t.searched_columns() {
                let c = t.columns().iter().find(|c| c.name == *name);
                assert_eq!(c.map(|c| c.ty), Some(ColumnType::Text), "{t}.{name}");
                assert!(!name.ends_with("_id"), "{t}.{name} is a reference");
            }
        }
        assert_eq!(CanonicalTable::Tickets.searched_columns(), ["summary", "number"]);
    }

    #[cfg(feature = "arrow")]
    #[test]
    fn schemas_start_with_meta_columns_and_names_are_unique() {
        for t in CanonicalTable::ALL {
            let schema = t.arrow_schema();
            assert_eq!(schema.field(0).name(), "tenant_id");
            assert_eq!(schema.fields().len(), META_COLUMNS.len() + t.columns().len());
            let mut names: Vec<_> = schema.fields().iter().map(|f| f.name().clone()).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), schema.fields().len(), "{t}: duplicate column");
            assert_eq!(t.name().parse::<CanonicalTable>().unwrap(), t);
        }
    }
}
