//! The data-plane services scripts reach (`kv::*`, `docs::*`, `env::get`;
//! `users::*` is in app_users.rs), backed by
//! the manager's stores: what the all-in-one binary hands the executor as
//! its [`ServiceProvider`].
//!
//! ```no_run
//! # fn demo(manager: manager_core::Manager) {
//! let services: std::sync::Arc<dyn shared::ServiceProvider> =
//!     std::sync::Arc::new(manager.data_services());
//! # }
//! ```
//!
//! Every method takes the app from the executor's execution context, never
//! from the script, and touches only that app's rows. Failures a script can
//! act on (a bad key or query, a full store, `incr` on text) keep their message;
//! anything else (the database is down, a secret does not decrypt) is logged
//! here and reaches the script as [`ServiceError::unavailable`], so no server
//! detail and no stored value leaks into a script.

use std::time::Duration;

use async_trait::async_trait;
use shared::{
    AllowPattern, AppId, DocPage, DocQuery, DocsService, Document, EmailService, EnvService,
    ExecutionId, HttpAllowList, Invocable, KvPage, KvService, OutgoingEmail, QueueService,
    ScriptsService, ServiceError, ServiceProvider, UsersService,
};

use crate::Manager;
use crate::secrets::SecretKey;
use crate::store::{DocsQuota, KvQuota, Store, StoreError};

/// Key-value storage, documents and variables for scripts. Cheap to
/// clone; one per process is enough.
#[derive(Clone)]
pub struct DataServices {
    pub(crate) store: Store,
    kv_quota: KvQuota,
    docs_quota: DocsQuota,
    secret_key: Option<SecretKey>,
    email: crate::email::EmailConfig,
}

impl std::fmt::Debug for DataServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataServices")
            .field("kv_quota", &self.kv_quota)
            .field("docs_quota", &self.docs_quota)
            .field("secrets", &self.secret_key.is_some())
            .finish_non_exhaustive()
    }
}

impl DataServices {
    /// Services over `store`, with the key-value and document quotas every
    /// app gets and the server key for secrets (without one, reading a
    /// secret fails with [`ServiceError::unavailable`] and a warning in the
    /// log).
    pub fn new(
        store: Store,
        kv_quota: KvQuota,
        docs_quota: DocsQuota,
        secret_key: Option<SecretKey>,
    ) -> Self {
        DataServices {
            store,
            kv_quota,
            docs_quota,
            secret_key,
            email: crate::email::EmailConfig::default(),
        }
    }

    /// The same services with mail sent through `email`'s relay (without
    /// one, `email::send` says mail is not set up).
    #[must_use]
    pub fn with_email(mut self, email: crate::email::EmailConfig) -> Self {
        self.email = email;
        self
    }
}

impl Manager {
    /// The data-plane services over this manager's store and configuration.
    pub fn data_services(&self) -> DataServices {
        DataServices::new(
            self.store.clone(),
            self.config.kv_quota,
            self.config.docs_quota,
            self.config.secret_key.clone(),
        )
        .with_email(self.config.email.clone())
    }
}

/// Awaits one store call, timing it into
/// `picloud_db_query_duration_seconds{op}`: the database side of a script's
/// data call, apart from the network between an executor node and here.
pub(crate) async fn timed<T>(op: &'static str, call: impl std::future::Future<Output = T>) -> T {
    let timer = shared::metrics::Timer::start();
    let result = call.await;
    timer.observe(
        &shared::metrics::metrics()
            .db_query_duration
            .with_label_values(&[op]),
    );
    result
}

/// The script-facing form of a store error. `op` names the call for the log.
pub(crate) fn to_service_error(op: &'static str, app: AppId, err: StoreError) -> ServiceError {
    match err {
        StoreError::Invalid { message, .. } => ServiceError::invalid(message),
        StoreError::QuotaExceeded(message) => ServiceError::quota(message),
        StoreError::WrongType(message) => ServiceError::wrong_type(message),
        // The error names no value: store errors never carry one.
        other => {
            tracing::warn!(%app, op, error = %other, "data service call failed");
            ServiceError::unavailable()
        }
    }
}

#[async_trait]
impl KvService for DataServices {
    async fn get(&self, app: AppId, key: &str) -> Result<Option<String>, ServiceError> {
        timed("kv::get", self.store.kv_value(app, key))
            .await
            .map_err(|e| to_service_error("kv::get", app, e))
    }

    async fn set(
        &self,
        app: AppId,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<(), ServiceError> {
        timed(
            "kv::set",
            self.store.kv_set(app, key, value, ttl, &self.kv_quota),
        )
        .await
        .map(drop)
        .map_err(|e| to_service_error("kv::set", app, e))
    }

    async fn delete(&self, app: AppId, key: &str) -> Result<bool, ServiceError> {
        timed("kv::delete", self.store.kv_delete(app, key))
            .await
            .map_err(|e| to_service_error("kv::delete", app, e))
    }

    async fn exists(&self, app: AppId, key: &str) -> Result<bool, ServiceError> {
        timed("kv::exists", self.store.kv_exists(app, key))
            .await
            .map_err(|e| to_service_error("kv::exists", app, e))
    }

    async fn list(
        &self,
        app: AppId,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KvPage, ServiceError> {
        timed("kv::list", self.store.kv_keys(app, prefix, cursor, limit))
            .await
            .map_err(|e| to_service_error("kv::list", app, e))
    }

    async fn incr(&self, app: AppId, key: &str, delta: i64) -> Result<i64, ServiceError> {
        timed(
            "kv::incr",
            self.store.kv_incr(app, key, delta, &self.kv_quota),
        )
        .await
        .map_err(|e| to_service_error("kv::incr", app, e))
    }
}

#[async_trait]
impl EnvService for DataServices {
    async fn get(&self, app: AppId, name: &str) -> Result<Option<String>, ServiceError> {
        self.store
            .variable_value(app, name, self.secret_key.as_ref())
            .await
            .map_err(|e| to_service_error("env::get", app, e))
    }
}

#[async_trait]
impl DocsService for DataServices {
    async fn insert(
        &self,
        app: AppId,
        collection: &str,
        body: &str,
    ) -> Result<String, ServiceError> {
        timed(
            "docs::insert",
            self.store
                .doc_insert(app, collection, body, &self.docs_quota),
        )
        .await
        .map(|doc| doc.id)
        .map_err(|e| to_service_error("docs::insert", app, e))
    }

    async fn get(
        &self,
        app: AppId,
        collection: &str,
        id: &str,
    ) -> Result<Option<Document>, ServiceError> {
        timed("docs::get", self.store.doc_get(app, collection, id))
            .await
            .map(|doc| doc.map(Document::from))
            .map_err(|e| to_service_error("docs::get", app, e))
    }

    async fn update(
        &self,
        app: AppId,
        collection: &str,
        id: &str,
        patch: &str,
    ) -> Result<Option<Document>, ServiceError> {
        timed(
            "docs::update",
            self.store
                .doc_update(app, collection, id, patch, &self.docs_quota),
        )
        .await
        .map(|doc| doc.map(Document::from))
        .map_err(|e| to_service_error("docs::update", app, e))
    }

    async fn delete(&self, app: AppId, collection: &str, id: &str) -> Result<bool, ServiceError> {
        timed("docs::delete", self.store.doc_delete(app, collection, id))
            .await
            .map_err(|e| to_service_error("docs::delete", app, e))
    }

    async fn find(
        &self,
        app: AppId,
        collection: &str,
        query: &DocQuery,
    ) -> Result<DocPage, ServiceError> {
        timed("docs::find", self.store.doc_find(app, collection, query))
            .await
            .map(|page| DocPage {
                docs: page.docs.into_iter().map(Document::from).collect(),
                cursor: page.cursor,
            })
            .map_err(|e| to_service_error("docs::find", app, e))
    }
}

impl ServiceProvider for DataServices {
    fn kv(&self) -> Option<&dyn KvService> {
        Some(self)
    }

    fn env(&self) -> Option<&dyn EnvService> {
        Some(self)
    }

    fn docs(&self) -> Option<&dyn DocsService> {
        Some(self)
    }

    fn http(&self) -> Option<&dyn HttpAllowList> {
        Some(self)
    }

    fn scripts(&self) -> Option<&dyn ScriptsService> {
        Some(self)
    }

    fn users(&self) -> Option<&dyn UsersService> {
        Some(self)
    }

    fn queue(&self) -> Option<&dyn QueueService> {
        Some(self)
    }

    fn email(&self) -> Option<&dyn EmailService> {
        Some(self)
    }
}

#[async_trait]
impl EmailService for DataServices {
    async fn send(
        &self,
        app: AppId,
        execution: ExecutionId,
        email: &OutgoingEmail,
    ) -> Result<String, ServiceError> {
        timed(
            "email::send",
            crate::email::send(&self.store, &self.email, app, execution, email),
        )
        .await
    }
}

#[async_trait]
impl QueueService for DataServices {
    async fn send(
        &self,
        app: AppId,
        queue: &str,
        payload: &str,
        delay: Duration,
    ) -> Result<String, ServiceError> {
        let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        let id = timed(
            "queue::send",
            self.store.enqueue(app, queue, payload, delay_ms),
        )
        .await
        .map_err(|e| to_service_error("queue::send", app, e))?;
        if delay.is_zero() {
            crate::queue_runner::wake();
        }
        Ok(id)
    }
}

#[async_trait]
impl ScriptsService for DataServices {
    async fn invocable(&self, app: AppId, name: &str) -> Result<Option<Invocable>, ServiceError> {
        timed("scripts::invocable", self.store.invocable(app, name))
            .await
            .map_err(|e| to_service_error("invoke", app, e))
    }
}

#[async_trait]
impl HttpAllowList for DataServices {
    async fn allowed(&self, app: AppId) -> Result<Vec<AllowPattern>, ServiceError> {
        timed("http::allow_list", self.store.http_allow_patterns(app))
            .await
            .map_err(|e| to_service_error("http allow-list", app, e))
    }
}
