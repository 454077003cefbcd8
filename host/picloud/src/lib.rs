//! The all-in-one PiCloud server: manager, orchestrator and executor in one
//! process, wired through the traits in `shared`. `main.rs` is only the CLI;
//! tests start a [`Server`] on port 0 through this library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
pub use executor_core::OutboundConfig;
use executor_core::{ExecutorConfig, LocalExecutor};
use manager_core::{
    DataServices, Db, DocsQuota, FirstAdmin, KvQuota, Manager, ManagerConfig, SecretKey, Store,
};
use orchestrator_core::{Orchestrator, OrchestratorConfig, RoutingCache};
use serde_json::json;

mod dashboard;
mod serve;

pub use serve::HttpLimits;

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

/// A running server.
#[derive(Debug)]
pub struct Server {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// A token generated at first start, to be shown once.
    pub generated_token: Option<String>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    janitor: tokio::task::JoinHandle<()>,
    scheduler: tokio::task::JoinHandle<()>,
    recorder: manager_core::Recorder,
}

impl Server {
    /// Builds everything and starts serving; returns once the socket is bound.
    pub async fn start(config: ServerConfig) -> anyhow::Result<Server> {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("creating the data directory {}", config.data_dir.display())
        })?;
        let database_url = config.database_url.clone().unwrap_or_else(|| {
            format!("sqlite://{}", config.data_dir.join("picloud.db").display())
        });
        let db = Db::connect(&database_url)
            .await
            .context("opening the database")?;
        let schema = db.schema_version().await?;
        let store = Store::new(db);
        let secret_key = match &config.secret_key {
            Some(hex) => SecretKey::from_hex(hex).context("PICLOUD_SECRET_KEY")?,
            None => SecretKey::load_or_create(&config.data_dir.join("secret.key"))?,
        };
        // Scripts reach storage through the executor; only the manager's
        // stores touch the database (DESIGN.md §1).
        let services = DataServices::new(
            store.clone(),
            config.kv_quota,
            config.docs_quota,
            Some(secret_key.clone()),
        );

        let executor_config = ExecutorConfig {
            cache_dir: Some(
                config
                    .cache_dir
                    .clone()
                    .unwrap_or_else(|| config.data_dir.join("cache")),
            ),
            max_concurrent: config.max_concurrent,
            services: Arc::new(services),
            outbound: config.outbound.clone(),
            ..Default::default()
        };
        let executor = tokio::task::spawn_blocking(move || LocalExecutor::new(executor_config))
            .await?
            .context("starting the executor")?;
        let executor: Arc<dyn shared::ExecutorClient> = Arc::new(executor);

        let cache = RoutingCache::new(Arc::new(store.clone()))
            .await
            .map_err(anyhow::Error::msg)?;
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
            store,
            executor.clone(),
            cache.clone(),
            ManagerConfig {
                public_base_url: public_base_url.clone(),
                session_ttl: config.session_ttl,
                log_max_per_app: config.log_max_per_app,
                log_max_age: config.log_max_age,
                max_body_bytes: config.max_body_bytes,
                kv_quota: config.kv_quota,
                docs_quota: config.docs_quota,
                secret_key: Some(secret_key),
                ..Default::default()
            },
        );
        let bootstrap = manager
            .bootstrap(&FirstAdmin {
                token: config.admin_token.clone(),
                user: config.admin_user.clone(),
            })
            .await?;
        if bootstrap.seeded_hello {
            cache.reload().await.map_err(anyhow::Error::msg)?;
        }
        let orchestrator = Orchestrator::new(
            cache,
            executor,
            Arc::new(manager.recorder()),
            OrchestratorConfig::default(),
        );
        let app = app(&manager, &orchestrator, schema, public_base_url);

        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let limits = config.http.clone();
        let task = tokio::spawn(serve::serve(listener, app, limits, async move {
            let _ = stop.await;
        }));
        let janitor = manager.start_janitor();
        let scheduler = manager.start_scheduler();
        tracing::info!(%addr, "PiCloud is serving");
        Ok(Server {
            addr,
            generated_token: bootstrap.generated_token,
            shutdown,
            task,
            janitor,
            scheduler,
            recorder: manager.recorder(),
        })
    }

    /// Stops accepting requests, waits for in-flight ones, and writes the
    /// execution records still queued.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(());
        self.task.await??;
        self.janitor.abort();
        // Cron runs already started finish (and are recorded) on their own
        // tasks; no new tick starts.
        self.scheduler.abort();
        self.recorder.flush().await;
        Ok(())
    }

    /// Serves until `signal` resolves (then stops gracefully) or the server
    /// fails.
    pub async fn run_until(
        mut self,
        signal: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        tokio::select! {
            result = &mut self.task => {
                result??;
                Ok(())
            }
            () = signal => self.stop().await,
        }
    }
}

/// The whole HTTP surface (DESIGN.md §5), separate from `serve` so tests and
/// cluster binaries can compose it differently.
pub fn app(
    manager: &Manager,
    orchestrator: &Orchestrator,
    schema: i64,
    public_base_url: String,
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
    let routes = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/healthz/ready", get(ready).with_state(manager.clone()))
        .route("/version", get(move || async move { axum::Json(version) }))
        .merge(manager_core::api::router(manager.clone()))
        .merge(execute)
        .merge(dashboard::router())
        .merge(orchestrator.user_router());
    harden(routes)
}

/// What every response passes through: the request's trace span, panics
/// turned into 500s, and `Connection: close` after a 413 or 408.
fn harden(routes: Router) -> Router {
    routes
        .layer(axum::middleware::map_response(close_after_unread_body))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
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

/// A handler that panics answers 500 in the API's error shape; the panic is
/// logged, and the connection and the server carry on.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "a request handler panicked");
    (
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(json!({"error": {"code": "internal_error", "message": "internal error; the server log has details"}})),
    )
        .into_response()
}

/// A 413 or 408 leaves request body bytes unread, so hyper will not reuse the
/// connection; saying `Connection: close` keeps a keep-alive client from
/// sending its next request into the closing socket.
async fn close_after_unread_body(
    mut response: axum::response::Response,
) -> axum::response::Response {
    if matches!(
        response.status(),
        axum::http::StatusCode::PAYLOAD_TOO_LARGE | axum::http::StatusCode::REQUEST_TIMEOUT
    ) {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt as _;

    use super::*;

    async fn boom() -> &'static str {
        panic!("bug in a handler")
    }

    /// A bug that panics in a handler costs that request a 500 in the usual
    /// shape; the same router keeps answering.
    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_router_carries_on() {
        let router = harden(
            Router::new()
                .route("/boom", get(boom))
                .route("/fine", get(|| async { "fine" })),
        );
        let response = router
            .clone()
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "internal_error");
        assert!(!body.to_string().contains("bug in a handler"));
        let response = router
            .oneshot(Request::get("/fine").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}
