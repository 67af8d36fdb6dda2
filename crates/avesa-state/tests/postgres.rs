//! The state store's conformance suite (`avesa_state::conformance`) on PostgreSQL, each test
//! on a fresh database of its own, plus what only the PostgreSQL store does: versioned
//! migrations, and races between processes sharing the database.
//!
//! The server is `AVESA_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! its user must be allowed to create databases. Each test creates `avesa_test_<uuid>` and
//! drops it (with `FORCE`) when done, whether it passed or not.

use std::sync::Arc;

use avesa_model::TenantId;
use avesa_state::{NewRefreshToken, PostgresStore, StateError, StateStore};
use chrono::{Duration, Utc};
use sqlx::{Connection, PgConnection};
use tokio::sync::Barrier;

const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/test";

fn server_url() -> String {
    std::env::var("AVESA_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_SERVER.to_owned())
}

/// A fresh, empty database on the test server, dropped when this is.
struct TestDb {
    server: String,
    name: String,
    url: String,
}

impl TestDb {
    async fn create() -> Self {
        let server = server_url();
        let name = format!("avesa_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&server).await.unwrap_or_else(|e| {
            panic!("no PostgreSQL for the tests (set AVESA_TEST_POSTGRES_URL): {e}")
        });
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        let _ = admin.close().await;
        let mut url = url::Url::parse(&server).expect("AVESA_TEST_POSTGRES_URL is a URL");
        url.set_path(&name);
        TestDb { server, name, url: url.into() }
    }

    /// How many times each schema version is recorded, by version.
    async fn migration_rows(&self) -> Vec<(i64, i64)> {
        let mut c = PgConnection::connect(&self.url).await.unwrap();
        sqlx::query_as(
            "SELECT version, COUNT(*) FROM schema_migrations GROUP BY version ORDER BY version",
        )
        .fetch_all(&mut c)
        .await
        .unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // `drop` cannot await, and may run on the test's runtime: drop the database from a
        // thread with a runtime of its own. `FORCE` ends the store's pooled connections.
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || -> Result<(), String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let mut admin = PgConnection::connect(&server).await?;
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            })
            .map_err(|e| e.to_string())
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: cannot drop test database {}: {e}", self.name),
            Err(_) => eprintln!("warning: dropping test database {} panicked", self.name),
        }
    }
}

async fn open_store() -> (TestDb, Arc<dyn StateStore>) {
    let db = TestDb::create().await;
    let store = PostgresStore::open(&db.url).await.expect("open the store");
    (db, Arc::new(store))
}

avesa_state::state_store_conformance!(open_store);

fn one_row_per_migration() -> Vec<(i64, i64)> {
    (1..=PostgresStore::SCHEMA_VERSION).map(|v| (v, 1)).collect()
}

fn token(hash: &str, family: &str) -> NewRefreshToken {
    NewRefreshToken {
        token_hash: hash.into(),
        family_id: family.into(),
        user_id: "u".into(),
        tenant_id: TenantId::new("acme").unwrap(),
        expires_at: Utc::now() + Duration::days(1),
    }
}

#[tokio::test]
async fn migrating_again_changes_nothing() {
    let db = TestDb::create().await;
    let s = PostgresStore::open(&db.url).await.unwrap();
    assert_eq!(db.migration_rows().await, one_row_per_migration());
    let t = TenantId::new("acme").unwrap();
    s.create_tenant(&t, "Acme").await.unwrap();
    s.upsert_service(&t, "connectwise", b"sealed\x00").await.unwrap();
    s.migrate().await.unwrap();
    // Another process opening the same database.
    let again = PostgresStore::open(&db.url).await.unwrap();
    assert_eq!(db.migration_rows().await, one_row_per_migration());
    assert_eq!(again.get_tenant(&t).await.unwrap().unwrap().name, "Acme");
    assert_eq!(again.list_services(&t).await.unwrap()[0].sealed_config, b"sealed\x00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrations_apply_each_version_once() {
    let db = TestDb::create().await;
    // Four "processes", each with its own pool, migrating at the same moment.
    let start = Arc::new(Barrier::new(4));
    let mut handles = Vec::new();
    for _ in 0..4 {
        let (url, start) = (db.url.clone(), start.clone());
        handles.push(tokio::spawn(async move {
            let s = PostgresStore::connect(&url).await?;
            start.wait().await;
            s.migrate().await?;
            s.close().await;
            Ok::<_, StateError>(())
        }));
    }
    for h in handles {
        h.await.unwrap().unwrap();
    }
    assert_eq!(db.migration_rows().await, one_row_per_migration());
    let s = PostgresStore::connect(&db.url).await.unwrap();
    assert!(s.list_tenants().await.unwrap().is_empty(), "the schema is in place");
}

#[tokio::test]
async fn connect_does_not_migrate_and_newer_schemas_are_refused() {
    let db = TestDb::create().await;
    let s = PostgresStore::connect(&db.url).await.unwrap();
    assert!(s.list_tenants().await.is_err(), "no schema until migrate");
    s.migrate().await.unwrap();
    let mut c = PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("INSERT INTO schema_migrations (version, description) VALUES ($1, 'future')")
        .bind(PostgresStore::SCHEMA_VERSION + 1)
        .execute(&mut c)
        .await
        .unwrap();
    let err = s.migrate().await.unwrap_err();
    assert!(matches!(err, StateError::Corrupt(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_token_is_claimed_once_across_processes() {
    let (db, s) = open_store().await;
    let url = db.url.clone();
    // Two more "processes" on the same database.
    let stores: Vec<Arc<dyn StateStore>> = vec![
        s.clone(),
        Arc::new(PostgresStore::connect(&url).await.unwrap()),
        Arc::new(PostgresStore::connect(&url).await.unwrap()),
    ];
    for round in 0..3 {
        let hash = format!("hash-{round}");
        s.insert_refresh_token(token(&hash, "fam")).await.unwrap();
        let start = Arc::new(Barrier::new(48));
        let mut handles = Vec::new();
        for i in 0..48 {
            let (s, hash, start) = (stores[i % stores.len()].clone(), hash.clone(), start.clone());
            handles.push(tokio::spawn(async move {
                start.wait().await;
                s.use_refresh_token(&hash).await.unwrap().expect("the token exists")
            }));
        }
        let mut fresh = 0;
        for h in handles {
            if !h.await.unwrap().used {
                fresh += 1;
            }
        }
        assert_eq!(fresh, 1, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_racing_refreshes_leaves_no_live_token() {
    let (_db, s) = open_store().await;
    s.insert_refresh_token(token("seed", "fam")).await.unwrap();
    let start = Arc::new(Barrier::new(33));
    let mut handles = Vec::new();
    for i in 0..32 {
        let (s, start) = (s.clone(), start.clone());
        handles.push(tokio::spawn(async move {
            start.wait().await;
            s.insert_refresh_token(token(&format!("t{i}"), "fam")).await.unwrap();
        }));
    }
    let revoke = {
        let s = s.clone();
        tokio::spawn(async move {
            start.wait().await;
            s.revoke_token_family("fam").await.unwrap();
        })
    };
    for h in handles {
        h.await.unwrap();
    }
    revoke.await.unwrap();
    for hash in std::iter::once("seed".to_owned()).chain((0..32).map(|i| format!("t{i}"))) {
        assert!(s.use_refresh_token(&hash).await.unwrap().unwrap().revoked, "{hash}");
    }
}

#[tokio::test]
async fn a_failed_connect_names_the_url_but_not_its_password() {
    let mut url = url::Url::parse(&server_url()).unwrap();
    url.set_password(Some("hunter2-secret")).unwrap();
    url.set_path("avesa_no_such_database");
    let err = PostgresStore::connect(url.as_str()).await.unwrap_err().to_string();
    assert!(err.contains("avesa_no_such_database"), "{err}");
    assert!(err.contains(url.host_str().unwrap()), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}
