//! The routing data the orchestrator caches, and how it learns of changes.
//!
//! The manager owns the data (it is the only writer to the database) and
//! implements [`RoutingSource`]; the orchestrator builds its lookup tables from
//! a [`RoutingSnapshot`] and implements [`RoutingTables`]. After every change
//! that affects dispatch the manager awaits `routing_changed()`, so an admin
//! call returns only once the next request will see its effect.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{AppId, Limits, RouteId, ScriptId};

/// Everything dispatch needs, read in one consistent pass.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RoutingSnapshot {
    /// Every app with its domain claims and limits.
    pub apps: Vec<AppRouting>,
    /// Every script (routed or not: `/api/v1/execute/{id}` reaches them all).
    pub scripts: Vec<ScriptEntry>,
    /// Every route.
    pub routes: Vec<RouteSpec>,
    /// Every interceptor, in each app's run order.
    #[serde(default)]
    pub interceptors: Vec<InterceptorSpec>,
}

/// An interceptor: a script that runs before the route's script for every
/// request whose path starts with `prefix`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InterceptorSpec {
    /// The interceptor's id.
    pub id: String,
    /// Its app.
    pub app_id: AppId,
    /// The script it runs (one of the app's).
    pub script_id: ScriptId,
    /// Paths it guards: every path that starts with it (`/` for all).
    pub prefix: String,
    /// Its place in the app's order (lower runs first).
    pub position: i64,
}

/// An app as dispatch sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppRouting {
    /// The app.
    pub id: AppId,
    /// Its current slug (for messages and logs).
    pub slug: String,
    /// Host patterns the app claims (`api.example.com`, `{tenant}.example.com`).
    pub domains: Vec<String>,
    /// Limits for the app's executions.
    pub limits: Limits,
    /// Its CORS policy, if it has one.
    #[serde(default)]
    pub cors: Option<crate::CorsPolicy>,
    /// Its request rate limit, if it has one.
    #[serde(default)]
    pub rate_limit: Option<crate::RateLimit>,
}

/// A script's runnable form.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScriptEntry {
    /// The script.
    pub id: ScriptId,
    /// Its app.
    pub app_id: AppId,
    /// Its name (for logs).
    pub name: String,
    /// Rhai source.
    pub source: Arc<str>,
    /// The version `source` is (execution records carry it); 0 from a
    /// manager that predates versions.
    #[serde(default)]
    pub version: i64,
    /// The module names its source imports (checked at upload to be
    /// scripts of the same app).
    #[serde(default)]
    pub imports: Vec<String>,
}

/// The modules a script with `imports` is given: those scripts and their
/// own imports, each once, found by name through `lookup` (which must only
/// see the script's own app). A name `lookup` does not know is skipped: the
/// guest then reports it as a missing module.
pub fn module_closure<'a>(
    imports: &'a [String],
    lookup: impl Fn(&str) -> Option<&'a ScriptEntry>,
) -> Vec<crate::ModuleSource> {
    let mut modules: Vec<crate::ModuleSource> = Vec::new();
    let mut pending: Vec<&str> = imports.iter().map(String::as_str).collect();
    while let Some(name) = pending.pop() {
        if modules.iter().any(|m| m.name == name) {
            continue;
        }
        if let Some(script) = lookup(name) {
            pending.extend(script.imports.iter().map(String::as_str));
            modules.push(crate::ModuleSource {
                name: script.name.clone(),
                script_id: script.id,
                version: script.version,
                source: script.source.clone(),
            });
        }
    }
    modules.sort_by(|a, b| a.name.cmp(&b.name));
    modules
}

/// A route binding `method path` (and optionally a host) to a script.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouteSpec {
    /// The route.
    pub id: RouteId,
    /// Its app (always the script's app).
    pub app_id: AppId,
    /// The script it runs.
    pub script_id: ScriptId,
    /// Upper-case method, or `*` for any.
    pub method: String,
    /// Path pattern with `:name` params and an optional trailing `*`.
    pub path: String,
    /// Host pattern the route is limited to, within the app's claims.
    pub host: Option<String>,
}

/// Reads the routing data; implemented by the manager.
#[async_trait]
pub trait RoutingSource: Send + Sync + 'static {
    /// A consistent snapshot of all apps, scripts and routes.
    async fn load(&self) -> Result<RoutingSnapshot, String>;
}

/// The orchestrator's cached dispatch tables as the manager sees them: told
/// when routing data changed, and asked which route would serve a request
/// (the admin API's `routes:match`). Implemented by the orchestrator's cache.
#[async_trait]
pub trait RoutingTables: Send + Sync + 'static {
    /// Rebuilds from the source; returns once the new tables serve requests.
    async fn routing_changed(&self);

    /// Resolves a request exactly as dispatch would, without running anything:
    /// the route that would serve it, or the [`Miss`] that explains why none
    /// would.
    fn resolve(&self, host: &str, method: &str, path: &str) -> Result<RouteMatch, Miss>;
}

/// Why a request has no route: dispatch goes host → app, then the app's
/// routes, and either step can miss. A match is the `Ok` beside it
/// ([`RouteMatch`]), never a case here, so code that handles a miss cannot be
/// handed a match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// The `Host` value is malformed.
    InvalidHost {
        /// What is wrong with it.
        message: String,
    },
    /// No app claims the (normalized) host.
    UnknownHost {
        /// The normalized host.
        host: String,
    },
    /// The app has no route for the path.
    NoRoute {
        /// The app that claims the host.
        app_id: AppId,
        /// Its slug.
        app_slug: String,
    },
    /// The app has routes for the path, but not for this method.
    MethodNotAllowed {
        /// The app that claims the host.
        app_id: AppId,
        /// Its slug.
        app_slug: String,
        /// Methods that would match.
        allowed: Vec<String>,
    },
}

/// A matched route with everything needed to run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// The app.
    pub app_id: AppId,
    /// Its slug.
    pub app_slug: String,
    /// The route.
    pub route_id: RouteId,
    /// The route's path pattern.
    pub route_path: String,
    /// The script.
    pub script_id: ScriptId,
    /// `:name` captures (and `wildcard`).
    pub params: Vec<(String, String)>,
    /// `{name}` captures from the app's domain claim.
    pub host_params: Vec<(String, String)>,
}
