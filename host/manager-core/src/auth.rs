//! Who may use the admin API: password hashing, the login throttle, session
//! cookies and the [`Principal`] that `require_admin` attaches to a request.

use crate::ErrorCode;
use std::net::IpAddr;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, password_hash::rand_core::OsRng};

use crate::{Error, Result};

/// Name of the session cookie on plain HTTP; over HTTPS it is
/// [`SESSION_COOKIE_SECURE`]. Scripts can neither see nor set either
/// (`shared::response`, ADR 006).
pub use shared::response::{SESSION_COOKIE, SESSION_COOKIE_SECURE};
/// Header carrying the session's CSRF token on cookie-authenticated writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Who is making an admin request. Inserted into the request's extensions by
/// `require_admin`; handlers that act "as the caller" read it from there.
/// What it may do is [`crate::policy::Access`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `Authorization: Bearer <token>`.
    Token {
        /// The token's id.
        id: String,
        /// The user who made it (`None`: bootstrap or operator CLI).
        user_id: Option<String>,
        /// What it may do.
        scope: crate::store::TokenScope,
        /// The one app and the role it is limited to, if any.
        limit: Option<(shared::AppId, crate::store::Role)>,
    },
    /// A browser session cookie (CSRF-checked for writes).
    Session {
        /// SHA-256 of the cookie value (the session row's key).
        id_hash: String,
        /// The signed-in user.
        user_id: String,
    },
}

impl Principal {
    /// The user behind the request, if any.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Principal::Token { user_id, .. } => user_id.as_deref(),
            Principal::Session { user_id, .. } => Some(user_id),
        }
    }
}

/// Shortest accepted password. Length is what makes a password strong; no
/// composition rules (NIST SP 800-63B).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest accepted password: hashing cost grows with length, so an
/// unbounded one is a denial-of-service lever.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Checks a new password against the length rules.
pub fn validate_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::bad_request(
            ErrorCode::WeakPassword,
            format!("the password must have at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::bad_request(
            ErrorCode::InvalidPassword,
            format!("the password must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Normalizes and checks a username: 1–64 of `a-z 0-9 . _ - @`, case-folded.
pub fn normalize_username(username: &str) -> Result<String> {
    let name = username.trim().to_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if valid {
        Ok(name)
    } else {
        Err(Error::bad_request(
            ErrorCode::InvalidUsername,
            format!("username '{username}' must be 1-64 letters, digits, '.', '_', '-' or '@'"),
        ))
    }
}

/// Hashes running at once, at most: one per core. Each takes 19 MiB and a
/// core for tens of milliseconds, so a burst of sign-ins (an app's users,
/// or someone guessing) queues here instead of taking all the memory and
/// every blocking thread; a queued script's wait counts against its
/// deadline like any other host call.
static HASHING: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    tokio::sync::Semaphore::new(cores)
});

/// Runs one Argon2 computation on the blocking pool, within [`HASHING`].
async fn hashing<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let _permit = HASHING.acquire().await.ok()?;
    tokio::task::spawn_blocking(work).await.ok()
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes, 1 lane: the OWASP
/// recommendation), run off the async runtime because it is deliberately slow.
pub async fn hash_password(password: String) -> Result<String> {
    hashing(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| Error::Config(format!("hashing a password: {e}")))
    })
    .await
    .unwrap_or_else(|| Err(Error::Config("hashing a password: the task failed".into())))
}

/// Verifies `password` against a stored PHC hash. With `None` (no such user)
/// it verifies against a fixed hash anyway, so a wrong username takes as long
/// as a wrong password and timing does not reveal which accounts exist.
pub async fn verify_password(password: String, stored: Option<String>) -> bool {
    hashing(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && known
    })
    .await
    .unwrap_or(false)
}

static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(b"not a password anyone has", &salt)
        .expect("hashing a constant")
        .to_string()
});

/// Longest username accepted as sign-in input before normalizing. A valid
/// name is at most 64 bytes; the slack covers surrounding blanks and the few
/// non-ASCII letters that lower-case to ASCII ones (the Kelvin sign is 3 bytes).
pub const MAX_LOGIN_USERNAME_BYTES: usize = 256;

/// The username a sign-in names, normalized, or `None` when no account can
/// have it. Over-long input is refused before it is trimmed or case-folded,
/// so a huge name costs no more than a short one.
pub fn login_username(raw: &str) -> Option<String> {
    if raw.len() > MAX_LOGIN_USERNAME_BYTES {
        return None;
    }
    normalize_username(raw).ok()
}

/// Failed logins allowed per account before backoff starts.
pub const FREE_FAILURES_ACCOUNT: u32 = 5;
/// Failed logins allowed per client address (it may try several accounts).
pub const FREE_FAILURES_ADDRESS: u32 = 20;
/// Longest lockout.
const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);

/// What a failure is counted against, as stored (`login_attempts.key`).
/// Addresses are reduced to what one client controls.
fn address_key(address: Option<IpAddr>) -> String {
    // `to_canonical`: through a dual-stack socket an IPv4 client appears as
    // ::ffff:a.b.c.d, and all of those share one /64.
    match address.map(|a| a.to_canonical()) {
        Some(IpAddr::V4(v4)) => format!("ip:{v4}"),
        // The /64 an IPv6 address is in: a host is usually given a whole
        // /64 and can use any address in it, so counting per address would
        // let one attacker mint keys (and fresh free failures) without end.
        Some(IpAddr::V6(v6)) => format!("ip6:{:016x}", (u128::from(v6) >> 64) as u64),
        // No peer address (only in-process callers).
        None => "none".to_owned(),
    }
}

/// The keys an attempt counts against, with their free failures: the
/// account (when the attempt named a possible one) and the address.
fn throttle_keys(username: Option<&str>, address: Option<IpAddr>) -> Vec<(String, u32)> {
    username
        .map(|name| (format!("user:{name}"), FREE_FAILURES_ACCOUNT))
        .into_iter()
        .chain([(address_key(address), FREE_FAILURES_ADDRESS)])
        .collect()
}

/// How long a key is locked after its `failures`-th failure: nothing while
/// failures are free, then 1 s, 2 s, 4 s … up to [`MAX_LOCKOUT`].
fn lockout(failures: i64, free: u32) -> Option<Duration> {
    let over = failures - i64::from(free);
    (over > 0).then(|| {
        let doublings = u32::try_from(over - 1).unwrap_or(u32::MAX).min(20);
        Duration::from_secs(1u64 << doublings).min(MAX_LOCKOUT)
    })
}

/// Login backoff per account and per client address (an IPv6 client's /64):
/// after a few free failures each further one locks the key for twice as
/// long as the last (1 s, 2 s, 4 s … up to 15 min). A locked key is refused
/// before the password is even checked, so guessing stays slow whatever the
/// attacker sends. A success clears the account and the address.
///
/// The counts live in the database (`store/logins.rs`): a restart does not
/// reset them, and every process of a cluster enforces the same lockouts.
/// The janitor forgets keys idle longer than the longest lockout, and keeps
/// at most [`crate::store::MAX_LOGIN_KEYS`].
#[derive(Debug, Clone)]
pub struct LoginThrottle {
    store: crate::store::Store,
    /// Prepended to every key: empty for the admin sign-in, `app:<id>:` for
    /// an app's end users, so that neither can lock out the other.
    scope: String,
}

impl LoginThrottle {
    /// The admin sign-in's throttle over `store`'s counts.
    pub fn new(store: crate::store::Store) -> Self {
        LoginThrottle {
            store,
            scope: String::new(),
        }
    }

    /// The throttle of `app`'s end-user sign-ins (`users::login`): its
    /// accounts and its clients' addresses are counted apart from every
    /// other app's and from the admin sign-in.
    pub fn for_app(store: crate::store::Store, app: shared::AppId) -> Self {
        LoginThrottle {
            store,
            scope: format!("app:{app}:"),
        }
    }

    /// The stored keys an attempt counts against, with their free failures.
    fn keys(&self, username: Option<&str>, address: Option<IpAddr>) -> Vec<(String, u32)> {
        throttle_keys(username, address)
            .into_iter()
            .map(|(key, free)| (format!("{}{key}", self.scope), free))
            .collect()
    }

    /// `Err(TooManyAttempts)` while the account or the address is locked.
    pub async fn check(&self, username: Option<&str>, address: Option<IpAddr>) -> Result<()> {
        let now = crate::db::now_ms();
        let keys: Vec<String> = self
            .keys(username, address)
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        match self.store.login_locked_until(&keys, now).await? {
            Some(until) => Err(Error::TooManyAttempts {
                retry_after: u64::try_from((until - now + 999) / 1000)
                    .unwrap_or(1)
                    .max(1),
            }),
            None => Ok(()),
        }
    }

    /// Records a failed login.
    pub async fn failed(&self, username: Option<&str>, address: Option<IpAddr>) -> Result<()> {
        let now = crate::db::now_ms();
        for (key, free) in self.keys(username, address) {
            let failures = self.store.login_failed(&key, now).await?;
            if let Some(wait) = lockout(failures, free) {
                let wait = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
                self.store
                    .login_lock(&key, now.saturating_add(wait))
                    .await?;
            }
        }
        Ok(())
    }

    /// Records a successful login.
    pub async fn succeeded(&self, username: Option<&str>, address: Option<IpAddr>) -> Result<()> {
        let keys: Vec<String> = self
            .keys(username, address)
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        Ok(self.store.login_cleared(&keys).await?)
    }

    /// Forgets keys idle longer than the longest lockout (the janitor).
    pub(crate) async fn purge(&self) -> Result<u64> {
        let now = crate::db::now_ms();
        let idle = i64::try_from(MAX_LOCKOUT.as_millis()).unwrap_or(i64::MAX);
        Ok(self.store.purge_login_attempts(now - idle, now).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_and_passwords_follow_the_rules() {
        assert_eq!(
            normalize_username(" Ada@Example.com ").unwrap(),
            "ada@example.com"
        );
        assert!(normalize_username("a b").is_err());
        assert!(normalize_username("").is_err());
        assert!(validate_password("short").is_err());
        assert!(validate_password("correct horse battery").is_ok());
        assert!(validate_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
    }

    #[test]
    fn sign_in_names_are_bounded_before_normalizing() {
        assert_eq!(login_username("  Ada  ").as_deref(), Some("ada"));
        assert_eq!(login_username(&"a".repeat(64)), Some("a".repeat(64)));
        assert_eq!(login_username(&"a".repeat(65)), None);
        assert_eq!(login_username("a b"), None);
        assert_eq!(login_username(""), None);
        // Valid once trimmed, but longer than any honest input.
        let padded = format!("{}ada", " ".repeat(MAX_LOGIN_USERNAME_BYTES));
        assert_eq!(login_username(&padded), None);
        assert_eq!(login_username(&"a".repeat(1 << 20)), None);
    }

    #[test]
    fn an_address_is_keyed_by_what_one_client_controls() {
        let key = |ip: &str| address_key(Some(ip.parse().unwrap()));
        assert_eq!(key("192.0.2.1"), "ip:192.0.2.1");
        // Through a dual-stack socket, IPv4 is still IPv4.
        assert_eq!(key("::ffff:192.0.2.1"), "ip:192.0.2.1");
        // An IPv6 /64 is one client.
        assert_eq!(key("2001:db8::1"), key("2001:db8::2"));
        assert_ne!(key("2001:db8::1"), key("2001:db8:0:1::1"));
        assert_eq!(address_key(None), "none");
        // A failure naming no possible user counts against the address only.
        assert_eq!(
            throttle_keys(None, None),
            [("none".to_owned(), FREE_FAILURES_ADDRESS)]
        );
        assert_eq!(throttle_keys(Some("ada"), None)[0].0, "user:ada");
    }

    #[test]
    fn lockouts_double_after_the_free_failures_up_to_the_cap() {
        assert_eq!(lockout(5, 5), None);
        assert_eq!(lockout(6, 5), Some(Duration::from_secs(1)));
        assert_eq!(lockout(7, 5), Some(Duration::from_secs(2)));
        assert_eq!(lockout(9, 5), Some(Duration::from_secs(8)));
        assert_eq!(lockout(1_000, 5), Some(MAX_LOCKOUT));
        assert_eq!(lockout(i64::MAX, 5), Some(MAX_LOCKOUT));
    }
}
