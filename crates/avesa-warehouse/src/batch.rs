//! Many aggregates answered by few queries.
//!
//! A dashboard asks for a dozen metrics, each for its period and the previous one; a
//! client report for its figures, trends and breakdowns: dozens of aggregates, many over
//! the same rows (tickets closed in the period, of this company) and differing only in
//! what they compute (a count, a mean, a median, an SLA share). [`aggregate_all`] answers
//! those that read the same rows with one query ([`fuse`]): same table, instant, filter
//! and grouping, their measures side by side.
//!
//! Aggregates whose filters differ (this period and the previous one) are not fused: a
//! filter the query keeps in its `WHERE` is applied by the engine's scan (DuckDB skips
//! whole row groups by their date ranges), while the same filter moved into each
//! measure's `FILTER (WHERE …)` is evaluated for every row of the table by every measure;
//! measured at a million tickets, that costs more than the scans it saves (BENCHMARKS.md).
//!
//! The fused queries of one call run one after another: a request holds one read permit
//! of the API's read gate, and one query at a time is what that permit sizes. Each answer
//! is exactly what the aggregate alone answers (the conformance suite checks every
//! backend).

use std::ops::Range;

use avesa_model::TenantId;

use crate::aggregate::{AggRow, Aggregate};
use crate::{Result, Warehouse, WarehouseError};

/// The most measures one fused query computes; a larger group is split.
pub const MAX_FUSED_MEASURES: usize = 96;

/// Aggregates run as one query, and where each one's measures are in its answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Fused {
    pub query: Aggregate,
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq)]
struct Part {
    /// Index of the aggregate in the caller's list.
    index: usize,
    /// Its measures' columns in the fused answer.
    measures: Range<usize>,
}

/// Can `b` share a query with `a`: same table, instant, filter (in any order) and
/// grouping, neither cut to a top.
fn compatible(a: &Aggregate, b: &Aggregate) -> bool {
    a.table == b.table
        && a.as_of == b.as_of
        && a.group == b.group
        && a.top.is_none()
        && b.top.is_none()
        && a.filter.len() == b.filter.len()
        && a.filter.iter().all(|c| b.filter.contains(c))
        && b.filter.iter().all(|c| a.filter.contains(c))
}

/// Groups `aggs` into fused queries: each aggregate in exactly one; an aggregate that
/// can share with no other keeps its own query unchanged.
pub fn fuse(aggs: &[Aggregate]) -> Vec<Fused> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, a) in aggs.iter().enumerate() {
        let fits = |g: &Vec<usize>| {
            compatible(&aggs[g[0]], a)
                && g.iter().map(|j| aggs[*j].measures.len()).sum::<usize>() + a.measures.len()
                    <= MAX_FUSED_MEASURES
        };
        match groups.iter_mut().find(|g| fits(g)) {
            Some(g) => g.push(i),
            None => groups.push(vec![i]),
        }
    }
    groups
        .into_iter()
        .map(|members| {
            let mut query = aggs[members[0]].clone();
            query.measures.clear();
            let parts = members
                .into_iter()
                .map(|m| {
                    let start = query.measures.len();
                    query.measures.extend(aggs[m].measures.iter().cloned());
                    Part { index: m, measures: start..query.measures.len() }
                })
                .collect();
            Fused { query, parts }
        })
        .collect()
}

impl Fused {
    /// The indices (in the caller's list) of the aggregates this query answers.
    pub fn members(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().map(|p| p.index)
    }

    /// Splits the fused answer into each member's own answer, by index.
    pub fn split(&self, rows: &[AggRow]) -> Vec<(usize, Vec<AggRow>)> {
        self.parts
            .iter()
            .map(|p| {
                let own = rows
                    .iter()
                    .map(|r| AggRow {
                        key: r.key.clone(),
                        values: r.values[p.measures.clone()].to_vec(),
                    })
                    .collect();
                (p.index, own)
            })
            .collect()
    }
}

/// The answers to `aggs`, in order, each exactly what [`Warehouse::aggregate`] answers
/// for it alone, from as few queries as [`fuse`] makes, run one after another.
pub async fn aggregate_all(
    wh: &dyn Warehouse,
    tenant: &TenantId,
    aggs: &[Aggregate],
) -> Result<Vec<Vec<AggRow>>> {
    for a in aggs {
        a.check()?;
    }
    let mut out: Vec<Option<Vec<AggRow>>> = vec![None; aggs.len()];
    for f in fuse(aggs) {
        let rows = wh.aggregate(tenant, &f.query).await?;
        for (i, rows) in f.split(&rows) {
            out[i] = Some(rows);
        }
    }
    out.into_iter()
        .map(|o| {
            o.ok_or_else(|| WarehouseError::Internal("a fused aggregate lost a member".into()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{Agg, Col, Cond, Dim, Expr, Measure};
    use avesa_model::CanonicalTable::{Tickets, TimeEntries};

    fn within(column: &'static str, from: i64, to: i64) -> Cond {
        Cond::Within { column, from: Some(from), to: Some(to) }
    }

    #[test]
    fn aggregates_of_the_same_rows_share_a_query_and_others_keep_theirs() {
        let board = Cond::In(Col::Column("board"), vec!["Help Desk".into()]);
        let mut opened = Aggregate::new(Tickets);
        opened.filter = vec![board.clone(), within("opened_at", 10, 20)];
        opened.measures = vec![Measure::new(Agg::Count)];
        let mut median = opened.clone();
        // The same filter in another order.
        median.filter.reverse();
        median.measures =
            vec![Measure::new(Agg::Median(Expr::HoursBetween("opened_at", "closed_at")))];
        let mut before = opened.clone();
        before.filter[1] = within("opened_at", 0, 10);
        let mut hours = Aggregate::new(TimeEntries);
        hours.measures = vec![Measure::new(Agg::Sum(Expr::Number("actual_hours")))];
        let mut grouped = opened.clone();
        grouped.group = vec![Dim::Value(Col::Column("status"))];
        let mut top = grouped.clone();
        top.top = Some(crate::aggregate::Top { measure: 0, descending: true, limit: 3 });
        let aggs =
            [opened.clone(), hours.clone(), before.clone(), median, grouped.clone(), top.clone()];
        let fused = fuse(&aggs);
        assert_eq!(fused.len(), 5, "{fused:#?}");
        let f = &fused[0];
        assert_eq!(f.members().collect::<Vec<_>>(), [0, 3]);
        assert_eq!(f.query.filter, opened.filter);
        assert_eq!(f.query.measures.len(), 2);
        assert_eq!(fused[1].query, hours, "alone, unchanged");
        assert_eq!(fused[2].query, before, "another period: its own scan");
        assert_eq!(fused[3].query, grouped);
        assert_eq!(fused[4].query, top, "a top is never fused");
        let rows = [AggRow { key: vec![], values: vec![Some(3.0), Some(5.0)] }];
        assert_eq!(
            f.split(&rows),
            [
                (0, vec![AggRow { key: vec![], values: vec![Some(3.0)] }]),
                (3, vec![AggRow { key: vec![], values: vec![Some(5.0)] }]),
            ]
        );
    }

    #[test]
    fn a_fused_query_stays_under_its_measure_limit() {
        let mut a = Aggregate::new(Tickets);
        a.measures = vec![Measure::new(Agg::Count); 10];
        let fused = fuse(&vec![a; 30]);
        assert!(fused.iter().all(|f| f.query.measures.len() <= MAX_FUSED_MEASURES));
        assert_eq!(fused.iter().map(|f| f.parts.len()).sum::<usize>(), 30);
        assert!(fused.len() < 30);
    }
}
