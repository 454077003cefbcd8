//! Who may use the admin API: password hashing, the login throttle, session
//! cookies and the [`Principal`] that `require_admin` attaches to a request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, password_hash::rand_core::OsRng};

use crate::{Error, Result};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "picloud_session";
/// Header carrying the session's CSRF token on cookie-authenticated writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Who is making an admin request. Inserted into the request's extensions by
/// `require_admin`; handlers that act "as the caller" read it from there.
/// Per-app roles will hang off this type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `Authorization: Bearer <token>`.
    Token {
        /// The token's id.
        id: String,
        /// The user who made it (`None`: bootstrap or operator CLI).
        user_id: Option<String>,
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
            "weak_password",
            format!("the password must have at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::bad_request(
            "invalid_password",
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
            "invalid_username",
            format!("username '{username}' must be 1-64 letters, digits, '.', '_', '-' or '@'"),
        ))
    }
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes, 1 lane: the OWASP
/// recommendation), run off the async runtime because it is deliberately slow.
pub async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| Error::Config(format!("hashing a password: {e}")))
    })
    .await
    .map_err(|e| Error::Config(format!("hashing a password: {e}")))?
}

/// Verifies `password` against a stored PHC hash. With `None` (no such user)
/// it verifies against a fixed hash anyway, so a wrong username takes as long
/// as a wrong password and timing does not reveal which accounts exist.
pub async fn verify_password(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
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

/// Failed logins allowed per account before backoff starts.
const FREE_FAILURES_ACCOUNT: u32 = 5;
/// Failed logins allowed per client address (it may try several accounts).
const FREE_FAILURES_ADDRESS: u32 = 20;
/// Longest lockout.
const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Entries the throttle keeps before forgetting the oldest idle ones.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Attempts {
    failures: u32,
    locked_until: Option<Instant>,
    last_failure: Instant,
}

/// Login backoff per account and per client address: after a few free
/// failures each further one locks the key for twice as long as the last
/// (1 s, 2 s, 4 s … up to 15 min). A locked key is refused before the
/// password is even checked, so guessing stays slow whatever the attacker
/// sends. A success clears the account and the address.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    keys: Mutex<HashMap<String, Attempts>>,
}

impl LoginThrottle {
    fn keys(username: &str, address: Option<IpAddr>) -> [(String, u32); 2] {
        [
            (format!("user:{username}"), FREE_FAILURES_ACCOUNT),
            (
                format!(
                    "addr:{}",
                    address.map_or_else(|| "unknown".to_owned(), |a| a.to_string())
                ),
                FREE_FAILURES_ADDRESS,
            ),
        ]
    }

    /// `Err(TooManyAttempts)` while the account or the address is locked.
    pub fn check(&self, username: &str, address: Option<IpAddr>) -> Result<()> {
        let now = Instant::now();
        let keys = self.keys.lock().expect("throttle lock");
        let wait = Self::keys(username, address)
            .iter()
            .filter_map(|(key, _)| keys.get(key)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        match wait {
            Some(wait) => Err(Error::TooManyAttempts {
                retry_after: wait.as_secs().max(1),
            }),
            None => Ok(()),
        }
    }

    /// Records a failed login.
    pub fn failed(&self, username: &str, address: Option<IpAddr>) {
        let now = Instant::now();
        let mut keys = self.keys.lock().expect("throttle lock");
        if keys.len() >= MAX_ENTRIES {
            // Forget keys idle for longer than the longest lockout; if an
            // attacker floods distinct keys, drop the oldest half.
            keys.retain(|_, a| now.duration_since(a.last_failure) < MAX_LOCKOUT);
            if keys.len() >= MAX_ENTRIES {
                let mut ages: Vec<Instant> = keys.values().map(|a| a.last_failure).collect();
                ages.sort();
                let cutoff = ages[ages.len() / 2];
                keys.retain(|_, a| a.last_failure > cutoff);
            }
        }
        for (key, free) in Self::keys(username, address) {
            let entry = keys.entry(key).or_insert(Attempts {
                failures: 0,
                locked_until: None,
                last_failure: now,
            });
            entry.failures += 1;
            entry.last_failure = now;
            if entry.failures > free {
                let doublings = (entry.failures - free - 1).min(20);
                let lockout = Duration::from_secs(1u64 << doublings).min(MAX_LOCKOUT);
                entry.locked_until = Some(now + lockout);
            }
        }
    }

    /// Records a successful login.
    pub fn succeeded(&self, username: &str, address: Option<IpAddr>) {
        let mut keys = self.keys.lock().expect("throttle lock");
        for (key, _) in Self::keys(username, address) {
            keys.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_after_free_failures_and_success_clears_it() {
        let t = LoginThrottle::default();
        let ip: Option<IpAddr> = Some("192.0.2.1".parse().unwrap());
        for _ in 0..FREE_FAILURES_ACCOUNT {
            t.check("ada", ip).unwrap();
            t.failed("ada", ip);
        }
        t.check("ada", ip).unwrap();
        t.failed("ada", ip);
        assert!(matches!(
            t.check("ada", ip),
            Err(Error::TooManyAttempts { retry_after: 1 })
        ));
        // Another account from another address is unaffected.
        t.check("bob", Some("192.0.2.2".parse().unwrap())).unwrap();
        t.succeeded("ada", ip);
        t.check("ada", ip).unwrap();
    }

    #[test]
    fn an_address_trying_many_accounts_is_slowed_down() {
        let t = LoginThrottle::default();
        let ip: Option<IpAddr> = Some("192.0.2.9".parse().unwrap());
        for i in 0..=FREE_FAILURES_ADDRESS {
            t.failed(&format!("user{i}"), ip);
        }
        assert!(t.check("someone-new", ip).is_err());
        assert!(t.check("someone-new", None).is_ok());
    }

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
}
