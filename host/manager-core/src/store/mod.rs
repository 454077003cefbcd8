//! Repositories: every read and write of PiCloud's tables. Only this crate
//! writes to the database; the orchestrator reads dispatch data through
//! [`RoutingSource`], implemented here.

mod app_users;
mod apps;
mod cron;
mod docs;
mod email;
pub(crate) mod error;
mod executions;
mod http_allow;
mod interceptors;
mod kv;
mod logins;
mod manifest;
mod queues;
mod roles;
mod routes;
mod scripts;
mod settings;
mod tokens;
mod transfer;
mod users;
mod variables;

use std::sync::Arc;

use async_trait::async_trait;
use shared::{AppRouting, Limits, RouteSpec, RoutingSnapshot, RoutingSource, ScriptEntry};

pub(crate) use app_users::TokenPurpose;
pub use app_users::{MAX_SESSIONS_PER_USER, MAX_USERS_PAGE, UserAccount};
pub(crate) use apps::validate_slug;
pub use apps::{App, AppRef, Domain, RetiredSlug, SlugVerdict};
pub use cron::{CronTrigger, DueTrigger, MAX_TRIGGERS_PER_APP, NewTrigger, TriggerChanges};
pub use docs::{
    Collection, DocRecord, DocsQuota, DocsUsage, MAX_FIELD_BYTES, MAX_FIND_LIMIT, StoredDoc,
    StoredDocPage, parse_where, validate_collection,
};
pub use email::{DueEmail, EmailOutcome, EmailSend, NewEmail};
pub use error::{Result, StoreError};
pub use executions::{
    Execution, ExecutionFailure, ExecutionFilter, ExecutionStats, ExecutionSummary, StatusFilter,
};
pub use http_allow::{HttpAllowEntry, MAX_ALLOW_ENTRIES, parse_allow_pattern};
pub use interceptors::{
    Interceptor, InterceptorChanges, MAX_INTERCEPTORS_PER_APP, normalize_prefix,
};
pub use kv::{KvEntry, KvEntryPage, KvQuota, KvUsage, MAX_LIST_LIMIT};
pub use logins::MAX_LOGIN_KEYS;
pub use queues::{
    DEFAULT_MAX_ATTEMPTS, DeadLetter, EMAIL_QUEUE_PREFIX, MAX_ATTEMPTS, MAX_DELAY_MS,
    MAX_INBOUND_PAYLOAD_BYTES, MAX_MESSAGES_PER_APP, MAX_PAYLOAD_BYTES, MAX_QUEUE_TRIGGERS_PER_APP,
    Mailbox, QueueStats, QueueTrigger, QueueTriggerChanges, ReadyMessage, backoff_ms, email_queue,
    validate_consumer_queue, validate_queue_name,
};
pub use roles::{Grant, Role, UserPowers};
pub(crate) use routes::conflict_message;
pub use routes::{Claim, NewRoute, Route};
pub(crate) use routes::{path_shape, route_key};
pub use scripts::{MAX_VERSION_MESSAGE, Script, ScriptChange, ScriptVersion, validate_script_name};
pub(crate) use scripts::{check_message, validate_source};
pub use settings::HELLO_WORLD_SEEDED;
pub use tokens::{Token, TokenScope, VerifiedToken, generate_token, validate_token_name};
pub(crate) use tokens::{generate_secret, hash_token};
pub use transfer::{EXPORT_VERSION, ExportSummary, ImportSummary};
pub use users::{Session, User};
pub(crate) use variables::validate_value as validate_variable_value;
pub use variables::{MAX_VARIABLE_BYTES, Variable, validate_variable_name};

use crate::db::Db;

/// One page of a list ordered by (sort key, id): items after `after`, at
/// most `limit` of them.
#[derive(Debug, Clone)]
pub struct Page {
    /// The (sort key, id) of the last item of the previous page.
    pub after: Option<(String, String)>,
    /// Most items to return.
    pub limit: i64,
}

impl Page {
    /// Everything (for callers that want the whole list, like the CLI).
    pub fn all() -> Self {
        Page {
            after: None,
            limit: i64::MAX,
        }
    }

    /// The SQL condition and ordering for `key` (a column), binding the
    /// cursor as `$n` and `$n+1`; `next` is the first free parameter number.
    pub(crate) fn sql(&self, key: &str, next: usize) -> String {
        let filter = if self.after.is_some() {
            format!(
                " AND ({key} > ${a} OR ({key} = ${a} AND id > ${b}))",
                a = next,
                b = next + 1
            )
        } else {
            String::new()
        };
        format!("{filter} ORDER BY {key}, id LIMIT {}", self.limit.max(1))
    }

    /// Binds the cursor parameters `sql` referred to.
    pub(crate) fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        match &self.after {
            Some((key, id)) => query.bind(key).bind(id),
            None => query,
        }
    }
}

/// ` AND <column> IN (…)` keeping only `apps` (the apps a caller may see),
/// or nothing when `apps` is `None` (all of them). App ids are typed UUIDs,
/// so writing them into the SQL as literals cannot inject anything, and a
/// caller's list is a handful of apps.
pub(crate) fn among_apps(column: &str, apps: Option<&[shared::AppId]>) -> String {
    match apps {
        None => String::new(),
        Some([]) => " AND 1 = 0".to_owned(),
        Some(apps) => {
            let list: Vec<String> = apps.iter().map(|app| format!("'{app}'")).collect();
            format!(" AND {column} IN ({})", list.join(", "))
        }
    }
}

/// The id of the `default` app, fixed by the first migration.
pub const DEFAULT_APP_ID: shared::AppId = shared::AppId::DEFAULT;

/// Typed access to the database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) db: Db,
}

impl Store {
    /// Wraps a connected, migrated database.
    pub fn new(db: Db) -> Self {
        Store { db }
    }

    /// The database handle.
    pub fn db(&self) -> &Db {
        &self.db
    }
}

/// Parses an id read back from the database.
pub(crate) fn id<T: std::str::FromStr>(raw: &str) -> crate::store::Result<T> {
    raw.parse().map_err(|_| {
        crate::store::StoreError::Corrupt(format!("corrupt id '{raw}' in the database"))
    })
}

/// A typed id from a row's text column `column`.
pub(crate) fn id_column<T: std::str::FromStr>(row: &sqlx::any::AnyRow, column: &str) -> Result<T> {
    use sqlx::Row as _;
    id(&row.try_get::<String, _>(column)?)
}

/// Per-app limits: stored overrides on top of the defaults.
pub(crate) fn app_limits(stored: Option<&str>) -> Limits {
    let mut value = serde_json::to_value(Limits::default()).expect("limits serialize");
    if let Some(Ok(serde_json::Value::Object(overrides))) =
        stored.map(serde_json::from_str::<serde_json::Value>)
    {
        for (k, v) in overrides {
            if value.get(&k).is_some() {
                value[k] = v;
            }
        }
    }
    serde_json::from_value(value).unwrap_or_default()
}

#[async_trait]
impl RoutingSource for Store {
    async fn load(&self) -> Result<RoutingSnapshot, String> {
        self.snapshot().await.map_err(|e| e.to_string())
    }
}

impl Store {
    async fn snapshot(&self) -> crate::store::Result<RoutingSnapshot> {
        // One snapshot of the database, so the four lists agree with each
        // other: a route never names a script or app the lists lack, even
        // when an admin call commits between two of the queries.
        let mut tx = self.db.begin_read().await?;
        type AppRow = (
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let apps: Vec<AppRow> =
            sqlx::query_as("SELECT id, slug, limits, cors, rate_limit FROM apps")
                .fetch_all(&mut *tx)
                .await?;
        let domains: Vec<(String, String)> =
            sqlx::query_as("SELECT app_id, pattern FROM app_domains")
                .fetch_all(&mut *tx)
                .await?;
        let scripts: Vec<(String, String, String, String, i64, String)> =
            sqlx::query_as("SELECT id, app_id, name, source, version, imports FROM scripts")
                .fetch_all(&mut *tx)
                .await?;
        let interceptors: Vec<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT id, app_id, script_id, prefix, position FROM interceptors \
             ORDER BY app_id, position, created_at, id",
        )
        .fetch_all(&mut *tx)
        .await?;
        let routes: Vec<(String, String, String, String, String, String)> =
            sqlx::query_as("SELECT id, app_id, script_id, method, path, host FROM routes")
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        let mut by_app: std::collections::HashMap<String, Vec<String>> =
            std::collections::HashMap::new();
        for (app_id, pattern) in domains {
            by_app.entry(app_id).or_default().push(pattern);
        }
        let mut snapshot = RoutingSnapshot::default();
        for (app_id, slug, limits, cors, rate_limit) in apps {
            snapshot.apps.push(AppRouting {
                id: id(&app_id)?,
                domains: by_app.remove(&app_id).unwrap_or_default(),
                slug,
                limits: app_limits(limits.as_deref()),
                // Stored only after validation; one that no longer parses
                // is off rather than a failed snapshot.
                cors: cors.and_then(|c| serde_json::from_str(&c).ok()),
                rate_limit: rate_limit.and_then(|r| serde_json::from_str(&r).ok()),
            });
        }
        for (script_id, app_id, name, source, version, imports) in scripts {
            snapshot.scripts.push(ScriptEntry {
                id: id(&script_id)?,
                app_id: id(&app_id)?,
                name,
                source: Arc::from(source),
                version,
                imports: serde_json::from_str(&imports).unwrap_or_default(),
            });
        }
        for (interceptor_id, app_id, script_id, prefix, position) in interceptors {
            snapshot.interceptors.push(shared::InterceptorSpec {
                id: interceptor_id,
                app_id: id(&app_id)?,
                script_id: id(&script_id)?,
                prefix,
                position,
            });
        }
        for (route_id, app_id, script_id, method, path, host) in routes {
            snapshot.routes.push(RouteSpec {
                id: id(&route_id)?,
                app_id: id(&app_id)?,
                script_id: id(&script_id)?,
                method,
                path,
                host: (!host.is_empty()).then_some(host),
            });
        }
        Ok(snapshot)
    }
}
