//! The real Caddy (Debian's `caddy` package) with the repository's
//! `caddy/Caddyfile`, for the tests that put it in front of PiCloud: the
//! proxy tests (`host/picloud/tests/caddy.rs`) and the cluster test
//! (`host/picloud-manager/tests/cluster.rs`). Caddy is required: without it
//! these fail and say how to install it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};

/// The variables the Caddyfiles read; none is inherited from the test's
/// environment.
const CADDY_VARS: [&str; 6] = [
    "PICLOUD_SITE",
    "PICLOUD_MANAGER",
    "PICLOUD_ORCHESTRATORS",
    "PICLOUD_CADDY_ADMIN",
    "PICLOUD_DOMAIN",
    "PICLOUD_ACME_EMAIL",
];

/// `caddy/<name>` of the checkout under test. Found from the running test's
/// package (cargo sets `CARGO_MANIFEST_DIR` when it runs a test binary), not
/// from this crate's compile-time path: with a build cache shared between two
/// checkouts, a reused testkit would otherwise point every test at the
/// checkout that built it.
pub fn caddyfile(name: &str) -> PathBuf {
    let package = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    package
        .ancestors()
        .map(|dir| dir.join("caddy"))
        .find(|dir| dir.join(name).is_file())
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../caddy"))
        .join(name)
}

/// `caddy <args>` with its home (storage, autosaved config) in `home` and no
/// PiCloud variables but `vars`.
pub fn caddy(home: &Path, args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new("caddy");
    command
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .stdin(Stdio::null());
    for var in CADDY_VARS {
        command.env_remove(var);
    }
    command.envs(vars.iter().copied());
    command
}

pub fn not_installed(err: &std::io::Error) -> String {
    if err.kind() == std::io::ErrorKind::NotFound {
        "Caddy is not installed (the `caddy` command was not found): run `scripts/setup.sh test` as root, or install Debian's `caddy` package".to_owned()
    } else {
        format!("starting caddy: {err}")
    }
}

/// A port nobody listens on at the moment.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `caddy run` with the dev Caddyfile; killed when dropped, so a
/// failing test leaves no Caddy behind.
pub struct Caddy {
    child: Child,
    /// Where it serves (on every interface, as `http://:<port>` says).
    pub base: String,
    home: tempfile::TempDir,
}

impl Drop for Caddy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Caddy {
    /// Starts Caddy on a free port in front of `manager` and
    /// `orchestrators` (space-separated), and waits until it serves
    /// `/healthz` from them.
    pub async fn start(manager: &str, orchestrators: &str) -> Caddy {
        // The port is free when asked for, but another process may take it
        // before Caddy binds it; then Caddy exits and we try another.
        let mut last = String::new();
        for _ in 0..3 {
            match Caddy::try_start(manager, orchestrators).await {
                Ok(caddy) => return caddy,
                Err(stderr) if stderr.contains("address already in use") => last = stderr,
                Err(stderr) => panic!("{stderr}"),
            }
        }
        panic!("{last}")
    }

    async fn try_start(manager: &str, orchestrators: &str) -> Result<Caddy, String> {
        let home = tempfile::tempdir().unwrap();
        let port = free_port();
        let stderr = std::fs::File::create(home.path().join("caddy.err")).unwrap();
        let config = caddyfile("Caddyfile");
        let child = caddy(
            home.path(),
            &[
                "run",
                "--config",
                config.to_str().unwrap(),
                "--adapter",
                "caddyfile",
            ],
            &[
                ("PICLOUD_SITE", &format!("http://:{port}")),
                ("PICLOUD_MANAGER", manager),
                ("PICLOUD_ORCHESTRATORS", orchestrators),
                // Parallel Caddies would fight over the default port 2019.
                ("PICLOUD_CADDY_ADMIN", "off"),
            ],
        )
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|err| panic!("{}", not_installed(&err)));
        let mut caddy = Caddy {
            child,
            base: format!("http://127.0.0.1:{port}"),
            home,
        };
        let client = Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = caddy.child.try_wait().unwrap() {
                return Err(format!(
                    "Caddy exited ({status}) before serving; its stderr:\n{}",
                    caddy.stderr()
                ));
            }
            // Through Caddy, not from whatever else may hold the port: Caddy
            // names itself in `Server`, PiCloud does not.
            if let Ok(response) = client.get(format!("{}/healthz", caddy.base)).send().await
                && response.status() == StatusCode::OK
                && response
                    .headers()
                    .get("server")
                    .is_some_and(|server| server == "Caddy")
                && response.text().await.is_ok_and(|body| body == "ok")
            {
                return Ok(caddy);
            }
            if Instant::now() > deadline {
                panic!(
                    "Caddy did not serve /healthz within 30 s; its stderr:\n{}",
                    caddy.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What Caddy wrote to stderr so far (its log), for failure messages.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.home.path().join("caddy.err")).unwrap_or_default()
    }
}
