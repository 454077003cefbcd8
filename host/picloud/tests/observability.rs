//! Observability as an operator meets it, over HTTP on loopback ports from
//! the OS: request ids (`x-request-id`, `request.id`, the execution record),
//! the app-wide execution list and its filters, the live execution stream
//! (Server-Sent Events, resumable with `Last-Event-ID`), and the Prometheus
//! metrics: `GET /metrics` checked by `promtool check metrics`, and the
//! metrics listener scraped by a real Prometheus server (Debian's
//! `prometheus` package). promtool and Prometheus are required: without
//! them these tests fail and say how to install them. Every test runs on a
//! fresh SQLite file and on a fresh PostgreSQL database.

#[macro_use]
mod support;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use support::{Db, TOKEN, TestServer, code, config};

fn main() {
    testkit::harness::run_on_both_databases(tests![
        every_response_has_a_request_id_and_the_record_keeps_it,
        an_untrusted_peers_request_id_is_replaced,
        the_app_wide_execution_list_filters_and_pages,
        the_live_stream_sends_new_records_and_resumes,
        metrics_need_a_token_and_pass_promtool,
        prometheus_scrapes_the_metrics_listener,
    ])
}

/// A request to a user route: `host` picks the app.
fn user(s: &TestServer, method: Method, host: &str, path: &str) -> RequestBuilder {
    s.client
        .request(method, format!("{}{path}", s.base))
        .header("host", host)
}

/// The response's `x-request-id`; every response has one.
fn request_id(resp: &Response) -> String {
    resp.headers()
        .get("x-request-id")
        .unwrap_or_else(|| panic!("no x-request-id on {} {}", resp.status(), resp.url()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// Whether `id` is one the server generated: 32 lower-case hex digits.
fn is_generated(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `GET /api/v1/admin/apps/{app}/executions?{query}`: the records on one
/// page (the test's records all fit on it).
async fn executions(s: &TestServer, app: &str, query: &str) -> Vec<Value> {
    let (status, body) = s
        .admin(
            Method::GET,
            &format!("/api/v1/admin/apps/{app}/executions?{query}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "?{query}: {body}");
    assert_eq!(body["next_cursor"], Value::Null, "?{query}: {body}");
    body["executions"]
        .as_array()
        .unwrap_or_else(|| panic!("?{query}: {body}"))
        .clone()
}

fn paths(records: &[Value]) -> Vec<&str> {
    records
        .iter()
        .map(|r| r["path"].as_str().unwrap_or("<no path>"))
        .collect()
}

async fn every_response_has_a_request_id_and_the_record_keeps_it(db: Db) {
    let s = TestServer::start(&db).await;

    // A user route, without an id: a fresh one, different every time.
    let resp = user(&s, Method::GET, "localhost", "/hello")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let first = request_id(&resp);
    assert!(is_generated(&first), "{first}");
    let second = request_id(
        &user(&s, Method::GET, "localhost", "/hello")
            .send()
            .await
            .unwrap(),
    );
    assert!(is_generated(&second), "{second}");
    assert_ne!(first, second);

    // Errors of the ingress, the admin API (answered or refused) and the
    // platform endpoints carry one too.
    let resp = user(&s, Method::GET, "nobody.example", "/hello")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(is_generated(&request_id(&resp)));
    let resp = s
        .client
        .get(format!("{}/api/v1/admin/apps", s.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(is_generated(&request_id(&resp)));
    let resp = s
        .client
        .get(format!("{}/api/v1/admin/apps", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(is_generated(&request_id(&resp)));
    let resp = s
        .client
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert!(is_generated(&request_id(&resp)));

    // From loopback (a trusted proxy by default) a sent id is kept: echoed,
    // seen by the script and stored with the record.
    s.deploy("default", "rid", "request.id", "GET", "/rid")
        .await;
    let resp = user(&s, Method::GET, "localhost", "/rid")
        .header("x-request-id", "my-trace-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(request_id(&resp), "my-trace-1");
    let body = resp.text().await.unwrap();
    assert_eq!(body, "my-trace-1");
    let found = executions(&s, "default", "request_id=my-trace-1").await;
    assert_eq!(found.len(), 1, "{found:?}");
    let record = &found[0];
    assert_eq!(record["request_id"], "my-trace-1");
    assert_eq!(record["host"], "localhost");
    assert_eq!(record["method"], "GET");
    assert_eq!(record["path"], "/rid");
    assert_eq!(record["status"], 200);
    assert_eq!(record["trigger"], "http");
    assert_eq!(record["response_bytes"], body.len());
    assert!(record["seq"].as_u64().is_some(), "{record}");
    assert!(
        record.get("request_headers").is_none(),
        "the headers are in the detail only: {record}"
    );

    // The admin API keeps a trusted id as well.
    let resp = s
        .client
        .get(format!("{}/api/v1/admin/apps", s.base))
        .bearer_auth(TOKEN)
        .header("x-request-id", "admin-trace-7")
        .send()
        .await
        .unwrap();
    assert_eq!(request_id(&resp), "admin-trace-7");

    // An unusable id, even from a trusted peer, is replaced.
    let long = "a".repeat(129);
    let resp = user(&s, Method::GET, "localhost", "/rid")
        .header("x-request-id", &long)
        .send()
        .await
        .unwrap();
    let replaced = request_id(&resp);
    assert!(is_generated(&replaced), "{replaced}");
    assert_eq!(resp.text().await.unwrap(), replaced);

    // HEAD: no body sent, but the record says what GET would have sent.
    let resp = user(&s, Method::HEAD, "localhost", "/rid")
        .header("x-request-id", "my-trace-head")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "");
    let found = executions(&s, "default", "request_id=my-trace-head").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["method"], "HEAD");
    assert_eq!(found[0]["response_bytes"], "my-trace-head".len());

    // The detail has the request's headers, credentials redacted.
    let resp = user(&s, Method::GET, "localhost", "/rid")
        .header("x-request-id", "my-trace-2")
        .header("authorization", "Bearer secret123")
        .header("cookie", "a=b")
        .header("x-custom", "hello")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let found = executions(&s, "default", "request_id=my-trace-2").await;
    assert_eq!(found.len(), 1, "{found:?}");
    let id = found[0]["id"].as_str().unwrap();
    let (status, detail) = s
        .admin(Method::GET, &format!("/api/v1/admin/executions/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["request_id"], "my-trace-2");
    let headers = &detail["request_headers"];
    assert!(headers.is_object(), "{detail}");
    assert_eq!(headers["authorization"], "[redacted]", "{headers}");
    assert_eq!(headers["cookie"], "[redacted]", "{headers}");
    assert_eq!(headers["x-custom"], "hello", "{headers}");
    assert!(!detail.to_string().contains("secret123"), "{detail}");
    s.stop().await;
}

async fn an_untrusted_peers_request_id_is_replaced(db: Db) {
    let data = tempfile::tempdir().unwrap();
    let mut cfg = config(data.path().to_owned(), &db, Some(TOKEN));
    // Trust no proxy, not even this machine (the HTTP layer, which sets the
    // request id, takes the manager's setting).
    cfg.control.manager.trusted_proxies = shared::TrustedProxies::parse("").unwrap();
    let s = TestServer::at(cfg).await;
    s.deploy("default", "rid", "request.id", "GET", "/rid")
        .await;
    let resp = user(&s, Method::GET, "localhost", "/rid")
        .header("x-request-id", "my-trace-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let id = request_id(&resp);
    assert_ne!(id, "my-trace-1");
    assert!(is_generated(&id), "{id}");
    // The script and the record see the server's id, never the client's.
    assert_eq!(resp.text().await.unwrap(), id);
    let found = executions(&s, "default", &format!("request_id={id}")).await;
    assert_eq!(paths(&found), ["/rid"]);
    assert!(
        executions(&s, "default", "request_id=my-trace-1")
            .await
            .is_empty()
    );
    // The admin API does the same.
    let resp = s
        .client
        .get(format!("{}/api/v1/admin/apps", s.base))
        .bearer_auth(TOKEN)
        .header("x-request-id", "admin-trace-7")
        .send()
        .await
        .unwrap();
    assert!(is_generated(&request_id(&resp)));
    s.stop().await;
    drop(data);
}

/// Creates a script in `app` and returns its id.
async fn create_script(s: &TestServer, app: &str, name: &str, source: &str) -> String {
    let (status, body) = s
        .admin(
            Method::POST,
            "/api/v1/admin/scripts",
            Some(json!({"app_id": app, "name": name, "source": source})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

const PAGES: &str = r#"
let n = request.params.n;
if n == "missing" { return #{ status: 404, body: "no" }; }
if n == "needle" { log::info("needle-42"); }
`page ${n}`
"#;

const OTHER: &str = r#"
let n = request.params.n ?? "direct";
if n == "boom" { throw "kaboom"; }
log::info("haystack");
`other ${n}`
"#;

async fn the_app_wide_execution_list_filters_and_pages(db: Db) {
    let s = TestServer::start(&db).await;
    s.app_on("shop", "shop.example").await;
    let (status, body) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps/shop/domains",
            Some(json!({"pattern": "www.shop.example"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let pages = create_script(&s, "shop", "pages", PAGES).await;
    let other = create_script(&s, "shop", "other", OTHER).await;
    for (script, method, path) in [
        (&pages, "GET", "/x/:n"),
        (&pages, "POST", "/x/:n"),
        (&other, "GET", "/y/:n"),
    ] {
        let (status, body) = s.route(script, method, path).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    // Another app's record, never in shop's list.
    assert_eq!(
        s.call(Method::GET, "localhost", "/hello").await.0,
        StatusCode::OK
    );
    let calls = [
        (Method::GET, "shop.example", "/x/1", StatusCode::OK),
        (
            Method::GET,
            "shop.example",
            "/x/missing",
            StatusCode::NOT_FOUND,
        ),
        (Method::POST, "shop.example", "/x/2", StatusCode::OK),
        (Method::GET, "shop.example", "/x/needle", StatusCode::OK),
        (Method::GET, "shop.example", "/y/1", StatusCode::OK),
        (
            Method::GET,
            "shop.example",
            "/y/boom",
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
        (Method::GET, "www.shop.example", "/y/2", StatusCode::OK),
    ];
    let mut bodies = Vec::new();
    for (method, host, path, expected) in calls {
        let (status, body) = s.call(method, host, path).await;
        assert_eq!(status, expected, "{path}: {body}");
        bodies.push((path, body));
    }
    // And one run by id: trigger `direct`.
    let direct_path = format!("/api/v1/execute/{other}");
    let resp = s
        .client
        .get(format!("{}{direct_path}", s.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "other direct");

    // Everything, newest first, with the new summary fields.
    let all = executions(&s, "shop", "").await;
    assert_eq!(
        paths(&all),
        [
            direct_path.as_str(),
            "/y/2",
            "/y/boom",
            "/y/1",
            "/x/needle",
            "/x/2",
            "/x/missing",
            "/x/1"
        ]
    );
    let seqs: Vec<u64> = all
        .iter()
        .map(|r| r["seq"].as_u64().unwrap_or_else(|| panic!("{r}")))
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "seq grows with every record: {seqs:?}"
    );
    for record in &all {
        assert!(
            is_generated(record["request_id"].as_str().unwrap_or("")),
            "{record}"
        );
        assert!(record.get("request_headers").is_none(), "{record}");
    }
    for (path, body) in &bodies {
        let record = all.iter().find(|r| r["path"] == *path).unwrap();
        assert_eq!(record["response_bytes"], body.len(), "{record}");
    }
    let by_path = |path: &str| all.iter().find(|r| r["path"] == path).unwrap().clone();
    assert_eq!(by_path("/x/1")["host"], "shop.example");
    assert_eq!(by_path("/y/2")["host"], "www.shop.example");
    assert_eq!(by_path("/x/missing")["status"], 404);
    assert_eq!(by_path("/x/missing")["outcome"], "ok");
    assert_eq!(by_path("/x/missing")["response_bytes"], 2);
    assert_eq!(by_path("/y/boom")["outcome"], "error");
    assert_eq!(by_path(direct_path.as_str())["trigger"], "direct");

    let x_all = ["/x/needle", "/x/2", "/x/missing", "/x/1"];
    let y_http = ["/y/2", "/y/boom", "/y/1"];
    let expectations: Vec<(String, Vec<&str>)> = vec![
        // By script, by name or id.
        ("script=pages".into(), x_all.to_vec()),
        (format!("script={pages}"), x_all.to_vec()),
        (
            format!("script={other}"),
            vec![direct_path.as_str(), "/y/2", "/y/boom", "/y/1"],
        ),
        // By status: a class, a code, or the outcome (a script's own 404 is ok).
        ("status=4xx".into(), vec!["/x/missing"]),
        ("status=404".into(), vec!["/x/missing"]),
        ("status=400".into(), vec![]),
        ("status=5xx".into(), vec!["/y/boom"]),
        ("status=error".into(), vec!["/y/boom"]),
        (
            "status=ok".into(),
            vec![
                direct_path.as_str(),
                "/y/2",
                "/y/1",
                "/x/needle",
                "/x/2",
                "/x/missing",
                "/x/1",
            ],
        ),
        (
            "status=2xx".into(),
            vec![
                direct_path.as_str(),
                "/y/2",
                "/y/1",
                "/x/needle",
                "/x/2",
                "/x/1",
            ],
        ),
        // By trigger.
        (
            "trigger=http".into(),
            vec![
                "/y/2",
                "/y/boom",
                "/y/1",
                "/x/needle",
                "/x/2",
                "/x/missing",
                "/x/1",
            ],
        ),
        ("trigger=direct".into(), vec![direct_path.as_str()]),
        ("trigger=cron".into(), vec![]),
        // By path: exact, or a prefix ending in `*`.
        ("path=/x*".into(), x_all.to_vec()),
        ("path=/y/*".into(), y_http.to_vec()),
        ("path=/x/1".into(), vec!["/x/1"]),
        ("path=/x".into(), vec![]),
        // By method and host (case-insensitive).
        ("method=POST".into(), vec!["/x/2"]),
        (
            "host=shop.example".into(),
            vec!["/y/boom", "/y/1", "/x/needle", "/x/2", "/x/missing", "/x/1"],
        ),
        ("host=WWW.Shop.Example".into(), vec!["/y/2"]),
        // Text search in log lines and error messages, case-insensitive.
        ("q=needle-42".into(), vec!["/x/needle"]),
        ("q=NEEDLE-42".into(), vec!["/x/needle"]),
        ("q=kaboom".into(), vec!["/y/boom"]),
        ("q=nothing-like-this".into(), vec![]),
        // Time windows.
        (
            "since=2000-01-01T00:00:00Z".into(),
            paths(&all).into_iter().collect(),
        ),
        ("since=2999-01-01T00:00:00Z".into(), vec![]),
        ("until=2000-01-01T00:00:00Z".into(), vec![]),
        // Filters combine.
        (
            "script=pages&status=2xx&method=GET".into(),
            vec!["/x/needle", "/x/1"],
        ),
        ("path=/y*&host=shop.example&status=ok".into(), vec!["/y/1"]),
    ];
    for (query, expected) in &expectations {
        assert_eq!(
            paths(&executions(&s, "shop", query).await),
            *expected,
            "?{query}"
        );
    }
    // The app's id works as well as its slug.
    let (_, app) = s.admin(Method::GET, "/api/v1/admin/apps/shop", None).await;
    let app_id = app["id"].as_str().unwrap().to_owned();
    assert_eq!(
        paths(&executions(&s, &app_id, "q=needle-42").await),
        ["/x/needle"]
    );

    // One at a time with the cursor: every record once, in the same order.
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            None => "limit=1".to_owned(),
            Some(c) => format!(
                "limit=1&cursor={}",
                form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>()
            ),
        };
        let (status, page) = s
            .admin(
                Method::GET,
                &format!("/api/v1/admin/apps/shop/executions?{query}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["executions"].as_array().unwrap();
        assert!(items.len() <= 1, "{page}");
        walked.extend(items.iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        assert!(walked.len() <= all.len(), "the walk repeats: {walked:?}");
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let ids: Vec<String> = all
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(walked, ids);

    // Bad parameters are refused with the reason.
    for (query, expected) in [
        ("status=bogus", "invalid_status"),
        ("status=42", "invalid_status"),
        ("status=4xxx", "invalid_status"),
        ("trigger=web", "invalid_trigger"),
        ("since=yesterday", "invalid_time"),
        ("until=2024-13-01T00:00:00Z", "invalid_time"),
        ("colour=blue", "invalid_query"),
        ("limit=0", "invalid_limit"),
        ("limit=501", "invalid_limit"),
    ] {
        let (status, body) = s
            .admin(
                Method::GET,
                &format!("/api/v1/admin/apps/shop/executions?{query}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "?{query}: {body}");
        assert_eq!(code(&body), expected, "?{query}: {body}");
    }
    let (status, body) = s
        .admin(Method::GET, "/api/v1/admin/apps/nope/executions", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // A renamed app's old slug redirects, as on its other paths.
    let (status, body) = s
        .admin(
            Method::PATCH,
            "/api/v1/admin/apps/shop",
            Some(json!({"slug": "store"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/api/v1/admin/apps/shop/executions", s.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PERMANENT_REDIRECT);
    let location = resp.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("/api/v1/admin/apps/store/executions"),
        "{location}"
    );
    assert_eq!(executions(&s, "store", "").await.len(), all.len());
    s.stop().await;
}

async fn the_live_stream_sends_new_records_and_resumes(db: Db) {
    let s = TestServer::start(&db).await;
    s.deploy(
        "default",
        "live",
        "log::info(`live ${request.params.n}`);\nrequest.params.n",
        "GET",
        "/live/:n",
    )
    .await;
    s.deploy("default", "fail", "throw \"kaboom\"", "GET", "/fail")
        .await;
    let stream_url = format!("{}/api/v1/admin/apps/default/executions/stream", s.base);

    // Like every admin call it needs a token; a malformed resume point is refused.
    let resp = s.client.get(&stream_url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(code(&resp.json::<Value>().await.unwrap()), "unauthorized");
    let resp = stream_request(&s, "", Some("abc")).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        code(&resp.json::<Value>().await.unwrap()),
        "invalid_event_id"
    );
    let resp = stream_request(&s, "?last_event_id=abc", None).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        code(&resp.json::<Value>().await.unwrap()),
        "invalid_event_id"
    );
    let resp = stream_request(&s, "?status=bogus", None).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(&resp.json::<Value>().await.unwrap()), "invalid_status");
    let (status, _) = s
        .admin(
            Method::GET,
            "/api/v1/admin/apps/nope/executions/stream",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A new record arrives as it is written, with its logs.
    let mut stream = open_stream(&s, "", None).await;
    assert_eq!(
        s.call(Method::GET, "localhost", "/live/1").await,
        (StatusCode::OK, "1".into())
    );
    let (first_seq, first) = stream.next_execution().await;
    assert_eq!(first["path"], "/live/1", "{first}");
    assert_eq!(first["status"], 200);
    assert_eq!(first["outcome"], "ok");
    assert_eq!(first["trigger"], "http");
    assert_eq!(first["host"], "localhost");
    assert_eq!(first["response_bytes"], 1);
    assert_eq!(
        first["logs"],
        json!([{"level": "info", "message": "live 1"}])
    );
    assert!(is_generated(first["request_id"].as_str().unwrap_or("")));
    assert!(first["request_headers"].is_object(), "{first}");
    drop(stream);

    // Three records while nobody listens; resuming after the first sends
    // them, oldest first, then the live ones, none twice.
    for n in 2..=4 {
        assert_eq!(
            s.call(Method::GET, "localhost", &format!("/live/{n}"))
                .await
                .0,
            StatusCode::OK
        );
    }
    let mut stream = open_stream(&s, "", Some(&first_seq.to_string())).await;
    let mut last = first_seq;
    for n in 2..=4 {
        let (seq, record) = stream.next_execution().await;
        assert_eq!(record["path"], format!("/live/{n}"), "{record}");
        assert_eq!(
            record["logs"],
            json!([{"level": "info", "message": format!("live {n}")}])
        );
        assert!(seq > last, "{seq} after {last}");
        last = seq;
    }
    assert_eq!(
        s.call(Method::GET, "localhost", "/live/5").await.0,
        StatusCode::OK
    );
    let (seq, record) = stream.next_execution().await;
    assert_eq!(record["path"], "/live/5", "{record}");
    assert!(seq > last);
    drop(stream);
    // The resume point may also be a query parameter (for clients that
    // cannot set headers).
    let mut stream = open_stream(&s, &format!("?last_event_id={first_seq}"), None).await;
    let (_, record) = stream.next_execution().await;
    assert_eq!(record["path"], "/live/2", "{record}");
    drop(stream);

    // A filtered stream: only failures. The 200 made before the failure is
    // not sent (events come in the order records are written).
    let mut errors = open_stream(&s, "?status=error", None).await;
    assert_eq!(
        s.call(Method::GET, "localhost", "/live/6").await.0,
        StatusCode::OK
    );
    assert_eq!(
        s.call(Method::GET, "localhost", "/fail").await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    let (_, failed) = errors.next_execution().await;
    assert_eq!(failed["path"], "/fail", "{failed}");
    assert_eq!(failed["status"], 500);
    assert_eq!(failed["outcome"], "error");
    assert_eq!(failed["error"]["code"], "runtime_error");
    drop(errors);

    // By script: a failure of another script is not sent.
    let mut live_only = open_stream(&s, "?script=live&trigger=http", None).await;
    assert_eq!(
        s.call(Method::GET, "localhost", "/fail").await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        s.call(Method::GET, "localhost", "/live/7").await.0,
        StatusCode::OK
    );
    let (_, record) = live_only.next_execution().await;
    assert_eq!(record["path"], "/live/7", "{record}");
    drop(live_only);
    s.stop().await;
}

/// `GET /metrics` with `token` on the admin host: status, content type and body.
async fn scrape(s: &TestServer, token: &str) -> (StatusCode, String, String) {
    let resp = s
        .client
        .get(format!("{}/metrics", s.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, resp.text().await.unwrap())
}

/// The value of the sample `series` (name and labels exactly as exposed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().unwrap())
}

async fn metrics_need_a_token_and_pass_promtool(db: Db) {
    let s = TestServer::start(&db).await;
    let resp = s
        .client
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(code(&resp.json::<Value>().await.unwrap()), "unauthorized");
    // On an app's host, /metrics is an ordinary path of the app.
    let (status, body) = s.call(Method::GET, "localhost", "/metrics").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("no_route"), "{body}");

    // Some traffic: successes, a failure, a host no app serves.
    for _ in 0..3 {
        assert_eq!(
            s.call(Method::GET, "localhost", "/hello").await.0,
            StatusCode::OK
        );
    }
    s.deploy("default", "fail", "throw \"kaboom\"", "GET", "/fail")
        .await;
    assert_eq!(
        s.call(Method::GET, "localhost", "/fail").await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        s.call(Method::GET, "nobody.example", "/hello").await.0,
        StatusCode::NOT_FOUND
    );
    // Data calls and an outbound call the allow-list refuses.
    s.deploy(
        "default",
        "data",
        r#"kv::set("seen", 1); let v = kv::get("seen");
           let refused = "no";
           try { http::get("https://not-allowed.example/"); } catch { refused = "yes"; }
           `${v} ${refused}`"#,
        "GET",
        "/data",
    )
    .await;
    assert_eq!(
        s.call(Method::GET, "localhost", "/data").await,
        (StatusCode::OK, "1 yes".to_owned())
    );

    let (status, content_type, text) = scrape(&s, TOKEN).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    assert!(text.contains("picloud_build_info{"), "{text}");
    assert!(text.contains("# TYPE picloud_execution_duration_seconds histogram"));
    // The registry is the process's: other tests add to the same counters.
    let ok = sample(
        &text,
        r#"picloud_http_requests_total{app="default",status="2xx"}"#,
    );
    assert!(ok.is_some_and(|n| n >= 3.0), "{ok:?}\n{text}");
    for series in [
        r#"picloud_http_requests_total{app="default",status="5xx"}"#,
        r#"picloud_http_requests_total{app="",status="4xx"}"#,
        r#"picloud_executions_total{app="default",outcome="ok",trigger="http"}"#,
        r#"picloud_executions_total{app="default",outcome="error",trigger="http"}"#,
        r#"picloud_execution_errors_total{app="default",code="runtime_error"}"#,
        r#"picloud_execution_fuel_used_total{app="default"}"#,
        r#"picloud_data_operations_total{op="set",outcome="ok",service="kv"}"#,
        r#"picloud_data_operations_total{op="get",outcome="ok",service="kv"}"#,
        r#"picloud_data_operation_duration_seconds_count{op="get",service="kv"}"#,
        r#"picloud_db_query_duration_seconds_count{op="kv::set"}"#,
        r#"picloud_db_query_duration_seconds_count{op="execution_log_write"}"#,
        r#"picloud_outbound_http_requests_total{outcome="denied"}"#,
        "picloud_execution_log_records_written_total",
        "picloud_db_connections_max",
    ] {
        assert!(
            sample(&text, series).is_some_and(|n| n >= 1.0),
            "{series}\n{text}"
        );
    }
    assert!(
        text.contains(r#"picloud_execution_duration_seconds_bucket{app="default""#),
        "{text}"
    );
    // Gauges are there at zero too: nothing runs between requests.
    for series in [
        "picloud_executions_in_flight",
        "picloud_executions_waiting",
        r#"picloud_db_connections{state="in_use"}"#,
        r#"picloud_db_connections{state="idle"}"#,
        "picloud_log_stream_subscribers",
    ] {
        assert!(sample(&text, series).is_some(), "{series}\n{text}");
    }
    promtool_check_metrics(&text);

    // A metrics-only token reads the metrics and nothing else.
    let (status, created) = s
        .admin(
            Method::POST,
            "/api/v1/admin/tokens",
            Some(json!({"name": "prom", "scope": "metrics"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["scope"], "metrics");
    let metrics_token = created["token"].as_str().unwrap().to_owned();
    let (status, _, text) = scrape(&s, &metrics_token).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("picloud_build_info{"));
    for (method, path) in [
        (Method::GET, "/api/v1/admin/apps"),
        (Method::GET, "/api/v1/admin/tokens"),
        (Method::GET, "/api/v1/admin/apps/default/executions"),
    ] {
        let resp = s
            .client
            .request(method, format!("{}{path}", s.base))
            .bearer_auth(&metrics_token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path}");
        assert_eq!(
            code(&resp.json::<Value>().await.unwrap()),
            "metrics_only_token",
            "{path}"
        );
    }
    // The default scope is admin; there are no others.
    let (status, created) = s
        .admin(
            Method::POST,
            "/api/v1/admin/tokens",
            Some(json!({"name": "ci"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["scope"], "admin");
    let (status, body) = s
        .admin(
            Method::POST,
            "/api/v1/admin/tokens",
            Some(json!({"name": "root", "scope": "root"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(code(&body), "invalid_scope");
    let (status, list) = s.admin(Method::GET, "/api/v1/admin/tokens", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let tokens = list["tokens"].as_array().unwrap();
    let scope_of = |name: &str| {
        tokens
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| t["scope"].clone())
    };
    assert_eq!(scope_of("prom"), Some(json!("metrics")), "{list}");
    assert_eq!(scope_of("ci"), Some(json!("admin")), "{list}");
    s.stop().await;
}

async fn prometheus_scrapes_the_metrics_listener(db: Db) {
    let data = tempfile::tempdir().unwrap();
    let mut cfg = config(data.path().to_owned(), &db, Some(TOKEN));
    cfg.control.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let s = TestServer::at(cfg).await;
    let metrics_addr = s
        .server
        .as_ref()
        .unwrap()
        .metrics_addr
        .expect("the metrics listener is bound");
    assert_ne!(metrics_addr.port(), 0);

    // No token there (it is meant for a private network), and nothing else.
    let resp = s
        .client
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(is_generated(&request_id(&resp)));
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = resp.text().await.unwrap();
    assert!(text.contains("picloud_build_info{"), "{text}");
    let resp = s
        .client
        .get(format!("http://{metrics_addr}/api/v1/admin/apps"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    let calls: u32 = 5;
    for _ in 0..calls {
        assert_eq!(
            s.call(Method::GET, "localhost", "/hello").await.0,
            StatusCode::OK
        );
    }
    let prometheus = Prometheus::start(metrics_addr).await;
    // Scraped every second; the counter is the process's, so other tests
    // may have added to it.
    let query = r#"picloud_http_requests_total{app="default",status="2xx"}"#;
    let deadline = Instant::now() + Duration::from_secs(60);
    let answer = loop {
        let answer = prometheus.query(query).await;
        let total: f64 = answer["data"]["result"]
            .as_array()
            .map(|series| {
                series
                    .iter()
                    .filter_map(|s| s["value"][1].as_str()?.parse::<f64>().ok())
                    .sum()
            })
            .unwrap_or(0.0);
        if total >= f64::from(calls) {
            break answer;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not see {calls} requests within 60 s; last answer: {answer}\n\
             targets: {}\nlog:\n{}",
            prometheus.get("/api/v1/targets").await,
            prometheus.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let series = &answer["data"]["result"][0]["metric"];
    assert_eq!(series["instance"], metrics_addr.to_string(), "{answer}");
    drop(prometheus);
    s.stop().await;
    drop(data);
}

// ---------------------------------------------------------------------------
// Helpers: the event-stream reader, promtool and a Prometheus server.

/// `GET .../apps/default/executions/stream{query}` with the token and, if
/// given, `Last-Event-ID`. The headers must come before any event.
async fn stream_request(s: &TestServer, query: &str, last_event_id: Option<&str>) -> Response {
    let mut req = s
        .client
        .get(format!(
            "{}/api/v1/admin/apps/default/executions/stream{query}",
            s.base
        ))
        .bearer_auth(TOKEN)
        .header("accept", "text/event-stream");
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id);
    }
    tokio::time::timeout(Duration::from_secs(20), req.send())
        .await
        .expect("the stream's headers are sent at once")
        .unwrap()
}

/// An open stream; `send` has returned, so the server is subscribed and
/// every record written from now on is sent.
async fn open_stream(s: &TestServer, query: &str, last_event_id: Option<&str>) -> EventStream {
    let resp = stream_request(s, query, last_event_id).await;
    let status = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    if status != StatusCode::OK {
        panic!("stream{query}: {status} {}", resp.text().await.unwrap());
    }
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    EventStream {
        response: resp,
        buffer: Vec::new(),
    }
}

/// A Server-Sent Events stream read chunk by chunk: an event is a block of
/// `field: value` lines ended by a blank line; lines starting with `:` are
/// comments (the keep-alives).
struct EventStream {
    response: Response,
    buffer: Vec<u8>,
}

#[derive(Debug)]
struct Event {
    id: Option<String>,
    event: String,
    data: String,
}

impl EventStream {
    /// The next event; fails after 20 s without one.
    async fn next_event(&mut self) -> Event {
        tokio::time::timeout(Duration::from_secs(20), self.read())
            .await
            .expect("an event arrives within 20 s")
    }

    /// The next event, which must be an `execution`: its id (the record's
    /// `seq`) and the record.
    async fn next_execution(&mut self) -> (u64, Value) {
        let event = self.next_event().await;
        assert_eq!(event.event, "execution", "{event:?}");
        let record: Value =
            serde_json::from_str(&event.data).unwrap_or_else(|e| panic!("{e}: {}", event.data));
        let seq = record["seq"]
            .as_u64()
            .unwrap_or_else(|| panic!("no seq: {record}"));
        assert_eq!(
            event.id.as_deref(),
            Some(seq.to_string().as_str()),
            "the event's id is the record's seq"
        );
        (seq, record)
    }

    async fn read(&mut self) -> Event {
        loop {
            while let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse_event(&String::from_utf8_lossy(&block)) {
                    return event;
                }
            }
            let chunk = self
                .response
                .chunk()
                .await
                .expect("reading the stream")
                .expect("the stream stays open");
            // Lines may end in CRLF; JSON data never holds a raw CR.
            self.buffer
                .extend(chunk.iter().copied().filter(|b| *b != b'\r'));
        }
    }
}

/// One block of lines; `None` for a block without an event (comments only).
fn parse_event(block: &str) -> Option<Event> {
    let mut id = None;
    let mut event = None;
    let mut data: Vec<&str> = Vec::new();
    for line in block.lines() {
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = Some(value.to_owned()),
            "event" => event = Some(value.to_owned()),
            "data" => data.push(value),
            _ => {}
        }
    }
    if event.is_none() && data.is_empty() {
        return None;
    }
    Some(Event {
        id,
        event: event.unwrap_or_else(|| "message".to_owned()),
        data: data.join("\n"),
    })
}

/// `promtool check metrics` on `text`: it parses the exposition format and
/// lints it (exit status 0 only when both pass).
fn promtool_check_metrics(text: &str) {
    use std::io::Write as _;
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
            "promtool is not installed (the `promtool` command was not found): run \
             `make setup-test` (scripts/setup.sh test installs Debian's `prometheus` package)"
        ),
        Err(err) => panic!("starting promtool: {err}"),
    };
    let mut stdin = child.stdin.take().unwrap();
    let input = text.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().unwrap();
    let written = writer.join().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics failed ({}):\n{}{}\n--- the metrics ---\n{text}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    written.unwrap();
}

/// A child process killed when dropped, so a failing test leaves none behind.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running Prometheus server (Debian's `prometheus`) scraping one target
/// every second, with its storage in a temporary directory.
struct Prometheus {
    _process: KillOnDrop,
    base: String,
    client: reqwest::Client,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts it on a free port and waits until `/-/ready` answers.
    async fn start(target: SocketAddr) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: picloud\n    metrics_path: /metrics\n    \
                 static_configs:\n      - targets: [\"{target}\"]\n"
            ),
        )
        .unwrap();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        // The port is free when asked for, but another process may take it
        // before Prometheus binds it; then Prometheus exits and we try another.
        let mut last = String::new();
        for attempt in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let log = dir.path().join(format!("prometheus-{attempt}.log"));
            let mut process = KillOnDrop(spawn_prometheus(dir.path(), &config, port, &log));
            let base = format!("http://127.0.0.1:{port}");
            match wait_ready(&mut process, &client, &base, &log).await {
                Ok(()) => {
                    return Prometheus {
                        _process: process,
                        base,
                        client,
                        log,
                        _dir: dir,
                    };
                }
                Err(why) if why.contains("address already in use") => last = why,
                Err(why) => panic!("Prometheus did not start: {why}"),
            }
        }
        panic!("Prometheus did not start: {last}")
    }

    /// An instant query through the HTTP API: the whole answer.
    async fn query(&self, promql: &str) -> Value {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", promql)
            .finish();
        self.get(&format!("/api/v1/query?{query}")).await
    }

    async fn get(&self, path: &str) -> Value {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        resp.json().await.unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Polls `/-/ready` every 250 ms until it answers 200 (60 s at most);
/// `Err` with the log if the process exits or the time runs out.
async fn wait_ready(
    process: &mut KillOnDrop,
    client: &reqwest::Client,
    base: &str,
    log: &Path,
) -> Result<(), String> {
    let log = || std::fs::read_to_string(log).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = process.0.try_wait().unwrap() {
            return Err(format!("it exited ({status}):\n{}", log()));
        }
        if let Ok(resp) = client.get(format!("{base}/-/ready")).send().await
            && resp.status() == StatusCode::OK
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("not ready within 60 s:\n{}", log()));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn spawn_prometheus(dir: &Path, config: &Path, port: u16, log: &Path) -> Child {
    let out = std::fs::File::create(log).unwrap();
    let result = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join(format!("data-{port}")).display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn();
    match result {
        Ok(child) => child,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
            "Prometheus is not installed (the `prometheus` command was not found): run \
             `make setup-test` (scripts/setup.sh test installs Debian's `prometheus` package)"
        ),
        Err(err) => panic!("starting prometheus: {err}"),
    }
}
