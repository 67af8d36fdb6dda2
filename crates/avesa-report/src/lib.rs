//! Client reports as documents: [`pdf`] lays a report out as a branded PDF, [`mail`]
//! delivers it over SMTP. What a report says (its figures, trends and tables) is decided
//! by the API, which reads them from the warehouse; this crate only presents and sends.

mod fonts;
pub mod logo;
pub mod mail;
pub mod pdf;

pub use lettre::message::Mailbox;
pub use logo::Logo;
pub use mail::{Email, MailError, Mailer, SmtpSettings, parse_address};
pub use pdf::{Branding, Chart, DEFAULT_ACCENT, Document, Figure, Rgb, Table, Tone, render};
