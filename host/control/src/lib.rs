//! PiCloud's control plane: the manager (admin API, scheduler, janitor),
//! the dashboard and the ingress in front of them, on one HTTP surface —
//! the whole of the all-in-one `picloud` but for the executor, which the
//! caller injects as an [`ExecutorClient`]: in-process for `picloud`,
//! remote for `picloud-manager`.
//!
//! This is the only server crate that links the database (through
//! `manager-core`); `picloud-orchestrator` and `picloud-executor` are built
//! on `picloud-node` alone (docs/architecture.md).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use manager_core::{DataServices, Db, FirstAdmin, Manager, SecretKey, Store};
use orchestrator_core::{Orchestrator, OrchestratorConfig, RoutingCache};
use picloud_node::{BoxFuture, HttpLimits, Server, cluster};
use serde_json::json;
use shared::{ExecutorClient, RoutingTables};

mod dashboard;
mod mail;

pub use mail::MailArgs;
pub use manager_core::ManagerConfig;

/// Control-plane settings: everything `picloud serve` takes but the
/// executor's own (see `picloud serve --help` for each).
#[derive(Debug, Clone)]
pub struct ControlConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Data directory (SQLite file, secret key file).
    pub data_dir: PathBuf,
    /// Database URL; `None` = SQLite at `<data_dir>/picloud.db`.
    pub database_url: Option<String>,
    /// Bootstrap admin token for a fresh install.
    pub admin_token: Option<String>,
    /// First admin user (username, password) for an install without users.
    pub admin_user: Option<(String, String)>,
    /// Public URL reported by `/version`, whose host the default app claims;
    /// `None` = `http://localhost:<port>`.
    pub public_base_url: Option<String>,
    /// The key for secrets at rest, 64 hex digits (`PICLOUD_SECRET_KEY`);
    /// `None` = the key in `<data_dir>/secret.key`, created on first start.
    pub secret_key: Option<String>,
    /// Read timeouts, header limits and the shutdown grace period.
    pub http: HttpLimits,
    /// Cluster mode: the secret other processes present. With it, the
    /// server also answers the cluster endpoints under `/internal/v1/`
    /// (routing, data-plane services, execution records) and tells
    /// orchestrators about routing changes.
    pub cluster_secret: Option<cluster::ClusterSecret>,
    /// The manager's own settings (sessions, retention, quotas, admin hosts,
    /// trusted proxies). Its `public_base_url` and `secret_key` are filled
    /// in at start from the two settings above, once the port is bound and
    /// the key is loaded.
    pub manager: ManagerConfig,
    /// A second address that serves `GET /metrics` without authentication
    /// (`PICLOUD_METRICS_LISTEN`), for a private network.
    pub metrics_listen: Option<SocketAddr>,
}

impl ControlConfig {
    /// The defaults `picloud serve` uses, on `listen` with data in `data_dir`.
    pub fn new(listen: SocketAddr, data_dir: PathBuf) -> Self {
        ControlConfig {
            listen,
            data_dir,
            database_url: None,
            admin_token: None,
            admin_user: None,
            public_base_url: None,
            secret_key: None,
            http: HttpLimits::default(),
            cluster_secret: None,
            manager: ManagerConfig::default(),
            metrics_listen: None,
        }
    }
}

/// Builds the executor once the data-plane services exist: in-process
/// executors reach storage through them; remote ones ignore them (their
/// executor nodes call back over the cluster protocol).
pub type ExecutorFactory =
    Box<dyn FnOnce(DataServices) -> BoxFuture<anyhow::Result<Arc<dyn ExecutorClient>>> + Send>;

/// The control plane: manager, dashboard and ingress in one HTTP surface.
pub struct ControlPlane;

impl ControlPlane {
    /// Opens the database (migrating it), bootstraps a fresh install, builds
    /// the executor with `executor`, and starts serving; returns once the
    /// socket is bound.
    pub async fn start(config: ControlConfig, executor: ExecutorFactory) -> anyhow::Result<Server> {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("creating the data directory {}", config.data_dir.display())
        })?;
        let database_url = config.database_url.clone().unwrap_or_else(|| {
            format!("sqlite://{}", config.data_dir.join("picloud.db").display())
        });
        // A server on an SQLite data directory holds its lock (before it
        // opens the database), so that `picloud restore` never replaces the
        // database under it, and two servers never share one file.
        let lock = if database_url.starts_with("sqlite:") {
            Some(manager_core::backup::lock_data_dir(&config.data_dir)?)
        } else {
            None
        };
        let db = Db::connect(&database_url)
            .await
            .context("opening the database")?;
        let schema = db.schema_version().await?;
        shared::metrics::metrics().set_build_info(env!("CARGO_PKG_VERSION"), &schema.to_string());
        let store = Store::new(db);
        let secret_key = match &config.secret_key {
            Some(hex) => SecretKey::from_hex(hex).context("PICLOUD_SECRET_KEY")?,
            None => SecretKey::load_or_create(&config.data_dir.join("secret.key"))?,
        };
        record_key_fingerprint(&store, &secret_key).await?;

        // Scripts reach storage through the executor; only the manager's
        // stores touch the database (docs/architecture.md, "Services and crates").
        let services = DataServices::new(
            store.clone(),
            config.manager.kv_quota,
            config.manager.docs_quota,
            Some(secret_key.clone()),
        )
        .with_email(config.manager.email.clone());
        let executor = executor(services.clone())
            .await
            .context("starting the executor")?;

        let cache = RoutingCache::new(Arc::new(store.clone()))
            .await
            .map_err(anyhow::Error::msg)?;
        // In cluster mode a routing change must also reach every
        // orchestrator before the admin call that made it returns.
        let hub = config
            .cluster_secret
            .as_ref()
            .map(|_| cluster::RoutingHub::new(cache.clone()));
        let routing: Arc<dyn RoutingTables> = match &hub {
            Some(hub) => Arc::new(hub.clone()),
            None => cache.clone(),
        };
        // Bound before the default public URL is derived, so that it names
        // the real port when the configured one is 0.
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let public_base_url = config
            .public_base_url
            .clone()
            .unwrap_or_else(|| format!("http://localhost:{}", addr.port()));
        let manager = Manager::new(
            store.clone(),
            executor.clone(),
            routing,
            ManagerConfig {
                public_base_url: public_base_url.clone(),
                secret_key: Some(secret_key),
                ..config.manager.clone()
            },
        );
        let bootstrap = manager
            .bootstrap(&FirstAdmin {
                token: config.admin_token.clone(),
                user: config.admin_user.clone(),
                public_base_url: config.public_base_url.clone(),
            })
            .await?;
        if bootstrap.seeded_hello || bootstrap.claimed_public_host {
            cache.reload().await.map_err(anyhow::Error::msg)?;
        }
        let orchestrator = Orchestrator::new(
            cache,
            executor,
            Arc::new(manager.recorder()),
            OrchestratorConfig {
                admin_hosts: config.manager.admin_hosts.clone(),
                trusted_proxies: config.manager.trusted_proxies.clone(),
                redact_headers: config.manager.redact_headers.clone(),
                ..OrchestratorConfig::default()
            },
        );
        warn_about_claimed_admin_hosts(&manager, &config.manager.admin_hosts).await;
        let mut app = app(
            &manager,
            &orchestrator,
            schema,
            public_base_url,
            config.manager.admin_hosts.clone(),
        );
        if let (Some(secret), Some(hub)) = (config.cluster_secret.clone(), hub) {
            app = app.merge(cluster::manager_router(
                secret,
                hub,
                Arc::new(store),
                Arc::new(services),
                Arc::new(manager.recorder()),
            ));
        }

        let janitor = manager.start_janitor();
        let scheduler = manager.start_scheduler();
        let consumer = manager.start_queue_consumer();
        let mut background = vec![janitor, scheduler, consumer];
        background.extend(manager.start_mailer());
        let mut smtp_addr = None;
        if let Some(smtp) = manager
            .start_smtp_listener()
            .await
            .context("listening for inbound mail (PICLOUD_SMTP_LISTEN)")?
        {
            smtp_addr = Some(smtp.addr);
            background.push(smtp.task);
        }
        let recorder = manager.recorder();
        // Cron runs already started finish (and are recorded) on their own
        // tasks; no new tick starts. Records still queued are written.
        let http = HttpLimits {
            trusted_proxies: config.manager.trusted_proxies.clone(),
            ..config.http.clone()
        };
        let db = manager.store().db().clone();
        let mut server = Server::serve(listener, app, http)
            .with_background(background)
            .with_on_stop(move || Box::pin(async move { recorder.flush().await }))
            .with_metrics_listener(config.metrics_listen, move || db.export_pool_metrics())
            .await?
            .with_guard(lock);
        server.generated_token = bootstrap.generated_token;
        server.smtp_addr = smtp_addr;
        tracing::info!(%addr, "PiCloud is serving");
        Ok(server)
    }
}

/// Remembers which key the database's secrets are encrypted with (its
/// fingerprint, never the key), so backups carry it; a start with another
/// key says loudly that the stored secrets will not decrypt.
async fn record_key_fingerprint(store: &Store, key: &SecretKey) -> anyhow::Result<()> {
    use manager_core::backup::KEY_FINGERPRINT;
    match store.setting(KEY_FINGERPRINT).await? {
        None => {
            store
                .set_setting(KEY_FINGERPRINT, key.fingerprint())
                .await?
        }
        // With no secrets stored, the new key loses nothing: it is the key
        // from now on.
        Some(stored) if stored != key.fingerprint() && store.count_secrets().await? == 0 => {
            store
                .set_setting(KEY_FINGERPRINT, key.fingerprint())
                .await?
        }
        Some(stored) if stored != key.fingerprint() => tracing::error!(
            database_key = %stored,
            this_key = %key.fingerprint(),
            "this server's secret key is not the one the database's secrets were written with: \
             they will not decrypt. Start with the key the database was made with \
             (PICLOUD_SECRET_KEY or secret.key in the data directory)"
        ),
        Some(_) => {}
    }
    Ok(())
}

/// An app may still claim a host the operator has since made an admin
/// host (claims made before the setting changed). The admin host wins: the
/// orchestrator serves no app there. Say so at start, so the operator can
/// move the app.
async fn warn_about_claimed_admin_hosts(manager: &Manager, admin_hosts: &shared::AdminHosts) {
    use shared::RoutingSource as _;
    let Ok(snapshot) = manager.store().load().await else {
        return;
    };
    for app in &snapshot.apps {
        for domain in &app.domains {
            let Ok(pattern) = shared::domain::DomainPattern::parse(domain) else {
                continue;
            };
            if let Some(host) = admin_hosts.claimed_by(&pattern) {
                tracing::warn!(
                    app = %app.slug, pattern = %domain, admin_host = host,
                    "an app claims an admin host; the admin surface is served there and the app is not"
                );
            }
        }
    }
}

/// The control plane's HTTP surface (docs/api.md, "Platform endpoints"): health, version, the
/// admin API, the dashboard, execution by id and user routes. The admin
/// surface answers on `admin_hosts` only (ADR 006).
pub fn app(
    manager: &Manager,
    orchestrator: &Orchestrator,
    schema: i64,
    public_base_url: String,
    admin_hosts: shared::AdminHosts,
) -> Router {
    let version = json!({
        "picloud": env!("CARGO_PKG_VERSION"),
        "api": shared::versions::API,
        "wit": shared::versions::WIT,
        "schema": schema,
        "public_base_url": public_base_url,
    });
    let execute = orchestrator
        .execute_router()
        .layer(axum::middleware::from_fn_with_state(
            manager.clone(),
            manager_core::api::require_admin,
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/healthz/ready", get(ready).with_state(manager.clone()))
        .route("/version", get(move || async move { axum::Json(version) }))
        .merge(manager_core::api::router(manager.clone()))
        .merge(execute)
        .merge(dashboard::router())
        .merge(orchestrator.user_router())
        .layer(axum::middleware::from_fn_with_state(
            manager.clone(),
            move |state, request, next| {
                admin_surface_gate(admin_hosts.clone(), state, request, next)
            },
        ))
}

/// The admin surface (dashboard, admin API, execute-by-id, the OpenAPI
/// document) on a host that is not an admin host answers 404: on an app's
/// domain it would share an origin with that app's scripts. The answer does
/// not name the admin hosts, since anyone may ask.
///
/// `GET /metrics` on an admin host is the server's metrics (for an admin or
/// a metrics-only token); on any other host it stays an ordinary path of
/// the apps, so no app loses a `/metrics` route of its own.
async fn admin_surface_gate(
    admin_hosts: shared::AdminHosts,
    axum::extract::State(manager): axum::extract::State<Manager>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let host = request
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().host())
        .unwrap_or("");
    if request.uri().path() == "/metrics"
        && matches!(
            *request.method(),
            axum::http::Method::GET | axum::http::Method::HEAD
        )
        && admin_hosts.contains_header(host)
    {
        return manager_core::api::metrics(axum::extract::State(manager), request).await;
    }
    if shared::is_admin_path(request.uri().path()) && !admin_hosts.contains_header(host) {
        return (
            axum::http::StatusCode::NOT_FOUND,
            axum::Json(json!({"error": {
                "code": "not_found",
                "message": "the dashboard and the admin API are not served on this host; \
                            use one of the server's admin hosts (PICLOUD_ADMIN_HOSTS)",
            }})),
        )
            .into_response();
    }
    next.run(request).await
}

/// Readiness: 200 while the database answers, 503 naming it while it does
/// not. `/healthz` stays a pure liveness check, because user routes keep
/// being served from the routing cache while the database is away.
async fn ready(
    axum::extract::State(manager): axum::extract::State<Manager>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match manager.store().db().ping().await {
        Ok(()) => axum::Json(json!({"status": "ready", "database": "ok"})).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check: database unavailable");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"status": "unavailable", "database": "unavailable"})),
            )
                .into_response()
        }
    }
}
