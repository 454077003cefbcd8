//! What every PiCloud server process is made of, without the executor:
//!
//! - [`Server`]: the HTTP server loop with its limits, and a graceful stop;
//! - [`ControlPlane`]: the manager (admin API, dashboard, scheduler) with the
//!   ingress in front of it — the whole of the all-in-one `picloud` but for
//!   the executor, which the caller injects as an [`ExecutorClient`]:
//!   in-process for `picloud`, remote for `picloud-manager`;
//! - [`cluster`]: the protocol between the processes of a cluster (routing
//!   events, remote executors, remote data-plane services, execution
//!   records), both sides of each.
//!
//! The crate never depends on `executor-core`, so the manager and
//! orchestrator binaries built on it cannot reach the executor except
//! through the [`ExecutorClient`] trait (DESIGN.md §1).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use manager_core::{
    DataServices, Db, DocsQuota, FirstAdmin, KvQuota, Manager, ManagerConfig, SecretKey, Store,
};
use orchestrator_core::{Orchestrator, OrchestratorConfig, RoutingCache};
use serde_json::json;
use shared::{ExecutorClient, RoutingTables};

pub mod cluster;
mod dashboard;
pub mod process;
mod serve;

pub use serve::HttpLimits;

/// A future that runs on its own; boxed so factories and hooks can be stored.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

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
    /// How long a browser session lasts.
    pub session_ttl: std::time::Duration,
    /// Execution records kept per app.
    pub log_max_per_app: u64,
    /// Execution records older than this are removed.
    pub log_max_age: std::time::Duration,
    /// Public URL reported by `/version`.
    pub public_base_url: Option<String>,
    /// Largest admin API request body, in bytes.
    pub max_body_bytes: usize,
    /// Read timeouts, header limits and the shutdown grace period.
    pub http: HttpLimits,
    /// The key-value quota every app gets.
    pub kv_quota: KvQuota,
    /// The document-collections quota every app gets.
    pub docs_quota: DocsQuota,
    /// The key for secrets at rest, 64 hex digits (`PICLOUD_SECRET_KEY`);
    /// `None` = the key in `<data_dir>/secret.key`, created on first start.
    pub secret_key: Option<String>,
    /// Cluster mode: the secret other processes present. With it, the
    /// server also answers the cluster endpoints under `/internal/v1/`
    /// (routing, data-plane services, execution records) and tells
    /// orchestrators about routing changes.
    pub cluster_secret: Option<cluster::ClusterSecret>,
    /// The hosts that serve the dashboard and the admin API, and no app
    /// (ADR 006).
    pub admin_hosts: shared::AdminHosts,
    /// Peers whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: shared::TrustedProxies,
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
            session_ttl: std::time::Duration::from_secs(12 * 60 * 60),
            log_max_per_app: 10_000,
            log_max_age: std::time::Duration::from_secs(30 * 24 * 60 * 60),
            public_base_url: None,
            max_body_bytes: 1 << 20,
            http: HttpLimits::default(),
            kv_quota: KvQuota::default(),
            docs_quota: DocsQuota::default(),
            secret_key: None,
            cluster_secret: None,
            admin_hosts: shared::AdminHosts::default(),
            trusted_proxies: shared::TrustedProxies::default(),
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
                session_ttl: config.session_ttl,
                log_max_per_app: config.log_max_per_app,
                log_max_age: config.log_max_age,
                max_body_bytes: config.max_body_bytes,
                kv_quota: config.kv_quota,
                docs_quota: config.docs_quota,
                secret_key: Some(secret_key),
                admin_hosts: config.admin_hosts.clone(),
                trusted_proxies: config.trusted_proxies.clone(),
                ..Default::default()
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
                admin_hosts: config.admin_hosts.clone(),
                trusted_proxies: config.trusted_proxies.clone(),
                ..OrchestratorConfig::default()
            },
        );
        warn_about_claimed_admin_hosts(&manager, &config.admin_hosts).await;
        let mut app = app(
            &manager,
            &orchestrator,
            schema,
            public_base_url,
            config.admin_hosts.clone(),
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
        let recorder = manager.recorder();
        let mut server = Server::serve(listener, app, config.http.clone());
        server.generated_token = bootstrap.generated_token;
        // Cron runs already started finish (and are recorded) on their own
        // tasks; no new tick starts. Records still queued are written.
        server.background = vec![janitor, scheduler];
        server.on_stop = Some(Box::new(move || {
            Box::pin(async move { recorder.flush().await })
        }));
        tracing::info!(%addr, "PiCloud is serving");
        Ok(server)
    }
}

/// A running HTTP server and the background tasks that live as long as it.
pub struct Server {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// A token generated at first start, to be shown once.
    pub generated_token: Option<String>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    background: Vec<tokio::task::JoinHandle<()>>,
    on_stop: Option<Box<dyn FnOnce() -> BoxFuture<()> + Send + Sync>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Serves `app` (hardened: see [`harden`]) on `listener` with `limits`.
    pub fn serve(listener: tokio::net::TcpListener, app: Router, limits: HttpLimits) -> Server {
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve::serve(listener, harden(app), limits, async move {
            let _ = stop.await;
        }));
        Server {
            addr,
            generated_token: None,
            shutdown,
            task,
            background: Vec::new(),
            on_stop: None,
        }
    }

    /// Tasks to abort when the server stops.
    pub fn with_background(mut self, tasks: Vec<tokio::task::JoinHandle<()>>) -> Server {
        self.background.extend(tasks);
        self
    }

    /// Work to finish after the last request (e.g. flushing queued records).
    pub fn with_on_stop(
        mut self,
        on_stop: impl FnOnce() -> BoxFuture<()> + Send + Sync + 'static,
    ) -> Server {
        self.on_stop = Some(Box::new(on_stop));
        self
    }

    /// Stops accepting requests, waits for in-flight ones, stops the
    /// background tasks and runs the stop hook.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(());
        self.task.await??;
        for task in &self.background {
            task.abort();
        }
        if let Some(on_stop) = self.on_stop {
            on_stop().await;
        }
        Ok(())
    }

    /// Serves until `signal` resolves (then stops gracefully) or the server
    /// fails.
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) -> anyhow::Result<()> {
        tokio::select! {
            result = &mut self.task => {
                result??;
                Ok(())
            }
            () = signal => self.stop().await,
        }
    }
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

/// The control plane's HTTP surface (DESIGN.md §5): health, version, the
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
        .layer(axum::middleware::from_fn(move |request, next| {
            admin_surface_gate(admin_hosts.clone(), request, next)
        }))
}

/// The admin surface (dashboard, admin API, execute-by-id, the OpenAPI
/// document) on a host that is not an admin host answers 404: on an app's
/// domain it would share an origin with that app's scripts. The answer does
/// not name the admin hosts, since anyone may ask.
async fn admin_surface_gate(
    admin_hosts: shared::AdminHosts,
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

/// What every response passes through: the request's trace span, panics
/// turned into 500s, and `Connection: close` after a 413 or 408.
pub fn harden(routes: Router) -> Router {
    routes
        .layer(axum::middleware::from_fn(json_error_bodies))
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

/// Every error answer of the platform has the API's JSON shape, the ones
/// axum writes itself with an empty body too (a `405` for a path that exists
/// under another method, say): a client can always read `error.code`. A
/// script's own answers are left as the script wrote them.
async fn json_error_bodies(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::body::HttpBody as _;
    use axum::http::{StatusCode, header};
    let method = request.method().clone();
    // `Uri` clones share their bytes: no copy of the path per request.
    let uri = request.uri().clone();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response
            .extensions()
            .get::<shared::response::FromScript>()
            .is_some()
        || response.headers().contains_key(header::CONTENT_TYPE)
        || response.body().size_hint().exact() != Some(0)
    {
        return response;
    }
    let path = uri.path();
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = response
                .headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            // axum may add `Allow` outside this layer; the message then
            // points at the header rather than listing nothing.
            let accepts = if allowed.is_empty() {
                "the Allow header lists the methods it accepts".to_owned()
            } else {
                format!("it accepts {allowed}")
            };
            (
                "method_not_allowed".to_owned(),
                format!("{path} does not accept {method}; {accepts}"),
            )
        }
        StatusCode::NOT_FOUND => ("not_found".to_owned(), format!("nothing at {path}")),
        _ => {
            let reason = status.canonical_reason().unwrap_or("error");
            (
                reason.to_ascii_lowercase().replace([' ', '-'], "_"),
                format!("{method} {path}: {reason}"),
            )
        }
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    let body = json!({"error": {"code": code, "message": message}}).to_string();
    axum::response::Response::from_parts(parts, axum::body::Body::from(body))
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

    /// axum's own `405` (the path exists under another method) has an
    /// empty body; it gets the JSON error shape, and the `Allow` header stays.
    #[tokio::test]
    async fn a_405_has_the_json_error_shape() {
        let router = harden(Router::new().route("/only-get", get(|| async { "ok" })));
        let response = router
            .oneshot(Request::post("/only-get").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert!(
            response.headers()["allow"]
                .to_str()
                .unwrap()
                .contains("GET")
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "method_not_allowed");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("/only-get does not accept POST"),
            "{message}"
        );
    }
}
