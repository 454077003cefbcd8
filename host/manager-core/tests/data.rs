//! The data plane (key-value store, variables and secrets) against both real
//! databases: through the services scripts call ([`DataServices`]), the
//! store, the janitor and the admin API's router. Every test runs once on a
//! fresh SQLite file and once on a fresh PostgreSQL database.
//!
//! Time is never waited for: a test "lets a key expire" by moving its
//! `expires_at` into the past through a second connection, which is also how
//! the tests read raw columns (ciphertexts, counters) as an attacker with a
//! database dump would.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use manager_core::store::{DEFAULT_APP_ID, DocsQuota, KvQuota, StoreError};
use manager_core::{DataServices, Db, Manager, ManagerConfig, SecretKey, Store};
use serde_json::{Value, json};
use shared::{AppId, KvPage, ServiceErrorKind, ServiceProvider};
use support::{Api, NoExecutor, NoRouting};
use tower::ServiceExt;

/// What each test gets: the store, and a separate pool on the same database
/// for raw reads and for moving time forward.
struct Env {
    store: Store,
    raw: sqlx::AnyPool,
    postgres: bool,
}

macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        vec![$((
            stringify!($name),
            (|db| Box::pin(async move {
                let dir = tempfile::tempdir().unwrap();
                let postgres = db.is_some();
                let url = db.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("picloud.db").display()));
                let store = Store::new(Db::connect(&url).await.unwrap());
                let raw = sqlx::AnyPool::connect(&url).await.unwrap();
                $name(Env { store, raw, postgres }).await;
            })) as testkit::harness::Test,
        )),*]
    };
}

fn main() {
    testkit::harness::run_on_both_databases(tests![
        kv_round_trip_and_validation,
        kv_quotas,
        kv_full_store_purges_expired_entries_first,
        kv_ttl_expiry_and_purge,
        kv_list_pages_in_byte_order_with_literal_prefixes,
        kv_incr_is_atomic,
        kv_incr_types_and_overflow,
        apps_are_isolated,
        deleting_an_app_deletes_its_data,
        secrets_are_encrypted_at_rest,
        variables_round_trip,
        janitor_purges_expired_entries,
        admin_api_kv,
        admin_api_variables,
    ])
}

fn key(byte: u8) -> SecretKey {
    SecretKey::from_hex(&hex::encode([byte; 32])).unwrap()
}

fn services(env: &Env, quota: KvQuota) -> DataServices {
    DataServices::new(env.store.clone(), quota, DocsQuota::default(), Some(key(1)))
}

fn default_app() -> AppId {
    DEFAULT_APP_ID
}

async fn new_app(env: &Env, slug: &str) -> AppId {
    env.store.create_app(slug, slug, "").await.unwrap().id
}

/// Moves `key`'s expiry into the past, as if its TTL had run out.
async fn expire(env: &Env, app: AppId, key: &str) {
    let done = sqlx::query("UPDATE kv_entries SET expires_at = 1 WHERE app_id = $1 AND key = $2")
        .bind(app.to_string())
        .bind(key)
        .execute(&env.raw)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1, "{key} is stored");
}

/// The app's counters, checked against the rows they summarize.
async fn usage(env: &Env, app: AppId) -> (i64, i64) {
    let (keys, bytes): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM kv_entries WHERE app_id = $1",
    )
    .bind(app.to_string())
    .fetch_one(&env.raw)
    .await
    .unwrap();
    let counted = env.store.kv_usage(app).await.unwrap();
    assert_eq!(
        (counted.keys, counted.bytes),
        (keys, bytes),
        "kv_usage is exact"
    );
    (keys, bytes)
}

async fn all_keys(svc: &DataServices, app: AppId, prefix: &str, limit: u32) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let KvPage {
            keys: page,
            cursor: next,
        } = svc
            .kv()
            .unwrap()
            .list(app, prefix, cursor.as_deref(), limit)
            .await
            .unwrap();
        assert!(page.len() <= limit as usize);
        if next.is_some() {
            assert_eq!(page.len(), limit as usize, "only the last page is short");
            assert_eq!(next.as_ref(), page.last(), "the cursor is the last key");
        }
        keys.extend(page);
        match next {
            Some(next) => cursor = Some(next),
            None => return keys,
        }
    }
}

async fn kv_round_trip_and_validation(env: Env) {
    let svc = services(&env, KvQuota::default());
    let kv = svc.kv().unwrap();
    let app = default_app();
    assert_eq!(kv.get(app, "greeting").await.unwrap(), None);
    assert!(!kv.exists(app, "greeting").await.unwrap());
    kv.set(app, "greeting", r#"{"text":"hi","n":[1,2]}"#, None)
        .await
        .unwrap();
    assert_eq!(
        kv.get(app, "greeting").await.unwrap().as_deref(),
        Some(r#"{"text":"hi","n":[1,2]}"#)
    );
    assert!(kv.exists(app, "greeting").await.unwrap());
    kv.set(app, "greeting", "null", None).await.unwrap();
    assert_eq!(
        kv.get(app, "greeting").await.unwrap().as_deref(),
        Some("null")
    );
    assert_eq!(usage(&env, app).await, (1, 12));
    assert!(kv.delete(app, "greeting").await.unwrap());
    assert!(!kv.delete(app, "greeting").await.unwrap());
    assert_eq!(kv.get(app, "greeting").await.unwrap(), None);
    assert_eq!(usage(&env, app).await, (0, 0));

    let invalid = |result: Result<(), shared::ServiceError>, needle: &str| {
        let err = result.unwrap_err();
        assert_eq!(err.kind, ServiceErrorKind::InvalidArgument, "{err}");
        assert!(err.message.contains(needle), "{needle:?} in {err}");
    };
    invalid(kv.set(app, "", "1", None).await, "empty");
    invalid(kv.set(app, "a\0b", "1", None).await, "NUL");
    invalid(kv.set(app, ".", "1", None).await, "cannot appear in a URL");
    invalid(
        kv.incr(app, "..", 1).await.map(drop),
        "cannot appear in a URL",
    );
    invalid(
        kv.set(app, &"k".repeat(513), "1", None).await,
        "513 bytes long; the most is 512",
    );
    invalid(kv.set(app, "k", "{not json", None).await, "not JSON");
    invalid(kv.set(app, "k", "", None).await, "not JSON");
    invalid(kv.set(app, "k", "1 2", None).await, "not JSON");
    invalid(
        kv.set(app, "k", "1", Some(Duration::ZERO)).await,
        "TTL must be positive",
    );
    invalid(kv.get(app, "").await.map(drop), "empty");
    invalid(kv.exists(app, "\0").await.map(drop), "NUL");
    invalid(kv.delete(app, "").await.map(drop), "empty");
    invalid(kv.incr(app, "", 1).await.map(drop), "empty");
    invalid(kv.list(app, "", None, 0).await.map(drop), "limit");
    // 512 bytes of a multi-byte character is the limit, not 512 characters.
    kv.set(app, &"é".repeat(256), "1", None).await.unwrap();
    invalid(kv.set(app, &"é".repeat(257), "1", None).await, "514 bytes");
    assert_eq!(usage(&env, app).await, (1, 513));
}

async fn kv_quotas(env: Env) {
    let quota = KvQuota {
        max_key_bytes: 8,
        max_value_bytes: 16,
        max_keys: 3,
        max_total_bytes: 40,
    };
    let svc = services(&env, quota);
    let kv = svc.kv().unwrap();
    let app = default_app();
    let err = kv.set(app, "123456789", "1", None).await.unwrap_err();
    assert_eq!(err.kind, ServiceErrorKind::InvalidArgument);
    assert!(err.message.contains("9 bytes long; the most is 8"), "{err}");
    let err = kv.incr(app, "123456789", 1).await.unwrap_err();
    assert_eq!(err.kind, ServiceErrorKind::InvalidArgument);
    let seventeen = format!("\"{}\"", "x".repeat(15));
    let err = kv.set(app, "k", &seventeen, None).await.unwrap_err();
    assert_eq!(err.kind, ServiceErrorKind::InvalidArgument);
    assert!(
        err.message.contains("17 bytes of JSON; the most is 16"),
        "{err}"
    );

    // Keys: three fit, a fourth does not; replacing one is no new key.
    for k in ["k1", "k2", "k3"] {
        kv.set(app, k, "1", None).await.unwrap();
    }
    let err = kv.set(app, "k4", "1", None).await.unwrap_err();
    assert_eq!(err.kind, ServiceErrorKind::QuotaExceeded);
    assert_eq!(
        err.message,
        "the app's key-value store holds 3 keys, the most it may (3); delete keys or let them expire first"
    );
    let err = kv.incr(app, "k4", 1).await.unwrap_err();
    assert_eq!(err.kind, ServiceErrorKind::QuotaExceeded);
    assert!(
        !kv.exists(app, "k4").await.unwrap(),
        "a refused write leaves nothing"
    );
    kv.set(app, "k1", "2", None).await.unwrap();
    assert_eq!(kv.incr(app, "k2", 5).await.unwrap(), 6);
    assert!(kv.delete(app, "k3").await.unwrap());
    kv.set(app, "k4", "1", None).await.unwrap();
    assert_eq!(usage(&env, app).await, (3, 9));

    // Bytes: 16-byte values grow the total to 39 of 40; one more byte-hungry
    // write is refused, a shrinking one is fine.
    let sixteen = format!("\"{}\"", "x".repeat(14));
    kv.set(app, "k1", &sixteen, None).await.unwrap();
    kv.set(app, "k2", &sixteen, None).await.unwrap();
    assert_eq!(usage(&env, app).await, (3, 39));
    let err = kv.set(app, "k4", "12345", None).await.unwrap_err();
    assert_eq!(err.kind, ServiceErrorKind::QuotaExceeded);
    assert_eq!(
        err.message,
        "the app's key-value store holds 39 bytes of its quota of 40; this write needs 4 more"
    );
    assert_eq!(kv.get(app, "k4").await.unwrap().as_deref(), Some("1"));
    let err = kv.incr(app, "k4", 100).await.unwrap_err();
    assert_eq!(err.kind, ServiceErrorKind::QuotaExceeded);
    assert_eq!(kv.get(app, "k4").await.unwrap().as_deref(), Some("1"));
    kv.set(app, "k4", "12", None).await.unwrap();
    kv.set(app, "k1", "1", None).await.unwrap();
    assert_eq!(usage(&env, app).await, (3, 25));

    // An operator lowers the quota below what the app holds: the app can
    // still shrink and delete, but not grow.
    let tight = services(
        &env,
        KvQuota {
            max_keys: 1,
            max_total_bytes: 10,
            ..quota
        },
    );
    assert_eq!(
        tight
            .kv()
            .unwrap()
            .set(app, "k5", "1", None)
            .await
            .unwrap_err()
            .kind,
        ServiceErrorKind::QuotaExceeded
    );
    tight.kv().unwrap().set(app, "k2", "1", None).await.unwrap();
    assert!(tight.kv().unwrap().delete(app, "k4").await.unwrap());
    assert_eq!(usage(&env, app).await, (2, 6));
}

async fn kv_full_store_purges_expired_entries_first(env: Env) {
    let quota = KvQuota {
        max_keys: 2,
        ..KvQuota::default()
    };
    let svc = services(&env, quota);
    let kv = svc.kv().unwrap();
    let app = default_app();
    let other = new_app(&env, "other").await;
    kv.set(app, "old", "1", Some(Duration::from_secs(60)))
        .await
        .unwrap();
    kv.set(app, "keep", "1", None).await.unwrap();
    kv.set(other, "theirs", "1", Some(Duration::from_secs(60)))
        .await
        .unwrap();
    expire(&env, app, "old").await;
    expire(&env, other, "theirs").await;
    // Expired entries count until purged...
    assert_eq!(usage(&env, app).await, (2, 9));
    // ...so a new key finds the store full, purges the app's own expired
    // entry and fits.
    kv.set(app, "new", "1", None).await.unwrap();
    assert_eq!(usage(&env, app).await, (2, 9));
    assert_eq!(all_keys(&svc, app, "", 10).await, ["keep", "new"]);
    // Another app's expired entries are not touched by this app's write.
    assert_eq!(usage(&env, other).await, (1, 7));
    let err = kv.set(app, "third", "1", None).await.unwrap_err();
    assert_eq!(err.kind, ServiceErrorKind::QuotaExceeded);
}

async fn kv_ttl_expiry_and_purge(env: Env) {
    let svc = services(&env, KvQuota::default());
    let kv = svc.kv().unwrap();
    let app = default_app();
    kv.set(app, "session", "\"abc\"", Some(Duration::from_secs(60)))
        .await
        .unwrap();
    let entry = env
        .store
        .kv_entry(DEFAULT_APP_ID, "session")
        .await
        .unwrap()
        .unwrap();
    let expires = humantime::parse_rfc3339(entry.expires_at.as_deref().unwrap()).unwrap();
    let left = expires
        .duration_since(std::time::SystemTime::now())
        .unwrap();
    assert!(left > Duration::from_secs(50) && left <= Duration::from_secs(60));
    // Setting again without a TTL replaces the TTL too.
    kv.set(app, "session", "\"abc\"", None).await.unwrap();
    let entry = env.store.kv_entry(DEFAULT_APP_ID, "session").await.unwrap();
    assert_eq!(entry.unwrap().expires_at, None);

    kv.set(app, "session", "\"abc\"", Some(Duration::from_secs(60)))
        .await
        .unwrap();
    kv.set(app, "temp", "1", Some(Duration::from_millis(1)))
        .await
        .unwrap();
    kv.set(app, "kept", "1", None).await.unwrap();
    expire(&env, app, "session").await;
    expire(&env, app, "temp").await;
    // Expired: invisible everywhere at once.
    assert_eq!(kv.get(app, "session").await.unwrap(), None);
    assert!(!kv.exists(app, "session").await.unwrap());
    assert_eq!(
        env.store.kv_entry(DEFAULT_APP_ID, "session").await.unwrap(),
        None
    );
    assert_eq!(all_keys(&svc, app, "", 10).await, ["kept"]);
    let page = env
        .store
        .kv_entries(DEFAULT_APP_ID, "", None, 10)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    // Still counted until purged.
    assert_eq!(usage(&env, app).await, (3, 22));
    assert_eq!(env.store.purge_expired_kv().await.unwrap(), 2);
    assert_eq!(usage(&env, app).await, (1, 5));
    assert_eq!(env.store.purge_expired_kv().await.unwrap(), 0);

    // Deleting an expired key removes it but reports it as already gone.
    kv.set(app, "gone", "1", Some(Duration::from_secs(60)))
        .await
        .unwrap();
    expire(&env, app, "gone").await;
    assert!(!kv.delete(app, "gone").await.unwrap());
    assert_eq!(usage(&env, app).await, (1, 5));
    // Writing over an expired key starts it afresh.
    kv.set(app, "again", "1", Some(Duration::from_secs(60)))
        .await
        .unwrap();
    expire(&env, app, "again").await;
    kv.set(app, "again", "22", None).await.unwrap();
    assert_eq!(kv.get(app, "again").await.unwrap().as_deref(), Some("22"));
    assert_eq!(usage(&env, app).await, (2, 12));
}

async fn kv_list_pages_in_byte_order_with_literal_prefixes(env: Env) {
    let svc = services(&env, KvQuota::default());
    let kv = svc.kv().unwrap();
    let app = default_app();
    let keys = [
        "a",
        "a%",
        "a%b",
        "a_b",
        "a\\b",
        "ab",
        "aB",
        "a/b",
        "a/c/d",
        "B",
        "é",
        "éa",
        "f",
        "日本",
        "\u{1F600}",
        "\u{FFFF}",
        "z",
        "Z",
        "a b",
        "a\u{7F}",
    ];
    for k in keys {
        kv.set(app, k, "0", None).await.unwrap();
    }
    let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    // `String`'s order is byte order; both engines must agree with it.
    expected.sort();
    if env.postgres {
        // The test cluster's default collation may sort like bytes anyway
        // (C.UTF-8); production databases often use a language's order, so
        // the column itself must say "C".
        let collation: Option<String> = sqlx::query_scalar(
            "SELECT collation_name::TEXT FROM information_schema.columns
             WHERE table_name = 'kv_entries' AND column_name = 'key'",
        )
        .fetch_one(&env.raw)
        .await
        .unwrap();
        assert_eq!(collation.as_deref(), Some("C"));
    }
    for limit in [1, 3, 4, 20, 1000, 5000] {
        assert_eq!(
            all_keys(&svc, app, "", limit).await,
            expected,
            "limit {limit}"
        );
    }
    let cases: &[(&str, &[&str])] = &[
        ("a%", &["a%", "a%b"]),
        ("a_", &["a_b"]),
        ("a\\", &["a\\b"]),
        ("a/", &["a/b", "a/c/d"]),
        ("a/c/", &["a/c/d"]),
        ("é", &["é", "éa"]),
        ("日", &["日本"]),
        ("\u{1F600}", &["\u{1F600}"]),
        ("\u{10FFFF}", &[]),
        ("a\u{7F}", &["a\u{7F}"]),
        ("b", &[]),
        ("a\0", &[]),
        ("ab", &["ab"]),
    ];
    for (prefix, want) in cases {
        assert_eq!(
            all_keys(&svc, app, prefix, 1).await,
            *want,
            "prefix {prefix:?}"
        );
        assert_eq!(
            all_keys(&svc, app, prefix, 100).await,
            *want,
            "prefix {prefix:?}"
        );
    }
    // A cursor and a prefix together.
    let page = kv.list(app, "a", Some("aB"), 2).await.unwrap();
    assert_eq!(page.keys, ["a\\b", "a_b"]);
    assert_eq!(page.cursor.as_deref(), Some("a_b"));
    // Expired keys vanish from pages.
    expire(&env, app, "a_b").await;
    let page = kv.list(app, "a", Some("aB"), 2).await.unwrap();
    assert_eq!(page.keys, ["a\\b", "ab"]);
    // The admin listing pages the same way, with values.
    let admin = env
        .store
        .kv_entries(DEFAULT_APP_ID, "a/", None, 1)
        .await
        .unwrap();
    assert_eq!(admin.items.len(), 1);
    assert_eq!(
        (
            admin.items[0].key.as_str(),
            &admin.items[0].value,
            admin.items[0].size
        ),
        ("a/b", &json!(0), 4)
    );
    assert_eq!(admin.next_cursor.as_deref(), Some("a/b"));
    let last = env
        .store
        .kv_entries(DEFAULT_APP_ID, "a/", Some("a/b"), 1)
        .await
        .unwrap();
    assert_eq!(last.items[0].key, "a/c/d");
    assert_eq!(last.next_cursor, None);
    let err = kv.list(app, "", Some(""), 10).await.unwrap_err();
    assert_eq!(err.kind, ServiceErrorKind::InvalidArgument);
}

async fn kv_incr_is_atomic(env: Env) {
    let svc = services(&env, KvQuota::default());
    let app = default_app();
    svc.kv()
        .unwrap()
        .set(app, "hits", "10", Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    let ttl_before = env
        .store
        .kv_entry(DEFAULT_APP_ID, "hits")
        .await
        .unwrap()
        .unwrap()
        .expires_at;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let svc = svc.clone();
            tokio::spawn(async move {
                for _ in 0..4 {
                    svc.kv().unwrap().incr(app, "hits", 1).await.unwrap();
                    svc.kv().unwrap().incr(app, "fresh", -1).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        svc.kv().unwrap().get(app, "hits").await.unwrap().as_deref(),
        Some("210")
    );
    assert_eq!(
        svc.kv()
            .unwrap()
            .get(app, "fresh")
            .await
            .unwrap()
            .as_deref(),
        Some("-200")
    );
    let hits = env
        .store
        .kv_entry(DEFAULT_APP_ID, "hits")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hits.expires_at, ttl_before, "incr keeps the TTL");
    assert_eq!(hits.value, json!(210));
    assert_eq!(usage(&env, app).await, (2, 4 + 3 + 5 + 4));
}

async fn kv_incr_types_and_overflow(env: Env) {
    let svc = services(&env, KvQuota::default());
    let kv = svc.kv().unwrap();
    let app = default_app();
    assert_eq!(kv.incr(app, "n", 0).await.unwrap(), 0);
    assert_eq!(kv.incr(app, "n", -5).await.unwrap(), -5);
    for (value, what) in [
        ("\"7\"", "a string"),
        ("1.5", "a non-integer number"),
        ("1e3", "a non-integer number"),
        ("{}", "an object"),
        ("[1]", "an array"),
        ("true", "a boolean"),
        ("null", "null"),
        (
            "18446744073709551615",
            "does not fit a 64-bit signed integer",
        ),
    ] {
        kv.set(app, "v", value, None).await.unwrap();
        let err = kv.incr(app, "v", 1).await.unwrap_err();
        assert_eq!(err.kind, ServiceErrorKind::WrongType, "{value}: {err}");
        assert!(err.message.contains(what), "{value}: {err}");
        assert_eq!(kv.get(app, "v").await.unwrap().as_deref(), Some(value));
    }
    kv.set(app, "max", &i64::MAX.to_string(), None)
        .await
        .unwrap();
    let err = kv.incr(app, "max", 1).await.unwrap_err();
    assert_eq!(err.kind, ServiceErrorKind::InvalidArgument);
    assert!(err.message.contains("overflows a 64-bit"), "{err}");
    assert_eq!(kv.incr(app, "max", -1).await.unwrap(), i64::MAX - 1);
    kv.set(app, "min", &i64::MIN.to_string(), None)
        .await
        .unwrap();
    assert_eq!(
        kv.incr(app, "min", -1).await.unwrap_err().kind,
        ServiceErrorKind::InvalidArgument
    );
    // An expired counter starts again from 0, without its old TTL.
    kv.set(app, "daily", "41", Some(Duration::from_secs(60)))
        .await
        .unwrap();
    expire(&env, app, "daily").await;
    assert_eq!(kv.incr(app, "daily", 1).await.unwrap(), 1);
    let entry = env.store.kv_entry(DEFAULT_APP_ID, "daily").await.unwrap();
    assert_eq!(entry.unwrap().expires_at, None);
    usage(&env, app).await;
}

async fn apps_are_isolated(env: Env) {
    let svc = services(&env, KvQuota::default());
    let kv = svc.kv().unwrap();
    let env_svc = svc.env().unwrap();
    let a = default_app();
    let b = new_app(&env, "tenant-b").await;
    kv.set(a, "shared", "41", None).await.unwrap();
    kv.set(a, "a-only", "1", None).await.unwrap();
    env.store
        .set_variable(DEFAULT_APP_ID, "TOKEN", "plain-a", false, None)
        .await
        .unwrap();
    env.store
        .set_variable(DEFAULT_APP_ID, "SECRET", "secret-a", true, Some(&key(1)))
        .await
        .unwrap();
    // B knows the names and still sees nothing of A's.
    assert_eq!(kv.get(b, "shared").await.unwrap(), None);
    assert!(!kv.exists(b, "shared").await.unwrap());
    assert_eq!(kv.list(b, "", None, 100).await.unwrap(), KvPage::default());
    assert!(!kv.delete(b, "shared").await.unwrap());
    assert_eq!(kv.incr(b, "shared", 1).await.unwrap(), 1);
    assert_eq!(env_svc.get(b, "TOKEN").await.unwrap(), None);
    assert_eq!(env_svc.get(b, "SECRET").await.unwrap(), None);
    // A is unchanged.
    assert_eq!(kv.get(a, "shared").await.unwrap().as_deref(), Some("41"));
    assert_eq!(all_keys(&svc, a, "", 10).await, ["a-only", "shared"]);
    assert_eq!(all_keys(&svc, b, "", 10).await, ["shared"]);
    assert_eq!(
        env_svc.get(a, "SECRET").await.unwrap().as_deref(),
        Some("secret-a")
    );
    assert_eq!(usage(&env, a).await, (2, 15));
    assert_eq!(usage(&env, b).await, (1, 7));
    let b_vars = env.store.list_variables(b).await.unwrap();
    assert!(b_vars.is_empty());
}

async fn deleting_an_app_deletes_its_data(env: Env) {
    let svc = services(&env, KvQuota::default());
    let doomed = env.store.create_app("doomed", "Doomed", "").await.unwrap();
    let id: AppId = doomed.id;
    svc.kv().unwrap().set(id, "k", "1", None).await.unwrap();
    svc.kv()
        .unwrap()
        .incr(default_app(), "survivor", 1)
        .await
        .unwrap();
    env.store
        .set_variable(doomed.id, "PLAIN", "v", false, None)
        .await
        .unwrap();
    env.store
        .set_variable(doomed.id, "SECRET", "v", true, Some(&key(1)))
        .await
        .unwrap();
    env.store.delete_app(&doomed).await.unwrap();
    for table in ["kv_entries", "kv_usage", "app_variables"] {
        let left: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE app_id = $1"))
                .bind(doomed.id.to_string())
                .fetch_one(&env.raw)
                .await
                .unwrap();
        assert_eq!(left, 0, "{table}");
    }
    assert_eq!(usage(&env, default_app()).await, (1, 9));
}

async fn secrets_are_encrypted_at_rest(env: Env) {
    let server_key = key(1);
    let a = DEFAULT_APP_ID;
    let b = new_app(&env, "other").await;
    let shown = env
        .store
        .set_variable(a, "API_KEY", "sk_live_hunter2", true, Some(&server_key))
        .await
        .unwrap();
    assert_eq!(shown.value, None);
    assert!(!serde_json::to_string(&shown).unwrap().contains("hunter2"));
    let raw = |app: String, name: &'static str| {
        let pool = env.raw.clone();
        async move {
            sqlx::query_as::<_, (String, i64)>(
                "SELECT value, secret FROM app_variables WHERE app_id = $1 AND name = $2",
            )
            .bind(app)
            .bind(name)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let (stored, secret) = raw(a.to_string(), "API_KEY").await;
    assert_eq!(secret, 1);
    assert!(stored.starts_with("v1:"), "{stored}");
    assert!(!stored.contains("hunter2") && !stored.contains("sk_live"));
    assert_eq!(
        env.store
            .variable_value(a, "API_KEY", Some(&server_key))
            .await
            .unwrap()
            .as_deref(),
        Some("sk_live_hunter2")
    );
    // The same value again encrypts differently (a fresh nonce).
    env.store
        .set_variable(a, "API_KEY", "sk_live_hunter2", true, Some(&server_key))
        .await
        .unwrap();
    let (again, _) = raw(a.to_string(), "API_KEY").await;
    assert_ne!(again, stored);

    // Copied to another app, or to another name: it does not decrypt.
    for (app, name) in [(b, "API_KEY"), (a, "STOLEN")] {
        sqlx::query(
            "INSERT INTO app_variables (app_id, name, value, secret, created_at, updated_at)
             VALUES ($1, $2, $3, 1, 0, 0)",
        )
        .bind(app.to_string())
        .bind(name)
        .bind(&again)
        .execute(&env.raw)
        .await
        .unwrap();
        let err = env
            .store
            .variable_value(app, name, Some(&server_key))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Secret { .. }), "{err}");
        assert!(!err.to_string().contains("hunter2"));
        let svc = DataServices::new(
            env.store.clone(),
            KvQuota::default(),
            DocsQuota::default(),
            Some(key(1)),
        );
        let err = svc.env().unwrap().get(app, name).await.unwrap_err();
        assert_eq!(err.kind, ServiceErrorKind::Unavailable);
        assert!(!err.message.contains("hunter2"));
    }
    // Another server key, or none: no plaintext either.
    let err = env
        .store
        .variable_value(a, "API_KEY", Some(&key(2)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not decrypt"), "{err}");
    assert!(matches!(
        env.store.variable_value(a, "API_KEY", None).await,
        Err(StoreError::NoSecretKey)
    ));
    let keyless = DataServices::new(
        env.store.clone(),
        KvQuota::default(),
        DocsQuota::default(),
        None,
    );
    assert_eq!(
        keyless
            .env()
            .unwrap()
            .get(default_app(), "API_KEY")
            .await
            .unwrap_err()
            .kind,
        ServiceErrorKind::Unavailable
    );
    let err = env
        .store
        .set_variable(a, "NEW_SECRET", "x", true, None)
        .await
        .unwrap_err();
    assert_eq!(
        (err.status().as_u16(), err.code().as_str()),
        (503, "secrets_unavailable")
    );
    // A corrupted ciphertext is refused, not garbled.
    sqlx::query("UPDATE app_variables SET value = $1 WHERE app_id = $2 AND name = 'API_KEY'")
        .bind(format!("{}A", &again[..again.len() - 2]))
        .bind(a.to_string())
        .execute(&env.raw)
        .await
        .unwrap();
    assert!(matches!(
        env.store
            .variable_value(a, "API_KEY", Some(&server_key))
            .await,
        Err(StoreError::Secret { .. })
    ));
}

async fn variables_round_trip(env: Env) {
    let svc = services(&env, KvQuota::default());
    let k = key(1);
    let app = DEFAULT_APP_ID;
    let created = env
        .store
        .set_variable(app, "REGION", "eu-west", false, Some(&k))
        .await
        .unwrap();
    assert_eq!(
        (created.secret, created.value.as_deref()),
        (false, Some("eu-west"))
    );
    assert_eq!(
        svc.env()
            .unwrap()
            .get(default_app(), "REGION")
            .await
            .unwrap()
            .as_deref(),
        Some("eu-west")
    );
    // Plain → secret → plain, keeping the creation time.
    let secret = env
        .store
        .set_variable(app, "REGION", "eu-central", true, Some(&k))
        .await
        .unwrap();
    assert_eq!((secret.secret, secret.value), (true, None));
    assert_eq!(secret.created_at, created.created_at);
    assert_eq!(
        svc.env()
            .unwrap()
            .get(default_app(), "REGION")
            .await
            .unwrap()
            .as_deref(),
        Some("eu-central")
    );
    env.store
        .set_variable(app, "_under_score9", "", false, None)
        .await
        .unwrap();
    let listed = env.store.list_variables(app).await.unwrap();
    let view: Vec<(&str, bool, Option<&str>)> = listed
        .iter()
        .map(|v| (v.name.as_str(), v.secret, v.value.as_deref()))
        .collect();
    assert_eq!(
        view,
        [("REGION", true, None), ("_under_score9", false, Some(""))]
    );
    let json = serde_json::to_value(&listed).unwrap();
    assert_eq!(json[0].get("value"), None, "secrets have no value field");
    assert_eq!(json[1]["value"], "");
    let plain = env
        .store
        .set_variable(app, "REGION", "us-east", false, None)
        .await
        .unwrap();
    assert_eq!(plain.value.as_deref(), Some("us-east"));
    assert_eq!(
        svc.env()
            .unwrap()
            .get(default_app(), "REGION")
            .await
            .unwrap()
            .as_deref(),
        Some("us-east")
    );
    // Names and values are checked.
    for bad in ["", "1ABC", "A-B", "A B", "É", &"A".repeat(129)] {
        let err = env
            .store
            .set_variable(app, bad, "v", false, None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_name", "{bad:?}");
        let err = svc
            .env()
            .unwrap()
            .get(default_app(), bad)
            .await
            .unwrap_err();
        assert_eq!(err.kind, ServiceErrorKind::InvalidArgument, "{bad:?}");
    }
    env.store
        .set_variable(app, &"A".repeat(128), "v", false, None)
        .await
        .unwrap();
    let big = "x".repeat(64 * 1024 + 1);
    let err = env
        .store
        .set_variable(app, "BIG", &big, true, Some(&k))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_value");
    assert!(err.to_string().contains("65537 bytes"), "{err}");
    env.store
        .set_variable(app, "BIG", &big[1..], true, Some(&k))
        .await
        .unwrap();
    assert_eq!(
        svc.env()
            .unwrap()
            .get(default_app(), "BIG")
            .await
            .unwrap()
            .map(|v| v.len()),
        Some(64 * 1024)
    );
    let err = env
        .store
        .set_variable(app, "NUL", "a\0b", false, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_value");
    // Delete.
    env.store.delete_variable(app, "REGION").await.unwrap();
    assert_eq!(
        svc.env()
            .unwrap()
            .get(default_app(), "REGION")
            .await
            .unwrap(),
        None
    );
    let err = env.store.delete_variable(app, "REGION").await.unwrap_err();
    assert_eq!(
        (err.code().as_str(), err.to_string().as_str()),
        ("not_found", "variable 'REGION' not found")
    );
}

fn manager(env: &Env, config: ManagerConfig) -> Manager {
    Manager::new(
        env.store.clone(),
        Arc::new(NoExecutor),
        Arc::new(NoRouting),
        config,
    )
}

async fn janitor_purges_expired_entries(env: Env) {
    let manager = manager(&env, ManagerConfig::default());
    let svc = manager.data_services();
    let a = default_app();
    let b = new_app(&env, "other").await;
    for (app, k) in [(a, "x"), (a, "y"), (b, "z")] {
        svc.kv()
            .unwrap()
            .set(app, k, "1", Some(Duration::from_secs(60)))
            .await
            .unwrap();
        expire(&env, app, k).await;
    }
    svc.kv().unwrap().set(b, "live", "1", None).await.unwrap();
    let removed = manager.clean_up().await.unwrap();
    assert_eq!(removed.kv_entries, 3);
    assert_eq!(usage(&env, a).await, (0, 0));
    assert_eq!(usage(&env, b).await, (1, 5));
    assert_eq!(manager.clean_up().await.unwrap().kv_entries, 0);
}

/// The admin router with a token, driven request by request.
impl Api {
    async fn new(env: &Env, config: ManagerConfig) -> Api {
        Api::serve(manager(env, config)).await
    }
}

async fn admin_api_kv(env: Env) {
    let quota = KvQuota {
        max_keys: 3,
        ..KvQuota::default()
    };
    let api = Api::new(
        &env,
        ManagerConfig {
            kv_quota: quota,
            ..Default::default()
        },
    )
    .await;
    let app = env.store.create_app("shop", "Shop", "").await.unwrap();
    // A key with a slash travels percent-encoded and comes back whole.
    let (status, item) = api
        .call(
            "PUT",
            "/apps/shop/kv/users%2F42",
            Some(json!({"value": {"name": "Ada", "tags": [1, "x"]}, "ttl_seconds": 3600})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{item}");
    assert_eq!(item["key"], "users/42");
    assert_eq!(item["value"], json!({"name": "Ada", "tags": [1, "x"]}));
    assert_eq!(item["size"], 8 + r#"{"name":"Ada","tags":[1,"x"]}"#.len());
    assert!(item["expires_at"].as_str().unwrap().ends_with('Z'));
    let (status, shown) = api.call("GET", "/apps/shop/kv/users%2F42", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown, item);
    // What the admin wrote, the app's scripts read.
    let svc = DataServices::new(env.store.clone(), quota, DocsQuota::default(), None);
    let id: AppId = app.id;
    assert_eq!(
        svc.kv()
            .unwrap()
            .get(id, "users/42")
            .await
            .unwrap()
            .as_deref(),
        Some(r#"{"name":"Ada","tags":[1,"x"]}"#)
    );
    svc.kv()
        .unwrap()
        .set(id, "users/7", "\"seven\"", None)
        .await
        .unwrap();
    svc.kv()
        .unwrap()
        .set(id, "zeta%", "true", None)
        .await
        .unwrap();

    let (status, page) = api
        .call("GET", "/apps/shop/kv?prefix=users%2F&limit=1", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["key"], "users/42");
    assert_eq!(page["next_cursor"], "users/42");
    assert_eq!(page["usage"]["keys"], 3);
    assert_eq!(page["quota"]["max_keys"], 3);
    assert_eq!(page["quota"]["max_value_bytes"], 262_144);
    let (_, page) = api
        .call(
            "GET",
            "/apps/shop/kv?prefix=users%2F&limit=1&cursor=users%2F42",
            None,
        )
        .await;
    assert_eq!(page["items"][0]["value"], "seven");
    assert_eq!(page["items"][0]["expires_at"], Value::Null);
    assert_eq!(page["next_cursor"], Value::Null);
    let (_, page) = api.call("GET", "/apps/shop/kv?prefix=zeta%25", None).await;
    assert_eq!(page["items"][0]["key"], "zeta%");
    let (_, page) = api.call("GET", &format!("/apps/{}/kv", app.id), None).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    assert_eq!(
        page["usage"]["bytes"],
        item["size"].as_i64().unwrap() + 14 + 9
    );

    // Errors a user can act on.
    for (method, path, body, status, code) in [
        ("GET", "/apps/shop/kv?limit=0", None, 400, "invalid_limit"),
        (
            "GET",
            "/apps/shop/kv?limit=1001",
            None,
            400,
            "invalid_limit",
        ),
        (
            "GET",
            "/apps/shop/kv?colour=red",
            None,
            400,
            "invalid_query",
        ),
        ("GET", "/apps/shop/kv/nope", None, 404, "not_found"),
        ("GET", "/apps/nope/kv", None, 404, "not_found"),
        ("DELETE", "/apps/shop/kv/nope", None, 404, "not_found"),
        (
            "PUT",
            "/apps/shop/kv/k",
            Some(json!({"ttl_seconds": 5})),
            400,
            "invalid_json",
        ),
        (
            "PUT",
            "/apps/shop/kv/k",
            Some(json!({"value": 1, "ttl": 5})),
            400,
            "invalid_json",
        ),
        (
            "PUT",
            "/apps/shop/kv/k",
            Some(json!({"value": 1, "ttl_seconds": 0})),
            400,
            "invalid_ttl",
        ),
        (
            "PUT",
            "/apps/shop/kv/k",
            Some(json!({"value": 1, "ttl_seconds": -1})),
            400,
            "invalid_json",
        ),
        (
            "PUT",
            "/apps/shop/kv/a%00b",
            Some(json!({"value": 1})),
            400,
            "invalid_key",
        ),
        (
            "PUT",
            &format!("/apps/shop/kv/{}", "k".repeat(513)),
            Some(json!({"value": 1})),
            400,
            "invalid_key",
        ),
        (
            "PUT",
            "/apps/shop/kv/k",
            Some(json!({"value": "x".repeat(262_144)})),
            400,
            "invalid_value",
        ),
        (
            "PUT",
            "/apps/shop/kv/fourth",
            Some(json!({"value": 1})),
            409,
            "quota_exceeded",
        ),
    ] {
        let (got, body) = api.call(method, path, body).await;
        assert_eq!(
            (got.as_u16(), body["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {body}"
        );
    }
    let (_, body) = api
        .call("PUT", "/apps/shop/kv/fourth", Some(json!({"value": 1})))
        .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("holds 3 keys, the most it may (3)"),
        "{body}"
    );

    // After a rename the old slug redirects, key and all.
    env.store.rename_app(&app, "store", false).await.unwrap();
    let (status, headers, _) = api
        .call_full("GET", "/apps/shop/kv/users%2F42?x=1", None)
        .await;
    assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        headers[header::LOCATION],
        "/api/v1/admin/apps/store/kv/users%2F42?x=1"
    );

    let (status, _) = api.call("DELETE", "/apps/store/kv/users%2F42", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.call("GET", "/apps/store/kv/users%2F42", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(usage(&env, id).await, (2, 23));

    // Every operation is in the OpenAPI document.
    let doc = openapi(&api).await;
    let paths = &doc["paths"];
    for (path, methods) in [
        ("/apps/{app}/kv", &["get"][..]),
        ("/apps/{app}/kv/{key}", &["get", "put", "delete"][..]),
        ("/apps/{app}/variables", &["get"][..]),
        ("/apps/{app}/variables/{name}", &["put", "delete"][..]),
    ] {
        for method in methods {
            let op = &paths[path][method];
            assert!(op.is_object(), "{method} {path} is documented");
            assert!(op["responses"]["401"].is_object());
        }
    }
    assert!(paths["/apps/{app}/kv/{key}"]["put"]["responses"]["409"].is_object());
}

async fn openapi(api: &Api) -> Value {
    let request = Request::builder()
        .uri("/api/v1/openapi.json")
        .body(Body::empty())
        .unwrap();
    let response = api.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn admin_api_variables(env: Env) {
    let k = key(3);
    let api = Api::new(
        &env,
        ManagerConfig {
            secret_key: Some(k.clone()),
            ..Default::default()
        },
    )
    .await;
    let (status, plain) = api
        .call(
            "PUT",
            "/apps/default/variables/REGION",
            Some(json!({"value": "eu-west"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{plain}");
    assert_eq!(
        (&plain["name"], &plain["secret"], &plain["value"]),
        (&json!("REGION"), &json!(false), &json!("eu-west"))
    );
    let (status, secret) = api
        .call(
            "PUT",
            "/apps/default/variables/STRIPE_KEY",
            Some(json!({"value": "sk_live_hunter2", "secret": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(secret["secret"], true);
    assert!(secret.get("value").is_none(), "{secret}");
    let (status, list) = api.call("GET", "/apps/default/variables", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!list.to_string().contains("hunter2"), "{list}");
    let names: Vec<(&str, bool)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap(), v["secret"].as_bool().unwrap()))
        .collect();
    assert_eq!(names, [("REGION", false), ("STRIPE_KEY", true)]);
    assert!(list["items"][1].get("value").is_none());
    // Scripts of the app read it decrypted.
    let svc = DataServices::new(
        env.store.clone(),
        KvQuota::default(),
        DocsQuota::default(),
        Some(k),
    );
    assert_eq!(
        svc.env()
            .unwrap()
            .get(default_app(), "STRIPE_KEY")
            .await
            .unwrap()
            .as_deref(),
        Some("sk_live_hunter2")
    );

    for (method, path, body, status, code) in [
        (
            "PUT",
            "/apps/default/variables/9LIVES",
            Some(json!({"value": "x"})),
            400,
            "invalid_name",
        ),
        (
            "PUT",
            "/apps/default/variables/a-b",
            Some(json!({"value": "x"})),
            400,
            "invalid_name",
        ),
        (
            "PUT",
            "/apps/default/variables/OK",
            Some(json!({"value": 5})),
            400,
            "invalid_json",
        ),
        (
            "PUT",
            "/apps/default/variables/OK",
            Some(json!({"value": "x", "hidden": true})),
            400,
            "invalid_json",
        ),
        (
            "PUT",
            "/apps/default/variables/BIG",
            Some(json!({"value": "x".repeat(65_537)})),
            400,
            "invalid_value",
        ),
        (
            "PUT",
            "/apps/nope/variables/OK",
            Some(json!({"value": "x"})),
            404,
            "not_found",
        ),
        (
            "DELETE",
            "/apps/default/variables/MISSING",
            None,
            404,
            "not_found",
        ),
        (
            "DELETE",
            "/apps/default/variables/bad-name",
            None,
            400,
            "invalid_name",
        ),
    ] {
        let (got, body) = api.call(method, path, body).await;
        assert_eq!(
            (got.as_u16(), body["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {body}"
        );
    }
    let (status, _) = api
        .call("DELETE", "/apps/default/variables/STRIPE_KEY", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        svc.env()
            .unwrap()
            .get(default_app(), "STRIPE_KEY")
            .await
            .unwrap(),
        None
    );

    // Without a server key, secrets are refused with a reason; plain
    // variables still work.
    let keyless = Api::new(&env, ManagerConfig::default()).await;
    let (status, body) = keyless
        .call(
            "PUT",
            "/apps/default/variables/TOKEN",
            Some(json!({"value": "x", "secret": true})),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "secrets_unavailable");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no key for secrets"),
        "{body}"
    );
    let (status, _) = keyless
        .call(
            "PUT",
            "/apps/default/variables/TOKEN",
            Some(json!({"value": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}
