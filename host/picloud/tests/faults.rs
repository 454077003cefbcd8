//! Faults from outside: the database going away and coming back.

use std::path::PathBuf;

use picloud::{ControlConfig, Server, ServerConfig};
use reqwest::StatusCode;
use serde_json::Value;

const TOKEN: &str = "pc_faults_test_token_0123456789";

fn config(data_dir: PathBuf, database_url: String) -> ServerConfig {
    let listen = "127.0.0.1:0".parse().unwrap();
    ServerConfig {
        control: ControlConfig {
            database_url: Some(database_url),
            admin_token: Some(TOKEN.into()),
            ..ControlConfig::new(listen, data_dir.clone())
        },
        max_concurrent: 4,
        // Shared across tests so the guest is pre-initialized and compiled once.
        cache_dir: Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache")),
        ..ServerConfig::new(listen, data_dir)
    }
}

/// Creates a script in the `default` app and binds `method path` to it.
async fn deploy(client: &reqwest::Client, server: &Server, source: &str, method: &str, path: &str) {
    let admin = format!("http://{}/api/v1/admin", server.addr);
    let script: Value = client
        .post(format!("{admin}/scripts"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"name": path.trim_start_matches('/'), "source": source}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let route = client
        .post(format!(
            "{admin}/scripts/{}/routes",
            script["id"].as_str().unwrap()
        ))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"method": method, "path": path}))
        .send()
        .await
        .unwrap();
    assert_eq!(route.status(), 201);
}

/// PostgreSQL stops: admin requests get a clear 503 (not a hang, not a 500),
/// readiness says why, liveness and user routes carry on from the routing
/// cache; when PostgreSQL is back, everything recovers without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_answers_503_and_recovers_by_itself() {
    let cluster = testkit::PgCluster::start().expect("PostgreSQL starts");
    let url = cluster.create_database("outage");
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(config(data.path().to_owned(), url))
        .await
        .expect("server starts");
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    // The admin host (127.0.0.1) serves the admin API, and Hello World too.
    let get = |path: &str| {
        client
            .get(format!("{base}{path}"))
            .bearer_auth(TOKEN)
            .send()
    };

    assert_eq!(get("/api/v1/admin/apps").await.unwrap().status(), 200);
    let ready = get("/healthz/ready").await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready");

    cluster.stop().expect("PostgreSQL stops");
    let down = get("/api/v1/admin/apps").await.unwrap();
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(down.headers().contains_key("retry-after"));
    let body: Value = down.json().await.unwrap();
    assert_eq!(body["error"]["code"], "database_unavailable", "{body}");
    let ready = get("/healthz/ready").await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        ready.json::<Value>().await.unwrap()["database"],
        "unavailable"
    );
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    let hello = get("/hello").await.unwrap();
    assert_eq!(hello.status(), 200);
    assert_eq!(hello.text().await.unwrap(), "Hello, World!");

    cluster.resume().expect("PostgreSQL starts again");
    let back = get("/api/v1/admin/apps").await.unwrap();
    assert_eq!(back.status(), 200);
    assert_eq!(get("/healthz/ready").await.unwrap().status(), 200);
    server.stop().await.unwrap();
}

/// Clients that trickle in their headers or body, or send huge headers, are
/// cut off instead of holding a connection (and its memory) indefinitely.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_oversized_requests_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let data = tempfile::tempdir().unwrap();
    let mut config = config(
        data.path().to_owned(),
        format!("sqlite://{}", data.path().join("picloud.db").display()),
    );
    config.control.http.header_read_timeout = std::time::Duration::from_millis(300);
    config.control.http.body_read_timeout = std::time::Duration::from_millis(300);
    config.control.http.max_header_bytes = 16 * 1024;
    let server = Server::start(config).await.expect("server starts");
    // Reads until the server closes the connection. The outer bound only
    // keeps a regression from hanging the suite; the server's own timeouts
    // are 300 ms.
    let exchange = |request: Vec<u8>| async move {
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(&request).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(20),
            stream.read_to_end(&mut answer),
        )
        .await
        .expect("the server closes the connection")
        .unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    };

    // Headers that never finish: the connection is closed.
    let answer = exchange(b"GET /hello HTTP/1.1\r\nHost: loca".to_vec()).await;
    assert_eq!(answer, "");

    // Too many header bytes: 431.
    let mut big = b"GET /hello HTTP/1.1\r\nHost: localhost\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 32 * 1024));
    big.extend(b"\r\n\r\n");
    let answer = exchange(big).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    // A body that stops halfway: the request fails with 408, and the
    // connection is closed.
    let answer = exchange(
        format!(
            "POST /api/v1/admin/apps HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"slug\":"
        )
        .into_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");

    // The same on a user route, before the script runs.
    deploy(
        &reqwest::Client::new(),
        &server,
        "request.body",
        "POST",
        "/echo",
    )
    .await;
    let answer = exchange(
        b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nhalf".to_vec(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    server.stop().await.unwrap();
}

/// More slow scripts at once than execution slots: the ones that cannot get
/// a slot within their deadline get `503 executor_overloaded` with
/// `Retry-After`, never an unbounded queue; afterwards the server serves
/// normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_slow_scripts_than_slots_get_503_not_a_backlog() {
    let data = tempfile::tempdir().unwrap();
    let mut config = config(
        data.path().to_owned(),
        format!("sqlite://{}", data.path().join("picloud.db").display()),
    );
    config.max_concurrent = 1;
    let server = Server::start(config).await.expect("server starts");
    let client = reqwest::Client::new();
    let admin = format!("http://{}/api/v1/admin", server.addr);
    // A busy loop holds its slot until a limit stops it (the deadline, or
    // Rhai's operation count, whichever comes first).
    let limits = client
        .patch(format!("{admin}/apps/default"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"limits": {"deadline_ms": 150, "fuel": 4_000_000_000u64}}))
        .send()
        .await
        .unwrap();
    assert_eq!(limits.status(), 200);
    deploy(&client, &server, "loop { }", "GET", "/spin").await;

    let calls = (0..6).map(|_| {
        let client = client.clone();
        let url = format!("http://{}/spin", server.addr);
        tokio::spawn(async move {
            let resp = client
                .get(url)
                .header("host", "localhost")
                .send()
                .await
                .unwrap();
            let retry_after = resp.headers().contains_key("retry-after");
            let body: Value = resp.json().await.unwrap();
            (
                body["error"]["code"].as_str().unwrap().to_owned(),
                retry_after,
            )
        })
    });
    let mut codes = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        codes.push(call.await.unwrap());
    }
    let overloaded = codes
        .iter()
        .filter(|(code, retry)| code == "executor_overloaded" && *retry)
        .count();
    let stopped = codes
        .iter()
        .filter(|(code, _)| {
            ["deadline_exceeded", "fuel_exhausted", "operations_exceeded"].contains(&code.as_str())
        })
        .count();
    assert_eq!(overloaded + stopped, 6, "{codes:?}");
    // One slot, 150 ms each, 150 ms of patience: most of the six cannot start.
    assert!(overloaded >= 3, "{codes:?}");
    let hello = client
        .get(format!("http://{}/hello", server.addr))
        .header("host", "localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(hello.text().await.unwrap(), "Hello, World!");
    server.stop().await.unwrap();
}
