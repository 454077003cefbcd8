//! PiCloud's ingress: resolves `Host` → app ([`AppDomainTable`]), then the
//! request against that app's routes only ([`RouteTable`]), and hands the
//! execution to an [`ExecutorClient`] — in-process or remote, it cannot tell.
//! Routing data comes from a cached [`RoutingCache`], rebuilt when the manager
//! reports a change, so requests never read the database.
//!
//! ```no_run
//! # async fn demo(source: std::sync::Arc<dyn shared::RoutingSource>,
//! #   executor: std::sync::Arc<dyn shared::ExecutorClient>,
//! #   recorder: std::sync::Arc<dyn shared::ExecutionRecorder>) -> Result<(), String> {
//! use orchestrator_core::{Orchestrator, OrchestratorConfig, RoutingCache};
//! let cache = RoutingCache::new(source).await?;
//! let orchestrator = Orchestrator::new(cache, executor, recorder, OrchestratorConfig::default());
//! let app: axum::Router = orchestrator.execute_router().merge(orchestrator.user_router());
//! # Ok(()) }
//! ```

mod cache;
mod dispatch;
mod domains;
mod rate;
mod routes;

use std::sync::Arc;

use axum::Router;
use axum::routing::any;
use shared::{ExecutionRecorder, ExecutorClient};

pub use cache::{AppTable, Hit, RoutingCache, Tables};
pub use domains::{AppDomainTable, HostMatch};
pub use routes::{PathMatch, RouteEntry, RouteMiss, RouteTable};

/// Ingress settings.
#[derive(Debug, Clone)]
pub struct OrchestratorConfig {
    /// The server's ceiling on request bodies passed to a script, in bytes:
    /// each app's `max_request_bytes` limit (default 4 MiB) applies under it.
    pub max_request_bytes: usize,
    /// Hosts that serve the admin surface: no app is served on them, even
    /// one whose claim predates the setting (ADR 006).
    pub admin_hosts: shared::AdminHosts,
    /// Peers whose `X-Forwarded-*` headers give `request.url` and
    /// `request.client_ip`.
    pub trusted_proxies: shared::TrustedProxies,
    /// Lower-case names of request headers whose values the execution log
    /// redacts, on top of [`shared::ALWAYS_REDACTED_HEADERS`]
    /// (`PICLOUD_REDACT_HEADERS`).
    pub redact_headers: Vec<String>,
}

impl Default for OrchestratorConfig {
    fn default() -> Self {
        OrchestratorConfig {
            max_request_bytes: shared::Limits::MAX.max_request_bytes as usize,
            admin_hosts: shared::AdminHosts::default(),
            trusted_proxies: shared::TrustedProxies::default(),
            redact_headers: Vec::new(),
        }
    }
}

/// The orchestrator service. Cheap to clone.
#[derive(Clone)]
pub struct Orchestrator {
    pub(crate) cache: Arc<RoutingCache>,
    pub(crate) executor: Arc<dyn ExecutorClient>,
    pub(crate) recorder: Arc<dyn ExecutionRecorder>,
    pub(crate) config: Arc<OrchestratorConfig>,
    pub(crate) limiter: Arc<rate::RateLimiter>,
}

impl std::fmt::Debug for Orchestrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orchestrator")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Orchestrator {
    /// Wires the orchestrator.
    pub fn new(
        cache: Arc<RoutingCache>,
        executor: Arc<dyn ExecutorClient>,
        recorder: Arc<dyn ExecutionRecorder>,
        config: OrchestratorConfig,
    ) -> Self {
        Orchestrator {
            cache,
            executor,
            recorder,
            config: Arc::new(config),
            limiter: Arc::default(),
        }
    }

    /// The routing cache.
    pub fn cache(&self) -> &Arc<RoutingCache> {
        &self.cache
    }

    /// `/api/v1/execute/{id}` (any method). The caller must layer
    /// authentication on top: it reaches every script of every app.
    pub fn execute_router(&self) -> Router {
        Router::new()
            .route("/api/v1/execute/{id}", any(dispatch::execute_by_id))
            .with_state(self.clone())
    }

    /// User routes: a fallback for every path no platform route claimed.
    pub fn user_router(&self) -> Router {
        Router::new()
            .fallback(dispatch::user_request)
            .with_state(self.clone())
    }
}
