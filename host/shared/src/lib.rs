//! Domain types and the traits that connect PiCloud's three services.
//!
//! The manager, orchestrator and executor crates never depend on each other;
//! whatever one needs of another is a trait here, implemented in its own crate
//! and injected by the binary. The orchestrator, for example, holds an
//! `Arc<dyn ExecutorClient>` and cannot tell an in-process executor from a
//! remote one:
//!
//! ```
//! use shared::{ExecutorClient, ExecutionRequest};
//! async fn serve(executor: &dyn ExecutorClient, request: ExecutionRequest) -> u16 {
//!     match executor.execute(request).await.outcome {
//!         Ok(response) => response.status,
//!         Err(error) => error.http_status(),
//!     }
//! }
//! ```

mod admin_hosts;
pub mod batch;
pub mod client;
pub mod cors;
pub mod domain;
mod execution;
mod http_allow;
mod ids;
mod limits;
pub mod path;
pub mod rate_limit;
pub mod response;
mod routing;
mod services;
pub mod wire;

pub use admin_hosts::{AdminHosts, DEFAULT_ADMIN_HOSTS, is_admin_path};
pub use client::{DEFAULT_TRUSTED_PROXIES, TrustedProxies};
pub use cors::CorsPolicy;
pub use execution::{
    ExecutionError, ExecutionOutcome, ExecutionRecord, ExecutionRecorder, ExecutionRequest,
    ExecutorClient, LimitKind, LogLevel, LogLine, Position, ScriptFailure, ScriptRequest,
    ScriptResponse, Trigger,
};
pub use http_allow::AllowPattern;
pub use ids::{AppId, ExecutionId, RouteId, ScriptId};
pub use limits::Limits;
pub use rate_limit::RateLimit;
pub use routing::{
    AppRouting, Resolution, RouteMatch, RouteSpec, RoutingSnapshot, RoutingSource, RoutingTables,
    ScriptEntry,
};
pub use services::{
    DocFilter, DocOp, DocPage, DocQuery, DocsService, Document, EnvService, HttpAllowList, KvPage,
    KvService, ServiceError, ServiceErrorKind, ServiceProvider,
};

/// Whether `err`, or any error in its `source()` chain, is a `T`. Request
/// bodies fail for different reasons (too large, too slow, client gone) that
/// deserve different statuses, and the reason sits some layers down.
pub fn caused_by<T: std::error::Error + 'static>(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(err) = current {
        if err.is::<T>() {
            return true;
        }
        current = err.source();
    }
    false
}

/// Versions of PiCloud's compatibility surfaces, reported by `/version`.
/// docs/versioning.md says when each one changes.
pub mod versions {
    /// The HTTP API under `/api/v1/`.
    pub const API: &str = "v1";
    /// The WIT package the guest and host share (`wit/picloud.wit`).
    pub const WIT: &str = "picloud:platform@0.1.3";
}
