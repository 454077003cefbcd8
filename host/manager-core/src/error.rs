//! The manager's one error type; every admin API failure is one of these and
//! becomes `{"error": {"code", "message", ...}}` with a stable code.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use shared::{ExecutionError, ScriptFailure};

/// Manager errors. `status()` is the single place that maps them to HTTP.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or names something invalid (400).
    #[error("{message}")]
    BadRequest {
        /// Stable code, e.g. `invalid_route_path`.
        code: &'static str,
        /// What is wrong, naming the field or value.
        message: String,
    },
    /// The script does not compile (422, with line and column).
    #[error("the script does not compile: {0}")]
    Compile(ScriptFailure),
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
        code: &'static str,
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
        code: &'static str,
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
    #[error(
        "this server has no key for secrets, so it cannot store or read them; its operator must configure one (PICLOUD_SECRET_KEY)"
    )]
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
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
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
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Error::Compile(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::Moved { .. } => StatusCode::PERMANENT_REDIRECT,
            Error::Unauthorized | Error::BadCredentials => StatusCode::UNAUTHORIZED,
            Error::CsrfFailed | Error::Forbidden { .. } => StatusCode::FORBIDDEN,
            Error::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Error::Executor(_) | Error::NoSecretKey => StatusCode::SERVICE_UNAVAILABLE,
            Error::Database(err) if unreachable(err) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Database(_) | Error::Migrate(_) | Error::Config(_) | Error::Secret { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest { code, .. }
            | Error::Conflict { code, .. }
            | Error::Forbidden { code, .. } => code,
            Error::Compile(_) => "compile_error",
            Error::NotFound { .. } => "not_found",
            Error::Moved { .. } => "moved_permanently",
            Error::Unauthorized => "unauthorized",
            Error::BadCredentials => "bad_credentials",
            Error::CsrfFailed => "csrf_failed",
            Error::TooManyAttempts { .. } => "too_many_attempts",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::RequestTimeout => "request_timeout",
            Error::Executor(_) => "executor_unavailable",
            Error::NoSecretKey => "secrets_unavailable",
            Error::Database(err) if unreachable(err) => "database_unavailable",
            Error::Database(_) | Error::Migrate(_) | Error::Config(_) | Error::Secret { .. } => {
                "internal_error"
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

/// Turns unique-constraint violations into 409s with a caller-chosen message.
pub(crate) trait OnConflict<T> {
    fn on_conflict(self, code: &'static str, message: impl FnOnce() -> String) -> Result<T>;
}

impl<T> OnConflict<T> for Result<T, sqlx::Error> {
    fn on_conflict(self, code: &'static str, message: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|err| match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Error::conflict(code, message())
            }
            _ => Error::Database(err),
        })
    }
}
