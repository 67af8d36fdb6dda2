//! The built-in metrics: each defined once as a formula over aggregate terms, and
//! evaluated for a period (with its previous period), filters, an `as_of` instant, a
//! breakdown and a series by the same code, on any warehouse.

use std::collections::BTreeMap;

use avesa_model::CanonicalTable;
use avesa_model::TenantId;
use avesa_warehouse::aggregate::{Agg, AggRow, Aggregate, Col, Cond, Dim, Expr, Measure};
use avesa_warehouse::present::Cell;
use avesa_warehouse::{Warehouse, WarehouseError};
use chrono::{DateTime, Datelike, Duration, Utc, Weekday};
use serde::Serialize;
use utoipa::ToSchema;

use crate::filters::Filters;
use crate::period::{Interval, Period, PeriodError};

/// What a metric counts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Count,
    Hours,
    Percent,
    Money,
    /// Money per hour.
    Rate,
}

/// Which way a metric is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Higher,
    Lower,
}

/// When a term's rows count for a period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Rows whose timestamp column falls in the period.
    In(&'static str),
    /// Tickets open at the period's end (a backlog), read from their opening and closing
    /// dates ([`crate::filters::open_at`]); other records as they stand now (or at
    /// `as_of`).
    AtEnd,
}

/// One aggregate a metric is computed from. `measure` gets the instant the period ends
/// (for ages).
#[derive(Clone, Copy)]
pub struct Term {
    pub when: When,
    pub measure: fn(end_us: i64) -> Measure,
    /// A column some row of the period must have for the value to be available (a
    /// source that records no billable option has no billable hours, not zero).
    pub requires: Option<&'static str>,
}

/// How a metric's value follows from its terms' values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Formula {
    Term(usize),
    /// `a / b × scale`; not available when `b` is zero or either is.
    Ratio(usize, usize, f64),
    /// `a - b`.
    Difference(usize, usize),
    /// `a × scale`.
    Scaled(usize, f64),
    /// Billable hours over capacity (a member setting, 8 h a working day by default) of
    /// the members who logged time in the period, as a percentage.
    Utilisation,
}

/// A built-in metric.
#[derive(Clone, Copy)]
pub struct Metric {
    pub id: &'static str,
    pub label: &'static str,
    pub description: &'static str,
    pub unit: Unit,
    pub better: Better,
    pub table: CanonicalTable,
    pub terms: &'static [Term],
    pub formula: Formula,
    /// Filters (beyond the period's date range) that list the rows behind the metric.
    pub narrow: &'static [(&'static str, &'static str)],
}

impl std::fmt::Debug for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id)
    }
}

fn count(_: i64) -> Measure {
    Measure::new(Agg::Count)
}
fn closed_count(_: i64) -> Measure {
    Measure::when(Agg::Count, Cond::Is("closed", true))
}
fn open_count(_: i64) -> Measure {
    Measure::new(Agg::Count)
}
fn resolution_avg(_: i64) -> Measure {
    Measure::when(Agg::Avg(Expr::HoursBetween("opened_at", "closed_at")), Cond::Is("closed", true))
}
fn resolution_median(_: i64) -> Measure {
    Measure::when(
        Agg::Median(Expr::HoursBetween("opened_at", "closed_at")),
        Cond::Is("closed", true),
    )
}
fn response_avg(_: i64) -> Measure {
    Measure::new(Agg::Avg(Expr::HoursBetween("opened_at", "responded_at")))
}
fn response_median(_: i64) -> Measure {
    Measure::new(Agg::Median(Expr::HoursBetween("opened_at", "responded_at")))
}
fn reopened_count(_: i64) -> Measure {
    Measure::when(
        Agg::Count,
        Cond::All(vec![
            Cond::negate(Cond::IsNull(Col::Column("reopen_count"))),
            Cond::negate(Cond::AtMost(Expr::Number("reopen_count"), 0.0)),
        ]),
    )
}
fn sla_share(_: i64) -> Measure {
    Measure::when(Agg::Avg(Expr::Flag("sla_met")), Cond::Is("closed", true))
}
fn open_age_avg(end: i64) -> Measure {
    Measure::new(Agg::Avg(Expr::HoursUntil("opened_at", end)))
}
fn budget_hours(_: i64) -> Measure {
    Measure::new(Agg::Sum(Expr::Number("budget_hours")))
}
fn ticket_actual_hours(_: i64) -> Measure {
    Measure::new(Agg::Sum(Expr::Number("actual_hours")))
}
fn hours(_: i64) -> Measure {
    Measure::new(Agg::Sum(Expr::Number("actual_hours")))
}
fn billable() -> Cond {
    Cond::In(Col::Column("billable_option"), vec!["Billable".into()])
}
fn billable_hours(_: i64) -> Measure {
    Measure::when(Agg::Sum(Expr::Number("actual_hours")), billable())
}
fn non_billable_hours(_: i64) -> Measure {
    Measure::when(Agg::Sum(Expr::Number("actual_hours")), Cond::negate(billable()))
}
fn billed_amount(_: i64) -> Measure {
    Measure::when(Agg::Sum(Expr::Product("billed_hours", "hourly_rate")), billable())
}

use CanonicalTable::{Companies, Contacts, Tickets, TimeEntries};
use When::{AtEnd, In};

const OPENED: When = In("opened_at");
const CLOSED: When = In("closed_at");
const WORKED: When = In("time_start");

/// Every built-in metric.
pub const METRICS: &[Metric] = &[
    Metric {
        id: "tickets_opened",
        label: "Tickets opened",
        description: "Tickets opened in the period.",
        unit: Unit::Count,
        better: Better::Lower,
        table: Tickets,
        terms: &[Term { when: OPENED, measure: count, requires: None }],
        formula: Formula::Term(0),
        narrow: &[],
    },
    Metric {
        id: "tickets_closed",
        label: "Tickets closed",
        description: "Tickets closed in the period (and closed now, or at as_of).",
        unit: Unit::Count,
        better: Better::Higher,
        table: Tickets,
        terms: &[Term { when: CLOSED, measure: closed_count, requires: None }],
        formula: Formula::Term(0),
        narrow: &[("open", "false")],
    },
    Metric {
        id: "net_ticket_change",
        label: "Net change",
        description: "Tickets opened minus tickets closed in the period: how the backlog grew.",
        unit: Unit::Count,
        better: Better::Lower,
        table: Tickets,
        terms: &[
            Term { when: OPENED, measure: count, requires: None },
            Term { when: CLOSED, measure: closed_count, requires: None },
        ],
        formula: Formula::Difference(0, 1),
        narrow: &[],
    },
    Metric {
        id: "open_backlog",
        label: "Open backlog",
        description: "Tickets open at the end of the period: opened before it, closed after it or not at all.",
        unit: Unit::Count,
        better: Better::Lower,
        table: Tickets,
        terms: &[Term { when: AtEnd, measure: open_count, requires: None }],
        formula: Formula::Term(0),
        narrow: &[],
    },
    Metric {
        id: "open_ticket_age_hours",
        label: "Average open ticket age",
        description: "Mean hours since opening of the tickets open at the end of the period.",
        unit: Unit::Hours,
        better: Better::Lower,
        table: Tickets,
        terms: &[Term { when: AtEnd, measure: open_age_avg, requires: None }],
        formula: Formula::Term(0),
        narrow: &[],
    },
    Metric {
        id: "resolution_hours_avg",
        label: "Mean time to resolution",
        description: "Mean hours from opening to closing of the tickets closed in the period.",
        unit: Unit::Hours,
        better: Better::Lower,
        table: Tickets,
        terms: &[Term { when: CLOSED, measure: resolution_avg, requires: None }],
        formula: Formula::Term(0),
        narrow: &[("open", "false")],
    },
    Metric {
        id: "resolution_hours_median",
        label: "Median time to resolution",
        description: "Median hours from opening to closing of the tickets closed in the period.",
        unit: Unit::Hours,
        better: Better::Lower,
        table: Tickets,
        terms: &[Term { when: CLOSED, measure: resolution_median, requires: None }],
        formula: Formula::Term(0),
        narrow: &[("open", "false")],
    },
    Metric {
        id: "first_response_hours_avg",
        label: "Mean time to first response",
        description: "Mean hours from opening to the first response of the tickets opened in the period that have had one, where the source records responses (ConnectWise dateResponded); not available otherwise.",
        unit: Unit::Hours,
        better: Better::Lower,
        table: Tickets,
        terms: &[Term { when: OPENED, measure: response_avg, requires: Some("responded_at") }],
        formula: Formula::Term(0),
        narrow: &[],
    },
    Metric {
        id: "first_response_hours_median",
        label: "Median time to first response",
        description: "Median hours from opening to the first response of the tickets opened in the period that have had one, where the source records responses; not available otherwise.",
        unit: Unit::Hours,
        better: Better::Lower,
        table: Tickets,
        terms: &[Term { when: OPENED, measure: response_median, requires: Some("responded_at") }],
        formula: Formula::Term(0),
        narrow: &[],
    },
    Metric {
        id: "tickets_reopened",
        label: "Reopened tickets",
        description: "Tickets opened in the period that have been reopened at least once, where the source counts reopenings (ServiceNow reopen_count); not available otherwise.",
        unit: Unit::Count,
        better: Better::Lower,
        table: Tickets,
        terms: &[Term { when: OPENED, measure: reopened_count, requires: Some("reopen_count") }],
        formula: Formula::Term(0),
        narrow: &[],
    },
    Metric {
        id: "sla_met_pct",
        label: "SLA met",
        description: "Share of the tickets closed in the period that met their resolution SLA, where the source records it (ConnectWise isInSla, ServiceNow made_sla); not available otherwise.",
        unit: Unit::Percent,
        better: Better::Higher,
        table: Tickets,
        terms: &[Term { when: CLOSED, measure: sla_share, requires: None }],
        formula: Formula::Scaled(0, 100.0),
        narrow: &[("open", "false")],
    },
    Metric {
        id: "ticket_budget_hours",
        label: "Budgeted hours",
        description: "Budget hours of the tickets opened in the period.",
        unit: Unit::Hours,
        better: Better::Higher,
        table: Tickets,
        terms: &[Term { when: OPENED, measure: budget_hours, requires: None }],
        formula: Formula::Term(0),
        narrow: &[],
    },
    Metric {
        id: "ticket_actual_hours",
        label: "Actual hours on tickets",
        description: "Actual hours recorded on the tickets opened in the period.",
        unit: Unit::Hours,
        better: Better::Lower,
        table: Tickets,
        terms: &[Term { when: OPENED, measure: ticket_actual_hours, requires: None }],
        formula: Formula::Term(0),
        narrow: &[],
    },
    Metric {
        id: "budget_used_pct",
        label: "Budget used",
        description: "Actual over budgeted hours of the tickets opened in the period.",
        unit: Unit::Percent,
        better: Better::Lower,
        table: Tickets,
        terms: &[
            Term { when: OPENED, measure: ticket_actual_hours, requires: None },
            Term { when: OPENED, measure: budget_hours, requires: None },
        ],
        formula: Formula::Ratio(0, 1, 100.0),
        narrow: &[],
    },
    Metric {
        id: "hours_worked",
        label: "Hours worked",
        description: "Hours of the time entries that started in the period.",
        unit: Unit::Hours,
        better: Better::Higher,
        table: TimeEntries,
        terms: &[Term { when: WORKED, measure: hours, requires: None }],
        formula: Formula::Term(0),
        narrow: &[],
    },
    Metric {
        id: "billable_hours",
        label: "Billable hours",
        description: "Hours of billable time entries (billable option Billable).",
        unit: Unit::Hours,
        better: Better::Higher,
        table: TimeEntries,
        terms: &[Term { when: WORKED, measure: billable_hours, requires: Some("billable_option") }],
        formula: Formula::Term(0),
        narrow: &[("billable", "Billable")],
    },
    Metric {
        id: "non_billable_hours",
        label: "Non-billable hours",
        description: "Hours of time entries that are not billable.",
        unit: Unit::Hours,
        better: Better::Lower,
        table: TimeEntries,
        terms: &[Term {
            when: WORKED,
            measure: non_billable_hours,
            requires: Some("billable_option"),
        }],
        formula: Formula::Term(0),
        narrow: &[],
    },
    Metric {
        id: "billable_pct",
        label: "Billable share",
        description: "Billable hours over hours worked.",
        unit: Unit::Percent,
        better: Better::Higher,
        table: TimeEntries,
        terms: &[
            Term { when: WORKED, measure: billable_hours, requires: Some("billable_option") },
            Term { when: WORKED, measure: hours, requires: None },
        ],
        formula: Formula::Ratio(0, 1, 100.0),
        narrow: &[],
    },
    Metric {
        id: "billed_amount",
        label: "Billed amount",
        description: "Billed hours times hourly rate of billable time entries.",
        unit: Unit::Money,
        better: Better::Higher,
        table: TimeEntries,
        terms: &[Term { when: WORKED, measure: billed_amount, requires: Some("billable_option") }],
        formula: Formula::Term(0),
        narrow: &[("billable", "Billable")],
    },
    Metric {
        id: "effective_hourly_rate",
        label: "Effective hourly rate",
        description: "Billed amount over all hours worked.",
        unit: Unit::Rate,
        better: Better::Higher,
        table: TimeEntries,
        terms: &[
            Term { when: WORKED, measure: billed_amount, requires: Some("billable_option") },
            Term { when: WORKED, measure: hours, requires: None },
        ],
        formula: Formula::Ratio(0, 1, 1.0),
        narrow: &[],
    },
    Metric {
        id: "utilisation_pct",
        label: "Utilisation",
        description: "Billable hours over capacity (each member's working hours a day, 8 unless set, Monday to Friday in the tenant's time zone) of each member who logged time in the period.",
        unit: Unit::Percent,
        better: Better::Higher,
        table: TimeEntries,
        terms: &[Term { when: WORKED, measure: billable_hours, requires: Some("billable_option") }],
        formula: Formula::Utilisation,
        narrow: &[],
    },
    Metric {
        id: "time_entries",
        label: "Time entries",
        description: "Time entries that started in the period.",
        unit: Unit::Count,
        better: Better::Higher,
        table: TimeEntries,
        terms: &[Term { when: WORKED, measure: count, requires: None }],
        formula: Formula::Term(0),
        narrow: &[],
    },
    Metric {
        id: "companies",
        label: "Companies",
        description: "Companies on record now (or at as_of).",
        unit: Unit::Count,
        better: Better::Higher,
        table: Companies,
        terms: &[Term { when: AtEnd, measure: count, requires: None }],
        formula: Formula::Term(0),
        narrow: &[],
    },
    Metric {
        id: "contacts",
        label: "Contacts",
        description: "Contacts on record now (or at as_of).",
        unit: Unit::Count,
        better: Better::Higher,
        table: Contacts,
        terms: &[Term { when: AtEnd, measure: count, requires: None }],
        formula: Formula::Term(0),
        narrow: &[],
    },
];

/// The capacity of a member in a working day, unless set.
pub const DEFAULT_CAPACITY_HOURS: f64 = 8.0;

pub fn metric(id: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|m| m.id == id)
}

/// What a breakdown groups by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dimension {
    pub name: &'static str,
    pub table: CanonicalTable,
    pub col: Col,
    /// The filter that narrows a list to one group (drill-down).
    pub filter: &'static str,
}

/// Every breakdown, per table.
pub const DIMENSIONS: &[Dimension] = &[
    Dimension { name: "status", table: Tickets, col: Col::Column("status"), filter: "status" },
    Dimension {
        name: "priority",
        table: Tickets,
        col: Col::Column("priority"),
        filter: "priority",
    },
    Dimension { name: "board", table: Tickets, col: Col::Column("board"), filter: "board" },
    Dimension { name: "type", table: Tickets, col: Col::Column("ticket_type"), filter: "type" },
    Dimension { name: "source", table: Tickets, col: Col::Column("source"), filter: "source" },
    Dimension { name: "service", table: Tickets, col: Col::Service, filter: "service" },
    Dimension { name: "company", table: Tickets, col: Col::Ref("company_id"), filter: "company" },
    Dimension { name: "member", table: Tickets, col: Col::Ref("owner_id"), filter: "member" },
    Dimension { name: "contact", table: Tickets, col: Col::Ref("contact_id"), filter: "contact" },
    Dimension {
        name: "company",
        table: TimeEntries,
        col: Col::Ref("company_id"),
        filter: "company",
    },
    Dimension { name: "member", table: TimeEntries, col: Col::Ref("member_id"), filter: "member" },
    Dimension {
        name: "work_type",
        table: TimeEntries,
        col: Col::Column("work_type"),
        filter: "work_type",
    },
    Dimension {
        name: "billable",
        table: TimeEntries,
        col: Col::Column("billable_option"),
        filter: "billable",
    },
    Dimension { name: "service", table: TimeEntries, col: Col::Service, filter: "service" },
    Dimension { name: "ticket", table: TimeEntries, col: Col::Ref("ticket_id"), filter: "ticket" },
    Dimension { name: "service", table: Companies, col: Col::Service, filter: "service" },
    Dimension { name: "status", table: Companies, col: Col::Column("status"), filter: "status" },
    Dimension { name: "company", table: Contacts, col: Col::Ref("company_id"), filter: "company" },
];

/// The ageing buckets of open tickets: (label, age in days from, to).
pub const AGE_BUCKETS: &[(&str, i64)] = &[
    ("30+ days", 31),
    ("15–30 days", 15),
    ("8–14 days", 8),
    ("4–7 days", 4),
    ("2–3 days", 2),
    ("0–1 days", 0),
];

/// An analytics request could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum MetricError {
    /// The client asked for something that does not exist or does not apply.
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
}

impl From<PeriodError> for MetricError {
    fn from(e: PeriodError) -> Self {
        MetricError::BadRequest(e.0)
    }
}

/// A request's breakdown: by a dimension of the metric's table, or (backlog metrics) by
/// age.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    Dimension(Dimension),
    Age,
}

impl GroupBy {
    pub fn parse(metric: &Metric, name: &str) -> Result<GroupBy, MetricError> {
        if metric.formula == Formula::Utilisation && name != "member" {
            return Err(MetricError::BadRequest(format!(
                "group_by: utilisation is per member; group it by member, not {name:?}"
            )));
        }
        if name == "age" {
            return if metric.table == Tickets && metric.terms.iter().all(|t| t.when == AtEnd) {
                Ok(GroupBy::Age)
            } else {
                Err(MetricError::BadRequest(format!(
                    "group_by: only backlog metrics (open_backlog, open_ticket_age_hours) group by age, not {}",
                    metric.id
                )))
            };
        }
        DIMENSIONS
            .iter()
            .find(|d| d.table == metric.table && d.name == name)
            .map(|d| GroupBy::Dimension(*d))
            .ok_or_else(|| {
                let names: Vec<&str> =
                    DIMENSIONS.iter().filter(|d| d.table == metric.table).map(|d| d.name).collect();
                MetricError::BadRequest(format!(
                    "group_by: {} cannot be grouped by {name:?}; use one of {}",
                    metric.id,
                    names.join(", ")
                ))
            })
    }
}

/// Everything a metric evaluation depends on besides the metric.
#[derive(Clone, Debug)]
pub struct Query {
    pub period: Period,
    pub filters: Filters,
    /// Read the data as it stood at this instant.
    pub as_of: Option<DateTime<Utc>>,
    /// The clock (now, unless a test says otherwise).
    pub now: DateTime<Utc>,
    /// Members' working hours, for utilisation.
    pub capacity: crate::settings::Capacity,
}

/// A group key made orderable.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum KeyCell {
    Null,
    Int(i64),
    Text(String),
    Bool(bool),
}

impl KeyCell {
    fn of(c: &Cell) -> KeyCell {
        match c {
            Cell::Null => KeyCell::Null,
            Cell::Int(i) | Cell::Timestamp(i) => KeyCell::Int(*i),
            Cell::Text(s) => KeyCell::Text(s.clone()),
            Cell::Bool(b) => KeyCell::Bool(*b),
            Cell::Float(f) => KeyCell::Int(f.to_bits() as i64),
        }
    }
}

/// The evaluation of one metric over one period: its value overall, or per group.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evaluation {
    /// Per group key (the empty key without a breakdown): the metric's value, `None` when
    /// not available (no data the formula can use).
    pub values: BTreeMap<Vec<KeyCell>, Option<f64>>,
    /// Filters that do not apply to the metric's table.
    pub ignored_filters: Vec<String>,
}

fn as_of_naive(t: DateTime<Utc>) -> chrono::NaiveDateTime {
    t.naive_utc()
}

/// Mon–Fri local days in the period (partial days count by their share).
pub fn working_days(p: &Period) -> f64 {
    let mut total = 0.0;
    let tz = p.tz;
    let mut day = p.from.with_timezone(&tz).date_naive();
    let last = (p.to - Duration::microseconds(1)).with_timezone(&tz).date_naive();
    while day <= last {
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            let start = crate::period::local_to_utc(tz, day.and_time(chrono::NaiveTime::MIN));
            let end = crate::period::local_to_utc(
                tz,
                (day + Duration::days(1)).and_time(chrono::NaiveTime::MIN),
            );
            let (a, b) = (start.max(p.from), end.min(p.to));
            if b > a {
                total += (b - a).num_seconds() as f64 / (end - start).num_seconds() as f64;
            }
        }
        day += Duration::days(1);
    }
    total
}

impl Metric {
    /// The filter name of the date range the period applies to (`opened`, `closed`,
    /// `date`), if the metric counts rows by a date.
    pub fn range_filter(&self) -> Option<&'static str> {
        self.terms.iter().find_map(|t| match t.when {
            In("opened_at") => Some("opened"),
            In("closed_at") => Some("closed"),
            In("time_start") => Some("date"),
            _ => None,
        })
    }

    /// Evaluates the metric over `period` (the query's own or its previous), grouped by
    /// `group` (none: one value), on the tenant's data.
    pub async fn evaluate(
        &self,
        wh: &dyn Warehouse,
        tenant: &TenantId,
        q: &Query,
        period: &Period,
        group: Option<GroupBy>,
    ) -> Result<Evaluation, MetricError> {
        let mut batch = Batch::default();
        let planned = self.plan(q, period, group, &mut batch)?;
        let mut answers = batch.run(wh, tenant).await?;
        Ok(planned.finish(q, &mut answers))
    }

    /// Adds the aggregates of the metric over `period`, grouped by `group`, to `batch`:
    /// [`Planned::finish`] computes the evaluation from the batch's answers.
    pub fn plan(
        &self,
        q: &Query,
        period: &Period,
        group: Option<GroupBy>,
        batch: &mut Batch,
    ) -> Result<Planned, MetricError> {
        let (conds, ignored) = q.filters.conds(self.table, period.tz)?;
        let now = q.as_of.unwrap_or(q.now);
        // The instant a backlog is counted at: the period's end, or now if that is earlier.
        let end = period.to.min(now);
        let end_us = end.timestamp_micros();
        let utilisation = self.formula == Formula::Utilisation && group.is_none();
        if let (None, Some(mean_age)) = (group, backlog_kind(self)) {
            let r = batch.backlog(&conds, q.as_of, end_us);
            return Ok(Planned {
                metric: *self,
                slot: batch.add(vec![]),
                backlog: Some((r, mean_age)),
                ignored,
                utilisation: false,
                grouped: false,
                days: working_days(period),
            });
        }
        let mut aggs = Vec::with_capacity(self.terms.len());
        for term in self.terms {
            let mut agg = Aggregate::new(self.table);
            agg.filter = conds.clone();
            agg.as_of = q.as_of.map(as_of_naive);
            match term.when {
                In(column) => {
                    agg.filter.push(Cond::Within {
                        column,
                        from: Some(period.from_us()),
                        to: Some(period.to_us()),
                    });
                }
                AtEnd => {
                    if self.table == Tickets {
                        agg.filter.push(crate::filters::open_at(end_us));
                    }
                }
            }
            agg.group = match group {
                None => vec![],
                Some(GroupBy::Dimension(d)) => vec![Dim::Value(d.col)],
                Some(GroupBy::Age) => vec![Dim::Edges {
                    column: "opened_at",
                    edges: AGE_BUCKETS[..AGE_BUCKETS.len() - 1]
                        .iter()
                        .map(|(_, days)| end_us - days * 86_400_000_000)
                        .collect(),
                }],
            };
            if utilisation {
                // Capacity is per member: group by member, add up afterwards.
                agg.group = vec![Dim::Value(Col::Ref("member_id"))];
            }
            aggs.push(term_aggregate(agg, term, end_us));
        }
        Ok(Planned {
            metric: *self,
            slot: batch.add(aggs),
            backlog: None,
            ignored,
            utilisation,
            grouped: group.is_some(),
            days: working_days(period),
        })
    }

    /// The value of a group no row of the metric's falls in: zero for counts and sums,
    /// not available for the rest.
    pub fn empty_value(&self) -> Option<f64> {
        self.combine(0.0, |i| settle(&self.terms[i], None, 0.0))
    }

    /// The metric's value from its terms' values.
    fn combine(&self, capacity: f64, t: impl Fn(usize) -> Option<f64>) -> Option<f64> {
        match self.formula {
            Formula::Term(i) => t(i),
            Formula::Scaled(i, s) => t(i).map(|v| v * s),
            Formula::Difference(a, b) => Some(t(a)? - t(b)?),
            Formula::Ratio(a, b, s) => match (t(a), t(b)) {
                (Some(x), Some(y)) if y != 0.0 => Some(x / y * s),
                _ => None,
            },
            // One member's capacity: right for a member's own figure.
            Formula::Utilisation => {
                t(0).and_then(|b| (capacity > 0.0).then(|| b / capacity * 100.0))
            }
        }
    }
}

impl Term {
    fn measure(&self, end_us: i64) -> Measure {
        (self.measure)(end_us)
    }
}

/// A term's value from its aggregate and the number of rows it read: a count is a
/// number; a sum over no rows is zero, over rows that all lack the value not available;
/// a mean, median, minimum or maximum of nothing is not available.
fn settle(term: &Term, v: Option<f64>, rows: f64) -> Option<f64> {
    match term.measure(0).agg {
        // Nothing in the group or bucket records the required column.
        _ if term.requires.is_some() && rows == 0.0 => None,
        Agg::Count => Some(v.unwrap_or(0.0)),
        Agg::Sum(_) if rows == 0.0 => Some(0.0),
        _ => v,
    }
}

/// A term's aggregate with its measure, a row count under the same condition and, where
/// the term requires a column, a count of the rows that have it.
fn term_aggregate(mut agg: Aggregate, term: &Term, end_us: i64) -> Aggregate {
    let measure = term.measure(end_us);
    let rows_counted = Measure { agg: Agg::Count, when: measure.when.clone() };
    agg.measures = vec![measure, rows_counted];
    if let Some(col) = term.requires {
        agg.measures.push(Measure::when(Agg::Count, Cond::negate(Cond::IsNull(Col::Column(col)))));
    }
    agg
}

/// Each group's value of a term from its aggregate's answer ([`term_aggregate`]).
fn term_values(rows: Vec<AggRow>, term: &Term) -> BTreeMap<Vec<KeyCell>, Option<f64>> {
    let kind = term.measure(0).agg;
    rows.into_iter()
        .map(|r: AggRow| {
            let n = r.values[1].unwrap_or(0.0);
            let recorded = r.values.get(2).is_none_or(|c| c.unwrap_or(0.0) > 0.0);
            let v = match kind {
                _ if !recorded => None,
                Agg::Count => Some(r.values[0].unwrap_or(0.0)),
                Agg::Sum(_) if n == 0.0 => Some(0.0),
                _ => r.values[0],
            };
            (r.key.iter().map(KeyCell::of).collect(), v)
        })
        .collect()
}

/// Aggregates gathered from several planned evaluations (metrics, periods, series,
/// breakdowns of one request) and answered together by
/// [`avesa_warehouse::aggregate_all`], which fuses those of one table into shared scans
/// and runs them at once.
#[derive(Debug, Default)]
pub struct Batch {
    aggs: Vec<Aggregate>,
    /// Backlogs at instants, one scan per set of filters ([`BacklogScan`]).
    backlogs: Vec<BacklogScan>,
}

/// Where a planned evaluation's aggregates are in its batch.
#[derive(Clone, Debug)]
pub struct Slot(std::ops::Range<usize>);

/// A batch's answers, taken slot by slot.
#[derive(Debug)]
pub struct Answers {
    aggs: Vec<Vec<AggRow>>,
    backlogs: Vec<(BacklogScan, Vec<AggRow>)>,
}

impl Batch {
    pub fn add(&mut self, aggs: Vec<Aggregate>) -> Slot {
        let start = self.aggs.len();
        self.aggs.extend(aggs);
        Slot(start..self.aggs.len())
    }

    /// The tickets open at `end` under `conds`, as of `as_of`: read with every other
    /// backlog of the batch under the same conditions, in one scan.
    fn backlog(&mut self, conds: &[Cond], as_of: Option<DateTime<Utc>>, end: i64) -> BacklogRef {
        let fits = |s: &BacklogScan| {
            s.as_of == as_of
                && s.conds == conds
                && (s.ends.contains(&end) || s.ends.len() < MAX_BACKLOG_ENDS)
        };
        let scan = match self.backlogs.iter().position(fits) {
            Some(i) => i,
            None => {
                self.backlogs.push(BacklogScan { conds: conds.to_vec(), as_of, ends: vec![] });
                self.backlogs.len() - 1
            }
        };
        let ends = &mut self.backlogs[scan].ends;
        if let Err(at) = ends.binary_search(&end) {
            ends.insert(at, end);
        }
        BacklogRef { scan, end }
    }

    /// How many aggregates the batch holds.
    pub fn len(&self) -> usize {
        self.aggs.len() + self.backlogs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub async fn run(self, wh: &dyn Warehouse, tenant: &TenantId) -> Result<Answers, MetricError> {
        let Batch { mut aggs, backlogs } = self;
        let own = aggs.len();
        aggs.extend(backlogs.iter().map(BacklogScan::aggregate));
        let mut answers = avesa_warehouse::aggregate_all(wh, tenant, &aggs).await?;
        let scanned = answers.split_off(own);
        Ok(Answers { aggs: answers, backlogs: backlogs.into_iter().zip(scanned).collect() })
    }
}

impl Answers {
    fn take(&mut self, slot: &Slot) -> Vec<Vec<AggRow>> {
        slot.0.clone().map(|i| std::mem::take(&mut self.aggs[i])).collect()
    }

    fn backlog(&self, r: &BacklogRef) -> Open {
        let (scan, rows) = &self.backlogs[r.scan];
        scan.open_at(rows, r.end)
    }
}

/// A metric's evaluation, its aggregates added to a [`Batch`].
#[derive(Debug)]
pub struct Planned {
    metric: Metric,
    slot: Slot,
    /// A backlog metric's one value: from its batch's backlog pool, not from `slot`.
    backlog: Option<(BacklogRef, bool)>,
    ignored: Vec<String>,
    utilisation: bool,
    grouped: bool,
    /// Working days of the period, for capacities.
    days: f64,
}

impl Planned {
    /// The evaluation, from the answers of the batch it was planned into.
    pub fn finish(self, q: &Query, answers: &mut Answers) -> Evaluation {
        if let Some((r, mean_age)) = &self.backlog {
            let v = answers.backlog(r).value(*mean_age);
            let values = BTreeMap::from([(vec![], v)]);
            return Evaluation { values, ignored_filters: self.ignored };
        }
        let metric = &self.metric;
        let per_term: Vec<BTreeMap<Vec<KeyCell>, Option<f64>>> = answers
            .take(&self.slot)
            .into_iter()
            .zip(metric.terms)
            .map(|(rows, term)| term_values(rows, term))
            .collect();
        let ignored = self.ignored;
        let mut values = BTreeMap::new();
        let days = self.days;
        // A member's capacity over the period (the group key is the member's id).
        let capacity_of = |key: &[KeyCell]| -> f64 {
            let member = match key.first() {
                Some(KeyCell::Text(m)) => Some(m.as_str()),
                _ => None,
            };
            days * q.capacity.hours_per_day(member)
        };
        if self.utilisation {
            // Every member who logged time in the period adds their capacity.
            let capacity: f64 = per_term[0]
                .keys()
                .filter(|k| k.first() != Some(&KeyCell::Null))
                .map(|k| capacity_of(k))
                .sum();
            let recorded = per_term[0].values().any(Option::is_some);
            let billable: f64 = per_term[0].values().flatten().sum();
            let v = (recorded && capacity > 0.0).then(|| billable / capacity * 100.0);
            values.insert(vec![], v);
            return Evaluation { values, ignored_filters: ignored };
        }
        let mut keys: Vec<Vec<KeyCell>> = per_term.iter().flat_map(|t| t.keys().cloned()).collect();
        keys.sort();
        keys.dedup();
        if !self.grouped && keys.is_empty() {
            keys.push(vec![]);
        }
        for key in keys {
            let capacity = capacity_of(&key);
            let v = metric.combine(capacity, |i| {
                per_term[i]
                    .get(&key)
                    .copied()
                    .unwrap_or_else(|| settle(&metric.terms[i], None, 0.0))
            });
            values.insert(key, v);
        }
        Evaluation { values, ignored_filters: ignored }
    }
}

/// The series of a metric over its period's buckets: each term grouped by bucket of its
/// date column. Metrics read at an instant (backlogs) and utilisation are evaluated at
/// each bucket instead (at most [`MAX_INSTANT_BUCKETS`] buckets).
pub async fn series(
    metric: &Metric,
    wh: &dyn Warehouse,
    tenant: &TenantId,
    q: &Query,
    period: &Period,
    interval: Interval,
) -> Result<Vec<(crate::period::Bucket, Option<f64>)>, MetricError> {
    let mut batch = Batch::default();
    let planned = plan_series(metric, q, period, interval, &mut batch)?;
    let mut answers = batch.run(wh, tenant).await?;
    Ok(planned.finish(q, &mut answers))
}

/// A series, its aggregates added to a [`Batch`].
#[derive(Debug)]
pub enum PlannedSeries {
    /// Each term grouped by bucket of its date column.
    Bucketed { metric: Metric, buckets: Vec<crate::period::Bucket>, slot: Slot },
    /// The metric evaluated at each bucket.
    PerBucket(Vec<(crate::period::Bucket, Planned)>),
    /// A backlog (tickets open at each bucket's end) from one scan: see [`plan_backlog`].
    Backlog(Backlog),
}

/// A backlog metric read at bucket ends: each end a [`BacklogRef`] into its batch's pool.
#[derive(Debug)]
pub struct Backlog {
    buckets: Vec<(crate::period::Bucket, BacklogRef)>,
    mean_age: bool,
}

/// Whether `metric` counts the tickets open at the end (`Some(false)`) or averages their
/// age (`Some(true)`), which a batch's backlog pool answers; `None` for any other metric.
fn backlog_kind(metric: &Metric) -> Option<bool> {
    let [term] = metric.terms else { return None };
    if metric.table != Tickets
        || term.when != AtEnd
        || term.requires.is_some()
        || metric.formula != Formula::Term(0)
    {
        return None;
    }
    let measure = term.measure(0);
    match (&measure.agg, &measure.when) {
        (Agg::Count, None) => Some(false),
        (Agg::Avg(Expr::HoursUntil("opened_at", _)), None) => Some(true),
        _ => None,
    }
}

/// [`Backlog`] for a backlog metric's series; `None` for any other metric.
fn plan_backlog(
    metric: &Metric,
    q: &Query,
    period: &Period,
    buckets: &[crate::period::Bucket],
    batch: &mut Batch,
) -> Result<Option<Backlog>, MetricError> {
    let Some(mean_age) = backlog_kind(metric) else { return Ok(None) };
    if buckets.len() > MAX_BACKLOG_BUCKETS {
        return Err(MetricError::BadRequest(format!(
            "interval: {} buckets in the period; a backlog series has at most {MAX_BACKLOG_BUCKETS} (a longer interval)",
            buckets.len()
        )));
    }
    let (conds, _) = q.filters.conds(metric.table, period.tz)?;
    let now = q.as_of.unwrap_or(q.now);
    let buckets = buckets
        .iter()
        .map(|b| {
            let end = b.to.min(now).timestamp_micros();
            (b.clone(), batch.backlog(&conds, q.as_of, end))
        })
        .collect();
    Ok(Some(Backlog { buckets, mean_age }))
}

impl Backlog {
    fn finish(self, answers: &Answers) -> Vec<(crate::period::Bucket, Option<f64>)> {
        let mean_age = self.mean_age;
        self.buckets.into_iter().map(|(b, r)| (b, answers.backlog(&r).value(mean_age))).collect()
    }
}

/// The tickets open at one instant, from a backlog scan.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Open {
    tickets: f64,
    /// Those with an opening date, and their summed age in hours.
    dated: f64,
    age_hours: f64,
}

impl Open {
    /// The count, or the mean age (not available without a dated ticket).
    fn value(self, mean_age: bool) -> Option<f64> {
        if mean_age {
            (self.dated > 0.0).then(|| self.age_hours / self.dated)
        } else {
            Some(self.tickets)
        }
    }
}

/// Where a backlog at one instant is in its batch's pool.
#[derive(Clone, Debug)]
pub struct BacklogRef {
    scan: usize,
    end: i64,
}

/// Backlogs at many instants over the same tickets (filters and `as_of`), answered by one
/// aggregate: the tickets open at some instant, grouped by how many of the instants fall at
/// or before their opening, how many at or before their closing, and their closed flag. A
/// group is open at an instant exactly when [`crate::filters::open_at`] holds for its
/// tickets there, so each instant's count (and summed age) adds up the groups open at it:
/// the figures one aggregate per instant gives, from one scan.
#[derive(Debug)]
struct BacklogScan {
    conds: Vec<Cond>,
    as_of: Option<DateTime<Utc>>,
    /// Distinct instants, ascending.
    ends: Vec<i64>,
}

/// The most instants one backlog scan reads: up to 3 × (instants + 1)² groups.
const MAX_BACKLOG_ENDS: usize = 150;

impl BacklogScan {
    fn aggregate(&self) -> Aggregate {
        let (first, last) = (self.ends[0], self.ends[self.ends.len() - 1]);
        let mut agg = Aggregate::new(Tickets);
        agg.as_of = self.as_of.map(as_of_naive);
        agg.filter = self.conds.clone();
        agg.filter.push(crate::filters::open_at_some(first, last));
        agg.group = vec![
            Dim::Edges { column: "opened_at", edges: self.ends.clone() },
            Dim::Edges { column: "closed_at", edges: self.ends.clone() },
            Dim::Value(Col::Column("closed")),
        ];
        // Ages summed from the last instant (small numbers, no cancellation), shifted to
        // each instant afterwards.
        agg.measures = vec![
            Measure::new(Agg::Count),
            Measure::new(Agg::Sum(Expr::HoursUntil("opened_at", last))),
        ];
        agg
    }

    /// The tickets open at `end` (one of the scan's instants), from its aggregate's rows.
    fn open_at(&self, rows: &[AggRow], end: i64) -> Open {
        let j = self.ends.partition_point(|x| *x < end) as i64;
        let last = self.ends[self.ends.len() - 1];
        let int = |c: &Cell| match c {
            Cell::Int(i) => Some(*i),
            _ => None,
        };
        let mut open = Open::default();
        for r in rows {
            let (opened, closed_at) = (int(&r.key[0]), int(&r.key[1]));
            let closed = r.key[2] == Cell::Bool(true);
            // Opened before the instant (no instant at or before the opening is the j-th);
            // not closed, or closed at or after it.
            if opened.is_some_and(|a| a > j) || (closed && closed_at.is_none_or(|c| c <= j)) {
                continue;
            }
            let count = r.values[0].unwrap_or(0.0);
            open.tickets += count;
            if opened.is_some() {
                open.dated += count;
                open.age_hours += r.values[1].unwrap_or(0.0);
            }
        }
        open.age_hours -= open.dated * (last - end) as f64 / 3_600_000_000.0;
        open
    }
}

/// Adds the aggregates of a metric's series (see [`series`]) to `batch`.
pub fn plan_series(
    metric: &Metric,
    q: &Query,
    period: &Period,
    interval: Interval,
    batch: &mut Batch,
) -> Result<PlannedSeries, MetricError> {
    let (_, buckets) = period.buckets("opened_at", interval);
    if buckets.len() > MAX_BUCKETS {
        return Err(MetricError::BadRequest(format!(
            "interval: {} buckets in the period; at most {MAX_BUCKETS}",
            buckets.len()
        )));
    }
    let bucketed: Vec<&'static str> = metric
        .terms
        .iter()
        .filter_map(|t| match t.when {
            In(c) => Some(c),
            AtEnd => None,
        })
        .collect();
    if bucketed.len() < metric.terms.len() || metric.formula == Formula::Utilisation {
        if let Some(backlog) = plan_backlog(metric, q, period, &buckets, batch)? {
            return Ok(PlannedSeries::Backlog(backlog));
        }
        if buckets.len() > MAX_INSTANT_BUCKETS {
            return Err(MetricError::BadRequest(format!(
                "interval: {} is computed bucket by bucket; ask for at most {MAX_INSTANT_BUCKETS} buckets (a longer interval)",
                metric.id
            )));
        }
        let mut out = Vec::with_capacity(buckets.len());
        for b in buckets {
            let p = period.part(b.from, b.to);
            let planned = metric.plan(q, &p, None, batch)?;
            out.push((b, planned));
        }
        return Ok(PlannedSeries::PerBucket(out));
    }
    let (conds, _) = q.filters.conds(metric.table, period.tz)?;
    let mut aggs = Vec::with_capacity(metric.terms.len());
    for (term, column) in metric.terms.iter().zip(bucketed) {
        let (dim, _) = period.buckets(column, interval);
        let mut agg = Aggregate::new(metric.table);
        agg.as_of = q.as_of.map(as_of_naive);
        agg.filter = conds.clone();
        agg.filter.push(Cond::Within {
            column,
            from: Some(period.from_us()),
            to: Some(period.to_us()),
        });
        agg.group = vec![dim];
        aggs.push(term_aggregate(agg, term, period.to_us()));
    }
    Ok(PlannedSeries::Bucketed { metric: *metric, buckets, slot: batch.add(aggs) })
}

impl PlannedSeries {
    /// The series, from the answers of the batch it was planned into.
    pub fn finish(
        self,
        q: &Query,
        answers: &mut Answers,
    ) -> Vec<(crate::period::Bucket, Option<f64>)> {
        match self {
            PlannedSeries::Backlog(backlog) => backlog.finish(answers),
            PlannedSeries::PerBucket(parts) => parts
                .into_iter()
                .map(|(b, p)| {
                    let e = p.finish(q, answers);
                    (b, e.values.get(&vec![]).copied().flatten())
                })
                .collect(),
            PlannedSeries::Bucketed { metric, buckets, slot } => {
                let per_term: Vec<BTreeMap<Vec<KeyCell>, Option<f64>>> = answers
                    .take(&slot)
                    .into_iter()
                    .zip(metric.terms)
                    .map(|(rows, term)| term_values(rows, term))
                    .collect();
                buckets
                    .into_iter()
                    .map(|b| {
                        let key = vec![KeyCell::Int(b.key)];
                        let v = metric.combine(0.0, |i| {
                            per_term[i]
                                .get(&key)
                                .copied()
                                .unwrap_or_else(|| settle(&metric.terms[i], None, 0.0))
                        });
                        (b, v)
                    })
                    .collect()
            }
        }
    }
}

/// The most buckets one series may have.
pub const MAX_BUCKETS: usize = 400;
/// The most buckets of a metric read at each bucket's end (one query per bucket).
pub const MAX_INSTANT_BUCKETS: usize = 60;
/// The most buckets of a backlog series (one query, up to 3 × (buckets + 1)² groups).
pub const MAX_BACKLOG_BUCKETS: usize = 150;

/// The names (and, for contacts, full names) of the records `ids` refer to, by id.
pub async fn names(
    wh: &dyn Warehouse,
    tenant: &TenantId,
    table: CanonicalTable,
    ids: Vec<String>,
    as_of: Option<DateTime<Utc>>,
) -> Result<BTreeMap<String, String>, MetricError> {
    let mut found = names_many(wh, tenant, vec![(table, ids)], as_of).await?;
    Ok(found.pop().unwrap_or_default())
}

/// [`names`] of several sets of records (each a table and ids), in order: one batch of
/// reads ([`Warehouse::aggregate_many`]), which the embedded warehouse answers side by
/// side, where one [`names`] after another would wait for each.
pub async fn names_many(
    wh: &dyn Warehouse,
    tenant: &TenantId,
    asks: Vec<(CanonicalTable, Vec<String>)>,
    as_of: Option<DateTime<Utc>>,
) -> Result<Vec<BTreeMap<String, String>>, MetricError> {
    let mut out = vec![BTreeMap::new(); asks.len()];
    let (at, queries): (Vec<usize>, Vec<Aggregate>) = asks
        .into_iter()
        .enumerate()
        .filter(|(_, (_, ids))| !ids.is_empty())
        .map(|(i, (table, ids))| (i, names_query(table, ids, as_of)))
        .unzip();
    if queries.is_empty() {
        return Ok(out);
    }
    let answers = wh.aggregate_many(tenant, &queries).await?;
    for (i, rows) in at.into_iter().zip(answers) {
        out[i] = names_from(rows);
    }
    Ok(out)
}

/// The aggregate [`names`] reads: one group per record, keyed by its id and name parts.
fn names_query(table: CanonicalTable, ids: Vec<String>, as_of: Option<DateTime<Utc>>) -> Aggregate {
    let cols: &[&'static str] = match table {
        Contacts => &["first_name", "last_name"],
        Tickets => &["summary"],
        _ => &["name"],
    };
    let mut agg = Aggregate::new(table);
    agg.as_of = as_of.map(as_of_naive);
    agg.filter = vec![Cond::In(Col::Id, ids)];
    agg.group = std::iter::once(Dim::Value(Col::Id))
        .chain(cols.iter().map(|c| Dim::Value(Col::Column(c))))
        .collect();
    agg.measures = vec![Measure::new(Agg::Count)];
    agg
}

/// A record's name from its [`names_query`] group: the non-blank parts, joined by spaces.
fn names_from(rows: Vec<AggRow>) -> BTreeMap<String, String> {
    rows.into_iter()
        .filter_map(|r| {
            let mut cells = r.key.into_iter();
            let Some(Cell::Text(id)) = cells.next() else { return None };
            let parts: Vec<String> = cells
                .filter_map(|c| match c {
                    Cell::Text(s) if !s.trim().is_empty() => Some(s),
                    _ => None,
                })
                .collect();
            (!parts.is_empty()).then(|| (id, parts.join(" ")))
        })
        .collect()
}

/// The table a reference dimension's ids name.
pub fn referenced_table(col: Col) -> Option<CanonicalTable> {
    match col {
        Col::Ref("company_id") => Some(Companies),
        Col::Ref("contact_id") => Some(Contacts),
        Col::Ref("owner_id" | "member_id") => Some(CanonicalTable::Members),
        Col::Ref("ticket_id") => Some(Tickets),
        _ => None,
    }
}

/// The groups with the greatest values first (unavailable last), at most `limit`.
pub fn top_keys(values: &BTreeMap<Vec<KeyCell>, Option<f64>>, limit: usize) -> Vec<Vec<KeyCell>> {
    let mut keys: Vec<(&Vec<KeyCell>, Option<f64>)> = values.iter().map(|(k, v)| (k, *v)).collect();
    keys.sort_by(|a, b| match (a.1, b.1) {
        (Some(x), Some(y)) => y.total_cmp(&x).then_with(|| a.0.cmp(b.0)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.0.cmp(b.0),
    });
    keys.into_iter().take(limit).map(|(k, _)| k.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use avesa_warehouse::MemoryWarehouse;
    use avesa_warehouse::conformance::{Row, batch};
    use chrono_tz::Tz;

    const DAY: i64 = 86_400;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    /// Seconds after the conformance suite's epoch (2023-11-14T22:13:20Z).
    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    async fn warehouse() -> MemoryWarehouse {
        let wh = MemoryWarehouse::new();
        let tickets = vec![
            // Opened day 1, closed day 3 in SLA.
            Row::new("acme", "1", 10)
                .time("opened_at", DAY)
                .flag("closed", true)
                .time("closed_at", 3 * DAY)
                .flag("sla_met", true)
                .text("board", "Help"),
            // Opened day 2, closed day 6 out of SLA.
            Row::new("acme", "2", 10)
                .time("opened_at", 2 * DAY)
                .flag("closed", true)
                .time("closed_at", 6 * DAY)
                .flag("sla_met", false)
                .text("board", "Help"),
            // Opened day 2, still open.
            Row::new("acme", "3", 10)
                .time("opened_at", 2 * DAY)
                .flag("closed", false)
                .text("board", "Projects"),
            // Another tenant's.
            Row::new("other", "4", 10).time("opened_at", 2 * DAY).flag("closed", false),
        ];
        wh.apply(CanonicalTable::Tickets, batch(CanonicalTable::Tickets, &tickets)).await.unwrap();
        let entries = vec![
            Row::new("acme", "1", 10)
                .time("time_start", DAY)
                .float("actual_hours", 2.0)
                .text("billable_option", "Billable")
                .float("billed_hours", 2.0)
                .float("hourly_rate", 100.0)
                .text("member_id", "7"),
            Row::new("acme", "2", 10)
                .time("time_start", DAY)
                .float("actual_hours", 1.0)
                .text("billable_option", "DoNotBill")
                .text("member_id", "8"),
            // A source that records no billable option.
            Row::new("acme", "3", 10)
                .service("servicenow")
                .time("time_start", DAY)
                .float("actual_hours", 4.0)
                .text("member_id", "9"),
        ];
        wh.apply(CanonicalTable::TimeEntries, batch(CanonicalTable::TimeEntries, &entries))
            .await
            .unwrap();
        wh
    }

    fn query(from: DateTime<Utc>, to: DateTime<Utc>, filters: &[(&str, &str)]) -> Query {
        let period =
            Period::resolve(None, Some(&from.to_rfc3339()), Some(&to.to_rfc3339()), Tz::UTC, to)
                .unwrap();
        let (filters, _) = Filters::from_params(filters.iter().copied()).unwrap();
        Query {
            period,
            filters,
            as_of: None,
            now: to + Duration::days(30),
            capacity: Default::default(),
        }
    }

    async fn value(wh: &MemoryWarehouse, id: &str, q: &Query) -> Option<f64> {
        let acme = TenantId::new("acme").unwrap();
        let e = metric(id).unwrap().evaluate(wh, &acme, q, &q.period, None).await.unwrap();
        e.values[&vec![]]
    }

    #[tokio::test]
    async fn metrics_count_what_their_period_holds_and_say_when_they_cannot() {
        let wh = warehouse().await;
        let q = query(t(0), t(4 * DAY), &[]);
        assert_eq!(value(&wh, "tickets_opened", &q).await, Some(3.0));
        assert_eq!(value(&wh, "tickets_closed", &q).await, Some(1.0));
        assert_eq!(value(&wh, "net_ticket_change", &q).await, Some(2.0));
        // At day 4: ticket 2 (closed day 6) and 3 are open.
        assert_eq!(value(&wh, "open_backlog", &q).await, Some(2.0));
        assert_eq!(value(&wh, "resolution_hours_avg", &q).await, Some(48.0));
        assert_eq!(value(&wh, "sla_met_pct", &q).await, Some(100.0));
        let all = query(t(0), t(10 * DAY), &[]);
        assert_eq!(value(&wh, "sla_met_pct", &all).await, Some(50.0));
        assert_eq!(value(&wh, "resolution_hours_median", &all).await, Some(72.0));
        // Nothing records a response or a reopening here: not available.
        assert_eq!(value(&wh, "first_response_hours_avg", &q).await, None);
        assert_eq!(value(&wh, "tickets_reopened", &q).await, None);
        // Hours: all sources; billable: only where the source records it.
        assert_eq!(value(&wh, "hours_worked", &q).await, Some(7.0));
        assert_eq!(value(&wh, "billable_hours", &q).await, Some(2.0));
        assert_eq!(value(&wh, "billed_amount", &q).await, Some(200.0));
        let sn = query(t(0), t(4 * DAY), &[("service", "servicenow")]);
        assert_eq!(value(&wh, "hours_worked", &sn).await, Some(4.0));
        assert_eq!(value(&wh, "billable_hours", &sn).await, None, "not recorded: not zero");
        assert_eq!(value(&wh, "billable_pct", &sn).await, None);
        assert_eq!(value(&wh, "utilisation_pct", &sn).await, None);
        // A period without rows: counts and sums are zero, means not available.
        let empty = query(t(20 * DAY), t(21 * DAY), &[]);
        assert_eq!(value(&wh, "tickets_opened", &empty).await, Some(0.0));
        assert_eq!(value(&wh, "hours_worked", &empty).await, Some(0.0));
        assert_eq!(value(&wh, "resolution_hours_avg", &empty).await, None);
        assert_eq!(value(&wh, "billable_pct", &empty).await, None);
        // Filters narrow; one that does not apply is reported.
        let help = query(t(0), t(4 * DAY), &[("board", "Help"), ("billable", "Billable")]);
        assert_eq!(value(&wh, "tickets_opened", &help).await, Some(2.0));
        let acme = TenantId::new("acme").unwrap();
        let e = metric("tickets_opened")
            .unwrap()
            .evaluate(&wh, &acme, &help, &help.period, None)
            .await
            .unwrap();
        assert_eq!(e.ignored_filters, vec!["billable".to_owned()]);
    }

    #[tokio::test]
    async fn utilisation_is_billable_hours_over_each_members_capacity() {
        let wh = warehouse().await;
        // 2023-11-15 (day 1 at 22:13 UTC is the 15th) to the 17th: Wednesday and Thursday.
        let from = utc("2023-11-15T00:00:00Z");
        let q = query(from, from + Duration::days(2), &[("service", "connectwise")]);
        assert_eq!(working_days(&q.period), 2.0);
        // Members 7 and 8 logged time: 2 billable hours over 2 × 16 hours.
        let v = value(&wh, "utilisation_pct", &q).await.unwrap();
        assert!((v - 2.0 / 32.0 * 100.0).abs() < 1e-9, "{v}");
        // Member 7 works 4 hours a day, member 8 the tenant's default of 6.
        let mut q = q;
        q.capacity.default_hours = Some(6.0);
        q.capacity.members.insert("connectwise:7".into(), 4.0);
        let v = value(&wh, "utilisation_pct", &q).await.unwrap();
        assert!((v - 2.0 / 20.0 * 100.0).abs() < 1e-9, "{v}");
        let acme = TenantId::new("acme").unwrap();
        let m = metric("utilisation_pct").unwrap();
        let by_member = m
            .evaluate(&wh, &acme, &q, &q.period, Some(GroupBy::parse(m, "member").unwrap()))
            .await
            .unwrap();
        let seven = by_member.values[&vec![KeyCell::Text("connectwise:7".into())]].unwrap();
        assert!((seven - 2.0 / 8.0 * 100.0).abs() < 1e-9, "{seven}");
        assert_eq!(by_member.values[&vec![KeyCell::Text("connectwise:8".into())]], Some(0.0));
    }

    /// A backlog series (one scan) gives each bucket what one aggregate of the tickets open
    /// at its end gives, on tickets with every shape of dates: unopened, closed without a
    /// date, closed before opened, reopened, deleted, on two services, as of a past instant.
    #[tokio::test]
    async fn a_backlog_series_is_the_metric_at_each_bucket_end() {
        let wh = MemoryWarehouse::new();
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let mut rows = Vec::new();
        for i in 0..400 {
            let id = i.to_string();
            let updated = next(30) as i64 * DAY;
            let mut r = Row::new("acme", &id, updated).text("board", ["Help", "Projects"][i % 2]);
            if i % 7 == 3 {
                r = r.service("servicenow");
            }
            let opened = next(30) as i64 * DAY + next(86_400) as i64;
            if next(20) != 0 {
                r = r.time("opened_at", opened);
            }
            match next(5) {
                0 => r = r.flag("closed", false),
                1 => r = r.flag("closed", true),
                2 => {
                    let closed = opened - 3_600 + next(25) as i64 * DAY;
                    r = r.flag("closed", true).time("closed_at", closed);
                }
                3 => r = r.time("closed_at", opened + next(10) as i64 * DAY),
                _ => r = r.flag("closed", true).time("closed_at", opened + next(10) as i64 * DAY),
            }
            if next(9) == 0 {
                r = r.deleted();
            }
            rows.push(r);
            if next(3) == 0 {
                // A later version: reopened.
                let again = Row::new("acme", &id, updated + 5 * DAY)
                    .time("opened_at", opened)
                    .flag("closed", false)
                    .text("board", "Help");
                rows.push(again);
            }
        }
        rows.push(Row::new("other", "x", 0).time("opened_at", DAY).flag("closed", false));
        wh.apply(Tickets, batch(Tickets, &rows)).await.unwrap();
        let acme = TenantId::new("acme").unwrap();
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let mut cases = Vec::new();
        for (tz, interval, filters, as_of) in [
            (Tz::UTC, Interval::Day, &[][..], None),
            (berlin, Interval::Day, &[("board", "Help")][..], None),
            (berlin, Interval::Week, &[][..], Some(t(20 * DAY))),
            (Tz::UTC, Interval::Week, &[("service", "servicenow")][..], None),
        ] {
            let mut q = query(t(2 * DAY), t(32 * DAY), filters);
            q.period = Period::resolve(
                None,
                Some(&t(2 * DAY).to_rfc3339()),
                Some(&t(32 * DAY).to_rfc3339()),
                tz,
                t(40 * DAY),
            )
            .unwrap();
            // The period runs past now: the last buckets end now.
            q.now = t(26 * DAY);
            q.as_of = as_of;
            cases.push((q, interval));
        }
        for id in ["open_backlog", "open_ticket_age_hours"] {
            let m = metric(id).unwrap();
            for (q, interval) in &cases {
                let mut batch = Batch::default();
                let planned = plan_series(m, q, &q.period, *interval, &mut batch).unwrap();
                assert!(matches!(planned, PlannedSeries::Backlog(_)), "{id}: one scan");
                assert_eq!(batch.len(), 1);
                let s = series(m, &wh, &acme, q, &q.period, *interval).await.unwrap();
                assert!(s.len() >= 4);
                let mut nonzero = 0;
                for (b, v) in s {
                    let part = q.period.part(b.from, b.to);
                    // The reference: one aggregate of the tickets open at the bucket's end.
                    let end = b.to.min(q.as_of.unwrap_or(q.now)).timestamp_micros();
                    let mut agg = Aggregate::new(Tickets);
                    agg.as_of = q.as_of.map(as_of_naive);
                    agg.filter = q.filters.conds(Tickets, q.period.tz).unwrap().0;
                    agg.filter.push(crate::filters::open_at(end));
                    agg.measures = vec![m.terms[0].measure(end)];
                    let alone = wh.aggregate(&acme, &agg).await.unwrap()[0].values[0];
                    let pooled =
                        m.evaluate(&wh, &acme, q, &part, None).await.unwrap().values[&vec![]];
                    assert_eq!(pooled.is_some(), alone.is_some());
                    match (v, alone) {
                        (Some(a), Some(b)) => {
                            assert!(
                                (a - b).abs() < 1e-6,
                                "{id} {q:?} bucket {}: {a} != {b}",
                                b_key(&part)
                            );
                            nonzero += usize::from(a > 0.0);
                        }
                        (a, b) => assert_eq!(a, b, "{id} bucket at {}", b_key(&part)),
                    }
                }
                assert!(nonzero >= 2, "{id}: the data gives buckets a backlog");
            }
        }
    }

    fn b_key(p: &Period) -> String {
        format!("{} .. {}", p.from, p.to)
    }

    #[tokio::test]
    async fn series_count_per_local_day_and_groups_by_dimension() {
        let wh = warehouse().await;
        let acme = TenantId::new("acme").unwrap();
        let q = query(t(0), t(4 * DAY), &[]);
        let m = metric("tickets_opened").unwrap();
        let s = series(m, &wh, &acme, &q, &q.period, Interval::Day).await.unwrap();
        let total: f64 = s.iter().filter_map(|(_, v)| *v).sum();
        assert_eq!(total, 3.0);
        assert!(s.iter().all(|(_, v)| v.is_some()), "empty days count zero");
        let g = m
            .evaluate(&wh, &acme, &q, &q.period, Some(GroupBy::parse(m, "board").unwrap()))
            .await
            .unwrap();
        assert_eq!(g.values[&vec![KeyCell::Text("Help".into())]], Some(2.0));
        assert_eq!(g.values[&vec![KeyCell::Text("Projects".into())]], Some(1.0));
        assert!(GroupBy::parse(m, "billable").is_err());
        assert!(GroupBy::parse(metric("utilisation_pct").unwrap(), "company").is_err());
        assert!(GroupBy::parse(metric("open_backlog").unwrap(), "age").is_ok());
    }

    /// Names of several tables' records in one batch, in the order asked: a contact's
    /// first and last name, a member's name; an ask without ids reads nothing and names
    /// nothing; another tenant's record with an asked id is not named.
    #[tokio::test]
    async fn names_of_several_tables_come_back_in_the_order_asked() {
        let wh = MemoryWarehouse::new();
        let members = vec![
            Row::new("acme", "7", 10).text("name", "Ada Lovelace"),
            Row::new("acme", "9", 10).text("name", "Not asked"),
            Row::new("other", "8", 10).text("name", "Not yours"),
        ];
        let m = CanonicalTable::Members;
        wh.apply(m, batch(m, &members)).await.unwrap();
        let contacts =
            vec![Row::new("acme", "5", 10).text("first_name", "Grace").text("last_name", "Hopper")];
        wh.apply(Contacts, batch(Contacts, &contacts)).await.unwrap();
        let acme = TenantId::new("acme").unwrap();
        let ids = |ids: &[&str]| ids.iter().map(|i| format!("connectwise:{i}")).collect();
        let asks = vec![(Contacts, ids(&["5"])), (m, vec![]), (m, ids(&["7", "8"]))];
        let got = names_many(&wh, &acme, asks, None).await.unwrap();
        let named = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (format!("connectwise:{k}"), (*v).to_owned())).collect()
        };
        assert_eq!(
            got,
            vec![named(&[("5", "Grace Hopper")]), BTreeMap::new(), named(&[("7", "Ada Lovelace")])]
        );
        assert_eq!(
            names_many(&wh, &acme, vec![], None).await.unwrap(),
            Vec::<BTreeMap<_, _>>::new()
        );
    }
}
