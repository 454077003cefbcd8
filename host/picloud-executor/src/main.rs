//! `picloud-executor`: runs scripts for a cluster. Each execution gets a
//! fresh instance of the pre-compiled guest, exactly as in `picloud`; the
//! data-plane calls scripts make (key-value, documents, variables, the
//! outbound allow-list) go to the manager over the cluster protocol, so this
//! process has no database. Outbound HTTP itself leaves from here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::routing::get;
use clap::Parser;
use executor_core::{ExecutorConfig, LocalExecutor, OutboundConfig};
use picloud_node::cluster::{ClusterSecret, Peer, RemoteServices, executor_router};
use picloud_node::{HttpLimits, Server, process};

/// PiCloud's executor for cluster mode. Flags also read PICLOUD_* variables;
/// the ones shared with `picloud serve` mean the same there.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on for executions (orchestrators and the manager call it).
    #[arg(long, env = "PICLOUD_LISTEN", default_value = "0.0.0.0:8082")]
    listen: SocketAddr,
    /// The manager's URL (http://10.0.0.1:8080), for data-plane services.
    #[arg(long, env = "PICLOUD_MANAGER_URL")]
    manager: String,
    /// The secret every process of the cluster shares (at least 32 characters).
    #[arg(long, env = "PICLOUD_CLUSTER_SECRET", hide_env_values = true)]
    cluster_secret: String,
    /// Directory of the compiled-guest cache (so a restart does not recompile).
    #[arg(long, env = "PICLOUD_CACHE_DIR", default_value = "./data/cache")]
    cache_dir: PathBuf,
    /// Executions that may run at once (also the pooled instance slots).
    #[arg(long, env = "PICLOUD_MAX_CONCURRENT", default_value_t = 16)]
    max_concurrent: u32,
    /// Executions one app may run at once on this node (default: half of
    /// --max-concurrent, at least 1); beyond it, 503 app_overloaded.
    #[arg(long, env = "PICLOUD_MAX_CONCURRENT_PER_APP")]
    max_concurrent_per_app: Option<u32>,
    /// Requests of one app that may wait once it runs its share on this
    /// node; beyond them, 503 app_overloaded at once.
    #[arg(long, env = "PICLOUD_MAX_QUEUED_PER_APP", default_value_t = executor_core::DEFAULT_MAX_QUEUED_PER_APP)]
    max_queued_per_app: u32,
    /// How many levels `invoke()` may nest below a request's script; one
    /// level deeper is an `invoke_depth_exceeded` error for the caller.
    #[arg(
        long,
        env = "PICLOUD_MAX_INVOKE_DEPTH",
        default_value_t = executor_core::DEFAULT_MAX_INVOKE_DEPTH,
        value_parser = clap::value_parser!(u32).range(0..=16),
    )]
    max_invoke_depth: u32,
    /// `invoke()` calls one execution may make; one more is an
    /// `invoke_limit_exceeded` error for the caller.
    #[arg(
        long,
        env = "PICLOUD_MAX_INVOKES",
        default_value_t = executor_core::DEFAULT_MAX_INVOKES,
        value_parser = clap::value_parser!(u32).range(0..=1000),
    )]
    max_invokes: u32,
    /// Let scripts call private, loopback and link-local addresses.
    #[arg(long, env = "PICLOUD_HTTP_ALLOW_PRIVATE")]
    http_allow_private: bool,
    /// Longest wait for one outbound response (e.g. 10s).
    #[arg(long, env = "PICLOUD_HTTP_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    http_timeout: std::time::Duration,
    /// Largest outbound response body a script may receive (e.g. 4MiB).
    #[arg(long, env = "PICLOUD_HTTP_MAX_RESPONSE", default_value = "4MiB")]
    http_max_response: bytesize::ByteSize,
    /// Outbound requests one execution may make.
    #[arg(long, env = "PICLOUD_HTTP_MAX_CALLS", default_value_t = 20)]
    http_max_calls: u32,
    /// Serve this node's `GET /metrics` here, without authentication (a
    /// private address; docs/operations.md).
    #[arg(long, env = "PICLOUD_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    process::init_tracing();
    let args = Args::parse();
    let secret = ClusterSecret::new(&args.cluster_secret)
        .map_err(anyhow::Error::msg)
        .context("PICLOUD_CLUSTER_SECRET")?;
    let manager = Peer::new(&args.manager, secret.clone())
        .map_err(anyhow::Error::msg)
        .context("PICLOUD_MANAGER_URL")?;
    let signal = process::shutdown_signal()?;
    let config = ExecutorConfig {
        cache_dir: Some(args.cache_dir),
        max_concurrent: args.max_concurrent,
        max_concurrent_per_app: args.max_concurrent_per_app,
        max_queued_per_app: args.max_queued_per_app,
        max_invoke_depth: args.max_invoke_depth,
        max_invokes: args.max_invokes,
        services: Arc::new(RemoteServices::new(manager)),
        outbound: OutboundConfig {
            allow_private: args.http_allow_private,
            timeout: args.http_timeout,
            max_response_bytes: args.http_max_response.as_u64(),
            max_calls: args.http_max_calls,
            ..OutboundConfig::default()
        },
        ..ExecutorConfig::default()
    };
    // Loading (or compiling) the guest blocks for a while.
    let executor = tokio::task::spawn_blocking(move || LocalExecutor::new(config))
        .await?
        .context("starting the executor")?;
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(executor_router(Arc::new(executor), secret));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    shared::metrics::metrics().set_build_info(env!("CARGO_PKG_VERSION"), "");
    let server = Server::serve(listener, app, HttpLimits::default())
        .with_metrics_listener(args.metrics_listen, || {})
        .await?;
    tracing::info!(addr = %server.addr, "executor serving");
    println!("picloud-executor listening on http://{}", server.addr);
    server.run_until(signal).await
}
