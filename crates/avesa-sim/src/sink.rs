//! One description of a record, many consumers.
//!
//! Each simulated table describes its rows once, by "emitting" them into a [`Sink`]: scalars,
//! nested objects and arrays of objects, in wire order. The JSON writer, the condition
//! evaluator's field lookup, the partial-response (`fields=`) filter and the schema collector
//! are all sinks, so what a filter sees is by construction what the client receives.
//! Nested objects are passed as closures, so a sink that does not need a subtree (a field
//! lookup for `id`, say) never pays for building it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A leaf value as a record emits it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(&'a str),
    /// Unix seconds; written as `2024-03-08T21:59:20Z`, compared as an instant.
    Time(i64),
    /// A non-null object or list reached by a field lookup (never emitted): it equals
    /// nothing but satisfies `!= null`.
    Present,
}

/// Receives one record's fields.
pub trait Sink {
    fn scalar(&mut self, key: &str, value: Scalar<'_>);
    fn object(&mut self, key: &str, body: &mut dyn FnMut(&mut dyn Sink));
    fn array(&mut self, key: &str, len: usize, item: &mut dyn FnMut(usize, &mut dyn Sink));
}

/// Convenience emitters.
impl<'a> dyn Sink + 'a {
    pub fn obj(&mut self, key: &str, mut body: impl FnMut(&mut dyn Sink)) {
        self.object(key, &mut body);
    }
    pub fn arr(&mut self, key: &str, len: usize, mut item: impl FnMut(usize, &mut dyn Sink)) {
        self.array(key, len, &mut item);
    }
    pub fn int(&mut self, key: &str, v: i64) {
        self.scalar(key, Scalar::Int(v));
    }
    pub fn num(&mut self, key: &str, v: f64) {
        self.scalar(key, Scalar::Num(v));
    }
    pub fn str(&mut self, key: &str, v: &str) {
        self.scalar(key, Scalar::Str(v));
    }
    pub fn bool(&mut self, key: &str, v: bool) {
        self.scalar(key, Scalar::Bool(v));
    }
    pub fn null(&mut self, key: &str) {
        self.scalar(key, Scalar::Null);
    }
    pub fn time(&mut self, key: &str, v: i64) {
        self.scalar(key, Scalar::Time(v));
    }
    pub fn opt_time(&mut self, key: &str, v: Option<i64>) {
        self.scalar(key, v.map_or(Scalar::Null, Scalar::Time));
    }
    pub fn opt_str(&mut self, key: &str, v: Option<&str>) {
        self.scalar(key, v.map_or(Scalar::Null, Scalar::Str));
    }
    pub fn opt_int(&mut self, key: &str, v: Option<i64>) {
        self.scalar(key, v.map_or(Scalar::Null, Scalar::Int));
    }
}

// ---------------------------------------------------------------------------------------------
// JSON writer with an optional partial-response selection.

/// A `fields=` selection: which keys to keep, recursively. Keys are stored lower-case and
/// matched case-insensitively.
#[derive(Debug, Clone, Default)]
pub enum Selection {
    #[default]
    All,
    Some(Vec<(String, Selection)>),
}

impl Selection {
    /// Builds a selection from `fields=id,name,status/name`. Empty input selects everything.
    pub fn parse(fields: &str) -> Selection {
        let mut root: Vec<(String, Selection)> = Vec::new();
        let mut any = false;
        for f in fields.split(',') {
            let f = f.trim();
            if f.is_empty() {
                continue;
            }
            any = true;
            let segs: Vec<String> = f
                .split('/')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect();
            insert_path(&mut root, &segs);
        }
        if any { Selection::Some(root) } else { Selection::All }
    }

    fn child(&self, key: &str) -> Option<&Selection> {
        match self {
            Selection::All => Some(self),
            Selection::Some(list) => {
                list.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, s)| s)
            }
        }
    }
}

fn insert_path(list: &mut Vec<(String, Selection)>, segs: &[String]) {
    let Some((first, rest)) = segs.split_first() else {
        return;
    };
    let pos = match list.iter().position(|(k, _)| k == first) {
        Some(p) => p,
        None => {
            let init = if rest.is_empty() { Selection::All } else { Selection::Some(Vec::new()) };
            list.push((first.clone(), init));
            list.len() - 1
        }
    };
    if rest.is_empty() {
        list[pos].1 = Selection::All;
    } else if let Selection::Some(children) = &mut list[pos].1 {
        insert_path(children, rest);
    }
}

/// Writes emitted fields as the members of one JSON object (without the braces).
pub struct JsonWriter<'o, 's> {
    out: &'o mut String,
    first: bool,
    sel: &'s Selection,
}

impl<'o, 's> JsonWriter<'o, 's> {
    fn key(&mut self, key: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        push_json_str(self.out, key);
        self.out.push(':');
    }
}

impl Sink for JsonWriter<'_, '_> {
    fn scalar(&mut self, key: &str, value: Scalar<'_>) {
        if self.sel.child(key).is_none() {
            return;
        }
        self.key(key);
        push_scalar(self.out, value);
    }

    fn object(&mut self, key: &str, body: &mut dyn FnMut(&mut dyn Sink)) {
        let Some(sel) = self.sel.child(key) else {
            return;
        };
        self.key(key);
        self.out.push('{');
        body(&mut JsonWriter { out: self.out, first: true, sel });
        self.out.push('}');
    }

    fn array(&mut self, key: &str, len: usize, item: &mut dyn FnMut(usize, &mut dyn Sink)) {
        let Some(sel) = self.sel.child(key) else {
            return;
        };
        self.key(key);
        self.out.push('[');
        for i in 0..len {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push('{');
            item(i, &mut JsonWriter { out: self.out, first: true, sel });
            self.out.push('}');
        }
        self.out.push(']');
    }
}

/// Writes one record as a JSON object.
pub fn write_object(out: &mut String, sel: &Selection, emit: impl FnOnce(&mut dyn Sink)) {
    out.push('{');
    emit(&mut JsonWriter { out, first: true, sel });
    out.push('}');
}

pub fn push_scalar(out: &mut String, value: Scalar<'_>) {
    match value {
        Scalar::Null => out.push_str("null"),
        Scalar::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Scalar::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Scalar::Num(n) => push_num(out, n),
        Scalar::Str(s) => push_json_str(out, s),
        Scalar::Time(t) => {
            out.push('"');
            crate::time::push_ts(out, t);
            out.push('"');
        }
        Scalar::Present => out.push_str("{}"),
    }
}

fn push_num(out: &mut String, n: f64) {
    if !n.is_finite() {
        out.push_str("null");
    } else if n.fract() == 0.0 && n.abs() < 1e15 {
        let _ = write!(out, "{n:.1}");
    } else {
        let _ = write!(out, "{n}");
    }
}

/// Appends `s` as a JSON string. Runs of bytes that need no escape are copied at once (an
/// escape is always an ASCII byte, so a run ends on a character boundary): a page of
/// records is mostly such runs, and copying them a character at a time was most of the
/// simulator's work serving a page (BENCHMARKS.md, issue 14).
pub fn push_json_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut run = 0;
    while let Some(at) = bytes[run..].iter().position(|&b| ESCAPES[b as usize] != 0) {
        let at = run + at;
        out.push_str(&s[run..at]);
        match ESCAPES[bytes[at] as usize] {
            b'u' => {
                let _ = write!(out, "\\u{:04x}", bytes[at]);
            }
            e => {
                out.push('\\');
                out.push(e as char);
            }
        }
        run = at + 1;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

/// A byte's escape in a JSON string: 0 for none, `u` for `\u00XX`, else the letter after
/// the backslash.
const ESCAPES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b'u';
        b += 1;
    }
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t
};

// ---------------------------------------------------------------------------------------------
// Field lookup by slash path.

/// Finds the value at a lower-case path (`["status", "name"]`) and hands it to `hit`.
/// A path that runs into a null (a missing reference) or past a scalar yields `Null`;
/// a path that ends on an object or array yields `Present`. If nothing matches, `hit`
/// is never called (the caller treats that as `Null`).
pub struct Lookup<'p, 'f> {
    path: &'p [String],
    hit: &'f mut dyn FnMut(Scalar<'_>),
    done: bool,
}

impl<'p, 'f> Lookup<'p, 'f> {
    pub fn new(path: &'p [String], hit: &'f mut dyn FnMut(Scalar<'_>)) -> Self {
        Lookup { path, hit, done: false }
    }
    pub fn found(&self) -> bool {
        self.done
    }
    fn matches(&self, key: &str) -> bool {
        !self.done && self.path.first().is_some_and(|p| p.eq_ignore_ascii_case(key))
    }
}

impl Sink for Lookup<'_, '_> {
    fn scalar(&mut self, key: &str, value: Scalar<'_>) {
        if self.matches(key) {
            self.done = true;
            (self.hit)(if self.path.len() == 1 { value } else { Scalar::Null });
        }
    }

    fn object(&mut self, key: &str, body: &mut dyn FnMut(&mut dyn Sink)) {
        if self.matches(key) {
            self.done = true;
            if self.path.len() == 1 {
                (self.hit)(Scalar::Present);
            } else {
                let mut inner = Lookup::new(&self.path[1..], &mut *self.hit);
                body(&mut inner);
                if !inner.done {
                    (self.hit)(Scalar::Null);
                }
            }
        }
    }

    fn array(&mut self, key: &str, _len: usize, _item: &mut dyn FnMut(usize, &mut dyn Sink)) {
        if self.matches(key) {
            self.done = true;
            (self.hit)(if self.path.len() == 1 { Scalar::Present } else { Scalar::Null });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Schema: which paths exist, learned from emitted rows.

/// The shape of a table's records, learned by emitting sample rows. Used to reject unknown
/// fields in `conditions` and `orderBy` the way ConnectWise does.
#[derive(Debug, Default, Clone)]
pub struct KeyTree {
    /// lower-case key → (original spelling, node)
    children: BTreeMap<String, (String, KeyNode)>,
}

#[derive(Debug, Default, Clone)]
pub struct KeyNode {
    /// Seen as null at least once (a nullable reference accepts any sub-path).
    nullable: bool,
    /// Seen as a non-null scalar.
    scalar: bool,
    /// Seen as an array.
    array: bool,
    /// Seen as an object: its keys.
    object: Option<KeyTree>,
}

/// What a path resolves to in a [`KeyTree`].
#[derive(Debug, PartialEq, Eq)]
pub enum PathCheck {
    /// A known leaf (or a sub-path of a nullable reference).
    Leaf,
    /// The path ends on an object or array: not comparable.
    NotScalar,
    /// No such field; carries the unknown segment as written.
    Unknown(usize),
}

impl KeyTree {
    pub fn learn(&mut self, emit: impl FnOnce(&mut dyn Sink)) {
        emit(self);
    }

    pub fn has_top(&self, key: &str) -> bool {
        self.children.contains_key(&key.to_ascii_lowercase())
    }

    pub fn check(&self, path: &[String]) -> PathCheck {
        let mut tree = self;
        for (i, seg) in path.iter().enumerate() {
            let Some((_, node)) = tree.children.get(seg.as_str()) else {
                return PathCheck::Unknown(i);
            };
            if i + 1 == path.len() {
                return if node.scalar || node.nullable {
                    PathCheck::Leaf
                } else {
                    PathCheck::NotScalar
                };
            }
            match &node.object {
                Some(sub) => tree = sub,
                // a reference only ever seen as null: accept any sub-path
                None if node.nullable && !node.scalar && !node.array => return PathCheck::Leaf,
                None => return PathCheck::Unknown(i + 1),
            }
        }
        PathCheck::NotScalar
    }

    fn node(&mut self, key: &str) -> &mut KeyNode {
        &mut self
            .children
            .entry(key.to_ascii_lowercase())
            .or_insert_with(|| (key.to_string(), KeyNode::default()))
            .1
    }
}

impl Sink for KeyTree {
    fn scalar(&mut self, key: &str, value: Scalar<'_>) {
        let node = self.node(key);
        if value == Scalar::Null {
            node.nullable = true;
        } else {
            node.scalar = true;
        }
    }

    fn object(&mut self, key: &str, body: &mut dyn FnMut(&mut dyn Sink)) {
        let node = self.node(key);
        body(node.object.get_or_insert_with(KeyTree::default));
    }

    fn array(&mut self, key: &str, _len: usize, _item: &mut dyn FnMut(usize, &mut dyn Sink)) {
        self.node(key).array = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emit(s: &mut dyn Sink) {
        s.int("id", 7);
        s.str("name", "A \"quoted\"\nname");
        s.obj("status", |s| {
            s.int("id", 1);
            s.str("name", "New");
        });
        s.null("agreement");
        s.arr("types", 2, |i, s| s.int("id", i as i64));
        s.num("hours", 8.0);
        s.num("rate", 1.25);
        s.time("at", 1_709_935_160);
    }

    #[test]
    fn writes_json() {
        let mut out = String::new();
        write_object(&mut out, &Selection::All, emit);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["name"], "A \"quoted\"\nname");
        assert_eq!(v["status"]["name"], "New");
        assert_eq!(v["types"][1]["id"], 1);
        assert!(out.contains("\"hours\":8.0"));
        assert_eq!(v["at"], "2024-03-08T21:59:20Z");

        let mut out = String::new();
        write_object(&mut out, &Selection::parse("ID, status/name"), emit);
        assert_eq!(out, r#"{"id":7,"status":{"name":"New"}}"#);
    }

    /// Every string comes back as it went in, in the bytes serde_json writes (which
    /// escapes the same characters; it writes backspace and form feed as `\b` and `\f`,
    /// which this alphabet leaves out and the simulator writes as `\u0008`, `\u000c`).
    #[test]
    fn strings_escape_as_serde_json_does() {
        use rand::{Rng, SeedableRng};
        let alphabet: Vec<char> = [
            'a', 'Z', ' ', '"', '\\', '\n', '\r', '\t', '\u{0}', '\u{1f}', '\u{7f}', 'é', '€', '𝄞',
            '/',
        ]
        .into();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for n in 0..2000 {
            let s: String =
                (0..n % 40).map(|_| alphabet[rng.gen_range(0..alphabet.len())]).collect();
            let mut out = String::new();
            push_json_str(&mut out, &s);
            assert_eq!(out, serde_json::to_string(&s).unwrap(), "{s:?}");
            assert_eq!(serde_json::from_str::<String>(&out).unwrap(), s);
        }
    }

    #[test]
    fn looks_up_paths() {
        let get = |p: &[&str]| {
            let path: Vec<String> = p.iter().map(|s| s.to_string()).collect();
            let mut got = None;
            let mut hit = |v: Scalar<'_>| got = Some(format!("{v:?}"));
            let mut l = Lookup::new(&path, &mut hit);
            emit(&mut l);
            got
        };
        assert_eq!(get(&["status", "name"]).as_deref(), Some("Str(\"New\")"));
        assert_eq!(get(&["agreement", "id"]).as_deref(), Some("Null"));
        assert_eq!(get(&["status"]).as_deref(), Some("Present"));
        assert_eq!(get(&["types"]).as_deref(), Some("Present"));
        assert_eq!(get(&["nope"]), None);
    }

    #[test]
    fn schema_checks() {
        let mut t = KeyTree::default();
        t.learn(emit);
        let p = |s: &str| s.split('/').map(String::from).collect::<Vec<_>>();
        assert_eq!(t.check(&p("status/name")), PathCheck::Leaf);
        assert_eq!(t.check(&p("agreement/name")), PathCheck::Leaf);
        assert_eq!(t.check(&p("status/nmae")), PathCheck::Unknown(1));
        assert_eq!(t.check(&p("status")), PathCheck::NotScalar);
        assert_eq!(t.check(&p("bogus")), PathCheck::Unknown(0));
        assert_eq!(t.check(&p("name/first")), PathCheck::Unknown(1));
    }
}
