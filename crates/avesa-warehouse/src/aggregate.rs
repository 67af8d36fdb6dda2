//! Aggregates: the one query shape every figure the analytics serve is built from.
//!
//! An [`Aggregate`] reads the tenant's rows of one canonical table visible now or at an
//! instant, keeps those every [`Cond`] holds for, groups them by zero or more [`Dim`]s and
//! computes [`Measure`]s per group. Metrics (tickets opened in a period, median hours to
//! resolution, billable hours by member, backlog by age …) are compositions of aggregates
//! defined once, above the warehouse; each backend only compiles this small vocabulary
//! (DuckDB and ClickHouse to SQL, [`crate::MemoryWarehouse`] by evaluating it), and the
//! conformance suite checks every backend against the reference on random data.
//!
//! Semantics every backend keeps:
//! - a condition is two-valued: a null makes a leaf false (`Is(closed, false)` does not
//!   hold for a null `closed`; `Not(Is(closed, true))` does);
//! - `Count` counts rows; `Sum`, `Avg`, `Median`, `Min` and `Max` skip null inputs and are
//!   `None` when no input was non-null (never a silent zero); `Median` is the mean of the
//!   two middle values of an even count;
//! - groups are returned in ascending key order, nulls last, text compared by bytes;
//!   with [`Top`], by the measure instead, ties by key.

use avesa_model::{CanonicalTable, ColumnType};
use chrono::NaiveDateTime;

use crate::WarehouseError;
use crate::present::Cell;

/// A value of a row an aggregate can filter or group on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Col {
    /// `source_service`.
    Service,
    /// The record's public id, `{service}:{source_id}`.
    Id,
    /// A business column of the table.
    Column(&'static str),
    /// A reference column (`company_id`, `owner_id`, …) as the public id of the record
    /// it refers to in the same service, `{service}:{value}`; null when the value is.
    Ref(&'static str),
}

impl Col {
    /// The column's type as an aggregate sees it.
    pub fn ty(self, table: CanonicalTable) -> ColumnType {
        match self {
            Col::Service | Col::Id | Col::Ref(_) => ColumnType::Text,
            Col::Column(c) => table.column(c).map_or(ColumnType::Text, |c| c.ty),
        }
    }
}

/// A number computed from one row.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// An `Int` or `Float` column.
    Number(&'static str),
    /// A `Bool` column as 1.0 / 0.0 (null when null): its average is a share.
    Flag(&'static str),
    /// Hours from the first timestamp column to the second (null when either is).
    HoursBetween(&'static str, &'static str),
    /// Hours from a timestamp column to an instant (microseconds since the epoch).
    HoursUntil(&'static str, i64),
    /// The product of two numeric columns.
    Product(&'static str, &'static str),
}

/// A condition on a row: two-valued, a null makes a leaf false.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    /// The value is one of these (text columns, ids, references).
    In(Col, Vec<String>),
    IsNull(Col),
    /// A `Bool` column is this value.
    Is(&'static str, bool),
    /// A timestamp column in `[from, to)` (microseconds; an open end is unbounded).
    Within {
        column: &'static str,
        from: Option<i64>,
        to: Option<i64>,
    },
    /// A number compared with a constant: `expr <= value`.
    AtMost(Expr, f64),
    /// Case-insensitive substring of the source id or one of the table's searched columns
    /// ([`CanonicalTable::searched_columns`]).
    Search(String),
    Not(Box<Cond>),
    All(Vec<Cond>),
    Any(Vec<Cond>),
}

impl Cond {
    pub fn negate(c: Cond) -> Cond {
        Cond::Not(Box::new(c))
    }
}

/// What rows are grouped by. Every dimension's key is a [`Cell`]: a column's own type,
/// text for ids and references, an integer for buckets.
#[derive(Clone, Debug, PartialEq)]
pub enum Dim {
    /// A value (text, bool, id, reference).
    Value(Col),
    /// A timestamp column cut at `edges` (ascending microseconds): the key is how many
    /// edges are at or before the value (0 before the first edge), null when null.
    Edges { column: &'static str, edges: Vec<i64> },
    /// A timestamp column in equal steps of local time: the key is
    /// `floor((value + offset(value) - origin) / width)`, where `offset(value)` is the
    /// `offset` of the last of `shifts` (ascending `at`, the first applying to all
    /// earlier values) at or before the value. With a zone's UTC offsets as `shifts`,
    /// `origin` a local midnight and `width` a day or a week, the key numbers local days
    /// or weeks across daylight-saving changes.
    Steps { column: &'static str, origin: i64, width: i64, shifts: Vec<Shift> },
}

/// From `at` on (microseconds, UTC), local time is UTC plus `offset` microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shift {
    pub at: i64,
    pub offset: i64,
}

/// An aggregate function.
#[derive(Clone, Debug, PartialEq)]
pub enum Agg {
    Count,
    Sum(Expr),
    Avg(Expr),
    Median(Expr),
    Min(Expr),
    Max(Expr),
}

/// An aggregate over the rows a condition holds for (all rows without one).
#[derive(Clone, Debug, PartialEq)]
pub struct Measure {
    pub agg: Agg,
    pub when: Option<Cond>,
}

impl Measure {
    pub fn new(agg: Agg) -> Self {
        Measure { agg, when: None }
    }
    pub fn when(agg: Agg, cond: Cond) -> Self {
        Measure { agg, when: Some(cond) }
    }
}

/// Keep only the `limit` groups with the greatest (or least) value of one measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Top {
    /// Index into [`Aggregate::measures`].
    pub measure: usize,
    pub descending: bool,
    pub limit: u32,
}

/// One aggregate query. See the module docs.
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    pub table: CanonicalTable,
    /// Read the rows as they were at this instant (UTC) instead of now.
    pub as_of: Option<NaiveDateTime>,
    /// All must hold.
    pub filter: Vec<Cond>,
    pub group: Vec<Dim>,
    pub measures: Vec<Measure>,
    pub top: Option<Top>,
}

impl Aggregate {
    pub fn new(table: CanonicalTable) -> Self {
        Aggregate { table, as_of: None, filter: vec![], group: vec![], measures: vec![], top: None }
    }
}

impl Aggregate {
    /// The business columns the aggregate reads (the searched columns when it searches).
    pub fn columns(&self) -> std::collections::BTreeSet<&'static str> {
        fn col(c: &Col, out: &mut std::collections::BTreeSet<&'static str>) {
            if let Col::Column(n) | Col::Ref(n) = c {
                out.insert(n);
            }
        }
        fn expr(e: &Expr, out: &mut std::collections::BTreeSet<&'static str>) {
            match e {
                Expr::Number(a) | Expr::Flag(a) | Expr::HoursUntil(a, _) => {
                    out.insert(a);
                }
                Expr::HoursBetween(a, b) | Expr::Product(a, b) => {
                    out.insert(a);
                    out.insert(b);
                }
            }
        }
        fn cond(t: CanonicalTable, c: &Cond, out: &mut std::collections::BTreeSet<&'static str>) {
            match c {
                Cond::In(c, _) | Cond::IsNull(c) => col(c, out),
                Cond::Is(n, _) | Cond::Within { column: n, .. } => {
                    out.insert(n);
                }
                Cond::AtMost(e, _) => expr(e, out),
                Cond::Search(_) => out.extend(t.searched_columns()),
                Cond::Not(c) => cond(t, c, out),
                Cond::All(cs) | Cond::Any(cs) => cs.iter().for_each(|c| cond(t, c, out)),
            }
        }
        let mut out = std::collections::BTreeSet::new();
        for c in &self.filter {
            cond(self.table, c, &mut out);
        }
        for d in &self.group {
            match d {
                Dim::Value(c) => col(c, &mut out),
                Dim::Edges { column, .. } | Dim::Steps { column, .. } => {
                    out.insert(column);
                }
            }
        }
        for m in &self.measures {
            match &m.agg {
                Agg::Count => {}
                Agg::Sum(e) | Agg::Avg(e) | Agg::Median(e) | Agg::Min(e) | Agg::Max(e) => {
                    expr(e, &mut out)
                }
            }
            if let Some(c) = &m.when {
                cond(self.table, c, &mut out);
            }
        }
        out
    }
}

/// One group of an aggregate's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct AggRow {
    /// One cell per [`Aggregate::group`] dimension.
    pub key: Vec<Cell>,
    /// One value per measure; `None` where no input was non-null (never for `Count`).
    pub values: Vec<Option<f64>>,
}

/// Public ids (`{service}:{source_id}`) by service, for comparing ids and references with
/// the stored columns instead of building the public id of every row: a value without a
/// service names nothing.
pub fn ids_by_service(values: &[String]) -> std::collections::BTreeMap<&str, Vec<&str>> {
    let mut out: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for v in values {
        if let Some((service, id)) = v.split_once(':') {
            out.entry(service).or_default().push(id);
        }
    }
    out
}

/// The largest number of groups one aggregate may answer.
pub const MAX_GROUPS: usize = 100_000;

/// Checks a column has one of some types.
type Typed<'a> = dyn Fn(&str, &[ColumnType], &str) -> Result<(), WarehouseError> + 'a;

fn bad(msg: String) -> WarehouseError {
    WarehouseError::BadRequest(msg)
}

impl Aggregate {
    /// Checks every column is the table's and of a type its use allows: a client error
    /// naming the column otherwise (backends compile only checked aggregates).
    pub fn check(&self) -> Result<(), WarehouseError> {
        let t = self.table;
        let typed = |name: &str, want: &[ColumnType], what: &str| -> Result<(), WarehouseError> {
            match t.columns().iter().find(|c| c.name == name) {
                Some(c) if want.contains(&c.ty) => Ok(()),
                Some(c) => Err(bad(format!("{t}.{name} is {:?}, not {what}", c.ty))),
                None => Err(bad(format!("{t} has no column {name:?}"))),
            }
        };
        let col = |c: &Col| match c {
            Col::Service | Col::Id => Ok(()),
            Col::Column(n) => {
                typed(n, &[ColumnType::Text, ColumnType::Bool, ColumnType::Int], "a value")
            }
            Col::Ref(n) if n.ends_with("_id") => typed(n, &[ColumnType::Text], "a reference"),
            Col::Ref(n) => Err(bad(format!("{t}.{n} is not a reference"))),
        };
        let number = &[ColumnType::Int, ColumnType::Float];
        let expr = |e: &Expr| match e {
            Expr::Number(n) => typed(n, number, "a number"),
            Expr::Flag(n) => typed(n, &[ColumnType::Bool], "a flag"),
            Expr::HoursBetween(a, b) => {
                typed(a, &[ColumnType::Timestamp], "a time")?;
                typed(b, &[ColumnType::Timestamp], "a time")
            }
            Expr::HoursUntil(a, _) => typed(a, &[ColumnType::Timestamp], "a time"),
            Expr::Product(a, b) => {
                typed(a, number, "a number")?;
                typed(b, number, "a number")
            }
        };
        fn cond(
            c: &Cond,
            col: &dyn Fn(&Col) -> Result<(), WarehouseError>,
            expr: &dyn Fn(&Expr) -> Result<(), WarehouseError>,
            typed: &Typed<'_>,
        ) -> Result<(), WarehouseError> {
            match c {
                Cond::In(Col::Column(n), _) => typed(n, &[ColumnType::Text], "text"),
                Cond::IsNull(Col::Column(n)) => typed(
                    n,
                    &[
                        ColumnType::Text,
                        ColumnType::Bool,
                        ColumnType::Int,
                        ColumnType::Float,
                        ColumnType::Timestamp,
                    ],
                    "a column",
                ),
                Cond::In(c, _) | Cond::IsNull(c) => col(c),
                Cond::Is(n, _) => typed(n, &[ColumnType::Bool], "a flag"),
                Cond::Within { column, .. } => typed(column, &[ColumnType::Timestamp], "a time"),
                Cond::AtMost(e, _) => expr(e),
                Cond::Search(_) => Ok(()),
                Cond::Not(c) => cond(c, col, expr, typed),
                Cond::All(cs) | Cond::Any(cs) => {
                    cs.iter().try_for_each(|c| cond(c, col, expr, typed))
                }
            }
        }
        for c in &self.filter {
            cond(c, &col, &expr, &typed)?;
        }
        for d in &self.group {
            match d {
                Dim::Value(c) => col(c)?,
                Dim::Edges { column, edges } => {
                    typed(column, &[ColumnType::Timestamp], "a time")?;
                    if edges.windows(2).any(|w| w[0] > w[1]) || edges.len() > 400 {
                        return Err(bad("bucket edges must ascend (at most 400)".into()));
                    }
                }
                Dim::Steps { column, width, shifts, .. } => {
                    typed(column, &[ColumnType::Timestamp], "a time")?;
                    if *width <= 0 || shifts.windows(2).any(|w| w[0].at > w[1].at) {
                        return Err(bad("steps need a positive width and ascending shifts".into()));
                    }
                }
            }
        }
        for m in &self.measures {
            match &m.agg {
                Agg::Count => {}
                Agg::Sum(e) | Agg::Avg(e) | Agg::Median(e) | Agg::Min(e) | Agg::Max(e) => expr(e)?,
            }
            if let Some(c) = &m.when {
                cond(c, &col, &expr, &typed)?;
            }
        }
        if let Some(top) = self.top
            && top.measure >= self.measures.len()
        {
            return Err(bad(format!("top by measure {} of {}", top.measure, self.measures.len())));
        }
        Ok(())
    }
}

/// The value of one row of one [`Dim::Steps`]/[`Dim::Edges`] dimension: shared by every
/// backend's tests and the reference.
pub fn step_key(v: i64, origin: i64, width: i64, shifts: &[Shift]) -> i64 {
    let offset = shifts.iter().rev().find(|s| s.at <= v).or(shifts.first()).map_or(0, |s| s.offset);
    (v + offset - origin).div_euclid(width)
}

/// How many `edges` are at or before `v`.
pub fn edge_key(v: i64, edges: &[i64]) -> i64 {
    edges.iter().filter(|e| **e <= v).count() as i64
}

/// The median of values (sorted in place): the mean of the middle two of an even count.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 })
}

/// Completes a backend's groups into the answer: without a dimension, one row even over
/// no rows (counts zero, other measures not available), as SQL answers; then ordered
/// and cut by [`order_groups`].
pub fn finish(rows: &mut Vec<AggRow>, q: &Aggregate) {
    if q.group.is_empty() && rows.is_empty() {
        rows.push(AggRow {
            key: vec![],
            values: q.measures.iter().map(|m| matches!(m.agg, Agg::Count).then_some(0.0)).collect(),
        });
    }
    order_groups(rows, q.top);
}

/// Orders groups as every backend answers them: by key (nulls last, text by bytes), or
/// by the top measure (nulls last) then key; and cuts to the top's limit.
pub fn order_groups(rows: &mut Vec<AggRow>, top: Option<Top>) {
    use std::cmp::Ordering;
    fn cell_cmp(a: &Cell, b: &Cell) -> Ordering {
        match (a, b) {
            (Cell::Null, Cell::Null) => Ordering::Equal,
            (Cell::Null, _) => Ordering::Greater,
            (_, Cell::Null) => Ordering::Less,
            (Cell::Text(a), Cell::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
            (Cell::Int(a), Cell::Int(b)) | (Cell::Timestamp(a), Cell::Timestamp(b)) => a.cmp(b),
            (Cell::Float(a), Cell::Float(b)) => a.total_cmp(b),
            (Cell::Bool(a), Cell::Bool(b)) => a.cmp(b),
            _ => Ordering::Equal,
        }
    }
    let by_key = |a: &AggRow, b: &AggRow| {
        a.key
            .iter()
            .zip(&b.key)
            .map(|(x, y)| cell_cmp(x, y))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    };
    match top {
        None => rows.sort_by(by_key),
        Some(t) => {
            rows.sort_by(|a, b| {
                let (x, y) = (a.values[t.measure], b.values[t.measure]);
                let primary = match (x, y) {
                    (None, None) => Ordering::Equal,
                    (None, _) => Ordering::Greater,
                    (_, None) => Ordering::Less,
                    (Some(x), Some(y)) if t.descending => y.total_cmp(&x),
                    (Some(x), Some(y)) => x.total_cmp(&y),
                };
                primary.then_with(|| by_key(a, b))
            });
            rows.truncate(t.limit as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_number_local_days_across_an_offset_change() {
        let day = 86_400_000_000;
        let hour = 3_600_000_000;
        // UTC+1 until day 10, UTC+2 after; origin local midnight of day 0.
        let shifts =
            [Shift { at: i64::MIN, offset: hour }, Shift { at: 10 * day - hour, offset: 2 * hour }];
        // 23:30 UTC on day 0 is 00:30 local on day 1.
        assert_eq!(step_key(day - hour / 2, 0, day, &shifts), 1);
        assert_eq!(step_key(day - 2 * hour, 0, day, &shifts), 0);
        // 23:30 UTC on day 9, after the change at 23:00: 01:30 local on day 10; half an
        // hour before the change, 23:30 local on day 9.
        assert_eq!(step_key(10 * day - hour / 2, 0, day, &shifts), 10);
        assert_eq!(step_key(10 * day - hour - hour / 2, 0, day, &shifts), 9);
        assert_eq!(step_key(-1, 0, day, &shifts), 0, "the first shift applies before it");
        assert_eq!(step_key(-2 * hour, 0, day, &shifts), -1);
    }

    #[test]
    fn medians_and_edges() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(edge_key(5, &[1, 5, 9]), 2);
        assert_eq!(edge_key(0, &[1, 5, 9]), 0);
        assert_eq!(edge_key(10, &[1, 5, 9]), 3);
    }

    #[test]
    fn checks_name_the_column() {
        let mut a = Aggregate::new(CanonicalTable::Tickets);
        a.measures.push(Measure::new(Agg::Sum(Expr::Number("summary"))));
        let e = a.check().unwrap_err().to_string();
        assert!(e.contains("tickets.summary"), "{e}");
        let mut a = Aggregate::new(CanonicalTable::Tickets);
        a.group.push(Dim::Value(Col::Ref("summary")));
        assert!(a.check().is_err());
        let mut a = Aggregate::new(CanonicalTable::Tickets);
        a.filter.push(Cond::Within { column: "nope", from: None, to: None });
        assert!(a.check().unwrap_err().to_string().contains("nope"));
    }
}
