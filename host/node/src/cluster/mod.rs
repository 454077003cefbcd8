//! The cluster protocol: how `picloud-manager`, `picloud-orchestrator` and
//! `picloud-executor` talk to each other (docs/deploy.md, "Cluster mode").
//!
//! Every call is HTTP with JSON bodies under `/internal/v1/`, authenticated
//! by one shared secret (`Authorization: Bearer <secret>`):
//!
//! | endpoint | served by | called by |
//! |---|---|---|
//! | `GET /internal/v1/routing` | manager | orchestrators: a routing snapshot |
//! | `GET /internal/v1/routing/events` | manager | orchestrators: server-sent routing versions |
//! | `POST /internal/v1/routing/ack` | manager | orchestrators: "I serve version N" |
//! | `POST /internal/v1/services` | manager | executors: one data-plane call for one app |
//! | `POST /internal/v1/records` | manager | orchestrators: a batch of execution records |
//! | `POST /internal/v1/execute` | executor | orchestrators and the manager |
//! | `POST /internal/v1/check` | executor | the manager, on script upload |
//!
//! Each side of each call lives here, generic over the `shared` trait it
//! carries, so a binary wires an implementation to a router (server side)
//! or gets an implementation of the trait back (client side).

mod executor;
mod records;
mod routing;
mod services;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::{ExecutionRecorder, RoutingSource, ServiceProvider};

pub use executor::{RemoteExecutor, executor_router};
pub use records::RemoteRecorder;
pub use routing::{ACK_PATIENCE, RemoteRouting, RoutingHub, follow_routing};
pub use services::RemoteServices;

/// The secret every process of a cluster shares. At least 32 characters:
/// it is the only thing between the network and every app's data.
#[derive(Clone)]
pub struct ClusterSecret(Arc<str>);

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(…)")
    }
}

impl ClusterSecret {
    /// Shortest secret accepted.
    pub const MIN_LEN: usize = 32;

    /// Checks the length; the error names the rule.
    pub fn new(secret: &str) -> Result<ClusterSecret, String> {
        if secret.len() < Self::MIN_LEN {
            return Err(format!(
                "the cluster secret must be at least {} characters (it is {}); \
                 generate one with `openssl rand -hex 32`",
                Self::MIN_LEN,
                secret.len()
            ));
        }
        Ok(ClusterSecret(secret.into()))
    }

    fn matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

/// Rejects requests without the cluster secret: 401 in the API's error shape.
async fn require_secret(
    State(secret): State<ClusterSecret>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match presented {
        Some(presented) if secret.matches(presented) => next.run(request).await,
        _ => (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": {
                "code": "unauthorized",
                "message": "cluster endpoints need the cluster secret (Authorization: Bearer …)"
            }})),
        )
            .into_response(),
    }
}

/// Puts `routes` behind the cluster secret.
fn protect(routes: Router, secret: ClusterSecret) -> Router {
    routes.layer(axum::middleware::from_fn_with_state(secret, require_secret))
}

/// The manager's side of the protocol: routing snapshots and events,
/// data-plane services for executors, execution records from orchestrators.
pub fn manager_router(
    secret: ClusterSecret,
    hub: RoutingHub,
    routing: Arc<dyn RoutingSource>,
    services: Arc<dyn ServiceProvider>,
    recorder: Arc<dyn ExecutionRecorder>,
) -> Router {
    protect(
        routing::router(hub, routing)
            .merge(services::router(services))
            .merge(records::router(recorder)),
        secret,
    )
}

/// A peer's base URL plus the secret: what every client side holds.
#[derive(Clone, Debug)]
pub struct Peer {
    base: Arc<str>,
    secret: ClusterSecret,
    client: reqwest::Client,
}

/// How a call to a peer failed.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The connection could not be made: nothing was sent, so the call can
    /// safely go to another peer.
    Connect(reqwest::Error),
    /// Anything after the request may have reached the peer.
    Other(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Connect(err) => write!(f, "cannot connect: {err}"),
            CallError::Other(message) => f.write_str(message),
        }
    }
}

impl Peer {
    /// A peer at `base` (`http://10.0.0.2:8081`); checks the URL's shape.
    pub fn new(base: &str, secret: ClusterSecret) -> Result<Peer, String> {
        let trimmed = base.trim().trim_end_matches('/');
        let url = reqwest::Url::parse(trimmed).map_err(|err| {
            format!("'{base}' is not a URL ({err}); use e.g. http://10.0.0.2:8081")
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(format!(
                "'{base}' must be an http:// or https:// URL with a host"
            ));
        }
        let client = reqwest::Client::builder()
            // A peer that does not accept within this is treated as down,
            // and the caller moves on to another one.
            .connect_timeout(Duration::from_secs(2))
            // Never through an operator's HTTP proxy: these are LAN calls.
            .no_proxy()
            .build()
            .map_err(|err| format!("building the cluster HTTP client: {err}"))?;
        Ok(Peer {
            base: trimmed.into(),
            secret,
            client,
        })
    }

    /// The peer's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&*self.secret.0)
    }

    /// POSTs `body` as JSON and reads a JSON answer, within `timeout`.
    pub(crate) async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<T, CallError> {
        let response = self
            .request(reqwest::Method::POST, path)
            .timeout(timeout)
            .json(body)
            .send()
            .await;
        Self::read(path, response).await
    }

    /// POSTs `body` as JSON; any 2xx answer will do.
    pub(crate) async fn post_empty<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<(), CallError> {
        let response = self
            .request(reqwest::Method::POST, path)
            .timeout(timeout)
            .json(body)
            .send()
            .await;
        Self::check(path, response).await.map(drop)
    }

    /// GETs a JSON answer, within `timeout`.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        timeout: Duration,
    ) -> Result<T, CallError> {
        let response = self
            .request(reqwest::Method::GET, path)
            .timeout(timeout)
            .send()
            .await;
        Self::read(path, response).await
    }

    async fn read<T: DeserializeOwned>(
        path: &str,
        response: reqwest::Result<reqwest::Response>,
    ) -> Result<T, CallError> {
        Self::check(path, response)
            .await?
            .json::<T>()
            .await
            .map_err(|err| CallError::Other(format!("{path}: unreadable answer: {err}")))
    }

    /// The response if it is a 2xx; the failure, sorted by whether the
    /// request can have reached the peer, otherwise.
    async fn check(
        path: &str,
        response: reqwest::Result<reqwest::Response>,
    ) -> Result<reqwest::Response, CallError> {
        let response = match response {
            Ok(response) => response,
            Err(err) if err.is_connect() => return Err(CallError::Connect(err)),
            Err(err) => return Err(CallError::Other(format!("{path}: {err}"))),
        };
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(CallError::Other(format!(
                "{path}: the peer answered {status}: {}",
                body.chars().take(300).collect::<String>()
            )));
        }
        Ok(response)
    }
}
