//! [`Warehouse`] on ClickHouse, over its HTTP interface: the warehouse of a platform that
//! has outgrown one machine (any number of `avesa` processes share it).
//!
//! **Storage.** One table per canonical table, holding every version ever applied,
//! keyed tenant first: `ReplacingMergeTree` ordered by `(tenant_id, source_service,
//! source_id, source_updated_at, extracted_at, record_hash)`, so a replayed chunk's rows
//! (identical keys) collapse when ClickHouse merges. Timestamps are `Int64` microseconds
//! since the epoch (old servers have no `DateTime64`, and versions a microsecond apart are
//! distinct versions), booleans `UInt8`, business columns `Nullable`.
//!
//! **SCD2 at read time.** ClickHouse has no transactional update, so nothing is ever
//! rewritten: [`Warehouse::apply`] only inserts (one `RowBinary` block, atomic), and
//! reads resolve the versions. A version key `(tenant, service, id, valid_from)` can have
//! several rows (replays, re-extractions); the one with the later `extracted_at`, then the
//! greater `record_hash`, wins — a property of the set of rows, so applying batches in
//! any order, any number of times, gives the same answers. The row visible now (or at an
//! instant) is the winner with the greatest `valid_from` (at or before the instant), if it
//! is not a deletion: `argMax(tuple(...), tuple(source_updated_at, extracted_at,
//! record_hash))` per key, which needs no window functions. `valid_to` and `is_current`
//! of a history are derived from the next version.
//!
//! **SQL.** Kept to what both Debian's `clickhouse-server` 18.16 and current releases
//! accept (`docs/deployment.md`): no server-side query parameters, so every literal goes
//! through [`lit`] (strings) or is a number formatted here; identifiers come from the
//! model, never from a request. Every read names its tenant.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use avesa_model::{CanonicalTable, Column, ColumnType, TenantId};
use avesa_warehouse::aggregate::{Agg, Col as ACol, Cond, Dim, Expr};
use avesa_warehouse::present::{Cell, Projection, Source, joins_company};
use avesa_warehouse::{
    AggRow, Aggregate, ApplyReport, DashboardStats, EntityId, ListQuery, Page, Record, Result,
    SortBy, StatusCount, TopCompany, Warehouse, WarehouseError,
};
use chrono::NaiveDateTime;
use serde_json::Value;
use tokio::sync::Semaphore;

/// Where the ClickHouse warehouse is.
#[derive(Clone)]
pub struct ClickHouseOptions {
    /// The HTTP interface: `http://HOST:PORT` (or `https://`).
    pub endpoint: String,
    /// The database holding AVESA's tables (created if missing).
    pub database: String,
    pub user: Option<String>,
    pub password: Option<String>,
    /// Requests in flight at once from this process (more wait their turn).
    pub max_concurrent_queries: usize,
    /// How long one request may take.
    pub timeout: Duration,
    /// How long ClickHouse may run one read (`max_execution_time`) before it cancels it.
    pub query_timeout: Duration,
}

impl ClickHouseOptions {
    pub fn new(endpoint: impl Into<String>, database: impl Into<String>) -> Self {
        ClickHouseOptions {
            endpoint: endpoint.into(),
            database: database.into(),
            user: None,
            password: None,
            max_concurrent_queries: 16,
            timeout: Duration::from_secs(120),
            query_timeout: Duration::from_secs(10),
        }
    }
}

impl std::fmt::Debug for ClickHouseOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseOptions")
            .field("endpoint", &self.endpoint)
            .field("database", &self.database)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The ClickHouse warehouse.
#[derive(Clone)]
pub struct ClickHouseWarehouse {
    http: reqwest::Client,
    opts: Arc<ClickHouseOptions>,
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for ClickHouseWarehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClickHouseWarehouse({}/{})", self.opts.endpoint, self.opts.database)
    }
}

/// A string literal: quoted, with `\` and `'` (and control bytes) escaped, so any text —
/// a tenant id, a search, an id from a URL — is data, never SQL.
pub fn lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn ch_type(c: &Column) -> &'static str {
    match (c.name, c.ty) {
        ("tenant_id" | "source_service" | "source_id" | "record_hash", _) => "String",
        ("source_updated_at" | "extracted_at", _) => "Int64",
        ("is_deleted", _) => "UInt8",
        (_, ColumnType::Text) => "Nullable(String)",
        (_, ColumnType::Int) => "Nullable(Int64)",
        (_, ColumnType::Float) => "Nullable(Float64)",
        (_, ColumnType::Bool) => "Nullable(UInt8)",
        (_, ColumnType::Timestamp) => "Nullable(Int64)",
    }
}

/// The tuple a version's winner is the greatest of.
const VERSION_ORDER: &str = "tuple(source_updated_at, extracted_at, record_hash)";

fn micros(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

/// A query's answer: column names and rows of JSON values.
struct Rows {
    names: Vec<String>,
    data: Vec<Vec<Value>>,
}

impl Rows {
    fn column(&self, name: &str) -> Result<usize> {
        self.names.iter().position(|n| n == name).ok_or_else(|| {
            WarehouseError::Internal(format!("ClickHouse answer lacks column {name}"))
        })
    }
}

fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn float_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn text_of(v: &Value) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => {
            Err(WarehouseError::Internal(format!("expected text from ClickHouse, got {other}")))
        }
    }
}

/// A JSON value ClickHouse returned, as the [`Cell`] of a column of type `ty`.
fn cell(ty: ColumnType, v: &Value) -> Result<Cell> {
    if v.is_null() {
        return Ok(Cell::Null);
    }
    let bad = || WarehouseError::Internal(format!("ClickHouse returned {v} for a {ty:?} column"));
    Ok(match ty {
        ColumnType::Text => Cell::Text(text_of(v)?),
        ColumnType::Int => Cell::Int(int_of(v).ok_or_else(bad)?),
        ColumnType::Timestamp => Cell::Timestamp(int_of(v).ok_or_else(bad)?),
        ColumnType::Float => Cell::Float(float_of(v).unwrap_or(f64::NAN)),
        ColumnType::Bool => match v {
            Value::Bool(b) => Cell::Bool(*b),
            _ => Cell::Bool(int_of(v).ok_or_else(bad)? != 0),
        },
    })
}

impl ClickHouseWarehouse {
    /// Connects, creates the database and the tables if they are missing, and checks the
    /// server answers.
    pub async fn open(opts: ClickHouseOptions) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(opts.timeout)
            .build()
            .map_err(|e| WarehouseError::Engine(Box::new(e)))?;
        let permits = Arc::new(Semaphore::new(opts.max_concurrent_queries.max(1)));
        let wh = ClickHouseWarehouse { http, opts: Arc::new(opts), permits };
        wh.execute(&format!("CREATE DATABASE IF NOT EXISTS {}", wh.opts.database)).await?;
        for t in CanonicalTable::ALL {
            let cols: Vec<String> =
                t.all_columns().map(|c| format!("{} {}", c.name, ch_type(c))).collect();
            wh.execute(&format!(
                "CREATE TABLE IF NOT EXISTS {} ({}) ENGINE = ReplacingMergeTree() \
                 ORDER BY (tenant_id, source_service, source_id, source_updated_at, \
                 extracted_at, record_hash)",
                wh.table(t),
                cols.join(", ")
            ))
            .await?;
            wh.add_missing_columns(t).await?;
        }
        Ok(wh)
    }

    /// Adds the columns of `table` a table made by an older release lacks (old versions
    /// read them as null).
    async fn add_missing_columns(&self, table: CanonicalTable) -> Result<()> {
        let rows = self
            .query(&format!(
                "SELECT name FROM system.columns WHERE database = {} AND table = {}",
                lit(&self.opts.database),
                lit(table.name())
            ))
            .await?;
        let have: BTreeSet<String> =
            rows.data.iter().filter_map(|r| r.first().and_then(|v| text_of(v).ok())).collect();
        for c in table.all_columns().filter(|c| !have.contains(c.name)) {
            self.execute(&format!(
                "ALTER TABLE {} ADD COLUMN {} {}",
                self.table(table),
                c.name,
                ch_type(c)
            ))
            .await?;
        }
        Ok(())
    }

    /// Drops the database and everything in it (tests and throwaway installations).
    pub async fn drop_database(&self) -> Result<()> {
        self.execute(&format!("DROP DATABASE IF EXISTS {}", self.opts.database)).await
    }

    /// The database holding this warehouse's tables.
    pub fn database(&self) -> &str {
        &self.opts.database
    }

    /// The server's version, as it reports it.
    pub async fn server_version(&self) -> Result<String> {
        let rows = self.query("SELECT version() AS v").await?;
        rows.data
            .first()
            .and_then(|r| r.first())
            .map(text_of)
            .transpose()?
            .ok_or_else(|| WarehouseError::Internal("version() returned no row".into()))
    }

    fn table(&self, t: CanonicalTable) -> String {
        format!("{}.{}", self.opts.database, t.name())
    }

    async fn post(
        &self,
        query: Option<&str>,
        body: Vec<u8>,
        extra: &[(&str, &str)],
    ) -> Result<Vec<u8>> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| WarehouseError::Internal("query permits closed".into()))?;
        let mut params: Vec<(&str, &str)> =
            vec![("output_format_json_quote_64bit_integers", "0"), ("join_use_nulls", "0")];
        if let Some(q) = query {
            params.push(("query", q));
        }
        params.extend_from_slice(extra);
        let mut req = self.http.post(&self.opts.endpoint).query(&params).body(body);
        if self.opts.user.is_some() || self.opts.password.is_some() {
            let user = self.opts.user.as_deref().unwrap_or("default");
            req = req.basic_auth(user, self.opts.password.as_deref());
        }
        let resp = req.send().await.map_err(|e| self.unreachable(e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| self.unreachable(e))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            let text: String = text.trim().chars().take(600).collect();
            if text.contains("TIMEOUT_EXCEEDED") || text.contains("MEMORY_LIMIT_EXCEEDED") {
                tracing::warn!(error = %text, "ClickHouse refused a query for its limits");
                return Err(WarehouseError::Overloaded(format!(
                    "the query ran past the warehouse's limits (at most {} s) and was cancelled; narrow the search or filters",
                    self.opts.query_timeout.as_secs_f64()
                )));
            }
            return Err(WarehouseError::engine(format!("ClickHouse answered {status}: {text}")));
        }
        Ok(bytes.to_vec())
    }

    /// A request that got no answer, in one line: where to, and the innermost cause
    /// (`Connection refused`, a timeout), without the query string.
    fn unreachable(&self, e: reqwest::Error) -> WarehouseError {
        let mut cause: &dyn std::error::Error = &e;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        let what = if e.is_timeout() { "timed out" } else { "unreachable" };
        WarehouseError::engine(format!("ClickHouse at {} {what}: {cause}", self.opts.endpoint))
    }

    async fn execute(&self, sql: &str) -> Result<()> {
        self.post(None, sql.as_bytes().to_vec(), &[]).await.map(|_| ())
    }

    async fn query(&self, sql: &str) -> Result<Rows> {
        let limit = self.opts.query_timeout.as_secs().max(1).to_string();
        // ClickHouse's own query priorities: a background read waits while a read
        // someone is waiting on runs (1 is the highest; 0 would opt out of priorities).
        let priority = match avesa_warehouse::ReadPriority::current() {
            avesa_warehouse::ReadPriority::Interactive => "1",
            avesa_warehouse::ReadPriority::Background => "2",
        };
        let body = self
            .post(
                None,
                format!("{sql} FORMAT JSONCompact").into_bytes(),
                &[
                    ("max_execution_time", &limit),
                    ("timeout_overflow_mode", "throw"),
                    ("priority", priority),
                ],
            )
            .await?;
        tokio::task::spawn_blocking(move || {
            let v: Value = serde_json::from_slice(&body).map_err(|e| {
                WarehouseError::Internal(format!("ClickHouse answered JSON this cannot read: {e}"))
            })?;
            let names = v["meta"]
                .as_array()
                .map(|m| m.iter().filter_map(|c| c["name"].as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            let data = match v.get("data").cloned() {
                Some(Value::Array(rows)) => rows
                    .into_iter()
                    .map(|r| match r {
                        Value::Array(cells) => Ok(cells),
                        other => Err(WarehouseError::Internal(format!("a row that is {other}"))),
                    })
                    .collect::<Result<Vec<_>>>()?,
                _ => Vec::new(),
            };
            Ok(Rows { names, data })
        })
        .await
        .map_err(|e| WarehouseError::Internal(format!("decoder task failed: {e}")))?
    }

    /// The rows of `table` visible for `tenant` now (or at `at`, in microseconds), as a
    /// subquery with columns `source_service`, `source_id` and `cols`. `filter` narrows
    /// the versions read (e.g. to one key) before they are resolved.
    fn visible(
        &self,
        table: CanonicalTable,
        tenant: &str,
        at: Option<i64>,
        cols: &[&str],
        filter: &str,
    ) -> String {
        let packed: Vec<&str> = std::iter::once("is_deleted").chain(cols.iter().copied()).collect();
        let mut unpack = String::new();
        for (i, c) in cols.iter().enumerate() {
            write!(unpack, ", tupleElement(_v, {}) AS {c}", i + 2).expect("a String");
        }
        let cut = at.map(|a| format!(" AND source_updated_at <= {a}")).unwrap_or_default();
        format!(
            "SELECT source_service, source_id{unpack} FROM (\
               SELECT source_service, source_id, argMax(tuple({}), {VERSION_ORDER}) AS _v \
               FROM {} WHERE tenant_id = {}{cut}{filter} GROUP BY source_service, source_id) \
             WHERE tupleElement(_v, 1) = 0",
            packed.join(", "),
            self.table(table),
            lit(tenant)
        )
    }

    /// `visible` plus, for tables that refer to a company, the company's name visible at
    /// the same instant (`_company_name`, `_company_found`).
    fn visible_with_company(
        &self,
        table: CanonicalTable,
        tenant: &str,
        at: Option<i64>,
        cols: &[&str],
        filter: &str,
    ) -> String {
        let rows = self.visible(table, tenant, at, cols, filter);
        self.with_company(table, tenant, at, rows)
    }

    /// `rows` (a subquery over `table` with `source_service` and `company_id`) joined, for
    /// tables that refer to a company, with the company's name visible at `at`
    /// (`_company_name`, and `_company_found` telling a missing company from a null name).
    fn with_company(
        &self,
        table: CanonicalTable,
        tenant: &str,
        at: Option<i64>,
        rows: String,
    ) -> String {
        if !joins_company(table) {
            return rows;
        }
        let companies = self.visible(CanonicalTable::Companies, tenant, at, &["name"], "");
        format!(
            "SELECT * FROM (SELECT *, ifNull(company_id, '') AS _company_key FROM ({rows})) AS _r \
             ANY LEFT JOIN (SELECT source_service, source_id AS _company_key, \
                 name AS _company_name, toUInt8(1) AS _company_found FROM ({companies})) AS _c \
             USING (source_service, _company_key)"
        )
    }

    /// The SELECT list of a projection over [`Self::visible_with_company`].
    fn select_list(p: &Projection) -> String {
        p.fields()
            .iter()
            .map(|f| match f.source {
                Source::Column => f.name.to_owned(),
                Source::CompanyName => {
                    "if(_company_found = 1, _company_name, NULL) AS company_name".to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    async fn records(&self, sql: &str, projection: &Projection) -> Result<Vec<Record>> {
        let rows = self.query(sql).await?;
        let idx: Vec<usize> =
            projection.fields().iter().map(|f| rows.column(f.name)).collect::<Result<_>>()?;
        rows.data
            .iter()
            .map(|row| {
                let cells = projection
                    .fields()
                    .iter()
                    .zip(&idx)
                    .map(|(f, &i)| cell(f.ty, row.get(i).unwrap_or(&Value::Null)))
                    .collect::<Result<Vec<_>>>()?;
                projection.record(cells)
            })
            .collect()
    }

    async fn count(&self, sql: &str) -> Result<u64> {
        let rows = self.query(sql).await?;
        let v = rows.data.first().and_then(|r| r.first()).cloned().unwrap_or(Value::Null);
        int_of(&v)
            .map(|n| n.max(0) as u64)
            .ok_or_else(|| WarehouseError::Internal(format!("a count that is {v}")))
    }

    /// Version keys of `keys` (service, id, valid_from) already stored for `tenant`.
    async fn existing_versions(
        &self,
        table: CanonicalTable,
        tenant: &str,
        keys: &BTreeSet<(String, String, i64)>,
    ) -> Result<BTreeSet<(String, String, i64)>> {
        let ids: BTreeSet<&str> = keys.iter().map(|(_, id, _)| id.as_str()).collect();
        let ids: Vec<&str> = ids.into_iter().collect();
        let mut found = BTreeSet::new();
        for part in ids.chunks(500) {
            let list: Vec<String> = part.iter().map(|s| lit(s)).collect();
            let rows = self
                .query(&format!(
                    "SELECT DISTINCT source_service, source_id, source_updated_at FROM {} \
                     WHERE tenant_id = {} AND source_id IN ({})",
                    self.table(table),
                    lit(tenant),
                    list.join(", ")
                ))
                .await?;
            for r in &rows.data {
                if let (Some(s), Some(i), Some(v)) =
                    (r.first(), r.get(1), r.get(2).and_then(int_of))
                {
                    found.insert((text_of(s)?, text_of(i)?, v));
                }
            }
        }
        Ok(found)
    }
}

/// One column of a batch, checked against its declared type.
enum Col<'a> {
    Text(&'a arrow::array::StringArray),
    Int(&'a arrow::array::Int64Array),
    Float(&'a arrow::array::Float64Array),
    Bool(&'a arrow::array::BooleanArray),
    Time(&'a arrow::array::TimestampMicrosecondArray),
}

impl Col<'_> {
    fn is_null(&self, row: usize) -> bool {
        match self {
            Col::Text(x) => x.is_null(row),
            Col::Int(x) => x.is_null(row),
            Col::Float(x) => x.is_null(row),
            Col::Bool(x) => x.is_null(row),
            Col::Time(x) => x.is_null(row),
        }
    }

    /// The text of a text column (empty if null or not text).
    fn text(&self, row: usize) -> String {
        match self {
            Col::Text(x) if !x.is_null(row) => x.value(row).to_owned(),
            _ => String::new(),
        }
    }
}

/// The batch in ClickHouse's `RowBinary` format, columns in the table's order (rows
/// without an updated-at are never stored), and the version keys it holds, per tenant.
/// Binary, not text: a text format's floats pass through ClickHouse's fast float parser,
/// which may land a value one ulp off (4.983333333333333 read back as 4.9833333333333325).
type VersionKeys = BTreeMap<String, BTreeSet<(String, String, i64)>>;

/// An unsigned LEB128 varint, as `RowBinary` prefixes strings with their length.
fn leb128(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn encode_rows(table: CanonicalTable, batch: &RecordBatch) -> Result<(Vec<u8>, VersionKeys)> {
    let cols: Vec<&Column> = table.all_columns().collect();
    if batch.num_columns() != cols.len() {
        return Err(WarehouseError::Internal(format!(
            "batch for {table} has {} columns, expected {}",
            batch.num_columns(),
            cols.len()
        )));
    }
    let wrong = |c: &Column| {
        WarehouseError::Internal(format!("batch for {table}: column {} is not {:?}", c.name, c.ty))
    };
    let mut arrays = Vec::with_capacity(cols.len());
    for (c, a) in cols.iter().zip(batch.columns()) {
        arrays.push(match c.ty {
            ColumnType::Text => Col::Text(a.as_string_opt::<i32>().ok_or_else(|| wrong(c))?),
            ColumnType::Int => Col::Int(a.as_primitive_opt::<Int64Type>().ok_or_else(|| wrong(c))?),
            ColumnType::Float => {
                Col::Float(a.as_primitive_opt::<Float64Type>().ok_or_else(|| wrong(c))?)
            }
            ColumnType::Bool => Col::Bool(a.as_boolean_opt().ok_or_else(|| wrong(c))?),
            ColumnType::Timestamp => {
                Col::Time(a.as_primitive_opt::<TimestampMicrosecondType>().ok_or_else(|| wrong(c))?)
            }
        });
    }
    let pos = |name: &str| {
        cols.iter()
            .position(|c| c.name == name)
            .ok_or_else(|| WarehouseError::Internal(format!("{table} has no column {name}")))
    };
    let (tenant_i, service_i, id_i) =
        (pos("tenant_id")?, pos("source_service")?, pos("source_id")?);
    let Col::Time(updated) = &arrays[pos("source_updated_at")?] else {
        return Err(WarehouseError::Internal("source_updated_at is not a timestamp".into()));
    };
    let mut out = Vec::with_capacity(batch.num_rows() * 256);
    let mut keys = VersionKeys::new();
    for row in 0..batch.num_rows() {
        if updated.is_null(row) {
            continue;
        }
        keys.entry(arrays[tenant_i].text(row)).or_default().insert((
            arrays[service_i].text(row),
            arrays[id_i].text(row),
            updated.value(row),
        ));
        for (c, a) in cols.iter().zip(&arrays) {
            let nullable = ch_type(c).starts_with("Nullable");
            if a.is_null(row) {
                if nullable {
                    out.push(1);
                } else {
                    // Key columns are never null in ClickHouse: an absent value is its
                    // default.
                    match ch_type(c) {
                        "String" => out.push(0),
                        "Int64" => out.extend_from_slice(&0i64.to_le_bytes()),
                        _ => out.push(0),
                    }
                }
                continue;
            }
            if nullable {
                out.push(0);
            }
            match a {
                Col::Text(x) => {
                    let v = x.value(row).as_bytes();
                    leb128(&mut out, v.len() as u64);
                    out.extend_from_slice(v);
                }
                Col::Int(x) => out.extend_from_slice(&x.value(row).to_le_bytes()),
                Col::Float(x) => out.extend_from_slice(&x.value(row).to_le_bytes()),
                Col::Bool(x) => out.push(u8::from(x.value(row))),
                Col::Time(x) => out.extend_from_slice(&x.value(row).to_le_bytes()),
            }
        }
    }
    Ok((out, keys))
}

fn ch_col(c: ACol) -> String {
    match c {
        ACol::Service => "source_service".to_owned(),
        ACol::Id => "concat(source_service, ':', source_id)".to_owned(),
        ACol::Column(n) => n.to_owned(),
        ACol::Ref(n) => {
            format!("if(isNull({n}), NULL, concat(source_service, ':', assumeNotNull({n})))")
        }
    }
}

fn ch_expr(e: &Expr) -> String {
    match e {
        Expr::Number(c) | Expr::Flag(c) => format!("toFloat64({c})"),
        Expr::HoursBetween(a, b) => format!("(({b} - {a}) / 3600000000)"),
        Expr::HoursUntil(a, at) => format!("(({at} - {a}) / 3600000000)"),
        Expr::Product(a, b) => format!("(toFloat64({a}) * toFloat64({b}))"),
    }
}

/// A two-valued condition (UInt8, a null makes a leaf false).
fn ch_cond(table: CanonicalTable, c: &Cond) -> String {
    match c {
        Cond::In(_, values) if values.is_empty() => "0".to_owned(),
        Cond::In(col @ (ACol::Id | ACol::Ref(_)), values) => {
            // On the stored columns: building every row's public id costs more than the scan.
            let column = match col {
                ACol::Ref(n) => (*n).to_owned(),
                _ => "source_id".to_owned(),
            };
            let arms: Vec<String> = avesa_warehouse::aggregate::ids_by_service(values)
                .into_iter()
                .map(|(service, ids)| {
                    let ids: Vec<String> = ids.into_iter().map(lit).collect();
                    format!(
                        "(source_service = {} AND ifNull({column} IN ({}), 0))",
                        lit(service),
                        ids.join(", ")
                    )
                })
                .collect();
            if arms.is_empty() { "0".to_owned() } else { format!("({})", arms.join(" OR ")) }
        }
        Cond::In(col, values) => {
            let list: Vec<String> = values.iter().map(|v| lit(v)).collect();
            format!("ifNull({} IN ({}), 0)", ch_col(*col), list.join(", "))
        }
        Cond::IsNull(col) => format!("isNull({})", ch_col(*col)),
        Cond::Is(c, b) => format!("ifNull({c} = {}, 0)", u8::from(*b)),
        Cond::Within { column, from, to } => {
            let mut parts = vec![format!("isNotNull({column})")];
            if let Some(f) = from {
                parts.push(format!("assumeNotNull({column}) >= {f}"));
            }
            if let Some(t) = to {
                parts.push(format!("assumeNotNull({column}) < {t}"));
            }
            format!("({})", parts.join(" AND "))
        }
        Cond::AtMost(e, v) => format!("ifNull({} <= {v:?}, 0)", ch_expr(e)),
        Cond::Search(s) if s.trim().is_empty() => "1".to_owned(),
        Cond::Search(s) => {
            let needle = lit(s.trim());
            let tests: Vec<String> = table
                .searched_columns()
                .iter()
                .copied()
                .chain(std::iter::once("source_id"))
                .map(|c| format!("positionCaseInsensitiveUTF8(ifNull({c}, ''), {needle}) > 0"))
                .collect();
            format!("({})", tests.join(" OR "))
        }
        Cond::Not(c) => format!("(NOT {})", ch_cond(table, c)),
        Cond::All(cs) if cs.is_empty() => "1".to_owned(),
        Cond::Any(cs) if cs.is_empty() => "0".to_owned(),
        Cond::All(cs) => {
            format!("({})", cs.iter().map(|c| ch_cond(table, c)).collect::<Vec<_>>().join(" AND "))
        }
        Cond::Any(cs) => {
            format!("({})", cs.iter().map(|c| ch_cond(table, c)).collect::<Vec<_>>().join(" OR "))
        }
    }
}

fn ch_dim(d: &Dim) -> String {
    match d {
        Dim::Value(c) => ch_col(*c),
        Dim::Edges { column, edges } => {
            let v = format!("assumeNotNull({column})");
            let sum: Vec<String> = std::iter::once("0".to_owned())
                .chain(edges.iter().map(|e| format!("toInt64({v} >= {e})")))
                .collect();
            format!("if(isNull({column}), NULL, toInt64({}))", sum.join(" + "))
        }
        Dim::Steps { column, origin, width, shifts } => {
            let v = format!("assumeNotNull({column})");
            let offset = match shifts.split_first() {
                None => "0".to_owned(),
                Some((first, [])) => first.offset.to_string(),
                Some((first, rest)) => {
                    let arms: Vec<String> = rest
                        .iter()
                        .rev()
                        .map(|s| format!("{v} >= {}, {}", s.at, s.offset))
                        .collect();
                    format!("multiIf({}, {})", arms.join(", "), first.offset)
                }
            };
            format!(
                "if(isNull({column}), NULL, toInt64(floor(({v} + {offset} - {origin}) / {width})))"
            )
        }
    }
}

/// The business columns of `table` (what a projection reads besides the keys).
fn business(table: CanonicalTable) -> Vec<&'static str> {
    std::iter::once("source_updated_at").chain(table.columns().iter().map(|c| c.name)).collect()
}

#[async_trait]
impl Warehouse for ClickHouseWarehouse {
    async fn apply(&self, table: CanonicalTable, batch: RecordBatch) -> Result<ApplyReport> {
        let rows = batch.num_rows() as u64;
        if rows == 0 {
            return Ok(ApplyReport::default());
        }
        let (body, keys) =
            tokio::task::spawn_blocking(move || encode_rows(table, &batch))
                .await
                .map_err(|e| WarehouseError::Internal(format!("encoder task failed: {e}")))??;
        if keys.is_empty() {
            return Ok(ApplyReport { rows, inserted: 0 });
        }
        let mut inserted = 0u64;
        for (tenant, keys) in &keys {
            let existing = self.existing_versions(table, tenant, keys).await?;
            inserted += keys.difference(&existing).count() as u64;
        }
        // One block: ClickHouse inserts it whole or not at all.
        let columns: Vec<&str> = table.all_columns().map(|c| c.name).collect();
        let insert =
            format!("INSERT INTO {} ({}) FORMAT RowBinary", self.table(table), columns.join(", "));
        self.post(Some(&insert), body, &[]).await?;
        Ok(ApplyReport { rows, inserted })
    }

    async fn list(&self, tenant: &TenantId, table: CanonicalTable, q: &ListQuery) -> Result<Page> {
        let sort_by = q.sort_by(table)?;
        let sort = match sort_by {
            SortBy::Id => "toInt64OrNull(source_id)".to_owned(),
            SortBy::CompanyName => "company_name".to_owned(),
            SortBy::Column(c) => c.to_owned(),
        };
        let dir = if q.descending { "DESC" } else { "ASC" };
        let order = format!("ORDER BY {sort} {dir} NULLS LAST, source_id ASC, source_service ASC");
        let t = tenant.as_str();
        let at = q.as_of.map(micros);
        let mut conds = q.filter.clone();
        if let Some(s) = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            conds.push(Cond::Search(s.to_owned()));
        }
        let search = if conds.is_empty() {
            String::new()
        } else {
            let tests: Vec<String> = conds.iter().map(|c| ch_cond(table, c)).collect();
            format!(" WHERE {}", tests.join(" AND "))
        };
        // First the page's keys, resolving only the columns the search, the filters and
        // the sort need (each version carries every column, so unpacking them all for
        // every record of the tenant is what costs); then the whole rows of those keys.
        let mut narrow: Vec<&str> =
            Aggregate { filter: conds, ..Aggregate::new(table) }.columns().into_iter().collect();
        match sort_by {
            SortBy::Column(c) => narrow.push(c),
            SortBy::CompanyName => narrow.push("company_id"),
            SortBy::Id => {}
        }
        narrow.sort_unstable();
        narrow.dedup();
        let rows = self.visible(table, t, at, &narrow, "");
        let total = self.count(&format!("SELECT count() FROM ({rows}){search}")).await?;
        let rows = match sort_by {
            SortBy::CompanyName => format!(
                "SELECT *, if(_company_found = 1, _company_name, NULL) AS company_name \
                 FROM ({})",
                self.with_company(table, t, at, rows)
            ),
            _ => rows,
        };
        let limit = u64::from(q.page_size);
        let offset = u64::from(q.page.saturating_sub(1)) * limit;
        let keys = self
            .query(&format!(
                "SELECT source_service, source_id FROM ({rows}){search} {order} \
                 LIMIT {offset}, {limit}"
            ))
            .await?;
        if keys.data.is_empty() {
            return Ok(Page { items: Vec::new(), page: q.page, page_size: q.page_size, total });
        }
        let keys = keys
            .data
            .iter()
            .map(|k| {
                let (s, i) = (text_of(&k[0])?, text_of(&k[1])?);
                Ok(format!("({}, {})", lit(&s), lit(&i)))
            })
            .collect::<Result<Vec<_>>>()?;
        let filter = format!(" AND (source_service, source_id) IN ({})", keys.join(", "));
        let projection = Projection::new(table, false);
        let sql = format!(
            "SELECT {} FROM ({}) {order}",
            Self::select_list(&projection),
            self.visible_with_company(table, t, at, &business(table), &filter)
        );
        let items = self.records(&sql, &projection).await?;
        Ok(Page { items, page: q.page, page_size: q.page_size, total })
    }

    async fn get(
        &self,
        tenant: &TenantId,
        table: CanonicalTable,
        id: &EntityId,
        as_of: Option<NaiveDateTime>,
    ) -> Result<Option<Record>> {
        let projection = Projection::new(table, false);
        let filter = format!(
            " AND source_service = {} AND source_id = {}",
            lit(&id.service),
            lit(&id.source_id)
        );
        let sql = format!(
            "SELECT {} FROM ({}) LIMIT 1",
            Self::select_list(&projection),
            self.visible_with_company(
                table,
                tenant.as_str(),
                as_of.map(micros),
                &business(table),
                &filter
            )
        );
        Ok(self.records(&sql, &projection).await?.pop())
    }

    async fn history(
        &self,
        tenant: &TenantId,
        table: CanonicalTable,
        id: &EntityId,
    ) -> Result<Vec<Record>> {
        // Each version's winner, oldest first; valid_to and is_current follow from order.
        let cols: Vec<&str> = table.columns().iter().map(|c| c.name).collect();
        let packed: Vec<&str> = std::iter::once("is_deleted").chain(cols.iter().copied()).collect();
        let mut unpack = String::from("tupleElement(_v, 1) AS is_deleted");
        for (i, c) in cols.iter().enumerate() {
            write!(unpack, ", tupleElement(_v, {}) AS {c}", i + 2).expect("a String");
        }
        let versions = format!(
            "SELECT source_service, source_id, source_updated_at, {unpack} FROM (\
               SELECT source_service, source_id, source_updated_at, \
                      argMax(tuple({}), tuple(extracted_at, record_hash)) AS _v \
               FROM {} WHERE tenant_id = {} AND source_service = {} AND source_id = {} \
               GROUP BY source_service, source_id, source_updated_at)",
            packed.join(", "),
            self.table(table),
            lit(tenant.as_str()),
            lit(&id.service),
            lit(&id.source_id)
        );
        let versions = self.with_company(table, tenant.as_str(), None, versions);
        let company = if joins_company(table) {
            ", if(_company_found = 1, _company_name, NULL) AS company_name"
        } else {
            ""
        };
        let sql = format!(
            "SELECT source_service, source_id, source_updated_at, is_deleted, {}{company} \
             FROM ({versions}) ORDER BY source_updated_at",
            cols.join(", ")
        );
        let rows = self.query(&sql).await?;
        let projection = Projection::new(table, true);
        let updated = rows.column("source_updated_at")?;
        let n = rows.data.len();
        let mut out = Vec::with_capacity(n);
        for (k, row) in rows.data.iter().enumerate() {
            let next = rows.data.get(k + 1).and_then(|r| r.get(updated)).cloned();
            let mut cells = Vec::with_capacity(projection.fields().len());
            for f in projection.fields() {
                cells.push(match f.name {
                    "valid_from" => cell(f.ty, &row[updated])?,
                    "valid_to" => cell(f.ty, next.as_ref().unwrap_or(&Value::Null))?,
                    "is_current" => Cell::Bool(k + 1 == n),
                    name => cell(f.ty, &row[rows.column(name)?])?,
                });
            }
            out.push(projection.record(cells)?);
        }
        Ok(out)
    }

    async fn dashboard(&self, tenant: &TenantId) -> Result<DashboardStats> {
        let t = tenant.as_str();
        let v = |table, cols: &[&str]| self.visible(table, t, None, cols, "");
        let sql = format!(
            "SELECT
               (SELECT count() FROM ({})) AS companies,
               (SELECT count() FROM ({})) AS contacts,
               (SELECT count() FROM ({tickets})) AS tickets,
               (SELECT countIf(ifNull(closed, 0) = 0) FROM ({tickets})) AS open_tickets,
               (SELECT countIf(ifNull(closed, 0) = 1) FROM ({tickets})) AS closed_tickets,
               (SELECT count() FROM ({entries})) AS time_entries,
               (SELECT toFloat64(sum(ifNull(actual_hours, 0))) FROM ({entries})) AS hours,
               (SELECT toFloat64(sumIf(ifNull(actual_hours, 0),
                    ifNull(billable_option, '') = 'Billable')) FROM ({entries})) AS billable",
            v(CanonicalTable::Companies, &[]),
            v(CanonicalTable::Contacts, &[]),
            tickets = v(CanonicalTable::Tickets, &["closed"]),
            entries = v(CanonicalTable::TimeEntries, &["actual_hours", "billable_option"]),
        );
        let rows = self.query(&sql).await?;
        let r = rows.data.first().ok_or_else(|| WarehouseError::Internal("no row".into()))?;
        let n = |i: usize| r.get(i).and_then(int_of).unwrap_or(0).max(0) as u64;
        let f = |i: usize| r.get(i).and_then(float_of).unwrap_or(0.0);
        Ok(DashboardStats {
            companies: n(0),
            contacts: n(1),
            tickets: n(2),
            open_tickets: n(3),
            closed_tickets: n(4),
            time_entries: n(5),
            total_hours: f(6),
            billable_hours: f(7),
        })
    }

    async fn ticket_status(&self, tenant: &TenantId) -> Result<Vec<StatusCount>> {
        let sql = format!(
            "SELECT ifNull(status, '(none)') AS s, count() AS n FROM ({}) \
             GROUP BY s ORDER BY n DESC, s ASC",
            self.visible(CanonicalTable::Tickets, tenant.as_str(), None, &["status"], "")
        );
        let rows = self.query(&sql).await?;
        rows.data
            .iter()
            .map(|r| {
                Ok(StatusCount {
                    status: text_of(&r[0])?,
                    count: int_of(&r[1]).unwrap_or(0).max(0) as u64,
                })
            })
            .collect()
    }

    async fn top_companies(&self, tenant: &TenantId, limit: u32) -> Result<Vec<TopCompany>> {
        let t = tenant.as_str();
        let companies = self.visible(CanonicalTable::Companies, t, None, &["name"], "");
        let tickets = self.visible(CanonicalTable::Tickets, t, None, &["company_id", "closed"], "");
        let entries =
            self.visible(CanonicalTable::TimeEntries, t, None, &["company_id", "actual_hours"], "");
        let sql = format!(
            "SELECT source_service, source_id, ifNull(name, '') AS company, tn, topen, hrs FROM (\
               SELECT * FROM (SELECT source_service, source_id, name FROM ({companies})) AS _co \
               ANY LEFT JOIN (\
                 SELECT source_service, _cid AS source_id, count() AS tn, \
                        countIf(ifNull(closed, 0) = 0) AS topen \
                 FROM (SELECT source_service, ifNull(company_id, '') AS _cid, closed \
                       FROM ({tickets})) \
                 GROUP BY source_service, _cid) AS _tk \
               USING (source_service, source_id)) AS _ct \
             ANY LEFT JOIN (\
               SELECT source_service, _cid AS source_id, \
                      toFloat64(sum(ifNull(actual_hours, 0))) AS hrs \
               FROM (SELECT source_service, ifNull(company_id, '') AS _cid, actual_hours \
                     FROM ({entries})) \
               GROUP BY source_service, _cid) AS _te \
             USING (source_service, source_id) \
             ORDER BY tn DESC, hrs DESC, company ASC LIMIT {limit}"
        );
        let rows = self.query(&sql).await?;
        rows.data
            .iter()
            .map(|r| {
                Ok(TopCompany {
                    id: EntityId { service: text_of(&r[0])?, source_id: text_of(&r[1])? }
                        .to_string(),
                    name: text_of(&r[2])?,
                    tickets: int_of(&r[3]).unwrap_or(0).max(0) as u64,
                    open_tickets: int_of(&r[4]).unwrap_or(0).max(0) as u64,
                    hours: float_of(&r[5]).unwrap_or(0.0),
                })
            })
            .collect()
    }

    async fn version_count(&self, tenant: &TenantId, table: CanonicalTable) -> Result<u64> {
        self.count(&format!(
            "SELECT count() FROM (SELECT DISTINCT source_service, source_id, source_updated_at \
             FROM {} WHERE tenant_id = {})",
            self.table(table),
            lit(tenant.as_str())
        ))
        .await
    }

    async fn purge(&self, tenant: &TenantId, table: CanonicalTable) -> Result<u64> {
        let versions = self.version_count(tenant, table).await?;
        // A mutation (the lightweight DELETE FROM of newer releases, and the
        // mutations_sync setting, are not on the oldest release tested), waited for by
        // watching system.mutations.
        self.execute(&format!(
            "ALTER TABLE {} DELETE WHERE tenant_id = {}",
            self.table(table),
            lit(tenant.as_str())
        ))
        .await?;
        let pending = format!(
            "SELECT count() FROM system.mutations WHERE database = {} AND table = {} \
             AND is_done = 0",
            lit(&self.opts.database),
            lit(table.name())
        );
        let started = std::time::Instant::now();
        let mut wait = Duration::from_millis(20);
        while self.count(&pending).await? > 0 {
            if started.elapsed() > self.opts.timeout {
                return Err(WarehouseError::engine(format!(
                    "removing tenant {tenant}'s {table} is still running after {:?}",
                    self.opts.timeout
                )));
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_millis(500));
        }
        Ok(versions)
    }

    async fn current_ids(
        &self,
        tenant: &TenantId,
        table: CanonicalTable,
        service: &str,
    ) -> Result<Vec<String>> {
        let filter = format!(" AND source_service = {}", lit(service));
        let rows = self
            .query(&format!(
                "SELECT source_id FROM ({})",
                self.visible(table, tenant.as_str(), None, &[], &filter)
            ))
            .await?;
        rows.data.iter().map(|r| text_of(r.first().unwrap_or(&Value::Null))).collect()
    }

    async fn ping(&self) -> Result<()> {
        self.query("SELECT 1 AS ok").await.map(|_| ())
    }

    /// A MergeTree keeps each part sorted by its key, tenant first, and merges parts in
    /// the background: there is no insertion order to undo.
    async fn reorder(&self, _tenant: &TenantId, _table: CanonicalTable) -> Result<u64> {
        Ok(0)
    }

    async fn aggregate_many(
        &self,
        tenant: &TenantId,
        qs: &[Aggregate],
    ) -> Result<Vec<Vec<AggRow>>> {
        avesa_warehouse::batch::one_by_one(self, tenant, qs).await
    }

    async fn aggregate(&self, tenant: &TenantId, q: &Aggregate) -> Result<Vec<AggRow>> {
        q.check()?;
        let table = q.table;
        let cols: Vec<&str> = q.columns().into_iter().collect();
        let rows = self.visible(table, tenant.as_str(), q.as_of.map(micros), &cols, "");
        let mut inner: Vec<String> =
            q.group.iter().enumerate().map(|(i, d)| format!("{} AS _k{i}", ch_dim(d))).collect();
        let mut outer: Vec<String> = (0..q.group.len()).map(|i| format!("_k{i}")).collect();
        for (i, m) in q.measures.iter().enumerate() {
            let when = m.when.as_ref().map_or("1".to_owned(), |c| ch_cond(table, c));
            let e = match &m.agg {
                Agg::Count => {
                    inner.push(format!("toFloat64(countIf({when})) AS _v{i}, 0 AS _n{i}"));
                    outer.push(format!("_v{i}, _n{i}"));
                    continue;
                }
                Agg::Sum(e) | Agg::Avg(e) | Agg::Median(e) | Agg::Min(e) | Agg::Max(e) => e,
            };
            let x = ch_expr(e);
            let only = format!("({when}) AND isNotNull({x})");
            let value = match &m.agg {
                Agg::Median(_) => format!(
                    "arraySort(groupArrayIf(assumeNotNull({x}), {only})) AS _a{i}, \
                     if(length(_a{i}) = 0, NULL, \
                        (_a{i}[intDiv(length(_a{i}) + 1, 2)] + _a{i}[intDiv(length(_a{i}), 2) + 1]) / 2)"
                ),
                Agg::Sum(_) => format!("toFloat64(sumIf(assumeNotNull({x}), {only}))"),
                Agg::Avg(_) => format!("toFloat64(avgIf(assumeNotNull({x}), {only}))"),
                Agg::Min(_) => format!("toFloat64(minIf(assumeNotNull({x}), {only}))"),
                _ => format!("toFloat64(maxIf(assumeNotNull({x}), {only}))"),
            };
            inner.push(format!("{value} AS _v{i}, countIf({only}) AS _n{i}"));
            outer.push(format!("_v{i}, _n{i}"));
        }
        let mut filter: Vec<String> = q.filter.iter().map(|c| ch_cond(table, c)).collect();
        if filter.is_empty() {
            filter.push("1".to_owned());
        }
        let group = if q.group.is_empty() {
            String::new()
        } else {
            format!(
                " GROUP BY {}",
                (0..q.group.len()).map(|i| format!("_k{i}")).collect::<Vec<_>>().join(", ")
            )
        };
        let sql = format!(
            "SELECT {} FROM (SELECT {} FROM ({rows}) WHERE {}{group})",
            outer.join(", "),
            inner.join(", "),
            filter.join(" AND ")
        );
        let answer = self.query(&sql).await?;
        if answer.data.len() > avesa_warehouse::aggregate::MAX_GROUPS {
            return Err(WarehouseError::BadRequest(format!(
                "more than {} groups; narrow the filters",
                avesa_warehouse::aggregate::MAX_GROUPS
            )));
        }
        let dims = q.group.len();
        let key_types: Vec<ColumnType> = q
            .group
            .iter()
            .map(|d| match d {
                Dim::Value(c) => c.ty(table),
                _ => ColumnType::Int,
            })
            .collect();
        let mut out = answer
            .data
            .iter()
            .map(|r| {
                let key = key_types
                    .iter()
                    .enumerate()
                    .map(|(i, ty)| cell(*ty, r.get(i).unwrap_or(&Value::Null)))
                    .collect::<Result<Vec<_>>>()?;
                let values = q
                    .measures
                    .iter()
                    .enumerate()
                    .map(|(m, measure)| {
                        let v = r.get(dims + 2 * m).and_then(float_of);
                        let n = r.get(dims + 2 * m + 1).and_then(int_of).unwrap_or(0);
                        match measure.agg {
                            Agg::Count => Some(v.unwrap_or(0.0)),
                            _ if n == 0 => None,
                            _ => v,
                        }
                    })
                    .collect();
                Ok(AggRow { key, values })
            })
            .collect::<Result<Vec<_>>>()?;
        avesa_warehouse::aggregate::finish(&mut out, q);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_escaped_so_text_is_never_sql() {
        assert_eq!(lit("acme"), "'acme'");
        assert_eq!(lit("x' OR '1'='1"), r"'x\' OR \'1\'=\'1'");
        assert_eq!(lit(r"a\'b"), r"'a\\\'b'");
        assert_eq!(lit("a\0b\nc"), r"'a\0b\nc'");
    }

    #[test]
    fn key_columns_are_not_nullable_and_business_columns_are() {
        let types: Vec<&str> = CanonicalTable::Tickets.all_columns().map(ch_type).collect();
        assert_eq!(&types[..4], ["String", "String", "String", "Int64"]);
        assert!(types[8..].iter().all(|t| t.starts_with("Nullable(")));
    }
}
