//! Who may use the admin API: password hashing, the login throttle, session
//! cookies and the [`Principal`] that `require_admin` attaches to a request.

use crate::ErrorCode;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
/// Per-app roles will hang off this type.
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
const FREE_FAILURES_ACCOUNT: u32 = 5;
/// Failed logins allowed per client address (it may try several accounts).
const FREE_FAILURES_ADDRESS: u32 = 20;
/// Longest lockout.
const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Memory the throttle may account for before it forgets the keys idle
/// longest: some 7,000 to 13,000 keys (80 bytes each plus the username),
/// far more than the accounts and addresses honest failures involve.
const MEMORY_BUDGET: usize = 1 << 20;
/// What one key costs besides a username's bytes: the table slot, plus a
/// rough allowance for the allocator and the table's control bytes. The
/// table's spare capacity is not counted; it is at most a small multiple.
const ENTRY_OVERHEAD: usize = std::mem::size_of::<(Key, Attempts)>() + 16;

/// What a failure is counted against. Addresses are stored as numbers, so
/// only usernames (at most 64 bytes once normalized) vary in size.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(Box<str>),
    V4(u32),
    /// The /64 an IPv6 address is in: a host is usually given a whole /64
    /// and can use any address in it, so counting per address would let one
    /// attacker mint keys (and fresh free failures) without end.
    V6Net(u64),
    /// No peer address (only in-process callers).
    NoAddress,
}

impl Key {
    fn address(address: Option<IpAddr>) -> Key {
        // `to_canonical`: through a dual-stack socket an IPv4 client appears
        // as ::ffff:a.b.c.d, and all of those share one /64.
        match address.map(|a| a.to_canonical()) {
            Some(IpAddr::V4(v4)) => Key::V4(u32::from(v4)),
            Some(IpAddr::V6(v6)) => Key::V6Net((u128::from(v6) >> 64) as u64),
            None => Key::NoAddress,
        }
    }

    fn cost(&self) -> usize {
        ENTRY_OVERHEAD
            + match self {
                Key::User(name) => name.len(),
                _ => 0,
            }
    }
}

#[derive(Debug, Clone, Copy)]
struct Attempts {
    failures: u32,
    locked_until: Option<Instant>,
    last_failure: Instant,
}

#[derive(Debug, Default)]
struct Keys {
    attempts: HashMap<Key, Attempts>,
    /// Sum of [`Key::cost`] over `attempts`.
    bytes: usize,
}

impl Keys {
    /// Brings the accounted size down to half the budget, forgetting the keys
    /// idle longest. Halving, not trimming to the budget, means the sort runs
    /// once per many insertions rather than on each one under a flood.
    fn evict(&mut self, now: Instant, budget: usize) {
        // Idle past the longest lockout: no longer locked, so forgetting them
        // costs only their count of free failures.
        self.attempts
            .retain(|_, a| now.duration_since(a.last_failure) < MAX_LOCKOUT);
        self.bytes = self.attempts.keys().map(Key::cost).sum();
        if self.bytes <= budget / 2 {
            return;
        }
        let mut ages: Vec<(Instant, usize)> = self
            .attempts
            .iter()
            .map(|(key, a)| (a.last_failure, key.cost()))
            .collect();
        ages.sort_unstable_by_key(|&(at, _)| std::cmp::Reverse(at));
        let mut kept = 0;
        let mut cutoff = None;
        for (at, cost) in ages {
            if kept + cost > budget / 2 {
                cutoff = Some(at);
                break;
            }
            kept += cost;
        }
        if let Some(cutoff) = cutoff {
            // Strictly newer: everything kept was counted in `kept`; keys
            // tied with the cutoff go too, which only errs towards less.
            self.attempts.retain(|_, a| a.last_failure > cutoff);
            self.bytes = self.attempts.keys().map(Key::cost).sum();
        }
    }
}

/// Login backoff per account and per client address (an IPv6 client's /64):
/// after a few free failures each further one locks the key for twice as
/// long as the last (1 s, 2 s, 4 s … up to 15 min). A locked key is refused
/// before the password is even checked, so guessing stays slow whatever the
/// attacker sends. A success clears the account and the address.
///
/// Memory is bounded in bytes ([`MEMORY_BUDGET`]), not entries, so neither
/// long names nor many addresses can grow it; past the budget the keys idle
/// longest are forgotten first.
#[derive(Debug)]
pub struct LoginThrottle {
    keys: Mutex<Keys>,
    budget: usize,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::with_budget(MEMORY_BUDGET)
    }
}

impl LoginThrottle {
    fn with_budget(budget: usize) -> Self {
        LoginThrottle {
            keys: Mutex::new(Keys::default()),
            budget,
        }
    }

    /// `username` is a normalized username ([`login_username`]), or `None`
    /// when the attempt named none, which counts against the address only.
    fn keys(username: Option<&str>, address: Option<IpAddr>) -> impl Iterator<Item = (Key, u32)> {
        username
            .map(|name| (Key::User(name.into()), FREE_FAILURES_ACCOUNT))
            .into_iter()
            .chain([(Key::address(address), FREE_FAILURES_ADDRESS)])
    }

    /// `Err(TooManyAttempts)` while the account or the address is locked.
    pub fn check(&self, username: Option<&str>, address: Option<IpAddr>) -> Result<()> {
        let now = Instant::now();
        let keys = self.keys.lock().expect("throttle lock");
        let wait = Self::keys(username, address)
            .filter_map(|(key, _)| keys.attempts.get(&key)?.locked_until)
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
    pub fn failed(&self, username: Option<&str>, address: Option<IpAddr>) {
        let now = Instant::now();
        let mut guard = self.keys.lock().expect("throttle lock");
        let keys = &mut *guard;
        for (key, free) in Self::keys(username, address) {
            let entry = match keys.attempts.entry(key) {
                Entry::Occupied(entry) => entry.into_mut(),
                Entry::Vacant(entry) => {
                    keys.bytes += entry.key().cost();
                    entry.insert(Attempts {
                        failures: 0,
                        locked_until: None,
                        last_failure: now,
                    })
                }
            };
            entry.failures = entry.failures.saturating_add(1);
            entry.last_failure = now;
            if entry.failures > free {
                let doublings = (entry.failures - free - 1).min(20);
                let lockout = Duration::from_secs(1u64 << doublings).min(MAX_LOCKOUT);
                entry.locked_until = Some(now + lockout);
            }
        }
        if keys.bytes > self.budget {
            keys.evict(now, self.budget);
        }
    }

    /// Records a successful login.
    pub fn succeeded(&self, username: Option<&str>, address: Option<IpAddr>) {
        let mut keys = self.keys.lock().expect("throttle lock");
        for (key, _) in Self::keys(username, address) {
            if keys.attempts.remove(&key).is_some() {
                keys.bytes -= key.cost();
            }
        }
    }

    /// The running total the budget is enforced on.
    #[cfg(test)]
    fn accounted_bytes(&self) -> usize {
        self.keys.lock().unwrap().bytes
    }

    /// The same total, counted afresh from the keys.
    #[cfg(test)]
    fn recounted_bytes(&self) -> usize {
        let keys = self.keys.lock().unwrap();
        keys.attempts.keys().map(Key::cost).sum()
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
            t.check(Some("ada"), ip).unwrap();
            t.failed(Some("ada"), ip);
        }
        t.check(Some("ada"), ip).unwrap();
        t.failed(Some("ada"), ip);
        assert!(matches!(
            t.check(Some("ada"), ip),
            Err(Error::TooManyAttempts { retry_after: 1 })
        ));
        // Another account from another address is unaffected.
        t.check(Some("bob"), Some("192.0.2.2".parse().unwrap()))
            .unwrap();
        t.succeeded(Some("ada"), ip);
        t.check(Some("ada"), ip).unwrap();
    }

    #[test]
    fn an_address_trying_many_accounts_is_slowed_down() {
        let t = LoginThrottle::default();
        let ip: Option<IpAddr> = Some("192.0.2.9".parse().unwrap());
        for i in 0..=FREE_FAILURES_ADDRESS {
            t.failed(Some(&format!("user{i}")), ip);
        }
        assert!(t.check(Some("someone-new"), ip).is_err());
        assert!(t.check(Some("someone-new"), None).is_ok());
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
    fn memory_stays_within_the_budget_under_a_flood() {
        let t = LoginThrottle::default();
        for i in 0..100_000u32 {
            // The longest valid names, from distinct IPv4 addresses and /64s.
            let name = format!("{i:0>64}");
            let address = if i % 2 == 0 {
                IpAddr::from(i.to_be_bytes())
            } else {
                IpAddr::from((u128::from(i) << 64).to_be_bytes())
            };
            t.failed(Some(&name), Some(address));
            assert!(t.accounted_bytes() <= MEMORY_BUDGET, "after {i}");
            if i % 9_973 == 0 {
                assert_eq!(t.accounted_bytes(), t.recounted_bytes());
            }
        }
        assert_eq!(t.accounted_bytes(), t.recounted_bytes());
        // Usernames from the handler are at most 64 bytes, but the budget
        // holds whatever the key: a huge one is forgotten at once.
        t.failed(Some(&"x".repeat(4 << 20)), None);
        assert!(t.accounted_bytes() <= MEMORY_BUDGET);
        assert_eq!(t.accounted_bytes(), t.recounted_bytes());
        // The newest keys survive an eviction, so a fresh lockout holds.
        let ip = Some("192.0.2.77".parse().unwrap());
        for _ in 0..=FREE_FAILURES_ACCOUNT {
            t.failed(Some("ada"), ip);
        }
        assert!(t.check(Some("ada"), None).is_err());
    }

    #[test]
    fn eviction_forgets_the_keys_idle_longest() {
        // Room for ten keys; all failures come from no address, one key.
        let budget = 10 * (ENTRY_OVERHEAD + 8);
        let t = LoginThrottle::with_budget(budget);
        let lock = |name: &str| {
            for _ in 0..=FREE_FAILURES_ACCOUNT {
                t.failed(Some(name), None);
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let elsewhere: Option<IpAddr> = Some("192.0.2.5".parse().unwrap());
        lock("old");
        for i in 0..7 {
            t.failed(Some(&format!("filler{i}")), None);
        }
        lock("new");
        assert!(t.check(Some("old"), elsewhere).is_err());
        assert!(t.accounted_bytes() <= budget);
        // One key more than fits: down to half, the newest kept.
        t.failed(Some("filler7"), None);
        assert!(t.accounted_bytes() <= budget / 2);
        assert!(t.check(Some("old"), elsewhere).is_ok());
        assert!(t.check(Some("new"), elsewhere).is_err());
        assert_eq!(t.accounted_bytes(), t.recounted_bytes());
    }

    #[test]
    fn an_ipv6_64_is_one_client() {
        let t = LoginThrottle::default();
        let one: Option<IpAddr> = Some("2001:db8::1".parse().unwrap());
        let same_net: Option<IpAddr> = Some("2001:db8::2".parse().unwrap());
        let other_net: Option<IpAddr> = Some("2001:db8:0:1::1".parse().unwrap());
        for i in 0..=FREE_FAILURES_ADDRESS {
            let address = if i % 2 == 0 { one } else { same_net };
            t.failed(Some(&format!("user{i}")), address);
        }
        assert!(t.check(Some("someone-new"), one).is_err());
        assert!(t.check(Some("someone-new"), same_net).is_err());
        assert!(t.check(Some("someone-new"), other_net).is_ok());
        // Two keys per failure at most: the /64 and each account.
        assert_eq!(
            t.accounted_bytes(),
            ENTRY_OVERHEAD
                + (0..=FREE_FAILURES_ADDRESS)
                    .map(|i| Key::User(format!("user{i}").into()).cost())
                    .sum::<usize>()
        );
    }

    #[test]
    fn ipv4_through_a_dual_stack_socket_is_keyed_as_ipv4() {
        let t = LoginThrottle::default();
        let mapped: Option<IpAddr> = Some("::ffff:192.0.2.1".parse().unwrap());
        let plain: Option<IpAddr> = Some("192.0.2.1".parse().unwrap());
        let neighbour: Option<IpAddr> = Some("::ffff:192.0.2.2".parse().unwrap());
        for i in 0..=FREE_FAILURES_ADDRESS {
            t.failed(Some(&format!("user{i}")), mapped);
        }
        assert!(t.check(None, plain).is_err());
        assert!(t.check(None, neighbour).is_ok());
    }

    #[test]
    fn a_failure_naming_no_user_counts_against_the_address_only() {
        let t = LoginThrottle::default();
        let ip: Option<IpAddr> = Some("192.0.2.3".parse().unwrap());
        for _ in 0..=FREE_FAILURES_ADDRESS {
            t.check(None, ip).unwrap();
            t.failed(None, ip);
        }
        assert!(t.check(None, ip).is_err());
        assert!(
            t.check(Some("ada"), Some("192.0.2.4".parse().unwrap()))
                .is_ok()
        );
        assert_eq!(t.accounted_bytes(), ENTRY_OVERHEAD);
    }
}
