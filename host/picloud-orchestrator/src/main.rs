//! `picloud-orchestrator`: a cluster's ingress. Resolves Host → app → route
//! from routing tables it caches in memory (loaded from the manager, and
//! reloaded when the manager pushes a change), runs each request on an
//! executor node, and sends the execution records to the manager. It has no
//! database and never loads `executor-core`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::http::HeaderValue;
use axum::routing::get;
use clap::Parser;
use orchestrator_core::{Orchestrator, OrchestratorConfig, RoutingCache};
use picloud_node::cluster::{
    ClusterSecret, Peer, RemoteExecutor, RemoteRecorder, RemoteRouting, follow_routing,
};
use picloud_node::{HttpLimits, Server, process};

/// PiCloud's orchestrator for cluster mode. Flags also read PICLOUD_* variables.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on for user requests (put Caddy in front).
    #[arg(long, env = "PICLOUD_LISTEN", default_value = "0.0.0.0:8081")]
    listen: SocketAddr,
    /// The manager's URL (http://10.0.0.1:8080).
    #[arg(long, env = "PICLOUD_MANAGER_URL")]
    manager: String,
    /// Executor nodes' URLs, comma-separated; usually the one on this machine first.
    #[arg(long, env = "PICLOUD_EXECUTORS")]
    executors: String,
    /// The secret every process of the cluster shares (at least 32 characters).
    #[arg(long, env = "PICLOUD_CLUSTER_SECRET", hide_env_values = true)]
    cluster_secret: String,
    /// This node's name in the manager's log (default: a random one per start).
    #[arg(long, env = "PICLOUD_NODE_NAME")]
    node_name: Option<String>,
    /// Name this node in an `x-picloud-node` header on every response, to
    /// see how a load balancer spreads requests. Off by default: node names
    /// are internal.
    #[arg(long, env = "PICLOUD_SERVED_BY_HEADER")]
    served_by_header: bool,
    /// Ceiling on request bodies passed to scripts (bytes; 413 above it);
    /// each app's `max_request_bytes` limit (default 4 MiB) applies under it.
    #[arg(long, env = "PICLOUD_MAX_REQUEST_BYTES", default_value_t = OrchestratorConfig::default().max_request_bytes)]
    max_request_bytes: usize,
    /// The cluster's admin hosts (as the manager's PICLOUD_ADMIN_HOSTS): no
    /// app's claim counts there; only the default app answers, sandboxed.
    #[arg(long, env = "PICLOUD_ADMIN_HOSTS", default_value = shared::DEFAULT_ADMIN_HOSTS, value_parser = shared::AdminHosts::parse)]
    admin_hosts: shared::AdminHosts,
    /// Proxies whose X-Forwarded-* headers give `request.url` and
    /// `request.client_ip` (addresses or CIDR blocks; default loopback).
    #[arg(long, env = "PICLOUD_TRUSTED_PROXIES", default_value = shared::DEFAULT_TRUSTED_PROXIES, value_parser = shared::TrustedProxies::parse)]
    trusted_proxies: shared::TrustedProxies,
    /// Request headers whose values execution records store as
    /// `[redacted]` (comma-separated), on top of the credential headers
    /// that always are.
    #[arg(long, env = "PICLOUD_REDACT_HEADERS", default_value = "", value_parser = process::parse_header_names)]
    redact_headers: process::HeaderNames,
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
    let executor = RemoteExecutor::new(process::peers(&args.executors, &secret)?)
        .map_err(anyhow::Error::msg)
        .context("PICLOUD_EXECUTORS")?;
    let node = args
        .node_name
        .unwrap_or_else(|| format!("orchestrator-{}", uuid::Uuid::new_v4().simple()));
    let signal = process::shutdown_signal()?;

    let cache = load_routing(&manager).await;
    let follower = follow_routing(manager.clone(), node.clone(), cache.clone());
    let recorder = RemoteRecorder::start(manager);
    let orchestrator = Orchestrator::new(
        cache,
        Arc::new(executor),
        Arc::new(recorder.clone()),
        OrchestratorConfig {
            max_request_bytes: args.max_request_bytes,
            admin_hosts: args.admin_hosts,
            trusted_proxies: args.trusted_proxies.clone(),
            redact_headers: args.redact_headers.0,
        },
    );
    shared::metrics::metrics().set_build_info(env!("CARGO_PKG_VERSION"), "");
    let mut app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(orchestrator.user_router());
    if args.served_by_header {
        let value =
            HeaderValue::from_str(&node).context("PICLOUD_NODE_NAME must be header-safe")?;
        app = app.layer(axum::middleware::map_response(
            move |mut response: axum::response::Response| {
                let value = value.clone();
                async move {
                    response.headers_mut().insert("x-picloud-node", value);
                    response
                }
            },
        ));
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let http = HttpLimits {
        trusted_proxies: args.trusted_proxies,
        ..HttpLimits::default()
    };
    let server = Server::serve(listener, app, http)
        .with_background(vec![follower])
        .with_on_stop(move || Box::pin(async move { recorder.flush().await }))
        .with_metrics_listener(args.metrics_listen, || {})
        .await?;
    tracing::info!(addr = %server.addr, node, "orchestrator serving");
    println!("picloud-orchestrator listening on http://{}", server.addr);
    server.run_until(signal).await
}

/// The first routing tables. An orchestrator without them could only answer
/// 404s, so it waits for the manager (which may be starting too) and says so.
async fn load_routing(manager: &Peer) -> Arc<RoutingCache> {
    let source = Arc::new(RemoteRouting::new(manager.clone()));
    let mut backoff = Duration::from_millis(100);
    loop {
        match RoutingCache::new(source.clone()).await {
            Ok(cache) => return cache,
            Err(err) => {
                tracing::warn!(error = %err, "waiting for the manager's routing data");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
