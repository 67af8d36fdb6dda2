//! Reading a few fields of a vendor's JSON record without building the rest: an object
//! split into its members, each value kept as raw JSON text borrowed from the document
//! and each name borrowed too (copied only when it has escapes). The connectors read a
//! record's id and stamp this way, and the mappings their columns: a record of sixty
//! fields is scanned once per object a path steps into, with no map built and no value
//! decoded but the leaves asked for.

use std::borrow::Cow;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde_json::value::RawValue;

/// An object's members in document order, each value its raw JSON text (checked to be
/// JSON when the object was parsed).
#[derive(Debug, PartialEq)]
pub struct Members<'a>(Vec<(Cow<'a, str>, &'a str)>);

impl<'a> Members<'a> {
    /// The members of the object `text`, or `None` when it is not a JSON object.
    pub fn parse(text: &'a str) -> Option<Self> {
        if !text.trim_start().starts_with('{') {
            return None;
        }
        serde_json::from_str(text).ok()
    }

    /// The member named `key`; the last one if the name repeats (as `serde_json::Value`).
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

/// The value of the member `key` of the object `text` (the last one if the name
/// repeats, as [`Members::get`]), found by walking the object's bytes: what
/// `Members::parse(text)?.get(key)` gives, at a few instructions a byte instead of a
/// parse. For a text already checked to be JSON — a value of [`Members`] or an element of
/// [`elements`]: the walk trusts its structure (strings, nesting) and checks no more;
/// a text it cannot walk (not an object, a name with escapes) is parsed instead. The
/// mappings step into a record's nested objects (`board.name`, `company.id`) this way.
pub fn member<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    match walk_member(text.as_bytes(), key.as_bytes()) {
        Walk::Found(a, b) => text.get(a..b),
        Walk::Missing => None,
        Walk::Unsure => Members::parse(text)?.get(key),
    }
}

enum Walk {
    Found(usize, usize),
    Missing,
    Unsure,
}

/// [`member`]'s walk: byte offsets of the value of the last member named `key`.
fn walk_member(b: &[u8], key: &[u8]) -> Walk {
    let space = |i: &mut usize| {
        while matches!(b.get(*i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            *i += 1;
        }
    };
    // The offset just past the string whose opening quote is at `i`.
    let string_end = |mut i: usize| -> Option<usize> {
        i += 1;
        loop {
            i += memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
            match b[i] {
                b'"' => return Some(i + 1),
                _ => i += 2,
            }
        }
    };
    let mut i = 0;
    space(&mut i);
    if b.get(i) != Some(&b'{') {
        return Walk::Unsure;
    }
    i += 1;
    let mut found = None;
    loop {
        space(&mut i);
        match b.get(i) {
            Some(b'}') => break,
            Some(b'"') => {}
            _ => return Walk::Unsure,
        }
        let Some(name_end) = string_end(i) else { return Walk::Unsure };
        let name = &b[i + 1..name_end - 1];
        if name.contains(&b'\\') {
            return Walk::Unsure;
        }
        i = name_end;
        space(&mut i);
        if b.get(i) != Some(&b':') {
            return Walk::Unsure;
        }
        i += 1;
        space(&mut i);
        let start = i;
        match b.get(i) {
            Some(b'"') => {
                let Some(e) = string_end(i) else { return Walk::Unsure };
                i = e;
            }
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                loop {
                    match b.get(i) {
                        Some(b'"') => {
                            let Some(e) = string_end(i) else { return Walk::Unsure };
                            i = e;
                        }
                        Some(b'{' | b'[') => {
                            depth += 1;
                            i += 1;
                        }
                        Some(b'}' | b']') => {
                            depth -= 1;
                            i += 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        Some(_) => i += 1,
                        None => return Walk::Unsure,
                    }
                }
            }
            Some(_) => {
                while !matches!(
                    b.get(i),
                    None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    i += 1;
                }
                if i == start {
                    return Walk::Unsure;
                }
            }
            None => return Walk::Unsure,
        }
        if name == key {
            found = Some((start, i));
        }
        space(&mut i);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => {}
            _ => return Walk::Unsure,
        }
    }
    match found {
        Some((a, e)) => Walk::Found(a, e),
        None => Walk::Missing,
    }
}

/// The elements of the JSON text `text` if it is an array, each its raw JSON text.
pub fn elements(text: &str) -> Option<Vec<&str>> {
    if !text.trim_start().starts_with('[') {
        return None;
    }
    let list: Vec<&RawValue> = serde_json::from_str(text).ok()?;
    Some(list.into_iter().map(RawValue::get).collect())
}

/// Where an object's members lie in its text: what [`Members::parse`] finds, kept as
/// offsets so it can travel with the text (a connector splits a page's records into
/// their members once, and the mapping reads its columns from the same split instead of
/// parsing each record again). Owned, small (four numbers a member), and checked against
/// the text it is applied to: a text it does not fit is parsed instead.
#[derive(Clone)]
pub struct MemberIndex {
    /// The length of the text the spans were taken from.
    len: usize,
    /// Each member's name and value as `[name start, name end, value start, value end]`.
    spans: Box<[[u32; 4]]>,
}

impl MemberIndex {
    /// The index of `members`, an object split from `text` (its names and values
    /// borrowed from it); `None` when a name was copied (it had escapes) or a name or
    /// value lies outside `text`.
    pub fn of(text: &str, members: &Members<'_>) -> Option<Self> {
        let base = text.as_ptr() as usize;
        let span = |s: &str| -> Option<[u32; 2]> {
            let start = (s.as_ptr() as usize).checked_sub(base)?;
            let end = start.checked_add(s.len())?;
            (end <= text.len()).then_some([u32::try_from(start).ok()?, u32::try_from(end).ok()?])
        };
        let spans = members
            .0
            .iter()
            .map(|(k, v)| {
                let Cow::Borrowed(k) = k else { return None };
                let ([ks, ke], [vs, ve]) = (span(k)?, span(v)?);
                Some([ks, ke, vs, ve])
            })
            .collect::<Option<Box<[_]>>>()?;
        Some(MemberIndex { len: text.len(), spans })
    }

    /// The members of `text` as indexed; `None` when `text` is not the text the index was
    /// taken from (a different length, or a span that does not fall on its characters).
    pub fn members<'a>(&self, text: &'a str) -> Option<Members<'a>> {
        if text.len() != self.len {
            return None;
        }
        let at = |s: u32, e: u32| text.get(s as usize..e as usize);
        let list = self
            .spans
            .iter()
            .map(|&[ks, ke, vs, ve]| Some((Cow::Borrowed(at(ks, ke)?), at(vs, ve)?)))
            .collect::<Option<Vec<_>>>()?;
        Some(Members(list))
    }
}

impl fmt::Debug for MemberIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemberIndex({} members)", self.spans.len())
    }
}

/// An object element of an array: its exact text and its members.
#[derive(Debug)]
pub struct Object<'a> {
    pub text: &'a str,
    pub members: Members<'a>,
}

/// The elements of the JSON array `text`, each an object with its members and its exact
/// text, from one pass over the array: what [`elements`] then [`Members::parse`] on each
/// element give, without reading the text twice. `None` when `text` is not an array of
/// objects, or when an element's text cannot be told from its members alone (an empty
/// object, a first member name with escapes); the caller then takes the two passes.
pub fn objects(text: &str) -> Option<Vec<Object<'_>>> {
    if !text.trim_start().starts_with('[') {
        return None;
    }
    let list: Vec<Members<'_>> = serde_json::from_str(text).ok()?;
    list.into_iter().map(|members| Some(Object { text: span(text, &members)?, members })).collect()
}

/// The object `text` split in one pass: its members but the one named `key`, and the
/// elements of that member as [`objects`] gives them. What a page whose records sit in a
/// member of the body (`{"result": [...]}`) needs, without reading the records twice.
/// `None` when `text` is not such an object (no member `key`, or more than one, or one
/// that is not an array of objects whose texts can be told); the caller then reads the
/// body's members and the array apart.
pub fn objects_at<'a>(text: &'a str, key: &str) -> Option<(Members<'a>, Vec<Object<'a>>)> {
    use serde::de::DeserializeSeed;
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let (members, list) = Split { key }.deserialize(&mut de).ok()?;
    de.end().ok()?;
    let objects = list?
        .into_iter()
        .map(|members| Some(Object { text: span(text, &members)?, members }))
        .collect::<Option<Vec<_>>>()?;
    Some((members, objects))
}

/// [`objects_at`]'s reading of the object: the members but `key`, and `key`'s elements.
struct Split<'k> {
    key: &'k str,
}

impl<'de> serde::de::DeserializeSeed<'de> for Split<'_> {
    type Value = (Members<'de>, Option<Vec<Members<'de>>>);

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Split<'_> {
    type Value = (Members<'de>, Option<Vec<Members<'de>>>);
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        let mut list = None;
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            if k == self.key {
                if list.is_some() {
                    return Err(serde::de::Error::custom("the member repeats"));
                }
                list = Some(map.next_value::<Vec<Members<'de>>>()?);
            } else {
                out.push((k, map.next_value::<&'de RawValue>()?.get()));
            }
        }
        Ok((Members(out), list))
    }
}

/// The text of the object in `doc` whose members are `m`: from the brace before its
/// first member's name to the brace after its last member's value (only JSON white space
/// between), both found by where the borrowed name and value lie in `doc`.
fn span<'a>(doc: &'a str, m: &Members<'a>) -> Option<&'a str> {
    let offset = |s: &str| (s.as_ptr() as usize).checked_sub(doc.as_ptr() as usize);
    let Cow::Borrowed(first) = &m.0.first()?.0 else { return None };
    let last = m.0.last()?.1;
    let (key_at, value_end) = (offset(first)?, offset(last)? + last.len());
    let bytes = doc.as_bytes();
    let space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let mut start = key_at.checked_sub(1)?;
    if bytes.get(start) != Some(&b'"') {
        return None;
    }
    loop {
        start = start.checked_sub(1)?;
        match *bytes.get(start)? {
            b'{' => break,
            b if space(b) => {}
            _ => return None,
        }
    }
    let mut end = value_end;
    loop {
        match *bytes.get(end)? {
            b'}' => break,
            b if space(b) => end += 1,
            _ => return None,
        }
    }
    doc.get(start..=end)
}

/// A member name, borrowed from the document unless it has escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl<'de> serde::Deserialize<'de> for Members<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(32));
                while let Some((Key(k), v)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    out.push((k, v.get()));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(MembersVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_with_escaped_and_repeated_names() {
        let m =
            Members::parse(r#"{"a\u0062": 1, "x": {"y": "first"}, "q\"t": true, "x": 2}"#).unwrap();
        assert_eq!(m.get("ab"), Some("1"), "an escaped name is decoded");
        assert_eq!(m.get("q\"t"), Some("true"));
        assert_eq!(m.get("x"), Some("2"), "the last of a repeated name");
        assert!(m.get("y").is_none());
        assert!(Members::parse("[1, 2]").is_none() && Members::parse("{broken").is_none());
        let els = elements(r#"[{"a": 1}, 2]"#).unwrap();
        assert_eq!((els.len(), els[1]), (2, "2"));
        assert!(elements(m.get("ab").unwrap()).is_none());
        assert!(elements("[1, 2").is_none(), "a cut-short array");
    }

    #[test]
    fn objects_of_an_array_are_its_elements_with_their_members() {
        let text = "[ {\"id\": 1, \"x\": {\"y\": [1, {\"z\": \"}\"}]}} ,\n\t{ \"id\" :\"two\" , \"id\": 3 }\r\n]";
        let objs = objects(text).unwrap();
        let els = elements(text).unwrap();
        assert_eq!(objs.len(), 2);
        for (o, e) in objs.iter().zip(&els) {
            assert_eq!(o.text, *e, "the element's exact text");
            let m = Members::parse(e).unwrap();
            assert_eq!(o.members.0.len(), m.0.len());
            assert_eq!(o.members.get("id"), m.get("id"));
        }
        assert_eq!(objs[1].members.get("id"), Some("3"));
        // What one pass cannot tell: the caller falls back to two.
        assert!(objects("[{}]").is_none(), "an empty object");
        assert!(objects(r#"[{"\u0069d": 1}]"#).is_none(), "an escaped first name");
        assert!(objects("[1, {\"a\": 2}]").is_none(), "an element not an object");
        assert!(objects("{\"a\": 1}").is_none() && objects("[{\"a\": 1}").is_none());
        assert_eq!(objects("[]").map(|o| o.len()), Some(0));
    }

    #[test]
    fn an_index_gives_back_the_members_of_its_own_text_only() {
        let page = r#"[{"id": 1, "x": {"y": [1, 2]}, "s": "a\"b", "id": 2}, {"n": null}]"#;
        let objs = objects(page).unwrap();
        for o in &objs {
            let index = MemberIndex::of(o.text, &o.members).unwrap();
            // The record travels as an owned copy of its text; the index still fits it.
            let copy = o.text.to_owned();
            let m = index.members(&copy).unwrap();
            assert_eq!(m.0, Members::parse(&copy).unwrap().0);
        }
        let first = &objs[0];
        let index = MemberIndex::of(first.text, &first.members).unwrap();
        assert_eq!(index.members(first.text).unwrap().get("id"), Some("2"));
        // A text it was not taken from: refused, so the caller parses instead.
        assert!(index.members(r#"{"id": 3}"#).is_none(), "another length");
        let same_length = "é".repeat(first.text.len() / 2) + &"x".repeat(first.text.len() % 2);
        assert_eq!(same_length.len(), first.text.len());
        assert!(index.members(&same_length).is_none(), "spans off the characters");
        // Members not borrowed from the text cannot be indexed.
        let escaped = Members::parse(r#"{"\u0069d": 1}"#).unwrap();
        assert!(MemberIndex::of(r#"{"\u0069d": 1}"#, &escaped).is_none());
        assert!(MemberIndex::of("{}", &first.members).is_none(), "members of another text");
    }

    #[test]
    fn objects_at_a_member_are_split_with_the_rest_of_the_body_in_one_pass() {
        let body =
            r#"{"totalSize": 2, "records": [{"Id": "a", "x": [1]}, {"Id": "b"}], "done": true}"#;
        let (members, objs) = objects_at(body, "records").unwrap();
        let whole = Members::parse(body).unwrap();
        let apart = objects(whole.get("records").unwrap()).unwrap();
        assert_eq!(objs.len(), 2);
        for (o, a) in objs.iter().zip(&apart) {
            assert_eq!((o.text, &o.members), (a.text, &a.members));
        }
        assert_eq!(members.get("done"), Some("true"));
        assert_eq!(members.get("totalSize"), Some("2"));
        assert!(members.get("records").is_none(), "the records are not kept twice");
        // What one pass cannot tell: the caller reads the body and the array apart.
        assert!(objects_at(body, "result").is_none(), "no such member");
        assert!(objects_at(r#"{"records": [], "records": []}"#, "records").is_none());
        assert!(objects_at(r#"{"records": [1]}"#, "records").is_none(), "not objects");
        assert!(objects_at(r#"{"records": null}"#, "records").is_none());
        assert!(objects_at(r#"{"records": [{"a": 1}]"#, "records").is_none(), "cut short");
        assert!(objects_at(r#"{"records": [{"a": 1}]} x"#, "records").is_none(), "trailing");
        assert!(objects_at(r#"[{"a": 1}]"#, "records").is_none());
        assert_eq!(objects_at(r#"{"records": []}"#, "records").map(|(_, o)| o.len()), Some(0));
    }

    /// A random JSON value: nested objects and arrays, strings with escapes, quotes,
    /// braces and non-ASCII characters, numbers of every form, repeated names.
    fn random_value(rng: &mut impl rand::Rng, depth: u32) -> serde_json::Value {
        use serde_json::Value;
        let strings = ["", "a", "x\"y", "{[,]}", "back\\slash", "é ✓", "id", "name", "\u{1}"];
        match rng.gen_range(0..if depth > 3 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => Value::Bool(rng.r#gen()),
            2 => Value::from(rng.gen_range(-1_000_000i64..1_000_000)),
            3 => Value::from(rng.gen_range(-1e9..1e9f64)),
            4 => Value::from(strings[rng.gen_range(0..strings.len())]),
            5 => Value::Array(
                (0..rng.gen_range(0..4)).map(|_| random_value(rng, depth + 1)).collect(),
            ),
            _ => {
                let mut m = serde_json::Map::new();
                for _ in 0..rng.gen_range(0..6) {
                    let k = strings[rng.gen_range(0..strings.len())].to_owned();
                    m.insert(k, random_value(rng, depth + 1));
                }
                Value::Object(m)
            }
        }
    }

    #[test]
    fn a_member_walked_to_is_the_member_parsed() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let keys = ["", "a", "x\"y", "{[,]}", "back\\slash", "é ✓", "id", "name", "\u{1}", "nope"];
        let mut walked = 0;
        for n in 0..3000 {
            let mut v = random_value(&mut rng, 0);
            if !v.is_object() {
                v = serde_json::json!({"id": v, "name": {"inner": v}});
            }
            let compact = v.to_string();
            let pretty = serde_json::to_string_pretty(&v).unwrap();
            // A repeated name, which a map cannot hold: the last one counts.
            let repeated =
                format!("{{\"id\": 1, {}, \"id\" : [2, \"}}\"]}}", &compact[1..compact.len() - 1]);
            let repeated =
                if compact == "{}" { "{\"id\":1,\"id\":[2]}".to_owned() } else { repeated };
            for text in [&compact, &pretty, &repeated] {
                let parsed = Members::parse(text).unwrap_or_else(|| panic!("{n}: {text}"));
                for k in keys {
                    assert_eq!(member(text, k), parsed.get(k), "{n}: member {k:?} of {text}");
                    walked += matches!(walk_member(text.as_bytes(), k.as_bytes()), Walk::Found(..))
                        as u32;
                }
            }
        }
        assert!(walked > 3000, "the walk itself answered ({walked} times), not only the parse");
        assert_eq!(member("[1]", "a"), None);
        assert_eq!(member(r#"{"a\u0062": 1}"#, "ab"), Some("1"), "escaped names are parsed");
        assert_eq!(member(" {\"a\" :\ttrue } ", "a"), Some("true"));
        assert_eq!(member("{}", "a"), None);
    }
}
