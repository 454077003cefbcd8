//! The rules of apps' end-user accounts (`users::` in scripts): what an
//! email and a password must be, how sign-in is throttled, how long sessions
//! and single-use tokens live, and the app's settings for them. The rows are
//! in `store/app_users.rs`; this is [`UsersService`] for [`DataServices`].
//!
//! Sign-in never says whether an email has an account: an unknown email
//! and a wrong password get the same error after the same Argon2 work
//! (`auth::verify_password` verifies against a fixed hash when there is no
//! account), and both count against the same throttle keys.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use shared::{AppId, AppUser, OneTimeToken, ServiceError, UserSession, UsersService};

use crate::auth::{LoginThrottle, MAX_PASSWORD_BYTES, hash_password, verify_password};
use crate::db::{now_ms, rfc3339};
use crate::error::ErrorCode;
use crate::services::{DataServices, timed, to_service_error};
use crate::store::{StoreError, TokenPurpose};

/// Shortest accepted end-user password, in characters: NIST SP 800-63B's
/// minimum for a user-chosen one. Length and the common-password list are
/// the whole policy; no composition rules.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest accepted email (RFC 5321's path limit).
pub const MAX_EMAIL_BYTES: usize = 254;
/// Largest metadata object, as JSON.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// How long a session lasts unless the app sets `users.session_ttl`.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Bounds of `users.session_ttl`, in seconds: a minute to a year.
pub const SESSION_TTL_RANGE: std::ops::RangeInclusive<u64> = 60..=365 * 24 * 3600;
/// How long a password-reset token works.
pub const RESET_TTL: Duration = Duration::from_secs(3600);
/// How long an email-verification token works.
pub const VERIFY_TTL: Duration = Duration::from_secs(24 * 3600);
/// Longest token looked up; longer input cannot be one of ours.
const MAX_TOKEN_BYTES: usize = 256;

/// Passwords refused whatever their length: the most common ones in public
/// breach lists, lower-cased (`common-passwords.txt`, one per line).
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
});

/// An app's settings for its users (`users` in the app's settings).
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct UsersSettings {
    /// A cookie `users::current` also reads the session token from (the
    /// `Authorization: Bearer` header always works).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_cookie: Option<String>,
    /// How long a session lasts, in seconds (60 to 31536000; default 604800,
    /// a week).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_ttl: Option<u64>,
}

impl UsersSettings {
    /// Checks the settings, naming the field at fault.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(name) = &self.session_cookie {
            // RFC 6265's cookie-name: an HTTP token.
            let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            if name.is_empty() || name.len() > 64 || !name.bytes().all(token) {
                return Err(format!(
                    "session_cookie '{name}' must be 1-64 letters, digits or !#$%&'*+-.^_`|~"
                ));
            }
        }
        if let Some(ttl) = self.session_ttl
            && !SESSION_TTL_RANGE.contains(&ttl)
        {
            return Err(format!(
                "session_ttl {ttl} is out of range: use {} to {} seconds",
                SESSION_TTL_RANGE.start(),
                SESSION_TTL_RANGE.end()
            ));
        }
        Ok(())
    }

    fn session_ttl(&self) -> Duration {
        self.session_ttl
            .map_or(DEFAULT_SESSION_TTL, Duration::from_secs)
    }
}

fn coded(code: &str, message: impl Into<String>) -> ServiceError {
    ServiceError::coded(code, message)
}

/// An email as stored: trimmed and lower-cased, one `@` with something on
/// both sides and a dot in the domain. Deliverability is the script's
/// business (a verification mail); this only refuses what cannot be one.
pub fn normalize_email(raw: &str) -> Result<String, ServiceError> {
    let invalid = || coded("invalid_email", format!("'{raw}' is not an email address"));
    if raw.len() > MAX_EMAIL_BYTES + 64 {
        return Err(coded(
            "invalid_email",
            format!("an email address has at most {MAX_EMAIL_BYTES} characters"),
        ));
    }
    let email = raw.trim().to_lowercase();
    if email.len() > MAX_EMAIL_BYTES {
        return Err(invalid());
    }
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let valid = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid { Ok(email) } else { Err(invalid()) }
}

/// The password policy: at least [`MIN_PASSWORD_CHARS`] characters, at most
/// [`MAX_PASSWORD_BYTES`] bytes, not one of the common passwords, and not
/// the email itself.
pub fn check_password(password: &str, email: &str) -> Result<(), ServiceError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(coded(
            "weak_password",
            format!("the password must have at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(coded(
            "weak_password",
            format!("the password must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    let folded = password.to_lowercase();
    if COMMON_PASSWORDS.contains(folded.as_str()) {
        return Err(coded(
            "weak_password",
            "the password is one of the most common passwords: choose another",
        ));
    }
    if folded == email || email.split('@').next() == Some(folded.as_str()) {
        return Err(coded(
            "weak_password",
            "the password must not be the email address",
        ));
    }
    Ok(())
}

/// The session token of an `Authorization: Bearer …` header.
fn bearer(authorization: Option<&str>) -> Option<&str> {
    let (scheme, token) = authorization?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The value of cookie `name` in a `Cookie` header.
fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches('"'))
    })
}

/// A fresh token and the hash stored for it.
fn new_token() -> (String, String) {
    let token = crate::store::generate_secret();
    let hash = crate::store::hash_token(&token);
    (token, hash)
}

/// `ttl` from now: (milliseconds since the epoch, RFC 3339, whole seconds).
fn expiry(ttl: Duration) -> (i64, String, u64) {
    let at = now_ms().saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
    (at, rfc3339(at), ttl.as_secs())
}

fn invalid_token(what: &str) -> ServiceError {
    coded(
        "invalid_token",
        format!("the {what} token is unknown, already used or expired"),
    )
}

impl DataServices {
    fn users_error(&self, op: &'static str, app: AppId, err: StoreError) -> ServiceError {
        match err {
            StoreError::Conflict {
                code: ErrorCode::EmailTaken,
                message,
            } => coded("email_taken", message),
            other => to_service_error(op, app, other),
        }
    }

    async fn one_time_token(
        &self,
        app: AppId,
        user: AppUser,
        purpose: TokenPurpose,
        ttl: Duration,
    ) -> Result<Option<OneTimeToken>, ServiceError> {
        if user.disabled {
            return Ok(None);
        }
        let (token, hash) = new_token();
        let (at, expires, expires_in) = expiry(ttl);
        self.store
            .app_user_token_issue(app, &user.id, purpose, &hash, at)
            .await
            .map_err(|e| to_service_error("users::start", app, e))?;
        Ok(Some(OneTimeToken {
            token,
            user,
            expires,
            expires_in,
        }))
    }
}

#[async_trait]
impl UsersService for DataServices {
    async fn signup(
        &self,
        app: AppId,
        email: &str,
        password: &str,
    ) -> Result<AppUser, ServiceError> {
        let email = normalize_email(email)?;
        check_password(password, &email)?;
        let hash = hash_password(password.to_owned()).await.map_err(|e| {
            tracing::error!(%app, error = %e, "hashing a password failed");
            ServiceError::unavailable()
        })?;
        timed(
            "users::signup",
            self.store.app_user_create(app, &email, &hash),
        )
        .await
        .map_err(|e| self.users_error("users::signup", app, e))
    }

    async fn login(
        &self,
        app: AppId,
        email: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<UserSession, ServiceError> {
        let throttle = LoginThrottle::for_app(self.store.clone(), app);
        // A malformed email names no account: the failure counts against
        // the address only, after the same work as any other.
        let key = normalize_email(email).ok();
        let unavailable = |e: crate::Error| {
            tracing::warn!(%app, error = %e, "the sign-in throttle failed");
            ServiceError::unavailable()
        };
        match throttle.check(key.as_deref(), client).await {
            Ok(()) => {}
            Err(crate::Error::TooManyAttempts { retry_after }) => {
                return Err(ServiceError {
                    retry_after: Some(retry_after),
                    ..coded(
                        "too_many_attempts",
                        format!("too many failed sign-ins: try again in {retry_after} s"),
                    )
                });
            }
            Err(e) => return Err(unavailable(e)),
        }
        let found = match &key {
            Some(key) => self
                .store
                .app_user_by_email(app, key)
                .await
                .map_err(|e| to_service_error("users::login", app, e))?,
            None => None,
        };
        // An over-long password cannot match (none is stored); it is
        // checked as an empty one, so its length buys no extra work.
        let attempt = if password.len() > MAX_PASSWORD_BYTES {
            String::new()
        } else {
            password.to_owned()
        };
        let verified = verify_password(attempt, found.as_ref().map(|(_, hash)| hash.clone())).await
            && password.len() <= MAX_PASSWORD_BYTES;
        let Some((user, _)) = found.filter(|_| verified) else {
            throttle
                .failed(key.as_deref(), client)
                .await
                .map_err(unavailable)?;
            return Err(coded(
                "invalid_credentials",
                "the email or the password is not correct",
            ));
        };
        if user.disabled {
            return Err(coded("account_disabled", "this account is disabled"));
        }
        throttle
            .succeeded(key.as_deref(), client)
            .await
            .map_err(unavailable)?;
        let settings = self
            .store
            .app_users_settings(app)
            .await
            .map_err(|e| to_service_error("users::login", app, e))?;
        let (token, hash) = new_token();
        let (at, expires, expires_in) = expiry(settings.session_ttl());
        let user = timed(
            "users::login",
            self.store.app_user_signed_in(app, &user.id, &hash, at),
        )
        .await
        .map_err(|e| to_service_error("users::login", app, e))?;
        Ok(UserSession {
            token,
            user,
            expires,
            expires_in,
        })
    }

    async fn current(
        &self,
        app: AppId,
        authorization: Option<&str>,
        cookie_header: Option<&str>,
    ) -> Result<Option<AppUser>, ServiceError> {
        let token: Option<String> = match bearer(authorization) {
            Some(token) => Some(token.to_owned()),
            None => match cookie_header {
                Some(header) => {
                    let settings = self
                        .store
                        .app_users_settings(app)
                        .await
                        .map_err(|e| to_service_error("users::current", app, e))?;
                    settings
                        .session_cookie
                        .and_then(|name| cookie(header, &name).map(str::to_owned))
                }
                None => None,
            },
        };
        let Some(token) = token.filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_BYTES) else {
            return Ok(None);
        };
        timed(
            "users::current",
            self.store
                .app_user_by_session(app, &crate::store::hash_token(&token)),
        )
        .await
        .map_err(|e| to_service_error("users::current", app, e))
    }

    async fn logout(&self, app: AppId, token: &str) -> Result<bool, ServiceError> {
        let token = bearer(Some(token)).unwrap_or(token).trim();
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Ok(false);
        }
        self.store
            .app_user_session_end(app, &crate::store::hash_token(token))
            .await
            .map_err(|e| to_service_error("users::logout", app, e))
    }

    async fn get(&self, app: AppId, id: &str) -> Result<Option<AppUser>, ServiceError> {
        timed("users::get", self.store.app_user(app, id))
            .await
            .map_err(|e| to_service_error("users::get", app, e))
    }

    async fn update(
        &self,
        app: AppId,
        id: &str,
        metadata: &str,
    ) -> Result<Option<AppUser>, ServiceError> {
        if metadata.len() > MAX_METADATA_BYTES {
            return Err(coded(
                "invalid_metadata",
                format!(
                    "the metadata is {} bytes as JSON, more than the {MAX_METADATA_BYTES} allowed",
                    metadata.len()
                ),
            ));
        }
        match serde_json::from_str::<serde_json::Value>(metadata) {
            Ok(serde_json::Value::Object(_)) => {}
            _ => {
                return Err(coded(
                    "invalid_metadata",
                    "the metadata must be a map (a JSON object)",
                ));
            }
        }
        self.store
            .app_user_set_metadata(app, id, metadata)
            .await
            .map_err(|e| to_service_error("users::update", app, e))
    }

    async fn start_reset(
        &self,
        app: AppId,
        email: &str,
    ) -> Result<Option<OneTimeToken>, ServiceError> {
        let email = normalize_email(email)?;
        let found = self
            .store
            .app_user_by_email(app, &email)
            .await
            .map_err(|e| to_service_error("users::start_reset", app, e))?;
        match found {
            Some((user, _)) => {
                self.one_time_token(app, user, TokenPurpose::Reset, RESET_TTL)
                    .await
            }
            None => Ok(None),
        }
    }

    async fn finish_reset(
        &self,
        app: AppId,
        token: &str,
        password: &str,
    ) -> Result<AppUser, ServiceError> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(invalid_token("reset"));
        }
        // The policy's email rule needs the account, which only redeeming
        // names; length and the common list are checked first.
        check_password(password, "")?;
        let hash = hash_password(password.to_owned()).await.map_err(|e| {
            tracing::error!(%app, error = %e, "hashing a password failed");
            ServiceError::unavailable()
        })?;
        self.store
            .app_user_reset(app, &crate::store::hash_token(token), &hash)
            .await
            .map_err(|e| to_service_error("users::finish_reset", app, e))?
            .ok_or_else(|| invalid_token("reset"))
    }

    async fn start_verify(
        &self,
        app: AppId,
        user: &str,
    ) -> Result<Option<OneTimeToken>, ServiceError> {
        let found = if user.contains('@') {
            let email = normalize_email(user)?;
            self.store
                .app_user_by_email(app, &email)
                .await
                .map(|found| found.map(|(user, _)| user))
        } else {
            self.store.app_user(app, user).await
        }
        .map_err(|e| to_service_error("users::start_verify", app, e))?;
        match found {
            Some(user) => {
                self.one_time_token(app, user, TokenPurpose::Verify, VERIFY_TTL)
                    .await
            }
            None => Ok(None),
        }
    }

    async fn finish_verify(&self, app: AppId, token: &str) -> Result<AppUser, ServiceError> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(invalid_token("verification"));
        }
        self.store
            .app_user_verify(app, &crate::store::hash_token(token))
            .await
            .map_err(|e| to_service_error("users::finish_verify", app, e))?
            .ok_or_else(|| invalid_token("verification"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_or_refused() {
        assert_eq!(
            normalize_email(" Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "a b@x.io",
            "a@b@c.io",
        ] {
            let error = normalize_email(bad).unwrap_err();
            assert_eq!(error.code.as_deref(), Some("invalid_email"), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(MAX_EMAIL_BYTES));
        assert!(normalize_email(&long).is_err());
    }

    #[test]
    fn the_password_policy_names_what_is_wrong() {
        let weak = |p: &str| check_password(p, "ada@example.com").unwrap_err().message;
        assert!(weak("short").contains("at least 8"));
        assert!(weak("password1").contains("most common"));
        assert!(weak("PASSWORD123").contains("most common"), "case-folded");
        assert!(weak("ada@example.com").contains("email"));
        assert!(weak(&"x".repeat(MAX_PASSWORD_BYTES + 1)).contains("at most"));
        assert!(check_password("correct horse battery", "ada@example.com").is_ok());
        assert!(COMMON_PASSWORDS.len() >= 100, "the list is shipped");
    }

    #[test]
    fn tokens_come_from_a_bearer_header_or_the_apps_cookie() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
        assert_eq!(bearer(None), None);
        assert_eq!(cookie("a=1; sid=xyz; b=2", "sid"), Some("xyz"));
        assert_eq!(cookie("sid=\"xyz\"", "sid"), Some("xyz"));
        assert_eq!(cookie("xsid=1", "sid"), None);
    }

    #[test]
    fn settings_are_checked() {
        let ok = UsersSettings {
            session_cookie: Some("sid".into()),
            session_ttl: Some(3600),
        };
        assert!(ok.validate().is_ok());
        let bad_cookie = UsersSettings {
            session_cookie: Some("s id".into()),
            ..UsersSettings::default()
        };
        assert!(
            bad_cookie
                .validate()
                .unwrap_err()
                .contains("session_cookie")
        );
        let bad_ttl = UsersSettings {
            session_ttl: Some(1),
            ..UsersSettings::default()
        };
        assert!(bad_ttl.validate().unwrap_err().contains("session_ttl"));
        assert_eq!(UsersSettings::default().session_ttl(), DEFAULT_SESSION_TTL);
    }
}
