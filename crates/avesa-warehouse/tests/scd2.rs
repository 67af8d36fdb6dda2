//! SCD2 on the real DuckDB engine: versions, deletions, as-of reads, tenant scoping, and
//! the property that applying any set of batches, any number of times, in any order,
//! gives the same table.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, StringArray, TimestampMicrosecondArray, new_null_array,
};
use arrow::record_batch::RecordBatch;
use avesa_model::{CanonicalTable, TenantId};
use avesa_warehouse::{DuckDbWarehouse, EntityId, ListQuery, Warehouse};
use chrono::{DateTime, NaiveDateTime};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// A company version: (tenant, id, updated-at seconds, deleted, name, extracted-at seconds).
#[derive(Clone, Debug)]
struct V(&'static str, &'static str, i64, bool, String, i64);

fn micros(secs: i64) -> i64 {
    1_700_000_000_000_000 + secs * 1_000_000
}

fn batch(rows: &[V]) -> RecordBatch {
    let schema = CanonicalTable::Companies.arrow_schema();
    let n = rows.len();
    let text = |f: &dyn Fn(&V) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let ts = |f: &dyn Fn(&V) -> i64| -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from_iter_values(rows.iter().map(f)))
    };
    let mut cols: Vec<ArrayRef> = vec![
        text(&|v| v.0.to_owned()),
        text(&|_| "connectwise".to_owned()),
        text(&|v| v.1.to_owned()),
        ts(&|v| micros(v.2)),
        Arc::new(BooleanArray::from_iter(rows.iter().map(|v| Some(v.3)))),
        text(&|v| {
            format!("{:016x}", v.4.len() * 7919 + v.4.bytes().map(|b| b as usize).sum::<usize>())
        }),
        ts(&|v| micros(v.5)),
        text(&|_| "chunk".to_owned()),
    ];
    for f in schema.fields().iter().skip(cols.len()) {
        if f.name() == "name" {
            cols.push(text(&|v| v.4.clone()));
        } else {
            cols.push(new_null_array(f.data_type(), n));
        }
    }
    RecordBatch::try_new(schema, cols).unwrap()
}

fn at(secs: i64) -> NaiveDateTime {
    DateTime::from_timestamp_micros(micros(secs)).unwrap().naive_utc()
}

fn id(s: &str) -> EntityId {
    s.parse().unwrap()
}

#[tokio::test]
async fn versions_deletions_as_of_and_tenants() {
    let wh = DuckDbWarehouse::in_memory().unwrap();
    let t = CanonicalTable::Companies;
    let a = TenantId::new("alpha").unwrap();
    let b = TenantId::new("beta").unwrap();
    let r = wh
        .apply(
            t,
            batch(&[
                V("alpha", "1", 10, false, "Acme".into(), 100),
                V("alpha", "2", 10, false, "Bolt".into(), 100),
                V("beta", "1", 10, false, "Beta One".into(), 100),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(r.inserted, 3);
    // A change, a deletion, and a replay of the first batch.
    wh.apply(t, batch(&[V("alpha", "1", 20, false, "Acme Corp".into(), 200)])).await.unwrap();
    wh.apply(t, batch(&[V("alpha", "2", 30, true, "Bolt".into(), 300)])).await.unwrap();
    let replay =
        wh.apply(t, batch(&[V("alpha", "1", 10, false, "Acme".into(), 100)])).await.unwrap();
    assert_eq!(replay.inserted, 0, "a replayed batch adds nothing");

    let page = wh.list(&a, t, &ListQuery::default()).await.unwrap();
    assert_eq!(page.total, 1, "the deleted company is not current");
    assert_eq!(page.items[0]["name"], "Acme Corp");
    assert_eq!(page.items[0]["id"], "connectwise:1");

    let hist = wh.history(&a, t, &id("connectwise:1")).await.unwrap();
    assert_eq!(hist.len(), 2);
    assert_eq!(hist[0]["valid_to"], hist[1]["valid_from"]);
    assert_eq!(hist[1]["is_current"], true);
    assert_eq!(wh.history(&a, t, &id("connectwise:2")).await.unwrap().len(), 2);

    // As of before the change and before the deletion.
    let old = wh.get(&a, t, &id("connectwise:1"), Some(at(15))).await.unwrap().unwrap();
    assert_eq!(old["name"], "Acme");
    assert!(wh.get(&a, t, &id("connectwise:2"), Some(at(25))).await.unwrap().is_some());
    assert!(wh.get(&a, t, &id("connectwise:2"), None).await.unwrap().is_none());
    let q = ListQuery { as_of: Some(at(15)), ..Default::default() };
    assert_eq!(wh.list(&a, t, &q).await.unwrap().total, 2);

    // Tenant scoping: beta's "1" is beta's, alpha's "2" is invisible to beta.
    let beta1 = wh.get(&b, t, &id("connectwise:1"), None).await.unwrap().unwrap();
    assert_eq!(beta1["name"], "Beta One");
    assert!(wh.history(&b, t, &id("connectwise:2")).await.unwrap().is_empty());
    assert_eq!(wh.list(&b, t, &ListQuery::default()).await.unwrap().total, 1);

    // Search and sort; unknown sort columns are a client error.
    let q = ListQuery { search: Some("corp".into()), ..Default::default() };
    assert_eq!(wh.list(&a, t, &q).await.unwrap().total, 1);
    let q = ListQuery { search: Some("100%".into()), ..Default::default() };
    assert_eq!(wh.list(&a, t, &q).await.unwrap().total, 0, "% is literal");
    let q = ListQuery { sort: Some("nope".into()), ..Default::default() };
    assert!(matches!(
        wh.list(&a, t, &q).await,
        Err(avesa_warehouse::WarehouseError::BadRequest(_))
    ));
}

async fn dump(wh: &DuckDbWarehouse) -> Vec<String> {
    let mut out = Vec::new();
    for tenant in ["alpha", "beta"] {
        let tenant = TenantId::new(tenant).unwrap();
        for n in 0..6 {
            let h = wh
                .history(&tenant, CanonicalTable::Companies, &id(&format!("connectwise:{n}")))
                .await
                .unwrap();
            out.extend(h.into_iter().map(|r| serde_json::Value::Object(r).to_string()));
        }
    }
    out
}

#[tokio::test]
async fn apply_is_idempotent_and_order_independent() {
    for seed in 0..6u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut versions = Vec::new();
        for _ in 0..rng.gen_range(5..40) {
            let tenant = if rng.gen_bool(0.7) { "alpha" } else { "beta" };
            let key: &'static str = ["0", "1", "2", "3", "4", "5"][rng.gen_range(0..6)];
            versions.push(V(
                tenant,
                key,
                rng.gen_range(0..20),
                rng.gen_bool(0.15),
                format!("name-{}", rng.gen_range(0..4)),
                rng.gen_range(0..3),
            ));
        }
        let mut batches: Vec<Vec<V>> = Vec::new();
        for v in &versions {
            if batches.is_empty() || rng.gen_bool(0.3) {
                batches.push(Vec::new());
            }
            batches.last_mut().unwrap().push(v.clone());
        }
        let one = DuckDbWarehouse::in_memory().unwrap();
        for b in &batches {
            one.apply(CanonicalTable::Companies, batch(b)).await.unwrap();
        }
        let two = DuckDbWarehouse::in_memory().unwrap();
        let mut shuffled = batches.clone();
        shuffled.extend(batches.iter().filter(|_| rng.gen_bool(0.5)).cloned());
        shuffled.shuffle(&mut rng);
        for b in &shuffled {
            two.apply(CanonicalTable::Companies, batch(b)).await.unwrap();
        }
        let (d1, d2) = (dump(&one).await, dump(&two).await);
        assert_eq!(d1, d2, "seed {seed}: order or repetition changed the table");
        // Exactly one current version per key that has versions.
        for tenant in ["alpha", "beta"] {
            let tid = TenantId::new(tenant).unwrap();
            for n in 0..6 {
                let h = one
                    .history(&tid, CanonicalTable::Companies, &id(&format!("connectwise:{n}")))
                    .await
                    .unwrap();
                let current = h.iter().filter(|r| r["is_current"] == true).count();
                assert_eq!(current, usize::from(!h.is_empty()), "seed {seed} {tenant}/{n}");
            }
        }
    }
}
