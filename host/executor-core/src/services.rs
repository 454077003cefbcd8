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

use crate::bindings::picloud::platform::{docs, email, env, http_client, kv, queue, types, users};
use crate::host::HostState;

type Reply<T> = wasmtime::Result<Result<T, types::ServiceError>>;

impl HostState {
    /// Runs one service call (`import`, e.g. `kv::get`) for the calling
    /// app, bounded by the deadline, with its error in the WIT shape
    /// `error` makes; key-value and document calls are counted and timed in
    /// the metrics. The future owns what it needs (not `&self`, which is not
    /// `Sync`).
    fn bounded<T, E, F, C>(
        &self,
        import: &'static str,
        error: fn(ServiceError) -> E,
        call: C,
    ) -> impl Future<Output = wasmtime::Result<Result<T, E>>> + Send + use<T, E, F, C>
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
                Ok(result) => Ok(result.map_err(error)),
                Err(_elapsed) => Err(Trap::Interrupt.into()),
            }
        }
    }

    /// [`HostState::bounded`] for the services that report the shared
    /// `service-error`.
    fn call<T, F, C>(
        &self,
        import: &'static str,
        call: C,
    ) -> impl Future<Output = Reply<T>> + Send + use<T, F, C>
    where
        F: Future<Output = Result<T, ServiceError>> + Send,
        C: FnOnce(Arc<dyn ServiceProvider>, AppId) -> F,
    {
        self.bounded(import, to_wit, call)
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

impl queue::Host for HostState {
    #[instrument(level = "debug", skip_all, name = "queue::send", fields(app = %self.context.app_id))]
    async fn send(&mut self, name: String, payload: String, delay_ms: u64) -> Reply<String> {
        self.call("queue::send", |s, app| async move {
            require_service(s.queue(), "queue")?
                .send(app, &name, &payload, Duration::from_millis(delay_ms))
                .await
        })
        .await
    }
}

impl email::Host for HostState {
    #[instrument(level = "debug", skip_all, name = "email::send", fields(app = %self.context.app_id))]
    async fn send(&mut self, message: email::Outgoing) -> Reply<String> {
        let execution = self.context.execution_id;
        let outgoing = shared::OutgoingEmail {
            from: message.from,
            to: message.to,
            cc: message.cc,
            reply_to: message.reply_to,
            subject: message.subject,
            text: message.text,
            html: message.html,
        };
        self.call("email::send", |s, app| async move {
            require_service(s.email(), "email")?
                .send(app, execution, &outgoing)
                .await
        })
        .await
    }
}

type UsersReply<T> = wasmtime::Result<Result<T, users::UsersError>>;

/// A service error as `users::` reports it: its finer code when it has
/// one, else its kind.
fn to_users_error(error: ServiceError) -> users::UsersError {
    let code = error.code.unwrap_or_else(|| {
        match error.kind {
            ServiceErrorKind::InvalidArgument => "invalid_argument",
            ServiceErrorKind::QuotaExceeded => "quota_exceeded",
            ServiceErrorKind::WrongType => "wrong_type",
            ServiceErrorKind::Unavailable => "unavailable",
        }
        .to_owned()
    });
    users::UsersError {
        code,
        message: error.message,
        retry_after: error.retry_after,
    }
}

fn to_wit_user(user: shared::AppUser) -> users::User {
    users::User {
        id: user.id,
        email: user.email,
        verified: user.verified,
        disabled: user.disabled,
        metadata: user.metadata,
        created_at: user.created_at,
        last_sign_in_at: user.last_sign_in_at,
    }
}

fn to_wit_token(token: shared::OneTimeToken) -> users::OneTimeToken {
    users::OneTimeToken {
        token: token.token,
        user: to_wit_user(token.user),
        expires: token.expires,
        expires_in: token.expires_in,
    }
}

impl HostState {
    /// One `users::` call: [`HostState::bounded`] with the interface's own
    /// error, which keeps the finer code.
    fn users_call<T, F, C>(
        &self,
        import: &'static str,
        call: C,
    ) -> impl Future<Output = UsersReply<T>> + Send + use<T, F, C>
    where
        F: Future<Output = Result<T, ServiceError>> + Send,
        C: FnOnce(Arc<dyn ServiceProvider>, AppId) -> F,
    {
        self.bounded(import, to_users_error, call)
    }
}

/// Every call reaches the provider's [`shared::UsersService`] for the app of
/// the execution context; the client address for the sign-in throttle is
/// the one the orchestrator determined, not the guest's copy.
impl users::Host for HostState {
    #[instrument(level = "debug", skip_all, name = "users::signup", fields(app = %self.context.app_id))]
    async fn signup(&mut self, email: String, password: String) -> UsersReply<users::User> {
        let user = self
            .users_call("users::signup", |s, app| async move {
                require_service(s.users(), "users")?
                    .signup(app, &email, &password)
                    .await
            })
            .await?;
        Ok(user.map(to_wit_user))
    }

    #[instrument(level = "debug", skip_all, name = "users::login", fields(app = %self.context.app_id))]
    async fn login(&mut self, email: String, password: String) -> UsersReply<users::Session> {
        let client = self.context.client_ip;
        let session = self
            .users_call("users::login", |s, app| async move {
                require_service(s.users(), "users")?
                    .login(app, &email, &password, client)
                    .await
            })
            .await?;
        Ok(session.map(|s| users::Session {
            token: s.token,
            user: to_wit_user(s.user),
            expires: s.expires,
            expires_in: s.expires_in,
        }))
    }

    #[instrument(level = "debug", skip_all, name = "users::current", fields(app = %self.context.app_id))]
    async fn current(
        &mut self,
        authorization: Option<String>,
        cookie: Option<String>,
    ) -> UsersReply<Option<users::User>> {
        let user = self
            .users_call("users::current", |s, app| async move {
                require_service(s.users(), "users")?
                    .current(app, authorization.as_deref(), cookie.as_deref())
                    .await
            })
            .await?;
        Ok(user.map(|u| u.map(to_wit_user)))
    }

    #[instrument(level = "debug", skip_all, name = "users::logout", fields(app = %self.context.app_id))]
    async fn logout(&mut self, token: String) -> UsersReply<bool> {
        self.users_call("users::logout", |s, app| async move {
            require_service(s.users(), "users")?
                .logout(app, &token)
                .await
        })
        .await
    }

    #[instrument(level = "debug", skip_all, name = "users::get", fields(app = %self.context.app_id))]
    async fn get(&mut self, id: String) -> UsersReply<Option<users::User>> {
        let user = self
            .users_call("users::get", |s, app| async move {
                require_service(s.users(), "users")?.get(app, &id).await
            })
            .await?;
        Ok(user.map(|u| u.map(to_wit_user)))
    }

    #[instrument(level = "debug", skip_all, name = "users::update", fields(app = %self.context.app_id))]
    async fn update(&mut self, id: String, metadata: String) -> UsersReply<Option<users::User>> {
        let user = self
            .users_call("users::update", |s, app| async move {
                require_service(s.users(), "users")?
                    .update(app, &id, &metadata)
                    .await
            })
            .await?;
        Ok(user.map(|u| u.map(to_wit_user)))
    }

    #[instrument(level = "debug", skip_all, name = "users::start_reset", fields(app = %self.context.app_id))]
    async fn start_reset(&mut self, email: String) -> UsersReply<Option<users::OneTimeToken>> {
        let token = self
            .users_call("users::start_reset", |s, app| async move {
                require_service(s.users(), "users")?
                    .start_reset(app, &email)
                    .await
            })
            .await?;
        Ok(token.map(|t| t.map(to_wit_token)))
    }

    #[instrument(level = "debug", skip_all, name = "users::finish_reset", fields(app = %self.context.app_id))]
    async fn finish_reset(&mut self, token: String, password: String) -> UsersReply<users::User> {
        let user = self
            .users_call("users::finish_reset", |s, app| async move {
                require_service(s.users(), "users")?
                    .finish_reset(app, &token, &password)
                    .await
            })
            .await?;
        Ok(user.map(to_wit_user))
    }

    #[instrument(level = "debug", skip_all, name = "users::start_verify", fields(app = %self.context.app_id))]
    async fn start_verify(&mut self, user: String) -> UsersReply<Option<users::OneTimeToken>> {
        let token = self
            .users_call("users::start_verify", |s, app| async move {
                require_service(s.users(), "users")?
                    .start_verify(app, &user)
                    .await
            })
            .await?;
        Ok(token.map(|t| t.map(to_wit_token)))
    }

    #[instrument(level = "debug", skip_all, name = "users::finish_verify", fields(app = %self.context.app_id))]
    async fn finish_verify(&mut self, token: String) -> UsersReply<users::User> {
        let user = self
            .users_call("users::finish_verify", |s, app| async move {
                require_service(s.users(), "users")?
                    .finish_verify(app, &token)
                    .await
            })
            .await?;
        Ok(user.map(to_wit_user))
    }
}

/// The provider of an executor built without data services (benchmarks,
/// tests of the sandbox alone): it has none, so every call fails with
/// [`ServiceError::not_configured`].
#[derive(Debug, Default)]
pub struct NoServices;

impl ServiceProvider for NoServices {}
