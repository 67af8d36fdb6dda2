//! ServiceNow encoded queries (`sysparm_query`).
//!
//! Grammar, as ServiceNow reads it:
//!
//! * `^NQ` splits the query into sub-queries that are OR-ed as wholes;
//! * inside one, terms are joined by `^` (AND); a term written `^OR<term>` is OR-ed with the
//!   term before it, and OR binds tighter than AND: `a^b^ORc` is `a AND (b OR c)`;
//! * `ORDERBY<field>` / `ORDERBYDESC<field>` terms, anywhere (in any sub-query), order the
//!   whole result; several are sort keys in the order written; ties (and no ORDERBY at all)
//!   fall back to `sys_id` ascending; `^EQ` is accepted and ignored;
//! * a term is `<field><op><value>` with the operators `=`, `!=`, `>`, `>=`, `<`, `<=`,
//!   `STARTSWITH`, `ENDSWITH`, `LIKE` (contains), `NOTLIKE`, `IN` and `NOT IN` (comma lists),
//!   `ISEMPTY`, `ISNOTEMPTY`, `ANYTHING`.
//!
//! Comparison: reference fields compare by `sys_id` value; date, date-time and duration
//! fields compare as instants when the value parses as `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DD`
//! or `javascript:gs.dateGenerate('YYYY-MM-DD','HH:MM:SS')`; otherwise two numeric sides
//! compare as numbers, anything else as case-insensitive text. An empty field never
//! satisfies an ordering operator (`>`, `<`, …), like a SQL NULL.
//!
//! Invalid terms — an unknown field (dot-walked fields included) or an unknown operator —
//! are silently dropped, as a real instance does by default
//! (`glide.invalid_query.returns_no_rows=false`): `bogus=1^active=true` is `active=true`, and
//! a query that is nothing but invalid terms matches every record.

use std::cmp::Ordering;

use super::data::{Dataset, Kind, Row, Tab, V, push_raw};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    StartsWith,
    EndsWith,
    Like,
    NotLike,
    In,
    NotIn,
    IsEmpty,
    IsNotEmpty,
}

/// Operators by spelling, longest first where one is a prefix of another.
const OPS: [(&str, Option<Op>); 15] = [
    ("ISNOTEMPTY", Some(Op::IsNotEmpty)),
    ("ISEMPTY", Some(Op::IsEmpty)),
    ("STARTSWITH", Some(Op::StartsWith)),
    ("ENDSWITH", Some(Op::EndsWith)),
    ("NOTLIKE", Some(Op::NotLike)),
    ("NOT IN", Some(Op::NotIn)),
    ("LIKE", Some(Op::Like)),
    ("IN", Some(Op::In)),
    ("ANYTHING", None),
    ("!=", Some(Op::Ne)),
    (">=", Some(Op::Ge)),
    ("<=", Some(Op::Le)),
    ("=", Some(Op::Eq)),
    (">", Some(Op::Gt)),
    ("<", Some(Op::Lt)),
];

/// A literal, pre-parsed every way a comparison may need it.
#[derive(Clone, Debug)]
struct Lit {
    /// Lower-cased text.
    text: String,
    num: Option<f64>,
    time: Option<i64>,
}

#[derive(Clone, Debug)]
struct Term {
    col: usize,
    kind: Kind,
    op: Op,
    lits: Vec<Lit>,
}

/// A parsed encoded query for one table.
#[derive(Clone, Debug, Default)]
pub(crate) struct Query {
    /// `^NQ` sub-queries (OR), each an AND of OR-groups of terms.
    subs: Vec<Vec<Vec<Term>>>,
    /// (field index, descending)
    order: Vec<(usize, bool)>,
}

/// Parses `sysparm_query` for table `t`; never fails (invalid terms are dropped).
pub(crate) fn parse(t: Tab, raw: &str) -> Query {
    let mut q = Query::default();
    for sub in raw.split("^NQ") {
        let mut groups: Vec<Vec<Term>> = Vec::new();
        for (i, part) in sub.split('^').enumerate() {
            let part = part.trim();
            if part.is_empty() || part == "EQ" {
                continue;
            }
            if let Some(field) = part.strip_prefix("ORDERBYDESC") {
                if let Some(col) = t.field(field.trim()) {
                    q.order.push((col, true));
                }
                continue;
            }
            if let Some(field) = part.strip_prefix("ORDERBY") {
                if let Some(col) = t.field(field.trim()) {
                    q.order.push((col, false));
                }
                continue;
            }
            // `^OR…` joins the previous group; the first part of a sub-query cannot be an OR
            let (or, text) = match part.strip_prefix("OR") {
                Some(rest) if i > 0 => (true, rest),
                _ => (false, part),
            };
            let Some(term) = parse_term(t, text) else { continue };
            match groups.last_mut() {
                Some(g) if or => g.push(term),
                _ => groups.push(vec![term]),
            }
        }
        q.subs.push(groups);
    }
    q
}

fn parse_term(t: Tab, text: &str) -> Option<Term> {
    let name_len = text
        .bytes()
        .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'.')
        .count();
    let (name, rest) = text.split_at(name_len);
    let col = t.field(name)?;
    let kind = t.fields()[col].kind;
    let (spelling, op) = OPS.iter().find(|(s, _)| rest.starts_with(s))?;
    let op = (*op)?; // ANYTHING: no constraint
    let value = &rest[spelling.len()..];
    let lits = match op {
        Op::In | Op::NotIn => value.split(',').map(|v| lit(kind, v.trim())).collect(),
        Op::IsEmpty | Op::IsNotEmpty => Vec::new(),
        _ => vec![lit(kind, value)],
    };
    Some(Term { col, kind, op, lits })
}

fn lit(kind: Kind, value: &str) -> Lit {
    let time = match kind {
        Kind::Time | Kind::Date | Kind::Dur => parse_time(value),
        _ => None,
    };
    Lit { text: value.to_ascii_lowercase(), num: parse_num(value), time }
}

fn parse_num(s: &str) -> Option<f64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let ok = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|b| *b == b'.').count() <= 1
        && digits.bytes().any(|b| b.is_ascii_digit());
    if ok { s.parse().ok() } else { None }
}

/// `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DD` or `javascript:gs.dateGenerate('date','time')`.
fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(args) = s.strip_prefix("javascript:gs.dateGenerate(") {
        let args = args.strip_suffix(')')?;
        let mut parts = args.split(',').map(|a| a.trim().trim_matches(|c| c == '\'' || c == '"'));
        let date = parts.next()?;
        let time = match parts.next().unwrap_or("start") {
            "start" => "00:00:00",
            "end" => "23:59:59",
            t => t,
        };
        return crate::time::parse_ts(&format!("{date} {time}"));
    }
    if s.len() < 10 {
        return None;
    }
    crate::time::parse_ts(s)
}

/// Compares ASCII text case-insensitively without allocating.
fn ci_cmp(a: &str, b: &str) -> Ordering {
    a.bytes().map(|c| c.to_ascii_lowercase()).cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

fn ci_contains(hay: &str, needle_lower: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle_lower.as_bytes());
    n.is_empty()
        || h.windows(n.len()).any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
}

fn ci_starts(hay: &str, needle_lower: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle_lower.as_bytes());
    h.len() >= n.len() && h[..n.len()].iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b)
}

fn ci_ends(hay: &str, needle_lower: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle_lower.as_bytes());
    h.len() >= n.len()
        && h[h.len() - n.len()..].iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b)
}

/// The raw text of a value (borrowed when it is stored as text).
fn text<'a>(row: &'a Row, col: usize, kind: Kind, scratch: &'a mut String) -> &'a str {
    let v = &row.vals[col];
    if kind != Kind::Id
        && let Some(s) = v.as_str()
    {
        return s;
    }
    scratch.clear();
    if kind == Kind::Id {
        row.id.push(scratch);
    } else {
        push_raw(scratch, kind, v);
    }
    scratch
}

/// Orders a value against a literal; `None` when they do not compare (an empty field
/// against an ordering operator).
fn cmp_lit(row: &Row, col: usize, kind: Kind, lit: &Lit, scratch: &mut String) -> Option<Ordering> {
    let v = &row.vals[col];
    if kind != Kind::Id && v.is_empty() {
        return None;
    }
    match v {
        V::T(t) if lit.time.is_some() => return lit.time.map(|l| t.cmp(&l)),
        V::Int(i) if lit.num.is_some() => return lit.num.and_then(|n| (*i as f64).partial_cmp(&n)),
        V::S(_) | V::St(_) if lit.num.is_some() => {
            if let Some(n) = v.as_str().and_then(parse_num) {
                return lit.num.and_then(|l| n.partial_cmp(&l));
            }
        }
        _ => {}
    }
    Some(ci_cmp(text(row, col, kind, scratch), &lit.text))
}

fn equals(row: &Row, col: usize, kind: Kind, lit: &Lit, scratch: &mut String) -> bool {
    if kind != Kind::Id && row.vals[col].is_empty() {
        return lit.text.is_empty();
    }
    cmp_lit(row, col, kind, lit, scratch) == Some(Ordering::Equal)
}

impl Term {
    fn matches(&self, row: &Row, scratch: &mut String) -> bool {
        let (col, kind) = (self.col, self.kind);
        let first = || &self.lits[0];
        let ord = |scratch: &mut String| cmp_lit(row, col, kind, first(), scratch);
        let empty = kind != Kind::Id && row.vals[col].is_empty();
        match self.op {
            Op::Eq => equals(row, col, kind, first(), scratch),
            Op::Ne => !equals(row, col, kind, first(), scratch),
            Op::Gt => ord(scratch) == Some(Ordering::Greater),
            Op::Ge => matches!(ord(scratch), Some(Ordering::Greater | Ordering::Equal)),
            Op::Lt => ord(scratch) == Some(Ordering::Less),
            Op::Le => matches!(ord(scratch), Some(Ordering::Less | Ordering::Equal)),
            Op::StartsWith => ci_starts(text(row, col, kind, scratch), &first().text),
            Op::EndsWith => ci_ends(text(row, col, kind, scratch), &first().text),
            Op::Like => ci_contains(text(row, col, kind, scratch), &first().text),
            Op::NotLike => !ci_contains(text(row, col, kind, scratch), &first().text),
            Op::In => self.lits.iter().any(|l| equals(row, col, kind, l, scratch)),
            Op::NotIn => !self.lits.iter().any(|l| equals(row, col, kind, l, scratch)),
            Op::IsEmpty => empty,
            Op::IsNotEmpty => !empty,
        }
    }
}

/// Orders two rows by one field: empty first, instants and numbers numerically, references
/// by `sys_id`, text case-insensitively.
fn cmp_rows(a: &Row, b: &Row, col: usize, kind: Kind) -> Ordering {
    if kind == Kind::Id {
        return a.id.cmp(&b.id);
    }
    let (va, vb) = (&a.vals[col], &b.vals[col]);
    match (va.is_empty(), vb.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        _ => {}
    }
    match (va, vb) {
        (V::T(x), V::T(y)) => x.cmp(y),
        (V::Int(x), V::Int(y)) => x.cmp(y),
        (V::Bool(x), V::Bool(y)) => x.cmp(y),
        (V::Ref(_, x), V::Ref(_, y)) => x.cmp(y),
        _ => {
            let (sa, sb) = (va.as_str().unwrap_or_default(), vb.as_str().unwrap_or_default());
            match (parse_num(sa), parse_num(sb)) {
                (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
                _ => ci_cmp(sa, sb),
            }
        }
    }
}

impl Query {
    pub fn matches(&self, row: &Row, scratch: &mut String) -> bool {
        self.subs.is_empty()
            || self.subs.iter().any(|groups| {
                groups.iter().all(|g| g.iter().any(|term| term.matches(row, scratch)))
            })
    }

    pub fn has_order(&self) -> bool {
        !self.order.is_empty()
    }

    /// Indexes of the matching rows of `t`, in response order, and how many match. With
    /// `first = Some(k)` only the first `k` are needed: with an ORDERBY they are found by
    /// partial selection instead of a full sort, and the list is cut to `k`.
    pub fn select(&self, ds: &Dataset, t: Tab, first: Option<usize>) -> (Vec<u32>, usize) {
        let rows = ds.rows(t);
        let mut scratch = String::new();
        let mut out: Vec<u32> = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            if self.matches(r, &mut scratch) {
                out.push(i as u32);
            }
        }
        let total = out.len();
        if self.has_order() {
            let fields = t.fields();
            // row index order is sys_id order: the final tie-break
            let cmp = |a: &u32, b: &u32| {
                let (ra, rb) = (&rows[*a as usize], &rows[*b as usize]);
                for &(col, desc) in &self.order {
                    let o = cmp_rows(ra, rb, col, fields[col].kind);
                    let o = if desc { o.reverse() } else { o };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                a.cmp(b)
            };
            match first {
                Some(k) if k < out.len() => {
                    if k > 0 {
                        out.select_nth_unstable_by(k - 1, cmp);
                    }
                    out.truncate(k);
                    out.sort_unstable_by(cmp);
                }
                _ => out.sort_unstable_by(cmp),
            }
        } else if let Some(k) = first {
            out.truncate(k);
        }
        (out, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::servicenow::data::Id;

    fn row(t: Tab, id: u8, vals: &[(&str, V)]) -> Row {
        let mut r = Row::new(t, Id([id; 16]));
        for (name, v) in vals {
            r.vals[t.col(name)] = v.clone();
        }
        r
    }

    #[test]
    fn precedence_and_nq() {
        let t = Tab::Incident;
        let a = row(
            t,
            1,
            &[("state", V::St("1")), ("priority", V::St("1")), ("active", V::Bool(true))],
        );
        let b = row(
            t,
            2,
            &[("state", V::St("7")), ("priority", V::St("4")), ("active", V::Bool(false))],
        );
        let c = row(
            t,
            3,
            &[("state", V::St("2")), ("priority", V::St("5")), ("active", V::Bool(true))],
        );
        let m = |q: &str| -> Vec<u8> {
            let q = parse(t, q);
            let mut s = String::new();
            [&a, &b, &c].into_iter().filter(|r| q.matches(r, &mut s)).map(|r| r.id.0[0]).collect()
        };
        // a AND (b OR c)
        assert_eq!(m("active=true^priority=1^ORpriority=4"), vec![1]);
        assert_eq!(m("priority=4^ORpriority=5^active=true"), vec![3]);
        assert_eq!(m("state=7^NQpriority<=1"), vec![1, 2]);
        assert_eq!(m("stateIN1,2"), vec![1, 3]);
        assert_eq!(m("stateNOT IN1,2"), vec![2]);
        assert_eq!(m("bogus=1^active=false"), vec![2]);
        assert_eq!(m("bogus=1"), vec![1, 2, 3]);
        assert_eq!(m("priority>=4^ORDERBYDESCnumber"), vec![2, 3]);
        assert_eq!(m("sys_id>0101010101010101010101010101010101"), vec![2, 3]);
    }

    #[test]
    fn dates_and_text() {
        let t = Tab::Incident;
        let ts = crate::time::parse_ts("2024-01-05 00:00:00").unwrap();
        let a =
            row(t, 1, &[("sys_updated_on", V::T(ts)), ("short_description", V::s("Printer jam"))]);
        let q = |s: &str| parse(t, s).matches(&a, &mut String::new());
        assert!(q("sys_updated_on=2024-01-05 00:00:00"));
        assert!(q("sys_updated_on>=javascript:gs.dateGenerate('2024-01-05','00:00:00')"));
        assert!(!q("sys_updated_on>2024-01-05 00:00:00"));
        assert!(q("sys_updated_on<2024-01-06"));
        assert!(q("short_descriptionLIKEjam"));
        assert!(q("short_descriptionSTARTSWITHprinter"));
        assert!(q("short_descriptionENDSWITHJAM"));
        assert!(q("short_descriptionNOTLIKEscanner"));
        assert!(q("resolved_atISEMPTY"));
        assert!(!q("resolved_at<2030-01-01"));
        assert!(q("sys_updated_onLIKE2024-01"));
    }
}
