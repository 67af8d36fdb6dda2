//! AVESA's one configuration.
//!
//! [`resolve`] builds a [`Settings`] value once, at start-up, from four layers, each
//! overriding the one before: built-in defaults, a TOML config file (`avesa.toml`, or the
//! path given by `--config` / `AVESA_CONFIG`), environment variables, and command-line
//! flags. It remembers where each value came from ([`Resolved::origin`],
//! [`Resolved::show`]). Every key is declared once, in [`KEYS`], with its environment
//! variable, what it accepts and whether it is a secret; `docs/configuration.md` documents
//! them field by field.
//!
//! Library crates never read the process environment: the binary passes the environment
//! in as a map ([`Inputs::env`]) and hands each crate the typed values it needs.
//!
//! Layering, typed extraction and key paths in errors come from `figment`; this crate adds
//! the key registry, the backend URLs and the provenance report.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

mod backend;
mod size;

pub use backend::{ClickHouseUrl, LakeBackend, StateBackend, WarehouseBackend};
pub use size::parse_size;

/// The file read when no `--config` / `AVESA_CONFIG` is given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "avesa.toml";

/// The environment variable naming the config file.
pub const CONFIG_ENV: &str = "AVESA_CONFIG";

/// How a key's text from the environment or a flag is typed before extraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    Number,
    Bool,
    /// Comma-separated in the environment and flags; a TOML array in the file.
    List,
}

/// One configuration key.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    /// Dotted path, as in the config file (`server.bind` is `bind` in `[server]`).
    pub path: &'static str,
    /// The environment variable that sets it.
    pub env: &'static str,
    pub kind: Kind,
    /// Masked wherever settings are shown.
    pub secret: bool,
    /// What a valid value looks like.
    pub accepted: &'static str,
    /// One line on what it does.
    pub doc: &'static str,
}

const fn key(
    path: &'static str,
    env: &'static str,
    kind: Kind,
    accepted: &'static str,
    doc: &'static str,
) -> Key {
    Key { path, env, kind, secret: false, accepted, doc }
}

const fn secret(
    path: &'static str,
    env: &'static str,
    accepted: &'static str,
    doc: &'static str,
) -> Key {
    Key { path, env, kind: Kind::Text, secret: true, accepted, doc }
}

/// Every key, in the order `avesa config show` prints them.
pub const KEYS: &[Key] = &[
    key(
        "data_dir",
        "AVESA_DATA_DIR",
        Kind::Text,
        "a folder path",
        "the folder holding the embedded backends' files and the key files",
    ),
    key(
        "state",
        "AVESA_STATE",
        Kind::Text,
        "sqlite://PATH or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE",
        "the state store (tenants, users, services, cursors, runs, chunks)",
    ),
    key(
        "lake",
        "AVESA_LAKE",
        Kind::Text,
        "file://PATH or s3://BUCKET[/PREFIX]",
        "where raw and canonical Parquet lands",
    ),
    key(
        "warehouse",
        "AVESA_WAREHOUSE",
        Kind::Text,
        "duckdb://PATH or clickhouse+http://[USER[:PASSWORD]@]HOST:PORT[/DATABASE]",
        "the SCD2 warehouse the API reads",
    ),
    secret(
        "master_key",
        "AVESA_MASTER_KEY",
        "base64 of exactly 32 bytes",
        "encrypts vendor credentials at rest (else master.key in data_dir, created on first start)",
    ),
    secret(
        "jwt_secret",
        "AVESA_JWT_SECRET",
        "at least 32 characters",
        "signs access tokens (else jwt.key in data_dir, created on first start)",
    ),
    key(
        "server.bind",
        "AVESA_BIND",
        Kind::Text,
        "an address and port such as 127.0.0.1:3000",
        "where `avesa serve` listens",
    ),
    key(
        "server.scheduler",
        "AVESA_SCHEDULER",
        Kind::Bool,
        "true or false",
        "whether `avesa serve` runs each service on its schedule",
    ),
    key(
        "server.shutdown_grace_secs",
        "AVESA_SHUTDOWN_GRACE_SECS",
        Kind::Number,
        "a whole number of seconds",
        "how long a stopping server waits for runs in flight to commit",
    ),
    key(
        "server.cors_origins",
        "AVESA_CORS_ORIGINS",
        Kind::List,
        "origins such as https://avesa.example.com (comma-separated in the environment), or *",
        "which other origins' browser pages may call the API (none by default)",
    ),
    key(
        "server.body_limit",
        "AVESA_BODY_LIMIT",
        Kind::Text,
        "a size from 1KiB to 1GiB, such as 1MiB",
        "the largest request body the API accepts",
    ),
    key(
        "server.allow_private_vendor_urls",
        "AVESA_ALLOW_PRIVATE_VENDOR_URLS",
        Kind::Bool,
        "true or false",
        "whether tenant admins may point a service at a loopback or private address through the API",
    ),
    key(
        "server.max_connections",
        "AVESA_MAX_CONNECTIONS",
        Kind::Number,
        "a whole number from 1 to 100000",
        "connections the API keeps open at once (more wait to be accepted)",
    ),
    key(
        "server.header_timeout_secs",
        "AVESA_HEADER_TIMEOUT_SECS",
        Kind::Number,
        "a whole number of seconds from 1 to 600",
        "how long a client may take to send a request's headers, or leave a connection idle",
    ),
    key(
        "server.request_timeout_secs",
        "AVESA_REQUEST_TIMEOUT_SECS",
        Kind::Number,
        "a whole number of seconds from 1 to 3600",
        "how long one request may take before it is answered 503",
    ),
    key(
        "server.query_timeout_secs",
        "AVESA_QUERY_TIMEOUT_SECS",
        Kind::Number,
        "a whole number of seconds from 1 to 3600",
        "how long the warehouse may run one read for the API before it is cancelled",
    ),
    key(
        "server.max_concurrent_reads",
        "AVESA_MAX_CONCURRENT_READS",
        Kind::Number,
        "a whole number from 1 to 1024",
        "warehouse reads the API runs at once, all tenants together",
    ),
    key(
        "server.max_concurrent_reads_per_tenant",
        "AVESA_MAX_CONCURRENT_READS_PER_TENANT",
        Kind::Number,
        "a whole number from 1 to server.max_concurrent_reads",
        "warehouse reads the API runs at once for one tenant",
    ),
    key(
        "server.read_queue_wait_ms",
        "AVESA_READ_QUEUE_WAIT_MS",
        Kind::Number,
        "a whole number of milliseconds from 0 to 60000",
        "how long a read waits for its turn before it is answered 429",
    ),
    key(
        "server.cache_size",
        "AVESA_CACHE_SIZE",
        Kind::Text,
        "a size from 0 to 16GiB, such as 64MiB (0 turns the cache off)",
        "memory for cached API answers, kept until the tenant's data changes",
    ),
    key(
        "log.filter",
        "AVESA_LOG",
        Kind::Text,
        "a tracing filter such as info or info,avesa_pipeline=debug",
        "what is logged",
    ),
    key("log.json", "AVESA_LOG_JSON", Kind::Bool, "true or false", "log as JSON lines"),
    key(
        "pipeline.chunk_records",
        "AVESA_CHUNK_RECORDS",
        Kind::Number,
        "a whole number of records, at least 1",
        "records per chunk, the unit of commit",
    ),
    key(
        "pipeline.page_size",
        "AVESA_PAGE_SIZE",
        Kind::Number,
        "a whole number from 1 to 10000",
        "records asked of a vendor per request",
    ),
    key(
        "pipeline.max_concurrent_chunks",
        "AVESA_MAX_CONCURRENT_CHUNKS",
        Kind::Number,
        "a whole number, at least 1",
        "chunks in flight across all tenants",
    ),
    key(
        "pipeline.max_tables_per_tenant",
        "AVESA_MAX_TABLES_PER_TENANT",
        Kind::Number,
        "a whole number, at least 1",
        "tables in flight per tenant",
    ),
    key(
        "pipeline.overlap_secs",
        "AVESA_OVERLAP_SECS",
        Kind::Number,
        "a whole number of seconds",
        "how far behind its watermark an incremental run re-reads",
    ),
    key(
        "pipeline.partitions",
        "AVESA_PARTITIONS",
        Kind::Number,
        "a whole number from 1 to 64 (1: never split a table)",
        "partitions of one table read side by side",
    ),
    key(
        "pipeline.partition_records",
        "AVESA_PARTITION_RECORDS",
        Kind::Number,
        "a whole number of records, at least 1",
        "records per partition when a table is split",
    ),
    key(
        "pipeline.reorder_after",
        "AVESA_REORDER_AFTER",
        Kind::Number,
        "a whole number of versions (0: never reorder)",
        "versions a table's run writes before the warehouse rewrites the tenant's rows of it in date order",
    ),
    key(
        "pipeline.chunk_budget_secs",
        "AVESA_CHUNK_BUDGET_SECS",
        Kind::Number,
        "a whole number of seconds, at least 1",
        "how long a chunk may fetch before it commits",
    ),
    key(
        "pipeline.webhook_url",
        "AVESA_WEBHOOK_URL",
        Kind::Text,
        "an http:// or https:// URL",
        "receives a JSON event when a run finishes",
    ),
    key(
        "duckdb.memory_limit",
        "AVESA_DUCKDB_MEMORY_LIMIT",
        Kind::Text,
        "a size such as 256MB, 2GB or 1.5GiB",
        "DuckDB's buffer-pool bound",
    ),
    key(
        "duckdb.checkpoint_threshold",
        "AVESA_DUCKDB_CHECKPOINT_THRESHOLD",
        Kind::Text,
        "a size such as 16MB or 256MB",
        "write-ahead log DuckDB gathers before a commit checkpoints it into the file",
    ),
    key(
        "metrics.tenant_label",
        "AVESA_METRICS_TENANT_LABEL",
        Kind::Bool,
        "true or false",
        "whether metrics carry a tenant label (turn off with many tenants)",
    ),
    secret(
        "metrics.token",
        "AVESA_METRICS_TOKEN",
        "a token of at least 16 characters",
        "lets a scraper read /metrics with `Authorization: Bearer <token>` (else only platform admins)",
    ),
    key(
        "s3.endpoint",
        "AVESA_S3_ENDPOINT",
        Kind::Text,
        "an http:// or https:// URL such as http://127.0.0.1:9000, or empty for AWS",
        "the S3-compatible server of an s3:// lake (path-style requests)",
    ),
    key(
        "s3.region",
        "AVESA_S3_REGION",
        Kind::Text,
        "a region name such as us-east-1",
        "the region of an s3:// lake's bucket",
    ),
    key(
        "s3.access_key_id",
        "AVESA_S3_ACCESS_KEY_ID",
        Kind::Text,
        "an access key id, with s3.secret_access_key",
        "the access key of an s3:// lake (else the instance's credentials)",
    ),
    secret(
        "s3.secret_access_key",
        "AVESA_S3_SECRET_ACCESS_KEY",
        "the secret of s3.access_key_id",
        "the secret key of an s3:// lake",
    ),
    key(
        "queue.url",
        "AVESA_QUEUE",
        Kind::Text,
        "nats://HOST:PORT, or empty to run table jobs in the serving process",
        "the NATS JetStream server avesa serve hands table jobs to and avesa worker takes them from",
    ),
    key(
        "queue.stream",
        "AVESA_QUEUE_STREAM",
        Kind::Text,
        "a stream name: letters, digits, - and _",
        "the JetStream work-queue stream (and the prefix of its subject and consumer)",
    ),
    key(
        "queue.lease_secs",
        "AVESA_QUEUE_LEASE_SECS",
        Kind::Number,
        "a whole number of seconds from 5 to 3600",
        "a job's lease: a worker silent this long loses its table to another",
    ),
    key(
        "queue.worker_concurrency",
        "AVESA_WORKER_CONCURRENCY",
        Kind::Number,
        "a whole number from 1 to 256",
        "table jobs one avesa worker runs at once (--concurrency)",
    ),
    key(
        "smtp.url",
        "AVESA_SMTP_URL",
        Kind::Text,
        "smtp://HOST[:PORT] (no TLS), smtp://HOST[:PORT]?tls=required (STARTTLS) or smtps://HOST[:PORT], or empty",
        "the SMTP server client reports are e-mailed through (empty: e-mailing reports is off)",
    ),
    key(
        "smtp.from",
        "AVESA_SMTP_FROM",
        Kind::Text,
        "an address such as Reports <reports@msp.example>",
        "who report e-mails come from (required with smtp.url)",
    ),
    key(
        "smtp.username",
        "AVESA_SMTP_USERNAME",
        Kind::Text,
        "a user name, with smtp.password",
        "the SMTP server's login, if it asks for one",
    ),
    secret(
        "smtp.password",
        "AVESA_SMTP_PASSWORD",
        "the password of smtp.username",
        "the SMTP server's password",
    ),
];

/// The key registered under `path`.
pub fn key_named(path: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.path == path)
}

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Default,
    /// The default, derived from `data_dir`.
    UnderDataDir,
    File(PathBuf),
    Env(&'static str),
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::UnderDataDir => f.write_str("default, under data_dir"),
            Origin::File(p) => write!(f, "config file {}", p.display()),
            Origin::Env(v) => write!(f, "environment variable {v}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// A secret value: never shown by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(********)")
    }
}

/// A configuration that cannot be used: which key, where it came from, what is accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{key} = {value} (from {origin}): {problem}; accepted: {accepted}")]
    Invalid { key: String, value: String, origin: Origin, problem: String, accepted: String },
    #[error("config file {}: {problem}", path.display())]
    File { path: PathBuf, problem: String },
}

/// What [`resolve`] reads. Nothing here comes from the process unless the caller put it in.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// `--config PATH`: must exist.
    pub config_flag: Option<PathBuf>,
    /// The environment (`AVESA_CONFIG` among it names a config file that must exist).
    pub env: BTreeMap<String, String>,
    /// Flags given on the command line: (key path, flag as typed, value).
    pub flags: Vec<(&'static str, &'static str, String)>,
    /// Where `avesa.toml` is looked for when no file is named (the working folder).
    pub working_dir: PathBuf,
}

/// The configuration: every value typed and checked.
#[derive(Clone, Debug)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub state: StateBackend,
    pub lake: LakeBackend,
    pub warehouse: WarehouseBackend,
    /// Base64 of 32 bytes, checked.
    pub master_key: Option<Secret>,
    /// At least 32 characters, checked.
    pub jwt_secret: Option<Secret>,
    pub server: ServerSettings,
    pub log: LogSettings,
    pub pipeline: PipelineSettings,
    pub duckdb: DuckDbSettings,
    pub metrics: MetricsSettings,
    pub s3: S3Settings,
    pub queue: QueueSettings,
    pub smtp: SmtpConfig,
}

/// The SMTP server client reports are e-mailed through.
#[derive(Clone, Debug)]
pub struct SmtpConfig {
    /// `None`: e-mailing reports is off.
    pub url: Option<String>,
    /// The sender's address (set whenever `url` is).
    pub from: Option<String>,
    /// With `password`, or both `None`.
    pub username: Option<String>,
    pub password: Option<Secret>,
}

/// Where table jobs go: a NATS JetStream work queue shared by `avesa serve` (which plans
/// runs and publishes their jobs) and `avesa worker` processes (which run them), or, with
/// no URL, the serving process itself.
#[derive(Clone, Debug)]
pub struct QueueSettings {
    /// `nats://host:port`; `None`: jobs run in the process that planned them.
    pub url: Option<String>,
    pub stream: String,
    /// A job's lease: the stream's ack wait, and the table's lease in the state store.
    pub lease: Duration,
    /// Jobs one worker runs at once.
    pub worker_concurrency: usize,
}

/// How an `s3://` lake is reached.
#[derive(Clone, Debug)]
pub struct S3Settings {
    /// An S3-compatible server; `None` for AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    /// With `secret_access_key`; both `None` to use the instance's own credentials.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
}

#[derive(Clone, Debug)]
pub struct ServerSettings {
    pub bind: SocketAddr,
    pub scheduler: bool,
    pub shutdown_grace: Duration,
    /// Origins allowed to call the API from a browser (CORS); empty: none.
    pub cors_origins: Vec<String>,
    /// As written (`1MiB`).
    pub body_limit: String,
    pub body_limit_bytes: usize,
    /// Whether the API lets tenant admins set vendor URLs on loopback or private
    /// addresses (the CLI always may).
    pub allow_private_vendor_urls: bool,
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub request_timeout: Duration,
    /// Per warehouse read the API runs.
    pub query_timeout: Duration,
    pub max_concurrent_reads: usize,
    pub max_concurrent_reads_per_tenant: usize,
    pub read_queue_wait: Duration,
    /// As written (`64MiB`).
    pub cache_size: String,
    pub cache_bytes: u64,
}

#[derive(Clone, Debug)]
pub struct LogSettings {
    pub filter: String,
    pub json: bool,
}

#[derive(Clone, Debug)]
pub struct PipelineSettings {
    pub chunk_records: usize,
    pub page_size: u32,
    pub max_concurrent_chunks: usize,
    pub max_tables_per_tenant: usize,
    pub overlap: Duration,
    pub chunk_budget: Duration,
    /// At most this many partitions of one table are read side by side (1: never split).
    pub partitions: usize,
    /// A table is split into partitions of about this many records when it has at least
    /// two partitions' worth to read.
    pub partition_records: usize,
    /// A table's run that writes at least this many versions ends with the warehouse
    /// rewriting the tenant's rows of that table in date order (0: never).
    pub reorder_after: u64,
    pub webhook_url: Option<String>,
}

/// `duckdb.checkpoint_threshold`'s default: DuckDB's own (16 MiB).
pub const DEFAULT_CHECKPOINT_THRESHOLD: &str = "16MiB";

#[derive(Clone, Debug)]
pub struct DuckDbSettings {
    /// As written (`256MB`).
    pub memory_limit: String,
    /// The same, in bytes.
    pub memory_limit_bytes: u64,
    /// As written (`16MB`).
    pub checkpoint_threshold: String,
    /// The same, in bytes.
    pub checkpoint_threshold_bytes: u64,
}

#[derive(Clone, Debug)]
pub struct MetricsSettings {
    pub tenant_label: bool,
    /// At least 16 characters, checked.
    pub token: Option<Secret>,
}

impl Settings {
    /// The embedded defaults over `data_dir`, with nothing read from anywhere (for tests
    /// and tools that open an installation by its folder).
    pub fn embedded(data_dir: &Path) -> Settings {
        let inputs = Inputs {
            flags: vec![("data_dir", "--data-dir", data_dir.display().to_string())],
            ..Inputs::default()
        };
        resolve(&inputs).expect("the defaults over any folder are valid").settings
    }
}

/// Settings and where each value came from.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub settings: Settings,
    /// The config file read, if any.
    pub file: Option<PathBuf>,
    origins: BTreeMap<&'static str, Origin>,
}

impl Resolved {
    pub fn origin(&self, key: &str) -> &Origin {
        self.origins.get(key).unwrap_or(&Origin::Default)
    }

    /// The settings as a config file, secrets masked, each line saying where its value
    /// came from: what `avesa config show` prints.
    pub fn show(&self) -> String {
        let mut out = String::new();
        out.push_str(&match &self.file {
            Some(f) => format!("# config file: {}\n", f.display()),
            None => format!(
                "# config file: none ({DEFAULT_CONFIG_FILE} not found; --config or {CONFIG_ENV} names one)\n"
            ),
        });
        let mut section = "";
        let mut lines: Vec<(String, String)> = Vec::new();
        let flush = |lines: &mut Vec<(String, String)>, out: &mut String| {
            let width = lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
            for (l, c) in lines.drain(..) {
                out.push_str(&format!("{l:<width$}  # {c}\n"));
            }
        };
        for k in KEYS {
            let (sec, name) = k.path.split_once('.').unwrap_or(("", k.path));
            if sec != section {
                flush(&mut lines, &mut out);
                out.push_str(&format!("\n[{sec}]\n"));
                section = sec;
            }
            let value = self.display_value(k);
            lines.push((format!("{name} = {value}"), self.origin(k.path).to_string()));
        }
        flush(&mut lines, &mut out);
        out
    }

    fn display_value(&self, k: &Key) -> String {
        let s = &self.settings;
        let text = |v: &str| format!("{v:?}");
        let secret = |v: &Option<Secret>, fallback: &str| match v {
            Some(_) => "\"********\"".to_owned(),
            None => format!("\"\" # unset: {fallback}"),
        };
        match k.path {
            "data_dir" => text(&s.data_dir.display().to_string()),
            "state" => text(&s.state.to_string()),
            "lake" => text(&s.lake.to_string()),
            "warehouse" => text(&s.warehouse.to_string()),
            "master_key" => secret(&s.master_key, "master.key in data_dir"),
            "jwt_secret" => secret(&s.jwt_secret, "jwt.key in data_dir"),
            "server.bind" => text(&s.server.bind.to_string()),
            "server.scheduler" => s.server.scheduler.to_string(),
            "server.shutdown_grace_secs" => s.server.shutdown_grace.as_secs().to_string(),
            "server.cors_origins" => format!("{:?}", s.server.cors_origins),
            "server.body_limit" => text(&s.server.body_limit),
            "server.allow_private_vendor_urls" => s.server.allow_private_vendor_urls.to_string(),
            "server.max_connections" => s.server.max_connections.to_string(),
            "server.header_timeout_secs" => s.server.header_timeout.as_secs().to_string(),
            "server.request_timeout_secs" => s.server.request_timeout.as_secs().to_string(),
            "server.query_timeout_secs" => s.server.query_timeout.as_secs().to_string(),
            "server.max_concurrent_reads" => s.server.max_concurrent_reads.to_string(),
            "server.max_concurrent_reads_per_tenant" => {
                s.server.max_concurrent_reads_per_tenant.to_string()
            }
            "server.read_queue_wait_ms" => s.server.read_queue_wait.as_millis().to_string(),
            "server.cache_size" => text(&s.server.cache_size),
            "log.filter" => text(&s.log.filter),
            "log.json" => s.log.json.to_string(),
            "pipeline.chunk_records" => s.pipeline.chunk_records.to_string(),
            "pipeline.page_size" => s.pipeline.page_size.to_string(),
            "pipeline.max_concurrent_chunks" => s.pipeline.max_concurrent_chunks.to_string(),
            "pipeline.max_tables_per_tenant" => s.pipeline.max_tables_per_tenant.to_string(),
            "pipeline.overlap_secs" => s.pipeline.overlap.as_secs().to_string(),
            "pipeline.chunk_budget_secs" => s.pipeline.chunk_budget.as_secs().to_string(),
            "pipeline.partitions" => s.pipeline.partitions.to_string(),
            "pipeline.partition_records" => s.pipeline.partition_records.to_string(),
            "pipeline.reorder_after" => s.pipeline.reorder_after.to_string(),
            "pipeline.webhook_url" => text(s.pipeline.webhook_url.as_deref().unwrap_or("")),
            "duckdb.memory_limit" => text(&s.duckdb.memory_limit),
            "duckdb.checkpoint_threshold" => text(&s.duckdb.checkpoint_threshold),
            "metrics.tenant_label" => s.metrics.tenant_label.to_string(),
            "metrics.token" => secret(&s.metrics.token, "only platform admins read /metrics"),
            "s3.endpoint" => text(s.s3.endpoint.as_deref().unwrap_or("")),
            "s3.region" => text(&s.s3.region),
            "s3.access_key_id" => text(s.s3.access_key_id.as_deref().unwrap_or("")),
            "s3.secret_access_key" => match &s.s3.secret_access_key {
                Some(_) => "\"********\"".to_owned(),
                None => "\"\"".to_owned(),
            },
            "queue.url" => text(s.queue.url.as_deref().unwrap_or("")),
            "queue.stream" => text(&s.queue.stream),
            "queue.lease_secs" => s.queue.lease.as_secs().to_string(),
            "queue.worker_concurrency" => s.queue.worker_concurrency.to_string(),
            "smtp.url" => text(s.smtp.url.as_deref().unwrap_or("")),
            "smtp.from" => text(s.smtp.from.as_deref().unwrap_or("")),
            "smtp.username" => text(s.smtp.username.as_deref().unwrap_or("")),
            "smtp.password" => match &s.smtp.password {
                Some(_) => "\"********\"".to_owned(),
                None => "\"\"".to_owned(),
            },
            other => format!("\"?\" # unknown key {other}"),
        }
    }
}

// ---- the raw layer figment extracts ----

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    data_dir: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lake: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warehouse: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    master_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwt_secret: Option<String>,
    server: RawServer,
    log: RawLog,
    pipeline: RawPipeline,
    duckdb: RawDuckDb,
    metrics: RawMetrics,
    s3: RawS3,
    queue: RawQueue,
    smtp: RawSmtp,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueue {
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    stream: String,
    lease_secs: u64,
    worker_concurrency: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawS3 {
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<String>,
    region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_access_key: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    bind: String,
    scheduler: bool,
    shutdown_grace_secs: u64,
    cors_origins: Vec<String>,
    body_limit: String,
    allow_private_vendor_urls: bool,
    max_connections: u64,
    header_timeout_secs: u64,
    request_timeout_secs: u64,
    query_timeout_secs: u64,
    max_concurrent_reads: u64,
    max_concurrent_reads_per_tenant: u64,
    read_queue_wait_ms: u64,
    cache_size: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    filter: String,
    json: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    chunk_records: u64,
    page_size: u64,
    max_concurrent_chunks: u64,
    max_tables_per_tenant: u64,
    overlap_secs: u64,
    chunk_budget_secs: u64,
    partitions: u64,
    partition_records: u64,
    reorder_after: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_url: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDuckDb {
    memory_limit: String,
    checkpoint_threshold: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    tenant_label: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

impl Default for Raw {
    fn default() -> Self {
        Raw {
            data_dir: "avesa-data".into(),
            state: None,
            lake: None,
            warehouse: None,
            master_key: None,
            jwt_secret: None,
            server: RawServer {
                bind: "127.0.0.1:3000".into(),
                scheduler: true,
                shutdown_grace_secs: 120,
                cors_origins: Vec::new(),
                body_limit: "1MiB".into(),
                allow_private_vendor_urls: false,
                max_connections: 1024,
                header_timeout_secs: 10,
                request_timeout_secs: 30,
                query_timeout_secs: 10,
                max_concurrent_reads: 8,
                max_concurrent_reads_per_tenant: 4,
                read_queue_wait_ms: 2000,
                cache_size: "64MiB".into(),
            },
            log: RawLog { filter: "info".into(), json: false },
            pipeline: RawPipeline {
                chunk_records: 5_000,
                page_size: 1_000,
                max_concurrent_chunks: 4,
                max_tables_per_tenant: 2,
                overlap_secs: 60,
                chunk_budget_secs: 60,
                partitions: 4,
                partition_records: 25_000,
                reorder_after: 100_000,
                webhook_url: None,
            },
            duckdb: RawDuckDb {
                memory_limit: "256MB".into(),
                checkpoint_threshold: DEFAULT_CHECKPOINT_THRESHOLD.into(),
            },
            metrics: RawMetrics { tenant_label: true, token: None },
            s3: RawS3 {
                endpoint: None,
                region: "us-east-1".into(),
                access_key_id: None,
                secret_access_key: None,
            },
            queue: RawQueue {
                url: None,
                stream: "AVESA_JOBS".into(),
                lease_secs: 60,
                worker_concurrency: 2,
            },
            smtp: RawSmtp::default(),
        }
    }
}

/// A layer of key paths and their (typed) values: the environment or the flags.
struct Layer {
    name: &'static str,
    values: Vec<(&'static str, Value)>,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name)
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut root = Dict::new();
        for (path, value) in &self.values {
            match path.split_once('.') {
                None => {
                    root.insert((*path).to_owned(), value.clone());
                }
                Some((section, name)) => {
                    let entry =
                        root.entry(section.to_owned()).or_insert_with(|| Value::from(Dict::new()));
                    if let Value::Dict(_, d) = entry {
                        d.insert(name.to_owned(), value.clone());
                    }
                }
            }
        }
        Ok(Profile::Default.collect(root))
    }
}

/// Text from the environment or a flag, typed as its key declares (text that does not
/// parse stays text, so extraction reports it against the key).
fn typed(kind: Kind, text: &str) -> Value {
    let t = text.trim();
    match kind {
        Kind::Text => Value::from(text.to_owned()),
        Kind::Number => {
            t.parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::from(text.to_owned()))
        }
        Kind::List => Value::from(
            t.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        ),
        Kind::Bool => match t.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Value::from(true),
            "false" | "0" | "no" | "off" => Value::from(false),
            _ => Value::from(text.to_owned()),
        },
    }
}

/// Resolves the settings: defaults, then the config file, then the environment, then
/// flags; then checks every value.
pub fn resolve(inputs: &Inputs) -> Result<Resolved, ConfigError> {
    // The config file: named by the flag, else by AVESA_CONFIG (either must exist), else
    // avesa.toml in the working folder if there is one.
    let named = inputs.config_flag.clone().map(|p| (p, Origin::Flag("--config"))).or_else(|| {
        inputs
            .env
            .get(CONFIG_ENV)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (PathBuf::from(v), Origin::Env(CONFIG_ENV)))
    });
    let (file, text) = match named {
        Some((path, origin)) => match std::fs::read_to_string(&path) {
            Ok(text) => (Some(path), Some(text)),
            Err(e) => {
                return Err(ConfigError::Invalid {
                    key: "config".into(),
                    value: format!("{:?}", path.display().to_string()),
                    origin,
                    problem: format!("cannot read it: {e}"),
                    accepted: "the path of a readable TOML file".into(),
                });
            }
        },
        None => {
            let path = inputs.working_dir.join(DEFAULT_CONFIG_FILE);
            match std::fs::read_to_string(&path) {
                Ok(text) => (Some(path), Some(text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, None),
                Err(e) => {
                    return Err(ConfigError::File {
                        path,
                        problem: format!("cannot read it: {e}"),
                    });
                }
            }
        }
    };

    let file_figment = text.as_deref().map(|t| Figment::from(Toml::string(t)));
    if let (Some(path), Some(f)) = (&file, &file_figment) {
        // A file that is not TOML at all: say so before anything else.
        if let Err(e) = f.extract::<Dict>() {
            return Err(ConfigError::File { path: path.clone(), problem: e.to_string() });
        }
    }

    let env_layer = Layer {
        name: "environment",
        values: KEYS
            .iter()
            .filter_map(|k| {
                let v = inputs.env.get(k.env).filter(|v| !v.trim().is_empty())?;
                Some((k.path, typed(k.kind, v)))
            })
            .collect(),
    };
    let flag_layer = Layer {
        name: "flags",
        values: inputs
            .flags
            .iter()
            .map(|(path, _, v)| {
                let kind = key_named(path).map_or(Kind::Text, |k| k.kind);
                (*path, typed(kind, v))
            })
            .collect(),
    };

    // Where each key's value comes from: the last layer that has it.
    let mut origins: BTreeMap<&'static str, Origin> = BTreeMap::new();
    for k in KEYS {
        let origin =
            if let Some((_, flag, _)) = inputs.flags.iter().rev().find(|(p, _, _)| *p == k.path) {
                Origin::Flag(flag)
            } else if env_layer.values.iter().any(|(p, _)| *p == k.path) {
                Origin::Env(k.env)
            } else if let (Some(f), Some(path)) = (&file_figment, &file)
                && f.contains(k.path)
            {
                Origin::File(path.clone())
            } else if matches!(k.path, "state" | "lake" | "warehouse") {
                Origin::UnderDataDir
            } else {
                Origin::Default
            };
        origins.insert(k.path, origin);
    }

    let mut figment = Figment::from(Serialized::defaults(Raw::default()));
    if let Some(f) = &file_figment {
        figment = figment.merge(f.clone());
    }
    let figment = figment.merge(env_layer).merge(flag_layer);
    let raw: Raw = figment.extract().map_err(|e| extraction_error(e, inputs, &origins, &file))?;

    let invalid = |key: &str, value: String, problem: String| -> ConfigError {
        let k = key_named(key);
        ConfigError::Invalid {
            key: key.to_owned(),
            value: if k.is_some_and(|k| k.secret) { "\"********\"".into() } else { value },
            origin: origins.get(key).cloned().unwrap_or(Origin::Default),
            problem,
            accepted: k.map_or("", |k| k.accepted).to_owned(),
        }
    };
    let settings = check(raw, &invalid)?;
    Ok(Resolved { settings, file, origins })
}

fn extraction_error(
    e: figment::Error,
    inputs: &Inputs,
    origins: &BTreeMap<&'static str, Origin>,
    file: &Option<PathBuf>,
) -> ConfigError {
    let e = e
        .into_iter()
        .next()
        .unwrap_or_else(|| figment::Error::from("invalid configuration".to_owned()));
    let path = e.path.join(".");
    let problem = e.kind.to_string();
    match key_named(&path) {
        Some(k) => {
            let origin = origins.get(k.path).cloned().unwrap_or(Origin::Default);
            let given = match &origin {
                _ if k.secret => Some("********".to_owned()),
                Origin::Env(var) => inputs.env.get(*var).cloned(),
                Origin::Flag(_) => inputs
                    .flags
                    .iter()
                    .rev()
                    .find(|(p, _, _)| *p == k.path)
                    .map(|(_, _, v)| v.clone()),
                _ => None,
            };
            ConfigError::Invalid {
                key: path.clone(),
                value: given.map_or_else(|| "(as written)".to_owned(), |v| format!("{v:?}")),
                origin,
                problem,
                accepted: k.accepted.to_owned(),
            }
        }
        None => {
            // An unknown key or section: only a file can hold one.
            let known: Vec<&str> = KEYS.iter().map(|k| k.path).collect();
            let problem = if path.is_empty() { problem } else { format!("{path}: {problem}") };
            match file {
                Some(f) => ConfigError::File {
                    path: f.clone(),
                    problem: format!("{problem} (known keys: {})", known.join(", ")),
                },
                None => ConfigError::Invalid {
                    key: path,
                    value: String::new(),
                    origin: Origin::Default,
                    problem,
                    accepted: known.join(", "),
                },
            }
        }
    }
}

fn positive(n: u64) -> bool {
    n >= 1
}

fn check(
    raw: Raw,
    invalid: &dyn Fn(&str, String, String) -> ConfigError,
) -> Result<Settings, ConfigError> {
    if raw.data_dir.trim().is_empty() {
        return Err(invalid("data_dir", "\"\"".into(), "empty".into()));
    }
    let data_dir = PathBuf::from(&raw.data_dir);
    let state = match &raw.state {
        None => StateBackend::Sqlite(data_dir.join("state.db")),
        // Shown without its password, should it have one.
        Some(u) => u
            .parse()
            .map_err(|p| invalid("state", format!("{:?}", backend::mask_password(u)), p))?,
    };
    let lake = match &raw.lake {
        None => LakeBackend::File(data_dir.join("lake")),
        Some(u) => u.parse().map_err(|p| invalid("lake", format!("{u:?}"), p))?,
    };
    let warehouse = match &raw.warehouse {
        None => WarehouseBackend::DuckDb(data_dir.join("warehouse.duckdb")),
        Some(u) => u
            .parse()
            .map_err(|p| invalid("warehouse", format!("{:?}", backend::mask_password(u)), p))?,
    };
    let master_key = match raw.master_key {
        None => None,
        Some(k) if k.trim().is_empty() => None,
        Some(k) => {
            use base64::Engine;
            match base64::engine::general_purpose::STANDARD.decode(k.trim()) {
                Ok(bytes) if bytes.len() == 32 => Some(Secret(k.trim().to_owned())),
                Ok(bytes) => {
                    return Err(invalid(
                        "master_key",
                        String::new(),
                        format!("decodes to {} bytes", bytes.len()),
                    ));
                }
                Err(e) => {
                    return Err(invalid("master_key", String::new(), format!("not base64 ({e})")));
                }
            }
        }
    };
    let jwt_secret = match raw.jwt_secret {
        None => None,
        Some(s) if s.is_empty() => None,
        Some(s) if s.chars().count() >= 32 => Some(Secret(s)),
        Some(s) => {
            return Err(invalid(
                "jwt_secret",
                String::new(),
                format!("only {} characters", s.chars().count()),
            ));
        }
    };
    let bind = raw
        .server
        .bind
        .trim()
        .parse::<SocketAddr>()
        .map_err(|e| invalid("server.bind", format!("{:?}", raw.server.bind), e.to_string()))?;
    for origin in &raw.server.cors_origins {
        let host = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
        let ok = origin == "*"
            || host.is_some_and(|h| !h.is_empty() && !h.contains(['/', '?', '#', ' ']));
        if !ok {
            return Err(invalid(
                "server.cors_origins",
                format!("{origin:?}"),
                "not an origin (scheme://host[:port])".into(),
            ));
        }
    }
    let body_limit = parse_size(&raw.server.body_limit)
        .filter(|b| (1024..=1 << 30).contains(b))
        .ok_or_else(|| {
            invalid(
                "server.body_limit",
                format!("{:?}", raw.server.body_limit),
                "not a size in range".into(),
            )
        })?;
    if raw.log.filter.trim().is_empty() {
        return Err(invalid("log.filter", "\"\"".into(), "empty".into()));
    }
    let p = &raw.pipeline;
    let numbers = [
        ("pipeline.chunk_records", p.chunk_records, positive(p.chunk_records)),
        ("pipeline.page_size", p.page_size, (1..=10_000).contains(&p.page_size)),
        (
            "pipeline.max_concurrent_chunks",
            p.max_concurrent_chunks,
            positive(p.max_concurrent_chunks),
        ),
        (
            "pipeline.max_tables_per_tenant",
            p.max_tables_per_tenant,
            positive(p.max_tables_per_tenant),
        ),
        ("pipeline.chunk_budget_secs", p.chunk_budget_secs, positive(p.chunk_budget_secs)),
        ("pipeline.partitions", p.partitions, (1..=64).contains(&p.partitions)),
        ("pipeline.partition_records", p.partition_records, positive(p.partition_records)),
    ];
    for (key, value, ok) in numbers {
        if !ok {
            return Err(invalid(key, value.to_string(), "out of range".into()));
        }
    }
    let webhook_url = match &p.webhook_url {
        None => None,
        Some(u) if u.trim().is_empty() => None,
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
            Some(u.trim().to_owned())
        }
        Some(u) => {
            return Err(invalid(
                "pipeline.webhook_url",
                format!("{u:?}"),
                "not an http(s) URL".into(),
            ));
        }
    };
    let memory_limit_bytes = parse_size(&raw.duckdb.memory_limit).ok_or_else(|| {
        invalid(
            "duckdb.memory_limit",
            format!("{:?}", raw.duckdb.memory_limit),
            "not a size".into(),
        )
    })?;
    if memory_limit_bytes < 16 * 1024 * 1024 {
        return Err(invalid(
            "duckdb.memory_limit",
            format!("{:?}", raw.duckdb.memory_limit),
            "below 16MiB, too small for DuckDB to apply a chunk".into(),
        ));
    }
    let checkpoint_threshold_bytes =
        parse_size(&raw.duckdb.checkpoint_threshold).ok_or_else(|| {
            invalid(
                "duckdb.checkpoint_threshold",
                format!("{:?}", raw.duckdb.checkpoint_threshold),
                "not a size".into(),
            )
        })?;
    if !(1024 * 1024..=(64u64 << 30)).contains(&checkpoint_threshold_bytes) {
        return Err(invalid(
            "duckdb.checkpoint_threshold",
            format!("{:?}", raw.duckdb.checkpoint_threshold),
            "outside 1MiB to 64GiB".into(),
        ));
    }
    let sv = &raw.server;
    let server_numbers = [
        ("server.max_connections", sv.max_connections, (1..=100_000).contains(&sv.max_connections)),
        (
            "server.header_timeout_secs",
            sv.header_timeout_secs,
            (1..=600).contains(&sv.header_timeout_secs),
        ),
        (
            "server.request_timeout_secs",
            sv.request_timeout_secs,
            (1..=3600).contains(&sv.request_timeout_secs),
        ),
        (
            "server.query_timeout_secs",
            sv.query_timeout_secs,
            (1..=3600).contains(&sv.query_timeout_secs),
        ),
        (
            "server.max_concurrent_reads",
            sv.max_concurrent_reads,
            (1..=1024).contains(&sv.max_concurrent_reads),
        ),
        (
            "server.max_concurrent_reads_per_tenant",
            sv.max_concurrent_reads_per_tenant,
            (1..=sv.max_concurrent_reads).contains(&sv.max_concurrent_reads_per_tenant),
        ),
        ("server.read_queue_wait_ms", sv.read_queue_wait_ms, sv.read_queue_wait_ms <= 60_000),
    ];
    for (key, value, ok) in server_numbers {
        if !ok {
            return Err(invalid(key, value.to_string(), "out of range".into()));
        }
    }
    let cache_bytes =
        (if sv.cache_size.trim() == "0" { Some(0) } else { parse_size(&sv.cache_size) })
            .filter(|b| *b <= 16 << 30)
            .ok_or_else(|| {
                invalid(
                    "server.cache_size",
                    format!("{:?}", sv.cache_size),
                    "not a size in range".into(),
                )
            })?;
    let metrics_token = match raw.metrics.token {
        None => None,
        Some(t) if t.trim().is_empty() => None,
        Some(t) if t.trim().chars().count() >= 16 => Some(Secret(t.trim().to_owned())),
        Some(t) => {
            return Err(invalid(
                "metrics.token",
                String::new(),
                format!("only {} characters", t.trim().chars().count()),
            ));
        }
    };
    let s3 = check_s3(raw.s3, invalid)?;
    let queue = check_queue(raw.queue, invalid)?;
    let smtp = check_smtp(raw.smtp, invalid)?;
    let usize_of = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    Ok(Settings {
        data_dir,
        state,
        lake,
        warehouse,
        master_key,
        jwt_secret,
        server: ServerSettings {
            bind,
            scheduler: raw.server.scheduler,
            shutdown_grace: Duration::from_secs(raw.server.shutdown_grace_secs),
            cors_origins: raw.server.cors_origins,
            body_limit: raw.server.body_limit.trim().to_owned(),
            body_limit_bytes: usize::try_from(body_limit).unwrap_or(usize::MAX),
            allow_private_vendor_urls: raw.server.allow_private_vendor_urls,
            max_connections: usize_of(raw.server.max_connections),
            header_timeout: Duration::from_secs(raw.server.header_timeout_secs),
            request_timeout: Duration::from_secs(raw.server.request_timeout_secs),
            query_timeout: Duration::from_secs(raw.server.query_timeout_secs),
            max_concurrent_reads: usize_of(raw.server.max_concurrent_reads),
            max_concurrent_reads_per_tenant: usize_of(raw.server.max_concurrent_reads_per_tenant),
            read_queue_wait: Duration::from_millis(raw.server.read_queue_wait_ms),
            cache_size: raw.server.cache_size.trim().to_owned(),
            cache_bytes,
        },
        log: LogSettings { filter: raw.log.filter, json: raw.log.json },
        pipeline: PipelineSettings {
            chunk_records: usize_of(p.chunk_records),
            page_size: u32::try_from(p.page_size).unwrap_or(u32::MAX),
            max_concurrent_chunks: usize_of(p.max_concurrent_chunks),
            max_tables_per_tenant: usize_of(p.max_tables_per_tenant),
            overlap: Duration::from_secs(p.overlap_secs),
            chunk_budget: Duration::from_secs(p.chunk_budget_secs),
            partitions: usize_of(p.partitions),
            partition_records: usize_of(p.partition_records),
            reorder_after: p.reorder_after,
            webhook_url,
        },
        duckdb: DuckDbSettings {
            memory_limit: raw.duckdb.memory_limit.trim().to_owned(),
            memory_limit_bytes,
            checkpoint_threshold: raw.duckdb.checkpoint_threshold.trim().to_owned(),
            checkpoint_threshold_bytes,
        },
        metrics: MetricsSettings { tenant_label: raw.metrics.tenant_label, token: metrics_token },
        s3,
        queue,
        smtp,
    })
}

fn check_smtp(
    raw: RawSmtp,
    invalid: &dyn Fn(&str, String, String) -> ConfigError,
) -> Result<SmtpConfig, ConfigError> {
    let present = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let url = present(raw.url);
    if let Some(u) = &url {
        let rest = u.strip_prefix("smtp://").or_else(|| u.strip_prefix("smtps://"));
        let host = rest.map(|r| r.split(['/', '?']).next().unwrap_or(""));
        if host.is_none_or(str::is_empty) || u.contains(['@', ' ', '#']) {
            let why = if u.contains('@') {
                "put the login in smtp.username and smtp.password, not in the URL"
            } else {
                "not smtp://HOST[:PORT][?tls=required] or smtps://HOST[:PORT]"
            };
            return Err(invalid("smtp.url", format!("{u:?}"), why.into()));
        }
    }
    let from = present(raw.from);
    if let Some(f) = &from {
        let addr = f.rsplit_once('<').map_or(f.as_str(), |(_, a)| a.trim_end_matches('>'));
        let ok = addr
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && (d.contains('.') || d == "localhost"));
        if !ok || f.chars().any(char::is_control) {
            return Err(invalid("smtp.from", format!("{f:?}"), "not an e-mail address".into()));
        }
    }
    if url.is_some() && from.is_none() {
        return Err(invalid(
            "smtp.from",
            "\"\"".into(),
            "smtp.url is set, so reports need a sender address".into(),
        ));
    }
    let username = present(raw.username);
    let password = present(raw.password).map(Secret);
    match (&username, &password) {
        (Some(_), None) => {
            return Err(invalid(
                "smtp.password",
                "\"\"".into(),
                "smtp.username is set but its password is not".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(invalid(
                "smtp.username",
                "\"\"".into(),
                "smtp.password is set but not the user it belongs to".into(),
            ));
        }
        _ => {}
    }
    Ok(SmtpConfig { url, from, username, password })
}

fn check_queue(
    raw: RawQueue,
    invalid: &dyn Fn(&str, String, String) -> ConfigError,
) -> Result<QueueSettings, ConfigError> {
    let url = raw.url.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty());
    if let Some(u) = &url {
        let hostport = u.strip_prefix("nats://").unwrap_or("");
        let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "4222"));
        if host.is_empty()
            || host.contains(['/', '@', '?', '#', ' '])
            || port.parse::<u16>().is_err()
        {
            return Err(invalid(
                "queue.url",
                format!("{u:?}"),
                "not a nats://HOST:PORT URL".into(),
            ));
        }
    }
    let stream = raw.stream.trim().to_owned();
    if stream.is_empty()
        || stream.len() > 64
        || !stream.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(invalid(
            "queue.stream",
            format!("{:?}", raw.stream),
            "not a stream name (letters, digits, - and _)".into(),
        ));
    }
    if !(5..=3600).contains(&raw.lease_secs) {
        return Err(invalid("queue.lease_secs", raw.lease_secs.to_string(), "out of range".into()));
    }
    if !(1..=256).contains(&raw.worker_concurrency) {
        return Err(invalid(
            "queue.worker_concurrency",
            raw.worker_concurrency.to_string(),
            "out of range".into(),
        ));
    }
    Ok(QueueSettings {
        url,
        stream,
        lease: Duration::from_secs(raw.lease_secs),
        worker_concurrency: usize::try_from(raw.worker_concurrency).unwrap_or(256),
    })
}

fn check_s3(
    raw: RawS3,
    invalid: &dyn Fn(&str, String, String) -> ConfigError,
) -> Result<S3Settings, ConfigError> {
    let present = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let endpoint = present(raw.endpoint);
    if let Some(e) = &endpoint {
        let host = e.strip_prefix("http://").or_else(|| e.strip_prefix("https://"));
        if !host.is_some_and(|h| !h.is_empty() && !h.starts_with('/') && !h.contains(['?', '#'])) {
            return Err(invalid("s3.endpoint", format!("{e:?}"), "not an http(s) URL".into()));
        }
    }
    let region = raw.region.trim().to_owned();
    if region.is_empty() || !region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(invalid("s3.region", format!("{:?}", raw.region), "not a region name".into()));
    }
    let access_key_id = present(raw.access_key_id);
    let secret_access_key = present(raw.secret_access_key).map(Secret);
    match (&access_key_id, &secret_access_key) {
        (Some(_), None) => {
            return Err(invalid(
                "s3.secret_access_key",
                "\"\"".into(),
                "s3.access_key_id is set but its secret is not".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(invalid(
                "s3.access_key_id",
                "\"\"".into(),
                "s3.secret_access_key is set but not the key it belongs to".into(),
            ));
        }
        _ => {}
    }
    Ok(S3Settings {
        endpoint: endpoint.map(|e| e.trim_end_matches('/').to_owned()),
        region,
        access_key_id,
        secret_access_key,
    })
}
