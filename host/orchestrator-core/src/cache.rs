//! The orchestrator's routing cache: lookup tables built from a
//! [`RoutingSnapshot`], swapped atomically when the manager reports a change.
//! Requests never touch the database.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use compact_str::CompactString;
use shared::domain::{DomainPattern, normalize_host};
use shared::{
    AppId, AppRouting, Limits, Miss, ModuleSource, RouteMatch, RoutingSnapshot, RoutingSource,
    RoutingTables, ScriptEntry, ScriptId,
};
use tokio::sync::Mutex;

use crate::domains::AppDomainTable;
use crate::routes::{PathMatch, RouteMiss, RouteTable};

/// One app as dispatch sees it: its settings and its routes, host-scoped
/// tables (most specific host first) before the table for routes without a
/// host. Keeping both in one entry makes a request one map lookup per app.
#[derive(Debug)]
pub struct AppTable {
    /// The app.
    pub id: AppId,
    /// Its current slug (inline when short: no pointer to follow per request).
    pub slug: CompactString,
    /// Limits for its executions.
    pub limits: Limits,
    /// Its CORS policy, if it has one.
    pub cors: Option<Arc<shared::CorsPolicy>>,
    /// Its request rate limit, if it has one.
    pub rate_limit: Option<Arc<shared::RateLimit>>,
    /// Scripts that run before the route's, in order (an empty list costs
    /// a request nothing).
    pub interceptors: Vec<Interceptor>,
    scoped: Vec<(DomainPattern, RouteTable)>,
    any_host: RouteTable,
}

/// An interceptor with everything needed to run it.
#[derive(Debug, Clone)]
pub struct Interceptor {
    /// Paths it guards: those starting with this.
    pub prefix: CompactString,
    /// Its script.
    pub script_id: ScriptId,
    /// The script's name.
    pub name: String,
    /// Its source.
    pub source: Arc<str>,
    /// The version that source is.
    pub version: i64,
    /// The modules it imports.
    pub modules: Arc<[ModuleSource]>,
}

impl AppTable {
    fn new(info: &AppRouting) -> Self {
        AppTable {
            id: info.id,
            slug: info.slug.as_str().into(),
            limits: info.limits,
            cors: info.cors.clone().map(Arc::new),
            rate_limit: info.rate_limit.clone().map(Arc::new),
            interceptors: Vec::new(),
            scoped: Vec::new(),
            any_host: RouteTable::default(),
        }
    }

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

/// A request resolved to a runnable route.
#[derive(Debug)]
pub struct Hit<'a> {
    /// The app.
    pub app: &'a AppTable,
    /// The route, its script's source and the captured parameters.
    pub route: PathMatch<'a>,
    /// `{name}` captures of the app's domain claim.
    pub host_params: Vec<(String, String)>,
}

/// Everything dispatch needs, immutable once built.
#[derive(Debug, Default)]
pub struct Tables {
    /// Host → index into `apps` (an index, not an id: one probe fewer per request).
    pub domains: AppDomainTable<u32>,
    /// Every app with its settings and routes.
    pub apps: Vec<AppTable>,
    /// App id → index into `apps`.
    pub app_index: HashMap<AppId, u32>,
    /// Every script by id (`/api/v1/execute/{id}` reaches unrouted ones too).
    pub scripts: HashMap<ScriptId, ScriptEntry>,
    /// The modules of each script that imports any (its imports,
    /// transitively, from its own app).
    pub modules: HashMap<ScriptId, Arc<[ModuleSource]>>,
}

impl Tables {
    /// The modules `script` is given (none for most scripts).
    pub fn modules_of(&self, script: &ScriptId) -> Arc<[ModuleSource]> {
        self.modules.get(script).cloned().unwrap_or_default()
    }

    /// The script's name, for `invoke` messages.
    pub fn name_of(&self, script: &ScriptId) -> String {
        self.scripts
            .get(script)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }

    /// An app by id.
    pub fn app(&self, id: &AppId) -> Option<&AppTable> {
        self.app_index
            .get(id)
            .and_then(|i| self.apps.get(*i as usize))
    }

    /// Host → app → route, exactly as dispatch does it. `raw_host` is the
    /// `Host` header as sent (port, case and IDN are normalized here). A miss
    /// is the [`Miss`] that explains it.
    pub fn lookup(&self, raw_host: &str, method: &str, path: &str) -> Result<Hit<'_>, Miss> {
        let host = normalize_host(raw_host).map_err(|message| Miss::InvalidHost { message })?;
        let Some(found) = self.domains.resolve(&host) else {
            return Err(Miss::UnknownHost { host });
        };
        let Some(app) = self.apps.get(found.app as usize) else {
            return Err(Miss::UnknownHost { host });
        };
        Self::find_in(app, &host, found.host_params, method, path)
    }

    /// A route of one app for a host no app claims: the default app on an
    /// admin host (ADR 006), where only its routes without a host can match.
    pub fn lookup_in(
        &self,
        app: &AppId,
        raw_host: &str,
        method: &str,
        path: &str,
    ) -> Result<Hit<'_>, Miss> {
        let host = normalize_host(raw_host).map_err(|message| Miss::InvalidHost { message })?;
        let Some(app) = self.app(app) else {
            return Err(Miss::UnknownHost { host });
        };
        Self::find_in(app, &host, Vec::new(), method, path)
    }

    fn find_in<'a>(
        app: &'a AppTable,
        host: &str,
        host_params: Vec<(String, String)>,
        method: &str,
        path: &str,
    ) -> Result<Hit<'a>, Miss> {
        match app.find(host, method, path) {
            Ok(route) => Ok(Hit {
                app,
                route,
                host_params,
            }),
            Err(RouteMiss::NotFound) => Err(Miss::NoRoute {
                app_id: app.id,
                app_slug: app.slug.to_string(),
            }),
            Err(RouteMiss::MethodNotAllowed(allowed)) => Err(Miss::MethodNotAllowed {
                app_id: app.id,
                app_slug: app.slug.to_string(),
                allowed,
            }),
        }
    }

    /// [`Tables::lookup`] with the hit as the shared [`RouteMatch`] (for
    /// `routes:match`).
    pub fn resolve(&self, raw_host: &str, method: &str, path: &str) -> Result<RouteMatch, Miss> {
        self.lookup(raw_host, method, path).map(|hit| RouteMatch {
            app_id: hit.app.id,
            app_slug: hit.app.slug.to_string(),
            route_id: hit.route.route.id,
            route_path: hit.route.route.path.to_string(),
            script_id: hit.route.route.script_id,
            params: hit.route.params,
            host_params: hit.host_params,
        })
    }

    /// Builds the tables from a snapshot. Routes whose script or app is
    /// missing from the snapshot are skipped.
    pub fn build(snapshot: RoutingSnapshot) -> Tables {
        let mut tables = Tables::default();
        for app in snapshot.apps {
            let index = u32::try_from(tables.apps.len()).expect("fewer than 4 billion apps");
            for pattern in &app.domains {
                tables.domains.insert(index, pattern);
            }
            tables.app_index.insert(app.id, index);
            tables.apps.push(AppTable::new(&app));
        }
        for script in snapshot.scripts {
            tables.scripts.insert(script.id, script);
        }
        // Imports resolve by name within the script's own app, never beyond.
        let by_name: HashMap<(AppId, &str), &ScriptEntry> = tables
            .scripts
            .values()
            .map(|s| ((s.app_id, s.name.as_str()), s))
            .collect();
        for script in tables.scripts.values() {
            if script.imports.is_empty() {
                continue;
            }
            let modules = shared::module_closure(&script.imports, |name| {
                by_name.get(&(script.app_id, name)).copied()
            });
            tables.modules.insert(script.id, modules.into());
        }
        drop(by_name);
        for spec in snapshot.interceptors {
            let app = tables
                .app_index
                .get(&spec.app_id)
                .and_then(|i| tables.apps.get_mut(*i as usize));
            let (Some(app), Some(script)) = (app, tables.scripts.get(&spec.script_id)) else {
                continue;
            };
            if script.app_id != spec.app_id {
                continue;
            }
            app.interceptors.push(Interceptor {
                prefix: spec.prefix.as_str().into(),
                script_id: script.id,
                name: script.name.clone(),
                source: script.source.clone(),
                version: script.version,
                modules: tables.modules.get(&script.id).cloned().unwrap_or_default(),
            });
        }
        for route in snapshot.routes {
            let app = tables
                .app_index
                .get(&route.app_id)
                .and_then(|i| tables.apps.get_mut(*i as usize));
            let (Some(app), Some(script)) = (app, tables.scripts.get(&route.script_id)) else {
                continue;
            };
            let (source, version) = (script.source.clone(), script.version);
            match route.host.as_deref().map(DomainPattern::parse) {
                None => app.any_host.insert(route, source, version),
                Some(Ok(pattern)) => match app.scoped.iter_mut().find(|(p, _)| *p == pattern) {
                    Some((_, table)) => table.insert(route, source, version),
                    None => {
                        let mut table = RouteTable::default();
                        table.insert(route, source, version);
                        app.scoped.push((pattern, table));
                    }
                },
                Some(Err(_)) => {
                    tracing::warn!(route = %route.id, "skipping a route whose host does not parse")
                }
            }
        }
        for app in &mut tables.apps {
            app.scoped.sort_by(|(a, _), (b, _)| a.specificity_cmp(b));
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

    fn resolve(&self, host: &str, method: &str, path: &str) -> Result<RouteMatch, Miss> {
        self.tables().resolve(host, method, path)
    }
}
