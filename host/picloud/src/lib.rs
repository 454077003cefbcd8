//! The all-in-one PiCloud server: manager, orchestrator and executor in one
//! process, wired through the traits in `shared` — the control plane from
//! `picloud-control` with the in-process executor. `main.rs` is only the CLI;
//! tests start a [`Server`] on port 0 through this library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use executor_core::OutboundConfig;
use executor_core::{ExecutorConfig, LocalExecutor};
pub use picloud_control::{ControlConfig, MailArgs, ManagerConfig};
use picloud_control::{ControlPlane, ExecutorFactory};
pub use picloud_node::HttpLimits;

/// Server settings (flags and environment, see `picloud serve --help`): the
/// control plane's, plus the in-process executor's own.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Everything but the executor: listen address, data directory,
    /// database, bootstrap, retention, quotas, HTTP limits, secret key.
    pub control: ControlConfig,
    /// Executions that may run at once.
    pub max_concurrent: u32,
    /// Executions one app may run at once; `None`: half, at least 1.
    pub max_concurrent_per_app: Option<u32>,
    /// Requests of one app that may wait for its share.
    pub max_queued_per_app: u32,
    /// Levels `invoke` may nest below a request's script.
    pub max_invoke_depth: u32,
    /// `invoke` calls one execution may make.
    pub max_invokes: u32,
    /// Compiled-guest cache; `None` = `<data_dir>/cache`.
    pub cache_dir: Option<PathBuf>,
    /// Outbound HTTP from scripts: limits, and whether private addresses
    /// may be called.
    pub outbound: OutboundConfig,
}

impl ServerConfig {
    /// The defaults `picloud serve` uses, on `listen` with data in `data_dir`.
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Self {
        ServerConfig {
            control: ControlConfig::new(listen, data_dir),
            max_concurrent: 16,
            max_concurrent_per_app: None,
            max_queued_per_app: executor_core::DEFAULT_MAX_QUEUED_PER_APP,
            max_invoke_depth: executor_core::DEFAULT_MAX_INVOKE_DEPTH,
            max_invokes: executor_core::DEFAULT_MAX_INVOKES,
            cache_dir: None,
            outbound: OutboundConfig::default(),
        }
    }
}

/// A running all-in-one server.
#[derive(Debug)]
pub struct Server {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// A token generated at first start, to be shown once.
    pub generated_token: Option<String>,
    /// Where `GET /metrics` is served without authentication
    /// (`ControlConfig::metrics_listen`), when it is.
    pub metrics_addr: Option<SocketAddr>,
    /// Where inbound mail is accepted (`--smtp-listen`), when it is.
    pub smtp_addr: Option<SocketAddr>,
    inner: picloud_node::Server,
}

impl Server {
    /// Builds everything and starts serving; returns once the socket is bound.
    pub async fn start(config: ServerConfig) -> anyhow::Result<Server> {
        let executor_config = ExecutorConfig {
            cache_dir: Some(
                config
                    .cache_dir
                    .clone()
                    .unwrap_or_else(|| config.control.data_dir.join("cache")),
            ),
            max_concurrent: config.max_concurrent,
            max_concurrent_per_app: config.max_concurrent_per_app,
            max_queued_per_app: config.max_queued_per_app,
            max_invoke_depth: config.max_invoke_depth,
            max_invokes: config.max_invokes,
            outbound: config.outbound.clone(),
            ..Default::default()
        };
        let inner = ControlPlane::start(config.control, local_executor(executor_config)).await?;
        Ok(Server {
            addr: inner.addr,
            generated_token: inner.generated_token.clone(),
            metrics_addr: inner.metrics_addr,
            smtp_addr: inner.smtp_addr,
            inner,
        })
    }

    /// Stops accepting requests, waits for in-flight ones, and writes the
    /// execution records still queued.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.inner.stop().await
    }

    /// Serves until `signal` resolves (then stops gracefully) or the server
    /// fails.
    pub async fn run_until(
        self,
        signal: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        self.inner.run_until(signal).await
    }
}

/// The in-process executor, reaching storage through the manager's
/// data-plane services.
fn local_executor(mut config: ExecutorConfig) -> ExecutorFactory {
    Box::new(move |services| {
        Box::pin(async move {
            config.services = Arc::new(services);
            // Compiling or loading the guest blocks for a while.
            let executor =
                tokio::task::spawn_blocking(move || LocalExecutor::new(config)).await??;
            Ok(Arc::new(executor) as Arc<dyn shared::ExecutorClient>)
        })
    })
}
