//! `picloud-manager`: the control plane of a cluster — admin API, dashboard,
//! database (PostgreSQL), cron scheduler, and the cluster endpoints that
//! orchestrators and executors call. It runs no script itself: executions
//! (test runs, cron, `/api/v1/execute/{id}`) and upload checks go to the
//! executor nodes in `--executors`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use picloud_control::{ControlConfig, ControlPlane, ManagerConfig};
use picloud_node::cluster::{ClusterSecret, RemoteExecutor};
use picloud_node::process;

/// PiCloud's manager for cluster mode. Flags also read PICLOUD_* variables;
/// the ones shared with `picloud serve` mean the same there.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on (admin API, dashboard, cluster endpoints).
    #[arg(long, env = "PICLOUD_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Directory for the secret key file (and the SQLite database, when no URL is given).
    #[arg(long, env = "PICLOUD_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Database URL: postgres://… for a cluster (SQLite works for one manager, for trying it out).
    #[arg(long, env = "PICLOUD_DATABASE_URL")]
    database_url: Option<String>,
    /// The secret every process of the cluster shares (at least 32 characters).
    #[arg(long, env = "PICLOUD_CLUSTER_SECRET", hide_env_values = true)]
    cluster_secret: String,
    /// Executor nodes' URLs, comma-separated (http://10.0.0.2:8082,http://10.0.0.3:8082).
    #[arg(long, env = "PICLOUD_EXECUTORS")]
    executors: String,
    /// Admin token to create on a fresh install (otherwise one is generated and shown once).
    #[arg(long, env = "PICLOUD_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// First admin user to create on an install without users (with PICLOUD_ADMIN_PASSWORD).
    #[arg(long, env = "PICLOUD_ADMIN_USER")]
    admin_user: Option<String>,
    /// Password for PICLOUD_ADMIN_USER (at least 12 characters).
    #[arg(long, env = "PICLOUD_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
    /// The URL users reach PiCloud at (shown by /version).
    #[arg(long, env = "PICLOUD_PUBLIC_BASE_URL")]
    public_base_url: Option<String>,
    /// The key that encrypts app secrets at rest: 64 hex digits. Default: <data-dir>/secret.key.
    #[arg(long, env = "PICLOUD_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// How long a dashboard sign-in lasts (e.g. 12h).
    #[arg(long, env = "PICLOUD_SESSION_TTL", default_value = "12h", value_parser = humantime::parse_duration)]
    session_ttl: std::time::Duration,
    /// A dashboard sign-in unused for this long ends before its TTL; 0 turns
    /// the idle timeout off.
    #[arg(long, env = "PICLOUD_SESSION_IDLE_TIMEOUT", default_value = "2h", value_parser = humantime::parse_duration)]
    session_idle_timeout: std::time::Duration,
    /// Versions kept per script (the newest N); default: every version.
    #[arg(long, env = "PICLOUD_VERSIONS_KEEP", value_parser = clap::value_parser!(u64).range(1..))]
    versions_keep: Option<u64>,
    /// Execution-log records kept per app (the newest).
    #[arg(long, env = "PICLOUD_LOG_MAX_PER_APP", default_value_t = 10_000)]
    log_max_per_app: u64,
    /// Execution-log records older than this are removed (e.g. 30d).
    #[arg(long, env = "PICLOUD_LOG_MAX_AGE", default_value = "30d", value_parser = humantime::parse_duration)]
    log_max_age: std::time::Duration,
    /// Hosts that serve the dashboard and the admin API, comma-separated,
    /// without ports; no app may claim them and no app is served on them
    /// (docs/security.md). Default: the loopback addresses.
    #[arg(long, env = "PICLOUD_ADMIN_HOSTS", default_value = shared::DEFAULT_ADMIN_HOSTS, value_parser = shared::AdminHosts::parse)]
    admin_hosts: shared::AdminHosts,
    /// Proxies whose X-Forwarded-* headers are believed (addresses or CIDR
    /// blocks; default loopback).
    #[arg(long, env = "PICLOUD_TRUSTED_PROXIES", default_value = shared::DEFAULT_TRUSTED_PROXIES, value_parser = shared::TrustedProxies::parse)]
    trusted_proxies: shared::TrustedProxies,
    /// Request headers whose values execution records store as
    /// `[redacted]` (comma-separated), on top of the credential headers
    /// that always are.
    #[arg(long, env = "PICLOUD_REDACT_HEADERS", default_value = "", value_parser = process::parse_header_names)]
    redact_headers: process::HeaderNames,
    /// Also serve `GET /metrics` here, without authentication (a private
    /// address; docs/operations.md).
    #[arg(long, env = "PICLOUD_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    #[command(flatten)]
    mail: picloud_control::MailArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    process::init_tracing();
    let args = Args::parse();
    let secret = ClusterSecret::new(&args.cluster_secret)
        .map_err(anyhow::Error::msg)
        .context("PICLOUD_CLUSTER_SECRET")?;
    let executor = RemoteExecutor::new(process::peers(&args.executors, &secret)?)
        .map_err(anyhow::Error::msg)
        .context("PICLOUD_EXECUTORS")?;
    let admin_user = match (args.admin_user, args.admin_password) {
        (Some(user), Some(password)) => Some((user, password)),
        (None, None) => None,
        _ => anyhow::bail!("PICLOUD_ADMIN_USER and PICLOUD_ADMIN_PASSWORD go together"),
    };
    let config = ControlConfig {
        database_url: args.database_url,
        admin_token: args.admin_token,
        admin_user,
        public_base_url: args.public_base_url,
        secret_key: args.secret_key,
        cluster_secret: Some(secret),
        manager: ManagerConfig {
            session_ttl: args.session_ttl,
            session_idle_timeout: args.session_idle_timeout,
            versions_keep: args.versions_keep,
            log_max_per_app: args.log_max_per_app,
            log_max_age: args.log_max_age,
            admin_hosts: args.admin_hosts,
            trusted_proxies: args.trusted_proxies,
            redact_headers: args.redact_headers.0,
            email: args.mail.email()?,
            smtp_in: args.mail.smtp_in(),
            ..ManagerConfig::default()
        },
        metrics_listen: args.metrics_listen,
        ..ControlConfig::new(args.listen, args.data_dir)
    };
    let signal = process::shutdown_signal()?;
    let server = ControlPlane::start(
        config,
        Box::new(move |_services| {
            Box::pin(async move { Ok(Arc::new(executor) as Arc<dyn shared::ExecutorClient>) })
        }),
    )
    .await?;
    if let Some(token) = &server.generated_token {
        println!("Admin API token (shown once, keep it safe): {token}");
    }
    println!("picloud-manager listening on http://{}", server.addr);
    server.run_until(signal).await
}
