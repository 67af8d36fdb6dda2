//! Reports delivered by e-mail: one SMTP transport (lettre's, pooled, with TLS by the
//! URL's scheme) and messages with the report attached.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Where mail goes out.
#[derive(Clone, Debug)]
pub struct SmtpSettings {
    /// `smtp://HOST[:PORT]` (no TLS: a local relay), `smtp://HOST[:PORT]?tls=required`
    /// (STARTTLS), or `smtps://HOST[:PORT]` (TLS from the start).
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The sender: `Reports <reports@msp.example>`.
    pub from: String,
    /// How long one delivery may take.
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("smtp.url: {0}")]
    Url(String),
    #[error("smtp.from: not an e-mail address ({0})")]
    From(String),
    #[error("not an e-mail address: {0:?}")]
    Address(String),
    #[error("the message could not be composed: {0}")]
    Compose(String),
    /// The server refused the message or could not be reached.
    #[error("the SMTP server did not take the message: {0}")]
    Send(String),
}

/// An address as a user typed it (`ana@example.com` or `Ana <ana@example.com>`).
pub fn parse_address(s: &str) -> Result<Mailbox, MailError> {
    let t = s.trim();
    if t.is_empty() || t.len() > 320 || t.chars().any(char::is_control) {
        return Err(MailError::Address(s.to_owned()));
    }
    t.parse::<Mailbox>().map_err(|_| MailError::Address(s.to_owned()))
}

/// One message: plain text, optionally with one attachment.
#[derive(Clone, Debug)]
pub struct Email {
    pub to: Vec<Mailbox>,
    pub reply_to: Option<Mailbox>,
    pub subject: String,
    pub text: String,
    /// File name and PDF bytes.
    pub pdf: Option<(String, Vec<u8>)>,
}

/// Sends mail through the configured SMTP server.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The server, for logs (never the credentials).
    server: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("server", &self.server).field("from", &self.from).finish()
    }
}

impl Mailer {
    /// The transport (no connection yet). Call it on a Tokio runtime: its connection
    /// pool lives there.
    pub fn new(s: &SmtpSettings) -> Result<Mailer, MailError> {
        let url = s.url.trim();
        if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
            return Err(MailError::Url(format!(
                "{url:?} is not smtp://HOST[:PORT][?tls=required] or smtps://HOST[:PORT]"
            )));
        }
        if url.contains('@') {
            return Err(MailError::Url(
                "put the user name and password in smtp.username and smtp.password, not in the URL"
                    .into(),
            ));
        }
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::Url(e.to_string()))?;
        if let (Some(u), Some(p)) = (&s.username, &s.password) {
            builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
        }
        let transport = builder.timeout(Some(s.timeout)).build();
        let from = s.from.trim().parse::<Mailbox>().map_err(|_| MailError::From(s.from.clone()))?;
        let server = url.split('?').next().unwrap_or(url).to_owned();
        Ok(Mailer { transport, from, server })
    }

    /// The sender.
    pub fn from(&self) -> &Mailbox {
        &self.from
    }

    /// Hands the message to the server; `Ok` once it has accepted it.
    pub async fn send(&self, email: Email) -> Result<(), MailError> {
        if email.to.is_empty() {
            return Err(MailError::Compose("no recipients".into()));
        }
        let mut b = Message::builder().from(self.from.clone()).subject(email.subject);
        for to in email.to {
            b = b.to(to);
        }
        if let Some(r) = email.reply_to {
            b = b.reply_to(r);
        }
        let body = SinglePart::plain(email.text);
        let message = match email.pdf {
            Some((name, bytes)) => {
                let pdf = ContentType::parse("application/pdf").expect("a valid content type");
                b.multipart(
                    MultiPart::mixed()
                        .singlepart(body)
                        .singlepart(Attachment::new(name).body(bytes, pdf)),
                )
            }
            None => b.singlepart(body),
        }
        .map_err(|e| MailError::Compose(e.to_string()))?;
        self.transport.send(message).await.map_err(|e| MailError::Send(e.to_string()))?;
        tracing::debug!(server = %self.server, "mail handed to the SMTP server");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> SmtpSettings {
        SmtpSettings {
            url: url.into(),
            username: None,
            password: None,
            from: "Reports <reports@msp.example>".into(),
            timeout: Duration::from_secs(5),
        }
    }

    // The pooled transport lives on a Tokio runtime.
    #[tokio::test]
    async fn urls_and_senders_are_checked() {
        assert!(Mailer::new(&settings("smtp://127.0.0.1:2525")).is_ok());
        assert!(Mailer::new(&settings("smtps://mail.example.com")).is_ok());
        assert!(Mailer::new(&settings("smtp://mail.example.com:587?tls=required")).is_ok());
        for bad in ["http://mail.example.com", "mail.example.com", "smtp://u:p@mail.example.com"] {
            let e = Mailer::new(&settings(bad)).unwrap_err();
            assert!(matches!(e, MailError::Url(_)), "{bad}: {e}");
        }
        let mut s = settings("smtp://127.0.0.1:2525");
        s.from = "not an address".into();
        assert!(matches!(Mailer::new(&s).unwrap_err(), MailError::From(_)));
    }

    #[test]
    fn addresses_are_checked() {
        assert_eq!(
            parse_address(" ana@example.com ").unwrap().email.to_string(),
            "ana@example.com"
        );
        assert_eq!(
            parse_address("Ana Lima <ana@example.com>").unwrap().name.as_deref(),
            Some("Ana Lima")
        );
        for bad in ["", "ana", "ana@", "a\r\nBcc: x@y.z", "@example.com"] {
            assert!(parse_address(bad).is_err(), "{bad:?}");
        }
    }
}
