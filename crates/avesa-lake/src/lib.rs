//! The data lake: where raw and canonical Parquet live, and how they are written.
//!
//! Layout (docs/design.md §3), under any `object_store` backend (a local folder by default):
//!
//! ```text
//! {tenant}/raw/{service}/{table}/{chunk_id}.parquet        the vendor's records, as sent
//! {tenant}/canonical/{table}/{service}-{chunk_id}.parquet  typed canonical rows
//! ```
//!
//! File names derive from the chunk id only, so a retried chunk overwrites its own files
//! and never leaves a duplicate. Puts are atomic (the local store writes a temporary file
//! and renames it). Parquet encoding is CPU work and runs under `spawn_blocking`.

mod raw;

pub use object_store::path::Path as LakePath;
pub use raw::{raw_batch, raw_schema};

use std::path::Path as FsPath;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use avesa_model::{CanonicalTable, ChunkId, TenantId};
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("lake storage: {0}")]
    Store(#[from] object_store::Error),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("lake: {0}")]
    Other(String),
}

pub type Result<T, E = LakeError> = std::result::Result<T, E>;

/// A handle on the lake.
#[derive(Clone, Debug)]
pub struct Lake {
    store: Arc<dyn ObjectStore>,
}

/// Makes a source table path (`service/tickets`) safe as one path segment.
fn segment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect()
}

impl Lake {
    /// A lake in a local folder (created if needed).
    pub fn local(root: &FsPath) -> Result<Self> {
        std::fs::create_dir_all(root)
            .map_err(|e| LakeError::Other(format!("{}: {e}", root.display())))?;
        Ok(Self { store: Arc::new(LocalFileSystem::new_with_prefix(root)?) })
    }

    /// A lake over any object store (S3 and friends).
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }

    pub fn raw_path(tenant: &TenantId, service: &str, table: &str, chunk: ChunkId) -> Path {
        Path::from(format!("{tenant}/raw/{}/{}/{chunk}.parquet", segment(service), segment(table)))
    }

    pub fn canonical_path(
        tenant: &TenantId,
        table: CanonicalTable,
        service: &str,
        chunk: ChunkId,
    ) -> Path {
        Path::from(format!(
            "{tenant}/canonical/{}/{}-{chunk}.parquet",
            table.name(),
            segment(service)
        ))
    }

    /// Encodes `batch` as one Parquet file (zstd-free: Snappy) and puts it at `path`,
    /// replacing any earlier file. Returns the file's size.
    pub async fn put_batch(&self, path: &Path, batch: RecordBatch) -> Result<u64> {
        let bytes = tokio::task::spawn_blocking(move || encode_parquet(&batch))
            .await
            .map_err(|e| LakeError::Other(format!("encoder task failed: {e}")))??;
        let len = bytes.len() as u64;
        self.store.put(path, PutPayload::from(bytes)).await?;
        Ok(len)
    }

    /// Deletes the object at `path`; an object that is not there is not an error.
    pub async fn delete(&self, path: &Path) -> Result<()> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads a Parquet file back into record batches.
    pub async fn read_batches(&self, path: &Path) -> Result<Vec<RecordBatch>> {
        let bytes = self.store.get(path).await?.bytes().await?;
        tokio::task::spawn_blocking(move || {
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
            reader.collect::<Result<Vec<_>, _>>().map_err(LakeError::from)
        })
        .await
        .map_err(|e| LakeError::Other(format!("decoder task failed: {e}")))?
    }

    /// Every object under `prefix`, sorted by path.
    pub async fn list(&self, prefix: &str) -> Result<Vec<Path>> {
        let prefix = Path::from(prefix);
        let mut paths: Vec<Path> =
            self.store.list(Some(&prefix)).map_ok(|m| m.location).try_collect().await?;
        paths.sort();
        Ok(paths)
    }
}

fn encode_parquet(batch: &RecordBatch) -> Result<Bytes> {
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut buf = Vec::with_capacity(batch.get_array_memory_size() / 2);
    let mut writer = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))?;
    writer.write(batch)?;
    writer.close()?;
    Ok(Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use avesa_model::RawRecord;
    use chrono::Utc;

    #[tokio::test]
    async fn raw_batches_round_trip_and_retries_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::local(dir.path()).unwrap();
        let tenant = TenantId::new("acme").unwrap();
        let chunk = ChunkId::new();
        let recs = vec![
            RawRecord {
                source_id: "1".into(),
                updated_at: Some(Utc::now()),
                deleted: false,
                json: r#"{"id":1}"#.into(),
            },
            RawRecord { source_id: "2".into(), updated_at: None, deleted: true, json: "{}".into() },
        ];
        let batch = raw_batch(&tenant, "connectwise", "service/tickets", chunk, Utc::now(), &recs);
        let path = Lake::raw_path(&tenant, "connectwise", "service/tickets", chunk);
        assert!(path.as_ref().starts_with("acme/raw/connectwise/service_tickets/"));
        lake.put_batch(&path, batch.clone()).await.unwrap();
        lake.put_batch(&path, batch.clone()).await.unwrap();
        let files = lake.list("acme/raw").await.unwrap();
        assert_eq!(files, vec![path.clone()], "a retried chunk must overwrite, not add");
        let back = lake.read_batches(&path).await.unwrap();
        assert_eq!(back.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
        assert_eq!(back[0].schema(), raw_schema());
    }
}
