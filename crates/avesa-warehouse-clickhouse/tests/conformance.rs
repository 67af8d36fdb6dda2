//! The warehouse conformance suite (`avesa_warehouse::conformance`) on a real ClickHouse
//! server, each case in a database of its own: `AVESA_TEST_CLICKHOUSE_URL` (default
//! `http://127.0.0.1:18123`, the server `scripts/services.sh` starts), plus what only the
//! ClickHouse warehouse does.

use std::sync::Arc;

use avesa_model::{CanonicalTable, TenantId};
use avesa_warehouse::conformance::{Row, batch};
use avesa_warehouse::{ListQuery, Warehouse, WarehouseError};
use avesa_warehouse_clickhouse::{ClickHouseOptions, ClickHouseWarehouse};

fn endpoint() -> String {
    std::env::var("AVESA_TEST_CLICKHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:18123".into())
}

/// Drops the test's database when the test ends.
struct Dropper(ClickHouseWarehouse);

impl Drop for Dropper {
    fn drop(&mut self) {
        let db = self.0.database().to_owned();
        // Drop runs inside the test's runtime: a thread of its own, with a runtime and an
        // HTTP client of its own (a client is bound to the runtime that made it), blocks.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    let _ = reqwest::Client::new()
                        .post(endpoint())
                        .body(format!("DROP DATABASE IF EXISTS {db}"))
                        .send()
                        .await;
                });
            }
        })
        .join();
    }
}

async fn fresh() -> ClickHouseWarehouse {
    let db = format!("avesa_test_{}", uuid::Uuid::new_v4().simple());
    ClickHouseWarehouse::open(ClickHouseOptions::new(endpoint(), db))
        .await
        .expect("the ClickHouse test server (scripts/services.sh starts it)")
}

async fn open_warehouse() -> (Dropper, Arc<dyn Warehouse>) {
    let wh = fresh().await;
    (Dropper(wh.clone()), Arc::new(wh))
}

avesa_warehouse::warehouse_conformance!(open_warehouse);

#[tokio::test]
async fn a_reopened_database_keeps_its_versions() {
    let wh = fresh().await;
    let _g = Dropper(wh.clone());
    let t = CanonicalTable::Companies;
    wh.apply(t, batch(t, &[Row::new("alpha", "1", 10).text("name", "Acme")])).await.unwrap();
    wh.apply(t, batch(t, &[Row::new("alpha", "1", 20).text("name", "Acme 2")])).await.unwrap();
    let again =
        ClickHouseWarehouse::open(ClickHouseOptions::new(endpoint(), wh.database())).await.unwrap();
    let a = TenantId::new("alpha").unwrap();
    assert_eq!(again.version_count(&a, t).await.unwrap(), 2);
    let page = again.list(&a, t, &ListQuery::default()).await.unwrap();
    assert_eq!(page.items[0]["name"], "Acme 2");
}

#[tokio::test]
async fn a_batch_of_the_wrong_shape_is_a_bug_not_data() {
    let wh = fresh().await;
    let _g = Dropper(wh.clone());
    let wrong = batch(CanonicalTable::Members, &[Row::new("alpha", "1", 1)]);
    let err = wh.apply(CanonicalTable::Tickets, wrong).await.unwrap_err();
    assert!(matches!(err, WarehouseError::Internal(_)), "{err}");
}

#[tokio::test]
async fn an_unreachable_server_is_an_engine_error_naming_it() {
    let err = ClickHouseWarehouse::open(ClickHouseOptions::new("http://127.0.0.1:9", "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, WarehouseError::Engine(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains("ClickHouse at http://127.0.0.1:9 unreachable"), "{text}");
    assert!(!text.contains("query="), "{text}");
}

#[tokio::test]
async fn the_server_reports_its_version() {
    let wh = fresh().await;
    let _g = Dropper(wh.clone());
    let v = wh.server_version().await.unwrap();
    assert!(v.chars().next().is_some_and(|c| c.is_ascii_digit()), "{v}");
}
