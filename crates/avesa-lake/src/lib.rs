//! The data lake: where raw and canonical Parquet live, and how they are written.
//!
//! Layout (docs/design.md §3), under any `object_store` backend (a local folder by default,
//! or a prefix of an S3 bucket):
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
pub use raw::{RawChunk, raw_batch, raw_schema, read_raw};

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

/// Where an S3 lake lives and how to reach it.
#[derive(Clone)]
pub struct S3Options {
    pub bucket: String,
    /// A key prefix inside the bucket (no leading or trailing `/`); empty for its root.
    pub prefix: String,
    /// An S3-compatible server (`http://127.0.0.1:9000`); `None` for AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    /// Both `None`: the instance's own credentials (EC2/ECS metadata).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl std::fmt::Debug for S3Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Options")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
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

    /// A lake over any object store.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }

    /// A lake under a prefix of an S3 bucket (AWS or any S3-compatible server, reached
    /// with path-style requests). Nothing is read from the environment: what is not in
    /// `opts` is not used. Call [`Lake::check`] to find out whether the bucket answers.
    pub fn s3(opts: &S3Options) -> Result<Self> {
        use object_store::aws::AmazonS3Builder;
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&opts.bucket)
            .with_region(&opts.region)
            .with_virtual_hosted_style_request(false);
        if let Some(endpoint) = &opts.endpoint {
            b = b.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
        }
        if let (Some(key), Some(secret)) = (&opts.access_key_id, &opts.secret_access_key) {
            b = b.with_access_key_id(key).with_secret_access_key(secret);
        }
        let store: Arc<dyn ObjectStore> = Arc::new(b.build()?);
        let store: Arc<dyn ObjectStore> = if opts.prefix.is_empty() {
            store
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(store, opts.prefix.as_str()))
        };
        Ok(Self { store })
    }

    /// Lists the lake's root: an unreachable server, a missing bucket or refused
    /// credentials fail here, at start-up, rather than in the first chunk.
    pub async fn check(&self) -> Result<()> {
        match self.store.list_with_delimiter(None).await {
            Ok(_) => Ok(()),
            Err(e) => Err(LakeError::Other(s3_problem(&e.to_string()))),
        }
    }

    /// Where a service table's raw files lie (every [`Lake::raw_path`] of it).
    pub fn raw_prefix(tenant: &TenantId, service: &str, table: &str) -> String {
        format!("{tenant}/raw/{}/{}/", segment(service), segment(table))
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

/// An S3 error in one line: the service's `<Code>` and `<Message>` when it sent them
/// (`NoSuchBucket: The specified bucket does not exist`), else the error's first line.
fn s3_problem(text: &str) -> String {
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let len = text[start..].find(&format!("</{name}>"))?;
        Some(text[start..start + len].to_owned())
    };
    match (tag("Code"), tag("Message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code,
        _ => text.lines().next().unwrap_or(text).chars().take(300).collect(),
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
