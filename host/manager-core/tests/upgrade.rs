//! Upgrades: a database as each released PiCloud left it is migrated to the
//! current schema, on SQLite and on PostgreSQL, and everything in it reads
//! back through today's store as the user put it there.
//!
//! A database "at schema version N" is built as an install that started at
//! version 1 and was upgraded release by release: for each version v up to
//! N, the migrations up to v run and then `fixtures/upgrade/000v.sql`, the
//! rows the code of version v wrote (in exactly the shapes it wrote them).
//! Data-dependent migrations (0007 looks for users and tokens; 0009 numbers
//! the execution records) therefore run over real data, as in the field.
//!
//! Also: a database that a newer PiCloud migrated is refused with a message
//! naming both versions, and every released version has a fixture, so a new
//! migration cannot ship without one for the version it supersedes.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use manager_core::store::{
    AppRef, ExecutionFilter, HELLO_WORLD_SEEDED, Page, Role, StoreError, TokenScope, parse_where,
};
use manager_core::{Db, DocsQuota, KvQuota, SecretKey, Store};
use orchestrator_core::Tables;
use serde_json::json;
use shared::{
    AppId, CorsPolicy, DocQuery, ExecutionId, ExecutionOutcome, ExecutionRecord, LogLevel, LogLine,
    Miss, RateLimit, RouteId, RoutingSource, ScriptId, ScriptResponse, Trigger,
};

/// The fixtures, version 1 first: the rows each released version added.
const FIXTURES: [&str; 15] = [
    include_str!("fixtures/upgrade/0001.sql"),
    include_str!("fixtures/upgrade/0002.sql"),
    include_str!("fixtures/upgrade/0003.sql"),
    include_str!("fixtures/upgrade/0004.sql"),
    include_str!("fixtures/upgrade/0005.sql"),
    include_str!("fixtures/upgrade/0006.sql"),
    include_str!("fixtures/upgrade/0007.sql"),
    include_str!("fixtures/upgrade/0008.sql"),
    include_str!("fixtures/upgrade/0009.sql"),
    include_str!("fixtures/upgrade/0010.sql"),
    include_str!("fixtures/upgrade/0011.sql"),
    include_str!("fixtures/upgrade/0012.sql"),
    include_str!("fixtures/upgrade/0013.sql"),
    include_str!("fixtures/upgrade/0014.sql"),
    include_str!("fixtures/upgrade/0015.sql"),
];

/// One trial per released version; the number is the version the
/// database starts at.
macro_rules! upgrades {
    ($($version:literal),* $(,)?) => {
        vec![$((
            concat!("from_schema_version_", $version),
            (|db| Box::pin(async move { upgrade_from($version, db).await }))
                as testkit::harness::Test,
        )),*]
    };
}

fn main() {
    let mut tests = upgrades![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
    tests.push(("a_database_from_a_newer_picloud_is_refused", |db| {
        Box::pin(async move { newer_database_is_refused(db).await })
    }));
    tests.push(("every_released_version_has_a_fixture", |db| {
        Box::pin(async move { every_released_version_has_a_fixture(db).await })
    }));
    testkit::harness::run_on_both_databases(tests)
}

// Ids and secrets the fixtures hold.
const SHOP: &str = "a1f0c2d4-5e6b-4c7d-8e9f-0a1b2c3d4e01";
const BLOG: &str = "b2e1d3c5-6f7a-4d8e-9fa0-1b2c3d4e5f02";
const HELLO: &str = "5c000000-0000-4000-8000-000000000001";
const PRODUCTS: &str = "5c000000-0000-4000-8000-000000000002";
const TENANT_HOME: &str = "5c000000-0000-4000-8000-000000000003";
const FILES: &str = "5c000000-0000-4000-8000-000000000004";
const POSTS: &str = "5c000000-0000-4000-8000-000000000005";
const DIGEST: &str = "5c000000-0000-4000-8000-000000000006";
const ALICE: &str = "a11ce000-0000-4000-8000-000000000001";
/// Plaintexts whose SHA-256 the fixtures stored.
const BOOTSTRAP_TOKEN: &str = "pc_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const ALICE_TOKEN: &str = "pc_fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
const METRICS_TOKEN: &str = "pc_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const SESSION_COOKIE: &str = "upgrade-fixture-session-cookie-0000000000000000000000000000000000";
const PASSWORD: &str = "correct horse battery staple";
/// The server key the fixture's secret was encrypted under.
const SECRET_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// Execution records in the order they were written.
const EXECUTIONS: [&str; 5] = [
    "e0000000-0000-4000-8000-000000000001",
    "e0000000-0000-4000-8000-000000000002",
    "e0000000-0000-4000-8000-000000000003",
    "e0000000-0000-4000-8000-000000000004",
    "0193c000-0000-7000-8000-000000000005",
];
/// Hello World as version 1 seeded it.
const HELLO_WORLD_V1: &str = "// Hello World: try /hello?name=you
let name = request.query.name ?? \"World\";
`Hello, ${name}!`
";

fn id<T: std::str::FromStr>(text: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    text.parse().unwrap()
}

/// A fresh SQLite file in `dir`, or the harness's PostgreSQL database.
fn database_url(database: Option<String>, dir: &tempfile::TempDir) -> String {
    database.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("picloud.db").display()))
}

/// The newest migration this build carries, read from the migration files
/// rather than from `Db`, so the test does not take the code's word for it.
fn newest_migration() -> i64 {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/sqlite");
    std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.split('_').next()?.parse::<i64>().ok()
        })
        .max()
        .expect("migrations exist")
}

/// Runs `sql` (several statements) on its own connection, outside `Db`:
/// the fixtures write what old code wrote, not what today's store would.
async fn execute(url: &str, sql: &str) {
    let result = if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let result = sqlx::raw_sql(sql).execute(&pool).await.map(drop);
        pool.close().await;
        result
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let result = sqlx::raw_sql(sql).execute(&pool).await.map(drop);
        pool.close().await;
        result
    };
    if let Err(err) = result {
        panic!("executing SQL failed: {err}\n{sql}");
    }
}

/// Builds the database at schema `version` as the installs of that time
/// left it: migrations and fixtures of each version in turn.
async fn build_database_at(url: &str, version: usize) {
    for (v, fixture) in (1..=version).zip(FIXTURES) {
        let db = Db::connect_up_to(url, v as i64).await.unwrap();
        assert_eq!(db.schema_version().await.unwrap(), v as i64);
        drop(db);
        execute(url, fixture).await;
    }
}

async fn upgrade_from(version: usize, database: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(database, &dir);
    build_database_at(&url, version).await;

    let db = Db::connect(&url)
        .await
        .unwrap_or_else(|err| panic!("upgrading from schema version {version}: {err}"));
    assert_eq!(db.schema_version().await.unwrap(), newest_migration());
    let store = Store::new(db);

    apps_domains_and_slugs(&store, version).await;
    scripts_and_routing(&store, version).await;
    execution_log(&store, version).await;
    users_sessions_and_tokens(&store, version).await;
    kv_entries(&store, version).await;
    variables_and_secrets(&store, version).await;
    documents(&store, version).await;
    http_allow_lists(&store, version).await;
    cron_triggers(&store, version).await;
    script_versions(&store).await;
    login_throttle(&store, version).await;
    composition(&store, version).await;
    app_users(&store, version).await;
    roles(&store, version).await;
    queues(&store, version).await;
    email(&store).await;
    // Hello World counts as seeded on every upgraded install: from version
    // 7 on the fixture (or migration 0007) recorded it; before, migration
    // 0007 infers it from the bootstrap token.
    assert_eq!(
        store.setting(HELLO_WORLD_SEEDED).await.unwrap().as_deref(),
        Some("true")
    );
}

/// Migration 0012: no script imports anything yet, no app had
/// interceptors before it (from version 12 on, the shop's one is kept), and
/// every record is a top-level one with no modules; from version 11 on, a
/// record keeps the version that ran.
async fn composition(store: &Store, version: usize) {
    let snapshot = store.load().await.unwrap();
    assert!(snapshot.scripts.iter().all(|s| s.imports.is_empty()));
    if version >= 12 {
        let [interceptor] = snapshot.interceptors.as_slice() else {
            panic!("{:?}", snapshot.interceptors);
        };
        assert_eq!(interceptor.app_id, id(SHOP));
        assert_eq!(interceptor.script_id, id(TENANT_HOME));
        assert_eq!(interceptor.prefix, "/api/");
    } else {
        assert!(snapshot.interceptors.is_empty());
    }
    let record = store
        .execution(id("e0000000-0000-4000-8000-000000000001"))
        .await
        .unwrap();
    assert_eq!(record.summary.parent_id, None);
    assert!(record.modules.is_empty() && record.interceptors.is_empty());
    assert!(record.descendants.is_empty());
    let expected = (version >= 11).then_some(1);
    assert_eq!(record.summary.script_version, expected);
}

/// Migration 0013: no app has end users before it, and every app has the
/// default settings for them; from version 13 on, the shop's customer, its
/// session and its settings are kept.
async fn app_users(store: &Store, version: usize) {
    let blog = store.app(BLOG).await.unwrap();
    assert!(blog.users.is_none());
    let accounts = store.app_users_page(blog.id, None, None, 10).await;
    assert!(accounts.unwrap().is_empty());
    let shop = store.app(SHOP).await.unwrap();
    let accounts = store.app_users_page(shop.id, None, None, 10).await.unwrap();
    if version < 13 {
        assert!(shop.users.is_none());
        assert!(accounts.is_empty());
        return;
    }
    let settings = serde_json::to_value(shop.users.unwrap()).unwrap();
    assert_eq!(
        settings,
        json!({"session_cookie": "shop_sid", "session_ttl": 86400})
    );
    let [customer] = accounts.as_slice() else {
        panic!("{accounts:?}");
    };
    assert_eq!(customer.email, "customer@example.com");
    assert!(customer.verified && !customer.disabled);
    assert_eq!(customer.metadata, json!({"name": "Grace"}));
    assert_eq!(customer.sessions, 1);
    assert_eq!(
        customer.last_sign_in_at.as_deref(),
        Some("2024-12-06T15:48:20.000Z")
    );
}

/// Migration 0014: every user from before roles stays a server admin, no
/// app has roles before it, and no token is limited to an app; from
/// version 14 on, Vera's role on the shop and the shop's CI token are kept.
async fn roles(store: &Store, version: usize) {
    let users = store.list_users(&Page::all()).await.unwrap();
    let (before, since): (Vec<_>, Vec<_>) = users.iter().partition(|u| u.username != "vera");
    assert_eq!(before.len(), if version >= 2 { 1 } else { 0 });
    assert!(before.iter().all(|u| u.server_admin));
    let tokens = store.list_tokens(None, &Page::all()).await.unwrap();
    let (limited, unlimited): (Vec<_>, Vec<_>) = tokens.iter().partition(|t| t.app_id.is_some());
    assert!(unlimited.iter().all(|t| t.role.is_none()));
    if version >= 2 {
        let powers = store.user_powers(ALICE).await.unwrap().unwrap();
        assert!(powers.server_admin && powers.roles.is_empty());
    }
    if version < 14 {
        assert!(since.is_empty() && limited.is_empty());
        for app in [SHOP, BLOG] {
            assert!(store.grants(id(app)).await.unwrap().is_empty());
        }
        return;
    }
    let [vera] = since.as_slice() else {
        panic!("{users:?}");
    };
    assert!(!vera.server_admin);
    let grants = store.grants(id(SHOP)).await.unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(
        (grants[0].username.as_str(), grants[0].role),
        ("vera", Role::Viewer)
    );
    assert!(store.grants(id(BLOG)).await.unwrap().is_empty());
    let [ci] = limited.as_slice() else {
        panic!("{tokens:?}");
    };
    assert_eq!(
        (ci.app_id, ci.role),
        (Some(id(SHOP)), Some(Role::Developer))
    );
}

/// Migration 0015: no app has queues before it, and the tables take
/// messages and triggers at once; from version 15 on, the shop's queue
/// "restock" keeps its trigger, its waiting message and its dead letter.
async fn queues(store: &Store, version: usize) {
    assert!(store.queue_stats(id(BLOG), 0).await.unwrap().is_empty());
    let before = store.queue_stats(id(SHOP), i64::MAX / 2).await.unwrap();
    if version >= 15 {
        assert_eq!(before.len(), 1, "{before:?}");
        assert_eq!(
            (before[0].name.as_str(), before[0].ready, before[0].dead),
            ("restock", 1, 1)
        );
        assert_eq!(
            before[0].trigger_id.as_deref(),
            Some("9e000000-0000-4000-8000-000000000015")
        );
        let dead = store.dead_letters(id(SHOP), "restock", 10).await.unwrap();
        assert_eq!(
            dead[0].last_error.as_deref(),
            Some("runtime_error: out of stock")
        );
    } else {
        assert!(before.is_empty(), "{before:?}");
    }
    let sent = store
        .enqueue(id(SHOP), "after-upgrade", "{\"n\":1}", 0)
        .await
        .unwrap();
    let stats = store.queue_stats(id(SHOP), i64::MAX / 2).await.unwrap();
    let after = stats.iter().find(|q| q.name == "after-upgrade").unwrap();
    assert_eq!(after.ready, 1);
    assert!(!sent.is_empty());
}

/// Migration 0016: an empty outbox that takes mail at once, and an email
/// trigger next to the queue triggers.
async fn email(store: &Store) {
    assert!(
        store
            .list_emails(id(SHOP), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let queued = store
        .queue_email(
            id(SHOP),
            None,
            &manager_core::store::NewEmail {
                from: "orders@shop.example".into(),
                to: vec!["ada@example.org".into()],
                cc: Vec::new(),
                reply_to: None,
                subject: "After the upgrade".into(),
                text: Some("hi".into()),
                html: None,
            },
            10,
        )
        .await
        .unwrap();
    let listed = store
        .list_emails(id(SHOP), Some("queued"), 10)
        .await
        .unwrap();
    assert_eq!(listed[0].id, queued);
    let queue = manager_core::store::email_queue("support").unwrap();
    store
        .create_queue_trigger(id(SHOP), PRODUCTS, &queue, true, None)
        .await
        .unwrap();
}

/// Every script's source so far is its version 1 (migration 0011), with
/// the hash of that source; the next change of source is version 2.
async fn script_versions(store: &Store) {
    use sha2::Digest as _;
    let hello = store.script(id(HELLO)).await.unwrap();
    assert_eq!(hello.version, 1);
    let versions = store.script_versions(&hello, None, 10).await.unwrap();
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0].version, 1);
    assert!(versions[0].current);
    assert_eq!(versions[0].author, "");
    assert_eq!(
        versions[0].sha256,
        hex::encode(sha2::Sha256::digest(hello.source.as_bytes()))
    );
    let v1 = store.script_version(&hello, 1).await.unwrap();
    assert_eq!(v1.source.as_deref(), Some(hello.source.as_str()));
    let changed = store
        .update_script(&hello, None, None, Some("\"changed\""))
        .await
        .unwrap();
    assert_eq!(changed.version, 2);
    let old = store.script_version(&changed, 1).await.unwrap();
    assert_eq!(old.source.as_deref(), Some(hello.source.as_str()));
    assert!(!old.current);
}

/// From version 10 on the throttle's counts are stored, and an upgrade
/// keeps a lockout in force.
async fn login_throttle(store: &Store, version: usize) {
    let throttle = manager_core::auth::LoginThrottle::new(store.clone());
    let locked = throttle.check(Some("mallory"), None).await;
    if version >= 10 {
        assert!(locked.is_err(), "the stored lockout holds");
    } else {
        assert!(locked.is_ok());
    }
    assert!(throttle.check(Some("alice"), None).await.is_ok());
}

fn shop_cors() -> CorsPolicy {
    CorsPolicy {
        allow_origins: vec![
            "https://shop.example".into(),
            "https://{sub}.shop.example".into(),
        ],
        allow_methods: vec!["GET".into(), "POST".into()],
        allow_headers: vec!["content-type".into()],
        expose_headers: vec![],
        allow_credentials: true,
        max_age: Some(600),
    }
}

fn shop_rate_limit() -> RateLimit {
    RateLimit {
        requests_per_second: 5.0,
        burst: Some(10),
        per_client_ip: true,
    }
}

fn blog_rate_limit() -> RateLimit {
    RateLimit {
        requests_per_second: 0.5,
        burst: None,
        per_client_ip: false,
    }
}

/// Domain patterns as a set: list order follows the engine's collation,
/// which is not what this test is about.
fn patterns(app: &manager_core::store::App) -> BTreeSet<&str> {
    app.domains.iter().map(|d| d.pattern.as_str()).collect()
}

async fn apps_domains_and_slugs(store: &Store, version: usize) {
    let slugs: Vec<String> = store
        .list_apps(&Page::all())
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.slug)
        .collect();
    assert_eq!(slugs, ["blog", "default", "shop"]);

    let shop = store.app("shop").await.unwrap();
    assert_eq!(shop.id, id::<AppId>(SHOP));
    assert_eq!(shop.name, "Shop");
    assert_eq!(shop.description, "The web shop");
    assert_eq!(shop.limits, Some(json!({"deadline_ms": 2000})));
    assert_eq!(shop.created_at, "2026-11-26T10:00:00.000Z");
    assert_eq!(
        patterns(&shop),
        BTreeSet::from(["shop.example", "{tenant}.shop.example"])
    );
    let tenant_claim = shop
        .domains
        .iter()
        .find(|d| d.pattern == "{tenant}.shop.example")
        .unwrap();
    assert_eq!(tenant_claim.shape_key, "*.shop.example");
    assert_eq!(tenant_claim.id, "d0000000-0000-4000-8000-000000000001");

    let blog = store.app(BLOG).await.unwrap();
    assert_eq!(blog.slug, "blog");
    assert_eq!(blog.limits, None);
    assert_eq!(patterns(&blog), BTreeSet::from(["blog.example"]));

    // Old slugs still redirect to the current ones.
    for (old, current) in [("store", "shop"), ("journal", "blog")] {
        match store.resolve_app(old).await.unwrap() {
            AppRef::Renamed { current_slug } => assert_eq!(current_slug, current),
            AppRef::Found(app) => panic!("'{old}' resolved to app {}", app.slug),
        }
    }
    let verdict = store.check_slug(&blog, "store").await.unwrap();
    assert_eq!(
        (verdict.status, verdict.holder.as_deref()),
        ("history", Some("shop"))
    );

    let default = store.app("default").await.unwrap();
    let mut default_domains = BTreeSet::from(["localhost"]);
    if version >= 7 {
        default_domains.insert("picloud.example.net");
    }
    assert_eq!(patterns(&default), default_domains);

    // HTTP settings exist from version 8; older apps have them off.
    if version >= 8 {
        assert_eq!(shop.cors, Some(shop_cors()));
        assert_eq!(shop.rate_limit, Some(shop_rate_limit()));
        assert_eq!(blog.cors, None);
        assert_eq!(blog.rate_limit, Some(blog_rate_limit()));
        assert_eq!(shop.updated_at, "2026-12-07T12:00:00.000Z");
    } else {
        assert_eq!((shop.cors, shop.rate_limit), (None, None));
        assert_eq!((blog.cors, blog.rate_limit), (None, None));
        assert_eq!(shop.updated_at, "2026-11-26T10:01:00.000Z");
    }
}

async fn scripts_and_routing(store: &Store, version: usize) {
    let names = |scripts: Vec<manager_core::store::Script>| -> Vec<String> {
        scripts.into_iter().map(|s| s.name).collect()
    };
    let all = Page::all();
    assert_eq!(
        names(
            store
                .list_scripts(Some(AppId::DEFAULT), &all)
                .await
                .unwrap()
        ),
        ["hello"]
    );
    assert_eq!(
        names(store.list_scripts(Some(id(SHOP)), &all).await.unwrap()),
        ["files", "products", "tenant-home"]
    );
    assert_eq!(
        names(store.list_scripts(Some(id(BLOG)), &all).await.unwrap()),
        ["nightly-digest", "posts"]
    );
    let hello = store.script(id(HELLO)).await.unwrap();
    assert_eq!(hello.source, HELLO_WORLD_V1);
    assert_eq!(hello.description, "Hello World");
    let digest = store.script(id(DIGEST)).await.unwrap();
    assert_eq!(digest.description, "Mails the day's posts");
    assert_eq!(digest.source, "print(\"digest sent\");");
    let products = store.script(id(PRODUCTS)).await.unwrap();
    assert!(
        products
            .source
            .contains("print(`looking up product ${id}`);\n"),
        "{}",
        products.source
    );
    assert_eq!(products.updated_at, "2026-11-26T10:00:30.000Z");

    let routes: Vec<(String, String, Option<String>)> = store
        .list_app_routes(id(SHOP), &all)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.method, r.path, r.host))
        .collect();
    assert_eq!(
        routes,
        [
            (
                "GET".into(),
                "/".into(),
                Some("{tenant}.shop.example".into())
            ),
            ("*".into(), "/files/*".into(), None),
            ("GET".into(), "/products/:id".into(), None),
        ]
    );

    // The routing table the orchestrator builds from the snapshot answers
    // requests as it did before the upgrade.
    let snapshot = store.load().await.unwrap();
    let shop = snapshot
        .apps
        .iter()
        .find(|a| a.id == id::<AppId>(SHOP))
        .unwrap();
    assert_eq!(shop.limits.deadline_ms, 2000);
    assert_eq!(shop.limits.fuel, shared::Limits::default().fuel);
    if version >= 8 {
        assert_eq!(shop.cors, Some(shop_cors()));
        assert_eq!(shop.rate_limit, Some(shop_rate_limit()));
    } else {
        assert_eq!((&shop.cors, &shop.rate_limit), (&None, &None));
    }
    let tables = Tables::build(snapshot);

    let hit = tables.resolve("localhost:8080", "GET", "/hello").unwrap();
    assert_eq!((hit.app_id, hit.script_id), (AppId::DEFAULT, id(HELLO)));
    let hit = tables
        .resolve("shop.example", "GET", "/products/42")
        .unwrap();
    assert_eq!(hit.app_slug, "shop");
    assert_eq!(hit.script_id, id::<ScriptId>(PRODUCTS));
    assert_eq!(
        hit.route_id,
        id::<RouteId>("7e000000-0000-4000-8000-000000000002")
    );
    assert_eq!(hit.params, [("id".to_owned(), "42".to_owned())]);
    let hit = tables.resolve("acme.shop.example", "GET", "/").unwrap();
    assert_eq!(hit.script_id, id::<ScriptId>(TENANT_HOME));
    assert_eq!(hit.host_params, [("tenant".to_owned(), "acme".to_owned())]);
    let hit = tables
        .resolve("acme.shop.example", "DELETE", "/files/img/logo.png")
        .unwrap();
    assert_eq!(hit.script_id, id::<ScriptId>(FILES));
    assert_eq!(
        hit.params,
        [("wildcard".to_owned(), "img/logo.png".to_owned())]
    );
    // The host-scoped route answers only on its host.
    assert!(matches!(
        tables.resolve("shop.example", "GET", "/"),
        Err(Miss::NoRoute { .. })
    ));
    let hit = tables.resolve("blog.example", "POST", "/posts").unwrap();
    assert_eq!(hit.script_id, id::<ScriptId>(POSTS));
    match tables.resolve("blog.example", "DELETE", "/posts") {
        Err(Miss::MethodNotAllowed { allowed, .. }) => {
            assert!(
                allowed.contains(&"GET".to_owned()) && allowed.contains(&"POST".to_owned()),
                "{allowed:?}"
            );
        }
        other => panic!("DELETE /posts: {other:?}"),
    }
    let public = tables.resolve("picloud.example.net", "GET", "/hello");
    if version >= 7 {
        assert_eq!(public.unwrap().script_id, id::<ScriptId>(HELLO));
    } else {
        assert!(
            matches!(public, Err(Miss::UnknownHost { .. })),
            "{public:?}"
        );
    }
}

fn line(level: LogLevel, message: &str) -> LogLine {
    LogLine {
        level,
        message: message.into(),
    }
}

async fn execution_log(store: &Store, version: usize) {
    let written = match version {
        ..=5 => 3,
        6..=8 => 4,
        _ => 5,
    };
    let all = ExecutionFilter {
        limit: 100,
        ..ExecutionFilter::default()
    };

    // The newest first, as the dashboard lists them.
    let listed: Vec<String> = store
        .list_executions(&all)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id.to_string())
        .collect();
    let mut newest_first: Vec<String> = EXECUTIONS[..written]
        .iter()
        .map(|s| s.to_string())
        .collect();
    newest_first.reverse();
    assert_eq!(listed, newest_first);

    // Migration 0009 numbered the old records in the order they were
    // written: the live stream, which resumes by number, replays them so.
    let replay = store
        .list_executions_detailed(&ExecutionFilter {
            after_seq: Some(0),
            ..all.clone()
        })
        .await
        .unwrap();
    let replayed: Vec<String> = replay.iter().map(|e| e.summary.id.to_string()).collect();
    assert_eq!(replayed, EXECUTIONS[..written]);
    let seqs: Vec<i64> = replay.iter().map(|e| e.summary.seq).collect();
    assert!(
        seqs[0] >= 1 && seqs.windows(2).all(|w| w[0] < w[1]),
        "sequence numbers {seqs:?}"
    );

    let ok = &replay[0];
    assert_eq!(ok.summary.app_id, id::<AppId>(SHOP));
    assert_eq!(ok.summary.script_id, id::<ScriptId>(PRODUCTS));
    assert_eq!(
        ok.summary.route_id.as_deref(),
        Some("7e000000-0000-4000-8000-000000000002")
    );
    assert_eq!(
        (ok.summary.trigger.as_str(), ok.summary.method.as_str()),
        ("http", "GET")
    );
    assert_eq!(ok.summary.path, "/products/42");
    assert_eq!((ok.summary.status, ok.summary.outcome), (200, "ok"));
    assert!(ok.summary.error.is_none());
    assert_eq!(ok.summary.fuel_used, 48211);
    assert_eq!(ok.summary.duration_ms, 1.875);
    assert_eq!(ok.summary.started_at, "2026-11-26T10:05:00.000Z");
    assert_eq!(ok.logs, [line(LogLevel::Info, "looking up product 42")]);
    assert_eq!(ok.logs_dropped, 0);
    // Columns that version 9 added read as "not recorded".
    assert_eq!(
        (ok.summary.host.as_str(), ok.summary.request_id.as_str()),
        ("", "")
    );
    assert_eq!(ok.summary.response_bytes, 0);
    assert!(ok.request_headers.is_empty());

    let failed = store.execution(id(EXECUTIONS[1])).await.unwrap();
    assert_eq!(
        (failed.summary.status, failed.summary.outcome),
        (500, "error")
    );
    let error = failed.summary.error.as_ref().unwrap();
    assert_eq!(error.code, "runtime_error");
    assert_eq!(error.message, "runtime error: product nope not found");
    assert_eq!((error.line, error.column), (Some(3), Some(21)));
    assert_eq!(
        failed.logs,
        [
            line(LogLevel::Info, "looking up product nope"),
            line(LogLevel::Error, "no such product"),
        ]
    );

    let post = store.execution(id(EXECUTIONS[2])).await.unwrap();
    assert_eq!(post.summary.app_id, id::<AppId>(BLOG));
    assert_eq!(post.summary.status, 201);
    assert_eq!(post.logs_dropped, 3);
    assert_eq!(
        post.logs,
        [
            line(LogLevel::Debug, "saving post"),
            line(LogLevel::Warn, "slow disk"),
        ]
    );

    if version >= 6 {
        let cron = &replay[3];
        assert_eq!(cron.summary.trigger, "cron");
        assert_eq!(
            (cron.summary.method.as_str(), cron.summary.path.as_str()),
            ("CRON", "/")
        );
        assert_eq!(cron.summary.route_id, None);
        assert_eq!(cron.summary.script_id, id::<ScriptId>(DIGEST));
        assert_eq!(cron.summary.started_at, "2026-12-02T05:00:00.000Z");
        assert_eq!(cron.logs, [line(LogLevel::Info, "digest sent")]);
    }
    if version >= 9 {
        // Written by version 9 itself, with everything it records.
        let traced = &replay[4];
        assert_eq!(traced.summary.seq, seqs[3] + 1);
        assert_eq!(traced.summary.host, "shop.example:8080");
        assert_eq!(
            traced.summary.request_id,
            "4f1c9a0e2b7d4c3e8a6f5b1d0c9e8f7a"
        );
        assert_eq!(traced.summary.response_bytes, 31);
        assert_eq!(
            traced.request_headers,
            std::collections::BTreeMap::from([
                ("accept".to_owned(), "application/json".to_owned()),
                ("authorization".to_owned(), "[redacted]".to_owned()),
                ("user-agent".to_owned(), "curl/8.5.0".to_owned()),
            ])
        );
        let by_request = store
            .list_executions(&ExecutionFilter {
                request_id: Some("4f1c9a0e2b7d4c3e8a6f5b1d0c9e8f7a".into()),
                ..all.clone()
            })
            .await
            .unwrap();
        assert_eq!(by_request.len(), 1);
        let by_host = store
            .list_executions(&ExecutionFilter {
                host: Some("SHOP.example".into()),
                ..all.clone()
            })
            .await
            .unwrap();
        assert_eq!(by_host.len(), 1);
        assert_eq!(by_host[0].id, traced.summary.id);
    }

    // Today's filters work on old records.
    let errors = store
        .list_executions(&ExecutionFilter {
            status: Some(manager_core::store::StatusFilter::Error),
            ..all.clone()
        })
        .await
        .unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].id, id::<ExecutionId>(EXECUTIONS[1]));
    let slow = store
        .list_executions(&ExecutionFilter {
            text: Some("SLOW DISK".into()),
            ..all.clone()
        })
        .await
        .unwrap();
    assert_eq!(slow.len(), 1);
    assert_eq!(slow[0].id, id::<ExecutionId>(EXECUTIONS[2]));
    let shop_only = store
        .list_executions(&ExecutionFilter {
            app_id: Some(id(SHOP)),
            ..all.clone()
        })
        .await
        .unwrap();
    assert_eq!(shop_only.len(), if version >= 9 { 3 } else { 2 });

    // A record written after the upgrade is numbered after the old ones.
    let last = *seqs.last().unwrap();
    let new = ExecutionRecord {
        id: ExecutionId::new(),
        app_id: id(SHOP),
        script_id: id(PRODUCTS),
        route_id: None,
        script_version: 1,
        trigger: Trigger::Http,
        method: "GET".into(),
        path: "/products/7".into(),
        host: "shop.example".into(),
        request_id: "after-upgrade".into(),
        request_headers: vec![],
        status: 200,
        response_bytes: 12,
        started_at: SystemTime::now(),
        outcome: ExecutionOutcome {
            outcome: Ok(ScriptResponse {
                status: 200,
                headers: vec![],
                body: b"{\"id\":\"7\"}".to_vec(),
            }),
            fuel_used: 100,
            duration: Duration::from_micros(900),
            logs: vec![],
            logs_dropped: 0,
            next: None,
            children: Vec::new(),
        },
        parent_id: None,
        modules: Vec::new(),
        interceptors: Vec::new(),
    };
    let seq = store
        .insert_executions(std::slice::from_ref(&new))
        .await
        .unwrap();
    assert_eq!(seq, last + 1);
    let after = store
        .list_executions(&ExecutionFilter {
            after_seq: Some(last),
            ..all
        })
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].id, new.id);
}

async fn users_sessions_and_tokens(store: &Store, version: usize) {
    // The bootstrap token of version 1 still signs in, for no user, with
    // the whole admin API (tokens from before scopes are admin tokens).
    let tokens = store.list_tokens(None, &Page::all()).await.unwrap();
    let bootstrap = tokens.iter().find(|t| t.name == "bootstrap").unwrap();
    assert_eq!(bootstrap.scope, TokenScope::Admin);
    assert_eq!(bootstrap.user_id, None);
    assert_eq!(bootstrap.created_at, "2026-11-26T10:00:00.000Z");
    assert_eq!(
        bootstrap.last_used_at.as_deref(),
        Some("2026-11-26T10:05:00.000Z")
    );
    assert_eq!(
        store
            .verify_token(BOOTSTRAP_TOKEN)
            .await
            .unwrap()
            .map(|t| (t.id, t.user_id, t.scope)),
        Some((
            "70c0e000-0000-4000-8000-000000000001".into(),
            None,
            TokenScope::Admin
        ))
    );
    assert_eq!(store.verify_token("pc_not-a-token").await.unwrap(), None);

    if version < 2 {
        assert_eq!(store.count_users().await.unwrap(), 0);
        assert_eq!(tokens.len(), 1);
        assert_eq!(store.verify_token(ALICE_TOKEN).await.unwrap(), None);
        return;
    }
    let alice = store.user("Alice").await.unwrap();
    assert_eq!(
        (alice.id.as_str(), alice.username.as_str()),
        (ALICE, "alice")
    );
    assert_eq!(alice.created_at, "2026-11-27T09:00:00.000Z");
    let (user_id, hash) = store.user_credentials("alice").await.unwrap().unwrap();
    assert_eq!(user_id, ALICE);
    assert!(manager_core::auth::verify_password(PASSWORD.into(), Some(hash.clone())).await);
    assert!(!manager_core::auth::verify_password("wrong password".into(), Some(hash)).await);

    // Sessions from before the idle timeout have no last use: the upgrade
    // signs nobody out, even with a timeout set.
    let idle = Some(30 * 60 * 1000);
    let session = store.session(SESSION_COOKIE, idle).await.unwrap().unwrap();
    assert_eq!(session.user_id, ALICE);
    assert_eq!(session.csrf_token, "upgrade-fixture-csrf-token");
    assert_eq!(session.expires_at, 4_102_444_800_000);

    let expected = match version {
        14.. => 4,
        9.. => 3,
        _ => 2,
    };
    assert_eq!(tokens.len(), expected);
    let laptop = tokens.iter().find(|t| t.name == "alice laptop").unwrap();
    assert_eq!(laptop.user_id.as_deref(), Some(ALICE));
    assert_eq!(laptop.last_used_at, None);
    assert_eq!(
        store
            .verify_token(ALICE_TOKEN)
            .await
            .unwrap()
            .map(|t| (t.id, t.user_id, t.scope)),
        Some((
            "70c0e000-0000-4000-8000-000000000002".into(),
            Some(ALICE.into()),
            TokenScope::Admin
        ))
    );
    if version >= 9 {
        // A scraper's token keeps its narrow scope.
        let prometheus = tokens.iter().find(|t| t.name == "prometheus").unwrap();
        assert_eq!(prometheus.scope, TokenScope::Metrics);
        assert_eq!(
            store
                .verify_token(METRICS_TOKEN)
                .await
                .unwrap()
                .map(|t| (t.id, t.user_id, t.scope)),
            Some((
                "70c0e000-0000-4000-8000-000000000003".into(),
                None,
                TokenScope::Metrics
            ))
        );
    }
}

async fn kv_entries(store: &Store, version: usize) {
    let shop: AppId = id(SHOP);
    let page = store.kv_entries(shop, "", None, 100).await.unwrap();
    if version < 3 {
        assert!(page.items.is_empty());
        return;
    }
    // `flash` expired long ago: invisible, though still counted until the
    // janitor purges it.
    let keys: Vec<&str> = page.items.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["cart:1", "session:abc", "visits"]);
    assert_eq!(page.next_cursor, None);
    let cart = &page.items[0];
    assert_eq!(cart.value, json!({"items": [1, 2]}));
    assert_eq!((cart.size, cart.expires_at.as_deref()), (21, None));
    assert_eq!(cart.updated_at, "2026-11-28T09:00:00.000Z");
    let session = &page.items[1];
    assert_eq!(session.value, json!("active"));
    assert_eq!(
        session.expires_at.as_deref(),
        Some("2100-01-01T00:00:00.000Z")
    );
    assert_eq!(
        store.kv_value(shop, "visits").await.unwrap().as_deref(),
        Some("42")
    );
    assert_eq!(store.kv_value(shop, "flash").await.unwrap(), None);
    assert!(!store.kv_exists(shop, "flash").await.unwrap());
    let usage = store.kv_usage(shop).await.unwrap();
    assert_eq!((usage.keys, usage.bytes), (4, 59));

    // The counters carried over stay exact under today's writes.
    store
        .kv_set(shop, "note", "\"hi\"", None, &KvQuota::default())
        .await
        .unwrap();
    let usage = store.kv_usage(shop).await.unwrap();
    assert_eq!((usage.keys, usage.bytes), (5, 59 + 4 + 4));
    assert_eq!(
        store
            .kv_incr(shop, "visits", 1, &KvQuota::default())
            .await
            .unwrap(),
        43
    );
}

async fn variables_and_secrets(store: &Store, version: usize) {
    let shop: AppId = id(SHOP);
    let variables = store.list_variables(shop).await.unwrap();
    if version < 3 {
        assert!(variables.is_empty());
        return;
    }
    let shown: Vec<(&str, bool, Option<&str>)> = variables
        .iter()
        .map(|v| (v.name.as_str(), v.secret, v.value.as_deref()))
        .collect();
    assert_eq!(
        shown,
        [("API_TOKEN", true, None), ("CURRENCY", false, Some("EUR"))]
    );
    assert_eq!(variables[0].updated_at, "2026-11-28T09:01:00.000Z");
    let key = SecretKey::from_hex(SECRET_KEY).unwrap();
    assert_eq!(
        store
            .variable_value(shop, "API_TOKEN", Some(&key))
            .await
            .unwrap()
            .as_deref(),
        Some("s3cr3t-upgrade-value")
    );
    // Still bound to its key: another server key cannot read it.
    let other = SecretKey::from_hex(&"ab".repeat(32)).unwrap();
    assert!(matches!(
        store.variable_value(shop, "API_TOKEN", Some(&other)).await,
        Err(StoreError::Secret { .. })
    ));
    assert_eq!(
        store
            .variable_value(id(BLOG), "GREETING", None)
            .await
            .unwrap()
            .as_deref(),
        Some("Hello from the blog")
    );
}

async fn documents(store: &Store, version: usize) {
    let shop: AppId = id(SHOP);
    let collections = store.doc_collections(shop).await.unwrap();
    if version < 4 {
        assert!(collections.is_empty());
        return;
    }
    let listed: Vec<(&str, i64, i64)> = collections
        .iter()
        .map(|c| (c.name.as_str(), c.documents, c.bytes))
        .collect();
    assert_eq!(listed, [("orders", 2, 58), ("reviews", 1, 48)]);

    let query = |filter: serde_json::Value, sort: Option<&str>, descending: bool| DocQuery {
        filters: parse_where(&filter).unwrap(),
        sort: sort.map(str::to_owned),
        descending,
        limit: 10,
        cursor: None,
    };
    let paid = store
        .doc_find(
            shop,
            "orders",
            &query(json!({"status": "paid"}), None, false),
        )
        .await
        .unwrap();
    assert_eq!(paid.docs.len(), 1);
    assert_eq!(paid.docs[0].id, "0193a000-0000-7000-8000-000000000001");
    assert_eq!(paid.docs[0].body, r#"{"status":"paid","total":30}"#);
    let by_total = store
        .doc_find(
            shop,
            "orders",
            &query(json!({"total": {"gt": 10}}), Some("total"), false),
        )
        .await
        .unwrap();
    let totals: Vec<serde_json::Value> = by_total
        .docs
        .iter()
        .map(|d| d.record().unwrap().document["total"].clone())
        .collect();
    assert_eq!(totals, [json!(12.5), json!(30)]);
    let open = by_total.docs[0].record().unwrap();
    assert_eq!(open.created_at, "2026-11-29T09:00:01.000Z");
    assert_eq!(open.updated_at, "2026-11-29T09:01:00.000Z");
    let review = store
        .doc_get(shop, "reviews", "0193a000-0000-7000-8000-000000000003")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        review.record().unwrap().document,
        json!({"product": "42", "stars": 5, "text": "Great teapot"})
    );

    let usage = store.doc_usage(shop).await.unwrap();
    assert_eq!((usage.documents, usage.bytes), (3, 106));
    // A document inserted today lands after the old ones (ids stay in
    // insertion order) and the counters stay exact.
    let new = store
        .doc_insert(shop, "orders", r#"{"status":"new"}"#, &DocsQuota::default())
        .await
        .unwrap();
    let usage = store.doc_usage(shop).await.unwrap();
    assert_eq!((usage.documents, usage.bytes), (4, 106 + new.size));
    let all = store
        .doc_find(shop, "orders", &query(json!({}), None, false))
        .await
        .unwrap();
    assert_eq!(all.docs.last().unwrap().id, new.id);
}

async fn http_allow_lists(store: &Store, version: usize) {
    let shop: AppId = id(SHOP);
    let entries = store.http_allow_list(shop).await.unwrap();
    if version < 5 {
        assert!(entries.is_empty());
        return;
    }
    // As a set: the list's order follows the engine's collation.
    let listed: BTreeSet<&str> = entries.iter().map(|e| e.pattern.as_str()).collect();
    assert_eq!(
        listed,
        BTreeSet::from([
            "https://*.cdn.example:443",
            "https://api.payments.example:443"
        ])
    );
    // What scripts may call follows from the stored entries.
    let allowed = store.http_allow_patterns(shop).await.unwrap();
    assert_eq!(allowed.len(), 2);
    let allows = |host: &str| allowed.iter().any(|p| p.allows("https", host, 443));
    assert!(allows("img.cdn.example"));
    assert!(allows("api.payments.example"));
    assert!(!allows("evil.example"));
    let blog = store.http_allow_patterns(id(BLOG)).await.unwrap();
    assert_eq!(blog.len(), 1);
    assert!(blog[0].allows("http", "hooks.example.com", 8080));
    assert!(!blog[0].allows("https", "hooks.example.com", 8080));
}

async fn cron_triggers(store: &Store, version: usize) {
    let triggers = store.list_triggers(id(BLOG)).await.unwrap();
    if version < 6 {
        assert!(triggers.is_empty());
        return;
    }
    assert_eq!(triggers.len(), 2);
    let nightly = &triggers[0];
    assert_eq!(nightly.id, "0193b000-0000-7000-8000-000000000001");
    assert_eq!(
        (nightly.script_id, nightly.script_name.as_str()),
        (id::<ScriptId>(DIGEST), "nightly-digest")
    );
    assert_eq!(
        (nightly.schedule.as_str(), nightly.timezone.as_str()),
        ("0 6 * * *", "Europe/Oslo")
    );
    assert!(nightly.enabled);
    assert_eq!(
        nightly.next_run_at.as_deref(),
        Some("2026-12-03T05:00:00.000Z")
    );
    assert_eq!(
        nightly.last_run_at.as_deref(),
        Some("2026-12-02T05:00:00.000Z")
    );
    let paused = &triggers[1];
    assert_eq!(paused.script_name, "posts");
    assert_eq!(paused.schedule, "*/15 * * * *");
    assert!(!paused.enabled);
    assert_eq!(
        (paused.next_run_at.as_deref(), paused.last_run_at.as_deref()),
        (None, None)
    );
    assert_eq!(paused.updated_at, "2026-12-01T09:02:00.000Z");
    // The scheduler sees the enabled one due at its stored tick, and only it.
    let due = store.due_triggers(1_796_274_000_000, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].id.as_str(), due[0].due_at),
        (nightly.id.as_str(), 1_796_274_000_000)
    );
}

/// A database a newer PiCloud migrated (it records a migration this build
/// does not have) is refused before anything touches it, and the message
/// names both schema versions.
async fn newer_database_is_refused(database: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(database, &dir);
    let db = Db::connect(&url).await.unwrap();
    let current = db.schema_version().await.unwrap();
    drop(db);
    // A copy of migration 1's bookkeeping row under a far later number:
    // every column sqlx keeps (version, description, installed_on, success,
    // checksum, execution_time) has its engine's own type this way.
    execute(
        &url,
        "INSERT INTO _sqlx_migrations \
             (version, description, installed_on, success, checksum, execution_time) \
         SELECT 10000, 'from a newer PiCloud', installed_on, success, checksum, execution_time \
         FROM _sqlx_migrations WHERE version = 1",
    )
    .await;
    let err = Db::connect(&url).await.unwrap_err().to_string();
    assert!(err.contains("10000"), "{err}");
    assert!(err.contains(&format!("schema version {current}")), "{err}");
    let err = Db::connect_up_to(&url, 1).await.unwrap_err().to_string();
    assert!(err.contains("10000"), "{err}");
}

/// Every schema version before the newest has shipped, so each needs a
/// fixture: adding migration N+1 without `000N.sql` (and a trial) fails
/// here. Also checks that the newest version is what both engines reach.
async fn every_released_version_has_a_fixture(database: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(database, &dir);
    let newest = newest_migration();
    let db = Db::connect(&url).await.unwrap();
    assert_eq!(db.schema_version().await.unwrap(), newest);

    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade");
    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    on_disk.sort();
    let released: Vec<String> = (1..newest).map(|v| format!("{v:04}.sql")).collect();
    assert_eq!(on_disk, released, "one fixture per released schema version");
    assert_eq!(FIXTURES.len() as i64, newest - 1, "each fixture is loaded");
}
