//! [`StateStore`] on a SQLite file (the embedded default).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use avesa_model::{ChunkId, Continuation, Position, Role, RunId, TenantId};
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{Row, SqlitePool};

use crate::*;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS tenants (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS services (
        tenant_id TEXT NOT NULL REFERENCES tenants(id), service TEXT NOT NULL,
        sealed_config BLOB NOT NULL, enabled INTEGER NOT NULL DEFAULT 1,
        updated_at TEXT NOT NULL, PRIMARY KEY (tenant_id, service))",
    "CREATE TABLE IF NOT EXISTS users (
        id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id),
        email TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
        password_hash TEXT NOT NULL, created_at TEXT NOT NULL, UNIQUE (tenant_id, email))",
    "CREATE TABLE IF NOT EXISTS refresh_tokens (
        token_hash TEXT PRIMARY KEY, family_id TEXT NOT NULL, user_id TEXT NOT NULL,
        tenant_id TEXT NOT NULL, expires_at TEXT NOT NULL, used INTEGER NOT NULL DEFAULT 0,
        revoked INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens (family_id)",
    "CREATE TABLE IF NOT EXISTS cursors (
        tenant_id TEXT NOT NULL, service TEXT NOT NULL, source_table TEXT NOT NULL,
        cursor_ts TEXT NOT NULL, cursor_id TEXT NOT NULL, updated_at TEXT NOT NULL,
        PRIMARY KEY (tenant_id, service, source_table))",
    "CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY, tenant_id TEXT, kind TEXT NOT NULL, status TEXT NOT NULL,
        started_at TEXT NOT NULL, finished_at TEXT, error TEXT)",
    "CREATE TABLE IF NOT EXISTS chunks (
        id TEXT PRIMARY KEY, run_id TEXT NOT NULL, tenant_id TEXT NOT NULL,
        service TEXT NOT NULL, source_table TEXT NOT NULL, status TEXT NOT NULL,
        start_ts TEXT, start_id TEXT, end_ts TEXT, end_id TEXT,
        records INTEGER NOT NULL DEFAULT 0, pages INTEGER NOT NULL DEFAULT 0,
        requests INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,
        versions_inserted INTEGER NOT NULL DEFAULT 0, files TEXT NOT NULL DEFAULT '[]',
        error TEXT, started_at TEXT NOT NULL, finished_at TEXT)",
    "CREATE INDEX IF NOT EXISTS chunks_table ON chunks (tenant_id, service, source_table, status)",
    "CREATE INDEX IF NOT EXISTS chunks_run ON chunks (run_id)",
    // A tenant's last commit (`last_commit_at`, the response cache's data version, asked
    // every second per tenant): one index seek, not a walk over every chunk the tenant
    // ever committed (10 ms at 10,000 chunks, and far more on a busy machine).
    "CREATE INDEX IF NOT EXISTS chunks_committed ON chunks (tenant_id, finished_at)
        WHERE status = 'committed'",
    "CREATE TABLE IF NOT EXISTS leases (
        name TEXT PRIMARY KEY, holder TEXT NOT NULL, token INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS run_outcomes (
        run_id TEXT NOT NULL, table_name TEXT NOT NULL, outcome TEXT NOT NULL,
        PRIMARY KEY (run_id, table_name))",
    "CREATE TABLE IF NOT EXISTS settings (
        tenant_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        updated_at TEXT NOT NULL, PRIMARY KEY (tenant_id, key))",
    "CREATE TABLE IF NOT EXISTS workers (
        id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,
        concurrency INTEGER NOT NULL, running INTEGER NOT NULL, started_at TEXT NOT NULL,
        seen_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS saved_views (
        tenant_id TEXT NOT NULL, user_id TEXT NOT NULL, id TEXT NOT NULL, page TEXT NOT NULL,
        name TEXT NOT NULL, query TEXT NOT NULL, created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL, PRIMARY KEY (tenant_id, user_id, id),
        UNIQUE (tenant_id, user_id, page, name))",
    "CREATE TABLE IF NOT EXISTS report_schedules (
        tenant_id TEXT NOT NULL, id TEXT NOT NULL, company_id TEXT NOT NULL,
        cadence TEXT NOT NULL, day INTEGER NOT NULL, hour INTEGER NOT NULL, tz TEXT NOT NULL,
        period TEXT NOT NULL, recipients TEXT NOT NULL, contacts INTEGER NOT NULL,
        message TEXT, created_by TEXT NOT NULL, created_at TEXT NOT NULL,
        next_run_at TEXT NOT NULL, last_run_at TEXT, last_status TEXT, last_error TEXT,
        PRIMARY KEY (tenant_id, id))",
    "CREATE INDEX IF NOT EXISTS report_schedules_due ON report_schedules (next_run_at)",
];

/// The SQLite state store.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies the schema.
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                StateError::Db(sqlx::Error::Configuration(
                    format!("cannot create {}: {e}", dir.display()).into(),
                ))
            })?;
        }
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(opts).await?;
        for stmt in SCHEMA {
            sqlx::query(stmt).execute(&pool).await?;
        }
        // Columns added after the first release: add them to older databases.
        for (table, column) in [
            ("cursors", "cursor_token TEXT"),
            ("chunks", "start_token TEXT"),
            ("chunks", "end_token TEXT"),
            ("chunks", "retries INTEGER NOT NULL DEFAULT 0"),
            ("chunks", "throttles INTEGER NOT NULL DEFAULT 0"),
            ("chunks", "millis INTEGER NOT NULL DEFAULT 0"),
            ("chunks", "concurrency INTEGER NOT NULL DEFAULT 0"),
            ("services", "schedule TEXT"),
            ("runs", "tables_planned INTEGER"),
            ("runs", "concluded INTEGER NOT NULL DEFAULT 0"),
            ("users", "disabled INTEGER NOT NULL DEFAULT 0"),
            ("runs", "cancel_requested INTEGER NOT NULL DEFAULT 0"),
        ] {
            let (column, decl) = column.split_once(' ').unwrap_or((column, "TEXT"));
            let present: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?")
                    .bind(table)
                    .bind(column)
                    .fetch_one(&pool)
                    .await?;
            if present == 0 {
                sqlx::query(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))
                    .execute(&pool)
                    .await?;
            }
        }
        Ok(Self { pool })
    }
}

fn tenant_id(s: String) -> Result<TenantId> {
    TenantId::new(&s).map_err(|e| StateError::Corrupt(e.to_string()))
}

/// A stored continuation token, parsed.
fn continuation(token: Option<String>) -> Result<Option<Continuation>> {
    token
        .map(|t| Continuation::from_token(&t).map_err(|e| StateError::Corrupt(e.to_string())))
        .transpose()
}

fn chunk_from_row(r: &SqliteRow) -> Result<ChunkRecord> {
    let cursor = |ts: &str, id: &str, token: &str| -> Result<Option<Position>> {
        let ts: Option<DateTime<Utc>> = r.try_get(ts)?;
        let id: Option<String> = r.try_get(id)?;
        let token: Option<String> = r.try_get(token)?;
        let continuation = continuation(token)?;
        Ok(ts.zip(id).map(|(updated_at, id)| Position { updated_at, id, continuation }))
    };
    let id: String = r.try_get("id")?;
    let run_id: String = r.try_get("run_id")?;
    let status: String = r.try_get("status")?;
    let files: String = r.try_get("files")?;
    let count = |c: &str| -> Result<u64> { Ok(r.try_get::<i64, _>(c)? as u64) };
    Ok(ChunkRecord {
        id: ChunkId::from_str(&id).map_err(|e| StateError::Corrupt(e.to_string()))?,
        run_id: RunId::from_str(&run_id).map_err(|e| StateError::Corrupt(e.to_string()))?,
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
        files: serde_json::from_str(&files).map_err(|e| StateError::Corrupt(e.to_string()))?,
        error: r.try_get("error")?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        fence: None,
    })
}

fn run_from_row(r: &SqliteRow) -> Result<RunRecord> {
    let id: String = r.try_get("id")?;
    let status: String = r.try_get("status")?;
    let tenant: Option<String> = r.try_get("tenant_id")?;
    Ok(RunRecord {
        id: RunId::from_str(&id).map_err(|e| StateError::Corrupt(e.to_string()))?,
        tenant_id: tenant.map(tenant_id).transpose()?,
        kind: r
            .try_get::<String, _>("kind")?
            .parse()
            .map_err(|e: avesa_model::IdError| StateError::Corrupt(e.to_string()))?,
        status: RunStatus::parse(&status)
            .ok_or_else(|| StateError::Corrupt(format!("run status {status:?}")))?,
        started_at: r.try_get("started_at")?,
        finished_at: r.try_get("finished_at")?,
        error: r.try_get("error")?,
        tables_planned: r.try_get::<Option<i64>, _>("tables_planned")?.map(|n| n as u32),
        cancel_requested: r.try_get::<i64, _>("cancel_requested")? != 0,
    })
}

/// Fails with [`StateError::Fenced`] unless `token` is the lease's; the transaction is
/// rolled back when dropped. Called after the transaction's first write took the
/// database's write lock, so no claim can slip in between the check and the commit.
async fn check_fence(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    lease: &str,
    token: u64,
) -> Result<()> {
    let current: Option<i64> = sqlx::query_scalar("SELECT token FROM leases WHERE name = ?")
        .bind(lease)
        .fetch_optional(&mut **tx)
        .await?;
    if current != Some(token as i64) {
        return Err(StateError::Fenced(lease.to_owned()));
    }
    Ok(())
}

/// Milliseconds since the epoch, `ttl` from now (the lease clock of a SQLite store).
fn millis_from_now(ttl: Duration) -> i64 {
    Utc::now().timestamp_millis().saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
}

fn worker_from_row(r: &SqliteRow) -> Result<WorkerRecord> {
    let n = |c: &str| -> Result<u32> { Ok(r.try_get::<i64, _>(c)? as u32) };
    Ok(WorkerRecord {
        id: r.try_get("id")?,
        host: r.try_get("host")?,
        pid: n("pid")?,
        concurrency: n("concurrency")?,
        running: n("running")?,
        started_at: r.try_get("started_at")?,
        seen_at: r.try_get("seen_at")?,
    })
}

fn user_from_row(r: &SqliteRow) -> Result<User> {
    let role: String = r.try_get("role")?;
    Ok(User {
        id: r.try_get("id")?,
        tenant_id: tenant_id(r.try_get("tenant_id")?)?,
        email: r.try_get("email")?,
        name: r.try_get("name")?,
        role: Role::from_str(&role).map_err(|e| StateError::Corrupt(e.to_string()))?,
        password_hash: r.try_get("password_hash")?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn view_from_row(r: &SqliteRow) -> Result<SavedView> {
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

#[async_trait]
impl StateStore for SqliteStore {
    async fn create_tenant(&self, id: &TenantId, name: &str) -> Result<Tenant> {
        let now = Utc::now();
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)")
            .bind(id.as_str())
            .bind(name)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StateError::AlreadyExists(format!("tenant {id}"))
                } else {
                    e.into()
                }
            })?;
        Ok(Tenant { id: id.clone(), name: name.to_owned(), created_at: now })
    }

    async fn get_tenant(&self, id: &TenantId) -> Result<Option<Tenant>> {
        let row = sqlx::query("SELECT id, name, created_at FROM tenants WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(Tenant {
                id: tenant_id(r.try_get("id")?)?,
                name: r.try_get("name")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .transpose()
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let rows = sqlx::query("SELECT id, name, created_at FROM tenants ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Tenant {
                    id: tenant_id(r.try_get("id")?)?,
                    name: r.try_get("name")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn upsert_service(
        &self,
        tenant: &TenantId,
        service: &str,
        sealed_config: &[u8],
    ) -> Result<()> {
        if self.get_tenant(tenant).await?.is_none() {
            return Err(StateError::NotFound(format!("tenant {tenant}")));
        }
        sqlx::query(
            "INSERT INTO services (tenant_id, service, sealed_config, enabled, updated_at)
             VALUES (?, ?, ?, 1, ?)
             ON CONFLICT (tenant_id, service) DO UPDATE
             SET sealed_config = excluded.sealed_config, updated_at = excluded.updated_at",
        )
        .bind(tenant.as_str())
        .bind(service)
        .bind(sealed_config)
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_schedule(
        &self,
        tenant: &TenantId,
        service: &str,
        schedule: Option<&str>,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE services SET schedule = ?, updated_at = ? WHERE tenant_id = ? AND service = ?",
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
            "UPDATE services SET enabled = ?, updated_at = ? WHERE tenant_id = ? AND service = ?",
        )
        .bind(i64::from(enabled))
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
             FROM (SELECT service,
                          CASE WHEN instr(source_table, '@part-') > 0
                               THEN substr(source_table, 1, instr(source_table, '@part-') - 1)
                               ELSE source_table END AS source_table,
                          MAX(finished_at) AS last_commit, SUM(records) AS records
                   FROM chunks WHERE tenant_id = ?1 AND status = 'committed'
                     AND instr(source_table, '@backfill-') = 0
                   GROUP BY 1, 2) k
             LEFT JOIN cursors c ON c.tenant_id = ?1 AND c.service = k.service
                                AND c.source_table = k.source_table
             ORDER BY k.service, k.source_table",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let at = |col: &str| -> Result<Option<DateTime<Utc>>> {
                    let s: Option<String> = r.try_get(col)?;
                    s.map(|s| {
                        DateTime::parse_from_rfc3339(&s)
                            .map(|d| d.with_timezone(&Utc))
                            .map_err(|e| StateError::Corrupt(format!("timestamp {s:?}: {e}")))
                    })
                    .transpose()
                };
                Ok(TableFreshness {
                    service: r.try_get("service")?,
                    table: r.try_get("source_table")?,
                    last_commit_at: at("last_commit")?,
                    watermark: at("cursor_ts")?,
                    records: r.try_get::<i64, _>("records")?.max(0) as u64,
                })
            })
            .collect()
    }

    async fn list_services(&self, tenant: &TenantId) -> Result<Vec<ServiceRecord>> {
        let rows = sqlx::query(
            "SELECT service, sealed_config, enabled, schedule FROM services WHERE tenant_id = ?
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
                    enabled: r.try_get::<i64, _>("enabled")? != 0,
                    schedule: r.try_get("schedule")?,
                })
            })
            .collect()
    }

    async fn create_user(&self, user: NewUser) -> Result<User> {
        if self.get_tenant(&user.tenant_id).await?.is_none() {
            return Err(StateError::NotFound(format!("tenant {}", user.tenant_id)));
        }
        let id = uuid::Uuid::now_v7().to_string();
        let email = user.email.trim().to_lowercase();
        sqlx::query(
            "INSERT INTO users (id, tenant_id, email, name, role, password_hash, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
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
            if is_unique_violation(&e) {
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
        let row = sqlx::query("SELECT * FROM users WHERE tenant_id = ? AND email = ?")
            .bind(tenant.as_str())
            .bind(email.trim().to_lowercase())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn get_user(&self, tenant: &TenantId, user_id: &str) -> Result<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE tenant_id = ? AND id = ?")
            .bind(tenant.as_str())
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn list_users(&self, tenant: &TenantId) -> Result<Vec<User>> {
        let rows = sqlx::query("SELECT * FROM users WHERE tenant_id = ? ORDER BY email")
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn update_user(
        &self,
        tenant: &TenantId,
        user_id: &str,
        u: UserUpdate,
    ) -> Result<Option<User>> {
        sqlx::query(
            "UPDATE users SET name = coalesce(?, name), role = coalesce(?, role),
                 disabled = coalesce(?, disabled), password_hash = coalesce(?, password_hash)
             WHERE tenant_id = ? AND id = ?",
        )
        .bind(u.name)
        .bind(u.role.map(|r| r.as_str()))
        .bind(u.disabled.map(i64::from))
        .bind(u.password_hash)
        .bind(tenant.as_str())
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        self.get_user(tenant, user_id).await
    }

    async fn revoke_user_tokens(&self, tenant: &TenantId, user_id: &str) -> Result<()> {
        sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE tenant_id = ? AND user_id = ?")
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
            "SELECT count(*), coalesce(sum(revoked), 0) FROM refresh_tokens
             WHERE family_id = ? AND tenant_id = ? AND user_id = ?",
        )
        .bind(family_id)
        .bind(tenant.as_str())
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(tokens > 0 && revoked == 0)
    }

    async fn list_views(
        &self,
        tenant: &TenantId,
        user_id: &str,
        page: Option<&str>,
    ) -> Result<Vec<SavedView>> {
        let rows = sqlx::query(
            "SELECT * FROM saved_views WHERE tenant_id = ?1 AND user_id = ?2
               AND (?3 IS NULL OR page = ?3)
             ORDER BY page, name",
        )
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
        let now = view_clock();
        // One statement: it holds the database's write lock from its start, so the count
        // it checks cannot change before its insert (no two creates pass the limit).
        let row = sqlx::query(
            "INSERT INTO saved_views (tenant_id, user_id, id, page, name, query, created_at,
                                      updated_at)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7
             WHERE EXISTS (SELECT 1 FROM users WHERE tenant_id = ?1 AND id = ?2)
               AND (SELECT COUNT(*) FROM saved_views WHERE tenant_id = ?1 AND user_id = ?2) < ?8
             RETURNING *",
        )
        .bind(tenant.as_str())
        .bind(user_id)
        .bind(&id)
        .bind(&view.page)
        .bind(&view.name)
        .bind(&view.query)
        .bind(now)
        .bind(i64::from(MAX_SAVED_VIEWS))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| view_conflict(e, Some(&view.name)))?;
        match row {
            Some(r) => view_from_row(&r),
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
        let row = sqlx::query(
            "UPDATE saved_views SET name = coalesce(?1, name), query = coalesce(?2, query),
                 updated_at = ?3
             WHERE tenant_id = ?4 AND user_id = ?5 AND id = ?6
             RETURNING *",
        )
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
        let done =
            sqlx::query("DELETE FROM saved_views WHERE tenant_id = ? AND user_id = ? AND id = ?")
                .bind(tenant.as_str())
                .bind(user_id)
                .bind(id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn insert_refresh_token(&self, t: NewRefreshToken) -> Result<()> {
        // A token of a revoked family is born revoked: a revocation racing a refresh
        // cannot leave a live token behind.
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, user_id, tenant_id, expires_at, created_at, revoked)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6,
                     EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = ?2 AND revoked = 1))",
        )
        .bind(&t.token_hash)
        .bind(&t.family_id)
        .bind(&t.user_id)
        .bind(t.tenant_id.as_str())
        .bind(t.expires_at)
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn use_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshTokenRecord>> {
        // One statement claims the token, so two concurrent uses cannot both see it unused.
        let claimed = sqlx::query(
            "UPDATE refresh_tokens SET used = 1 WHERE token_hash = ? AND used = 0 RETURNING *",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let (row, was_used) = match claimed {
            Some(r) => (r, false),
            None => {
                let row = sqlx::query("SELECT * FROM refresh_tokens WHERE token_hash = ?")
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    Some(r) => (r, true),
                    None => return Ok(None),
                }
            }
        };
        Ok(Some(RefreshTokenRecord {
            token_hash: row.try_get("token_hash")?,
            family_id: row.try_get("family_id")?,
            user_id: row.try_get("user_id")?,
            tenant_id: tenant_id(row.try_get("tenant_id")?)?,
            expires_at: row.try_get("expires_at")?,
            used: was_used,
            revoked: row.try_get::<i64, _>("revoked")? != 0,
        }))
    }

    async fn revoke_token_family(&self, family_id: &str) -> Result<()> {
        sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE family_id = ?")
            .bind(family_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn get_cursor(&self, key: &TableKey) -> Result<Option<Position>> {
        let row = sqlx::query(
            "SELECT cursor_ts, cursor_id, cursor_token FROM cursors
             WHERE tenant_id = ? AND service = ? AND source_table = ?",
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
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(run.id.to_string())
        .bind(run.tenant_id.as_ref().map(|t| t.as_str().to_owned()))
        .bind(run.kind.as_str())
        .bind(run.status.as_str())
        .bind(run.started_at)
        .bind(run.tables_planned.map(i64::from))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn finish_run(
        &self,
        run_id: RunId,
        status: RunStatus,
        error: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE id = ?")
            .bind(status.as_str())
            .bind(error)
            .bind(Utc::now())
            .bind(run_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn get_run(&self, run_id: RunId) -> Result<Option<RunRecord>> {
        let row = sqlx::query("SELECT * FROM runs WHERE id = ?")
            .bind(run_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(run_from_row).transpose()
    }

    async fn put_setting(
        &self,
        tenant: &TenantId,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (tenant_id, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (tenant_id, key) DO UPDATE SET value = excluded.value,
                 updated_at = excluded.updated_at",
        )
        .bind(tenant.as_str())
        .bind(key)
        .bind(value.to_string())
        .bind(Utc::now().to_rfc3339())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_setting(&self, tenant: &TenantId, key: &str) -> Result<Option<serde_json::Value>> {
        let v: Option<String> =
            sqlx::query_scalar("SELECT value FROM settings WHERE tenant_id = ? AND key = ?")
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
            "SELECT key, value FROM settings WHERE tenant_id = ? AND substr(key, 1, length(?2)) = ?2
             ORDER BY key",
        )
        .bind(tenant.as_str())
        .bind(prefix)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(|(k, v)| Ok((k.clone(), parse_setting(&k, &v)?))).collect()
    }

    async fn delete_setting(&self, tenant: &TenantId, key: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM settings WHERE tenant_id = ? AND key = ?")
            .bind(tenant.as_str())
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn request_cancel(&self, run_id: RunId) -> Result<bool> {
        let done =
            sqlx::query("UPDATE runs SET cancel_requested = 1 WHERE id = ? AND status = 'running'")
                .bind(run_id.to_string())
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn cancel_requested(&self, run_id: RunId) -> Result<bool> {
        let flag: Option<i64> =
            sqlx::query_scalar("SELECT cancel_requested FROM runs WHERE id = ?")
                .bind(run_id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        Ok(flag.is_some_and(|f| f != 0))
    }

    async fn interrupt_running_runs(&self, reason: &str) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE runs SET status = 'interrupted', error = ?, finished_at = ?
             WHERE status = 'running'",
        )
        .bind(reason)
        .bind(Utc::now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn list_runs(&self, tenant: Option<&TenantId>, limit: u32) -> Result<Vec<RunRecord>> {
        let rows = match tenant {
            Some(t) => {
                // A tenant's runs: its own, and runs over every tenant that touched it.
                sqlx::query(
                    "SELECT * FROM runs WHERE tenant_id = ?1
                        OR (tenant_id IS NULL AND EXISTS
                            (SELECT 1 FROM chunks c WHERE c.run_id = runs.id AND c.tenant_id = ?1))
                     ORDER BY started_at DESC LIMIT ?2",
                )
                .bind(t.as_str())
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query("SELECT * FROM runs ORDER BY started_at DESC LIMIT ?")
                    .bind(limit as i64)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(run_from_row).collect()
    }

    async fn begin_chunk(&self, c: &ChunkRecord) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO chunks (id, run_id, tenant_id, service, source_table, status,
                                 start_ts, start_id, start_token, started_at)
             VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)
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
        .bind(c.start.as_ref().map(|s| s.id.clone()))
        .bind(c.start.as_ref().and_then(Position::token))
        .bind(c.started_at)
        .execute(&mut *tx)
        .await?;
        if let Some(fence) = c.fence {
            check_fence(&mut tx, &c.key.key().lease_name(), fence).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn find_unfinished_chunk(&self, key: &TableKey) -> Result<Option<ChunkRecord>> {
        let row = sqlx::query(
            "SELECT * FROM chunks WHERE tenant_id = ? AND service = ? AND source_table = ?
               AND status IN ('running', 'failed')
             ORDER BY start_ts IS NOT NULL, start_ts, start_id LIMIT 1",
        )
        .bind(key.tenant_id.as_str())
        .bind(&key.service)
        .bind(&key.table)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(chunk_from_row).transpose()
    }

    async fn commit_chunk(&self, c: &ChunkCommit) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let now = Utc::now();
        let files = serde_json::to_string(&c.files).expect("a list of strings serializes");
        let updated = sqlx::query(
            "UPDATE chunks SET status = 'committed', end_ts = ?, end_id = ?, end_token = ?,
                 records = ?,
                 pages = ?, requests = ?, bytes = ?, versions_inserted = ?, retries = ?,
                 throttles = ?, millis = ?, concurrency = ?, files = ?,
                 error = NULL, finished_at = ?
             WHERE id = ? AND status = 'running'",
        )
        .bind(c.end.as_ref().map(|e| e.updated_at))
        .bind(c.end.as_ref().map(|e| e.id.clone()))
        .bind(c.end.as_ref().and_then(Position::token))
        .bind(c.counts.records as i64)
        .bind(c.counts.pages as i64)
        .bind(c.counts.requests as i64)
        .bind(c.counts.bytes as i64)
        .bind(c.counts.versions_inserted as i64)
        .bind(c.counts.retries as i64)
        .bind(c.counts.throttles as i64)
        .bind(c.counts.millis as i64)
        .bind(c.counts.concurrency as i64)
        .bind(files)
        .bind(now)
        .bind(c.chunk_id.to_string())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(StateError::NotFound(format!("running chunk {}", c.chunk_id)));
        }
        if let Some(fence) = c.fence {
            check_fence(&mut tx, &c.key.lease_name(), fence).await?;
        }
        if let Some(end) = &c.end {
            // A chunk is read in (updated_at, id) order from the previous cursor, so its
            // end is the end of the contiguous committed prefix. (A full sync restarts
            // from the beginning and may move the cursor back: that only causes re-reads.)
            sqlx::query(
                "INSERT INTO cursors (tenant_id, service, source_table, cursor_ts, cursor_id,
                                      cursor_token, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?)
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
            "UPDATE chunks SET status = 'failed', error = ?, finished_at = ?
             WHERE id = ? AND status = 'running'",
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
        sqlx::query(
            "UPDATE chunks SET status = 'abandoned', finished_at = ?
             WHERE id = ? AND status IN ('running', 'failed')",
        )
        .bind(Utc::now())
        .bind(chunk_id.to_string())
        .execute(&mut *tx)
        .await?;
        if let Some((lease, token)) = fence {
            check_fence(&mut tx, lease, token).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_chunks(&self, run_id: RunId) -> Result<Vec<ChunkRecord>> {
        let rows = sqlx::query("SELECT * FROM chunks WHERE run_id = ? ORDER BY started_at")
            .bind(run_id.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(chunk_from_row).collect()
    }

    async fn last_commit_at(&self, tenant: &TenantId) -> Result<Option<DateTime<Utc>>> {
        let row = sqlx::query(
            "SELECT MAX(finished_at) AS at FROM chunks WHERE tenant_id = ? AND status = 'committed'",
        )
        .bind(tenant.as_str())
        .fetch_one(&self.pool)
        .await?;
        let at: Option<String> = row.try_get("at")?;
        at.map(|s| {
            DateTime::parse_from_rfc3339(&s)
                .map(|d| d.with_timezone(&Utc))
                .map_err(|e| StateError::Corrupt(format!("timestamp {s:?}: {e}")))
        })
        .transpose()
    }

    async fn claim_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<Option<u64>> {
        let token: Option<i64> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, token, expires_ms) VALUES (?1, ?2, 1, ?3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                 token = leases.token + 1, expires_ms = excluded.expires_ms
             WHERE leases.expires_ms < ?4
             RETURNING token",
        )
        .bind(name)
        .bind(holder)
        .bind(millis_from_now(ttl))
        .bind(Utc::now().timestamp_millis())
        .fetch_optional(&self.pool)
        .await?;
        Ok(token.map(|t| t as u64))
    }

    async fn renew_lease(&self, name: &str, token: u64, ttl: Duration) -> Result<bool> {
        let done = sqlx::query("UPDATE leases SET expires_ms = ? WHERE name = ? AND token = ?")
            .bind(millis_from_now(ttl))
            .bind(name)
            .bind(token as i64)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_lease(&self, name: &str, token: u64) -> Result<()> {
        sqlx::query("UPDATE leases SET expires_ms = 0 WHERE name = ? AND token = ?")
            .bind(name)
            .bind(token as i64)
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
        // The write first: it takes the database's write lock, so the count below sees
        // every other outcome recorded before, and exactly one recorder completes the run.
        sqlx::query(
            "INSERT INTO run_outcomes (run_id, table_name, outcome) VALUES (?, ?, ?)
             ON CONFLICT (run_id, table_name) DO UPDATE SET outcome = excluded.outcome",
        )
        .bind(&run)
        .bind(table)
        .bind(outcome)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query("SELECT tables_planned, concluded FROM runs WHERE id = ?")
            .bind(&run)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StateError::NotFound(format!("run {run_id}")))?;
        let planned: Option<i64> = row.try_get("tables_planned")?;
        let concluded: i64 = row.try_get("concluded")?;
        let Some(planned) = planned.filter(|_| concluded == 0) else {
            tx.commit().await?;
            return Ok(None);
        };
        let done: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM run_outcomes WHERE run_id = ?")
            .bind(&run)
            .fetch_one(&mut *tx)
            .await?;
        if done < planned {
            tx.commit().await?;
            return Ok(None);
        }
        sqlx::query("UPDATE runs SET concluded = 1 WHERE id = ?")
            .bind(&run)
            .execute(&mut *tx)
            .await?;
        let all: Vec<String> = sqlx::query_scalar(
            "SELECT outcome FROM run_outcomes WHERE run_id = ? ORDER BY table_name",
        )
        .bind(&run)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(all))
    }

    async fn list_outcomes(&self, run_id: RunId) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT outcome FROM run_outcomes WHERE run_id = ? ORDER BY table_name",
        )
        .bind(run_id.to_string())
        .fetch_all(&self.pool)
        .await?)
    }

    async fn worker_heartbeat(&self, w: &WorkerRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO workers (id, host, pid, concurrency, running, started_at, seen_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET concurrency = excluded.concurrency,
                 running = excluded.running, seen_at = excluded.seen_at",
        )
        .bind(&w.id)
        .bind(&w.host)
        .bind(i64::from(w.pid))
        .bind(i64::from(w.concurrency))
        .bind(i64::from(w.running))
        .bind(w.started_at)
        .bind(w.seen_at)
        .execute(&self.pool)
        .await?;
        sqlx::query("DELETE FROM workers WHERE seen_at < ?")
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
        sqlx::query("DELETE FROM workers WHERE id = ?").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    async fn create_report_schedule(&self, r: &ReportSchedule) -> Result<()> {
        let recipients = serde_json::to_string(&r.recipients)
            .map_err(|e| StateError::Corrupt(format!("report recipients: {e}")))?;
        // One statement: the count it checks cannot change before its insert.
        let done = sqlx::query(
            "INSERT INTO report_schedules (tenant_id, id, company_id, cadence, day, hour, tz,
                 period, recipients, contacts, message, created_by, created_at, next_run_at)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14
             WHERE (SELECT COUNT(*) FROM report_schedules WHERE tenant_id = ?1) < ?15",
        )
        .bind(r.tenant_id.as_str())
        .bind(&r.id)
        .bind(&r.company_id)
        .bind(&r.cadence)
        .bind(i64::from(r.day))
        .bind(i64::from(r.hour))
        .bind(&r.tz)
        .bind(&r.period)
        .bind(recipients)
        .bind(r.contacts)
        .bind(r.message.as_deref())
        .bind(&r.created_by)
        .bind(r.created_at)
        .bind(r.next_run_at)
        .bind(i64::from(MAX_REPORT_SCHEDULES))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StateError::Conflict(crate::report_schedules_limit_reached()));
        }
        Ok(())
    }

    async fn list_report_schedules(&self, tenant: &TenantId) -> Result<Vec<ReportSchedule>> {
        let rows = sqlx::query(
            "SELECT * FROM report_schedules WHERE tenant_id = ? ORDER BY created_at, id",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(report_schedule_from_row).collect()
    }

    async fn delete_report_schedule(&self, tenant: &TenantId, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM report_schedules WHERE tenant_id = ? AND id = ?")
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
            "SELECT * FROM report_schedules WHERE next_run_at <= ?
             ORDER BY next_run_at, tenant_id, id LIMIT ?",
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
            "UPDATE report_schedules SET next_run_at = ?1, last_run_at = ?2,
                 last_status = 'sending', last_error = NULL
             WHERE tenant_id = ?3 AND id = ?4 AND next_run_at = ?5",
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
            "UPDATE report_schedules SET last_status = ?1, last_error = ?2
             WHERE tenant_id = ?3 AND id = ?4",
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

fn report_schedule_from_row(r: &SqliteRow) -> Result<ReportSchedule> {
    let recipients: String = r.try_get("recipients")?;
    let number = |k: &str| -> Result<u32> {
        let v: i64 = r.try_get(k)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The queries every read request may make (its session, its tenant's data version
    /// and settings) each seek an index: none walks a table that grows with the data.
    #[tokio::test]
    async fn the_per_request_queries_seek_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("state.db")).await.unwrap();
        for (q, index) in [
            (
                "SELECT MAX(finished_at) AS at FROM chunks WHERE tenant_id = 'a' AND status = 'committed'",
                "chunks_committed",
            ),
            ("SELECT * FROM users WHERE tenant_id = 'a' AND id = 'u'", "sqlite_autoindex_users_1"),
            (
                "SELECT count(*), coalesce(sum(revoked), 0) FROM refresh_tokens
                 WHERE family_id = 'f' AND tenant_id = 'a' AND user_id = 'u'",
                "refresh_tokens_family",
            ),
            (
                "SELECT key, value FROM settings WHERE tenant_id = 'a' AND substr(key, 1, 0) = '' ORDER BY key",
                "sqlite_autoindex_settings_1",
            ),
        ] {
            let plan: Vec<String> = sqlx::query(&format!("EXPLAIN QUERY PLAN {q}"))
                .fetch_all(&store.pool)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>("detail"))
                .collect();
            assert!(
                plan.iter().any(|d| d.starts_with("SEARCH") && d.contains(index)),
                "{q}: {plan:?}"
            );
        }
    }
}
