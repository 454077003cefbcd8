//! Data-plane services across the network. An executor node has no database:
//! its scripts' `kv::`, `docs::`, `env::` and allow-list lookups become one
//! `POST /internal/v1/services` each to the manager, which runs them against
//! its stores ([`router`]). The app travels with every call, taken by the
//! executor from the execution context exactly as in one process.
//!
//! Both sides come from one table of operations at the end of this file
//! (`service_calls!`): adding an operation to a service is one entry there.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use shared::{
    AllowPattern, AppId, AppUser, DocPage, DocQuery, DocsService, Document, EmailService,
    EnvService, ExecutionId, HttpAllowList, Invocable, KvPage, KvService, OneTimeToken,
    OutgoingEmail, QueueService, ScriptsService, ServiceError, ServiceProvider, UserSession,
    UsersService, require_service,
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

/// How an argument of a service method travels: the executor's side turns
/// the borrowed argument into its owned wire form, the manager's side lends
/// it back out of the deserialized call.
trait Arg<'a, Wire>: Sized {
    fn to_wire(self) -> Wire;
    fn from_wire(wire: &'a Wire) -> Self;
}

impl<'a> Arg<'a, String> for &'a str {
    fn to_wire(self) -> String {
        self.to_owned()
    }
    fn from_wire(wire: &'a String) -> Self {
        wire
    }
}

impl<'a> Arg<'a, Option<String>> for Option<&'a str> {
    fn to_wire(self) -> Option<String> {
        self.map(str::to_owned)
    }
    fn from_wire(wire: &'a Option<String>) -> Self {
        wire.as_deref()
    }
}

impl<'a> Arg<'a, DocQuery> for &'a DocQuery {
    fn to_wire(self) -> DocQuery {
        self.clone()
    }
    fn from_wire(wire: &'a DocQuery) -> Self {
        wire
    }
}

impl<'a> Arg<'a, OutgoingEmail> for &'a OutgoingEmail {
    fn to_wire(self) -> OutgoingEmail {
        self.clone()
    }
    fn from_wire(wire: &'a OutgoingEmail) -> Self {
        wire
    }
}

/// A TTL travels as whole milliseconds.
impl Arg<'_, Option<u64>> for Option<Duration> {
    fn to_wire(self) -> Option<u64> {
        // Rounded up: a TTL never gets shorter on the way.
        self.map(|ttl| u64::try_from(ttl.as_micros().div_ceil(1000)).unwrap_or(u64::MAX))
    }
    fn from_wire(wire: &Option<u64>) -> Self {
        wire.map(Duration::from_millis)
    }
}

/// A delay travels as whole milliseconds, rounded up like a TTL.
impl Arg<'_, u64> for Duration {
    fn to_wire(self) -> u64 {
        u64::try_from(self.as_micros().div_ceil(1000)).unwrap_or(u64::MAX)
    }
    fn from_wire(wire: &u64) -> Self {
        Duration::from_millis(*wire)
    }
}

/// Numbers and other plain values travel as they are.
impl<T: Copy> Arg<'_, T> for T {
    fn to_wire(self) -> T {
        self
    }
    fn from_wire(wire: &T) -> Self {
        *wire
    }
}

/// Generates, from the table below, the wire enum `ServiceCall`, the
/// manager's `dispatch` and `RemoteServices`' trait impls, so the three
/// cannot disagree.
macro_rules! service_calls {
    ($(
        $service:ident: $Trait:ident {
            $(
                $Variant:ident => $method:ident(
                    $( $arg:ident: $Borrowed:ty => $Wire:ty ),* $(,)?
                ) -> $Output:ty;
            )*
        }
    )*) => {
        #[derive(Debug, Serialize, Deserialize)]
        #[serde(tag = "call", rename_all = "snake_case")]
        enum ServiceCall {
            $($( $Variant { $( $arg: $Wire ),* }, )*)*
        }

        /// Runs one call on the manager's services. A service the provider
        /// lacks is an error for the script, as in one process.
        async fn dispatch(services: &dyn ServiceProvider, request: ServiceRequest) -> ServiceReply {
            let app = request.app;
            match request.call {
                $($(
                    ServiceCall::$Variant { $( $arg ),* } => {
                        let service = require_service(services.$service(), stringify!($service))?;
                        let result = service
                            .$method(app, $( <$Borrowed as Arg<'_, $Wire>>::from_wire(&$arg) ),*)
                            .await;
                        reply(result)
                    }
                )*)*
            }
        }

        impl ServiceProvider for RemoteServices {
            $(
                fn $service(&self) -> Option<&dyn $Trait> {
                    Some(self)
                }
            )*
        }

        $(
            #[async_trait]
            impl $Trait for RemoteServices {
                $(
                    async fn $method(
                        &self,
                        app: AppId,
                        $( $arg: $Borrowed ),*
                    ) -> Result<$Output, ServiceError> {
                        let call = ServiceCall::$Variant {
                            $( $arg: <$Borrowed as Arg<'_, $Wire>>::to_wire($arg) ),*
                        };
                        self.call(app, call).await
                    }
                )*
            }
        )*
    };
}

// Every data-plane operation, once: `Variant => method(arg: Borrowed => Wire,
// …) -> Output;`, grouped under the `ServiceProvider` method and the trait of
// its service. A new operation is one entry; only an argument type not seen
// before also needs an `Arg` impl. The variant's snake_case name is the JSON
// `call` tag and each argument's name its JSON field, so renaming either
// changes the protocol (pinned by `every_call_keeps_its_wire_format`).
service_calls! {
    kv: KvService {
        KvGet => get(key: &str => String) -> Option<String>;
        KvSet => set(
            key: &str => String,
            value: &str => String,
            ttl_ms: Option<Duration> => Option<u64>,
        ) -> ();
        KvDelete => delete(key: &str => String) -> bool;
        KvExists => exists(key: &str => String) -> bool;
        KvList => list(
            prefix: &str => String,
            cursor: Option<&str> => Option<String>,
            limit: u32 => u32,
        ) -> KvPage;
        KvIncr => incr(key: &str => String, delta: i64 => i64) -> i64;
    }
    env: EnvService {
        EnvGet => get(name: &str => String) -> Option<String>;
    }
    docs: DocsService {
        DocsInsert => insert(collection: &str => String, body: &str => String) -> String;
        DocsGet => get(collection: &str => String, id: &str => String) -> Option<Document>;
        DocsUpdate => update(
            collection: &str => String,
            id: &str => String,
            patch: &str => String,
        ) -> Option<Document>;
        DocsDelete => delete(collection: &str => String, id: &str => String) -> bool;
        DocsFind => find(collection: &str => String, query: &DocQuery => DocQuery) -> DocPage;
    }
    http: HttpAllowList {
        HttpAllowed => allowed() -> Vec<AllowPattern>;
    }
    scripts: ScriptsService {
        ScriptsInvocable => invocable(name: &str => String) -> Option<Invocable>;
    }
    queue: QueueService {
        QueueSend => send(
            queue: &str => String,
            payload: &str => String,
            delay_ms: Duration => u64,
        ) -> String;
    }
    email: EmailService {
        EmailSend => send(
            execution: ExecutionId => ExecutionId,
            email: &OutgoingEmail => OutgoingEmail,
        ) -> String;
    }
    users: UsersService {
        UsersSignup => signup(email: &str => String, password: &str => String) -> AppUser;
        UsersLogin => login(
            email: &str => String,
            password: &str => String,
            client: Option<IpAddr> => Option<IpAddr>,
        ) -> UserSession;
        UsersCurrent => current(
            authorization: Option<&str> => Option<String>,
            cookie: Option<&str> => Option<String>,
        ) -> Option<AppUser>;
        UsersLogout => logout(token: &str => String) -> bool;
        UsersGet => get(id: &str => String) -> Option<AppUser>;
        UsersUpdate => update(id: &str => String, metadata: &str => String) -> Option<AppUser>;
        UsersStartReset => start_reset(email: &str => String) -> Option<OneTimeToken>;
        UsersFinishReset => finish_reset(token: &str => String, password: &str => String) -> AppUser;
        UsersStartVerify => start_verify(user: &str => String) -> Option<OneTimeToken>;
        UsersFinishVerify => finish_verify(token: &str => String) -> AppUser;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shared::{DocFilter, DocOp, ServiceErrorKind};

    use super::*;
    use crate::cluster::ClusterSecret;

    /// A manager with variables only: one small trait, so this fake does not
    /// grow with every new key-value or document operation.
    struct EnvOnly;

    impl ServiceProvider for EnvOnly {
        fn env(&self) -> Option<&dyn EnvService> {
            Some(self)
        }
    }

    #[async_trait]
    impl EnvService for EnvOnly {
        async fn get(&self, app: AppId, name: &str) -> Result<Option<String>, ServiceError> {
            match name {
                "UNSET" => Ok(None),
                "bad name" => Err(ServiceError::invalid("'bad name' is not a name")),
                _ => Ok(Some(format!("{app}/{name}"))),
            }
        }
    }

    /// Through the real endpoint: the call reaches the manager's service
    /// for the right app, results and errors come back as they were, and a
    /// service the manager lacks is `unavailable`, named.
    #[tokio::test]
    async fn calls_round_trip_through_the_manager() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let routes = router(Arc::new(EnvOnly));
        tokio::spawn(async move { axum::serve(listener, routes).await });
        let secret = ClusterSecret::new(&"s".repeat(ClusterSecret::MIN_LEN)).unwrap();
        let remote = RemoteServices::new(Peer::new(&base, secret).unwrap());
        let app = AppId(uuid::Uuid::from_u128(7));

        let env = remote.env().unwrap();
        assert_eq!(env.get(app, "X").await.unwrap(), Some(format!("{app}/X")));
        assert_eq!(env.get(app, "UNSET").await.unwrap(), None);
        assert_eq!(
            env.get(app, "bad name").await.unwrap_err(),
            ServiceError::invalid("'bad name' is not a name")
        );

        let error = remote.kv().unwrap().get(app, "k").await.unwrap_err();
        assert_eq!(error.kind, ServiceErrorKind::Unavailable);
        assert!(error.message.contains("(no kv service)"), "{error}");
        let error = remote.http().unwrap().allowed(app).await.unwrap_err();
        assert!(error.message.contains("(no http service)"), "{error}");
    }

    /// A TTL travels as whole milliseconds, rounded up so that it never
    /// gets shorter on the way.
    #[test]
    fn ttls_are_rounded_up_to_milliseconds() {
        let wire = |ttl| <Option<Duration> as Arg<'_, Option<u64>>>::to_wire(ttl);
        assert_eq!(wire(None), None);
        assert_eq!(wire(Some(Duration::from_millis(1500))), Some(1500));
        assert_eq!(wire(Some(Duration::from_micros(1500))), Some(2));
        assert_eq!(wire(Some(Duration::MAX)), Some(u64::MAX));
        let back = <Option<Duration> as Arg<'_, Option<u64>>>::from_wire(&Some(2));
        assert_eq!(back, Some(Duration::from_millis(2)));
    }

    /// Executors and the manager are separate builds in a cluster, so the
    /// JSON of every call is part of the protocol: this pins it.
    #[test]
    fn every_call_keeps_its_wire_format() {
        let app = AppId(uuid::Uuid::from_u128(7));
        let query = DocQuery {
            filters: vec![DocFilter {
                field: "qty".into(),
                op: DocOp::Gte,
                value: json!(2),
            }],
            sort: Some("qty".into()),
            descending: true,
            limit: 5,
            cursor: Some("c".into()),
        };
        let cases = [
            (
                ServiceCall::KvGet { key: "k".into() },
                json!({"call": "kv_get", "key": "k"}),
            ),
            (
                ServiceCall::KvSet {
                    key: "k".into(),
                    value: "1".into(),
                    ttl_ms: Some(1500),
                },
                json!({"call": "kv_set", "key": "k", "value": "1", "ttl_ms": 1500}),
            ),
            (
                ServiceCall::KvSet {
                    key: "k".into(),
                    value: "1".into(),
                    ttl_ms: None,
                },
                json!({"call": "kv_set", "key": "k", "value": "1", "ttl_ms": null}),
            ),
            (
                ServiceCall::KvDelete { key: "k".into() },
                json!({"call": "kv_delete", "key": "k"}),
            ),
            (
                ServiceCall::KvExists { key: "k".into() },
                json!({"call": "kv_exists", "key": "k"}),
            ),
            (
                ServiceCall::KvList {
                    prefix: "p/".into(),
                    cursor: Some("p/b".into()),
                    limit: 10,
                },
                json!({"call": "kv_list", "prefix": "p/", "cursor": "p/b", "limit": 10}),
            ),
            (
                ServiceCall::KvIncr {
                    key: "k".into(),
                    delta: -2,
                },
                json!({"call": "kv_incr", "key": "k", "delta": -2}),
            ),
            (
                ServiceCall::EnvGet { name: "N".into() },
                json!({"call": "env_get", "name": "N"}),
            ),
            (
                ServiceCall::DocsInsert {
                    collection: "c".into(),
                    body: "{}".into(),
                },
                json!({"call": "docs_insert", "collection": "c", "body": "{}"}),
            ),
            (
                ServiceCall::DocsGet {
                    collection: "c".into(),
                    id: "i".into(),
                },
                json!({"call": "docs_get", "collection": "c", "id": "i"}),
            ),
            (
                ServiceCall::DocsUpdate {
                    collection: "c".into(),
                    id: "i".into(),
                    patch: "{}".into(),
                },
                json!({"call": "docs_update", "collection": "c", "id": "i", "patch": "{}"}),
            ),
            (
                ServiceCall::DocsDelete {
                    collection: "c".into(),
                    id: "i".into(),
                },
                json!({"call": "docs_delete", "collection": "c", "id": "i"}),
            ),
            (
                ServiceCall::DocsFind {
                    collection: "c".into(),
                    query,
                },
                json!({"call": "docs_find", "collection": "c", "query": {
                    "filters": [{"field": "qty", "op": "gte", "value": 2}],
                    "sort": "qty", "descending": true, "limit": 5, "cursor": "c",
                }}),
            ),
            (ServiceCall::HttpAllowed {}, json!({"call": "http_allowed"})),
            (
                ServiceCall::QueueSend {
                    queue: "jobs".into(),
                    payload: "{}".into(),
                    delay_ms: 1500,
                },
                json!({"call": "queue_send", "queue": "jobs", "payload": "{}", "delay_ms": 1500}),
            ),
            (
                ServiceCall::EmailSend {
                    execution: ExecutionId(uuid::Uuid::from_u128(9)),
                    email: OutgoingEmail {
                        from: None,
                        to: vec!["a@b.io".into()],
                        cc: Vec::new(),
                        reply_to: Some("r@b.io".into()),
                        subject: "Hi".into(),
                        text: Some("Hello".into()),
                        html: None,
                    },
                },
                json!({"call": "email_send", "execution": "00000000-0000-0000-0000-000000000009",
                    "email": {"from": null, "to": ["a@b.io"], "cc": [], "reply_to": "r@b.io",
                        "subject": "Hi", "text": "Hello", "html": null}}),
            ),
            (
                ServiceCall::UsersLogin {
                    email: "a@b.io".into(),
                    password: "p".into(),
                    client: Some("192.0.2.1".parse().unwrap()),
                },
                json!({"call": "users_login", "email": "a@b.io", "password": "p", "client": "192.0.2.1"}),
            ),
            (
                ServiceCall::UsersCurrent {
                    authorization: Some("Bearer t".into()),
                    cookie: None,
                },
                json!({"call": "users_current", "authorization": "Bearer t", "cookie": null}),
            ),
            (
                ServiceCall::UsersFinishReset {
                    token: "t".into(),
                    password: "p".into(),
                },
                json!({"call": "users_finish_reset", "token": "t", "password": "p"}),
            ),
        ];
        for (call, mut expected) in cases {
            expected["app"] = json!(app.to_string());
            let sent = serde_json::to_value(ServiceRequest { app, call }).unwrap();
            assert_eq!(sent, expected);
            let read: ServiceRequest = serde_json::from_value(expected.clone()).unwrap();
            assert_eq!(read.app, app);
            assert_eq!(serde_json::to_value(read).unwrap(), expected);
        }
    }
}
