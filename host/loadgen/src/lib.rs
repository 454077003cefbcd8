//! A closed-loop HTTP/1.1 load generator for PiCloud: `picloud-loadgen`, used
//! by `make load` / `make soak` (`scripts/soak.sh`) and reusable from
//! benchmarks through [`run`].
//!
//! Closed loop: each of `connections` keep-alive connections has exactly one
//! request in flight and sends the next one when the answer has been read, so
//! the concurrency the server sees is exactly `connections` and the offered
//! load adapts to the server. The price: when the server stalls, the requests
//! that would have arrived meanwhile are not sent (coordinated omission), so
//! the percentiles describe the requests served, not what a fixed-rate client
//! would have waited. Requests take turns over the targets in a weighted
//! round-robin, so every run with the same targets sends the same mix.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let config = loadgen::Config {
//!     connections: 8,
//!     requests: Some(1_000),
//!     targets: vec!["GET /hello localhost".parse()?],
//!     ..loadgen::Config::new("http://127.0.0.1:8080")?
//! };
//! let report = loadgen::run(config).await?;
//! assert!(report.pass, "{report}");
//! # Ok(())
//! # }
//! ```

mod report;
mod target;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_TYPE, HOST};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use report::{Latency, Report, Stats, TargetReport, TargetStats};
pub use target::{Expect, Target, parse_expect_list, schedule};

/// After a failed connect, wait this long before the next attempt, so a
/// server that is down is not hammered in a hot loop (each failed attempt
/// still counts as a transport error of the request it was for).
const CONNECT_BACKOFF: Duration = Duration::from_millis(100);

/// One run's settings. Build with [`Config::new`] and struct update syntax.
#[derive(Debug, Clone)]
pub struct Config {
    /// The base URL as given, for the report.
    pub url: String,
    /// `host:port` to connect to.
    pub addr: String,
    /// `Host` header for targets that name none (the URL's authority).
    pub authority: String,
    /// Concurrent keep-alive connections, one request in flight on each.
    pub connections: usize,
    /// Stop after this many requests in total ...
    pub requests: Option<u64>,
    /// ... or after this long, whichever comes first (requests in flight
    /// then still complete and count). At least one must be set.
    pub duration: Option<Duration>,
    /// The mix. At least one.
    pub targets: Vec<Target>,
    /// Statuses expected from every target, on top of each target's own.
    pub expect: Vec<Expect>,
    /// A request without a complete response after this long is a transport
    /// error and its connection is replaced.
    pub timeout: Duration,
}

impl Config {
    /// Settings for `url` (`http://host[:port]`): 16 connections, 30 s
    /// timeout, no targets and no stop condition yet.
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let uri: Uri = url.parse().with_context(|| format!("--url {url}"))?;
        ensure!(
            uri.scheme_str() == Some("http"),
            "--url {url}: only http:// is supported (PiCloud's TLS is Caddy's job)"
        );
        ensure!(
            uri.path_and_query().is_none_or(|p| p == "/"),
            "--url {url}: give the server only; paths go in --target"
        );
        let authority = uri.authority().context("--url needs a host")?;
        let addr = format!(
            "{}:{}",
            authority.host(),
            authority.port_u16().unwrap_or(80)
        );
        Ok(Self {
            url: url.to_owned(),
            addr,
            authority: authority.as_str().to_owned(),
            connections: 16,
            requests: None,
            duration: None,
            targets: Vec::new(),
            expect: Vec::new(),
            timeout: Duration::from_secs(30),
        })
    }
}

/// Runs the load described by `config` and returns its report. Errors only
/// for an unusable configuration; what goes wrong during the run is counted.
pub async fn run(config: Config) -> anyhow::Result<Report> {
    ensure!(!config.targets.is_empty(), "give at least one --target");
    ensure!(config.connections > 0, "--connections must be at least 1");
    ensure!(
        config.requests.is_some() || config.duration.is_some(),
        "give --requests or --duration"
    );
    let started = Instant::now();
    let shared = Arc::new(Shared {
        schedule: schedule(&config.targets),
        next: AtomicU64::new(0),
        deadline: config.duration.map(|d| started + d),
        config,
    });
    let workers: Vec<JoinHandle<Stats>> = (0..shared.config.connections)
        .map(|_| tokio::spawn(connection(Arc::clone(&shared))))
        .collect();
    let mut stats = Stats::new(shared.config.targets.len());
    for worker in workers {
        stats.merge(worker.await.context("a connection task panicked")?);
    }
    let elapsed = started.elapsed();
    let c = &shared.config;
    Ok(Report::new(
        &c.url,
        c.connections,
        &c.targets,
        stats,
        elapsed,
    ))
}

/// What all connections share: the settings and the request budget.
struct Shared {
    config: Config,
    schedule: Vec<usize>,
    /// Sequence number of the next request, over all connections; it picks
    /// the target and enforces `--requests`.
    next: AtomicU64,
    deadline: Option<Instant>,
}

impl Shared {
    /// The next request's target index, or `None` when the run is over.
    fn take(&self) -> Option<usize> {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        if self.config.requests.is_some_and(|total| n >= total) {
            return None;
        }
        let len = self.schedule.len() as u64;
        Some(self.schedule[(n % len) as usize])
    }
}

/// One closed loop: a connection that sends a request, reads the whole
/// answer, and sends the next, reconnecting when the connection is lost.
async fn connection(shared: Arc<Shared>) -> Stats {
    let config = &shared.config;
    let mut stats = Stats::new(config.targets.len());
    let mut conn: Option<Conn> = None;
    while let Some(i) = shared.take() {
        let target = &config.targets[i];
        let c = match conn.take() {
            Some(c) if !c.sender.is_closed() => conn.insert(c),
            _ => match Conn::open(&config.addr).await {
                Ok(c) => {
                    stats.connects += 1;
                    conn.insert(c)
                }
                Err(e) => {
                    stats.targets[i].error(format!("connect: {}", chain(&*e)));
                    tokio::time::sleep(CONNECT_BACKOFF).await;
                    continue;
                }
            },
        };
        let counts = &mut stats.targets[i];
        let request = build_request(target, &config.authority);
        let sent = Instant::now();
        match tokio::time::timeout(config.timeout, c.send(request)).await {
            Ok(Ok(answer)) => {
                let status = answer.status.as_u16();
                // PiCloud's error shape names the cause; a 500 from
                // `fuel_exhausted` is deliberate, one from `internal_error` is not.
                let code = (!answer.status.is_success())
                    .then(|| error_code(&answer.body))
                    .flatten();
                let expected = target.expects(status, code.as_deref(), &config.expect);
                let label = match code {
                    Some(code) => format!("{status} {code}"),
                    None => status.to_string(),
                };
                counts.response(label, expected, sent.elapsed(), &answer.body);
                if answer.close {
                    conn = None;
                }
            }
            Ok(Err(e)) => {
                counts.error(chain(&e));
                conn = None;
            }
            Err(_) => {
                counts.error(format!(
                    "no response within {}",
                    humantime::format_duration(config.timeout)
                ));
                conn = None;
            }
        }
    }
    stats
}

fn build_request(target: &Target, authority: &str) -> Request<Full<Bytes>> {
    let mut request = Request::builder()
        .method(target.method.clone())
        .uri(&target.path)
        .header(HOST, target.host.as_deref().unwrap_or(authority));
    if let Some(content_type) = target.content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    request
        .body(Full::new(target.body.clone()))
        .expect("method, path and host were validated when the target was parsed")
}

/// `{"error": {"code": "…"}}`, PiCloud's error shape.
fn error_code(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Shape {
        error: Inner,
    }
    #[derive(serde::Deserialize)]
    struct Inner {
        code: String,
    }
    serde_json::from_slice::<Shape>(body)
        .ok()
        .map(|s| s.error.code)
}

/// An error and its causes on one line: hyper's own message ("connection
/// error") says little without the I/O error underneath.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    /// Drives the connection; aborted on drop so that a connection given up
    /// on (timeout) is closed now rather than when the server answers.
    driver: JoinHandle<()>,
}

struct Answer {
    status: StatusCode,
    body: Bytes,
    /// The server said `Connection: close`: do not send on this connection
    /// again, or the next request races the close and fails spuriously.
    close: bool,
}

impl Conn {
    async fn open(addr: &str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        // Requests are small and written whole; without this, Nagle's
        // algorithm can hold a request back for a delayed ACK (~40 ms).
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        // The connection's own error also reaches the pending request, which
        // is where it is counted.
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self { sender, driver })
    }

    async fn send(&mut self, request: Request<Full<Bytes>>) -> Result<Answer, hyper::Error> {
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let close = response
            .headers()
            .get(CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer {
            status,
            body,
            close,
        })
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = Config::new("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (c.addr.as_str(), c.authority.as_str()),
            ("127.0.0.1:8080", "127.0.0.1:8080")
        );
        let c = Config::new("http://localhost/").unwrap();
        assert_eq!(
            (c.addr.as_str(), c.authority.as_str()),
            ("localhost:80", "localhost")
        );
        for bad in ["https://x", "http://x/api", "/hello", "x y"] {
            assert!(Config::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_codes() {
        let body = br#"{"error":{"code":"fuel_exhausted","message":"..."}}"#;
        assert_eq!(error_code(body).as_deref(), Some("fuel_exhausted"));
        assert_eq!(error_code(b"Hello, World!"), None);
    }

    #[test]
    fn request_budget() {
        let targets: Vec<Target> = vec![
            "weight=2 GET /a".parse().unwrap(),
            "GET /b".parse().unwrap(),
        ];
        let shared = Shared {
            schedule: schedule(&targets),
            config: Config {
                requests: Some(5),
                targets,
                ..Config::new("http://x").unwrap()
            },
            next: AtomicU64::new(0),
            deadline: None,
        };
        let taken: Vec<_> = std::iter::from_fn(|| shared.take()).collect();
        assert_eq!(taken, [0, 1, 0, 0, 1]);
        assert_eq!(shared.take(), None);
    }
}
