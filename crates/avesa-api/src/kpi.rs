//! The metric routes: every built-in metric for a period in the tenant's time zone, with
//! filters, comparison with the previous period, `as_of`, breakdowns (with the names of
//! the companies, members and contacts they group by) and series; each answer links the
//! list of the records behind it.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /api/analytics/metrics` | the catalogue: metrics, breakdowns, periods, filters |
//! | `GET /api/analytics/metrics/{metric}` | one metric (and its groups with `group_by`) |
//! | `GET /api/analytics/metrics/{metric}/series` | the metric per day, week, month or quarter |
//! | `GET /api/analytics/kpis?metrics=a,b` | several metrics at once (a dashboard's cards) |
//!
//! Answers depend on the clock (a period runs to now): `now` is taken to the minute, and
//! the response cache keys these routes by that minute too.

use std::collections::BTreeMap;

use avesa_analytics::METRICS;
use avesa_analytics::calculated::Calculated;
use avesa_analytics::filters::{self, Filters};
use avesa_analytics::metrics::{
    AGE_BUCKETS, Answers, Batch, Better, DIMENSIONS, Evaluation, GroupBy, KeyCell, Metric,
    MetricError, Planned, PlannedSeries, Query, Unit, metric, names_many, plan_series,
    referenced_table, top_keys,
};
use avesa_analytics::period::{self, Interval, Period, Span, parse_tz};
use avesa_analytics::settings::{Direction, GoalStatus, TenantSettings};
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::AuthUser;
use crate::entities::{NoParams, bad_param, int_param, parse_as_of};
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};

impl From<MetricError> for ApiError {
    fn from(e: MetricError) -> Self {
        match e {
            MetricError::BadRequest(m) => {
                let e = avesa_analytics::PeriodError(m);
                let err = ApiError::bad_request(e.0.clone());
                match e.param() {
                    Some(p) => err.with_details(serde_json::json!({ "param": p })),
                    None => err,
                }
            }
            MetricError::Warehouse(w) => w.into(),
        }
    }
}

/// The values of the metric routes' parameters that take a closed set, for the OpenAPI
/// document.
pub(crate) fn parameter_values(name: &str) -> Option<Vec<String>> {
    let own = |v: &[&str]| Some(v.iter().map(|s| (*s).to_owned()).collect());
    match name {
        "metric" => Some(METRICS.iter().map(|m| m.id.to_owned()).collect()),
        "period" => own(period::NAMED),
        "compare" => own(&["previous", "none"]),
        "interval" => own(&["day", "week", "month", "quarter"]),
        "group_by" => {
            let mut v: Vec<String> = DIMENSIONS.iter().map(|d| d.name.to_owned()).collect();
            v.push("age".into());
            v.sort();
            v.dedup();
            Some(v)
        }
        _ => None,
    }
}

/// Whether the route of `path` answers for periods that run to now (the metric routes
/// and the reports): the response cache keys those by the minute too.
pub(crate) fn reads_the_clock(path: &str) -> bool {
    [
        "/api/analytics/metrics",
        "/api/analytics/kpis",
        "/api/analytics/companies/",
        "/api/analytics/members/",
    ]
    .iter()
    .any(|p| path.starts_with(p))
}

/// Query parameters of the metric routes: the period, the comparison, `as_of`, a
/// breakdown, and the filters. Each route rejects parameters it does not use.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MetricParams {
    /// A named period: today, yesterday, 7d, 30d (the default), 90d, this_week,
    /// last_week, this_month, last_month, this_quarter, last_quarter, this_year,
    /// last_year.
    pub period: Option<String>,
    /// Start of a custom period: a local date (2026-11-01) or an instant (RFC 3339).
    pub from: Option<String>,
    /// End of a custom period: a local date (included) or an instant (excluded).
    pub to: Option<String>,
    /// The IANA time zone days and periods are read in (default: the tenant's, UTC
    /// unless set).
    pub tz: Option<String>,
    /// `previous` (default): also the same figures for the preceding period and the
    /// trend; `none`: this period's only.
    pub compare: Option<String>,
    /// Answer as the data stood at this instant (RFC 3339); periods end there.
    #[param(format = DateTime)]
    pub as_of: Option<String>,
    /// A breakdown (see the catalogue's `group_by` of each metric).
    pub group_by: Option<String>,
    /// Most groups of a breakdown (default 20, at most 1000), largest first.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// Series only: day, week, month or quarter (default by the period's length).
    pub interval: Option<String>,
    /// KPIs only: metric ids, separated by commas.
    pub metrics: Option<String>,
    /// Filter: source service.
    pub service: Option<String>,
    /// Filter: board or queue.
    pub board: Option<String>,
    /// Filter: status.
    pub status: Option<String>,
    /// Filter: priority.
    pub priority: Option<String>,
    /// Filter: ticket type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub ticket_type: Option<String>,
    /// Filter: how the ticket came in.
    pub source: Option<String>,
    /// Filter: company id (connectwise:250).
    pub company: Option<String>,
    /// Filter: contact id.
    pub contact: Option<String>,
    /// Filter: technician id (ticket owner, time entry member).
    pub member: Option<String>,
    /// Filter: ticket id (time entries).
    pub ticket: Option<String>,
    /// Filter: billable option.
    pub billable: Option<String>,
    /// Filter: work type.
    pub work_type: Option<String>,
    /// Filter: true for tickets not closed, false for closed ones.
    pub open: Option<String>,
    /// Filter: tickets open at this instant.
    #[param(format = DateTime)]
    pub open_at: Option<String>,
    /// Filter: tickets opened from (local date or instant).
    pub opened_from: Option<String>,
    /// Filter: tickets opened up to (a local date, included, or an instant).
    pub opened_to: Option<String>,
    pub closed_from: Option<String>,
    pub closed_to: Option<String>,
    /// Filter: time entries started from.
    pub date_from: Option<String>,
    pub date_to: Option<String>,
    pub updated_from: Option<String>,
    pub updated_to: Option<String>,
    /// Search: the text, in the record's id or text columns.
    pub q: Option<String>,
}

impl MetricParams {
    fn filter_pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("service", &self.service),
            ("board", &self.board),
            ("status", &self.status),
            ("priority", &self.priority),
            ("type", &self.ticket_type),
            ("source", &self.source),
            ("company", &self.company),
            ("contact", &self.contact),
            ("member", &self.member),
            ("ticket", &self.ticket),
            ("billable", &self.billable),
            ("work_type", &self.work_type),
            ("open", &self.open),
            ("open_at", &self.open_at),
            ("opened_from", &self.opened_from),
            ("opened_to", &self.opened_to),
            ("closed_from", &self.closed_from),
            ("closed_to", &self.closed_to),
            ("date_from", &self.date_from),
            ("date_to", &self.date_to),
            ("updated_from", &self.updated_from),
            ("updated_to", &self.updated_to),
            ("q", &self.q),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }

    /// Refuses the parameters a route does not use.
    fn refuse(&self, route: &str, unused: &[(&str, bool)]) -> Result<(), ApiError> {
        match unused.iter().find(|(_, given)| *given) {
            Some((p, _)) => Err(bad_param(p, format!("not a parameter of {route}"))),
            None => Ok(()),
        }
    }

    /// The period, comparison and filters, read with the tenant's settings (its time
    /// zone unless the request names one, its members' capacities).
    fn resolve(
        &self,
        settings: &TenantSettings,
        now: DateTime<Utc>,
    ) -> Result<(Query, bool), ApiError> {
        let tz = match self.tz.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(name) => parse_tz(name).map_err(|e| bad_param("tz", e.0))?,
            None => settings.time_zone,
        };
        // The data as it stands at an instant still to come is the data now.
        let as_of = parse_as_of(self.as_of.as_deref())?.map(|t| t.and_utc()).filter(|a| *a < now);
        let clock = as_of.unwrap_or(now);
        let period = Period::resolve(
            self.period.as_deref(),
            self.from.as_deref(),
            self.to.as_deref(),
            tz,
            clock,
        )
        .map_err(MetricError::from)?;
        let compare = match self.compare.as_deref().map(str::trim) {
            Some("none") => false,
            None | Some("") | Some("previous") => true,
            Some(other) => {
                return Err(bad_param(
                    "compare",
                    format!("expected previous or none, got {other:?}"),
                ));
            }
        };
        let (filters, _) = Filters::from_params(self.filter_pairs()).map_err(MetricError::from)?;
        let capacity = settings.capacity.clone();
        Ok((Query { period, filters, as_of, now, capacity }, compare))
    }
}

/// A period as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PeriodView {
    /// Start (RFC 3339, UTC), included.
    #[schema(format = DateTime)]
    pub from: String,
    /// End (RFC 3339, UTC), excluded.
    #[schema(format = DateTime)]
    pub to: String,
    /// The named period, `custom`, or `previous …`.
    pub label: String,
    /// The time zone days are read in.
    pub tz: String,
}

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl From<&Period> for PeriodView {
    fn from(p: &Period) -> Self {
        PeriodView {
            from: rfc3339(p.from),
            to: rfc3339(p.to),
            label: p.label.clone(),
            tz: p.tz.name().to_owned(),
        }
    }
}

/// Which way the value moved against the previous period.
#[derive(Debug, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    Up,
    Down,
    Flat,
}

/// Whether the move is for the better (by the metric's direction).
#[derive(Debug, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Assessment {
    Better,
    Worse,
    Same,
}

/// A metric's value in the previous period and the change to this one.
#[derive(Debug, Serialize, ToSchema)]
pub struct Comparison {
    pub period: PeriodView,
    /// Null when not available.
    pub value: Option<f64>,
    /// `value - previous value`; null when either is not available.
    pub change: Option<f64>,
    /// The change as a percentage of the previous value; null when that is zero.
    pub change_pct: Option<f64>,
    pub trend: Option<Trend>,
    pub assessment: Option<Assessment>,
}

/// One group of a breakdown.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupView {
    /// The group's value (a status, a board) or id (`connectwise:250`); null for records
    /// without one.
    pub key: Option<String>,
    /// What to show: the name of the company, member or contact, or the value itself.
    pub label: String,
    pub value: Option<f64>,
    /// With `compare=previous`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_value: Option<Option<f64>>,
    /// The list of the records behind the group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drill: Option<String>,
}

/// `GET /api/analytics/metrics/{metric}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricView {
    pub metric: String,
    pub label: String,
    pub unit: Unit,
    pub better: Better,
    pub period: PeriodView,
    /// Null when not available (e.g. SLA for a source that does not record it): never a
    /// silent zero.
    pub value: Option<f64>,
    pub available: bool,
    /// With `compare=previous`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<Comparison>,
    /// With `group_by`: the groups, largest first (ageing buckets oldest first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<GroupView>>,
    /// Filters given that do not apply to this metric's records.
    pub ignored_filters: Vec<String>,
    /// `as_of`, when the answer is as the data stood then.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub as_of: Option<String>,
    /// The list of the records behind the figure (for a calculated metric, behind the
    /// first metric its expression names).
    pub drill: String,
    /// The goal an admin set on the metric, and where the figure stands against it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goal: Option<GoalView>,
    /// A calculated metric's expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

/// A metric's goal and where the figure stands against it.
#[derive(Debug, Serialize, ToSchema)]
pub struct GoalView {
    /// The goal's target for its whole span.
    pub target: f64,
    pub direction: Direction,
    pub warning_band: f64,
    /// The span of period the goal is for; null: any.
    pub period: Option<Span>,
    /// Whether the goal holds for this period (a monthly goal does not for a week).
    pub applies: bool,
    /// What the figure is held to: for a count, hours or money in a span still running,
    /// the share of the target the time passed calls for; otherwise the target.
    pub pace_target: Option<f64>,
    /// met, at_risk or missed; null when the goal does not apply or the figure is not
    /// available.
    pub status: Option<GoalStatus>,
}

fn goal_view(
    settings: &TenantSettings,
    def: &Def,
    period: &Period,
    value: Option<f64>,
) -> Option<GoalView> {
    let g = settings.goals.get(def.id())?;
    let applies = g.applies(period);
    let (target, band) = g.pace(def.unit(), period);
    Some(GoalView {
        target: g.target,
        direction: g.direction,
        warning_band: g.warning_band,
        period: g.period,
        applies,
        pace_target: applies.then(|| round(Some(target))).flatten(),
        status: value.filter(|_| applies).map(|v| g.status(v, target, band)),
    })
}

/// A metric a request names: built-in, or one of the tenant's calculated metrics.
pub(crate) enum Def {
    Builtin(&'static Metric),
    Calculated(Calculated),
}

impl Def {
    fn id(&self) -> &str {
        match self {
            Def::Builtin(m) => m.id,
            Def::Calculated(c) => &c.id,
        }
    }
    fn label(&self) -> &str {
        match self {
            Def::Builtin(m) => m.label,
            Def::Calculated(c) => &c.def.label,
        }
    }
    fn unit(&self) -> Unit {
        match self {
            Def::Builtin(m) => m.unit,
            Def::Calculated(c) => c.def.unit,
        }
    }
    fn better(&self) -> Better {
        match self {
            Def::Builtin(m) => m.better,
            Def::Calculated(c) => c.def.better,
        }
    }
    /// The tables its records come from.
    fn tables(&self) -> Vec<avesa_model::CanonicalTable> {
        match self {
            Def::Builtin(m) => vec![m.table],
            Def::Calculated(c) => c.refs.iter().map(|m| m.table).collect(),
        }
    }
    /// The metric whose records a drill lists.
    fn lists(&self) -> &'static Metric {
        match self {
            Def::Builtin(m) => m,
            Def::Calculated(c) => c.refs[0],
        }
    }
    fn expression(&self) -> Option<String> {
        match self {
            Def::Builtin(_) => None,
            Def::Calculated(c) => Some(c.def.expression.clone()),
        }
    }
    /// The breakdown `name`, per metric evaluated.
    fn group_by(&self, name: &str) -> Result<Vec<GroupBy>, MetricError> {
        match self {
            Def::Builtin(m) => Ok(vec![GroupBy::parse(m, name)?]),
            Def::Calculated(c) => c.group_by(name),
        }
    }
    /// Adds the metric's aggregates over `period` to `batch`.
    fn plan(
        &self,
        q: &Query,
        period: &Period,
        group: Option<&[GroupBy]>,
        batch: &mut Batch,
    ) -> Result<DefPlan, MetricError> {
        Ok(match self {
            Def::Builtin(m) => DefPlan::Builtin(m.plan(q, period, group.map(|g| g[0]), batch)?),
            Def::Calculated(c) => DefPlan::Calculated(c.plan(q, period, group, batch)?),
        })
    }
    fn finish(&self, plan: DefPlan, q: &Query, answers: &mut Answers) -> Evaluation {
        match (self, plan) {
            (Def::Calculated(c), DefPlan::Calculated(p)) => c.finish(p, q, answers),
            (_, DefPlan::Builtin(p)) => p.finish(q, answers),
            (Def::Builtin(_), DefPlan::Calculated(_)) => unreachable!("planned by this def"),
        }
    }
    /// Adds the metric's series over `period` to `batch`.
    fn plan_series(
        &self,
        q: &Query,
        period: &Period,
        interval: Interval,
        batch: &mut Batch,
    ) -> Result<SeriesPlan, MetricError> {
        Ok(match self {
            Def::Builtin(m) => SeriesPlan::Builtin(plan_series(m, q, period, interval, batch)?),
            Def::Calculated(c) => {
                SeriesPlan::Calculated(c.plan_series(q, period, interval, batch)?)
            }
        })
    }
    fn finish_series(
        &self,
        plan: SeriesPlan,
        q: &Query,
        answers: &mut Answers,
    ) -> Vec<(period::Bucket, Option<f64>)> {
        match (self, plan) {
            (Def::Calculated(c), SeriesPlan::Calculated(p)) => c.finish_series(p, q, answers),
            (_, SeriesPlan::Builtin(p)) => p.finish(q, answers),
            (Def::Builtin(_), SeriesPlan::Calculated(_)) => unreachable!("planned by this def"),
        }
    }
}

/// A [`Def`]'s evaluation planned into a batch.
enum DefPlan {
    Builtin(Planned),
    Calculated(Vec<Planned>),
}

/// A [`Def`]'s series planned into a batch.
enum SeriesPlan {
    Builtin(PlannedSeries),
    Calculated(Vec<PlannedSeries>),
}

/// Rounds to the millionth: the last bits of a floating-point sum depend on the order
/// the engine added in.
fn round(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite()).map(|v| (v * 1e6).round() / 1e6)
}

fn compare(better: Better, period: &Period, value: Option<f64>, prev: Option<f64>) -> Comparison {
    let change = round(value.zip(prev).map(|(a, b)| a - b));
    let change_pct =
        value.zip(prev).and_then(|(a, b)| (b != 0.0).then(|| (a - b) / b.abs() * 100.0));
    let trend = change.map(|c| {
        if c.abs() < 1e-9 {
            Trend::Flat
        } else if c > 0.0 {
            Trend::Up
        } else {
            Trend::Down
        }
    });
    let assessment = trend.as_ref().map(|t| match (t, better) {
        (Trend::Flat, _) => Assessment::Same,
        (Trend::Up, Better::Higher) | (Trend::Down, Better::Lower) => Assessment::Better,
        _ => Assessment::Worse,
    });
    Comparison {
        period: period.into(),
        value: round(prev),
        change,
        change_pct: round(change_pct),
        trend,
        assessment,
    }
}

fn list_segment(table: avesa_model::CanonicalTable) -> &'static str {
    crate::entities::ENTITY_SEGMENTS.iter().find(|(_, t)| *t == table).map_or("tickets", |(s, _)| s)
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The list URL of the records behind a metric (narrowed to one group by `extra`).
fn drill(m: &Metric, q: &Query, period: &Period, extra: Option<(&str, String)>) -> String {
    drill_narrowed(m, q, period, |f| match extra {
        Some((k, v)) => f.with(k, v),
        None => f,
    })
}

/// The list URL of the backlog tickets in one ageing bucket (`AGE_BUCKETS[bucket]`): open
/// at the period's end and opened between the bucket's edges, as the breakdown counts them.
fn age_drill(m: &Metric, q: &Query, period: &Period, bucket: usize) -> String {
    let end = period.to.min(q.as_of.unwrap_or(q.now));
    let edge = |i: usize| {
        AGE_BUCKETS
            .get(i)
            .filter(|_| i + 1 < AGE_BUCKETS.len())
            .map(|(_, days)| end - chrono::Duration::days(*days))
    };
    let from = bucket.checked_sub(1).and_then(edge);
    let to = edge(bucket);
    drill_narrowed(m, q, period, |f| f.with_bounds("opened", from, to))
}

fn drill_narrowed(
    m: &Metric,
    q: &Query,
    period: &Period,
    narrow: impl FnOnce(avesa_analytics::Filters) -> avesa_analytics::Filters,
) -> String {
    let mut f = q.filters.clone();
    if let Some(r) = m.range_filter() {
        f = f.with_range(r, period.from, period.to);
    }
    for (k, v) in m.narrow {
        f = if *k == "open" { f.with_open(*v == "true") } else { f.with(k, (*v).to_owned()) };
    }
    f = narrow(f);
    if m.range_filter().is_none() && m.table == avesa_model::CanonicalTable::Tickets {
        // A backlog: the tickets open at the period's end.
        f = f.with_open_at(period.to.min(q.as_of.unwrap_or(q.now)));
    }
    let mut params = f.params();
    if let Some(a) = q.as_of {
        params.push(("as_of".into(), rfc3339(a)));
    }
    let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
    format!("/api/{}?{}", list_segment(m.table), query.join("&"))
}

fn key_text(k: &KeyCell) -> Option<String> {
    match k {
        KeyCell::Null => None,
        KeyCell::Text(s) => Some(s.clone()),
        KeyCell::Int(i) => Some(i.to_string()),
        KeyCell::Bool(b) => Some(b.to_string()),
    }
}

/// The metric `id`: built-in, or one of the tenant's calculated metrics.
pub(crate) fn find_def(settings: &TenantSettings, id: &str) -> Option<Def> {
    metric(id)
        .map(Def::Builtin)
        .or_else(|| settings.calculated.get(id).cloned().map(Def::Calculated))
}

fn find_metric(settings: &TenantSettings, id: &str) -> Result<Def, ApiError> {
    find_def(settings, id).ok_or_else(|| {
        ApiError::not_found(format!("no metric {id:?}; GET /api/analytics/metrics lists them"))
    })
}

/// Resolves a search's matches in the tables the metrics' records refer to (a ticket
/// found by its company's name).
async fn resolve_search(
    state: &AppState,
    user: &AuthUser,
    q: &mut Query,
    defs: &[&Def],
) -> Result<(), ApiError> {
    let Some(text) = q.filters.search().map(str::to_owned) else { return Ok(()) };
    let tables: Vec<avesa_model::CanonicalTable> = defs.iter().flat_map(|d| d.tables()).collect();
    let named = filters::named_by(&tables);
    let as_of = q.as_of.map(|t| t.naive_utc());
    let matches =
        filters::resolve_search(state.warehouse.as_ref(), &user.tenant, text.trim(), &named, as_of)
            .await
            .map_err(MetricError::from)?;
    q.filters = std::mem::take(&mut q.filters).with_matches(matches);
    Ok(())
}

/// A metric view's evaluations planned into a batch: the period (grouped as asked) and,
/// with a comparison, the previous period; with a breakdown, both again ungrouped for the
/// headline figures.
struct ViewPlan<'a> {
    def: &'a Def,
    group: Option<Vec<GroupBy>>,
    limit: usize,
    now: DefPlan,
    before: Option<DefPlan>,
    overall: Option<DefPlan>,
    overall_before: Option<DefPlan>,
}

fn plan_view<'a>(
    def: &'a Def,
    q: &Query,
    with_previous: bool,
    group: Option<&[GroupBy]>,
    limit: usize,
    batch: &mut Batch,
) -> Result<ViewPlan<'a>, MetricError> {
    let previous = q.period.previous();
    Ok(ViewPlan {
        def,
        group: group.map(<[GroupBy]>::to_vec),
        limit,
        now: def.plan(q, &q.period, group, batch)?,
        before: with_previous.then(|| def.plan(q, &previous, group, batch)).transpose()?,
        overall: group.is_some().then(|| def.plan(q, &q.period, None, batch)).transpose()?,
        overall_before: (with_previous && group.is_some())
            .then(|| def.plan(q, &previous, None, batch))
            .transpose()?,
    })
}

/// A [`ViewPlan`]'s evaluations, from its batch's answers.
struct ViewValues<'a> {
    def: &'a Def,
    group: Option<Vec<GroupBy>>,
    limit: usize,
    now: Evaluation,
    before: Option<Evaluation>,
    overall: Option<f64>,
    overall_before: Option<Option<f64>>,
}

impl<'a> ViewPlan<'a> {
    fn finish(self, q: &Query, answers: &mut Answers) -> ViewValues<'a> {
        let def = self.def;
        let headline = |e: &Evaluation| e.values.get(&vec![]).copied().flatten();
        let now = def.finish(self.now, q, answers);
        let before = self.before.map(|p| def.finish(p, q, answers));
        let overall = match self.overall {
            Some(p) => headline(&def.finish(p, q, answers)),
            None => headline(&now),
        };
        let overall_before = match self.overall_before {
            Some(p) => Some(headline(&def.finish(p, q, answers))),
            None => before.as_ref().map(headline),
        };
        ViewValues {
            def,
            group: self.group,
            limit: self.limit,
            now,
            before,
            overall,
            overall_before,
        }
    }
}

/// Evaluates one metric view: its evaluations in one batch, then its groups' names.
#[allow(clippy::too_many_arguments)]
async fn evaluate(
    state: &AppState,
    user: &AuthUser,
    settings: &TenantSettings,
    def: &Def,
    q: &Query,
    with_previous: bool,
    group: Option<&[GroupBy]>,
    limit: usize,
) -> Result<MetricView, ApiError> {
    let mut batch = Batch::default();
    let plan = plan_view(def, q, with_previous, group, limit, &mut batch)?;
    let mut answers = batch.run(state.warehouse.as_ref(), &user.tenant).await?;
    let mut views = views(state, user, settings, q, vec![plan.finish(q, &mut answers)]).await?;
    Ok(views.pop().expect("one view for one plan"))
}

/// The keys of a view's groups, in the order shown: every age bucket, or the top `limit`
/// groups of a dimension.
fn group_keys(g: GroupBy, now: &Evaluation, limit: usize) -> Vec<Vec<KeyCell>> {
    match g {
        GroupBy::Age => (0..AGE_BUCKETS.len() as i64).map(|i| vec![KeyCell::Int(i)]).collect(),
        GroupBy::Dimension(_) => top_keys(&now.values, limit),
    }
}

/// The records a view's groups are (a dimension that refers to another table): that
/// table and the ids to name.
fn names_wanted(v: &ViewValues<'_>) -> Option<(avesa_model::CanonicalTable, Vec<String>)> {
    let g = v.group.as_deref()?[0];
    let GroupBy::Dimension(d) = g else { return None };
    let table = referenced_table(d.col)?;
    let keys = group_keys(g, &v.now, v.limit);
    Some((table, keys.iter().filter_map(|k| k.first().and_then(key_text)).collect()))
}

/// Metric views from their values, with the names of all their groups read in one batch.
async fn views(
    state: &AppState,
    user: &AuthUser,
    settings: &TenantSettings,
    q: &Query,
    values: Vec<ViewValues<'_>>,
) -> Result<Vec<MetricView>, ApiError> {
    let (at, asks): (Vec<usize>, Vec<_>) =
        values.iter().enumerate().filter_map(|(i, v)| names_wanted(v).map(|ask| (i, ask))).unzip();
    let found = names_many(state.warehouse.as_ref(), &user.tenant, asks, q.as_of).await?;
    let mut labels = vec![BTreeMap::new(); values.len()];
    for (i, names) in at.into_iter().zip(found) {
        labels[i] = names;
    }
    Ok(values.into_iter().zip(labels).map(|(v, names)| view(settings, q, v, names)).collect())
}

/// A metric view from its values and the names of its groups' records: its groups named
/// and linked, its comparison and goal.
fn view(
    settings: &TenantSettings,
    q: &Query,
    values: ViewValues<'_>,
    labels: BTreeMap<String, String>,
) -> MetricView {
    let ViewValues { def, group, limit, now, before, overall, overall_before } = values;
    let group = group.as_deref();
    let m = def.lists();
    let previous = q.period.previous();
    let groups = match group.map(|g| g[0]) {
        None => None,
        Some(g) => {
            let keys = group_keys(g, &now, limit);
            Some(
                keys.into_iter()
                    .map(|k| {
                        let key = k.first().and_then(key_text);
                        let label = match (g, k.first()) {
                            (GroupBy::Age, Some(KeyCell::Int(i))) => {
                                AGE_BUCKETS.get(*i as usize).map_or("?", |b| b.0).to_owned()
                            }
                            _ => key
                                .as_ref()
                                .map(|id| labels.get(id).cloned().unwrap_or_else(|| id.clone()))
                                .unwrap_or_else(|| "(none)".into()),
                        };
                        let drill_to = match (g, &key) {
                            (GroupBy::Dimension(d), Some(v)) => {
                                Some(drill(m, q, &q.period, Some((d.filter, v.clone()))))
                            }
                            (GroupBy::Dimension(d), None) => {
                                Some(drill_narrowed(m, q, &q.period, |f| f.with_missing(d.filter)))
                            }
                            (GroupBy::Age, _) => match k.first() {
                                Some(KeyCell::Int(i)) => {
                                    Some(age_drill(m, q, &q.period, *i as usize))
                                }
                                _ => None,
                            },
                        };
                        GroupView {
                            value: round(
                                now.values.get(&k).copied().flatten().or(
                                    // A bucket or group without rows: a count of zero.
                                    matches!(g, GroupBy::Age)
                                        .then_some(0.0)
                                        .filter(|_| def.unit() == Unit::Count),
                                ),
                            ),
                            previous_value: before
                                .as_ref()
                                .map(|b| round(b.values.get(&k).copied().flatten())),
                            key,
                            label,
                            drill: drill_to,
                        }
                    })
                    .collect(),
            )
        }
    };
    let value = round(overall);
    MetricView {
        metric: def.id().to_owned(),
        label: def.label().to_owned(),
        unit: def.unit(),
        better: def.better(),
        period: (&q.period).into(),
        value,
        available: overall.is_some(),
        previous: overall_before.map(|p| compare(def.better(), &previous, overall, p)),
        groups,
        ignored_filters: now.ignored_filters,
        as_of: q.as_of.map(rfc3339),
        drill: drill(m, q, &q.period, None),
        goal: goal_view(settings, def, &q.period, value),
        expression: def.expression(),
    }
}

/// One metric for a period: its value, with `compare=previous` the previous period's and
/// the change, with `group_by` its groups (each with the list behind it).
#[utoipa::path(
    get,
    path = "/api/analytics/metrics/{metric}",
    tag = "analytics",
    params(("metric" = String, Path, description = "A metric id from the catalogue."), MetricParams),
    responses((status = 200, description = "The metric.", body = MetricView)),
    security(("bearer" = []))
)]
pub(crate) async fn one(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<MetricParams>,
) -> Result<Json<MetricView>, ApiError> {
    let settings = crate::tenant_settings::load(&state, &user.tenant).await?;
    let def = find_metric(&settings, &id)?;
    p.refuse("a metric", &[("interval", p.interval.is_some()), ("metrics", p.metrics.is_some())])?;
    let (mut q, with_previous) = p.resolve(&settings, state.reads.minute())?;
    resolve_search(&state, &user, &mut q, &[&def]).await?;
    let group = match p.group_by.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(g) => Some(def.group_by(g)?),
        None => {
            p.refuse("a metric without group_by", &[("limit", p.limit.is_some())])?;
            None
        }
    };
    let limit = int_param("limit", p.limit.as_deref(), 20, 1, 1000)? as usize;
    let view = evaluate(&state, &user, &settings, &def, &q, with_previous, group.as_deref(), limit)
        .await?;
    Ok(Json(view))
}

crate::openapi::items!(
    /// `GET /api/analytics/kpis`: several metrics for one period and filters.
    KpiList,
    MetricView
);

/// Most metrics one KPI request may ask for.
pub const MAX_KPIS: usize = 24;

/// Several metrics for the same period, comparison and filters: a dashboard's cards in
/// one request.
#[utoipa::path(
    get,
    path = "/api/analytics/kpis",
    tag = "analytics",
    params(MetricParams),
    responses((status = 200, description = "The metrics, in the order asked.", body = KpiList)),
    security(("bearer" = []))
)]
pub(crate) async fn kpis(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<MetricParams>,
) -> Result<Json<KpiList>, ApiError> {
    p.refuse(
        "kpis",
        &[
            ("interval", p.interval.is_some()),
            ("group_by", p.group_by.is_some()),
            ("limit", p.limit.is_some()),
        ],
    )?;
    let ids: Vec<&str> = p
        .metrics
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if ids.is_empty() || ids.len() > MAX_KPIS {
        return Err(bad_param(
            "metrics",
            format!("give 1 to {MAX_KPIS} metric ids separated by commas"),
        ));
    }
    let settings = crate::tenant_settings::load(&state, &user.tenant).await?;
    let metrics = ids
        .iter()
        .map(|id| {
            find_def(&settings, id).ok_or_else(|| bad_param("metrics", format!("no metric {id:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (mut q, with_previous) = p.resolve(&settings, state.reads.minute())?;
    resolve_search(&state, &user, &mut q, &metrics.iter().collect::<Vec<_>>()).await?;
    // Every card's aggregates in one batch: the metrics of one table share a scan.
    let mut batch = Batch::default();
    let plans = metrics
        .iter()
        .map(|def| plan_view(def, &q, with_previous, None, 0, &mut batch))
        .collect::<Result<Vec<_>, _>>()?;
    let mut answers = batch.run(state.warehouse.as_ref(), &user.tenant).await?;
    let values = plans.into_iter().map(|plan| plan.finish(&q, &mut answers)).collect();
    let items = views(&state, &user, &settings, &q, values).await?;
    Ok(Json(KpiList { items }))
}

/// One point of a series.
#[derive(Debug, Serialize, ToSchema)]
pub struct Point {
    /// The bucket's first local day.
    #[schema(format = Date)]
    pub start: String,
    #[schema(format = DateTime)]
    pub from: String,
    #[schema(format = DateTime)]
    pub to: String,
    pub value: Option<f64>,
}

/// A series of one period.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesPeriod {
    pub period: PeriodView,
    pub points: Vec<Point>,
}

/// `GET /api/analytics/metrics/{metric}/series`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesView {
    pub metric: String,
    pub label: String,
    pub unit: Unit,
    /// day, week, month or quarter.
    pub interval: String,
    pub current: SeriesPeriod,
    /// With `compare=previous`: the previous period, bucket for bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<SeriesPeriod>,
    pub ignored_filters: Vec<String>,
}

/// A metric per day, week, month or quarter of the period (opened vs closed over time,
/// hours per week …); buckets without records count zero.
#[utoipa::path(
    get,
    path = "/api/analytics/metrics/{metric}/series",
    tag = "analytics",
    params(("metric" = String, Path, description = "A metric id from the catalogue."), MetricParams),
    responses((status = 200, description = "The series.", body = SeriesView)),
    security(("bearer" = []))
)]
pub(crate) async fn series_route(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<MetricParams>,
) -> Result<Json<SeriesView>, ApiError> {
    let settings = crate::tenant_settings::load(&state, &user.tenant).await?;
    let def = find_metric(&settings, &id)?;
    p.refuse(
        "a series",
        &[
            ("group_by", p.group_by.is_some()),
            ("limit", p.limit.is_some()),
            ("metrics", p.metrics.is_some()),
        ],
    )?;
    let (mut q, with_previous) = p.resolve(&settings, state.reads.minute())?;
    resolve_search(&state, &user, &mut q, &[&def]).await?;
    let interval = match p.interval.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(i) => i.parse::<Interval>().map_err(MetricError::from)?,
        None => Interval::default_for(&q.period),
    };
    Ok(Json(series_view(&state, &user, &def, &q, with_previous, interval).await?))
}

async fn series_view(
    state: &AppState,
    user: &AuthUser,
    def: &Def,
    q: &Query,
    with_previous: bool,
    interval: Interval,
) -> Result<SeriesView, ApiError> {
    let mut batch = Batch::default();
    let plan = plan_series_view(def, q, with_previous, interval, &mut batch)?;
    let mut answers = batch.run(state.warehouse.as_ref(), &user.tenant).await?;
    plan.finish(q, &mut answers)
}

/// A series view (the period's and, with a comparison, the previous period's) planned
/// into a batch.
struct SeriesViewPlan<'a> {
    def: &'a Def,
    interval: Interval,
    current: SeriesPlan,
    previous: Option<(Period, SeriesPlan)>,
}

fn plan_series_view<'a>(
    def: &'a Def,
    q: &Query,
    with_previous: bool,
    interval: Interval,
    batch: &mut Batch,
) -> Result<SeriesViewPlan<'a>, MetricError> {
    let current = def.plan_series(q, &q.period, interval, batch)?;
    let previous = if with_previous {
        let prev = q.period.previous();
        let plan = def.plan_series(q, &prev, interval, batch)?;
        Some((prev, plan))
    } else {
        None
    };
    Ok(SeriesViewPlan { def, interval, current, previous })
}

impl SeriesViewPlan<'_> {
    fn finish(self, q: &Query, answers: &mut Answers) -> Result<SeriesView, ApiError> {
        let def = self.def;
        let points = |s: Vec<(period::Bucket, Option<f64>)>| {
            s.into_iter()
                .map(|(b, v)| Point {
                    start: b.start.to_string(),
                    from: rfc3339(b.from),
                    to: rfc3339(b.to),
                    value: round(v),
                })
                .collect::<Vec<_>>()
        };
        let current = def.finish_series(self.current, q, answers);
        let previous = self.previous.map(|(prev, plan)| {
            let s = def.finish_series(plan, q, answers);
            SeriesPeriod { period: (&prev).into(), points: points(s) }
        });
        let mut ignored = Vec::new();
        for table in def.tables() {
            ignored.extend(q.filters.conds(table, q.period.tz).map_err(MetricError::from)?.1);
        }
        ignored.sort();
        ignored.dedup();
        Ok(SeriesView {
            metric: def.id().to_owned(),
            label: def.label().to_owned(),
            unit: def.unit(),
            interval: format!("{:?}", self.interval).to_lowercase(),
            current: SeriesPeriod { period: (&q.period).into(), points: points(current) },
            previous,
            ignored_filters: ignored,
        })
    }
}

/// What a company or member report shows: its figures, their trends, and breakdowns.
pub(crate) struct ReportShape {
    metrics: &'static [&'static str],
    series: &'static [&'static str],
    /// (metric, group_by).
    pub(crate) breakdowns: &'static [(&'static str, &'static str)],
}

pub(crate) const COMPANY_REPORT: ReportShape = ReportShape {
    metrics: &[
        "tickets_opened",
        "tickets_closed",
        "net_ticket_change",
        "open_backlog",
        "resolution_hours_avg",
        "resolution_hours_median",
        "sla_met_pct",
        "hours_worked",
        "billable_hours",
        "billed_amount",
        "effective_hourly_rate",
        "contacts",
    ],
    series: &["tickets_opened", "tickets_closed", "hours_worked"],
    breakdowns: &[
        ("tickets_opened", "type"),
        ("tickets_opened", "priority"),
        ("tickets_opened", "contact"),
        ("hours_worked", "member"),
        ("hours_worked", "work_type"),
    ],
};

const MEMBER_REPORT: ReportShape = ReportShape {
    metrics: &[
        "tickets_opened",
        "tickets_closed",
        "open_backlog",
        "resolution_hours_avg",
        "sla_met_pct",
        "hours_worked",
        "billable_hours",
        "billable_pct",
        "utilisation_pct",
        "billed_amount",
        "time_entries",
    ],
    series: &["hours_worked", "tickets_closed"],
    breakdowns: &[
        ("hours_worked", "company"),
        ("hours_worked", "work_type"),
        ("tickets_closed", "company"),
    ],
};

/// `GET /api/analytics/{companies,members}/{id}/report`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportView {
    /// The company or member (`connectwise:250`).
    pub id: String,
    /// Its name (as of `as_of`).
    pub name: Option<String>,
    pub period: PeriodView,
    /// Its figures for the period (tickets it raised or owns, hours logged for it or by
    /// it …), each with the previous period and its goal.
    pub metrics: Vec<MetricView>,
    /// The trends over the period.
    pub series: Vec<SeriesView>,
    /// Where its tickets and hours went (the ten largest groups each).
    pub breakdowns: Vec<MetricView>,
}

pub(crate) async fn report(
    state: &AppState,
    user: &AuthUser,
    table: avesa_model::CanonicalTable,
    filter: &str,
    shape: &ReportShape,
    id: String,
    p: MetricParams,
) -> Result<ReportView, ApiError> {
    p.refuse(
        "a report",
        &[
            ("group_by", p.group_by.is_some()),
            ("limit", p.limit.is_some()),
            ("metrics", p.metrics.is_some()),
            (filter, p.filter_pairs().iter().any(|(k, _)| *k == filter)),
        ],
    )?;
    let entity: avesa_warehouse::EntityId = id.parse()?;
    let settings = crate::tenant_settings::load(state, &user.tenant).await?;
    let (mut q, with_previous) = p.resolve(&settings, state.reads.minute())?;
    let as_of = q.as_of.map(|t| t.naive_utc());
    let Some(record) = state.warehouse.get(&user.tenant, table, &entity, as_of).await? else {
        return Err(ApiError::not_found(format!("no {} {id}", list_segment(table))));
    };
    q.filters = std::mem::take(&mut q.filters).with(filter, id.clone());
    let defs: Vec<Def> = shape
        .metrics
        .iter()
        .chain(shape.series)
        .chain(shape.breakdowns.iter().map(|(m, _)| m))
        .filter_map(|m| metric(m).map(Def::Builtin))
        .collect();
    resolve_search(state, user, &mut q, &defs.iter().collect::<Vec<_>>()).await?;
    let interval = match p.interval.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(i) => i.parse::<Interval>().map_err(MetricError::from)?,
        None => Interval::default_for(&q.period),
    };
    // The whole report's aggregates in one batch: its figures, trends and breakdowns of
    // one table share scans.
    let def = |m: &str| Def::Builtin(metric(m).expect("a built-in metric"));
    let metric_defs: Vec<Def> = shape.metrics.iter().map(|m| def(m)).collect();
    let series_defs: Vec<Def> = shape.series.iter().map(|m| def(m)).collect();
    let breakdown_defs: Vec<(Def, Vec<GroupBy>)> = shape
        .breakdowns
        .iter()
        .map(|(m, g)| {
            let d = def(m);
            let group = d.group_by(g)?;
            Ok((d, group))
        })
        .collect::<Result<_, MetricError>>()?;
    let mut batch = Batch::default();
    let metric_plans = metric_defs
        .iter()
        .map(|d| plan_view(d, &q, with_previous, None, 0, &mut batch))
        .collect::<Result<Vec<_>, _>>()?;
    let series_plans = series_defs
        .iter()
        .map(|d| plan_series_view(d, &q, with_previous, interval, &mut batch))
        .collect::<Result<Vec<_>, _>>()?;
    let breakdown_plans = breakdown_defs
        .iter()
        .map(|(d, g)| plan_view(d, &q, false, Some(g), 10, &mut batch))
        .collect::<Result<Vec<_>, _>>()?;
    let mut answers = batch.run(state.warehouse.as_ref(), &user.tenant).await?;
    let metric_values: Vec<ViewValues<'_>> =
        metric_plans.into_iter().map(|p| p.finish(&q, &mut answers)).collect();
    let series = series_plans
        .into_iter()
        .map(|p| p.finish(&q, &mut answers))
        .collect::<Result<Vec<_>, _>>()?;
    let breakdown_values: Vec<ViewValues<'_>> =
        breakdown_plans.into_iter().map(|p| p.finish(&q, &mut answers)).collect();
    // The breakdowns' names in one batch of reads.
    let n = metric_values.len();
    let mut all = views(
        state,
        user,
        &settings,
        &q,
        metric_values.into_iter().chain(breakdown_values).collect(),
    )
    .await?;
    let breakdowns = all.split_off(n);
    let metrics = all;
    let name = record.get("name").and_then(|v| v.as_str()).map(str::to_owned);
    Ok(ReportView { id, name, period: (&q.period).into(), metrics, series, breakdowns })
}

/// A company's report: its tickets, contacts, hours, SLA and money for a period, each
/// with the previous period and its goal, their trends, and where its tickets and hours
/// went. The data behind a client report.
#[utoipa::path(
    get,
    path = "/api/analytics/companies/{id}/report",
    tag = "analytics",
    params(("id" = String, Path, description = "The company's id (connectwise:250)."), MetricParams),
    responses((status = 200, description = "The report.", body = ReportView)),
    security(("bearer" = []))
)]
pub(crate) async fn company_report(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<MetricParams>,
) -> Result<Json<ReportView>, ApiError> {
    let t = avesa_model::CanonicalTable::Companies;
    Ok(Json(report(&state, &user, t, "company", &COMPANY_REPORT, id, p).await?))
}

/// A member's report: the tickets they own, their hours, utilisation and SLA for a
/// period, with the previous period and goals, trends, and where their hours went. The
/// data behind a technician review.
#[utoipa::path(
    get,
    path = "/api/analytics/members/{id}/report",
    tag = "analytics",
    params(("id" = String, Path, description = "The member's id (connectwise:167)."), MetricParams),
    responses((status = 200, description = "The report.", body = ReportView)),
    security(("bearer" = []))
)]
pub(crate) async fn member_report(
    user: AuthUser,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<MetricParams>,
) -> Result<Json<ReportView>, ApiError> {
    let t = avesa_model::CanonicalTable::Members;
    Ok(Json(report(&state, &user, t, "member", &MEMBER_REPORT, id, p).await?))
}

/// A metric in the catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub struct MetricInfo {
    pub id: String,
    pub label: String,
    pub description: String,
    pub unit: Unit,
    pub better: Better,
    /// The records it is computed from.
    pub table: String,
    /// What `group_by` accepts for it.
    pub group_by: Vec<String>,
    /// A calculated metric's expression (null for built-in metrics).
    pub expression: Option<String>,
    /// The goal an admin set on it.
    pub goal: Option<avesa_analytics::settings::Goal>,
}

/// A filter parameter.
#[derive(Debug, Serialize, ToSchema)]
pub struct FilterInfo {
    pub name: String,
    pub description: String,
}

/// `GET /api/analytics/metrics`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Catalogue {
    pub metrics: Vec<MetricInfo>,
    pub periods: Vec<String>,
    pub intervals: Vec<String>,
    pub filters: Vec<FilterInfo>,
}

/// Every metric, with its unit, direction and breakdowns; the named periods and the
/// filters.
#[utoipa::path(
    get,
    path = "/api/analytics/metrics",
    tag = "analytics",
    responses((status = 200, description = "The catalogue.", body = Catalogue)),
    security(("bearer" = []))
)]
pub(crate) async fn catalogue(
    user: AuthUser,
    State(state): State<AppState>,
    ApiQuery(NoParams {}): ApiQuery<NoParams>,
) -> Result<Json<Catalogue>, ApiError> {
    let settings = crate::tenant_settings::load(&state, &user.tenant).await?;
    let mut metrics: Vec<MetricInfo> = METRICS
        .iter()
        .map(|m| {
            let mut group_by: Vec<String> = DIMENSIONS
                .iter()
                .filter(|d| d.table == m.table)
                .filter(|d| {
                    m.formula != avesa_analytics::metrics::Formula::Utilisation
                        || d.name == "member"
                })
                .map(|d| d.name.to_owned())
                .collect();
            if GroupBy::parse(m, "age").is_ok() {
                group_by.push("age".into());
            }
            MetricInfo {
                id: m.id.into(),
                label: m.label.into(),
                description: m.description.into(),
                unit: m.unit,
                better: m.better,
                table: m.table.name().into(),
                group_by,
                expression: None,
                goal: settings.goals.get(m.id).cloned(),
            }
        })
        .collect();
    metrics.extend(settings.calculated.values().map(|c| MetricInfo {
        id: c.id.clone(),
        label: c.def.label.clone(),
        description: c.def.description.clone(),
        unit: c.def.unit,
        better: c.def.better,
        table: c.table().name().into(),
        group_by: c.group_names(),
        expression: Some(c.def.expression.clone()),
        goal: settings.goals.get(&c.id).cloned(),
    }));
    Ok(Json(Catalogue {
        metrics,
        periods: period::NAMED.iter().map(|s| (*s).to_owned()).collect(),
        intervals: ["day", "week", "month", "quarter"].map(String::from).to_vec(),
        filters: filters::names()
            .into_iter()
            .map(|n| FilterInfo { description: filters::describe(&n).unwrap_or_default(), name: n })
            .collect(),
    }))
}
