//! The Salesforce spec, executed by the engine, against the Salesforce simulator: SOQL
//! keyset queries through `queryAll`, `nextRecordsUrl` batches, `IsDeleted` rows as deletes,
//! the daily API quota, expired sessions and query locators.

mod common;

use std::collections::BTreeSet;

use avesa_connectors::{Connector, ConnectorError, Cursor, SpecConnector};
use avesa_sim::{Changes, SalesforceSim, SfOrgSpec, SfSizes};
use chrono::{DateTime, Utc};
use common::{connector, read_all};

const TABLES: [&str; 5] = ["User", "Account", "Contact", "Case", "Opportunity"];

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-01-15T12:00:00Z").unwrap().to_utc()
}

struct Fixture {
    sim: SalesforceSim,
    spec: SfOrgSpec,
    base: String,
    _server: tokio::task::JoinHandle<()>,
}

impl Fixture {
    async fn new() -> Fixture {
        let sim = SalesforceSim::new();
        let sizes = SfSizes { accounts: 25, contacts: 90, cases: 640, opportunities: 70, users: 7 };
        let spec = SfOrgSpec::new("acme", 9, sizes, now());
        sim.add_org(spec.clone());
        let (addr, server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        Fixture { sim, spec, base: format!("http://{addr}"), _server: server }
    }

    fn connector(&self) -> SpecConnector {
        connector(
            "salesforce",
            "acme",
            &[
                ("login_url", &self.base),
                ("client_id", &self.spec.client_id),
                ("client_secret", &self.spec.client_secret),
            ],
            500.0,
        )
    }

    fn truth_ids(&self, table: &str) -> BTreeSet<String> {
        self.sim.truth("acme").tables[table]
            .iter()
            .map(|v| v["Id"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[tokio::test]
async fn full_then_incremental_with_deletes_equals_the_truth() {
    let f = Fixture::new().await;
    let c = f.connector();
    let mut ends = Vec::new();
    for table in TABLES {
        // Batches of 200: the Case table takes several nextRecordsUrl follow-ups.
        let read = read_all(&c, table, None, 200).await.unwrap();
        let got: BTreeSet<String> = read.by_id().into_keys().collect();
        assert_eq!(got, f.truth_ids(table), "{table}");
        assert_eq!(read.records.len(), got.len(), "{table}: each record once");
        assert!(read.records.iter().all(|r| !r.deleted));
        for r in &read.records {
            // A body that is an object: its records' members travel with them too.
            let indexed = r.index.as_ref().and_then(|i| i.members(&r.json));
            assert!(indexed.is_some(), "{table}: record {} has no member index", r.source_id);
            assert_eq!(indexed, avesa_model::json::Members::parse(&r.json), "{table}");
        }
        assert_eq!(c.count(table, None).await.unwrap(), got.len() as u64, "{table} count");
        ends.push(read.end.unwrap());
    }
    let case = read_all(&c, "Case", None, 200).await.unwrap();
    assert!(case.pages >= 4, "{} pages", case.pages);

    let report = f.sim.advance(
        "acme",
        Changes { duration: chrono::Duration::hours(4), updates: 30, creates: 10, deletes: 6 },
    );
    assert!(report.deleted.values().map(Vec::len).sum::<usize>() > 0, "{report:?}");
    for (table, end) in TABLES.iter().zip(ends) {
        let after = c.resume_from(end, chrono::Duration::zero());
        let read = read_all(&c, table, Some(after), 2000).await.unwrap();
        let by_id = read.by_id();
        let deleted: BTreeSet<String> =
            report.deleted.get(*table).cloned().unwrap_or_default().into_iter().collect();
        let live: BTreeSet<String> = report
            .updated
            .get(*table)
            .into_iter()
            .flatten()
            .chain(report.created.get(*table).into_iter().flatten())
            .filter(|id| !deleted.contains(*id))
            .cloned()
            .collect();
        let got_live: BTreeSet<String> =
            by_id.iter().filter(|(_, r)| !r.deleted).map(|(k, _)| k.clone()).collect();
        let got_deleted: BTreeSet<String> =
            by_id.iter().filter(|(_, r)| r.deleted).map(|(k, _)| k.clone()).collect();
        assert_eq!(got_live, live, "{table}: changed records");
        assert_eq!(got_deleted, deleted, "{table}: IsDeleted rows are deletions");
    }
}

#[tokio::test]
async fn the_daily_quota_stops_cleanly_and_the_next_run_resumes_exactly() {
    let f = Fixture::new().await;
    let c = f.connector();
    // Let a few requests through (token + some batches), then the quota is gone.
    f.sim.set_api_usage("acme", f.spec.daily_api_limit - 3);
    let mut pos: Option<Cursor> = None;
    let mut records = Vec::new();
    let err = loop {
        match c.fetch_page("Case", pos.as_ref(), 100).await {
            Ok(p) => {
                records.extend(p.records);
                pos = p.last.clone();
                assert!(p.more, "the quota must run out before the table ends");
            }
            Err(e) => break e,
        }
    };
    assert!(matches!(err, ConnectorError::Quota { .. }), "{err:?}");
    assert!(
        err.to_string().contains("quota exhausted")
            && err.to_string().contains("REQUEST_LIMIT_EXCEEDED"),
        "{err}"
    );
    assert!(!records.is_empty());
    // A new day: the rest comes from the committed position, nothing twice.
    f.sim.set_api_usage("acme", 0);
    let rest = read_all(&c, "Case", pos, 100).await.unwrap();
    records.extend(rest.records);
    let ids: BTreeSet<&String> = records.iter().map(|r| &r.source_id).collect();
    assert_eq!(ids.len(), records.len(), "nothing duplicated");
    assert_eq!(ids.into_iter().cloned().collect::<BTreeSet<_>>(), f.truth_ids("Case"));
}

#[tokio::test]
async fn expired_locators_and_sessions_are_recovered() {
    let f = Fixture::new().await;
    let c = f.connector();
    let first = c.fetch_page("Case", None, 200).await.unwrap();
    let pos = first.last.clone().unwrap();
    assert!(pos.token().unwrap().starts_with("next:"), "{pos:?}");
    f.sim.expire_locators();
    f.sim.expire_tokens();
    let rest = read_all(&c, "Case", Some(pos), 200).await.unwrap();
    let mut ids: Vec<&String> =
        first.records.iter().chain(&rest.records).map(|r| &r.source_id).collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "nothing duplicated");
    assert_eq!(ids.into_iter().cloned().collect::<BTreeSet<_>>(), f.truth_ids("Case"));
}

#[tokio::test]
async fn a_wrong_secret_is_one_clear_error() {
    let f = Fixture::new().await;
    let c = connector(
        "salesforce",
        "acme",
        &[("login_url", &f.base), ("client_id", &f.spec.client_id), ("client_secret", "wrong")],
        500.0,
    );
    f.sim.clear_requests();
    let e = c.fetch_page("Account", None, 10).await.unwrap_err();
    assert!(matches!(e, ConnectorError::Auth { .. }), "{e:?}");
    assert!(e.to_string().contains("invalid_client"), "{e}");
    assert_eq!(f.sim.requests().len(), 1, "no retry storm");
}

#[tokio::test]
async fn faults_and_throttling_are_survived() {
    use avesa_sim::{FaultKind, FaultRule};
    let f = Fixture::new().await;
    let c = f.connector();
    for (i, k) in [
        FaultKind::Status { status: 503, retry_after: Some(1) },
        FaultKind::Status { status: 500, retry_after: None },
        FaultKind::Drop,
        FaultKind::Truncate,
        FaultKind::Garbage,
        FaultKind::Status { status: 429, retry_after: Some(1) },
    ]
    .into_iter()
    .enumerate()
    {
        f.sim
            .faults()
            .inject(FaultRule::new(k).path("/query").skip([1, 2, 3, 5, 6, 7][i]).times(1));
    }
    let read = read_all(&c, "Case", None, 200).await.unwrap();
    let got: BTreeSet<String> = read.by_id().into_keys().collect();
    assert_eq!(got, f.truth_ids("Case"));
    assert_eq!(read.records.len(), got.len(), "nothing duplicated");
    let traffic = f.sim.faults().traffic();
    assert_eq!(traffic.iter().filter(|t| t.outcome.starts_with("fault")).count(), 6);
    for (i, t) in traffic.iter().enumerate().filter(|(_, t)| t.status == 429 || t.status == 503) {
        let next = traffic[i + 1..].iter().find(|n| n.client == t.client).unwrap();
        assert!(next.at_ms - t.at_ms >= 995, "Retry-After obeyed: {t:?} then {next:?}");
    }
}
