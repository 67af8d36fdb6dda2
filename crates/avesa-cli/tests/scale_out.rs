//! The same code on the distributed backends, chosen by configuration only: state in
//! PostgreSQL, Parquet in an S3 bucket, the warehouse in ClickHouse. One simulator company
//! is synced into the embedded installation and into the distributed one; the API then
//! answers every request byte for byte alike, and the bucket holds the lake's usual layout
//! under its prefix.
//!
//! Servers: `AVESA_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`),
//! `AVESA_TEST_S3_ENDPOINT` (default `http://127.0.0.1:19900`) and
//! `AVESA_TEST_CLICKHOUSE_URL` (default `http://127.0.0.1:18123`); `scripts/services.sh`
//! starts the last two. Each gets a database or bucket of this test's own.

mod common;

use std::collections::BTreeMap;

use avesa_cli::app::App;
use avesa_config::{Inputs, resolve};
use avesa_pipeline::{PipelineOptions, SyncRequest, seal_service_config};
use avesa_sim::{ConnectWiseSim, CwSizes};
use avesa_state::RunStatus;
use sqlx::{Connection, PgConnection};

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

#[derive(Clone)]
struct Servers {
    postgres: String,
    s3: String,
    clickhouse: String,
}

impl Servers {
    fn from_env() -> Self {
        Servers {
            postgres: env_or("AVESA_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"),
            s3: env_or("AVESA_TEST_S3_ENDPOINT", "http://127.0.0.1:19900"),
            clickhouse: env_or("AVESA_TEST_CLICKHOUSE_URL", "http://127.0.0.1:18123"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_s3_and_clickhouse_answer_as_the_embedded_backends_do() {
    let servers = Servers::from_env();
    let name = format!("avesa_scale_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&servers.postgres).await.expect("PostgreSQL");
    sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
    let bucket = name.replace('_', "-");
    let made = reqwest::Client::new()
        .put(format!("{}/{bucket}", servers.s3))
        .send()
        .await
        .expect("the S3 test server");
    assert!(made.status().is_success(), "{}", made.status());

    let result = tokio::spawn(check(servers.clone(), name.clone(), bucket)).await;

    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    let _ = reqwest::Client::new()
        .post(&servers.clickhouse)
        .body(format!("DROP DATABASE IF EXISTS {name}"))
        .send()
        .await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn check(servers: Servers, name: String, bucket: String) {
    let dir = tempfile::tempdir().unwrap();
    let mut pg = reqwest::Url::parse(&servers.postgres).unwrap();
    pg.set_path(&name);
    let ch = servers.clickhouse.replacen("http://", "clickhouse+http://", 1);
    let env: BTreeMap<String, String> = [
        ("AVESA_STATE", pg.to_string()),
        ("AVESA_LAKE", format!("s3://{bucket}/lake/eu")),
        ("AVESA_S3_ENDPOINT", servers.s3.clone()),
        ("AVESA_S3_ACCESS_KEY_ID", "avesa-test".into()),
        ("AVESA_S3_SECRET_ACCESS_KEY", "avesa-test-secret".into()),
        ("AVESA_WAREHOUSE", format!("{ch}/{name}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let inputs = Inputs {
        env,
        flags: vec![("data_dir", "--data-dir", dir.path().join("dist").display().to_string())],
        working_dir: dir.path().to_owned(),
        ..Inputs::default()
    };
    let settings = resolve(&inputs).expect("the distributed settings").settings;
    let distributed = App::open_with(settings).await.expect("opening the distributed backends");
    let embedded = App::open(&dir.path().join("embedded")).await.unwrap();

    let sim = ConnectWiseSim::new();
    let (addr, _server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let (t, creds) = common::cw_tenant(
        &embedded,
        &sim,
        addr,
        "acme",
        "acme",
        11,
        CwSizes::derived(12, 30, 150, 120, 5),
    )
    .await;
    distributed.store.create_tenant(&t, "acme").await.unwrap();
    distributed
        .store
        .upsert_service(
            &t,
            "connectwise",
            &seal_service_config(&distributed.cipher, &t, &creds.config()),
        )
        .await
        .unwrap();

    let opts = PipelineOptions { chunk_records: 50, page_size: 25, ..Default::default() };
    for app in [&embedded, &distributed] {
        let run = app
            .pipeline(opts.clone())
            .run(SyncRequest { tenant: Some(t.clone()), ..Default::default() })
            .await
            .unwrap();
        assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    }

    // The bucket holds the lake's layout under the prefix.
    let lake_keys = distributed.lake.list("acme").await.unwrap();
    let local_keys = embedded.lake.list("acme").await.unwrap();
    assert_eq!(lake_keys.len(), local_keys.len());
    let shape = |k: &avesa_lake::LakePath| {
        let parts: Vec<&str> = k.as_ref().split('/').collect();
        parts[..parts.len() - 1].join("/")
    };
    let mut a: Vec<String> = lake_keys.iter().map(shape).collect();
    let mut b: Vec<String> = local_keys.iter().map(shape).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "the same folders in the bucket as in the local lake");
    assert!(a.iter().any(|k| k == "acme/raw/connectwise/service_tickets"), "{a:?}");
    let root = avesa_lake::Lake::s3(&avesa_lake::S3Options {
        bucket: bucket.clone(),
        prefix: String::new(),
        endpoint: Some(servers.s3.clone()),
        region: "us-east-1".into(),
        access_key_id: Some("avesa-test".into()),
        secret_access_key: Some("avesa-test-secret".into()),
    })
    .unwrap();
    let all = root.list("").await.unwrap();
    assert!(!all.is_empty() && all.iter().all(|k| k.as_ref().starts_with("lake/eu/acme/")));

    // The API answers alike, byte for byte.
    let (e_addr, e_token) = common::login_and_serve(&embedded, &t).await;
    let (d_addr, d_token) = common::login_and_serve(&distributed, &t).await;
    common::assert_same_answers((e_addr, &e_token), (d_addr, &d_token), true).await;
    let runs = distributed.store.list_runs(Some(&t), 5).await.unwrap();
    assert_eq!(runs.len(), 1, "the run is recorded in PostgreSQL");
}
