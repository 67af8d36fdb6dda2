//! The state store's conformance suite (`avesa_state::conformance`) on a real SQLite file,
//! plus what only the SQLite store does.

use std::sync::Arc;

use avesa_state::{SqliteStore, StateStore};

async fn open_store() -> (tempfile::TempDir, Arc<dyn StateStore>) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("state.db")).await.unwrap();
    (dir, Arc::new(s))
}

avesa_state::state_store_conformance!(open_store);

#[tokio::test]
async fn reopening_the_file_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let t = avesa_model::TenantId::new("acme").unwrap();
    {
        let s = SqliteStore::open(&path).await.unwrap();
        s.create_tenant(&t, "Acme").await.unwrap();
        s.upsert_service(&t, "connectwise", b"sealed").await.unwrap();
    }
    let s = SqliteStore::open(&path).await.unwrap();
    assert_eq!(s.get_tenant(&t).await.unwrap().unwrap().name, "Acme");
    assert_eq!(s.list_services(&t).await.unwrap()[0].sealed_config, b"sealed");
}
