//! Test and benchmark support.
//!
//! [`PgCluster`] is a throwaway PostgreSQL cluster: `initdb` into a temporary
//! directory, a server listening only on a Unix socket inside it (no TCP port,
//! so parallel runs cannot collide), a fresh database per test, and a stop on
//! drop. Test suites that run against both engines start one per process.
//! [`harness`] runs a suite once per database engine with such a cluster;
//! [`bench`] holds the timing loop behind the benchmarks' printed ratios.
//!
//! ```no_run
//! let cluster = testkit::PgCluster::start().expect("PostgreSQL starts");
//! let url = cluster.create_database("my_test");
//! // connect with sqlx to `url` …
//! ```

pub mod bench;
pub mod caddy;
pub mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A running PostgreSQL server owned by the test process.
#[derive(Debug)]
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// When the tests run as root: initdb refuses root, so the server runs as
    /// this account (Debian's `postgres`).
    run_as: Option<String>,
    next: AtomicU32,
}

/// The Unix-socket "port": only the socket file name, never a TCP port.
const SOCKET_PORT: &str = "5432";

impl PgCluster {
    /// Starts a cluster; `Err` says what is missing (e.g. the postgresql package).
    pub fn start() -> Result<PgCluster, String> {
        let bin = find_bin_dir().ok_or(
            "PostgreSQL server binaries not found: install the Debian package `postgresql` (make setup does, as root)",
        )?;
        let dir = tempfile::Builder::new()
            .prefix("picloud-pg-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let run_as = is_root().then(|| "postgres".to_owned());
        if let Some(user) = &run_as {
            // The data directory must belong to the server's account.
            run(Command::new("chown").arg("-R").arg(user).arg(dir.path()))?;
        }
        let cluster = PgCluster {
            dir,
            bin,
            run_as,
            next: AtomicU32::new(0),
        };
        let data = cluster.data_dir();
        cluster.run_pg(
            "initdb",
            &[
                "-D",
                path(&data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )?;
        cluster.resume()?;
        Ok(cluster)
    }

    /// Stops the server (fast shutdown: open connections are cut), as an
    /// outage would; [`PgCluster::resume`] starts it again on the same socket.
    pub fn stop(&self) -> Result<(), String> {
        let data = self.data_dir();
        self.run_pg("pg_ctl", &["stop", "-m", "fast", "-w", "-D", path(&data)])
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn resume(&self) -> Result<(), String> {
        let data = self.data_dir();
        let options = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -p {SOCKET_PORT} -c fsync=off -c full_page_writes=off",
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        self.run_pg(
            "pg_ctl",
            &[
                "start",
                "-w",
                "-D",
                path(&data),
                "-l",
                path(&log),
                "-o",
                &options,
            ],
        )?;
        Ok(())
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run_pg(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        let exe = self.bin.join(tool);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args(args).current_dir(self.dir.path());
        run(&mut cmd)
    }

    /// Creates a fresh database (name made unique with a counter) and returns its URL.
    pub fn create_database(&self, hint: &str) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let name: String = format!("{hint}_{n}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let socket = self.dir.path().display().to_string();
        self.run_pg(
            "createdb",
            &["-h", &socket, "-p", SOCKET_PORT, "-U", "postgres", &name],
        )
        .expect("createdb");
        format!("postgres://postgres@localhost/{name}?host={socket}&port={SOCKET_PORT}")
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = self.run_pg(
            "pg_ctl",
            &["stop", "-m", "immediate", "-w", "-D", path(&data)],
        );
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("running {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

fn find_bin_dir() -> Option<PathBuf> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Some(dir);
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// Runs `future` to completion on the calling thread, for synchronous test
/// harnesses (datatest, proptest) that drive the async executor. A current-
/// thread runtime per call: cheap next to an execution, and nothing is shared
/// between cases.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime")
        .block_on(future)
}
