//! Faults from outside: the database going away and coming back.

use std::path::PathBuf;

use picloud::{Server, ServerConfig};
use reqwest::StatusCode;
use serde_json::Value;

const TOKEN: &str = "pc_faults_test_token_0123456789";

fn config(data_dir: PathBuf, database_url: String) -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir,
        database_url: Some(database_url),
        admin_token: Some(TOKEN.into()),
        admin_user: None,
        session_ttl: std::time::Duration::from_secs(3600),
        log_max_per_app: 10_000,
        log_max_age: std::time::Duration::from_secs(30 * 24 * 3600),
        public_base_url: None,
        max_concurrent: 4,
        max_body_bytes: 1 << 20,
        cache_dir: Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache")),
    }
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
    let get = |path: &str| {
        client
            .get(format!("{base}{path}"))
            .bearer_auth(TOKEN)
            .header("host", "localhost")
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
