//! ConnectWise `conditions` and `orderBy`: parser and evaluator.
//!
//! Grammar (keywords case-insensitive):
//!
//! ```text
//! expr       := and_expr ( OR and_expr )*
//! and_expr   := not_expr ( AND not_expr )*
//! not_expr   := NOT not_expr | '(' expr ')' | comparison
//! comparison := field op value
//!             | field [NOT] IN '(' value ( ',' value )* ')'
//!             | field [NOT] LIKE "pattern"          -- % any run, _ one character
//!             | field [NOT] CONTAINS "text"
//! op         := = | != | <> | < | <= | > | >=
//! value      := integer | decimal | "string" | true | false | null | [2024-01-01T00:00:00Z]
//! field      := name ( '/' name )*                  -- e.g. status/name, company/id
//! ```
//!
//! Semantics follow the SQL that ConnectWise runs behind it: string comparisons ignore case
//! (SQL Server's default collation), a comparison with a null field is false except
//! `= null` / `!= null`, date-times compare as instants (a quoted ISO string compared with a
//! date-time field is read as a date-time too), and numbers compare numerically across
//! integer and decimal.

use std::cmp::Ordering;

pub use crate::sink::Scalar;
use crate::time::{parse_ts, ts};

/// A literal on the right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(String),
    /// Unix seconds, from `[2024-01-01T00:00:00Z]`.
    Time(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn test(self, o: Ordering) -> bool {
        match self {
            CmpOp::Eq => o == Ordering::Equal,
            CmpOp::Ne => o != Ordering::Equal,
            CmpOp::Lt => o == Ordering::Less,
            CmpOp::Le => o != Ordering::Greater,
            CmpOp::Gt => o == Ordering::Greater,
            CmpOp::Ge => o != Ordering::Less,
        }
    }
}

/// How a field is read from a row: the two hot ones directly, the rest by path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldKind {
    Id,
    LastUpdated,
    #[default]
    Path,
}

/// A field reference as written (`status/name`) and as a lower-case path.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub text: String,
    pub path: Vec<String>,
    pub kind: FieldKind,
    /// Character position (1-based) in the source text, for error messages.
    pub pos: usize,
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Cmp {
        field: Field,
        op: CmpOp,
        value: Literal,
    },
    In {
        field: Field,
        values: Vec<Literal>,
    },
    /// Pattern kept lower-case.
    Like {
        field: Field,
        pattern: String,
    },
    /// Needle kept lower-case.
    Contains {
        field: Field,
        needle: String,
    },
}

/// A syntax error in `conditions` or `orderBy`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at position {position})")]
pub struct ConditionError {
    pub message: String,
    /// 1-based character position.
    pub position: usize,
}

fn err<T>(position: usize, message: impl Into<String>) -> Result<T, ConditionError> {
    Err(ConditionError { message: message.into(), position })
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Num(f64),
    Time(i64),
    Op(CmpOp),
    LParen,
    RParen,
    Comma,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Str(s) => format!("\"{s}\""),
            Tok::Int(i) => i.to_string(),
            Tok::Num(n) => n.to_string(),
            Tok::Time(t) => format!("[{}]", ts(*t)),
            Tok::Op(op) => format!("'{}'", op_text(*op)),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Comma => "','".into(),
        }
    }
    fn keyword(&self, kw: &str) -> bool {
        matches!(self, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }
}

fn op_text(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "=",
        CmpOp::Ne => "!=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
    }
}

const KEYWORDS: [&str; 9] = ["and", "or", "not", "in", "like", "contains", "true", "false", "null"];

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, ConditionError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let pos = i + 1;
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push((Tok::LParen, pos));
                i += 1;
            }
            ')' => {
                out.push((Tok::RParen, pos));
                i += 1;
            }
            ',' => {
                out.push((Tok::Comma, pos));
                i += 1;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return err(pos, "unterminated string: missing closing '\"'"),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') if matches!(chars.get(i + 1), Some('"' | '\\')) => {
                            s.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(&c) => {
                            s.push(c);
                            i += 1;
                        }
                    }
                }
                out.push((Tok::Str(s), pos));
            }
            '\'' => {
                return err(pos, "strings must be in double quotes, e.g. board/name=\"Help Desk\"");
            }
            '[' => {
                let Some(end) = chars[i..].iter().position(|&c| c == ']') else {
                    return err(pos, "unterminated date-time: missing closing ']'");
                };
                let inner: String = chars[i + 1..i + end].iter().collect();
                let Some(t) = parse_ts(&inner) else {
                    return err(
                        pos,
                        format!(
                            "invalid date-time [{inner}]; expected e.g. [2024-01-01T00:00:00Z]"
                        ),
                    );
                };
                out.push((Tok::Time(t), pos));
                i += end + 1;
            }
            '=' => {
                out.push((Tok::Op(CmpOp::Eq), pos));
                i += 1;
            }
            '!' => {
                if chars.get(i + 1) == Some(&'=') {
                    out.push((Tok::Op(CmpOp::Ne), pos));
                    i += 2;
                } else {
                    return err(pos, "unexpected '!': did you mean '!='?");
                }
            }
            '<' | '>' => {
                let next = chars.get(i + 1).copied();
                let (op, len) = match (c, next) {
                    ('<', Some('=')) => (CmpOp::Le, 2),
                    ('<', Some('>')) => (CmpOp::Ne, 2),
                    ('<', _) => (CmpOp::Lt, 1),
                    ('>', Some('=')) => (CmpOp::Ge, 2),
                    _ => (CmpOp::Gt, 1),
                };
                out.push((Tok::Op(op), pos));
                i += len;
            }
            c if c.is_ascii_digit()
                || (c == '-' || c == '.')
                    && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()) =>
            {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                if chars.get(i).is_some_and(|c| c.is_alphabetic() || *c == '_') {
                    return err(pos, "a number is followed by letters; quote text values");
                }
                let text: String = chars[start..i].iter().collect();
                let tok = if text.contains('.') {
                    match text.parse::<f64>() {
                        Ok(n) => Tok::Num(n),
                        Err(_) => return err(pos, format!("invalid number '{text}'")),
                    }
                } else {
                    match text.parse::<i64>() {
                        Ok(n) => Tok::Int(n),
                        Err(_) => return err(pos, format!("invalid integer '{text}'")),
                    }
                };
                out.push((tok, pos));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '/' | '.'))
                {
                    i += 1;
                }
                out.push((Tok::Ident(chars[start..i].iter().collect()), pos));
            }
            c => return err(pos, format!("unexpected character '{c}'")),
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Parser

struct Parser {
    toks: Vec<(Tok, usize)>,
    i: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|(t, _)| t)
    }
    fn pos(&self) -> usize {
        self.toks.get(self.i).map_or(self.end, |(_, p)| *p)
    }
    fn next(&mut self) -> Option<(Tok, usize)> {
        let t = self.toks.get(self.i).cloned();
        self.i += 1;
        t
    }
    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.peek().is_some_and(|t| t.keyword(kw)) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> Result<Expr, ConditionError> {
        let mut parts = vec![self.and_expr()?];
        while self.eat_kw("or") {
            parts.push(self.and_expr()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap_or(Expr::And(vec![]))
        } else {
            Expr::Or(parts)
        })
    }

    fn and_expr(&mut self) -> Result<Expr, ConditionError> {
        let mut parts = vec![self.not_expr()?];
        while self.eat_kw("and") {
            parts.push(self.not_expr()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap_or(Expr::And(vec![]))
        } else {
            Expr::And(parts)
        })
    }

    fn not_expr(&mut self) -> Result<Expr, ConditionError> {
        if self.eat_kw("not") {
            return Ok(Expr::Not(Box::new(self.not_expr()?)));
        }
        if self.peek() == Some(&Tok::LParen) {
            let open = self.pos();
            self.i += 1;
            let e = self.expr()?;
            return match self.next() {
                Some((Tok::RParen, _)) => Ok(e),
                Some((t, p)) => err(
                    p,
                    format!("expected ')' to close '(' at position {open}, found {}", t.describe()),
                ),
                None => err(self.end, format!("missing ')' to close '(' at position {open}")),
            };
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, ConditionError> {
        let field = match self.next() {
            Some((Tok::Ident(name), pos))
                if !KEYWORDS.iter().any(|k| name.eq_ignore_ascii_case(k)) =>
            {
                parse_field(&name, pos)?
            }
            Some((t, p)) => {
                return err(p, format!("expected a field name, found {}", t.describe()));
            }
            None => return err(self.end, "expected a condition but the text ended"),
        };
        let negate = self.eat_kw("not");
        let expr = match self.next() {
            Some((Tok::Op(op), _)) if !negate => {
                let value = self.value(op_text(op))?;
                Expr::Cmp { field, op, value }
            }
            Some((t, _)) if t.keyword("like") => {
                let pattern = self.string("like")?;
                Expr::Like { field, pattern: pattern.to_lowercase() }
            }
            Some((t, _)) if t.keyword("contains") => {
                let needle = self.string("contains")?;
                Expr::Contains { field, needle: needle.to_lowercase() }
            }
            Some((t, _)) if t.keyword("in") => {
                match self.next() {
                    Some((Tok::LParen, _)) => {}
                    Some((t, p)) => {
                        return err(p, format!("expected '(' after 'in', found {}", t.describe()));
                    }
                    None => return err(self.end, "expected '(' after 'in'"),
                }
                let mut values = vec![self.value("in (")?];
                loop {
                    match self.next() {
                        Some((Tok::Comma, _)) => values.push(self.value(",")?),
                        Some((Tok::RParen, _)) => break,
                        Some((t, p)) => {
                            return err(
                                p,
                                format!(
                                    "expected ',' or ')' in the 'in' list, found {}",
                                    t.describe()
                                ),
                            );
                        }
                        None => return err(self.end, "missing ')' to close the 'in' list"),
                    }
                }
                Expr::In { field, values }
            }
            Some((t, p)) => {
                let what = if negate {
                    "like, in or contains after 'not'"
                } else {
                    "an operator (=, !=, <, <=, >, >=, contains, like, in)"
                };
                return err(
                    p,
                    format!("expected {what} after field '{}', found {}", field.text, t.describe()),
                );
            }
            None => {
                return err(
                    self.end,
                    format!("expected an operator after field '{}' but the text ended", field.text),
                );
            }
        };
        Ok(if negate { Expr::Not(Box::new(expr)) } else { expr })
    }

    fn value(&mut self, after: &str) -> Result<Literal, ConditionError> {
        match self.next() {
            Some((Tok::Str(s), _)) => Ok(Literal::Str(s)),
            Some((Tok::Int(i), _)) => Ok(Literal::Int(i)),
            Some((Tok::Num(n), _)) => Ok(Literal::Num(n)),
            Some((Tok::Time(t), _)) => Ok(Literal::Time(t)),
            Some((t, _)) if t.keyword("true") => Ok(Literal::Bool(true)),
            Some((t, _)) if t.keyword("false") => Ok(Literal::Bool(false)),
            Some((t, _)) if t.keyword("null") => Ok(Literal::Null),
            Some((Tok::Ident(s), p)) => err(
                p,
                format!(
                    "expected a value after '{after}', found '{s}'; strings must be in double quotes, e.g. status/name=\"New\""
                ),
            ),
            Some((t, p)) => {
                err(p, format!("expected a value after '{after}', found {}", t.describe()))
            }
            None => err(self.end, format!("expected a value after '{after}' but the text ended")),
        }
    }

    fn string(&mut self, after: &str) -> Result<String, ConditionError> {
        match self.next() {
            Some((Tok::Str(s), _)) => Ok(s),
            Some((t, p)) => err(
                p,
                format!("expected a double-quoted string after '{after}', found {}", t.describe()),
            ),
            None => err(
                self.end,
                format!("expected a double-quoted string after '{after}' but the text ended"),
            ),
        }
    }
}

fn parse_field(text: &str, pos: usize) -> Result<Field, ConditionError> {
    let path: Vec<String> = text.split('/').map(str::to_ascii_lowercase).collect();
    if path.iter().any(String::is_empty) {
        return err(pos, format!("invalid field name '{text}'"));
    }
    Ok(Field { text: text.to_string(), path, kind: FieldKind::Path, pos })
}

/// Parses a `conditions` text. Empty (or blank) text is `Ok(None)`: no filter.
pub fn parse_conditions(src: &str) -> Result<Option<Expr>, ConditionError> {
    if src.trim().is_empty() {
        return Ok(None);
    }
    let toks = lex(src)?;
    let mut p = Parser { toks, i: 0, end: src.chars().count() + 1 };
    let e = p.expr()?;
    if let Some((t, pos)) = p.toks.get(p.i) {
        let hint = if *t == Tok::RParen {
            "unbalanced ')'"
        } else {
            "use 'and' / 'or' to combine conditions"
        };
        return err(
            *pos,
            format!("unexpected {} after a complete condition ({hint})", t.describe()),
        );
    }
    Ok(Some(e))
}

/// One `orderBy` key.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderKey {
    pub field: Field,
    pub desc: bool,
}

/// Parses `orderBy=lastUpdated asc, id desc`. Blank text is an empty list.
pub fn parse_order_by(src: &str) -> Result<Vec<OrderKey>, ConditionError> {
    let mut keys = Vec::new();
    let mut offset = 1;
    for part in src.split(',') {
        let pos = offset + part.len() - part.trim_start().len();
        offset += part.chars().count() + 1;
        let words: Vec<&str> = part.split_whitespace().collect();
        let (name, desc) = match words.as_slice() {
            [] if src.trim().is_empty() => continue,
            [] => return err(pos, "empty orderBy entry"),
            [name] => (*name, false),
            [name, dir] if dir.eq_ignore_ascii_case("asc") => (*name, false),
            [name, dir] if dir.eq_ignore_ascii_case("desc") => (*name, true),
            [_, dir] => {
                return err(pos, format!("orderBy direction must be asc or desc, found '{dir}'"));
            }
            _ => {
                return err(
                    pos,
                    format!("invalid orderBy entry '{}'; expected 'field [asc|desc]'", part.trim()),
                );
            }
        };
        if !name.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
            || !name.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '/' | '.'))
        {
            return err(pos, format!("invalid orderBy field '{name}'"));
        }
        keys.push(OrderKey { field: parse_field(name, pos)?, desc });
    }
    Ok(keys)
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// Gives the evaluator one field of one row. Implementations call `hit` exactly once
/// (with `Scalar::Null` for a missing value).
pub trait Row {
    fn field(&self, field: &Field, hit: &mut dyn FnMut(Scalar<'_>));
}

impl Expr {
    /// Every field the expression mentions, for validation and resolution.
    pub fn fields_mut(
        &mut self,
        f: &mut dyn FnMut(&mut Field) -> Result<(), ConditionError>,
    ) -> Result<(), ConditionError> {
        match self {
            Expr::And(v) | Expr::Or(v) => v.iter_mut().try_for_each(|e| e.fields_mut(f)),
            Expr::Not(e) => e.fields_mut(f),
            Expr::Cmp { field, .. }
            | Expr::In { field, .. }
            | Expr::Like { field, .. }
            | Expr::Contains { field, .. } => f(field),
        }
    }

    pub fn matches(&self, row: &dyn Row) -> bool {
        match self {
            Expr::And(v) => v.iter().all(|e| e.matches(row)),
            Expr::Or(v) => v.iter().any(|e| e.matches(row)),
            Expr::Not(e) => !e.matches(row),
            Expr::Cmp { field, op, value } => eval(row, field, |v| compare(v, *op, value)),
            Expr::In { field, values } => {
                eval(row, field, |v| values.iter().any(|l| compare(v, CmpOp::Eq, l)))
            }
            Expr::Like { field, pattern } => {
                eval(row, field, |v| text_of(v).is_some_and(|t| like(&t.to_lowercase(), pattern)))
            }
            Expr::Contains { field, needle } => eval(row, field, |v| {
                text_of(v).is_some_and(|t| t.to_lowercase().contains(needle.as_str()))
            }),
        }
    }
}

fn eval(row: &dyn Row, field: &Field, test: impl Fn(Scalar<'_>) -> bool) -> bool {
    let mut res = false;
    row.field(field, &mut |v| res = test(v));
    res
}

fn text_of(v: Scalar<'_>) -> Option<String> {
    match v {
        Scalar::Null | Scalar::Present => None,
        Scalar::Bool(b) => Some(b.to_string()),
        Scalar::Int(i) => Some(i.to_string()),
        Scalar::Num(n) => Some(n.to_string()),
        Scalar::Str(s) => Some(s.to_string()),
        Scalar::Time(t) => Some(ts(t)),
    }
}

/// Compares a field value with a literal under ConnectWise/SQL semantics.
pub fn compare(v: Scalar<'_>, op: CmpOp, lit: &Literal) -> bool {
    match (lit, v) {
        (Literal::Null, v) => match op {
            CmpOp::Eq => v == Scalar::Null,
            CmpOp::Ne => v != Scalar::Null,
            _ => false,
        },
        (_, Scalar::Null) => false,
        _ => order(v, lit).is_some_and(|o| op.test(o)),
    }
}

fn order(v: Scalar<'_>, lit: &Literal) -> Option<Ordering> {
    use Literal as L;
    use Scalar as S;
    match (v, lit) {
        (S::Int(a), L::Int(b)) => Some(a.cmp(b)),
        (S::Int(a), L::Num(b)) => (a as f64).partial_cmp(b),
        (S::Num(a), L::Int(b)) => a.partial_cmp(&(*b as f64)),
        (S::Num(a), L::Num(b)) => a.partial_cmp(b),
        (S::Int(a), L::Str(b)) => {
            b.trim().parse::<f64>().ok().and_then(|b| (a as f64).partial_cmp(&b))
        }
        (S::Num(a), L::Str(b)) => b.trim().parse::<f64>().ok().and_then(|b| a.partial_cmp(&b)),
        (S::Str(a), L::Int(b)) => {
            a.trim().parse::<f64>().ok().and_then(|a| a.partial_cmp(&(*b as f64)))
        }
        (S::Str(a), L::Num(b)) => a.trim().parse::<f64>().ok().and_then(|a| a.partial_cmp(b)),
        (S::Bool(a), L::Bool(b)) => Some(a.cmp(b)),
        (S::Bool(a), L::Str(b)) => match b.to_ascii_lowercase().as_str() {
            "true" => Some(a.cmp(&true)),
            "false" => Some(a.cmp(&false)),
            _ => None,
        },
        (S::Time(a), L::Time(b)) => Some(a.cmp(b)),
        (S::Time(a), L::Str(b)) => parse_ts(b).map(|b| a.cmp(&b)),
        (S::Str(a), L::Time(b)) => parse_ts(a).map(|a| a.cmp(b)),
        (S::Str(a), L::Str(b)) => Some(ci_cmp(a, b)),
        _ => None,
    }
}

/// Case-insensitive string ordering.
pub fn ci_cmp(a: &str, b: &str) -> Ordering {
    a.chars().flat_map(char::to_lowercase).cmp(b.chars().flat_map(char::to_lowercase))
}

/// SQL LIKE over lower-cased text: `%` matches any run, `_` one character.
fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    let (mut ti, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '%')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_ts;

    /// A flat test row: path text → value.
    struct TestRow(Vec<(&'static str, Scalar<'static>)>);

    impl Row for TestRow {
        fn field(&self, field: &Field, hit: &mut dyn FnMut(Scalar<'_>)) {
            let key = field.path.join("/");
            let key = if key == "lastupdated" { "_info/lastupdated".to_string() } else { key };
            hit(self
                .0
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&key))
                .map_or(Scalar::Null, |(_, v)| *v));
        }
    }

    fn ticket() -> TestRow {
        TestRow(vec![
            ("id", Scalar::Int(250_123)),
            ("summary", Scalar::Str("Printer offline in Accounting")),
            ("status/name", Scalar::Str("In Progress")),
            ("board/name", Scalar::Str("Help Desk")),
            ("company/id", Scalar::Int(301)),
            ("closedFlag", Scalar::Bool(false)),
            ("budgetHours", Scalar::Num(1.5)),
            ("closedDate", Scalar::Null),
            ("_info/lastUpdated", Scalar::Time(parse_ts("2024-03-08T21:59:20Z").unwrap())),
            ("severity", Scalar::Str("Medium")),
        ])
    }

    #[test]
    fn condition_table() {
        let row = ticket();
        let cases: &[(&str, bool)] = &[
            ("id = 250123", true),
            ("id=250124", false),
            ("id != 250124", true),
            ("id <> 250123", false),
            ("id > 250000 and id < 260000", true),
            ("id >= 250123 AND id <= 250123", true),
            ("company/id = 301", true),
            ("company/id = 301.0", true),
            ("company/id in (1, 2, 301)", true),
            ("company/id not in (1, 2, 301)", false),
            ("company/id IN (1,2)", false),
            ("board/name = \"Help Desk\"", true),
            ("board/name = \"help desk\"", true),
            ("board/name != \"Help Desk\"", false),
            ("status/name in (\"New\", \"In Progress\")", true),
            ("summary contains \"offline\"", true),
            ("summary CONTAINS \"OFFLINE\"", true),
            ("summary not contains \"offline\"", false),
            ("summary like \"Printer%\"", true),
            ("summary like \"%accounting\"", true),
            ("summary like \"%offline%\"", true),
            ("summary like \"Printer\"", false),
            ("summary like \"Printe_ offline%\"", true),
            ("summary not like \"Printer%\"", false),
            ("closedFlag = false", true),
            ("closedFlag = true", false),
            ("closedFlag=FALSE", true),
            ("closedDate = null", true),
            ("closedDate != null", false),
            ("closedDate > [2020-01-01T00:00:00Z]", false),
            ("budgetHours > 1", true),
            ("budgetHours = 1.5", true),
            ("budgetHours < 1.25", false),
            ("lastUpdated > [2024-03-08T21:59:19Z]", true),
            ("lastUpdated > [2024-03-08T21:59:20Z]", false),
            ("lastUpdated >= [2024-03-08T21:59:20Z]", true),
            ("lastUpdated = [2024-03-08T22:59:20+01:00]", true),
            ("_info/lastUpdated < [2024-03-09]", true),
            ("lastUpdated > \"2024-03-01T00:00:00Z\"", true),
            ("not closedFlag = true", true),
            ("NOT (closedFlag = false)", false),
            ("closedFlag = true or id = 250123", true),
            ("closedFlag = true or id = 1", false),
            ("(closedFlag = true or id = 250123) and board/name = \"Help Desk\"", true),
            ("closedFlag = true or id = 250123 and board/name = \"Network\"", false),
            (
                "(closedFlag = true or id = 250123) and (severity = \"Low\" or severity = \"Medium\")",
                true,
            ),
            ("((id = 1) or ((id = 250123)))", true),
            (
                "board/name=\"Help Desk\" and status/name not in (\"Closed\",\"Completed\") and lastUpdated>[2024-01-01T00:00:00Z]",
                true,
            ),
            ("summary = \"say \\\"hi\\\"\"", false),
            ("nosuch = null", true),
        ];
        for (src, want) in cases {
            let e = parse_conditions(src).unwrap_or_else(|e| panic!("{src}: {e}")).unwrap();
            assert_eq!(e.matches(&row), *want, "{src}");
        }
    }

    #[test]
    fn syntax_errors() {
        let cases: &[(&str, &str)] = &[
            ("id =", "expected a value"),
            ("id = 5 and", "expected a condition"),
            ("(id = 5", "missing ')'"),
            ("id = 5)", "unbalanced ')'"),
            ("id = 5 id = 6", "use 'and' / 'or'"),
            ("board/name = Help", "double quotes"),
            ("board/name = 'Help'", "double quotes"),
            ("board/name = \"Help", "unterminated string"),
            ("lastUpdated > [2024-13-01]", "invalid date-time"),
            ("lastUpdated > [2024-01-01", "unterminated date-time"),
            ("id ! 5", "'!='"),
            ("id 5", "expected an operator"),
            ("= 5", "expected a field name"),
            ("id in 1, 2", "expected '(' after 'in'"),
            ("id in (1 2)", "expected ',' or ')'"),
            ("id in ()", "expected a value"),
            ("summary like 5", "double-quoted string"),
            ("id not = 5", "like, in or contains"),
            ("id = 5 # 2", "unexpected character"),
            ("and = 5", "expected a field name"),
            ("id = 12ab", "followed by letters"),
            ("company/ = 5", "invalid field name"),
        ];
        for (src, want) in cases {
            let e = parse_conditions(src).expect_err(src);
            assert!(e.to_string().contains(want), "{src}: got '{e}', want '{want}'");
        }
        assert_eq!(parse_conditions("  ").unwrap(), None);
        let e = parse_conditions("id = 5 and (x = ").unwrap_err();
        assert_eq!(e.position, 17);
    }

    #[test]
    fn order_by() {
        let keys = parse_order_by("lastUpdated asc, id DESC,status/name").unwrap();
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[0].field.path, ["lastupdated"]);
        assert!(!keys[0].desc && keys[1].desc && !keys[2].desc);
        assert_eq!(keys[2].field.path, ["status", "name"]);
        assert!(parse_order_by("").unwrap().is_empty());
        assert!(parse_order_by("id up").unwrap_err().message.contains("asc or desc"));
        assert!(parse_order_by("id,,name").is_err());
        assert!(parse_order_by("id asc extra").is_err());
    }

    #[test]
    fn like_patterns() {
        assert!(like("abc", "a%"));
        assert!(like("abc", "%c"));
        assert!(like("abc", "%"));
        assert!(like("", "%"));
        assert!(!like("abc", "a_"));
        assert!(like("abc", "a_c"));
        assert!(like("aXbXc", "a%b%c"));
        assert!(!like("aXbX", "a%b%c"));
    }
}
