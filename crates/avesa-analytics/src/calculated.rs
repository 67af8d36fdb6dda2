//! Calculated metrics: a tenant's own metric, an arithmetic expression over built-in
//! metrics (`100 * tickets_closed / tickets_opened`, `tickets_opened / companies`),
//! evaluated for the same period, filters, `as_of`, breakdown and series as the metrics
//! it names, and checked when it is saved.
//!
//! An expression is numbers, metric ids, `+ - * /`, unary minus and parentheses. A
//! metric that is not available makes the result not available, and so does a division
//! by zero: never a silent zero.

use std::collections::BTreeMap;

use avesa_model::{CanonicalTable, TenantId};
use avesa_warehouse::Warehouse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::metrics::{
    Answers, Batch, Better, Evaluation, GroupBy, KeyCell, METRICS, Metric, MetricError, Planned,
    PlannedSeries, Query, Unit, metric, plan_series,
};
use crate::period::{Bucket, Interval, Period};

/// The longest expression.
pub const MAX_EXPRESSION: usize = 500;
/// The most metrics one expression may name.
pub const MAX_REFERENCES: usize = 8;
/// The deepest nesting of parentheses and unary minus.
const MAX_DEPTH: usize = 32;

/// A calculated metric as an admin defines it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalculatedDef {
    pub label: String,
    #[serde(default)]
    pub description: String,
    pub unit: Unit,
    pub better: Better,
    /// Numbers, built-in metric ids, `+ - * /` and parentheses:
    /// `100 * tickets_closed / tickets_opened`.
    pub expression: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Number(f64),
    /// An index into [`Calculated::refs`].
    Metric(usize),
    Neg(Box<Node>),
    Bin(Op, Box<Node>, Box<Node>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// A validated calculated metric.
#[derive(Clone, Debug)]
pub struct Calculated {
    pub id: String,
    pub def: CalculatedDef,
    /// The metrics the expression names, in order of first use.
    pub refs: Vec<&'static Metric>,
    expr: Node,
}

/// Checks a calculated metric's id: lower-case letters, digits and `_`, starting with a
/// letter, at most 48 characters, and not a built-in metric's.
pub fn check_id(id: &str) -> Result<(), String> {
    let ok = id.len() <= 48
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        return Err(format!(
            "id: {id:?} must be 1 to 48 lower-case letters, digits or _, starting with a letter"
        ));
    }
    if metric(id).is_some() {
        return Err(format!("id: {id:?} is a built-in metric; choose another id"));
    }
    Ok(())
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    refs: Vec<&'static Metric>,
    depth: usize,
}

impl Parser<'_> {
    fn err<T>(&self, what: impl std::fmt::Display) -> Result<T, String> {
        Err(format!("expression: {what} at character {}", self.pos + 1))
    }

    fn skip_space(&mut self) {
        while self.src[self.pos..].starts_with(|c: char| c.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_space();
        self.src[self.pos..].chars().next()
    }

    fn expr(&mut self) -> Result<Node, String> {
        let mut left = self.term()?;
        while let Some(c @ ('+' | '-')) = self.peek() {
            self.pos += 1;
            let right = self.term()?;
            let op = if c == '+' { Op::Add } else { Op::Sub };
            left = Node::Bin(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Node, String> {
        let mut left = self.unary()?;
        while let Some(c @ ('*' | '/')) = self.peek() {
            self.pos += 1;
            let right = self.unary()?;
            let op = if c == '*' { Op::Mul } else { Op::Div };
            left = Node::Bin(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(format_args!("nested more than {MAX_DEPTH} deep"));
        }
        let node = if self.peek() == Some('-') {
            self.pos += 1;
            Node::Neg(Box::new(self.unary()?))
        } else {
            self.atom()?
        };
        self.depth -= 1;
        Ok(node)
    }

    fn atom(&mut self) -> Result<Node, String> {
        let rest = &self.src[self.pos..];
        match self.peek() {
            None => self.err("a number, a metric or ( expected, found the end"),
            Some('(') => {
                self.pos += 1;
                let inner = self.expr()?;
                if self.peek() != Some(')') {
                    return self.err(") expected");
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => {
                let rest = &self.src[self.pos..];
                let len =
                    rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
                match rest[..len].parse::<f64>() {
                    Ok(v) => {
                        self.pos += len;
                        Ok(Node::Number(v))
                    }
                    Err(_) => self.err(format_args!("{:?} is not a number", &rest[..len])),
                }
            }
            Some(c) if c.is_ascii_lowercase() || c == '_' => {
                let rest = &self.src[self.pos..];
                let len = rest
                    .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                    .unwrap_or(rest.len());
                let name = &rest[..len];
                let Some(m) = metric(name) else {
                    return self.err(format_args!(
                        "{name:?} is not a built-in metric (GET /api/analytics/metrics lists them)"
                    ));
                };
                self.pos += len;
                let i = match self.refs.iter().position(|r| r.id == m.id) {
                    Some(i) => i,
                    None => {
                        if self.refs.len() == MAX_REFERENCES {
                            return self
                                .err(format_args!("more than {MAX_REFERENCES} metrics named"));
                        }
                        self.refs.push(m);
                        self.refs.len() - 1
                    }
                };
                Ok(Node::Metric(i))
            }
            Some(c) => {
                let _ = rest;
                self.err(format_args!("unexpected {c:?}"))
            }
        }
    }
}

fn eval(node: &Node, v: &dyn Fn(usize) -> Option<f64>) -> Option<f64> {
    let out = match node {
        Node::Number(n) => *n,
        Node::Metric(i) => v(*i)?,
        Node::Neg(a) => -eval(a, v)?,
        Node::Bin(op, a, b) => {
            let (a, b) = (eval(a, v)?, eval(b, v)?);
            match op {
                Op::Add => a + b,
                Op::Sub => a - b,
                Op::Mul => a * b,
                Op::Div if b == 0.0 => return None,
                Op::Div => a / b,
            }
        }
    };
    out.is_finite().then_some(out)
}

impl Calculated {
    /// Parses and checks a definition.
    pub fn new(id: &str, def: CalculatedDef) -> Result<Calculated, String> {
        check_id(id)?;
        if def.label.trim().is_empty() || def.label.chars().count() > 100 {
            return Err("label: give a label of 1 to 100 characters".into());
        }
        if def.description.chars().count() > 1000 {
            return Err("description: at most 1000 characters".into());
        }
        if def.expression.len() > MAX_EXPRESSION {
            return Err(format!("expression: at most {MAX_EXPRESSION} characters"));
        }
        let mut p = Parser { src: &def.expression, pos: 0, refs: Vec::new(), depth: 0 };
        let expr = p.expr()?;
        if p.peek().is_some() {
            return p.err("an operator or the end expected");
        }
        if p.refs.is_empty() {
            return Err("expression: name at least one metric".into());
        }
        let refs = p.refs;
        Ok(Calculated { id: id.to_owned(), def, refs, expr })
    }

    /// The value from the values of [`Calculated::refs`].
    pub fn apply(&self, values: &[Option<f64>]) -> Option<f64> {
        eval(&self.expr, &|i| values.get(i).copied().flatten())
    }

    /// The table of the first metric named: where the records behind the figure are
    /// listed.
    pub fn table(&self) -> CanonicalTable {
        self.refs[0].table
    }

    /// The breakdown `name` for every metric named, if each has it.
    pub fn group_by(&self, name: &str) -> Result<Vec<GroupBy>, MetricError> {
        self.refs
            .iter()
            .map(|m| {
                GroupBy::parse(m, name).map_err(|_| {
                    MetricError::BadRequest(format!(
                        "group_by: {} cannot be grouped by {name:?}: {} can not",
                        self.id, m.id
                    ))
                })
            })
            .collect()
    }

    /// The breakdowns every metric named has.
    pub fn group_names(&self) -> Vec<String> {
        let mut names: Vec<String> = crate::metrics::DIMENSIONS
            .iter()
            .map(|d| d.name.to_owned())
            .chain(std::iter::once("age".to_owned()))
            .collect();
        names.sort();
        names.dedup();
        names.retain(|n| self.group_by(n).is_ok());
        names
    }

    /// Evaluates each metric named over `period`, grouped alike, and the expression per
    /// group.
    pub async fn evaluate(
        &self,
        wh: &dyn Warehouse,
        tenant: &TenantId,
        q: &Query,
        period: &Period,
        group: Option<&[GroupBy]>,
    ) -> Result<Evaluation, MetricError> {
        let mut batch = Batch::default();
        let planned = self.plan(q, period, group, &mut batch)?;
        let mut answers = batch.run(wh, tenant).await?;
        Ok(self.finish(planned, q, &mut answers))
    }

    /// Adds the aggregates of each metric named to `batch`; [`Calculated::finish`]
    /// computes the evaluation from its answers.
    pub fn plan(
        &self,
        q: &Query,
        period: &Period,
        group: Option<&[GroupBy]>,
        batch: &mut Batch,
    ) -> Result<Vec<Planned>, MetricError> {
        self.refs
            .iter()
            .enumerate()
            .map(|(i, m)| m.plan(q, period, group.map(|g| g[i]), batch))
            .collect()
    }

    /// The evaluation of a [`Calculated::plan`] from its batch's answers.
    pub fn finish(&self, planned: Vec<Planned>, q: &Query, answers: &mut Answers) -> Evaluation {
        let parts: Vec<Evaluation> = planned.into_iter().map(|p| p.finish(q, answers)).collect();
        let mut keys: Vec<Vec<KeyCell>> =
            parts.iter().flat_map(|p| p.values.keys().cloned()).collect();
        keys.sort();
        keys.dedup();
        let mut values = BTreeMap::new();
        for key in keys {
            let v: Vec<Option<f64>> = parts
                .iter()
                .zip(&self.refs)
                .map(|(p, m)| p.values.get(&key).copied().unwrap_or_else(|| m.empty_value()))
                .collect();
            values.insert(key, self.apply(&v));
        }
        let mut ignored: Vec<String> = parts.into_iter().flat_map(|p| p.ignored_filters).collect();
        ignored.sort();
        ignored.dedup();
        Evaluation { values, ignored_filters: ignored }
    }

    /// The series: each metric named per bucket, and the expression per bucket.
    pub async fn series(
        &self,
        wh: &dyn Warehouse,
        tenant: &TenantId,
        q: &Query,
        period: &Period,
        interval: Interval,
    ) -> Result<Vec<(Bucket, Option<f64>)>, MetricError> {
        let mut batch = Batch::default();
        let planned = self.plan_series(q, period, interval, &mut batch)?;
        let mut answers = batch.run(wh, tenant).await?;
        Ok(self.finish_series(planned, q, &mut answers))
    }

    /// Adds the aggregates of each named metric's series to `batch`.
    pub fn plan_series(
        &self,
        q: &Query,
        period: &Period,
        interval: Interval,
        batch: &mut Batch,
    ) -> Result<Vec<PlannedSeries>, MetricError> {
        self.refs.iter().map(|m| plan_series(m, q, period, interval, batch)).collect()
    }

    /// The series of a [`Calculated::plan_series`] from its batch's answers.
    pub fn finish_series(
        &self,
        planned: Vec<PlannedSeries>,
        q: &Query,
        answers: &mut Answers,
    ) -> Vec<(Bucket, Option<f64>)> {
        let mut parts: Vec<Vec<(Bucket, Option<f64>)>> =
            planned.into_iter().map(|p| p.finish(q, answers)).collect();
        let first = parts.remove(0);
        first
            .into_iter()
            .enumerate()
            .map(|(i, (bucket, v0))| {
                let v: Vec<Option<f64>> = std::iter::once(v0)
                    .chain(parts.iter().map(|p| p.get(i).and_then(|(_, v)| *v)))
                    .collect();
                (bucket, self.apply(&v))
            })
            .collect()
    }
}

/// Every built-in metric id, for messages.
pub fn builtin_ids() -> Vec<&'static str> {
    METRICS.iter().map(|m| m.id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(expression: &str) -> CalculatedDef {
        CalculatedDef {
            label: "A ratio".into(),
            description: String::new(),
            unit: Unit::Percent,
            better: Better::Higher,
            expression: expression.into(),
        }
    }

    #[test]
    fn expressions_follow_arithmetic_and_say_not_available() {
        let c = Calculated::new("fcr", def("100 * tickets_closed / tickets_opened")).unwrap();
        assert_eq!(
            c.refs.iter().map(|m| m.id).collect::<Vec<_>>(),
            ["tickets_closed", "tickets_opened"]
        );
        assert_eq!(c.apply(&[Some(30.0), Some(40.0)]), Some(75.0));
        assert_eq!(c.apply(&[Some(30.0), Some(0.0)]), None, "division by zero");
        assert_eq!(c.apply(&[None, Some(40.0)]), None, "not available stays so");
        let c = Calculated::new("x", def("-(hours_worked - 2) * 3 + hours_worked / 4")).unwrap();
        assert_eq!(c.refs.len(), 1, "a metric named twice is read once");
        assert_eq!(c.apply(&[Some(8.0)]), Some(-18.0 + 2.0));
        let c = Calculated::new("y", def("1 - 2 - 3")).unwrap_err();
        assert!(c.contains("at least one metric"), "{c}");
        let c = Calculated::new("z", def("tickets_opened - 2 - 3")).unwrap();
        assert_eq!(c.apply(&[Some(10.0)]), Some(5.0), "left-associative");
    }

    #[test]
    fn bad_definitions_are_refused_with_where_and_why() {
        let err = |id: &str, e: &str| Calculated::new(id, def(e)).unwrap_err();
        assert!(err("ok", "tickets_opened / ").contains("found the end"));
        assert!(err("ok", "tickets_opened / nope").contains("\"nope\" is not a built-in metric"));
        assert!(err("ok", "(tickets_opened").contains(") expected"));
        assert!(err("ok", "tickets_opened tickets_closed").contains("operator or the end"));
        assert!(err("ok", "tickets_opened % 2").contains("at character 16"));
        assert!(err("ok", "1.2.3 * tickets_opened").contains("not a number"));
        assert!(err("ok", &"-".repeat(40)).contains("nested"));
        assert!(err("tickets_opened", "tickets_opened").starts_with("id:"));
        assert!(err("Bad-Id", "tickets_opened").starts_with("id:"));
        let mut long = def("tickets_opened");
        long.label = " ".into();
        assert!(Calculated::new("ok", long).unwrap_err().starts_with("label:"));
        let many = builtin_ids()[..MAX_REFERENCES + 1].join(" + ");
        assert!(err("ok", &many).contains("more than"));
    }

    #[test]
    fn breakdowns_are_those_every_metric_named_has() {
        let c = Calculated::new("r", def("billed_amount / hours_worked")).unwrap();
        assert!(c.group_names().contains(&"member".to_owned()));
        assert!(c.group_by("company").is_ok());
        let mixed = Calculated::new("m", def("tickets_opened / time_entries")).unwrap();
        assert!(mixed.group_by("status").is_err());
        assert!(mixed.group_by("company").is_ok(), "both tables have companies");
    }
}
