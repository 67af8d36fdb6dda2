//! The warehouse conformance suite (`avesa_warehouse::conformance`) on the real DuckDB
//! engine, in memory and on a file, plus what only the DuckDB warehouse does.

use std::sync::Arc;

use avesa_model::{CanonicalTable, TenantId};
use avesa_warehouse::conformance::{Row, batch};
use avesa_warehouse::{ListQuery, Warehouse, WarehouseError};
use avesa_warehouse_duckdb::{DuckDbOptions, DuckDbWarehouse};

async fn open_warehouse() -> ((), Arc<dyn Warehouse>) {
    ((), Arc::new(DuckDbWarehouse::in_memory().unwrap()))
}

avesa_warehouse::warehouse_conformance!(open_warehouse);

#[tokio::test]
async fn a_reopened_file_keeps_its_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("warehouse.duckdb");
    let t = CanonicalTable::Companies;
    {
        let wh = DuckDbWarehouse::open(&path, &DuckDbOptions::default()).unwrap();
        wh.apply(t, batch(t, &[Row::new("alpha", "1", 10).text("name", "Acme")])).await.unwrap();
        wh.apply(t, batch(t, &[Row::new("alpha", "1", 20).text("name", "Acme 2")])).await.unwrap();
    }
    let wh = DuckDbWarehouse::open(&path, &DuckDbOptions::default()).unwrap();
    let a = TenantId::new("alpha").unwrap();
    assert_eq!(wh.version_count(&a, t).await.unwrap(), 2);
    let page = wh.list(&a, t, &ListQuery::default()).await.unwrap();
    assert_eq!(page.items[0]["name"], "Acme 2");
}

#[tokio::test]
async fn the_memory_limit_is_what_duckdb_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let wh = DuckDbWarehouse::open(
        &dir.path().join("wh.duckdb"),
        &DuckDbOptions { memory_limit_bytes: 64_000_000, ..DuckDbOptions::default() },
    )
    .unwrap();
    assert_eq!(wh.memory_limit().await.unwrap(), "61.0 MiB");
}

#[tokio::test]
async fn a_batch_of_the_wrong_shape_is_a_bug_not_data() {
    let wh = DuckDbWarehouse::in_memory().unwrap();
    let wrong = batch(CanonicalTable::Members, &[Row::new("alpha", "1", 1)]);
    let err = wh.apply(CanonicalTable::Tickets, wrong).await.unwrap_err();
    assert!(matches!(err, WarehouseError::Internal(_)), "{err}");
}
