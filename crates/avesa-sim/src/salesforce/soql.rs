//! The SOQL subset the simulator understands, and how a parsed query runs over a table.
//!
//! ```text
//! SELECT field, … | COUNT()  FROM Object
//!   [WHERE cond]  [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST], …]  [LIMIT n]  [OFFSET n]
//! cond := cond AND cond | cond OR cond | NOT cond | ( cond )
//!       | field (= | != | <> | < | <= | > | >=) literal
//!       | field LIKE 'pattern' | field [NOT] IN (literal, …)
//! literal := 'text' (with \' \\ \n escapes) | number | true | false | null
//!          | 2024-01-01T00:00:00Z | 2024-01-01T00:00:00+00:00 | 2024-01-01T00:00:00.000+0000
//!          | 2024-01-01
//! ```
//!
//! As in Salesforce: keywords, object and field names are case-insensitive; mixing `AND` and
//! `OR` at one level without parentheses is an error; text comparisons and ordering ignore
//! case, id comparisons do not; a literal must match its field's type (date-times unquoted
//! and with a zone, text quoted); nulls sort first unless told otherwise; `OFFSET` is at
//! most 2000. `x != 'a'` is true when `x` is null.
//!
//! Errors carry Salesforce's codes (`MALFORMED_QUERY`, `INVALID_FIELD`, `INVALID_TYPE`,
//! `INVALID_QUERY_FILTER_OPERATOR`, `NUMBER_OUTSIDE_VALID_RANGE`) and messages in its
//! shape: the query, a caret under the bad token, `ERROR at Row:r:Column:c`, the reason.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate};

use super::schema::{Obj, Rec, Ty, Val, cmp_vals, normalize_id};

/// A query error: Salesforce error code and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SoqlError {
    pub code: &'static str,
    pub message: String,
}

pub const MALFORMED: &str = "MALFORMED_QUERY";
pub const INVALID_FIELD: &str = "INVALID_FIELD";
pub const INVALID_TYPE: &str = "INVALID_TYPE";
pub const INVALID_FILTER: &str = "INVALID_QUERY_FILTER_OPERATOR";
pub const OUT_OF_RANGE: &str = "NUMBER_OUTSIDE_VALID_RANGE";

/// Largest `OFFSET` Salesforce accepts.
pub const MAX_OFFSET: usize = 2000;

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(f64, bool),
    DateTime(i64),
    Date(i32),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    End,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    /// Byte offset in the query.
    at: usize,
    /// The token's text as written.
    text: String,
}

struct Ctx<'q> {
    q: &'q str,
}

impl Ctx<'_> {
    fn error(&self, code: &'static str, at: usize, reason: impl AsRef<str>) -> SoqlError {
        let before = &self.q[..at.min(self.q.len())];
        let row = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        let line_end = self.q[line_start..].find('\n').map_or(self.q.len(), |i| line_start + i);
        let line = &self.q[line_start..line_end];
        let caret = " ".repeat(col - 1);
        SoqlError {
            code,
            message: format!(
                "\n{line}\n{caret}^\nERROR at Row:{row}:Column:{col}\n{}",
                reason.as_ref()
            ),
        }
    }

    fn unexpected(&self, t: &Token) -> SoqlError {
        let shown = if t.tok == Tok::End { "<EOF>".to_string() } else { t.text.clone() };
        self.error(MALFORMED, t.at, format!("unexpected token: '{shown}'"))
    }
}

fn lex(cx: &Ctx<'_>) -> Result<Vec<Token>, SoqlError> {
    let q = cx.q;
    let b = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let tok = match c {
            b'(' => {
                i += 1;
                Tok::LParen
            }
            b')' => {
                i += 1;
                Tok::RParen
            }
            b',' => {
                i += 1;
                Tok::Comma
            }
            b'=' => {
                i += 1;
                Tok::Op("=")
            }
            b'!' if b.get(i + 1) == Some(&b'=') => {
                i += 2;
                Tok::Op("!=")
            }
            b'<' => match b.get(i + 1) {
                Some(b'=') => {
                    i += 2;
                    Tok::Op("<=")
                }
                Some(b'>') => {
                    i += 2;
                    Tok::Op("!=")
                }
                _ => {
                    i += 1;
                    Tok::Op("<")
                }
            },
            b'>' => {
                if b.get(i + 1) == Some(&b'=') {
                    i += 2;
                    Tok::Op(">=")
                } else {
                    i += 1;
                    Tok::Op(">")
                }
            }
            b'\'' => {
                i += 1;
                let mut s = String::new();
                let mut closed = false;
                let mut chars = q[i..].char_indices();
                while let Some((k, ch)) = chars.next() {
                    match ch {
                        '\'' => {
                            i += k + 1;
                            closed = true;
                            break;
                        }
                        '\\' => match chars.next() {
                            Some((_, e)) => s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                'b' => '\u{8}',
                                'f' => '\u{c}',
                                other => other,
                            }),
                            None => break,
                        },
                        ch => s.push(ch),
                    }
                }
                if !closed {
                    return Err(cx.error(MALFORMED, start, "unterminated string literal"));
                }
                Tok::Str(s)
            }
            b'0'..=b'9' | b'-' | b'+' | b'.' => {
                if let Some((len, tok)) = date_literal(&q[i..]) {
                    let Some(tok) = tok else {
                        return Err(cx.error(
                            MALFORMED,
                            start,
                            format!("unexpected token: '{}'", &q[i..i + len]),
                        ));
                    };
                    i += len;
                    tok
                } else {
                    let mut j = i;
                    if matches!(b[j], b'-' | b'+') {
                        j += 1;
                    }
                    let digits = j;
                    while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
                        j += 1;
                    }
                    let text = &q[i..j];
                    match text.parse::<f64>() {
                        Ok(v) if j > digits && v.is_finite() => {
                            i = j;
                            Tok::Num(v, !text.contains('.'))
                        }
                        _ => {
                            let end = (j.max(i + 1)..=q.len())
                                .find(|&e| q.is_char_boundary(e))
                                .unwrap_or(q.len());
                            return Err(cx.error(
                                MALFORMED,
                                start,
                                format!("unexpected token: '{}'", &q[start..end]),
                            ));
                        }
                    }
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.')
                {
                    i += 1;
                }
                Tok::Word(q[start..i].to_string())
            }
            _ => {
                let ch = q[i..].chars().next().unwrap_or('?');
                return Err(cx.error(MALFORMED, start, format!("unexpected token: '{ch}'")));
            }
        };
        out.push(Token { tok, at: start, text: q[start..i].to_string() });
    }
    out.push(Token { tok: Tok::End, at: q.len(), text: String::new() });
    Ok(out)
}

/// A date or date-time literal at the start of `s`: its length and value (`None` for
/// something shaped like one that is not valid, such as a date-time without a zone).
fn date_literal(s: &str) -> Option<(usize, Option<Tok>)> {
    let b = s.as_bytes();
    let digits = |from: usize, n: usize| {
        b.get(from..from + n).is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let shaped = digits(0, 4)
        && b.get(4) == Some(&b'-')
        && digits(5, 2)
        && b.get(7) == Some(&b'-')
        && digits(8, 2);
    if !shaped {
        return None;
    }
    if b.get(10) != Some(&b'T') {
        if b.get(10).is_some_and(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        let days = NaiveDate::parse_from_str(&s[..10], "%Y-%m-%d").ok().and_then(|d| {
            i32::try_from(d.signed_duration_since(NaiveDate::default()).num_days()).ok()
        });
        return Some((10, days.map(Tok::Date)));
    }
    let mut end = 11;
    while end < b.len() && (b[end].is_ascii_digit() || matches!(b[end], b':' | b'.')) {
        end += 1;
    }
    match b.get(end) {
        Some(b'Z' | b'z') => end += 1,
        Some(b'+' | b'-') => {
            end += 1;
            while end < b.len() && (b[end].is_ascii_digit() || b[end] == b':') {
                end += 1;
            }
        }
        _ => return Some((end, None)),
    }
    let text = &s[..end];
    let parsed = DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok();
    Some((end, parsed.map(|t| Tok::DateTime(t.timestamp_millis()))))
}

// ---------------------------------------------------------------------------------------------
// Parsed query

/// A literal as written.
#[derive(Clone, Debug, PartialEq)]
enum RawLit {
    Null,
    Bool(bool),
    Num(f64, bool),
    Str(String),
    DateTime(i64),
    Date(i32),
}

/// A literal converted to its field's type.
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    Null,
    Val(Val),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Cmp { field: usize, ty: Ty, op: Cmp, lit: Lit },
    In { field: usize, ty: Ty, lits: Vec<Lit>, negated: bool },
    Like { field: usize, pattern: Vec<LikeTok> },
}

#[derive(Clone, Debug, PartialEq)]
pub enum LikeTok {
    /// `%`
    Any,
    /// `_`
    One,
    /// A literal byte, lower-cased.
    Byte(u8),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OrderKey {
    pub field: usize,
    pub ty: Ty,
    pub desc: bool,
    pub nulls_first: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Select {
    Count,
    Fields(Vec<usize>),
}

/// A parsed, resolved query.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub obj: Obj,
    pub select: Select,
    pub filter: Option<Expr>,
    pub order: Vec<OrderKey>,
    pub limit: Option<usize>,
    pub offset: usize,
}

const RESERVED: [&str; 18] = [
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "LIMIT", "OFFSET",
    "NULL", "TRUE", "FALSE", "ASC", "DESC", "NULLS",
];

struct Parser<'q> {
    cx: Ctx<'q>,
    toks: Vec<Token>,
    pos: usize,
    obj: Obj,
}

/// Parses and resolves a SOQL query.
pub fn parse(q: &str) -> Result<Query, SoqlError> {
    let cx = Ctx { q };
    let toks = lex(&cx)?;
    let mut p = Parser { cx, toks, pos: 0, obj: Obj::Account };
    p.query()
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.peek().tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let yes = self.is_kw(kw);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), SoqlError> {
        if self.eat_kw(kw) { Ok(()) } else { Err(self.cx.unexpected(self.peek())) }
    }

    fn expect(&mut self, tok: Tok) -> Result<(), SoqlError> {
        if self.peek().tok == tok {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.cx.unexpected(self.peek()))
        }
    }

    /// A field or object name (not a reserved word).
    fn name(&mut self) -> Result<Token, SoqlError> {
        let t = self.peek().clone();
        match &t.tok {
            Tok::Word(w) if !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(w)) => {
                self.pos += 1;
                Ok(t)
            }
            _ => Err(self.cx.unexpected(&t)),
        }
    }

    fn query(&mut self) -> Result<Query, SoqlError> {
        self.expect_kw("SELECT")?;
        enum RawSelect {
            Count,
            Fields(Vec<Token>),
        }
        let select = if self.is_kw("COUNT")
            && matches!(self.toks.get(self.pos + 1).map(|t| &t.tok), Some(Tok::LParen))
        {
            let count = self.next();
            self.next();
            if self.peek().tok != Tok::RParen {
                return Err(self.cx.error(
                    MALFORMED,
                    count.at,
                    "COUNT(field) and other aggregate functions are not supported by this simulator; use COUNT()",
                ));
            }
            self.next();
            RawSelect::Count
        } else {
            let mut fields = vec![self.name()?];
            while self.peek().tok == Tok::Comma {
                self.next();
                fields.push(self.name()?);
            }
            RawSelect::Fields(fields)
        };
        self.expect_kw("FROM")?;
        let object = self.name()?;
        self.obj = Obj::from_name(&object.text).ok_or_else(|| {
            self.cx.error(
                INVALID_TYPE,
                object.at,
                format!(
                    "sObject type '{}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.",
                    object.text
                ),
            )
        })?;
        let select = match select {
            RawSelect::Count => Select::Count,
            RawSelect::Fields(tokens) => {
                let mut out: Vec<usize> = Vec::with_capacity(tokens.len());
                for t in &tokens {
                    let (i, _) = self.resolve(t)?;
                    if out.contains(&i) {
                        return Err(self.cx.error(
                            MALFORMED,
                            t.at,
                            format!("duplicate field selected: {}", self.obj.fields()[i].name),
                        ));
                    }
                    out.push(i);
                }
                Select::Fields(out)
            }
        };
        let filter = if self.eat_kw("WHERE") { Some(self.expr()?) } else { None };
        let mut order = Vec::new();
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            loop {
                let t = self.name()?;
                let (field, ty) = self.resolve(&t)?;
                let desc = if self.eat_kw("DESC") {
                    true
                } else {
                    self.eat_kw("ASC");
                    false
                };
                let mut nulls_first = true;
                if self.eat_kw("NULLS") {
                    if self.eat_kw("LAST") {
                        nulls_first = false;
                    } else {
                        self.expect_kw("FIRST")?;
                    }
                }
                order.push(OrderKey { field, ty, desc, nulls_first });
                if self.peek().tok != Tok::Comma {
                    break;
                }
                self.next();
            }
        }
        let limit = if self.eat_kw("LIMIT") { Some(self.count_arg()?) } else { None };
        let mut offset = 0;
        if self.is_kw("OFFSET") {
            let kw = self.next();
            offset = self.count_arg()?;
            if offset > MAX_OFFSET {
                return Err(self.cx.error(
                    OUT_OF_RANGE,
                    kw.at,
                    format!("Maximum SOQL offset allowed is {MAX_OFFSET}"),
                ));
            }
        }
        if self.peek().tok != Tok::End {
            return Err(self.cx.unexpected(self.peek()));
        }
        Ok(Query { obj: self.obj, select, filter, order, limit, offset })
    }

    fn count_arg(&mut self) -> Result<usize, SoqlError> {
        let t = self.next();
        match t.tok {
            Tok::Num(v, true) if v >= 0.0 && v <= usize::MAX as f64 => Ok(v as usize),
            _ => Err(self.cx.unexpected(&t)),
        }
    }

    fn resolve(&self, t: &Token) -> Result<(usize, Ty), SoqlError> {
        match self.obj.field(&t.text) {
            Some(i) => Ok((i, self.obj.fields()[i].ty)),
            None => Err(self.cx.error(
                INVALID_FIELD,
                t.at,
                format!(
                    "No such column '{}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
                    t.text,
                    self.obj.name()
                ),
            )),
        }
    }

    /// `a AND b AND …` or `a OR b OR …`; mixing needs parentheses.
    fn expr(&mut self) -> Result<Expr, SoqlError> {
        let first = self.unary()?;
        let joiner = if self.is_kw("AND") {
            "AND"
        } else if self.is_kw("OR") {
            "OR"
        } else {
            return Ok(first);
        };
        let mut items = vec![first];
        while self.eat_kw(joiner) {
            items.push(self.unary()?);
        }
        if self.is_kw("AND") || self.is_kw("OR") {
            return Err(self.cx.unexpected(self.peek()));
        }
        Ok(if joiner == "AND" { Expr::And(items) } else { Expr::Or(items) })
    }

    fn unary(&mut self) -> Result<Expr, SoqlError> {
        if self.eat_kw("NOT") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek().tok == Tok::LParen {
            self.next();
            let e = self.expr()?;
            self.expect(Tok::RParen)?;
            return Ok(e);
        }
        self.condition()
    }

    fn condition(&mut self) -> Result<Expr, SoqlError> {
        let ft = self.name()?;
        let (field, ty) = self.resolve(&ft)?;
        let op_tok = self.next();
        let name = self.obj.fields()[field].name;
        match &op_tok.tok {
            Tok::Op(op) => {
                let op = match *op {
                    "=" => Cmp::Eq,
                    "!=" => Cmp::Ne,
                    "<" => Cmp::Lt,
                    "<=" => Cmp::Le,
                    ">" => Cmp::Gt,
                    _ => Cmp::Ge,
                };
                let lt = self.next();
                let raw = self.literal(&lt)?;
                if ty == Ty::Bool && !matches!(op, Cmp::Eq | Cmp::Ne) {
                    return Err(self.cx.error(
                        INVALID_FIELD,
                        op_tok.at,
                        format!("invalid operator on boolean field: {name}"),
                    ));
                }
                let lit = self.typed(&lt, raw, name, ty)?;
                Ok(Expr::Cmp { field, ty, op, lit })
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("LIKE") => {
                let lt = self.next();
                let Tok::Str(pattern) = &lt.tok else {
                    return Err(self.type_error(&lt, name, Ty::Str));
                };
                if !matches!(ty, Ty::Str | Ty::Pick) {
                    return Err(self.cx.error(
                        INVALID_FIELD,
                        op_tok.at,
                        format!("invalid operator on {} field: {name}", ty.soap_name()),
                    ));
                }
                Ok(Expr::Like { field, pattern: like_pattern(pattern) })
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("IN") || w.eq_ignore_ascii_case("NOT") => {
                let negated = w.eq_ignore_ascii_case("NOT");
                if negated {
                    self.expect_kw("IN")?;
                }
                self.expect(Tok::LParen)?;
                let mut lits = Vec::new();
                loop {
                    let lt = self.next();
                    let raw = self.literal(&lt)?;
                    lits.push(self.typed(&lt, raw, name, ty)?);
                    if self.peek().tok == Tok::Comma {
                        self.next();
                        continue;
                    }
                    break;
                }
                self.expect(Tok::RParen)?;
                Ok(Expr::In { field, ty, lits, negated })
            }
            _ => Err(self.cx.unexpected(&op_tok)),
        }
    }

    fn literal(&self, t: &Token) -> Result<RawLit, SoqlError> {
        Ok(match &t.tok {
            Tok::Str(s) => RawLit::Str(s.clone()),
            Tok::Num(v, int) => RawLit::Num(*v, *int),
            Tok::DateTime(ms) => RawLit::DateTime(*ms),
            Tok::Date(d) => RawLit::Date(*d),
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => RawLit::Null,
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => RawLit::Bool(true),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => RawLit::Bool(false),
            _ => return Err(self.cx.unexpected(t)),
        })
    }

    fn type_error(&self, t: &Token, name: &str, ty: Ty) -> SoqlError {
        let quoting = if ty.is_text() {
            "should be enclosed in quotes"
        } else {
            "should not be enclosed in quotes"
        };
        self.cx.error(
            INVALID_FIELD,
            t.at,
            format!(
                "value of filter criterion for field '{name}' must be of type {} and {quoting}",
                ty.soap_name()
            ),
        )
    }

    fn typed(&self, t: &Token, raw: RawLit, name: &str, ty: Ty) -> Result<Lit, SoqlError> {
        let v = match (ty, raw) {
            (_, RawLit::Null) => return Ok(Lit::Null),
            (Ty::Id | Ty::Ref, RawLit::Str(s)) => match normalize_id(&s) {
                Some(id) => Val::id(id),
                None => {
                    return Err(self.cx.error(
                        INVALID_FILTER,
                        t.at,
                        format!("invalid ID field: {s}"),
                    ));
                }
            },
            (Ty::Str | Ty::Pick, RawLit::Str(s)) => Val::str(s),
            (Ty::Bool, RawLit::Bool(b)) => Val::Bool(b),
            (Ty::Int, RawLit::Num(v, _)) => Val::Num(v),
            (Ty::Num, RawLit::Num(v, _)) => Val::Num(v),
            (Ty::DateTime, RawLit::DateTime(ms)) => Val::Time(ms),
            (Ty::Date, RawLit::Date(d)) => Val::Date(d),
            _ => return Err(self.type_error(t, name, ty)),
        };
        Ok(Lit::Val(v))
    }
}

fn like_pattern(p: &str) -> Vec<LikeTok> {
    let mut out = Vec::new();
    let mut bytes = p.bytes();
    while let Some(c) = bytes.next() {
        out.push(match c {
            b'%' => LikeTok::Any,
            b'_' => LikeTok::One,
            b'\\' => LikeTok::Byte(bytes.next().unwrap_or(b'\\').to_ascii_lowercase()),
            c => LikeTok::Byte(c.to_ascii_lowercase()),
        });
    }
    out
}

/// Case-insensitive LIKE match (`%` any run, `_` one byte), with backtracking over the
/// last `%` only (linear for the usual patterns).
fn like(pattern: &[LikeTok], s: &str) -> bool {
    let s = s.as_bytes();
    let (mut p, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        match pattern.get(p) {
            Some(LikeTok::Any) => {
                star = Some((p, i));
                p += 1;
            }
            Some(LikeTok::One) => {
                p += 1;
                i += 1;
            }
            Some(LikeTok::Byte(b)) if *b == s[i].to_ascii_lowercase() => {
                p += 1;
                i += 1;
            }
            _ => match star {
                Some((sp, si)) => {
                    p = sp + 1;
                    i = si + 1;
                    star = Some((sp, si + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|t| *t == LikeTok::Any)
}

// ---------------------------------------------------------------------------------------------
// Evaluation

fn equal(v: &Val, lit: &Val, ty: Ty) -> bool {
    !v.is_null() && cmp_vals(v, lit, ty) == Ordering::Equal
}

impl Expr {
    pub fn matches(&self, rec: &Rec) -> bool {
        match self {
            Expr::And(items) => items.iter().all(|e| e.matches(rec)),
            Expr::Or(items) => items.iter().any(|e| e.matches(rec)),
            Expr::Not(e) => !e.matches(rec),
            Expr::Cmp { field, ty, op, lit } => {
                let v = &rec.vals[*field];
                match (op, lit) {
                    (Cmp::Eq, Lit::Null) => v.is_null(),
                    (Cmp::Ne, Lit::Null) => !v.is_null(),
                    (_, Lit::Null) => false,
                    (Cmp::Eq, Lit::Val(l)) => equal(v, l, *ty),
                    (Cmp::Ne, Lit::Val(l)) => !equal(v, l, *ty),
                    (_, Lit::Val(_)) if v.is_null() => false,
                    (op, Lit::Val(l)) => {
                        let o = cmp_vals(v, l, *ty);
                        match op {
                            Cmp::Lt => o == Ordering::Less,
                            Cmp::Le => o != Ordering::Greater,
                            Cmp::Gt => o == Ordering::Greater,
                            _ => o != Ordering::Less,
                        }
                    }
                }
            }
            Expr::In { field, ty, lits, negated } => {
                let v = &rec.vals[*field];
                let hit = lits.iter().any(|l| match l {
                    Lit::Null => v.is_null(),
                    Lit::Val(l) => equal(v, l, *ty),
                });
                hit != *negated
            }
            Expr::Like { field, pattern } => {
                rec.vals[*field].as_str().is_some_and(|s| like(pattern, s))
            }
        }
    }
}

/// Orders row indexes by the query's keys, ties by row (creation) order.
fn compare(rows: &[Rec], order: &[OrderKey], a: u32, b: u32) -> Ordering {
    let (ra, rb) = (&rows[a as usize], &rows[b as usize]);
    for k in order {
        let (va, vb) = (&ra.vals[k.field], &rb.vals[k.field]);
        let o = match (va.is_null(), vb.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => {
                if k.nulls_first {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (false, true) => {
                if k.nulls_first {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (false, false) => {
                let o = cmp_vals(va, vb, k.ty);
                if k.desc { o.reverse() } else { o }
            }
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.cmp(&b)
}

/// The result of running a query for one batch.
pub struct Window {
    /// `totalSize`: rows the whole query returns (after OFFSET and LIMIT).
    pub total: usize,
    /// Row indexes of the batch, in result order.
    pub rows: Vec<u32>,
}

impl Query {
    /// Runs the query over `rows` and cuts positions `[from, from + n)` of its result.
    /// `all` includes recycle-bin rows (`queryAll`). One linear scan, then a partial sort
    /// of just the rows up to the batch's end.
    pub fn window(
        &self,
        rows: &[Rec],
        is_deleted: usize,
        all: bool,
        from: usize,
        n: usize,
    ) -> Window {
        let mut hits: Vec<u32> = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            if !all && matches!(r.vals[is_deleted], Val::Bool(true)) {
                continue;
            }
            if self.filter.as_ref().is_none_or(|f| f.matches(r)) {
                hits.push(i as u32);
            }
        }
        let after_offset = hits.len().saturating_sub(self.offset);
        let total = self.limit.map_or(after_offset, |l| after_offset.min(l));
        if matches!(self.select, Select::Count) {
            return Window { total, rows: Vec::new() };
        }
        let start = (self.offset + from).min(self.offset + total);
        let end = start.saturating_add(n).min(self.offset + total);
        if !self.order.is_empty() && start < end {
            let cmp = |a: &u32, b: &u32| compare(rows, &self.order, *a, *b);
            if end < hits.len() {
                hits.select_nth_unstable_by(end, cmp);
                hits.truncate(end);
            }
            hits.sort_unstable_by(cmp);
        }
        let batch = if start < end { hits[start..end].to_vec() } else { Vec::new() };
        Window { total, rows: batch }
    }

    /// Field positions a record is written with.
    pub fn fields(&self) -> &[usize] {
        match &self.select {
            Select::Count => &[],
            Select::Fields(f) => f,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(q: &str) -> SoqlError {
        parse(q).expect_err(q)
    }

    #[test]
    fn parses_the_connector_keyset_query() {
        let q = parse(
            "SELECT Id, Name, SystemModstamp, IsDeleted FROM account WHERE SystemModstamp > 2024-01-05T00:00:00Z OR (SystemModstamp = 2024-01-05T00:00:00+00:00 AND Id > '001000000000001') ORDER BY SystemModstamp ASC, Id ASC LIMIT 2000",
        )
        .unwrap();
        assert_eq!(q.obj, Obj::Account);
        assert_eq!(q.limit, Some(2000));
        assert_eq!(q.order.len(), 2);
        let Some(Expr::Or(items)) = &q.filter else { panic!("{:?}", q.filter) };
        assert_eq!(items.len(), 2);
        let Expr::Cmp { lit: Lit::Val(Val::Time(ms)), .. } = &items[0] else { panic!() };
        assert_eq!(*ms, 1_704_412_800_000);
    }

    #[test]
    fn date_time_literal_forms_agree() {
        for lit in [
            "2024-01-05T00:00:00Z",
            "2024-01-05T00:00:00+00:00",
            "2024-01-05T00:00:00.000+0000",
            "2024-01-05T01:00:00+01:00",
            "2024-01-04T19:00:00-05:00",
        ] {
            let q = parse(&format!("SELECT Id FROM Case WHERE SystemModstamp >= {lit}")).unwrap();
            let Some(Expr::Cmp { lit: Lit::Val(Val::Time(ms)), .. }) = q.filter else {
                panic!("{lit}")
            };
            assert_eq!(ms, 1_704_412_800_000, "{lit}");
        }
        let q = parse("SELECT Id FROM Opportunity WHERE CloseDate < 2024-01-05").unwrap();
        assert!(matches!(q.filter, Some(Expr::Cmp { lit: Lit::Val(Val::Date(19_727)), .. })));
    }

    #[test]
    fn errors_name_the_bad_token() {
        let e = err("SELECT Id FRM Account");
        assert_eq!(e.code, MALFORMED);
        assert!(e.message.contains("unexpected token: 'FRM'"), "{}", e.message);
        let e = err("SELECT Id, Nmae FROM Account");
        assert_eq!(e.code, INVALID_FIELD);
        assert!(e.message.contains("No such column 'Nmae' on entity 'Account'"), "{}", e.message);
        assert!(e.message.contains("ERROR at Row:1:Column:12"), "{}", e.message);
        let e = err("SELECT Id FROM Foo");
        assert_eq!(e.code, INVALID_TYPE);
        assert!(e.message.contains("sObject type 'Foo' is not supported"));
        let e = err("SELECT Id FROM Account WHERE SystemModstamp > '2024-01-01'");
        assert_eq!(e.code, INVALID_FIELD);
        assert!(
            e.message.contains("must be of type dateTime and should not be enclosed in quotes")
        );
        let e = err("SELECT Id FROM Account WHERE Name = 5");
        assert!(e.message.contains("must be of type string and should be enclosed in quotes"));
        let e = err("SELECT Id FROM Account WHERE Name = 'a' AND Phone = 'b' OR Id = null");
        assert_eq!(e.code, MALFORMED);
        assert!(e.message.contains("unexpected token: 'OR'"));
        assert_eq!(err("SELECT Id FROM Account WHERE Id = 'x'").code, INVALID_FILTER);
        assert_eq!(err("SELECT Id FROM Account OFFSET 2001").code, OUT_OF_RANGE);
        assert_eq!(err("SELECT Id FROM Account WHERE Name = 'abc").code, MALFORMED);
        assert_eq!(err("SELECT Id, id FROM Account").code, MALFORMED);
        assert_eq!(err("SELECT FROM Account").code, MALFORMED);
        assert!(err("SELECT Id FROM Account WHERE").message.contains("'<EOF>'"));
        assert_eq!(
            err("SELECT Id FROM Account WHERE CreatedDate > 2024-01-01T00:00:00").code,
            MALFORMED
        );
        assert_eq!(err("SELECT Id FROM Account LIMIT -1").code, MALFORMED);
        assert_eq!(err("SELECT Id FROM Account WHERE Name LIKE 5").code, INVALID_FIELD);
        // non-ASCII input never panics
        assert_eq!(err("SELECT Id FROM Account WHERE Name = é").code, MALFORMED);
        assert_eq!(err("SELECT Id FROM Account WHERE Name = -é").code, MALFORMED);
    }

    #[test]
    fn like_patterns() {
        let p = like_pattern("%corp%");
        assert!(like(&p, "Acme Corp."));
        assert!(!like(&p, "Acme Co."));
        assert!(like(&like_pattern("A_me%"), "acme inc"));
        assert!(like(&like_pattern("100\\%"), "100%"));
        assert!(!like(&like_pattern("100\\%"), "1000"));
        assert!(like(&like_pattern("%a%b%"), "xxaxxbxx"));
        assert!(!like(&like_pattern("a"), "ab"));
    }
}
