//! End-to-end tests of the Microsoft Graph simulator over real HTTP.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use avesa_sim::{Changes, GraphSim, GraphSizes, GraphTenantSpec};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-01-15T12:00:00Z").unwrap().to_utc()
}

fn sizes() -> GraphSizes {
    GraphSizes { users: 45, groups: 12 }
}

const USER_DEFAULT: [&str; 11] = [
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

fn changes(hours: i64, updates: usize, creates: usize, deletes: usize) -> Changes {
    Changes { duration: chrono::Duration::hours(hours), updates, creates, deletes }
}

struct Fixture {
    sim: GraphSim,
    acme: GraphTenantSpec,
    globex: GraphTenantSpec,
    addr: SocketAddr,
    http: reqwest::Client,
    _server: tokio::task::JoinHandle<()>,
}

impl Fixture {
    async fn new() -> Fixture {
        let sim = GraphSim::new();
        let acme = GraphTenantSpec::new("acme", 7, sizes(), now());
        let globex = GraphTenantSpec::new("globex", 8, GraphSizes::small(), now());
        sim.add_tenant(acme.clone());
        sim.add_tenant(globex.clone());
        let (addr, server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        Fixture { sim, acme, globex, addr, http: reqwest::Client::new(), _server: server }
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("http://{}/{}", self.addr, path_and_query.trim_start_matches('/'))
    }

    async fn token_request(&self, tenant: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let r =
            self.http.post(GraphSim::token_url(self.addr, tenant)).form(form).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    async fn token(&self, spec: &GraphTenantSpec) -> String {
        let (status, body) = self
            .token_request(
                &spec.domain,
                &[
                    ("client_id", &spec.client_id),
                    ("client_secret", &spec.client_secret),
                    ("scope", "https://graph.microsoft.com/.default"),
                    ("grant_type", "client_credentials"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    async fn get_with(
        &self,
        url: &str,
        token: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut b = self.http.get(url).bearer_auth(token);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.send().await.unwrap()
    }

    async fn json(&self, url: &str, token: &str) -> (u16, Value) {
        let r = self.get_with(url, token, &[]).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    /// Follows `@odata.nextLink`s from `url`; returns the objects, the page count and the
    /// last page.
    async fn all_pages(
        &self,
        url: &str,
        token: &str,
        headers: &[(&str, &str)],
    ) -> (Vec<Value>, usize, Value) {
        let mut url = url.to_string();
        let mut out = Vec::new();
        let mut pages = 0;
        loop {
            let r = self.get_with(&url, token, headers).await;
            assert_eq!(r.status(), 200, "{url}");
            let page: Value = r.json().await.unwrap();
            out.extend(page["value"].as_array().unwrap().iter().cloned());
            pages += 1;
            assert!(pages < 1000);
            match page["@odata.nextLink"].as_str() {
                Some(next) => {
                    assert!(next.starts_with(&format!("http://{}/v1.0/", self.addr)), "{next}");
                    url = next.to_string();
                }
                None => return (out, pages, page),
            }
        }
    }
}

fn ids(values: &[Value]) -> Vec<String> {
    values.iter().map(|v| v["id"].as_str().unwrap().to_string()).collect()
}

fn project(obj: &Value, keys: &[&str]) -> Value {
    Value::Object(keys.iter().map(|k| (k.to_string(), obj[*k].clone())).collect())
}

fn keys(obj: &Value) -> BTreeSet<String> {
    obj.as_object().unwrap().keys().cloned().collect()
}

fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit() && !b.is_ascii_uppercase()
            }
        })
}

#[tokio::test]
async fn discovery_and_client_credentials() {
    let f = Fixture::new().await;
    let spec = &f.acme;
    assert!(is_guid(&spec.tenant_id) && is_guid(&spec.client_id));
    assert_eq!(spec.domain, "acme.onmicrosoft.com");
    assert_eq!(spec, &GraphTenantSpec::new("acme", 7, sizes(), now()), "derived deterministically");

    for tenant in [spec.tenant_id.as_str(), "ACME.onmicrosoft.com"] {
        let r = f
            .http
            .get(f.url(&format!("{tenant}/v2.0/.well-known/openid-configuration")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let doc: Value = r.json().await.unwrap();
        // Microsoft's authority, never the address that served the document.
        let login = format!("https://login.microsoftonline.com/{}", spec.tenant_id);
        assert_eq!(doc["token_endpoint"], json!(format!("{login}/oauth2/v2.0/token")));
        assert_eq!(doc["authorization_endpoint"], json!(format!("{login}/oauth2/v2.0/authorize")));
        assert_eq!(doc["issuer"], json!(format!("{login}/v2.0")));
    }
    let r = f
        .http
        .get(f.url("nope.onmicrosoft.com/v2.0/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS90002: Tenant 'nope.onmicrosoft.com' not found")
    );

    // Success, by tenant id and by domain.
    let form = |secret: &'static str, scope: &'static str| {
        vec![
            ("client_id", spec.client_id.clone()),
            (
                "client_secret",
                if secret.is_empty() { spec.client_secret.clone() } else { secret.to_string() },
            ),
            ("scope", scope.to_string()),
            ("grant_type", "client_credentials".to_string()),
        ]
    };
    let ok = form("", "https://graph.microsoft.com/.default");
    let ok: Vec<(&str, &str)> = ok.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = f.token_request(&spec.tenant_id, &ok).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 3, "JWT-shaped");

    // Wrong secret.
    let bad = form("not-the-secret", "https://graph.microsoft.com/.default");
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = f.token_request(&spec.domain, &bad).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"], json!([7000215]));
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215: Invalid client secret provided.")
    );
    // Another tenant's secret is wrong here too, and another tenant's client is unknown.
    let cross = [
        ("client_id", f.acme.client_id.as_str()),
        ("client_secret", f.globex.client_secret.as_str()),
        ("scope", "https://graph.microsoft.com/.default"),
        ("grant_type", "client_credentials"),
    ];
    assert_eq!(f.token_request(&spec.domain, &cross).await.0, 401);
    let (status, body) = f.token_request(&f.globex.domain, &cross).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")));

    // Unknown tenant, missing scope, wrong scope, wrong grant.
    let (status, body) = f.token_request("00000000-0000-0000-0000-000000000000", &ok).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS90002: Tenant '00000000-0000-0000-0000-000000000000' not found")
    );
    let no_scope: Vec<(&str, &str)> = ok.iter().filter(|(k, _)| *k != "scope").cloned().collect();
    let (status, body) = f.token_request(&spec.domain, &no_scope).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));
    let wrong = form("", "User.Read");
    let wrong: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(f.token_request(&spec.domain, &wrong).await.1["error"], "invalid_scope");
    let mut pw = ok.clone();
    pw[3] = ("grant_type", "password");
    assert_eq!(f.token_request(&spec.domain, &pw).await.1["error"], "unsupported_grant_type");
    // client_secret_basic works as well.
    let r = f
        .http
        .post(GraphSim::token_url(f.addr, &spec.domain))
        .basic_auth(&spec.client_id, Some(&spec.client_secret))
        .form(&[
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Every login request is logged under the tenant id.
    let log = f.sim.requests();
    assert!(log.iter().any(|r| r.path.ends_with("/oauth2/v2.0/token")
        && r.status == 401
        && r.tenant.as_deref() == Some(spec.tenant_id.as_str())));
    assert!(
        log.iter().any(|r| r.path.ends_with("/oauth2/v2.0/token")
            && r.status == 400
            && r.tenant.is_none())
    );
    assert!(log.iter().filter(|r| r.path.ends_with("openid-configuration")).count() >= 3);
}

/// The v2.0 discovery document is Microsoft's, field for field, for the tenant asked for (by
/// id or by domain, either way answered with the tenant id), whatever host served it.
#[tokio::test]
async fn discovery_document_is_microsofts() {
    let f = Fixture::new().await;
    for spec in [&f.acme, &f.globex] {
        for tenant in [spec.tenant_id.clone(), spec.domain.to_uppercase()] {
            let r = f
                .http
                .get(f.url(&format!("{tenant}/v2.0/.well-known/openid-configuration")))
                .header("host", "login.example.test:8443")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{tenant}");
            let doc: Value = r.json().await.unwrap();
            let login = format!("https://login.microsoftonline.com/{}", spec.tenant_id);
            let want = [
                ("issuer", format!("{login}/v2.0")),
                ("token_endpoint", format!("{login}/oauth2/v2.0/token")),
                ("authorization_endpoint", format!("{login}/oauth2/v2.0/authorize")),
                ("device_authorization_endpoint", format!("{login}/oauth2/v2.0/devicecode")),
                ("end_session_endpoint", format!("{login}/oauth2/v2.0/logout")),
                ("jwks_uri", format!("{login}/discovery/v2.0/keys")),
                ("kerberos_endpoint", format!("{login}/kerberos")),
                ("userinfo_endpoint", "https://graph.microsoft.com/oidc/userinfo".to_string()),
                ("cloud_instance_name", "microsoftonline.com".to_string()),
                ("cloud_graph_host_name", "graph.windows.net".to_string()),
                ("msgraph_host", "graph.microsoft.com".to_string()),
                ("rbac_url", "https://pas.windows.net".to_string()),
                ("tenant_region_scope", "NA".to_string()),
            ];
            for (key, value) in &want {
                assert_eq!(doc[*key], json!(value), "{tenant}: {key}");
            }
            // No URL anywhere in the document names the simulator or plain http.
            let text = doc.to_string();
            assert!(!text.contains("http://"), "{text}");
            assert!(!text.contains(&f.addr.to_string()) && !text.contains("example.test"));
            let list = |k: &str| -> Vec<&str> {
                doc[k]
                    .as_array()
                    .unwrap_or_else(|| panic!("{k}"))
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect()
            };
            assert_eq!(
                list("token_endpoint_auth_methods_supported"),
                ["client_secret_post", "private_key_jwt", "client_secret_basic"]
            );
            assert_eq!(list("response_modes_supported"), ["query", "fragment", "form_post"]);
            assert_eq!(list("subject_types_supported"), ["pairwise"]);
            assert_eq!(list("id_token_signing_alg_values_supported"), ["RS256"]);
            assert_eq!(
                list("response_types_supported"),
                ["code", "id_token", "code id_token", "id_token token"]
            );
            assert_eq!(list("scopes_supported"), ["openid", "profile", "email", "offline_access"]);
            let claims = list("claims_supported");
            for c in ["sub", "iss", "aud", "tid", "ver", "cloud_instance_name", "msgraph_host"] {
                assert!(claims.contains(&c), "{c}");
            }
            assert_eq!(doc["request_uri_parameter_supported"], false);
            assert_eq!(doc["http_logout_supported"], true);
            assert_eq!(doc["frontchannel_logout_supported"], true);
        }
    }

    // The access token names the same tenant as the document, with the v1.0 issuer Graph
    // tokens carry.
    let token = f.token(&f.acme).await;
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["iss"], json!(format!("https://sts.windows.net/{}/", f.acme.tenant_id)));
    assert_eq!(claims["tid"], json!(f.acme.tenant_id));
    assert_eq!(claims["aud"], "https://graph.microsoft.com");
}

#[tokio::test]
async fn bearer_tokens_select_the_tenant_and_expire() {
    let f = Fixture::new().await;
    let acme = f.token(&f.acme).await;
    let globex = f.token(&f.globex).await;
    let (s, a) = f.json(&f.url("v1.0/users?$top=999"), &acme).await;
    assert_eq!(s, 200);
    let (_, g) = f.json(&f.url("v1.0/users?$top=999"), &globex).await;
    assert_eq!(a["value"].as_array().unwrap().len(), 45);
    assert_eq!(g["value"].as_array().unwrap().len(), 30);
    assert!(a["value"][0]["userPrincipalName"].as_str().unwrap().contains("acme.onmicrosoft.com"));
    // One tenant's object is not found with another tenant's token.
    let id = a["value"][0]["id"].as_str().unwrap();
    assert_eq!(f.json(&f.url(&format!("v1.0/users/{id}")), &globex).await.0, 404);

    // Missing and damaged tokens.
    let r = f
        .http
        .get(f.url("v1.0/users"))
        .header("client-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    let inner = &body["error"]["innerError"];
    assert_eq!(inner["client-request-id"], "abc-123");
    assert!(is_guid(inner["request-id"].as_str().unwrap()));
    let date = inner["date"].as_str().unwrap();
    assert!(chrono::NaiveDateTime::parse_from_str(date, "%Y-%m-%dT%H:%M:%S").is_ok(), "{date}");
    let mut damaged = acme.clone();
    damaged.insert(damaged.len() / 2, 'x');
    let (s, body) = f.json(&f.url("v1.0/users"), &damaged).await;
    assert_eq!((s, body["error"]["code"].as_str()), (401, Some("InvalidAuthenticationToken")));

    // expire_tokens (and its control route) invalidate every issued token.
    f.sim.expire_tokens();
    let (s, body) = f.json(&f.url("v1.0/users"), &acme).await;
    assert_eq!(s, 401);
    assert_eq!(body["error"]["message"], "Access token has expired or is not yet valid.");
    let fresh = f.token(&f.acme).await;
    assert_eq!(f.json(&f.url("v1.0/users"), &fresh).await.0, 200);
    let r = f.http.post(f.url("_sim/expire_tokens")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(f.json(&f.url("v1.0/users"), &fresh).await.0, 401);

    // API requests are logged with the tenant id; control routes are not logged.
    let log = f.sim.requests();
    assert!(log.iter().any(|r| r.path == "/v1.0/users"
        && r.status == 200
        && r.records == 45
        && r.tenant.as_deref() == Some(f.acme.tenant_id.as_str())));
    assert!(log.iter().all(|r| !r.path.starts_with("/_sim")));
}

#[tokio::test]
async fn lists_page_select_and_count() {
    let f = Fixture::new().await;
    let token = f.token(&f.acme).await;
    let truth = f.sim.truth(&f.acme.domain);
    let users = &truth.tables["users"];
    assert_eq!(users.len(), 45);

    // Default page and property set.
    let r = f.get_with(&f.url("v1.0/users"), &token, &[]).await;
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/json"), "{ct}");
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["@odata.context"], json!(format!("http://{}/v1.0/$metadata#users", f.addr)));
    assert!(page.get("@odata.nextLink").is_none());
    let first = &page["value"][0];
    assert_eq!(keys(first), USER_DEFAULT.iter().map(|s| s.to_string()).collect());
    assert_eq!(first, &project(&users[0], &USER_DEFAULT));

    // $top pages, nextLink keeps $top and carries $skiptoken, all pages = truth (id order).
    let url = f.url("v1.0/users?$top=7&$select=id,displayName,mail,accountEnabled,createdDateTime");
    let (all, pages, _) = f.all_pages(&url, &token, &[]).await;
    assert_eq!(pages, 7);
    let sel = ["id", "displayName", "mail", "accountEnabled", "createdDateTime"];
    let expected: Vec<Value> = users.iter().map(|u| project(u, &sel)).collect();
    assert_eq!(all, expected);
    let (_, p1) = f.json(&url, &token).await;
    let next = p1["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("http://{}/v1.0/users?$top=7&", f.addr))
            && next.contains("$skiptoken="),
        "{next}"
    );
    assert_eq!(
        p1["@odata.context"],
        json!(format!(
            "http://{}/v1.0/$metadata#users(id,accountEnabled,createdDateTime,displayName,mail)",
            f.addr
        ))
    );
    assert!(DateTime::parse_from_rfc3339(all[0]["createdDateTime"].as_str().unwrap()).is_ok());
    assert!(all[0]["createdDateTime"].as_str().unwrap().ends_with('Z'));

    // Every property: what the truth holds.
    let every = "id,accountEnabled,businessPhones,companyName,createdDateTime,department,displayName,employeeId,givenName,jobTitle,mail,mobilePhone,officeLocation,preferredLanguage,surname,usageLocation,userPrincipalName,userType";
    let (all, _, _) =
        f.all_pages(&f.url(&format!("v1.0/users?$top=999&$select={every}")), &token, &[]).await;
    assert_eq!(&all, users);
    assert!(users.iter().any(|u| u["userType"] == "Guest") || users.len() < 20);
    assert!(users.iter().all(|u| u["businessPhones"].is_array()));

    // Groups: no $select gives every property.
    let (groups, _, _) = f.all_pages(&f.url("v1.0/groups?$top=5"), &token, &[]).await;
    assert_eq!(groups, truth.tables["groups"]);

    // Page-size limits.
    for (top, shown) in [("1000", "1000"), ("0", "0"), ("ten", "ten")] {
        let (s, body) = f.json(&f.url(&format!("v1.0/users?$top={top}")), &token).await;
        assert_eq!(s, 400);
        assert_eq!(
            body["error"]["message"],
            json!(format!(
                "Invalid page size specified: '{shown}'. Must be between 1 and 999 inclusive."
            ))
        );
    }
    let (s, body) = f.json(&f.url("v1.0/users?$select=displayName,shoeSize"), &token).await;
    assert_eq!(s, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("'shoeSize'"));
    let (s, _) = f.json(&f.url("v1.0/users?$skiptoken=garbage"), &token).await;
    assert_eq!(s, 400);
    let (s, _) = f.json(&f.url("v1.0/users?$skip=10"), &token).await;
    assert_eq!(s, 400);
    let (s, body) = f.json(&f.url("v1.0/contacts"), &token).await;
    assert_eq!((s, body["error"]["code"].as_str()), (400, Some("BadRequest")));

    // $count needs ConsistencyLevel: eventual.
    let (s, body) = f.json(&f.url("v1.0/users?$count=true&$top=5"), &token).await;
    assert_eq!((s, body["error"]["code"].as_str()), (400, Some("Request_UnsupportedQuery")));
    let r = f
        .get_with(
            &f.url("v1.0/users?$count=true&$top=5"),
            &token,
            &[("ConsistencyLevel", "eventual")],
        )
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["@odata.count"], 45);
    assert_eq!(body["value"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn single_objects_and_not_found() {
    let f = Fixture::new().await;
    let token = f.token(&f.acme).await;
    let truth = f.sim.truth(&f.acme.tenant_id);
    let user = &truth.tables["users"][3];
    let id = user["id"].as_str().unwrap();
    let (s, body) = f.json(&f.url(&format!("v1.0/users/{id}")), &token).await;
    assert_eq!(s, 200);
    assert_eq!(
        body["@odata.context"],
        json!(format!("http://{}/v1.0/$metadata#users/$entity", f.addr))
    );
    let mut expected = project(user, &USER_DEFAULT);
    expected["@odata.context"] = body["@odata.context"].clone();
    assert_eq!(body, expected);
    let upn = user["userPrincipalName"].as_str().unwrap();
    let (s, body) = f.json(&f.url(&format!("v1.0/users/{upn}?$select=department")), &token).await;
    assert_eq!(s, 200);
    assert_eq!(body["department"], user["department"]);
    assert!(body.get("displayName").is_none());

    let group = &truth.tables["groups"][0];
    let gid = group["id"].as_str().unwrap();
    let (s, body) = f.json(&f.url(&format!("v1.0/groups/{gid}")), &token).await;
    assert_eq!(s, 200);
    assert_eq!(body["displayName"], group["displayName"]);

    let missing = "11111111-2222-4333-8444-555555555555";
    let (s, body) = f.json(&f.url(&format!("v1.0/users/{missing}")), &token).await;
    assert_eq!(s, 404);
    assert_eq!(body["error"]["code"], "Request_ResourceNotFound");
    assert_eq!(
        body["error"]["message"],
        json!(format!(
            "Resource '{missing}' does not exist or one of its queried reference-property objects are not present."
        ))
    );
    assert!(body["error"]["innerError"]["request-id"].is_string());
    assert_eq!(f.json(&f.url(&format!("v1.0/groups/{missing}")), &token).await.0, 404);
    assert_eq!(f.json(&f.url("v1.0/groups/not-a-guid"), &token).await.0, 400);
}

/// Runs a delta round from `url` to its deltaLink; returns the objects and the deltaLink.
async fn delta_round(
    f: &Fixture,
    url: &str,
    token: &str,
    headers: &[(&str, &str)],
) -> (Vec<Value>, usize, String) {
    let (objs, pages, last) = f.all_pages(url, token, headers).await;
    let link = last["@odata.deltaLink"].as_str().expect("last page has a deltaLink").to_string();
    assert!(
        link.starts_with(&format!("http://{}/v1.0/", f.addr))
            && link.contains("/delta?$deltatoken="),
        "{link}"
    );
    (objs, pages, link)
}

#[tokio::test]
async fn delta_full_sync_then_changes_and_removals() {
    let f = Fixture::new().await;
    let token = f.token(&f.acme).await;
    let tenant = f.acme.tenant_id.clone();

    // Full round in pages of 10 (Prefer header), with and without parentheses.
    let r = f
        .get_with(&f.url("v1.0/users/delta()"), &token, &[("Prefer", "odata.maxpagesize=10")])
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["preference-applied"], "odata.maxpagesize=10");
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["value"].as_array().unwrap().len(), 10);
    assert!(first["@odata.nextLink"].as_str().unwrap().contains("/v1.0/users/delta?$skiptoken="));
    assert!(first.get("@odata.deltaLink").is_none());
    let (users, pages, user_link) =
        delta_round(&f, &f.url("v1.0/users/delta"), &token, &[("Prefer", "odata.maxpagesize=10")])
            .await;
    assert_eq!(pages, 5);
    let truth = f.sim.truth(&tenant);
    let mut got: Vec<Value> = users.clone();
    got.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    let expected: Vec<Value> =
        truth.tables["users"].iter().map(|u| project(u, &USER_DEFAULT)).collect();
    assert_eq!(got, expected);
    // Default page size is 100: one page.
    let (groups, pages, group_link) =
        delta_round(&f, &f.url("v1.0/groups/delta"), &token, &[]).await;
    assert_eq!((groups.len(), pages), (12, 1));

    // Nothing changed: empty page with a new deltaLink.
    let (none, _, user_link2) = delta_round(&f, &user_link, &token, &[]).await;
    assert!(none.is_empty());

    let report = f.sim.advance(&tenant, changes(3, 12, 6, 4));
    for t in ["users", "groups"] {
        assert!(
            report.updated.contains_key(t)
                && report.created.contains_key(t)
                && report.deleted.contains_key(t)
        );
    }
    assert_eq!(report.to - report.from, chrono::Duration::hours(3));
    let total: usize = ["users", "groups"]
        .iter()
        .map(|t| report.updated[*t].len() + report.created[*t].len() + report.deleted[*t].len())
        .sum();
    assert_eq!(total, 22);
    assert!(!report.updated["groups"].is_empty() && !report.deleted["groups"].is_empty());
    let truth = f.sim.truth(&tenant);

    for (kind, link) in [("users", &user_link2), ("groups", &group_link)] {
        let (objs, _, _) = delta_round(&f, link, &token, &[]).await;
        let got: BTreeSet<String> = ids(&objs).into_iter().collect();
        let want: BTreeSet<String> = report.updated[kind]
            .iter()
            .chain(&report.created[kind])
            .chain(&report.deleted[kind])
            .cloned()
            .collect();
        assert_eq!(got, want, "{kind}");
        let by_id: BTreeMap<&str, &Value> =
            truth.tables[kind].iter().map(|v| (v["id"].as_str().unwrap(), v)).collect();
        for o in &objs {
            let id = o["id"].as_str().unwrap();
            if report.deleted[kind].iter().any(|d| d == id) {
                let reason = if kind == "users" { "changed" } else { "deleted" };
                assert_eq!(o, &json!({"id": id, "@removed": {"reason": reason}}));
                assert!(!by_id.contains_key(id));
                assert!(truth.deleted[kind].iter().any(|d| d == id));
            } else {
                let live = by_id[id];
                let props: Vec<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
                assert_eq!(o, &project(live, &props), "a changed object comes back whole");
            }
        }
    }
    // The old (pre-change) link still answers: it is a position, not a one-shot.
    let (again, _, _) = delta_round(&f, &user_link, &token, &[]).await;
    assert_eq!(
        again.len(),
        report.updated["users"].len()
            + report.created["users"].len()
            + report.deleted["users"].len()
    );

    // Deleted objects are gone from lists and single gets.
    let gone = &report.deleted["users"][0];
    assert_eq!(f.json(&f.url(&format!("v1.0/users/{gone}")), &token).await.0, 404);
    let (list, _, _) = f.all_pages(&f.url("v1.0/users?$top=999"), &token, &[]).await;
    assert_eq!(list.len(), truth.tables["users"].len());
    assert!(!ids(&list).contains(gone));
    // A fresh full round does not report removals.
    let (full, _, _) = delta_round(&f, &f.url("v1.0/users/delta"), &token, &[]).await;
    assert_eq!(full.len(), truth.tables["users"].len());
    assert!(full.iter().all(|o| o.get("@removed").is_none()));
}

#[tokio::test]
async fn delta_select_is_fixed_by_the_first_call() {
    let f = Fixture::new().await;
    let token = f.token(&f.acme).await;
    let url = f.url("v1.0/users/delta?$select=displayName,jobTitle");
    let (_, p) = f.json(&url, &token).await;
    assert_eq!(
        p["@odata.context"],
        json!(format!("http://{}/v1.0/$metadata#users(displayName,jobTitle)", f.addr))
    );
    let (objs, _, link) = delta_round(&f, &url, &token, &[]).await;
    assert_eq!(objs.len(), 45);
    let want: BTreeSet<String> =
        ["id", "displayName", "jobTitle"].iter().map(|s| s.to_string()).collect();
    assert!(objs.iter().all(|o| keys(o) == want));
    let report = f.sim.advance(&f.acme.domain, changes(1, 6, 0, 0));
    assert!(!report.updated["users"].is_empty());
    // $select on a deltaLink call is ignored: the token carries the first call's.
    let (objs, _, _) = delta_round(&f, &format!("{link}&$select=mail"), &token, &[]).await;
    assert_eq!(ids(&objs).len(), report.updated["users"].len());
    assert!(objs.iter().all(|o| keys(o) == want));

    // Unsupported options on delta.
    for q in ["$top=5", "$orderby=displayName", "$expand=manager"] {
        let (s, _) = f.json(&f.url(&format!("v1.0/users/delta?{q}")), &token).await;
        assert_eq!(s, 400, "{q}");
    }
    // Damaged tokens, and tokens of another tenant or entity.
    let (s, _) = f.json(&f.url("v1.0/users/delta?$deltatoken=abc"), &token).await;
    assert_eq!(s, 400);
    let tok = link.split("$deltatoken=").nth(1).unwrap();
    assert_eq!(
        f.json(&f.url(&format!("v1.0/groups/delta?$deltatoken={tok}")), &token).await.0,
        400
    );
    let other = f.token(&f.globex).await;
    assert_eq!(f.json(&link, &other).await.0, 400);
    assert_eq!(f.json(&link, &token).await.0, 200);
}

#[tokio::test]
async fn delta_tokens_expire_after_seven_simulated_days() {
    let f = Fixture::new().await;
    let token = f.token(&f.acme).await;
    let tenant = f.acme.tenant_id.clone();

    // $deltatoken=latest: no data, just a link from now.
    let (s, latest) = f.json(&f.url("v1.0/groups/delta?$deltatoken=latest"), &token).await;
    assert_eq!(s, 200);
    assert_eq!(latest["value"], json!([]));
    let latest_link = latest["@odata.deltaLink"].as_str().unwrap().to_string();
    let (_, _, link) =
        delta_round(&f, &f.url("v1.0/users/delta?$select=displayName"), &token, &[]).await;

    let report = f.sim.advance(&tenant, changes(24 * 6, 0, 3, 0));
    let (objs, _, _) = delta_round(&f, &latest_link, &token, &[]).await;
    assert_eq!(
        ids(&objs).into_iter().collect::<BTreeSet<_>>(),
        report.created["groups"].iter().cloned().collect()
    );
    let (_, _, fresh_link) = delta_round(&f, &link, &token, &[]).await;

    // 8 days after issue: 410 Gone with a Location to restart from.
    f.sim.advance(&tenant, changes(24 * 2, 0, 0, 0));
    let r = f.get_with(&link, &token, &[]).await;
    assert_eq!(r.status(), 410);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(location, format!("http://{}/v1.0/users/delta?$select=displayName", f.addr));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "syncStateNotFound");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("The sync state generated by the delta token is expired or not found")
    );
    assert!(body["error"]["innerError"]["date"].is_string());
    // A link issued 2 days ago still works; the Location URL starts a new full round.
    assert_eq!(f.get_with(&fresh_link, &token, &[]).await.status(), 200);
    let (objs, _, _) = delta_round(&f, &location, &token, &[]).await;
    assert_eq!(objs.len(), f.sim.truth(&tenant).tables["users"].len());

    // expire_delta_tokens: every token issued so far, skiptokens included.
    let (_, page) = {
        let r = f
            .get_with(&f.url("v1.0/users/delta"), &token, &[("Prefer", "odata.maxpagesize=5")])
            .await;
        (200, r.json::<Value>().await.unwrap())
    };
    let skip_link = page["@odata.nextLink"].as_str().unwrap().to_string();
    let r = f.http.post(f.url("_sim/expire_delta_tokens")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(f.get_with(&fresh_link, &token, &[]).await.status(), 410);
    assert_eq!(f.get_with(&skip_link, &token, &[]).await.status(), 410);
    // New rounds work again.
    let (objs, _, link) = delta_round(&f, &f.url("v1.0/users/delta"), &token, &[]).await;
    assert!(!objs.is_empty());
    f.sim.expire_delta_tokens();
    assert_eq!(f.get_with(&link, &token, &[]).await.status(), 410);
}

#[tokio::test]
async fn changes_during_a_delta_round_are_not_lost() {
    let f = Fixture::new().await;
    let token = f.token(&f.acme).await;
    let tenant = f.acme.tenant_id.clone();
    let prefer = [("Prefer", "odata.maxpagesize=8")];
    let (_, p1) = {
        let r = f
            .get_with(
                &f.url(
                    "v1.0/users/delta?$select=jobTitle,department,displayName,mobilePhone,surname",
                ),
                &token,
                &prefer,
            )
            .await;
        (200, r.json::<Value>().await.unwrap())
    };
    let mut seen: BTreeMap<String, Value> = BTreeMap::new();
    for o in p1["value"].as_array().unwrap() {
        seen.insert(o["id"].as_str().unwrap().to_string(), o.clone());
    }
    // Change things mid-round, then finish the round and apply the next one.
    let report = f.sim.advance(&tenant, changes(1, 20, 5, 3));
    let (rest, _, link) =
        delta_round(&f, p1["@odata.nextLink"].as_str().unwrap(), &token, &prefer).await;
    let apply = |seen: &mut BTreeMap<String, Value>, objs: &[Value]| {
        for o in objs {
            let id = o["id"].as_str().unwrap().to_string();
            if o.get("@removed").is_some() {
                seen.remove(&id);
            } else {
                seen.insert(id, o.clone());
            }
        }
    };
    apply(&mut seen, &rest);
    let (next, _, _) = delta_round(&f, &link, &token, &[]).await;
    apply(&mut seen, &next);
    let truth = f.sim.truth(&tenant);
    let props = ["id", "department", "displayName", "jobTitle", "mobilePhone", "surname"];
    let expected: BTreeMap<String, Value> = truth.tables["users"]
        .iter()
        .map(|u| (u["id"].as_str().unwrap().to_string(), project(u, &props)))
        .collect();
    assert_eq!(seen, expected, "replaying delta rounds reproduces the truth");
    assert!(!report.deleted["users"].is_empty());
}

#[tokio::test]
async fn control_routes_and_determinism() {
    let f = Fixture::new().await;
    let r = f.http.get(f.url("_sim/tenants")).send().await.unwrap();
    let tenants: Vec<Value> = r.json().await.unwrap();
    assert_eq!(tenants.len(), 2);
    let acme = tenants.iter().find(|t| t["domain"] == "acme.onmicrosoft.com").unwrap();
    assert_eq!(acme["client_secret"], json!(f.acme.client_secret));
    assert_eq!(acme["counts"], json!({"users": 45, "groups": 12}));

    let r = f
        .http
        .post(f.url("_sim/advance"))
        .json(&json!({"tenant": f.acme.domain, "duration": 7200, "updates": 5, "creates": 3, "deletes": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    let created = report["created"]["users"].as_array().unwrap().len()
        + report["created"]["groups"].as_array().unwrap().len();
    assert_eq!(created, 3);
    assert_eq!(f.sim.now(&f.acme.tenant_id), now() + chrono::Duration::hours(2));
    assert_eq!(f.sim.now(&f.globex.tenant_id), now());
    let r =
        f.http.get(f.url(&format!("_sim/truth?tenant={}", f.acme.tenant_id))).send().await.unwrap();
    let truth: Value = r.json().await.unwrap();
    assert_eq!(truth, serde_json::to_value(f.sim.truth(&f.acme.tenant_id)).unwrap());
    assert_eq!(
        truth["tables"]["users"].as_array().unwrap().len()
            + truth["tables"]["groups"].as_array().unwrap().len(),
        57 + 3 - 2
    );
    let deleted = truth["deleted"]["users"].as_array().unwrap().len()
        + truth["deleted"]["groups"].as_array().unwrap().len();
    assert_eq!(deleted, 2);
    assert_eq!(f.http.get(f.url("_sim/truth?tenant=nope")).send().await.unwrap().status(), 404);

    let token = f.token(&f.acme).await;
    f.json(&f.url("v1.0/groups"), &token).await;
    assert!(!f.sim.requests().is_empty());
    let r = f.http.delete(f.url("_sim/requests")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(f.sim.requests().is_empty());

    // Same spec → same data and the same changes; another seed → other data.
    let a = GraphSim::new();
    let b = GraphSim::new();
    let spec = GraphTenantSpec::new("contoso", 99, GraphSizes::demo(), now());
    a.add_tenant(spec.clone());
    b.add_tenant(spec.clone());
    assert_eq!(a.truth("contoso.onmicrosoft.com"), b.truth(&spec.tenant_id));
    assert_eq!(
        a.advance(&spec.tenant_id, changes(5, 30, 10, 5)),
        b.advance(&spec.tenant_id, changes(5, 30, 10, 5))
    );
    assert_eq!(a.truth(&spec.tenant_id), b.truth(&spec.tenant_id));
    let t = a.truth(&spec.tenant_id);
    assert_eq!(t.tables["users"].len() + t.tables["groups"].len(), 460 + 10 - 5);
    let c = GraphSim::new();
    c.add_tenant(GraphTenantSpec::new("contoso", 100, GraphSizes::demo(), now()));
    let other = GraphTenantSpec::new("contoso", 100, GraphSizes::demo(), now());
    assert_ne!(other.tenant_id, spec.tenant_id);
    assert_ne!(
        c.truth(&other.tenant_id).tables["users"][0],
        b.truth(&spec.tenant_id).tables["users"][0]
    );

    // Realistic shapes: unique UPNs in the tenant's domain, creation times in the two years before now.
    let users = &t.tables["users"];
    let upns: BTreeSet<&str> =
        users.iter().map(|u| u["userPrincipalName"].as_str().unwrap()).collect();
    assert_eq!(upns.len(), users.len());
    assert!(upns.iter().all(|u| u.ends_with("@contoso.onmicrosoft.com")));
    let lo = now() - chrono::Duration::days(731);
    let hi = now() + chrono::Duration::hours(5);
    for u in users {
        let created =
            DateTime::parse_from_rfc3339(u["createdDateTime"].as_str().unwrap()).unwrap().to_utc();
        assert!(created > lo && created <= hi);
        assert!(matches!(u["userType"].as_str(), Some("Member" | "Guest")));
    }
    let groups = &t.tables["groups"];
    assert!(groups.iter().any(|g| g["groupTypes"] == json!(["Unified"])));
    assert!(groups.iter().any(|g| g["securityEnabled"] == json!(true) && g["mail"].is_null()));
}

/// `GET /groups` without `$select` returns Microsoft's default property set, each with a
/// value of the right shape: collections as arrays (never null), the dynamic-membership rule
/// and its processing state on dynamic groups only, proxy addresses for mail-enabled groups.
#[tokio::test]
async fn groups_carry_the_default_properties() {
    let sim = GraphSim::new();
    let spec = GraphTenantSpec::new("contoso", 3, GraphSizes { users: 20, groups: 60 }, now());
    sim.add_tenant(spec.clone());
    let (addr, _server) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let http = reqwest::Client::new();
    let token: Value = http
        .post(GraphSim::token_url(addr, &spec.tenant_id))
        .form(&[
            ("client_id", spec.client_id.as_str()),
            ("client_secret", spec.client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    let page: Value = http
        .get(format!("http://{addr}/v1.0/groups?$top=999"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let groups = page["value"].as_array().unwrap();
    assert_eq!(groups.len(), 60);
    let want: BTreeSet<String> = [
        "id",
        "deletedDateTime",
        "classification",
        "createdDateTime",
        "description",
        "displayName",
        "expirationDateTime",
        "groupTypes",
        "isAssignableToRole",
        "mail",
        "mailEnabled",
        "mailNickname",
        "membershipRule",
        "membershipRuleProcessingState",
        "onPremisesLastSyncDateTime",
        "onPremisesSecurityIdentifier",
        "onPremisesSyncEnabled",
        "preferredDataLocation",
        "preferredLanguage",
        "proxyAddresses",
        "renewedDateTime",
        "resourceBehaviorOptions",
        "resourceProvisioningOptions",
        "securityEnabled",
        "theme",
        "visibility",
        "onPremisesProvisioningErrors",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut dynamic = 0;
    for g in groups {
        assert_eq!(keys(g), want);
        for k in [
            "resourceBehaviorOptions",
            "resourceProvisioningOptions",
            "onPremisesProvisioningErrors",
        ] {
            assert_eq!(g[k], json!([]), "{k}: {g}");
        }
        match g["mail"].as_str() {
            Some(mail) => assert_eq!(g["proxyAddresses"], json!([format!("SMTP:{mail}")])),
            None => assert_eq!(g["proxyAddresses"], json!([])),
        }
        if g["groupTypes"] == json!(["DynamicMembership"]) {
            dynamic += 1;
            let rule = g["membershipRule"].as_str().unwrap();
            assert!(rule.starts_with("(user.department -eq \"") && rule.ends_with("\")"), "{rule}");
            assert_eq!(g["membershipRuleProcessingState"], "On");
        } else {
            assert!(g["membershipRule"].is_null() && g["membershipRuleProcessingState"].is_null());
        }
    }
    assert!(dynamic > 0, "no dynamic group among 60");
    // the same properties can be selected one by one
    let page: Value = http
        .get(format!("http://{addr}/v1.0/groups?$select=id,proxyAddresses,membershipRule"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = &page["value"][0];
    assert_eq!(keys(first).len(), 3, "{first}");
    assert!(first["proxyAddresses"].is_array());
}
