//! Many aggregates answered by few queries.
//!
//! A dashboard asks for a dozen metrics, each for its period and the previous one; a
//! client report for its figures, trends and breakdowns: dozens of aggregates, many over
//! the same rows (tickets closed in the period, of this company) and differing only in
//! what they compute (a count, a mean, a median, an SLA share). [`aggregate_all`] answers
//! those that read the same rows with one query ([`fuse`]): same table, instant, filter
//! and grouping, their measures side by side.
//!
//! Aggregates whose filters differ otherwise are not fused into measures: a filter the
//! query keeps in its `WHERE` is applied by the engine's scan (DuckDB skips whole row
//! groups by their date ranges), while the same filter moved into each measure's
//! `FILTER (WHERE …)` is evaluated for every row of the table by every measure; measured
//! at a million tickets, that costs more than the scans it saves (BENCHMARKS.md). One
//! difference is fused all the same ([`fuse_ranges`]): aggregates whose filters differ
//! only in the range of one date column, the ranges without overlap and near each other
//! (a period and the previous one, the buckets of a series), read from the first range's
//! start to the last one's end in one scan, grouped first by which range a row falls in
//! ([`Dim::Edges`] at the ranges' bounds): the `WHERE` still bounds the scan, each row is
//! read once, and the rows of a gap between ranges (no longer than either) are dropped.
//! Not when grouped by ids or references (tickets, contacts: possibly many groups, whose
//! sum over the ranges could pass the limit on groups that each keeps alone).
//!
//! The fused queries of one call run one after another: a request holds one read permit
//! of the API's read gate, and one query at a time is what that permit sizes. Each answer
//! is exactly what the aggregate alone answers (the conformance suite checks every
//! backend).

use std::ops::Range;

use avesa_model::TenantId;

use crate::aggregate::{AggRow, Aggregate, Col, Cond, Dim};
use crate::present::Cell;
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
    /// With ranges fused: the first group key of its rows (its range's [`Dim::Edges`]
    /// key), removed from its answer.
    range: Option<i64>,
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
                    Part { index: m, measures: start..query.measures.len(), range: None }
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
                let mut own: Vec<AggRow> = rows
                    .iter()
                    .filter_map(|r| match p.range {
                        None => Some(AggRow {
                            key: r.key.clone(),
                            values: r.values[p.measures.clone()].to_vec(),
                        }),
                        Some(k) if r.key.first() == Some(&Cell::Int(k)) => Some(AggRow {
                            key: r.key[1..].to_vec(),
                            values: r.values[p.measures.clone()].to_vec(),
                        }),
                        Some(_) => None,
                    })
                    .collect();
                if p.range.is_some() {
                    // What the aggregate alone answers: one row when ungrouped, even if
                    // none of its range's rows exist.
                    let mut alone = self.query.clone();
                    alone.group.remove(0);
                    alone.measures = alone.measures[p.measures.clone()].to_vec();
                    crate::aggregate::finish(&mut own, &alone);
                }
                (p.index, own)
            })
            .collect()
    }
}

/// A range of microseconds, `[from, to)`.
type Span = (i64, i64);

/// If `a` and `b` differ only in one condition each, both a range of the same date column
/// with both bounds: that column and their ranges.
fn range_difference(a: &Aggregate, b: &Aggregate) -> Option<(&'static str, Span, Span)> {
    // Groups by ids or references (tickets, contacts) can be many: merged, several
    // aggregates' groups could pass the limit on groups that each keeps alone.
    let many = |d: &Dim| matches!(d, Dim::Value(Col::Id | Col::Ref(_)));
    if a.table != b.table
        || a.as_of != b.as_of
        || a.group != b.group
        || a.group.iter().any(many)
        || a.top.is_some()
        || b.top.is_some()
        || a.filter.len() != b.filter.len()
    {
        return None;
    }
    let only = |x: &Aggregate, y: &Aggregate| -> Option<(&'static str, i64, i64)> {
        let mut diff = x.filter.iter().filter(|c| !y.filter.contains(c));
        match (diff.next(), diff.next()) {
            (Some(Cond::Within { column, from: Some(f), to: Some(t) }), None) if f < t => {
                Some((*column, *f, *t))
            }
            _ => None,
        }
    };
    let (ca, fa, ta) = only(a, b)?;
    let (cb, fb, tb) = only(b, a)?;
    (ca == cb).then_some((ca, (fa, ta), (fb, tb)))
}

/// Merges fused queries that differ only in the range of one date column, their ranges
/// apart and near each other (see the module docs). Each merged query reads from the
/// first range's start to the last one's end, grouped first by range; a query that fits
/// no other stays as it is.
pub fn fuse_ranges(fused: Vec<Fused>) -> Vec<Fused> {
    // Groups of queries, each with its range, all differing from the first in it only.
    let mut groups: Vec<(&'static str, Vec<(Fused, Span)>)> = Vec::new();
    let mut out: Vec<Fused> = Vec::new();
    'next: for f in fused {
        for (column, g) in &mut groups {
            let measures: usize = g.iter().map(|(x, _)| x.query.measures.len()).sum();
            if measures + f.query.measures.len() > MAX_FUSED_MEASURES {
                continue;
            }
            let Some((c, first, own)) = range_difference(&g[0].0.query, &f.query) else {
                continue;
            };
            if g.len() > 1 && (c != *column || g[0].1 != first) {
                continue;
            }
            let overlaps = |r: Span| own.0 < r.1 && r.0 < own.1;
            if overlaps(first) || g[1..].iter().any(|(_, r)| overlaps(*r)) {
                continue;
            }
            *column = c;
            g[0].1 = first;
            g.push((f, own));
            continue 'next;
        }
        // Alone so far: its column and range are known when a second query joins.
        let ranged = f
            .query
            .filter
            .iter()
            .any(|c| matches!(c, Cond::Within { from: Some(_), to: Some(_), .. }));
        if ranged {
            groups.push(("", vec![(f, (0, 0))]));
        } else {
            out.push(f);
        }
    }
    for (column, mut g) in groups {
        if g.len() == 1 {
            out.extend(g.into_iter().map(|(f, _)| f));
            continue;
        }
        g.sort_by_key(|(_, r)| *r);
        // Runs of ranges near each other, each run one query: a gap between two ranges
        // (a period to now and the previous one, which ends at the same time of day) is
        // read too, and is worth it while it is no longer than either range.
        let mut runs: Vec<Vec<(Fused, Span)>> = Vec::new();
        for m in g {
            let near = |r: &Span| {
                let gap = m.1.0 - r.1;
                gap <= (r.1 - r.0).min(m.1.1 - m.1.0)
            };
            match runs.last_mut() {
                Some(run) if run.last().is_some_and(|(_, r)| near(r)) => run.push(m),
                _ => runs.push(vec![m]),
            }
        }
        for run in runs {
            if run.len() == 1 {
                out.extend(run.into_iter().map(|(f, _)| f));
            } else {
                out.push(merge_run(column, run));
            }
        }
    }
    out
}

/// One query for a run of queries whose ranges of `column` are apart and near each other.
fn merge_run(column: &'static str, run: Vec<(Fused, Span)>) -> Fused {
    let (first, last) = (run[0].1.0, run[run.len() - 1].1.1);
    let mut query = run[0].0.query.clone();
    let own = Cond::Within { column, from: Some(first), to: Some(run[0].1.1) };
    for c in &mut query.filter {
        if *c == own {
            *c = Cond::Within { column, from: Some(first), to: Some(last) };
            break;
        }
    }
    // Edges at every range's start and at the end of one followed by a gap: a row's key
    // is how many edges are at or before it, so each range's rows have the key of its
    // start's position (plus one) and a gap's rows a key no range has.
    let mut edges: Vec<i64> = Vec::with_capacity(2 * run.len());
    for (i, (_, r)) in run.iter().enumerate() {
        edges.push(r.0);
        if run.get(i + 1).is_some_and(|(_, next)| next.0 > r.1) {
            edges.push(r.1);
        }
    }
    let keys: Vec<i64> = run
        .iter()
        .map(|(_, r)| edges.iter().position(|e| *e == r.0).map_or(0, |i| i as i64 + 1))
        .collect();
    query.group.insert(0, Dim::Edges { column, edges });
    query.measures.clear();
    let mut parts = Vec::new();
    for ((f, _), key) in run.into_iter().zip(keys) {
        let offset = query.measures.len();
        query.measures.extend(f.query.measures.iter().cloned());
        parts.extend(f.parts.into_iter().map(|p| Part {
            index: p.index,
            measures: p.measures.start + offset..p.measures.end + offset,
            range: Some(key),
        }));
    }
    Fused { query, parts }
}

/// The answers to `qs`, in order, asked of [`Warehouse::aggregate`] one after another: how a
/// backend that shares no work between them answers [`Warehouse::aggregate_many`].
pub async fn one_by_one<W: Warehouse + ?Sized>(
    wh: &W,
    tenant: &TenantId,
    qs: &[Aggregate],
) -> Result<Vec<Vec<AggRow>>> {
    let mut out = Vec::with_capacity(qs.len());
    for q in qs {
        out.push(wh.aggregate(tenant, q).await?);
    }
    Ok(out)
}

/// The answers to `aggs`, in order, each exactly what [`Warehouse::aggregate`] answers
/// for it alone, from as few queries as [`fuse`] makes, handed to the warehouse together
/// ([`Warehouse::aggregate_many`]).
pub async fn aggregate_all(
    wh: &dyn Warehouse,
    tenant: &TenantId,
    aggs: &[Aggregate],
) -> Result<Vec<Vec<AggRow>>> {
    for a in aggs {
        a.check()?;
    }
    let mut out: Vec<Option<Vec<AggRow>>> = vec![None; aggs.len()];
    let fused = fuse_ranges(fuse(aggs));
    let queries: Vec<Aggregate> = fused.iter().map(|f| f.query.clone()).collect();
    let answers = wh.aggregate_many(tenant, &queries).await?;
    if answers.len() != fused.len() {
        return Err(WarehouseError::Internal("the warehouse lost a fused aggregate".into()));
    }
    for (f, rows) in fused.iter().zip(answers) {
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
    fn ranges_side_by_side_share_a_scan_grouped_by_range() {
        let board = Cond::In(Col::Column("board"), vec!["Help Desk".into()]);
        let agg = |from, to| {
            let mut a = Aggregate::new(Tickets);
            a.filter = vec![within("opened_at", from, to), board.clone()];
            a.group = vec![Dim::Value(Col::Column("status"))];
            a.measures = vec![Measure::new(Agg::Count)];
            a
        };
        let mut median = agg(20, 30);
        median.measures =
            vec![Measure::new(Agg::Median(Expr::HoursBetween("opened_at", "closed_at")))];
        // This period (two aggregates of the same rows), the previous one, the one before;
        // and one that overlaps: it keeps its own scan.
        let aggs = [agg(20, 30), agg(10, 20), median, agg(0, 10), agg(5, 15)];
        let fused = fuse_ranges(fuse(&aggs));
        assert_eq!(fused.len(), 2, "{fused:#?}");
        let f = fused.iter().find(|f| f.parts.len() == 4).unwrap();
        assert_eq!(f.query.filter, vec![within("opened_at", 0, 30), board.clone()]);
        assert_eq!(
            f.query.group,
            vec![
                Dim::Edges { column: "opened_at", edges: vec![0, 10, 20] },
                Dim::Value(Col::Column("status")),
            ]
        );
        assert!(fused.iter().any(|f| f.query == aggs[4]), "the overlapping one alone");
        // Grouped by a reference (possibly many groups): each period keeps its own scan.
        let by_company = |from, to| {
            let mut a = agg(from, to);
            a.group = vec![Dim::Value(Col::Ref("company_id"))];
            a
        };
        assert_eq!(fuse_ranges(fuse(&[by_company(0, 10), by_company(10, 20)])).len(), 2);
        // Each member gets its range's rows, the range key removed; an empty range still
        // answers (its groups are none).
        let row = |k: i64, status: &str, values: Vec<Option<f64>>| AggRow {
            key: vec![Cell::Int(k), Cell::Text(status.into())],
            values,
        };
        let n = f.query.measures.len();
        let answer = vec![
            row(1, "New", vec![Some(1.0); n]),
            row(3, "New", vec![Some(3.0); n]),
            row(3, "Open", vec![Some(4.0); n]),
        ];
        let split: std::collections::BTreeMap<usize, Vec<AggRow>> =
            f.split(&answer).into_iter().collect();
        assert_eq!(split[&3].len(), 1, "the first range: key 1");
        assert_eq!(split[&3][0].key, vec![Cell::Text("New".into())]);
        assert_eq!(split[&0].len(), 2, "this period: key 3");
        assert_eq!(split[&2].len(), 2);
        assert!(split[&1].is_empty(), "the previous period has no rows");
        // Ungrouped: an empty range still answers one row (a count of zero).
        let mut total = agg(0, 10);
        total.group.clear();
        let mut before = total.clone();
        before.filter[0] = within("opened_at", 10, 20);
        let fused = fuse_ranges(fuse(&[total, before]));
        assert_eq!(fused.len(), 1);
        let split = fused[0]
            .split(&[AggRow { key: vec![Cell::Int(1)], values: vec![Some(2.0), Some(2.0)] }]);
        assert_eq!(split[1].1, vec![AggRow { key: vec![], values: vec![Some(0.0)] }]);
        assert_eq!(split[0].1, vec![AggRow { key: vec![], values: vec![Some(2.0)] }]);
    }

    #[test]
    fn ranges_with_a_short_gap_share_a_scan_and_the_gap_is_dropped() {
        let agg = |from, to| {
            let mut a = Aggregate::new(TimeEntries);
            a.filter = vec![within("time_start", from, to)];
            a.measures = vec![Measure::new(Agg::Sum(Expr::Number("actual_hours")))];
            a
        };
        // A period to now and the previous one ending at the same time of day; and one
        // far away.
        let aggs = [agg(100, 130), agg(70, 95), agg(0, 10)];
        let fused = fuse_ranges(fuse(&aggs));
        assert_eq!(fused.len(), 2, "{fused:#?}");
        let f = fused.iter().find(|f| f.parts.len() == 2).unwrap();
        assert_eq!(f.query.filter, vec![within("time_start", 70, 130)]);
        assert_eq!(
            f.query.group,
            vec![Dim::Edges { column: "time_start", edges: vec![70, 95, 100] }]
        );
        let row =
            |k: i64, v: f64| AggRow { key: vec![Cell::Int(k)], values: vec![Some(v), Some(v)] };
        // Key 2 is the gap.
        let split: std::collections::BTreeMap<usize, Vec<AggRow>> =
            f.split(&[row(1, 1.0), row(2, 2.0), row(3, 3.0)]).into_iter().collect();
        assert_eq!(split[&1], vec![AggRow { key: vec![], values: vec![Some(1.0)] }]);
        assert_eq!(split[&0], vec![AggRow { key: vec![], values: vec![Some(3.0)] }]);
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
