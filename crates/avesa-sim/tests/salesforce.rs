//! End-to-end tests of the Salesforce simulator over real HTTP.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use avesa_sim::{Changes, SalesforceSim, SfOrgSpec, SfSizes};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// The newest version, which truth's `attributes.url` uses.
const V: &str = "v62.0";
const OBJECTS: [&str; 5] = ["Account", "Contact", "Case", "Opportunity", "User"];

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-01-15T12:00:00Z").unwrap().to_utc()
}

fn tiny() -> SfSizes {
    SfSizes { accounts: 15, contacts: 50, cases: 450, opportunities: 40, users: 5 }
}

fn parse_sf_time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.3f%z")
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .to_utc()
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

struct Fixture {
    sim: SalesforceSim,
    spec: SfOrgSpec,
    addr: SocketAddr,
    http: reqwest::Client,
    token: String,
    _server: tokio::task::JoinHandle<()>,
}

impl Fixture {
    async fn new(sizes: SfSizes) -> Fixture {
        let sim = SalesforceSim::new();
        let spec = SfOrgSpec::new("acme", 7, sizes, now());
        sim.add_org(spec.clone());
        let (addr, server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let http = reqwest::Client::new();
        let mut f = Fixture { sim, spec, addr, http, token: String::new(), _server: server };
        f.token = f.client_credentials(&f.spec.clone()).await["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        f
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn client_credentials(&self, spec: &SfOrgSpec) -> Value {
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", spec.client_id, spec.client_secret));
        let r = self
            .http
            .post(format!("{}/services/oauth2/token", self.base()))
            .header("Authorization", format!("Basic {basic}"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    async fn token_form(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/services/oauth2/token", self.base()))
            .form(form)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn get_with(&self, path: &str, token: &str, batch: Option<usize>) -> reqwest::Response {
        let mut b = self.http.get(format!("{}{path}", self.base())).bearer_auth(token);
        if let Some(n) = batch {
            b = b.header("Sforce-Query-Options", format!("batchSize={n}"));
        }
        b.send().await.unwrap()
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.get_with(path, &self.token, None).await;
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn soql(&self, endpoint: &str, q: &str) -> (u16, Value) {
        self.get(&format!("/services/data/{V}/{endpoint}/?q={}", enc(q))).await
    }

    /// Runs a query and follows `nextRecordsUrl` to the end: (records, batches).
    async fn all(&self, endpoint: &str, q: &str, batch: Option<usize>) -> (Vec<Value>, usize) {
        let mut path = format!("/services/data/{V}/{endpoint}/?q={}", enc(q));
        let mut out = Vec::new();
        let mut batches = 0;
        loop {
            let r = self.get_with(&path, &self.token, batch).await;
            assert_eq!(r.status(), 200, "{path}");
            let body: Value = r.json().await.unwrap();
            let recs = body["records"].as_array().unwrap();
            out.extend(recs.iter().cloned());
            batches += 1;
            assert!(body["totalSize"].as_u64().unwrap() as usize >= out.len());
            if body["done"] == json!(true) {
                assert!(body.get("nextRecordsUrl").is_none());
                assert_eq!(body["totalSize"].as_u64().unwrap() as usize, out.len());
                break;
            }
            path = body["nextRecordsUrl"].as_str().unwrap().to_string();
            assert!(path.starts_with(&format!("/services/data/{V}/query/01g")), "{path}");
            assert!(batches < 10_000);
        }
        (out, batches)
    }
}

fn ids(records: &[Value]) -> Vec<String> {
    records.iter().map(|r| r["Id"].as_str().unwrap().to_string()).collect()
}

fn all_fields(truth_record: &Value) -> String {
    truth_record
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "attributes")
        .cloned()
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::test]
async fn token_grants_and_their_errors() {
    let f = Fixture::new(tiny()).await;
    let other = SfOrgSpec::new("globex", 8, tiny(), now());
    f.sim.add_org(other.clone());
    let s = &f.spec;

    // client credentials in a Basic header, body only grant_type
    let t = f.client_credentials(s).await;
    let instance = t["instance_url"].as_str().unwrap();
    assert_eq!(instance, format!("http://{}", f.addr));
    assert_eq!(t["token_type"], "Bearer");
    let org_id = f.sim.org_id("acme");
    assert!(org_id.starts_with("00D") && org_id.len() == 18);
    let id = t["id"].as_str().unwrap();
    assert!(id.starts_with(&format!("{instance}/id/{org_id}/005")), "{id}");
    let issued: i64 = t["issued_at"].as_str().unwrap().parse().unwrap();
    assert!((issued - Utc::now().timestamp_millis()).abs() < 60_000);
    assert!(!t["signature"].as_str().unwrap().is_empty());
    assert!(t.get("refresh_token").is_none());
    assert!(t["access_token"].as_str().unwrap().starts_with(&org_id[..15]));

    // client credentials in the body
    let (st, b) = f
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &s.client_id),
            ("client_secret", &s.client_secret),
        ])
        .await;
    assert_eq!(st, 200, "{b}");

    // password grant gives a refresh token; refresh_token grant uses it
    let (st, b) = f
        .token_form(&[
            ("grant_type", "password"),
            ("client_id", &s.client_id),
            ("client_secret", &s.client_secret),
            ("username", &s.username),
            ("password", &s.password),
        ])
        .await;
    assert_eq!(st, 200, "{b}");
    let refresh = b["refresh_token"].as_str().unwrap().to_string();
    let (st, r) = f
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &s.client_id),
            ("client_secret", &s.client_secret),
            ("refresh_token", &refresh),
        ])
        .await;
    assert_eq!(st, 200, "{r}");
    assert!(r.get("refresh_token").is_none());
    assert_ne!(r["access_token"], b["access_token"]);

    // errors
    let (st, e) = f
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &s.client_id),
            ("client_secret", "wrong"),
        ])
        .await;
    assert_eq!(
        (st, &e),
        (400, &json!({"error":"invalid_client","error_description":"invalid client credentials"}))
    );
    let (st, e) = f
        .token_form(&[
            ("grant_type", "password"),
            ("client_id", &s.client_id),
            ("client_secret", &s.client_secret),
            ("username", &s.username),
            ("password", "nope"),
        ])
        .await;
    assert_eq!(
        (st, &e),
        (400, &json!({"error":"invalid_grant","error_description":"authentication failure"}))
    );
    // a refresh token of one org does not work with another org's client
    let (st, e) = f
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &other.client_id),
            ("client_secret", &other.client_secret),
            ("refresh_token", &refresh),
        ])
        .await;
    assert_eq!((st, e["error"].as_str()), (400, Some("invalid_grant")));
    let (st, e) = f.token_form(&[("grant_type", "authorization_code")]).await;
    assert_eq!((st, e["error"].as_str()), (400, Some("unsupported_grant_type")));

    // the credentials select the org: the same host serves both, routed by token
    let globex = f.client_credentials(&other).await;
    assert_eq!(globex["instance_url"], t["instance_url"]);
    let q = format!(
        "/services/data/{V}/query/?q={}",
        enc("SELECT Id, Name FROM Account ORDER BY Id LIMIT 3")
    );
    let a: Value =
        f.get_with(&q, t["access_token"].as_str().unwrap(), None).await.json().await.unwrap();
    let g: Value =
        f.get_with(&q, globex["access_token"].as_str().unwrap(), None).await.json().await.unwrap();
    assert_ne!(a["records"], g["records"]);
    assert_eq!(a["records"].as_array().unwrap().len(), 3);

    let log = f.sim.requests();
    let tokens: Vec<_> = log.iter().filter(|r| r.path == "/services/oauth2/token").collect();
    assert!(tokens.iter().any(|r| r.tenant.as_deref() == Some("globex")));
    assert!(tokens.iter().any(|r| r.status == 400));
}

#[tokio::test]
async fn sessions_expire_and_errors_are_json_arrays() {
    let f = Fixture::new(tiny()).await;
    let session =
        json!([{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]);
    let path = format!("/services/data/{V}/query/?q={}", enc("SELECT Id FROM User"));
    // no token, unknown token
    let r = f.http.get(format!("{}{path}", f.base())).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap(), session);
    let r = f.get_with(&path, "00Dxx!bogus", None).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap(), session);

    assert_eq!(f.get(&path).await.0, 200);
    f.sim.expire_tokens();
    let (st, body) = f.get(&path).await;
    assert_eq!((st, body), (401, session.clone()));
    // a new token works; the control route expires it again
    let fresh = f.client_credentials(&f.spec).await["access_token"].as_str().unwrap().to_string();
    assert_eq!(f.get_with(&path, &fresh, None).await.status(), 200);
    let r = f.http.post(format!("{}/_sim/expire_tokens", f.base())).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(f.get_with(&path, &fresh, None).await.status(), 401);

    let f = Fixture::new(tiny()).await;
    // unknown path, unknown version, unknown sObject in a path
    let not_found =
        json!([{"message":"The requested resource does not exist","errorCode":"NOT_FOUND"}]);
    for p in [
        format!("/services/data/{V}/nothing"),
        "/services/data/v99.0/query/?q=SELECT+Id+FROM+Case".to_string(),
        format!("/services/data/{V}/sobjects/Foo/describe"),
        "/services/apexrest/x".to_string(),
    ] {
        let (st, body) = f.get(&p).await;
        assert_eq!((st, &body), (404, &not_found), "{p}");
    }
    // versions need no auth
    let r = f.http.get(format!("{}/services/data/", f.base())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let versions: Value = r.json().await.unwrap();
    let v59 = versions.as_array().unwrap().iter().find(|v| v["version"] == "59.0").unwrap();
    assert_eq!(v59["url"], "/services/data/v59.0");
    assert_eq!(v59["label"], "Winter '24");
}

#[tokio::test]
async fn paging_through_every_object_equals_truth() {
    let f = Fixture::new(tiny()).await;
    let truth = f.sim.truth("acme");
    for obj in OBJECTS {
        let expected = &truth.tables[obj];
        assert!(!expected.is_empty(), "{obj}");
        let q = format!("SELECT {} FROM {obj}", all_fields(&expected[0]));
        // batchSize below 200 is raised to 200
        let (got, batches) = f.all("query", &q, Some(50)).await;
        assert_eq!(batches, expected.len().div_ceil(200), "{obj}");
        let mut got = got;
        got.sort_by(|a, b| a["Id"].as_str().cmp(&b["Id"].as_str()));
        assert_eq!(&got, expected, "{obj}");
        let first = &got[0];
        assert_eq!(first["attributes"]["type"], obj);
        assert_eq!(
            first["attributes"]["url"],
            format!("/services/data/{V}/sobjects/{obj}/{}", first["Id"].as_str().unwrap())
        );
    }
    // the limit header rides on every response and counts requests
    let q = format!("/services/data/{V}/query/?q={}", enc("SELECT Id FROM Account"));
    let r1 = f.get_with(&q, &f.token, None).await;
    let r2 = f.get_with(&q, &f.token, None).await;
    let used = |r: &reqwest::Response| -> u64 {
        let h = r.headers()["sforce-limit-info"].to_str().unwrap().to_string();
        let (u, total) = h.strip_prefix("api-usage=").unwrap().split_once('/').unwrap();
        assert_eq!(total, "100000");
        u.parse().unwrap()
    };
    assert_eq!(used(&r2), used(&r1) + 1);
    assert_eq!(f.sim.api_usage("acme"), (used(&r2), 100_000));
}

#[tokio::test]
async fn batch_sizes_locators_and_their_expiry() {
    let f = Fixture::new(SfSizes { cases: 2_600, ..tiny() }).await;
    let q = "SELECT Id, CaseNumber FROM Case ORDER BY CaseNumber DESC";
    // default and above-maximum batch sizes are 2000
    for batch in [None, Some(5000)] {
        let r =
            f.get_with(&format!("/services/data/{V}/query?q={}", enc(q)), &f.token, batch).await;
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["totalSize"], 2_600);
        assert_eq!(body["done"], false);
        assert_eq!(body["records"].as_array().unwrap().len(), 2_000);
        assert!(body["nextRecordsUrl"].as_str().unwrap().ends_with("-2000"));
    }
    let (all, batches) = f.all("query", q, Some(500)).await;
    assert_eq!(batches, 6);
    let numbers: Vec<&str> = all.iter().map(|r| r["CaseNumber"].as_str().unwrap()).collect();
    let mut sorted = numbers.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(numbers, sorted);
    assert_eq!(numbers.iter().collect::<BTreeSet<_>>().len(), 2_600);
    assert_eq!(*numbers.last().unwrap(), "00001001");

    // a locator serves any position; a bogus one or one past the end is invalid
    let body = f
        .get_with(&format!("/services/data/{V}/queryAll/?q={}", enc(q)), &f.token, Some(1000))
        .await;
    let body: Value = body.json().await.unwrap();
    let next = body["nextRecordsUrl"].as_str().unwrap().to_string();
    assert!(next.ends_with("-1000"));
    let again = next.replace("-1000", "-2500");
    let (st, b) = f.get(&again).await;
    assert_eq!(st, 200);
    assert_eq!(b["records"].as_array().unwrap().len(), 100);
    assert_eq!(b["done"], true);
    assert_eq!(b["records"][99]["CaseNumber"], "00001001");
    let invalid = json!([{"message":"invalid query locator","errorCode":"INVALID_QUERY_LOCATOR"}]);
    for bad in
        [next.replace("-1000", "-9000"), format!("/services/data/{V}/query/01gXXXXXXXXXXXXXXX-200")]
    {
        assert_eq!(f.get(&bad).await, (400, invalid.clone()), "{bad}");
    }
    // expiry
    assert_eq!(f.get(&next).await.0, 200);
    f.sim.expire_locators();
    assert_eq!(f.get(&next).await, (400, invalid.clone()));
    let body: Value = f.soql("query", q).await.1;
    let next = body["nextRecordsUrl"].as_str().unwrap().to_string();
    let r = f.http.post(format!("{}/_sim/expire_locators", f.base())).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(f.get(&next).await, (400, invalid));
}

/// Evaluates a predicate on truth records of an object.
fn truth_where(truth: &[Value], pred: impl Fn(&Value) -> bool) -> BTreeSet<String> {
    truth.iter().filter(|r| pred(r)).map(|r| r["Id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn soql_filters_match_the_truth() {
    let f = Fixture::new(tiny()).await;
    let truth = f.sim.truth("acme");
    let cases = &truth.tables["Case"];
    let run = |q: String| {
        let f = &f;
        async move {
            let (recs, _) = f.all("query", &q, None).await;
            ids(&recs).into_iter().collect::<BTreeSet<_>>()
        }
    };
    let s = |r: &Value, k: &str| r[k].as_str().map(str::to_string);

    let closed = truth_where(cases, |r| s(r, "Status").as_deref() == Some("Closed"));
    assert!(!closed.is_empty() && closed.len() < cases.len());
    // keywords, names and text comparisons are case-insensitive
    assert_eq!(run("select id from CASE where status = 'closed'".into()).await, closed);
    assert_eq!(
        run("SELECT Id FROM Case WHERE Status != 'Closed'".into()).await.len(),
        cases.len() - closed.len()
    );
    let open_in =
        truth_where(cases, |r| matches!(s(r, "Status").as_deref(), Some("New" | "Working")));
    assert_eq!(run("SELECT Id FROM Case WHERE Status IN ('New', 'Working')".into()).await, open_in);
    assert_eq!(
        run("SELECT Id FROM Case WHERE NOT Status NOT IN ('New','Working')".into()).await,
        open_in
    );
    let vpn =
        truth_where(cases, |r| s(r, "Subject").is_some_and(|x| x.to_lowercase().contains("vpn")));
    assert!(!vpn.is_empty());
    assert_eq!(run("SELECT Id FROM Case WHERE Subject LIKE '%VPN%'".into()).await, vpn);
    let no_reason = truth_where(cases, |r| r["Reason"].is_null());
    assert_eq!(run("SELECT Id FROM Case WHERE Reason = null".into()).await, no_reason);
    // null != 'x' is true
    let not_perf = truth_where(cases, |r| s(r, "Reason").as_deref() != Some("Performance"));
    assert_eq!(run("SELECT Id FROM Case WHERE Reason != 'Performance'".into()).await, not_perf);
    let mixed = truth_where(cases, |r| {
        r["IsEscalated"] == json!(true)
            && (s(r, "Priority").as_deref() == Some("High") || r["IsClosed"] == json!(false))
    });
    assert_eq!(
        run("SELECT Id FROM Case WHERE IsEscalated = TRUE AND (Priority = 'High' OR IsClosed = false)".into())
            .await,
        mixed
    );

    // date-times compare as instants, whatever the literal's form
    let cut = parse_sf_time(cases[cases.len() / 2]["SystemModstamp"].as_str().unwrap());
    let after = truth_where(cases, |r| parse_sf_time(r["SystemModstamp"].as_str().unwrap()) > cut);
    for lit in [
        cut.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        cut.format("%Y-%m-%dT%H:%M:%S+00:00").to_string(),
        cut.format("%Y-%m-%dT%H:%M:%S.000+0000").to_string(),
        (cut + chrono::Duration::hours(2)).format("%Y-%m-%dT%H:%M:%S+02:00").to_string(),
    ] {
        assert_eq!(
            run(format!("SELECT Id FROM Case WHERE SystemModstamp > {lit}")).await,
            after,
            "{lit}"
        );
    }
    // dates
    let opps = &truth.tables["Opportunity"];
    let day = opps[0]["CloseDate"].as_str().unwrap().to_string();
    let before = truth_where(opps, |r| r["CloseDate"].as_str().unwrap() < day.as_str());
    assert_eq!(run(format!("SELECT Id FROM Opportunity WHERE CloseDate < {day}")).await, before);
    // numbers
    let big =
        truth_where(&truth.tables["Account"], |r| r["NumberOfEmployees"].as_i64().unwrap() >= 30);
    assert_eq!(run("SELECT Id FROM Account WHERE NumberOfEmployees >= 30".into()).await, big);
    // ids compare as strings, and 15-character ids work
    let acct = &truth.tables["Account"];
    let mid = acct[acct.len() / 2]["Id"].as_str().unwrap();
    let later = truth_where(acct, |r| r["Id"].as_str().unwrap() > mid);
    assert_eq!(run(format!("SELECT Id FROM Account WHERE Id > '{mid}'")).await, later);
    assert_eq!(run(format!("SELECT Id FROM Account WHERE Id = '{}'", &mid[..15])).await.len(), 1);

    // COUNT()
    let (st, body) = f.soql("query", "SELECT COUNT() FROM Case WHERE Status = 'Closed'").await;
    assert_eq!((st, body), (200, json!({"totalSize": closed.len(), "done": true, "records": []})));

    // ORDER BY with NULLS, LIMIT, OFFSET
    let (_, body) = f
        .soql("query", "SELECT Id, Reason FROM Case ORDER BY Reason DESC NULLS LAST, Id LIMIT 500")
        .await;
    let recs = body["records"].as_array().unwrap();
    assert_eq!(recs.len(), cases.len().min(500));
    let reasons: Vec<Option<&str>> = recs.iter().map(|r| r["Reason"].as_str()).collect();
    let first_null = reasons.iter().position(Option::is_none).unwrap();
    assert!(reasons[first_null..].iter().all(Option::is_none));
    assert!(reasons[..first_null].windows(2).all(|w| w[0] >= w[1]));
    let (_, body) = f.soql("query", "SELECT Id FROM Case ORDER BY Reason LIMIT 1").await;
    let nulls_first = truth_where(cases, |r| r["Reason"].is_null());
    assert!(nulls_first.contains(body["records"][0]["Id"].as_str().unwrap()));
    let (_, page) = f
        .soql("query", "SELECT Id FROM Case ORDER BY CreatedDate DESC, Id DESC LIMIT 5 OFFSET 3")
        .await;
    assert_eq!(page["totalSize"], 5);
    let mut by_created: Vec<&Value> = cases.iter().collect();
    by_created.sort_by(|a, b| {
        (b["CreatedDate"].as_str(), b["Id"].as_str())
            .cmp(&(a["CreatedDate"].as_str(), a["Id"].as_str()))
    });
    let want: Vec<String> =
        by_created[3..8].iter().map(|r| r["Id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids(page["records"].as_array().unwrap()), want);
    // fields come back in the order selected, spelled as Salesforce spells them, in any version
    let path = format!(
        "/services/data/v59.0/query?q={}",
        enc("SELECT status, Id, casenumber FROM Case LIMIT 1")
    );
    let text = f.get_with(&path, &f.token, None).await.text().await.unwrap();
    let at = |k: &str| text.find(&format!("\"{k}\":")).unwrap_or_else(|| panic!("{k} in {text}"));
    assert!(
        at("attributes") < at("Status") && at("Status") < at("Id") && at("Id") < at("CaseNumber")
    );
    assert!(text.contains("\"url\":\"/services/data/v59.0/sobjects/Case/500"), "{text}");
}

#[tokio::test]
async fn soql_errors_name_the_problem() {
    let f = Fixture::new(tiny()).await;
    let cases: [(&str, &str, &str); 8] = [
        ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY", "unexpected token: '<EOF>'"),
        ("SELECT Id Name FROM Account", "MALFORMED_QUERY", "unexpected token: 'Name'"),
        (
            "SELECT Id, Nmae FROM Account",
            "INVALID_FIELD",
            "No such column 'Nmae' on entity 'Account'",
        ),
        ("SELECT Id FROM Acount", "INVALID_TYPE", "sObject type 'Acount' is not supported"),
        (
            "SELECT Id FROM Case WHERE SystemModstamp > '2024-01-01T00:00:00Z'",
            "INVALID_FIELD",
            "value of filter criterion for field 'SystemModstamp' must be of type dateTime and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Case WHERE Status = 'New' AND Priority = 'High' OR IsClosed = true",
            "MALFORMED_QUERY",
            "unexpected token: 'OR'",
        ),
        (
            "SELECT Id FROM Case WHERE Id > 'nope'",
            "INVALID_QUERY_FILTER_OPERATOR",
            "invalid ID field: nope",
        ),
        (
            "SELECT Id FROM Case OFFSET 5000",
            "NUMBER_OUTSIDE_VALID_RANGE",
            "Maximum SOQL offset allowed is 2000",
        ),
    ];
    for (q, code, message) in cases {
        let (st, body) = f.soql("query", q).await;
        assert_eq!(st, 400, "{q}");
        let e = &body.as_array().unwrap()[0];
        assert_eq!(e["errorCode"], code, "{q}: {body}");
        let m = e["message"].as_str().unwrap();
        assert!(m.contains(message), "{q}: {m}");
        assert!(m.contains("ERROR at Row:1:Column:"), "{q}: {m}");
    }
    let (st, body) = f.get(&format!("/services/data/{V}/query/")).await;
    assert_eq!((st, body[0]["errorCode"].as_str()), (400, Some("MALFORMED_QUERY")));
}

/// The connector's keyset loop over `queryAll`, from a watermark (exclusive) to the end.
async fn keyset(
    f: &Fixture,
    obj: &str,
    mut mark: Option<(String, String)>,
    page: usize,
) -> (Vec<Value>, Option<(String, String)>) {
    let mut out = Vec::new();
    loop {
        let filter = match &mark {
            None => String::new(),
            Some((ts, id)) => {
                format!(" WHERE SystemModstamp > {ts} OR (SystemModstamp = {ts} AND Id > '{id}')")
            }
        };
        let q = format!(
            "SELECT Id, SystemModstamp, LastModifiedDate, CreatedDate, IsDeleted FROM {obj}{filter} ORDER BY SystemModstamp ASC, Id ASC LIMIT {page}"
        );
        let (st, body) = f.soql("queryAll", &q).await;
        assert_eq!(st, 200, "{q}: {body}");
        assert_eq!(body["done"], true);
        let recs = body["records"].as_array().unwrap().clone();
        let n = recs.len();
        if let Some(last) = recs.last() {
            let ts = parse_sf_time(last["SystemModstamp"].as_str().unwrap());
            mark = Some((
                ts.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                last["Id"].as_str().unwrap().to_string(),
            ));
        }
        out.extend(recs);
        if n < page {
            return (out, mark);
        }
    }
}

#[tokio::test]
async fn incremental_keyset_after_advance_returns_exactly_the_changes() {
    let f = Fixture::new(tiny()).await;
    let mut marks = BTreeMap::new();
    for obj in OBJECTS {
        let (recs, mark) = keyset(&f, obj, None, 200).await;
        let truth = f.sim.truth("acme");
        let mut got = ids(&recs);
        got.sort();
        assert_eq!(got, ids(&truth.tables[obj]), "{obj}: full keyset sync = truth");
        marks.insert(obj, mark);
    }

    let report = f.sim.advance(
        "acme",
        Changes { duration: chrono::Duration::hours(2), updates: 60, creates: 30, deletes: 12 },
    );
    assert_eq!(report.to - report.from, chrono::Duration::hours(2));
    assert_eq!(f.sim.now("acme"), report.to);
    let count = |m: &BTreeMap<String, Vec<String>>| m.values().map(Vec::len).sum::<usize>();
    assert_eq!(count(&report.updated), 60);
    assert_eq!(count(&report.created), 30);
    assert_eq!(count(&report.deleted), 12);
    assert!(report.deleted["User"].is_empty());
    assert!(!report.deleted["Case"].is_empty());

    let truth = f.sim.truth("acme");
    for obj in OBJECTS {
        let (recs, _) = keyset(&f, obj, marks[obj].clone(), 7).await;
        let got: BTreeSet<String> = ids(&recs).into_iter().collect();
        let want: BTreeSet<String> = report.updated[obj]
            .iter()
            .chain(&report.created[obj])
            .chain(&report.deleted[obj])
            .cloned()
            .collect();
        assert_eq!(got, want, "{obj}");
        for r in &recs {
            let id = r["Id"].as_str().unwrap();
            let sms = parse_sf_time(r["SystemModstamp"].as_str().unwrap());
            assert!(sms > report.from && sms <= report.to, "{obj} {id} {sms}");
            assert_eq!(r["LastModifiedDate"], r["SystemModstamp"]);
            let deleted = report.deleted[obj].iter().any(|d| d == id);
            assert_eq!(r["IsDeleted"], json!(deleted));
            if report.created[obj].iter().any(|c| c == id) {
                assert_eq!(r["CreatedDate"], r["SystemModstamp"]);
            }
        }
        // created ids sort after every older id
        let oldest_new = report.created[obj].iter().min();
        if let Some(first_new) = oldest_new {
            assert!(report.updated[obj].iter().all(|u| u < first_new), "{obj}");
        }
        // query leaves the recycle bin out, queryAll does not; truth lists the deleted ids
        let q = format!("SELECT Id, IsDeleted FROM {obj} WHERE IsDeleted = true");
        assert_eq!(f.soql("query", &q).await.1["totalSize"], 0);
        let (bin, _) = f.all("queryAll", &q, None).await;
        let mut bin = ids(&bin);
        bin.sort();
        assert_eq!(bin, truth.deleted[obj], "{obj}");
        assert!(
            truth.tables[obj].iter().all(|r| !bin.contains(&r["Id"].as_str().unwrap().to_string()))
        );
    }

    // the deleted endpoint lists the same ids with their deletion times
    let start =
        (report.from - chrono::Duration::minutes(1)).format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
    let end = (report.to + chrono::Duration::minutes(5)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (st, body) = f
        .get(&format!(
            "/services/data/{V}/sobjects/Case/deleted/?start={}&end={}",
            enc(&start),
            enc(&end)
        ))
        .await;
    assert_eq!(st, 200, "{body}");
    let listed: Vec<String> = body["deletedRecords"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let at = parse_sf_time(d["deletedDate"].as_str().unwrap());
            assert!(at > report.from && at <= report.to);
            d["id"].as_str().unwrap().to_string()
        })
        .collect();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    assert_eq!(listed_sorted, report.deleted["Case"]);
    let latest = parse_sf_time(body["latestDateCovered"].as_str().unwrap());
    assert!(latest <= report.to);
    let earliest = parse_sf_time(body["earliestDateAvailable"].as_str().unwrap());
    assert!(earliest < report.from);
    let (st, body) =
        f.get(&format!("/services/data/{V}/sobjects/Case/deleted/?start={}", enc(&start))).await;
    assert_eq!((st, body[0]["errorCode"].as_str()), (400, Some("MISSING_ARGUMENT")));

    // a deleted record is gone from retrieve; a live one is served whole
    let gone = &report.deleted["Case"][0];
    let (st, body) = f.get(&format!("/services/data/{V}/sobjects/Case/{gone}")).await;
    assert_eq!((st, body[0]["errorCode"].as_str()), (404, Some("ENTITY_IS_DELETED")));
    let live = &truth.tables["Case"][0];
    let (st, body) =
        f.get(&format!("/services/data/{V}/sobjects/Case/{}", live["Id"].as_str().unwrap())).await;
    assert_eq!(st, 200);
    let mut expected = live.clone();
    expected["attributes"]["url"] = body["attributes"]["url"].clone();
    assert_eq!(body, expected);
}

#[tokio::test]
async fn daily_api_limit() {
    let f = Fixture::new(tiny()).await;
    let path = format!("/services/data/{V}/query/?q={}", enc("SELECT COUNT() FROM Case"));
    f.sim.set_api_usage("acme", 99_999);
    let r = f.get_with(&path, &f.token, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["sforce-limit-info"], "api-usage=100000/100000");
    let r = f.get_with(&path, &f.token, None).await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["sforce-limit-info"], "api-usage=100000/100000");
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!([{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}])
    );
    // tokens are still issued; the control route lifts the limit
    f.client_credentials(&f.spec).await;
    let r = f
        .http
        .post(format!("{}/_sim/api_usage", f.base()))
        .json(&json!({"org": "acme", "used": 10, "limit": 15000}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = f.get_with(&path, &f.token, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["sforce-limit-info"], "api-usage=11/15000");
    let (_, limits) = f.get(&format!("/services/data/{V}/limits")).await;
    assert_eq!(limits["DailyApiRequests"], json!({"Max": 15000, "Remaining": 15000 - 12}));
}

#[tokio::test]
async fn generated_data_is_consistent_and_deterministic() {
    let sim = SalesforceSim::new();
    sim.add_org(SfOrgSpec::new("a", 11, SfSizes::small(), now()));
    sim.add_org(SfOrgSpec::new("b", 11, SfSizes::small(), now()));
    sim.add_org(SfOrgSpec::new("c", 12, SfSizes::small(), now()));
    let (a, b, c) = (sim.truth("a"), sim.truth("b"), sim.truth("c"));
    let strip = |t: &avesa_sim::Truth| {
        t.tables["Case"]
            .iter()
            .map(|r| (r["Subject"].clone(), r["CreatedDate"].clone()))
            .collect::<Vec<_>>()
    };
    // same seed, same org name: same data; the org name salts ids and values
    let again = SalesforceSim::new();
    again.add_org(SfOrgSpec::new("a", 11, SfSizes::small(), now()));
    assert_eq!(again.truth("a"), a);
    assert_ne!(strip(&a), strip(&b));
    assert_ne!(strip(&a), strip(&c));
    assert_eq!(
        SfOrgSpec::new("a", 11, SfSizes::small(), now()),
        SfOrgSpec::new("a", 11, SfSizes::small(), now())
    );
    assert_ne!(
        SfOrgSpec::new("a", 11, SfSizes::small(), now()).client_id,
        SfOrgSpec::new("b", 11, SfSizes::small(), now()).client_id
    );

    let sizes = SfSizes::small();
    let t = &a.tables;
    assert_eq!(t["Account"].len(), sizes.accounts);
    assert_eq!(t["Contact"].len(), sizes.contacts);
    assert_eq!(t["Case"].len(), sizes.cases);
    assert_eq!(t["Opportunity"].len(), sizes.opportunities);
    assert_eq!(t["User"].len(), sizes.users);
    let set = |obj: &str| -> BTreeSet<String> { ids(&t[obj]).into_iter().collect() };
    let (accounts, contacts, users) = (set("Account"), set("Contact"), set("User"));
    let prefix = [
        ("Account", "001"),
        ("Contact", "003"),
        ("Case", "500"),
        ("Opportunity", "006"),
        ("User", "005"),
    ];
    let limit = now();
    for (obj, p) in prefix {
        let recs = &t[obj];
        let mut last_created = None;
        for (i, r) in recs.iter().enumerate() {
            let id = r["Id"].as_str().unwrap();
            assert!(id.len() == 18 && id.starts_with(p), "{id}");
            if i > 0 {
                assert!(recs[i - 1]["Id"].as_str().unwrap() < id);
            }
            let created = parse_sf_time(r["CreatedDate"].as_str().unwrap());
            let modified = parse_sf_time(r["LastModifiedDate"].as_str().unwrap());
            let stamp = parse_sf_time(r["SystemModstamp"].as_str().unwrap());
            assert!(created <= modified && modified <= stamp && stamp <= limit, "{obj} {id}");
            assert!(created >= limit - chrono::Duration::days(731));
            assert!(last_created.is_none_or(|l| l <= created), "ids follow creation order");
            last_created = Some(created);
            assert!(r["CreatedDate"].as_str().unwrap().ends_with(".000+0000"));
            assert_eq!(r["IsDeleted"], false);
            for k in ["CreatedById", "LastModifiedById"] {
                assert!(users.contains(r[k].as_str().unwrap()), "{obj}.{k}");
            }
            if let Some(owner) = r.get("OwnerId") {
                assert!(users.contains(owner.as_str().unwrap()), "{obj}.OwnerId");
            }
        }
    }
    assert_eq!(t["User"][0]["Username"], SfOrgSpec::new("a", 11, SfSizes::small(), now()).username);
    assert!(t["User"].iter().all(|u| u["UserType"] == "Standard"));
    for c in &t["Contact"] {
        assert!(accounts.contains(c["AccountId"].as_str().unwrap()));
        assert_eq!(
            c["Name"],
            format!("{} {}", c["FirstName"].as_str().unwrap(), c["LastName"].as_str().unwrap())
        );
    }
    let contact_account: BTreeMap<&str, &str> = t["Contact"]
        .iter()
        .map(|c| (c["Id"].as_str().unwrap(), c["AccountId"].as_str().unwrap()))
        .collect();
    let mut statuses = BTreeSet::new();
    for (i, k) in t["Case"].iter().enumerate() {
        assert_eq!(k["CaseNumber"], format!("{:08}", 1001 + i));
        let account = k["AccountId"].as_str().unwrap();
        assert!(accounts.contains(account));
        if let Some(contact) = k["ContactId"].as_str() {
            assert!(contacts.contains(contact));
            assert_eq!(
                contact_account[contact], account,
                "a case's contact belongs to its account"
            );
        }
        let status = k["Status"].as_str().unwrap();
        statuses.insert(status.to_string());
        assert!(["New", "Working", "Escalated", "Closed"].contains(&status));
        assert!(["High", "Medium", "Low"].contains(&k["Priority"].as_str().unwrap()));
        assert_eq!(k["IsClosed"], json!(status == "Closed"));
        assert_eq!(k["ClosedDate"].is_null(), status != "Closed");
        if status == "Escalated" {
            assert_eq!(k["IsEscalated"], true);
        }
    }
    assert_eq!(statuses.len(), 4, "{statuses:?}");
    for o in &t["Opportunity"] {
        assert!(accounts.contains(o["AccountId"].as_str().unwrap()));
        assert!(o["Amount"].is_number() && o["Probability"].is_number());
        let date = o["CloseDate"].as_str().unwrap();
        assert!(chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok(), "{date}");
        let stage = o["StageName"].as_str().unwrap();
        assert_eq!(o["IsClosed"], json!(stage.starts_with("Closed")));
        assert_eq!(o["IsWon"], json!(stage == "Closed Won"));
    }
    for acc in &t["Account"] {
        assert!(acc["NumberOfEmployees"].is_i64());
        assert!(acc["AnnualRevenue"].is_null() || acc["AnnualRevenue"].is_f64());
        assert_eq!(acc["BillingCountry"], "United States");
    }
}

#[tokio::test]
async fn control_routes_and_request_log() {
    let f = Fixture::new(tiny()).await;
    f.sim.clear_requests();
    let r: Value = f
        .http
        .get(format!("{}/_sim/tenants", f.base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r[0]["org"], "acme");
    assert_eq!(r[0]["client_secret"], f.spec.client_secret.as_str());
    assert_eq!(r[0]["counts"]["Case"], 450);
    let report: Value = f
        .http
        .post(format!("{}/_sim/advance", f.base()))
        .json(&json!({"tenant": "acme", "duration": 600, "updates": 5, "creates": 5, "deletes": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let n = |k: &str| {
        report[k].as_object().unwrap().values().map(|v| v.as_array().unwrap().len()).sum::<usize>()
    };
    assert_eq!((n("updated"), n("created"), n("deleted")), (5, 5, 2));
    let truth: Value = f
        .http
        .get(format!("{}/_sim/truth?tenant=acme", f.base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        truth["deleted"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_array().unwrap().len())
            .sum::<usize>(),
        2
    );
    assert_eq!(
        truth["tables"]["Case"].as_array().unwrap().len(),
        f.sim.truth("acme").tables["Case"].len()
    );
    // /_sim traffic is not logged; API traffic is, with the org as tenant
    assert!(f.sim.requests().is_empty());
    let (_, body) = f.soql("query", "SELECT Id FROM Contact LIMIT 7").await;
    assert_eq!(body["records"].as_array().unwrap().len(), 7);
    let log = f.sim.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].tenant.as_deref(), Some("acme"));
    assert_eq!((log[0].status, log[0].records), (200, 7));
    assert_eq!(log[0].path, format!("/services/data/{V}/query/"));
    assert!(log[0].query.starts_with("q=SELECT"));
    let r = f.http.delete(format!("{}/_sim/requests", f.base())).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(f.sim.requests().is_empty());
    // describe lists the fields with their types
    let (st, d) = f.get(&format!("/services/data/{V}/sobjects/Case/describe")).await;
    assert_eq!(st, 200);
    let fields = d["fields"].as_array().unwrap();
    let ty = |name: &str| fields.iter().find(|x| x["name"] == name).unwrap()["type"].clone();
    assert_eq!(
        (ty("SystemModstamp"), ty("AccountId"), ty("Status")),
        (json!("datetime"), json!("reference"), json!("picklist"))
    );
}

/// A 100,000-case org: the connector's keyset query stays fast.
#[tokio::test]
async fn keyset_on_a_large_org_is_fast() {
    let sizes =
        SfSizes { accounts: 300, contacts: 1_500, cases: 100_000, opportunities: 100, users: 20 };
    let f = Fixture::new(sizes).await;
    let started = std::time::Instant::now();
    let q = "SELECT Id, Subject, Status, SystemModstamp, IsDeleted FROM Case WHERE SystemModstamp > 2024-06-01T00:00:00Z OR (SystemModstamp = 2024-06-01T00:00:00Z AND Id > '500000000000000') ORDER BY SystemModstamp ASC, Id ASC LIMIT 2000";
    for _ in 0..5 {
        let (st, body) = f.soql("queryAll", q).await;
        assert_eq!(st, 200);
        assert_eq!(body["records"].as_array().unwrap().len(), 2000);
    }
    let per_query = started.elapsed() / 5;
    assert!(per_query < std::time::Duration::from_millis(1500), "{per_query:?} per query");
}

/// Every user has the fields Salesforce requires on `User` (alias and locale settings), with
/// values, and describe lists them as not nillable.
#[tokio::test]
async fn users_carry_the_required_fields() {
    let f = Fixture::new(tiny()).await;
    let q = "SELECT Id, FirstName, LastName, Alias, TimeZoneSidKey, LocaleSidKey, EmailEncodingKey, LanguageLocaleKey FROM User";
    let (st, body) = f.soql("query", q).await;
    assert_eq!(st, 200, "{body}");
    let users = body["records"].as_array().unwrap();
    assert_eq!(users.len(), tiny().users);
    for u in users {
        let alias = u["Alias"].as_str().unwrap_or_else(|| panic!("{u}"));
        let first = u["FirstName"].as_str().unwrap().to_ascii_lowercase();
        let last = u["LastName"].as_str().unwrap().to_ascii_lowercase();
        assert!((2..=8).contains(&alias.len()), "{alias}");
        assert!(alias.starts_with(&first[..1]) && last.starts_with(&alias[1..]), "{alias}: {u}");
        assert_eq!(u["TimeZoneSidKey"], "America/New_York");
        assert_eq!(u["LocaleSidKey"], "en_US");
        assert_eq!(u["LanguageLocaleKey"], "en_US");
        assert_eq!(u["EmailEncodingKey"], "UTF-8");
    }
    // users an advance creates have them too
    f.sim.advance(
        "acme",
        Changes { duration: chrono::Duration::days(30), updates: 0, creates: 200, deletes: 0 },
    );
    let truth = f.sim.truth("acme");
    assert!(truth.tables["User"].len() >= users.len());
    for u in &truth.tables["User"] {
        for k in
            ["Alias", "TimeZoneSidKey", "LocaleSidKey", "EmailEncodingKey", "LanguageLocaleKey"]
        {
            assert!(u[k].as_str().is_some_and(|v| !v.is_empty()), "{k}: {u}");
        }
    }
    let (st, d) = f.get(&format!("/services/data/{V}/sobjects/User/describe")).await;
    assert_eq!(st, 200);
    let fields = d["fields"].as_array().unwrap();
    let nillable = |name: &str| {
        fields.iter().find(|x| x["name"] == name).unwrap_or_else(|| panic!("{name}"))["nillable"]
            .clone()
    };
    for k in ["Alias", "TimeZoneSidKey", "LocaleSidKey", "EmailEncodingKey", "LanguageLocaleKey"] {
        assert_eq!(nillable(k), false, "{k}");
    }
    assert_eq!(nillable("Title"), true);
}
