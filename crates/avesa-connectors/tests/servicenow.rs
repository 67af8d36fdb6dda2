//! The ServiceNow spec, executed by the engine, against the ServiceNow simulator: keyset
//! paging over encoded queries, deletes from `sys_audit_delete`, Basic and OAuth auth, and
//! the offset and `Link` paging modes of the engine on the same API.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use avesa_connectors::{Connector, ConnectorError, ServiceCredentials, Spec, SpecConnector};
use avesa_sim::{Changes, FaultKind, FaultRule, ServiceNowSim, SnSizes, SnTenantSpec};
use chrono::{DateTime, Utc};
use common::{connector, quick_policy, read_all};
use serde_json::Value;

const TABLES: [&str; 5] =
    ["sys_user", "core_company", "customer_contact", "incident", "task_time_worked"];

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-01-15T12:00:00Z").unwrap().to_utc()
}

struct Fixture {
    sim: ServiceNowSim,
    spec: SnTenantSpec,
    url: String,
    _server: tokio::task::JoinHandle<()>,
}

impl Fixture {
    async fn new() -> Fixture {
        let sim = ServiceNowSim::new();
        let sizes =
            SnSizes { companies: 14, users: 6, contacts: 45, incidents: 380, time_worked: 700 };
        let spec = SnTenantSpec::new("acme", 3, sizes, now());
        sim.add_tenant(spec.clone());
        let (addr, server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let url = ServiceNowSim::instance_url(addr, "acme");
        Fixture { sim, spec, url, _server: server }
    }

    fn basic(&self) -> SpecConnector {
        connector(
            "servicenow",
            "acme",
            &[
                ("instance_url", &self.url),
                ("username", &self.spec.username),
                ("password", &self.spec.password),
            ],
            500.0,
        )
    }

    fn oauth(&self) -> SpecConnector {
        connector(
            "servicenow",
            "acme",
            &[
                ("instance_url", &self.url),
                ("username", &self.spec.username),
                ("password", &self.spec.password),
                ("client_id", &self.spec.client_id),
                ("client_secret", &self.spec.client_secret),
            ],
            500.0,
        )
    }

    fn truth_ids(&self, table: &str) -> BTreeSet<String> {
        self.sim.truth("acme").tables[table]
            .iter()
            .map(|v| v["sys_id"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[tokio::test]
async fn full_then_incremental_with_deletes_equals_the_truth() {
    let f = Fixture::new().await;
    let c = f.oauth();
    let truth = f.sim.truth("acme");
    let mut ends = Vec::new();
    for table in TABLES {
        let read = read_all(&c, table, None, 41).await.unwrap();
        let want = &truth.tables[table];
        assert_eq!(read.records.len(), want.len(), "{table}: each record once");
        for w in want {
            let id = w["sys_id"].as_str().unwrap();
            let raw: Value = serde_json::from_str(&read.by_id()[id].json).unwrap();
            assert_eq!(&raw, w, "{table} {id}: kept as sent");
        }
        assert_eq!(c.count(table, None).await.unwrap(), want.len() as u64, "{table} count");
        ends.push(read.end.unwrap());
        // Nothing deleted yet.
        let dels = read_all(&c, &format!("{table}_deletes"), None, 100).await.unwrap();
        assert!(dels.records.is_empty());
    }

    let report = f.sim.advance(
        "acme",
        Changes { duration: chrono::Duration::hours(5), updates: 30, creates: 12, deletes: 8 },
    );
    let deleted_total: usize = report.deleted.values().map(Vec::len).sum();
    assert!(deleted_total > 0, "the advance deleted something: {report:?}");
    for (table, end) in TABLES.iter().zip(ends) {
        let after = c.resume_from(end.clone(), chrono::Duration::zero());
        let read = read_all(&c, table, Some(after), 1000).await.unwrap();
        let got: BTreeSet<String> = read.by_id().into_keys().collect();
        let deleted: BTreeSet<&String> = report.deleted.get(*table).into_iter().flatten().collect();
        let want: BTreeSet<String> = report
            .updated
            .get(*table)
            .into_iter()
            .flatten()
            .chain(report.created.get(*table).into_iter().flatten())
            .filter(|id| !deleted.contains(id))
            .cloned()
            .collect();
        assert_eq!(got, want, "{table}: exactly the changed records");
        // Deletes come as tombstones of the table's own ids.
        let dels = read_all(&c, &format!("{table}_deletes"), None, 100).await.unwrap();
        assert!(dels.records.iter().all(|r| r.deleted));
        let got: BTreeSet<&String> = dels.records.iter().map(|r| &r.source_id).collect();
        assert_eq!(got, deleted, "{table}: deletions");
        assert_eq!(c.mapping_of(&format!("{table}_deletes")).as_deref(), Some(*table));
    }
}

#[tokio::test]
async fn basic_and_oauth_work_and_expired_tokens_are_replaced() {
    let f = Fixture::new().await;
    let basic = f.basic();
    assert!(basic.test().await.is_ok());
    let oauth = f.oauth();
    oauth.fetch_page("incident", None, 5).await.unwrap();
    f.sim.expire_tokens();
    f.sim.clear_requests();
    let page = oauth.fetch_page("incident", None, 5).await.unwrap();
    assert_eq!(page.records.len(), 5);
    let statuses: Vec<u16> = f.sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 1, "{statuses:?}");

    let wrong = connector(
        "servicenow",
        "acme",
        &[("instance_url", &f.url), ("username", &f.spec.username), ("password", "nope")],
        500.0,
    );
    f.sim.clear_requests();
    let e = wrong.fetch_page("incident", None, 5).await.unwrap_err();
    assert!(matches!(e, ConnectorError::Auth { .. }), "{e:?}");
    assert!(e.to_string().contains("User Not Authenticated"), "{e}");
    assert_eq!(f.sim.requests().len(), 1, "no retry storm");
}

/// The same API read with the engine's offset and `Link`-header paging instead of keyset
/// queries: both must give exactly the truth too.
#[tokio::test]
async fn offset_and_link_header_paging_read_exactly_the_truth() {
    let f = Fixture::new().await;
    let src = include_str!("../specs/servicenow.toml");
    let offset = src
        .replace("kind = \"keyset\"", "kind = \"offset\"\noffset_param = \"sysparm_offset\"\nlimit_param = \"sysparm_limit\"\ntotal_header = \"X-Total-Count\"");
    let link = src
        .replace("kind = \"keyset\"", "kind = \"link_header\"")
        .replace(", sysparm_suppress_pagination_header = \"true\"", "");
    for (name, text) in [("offset", offset), ("link", link)] {
        let spec = Arc::new(Spec::parse(&format!("{name}.toml"), &text).unwrap());
        let creds = ServiceCredentials(
            [
                ("instance_url", f.url.as_str()),
                ("username", &f.spec.username),
                ("password", &f.spec.password),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        );
        let c = SpecConnector::new(spec, &format!("acme-{name}"), &creds)
            .unwrap()
            .with_retry_policy(quick_policy());
        let read = read_all(&c, "task_time_worked", None, 64).await.unwrap();
        assert_eq!(read.records.len(), f.truth_ids("task_time_worked").len(), "{name}");
        let got: BTreeSet<String> = read.by_id().into_keys().collect();
        assert_eq!(got, f.truth_ids("task_time_worked"), "{name}");
        assert!(read.pages > 10, "{name}: {} pages", read.pages);
    }
}

#[tokio::test]
async fn faults_and_throttling_are_survived() {
    let f = Fixture::new().await;
    let c = f.oauth();
    f.sim.faults().inject(
        FaultRule::new(FaultKind::Status { status: 429, retry_after: Some(1) })
            .path("table/incident")
            .skip(2)
            .times(1),
    );
    f.sim.faults().inject(FaultRule::new(FaultKind::Drop).path("table/incident").skip(4).times(1));
    f.sim
        .faults()
        .inject(FaultRule::new(FaultKind::Truncate).path("table/incident").skip(6).times(1));
    f.sim.faults().inject(FaultRule::status(500).path("oauth_token").times(1));
    let read = read_all(&c, "incident", None, 50).await.unwrap();
    let got: BTreeSet<String> = read.by_id().into_keys().collect();
    assert_eq!(got, f.truth_ids("incident"));
    assert_eq!(read.records.len(), got.len(), "nothing duplicated");
    let traffic = f.sim.faults().traffic();
    let throttled = traffic.iter().position(|t| t.status == 429).expect("a 429");
    let next =
        traffic[throttled + 1..].iter().find(|t| t.client == traffic[throttled].client).unwrap();
    assert!(next.at_ms - traffic[throttled].at_ms >= 995, "Retry-After obeyed");
}
