//! Document collections against both real databases: through the service
//! scripts call ([`DataServices`]), the store and the admin API's router.
//! Every test runs once on a fresh SQLite file and once on a fresh
//! PostgreSQL database.
//!
//! Queries are checked against a small model of the documented semantics
//! (type ranks, numbers as 64-bit floats, strings in byte order), so "the
//! same answer on both engines" means "each engine agrees with the model".

mod support;

use std::cmp::Ordering;
use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use manager_core::store::{DEFAULT_APP_ID, DocsQuota};
use manager_core::{DataServices, Db, Manager, ManagerConfig, Store};
use serde_json::{Value, json};
use shared::{
    AppId, DocFilter, DocOp, DocQuery, Document, ServiceError, ServiceErrorKind, ServiceProvider,
};
use support::{Api, NoExecutor, NoRouting};
use tower::ServiceExt;

/// What each test gets: the store, and a separate pool on the same database
/// for raw reads.
struct Env {
    store: Store,
    raw: sqlx::AnyPool,
    postgres: bool,
    url: String,
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
                $name(Env { store, raw, postgres, url }).await;
            })) as testkit::harness::Test,
        )),*]
    };
}

fn main() {
    testkit::harness::run_on_both_databases(tests![
        insert_get_update_delete,
        ids_are_time_ordered_and_find_defaults_to_insertion_order,
        invalid_input_is_refused_with_a_reason,
        invalid_cursors,
        quotas,
        quotas_hold_under_concurrency,
        updates_do_not_lose_concurrent_writes,
        every_operator_on_mixed_types,
        sort_orders_mixed_types,
        paging_never_skips_or_repeats,
        any_field_name_works,
        strings_compare_bytewise_whatever_the_database_collation,
        apps_are_isolated,
        deleting_an_app_deletes_its_documents,
        admin_api_documents,
    ])
}

fn services(env: &Env, quota: DocsQuota) -> DataServices {
    DataServices::new(
        env.store.clone(),
        manager_core::KvQuota::default(),
        quota,
        None,
    )
}

fn default_app() -> AppId {
    DEFAULT_APP_ID
}

async fn new_app(env: &Env, slug: &str) -> AppId {
    env.store.create_app(slug, slug, "").await.unwrap().id
}

/// The app's counters, checked against the rows they summarize.
async fn usage(env: &Env, app: AppId) -> (i64, i64) {
    let (documents, bytes): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM documents WHERE app_id = $1",
    )
    .bind(app.to_string())
    .fetch_one(&env.raw)
    .await
    .unwrap();
    let counted = env.store.doc_usage(app).await.unwrap();
    assert_eq!(
        (counted.documents, counted.bytes),
        (documents, bytes),
        "docs_usage is exact"
    );
    (documents, bytes)
}

fn filter(field: &str, op: DocOp, value: Value) -> DocFilter {
    DocFilter {
        field: field.into(),
        op,
        value,
    }
}

fn query(filters: Vec<DocFilter>, sort: Option<&str>, descending: bool, limit: u32) -> DocQuery {
    DocQuery {
        filters,
        sort: sort.map(str::to_owned),
        descending,
        limit,
        cursor: None,
    }
}

fn parse(doc: &Document) -> Value {
    serde_json::from_str(&doc.body).unwrap()
}

/// Every page of `query`, checking the page invariants on the way.
async fn find_all(
    svc: &DataServices,
    app: AppId,
    collection: &str,
    query: &DocQuery,
) -> Vec<Document> {
    let mut all = Vec::new();
    let mut query = query.clone();
    loop {
        let page = svc
            .docs()
            .unwrap()
            .find(app, collection, &query)
            .await
            .unwrap();
        assert!(page.docs.len() <= query.limit as usize);
        if page.cursor.is_some() {
            assert_eq!(
                page.docs.len(),
                query.limit as usize,
                "only the last page is short"
            );
        }
        all.extend(page.docs);
        match page.cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return all,
        }
    }
}

fn invalid(result: Result<impl std::fmt::Debug, ServiceError>, needle: &str) {
    let err = result.unwrap_err();
    assert_eq!(err.kind, ServiceErrorKind::InvalidArgument, "{err}");
    assert!(err.message.contains(needle), "{needle:?} in {err}");
}

async fn insert_get_update_delete(env: Env) {
    let svc = services(&env, DocsQuota::default());
    let docs = svc.docs().unwrap();
    let app = default_app();
    let id = docs
        .insert(
            app,
            "orders",
            r#"{ "status": "new", "total": 12.5, "customer": {"name": "Ada", "tier": "gold", "tags": ["a"]}, "note": "x" }"#,
        )
        .await
        .unwrap();
    // A UUID v7 in lowercase hyphenated form.
    assert_eq!(id.len(), 36);
    assert_eq!(&id[14..15], "7", "{id}");
    assert_eq!(id, id.to_lowercase());
    let got = docs.get(app, "orders", &id).await.unwrap().unwrap();
    assert_eq!(got.id, id);
    // Stored compact, as scripts read it back.
    assert_eq!(
        got.body,
        r#"{"customer":{"name":"Ada","tags":["a"],"tier":"gold"},"note":"x","status":"new","total":12.5}"#
    );
    assert_eq!(usage(&env, app).await, (1, got.body.len() as i64));
    let stored = env
        .store
        .doc_get(DEFAULT_APP_ID, "orders", &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.created_at, stored.updated_at);

    // Merge patch: null removes, objects merge recursively, arrays and
    // scalars replace.
    let updated = docs
        .update(
            app,
            "orders",
            &id,
            r#"{"status": "paid", "note": null, "customer": {"tier": null, "tags": ["b", "c"], "address": {"city": "Oslo"}}, "missing": null}"#,
        )
        .await
        .unwrap()
        .unwrap();
    let expected = json!({
        "status": "paid",
        "total": 12.5,
        "customer": {"name": "Ada", "tags": ["b", "c"], "address": {"city": "Oslo"}},
    });
    assert_eq!(parse(&updated), expected);
    assert_eq!(updated.id, id);
    assert_eq!(
        docs.get(app, "orders", &id).await.unwrap().unwrap(),
        updated
    );
    assert_eq!(usage(&env, app).await, (1, updated.body.len() as i64));
    // A scalar over a nested object, then an object over a scalar.
    let updated = docs
        .update(
            app,
            "orders",
            &id,
            r#"{"customer": "gone", "total": {"net": 10}}"#,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        parse(&updated),
        json!({"status": "paid", "customer": "gone", "total": {"net": 10}})
    );
    // An empty patch changes nothing but is fine.
    let same = docs
        .update(app, "orders", &id, "{}")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(same.body, updated.body);
    let after = env
        .store
        .doc_get(DEFAULT_APP_ID, "orders", &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.created_at, stored.created_at);
    assert!(after.updated_at >= stored.updated_at);

    // Absent documents: another id, another collection, an id that is no id.
    let other = docs.insert(app, "orders", "{}").await.unwrap();
    assert!(docs.delete(app, "orders", &other).await.unwrap());
    for (collection, missing) in [
        ("orders", other.as_str()),
        ("invoices", id.as_str()),
        ("orders", "not-an-id"),
        ("orders", &id.to_uppercase()),
        ("orders", "a\0b"),
    ] {
        assert_eq!(docs.get(app, collection, missing).await.unwrap(), None);
        assert_eq!(
            docs.update(app, collection, missing, r#"{"a":1}"#)
                .await
                .unwrap(),
            None
        );
        assert!(!docs.delete(app, collection, missing).await.unwrap());
    }
    assert_eq!(usage(&env, app).await, (1, updated.body.len() as i64));

    // Delete.
    assert!(docs.delete(app, "orders", &id).await.unwrap());
    assert!(!docs.delete(app, "orders", &id).await.unwrap());
    assert_eq!(docs.get(app, "orders", &id).await.unwrap(), None);
    assert_eq!(usage(&env, app).await, (0, 0));
    let page = docs
        .find(app, "orders", &query(vec![], None, false, 10))
        .await
        .unwrap();
    assert_eq!((page.docs.len(), page.cursor), (0, None));
}

async fn ids_are_time_ordered_and_find_defaults_to_insertion_order(env: Env) {
    let svc = services(&env, DocsQuota::default());
    let app = default_app();
    let mut ids = Vec::new();
    for n in 0..30 {
        ids.push(
            svc.docs()
                .unwrap()
                .insert(app, "log", &format!(r#"{{"n":{n}}}"#))
                .await
                .unwrap(),
        );
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, ids, "ids sort in insertion order");
    let found: Vec<String> = find_all(&svc, app, "log", &query(vec![], None, false, 7))
        .await
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(found, ids);
    let newest_first: Vec<String> = find_all(&svc, app, "log", &query(vec![], None, true, 4))
        .await
        .into_iter()
        .map(|d| d.id)
        .collect();
    ids.reverse();
    assert_eq!(newest_first, ids);
}

async fn invalid_input_is_refused_with_a_reason(env: Env) {
    let svc = services(&env, DocsQuota::default());
    let docs = svc.docs().unwrap();
    let app = default_app();
    let id = docs.insert(app, "c", r#"{"a":1}"#).await.unwrap();

    // Collection names, on every operation.
    for bad in [
        "",
        ".",
        "..",
        "-x",
        ".x",
        "a/b",
        "a b",
        "ä",
        &"x".repeat(65),
    ] {
        let needle = "collection name";
        invalid(docs.insert(app, bad, "{}").await, needle);
        invalid(docs.get(app, bad, &id).await, needle);
        invalid(docs.update(app, bad, &id, "{}").await, needle);
        invalid(docs.delete(app, bad, &id).await, needle);
        invalid(
            docs.find(app, bad, &query(vec![], None, false, 1)).await,
            needle,
        );
    }
    for good in ["x", "_", "9", "A.b-c_D", &"x".repeat(64)] {
        docs.insert(app, good, "{}").await.unwrap();
    }

    // Documents and patches: JSON objects without `_id` or NUL.
    for (body, needle) in [
        ("", "not JSON"),
        ("{", "not JSON"),
        ("{} {}", "not JSON"),
        ("[1]", "must be a JSON object (a map), not an array"),
        ("\"text\"", "not a string"),
        ("null", "not null"),
        ("42", "not a number"),
        (r#"{"_id": "x"}"#, "'_id', which is reserved"),
        (r#"{"a": "x\u0000y"}"#, "NUL character"),
        (r#"{"a": {"b\u0000": 1}}"#, "NUL character"),
        (r#"{"a": [["\u0000"]]}"#, "NUL character"),
        (r#"{"a": "\ud800"}"#, "not JSON"),
        (r#"{"a": 1e400}"#, "not JSON"),
    ] {
        invalid(docs.insert(app, "c", body).await, needle);
        invalid(docs.update(app, "c", &id, body).await, needle);
    }
    // Nested `_id` fields are ordinary data.
    let nested = docs
        .insert(app, "c", r#"{"ref": {"_id": "other"}}"#)
        .await
        .unwrap();
    assert_eq!(
        parse(&docs.get(app, "c", &nested).await.unwrap().unwrap()),
        json!({"ref": {"_id": "other"}})
    );
    // A refused patch leaves the document as it was.
    assert_eq!(
        docs.get(app, "c", &id).await.unwrap().unwrap().body,
        r#"{"a":1}"#
    );

    // Field names in filters and sorts.
    let long = "f".repeat(129);
    for (field, needle) in [
        ("", "field name is empty"),
        ("a\0b", "NUL"),
        (long.as_str(), "129 bytes long; the most is 128"),
    ] {
        let err = docs
            .find(
                app,
                "c",
                &query(vec![filter(field, DocOp::Eq, json!(1))], None, false, 10),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind, ServiceErrorKind::InvalidArgument);
        assert!(err.message.contains(needle), "{err}");
        invalid(
            docs.find(app, "c", &query(vec![], Some(field), false, 10))
                .await,
            needle,
        );
    }
    let ok = "f".repeat(128);
    docs.find(
        app,
        "c",
        &query(vec![filter(&ok, DocOp::Eq, json!(1))], Some(&ok), false, 10),
    )
    .await
    .unwrap();

    // Operands.
    for op in [DocOp::Lt, DocOp::Lte, DocOp::Gt, DocOp::Gte] {
        for value in [json!(null), json!(true), json!(false)] {
            invalid(
                docs.find(
                    app,
                    "c",
                    &query(vec![filter("a", op, value)], None, false, 10),
                )
                .await,
                "range comparisons take a number or a string",
            );
        }
    }
    for op in [DocOp::Eq, DocOp::Ne, DocOp::Lt] {
        for value in [json!([1]), json!({"a": 1})] {
            invalid(
                docs.find(
                    app,
                    "c",
                    &query(vec![filter("a", op, value)], None, false, 10),
                )
                .await,
                "conditions take a string, a number, a boolean or null",
            );
        }
    }
    invalid(
        docs.find(
            app,
            "c",
            &query(vec![filter("a", DocOp::Eq, json!("x\0"))], None, false, 10),
        )
        .await,
        "NUL",
    );
    // Too many fields or conditions.
    let many: Vec<DocFilter> = (0..17)
        .map(|n| filter(&format!("f{n}"), DocOp::Eq, json!(1)))
        .collect();
    invalid(
        docs.find(app, "c", &query(many.clone(), None, false, 10))
            .await,
        "no more than 16 different fields",
    );
    docs.find(app, "c", &query(many[..16].to_vec(), None, false, 10))
        .await
        .unwrap();
    let same_field: Vec<DocFilter> = (0..33).map(|n| filter("a", DocOp::Ne, json!(n))).collect();
    invalid(
        docs.find(app, "c", &query(same_field.clone(), None, false, 10))
            .await,
        "33 conditions; the most is 32",
    );
    let page = docs
        .find(app, "c", &query(same_field[..32].to_vec(), None, false, 10))
        .await
        .unwrap();
    // `{"a":1}` is excluded by `a != 1`; the document without `a` passes.
    assert_eq!(page.docs.len(), 1);
    // Limit.
    invalid(
        docs.find(app, "c", &query(vec![], None, false, 0)).await,
        "limit must be 1 to 1000",
    );
    // Errors from the store carry their codes for the admin API.
    let err = env
        .store
        .doc_insert(DEFAULT_APP_ID, "c", "[]", &DocsQuota::default())
        .await
        .unwrap_err();
    assert_eq!(
        (err.status().as_u16(), err.code().as_str()),
        (400, "invalid_document")
    );
    let err = env
        .store
        .doc_insert(DEFAULT_APP_ID, "a/b", "{}", &DocsQuota::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_collection");
    for (q, code) in [
        (query(vec![], Some(""), false, 1), "invalid_field"),
        (
            query(vec![filter("a", DocOp::Gt, json!(true))], None, false, 1),
            "invalid_query",
        ),
        (query(vec![], None, false, 0), "invalid_limit"),
    ] {
        let err = env
            .store
            .doc_find(DEFAULT_APP_ID, "c", &q)
            .await
            .unwrap_err();
        assert_eq!(err.code(), code);
    }
}

async fn invalid_cursors(env: Env) {
    use base64::Engine as _;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let svc = services(&env, DocsQuota::default());
    let docs = svc.docs().unwrap();
    let app = default_app();
    for n in 0..5 {
        docs.insert(app, "c", &format!(r#"{{"n":{n},"s":"x{n}"}}"#))
            .await
            .unwrap();
    }
    let page = docs
        .find(app, "c", &query(vec![], Some("n"), false, 2))
        .await
        .unwrap();
    let cursor = page.cursor.unwrap();
    let id = page.docs[1].id.clone();
    let with = |sort: Option<&str>, descending: bool, cursor: &str| DocQuery {
        cursor: Some(cursor.to_owned()),
        ..query(vec![], sort, descending, 2)
    };
    // The cursor works with its own sort...
    let next = docs
        .find(app, "c", &with(Some("n"), false, &cursor))
        .await
        .unwrap();
    assert_eq!(parse(&next.docs[0])["n"], 2);
    // ...and with no other.
    for (sort, descending) in [(Some("n"), true), (Some("s"), false), (None, false)] {
        invalid(
            docs.find(app, "c", &with(sort, descending, &cursor)).await,
            "another sort",
        );
    }
    let forged = [
        "".to_owned(),
        "!!!".to_owned(),
        "e30".to_owned(), // {}
        b64(json!([1, 2])),
        b64(json!({"s": "n", "d": false, "i": "nope", "k": [2, 1]})),
        b64(json!({"s": "n", "d": false, "i": id, "k": [2, "one"]})),
        b64(json!({"s": "n", "d": false, "i": id, "k": [3, 1]})),
        b64(json!({"s": "n", "d": false, "i": id, "k": [9, null]})),
        b64(json!({"s": "n", "d": false, "i": id, "k": [2, null]})),
        b64(json!({"s": "n", "d": false, "i": id})),
        b64(json!({"s": "n", "d": false, "i": id, "k": [3, "a\u{0}"]})),
        b64(json!({"s": "n", "d": false, "i": id, "k": [2, 1], "x": 1})),
        format!("{cursor}="),
    ];
    for bad in &forged {
        let err = docs
            .find(app, "c", &with(Some("n"), false, bad))
            .await
            .unwrap_err();
        assert_eq!(err.kind, ServiceErrorKind::InvalidArgument, "{bad}");
        assert!(err.message.contains("cursor"), "{bad}: {err}");
    }
    let err = env
        .store
        .doc_find(DEFAULT_APP_ID, "c", &with(Some("n"), false, "!!!"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_cursor");
    // A well-formed cursor of our own making is just a position.
    let made = b64(json!({"s": "n", "d": false, "i": id, "k": [2, 3.5]}));
    let page = docs
        .find(app, "c", &with(Some("n"), false, &made))
        .await
        .unwrap();
    assert_eq!(page.docs.len(), 1);
    assert_eq!(parse(&page.docs[0])["n"], 4);
}

async fn quotas(env: Env) {
    let quota = DocsQuota {
        max_document_bytes: 20,
        max_documents: 3,
        max_total_bytes: 50,
    };
    let svc = services(&env, quota);
    let docs = svc.docs().unwrap();
    let app = default_app();
    // 21 bytes of compact JSON; whitespace in the input does not count.
    let err = docs
        .insert(app, "c", r#"{"k":"0123456789abc"}"#)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ServiceErrorKind::InvalidArgument);
    assert_eq!(
        err.message,
        "the document is 21 bytes of JSON; the most is 20"
    );
    let a = docs
        .insert(app, "c", r#"{ "k" :  "0123456789ab" }"#)
        .await
        .unwrap();
    assert_eq!(usage(&env, app).await, (1, 20));

    // Documents: three fit (over all collections), a fourth does not.
    let b = docs.insert(app, "d", r#"{"k":1}"#).await.unwrap();
    let c = docs.insert(app, "e", r#"{"k":2}"#).await.unwrap();
    let err = docs.insert(app, "c", "{}").await.unwrap_err();
    assert_eq!(err.kind, ServiceErrorKind::QuotaExceeded);
    assert_eq!(
        err.message,
        "the app's collections hold 3 documents, the most it may (3); delete documents first"
    );
    assert_eq!(
        usage(&env, app).await,
        (3, 34),
        "a refused write leaves nothing"
    );
    assert!(docs.delete(app, "e", &c).await.unwrap());

    // Bytes: 20 + 7 + 20 = 47 of 50.
    let c = docs
        .insert(app, "e", r#"{"k":"0123456789ab"}"#)
        .await
        .unwrap();
    assert_eq!(usage(&env, app).await, (3, 47));
    // Growing b from 7 to 16 bytes needs 9 more: refused, b unchanged.
    let err = docs
        .update(app, "d", &b, r#"{"k":1234,"x":1}"#)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ServiceErrorKind::QuotaExceeded);
    assert_eq!(
        err.message,
        "the app's collections hold 47 bytes of documents of their quota of 50; this write needs 9 more"
    );
    assert_eq!(
        docs.get(app, "d", &b).await.unwrap().unwrap().body,
        r#"{"k":1}"#
    );
    // A patch whose result is over the document limit is refused as such.
    let err = docs
        .update(app, "c", &a, r#"{"more":true}"#)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ServiceErrorKind::InvalidArgument);
    assert!(
        err.message.contains("32 bytes of JSON; the most is 20"),
        "{err}"
    );
    // Growing within the quota, shrinking, and the admin's replace.
    docs.update(app, "d", &b, r#"{"k":123}"#)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(usage(&env, app).await, (3, 49));
    docs.update(app, "c", &a, r#"{"k":null}"#)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(usage(&env, app).await, (3, 31));
    let err = env
        .store
        .doc_replace(
            DEFAULT_APP_ID,
            "d",
            &b,
            r#"{"k":"0123456789ab"}"#,
            &DocsQuota {
                max_total_bytes: 40,
                ..quota
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.status().as_u16(), err.code().as_str()),
        (409, "quota_exceeded")
    );

    // An operator lowers the quota below what the app holds: it can still
    // shrink and delete, not grow.
    let tight = services(
        &env,
        DocsQuota {
            max_documents: 1,
            max_total_bytes: 10,
            ..quota
        },
    );
    assert_eq!(
        tight
            .docs()
            .unwrap()
            .insert(app, "c", "{}")
            .await
            .unwrap_err()
            .kind,
        ServiceErrorKind::QuotaExceeded
    );
    assert_eq!(
        tight
            .docs()
            .unwrap()
            .update(app, "d", &b, r#"{"k":12345}"#)
            .await
            .unwrap_err()
            .kind,
        ServiceErrorKind::QuotaExceeded
    );
    tight
        .docs()
        .unwrap()
        .update(app, "d", &b, r#"{"k":1}"#)
        .await
        .unwrap();
    assert!(tight.docs().unwrap().delete(app, "e", &c).await.unwrap());
    assert_eq!(usage(&env, app).await, (2, 9));
    let other = new_app(&env, "other").await;
    assert_eq!(usage(&env, other).await, (0, 0), "quotas are per app");
    tight
        .docs()
        .unwrap()
        .insert(other, "c", "{}")
        .await
        .unwrap();
}

async fn quotas_hold_under_concurrency(env: Env) {
    let svc = services(
        &env,
        DocsQuota {
            max_documents: 20,
            ..DocsQuota::default()
        },
    );
    let app = default_app();
    let tasks: Vec<_> = (0..40)
        .map(|n| {
            let svc = svc.clone();
            tokio::spawn(async move {
                svc.docs()
                    .unwrap()
                    .insert(app, "c", &format!(r#"{{"n":{n}}}"#))
                    .await
            })
        })
        .collect();
    let mut stored = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => stored += 1,
            Err(err) => assert_eq!(err.kind, ServiceErrorKind::QuotaExceeded, "{err}"),
        }
    }
    assert_eq!(stored, 20);
    assert_eq!(usage(&env, app).await.0, 20);
}

async fn updates_do_not_lose_concurrent_writes(env: Env) {
    let svc = services(&env, DocsQuota::default());
    let app = default_app();
    let id = svc.docs().unwrap().insert(app, "c", "{}").await.unwrap();
    let tasks: Vec<_> = (0..30)
        .map(|n| {
            let svc = svc.clone();
            let id = id.clone();
            tokio::spawn(async move {
                svc.docs()
                    .unwrap()
                    .update(app, "c", &id, &format!(r#"{{"f{n}":{{"n":{n}}}}}"#))
                    .await
                    .unwrap()
                    .unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let doc = parse(
        &svc.docs()
            .unwrap()
            .get(app, "c", &id)
            .await
            .unwrap()
            .unwrap(),
    );
    let fields = doc.as_object().unwrap();
    assert_eq!(fields.len(), 30, "every field of every update is there");
    for n in 0..30 {
        assert_eq!(fields[&format!("f{n}")], json!({"n": n}));
    }
    usage(&env, app).await;
}

// --- The model of the documented query semantics. ---

/// Type rank: missing, null, numbers, strings, false, true, arrays, objects.
fn rank(value: Option<&Value>) -> u8 {
    match value {
        None => 0,
        Some(Value::Null) => 1,
        Some(Value::Number(_)) => 2,
        Some(Value::String(_)) => 3,
        Some(Value::Bool(false)) => 4,
        Some(Value::Bool(true)) => 5,
        Some(Value::Array(_)) => 6,
        Some(Value::Object(_)) => 7,
    }
}

fn model_eq(field: Option<&Value>, operand: &Value) -> bool {
    match (field, operand) {
        (Some(Value::Number(a)), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Some(Value::String(a)), Value::String(b)) => a == b,
        (Some(Value::Bool(a)), Value::Bool(b)) => a == b,
        (Some(Value::Null), Value::Null) => true,
        _ => false,
    }
}

/// `None` when the operation is refused.
fn model_matches(doc: &Value, f: &DocFilter) -> Option<bool> {
    let field = doc.get(&f.field);
    let ordering = || match (field, &f.value) {
        (Some(Value::Number(a)), Value::Number(b)) => a.as_f64().partial_cmp(&b.as_f64()),
        (Some(Value::String(a)), Value::String(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        _ => None,
    };
    let range = matches!(f.value, Value::Number(_) | Value::String(_));
    Some(match f.op {
        DocOp::Eq => model_eq(field, &f.value),
        DocOp::Ne => !model_eq(field, &f.value),
        _ if !range => return None,
        DocOp::Lt => ordering() == Some(Ordering::Less),
        DocOp::Lte => matches!(ordering(), Some(Ordering::Less | Ordering::Equal)),
        DocOp::Gt => ordering() == Some(Ordering::Greater),
        DocOp::Gte => matches!(ordering(), Some(Ordering::Greater | Ordering::Equal)),
    })
}

fn model_cmp(a: &(String, Value), b: &(String, Value), field: &str) -> Ordering {
    let (fa, fb) = (a.1.get(field), b.1.get(field));
    rank(fa)
        .cmp(&rank(fb))
        .then_with(|| match (fa, fb) {
            (Some(Value::Number(x)), Some(Value::Number(y))) => {
                x.as_f64().unwrap().total_cmp(&y.as_f64().unwrap())
            }
            (Some(Value::String(x)), Some(Value::String(y))) => x.as_bytes().cmp(y.as_bytes()),
            _ => Ordering::Equal,
        })
        .then_with(|| a.0.cmp(&b.0))
}

/// What `query` should return from `docs` (id, document), all pages.
fn model_find(docs: &[(String, Value)], query: &DocQuery) -> Vec<String> {
    let mut found: Vec<(String, Value)> = docs
        .iter()
        .filter(|(_, doc)| query.filters.iter().all(|f| model_matches(doc, f).unwrap()))
        .cloned()
        .collect();
    match &query.sort {
        Some(field) => found.sort_by(|a, b| model_cmp(a, b, field)),
        None => found.sort_by(|a, b| a.0.cmp(&b.0)),
    }
    if query.descending {
        found.reverse();
    }
    found.into_iter().map(|(id, _)| id).collect()
}

/// The documents of the operator tests: field `v` in every type, with the
/// label of each in `l`.
fn mixed_documents() -> Vec<Value> {
    let values: Vec<(&str, Option<Value>)> = vec![
        ("missing", None),
        ("null", Some(json!(null))),
        ("true", Some(json!(true))),
        ("false", Some(json!(false))),
        ("int1", Some(json!(1))),
        ("float1", Some(json!(1.0))),
        ("two_half", Some(json!(2.5))),
        ("neg", Some(json!(-3))),
        ("zero", Some(json!(0))),
        ("tenth", Some(json!(0.1))),
        ("ten", Some(json!(10))),
        ("huge", Some(json!(1e300))),
        ("tiny", Some(json!(-1e300))),
        ("i64max", Some(json!(i64::MAX))),
        ("str10", Some(json!("10"))),
        ("str_a", Some(json!("a"))),
        ("str_B", Some(json!("B"))),
        ("str_e", Some(json!("é"))),
        ("str_ab", Some(json!("ab"))),
        ("empty", Some(json!(""))),
        ("arr", Some(json!([1]))),
        ("obj", Some(json!({"x": 1}))),
        ("int1_again", Some(json!(1))),
        ("str_a_again", Some(json!("a"))),
    ];
    values
        .into_iter()
        .map(|(label, v)| {
            let mut doc = json!({"l": label});
            if let Some(v) = v {
                doc["v"] = v;
            }
            doc
        })
        .collect()
}

async fn insert_all(
    svc: &DataServices,
    app: AppId,
    collection: &str,
    docs: &[Value],
) -> Vec<(String, Value)> {
    let mut stored = Vec::new();
    for doc in docs {
        let id = svc
            .docs()
            .unwrap()
            .insert(app, collection, &doc.to_string())
            .await
            .unwrap();
        stored.push((id, doc.clone()));
    }
    stored
}

fn labels(found: &[Document]) -> Vec<String> {
    found
        .iter()
        .map(|d| parse(d)["l"].as_str().unwrap().to_owned())
        .collect()
}

async fn every_operator_on_mixed_types(env: Env) {
    let svc = services(&env, DocsQuota::default());
    let app = default_app();
    let stored = insert_all(&svc, app, "mixed", &mixed_documents()).await;
    let label_of = |ids: Vec<String>| -> Vec<String> {
        ids.iter()
            .map(|id| {
                let doc = &stored.iter().find(|(i, _)| i == id).unwrap().1;
                doc["l"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    let find = |filters: Vec<DocFilter>| {
        let svc = svc.clone();
        async move { labels(&find_all(&svc, app, "mixed", &query(filters, None, false, 1000)).await) }
    };

    // What a user would read in the docs, spelled out.
    let cases: Vec<(DocOp, Value, &[&str])> = vec![
        (DocOp::Eq, json!(1), &["int1", "float1", "int1_again"]),
        (DocOp::Eq, json!(1.0), &["int1", "float1", "int1_again"]),
        (DocOp::Eq, json!(null), &["null"]),
        (DocOp::Eq, json!(false), &["false"]),
        (DocOp::Eq, json!(true), &["true"]),
        (DocOp::Eq, json!("10"), &["str10"]),
        (DocOp::Eq, json!(10), &["ten"]),
        (DocOp::Eq, json!(""), &["empty"]),
        (DocOp::Eq, json!("A"), &[]),
        (DocOp::Gt, json!(2), &["two_half", "ten", "huge", "i64max"]),
        (DocOp::Lte, json!(0), &["neg", "zero", "tiny"]),
        (DocOp::Lt, json!(0.2), &["neg", "zero", "tenth", "tiny"]),
        (
            DocOp::Gte,
            json!("a"),
            &["str_a", "str_e", "str_ab", "str_a_again"],
        ),
        (DocOp::Lt, json!("a"), &["str10", "str_B", "empty"]),
        (DocOp::Gt, json!("ab"), &["str_e"]),
        (DocOp::Lte, json!(""), &["empty"]),
    ];
    for (op, value, want) in &cases {
        let got = find(vec![filter("v", *op, value.clone())]).await;
        assert_eq!(&got, want, "{op:?} {value}");
    }
    // ne null: everything that is not JSON null, missing fields included.
    let ne_null = find(vec![filter("v", DocOp::Ne, json!(null))]).await;
    assert_eq!(ne_null.len(), stored.len() - 1);
    assert!(ne_null.contains(&"missing".to_owned()));
    assert!(!ne_null.contains(&"null".to_owned()));
    // A field nobody has: eq matches nothing, ne everything.
    assert!(
        find(vec![filter("nope", DocOp::Eq, json!(null))])
            .await
            .is_empty()
    );
    assert_eq!(
        find(vec![filter("nope", DocOp::Ne, json!(1))]).await.len(),
        stored.len()
    );
    // Conditions combine with AND, on the same field too.
    assert_eq!(
        find(vec![
            filter("v", DocOp::Gt, json!(0)),
            filter("v", DocOp::Lt, json!(10)),
            filter("v", DocOp::Ne, json!(1)),
        ])
        .await,
        ["two_half", "tenth"]
    );
    assert_eq!(
        find(vec![
            filter("v", DocOp::Eq, json!("a")),
            filter("l", DocOp::Ne, json!("str_a")),
        ])
        .await,
        ["str_a_again"]
    );

    // Every operator with every operand, against the model.
    let operands = [
        json!(null),
        json!(true),
        json!(false),
        json!(0),
        json!(1),
        json!(1.0),
        json!(-3),
        json!(2.5),
        json!(0.1),
        json!(10),
        json!(1e300),
        json!(i64::MAX),
        json!(-1e301),
        json!("10"),
        json!("a"),
        json!("B"),
        json!("é"),
        json!("ab"),
        json!(""),
        json!("zz"),
    ];
    for op in [
        DocOp::Eq,
        DocOp::Ne,
        DocOp::Lt,
        DocOp::Lte,
        DocOp::Gt,
        DocOp::Gte,
    ] {
        for value in &operands {
            let f = filter("v", op, value.clone());
            let model = stored.first().and_then(|(_, doc)| model_matches(doc, &f));
            let result = svc
                .docs()
                .unwrap()
                .find(app, "mixed", &query(vec![f.clone()], None, false, 1000))
                .await;
            match model {
                None => {
                    assert_eq!(result.unwrap_err().kind, ServiceErrorKind::InvalidArgument)
                }
                Some(_) => {
                    let got: Vec<String> = result.unwrap().docs.into_iter().map(|d| d.id).collect();
                    let want = model_find(&stored, &query(vec![f], None, false, 1000));
                    assert_eq!(label_of(got), label_of(want), "{op:?} {value}");
                }
            }
        }
    }
}

async fn sort_orders_mixed_types(env: Env) {
    let svc = services(&env, DocsQuota::default());
    let app = default_app();
    let stored = insert_all(&svc, app, "mixed", &mixed_documents()).await;
    let ascending = [
        "missing",
        "null",
        "tiny",
        "neg",
        "zero",
        "tenth",
        "int1",
        "float1",
        "int1_again",
        "two_half",
        "ten",
        "i64max",
        "huge",
        "empty",
        "str10",
        "str_B",
        "str_a",
        "str_a_again",
        "str_ab",
        "str_e",
        "false",
        "true",
        "arr",
        "obj",
    ];
    for limit in [1, 3, 1000] {
        let got =
            labels(&find_all(&svc, app, "mixed", &query(vec![], Some("v"), false, limit)).await);
        assert_eq!(got, ascending, "limit {limit}");
        let got =
            labels(&find_all(&svc, app, "mixed", &query(vec![], Some("v"), true, limit)).await);
        let mut descending = ascending.to_vec();
        descending.reverse();
        assert_eq!(got, descending, "limit {limit}");
    }
    let model: Vec<String> = model_find(&stored, &query(vec![], Some("v"), false, 1))
        .iter()
        .map(|id| {
            stored.iter().find(|(i, _)| i == id).unwrap().1["l"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(model, ascending, "the model agrees with the docs");
    // Sorting by a field no document has is insertion order.
    let got = labels(&find_all(&svc, app, "mixed", &query(vec![], Some("nope"), false, 5)).await);
    let inserted: Vec<String> = stored
        .iter()
        .map(|(_, d)| d["l"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, inserted);
    // Sort and filter together.
    let got = labels(
        &find_all(
            &svc,
            app,
            "mixed",
            &query(vec![filter("v", DocOp::Gte, json!(1))], Some("v"), true, 2),
        )
        .await,
    );
    assert_eq!(
        got,
        [
            "huge",
            "i64max",
            "ten",
            "two_half",
            "int1_again",
            "float1",
            "int1"
        ]
    );
}

async fn paging_never_skips_or_repeats(env: Env) {
    let svc = services(&env, DocsQuota::default());
    let app = default_app();
    // 250 documents with many ties: n in 0..7, s one of five strings, some
    // fields missing, some of another type.
    let docs: Vec<Value> = (0..250)
        .map(|i| {
            let s = ["pear", "apple", "Fig", "fig", "é"][i % 5];
            let mut doc = json!({"i": i, "n": i % 7, "s": s});
            if i % 11 == 0 {
                doc.as_object_mut().unwrap().remove("n");
            }
            if i % 13 == 0 {
                doc["s"] = json!(i);
            }
            if i % 17 == 0 {
                doc["n"] = json!(null);
            }
            doc
        })
        .collect();
    let stored = insert_all(&svc, app, "big", &docs).await;
    let queries = [
        query(vec![], None, false, 1),
        query(vec![], None, true, 1),
        query(vec![], Some("n"), false, 1),
        query(vec![], Some("n"), true, 1),
        query(vec![], Some("s"), false, 1),
        query(vec![], Some("s"), true, 1),
        query(vec![filter("n", DocOp::Gte, json!(3))], Some("s"), false, 1),
        query(
            vec![filter("s", DocOp::Ne, json!("fig"))],
            Some("n"),
            true,
            1,
        ),
        query(vec![filter("i", DocOp::Lt, json!(200))], None, false, 1),
        query(vec![filter("n", DocOp::Eq, json!(4))], Some("n"), false, 1),
    ];
    for base in &queries {
        let want = model_find(&stored, base);
        assert!(!want.is_empty());
        for limit in [1, 7, 50, 249, 250, 1000] {
            let q = DocQuery {
                limit,
                ..base.clone()
            };
            let got: Vec<String> = find_all(&svc, app, "big", &q)
                .await
                .into_iter()
                .map(|d| d.id)
                .collect();
            let unique: HashSet<&String> = got.iter().collect();
            assert_eq!(unique.len(), got.len(), "no repeats: {q:?}");
            assert_eq!(got, want, "{q:?}");
        }
    }
    // A limit over the cap is capped, not refused.
    let page = svc
        .docs()
        .unwrap()
        .find(app, "big", &query(vec![], None, false, 5000))
        .await
        .unwrap();
    assert_eq!((page.docs.len(), page.cursor), (250, None));
}

async fn any_field_name_works(env: Env) {
    let svc = services(&env, DocsQuota::default());
    let app = default_app();
    let names = [
        "plain",
        "with space",
        "quote\"inside",
        "back\\slash",
        "a.b",
        "$.x",
        "[0]",
        "it's",
        "é日本\u{1F600}",
        "\n",
        "-dash",
        "_id2",
    ];
    let mut ids = Vec::new();
    for (n, name) in names.iter().enumerate() {
        let mut doc = json!({"nested": {"a": {"b": 1}}, "a": {"b": 2}});
        doc[*name] = json!(n);
        ids.push(
            svc.docs()
                .unwrap()
                .insert(app, "c", &doc.to_string())
                .await
                .unwrap(),
        );
    }
    for (n, name) in names.iter().enumerate() {
        let page = svc
            .docs()
            .unwrap()
            .find(
                app,
                "c",
                &query(vec![filter(name, DocOp::Eq, json!(n))], None, false, 10),
            )
            .await
            .unwrap();
        assert_eq!(page.docs.len(), 1, "{name:?}");
        assert_eq!(page.docs[0].id, ids[n], "{name:?}");
        let sorted = svc
            .docs()
            .unwrap()
            .find(app, "c", &query(vec![], Some(name), true, 1))
            .await
            .unwrap();
        assert_eq!(sorted.docs[0].id, ids[n], "{name:?}");
    }
    // A name with a dot is a top-level name, not a path.
    let page = svc
        .docs()
        .unwrap()
        .find(
            app,
            "c",
            &query(vec![filter("a.b", DocOp::Gte, json!(0))], None, false, 100),
        )
        .await
        .unwrap();
    assert_eq!(page.docs.len(), 1);
    let page = svc
        .docs()
        .unwrap()
        .find(
            app,
            "c",
            &query(
                vec![filter("nested", DocOp::Eq, json!(1))],
                None,
                false,
                100,
            ),
        )
        .await
        .unwrap();
    assert!(page.docs.is_empty());
}

async fn strings_compare_bytewise_whatever_the_database_collation(env: Env) {
    // The test cluster's default collation is C, which sorts bytes anyway;
    // production databases often use a language's order (here ICU en-US:
    // "a" < "B", "é" < "f"), so every comparison must say "C" itself.
    let store = if env.postgres {
        let (base, rest) = env.url.split_once('?').unwrap();
        let (server, name) = base.rsplit_once('/').unwrap();
        let icu = format!("{name}_icu");
        sqlx::query(&format!(
            "CREATE DATABASE {icu} TEMPLATE template0 LOCALE 'C.UTF-8'
             LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
        ))
        .execute(&env.raw)
        .await
        .unwrap();
        let url = format!("{server}/{icu}?{rest}");
        let store = Store::new(Db::connect(&url).await.unwrap());
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        let (a_first,): (bool,) = sqlx::query_as("SELECT 'a' < 'B'")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(a_first, "the database sorts text by language, not bytes");
        store
    } else {
        env.store.clone()
    };
    let svc = DataServices::new(
        store.clone(),
        manager_core::KvQuota::default(),
        DocsQuota::default(),
        None,
    );
    let app = default_app();
    let strings = ["a", "B", "é", "f", "Z", "_x"];
    for s in strings {
        svc.docs()
            .unwrap()
            .insert(app, "words", &json!({"s": s}).to_string())
            .await
            .unwrap();
    }
    let words = |found: Vec<Document>| -> Vec<String> {
        found
            .iter()
            .map(|d| parse(d)["s"].as_str().unwrap().to_owned())
            .collect()
    };
    let sorted = find_all(&svc, app, "words", &query(vec![], Some("s"), false, 2)).await;
    assert_eq!(words(sorted), ["B", "Z", "_x", "a", "f", "é"]);
    let sorted = find_all(&svc, app, "words", &query(vec![], Some("s"), true, 4)).await;
    assert_eq!(words(sorted), ["é", "f", "a", "_x", "Z", "B"]);
    let above = find_all(
        &svc,
        app,
        "words",
        &query(vec![filter("s", DocOp::Gt, json!("Z"))], None, false, 100),
    )
    .await;
    assert_eq!(words(above), ["a", "é", "f", "_x"]);
    let below = find_all(
        &svc,
        app,
        "words",
        &query(
            vec![filter("s", DocOp::Lte, json!("f"))],
            Some("s"),
            false,
            100,
        ),
    )
    .await;
    assert_eq!(words(below), ["B", "Z", "_x", "a", "f"]);
    for name in ["b", "B", "a", "Z", "_"] {
        svc.docs().unwrap().insert(app, name, "{}").await.unwrap();
    }
    let names: Vec<String> = store
        .doc_collections(DEFAULT_APP_ID)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["B", "Z", "_", "a", "b", "words"]);
}

async fn apps_are_isolated(env: Env) {
    let svc = services(&env, DocsQuota::default());
    let docs = svc.docs().unwrap();
    let a = default_app();
    let b = new_app(&env, "tenant-b").await;
    let id = docs
        .insert(a, "users", r#"{"name":"Ada","role":"admin"}"#)
        .await
        .unwrap();
    // B knows the collection and the id, and still reaches nothing of A's.
    assert_eq!(docs.get(b, "users", &id).await.unwrap(), None);
    assert_eq!(
        docs.update(b, "users", &id, r#"{"role":"owner"}"#)
            .await
            .unwrap(),
        None
    );
    assert!(!docs.delete(b, "users", &id).await.unwrap());
    let page = docs
        .find(
            b,
            "users",
            &query(
                vec![filter("name", DocOp::Eq, json!("Ada"))],
                Some("name"),
                false,
                100,
            ),
        )
        .await
        .unwrap();
    assert!(page.docs.is_empty());
    assert!(
        docs.find(b, "users", &query(vec![], None, false, 100))
            .await
            .unwrap()
            .docs
            .is_empty()
    );
    // B's own collection of the same name is its own.
    let theirs = docs.insert(b, "users", r#"{"name":"Bob"}"#).await.unwrap();
    assert_eq!(docs.get(a, "users", &theirs).await.unwrap(), None);
    // A's document is untouched.
    let doc = docs.get(a, "users", &id).await.unwrap().unwrap();
    assert_eq!(parse(&doc), json!({"name": "Ada", "role": "admin"}));
    let all_a = find_all(&svc, a, "users", &query(vec![], None, false, 10)).await;
    assert_eq!(all_a.len(), 1);
    assert_eq!(usage(&env, a).await.0, 1);
    assert_eq!(usage(&env, b).await.0, 1);
    let collections = env.store.doc_collections(b).await.unwrap();
    assert_eq!(collections.len(), 1);
    assert_eq!(collections[0].documents, 1);
}

async fn deleting_an_app_deletes_its_documents(env: Env) {
    let svc = services(&env, DocsQuota::default());
    let doomed = env.store.create_app("doomed", "Doomed", "").await.unwrap();
    let id: AppId = doomed.id;
    svc.docs()
        .unwrap()
        .insert(id, "c", r#"{"a":1}"#)
        .await
        .unwrap();
    svc.docs()
        .unwrap()
        .insert(id, "d", r#"{"a":2}"#)
        .await
        .unwrap();
    svc.docs()
        .unwrap()
        .insert(default_app(), "c", r#"{"a":3}"#)
        .await
        .unwrap();
    env.store.delete_app(&doomed).await.unwrap();
    for table in ["documents", "docs_usage"] {
        let left: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE app_id = $1"))
                .bind(doomed.id.to_string())
                .fetch_one(&env.raw)
                .await
                .unwrap();
        assert_eq!(left, 0, "{table}");
    }
    assert_eq!(usage(&env, default_app()).await, (1, 7));
    if env.postgres {
        // The test cluster's default collation may sort like bytes anyway;
        // production databases often do not, so the columns must say "C".
        for column in ["collection", "id"] {
            let collation: Option<String> = sqlx::query_scalar(
                "SELECT collation_name::TEXT FROM information_schema.columns
                 WHERE table_name = 'documents' AND column_name = $1",
            )
            .bind(column)
            .fetch_one(&env.raw)
            .await
            .unwrap();
            assert_eq!(collation.as_deref(), Some("C"), "{column}");
        }
    }
}

// --- The admin API. ---

/// The admin router with a token, driven request by request.
impl Api {
    async fn new(env: &Env, config: ManagerConfig) -> Api {
        Api::serve(Manager::new(
            env.store.clone(),
            Arc::new(NoExecutor),
            Arc::new(NoRouting),
            config,
        ))
        .await
    }

    async fn openapi(&self) -> Value {
        let request = Request::builder()
            .uri("/api/v1/openapi.json")
            .body(Body::empty())
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 24)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn admin_api_documents(env: Env) {
    let quota = DocsQuota {
        max_documents: 4,
        ..DocsQuota::default()
    };
    let api = Api::new(
        &env,
        ManagerConfig {
            docs_quota: quota,
            ..Default::default()
        },
    )
    .await;
    let app = env.store.create_app("shop", "Shop", "").await.unwrap();
    let base = "/apps/shop/collections/orders/documents";

    // POST stores a document and answers 201 with it.
    let (status, created) = api
        .call(
            "POST",
            base,
            Some(json!({"status": "paid", "total": 30, "items": [1, 2]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created["document"],
        json!({"status": "paid", "total": 30, "items": [1, 2]})
    );
    assert_eq!(
        created["size"],
        r#"{"items":[1,2],"status":"paid","total":30}"#.len()
    );
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(created["created_at"], created["updated_at"]);
    let (status, shown) = api.call("GET", &format!("{base}/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown, created);
    // What the admin wrote, the app's scripts read.
    let svc = DataServices::new(
        env.store.clone(),
        manager_core::KvQuota::default(),
        quota,
        None,
    );
    let app_id: AppId = app.id;
    let doc = svc
        .docs()
        .unwrap()
        .get(app_id, "orders", &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(parse(&doc), created["document"]);
    // ...and what scripts wrote, the admin sees.
    for (status, total) in [
        ("new", json!(5)),
        ("paid", json!(12.5)),
        ("paid", json!(99)),
    ] {
        svc.docs()
            .unwrap()
            .insert(
                app_id,
                "orders",
                &json!({"status": status, "total": total}).to_string(),
            )
            .await
            .unwrap();
    }

    // PUT replaces the whole document, keeping id and creation time.
    let (status, replaced) = api
        .call(
            "PUT",
            &format!("{base}/{id}"),
            Some(json!({"status": "refunded"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["id"], id.as_str());
    assert_eq!(replaced["document"], json!({"status": "refunded"}));
    assert_eq!(replaced["created_at"], created["created_at"]);
    assert_eq!(replaced["size"], 21);

    // Finding: `where` in the query string, sort with `-`, paging.
    let filter = encode(r#"{"status":"paid","total":{"gt":10}}"#);
    let (status, page) = api
        .call(
            "GET",
            &format!("{base}?where={filter}&sort=-total&limit=1"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["document"]["total"], 99);
    assert!(page["items"][0]["id"].is_string());
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (status, page) = api
        .call(
            "GET",
            &format!(
                "{base}?where={filter}&sort=-total&limit=1&cursor={}",
                encode(&cursor)
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"][0]["document"]["total"], 12.5);
    assert_eq!(page["next_cursor"], Value::Null);
    let (_, page) = api.call("GET", &format!("{base}?sort=total"), None).await;
    let totals: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| &item["document"]["total"])
        .collect();
    assert_eq!(totals, [&Value::Null, &json!(5), &json!(12.5), &json!(99)]);
    let (_, page) = api.call("GET", base, None).await;
    assert_eq!(
        page["items"][0]["id"],
        id.as_str(),
        "insertion order by default"
    );
    let (_, page) = api
        .call(
            "GET",
            &format!(
                "{base}?where={}",
                encode(r#"{"status":{"ne":"paid"},"total":{"lte":5}}"#)
            ),
            None,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["document"]["status"], "new");
    let (_, page) = api
        .call("GET", "/apps/shop/collections/none/documents", None)
        .await;
    assert_eq!(page, json!({"items": [], "next_cursor": null}));

    // Collections with their sizes, the usage and the quota. The app is full,
    // so a refused insert creates no collection.
    svc.docs()
        .unwrap()
        .insert(app_id, "audit", "{}")
        .await
        .unwrap_err();
    let (status, list) = api.call("GET", "/apps/shop/collections", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["name"], "orders");
    assert_eq!(list["items"][0]["documents"], 4);
    let (documents, bytes) = usage(&env, app_id).await;
    assert_eq!(list["items"][0]["bytes"], bytes);
    assert_eq!(
        list["usage"],
        json!({"documents": documents, "bytes": bytes})
    );
    assert_eq!(
        list["quota"],
        json!({"max_document_bytes": 1 << 20, "max_documents": 4, "max_total_bytes": 256 << 20})
    );

    // Errors a user can act on.
    let other_id = uuid_like(&id);
    for (method, path, body, status, code) in [
        ("GET", format!("{base}/{other_id}"), None, 404, "not_found"),
        ("GET", format!("{base}/nope"), None, 404, "not_found"),
        (
            "PUT",
            format!("{base}/{other_id}"),
            Some(json!({"a": 1})),
            404,
            "not_found",
        ),
        (
            "DELETE",
            format!("{base}/{other_id}"),
            None,
            404,
            "not_found",
        ),
        (
            "GET",
            "/apps/nope/collections".into(),
            None,
            404,
            "not_found",
        ),
        (
            "POST",
            "/apps/nope/collections/c/documents".into(),
            Some(json!({})),
            404,
            "not_found",
        ),
        (
            "POST",
            "/apps/shop/collections/-bad/documents".into(),
            Some(json!({})),
            400,
            "invalid_collection",
        ),
        (
            "GET",
            "/apps/shop/collections/a%20b/documents".into(),
            None,
            400,
            "invalid_collection",
        ),
        (
            "GET",
            format!("/apps/shop/collections/{}/documents/{id}", "x".repeat(65)),
            None,
            400,
            "invalid_collection",
        ),
        (
            "POST",
            base.into(),
            Some(json!({"_id": "mine"})),
            400,
            "invalid_document",
        ),
        (
            "PUT",
            format!("{base}/{id}"),
            Some(json!({"_id": "mine"})),
            400,
            "invalid_document",
        ),
        ("POST", base.into(), Some(json!([1])), 400, "invalid_json"),
        (
            "POST",
            base.into(),
            Some(json!({"a": 1})),
            409,
            "quota_exceeded",
        ),
        ("GET", format!("{base}?limit=0"), None, 400, "invalid_limit"),
        (
            "GET",
            format!("{base}?limit=1001"),
            None,
            400,
            "invalid_limit",
        ),
        (
            "GET",
            format!("{base}?colour=red"),
            None,
            400,
            "invalid_query",
        ),
        (
            "GET",
            format!("{base}?where=%7Bnope"),
            None,
            400,
            "invalid_query",
        ),
        (
            "GET",
            format!("{base}?where=%5B1%5D"),
            None,
            400,
            "invalid_query",
        ),
        (
            "GET",
            format!("{base}?where={}", encode(r#"{"a":{}}"#)),
            None,
            400,
            "invalid_query",
        ),
        (
            "GET",
            format!("{base}?where={}", encode(r#"{"a":{"like":"x"}}"#)),
            None,
            400,
            "invalid_query",
        ),
        (
            "GET",
            format!("{base}?where={}", encode(r#"{"a":{"gt":true}}"#)),
            None,
            400,
            "invalid_query",
        ),
        (
            "GET",
            format!("{base}?where={}", encode(r#"{"a":[1]}"#)),
            None,
            400,
            "invalid_query",
        ),
        (
            "GET",
            format!("{base}?where={}", encode(r#"{"":1}"#)),
            None,
            400,
            "invalid_field",
        ),
        ("GET", format!("{base}?sort=-"), None, 400, "invalid_field"),
        (
            "GET",
            format!("{base}?cursor=nope"),
            None,
            400,
            "invalid_cursor",
        ),
        (
            "GET",
            format!("{base}?sort=total&cursor={}", encode(&cursor)),
            None,
            400,
            "invalid_cursor",
        ),
    ] {
        let (got, body) = api.call(method, &path, body).await;
        assert_eq!(
            (got.as_u16(), body["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {body}"
        );
    }
    let (_, body) = api.call("POST", base, Some(json!({"a": 1}))).await;
    assert_eq!(
        body["error"]["message"],
        "the app's collections hold 4 documents, the most it may (4); delete documents first"
    );

    // After a rename the old slug redirects, path and query kept.
    env.store.rename_app(&app, "store", false).await.unwrap();
    let (status, headers, _) = api
        .call_full("GET", &format!("{base}/{id}?x=1"), None)
        .await;
    assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        headers[header::LOCATION],
        format!("/api/v1/admin/apps/store/collections/orders/documents/{id}?x=1")
    );
    let (status, _) = api
        .call(
            "GET",
            &format!("/apps/{}/collections/orders/documents/{id}", app.id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = api
        .call(
            "DELETE",
            &format!("/apps/store/collections/orders/documents/{id}"),
            None,
        )
        .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let (status, _) = api
        .call(
            "GET",
            &format!("/apps/store/collections/orders/documents/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(usage(&env, app_id).await.0, 3);

    // Every operation is in the OpenAPI document.
    let doc = api.openapi().await;
    let paths = &doc["paths"];
    for (path, methods) in [
        ("/apps/{app}/collections", &["get"][..]),
        (
            "/apps/{app}/collections/{collection}/documents",
            &["get", "post"][..],
        ),
        (
            "/apps/{app}/collections/{collection}/documents/{id}",
            &["get", "put", "delete"][..],
        ),
    ] {
        for method in methods {
            let op = &paths[path][method];
            assert!(op.is_object(), "{method} {path} is documented");
            assert!(op["responses"]["401"].is_object());
            assert_eq!(op["tags"][0], "docs");
        }
    }
    let find = &paths["/apps/{app}/collections/{collection}/documents"]["get"];
    let params: Vec<&str> = find["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in ["where", "sort", "cursor", "limit"] {
        assert!(params.contains(&name), "{name} in {params:?}");
    }
    assert!(
        paths["/apps/{app}/collections/{collection}/documents"]["post"]["responses"]["201"]
            .is_object()
    );
    assert!(
        paths["/apps/{app}/collections/{collection}/documents"]["post"]["responses"]["409"]
            .is_object()
    );
}

/// A well-formed id that names no document: `id` with its last digit changed.
fn uuid_like(id: &str) -> String {
    let last = if id.ends_with('0') { '1' } else { '0' };
    format!("{}{last}", &id[..id.len() - 1])
}
