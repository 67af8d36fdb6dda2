//! End-to-end tests of the ServiceNow Table API simulator over real HTTP.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;

use avesa_sim::{Changes, SN_TABLES, ServiceNowSim, SnSizes, SnTenantSpec, Truth};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-01-15T12:00:00Z").unwrap().to_utc()
}

struct Fixture {
    sim: ServiceNowSim,
    acme: SnTenantSpec,
    globex: SnTenantSpec,
    addr: SocketAddr,
    http: reqwest::Client,
    _server: tokio::task::JoinHandle<()>,
}

impl Fixture {
    async fn new() -> Fixture {
        let sim = ServiceNowSim::new();
        let acme = SnTenantSpec::new("acme", 7, SnSizes::small(), now());
        let globex = SnTenantSpec::new(
            "globex",
            8,
            SnSizes { companies: 5, users: 3, contacts: 10, incidents: 30, time_worked: 40 },
            now(),
        );
        sim.add_tenant(acme.clone());
        sim.add_tenant(globex.clone());
        let (addr, server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        Fixture { sim, acme, globex, addr, http: reqwest::Client::new(), _server: server }
    }

    fn url(&self, instance: &str, path_and_query: &str) -> String {
        format!(
            "{}/{}",
            ServiceNowSim::instance_url(self.addr, instance),
            path_and_query.trim_start_matches('/')
        )
    }

    async fn get_url(&self, url: &str) -> reqwest::Response {
        self.http
            .get(url)
            .header("Authorization", self.acme.basic_authorization())
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap()
    }

    /// GET on acme with Basic auth: (status, headers, body).
    async fn get(&self, path_and_query: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        let r = self.get_url(&self.url("acme", path_and_query)).await;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    async fn result(&self, path_and_query: &str) -> Vec<Value> {
        let (status, _, body) = self.get(path_and_query).await;
        assert_eq!(status, 200, "{path_and_query}: {body}");
        body["result"].as_array().unwrap().clone()
    }

    async fn token(&self, instance: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let r =
            self.http.post(self.url(instance, "oauth_token.do")).form(form).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}

fn ids(rows: &[Value]) -> Vec<String> {
    rows.iter().map(|r| r["sys_id"].as_str().unwrap().to_string()).collect()
}

fn enc(q: &str) -> String {
    url::form_urlencoded::byte_serialize(q.as_bytes()).collect()
}

fn is_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

fn field<'a>(r: &'a Value, name: &str) -> &'a str {
    r[name].as_str().unwrap_or_else(|| panic!("{name} is not a string in {r}"))
}

fn ref_value(r: &Value, name: &str) -> Option<String> {
    match &r[name] {
        Value::String(s) if s.is_empty() => None,
        Value::Object(o) => Some(o["value"].as_str().unwrap().to_string()),
        other => panic!("{name} is not a reference: {other}"),
    }
}

/// Pages through a table with Link `next` URLs; returns every record.
async fn page_all(fx: &Fixture, table: &str, limit: usize) -> Vec<Value> {
    let mut url = fx.url("acme", &format!("api/now/table/{table}?sysparm_limit={limit}"));
    let mut out = Vec::new();
    loop {
        let r = fx.get_url(&url).await;
        assert_eq!(r.status(), 200);
        let link = r.headers().get("link").map(|v| v.to_str().unwrap().to_string());
        let body: Value = r.json().await.unwrap();
        out.extend(body["result"].as_array().unwrap().iter().cloned());
        let next = link.and_then(|l| {
            l.split(',')
                .find(|p| p.ends_with("rel=\"next\""))
                .map(|p| p.split('>').next().unwrap().trim_start_matches('<').to_string())
        });
        match next {
            Some(n) => url = n,
            None => break,
        }
    }
    out
}

#[tokio::test]
async fn auth_basic_and_oauth() {
    let fx = Fixture::new().await;
    let url = fx.url("acme", "api/now/table/incident?sysparm_limit=1");

    // no credentials, wrong password, another instance's user
    let r = fx.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"})
    );
    let r = fx.http.get(&url).basic_auth(&fx.acme.username, Some("wrong")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = fx
        .http
        .get(&url)
        .header("Authorization", fx.globex.basic_authorization())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = fx
        .http
        .get(&url)
        .basic_auth(&fx.acme.username, Some(&fx.acme.password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // password grant, client credentials in the body
    let (status, tok) = fx
        .token(
            "acme",
            &[
                ("grant_type", "password"),
                ("client_id", &fx.acme.client_id),
                ("client_secret", &fx.acme.client_secret),
                ("username", &fx.acme.username),
                ("password", &fx.acme.password),
            ],
        )
        .await;
    assert_eq!(status, 200, "{tok}");
    assert_eq!(tok["token_type"], "Bearer");
    assert_eq!(tok["scope"], "useraccount");
    assert_eq!(tok["expires_in"], 1799);
    let access = tok["access_token"].as_str().unwrap().to_string();
    let refresh = tok["refresh_token"].as_str().unwrap().to_string();
    let r = fx.http.get(&url).bearer_auth(&access).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // the token is for acme only
    let r = fx
        .http
        .get(fx.url("globex", "api/now/table/incident"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // password grant with the client in a Basic header (pysnc style)
    let r = fx
        .http
        .post(fx.url("acme", "oauth_token.do"))
        .basic_auth(&fx.acme.client_id, Some(&fx.acme.client_secret))
        .form(&[
            ("grant_type", "password"),
            ("username", &fx.acme.username),
            ("password", &fx.acme.password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // client credentials grant
    let (status, cc) = fx
        .token(
            "acme",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &fx.acme.client_id),
                ("client_secret", &fx.acme.client_secret),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert_ne!(cc["access_token"], tok["access_token"]);

    // bad credentials
    for form in [
        vec![
            ("grant_type", "password"),
            ("client_id", fx.acme.client_id.as_str()),
            ("client_secret", "nope"),
            ("username", fx.acme.username.as_str()),
            ("password", fx.acme.password.as_str()),
        ],
        vec![
            ("grant_type", "password"),
            ("client_id", fx.acme.client_id.as_str()),
            ("client_secret", fx.acme.client_secret.as_str()),
            ("username", fx.acme.username.as_str()),
            ("password", "nope"),
        ],
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", fx.globex.client_id.as_str()),
            ("client_secret", fx.globex.client_secret.as_str()),
        ],
        vec![
            ("grant_type", "refresh_token"),
            ("client_id", fx.acme.client_id.as_str()),
            ("client_secret", fx.acme.client_secret.as_str()),
            ("refresh_token", "bogus"),
        ],
    ] {
        let (status, body) = fx.token("acme", &form).await;
        assert_eq!(status, 401, "{form:?}");
        assert_eq!(body["error"], "access_denied");
        assert!(body["error_description"].is_string());
    }
    let (status, body) = fx.token("acme", &[("grant_type", "magic")]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "unsupported_grant_type");

    // expiry: access tokens die, refresh tokens still work
    fx.sim.expire_tokens();
    let r = fx.http.get(&url).bearer_auth(&access).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let (status, refreshed) = fx
        .token(
            "acme",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &fx.acme.client_id),
                ("client_secret", &fx.acme.client_secret),
                ("refresh_token", &refresh),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let fresh = refreshed["access_token"].as_str().unwrap();
    assert_ne!(fresh, access);
    let r = fx.http.get(&url).bearer_auth(fresh).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // and the control route does the same
    let r = fx.http.post(format!("http://{}/_sim/expire_tokens", fx.addr)).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = fx.http.get(&url).bearer_auth(fresh).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn errors_and_single_records() {
    let fx = Fixture::new().await;
    let (status, _, body) = fx.get("api/now/table/cmdb_ci_bogus").await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error":{"message":"Invalid table cmdb_ci_bogus","detail":null},"status":"failure"})
    );

    let first = fx.result("api/now/table/incident?sysparm_limit=1").await.remove(0);
    let id = field(&first, "sys_id");
    let (status, headers, body) = fx.get(&format!("api/now/table/incident/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json;charset=UTF-8");
    assert_eq!(body["result"], first);

    let missing = "0123456789abcdef0123456789abcdef";
    for path in [
        format!("api/now/table/incident/{missing}"),
        "api/now/v2/table/incident/not-an-id".to_string(),
    ] {
        let (status, _, body) = fx.get(&path).await;
        assert_eq!(status, 404);
        assert_eq!(
            body,
            json!({"error":{"message":"No Record found","detail":"Record doesn't exist or ACL restricts the record retrieval"},"status":"failure"})
        );
    }
    // a record of another table is not found through this one
    let (status, _, _) = fx.get(&format!("api/now/table/sys_user/{id}")).await;
    assert_eq!(status, 404);

    // versions: v1 answers 404 on no match, v2 and the default path 200 []
    let q = enc("number=INC9999999");
    let (status, _, _) = fx.get(&format!("api/now/v1/table/incident?sysparm_query={q}")).await;
    assert_eq!(status, 404);
    for p in ["api/now/v2/table/incident", "api/now/table/incident"] {
        let (status, headers, body) = fx.get(&format!("{p}?sysparm_query={q}")).await;
        assert_eq!(status, 200);
        assert_eq!(body, json!({"result": []}));
        assert_eq!(headers["x-total-count"], "0");
    }
    assert_eq!(fx.result("api/now/v1/table/incident?sysparm_limit=3").await.len(), 3);

    // unknown instance
    let r = fx.get_url(&fx.url("initech", "api/now/table/incident")).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn records_look_like_servicenow() {
    let fx = Fixture::new().await;
    let truth = fx.sim.truth("acme");
    let now = "2025-01-15 12:00:00";
    let t = |name: &str| truth.tables[name].clone();
    assert_eq!(t("incident").len(), 400);
    assert_eq!(t("sys_user").len(), 6);
    assert_eq!(t("core_company").len(), 20);
    assert_eq!(t("customer_contact").len(), 60);
    assert_eq!(t("task_time_worked").len(), 800);
    assert!(t("sys_audit_delete").is_empty());

    let all_ids: HashMap<String, &str> = SN_TABLES
        .iter()
        .flat_map(|tb| truth.tables[*tb].iter().map(move |r| (field(r, "sys_id").to_string(), *tb)))
        .collect();
    for table in SN_TABLES {
        for r in &truth.tables[table] {
            let id = field(r, "sys_id");
            assert_eq!(id.len(), 32);
            assert!(id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            for (k, v) in r.as_object().unwrap() {
                match v {
                    Value::String(s) => {
                        if k.ends_with("_on") || k.ends_with("_at") {
                            assert!(s.is_empty() || is_datetime(s), "{table}.{k} = {s}");
                        }
                    }
                    Value::Object(o) => {
                        let value = o["value"].as_str().unwrap();
                        let target =
                            all_ids.get(value).unwrap_or_else(|| panic!("{table}.{k} dangles"));
                        assert_eq!(
                            o["link"],
                            format!("http://{}/acme/api/now/table/{target}/{value}", fx.addr),
                        );
                    }
                    other => panic!("{table}.{k} is {other}"),
                }
            }
            let (c, u) = (field(r, "sys_created_on"), field(r, "sys_updated_on"));
            assert!(c <= u && u <= now, "{table} {id}: {c} {u}");
        }
    }

    let mut numbers = BTreeSet::new();
    let matrix = |i: u8, u: u8| {
        (match i + u {
            2 => 1,
            3 => 2,
            4 => 3,
            5 => 4,
            _ => 5,
        })
        .to_string()
    };
    let mut states = BTreeMap::new();
    for r in &t("incident") {
        numbers.insert(field(r, "number").to_string());
        let state = field(r, "state");
        *states.entry(state.to_string()).or_insert(0) += 1;
        assert_eq!(field(r, "incident_state"), state);
        let (opened, resolved, closed) =
            (field(r, "opened_at"), field(r, "resolved_at"), field(r, "closed_at"));
        assert_eq!(field(r, "sys_created_on"), opened);
        match state {
            "7" => {
                assert!(
                    opened <= resolved
                        && resolved <= closed
                        && closed <= field(r, "sys_updated_on")
                );
                assert_eq!(field(r, "active"), "false");
            }
            "6" => {
                assert!(opened <= resolved && closed.is_empty());
                assert_eq!(field(r, "active"), "true");
            }
            "1" | "2" | "3" => {
                assert!(resolved.is_empty() && closed.is_empty());
                assert_eq!(field(r, "active"), "true");
            }
            other => panic!("state {other}"),
        }
        let (i, u) = (field(r, "impact").parse().unwrap(), field(r, "urgency").parse().unwrap());
        assert_eq!(field(r, "priority"), matrix(i, u));
        assert!(ref_value(r, "company").is_some());
        let caller = ref_value(r, "caller_id").unwrap();
        assert!(matches!(all_ids[&caller], "customer_contact" | "sys_user"));
        if state != "1" {
            assert_eq!(all_ids[&ref_value(r, "assigned_to").unwrap()], "sys_user");
        }
    }
    assert_eq!(numbers.len(), 400);
    assert_eq!(numbers.first().unwrap(), "INC0010001");
    assert_eq!(numbers.last().unwrap(), "INC0010400");
    assert!(states.len() >= 4, "{states:?}");
    assert!(states["7"] > 200, "{states:?}");

    for r in &t("task_time_worked") {
        let secs: i64 = field(r, "time_in_seconds").parse().unwrap();
        let d = field(r, "time_worked");
        assert_eq!(
            d,
            format!("1970-01-01 {:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
        );
        assert_eq!(field(r, "work_date").len(), 10);
        assert_eq!(all_ids[&ref_value(r, "task").unwrap()], "incident");
        assert_eq!(all_ids[&ref_value(r, "user").unwrap()], "sys_user");
        assert_eq!(r["time_card"], "");
    }
    for r in &t("customer_contact") {
        assert!(field(r, "email").contains('@'));
        assert_eq!(all_ids[&ref_value(r, "company").unwrap()], "core_company");
    }

    // a reference link is dereferenceable
    let inc = &t("incident")[0];
    let link = inc["company"]["link"].as_str().unwrap();
    let r = fx.get_url(link).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["result"]["sys_id"], inc["company"]["value"]);
}

#[tokio::test]
async fn paging_headers_and_links() {
    let fx = Fixture::new().await;
    let truth = fx.sim.truth("acme");
    let q = enc("active=false");
    let (status, headers, body) = fx
        .get(&format!(
            "api/now/table/incident?sysparm_query={q}&sysparm_limit=20&sysparm_offset=40"
        ))
        .await;
    assert_eq!(status, 200);
    let active = truth.tables["incident"].iter().filter(|r| r["active"] == "false").count();
    assert!(active > 60);
    assert_eq!(headers["x-total-count"], active.to_string());
    assert_eq!(body["result"].as_array().unwrap().len(), 20);
    let link = headers["link"].to_str().unwrap();
    let base =
        format!("http://{}/acme/api/now/table/incident?sysparm_query=active%3Dfalse", fx.addr);
    let last = (active - 1) / 20 * 20;
    assert_eq!(
        link,
        format!(
            "<{base}&sysparm_limit=20&sysparm_offset=0>;rel=\"first\",<{base}&sysparm_limit=20&sysparm_offset=20>;rel=\"prev\",<{base}&sysparm_limit=20&sysparm_offset=60>;rel=\"next\",<{base}&sysparm_limit=20&sysparm_offset={last}>;rel=\"last\""
        )
    );

    // first page: no prev; last page: no next
    let (_, headers, _) = fx.get("api/now/table/incident?sysparm_limit=100").await;
    let link = headers["link"].to_str().unwrap();
    assert!(link.contains("rel=\"next\"") && !link.contains("rel=\"prev\""));
    let (_, headers, body) =
        fx.get("api/now/table/incident?sysparm_limit=100&sysparm_offset=300").await;
    let link = headers["link"].to_str().unwrap();
    assert!(!link.contains("rel=\"next\"") && link.contains("rel=\"prev\""));
    assert_eq!(body["result"].as_array().unwrap().len(), 100);
    // past the end: empty page, total still counted
    let (status, headers, body) = fx.get("api/now/table/incident?sysparm_offset=5000").await;
    assert_eq!(status, 200);
    assert_eq!(body["result"], json!([]));
    assert_eq!(headers["x-total-count"], "400");

    // header switches
    let (_, headers, _) =
        fx.get("api/now/table/incident?sysparm_limit=5&sysparm_no_count=true&sysparm_suppress_pagination_header=true").await;
    assert!(headers.get("x-total-count").is_none());
    assert!(headers.get("link").is_none());

    // default limit is 10000: one page holds everything
    assert_eq!(fx.result("api/now/table/task_time_worked").await.len(), 800);

    // following next links reproduces the truth, in sys_id order
    for table in ["incident", "customer_contact", "task_time_worked"] {
        let paged = page_all(&fx, table, 37).await;
        assert_eq!(paged, truth.tables[table], "{table}");
        let mut sorted = ids(&paged);
        sorted.sort();
        assert_eq!(sorted, ids(&paged));
    }
}

#[tokio::test]
async fn encoded_queries() {
    let fx = Fixture::new().await;
    let truth = fx.sim.truth("acme");
    let incidents = &truth.tables["incident"];
    let expect = |pred: &dyn Fn(&Value) -> bool| -> Vec<String> {
        ids(&incidents.iter().filter(|r| pred(r)).cloned().collect::<Vec<_>>())
    };
    let query = |q: &str| {
        let q = enc(q);
        let fx = &fx;
        async move { ids(&fx.result(&format!("api/now/table/incident?sysparm_query={q}")).await) }
    };

    // ^OR binds tighter than ^
    let got = query("made_sla=true^priority=3^ORpriority=4").await;
    let want =
        expect(&|r| r["made_sla"] == "true" && (r["priority"] == "3" || r["priority"] == "4"));
    let other =
        expect(&|r| (r["made_sla"] == "true" && r["priority"] == "3") || r["priority"] == "4");
    assert!(!want.is_empty() && want != other);
    assert_eq!(got, want);
    // ^NQ ORs whole queries
    let got = query("state=7^priority=5^NQstate=6^impact=3").await;
    let want = expect(&|r| {
        (r["state"] == "7" && r["priority"] == "5") || (r["state"] == "6" && r["impact"] == "3")
    });
    assert!(!want.is_empty());
    assert_eq!(got, want);
    assert_eq!(query("stateIN1,3").await, expect(&|r| r["state"] == "1" || r["state"] == "3"));
    assert_eq!(query("stateNOT IN7,6").await, expect(&|r| r["state"] != "7" && r["state"] != "6"));
    assert_eq!(query("state!=7").await, expect(&|r| r["state"] != "7"));
    assert_eq!(query("priority<=2").await, expect(&|r| field(r, "priority") <= "2"));
    assert_eq!(query("resolved_atISEMPTY").await, expect(&|r| r["resolved_at"] == ""));
    assert_eq!(query("closed_atISNOTEMPTY").await, expect(&|r| r["closed_at"] != ""));
    let vpn = query("short_descriptionLIKEvpn").await;
    assert!(!vpn.is_empty());
    assert_eq!(vpn, expect(&|r| field(r, "short_description").to_lowercase().contains("vpn")));
    assert_eq!(
        query("short_descriptionNOTLIKEvpn").await,
        expect(&|r| !field(r, "short_description").to_lowercase().contains("vpn"))
    );
    assert_eq!(
        query("numberSTARTSWITHinc00101").await,
        expect(&|r| field(r, "number").starts_with("INC00101"))
    );
    assert_eq!(query("numberENDSWITH7").await, expect(&|r| field(r, "number").ends_with('7')));
    // references compare by sys_id
    let company = incidents[0]["company"]["value"].as_str().unwrap().to_string();
    assert_eq!(
        query(&format!("company={company}")).await,
        expect(&|r| r["company"]["value"] == company.as_str())
    );
    // dates, as literals and through gs.dateGenerate
    let cut = "2024-07-01 00:00:00";
    let want = expect(&|r| field(r, "opened_at") >= cut);
    assert!(!want.is_empty() && want.len() < incidents.len());
    assert_eq!(query(&format!("opened_at>={cut}")).await, want);
    assert_eq!(query("opened_at>=javascript:gs.dateGenerate('2024-07-01','00:00:00')").await, want);
    // invalid terms are ignored, not errors
    assert_eq!(query("no_such_field=1^state=7").await, expect(&|r| r["state"] == "7"));
    assert_eq!(query("company.name=Acme").await.len(), incidents.len());

    // ORDERBY / ORDERBYDESC, several keys, anywhere in the query
    let rows = fx
        .result(&format!(
            "api/now/table/incident?sysparm_query={}",
            enc("ORDERBYDESCpriority^active=true^ORDERBYnumber")
        ))
        .await;
    let keys: Vec<(String, String)> = rows
        .iter()
        .map(|r| (field(r, "priority").to_string(), field(r, "number").to_string()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    assert_eq!(keys, sorted);
    assert!(rows.iter().all(|r| r["active"] == "true"));
}

#[tokio::test]
async fn keyset_incremental_queries() {
    let fx = Fixture::new().await;
    let truth = fx.sim.truth("acme");
    let mut rows: Vec<(String, String)> = truth.tables["task_time_worked"]
        .iter()
        .map(|r| (field(r, "sys_updated_on").to_string(), field(r, "sys_id").to_string()))
        .collect();
    rows.sort();

    // a cursor in the middle
    let (ts, id) = rows[rows.len() / 2].clone();
    let q = format!(
        "sys_updated_on>{ts}^NQsys_updated_on={ts}^sys_id>{id}^ORDERBYsys_updated_on^ORDERBYsys_id"
    );
    let got: Vec<(String, String)> = fx
        .result(&format!("api/now/table/task_time_worked?sysparm_query={}", enc(&q)))
        .await
        .iter()
        .map(|r| (field(r, "sys_updated_on").to_string(), field(r, "sys_id").to_string()))
        .collect();
    assert_eq!(got, rows[rows.len() / 2 + 1..].to_vec());

    // a cursor on a timestamp shared by several records: make one by advancing with many
    // updates in one second
    let report = fx.sim.advance(
        "acme",
        Changes { duration: chrono::Duration::seconds(1), updates: 50, creates: 0, deletes: 0 },
    );
    let changed = &report.updated["task_time_worked"];
    assert!(changed.len() > 2);
    let stamp = "2025-01-15 12:00:01";
    let mut at_stamp: Vec<String> = changed.clone();
    at_stamp.sort();
    let q = format!(
        "sys_updated_on>{stamp}^NQsys_updated_on={stamp}^sys_id>{}^ORDERBYsys_updated_on^ORDERBYsys_id",
        at_stamp[0]
    );
    let got =
        ids(&fx.result(&format!("api/now/table/task_time_worked?sysparm_query={}", enc(&q))).await);
    assert_eq!(got, at_stamp[1..].to_vec());

    // a full keyset walk with small pages reaches every record exactly once
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<(String, String)> = None;
    loop {
        let q = match &cursor {
            None => "ORDERBYsys_updated_on^ORDERBYsys_id".to_string(),
            Some((ts, id)) => format!(
                "sys_updated_on>{ts}^NQsys_updated_on={ts}^sys_id>{id}^ORDERBYsys_updated_on^ORDERBYsys_id"
            ),
        };
        let page = fx
            .result(&format!(
                "api/now/table/task_time_worked?sysparm_limit=90&sysparm_query={}",
                enc(&q)
            ))
            .await;
        let Some(last) = page.last() else { break };
        cursor =
            Some((field(last, "sys_updated_on").to_string(), field(last, "sys_id").to_string()));
        seen.extend(ids(&page));
    }
    let mut all = ids(&fx.sim.truth("acme").tables["task_time_worked"]);
    let n = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), n, "duplicates in keyset walk");
    all.sort();
    assert_eq!(seen, all);
}

#[tokio::test]
async fn fields_and_display_values() {
    let fx = Fixture::new().await;
    let truth = fx.sim.truth("acme");
    let inc = truth.tables["incident"]
        .iter()
        .find(|r| r["state"] == "7" && all_contact(&truth, r))
        .unwrap()
        .clone();
    let id = field(&inc, "sys_id");
    let contact = truth.tables["customer_contact"]
        .iter()
        .find(|c| c["sys_id"] == inc["caller_id"]["value"])
        .unwrap();

    let one = |q: &str| {
        let fx = &fx;
        let path = format!("api/now/table/incident/{id}?{q}");
        async move {
            let (status, _, body) = fx.get(&path).await;
            assert_eq!(status, 200);
            body["result"].clone()
        }
    };
    // sysparm_fields: only known fields, in the order asked
    let r = one("sysparm_fields=number,caller_id,bogus,state").await;
    let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3);
    assert_eq!(r["number"], inc["number"]);
    // display_value=false + exclude_reference_link: plain sys_id
    let r = one("sysparm_fields=caller_id&sysparm_exclude_reference_link=true").await;
    assert_eq!(r["caller_id"], inc["caller_id"]["value"]);
    // display_value=true: labels and names
    let r = one("sysparm_display_value=true&sysparm_exclude_reference_link=true").await;
    assert_eq!(r["state"], "Closed");
    assert_eq!(r["caller_id"], contact["name"]);
    assert_eq!(r["opened_at"], inc["opened_at"]);
    let r = one("sysparm_display_value=true").await;
    assert_eq!(r["caller_id"]["display_value"], contact["name"]);
    assert_eq!(r["caller_id"]["link"], inc["caller_id"]["link"]);
    // display_value=all: every field is {display_value, value}
    let r = one("sysparm_display_value=all").await;
    for (k, v) in r.as_object().unwrap() {
        assert!(v["display_value"].is_string() && v["value"].is_string(), "{k}: {v}");
    }
    assert_eq!(r["state"], json!({"display_value": "Closed", "value": "7"}));
    assert_eq!(r["priority"]["value"], inc["priority"]);
    assert_eq!(r["caller_id"]["value"], inc["caller_id"]["value"]);
    assert_eq!(r["caller_id"]["display_value"], contact["name"]);
    assert_eq!(r["sys_id"], json!({"display_value": id, "value": id}));
    // lists honour the same parameters
    let rows =
        fx.result("api/now/table/incident?sysparm_fields=sys_id,number&sysparm_limit=3").await;
    assert!(rows.iter().all(|r| r.as_object().unwrap().len() == 2));
}

/// Every record carries every column of its table, as the Table API returns them: the
/// `sys_tags` system field everywhere, and on incidents the task fields the vendor's sample
/// record shows (empty references as "", dictionary defaults, and `calendar_stc` /
/// `business_stc` in seconds once resolved).
#[tokio::test]
async fn records_carry_every_dictionary_field() {
    let fx = Fixture::new().await;
    let secs = |s: &str| {
        chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap().and_utc().timestamp()
    };
    let check = |incidents: &[Value]| {
        let mut resolved = 0;
        for r in incidents {
            for (k, want) in [
                ("approval", "not requested"),
                ("escalation", "0"),
                ("notify", "1"),
                ("knowledge", "false"),
                ("sys_domain_path", "/"),
                ("sys_tags", ""),
            ] {
                assert_eq!(field(r, k), want, "{k}: {r}");
            }
            for k in [
                "assignment_group",
                "cmdb_ci",
                "location",
                "parent",
                "problem_id",
                "business_service",
                "watch_list",
                "work_notes",
                "comments",
                "correlation_id",
                "due_date",
                "upon_approval",
                "upon_reject",
                "order",
            ] {
                assert_eq!(field(r, k), "", "{k}: {r}");
            }
            if matches!(field(r, "state"), "6" | "7") {
                resolved += 1;
                let calendar = secs(field(r, "resolved_at")) - secs(field(r, "opened_at"));
                assert_eq!(field(r, "calendar_stc"), calendar.to_string(), "{r}");
                let business: i64 = field(r, "business_stc").parse().unwrap();
                assert!((0..=calendar).contains(&business), "{r}");
            } else {
                assert_eq!((field(r, "calendar_stc"), field(r, "business_stc")), ("", ""), "{r}");
            }
        }
        resolved
    };
    let incidents = page_all(&fx, "incident", 150).await;
    assert_eq!(incidents.len(), 400);
    assert!(check(&incidents) > 0);
    for table in SN_TABLES.iter().filter(|t| **t != "sys_audit_delete") {
        for r in fx.result(&format!("api/now/table/{table}")).await {
            assert_eq!(field(&r, "sys_tags"), "", "{table}: {r}");
        }
    }
    // choice labels in display values
    let id = field(&incidents[0], "sys_id");
    let (_, _, body) = fx
        .get(&format!(
            "api/now/table/incident/{id}?sysparm_display_value=true&sysparm_fields=approval,escalation,notify"
        ))
        .await;
    assert_eq!(
        body["result"],
        json!({"approval": "Not Yet Requested", "escalation": "Normal", "notify": "Do Not Notify"})
    );
    // filterable like any other column
    let rows = fx
        .result(&format!("api/now/table/incident?sysparm_query={}", enc("calendar_stcISNOTEMPTY")))
        .await;
    assert_eq!(
        rows.len(),
        incidents.iter().filter(|r| !field(r, "calendar_stc").is_empty()).count()
    );

    // records created, resolved and reopened by an advance keep it so; deletion-log rows too
    fx.sim.advance(
        "acme",
        Changes { duration: chrono::Duration::hours(6), updates: 150, creates: 40, deletes: 10 },
    );
    let truth = fx.sim.truth("acme");
    assert!(check(&truth.tables["incident"]) > 0);
    for (table, rows) in &truth.tables {
        assert!(rows.iter().all(|r| r["sys_tags"] == ""), "{table}");
    }
    assert!(!truth.tables["sys_audit_delete"].is_empty());
}

fn all_contact(truth: &Truth, r: &Value) -> bool {
    let caller = &r["caller_id"]["value"];
    truth.tables["customer_contact"].iter().any(|c| &c["sys_id"] == caller)
}

#[tokio::test]
async fn advance_updates_creates_and_deletes() {
    let fx = Fixture::new().await;
    let before = fx.sim.truth("acme");
    let report = fx.sim.advance(
        "acme",
        Changes { duration: chrono::Duration::hours(2), updates: 60, creates: 30, deletes: 12 },
    );
    assert_eq!(report.from, now());
    assert_eq!(report.to, now() + chrono::Duration::hours(2));
    assert_eq!(fx.sim.now("acme"), report.to);
    let (from, to) = ("2025-01-15 12:00:00", "2025-01-15 14:00:00");
    let after = fx.sim.truth("acme");

    let n = |m: &BTreeMap<String, Vec<String>>| m.values().map(Vec::len).sum::<usize>();
    assert_eq!(n(&report.updated), 60);
    let deleted_data: usize =
        report.deleted.iter().filter(|(t, _)| *t != "sys_audit_delete").map(|(_, v)| v.len()).sum();
    assert!(deleted_data >= 12, "{:?}", report.deleted);
    assert_eq!(report.created["sys_audit_delete"].len(), deleted_data);
    assert!(n(&report.created) - deleted_data >= 25);
    assert!(!report.updated["incident"].is_empty() && !report.created["incident"].is_empty());
    assert!(!report.deleted["incident"].is_empty());

    for table in SN_TABLES {
        let old: HashMap<String, &Value> =
            before.tables[table].iter().map(|r| (field(r, "sys_id").to_string(), r)).collect();
        let new: HashMap<String, &Value> =
            after.tables[table].iter().map(|r| (field(r, "sys_id").to_string(), r)).collect();
        for id in &report.updated[table] {
            let (o, r) = (old[id], new[id]);
            let u = field(r, "sys_updated_on");
            assert!(from < u && u <= to, "{table} {id} {u}");
            let mods: i64 = field(r, "sys_mod_count").parse().unwrap();
            assert_eq!(mods, field(o, "sys_mod_count").parse::<i64>().unwrap() + 1);
        }
        for id in &report.created[table] {
            assert!(!old.contains_key(id));
            let r = new[id];
            let (c, u) = (field(r, "sys_created_on"), field(r, "sys_updated_on"));
            assert!(from < c && c <= u && u <= to, "{table} {id} {c} {u}");
        }
        for id in &report.deleted[table] {
            assert!(old.contains_key(id) && !new.contains_key(id));
            let (status, _, _) = fx.get(&format!("api/now/table/{table}/{id}")).await;
            assert_eq!(status, 404);
        }
        // an incremental query returns exactly what changed
        let q = enc(&format!("sys_updated_on>{from}^ORDERBYsys_id"));
        let got: BTreeSet<String> =
            ids(&fx.result(&format!("api/now/table/{table}?sysparm_query={q}")).await)
                .into_iter()
                .collect();
        let want: BTreeSet<String> =
            report.updated[table].iter().chain(&report.created[table]).cloned().collect();
        assert_eq!(got, want, "{table}");
        // untouched records are unchanged
        for (id, r) in &new {
            if !report.updated[table].contains(id) && !report.created[table].contains(id) {
                assert_eq!(old[id], *r, "{table} {id}");
            }
        }
    }
    assert_eq!(
        after.deleted,
        report
            .deleted
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    );

    // every deletion is in sys_audit_delete
    let audit =
        fx.result("api/now/table/sys_audit_delete?sysparm_query=ORDERBYsys_created_on").await;
    assert_eq!(audit.len(), deleted_data);
    for (table, ids) in &report.deleted {
        for id in ids {
            let a = audit.iter().find(|a| a["documentkey"] == id.as_str()).unwrap();
            assert_eq!(a["tablename"], table.as_str());
            let c = field(a, "sys_created_on");
            assert!(from < c && c <= to);
            assert_eq!(a["sys_updated_on"], a["sys_created_on"]);
        }
    }
    // time rows of deleted incidents went with them
    let live: BTreeSet<&str> =
        after.tables["incident"].iter().map(|r| field(r, "sys_id")).collect();
    assert!(
        after.tables["task_time_worked"]
            .iter()
            .all(|r| live.contains(r["task"]["value"].as_str().unwrap()))
    );
    // new incidents continue the numbering
    let max =
        after.tables["incident"].iter().map(|r| field(r, "number").to_string()).max().unwrap();
    assert!(max.as_str() > "INC0010400");

    // the truth is what the API serves
    for table in SN_TABLES {
        assert_eq!(page_all(&fx, table, 150).await, after.tables[table], "{table}");
    }

    // the control route advances too
    let r = fx
        .http
        .post(format!("http://{}/_sim/advance", fx.addr))
        .json(&json!({"tenant": "acme", "duration": 60, "updates": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rep: Value = r.json().await.unwrap();
    assert_eq!(rep["to"], json!(report.to + chrono::Duration::seconds(60)));
}

#[tokio::test]
async fn deterministic_per_seed_and_logged() {
    let make = |seed| {
        let sim = ServiceNowSim::new();
        sim.add_tenant(SnTenantSpec::new("acme", seed, SnSizes::small(), now()));
        sim
    };
    let (a, b, c) = (make(3), make(3), make(4));
    assert_eq!(a.truth("acme"), b.truth("acme"));
    assert_ne!(a.truth("acme"), c.truth("acme"));
    let changes =
        Changes { duration: chrono::Duration::minutes(30), updates: 20, creates: 10, deletes: 5 };
    assert_eq!(a.advance("acme", changes.clone()), b.advance("acme", changes));
    assert_eq!(a.truth("acme"), b.truth("acme"));
    assert_eq!(
        SnTenantSpec::new("acme", 3, SnSizes::small(), now()),
        SnTenantSpec::new("acme", 3, SnSizes::small(), now())
    );
    assert_ne!(
        SnTenantSpec::new("acme", 3, SnSizes::small(), now()).password,
        SnTenantSpec::new("globex", 3, SnSizes::small(), now()).password
    );

    // request log
    let fx = Fixture::new().await;
    fx.get("api/now/table/incident?sysparm_limit=7").await;
    fx.get("api/now/table/nope").await;
    fx.http.get(format!("http://{}/_sim/tenants", fx.addr)).send().await.unwrap();
    let log = fx.sim.requests();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].tenant.as_deref(), Some("acme"));
    assert_eq!(log[0].path, "/acme/api/now/table/incident");
    assert_eq!(log[0].query, "sysparm_limit=7");
    assert_eq!((log[0].status, log[0].records), (200, 7));
    assert_eq!((log[1].status, log[1].records), (400, 0));
    let r: Value = fx
        .http
        .get(format!("http://{}/_sim/truth?tenant=globex", fx.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["tables"]["incident"].as_array().unwrap().len(), 30);
    let tenants: Value = fx
        .http
        .get(format!("http://{}/_sim/tenants", fx.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tenants[0]["instance"], "acme");
    assert_eq!(tenants[0]["password"], fx.acme.password.as_str());
    fx.sim.clear_requests();
    assert!(fx.sim.requests().is_empty());
}
