//! The server under test and the calls the HTTP suites make to it: each
//! suite starts its own servers on loopback ports from the OS.

// Each test crate that declares `mod support;` uses a different part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use picloud::{ControlConfig, Server, ServerConfig};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

pub(crate) mod relay;

pub(crate) const TOKEN: &str = "test-admin-token-0123456789";

/// The database a test runs on: `None` = SQLite in the server's data
/// directory, `Some(url)` = a fresh PostgreSQL database.
pub(crate) type Db = Option<String>;

macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        vec![$((stringify!($name), (|db| Box::pin($name(db))) as testkit::harness::Test)),*]
    };
}

pub(crate) struct TestServer {
    pub(crate) server: Option<Server>,
    pub(crate) base: String,
    pub(crate) client: Client,
    pub(crate) _data: Option<tempfile::TempDir>,
}

pub(crate) fn config(data_dir: PathBuf, db: &Db, admin_token: Option<&str>) -> ServerConfig {
    let listen = "127.0.0.1:0".parse::<SocketAddr>().unwrap();
    ServerConfig {
        control: ControlConfig {
            database_url: db.clone(),
            admin_token: admin_token.map(str::to_owned),
            manager: picloud::ManagerConfig {
                session_ttl: std::time::Duration::from_secs(3600),
                ..Default::default()
            },
            ..ControlConfig::new(listen, data_dir.clone())
        },
        max_concurrent: 4,
        // Shared across tests so the guest is pre-initialized and compiled once.
        cache_dir: Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache")),
        ..ServerConfig::new(listen, data_dir)
    }
}

impl TestServer {
    pub(crate) async fn start(db: &Db) -> TestServer {
        let data = tempfile::tempdir().unwrap();
        let mut server = TestServer::at(config(data.path().to_owned(), db, Some(TOKEN))).await;
        server._data = Some(data);
        server
    }

    pub(crate) async fn at(config: ServerConfig) -> TestServer {
        let server = Server::start(config).await.expect("server starts");
        let base = format!("http://{}", server.addr);
        TestServer {
            server: Some(server),
            base,
            client: Client::new(),
            _data: None,
        }
    }

    pub(crate) async fn stop(mut self) -> Option<String> {
        let server = self.server.take().unwrap();
        let token = server.generated_token.clone();
        server.stop().await.unwrap();
        token
    }

    /// An admin call with the token; returns status and JSON (or Null).
    pub(crate) async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A user request with a Host header; returns status and body text.
    pub(crate) async fn call(
        &self,
        method: Method,
        host: &str,
        path: &str,
    ) -> (StatusCode, String) {
        let resp = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("host", host)
            .send()
            .await
            .unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    pub(crate) async fn script(&self, name: &str, source: &str) -> String {
        self.script_in("default", name, source).await
    }

    /// Creates script `name` in `app` (id or slug); its id.
    pub(crate) async fn script_in(&self, app: &str, name: &str, source: &str) -> String {
        let (status, body) = self
            .admin(
                Method::POST,
                "/api/v1/admin/scripts",
                Some(json!({"app_id": app, "name": name, "source": source})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Creates app `slug` claiming `domain`.
    pub(crate) async fn app_on(&self, slug: &str, domain: &str) {
        let (status, body) = self
            .admin(
                Method::POST,
                "/api/v1/admin/apps",
                Some(json!({"slug": slug})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = self
            .admin(
                Method::POST,
                &format!("/api/v1/admin/apps/{slug}/domains"),
                Some(json!({"pattern": domain})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// Creates a script in `app` (id or slug) bound to `method path`.
    pub(crate) async fn deploy(
        &self,
        app: &str,
        name: &str,
        source: &str,
        method: &str,
        path: &str,
    ) {
        let (status, body) = self
            .admin(
                Method::POST,
                "/api/v1/admin/scripts",
                Some(json!({"app_id": app, "name": name, "source": source})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = self.route(body["id"].as_str().unwrap(), method, path).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    pub(crate) async fn route(
        &self,
        script: &str,
        method: &str,
        path: &str,
    ) -> (StatusCode, Value) {
        self.admin(
            Method::POST,
            &format!("/api/v1/admin/scripts/{script}/routes"),
            Some(json!({"method": method, "path": path})),
        )
        .await
    }
}

/// Sends `request` bytes on one connection and reads until the server
/// closes it (the last request says `Connection: close`). The outer bound
/// only keeps a regression from hanging the suite.
pub(crate) async fn raw_exchange(s: &TestServer, request: &[u8]) -> String {
    let addr = s.server.as_ref().unwrap().addr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        stream.read_to_end(&mut answer),
    )
    .await
    .expect("the server closes the connection")
    .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

pub(crate) fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no code>")
}

/// Polls `check` until it gives a value, for at most `within`: the way the
/// suites wait for work the server does in the background (a queue run, a
/// mail), with a deadline instead of a sleep.
pub(crate) async fn eventually<T, F, Fut>(
    what: &str,
    within: std::time::Duration,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
