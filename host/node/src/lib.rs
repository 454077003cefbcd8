//! What every PiCloud server process is made of, without the executor and
//! without the database:
//!
//! - [`Server`]: the HTTP server loop with its limits, and a graceful stop;
//! - [`harden`]: what every response passes through (trace span, panics as
//!   500s, the JSON error shape);
//! - [`cluster`]: the protocol between the processes of a cluster (routing
//!   events, remote executors, remote data-plane services, execution
//!   records), both sides of each;
//! - [`process`]: logging, signals and peer lists for the binaries.
//!
//! The control plane (manager, dashboard, ingress) is `picloud-control`,
//! built on this crate. This crate depends on neither `executor-core` nor
//! `manager-core`: the orchestrator and executor binaries built on it link
//! no database driver (a test in `tests/boundaries.rs` checks it), and reach
//! the other processes only through the traits in `shared`
//! (docs/architecture.md).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use axum::Router;
use serde_json::json;

pub mod cluster;
pub mod process;
mod serve;

pub use serve::HttpLimits;

/// A future that runs on its own; boxed so factories and hooks can be stored.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A running HTTP server and the background tasks that live as long as it.
pub struct Server {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// Where `GET /metrics` is served without authentication, when it is
    /// ([`Server::with_metrics_listener`]).
    pub metrics_addr: Option<SocketAddr>,
    /// Where inbound mail is accepted over SMTP, when it is (the control
    /// plane's `--smtp-listen`).
    pub smtp_addr: Option<SocketAddr>,
    /// A token generated at first start, to be shown once.
    pub generated_token: Option<String>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    background: Vec<tokio::task::JoinHandle<()>>,
    on_stop: Option<Box<dyn FnOnce() -> BoxFuture<()> + Send + Sync>>,
    /// Held while the server lives (the data directory's lock).
    guards: Vec<Box<dyn std::any::Any + Send + Sync>>,
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
        let app = harden(app, limits.trusted_proxies.clone());
        let task = tokio::spawn(serve::serve(listener, app, limits, async move {
            let _ = stop.await;
        }));
        Server {
            addr,
            metrics_addr: None,
            smtp_addr: None,
            generated_token: None,
            shutdown,
            task,
            background: Vec::new(),
            on_stop: None,
            guards: Vec::new(),
        }
    }

    /// Also serves `GET /metrics` (the process's metrics, no
    /// authentication: for a private network) on `listen`, when given;
    /// `refresh` runs before each scrape to copy gauges that are read, not
    /// tracked (the database pool's). Stops with the server.
    pub async fn with_metrics_listener(
        mut self,
        listen: Option<SocketAddr>,
        refresh: impl Fn() + Clone + Send + Sync + 'static,
    ) -> anyhow::Result<Server> {
        use anyhow::Context as _;
        let Some(listen) = listen else {
            return Ok(self);
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening for metrics on {listen}"))?;
        let addr = listener.local_addr()?;
        let app = Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let refresh = refresh.clone();
                async move {
                    refresh();
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            shared::metrics::CONTENT_TYPE,
                        )],
                        shared::metrics::render(),
                    )
                }
            }),
        );
        let limits = HttpLimits::default();
        let app = harden(app, limits.trusted_proxies.clone());
        self.background.push(tokio::spawn(async move {
            if let Err(err) = serve::serve(listener, app, limits, std::future::pending()).await {
                tracing::error!(error = %err, "the metrics listener failed");
            }
        }));
        tracing::info!(%addr, "metrics are served");
        self.metrics_addr = Some(addr);
        Ok(self)
    }

    /// Keeps `guard` (a lock, say) until the server is stopped or dropped.
    pub fn with_guard(mut self, guard: impl std::any::Any + Send + Sync) -> Server {
        self.guards.push(Box::new(guard));
        self
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

/// What every response passes through: a request id (`x-request-id`, kept
/// from a trusted proxy in `trusted`, else generated), the request's trace
/// span (which carries the id), panics turned into 500s, and
/// `Connection: close` after a 413 or 408.
pub fn harden(routes: Router, trusted: shared::TrustedProxies) -> Router {
    routes
        .layer(axum::middleware::from_fn(json_error_bodies))
        .layer(axum::middleware::map_response(close_after_unread_body))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(request_span)
                // A script's 5xx is the script's failure, logged in its
                // execution record; the server log keeps ERROR for the
                // server's own faults.
                .on_failure(()),
        )
        .layer(axum::middleware::from_fn_with_state(
            std::sync::Arc::new(trusted),
            request_id,
        ))
}

/// The span every line logged while serving a request carries: its method,
/// path and request id, so the server log can be grepped for one request
/// (docs/operations.md). At `info`, so that a warning or an error logged
/// while serving a request names it at the default log level; a span prints
/// nothing of its own.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = request
        .headers()
        .get(shared::REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %id,
    )
}

/// Gives the request its id (replacing one an untrusted client sent, so
/// everything inside sees only ids this server stands behind) and echoes it
/// on the response.
async fn request_id(
    axum::extract::State(trusted): axum::extract::State<std::sync::Arc<shared::TrustedProxies>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let id = shared::request_id_from(
        &trusted,
        peer,
        request
            .headers()
            .get(shared::REQUEST_ID_HEADER)
            .map(|v| v.as_bytes()),
    );
    let Ok(value) = axum::http::HeaderValue::from_str(&id) else {
        return next.run(request).await;
    };
    request
        .headers_mut()
        .insert(shared::REQUEST_ID_HEADER, value.clone());
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert(shared::REQUEST_ID_HEADER, value);
    response
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
    use axum::routing::get;
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
            shared::TrustedProxies::default(),
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
        let router = harden(
            Router::new().route("/only-get", get(|| async { "ok" })),
            shared::TrustedProxies::default(),
        );
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
