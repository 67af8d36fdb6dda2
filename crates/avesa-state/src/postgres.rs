//! [`StateStore`] on PostgreSQL (shared by several processes: the scale-out backend).
//!
//! Same semantics as [`SqliteStore`](crate::SqliteStore), checked by the same conformance
//! suite. The schema is versioned: [`PostgresStore::migrate`] applies the migrations
//! embedded below, in order, each recorded in `schema_migrations`, under a database-wide
//! advisory lock, so any number of processes may run it at once.
//!
//! Identifier-like text columns are `COLLATE "C"`: lists come back in byte order (as from
//! SQLite) whatever the database's default collation. Tenant-scoped tables lead their keys
//! and indexes with `tenant_id`; the exceptions are lookups the trait makes without a
//! tenant (a refresh token by its hash, a run or chunk by its id, a run's chunks).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use avesa_model::{ChunkId, Continuation, Position, Role, RunId, TenantId};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Executor, PgPool, Row};

use crate::*;

/// Connections per process; every store method holds at most one at a time.
const MAX_CONNECTIONS: u32 = 8;

/// How long a method waits for a free connection (or for the server, when connecting).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The advisory lock (64-bit key space) held while migrating: "avesa_mg".
const MIGRATION_LOCK: i64 = 0x6176_6573_615f_6d67;

/// The advisory lock class (two-key space, first key) that serializes one user's creates
/// of saved views, so that no two pass the limit together; the second key hashes the
/// tenant and user.
const SAVED_VIEWS_LOCK: i32 = 0x4156_5356;

/// The advisory lock class (two-key space, first key) that serializes a refresh-token
/// family's inserts with its revocation; the second key is the family's hash.
const TOKEN_FAMILY_LOCK: i32 = 0x4156_4652;

/// The advisory lock class (two-key space, first key) that serializes one tenant's
/// creates of report schedules (the limit); the second key hashes the tenant.
const REPORT_SCHEDULES_LOCK: i32 = 0x4156_5253;

/// One step of the schema.
struct Migration {
    version: i64,
    description: &'static str,
    sql: &'static str,
}

/// The schema, oldest first. Append only: a released migration is never edited.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "initial schema",
        sql: r#"
CREATE TABLE tenants (
    id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE services (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    service TEXT COLLATE "C" NOT NULL,
    sealed_config BYTEA NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    schedule TEXT,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, service)
);

CREATE TABLE users (
    tenant_id TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    id TEXT COLLATE "C" NOT NULL,
    email TEXT COLLATE "C" NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);

CREATE TABLE refresh_tokens (
    token_hash TEXT COLLATE "C" PRIMARY KEY,
    family_id TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    tenant_id TEXT COLLATE "C" NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used BOOLEAN NOT NULL DEFAULT FALSE,
    revoked BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE cursors (
    tenant_id TEXT COLLATE "C" NOT NULL,
    service TEXT COLLATE "C" NOT NULL,
    source_table TEXT COLLATE "C" NOT NULL,
    cursor_ts TIMESTAMPTZ NOT NULL,
    cursor_id TEXT COLLATE "C" NOT NULL,
    cursor_token TEXT,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, service, source_table)
);

CREATE TABLE runs (
    id UUID PRIMARY KEY,
    tenant_id TEXT COLLATE "C",
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    error TEXT
);
CREATE INDEX runs_tenant ON runs (tenant_id, started_at DESC);
CREATE INDEX runs_started ON runs (started_at DESC);
CREATE INDEX runs_running ON runs (id) WHERE status = 'running';

CREATE TABLE chunks (
    id UUID PRIMARY KEY,
    run_id UUID NOT NULL,
    tenant_id TEXT COLLATE "C" NOT NULL,
    service TEXT COLLATE "C" NOT NULL,
    source_table TEXT COLLATE "C" NOT NULL,
    status TEXT NOT NULL,
    start_ts TIMESTAMPTZ,
    start_id TEXT COLLATE "C",
    start_token TEXT,
    end_ts TIMESTAMPTZ,
    end_id TEXT COLLATE "C",
    end_token TEXT,
    records BIGINT NOT NULL DEFAULT 0 CHECK (records >= 0),
    pages BIGINT NOT NULL DEFAULT 0 CHECK (pages >= 0),
    requests BIGINT NOT NULL DEFAULT 0 CHECK (requests >= 0),
    bytes BIGINT NOT NULL DEFAULT 0 CHECK (bytes >= 0),
    versions_inserted BIGINT NOT NULL DEFAULT 0 CHECK (versions_inserted >= 0),
    retries BIGINT NOT NULL DEFAULT 0 CHECK (retries >= 0),
    throttles BIGINT NOT NULL DEFAULT 0 CHECK (throttles >= 0),
    millis BIGINT NOT NULL DEFAULT 0 CHECK (millis >= 0),
    files JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(files) = 'array'),
    error TEXT,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
);
CREATE INDEX chunks_unfinished ON chunks
    (tenant_id, service, source_table, start_ts NULLS FIRST, start_id)
    WHERE status IN ('running', 'failed');
CREATE INDEX chunks_committed ON chunks (tenant_id, finished_at) WHERE status = 'committed';
CREATE INDEX chunks_tenant_run ON chunks (tenant_id, run_id);
CREATE INDEX chunks_run ON chunks (run_id, started_at);
"#,
    },
    Migration {
        version: 2,
        description: "work shared by several processes: leases, run outcomes, workers",
        sql: r#"
CREATE TABLE leases (
    name TEXT COLLATE "C" PRIMARY KEY,
    holder TEXT NOT NULL,
    token BIGINT NOT NULL CHECK (token > 0),
    expires_at TIMESTAMPTZ NOT NULL
);

ALTER TABLE runs ADD COLUMN tables_planned INTEGER CHECK (tables_planned >= 0);
ALTER TABLE runs ADD COLUMN concluded BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE run_outcomes (
    run_id UUID NOT NULL,
    table_name TEXT COLLATE "C" NOT NULL,
    outcome JSONB NOT NULL,
    PRIMARY KEY (run_id, table_name)
);

CREATE TABLE workers (
    id TEXT COLLATE "C" PRIMARY KEY,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    concurrency INTEGER NOT NULL,
    running INTEGER NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    seen_at TIMESTAMPTZ NOT NULL
);
"#,
    },
    Migration {
        version: 3,
        description: "users can be disabled",
        sql: r#"
ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX refresh_tokens_user ON refresh_tokens (tenant_id, user_id);
"#,
    },
    Migration {
        version: 4,
        description: "runs can be asked to stop",
        sql: r#"
ALTER TABLE runs ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE;
"#,
    },
    Migration {
        version: 5,
        description: "tenant settings",
        sql: r#"
CREATE TABLE settings (
    tenant_id TEXT NOT NULL, key TEXT COLLATE "C" NOT NULL, value TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (tenant_id, key));
"#,
    },
    Migration {
        version: 6,
        description: "users' saved views",
        sql: r#"
CREATE TABLE saved_views (
    tenant_id TEXT COLLATE "C" NOT NULL,
    user_id TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    page TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    query TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, user_id, id),
    UNIQUE (tenant_id, user_id, page, name),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
"#,
    },
    Migration {
        version: 7,
        description: "client report schedules",
        sql: r#"
CREATE TABLE report_schedules (
    tenant_id TEXT COLLATE "C" NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    company_id TEXT NOT NULL,
    cadence TEXT NOT NULL,
    day INTEGER NOT NULL,
    hour INTEGER NOT NULL,
    tz TEXT NOT NULL,
    period TEXT NOT NULL,
    recipients TEXT NOT NULL,
    contacts BOOLEAN NOT NULL,
    message TEXT,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    next_run_at TIMESTAMPTZ NOT NULL,
    last_run_at TIMESTAMPTZ,
    last_status TEXT,
    last_error TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX report_schedules_due ON report_schedules (next_run_at);
"#,
    },
    Migration {
        version: 8,
        description: "chunks record the requests in flight at once",
        sql: r#"
ALTER TABLE chunks ADD COLUMN concurrency BIGINT NOT NULL DEFAULT 0 CHECK (concurrency >= 0);
"#,
    },
];

/// The columns of `runs`, as [`run_from_row`] reads them.
const RUN_COLUMNS: &str =
    "id::text AS id, tenant_id, kind, status, started_at, finished_at, error, tables_planned,
     cancel_requested";

/// The columns of `chunks`, as [`chunk_from_row`] reads them.
const CHUNK_COLUMNS: &str = "id::text AS id, run_id::text AS run_id, tenant_id, service,
    source_table, status, start_ts, start_id, start_token, end_ts, end_id, end_token,
    records, pages, requests, bytes, versions_inserted, retries, throttles, millis,
    concurrency, files::text AS files, error, started_at, finished_at";

/// The columns of `users`, as [`user_from_row`] reads them.
const USER_COLUMNS: &str = "id, tenant_id, email, name, role, password_hash, disabled";

/// The columns of `saved_views`, as [`view_from_row`] reads them.
const VIEW_COLUMNS: &str = "tenant_id, user_id, id, page, name, query, created_at, updated_at";

/// The columns of `refresh_tokens`, as [`token_from_row`] reads them.
const TOKEN_COLUMNS: &str = "token_hash, family_id, user_id, tenant_id, expires_at, revoked";

/// The PostgreSQL state store: a bounded connection pool; cheap to clone.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// The schema version [`migrate`](Self::migrate) brings a database to.
    pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

    /// Connects to the database at `url` (`postgres://user[:password]@host[:port]/db`),
    /// without touching its schema: call [`migrate`](Self::migrate), or use
    /// [`open`](Self::open). The error names the URL, never its password.
    pub async fn connect(url: &str) -> Result<Self> {
        let fail = |e: sqlx::Error| {
            StateError::Db(sqlx::Error::Configuration(
                format!("cannot connect to {}: {e}", redacted(url)).into(),
            ))
        };
        let opts = PgConnectOptions::from_str(url).map_err(fail)?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(opts)
            .await
            .map_err(fail)?;
        Ok(Self { pool })
    }

    /// [`connect`](Self::connect), then [`migrate`](Self::migrate).
    pub async fn open(url: &str) -> Result<Self> {
        let store = Self::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Brings the schema up to [`SCHEMA_VERSION`](Self::SCHEMA_VERSION): applies each
    /// migration not yet recorded in `schema_migrations`, all in one transaction under an
    /// advisory lock. Safe to repeat, and to run from several processes at once (the
    /// later ones wait, then find nothing to do). Refuses a database whose schema is newer
    /// than this build.
    pub async fn migrate(&self) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        (&mut *tx)
            .execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                    version BIGINT PRIMARY KEY,
                    description TEXT NOT NULL,
                    applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            )
            .await?;
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
                .fetch_all(&mut *tx)
                .await?;
        if let Some(&newest) = applied.last()
            && newest > Self::SCHEMA_VERSION
        {
            return Err(StateError::Corrupt(format!(
                "the database's schema is version {newest}, newer than this build's {}",
                Self::SCHEMA_VERSION
            )));
        }
        for m in MIGRATIONS {
            if applied.contains(&m.version) {
                continue;
            }
            // Without arguments, a simple query: several statements in one string.
            (&mut *tx).execute(m.sql).await?;
            sqlx::query("INSERT INTO schema_migrations (version, description) VALUES ($1, $2)")
                .bind(m.version)
                .bind(m.description)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `url` with any password (in the user info or a `password=` parameter) masked.
fn redacted(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => match userinfo.split_once(':') {
                    Some((user, _)) => format!("{user}:***@{host}"),
                    None => format!("{userinfo}@{host}"),
                },
                None => authority.to_owned(),
            };
            format!("{scheme}://{authority}{path}")
        }
        // Not a URL at all: show nothing of it that could be a secret.
        None => "(not a URL)".to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

fn corrupt(e: impl std::fmt::Display) -> StateError {
    StateError::Corrupt(e.to_string())
}

fn tenant_id(s: String) -> Result<TenantId> {
    TenantId::new(&s).map_err(corrupt)
}

/// A stored continuation token, parsed.
fn continuation(token: Option<String>) -> Result<Option<Continuation>> {
    token.map(|t| Continuation::from_token(&t).map_err(corrupt)).transpose()
}

/// A count as stored: counts beyond `i64::MAX` (never reached) saturate.
fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_foreign_key_violation())
}

fn tenant_from_row(r: &PgRow) -> Result<Tenant> {
    Ok(Tenant {
        id: tenant_id(r.try_get("id")?)?,
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
    })
}

fn user_from_row(r: &PgRow) -> Result<User> {
    let role: String = r.try_get("role")?;
    Ok(User {
        id: r.try_get("id")?,
        tenant_id: tenant_id(r.try_get("tenant_id")?)?,
        email: r.try_get("email")?,
        name: r.try_get("name")?,
        role: Role::from_str(&role).map_err(corrupt)?,
        password_hash: r.try_get("password_hash")?,
        disabled: r.try_get("disabled")?,
    })
}

fn view_from_row(r: &PgRow) -> Result<SavedView> {
    Ok(SavedView {
        id: r.try_get("id")?,
        tenant_id: tenant_id(r.try_get("tenant_id")?)?,
        user_id: r.try_get("user_id")?,
        page: r.try_get("page")?,
        name: r.try_get("name")?,
        query: r.try_get("query")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// A unique violation of `saved_views` (its name taken on its page) as the conflict it
/// is; other errors as they are.
fn view_conflict(e: sqlx::Error, name: Option<&str>) -> StateError {
    match name {
        Some(name) if is_unique_violation(&e) => StateError::Conflict(views_name_taken(name)),
        _ => e.into(),
    }
}

fn token_from_row(r: &PgRow, used: bool) -> Result<RefreshTokenRecord> {
    Ok(RefreshTokenRecord {
        token_hash: r.try_get("token_hash")?,
        family_id: r.try_get("family_id")?,
        user_id: r.try_get("user_id")?,
        tenant_id: tenant_id(r.try_get("tenant_id")?)?,
        expires_at: r.try_get("expires_at")?,
        used,
        revoked: r.try_get("revoked")?,
    })
}

fn run_from_row(r: &PgRow) -> Result<RunRecord> {
    let id: String = r.try_get("id")?;
    let status: String = r.try_get("status")?;
    let tenant: Option<String> = r.try_get("tenant_id")?;
    Ok(RunRecord {
        id: RunId::from_str(&id).map_err(corrupt)?,
        tenant_id: tenant.map(tenant_id).transpose()?,
        kind: r.try_get::<String, _>("kind")?.parse().map_err(corrupt)?,
        status: RunStatus::parse(&status)
            .ok_or_else(|| StateError::Corrupt(format!("run status {status:?}")))?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        error: r.try_get("error")?,
        tables_planned: r.try_get::<Option<i32>, _>("tables_planned")?.map(|n| n as u32),
        cancel_requested: r.try_get("cancel_requested")?,
    })
}

fn worker_from_row(r: &PgRow) -> Result<WorkerRecord> {
    let n = |c: &str| -> Result<u32> { Ok(r.try_get::<i32, _>(c)? as u32) };
    Ok(WorkerRecord {
        id: r.try_get("id")?,
        host: r.try_get("host")?,
        pid: r.try_get::<i64, _>("pid")? as u32,
        concurrency: n("concurrency")?,
        running: n("running")?,
        started_at: r.try_get("started_at")?,
        seen_at: r.try_get("seen_at")?,
    })
}

/// Fails with [`StateError::Fenced`] unless `token` is the lease's. The row lock it takes
/// makes a concurrent claim of the lease wait for the transaction: its writes land either
/// wholly before a takeover or not at all.
async fn check_fence(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    lease: &str,
    token: u64,
) -> Result<()> {
    let current: Option<i64> =
        sqlx::query_scalar("SELECT token FROM leases WHERE name = $1 FOR UPDATE")
            .bind(lease)
            .fetch_optional(&mut **tx)
            .await?;
    if current != Some(count(token)) {
        return Err(StateError::Fenced(lease.to_owned()));
    }
    Ok(())
}

/// `ttl` in whole milliseconds, as the lease SQL multiplies it.
fn ttl_millis(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

fn chunk_from_row(r: &PgRow) -> Result<ChunkRecord> {
    let cursor = |ts: &str, id: &str, token: &str| -> Result<Option<Position>> {
        let ts: Option<DateTime<Utc>> = r.try_get(ts)?;
        let id: Option<String> = r.try_get(id)?;
        let continuation = continuation(r.try_get(token)?)?;
        Ok(ts.zip(id).map(|(updated_at, id)| Position { updated_at, id, continuation }))
    };
    let count = |c: &str| -> Result<u64> {
        let n: i64 = r.try_get(c)?;
        u64::try_from(n).map_err(|_| StateError::Corrupt(format!("chunk {c} = {n}")))
    };
    let id: String = r.try_get("id")?;
    let run_id: String = r.try_get("run_id")?;
    let status: String = r.try_get("status")?;
    let files: String = r.try_get("files")?;
    Ok(ChunkRecord {
        id: ChunkId::from_str(&id).map_err(corrupt)?,
        run_id: RunId::from_str(&run_id).map_err(corrupt)?,
        key: TableKeyView {
            tenant_id: tenant_id(r.try_get("tenant_id")?)?,
            service: r.try_get("service")?,
            table: r.try_get("source_table")?,
        },
        status: ChunkStatus::parse(&status)
            .ok_or_else(|| StateError::Corrupt(format!("chunk status {status:?}")))?,
        start: cursor("start_ts", "start_id", "start_token")?,
        end: cursor("end_ts", "end_id", "end_token")?,
        counts: ChunkCounts {
            records: count("records")?,
            pages: count("pages")?,
            requests: count("requests")?,
            bytes: count("bytes")?,
            versions_inserted: count("versions_inserted")?,
            retries: count("retries")?,
            throttles: count("throttles")?,
            millis: count("millis")?,
            concurrency: count("concurrency")?,
        },
        files: serde_json::from_str(&files).map_err(corrupt)?,
        error: r.try_get("error")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        fence: None,
    })
}

#[async_trait]
impl StateStore for PostgresStore {
    async fn create_tenant(&self, id: &TenantId, name: &str) -> Result<Tenant> {
        let row = sqlx::query(
            "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)
             RETURNING id, name, created_at",
        )
        .bind(id.as_str())
        .bind(name)
        .bind(Utc::now())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StateError::AlreadyExists(format!("tenant {id}"))
            } else {
                e.into()
            }
        })?;
        tenant_from_row(&row)
    }

    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>> {
        let row = sqlx::query("SELECT id, name, created_at FROM tenants WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let rows = sqlx::query("SELECT id, name, created_at FROM tenants ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(tenant_from_row).collect()
    }

    async fn upsert_service(
        &self,
        tenant: &TenantId,
        service: &str,
        sealed_config: &[u8],
    ) -> Result<()> {
        // The foreign key refuses an unknown tenant, in the same statement.
        sqlx::query(
            "INSERT INTO services (tenant_id, service, sealed_config, enabled, updated_at)
             VALUES ($1, $2, $3, TRUE, $4)
             ON CONFLICT (tenant_id, service) DO UPDATE
             SET sealed_config = excluded.sealed_config, updated_at = excluded.updated_at",
        )
        .bind(tenant.as_str())
        .bind(service)
        .bind(sealed_config)
        .bind(Utc::now())
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_foreign_key_violation(&e) {
                StateError::NotFound(format!("tenant {tenant}"))
            } else {
                e.into()
            }
        })?;
        Ok(())
    }

    async fn set_schedule(
        &self,
        tenant: &TenantId,
        service: &str,
        schedule: Option<&str>,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE services SET schedule = $1, updated_at = $2
             WHERE tenant_id = $3 AND service = $4",
        )
        .bind(schedule)
        .bind(Utc::now())
        .bind(tenant.as_str())
        .bind(service)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StateError::NotFound(format!("service {service} of tenant {tenant}")));
        }
        Ok(())
    }

    async fn set_service_enabled(
        &self,
        tenant: &TenantId,
        service: &str,
        enabled: bool,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE services SET enabled = $1, updated_at = $2 WHERE tenant_id = $3 AND service = $4",
        )
        .bind(enabled)
        .bind(Utc::now())
        .bind(tenant.as_str())
        .bind(service)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn table_freshness(&self, tenant: &TenantId) -> Result<Vec<TableFreshness>> {
        let rows = sqlx::query(
            "SELECT k.service, k.source_table, k.last_commit, k.records, c.cursor_ts
             FROM (SELECT service, split_part(source_table, '@part-', 1) AS source_table,
                          MAX(finished_at) AS last_commit, SUM(records)::BIGINT AS records
                   FROM chunks WHERE tenant_id = $1 AND status = 'committed'
                     AND strpos(source_table, '@backfill-') = 0
                   GROUP BY 1, 2) k
             LEFT JOIN cursors c ON c.tenant_id = $1 AND c.service = k.service
                                AND c.source_table = k.source_table
             ORDER BY k.service, k.source_table",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TableFreshness {
                    service: r.try_get("service")?,
                    table: r.try_get("source_table")?,
                    last_commit_at: r.try_get("last_commit")?,
                    watermark: r.try_get("cursor_ts")?,
                    records: r.try_get::<Option<i64>, _>("records")?.unwrap_or(0).max(0) as u64,
                })
            })
            .collect()
    }

    async fn list_services(&self, tenant: &TenantId) -> Result<Vec<ServiceRecord>> {
        let rows = sqlx::query(
            "SELECT service, sealed_config, enabled, schedule FROM services WHERE tenant_id = $1
             ORDER BY service",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ServiceRecord {
                    tenant_id: tenant.clone(),
                    service: r.try_get("service")?,
                    sealed_config: r.try_get("sealed_config")?,
                    enabled: r.try_get("enabled")?,
                    schedule: r.try_get("schedule")?,
                })
            })
            .collect()
    }

    async fn create_user(&self, user: NewUser) -> Result<User> {
        let id = uuid::Uuid::now_v7().to_string();
        let email = user.email.trim().to_lowercase();
        sqlx::query(
            "INSERT INTO users (id, tenant_id, email, name, role, password_hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(user.tenant_id.as_str())
        .bind(&email)
        .bind(&user.name)
        .bind(user.role.as_str())
        .bind(&user.password_hash)
        .bind(Utc::now())
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_foreign_key_violation(&e) {
                StateError::NotFound(format!("tenant {}", user.tenant_id))
            } else if is_unique_violation(&e) {
                StateError::AlreadyExists(format!("user {email} in tenant {}", user.tenant_id))
            } else {
                e.into()
            }
        })?;
        Ok(User {
            id,
            tenant_id: user.tenant_id,
            email,
            name: user.name,
            role: user.role,
            password_hash: user.password_hash,
            disabled: false,
        })
    }

    async fn find_user_by_email(&self, tenant: &TenantId, email: &str) -> Result<Option<User>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND email = $2"
        ))
        .bind(tenant.as_str())
        .bind(email.trim().to_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn get_user(&self, tenant: &TenantId, user_id: &str) -> Result<Option<User>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn list_users(&self, tenant: &TenantId) -> Result<Vec<User>> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = $1 ORDER BY email"
        ))
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn list_views(
        &self,
        tenant: &TenantId,
        user_id: &str,
        page: Option<&str>,
    ) -> Result<Vec<SavedView>> {
        let rows = sqlx::query(&format!(
            "SELECT {VIEW_COLUMNS} FROM saved_views WHERE tenant_id = $1 AND user_id = $2
               AND ($3::text IS NULL OR page = $3)
             ORDER BY page, name"
        ))
        .bind(tenant.as_str())
        .bind(user_id)
        .bind(page)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(view_from_row).collect()
    }

    async fn create_view(
        &self,
        tenant: &TenantId,
        user_id: &str,
        view: NewSavedView,
    ) -> Result<SavedView> {
        let id = uuid::Uuid::now_v7().to_string();
        let mut tx = self.pool.begin().await?;
        // One create of the user's at a time; each statement then sees the ones before.
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(SAVED_VIEWS_LOCK)
            .bind(format!("{tenant}/{user_id}"))
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(&format!(
            "INSERT INTO saved_views (tenant_id, user_id, id, page, name, query, created_at,
                                      updated_at)
             SELECT $1, $2, $3, $4, $5, $6, $7, $7
             WHERE (SELECT COUNT(*) FROM saved_views WHERE tenant_id = $1 AND user_id = $2) < $8
             RETURNING {VIEW_COLUMNS}"
        ))
        .bind(tenant.as_str())
        .bind(user_id)
        .bind(&id)
        .bind(&view.page)
        .bind(&view.name)
        .bind(&view.query)
        .bind(view_clock())
        .bind(i64::from(MAX_SAVED_VIEWS))
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| {
            if is_foreign_key_violation(&e) {
                StateError::NotFound(format!("user {user_id} in tenant {tenant}"))
            } else {
                view_conflict(e, Some(&view.name))
            }
        })?;
        tx.commit().await?;
        match row {
            Some(r) => view_from_row(&r),
            // Below the limit the foreign key decides; at it, say so only of a real user.
            None if self.get_user(tenant, user_id).await?.is_none() => {
                Err(StateError::NotFound(format!("user {user_id} in tenant {tenant}")))
            }
            None => Err(StateError::Conflict(views_limit_reached())),
        }
    }

    async fn update_view(
        &self,
        tenant: &TenantId,
        user_id: &str,
        id: &str,
        update: SavedViewUpdate,
    ) -> Result<Option<SavedView>> {
        let row = sqlx::query(&format!(
            "UPDATE saved_views SET name = coalesce($1, name), query = coalesce($2, query),
                 updated_at = $3
             WHERE tenant_id = $4 AND user_id = $5 AND id = $6
             RETURNING {VIEW_COLUMNS}"
        ))
        .bind(update.name.as_deref())
        .bind(update.query.as_deref())
        .bind(view_clock())
        .bind(tenant.as_str())
        .bind(user_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| view_conflict(e, update.name.as_deref()))?;
        row.as_ref().map(view_from_row).transpose()
    }

    async fn delete_view(&self, tenant: &TenantId, user_id: &str, id: &str) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM saved_views WHERE tenant_id = $1 AND user_id = $2 AND id = $3",
        )
        .bind(tenant.as_str())
        .bind(user_id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn insert_refresh_token(&self, t: NewRefreshToken) -> Result<()> {
        // A token of a revoked family is born revoked: a revocation racing a refresh
        // cannot leave a live token behind. The family's lock orders this insert with a
        // revocation, so one of them sees the other (SQLite gets that from its single
        // writer).
        let mut tx = self.pool.begin().await?;
        lock_token_family(&mut tx, &t.family_id).await?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, user_id, tenant_id, expires_at,
                                         created_at, revoked)
             VALUES ($1, $2, $3, $4, $5, $6,
                     EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = $2 AND revoked))",
        )
        .bind(&t.token_hash)
        .bind(&t.family_id)
        .bind(&t.user_id)
        .bind(t.tenant_id.as_str())
        .bind(t.expires_at)
        .bind(Utc::now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn use_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshTokenRecord>> {
        // One statement claims the token: a concurrent claim waits on the row's lock, then
        // re-checks `NOT used` against the committed row and matches nothing.
        let claimed = sqlx::query(&format!(
            "UPDATE refresh_tokens SET used = TRUE WHERE token_hash = $1 AND NOT used
             RETURNING {TOKEN_COLUMNS}"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = claimed {
            return token_from_row(&row, false).map(Some);
        }
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM refresh_tokens WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| token_from_row(&r, true)).transpose()
    }

    async fn update_user(
        &self,
        tenant: &TenantId,
        user_id: &str,
        u: UserUpdate,
    ) -> Result<Option<User>> {
        let row = sqlx::query(&format!(
            "UPDATE users SET name = coalesce($1, name), role = coalesce($2, role),
                 disabled = coalesce($3, disabled), password_hash = coalesce($4, password_hash)
             WHERE tenant_id = $5 AND id = $6 RETURNING {USER_COLUMNS}"
        ))
        .bind(u.name)
        .bind(u.role.map(|r| r.as_str()))
        .bind(u.disabled)
        .bind(u.password_hash)
        .bind(tenant.as_str())
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn revoke_user_tokens(&self, tenant: &TenantId, user_id: &str) -> Result<()> {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked = TRUE WHERE tenant_id = $1 AND user_id = $2",
        )
        .bind(tenant.as_str())
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session_live(
        &self,
        tenant: &TenantId,
        user_id: &str,
        family_id: &str,
    ) -> Result<bool> {
        let (tokens, revoked): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE revoked) FROM refresh_tokens
             WHERE family_id = $1 AND tenant_id = $2 AND user_id = $3",
        )
        .bind(family_id)
        .bind(tenant.as_str())
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(tokens > 0 && revoked == 0)
    }

    async fn revoke_token_family(&self, family_id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        lock_token_family(&mut tx, family_id).await?;
        sqlx::query("UPDATE refresh_tokens SET revoked = TRUE WHERE family_id = $1")
            .bind(family_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_cursor(&self, key: &TableKey) -> Result<Option<Position>> {
        let row = sqlx::query(
            "SELECT cursor_ts, cursor_id, cursor_token FROM cursors
             WHERE tenant_id = $1 AND service = $2 AND source_table = $3",
        )
        .bind(key.tenant_id.as_str())
        .bind(&key.service)
        .bind(&key.table)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Position {
                updated_at: r.try_get("cursor_ts")?,
                id: r.try_get("cursor_id")?,
                continuation: continuation(r.try_get("cursor_token")?)?,
            })
        })
        .transpose()
    }

    async fn create_run(&self, run: &RunRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO runs (id, tenant_id, kind, status, started_at, tables_planned)
             VALUES ($1::uuid, $2, $3, $4, $5, $6)",
        )
        .bind(run.id.to_string())
        .bind(run.tenant_id.as_ref().map(TenantId::as_str))
        .bind(run.kind.as_str())
        .bind(run.status.as_str())
        .bind(run.started_at)
        .bind(run.tables_planned.map(|n| i32::try_from(n).unwrap_or(i32::MAX)))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn put_setting(
        &self,
        tenant: &TenantId,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (tenant_id, key, value, updated_at) VALUES ($1, $2, $3, now())
             ON CONFLICT (tenant_id, key) DO UPDATE SET value = excluded.value,
                 updated_at = excluded.updated_at",
        )
        .bind(tenant.as_str())
        .bind(key)
        .bind(value.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_setting(&self, tenant: &TenantId, key: &str) -> Result<Option<serde_json::Value>> {
        let v: Option<String> =
            sqlx::query_scalar("SELECT value FROM settings WHERE tenant_id = $1 AND key = $2")
                .bind(tenant.as_str())
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        v.map(|v| parse_setting(key, &v)).transpose()
    }

    async fn list_settings(
        &self,
        tenant: &TenantId,
        prefix: &str,
    ) -> Result<Vec<(String, serde_json::Value)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT key, value FROM settings WHERE tenant_id = $1 AND left(key, length($2)) = $2
             ORDER BY key",
        )
        .bind(tenant.as_str())
        .bind(prefix)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(|(k, v)| Ok((k.clone(), parse_setting(&k, &v)?))).collect()
    }

    async fn delete_setting(&self, tenant: &TenantId, key: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM settings WHERE tenant_id = $1 AND key = $2")
            .bind(tenant.as_str())
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn request_cancel(&self, run_id: RunId) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE runs SET cancel_requested = TRUE WHERE id = $1::uuid AND status = 'running'",
        )
        .bind(run_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn cancel_requested(&self, run_id: RunId) -> Result<bool> {
        let flag: Option<bool> =
            sqlx::query_scalar("SELECT cancel_requested FROM runs WHERE id = $1::uuid")
                .bind(run_id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        Ok(flag.unwrap_or(false))
    }

    async fn finish_run(
        &self,
        run_id: RunId,
        status: RunStatus,
        error: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE runs SET status = $1, error = $2, finished_at = $3 WHERE id = $4::uuid",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(Utc::now())
        .bind(run_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_run(&self, run_id: RunId) -> Result<Option<RunRecord>> {
        let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1::uuid"))
            .bind(run_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    async fn interrupt_running_runs(&self, reason: &str) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE runs SET status = 'interrupted', error = $1, finished_at = $2
             WHERE status = 'running'",
        )
        .bind(reason)
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn list_runs(&self, tenant: Option<&TenantId>, limit: u32) -> Result<Vec<RunRecord>> {
        let rows =
            match tenant {
                Some(t) => {
                    // A tenant's runs: its own, and runs over every tenant that touched it.
                    sqlx::query(&format!(
                        "SELECT {RUN_COLUMNS} FROM runs WHERE tenant_id = $1
                        OR (tenant_id IS NULL AND EXISTS
                            (SELECT 1 FROM chunks c WHERE c.tenant_id = $1 AND c.run_id = runs.id))
                     ORDER BY started_at DESC, runs.id DESC LIMIT $2"
                    ))
                    .bind(t.as_str())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
                }
                None => sqlx::query(&format!(
                    "SELECT {RUN_COLUMNS} FROM runs ORDER BY started_at DESC, runs.id DESC LIMIT $1"
                ))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?,
            };
        rows.iter().map(run_from_row).collect()
    }

    async fn begin_chunk(&self, c: &ChunkRecord) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        if let Some(fence) = c.fence {
            check_fence(&mut tx, &c.key.key().lease_name(), fence).await?;
        }
        sqlx::query(
            "INSERT INTO chunks (id, run_id, tenant_id, service, source_table, status,
                                 start_ts, start_id, start_token, started_at)
             VALUES ($1::uuid, $2::uuid, $3, $4, $5, 'running', $6, $7, $8, $9)
             ON CONFLICT (id) DO UPDATE SET run_id = excluded.run_id, status = 'running',
                 error = NULL, finished_at = NULL, end_ts = NULL, end_id = NULL,
                 end_token = NULL, records = 0,
                 pages = 0, requests = 0, bytes = 0, versions_inserted = 0, retries = 0,
                 throttles = 0, millis = 0, concurrency = 0, files = '[]'",
        )
        .bind(c.id.to_string())
        .bind(c.run_id.to_string())
        .bind(c.key.tenant_id.as_str())
        .bind(&c.key.service)
        .bind(&c.key.table)
        .bind(c.start.as_ref().map(|s| s.updated_at))
        .bind(c.start.as_ref().map(|s| s.id.as_str()))
        .bind(c.start.as_ref().and_then(Position::token))
        .bind(c.started_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_unfinished_chunk(&self, key: &TableKey) -> Result<Option<ChunkRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {CHUNK_COLUMNS} FROM chunks
             WHERE tenant_id = $1 AND service = $2 AND source_table = $3
               AND status IN ('running', 'failed')
             ORDER BY start_ts NULLS FIRST, start_id LIMIT 1"
        ))
        .bind(key.tenant_id.as_str())
        .bind(&key.service)
        .bind(&key.table)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(chunk_from_row).transpose()
    }

    async fn commit_chunk(&self, c: &ChunkCommit) -> Result<()> {
        let files = serde_json::to_string(&c.files).map_err(corrupt)?;
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        if let Some(fence) = c.fence {
            check_fence(&mut tx, &c.key.lease_name(), fence).await?;
        }
        // The row lock this takes makes a concurrent commit of the same chunk wait, then
        // find it no longer running.
        let updated = sqlx::query(
            "UPDATE chunks SET status = 'committed', end_ts = $1, end_id = $2, end_token = $3,
                 records = $4,
                 pages = $5, requests = $6, bytes = $7, versions_inserted = $8, retries = $9,
                 throttles = $10, millis = $11, files = $12::jsonb,
                 error = NULL, finished_at = $13, concurrency = $15
             WHERE id = $14::uuid AND status = 'running'",
        )
        .bind(c.end.as_ref().map(|e| e.updated_at))
        .bind(c.end.as_ref().map(|e| e.id.as_str()))
        .bind(c.end.as_ref().and_then(Position::token))
        .bind(count(c.counts.records))
        .bind(count(c.counts.pages))
        .bind(count(c.counts.requests))
        .bind(count(c.counts.bytes))
        .bind(count(c.counts.versions_inserted))
        .bind(count(c.counts.retries))
        .bind(count(c.counts.throttles))
        .bind(count(c.counts.millis))
        .bind(files)
        .bind(now)
        .bind(c.chunk_id.to_string())
        .bind(count(c.counts.concurrency))
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            // Dropping the transaction rolls it back.
            return Err(StateError::NotFound(format!("running chunk {}", c.chunk_id)));
        }
        if let Some(end) = &c.end {
            // A chunk is read in (updated_at, id) order from the previous cursor, so its
            // end is the end of the contiguous committed prefix. (A full sync restarts
            // from the beginning and may move the cursor back: that only causes re-reads.)
            sqlx::query(
                "INSERT INTO cursors (tenant_id, service, source_table, cursor_ts, cursor_id,
                                      cursor_token, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (tenant_id, service, source_table) DO UPDATE
                 SET cursor_ts = excluded.cursor_ts, cursor_id = excluded.cursor_id,
                     cursor_token = excluded.cursor_token, updated_at = excluded.updated_at",
            )
            .bind(c.key.tenant_id.as_str())
            .bind(&c.key.service)
            .bind(&c.key.table)
            .bind(end.updated_at)
            .bind(&end.id)
            .bind(end.token())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn fail_chunk(&self, chunk_id: ChunkId, error: &str) -> Result<()> {
        sqlx::query(
            "UPDATE chunks SET status = 'failed', error = $1, finished_at = $2
             WHERE id = $3::uuid AND status = 'running'",
        )
        .bind(error)
        .bind(Utc::now())
        .bind(chunk_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn abandon_chunk(&self, chunk_id: ChunkId, fence: Option<(&str, u64)>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        if let Some((lease, token)) = fence {
            check_fence(&mut tx, lease, token).await?;
        }
        sqlx::query(
            "UPDATE chunks SET status = 'abandoned', finished_at = $1
             WHERE id = $2::uuid AND status IN ('running', 'failed')",
        )
        .bind(Utc::now())
        .bind(chunk_id.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_chunks(&self, run_id: RunId) -> Result<Vec<ChunkRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {CHUNK_COLUMNS} FROM chunks WHERE run_id = $1::uuid
             ORDER BY started_at, chunks.id"
        ))
        .bind(run_id.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(chunk_from_row).collect()
    }

    async fn last_commit_at(&self, tenant: &TenantId) -> Result<Option<DateTime<Utc>>> {
        let at = sqlx::query_scalar(
            "SELECT MAX(finished_at) FROM chunks WHERE tenant_id = $1 AND status = 'committed'",
        )
        .bind(tenant.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(at)
    }

    async fn claim_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<u64>> {
        // The database's clock decides expiry, so workers' clocks need not agree.
        let token: Option<i64> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, token, expires_at)
             VALUES ($1, $2, 1, now() + $3 * interval '1 millisecond')
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                 token = leases.token + 1, expires_at = excluded.expires_at
             WHERE leases.expires_at < now()
             RETURNING token",
        )
        .bind(name)
        .bind(holder)
        .bind(ttl_millis(ttl))
        .fetch_optional(&self.pool)
        .await?;
        Ok(token.map(|t| t as u64))
    }

    async fn renew_lease(&self, name: &str, token: u64, ttl: Duration) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE leases SET expires_at = now() + $1 * interval '1 millisecond'
             WHERE name = $2 AND token = $3",
        )
        .bind(ttl_millis(ttl))
        .bind(name)
        .bind(count(token))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_lease(&self, name: &str, token: u64) -> Result<()> {
        sqlx::query("UPDATE leases SET expires_at = '-infinity' WHERE name = $1 AND token = $2")
            .bind(name)
            .bind(count(token))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn record_outcome(
        &self,
        run_id: RunId,
        table: &str,
        outcome: &str,
    ) -> Result<Option<Vec<String>>> {
        let run = run_id.to_string();
        let mut tx = self.pool.begin().await?;
        // The run's row lock serializes its recorders: the count below sees every outcome
        // recorded before, and exactly one recorder completes the run.
        let row = sqlx::query(
            "SELECT tables_planned, concluded FROM runs WHERE id = $1::uuid FOR UPDATE",
        )
        .bind(&run)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StateError::NotFound(format!("run {run_id}")))?;
        sqlx::query(
            "INSERT INTO run_outcomes (run_id, table_name, outcome) VALUES ($1::uuid, $2, $3::jsonb)
             ON CONFLICT (run_id, table_name) DO UPDATE SET outcome = excluded.outcome",
        )
        .bind(&run)
        .bind(table)
        .bind(outcome)
        .execute(&mut *tx)
        .await?;
        let planned: Option<i32> = row.try_get("tables_planned")?;
        let concluded: bool = row.try_get("concluded")?;
        let Some(planned) = planned.filter(|_| !concluded) else {
            tx.commit().await?;
            return Ok(None);
        };
        let done: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM run_outcomes WHERE run_id = $1::uuid")
                .bind(&run)
                .fetch_one(&mut *tx)
                .await?;
        if done < i64::from(planned) {
            tx.commit().await?;
            return Ok(None);
        }
        sqlx::query("UPDATE runs SET concluded = TRUE WHERE id = $1::uuid")
            .bind(&run)
            .execute(&mut *tx)
            .await?;
        let all: Vec<String> = sqlx::query_scalar(
            "SELECT outcome::text FROM run_outcomes WHERE run_id = $1::uuid ORDER BY table_name",
        )
        .bind(&run)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(all))
    }

    async fn list_outcomes(&self, run_id: RunId) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT outcome::text FROM run_outcomes WHERE run_id = $1::uuid ORDER BY table_name",
        )
        .bind(run_id.to_string())
        .fetch_all(&self.pool)
        .await?)
    }

    async fn worker_heartbeat(&self, w: &WorkerRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO workers (id, host, pid, concurrency, running, started_at, seen_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET concurrency = excluded.concurrency,
                 running = excluded.running, seen_at = excluded.seen_at",
        )
        .bind(&w.id)
        .bind(&w.host)
        .bind(i64::from(w.pid))
        .bind(i32::try_from(w.concurrency).unwrap_or(i32::MAX))
        .bind(i32::try_from(w.running).unwrap_or(i32::MAX))
        .bind(w.started_at)
        .bind(w.seen_at)
        .execute(&self.pool)
        .await?;
        sqlx::query("DELETE FROM workers WHERE seen_at < $1")
            .bind(w.seen_at - chrono::Duration::days(1))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn list_workers(&self) -> Result<Vec<WorkerRecord>> {
        let rows = sqlx::query("SELECT * FROM workers ORDER BY seen_at DESC, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(worker_from_row).collect()
    }

    async fn remove_worker(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM workers WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    async fn create_report_schedule(&self, r: &ReportSchedule) -> Result<()> {
        let recipients = serde_json::to_string(&r.recipients)
            .map_err(|e| StateError::Corrupt(format!("report recipients: {e}")))?;
        let mut tx = self.pool.begin().await?;
        // Creates of one tenant's schedules one at a time: no two pass the limit together.
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(REPORT_SCHEDULES_LOCK)
            .bind(r.tenant_id.as_str())
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query(
            "INSERT INTO report_schedules (tenant_id, id, company_id, cadence, day, hour, tz,
                 period, recipients, contacts, message, created_by, created_at, next_run_at)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14
             WHERE (SELECT COUNT(*) FROM report_schedules WHERE tenant_id = $1) < $15",
        )
        .bind(r.tenant_id.as_str())
        .bind(&r.id)
        .bind(&r.company_id)
        .bind(&r.cadence)
        .bind(i32::try_from(r.day).unwrap_or(i32::MAX))
        .bind(i32::try_from(r.hour).unwrap_or(i32::MAX))
        .bind(&r.tz)
        .bind(&r.period)
        .bind(recipients)
        .bind(r.contacts)
        .bind(r.message.as_deref())
        .bind(&r.created_by)
        .bind(r.created_at)
        .bind(r.next_run_at)
        .bind(i64::from(MAX_REPORT_SCHEDULES))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StateError::Conflict(crate::report_schedules_limit_reached()));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_report_schedules(&self, tenant: &TenantId) -> Result<Vec<ReportSchedule>> {
        let rows = sqlx::query(
            "SELECT * FROM report_schedules WHERE tenant_id = $1 ORDER BY created_at, id",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(report_schedule_from_row).collect()
    }

    async fn delete_report_schedule(&self, tenant: &TenantId, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM report_schedules WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn due_report_schedules(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ReportSchedule>> {
        let rows = sqlx::query(
            "SELECT * FROM report_schedules WHERE next_run_at <= $1
             ORDER BY next_run_at, tenant_id, id LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(report_schedule_from_row).collect()
    }

    async fn claim_report_schedule(
        &self,
        tenant: &TenantId,
        id: &str,
        due: DateTime<Utc>,
        next: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE report_schedules SET next_run_at = $1, last_run_at = $2,
                 last_status = 'sending', last_error = NULL
             WHERE tenant_id = $3 AND id = $4 AND next_run_at = $5",
        )
        .bind(next)
        .bind(now)
        .bind(tenant.as_str())
        .bind(id)
        .bind(due)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn finish_report_schedule(
        &self,
        tenant: &TenantId,
        id: &str,
        status: &str,
        error: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE report_schedules SET last_status = $1, last_error = $2
             WHERE tenant_id = $3 AND id = $4",
        )
        .bind(status)
        .bind(error)
        .bind(tenant.as_str())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

fn report_schedule_from_row(r: &PgRow) -> Result<ReportSchedule> {
    let recipients: String = r.try_get("recipients")?;
    let number = |k: &str| -> Result<u32> {
        let v: i32 = r.try_get(k)?;
        u32::try_from(v).map_err(|_| StateError::Corrupt(format!("report schedule {k}: {v}")))
    };
    Ok(ReportSchedule {
        id: r.try_get("id")?,
        tenant_id: tenant_id(r.try_get("tenant_id")?)?,
        company_id: r.try_get("company_id")?,
        cadence: r.try_get("cadence")?,
        day: number("day")?,
        hour: number("hour")?,
        tz: r.try_get("tz")?,
        period: r.try_get("period")?,
        recipients: serde_json::from_str(&recipients)
            .map_err(|e| StateError::Corrupt(format!("report recipients: {e}")))?,
        contacts: r.try_get("contacts")?,
        message: r.try_get("message")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        next_run_at: r.try_get("next_run_at")?,
        last_run_at: r.try_get("last_run_at")?,
        last_status: r.try_get("last_status")?,
        last_error: r.try_get("last_error")?,
    })
}

/// Takes the transaction-scoped lock of a refresh-token family.
async fn lock_token_family(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    family_id: &str,
) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(TOKEN_FAMILY_LOCK)
        .bind(family_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_passwords_and_keeps_the_rest() {
        for (url, shown) in [
            ("postgres://app:s3cr%40t@db:5432/avesa", "postgres://app:***@db:5432/avesa"),
            ("postgres://app@db/avesa", "postgres://app@db/avesa"),
            ("postgresql://db", "postgresql://db"),
            (
                "postgres://db/avesa?sslmode=require&password=s3cret",
                "postgres://db/avesa?sslmode=require&password=***",
            ),
            ("host=db password=s3cret", "(not a URL)"),
        ] {
            assert_eq!(redacted(url), shown, "{url}");
        }
    }

    /// Callers spawn these (a server starting several tasks): their futures must be `Send`.
    #[allow(dead_code)]
    fn futures_are_send(s: &PostgresStore) {
        fn send<T: Send>(_: T) {}
        send(PostgresStore::connect("postgres://db/avesa"));
        send(PostgresStore::open("postgres://db/avesa"));
        send(s.migrate());
        send(s.close());
    }

    #[test]
    fn migrations_are_numbered_in_order() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.description);
        }
        assert_eq!(PostgresStore::SCHEMA_VERSION, MIGRATIONS.len() as i64);
    }
}
