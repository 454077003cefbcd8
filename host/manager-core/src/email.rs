//! Outgoing mail: the operator's relay (`PICLOUD_SMTP_URL`), the checks
//! `email::send` makes before a message enters the outbox, and the mailer
//! that delivers the outbox through the relay after the scripts returned.
//!
//! Rules (docs/scripting.md, "Email"; ADR 014):
//! - **Never from someone else's domain.** A script sends from an address
//!   at a domain its app claims (a wildcard claim covers its hosts), or
//!   from the operator's default sender; any other `from` is refused when
//!   the script calls `email::send`, not later.
//! - **Never holding a slot.** `email::send` only writes the outbox; the
//!   mailer sends in the background, so a slow or absent relay costs the
//!   script nothing.
//! - **Retried, then reported.** A temporary failure (a 4xx reply, no
//!   connection, a timeout) is retried with backoff for about nine hours; a
//!   permanent one (5xx) ends it. Each send's outcome and the relay's reply
//!   are on the execution record; the body is not kept once it left.

use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use futures_util::StreamExt as _;
use lettre::message::{Mailbox, MultiPart, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use shared::domain::DomainPattern;
use shared::{AppId, ExecutionId, OutgoingEmail, ServiceError};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::Manager;
use crate::db::now_ms;
use crate::store::{DueEmail, EmailOutcome, NewEmail, Store};

/// Messages an app may send per hour unless the operator says otherwise.
pub const DEFAULT_PER_HOUR: u32 = 100;
/// Most recipients (`to` and `cc`) of one message.
pub const MAX_RECIPIENTS: usize = 50;
/// Largest body (text and HTML together), in bytes.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Longest subject, in bytes (a header line's limit, RFC 5322).
pub const MAX_SUBJECT_BYTES: usize = 998;
/// Delivery attempts before a message that keeps failing temporarily fails
/// for good: with [`retry_ms`], about nine hours of retries.
pub const MAX_ATTEMPTS: i64 = 20;
/// How long one attempt may take (connect, TLS, the whole dialogue).
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a mailer holds a message it is sending: past the send's
/// timeout, so a live sender is never overtaken.
const LEASE_MS: i64 = 2 * 60_000;
/// Messages sent at once by one mailer.
const CONCURRENCY: usize = 4;
/// How often the mailer looks for due retries without being woken.
const POLL: Duration = Duration::from_secs(1);

/// Woken when a message enters the outbox.
static WAKE: LazyLock<Notify> = LazyLock::new(Notify::new);

/// How long a temporarily failed message waits before its next attempt: 1 s
/// after the first, doubling, at most an hour.
pub fn retry_ms(attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    (1_000_i64 << doublings).min(3_600_000)
}

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayTls {
    /// `smtp://`: STARTTLS, required (the relay must offer it).
    StartTls,
    /// `smtps://`: TLS from the first byte.
    Implicit,
    /// `smtp://…?tls=none`: plain text, allowed only to a relay on loopback.
    None,
}

/// The operator's SMTP relay, from `PICLOUD_SMTP_URL`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpRelay {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Protection.
    pub tls: RelayTls,
    /// User name and password, when the URL has them.
    credentials: Option<(String, String)>,
}

impl std::fmt::Debug for SmtpRelay {
    // The password stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

impl std::fmt::Display for SmtpRelay {
    /// The URL without the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls == RelayTls::Implicit {
            "smtps"
        } else {
            "smtp"
        };
        let user = self
            .credentials
            .as_ref()
            .map(|(user, _)| format!("{user}@"))
            .unwrap_or_default();
        let plain = if self.tls == RelayTls::None {
            "?tls=none"
        } else {
            ""
        };
        write!(f, "{scheme}://{user}{}:{}{plain}", self.host, self.port)
    }
}

impl FromStr for SmtpRelay {
    type Err = String;

    /// `smtp://user:pass@host:587` (STARTTLS required), `smtps://…:465`
    /// (implicit TLS) or `smtp://host:port?tls=none` (plain, loopback only).
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let url = url::Url::parse(text).map_err(|e| format!("not a URL ({e})"))?;
        let implicit = match url.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => {
                return Err(format!(
                    "the scheme is {other}: use smtp:// (STARTTLS) or smtps:// (implicit TLS)"
                ));
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("the URL has no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let mut plain = false;
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", "none") => plain = true,
                ("tls", "required") => plain = false,
                ("tls", other) => {
                    return Err(format!(
                        "tls={other} is not an option: use tls=none or leave it out"
                    ));
                }
                (other, _) => {
                    return Err(format!("unknown parameter '{other}': the only one is tls"));
                }
            }
        }
        let tls = match (implicit, plain) {
            (true, true) => return Err("smtps:// is always TLS: tls=none goes with smtp://".into()),
            (true, false) => RelayTls::Implicit,
            (false, false) => RelayTls::StartTls,
            (false, true) if is_loopback(&host) => RelayTls::None,
            (false, true) => {
                return Err(format!(
                    "tls=none would send mail and the relay's password in clear text to {host}: \
                     it is allowed only for a relay on loopback (localhost, 127.0.0.1, ::1)"
                ));
            }
        };
        let port = url.port().unwrap_or(match tls {
            RelayTls::StartTls => 587,
            RelayTls::Implicit => 465,
            RelayTls::None => 25,
        });
        let decode = |s: &str| {
            percent_decode(s)
                .ok_or_else(|| "the user or password is not valid percent-encoded UTF-8".to_owned())
        };
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            (user, password) => Some((decode(user)?, decode(password.unwrap_or(""))?)),
        };
        Ok(SmtpRelay {
            host,
            port,
            tls,
            credentials,
        })
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes: Vec<u8> =
        form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned().into_bytes())?;
    String::from_utf8(bytes).ok()
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl SmtpRelay {
    /// A transport for this relay (connects per message).
    fn transport(&self) -> std::result::Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.clone())
                .port(self.port)
                .timeout(Some(SEND_TIMEOUT));
        let parameters = || {
            TlsParameters::new(self.host.clone()).map_err(|e| format!("TLS for {}: {e}", self.host))
        };
        builder = match self.tls {
            RelayTls::StartTls => builder.tls(Tls::Required(parameters()?)),
            RelayTls::Implicit => builder.tls(Tls::Wrapper(parameters()?)),
            RelayTls::None => builder.tls(Tls::None),
        };
        if let Some((user, password)) = &self.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(builder.build())
    }
}

/// Mail settings from the binary's configuration.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// The relay; `None`: `email::send` fails, saying mail is not set up.
    pub relay: Option<SmtpRelay>,
    /// The sender used when a script names none (`PICLOUD_SMTP_FROM`);
    /// any app may send from it.
    pub default_from: Option<Mailbox>,
    /// Messages an app may send per hour.
    pub per_hour: u32,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            relay: None,
            default_from: None,
            per_hour: DEFAULT_PER_HOUR,
        }
    }
}

/// Parses a sender or recipient: `a@b.example` or `Name <a@b.example>`.
pub fn parse_mailbox(text: &str) -> std::result::Result<Mailbox, String> {
    if text.contains(['\r', '\n']) {
        return Err(format!("'{}' holds a line break", text.escape_debug()));
    }
    text.trim()
        .parse::<Mailbox>()
        .map_err(|_| format!("'{text}' is not an email address"))
}

/// Checks a script's message against the rules above, the sender against
/// `claims` (the app's domain patterns); the message as the outbox keeps it.
pub fn check(
    email: &OutgoingEmail,
    claims: &[String],
    config: &EmailConfig,
) -> std::result::Result<NewEmail, String> {
    if email.to.is_empty() && email.cc.is_empty() {
        return Err("to is required: one address or an array of them".into());
    }
    let count = email.to.len() + email.cc.len();
    if count > MAX_RECIPIENTS {
        return Err(format!(
            "{count} recipients, over the {MAX_RECIPIENTS} one message may have"
        ));
    }
    let addresses = |list: &[String]| -> std::result::Result<Vec<String>, String> {
        list.iter()
            .map(|a| parse_mailbox(a).map(|m| m.to_string()))
            .collect()
    };
    let (to, cc) = (addresses(&email.to)?, addresses(&email.cc)?);
    let reply_to = email
        .reply_to
        .as_deref()
        .map(|r| parse_mailbox(r).map(|m| m.to_string()))
        .transpose()
        .map_err(|e| format!("reply_to: {e}"))?;
    let subject = email.subject.trim();
    if subject.is_empty() {
        return Err("subject is required".into());
    }
    if subject.len() > MAX_SUBJECT_BYTES || subject.contains(['\r', '\n']) {
        return Err(format!(
            "the subject must be one line of at most {MAX_SUBJECT_BYTES} bytes"
        ));
    }
    let size =
        email.text.as_deref().map_or(0, str::len) + email.html.as_deref().map_or(0, str::len);
    if email.text.is_none() && email.html.is_none() {
        return Err("the message needs a body: text, html or both".into());
    }
    if size > MAX_BODY_BYTES {
        return Err(format!(
            "the body is {size} bytes, over the {MAX_BODY_BYTES} a message may have"
        ));
    }
    let from = match &email.from {
        Some(from) => {
            let mailbox = parse_mailbox(from).map_err(|e| format!("from: {e}"))?;
            let default = config.default_from.as_ref().map(|m| &m.email);
            let domain = mailbox.email.domain().to_ascii_lowercase();
            let claimed = claims.iter().any(|pattern| {
                DomainPattern::parse(pattern).is_ok_and(|p| p.matches(&domain).is_some())
            });
            if !claimed && default != Some(&mailbox.email) {
                return Err(format!(
                    "from: {domain} is not a domain this app claims; send from an address at \
                     one of its domains{}",
                    match &config.default_from {
                        Some(d) => format!(", or leave from out to send as {d}"),
                        None => String::new(),
                    }
                ));
            }
            mailbox
        }
        None => config.default_from.clone().ok_or(
            "no sender: set from to an address at one of the app's domains \
             (this server has no default sender, PICLOUD_SMTP_FROM)",
        )?,
    };
    Ok(NewEmail {
        from: from.to_string(),
        to,
        cc,
        reply_to,
        subject: subject.to_owned(),
        text: email.text.clone(),
        html: email.html.clone(),
    })
}

/// What `email::send` does: check, then the outbox; the message id.
pub(crate) async fn send(
    store: &Store,
    config: &EmailConfig,
    app: AppId,
    execution: ExecutionId,
    email: &OutgoingEmail,
) -> std::result::Result<String, ServiceError> {
    if config.relay.is_none() {
        return Err(ServiceError::unavailable_because(
            "mail is not set up on this server: the operator sets an SMTP relay (PICLOUD_SMTP_URL)",
        ));
    }
    let claims = store
        .domain_patterns(app)
        .await
        .map_err(|e| crate::services::to_service_error("email::send", app, e))?;
    let message = check(email, &claims, config).map_err(ServiceError::invalid)?;
    let id = store
        .queue_email(app, Some(execution), &message, config.per_hour)
        .await
        .map_err(|e| crate::services::to_service_error("email::send", app, e))?;
    WAKE.notify_waiters();
    Ok(id)
}

/// The message as it goes to the relay. `Message-ID` is the outbox id at
/// the sender's domain, so a reply or a bounce can be traced to its send.
fn build(due: &DueEmail) -> std::result::Result<Message, String> {
    let email = &due.email;
    let from = parse_mailbox(&email.from)?;
    let mut builder = Message::builder()
        .message_id(Some(format!("<{}@{}>", due.id, from.email.domain())))
        .date(
            std::time::UNIX_EPOCH
                + Duration::from_millis(u64::try_from(due.created_at).unwrap_or(0)),
        )
        .subject(email.subject.clone())
        .from(from);
    for to in &email.to {
        builder = builder.to(parse_mailbox(to)?);
    }
    for cc in &email.cc {
        builder = builder.cc(parse_mailbox(cc)?);
    }
    if let Some(reply_to) = &email.reply_to {
        builder = builder.reply_to(parse_mailbox(reply_to)?);
    }
    let built = match (&email.text, &email.html) {
        (Some(text), Some(html)) => builder.multipart(MultiPart::alternative_plain_html(
            text.clone(),
            html.clone(),
        )),
        (None, Some(html)) => builder.header(ContentType::TEXT_HTML).body(html.clone()),
        (text, None) => builder
            .header(ContentType::TEXT_PLAIN)
            .body(text.clone().unwrap_or_default()),
    };
    built.map_err(|e| format!("the message could not be built: {e}"))
}

impl Manager {
    /// Delivers the outbox in the background until the returned handle is
    /// aborted: a pass when a message is queued, and every second for
    /// retries and messages other processes queued. `None` without a relay
    /// (nothing can be queued then).
    pub fn start_mailer(&self) -> Option<JoinHandle<()>> {
        let relay = self.config.email.relay.clone()?;
        let transport = match relay.transport() {
            Ok(transport) => transport,
            Err(err) => {
                tracing::error!(%relay, error = %err, "mail: the relay cannot be used; mail stays in the outbox");
                return None;
            }
        };
        tracing::info!(%relay, "mail: sending through the relay");
        let store = self.store.clone();
        Some(tokio::spawn(async move {
            loop {
                let woken = WAKE.notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                match store.due_emails(now_ms(), 64).await {
                    Ok(due) if !due.is_empty() => {
                        futures_util::stream::iter(due)
                            .for_each_concurrent(CONCURRENCY, |email| {
                                deliver(&store, &transport, email)
                            })
                            .await;
                        // More may be due already.
                        continue;
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = %err, "mail: reading the outbox failed"),
                }
                tokio::select! {
                    () = woken => {}
                    () = tokio::time::sleep(POLL) => {}
                }
            }
        }))
    }
}

/// One attempt at one message, recorded on it.
async fn deliver(store: &Store, transport: &AsyncSmtpTransport<Tokio1Executor>, due: DueEmail) {
    match store.lease_email(&due, now_ms() + LEASE_MS).await {
        Ok(true) => {}
        // Another mailer took it.
        Ok(false) => return,
        Err(err) => {
            tracing::warn!(email = %due.id, error = %err, "mail: taking a message failed");
            return;
        }
    }
    let attempt = due.attempts + 1;
    let (reply, outcome) = match build(&due) {
        Err(err) => (err, EmailOutcome::Failed),
        Ok(message) => match transport.send(message).await {
            Ok(response) => (
                format!(
                    "{} {}",
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                ),
                EmailOutcome::Sent,
            ),
            Err(err) if err.is_permanent() => (err.to_string(), EmailOutcome::Failed),
            Err(err) if attempt >= MAX_ATTEMPTS => (err.to_string(), EmailOutcome::Failed),
            Err(err) => (
                err.to_string(),
                EmailOutcome::Retry {
                    at: now_ms() + retry_ms(attempt),
                },
            ),
        },
    };
    match outcome {
        EmailOutcome::Sent => tracing::debug!(email = %due.id, %reply, "mail: sent"),
        _ => tracing::warn!(email = %due.id, attempt, %reply, ?outcome, "mail: not sent"),
    }
    if let Err(err) = store
        .email_attempted(&due.id, attempt, &reply, outcome)
        .await
    {
        // The lease runs out and the message is sent again: at least once.
        tracing::warn!(email = %due.id, error = %err, "mail: recording an attempt failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_urls_name_their_protection() {
        let relay: SmtpRelay = "smtp://ada:p%40ss@mail.example.com".parse().unwrap();
        assert_eq!(relay.tls, RelayTls::StartTls);
        assert_eq!(relay.port, 587);
        assert_eq!(relay.credentials, Some(("ada".into(), "p@ss".into())));
        assert_eq!(relay.to_string(), "smtp://ada@mail.example.com:587");
        let relay: SmtpRelay = "smtps://mail.example.com".parse().unwrap();
        assert_eq!((relay.tls, relay.port), (RelayTls::Implicit, 465));
        let relay: SmtpRelay = "smtp://127.0.0.1:2525?tls=none".parse().unwrap();
        assert_eq!((relay.tls, relay.port), (RelayTls::None, 2525));
        assert!("smtp://[::1]:25?tls=none".parse::<SmtpRelay>().is_ok());
        for (url, says) in [
            (
                "smtp://mail.example.com?tls=none",
                "only for a relay on loopback",
            ),
            ("smtps://127.0.0.1?tls=none", "always TLS"),
            ("http://mail.example.com", "use smtp://"),
            ("smtp://mail.example.com?tls=maybe", "tls=maybe"),
            (
                "smtp://mail.example.com?auth=plain",
                "unknown parameter 'auth'",
            ),
            ("mail.example.com", "not a URL"),
        ] {
            let err = url.parse::<SmtpRelay>().unwrap_err();
            assert!(err.contains(says), "{url}: {err}");
        }
    }

    fn message() -> OutgoingEmail {
        OutgoingEmail {
            from: Some("Shop <orders@shop.example.com>".into()),
            to: vec!["ada@example.org".into()],
            subject: "Your order".into(),
            text: Some("Thanks".into()),
            ..OutgoingEmail::default()
        }
    }

    #[test]
    fn a_sender_must_be_at_a_claimed_domain_or_the_default() {
        let config = EmailConfig {
            default_from: Some("PiCloud <noreply@pi.example>".parse().unwrap()),
            ..EmailConfig::default()
        };
        let claims = vec![
            "shop.example.com".to_owned(),
            "{tenant}.shops.example".to_owned(),
        ];
        let ok = check(&message(), &claims, &config).unwrap();
        assert_eq!(ok.from, "Shop <orders@shop.example.com>");
        let tenant = OutgoingEmail {
            from: Some("hi@acme.shops.example".into()),
            ..message()
        };
        assert!(check(&tenant, &claims, &config).is_ok());
        let default = OutgoingEmail {
            from: None,
            ..message()
        };
        assert_eq!(
            check(&default, &claims, &config).unwrap().from,
            "PiCloud <noreply@pi.example>"
        );
        let named_default = OutgoingEmail {
            from: Some("noreply@pi.example".into()),
            ..message()
        };
        assert!(check(&named_default, &claims, &config).is_ok());
        let foreign = OutgoingEmail {
            from: Some("ceo@bank.example".into()),
            ..message()
        };
        let err = check(&foreign, &claims, &config).unwrap_err();
        assert!(
            err.contains("bank.example is not a domain this app claims"),
            "{err}"
        );
        let no_default = EmailConfig::default();
        let err = check(&default, &claims, &no_default).unwrap_err();
        assert!(err.contains("no sender"), "{err}");
    }

    #[test]
    fn bad_messages_are_refused_naming_the_problem() {
        let config = EmailConfig::default();
        let claims = vec!["shop.example.com".to_owned()];
        let cases = [
            (
                OutgoingEmail {
                    to: vec![],
                    ..message()
                },
                "to is required",
            ),
            (
                OutgoingEmail {
                    to: vec!["nobody".into()],
                    ..message()
                },
                "'nobody' is not an email address",
            ),
            (
                OutgoingEmail {
                    subject: " ".into(),
                    ..message()
                },
                "subject is required",
            ),
            (
                OutgoingEmail {
                    subject: "a\r\nBcc: x@y.z".into(),
                    ..message()
                },
                "one line",
            ),
            (
                OutgoingEmail {
                    text: None,
                    ..message()
                },
                "needs a body",
            ),
            (
                OutgoingEmail {
                    to: vec!["a@b.c".into(); 51],
                    ..message()
                },
                "51 recipients",
            ),
            (
                OutgoingEmail {
                    reply_to: Some("x".into()),
                    ..message()
                },
                "reply_to",
            ),
            (
                OutgoingEmail {
                    text: Some("x".repeat(MAX_BODY_BYTES + 1)),
                    ..message()
                },
                "bytes, over",
            ),
        ];
        for (email, says) in cases {
            let err = check(&email, &claims, &config).unwrap_err();
            assert!(err.contains(says), "{says}: {err}");
        }
    }

    #[test]
    fn built_messages_carry_the_outbox_id_and_both_bodies() {
        let due = DueEmail {
            id: "0193-abc".into(),
            attempts: 0,
            created_at: 1_700_000_000_000,
            email: NewEmail {
                from: "orders@shop.example.com".into(),
                to: vec!["ada@example.org".into()],
                cc: vec!["bob@example.org".into()],
                reply_to: Some("help@shop.example.com".into()),
                subject: "Grüße".into(),
                text: Some("plain".into()),
                html: Some("<p>html</p>".into()),
            },
        };
        let text = String::from_utf8(build(&due).unwrap().formatted()).unwrap();
        assert!(
            text.contains("Message-ID: <0193-abc@shop.example.com>"),
            "{text}"
        );
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(text.contains("Cc: bob@example.org"), "{text}");
        assert!(text.contains("Reply-To: help@shop.example.com"), "{text}");
        // Non-ASCII subjects are encoded, not sent raw.
        assert!(text.contains("Subject: =?utf-8?"), "{text}");
    }

    #[test]
    fn retries_back_off_to_an_hour() {
        assert_eq!(retry_ms(1), 1_000);
        assert_eq!(retry_ms(2), 2_000);
        assert_eq!(retry_ms(13), 3_600_000);
        let total: i64 = (1..MAX_ATTEMPTS).map(retry_ms).sum();
        assert!((8 * 3_600_000..10 * 3_600_000).contains(&total), "{total}");
    }
}
