//! Connector throughput per service against its simulator, and the simulator's own
//! serving ceiling measured in the same run. Run by `bench/connectors.sh`.
//!
//! For each service one table holds `N` records (default 100,000). The engine reads it
//! the way the pipeline does (largest page size, keyset or next-page continuation,
//! records parsed and their ids and timestamps extracted). Then the exact requests the
//! engine made are replayed with a bare HTTP client that only reads the bodies: that is
//! what the simulator can serve at most on this machine, with no client work at all.
//!
//! ```text
//! cargo run --release -p avesa-connectors --example throughput -- [N] [service…]
//! ```

use std::sync::Arc;
use std::time::Instant;

use avesa_connectors::budget::Budget;
use avesa_connectors::{Connector, Cursor, ServiceCredentials, SpecConnector, builtin_specs};
use avesa_sim::{
    ConnectWiseSim, CwCompanySpec, CwSizes, GraphSim, GraphSizes, GraphTenantSpec, SalesforceSim,
    ServiceNowSim, SfOrgSpec, SfSizes, SnSizes, SnTenantSpec,
};

/// Replaying the logged requests: (requests, bytes read).
type Replay = std::pin::Pin<Box<dyn std::future::Future<Output = (usize, u64)>>>;

struct Setup {
    connector: SpecConnector,
    table: &'static str,
    page: u32,
    /// Replays the logged data requests; returns (requests, bytes).
    replay: Box<dyn Fn() -> Replay>,
}

fn conn(service: &str, fields: &[(&str, String)]) -> SpecConnector {
    let spec = builtin_specs().into_iter().find(|s| s.service == service).unwrap();
    let creds =
        ServiceCredentials(fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect());
    SpecConnector::new(Arc::new(spec), "bench", &creds)
        .unwrap()
        .with_budget(Arc::new(Budget::new(1e9, 1_000_000)))
}

async fn fetch_all(
    http: &reqwest::Client,
    urls: Vec<String>,
    headers: Vec<(String, String)>,
) -> (usize, u64) {
    let mut bytes = 0;
    for u in &urls {
        let mut r = http.get(u);
        for (k, v) in &headers {
            r = r.header(k, v);
        }
        let resp = r.send().await.expect("replay request");
        assert!(resp.status().is_success(), "{u}: {}", resp.status());
        bytes += resp.bytes().await.expect("replay body").len() as u64;
    }
    (urls.len(), bytes)
}

async fn setup(service: &str, n: usize) -> Setup {
    let now = chrono::Utc::now();
    let http = reqwest::Client::new();
    match service {
        "connectwise" => {
            let sim = ConnectWiseSim::new();
            let spec = CwCompanySpec::new("bench", 1, CwSizes::derived(200, 400, n, 10, 25), now);
            sim.add_company(spec.clone());
            let (addr, _) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
            let connector = conn(
                "connectwise",
                &[
                    ("api_url", format!("http://{addr}")),
                    ("company_id", spec.company_id.clone()),
                    ("public_key", spec.public_key.clone()),
                    ("private_key", spec.private_key.clone()),
                    ("client_id", spec.client_id.clone()),
                ],
            );
            Setup {
                connector,
                table: "service/tickets",
                page: 1000,
                replay: Box::new(move || {
                    let urls: Vec<String> = sim
                        .requests()
                        .iter()
                        .filter(|r| r.path == "/service/tickets")
                        .map(|r| {
                            format!("{}{}?{}", ConnectWiseSim::api_base(addr), r.path, r.query)
                        })
                        .collect();
                    let headers = vec![
                        ("Authorization".into(), spec.authorization()),
                        ("clientId".into(), spec.client_id.clone()),
                    ];
                    let http = http.clone();
                    Box::pin(async move { fetch_all(&http, urls, headers).await })
                }),
            }
        }
        "servicenow" => {
            let sim = ServiceNowSim::new();
            let spec = SnTenantSpec::new(
                "bench",
                1,
                SnSizes { companies: 100, users: 20, contacts: 300, incidents: n, time_worked: 10 },
                now,
            );
            sim.add_tenant(spec.clone());
            let (addr, _) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
            let connector = conn(
                "servicenow",
                &[
                    ("instance_url", ServiceNowSim::instance_url(addr, "bench")),
                    ("username", spec.username.clone()),
                    ("password", spec.password.clone()),
                ],
            );
            Setup {
                connector,
                table: "incident",
                page: 1000,
                replay: Box::new(move || {
                    let urls: Vec<String> = sim
                        .requests()
                        .iter()
                        .filter(|r| r.path.ends_with("/table/incident"))
                        .map(|r| format!("http://{addr}{}?{}", r.path, r.query))
                        .collect();
                    let headers = vec![("Authorization".into(), spec.basic_authorization())];
                    let http = http.clone();
                    Box::pin(async move { fetch_all(&http, urls, headers).await })
                }),
            }
        }
        "salesforce" => {
            let sim = SalesforceSim::new();
            let spec = SfOrgSpec::new(
                "bench",
                1,
                SfSizes { accounts: 200, contacts: 400, cases: n, opportunities: 10, users: 20 },
                now,
            );
            sim.add_org(spec.clone());
            let (addr, _) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
            let base = format!("http://{addr}");
            let connector = conn(
                "salesforce",
                &[
                    ("login_url", base.clone()),
                    ("client_id", spec.client_id.clone()),
                    ("client_secret", spec.client_secret.clone()),
                ],
            );
            Setup {
                connector,
                table: "Case",
                page: 2000,
                replay: Box::new(move || {
                    let urls: Vec<String> = sim
                        .requests()
                        .iter()
                        .filter(|r| r.path.contains("/query"))
                        .map(|r| {
                            if r.query.is_empty() {
                                format!("{base}{}", r.path)
                            } else {
                                format!("{base}{}?{}", r.path, r.query)
                            }
                        })
                        .collect();
                    let http = http.clone();
                    let (base, spec) = (base.clone(), spec.clone());
                    Box::pin(async move {
                        let tok: serde_json::Value = http
                            .post(format!("{base}/services/oauth2/token"))
                            .basic_auth(&spec.client_id, Some(&spec.client_secret))
                            .form(&[("grant_type", "client_credentials")])
                            .send()
                            .await
                            .unwrap()
                            .json()
                            .await
                            .unwrap();
                        let bearer = format!("Bearer {}", tok["access_token"].as_str().unwrap());
                        fetch_all(
                            &http,
                            urls,
                            vec![
                                ("Authorization".into(), bearer),
                                ("Sforce-Query-Options".into(), "batchSize=2000".into()),
                            ],
                        )
                        .await
                    })
                }),
            }
        }
        _ => {
            let sim = GraphSim::new();
            let spec = GraphTenantSpec::new("bench", 1, GraphSizes { users: n, groups: 5 }, now);
            sim.add_tenant(spec.clone());
            let (addr, _) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
            let base = format!("http://{addr}");
            let connector = conn(
                "microsoft365",
                &[
                    ("tenant_id", spec.tenant_id.clone()),
                    ("client_id", spec.client_id.clone()),
                    ("client_secret", spec.client_secret.clone()),
                    ("login_url", base.clone()),
                    ("graph_url", base.clone()),
                ],
            );
            Setup {
                connector,
                table: "users",
                page: 999,
                replay: Box::new(move || {
                    let urls: Vec<String> = sim
                        .requests()
                        .iter()
                        .filter(|r| r.path.contains("/users/delta"))
                        .map(|r| {
                            if r.query.is_empty() {
                                format!("{base}{}", r.path)
                            } else {
                                format!("{base}{}?{}", r.path, r.query)
                            }
                        })
                        .collect();
                    let http = http.clone();
                    let spec = spec.clone();
                    Box::pin(async move {
                        let tok: serde_json::Value = http
                            .post(GraphSim::token_url(addr, &spec.tenant_id))
                            .form(&[
                                ("grant_type", "client_credentials"),
                                ("client_id", &spec.client_id),
                                ("client_secret", &spec.client_secret),
                                ("scope", "https://graph.microsoft.com/.default"),
                            ])
                            .send()
                            .await
                            .unwrap()
                            .json()
                            .await
                            .unwrap();
                        let bearer = format!("Bearer {}", tok["access_token"].as_str().unwrap());
                        fetch_all(
                            &http,
                            urls,
                            vec![
                                ("Authorization".into(), bearer),
                                ("Prefer".into(), "odata.maxpagesize=999".into()),
                            ],
                        )
                        .await
                    })
                }),
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let services: Vec<String> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        ["connectwise", "servicenow", "salesforce", "microsoft365"].map(String::from).to_vec()
    };
    println!(
        "| service | table | records | engine s | engine rec/s | MB/s JSON | requests | sim ceiling rec/s | engine / ceiling |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for service in services {
        let s = setup(&service, n).await;
        let started = Instant::now();
        let mut pos: Option<Cursor> = None;
        let (mut records, mut bytes, mut requests) = (0usize, 0u64, 0u64);
        loop {
            let page = s.connector.fetch_page(s.table, pos.as_ref(), s.page).await.expect("page");
            records += page.records.len();
            bytes += page.stats.bytes;
            requests += page.stats.requests;
            match page.last {
                Some(l) if page.more => pos = Some(l),
                _ => break,
            }
        }
        let engine = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let (replayed, replay_bytes) = (s.replay)().await;
        let ceiling = started.elapsed().as_secs_f64();
        assert!(replay_bytes > 0 && replayed > 0);
        println!(
            "| {service} | {} | {records} | {engine:.2} | {:.0} | {:.1} | {requests} | {:.0} | {:.0}% |",
            s.table,
            records as f64 / engine,
            bytes as f64 / 1e6 / engine,
            records as f64 / ceiling,
            100.0 * ceiling / engine,
        );
    }
}
