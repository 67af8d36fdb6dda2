//! Client reports through the whole router: a real SQLite state store, the reference
//! warehouse with two tenants' records, and the SMTP sink `scripts/services.sh` starts
//! (`AVESA_TEST_SMTP`, default `smtp://127.0.0.1:12525`, keeping messages in the Maildir
//! `AVESA_TEST_SMTP_MAILDIR`). The PDF is parsed back (lopdf) and read; e-mails are read
//! from the sink as they arrived.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64::Engine;
use serde_json::{Value, json};
use tower::ServiceExt;

use avesa_api::{AppState, AuthConfig, hash_password};
use avesa_model::{CanonicalTable, Role, TenantId};
use avesa_state::{NewUser, SqliteStore, StateStore};
use avesa_warehouse::conformance::{Row, batch};
use avesa_warehouse::{MemoryWarehouse, Warehouse};

const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";
const PASSWORD: &str = "a-long-enough-password";

fn sink() -> (String, PathBuf) {
    let url = std::env::var("AVESA_TEST_SMTP").unwrap_or_else(|_| "smtp://127.0.0.1:12525".into());
    let dir = std::env::var("AVESA_TEST_SMTP_MAILDIR").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(std::env::var("HOME").expect("HOME"))
            .join(".cache/avesa/services/smtp/maildir")
    });
    (url, dir)
}

fn unique(prefix: &str) -> String {
    let n = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{n}@client.example")
}

/// The messages in the sink addressed to `to`, once at least `at_least` arrived.
fn delivered_to(dir: &Path, to: &str, at_least: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found: Vec<String> = std::fs::read_dir(dir.join("new"))
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .filter(|m| m.lines().any(|l| l.starts_with("X-RcptTo:") && l.contains(to)))
                    .collect()
            })
            .unwrap_or_default();
        if found.len() >= at_least {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{} message(s) to {to} in {}",
            found.len(),
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The base64 body of the attachment `filename` in a message.
fn attachment(message: &str) -> (String, Vec<u8>) {
    // `filename="…"`, or `filename*0="…"` when folded.
    let start = message.find("filename").expect("an attachment");
    let quote = start + message[start..].find('"').expect("a quoted file name") + 1;
    let name: String = message[quote..].chars().take_while(|c| *c != '"').collect();
    let rest = &message[start..];
    let body_start =
        rest.find("\n\n").map(|i| i + 2).or_else(|| rest.find("\r\n\r\n").map(|i| i + 4));
    let body: String = rest[body_start.unwrap()..]
        .lines()
        .take_while(|l| !l.starts_with("--"))
        .map(str::trim)
        .collect();
    (name, base64::engine::general_purpose::STANDARD.decode(body).expect("base64"))
}

/// Every text a PDF shows, page after page.
fn pdf_text(bytes: &[u8]) -> String {
    let doc = lopdf::Document::load_mem(bytes).expect("a well-formed PDF");
    let mut out = String::new();
    for (_, page) in doc.get_pages() {
        let content = doc.get_and_decode_page_content(page).expect("page content");
        for op in content.operations {
            if op.operator == "Tj"
                && let Some(lopdf::Object::String(s, _)) = op.operands.first()
            {
                out.extend(s.iter().map(|b| char::from(*b)));
                out.push('\n');
            }
        }
    }
    out
}

/// Now, in the reference rows' clock (seconds after their epoch, 1_700_000_000).
fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64 - 1_700_000_000
}

async fn load(wh: &MemoryWarehouse) {
    let now = now_secs();
    let day = 86_400;
    for (tenant, name) in [("acme", "Contoso Ltd."), ("globex", "Initech Secret Co")] {
        let companies = vec![
            Row::new(tenant, "250", now - 90 * day).text("name", name),
            Row::new(tenant, "251", now - 90 * day).text("name", &format!("{name} Other")),
        ];
        let contacts = vec![
            Row::new(tenant, "1", now - 60 * day)
                .text("company_id", "250")
                .text("first_name", "Ana")
                .text("last_name", "Lima")
                .text("email", &format!("ana.{tenant}@contoso.example"))
                .flag("active", true),
            Row::new(tenant, "2", now - 60 * day)
                .text("company_id", "250")
                .text("first_name", "Gone")
                .text("email", &format!("gone.{tenant}@contoso.example"))
                .flag("active", false),
            Row::new(tenant, "3", now - 60 * day)
                .text("company_id", "251")
                .text("first_name", "Other")
                .text("email", &format!("other.{tenant}@contoso.example"))
                .flag("active", true),
        ];
        let mut tickets = Vec::new();
        for i in 0..8i64 {
            let opened = now - (i * 3 + 1) * day;
            let mut t = Row::new(tenant, &format!("{}", 1000 + i), opened)
                .text("company_id", "250")
                .text("summary", &format!("{tenant} issue {i}"))
                .text("number", &format!("{}", 1000 + i))
                .text("ticket_type", if i % 2 == 0 { "Printer" } else { "Network" })
                .text("priority", "P2")
                .time("opened_at", opened);
            t = if i < 3 {
                t.text("status", "Closed").flag("closed", true).time("closed_at", opened + day)
            } else {
                t.text("status", "In Progress").flag("closed", false)
            };
            tickets.push(t);
        }
        for (table, rows) in [
            (CanonicalTable::Companies, companies),
            (CanonicalTable::Contacts, contacts),
            (CanonicalTable::Tickets, tickets),
        ] {
            wh.apply(table, batch(table, &rows)).await.unwrap();
        }
    }
}

struct T {
    app: Router,
    state: AppState,
    store: Arc<SqliteStore>,
    _dir: tempfile::TempDir,
}

async fn setup(smtp: Option<String>) -> T {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("state.db")).await.unwrap());
    for t in ["acme", "globex"] {
        let id = TenantId::new(t).unwrap();
        store.create_tenant(&id, &format!("{t} tenant")).await.unwrap();
        for role in [Role::Analyst, Role::Viewer, Role::TenantAdmin] {
            store
                .create_user(NewUser {
                    tenant_id: id.clone(),
                    email: format!("{role}@{t}.io"),
                    name: "Ann".into(),
                    role,
                    password_hash: hash_password(PASSWORD),
                })
                .await
                .unwrap();
        }
    }
    let wh = Arc::new(MemoryWarehouse::new());
    load(&wh).await;
    let mailer = smtp.map(|url| {
        avesa_api::reports::mailer(&avesa_report::SmtpSettings {
            url,
            username: None,
            password: None,
            from: "Reports <reports@avesa.example>".into(),
            timeout: Duration::from_secs(5),
        })
        .unwrap()
    });
    let state =
        AppState::new(store.clone(), wh, AuthConfig::new(SECRET.to_vec())).with_mailer(mailer);
    T { app: avesa_api::router(state.clone()), state, store, _dir: dir }
}

async fn token(app: &Router, tenant: &str, role: Role) -> String {
    let body =
        json!({"tenant_id": tenant, "email": format!("{role}@{tenant}.io"), "password": PASSWORD});
    let (s, v, _, _) = call(app, Method::POST, "/auth/login", None, Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["access_token"].as_str().unwrap().to_owned()
}

async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value, Vec<u8>, HeaderMap) {
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
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap().to_vec();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), bytes, headers)
}

#[tokio::test]
async fn a_company_report_downloads_as_a_pdf_in_the_tenants_branding() {
    let t = setup(None).await;
    let admin = token(&t.app, "acme", Role::TenantAdmin).await;
    let viewer = token(&t.app, "acme", Role::Viewer).await;
    // Defaults: the tenant's name and the default accent.
    let (s, v, _, _) =
        call(&t.app, Method::GET, "/api/settings/branding", Some(&viewer), None).await;
    assert_eq!(
        (s, v["name"].as_str(), v["accent"].as_str()),
        (StatusCode::OK, Some("acme tenant"), Some("#1d4ed8"))
    );
    for (body, field) in [
        (json!({"accent": "teal"}), "accent"),
        (json!({"reply_to": "not-an-address"}), "reply_to"),
        (json!({"name": "x".repeat(81)}), "name"),
        (json!({"footer": "a\u{7}b"}), "footer"),
    ] {
        let (s, v, _, _) =
            call(&t.app, Method::PUT, "/api/admin/branding", Some(&admin), Some(body)).await;
        assert_eq!(
            (s, v["error"]["details"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{v}"
        );
    }
    let (s, _, _, _) =
        call(&t.app, Method::PUT, "/api/admin/branding", Some(&viewer), Some(json!({"name": "X"})))
            .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let brand = json!({"name": "Acme MSP", "accent": "#0F766E", "footer": "Questions? help@acme.example",
                       "reply_to": "help@acme.example"});
    let (s, v, _, _) =
        call(&t.app, Method::PUT, "/api/admin/branding", Some(&admin), Some(brand)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["accent"], "#0f766e");

    // A logo: a PNG as a data URL; anything else is refused, naming the field.
    let png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
    for bad in [
        "data:image/gif;base64,R0lGOD",
        "data:image/png;base64,iVBORw0KGgo=",
        "data:image/png;base64,@@@",
    ] {
        let (s, v, _, _) = call(
            &t.app,
            Method::PUT,
            "/api/admin/branding",
            Some(&admin),
            Some(json!({"logo": bad})),
        )
        .await;
        assert_eq!(
            (s, v["error"]["details"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("logo")),
            "{v}"
        );
    }
    let (s, v, _, _) =
        call(&t.app, Method::PUT, "/api/admin/branding", Some(&admin), Some(json!({"logo": png})))
            .await;
    assert_eq!((s, v["logo"].as_str()), (StatusCode::OK, Some(png)), "{v}");
    let (s, _, bytes, h) = call(
        &t.app,
        Method::GET,
        "/api/analytics/companies/connectwise:250/report.pdf?period=30d",
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(h[header::CONTENT_TYPE], "application/pdf");
    let disposition = h[header::CONTENT_DISPOSITION].to_str().unwrap();
    assert!(disposition.starts_with("attachment; filename=\"contoso-ltd-report-"), "{disposition}");
    let doc = lopdf::Document::load_mem(&bytes).unwrap();
    let images = doc
        .objects
        .values()
        .filter_map(|o| o.as_stream().ok())
        .filter(|s| s.dict.get(b"Subtype").and_then(|v| v.as_name()).ok() == Some(&b"Image"[..]))
        .count();
    assert!(images >= 1, "the logo (and its transparency) is in the PDF");
    let text = pdf_text(&bytes);
    for needle in [
        "Acme MSP",
        "Client report",
        "Contoso Ltd.",
        "Key figures",
        "Tickets opened",
        "Top issues: tickets opened by type",
        "Printer",
        "Open tickets (5)",
        "acme issue 7",
        "#1007",
        "Questions? help@acme.example",
        "Page 1 of",
    ] {
        assert!(text.contains(needle), "{needle:?} not in the PDF:\n{text}");
    }
    // Closed tickets are not among the open ones; nothing of the other tenant shows.
    assert!(!text.contains("acme issue 0\n"), "{text}");
    assert!(!text.contains("globex") && !text.contains("Initech"), "{text}");
    // Another tenant's company, a made-up one, a bad period: not found, not found, 400.
    let (s, _, _, _) = call(
        &t.app,
        Method::GET,
        "/api/analytics/companies/connectwise:999/report.pdf",
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let globex = token(&t.app, "globex", Role::Viewer).await;
    let (s, _, bytes, _) = call(
        &t.app,
        Method::GET,
        "/api/analytics/companies/connectwise:250/report.pdf",
        Some(&globex),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let other = pdf_text(&bytes);
    assert!(
        other.contains("Initech Secret Co")
            && !other.contains("Contoso")
            && !other.contains("Acme MSP")
    );
    let (s, v, _, _) = call(
        &t.app,
        Method::GET,
        "/api/analytics/companies/connectwise:250/report.pdf?period=fortnight",
        Some(&viewer),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test]
async fn a_report_is_emailed_to_the_addresses_given_and_the_companys_active_contacts() {
    let (url, dir) = sink();
    let t = setup(Some(url)).await;
    let admin = token(&t.app, "acme", Role::TenantAdmin).await;
    let (s, _, _, _) = call(
        &t.app,
        Method::PUT,
        "/api/admin/branding",
        Some(&admin),
        Some(json!({"name": "Acme MSP", "reply_to": "help@acme.example", "footer": "Acme MSP, 1 Main St"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let analyst = token(&t.app, "acme", Role::Analyst).await;
    let to = unique("boss");
    let uri = "/api/analytics/companies/connectwise:250/report/email";
    let body = json!({"to": [format!("The Boss <{to}>"), to], "contacts": true, "period": "30d",
                      "message": "Hello from your MSP.\nSee attached."});
    let (s, v, _, _) = call(&t.app, Method::POST, uri, Some(&analyst), Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let sent: Vec<&str> =
        v["sent_to"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
    // Once each; the active contact of this company only.
    assert_eq!(sent, vec![to.as_str(), "ana.acme@contoso.example"], "{v}");
    let m = delivered_to(&dir, &to, 1).remove(0);
    assert!(m.contains("ana.acme@contoso.example"), "{m}");
    assert!(!m.contains("gone.acme") && !m.contains("other.acme"), "{m}");
    assert!(m.contains("Reply-To: help@acme.example"), "{m}");
    assert!(m.contains("Hello from your MSP."), "{m}");
    assert!(m.contains("Acme MSP, 1 Main St"), "{m}");
    assert!(m.contains("Subject: Contoso Ltd.: client report"), "{m}");
    let (file, pdf) = attachment(&m);
    assert!(file.starts_with("contoso-ltd-report-") && file.ends_with(".pdf"), "{file}");
    let text = pdf_text(&pdf);
    assert!(text.contains("Contoso Ltd.") && text.contains("Acme MSP"), "{text}");

    // Refused: a viewer; a bad address; nobody to send to; a bad message.
    let viewer = token(&t.app, "acme", Role::Viewer).await;
    let (s, _, _, _) =
        call(&t.app, Method::POST, uri, Some(&viewer), Some(json!({"to": [unique("v")]}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    for (body, field) in [
        (json!({"to": ["not an address"]}), "to"),
        (json!({"to": []}), "to"),
        (json!({"to": ["a@b.example"], "message": "\u{1b}[31m"}), "message"),
    ] {
        let (s, v, _, _) = call(&t.app, Method::POST, uri, Some(&analyst), Some(body)).await;
        assert_eq!(
            (s, v["error"]["details"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{v}"
        );
    }
    // A company of no active contact, asked to go to its contacts only.
    let (s, v, _, _) = call(
        &t.app,
        Method::POST,
        "/api/analytics/companies/connectwise:999/report/email",
        Some(&analyst),
        Some(json!({"contacts": true})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    // E-mail off on the server: a clear conflict, nothing sent.
    let off = setup(None).await;
    let analyst = token(&off.app, "acme", Role::Analyst).await;
    let (s, v, _, _) =
        call(&off.app, Method::POST, uri, Some(&analyst), Some(json!({"to": [unique("x")]}))).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("smtp.url"), "{v}");
}

#[tokio::test]
async fn a_schedule_sends_each_slot_once_however_many_processes_look() {
    let (url, dir) = sink();
    let t = setup(Some(url)).await;
    let analyst = token(&t.app, "acme", Role::Analyst).await;
    let to = unique("weekly");
    let new = json!({"company": "connectwise:250", "cadence": "weekly", "day": 1, "hour": 8,
                     "period": "last_week", "to": [to], "contacts": false});
    for (patch, field) in [
        (json!({"day": 8}), "day"),
        (json!({"cadence": "monthly", "day": 29}), "day"),
        (json!({"hour": 24}), "hour"),
        (json!({"period": "yesterday"}), "period"),
        (json!({"to": ["nope"]}), "to"),
        (json!({"to": [], "contacts": false}), "to"),
    ] {
        let mut body = new.clone();
        body.as_object_mut().unwrap().extend(patch.as_object().unwrap().clone());
        let (s, v, _, _) =
            call(&t.app, Method::POST, "/api/report-schedules", Some(&analyst), Some(body)).await;
        assert_eq!(
            (s, v["error"]["details"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{v}"
        );
    }
    let mut unknown = new.clone();
    unknown["company"] = json!("connectwise:999");
    let (s, _, _, _) =
        call(&t.app, Method::POST, "/api/report-schedules", Some(&analyst), Some(unknown)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, v, _, _) =
        call(&t.app, Method::POST, "/api/report-schedules", Some(&analyst), Some(new)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let first: chrono::DateTime<chrono::Utc> = v["next_run_at"].as_str().unwrap().parse().unwrap();
    assert!(
        first > chrono::Utc::now() && first - chrono::Utc::now() <= chrono::TimeDelta::days(7),
        "{v}"
    );
    assert_eq!(v["tz"], "UTC");
    let (_, list, _, _) = call(
        &t.app,
        Method::GET,
        "/api/report-schedules?company=connectwise:250",
        Some(&analyst),
        None,
    )
    .await;
    assert_eq!(list["schedules"].as_array().unwrap().len(), 1);
    let (_, list, _, _) = call(
        &t.app,
        Method::GET,
        "/api/report-schedules?company=connectwise:251",
        Some(&analyst),
        None,
    )
    .await;
    assert!(list["schedules"].as_array().unwrap().is_empty());
    // Another tenant sees none of it, and cannot delete it.
    let globex = token(&t.app, "globex", Role::Analyst).await;
    let (_, list, _, _) =
        call(&t.app, Method::GET, "/api/report-schedules", Some(&globex), None).await;
    assert!(list["schedules"].as_array().unwrap().is_empty());
    let (s, _, _, _) =
        call(&t.app, Method::DELETE, &format!("/api/report-schedules/{id}"), Some(&globex), None)
            .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Nothing is due before the slot.
    assert_eq!(
        avesa_api::schedules::deliver_due(&t.state, first - chrono::TimeDelta::seconds(1)).await,
        0
    );
    // Three processes look at once when it is due: one sends.
    let at = first + chrono::TimeDelta::seconds(30);
    let (s2, s3) = (t.state.clone(), t.state.clone());
    let (a, b, c) = tokio::join!(
        avesa_api::schedules::deliver_due(&t.state, at),
        avesa_api::schedules::deliver_due(&s2, at),
        avesa_api::schedules::deliver_due(&s3, at),
    );
    assert_eq!(a + b + c, 1);
    let m = delivered_to(&dir, &to, 1);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(delivered_to(&dir, &to, 1).len(), 1, "sent once");
    assert!(m[0].contains("Subject: Contoso Ltd.: client report"), "{}", m[0]);
    let (_, list, _, _) =
        call(&t.app, Method::GET, "/api/report-schedules", Some(&analyst), None).await;
    let s0 = &list["schedules"][0];
    assert_eq!(s0["last_status"], "sent", "{s0}");
    let next: chrono::DateTime<chrono::Utc> = s0["next_run_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(next, first + chrono::TimeDelta::days(7));
    // Looking again in the same slot sends nothing more.
    assert_eq!(avesa_api::schedules::deliver_due(&t.state, at).await, 0);

    // An SMTP server that cannot be reached: the delivery is recorded as failed.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("smtp://127.0.0.1:{}", listener.local_addr().unwrap().port());
    drop(listener);
    let broken = t.state.clone().with_mailer(Some(
        avesa_api::reports::mailer(&avesa_report::SmtpSettings {
            url: dead,
            username: None,
            password: None,
            from: "Reports <reports@avesa.example>".into(),
            timeout: Duration::from_secs(3),
        })
        .unwrap(),
    ));
    assert_eq!(
        avesa_api::schedules::deliver_due(&broken, next + chrono::TimeDelta::seconds(1)).await,
        1
    );
    let (_, list, _, _) =
        call(&t.app, Method::GET, "/api/report-schedules", Some(&analyst), None).await;
    let s0 = &list["schedules"][0];
    assert_eq!(s0["last_status"], "failed", "{s0}");
    assert!(s0["last_error"].as_str().unwrap().contains("SMTP"), "{s0}");
    assert!(s0["last_error"].as_str().unwrap().contains("trying again at"), "{s0}");
    // A passing failure is tried again in 15 minutes, not a week later ...
    let failed_at = next + chrono::TimeDelta::seconds(1);
    let retry: chrono::DateTime<chrono::Utc> = s0["next_run_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(retry, failed_at + avesa_api::schedules::RETRY_EVERY, "{s0}");
    assert_eq!(
        avesa_api::schedules::deliver_due(&t.state, retry - chrono::TimeDelta::seconds(1)).await,
        0
    );
    // ... and then sent, after which the schedule is back on its slots.
    assert_eq!(avesa_api::schedules::deliver_due(&t.state, retry).await, 1);
    let (_, list, _, _) =
        call(&t.app, Method::GET, "/api/report-schedules", Some(&analyst), None).await;
    let s0 = &list["schedules"][0];
    assert_eq!(s0["last_status"], "sent", "{s0}");
    let after: chrono::DateTime<chrono::Utc> = s0["next_run_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(after, next + chrono::TimeDelta::days(7), "{s0}");
    assert_eq!(delivered_to(&dir, &to, 2).len(), 2, "the retry delivered the missed slot");
    // A slot first looked at a day late (no process ran) that fails waits for its next slot.
    let late = after + avesa_api::schedules::RETRY_FOR;
    assert_eq!(avesa_api::schedules::deliver_due(&broken, late).await, 1);
    let (_, list, _, _) =
        call(&t.app, Method::GET, "/api/report-schedules", Some(&analyst), None).await;
    let s0 = &list["schedules"][0];
    assert_eq!(s0["last_status"], "failed", "{s0}");
    let then: chrono::DateTime<chrono::Utc> = s0["next_run_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(then, next + chrono::TimeDelta::days(14), "{s0}");

    let viewer = token(&t.app, "acme", Role::Viewer).await;
    let (s, _, _, _) =
        call(&t.app, Method::DELETE, &format!("/api/report-schedules/{id}"), Some(&viewer), None)
            .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _, _) =
        call(&t.app, Method::DELETE, &format!("/api/report-schedules/{id}"), Some(&analyst), None)
            .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _, _) =
        call(&t.app, Method::DELETE, &format!("/api/report-schedules/{id}"), Some(&analyst), None)
            .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(
        t.store.list_report_schedules(&TenantId::new("acme").unwrap()).await.unwrap().is_empty()
    );
}
