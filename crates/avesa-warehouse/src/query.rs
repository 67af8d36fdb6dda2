//! Query shapes shared by every warehouse implementation and the API.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::WarehouseError;

/// A record as the API returns it: column name → JSON value, plus `id`.
pub type Record = serde_json::Map<String, serde_json::Value>;

/// The public id of an entity: `{service}:{source_id}`, unique within a tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityId {
    pub service: String,
    pub source_id: String,
}

impl FromStr for EntityId {
    type Err = WarehouseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some((service, source_id))
                if !service.is_empty()
                    && !source_id.is_empty()
                    && service.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()) =>
            {
                Ok(EntityId { service: service.to_owned(), source_id: source_id.to_owned() })
            }
            _ => Err(WarehouseError::BadRequest(format!(
                "invalid id {s:?}: expected \"<service>:<source id>\", e.g. \"connectwise:250\""
            ))),
        }
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.service, self.source_id)
    }
}

/// A list request. `sort` must name a column of the table (checked by the implementation).
#[derive(Clone, Debug, PartialEq)]
pub struct ListQuery {
    /// 1-based.
    pub page: u32,
    pub page_size: u32,
    /// Case-insensitive substring search over the table's text columns.
    pub search: Option<String>,
    pub sort: Option<String>,
    pub descending: bool,
    /// Read the table as it was at this instant (UTC) instead of now.
    pub as_of: Option<chrono::NaiveDateTime>,
    /// Conditions every listed row meets (the analytics' filters; see [`crate::aggregate`]).
    pub filter: Vec<crate::aggregate::Cond>,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            page: 1,
            page_size: 50,
            search: None,
            sort: None,
            descending: false,
            as_of: None,
            filter: Vec::new(),
        }
    }
}

/// What a list is ordered by, checked against the table: every backend orders by it the
/// same way (nulls last in both directions, ties by source id as text, then service).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortBy {
    /// The source id, numerically where it is a number (ids that are not come last).
    Id,
    /// The name of the company the row refers to.
    CompanyName,
    /// A business column of the table.
    Column(&'static str),
}

impl ListQuery {
    /// Checks the filters name columns of `table` of the right types.
    pub fn check(&self, table: avesa_model::CanonicalTable) -> Result<(), WarehouseError> {
        crate::Aggregate { filter: self.filter.clone(), ..crate::Aggregate::new(table) }.check()
    }

    /// The order this query asks of `table`, or a client error naming the columns.
    pub fn sort_by(&self, table: avesa_model::CanonicalTable) -> Result<SortBy, WarehouseError> {
        match self.sort.as_deref() {
            None | Some("id") | Some("source_id") => Ok(SortBy::Id),
            Some("company_name") if crate::present::joins_company(table) => Ok(SortBy::CompanyName),
            Some(s) => match table.columns().iter().find(|c| c.name == s) {
                Some(c) => Ok(SortBy::Column(c.name)),
                None => {
                    let cols: Vec<&str> = table.columns().iter().map(|c| c.name).collect();
                    Err(WarehouseError::BadRequest(format!(
                        "cannot sort {table} by {s:?}: use one of id, {}",
                        cols.join(", ")
                    )))
                }
            },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Page {
    pub items: Vec<Record>,
    pub page: u32,
    pub page_size: u32,
    pub total: u64,
}

/// The tenant's all-time figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DashboardStats {
    pub companies: u64,
    pub contacts: u64,
    pub tickets: u64,
    pub open_tickets: u64,
    pub closed_tickets: u64,
    pub time_entries: u64,
    #[serde(serialize_with = "sum_of_hours")]
    pub total_hours: f64,
    #[serde(serialize_with = "sum_of_hours")]
    pub billable_hours: f64,
}

/// A sum of hours as the API shows it: to the millionth of an hour. The last bits of a
/// floating-point sum depend on the order the engine added in (DuckDB's parallel
/// aggregation varies from run to run, ClickHouse adds in another order), so unrounded
/// the same data could answer 727.3333333333333 once and 727.3333333333329 the next.
fn sum_of_hours<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((v * 1e6).round() / 1e6)
}

/// How many current tickets have one status.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StatusCount {
    pub status: String,
    pub count: u64,
}

/// A company with its ticket count and hours.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TopCompany {
    pub id: String,
    pub name: String,
    pub tickets: u64,
    pub open_tickets: u64,
    #[serde(serialize_with = "sum_of_hours")]
    pub hours: f64,
}
