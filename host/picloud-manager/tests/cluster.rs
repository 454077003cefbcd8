//! A whole cluster on loopback, used as an operator and a user would:
//! PostgreSQL, one `picloud-manager`, two `picloud-orchestrator` +
//! `picloud-executor` pairs, and the real Caddy with `caddy/Caddyfile`
//! load-balancing over the orchestrators.
//!
//! The orchestrator and executor binaries are found next to the manager's
//! (cargo builds every binary of the workspace members that have integration
//! tests before running any test).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use testkit::caddy::{Caddy, free_port};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

const TOKEN: &str = "cluster-test-admin-token-0123456789";
const SECRET: &str = "cluster-test-secret-0123456789abcdef";
const HOST: &str = "shop.cluster.test";

/// One process of the cluster; killed when dropped, so a failing test
/// leaves nothing behind.
struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
    addr: String,
}

impl Process {
    /// Starts `program` and waits (bounded) for its "listening on" line,
    /// which carries the address it bound.
    async fn start(
        name: &'static str,
        program: &Path,
        dir: &Path,
        envs: &[(&str, String)],
    ) -> Process {
        let log = dir.join(format!("{name}.log"));
        let mut command = Command::new(program);
        command
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .env("PICLOUD_CLUSTER_SECRET", SECRET)
            .env("PICLOUD_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("starting {}: {err}", program.display()));
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let wait = async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    return Some(addr.trim().to_owned());
                }
            }
            None
        };
        let addr = match tokio::time::timeout(Duration::from_secs(120), wait).await {
            Ok(Some(addr)) => addr,
            _ => panic!(
                "{name} did not start; its log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            ),
        };
        // Keep reading stdout so the process never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Process {
            name,
            child,
            log,
            addr,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn log(&self) -> String {
        format!(
            "--- {} log ---\n{}",
            self.name,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        )
    }
}

fn binary(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_picloud-manager")).with_file_name(name);
    assert!(
        path.is_file(),
        "{} is missing: build the cluster binaries (`make build`, or `cargo test --workspace`)",
        path.display()
    );
    path
}

struct Cluster {
    dir: tempfile::TempDir,
    manager: Process,
    manager_env: Vec<(&'static str, String)>,
    orchestrators: Vec<Process>,
    executors: Vec<Process>,
    caddy: Caddy,
    caddy_url: String,
    client: Client,
}

impl Cluster {
    async fn start(database_url: String) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        // Shared with the other suites: the guest is compiled once per engine.
        let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache");
        let manager_url = format!("http://127.0.0.1:{}", free_port());

        let mut executors = Vec::new();
        for name in ["executor-a", "executor-b"] {
            executors.push(
                Process::start(
                    name,
                    &binary("picloud-executor"),
                    dir.path(),
                    &[
                        ("PICLOUD_LISTEN", "127.0.0.1:0".into()),
                        ("PICLOUD_MANAGER_URL", manager_url.clone()),
                        ("PICLOUD_CACHE_DIR", cache.display().to_string()),
                        ("PICLOUD_MAX_CONCURRENT", "4".into()),
                    ],
                )
                .await,
            );
        }
        let executor_urls: Vec<String> = executors.iter().map(Process::url).collect();
        let manager_env = vec![
            (
                "PICLOUD_LISTEN",
                manager_url.trim_start_matches("http://").to_owned(),
            ),
            (
                "PICLOUD_DATA_DIR",
                dir.path().join("manager").display().to_string(),
            ),
            ("PICLOUD_DATABASE_URL", database_url),
            ("PICLOUD_ADMIN_TOKEN", TOKEN.into()),
            ("PICLOUD_EXECUTORS", executor_urls.join(",")),
        ];
        let manager = Process::start(
            "manager",
            Path::new(env!("CARGO_BIN_EXE_picloud-manager")),
            dir.path(),
            &manager_env,
        )
        .await;
        let mut orchestrators = Vec::new();
        for (name, executor) in [("node-a", &executors[0]), ("node-b", &executors[1])] {
            orchestrators.push(
                Process::start(
                    if name == "node-a" {
                        "orchestrator-a"
                    } else {
                        "orchestrator-b"
                    },
                    &binary("picloud-orchestrator"),
                    dir.path(),
                    &[
                        ("PICLOUD_LISTEN", "127.0.0.1:0".into()),
                        ("PICLOUD_MANAGER_URL", manager.url()),
                        // Each orchestrator runs scripts on its own node's executor.
                        ("PICLOUD_EXECUTORS", executor.url()),
                        ("PICLOUD_NODE_NAME", name.into()),
                        ("PICLOUD_SERVED_BY_HEADER", "true".into()),
                    ],
                )
                .await,
            );
        }

        let upstreams: Vec<String> = orchestrators.iter().map(|o| o.addr.clone()).collect();
        let caddy = Caddy::start(&manager.addr, &upstreams.join(" ")).await;
        let caddy_url = caddy.base.clone();
        Cluster {
            dir,
            manager,
            manager_env,
            orchestrators,
            executors,
            caddy,
            caddy_url,
            client: Client::new(),
        }
    }

    /// Stops the manager abruptly and starts it again on the same address
    /// and database.
    async fn restart_manager(&mut self) {
        self.manager.child.kill().await.unwrap();
        self.manager = Process::start(
            "manager-restarted",
            Path::new(env!("CARGO_BIN_EXE_picloud-manager")),
            self.dir.path(),
            &self.manager_env,
        )
        .await;
    }

    fn logs(&self) -> String {
        let mut logs = vec![self.manager.log()];
        logs.extend(self.orchestrators.iter().map(Process::log));
        logs.extend(self.executors.iter().map(Process::log));
        logs.push(format!("--- caddy log ---\n{}", self.caddy.stderr()));
        logs.join("\n")
    }

    /// An admin API call through Caddy.
    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.admin_at(&self.caddy_url, method, path, body).await
    }

    /// An admin API call to `base`.
    async fn admin_at(
        &self,
        base: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{base}{path}"))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A user request for `path` on the shop's domain at `base`; returns the
    /// status, the serving node and the body.
    async fn call(&self, base: &str, path: &str) -> (StatusCode, String, String) {
        let response = self
            .client
            .get(format!("{base}{path}"))
            .header("host", HOST)
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {base}{path}: {err}\n{}", self.logs()));
        let status = response.status();
        let node = response
            .headers()
            .get("x-picloud-node")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, node, response.text().await.unwrap())
    }
}

fn counts(nodes: &[String]) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    for node in nodes {
        *counts.entry(node.as_str()).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_behind_caddy_serves_updates_everywhere_and_survives_a_node() {
    let pg = testkit::PgCluster::start().expect("PostgreSQL for the cluster");
    let mut cluster = Cluster::start(pg.create_database("cluster")).await;

    // An app on its own domain, with a versioned script and a counter that
    // lives in the manager's database (reached by executors remotely).
    let (status, body) = cluster
        .admin(
            Method::POST,
            "/api/v1/admin/apps",
            Some(json!({"slug": "shop"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}\n{}", cluster.logs());
    let (status, body) = cluster
        .admin(
            Method::POST,
            "/api/v1/admin/apps/shop/domains",
            Some(json!({"pattern": HOST})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut script_ids = Vec::new();
    for (name, source, path) in [
        ("version", r#""v1""#, "/version-of-script"),
        ("counter", r#"`${kv::incr("hits", 1)}`"#, "/count"),
        // users:: across the network: the password goes to the manager,
        // which alone hashes and keeps sessions.
        (
            "account",
            r#"let email = `u${kv::incr("accounts", 1)}@example.com`;
users::signup(email, "a long passphrase");
let session = users::login(email, "a long passphrase");
users::current(#{ headers: #{ authorization: `Bearer ${session.token}` } }).email"#,
            "/account",
        ),
        // queue::send across the network; the manager's consumer runs the
        // worker on an executor node.
        ("enqueue", r#"queue::send("work", 1)"#, "/enqueue"),
        (
            "worker",
            r#"kv::incr("worked", request.payload)"#,
            "/worker",
        ),
    ] {
        let (status, body) = cluster
            .admin(
                Method::POST,
                "/api/v1/admin/scripts",
                Some(json!({"app_id": "shop", "name": name, "source": source})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}\n{}", cluster.logs());
        let id = body["id"].as_str().unwrap().to_owned();
        let (status, body) = cluster
            .admin(
                Method::POST,
                &format!("/api/v1/admin/scripts/{id}/routes"),
                Some(json!({"method": "GET", "path": path})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        script_ids.push(id);
    }

    // Through Caddy, many times: every call answers, and both nodes serve.
    let caddy = cluster.caddy_url.clone();
    let mut served_by = Vec::new();
    for _ in 0..40 {
        let (status, node, body) = cluster.call(&caddy, "/version-of-script").await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "v1"),
            "{}",
            cluster.logs()
        );
        served_by.push(node);
    }
    let spread = counts(&served_by);
    assert_eq!(
        spread.keys().copied().collect::<Vec<_>>(),
        ["node-a", "node-b"],
        "both orchestrators serve: {spread:?}"
    );
    // The data plane is one store, whichever node runs the script.
    let mut hits = Vec::new();
    for _ in 0..6 {
        let (status, _, body) = cluster.call(&caddy, "/count").await;
        assert_eq!(status, StatusCode::OK, "{body}\n{}", cluster.logs());
        hits.push(body.parse::<i64>().unwrap());
    }
    assert_eq!(hits, [1, 2, 3, 4, 5, 6]);
    for n in 1..=2 {
        let (status, _, body) = cluster.call(&caddy, "/account").await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, format!("u{n}@example.com")),
            "{}",
            cluster.logs()
        );
    }

    let (status, body) = cluster
        .admin(
            Method::POST,
            "/api/v1/admin/apps/shop/triggers",
            Some(json!({"script": "worker", "queue": "work"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for _ in 0..3 {
        let (status, _, body) = cluster.call(&caddy, "/enqueue").await;
        assert_eq!(status, StatusCode::OK, "{body}\n{}", cluster.logs());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, entry) = cluster
            .admin(Method::GET, "/api/v1/admin/apps/shop/kv/worked", None)
            .await;
        if entry["value"] == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the queue's messages did not all run: {entry}\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // An update through the manager: when the API call returns, every node
    // already serves the new version (the manager waits for their
    // acknowledgements), so the first request to each, straight to the
    // orchestrator, sees it.
    let updated = Instant::now();
    let (status, body) = cluster
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/scripts/{}", script_ids[0]),
            Some(json!({"source": r#""v2""#})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for orchestrator in &cluster.orchestrators {
        let (status, node, body) = cluster
            .call(&orchestrator.url(), "/version-of-script")
            .await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "v2"),
            "{node} still serves the old version\n{}",
            cluster.logs()
        );
    }
    let propagation = updated.elapsed();
    assert!(
        propagation < Duration::from_secs(1),
        "every node served the update {propagation:?} after it was made"
    );
    eprintln!("update served by every node {propagation:?} after the PATCH was sent");

    // Execution records reach the manager's log from both nodes.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = cluster
            .admin(
                Method::GET,
                "/api/v1/admin/executions?app=shop&limit=200",
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let records = body["executions"].as_array().map_or(0, Vec::len);
        if records >= 48 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {records} of 48 execution records reached the manager\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // One node dies (orchestrator and executor): Caddy keeps serving from
    // the other, for every request.
    let mut dead = cluster.orchestrators.remove(0);
    dead.child.kill().await.unwrap();
    let mut dead_executor = cluster.executors.remove(0);
    dead_executor.child.kill().await.unwrap();
    let mut served_by = Vec::new();
    for _ in 0..20 {
        let (status, node, body) = cluster.call(&caddy, "/version-of-script").await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::OK, "v2"),
            "with node-a down\n{}",
            cluster.logs()
        );
        served_by.push(node);
    }
    assert_eq!(
        counts(&served_by).keys().copied().collect::<Vec<_>>(),
        ["node-b"]
    );
    // The admin API and the data plane still work too.
    let (status, _, body) = cluster.call(&caddy, "/count").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "7"));

    // The manager restarts (kill -9): the surviving orchestrator kept
    // serving meanwhile, reconnects to the event stream by itself, and
    // serves a change made after the restart.
    cluster.restart_manager().await;
    let (status, _, body) = cluster.call(&caddy, "/version-of-script").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "v2"));
    // Straight to the manager: Caddy's health checks may not have seen it
    // come back yet, and they are not what this part is about.
    let (status, body) = cluster
        .admin_at(
            &cluster.manager.url(),
            Method::PATCH,
            &format!("/api/v1/admin/scripts/{}", script_ids[0]),
            Some(json!({"source": r#""v3""#})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}\n{}", cluster.logs());
    let node_b = cluster.orchestrators[0].url();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, body) = cluster.call(&node_b, "/version-of-script").await;
        if (status, body.as_str()) == (StatusCode::OK, "v3") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node-b never served the change made after the manager restarted: {status} {body}\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    drop(cluster);
    pg.stop().unwrap();
}
