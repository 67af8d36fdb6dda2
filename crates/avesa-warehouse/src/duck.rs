//! [`Warehouse`] on an embedded DuckDB file.
//!
//! DuckDB calls are blocking, so every operation runs under `spawn_blocking`. Writes are
//! serialised by one mutex-guarded connection; reads use cloned connections (DuckDB's
//! MVCC gives each a consistent snapshot) so queries don't wait behind an apply.

use std::path::Path;
use std::sync::{Arc, Mutex};

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use avesa_model::{CanonicalTable, ColumnType, SCD2_COLUMNS, TenantId};
use chrono::NaiveDateTime;
use duckdb::types::{Value, ValueRef};
use duckdb::{Connection, params_from_iter};

use crate::*;

/// The DuckDB warehouse.
#[derive(Clone)]
pub struct DuckDbWarehouse {
    writer: Arc<Mutex<Connection>>,
    /// Only cloned from, never queried: readers don't wait behind an apply.
    reader_source: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for DuckDbWarehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DuckDbWarehouse")
    }
}

fn ddl_columns(cols: impl Iterator<Item = &'static avesa_model::Column>) -> String {
    cols.map(|c| format!("{} {}", c.name, c.ty.sql())).collect::<Vec<_>>().join(", ")
}

const KEY_MATCH: &str = "t.tenant_id = i.tenant_id AND t.source_service = i.source_service \
     AND t.source_id = i.source_id";

impl DuckDbWarehouse {
    /// Opens (creating if needed) the DuckDB file and its tables and views.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| WarehouseError::Engine(format!("{}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// An in-memory warehouse (for tests and throwaway tools).
    pub fn in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self> {
        // DuckDB's buffer pool would otherwise grow to 80% of RAM as tables grow; a
        // bound keeps the process's memory independent of the data (blocks beyond it
        // are re-read from the file, usually from the OS page cache).
        let limit = std::env::var("AVESA_DUCKDB_MEMORY_LIMIT").unwrap_or_else(|_| "256MB".into());
        let valid = limit.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        if valid.is_empty() || !valid.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(WarehouseError::Engine(format!(
                "AVESA_DUCKDB_MEMORY_LIMIT {limit:?}: expected a size such as 512MB or 2GB"
            )));
        }
        conn.execute_batch(&format!("SET memory_limit = '{limit}'")).map_err(|e| {
            WarehouseError::Engine(format!("AVESA_DUCKDB_MEMORY_LIMIT {limit:?}: {e}"))
        })?;
        for t in CanonicalTable::ALL {
            let name = t.name();
            let all = ddl_columns(t.all_columns().chain(SCD2_COLUMNS));
            let stage = ddl_columns(t.all_columns());
            conn.execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS {name} ({all});
                 CREATE TABLE IF NOT EXISTS _stage_{name} ({stage});
                 CREATE OR REPLACE VIEW {name}_current AS
                     SELECT * FROM {name} WHERE is_current AND NOT is_deleted;"
            ))?;
        }
        let reader_source = conn.try_clone()?;
        Ok(Self {
            writer: Arc::new(Mutex::new(conn)),
            reader_source: Arc::new(Mutex::new(reader_source)),
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            // A panic mid-apply committed nothing (the next apply rolls the open
            // transaction back first), so a poisoned lock is safe to take over.
            let conn = writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&conn)
        })
        .await
        .map_err(|e| WarehouseError::Engine(format!("warehouse task failed: {e}")))?
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let source = self.reader_source.clone();
        tokio::task::spawn_blocking(move || {
            let conn =
                source.lock().unwrap_or_else(std::sync::PoisonError::into_inner).try_clone()?;
            f(&conn)
        })
        .await
        .map_err(|e| WarehouseError::Engine(format!("warehouse task failed: {e}")))?
    }
}

/// The SCD2 apply, in one DuckDB transaction. See the crate docs for the semantics.
fn apply_blocking(
    conn: &Connection,
    table: CanonicalTable,
    batch: RecordBatch,
) -> Result<ApplyReport> {
    let name = table.name();
    let rows = batch.num_rows() as u64;
    if rows == 0 {
        return Ok(ApplyReport::default());
    }
    if batch.schema().fields().len() != table.arrow_schema().fields().len() {
        return Err(WarehouseError::Engine(format!(
            "batch for {name} has {} columns, expected {}",
            batch.schema().fields().len(),
            table.arrow_schema().fields().len()
        )));
    }
    // Clears a transaction a panicked apply may have left open (an error otherwise, ignored).
    let _ = conn.execute_batch("ROLLBACK");
    conn.execute_batch("BEGIN TRANSACTION")?;
    let result = (|| -> Result<ApplyReport> {
        conn.execute(&format!("DELETE FROM _stage_{name}"), [])?;
        {
            let mut app = conn.appender(&format!("_stage_{name}"))?;
            app.append_record_batch(batch)?;
            app.flush()?;
        }
        // One row per version key: the latest extraction wins, then the greater hash.
        conn.execute_batch(&format!(
            "CREATE OR REPLACE TEMP TABLE _incoming AS
             SELECT * EXCLUDE (rn) FROM (
                 SELECT *, row_number() OVER (
                     PARTITION BY tenant_id, source_service, source_id, source_updated_at
                     ORDER BY extracted_at DESC, record_hash DESC) AS rn
                 FROM _stage_{name} WHERE source_updated_at IS NOT NULL)
             WHERE rn = 1;"
        ))?;
        let replaced = conn.execute(
            &format!(
                "DELETE FROM {name} t USING _incoming i
                 WHERE {KEY_MATCH} AND t.valid_from = i.source_updated_at
                   AND (i.extracted_at > t.extracted_at
                        OR (i.extracted_at = t.extracted_at AND i.record_hash > t.record_hash))"
            ),
            [],
        )?;
        let written = conn.execute(
            &format!(
                "INSERT INTO {name}
                 SELECT i.*, i.source_updated_at AS valid_from, NULL AS valid_to,
                        false AS is_current
                 FROM _incoming i
                 WHERE NOT EXISTS (SELECT 1 FROM {name} t
                                   WHERE {KEY_MATCH} AND t.valid_from = i.source_updated_at)"
            ),
            [],
        )?;
        // Re-link the version chains of every key the batch touched.
        conn.execute(
            &format!(
                "UPDATE {name} t SET valid_to = n.next_from, is_current = (n.next_from IS NULL)
                 FROM (
                     SELECT v.tenant_id, v.source_service, v.source_id, v.valid_from,
                            lead(v.valid_from) OVER (
                                PARTITION BY v.tenant_id, v.source_service, v.source_id
                                ORDER BY v.valid_from) AS next_from
                     FROM {name} v
                     SEMI JOIN (SELECT DISTINCT tenant_id, source_service, source_id
                                FROM _incoming) k
                       ON v.tenant_id = k.tenant_id AND v.source_service = k.source_service
                      AND v.source_id = k.source_id
                 ) n
                 WHERE t.tenant_id = n.tenant_id AND t.source_service = n.source_service
                   AND t.source_id = n.source_id AND t.valid_from = n.valid_from
                   AND (t.valid_to IS DISTINCT FROM n.next_from
                        OR t.is_current IS DISTINCT FROM (n.next_from IS NULL))"
            ),
            [],
        )?;
        conn.execute(&format!("DELETE FROM _stage_{name}"), [])?;
        Ok(ApplyReport { rows, inserted: (written - replaced) as u64 })
    })();
    match result {
        Ok(r) => {
            conn.execute_batch("COMMIT")?;
            Ok(r)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// The SELECT list the API sees for a table: `id`, the source keys, the business
/// columns, with timestamps as RFC 3339 text.
fn select_list(table: CanonicalTable, alias: &str, history: bool) -> (String, Vec<String>) {
    let ts = |c: &str| format!("strftime({alias}.{c}, '%Y-%m-%dT%H:%M:%SZ') AS {c}");
    let mut exprs = vec![
        format!("{alias}.source_service || ':' || {alias}.source_id AS id"),
        format!("{alias}.source_service AS source_service"),
        format!("{alias}.source_id AS source_id"),
        ts("source_updated_at"),
    ];
    let mut names: Vec<String> =
        ["id", "source_service", "source_id", "source_updated_at"].map(String::from).to_vec();
    for c in table.columns() {
        exprs.push(match c.ty {
            ColumnType::Timestamp => ts(c.name),
            _ => format!("{alias}.{}", c.name),
        });
        names.push(c.name.to_owned());
    }
    if history {
        for c in ["valid_from", "valid_to"] {
            exprs.push(ts(c));
            names.push(c.to_owned());
        }
        exprs.push(format!("{alias}.is_deleted AS is_deleted"));
        names.push("is_deleted".into());
        exprs.push(format!("{alias}.is_current AS is_current"));
        names.push("is_current".into());
    }
    if joins_company(table) {
        exprs.push("co.name AS company_name".into());
        names.push("company_name".into());
    }
    (exprs.join(", "), names)
}

/// Whether rows of `table` refer to a company (and so carry its name, `company_name`).
fn joins_company(table: CanonicalTable) -> bool {
    table != CanonicalTable::Companies && table.column("company_id").is_some()
}

/// Positional SQL parameters: `push` returns the placeholder for the value it adds.
#[derive(Default)]
struct Params(Vec<Value>);

impl Params {
    fn push(&mut self, v: Value) -> String {
        self.0.push(v);
        format!("${}", self.0.len())
    }
}

/// The FROM clause: the tenant's rows visible now or at `as_of`, plus the company name.
fn from_clause(
    table: CanonicalTable,
    tenant: &TenantId,
    as_of: Option<NaiveDateTime>,
    p: &mut Params,
) -> String {
    let name = table.name();
    let t = p.push(Value::Text(tenant.as_str().to_owned()));
    let at = as_of.map(|at| p.push(ts_value(at)));
    let visible = match &at {
        Some(at) => {
            format!(
                "r.valid_from <= {at} AND (r.valid_to IS NULL OR r.valid_to > {at}) AND NOT r.is_deleted"
            )
        }
        None => "r.is_current AND NOT r.is_deleted".to_owned(),
    };
    let join = match (table, &at) {
        _ if !joins_company(table) => String::new(),
        (_, None) => "LEFT JOIN companies_current co ON co.tenant_id = r.tenant_id \
             AND co.source_service = r.source_service AND co.source_id = r.company_id"
            .to_owned(),
        // As of an instant, the company's name at that instant.
        (_, Some(at)) => format!(
            "LEFT JOIN companies co ON co.tenant_id = r.tenant_id \
             AND co.source_service = r.source_service AND co.source_id = r.company_id \
             AND co.valid_from <= {at} AND (co.valid_to IS NULL OR co.valid_to > {at}) \
             AND NOT co.is_deleted"
        ),
    };
    format!("{name} r {join} WHERE r.tenant_id = {t} AND {visible}")
}

fn to_json(v: ValueRef<'_>) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        ValueRef::Null => J::Null,
        ValueRef::Boolean(b) => J::Bool(b),
        ValueRef::TinyInt(i) => J::from(i),
        ValueRef::SmallInt(i) => J::from(i),
        ValueRef::Int(i) => J::from(i),
        ValueRef::BigInt(i) => J::from(i),
        ValueRef::HugeInt(i) => J::from(i as f64),
        ValueRef::UTinyInt(i) => J::from(i),
        ValueRef::USmallInt(i) => J::from(i),
        ValueRef::UInt(i) => J::from(i),
        ValueRef::UBigInt(i) => J::from(i),
        ValueRef::Float(f) => J::from(f as f64),
        ValueRef::Double(f) => serde_json::Number::from_f64(f).map_or(J::Null, J::Number),
        ValueRef::Text(t) => J::String(String::from_utf8_lossy(t).into_owned()),
        other => J::String(format!("{other:?}")),
    }
}

fn query_records(
    conn: &Connection,
    sql: &str,
    params: Vec<Value>,
    names: &[String],
) -> Result<Vec<Record>> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query(params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut rec = Record::new();
        for (i, n) in names.iter().enumerate() {
            rec.insert(n.clone(), to_json(row.get_ref(i)?));
        }
        out.push(rec);
    }
    Ok(out)
}

fn ts_value(t: NaiveDateTime) -> Value {
    Value::Timestamp(duckdb::types::TimeUnit::Microsecond, t.and_utc().timestamp_micros())
}

/// Escapes LIKE wildcards so a search for `50%` means the literal text.
fn like_pattern(q: &str) -> String {
    let mut s = String::with_capacity(q.len() + 2);
    s.push('%');
    for ch in q.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(ch);
    }
    s.push('%');
    s
}

#[async_trait]
impl Warehouse for DuckDbWarehouse {
    async fn apply(&self, table: CanonicalTable, batch: RecordBatch) -> Result<ApplyReport> {
        self.blocking(move |c| apply_blocking(c, table, batch)).await
    }

    async fn list(&self, tenant: &TenantId, table: CanonicalTable, q: &ListQuery) -> Result<Page> {
        let sort = match &q.sort {
            None => "source_id".to_owned(),
            Some(s) if s == "id" || s == "source_id" => "source_id".to_owned(),
            Some(s) if s == "company_name" && joins_company(table) => s.clone(),
            Some(s) => match table.columns().iter().find(|c| c.name == s) {
                Some(c) => c.name.to_owned(),
                None => {
                    let cols: Vec<&str> = table.columns().iter().map(|c| c.name).collect();
                    return Err(WarehouseError::BadRequest(format!(
                        "cannot sort {table} by {s:?}: use one of id, {}",
                        cols.join(", ")
                    )));
                }
            },
        };
        // Numeric ids sort numerically, other ids as text.
        let sort_expr = if sort == "source_id" {
            "TRY_CAST(r.source_id AS BIGINT)".to_owned()
        } else if sort == "company_name" {
            "co.name".to_owned()
        } else {
            format!("r.{sort}")
        };
        let dir = if q.descending { "DESC" } else { "ASC" };
        let q = q.clone();
        let tenant = tenant.clone();
        self.read(move |conn| {
            let (select, names) = select_list(table, "r", false);
            let mut p = Params::default();
            let mut from = from_clause(table, &tenant, q.as_of, &mut p);
            if let Some(search) = q.search.as_deref().filter(|s| !s.trim().is_empty()) {
                let pat = p.push(Value::Text(like_pattern(search.trim())));
                let texts: Vec<String> = table
                    .columns()
                    .iter()
                    .filter(|c| c.ty == ColumnType::Text)
                    .map(|c| c.name)
                    .chain(std::iter::once("source_id"))
                    .map(|c| format!("r.{c} ILIKE {pat} ESCAPE '\\'"))
                    .collect();
                from.push_str(&format!(" AND ({})", texts.join(" OR ")));
            }
            let params = p.0;
            let total: i64 = conn.query_row(
                &format!("SELECT count(*) FROM {from}"),
                params_from_iter(params.clone()),
                |r| r.get(0),
            )?;
            let limit = q.page_size as i64;
            let offset = (q.page.saturating_sub(1) as i64) * limit;
            let sql = format!(
                "SELECT {select} FROM {from} ORDER BY {sort_expr} {dir} NULLS LAST, r.source_id, r.source_service \
                 LIMIT {limit} OFFSET {offset}"
            );
            let items = query_records(conn, &sql, params, &names)?;
            Ok(Page { items, page: q.page, page_size: q.page_size, total: total as u64 })
        })
        .await
    }

    async fn get(
        &self,
        tenant: &TenantId,
        table: CanonicalTable,
        id: &EntityId,
        as_of: Option<NaiveDateTime>,
    ) -> Result<Option<Record>> {
        let tenant = tenant.clone();
        let id = id.clone();
        self.read(move |conn| {
            let (select, names) = select_list(table, "r", false);
            let mut p = Params::default();
            let from = from_clause(table, &tenant, as_of, &mut p);
            let svc = p.push(Value::Text(id.service.clone()));
            let sid = p.push(Value::Text(id.source_id.clone()));
            let sql = format!(
                "SELECT {select} FROM {from} AND r.source_service = {svc} AND r.source_id = {sid} LIMIT 1"
            );
            let params = p.0;
            Ok(query_records(conn, &sql, params, &names)?.pop())
        })
        .await
    }

    async fn history(
        &self,
        tenant: &TenantId,
        table: CanonicalTable,
        id: &EntityId,
    ) -> Result<Vec<Record>> {
        let tenant = tenant.clone();
        let id = id.clone();
        self.read(move |conn| {
            let (select, names) = select_list(table, "r", true);
            let join = if !joins_company(table) {
                String::new()
            } else {
                "LEFT JOIN companies_current co ON co.tenant_id = r.tenant_id \
                 AND co.source_service = r.source_service AND co.source_id = r.company_id"
                    .to_owned()
            };
            let sql = format!(
                "SELECT {select} FROM {} r {join}
                 WHERE r.tenant_id = $1 AND r.source_service = $2 AND r.source_id = $3
                 ORDER BY r.valid_from",
                table.name()
            );
            let params = vec![
                Value::Text(tenant.as_str().to_owned()),
                Value::Text(id.service.clone()),
                Value::Text(id.source_id.clone()),
            ];
            query_records(conn, &sql, params, &names)
        })
        .await
    }

    async fn dashboard(&self, tenant: &TenantId) -> Result<DashboardStats> {
        let tenant = tenant.as_str().to_owned();
        self.read(move |conn| {
            let sql = "SELECT
                (SELECT count(*) FROM companies_current WHERE tenant_id = $1),
                (SELECT count(*) FROM contacts_current WHERE tenant_id = $1),
                (SELECT count(*) FROM tickets_current WHERE tenant_id = $1),
                (SELECT count(*) FROM tickets_current WHERE tenant_id = $1 AND closed IS NOT TRUE),
                (SELECT count(*) FROM tickets_current WHERE tenant_id = $1 AND closed IS TRUE),
                (SELECT count(*) FROM time_entries_current WHERE tenant_id = $1),
                (SELECT coalesce(sum(actual_hours), 0)::DOUBLE FROM time_entries_current
                  WHERE tenant_id = $1),
                (SELECT coalesce(sum(actual_hours), 0)::DOUBLE FROM time_entries_current
                  WHERE tenant_id = $1 AND billable_option = 'Billable')";
            Ok(conn.query_row(sql, [&tenant], |r| {
                Ok(DashboardStats {
                    companies: r.get::<_, i64>(0)? as u64,
                    contacts: r.get::<_, i64>(1)? as u64,
                    tickets: r.get::<_, i64>(2)? as u64,
                    open_tickets: r.get::<_, i64>(3)? as u64,
                    closed_tickets: r.get::<_, i64>(4)? as u64,
                    time_entries: r.get::<_, i64>(5)? as u64,
                    total_hours: r.get(6)?,
                    billable_hours: r.get(7)?,
                })
            })?)
        })
        .await
    }

    async fn ticket_status(&self, tenant: &TenantId) -> Result<Vec<StatusCount>> {
        let tenant = tenant.as_str().to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT coalesce(status, '(none)') AS s, count(*) AS n FROM tickets_current
                 WHERE tenant_id = $1 GROUP BY s ORDER BY n DESC, s",
            )?;
            let rows = stmt.query_map([&tenant], |r| {
                Ok(StatusCount { status: r.get(0)?, count: r.get::<_, i64>(1)? as u64 })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn top_companies(&self, tenant: &TenantId, limit: u32) -> Result<Vec<TopCompany>> {
        let tenant = tenant.as_str().to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "WITH t AS (
                     SELECT source_service, company_id, count(*) AS n,
                            count(*) FILTER (WHERE closed IS NOT TRUE) AS open_n
                     FROM tickets_current WHERE tenant_id = $1 GROUP BY ALL),
                 h AS (
                     SELECT source_service, company_id, sum(actual_hours) AS hours
                     FROM time_entries_current WHERE tenant_id = $1 GROUP BY ALL)
                 SELECT c.source_service || ':' || c.source_id, coalesce(c.name, ''),
                        coalesce(t.n, 0), coalesce(t.open_n, 0), coalesce(h.hours, 0)::DOUBLE
                 FROM companies_current c
                 LEFT JOIN t ON t.source_service = c.source_service AND t.company_id = c.source_id
                 LEFT JOIN h ON h.source_service = c.source_service AND h.company_id = c.source_id
                 WHERE c.tenant_id = $1
                 ORDER BY 3 DESC, 5 DESC, 2 LIMIT $2",
            )?;
            let rows = stmt.query_map(duckdb::params![tenant, limit as i64], |r| {
                Ok(TopCompany {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    tickets: r.get::<_, i64>(2)? as u64,
                    open_tickets: r.get::<_, i64>(3)? as u64,
                    hours: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn version_count(&self, tenant: &TenantId, table: CanonicalTable) -> Result<u64> {
        let tenant = tenant.as_str().to_owned();
        self.read(move |conn| {
            let n: i64 = conn.query_row(
                &format!("SELECT count(*) FROM {} WHERE tenant_id = $1", table.name()),
                [&tenant],
                |r| r.get(0),
            )?;
            Ok(n as u64)
        })
        .await
    }

    async fn current_ids(
        &self,
        tenant: &TenantId,
        table: CanonicalTable,
        service: &str,
    ) -> Result<Vec<String>> {
        let (tenant, service) = (tenant.as_str().to_owned(), service.to_owned());
        self.read(move |conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT source_id FROM {}_current WHERE tenant_id = $1 AND source_service = $2",
                table.name()
            ))?;
            let ids = stmt
                .query_map([&tenant, &service], |r| r.get::<_, String>(0))?
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(ids)
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        self.read(|conn| {
            conn.query_row("SELECT 1", [], |r| r.get::<_, i32>(0))?;
            Ok(())
        })
        .await
    }
}
