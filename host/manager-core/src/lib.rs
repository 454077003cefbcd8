//! PiCloud's control plane: the database (the manager is its only writer),
//! the admin API under `/api/v1/admin/`, the execution log, the data-plane
//! services scripts call ([`DataServices`]: key-value storage, document
//! collections, variables and secrets encrypted under a [`SecretKey`]), the
//! cron scheduler that runs the apps' triggers ([`Manager::start_scheduler`])
//! and first-start bootstrap (the `default` app's Hello World and the first
//! admin token).
//!
//! ```no_run
//! # async fn demo(executor: std::sync::Arc<dyn shared::ExecutorClient>,
//! #               routing: std::sync::Arc<dyn shared::RoutingTables>) -> manager_core::Result<()> {
//! use std::sync::Arc;
//! use manager_core::{Db, Manager, ManagerConfig, Store};
//! let store = Store::new(Db::connect("sqlite://data/picloud.db").await?);
//! let manager = Manager::new(store, executor, routing, ManagerConfig::default());
//! manager.bootstrap(&manager_core::FirstAdmin::default()).await?;
//! let admin_api: axum::Router = manager_core::api::router(manager.clone());
//! let services: Arc<dyn shared::ServiceProvider> = Arc::new(manager.data_services());
//! let (janitor, scheduler) = (manager.start_janitor(), manager.start_scheduler());
//! # Ok(()) }
//! ```

pub mod api;
pub mod app_users;
pub mod auth;
pub mod backup;
mod cron_expr;
mod cron_runner;
mod db;
pub mod deploy;
pub mod email;
mod error;
pub mod manifest;
mod modules;
pub mod policy;
mod queue_runner;
mod recorder;
mod secrets;
mod services;
pub mod smtp_in;
pub mod store;

use std::sync::Arc;

use shared::{AppId, ExecutionError, ExecutorClient, RoutingTables};

pub use cron_expr::{DEFAULT_TIMEZONE, MAX_SCHEDULE_BYTES, Schedule};
pub use cron_runner::{SCHEDULE_HEADER, TRIGGER_HEADER, TriggerRun};
pub use db::Db;
pub use error::{Error, ErrorCode, Result};
pub use queue_runner::{ATTEMPT_HEADER, MESSAGE_HEADER, QUEUE_HEADER};
pub use recorder::Recorder;
pub use secrets::{SecretError, SecretKey};
pub use services::DataServices;
pub use store::{DocsQuota, KvQuota, Store};

/// The Hello World script a fresh install serves at `GET /hello`.
pub const HELLO_WORLD: &str = r#"// Hello World: try /hello?name=you
let name = request.query.name ?? "World";
`Hello, ${name}!`
"#;

/// Manager settings from the binary's configuration.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// The URL users reach PiCloud at; shown by `/version` and used to build links.
    pub public_base_url: String,
    /// Largest admin request body, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// How long a browser session lasts after sign-in.
    pub session_ttl: std::time::Duration,
    /// A session unused for this long ends before its `session_ttl`;
    /// zero turns the idle timeout off.
    pub session_idle_timeout: std::time::Duration,
    /// Execution records kept per app (the newest).
    pub log_max_per_app: u64,
    /// Execution records older than this are removed.
    pub log_max_age: std::time::Duration,
    /// How often the janitor applies retention and drops expired sessions
    /// and key-value entries.
    pub janitor_interval: std::time::Duration,
    /// How often the cron scheduler looks for due triggers
    /// ([`Manager::start_scheduler`]).
    pub scheduler_interval: std::time::Duration,
    /// Queue runs at once in this process ([`Manager::start_queue_consumer`]).
    pub queue_concurrency: usize,
    /// Queue runs at once per app, within `queue_concurrency`, so one app's
    /// backlog does not hold every slot.
    pub queue_concurrency_per_app: usize,
    /// How often the queue consumer looks for delayed and retried messages,
    /// and for messages another process sent (it is woken at once for its
    /// own).
    pub queue_poll: std::time::Duration,
    /// Versions kept per script (the newest; the one it runs always);
    /// `None` keeps all (`--versions-keep`).
    pub versions_keep: Option<u64>,
    /// The key-value limits of every app.
    pub kv_quota: KvQuota,
    /// The document limits of every app.
    pub docs_quota: DocsQuota,
    /// The key that encrypts secrets at rest (`PICLOUD_SECRET_KEY` or the
    /// key file). Without it plain variables work and secrets are refused
    /// (503 `secrets_unavailable` in the admin API, `unavailable` to scripts).
    pub secret_key: Option<SecretKey>,
    /// The hosts that serve the admin surface (ADR 006); no app may claim
    /// one of them.
    pub admin_hosts: shared::AdminHosts,
    /// Peers whose `X-Forwarded-For` and `-Proto` are believed (the sign-in
    /// throttle's address, the session cookie's `Secure`).
    pub trusted_proxies: shared::TrustedProxies,
    /// Lower-case names of request headers whose values execution records
    /// redact on top of [`shared::ALWAYS_REDACTED_HEADERS`]
    /// (`PICLOUD_REDACT_HEADERS`).
    pub redact_headers: Vec<String>,
    /// Outgoing mail: the relay, the default sender, the hourly quota.
    pub email: email::EmailConfig,
    /// Inbound mail: the SMTP listener (off unless it has an address).
    pub smtp_in: smtp_in::SmtpInConfig,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        ManagerConfig {
            public_base_url: "http://localhost:8080".into(),
            max_body_bytes: 1 << 20,
            session_ttl: std::time::Duration::from_secs(12 * 60 * 60),
            session_idle_timeout: std::time::Duration::from_secs(2 * 60 * 60),
            log_max_per_app: 10_000,
            log_max_age: std::time::Duration::from_secs(30 * 24 * 60 * 60),
            janitor_interval: std::time::Duration::from_secs(60),
            scheduler_interval: std::time::Duration::from_secs(1),
            queue_concurrency: 4,
            queue_concurrency_per_app: 2,
            queue_poll: std::time::Duration::from_millis(500),
            versions_keep: None,
            kv_quota: KvQuota::default(),
            docs_quota: DocsQuota::default(),
            secret_key: None,
            admin_hosts: shared::AdminHosts::default(),
            trusted_proxies: shared::TrustedProxies::default(),
            redact_headers: Vec::new(),
            email: email::EmailConfig::default(),
            smtp_in: smtp_in::SmtpInConfig::default(),
        }
    }
}

/// Who gets in on a fresh install (see [`Manager::bootstrap`]).
#[derive(Debug, Clone, Default)]
pub struct FirstAdmin {
    /// API token to store when there is none (`PICLOUD_ADMIN_TOKEN`);
    /// `None` generates one, shown once.
    pub token: Option<String>,
    /// The configured public base URL (`PICLOUD_PUBLIC_BASE_URL`), whose
    /// host the default app claims; `None` when it was not set.
    pub public_base_url: Option<String>,
    /// User to create when there are no users
    /// (`PICLOUD_ADMIN_USER` + `PICLOUD_ADMIN_PASSWORD`). Never a default.
    pub user: Option<(String, String)>,
}

/// The manager service: shared state of the admin API. Cheap to clone.
#[derive(Clone)]
pub struct Manager {
    pub(crate) store: Store,
    pub(crate) executor: Arc<dyn ExecutorClient>,
    pub(crate) routing: Arc<dyn RoutingTables>,
    pub(crate) recorder: Recorder,
    pub(crate) config: Arc<ManagerConfig>,
    pub(crate) throttle: auth::LoginThrottle,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What one [`Manager::clean_up`] pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanUp {
    /// Execution records past the retention limits.
    pub executions: u64,
    /// Expired browser sessions.
    pub sessions: u64,
    /// Expired key-value entries.
    pub kv_entries: u64,
    /// Sign-in throttle keys idle past the longest lockout.
    pub login_keys: u64,
    /// Expired sessions and single-use tokens of apps' end users.
    pub app_user_sessions: u64,
    /// Records of sent or failed mail older than the log's retention.
    pub emails: u64,
}

/// What [`Manager::bootstrap`] did, for the binary to report.
#[derive(Debug, Clone, Default)]
pub struct Bootstrap {
    /// A newly generated admin token, to show once. `None` when tokens already
    /// existed or the operator supplied `PICLOUD_ADMIN_TOKEN`.
    pub generated_token: Option<String>,
    /// Whether the Hello World script was seeded now.
    pub seeded_hello: bool,
    /// Whether the default app claimed the public base URL's host now.
    pub claimed_public_host: bool,
}

/// The host (with any port) of an `http(s)://` URL.
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    shared::domain::normalize_host(host_port).ok()
}

impl Manager {
    /// Wires the manager; must be called inside a tokio runtime (it starts the
    /// execution-log writer).
    pub fn new(
        store: Store,
        executor: Arc<dyn ExecutorClient>,
        routing: Arc<dyn RoutingTables>,
        config: ManagerConfig,
    ) -> Self {
        let recorder = Recorder::start(store.clone());
        Manager {
            throttle: auth::LoginThrottle::new(store.clone()),
            store,
            executor,
            routing,
            recorder,
            config: Arc::new(config),
        }
    }

    /// The session idle timeout in milliseconds; `None` when off.
    pub(crate) fn idle_ms(&self) -> Option<i64> {
        let idle = self.config.session_idle_timeout;
        (!idle.is_zero()).then(|| i64::try_from(idle.as_millis()).unwrap_or(i64::MAX))
    }

    /// The repositories.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Where the orchestrator sends execution records.
    pub fn recorder(&self) -> Recorder {
        self.recorder.clone()
    }

    /// The configuration.
    pub fn config(&self) -> &ManagerConfig {
        &self.config
    }

    /// First-start work, idempotent. An install with neither tokens nor
    /// users gets a way in: the operator's `PICLOUD_ADMIN_TOKEN`, the
    /// configured first user, or, with neither configured, a generated token
    /// shown once. Once users exist, revoking every token never brings a
    /// bootstrap token back. A configured first user is also created on an
    /// install that has tokens but no users yet. Hello World is seeded at
    /// `GET /hello` when the default app has no scripts.
    pub async fn bootstrap(&self, first: &FirstAdmin) -> Result<Bootstrap> {
        let mut report = Bootstrap::default();
        let no_users = self.store.count_users().await? == 0;
        let fresh = no_users && self.store.count_tokens().await? == 0;
        if fresh && first.token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(Error::Config(
                "PICLOUD_ADMIN_TOKEN must be at least 16 characters".into(),
            ));
        }
        if let Some((username, password)) = &first.user
            && no_users
        {
            let username = auth::normalize_username(username)
                .map_err(|e| Error::Config(format!("PICLOUD_ADMIN_USER: {e}")))?;
            auth::validate_password(password)
                .map_err(|e| Error::Config(format!("PICLOUD_ADMIN_PASSWORD: {e}")))?;
            let hash = auth::hash_password(password.clone()).await?;
            self.store.create_user(&username, &hash, true).await?;
            tracing::info!(%username, "created the first admin user");
        }
        if fresh {
            let token = match first.token.as_deref() {
                Some(token) => Some(token.to_owned()),
                None if first.user.is_some() => None,
                None => {
                    let token = store::generate_token();
                    report.generated_token = Some(token.clone());
                    Some(token)
                }
            };
            if let Some(token) = token {
                self.store.add_token("bootstrap", &token, None).await?;
            }
        }
        // Once per install: an operator who deletes Hello World has decided.
        if self
            .store
            .setting(store::HELLO_WORLD_SEEDED)
            .await?
            .is_none()
        {
            if self.store.count_scripts(AppId::DEFAULT).await? == 0 {
                let script = self
                    .store
                    .create_script(AppId::DEFAULT, "hello", "Hello World", HELLO_WORLD)
                    .await?;
                let app = self.store.app_by_id(AppId::DEFAULT).await?;
                let route = self.store.validate_route(&app, "GET", "/hello", None)?;
                self.store.create_route(&script, route).await?;
                report.seeded_hello = true;
            }
            self.store
                .set_setting(store::HELLO_WORLD_SEEDED, "true")
                .await?;
        }
        if let Some(url) = &first.public_base_url {
            report.claimed_public_host = self.claim_public_host(url).await?;
        }
        Ok(report)
    }

    /// The default app claims the host of the public base URL, so the URL
    /// the operator configured answers (Hello World at `<url>/hello`).
    /// Idempotent; a host that is an admin host, or that another app already
    /// claims, is left alone and logged. Returns whether a claim was added.
    async fn claim_public_host(&self, url: &str) -> Result<bool> {
        let Some(host) = url_host(url) else {
            tracing::warn!(%url, "the public base URL names no host the default app could claim");
            return Ok(false);
        };
        let Ok(pattern) = shared::domain::DomainPattern::parse(&host) else {
            tracing::warn!(%url, %host, "the public base URL's host is not one an app can claim");
            return Ok(false);
        };
        if self.config.admin_hosts.claimed_by(&pattern).is_some() {
            // It serves the dashboard; the default app answers there anyway,
            // sandboxed (ADR 006).
            return Ok(false);
        }
        let default = self.store.app_by_id(AppId::DEFAULT).await?;
        match self.store.add_domain(&default, &host).await {
            Ok(_) => {
                tracing::info!(%host, "the default app claims the public base URL's host");
                Ok(true)
            }
            Err(store::StoreError::Conflict {
                code: ErrorCode::DomainTaken,
                message,
            }) => {
                if !default
                    .domains
                    .iter()
                    .any(|d| d.pattern == pattern.to_string())
                {
                    tracing::warn!(%host, "the public base URL's host is left to another app: {message}");
                }
                Ok(false)
            }
            Err(err) => Err(err.into()),
        }
    }

    /// One janitor pass: the execution-log retention, expired sessions and
    /// expired key-value entries (the apps' usage counters drop with them).
    pub async fn clean_up(&self) -> Result<CleanUp> {
        // Queued records count too: write them first so the limit holds.
        self.recorder.flush().await;
        let max_age = i64::try_from(self.config.log_max_age.as_millis()).unwrap_or(i64::MAX);
        let max_count = i64::try_from(self.config.log_max_per_app).unwrap_or(i64::MAX);
        Ok(CleanUp {
            executions: self.store.prune_executions(max_age, max_count).await?,
            sessions: self.store.purge_expired_sessions(self.idle_ms()).await?,
            kv_entries: self.store.purge_expired_kv().await?,
            login_keys: self.throttle.purge().await?,
            app_user_sessions: self.store.purge_app_user_sessions().await?,
            emails: self
                .store
                .delete_old_emails(db::now_ms().saturating_sub(max_age))
                .await?,
        })
    }

    /// Runs [`Manager::clean_up`] every `janitor_interval` in the background
    /// until the returned handle is aborted (or the runtime stops).
    pub fn start_janitor(&self) -> tokio::task::JoinHandle<()> {
        let manager = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(manager.config.janitor_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match manager.clean_up().await {
                    Ok(removed) if removed == CleanUp::default() => {}
                    Ok(CleanUp {
                        executions,
                        sessions,
                        kv_entries,
                        login_keys,
                        app_user_sessions,
                        emails,
                    }) => {
                        tracing::info!(
                            executions,
                            sessions,
                            kv_entries,
                            login_keys,
                            app_user_sessions,
                            emails,
                            "retention: removed old records"
                        );
                    }
                    // A failed pass (database briefly away) is retried next tick.
                    Err(err) => tracing::warn!(error = %err, "retention pass failed"),
                }
            }
        })
    }

    /// Compiles `source` through the executor; 422 with line:column on a
    /// syntax error. The `import` statements it has.
    pub(crate) async fn compile(&self, source: &str) -> Result<Vec<shared::ImportRef>> {
        match self.executor.check(source).await {
            Ok(imports) => Ok(imports),
            Err(ExecutionError::Compile(failure)) => Err(Error::Compile(failure)),
            Err(ExecutionError::ScriptLimit { failure, .. }) => Err(Error::Compile(failure)),
            Err(other) => Err(Error::Executor(other)),
        }
    }

    /// Compiles `source`, to be saved as script `name` of `app_id`, and
    /// checks its imports against the app's scripts as stored: each must
    /// name one of them, and none may lead back to `name` (a cycle). `422
    /// compile_error` at the import's line otherwise. Returns the module
    /// names, to store with the source.
    pub(crate) async fn compile_in_app(
        &self,
        app_id: AppId,
        name: &str,
        source: &str,
    ) -> Result<Vec<String>> {
        let imports = self.compile(source).await?;
        if imports.is_empty() {
            return Ok(Vec::new());
        }
        let graph = self.store.import_graph(app_id).await?;
        modules::check_imports(name, &imports, |module| graph.get(module).cloned())
            .map_err(Error::Compile)
    }

    /// Tells the orchestrator that dispatch data changed, and waits until the
    /// next request sees it.
    pub(crate) async fn routing_changed(&self) {
        self.routing.routing_changed().await;
    }
}
