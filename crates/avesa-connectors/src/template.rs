//! `{name}` placeholders in spec strings.
//!
//! Spec files write URLs, parameters, headers and filters as templates: `{instance_url}`
//! is a configuration field, `{time}` and `{id}` the cursor, `{limit}` the page size,
//! `{filter}` the rendered incremental filter. `{{` and `}}` are literal braces. Templates
//! are parsed when the spec loads, so an unknown placeholder is a load error with the
//! file and line, never a surprise at sync time.

use std::collections::BTreeMap;

/// A parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
    source: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Lit(String),
    Var(String),
}

impl Template {
    /// Parses `s`; every placeholder must be one of `allowed` (or a configuration field
    /// when `config` lists it).
    pub fn parse(s: &str, allowed: &[&str], config: &[String]) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    lit.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err(format!("unclosed placeholder in {s:?}")),
                        }
                    }
                    let name = name.trim().to_owned();
                    if !allowed.contains(&name.as_str()) && !config.contains(&name) {
                        let mut known: Vec<&str> = allowed.to_vec();
                        known.extend(config.iter().map(String::as_str));
                        return Err(format!(
                            "unknown placeholder {{{name}}} in {s:?} (known here: {})",
                            known.join(", ")
                        ));
                    }
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Var(name));
                }
                '}' => return Err(format!("stray '}}' in {s:?} (write '}}}}' for a brace)")),
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template { parts, source: s.to_owned() })
    }

    /// Renders with `vars`; a placeholder without a value renders empty.
    pub fn render(&self, vars: &Vars<'_>) -> String {
        let mut out = String::with_capacity(self.source.len() + 32);
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Var(v) => out.push_str(vars.get(v).unwrap_or("")),
            }
        }
        out
    }

    /// Whether the template uses `name`.
    pub fn uses(&self, name: &str) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Var(v) if v == name))
    }

    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Placeholder values: layered, later layers win.
#[derive(Default)]
pub struct Vars<'a> {
    layers: Vec<&'a BTreeMap<String, String>>,
    own: BTreeMap<String, String>,
}

impl<'a> Vars<'a> {
    pub fn new(base: &'a BTreeMap<String, String>) -> Self {
        Vars { layers: vec![base], own: BTreeMap::new() }
    }

    pub fn set(&mut self, k: &str, v: impl Into<String>) -> &mut Self {
        self.own.insert(k.to_owned(), v.into());
        self
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        if let Some(v) = self.own.get(k) {
            return Some(v);
        }
        self.layers.iter().rev().find_map(|l| l.get(k)).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_escapes() {
        let cfg = vec!["instance_url".to_owned()];
        let t = Template::parse("{instance_url}/x?{{a}}={limit}", &["limit"], &cfg).unwrap();
        let base = BTreeMap::from([("instance_url".to_owned(), "http://h".to_owned())]);
        let mut v = Vars::new(&base);
        v.set("limit", "5");
        assert_eq!(t.render(&v), "http://h/x?{a}=5");
        assert!(t.uses("limit"));
    }

    #[test]
    fn unknown_and_malformed_placeholders_are_errors() {
        let e = Template::parse("{nope}", &["limit"], &[]).unwrap_err();
        assert!(e.contains("unknown placeholder {nope}"), "{e}");
        assert!(Template::parse("{open", &[], &[]).unwrap_err().contains("unclosed"));
        assert!(Template::parse("a}b", &[], &[]).unwrap_err().contains("stray"));
    }
}
