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

/// An object's members in document order.
#[derive(Debug)]
pub struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> Members<'a> {
    /// The members of `raw`, or `None` when it is not a JSON object.
    pub fn of(raw: &'a RawValue) -> Option<Self> {
        Self::parse(raw.get())
    }

    /// The members of the object `text`, or `None` when it is not a JSON object.
    pub fn parse(text: &'a str) -> Option<Self> {
        if !text.trim_start().starts_with('{') {
            return None;
        }
        serde_json::from_str(text).ok()
    }

    /// The member named `key`; the last one if the name repeats (as `serde_json::Value`).
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

/// The elements of `raw` if it is a JSON array.
pub fn elements(raw: &RawValue) -> Option<Vec<&RawValue>> {
    if !raw.get().trim_start().starts_with('[') {
        return None;
    }
    serde_json::from_str(raw.get()).ok()
}

/// An object element of an array: its exact text and its members.
#[derive(Debug)]
pub struct Object<'a> {
    pub text: &'a str,
    pub members: Members<'a>,
}

/// The elements of the JSON array `text`, each an object with its members and its exact
/// text, from one pass over the array: what [`elements`] then [`Members::of`] on each
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

/// The text of the object in `doc` whose members are `m`: from the brace before its
/// first member's name to the brace after its last member's value (only JSON white space
/// between), both found by where the borrowed name and value lie in `doc`.
fn span<'a>(doc: &'a str, m: &Members<'a>) -> Option<&'a str> {
    let offset = |s: &str| (s.as_ptr() as usize).checked_sub(doc.as_ptr() as usize);
    let Cow::Borrowed(first) = &m.0.first()?.0 else { return None };
    let last = m.0.last()?.1.get();
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
                    out.push((k, v));
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
        assert_eq!(m.get("ab").map(RawValue::get), Some("1"), "an escaped name is decoded");
        assert_eq!(m.get("q\"t").map(RawValue::get), Some("true"));
        assert_eq!(m.get("x").map(RawValue::get), Some("2"), "the last of a repeated name");
        assert!(m.get("y").is_none());
        assert!(Members::parse("[1, 2]").is_none() && Members::parse("{broken").is_none());
        let list: &RawValue = serde_json::from_str(r#"[{"a": 1}, 2]"#).unwrap();
        let els = elements(list).unwrap();
        assert_eq!((els.len(), els[1].get()), (2, "2"));
        assert!(elements(m.get("ab").unwrap()).is_none());
    }

    #[test]
    fn objects_of_an_array_are_its_elements_with_their_members() {
        let text = "[ {\"id\": 1, \"x\": {\"y\": [1, {\"z\": \"}\"}]}} ,\n\t{ \"id\" :\"two\" , \"id\": 3 }\r\n]";
        let objs = objects(text).unwrap();
        let els = elements(serde_json::from_str(text).unwrap()).unwrap();
        assert_eq!(objs.len(), 2);
        for (o, e) in objs.iter().zip(&els) {
            assert_eq!(o.text, e.get(), "the element's exact text");
            let m = Members::of(e).unwrap();
            assert_eq!(o.members.0.len(), m.0.len());
            assert_eq!(o.members.get("id").map(RawValue::get), m.get("id").map(RawValue::get));
        }
        assert_eq!(objs[1].members.get("id").map(RawValue::get), Some("3"));
        // What one pass cannot tell: the caller falls back to two.
        assert!(objects("[{}]").is_none(), "an empty object");
        assert!(objects(r#"[{"\u0069d": 1}]"#).is_none(), "an escaped first name");
        assert!(objects("[1, {\"a\": 2}]").is_none(), "an element not an object");
        assert!(objects("{\"a\": 1}").is_none() && objects("[{\"a\": 1}").is_none());
        assert_eq!(objects("[]").map(|o| o.len()), Some(0));
    }
}
