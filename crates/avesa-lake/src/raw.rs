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
