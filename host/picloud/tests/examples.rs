//! The example apps under examples/, each deployed with `picloud deploy`
//! into a fresh server and used over HTTP (and SMTP) the way their READMEs
//! say, on SQLite and on PostgreSQL: the proof that the platform's features
//! work together as a user combines them.
//!
//! - link-shortener: links with a time to live, redirects counted per link
//!   and per day, stats, an admin-only delete behind an interceptor, CORS.
//! - guestbook: accounts, entries with paging and ownership, a per-account
//!   post limit, a password reset mailed through a queue to a real SMTP relay.
//! - webhook-inbox: HMAC-signed webhooks queued and forwarded to an HTTP
//!   server that fails once, mail to inbox@ through the SMTP listener, and
//!   the daily digest mailed when its cron trigger runs.

#[macro_use]
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;
use support::relay::{Mode, Relay};
use support::{Db, TOKEN, TestServer, config, eventually};

const BIN: &str = env!("CARGO_BIN_EXE_picloud");
const ADMIN: &str = "example-admin-token-4f1c9a";

fn main() {
    testkit::harness::run_on_both_databases(tests![
        the_link_shortener_shortens_redirects_counts_and_guards_deletes,
        the_guestbook_keeps_accounts_entries_and_mails_a_reset,
        the_webhook_inbox_checks_queues_forwards_and_mails_a_digest,
    ])
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}

/// A server with the mail relay at `relay`, its SMTP listener on a free
/// port, and outbound HTTP to loopback allowed (the inbox's downstream
/// service runs in the test).
async fn server(db: &Db, relay: SocketAddr) -> TestServer {
    let data = tempfile::tempdir().unwrap();
    let mut config = config(data.path().to_owned(), db, Some(TOKEN));
    support::relay::mail_to(&mut config, Some(relay), 100);
    config.outbound.allow_private = true;
    let mut s = TestServer::at(config).await;
    s._data = Some(data);
    s
}

/// `picloud deploy <folder>` against `s`, as a user runs it; what it printed.
async fn deploy(s: &TestServer, folder: &Path) -> String {
    let base = s.base.clone();
    let folder = folder.to_owned();
    let config = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(BIN)
            .arg("deploy")
            .arg(&folder)
            .args(["-m", "from examples/"])
            .env("PICLOUD_URL", base)
            .env("PICLOUD_TOKEN", TOKEN)
            .env("PICLOUD_CONFIG", config.path().join("config.toml"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "picloud deploy failed:\n{stdout}\n{stderr}"
    );
    // The plan on standard output, then the warnings on standard error.
    format!("{stdout}{stderr}")
}

/// Sets the app's secret `name`, as the READMEs tell the user to.
async fn secret(s: &TestServer, app: &str, name: &str, value: &str) {
    let (status, body) = s
        .admin(
            Method::PUT,
            &format!("/api/v1/admin/apps/{app}/variables/{name}"),
            Some(json!({"value": value, "secret": true})),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
}

/// An answer: status, headers, body as JSON (or the text as a JSON string).
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| Value::String(self.text.clone()))
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// A request to the app on `host`, as curl or a browser sends it.
async fn call(
    s: &TestServer,
    method: Method,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Answer {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut request = client
        .request(method, format!("{}{path}", s.base))
        .header("host", host);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

/// What the server answers the app's request; asserts the status.
async fn expect(
    s: &TestServer,
    (method, host, path): (Method, &str, &str),
    headers: &[(&str, &str)],
    body: Option<Value>,
    want: u16,
) -> Answer {
    let text = body.map(|b| b.to_string());
    let answer = call(s, method.clone(), host, path, headers, text.as_deref()).await;
    if answer.status.as_u16() != want {
        // A failed script answers a generic 500: its record says why.
        let (_, newest) = s
            .admin(Method::GET, "/api/v1/admin/executions?limit=1", None)
            .await;
        panic!(
            "{method} {host}{path}: {} {}, want {want}; newest execution's error: {}",
            answer.status, answer.text, newest["executions"][0]["error"]
        );
    }
    answer
}

// --- link shortener -------------------------------------------------------------

async fn the_link_shortener_shortens_redirects_counts_and_guards_deletes(db: Db) {
    let (_relay, relay_addr) = Relay::start("127.0.0.1:0".parse().unwrap(), Mode::Accept).await;
    let s = server(&db, relay_addr).await;
    let plan = deploy(&s, &example("link-shortener")).await;
    assert!(plan.contains("+ create app links"), "{plan}");
    assert!(
        plan.contains("+ create interceptor admin-guard @ /v1/admin/"),
        "{plan}"
    );
    assert!(
        plan.contains("warning: secret ADMIN_TOKEN is not set"),
        "{plan}"
    );
    const H: &str = "links.localhost";

    // Before the secret is set the app says what is missing.
    let answer = expect(
        &s,
        (Method::POST, H, "/v1/links"),
        &[],
        Some(json!({"url": "https://example.com/"})),
        503,
    )
    .await;
    assert!(answer.text.contains("ADMIN_TOKEN"), "{}", answer.text);
    secret(&s, "links", "ADMIN_TOKEN", ADMIN).await;

    // The page.
    let page = expect(&s, (Method::GET, H, "/"), &[], None, 200).await;
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(page.text.contains("<form id=\"shorten\">"), "{}", page.text);

    // A link with a chosen code, and one with a generated code that expires.
    let made = expect(
        &s,
        (Method::POST, H, "/v1/links"),
        &[],
        Some(json!({"url": "https://www.raspberrypi.com/", "code": "pi"})),
        201,
    )
    .await;
    let link = made.json();
    assert_eq!(link["code"], "pi");
    assert_eq!(made.header("location"), "/v1/links/pi");
    assert_eq!(link["short_url"], format!("http://{H}/pi"), "{link}");
    assert_eq!(link["expires"], Value::Null);
    let other = expect(
        &s,
        (Method::POST, H, "/v1/links"),
        &[],
        Some(json!({"url": "https://example.org/a?b=c", "ttl_days": 7, "permanent": true})),
        201,
    )
    .await
    .json();
    let code = other["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 7, "{other}");
    assert!(code.chars().all(|c| c.is_ascii_hexdigit()), "{other}");
    assert!(other["expires"].as_str().unwrap().ends_with('Z'), "{other}");
    // Its key carries the time to live the request asked for; the other's has none.
    let (_, key) = s
        .admin(
            Method::GET,
            &format!("/api/v1/admin/apps/links/kv/link:{code}"),
            None,
        )
        .await;
    assert!(key["expires_at"].is_string(), "{key}");
    let (_, key) = s
        .admin(Method::GET, "/api/v1/admin/apps/links/kv/link:pi", None)
        .await;
    assert_eq!(key["expires_at"], Value::Null, "{key}");

    // Bad input is refused with what is wrong.
    for (body, want, says) in [
        (json!({"url": "ftp://x"}), 400, "http:// or https://"),
        (
            json!({"url": "https://x.test/", "code": "a b"}),
            400,
            "not ' '",
        ),
        (
            json!({"url": "https://x.test/", "code": "pi"}),
            409,
            "taken",
        ),
        (
            json!({"url": "https://x.test/", "ttl": 3}),
            400,
            "unknown field 'ttl'",
        ),
        (
            json!({"url": "https://x.test/", "ttl_days": -1}),
            400,
            "ttl_days",
        ),
    ] {
        let answer = expect(&s, (Method::POST, H, "/v1/links"), &[], Some(body), want).await;
        assert!(answer.text.contains(says), "{}", answer.text);
    }
    let answer = call(&s, Method::POST, H, "/v1/links", &[], Some("not json")).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);

    // Redirects: 302 for a plain link, 301 for a permanent one, counted.
    for _ in 0..3 {
        let hop = expect(&s, (Method::GET, H, "/pi"), &[], None, 302).await;
        assert_eq!(hop.header("location"), "https://www.raspberrypi.com/");
    }
    let hop = expect(&s, (Method::GET, H, &format!("/{code}")), &[], None, 301).await;
    assert_eq!(hop.header("location"), "https://example.org/a?b=c");
    expect(&s, (Method::GET, H, "/nope"), &[], None, 404).await;

    let stats = expect(&s, (Method::GET, H, "/v1/links/pi"), &[], None, 200)
        .await
        .json();
    assert_eq!(stats["visits"], 3, "{stats}");
    assert_eq!(stats["url"], "https://www.raspberrypi.com/");
    let days = stats["days"].as_object().unwrap();
    assert_eq!(days.len(), 1, "{stats}");
    let (day, count) = days.iter().next().unwrap();
    assert_eq!(count, 3, "{stats}");
    // Today's UTC date (the run could straddle midnight: either side).
    let today = |offset: i64| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            + offset;
        let days = now.div_euclid(86400);
        // Civil date from days since 1970 (H. Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!("{y:04}-{m:02}-{d:02}")
    };
    assert!(
        *day == today(0) || *day == today(-120),
        "{day} is not today ({})",
        today(0)
    );

    // CORS: the front end's origin may call the API from a browser.
    let preflight = expect(
        &s,
        (Method::OPTIONS, H, "/v1/links"),
        &[
            ("origin", "http://localhost:3000"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type"),
        ],
        None,
        204,
    )
    .await;
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        "http://localhost:3000"
    );
    assert!(
        preflight
            .header("access-control-allow-methods")
            .contains("POST")
    );
    let read = expect(
        &s,
        (Method::GET, H, "/v1/links/pi"),
        &[("origin", "http://localhost:3000")],
        None,
        200,
    )
    .await;
    assert_eq!(
        read.header("access-control-allow-origin"),
        "http://localhost:3000"
    );
    let elsewhere = expect(
        &s,
        (Method::GET, H, "/v1/links/pi"),
        &[("origin", "https://evil.example")],
        None,
        200,
    )
    .await;
    assert_eq!(elsewhere.header("access-control-allow-origin"), "");

    // Deleting needs the admin token; the interceptor stops the rest.
    let path = "/v1/admin/links/pi";
    let refused = expect(&s, (Method::DELETE, H, path), &[], None, 401).await;
    assert_eq!(refused.header("www-authenticate"), "Bearer");
    expect(
        &s,
        (Method::DELETE, H, path),
        &[("authorization", "Bearer wrong")],
        None,
        401,
    )
    .await;
    let bearer = format!("Bearer {ADMIN}");
    expect(
        &s,
        (Method::DELETE, H, path),
        &[("authorization", &bearer)],
        None,
        204,
    )
    .await;
    expect(
        &s,
        (Method::DELETE, H, path),
        &[("authorization", &bearer)],
        None,
        404,
    )
    .await;
    expect(&s, (Method::GET, H, "/pi"), &[], None, 404).await;
    expect(&s, (Method::GET, H, "/v1/links/pi"), &[], None, 404).await;
    // Its counters went with it.
    let (_, keys) = s
        .admin(
            Method::GET,
            "/api/v1/admin/apps/links/kv?prefix=visits:pi",
            None,
        )
        .await;
    assert_eq!(keys["items"].as_array().map(Vec::len), Some(0), "{keys}");
    s.stop().await;
}

// --- guestbook --------------------------------------------------------------------

async fn the_guestbook_keeps_accounts_entries_and_mails_a_reset(db: Db) {
    let (relay, relay_addr) = Relay::start("127.0.0.1:0".parse().unwrap(), Mode::Accept).await;
    let s = server(&db, relay_addr).await;
    let plan = deploy(&s, &example("guestbook")).await;
    assert!(plan.contains("+ create app guestbook"), "{plan}");
    assert!(plan.contains("+ create queue mail → mailer"), "{plan}");
    const H: &str = "guestbook.localhost";
    let post = |path: &'static str| (Method::POST, H, path);

    let page = expect(&s, (Method::GET, H, "/"), &[], None, 200).await;
    assert!(page.text.contains("<h1>Guestbook</h1>"));

    // Sign up: the module's checks, then users::'s own.
    let ada =
        json!({"email": "ada@example.com", "password": "correct horse battery", "name": "Ada"});
    let answer = expect(
        &s,
        post("/v1/signup"),
        &[],
        Some(json!({"email": "x@example.com", "password": "correct horse battery"})),
        400,
    )
    .await;
    assert_eq!(answer.json()["error"], "name must be a string");
    let answer = expect(
        &s,
        post("/v1/signup"),
        &[],
        Some(json!({"email": "x@example.com", "password": "short", "name": "X"})),
        400,
    )
    .await;
    assert_eq!(
        answer.json()["error"]["code"],
        "weak_password",
        "{}",
        answer.text
    );
    let answer = expect(&s, post("/v1/signup"), &[], Some(json!({"email": "x@example.com", "password": "correct horse battery", "name": "X", "admin": true})), 400).await;
    assert!(
        answer.text.contains("unknown field 'admin'"),
        "{}",
        answer.text
    );
    let made = expect(&s, post("/v1/signup"), &[], Some(ada.clone()), 201)
        .await
        .json();
    assert_eq!(made["name"], "Ada");
    let answer = expect(&s, post("/v1/signup"), &[], Some(ada.clone()), 409).await;
    assert_eq!(answer.json()["error"]["code"], "email_taken");
    expect(
        &s,
        post("/v1/signup"),
        &[],
        Some(
            json!({"email": "bob@example.com", "password": "another long password", "name": "Bob"}),
        ),
        201,
    )
    .await;

    let login =
        |email: &'static str, password: &'static str| json!({"email": email, "password": password});
    let answer = expect(
        &s,
        post("/v1/login"),
        &[],
        Some(login("ada@example.com", "wrong password!")),
        401,
    )
    .await;
    assert_eq!(answer.json()["error"]["code"], "invalid_credentials");
    let ada_auth = sign_in(&s, "ada@example.com", "correct horse battery").await;
    let bob_auth = sign_in(&s, "bob@example.com", "another long password").await;
    let as_ada = [("authorization", ada_auth.as_str())];
    let as_bob = [("authorization", bob_auth.as_str())];
    let me = expect(&s, (Method::GET, H, "/v1/me"), &as_ada, None, 200)
        .await
        .json();
    assert_eq!(
        (me["email"].as_str(), me["name"].as_str()),
        (Some("ada@example.com"), Some("Ada"))
    );
    expect(&s, (Method::GET, H, "/v1/me"), &[], None, 401).await;

    // Posting: signed in, a real text, at most 5 in the window.
    expect(
        &s,
        post("/v1/entries"),
        &[],
        Some(json!({"text": "hi"})),
        401,
    )
    .await;
    let answer = expect(
        &s,
        post("/v1/entries"),
        &as_ada,
        Some(json!({"text": "   "})),
        400,
    )
    .await;
    assert_eq!(answer.json()["error"], "text is empty");
    let answer = expect(
        &s,
        post("/v1/entries"),
        &as_ada,
        Some(json!({"text": "x".repeat(501)})),
        400,
    )
    .await;
    assert!(answer.text.contains("500 characters"), "{}", answer.text);
    let mut ids = Vec::new();
    for i in 1..=5 {
        let entry = expect(
            &s,
            post("/v1/entries"),
            &as_ada,
            Some(json!({"text": format!("  entry {i}  ")})),
            201,
        )
        .await
        .json();
        assert_eq!(entry["text"], format!("entry {i}"), "{entry}");
        assert_eq!(entry["name"], "Ada");
        ids.push(entry["id"].as_str().unwrap().to_owned());
    }
    let limited = expect(
        &s,
        post("/v1/entries"),
        &as_ada,
        Some(json!({"text": "one more"})),
        429,
    )
    .await;
    assert_eq!(limited.header("retry-after"), "600");
    // The limit is per account: Bob still may.
    let bobs = expect(
        &s,
        post("/v1/entries"),
        &as_bob,
        Some(json!({"text": "Bob was here"})),
        201,
    )
    .await
    .json();

    // Reading: newest first, ten a page, then the rest with the cursor.
    for i in 0..6 {
        let want = if i < 4 { 201 } else { 429 };
        expect(
            &s,
            post("/v1/entries"),
            &as_bob,
            Some(json!({"text": format!("bob {i}")})),
            want,
        )
        .await;
    }
    let cy = json!({"email": "cy@example.com", "password": "a third long password", "name": "Cy"});
    expect(&s, post("/v1/signup"), &[], Some(cy), 201).await;
    let cy_auth = sign_in(&s, "cy@example.com", "a third long password").await;
    expect(
        &s,
        post("/v1/entries"),
        &[("authorization", cy_auth.as_str())],
        Some(json!({"text": "Cy says hi"})),
        201,
    )
    .await;
    let first = expect(&s, (Method::GET, H, "/v1/entries"), &[], None, 200)
        .await
        .json();
    let entries = first["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 10, "{first}");
    assert_eq!(entries[0]["text"], "Cy says hi", "{first}");
    assert_eq!(entries[0]["name"], "Cy", "{first}");
    let cursor = first["cursor"].as_str().expect("a second page").to_owned();
    let cursor: String = form_urlencoded::byte_serialize(cursor.as_bytes()).collect();
    let second = expect(
        &s,
        (Method::GET, H, &format!("/v1/entries?cursor={cursor}")),
        &[],
        None,
        200,
    )
    .await
    .json();
    let rest = second["entries"].as_array().unwrap();
    assert_eq!(rest.len(), 1, "{second}");
    assert_eq!(second["cursor"], Value::Null);
    let mut shown: Vec<&str> = entries
        .iter()
        .chain(rest)
        .filter_map(|e| e["text"].as_str())
        .collect();
    shown.sort_unstable();
    let mut posted = vec!["Bob was here", "Cy says hi"];
    posted.extend(["bob 0", "bob 1", "bob 2", "bob 3"]);
    posted.extend(["entry 1", "entry 2", "entry 3", "entry 4", "entry 5"]);
    posted.sort_unstable();
    assert_eq!(shown, posted, "every entry once, across the two pages");
    // One person's entries: a query on the author.
    let adas = format!("/v1/entries?author={}", made["id"].as_str().unwrap());
    let adas = expect(&s, (Method::GET, H, &adas), &[], None, 200)
        .await
        .json();
    let mut texts: Vec<&str> = adas["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["text"].as_str())
        .collect();
    // Posted within the same millisecond, two entries may come either way.
    texts.sort_unstable();
    assert_eq!(
        texts,
        ["entry 1", "entry 2", "entry 3", "entry 4", "entry 5"],
        "{adas}"
    );

    // Editing and deleting: only one's own.
    let mine = format!("/v1/entries/{}", ids[0]);
    expect(
        &s,
        (Method::PUT, H, &mine),
        &as_bob,
        Some(json!({"text": "hacked"})),
        403,
    )
    .await;
    expect(&s, (Method::DELETE, H, &mine), &as_bob, None, 403).await;
    let edited = expect(
        &s,
        (Method::PUT, H, &mine),
        &as_ada,
        Some(json!({"text": "entry 1, edited"})),
        200,
    )
    .await
    .json();
    assert_eq!(edited["text"], "entry 1, edited");
    assert!(
        edited["edited"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{edited}"
    );
    // Deleted, then gone.
    let bobs = format!("/v1/entries/{}", bobs["id"].as_str().unwrap());
    for want in [204, 404] {
        expect(&s, (Method::DELETE, H, &bobs), &as_bob, None, want).await;
    }

    // Signing out ends the session.
    expect(&s, post("/v1/logout"), &as_bob, None, 204).await;
    expect(&s, (Method::GET, H, "/v1/me"), &as_bob, None, 401).await;

    // A reset: the same answer for any address, a mail only to a real one,
    // sent by the queue's consumer through the relay.
    let unknown = expect(
        &s,
        post("/v1/reset"),
        &[],
        Some(json!({"email": "nobody@example.com"})),
        202,
    )
    .await;
    let known = expect(
        &s,
        post("/v1/reset"),
        &[],
        Some(json!({"email": "ada@example.com"})),
        202,
    )
    .await;
    assert_eq!(unknown.text, known.text);
    let mail = eventually(
        "the reset mail reaches the relay",
        Duration::from_secs(60),
        || async {
            relay
                .received()
                .into_iter()
                .find(|m| m.to.iter().any(|t| t.contains("ada@example.com")))
        },
    )
    .await;
    assert_eq!(
        relay.received().len(),
        1,
        "only the known address gets mail"
    );
    assert!(
        mail.data.contains("Subject: Reset your guestbook password"),
        "{}",
        mail.data
    );
    let unfolded = mail.data.replace("=\n", "").replace("=3D", "=");
    let token = unfolded
        .split("#reset=")
        .nth(1)
        .expect("the mail carries the reset link")
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap()
        .to_owned();
    assert!(
        unfolded.contains("To choose a new one, open http://guestbook.localhost:8080/#reset="),
        "{unfolded}"
    );
    let done = expect(
        &s,
        post("/v1/reset/finish"),
        &[],
        Some(json!({"token": token, "password": "a brand new password"})),
        200,
    )
    .await
    .json();
    assert_eq!(done["email"], "ada@example.com");
    expect(
        &s,
        post("/v1/reset/finish"),
        &[],
        Some(json!({"token": token, "password": "yet another password"})),
        401,
    )
    .await;
    // The old session ended; the new password works, the old one not.
    expect(&s, (Method::GET, H, "/v1/me"), &as_ada, None, 401).await;
    expect(
        &s,
        post("/v1/login"),
        &[],
        Some(login("ada@example.com", "correct horse battery")),
        401,
    )
    .await;
    expect(
        &s,
        post("/v1/login"),
        &[],
        Some(login("ada@example.com", "a brand new password")),
        200,
    )
    .await;
    s.stop().await;
}

/// Signs in through the guestbook's `POST /v1/login`; the `Authorization`
/// value its answer's token makes.
async fn sign_in(s: &TestServer, email: &str, password: &str) -> String {
    let session = expect(
        s,
        (Method::POST, "guestbook.localhost", "/v1/login"),
        &[],
        Some(json!({"email": email, "password": password})),
        200,
    )
    .await
    .json();
    format!("Bearer {}", session["token"].as_str().unwrap())
}

// --- webhook inbox ----------------------------------------------------------------

/// The service the inbox forwards to: answers 503 to the first delivery and
/// 200 after, and keeps what it was sent.
async fn downstream() -> (SocketAddr, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let kept = got.clone();
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |body: axum::Json<Value>| {
            let kept = kept.clone();
            let calls = calls.clone();
            async move {
                if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                kept.lock().unwrap().push(body.0);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, got)
}

/// The example folder copied, with FORWARD_URL and the allow-list pointed
/// at `downstream`: the two lines its README tells a user to change.
fn inbox_folder(downstream: SocketAddr) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let source = example("webhook-inbox");
    std::fs::create_dir(dir.path().join("scripts")).unwrap();
    for entry in std::fs::read_dir(source.join("scripts")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            dir.path().join("scripts").join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    let manifest = std::fs::read_to_string(source.join("picloud.toml")).unwrap();
    let edited = manifest
        .replace(
            "http_allow = [\"https://hooks.example.com\"]",
            &format!("http_allow = [\"http://{downstream}\"]"),
        )
        .replace(
            "FORWARD_URL = \"https://hooks.example.com/events\"",
            &format!("FORWARD_URL = \"http://{downstream}/events\""),
        );
    assert_ne!(
        manifest, edited,
        "the README's two lines are in picloud.toml"
    );
    assert!(!edited.contains("hooks.example.com"));
    std::fs::write(dir.path().join("picloud.toml"), edited).unwrap();
    dir
}

fn sign(secret: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let digest = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// Mail to the server's SMTP listener with Python's smtplib; the
/// recipients it refused.
fn smtplib(smtp: SocketAddr, to: &str, subject: &str) -> Value {
    let script = r#"
import json, smtplib, sys
from email.message import EmailMessage
m = EmailMessage()
m['From'] = 'Grace Hopper <grace@example.org>'
m['To'] = sys.argv[3]
m['Subject'] = sys.argv[4]
m.set_content('The build on the Pi is green.')
with smtplib.SMTP(sys.argv[1], int(sys.argv[2]), timeout=30) as s:
    try:
        print(json.dumps({'refused': list(s.send_message(m).keys())}))
    except smtplib.SMTPRecipientsRefused as e:
        print(json.dumps({'refused': list(e.recipients.keys())}))
"#;
    support::relay::python_json(
        script,
        &[
            &smtp.ip().to_string(),
            &smtp.port().to_string(),
            to,
            subject,
        ],
    )
}

async fn the_webhook_inbox_checks_queues_forwards_and_mails_a_digest(db: Db) {
    let (relay, relay_addr) = Relay::start("127.0.0.1:0".parse().unwrap(), Mode::Accept).await;
    let (downstream, delivered) = downstream().await;
    let s = server(&db, relay_addr).await;
    let folder = inbox_folder(downstream);
    let plan = deploy(&s, folder.path()).await;
    assert!(plan.contains("+ create app inbox"), "{plan}");
    secret(&s, "inbox", "WEBHOOK_SECRET", "whsec-example-1234").await;
    secret(&s, "inbox", "ADMIN_TOKEN", ADMIN).await;
    const H: &str = "inbox.localhost";

    // Signatures: a good one is accepted at once, anything else refused.
    let body = r#"{"event":"push","ref":"main","commits":3}"#;
    let good = sign("whsec-example-1234", body);
    for signature in ["", "sha256=00", &sign("another secret", body)] {
        let answer = call(
            &s,
            Method::POST,
            H,
            "/hooks/github",
            &[("x-signature", signature)],
            Some(body),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{signature}: {}",
            answer.text
        );
    }
    let answer = call(
        &s,
        Method::POST,
        H,
        "/hooks/github",
        &[("x-signature", &sign("whsec-example-1234", "not json"))],
        Some("not json"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    let accepted = call(
        &s,
        Method::POST,
        H,
        "/hooks/github",
        &[("x-hub-signature-256", &good)],
        Some(body),
    )
    .await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.text);
    let id = accepted.json()["id"].as_str().unwrap().to_owned();

    // The consumer forwards it: the first delivery gets 503 and is retried.
    let admin = format!("Bearer {ADMIN}");
    let as_admin = [("authorization", admin.as_str())];
    expect(&s, (Method::GET, H, "/entries"), &[], None, 401).await;
    let entry = eventually(
        "the entry is delivered",
        Duration::from_secs(60),
        || async {
            let entry = call(
                &s,
                Method::GET,
                H,
                &format!("/entries/{id}"),
                &as_admin,
                None,
            )
            .await
            .json();
            (entry["status"] == "delivered").then_some(entry)
        },
    )
    .await;
    assert_eq!(entry["attempts"], 2, "{entry}");
    assert_eq!(entry["payload"]["commits"], 3, "{entry}");
    assert_eq!(entry["summary"], "push");
    let sent = delivered.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["id"], id.as_str());
    assert_eq!(sent[0]["payload"]["ref"], "main");
    // Each run is in the execution log: the failed attempt with its error.
    let runs = eventually(
        "both runs are in the log",
        Duration::from_secs(30),
        || async {
            let (_, runs) = s
                .admin(
                    Method::GET,
                    "/api/v1/admin/apps/inbox/executions?trigger=queue",
                    None,
                )
                .await;
            let runs = runs["executions"].as_array()?.clone();
            (runs.len() == 2).then_some(runs)
        },
    )
    .await;
    // Newest first: the delivery, then the attempt downstream refused.
    assert_eq!(runs[0]["outcome"], "ok", "{runs:?}");
    assert_eq!(runs[1]["outcome"], "error", "{runs:?}");
    assert!(
        runs[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("downstream answered 503"),
        "{runs:?}"
    );

    // Mail to inbox@ becomes an entry; other addresses are refused.
    let smtp = s
        .server
        .as_ref()
        .unwrap()
        .smtp_addr
        .expect("the SMTP listener runs");
    let refused = smtplib(smtp, "inbox@inbox.localhost", "Build 42 is green");
    assert_eq!(refused["refused"], json!([]), "{refused}");
    let refused = smtplib(smtp, "sales@inbox.localhost", "Hello");
    assert_eq!(
        refused["refused"],
        json!(["sales@inbox.localhost"]),
        "{refused}"
    );
    let mail = eventually("the mail is an entry", Duration::from_secs(60), || async {
        let list = call(&s, Method::GET, H, "/entries", &as_admin, None)
            .await
            .json();
        list["entries"]
            .as_array()?
            .iter()
            .find(|e| e["kind"] == "email")
            .cloned()
    })
    .await;
    assert_eq!(mail["summary"], "Build 42 is green");
    assert_eq!(mail["status"], "stored");
    assert!(
        mail["source"]
            .as_str()
            .unwrap()
            .contains("grace@example.org"),
        "{mail}"
    );

    // The digest: run its cron trigger now, as the dashboard's Run does.
    let (_, triggers) = s
        .admin(Method::GET, "/api/v1/admin/apps/inbox/triggers", None)
        .await;
    let cron = triggers["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "cron")
        .expect("the digest's cron trigger")
        .clone();
    assert_eq!(cron["schedule"], "0 7 * * *");
    let path = format!(
        "/api/v1/admin/apps/inbox/triggers/{}/run",
        cron["id"].as_str().unwrap()
    );
    let (status, run) = s.admin(Method::POST, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["status"], 200, "{run}");
    let digest = eventually(
        "the digest reaches the relay",
        Duration::from_secs(60),
        || async {
            relay
                .received()
                .into_iter()
                .find(|m| m.data.contains("Inbox digest"))
        },
    )
    .await;
    assert_eq!(
        digest.to,
        vec!["<you@example.com>".to_owned()],
        "{digest:?}"
    );
    let digest = digest.data.replace("=\n", "").replace("=3D", "=");
    assert!(
        digest.contains("Subject: Inbox digest: 2 new since the start"),
        "{digest}"
    );
    assert!(digest.contains("2 entries arrived:\n\n- "), "{digest}");
    assert!(
        digest.contains("webhook from github: push [delivered]"),
        "{digest}"
    );
    assert!(digest.contains("Build 42 is green [stored]"), "{digest}");
    // A second run finds nothing new and sends nothing.
    let (_, run) = s.admin(Method::POST, &path, None).await;
    assert_eq!(run["status"], 200, "{run}");
    let (_, executions) = s
        .admin(
            Method::GET,
            &format!(
                "/api/v1/admin/executions/{}",
                run["execution_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(executions["emails"], json!([]), "{executions}");
    s.stop().await;
}
