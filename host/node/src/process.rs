//! What every PiCloud server binary does around its server: logging set-up
//! and the signals that stop it gracefully.

use anyhow::Context as _;

/// Logs to stderr, filtered by `PICLOUD_LOG`, else the conventional
/// `RUST_LOG` (default `info`), colored only on a terminal; stdout stays for
/// what a user acts on.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PICLOUD_LOG")
                .or_else(|_| tracing_subscriber::EnvFilter::try_from_env("RUST_LOG"))
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is
/// called, not when the future is first polled: a supervisor may send SIGTERM
/// as soon as it sees the banner, and the default action would kill the
/// process without the graceful stop.
pub fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down: finishing in-flight requests");
    })
}

/// Parses a comma- or space-separated list of peer URLs (`--executors`).
pub fn peers(
    list: &str,
    secret: &crate::cluster::ClusterSecret,
) -> anyhow::Result<Vec<crate::cluster::Peer>> {
    list.split([',', ' '])
        .filter(|url| !url.is_empty())
        .map(|url| crate::cluster::Peer::new(url, secret.clone()).map_err(anyhow::Error::msg))
        .collect()
}

/// Header names from a comma-separated setting (`PICLOUD_REDACT_HEADERS`),
/// lower-case, as the execution log compares them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderNames(pub Vec<String>);

impl std::fmt::Display for HeaderNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(none)");
        }
        f.write_str(&self.0.join(","))
    }
}

/// Parses `x-api-key, X-Hub-Signature`; a name that is not a valid header
/// name is refused, naming it.
pub fn parse_header_names(list: &str) -> Result<HeaderNames, String> {
    let mut names = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let name = name.to_ascii_lowercase();
        if axum::http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(format!("'{name}' is not a valid header name"));
        }
        names.push(name);
    }
    Ok(HeaderNames(names))
}
