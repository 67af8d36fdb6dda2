//! Helpers shared by the connector tests: read a whole table through the engine.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use avesa_connectors::budget::Budget;
use avesa_connectors::http::RetryPolicy;
use avesa_connectors::{
    Connector, Cursor, FetchStats, ServiceCredentials, SpecConnector, builtin_specs,
};
use avesa_model::RawRecord;

/// Fast retries for tests.
pub fn quick_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(10),
    }
}

/// A connector for `service` with `fields`, a private budget and fast retries.
pub fn connector(service: &str, tenant: &str, fields: &[(&str, &str)], rps: f64) -> SpecConnector {
    let spec = builtin_specs().into_iter().find(|s| s.service == service).expect("known service");
    let creds = ServiceCredentials(
        fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
    );
    SpecConnector::new(Arc::new(spec), tenant, &creds)
        .expect("valid configuration")
        .with_retry_policy(quick_policy())
        .with_budget(Arc::new(Budget::new(rps, 20)))
}

/// What reading a table produced.
pub struct Read {
    pub records: Vec<RawRecord>,
    pub end: Option<Cursor>,
    pub pages: usize,
    pub stats: FetchStats,
}

impl Read {
    /// The last version of every record read, by id (a re-read record counts once).
    pub fn by_id(&self) -> BTreeMap<String, &RawRecord> {
        self.records.iter().map(|r| (r.source_id.clone(), r)).collect()
    }
}

/// Reads `table` from `after` until the source has nothing more, like the pipeline does.
pub async fn read_all(
    c: &dyn Connector,
    table: &str,
    after: Option<Cursor>,
    page_size: u32,
) -> avesa_connectors::Result<Read> {
    let mut out =
        Read { records: Vec::new(), end: after.clone(), pages: 0, stats: FetchStats::default() };
    let mut pos = after;
    loop {
        let page = c.fetch_page(table, pos.as_ref(), page_size).await?;
        out.pages += 1;
        out.stats += page.stats;
        out.records.extend(page.records);
        match page.last {
            Some(l) => {
                assert_ne!(pos.as_ref(), Some(&l), "{table}: the position did not move");
                pos = Some(l.clone());
                out.end = Some(l);
            }
            None => break,
        }
        if !page.more {
            break;
        }
        assert!(out.pages < 100_000, "{table}: runaway paging");
    }
    Ok(out)
}
