//! Inbound mail: an SMTP listener (`--smtp-listen`, off by default) that
//! accepts mail only for addresses that reach an app's email trigger, and
//! stores each accepted message for that trigger's script.
//!
//! Rules (docs/scripting.md, "Email"; ADR 014):
//! - **Never a relay.** Each `RCPT TO` is decided on its own, at once: the
//!   domain must be one an app claims (a wildcard claim covers its hosts)
//!   and the app must have an email trigger for the local part (or `*`).
//!   Any other recipient gets a 550, so nothing is accepted that PiCloud
//!   would have to pass on.
//! - **Never lost after 250.** The message is parsed (mail-parser), and
//!   stored in the database for each recipient's trigger in one
//!   transaction before the `250` goes out; the queue consumer runs the
//!   trigger's script for it with retries, like a queue message.
//! - **Bounded.** A size limit (announced with `SIZE`), a cap on
//!   recipients, a timeout on every command and on the session, and a cap
//!   on sessions at once.
//!
//! The SMTP command lines are parsed by smtp-proto and the `DATA` section
//! by its receiver (dot-unstuffing, the end marker); this module is the
//! dialogue and the decisions.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use mail_parser::{MessageParser, MimeHeaders as _};
use serde_json::{Value, json};
use shared::AppId;
use smtp_proto::Request;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::Manager;
use crate::store::{Mailbox, StoreError};

/// Default largest message, in bytes.
pub const DEFAULT_MAX_BYTES: usize = 10 << 20;
/// Longest command line (RFC 5321 allows 512; extensions make them longer).
const MAX_LINE: usize = 4096;

/// The SMTP listener's settings.
#[derive(Debug, Clone)]
pub struct SmtpInConfig {
    /// Where to listen; `None`: no listener.
    pub listen: Option<SocketAddr>,
    /// Largest message accepted (`SIZE`), in bytes.
    pub max_bytes: usize,
    /// Most recipients of one message.
    pub max_recipients: usize,
    /// Longest wait for a command (or for the next part of a message).
    pub command_timeout: Duration,
    /// Longest session.
    pub session_timeout: Duration,
    /// Sessions at once; more are told to come back later.
    pub max_sessions: usize,
    /// Unrecognized or refused commands before the session is ended.
    pub max_errors: usize,
}

impl Default for SmtpInConfig {
    fn default() -> Self {
        SmtpInConfig {
            listen: None,
            max_bytes: DEFAULT_MAX_BYTES,
            max_recipients: 50,
            command_timeout: Duration::from_secs(60),
            session_timeout: Duration::from_secs(10 * 60),
            max_sessions: 64,
            max_errors: 10,
        }
    }
}

/// A running listener.
pub struct SmtpListener {
    /// The address it listens on (the real port when 0 was asked).
    pub addr: SocketAddr,
    /// The accept loop; aborting it stops accepting.
    pub task: JoinHandle<()>,
}

impl Manager {
    /// Binds `config.listen` and accepts mail in the background; `None`
    /// when no address is configured.
    pub async fn start_smtp_listener(&self) -> std::io::Result<Option<SmtpListener>> {
        let config = self.config.smtp_in.clone();
        let Some(listen) = config.listen else {
            return Ok(None);
        };
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let manager = self.clone();
        let hostname = greeting_host(&self.config.public_base_url);
        let sessions = Arc::new(Semaphore::new(config.max_sessions.max(1)));
        let config = Arc::new(config);
        let task = tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        tracing::warn!(error = %err, "smtp: accept failed");
                        continue;
                    }
                };
                let manager = manager.clone();
                let config = config.clone();
                let hostname = hostname.clone();
                let permit = sessions.clone().try_acquire_owned();
                tokio::spawn(async move {
                    let mut session = Session::new(manager, config, hostname, stream);
                    let Ok(_permit) = permit else {
                        session
                            .reply("421 4.3.2 too many connections, try again later")
                            .await
                            .ok();
                        return;
                    };
                    let limit = session.config.session_timeout;
                    match tokio::time::timeout(limit, session.run()).await {
                        Ok(Ok(())) => {}
                        Ok(Err(err)) => tracing::debug!(%peer, error = %err, "smtp: session ended"),
                        Err(_) => {
                            session
                                .reply("421 4.4.2 session too long, closing")
                                .await
                                .ok();
                        }
                    }
                });
            }
        });
        tracing::info!(%addr, "smtp: accepting mail for the apps' email triggers");
        Ok(Some(SmtpListener { addr, task }))
    }
}

/// The host the server names itself by in its greeting.
fn greeting_host(public_base_url: &str) -> String {
    url::Url::parse(public_base_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "picloud".into())
}

/// One accepted recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Recipient {
    address: String,
    app_id: AppId,
    queue: String,
}

struct Session {
    manager: Manager,
    config: Arc<SmtpInConfig>,
    hostname: String,
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
    /// `MAIL FROM` of the message in progress (`Some("")` for `<>`).
    sender: Option<String>,
    recipients: Vec<Recipient>,
    errors: usize,
}

/// Why a session ends early.
#[derive(Debug, thiserror::Error)]
enum End {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("the client was silent too long")]
    Timeout,
    #[error("the client closed the connection")]
    Closed,
}

impl Session {
    fn new(
        manager: Manager,
        config: Arc<SmtpInConfig>,
        hostname: String,
        stream: TcpStream,
    ) -> Self {
        let (read, writer) = stream.into_split();
        Session {
            manager,
            config,
            hostname,
            reader: BufReader::new(read),
            writer,
            sender: None,
            recipients: Vec::new(),
            errors: 0,
        }
    }

    async fn reply(&mut self, line: &str) -> std::io::Result<()> {
        self.writer.write_all(line.as_bytes()).await?;
        self.writer.write_all(b"\r\n").await?;
        self.writer.flush().await
    }

    fn reset(&mut self) {
        self.sender = None;
        self.recipients.clear();
    }

    /// One command line, without its line end.
    async fn line(&mut self) -> Result<Vec<u8>, End> {
        let mut line = Vec::new();
        let mut limited = (&mut self.reader).take(MAX_LINE as u64 + 2);
        let read = limited.read_until(b'\n', &mut line);
        match tokio::time::timeout(self.config.command_timeout, read).await {
            Err(_) => Err(End::Timeout),
            Ok(Err(err)) => Err(err.into()),
            Ok(Ok(0)) => Err(End::Closed),
            Ok(Ok(_)) => Ok(line),
        }
    }

    async fn run(&mut self) -> Result<(), End> {
        let greeting = format!("220 {} PiCloud ESMTP ready", self.hostname);
        self.reply(&greeting).await?;
        loop {
            let line = match self.line().await {
                Ok(line) => line,
                Err(End::Timeout) => {
                    self.reply("421 4.4.2 idle too long, closing").await?;
                    return Err(End::Timeout);
                }
                Err(other) => return Err(other),
            };
            if !line.ends_with(b"\n") {
                self.reply("500 5.5.2 line too long, closing").await?;
                return Ok(());
            }
            if !self.command(&line).await? {
                return Ok(());
            }
            if self.errors >= self.config.max_errors {
                self.reply("421 4.7.0 too many errors, closing").await?;
                return Ok(());
            }
        }
    }

    /// Answers one command; `false` when the session is over.
    async fn command(&mut self, line: &[u8]) -> Result<bool, End> {
        let request = match Request::parse(&mut line.iter()) {
            Ok(request) => request.into_owned(),
            Err(smtp_proto::Error::UnknownCommand) => {
                self.errors += 1;
                self.reply("500 5.5.2 command not recognized").await?;
                return Ok(true);
            }
            Err(err) => {
                self.errors += 1;
                self.reply(&format!("501 5.5.4 syntax error: {}", describe(&err)))
                    .await?;
                return Ok(true);
            }
        };
        match request {
            Request::Ehlo { host } => {
                self.reset();
                let lines = format!(
                    "250-{} greets {host}\r\n250-SIZE {}\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 PIPELINING",
                    self.hostname, self.config.max_bytes
                );
                self.reply(&lines).await?;
            }
            Request::Helo { host } => {
                self.reset();
                let line = format!("250 {} greets {host}", self.hostname);
                self.reply(&line).await?;
            }
            Request::Mail { from } => {
                if self.sender.is_some() {
                    self.errors += 1;
                    self.reply("503 5.5.1 a message is already in progress: RSET first")
                        .await?;
                } else if from.size > self.config.max_bytes {
                    self.reply(&format!(
                        "552 5.3.4 the message is larger than {} bytes",
                        self.config.max_bytes
                    ))
                    .await?;
                } else {
                    self.sender = Some(from.address);
                    self.reply("250 2.1.0 sender ok").await?;
                }
            }
            Request::Rcpt { to } => self.recipient(to.address).await?,
            Request::Data => return self.data().await,
            Request::Rset => {
                self.reset();
                self.reply("250 2.0.0 reset").await?;
            }
            Request::Noop { .. } => self.reply("250 2.0.0 ok").await?,
            Request::Vrfy { .. } => {
                self.reply("252 2.5.0 cannot verify, but will take the message if it is for a known address")
                    .await?;
            }
            Request::Quit => {
                let line = format!("221 2.0.0 {} closing", self.hostname);
                self.reply(&line).await?;
                return Ok(false);
            }
            other => {
                self.errors += 1;
                let line = format!("502 5.5.1 {} is not offered here", other.name());
                self.reply(&line).await?;
            }
        }
        Ok(true)
    }

    /// `RCPT TO`: accepted only when it reaches an app's email trigger.
    async fn recipient(&mut self, address: String) -> Result<(), End> {
        if self.sender.is_none() {
            self.errors += 1;
            return Ok(self.reply("503 5.5.1 MAIL FROM first").await?);
        }
        if self.recipients.len() >= self.config.max_recipients {
            return Ok(self
                .reply("452 4.5.3 too many recipients: send the rest in another message")
                .await?);
        }
        let Some((local, domain)) = address.rsplit_once('@') else {
            self.errors += 1;
            return Ok(self
                .reply("550 5.1.3 a recipient is an address: local-part@domain")
                .await?);
        };
        let domain = match shared::domain::normalize_host(domain) {
            Ok(domain) => domain,
            Err(_) => {
                self.errors += 1;
                return Ok(self
                    .reply("550 5.1.2 the recipient's domain is not valid")
                    .await?);
            }
        };
        let reply = match self.manager.store.mailbox(&domain, local).await {
            Ok(Mailbox::Queue { app_id, queue }) => {
                let recipient = Recipient {
                    address: format!("{}@{domain}", local.to_ascii_lowercase()),
                    app_id,
                    queue,
                };
                if !self.recipients.contains(&recipient) {
                    self.recipients.push(recipient);
                }
                "250 2.1.5 recipient ok"
            }
            Ok(Mailbox::UnknownDomain) => {
                self.errors += 1;
                "550 5.7.1 relaying denied: this server takes mail only for its apps' domains"
            }
            Ok(Mailbox::NoTrigger) => {
                self.errors += 1;
                "550 5.1.1 no such mailbox here"
            }
            Err(err) => {
                tracing::warn!(error = %err, "smtp: looking up a recipient failed");
                "451 4.3.0 temporary failure, try again later"
            }
        };
        Ok(self.reply(reply).await?)
    }

    /// `DATA`: the message, then the decision; `false` to end the session.
    async fn data(&mut self) -> Result<bool, End> {
        if self.sender.is_none() || self.recipients.is_empty() {
            self.errors += 1;
            self.reply("554 5.5.1 no valid recipients").await?;
            return Ok(true);
        }
        self.reply("354 end the message with <CRLF>.<CRLF>").await?;
        let mut receiver = smtp_proto::request::receiver::DataReceiver::new();
        let mut message = Vec::new();
        let mut too_big = false;
        loop {
            let chunk =
                match tokio::time::timeout(self.config.command_timeout, self.reader.fill_buf())
                    .await
                {
                    Err(_) => {
                        self.reply("421 4.4.2 the message stopped arriving, closing")
                            .await?;
                        return Err(End::Timeout);
                    }
                    Ok(result) => result?,
                };
            if chunk.is_empty() {
                return Err(End::Closed);
            }
            let mut bytes = chunk.iter();
            let done = receiver.ingest(&mut bytes, &mut message);
            let used = chunk.len() - bytes.as_slice().len();
            self.reader.consume(used);
            if message.len() > self.config.max_bytes {
                // Read to the end (so the session can go on) but keep none.
                too_big = true;
                message.clear();
            }
            if done {
                break;
            }
        }
        let recipients = std::mem::take(&mut self.recipients);
        let sender = self.sender.take().unwrap_or_default();
        if too_big {
            self.reply(&format!(
                "552 5.3.4 the message is larger than {} bytes",
                self.config.max_bytes
            ))
            .await?;
            return Ok(true);
        }
        let reply = self.deliver(&sender, &recipients, &message).await;
        self.reply(&reply).await?;
        Ok(true)
    }

    /// Stores the message for each recipient's trigger; the reply.
    async fn deliver(&self, sender: &str, recipients: &[Recipient], raw: &[u8]) -> String {
        let Some(parsed) = MessageParser::default().parse(raw) else {
            return "554 5.6.0 the message cannot be parsed".into();
        };
        // One run per trigger: two addresses of the same `*` trigger are one
        // message for it, with the first of them as its recipient.
        let mut messages: Vec<(AppId, String, String)> = Vec::new();
        for recipient in recipients {
            if messages
                .iter()
                .any(|(app, queue, _)| *app == recipient.app_id && *queue == recipient.queue)
            {
                continue;
            }
            let payload = payload(&parsed, sender, &recipient.address).to_string();
            messages.push((recipient.app_id, recipient.queue.clone(), payload));
        }
        match self.manager.store.enqueue_inbound(&messages).await {
            Ok(stored) => {
                crate::queue_runner::wake();
                format!("250 2.0.0 queued as {}", stored.join(" "))
            }
            Err(StoreError::QuotaExceeded(message)) => format!("452 4.3.1 {message}"),
            Err(StoreError::Invalid { message, .. }) => format!("552 5.3.4 {message}"),
            Err(err) => {
                tracing::warn!(error = %err, "smtp: storing a message failed");
                "451 4.3.0 temporary failure, try again later".into()
            }
        }
    }
}

/// An smtp-proto parse error as a sentence.
fn describe(error: &smtp_proto::Error) -> String {
    match error {
        smtp_proto::Error::InvalidSenderAddress => "the sender address is not valid".into(),
        smtp_proto::Error::InvalidRecipientAddress => "the recipient address is not valid".into(),
        smtp_proto::Error::SyntaxError { syntax } => format!("expected {syntax}"),
        smtp_proto::Error::InvalidParameter { param } => format!("parameter {param} is not valid"),
        smtp_proto::Error::UnsupportedParameter { param } => {
            format!("parameter {param} is not supported")
        }
        smtp_proto::Error::ResponseTooLong => "the line is too long".into(),
        _ => "the command cannot be read".into(),
    }
}

/// The message as its script's `request.email` (the JSON body of the run):
/// addresses, subject, date, ids, the text and HTML bodies, the headers
/// (raw values, unfolded; repeats joined by `, `), the attachments with
/// their contents in base64 (the guest turns them into blobs), and the
/// envelope: the `recipient` it was delivered to and the `sender`.
fn payload(message: &mail_parser::Message<'_>, sender: &str, recipient: &str) -> Value {
    let addresses = |list: Option<&mail_parser::Address<'_>>| -> Vec<String> {
        list.map(|a| {
            a.iter()
                .filter_map(|a| a.address().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
    };
    let from = message.from().and_then(|a| a.first());
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in message.headers_raw() {
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        headers
            .entry(name.to_ascii_lowercase())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    // `body_html` makes HTML out of a plain-text message: only a real HTML
    // part counts as `html`.
    let html = message
        .html_part(0)
        .filter(|part| part.is_text_html())
        .and_then(|_| message.body_html(0));
    let attachments: Vec<Value> = message
        .attachments()
        .map(|part| {
            let content_type = part.content_type().map_or_else(
                || "application/octet-stream".to_owned(),
                |ct| match ct.subtype() {
                    Some(sub) => format!("{}/{sub}", ct.ctype()),
                    None => ct.ctype().to_owned(),
                },
            );
            json!({
                "filename": part.attachment_name(),
                "content_type": content_type,
                "size": part.contents().len(),
                "content_base64": base64::engine::general_purpose::STANDARD.encode(part.contents()),
            })
        })
        .collect();
    json!({
        "from": from.and_then(|a| a.address()),
        "from_name": from.and_then(|a| a.name()),
        "to": addresses(message.to()),
        "cc": addresses(message.cc()),
        "reply_to": addresses(message.reply_to()),
        "subject": message.subject(),
        "date": message.date().map(|d| d.to_rfc3339()),
        "message_id": message.message_id(),
        "text": message.body_text(0),
        "html": html,
        "headers": headers,
        "attachments": attachments,
        "recipient": recipient,
        "sender": sender,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &str = "From: Ada Lovelace <ada@example.org>\r\n\
        To: support@shop.example.com\r\n\
        Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\
        Date: Mon, 07 Dec 2026 10:00:00 +0000\r\n\
        Message-ID: <m1@example.org>\r\n\
        X-Long: one\r\n two\r\n\
        MIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=b\r\n\
        \r\n\
        --b\r\n\
        Content-Type: text/plain; charset=utf-8\r\n\
        \r\n\
        Hello there\r\n\
        --b\r\n\
        Content-Type: application/pdf; name=invoice.pdf\r\n\
        Content-Disposition: attachment; filename=invoice.pdf\r\n\
        Content-Transfer-Encoding: base64\r\n\
        \r\n\
        JVBERi0=\r\n\
        --b--\r\n";

    #[test]
    fn a_message_becomes_the_scripts_email() {
        let parsed = MessageParser::default().parse(MESSAGE.as_bytes()).unwrap();
        let email = payload(&parsed, "bounce@example.org", "support@shop.example.com");
        assert_eq!(email["from"], "ada@example.org");
        assert_eq!(email["from_name"], "Ada Lovelace");
        assert_eq!(email["to"], json!(["support@shop.example.com"]));
        assert_eq!(email["subject"], "Grüße");
        assert_eq!(email["date"], "2026-12-07T10:00:00Z");
        assert_eq!(email["message_id"], "m1@example.org");
        assert_eq!(email["text"], "Hello there");
        assert_eq!(email["html"], Value::Null, "no HTML part");
        assert_eq!(email["headers"]["x-long"], "one two");
        assert_eq!(email["attachments"][0]["filename"], "invoice.pdf");
        assert_eq!(email["attachments"][0]["content_type"], "application/pdf");
        assert_eq!(email["attachments"][0]["size"], 5);
        assert_eq!(email["attachments"][0]["content_base64"], "JVBERi0=");
        assert_eq!(email["recipient"], "support@shop.example.com");
        assert_eq!(email["sender"], "bounce@example.org");
    }

    #[test]
    fn the_greeting_names_the_public_host() {
        assert_eq!(
            greeting_host("https://pi.example.com:8443"),
            "pi.example.com"
        );
        assert_eq!(greeting_host("nonsense"), "picloud");
    }
}
