//! One suite for every lake: the local folder and an S3 bucket (the `moto` server that
//! `scripts/services.sh` starts; `AVESA_TEST_S3_ENDPOINT`, default
//! `http://127.0.0.1:19900`) behave alike: the same key layout, retried chunks overwrite,
//! deletes of what is gone succeed, listing is by whole path segments and sorted.

use arrow::record_batch::RecordBatch;
use avesa_lake::{Lake, LakePath, S3Options, raw_batch, raw_schema};
use avesa_model::{CanonicalTable, ChunkId, RawRecord, TenantId};
use chrono::Utc;

fn records(n: usize) -> Vec<RawRecord> {
    (0..n)
        .map(|i| {
            RawRecord::new(
                i.to_string(),
                Some(Utc::now()),
                i % 7 == 3,
                format!(r#"{{"id":{i},"summary":"ticket {i}"}}"#),
            )
        })
        .collect()
}

fn batch(tenant: &TenantId, chunk: ChunkId, n: usize) -> RecordBatch {
    raw_batch(tenant, "connectwise", "service/tickets", chunk, Utc::now(), &records(n))
}

async fn rows(lake: &Lake, path: &LakePath) -> usize {
    lake.read_batches(path).await.unwrap().iter().map(|b| b.num_rows()).sum()
}

/// What every lake must do.
async fn behaves(lake: &Lake) {
    let acme = TenantId::new("acme").unwrap();
    let acme2 = TenantId::new("acme2").unwrap();
    let (c1, c2) = (ChunkId::new(), ChunkId::new());

    let p1 = Lake::raw_path(&acme, "connectwise", "service/tickets", c1);
    assert_eq!(p1.as_ref(), format!("acme/raw/connectwise/service_tickets/{c1}.parquet"));
    let size = lake.put_batch(&p1, batch(&acme, c1, 250)).await.unwrap();
    assert!(size > 0);
    // A retried chunk overwrites its own file.
    lake.put_batch(&p1, batch(&acme, c1, 260)).await.unwrap();
    assert_eq!(rows(lake, &p1).await, 260);
    let back = lake.read_batches(&p1).await.unwrap();
    assert_eq!(back[0].schema(), raw_schema());

    let p2 = Lake::raw_path(&acme, "connectwise", "service/tickets", c2);
    lake.put_batch(&p2, batch(&acme, c2, 3)).await.unwrap();
    let canon = Lake::canonical_path(&acme, CanonicalTable::Tickets, "connectwise", c1);
    assert_eq!(canon.as_ref(), format!("acme/canonical/tickets/connectwise-{c1}.parquet"));
    lake.put_batch(&canon, batch(&acme, c1, 5)).await.unwrap();
    let other = Lake::raw_path(&acme2, "connectwise", "service/tickets", c1);
    lake.put_batch(&other, batch(&acme2, c1, 1)).await.unwrap();

    // Listing is by whole segments (acme does not list acme2) and sorted.
    let mut want = vec![p1.clone(), p2.clone()];
    want.sort();
    assert_eq!(lake.list("acme/raw").await.unwrap(), want);
    let all = lake.list("acme").await.unwrap();
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(lake.list("acme2").await.unwrap(), vec![other.clone()]);
    assert!(lake.list("nobody").await.unwrap().is_empty());

    // Deleting twice is fine; what is gone is gone.
    lake.delete(&p2).await.unwrap();
    lake.delete(&p2).await.unwrap();
    assert_eq!(lake.list("acme/raw").await.unwrap(), vec![p1.clone()]);
    assert!(lake.read_batches(&p2).await.is_err());
    lake.check().await.unwrap();
}

#[tokio::test]
async fn a_local_folder_lake() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::local(dir.path()).unwrap();
    behaves(&lake).await;
    assert!(dir.path().join("acme/raw/connectwise/service_tickets").is_dir());
}

fn endpoint() -> String {
    std::env::var("AVESA_TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:19900".into())
}

fn s3(bucket: &str, prefix: &str) -> S3Options {
    S3Options {
        bucket: bucket.into(),
        prefix: prefix.into(),
        endpoint: Some(endpoint()),
        region: "us-east-1".into(),
        access_key_id: Some("avesa-test".into()),
        secret_access_key: Some("avesa-test-secret".into()),
    }
}

/// A new, empty bucket (the test server accepts an unsigned create).
async fn bucket() -> String {
    let name = format!("avesa-lake-{}", uuid::Uuid::new_v4().simple());
    let r = reqwest::Client::new()
        .put(format!("{}/{name}", endpoint()))
        .send()
        .await
        .expect("the S3 test server (scripts/services.sh starts it)");
    assert!(r.status().is_success(), "creating bucket {name}: {}", r.status());
    name
}

#[tokio::test]
async fn an_s3_lake_at_the_bucket_root() {
    let b = bucket().await;
    behaves(&Lake::s3(&s3(&b, "")).unwrap()).await;
}

#[tokio::test]
async fn an_s3_lake_under_a_prefix_keeps_the_same_layout_below_it() {
    let b = bucket().await;
    let lake = Lake::s3(&s3(&b, "prod/eu")).unwrap();
    behaves(&lake).await;
    // Seen from the bucket's root, everything is under the prefix.
    let root = Lake::s3(&s3(&b, "")).unwrap();
    let keys = root.list("").await.unwrap();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys.iter().all(|k| k.as_ref().starts_with("prod/eu/acme")), "{keys:?}");
    assert!(root.list("acme").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_missing_bucket_is_found_out_by_check() {
    let lake = Lake::s3(&s3("avesa-no-such-bucket", "")).unwrap();
    let e = lake.check().await.expect_err("no such bucket").to_string();
    assert_eq!(e, "lake: NoSuchBucket: The specified bucket does not exist");
}
