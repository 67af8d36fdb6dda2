//! End-to-end tests of the ConnectWise simulator over real HTTP.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use avesa_sim::{AdvanceSpec, CW_ALL_TABLES, CW_TABLES, ConnectWiseSim, CwCompanySpec, CwSizes};
use chrono::{DateTime, Utc};
use serde_json::Value;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-01-15T12:00:00Z").unwrap().to_utc()
}

fn tiny() -> CwSizes {
    CwSizes::derived(12, 40, 300, 700, 6)
}

struct Fixture {
    sim: ConnectWiseSim,
    spec: CwCompanySpec,
    addr: SocketAddr,
    http: reqwest::Client,
    _server: tokio::task::JoinHandle<()>,
}

impl Fixture {
    async fn new(sizes: CwSizes) -> Fixture {
        let sim = ConnectWiseSim::new();
        let spec = CwCompanySpec::new("acme_msp", 7, sizes, now());
        sim.add_company(spec.clone());
        let (addr, server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        Fixture { sim, spec, addr, http: reqwest::Client::new(), _server: server }
    }

    fn url(&self, path_and_query: &str) -> String {
        format!(
            "{}/{}",
            ConnectWiseSim::api_base(self.addr),
            path_and_query.trim_start_matches('/')
        )
    }

    async fn get_url(&self, url: &str) -> reqwest::Response {
        self.http
            .get(url)
            .header("Authorization", self.spec.authorization())
            .header("clientId", &self.spec.client_id)
            .header("Content-Type", "application/json")
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.get_url(&self.url(path_and_query)).await
    }

    async fn json(&self, path_and_query: &str) -> (u16, Value) {
        let r = self.get(path_and_query).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    /// Follows `rel="next"` links from `path_and_query` to the end.
    async fn all_pages(&self, path_and_query: &str) -> (Vec<Value>, usize) {
        let mut url = Some(self.url(path_and_query));
        let mut out = Vec::new();
        let mut pages = 0;
        while let Some(u) = url {
            let r = self.get_url(&u).await;
            assert_eq!(r.status(), 200, "{u}");
            url = link(&r, "next");
            let page: Vec<Value> = r.json().await.unwrap();
            out.extend(page);
            pages += 1;
            assert!(pages < 10_000);
        }
        (out, pages)
    }
}

impl Fixture {
    /// Keyset paging as an incremental connector does it: `lastUpdated > [since]`, then
    /// `(lastUpdated > [T] or (lastUpdated = [T] and id > N))` after the last record seen,
    /// ordered by `_info/lastUpdated asc, id asc`, until a short page.
    async fn keyset(&self, path: &str, since: &str, page_size: usize) -> (Vec<Value>, usize) {
        let mut out: Vec<Value> = Vec::new();
        let mut pages = 0;
        loop {
            let cond = match out.last() {
                None => format!("lastUpdated > [{since}]"),
                Some(r) => {
                    let t = r["_info"]["lastUpdated"].as_str().unwrap();
                    format!("(lastUpdated > [{t}] or (lastUpdated = [{t}] and id > {}))", r["id"])
                }
            };
            let (status, page) = self
                .json(&format!(
                    "{path}?conditions={}&orderBy=_info/lastUpdated%20asc,%20id%20asc&pageSize={page_size}",
                    url_escape(&cond)
                ))
                .await;
            assert_eq!(status, 200, "{path}: {page}");
            let page = page.as_array().unwrap().clone();
            pages += 1;
            assert!(pages < 1_000);
            let short = page.len() < page_size;
            out.extend(page);
            if short {
                return (out, pages);
            }
        }
    }
}

/// Records sorted as the keyset query orders them: `_info.lastUpdated`, then `id`.
fn by_last_updated(records: &[Value]) -> Vec<Value> {
    let mut v = records.to_vec();
    v.sort_by_key(|r| (r["_info"]["lastUpdated"].as_str().unwrap().to_string(), r["id"].as_i64()));
    v
}

const NEW_TABLES: [&str; 5] = [
    "finance/agreements",
    "company/configurations",
    "project/projects",
    "sales/opportunities",
    "service/boards",
];

/// The URL of `rel` in the response's Link header.
fn link(r: &reqwest::Response, rel: &str) -> Option<String> {
    let header = r.headers().get("link")?.to_str().ok()?;
    header.split(", <").find_map(|part| {
        let (url, params) = part.trim_start_matches('<').split_once(">;")?;
        params.contains(&format!("rel=\"{rel}\"")).then(|| url.to_string())
    })
}

type Pred = Box<dyn Fn(&Value) -> bool>;

fn ids(records: &[Value]) -> Vec<i64> {
    records.iter().map(|r| r["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn auth_failures_and_company_info() {
    let f = Fixture::new(tiny()).await;
    let url = f.url("service/tickets");

    let r = f.http.get(&url).header("clientId", &f.spec.client_id).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "Unauthorized");
    assert!(body["message"].as_str().unwrap().contains("Authorization"));

    let mut wrong = f.spec.clone();
    wrong.private_key.push('x');
    let r = f
        .http
        .get(&url)
        .header("Authorization", wrong.authorization())
        .header("clientId", &f.spec.client_id)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "Unauthorized");

    let mut other = f.spec.clone();
    other.company_id = "ACME_MSP".into(); // company ids are case-sensitive
    let r = f
        .http
        .get(&url)
        .header("Authorization", other.authorization())
        .header("clientId", &f.spec.client_id)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let r = f.http.get(&url).header("Authorization", f.spec.authorization()).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("clientId"), "{body}");
    assert_eq!(body["errors"][0]["field"], "clientId");

    let r = f
        .http
        .get(&url)
        .header("Authorization", f.spec.authorization())
        .header("clientId", "not-registered")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("clientId"));

    // codebase discovery needs no auth
    let base = format!("http://{}", f.addr);
    let info: Value = f
        .http
        .get(format!("{base}/login/companyinfo/acme_msp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["Codebase"], "v4_6_release/");
    assert_eq!(info["CompanyID"], "acme_msp");
    assert_eq!(info["IsCloud"], true);
    let r = f.http.get(format!("{base}/login/companyinfo/nobody")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "null");

    let (status, info) = f.json("system/info").await;
    assert_eq!(status, 200);
    assert!(info["version"].is_string());

    let log = f.sim.requests();
    let statuses: Vec<u16> = log.iter().map(|r| r.status).collect();
    assert_eq!(&statuses[..5], &[401, 401, 401, 400, 400]);
    assert_eq!(log[0].company_id, None);
    assert_eq!(log[1].company_id.as_deref(), Some("acme_msp"));
    assert_eq!(log[0].path, "/service/tickets");
    assert_eq!(log[5].path, "/login/companyinfo/acme_msp");
    f.sim.clear_requests();
    assert!(f.sim.requests().is_empty());
}

#[tokio::test]
async fn paging_through_every_table_equals_truth() {
    let f = Fixture::new(tiny()).await;
    let truth = f.sim.truth("acme_msp");
    for table in CW_TABLES.iter().chain(&["system/members"]) {
        let (records, pages) = f.all_pages(&format!("{table}?pageSize=100")).await;
        let want = truth.table(table).unwrap();
        assert_eq!(records.len(), want.len(), "{table}");
        assert_eq!(pages, want.len().div_ceil(100).max(1), "{table}");
        assert!(records == want, "{table} differs from truth");
        let mut sorted = ids(&records);
        sorted.sort_unstable();
        assert_eq!(ids(&records), sorted, "{table} default order is id asc");
        let (status, count) = f.json(&format!("{table}/count")).await;
        assert_eq!(status, 200);
        assert_eq!(count["count"], want.len() as i64);
    }

    // default page size is 25; Link URLs keep every parameter and end with page=N
    let r = f.get("company/contacts?conditions=id%3E0&orderBy=lastName%20asc").await;
    let next = link(&r, "next").unwrap();
    assert_eq!(
        next,
        format!(
            "http://{}/v4_6_release/apis/3.0/company/contacts?conditions=id%3E0&orderBy=lastName%20asc&page=2",
            f.addr
        )
    );
    assert!(link(&r, "prev").is_none() && link(&r, "first").is_none());
    assert!(link(&r, "last").unwrap().ends_with("&page=2"));
    let page: Vec<Value> = r.json().await.unwrap();
    assert_eq!(page.len(), 25);
    let r = f.get("company/companies").await;
    assert!(r.headers().get("link").is_none(), "12 companies fit one 25-record page");
    assert_eq!(r.json::<Vec<Value>>().await.unwrap().len(), 12);

    let r = f.get("company/contacts?page=2&pageSize=15").await;
    assert!(link(&r, "next").unwrap().ends_with("pageSize=15&page=3"));
    assert!(link(&r, "prev").unwrap().ends_with("page=1"));
    assert!(link(&r, "first").unwrap().ends_with("page=1"));
    assert!(link(&r, "last").unwrap().ends_with("page=3"));
    let r = f.get("company/contacts?page=3&pageSize=15").await;
    assert!(link(&r, "next").is_none());
    assert_eq!(r.json::<Vec<Value>>().await.unwrap().len(), 10);
    let (status, past_end) = f.json("company/contacts?page=9&pageSize=15").await;
    assert_eq!((status, past_end), (200, Value::Array(vec![])));

    // a record by id, and a missing one
    let first = &truth.tickets[0];
    let (status, one) = f.json(&format!("service/tickets/{}", first["id"])).await;
    assert_eq!(status, 200);
    assert_eq!(&one, first);
    let (status, missing) = f.json("service/tickets/1").await;
    assert_eq!(status, 404);
    assert_eq!(missing["code"], "NotFound");

    let log = f.sim.requests();
    assert!(log.iter().all(|r| r.company_id.as_deref() == Some("acme_msp")));
    let listed: usize = log.iter().filter(|r| r.path == "/time/entries").map(|r| r.records).sum();
    assert_eq!(listed, truth.time_entries.len());
}

#[tokio::test]
async fn page_size_above_1000_is_rejected() {
    let f = Fixture::new(tiny()).await;
    let (status, body) = f.json("service/tickets?pageSize=1001").await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "InvalidObject");
    assert_eq!(body["errors"][0]["code"], "OutOfRange");
    assert_eq!(body["errors"][0]["field"], "pageSize");
    let (status, page) = f.json("service/tickets?pageSize=1000").await;
    assert_eq!(status, 200);
    assert_eq!(page.as_array().unwrap().len(), 300);
    let (status, _) = f.json("service/tickets?pageSize=0").await;
    assert_eq!(status, 400);
    let (status, body) = f.json("service/tickets?page=abc").await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["field"], "page");
    assert_eq!(f.sim.requests()[0].status, 400);
}

#[tokio::test]
async fn conditions_filter_lists_and_counts() {
    let f = Fixture::new(tiny()).await;
    let truth = f.sim.truth("acme_msp");
    let tickets = &truth.tickets;
    let cases: Vec<(&str, Pred)> = vec![
        ("closedFlag=false", Box::new(|t| t["closedFlag"] == false)),
        (
            "board/name=\"Help Desk\" and status/name in (\"New\",\"In Progress\")",
            Box::new(|t| {
                t["board"]["name"] == "Help Desk"
                    && ["New", "In Progress"].contains(&t["status"]["name"].as_str().unwrap())
            }),
        ),
        (
            "(priority/name like \"Priority 1%\" or severity = \"High\") and not closedFlag = true",
            Box::new(|t| {
                (t["priority"]["name"].as_str().unwrap().starts_with("Priority 1")
                    || t["severity"] == "High")
                    && t["closedFlag"] == false
            }),
        ),
        (
            "summary contains \"printer\"",
            Box::new(|t| t["summary"].as_str().unwrap().to_lowercase().contains("printer")),
        ),
        ("contact = null", Box::new(|t| t["contact"].is_null())),
        (
            "closedDate >= [2024-12-01T00:00:00Z]",
            Box::new(|t| t["closedDate"].as_str().is_some_and(|d| d >= "2024-12-01T00:00:00Z")),
        ),
        (
            "lastUpdated > [2024-12-15T00:00:00Z] AND budgetHours >= 1.0",
            Box::new(|t| {
                t["_info"]["lastUpdated"].as_str().unwrap() > "2024-12-15T00:00:00Z"
                    && t["budgetHours"].as_f64().unwrap() >= 1.0
            }),
        ),
        (
            "_info/dateEntered < [2023-06-01T00:00:00Z]",
            Box::new(|t| t["_info"]["dateEntered"].as_str().unwrap() < "2023-06-01T00:00:00Z"),
        ),
        ("company/id in (1, 2, 3)", Box::new(|_| false)),
    ];
    for (cond, pred) in &cases {
        let want: Vec<i64> = ids(&tickets.iter().filter(|t| pred(t)).cloned().collect::<Vec<_>>());
        let q = url_escape(cond);
        let (status, count) = f.json(&format!("service/tickets/count?conditions={q}")).await;
        assert_eq!(status, 200, "{cond}: {count}");
        assert_eq!(count["count"], want.len() as i64, "{cond}");
        let (got, _) = f.all_pages(&format!("service/tickets?conditions={q}&pageSize=50")).await;
        assert_eq!(ids(&got), want, "{cond}");
    }
    for (cond, pred) in cases.iter().take(2) {
        let n = tickets.iter().filter(|t| pred(t)).count();
        assert!(n > 0 && n < tickets.len(), "{cond} should select some but not all tickets");
    }

    // open share is realistic (~12%)
    let open =
        tickets.iter().filter(|t| t["closedFlag"] == false).count() as f64 / tickets.len() as f64;
    assert!((0.05..0.25).contains(&open), "open share {open}");

    // time entries by ticket and company reference
    let entry = &truth.time_entries[10];
    let q = url_escape(&format!(
        "chargeToId={} and company/identifier=\"{}\"",
        entry["chargeToId"],
        entry["company"]["identifier"].as_str().unwrap()
    ));
    let (_, got) = f.json(&format!("time/entries?conditions={q}&pageSize=1000")).await;
    assert!(got.as_array().unwrap().iter().any(|e| e["id"] == entry["id"]));

    let log = f.sim.requests();
    assert_eq!(log[0].conditions.as_deref(), Some("closedFlag=false"));
    assert_eq!(log[0].path, "/service/tickets/count");
}

fn url_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[tokio::test]
async fn condition_syntax_errors_are_400() {
    let f = Fixture::new(tiny()).await;
    for (cond, needle) in [
        ("id ==", "expected a value"),
        ("(id = 5", "missing ')'"),
        ("board/name = Help", "double quotes"),
        ("lastUpdated > [yesterday]", "invalid date-time"),
        ("nosuchfield = 5", "unknown field 'nosuchfield'"),
        ("status/nmae = \"New\"", "unknown field 'status/nmae'"),
        ("status = \"New\"", "object"),
    ] {
        let (status, body) =
            f.json(&format!("service/tickets?conditions={}", url_escape(cond))).await;
        assert_eq!(status, 400, "{cond}");
        assert_eq!(body["code"], "InvalidObject", "{cond}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(needle), "{cond}: {message}");
        assert!(message.starts_with("conditions"), "{message}");
        let (status, _) =
            f.json(&format!("service/tickets/count?conditions={}", url_escape(cond))).await;
        assert_eq!(status, 400, "{cond} (count)");
    }
    let (status, body) = f.json("service/tickets?orderBy=id%20sideways").await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("orderBy"));
    // lastUpdated and _info/lastUpdated are the same field
    let (_, a) =
        f.json("service/tickets/count?conditions=lastUpdated%3E%5B2024-06-01T00:00:00Z%5D").await;
    let (_, b) = f
        .json("service/tickets/count?conditions=_info/lastUpdated%3E%5B2024-06-01T00:00:00Z%5D")
        .await;
    assert_eq!(a, b);
    assert!(a["count"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn order_by_fields_and_forward_only() {
    let f = Fixture::new(tiny()).await;
    let truth = f.sim.truth("acme_msp");

    let (all, _) =
        f.all_pages("time/entries?orderBy=lastUpdated%20desc,%20id%20asc&pageSize=200").await;
    assert_eq!(all.len(), truth.time_entries.len());
    let keys: Vec<(String, i64)> = all
        .iter()
        .map(|e| {
            (e["_info"]["lastUpdated"].as_str().unwrap().to_string(), e["id"].as_i64().unwrap())
        })
        .collect();
    for w in keys.windows(2) {
        assert!(w[0].0 > w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1), "{w:?}");
    }
    let (by_name, _) = f.all_pages("company/companies?orderBy=name").await;
    let names: Vec<String> =
        by_name.iter().map(|c| c["name"].as_str().unwrap().to_lowercase()).collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]));

    let (status, page) = f.json("service/tickets?fields=id,summary,status/name&pageSize=3").await;
    assert_eq!(status, 200);
    for t in page.as_array().unwrap() {
        let keys: BTreeSet<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["id", "summary", "status"]));
        assert_eq!(t["status"].as_object().unwrap().len(), 1);
    }

    // forward-only: pageId is the last id seen, results in id order
    let mut got = Vec::new();
    let mut url = Some(f.url("service/tickets?pageSize=120&conditions=closedFlag%3Dtrue"));
    while let Some(u) = url {
        let r = f
            .http
            .get(&u)
            .header("Authorization", f.spec.authorization())
            .header("clientId", &f.spec.client_id)
            .header("pagination-type", "forward-only")
            .send()
            .await
            .unwrap();
        url = r.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            assert!(l.contains("pageId="), "{l}");
            l[1..l.find('>').unwrap()].to_string()
        });
        got.extend(r.json::<Vec<Value>>().await.unwrap());
    }
    let want: Vec<i64> =
        ids(&truth.tickets.iter().filter(|t| t["closedFlag"] == true).cloned().collect::<Vec<_>>());
    assert_eq!(ids(&got), want);
}

#[tokio::test]
async fn incremental_after_advance_returns_exactly_the_changes() {
    let f = Fixture::new(tiny()).await;
    let before = f.sim.truth("acme_msp");
    let t0 = f.sim.now("acme_msp");
    assert_eq!(t0, now());
    let report = f.sim.advance(
        "acme_msp",
        AdvanceSpec { duration: chrono::Duration::hours(6), updates: 60, creates: 25, deletes: 0 },
    );
    assert_eq!(report.from, t0);
    assert_eq!(report.to, t0 + chrono::Duration::hours(6));
    assert_eq!(f.sim.now("acme_msp"), report.to);
    let total_updated: usize = report.updated.values().map(Vec::len).sum();
    let total_created: usize = report.created.values().map(Vec::len).sum();
    assert_eq!(total_updated, 60);
    assert!(total_created >= 24, "{report:?}"); // a time entry may find no ticket old enough
    let after = f.sim.truth("acme_msp");
    let watermark = t0.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    for table in CW_TABLES {
        assert!(!report.updated_ids(table).is_empty(), "{table} got no updates");
        assert!(
            !report.created_ids(table).is_empty() || table == "time/entries",
            "{table} got no creates"
        );
        let q = url_escape(&format!("lastUpdated > [{watermark}]"));
        let (got, _) = f
            .all_pages(&format!(
                "{table}?conditions={q}&pageSize=1000&orderBy=lastUpdated%20asc,id%20asc"
            ))
            .await;
        let mut got_ids = ids(&got);
        got_ids.sort_unstable();
        assert_eq!(got_ids, report.changed_ids(table), "{table}");
        for r in &got {
            let lu = r["_info"]["lastUpdated"].as_str().unwrap();
            assert!(
                lu > watermark.as_str()
                    && lu <= report.to.format("%Y-%m-%dT%H:%M:%SZ").to_string().as_str()
            );
        }
        // updated records really changed; untouched ones did not
        let old = before.table(table).unwrap();
        let new = after.table(table).unwrap();
        assert_eq!(new.len(), old.len() + report.created_ids(table).len());
        for (o, n) in old.iter().zip(new) {
            let changed = report.updated_ids(table).contains(&o["id"].as_i64().unwrap());
            assert_eq!(o != n, changed, "{table} {}", o["id"]);
        }
        let max_old = ids(old).into_iter().max().unwrap();
        assert!(report.created_ids(table).iter().all(|&id| id > max_old));
    }
    // ticket updates are realistic: closing sets closedDate, reopening clears it
    for id in report.updated_ids("service/tickets") {
        let t = after.tickets.iter().find(|t| t["id"] == *id).unwrap();
        assert_eq!(t["closedFlag"] == true, t["closedDate"].is_string());
        assert_eq!(
            t["closedFlag"] == true,
            ["Completed", "Closed"].contains(&t["status"]["name"].as_str().unwrap())
        );
    }
    let (_, count) = f.json("company/companies/count").await;
    assert_eq!(count["count"], after.companies.len() as i64);
}

/// Every `system/members` row carries the fields ConnectWise's member schema requires, with
/// the vendor's enumeration values, served over HTTP exactly as in truth.
#[tokio::test]
async fn members_carry_the_required_fields() {
    let f = Fixture::new(CwSizes::derived(12, 40, 300, 700, 40)).await;
    let (members, _) = f.all_pages("system/members?pageSize=7").await;
    assert_eq!(members.len(), 40);
    assert!(members == f.sim.truth("acme_msp").members, "HTTP rows differ from truth");
    let member_ids: BTreeSet<i64> = ids(&members).into_iter().collect();
    let enums: [(&str, &[&str]); 7] = [
        ("defaultEmail", &["Office", "Mobile", "Home"]),
        ("defaultPhone", &["Office", "Mobile", "Home"]),
        ("invoiceScreenDefaultTabFormat", &["ShowInvoicingTab", "ShowAgreementInvoicingTab"]),
        ("invoicingDisplayOptions", &["RemainOnInvoicingScreen", "ShowRecentInvoices"]),
        ("agreementInvoicingDisplayOptions", &["RemainOnInvoicingScreen", "ShowRecentInvoices"]),
        ("companyActivityTabFormat", &["SummaryList", "DetailList"]),
        ("invoiceTimeTabFormat", &["SummaryList", "DetailList"]),
    ];
    let mut seen: BTreeSet<(&str, String)> = BTreeSet::new();
    for m in &members {
        for (key, allowed) in &enums {
            let v = m[*key].as_str().unwrap_or_else(|| panic!("{key} is not a string: {m}"));
            assert!(allowed.contains(&v), "{key} = {v:?}");
            seen.insert((key, v.to_string()));
        }
        if m["defaultPhone"] == "Mobile" {
            assert!(m["mobilePhone"].as_str().is_some_and(|p| !p.is_empty()), "{m}");
        }
        if m["defaultEmail"] == "Office" {
            assert!(m["officeEmail"].as_str().is_some_and(|e| e.contains('@')), "{m}");
        }
        // references the schema requires: {id, name}, approvers resolve to members
        for key in [
            "securityRole",
            "structureLevel",
            "securityLocation",
            "defaultLocation",
            "defaultDepartment",
            "salesDefaultLocation",
            "timeZone",
            "workRole",
        ] {
            assert!(m[key]["id"].is_i64() && m[key]["name"].is_string(), "{key}: {m}");
        }
        for key in ["timeApprover", "expenseApprover"] {
            let id = m[key]["id"].as_i64().unwrap_or_else(|| panic!("{key}: {m}"));
            assert!(member_ids.contains(&id), "{key} {id} is not a member");
            assert!(m[key]["identifier"].is_string() && m[key]["name"].is_string());
        }
        assert!(m["hireDate"].is_string() && m["licenseClass"].is_string());
    }
    // seeded choices vary across members (the draw is per member, not one constant)
    for (key, v) in [
        ("defaultPhone", "Office"),
        ("defaultPhone", "Mobile"),
        ("invoicingDisplayOptions", "RemainOnInvoicingScreen"),
        ("invoicingDisplayOptions", "ShowRecentInvoices"),
        ("agreementInvoicingDisplayOptions", "ShowRecentInvoices"),
    ] {
        assert!(seen.contains(&(key, v.to_string())), "no member has {key} = {v}");
    }
    // deterministic: the same spec gives the same members
    let again = ConnectWiseSim::new();
    again.add_company(f.spec.clone());
    assert!(again.truth("acme_msp").members == members);

    // the fields can be asked for and filtered on like any other
    let (status, page) =
        f.json("system/members?fields=id,defaultEmail,defaultPhone&pageSize=1000").await;
    assert_eq!(status, 200);
    for r in page.as_array().unwrap() {
        let keys: BTreeSet<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["id", "defaultEmail", "defaultPhone"]));
    }
    let q = url_escape("defaultPhone = \"Mobile\"");
    let (got, _) = f.all_pages(&format!("system/members?conditions={q}&pageSize=1000")).await;
    let want: Vec<i64> =
        ids(&members.iter().filter(|m| m["defaultPhone"] == "Mobile").cloned().collect::<Vec<_>>());
    assert!(!want.is_empty());
    assert_eq!(ids(&got), want);
}

/// Agreements and opportunities always name a contact (ConnectWise requires one), and
/// opportunities their company's site.
#[tokio::test]
async fn agreements_and_opportunities_carry_required_references() {
    let f = Fixture::new(CwSizes::small()).await;
    let truth = f.sim.truth("acme_msp");
    let contacts: BTreeSet<i64> = ids(&truth.contacts).into_iter().collect();
    for (table, rows) in
        [("finance/agreements", &truth.agreements), ("sales/opportunities", &truth.opportunities)]
    {
        assert!(!rows.is_empty());
        for r in rows {
            let id = r["contact"]["id"].as_i64().unwrap_or_else(|| panic!("{table}: {r}"));
            assert!(contacts.contains(&id), "{table}: contact {id}");
            assert!(r["contact"]["name"].is_string());
        }
    }
    for o in &truth.opportunities {
        assert!(o["site"]["id"].is_i64() && o["site"]["name"] == "Main", "{o}");
        let company = truth.companies.iter().find(|c| c["id"] == o["company"]["id"]).unwrap();
        assert_eq!(o["site"]["id"], company["site"]["id"], "{o}");
    }
    // still so after an advance creates more of them, except for a company created in the
    // window that has no contact yet (its managed agreement cannot name one)
    f.sim.advance(
        "acme_msp",
        AdvanceSpec { duration: chrono::Duration::days(20), updates: 50, creates: 200, deletes: 0 },
    );
    let truth = f.sim.truth("acme_msp");
    let mut with_contact = 0;
    for r in truth.agreements.iter().chain(&truth.opportunities) {
        if r["contact"].is_null() {
            let company = &r["company"]["id"];
            assert!(!truth.contacts.iter().any(|c| &c["company"]["id"] == company), "{r}");
        } else {
            assert!(r["contact"]["id"].is_i64(), "{r}");
            with_contact += 1;
        }
    }
    assert!(with_contact > truth.agreements.len());
    assert!(truth.opportunities.iter().all(|o| o["site"]["id"].is_i64()));
}

#[tokio::test]
async fn same_seed_same_data() {
    let a = ConnectWiseSim::new();
    let b = ConnectWiseSim::new();
    let spec = CwCompanySpec::new("acme_msp", 99, tiny(), now());
    a.add_company(spec.clone());
    b.add_company(spec.clone());
    assert_eq!(CwCompanySpec::new("acme_msp", 99, tiny(), now()), spec);
    assert!(a.truth("acme_msp") == b.truth("acme_msp"));
    let adv = || AdvanceSpec {
        duration: chrono::Duration::days(1),
        updates: 30,
        creates: 10,
        deletes: 0,
    };
    assert_eq!(a.advance("acme_msp", adv()), b.advance("acme_msp", adv()));
    assert!(a.truth("acme_msp") == b.truth("acme_msp"));

    let c = ConnectWiseSim::new();
    c.add_company(CwCompanySpec::new("acme_msp", 100, tiny(), now()));
    assert!(c.truth("acme_msp").tickets != a.truth("acme_msp").tickets);

    // tenants are isolated: another company's keys do not open this one
    c.add_company(CwCompanySpec::new("globex", 5, tiny(), now()));
    assert_ne!(c.companies()[0].public_key, c.companies()[1].public_key);
}

#[tokio::test]
async fn generated_data_is_consistent() {
    let f = Fixture::new(CwSizes::small()).await;
    let truth = f.sim.truth("acme_msp");
    let sizes = CwSizes::small();
    assert_eq!(truth.companies.len(), sizes.companies);
    assert_eq!(truth.contacts.len(), sizes.contacts);
    assert_eq!(truth.tickets.len(), sizes.tickets);
    assert_eq!(truth.time_entries.len(), sizes.time_entries);
    assert_eq!(truth.members.len(), sizes.members);
    let now = "2025-01-15T12:00:00Z";
    let is_ts = |v: &Value| {
        v.as_str().is_some_and(|s| s.len() == 20 && s.ends_with('Z') && s.as_bytes()[10] == b'T')
    };
    for table in CW_TABLES.iter().chain(&["system/members"]) {
        for r in truth.table(table).unwrap() {
            assert!(is_ts(&r["_info"]["lastUpdated"]), "{table}: {r}");
            assert!(r["_info"]["lastUpdated"].as_str().unwrap() <= now);
            assert!(r["_info"].as_object().unwrap().values().all(Value::is_string));
        }
    }
    for t in &truth.tickets {
        let entered = t["_info"]["dateEntered"].as_str().unwrap();
        assert!(entered <= t["_info"]["lastUpdated"].as_str().unwrap());
        if t["closedFlag"] == true {
            let resolved = t["dateResolved"].as_str().unwrap();
            let closed = t["closedDate"].as_str().unwrap();
            assert!(entered <= resolved && resolved <= closed && closed <= now, "{t}");
        } else {
            assert!(t["closedDate"].is_null());
        }
        assert!(["Low", "Medium", "High"].contains(&t["severity"].as_str().unwrap()));
        assert_eq!(t["recordType"], "ServiceTicket");
    }
    let mut billable = 0;
    for e in &truth.time_entries {
        let ticket_id = e["chargeToId"].as_i64().unwrap();
        let ticket = truth
            .tickets
            .binary_search_by_key(&ticket_id, |t| t["id"].as_i64().unwrap())
            .map(|i| &truth.tickets[i])
            .unwrap();
        assert_eq!(e["company"]["id"], ticket["company"]["id"]);
        assert_eq!(e["chargeToType"], "ServiceTicket");
        assert!(
            e["timeStart"].as_str().unwrap() >= ticket["_info"]["dateEntered"].as_str().unwrap()
        );
        assert!(e["timeStart"].as_str().unwrap() < e["timeEnd"].as_str().unwrap());
        assert!(e["timeEnd"].as_str().unwrap() <= now);
        let h = e["actualHours"].as_f64().unwrap();
        assert!((0.25..=8.0).contains(&h) && (h * 4.0).fract() == 0.0, "{h}");
        billable += usize::from(e["billableOption"] == "Billable");
    }
    let share = billable as f64 / truth.time_entries.len() as f64;
    assert!((0.55..0.8).contains(&share), "billable share {share}");
    for c in &truth.contacts {
        let items = c["communicationItems"].as_array().unwrap();
        assert!(items.iter().any(
            |i| i["communicationType"] == "Email" && i["value"].as_str().unwrap().contains('@')
        ));
    }
    // skew: the busiest company raises far more tickets than the median one
    let mut per_company = std::collections::BTreeMap::<i64, usize>::new();
    for t in &truth.tickets {
        *per_company.entry(t["company"]["id"].as_i64().unwrap()).or_default() += 1;
    }
    let mut counts: Vec<usize> = per_company.values().copied().collect();
    counts.sort_unstable();
    assert!(counts[counts.len() - 1] > 5 * counts[counts.len() / 2], "{counts:?}");
}

#[tokio::test]
async fn control_routes() {
    let f = Fixture::new(tiny()).await;
    let base = format!("http://{}", f.addr);
    let list: Value =
        f.http.get(format!("{base}/_sim/companies")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list[0]["company_id"], "acme_msp");
    assert_eq!(list[0]["client_id"], f.spec.client_id.as_str());
    assert_eq!(list[0]["authorization"], f.spec.authorization().as_str());
    assert_eq!(list[0]["counts"]["service/tickets"], 300);

    let _ = f.get("service/tickets").await;
    let log: Vec<Value> =
        f.http.get(format!("{base}/_sim/requests")).send().await.unwrap().json().await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["records"], 25);
    let r = f.http.delete(format!("{base}/_sim/requests")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(f.sim.requests().is_empty());

    let report: Value = f
        .http
        .post(format!("{base}/_sim/advance?company=acme_msp"))
        .body(r#"{"seconds":86400,"updates":100,"creates":20}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["to"], "2025-01-16T12:00:00Z");
    assert!(report["created"]["service/tickets"].as_array().is_some_and(|v| !v.is_empty()));

    let tickets: Vec<Value> = f
        .http
        .get(format!("{base}/_sim/truth?company=acme_msp&table=service/tickets"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tickets, f.sim.truth("acme_msp").tickets);
    let all: Value = f
        .http
        .get(format!("{base}/_sim/truth?company=acme_msp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["members"].as_array().unwrap().len(), 6);
    let r = f.http.get(format!("{base}/_sim/truth?company=nobody")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(f.sim.requests().is_empty(), "control routes are not logged");
}

#[tokio::test]
async fn demo_size_is_fast() {
    let started = std::time::Instant::now();
    let f = Fixture::new(CwSizes::demo()).await;
    let generated = started.elapsed();
    let started = std::time::Instant::now();
    let r = f.get("time/entries?pageSize=1000&page=50").await;
    assert_eq!(r.status(), 200);
    let page: Vec<Value> = r.json().await.unwrap();
    let paged = started.elapsed();
    assert_eq!(page.len(), 1000);
    let started = std::time::Instant::now();
    let (_, count) =
        f.json("time/entries/count?conditions=lastUpdated%3E%5B2025-01-01T00:00:00Z%5D").await;
    let filtered = started.elapsed();
    assert!(count["count"].as_i64().unwrap() > 0);
    eprintln!(
        "demo: generate {generated:?}, 1000-record page {paged:?}, filtered count {filtered:?}"
    );
    // generous bounds: debug builds on a busy 2-core machine
    assert!(generated.as_secs_f64() < 10.0, "{generated:?}");
    assert!(paged.as_secs_f64() < 5.0, "{paged:?}");
}

#[tokio::test]
async fn deletes_soft_delete_companies_and_remove_other_records() {
    let f = Fixture::new(tiny()).await;
    let before = f.sim.truth("acme_msp");
    assert!(before.deleted.is_empty());
    assert!(
        before.companies.iter().all(|c| c["deletedFlag"] == false && c["dateDeleted"].is_null())
    );
    let t0 = f.sim.now("acme_msp");
    let report = f.sim.advance(
        "acme_msp",
        AdvanceSpec { duration: chrono::Duration::hours(6), updates: 10, creates: 4, deletes: 12 },
    );
    let total_deleted: usize = report.deleted.values().map(Vec::len).sum();
    assert_eq!(total_deleted, 12, "{report:?}");
    for table in CW_TABLES {
        assert!(!report.deleted_ids(table).is_empty(), "{table} got no deletes");
        for id in report.deleted_ids(table) {
            assert_eq!(report.changed_ids(table).contains(id), table == "company/companies");
            assert!(
                !report.updated_ids(table).contains(id) && !report.created_ids(table).contains(id)
            );
        }
    }
    let after = f.sim.truth("acme_msp");
    let ts = |d: DateTime<Utc>| d.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (from, to) = (ts(report.from), ts(report.to));

    // soft-deleted companies: still served, flagged, stamped inside the window
    assert_eq!(
        after.companies.len(),
        before.companies.len() + report.created_ids("company/companies").len()
    );
    assert!(after.deleted_ids("company/companies").is_empty());
    for id in report.deleted_ids("company/companies") {
        let (status, c) = f.json(&format!("company/companies/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(c["deletedFlag"], true);
        let deleted_at = c["dateDeleted"].as_str().unwrap();
        let updated = c["_info"]["lastUpdated"].as_str().unwrap();
        assert!(deleted_at > from.as_str() && deleted_at <= to.as_str(), "{c}");
        assert_eq!(updated, deleted_at);
        assert!(c["deletedBy"].as_str().is_some_and(|b| !b.is_empty()));
        assert!(after.companies.iter().any(|t| t == &c));
    }
    let live = after.companies.iter().filter(|c| c["deletedFlag"] == false).count();
    assert_eq!(live, after.companies.len() - report.deleted_ids("company/companies").len());
    let (_, flagged) = f.json("company/companies/count?conditions=deletedFlag%3Dtrue").await;
    assert_eq!(flagged["count"], report.deleted_ids("company/companies").len() as i64);

    // an incremental sync sees the soft deletes with the updates and creates
    let q = url_escape(&format!("lastUpdated > [{}]", ts(t0)));
    let (got, _) = f.all_pages(&format!("company/companies?conditions={q}&pageSize=1000")).await;
    let mut got = ids(&got);
    got.sort_unstable();
    assert_eq!(got, report.changed_ids("company/companies"));

    // deleted contacts, tickets and time entries vanish: 404, gone from lists, counts, truth
    for (table, vanished) in [
        ("company/contacts", &after.contacts),
        ("service/tickets", &after.tickets),
        ("time/entries", &after.time_entries),
    ] {
        let gone = report.deleted_ids(table);
        assert_eq!(after.deleted_ids(table), gone, "{table}");
        assert_eq!(
            vanished.len(),
            before.table(table).unwrap().len() + report.created_ids(table).len() - gone.len()
        );
        for id in gone {
            let (status, body) = f.json(&format!("{table}/{id}")).await;
            assert_eq!(status, 404, "{table}/{id}");
            assert_eq!(body["code"], "NotFound");
            assert!(!ids(vanished).contains(id));
            assert!(ids(before.table(table).unwrap()).contains(id));
        }
        let (listed, _) = f.all_pages(&format!("{table}?pageSize=100")).await;
        assert!(&listed == vanished, "{table}: list differs from truth");
        let (_, count) = f.json(&format!("{table}/count")).await;
        assert_eq!(count["count"], vanished.len() as i64);
        let (filtered, _) =
            f.all_pages(&format!("{table}?conditions=id%3E0&orderBy=id%20desc")).await;
        assert_eq!(filtered.len(), vanished.len(), "{table}: filtered list");
        assert!(filtered.iter().all(|r| !gone.contains(&r["id"].as_i64().unwrap())));
    }
    // forward-only paging skips them too
    let mut seen = Vec::new();
    let mut url = Some(f.url("service/tickets?pageSize=100"));
    while let Some(u) = url {
        let r = f
            .http
            .get(&u)
            .header("Authorization", f.spec.authorization())
            .header("clientId", &f.spec.client_id)
            .header("pagination-type", "forward-only")
            .send()
            .await
            .unwrap();
        url = r.headers().get("link").map(|l| {
            let l = l.to_str().unwrap();
            l[1..l.find('>').unwrap()].to_string()
        });
        seen.extend(ids(&r.json::<Vec<Value>>().await.unwrap()));
    }
    assert_eq!(seen, ids(&after.tickets));
    // no dangling time entries: deleted tickets had none
    let deleted_tickets = report.deleted_ids("service/tickets");
    assert!(
        after
            .time_entries
            .iter()
            .all(|e| !deleted_tickets.contains(&e["chargeToId"].as_i64().unwrap()))
    );

    // later advances leave deleted records alone and never reference a deleted contact
    let later = f.sim.advance(
        "acme_msp",
        AdvanceSpec { duration: chrono::Duration::hours(6), updates: 200, creates: 40, deletes: 0 },
    );
    assert!(later.deleted.values().all(Vec::is_empty));
    for table in CW_TABLES {
        for id in later.updated_ids(table) {
            assert!(!report.deleted_ids(table).contains(id), "{table} {id} updated after delete");
        }
    }
    let last = f.sim.truth("acme_msp");
    assert_eq!(last.deleted, after.deleted);
    let gone_contacts = report.deleted_ids("company/contacts");
    for t in last
        .tickets
        .iter()
        .filter(|t| later.created_ids("service/tickets").contains(&t["id"].as_i64().unwrap()))
    {
        assert!(
            t["contact"].is_null()
                || !gone_contacts.contains(&t["contact"]["id"].as_i64().unwrap())
        );
        let company = t["company"]["id"].as_i64().unwrap();
        assert!(
            !report.deleted_ids("company/companies").contains(&company),
            "new ticket on a deleted company"
        );
    }

    // the control routes take deletes and report vanished ids
    let base = format!("http://{}", f.addr);
    let body: Value = f
        .http
        .post(format!("{base}/_sim/advance?company=acme_msp"))
        .body(r#"{"seconds":3600,"deletes":4}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let n: usize =
        body["deleted"].as_object().unwrap().values().map(|v| v.as_array().unwrap().len()).sum();
    assert_eq!(n, 4, "{body}");
    let all: Value = f
        .http
        .get(format!("{base}/_sim/truth?company=acme_msp"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let served: avesa_sim::CwTruth = serde_json::from_value(all).unwrap();
    assert!(served == f.sim.truth("acme_msp"));
    assert!(served.deleted_ids("service/tickets").len() >= deleted_tickets.len());
    let companies: Value =
        f.http.get(format!("{base}/_sim/companies")).send().await.unwrap().json().await.unwrap();
    assert_eq!(companies[0]["counts"]["service/tickets"], served.tickets.len());
}

#[tokio::test]
async fn deletes_are_deterministic() {
    let run = || {
        let sim = ConnectWiseSim::new();
        sim.add_company(CwCompanySpec::new("acme_msp", 11, tiny(), now()));
        let spec = AdvanceSpec {
            duration: chrono::Duration::days(1),
            updates: 20,
            creates: 5,
            deletes: 9,
        };
        let a = sim.advance("acme_msp", spec.clone());
        let b = sim.advance("acme_msp", spec);
        (a, b, sim.truth("acme_msp"))
    };
    let (a1, b1, t1) = run();
    let (a2, b2, t2) = run();
    assert_eq!((a1, b1), (a2, b2));
    assert!(t1 == t2);
}

#[tokio::test]
async fn new_tables_page_count_get_and_keyset_equal_truth() {
    let f = Fixture::new(tiny()).await;
    let truth = f.sim.truth("acme_msp");
    let sizes = tiny();
    assert_eq!(CW_ALL_TABLES.len(), 11);
    for table in CW_ALL_TABLES {
        assert!(truth.table(table).is_some_and(|t| !t.is_empty()), "{table}");
    }
    assert_eq!(truth.configurations.len(), sizes.configurations);
    assert_eq!(truth.projects.len(), sizes.projects);
    assert_eq!(truth.opportunities.len(), sizes.opportunities);
    assert!(truth.agreements.len() >= sizes.agreements);
    assert_eq!(truth.boards.len(), 5);
    assert_eq!(truth.board_statuses.len(), 28);
    let window = ("2023-01-16T12:00:00Z", "2025-01-15T12:00:00Z");
    for table in NEW_TABLES {
        let want = truth.table(table).unwrap();
        // plain paging equals truth, in id order
        let (records, pages) = f.all_pages(&format!("{table}?pageSize=7")).await;
        assert_eq!(pages, want.len().div_ceil(7), "{table}");
        assert!(records == want, "{table} differs from truth");
        let (status, count) = f.json(&format!("{table}/count")).await;
        assert_eq!((status, count["count"].as_u64()), (200, Some(want.len() as u64)), "{table}");
        // keyset paging over the whole table equals truth in (lastUpdated, id) order
        let (keyset, pages) = f.keyset(table, "2000-01-01T00:00:00Z", 4).await;
        assert!(pages > 1, "{table}");
        assert!(keyset == by_last_updated(want), "{table}: keyset paging differs from truth");
        // one record by id; a missing one
        let one = &want[want.len() / 2];
        let (status, got) = f.json(&format!("{table}/{}", one["id"])).await;
        assert_eq!((status, &got), (200, one), "{table}");
        let (status, missing) = f.json(&format!("{table}/987654321")).await;
        assert_eq!((status, missing["code"].as_str()), (404, Some("NotFound")), "{table}");
        // fields
        let (_, page) =
            f.json(&format!("{table}?fields=id,name,_info/lastUpdated&pageSize=3")).await;
        for r in page.as_array().unwrap() {
            let keys: BTreeSet<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, BTreeSet::from(["id", "name", "_info"]), "{table}");
            assert_eq!(r["_info"].as_object().unwrap().len(), 1);
        }
        // forward-only paging
        let mut seen = Vec::new();
        let mut url = Some(f.url(&format!("{table}?pageSize=3")));
        while let Some(u) = url {
            let r = f
                .http
                .get(&u)
                .header("Authorization", f.spec.authorization())
                .header("clientId", &f.spec.client_id)
                .header("pagination-type", "forward-only")
                .send()
                .await
                .unwrap();
            url = r.headers().get("link").map(|l| {
                let l = l.to_str().unwrap();
                l[1..l.find('>').unwrap()].to_string()
            });
            seen.extend(ids(&r.json::<Vec<Value>>().await.unwrap()));
        }
        assert_eq!(seen, ids(want), "{table} forward-only");
        for r in want {
            let lu = r["_info"]["lastUpdated"].as_str().unwrap();
            assert!(lu >= window.0 && lu <= window.1, "{table}: {r}");
            assert!(r["_info"].as_object().unwrap().values().all(Value::is_string));
        }
    }

    // references resolve
    let id_set = |v: &[Value]| ids(v).into_iter().collect::<BTreeSet<i64>>();
    let (companies, contacts, members) =
        (id_set(&truth.companies), id_set(&truth.contacts), id_set(&truth.members));
    let agreements = id_set(&truth.agreements);
    for (table, refs) in [
        ("finance/agreements", &["company", "contact"][..]),
        ("company/configurations", &["company", "contact"]),
        ("project/projects", &["company", "manager"]),
        ("sales/opportunities", &["company", "contact", "primarySalesRep"]),
    ] {
        for r in truth.table(table).unwrap() {
            for key in refs {
                if r[*key].is_null() && *key == "contact" {
                    continue;
                }
                let id = r[*key]["id"].as_i64().unwrap();
                let set = match *key {
                    "company" => &companies,
                    "contact" => &contacts,
                    _ => &members,
                };
                assert!(set.contains(&id), "{table} {key} {id} does not resolve");
            }
        }
    }
    let mut with_agreement = 0;
    for t in &truth.tickets {
        if !t["agreement"].is_null() {
            with_agreement += 1;
            assert!(agreements.contains(&t["agreement"]["id"].as_i64().unwrap()), "{t}");
            let a = truth.agreements.iter().find(|a| a["id"] == t["agreement"]["id"]).unwrap();
            assert_eq!(a["company"]["id"], t["company"]["id"]);
            assert_eq!(a["name"], t["agreement"]["name"]);
            assert_eq!(a["agreementStatus"], "Active");
        }
        assert!(truth.boards.iter().any(|b| b["id"] == t["board"]["id"]));
        let status = truth.board_statuses.iter().find(|s| s["id"] == t["status"]["id"]).unwrap();
        assert_eq!(status["board"]["id"], t["board"]["id"]);
        assert_eq!(status["name"], t["status"]["name"]);
    }
    assert!(with_agreement > 0);
    // realistic values
    for a in &truth.agreements {
        assert_eq!(a["cancelledFlag"] == true, a["agreementStatus"] == "Cancelled", "{a}");
    }
    for p in &truth.projects {
        assert_eq!(p["board"]["name"], "Projects");
        assert_eq!(p["closedFlag"] == true, p["actualEnd"].is_string(), "{p}");
    }
    for o in &truth.opportunities {
        assert_eq!(o["closedFlag"] == true, o["closedDate"].is_string(), "{o}");
        assert!(o["totalSales"].is_number());
    }
    assert!(truth.configurations.iter().any(|c| c["activeFlag"] == true));
    let names: BTreeSet<(i64, &str)> = truth
        .configurations
        .iter()
        .map(|c| (c["company"]["id"].as_i64().unwrap(), c["name"].as_str().unwrap()))
        .collect();
    assert_eq!(names.len(), truth.configurations.len(), "names are unique per company");

    // conditions on the new tables
    let q = url_escape("agreementStatus = \"Active\" and type/name = \"Managed Services\"");
    let (got, _) = f.all_pages(&format!("finance/agreements?conditions={q}&pageSize=100")).await;
    let want: Vec<i64> = ids(&truth
        .agreements
        .iter()
        .filter(|a| a["agreementStatus"] == "Active" && a["type"]["name"] == "Managed Services")
        .cloned()
        .collect::<Vec<_>>());
    assert!(!want.is_empty());
    assert_eq!(ids(&got), want);
}

#[tokio::test]
async fn board_statuses_are_served_per_board() {
    let f = Fixture::new(tiny()).await;
    let truth = f.sim.truth("acme_msp");
    let mut total = 0;
    for b in &truth.boards {
        let bid = b["id"].as_i64().unwrap();
        let want: Vec<Value> =
            truth.board_statuses.iter().filter(|s| s["board"]["id"] == bid).cloned().collect();
        assert!(want.len() >= 4, "board {bid}");
        assert!(want.iter().all(|s| s["board"]["name"] == b["name"]));
        total += want.len();
        let path = format!("service/boards/{bid}/statuses");
        let (got, pages) = f.all_pages(&format!("{path}?pageSize=2")).await;
        assert_eq!(pages, want.len().div_ceil(2));
        assert!(got == want, "board {bid}");
        let (_, count) = f.json(&format!("{path}/count")).await;
        assert_eq!(count["count"], want.len() as i64);
        let (keyset, _) = f.keyset(&path, "2000-01-01T00:00:00Z", 3).await;
        assert!(keyset == by_last_updated(&want), "board {bid} keyset");
        let q = url_escape("closedStatus = true");
        let (_, closed) = f.json(&format!("{path}/count?conditions={q}")).await;
        assert_eq!(closed["count"], 2, "board {bid}: Completed and Closed");
        let (status, one) = f.json(&format!("{path}/{}", want[0]["id"])).await;
        assert_eq!((status, &one), (200, &want[0]));
        // another board's status is not found under this board
        let other = truth.board_statuses.iter().find(|s| s["board"]["id"] != bid).unwrap();
        let (status, body) = f.json(&format!("{path}/{}", other["id"])).await;
        assert_eq!((status, body["code"].as_str()), (404, Some("NotFound")));
    }
    assert_eq!(total, truth.board_statuses.len());
    // an unknown board: 404 NotFound for the list, its count and a record
    for path in [
        "service/boards/999/statuses",
        "service/boards/999/statuses/count",
        "service/boards/999/statuses/101",
    ] {
        let (status, body) = f.json(path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["code"], "NotFound", "{path}");
        assert!(body["message"].as_str().unwrap().contains("999"), "{path}");
    }
    // no flat statuses endpoint
    let (status, _) = f.json("service/boards/statuses").await;
    assert_ne!(status, 200);
    let (status, _) = f.json("service/boards/x/statuses").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn advance_changes_the_new_tables() {
    let f = Fixture::new(tiny()).await;
    let before = f.sim.truth("acme_msp");
    let t0 = f.sim.now("acme_msp");
    let report = f.sim.advance(
        "acme_msp",
        AdvanceSpec { duration: chrono::Duration::hours(6), updates: 150, creates: 40, deletes: 0 },
    );
    let ts = |d: DateTime<Utc>| d.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (from, to) = (ts(report.from), ts(report.to));
    assert_eq!(report.updated.values().map(Vec::len).sum::<usize>(), 150);
    let after = f.sim.truth("acme_msp");
    for table in CW_ALL_TABLES.iter().filter(|t| **t != "system/members") {
        assert!(report.updated.contains_key(*table) && report.created.contains_key(*table));
        assert!(!report.updated_ids(table).is_empty(), "{table} got no updates");
        let catalog = table.starts_with("service/boards");
        assert_eq!(report.created_ids(table).is_empty(), catalog, "{table} creates");
        // an incremental keyset sync returns exactly the changes, stamped in the window
        let got = if *table == "service/boards/statuses" {
            let mut all = Vec::new();
            for b in &after.boards {
                let path = format!("service/boards/{}/statuses", b["id"]);
                all.extend(f.keyset(&path, &from, 2).await.0);
            }
            all
        } else {
            f.keyset(table, &from, 3).await.0
        };
        let mut got_ids = ids(&got);
        got_ids.sort_unstable();
        assert_eq!(got_ids, report.changed_ids(table), "{table}");
        for r in &got {
            let lu = r["_info"]["lastUpdated"].as_str().unwrap();
            assert!(lu > from.as_str() && lu <= to.as_str(), "{table}: {r}");
        }
        let old = before.table(table).unwrap();
        let new = after.table(table).unwrap();
        assert_eq!(new.len(), old.len() + report.created_ids(table).len(), "{table}");
        for (o, n) in old.iter().zip(new) {
            let changed = report.updated_ids(table).contains(&o["id"].as_i64().unwrap());
            assert_eq!(o != n, changed, "{table} {}", o["id"]);
        }
        let max_old = ids(old).into_iter().max().unwrap();
        assert!(report.created_ids(table).iter().all(|&id| id > max_old), "{table}");
    }
    assert!(t0 < report.to);
    // statuses and boards keep their names (tickets reference them)
    for (o, n) in before.board_statuses.iter().zip(&after.board_statuses) {
        assert_eq!((&o["id"], &o["name"]), (&n["id"], &n["name"]));
    }

    // deletes vanish agreements, configurations, projects and opportunities
    let report = f.sim.advance(
        "acme_msp",
        AdvanceSpec { duration: chrono::Duration::hours(1), updates: 0, creates: 0, deletes: 40 },
    );
    let last = f.sim.truth("acme_msp");
    for table in ["company/configurations", "project/projects", "sales/opportunities"] {
        let gone = report.deleted_ids(table);
        assert!(!gone.is_empty(), "{table} got no deletes");
        assert_eq!(last.deleted_ids(table), gone);
        assert_eq!(
            last.table(table).unwrap().len(),
            after.table(table).unwrap().len() - gone.len()
        );
        for id in gone {
            let (status, _) = f.json(&format!("{table}/{id}")).await;
            assert_eq!(status, 404, "{table}/{id}");
        }
        let (listed, _) = f.all_pages(&format!("{table}?pageSize=50")).await;
        assert!(listed == last.table(table).unwrap(), "{table}");
        let (_, count) = f.json(&format!("{table}/count")).await;
        assert_eq!(count["count"], listed.len() as i64);
    }
    assert!(report.deleted_ids("service/boards").is_empty());
    // tickets still reference existing agreements
    let agreements: BTreeSet<i64> = ids(&last.agreements).into_iter().collect();
    for t in last.tickets.iter().filter(|t| !t["agreement"].is_null()) {
        assert!(agreements.contains(&t["agreement"]["id"].as_i64().unwrap()), "{t}");
    }
}

#[test]
fn sizes_deserialize_without_the_new_tables() {
    let old = r#"{"companies":30,"contacts":90,"tickets":500,"time_entries":900,"members":5}"#;
    let sizes: CwSizes = serde_json::from_str(old).unwrap();
    assert_eq!(sizes, CwSizes::derived(30, 90, 500, 900, 5));
    assert_eq!(
        (sizes.agreements, sizes.configurations, sizes.projects, sizes.opportunities),
        (15, 150, 10, 60)
    );
    let round: CwSizes =
        serde_json::from_str(&serde_json::to_string(&CwSizes::demo()).unwrap()).unwrap();
    assert_eq!(round, CwSizes::demo());
}
