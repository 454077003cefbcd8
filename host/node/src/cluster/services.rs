//! Data-plane services across the network. An executor node has no database:
//! its scripts' `kv::`, `docs::`, `env::` and allow-list lookups become one
//! `POST /internal/v1/services` each to the manager, which runs them against
//! its stores ([`router`]). The app travels with every call, taken by the
//! executor from the execution context exactly as in one process.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use shared::{
    AllowPattern, AppId, DocPage, DocQuery, DocsService, Document, EnvService, HttpAllowList,
    KvPage, KvService, ServiceError, ServiceProvider,
};

use super::Peer;

/// A service call's own time limit. The executor also bounds every host call
/// by the execution's deadline, which is usually shorter.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// One call, for one app.
#[derive(Debug, Serialize, Deserialize)]
struct ServiceRequest {
    app: AppId,
    #[serde(flatten)]
    call: ServiceCall,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
enum ServiceCall {
    KvGet {
        key: String,
    },
    KvSet {
        key: String,
        value: String,
        ttl_ms: Option<u64>,
    },
    KvDelete {
        key: String,
    },
    KvExists {
        key: String,
    },
    KvList {
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    },
    KvIncr {
        key: String,
        delta: i64,
    },
    EnvGet {
        name: String,
    },
    DocsInsert {
        collection: String,
        body: String,
    },
    DocsGet {
        collection: String,
        id: String,
    },
    DocsUpdate {
        collection: String,
        id: String,
        patch: String,
    },
    DocsDelete {
        collection: String,
        id: String,
    },
    DocsFind {
        collection: String,
        query: DocQuery,
    },
    HttpAllowed,
}

/// The answer: the call's own result as JSON, or the service's error.
type ServiceReply = Result<serde_json::Value, ServiceError>;

pub(super) fn router(services: Arc<dyn ServiceProvider>) -> Router {
    Router::new()
        .route("/internal/v1/services", post(serve))
        .with_state(services)
        // Documents and values are bounded by the app quotas (1 MiB per
        // document by default); this only stops a runaway body.
        .layer(axum::extract::DefaultBodyLimit::max(16 << 20))
}

async fn serve(
    State(services): State<Arc<dyn ServiceProvider>>,
    Json(request): Json<ServiceRequest>,
) -> Json<ServiceReply> {
    Json(dispatch(&*services, request).await)
}

fn reply<T: Serialize>(result: Result<T, ServiceError>) -> ServiceReply {
    result.map(|value| serde_json::to_value(value).expect("service results serialize"))
}

async fn dispatch(services: &dyn ServiceProvider, request: ServiceRequest) -> ServiceReply {
    let app = request.app;
    let (kv, docs) = (services.kv(), services.docs());
    match request.call {
        ServiceCall::KvGet { key } => reply(kv.get(app, &key).await),
        ServiceCall::KvSet { key, value, ttl_ms } => reply(
            kv.set(app, &key, &value, ttl_ms.map(Duration::from_millis))
                .await,
        ),
        ServiceCall::KvDelete { key } => reply(kv.delete(app, &key).await),
        ServiceCall::KvExists { key } => reply(kv.exists(app, &key).await),
        ServiceCall::KvList {
            prefix,
            cursor,
            limit,
        } => reply(kv.list(app, &prefix, cursor.as_deref(), limit).await),
        ServiceCall::KvIncr { key, delta } => reply(kv.incr(app, &key, delta).await),
        ServiceCall::EnvGet { name } => reply(services.env().get(app, &name).await),
        ServiceCall::DocsInsert { collection, body } => {
            reply(docs.insert(app, &collection, &body).await)
        }
        ServiceCall::DocsGet { collection, id } => reply(docs.get(app, &collection, &id).await),
        ServiceCall::DocsUpdate {
            collection,
            id,
            patch,
        } => reply(docs.update(app, &collection, &id, &patch).await),
        ServiceCall::DocsDelete { collection, id } => {
            reply(docs.delete(app, &collection, &id).await)
        }
        ServiceCall::DocsFind { collection, query } => {
            reply(docs.find(app, &collection, &query).await)
        }
        ServiceCall::HttpAllowed => reply(services.http().allowed(app).await),
    }
}

/// The manager's data-plane services over the cluster protocol: an executor
/// node's [`ServiceProvider`].
#[derive(Clone, Debug)]
pub struct RemoteServices {
    manager: Peer,
}

impl RemoteServices {
    /// Services of the manager at `manager`.
    pub fn new(manager: Peer) -> RemoteServices {
        RemoteServices { manager }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        app: AppId,
        call: ServiceCall,
    ) -> Result<T, ServiceError> {
        let request = ServiceRequest { app, call };
        let reply: ServiceReply = self
            .manager
            .post("/internal/v1/services", &request, CALL_TIMEOUT)
            .await
            .map_err(|err| {
                // The detail is for the operator; the script is told the
                // service is unavailable, as when a local database is down.
                tracing::warn!(manager = self.manager.base(), error = %err, "data-plane call to the manager failed");
                ServiceError::unavailable()
            })?;
        serde_json::from_value(reply?).map_err(|err| {
            tracing::error!(error = %err, "the manager's service answer has an unexpected shape");
            ServiceError::unavailable()
        })
    }
}

impl ServiceProvider for RemoteServices {
    fn kv(&self) -> &dyn KvService {
        self
    }
    fn env(&self) -> &dyn EnvService {
        self
    }
    fn docs(&self) -> &dyn DocsService {
        self
    }
    fn http(&self) -> &dyn HttpAllowList {
        self
    }
}

#[async_trait]
impl KvService for RemoteServices {
    async fn get(&self, app: AppId, key: &str) -> Result<Option<String>, ServiceError> {
        let key = key.to_owned();
        self.call(app, ServiceCall::KvGet { key }).await
    }

    async fn set(
        &self,
        app: AppId,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<(), ServiceError> {
        let call = ServiceCall::KvSet {
            key: key.to_owned(),
            value: value.to_owned(),
            // Rounded up: a TTL never gets shorter on the way.
            ttl_ms: ttl
                .map(|ttl| u64::try_from(ttl.as_micros().div_ceil(1000)).unwrap_or(u64::MAX)),
        };
        self.call(app, call).await
    }

    async fn delete(&self, app: AppId, key: &str) -> Result<bool, ServiceError> {
        let key = key.to_owned();
        self.call(app, ServiceCall::KvDelete { key }).await
    }

    async fn exists(&self, app: AppId, key: &str) -> Result<bool, ServiceError> {
        let key = key.to_owned();
        self.call(app, ServiceCall::KvExists { key }).await
    }

    async fn list(
        &self,
        app: AppId,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KvPage, ServiceError> {
        let call = ServiceCall::KvList {
            prefix: prefix.to_owned(),
            cursor: cursor.map(str::to_owned),
            limit,
        };
        self.call(app, call).await
    }

    async fn incr(&self, app: AppId, key: &str, delta: i64) -> Result<i64, ServiceError> {
        let key = key.to_owned();
        self.call(app, ServiceCall::KvIncr { key, delta }).await
    }
}

#[async_trait]
impl EnvService for RemoteServices {
    async fn get(&self, app: AppId, name: &str) -> Result<Option<String>, ServiceError> {
        let name = name.to_owned();
        self.call(app, ServiceCall::EnvGet { name }).await
    }
}

#[async_trait]
impl DocsService for RemoteServices {
    async fn insert(
        &self,
        app: AppId,
        collection: &str,
        body: &str,
    ) -> Result<String, ServiceError> {
        let call = ServiceCall::DocsInsert {
            collection: collection.to_owned(),
            body: body.to_owned(),
        };
        self.call(app, call).await
    }

    async fn get(
        &self,
        app: AppId,
        collection: &str,
        id: &str,
    ) -> Result<Option<Document>, ServiceError> {
        let call = ServiceCall::DocsGet {
            collection: collection.to_owned(),
            id: id.to_owned(),
        };
        self.call(app, call).await
    }

    async fn update(
        &self,
        app: AppId,
        collection: &str,
        id: &str,
        patch: &str,
    ) -> Result<Option<Document>, ServiceError> {
        let call = ServiceCall::DocsUpdate {
            collection: collection.to_owned(),
            id: id.to_owned(),
            patch: patch.to_owned(),
        };
        self.call(app, call).await
    }

    async fn delete(&self, app: AppId, collection: &str, id: &str) -> Result<bool, ServiceError> {
        let call = ServiceCall::DocsDelete {
            collection: collection.to_owned(),
            id: id.to_owned(),
        };
        self.call(app, call).await
    }

    async fn find(
        &self,
        app: AppId,
        collection: &str,
        query: &DocQuery,
    ) -> Result<DocPage, ServiceError> {
        let call = ServiceCall::DocsFind {
            collection: collection.to_owned(),
            query: query.clone(),
        };
        self.call(app, call).await
    }
}

#[async_trait]
impl HttpAllowList for RemoteServices {
    async fn allowed(&self, app: AppId) -> Result<Vec<AllowPattern>, ServiceError> {
        self.call(app, ServiceCall::HttpAllowed).await
    }
}
