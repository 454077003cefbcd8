//! Mail over real SMTP on loopback (docs/scripting.md, "Email").
//!
//! Out: `email::send` from a route, delivered by lettre to an SMTP relay the
//! test runs (a small server in this file that records what it is sent and
//! can refuse or be down), the send listed on the execution record with the
//! relay's reply and without the body, senders limited to the app's domains,
//! the hourly quota, a refusing relay, a relay that is down and comes back.
//! In: mail sent with Python's smtplib to the server's SMTP listener runs
//! the email trigger's script with the parsed message (attachments as
//! blobs), and every recipient the server does not serve is refused at
//! `RCPT TO`. Every test runs on SQLite and on PostgreSQL.

#[macro_use]
mod support;

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::relay::{Mode, Relay};
use support::{Db, TestServer, config, eventually};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn main() {
    testkit::harness::run_on_both_databases(tests![
        a_script_sends_mail_through_the_relay_and_its_record_lists_it,
        senders_quota_and_a_server_without_a_relay_are_refused,
        a_refusing_relay_fails_the_message_and_a_relay_that_was_down_gets_it_later,
        inbound_mail_runs_the_email_trigger_and_other_recipients_are_refused,
    ])
}

/// A server whose mail goes to `relay`, with the default sender
/// `noreply@pi.test`, and an app `shop` claiming `shop.test` and
/// `{tenant}.shops.test`.
async fn server(db: &Db, relay: Option<SocketAddr>, per_hour: u32) -> TestServer {
    let data = tempfile::tempdir().unwrap();
    let mut config = config(data.path().to_owned(), db, Some(support::TOKEN));
    support::relay::mail_to(&mut config, relay, per_hour);
    let mut s = TestServer::at(config).await;
    s._data = Some(data);
    // A second server of a test on PostgreSQL shares the first one's data.
    let (status, _) = s.admin(Method::GET, "/api/v1/admin/apps/shop", None).await;
    if status == StatusCode::OK {
        return s;
    }
    s.app_on("shop", "shop.test").await;
    let (status, body) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps/shop/domains",
            Some(json!({"pattern": "{tenant}.shops.test"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    s
}

/// What `source` throws, caught: the message a script would see.
async fn thrown(s: &TestServer, source: &str) -> String {
    // `try` is a statement in Rhai: the message goes out through a variable.
    let caught =
        format!("let r = \"no error\"; try {{ {source}; }} catch (e) {{ r = `${{e}}`; }} r");
    let (status, body) = send(s, &caught).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Runs `source` as `POST /send` of `shop`; status and body.
async fn send(s: &TestServer, source: &str) -> (StatusCode, String) {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let name = format!(
        "send{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    s.deploy("shop", &name, source, "POST", &format!("/{name}"))
        .await;
    s.call(Method::POST, "shop.test", &format!("/{name}")).await
}

/// The newest execution of `shop` in full, once its record lists a send.
async fn last_execution(s: &TestServer) -> Value {
    eventually(
        "the record lists the send",
        Duration::from_secs(30),
        || async {
            let (_, list) = s
                .admin(
                    Method::GET,
                    "/api/v1/admin/executions?app=shop&limit=1",
                    None,
                )
                .await;
            let id = list["executions"][0]["id"].as_str()?.to_owned();
            let (_, record) = s
                .admin(Method::GET, &format!("/api/v1/admin/executions/{id}"), None)
                .await;
            (!record["emails"].as_array()?.is_empty()).then_some(record)
        },
    )
    .await
}

/// The app's message `id` as `GET /apps/shop/emails` lists it, once it has
/// left the `queued` state.
async fn settled(s: &TestServer, id: &str) -> Value {
    eventually(
        "the message is sent or fails",
        Duration::from_secs(30),
        || async {
            let (_, list) = s
                .admin(Method::GET, "/api/v1/admin/apps/shop/emails", None)
                .await;
            list["emails"]
                .as_array()?
                .iter()
                .find(|e| e["id"] == id && e["status"] != "queued")
                .cloned()
        },
    )
    .await
}

async fn a_script_sends_mail_through_the_relay_and_its_record_lists_it(db: Db) {
    let (relay, addr) = Relay::start("127.0.0.1:0".parse().unwrap(), Mode::Accept).await;
    let s = server(&db, Some(addr), 100).await;

    let (status, id) = send(
        &s,
        r#"email::send(#{
            from: "Shop <orders@shop.test>",
            to: "ada@example.org",
            cc: ["bob@example.org"],
            reply_to: "help@shop.test",
            subject: "Your order",
            text: "Thanks for ordering.",
            html: "<p>Thanks for <b>ordering</b>.</p>",
        })"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{id}");
    let got = eventually(
        "the relay gets the message",
        Duration::from_secs(30),
        || async { relay.received().into_iter().next() },
    )
    .await;
    assert_eq!(got.from, "<orders@shop.test>");
    assert_eq!(got.to, ["<ada@example.org>", "<bob@example.org>"]);
    assert!(got.data.contains("Subject: Your order"), "{}", got.data);
    assert!(
        got.data.contains("From: Shop <orders@shop.test>"),
        "{}",
        got.data
    );
    assert!(
        got.data.contains("Reply-To: help@shop.test"),
        "{}",
        got.data
    );
    assert!(
        got.data.contains(&format!("Message-ID: <{id}@shop.test>")),
        "{}",
        got.data
    );
    assert!(got.data.contains("multipart/alternative"), "{}", got.data);
    assert!(got.data.contains("Thanks for ordering."), "{}", got.data);

    // The execution's record lists the send, its outcome and the relay's
    // reply, and never the body.
    let sent = settled(&s, &id).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    let record = last_execution(&s).await;
    let emails = &record["emails"];
    assert_eq!(emails.as_array().map(Vec::len), Some(1), "{record}");
    assert_eq!(emails[0]["id"], id);
    assert_eq!(emails[0]["to"], json!(["ada@example.org"]));
    assert_eq!(emails[0]["cc"], json!(["bob@example.org"]));
    assert_eq!(emails[0]["subject"], "Your order");
    assert_eq!(emails[0]["status"], "sent");
    assert_eq!(emails[0]["attempts"], 1);
    assert_eq!(emails[0]["reply"], "250 2.0.0 Ok: queued as R1");
    assert!(!record.to_string().contains("Thanks for"), "{record}");

    // A tenant host of a wildcard claim, and the default sender.
    let (status, _) = send(
        &s,
        r#"email::send(#{ from: "hi@acme.shops.test", to: "ada@example.org", subject: "T", text: "t" })"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(
        &s,
        r#"email::send(#{ to: ["ada@example.org"], subject: "Default", html: "<p>x</p>" })"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let all = eventually("three messages", Duration::from_secs(30), || async {
        let all = relay.received();
        (all.len() == 3).then_some(all)
    })
    .await;
    assert!(all.iter().any(|m| m.from == "<hi@acme.shops.test>"));
    let default = all
        .iter()
        .find(|m| m.data.contains("Subject: Default"))
        .unwrap();
    assert_eq!(default.from, "<noreply@pi.test>");
    assert!(
        default.data.contains("From: PiCloud <noreply@pi.test>"),
        "{}",
        default.data
    );
    assert!(default.data.contains("text/html"), "{}", default.data);
    s.stop().await;
}

async fn senders_quota_and_a_server_without_a_relay_are_refused(db: Db) {
    let (relay, addr) = Relay::start("127.0.0.1:0".parse().unwrap(), Mode::Accept).await;
    let s = server(&db, Some(addr), 2).await;
    // Someone else's domain: refused when the script sends, naming why.
    let body = thrown(
        &s,
        r#"email::send(#{ from: "ceo@bank.example", to: "ada@example.org", subject: "Hi", text: "x" })"#,
    )
    .await;
    assert!(
        body.contains("email::send: from: bank.example is not a domain this app claims"),
        "{body}"
    );
    for (source, says) in [
        (
            r#"email::send(#{ to: "nobody", subject: "Hi", text: "x" })"#,
            "'nobody' is not an email address",
        ),
        (
            r#"email::send(#{ to: "a@b.example", text: "x" })"#,
            "subject is required",
        ),
        (
            r#"email::send(#{ to: "a@b.example", subject: "Hi" })"#,
            "needs a body",
        ),
        (
            r#"email::send(#{ to: "a@b.example", subject: "Hi", text: "x", bcc: "c@d.example" })"#,
            "unknown field 'bcc'",
        ),
        (
            r#"email::send(#{ to: 42, subject: "Hi", text: "x" })"#,
            "to must be an address or an array",
        ),
    ] {
        let body = thrown(&s, source).await;
        assert!(body.contains(says), "{source}: {body}");
    }
    // Two an hour: the third throws, and a script can catch it.
    let one = r#"email::send(#{ to: "a@b.example", subject: "Hi", text: "x" })"#;
    for _ in 0..2 {
        let (status, body) = send(&s, one).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let body = thrown(&s, one).await;
    assert!(body.contains("hourly quota (2)"), "{body}");
    eventually("two delivered", Duration::from_secs(30), || async {
        (relay.received().len() == 2).then_some(())
    })
    .await;
    s.stop().await;

    // No relay configured: mail is refused at once, saying so.
    let s = server(&db, None, 100).await;
    let body = thrown(&s, one).await;
    assert!(body.contains("mail is not set up on this server"), "{body}");
    s.stop().await;
}

async fn a_refusing_relay_fails_the_message_and_a_relay_that_was_down_gets_it_later(db: Db) {
    // A port nobody listens on yet: the relay is down.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let s = server(&db, Some(addr), 100).await;
    let one = r#"email::send(#{ to: "ada@example.org", subject: "Hi", text: "x" })"#;
    let (status, waiting) = send(&s, one).await;
    assert_eq!(status, StatusCode::OK, "{waiting}");
    // Retried with backoff, still queued, the reason recorded.
    let retried = eventually("two failed attempts", Duration::from_secs(30), || async {
        let (_, list) = s
            .admin(
                Method::GET,
                "/api/v1/admin/apps/shop/emails?status=queued",
                None,
            )
            .await;
        list["emails"]
            .as_array()?
            .iter()
            .find(|e| e["id"] == waiting && e["attempts"].as_i64() >= Some(2))
            .cloned()
    })
    .await;
    let reason = retried["reply"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        reason.contains("connect") || reason.contains("refused"),
        "{retried}"
    );

    // The relay comes up refusing this sender: the message fails for good
    // with its reply, and the one waiting too.
    let (relay, _) = Relay::start(addr, Mode::Refuse).await;
    let failed = settled(&s, &waiting).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["reply"].as_str().unwrap().contains("550"),
        "{failed}"
    );
    assert!(relay.received().is_empty());

    // It accepts again: the next message goes.
    relay.set_mode(Mode::Accept);
    let (_, id) = send(&s, one).await;
    let sent = settled(&s, &id).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    assert_eq!(relay.received().len(), 1);
    s.stop().await;
}

/// Sends one message with Python's smtplib to the server's listener; what
/// the server answered, as JSON: `{"ok": [...], "refused": {...}}` or
/// `{"error": "..."}`.
fn smtplib(smtp: SocketAddr, to: &[&str], attachment: bool) -> Value {
    let script = r#"
import json, smtplib, sys
from email.message import EmailMessage
host, port, to, attach = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(','), sys.argv[4] == '1'
m = EmailMessage()
m['From'] = 'Ada Lovelace <ada@example.org>'
m['To'] = ', '.join(to)
m['Subject'] = 'Grüße vom Test'
m['Message-ID'] = '<m1@example.org>'
m.set_content('Hello from smtplib')
m.add_alternative('<p>Hello from <b>smtplib</b></p>', subtype='html')
if attach:
    m.add_attachment(bytes(range(256)) * 4, maintype='application', subtype='octet-stream', filename='data.bin')
try:
    with smtplib.SMTP(host, port, timeout=30) as s:
        refused = s.send_message(m, from_addr='bounce@example.org', to_addrs=to)
        print(json.dumps({'refused': {k: [v[0], v[1].decode()] for k, v in refused.items()}}))
except smtplib.SMTPRecipientsRefused as e:
    print(json.dumps({'all_refused': {k: [v[0], v[1].decode()] for k, v in e.recipients.items()}}))
except smtplib.SMTPException as e:
    print(json.dumps({'error': str(e)}))
"#;
    support::relay::python_json(
        script,
        &[
            &smtp.ip().to_string(),
            &smtp.port().to_string(),
            &to.join(","),
            if attachment { "1" } else { "0" },
        ],
    )
}

async fn inbound_mail_runs_the_email_trigger_and_other_recipients_are_refused(db: Db) {
    let s = server(&db, None, 100).await;
    let smtp = s
        .server
        .as_ref()
        .unwrap()
        .smtp_addr
        .expect("the SMTP listener runs");
    s.script_in(
        "shop",
        "inbox",
        r#"
        let m = request.email;
        kv::set(`mail:${m.recipient}`, #{
            trigger: request.trigger, from: m.from, from_name: m.from_name, to: m.to,
            subject: m.subject, text: m.text, html: m.html, message_id: m.message_id,
            header: m.headers["message-id"], files: m.attachments.map(|a| a.filename),
            size: if m.attachments.is_empty() { 0 } else { m.attachments[0].content.len() },
            last_byte: if m.attachments.is_empty() { -1 } else { m.attachments[0].content[1023] },
            sender: m.sender, attempt: request.attempt,
        });
        "#,
    )
    .await;
    for email in ["support", "*"] {
        let (status, body) = s
            .admin(
                Method::POST,
                "/api/v1/admin/apps/shop/triggers",
                Some(json!({"script": "inbox", "email": email})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["kind"], "email");
        assert_eq!(body["email"], email);
    }
    let (status, body) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps/shop/triggers",
            Some(json!({"script": "inbox", "email": "support"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps/shop/triggers",
            Some(json!({"script": "inbox", "email": "a b@"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(support::code(&body), "invalid_trigger");

    // One message to an exact address and a wildcard tenant's, plus two
    // recipients the server does not serve: those two are refused at RCPT.
    let answer = smtplib(
        smtp,
        &[
            "Support@shop.test",
            "sales@acme.shops.test",
            "someone@gmail.example",
        ],
        true,
    );
    let refused = &answer["refused"];
    assert_eq!(refused["someone@gmail.example"][0], 550, "{answer}");
    assert!(refused.get("Support@shop.test").is_none(), "{answer}");

    let kv = |key: &'static str| {
        let s = &s;
        async move {
            let (status, body) = s
                .admin(
                    Method::GET,
                    &format!("/api/v1/admin/apps/shop/kv/{key}"),
                    None,
                )
                .await;
            (status == StatusCode::OK).then(|| body["value"].clone())
        }
    };
    let support = eventually("the support trigger ran", Duration::from_secs(30), || {
        kv("mail:support@shop.test")
    })
    .await;
    assert_eq!(support["trigger"], "email");
    assert_eq!(support["from"], "ada@example.org");
    assert_eq!(support["from_name"], "Ada Lovelace");
    assert_eq!(support["subject"], "Grüße vom Test");
    assert_eq!(
        support["text"].as_str().map(str::trim),
        Some("Hello from smtplib")
    );
    assert!(
        support["html"].as_str().unwrap().contains("<b>smtplib</b>"),
        "{support}"
    );
    assert_eq!(support["message_id"], "m1@example.org");
    assert_eq!(support["header"], "<m1@example.org>");
    assert_eq!(support["files"], json!(["data.bin"]));
    assert_eq!(support["size"], 1024);
    assert_eq!(support["last_byte"], 255);
    assert_eq!(support["sender"], "bounce@example.org");
    assert_eq!(support["attempt"], 1);
    // The `*` trigger took the tenant address.
    let sales = eventually("the * trigger ran", Duration::from_secs(30), || {
        kv("mail:sales@acme.shops.test")
    })
    .await;
    assert_eq!(sales["subject"], "Grüße vom Test");

    // Recipients at a domain no app claims, or (without a `*` trigger) an
    // address with none, are refused: never a relay.
    let (status, _) = s
        .admin(Method::GET, "/api/v1/admin/apps/shop/triggers", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let answer = smtplib(smtp, &["victim@bank.example"], false);
    assert_eq!(
        answer["all_refused"]["victim@bank.example"][0], 550,
        "{answer}"
    );
    s.app_on("blog", "blog.test").await;
    let answer = smtplib(smtp, &["anyone@blog.test"], false);
    assert_eq!(
        answer["all_refused"]["anyone@blog.test"][0], 550,
        "{answer}"
    );
    assert!(
        answer["all_refused"]["anyone@blog.test"][1]
            .as_str()
            .unwrap()
            .contains("no such mailbox"),
        "{answer}"
    );

    // Over the size limit: 552, nothing stored.
    let raw = format!(
        "From: a@example.org\r\nTo: support@shop.test\r\nSubject: big\r\n\r\n{}\r\n",
        "x".repeat(1 << 20)
    );
    let answer = raw_smtp(smtp, "support@shop.test", &raw).await;
    assert!(answer.contains("552"), "{answer}");
    s.stop().await;
}

/// One message through a raw SMTP dialogue; the server's replies.
async fn raw_smtp(smtp: SocketAddr, to: &str, message: &str) -> String {
    let stream = tokio::net::TcpStream::connect(smtp).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut replies = String::new();
    let mut expect =
        async |lines: &mut tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>| {
            loop {
                let line = lines.next_line().await.unwrap().unwrap_or_default();
                replies.push_str(&line);
                replies.push('\n');
                if line.len() < 4 || line.as_bytes()[3] != b'-' {
                    break;
                }
            }
        };
    expect(&mut lines).await;
    for command in [
        "EHLO test",
        "MAIL FROM:<a@example.org>",
        &format!("RCPT TO:<{to}>"),
        "DATA",
    ] {
        write
            .write_all(format!("{command}\r\n").as_bytes())
            .await
            .unwrap();
        expect(&mut lines).await;
    }
    write.write_all(message.as_bytes()).await.unwrap();
    write.write_all(b".\r\nQUIT\r\n").await.unwrap();
    expect(&mut lines).await;
    expect(&mut lines).await;
    replies
}
