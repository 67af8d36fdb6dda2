//! [`MemoryWarehouse`]: the warehouse contract in plain Rust collections. It is the
//! reference backend: it passes the same conformance suite as the engines, and the
//! pipeline's own tests run on it (milliseconds, no engine). Not for production data: it
//! holds every version in memory and scans to answer.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use avesa_model::{CanonicalTable, ColumnType, TenantId};
use chrono::NaiveDateTime;

use crate::aggregate::{Agg, AggRow, Aggregate, Col, Cond, Dim, Expr, edge_key, median, step_key};
use crate::present::{Cell, Projection, Source, joins_company};
use crate::*;

/// One stored version.
#[derive(Clone, Debug)]
struct Version {
    extracted_at: i64,
    hash: String,
    deleted: bool,
    /// The business columns, in [`CanonicalTable::columns`] order.
    cells: Vec<Cell>,
}

/// (tenant, service, source id).
type Key = (String, String, String);

/// A record's versions by `valid_from` (microseconds).
type Versions = BTreeMap<i64, Version>;

/// The in-memory warehouse.
#[derive(Debug, Default)]
pub struct MemoryWarehouse {
    tables: Mutex<BTreeMap<CanonicalTable, BTreeMap<Key, Versions>>>,
    reorders: Mutex<Vec<(String, CanonicalTable)>>,
}

impl MemoryWarehouse {
    pub fn new() -> Self {
        Self::default()
    }

    /// The (tenant, table) of every [`Warehouse::reorder`] asked of it, in order: what a
    /// pipeline's tests check it asks for.
    pub fn reorders(&self) -> Vec<(String, CanonicalTable)> {
        self.reorders.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// A version visible at `at` (now if `None`), as (valid_from, version, valid_to).
fn visible(versions: &Versions, at: Option<i64>) -> Option<(i64, &Version)> {
    let (from, v) = match at {
        None => versions.iter().next_back()?,
        Some(t) => versions.range(..=t).next_back()?,
    };
    (!v.deleted).then_some((*from, v))
}

fn micros(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

fn cell_at(col: &ArrayRef, ty: ColumnType, i: usize) -> Result<Cell> {
    if col.is_null(i) {
        return Ok(Cell::Null);
    }
    let any = col.as_any();
    let wrong = || WarehouseError::Internal(format!("a {ty:?} column of type {}", col.data_type()));
    Ok(match ty {
        ColumnType::Text => {
            Cell::Text(any.downcast_ref::<StringArray>().ok_or_else(wrong)?.value(i).to_owned())
        }
        ColumnType::Int => Cell::Int(any.downcast_ref::<Int64Array>().ok_or_else(wrong)?.value(i)),
        ColumnType::Float => {
            Cell::Float(any.downcast_ref::<Float64Array>().ok_or_else(wrong)?.value(i))
        }
        ColumnType::Bool => {
            Cell::Bool(any.downcast_ref::<BooleanArray>().ok_or_else(wrong)?.value(i))
        }
        ColumnType::Timestamp => Cell::Timestamp(
            any.downcast_ref::<TimestampMicrosecondArray>().ok_or_else(wrong)?.value(i),
        ),
    })
}

fn text(c: Cell) -> Option<String> {
    match c {
        Cell::Text(s) => Some(s),
        _ => None,
    }
}

/// SQL's ordering of two non-null values of one column.
fn compare(a: &Cell, b: &Cell) -> Ordering {
    match (a, b) {
        (Cell::Text(a), Cell::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
        (Cell::Int(a), Cell::Int(b)) | (Cell::Timestamp(a), Cell::Timestamp(b)) => a.cmp(b),
        (Cell::Float(a), Cell::Float(b)) => a.total_cmp(b),
        (Cell::Bool(a), Cell::Bool(b)) => a.cmp(b),
        _ => Ordering::Equal,
    }
}

/// A row as a read sees it.
struct Row<'a> {
    key: &'a Key,
    valid_from: i64,
    valid_to: Option<i64>,
    current: bool,
    version: &'a Version,
    company_name: Option<String>,
}

impl Row<'_> {
    fn column(&self, table: CanonicalTable, name: &str) -> Cell {
        match name {
            "company_name" => self.company_name.clone().map_or(Cell::Null, Cell::Text),
            _ => table
                .columns()
                .iter()
                .position(|c| c.name == name)
                .map_or(Cell::Null, |i| self.version.cells[i].clone()),
        }
    }

    fn record(&self, table: CanonicalTable, p: &Projection) -> Result<Record> {
        let cells = p
            .fields()
            .iter()
            .map(|f| match (f.source, f.name) {
                (Source::CompanyName, _) => {
                    self.company_name.clone().map_or(Cell::Null, Cell::Text)
                }
                (_, "source_service") => Cell::Text(self.key.1.clone()),
                (_, "source_id") => Cell::Text(self.key.2.clone()),
                (_, "source_updated_at" | "valid_from") => Cell::Timestamp(self.valid_from),
                (_, "valid_to") => self.valid_to.map_or(Cell::Null, Cell::Timestamp),
                (_, "is_deleted") => Cell::Bool(self.version.deleted),
                (_, "is_current") => Cell::Bool(self.current),
                (_, name) => self.column(table, name),
            })
            .collect();
        p.record(cells)
    }
}

type Tables = BTreeMap<CanonicalTable, BTreeMap<Key, Versions>>;

/// The name of the company `company_id` refers to, visible at `at`.
fn company_name(
    tables: &Tables,
    tenant: &str,
    service: &str,
    company_id: &Cell,
    at: Option<i64>,
) -> Option<String> {
    let Cell::Text(id) = company_id else { return None };
    let companies = tables.get(&CanonicalTable::Companies)?;
    let versions = companies.get(&(tenant.to_owned(), service.to_owned(), id.clone()))?;
    let (_, v) = visible(versions, at)?;
    let name = CanonicalTable::Companies.columns().iter().position(|c| c.name == "name")?;
    text(v.cells[name].clone())
}

/// The tenant's rows of `table` visible at `at`.
fn visible_rows<'a>(
    tables: &'a Tables,
    table: CanonicalTable,
    tenant: &str,
    at: Option<i64>,
) -> Vec<Row<'a>> {
    let Some(t) = tables.get(&table) else { return vec![] };
    let company_col = table.columns().iter().position(|c| c.name == "company_id");
    t.iter()
        .filter(|(k, _)| k.0 == tenant)
        .filter_map(|(k, versions)| {
            let (from, v) = visible(versions, at)?;
            let company_name = match company_col {
                Some(i) if joins_company(table) => {
                    company_name(tables, tenant, &k.1, &v.cells[i], at)
                }
                _ => None,
            };
            Some(Row {
                key: k,
                valid_from: from,
                valid_to: None,
                current: true,
                version: v,
                company_name,
            })
        })
        .collect()
}

impl MemoryWarehouse {
    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current rows of a tenant's table, as (key, cells).
    fn current_cells(&self, table: CanonicalTable, tenant: &TenantId) -> Vec<(Key, Vec<Cell>)> {
        let tables = self.lock();
        visible_rows(&tables, table, tenant.as_str(), None)
            .into_iter()
            .map(|r| (r.key.clone(), r.version.cells.clone()))
            .collect()
    }
}

fn col(table: CanonicalTable, name: &str) -> usize {
    table.columns().iter().position(|c| c.name == name).expect("a canonical column")
}

fn float(c: &Cell) -> Option<f64> {
    match c {
        Cell::Float(f) => Some(*f),
        Cell::Int(i) => Some(*i as f64),
        _ => None,
    }
}

#[async_trait]
impl Warehouse for MemoryWarehouse {
    async fn apply(&self, table: CanonicalTable, batch: RecordBatch) -> Result<ApplyReport> {
        let rows = batch.num_rows() as u64;
        if rows == 0 {
            return Ok(ApplyReport::default());
        }
        let schema = table.arrow_schema();
        if batch.schema().fields().len() != schema.fields().len() {
            return Err(WarehouseError::Internal(format!(
                "batch for {table} has {} columns, expected {}",
                batch.schema().fields().len(),
                schema.fields().len()
            )));
        }
        // Read the whole batch before touching the table: a bad batch changes nothing.
        let column = |name: &str| batch.column(schema.index_of(name).expect("a meta column"));
        let mut incoming = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            let updated = cell_at(column("source_updated_at"), ColumnType::Timestamp, i)?;
            let Cell::Timestamp(valid_from) = updated else { continue };
            let key = (
                text(cell_at(column("tenant_id"), ColumnType::Text, i)?).unwrap_or_default(),
                text(cell_at(column("source_service"), ColumnType::Text, i)?).unwrap_or_default(),
                text(cell_at(column("source_id"), ColumnType::Text, i)?).unwrap_or_default(),
            );
            let version = Version {
                extracted_at: match cell_at(column("extracted_at"), ColumnType::Timestamp, i)? {
                    Cell::Timestamp(t) => t,
                    _ => i64::MIN,
                },
                hash: text(cell_at(column("record_hash"), ColumnType::Text, i)?)
                    .unwrap_or_default(),
                deleted: cell_at(column("is_deleted"), ColumnType::Bool, i)? == Cell::Bool(true),
                cells: table
                    .columns()
                    .iter()
                    .map(|c| cell_at(column(c.name), c.ty, i))
                    .collect::<Result<_>>()?,
            };
            incoming.push((key, valid_from, version));
        }
        let mut tables = self.lock();
        let t = tables.entry(table).or_default();
        let mut inserted = 0;
        for (key, valid_from, v) in incoming {
            let versions = t.entry(key).or_default();
            match versions.get(&valid_from) {
                None => {
                    inserted += 1;
                    versions.insert(valid_from, v);
                }
                // The latest extraction wins, then the greater hash.
                Some(held) if (v.extracted_at, &v.hash) > (held.extracted_at, &held.hash) => {
                    versions.insert(valid_from, v);
                }
                Some(_) => {}
            }
        }
        Ok(ApplyReport { rows, inserted })
    }

    async fn list(&self, tenant: &TenantId, table: CanonicalTable, q: &ListQuery) -> Result<Page> {
        let sort = q.sort_by(table)?;
        q.check(table)?;
        let tables = self.lock();
        let mut rows = visible_rows(&tables, table, tenant.as_str(), q.as_of.map(micros));
        rows.retain(|r| q.filter.iter().all(|c| holds(table, r, c)));
        if let Some(search) = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            let needle = search.to_lowercase();
            rows.retain(|r| {
                r.key.2.to_lowercase().contains(&needle)
                    || table.columns().iter().zip(&r.version.cells).any(|(c, v)| {
                        c.ty == ColumnType::Text
                            && matches!(v, Cell::Text(s) if s.to_lowercase().contains(&needle))
                    })
            });
        }
        let sort_value = |r: &Row<'_>| -> Cell {
            match sort {
                SortBy::Id => r.key.2.trim().parse::<i64>().map_or(Cell::Null, Cell::Int),
                SortBy::CompanyName => r.column(table, "company_name"),
                SortBy::Column(c) => r.column(table, c),
            }
        };
        rows.sort_by(|a, b| {
            let (va, vb) = (sort_value(a), sort_value(b));
            let primary = match (&va, &vb) {
                (Cell::Null, Cell::Null) => Ordering::Equal,
                (Cell::Null, _) => Ordering::Greater,
                (_, Cell::Null) => Ordering::Less,
                _ if q.descending => compare(&vb, &va),
                _ => compare(&va, &vb),
            };
            primary.then_with(|| a.key.2.cmp(&b.key.2)).then_with(|| a.key.1.cmp(&b.key.1))
        });
        let total = rows.len() as u64;
        let p = Projection::new(table, false);
        let skip = (q.page.saturating_sub(1) as usize).saturating_mul(q.page_size as usize);
        let items = rows
            .iter()
            .skip(skip)
            .take(q.page_size as usize)
            .map(|r| r.record(table, &p))
            .collect::<Result<_>>()?;
        Ok(Page { items, page: q.page, page_size: q.page_size, total })
    }

    async fn get(
        &self,
        tenant: &TenantId,
        table: CanonicalTable,
        id: &EntityId,
        as_of: Option<NaiveDateTime>,
    ) -> Result<Option<Record>> {
        let tables = self.lock();
        let p = Projection::new(table, false);
        visible_rows(&tables, table, tenant.as_str(), as_of.map(micros))
            .into_iter()
            .find(|r| r.key.1 == id.service && r.key.2 == id.source_id)
            .map(|r| r.record(table, &p))
            .transpose()
    }

    async fn history(
        &self,
        tenant: &TenantId,
        table: CanonicalTable,
        id: &EntityId,
    ) -> Result<Vec<Record>> {
        let tables = self.lock();
        let key = (tenant.as_str().to_owned(), id.service.clone(), id.source_id.clone());
        let Some(versions) = tables.get(&table).and_then(|t| t.get(&key)) else {
            return Ok(vec![]);
        };
        let p = Projection::new(table, true);
        let froms: Vec<i64> = versions.keys().copied().collect();
        let company_col = table.columns().iter().position(|c| c.name == "company_id");
        versions
            .iter()
            .enumerate()
            .map(|(i, (from, v))| {
                let company_name = match company_col {
                    Some(c) if joins_company(table) => {
                        company_name(&tables, &key.0, &key.1, &v.cells[c], None)
                    }
                    _ => None,
                };
                Row {
                    key: &key,
                    valid_from: *from,
                    valid_to: froms.get(i + 1).copied(),
                    current: i + 1 == froms.len(),
                    version: v,
                    company_name,
                }
                .record(table, &p)
            })
            .collect()
    }

    async fn dashboard(&self, tenant: &TenantId) -> Result<DashboardStats> {
        let tickets = self.current_cells(CanonicalTable::Tickets, tenant);
        let entries = self.current_cells(CanonicalTable::TimeEntries, tenant);
        let closed = col(CanonicalTable::Tickets, "closed");
        let hours = col(CanonicalTable::TimeEntries, "actual_hours");
        let billable = col(CanonicalTable::TimeEntries, "billable_option");
        let closed_n = tickets.iter().filter(|(_, c)| c[closed] == Cell::Bool(true)).count() as u64;
        Ok(DashboardStats {
            companies: self.current_cells(CanonicalTable::Companies, tenant).len() as u64,
            contacts: self.current_cells(CanonicalTable::Contacts, tenant).len() as u64,
            tickets: tickets.len() as u64,
            open_tickets: tickets.len() as u64 - closed_n,
            closed_tickets: closed_n,
            time_entries: entries.len() as u64,
            total_hours: entries.iter().filter_map(|(_, c)| float(&c[hours])).sum(),
            billable_hours: entries
                .iter()
                .filter(|(_, c)| c[billable] == Cell::Text("Billable".into()))
                .filter_map(|(_, c)| float(&c[hours]))
                .sum(),
        })
    }

    async fn ticket_status(&self, tenant: &TenantId) -> Result<Vec<StatusCount>> {
        let status = col(CanonicalTable::Tickets, "status");
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for (_, c) in self.current_cells(CanonicalTable::Tickets, tenant) {
            *counts
                .entry(text(c[status].clone()).unwrap_or_else(|| "(none)".into()))
                .or_default() += 1;
        }
        let mut out: Vec<StatusCount> =
            counts.into_iter().map(|(status, count)| StatusCount { status, count }).collect();
        out.sort_by(|a, b| {
            b.count.cmp(&a.count).then_with(|| a.status.as_bytes().cmp(b.status.as_bytes()))
        });
        Ok(out)
    }

    async fn top_companies(&self, tenant: &TenantId, limit: u32) -> Result<Vec<TopCompany>> {
        let t_company = col(CanonicalTable::Tickets, "company_id");
        let t_closed = col(CanonicalTable::Tickets, "closed");
        let e_company = col(CanonicalTable::TimeEntries, "company_id");
        let e_hours = col(CanonicalTable::TimeEntries, "actual_hours");
        let tickets_of = self.current_cells(CanonicalTable::Tickets, tenant);
        let entries_of = self.current_cells(CanonicalTable::TimeEntries, tenant);
        let name = col(CanonicalTable::Companies, "name");
        let mut out: Vec<TopCompany> = self
            .current_cells(CanonicalTable::Companies, tenant)
            .into_iter()
            .map(|(k, c)| {
                let mine = |cell: &Cell| matches!(cell, Cell::Text(id) if *id == k.2);
                let ts: Vec<_> = tickets_of
                    .iter()
                    .filter(|(tk, t)| tk.1 == k.1 && mine(&t[t_company]))
                    .collect();
                let open =
                    ts.iter().filter(|(_, t)| t[t_closed] != Cell::Bool(true)).count() as u64;
                let hours = entries_of
                    .iter()
                    .filter(|(ek, e)| ek.1 == k.1 && mine(&e[e_company]))
                    .filter_map(|(_, e)| float(&e[e_hours]))
                    .sum();
                TopCompany {
                    id: EntityId { service: k.1.clone(), source_id: k.2.clone() }.to_string(),
                    name: text(c[name].clone()).unwrap_or_default(),
                    tickets: ts.len() as u64,
                    open_tickets: open,
                    hours,
                }
            })
            .collect();
        out.sort_by(|a, b| {
            b.tickets
                .cmp(&a.tickets)
                .then_with(|| b.hours.total_cmp(&a.hours))
                .then_with(|| a.name.as_bytes().cmp(b.name.as_bytes()))
        });
        out.truncate(limit as usize);
        Ok(out)
    }

    async fn version_count(&self, tenant: &TenantId, table: CanonicalTable) -> Result<u64> {
        let tables = self.lock();
        Ok(tables.get(&table).map_or(0, |t| {
            t.iter().filter(|(k, _)| k.0 == tenant.as_str()).map(|(_, v)| v.len() as u64).sum()
        }))
    }

    async fn current_ids(
        &self,
        tenant: &TenantId,
        table: CanonicalTable,
        service: &str,
    ) -> Result<Vec<String>> {
        let tables = self.lock();
        Ok(visible_rows(&tables, table, tenant.as_str(), None)
            .into_iter()
            .filter(|r| r.key.1 == service)
            .map(|r| r.key.2.clone())
            .collect())
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }

    async fn purge(&self, tenant: &TenantId, table: CanonicalTable) -> Result<u64> {
        let mut tables = self.lock();
        let Some(t) = tables.get_mut(&table) else { return Ok(0) };
        let mut removed = 0;
        t.retain(|k, v| {
            let keep = k.0 != tenant.as_str();
            if !keep {
                removed += v.len() as u64;
            }
            keep
        });
        Ok(removed)
    }

    /// The reference keeps no order worth changing; it notes the request.
    async fn reorder(&self, tenant: &TenantId, table: CanonicalTable) -> Result<u64> {
        let mut asked = self.reorders.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        asked.push((tenant.as_str().to_owned(), table));
        Ok(0)
    }

    async fn aggregate_many(
        &self,
        tenant: &TenantId,
        qs: &[Aggregate],
    ) -> Result<Vec<Vec<AggRow>>> {
        crate::batch::one_by_one(self, tenant, qs).await
    }

    async fn aggregate(&self, tenant: &TenantId, q: &Aggregate) -> Result<Vec<AggRow>> {
        q.check()?;
        let tables = self.lock();
        let table = q.table;
        let rows = visible_rows(&tables, table, tenant.as_str(), q.as_of.map(micros));
        let mut groups: BTreeMap<Vec<GroupKey>, (Vec<Cell>, Vec<Vec<f64>>, Vec<u64>)> =
            BTreeMap::new();
        for r in rows.iter().filter(|r| q.filter.iter().all(|c| holds(table, r, c))) {
            let key: Vec<Cell> = q.group.iter().map(|d| dim_key(table, r, d)).collect();
            let entry = groups.entry(key.iter().map(GroupKey::of).collect()).or_insert_with(|| {
                (key, vec![vec![]; q.measures.len()], vec![0; q.measures.len()])
            });
            for (i, m) in q.measures.iter().enumerate() {
                if m.when.as_ref().is_some_and(|c| !holds(table, r, c)) {
                    continue;
                }
                match &m.agg {
                    Agg::Count => entry.2[i] += 1,
                    Agg::Sum(e) | Agg::Avg(e) | Agg::Median(e) | Agg::Min(e) | Agg::Max(e) => {
                        if let Some(v) = eval(table, r, e) {
                            entry.1[i].push(v);
                        }
                    }
                }
            }
        }
        if groups.len() > crate::aggregate::MAX_GROUPS {
            return Err(WarehouseError::BadRequest(format!(
                "more than {} groups; narrow the filters",
                crate::aggregate::MAX_GROUPS
            )));
        }
        let mut out: Vec<AggRow> = groups
            .into_values()
            .map(|(key, mut inputs, counts)| AggRow {
                key,
                values: q
                    .measures
                    .iter()
                    .enumerate()
                    .map(|(i, m)| {
                        let xs = &mut inputs[i];
                        match &m.agg {
                            Agg::Count => Some(counts[i] as f64),
                            _ if xs.is_empty() => None,
                            Agg::Sum(_) => Some(xs.iter().sum()),
                            Agg::Avg(_) => Some(xs.iter().sum::<f64>() / xs.len() as f64),
                            Agg::Median(_) => median(xs),
                            Agg::Min(_) => xs.iter().copied().reduce(f64::min),
                            Agg::Max(_) => xs.iter().copied().reduce(f64::max),
                        }
                    })
                    .collect(),
            })
            .collect();
        crate::aggregate::finish(&mut out, q);
        Ok(out)
    }
}

/// A group key cell made orderable for the map (the answer is re-ordered anyway).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum GroupKey {
    Null,
    Bool(bool),
    Int(i64),
    Float(u64),
    Text(String),
}

impl GroupKey {
    fn of(c: &Cell) -> Self {
        match c {
            Cell::Null => GroupKey::Null,
            Cell::Bool(b) => GroupKey::Bool(*b),
            Cell::Int(i) | Cell::Timestamp(i) => GroupKey::Int(*i),
            Cell::Float(f) => GroupKey::Float(f.to_bits()),
            Cell::Text(s) => GroupKey::Text(s.clone()),
        }
    }
}

fn value(table: CanonicalTable, r: &Row<'_>, c: Col) -> Cell {
    match c {
        Col::Service => Cell::Text(r.key.1.clone()),
        Col::Id => Cell::Text(format!("{}:{}", r.key.1, r.key.2)),
        Col::Column(n) => r.column(table, n),
        Col::Ref(n) => match r.column(table, n) {
            Cell::Text(v) => Cell::Text(format!("{}:{v}", r.key.1)),
            _ => Cell::Null,
        },
    }
}

fn time(table: CanonicalTable, r: &Row<'_>, c: &str) -> Option<i64> {
    match r.column(table, c) {
        Cell::Timestamp(t) => Some(t),
        _ => None,
    }
}

const HOUR_US: f64 = 3_600_000_000.0;

fn eval(table: CanonicalTable, r: &Row<'_>, e: &Expr) -> Option<f64> {
    match e {
        Expr::Number(c) => float(&r.column(table, c)),
        Expr::Flag(c) => match r.column(table, c) {
            Cell::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
            _ => None,
        },
        Expr::HoursBetween(a, b) => {
            Some((time(table, r, b)? - time(table, r, a)?) as f64 / HOUR_US)
        }
        Expr::HoursUntil(a, at) => Some((at - time(table, r, a)?) as f64 / HOUR_US),
        Expr::Product(a, b) => Some(float(&r.column(table, a))? * float(&r.column(table, b))?),
    }
}

fn holds(table: CanonicalTable, r: &Row<'_>, c: &Cond) -> bool {
    match c {
        Cond::In(col, values) => match value(table, r, *col) {
            Cell::Text(v) => values.contains(&v),
            _ => false,
        },
        Cond::IsNull(col) => value(table, r, *col) == Cell::Null,
        Cond::Is(col, want) => r.column(table, col) == Cell::Bool(*want),
        Cond::Within { column, from, to } => time(table, r, column)
            .is_some_and(|t| from.is_none_or(|f| t >= f) && to.is_none_or(|e| t < e)),
        Cond::AtMost(e, limit) => eval(table, r, e).is_some_and(|v| v <= *limit),
        Cond::Search(s) => {
            let needle = s.trim().to_lowercase();
            needle.is_empty()
                || r.key.2.to_lowercase().contains(&needle)
                || table.columns().iter().zip(&r.version.cells).any(|(c, v)| {
                    table.searched_columns().contains(&c.name)
                        && matches!(v, Cell::Text(s) if s.to_lowercase().contains(&needle))
                })
        }
        Cond::Not(c) => !holds(table, r, c),
        Cond::All(cs) => cs.iter().all(|c| holds(table, r, c)),
        Cond::Any(cs) => cs.iter().any(|c| holds(table, r, c)),
    }
}

fn dim_key(table: CanonicalTable, r: &Row<'_>, d: &Dim) -> Cell {
    match d {
        Dim::Value(c) => value(table, r, *c),
        Dim::Edges { column, edges } => {
            time(table, r, column).map_or(Cell::Null, |t| Cell::Int(edge_key(t, edges)))
        }
        Dim::Steps { column, origin, width, shifts } => time(table, r, column)
            .map_or(Cell::Null, |t| Cell::Int(step_key(t, *origin, *width, shifts))),
    }
}
