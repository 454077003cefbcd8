//! The HTTP surface real apps need (issue 23), over HTTP against a real
//! server: repeated query parameters, the request's own URL and client
//! address (believing `X-Forwarded-*` only from trusted proxies), and binary
//! bodies in and out.

#[expect(
    unused_macros,
    reason = "none of these depend on the database engine; SQLite is enough"
)]
mod support;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use support::{TOKEN, TestServer, config};

const WHOAMI: &str = "#{ url: request.url, ip: request.client_ip, tags: request.query_all.tag, last: request.query.tag }";

async fn whoami(s: &TestServer, headers: &[(&str, &str)]) -> Value {
    let mut request = s
        .client
        .get(format!("{}/whoami?tag=a&tag=b", s.base))
        .header("host", "localhost:8080");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_sees_its_url_its_client_and_every_query_value() {
    let s = TestServer::start(&None).await;
    s.deploy("default", "whoami", WHOAMI, "GET", "/whoami")
        .await;

    let seen = whoami(&s, &[]).await;
    assert_eq!(seen["url"], "http://localhost:8080/whoami?tag=a&tag=b");
    assert_eq!(seen["ip"], "127.0.0.1");
    assert_eq!(seen["tags"], serde_json::json!(["a", "b"]));
    assert_eq!(seen["last"], "b");

    // From a trusted proxy (loopback, by default), its headers count.
    let proxied = [
        ("x-forwarded-for", "203.0.113.9"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "shop.example"),
    ];
    let seen = whoami(&s, &proxied).await;
    assert_eq!(seen["url"], "https://shop.example/whoami?tag=a&tag=b");
    assert_eq!(seen["ip"], "203.0.113.9");
    s.stop().await;

    // Trusting no proxy, the same headers are a client's claims: ignored.
    let data = tempfile::tempdir().unwrap();
    let mut cfg = config(data.path().to_owned(), &None, Some(TOKEN));
    cfg.control.manager.trusted_proxies = shared::TrustedProxies::parse("").unwrap();
    let s = TestServer::at(cfg).await;
    s.deploy("default", "whoami", WHOAMI, "GET", "/whoami")
        .await;
    let seen = whoami(&s, &proxied).await;
    assert_eq!(seen["url"], "http://localhost:8080/whoami?tag=a&tag=b");
    assert_eq!(seen["ip"], "127.0.0.1");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_upload_comes_back_byte_identical() {
    let s = TestServer::start(&None).await;
    s.deploy("default", "echo", "request.body_blob", "POST", "/echo")
        .await;
    s.deploy(
        "default",
        "typed",
        r#"#{ status: 201, headers: #{ "content-type": "image/png" }, body: request.body_blob }"#,
        "POST",
        "/typed",
    )
    .await;
    // Every byte value, over and over: invalid UTF-8 throughout.
    let upload: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 7 % 251) as u8).collect();
    for (path, status, content_type) in [
        ("/echo", StatusCode::OK, "application/octet-stream"),
        ("/typed", StatusCode::CREATED, "image/png"),
    ] {
        let response = s
            .client
            .post(format!("{}{path}", s.base))
            .header("host", "localhost")
            .body(upload.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
        assert_eq!(response.headers()["content-type"], content_type, "{path}");
        let body = response.bytes().await.unwrap();
        assert!(
            body.as_ref() == upload.as_slice(),
            "{path}: the bytes differ"
        );
    }
    // Above the body limit: 413 before any script runs.
    let response = s
        .client
        .post(format!("{}/echo", s.base))
        .header("host", "localhost")
        .body(vec![0u8; 10 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let (_, log) = s
        .admin(Method::GET, "/api/v1/admin/executions?limit=10", None)
        .await;
    assert_eq!(log["executions"].as_array().unwrap().len(), 2, "{log}");

    // The limit is the app's: raised to 8 MiB, a 5 MiB upload goes through;
    // lowered to 1 KiB, 2 KiB is refused.
    let post = |size: usize| {
        s.client
            .post(format!("{}/echo", s.base))
            .header("host", "localhost")
            .body(vec![7u8; size])
            .send()
    };
    for (limit, size, status) in [
        (8 << 20, 5 << 20, StatusCode::OK),
        (1024, 2048, StatusCode::PAYLOAD_TOO_LARGE),
        (1024, 1000, StatusCode::OK),
    ] {
        let (patched, body) = s
            .admin(
                Method::PATCH,
                "/api/v1/admin/apps/default",
                // The echo's response is as large as the upload.
                Some(serde_json::json!({"limits": {
                    "max_request_bytes": limit,
                    "max_response_bytes": 8 << 20
                }})),
            )
            .await;
        assert_eq!(patched, StatusCode::OK, "{body}");
        let answer = post(size).await.unwrap();
        assert_eq!(
            answer.status(),
            status,
            "{size} bytes under a {limit} byte limit"
        );
        if status == StatusCode::OK {
            assert_eq!(answer.bytes().await.unwrap().len(), size);
        }
    }
    s.stop().await;
}

/// Per-app CORS: the platform answers preflights for paths that have
/// routes, and puts the CORS headers on every answer of the app, errors
/// included, for allowed origins only; a script's own headers win.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_is_per_app_and_covers_errors() {
    let s = TestServer::start(&None).await;
    s.app_on("api", "api.test").await;
    s.deploy("api", "data", "#{ n: 1 }", "GET", "/data").await;
    s.deploy("api", "boom", r#"throw "no""#, "POST", "/boom")
        .await;
    s.deploy(
        "api",
        "own",
        r#"response(200, "mine", #{ "access-control-allow-origin": "https://own.example" })"#,
        "GET",
        "/own",
    )
    .await;
    let send = |method: Method, path: &str, headers: &[(&str, &str)]| {
        let mut request = s
            .client
            .request(method, format!("{}{path}", s.base))
            .header("host", "api.test");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    let front = "http://front.test:3000";
    let preflight = [
        ("origin", front),
        ("access-control-request-method", "GET"),
        ("access-control-request-headers", "x-token"),
    ];

    // Off by default: a preflight is just an OPTIONS nobody routes.
    let answer = send(Method::OPTIONS, "/data", &preflight).await.unwrap();
    assert_eq!(answer.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(!answer.headers().contains_key("access-control-allow-origin"));

    // Bad policies are refused, naming the problem.
    for (cors, needle) in [
        (
            serde_json::json!({"allow_origins": ["*"], "allow_credentials": true}),
            "allow_credentials",
        ),
        (
            serde_json::json!({"allow_origins": ["front.test"]}),
            "http://",
        ),
        (
            serde_json::json!({"allow_origins": [front], "colour": 1}),
            "colour",
        ),
    ] {
        let (status, body) = s
            .admin(
                Method::PATCH,
                "/api/v1/admin/apps/api",
                Some(serde_json::json!({"cors": cors})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(support::code(&body), "invalid_cors");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(needle),
            "{body}"
        );
    }
    let (status, app) = s
        .admin(
            Method::PATCH,
            "/api/v1/admin/apps/api",
            Some(serde_json::json!({"cors": {
                "allow_origins": [front, "https://{sub}.front.test"],
                "expose_headers": ["x-total"],
                "max_age": 600
            }})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{app}");
    assert_eq!(app["cors"]["max_age"], 600);

    let answer = send(Method::OPTIONS, "/data", &preflight).await.unwrap();
    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
    let h = answer.headers();
    assert_eq!(h["access-control-allow-origin"], front);
    assert!(
        h["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("GET")
    );
    assert_eq!(h["access-control-allow-headers"], "x-token");
    assert_eq!(h["access-control-max-age"], "600");
    assert_eq!(h["vary"], "Origin");

    // Every answer of the app carries the headers: success, 404, 405, 500.
    for (method, path, status) in [
        (Method::GET, "/data", StatusCode::OK),
        (Method::GET, "/nope", StatusCode::NOT_FOUND),
        (Method::DELETE, "/data", StatusCode::METHOD_NOT_ALLOWED),
        (Method::POST, "/boom", StatusCode::INTERNAL_SERVER_ERROR),
    ] {
        let answer = send(method.clone(), path, &[("origin", "https://eu.front.test")])
            .await
            .unwrap();
        assert_eq!(answer.status(), status, "{method} {path}");
        assert_eq!(
            answer.headers()["access-control-allow-origin"],
            "https://eu.front.test",
            "{method} {path}"
        );
        assert_eq!(answer.headers()["access-control-expose-headers"], "x-total");
    }
    // Another origin gets nothing to read, and a script's own headers win.
    let answer = send(Method::GET, "/data", &[("origin", "http://evil.test")])
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(!answer.headers().contains_key("access-control-allow-origin"));
    let answer = send(Method::GET, "/own", &[("origin", front)])
        .await
        .unwrap();
    assert_eq!(
        answer.headers()["access-control-allow-origin"],
        "https://own.example"
    );

    // Another app is untouched; `null` turns the app's CORS off again.
    let answer = s
        .client
        .get(format!("{}/hello", s.base))
        .header("host", "localhost")
        .header("origin", front)
        .send()
        .await
        .unwrap();
    assert!(!answer.headers().contains_key("access-control-allow-origin"));
    let (status, app) = s
        .admin(
            Method::PATCH,
            "/api/v1/admin/apps/api",
            Some(serde_json::json!({"cors": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(app.get("cors").is_none(), "{app}");
    let answer = send(Method::GET, "/data", &[("origin", front)])
        .await
        .unwrap();
    assert!(!answer.headers().contains_key("access-control-allow-origin"));
    s.stop().await;
}

/// Fair share: one busy app holds at most its share of the execution slots
/// (half, by default), its excess waits in its own bounded queue or gets
/// `503 app_overloaded`, and another app's requests still start at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_app_cannot_take_every_slot() {
    // An upstream that accepts connections and never answers: each of busy's
    // runs holds its slot until its deadline, however long the test takes.
    let stalled = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = stalled.local_addr().unwrap();
    let accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = stalled.accept().await {
            held.push(socket);
        }
    });
    let data = tempfile::tempdir().unwrap();
    let mut cfg = config(data.path().to_owned(), &None, Some(TOKEN));
    cfg.max_concurrent = 4;
    // Busy's queue holds two: with two running, the rest of eight wait or
    // are refused at once.
    cfg.max_queued_per_app = 2;
    cfg.outbound.allow_private = true;
    cfg.outbound.timeout = std::time::Duration::from_secs(30);
    let s = TestServer::at(cfg).await;
    s.app_on("busy", "busy.test").await;
    let (status, body) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps/busy/http-allow",
            Some(serde_json::json!({"pattern": format!("http://{upstream}")})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    s.deploy(
        "busy",
        "stall",
        &format!("kv::incr(\"started\"); http::get(\"http://{upstream}/\")"),
        "GET",
        "/stall",
    )
    .await;
    for (app, limits) in [
        ("busy", serde_json::json!({"deadline_ms": 5000})),
        // The default app waits at most 300 ms for a slot: behind four
        // stalled scripts it would get 503, not Hello World.
        ("default", serde_json::json!({"deadline_ms": 300})),
    ] {
        let (status, body) = s
            .admin(
                Method::PATCH,
                &format!("/api/v1/admin/apps/{app}"),
                Some(serde_json::json!({"limits": limits})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let stalls: Vec<_> = (0..8)
        .map(|_| {
            let request = s
                .client
                .get(format!("{}/stall", s.base))
                .header("host", "busy.test");
            tokio::spawn(async move {
                let answer = request.send().await.unwrap();
                let retry = answer.headers().contains_key("retry-after");
                let body: Value = answer.json().await.unwrap();
                (
                    body["error"]["code"].as_str().unwrap_or("").to_owned(),
                    retry,
                )
            })
        })
        .collect();
    // Until busy holds its whole share: two runs started, and stalled (a
    // regression that lets more start must fail below, not wait here).
    loop {
        let (status, entry) = s
            .admin(Method::GET, "/api/v1/admin/apps/busy/kv/started", None)
            .await;
        if status == StatusCode::OK && entry["value"].as_i64() >= Some(2) {
            break;
        }
    }
    let (status, body) = s.call(Method::GET, "localhost", "/hello").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "Hello, World!"));

    let mut codes = Vec::new();
    for stall in stalls {
        codes.push(stall.await.unwrap());
    }
    // Two ran until their deadline; two were refused at once (busy's queue
    // holds two); the four that waited timed out in the
    // queue, or got a slot as the first two ended and stalled in turn.
    let count = |wanted: &str| codes.iter().filter(|(code, _)| code == wanted).count();
    assert!(count("app_overloaded") >= 2, "{codes:?}");
    assert!(count("deadline_exceeded") >= 2, "{codes:?}");
    assert_eq!(
        count("app_overloaded") + count("deadline_exceeded"),
        8,
        "{codes:?}"
    );
    assert!(
        codes
            .iter()
            .all(|(code, retry)| code != "app_overloaded" || *retry),
        "{codes:?}"
    );
    accepting.abort();
    s.stop().await;
}

/// A burst on one app that its share serves within a few milliseconds is
/// queued, not refused: 64 concurrent requests of a script that yields to
/// the runtime mid-run (it uses more than `YIELD_FUEL`) all get 200 with
/// the default queue, where a queue as short as the slots refused half.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_on_one_app_waits_in_its_queue() {
    let data = tempfile::tempdir().unwrap();
    let s = TestServer::at(config(data.path().to_owned(), &None, Some(TOKEN))).await;
    s.deploy(
        "default",
        "sum",
        "let s = 0; for i in 0..20000 { s += i; } s",
        "GET",
        "/sum",
    )
    .await;
    let burst: Vec<_> = (0..64)
        .map(|_| {
            let request = s.client.get(format!("{}/sum", s.base));
            tokio::spawn(async move {
                let answer = request.send().await.unwrap();
                (answer.status(), answer.text().await.unwrap())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for request in burst {
        answers.push(request.await.unwrap());
    }
    let refused: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status != StatusCode::OK)
        .collect();
    assert!(
        refused.is_empty(),
        "{} refused: {:?}",
        refused.len(),
        refused.first()
    );
    assert!(
        answers.iter().all(|(_, body)| body == "199990000"),
        "{:?}",
        answers[0]
    );
    // Each run really yielded: its record shows more fuel than one slice.
    let (_, page) = s
        .admin(
            Method::GET,
            "/api/v1/admin/apps/default/executions?limit=1",
            None,
        )
        .await;
    let fuel = page["executions"][0]["fuel_used"].as_u64().unwrap();
    assert!(fuel > executor_core::YIELD_FUEL, "{page}");
    s.stop().await;
}

/// An app's optional rate limit: a burst, then `429 rate_limited` with
/// `Retry-After` (CORS headers included), per app or per client address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_rate_limit_answers_429_with_retry_after() {
    let s = TestServer::start(&None).await;
    s.app_on("limited", "limited.test").await;
    s.deploy("limited", "hi", "\"hi\"", "GET", "/hi").await;
    let patch =
        |body: serde_json::Value| s.admin(Method::PATCH, "/api/v1/admin/apps/limited", Some(body));
    let (status, body) = patch(serde_json::json!({"rate_limit": {"requests_per_second": 0}})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(support::code(&body), "invalid_rate_limit");
    let (status, body) = patch(serde_json::json!({
        "rate_limit": {"requests_per_second": 0.01, "burst": 2},
        "cors": {"allow_origins": ["http://front.test"]}
    }))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let get = |client_ip: &'static str| {
        s.client
            .get(format!("{}/hi", s.base))
            .header("host", "limited.test")
            .header("origin", "http://front.test")
            .header("x-forwarded-for", client_ip)
            .send()
    };
    for _ in 0..2 {
        assert_eq!(get("192.0.2.1").await.unwrap().status(), StatusCode::OK);
    }
    // One bucket for the whole app: another client is refused too.
    for client in ["192.0.2.1", "192.0.2.2"] {
        let answer = get(client).await.unwrap();
        assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = answer.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=100).contains(&retry), "{retry}");
        assert_eq!(
            answer.headers()["access-control-allow-origin"],
            "http://front.test"
        );
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["code"], "rate_limited");
    }
    // Per client address (from the trusted proxy's X-Forwarded-For).
    let (status, _) = patch(serde_json::json!({
        "rate_limit": {"requests_per_second": 0.01, "burst": 1, "per_client_ip": true}
    }))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(get("198.51.100.1").await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        get("198.51.100.1").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(get("198.51.100.2").await.unwrap().status(), StatusCode::OK);
    // Off again.
    let (status, app) = patch(serde_json::json!({"rate_limit": null})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(app.get("rate_limit").is_none(), "{app}");
    assert_eq!(get("198.51.100.1").await.unwrap().status(), StatusCode::OK);
    s.stop().await;
}
