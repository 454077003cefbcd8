//! Moving one app's data (`picloud data export` / `import`) against both
//! real databases: every test runs once on a fresh SQLite file and once on a
//! fresh PostgreSQL database, and the move to "another server" goes to a
//! second, SQLite, database (so on the PostgreSQL run it crosses engines).
//!
//! What an import wrote is read back through the ordinary Store API, never
//! from the file, so "moved" means "the target answers as the source did".
//! Time is never waited for: a key "expires" by having its `expires_at`
//! moved into the past through a second connection, as in tests/data.rs.

use std::time::Duration;

use manager_core::store::{
    DocsQuota, DocsUsage, EXPORT_VERSION, ExportSummary, KvQuota, KvUsage, MAX_FIND_LIMIT,
    MAX_LIST_LIMIT, StoreError,
};
use manager_core::{Db, ErrorCode, SecretKey, Store};
use serde_json::{Value, json};
use shared::{AppId, DocQuery};

/// What each test gets: the store, a second pool on the same database (raw
/// reads and moving time forward), and a directory for a second database.
struct Env {
    store: Store,
    raw: sqlx::AnyPool,
    dir: tempfile::TempDir,
}

macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        vec![$((
            stringify!($name),
            (|db| Box::pin(async move {
                let dir = tempfile::tempdir().unwrap();
                let url = db.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("picloud.db").display()));
                let store = Store::new(Db::connect(&url).await.unwrap());
                let raw = sqlx::AnyPool::connect(&url).await.unwrap();
                $name(Env { store, raw, dir }).await;
            })) as testkit::harness::Test,
        )),*]
    };
}

fn main() {
    testkit::harness::run_on_both_databases(tests![
        an_app_moves_to_another_app_and_another_database,
        importing_merges_and_a_rerun_changes_nothing,
        bad_files_are_refused_naming_the_line_and_change_nothing,
        an_import_over_quota_is_refused_and_changes_nothing,
        expiry_is_kept_and_judged_at_import_time,
        unknown_apps_are_not_found,
    ])
}

fn key() -> SecretKey {
    SecretKey::from_hex(&hex::encode([7; 32])).unwrap()
}

const TTL: Duration = Duration::from_secs(3600);

/// Everything an app's data answers through the Store API, minus what a
/// move legitimately changes (a key's or variable's last-write time).
#[derive(Debug, Clone, PartialEq)]
struct State {
    /// (key, value, expires_at) in key order.
    kv: Vec<(String, Value, Option<String>)>,
    /// (collection, id, body, created_at, updated_at) by collection, then id.
    docs: Vec<(String, String, Value, String, String)>,
    /// (name, secret, value) in name order.
    variables: Vec<(String, bool, Option<String>)>,
    kv_usage: KvUsage,
    docs_usage: DocsUsage,
}

async fn state(store: &Store, app: AppId) -> State {
    let mut kv = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .kv_entries(app, "", cursor.as_deref(), MAX_LIST_LIMIT)
            .await
            .unwrap();
        kv.extend(
            page.items
                .into_iter()
                .map(|e| (e.key, e.value, e.expires_at)),
        );
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    let mut docs = Vec::new();
    for collection in store.doc_collections(app).await.unwrap() {
        let mut query = DocQuery {
            limit: MAX_FIND_LIMIT,
            ..DocQuery::default()
        };
        loop {
            let page = store.doc_find(app, &collection.name, &query).await.unwrap();
            for doc in page.docs {
                let record = doc.record().unwrap();
                // The stored text itself, as scripts get it, is what moves.
                assert_eq!(
                    store
                        .doc_get(app, &collection.name, &doc.id)
                        .await
                        .unwrap()
                        .unwrap()
                        .body,
                    doc.body
                );
                docs.push((
                    collection.name.clone(),
                    record.id,
                    record.document,
                    record.created_at,
                    record.updated_at,
                ));
            }
            query.cursor = page.cursor;
            if query.cursor.is_none() {
                break;
            }
        }
    }
    let variables = store
        .list_variables(app)
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.name, v.secret, v.value))
        .collect();
    State {
        kv,
        docs,
        variables,
        kv_usage: store.kv_usage(app).await.unwrap(),
        docs_usage: store.doc_usage(app).await.unwrap(),
    }
}

/// The usage counters agree with the rows they summarize (for an app with
/// no expired entries awaiting the janitor, which the counters include).
async fn assert_counters_exact(store: &Store, app: AppId) {
    let entries = store
        .kv_entries(app, "", None, MAX_LIST_LIMIT)
        .await
        .unwrap();
    assert!(entries.next_cursor.is_none(), "small test apps fit a page");
    let kv = store.kv_usage(app).await.unwrap();
    assert_eq!(kv.keys, entries.items.len() as i64, "kv_usage keys");
    assert_eq!(
        kv.bytes,
        entries.items.iter().map(|e| e.size).sum::<i64>(),
        "kv_usage bytes"
    );
    let collections = store.doc_collections(app).await.unwrap();
    let docs = store.doc_usage(app).await.unwrap();
    assert_eq!(
        docs.documents,
        collections.iter().map(|c| c.documents).sum::<i64>(),
        "docs_usage documents"
    );
    assert_eq!(
        docs.bytes,
        collections.iter().map(|c| c.bytes).sum::<i64>(),
        "docs_usage bytes"
    );
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

/// Fills a new app `slug` with a bit of everything: kv entries (one with a
/// TTL, one expired), documents in two collections (one updated after its
/// insert), two variables and a secret.
async fn filled_app(env: &Env, slug: &str) -> AppId {
    let store = &env.store;
    let app = store.create_app(slug, slug, "").await.unwrap().id;
    let quota = KvQuota::default();
    for (k, v) in [
        ("config", r#"{"theme": "dark", "sizes": [1, 2.5, -3]}"#),
        ("counter", "9007199254740993"),
        ("greeting", "\"héllo\\nwörld\\t✓\""),
        ("nothing", "null"),
        ("spaced key/with:odd chars", "[true, false]"),
    ] {
        store.kv_set(app, k, v, None, &quota).await.unwrap();
    }
    store
        .kv_set(app, "session", "\"abc\"", Some(TTL), &quota)
        .await
        .unwrap();
    store
        .kv_set(app, "stale", "1", Some(TTL), &quota)
        .await
        .unwrap();
    expire(env, app, "stale").await;

    let docs = DocsQuota::default();
    for body in [
        r#"{"n": 1, "tags": ["a", "b"], "nested": {"deep": {"x": null}}}"#,
        r#"{"n": 2, "text": "ünïcode ✓"}"#,
    ] {
        store.doc_insert(app, "orders", body, &docs).await.unwrap();
    }
    let customer = store
        .doc_insert(app, "customers.v2", r#"{"name": "Ada"}"#, &docs)
        .await
        .unwrap();
    store
        .doc_update(
            app,
            "customers.v2",
            &customer.id,
            r#"{"email": "ada@example.com"}"#,
            &docs,
        )
        .await
        .unwrap()
        .unwrap();

    store
        .set_variable(app, "API_URL", "https://example.com/api", false, None)
        .await
        .unwrap();
    store
        .set_variable(app, "MULTI", "line 1\nline 2 \"quoted\"", false, None)
        .await
        .unwrap();
    store
        .set_variable(app, "API_TOKEN", "s3cr3t-value", true, Some(&key()))
        .await
        .unwrap();
    app
}

async fn export(store: &Store, app: AppId) -> (String, ExportSummary) {
    let mut out = Vec::new();
    let summary = store.export_app_data(app, &mut out).await.unwrap();
    (String::from_utf8(out).unwrap(), summary)
}

async fn import(
    store: &Store,
    app: AppId,
    file: &str,
) -> manager_core::store::Result<manager_core::store::ImportSummary> {
    store
        .import_app_data(
            app,
            file.as_bytes(),
            &KvQuota::default(),
            &DocsQuota::default(),
        )
        .await
}

/// A second database, as on another server.
async fn second_store(env: &Env) -> Store {
    let url = format!("sqlite://{}", env.dir.path().join("other.db").display());
    Store::new(Db::connect(&url).await.unwrap())
}

async fn an_app_moves_to_another_app_and_another_database(env: Env) {
    let source = filled_app(&env, "shop").await;
    let before = state(&env.store, source).await;
    let (file, summary) = export(&env.store, source).await;
    assert_eq!(
        summary,
        ExportSummary {
            kv: 6,
            documents: 3,
            variables: 2,
            secrets: 1
        }
    );

    // The file: a header, one line per item, the end line; all JSON.
    let lines: Vec<Value> = file
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 1 + 6 + 3 + 2 + 1 + 1);
    let header = &lines[0];
    assert_eq!(header["picloud_export"], json!(EXPORT_VERSION));
    assert_eq!(header["app"], "shop");
    assert_eq!(header["app_id"], source.to_string());
    assert_eq!(
        header["schema"],
        json!(env.store.db().schema_version().await.unwrap())
    );
    humantime::parse_rfc3339(header["exported_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        lines[1],
        json!({"kind": "kv", "key": "config", "value": {"theme": "dark", "sizes": [1, 2.5, -3]}, "expires_at": null}),
        "values are JSON, not JSON text"
    );
    assert!(
        !file.contains("\"stale\""),
        "expired entries are not exported"
    );
    let secret_lines: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "secret").collect();
    assert_eq!(
        secret_lines,
        [&json!({"kind": "secret", "name": "API_TOKEN"})]
    );
    assert_eq!(
        lines.last().unwrap(),
        &json!({"kind": "end", "kv": 6, "documents": 3, "variables": 2, "secrets": 1})
    );
    // Neither the secret nor its ciphertext leaves the server.
    let sealed: String =
        sqlx::query_scalar("SELECT value FROM app_variables WHERE app_id = $1 AND name = $2")
            .bind(source.to_string())
            .bind("API_TOKEN")
            .fetch_one(&env.raw)
            .await
            .unwrap();
    assert!(!file.contains("s3cr3t") && !file.contains(&sealed));

    // Into another app of the same server...
    let target = env
        .store
        .create_app("shop2", "Shop 2", "")
        .await
        .unwrap()
        .id;
    let imported = import(&env.store, target, &file).await.unwrap();
    assert_eq!(imported.source_app, "shop");
    assert_eq!(
        imported.exported_at,
        header["exported_at"].as_str().unwrap()
    );
    assert_eq!(
        (
            imported.kv,
            imported.kv_expired,
            imported.documents,
            imported.variables
        ),
        (6, 0, 3, 2)
    );
    assert_eq!(imported.secrets, ["API_TOKEN"]);
    assert_eq!(
        env.store
            .variable_value(target, "API_TOKEN", Some(&key()))
            .await
            .unwrap(),
        None,
        "secrets are listed, not created"
    );
    let moved = state(&env.store, target).await;
    assert_moved(&before, &moved);
    assert_counters_exact(&env.store, target).await;
    assert_eq!(
        state(&env.store, source).await,
        before,
        "the source is untouched"
    );
    // Scripts read the same text back (the counter keeps its exact digits).
    assert_eq!(
        env.store
            .kv_value(target, "counter")
            .await
            .unwrap()
            .unwrap(),
        "9007199254740993"
    );

    // ...and into an app on another database.
    let other = second_store(&env).await;
    let elsewhere = other.create_app("shop", "Shop", "").await.unwrap().id;
    import(&other, elsewhere, &file).await.unwrap();
    assert_moved(&before, &state(&other, elsewhere).await);
    assert_counters_exact(&other, elsewhere).await;

    // A moved app exports as the source did, line for line, but for the
    // header and the secret it does not have.
    let (again, summary) = export(&other, elsewhere).await;
    assert_eq!(summary.secrets, 0);
    let items = |text: &str| -> Vec<String> {
        text.lines()
            .skip(1)
            .filter(|l| !l.contains(r#""kind":"secret""#) && !l.contains(r#""kind":"end""#))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(items(&again), items(&file));
}

/// `moved` holds what `source` held: every kv entry with its value and
/// expiry, every document with its id, body and times, every plain
/// variable, and no secret.
fn assert_moved(source: &State, moved: &State) {
    assert_eq!(moved.kv, source.kv);
    assert_eq!(moved.docs, source.docs);
    let plain: Vec<_> = source
        .variables
        .iter()
        .filter(|(_, secret, _)| !secret)
        .cloned()
        .collect();
    assert_eq!(moved.variables, plain);
    assert_eq!(moved.docs_usage, source.docs_usage);
    // The source's counters still include its expired entry.
    assert_eq!(moved.kv_usage.keys, source.kv_usage.keys - 1);
}

async fn importing_merges_and_a_rerun_changes_nothing(env: Env) {
    let source = filled_app(&env, "shop").await;
    let (file, _) = export(&env.store, source).await;
    let target = env
        .store
        .create_app("shop2", "Shop 2", "")
        .await
        .unwrap()
        .id;
    let quota = KvQuota::default();
    env.store
        .kv_set(target, "config", "\"old\"", Some(TTL), &quota)
        .await
        .unwrap();
    env.store
        .kv_set(target, "theirs", "[1,2,3]", None, &quota)
        .await
        .unwrap();
    env.store
        .doc_insert(target, "orders", r#"{"kept": true}"#, &DocsQuota::default())
        .await
        .unwrap();
    env.store
        .set_variable(target, "API_URL", "http://old", false, None)
        .await
        .unwrap();
    env.store
        .set_variable(target, "LOCAL", "mine", false, None)
        .await
        .unwrap();

    import(&env.store, target, &file).await.unwrap();
    let first = state(&env.store, target).await;
    assert_counters_exact(&env.store, target).await;
    // Same key, id or name: the file's wins; everything else stays.
    let config = env.store.kv_entry(target, "config").await.unwrap().unwrap();
    assert_eq!(config.value["theme"], "dark");
    assert_eq!(
        config.expires_at, None,
        "the file's expiry (none) replaces the TTL"
    );
    assert!(env.store.kv_exists(target, "theirs").await.unwrap());
    assert_eq!(first.docs.len(), 4);
    assert_eq!(
        env.store
            .variable_value(target, "API_URL", None)
            .await
            .unwrap()
            .as_deref(),
        Some("https://example.com/api")
    );
    assert_eq!(
        env.store
            .variable_value(target, "LOCAL", None)
            .await
            .unwrap()
            .as_deref(),
        Some("mine")
    );

    // A rerun of the move is a no-op, counters included.
    let again = import(&env.store, target, &file).await.unwrap();
    assert_eq!((again.kv, again.documents, again.variables), (6, 3, 2));
    assert_eq!(state(&env.store, target).await, first);
    assert_counters_exact(&env.store, target).await;

    // Importing an app's own export into itself duplicates nothing (the
    // byte counters may move: values are stored re-serialized, compact).
    let before = state(&env.store, source).await;
    import(&env.store, source, &file).await.unwrap();
    let after = state(&env.store, source).await;
    assert_eq!(
        (after.kv, after.docs, after.variables),
        (before.kv, before.docs, before.variables)
    );
    assert_eq!(after.docs_usage, before.docs_usage);
}

async fn bad_files_are_refused_naming_the_line_and_change_nothing(env: Env) {
    let source = filled_app(&env, "shop").await;
    let (file, _) = export(&env.store, source).await;
    let lines: Vec<&str> = file.lines().collect();
    let target = env
        .store
        .create_app("shop2", "Shop 2", "")
        .await
        .unwrap()
        .id;
    env.store
        .kv_set(target, "config", "\"mine\"", None, &KvQuota::default())
        .await
        .unwrap();
    env.store
        .doc_insert(target, "orders", r#"{"mine": 1}"#, &DocsQuota::default())
        .await
        .unwrap();
    let before = state(&env.store, target).await;

    // `lines` with line `number` (1-based) replaced by `text`.
    let with_line = |number: usize, text: &str| {
        let mut copy = lines.clone();
        copy[number - 1] = text;
        copy.join("\n") + "\n"
    };
    let kv_line = lines
        .iter()
        .position(|l| l.contains(r#""kind":"kv""#))
        .unwrap()
        + 1;
    let doc_line = lines
        .iter()
        .position(|l| l.contains(r#""kind":"document""#))
        .unwrap()
        + 1;
    let var_line = lines
        .iter()
        .position(|l| l.contains(r#""kind":"variable""#))
        .unwrap()
        + 1;
    assert_eq!(kv_line, 2, "kv entries follow the header");
    let doc_id = serde_json::from_str::<Value>(lines[doc_line - 1]).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut header_v2: Value = serde_json::from_str(lines[0]).unwrap();
    header_v2["picloud_export"] = json!(2);
    let header_v2 = header_v2.to_string();

    let cases: Vec<(String, ErrorCode, String)> = vec![
        // Cut off in the middle of line 3 (the lines before it apply
        // first, inside the transaction that is then rolled back).
        (
            lines[..2].join("\n") + "\n" + &lines[2][..lines[2].len() / 2],
            ErrorCode::InvalidJson,
            "line 3: ".into(),
        ),
        (
            with_line(3, "garbage, not JSON"),
            ErrorCode::InvalidJson,
            "line 3: ".into(),
        ),
        // Cut off at a line boundary: only the missing end line tells.
        (
            lines[..lines.len() - 1].join("\n"),
            ErrorCode::InvalidJson,
            "cut short".into(),
        ),
        // A line lost from the middle: the end line's counts disagree.
        (
            [&lines[..2], &lines[3..]].concat().join("\n"),
            ErrorCode::InvalidJson,
            "damaged".into(),
        ),
        (
            file.clone() + &lines[1..].join("\n"),
            ErrorCode::InvalidJson,
            "follows the 'end' line".into(),
        ),
        (
            "name,value\nx,1\n".into(),
            ErrorCode::InvalidJson,
            "line 1: not a PiCloud export".into(),
        ),
        (
            lines[1..].join("\n"),
            ErrorCode::InvalidJson,
            "line 1: not a PiCloud export".into(),
        ),
        (
            String::new(),
            ErrorCode::InvalidJson,
            "line 1: the file is empty".into(),
        ),
        (
            with_line(1, &header_v2),
            ErrorCode::InvalidJson,
            "line 1: the file is a PiCloud export of format version 2; this PiCloud reads version 1".into(),
        ),
        (
            with_line(3, r#"{"kind":"table","name":"x"}"#),
            ErrorCode::InvalidJson,
            "line 3: unknown variant `table`".into(),
        ),
        (
            with_line(3, r#"{"kind":"kv","value":1,"expires_at":null}"#),
            ErrorCode::InvalidJson,
            "line 3: missing field `key`".into(),
        ),
        (
            with_line(3, r#"{"kind":"kv","key":"","value":1,"expires_at":null}"#),
            ErrorCode::InvalidKey,
            "line 3: the key is empty".into(),
        ),
        (
            with_line(
                3,
                r#"{"kind":"kv","key":"k","value":1,"expires_at":"next tuesday"}"#,
            ),
            ErrorCode::InvalidTime,
            "line 3: expires_at 'next tuesday'".into(),
        ),
        (
            with_line(
                3,
                r#"{"kind":"kv","key":"k","value":1,"expires_at":"2999-01-01T00:00:00Z"}"#,
            ),
            ErrorCode::InvalidTtl,
            "line 3: ".into(),
        ),
        (
            with_line(
                doc_line,
                &format!(
                    r#"{{"kind":"document","collection":"../x","id":"{doc_id}","body":{{}},"created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z"}}"#
                ),
            ),
            ErrorCode::InvalidCollection,
            format!("line {doc_line}: the collection name '../x' is invalid"),
        ),
        (
            with_line(
                doc_line,
                r#"{"kind":"document","collection":"orders","id":"42","body":{},"created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z"}"#,
            ),
            ErrorCode::InvalidDocument,
            format!("line {doc_line}: the document id '42' is invalid"),
        ),
        (
            with_line(
                doc_line,
                &format!(
                    r#"{{"kind":"document","collection":"orders","id":"{doc_id}","body":[1],"created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z"}}"#
                ),
            ),
            ErrorCode::InvalidDocument,
            format!("line {doc_line}: the document must be a JSON object"),
        ),
        (
            with_line(
                doc_line,
                &format!(
                    r#"{{"kind":"document","collection":"orders","id":"{doc_id}","body":{{"_id":1}},"created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z"}}"#
                ),
            ),
            ErrorCode::InvalidDocument,
            format!("line {doc_line}: the document has a field '_id'"),
        ),
        (
            with_line(var_line, r#"{"kind":"variable","name":"1BAD","value":"x"}"#),
            ErrorCode::InvalidName,
            format!("line {var_line}: variable name '1BAD' is invalid"),
        ),
        (
            with_line(var_line, r#"{"kind":"secret","name":"no-dashes"}"#),
            ErrorCode::InvalidName,
            format!("line {var_line}: "),
        ),
    ];
    for (bad, code, message) in cases {
        let err = import(&env.store, target, &bad).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Invalid { .. }),
            "{message}: {err:?}"
        );
        assert_eq!(err.code(), code, "{message}: {err}");
        assert!(
            err.to_string().contains(&message),
            "expected '{message}' in: {err}"
        );
        assert_eq!(
            state(&env.store, target).await,
            before,
            "{message}: the target is unchanged"
        );
    }
    // Not UTF-8 at all.
    let err = env
        .store
        .import_app_data(
            target,
            &b"\xff\xfe\x00binary"[..],
            &KvQuota::default(),
            &DocsQuota::default(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("line 1: not UTF-8"), "{err}");
    assert_eq!(state(&env.store, target).await, before);

    // The same file, undamaged, goes in.
    import(&env.store, target, &file).await.unwrap();
}

async fn an_import_over_quota_is_refused_and_changes_nothing(env: Env) {
    let source = filled_app(&env, "shop").await;
    let (file, _) = export(&env.store, source).await;
    let target = env
        .store
        .create_app("shop2", "Shop 2", "")
        .await
        .unwrap()
        .id;
    env.store
        .kv_set(target, "mine", "1", None, &KvQuota::default())
        .await
        .unwrap();
    let before = state(&env.store, target).await;

    // Six entries to import into room for five keys, one already taken.
    let kv_quota = KvQuota {
        max_keys: 5,
        ..KvQuota::default()
    };
    let err = env
        .store
        .import_app_data(target, file.as_bytes(), &kv_quota, &DocsQuota::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::QuotaExceeded(_)), "{err:?}");
    assert_eq!(err.code(), ErrorCode::QuotaExceeded);
    // The sixth key-value line (the header is line 1) is the one that overflows.
    assert!(
        err.to_string()
            .starts_with("line 6: the app's key-value store holds 5 keys"),
        "{err}"
    );
    assert_eq!(state(&env.store, target).await, before);

    // Three documents into room for two.
    let docs_quota = DocsQuota {
        max_documents: 2,
        ..DocsQuota::default()
    };
    let err = env
        .store
        .import_app_data(target, file.as_bytes(), &KvQuota::default(), &docs_quota)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::QuotaExceeded(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("the app's collections hold 2 documents"),
        "{err}"
    );
    assert_eq!(state(&env.store, target).await, before);

    // Per-item limits are the target's too: a value too large for it.
    let small_values = KvQuota {
        max_value_bytes: 8,
        ..KvQuota::default()
    };
    let err = env
        .store
        .import_app_data(
            target,
            file.as_bytes(),
            &small_values,
            &DocsQuota::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidValue, "{err}");
    assert!(err.to_string().starts_with("line 2: the value is"), "{err}");
    assert_eq!(state(&env.store, target).await, before);
    assert_counters_exact(&env.store, target).await;

    // With room enough the same file goes in.
    import(&env.store, target, &file).await.unwrap();
    assert_counters_exact(&env.store, target).await;
}

async fn expiry_is_kept_and_judged_at_import_time(env: Env) {
    let source = filled_app(&env, "shop").await;
    let (file, _) = export(&env.store, source).await;
    let session = env
        .store
        .kv_entry(source, "session")
        .await
        .unwrap()
        .unwrap();
    let expires_at = session.expires_at.clone().unwrap();
    assert!(file.contains(&format!(
        r#""key":"session","value":"abc","expires_at":"{expires_at}""#
    )));

    // An entry that expired between export and import is left out and counted.
    let lapsed = file.replace(&expires_at, "2001-02-03T04:05:06.789Z");
    let target = env
        .store
        .create_app("shop2", "Shop 2", "")
        .await
        .unwrap()
        .id;
    let summary = import(&env.store, target, &lapsed).await.unwrap();
    assert_eq!((summary.kv, summary.kv_expired), (5, 1));
    assert!(!env.store.kv_exists(target, "session").await.unwrap());
    assert_counters_exact(&env.store, target).await;

    // One still live keeps its expiry to the millisecond.
    import(&env.store, target, &file).await.unwrap();
    let moved = env
        .store
        .kv_entry(target, "session")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(moved.expires_at, session.expires_at);
    assert_eq!(moved.value, json!("abc"));
}

async fn unknown_apps_are_not_found(env: Env) {
    let source = filled_app(&env, "shop").await;
    let (file, _) = export(&env.store, source).await;
    let nowhere = AppId::new();
    let err = env
        .store
        .export_app_data(nowhere, &mut Vec::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { what: "app", .. }),
        "{err:?}"
    );
    let err = import(&env.store, nowhere, &file).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound { what: "app", .. }),
        "{err:?}"
    );
}
