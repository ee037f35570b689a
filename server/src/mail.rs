//! [`Mailer`]: the mail this server sends (address confirmations, password resets),
//! through a real SMTP client (lettre) to the server `FERRY_SMTP_URL` names. Without one,
//! nothing is mailed and what needs mail says so. Sending never holds up a request: a
//! mail is handed to a task, and what became of it is counted (`ferry_mail_sent_total`,
//! `ferry_mail_failed_total`) and logged, never shown to whoever asked, so that an answer
//! cannot tell whether an address exists.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use prometheus_client::metrics::counter::Counter;

use crate::config::Config;

/// How long one delivery to the SMTP server may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// A mail about to be sent.
#[derive(Clone, Debug)]
pub struct Mail {
    /// The address.
    pub to: String,
    /// Its subject.
    pub subject: String,
    /// Plain text.
    pub body: String,
}

/// The configured way out for mail, if any.
#[derive(Clone)]
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    public_url: String,
    sent: Counter,
    failed: Counter,
}

/// Why the mail settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MailConfigError {
    /// `FERRY_MAIL_FROM` is no address.
    #[error("FERRY_MAIL_FROM is not a mail address: {0}")]
    From(String),
    /// `FERRY_SMTP_URL` is no SMTP URL.
    #[error("FERRY_SMTP_URL is not an SMTP URL (smtp://host:port): {0}")]
    Url(String),
}

impl Mailer {
    /// The mailer `config` describes; its counters are `sent` and `failed`.
    pub fn new(config: &Config, sent: Counter, failed: Counter) -> Result<Self, MailConfigError> {
        let from = config
            .mail_from
            .parse()
            .map_err(|e: lettre::address::AddressError| MailConfigError::From(e.to_string()))?;
        let transport = match &config.smtp_url {
            None => None,
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| MailConfigError::Url(e.to_string()))?
                    .timeout(Some(SEND_TIMEOUT))
                    .build(),
            ),
        };
        if transport.is_some() && config.public_url.is_none() {
            // The links would point at the bind address, which people outside this
            // machine (or behind a proxy) cannot open.
            tracing::warn!(
                links = %config.public_url(),
                "mail is set up without FERRY_PUBLIC_URL: the links in mail point at the bind address"
            );
        }
        Ok(Self {
            transport,
            from,
            public_url: config.public_url(),
            sent,
            failed,
        })
    }

    /// Whether mail goes anywhere.
    pub fn enabled(&self) -> bool {
        self.transport.is_some()
    }

    /// A link into this server's pages: `path` under the public URL.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.public_url)
    }

    /// Hands `mail` to a task that sends it; what became of it is counted and logged.
    pub fn send_later(&self, mail: Mail) {
        let mailer = self.clone();
        tokio::spawn(async move {
            match mailer.send(&mail).await {
                Ok(()) => tracing::info!(subject = %mail.subject, "mail sent"),
                Err(why) => {
                    tracing::warn!(subject = %mail.subject, error = %why, "mail not sent");
                }
            }
        });
    }

    /// Sends `mail` now, counting what became of it (`ferry_mail_sent_total`,
    /// `ferry_mail_failed_total`) whichever path sent it.
    pub async fn send(&self, mail: &Mail) -> Result<(), String> {
        let result = self.deliver(mail).await;
        match result {
            Ok(()) => self.sent.inc(),
            Err(_) => self.failed.inc(),
        };
        result
    }

    async fn deliver(&self, mail: &Mail) -> Result<(), String> {
        let transport = self
            .transport
            .as_ref()
            .ok_or("no SMTP server is configured")?;
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e: lettre::address::AddressError| format!("bad address: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| e.to_string())?;
        transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Whether `address` looks like a mail address worth sending to: one `@` with something
/// on each side, no spaces or control characters, and what lettre accepts.
pub fn is_address(address: &str) -> bool {
    address.len() <= 254
        && !address.chars().any(|c| c.is_whitespace() || c.is_control())
        && address.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && (domain.contains('.') || domain == "localhost")
        })
        && address.parse::<lettre::Address>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_before_anything_is_stored() {
        for good in ["ada@example.com", "a.b+c@mail.example.org", "ops@localhost"] {
            assert!(is_address(good), "{good}");
        }
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "a da@example.com",
            "ada@example",
            "a\u{0}@x.io",
        ] {
            assert!(!is_address(bad), "{bad:?}");
        }
    }
}
