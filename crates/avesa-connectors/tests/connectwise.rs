//! The ConnectWise spec, executed by the engine, against the ConnectWise simulator.

mod common;

use std::collections::BTreeSet;

use avesa_connectors::{Connector, ConnectorError, Cursor};
use avesa_model::json::Members;
use avesa_sim::{AdvanceSpec, ConnectWiseSim, CwCompanySpec, CwSizes};
use chrono::{DateTime, Utc};
use common::{connector, read_all};
use serde_json::Value;

const TABLES: [&str; 5] =
    ["system/members", "company/companies", "company/contacts", "service/tickets", "time/entries"];

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-01-15T12:00:00Z").unwrap().to_utc()
}

fn sizes() -> CwSizes {
    CwSizes::derived(15, 50, 420, 900, 7)
}

struct Fixture {
    sim: ConnectWiseSim,
    spec: CwCompanySpec,
    api_url: String,
    _server: tokio::task::JoinHandle<()>,
}

impl Fixture {
    async fn new() -> Fixture {
        let sim = ConnectWiseSim::new();
        let spec = CwCompanySpec::new("acme_msp", 11, sizes(), now());
        sim.add_company(spec.clone());
        let (addr, server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        Fixture { sim, spec, api_url: format!("http://{addr}"), _server: server }
    }

    fn connector_with(
        &self,
        private_key: &str,
        client_id: &str,
    ) -> avesa_connectors::SpecConnector {
        connector(
            "connectwise",
            "acme",
            &[
                ("api_url", &self.api_url),
                ("company_id", &self.spec.company_id),
                ("public_key", &self.spec.public_key),
                ("private_key", private_key),
                ("client_id", client_id),
            ],
            200.0,
        )
    }

    fn connector(&self) -> avesa_connectors::SpecConnector {
        self.connector_with(&self.spec.private_key.clone(), &self.spec.client_id.clone())
    }
}

fn ids(v: &[Value]) -> BTreeSet<String> {
    v.iter().map(|r| r["id"].to_string()).collect()
}

#[tokio::test]
async fn a_full_sync_equals_the_truth_and_an_incremental_one_reads_only_changes() {
    let f = Fixture::new().await;
    let c = f.connector();
    let truth = f.sim.truth(&f.spec.company_id);
    let mut ends = Vec::new();
    for table in TABLES {
        // Small pages: many keyset boundaries, including ties on lastUpdated.
        let read = read_all(&c, table, None, 37).await.unwrap();
        let want = truth.table(table).unwrap();
        assert_eq!(read.records.len(), want.len(), "{table}: every record exactly once");
        let got: BTreeSet<String> = read.by_id().into_keys().collect();
        assert_eq!(got, ids(want), "{table}");
        // Records are kept exactly as the vendor sent them.
        for w in want {
            let r = read.by_id()[&w["id"].to_string()];
            let raw: Value = serde_json::from_str(&r.json).unwrap();
            assert_eq!(&raw, w, "{table} {}", w["id"]);
        }
        assert_eq!(c.count(table, None).await.unwrap(), want.len() as u64, "{table} count");
        ends.push(read.end.unwrap());
    }

    f.sim.clear_requests();
    let report = f.sim.advance(
        &f.spec.company_id,
        AdvanceSpec { duration: chrono::Duration::hours(3), updates: 40, creates: 15, deletes: 8 },
    );
    let soft_deleted: BTreeSet<String> =
        report.deleted_ids("company/companies").iter().map(|i| i.to_string()).collect();
    for (table, end) in TABLES.iter().zip(ends) {
        let after = c.resume_from(end, chrono::Duration::zero());
        assert_eq!(
            c.count(table, Some(&after)).await.unwrap(),
            report.changed_ids(table).len() as u64
        );
        let read = read_all(&c, table, Some(after), 1000).await.unwrap();
        let got: BTreeSet<String> = read.by_id().into_keys().collect();
        let want: BTreeSet<String> =
            report.changed_ids(table).iter().map(|i| i.to_string()).collect();
        assert_eq!(got, want, "{table}: exactly the changed records");
        // Soft-deleted companies arrive flagged as deletions.
        let flagged: BTreeSet<String> =
            read.records.iter().filter(|r| r.deleted).map(|r| r.source_id.clone()).collect();
        if *table == "company/companies" {
            assert_eq!(flagged, soft_deleted, "soft deletes");
        } else {
            assert!(flagged.is_empty());
        }
    }
    // Every incremental request carried the keyset filter; none was a full scan.
    for r in f.sim.requests().iter().filter(|r| !r.path.ends_with("/count")) {
        let cond = r.conditions.as_deref().unwrap_or("");
        assert!(cond.contains("lastUpdated >"), "unfiltered request {r:?}");
    }
}

#[tokio::test]
async fn an_overlap_window_rereads_without_losing_anything() {
    let f = Fixture::new().await;
    let c = f.connector();
    let read = read_all(&c, "service/tickets", None, 1000).await.unwrap();
    let end = read.end.unwrap();
    let after = c.resume_from(end.clone(), chrono::Duration::days(30));
    assert!(after.id.is_empty() && after.continuation.is_none());
    let again = read_all(&c, "service/tickets", Some(after), 1000).await.unwrap();
    let truth = f.sim.truth(&f.spec.company_id);
    let recent = truth
        .tickets
        .iter()
        .filter(|t| {
            let at = t["_info"]["lastUpdated"].as_str().unwrap();
            DateTime::parse_from_rfc3339(at).unwrap().to_utc()
                >= end.updated_at - chrono::Duration::days(30)
        })
        .count();
    assert_eq!(again.records.len(), recent);
}

#[tokio::test]
async fn bad_credentials_fail_once_with_a_clear_error() {
    let f = Fixture::new().await;
    let c = f.connector_with("wrong-key", &f.spec.client_id);
    f.sim.clear_requests();
    let e = c.fetch_page("service/tickets", None, 100).await.unwrap_err();
    assert!(matches!(e, ConnectorError::Auth { .. }), "{e:?}");
    assert!(e.to_string().starts_with("connectwise: authentication failed"), "{e}");
    assert!(!e.to_string().contains("wrong-key"), "{e}");
    assert_eq!(f.sim.requests().len(), 1, "no retry storm on refused credentials");
    let t = c.test().await.unwrap_err();
    assert!(t.explain().contains("credentials were refused"), "{}", t.explain());
    assert!(t.explain().contains("authentication failed"), "{}", t.explain());

    let c = f.connector_with(&f.spec.private_key, "00000000-0000-0000-0000-000000000000");
    let e = c.test().await.unwrap_err();
    assert!(e.explain().contains("clientId"), "{}", e.explain());
    assert!(f.connector().test().await.is_ok());
}

#[tokio::test]
async fn configuration_errors_name_the_field() {
    let spec =
        avesa_connectors::builtin_specs().into_iter().find(|s| s.service == "connectwise").unwrap();
    let spec = std::sync::Arc::new(spec);
    let make = |fields: &[(&str, &str)]| {
        let creds = avesa_connectors::ServiceCredentials(
            fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        );
        avesa_connectors::SpecConnector::new(spec.clone(), "t", &creds).unwrap_err().to_string()
    };
    let full = [
        ("api_url", "https://api-na.myconnectwise.net"),
        ("company_id", "acme"),
        ("public_key", "p"),
        ("private_key", "k"),
        ("client_id", "c"),
    ];
    assert!(make(&full[1..]).contains("api_url is missing"));
    let mut bad = full;
    bad[0].1 = "ftp://x";
    assert!(make(&bad).contains("not an http(s) URL"));
    let mut extra = full.to_vec();
    extra.push(("colour", "red"));
    assert!(make(&extra).contains("unknown field \"colour\""));
    for bad_rate in ["fast", "0", "-3", "inf"] {
        let mut rated = full.to_vec();
        rated.push(("requests_per_second", bad_rate));
        let e = make(&rated);
        assert!(e.contains("requests_per_second") && e.contains(bad_rate), "{e}");
    }
    let mut rated = full.to_vec();
    rated.push(("requests_per_second", "250"));
    let creds = avesa_connectors::ServiceCredentials(
        rated.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
    );
    assert!(avesa_connectors::SpecConnector::new(spec.clone(), "t", &creds).is_ok());
    let unreachable = avesa_connectors::SpecConnector::new(
        spec.clone(),
        "t",
        &avesa_connectors::ServiceCredentials(
            [
                ("api_url", "http://127.0.0.1:9"),
                ("company_id", "a"),
                ("public_key", "p"),
                ("private_key", "k"),
                ("client_id", "c"),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ),
    )
    .unwrap()
    .with_retry_policy(common::quick_policy());
    let e = unreachable.test().await.unwrap_err();
    assert!(e.explain().contains("cannot reach"), "{}", e.explain());
    assert!(e.explain().contains("refused"), "{}", e.explain());
    let no_dns = avesa_connectors::SpecConnector::new(
        spec.clone(),
        "t",
        &avesa_connectors::ServiceCredentials(
            [
                ("api_url", "http://no-such-host.invalid"),
                ("company_id", "a"),
                ("public_key", "p"),
                ("private_key", "k"),
                ("client_id", "c"),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ),
    )
    .unwrap()
    .with_retry_policy(common::quick_policy());
    let e = no_dns.test().await.unwrap_err();
    assert!(e.explain().contains("DNS"), "{}", e.explain());
    let _ = Cursor::new(now(), "1");
}

/// Asserts from the simulator's traffic log that no client sent a request before a
/// `Retry-After` it was given had ended.
fn assert_retry_after_obeyed(traffic: &[avesa_sim::TrafficEntry], wait_ms: i64) {
    for (i, t) in traffic.iter().enumerate() {
        if t.status != 429 && !(t.status == 503 && t.outcome.starts_with("fault")) {
            continue;
        }
        if let Some(next) = traffic[i + 1..].iter().find(|n| n.client == t.client) {
            assert!(
                next.at_ms - t.at_ms >= wait_ms - 5,
                "a request {} ms after a Retry-After of {wait_ms} ms: {next:?}",
                next.at_ms - t.at_ms
            );
        }
    }
}

#[tokio::test]
async fn every_injected_fault_is_survived_with_exact_data() {
    use avesa_sim::{FaultKind, FaultRule};
    let f = Fixture::new().await;
    let c = f.connector();
    let kinds = [
        FaultKind::Status { status: 500, retry_after: None },
        FaultKind::Status { status: 503, retry_after: Some(1) },
        FaultKind::Status { status: 429, retry_after: Some(1) },
        FaultKind::Status { status: 408, retry_after: None },
        FaultKind::Slow { millis: 300 },
        FaultKind::Truncate,
        FaultKind::Drop,
        FaultKind::Garbage,
    ];
    // One fault of each kind, spread over the read: every third tickets request fails.
    for (i, k) in kinds.iter().enumerate() {
        f.sim.faults().inject(
            FaultRule::new(k.clone()).path("service/tickets").skip(3 * i as u32 + 1).times(1),
        );
    }
    let read = read_all(&c, "service/tickets", None, 15).await.unwrap();
    let truth = f.sim.truth(&f.spec.company_id);
    assert_eq!(read.records.len(), truth.tickets.len(), "nothing duplicated");
    let got: BTreeSet<String> = read.by_id().into_keys().collect();
    assert_eq!(got, ids(&truth.tickets), "nothing missing");
    let traffic = f.sim.faults().traffic();
    for k in &kinds {
        let name = format!("fault:{}", k.name());
        assert!(traffic.iter().any(|t| t.outcome == name), "{name} was injected");
    }
    assert!(read.stats.retries >= kinds.len() as u64 - 1, "{:?}", read.stats);
    assert_eq!(read.stats.throttles, 2, "429 and 503 count as throttles");
    assert_retry_after_obeyed(&traffic, 1000);
}

#[tokio::test]
async fn throttling_is_obeyed_and_the_request_rate_stays_within_budget() {
    let f = Fixture::new().await;
    // The vendor allows 4 requests per second (burst 4); our budget is 10/s with a burst
    // of 20, so the vendor throttles and the budget must slow down and wait.
    f.sim.faults().set_rate_limit(Some(avesa_sim::RateLimit::new(4.0, 4)));
    let c = connector(
        "connectwise",
        "acme",
        &[
            ("api_url", &f.api_url),
            ("company_id", &f.spec.company_id),
            ("public_key", &f.spec.public_key),
            ("private_key", &f.spec.private_key),
            ("client_id", &f.spec.client_id),
        ],
        10.0,
    );
    let read = read_all(&c, "company/contacts", None, 5).await.unwrap();
    assert_eq!(read.records.len(), f.sim.truth(&f.spec.company_id).contacts.len());
    let traffic = f.sim.faults().traffic();
    assert!(traffic.iter().any(|t| t.outcome == "throttled"), "the vendor limit was hit");
    assert_retry_after_obeyed(&traffic, 1000);
    assert!(read.stats.throttles >= 1);

    // Our own budget: with no vendor limit, 45 requests at 10/s after a burst of 20 take
    // at least 2.5 s, and no one-second window holds more than burst + rate.
    f.sim.faults().set_rate_limit(None);
    f.sim.faults().clear_traffic();
    let read = read_all(&c, "service/tickets", None, 10).await.unwrap();
    assert_eq!(read.records.len(), f.sim.truth(&f.spec.company_id).tickets.len());
    let at: Vec<i64> = f.sim.faults().traffic().iter().map(|t| t.at_ms).collect();
    assert!(at.len() >= 43, "{} requests", at.len());
    for (i, start) in at.iter().enumerate() {
        let in_window = at[i..].iter().take_while(|t| **t < start + 1000).count();
        assert!(in_window <= 31, "{in_window} requests within one second");
    }
    assert!(at.last().unwrap() - at[0] >= 2000, "paced: {} ms", at.last().unwrap() - at[0]);
}

#[tokio::test]
async fn every_connectwise_table_reads_exactly_the_truth() {
    let f = Fixture::new().await;
    let c = f.connector();
    assert_eq!(c.tables().len(), avesa_sim::CW_ALL_TABLES.len(), "{:?}", c.tables());
    let truth = f.sim.truth(&f.spec.company_id);
    for table in avesa_sim::CW_ALL_TABLES {
        let read = read_all(&c, table, None, 250).await.unwrap();
        let want = truth.table(table).unwrap_or_else(|| panic!("truth of {table}"));
        assert!(!want.is_empty(), "{table} has data");
        assert_eq!(read.records.len(), want.len(), "{table}: each record once");
        let got: BTreeSet<String> = read.by_id().into_keys().collect();
        assert_eq!(got, ids(want), "{table}");
        for r in &read.records {
            // Each record's members, split from the page once, travel with it.
            let indexed = r.index.as_ref().and_then(|i| i.members(&r.json));
            assert!(indexed.is_some(), "{table}: record {} has no member index", r.source_id);
            assert_eq!(indexed, Members::parse(&r.json), "{table}: record {}", r.source_id);
        }
    }
    // Statuses come board by board, each board's page carrying the boards still to read.
    let first = c.fetch_page("service/boards/statuses", None, 100).await.unwrap();
    assert!(first.more);
    assert!(first.last.unwrap().token().unwrap().starts_with("parents:"));
    assert!(c.count("service/boards/statuses", None).await.is_err(), "no count per parent");
}

/// ConnectWise's forward-only pagination (`pagination-type: forward-only`, `pageId` in
/// the `Link` URL) through the engine's link paging: the whole table, exactly.
#[tokio::test]
async fn forward_only_pagination_reads_the_whole_table() {
    let f = Fixture::new().await;
    let src = include_str!("../specs/connectwise.toml").replace(
        "[paging]\nkind = \"keyset\"",
        "[paging]\nkind = \"link_header\"\nheaders = { \"pagination-type\" = \"forward-only\" }",
    );
    let spec =
        std::sync::Arc::new(avesa_connectors::Spec::parse("forward-only.toml", &src).unwrap());
    let creds = avesa_connectors::ServiceCredentials(
        [
            ("api_url", f.api_url.as_str()),
            ("company_id", &f.spec.company_id),
            ("public_key", &f.spec.public_key),
            ("private_key", &f.spec.private_key),
            ("client_id", &f.spec.client_id),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect(),
    );
    let c = avesa_connectors::SpecConnector::new(spec, "fwd", &creds).unwrap();
    f.sim.clear_requests();
    let read = read_all(&c, "time/entries", None, 100).await.unwrap();
    let truth = f.sim.truth(&f.spec.company_id);
    assert_eq!(read.records.len(), truth.time_entries.len());
    let got: BTreeSet<String> = read.by_id().into_keys().collect();
    assert_eq!(got, ids(&truth.time_entries));
    assert!(read.pages >= 9, "{} pages", read.pages);
    assert!(
        f.sim.requests().iter().skip(1).all(|r| r.query.contains("pageId=")),
        "followed pageId links"
    );
}
