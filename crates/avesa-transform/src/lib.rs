//! Canonical mappings: from a vendor's raw records to typed canonical rows.
//!
//! A mapping is a TOML file per (service, source table), saying which source field fills
//! which canonical column (see `mappings/` and `docs/connectors.md`). Paths are dotted
//! (`company.id`), may index arrays (`types[0].name`) or pick the first array element
//! whose field equals a value (`communicationItems[communicationType=Email].value`).
//! Values convert to the canonical column's type; a value that cannot convert is an
//! error naming the record, the column and the path, never a silent null.
//!
//! Mapping files are checked when loaded: a syntax error, an unknown canonical table or
//! column, or a malformed path is reported with the file, line and reason.

mod mapping;
mod path;

pub use mapping::{ColumnMapping, Mapping, MappingError, builtin_mappings};
pub use path::FieldPath;

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::record_batch::RecordBatch;
use avesa_model::RawRecord;
use avesa_model::json::Members;
use avesa_model::{ChunkId, ColumnType, TenantId};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A record that could not be mapped.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{service} {source_table} record {source_id}: column {column} (from {path}): {reason}")]
pub struct TransformError {
    pub service: String,
    pub source_table: String,
    pub source_id: String,
    pub column: String,
    pub path: String,
    pub reason: String,
}

/// A typed canonical value.
#[derive(Clone, Debug, PartialEq)]
enum Typed {
    Null,
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Ts(i64),
}

impl Typed {
    /// Appends a stable encoding to the record hash.
    fn hash_into(&self, h: &mut Sha256) {
        match self {
            Typed::Null => h.update([0u8]),
            Typed::Text(s) => {
                h.update([1u8]);
                h.update((s.len() as u64).to_le_bytes());
                h.update(s.as_bytes());
            }
            Typed::Int(i) => {
                h.update([2u8]);
                h.update(i.to_le_bytes());
            }
            Typed::Float(f) => {
                h.update([3u8]);
                h.update(f.to_bits().to_le_bytes());
            }
            Typed::Bool(b) => h.update([4u8, *b as u8]),
            Typed::Ts(t) => {
                h.update([5u8]);
                h.update(t.to_le_bytes());
            }
        }
    }
}

/// Parses the timestamp forms vendors send: RFC 3339 (`Z` or offset), Salesforce's
/// `+0000`, ServiceNow's `YYYY-MM-DD HH:MM:SS` (UTC) and bare dates.
pub fn parse_timestamp(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc).naive_utc());
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(t.with_timezone(&Utc).naive_utc());
    }
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t);
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0))
}

/// The value of a leaf found in a record.
fn leaf(raw: Option<&str>) -> Result<Option<Value>, String> {
    raw.map(|r| serde_json::from_str(r).map_err(|e| format!("not JSON: {e}"))).transpose()
}

/// Lower-case hex of `bytes`, in one allocation.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

fn convert(v: &Value, ty: ColumnType) -> Result<Typed, String> {
    match (ty, v) {
        (_, Value::Null) => Ok(Typed::Null),
        (ColumnType::Text, Value::String(s)) => Ok(Typed::Text(s.clone())),
        (ColumnType::Text, Value::Number(n)) => Ok(Typed::Text(n.to_string())),
        (ColumnType::Text, Value::Bool(b)) => Ok(Typed::Text(b.to_string())),
        (ColumnType::Int, Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9e15).map(|f| f as i64))
            .map(Typed::Int)
            .ok_or_else(|| format!("{n} is not an integer")),
        (ColumnType::Int, Value::String(s)) => {
            s.trim().parse::<i64>().map(Typed::Int).map_err(|_| format!("{s:?} is not an integer"))
        }
        (ColumnType::Float, Value::Number(n)) => {
            n.as_f64().map(Typed::Float).ok_or_else(|| format!("{n} is not a number"))
        }
        (ColumnType::Float, Value::String(s)) if s.trim().is_empty() => Ok(Typed::Null),
        (ColumnType::Float, Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Typed::Float)
            .ok_or_else(|| format!("{s:?} is not a number")),
        (ColumnType::Bool, Value::Bool(b)) => Ok(Typed::Bool(*b)),
        (ColumnType::Bool, Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "y" => Ok(Typed::Bool(true)),
            "false" | "0" | "no" | "n" | "" => Ok(Typed::Bool(false)),
            _ => Err(format!("{s:?} is not a boolean")),
        },
        (ColumnType::Bool, Value::Number(n)) => Ok(Typed::Bool(n.as_f64() != Some(0.0))),
        (ColumnType::Timestamp, Value::String(s)) if s.trim().is_empty() => Ok(Typed::Null),
        (ColumnType::Timestamp, Value::String(s)) => parse_timestamp(s)
            .map(|t| Typed::Ts(t.and_utc().timestamp_micros()))
            .ok_or_else(|| format!("{s:?} is not a date-time")),
        (_, other) => Err(format!("cannot convert {} to {ty:?}", kind(other))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

enum Builder {
    Text(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Ts(TimestampMicrosecondBuilder),
}

impl Builder {
    fn new(ty: ColumnType, cap: usize) -> Self {
        match ty {
            ColumnType::Text => Builder::Text(StringBuilder::with_capacity(cap, cap * 16)),
            ColumnType::Int => Builder::Int(Int64Builder::with_capacity(cap)),
            ColumnType::Float => Builder::Float(Float64Builder::with_capacity(cap)),
            ColumnType::Bool => Builder::Bool(BooleanBuilder::with_capacity(cap)),
            ColumnType::Timestamp => Builder::Ts(TimestampMicrosecondBuilder::with_capacity(cap)),
        }
    }

    fn push(&mut self, v: &Typed) {
        match (self, v) {
            (Builder::Text(b), Typed::Text(s)) => b.append_value(s),
            (Builder::Int(b), Typed::Int(i)) => b.append_value(*i),
            (Builder::Float(b), Typed::Float(f)) => b.append_value(*f),
            (Builder::Bool(b), Typed::Bool(x)) => b.append_value(*x),
            (Builder::Ts(b), Typed::Ts(t)) => b.append_value(*t),
            (Builder::Text(b), _) => b.append_null(),
            (Builder::Int(b), _) => b.append_null(),
            (Builder::Float(b), _) => b.append_null(),
            (Builder::Bool(b), _) => b.append_null(),
            (Builder::Ts(b), _) => b.append_null(),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            Builder::Text(mut b) => Arc::new(b.finish()),
            Builder::Int(mut b) => Arc::new(b.finish()),
            Builder::Float(mut b) => Arc::new(b.finish()),
            Builder::Bool(mut b) => Arc::new(b.finish()),
            Builder::Ts(mut b) => Arc::new(b.finish()),
        }
    }
}

impl Mapping {
    /// Maps one chunk's raw records to a canonical batch (schema
    /// `canonical_table.arrow_schema()`). CPU work: call it off the async reactor.
    pub fn apply(
        &self,
        tenant: &TenantId,
        chunk: ChunkId,
        extracted_at: DateTime<Utc>,
        records: &[RawRecord],
    ) -> Result<RecordBatch, Box<TransformError>> {
        let table = self.canonical_table;
        let n = records.len();
        let extracted = extracted_at.naive_utc().and_utc().timestamp_micros();
        let chunk = chunk.to_string();
        let mut meta: Vec<Builder> =
            avesa_model::META_COLUMNS.iter().map(|c| Builder::new(c.ty, n)).collect();
        let mut cols: Vec<Builder> =
            table.columns().iter().map(|c| Builder::new(c.ty, n)).collect();
        let mut row: Vec<Typed> = Vec::with_capacity(cols.len());
        for rec in records {
            // The record's members, values kept as raw text: as the connector split them
            // (no pass over the text), or from one pass; only the leaves the columns ask
            // for are decoded.
            let doc = rec.members().ok_or_else(|| {
                Box::new(TransformError {
                    service: self.service.clone(),
                    source_table: self.source_table.clone(),
                    source_id: rec.source_id.clone(),
                    column: "*".into(),
                    path: "*".into(),
                    reason: "raw record is not a JSON object".into(),
                })
            })?;
            row.clear();
            let mut hasher = Sha256::new();
            for (col, m) in table.columns().iter().zip(&self.columns) {
                let v = match m {
                    None => Typed::Null,
                    Some(m) => m.extract(&doc, col.ty).map_err(|reason| {
                        Box::new(TransformError {
                            service: self.service.clone(),
                            source_table: self.source_table.clone(),
                            source_id: rec.source_id.clone(),
                            column: col.name.into(),
                            path: m.path.to_string(),
                            reason,
                        })
                    })?,
                };
                v.hash_into(&mut hasher);
                row.push(v);
            }
            let digest = hasher.finalize();
            let hash = hex(&digest[..16]);
            let updated = rec.updated_at.map_or(extracted, |t| t.timestamp_micros());
            let meta_values = [
                Typed::Text(tenant.as_str().to_owned()),
                Typed::Text(self.service.clone()),
                Typed::Text(rec.source_id.clone()),
                Typed::Ts(updated),
                Typed::Bool(rec.deleted),
                Typed::Text(hash),
                Typed::Ts(extracted),
                Typed::Text(chunk.clone()),
            ];
            for (b, v) in meta.iter_mut().zip(&meta_values) {
                b.push(v);
            }
            for (b, v) in cols.iter_mut().zip(&row) {
                b.push(v);
            }
        }
        let arrays: Vec<ArrayRef> = meta.into_iter().chain(cols).map(Builder::finish).collect();
        Ok(RecordBatch::try_new(table.arrow_schema(), arrays)
            .expect("builders follow the canonical schema"))
    }
}

impl ColumnMapping {
    fn extract(&self, doc: &Members<'_>, ty: ColumnType) -> Result<Typed, String> {
        let found = leaf(self.path.resolve_in(doc))?;
        let raw: Option<&Value> = match (&found, &self.map) {
            (Some(Value::String(s)), Some(map)) => map.get(s).or(found.as_ref()),
            (found, _) => found.as_ref(),
        };
        let raw = match raw {
            None | Some(Value::Null) => self.default.as_ref().unwrap_or(&Value::Null),
            Some(v) => v,
        };
        let typed = convert(raw, ty)?;
        Ok(match (typed, self.negate, self.divide) {
            (Typed::Bool(b), true, _) => Typed::Bool(!b),
            (Typed::Float(f), _, Some(d)) => Typed::Float(f / d),
            (Typed::Text(first), _, _) if !self.concat.is_empty() => {
                let mut out = first;
                for p in &self.concat {
                    if let Some(Value::String(s)) = leaf(p.resolve_in(doc))?
                        && !s.is_empty()
                    {
                        if !out.is_empty() {
                            out.push(' ');
                        }
                        out.push_str(&s);
                    }
                }
                Typed::Text(out)
            }
            (t, _, _) => t,
        })
    }
}

#[cfg(test)]
mod tests;
