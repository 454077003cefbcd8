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
pub mod metrics;
pub mod path;
pub mod rate_limit;
mod request_id;
pub mod response;
mod routing;
mod services;
pub mod wire;

pub use admin_hosts::{AdminHosts, DEFAULT_ADMIN_HOSTS, is_admin_path};
pub use client::{DEFAULT_TRUSTED_PROXIES, TrustedProxies};
pub use cors::CorsPolicy;
pub use execution::{
    ALWAYS_REDACTED_HEADERS, ChildExecution, ExecutionError, ExecutionKind, ExecutionOutcome,
    ExecutionRecord, ExecutionRecorder, ExecutionRequest, ExecutorClient, ImportRef,
    InterceptorResult, InterceptorRun, LimitKind, LogLevel, LogLine, ModuleSource, ModuleUse,
    Position, REDACTED, ScriptFailure, ScriptRequest, ScriptResponse, Trigger, redact_headers,
};
pub use http_allow::AllowPattern;
pub use ids::{AppId, ExecutionId, RouteId, ScriptId};
pub use limits::Limits;
pub use rate_limit::RateLimit;
pub use request_id::{REQUEST_ID_HEADER, new_request_id, request_id_from};
pub use routing::{
    AppRouting, InterceptorSpec, Miss, RouteMatch, RouteSpec, RoutingSnapshot, RoutingSource,
    RoutingTables, ScriptEntry, module_closure,
};
pub use services::{
    AppUser, DocFilter, DocOp, DocPage, DocQuery, DocsService, Document, EmailService, EnvService,
    HttpAllowList, Invocable, KvPage, KvService, MAX_FIND_LIMIT, MAX_LIST_LIMIT, OneTimeToken,
    OutgoingEmail, QueueService, ScriptsService, ServiceError, ServiceErrorKind, ServiceProvider,
    UserSession, UsersService, require_service,
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
    /// The WIT package the guest and host share: the id on the `package` line
    /// of `wit/picloud.wit`, read at compile time from the same file the
    /// executor's `bindgen!` and the guest's `generate!` read, so the version
    /// `/version` reports cannot drift from the contract actually built in.
    pub const WIT: &str = package_id(include_str!("../../../wit/picloud.wit"));

    /// The id of the first `package <id>;` line of a WIT file (comments and
    /// other lines skipped). A `const fn`, so a file without one fails the
    /// build instead of serving a wrong `/version`.
    const fn package_id(wit: &'static str) -> &'static str {
        let mut rest = wit.as_bytes();
        while !rest.is_empty() {
            let mut end = 0;
            while end < rest.len() && rest[end] != b'\n' {
                end += 1;
            }
            let (line, tail) = rest.split_at(end);
            rest = match tail {
                [_newline, next @ ..] => next,
                [] => tail,
            };
            if let Some((b"package", declaration)) = line.trim_ascii().split_at_checked(7)
                && let [space, id @ .., b';'] = declaration
                && space.is_ascii_whitespace()
            {
                return match core::str::from_utf8(id.trim_ascii()) {
                    Ok(id) => id,
                    Err(_) => panic!("the WIT package id is not UTF-8"),
                };
            }
        }
        panic!("the WIT file has no `package <id>;` line")
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn wit_is_the_platform_package() {
            assert!(WIT.starts_with("picloud:platform@"), "{WIT}");
        }

        #[test]
        fn package_id_skips_comments_and_other_lines() {
            let wit = "/// This package is the contract.\r\n\
                       \r\n  package  a:b@1.2.3 ;\r\ninterface c {}\r\n";
            assert_eq!(package_id(wit), "a:b@1.2.3");
            assert_eq!(package_id("package x:y;"), "x:y");
        }
    }
}
