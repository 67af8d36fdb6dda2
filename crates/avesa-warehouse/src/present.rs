//! How a stored row becomes the JSON record the API returns, in one place for every
//! backend: a backend selects the columns a [`Projection`] names, in its order, hands each
//! value over as a typed [`Cell`], and [`Projection::record`] builds the record (the public
//! `id`, RFC 3339 timestamps, `null` for a missing number). So two backends holding the
//! same versions answer byte for byte the same.

use avesa_model::{CanonicalTable, ColumnType};
use chrono::DateTime;
use serde_json::Value;

use crate::{Record, WarehouseError};

/// One value as a backend read it, typed by the column it came from.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// Microseconds since the Unix epoch, UTC.
    Timestamp(i64),
}

/// Where a projected value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A column of the table being read (alias `r` in SQL backends).
    Column,
    /// The name of the company the row refers to (`company_id`), as visible at the same
    /// instant as the row: joined from `companies`.
    CompanyName,
}

/// One projected column: the stored column it reads and its type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub ty: ColumnType,
    pub source: Source,
}

/// The columns a record read selects, in order, and how they become JSON.
#[derive(Clone, Debug)]
pub struct Projection {
    fields: Vec<Field>,
}

const fn column(name: &'static str, ty: ColumnType) -> Field {
    Field { name, ty, source: Source::Column }
}

impl Projection {
    /// A current or as-of read of `table` (`history: false`), or a history read, which
    /// adds the SCD2 columns.
    pub fn new(table: CanonicalTable, history: bool) -> Self {
        let mut fields = vec![
            column("source_service", ColumnType::Text),
            column("source_id", ColumnType::Text),
            column("source_updated_at", ColumnType::Timestamp),
        ];
        fields.extend(table.columns().iter().map(|c| column(c.name, c.ty)));
        if history {
            fields.extend([
                column("valid_from", ColumnType::Timestamp),
                column("valid_to", ColumnType::Timestamp),
                column("is_deleted", ColumnType::Bool),
                column("is_current", ColumnType::Bool),
            ]);
        }
        if joins_company(table) {
            fields.push(Field {
                name: "company_name",
                ty: ColumnType::Text,
                source: Source::CompanyName,
            });
        }
        Projection { fields }
    }

    /// What the backend must select, in this order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The API record for one row whose values follow [`Projection::fields`].
    pub fn record(&self, cells: Vec<Cell>) -> Result<Record, WarehouseError> {
        if cells.len() != self.fields.len() {
            return Err(WarehouseError::Internal(format!(
                "a row of {} values for a projection of {}",
                cells.len(),
                self.fields.len()
            )));
        }
        let mut rec = Record::new();
        let mut cells = cells.into_iter();
        let (service, id) = match (cells.next(), cells.next()) {
            (Some(Cell::Text(s)), Some(Cell::Text(i))) => (s, i),
            other => {
                return Err(WarehouseError::Internal(format!(
                    "a row without its source keys: {other:?}"
                )));
            }
        };
        rec.insert("id".into(), Value::String(format!("{service}:{id}")));
        rec.insert("source_service".into(), Value::String(service.clone()));
        rec.insert("source_id".into(), Value::String(id));
        for (field, cell) in self.fields[2..].iter().zip(cells) {
            let value = match cell {
                // A reference is the public id of the record it names, in the same service.
                Cell::Text(v) if is_reference(field) => Value::String(format!("{service}:{v}")),
                cell => json(field, cell)?,
            };
            rec.insert(field.name.into(), value);
        }
        Ok(rec)
    }
}

/// Whether a field names another record (`company_id`, `contact_id`, `owner_id`,
/// `member_id`, `ticket_id`): the API shows it as that record's public id, which
/// `GET /api/{table}/{id}` fetches, and `null` where the source has no such link.
pub fn is_reference(field: &Field) -> bool {
    field.source == Source::Column
        && field.ty == ColumnType::Text
        && field.name.ends_with("_id")
        && field.name != "source_id"
}

/// Whether rows of `table` refer to a company (and so carry its name, `company_name`).
pub fn joins_company(table: CanonicalTable) -> bool {
    table != CanonicalTable::Companies && table.column("company_id").is_some()
}

/// A stored timestamp as the API shows it: RFC 3339, whole seconds, UTC (`Z`).
pub fn timestamp_text(micros: i64) -> Option<String> {
    DateTime::from_timestamp_micros(micros).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

fn json(field: &Field, cell: Cell) -> Result<Value, WarehouseError> {
    Ok(match (field.ty, cell) {
        (_, Cell::Null) => Value::Null,
        (ColumnType::Text, Cell::Text(s)) => Value::String(s),
        (ColumnType::Int, Cell::Int(i)) => Value::from(i),
        (ColumnType::Float, Cell::Float(f)) => {
            serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
        }
        (ColumnType::Float, Cell::Int(i)) => Value::from(i as f64),
        (ColumnType::Bool, Cell::Bool(b)) => Value::Bool(b),
        (ColumnType::Timestamp, Cell::Timestamp(us)) => {
            timestamp_text(us).map_or(Value::Null, Value::String)
        }
        (ty, cell) => {
            return Err(WarehouseError::Internal(format!(
                "column {} is {ty:?} but the backend returned {cell:?}",
                field.name
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_has_its_public_id_and_rfc3339_times() {
        let p = Projection::new(CanonicalTable::Companies, true);
        let mut cells = vec![
            Cell::Text("connectwise".into()),
            Cell::Text("250".into()),
            Cell::Timestamp(1_700_000_000_123_456),
        ];
        for f in &p.fields()[3..] {
            cells.push(match (f.name, f.ty) {
                ("name", _) => Cell::Text("Acme".into()),
                ("valid_to", _) => Cell::Null,
                (_, ColumnType::Bool) => Cell::Bool(true),
                (_, ColumnType::Timestamp) => Cell::Timestamp(0),
                _ => Cell::Null,
            });
        }
        let r = p.record(cells).unwrap();
        assert_eq!(r["id"], "connectwise:250");
        assert_eq!(r["source_updated_at"], "2023-11-14T22:13:20Z");
        assert_eq!(r["valid_from"], "1970-01-01T00:00:00Z");
        assert_eq!(r["valid_to"], Value::Null);
        assert_eq!(r["is_current"], true);
        assert_eq!(r["name"], "Acme");
        assert!(!r.contains_key("company_name"), "companies do not join themselves");
    }

    #[test]
    fn references_are_public_ids_of_the_same_service() {
        let p = Projection::new(CanonicalTable::TimeEntries, false);
        let cells: Vec<Cell> = p
            .fields()
            .iter()
            .map(|f| match f.name {
                "source_service" => Cell::Text("connectwise".into()),
                "source_id" => Cell::Text("9".into()),
                "ticket_id" => Cell::Text("241000".into()),
                "notes" => Cell::Text("x_id".into()),
                _ => Cell::Null,
            })
            .collect();
        let r = p.record(cells).unwrap();
        assert_eq!(r["ticket_id"], "connectwise:241000");
        assert_eq!(r["member_id"], Value::Null, "no link: null, not a made-up id");
        assert_eq!(r["notes"], "x_id");
        assert_eq!(r["source_id"], "9");
    }

    #[test]
    fn a_backend_type_mismatch_is_a_bug_not_a_value() {
        let p = Projection::new(CanonicalTable::Companies, false);
        let mut cells =
            vec![Cell::Text("s".into()), Cell::Text("1".into()), Cell::Text("x".into())];
        cells.extend(p.fields()[3..].iter().map(|_| Cell::Null));
        assert!(matches!(p.record(cells), Err(WarehouseError::Internal(_))));
        assert!(matches!(p.record(vec![]), Err(WarehouseError::Internal(_))));
    }

    #[test]
    fn floats_that_json_cannot_hold_are_null() {
        let f = column("hours", ColumnType::Float);
        assert_eq!(json(&f, Cell::Float(f64::NAN)).unwrap(), Value::Null);
        assert_eq!(json(&f, Cell::Float(2.25)).unwrap(), serde_json::json!(2.25));
    }
}
