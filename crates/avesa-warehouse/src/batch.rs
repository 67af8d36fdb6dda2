//! Many aggregates answered by few queries.
//!
//! A dashboard asks for a dozen metrics, each for its period and the previous one, and a
//! backlog series for the backlog at the end of every week: dozens of aggregates over the
//! same table, differing only in a date range or an instant. Scanning the table once per
//! aggregate costs the scan dozens of times; [`aggregate_all`] answers them with one
//! query per table, instant and grouping instead ([`fuse`]): the filters every aggregate
//! of the group shares stay the query's filter, each aggregate's other filters become
//! conditions of its own measures (`count(*) FILTER (WHERE …)`), and, where rows are
//! grouped, a count of each aggregate's own rows tells which groups were its. Where every
//! aggregate of a group reads a date range of the same column, the query also keeps the
//! range that covers them all, so the engine still skips what lies outside it. The fused
//! queries of one call run one after another: a request holds one read permit of the
//! API's read gate, and one query at a time is what that permit sizes.
//!
//! The answer is exactly what each aggregate alone answers (the conformance suite checks
//! every backend), so callers gain speed without a second code path.

use std::ops::Range;

use avesa_model::TenantId;

use crate::aggregate::{Agg, AggRow, Aggregate, Cond, Measure};
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
    /// The column counting its own rows, where groups may hold none of them.
    own_rows: Option<usize>,
}

/// Can `b` share a query with `a`: same table, instant and grouping, neither cut to a top.
fn compatible(a: &Aggregate, b: &Aggregate) -> bool {
    a.table == b.table
        && a.as_of == b.as_of
        && a.group == b.group
        && a.top.is_none()
        && b.top.is_none()
}

/// Groups `aggs` into fused queries: each aggregate in exactly one; an aggregate that
/// can share with no other keeps its own query unchanged.
pub fn fuse(aggs: &[Aggregate]) -> Vec<Fused> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, a) in aggs.iter().enumerate() {
        let width = a.measures.len() + 1;
        let fits = |g: &Vec<usize>| {
            compatible(&aggs[g[0]], a)
                && g.iter().map(|j| aggs[*j].measures.len() + 1).sum::<usize>() + width
                    <= MAX_FUSED_MEASURES
        };
        match groups.iter_mut().find(|g| fits(g)) {
            Some(g) => g.push(i),
            None => groups.push(vec![i]),
        }
    }
    groups.into_iter().map(|g| fuse_group(aggs, &g)).collect()
}

fn fuse_group(aggs: &[Aggregate], members: &[usize]) -> Fused {
    let first = &aggs[members[0]];
    if members.len() == 1 {
        return Fused {
            query: first.clone(),
            parts: vec![Part {
                index: members[0],
                measures: 0..first.measures.len(),
                own_rows: None,
            }],
        };
    }
    // The filters every member has stay the query's.
    let shared: Vec<Cond> = first
        .filter
        .iter()
        .filter(|c| members.iter().all(|m| aggs[*m].filter.contains(c)))
        .cloned()
        .collect();
    let mut query = Aggregate {
        table: first.table,
        as_of: first.as_of,
        filter: shared.clone(),
        group: first.group.clone(),
        measures: vec![],
        top: None,
    };
    query.filter.extend(hulls(aggs, members, &shared));
    let mut parts = Vec::with_capacity(members.len());
    for &m in members {
        let a = &aggs[m];
        let own: Vec<Cond> = a.filter.iter().filter(|c| !shared.contains(c)).cloned().collect();
        let with_own = |when: Option<&Cond>| -> Option<Cond> {
            let mut all = own.clone();
            all.extend(when.cloned());
            match all.len() {
                0 => None,
                1 => all.pop(),
                _ => Some(Cond::All(all)),
            }
        };
        let start = query.measures.len();
        for measure in &a.measures {
            query
                .measures
                .push(Measure { agg: measure.agg.clone(), when: with_own(measure.when.as_ref()) });
        }
        let measures = start..query.measures.len();
        // Without a grouping there is one row whatever matched; with one, a group of the
        // shared filter's rows may hold none of this member's.
        let own_rows = (!query.group.is_empty() && !own.is_empty()).then(|| {
            query.measures.push(Measure { agg: Agg::Count, when: with_own(None) });
            query.measures.len() - 1
        });
        parts.push(Part { index: m, measures, own_rows });
    }
    Fused { query, parts }
}

/// For each timestamp column every member reads a range of (beyond the shared filter), the
/// range covering all of theirs: implied by each member's own filter, so adding it to the
/// query changes no answer, and it lets the engine skip rows outside every period.
fn hulls(aggs: &[Aggregate], members: &[usize], shared: &[Cond]) -> Vec<Cond> {
    let ranges = |m: usize| -> Vec<(&'static str, Option<i64>, Option<i64>)> {
        aggs[m]
            .filter
            .iter()
            .filter(|c| !shared.contains(c))
            .filter_map(|c| match c {
                Cond::Within { column, from, to } => Some((*column, *from, *to)),
                _ => None,
            })
            .collect()
    };
    let first = ranges(members[0]);
    let mut out = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (column, _, _) in &first {
        if seen.contains(column) {
            continue;
        }
        seen.push(column);
        let mut hull: Option<(Option<i64>, Option<i64>)> = None;
        let mut everywhere = true;
        for &m in members {
            // A member with several ranges of the column lies within each; any one bounds it.
            let Some((_, from, to)) = ranges(m).into_iter().find(|r| r.0 == *column) else {
                everywhere = false;
                break;
            };
            hull = Some(match hull {
                None => (from, to),
                Some((f, t)) => {
                    (f.zip(from).map(|(a, b)| a.min(b)), t.zip(to).map(|(a, b)| a.max(b)))
                }
            });
        }
        if let (true, Some((from, to))) = (everywhere, hull)
            && (from.is_some() || to.is_some())
        {
            out.push(Cond::Within { column, from, to });
        }
    }
    out
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
                    .filter(|r| p.own_rows.is_none_or(|c| r.values[c].unwrap_or(0.0) > 0.0))
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
/// for it alone, from as few queries as [`fuse`] makes, run one after another. A fused
/// query the backend refuses as too large (more groups than one answer may hold) is
/// retried as its members' own queries.
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
        let answer = match wh.aggregate(tenant, &f.query).await {
            Ok(rows) => f.split(&rows),
            Err(WarehouseError::BadRequest(_)) if f.parts.len() > 1 => {
                let mut own = Vec::with_capacity(f.parts.len());
                for i in f.members() {
                    own.push((i, wh.aggregate(tenant, &aggs[i]).await?));
                }
                own
            }
            Err(e) => return Err(e),
        };
        for (i, rows) in answer {
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
    use crate::aggregate::{Col, Dim, Expr};
    use avesa_model::CanonicalTable::{Tickets, TimeEntries};

    fn within(column: &'static str, from: i64, to: i64) -> Cond {
        Cond::Within { column, from: Some(from), to: Some(to) }
    }

    #[test]
    fn aggregates_of_one_table_instant_and_grouping_share_a_query() {
        let board = Cond::In(Col::Column("board"), vec!["Help Desk".into()]);
        let mut opened = Aggregate::new(Tickets);
        opened.filter = vec![board.clone(), within("opened_at", 10, 20)];
        opened.measures = vec![Measure::new(Agg::Count)];
        let mut before = opened.clone();
        before.filter[1] = within("opened_at", 0, 10);
        let mut hours = Aggregate::new(TimeEntries);
        hours.measures = vec![Measure::new(Agg::Sum(Expr::Number("actual_hours")))];
        let mut grouped = opened.clone();
        grouped.group = vec![Dim::Value(Col::Column("status"))];
        let fused = fuse(&[opened.clone(), hours.clone(), before, grouped.clone()]);
        assert_eq!(fused.len(), 3, "{fused:#?}");
        let f = &fused[0];
        assert_eq!(f.members().collect::<Vec<_>>(), [0, 2]);
        assert_eq!(
            f.query.filter,
            [board, within("opened_at", 0, 20)],
            "the shared filter stays the query's, with the range covering both periods"
        );
        assert_eq!(
            f.query.measures,
            [
                Measure::when(Agg::Count, within("opened_at", 10, 20)),
                Measure::when(Agg::Count, within("opened_at", 0, 10)),
            ]
        );
        assert_eq!(fused[1].query, hours, "alone, unchanged");
        assert_eq!(fused[2].query, grouped);
        let rows = [AggRow { key: vec![], values: vec![Some(3.0), Some(5.0)] }];
        assert_eq!(
            f.split(&rows),
            [
                (0, vec![AggRow { key: vec![], values: vec![Some(3.0)] }]),
                (2, vec![AggRow { key: vec![], values: vec![Some(5.0)] }]),
            ]
        );
    }

    #[test]
    fn grouped_members_keep_only_their_own_groups_and_tops_stay_alone() {
        let mut a = Aggregate::new(Tickets);
        a.group = vec![Dim::Value(Col::Column("status"))];
        a.filter = vec![within("opened_at", 0, 10)];
        a.measures = vec![Measure::new(Agg::Count)];
        let mut b = a.clone();
        b.filter = vec![within("opened_at", 10, 20)];
        let mut top = a.clone();
        top.top = Some(crate::aggregate::Top { measure: 0, descending: true, limit: 3 });
        let fused = fuse(&[a, b, top.clone()]);
        assert_eq!(fused.len(), 2);
        assert_eq!(fused[1].query, top);
        let f = &fused[0];
        assert_eq!(f.query.measures.len(), 4, "a count of each member's own rows");
        let key = |s: &str| vec![crate::present::Cell::Text(s.into())];
        let rows = [
            AggRow { key: key("New"), values: vec![Some(2.0), Some(2.0), Some(0.0), Some(0.0)] },
            AggRow { key: key("Open"), values: vec![Some(0.0), Some(0.0), Some(4.0), Some(4.0)] },
        ];
        let split = f.split(&rows);
        assert_eq!(split[0].1, [AggRow { key: key("New"), values: vec![Some(2.0)] }]);
        assert_eq!(split[1].1, [AggRow { key: key("Open"), values: vec![Some(4.0)] }]);
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
