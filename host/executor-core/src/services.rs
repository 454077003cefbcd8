//! The host side of the data-plane imports (`kv`, `docs`, `http-client`, `env`): each call takes the
//! app from the execution context and forwards to the injected
//! [`ServiceProvider`].
//!
//! The calls are async (ADR 002): while one waits for its database the
//! worker thread serves other requests, and the waiting burns no fuel. It
//! does count toward the execution's wall-clock deadline: the executor checks
//! the deadline when the running script yields, not while a host call waits,
//! so every wait is bounded by the time left here, and a wait that outlives
//! it ends the execution with `deadline_exceeded` exactly as a busy loop would.
//!
//! Every call runs in a span named after the import (`kv::get`)
//! with the app's id, so a slow call can be found in a trace. The spans are
//! at `debug`: these are the hottest host calls, and a subscriber at `info`
//! (production) then skips them after one cached check.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use shared::{
    AppId, DocFilter, DocOp, DocQuery, Document, MAX_FIND_LIMIT, MAX_LIST_LIMIT, ServiceError,
    ServiceErrorKind, ServiceProvider, require_service,
};
use tracing::instrument;
use wasmtime::Trap;

use crate::bindings::picloud::platform::{docs, env, http_client, kv, types};
use crate::host::HostState;

type Reply<T> = wasmtime::Result<Result<T, types::ServiceError>>;

impl HostState {
    /// Runs one service call (`import`, e.g. `kv::get`) for the calling
    /// app, bounded by the deadline; key-value and document calls are
    /// counted and timed in the metrics. The future owns what it needs (not
    /// `&self`, which is not `Sync`).
    fn call<T, F, C>(
        &self,
        import: &'static str,
        call: C,
    ) -> impl Future<Output = Reply<T>> + Send + use<T, F, C>
    where
        F: Future<Output = Result<T, ServiceError>> + Send,
        C: FnOnce(Arc<dyn ServiceProvider>, AppId) -> F,
    {
        let deadline = self.deadline;
        let past = self.past_deadline();
        let call = call(self.services.clone(), self.context.app_id);
        async move {
            past?;
            let timer = shared::metrics::Timer::start();
            let result = tokio::time::timeout_at(deadline.into(), call).await;
            if let Some((service @ ("kv" | "docs"), op)) = import.split_once("::") {
                let ok = matches!(&result, Ok(Ok(_)));
                shared::metrics::metrics().observe_data(service, op, ok, timer.elapsed());
            }
            match result {
                Ok(result) => Ok(result.map_err(to_wit)),
                Err(_elapsed) => Err(Trap::Interrupt.into()),
            }
        }
    }
}

fn to_wit(error: ServiceError) -> types::ServiceError {
    types::ServiceError {
        kind: match error.kind {
            ServiceErrorKind::InvalidArgument => types::ServiceErrorKind::InvalidArgument,
            ServiceErrorKind::QuotaExceeded => types::ServiceErrorKind::QuotaExceeded,
            ServiceErrorKind::WrongType => types::ServiceErrorKind::WrongType,
            ServiceErrorKind::Unavailable => types::ServiceErrorKind::Unavailable,
        },
        message: error.message,
    }
}

impl kv::Host for HostState {
    #[instrument(level = "debug", skip_all, name = "kv::get", fields(app = %self.context.app_id))]
    async fn get(&mut self, key: String) -> Reply<Option<String>> {
        self.call("kv::get", |s, app| async move {
            require_service(s.kv(), "kv")?.get(app, &key).await
        })
        .await
    }

    #[instrument(level = "debug", skip_all, name = "kv::set", fields(app = %self.context.app_id))]
    async fn set(&mut self, key: String, value: String, ttl_ms: Option<u64>) -> Reply<()> {
        self.past_deadline()?;
        if ttl_ms == Some(0) {
            return Ok(Err(to_wit(ServiceError::invalid(
                "the time to live must be at least 1 millisecond",
            ))));
        }
        let ttl = ttl_ms.map(Duration::from_millis);
        self.call("kv::set", |s, app| async move {
            require_service(s.kv(), "kv")?
                .set(app, &key, &value, ttl)
                .await
        })
        .await
    }

    #[instrument(level = "debug", skip_all, name = "kv::delete", fields(app = %self.context.app_id))]
    async fn delete(&mut self, key: String) -> Reply<bool> {
        self.call("kv::delete", |s, app| async move {
            require_service(s.kv(), "kv")?.delete(app, &key).await
        })
        .await
    }

    #[instrument(level = "debug", skip_all, name = "kv::exists", fields(app = %self.context.app_id))]
    async fn exists(&mut self, key: String) -> Reply<bool> {
        self.call("kv::exists", |s, app| async move {
            require_service(s.kv(), "kv")?.exists(app, &key).await
        })
        .await
    }

    #[instrument(level = "debug", skip_all, name = "kv::list", fields(app = %self.context.app_id))]
    async fn list(
        &mut self,
        prefix: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Reply<kv::KeyPage> {
        let limit = limit.clamp(1, MAX_LIST_LIMIT);
        let page = self
            .call("kv::list", |s, app| async move {
                require_service(s.kv(), "kv")?
                    .list(app, &prefix, cursor.as_deref(), limit)
                    .await
            })
            .await?;
        Ok(page.map(|page| kv::KeyPage {
            keys: page.keys,
            cursor: page.cursor,
        }))
    }

    #[instrument(level = "debug", skip_all, name = "kv::incr", fields(app = %self.context.app_id))]
    async fn incr(&mut self, key: String, delta: i64) -> Reply<i64> {
        self.call("kv::incr", |s, app| async move {
            require_service(s.kv(), "kv")?.incr(app, &key, delta).await
        })
        .await
    }
}

fn document(document: Document) -> docs::Document {
    docs::Document {
        id: document.id,
        body: document.body,
    }
}

impl docs::Host for HostState {
    #[instrument(level = "debug", skip_all, name = "docs::insert", fields(app = %self.context.app_id))]
    async fn insert(&mut self, collection: String, body: String) -> Reply<String> {
        self.call("docs::insert", |s, app| async move {
            require_service(s.docs(), "docs")?
                .insert(app, &collection, &body)
                .await
        })
        .await
    }

    #[instrument(level = "debug", skip_all, name = "docs::get", fields(app = %self.context.app_id))]
    async fn get(&mut self, collection: String, id: String) -> Reply<Option<docs::Document>> {
        let found = self
            .call("docs::get", |s, app| async move {
                require_service(s.docs(), "docs")?
                    .get(app, &collection, &id)
                    .await
            })
            .await?;
        Ok(found.map(|d| d.map(document)))
    }

    #[instrument(level = "debug", skip_all, name = "docs::update", fields(app = %self.context.app_id))]
    async fn update(
        &mut self,
        collection: String,
        id: String,
        patch: String,
    ) -> Reply<Option<docs::Document>> {
        let updated = self
            .call("docs::update", |s, app| async move {
                require_service(s.docs(), "docs")?
                    .update(app, &collection, &id, &patch)
                    .await
            })
            .await?;
        Ok(updated.map(|d| d.map(document)))
    }

    #[instrument(level = "debug", skip_all, name = "docs::delete", fields(app = %self.context.app_id))]
    async fn delete(&mut self, collection: String, id: String) -> Reply<bool> {
        self.call("docs::delete", |s, app| async move {
            require_service(s.docs(), "docs")?
                .delete(app, &collection, &id)
                .await
        })
        .await
    }

    #[instrument(level = "debug", skip_all, name = "docs::find", fields(app = %self.context.app_id))]
    async fn find(&mut self, collection: String, query: docs::Query) -> Reply<docs::Page> {
        let query = match to_query(query) {
            Ok(query) => query,
            Err(error) => return Ok(Err(to_wit(error))),
        };
        let page = self
            .call("docs::find", |s, app| async move {
                require_service(s.docs(), "docs")?
                    .find(app, &collection, &query)
                    .await
            })
            .await?;
        Ok(page.map(|page| docs::Page {
            docs: page.docs.into_iter().map(document).collect(),
            cursor: page.cursor,
        }))
    }
}

/// The guest's query as the service's, with each filter value parsed: the
/// guest is not trusted to send JSON scalars.
fn to_query(query: docs::Query) -> Result<DocQuery, ServiceError> {
    let filters = query
        .filters
        .into_iter()
        .map(|f| {
            let value: serde_json::Value = serde_json::from_str(&f.value).map_err(|_| {
                ServiceError::invalid(format!("the value for field '{}' is not JSON", f.field))
            })?;
            Ok(DocFilter {
                field: f.field,
                op: match f.op {
                    docs::Op::Eq => DocOp::Eq,
                    docs::Op::Ne => DocOp::Ne,
                    docs::Op::Lt => DocOp::Lt,
                    docs::Op::Lte => DocOp::Lte,
                    docs::Op::Gt => DocOp::Gt,
                    docs::Op::Gte => DocOp::Gte,
                },
                value,
            })
        })
        .collect::<Result<Vec<_>, ServiceError>>()?;
    Ok(DocQuery {
        filters,
        sort: query.sort,
        descending: query.descending,
        limit: query.limit.clamp(1, MAX_FIND_LIMIT),
        cursor: query.cursor,
    })
}

impl http_client::Host for HostState {
    #[instrument(level = "debug", skip_all, name = "http_client::send", fields(app = %self.context.app_id))]
    async fn send(
        &mut self,
        request: http_client::Request,
    ) -> wasmtime::Result<Result<http_client::Response, http_client::HttpError>> {
        use http_client::HttpError;
        self.past_deadline()?;
        let outbound = self.outbound.clone();
        let counter = |outcome: &str| {
            shared::metrics::metrics()
                .outbound_http
                .with_label_values(&[outcome])
                .inc();
        };
        if self.http_calls >= outbound.max_calls() {
            counter("denied");
            return Ok(Err(HttpError::BudgetExceeded(format!(
                "this execution already made {} outbound requests, the most it may",
                outbound.max_calls()
            ))));
        }
        self.http_calls += 1;
        // The allow-list is read per call: an operator's change applies to
        // the next request, not the next deploy.
        let allowed = match self
            .call("http_client::send", |s, app| async move {
                require_service(s.http(), "http")?.allowed(app).await
            })
            .await?
        {
            Ok(allowed) => allowed,
            Err(error) => return Ok(Err(HttpError::ConnectionFailed(error.message))),
        };
        let deadline = self.deadline;
        match tokio::time::timeout_at(deadline.into(), outbound.send(&allowed, request)).await {
            Ok(result) => {
                counter(match &result {
                    Ok(_) => "ok",
                    Err(HttpError::NotAllowed(_) | HttpError::BlockedAddress(_)) => "denied",
                    Err(_) => "error",
                });
                Ok(result)
            }
            Err(_elapsed) => {
                counter("error");
                Err(Trap::Interrupt.into())
            }
        }
    }
}

impl env::Host for HostState {
    #[instrument(level = "debug", skip_all, name = "env::get", fields(app = %self.context.app_id))]
    async fn get(&mut self, name: String) -> Reply<Option<String>> {
        self.call("env::get", |s, app| async move {
            require_service(s.env(), "env")?.get(app, &name).await
        })
        .await
    }
}

/// The provider of an executor built without data services (benchmarks,
/// tests of the sandbox alone): it has none, so every call fails with
/// [`ServiceError::not_configured`].
#[derive(Debug, Default)]
pub struct NoServices;

impl ServiceProvider for NoServices {}
