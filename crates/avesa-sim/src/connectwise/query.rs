//! Filtering, ordering and writing rows for list requests.

use std::cmp::Ordering;

use super::Table;
use super::data::Dataset;
use crate::conditions::{ConditionError, Expr, Field, FieldKind, OrderKey, Row, ci_cmp};
use crate::sink::{Lookup, PathCheck, Scalar, Selection, write_object};

/// One row of one table, as the condition evaluator sees it.
pub(super) struct RowRef<'a> {
    pub ds: &'a Dataset,
    pub t: Table,
    pub i: usize,
}

impl Row for RowRef<'_> {
    fn field(&self, field: &Field, hit: &mut dyn FnMut(Scalar<'_>)) {
        match field.kind {
            FieldKind::Id => hit(Scalar::Int(self.ds.id_at(self.t, self.i))),
            FieldKind::LastUpdated => hit(Scalar::Time(self.ds.last_updated_at(self.t, self.i))),
            FieldKind::Path => {
                let found = {
                    let mut lookup = Lookup::new(&field.path, hit);
                    self.ds.emit(self.t, self.i, &mut lookup);
                    lookup.found()
                };
                if !found {
                    hit(Scalar::Null);
                }
            }
        }
    }
}

/// Checks a field against the table's shape and picks the fast accessor where there is one.
/// A bare name that is not a top-level field but lives in `_info` (`lastUpdated`,
/// `dateEntered`, `updatedBy`, …) means `_info/<name>`, as ConnectWise accepts it.
pub(super) fn resolve_field(
    ds: &Dataset,
    t: Table,
    f: &mut Field,
    param: &str,
) -> Result<(), ConditionError> {
    let schema = &ds.schemas[t.index()];
    if f.path.len() == 1 && !schema.has_top(&f.path[0]) {
        let aliased = vec!["_info".to_string(), f.path[0].clone()];
        if schema.check(&aliased) == PathCheck::Leaf {
            f.path = aliased;
        }
    }
    f.kind = match f.path.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["id"] => FieldKind::Id,
        ["_info", "lastupdated"] => FieldKind::LastUpdated,
        _ => FieldKind::Path,
    };
    if ds.len(t) == 0 {
        return Ok(()); // nothing to learn a shape from; accept any field
    }
    match schema.check(&f.path) {
        PathCheck::Leaf => Ok(()),
        PathCheck::NotScalar => Err(ConditionError {
            message: format!(
                "{param}: '{}' is an object or a list; use one of its fields, e.g. {}/id",
                f.text, f.text
            ),
            position: f.pos,
        }),
        PathCheck::Unknown(_) => Err(ConditionError {
            message: format!("{param}: unknown field '{}' for {}", f.text, t.path()),
            position: f.pos,
        }),
    }
}

/// A sortable copy of one field value.
#[derive(Debug)]
enum Key {
    Null,
    Bool(bool),
    Int(i64),
    Num(f64),
    Time(i64),
    Str(String),
}

impl Key {
    fn of(v: Scalar<'_>) -> Key {
        match v {
            Scalar::Null => Key::Null,
            Scalar::Bool(b) => Key::Bool(b),
            Scalar::Int(i) => Key::Int(i),
            Scalar::Num(n) => Key::Num(n),
            Scalar::Str(s) => Key::Str(s.to_string()),
            Scalar::Time(t) => Key::Time(t),
            Scalar::Present => Key::Bool(true),
        }
    }
    fn rank(&self) -> u8 {
        match self {
            Key::Null => 0,
            Key::Bool(_) => 1,
            Key::Int(_) | Key::Num(_) => 2,
            Key::Time(_) => 3,
            Key::Str(_) => 4,
        }
    }
    fn cmp(&self, other: &Key) -> Ordering {
        match (self, other) {
            (Key::Bool(a), Key::Bool(b)) => a.cmp(b),
            (Key::Int(a), Key::Int(b)) => a.cmp(b),
            (Key::Int(a), Key::Num(b)) => (*a as f64).total_cmp(b),
            (Key::Num(a), Key::Int(b)) => a.total_cmp(&(*b as f64)),
            (Key::Num(a), Key::Num(b)) => a.total_cmp(b),
            (Key::Time(a), Key::Time(b)) => a.cmp(b),
            (Key::Str(a), Key::Str(b)) => ci_cmp(a, b).then_with(|| a.cmp(b)),
            (a, b) => a.rank().cmp(&b.rank()), // nulls first, as SQL Server sorts them
        }
    }
}

/// Indexes of served rows matching `cond`, in the order of `sorted` (every served row in
/// response order, from [`sort`]) or, without it, in id order.
pub(super) fn select(
    ds: &Dataset,
    t: Table,
    cond: Option<&Expr>,
    sorted: Option<(&[u32], &[OrderKey])>,
) -> Vec<u32> {
    let n = ds.len(t);
    let all = ds.live_len(t) == n;
    let keep =
        |i: usize| (all || ds.live(t, i)) && cond.is_none_or(|e| e.matches(&RowRef { ds, t, i }));
    let hit = |e: &Expr, i: u32| e.matches(&RowRef { ds, t, i: i as usize });
    match (sorted, cond) {
        (Some((rows, order)), Some(e)) if is_keyset_suffix(e, order) => {
            // The rows a keyset condition matches are a suffix of the sorted order, as an
            // index range scan would find them: binary search with the condition itself.
            let start = rows.partition_point(|&i| !hit(e, i));
            rows[start..].to_vec()
        }
        (Some((rows, _)), _) => {
            rows.iter().copied().filter(|&i| cond.is_none_or(|e| hit(e, i))).collect()
        }
        (None, None) if all => (0..n as u32).collect(),
        (None, _) => (0..n).filter(|&i| keep(i)).map(|i| i as u32).collect(),
    }
}

/// Whether `cond` is true exactly on a suffix of rows sorted by `order`: with the order
/// `lastUpdated asc, id asc`, the conditions `lastUpdated > [t]` or `>= [t]`, and the
/// keyset continuation `lastUpdated > [t] or (lastUpdated = [t] and id > n)`. (Both keys
/// are never null and compare numerically, so these conditions are monotone.)
fn is_keyset_suffix(cond: &Expr, order: &[OrderKey]) -> bool {
    use crate::conditions::{CmpOp, Literal};
    let asc =
        |i: usize, kind: FieldKind| order.get(i).is_some_and(|k| k.field.kind == kind && !k.desc);
    if !asc(0, FieldKind::LastUpdated) {
        return false;
    }
    let cmp = |e: &Expr, kind: FieldKind, ops: &[CmpOp]| match e {
        Expr::Cmp { field, op, value } if field.kind == kind && ops.contains(op) => {
            match (kind, value) {
                (FieldKind::LastUpdated, Literal::Time(t)) => Some(*t),
                (FieldKind::Id, Literal::Int(n)) => Some(*n),
                _ => None,
            }
        }
        _ => None,
    };
    match cond {
        e if cmp(e, FieldKind::LastUpdated, &[CmpOp::Gt, CmpOp::Ge]).is_some() => true,
        Expr::Or(v) if v.len() == 2 && asc(1, FieldKind::Id) => {
            let tie_break = |gt: &Expr, and: &Expr| {
                let Some(after) = cmp(gt, FieldKind::LastUpdated, &[CmpOp::Gt]) else {
                    return false;
                };
                let at = |x: &Expr, y: &Expr| {
                    cmp(x, FieldKind::LastUpdated, &[CmpOp::Eq]) == Some(after)
                        && cmp(y, FieldKind::Id, &[CmpOp::Gt]).is_some()
                };
                matches!(and, Expr::And(w) if w.len() == 2 && (at(&w[0], &w[1]) || at(&w[1], &w[0])))
            };
            tie_break(&v[0], &v[1]) || tie_break(&v[1], &v[0])
        }
        _ => false,
    }
}

/// Every served row in `order` (ties: id ascending).
///
/// The keys are read once into one flat vector (no allocation a row) and the row
/// numbers sorted by them, unstably: the id tie-break makes every order total. After
/// each `advance` the first keyset page of an incremental sorts every row again (550,000
/// tickets in the ingest bench), so this is the simulator's index build.
pub(super) fn sort(ds: &Dataset, t: Table, order: &[OrderKey]) -> Vec<u32> {
    let idx = select(ds, t, None, None);
    if is_default_order(order) {
        return idx; // rows are stored in id order
    }
    let width = order.len();
    let mut keys: Vec<Key> = Vec::with_capacity(idx.len() * width);
    for &i in &idx {
        let row = RowRef { ds, t, i: i as usize };
        for k in order {
            let mut key = Key::Null;
            row.field(&k.field, &mut |v| key = Key::of(v));
            keys.push(key);
        }
    }
    // Row numbers are positions in `idx`, which is in id order: `a.cmp(b)` is the tie-break.
    let mut pos: Vec<u32> = (0..idx.len() as u32).collect();
    pos.sort_unstable_by(|&a, &b| {
        let (ka, kb) = (&keys[a as usize * width..], &keys[b as usize * width..]);
        for (j, k) in order.iter().enumerate() {
            let o = ka[j].cmp(&kb[j]);
            let o = if k.desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        a.cmp(&b)
    });
    for p in &mut pos {
        *p = idx[*p as usize];
    }
    pos
}

/// Empty, or `id [asc]` alone.
pub(super) fn is_default_order(order: &[OrderKey]) -> bool {
    match order {
        [] => true,
        [k] => k.field.kind == FieldKind::Id && !k.desc,
        _ => false,
    }
}

/// Writes rows as a JSON array.
pub(super) fn write_rows(
    ds: &Dataset,
    t: Table,
    rows: impl Iterator<Item = usize>,
    sel: &Selection,
) -> String {
    let mut out = String::with_capacity(4096);
    out.push('[');
    for (n, i) in rows.enumerate() {
        if n > 0 {
            out.push(',');
        }
        write_object(&mut out, sel, |s| ds.emit(t, i, s));
    }
    out.push(']');
    out
}

/// Writes one row as a JSON object.
pub(super) fn write_row(ds: &Dataset, t: Table, i: usize, sel: &Selection) -> String {
    let mut out = String::with_capacity(2048);
    write_object(&mut out, sel, |s| ds.emit(t, i, s));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditions::{parse_conditions, parse_order_by};

    /// The binary-searched suffix equals filtering every row, at every position of a
    /// table with many equal `lastUpdated` values (and at positions between rows).
    #[test]
    fn keyset_suffix_equals_a_full_filter() {
        let sim = super::super::ConnectWiseSim::new();
        sim.add_company(super::super::CwCompanySpec {
            company_id: "q".into(),
            public_key: "p".into(),
            private_key: "k".into(),
            client_id: "c".into(),
            seed: 4,
            sizes: super::super::CwSizes::derived(5, 10, 800, 10, 2),
            now: crate::time::to_datetime(1_700_000_000),
        });
        // Many updates within two seconds: lastUpdated ties for the id to break.
        sim.advance(
            "q",
            crate::AdvanceSpec {
                duration: chrono::Duration::seconds(2),
                updates: 300,
                creates: 20,
                deletes: 5,
            },
        );
        let state = sim.state("q").unwrap();
        let ds = state.read();
        let t = Table::Tickets;
        let mut order = parse_order_by("_info/lastUpdated asc, id asc").unwrap();
        for k in &mut order {
            resolve_field(&ds, t, &mut k.field, "orderBy").unwrap();
        }
        let sorted = sort(&ds, t, &order);
        let stamps: std::collections::BTreeSet<i64> =
            sorted.iter().map(|&i| ds.last_updated_at(t, i as usize)).collect();
        assert!(stamps.len() < sorted.len(), "the table has ties to break");
        let key = |i: u32| (ds.last_updated_at(t, i as usize), ds.id_at(t, i as usize));
        assert!(sorted.windows(2).all(|w| key(w[0]) < key(w[1])), "in (lastUpdated, id) order");
        assert_eq!(sorted.len(), ds.live_len(t));
        let mut desc = parse_order_by("_info/lastUpdated desc, id asc").unwrap();
        for k in &mut desc {
            resolve_field(&ds, t, &mut k.field, "orderBy").unwrap();
        }
        let newest = sort(&ds, t, &desc);
        let dkey = |i: u32| {
            (std::cmp::Reverse(ds.last_updated_at(t, i as usize)), ds.id_at(t, i as usize))
        };
        assert!(newest.windows(2).all(|w| dkey(w[0]) < dkey(w[1])), "newest first, ties by id");
        let mut checked = 0;
        for (j, &i) in sorted.iter().enumerate().step_by(7) {
            let (at, id) = (ds.last_updated_at(t, i as usize), ds.id_at(t, i as usize));
            for (at, id) in [(at, id), (at, id - 1), (at - 1, 0), (at + 1, id)] {
                let when = crate::time::ts(at);
                for text in [
                    format!("lastUpdated > [{when}] or (lastUpdated = [{when}] and id > {id})"),
                    format!("(lastUpdated = [{when}] and id > {id}) or lastUpdated > [{when}]"),
                    format!("lastUpdated >= [{when}]"),
                    format!("lastUpdated > [{when}]"),
                ] {
                    let mut e = parse_conditions(&text).unwrap().unwrap();
                    e.fields_mut(&mut |f| resolve_field(&ds, t, f, "conditions")).unwrap();
                    assert!(is_keyset_suffix(&e, &order), "{text}");
                    let fast = select(&ds, t, Some(&e), Some((&sorted, &order)));
                    let slow: Vec<u32> = sorted
                        .iter()
                        .copied()
                        .filter(|&i| e.matches(&RowRef { ds: &ds, t, i: i as usize }))
                        .collect();
                    assert_eq!(fast, slow, "{text} (row {j})");
                    checked += 1;
                }
            }
        }
        assert!(checked > 400);
        // Anything else is filtered row by row.
        let mut e =
            parse_conditions("id > 5 or lastUpdated > [2020-01-01T00:00:00Z]").unwrap().unwrap();
        e.fields_mut(&mut |f| resolve_field(&ds, t, f, "conditions")).unwrap();
        assert!(!is_keyset_suffix(&e, &order));
    }
}
