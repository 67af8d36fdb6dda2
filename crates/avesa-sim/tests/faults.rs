//! The shared fault-injection and rate-limit layer, over real HTTP: in front of the
//! ConnectWise simulator, and in front of a bare router in other vendors' error styles.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use avesa_sim::{
    ConnectWiseSim, CwCompanySpec, CwSizes, ErrorStyle, FaultKind, FaultRule, Faults, RateLimit,
    TrafficEntry,
};
use chrono::{DateTime, Utc};
use serde_json::Value;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-01-15T12:00:00Z").unwrap().to_utc()
}

struct Fixture {
    sim: ConnectWiseSim,
    spec: CwCompanySpec,
    addr: SocketAddr,
    http: reqwest::Client,
    _server: tokio::task::JoinHandle<()>,
}

impl Fixture {
    async fn new() -> Fixture {
        let sim = ConnectWiseSim::new();
        let sizes = CwSizes::derived(12, 40, 300, 700, 6);
        let spec = CwCompanySpec::new("acme_msp", 7, sizes, now());
        sim.add_company(spec.clone());
        let (addr, server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        // no connection reuse: a dropped or truncated connection must not affect the next call
        let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
        Fixture { sim, spec, addr, http, _server: server }
    }

    fn url(&self, path_and_query: &str) -> String {
        format!(
            "{}/{}",
            ConnectWiseSim::api_base(self.addr),
            path_and_query.trim_start_matches('/')
        )
    }

    fn sim_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn try_get(&self, path_and_query: &str) -> reqwest::Result<reqwest::Response> {
        self.http
            .get(self.url(path_and_query))
            .header("Authorization", self.spec.authorization())
            .header("clientId", &self.spec.client_id)
            .send()
            .await
    }

    async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.try_get(path_and_query).await.unwrap()
    }

    async fn status(&self, path_and_query: &str) -> u16 {
        let r = self.get(path_and_query).await;
        let s = r.status().as_u16();
        let _ = r.bytes().await.unwrap();
        s
    }

    fn faults(&self) -> &Faults {
        self.sim.faults()
    }
}

fn outcomes(traffic: &[TrafficEntry]) -> Vec<&str> {
    traffic.iter().map(|e| e.outcome.as_str()).collect()
}

fn retry_after(r: &reqwest::Response) -> Option<u64> {
    r.headers().get("retry-after")?.to_str().ok()?.parse().ok()
}

#[tokio::test]
async fn status_faults_count_skip_and_times_exactly() {
    let f = Fixture::new().await;
    f.faults().inject(
        FaultRule::new(FaultKind::Status { status: 503, retry_after: Some(2) })
            .path("service/tickets")
            .skip(1)
            .times(2),
    );
    // a second rule on the same path: it counts every matching request too, and fires on
    // the 4th one only
    f.faults().inject(FaultRule::status(500).path("tickets?page=").skip(1).times(1));

    let mut statuses = Vec::new();
    for i in 0..5 {
        let r = f.get("service/tickets?page=1&pageSize=5").await;
        statuses.push(r.status().as_u16());
        if r.status() == 503 {
            assert_eq!(retry_after(&r), Some(2));
            assert_eq!(
                r.headers()["content-type"].to_str().unwrap(),
                "application/json; charset=utf-8"
            );
            let body: Value = r.json().await.unwrap();
            assert!(body["code"].is_string() && body["message"].is_string(), "{body}");
        } else if r.status() == 500 {
            assert_eq!(retry_after(&r), None);
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["code"], "ConnectWiseApi");
        } else {
            assert_eq!(r.json::<Vec<Value>>().await.unwrap().len(), 5, "request {i}");
        }
        // an unmatched path is never faulted and does not count
        assert_eq!(f.status("company/companies").await, 200);
    }
    // rule 1 fires on matches 2 and 3; rule 2 would fire on its 2nd match (the 2nd request)
    // but rule 1 comes first; rule 2's window is then spent
    assert_eq!(statuses, [200, 503, 503, 200, 200]);
    let rules = f.faults().rules();
    assert_eq!(rules.iter().map(|(_, seen)| *seen).collect::<Vec<_>>(), [5, 5]);

    let traffic = f.faults().traffic();
    assert_eq!(traffic.len(), 10);
    let tickets: Vec<&TrafficEntry> =
        traffic.iter().filter(|e| e.path.ends_with("/service/tickets")).collect();
    assert_eq!(
        tickets.iter().map(|e| (e.outcome.as_str(), e.status)).collect::<Vec<_>>(),
        [
            ("passed", 200),
            ("fault:status", 503),
            ("fault:status", 503),
            ("passed", 200),
            ("passed", 200)
        ]
    );
    assert_eq!(tickets[0].query, "page=1&pageSize=5");
    assert_eq!(tickets[0].method, "GET");
    assert!(traffic.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    // faulted requests never reached the simulator
    let served = f.sim.requests();
    assert_eq!(served.iter().filter(|r| r.path == "/service/tickets").count(), 3);
    assert!(served.iter().all(|r| r.at_ms > 0));

    f.faults().clear();
    assert_eq!(f.status("service/tickets").await, 200);
}

#[tokio::test]
async fn a_rule_with_times_zero_applies_forever_and_path_none_matches_all() {
    let f = Fixture::new().await;
    f.faults().inject(FaultRule::status(502).skip(2));
    let mut statuses = Vec::new();
    for path in ["system/info", "company/companies", "service/tickets", "time/entries", "x"] {
        statuses.push(f.status(path).await);
    }
    assert_eq!(statuses, [200, 200, 502, 502, 502]);
    // codebase discovery goes through the layer too
    let r = f.http.get(f.sim_url("/login/companyinfo/acme_msp")).send().await.unwrap();
    assert_eq!(r.status(), 502);
}

#[tokio::test]
async fn slow_delays_then_passes_through() {
    let f = Fixture::new().await;
    f.faults().inject(FaultRule::new(FaultKind::Slow { millis: 400 }).path("contacts").times(1));
    let started = Instant::now();
    let r = f.get("company/contacts?pageSize=3").await;
    let slow = started.elapsed();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Vec<Value>>().await.unwrap().len(), 3);
    assert!(slow >= Duration::from_millis(400), "{slow:?}");
    let started = Instant::now();
    assert_eq!(f.status("company/contacts?pageSize=3").await, 200);
    assert!(started.elapsed() < Duration::from_millis(400));
    let traffic = f.faults().traffic();
    assert_eq!(outcomes(&traffic), ["fault:slow", "passed"]);
    assert_eq!(traffic[0].status, 200);
    assert_eq!(f.sim.requests().len(), 2, "a slow request is still served");
}

#[tokio::test]
async fn truncate_declares_the_full_length_and_sends_half() {
    let f = Fixture::new().await;
    let full = f.get("company/companies").await.bytes().await.unwrap();
    f.faults().inject(FaultRule::new(FaultKind::Truncate).path("company/companies").times(1));
    let r = f.get("company/companies").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.content_length(), Some(full.len() as u64));
    assert!(r.bytes().await.is_err(), "the body must be incomplete");

    // the raw bytes on the wire: the head, then exactly half the body, then the end
    f.faults().inject(FaultRule::new(FaultKind::Truncate).path("company/companies").times(1));
    let raw = raw_get(
        f.addr,
        "/v4_6_release/apis/3.0/company/companies",
        &[("Authorization", &f.spec.authorization()), ("clientId", &f.spec.client_id)],
    )
    .await;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains(&format!("content-length: {}", full.len())));
    assert_eq!(body.as_bytes(), &full[..full.len() / 2]);

    assert_eq!(f.get("company/companies").await.bytes().await.unwrap(), full);
    let traffic = f.faults().traffic();
    assert_eq!(outcomes(&traffic), ["passed", "fault:truncate", "fault:truncate", "passed"]);
    assert_eq!(traffic[1].status, 200);
}

/// Sends one GET over a fresh TCP connection and returns everything until the server closes.
async fn raw_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    // a reset after the data is fine: what arrived is what counts
    if let Ok(Err(e)) = &read {
        assert!(!out.is_empty() || e.kind() == std::io::ErrorKind::ConnectionReset, "{e}");
    }
    assert!(read.is_ok(), "the server must end the connection");
    out
}

#[tokio::test]
async fn drop_fails_the_connection_without_a_response() {
    let f = Fixture::new().await;
    f.faults().inject(FaultRule::new(FaultKind::Drop).path("service/tickets").times(2));
    match f.try_get("service/tickets").await {
        Err(e) => assert!(!e.is_status(), "{e}"),
        Ok(r) => assert!(r.bytes().await.is_err(), "a dropped connection must fail"),
    }
    let raw = raw_get(
        f.addr,
        "/v4_6_release/apis/3.0/service/tickets",
        &[("Authorization", &f.spec.authorization()), ("clientId", &f.spec.client_id)],
    )
    .await;
    assert!(raw.is_empty(), "no response bytes at all: {}", String::from_utf8_lossy(&raw));
    assert_eq!(f.status("service/tickets").await, 200);
    let traffic = f.faults().traffic();
    assert_eq!(outcomes(&traffic), ["fault:drop", "fault:drop", "passed"]);
    assert_eq!(traffic[0].status, 0);
    assert_eq!(f.sim.requests().len(), 1);
}

#[tokio::test]
async fn garbage_is_a_200_html_page() {
    let f = Fixture::new().await;
    f.faults().inject(FaultRule::new(FaultKind::Garbage).times(1));
    let r = f.get("service/tickets").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let body = r.text().await.unwrap();
    assert!(body.trim_start().starts_with('<'), "{body}");
    assert!(serde_json::from_str::<Value>(&body).is_err());
    assert_eq!(f.faults().traffic()[0].outcome, "fault:garbage");
}

#[tokio::test]
async fn rate_limit_refuses_over_budget_requests_with_retry_after() {
    let f = Fixture::new().await;
    f.faults().set_rate_limit(Some(RateLimit::new(2.0, 3)));
    let mut first = Vec::new();
    let mut wait = None;
    for _ in 0..5 {
        let r = f.get("system/info").await;
        first.push(r.status().as_u16());
        if r.status() == 429 {
            wait = retry_after(&r);
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["code"], "TooManyRequests", "{body}");
            assert!(body["message"].is_string());
        }
    }
    assert_eq!(first, [200, 200, 200, 429, 429], "burst of 3");
    let wait = wait.unwrap();
    assert_eq!(wait, 1, "one token comes back in 0.5 s, rounded up to whole seconds");

    // another credential has its own bucket; no credential is one bucket ("anonymous")
    let r = f.http.get(f.sim_url("/login/companyinfo/acme_msp")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // a client that obeys Retry-After is never refused twice in a row
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let mut refused_in_a_row = 0;
    let mut passed = 0;
    let started = Instant::now();
    while passed < 6 && started.elapsed() < Duration::from_secs(15) {
        let r = f.get("system/info").await;
        if r.status() == 429 {
            refused_in_a_row += 1;
            assert!(refused_in_a_row < 2, "refused twice in a row");
            tokio::time::sleep(Duration::from_secs(retry_after(&r).unwrap())).await;
        } else {
            assert_eq!(r.status(), 200);
            refused_in_a_row = 0;
            passed += 1;
        }
    }
    assert_eq!(passed, 6);

    // the traffic log shows it: throttled requests, nothing sent by that client before
    // Retry-After ended (after the first two, sent on purpose), and a rate within budget
    let traffic = f.faults().traffic();
    let me = &traffic[0].client;
    assert!(!f.spec.authorization().contains(me.as_str()) && me.len() <= 16);
    let mine: Vec<&TrafficEntry> = traffic.iter().filter(|e| &e.client == me).collect();
    assert!(mine.iter().filter(|e| e.outcome == "throttled").count() >= 2);
    assert!(mine.iter().all(|e| (e.outcome == "throttled") == (e.status == 429)));
    for w in mine.windows(2).skip(4) {
        if w[0].outcome == "throttled" {
            assert!(w[1].at_ms - w[0].at_ms >= 1000, "{w:?}");
            assert_eq!(w[1].outcome, "passed");
        }
    }
    let passed_at: Vec<i64> =
        mine.iter().filter(|e| e.outcome == "passed").map(|e| e.at_ms).collect();
    for (i, &t) in passed_at.iter().enumerate() {
        // within any window of `d` ms at most burst + rate * d requests pass (+1 for clocks)
        for &u in &passed_at[i..] {
            let n = passed_at[i..].iter().filter(|&&x| x <= u).count() as f64;
            let d = (u - t) as f64 / 1000.0;
            assert!(n <= 3.0 + 2.0 * d + 1.0, "{n} requests in {d} s");
        }
    }
    let anonymous: Vec<&TrafficEntry> =
        traffic.iter().filter(|e| e.client == "anonymous").collect();
    assert_eq!(anonymous.len(), 1);
    assert_eq!(anonymous[0].outcome, "passed");

    f.faults().set_rate_limit(None);
    for _ in 0..5 {
        assert_eq!(f.status("system/info").await, 200);
    }
}

#[tokio::test]
async fn a_given_retry_after_is_sent_and_throttled_requests_are_not_faulted() {
    let f = Fixture::new().await;
    f.faults().set_rate_limit(Some(RateLimit { per_second: 10.0, burst: 1, retry_after: Some(7) }));
    f.faults().inject(FaultRule::status(500).times(1));
    let r = f.get("system/info").await;
    assert_eq!(r.status(), 500, "the first request takes the token and the fault");
    let r = f.get("system/info").await;
    assert_eq!(r.status(), 429);
    assert_eq!(retry_after(&r), Some(7));
    assert_eq!(f.faults().rules()[0].1, 1, "a throttled request does not count for rules");
    assert_eq!(outcomes(&f.faults().traffic()), ["fault:status", "throttled"]);
}

#[tokio::test]
async fn control_routes_over_http() {
    let f = Fixture::new().await;
    let r = f
        .http
        .post(f.sim_url("/_sim/faults"))
        .body(
            r#"[{"path_contains":"service/tickets","times":1,"kind":{"type":"status","status":429,"retry_after":3}},
                {"path_contains":"company/contacts","kind":{"type":"garbage"}}]"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = f
        .http
        .post(f.sim_url("/_sim/faults"))
        .body(r#"{"skip":100,"kind":{"type":"slow","millis":5}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rules: Vec<Value> =
        f.http.get(f.sim_url("/_sim/faults")).send().await.unwrap().json().await.unwrap();
    assert_eq!(rules.len(), 3);
    assert_eq!(rules[0]["kind"]["type"], "status");
    assert_eq!(rules[0]["seen"], 0);

    let r = f.get("service/tickets").await;
    assert_eq!(r.status(), 429);
    assert_eq!(retry_after(&r), Some(3));
    let r = f.get("company/contacts").await;
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));

    for bad in ["not json", r#"{"kind":{"type":"meteor"}}"#, r#"[{"skip":1}]"#] {
        let r = f.http.post(f.sim_url("/_sim/faults")).body(bad).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        assert!(r.json::<Value>().await.unwrap()["error"].is_string());
    }
    let r = f.http.delete(f.sim_url("/_sim/faults")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(f.faults().rules().is_empty());
    assert_eq!(f.status("company/contacts").await, 200);

    let r = f
        .http
        .post(f.sim_url("/_sim/rate_limit"))
        .body(r#"{"per_second":0.5,"burst":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(f.faults().rate_limit(), Some(RateLimit::new(0.5, 1)));
    assert_eq!(f.status("system/info").await, 200);
    let r = f.get("system/info").await;
    assert_eq!(r.status(), 429);
    assert_eq!(retry_after(&r), Some(2));
    let r = f.http.post(f.sim_url("/_sim/rate_limit")).body("{}").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = f.http.delete(f.sim_url("/_sim/rate_limit")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(f.status("system/info").await, 200);

    let traffic: Vec<TrafficEntry> =
        f.http.get(f.sim_url("/_sim/traffic")).send().await.unwrap().json().await.unwrap();
    assert_eq!(traffic, f.faults().traffic());
    assert_eq!(
        outcomes(&traffic),
        ["fault:status", "fault:garbage", "passed", "passed", "throttled", "passed"]
    );
    assert!(traffic.iter().all(|e| !e.path.starts_with("/_sim")), "control routes are not logged");
    // the simulator's own control routes still work behind the layer, unlogged
    let r = f.http.get(f.sim_url("/_sim/companies")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = f.http.delete(f.sim_url("/_sim/traffic")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(f.faults().traffic().is_empty());
}

// ---- the layer in front of any router, in other vendors' styles

async fn serve_bare(style: ErrorStyle) -> (Faults, SocketAddr, tokio::task::JoinHandle<()>) {
    let faults = Faults::new();
    let app = faults.layer(
        axum::Router::new().route("/api/now/table/incident", axum::routing::get(|| async { "[]" })),
        style,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (faults, addr, server)
}

#[tokio::test]
async fn vendor_error_styles_over_http() {
    let http = reqwest::Client::new();

    let (faults, addr, _s) = serve_bare(ErrorStyle::ServiceNow).await;
    faults.set_rate_limit(Some(RateLimit::new(2.0, 1)));
    let url = format!("http://{addr}/api/now/table/incident");
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(retry_after(&r).is_some());
    assert_eq!(r.headers()["x-ratelimit-limit"], "7200");
    assert!(r.headers().contains_key("x-ratelimit-reset"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "failure");
    assert_eq!(body["error"]["message"], "Rate limit exceeded");
    assert_eq!(
        body["error"]["detail"],
        "Rate limit of 7200 requests per hour for Table API exceeded"
    );

    let (faults, addr, _s) = serve_bare(ErrorStyle::Salesforce).await;
    faults.inject(FaultRule::status(401).times(1));
    let r = http.get(format!("http://{addr}/api/now/table/incident")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body[0]["errorCode"], "INVALID_SESSION_ID");
    assert!(body[0]["message"].is_string());

    let (faults, addr, _s) = serve_bare(ErrorStyle::Graph).await;
    faults.inject(FaultRule::new(FaultKind::Status { status: 429, retry_after: Some(5) }));
    let r = http
        .get(format!("http://{addr}/api/now/table/incident"))
        .header("client-request-id", "11111111-2222-4333-8444-555555555555")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(retry_after(&r), Some(5));
    assert!(r.headers().contains_key("request-id"));
    let body: Value = r.json().await.unwrap();
    let e = &body["error"];
    assert_eq!(e["code"], "TooManyRequests");
    assert_eq!(e["message"], "Too Many Requests");
    assert_eq!(e["innerError"]["code"], "throttledRequest");
    assert_eq!(e["innerError"]["client-request-id"], "11111111-2222-4333-8444-555555555555");
    assert_eq!(e["innerError"]["request-id"].as_str().unwrap().len(), 36);
    assert!(e["innerError"]["date"].is_string());
    assert_eq!(faults.traffic()[0].client, "anonymous");
}
