//! Mapping files: loading and validation.

use std::collections::BTreeMap;

use avesa_model::CanonicalTable;
use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use crate::path::FieldPath;

/// A mapping file that cannot be used, with where and why.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{file}:{line}: {reason}")]
pub struct MappingError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

/// How one canonical column is filled.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnMapping {
    pub path: FieldPath,
    /// Source value → canonical value, for enumerations.
    pub map: Option<BTreeMap<String, Value>>,
    /// Used when the path is missing or null.
    pub default: Option<Value>,
    /// For booleans: store the opposite (`inactiveFlag` → `active`).
    pub negate: bool,
    /// For numbers: divide by this (`time_in_seconds` → hours with 3600).
    pub divide: Option<f64>,
    /// Further paths whose non-empty values are appended, space-separated (a full name
    /// from first and last names).
    pub concat: Vec<FieldPath>,
}

/// A loaded, validated mapping of one source table to one canonical table.
#[derive(Clone, Debug, PartialEq)]
pub struct Mapping {
    pub service: String,
    pub source_table: String,
    pub canonical_table: CanonicalTable,
    /// One entry per business column of the canonical table, in schema order; `None` =
    /// the service has no data for it (stays null).
    pub columns: Vec<Option<ColumnMapping>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    service: String,
    source_table: String,
    canonical_table: Spanned<String>,
    columns: BTreeMap<Spanned<String>, Spanned<RawColumn>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawColumn {
    Path(String),
    Full(FullColumn),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FullColumn {
    path: String,
    #[serde(default)]
    map: Option<BTreeMap<String, toml::Value>>,
    #[serde(default)]
    default: Option<toml::Value>,
    #[serde(default)]
    negate: bool,
    #[serde(default)]
    divide: Option<f64>,
    #[serde(default)]
    concat: Vec<String>,
}

fn line_of(src: &str, offset: usize) -> usize {
    src[..offset.min(src.len())].bytes().filter(|&b| b == b'\n').count() + 1
}

fn to_json(v: toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.into_iter().map(to_json).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.into_iter().map(|(k, v)| (k, to_json(v))).collect())
        }
    }
}

impl Mapping {
    /// Parses and validates a mapping file's text. `file` names it in errors.
    pub fn parse(file: &str, src: &str) -> Result<Self, MappingError> {
        let err =
            |line: usize, reason: String| MappingError { file: file.to_owned(), line, reason };
        let raw: RawMapping = toml::from_str(src).map_err(|e| {
            let line = e.span().map_or(1, |s| line_of(src, s.start));
            err(line, e.message().to_owned())
        })?;
        let table: CanonicalTable =
            raw.canonical_table.get_ref().parse().map_err(|e: avesa_model::IdError| {
                err(line_of(src, raw.canonical_table.span().start), e.0)
            })?;
        let mut columns: Vec<Option<ColumnMapping>> = vec![None; table.columns().len()];
        for (name, spec) in raw.columns {
            let line = line_of(src, name.span().start);
            let Some(idx) = table.columns().iter().position(|c| c.name == name.get_ref()) else {
                let known: Vec<&str> = table.columns().iter().map(|c| c.name).collect();
                return Err(err(
                    line,
                    format!(
                        "unknown column {:?} for canonical table {table}; known columns: {}",
                        name.get_ref(),
                        known.join(", ")
                    ),
                ));
            };
            let m = match spec.into_inner() {
                RawColumn::Path(p) => ColumnMapping {
                    path: FieldPath::parse(&p).map_err(|e| err(line, e))?,
                    map: None,
                    default: None,
                    negate: false,
                    divide: None,
                    concat: Vec::new(),
                },
                RawColumn::Full(f) => {
                    if f.negate && table.columns()[idx].ty != avesa_model::ColumnType::Bool {
                        return Err(err(
                            line,
                            format!(
                                "negate applies only to boolean columns, and {} is not one",
                                name.get_ref()
                            ),
                        ));
                    }
                    let ty = table.columns()[idx].ty;
                    if let Some(d) = f.divide
                        && (!matches!(ty, avesa_model::ColumnType::Float)
                            || d == 0.0
                            || !d.is_finite())
                    {
                        return Err(err(
                            line,
                            format!(
                                "divide needs a float column and a non-zero number, got {d} for {}",
                                name.get_ref()
                            ),
                        ));
                    }
                    if !f.concat.is_empty() && ty != avesa_model::ColumnType::Text {
                        return Err(err(
                            line,
                            format!(
                                "concat applies only to text columns, and {} is not one",
                                name.get_ref()
                            ),
                        ));
                    }
                    ColumnMapping {
                        path: FieldPath::parse(&f.path).map_err(|e| err(line, e))?,
                        map: f.map.map(|m| m.into_iter().map(|(k, v)| (k, to_json(v))).collect()),
                        default: f.default.map(to_json),
                        negate: f.negate,
                        divide: f.divide,
                        concat: f
                            .concat
                            .iter()
                            .map(|p| FieldPath::parse(p).map_err(|e| err(line, e)))
                            .collect::<Result<_, _>>()?,
                    }
                }
            };
            columns[idx] = Some(m);
        }
        Ok(Mapping {
            service: raw.service,
            source_table: raw.source_table,
            canonical_table: table,
            columns,
        })
    }
}

/// The mappings shipped in the binary (`mappings/{service}/{table}.toml` in this crate).
pub fn builtin_mappings() -> Vec<Mapping> {
    macro_rules! files {
        ($($f:literal),* $(,)?) => {
            &[$((concat!("mappings/", $f, ".toml"), include_str!(concat!("../mappings/", $f, ".toml")))),*]
        };
    }
    const FILES: &[(&str, &str)] = files![
        "connectwise/companies",
        "connectwise/contacts",
        "connectwise/tickets",
        "connectwise/time_entries",
        "connectwise/members",
        "servicenow/core_company",
        "servicenow/customer_contact",
        "servicenow/incident",
        "servicenow/task_time_worked",
        "servicenow/sys_user",
        "salesforce/Account",
        "salesforce/Contact",
        "salesforce/Case",
        "salesforce/User",
        "microsoft365/users",
    ];
    FILES
        .iter()
        .map(|(f, s)| {
            Mapping::parse(f, s).unwrap_or_else(|e| panic!("built-in mapping is invalid: {e}"))
        })
        .collect()
}
