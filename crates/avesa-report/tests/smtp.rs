//! Reports delivered to a real SMTP server: the sink `scripts/services.sh` starts
//! (`AVESA_TEST_SMTP`, default `smtp://127.0.0.1:12525`), which keeps every message in a
//! Maildir (`AVESA_TEST_SMTP_MAILDIR`, default `~/.cache/avesa/services/smtp/maildir`).

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use avesa_report::{Email, MailError, Mailer, SmtpSettings, parse_address};
use base64::Engine;

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

/// The message in the sink addressed to `to`, waiting for it to arrive.
pub fn delivered_to(dir: &std::path::Path, to: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(entries) = std::fs::read_dir(dir.join("new")) {
            for e in entries.flatten() {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                if text.contains(&format!("X-RcptTo: {to}")) || text.contains(&format!(", {to}")) {
                    return text;
                }
            }
        }
        assert!(Instant::now() < deadline, "no message to {to} reached {}", dir.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The base64 body of the part named `filename`.
fn attachment(message: &str, filename: &str) -> Vec<u8> {
    let start = message.find(&format!("filename=\"{filename}\"")).expect("the attachment");
    let rest = &message[start..];
    let body_start =
        rest.find("\r\n\r\n").map(|i| i + 4).or_else(|| rest.find("\n\n").map(|i| i + 2)).unwrap();
    let body: String = rest[body_start..]
        .lines()
        .take_while(|l| !l.starts_with("--"))
        .collect::<Vec<_>>()
        .concat();
    base64::engine::general_purpose::STANDARD.decode(body.trim()).expect("base64")
}

fn settings(url: &str) -> SmtpSettings {
    SmtpSettings {
        url: url.into(),
        username: None,
        password: None,
        from: "Acme MSP Reports <reports@acme.example>".into(),
        timeout: Duration::from_secs(10),
    }
}

#[tokio::test]
async fn a_report_reaches_the_server_with_its_pdf_attached() {
    let (url, dir) = sink();
    let mailer = Mailer::new(&settings(&url)).unwrap();
    let to = unique("ana");
    let other = unique("bo");
    // Binary, as a real PDF is (so it travels base64-encoded).
    let pdf = b"%PDF-1.7\n%\xb5\xed\xae\xfb\nnot really a report\n%%EOF\n".to_vec();
    mailer
        .send(Email {
            to: vec![
                parse_address(&format!("Ana Lima <{to}>")).unwrap(),
                parse_address(&other).unwrap(),
            ],
            reply_to: Some(parse_address("help@acme.example").unwrap()),
            subject: "Contoso — client report, November 2026".into(),
            text: "Your report for November is attached.".into(),
            pdf: Some(("contoso-2026-11.pdf".into(), pdf.clone())),
        })
        .await
        .unwrap();
    let m = delivered_to(&dir, &to);
    assert!(m.contains("X-MailFrom: reports@acme.example"), "{m}");
    assert!(
        m.contains(&format!("X-RcptTo: {to}, {other}"))
            || m.contains(&format!("X-RcptTo: {other}, {to}")),
        "{m}"
    );
    assert!(m.contains("Reply-To: help@acme.example"), "{m}");
    // The subject is encoded (it has a non-ASCII dash) and the body is readable.
    assert!(m.contains("Subject: Contoso =?utf-8?b?4oCU?= client report"), "{m}");
    assert!(m.contains("Your report for November is attached."), "{m}");
    assert!(m.contains("Content-Type: application/pdf"), "{m}");
    assert!(m.contains("Content-Transfer-Encoding: base64"), "{m}");
    assert_eq!(attachment(&m, "contoso-2026-11.pdf"), pdf);
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_not_a_hang() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut s = settings(&format!("smtp://127.0.0.1:{port}"));
    s.timeout = Duration::from_secs(3);
    let mailer = Mailer::new(&s).unwrap();
    let e = mailer
        .send(Email {
            to: vec![parse_address("x@client.example").unwrap()],
            reply_to: None,
            subject: "s".into(),
            text: "t".into(),
            pdf: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(e, MailError::Send(_)), "{e}");
}
