//! The all-in-one PiCloud server: manager, orchestrator and executor in one
//! process, wired through the traits in `shared` — the control plane from
//! `picloud-node` with the in-process executor. `main.rs` is only the CLI;
//! tests start a [`Server`] on port 0 through this library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use executor_core::OutboundConfig;
use executor_core::{ExecutorConfig, LocalExecutor};
use manager_core::{DocsQuota, KvQuota};
pub use picloud_node::HttpLimits;
use picloud_node::{ControlConfig, ControlPlane, ExecutorFactory};

/// Server settings (flags and environment, see `picloud serve --help`).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Data directory (SQLite file, compiled-guest cache).
    pub data_dir: PathBuf,
    /// Database URL; `None` = SQLite at `<data_dir>/picloud.db`.
    pub database_url: Option<String>,
    /// Bootstrap admin token for a fresh install.
    pub admin_token: Option<String>,
    /// First admin user (username, password) for an install without users.
    pub admin_user: Option<(String, String)>,
    /// How long a browser session lasts.
    pub session_ttl: std::time::Duration,
    /// Execution records kept per app.
    pub log_max_per_app: u64,
    /// Execution records older than this are removed.
    pub log_max_age: std::time::Duration,
    /// Public URL reported by `/version`.
    pub public_base_url: Option<String>,
    /// Executions that may run at once.
    pub max_concurrent: u32,
    /// Largest admin API request body, in bytes.
    pub max_body_bytes: usize,
    /// Read timeouts, header limits and the shutdown grace period.
    pub http: HttpLimits,
    /// Compiled-guest cache; `None` = `<data_dir>/cache`.
    pub cache_dir: Option<PathBuf>,
    /// The key-value quota every app gets.
    pub kv_quota: KvQuota,
    /// The document-collections quota every app gets.
    pub docs_quota: DocsQuota,
    /// Outbound HTTP from scripts: limits, and whether private addresses
    /// may be called.
    pub outbound: OutboundConfig,
    /// The key for secrets at rest, 64 hex digits (`PICLOUD_SECRET_KEY`);
    /// `None` = the key in `<data_dir>/secret.key`, created on first start.
    pub secret_key: Option<String>,
}

impl ServerConfig {
    /// The defaults `picloud serve` uses, on `listen` with data in `data_dir`.
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Self {
        ServerConfig {
            listen,
            data_dir,
            database_url: None,
            admin_token: None,
            admin_user: None,
            session_ttl: std::time::Duration::from_secs(12 * 60 * 60),
            log_max_per_app: 10_000,
            log_max_age: std::time::Duration::from_secs(30 * 24 * 60 * 60),
            public_base_url: None,
            max_concurrent: 16,
            max_body_bytes: 1 << 20,
            http: HttpLimits::default(),
            cache_dir: None,
            kv_quota: KvQuota::default(),
            docs_quota: DocsQuota::default(),
            outbound: OutboundConfig::default(),
            secret_key: None,
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
                    .unwrap_or_else(|| config.data_dir.join("cache")),
            ),
            max_concurrent: config.max_concurrent,
            outbound: config.outbound.clone(),
            ..Default::default()
        };
        let control = ControlConfig {
            listen: config.listen,
            data_dir: config.data_dir,
            database_url: config.database_url,
            admin_token: config.admin_token,
            admin_user: config.admin_user,
            session_ttl: config.session_ttl,
            log_max_per_app: config.log_max_per_app,
            log_max_age: config.log_max_age,
            public_base_url: config.public_base_url,
            max_body_bytes: config.max_body_bytes,
            http: config.http,
            kv_quota: config.kv_quota,
            docs_quota: config.docs_quota,
            secret_key: config.secret_key,
            cluster_secret: None,
        };
        let inner = ControlPlane::start(control, local_executor(executor_config)).await?;
        Ok(Server {
            addr: inner.addr,
            generated_token: inner.generated_token.clone(),
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
