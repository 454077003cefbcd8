//! The manager's one error type; every admin API failure is one of these and
//! becomes `{"error": {"code", "message", ...}}` with a stable code.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use shared::{ExecutionError, ScriptFailure};

/// What a secret write or read says when the server has no key for secrets
/// (the store's error and the API's say the same).
pub(crate) const NO_SECRET_KEY: &str = "this server has no key for secrets, so it cannot store or read them; its operator must configure one (PICLOUD_SECRET_KEY)";

/// Declares [`ErrorCode`]: each code once, with its wire form and the HTTP
/// status it is answered with, so the two cannot drift apart.
macro_rules! error_codes {
    ($($variant:ident = $code:literal, $status:ident;)*) => {
        /// Every stable `error.code` the admin API answers with. docs/api.md
        /// lists each one (a test compares that table with [`ErrorCode::ALL`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(
                #[doc = concat!("`", $code, "`")]
                $variant,
            )*
        }

        impl ErrorCode {
            /// Every code, in the order of the docs' table.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as it appears in `error.code`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }

            /// The HTTP status an error with this code is answered with.
            pub fn status(self) -> StatusCode {
                match self {
                    $(ErrorCode::$variant => StatusCode::$status,)*
                }
            }
        }
    };
}

error_codes! {
    MovedPermanently = "moved_permanently", PERMANENT_REDIRECT;
    InvalidJson = "invalid_json", BAD_REQUEST;
    InvalidContentType = "invalid_content_type", BAD_REQUEST;
    InvalidSlug = "invalid_slug", BAD_REQUEST;
    InvalidName = "invalid_name", BAD_REQUEST;
    InvalidKey = "invalid_key", BAD_REQUEST;
    InvalidValue = "invalid_value", BAD_REQUEST;
    InvalidTtl = "invalid_ttl", BAD_REQUEST;
    IncrOverflow = "incr_overflow", BAD_REQUEST;
    InvalidCollection = "invalid_collection", BAD_REQUEST;
    InvalidDocument = "invalid_document", BAD_REQUEST;
    InvalidField = "invalid_field", BAD_REQUEST;
    InvalidLimits = "invalid_limits", BAD_REQUEST;
    InvalidRateLimit = "invalid_rate_limit", BAD_REQUEST;
    InvalidCors = "invalid_cors", BAD_REQUEST;
    InvalidUsers = "invalid_users", BAD_REQUEST;
    InvalidDomain = "invalid_domain", BAD_REQUEST;
    InvalidMethod = "invalid_method", BAD_REQUEST;
    InvalidRoutePath = "invalid_route_path", BAD_REQUEST;
    InvalidRun = "invalid_run", BAD_REQUEST;
    InvalidWindow = "invalid_window", BAD_REQUEST;
    InvalidBuckets = "invalid_buckets", BAD_REQUEST;
    InvalidHost = "invalid_host", BAD_REQUEST;
    InvalidPattern = "invalid_pattern", BAD_REQUEST;
    InvalidSchedule = "invalid_schedule", BAD_REQUEST;
    InvalidTimezone = "invalid_timezone", BAD_REQUEST;
    InvalidScript = "invalid_script", BAD_REQUEST;
    InvalidPrefix = "invalid_prefix", BAD_REQUEST;
    HostNotClaimed = "host_not_claimed", BAD_REQUEST;
    SourceTooLarge = "source_too_large", BAD_REQUEST;
    AppRequired = "app_required", BAD_REQUEST;
    AppRenamed = "app_renamed", BAD_REQUEST;
    DefaultApp = "default_app", BAD_REQUEST;
    InvalidStatus = "invalid_status", BAD_REQUEST;
    InvalidTrigger = "invalid_trigger", BAD_REQUEST;
    InvalidQueue = "invalid_queue", BAD_REQUEST;
    InvalidEventId = "invalid_event_id", BAD_REQUEST;
    InvalidScope = "invalid_scope", BAD_REQUEST;
    InvalidRole = "invalid_role", BAD_REQUEST;
    InvalidMessage = "invalid_message", BAD_REQUEST;
    InvalidVersion = "invalid_version", BAD_REQUEST;
    InvalidLimit = "invalid_limit", BAD_REQUEST;
    InvalidCursor = "invalid_cursor", BAD_REQUEST;
    InvalidTime = "invalid_time", BAD_REQUEST;
    InvalidQuery = "invalid_query", BAD_REQUEST;
    InvalidUsername = "invalid_username", BAD_REQUEST;
    WeakPassword = "weak_password", BAD_REQUEST;
    InvalidPassword = "invalid_password", BAD_REQUEST;
    CurrentPasswordRequired = "current_password_required", BAD_REQUEST;
    NotASession = "not_a_session", BAD_REQUEST;
    AmbiguousSession = "ambiguous_session", BAD_REQUEST;
    Unauthorized = "unauthorized", UNAUTHORIZED;
    BadCredentials = "bad_credentials", UNAUTHORIZED;
    CsrfFailed = "csrf_failed", FORBIDDEN;
    WrongPassword = "wrong_password", FORBIDDEN;
    MetricsOnlyToken = "metrics_only_token", FORBIDDEN;
    InsufficientRole = "insufficient_role", FORBIDDEN;
    NotFound = "not_found", NOT_FOUND;
    SlugTaken = "slug_taken", CONFLICT;
    SlugInHistory = "slug_in_history", CONFLICT;
    DomainTaken = "domain_taken", CONFLICT;
    DomainShadowsRoutes = "domain_shadows_routes", CONFLICT;
    HostReserved = "host_reserved", CONFLICT;
    DomainInUse = "domain_in_use", CONFLICT;
    ScriptNameTaken = "script_name_taken", CONFLICT;
    RouteConflict = "route_conflict", CONFLICT;
    HostClaimedByOtherApp = "host_claimed_by_other_app", CONFLICT;
    UsernameTaken = "username_taken", CONFLICT;
    EmailTaken = "email_taken", CONFLICT;
    LastUser = "last_user", CONFLICT;
    LastServerAdmin = "last_server_admin", CONFLICT;
    QuotaExceeded = "quota_exceeded", CONFLICT;
    WrongType = "wrong_type", CONFLICT;
    ModuleInUse = "module_in_use", CONFLICT;
    ScriptInUse = "script_in_use", CONFLICT;
    TriggerExists = "trigger_exists", CONFLICT;
    RequestTimeout = "request_timeout", REQUEST_TIMEOUT;
    PayloadTooLarge = "payload_too_large", PAYLOAD_TOO_LARGE;
    CompileError = "compile_error", UNPROCESSABLE_ENTITY;
    InvalidManifest = "invalid_manifest", UNPROCESSABLE_ENTITY;
    TooManyAttempts = "too_many_attempts", TOO_MANY_REQUESTS;
    InternalError = "internal_error", INTERNAL_SERVER_ERROR;
    DatabaseUnavailable = "database_unavailable", SERVICE_UNAVAILABLE;
    ExecutorUnavailable = "executor_unavailable", SERVICE_UNAVAILABLE;
    SecretsUnavailable = "secrets_unavailable", SERVICE_UNAVAILABLE;
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Compares with the wire form, so tests and callers can write
/// `err.code() == "slug_taken"`.
impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Manager errors. `status()` is the single place that maps them to HTTP.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or names something invalid (400).
    #[error("{message}")]
    BadRequest {
        /// Stable code, e.g. `invalid_route_path`.
        code: ErrorCode,
        /// What is wrong, naming the field or value.
        message: String,
    },
    /// The script does not compile (422, with line and column).
    #[error("the script does not compile: {0}")]
    Compile(ScriptFailure),
    /// A manifest deploy was refused: every problem found (422).
    #[error("{}", manifest_message(.0))]
    Manifest(Vec<crate::manifest::Problem>),
    /// Nothing by that id or name (404).
    #[error("{what} '{key}' not found")]
    NotFound {
        /// The kind of thing, e.g. `script`.
        what: &'static str,
        /// The id or name that was asked for.
        key: String,
    },
    /// The change collides with existing state (409).
    #[error("{message}")]
    Conflict {
        /// Stable code, e.g. `route_conflict`.
        code: ErrorCode,
        /// What it collides with.
        message: String,
    },
    /// The resource lives under another URL now (308, e.g. an old app slug).
    #[error("moved permanently to {location}")]
    Moved {
        /// The canonical URL.
        location: String,
    },
    /// No valid credentials (401).
    #[error(
        "authentication required: send `Authorization: Bearer <API token>` or sign in at /api/v1/admin/auth/login"
    )]
    Unauthorized,
    /// Wrong username or password (401; never says which).
    #[error("wrong username or password")]
    BadCredentials,
    /// A cookie-authenticated write without the session's CSRF token (403).
    #[error(
        "this request is authenticated by a session cookie and must carry the session's CSRF token in `X-CSRF-Token`"
    )]
    CsrfFailed,
    /// Authenticated, but not allowed to do this (403).
    #[error("{message}")]
    Forbidden {
        /// Stable code, e.g. `wrong_password`.
        code: ErrorCode,
        /// Why.
        message: String,
    },
    /// Too many failed logins for this account or address (429).
    #[error("too many failed sign-ins; try again in {retry_after} s")]
    TooManyAttempts {
        /// Seconds until the next attempt is considered.
        retry_after: u64,
    },
    /// The request body is larger than allowed (413).
    #[error("the request body is larger than the admin API accepts ({limit} bytes)")]
    PayloadTooLarge {
        /// The configured limit (`PICLOUD_MAX_BODY`), in bytes.
        limit: usize,
    },
    /// The request body stopped arriving (408).
    #[error("the request body stopped arriving")]
    RequestTimeout,
    /// The executor could not check the script (503).
    #[error("the executor is unavailable: {0}")]
    Executor(ExecutionError),
    /// Database failure: 503 `database_unavailable` when the database cannot
    /// be reached (it may come back), else 500; details logged, never returned.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Migration failure at start.
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Bad configuration at start.
    #[error("{0}")]
    Config(String),
    /// A secret was written or read, but the server has no key for secrets
    /// (503; the message is shown, as only the operator can fix it).
    #[error("{}", NO_SECRET_KEY)]
    NoSecretKey,
    /// A stored secret does not decrypt (500; logged without the value).
    #[error("secret '{name}': {reason}")]
    Secret {
        /// The variable's name.
        name: String,
        /// Why.
        reason: crate::secrets::SecretError,
    },
}

/// Result with the manager's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for a 400 with a code and message.
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// Shorthand for a 404.
    pub fn not_found(what: &'static str, key: impl std::fmt::Display) -> Self {
        Error::NotFound {
            what,
            key: key.to_string(),
        }
    }

    /// Shorthand for a 409.
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status of this error: the one its code is documented with.
    pub fn status(&self) -> StatusCode {
        self.code().status()
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::BadRequest { code, .. }
            | Error::Conflict { code, .. }
            | Error::Forbidden { code, .. } => *code,
            Error::Compile(_) => ErrorCode::CompileError,
            Error::Manifest(_) => ErrorCode::InvalidManifest,
            Error::NotFound { .. } => ErrorCode::NotFound,
            Error::Moved { .. } => ErrorCode::MovedPermanently,
            Error::Unauthorized => ErrorCode::Unauthorized,
            Error::BadCredentials => ErrorCode::BadCredentials,
            Error::CsrfFailed => ErrorCode::CsrfFailed,
            Error::TooManyAttempts { .. } => ErrorCode::TooManyAttempts,
            Error::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Error::RequestTimeout => ErrorCode::RequestTimeout,
            Error::Executor(_) => ErrorCode::ExecutorUnavailable,
            Error::NoSecretKey => ErrorCode::SecretsUnavailable,
            Error::Database(err) if unreachable(err) => ErrorCode::DatabaseUnavailable,
            Error::Database(_) | Error::Migrate(_) | Error::Config(_) | Error::Secret { .. } => {
                ErrorCode::InternalError
            }
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let unavailable = matches!(&self, Error::Database(err) if unreachable(err));
        let message = if unavailable {
            tracing::error!(error = %self, "admin request failed: database unavailable");
            "the database is unavailable; try again shortly".to_owned()
        } else if status.is_server_error()
            && !matches!(self, Error::Executor(_) | Error::NoSecretKey)
        {
            // Logged here, inside the request's span; the client gets no details.
            tracing::error!(error = %self, "admin request failed");
            "internal error; the server log has details".to_owned()
        } else {
            self.to_string()
        };
        let mut body = json!({ "error": { "code": self.code(), "message": message } });
        if let Error::Compile(failure) = &self {
            body["error"]["message"] = json!(failure.to_string());
            if let Some(p) = failure.position {
                body["error"]["line"] = json!(p.line);
                body["error"]["column"] = json!(p.column);
            }
        }
        if let Error::Manifest(problems) = &self {
            body["error"]["problems"] = json!(problems);
        }
        let mut response = (status, axum::Json(body)).into_response();
        if let Error::Moved { location } = &self
            && let Ok(value) = HeaderValue::from_str(location)
        {
            response.headers_mut().insert(header::LOCATION, value);
        }
        if matches!(self, Error::Unauthorized) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if unavailable {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if let Error::TooManyAttempts { retry_after } = &self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        response
    }
}

/// `invalid_manifest`'s message: how many problems, and the first.
fn manifest_message(problems: &[crate::manifest::Problem]) -> String {
    match problems {
        [] => "the manifest was refused".to_owned(),
        [one] => format!("the manifest was refused: {one}"),
        [first, rest @ ..] => format!(
            "the manifest was refused with {} problems (all in `problems`); the first: {first}",
            rest.len() + 1
        ),
    }
}

/// Whether `err` means the database cannot be reached right now (server
/// down or restarting, socket gone, file unopenable, pool exhausted), as
/// opposed to a fault in the query or the data. Those are worth a retry.
pub(crate) fn unreachable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            if code.len() == 5 {
                // A PostgreSQL SQLSTATE: class 08 connection exceptions;
                // 57P01-57P03 (shutting down, crashed, starting up).
                code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
            } else {
                // An SQLite result code, possibly extended (primary code in
                // the low byte): 5 BUSY, 10 IOERR, 14 CANTOPEN.
                code.parse::<i32>()
                    .is_ok_and(|code| matches!(code & 0xff, 5 | 10 | 14))
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::ErrorCode;

    /// Codes in the admin table that the HTTP layer writes itself, outside
    /// [`super::Error`] (picloud-node's JSON error bodies for axum's own 405).
    const WRITTEN_BY_THE_HTTP_LAYER: [(u16, &str); 1] = [(405, "method_not_allowed")];

    /// docs/api.md's table of admin API error codes: `(status, code)` rows.
    fn documented() -> BTreeSet<(u16, String)> {
        let api = include_str!("../../../docs/api.md");
        let section = api
            .split("\n## Error codes\n")
            .nth(1)
            .expect("docs/api.md has an `## Error codes` section");
        // The admin API's table is the first one in the section.
        section
            .lines()
            .skip_while(|line| !line.starts_with("| status | code |"))
            .skip(2)
            .take_while(|line| line.starts_with('|'))
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let status = cells[1]
                    .parse()
                    .unwrap_or_else(|_| panic!("status in {line}"));
                (status, cells[2].trim_matches('`').to_owned())
            })
            .collect()
    }

    /// Every code the enum has is documented with the status it is served
    /// with, and the docs list no code the server cannot answer.
    #[test]
    fn the_documented_error_codes_are_the_enum() {
        let mut served: BTreeSet<(u16, String)> = ErrorCode::ALL
            .iter()
            .map(|code| (code.status().as_u16(), code.as_str().to_owned()))
            .collect();
        served.extend(
            WRITTEN_BY_THE_HTTP_LAYER
                .iter()
                .map(|(status, code)| (*status, (*code).to_owned())),
        );
        let documented = documented();
        let undocumented: Vec<_> = served.difference(&documented).collect();
        let unknown: Vec<_> = documented.difference(&served).collect();
        assert!(
            undocumented.is_empty() && unknown.is_empty(),
            "docs/api.md's error codes and ErrorCode disagree:\n  \
             served but not documented (or with another status): {undocumented:?}\n  \
             documented but not served: {unknown:?}"
        );
    }

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = BTreeSet::new();
        for code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} twice");
            assert!(
                text.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{text}"
            );
        }
    }
}
