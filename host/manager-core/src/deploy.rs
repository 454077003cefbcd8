//! A manifest deploy: what `picloud.toml` asks for, checked against the
//! server, as a [`Plan`] of changes, and applied in one transaction.
//!
//! Every problem is collected before anything is written (a script that does
//! not compile, a route conflict, a domain another app holds, a bad cron
//! expression…), so a refused deploy lists them all and changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use shared::domain::DomainPattern;
use toml::Spanned;

use crate::manifest::{self, Locator, Manifest, Problem};
use crate::store::{
    App, CronTrigger, Interceptor, MAX_ALLOW_ENTRIES, MAX_INTERCEPTORS_PER_APP,
    MAX_TRIGGERS_PER_APP, NewRoute, Route, Script, ScriptChange, Variable,
};
use crate::{Error, ErrorCode, Manager, Result, Schedule};

/// What a deploy uploads: the manifest's text and the files it names.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// The text of `picloud.toml`.
    pub manifest: String,
    /// Each script file the manifest names, by its path as written there.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// Also delete what the manifest no longer names (otherwise it is
    /// listed as kept).
    #[serde(default)]
    pub prune: bool,
    /// Recorded with every script version the deploy makes.
    pub message: Option<String>,
}

/// One change of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Change {
    /// `create`, `update`, `delete`, or `keep` (not in the manifest, and
    /// left alone without `prune`).
    pub action: &'static str,
    /// `app`, `domain`, `script`, `route`, `cron`, `queue`, `email`,
    /// `interceptor`, `variable`, `secret`, `http_allow`, `limits`, `cors`,
    /// `rate_limit` or `users`.
    pub kind: &'static str,
    /// Which one: a name, a pattern, `GET /path`, `script @ schedule`.
    pub name: String,
    /// What changes, e.g. `+3 -1 lines`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The answer of `manifest:plan` and `manifest:apply`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Plan {
    /// The app's slug.
    pub app: String,
    /// Every change, creates and updates before deletes of each kind;
    /// `keep` entries last.
    pub changes: Vec<Change>,
    /// Secrets the manifest names that the app does not have yet: its
    /// scripts get `()` from `env::get` until they are set.
    pub missing_secrets: Vec<String>,
    /// Nothing to create, update or delete.
    pub unchanged: bool,
    /// Whether the changes were made (`manifest:apply`).
    pub applied: bool,
    #[serde(skip)]
    pub(crate) ops: Vec<Op>,
    /// The app's id when it exists already (read once, by the plan).
    #[serde(skip)]
    pub(crate) app_id: Option<shared::AppId>,
}

/// One write of an apply, in order.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    CreateApp {
        slug: String,
    },
    SetApp {
        name: String,
        description: String,
        limits: Option<serde_json::Value>,
        cors: Option<shared::CorsPolicy>,
        rate_limit: Option<shared::RateLimit>,
        users: Option<crate::app_users::UsersSettings>,
    },
    AddDomain {
        pattern: String,
        shape: String,
    },
    DeleteDomain {
        id: String,
    },
    CreateScript {
        name: String,
        description: String,
        source: String,
        imports: Vec<String>,
    },
    UpdateScript {
        name: String,
        description: String,
        source: Option<String>,
        imports: Vec<String>,
    },
    DeleteScript {
        name: String,
    },
    PutRoute {
        existing: Option<shared::RouteId>,
        script: String,
        route: NewRoute,
    },
    DeleteRoute {
        id: shared::RouteId,
    },
    CreateCron {
        script: String,
        schedule: String,
        timezone: String,
        enabled: bool,
    },
    SetCronEnabled {
        id: String,
        schedule: String,
        timezone: String,
        enabled: bool,
    },
    DeleteCron {
        id: String,
    },
    /// A queue or email trigger (an email trigger's queue is `email:<local>`).
    CreateQueueTrigger {
        script: String,
        queue: String,
        max_attempts: i64,
        enabled: bool,
    },
    UpdateQueueTrigger {
        id: String,
        script: String,
        max_attempts: i64,
        enabled: bool,
    },
    DeleteQueueTrigger {
        id: String,
    },
    CreateInterceptor {
        script: String,
        prefix: String,
        position: i64,
    },
    MoveInterceptor {
        id: String,
        position: i64,
    },
    DeleteInterceptor {
        id: String,
    },
    SetVariable {
        name: String,
        value: String,
    },
    DeleteVariable {
        name: String,
    },
    AddAllow {
        pattern: String,
    },
    DeleteAllow {
        pattern: String,
    },
}

/// The app as it is on the server now.
pub(crate) struct Current {
    pub(crate) app: Option<App>,
    pub(crate) scripts: Vec<Script>,
    pub(crate) routes: Vec<Route>,
    pub(crate) cron: Vec<CronTrigger>,
    /// Queue and email triggers.
    pub(crate) queue_triggers: Vec<crate::store::QueueTrigger>,
    pub(crate) interceptors: Vec<Interceptor>,
    pub(crate) variables: Vec<Variable>,
    pub(crate) http_allow: Vec<String>,
    /// Each script's imports, by name.
    pub(crate) imports: BTreeMap<String, Vec<String>>,
}

impl Current {
    pub(crate) async fn load(m: &Manager, app: Option<App>) -> Result<Current> {
        let Some(app) = app else {
            return Ok(Current {
                app: None,
                scripts: Vec::new(),
                routes: Vec::new(),
                cron: Vec::new(),
                queue_triggers: Vec::new(),
                interceptors: Vec::new(),
                variables: Vec::new(),
                http_allow: Vec::new(),
                imports: BTreeMap::new(),
            });
        };
        let all = crate::store::Page::all();
        Ok(Current {
            scripts: m.store.list_scripts(Some(app.id), &all).await?,
            routes: m.store.list_app_routes(app.id, &all).await?,
            cron: m.store.list_triggers(app.id).await?,
            queue_triggers: m.store.list_queue_triggers(app.id).await?,
            interceptors: m.store.list_interceptors(app.id).await?,
            imports: m.store.import_graph(app.id).await?.into_iter().collect(),
            variables: m.store.list_variables(app.id).await?,
            http_allow: m
                .store
                .http_allow_list(app.id)
                .await?
                .into_iter()
                .map(|e| e.pattern)
                .collect(),
            app: Some(app),
        })
    }
}

/// The app `slug` names, if it exists. A former slug is refused: a deploy
/// under it would otherwise create a second app next to the renamed one.
pub(crate) async fn find_app(m: &Manager, slug: &str) -> Result<Option<App>> {
    match m.store.resolve_app(slug).await {
        Ok(crate::store::AppRef::Found(app)) => Ok(Some(*app)),
        Ok(crate::store::AppRef::Renamed { current_slug }) => Err(Error::bad_request(
            ErrorCode::AppRenamed,
            format!(
                "app '{slug}' was renamed to '{current_slug}'; deploy with --app {current_slug}"
            ),
        )),
        Err(err) if err.code() == ErrorCode::NotFound => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// Checks `request` against the server and works out the changes that
/// deploying it as `slug` makes. Every problem found is returned at once,
/// as [`Error::Manifest`].
pub(crate) async fn plan(m: &Manager, slug: &str, request: &DeployRequest) -> Result<Plan> {
    crate::store::check_message(request.message.as_deref())?;
    let manifest = manifest::parse(&request.manifest)
        .map_err(|problem| Error::Manifest(vec![problem]))?
        .for_target(slug);
    let current = Current::load(m, find_app(m, slug).await?).await?;
    let mut check = Checker {
        m,
        at: Locator::new(&request.manifest),
        problems: Vec::new(),
    };
    let desired = check.desired(slug, &manifest, request, &current).await?;
    if !check.problems.is_empty() {
        return Err(Error::Manifest(check.problems));
    }
    Ok(diff(slug, &current, desired, request.prune))
}

/// The app as the manifest wants it, every part checked.
struct Desired {
    name: String,
    description: String,
    limits: Option<serde_json::Value>,
    cors: Option<shared::CorsPolicy>,
    rate_limit: Option<shared::RateLimit>,
    users: Option<crate::app_users::UsersSettings>,
    /// Canonical pattern → shape key.
    domains: BTreeMap<String, String>,
    http_allow: BTreeSet<String>,
    variables: BTreeMap<String, String>,
    secrets: BTreeSet<String>,
    /// Name → (description, source, imports).
    scripts: BTreeMap<String, (String, String, Vec<String>)>,
    /// Key (method, host, shape) → (route, script name).
    routes: BTreeMap<(String, String, String), (NewRoute, String)>,
    /// (script, schedule, timezone) → enabled.
    cron: BTreeMap<(String, String, String), bool>,
    /// Queue (an email trigger's: `email:<local>`) → (script, max
    /// attempts, enabled).
    queues: BTreeMap<String, (String, i64, bool)>,
    /// (script, normalized prefix), in run order.
    interceptors: Vec<(String, String)>,
}

struct Checker<'a> {
    m: &'a Manager,
    at: Locator<'a>,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn report(&mut self, span: Option<std::ops::Range<usize>>, key: String, err: impl Into<Error>) {
        let err = err.into();
        let problem = self
            .at
            .problem(span, key, err.code().as_str(), err.to_string());
        self.problems.push(problem);
    }

    fn duplicate(&mut self, span: Option<std::ops::Range<usize>>, key: String, what: &str) {
        let problem = self.at.problem(
            span,
            key,
            "invalid_manifest",
            format!("{what} is listed twice"),
        );
        self.problems.push(problem);
    }

    async fn desired(
        &mut self,
        slug: &str,
        manifest: &Manifest,
        request: &DeployRequest,
        current: &Current,
    ) -> Result<Desired> {
        let m = self.m;
        if current.app.is_none()
            && let Err(err) = crate::store::validate_slug(slug)
        {
            self.report(None, "slug".into(), err);
        }
        if manifest.name.trim().is_empty() {
            self.report(
                None,
                "name".into(),
                Error::bad_request(ErrorCode::InvalidName, "the app name must not be empty"),
            );
        }
        let app_id = current.app.as_ref().map(|a| a.id);
        let domains = self.domains(&manifest.domains, app_id).await?;
        let http_allow = self.http_allow(&manifest.http_allow);
        let (variables, secrets) = self.variables(manifest, current);
        let limits = manifest.limits.to_stored();
        if let Err(err) = m.store.validate_app_update(None, Some(&limits)) {
            self.report(None, "limits".into(), err);
        }
        if let Some(cors) = &manifest.cors
            && let Err(message) = cors.validate()
        {
            self.report(
                None,
                "cors".into(),
                Error::bad_request(ErrorCode::InvalidCors, message),
            );
        }
        if let Some(rate) = &manifest.rate_limit
            && let Err(message) = rate.validate()
        {
            self.report(
                None,
                "rate_limit".into(),
                Error::bad_request(ErrorCode::InvalidRateLimit, message),
            );
        }
        if let Some(users) = &manifest.users
            && let Err(message) = users.validate()
        {
            self.report(
                None,
                "users".into(),
                Error::bad_request(ErrorCode::InvalidUsers, message),
            );
        }
        let scripts = self.scripts(manifest, request, current).await?;
        let routes = self.routes(manifest, &domains, current, slug).await?;
        let cron = self.cron(manifest);
        let queues = self.queue_triggers(manifest);
        let interceptors = self.interceptors(manifest);
        Ok(Desired {
            name: manifest.name.trim().to_owned(),
            description: manifest.description.clone(),
            limits,
            cors: manifest.cors.clone(),
            rate_limit: manifest.rate_limit.clone(),
            // The defaults are stored as none at all, as the admin API's
            // `"users": null` leaves them.
            users: manifest
                .users
                .clone()
                .filter(|u| *u != crate::app_users::UsersSettings::default()),
            domains,
            http_allow,
            variables,
            secrets,
            scripts,
            routes,
            cron,
            queues,
            interceptors,
        })
    }

    async fn domains(
        &mut self,
        entries: &[Spanned<String>],
        app_id: Option<shared::AppId>,
    ) -> Result<BTreeMap<String, String>> {
        let claims = self.m.store.all_claims().await?;
        let mut domains = BTreeMap::new();
        let mut shapes = BTreeSet::new();
        for (i, entry) in entries.iter().enumerate() {
            let key = format!("domains[{i}]");
            let span = Some(entry.span());
            let pattern = match DomainPattern::parse(entry.get_ref()) {
                Ok(pattern) => pattern,
                Err(message) => {
                    self.report(
                        span,
                        key,
                        Error::bad_request(ErrorCode::InvalidDomain, message),
                    );
                    continue;
                }
            };
            let shape = pattern.shape_key();
            if !shapes.insert(shape.clone()) {
                self.duplicate(span, key, &format!("domain '{pattern}'"));
                continue;
            }
            if let Some(host) = self.m.config.admin_hosts.claimed_by(&pattern) {
                let message = format!(
                    "'{host}' is an admin host of this server (PICLOUD_ADMIN_HOSTS): no app may claim it"
                );
                self.report(span, key, Error::conflict(ErrorCode::HostReserved, message));
                continue;
            }
            if let Some(other) = claims
                .iter()
                .find(|c| Some(c.app_id) != app_id && c.pattern.shape_key() == shape)
            {
                let message = format!(
                    "'{pattern}' collides with the claim '{}' of app '{}'",
                    other.pattern, other.app_slug
                );
                self.report(span, key, Error::conflict(ErrorCode::DomainTaken, message));
                continue;
            }
            let claimed_already = claims
                .iter()
                .any(|c| Some(c.app_id) == app_id && c.pattern.shape_key() == shape);
            if !claimed_already {
                // A new app's id matches no route: every app's routes count.
                let taken = self
                    .m
                    .store
                    .routes_taken_over_by(app_id.unwrap_or_default(), &pattern)
                    .await?;
                if let Some((owner, route)) = taken.first() {
                    let message = format!(
                        "claiming '{pattern}' would leave the route {} {} (host {}) of app '{owner}' unreachable",
                        route.method,
                        route.path,
                        route.host.as_deref().unwrap_or("")
                    );
                    self.report(
                        span,
                        key,
                        Error::conflict(ErrorCode::DomainShadowsRoutes, message),
                    );
                    continue;
                }
            }
            domains.insert(pattern.to_string(), shape);
        }
        Ok(domains)
    }

    fn http_allow(&mut self, entries: &[Spanned<String>]) -> BTreeSet<String> {
        let mut allow = BTreeSet::new();
        for (i, entry) in entries.iter().enumerate() {
            let key = format!("http_allow[{i}]");
            match crate::store::parse_allow_pattern(entry.get_ref()) {
                Ok(pattern) => {
                    if !allow.insert(pattern.to_string()) {
                        self.duplicate(Some(entry.span()), key, &format!("'{pattern}'"));
                    }
                }
                Err(err) => self.report(Some(entry.span()), key, err),
            }
        }
        if allow.len() > usize::try_from(MAX_ALLOW_ENTRIES).unwrap_or(usize::MAX) {
            self.report(
                None,
                "http_allow".into(),
                Error::bad_request(
                    ErrorCode::QuotaExceeded,
                    format!("the allow-list may hold at most {MAX_ALLOW_ENTRIES} entries"),
                ),
            );
        }
        allow
    }

    fn variables(
        &mut self,
        manifest: &Manifest,
        current: &Current,
    ) -> (BTreeMap<String, String>, BTreeSet<String>) {
        let mut secrets = BTreeSet::new();
        for (i, entry) in manifest.secrets.iter().enumerate() {
            let key = format!("secrets[{i}]");
            let name = entry.get_ref();
            if let Err(err) = crate::store::validate_variable_name(name) {
                self.report(Some(entry.span()), key, err);
            } else if !secrets.insert(name.clone()) {
                self.duplicate(Some(entry.span()), key, &format!("secret '{name}'"));
            }
        }
        for (spanned, value) in &manifest.variables {
            let name = spanned.get_ref();
            let span = Some(spanned.span());
            let key = format!("variables.{name}");
            if let Err(err) = crate::store::validate_variable_name(name)
                .and_then(|()| crate::store::validate_variable_value(value))
            {
                self.report(span.clone(), key, err);
            } else if secrets.contains(name) {
                let message = format!("'{name}' is listed both as a variable and as a secret");
                self.report(
                    span.clone(),
                    key,
                    Error::bad_request(ErrorCode::InvalidName, message),
                );
            } else if current
                .variables
                .iter()
                .any(|v| v.secret && v.name == *name)
            {
                let message = format!(
                    "'{name}' is a secret on the server; list it under `secrets` (its value stays on the server) or delete the secret first"
                );
                self.report(
                    span.clone(),
                    key,
                    Error::conflict(ErrorCode::WrongType, message),
                );
            }
        }
        let variables = manifest
            .variables
            .iter()
            .map(|(name, value)| (name.get_ref().clone(), value.clone()))
            .collect();
        (variables, secrets)
    }

    async fn scripts(
        &mut self,
        manifest: &Manifest,
        request: &DeployRequest,
        current: &Current,
    ) -> Result<BTreeMap<String, (String, String, Vec<String>)>> {
        let mut scripts = BTreeMap::new();
        // Each script's `import` statements, checked once all are known.
        let mut found: Vec<(usize, String, String, Vec<shared::ImportRef>)> = Vec::new();
        for (i, entry) in manifest.scripts.iter().enumerate() {
            let name = entry.name.get_ref();
            if let Err(err) = crate::store::validate_script_name(name) {
                self.report(Some(entry.name.span()), format!("scripts[{i}].name"), err);
                continue;
            }
            if scripts.contains_key(name) {
                self.duplicate(
                    Some(entry.name.span()),
                    format!("scripts[{i}].name"),
                    &format!("script '{name}'"),
                );
                continue;
            }
            let file = entry.file.get_ref();
            let Some(source) = request.files.get(file) else {
                let message = format!(
                    "the file '{file}' of script '{name}' was not uploaded (is it in the folder?)"
                );
                self.report(
                    Some(entry.file.span()),
                    format!("scripts[{i}].file"),
                    Error::bad_request(ErrorCode::InvalidManifest, message),
                );
                continue;
            };
            if let Err(err) = crate::store::validate_source(source) {
                self.report(Some(entry.file.span()), format!("scripts[{i}].file"), err);
                continue;
            }
            // Compiled even when unchanged: its imports are checked against
            // the app as the deploy leaves it.
            match self.m.compile(source).await {
                Ok(imports) => found.push((i, name.clone(), file.clone(), imports)),
                Err(Error::Compile(failure)) => {
                    self.compile_problem(file, i, failure);
                    continue;
                }
                Err(other) => return Err(other),
            }
            scripts.insert(
                name.clone(),
                (entry.description.clone(), source.clone(), Vec::new()),
            );
        }
        // The app as it will be: the manifest's scripts, and the others it
        // keeps (all of them without `prune`).
        let mut graph: BTreeMap<String, Vec<String>> = if request.prune {
            BTreeMap::new()
        } else {
            current.imports.clone()
        };
        for (_, name, _, imports) in &found {
            graph.insert(
                name.clone(),
                imports.iter().map(|r| r.name.clone()).collect(),
            );
        }
        for (i, name, file, imports) in found {
            match crate::modules::check_imports(&name, &imports, |module| {
                graph.get(module).cloned()
            }) {
                Ok(names) => {
                    if let Some(entry) = scripts.get_mut(&name) {
                        entry.2 = names;
                    }
                }
                Err(failure) => self.compile_problem(&file, i, failure),
            }
        }
        Ok(scripts)
    }

    fn compile_problem(&mut self, file: &str, i: usize, failure: shared::ScriptFailure) {
        self.problems.push(Problem {
            file: file.to_owned(),
            line: failure.position.map(|p| p.line),
            column: failure.position.map(|p| p.column),
            key: Some(format!("scripts[{i}]")),
            code: ErrorCode::CompileError.as_str().to_owned(),
            message: failure.message,
        });
    }

    /// `[[interceptors]]`: each names one of the manifest's scripts; the
    /// order in the file is the run order.
    fn interceptors(&mut self, manifest: &Manifest) -> Vec<(String, String)> {
        let names: BTreeSet<&str> = manifest
            .scripts
            .iter()
            .map(|s| s.name.get_ref().as_str())
            .collect();
        let mut interceptors: Vec<(String, String)> = Vec::new();
        for (i, entry) in manifest.interceptors.iter().enumerate() {
            let span = Some(entry.span());
            let key = format!("interceptors[{i}]");
            let interceptor = entry.get_ref();
            if !names.contains(interceptor.script.as_str()) {
                let message = format!(
                    "script '{}' is not one of the manifest's scripts",
                    interceptor.script
                );
                self.report(
                    span,
                    format!("{key}.script"),
                    Error::bad_request(ErrorCode::InvalidScript, message),
                );
                continue;
            }
            let prefix = match crate::store::normalize_prefix(interceptor.prefix.as_deref()) {
                Ok(prefix) => prefix,
                Err(err) => {
                    self.report(span, format!("{key}.prefix"), err);
                    continue;
                }
            };
            let id = (interceptor.script.clone(), prefix);
            if interceptors.contains(&id) {
                self.duplicate(
                    span,
                    key,
                    &format!("the interceptor '{}' for '{}'", id.0, id.1),
                );
                continue;
            }
            interceptors.push(id);
        }
        if interceptors.len() > usize::try_from(MAX_INTERCEPTORS_PER_APP).unwrap_or(usize::MAX) {
            self.report(
                None,
                "interceptors".into(),
                Error::bad_request(
                    ErrorCode::QuotaExceeded,
                    format!("an app may have at most {MAX_INTERCEPTORS_PER_APP} interceptors"),
                ),
            );
        }
        interceptors
    }

    async fn routes(
        &mut self,
        manifest: &Manifest,
        domains: &BTreeMap<String, String>,
        current: &Current,
        slug: &str,
    ) -> Result<BTreeMap<(String, String, String), (NewRoute, String)>> {
        // The app as it will be: the manifest's claims decide which hosts a
        // route may be scoped to.
        let own: Vec<DomainPattern> = domains
            .keys()
            .filter_map(|d| DomainPattern::parse(d).ok())
            .collect();
        let target = App {
            slug: slug.to_owned(),
            domains: domains
                .keys()
                .map(|pattern| crate::store::Domain {
                    id: String::new(),
                    pattern: pattern.clone(),
                    shape_key: String::new(),
                    created_at: String::new(),
                })
                .collect(),
            ..placeholder_app(current.app.as_ref())
        };
        let claims = self.m.store.all_claims().await?;
        let names: BTreeSet<&str> = manifest
            .scripts
            .iter()
            .map(|s| s.name.get_ref().as_str())
            .collect();
        let mut routes = BTreeMap::new();
        for (i, entry) in manifest.routes.iter().enumerate() {
            let span = Some(entry.span());
            let key = format!("routes[{i}]");
            let route = entry.get_ref();
            if !names.contains(route.script.as_str()) {
                let message = format!(
                    "script '{}' is not one of the manifest's scripts",
                    route.script
                );
                self.report(
                    span,
                    format!("{key}.script"),
                    Error::bad_request(ErrorCode::InvalidScript, message),
                );
                continue;
            }
            let new = match self.m.store.validate_route(
                &target,
                &route.method,
                &route.path,
                route.host.as_deref(),
            ) {
                Ok(new) => new,
                Err(err) => {
                    self.report(span, key, err);
                    continue;
                }
            };
            if let Some(host) = new.host_pattern()
                && let Some(other) = claims.iter().find(|c| {
                    Some(c.app_id) != current.app.as_ref().map(|a| a.id)
                        && shared::domain::takes_over(&host, &own, &c.pattern)
                })
            {
                let message = format!(
                    "requests for host '{host}' go to app '{}' (its claim '{}' is more specific), so this route would never be reached",
                    other.app_slug, other.pattern
                );
                self.report(
                    span,
                    key,
                    Error::conflict(ErrorCode::HostClaimedByOtherApp, message),
                );
                continue;
            }
            let route_key = (new.method.clone(), new.host.clone(), new.shape.clone());
            if let Some((earlier, _)) = routes.get(&route_key) {
                let earlier: &NewRoute = earlier;
                let message = format!(
                    "{} {} collides with {} {} listed before it (same method, host and path shape)",
                    new.method, new.path, earlier.method, earlier.path
                );
                self.report(
                    span,
                    key,
                    Error::conflict(ErrorCode::RouteConflict, message),
                );
                continue;
            }
            routes.insert(route_key, (new, route.script.clone()));
        }
        Ok(routes)
    }

    fn cron(&mut self, manifest: &Manifest) -> BTreeMap<(String, String, String), bool> {
        let mut cron = BTreeMap::new();
        let names: BTreeSet<&str> = manifest
            .scripts
            .iter()
            .map(|s| s.name.get_ref().as_str())
            .collect();
        for (i, entry) in manifest.cron.iter().enumerate() {
            let span = Some(entry.span());
            let key = format!("cron[{i}]");
            let trigger = entry.get_ref();
            if !names.contains(trigger.script.as_str()) {
                let message = format!(
                    "script '{}' is not one of the manifest's scripts",
                    trigger.script
                );
                self.report(
                    span,
                    format!("{key}.script"),
                    Error::bad_request(ErrorCode::InvalidScript, message),
                );
                continue;
            }
            let timezone = trigger
                .timezone
                .as_deref()
                .unwrap_or(crate::DEFAULT_TIMEZONE);
            let schedule = match Schedule::parse(&trigger.schedule, timezone) {
                Ok(schedule) => schedule,
                Err(err) => {
                    self.report(span, format!("{key}.schedule"), err);
                    continue;
                }
            };
            let id = (
                trigger.script.clone(),
                schedule.expression().to_owned(),
                schedule.timezone().to_owned(),
            );
            if cron.insert(id, trigger.enabled).is_some() {
                self.duplicate(
                    span,
                    key,
                    &format!("the trigger '{} {}'", trigger.schedule, trigger.script),
                );
            }
        }
        if cron.len() > usize::try_from(MAX_TRIGGERS_PER_APP).unwrap_or(usize::MAX) {
            self.report(
                None,
                "cron".into(),
                Error::bad_request(
                    ErrorCode::QuotaExceeded,
                    format!("an app may have at most {MAX_TRIGGERS_PER_APP} cron triggers"),
                ),
            );
        }
        cron
    }
}

impl Checker<'_> {
    /// `[[queue]]` and `[[email]]`: one trigger per queue or address, each
    /// running one of the manifest's scripts.
    fn queue_triggers(&mut self, manifest: &Manifest) -> BTreeMap<String, (String, i64, bool)> {
        use crate::manifest::{EmailEntry, QueueEntry};
        let names: BTreeSet<&str> = manifest
            .scripts
            .iter()
            .map(|s| s.name.get_ref().as_str())
            .collect();
        let entries = manifest
            .queue
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let QueueEntry {
                    script,
                    queue,
                    max_attempts,
                    enabled,
                } = e.get_ref();
                let queue = crate::store::validate_queue_name(queue).map(|()| queue.clone());
                (
                    format!("queue[{i}]"),
                    "queue",
                    e.span(),
                    script,
                    queue,
                    *max_attempts,
                    *enabled,
                )
            })
            .chain(manifest.email.iter().enumerate().map(|(i, e)| {
                let EmailEntry {
                    script,
                    email,
                    max_attempts,
                    enabled,
                } = e.get_ref();
                (
                    format!("email[{i}]"),
                    "email",
                    e.span(),
                    script,
                    crate::store::email_queue(email),
                    *max_attempts,
                    *enabled,
                )
            }))
            .collect::<Vec<_>>();
        let mut queues = BTreeMap::new();
        for (key, field, span, script, queue, max_attempts, enabled) in entries {
            let span = Some(span);
            if !names.contains(script.as_str()) {
                let message = format!("script '{script}' is not one of the manifest's scripts");
                self.report(
                    span,
                    format!("{key}.script"),
                    Error::bad_request(ErrorCode::InvalidScript, message),
                );
                continue;
            }
            let queue = match queue {
                Ok(queue) => queue,
                Err(err) => {
                    self.report(span, format!("{key}.{field}"), err);
                    continue;
                }
            };
            let max_attempts = max_attempts.unwrap_or(crate::store::DEFAULT_MAX_ATTEMPTS);
            if !(1..=crate::store::MAX_ATTEMPTS).contains(&max_attempts) {
                self.report(
                    span,
                    format!("{key}.max_attempts"),
                    Error::bad_request(
                        ErrorCode::InvalidTrigger,
                        format!(
                            "max_attempts {max_attempts} is out of range: use 1 to {}",
                            crate::store::MAX_ATTEMPTS
                        ),
                    ),
                );
                continue;
            }
            let what = match queue.strip_prefix(crate::store::EMAIL_QUEUE_PREFIX) {
                Some(local) => format!("the email trigger for '{local}'"),
                None => format!("the trigger of queue '{queue}'"),
            };
            if queues
                .insert(queue, (script.clone(), max_attempts, enabled))
                .is_some()
            {
                self.duplicate(span, key, &what);
            }
        }
        if queues.len()
            > usize::try_from(crate::store::MAX_QUEUE_TRIGGERS_PER_APP).unwrap_or(usize::MAX)
        {
            self.report(
                None,
                "queue".into(),
                Error::bad_request(
                    ErrorCode::QuotaExceeded,
                    format!(
                        "an app may have at most {} queue and email triggers",
                        crate::store::MAX_QUEUE_TRIGGERS_PER_APP
                    ),
                ),
            );
        }
        queues
    }
}

/// How a plan names a queue or email trigger: (kind, name).
fn queue_trigger_name(queue: &str, script: &str) -> (&'static str, String) {
    match queue.strip_prefix(crate::store::EMAIL_QUEUE_PREFIX) {
        Some(local) => ("email", format!("{local}@ → {script}")),
        None => ("queue", format!("{queue} → {script}")),
    }
}

/// An [`App`] to hold the manifest's claims while its routes are checked.
fn placeholder_app(current: Option<&App>) -> App {
    current.cloned().unwrap_or_else(|| App {
        id: shared::AppId::new(),
        slug: String::new(),
        name: String::new(),
        description: String::new(),
        limits: None,
        cors: None,
        rate_limit: None,
        users: None,
        domains: Vec::new(),
        created_at: String::new(),
        updated_at: String::new(),
        role: None,
    })
}

fn change(action: &'static str, kind: &'static str, name: impl Into<String>) -> Change {
    Change {
        action,
        kind,
        name: name.into(),
        detail: None,
    }
}

fn with_detail(mut change: Change, detail: impl Into<String>) -> Change {
    change.detail = Some(detail.into());
    change
}

fn route_name(method: &str, host: &str, path: &str) -> String {
    if host.is_empty() {
        format!("{method} {path}")
    } else {
        format!("{method} {host}{path}")
    }
}

const KEPT: &str = "not in the manifest; --prune deletes it";

/// The changes from `current` to `desired`, in the order they are applied.
#[allow(clippy::too_many_lines)] // one pass over each kind, in apply order
fn diff(slug: &str, current: &Current, desired: Desired, prune: bool) -> Plan {
    let mut ops = Vec::new();
    let mut changes = Vec::new();
    let mut kept = Vec::new();
    let app = current.app.as_ref();
    if app.is_none() {
        ops.push(Op::CreateApp {
            slug: slug.to_owned(),
        });
        changes.push(change("create", "app", slug));
    }
    // The app's own settings.
    let settings_differ = app.is_none_or(|a| {
        a.name != desired.name
            || a.description != desired.description
            || a.limits != desired.limits
            || a.cors != desired.cors
            || a.rate_limit != desired.rate_limit
            || a.users != desired.users
    });
    if settings_differ {
        if let Some(a) = app {
            if a.name != desired.name || a.description != desired.description {
                changes.push(with_detail(
                    change("update", "app", slug),
                    "name or description",
                ));
            }
            for (kind, differs) in [
                ("limits", a.limits != desired.limits),
                ("cors", a.cors != desired.cors),
                ("rate_limit", a.rate_limit != desired.rate_limit),
                ("users", a.users != desired.users),
            ] {
                if differs {
                    changes.push(change("update", kind, slug));
                }
            }
        }
        ops.push(Op::SetApp {
            name: desired.name.clone(),
            description: desired.description.clone(),
            limits: desired.limits.clone(),
            cors: desired.cors.clone(),
            rate_limit: desired.rate_limit.clone(),
            users: desired.users.clone(),
        });
    }
    // Claims first: routes scoped to a new host need them.
    let existing_domains: Vec<&crate::store::Domain> =
        app.map(|a| a.domains.iter().collect()).unwrap_or_default();
    for (pattern, shape) in &desired.domains {
        if !existing_domains.iter().any(|d| d.shape_key == *shape) {
            ops.push(Op::AddDomain {
                pattern: pattern.clone(),
                shape: shape.clone(),
            });
            changes.push(change("create", "domain", pattern));
        }
    }
    // Scripts.
    for (name, (description, source, imports)) in &desired.scripts {
        match current.scripts.iter().find(|s| s.name == *name) {
            None => {
                ops.push(Op::CreateScript {
                    name: name.clone(),
                    description: description.clone(),
                    source: source.clone(),
                    imports: imports.clone(),
                });
                let lines = source.lines().count();
                changes.push(with_detail(
                    change("create", "script", name),
                    format!("{lines} line{}", if lines == 1 { "" } else { "s" }),
                ));
            }
            Some(existing)
                if existing.source != *source || existing.description != *description =>
            {
                let new_source = (existing.source != *source).then(|| source.clone());
                let detail = match &new_source {
                    Some(source) => {
                        let (added, removed) = manifest::diff_lines(&existing.source, source);
                        format!("+{added} -{removed} lines")
                    }
                    None => "description".to_owned(),
                };
                ops.push(Op::UpdateScript {
                    name: name.clone(),
                    description: description.clone(),
                    source: new_source,
                    imports: imports.clone(),
                });
                changes.push(with_detail(change("update", "script", name), detail));
            }
            Some(_) => {}
        }
    }
    let script_name = |id: shared::ScriptId| {
        current
            .scripts
            .iter()
            .find(|s| s.id == id)
            .map_or_else(String::new, |s| s.name.clone())
    };
    let pruned_script =
        |id: shared::ScriptId| prune && !desired.scripts.contains_key(&script_name(id));
    // Routes: matched by method, host and path shape.
    let mut matched = BTreeSet::new();
    for ((method, host, shape), (route, script)) in &desired.routes {
        let existing = current.routes.iter().find(|r| {
            r.method == *method
                && r.host.as_deref().unwrap_or("") == host
                && crate::store::path_shape(&r.path) == *shape
        });
        let name = route_name(method, host, &route.path);
        match existing {
            None => {
                ops.push(Op::PutRoute {
                    existing: None,
                    script: script.clone(),
                    route: route.clone(),
                });
                changes.push(with_detail(
                    change("create", "route", name),
                    format!("→ {script}"),
                ));
            }
            Some(r) => {
                matched.insert(r.id);
                if r.path != route.path || script_name(r.script_id) != *script {
                    ops.push(Op::PutRoute {
                        existing: Some(r.id),
                        script: script.clone(),
                        route: route.clone(),
                    });
                    changes.push(with_detail(
                        change("update", "route", name),
                        format!("→ {script}"),
                    ));
                }
            }
        }
    }
    let mut route_deletes = Vec::new();
    for r in current.routes.iter().filter(|r| !matched.contains(&r.id)) {
        let name = route_name(&r.method, r.host.as_deref().unwrap_or(""), &r.path);
        if prune {
            route_deletes.push(Op::DeleteRoute { id: r.id });
            changes.push(change("delete", "route", name));
        } else {
            kept.push(with_detail(change("keep", "route", name), KEPT));
        }
    }
    // Deleting first frees a shape a changed route may take.
    let first_route = ops
        .iter()
        .position(|op| matches!(op, Op::PutRoute { .. }))
        .unwrap_or(ops.len());
    ops.splice(first_route..first_route, route_deletes);
    // Cron triggers: matched by script, schedule and time zone.
    let mut matched = BTreeSet::new();
    for ((script, schedule, timezone), enabled) in &desired.cron {
        let name = format!("{script} @ {schedule} ({timezone})");
        match current.cron.iter().find(|t| {
            t.script_name == *script && t.schedule == *schedule && t.timezone == *timezone
        }) {
            None => {
                ops.push(Op::CreateCron {
                    script: script.clone(),
                    schedule: schedule.clone(),
                    timezone: timezone.clone(),
                    enabled: *enabled,
                });
                changes.push(change("create", "cron", name));
            }
            Some(t) => {
                matched.insert(t.id.clone());
                if t.enabled != *enabled {
                    ops.push(Op::SetCronEnabled {
                        id: t.id.clone(),
                        schedule: schedule.clone(),
                        timezone: timezone.clone(),
                        enabled: *enabled,
                    });
                    let detail = if *enabled { "resume" } else { "pause" };
                    changes.push(with_detail(change("update", "cron", name), detail));
                }
            }
        }
    }
    for t in current.cron.iter().filter(|t| !matched.contains(&t.id)) {
        let name = format!("{} @ {} ({})", t.script_name, t.schedule, t.timezone);
        if prune {
            ops.push(Op::DeleteCron { id: t.id.clone() });
            changes.push(change("delete", "cron", name));
        } else if !pruned_script(t.script_id) {
            kept.push(with_detail(change("keep", "cron", name), KEPT));
        }
    }
    // Queue and email triggers: matched by queue (one trigger each).
    let mut matched = BTreeSet::new();
    for (queue, (script, max_attempts, enabled)) in &desired.queues {
        let (kind, name) = queue_trigger_name(queue, script);
        match current.queue_triggers.iter().find(|t| t.queue == *queue) {
            None => {
                ops.push(Op::CreateQueueTrigger {
                    script: script.clone(),
                    queue: queue.clone(),
                    max_attempts: *max_attempts,
                    enabled: *enabled,
                });
                changes.push(change("create", kind, name));
            }
            Some(t) => {
                matched.insert(t.id.clone());
                if t.script_name != *script
                    || t.max_attempts != *max_attempts
                    || t.enabled != *enabled
                {
                    ops.push(Op::UpdateQueueTrigger {
                        id: t.id.clone(),
                        script: script.clone(),
                        max_attempts: *max_attempts,
                        enabled: *enabled,
                    });
                    changes.push(change("update", kind, name));
                }
            }
        }
    }
    for t in current
        .queue_triggers
        .iter()
        .filter(|t| !matched.contains(&t.id))
    {
        let (kind, name) = queue_trigger_name(&t.queue, &t.script_name);
        if prune {
            ops.push(Op::DeleteQueueTrigger { id: t.id.clone() });
            changes.push(change("delete", kind, name));
        } else if !pruned_script(t.script_id) {
            kept.push(with_detail(change("keep", kind, name), KEPT));
        }
    }
    // Interceptors: matched by script and prefix; the file's order is the
    // run order.
    let mut matched = BTreeSet::new();
    for (position, (script, prefix)) in desired.interceptors.iter().enumerate() {
        let position = i64::try_from(position).unwrap_or(i64::MAX);
        let name = format!("{script} @ {prefix}");
        let existing = current
            .interceptors
            .iter()
            .find(|i| i.script_name == *script && i.prefix == *prefix && !matched.contains(&i.id));
        match existing {
            None => {
                ops.push(Op::CreateInterceptor {
                    script: script.clone(),
                    prefix: prefix.clone(),
                    position,
                });
                changes.push(with_detail(
                    change("create", "interceptor", name),
                    format!("position {position}"),
                ));
            }
            Some(i) => {
                matched.insert(i.id.clone());
                if i.position != position {
                    ops.push(Op::MoveInterceptor {
                        id: i.id.clone(),
                        position,
                    });
                    changes.push(with_detail(
                        change("update", "interceptor", name),
                        format!("position {} → {position}", i.position),
                    ));
                }
            }
        }
    }
    for i in current
        .interceptors
        .iter()
        .filter(|i| !matched.contains(&i.id))
    {
        let name = format!("{} @ {}", i.script_name, i.prefix);
        if prune {
            ops.push(Op::DeleteInterceptor { id: i.id.clone() });
            changes.push(change("delete", "interceptor", name));
        } else {
            kept.push(with_detail(change("keep", "interceptor", name), KEPT));
        }
    }
    // Variables and secrets.
    for (name, value) in &desired.variables {
        match current.variables.iter().find(|v| v.name == *name) {
            Some(v) if v.value.as_deref() == Some(value.as_str()) => {}
            found => {
                ops.push(Op::SetVariable {
                    name: name.clone(),
                    value: value.clone(),
                });
                let action = if found.is_some() { "update" } else { "create" };
                changes.push(change(action, "variable", name));
            }
        }
    }
    let mut missing_secrets = Vec::new();
    for name in &desired.secrets {
        if !current
            .variables
            .iter()
            .any(|v| v.secret && v.name == *name)
        {
            missing_secrets.push(name.clone());
        }
    }
    for v in &current.variables {
        let named = if v.secret {
            desired.secrets.contains(&v.name)
        } else {
            desired.variables.contains_key(&v.name)
        };
        if named {
            continue;
        }
        let kind = if v.secret { "secret" } else { "variable" };
        if prune {
            ops.push(Op::DeleteVariable {
                name: v.name.clone(),
            });
            changes.push(change("delete", kind, &v.name));
        } else {
            kept.push(with_detail(change("keep", kind, &v.name), KEPT));
        }
    }
    // The outbound allow-list.
    for pattern in &desired.http_allow {
        if !current.http_allow.contains(pattern) {
            ops.push(Op::AddAllow {
                pattern: pattern.clone(),
            });
            changes.push(change("create", "http_allow", pattern));
        }
    }
    for pattern in current
        .http_allow
        .iter()
        .filter(|p| !desired.http_allow.contains(*p))
    {
        if prune {
            ops.push(Op::DeleteAllow {
                pattern: pattern.clone(),
            });
            changes.push(change("delete", "http_allow", pattern));
        } else {
            kept.push(with_detail(change("keep", "http_allow", pattern), KEPT));
        }
    }
    // Scripts and claims last: their routes are gone or moved by now.
    for s in current
        .scripts
        .iter()
        .filter(|s| !desired.scripts.contains_key(&s.name))
    {
        if prune {
            ops.push(Op::DeleteScript {
                name: s.name.clone(),
            });
            changes.push(change("delete", "script", &s.name));
        } else {
            kept.push(with_detail(change("keep", "script", &s.name), KEPT));
        }
    }
    for d in existing_domains {
        if !desired.domains.values().any(|shape| *shape == d.shape_key) {
            if prune {
                ops.push(Op::DeleteDomain { id: d.id.clone() });
                changes.push(change("delete", "domain", &d.pattern));
            } else {
                kept.push(with_detail(change("keep", "domain", &d.pattern), KEPT));
            }
        }
    }
    let unchanged = ops.is_empty();
    changes.extend(kept);
    Plan {
        app: slug.to_owned(),
        changes,
        missing_secrets,
        unchanged,
        applied: false,
        ops,
        app_id: current.app.as_ref().map(|a| a.id),
    }
}

/// Applies a checked plan in one transaction, then tells the routing cache.
pub(crate) async fn apply(m: &Manager, mut plan: Plan, change: &ScriptChange) -> Result<Plan> {
    if plan.ops.is_empty() {
        return Ok(plan);
    }
    let app_id = m
        .store
        .apply_manifest(plan.app_id, &plan.ops, change)
        .await?;
    if m.config.versions_keep.is_some() {
        for script in m
            .store
            .list_scripts(Some(app_id), &crate::store::Page::all())
            .await?
        {
            crate::api::prune_versions(m, &script).await;
        }
    }
    m.routing_changed().await;
    // A new or resumed queue trigger may have messages waiting.
    crate::queue_runner::wake();
    plan.applied = true;
    Ok(plan)
}

/// An app as a folder: the canonical `picloud.toml` and its script files
/// (`picloud export`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Export {
    /// The text of `picloud.toml`.
    pub manifest: String,
    /// Each script's source, by its path in the folder.
    pub files: BTreeMap<String, String>,
}

/// Renders `app` as a manifest. Sorted throughout, so exporting an app
/// deployed from an export gives the same bytes.
pub(crate) async fn export(m: &Manager, app: App) -> Result<Export> {
    let current = Current::load(m, Some(app.clone())).await?;
    let name_of = |id: shared::ScriptId| {
        current
            .scripts
            .iter()
            .find(|s| s.id == id)
            .map_or_else(String::new, |s| s.name.clone())
    };
    let plain = |s: &str| Spanned::new(0..0, s.to_owned());
    let mut scripts: Vec<&Script> = current.scripts.iter().collect();
    scripts.sort_by(|a, b| a.name.cmp(&b.name));
    let mut routes: Vec<manifest::RouteEntry> = current
        .routes
        .iter()
        .map(|r| manifest::RouteEntry {
            method: r.method.clone(),
            path: r.path.clone(),
            host: r.host.clone(),
            script: name_of(r.script_id),
        })
        .collect();
    routes.sort_by(|a, b| {
        (&a.path, &a.method, &a.host, &a.script).cmp(&(&b.path, &b.method, &b.host, &b.script))
    });
    let mut cron: Vec<manifest::CronEntry> = current
        .cron
        .iter()
        .map(|t| manifest::CronEntry {
            script: t.script_name.clone(),
            schedule: t.schedule.clone(),
            timezone: (t.timezone != crate::DEFAULT_TIMEZONE).then(|| t.timezone.clone()),
            enabled: t.enabled,
        })
        .collect();
    cron.sort_by(|a, b| {
        (&a.script, &a.schedule, &a.timezone).cmp(&(&b.script, &b.schedule, &b.timezone))
    });
    // Sorted by queue: deploying an export gives the same bytes.
    let mut queue = Vec::new();
    let mut email = Vec::new();
    let mut triggers: Vec<&crate::store::QueueTrigger> = current.queue_triggers.iter().collect();
    triggers.sort_by(|a, b| a.queue.cmp(&b.queue));
    for t in triggers {
        let max_attempts =
            (t.max_attempts != crate::store::DEFAULT_MAX_ATTEMPTS).then_some(t.max_attempts);
        match t.queue.strip_prefix(crate::store::EMAIL_QUEUE_PREFIX) {
            Some(local) => email.push(manifest::EmailEntry {
                script: t.script_name.clone(),
                email: local.to_owned(),
                max_attempts,
                enabled: t.enabled,
            }),
            None => queue.push(manifest::QueueEntry {
                script: t.script_name.clone(),
                queue: t.queue.clone(),
                max_attempts,
                enabled: t.enabled,
            }),
        }
    }
    let mut domains: Vec<&str> = app.domains.iter().map(|d| d.pattern.as_str()).collect();
    domains.sort_unstable();
    let mut http_allow = current.http_allow.clone();
    http_allow.sort();
    let manifest = Manifest {
        slug: app.slug.clone(),
        name: app.name.clone(),
        description: app.description.clone(),
        domains: domains.into_iter().map(plain).collect(),
        http_allow: http_allow.iter().map(|p| plain(p)).collect(),
        secrets: current
            .variables
            .iter()
            .filter(|v| v.secret)
            .map(|v| plain(&v.name))
            .collect(),
        variables: current
            .variables
            .iter()
            .filter_map(|v| Some((plain(&v.name), v.value.clone()?)))
            .collect(),
        limits: manifest::ManifestLimits::from_stored(app.limits.as_ref()),
        cors: app.cors.clone(),
        rate_limit: app.rate_limit.clone(),
        users: app.users.clone(),
        scripts: scripts
            .iter()
            .map(|s| manifest::ScriptEntry {
                name: plain(&s.name),
                file: plain(&manifest::script_file(&s.name)),
                description: s.description.clone(),
            })
            .collect(),
        routes: routes.into_iter().map(|r| Spanned::new(0..0, r)).collect(),
        cron: cron.into_iter().map(|c| Spanned::new(0..0, c)).collect(),
        queue: queue.into_iter().map(|q| Spanned::new(0..0, q)).collect(),
        email: email.into_iter().map(|e| Spanned::new(0..0, e)).collect(),
        // In run order, not sorted: the order is their meaning.
        interceptors: current
            .interceptors
            .iter()
            .map(|i| {
                Spanned::new(
                    0..0,
                    manifest::InterceptorEntry {
                        script: i.script_name.clone(),
                        prefix: (i.prefix != "/").then(|| i.prefix.clone()),
                    },
                )
            })
            .collect(),
        env: BTreeMap::new(),
    };
    Ok(Export {
        manifest: manifest.render(),
        files: scripts
            .iter()
            .map(|s| (manifest::script_file(&s.name), s.source.clone()))
            .collect(),
    })
}
