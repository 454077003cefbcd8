//! The orchestrator's routing cache: lookup tables built from a
//! [`RoutingSnapshot`], swapped atomically when the manager reports a change.
//! Requests never touch the database.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use shared::domain::{DomainPattern, normalize_host};
use shared::{
    AppId, AppRouting, Resolution, RouteMatch, RoutingSnapshot, RoutingSource, RoutingTables,
    ScriptEntry, ScriptId,
};
use tokio::sync::Mutex;

use crate::domains::AppDomainTable;
use crate::routes::{PathMatch, RouteMiss, RouteTable};

/// An app's routes: host-scoped tables (most specific host first), then the
/// table for routes without a host.
#[derive(Debug, Default)]
pub struct AppRoutes {
    scoped: Vec<(DomainPattern, RouteTable)>,
    any_host: RouteTable,
}

impl AppRoutes {
    /// Finds a route for the request; host-scoped routes win over unscoped ones.
    pub fn find<'a>(
        &'a self,
        host: &str,
        method: &str,
        path: &str,
    ) -> Result<PathMatch<'a>, RouteMiss> {
        let mut allowed = Vec::new();
        let tables = self
            .scoped
            .iter()
            .filter(|(pattern, _)| pattern.matches(host).is_some())
            .map(|(_, t)| t)
            .chain(std::iter::once(&self.any_host));
        for table in tables {
            match table.find(method, path) {
                Ok(found) => return Ok(found),
                Err(RouteMiss::MethodNotAllowed(methods)) => allowed.extend(methods),
                Err(RouteMiss::NotFound) => {}
            }
        }
        if allowed.is_empty() {
            Err(RouteMiss::NotFound)
        } else {
            allowed.sort();
            allowed.dedup();
            Err(RouteMiss::MethodNotAllowed(allowed))
        }
    }
}

/// Everything dispatch needs, immutable once built.
#[derive(Debug, Default)]
pub struct Tables {
    /// Host → app.
    pub domains: AppDomainTable,
    /// App → its routes.
    pub routes: HashMap<AppId, AppRoutes>,
    /// App metadata (slug, limits).
    pub apps: HashMap<AppId, AppRouting>,
    /// Every script by id.
    pub scripts: HashMap<ScriptId, ScriptEntry>,
}

impl Tables {
    /// Host → app → route, exactly as dispatch does it. `raw_host` is the
    /// `Host` header as sent (port, case and IDN are normalized here).
    pub fn resolve(&self, raw_host: &str, method: &str, path: &str) -> Resolution {
        let host = match normalize_host(raw_host) {
            Ok(host) => host,
            Err(message) => return Resolution::InvalidHost { message },
        };
        let Some(found) = self.domains.resolve(&host) else {
            return Resolution::UnknownHost { host };
        };
        let (Some(app), Some(routes)) =
            (self.apps.get(&found.app_id), self.routes.get(&found.app_id))
        else {
            return Resolution::UnknownHost { host };
        };
        let app_slug = app.slug.clone();
        match routes.find(&host, method, path) {
            Ok(m) if self.scripts.contains_key(&m.route.script_id) => {
                Resolution::Matched(Box::new(RouteMatch {
                    app_id: found.app_id,
                    app_slug,
                    route_id: m.route.id,
                    route_path: m.route.path.clone(),
                    script_id: m.route.script_id,
                    params: m.params,
                    host_params: found.host_params,
                }))
            }
            Ok(_) | Err(RouteMiss::NotFound) => Resolution::NoRoute {
                app_id: found.app_id,
                app_slug,
            },
            Err(RouteMiss::MethodNotAllowed(allowed)) => Resolution::MethodNotAllowed {
                app_id: found.app_id,
                app_slug,
                allowed,
            },
        }
    }

    /// Builds the tables from a snapshot.
    pub fn build(snapshot: RoutingSnapshot) -> Tables {
        let mut tables = Tables::default();
        for app in snapshot.apps {
            for pattern in &app.domains {
                tables.domains.insert(app.id, pattern);
            }
            tables.routes.insert(app.id, AppRoutes::default());
            tables.apps.insert(app.id, app);
        }
        for script in snapshot.scripts {
            tables.scripts.insert(script.id, script);
        }
        for route in snapshot.routes {
            let Some(app_routes) = tables.routes.get_mut(&route.app_id) else {
                continue;
            };
            match route.host.as_deref().map(DomainPattern::parse) {
                None => app_routes.any_host.insert(route),
                Some(Ok(pattern)) => {
                    match app_routes.scoped.iter_mut().find(|(p, _)| *p == pattern) {
                        Some((_, table)) => table.insert(route),
                        None => {
                            let mut table = RouteTable::default();
                            table.insert(route);
                            app_routes.scoped.push((pattern, table));
                        }
                    }
                }
                Some(Err(_)) => {
                    tracing::warn!(route = %route.id, "skipping a route whose host does not parse")
                }
            }
        }
        for app_routes in tables.routes.values_mut() {
            app_routes
                .scoped
                .sort_by(|(a, _), (b, _)| a.specificity_cmp(b));
        }
        tables
    }
}

/// The cache: current tables plus how to rebuild them.
pub struct RoutingCache {
    source: Arc<dyn RoutingSource>,
    tables: ArcSwap<Tables>,
    rebuild: Mutex<()>,
}

impl std::fmt::Debug for RoutingCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutingCache").finish_non_exhaustive()
    }
}

impl RoutingCache {
    /// Loads the first snapshot.
    pub async fn new(source: Arc<dyn RoutingSource>) -> Result<Arc<Self>, String> {
        let tables = Tables::build(source.load().await?);
        Ok(Arc::new(RoutingCache {
            source,
            tables: ArcSwap::from_pointee(tables),
            rebuild: Mutex::new(()),
        }))
    }

    /// The current tables (lock-free).
    pub fn tables(&self) -> Arc<Tables> {
        self.tables.load_full()
    }

    /// Reloads from the source and swaps the tables in.
    pub async fn reload(&self) -> Result<(), String> {
        // Serialized, so a slow older load can never overwrite a newer one.
        let _guard = self.rebuild.lock().await;
        let tables = Tables::build(self.source.load().await?);
        self.tables.store(Arc::new(tables));
        Ok(())
    }
}

#[async_trait]
impl RoutingTables for RoutingCache {
    async fn routing_changed(&self) {
        if let Err(err) = self.reload().await {
            // The old tables keep serving; the next change retries.
            tracing::error!(error = %err, "reloading the routing tables failed");
        }
    }

    fn resolve(&self, host: &str, method: &str, path: &str) -> Resolution {
        self.tables().resolve(host, method, path)
    }
}
