//! The warehouse contract, written once and run against every [`Warehouse`].
//!
//! Each case is a public async function taking a factory that opens a fresh, empty
//! warehouse. A backend's test file runs them all with one line:
//!
//! ```text
//! avesa_warehouse::warehouse_conformance!(open_warehouse);
//! ```
//!
//! where `open_warehouse` is an `async fn() -> (Guard, Arc<dyn Warehouse>)` (the guard
//! keeps the backend's files or database alive). The SCD2 property test compares the
//! backend with [`Model`], a small reference model written here, over random batches:
//! updates, deletions, resurrections, repeats, in any order, applied any number of times.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::record_batch::RecordBatch;
use avesa_model::{CanonicalTable, ColumnType, TenantId};
use chrono::NaiveDateTime;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::present::{Cell, timestamp_text};
use crate::*;

/// Runs every case of the suite as its own `#[tokio::test]`.
#[macro_export]
macro_rules! warehouse_conformance {
    ($open:path) => {
        $crate::warehouse_conformance!(@cases $open;
            versions_deletions_as_of_and_tenants,
            records_are_presented_the_same_way,
            lists_page_sort_and_search,
            every_page_matches_the_reference_order,
            aggregates_match_the_reference,
            aggregates_check_their_columns,
            company_names_join_as_of_the_same_instant,
            analytics_count_current_records_of_one_tenant,
            key_scan_ids_and_version_counts,
            purge_removes_one_tenants_table_only,
            bad_requests_are_client_errors,
            scd2_matches_the_reference_model,
            apply_is_idempotent_and_order_independent,
            reordering_changes_no_answer,
        );
    };
    (@cases $open:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                $crate::conformance::$case(|| $open()).await;
            }
        )*
    };
}

/// Opens a fresh, empty warehouse: any `Fn() -> impl Future<Output = (Guard, Arc<dyn
/// Warehouse>)>` (the guard keeps the backend's files or database alive).
pub trait Open {
    type Guard;
    fn open(&self) -> impl Future<Output = (Self::Guard, Arc<dyn Warehouse>)>;
}

impl<F, Fut, G> Open for F
where
    F: Fn() -> Fut,
    Fut: Future<Output = (G, Arc<dyn Warehouse>)>,
{
    type Guard = G;
    fn open(&self) -> impl Future<Output = (G, Arc<dyn Warehouse>)> {
        self()
    }
}

/// Seconds after this instant are the tests' clock.
const EPOCH_SECS: i64 = 1_700_000_000;

fn micros(secs: i64) -> i64 {
    (EPOCH_SECS + secs) * 1_000_000
}

/// The instant `secs` after the tests' epoch.
pub fn at(secs: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp(EPOCH_SECS + secs, 0).expect("in range").naive_utc()
}

fn text_at(secs: i64) -> Value {
    Value::String(timestamp_text(micros(secs)).expect("in range"))
}

fn tenant(s: &str) -> TenantId {
    TenantId::new(s).expect("a valid tenant id")
}

fn id(s: &str) -> EntityId {
    s.parse().expect("a valid entity id")
}

/// One canonical row for a test batch.
#[derive(Clone, Debug)]
pub struct Row {
    pub tenant: &'static str,
    pub service: &'static str,
    pub id: String,
    /// Seconds after the epoch; `None` = the source gave no updated-at (never stored).
    pub updated: Option<i64>,
    pub deleted: bool,
    pub extracted: i64,
    /// Business columns; the rest are null.
    pub fields: Vec<(&'static str, Cell)>,
}

impl Row {
    pub fn new(tenant: &'static str, id: &str, updated: i64) -> Self {
        Row {
            tenant,
            service: "connectwise",
            id: id.into(),
            updated: Some(updated),
            deleted: false,
            extracted: updated,
            fields: vec![],
        }
    }

    pub fn service(mut self, s: &'static str) -> Self {
        self.service = s;
        self
    }

    pub fn deleted(mut self) -> Self {
        self.deleted = true;
        self
    }

    pub fn extracted(mut self, secs: i64) -> Self {
        self.extracted = secs;
        self
    }

    pub fn text(mut self, col: &'static str, v: &str) -> Self {
        self.fields.push((col, Cell::Text(v.into())));
        self
    }

    pub fn float(mut self, col: &'static str, v: f64) -> Self {
        self.fields.push((col, Cell::Float(v)));
        self
    }

    pub fn int(mut self, col: &'static str, v: i64) -> Self {
        self.fields.push((col, Cell::Int(v)));
        self
    }

    pub fn flag(mut self, col: &'static str, v: bool) -> Self {
        self.fields.push((col, Cell::Bool(v)));
        self
    }

    pub fn time(mut self, col: &'static str, secs: i64) -> Self {
        self.fields.push((col, Cell::Timestamp(micros(secs))));
        self
    }

    fn field(&self, col: &str) -> Option<&Cell> {
        self.fields.iter().find(|(c, _)| *c == col).map(|(_, v)| v)
    }

    /// A deterministic hash of the business columns, as the transform computes one.
    fn hash(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in format!("{:?}{}", self.fields, self.deleted).bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        format!("{h:016x}")
    }
}

/// An Arrow batch of `table`'s canonical schema holding `rows`.
pub fn batch(table: CanonicalTable, rows: &[Row]) -> RecordBatch {
    let schema = table.arrow_schema();
    let cols: Vec<ArrayRef> = table
        .all_columns()
        .map(|c| -> ArrayRef {
            let cell = |r: &Row| -> Cell {
                match c.name {
                    "tenant_id" => Cell::Text(r.tenant.into()),
                    "source_service" => Cell::Text(r.service.into()),
                    "source_id" => Cell::Text(r.id.clone()),
                    "source_updated_at" => {
                        r.updated.map_or(Cell::Null, |u| Cell::Timestamp(micros(u)))
                    }
                    "is_deleted" => Cell::Bool(r.deleted),
                    "record_hash" => Cell::Text(r.hash()),
                    "extracted_at" => Cell::Timestamp(micros(r.extracted)),
                    "chunk_id" => Cell::Text("conformance".into()),
                    name => r.field(name).cloned().unwrap_or(Cell::Null),
                }
            };
            match c.ty {
                ColumnType::Text => {
                    Arc::new(StringArray::from_iter(rows.iter().map(|r| match cell(r) {
                        Cell::Text(s) => Some(s),
                        _ => None,
                    })))
                }
                ColumnType::Int => {
                    Arc::new(Int64Array::from_iter(rows.iter().map(|r| match cell(r) {
                        Cell::Int(i) => Some(i),
                        _ => None,
                    })))
                }
                ColumnType::Float => {
                    Arc::new(Float64Array::from_iter(rows.iter().map(|r| match cell(r) {
                        Cell::Float(f) => Some(f),
                        _ => None,
                    })))
                }
                ColumnType::Bool => {
                    Arc::new(BooleanArray::from_iter(rows.iter().map(|r| match cell(r) {
                        Cell::Bool(b) => Some(b),
                        _ => None,
                    })))
                }
                ColumnType::Timestamp => Arc::new(TimestampMicrosecondArray::from_iter(
                    rows.iter().map(|r| match cell(r) {
                        Cell::Timestamp(t) => Some(t),
                        _ => None,
                    }),
                )),
            }
        })
        .collect();
    RecordBatch::try_new(schema, cols).expect("rows fit the canonical schema")
}

async fn apply(wh: &dyn Warehouse, table: CanonicalTable, rows: &[Row]) -> ApplyReport {
    wh.apply(table, batch(table, rows)).await.expect("apply")
}

fn company(t: &'static str, id: &str, updated: i64, name: &str) -> Row {
    Row::new(t, id, updated).text("name", name)
}

pub async fn versions_deletions_as_of_and_tenants(open: impl Open) {
    let (_g, wh) = open.open().await;
    let wh = wh.as_ref();
    let t = CanonicalTable::Companies;
    let (a, b) = (tenant("alpha"), tenant("beta"));
    let r = apply(
        wh,
        t,
        &[
            company("alpha", "1", 10, "Acme"),
            company("alpha", "2", 10, "Bolt"),
            company("beta", "1", 10, "Beta One"),
        ],
    )
    .await;
    assert_eq!(r, ApplyReport { rows: 3, inserted: 3 });
    // A change, a deletion, and a replay of the first batch.
    assert_eq!(apply(wh, t, &[company("alpha", "1", 20, "Acme Corp")]).await.inserted, 1);
    assert_eq!(apply(wh, t, &[company("alpha", "2", 30, "Bolt").deleted()]).await.inserted, 1);
    let replay = apply(wh, t, &[company("alpha", "1", 10, "Acme")]).await;
    assert_eq!(replay, ApplyReport { rows: 1, inserted: 0 }, "a replayed batch adds nothing");
    assert_eq!(apply(wh, t, &[]).await, ApplyReport::default());

    let page = wh.list(&a, t, &ListQuery::default()).await.unwrap();
    assert_eq!(page.total, 1, "the deleted company is not current");
    assert_eq!(page.items[0]["name"], "Acme Corp");
    assert_eq!(page.items[0]["id"], "connectwise:1");

    let hist = wh.history(&a, t, &id("connectwise:1")).await.unwrap();
    assert_eq!(hist.len(), 2);
    assert_eq!(hist[0]["valid_from"], text_at(10));
    assert_eq!(hist[0]["valid_to"], text_at(20));
    assert_eq!(hist[1]["valid_from"], text_at(20));
    assert_eq!(hist[1]["valid_to"], Value::Null);
    assert_eq!((&hist[0]["is_current"], &hist[1]["is_current"]), (&json!(false), &json!(true)));
    let deleted = wh.history(&a, t, &id("connectwise:2")).await.unwrap();
    assert_eq!(deleted.len(), 2);
    assert_eq!(
        (&deleted[1]["is_deleted"], &deleted[1]["is_current"]),
        (&json!(true), &json!(true))
    );

    // As of before the change and before the deletion; at an instant a version starts,
    // that version.
    let old = wh.get(&a, t, &id("connectwise:1"), Some(at(15))).await.unwrap().unwrap();
    assert_eq!(old["name"], "Acme");
    let edge = wh.get(&a, t, &id("connectwise:1"), Some(at(20))).await.unwrap().unwrap();
    assert_eq!(edge["name"], "Acme Corp");
    assert!(wh.get(&a, t, &id("connectwise:1"), Some(at(9))).await.unwrap().is_none());
    assert!(wh.get(&a, t, &id("connectwise:2"), Some(at(25))).await.unwrap().is_some());
    assert!(wh.get(&a, t, &id("connectwise:2"), Some(at(30))).await.unwrap().is_none());
    assert!(wh.get(&a, t, &id("connectwise:2"), None).await.unwrap().is_none());
    let q = ListQuery { as_of: Some(at(15)), ..Default::default() };
    assert_eq!(wh.list(&a, t, &q).await.unwrap().total, 2);

    // Tenant scoping: beta's "1" is beta's, alpha's "2" is invisible to beta.
    let beta1 = wh.get(&b, t, &id("connectwise:1"), None).await.unwrap().unwrap();
    assert_eq!(beta1["name"], "Beta One");
    assert!(wh.history(&b, t, &id("connectwise:2")).await.unwrap().is_empty());
    assert_eq!(wh.list(&b, t, &ListQuery::default()).await.unwrap().total, 1);
    assert!(wh.get(&tenant("gamma"), t, &id("connectwise:1"), None).await.unwrap().is_none());
    // Same source id, another service: another record.
    apply(wh, t, &[company("alpha", "1", 40, "Other").service("servicenow")]).await;
    assert_eq!(wh.list(&a, t, &ListQuery::default()).await.unwrap().total, 2);
    assert_eq!(
        wh.get(&a, t, &id("connectwise:1"), None).await.unwrap().unwrap()["name"],
        "Acme Corp"
    );
}

pub async fn records_are_presented_the_same_way(open: impl Open) {
    let (_g, wh) = open.open().await;
    let wh = wh.as_ref();
    apply(
        wh,
        CanonicalTable::Companies,
        &[company("alpha", "7", 5, "Acme")
            .float("annual_revenue", 1.5e6)
            .int("employee_count", 42)],
    )
    .await;
    apply(
        wh,
        CanonicalTable::Tickets,
        &[Row::new("alpha", "241000", 100)
            .text("company_id", "7")
            .text("summary", "Printer \"jam\" ünïcode")
            .text("status", "New")
            .time("opened_at", 90)
            .flag("closed", false)
            // Not exactly representable in decimal: a backend must hand back the very
            // same double (a text round trip through a fast float parser may not).
            .float("budget_hours", 17940.0 / 3600.0)],
    )
    .await;
    let a = tenant("alpha");
    let got = wh
        .get(&a, CanonicalTable::Tickets, &id("connectwise:241000"), None)
        .await
        .unwrap()
        .unwrap();
    let mut expected = serde_json::Map::new();
    for c in CanonicalTable::Tickets.columns() {
        expected.insert(c.name.into(), Value::Null);
    }
    for (k, v) in [
        ("id", json!("connectwise:241000")),
        ("source_service", json!("connectwise")),
        ("source_id", json!("241000")),
        ("source_updated_at", text_at(100)),
        ("company_id", json!("connectwise:7")),
        ("summary", json!("Printer \"jam\" ünïcode")),
        ("status", json!("New")),
        ("opened_at", text_at(90)),
        ("closed", json!(false)),
        ("budget_hours", json!(17940.0 / 3600.0)),
        ("company_name", json!("Acme")),
    ] {
        expected.insert(k.into(), v);
    }
    assert_eq!(Value::Object(got), Value::Object(expected), "a ticket, exactly");
    let c =
        wh.get(&a, CanonicalTable::Companies, &id("connectwise:7"), None).await.unwrap().unwrap();
    assert_eq!(c["annual_revenue"], json!(1.5e6));
    assert_eq!(c["employee_count"], json!(42));
    assert!(!c.contains_key("company_name"));
    let h = wh.history(&a, CanonicalTable::Tickets, &id("connectwise:241000")).await.unwrap();
    assert_eq!(h.len(), 1);
    for k in ["valid_from", "valid_to", "is_deleted", "is_current", "company_name"] {
        assert!(h[0].contains_key(k), "history has {k}");
    }
    assert_eq!(
        (&h[0]["valid_from"], &h[0]["valid_to"], &h[0]["is_deleted"], &h[0]["is_current"]),
        (&text_at(100), &Value::Null, &json!(false), &json!(true))
    );
}

pub async fn lists_page_sort_and_search(open: impl Open) {
    let (_g, wh) = open.open().await;
    let wh = wh.as_ref();
    let t = CanonicalTable::Companies;
    let mut rows = vec![];
    for (i, name) in
        ["Delta", "alpha", "Charlie", "Bravo", "Echo 100% off", "foxtrot_x"].iter().enumerate()
    {
        let mut r = company("alpha", &(i * 5 + 2).to_string(), 10, name);
        if i != 2 {
            r = r.text("city", if i % 2 == 0 { "Leeds" } else { "York" });
        }
        rows.push(r);
    }
    rows.push(company("alpha", "x-9", 10, "Zulu"));
    rows.push(company("beta", "1", 10, "Alpha of beta"));
    apply(wh, t, &rows).await;
    let a = tenant("alpha");
    let list = |q: ListQuery| {
        let a = a.clone();
        async move { wh.list(&a, t, &q).await.unwrap() }
    };
    let ids = |p: &Page| {
        p.items.iter().map(|r| r["source_id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    // Numeric ids sort numerically; ids that are not numbers come last.
    let all = list(ListQuery::default()).await;
    assert_eq!(all.total, 7);
    assert_eq!(ids(&all), ["2", "7", "12", "17", "22", "27", "x-9"]);
    let p2 = list(ListQuery { page: 2, page_size: 3, ..Default::default() }).await;
    assert_eq!((p2.page, p2.page_size, p2.total), (2, 3, 7));
    assert_eq!(ids(&p2), ["17", "22", "27"]);
    let beyond = list(ListQuery { page: 9, page_size: 3, ..Default::default() }).await;
    assert!(beyond.items.is_empty());
    assert_eq!(beyond.total, 7);
    let by_name = list(ListQuery { sort: Some("name".into()), ..Default::default() }).await;
    let names: Vec<&str> = by_name.items.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Bravo", "Charlie", "Delta", "Echo 100% off", "Zulu", "alpha", "foxtrot_x"]);
    // Nulls last in both directions, ties by id.
    let by_city = list(ListQuery { sort: Some("city".into()), ..Default::default() }).await;
    assert_eq!(ids(&by_city), ["2", "22", "17", "27", "7", "12", "x-9"], "ties by id as text");
    let by_city_desc =
        list(ListQuery { sort: Some("city".into()), descending: true, ..Default::default() }).await;
    assert_eq!(ids(&by_city_desc), ["17", "27", "7", "2", "22", "12", "x-9"]);
    let desc =
        list(ListQuery { sort: Some("id".into()), descending: true, ..Default::default() }).await;
    assert_eq!(ids(&desc)[..6], ["27", "22", "17", "12", "7", "2"]);
    // Search: case-insensitive substring of text columns or the id; wildcards are literal.
    let s = |q: &str| ListQuery { search: Some(q.into()), ..Default::default() };
    assert_eq!(ids(&list(s("ALPHA")).await), ["7"]);
    assert_eq!(ids(&list(s("york")).await), ["7", "17", "27"]);
    assert_eq!(ids(&list(s("100%")).await), ["22"]);
    assert_eq!(list(s("0%o")).await.total, 0, "% is literal");
    assert_eq!(ids(&list(s("t_x")).await), ["27"]);
    assert_eq!(list(s("o_t")).await.total, 0, "_ is literal");
    assert_eq!(ids(&list(s("x-9")).await), ["x-9"]);
    assert_eq!(list(s("   ")).await.total, 7, "a blank search is no search");
    assert_eq!(list(s("beta")).await.total, 0, "another tenant's rows are never found");
}

/// Every page of every order, ascending and descending, now and as of an earlier
/// instant, with and without a search, is the page the reference model gives: on data
/// full of ties and nulls in the sort keys, ids that are and are not numbers, the same id
/// in two services, deleted records and another tenant's rows. (Backends may compute a
/// page by bounding its leading key first; pages that end inside a run of equal keys or
/// in the nulls are where that could go wrong.)
pub async fn every_page_matches_the_reference_order(open: impl Open) {
    let (_g, wh) = open.open().await;
    let wh = wh.as_ref();
    let reference = MemoryWarehouse::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let companies = [
        company("alpha", "1", 10, "Acme"),
        company("alpha", "2", 10, "Acme"),
        company("alpha", "3", 10, "Zed"),
        company("beta", "1", 10, "Beta Co"),
    ];
    for w in [wh, &reference as &dyn Warehouse] {
        apply(w, CanonicalTable::Companies, &companies).await;
    }
    let t = CanonicalTable::Tickets;
    let ticket = |rng: &mut rand::rngs::StdRng, tenant: &'static str, id: String, updated: i64| {
        let mut r = Row::new(tenant, &id, updated);
        if rng.gen_bool(0.2) {
            r = r.service("servicenow");
        }
        if let Some(opened) = [Some(100), Some(200), Some(300), None].choose(rng).unwrap() {
            r = r.time("opened_at", *opened);
        }
        if let Some(status) = [Some("New"), Some("Closed"), Some("new"), None].choose(rng).unwrap()
        {
            r = r.text("status", status);
        }
        if let Some(h) = [Some(1.0), Some(2.5), None].choose(rng).unwrap() {
            r = r.float("budget_hours", *h);
        }
        if let Some(c) = [Some(true), Some(false), None].choose(rng).unwrap() {
            r = r.flag("closed", *c);
        }
        if let Some(co) = [Some("1"), Some("2"), Some("3"), Some("99"), None].choose(rng).unwrap() {
            r = r.text("company_id", co);
        }
        r.text("summary", if rng.gen_bool(0.3) { "printer jam" } else { "password reset" })
    };
    let mut first = Vec::new();
    for i in 0..60 {
        let id = if i % 13 == 0 { format!("x-{i}") } else { (i * 7 % 50).to_string() };
        let tenant = if i % 9 == 0 { "beta" } else { "alpha" };
        first.push(ticket(&mut rng, tenant, id, 100));
    }
    // Later: some records change, some are deleted, a few are new.
    let mut second = Vec::new();
    for r in &first {
        if !rng.gen_bool(0.3) {
            continue;
        }
        let mut n = ticket(&mut rng, r.tenant, r.id.clone(), 500).service(r.service);
        if rng.gen_bool(0.3) {
            n = n.deleted();
        }
        second.push(n);
    }
    for i in 0..8 {
        second.push(ticket(&mut rng, "alpha", format!("{}", 100 + i), 500));
    }
    for batch_rows in [&first, &second] {
        // Rows of one key once per batch: the first occurrence wins.
        let mut seen = BTreeSet::new();
        let rows: Vec<Row> = batch_rows
            .iter()
            .filter(|r| seen.insert((r.tenant, r.service, r.id.clone())))
            .cloned()
            .collect();
        for w in [wh, &reference as &dyn Warehouse] {
            apply(w, t, &rows).await;
        }
    }
    let a = tenant("alpha");
    let keys = |p: &Page| -> Vec<String> {
        p.items
            .iter()
            .map(|r| {
                format!(
                    "{}:{}",
                    r["source_service"].as_str().unwrap(),
                    r["source_id"].as_str().unwrap()
                )
            })
            .collect()
    };
    let mut checked = 0;
    for as_of in [None, Some(at(300))] {
        let filtered = vec![
            crate::aggregate::Cond::In(
                crate::aggregate::Col::Column("status"),
                vec!["New".into(), "Closed".into()],
            ),
            crate::aggregate::Cond::negate(crate::aggregate::Cond::Is("closed", true)),
            crate::aggregate::Cond::Within {
                column: "opened_at",
                from: Some(micros(150)),
                to: None,
            },
        ];
        for (search, filter) in [
            (None, vec![]),
            (Some("printer"), vec![]),
            (Some("printer"), filtered.clone()),
            (None, filtered.clone()),
        ] {
            for sort in ["id", "opened_at", "status", "budget_hours", "closed", "company_name"] {
                for descending in [false, true] {
                    for (page_size, pages) in [(4, 6), (25, 3)] {
                        for page in 1..=pages {
                            let q = ListQuery {
                                page,
                                page_size,
                                search: search.map(str::to_owned),
                                sort: Some(sort.into()),
                                descending,
                                as_of,
                                filter: filter.clone(),
                            };
                            let want = reference.list(&a, t, &q).await.unwrap();
                            let got = wh.list(&a, t, &q).await.unwrap();
                            assert_eq!((keys(&got), got.total), (keys(&want), want.total), "{q:?}");
                            assert_eq!(got.items, want.items, "{q:?}");
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(checked, 2 * 4 * 6 * 2 * 9);
}

/// Every part of the aggregate vocabulary, alone and combined, over data full of nulls,
/// ties, deletions, later versions and two tenants, now and as of an earlier instant:
/// the backend answers what the reference model answers.
pub async fn aggregates_match_the_reference(open: impl Open) {
    use crate::aggregate::*;
    let (_g, wh) = open.open().await;
    let wh = wh.as_ref();
    let reference = MemoryWarehouse::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    const HOUR: i64 = 3600;
    let day = 24 * HOUR;
    let ticket = |rng: &mut rand::rngs::StdRng, tenant: &'static str, id: String, updated: i64| {
        let mut r = Row::new(tenant, &id, updated);
        if rng.gen_bool(0.25) {
            r = r.service("servicenow");
        }
        if rng.gen_bool(0.9) {
            r = r.time("opened_at", rng.gen_range(0..10 * day) / 900 * 900);
        }
        if let Some(status) =
            [Some("New"), Some("Closed"), Some("In Progress"), None].choose(rng).unwrap()
        {
            r = r.text("status", status);
        }
        if let Some(b) = [Some("Help Desk"), Some("Projects"), None].choose(rng).unwrap() {
            r = r.text("board", b);
        }
        match [Some(true), Some(false), None].choose(rng).unwrap() {
            Some(true) => {
                r = r.flag("closed", true);
                if rng.gen_bool(0.8) {
                    r = r.time("closed_at", 10 * day + rng.gen_range(0..4 * day) / 900 * 900);
                }
            }
            Some(false) => r = r.flag("closed", false),
            None => {}
        }
        if let Some(h) = [Some(0.25), Some(1.5), Some(2.0), None].choose(rng).unwrap() {
            r = r.float("budget_hours", *h);
        }
        if let Some(m) = [Some(true), Some(false), None].choose(rng).unwrap() {
            r = r.flag("sla_met", *m);
        }
        if let Some(co) = [Some("1"), Some("2"), Some("3"), None].choose(rng).unwrap() {
            r = r.text("company_id", co);
        }
        if let Some(o) = [Some("7"), Some("8"), None].choose(rng).unwrap() {
            r = r.text("owner_id", o);
        }
        r.text("summary", if rng.gen_bool(0.3) { "Printer jam" } else { "password reset" })
    };
    let entry = |rng: &mut rand::rngs::StdRng, tenant: &'static str, id: String, updated: i64| {
        let mut r = Row::new(tenant, &id, updated);
        if rng.gen_bool(0.2) {
            r = r.service("servicenow");
        }
        if rng.gen_bool(0.95) {
            r = r.time("time_start", rng.gen_range(0..10 * day) / 900 * 900);
        }
        if let Some(m) = [Some("7"), Some("8"), Some("9"), None].choose(rng).unwrap() {
            r = r.text("member_id", m);
        }
        if let Some(b) =
            [Some("Billable"), Some("DoNotBill"), Some("NoCharge"), None].choose(rng).unwrap()
        {
            r = r.text("billable_option", b);
        }
        if let Some(h) = [Some(0.25), Some(0.5), Some(1.75), None].choose(rng).unwrap() {
            r = r.float("actual_hours", *h).float("billed_hours", *h);
        }
        if let Some(rate) = [Some(100.0), Some(150.0), None].choose(rng).unwrap() {
            r = r.float("hourly_rate", *rate);
        }
        if let Some(co) = [Some("1"), Some("2"), None].choose(rng).unwrap() {
            r = r.text("company_id", co);
        }
        r
    };
    for (table, make) in [
        (
            CanonicalTable::Tickets,
            &ticket as &dyn Fn(&mut rand::rngs::StdRng, &'static str, String, i64) -> Row,
        ),
        (CanonicalTable::TimeEntries, &entry),
    ] {
        let mut first = Vec::new();
        for i in 0..120 {
            let tenant = if i % 7 == 0 { "beta" } else { "alpha" };
            first.push(make(&mut rng, tenant, i.to_string(), 100));
        }
        let mut second = Vec::new();
        for r in &first {
            if rng.gen_bool(0.35) {
                let mut n = make(&mut rng, r.tenant, r.id.clone(), 20 * day).service(r.service);
                if rng.gen_bool(0.25) {
                    n = n.deleted();
                }
                second.push(n);
            }
        }
        for batch_rows in [&first, &second] {
            let mut seen = BTreeSet::new();
            let rows: Vec<Row> = batch_rows
                .iter()
                .filter(|r| seen.insert((r.tenant, r.service, r.id.clone())))
                .cloned()
                .collect();
            for w in [wh, &reference as &dyn Warehouse] {
                apply(w, table, &rows).await;
            }
        }
    }
    let us = micros;
    let t = CanonicalTable::Tickets;
    let e = CanonicalTable::TimeEntries;
    let q = |table, filter: Vec<Cond>, group: Vec<Dim>, measures: Vec<Measure>| Aggregate {
        table,
        as_of: None,
        filter,
        group,
        measures,
        top: None,
    };
    let open_ = Cond::negate(Cond::Is("closed", true));
    let every_measure = vec![
        Measure::new(Agg::Count),
        Measure::when(Agg::Count, Cond::Is("closed", true)),
        Measure::when(Agg::Count, open_.clone()),
        Measure::new(Agg::Sum(Expr::Number("budget_hours"))),
        Measure::new(Agg::Avg(Expr::Flag("sla_met"))),
        Measure::new(Agg::Median(Expr::HoursBetween("opened_at", "closed_at"))),
        Measure::when(Agg::Median(Expr::Number("budget_hours")), Cond::Is("closed", false)),
        Measure::new(Agg::Min(Expr::Number("budget_hours"))),
        Measure::new(Agg::Max(Expr::HoursUntil("opened_at", us(12 * day)))),
        Measure::new(Agg::Avg(Expr::HoursUntil("opened_at", us(12 * day)))),
    ];
    let window =
        Cond::Within { column: "opened_at", from: Some(us(2 * day)), to: Some(us(8 * day)) };
    let shifts = vec![
        Shift { at: i64::MIN, offset: -5 * HOUR * 1_000_000 },
        Shift { at: us(4 * day + 7 * HOUR), offset: -4 * HOUR * 1_000_000 },
    ];
    let mut cases = vec![
        q(t, vec![], vec![], every_measure.clone()),
        q(t, vec![window.clone()], vec![], every_measure.clone()),
        q(t, vec![], vec![Dim::Value(Col::Column("status"))], every_measure.clone()),
        q(t, vec![window.clone()], vec![Dim::Value(Col::Column("status"))], every_measure.clone()),
        // The same rows as cases above, other measures: answered together, fused.
        q(
            t,
            vec![window.clone()],
            vec![],
            vec![
                Measure::when(Agg::Avg(Expr::Flag("sla_met")), Cond::Is("closed", true)),
                Measure::new(Agg::Max(Expr::Number("budget_hours"))),
            ],
        ),
        q(
            t,
            vec![window.clone()],
            vec![Dim::Value(Col::Column("status"))],
            vec![Measure::new(Agg::Median(Expr::Number("budget_hours")))],
        ),
        q(
            t,
            vec![],
            vec![Dim::Value(Col::Column("closed")), Dim::Value(Col::Service)],
            vec![Measure::new(Agg::Count), Measure::new(Agg::Sum(Expr::Number("budget_hours")))],
        ),
        q(
            t,
            vec![Cond::In(
                Col::Ref("company_id"),
                vec!["connectwise:1".into(), "servicenow:2".into()],
            )],
            vec![Dim::Value(Col::Ref("company_id")), Dim::Value(Col::Ref("owner_id"))],
            vec![Measure::new(Agg::Count)],
        ),
        q(
            t,
            vec![window.clone()],
            vec![Dim::Steps {
                column: "opened_at",
                origin: us(0),
                width: day * 1_000_000,
                shifts: shifts.clone(),
            }],
            vec![Measure::new(Agg::Count), Measure::when(Agg::Count, Cond::Is("closed", true))],
        ),
        q(
            t,
            vec![],
            vec![Dim::Steps {
                column: "closed_at",
                origin: us(-3 * day),
                width: 7 * day * 1_000_000,
                shifts: shifts.clone(),
            }],
            vec![
                Measure::new(Agg::Count),
                Measure::new(Agg::Median(Expr::HoursBetween("opened_at", "closed_at"))),
            ],
        ),
        q(
            t,
            vec![open_.clone()],
            vec![Dim::Edges {
                column: "opened_at",
                edges: vec![us(2 * day), us(5 * day), us(9 * day)],
            }],
            vec![
                Measure::new(Agg::Count),
                Measure::new(Agg::Avg(Expr::HoursUntil("opened_at", us(12 * day)))),
            ],
        ),
        q(
            t,
            vec![
                Cond::Search("PRINT".into()),
                Cond::Any(vec![
                    Cond::IsNull(Col::Column("board")),
                    Cond::In(Col::Column("board"), vec!["Projects".into()]),
                ]),
            ],
            vec![Dim::Value(Col::Column("board"))],
            vec![Measure::new(Agg::Count)],
        ),
        q(
            t,
            vec![
                Cond::AtMost(Expr::HoursBetween("opened_at", "closed_at"), 100.0),
                Cond::negate(Cond::All(vec![])),
            ],
            vec![],
            vec![Measure::new(Agg::Count)],
        ),
        q(
            t,
            vec![Cond::AtMost(Expr::HoursBetween("opened_at", "closed_at"), 100.0)],
            vec![Dim::Value(Col::Id)],
            vec![Measure::new(Agg::Count)],
        ),
        q(t, vec![Cond::In(Col::Service, vec![])], vec![], every_measure.clone()),
        // Open at an instant, read from the dates (a backlog).
        q(
            t,
            vec![Cond::All(vec![
                Cond::Any(vec![
                    Cond::IsNull(Col::Column("opened_at")),
                    Cond::Within { column: "opened_at", from: None, to: Some(us(5 * day)) },
                ]),
                Cond::Any(vec![
                    Cond::negate(Cond::Is("closed", true)),
                    Cond::Within { column: "closed_at", from: Some(us(11 * day)), to: None },
                ]),
            ])],
            vec![Dim::Value(Col::Column("board"))],
            vec![
                Measure::new(Agg::Count),
                Measure::new(Agg::Avg(Expr::HoursUntil("opened_at", us(5 * day)))),
            ],
        ),
        q(
            t,
            vec![Cond::In(Col::Id, vec!["connectwise:3".into(), "servicenow:4".into()])],
            vec![],
            vec![Measure::new(Agg::Count)],
        ),
        q(
            e,
            vec![Cond::Within { column: "time_start", from: Some(us(day)), to: None }],
            vec![Dim::Value(Col::Ref("member_id"))],
            vec![
                Measure::new(Agg::Sum(Expr::Number("actual_hours"))),
                Measure::when(
                    Agg::Sum(Expr::Number("actual_hours")),
                    Cond::In(Col::Column("billable_option"), vec!["Billable".into()]),
                ),
                Measure::when(
                    Agg::Sum(Expr::Product("billed_hours", "hourly_rate")),
                    Cond::In(Col::Column("billable_option"), vec!["Billable".into()]),
                ),
            ],
        ),
        q(
            e,
            vec![],
            vec![
                Dim::Value(Col::Column("billable_option")),
                Dim::Steps {
                    column: "time_start",
                    origin: us(0),
                    width: day * 1_000_000,
                    shifts: vec![],
                },
            ],
            vec![Measure::new(Agg::Count), Measure::new(Agg::Sum(Expr::Number("actual_hours")))],
        ),
        // One offset all period long (a zone without a change in it).
        q(
            e,
            vec![],
            vec![Dim::Steps {
                column: "time_start",
                origin: us(0),
                width: day * 1_000_000,
                shifts: vec![Shift { at: i64::MIN, offset: 2 * HOUR * 1_000_000 }],
            }],
            vec![Measure::new(Agg::Count)],
        ),
    ];
    let mut top = q(
        e,
        vec![],
        vec![Dim::Value(Col::Ref("company_id"))],
        vec![Measure::new(Agg::Count), Measure::new(Agg::Sum(Expr::Number("actual_hours")))],
    );
    top.top = Some(Top { measure: 1, descending: true, limit: 2 });
    cases.push(top.clone());
    top.top = Some(Top { measure: 0, descending: false, limit: 10 });
    cases.push(top);
    // Periods side by side on the same filter (a period and the previous one, a series'
    // buckets): answered together, they share one scan grouped by period.
    let board = Cond::In(Col::Column("board"), vec!["Help Desk".into(), "Projects".into()]);
    let within = |column, from: i64, to: i64| Cond::Within {
        column,
        from: Some(us(from * day)),
        to: Some(us(to * day)),
    };
    for (from, to) in [(0, 4), (4, 9), (9, 30), (30, 31)] {
        cases.push(q(
            t,
            vec![board.clone(), within("opened_at", from, to)],
            vec![Dim::Value(Col::Column("status"))],
            vec![
                Measure::new(Agg::Count),
                Measure::new(Agg::Median(Expr::HoursBetween("opened_at", "closed_at"))),
            ],
        ));
        cases.push(q(
            e,
            vec![within("time_start", from, to)],
            vec![],
            vec![Measure::new(Agg::Sum(Expr::Number("actual_hours"))), Measure::new(Agg::Count)],
        ));
    }
    // Ranges with a gap between them (a period to now and the previous one).
    for (from, to) in [(10, 12), (13, 15)] {
        cases.push(q(
            e,
            vec![within("time_start", from, to)],
            vec![Dim::Value(Col::Column("billable_option"))],
            vec![Measure::new(Agg::Sum(Expr::Number("actual_hours")))],
        ));
    }
    // Overlapping ranges: each its own scan.
    cases.push(q(e, vec![within("time_start", 2, 6)], vec![], vec![Measure::new(Agg::Count)]));
    cases.push(q(e, vec![within("time_start", 5, 9)], vec![], vec![Measure::new(Agg::Count)]));
    let past: Vec<Aggregate> =
        cases.iter().map(|c| Aggregate { as_of: Some(at(day)), ..c.clone() }).collect();
    cases.extend(past);
    /// The same groups in the same order, each value within rounding; how many.
    fn same_rows(what: &str, c: &Aggregate, got: &[AggRow], want: &[AggRow]) -> usize {
        let close = |a: &Option<f64>, b: &Option<f64>| match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(1.0),
            _ => false,
        };
        let keys = |rows: &[AggRow]| rows.iter().map(|r| r.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(got), keys(want), "{what} {c:?}");
        for (g, w) in got.iter().zip(want) {
            assert!(
                g.values.iter().zip(&w.values).all(|(a, b)| close(a, b)),
                "{what} {c:?}\n got  {g:?}\n want {w:?}"
            );
        }
        want.len()
    }
    let mut groups = 0;
    for tenant_id in ["alpha", "beta", "nobody"] {
        let tn = tenant(tenant_id);
        for c in &cases {
            let want = reference.aggregate(&tn, c).await.unwrap();
            let got = wh.aggregate(&tn, c).await.unwrap();
            groups += same_rows(tenant_id, c, &got, &want);
        }
        // Answered together (those reading the same rows fused), each is what it is alone.
        let all = crate::batch::aggregate_all(wh, &tn, &cases).await.unwrap();
        for (c, got) in cases.iter().zip(&all) {
            let want = reference.aggregate(&tn, c).await.unwrap();
            same_rows(&format!("fused: {tenant_id}"), c, got, &want);
        }
    }
    // A report's batch: every aggregate narrowed to one company's (or one member's) rows,
    // over periods, groups and series, now and as of an instant (a backend may read those
    // rows once for all of them).
    let company = Cond::In(Col::Ref("company_id"), vec!["connectwise:1".into()]);
    let member = Cond::In(Col::Ref("member_id"), vec!["connectwise:7".into()]);
    let mut report = Vec::new();
    for (table, narrow, column) in [(t, &company, "opened_at"), (e, &member, "time_start")] {
        for (from, to) in [(0, 5), (5, 10)] {
            report.push(q(
                table,
                vec![narrow.clone(), within(column, from, to)],
                vec![],
                vec![Measure::new(Agg::Count)],
            ));
        }
        report.push(q(
            table,
            vec![narrow.clone(), within(column, 0, 10)],
            vec![Dim::Steps {
                column,
                origin: us(0),
                width: day * 1_000_000,
                shifts: vec![Shift { at: i64::MIN, offset: 0 }],
            }],
            vec![Measure::new(Agg::Count)],
        ));
        report.push(q(
            table,
            vec![narrow.clone()],
            vec![Dim::Value(Col::Service)],
            vec![Measure::new(Agg::Count)],
        ));
    }
    report.push(q(
        e,
        vec![company.clone()],
        vec![Dim::Value(Col::Ref("member_id"))],
        vec![Measure::new(Agg::Sum(Expr::Number("actual_hours")))],
    ));
    let past: Vec<Aggregate> =
        report.iter().map(|c| Aggregate { as_of: Some(at(day)), ..c.clone() }).collect();
    report.extend(past);
    let mut reported = 0;
    for tenant_id in ["alpha", "beta", "nobody"] {
        let tn = tenant(tenant_id);
        let all = crate::batch::aggregate_all(wh, &tn, &report).await.unwrap();
        for (c, got) in report.iter().zip(&all) {
            let want = reference.aggregate(&tn, c).await.unwrap();
            reported += same_rows(&format!("report: {tenant_id}"), c, got, &want);
        }
    }
    assert!(reported > 30, "{reported}");
    // The data reaches every shape: many groups, not a suite of empty answers.
    assert!(groups > 300, "{groups}");
    let counts = reference.aggregate(&tenant("alpha"), &cases[0]).await.unwrap();
    assert!(counts[0].values.iter().all(Option::is_some), "{counts:?}");
}

/// An aggregate naming a column the table lacks, or of the wrong type, is a client error.
pub async fn aggregates_check_their_columns(open: impl Open) {
    use crate::aggregate::*;
    let (_g, wh) = open.open().await;
    let mut a = Aggregate::new(CanonicalTable::Tickets);
    a.measures.push(Measure::new(Agg::Sum(Expr::Number("summary"))));
    let r = wh.aggregate(&tenant("alpha"), &a).await;
    assert!(matches!(r, Err(WarehouseError::BadRequest(_))), "{r:?}");
}

pub async fn company_names_join_as_of_the_same_instant(open: impl Open) {
    let (_g, wh) = open.open().await;
    let wh = wh.as_ref();
    apply(
        wh,
        CanonicalTable::Companies,
        &[company("alpha", "1", 10, "Old Name"), company("beta", "1", 10, "Beta's company")],
    )
    .await;
    apply(wh, CanonicalTable::Companies, &[company("alpha", "1", 50, "New Name")]).await;
    apply(
        wh,
        CanonicalTable::Contacts,
        &[
            Row::new("alpha", "100", 20).text("company_id", "1").text("first_name", "Ann"),
            Row::new("alpha", "101", 20).text("company_id", "999").text("first_name", "Orphan"),
            Row::new("alpha", "102", 20).text("first_name", "Nobody"),
        ],
    )
    .await;
    let a = tenant("alpha");
    let t = CanonicalTable::Contacts;
    let now = wh.get(&a, t, &id("connectwise:100"), None).await.unwrap().unwrap();
    assert_eq!(now["company_name"], "New Name");
    let then = wh.get(&a, t, &id("connectwise:100"), Some(at(30))).await.unwrap().unwrap();
    assert_eq!(then["company_name"], "Old Name");
    let orphan = wh.get(&a, t, &id("connectwise:101"), None).await.unwrap().unwrap();
    assert_eq!(orphan["company_name"], Value::Null);
    let listed =
        wh.list(&a, t, &ListQuery { as_of: Some(at(30)), ..Default::default() }).await.unwrap();
    assert_eq!(listed.items[0]["company_name"], "Old Name");
    let by_company = wh
        .list(&a, t, &ListQuery { sort: Some("company_name".into()), ..Default::default() })
        .await
        .unwrap();
    let order: Vec<&str> =
        by_company.items.iter().map(|r| r["source_id"].as_str().unwrap()).collect();
    assert_eq!(order, ["100", "101", "102"], "named first, unnamed last, ties by id");
    // A company deleted since: the name as of an instant it existed, none now.
    apply(wh, CanonicalTable::Companies, &[company("alpha", "1", 60, "New Name").deleted()]).await;
    let gone = wh.get(&a, t, &id("connectwise:100"), None).await.unwrap().unwrap();
    assert_eq!(gone["company_name"], Value::Null);
    let before = wh.get(&a, t, &id("connectwise:100"), Some(at(55))).await.unwrap().unwrap();
    assert_eq!(before["company_name"], "New Name");
}

pub async fn analytics_count_current_records_of_one_tenant(open: impl Open) {
    let (_g, wh) = open.open().await;
    let wh = wh.as_ref();
    let a = tenant("alpha");
    assert_eq!(wh.dashboard(&a).await.unwrap(), DashboardStats::default());
    assert!(wh.ticket_status(&a).await.unwrap().is_empty());
    assert!(wh.top_companies(&a, 5).await.unwrap().is_empty());
    for tn in ["alpha", "beta"] {
        apply(
            wh,
            CanonicalTable::Companies,
            &[
                company(tn, "1", 1, "Acme"),
                company(tn, "2", 1, "Bolt"),
                company(tn, "3", 1, "Cog"),
                company(tn, "4", 1, "Dead"),
            ],
        )
        .await;
        apply(wh, CanonicalTable::Contacts, &[Row::new(tn, "c1", 1).text("company_id", "1")]).await;
    }
    apply(wh, CanonicalTable::Companies, &[company("alpha", "4", 2, "Dead").deleted()]).await;
    let ticket = |id: &str, company: &str, status: Option<&str>, closed: Option<bool>| {
        let mut r = Row::new("alpha", id, 5).text("company_id", company);
        if let Some(s) = status {
            r = r.text("status", s);
        }
        if let Some(c) = closed {
            r = r.flag("closed", c);
        }
        r
    };
    apply(
        wh,
        CanonicalTable::Tickets,
        &[
            ticket("t1", "1", Some("New"), Some(false)),
            ticket("t2", "1", Some("New"), None),
            ticket("t3", "1", Some("Closed"), Some(true)),
            ticket("t4", "2", Some("In Progress"), Some(false)),
            ticket("t5", "2", None, Some(true)),
            ticket("t6", "3", Some("Closed"), Some(true)),
            Row::new("beta", "t1", 5).text("company_id", "1").text("status", "New"),
        ],
    )
    .await;
    // A ticket updated since counts once, as it is now; a deleted one not at all.
    apply(
        wh,
        CanonicalTable::Tickets,
        &[ticket("t6", "3", Some("Reopened"), Some(false)).extracted(6)],
    )
    .await;
    let mut t6 = ticket("t6", "3", Some("Reopened"), Some(false));
    t6.updated = Some(7);
    apply(wh, CanonicalTable::Tickets, &[t6.clone()]).await;
    let mut t7 = ticket("t7", "3", Some("New"), Some(false));
    t7.updated = Some(8);
    apply(wh, CanonicalTable::Tickets, &[t7.clone()]).await;
    t7.updated = Some(9);
    apply(wh, CanonicalTable::Tickets, &[t7.deleted()]).await;
    let entry = |id: &str, company: &str, hours: f64, billable: &str| {
        Row::new("alpha", id, 5)
            .text("company_id", company)
            .float("actual_hours", hours)
            .text("billable_option", billable)
    };
    apply(
        wh,
        CanonicalTable::TimeEntries,
        &[
            entry("e1", "1", 1.5, "Billable"),
            entry("e2", "1", 0.25, "DoNotBill"),
            entry("e3", "2", 4.0, "Billable"),
            entry("e4", "3", 2.0, "NoCharge"),
            Row::new("alpha", "e5", 5).text("company_id", "3"),
            Row::new("beta", "e1", 5).text("company_id", "1").float("actual_hours", 100.0),
        ],
    )
    .await;
    let d = wh.dashboard(&a).await.unwrap();
    assert_eq!(
        d,
        DashboardStats {
            companies: 3,
            contacts: 1,
            tickets: 6,
            open_tickets: 4,
            closed_tickets: 2,
            time_entries: 5,
            total_hours: 7.75,
            billable_hours: 5.5,
        }
    );
    let statuses: Vec<(String, u64)> =
        wh.ticket_status(&a).await.unwrap().into_iter().map(|s| (s.status, s.count)).collect();
    let expected: Vec<(String, u64)> =
        [("New", 2), ("(none)", 1), ("Closed", 1), ("In Progress", 1), ("Reopened", 1)]
            .into_iter()
            .map(|(s, n)| (s.to_owned(), n))
            .collect();
    assert_eq!(statuses, expected, "by count, then by status");
    let top = wh.top_companies(&a, 2).await.unwrap();
    assert_eq!(
        top,
        vec![
            TopCompany {
                id: "connectwise:1".into(),
                name: "Acme".into(),
                tickets: 3,
                open_tickets: 2,
                hours: 1.75
            },
            TopCompany {
                id: "connectwise:2".into(),
                name: "Bolt".into(),
                tickets: 2,
                open_tickets: 1,
                hours: 4.0
            },
        ]
    );
    let all = wh.top_companies(&a, 10).await.unwrap();
    assert_eq!(all.len(), 3, "live companies only");
    assert_eq!((all[2].name.as_str(), all[2].tickets, all[2].hours), ("Cog", 1, 2.0));
    let beta = wh.dashboard(&tenant("beta")).await.unwrap();
    assert_eq!((beta.companies, beta.tickets, beta.total_hours), (4, 1, 100.0));
}

pub async fn key_scan_ids_and_version_counts(open: impl Open) {
    let (_g, wh) = open.open().await;
    let wh = wh.as_ref();
    let t = CanonicalTable::Members;
    apply(
        wh,
        t,
        &[
            Row::new("alpha", "1", 1).text("name", "A"),
            Row::new("alpha", "2", 1).text("name", "B"),
            Row::new("alpha", "3", 1).text("name", "C").service("servicenow"),
            Row::new("beta", "9", 1).text("name", "Z"),
        ],
    )
    .await;
    apply(
        wh,
        t,
        &[
            Row::new("alpha", "2", 2).text("name", "B").deleted(),
            Row::new("alpha", "1", 3).text("name", "A2"),
        ],
    )
    .await;
    let a = tenant("alpha");
    let mut ids = wh.current_ids(&a, t, "connectwise").await.unwrap();
    ids.sort();
    assert_eq!(ids, ["1"]);
    assert_eq!(wh.current_ids(&a, t, "servicenow").await.unwrap(), ["3"]);
    assert!(wh.current_ids(&a, t, "salesforce").await.unwrap().is_empty());
    assert_eq!(wh.version_count(&a, t).await.unwrap(), 5);
    assert_eq!(wh.version_count(&tenant("beta"), t).await.unwrap(), 1);
    assert_eq!(wh.version_count(&a, CanonicalTable::Tickets).await.unwrap(), 0);
    wh.ping().await.unwrap();
}

/// A purge removes every version of one tenant's table, nothing else; the table then
/// takes the same rows again as if new.
pub async fn purge_removes_one_tenants_table_only(open: impl Open) {
    let (_g, wh) = open.open().await;
    let wh = wh.as_ref();
    let t = CanonicalTable::Members;
    let rows = [
        Row::new("alpha", "1", 1).text("name", "A"),
        Row::new("alpha", "1", 2).text("name", "A2"),
        Row::new("alpha", "2", 1).text("name", "B").service("servicenow"),
        Row::new("beta", "1", 1).text("name", "Z"),
    ];
    apply(wh, t, &rows).await;
    apply(wh, CanonicalTable::Companies, &[Row::new("alpha", "7", 1).text("name", "Co")]).await;
    let (a, b) = (tenant("alpha"), tenant("beta"));
    assert_eq!(wh.purge(&a, t).await.unwrap(), 3);
    assert_eq!(wh.version_count(&a, t).await.unwrap(), 0);
    assert!(wh.current_ids(&a, t, "connectwise").await.unwrap().is_empty());
    assert_eq!(wh.version_count(&b, t).await.unwrap(), 1, "another tenant's rows stay");
    assert_eq!(wh.version_count(&a, CanonicalTable::Companies).await.unwrap(), 1);
    assert_eq!(wh.purge(&a, t).await.unwrap(), 0, "nothing left to remove");
    let report = apply(wh, t, &rows[..3]).await;
    assert_eq!(report.inserted, 3, "the same versions are new again");
    let id = EntityId { service: "connectwise".into(), source_id: "1".into() };
    let history = wh.history(&a, t, &id).await.unwrap();
    assert_eq!(history.len(), 2);
}

pub async fn bad_requests_are_client_errors(open: impl Open) {
    let (_g, wh) = open.open().await;
    let a = tenant("alpha");
    for sort in ["nope", "tenant_id; DROP TABLE companies", "record_hash"] {
        let q = ListQuery { sort: Some(sort.into()), ..Default::default() };
        assert!(
            matches!(
                wh.list(&a, CanonicalTable::Companies, &q).await,
                Err(WarehouseError::BadRequest(_))
            ),
            "sort by {sort:?}"
        );
    }
    let q = ListQuery { sort: Some("company_name".into()), ..Default::default() };
    assert!(matches!(
        wh.list(&a, CanonicalTable::Companies, &q).await,
        Err(WarehouseError::BadRequest(_))
    ));
    // Hostile text is data, never SQL.
    let hostile = "x' OR '1'='1";
    let q = ListQuery { search: Some(hostile.into()), ..Default::default() };
    assert_eq!(wh.list(&a, CanonicalTable::Companies, &q).await.unwrap().total, 0);
    let e = EntityId { service: "connectwise".into(), source_id: hostile.into() };
    assert!(wh.get(&a, CanonicalTable::Companies, &e, None).await.unwrap().is_none());
    assert!(wh.history(&a, CanonicalTable::Companies, &e).await.unwrap().is_empty());
    assert!(wh.current_ids(&a, CanonicalTable::Companies, hostile).await.unwrap().is_empty());
}

/// The winning row of one version: (extracted, hash, deleted, name).
type Winner = (i64, String, bool, String);

/// The reference model: SCD2 by definition, in a few obvious lines.
#[derive(Debug, Default)]
pub struct Model {
    /// (tenant, service, id) → valid_from → the winning row.
    keys: BTreeMap<(String, String, String), BTreeMap<i64, Winner>>,
}

/// A version as the model derives it.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelVersion {
    pub valid_from: i64,
    pub valid_to: Option<i64>,
    pub deleted: bool,
    pub current: bool,
    pub name: String,
}

impl Model {
    pub fn apply(&mut self, rows: &[Row]) {
        for r in rows {
            let Some(updated) = r.updated else { continue };
            let name = match r.field("name") {
                Some(Cell::Text(s)) => s.clone(),
                _ => String::new(),
            };
            let candidate = (r.extracted, r.hash(), r.deleted, name);
            let versions =
                self.keys.entry((r.tenant.into(), r.service.into(), r.id.clone())).or_default();
            match versions.get(&updated) {
                Some(held) if (held.0, &held.1) >= (candidate.0, &candidate.1) => {}
                _ => {
                    versions.insert(updated, candidate);
                }
            }
        }
    }

    pub fn history(&self, tenant: &str, service: &str, id: &str) -> Vec<ModelVersion> {
        let Some(versions) = self.keys.get(&(tenant.into(), service.into(), id.into())) else {
            return vec![];
        };
        let froms: Vec<i64> = versions.keys().copied().collect();
        versions
            .iter()
            .enumerate()
            .map(|(i, (from, (_, _, deleted, name)))| ModelVersion {
                valid_from: *from,
                valid_to: froms.get(i + 1).copied(),
                deleted: *deleted,
                current: i + 1 == froms.len(),
                name: name.clone(),
            })
            .collect()
    }

    /// The live version at `at` (`None` = now).
    pub fn visible(
        &self,
        tenant: &str,
        service: &str,
        id: &str,
        at: Option<i64>,
    ) -> Option<String> {
        self.history(tenant, service, id)
            .into_iter()
            .find(|v| match at {
                None => v.current,
                Some(t) => v.valid_from <= t && v.valid_to.is_none_or(|to| to > t),
            })
            .filter(|v| !v.deleted)
            .map(|v| v.name)
    }

    pub fn versions_of(&self, tenant: &str) -> u64 {
        self.keys.iter().filter(|(k, _)| k.0 == tenant).map(|(_, v)| v.len() as u64).sum()
    }
}

const TENANTS: [&str; 2] = ["alpha", "beta"];
const SERVICES: [&str; 2] = ["connectwise", "servicenow"];
const IDS: [&str; 4] = ["1", "2", "3", "10"];

fn random_batches(rng: &mut impl Rng) -> Vec<Vec<Row>> {
    let mut rows = Vec::new();
    for _ in 0..rng.gen_range(1..40) {
        let mut r = Row::new(
            TENANTS[rng.gen_range(0..2)],
            IDS[rng.gen_range(0..IDS.len())],
            rng.gen_range(0..12),
        )
        .service(SERVICES[usize::from(rng.gen_bool(0.25))])
        .extracted(rng.gen_range(0..3))
        .text("name", &format!("name-{}", rng.gen_range(0..3)));
        if rng.gen_bool(0.2) {
            r = r.deleted();
        }
        if rng.gen_bool(0.03) {
            r.updated = None;
        }
        rows.push(r);
    }
    let mut batches: Vec<Vec<Row>> = Vec::new();
    for r in rows {
        if batches.is_empty() || rng.gen_bool(0.3) {
            batches.push(Vec::new());
        }
        batches.last_mut().expect("one batch").push(r);
    }
    batches
}

fn version_of(r: &Record) -> ModelVersion {
    let secs = |v: &Value| {
        v.as_str().map(|s| {
            chrono::DateTime::parse_from_rfc3339(s).expect("RFC 3339").timestamp() - EPOCH_SECS
        })
    };
    ModelVersion {
        valid_from: secs(&r["valid_from"]).expect("valid_from is set"),
        valid_to: secs(&r["valid_to"]),
        deleted: r["is_deleted"] == json!(true),
        current: r["is_current"] == json!(true),
        name: r["name"].as_str().unwrap_or_default().to_owned(),
    }
}

/// Random batches applied in random order, some repeated: the backend must hold exactly
/// the reference model's versions and answer current, as-of, list, id and count reads
/// as the model does.
pub async fn scd2_matches_the_reference_model(open: impl Open) {
    let t = CanonicalTable::Companies;
    for seed in 0..24u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5cd2 + seed);
        let batches = random_batches(&mut rng);
        let mut order = batches.clone();
        order.extend(batches.iter().filter(|_| rng.gen_bool(0.4)).cloned());
        order.shuffle(&mut rng);
        let mut model = Model::default();
        let (_g, wh) = open.open().await;
        for b in &order {
            model.apply(b);
            wh.apply(t, batch(t, b)).await.expect("apply");
        }
        let ctx = |what: String| format!("seed {seed}: {what}\nbatches in apply order: {order:#?}");
        for tn in TENANTS {
            let tid = tenant(tn);
            assert_eq!(
                wh.version_count(&tid, t).await.unwrap(),
                model.versions_of(tn),
                "{}",
                ctx(format!("{tn} versions"))
            );
            // Every version chain, exactly.
            for svc in SERVICES {
                for key in IDS {
                    let eid = EntityId { service: svc.into(), source_id: key.into() };
                    let got: Vec<ModelVersion> =
                        wh.history(&tid, t, &eid).await.unwrap().iter().map(version_of).collect();
                    assert_eq!(
                        got,
                        model.history(tn, svc, key),
                        "{}",
                        ctx(format!("history of {tn}/{eid}"))
                    );
                }
                let mut ids = wh.current_ids(&tid, t, svc).await.unwrap();
                ids.sort();
                let mut want: Vec<String> = IDS
                    .iter()
                    .filter(|k| model.visible(tn, svc, k, None).is_some())
                    .map(|k| k.to_string())
                    .collect();
                want.sort();
                assert_eq!(ids, want, "{}", ctx(format!("current ids of {tn}/{svc}")));
            }
            // What is visible now and as of every boundary and between them: (id, name).
            for at_secs in [None, Some(-1), Some(0), Some(3), Some(5), Some(6), Some(11), Some(12)]
            {
                let q = ListQuery { as_of: at_secs.map(at), page_size: 100, ..Default::default() };
                let got: BTreeSet<(String, String)> = wh
                    .list(&tid, t, &q)
                    .await
                    .unwrap()
                    .items
                    .iter()
                    .map(|r| {
                        (
                            r["id"].as_str().unwrap_or_default().to_owned(),
                            r["name"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect();
                let want: BTreeSet<(String, String)> = SERVICES
                    .iter()
                    .flat_map(|s| IDS.iter().map(move |k| (*s, *k)))
                    .filter_map(|(s, k)| {
                        model.visible(tn, s, k, at_secs).map(|name| (format!("{s}:{k}"), name))
                    })
                    .collect();
                assert_eq!(got, want, "{}", ctx(format!("{tn} visible as of {at_secs:?}")));
            }
            // One record read by id, now and at a random instant.
            let (svc, key) = (SERVICES[rng.gen_range(0..2)], IDS[rng.gen_range(0..IDS.len())]);
            let eid = EntityId { service: svc.into(), source_id: key.into() };
            for at_secs in [None, Some(rng.gen_range(0..12))] {
                let got = wh
                    .get(&tid, t, &eid, at_secs.map(at))
                    .await
                    .unwrap()
                    .map(|r| r["name"].as_str().unwrap_or_default().to_owned());
                assert_eq!(
                    got,
                    model.visible(tn, svc, key, at_secs),
                    "{}",
                    ctx(format!("get {tn}/{eid} at {at_secs:?}"))
                );
            }
        }
    }
}

/// Applying the same batches in another order, with repeats, gives byte-identical answers.
pub async fn apply_is_idempotent_and_order_independent(open: impl Open) {
    let t = CanonicalTable::Companies;
    for seed in 0..6u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let batches = random_batches(&mut rng);
        let (_g1, one) = open.open().await;
        for b in &batches {
            one.apply(t, batch(t, b)).await.unwrap();
        }
        let (_g2, two) = open.open().await;
        let mut shuffled = batches.clone();
        shuffled.extend(batches.iter().filter(|_| rng.gen_bool(0.5)).cloned());
        shuffled.shuffle(&mut rng);
        for b in &shuffled {
            two.apply(t, batch(t, b)).await.unwrap();
        }
        let dump = |wh: Arc<dyn Warehouse>| async move {
            let mut out = BTreeSet::new();
            for tn in TENANTS {
                for svc in SERVICES {
                    for key in IDS {
                        let eid = EntityId { service: svc.into(), source_id: key.into() };
                        for r in wh.history(&tenant(tn), t, &eid).await.unwrap() {
                            out.insert(Value::Object(r).to_string());
                        }
                    }
                }
            }
            out
        };
        assert_eq!(
            dump(one).await,
            dump(two).await,
            "seed {seed}: order or repetition changed the table"
        );
    }
}

/// A reorder changes no answer (lists in every order, records now and as of the past,
/// histories, aggregates, counts), of the tenant reordered or of another, and applies
/// after it re-link versions as before: the backend answers what the reference answers
/// before the reorder, after it, and after more versions arrive.
pub async fn reordering_changes_no_answer(open: impl Open) {
    use crate::aggregate::*;
    let (_g, wh) = open.open().await;
    let wh = wh.as_ref();
    let reference = MemoryWarehouse::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5017);
    let day = 86_400;
    let ticket = |rng: &mut rand::rngs::StdRng, tenant: &'static str, id: usize, updated: i64| {
        let mut r = Row::new(tenant, &id.to_string(), updated)
            .text("summary", ["Printer jam", "VPN down", "password reset"][id % 3])
            .text("status", ["New", "Closed", "In Progress"][rng.gen_range(0..3)]);
        if rng.gen_bool(0.9) {
            r = r.time("opened_at", rng.gen_range(0..30 * day));
        }
        if rng.gen_bool(0.5) {
            r = r.flag("closed", true).time("closed_at", 30 * day + rng.gen_range(0..30 * day));
        }
        if rng.gen_bool(0.1) {
            r = r.deleted();
        }
        r
    };
    let entry = |rng: &mut rand::rngs::StdRng, tenant: &'static str, id: usize, updated: i64| {
        let mut r = Row::new(tenant, &id.to_string(), updated)
            .float("actual_hours", [0.25, 1.0, 2.5][id % 3])
            .text("member_id", ["7", "8"][id % 2]);
        if rng.gen_bool(0.95) {
            r = r.time("time_start", rng.gen_range(0..60 * day));
        }
        r
    };
    let tables = [CanonicalTable::Tickets, CanonicalTable::TimeEntries];
    let mut batches: Vec<(CanonicalTable, Vec<Row>)> = Vec::new();
    for (table, make) in tables
        .iter()
        .zip([&ticket as &dyn Fn(&mut rand::rngs::StdRng, &'static str, usize, i64) -> Row, &entry])
    {
        for updated in [100, 200] {
            let rows: Vec<Row> = (0..90)
                .filter(|i| updated == 100 || i % 3 == 0)
                .map(|i| make(&mut rng, if i % 5 == 0 { "beta" } else { "alpha" }, i, updated))
                .collect();
            batches.push((*table, rows));
        }
    }
    for (table, rows) in &batches {
        for w in [wh, &reference as &dyn Warehouse] {
            apply(w, *table, rows).await;
        }
    }
    let us = micros;
    let check = async |stage: &str| {
        for tn in ["alpha", "beta"] {
            let tid = tenant(tn);
            for table in tables {
                let what = |q: &str| format!("{stage}: {tn} {table} {q}");
                assert_eq!(
                    wh.version_count(&tid, table).await.unwrap(),
                    reference.version_count(&tid, table).await.unwrap(),
                    "{}",
                    what("versions")
                );
                let sorts: &[&str] = match table {
                    CanonicalTable::Tickets => &["opened_at", "closed_at", "summary", "status"],
                    _ => &["time_start", "actual_hours"],
                };
                for sort in sorts {
                    for as_of in [None, Some(at(150))] {
                        let q = ListQuery {
                            sort: Some((*sort).into()),
                            as_of,
                            page_size: 500,
                            ..Default::default()
                        };
                        let got = wh.list(&tid, table, &q).await.unwrap();
                        let want = reference.list(&tid, table, &q).await.unwrap();
                        assert_eq!(got.items, want.items, "{}", what(&format!("{q:?}")));
                    }
                }
                for i in (0..90).step_by(7) {
                    let eid = EntityId { service: "connectwise".into(), source_id: i.to_string() };
                    assert_eq!(
                        wh.history(&tid, table, &eid).await.unwrap(),
                        reference.history(&tid, table, &eid).await.unwrap(),
                        "{}",
                        what(&format!("history of {i}"))
                    );
                }
            }
            let periods = [(0, 10), (10, 40), (40, 70), (0, 70)];
            for (column, table) in
                [("opened_at", CanonicalTable::Tickets), ("closed_at", CanonicalTable::Tickets)]
                    .into_iter()
                    .chain([("time_start", CanonicalTable::TimeEntries)])
            {
                for (from, to) in periods {
                    for as_of in [None, Some(at(150))] {
                        let q = Aggregate {
                            table,
                            as_of,
                            filter: vec![Cond::Within {
                                column,
                                from: Some(us(from * day)),
                                to: Some(us(to * day)),
                            }],
                            group: vec![Dim::Value(Col::Service)],
                            measures: vec![Measure::new(Agg::Count)],
                            top: None,
                        };
                        assert_eq!(
                            wh.aggregate(&tid, &q).await.unwrap(),
                            reference.aggregate(&tid, &q).await.unwrap(),
                            "{stage}: {tn} {q:?}"
                        );
                    }
                }
            }
        }
    };
    check("before the reorder").await;
    let alpha = tenant("alpha");
    for table in CanonicalTable::ALL {
        let versions = wh.version_count(&alpha, table).await.unwrap();
        let n = wh.reorder(&alpha, table).await.unwrap();
        assert!(n == 0 || n == versions, "{table}: rewrote {n} of {versions} versions");
    }
    check("after the reorder").await;
    // More versions of records the reorder moved, and new records.
    for table in tables {
        let make: &dyn Fn(&mut rand::rngs::StdRng, &'static str, usize, i64) -> Row =
            if table == CanonicalTable::Tickets { &ticket } else { &entry };
        let rows: Vec<Row> = (40..120)
            .filter(|i| i % 2 == 0)
            .map(|i| make(&mut rng, if i % 5 == 0 { "beta" } else { "alpha" }, i, 300))
            .collect();
        for w in [wh, &reference as &dyn Warehouse] {
            apply(w, table, &rows).await;
        }
    }
    check("after applies that follow the reorder").await;
}
