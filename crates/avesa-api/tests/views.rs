//! Saved views over HTTP (`/api/views`): the whole router on a real SQLite state store
//! and the reference warehouse. Create, list, rename, re-query and delete; every check a
//! 400 naming its field; a taken name and the per-user cap a 409; another user's view —
//! in the same tenant or another — a 404, never listed, never changed; any role may keep
//! views; answers are never cached.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

use avesa_api::{AppState, AuthConfig, hash_password};
use avesa_model::{Role, TenantId};
use avesa_state::{MAX_SAVED_VIEWS, NewUser, SqliteStore, StateStore};

const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";
const PASSWORD: &str = "a-long-enough-password";
/// (tenant, email, role): Ann and Bob share a tenant; Gus is in another.
const USERS: [(&str, &str, Role); 4] = [
    ("acme", "ann@acme.io", Role::Analyst),
    ("acme", "bob@acme.io", Role::Viewer),
    ("acme", "ada@acme.io", Role::TenantAdmin),
    ("globex", "gus@globex.io", Role::PlatformAdmin),
];

struct T {
    app: Router,
    /// Access tokens by email.
    tokens: std::collections::BTreeMap<&'static str, String>,
    _dir: tempfile::TempDir,
}

impl T {
    fn token(&self, email: &str) -> &str {
        &self.tokens[email]
    }
}

async fn setup() -> T {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("state.db")).await.unwrap());
    let hash = hash_password(PASSWORD);
    for t in ["acme", "globex"] {
        store.create_tenant(&TenantId::new(t).unwrap(), t).await.unwrap();
    }
    for (t, email, role) in USERS {
        store
            .create_user(NewUser {
                tenant_id: TenantId::new(t).unwrap(),
                email: email.into(),
                name: email.into(),
                role,
                password_hash: hash.clone(),
            })
            .await
            .unwrap();
    }
    let app = avesa_api::router(AppState::new(
        store,
        Arc::new(avesa_warehouse::MemoryWarehouse::new()),
        AuthConfig::new(SECRET.to_vec()),
    ));
    let mut tokens = std::collections::BTreeMap::new();
    for (t, email, _) in USERS {
        let body = json!({"tenant_id": t, "email": email, "password": PASSWORD});
        let (s, _, v) = call(&app, Method::POST, "/auth/login", None, Some(body)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        tokens.insert(email, v["access_token"].as_str().unwrap().to_owned());
    }
    T { app, tokens, _dir: dir }
}

async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = match body {
        Some(v) => {
            b.header(header::CONTENT_TYPE, "application/json").body(Body::from(v.to_string()))
        }
        None => b.body(Body::empty()),
    }
    .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

impl T {
    async fn get(&self, who: &str, uri: &str) -> (StatusCode, Value) {
        let (s, h, v) = call(&self.app, Method::GET, uri, Some(self.token(who)), None).await;
        assert_no_store(&h, uri);
        (s, v)
    }

    async fn send(&self, who: &str, method: Method, uri: &str, body: Value) -> (StatusCode, Value) {
        let (s, h, v) = call(&self.app, method, uri, Some(self.token(who)), Some(body)).await;
        assert_no_store(&h, uri);
        (s, v)
    }

    async fn delete(&self, who: &str, uri: &str) -> StatusCode {
        let (s, h, _) = call(&self.app, Method::DELETE, uri, Some(self.token(who)), None).await;
        assert_no_store(&h, uri);
        s
    }

    /// Saves a view, which must succeed; its JSON.
    async fn save(&self, who: &str, page: &str, name: &str, query: &str) -> Value {
        let body = json!({"page": page, "name": name, "query": query});
        let (s, v) = self.send(who, Method::POST, "/api/views", body).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v
    }

    /// `(page, name)` of the caller's views as listed.
    async fn listed(&self, who: &str, uri: &str) -> Vec<(String, String)> {
        let (s, v) = self.get(who, uri).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["page"].as_str().unwrap().into(), v["name"].as_str().unwrap().into()))
            .collect()
    }
}

fn assert_no_store(h: &HeaderMap, uri: &str) {
    assert_eq!(
        h.get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "{uri}: saved views must not be cached"
    );
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(p, n)| ((*p).to_owned(), (*n).to_owned())).collect()
}

/// A 400 whose details name `field` (a body field) and whose message starts with it.
fn assert_names_field(s: StatusCode, v: &Value, field: &str) {
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "bad_request", "{v}");
    assert_eq!(v["error"]["details"]["field"], field, "{v}");
}

#[tokio::test]
async fn views_are_saved_listed_renamed_requeried_and_deleted() {
    let t = setup().await;
    let ann = "ann@acme.io";
    assert!(t.listed(ann, "/api/views").await.is_empty());

    let open =
        t.save(ann, "tickets", "  Open tickets ", "status=New&sort=opened_at&order=desc").await;
    assert_eq!(open["name"], "Open tickets", "trimmed");
    assert_eq!(open["page"], "tickets");
    assert_eq!(open["query"], "status=New&sort=opened_at&order=desc");
    let id = open["id"].as_str().unwrap().to_owned();
    assert!(!id.is_empty());
    assert_eq!(open["created_at"], open["updated_at"]);
    assert!(
        chrono::DateTime::parse_from_rfc3339(open["created_at"].as_str().unwrap()).is_ok(),
        "{open}"
    );
    // The object has exactly the documented keys (no tenant, no user id).
    let mut keys: Vec<&String> = open.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["created_at", "id", "name", "page", "query", "updated_at"]);

    t.save(ann, "tickets", "All, by number", "sort=number").await;
    t.save(ann, "dashboard", "Quarter", "period=90d&compare=previous").await;
    t.save(ann, "time-entries", "Mine", "member=connectwise%3A167").await;
    t.save(ann, "companies", "Everything", "").await;
    assert_eq!(
        t.listed(ann, "/api/views").await,
        pairs(&[
            ("companies", "Everything"),
            ("dashboard", "Quarter"),
            ("tickets", "All, by number"),
            ("tickets", "Open tickets"),
            ("time-entries", "Mine"),
        ]),
        "by page, then name"
    );
    assert_eq!(
        t.listed(ann, "/api/views?page=tickets").await,
        pairs(&[("tickets", "All, by number"), ("tickets", "Open tickets")])
    );
    assert!(t.listed(ann, "/api/views?page=members").await.is_empty());

    // Rename only.
    let uri = format!("/api/views/{id}");
    let (s, v) = t.send(ann, Method::PATCH, &uri, json!({"name": "New tickets"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (&v["id"], &v["name"], &v["query"]),
        (&open["id"], &json!("New tickets"), &open["query"])
    );
    assert_eq!(v["created_at"], open["created_at"]);
    // Query only.
    let (s, v) = t.send(ann, Method::PATCH, &uri, json!({"query": "status=New&q=printer"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((&v["name"], &v["query"]), (&json!("New tickets"), &json!("status=New&q=printer")));
    // Both, and null is "leave it".
    let (s, v) = t.send(ann, Method::PATCH, &uri, json!({"name": "Printers", "query": null})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((&v["name"], &v["query"]), (&json!("Printers"), &json!("status=New&q=printer")));
    let (_, list) = t.get(ann, "/api/views?page=tickets").await;
    assert_eq!(list["items"][1], v, "the list shows the view as the PATCH answered");

    assert_eq!(t.delete(ann, &uri).await, StatusCode::NO_CONTENT);
    assert_eq!(t.delete(ann, &uri).await, StatusCode::NOT_FOUND, "deleted once");
    let (s, v) = t.send(ann, Method::PATCH, &uri, json!({"name": "Back"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["error"]["code"], "not_found");
    assert_eq!(
        t.listed(ann, "/api/views?page=tickets").await,
        pairs(&[("tickets", "All, by number")])
    );
}

#[tokio::test]
async fn every_check_is_a_400_naming_its_field() {
    let t = setup().await;
    let ann = "ann@acme.io";
    let ok = json!({"page": "tickets", "name": "A view", "query": "status=New"});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        // page: a page the app has.
        (with("page", json!("Tickets")), "page"),
        (with("page", json!("tickets/1")), "page"),
        (with("page", json!("")), "page"),
        // name: trimmed, 1..=80 characters, no control characters.
        (with("name", json!("")), "name"),
        (with("name", json!("   \t ")), "name"),
        (with("name", json!("x".repeat(81))), "name"),
        (with("name", json!("two\nlines")), "name"),
        (with("name", json!("tab\tinside")), "name"),
        (with("name", json!("nul\u{0}")), "name"),
        // query: ≤ 2000 bytes, no "?", form-encoded.
        (with("query", json!(format!("q={}", "a".repeat(1999)))), "query"),
        (with("query", json!("?status=New")), "query"),
        (with("query", json!("q=two words")), "query"),
        (with("query", json!("status=New#top")), "query"),
        (with("query", json!("q=%zz")), "query"),
        (with("query", json!("q=%C3")), "query"),
        (with("query", json!("a=1&&b=2")), "query"),
        (with("query", json!("=orphan")), "query"),
        (with("query", json!("q=ünïcode")), "query"),
    ];
    for (body, field) in cases {
        let (s, v) = t.send(ann, Method::POST, "/api/views", body.clone()).await;
        assert_names_field(s, &v, field);
        assert!(
            v["error"]["message"].as_str().unwrap().starts_with(field),
            "{body}: the message names {field}: {v}"
        );
    }
    // Missing, mistyped and unknown fields are named too (in the details).
    for (body, field) in [
        (with("page", json!(7)), "page"),
        (with("name", json!(["a"])), "name"),
        (json!({"name": "A", "query": ""}), "page"),
        (json!({"page": "tickets", "query": ""}), "name"),
        (json!({"page": "tickets", "name": "A"}), "query"),
        (json!({"page": "tickets", "name": "A", "query": "", "user_id": "x"}), "user_id"),
    ] {
        let (s, v) = t.send(ann, Method::POST, "/api/views", body.clone()).await;
        assert_names_field(s, &v, field);
    }
    // The longest name and query pass (80 characters, not bytes; 2000 bytes).
    let edge = t.save(ann, "tickets", &"é".repeat(80), &format!("q={}", "a".repeat(1998))).await;
    assert_eq!(edge["name"].as_str().unwrap().chars().count(), 80);
    // Nothing refused was saved.
    assert_eq!(t.listed(ann, "/api/views").await.len(), 1);

    // PATCH: the same checks, and something to change.
    let uri = format!("/api/views/{}", edge["id"].as_str().unwrap());
    for (body, field) in [
        (json!({}), "name"),
        (json!({"name": null, "query": null}), "name"),
        (json!({"name": " "}), "name"),
        (json!({"name": "bell\u{7}"}), "name"),
        (json!({"query": "?x=1"}), "query"),
        (json!({"query": "x=1 2"}), "query"),
        (json!({"page": "dashboard"}), "page"),
    ] {
        let (s, v) = t.send(ann, Method::PATCH, &uri, body.clone()).await;
        assert_names_field(s, &v, field);
    }
    // GET's page is checked as a parameter; unknown parameters are refused.
    let (s, v) = t.get(ann, "/api/views?page=nope").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["details"]["param"], "page", "{v}");
    let (s, v) = t.get(ann, "/api/views?user=someone").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    // Not JSON at all.
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/views")
        .header(header::AUTHORIZATION, format!("Bearer {}", t.token(ann)))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("page=tickets"))
        .unwrap();
    assert_eq!(t.app.clone().oneshot(req).await.unwrap().status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_taken_name_is_a_409() {
    let t = setup().await;
    let ann = "ann@acme.io";
    t.save(ann, "tickets", "Open", "status=New").await;
    let other = t.save(ann, "tickets", "Closed", "status=Closed").await;
    for name in ["Open", "  Open "] {
        let body = json!({"page": "tickets", "name": name, "query": "q=x"});
        let (s, v) = t.send(ann, Method::POST, "/api/views", body).await;
        assert_eq!(s, StatusCode::CONFLICT, "{name:?}: {v}");
        assert_eq!(v["error"]["code"], "conflict");
        assert!(v["error"]["message"].as_str().unwrap().contains("\"Open\""), "{v}");
    }
    // Another page, another case, another user: other names.
    t.save(ann, "dashboard", "Open", "").await;
    t.save(ann, "tickets", "open", "").await;
    t.save("bob@acme.io", "tickets", "Open", "").await;
    // Renaming onto a taken name: 409, and the view is as it was.
    let uri = format!("/api/views/{}", other["id"].as_str().unwrap());
    let (s, v) =
        t.send(ann, Method::PATCH, &uri, json!({"name": "Open", "query": "q=changed"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (_, list) = t.get(ann, "/api/views?page=tickets").await;
    let closed = list["items"].as_array().unwrap().iter().find(|v| v["id"] == other["id"]).unwrap();
    assert_eq!(closed, &other);
    // Its own name is no conflict.
    let (s, _) = t.send(ann, Method::PATCH, &uri, json!({"name": "Closed"})).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn another_users_views_are_invisible_and_untouchable() {
    let t = setup().await;
    let (ann, bob, gus) = ("ann@acme.io", "bob@acme.io", "gus@globex.io");
    let v = t.save(ann, "tickets", "Ann's", "status=New").await;
    t.save(bob, "tickets", "Bob's", "status=Closed").await;
    t.save(gus, "tickets", "Gus's", "q=x").await;
    assert_eq!(t.listed(ann, "/api/views").await, pairs(&[("tickets", "Ann's")]));
    assert_eq!(t.listed(bob, "/api/views").await, pairs(&[("tickets", "Bob's")]));
    assert_eq!(t.listed(bob, "/api/views?page=tickets").await, pairs(&[("tickets", "Bob's")]));
    // A platform admin of another tenant sees only their own too.
    assert_eq!(t.listed(gus, "/api/views").await, pairs(&[("tickets", "Gus's")]));
    // There is no naming another tenant (or user) here.
    for uri in ["/api/views?tenant=acme", "/api/views?user_id=x"] {
        let (s, v) = t.get(gus, uri).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}: {v}");
    }

    // Bob (same tenant) and Gus (another) get the 404 of an id that does not exist.
    let uri = format!("/api/views/{}", v["id"].as_str().unwrap());
    let (_, ghost) =
        t.send(ann, Method::PATCH, "/api/views/no-such-id", json!({"name": "X"})).await;
    for who in [bob, gus] {
        let (s, body) = t.send(who, Method::PATCH, &uri, json!({"name": "Mine now"})).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{who}: {body}");
        assert_eq!(body, ghost, "{who}: another's view answers as a missing one");
        let (s, _) = t.send(who, Method::PATCH, &uri, json!({"query": "q=evil"})).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(t.delete(who, &uri).await, StatusCode::NOT_FOUND, "{who}");
    }
    // Ids that are not ids at all (a NUL, a path) are missing views too.
    for bad in ["%00", "..%2Fx", "0190b3c4-7a41-7000-8000-00000000000%00"] {
        let uri = format!("/api/views/{bad}");
        let (s, body) = t.send(ann, Method::PATCH, &uri, json!({"name": "X"})).await;
        assert_eq!((s, &body), (StatusCode::NOT_FOUND, &ghost), "{uri}");
        assert_eq!(t.delete(ann, &uri).await, StatusCode::NOT_FOUND, "{uri}");
    }
    let (_, list) = t.get(ann, "/api/views").await;
    assert_eq!(list["items"], json!([v]), "Ann's view is as she saved it");
}

#[tokio::test]
async fn a_user_keeps_at_most_100_views() {
    let t = setup().await;
    let ann = "ann@acme.io";
    let mut first = None;
    for i in 0..MAX_SAVED_VIEWS {
        let page = ["tickets", "dashboard", "companies"][i as usize % 3];
        let v = t.save(ann, page, &format!("View {i:03}"), "").await;
        first.get_or_insert(v);
    }
    let body = json!({"page": "contacts", "name": "One too many", "query": ""});
    let (s, v) = t.send(ann, Method::POST, "/api/views", body.clone()).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("100") && message.contains("delete one"), "{message}");
    assert_eq!(t.listed(ann, "/api/views").await.len(), 100);
    // Another user is not capped by Ann's views.
    t.save("bob@acme.io", "contacts", "One too many", "").await;
    // At the cap a view can still be renamed; deleting one makes room.
    let uri = format!("/api/views/{}", first.unwrap()["id"].as_str().unwrap());
    let (s, _) = t.send(ann, Method::PATCH, &uri, json!({"name": "Renamed"})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(t.delete(ann, &uri).await, StatusCode::NO_CONTENT);
    let (s, v) = t.send(ann, Method::POST, "/api/views", body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
}

#[tokio::test]
async fn every_role_keeps_views_and_anonymous_callers_none() {
    let t = setup().await;
    for (_, email, role) in USERS {
        let v = t.save(email, "dashboard", &format!("{role}'s"), "period=7d").await;
        assert_eq!(
            t.listed(email, "/api/views").await,
            pairs(&[("dashboard", &format!("{role}'s"))])
        );
        let uri = format!("/api/views/{}", v["id"].as_str().unwrap());
        let (s, _) = t.send(email, Method::PATCH, &uri, json!({"query": "period=30d"})).await;
        assert_eq!(s, StatusCode::OK, "{role}");
        assert_eq!(t.delete(email, &uri).await, StatusCode::NO_CONTENT, "{role}");
    }
    for (method, uri) in [
        (Method::GET, "/api/views"),
        (Method::POST, "/api/views"),
        (Method::PATCH, "/api/views/x"),
        (Method::DELETE, "/api/views/x"),
    ] {
        let body = (method == Method::POST || method == Method::PATCH)
            .then(|| json!({"page": "tickets", "name": "x", "query": ""}));
        let (s, h, v) = call(&t.app, method.clone(), uri, None, body).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {uri}: {v}");
        assert_no_store(&h, uri);
    }
}

#[tokio::test]
async fn the_openapi_document_describes_the_views_routes() {
    let t = setup().await;
    let (s, _, doc) = call(&t.app, Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let codes = |path: &str, method: &str| -> Vec<String> {
        let mut c: Vec<String> =
            doc["paths"][path][method]["responses"].as_object().unwrap().keys().cloned().collect();
        c.sort();
        c
    };
    assert_eq!(codes("/api/views", "get"), ["200", "400", "401", "403", "429", "503"]);
    assert_eq!(codes("/api/views", "post"), ["201", "400", "401", "403", "409", "503"]);
    assert_eq!(
        codes("/api/views/{id}", "patch"),
        ["200", "400", "401", "403", "404", "409", "503"]
    );
    assert_eq!(codes("/api/views/{id}", "delete"), ["204", "400", "401", "403", "404", "503"]);
    for (path, method) in [
        ("/api/views", "get"),
        ("/api/views", "post"),
        ("/api/views/{id}", "patch"),
        ("/api/views/{id}", "delete"),
    ] {
        assert_eq!(doc["paths"][path][method]["tags"], json!(["views"]), "{method} {path}");
    }
    let body = |path: &str, method: &str| {
        doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .clone()
    };
    assert_eq!(body("/api/views", "post"), "#/components/schemas/NewView");
    assert_eq!(body("/api/views/{id}", "patch"), "#/components/schemas/PatchView");
    let schemas = &doc["components"]["schemas"];
    let pages = json!(["dashboard", "companies", "contacts", "tickets", "time-entries", "members"]);
    assert_eq!(schemas["NewView"]["properties"]["page"]["enum"], pages);
    assert_eq!(schemas["SavedView"]["properties"]["page"]["enum"], pages);
    let mut required: Vec<&str> = schemas["NewView"]["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    required.sort();
    assert_eq!(required, ["name", "page", "query"]);
    assert!(schemas["PatchView"]["required"].as_array().is_none_or(|r| r.is_empty()));
    let param = &doc["paths"]["/api/views"]["get"]["parameters"][0];
    assert_eq!((&param["name"], &param["in"]), (&json!("page"), &json!("query")));
    assert_ne!(param["required"], json!(true));
    assert_eq!(param["schema"]["enum"], pages);
    assert_eq!(
        doc["paths"]["/api/views/{id}"]["delete"]["responses"]["204"]["content"],
        Value::Null
    );
}
