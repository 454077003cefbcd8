//! The data-plane services scripts reach through WIT imports, as traits.
//!
//! The executor's host functions call these with the app taken from the
//! execution context, never from an argument the script passed; the
//! implementations live outside `executor-core` (the manager's stores in the
//! all-in-one binary, a remote client in cluster mode) and are injected as one
//! [`ServiceProvider`].

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::AppId;

/// Why a service call failed. Scripts see `message`, prefixed with the
/// function they called (`kv::set: …`), as a Rhai error they can catch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{message}")]
pub struct ServiceError {
    /// What kind of failure, for callers that branch on it.
    pub kind: ServiceErrorKind,
    /// A sentence naming the problem, e.g. which quota and its value.
    pub message: String,
    /// A finer, stable code than `kind` where a service has one that
    /// scripts branch on (`invalid_credentials`, `email_taken` from
    /// `users::`); scripts see it as `e.code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// With `too_many_attempts`: seconds until a retry can succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

/// The kinds of [`ServiceError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceErrorKind {
    /// An argument is malformed: an empty or oversized key, a bad name.
    InvalidArgument,
    /// One of the app's quotas would be exceeded.
    QuotaExceeded,
    /// The stored value has the wrong type for the operation (`incr` on text).
    WrongType,
    /// The service cannot answer now (database down); retrying may help.
    Unavailable,
}

impl ServiceError {
    /// An [`ServiceErrorKind::InvalidArgument`] error.
    pub fn invalid(message: impl Into<String>) -> Self {
        ServiceError::of(ServiceErrorKind::InvalidArgument, message)
    }

    /// An error of `kind` with no finer code.
    fn of(kind: ServiceErrorKind, message: impl Into<String>) -> Self {
        ServiceError {
            kind,
            message: message.into(),
            code: None,
            retry_after: None,
        }
    }

    /// An [`ServiceErrorKind::InvalidArgument`] error with a finer `code`
    /// for scripts to branch on.
    pub fn coded(code: &str, message: impl Into<String>) -> Self {
        ServiceError {
            code: Some(code.to_owned()),
            ..ServiceError::invalid(message)
        }
    }

    /// A [`ServiceErrorKind::QuotaExceeded`] error.
    pub fn quota(message: impl Into<String>) -> Self {
        ServiceError::of(ServiceErrorKind::QuotaExceeded, message)
    }

    /// A [`ServiceErrorKind::WrongType`] error.
    pub fn wrong_type(message: impl Into<String>) -> Self {
        ServiceError::of(ServiceErrorKind::WrongType, message)
    }

    /// A [`ServiceErrorKind::Unavailable`] error. The detail stays in the
    /// server's log; scripts get a generic sentence.
    pub fn unavailable() -> Self {
        ServiceError::of(
            ServiceErrorKind::Unavailable,
            "the service is unavailable, try again later",
        )
    }

    /// A [`ServiceErrorKind::Unavailable`] error whose `message` says why
    /// (something the operator has not set up), for the script to show.
    pub fn unavailable_because(message: impl Into<String>) -> Self {
        ServiceError::of(ServiceErrorKind::Unavailable, message)
    }

    /// A [`ServiceErrorKind::Unavailable`] error for a service the
    /// [`ServiceProvider`] does not have, named by its Rhai module (`kv`).
    pub fn not_configured(service: &str) -> Self {
        // The first half is what executors without data services have
        // always said; scripts and tests may match on it.
        ServiceError::of(
            ServiceErrorKind::Unavailable,
            format!("no data services are configured on this executor (no {service} service)"),
        )
    }
}

/// Most keys one [`KvService::list`] page holds, whatever was asked for.
/// Defined here because three places enforce it and must agree: the
/// executor clamps what a script asks, the admin API refuses more, the
/// manager's store caps what reaches it.
pub const MAX_LIST_LIMIT: u32 = 1000;

/// Most documents one [`DocsService::find`] page holds, whatever was asked
/// for; enforced in the same three places as [`MAX_LIST_LIMIT`].
pub const MAX_FIND_LIMIT: u32 = 1000;

/// One page of keys from [`KvService::list`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvPage {
    /// Keys in byte order.
    pub keys: Vec<String>,
    /// Pass back to get the next page; `None` on the last page.
    pub cursor: Option<String>,
}

/// Per-app key-value storage. Values are JSON text; the guest converts them
/// from and to Rhai values.
#[async_trait]
pub trait KvService: Send + Sync {
    /// The value of `key`, unless absent or expired.
    async fn get(&self, app: AppId, key: &str) -> Result<Option<String>, ServiceError>;
    /// Stores `value` (JSON text) under `key`, replacing any value and TTL;
    /// with `ttl`, the key disappears that long from now.
    async fn set(
        &self,
        app: AppId,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<(), ServiceError>;
    /// Removes `key`; whether it existed.
    async fn delete(&self, app: AppId, key: &str) -> Result<bool, ServiceError>;
    /// Whether `key` holds a value that has not expired.
    async fn exists(&self, app: AppId, key: &str) -> Result<bool, ServiceError>;
    /// Keys starting with `prefix`, in byte order, after `cursor` (a value
    /// a previous page returned), at most `limit` (up to [`MAX_LIST_LIMIT`])
    /// of them.
    async fn list(
        &self,
        app: AppId,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KvPage, ServiceError>;
    /// Adds `delta` to the integer under `key` (absent counts as 0) in one
    /// atomic step; the new value. The key's TTL is kept.
    async fn incr(&self, app: AppId, key: &str, delta: i64) -> Result<i64, ServiceError>;
}

/// Per-app variables and secrets (`env::get` in scripts).
#[async_trait]
pub trait EnvService: Send + Sync {
    /// The value of variable or secret `name`, decrypted; `None` if unset.
    async fn get(&self, app: AppId, name: &str) -> Result<Option<String>, ServiceError>;
}

/// Everything a script can reach beyond its own request, one service each.
/// Called once per host call, so an implementation only hands out a
/// reference. A provider implements the services it has; the others stay
/// `None` and every call to them fails with [`ServiceError::not_configured`]
/// (an executor without data services, a test fake of one service).
pub trait ServiceProvider: Send + Sync {
    /// Key-value storage (`kv::…`).
    fn kv(&self) -> Option<&dyn KvService> {
        None
    }
    /// Variables and secrets (`env::…`).
    fn env(&self) -> Option<&dyn EnvService> {
        None
    }
    /// Document collections (`docs::…`).
    fn docs(&self) -> Option<&dyn DocsService> {
        None
    }
    /// Outbound HTTP allow-lists (`http::…`).
    fn http(&self) -> Option<&dyn HttpAllowList> {
        None
    }
    /// The app's scripts, for `invoke(…)`.
    fn scripts(&self) -> Option<&dyn ScriptsService> {
        None
    }
    /// The app's end-user accounts (`users::…`).
    fn users(&self) -> Option<&dyn UsersService> {
        None
    }
    /// The app's queues (`queue::send`).
    fn queue(&self) -> Option<&dyn QueueService> {
        None
    }
    /// Outgoing mail (`email::send`).
    fn email(&self) -> Option<&dyn EmailService> {
        None
    }
}

/// A message a script asked `email::send` to deliver.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingEmail {
    /// The sender; `None`: the server's default sender.
    pub from: Option<String>,
    /// Recipients.
    pub to: Vec<String>,
    /// Copy recipients.
    pub cc: Vec<String>,
    /// Where replies go.
    pub reply_to: Option<String>,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: Option<String>,
    /// The HTML body.
    pub html: Option<String>,
}

/// Outgoing mail: `email::send` checks a message and stores it in an
/// outbox; the manager delivers it after the script has returned
/// (docs/scripting.md, "Email").
#[async_trait]
pub trait EmailService: Send + Sync {
    /// Checks `email` (addresses, a sender at one of the app's domains, the
    /// app's hourly quota) and queues it for delivery, filed under the
    /// execution that sent it; the message id.
    async fn send(
        &self,
        app: AppId,
        execution: crate::ExecutionId,
        email: &OutgoingEmail,
    ) -> Result<String, ServiceError>;
}

/// Per-app queues: `queue::send` stores a message that the queue's trigger
/// runs a script for, later, at least once (docs/scripting.md, "Queues").
#[async_trait]
pub trait QueueService: Send + Sync {
    /// Sends `payload` (JSON text) to the app's queue `queue`, to run no
    /// sooner than `delay` from now; the message id.
    async fn send(
        &self,
        app: AppId,
        queue: &str,
        payload: &str,
        delay: Duration,
    ) -> Result<String, ServiceError>;
}

/// One of an app's end-user accounts as scripts see it. Never carries the
/// password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppUser {
    /// UUID.
    pub id: String,
    /// Trimmed and lower-cased: unique in the app.
    pub email: String,
    /// Whether a verification token was redeemed.
    pub verified: bool,
    /// Whether an admin disabled the account (it cannot sign in).
    pub disabled: bool,
    /// A JSON object the app's scripts keep, as text.
    pub metadata: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; `None` before the first sign-in.
    pub last_sign_in_at: Option<String>,
}

/// A session [`UsersService::login`] started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSession {
    /// The bearer token: shown once, only its hash is stored.
    pub token: String,
    /// Who signed in.
    pub user: AppUser,
    /// When the session ends, RFC 3339.
    pub expires: String,
    /// Seconds from now until then (a cookie's `Max-Age`).
    pub expires_in: u64,
}

/// A single-use token for a password reset or an email verification, for
/// the script to deliver to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OneTimeToken {
    /// The token: shown once, only its hash is stored.
    pub token: String,
    /// Whose account it is for.
    pub user: AppUser,
    /// When it stops working, RFC 3339.
    pub expires: String,
    /// Seconds from now until then.
    pub expires_in: u64,
}

/// Per-app end-user accounts (`users::…` in scripts): sign-up, sign-in,
/// sessions, password resets and email verification. Errors a script
/// branches on carry a [`ServiceError::code`]: `invalid_email`,
/// `weak_password`, `email_taken`, `invalid_credentials`,
/// `account_disabled`, `too_many_attempts` (with `retry_after`),
/// `invalid_token`, `invalid_metadata`.
#[async_trait]
pub trait UsersService: Send + Sync {
    /// Creates an account.
    async fn signup(
        &self,
        app: AppId,
        email: &str,
        password: &str,
    ) -> Result<AppUser, ServiceError>;
    /// Checks the password and starts a session; `client` is the request's
    /// client address, which the sign-in throttle counts failures against.
    async fn login(
        &self,
        app: AppId,
        email: &str,
        password: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<UserSession, ServiceError>;
    /// The user of a live session: the token of an `Authorization: Bearer`
    /// header, else the app's session cookie out of a `Cookie` header.
    async fn current(
        &self,
        app: AppId,
        authorization: Option<&str>,
        cookie: Option<&str>,
    ) -> Result<Option<AppUser>, ServiceError>;
    /// Ends the session of `token`; whether there was one.
    async fn logout(&self, app: AppId, token: &str) -> Result<bool, ServiceError>;
    /// The account with `id`.
    async fn get(&self, app: AppId, id: &str) -> Result<Option<AppUser>, ServiceError>;
    /// Replaces the account's metadata (a JSON object as text).
    async fn update(
        &self,
        app: AppId,
        id: &str,
        metadata: &str,
    ) -> Result<Option<AppUser>, ServiceError>;
    /// A password-reset token for the account with `email`; `None` when
    /// there is no such (enabled) account.
    async fn start_reset(
        &self,
        app: AppId,
        email: &str,
    ) -> Result<Option<OneTimeToken>, ServiceError>;
    /// Redeems a reset token: sets the password, ends every session.
    async fn finish_reset(
        &self,
        app: AppId,
        token: &str,
        password: &str,
    ) -> Result<AppUser, ServiceError>;
    /// A verification token for the account with id or email `user`;
    /// `None` when there is no such account.
    async fn start_verify(
        &self,
        app: AppId,
        user: &str,
    ) -> Result<Option<OneTimeToken>, ServiceError>;
    /// Redeems a verification token: the account is verified.
    async fn finish_verify(&self, app: AppId, token: &str) -> Result<AppUser, ServiceError>;
}

/// A script `invoke` can run: everything an execution of it needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invocable {
    /// The script.
    pub script_id: crate::ScriptId,
    /// Its name.
    pub name: String,
    /// The version `source` is.
    pub version: i64,
    /// Rhai source.
    pub source: std::sync::Arc<str>,
    /// The modules it imports, transitively.
    pub modules: Vec<crate::ModuleSource>,
    /// The app's limits.
    pub limits: crate::Limits,
}

/// The app's scripts by name (`invoke(…)` in scripts).
#[async_trait]
pub trait ScriptsService: Send + Sync {
    /// The app's script called `name`, ready to run; `None` if the app has
    /// no such script.
    async fn invocable(&self, app: AppId, name: &str) -> Result<Option<Invocable>, ServiceError>;
}

/// `service` as one of a [`ServiceProvider`]'s methods returned it, or the
/// error a script sees when the provider lacks it; `name` is the Rhai module
/// (`kv`, `env`, …).
pub fn require_service<'a, S: ?Sized>(
    service: Option<&'a S>,
    name: &str,
) -> Result<&'a S, ServiceError> {
    service.ok_or_else(|| ServiceError::not_configured(name))
}

/// A comparison in a [`DocQuery`] filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocOp {
    /// Equal (same JSON type and value).
    Eq,
    /// Not equal, or the field is missing.
    Ne,
    /// Less than; numbers with numbers, strings with strings (byte order).
    Lt,
    /// Less than or equal.
    Lte,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Gte,
}

/// One condition on a top-level field of the documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocFilter {
    /// The field's name (top level of the document).
    pub field: String,
    /// How the field compares to `value`.
    pub op: DocOp,
    /// A JSON scalar: string, number, boolean or null (null only with `eq`/`ne`).
    pub value: serde_json::Value,
}

/// What [`DocsService::find`] returns: filters (all must hold), an order,
/// and a page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DocQuery {
    /// Conditions that must all hold.
    pub filters: Vec<DocFilter>,
    /// Sort by this top-level field; `None` sorts by id, which is insertion order.
    pub sort: Option<String>,
    /// Sort descending instead of ascending.
    pub descending: bool,
    /// Most documents to return (the service caps it at [`MAX_FIND_LIMIT`]).
    pub limit: u32,
    /// From a previous page's [`DocPage::cursor`].
    pub cursor: Option<String>,
}

/// A stored document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// The id the service generated at insert.
    pub id: String,
    /// The document, a JSON object as text (without the id).
    pub body: String,
}

/// One page of [`DocsService::find`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocPage {
    /// The matching documents, in the query's order.
    pub docs: Vec<Document>,
    /// Pass back in [`DocQuery::cursor`] for the next page; `None` on the last.
    pub cursor: Option<String>,
}

/// Per-app collections of JSON documents (`docs::…` in scripts).
#[async_trait]
pub trait DocsService: Send + Sync {
    /// Stores a new document (a JSON object) in `collection`; its new id.
    async fn insert(
        &self,
        app: AppId,
        collection: &str,
        body: &str,
    ) -> Result<String, ServiceError>;
    /// The document with `id`, if it exists.
    async fn get(
        &self,
        app: AppId,
        collection: &str,
        id: &str,
    ) -> Result<Option<Document>, ServiceError>;
    /// Merges `patch` (a JSON object) into the document, RFC 7386 style: a
    /// field set to null is removed. The updated document, or `None` if there
    /// is no document with `id`.
    async fn update(
        &self,
        app: AppId,
        collection: &str,
        id: &str,
        patch: &str,
    ) -> Result<Option<Document>, ServiceError>;
    /// Removes the document; whether it existed.
    async fn delete(&self, app: AppId, collection: &str, id: &str) -> Result<bool, ServiceError>;
    /// The documents of `collection` that match `query`, one page.
    async fn find(
        &self,
        app: AppId,
        collection: &str,
        query: &DocQuery,
    ) -> Result<DocPage, ServiceError>;
}

/// Per-app outbound HTTP allow-lists (`http::…` in scripts). The executor
/// sends the requests itself; this only says where an app may send them.
#[async_trait]
pub trait HttpAllowList: Send + Sync {
    /// The app's allow-list (empty: outbound HTTP denied).
    async fn allowed(&self, app: AppId) -> Result<Vec<crate::AllowPattern>, ServiceError>;
}
