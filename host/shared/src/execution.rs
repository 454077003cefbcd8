//! One script execution: what goes in, what comes out, and the trait that runs it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{AppId, ExecutionId, Limits, RouteId, ScriptId};

/// The HTTP request handed to a script (`request` in Rhai).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptRequest {
    /// Upper-case method.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Decoded query pairs in request order.
    pub query: Vec<(String, String)>,
    /// Headers with lower-case names; repeats joined by `, `.
    pub headers: Vec<(String, String)>,
    /// Route parameters (`:name` segments; a trailing `*` as `wildcard`).
    pub params: Vec<(String, String)>,
    /// `{name}` labels captured from the host by the app's domain claim.
    pub host_params: Vec<(String, String)>,
    /// Raw body bytes.
    #[serde(with = "crate::wire::base64_bytes")]
    pub body: Vec<u8>,
    /// The URL as the client used it (scheme and host from a trusted
    /// proxy's `X-Forwarded-*`); empty for runs no client made (cron).
    #[serde(default)]
    pub url: String,
    /// The client's address (a trusted proxy's `X-Forwarded-For`); empty
    /// when there is no client.
    #[serde(default)]
    pub client_ip: String,
    /// The request id (`x-request-id`): a trusted proxy's, or one the
    /// server generated. Scripts read it as `request.id`; the execution
    /// record and the server's log lines carry the same id.
    #[serde(default)]
    pub id: String,
    /// `request.locals`: a JSON object the app's interceptors filled in for
    /// the steps after them; empty for none (the script sees `#{}`).
    #[serde(default)]
    pub locals: String,
}

/// The response a script produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptResponse {
    /// Status code, 200..=599 (`shared::response::SCRIPT_STATUSES`).
    pub status: u16,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    #[serde(with = "crate::wire::base64_bytes")]
    pub body: Vec<u8>,
}

/// One of the app's scripts handed to an execution so that it can
/// `import` it by name: the script's imports, transitively, and never
/// another app's scripts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleSource {
    /// The script's name, the path in `import "name"`.
    pub name: String,
    /// The script.
    pub script_id: ScriptId,
    /// The version `source` is.
    pub version: i64,
    /// Rhai source; shared with the routing cache.
    pub source: Arc<str>,
}

impl ModuleSource {
    /// What the execution record keeps of it.
    pub fn usage(&self) -> ModuleUse {
        ModuleUse {
            name: self.name.clone(),
            script_id: self.script_id,
            version: self.version,
        }
    }
}

/// A module an execution was given, as its record lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleUse {
    /// The module's (script's) name.
    pub name: String,
    /// The script.
    pub script_id: ScriptId,
    /// Its version then.
    pub version: i64,
}

/// An `import` statement found in a script at upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRef {
    /// The imported path: a script name in the same app.
    pub name: String,
    /// Where the statement is, when known.
    pub position: Option<Position>,
}

/// Whether a script answers a request or guards it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionKind {
    /// A route's (or a direct call's) script: its value is the response.
    #[default]
    Handler,
    /// An interceptor: `()` lets the request go on
    /// ([`ExecutionOutcome::next`]), any other value answers it.
    Interceptor,
}

/// Everything the executor needs for one run. The app and script ids travel
/// with it so that every host service scopes itself to the calling app.
/// Serializable: in cluster mode it travels to a remote executor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecutionRequest {
    /// The id its record will have, chosen by the caller: what a host
    /// service keeps per execution (the mail it sent) is filed under it.
    pub execution_id: ExecutionId,
    /// The app the script belongs to; host services resolve data through it.
    pub app_id: AppId,
    /// The script being run.
    pub script_id: ScriptId,
    /// The route that matched, if the call came through one.
    pub route_id: Option<RouteId>,
    /// Rhai source; shared so that the routing cache does not copy it per call.
    pub source: Arc<str>,
    /// The request as the script sees it.
    pub request: ScriptRequest,
    /// Limits for this run (already capped by operator maxima).
    pub limits: Limits,
    /// What started the run; scripts read it as `request.trigger`.
    pub trigger: Trigger,
    /// The script's name (for `invoke` cycle messages and logs).
    #[serde(default)]
    pub name: String,
    /// The modules the script may import (its imports, transitively);
    /// shared with the routing cache.
    #[serde(default)]
    pub modules: Arc<[ModuleSource]>,
    /// Handler or interceptor.
    #[serde(default)]
    pub kind: ExecutionKind,
}

/// A line-and-column position in script source, both from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub column: u32,
}

/// A failure the interpreter reported, with where it happened when known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptFailure {
    /// The interpreter's message.
    pub message: String,
    /// Source position, when known.
    pub position: Option<Position>,
}

impl std::fmt::Display for ScriptFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.position {
            Some(p) => write!(f, "{} (line {}, column {})", self.message, p.line, p.column),
            None => f.write_str(&self.message),
        }
    }
}

/// Which of the interpreter's own safety limits tripped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// Interpreter operation count.
    Operations,
    /// Nested function calls (runaway recursion).
    CallDepth,
    /// Expression nesting.
    ExpressionDepth,
    /// String length.
    StringSize,
    /// Array or blob length.
    ArraySize,
    /// Object-map size.
    MapSize,
}

impl LimitKind {
    /// Words for messages, e.g. "call depth".
    pub fn describe(self) -> &'static str {
        match self {
            LimitKind::Operations => "operation count",
            LimitKind::CallDepth => "call depth",
            LimitKind::ExpressionDepth => "expression depth",
            LimitKind::StringSize => "string size",
            LimitKind::ArraySize => "array size",
            LimitKind::MapSize => "object map size",
        }
    }
}

/// Why an execution did not produce a response. Each variant has a stable
/// `code()` and HTTP status (docs/api.md, "Script errors").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionError {
    /// The source does not compile.
    #[error("compile error: {0}")]
    Compile(ScriptFailure),
    /// The script raised an error.
    #[error("runtime error: {0}")]
    Runtime(ScriptFailure),
    /// One of the interpreter's safety limits tripped.
    #[error("the script reached its {} limit: {failure}", kind.describe())]
    ScriptLimit {
        /// Which limit.
        kind: LimitKind,
        /// The interpreter's report.
        failure: ScriptFailure,
    },
    /// The script's value cannot become a response.
    #[error("invalid response: {0}")]
    BadResponse(String),
    /// The fuel budget ran out (CPU limit).
    #[error("the script used all of its {budget} units of fuel")]
    FuelExhausted {
        /// The budget that ran out.
        budget: u64,
    },
    /// The wall-clock deadline passed.
    #[error("the script ran past its {deadline_ms} ms deadline")]
    DeadlineExceeded {
        /// The deadline in milliseconds.
        deadline_ms: u64,
    },
    /// The guest tried to grow its memory past the cap.
    #[error("the script needed more than its {limit_bytes} bytes of memory")]
    MemoryLimit {
        /// The cap in bytes.
        limit_bytes: u64,
    },
    /// The response body was larger than allowed.
    #[error("the response body ({size} bytes) is larger than the {limit} byte limit")]
    ResponseTooLarge {
        /// Actual size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The executor is at capacity; retrying later may succeed.
    #[error("the executor is busy")]
    Overloaded,
    /// The app holds its whole share of the executor's slots and its queue
    /// is full or waited too long; other apps are still served.
    #[error("the app is using its whole share of the executor")]
    AppOverloaded,
    /// No executor could be reached (cluster mode: every executor node is
    /// down or unreachable); retrying later may succeed.
    #[error("no executor is reachable")]
    Unavailable,
    /// A host-side failure (a bug or a broken installation); details are logged
    /// by the executor, never sent to the client.
    #[error("internal executor error")]
    Internal,
}

impl ExecutionError {
    /// Stable machine-readable code, used in JSON errors and the execution log.
    pub fn code(&self) -> &'static str {
        match self {
            ExecutionError::Compile(_) => "compile_error",
            ExecutionError::Runtime(_) => "runtime_error",
            ExecutionError::ScriptLimit { kind, .. } => match kind {
                LimitKind::Operations => "operations_exceeded",
                LimitKind::CallDepth => "call_depth_exceeded",
                LimitKind::ExpressionDepth => "expression_too_deep",
                LimitKind::StringSize | LimitKind::ArraySize | LimitKind::MapSize => {
                    "data_too_large"
                }
            },
            ExecutionError::BadResponse(_) => "invalid_response",
            ExecutionError::FuelExhausted { .. } => "fuel_exhausted",
            ExecutionError::DeadlineExceeded { .. } => "deadline_exceeded",
            ExecutionError::MemoryLimit { .. } => "memory_limit",
            ExecutionError::ResponseTooLarge { .. } => "response_too_large",
            ExecutionError::Overloaded => "executor_overloaded",
            ExecutionError::AppOverloaded => "app_overloaded",
            ExecutionError::Unavailable => "executor_unavailable",
            ExecutionError::Internal => "internal_error",
        }
    }

    /// The HTTP status a caller of the script's endpoint receives.
    ///
    /// 500 for faults of the script (errors and limits), 502 when its response
    /// is unusable, 503 when the executor is saturated, 504 past the deadline.
    pub fn http_status(&self) -> u16 {
        match self {
            ExecutionError::BadResponse(_) | ExecutionError::ResponseTooLarge { .. } => 502,
            ExecutionError::Overloaded
            | ExecutionError::AppOverloaded
            | ExecutionError::Unavailable => 503,
            ExecutionError::DeadlineExceeded { .. } => 504,
            _ => 500,
        }
    }

    /// Source position, for the errors that have one.
    pub fn position(&self) -> Option<Position> {
        match self {
            ExecutionError::Compile(f)
            | ExecutionError::Runtime(f)
            | ExecutionError::ScriptLimit { failure: f, .. } => f.position,
            _ => None,
        }
    }
}

/// Severity of a script log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// `log::debug` and `debug(..)`.
    Debug,
    /// `log::info` and `print(..)`.
    Info,
    /// `log::warn`.
    Warn,
    /// `log::error`.
    Error,
}

impl LogLevel {
    /// Lower-case name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// One line a script logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Severity.
    pub level: LogLevel,
    /// The text.
    pub message: String,
}

/// The result of one execution plus what it cost; feeds the execution log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecutionOutcome {
    /// The response, or why there is none.
    pub outcome: Result<ScriptResponse, ExecutionError>,
    /// Fuel consumed.
    pub fuel_used: u64,
    /// Wall time including instantiation.
    pub duration: Duration,
    /// Captured log lines (capped by the limits).
    pub logs: Vec<LogLine>,
    /// Log lines dropped because a cap was reached.
    pub logs_dropped: u32,
    /// For an interceptor that let the request go on: `request.locals` as
    /// it left them (a JSON object). `outcome` then holds an empty `204`
    /// that nobody is sent.
    #[serde(default)]
    pub next: Option<String>,
    /// The executions this one started with `invoke`, in order.
    #[serde(default)]
    pub children: Vec<ChildExecution>,
}

impl ExecutionOutcome {
    /// An execution that did not run, for `error`.
    pub fn failed(error: ExecutionError) -> Self {
        ExecutionOutcome {
            outcome: Err(error),
            fuel_used: 0,
            duration: Duration::ZERO,
            logs: Vec::new(),
            logs_dropped: 0,
            next: None,
            children: Vec::new(),
        }
    }

    /// The HTTP status its caller gets (a script error's status on failure).
    pub fn status(&self) -> u16 {
        match &self.outcome {
            Ok(response) => response.status,
            Err(error) => error.http_status(),
        }
    }
}

/// An execution another one started with `invoke`: recorded as a child of
/// the caller's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildExecution {
    /// The child's record id.
    pub id: ExecutionId,
    /// The script invoked.
    pub script_id: ScriptId,
    /// Its version.
    pub script_version: i64,
    /// The modules it was given.
    pub modules: Vec<ModuleUse>,
    /// The request's method.
    pub method: String,
    /// The request's path.
    pub path: String,
    /// The request's headers, as the caller set them.
    pub request_headers: Vec<(String, String)>,
    /// When it started.
    pub started_at: std::time::SystemTime,
    /// Bytes of response body the caller received.
    pub response_bytes: u64,
    /// How it ended (the body is already handed to the caller).
    pub outcome: ExecutionOutcome,
}

/// How the orchestrator (and the manager, to check uploads) reaches an executor.
/// The in-process implementation lives in `executor-core`; a remote one would be
/// an HTTP client. Cluster mode is a swap of this object, not a rewrite.
#[async_trait]
pub trait ExecutorClient: Send + Sync + 'static {
    /// Runs one script to completion (or to a limit). Never panics on script
    /// behaviour; every failure is an [`ExecutionError`] in the outcome.
    async fn execute(&self, request: ExecutionRequest) -> ExecutionOutcome;

    /// Compiles `source` without running it; its `import` statements. A
    /// syntax error comes back as [`ExecutionError::Compile`] with its
    /// position; other variants mean the executor could not check at all.
    /// Called on every script upload.
    async fn check(&self, source: &str) -> Result<Vec<ImportRef>, ExecutionError>;
}

/// What started an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// A request to one of the app's routes.
    Http,
    /// `/api/v1/execute/{id}`: an authenticated call by script id.
    Direct,
    /// A test request from the dashboard's run panel
    /// (`POST /api/v1/admin/scripts/{id}/run`).
    Test,
    /// A cron trigger of the app, at one of its scheduled times.
    Cron,
    /// Another script of the app called `invoke`.
    Invoke,
    /// An interceptor guarding one of the app's routes.
    Interceptor,
    /// A message of one of the app's queues (`queue::send`).
    Queue,
    /// Inbound mail to one of the app's addresses (an email trigger).
    Email,
}

impl Trigger {
    /// Lower-case name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Http => "http",
            Trigger::Direct => "direct",
            Trigger::Test => "test",
            Trigger::Cron => "cron",
            Trigger::Invoke => "invoke",
            Trigger::Interceptor => "interceptor",
            Trigger::Queue => "queue",
            Trigger::Email => "email",
        }
    }
}

/// One row of the execution log, as the orchestrator reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecutionRecord {
    /// The record's id, chosen by whoever ran the script so it can point
    /// the caller at the record.
    pub id: ExecutionId,
    /// The app the script belongs to.
    pub app_id: AppId,
    /// The script that ran.
    pub script_id: ScriptId,
    /// The route that matched, if any.
    pub route_id: Option<RouteId>,
    /// The version of the script's source that ran (0: unknown).
    #[serde(default)]
    pub script_version: i64,
    /// What started it.
    pub trigger: Trigger,
    /// Request method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// The `Host` the request came in on (empty for cron runs).
    #[serde(default)]
    pub host: String,
    /// The request id (`x-request-id`).
    #[serde(default)]
    pub request_id: String,
    /// Request headers, lower-case names, with `authorization`, `cookie`
    /// and the configured secret headers' values redacted
    /// ([`redact_headers`]).
    #[serde(default)]
    pub request_headers: Vec<(String, String)>,
    /// The HTTP status the caller received.
    pub status: u16,
    /// Bytes of the response body the caller received (for `HEAD`, the
    /// length a `GET` would have had).
    #[serde(default)]
    pub response_bytes: u64,
    /// When it started.
    pub started_at: std::time::SystemTime,
    /// The result and its costs. The response body may already have been
    /// moved out into the HTTP response: the log never stores bodies.
    pub outcome: ExecutionOutcome,
    /// The record this one ran under: an `invoke` caller, or the request
    /// an interceptor guarded.
    #[serde(default)]
    pub parent_id: Option<ExecutionId>,
    /// The modules the execution was given.
    #[serde(default)]
    pub modules: Vec<ModuleUse>,
    /// The interceptors that ran before the route's script, in order.
    #[serde(default)]
    pub interceptors: Vec<InterceptorRun>,
}

impl ExecutionRecord {
    /// This record followed by one for every execution it started with
    /// `invoke`, at any depth, each pointing at its caller.
    pub fn flatten(mut self) -> Vec<ExecutionRecord> {
        let mut records = Vec::new();
        let children = std::mem::take(&mut self.outcome.children);
        let parent = self.id;
        let (app_id, host, request_id) = (self.app_id, self.host.clone(), self.request_id.clone());
        records.push(self);
        for child in children {
            let record = ExecutionRecord {
                id: child.id,
                app_id,
                script_id: child.script_id,
                route_id: None,
                script_version: child.script_version,
                trigger: Trigger::Invoke,
                method: child.method,
                path: child.path,
                host: host.clone(),
                request_id: request_id.clone(),
                request_headers: redact_headers(&child.request_headers, &[]),
                status: child.outcome.status(),
                response_bytes: child.response_bytes,
                started_at: child.started_at,
                outcome: child.outcome,
                parent_id: Some(parent),
                modules: child.modules,
                interceptors: Vec::new(),
            };
            records.extend(record.flatten());
        }
        records
    }
}

/// What one interceptor did for a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterceptorRun {
    /// The interceptor's own execution record.
    pub execution_id: ExecutionId,
    /// Its script.
    pub script_id: ScriptId,
    /// The script's name.
    pub script_name: String,
    /// `continued`, `answered` or `failed`.
    pub result: InterceptorResult,
    /// The status it answered with (or its error's); 0 when it continued.
    pub status: u16,
}

/// How an interceptor ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterceptorResult {
    /// Returned `()`: the request went on.
    Continued,
    /// Returned a response, which the client got.
    Answered,
    /// Failed (an error or a limit); the client got its error.
    Failed,
}

/// Headers never stored with an execution record, whatever the operator
/// configured: they carry credentials.
pub const ALWAYS_REDACTED_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "proxy-authorization",
    "set-cookie",
];

/// What a redacted header's value becomes.
pub const REDACTED: &str = "[redacted]";

/// `headers` (lower-case names) as an execution record keeps them: the
/// values of [`ALWAYS_REDACTED_HEADERS`] and of `secret` (lower-case names
/// the operator configured) replaced by [`REDACTED`], so the log shows that
/// a credential was sent without holding it.
pub fn redact_headers(headers: &[(String, String)], secret: &[String]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let hidden = ALWAYS_REDACTED_HEADERS.contains(&name.as_str())
                || secret.iter().any(|s| s == name);
            (
                name.clone(),
                if hidden {
                    REDACTED.to_owned()
                } else {
                    value.clone()
                },
            )
        })
        .collect()
}

/// Where the orchestrator sends execution records; implemented by the manager
/// (the only database writer). Must not block the request path.
pub trait ExecutionRecorder: Send + Sync + 'static {
    /// Queues one record for storage.
    fn record(&self, record: ExecutionRecord);
}
