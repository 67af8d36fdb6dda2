//! Raw Parquet: each record exactly as the vendor sent it (JSON text), with extracted
//! metadata. Raw is the replay log: canonical and the warehouse can be rebuilt from it.

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, BooleanArray, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use avesa_model::{ChunkId, RawRecord, TenantId};
use chrono::{DateTime, Utc};

static RAW_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
    Arc::new(Schema::new(vec![
        Field::new("tenant_id", DataType::Utf8, false),
        Field::new("service", DataType::Utf8, false),
        Field::new("source_table", DataType::Utf8, false),
        Field::new("chunk_id", DataType::Utf8, false),
        Field::new("source_id", DataType::Utf8, false),
        Field::new("source_updated_at", ts.clone(), true),
        Field::new("is_deleted", DataType::Boolean, false),
        Field::new("extracted_at", ts, false),
        Field::new("record", DataType::Utf8, false),
    ]))
});

pub fn raw_schema() -> SchemaRef {
    RAW_SCHEMA.clone()
}

/// Builds the raw batch of one chunk.
pub fn raw_batch(
    tenant: &TenantId,
    service: &str,
    table: &str,
    chunk: ChunkId,
    extracted_at: DateTime<Utc>,
    records: &[RawRecord],
) -> RecordBatch {
    let n = records.len();
    let repeat = |s: &str| Arc::new(StringArray::from(vec![s; n])) as ArrayRef;
    let chunk = chunk.to_string();
    let columns: Vec<ArrayRef> = vec![
        repeat(tenant.as_str()),
        repeat(service),
        repeat(table),
        repeat(&chunk),
        Arc::new(StringArray::from_iter_values(records.iter().map(|r| r.source_id.as_str()))),
        Arc::new(TimestampMicrosecondArray::from_iter(
            records.iter().map(|r| r.updated_at.map(|t| t.timestamp_micros())),
        )),
        Arc::new(BooleanArray::from_iter(records.iter().map(|r| Some(r.deleted)))),
        Arc::new(TimestampMicrosecondArray::from(vec![extracted_at.timestamp_micros(); n])),
        Arc::new(StringArray::from_iter_values(records.iter().map(|r| r.json.as_str()))),
    ];
    RecordBatch::try_new(raw_schema(), columns).expect("columns match the raw schema")
}

/// One raw file read back: the chunk it was landed by, when, and its records as the
/// vendor sent them.
#[derive(Clone, Debug, PartialEq)]
pub struct RawChunk {
    pub chunk: ChunkId,
    pub extracted_at: DateTime<Utc>,
    pub records: Vec<RawRecord>,
}

/// Reads the batches of one raw file back into its records (the inverse of
/// [`raw_batch`]); a file that does not have the raw schema, or mixes chunks, is an error.
pub fn read_raw(batches: &[RecordBatch]) -> crate::Result<Option<RawChunk>> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::TimestampMicrosecondType;
    let bad = |why: String| crate::LakeError::Other(format!("not a raw file: {why}"));
    let mut out: Option<RawChunk> = None;
    for batch in batches {
        let col =
            |name: &str| batch.column_by_name(name).ok_or_else(|| bad(format!("no column {name}")));
        let strings = |name: &str| -> crate::Result<StringArray> {
            col(name)?
                .as_string_opt::<i32>()
                .cloned()
                .ok_or_else(|| bad(format!("{name} is not text")))
        };
        let times = |name: &str| {
            col(name)?
                .as_primitive_opt::<TimestampMicrosecondType>()
                .cloned()
                .ok_or_else(|| bad(format!("{name} is not a timestamp")))
        };
        let (chunks, ids, jsons) =
            (strings("chunk_id")?, strings("source_id")?, strings("record")?);
        let (updated, extracted) = (times("source_updated_at")?, times("extracted_at")?);
        let deleted = col("is_deleted")?
            .as_boolean_opt()
            .cloned()
            .ok_or_else(|| bad("is_deleted is not a flag".into()))?;
        for i in 0..batch.num_rows() {
            let chunk: ChunkId =
                chunks.value(i).parse().map_err(|e: avesa_model::IdError| bad(e.to_string()))?;
            let at = DateTime::from_timestamp_micros(extracted.value(i))
                .ok_or_else(|| bad("extracted_at out of range".into()))?;
            let rc =
                out.get_or_insert_with(|| RawChunk { chunk, extracted_at: at, records: vec![] });
            if rc.chunk != chunk || rc.extracted_at != at {
                return Err(bad("rows of more than one chunk".into()));
            }
            rc.records.push(RawRecord::new(
                ids.value(i),
                (!updated.is_null(i))
                    .then(|| DateTime::from_timestamp_micros(updated.value(i)))
                    .flatten(),
                deleted.value(i),
                jsons.value(i),
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_batch_reads_back_as_the_records_it_was_made_of() {
        let t = TenantId::new("acme").unwrap();
        let chunk = ChunkId::new();
        let at = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let records = vec![
            RawRecord::new("1", Some(at), false, r#"{"id":1}"#),
            RawRecord::new("2", None, true, "{}"),
        ];
        let batch = raw_batch(&t, "connectwise", "tickets", chunk, at, &records);
        let back = read_raw(&[batch.slice(0, 1), batch.slice(1, 1)]).unwrap().unwrap();
        assert_eq!(back, RawChunk { chunk, extracted_at: at, records });
        assert_eq!(read_raw(&[]).unwrap(), None);
        let other = raw_batch(&t, "connectwise", "tickets", ChunkId::new(), at, &back.records);
        assert!(read_raw(&[batch, other]).is_err(), "two chunks in one file");
    }
}
