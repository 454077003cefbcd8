//! The store's own error: what a repository call can fail with, before any
//! HTTP meaning is attached. The admin API turns it into [`crate::Error`]
//! (`From`); the data-plane services turn it into a script-facing
//! [`shared::ServiceError`] by matching variants, not code strings.

use crate::error::ErrorCode;
use crate::secrets::SecretError;

/// Why a repository call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The input breaks a rule (the admin API answers 400 with `code`).
    #[error("{message}")]
    Invalid {
        /// Which rule, e.g. [`ErrorCode::InvalidKey`].
        code: ErrorCode,
        /// What is wrong, naming the field or value.
        message: String,
    },
    /// The change collides with existing state (409 with `code`).
    #[error("{message}")]
    Conflict {
        /// Which collision, e.g. [`ErrorCode::SlugTaken`].
        code: ErrorCode,
        /// What it collides with.
        message: String,
    },
    /// One of the app's quotas would be exceeded.
    #[error("{0}")]
    QuotaExceeded(String),
    /// The stored value has the wrong type for the operation (`incr` on text).
    #[error("{0}")]
    WrongType(String),
    /// Nothing by that id or name.
    #[error("{what} '{key}' not found")]
    NotFound {
        /// The kind of thing, e.g. `script`.
        what: &'static str,
        /// The id or name that was asked for.
        key: String,
    },
    /// A row that cannot have been written by PiCloud (a corrupt id, a
    /// negative counter): a server fault, never the caller's.
    #[error("{0}")]
    Corrupt(String),
    /// A secret was written or read, but the server has no key for secrets.
    #[error("{}", crate::error::NO_SECRET_KEY)]
    NoSecretKey,
    /// A stored secret does not decrypt.
    #[error("secret '{name}': {reason}")]
    Secret {
        /// The variable's name.
        name: String,
        /// Why.
        reason: SecretError,
    },
    /// The database failed or could not be reached.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Result with the store's [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// An [`StoreError::Invalid`] with `code`, which must be a 400 code.
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        debug_assert_eq!(code.status(), axum::http::StatusCode::BAD_REQUEST, "{code}");
        StoreError::Invalid {
            code,
            message: message.into(),
        }
    }

    /// A [`StoreError::Conflict`] with `code`, which must be a 409 code.
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        debug_assert_eq!(code.status(), axum::http::StatusCode::CONFLICT, "{code}");
        StoreError::Conflict {
            code,
            message: message.into(),
        }
    }

    /// A [`StoreError::NotFound`].
    pub fn not_found(what: &'static str, key: impl std::fmt::Display) -> Self {
        StoreError::NotFound {
            what,
            key: key.to_string(),
        }
    }

    /// The HTTP status the admin API answers this error with.
    pub fn status(&self) -> axum::http::StatusCode {
        self.code().status()
    }

    /// The stable code the admin API answers this error with.
    pub fn code(&self) -> ErrorCode {
        match self {
            StoreError::Invalid { code, .. } | StoreError::Conflict { code, .. } => *code,
            StoreError::QuotaExceeded(_) => ErrorCode::QuotaExceeded,
            StoreError::WrongType(_) => ErrorCode::WrongType,
            StoreError::NotFound { .. } => ErrorCode::NotFound,
            StoreError::NoSecretKey => ErrorCode::SecretsUnavailable,
            StoreError::Database(err) if crate::error::unreachable(err) => {
                ErrorCode::DatabaseUnavailable
            }
            StoreError::Corrupt(_) | StoreError::Secret { .. } | StoreError::Database(_) => {
                ErrorCode::InternalError
            }
        }
    }
}

impl From<StoreError> for crate::Error {
    fn from(err: StoreError) -> Self {
        use crate::Error;
        match err {
            StoreError::Invalid { code, message } => Error::BadRequest { code, message },
            StoreError::Conflict { code, message } => Error::Conflict { code, message },
            StoreError::QuotaExceeded(message) => Error::Conflict {
                code: ErrorCode::QuotaExceeded,
                message,
            },
            StoreError::WrongType(message) => Error::Conflict {
                code: ErrorCode::WrongType,
                message,
            },
            StoreError::NotFound { what, key } => Error::NotFound { what, key },
            StoreError::Corrupt(message) => Error::Config(message),
            StoreError::NoSecretKey => Error::NoSecretKey,
            StoreError::Secret { name, reason } => Error::Secret { name, reason },
            StoreError::Database(err) => Error::Database(err),
        }
    }
}

/// Turns unique-constraint violations into conflicts with a caller-chosen
/// code and message.
pub(crate) trait OnConflict<T> {
    fn on_conflict(self, code: ErrorCode, message: impl FnOnce() -> String) -> Result<T>;
}

impl<T> OnConflict<T> for Result<T, sqlx::Error> {
    fn on_conflict(self, code: ErrorCode, message: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|err| match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::conflict(code, message())
            }
            _ => StoreError::Database(err),
        })
    }
}
