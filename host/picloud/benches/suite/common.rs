//! What the benchmarks share: options, the result table, throwaway servers
//! (PiCloud and the minimal axum baseline) as child processes, RSS readings,
//! admin API calls and load runs.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// The admin token every benchmark server starts with.
pub(crate) const TOKEN: &str = "picloud-bench-admin-token";

/// The environment variable that turns this binary into the baseline server.
pub(crate) const BASELINE_ROLE: &str = "PICLOUD_BENCH_ROLE";

/// Command-line options: `cargo bench` passes `--bench`; `cargo test
/// --benches` does not, and then every benchmark runs briefly, as a smoke
/// test. Any other argument that is not a flag selects benchmarks by name.
pub(crate) struct Opts {
    pub(crate) full: bool,
    filters: Vec<String>,
}

impl Opts {
    pub(crate) fn from_args() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        Opts {
            full: args.iter().any(|a| a == "--bench"),
            filters: args.into_iter().filter(|a| !a.starts_with('-')).collect(),
        }
    }

    pub(crate) fn selected(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }

    /// `full` when benchmarking, `brief` in test mode.
    pub(crate) fn pick<T>(&self, full: T, brief: T) -> T {
        if self.full { full } else { brief }
    }
}

/// A measured quantity with its unit, for printing.
#[derive(Clone, Copy)]
pub(crate) enum Figure {
    Nanos(f64),
    Micros(f64),
    Millis(f64),
    MiB(f64),
    PerSec(f64),
}

impl Figure {
    pub(crate) fn of_duration_us(d: Duration) -> Self {
        Figure::Micros(d.as_secs_f64() * 1e6)
    }

    fn value(self) -> f64 {
        match self {
            Figure::Nanos(v)
            | Figure::Micros(v)
            | Figure::Millis(v)
            | Figure::MiB(v)
            | Figure::PerSec(v) => v,
        }
    }
}

impl std::fmt::Display for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Figure::Nanos(v) => write!(f, "{v:.0} ns"),
            Figure::Micros(v) => write!(f, "{v:.2} µs"),
            Figure::Millis(v) => write!(f, "{v:.2} ms"),
            Figure::MiB(v) => write!(f, "{v:.1} MiB"),
            Figure::PerSec(v) => write!(f, "{v:.0} req/s"),
        }
    }
}

/// What a row is held to.
#[derive(Clone, Copy)]
pub(crate) enum Target {
    /// No target: context only.
    None,
    /// `value / reference` at most this.
    RatioAtMost(f64),
    /// `value / reference` at least this.
    RatioAtLeast(f64),
    /// The value itself at most this (in the figure's unit).
    AtMost(f64),
}

pub(crate) struct Row {
    pub(crate) bench: &'static str,
    pub(crate) figure: String,
    pub(crate) value: Figure,
    pub(crate) reference: Option<(String, Figure)>,
    pub(crate) target: Target,
}

impl Row {
    fn ratio(&self) -> Option<f64> {
        self.reference
            .as_ref()
            .map(|(_, r)| self.value.value() / r.value())
    }

    fn target_text(&self) -> String {
        match self.target {
            Target::None => String::new(),
            Target::RatioAtMost(t) => format!("≤ {t:.2}x"),
            Target::RatioAtLeast(t) => format!("≥ {t:.2}x"),
            Target::AtMost(t) => format!("≤ {t}"),
        }
    }

    fn verdict(&self) -> &'static str {
        let met = match (self.target, self.ratio()) {
            (Target::None, _) => return "",
            (Target::RatioAtMost(t), Some(r)) => r <= t,
            (Target::RatioAtLeast(t), Some(r)) => r >= t,
            (Target::AtMost(t), _) => self.value.value() <= t,
            (_, None) => return "?",
        };
        if met { "met" } else { "MISSED" }
    }
}

/// The one table the suite prints at the end.
#[derive(Default)]
pub(crate) struct Table {
    rows: Vec<Row>,
}

impl Table {
    pub(crate) fn push(&mut self, row: Row) {
        // Printed as it comes too, so a long run shows progress.
        println!(
            "  {} | {}: {}{}",
            row.bench,
            row.figure,
            row.value,
            row.reference
                .as_ref()
                .map(|(name, v)| format!(" vs {name}: {v}"))
                .unwrap_or_default()
        );
        self.rows.push(row);
    }

    pub(crate) fn print(&self) {
        let headers = [
            "bench",
            "figure",
            "value",
            "reference",
            "ref. value",
            "ratio",
            "target",
            "",
        ];
        let cells: Vec<[String; 8]> = self
            .rows
            .iter()
            .map(|r| {
                let (reference, ref_value) = r
                    .reference
                    .as_ref()
                    .map(|(n, v)| (n.clone(), v.to_string()))
                    .unwrap_or_default();
                [
                    r.bench.to_owned(),
                    r.figure.clone(),
                    r.value.to_string(),
                    reference,
                    ref_value,
                    r.ratio().map(|x| format!("{x:.2}x")).unwrap_or_default(),
                    r.target_text(),
                    r.verdict().to_owned(),
                ]
            })
            .collect();
        let widths: Vec<usize> = (0..headers.len())
            .map(|i| {
                cells
                    .iter()
                    .map(|c| c[i].chars().count())
                    .chain([headers[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cols: &[String]| {
            let padded: Vec<String> = cols
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}", w = *w))
                .collect();
            format!("| {} |", padded.join(" | "))
        };
        println!();
        println!("{}", line(&headers.map(String::from)));
        println!(
            "|{}|",
            widths
                .iter()
                .map(|w| "-".repeat(w + 2))
                .collect::<Vec<_>>()
                .join("|")
        );
        for row in &cells {
            println!("{}", line(row));
        }
    }
}

/// Where the compiled guest is kept between bench runs, so only the first run
/// after a guest change pays for pre-initializing and compiling it.
pub(crate) fn component_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache")
}

/// A fresh data directory whose compiled-guest cache is warm.
pub(crate) fn warm_data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");
    std::fs::create_dir_all(&cache).expect("cache dir");
    for entry in std::fs::read_dir(component_cache())
        .into_iter()
        .flatten()
        .flatten()
    {
        if entry.file_name().to_string_lossy().ends_with(".cwasm") {
            std::fs::copy(entry.path(), cache.join(entry.file_name())).expect("copy cache");
        }
    }
    dir
}

/// Keeps what a server compiled for the next data directory.
pub(crate) fn save_cache(data: &Path) {
    let target = component_cache();
    std::fs::create_dir_all(&target).expect("bench cache dir");
    for entry in std::fs::read_dir(data.join("cache"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let to = target.join(entry.file_name());
        if !to.exists() {
            std::fs::copy(entry.path(), to).expect("save cache");
        }
    }
}

/// Where a server prints the address it listens on.
#[derive(Clone, Copy)]
pub(crate) enum Announces {
    /// On stdout (stderr is passed through).
    OnStdout,
    /// On stderr (stdout is discarded).
    OnStderr,
}

/// A child process serving HTTP on a loopback port it chose itself.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: String,
}

impl Server {
    /// `picloud serve` on `data`, with `env` on top of the admin token.
    pub(crate) fn picloud(data: &Path, env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_picloud"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .env("PICLOUD_ADMIN_TOKEN", TOKEN)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied());
        Server::spawn(command, "PiCloud is listening on http://")
    }

    /// The minimal axum handler (this binary, see `baseline.rs`).
    pub(crate) fn baseline() -> Server {
        let mut command = Command::new(std::env::current_exe().expect("own path"));
        command.env(BASELINE_ROLE, "http");
        Server::spawn(command, "baseline listening on http://")
    }

    fn spawn(command: Command, banner: &str) -> Server {
        Server::spawn_announcing(command, Announces::OnStdout, |line| {
            let rest = line.strip_prefix(banner)?;
            Some(rest.split_whitespace().next().expect("address").to_owned())
        })
    }

    /// Spawns `command` and reads the stream it announces its address on,
    /// line by line, until `address` finds `host:port` in a (trimmed) line.
    pub(crate) fn spawn_announcing(
        mut command: Command,
        announces: Announces,
        address: impl Fn(&str) -> Option<String>,
    ) -> Server {
        let (stdout, stderr) = match announces {
            Announces::OnStdout => (Stdio::piped(), Stdio::inherit()),
            Announces::OnStderr => (Stdio::null(), Stdio::piped()),
        };
        let mut child = command
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("server starts: {command:?}: {e}"));
        let output: Box<dyn std::io::Read + Send> = match announces {
            Announces::OnStdout => Box::new(child.stdout.take().expect("piped")),
            Announces::OnStderr => Box::new(child.stderr.take().expect("piped")),
        };
        let mut lines = BufReader::new(output);
        let mut line = String::new();
        let addr = loop {
            line.clear();
            if lines.read_line(&mut line).expect("server output") == 0 {
                panic!("server exited before printing its address: {command:?}");
            }
            if let Some(addr) = address(line.trim()) {
                break addr;
            }
        };
        // Keep draining the pipe so the child never blocks on it; what comes
        // on stderr after the address is passed on (it is where errors go).
        std::thread::spawn(move || match announces {
            Announces::OnStdout => std::io::copy(&mut lines, &mut std::io::sink()),
            Announces::OnStderr => std::io::copy(&mut lines, &mut std::io::stderr()),
        });
        Server { child, addr }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size now, from /proc.
    pub(crate) fn rss_mib(&self) -> f64 {
        rss_mib(self.pid())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn rss_mib(pid: u32) -> f64 {
    try_rss_mib(pid).expect("VmRSS in /proc/<pid>/status")
}

/// Resident set size of `pid`, or `None` once it has exited.
pub(crate) fn try_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
}

/// One `GET` over a fresh connection, by hand: the start-up benchmark needs
/// the first possible answer, without a client library's pools or retries.
/// The status, or `None` if the server did not answer.
pub(crate) fn get_status(addr: &str, host: &str, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

/// The admin API of a benchmark server.
pub(crate) struct Admin {
    client: reqwest::Client,
    base: String,
}

impl Admin {
    pub(crate) fn new(server: &Server) -> Admin {
        Admin {
            client: reqwest::Client::new(),
            base: format!("{}/api/v1/admin", server.url()),
        }
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .expect("admin API answers");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "POST {path}: {status} {body}");
        body
    }

    pub(crate) async fn get(&self, path: &str) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("admin API answers");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "GET {path}: {status} {body}");
        body
    }

    /// An app serving `domain`, with one script per `(name, path, source)`
    /// bound to `GET path`.
    pub(crate) async fn app(&self, slug: &str, domain: &str, scripts: &[(String, String, String)]) {
        self.post("/apps", json!({ "slug": slug, "name": slug }))
            .await;
        self.post(
            &format!("/apps/{slug}/domains"),
            json!({ "pattern": domain }),
        )
        .await;
        for (name, path, source) in scripts {
            let script = self
                .post(
                    "/scripts",
                    json!({ "app_id": slug, "name": name, "source": source }),
                )
                .await;
            let id = script["id"].as_str().expect("script id");
            self.post(
                &format!("/scripts/{id}/routes"),
                json!({ "method": "GET", "path": path }),
            )
            .await;
        }
    }
}

/// What one load run gave.
#[derive(Clone, Copy)]
pub(crate) struct Load {
    /// Responses received.
    pub(crate) requests: u64,
    pub(crate) rps: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
}

/// A closed-loop run of `connections` against `target` (`GET /path host`)
/// for `duration`; every response must have the expected status.
pub(crate) async fn load(url: &str, target: &str, connections: usize, duration: Duration) -> Load {
    let config = loadgen::Config {
        connections,
        duration: Some(duration),
        targets: vec![target.parse().expect("target")],
        ..loadgen::Config::new(url).expect("url")
    };
    let report = loadgen::run(config).await.expect("load runs");
    assert!(report.pass, "{report}");
    Load {
        requests: report.responses,
        rps: report.throughput_rps,
        p50_ms: report.latency_ms.p50,
        p99_ms: report.latency_ms.p99,
    }
}

/// The median of `values` (sorted in place).
pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
