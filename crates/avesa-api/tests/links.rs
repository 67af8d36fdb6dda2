//! Download links (`POST /api/exports/links`): a link opens exactly the export it was made
//! for, once, without a bearer token, only while its session stands; the export it opens
//! is the one a bearer token gets, byte for byte.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

use avesa_api::{AppState, AuthConfig, hash_password};
use avesa_model::{CanonicalTable, Role, TenantId};
use avesa_state::{NewUser, SqliteStore, StateStore};
use avesa_warehouse::conformance::{Row, batch};
use avesa_warehouse::{MemoryWarehouse, Warehouse};

const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";
const PASSWORD: &str = "a-long-enough-password";

struct T {
    app: Router,
    _dir: tempfile::TempDir,
}

async fn setup() -> T {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("state.db")).await.unwrap());
    let wh = Arc::new(MemoryWarehouse::new());
    for (t, p) in [("acme", "a"), ("globex", "g")] {
        let id = TenantId::new(t).unwrap();
        store.create_tenant(&id, t).await.unwrap();
        store
            .create_user(NewUser {
                tenant_id: id,
                email: format!("ann@{t}.io"),
                name: "Ann".into(),
                role: Role::Viewer,
                password_hash: hash_password(PASSWORD),
            })
            .await
            .unwrap();
        let tickets: Vec<Row> = (0..30)
            .map(|i| {
                Row::new(t, &format!("{p}{i}"), 2_000 + i)
                    .text("summary", &format!("{t} ticket {i}"))
                    .text("status", if i % 3 == 0 { "New" } else { "Closed" })
                    .flag("closed", i % 3 != 0)
            })
            .collect();
        wh.apply(CanonicalTable::Tickets, batch(CanonicalTable::Tickets, &tickets)).await.unwrap();
    }
    T {
        app: avesa_api::router(AppState::new(store, wh, AuthConfig::new(SECRET.to_vec()))),
        _dir: dir,
    }
}

async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value, Vec<u8>) {
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
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap().to_vec();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), bytes)
}

async fn login(app: &Router, tenant: &str) -> String {
    let body =
        json!({"tenant_id": tenant, "email": format!("ann@{tenant}.io"), "password": PASSWORD});
    let (s, v, _) = call(app, Method::POST, "/auth/login", None, Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["access_token"].as_str().unwrap().to_owned()
}

async fn link(app: &Router, token: &str, path: &str) -> (StatusCode, Value) {
    let (s, v, _) =
        call(app, Method::POST, "/api/exports/links", Some(token), Some(json!({"path": path})))
            .await;
    (s, v)
}

#[tokio::test]
async fn a_link_opens_its_export_once_without_a_bearer_token() {
    let t = setup().await;
    let token = login(&t.app, "acme").await;
    let path = "/api/tickets/export.csv?status=New&sort=id&order=desc";
    let (s, v) = link(&t.app, &token, path).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let url = v["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{path}&download_token=")), "{url}");
    assert!(v["expires_at"].as_str().is_some(), "{v}");

    // The same bytes as the export with a bearer token: acme's ten new tickets, no other.
    let (s, _, with_bearer) = call(&t.app, Method::GET, path, Some(&token), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, by_link) = call(&t.app, Method::GET, url, None, None).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&by_link));
    let text = String::from_utf8(by_link.clone()).unwrap();
    assert_eq!(text.lines().count(), 1 + 10, "{text}");
    assert!(text.contains("acme ticket 0") && !text.contains("globex"), "{text}");
    // The export names its instant in the file name only; the rows are the same.
    assert_eq!(by_link, with_bearer);

    // Once only.
    let (s, v, _) = call(&t.app, Method::GET, url, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("used already"), "{v}");
}

#[tokio::test]
async fn a_link_opens_nothing_but_its_own_export() {
    let t = setup().await;
    let token = login(&t.app, "acme").await;
    let (_, v) = link(&t.app, &token, "/api/tickets/export.csv?status=New").await;
    let url = v["url"].as_str().unwrap().to_owned();
    let token_part = url.split_once("download_token=").unwrap().1.to_owned();
    for other in [
        // Another filter, another table, a list route, no filter at all.
        format!("/api/tickets/export.csv?status=Closed&download_token={token_part}"),
        format!("/api/companies/export.csv?status=New&download_token={token_part}"),
        format!("/api/tickets/export.csv?download_token={token_part}"),
        format!("/api/tickets?status=New&download_token={token_part}"),
        // A forged token.
        "/api/tickets/export.csv?status=New&download_token=eyJhbGciOiJub25lIn0.e30.".to_owned(),
    ] {
        let (s, v, _) = call(&t.app, Method::GET, &other, None, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{other}: {v}");
    }
    // The link itself still opens (none of the above used it).
    let (s, _, _) = call(&t.app, Method::GET, &url, None, None).await;
    assert_eq!(s, StatusCode::OK);
    // An access token in the link's place is no link.
    let (s, _, _) = call(
        &t.app,
        Method::GET,
        &format!("/api/tickets/export.csv?status=New&download_token={token}"),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn links_are_made_for_exports_only_and_end_with_the_session() {
    let t = setup().await;
    let body = json!({"tenant_id": "acme", "email": "ann@acme.io", "password": PASSWORD});
    let (_, v, _) = call(&t.app, Method::POST, "/auth/login", None, Some(body)).await;
    let token = v["access_token"].as_str().unwrap().to_owned();
    let refresh = v["refresh_token"].as_str().unwrap().to_owned();
    for bad in [
        "/api/tickets",
        "/api/tickets/a1",
        "/auth/me",
        "https://elsewhere.example/api/tickets/export.csv",
        "/api/tickets/export.csv?download_token=x",
        "/api/tickets/export.csv?q=a b",
        "",
    ] {
        let (s, v) = link(&t.app, &token, bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad:?}: {v}");
    }
    let (s, _, _) = call(
        &t.app,
        Method::POST,
        "/api/exports/links",
        None,
        Some(json!({"path": "/api/tickets/export.csv"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A bad filter is the export's 400 when the link is followed, as with a bearer token.
    let (_, v) = link(&t.app, &token, "/api/tickets/export.csv?billable=Billable").await;
    let (s, v, _) = call(&t.app, Method::GET, v["url"].as_str().unwrap(), None, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    // Signed out: the session's links open nothing.
    let (_, v) = link(&t.app, &token, "/api/tickets/export.csv").await;
    let url = v["url"].as_str().unwrap().to_owned();
    let (s, _, _) = call(
        &t.app,
        Method::POST,
        "/auth/logout",
        Some(&token),
        Some(json!({"refresh_token": refresh})),
    )
    .await;
    assert!(s.is_success(), "{s}");
    let (s, v, _) = call(&t.app, Method::GET, &url, None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
}
