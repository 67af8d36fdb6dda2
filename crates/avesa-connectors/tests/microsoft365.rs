//! The Microsoft 365 (Graph) spec, executed by the engine, against the Graph simulator:
//! delta rounds, `@removed` deletes, expired delta links and tokens, bad credentials.

mod common;

use std::collections::BTreeSet;

use avesa_connectors::{Connector, ConnectorError, SpecConnector};
use avesa_sim::{Changes, GraphSim, GraphSizes, GraphTenantSpec};
use chrono::{DateTime, Utc};
use common::{connector, read_all};

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-01-15T12:00:00Z").unwrap().to_utc()
}

struct Fixture {
    sim: GraphSim,
    spec: GraphTenantSpec,
    base: String,
    _server: tokio::task::JoinHandle<()>,
}

impl Fixture {
    async fn new() -> Fixture {
        let sim = GraphSim::new();
        let spec = GraphTenantSpec::new("contoso", 5, GraphSizes { users: 230, groups: 17 }, now());
        sim.add_tenant(spec.clone());
        let (addr, server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        Fixture { sim, spec, base: format!("http://{addr}"), _server: server }
    }

    fn connector_with(&self, secret: &str) -> SpecConnector {
        connector(
            "microsoft365",
            "contoso",
            &[
                ("tenant_id", &self.spec.tenant_id),
                ("client_id", &self.spec.client_id),
                ("client_secret", secret),
                ("login_url", &self.base),
                ("graph_url", &self.base),
            ],
            500.0,
        )
    }

    fn connector(&self) -> SpecConnector {
        self.connector_with(&self.spec.client_secret.clone())
    }

    fn truth_ids(&self, table: &str) -> BTreeSet<String> {
        self.sim.truth(&self.spec.tenant_id).tables[table]
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[tokio::test]
async fn delta_rounds_read_everything_then_only_changes_and_removals() {
    let f = Fixture::new().await;
    let c = f.connector();
    let mut ends = Vec::new();
    for table in ["users", "groups"] {
        let read = read_all(&c, table, None, 50).await.unwrap();
        let got: BTreeSet<String> = read.by_id().into_keys().collect();
        assert_eq!(got, f.truth_ids(table), "{table}");
        assert!(read.records.iter().all(|r| !r.deleted));
        let end = read.end.unwrap();
        assert!(end.token().unwrap().starts_with("delta:"), "{end:?}");
        ends.push(end);
    }

    let report = f.sim.advance(
        &f.spec.tenant_id,
        Changes { duration: chrono::Duration::hours(2), updates: 20, creates: 6, deletes: 5 },
    );
    for (table, end) in ["users", "groups"].iter().zip(ends) {
        let after = c.resume_from(end.clone(), chrono::Duration::seconds(60));
        assert_eq!(after.continuation, end.continuation, "a delta link is kept exactly");
        let read = read_all(&c, table, Some(after), 50).await.unwrap();
        let changed: BTreeSet<String> = report.updated[*table]
            .iter()
            .chain(&report.created[*table])
            .filter(|id| !report.deleted[*table].contains(id))
            .cloned()
            .collect();
        let deleted: BTreeSet<String> = report.deleted[*table].iter().cloned().collect();
        let by_id = read.by_id();
        let got_live: BTreeSet<String> =
            by_id.iter().filter(|(_, r)| !r.deleted).map(|(k, _)| k.clone()).collect();
        let got_deleted: BTreeSet<String> =
            by_id.iter().filter(|(_, r)| r.deleted).map(|(k, _)| k.clone()).collect();
        assert_eq!(got_live, changed, "{table}: exactly the changed objects");
        assert_eq!(got_deleted, deleted, "{table}: removals become deletions");
        assert!(read.end.unwrap().token().unwrap().starts_with("delta:"));
    }
}

#[tokio::test]
async fn an_expired_delta_link_starts_a_full_resync() {
    let f = Fixture::new().await;
    let c = f.connector();
    let end = read_all(&c, "users", None, 200).await.unwrap().end.unwrap();
    f.sim.expire_delta_tokens();
    let read = read_all(&c, "users", Some(end), 200).await.unwrap();
    let got: BTreeSet<String> = read.by_id().into_keys().collect();
    assert_eq!(got, f.truth_ids("users"), "the resync reads every live user");
    // Seven simulated days also expire a delta link.
    let end = read.end.unwrap();
    f.sim.advance(
        &f.spec.tenant_id,
        Changes { duration: chrono::Duration::days(8), updates: 3, creates: 0, deletes: 0 },
    );
    let read = read_all(&c, "users", Some(end), 200).await.unwrap();
    assert_eq!(read.records.len(), f.truth_ids("users").len());
}

#[tokio::test]
async fn an_expired_access_token_is_fetched_again_once() {
    let f = Fixture::new().await;
    let c = f.connector();
    c.fetch_page("users", None, 10).await.unwrap();
    f.sim.expire_tokens();
    f.sim.clear_requests();
    let page = c.fetch_page("users", None, 10).await.unwrap();
    assert_eq!(page.records.len(), 10);
    let paths: Vec<String> =
        f.sim.requests().iter().map(|r| format!("{} {}", r.status, r.path)).collect();
    let tokens = paths.iter().filter(|p| p.contains("/oauth2/v2.0/token")).count();
    assert_eq!(tokens, 1, "{paths:?}");
    assert_eq!(paths.iter().filter(|p| p.starts_with("401")).count(), 1, "{paths:?}");
}

#[tokio::test]
async fn a_wrong_secret_is_one_clear_error_without_retries() {
    let f = Fixture::new().await;
    let c = f.connector_with("not-the-secret");
    f.sim.clear_requests();
    let e = c.fetch_page("users", None, 10).await.unwrap_err();
    assert!(matches!(e, ConnectorError::Auth { .. }), "{e:?}");
    assert!(e.to_string().contains("invalid_client"), "{e}");
    assert!(!e.to_string().contains("not-the-secret"));
    assert_eq!(f.sim.requests().len(), 1, "no retry storm");
    assert!(f.connector().test().await.is_ok());
}

#[tokio::test]
async fn faults_and_throttling_are_survived() {
    use avesa_sim::{FaultKind, FaultRule};
    let f = Fixture::new().await;
    let c = f.connector();
    for (i, k) in [
        FaultKind::Status { status: 429, retry_after: Some(1) },
        FaultKind::Status { status: 503, retry_after: Some(1) },
        FaultKind::Status { status: 502, retry_after: None },
        FaultKind::Drop,
        FaultKind::Truncate,
        FaultKind::Garbage,
    ]
    .into_iter()
    .enumerate()
    {
        f.sim
            .faults()
            .inject(FaultRule::new(k).path("/users/delta").skip(2 * i as u32 + 1).times(1));
    }
    let read = read_all(&c, "users", None, 20).await.unwrap();
    let got: BTreeSet<String> = read.by_id().into_keys().collect();
    assert_eq!(got, f.truth_ids("users"));
    assert_eq!(read.records.len(), got.len(), "nothing duplicated");
    let traffic = f.sim.faults().traffic();
    assert_eq!(traffic.iter().filter(|t| t.outcome.starts_with("fault")).count(), 6);
    for (i, t) in traffic.iter().enumerate().filter(|(_, t)| t.status == 429 || t.status == 503) {
        let next = traffic[i + 1..].iter().find(|n| n.client == t.client).unwrap();
        assert!(next.at_ms - t.at_ms >= 995, "Retry-After obeyed: {t:?} then {next:?}");
    }
}

/// The demo's second run: the delta links saved by the first name the simulator's old
/// port. The connector follows a link only on the configured origin, so the stored link
/// is rebased onto the new one and the round reads the changes.
#[tokio::test]
async fn a_delta_link_saved_on_another_origin_is_followed_on_the_configured_one() {
    let f = Fixture::new().await;
    let end = read_all(&f.connector(), "users", None, 200).await.unwrap().end.unwrap();
    f._server.abort();
    let (addr, _again) = f.sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let moved = Fixture { base: format!("http://{addr}"), ..f };
    let report = moved.sim.advance(
        &moved.spec.tenant_id,
        Changes { duration: chrono::Duration::hours(1), updates: 4, creates: 2, deletes: 0 },
    );
    let read = read_all(&moved.connector(), "users", Some(end), 200).await.unwrap();
    let got: BTreeSet<String> = read.by_id().into_keys().collect();
    let want: BTreeSet<String> =
        report.updated["users"].iter().chain(&report.created["users"]).cloned().collect();
    assert_eq!(got, want, "only the changes: the saved delta link was used, on the new origin");
}

/// A link naming a foreign host (a compromised or forged vendor answer) never receives a
/// request, so the vendor credentials never leave for it.
#[tokio::test]
async fn a_link_to_a_foreign_host_never_gets_the_credentials() {
    let f = Fixture::new().await;
    let c = f.connector();
    let end = read_all(&c, "users", None, 200).await.unwrap().end.unwrap();
    let evil = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let evil_addr = evil.local_addr().unwrap();
    let contacted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = contacted.clone();
    tokio::spawn(async move {
        while evil.accept().await.is_ok() {
            seen.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let mut forged = end.clone();
    let Some(avesa_model::Continuation::Delta(link)) = &end.continuation else {
        panic!("a delta link: {end:?}")
    };
    let mut u = url::Url::parse(link).unwrap();
    u.set_port(Some(evil_addr.port())).unwrap();
    forged.continuation = Some(avesa_model::Continuation::Delta(u.to_string()));
    let read = read_all(&c, "users", Some(forged), 200).await.unwrap();
    assert!(read.records.is_empty(), "no changes since the link was issued");
    assert!(!contacted.load(std::sync::atomic::Ordering::SeqCst), "the foreign host was contacted");
}
