//! Field paths into a vendor's JSON record.

use std::fmt;

use avesa_model::json::{Members, elements, member};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
    /// The first array element whose `field` equals `value` (compared as text).
    Match {
        field: String,
        value: String,
    },
}

/// A parsed path such as `communicationItems[communicationType=Email].value`.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldPath {
    text: String,
    steps: Vec<Step>,
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FieldPath {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut steps = Vec::new();
        if text.trim().is_empty() {
            return Err("empty path".into());
        }
        for part in text.split('.') {
            let (key, mut rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            let key_ok = !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '@' || c == '$');
            if !key_ok {
                return Err(format!("invalid path {text:?}: bad field name {key:?}"));
            }
            steps.push(Step::Key(key.to_owned()));
            while !rest.is_empty() {
                let close =
                    rest.find(']').ok_or_else(|| format!("invalid path {text:?}: unclosed '['"))?;
                let inner = &rest[1..close];
                if let Some((f, v)) = inner.split_once('=') {
                    if f.is_empty() {
                        return Err(format!("invalid path {text:?}: empty field in [{inner}]"));
                    }
                    steps.push(Step::Match { field: f.to_owned(), value: v.to_owned() });
                } else {
                    let i = inner.parse::<usize>().map_err(|_| {
                        format!(
                            "invalid path {text:?}: [{inner}] is neither an index nor field=value"
                        )
                    })?;
                    steps.push(Step::Index(i));
                }
                rest = &rest[close + 1..];
                if !rest.is_empty() && !rest.starts_with('[') {
                    return Err(format!("invalid path {text:?}: unexpected {rest:?} after ']'"));
                }
            }
        }
        Ok(FieldPath { text: text.to_owned(), steps })
    }

    /// The raw JSON at this path in the record whose members are `root`, if every step
    /// exists: the objects and arrays on the way are split only where a step goes into
    /// them, and nothing is decoded (the caller decodes the leaf). The same rules as the
    /// reference the tests hold over a `serde_json::Value`.
    pub fn resolve_in<'a>(&self, root: &Members<'a>) -> Option<&'a str> {
        let mut steps = self.steps.iter();
        let mut cur = match steps.next()? {
            Step::Key(k) => root.get(k)?,
            _ => return None,
        };
        for step in steps {
            cur = match step {
                Step::Key(k) => member(cur, k)?,
                Step::Index(i) => *elements(cur)?.get(*i)?,
                Step::Match { field, value } => elements(cur)?.into_iter().find(|el| {
                    let Some(raw) = member(el, field) else {
                        return false;
                    };
                    match serde_json::from_str::<Value>(raw) {
                        Ok(Value::String(s)) => s == *value,
                        Ok(other) => serde_json::to_string(&other).is_ok_and(|s| s == *value),
                        Err(_) => false,
                    }
                })?,
            };
        }
        Some(cur)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The reference reading of a path over a whole decoded document, which
    /// [`FieldPath::resolve_in`] must agree with.
    fn resolve<'a>(path: &FieldPath, doc: &'a Value) -> Option<&'a Value> {
        let mut cur = doc;
        for step in &path.steps {
            cur = match step {
                Step::Key(k) => cur.get(k)?,
                Step::Index(i) => cur.get(*i)?,
                Step::Match { field, value } => {
                    cur.as_array()?.iter().find(|el| match el.get(field) {
                        Some(Value::String(s)) => s == value,
                        Some(other) => serde_json::to_string(other).is_ok_and(|s| s == *value),
                        None => false,
                    })?
                }
            };
        }
        Some(cur)
    }

    #[test]
    fn paths_resolve() {
        let doc = json!({"company": {"id": 5}, "types": [{"name": "Client"}],
            "items": [{"t": "Phone", "v": "1"}, {"t": "Email", "v": "a@b"}, {"t": 2, "v": "n"}]});
        let text = doc.to_string();
        let members = Members::parse(&text).unwrap();
        let get = |p: &str| {
            let path = FieldPath::parse(p).unwrap();
            let v = resolve(&path, &doc).cloned();
            // The lazy reading of the text finds the same.
            let raw = path.resolve_in(&members).map(|r| serde_json::from_str(r).unwrap());
            assert_eq!(raw, v, "{p}");
            v
        };
        assert_eq!(get("company.id"), Some(json!(5)));
        assert_eq!(get("types[0].name"), Some(json!("Client")));
        assert_eq!(get("items[t=Email].v"), Some(json!("a@b")));
        assert_eq!(get("items[t=Fax].v"), None);
        assert_eq!(get("items[t=2].v"), Some(json!("n")), "a number matched as text");
        assert_eq!(get("missing.deep"), None);
    }

    #[test]
    fn bad_paths_are_rejected() {
        for p in ["", "a..b", "a[", "a[x]", "a[0]b", "a b"] {
            assert!(FieldPath::parse(p).is_err(), "{p:?} accepted");
        }
    }
}
