//! What every PiCloud server binary does around its server: logging set-up
//! and the signals that stop it gracefully.

use anyhow::Context as _;

/// Logs to stderr, filtered by `PICLOUD_LOG` (default `info`), colored only
/// on a terminal; stdout stays for what a user acts on.
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PICLOUD_LOG")
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
