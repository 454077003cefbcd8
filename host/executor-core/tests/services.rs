//! The host side of the `kv` and `env` imports, through the real guest, with
//! an in-memory fake behind the `ServiceProvider` trait: what a script sees
//! (values round-tripping as JSON, catchable errors, pages), that every call
//! carries the app of the running script and nothing the script chose, and
//! that waiting on a service counts toward the deadline but not fuel.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use executor_core::{Executor, ExecutorConfig};
use shared::{
    AppId, DocFilter, DocOp, DocPage, DocQuery, DocsService, Document, EnvService,
    ExecutionOutcome, ExecutionRequest, HttpAllowList, KvPage, KvService, Limits, ScriptId,
    ScriptRequest, ServiceError, ServiceProvider,
};

/// Keys per app in a BTreeMap (byte order, like the real stores), plus a
/// record of every call's app and TTL.
#[derive(Default)]
struct Fake {
    kv: Mutex<HashMap<AppId, BTreeMap<String, String>>>,
    env: Mutex<HashMap<(AppId, String), String>>,
    calls: Mutex<Vec<(AppId, &'static str, String)>>,
    ttls: Mutex<Vec<Option<Duration>>>,
    /// Documents per (app, collection), in insertion order.
    docs: Mutex<HashMap<(AppId, String), Vec<Document>>>,
    /// The last query `find` received, as the service sees it.
    last_query: Mutex<Option<DocQuery>>,
    /// Outbound HTTP allow-lists per app (none: everything denied).
    allow: Mutex<HashMap<AppId, Vec<shared::AllowPattern>>>,
}

impl Fake {
    fn record(&self, app: AppId, op: &'static str, key: &str) {
        self.calls.lock().unwrap().push((app, op, key.to_owned()));
    }

    fn apps_called(&self) -> Vec<AppId> {
        self.calls.lock().unwrap().iter().map(|c| c.0).collect()
    }
}

impl ServiceProvider for Fake {
    fn kv(&self) -> Option<&dyn KvService> {
        Some(self)
    }
    fn env(&self) -> Option<&dyn EnvService> {
        Some(self)
    }
    fn docs(&self) -> Option<&dyn DocsService> {
        Some(self)
    }
    fn http(&self) -> Option<&dyn HttpAllowList> {
        Some(self)
    }
}

#[async_trait]
impl HttpAllowList for Fake {
    async fn allowed(&self, app: AppId) -> Result<Vec<shared::AllowPattern>, ServiceError> {
        self.record(app, "allowed", "");
        Ok(self
            .allow
            .lock()
            .unwrap()
            .get(&app)
            .cloned()
            .unwrap_or_default())
    }
}

#[async_trait]
impl KvService for Fake {
    async fn get(&self, app: AppId, key: &str) -> Result<Option<String>, ServiceError> {
        self.record(app, "get", key);
        if key == "slow" {
            // Never answers: the execution's deadline must end the wait.
            std::future::pending::<()>().await;
        }
        if key == "broken" {
            return Err(ServiceError::unavailable());
        }
        Ok(self
            .kv
            .lock()
            .unwrap()
            .get(&app)
            .and_then(|m| m.get(key).cloned()))
    }

    async fn set(
        &self,
        app: AppId,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<(), ServiceError> {
        self.record(app, "set", key);
        if value.len() > 100 {
            return Err(ServiceError::quota(format!(
                "the value is {} bytes; the most a value may hold is 100",
                value.len()
            )));
        }
        self.ttls.lock().unwrap().push(ttl);
        self.kv
            .lock()
            .unwrap()
            .entry(app)
            .or_default()
            .insert(key.to_owned(), value.to_owned());
        Ok(())
    }

    async fn delete(&self, app: AppId, key: &str) -> Result<bool, ServiceError> {
        self.record(app, "delete", key);
        Ok(self
            .kv
            .lock()
            .unwrap()
            .get_mut(&app)
            .is_some_and(|m| m.remove(key).is_some()))
    }

    async fn exists(&self, app: AppId, key: &str) -> Result<bool, ServiceError> {
        self.record(app, "exists", key);
        Ok(self
            .kv
            .lock()
            .unwrap()
            .get(&app)
            .is_some_and(|m| m.contains_key(key)))
    }

    async fn list(
        &self,
        app: AppId,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KvPage, ServiceError> {
        self.record(app, "list", prefix);
        let kv = self.kv.lock().unwrap();
        let mut keys: Vec<String> = kv
            .get(&app)
            .into_iter()
            .flat_map(|m| m.keys())
            .filter(|k| k.starts_with(prefix) && cursor.is_none_or(|c| k.as_str() > c))
            .take(limit as usize + 1)
            .cloned()
            .collect();
        let more = keys.len() > limit as usize;
        keys.truncate(limit as usize);
        let cursor = more.then(|| keys.last().cloned()).flatten();
        Ok(KvPage { keys, cursor })
    }

    async fn incr(&self, app: AppId, key: &str, delta: i64) -> Result<i64, ServiceError> {
        self.record(app, "incr", key);
        let mut kv = self.kv.lock().unwrap();
        let entry = kv.entry(app).or_default();
        let old = match entry.get(key) {
            None => 0,
            Some(text) => text.parse::<i64>().map_err(|_| {
                ServiceError::wrong_type(format!("the value of '{key}' is not an integer"))
            })?,
        };
        let new = old + delta;
        entry.insert(key.to_owned(), new.to_string());
        Ok(new)
    }
}

#[async_trait]
impl EnvService for Fake {
    async fn get(&self, app: AppId, name: &str) -> Result<Option<String>, ServiceError> {
        self.record(app, "env", name);
        Ok(self
            .env
            .lock()
            .unwrap()
            .get(&(app, name.to_owned()))
            .cloned())
    }
}

/// Enough of a document store to see what the host hands it: ids are a
/// counter, `update` merges top-level fields, `find` applies `eq` filters
/// and records the whole query.
#[async_trait]
impl DocsService for Fake {
    async fn insert(
        &self,
        app: AppId,
        collection: &str,
        body: &str,
    ) -> Result<String, ServiceError> {
        self.record(app, "insert", collection);
        let mut docs = self.docs.lock().unwrap();
        let list = docs.entry((app, collection.to_owned())).or_default();
        let id = format!("doc-{}", list.len() + 1);
        list.push(Document {
            id: id.clone(),
            body: body.to_owned(),
        });
        Ok(id)
    }

    async fn get(
        &self,
        app: AppId,
        collection: &str,
        id: &str,
    ) -> Result<Option<Document>, ServiceError> {
        self.record(app, "get", collection);
        let docs = self.docs.lock().unwrap();
        Ok(docs
            .get(&(app, collection.to_owned()))
            .and_then(|list| list.iter().find(|d| d.id == id).cloned()))
    }

    async fn update(
        &self,
        app: AppId,
        collection: &str,
        id: &str,
        patch: &str,
    ) -> Result<Option<Document>, ServiceError> {
        self.record(app, "update", collection);
        let mut docs = self.docs.lock().unwrap();
        let Some(doc) = docs
            .get_mut(&(app, collection.to_owned()))
            .and_then(|list| list.iter_mut().find(|d| d.id == id))
        else {
            return Ok(None);
        };
        let mut body: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&doc.body).unwrap();
        let patch: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(patch).unwrap();
        for (field, value) in patch {
            if value.is_null() {
                body.remove(&field);
            } else {
                body.insert(field, value);
            }
        }
        doc.body = serde_json::Value::Object(body).to_string();
        Ok(Some(doc.clone()))
    }

    async fn delete(&self, app: AppId, collection: &str, id: &str) -> Result<bool, ServiceError> {
        self.record(app, "delete", collection);
        let mut docs = self.docs.lock().unwrap();
        let Some(list) = docs.get_mut(&(app, collection.to_owned())) else {
            return Ok(false);
        };
        let before = list.len();
        list.retain(|d| d.id != id);
        Ok(list.len() < before)
    }

    async fn find(
        &self,
        app: AppId,
        collection: &str,
        query: &DocQuery,
    ) -> Result<DocPage, ServiceError> {
        self.record(app, "find", collection);
        *self.last_query.lock().unwrap() = Some(query.clone());
        let docs = self.docs.lock().unwrap();
        let matches = |doc: &Document| {
            let body: serde_json::Value = serde_json::from_str(&doc.body).unwrap();
            query
                .filters
                .iter()
                .all(|f| f.op != DocOp::Eq || body.get(&f.field) == Some(&f.value))
        };
        Ok(DocPage {
            docs: docs
                .get(&(app, collection.to_owned()))
                .into_iter()
                .flatten()
                .filter(|d| matches(d))
                .take(query.limit as usize)
                .cloned()
                .collect(),
            cursor: None,
        })
    }
}

fn executor(services: Arc<dyn ServiceProvider>) -> Executor {
    let cache_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache");
    Executor::new(ExecutorConfig {
        cache_dir: Some(cache_dir),
        services,
        ..Default::default()
    })
    .expect("executor starts")
}

fn run(executor: &Executor, app: AppId, source: &str) -> ExecutionOutcome {
    run_with(executor, app, source, Limits::default())
}

fn run_with(executor: &Executor, app: AppId, source: &str, limits: Limits) -> ExecutionOutcome {
    testkit::block_on(executor.execute(ExecutionRequest {
        execution_id: shared::ExecutionId::new(),
        app_id: app,
        script_id: ScriptId::new(),
        route_id: None,
        source: source.into(),
        request: ScriptRequest {
            method: "GET".into(),
            ..Default::default()
        },
        limits,
        trigger: shared::Trigger::Http,
        name: String::new(),
        modules: Default::default(),
        kind: shared::ExecutionKind::Handler,
    }))
}

fn body(outcome: &ExecutionOutcome) -> String {
    match &outcome.outcome {
        Ok(response) => String::from_utf8_lossy(&response.body).into_owned(),
        Err(error) => panic!("expected a response, got {}: {error}", error.code()),
    }
}

#[test]
fn values_round_trip_as_json() {
    let fake = Arc::new(Fake::default());
    let executor = executor(fake.clone());
    let app = AppId::new();
    let out = run(
        &executor,
        app,
        r#"
        kv::set("user:1", #{ name: "Ada", tags: ["x", "y"], age: 36, score: 1.5, admin: true, none: () });
        kv::set("n", 42);
        kv::set("s", "text");
        let u = kv::get("user:1");
        [u.name, u.tags[1], u.age + 1, u.score * 2.0, u.admin, u.none == (), kv::get("n") + 1, kv::get("s"), kv::get("missing") == ()]
        "#,
    );
    assert_eq!(body(&out), r#"["Ada","y",37,3.0,true,true,43,"text",true]"#);
    // What the service stored is plain JSON.
    let stored = fake.kv.lock().unwrap()[&app]["user:1"].clone();
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["tags"], serde_json::json!(["x", "y"]));
    assert_eq!(stored["none"], serde_json::Value::Null);
}

#[test]
fn exists_delete_incr_and_ttl() {
    let fake = Arc::new(Fake::default());
    let executor = executor(fake.clone());
    let out = run(
        &executor,
        AppId::new(),
        r#"
        kv::set("k", 1, 90);
        kv::set("k2", 1, 0.25);
        let before = kv::exists("k");
        let deleted = kv::delete("k");
        let again = kv::delete("k");
        [before, deleted, again, kv::exists("k"), kv::incr("hits"), kv::incr("hits"), kv::incr("hits", 10), kv::incr("hits", -20)]
        "#,
    );
    assert_eq!(body(&out), "[true,true,false,false,1,2,12,-8]");
    // TTLs reach the service in milliseconds.
    assert_eq!(
        *fake.ttls.lock().unwrap(),
        vec![
            Some(Duration::from_secs(90)),
            Some(Duration::from_millis(250))
        ]
    );
}

#[test]
fn list_pages_with_a_cursor() {
    let fake = Arc::new(Fake::default());
    let executor = executor(fake.clone());
    let out = run(
        &executor,
        AppId::new(),
        r#"
        for i in 0..250 { kv::set(`item:${i}`, i); }
        kv::set("other", 0);
        let seen = [];
        let pages = 0;
        let cursor = ();
        loop {
            let page = kv::list("item:", cursor);
            seen += page.keys;
            pages += 1;
            cursor = page.cursor;
            if cursor == () { break; }
        }
        `${seen.len()} keys in ${pages} pages; first ${seen[0]}; all items: ${seen.all(|k| k.starts_with("item:"))}; one call: ${kv::list("item:1").keys.len()}`
        "#,
    );
    assert_eq!(
        body(&out),
        "250 keys in 3 pages; first item:0; all items: true; one call: 100"
    );
}

#[test]
fn every_call_carries_the_running_scripts_app() {
    let fake = Arc::new(Fake::default());
    let executor = executor(fake.clone());
    let (a, b) = (AppId::new(), AppId::new());
    fake.env
        .lock()
        .unwrap()
        .insert((a, "API_KEY".into()), "secret-of-a".into());
    run(
        &executor,
        a,
        r#"kv::set("shared-name", "a's data"); kv::incr("counter")"#,
    );
    // B knows A's key and variable names and gets nothing of A's.
    let out = run(
        &executor,
        b,
        r#"[kv::get("shared-name"), kv::exists("shared-name"), kv::delete("shared-name"), kv::list("").keys, kv::incr("counter"), env::get("API_KEY")]"#,
    );
    assert_eq!(body(&out), "[null,false,false,[],1,null]");
    let out = run(
        &executor,
        a,
        r#"[kv::get("shared-name"), env::get("API_KEY")]"#,
    );
    assert_eq!(body(&out), r#"["a's data","secret-of-a"]"#);
    let apps = fake.apps_called();
    assert_eq!(
        apps.iter().filter(|app| **app == b).count(),
        6,
        "B's six calls were made as B"
    );
    assert!(apps.iter().all(|app| *app == a || *app == b));
}

#[test]
fn service_errors_are_catchable_and_named() {
    let fake = Arc::new(Fake::default());
    let executor = executor(fake);
    let app = AppId::new();
    let out = run(
        &executor,
        app,
        r#"
        let caught = [];
        let big = "x"; big.pad(200, "x");
        try { kv::set("big", big); } catch (e) { caught.push(e); }
        kv::set("text", "hello");
        try { kv::incr("text"); } catch (e) { caught.push(e); }
        try { kv::get("broken"); } catch (e) { caught.push(e); }
        try { kv::set("f", |x| x); } catch (e) { caught.push(e); }
        try { kv::set("k", 1, -5); } catch (e) { caught.push(e); }
        try { kv::list("", 42); } catch (e) { caught.push(e); }
        caught
        "#,
    );
    let caught: Vec<String> = serde_json::from_str(&body(&out)).unwrap();
    assert_eq!(caught.len(), 6, "{caught:?}");
    assert!(
        caught[0].starts_with("kv::set: the value is"),
        "{}",
        caught[0]
    );
    assert_eq!(caught[1], "kv::incr: the value of 'text' is not an integer");
    assert_eq!(
        caught[2],
        "kv::get: the service is unavailable, try again later"
    );
    assert!(
        caught[3].starts_with("kv::set: a value of type 'Fn' cannot be stored"),
        "{}",
        caught[3]
    );
    assert!(caught[4].contains("more than 0 seconds"), "{}", caught[4]);
    assert!(
        caught[5].starts_with("kv::list: the cursor must be a string"),
        "{}",
        caught[5]
    );

    // Uncaught, the same error fails the execution with its message and line.
    let out = run(&executor, app, "let x = 1;\nkv::incr(\"text\")");
    let error = out.outcome.unwrap_err();
    assert_eq!(error.code(), "runtime_error");
    assert!(
        error
            .to_string()
            .contains("kv::incr: the value of 'text' is not an integer"),
        "{error}"
    );
    assert_eq!(error.position().map(|p| p.line), Some(2));
}

#[test]
fn waiting_on_a_service_counts_toward_the_deadline_not_fuel() {
    let fake = Arc::new(Fake::default());
    let executor = executor(fake);
    let limits = Limits {
        deadline_ms: 300,
        ..Limits::default()
    };
    let out = run_with(&executor, AppId::new(), r#"kv::get("slow")"#, limits);
    let error = out.outcome.unwrap_err();
    assert_eq!(error.code(), "deadline_exceeded", "{error}");
    assert!(
        out.duration >= Duration::from_millis(300),
        "{:?}",
        out.duration
    );
    // The wait burned no fuel: only the script's few operations did.
    assert!(
        out.fuel_used < 5_000_000,
        "fuel used while waiting: {}",
        out.fuel_used
    );
}

#[test]
fn an_executor_without_services_says_so() {
    let cache_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache");
    let executor = Executor::new(ExecutorConfig {
        cache_dir: Some(cache_dir),
        ..Default::default()
    })
    .unwrap();
    let out = run(&executor, AppId::new(), r#"env::get("X")"#);
    let error = out.outcome.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("env::get: no data services are configured on this executor"),
        "{error}"
    );
}

/// A provider implements only the services it has; calling another is a
/// catchable error that names it.
#[test]
fn a_provider_without_a_service_names_it() {
    struct KvOnly(Fake);
    impl ServiceProvider for KvOnly {
        fn kv(&self) -> Option<&dyn KvService> {
            Some(&self.0)
        }
    }
    let executor = executor(Arc::new(KvOnly(Fake::default())));
    let out = run(
        &executor,
        AppId::new(),
        r#"
        kv::set("k", 1);
        let error = "";
        try { docs::insert("c", #{}); } catch (e) { error = e; }
        `${kv::get("k")} ${error}`
        "#,
    );
    assert_eq!(
        body(&out),
        "1 docs::insert: no data services are configured on this executor (no docs service)"
    );
}

#[test]
fn documents_round_trip_with_their_ids() {
    let fake = Arc::new(Fake::default());
    let executor = executor(fake.clone());
    let out = run(
        &executor,
        AppId::new(),
        r#"
        let id = docs::insert("orders", #{ item: "tea", qty: 2, note: "gift", _id: "chosen-by-script" });
        let got = docs::get("orders", id);
        let updated = docs::update("orders", id, #{ qty: 3, note: () });
        let missing = docs::update("orders", "no-such-id", #{ qty: 1 });
        let found = docs::find("orders", #{ where: #{ item: "tea" } });
        let deleted = docs::delete("orders", id);
        #{ id: id, got: got, updated: updated, missing: missing, found: found.docs.len(),
           cursor: found.cursor, deleted: deleted, after: docs::get("orders", id) }
        "#,
    );
    let value: serde_json::Value = serde_json::from_str(&body(&out)).unwrap();
    assert_eq!(
        value["id"], "doc-1",
        "the host's id wins over `_id`: {value}"
    );
    assert_eq!(
        value["got"],
        serde_json::json!({"_id": "doc-1", "item": "tea", "qty": 2, "note": "gift"})
    );
    assert_eq!(
        value["updated"],
        serde_json::json!({"_id": "doc-1", "item": "tea", "qty": 3})
    );
    assert_eq!(value["missing"], serde_json::Value::Null);
    assert_eq!(value["found"], 1);
    assert_eq!(value["cursor"], serde_json::Value::Null);
    assert_eq!(value["deleted"], true);
    assert_eq!(value["after"], serde_json::Value::Null);
    // `_id` never reaches the store: it is the service's.
    let stored = fake.docs.lock().unwrap().values().flatten().count();
    assert_eq!(stored, 0);
}

#[test]
fn find_hands_the_service_the_query_as_written() {
    let fake = Arc::new(Fake::default());
    let executor = executor(fake.clone());
    let out = run(
        &executor,
        AppId::new(),
        r#"
        let page = docs::find("orders", #{
            where: #{ status: "paid", total: #{ gt: 10, lte: 99.5 }, gift: false, note: #{ ne: () } },
            sort: "-total",
            limit: 5000,
            cursor: "opaque",
        });
        page.docs.len()
        "#,
    );
    assert_eq!(body(&out), "0");
    let query = fake.last_query.lock().unwrap().clone().unwrap();
    let filter = |field: &str, op, value: serde_json::Value| DocFilter {
        field: field.into(),
        op,
        value,
    };
    assert_eq!(
        query,
        DocQuery {
            // Rhai maps iterate in key order, so the filters arrive sorted.
            filters: vec![
                filter("gift", DocOp::Eq, serde_json::json!(false)),
                filter("note", DocOp::Ne, serde_json::Value::Null),
                filter("status", DocOp::Eq, serde_json::json!("paid")),
                filter("total", DocOp::Gt, serde_json::json!(10)),
                filter("total", DocOp::Lte, serde_json::json!(99.5)),
            ],
            sort: Some("total".into()),
            descending: true,
            limit: executor_core::MAX_FIND_LIMIT,
            cursor: Some("opaque".into()),
        }
    );
    run(&executor, AppId::new(), r#"docs::find("orders")"#);
    let query = fake.last_query.lock().unwrap().clone().unwrap();
    assert_eq!(
        (query.filters.len(), query.sort, query.limit),
        (0, None, 100)
    );
}

#[test]
fn malformed_document_calls_get_clear_errors() {
    let fake = Arc::new(Fake::default());
    let executor = executor(fake.clone());
    let out = run(
        &executor,
        AppId::new(),
        r#"
        let caught = [];
        for attempt in [
            || docs::insert("c", [1, 2]),
            || docs::find("c", #{ where: #{ n: #{ between: 1 } } }),
            || docs::find("c", #{ where: 42 }),
            || docs::find("c", #{ where: #{ tags: ["a"] } }),
            || docs::find("c", #{ sort: 1 }),
            || docs::find("c", #{ limit: 0 }),
            || docs::find("c", #{ order: "x" }),
        ] {
            try { attempt.call(); caught.push("no error"); } catch (e) { caught.push(e); }
        }
        caught
        "#,
    );
    let caught: Vec<String> = serde_json::from_str(&body(&out)).unwrap();
    let expected = [
        "docs::insert: a document must be a map, not a value of type 'array'",
        "docs::find: unknown operator 'between' for field 'n'",
        "docs::find: `where` must be a map of field conditions",
        "docs::find: field 'tags' can only be compared with a string, number, boolean or ()",
        "docs::find: `sort` must be a field name",
        "docs::find: `limit` must be a positive integer",
        "docs::find: unknown option 'order'",
    ];
    assert_eq!(caught.len(), expected.len(), "{caught:?}");
    for (got, want) in caught.iter().zip(expected) {
        assert!(got.starts_with(want), "{got:?} should start with {want:?}");
    }
    // None of them reached the service.
    assert!(fake.calls.lock().unwrap().is_empty());
}

#[test]
fn documents_of_another_app_are_out_of_reach() {
    let fake = Arc::new(Fake::default());
    let executor = executor(fake.clone());
    let (a, b) = (AppId::new(), AppId::new());
    let id = body(&run(
        &executor,
        a,
        r#"docs::insert("orders", #{ total: 5 })"#,
    ));
    let source = format!(
        r#"[docs::get("orders", "{id}"), docs::update("orders", "{id}", #{{ total: 0 }}), docs::delete("orders", "{id}"), docs::find("orders").docs.len()]"#
    );
    assert_eq!(body(&run(&executor, b, &source)), "[null,null,false,0]");
    let kept = body(&run(
        &executor,
        a,
        &format!(r#"docs::get("orders", "{id}").total"#),
    ));
    assert_eq!(kept, "5");
}

#[test]
fn outbound_http_is_denied_unless_allowed_and_public() {
    let fake = Arc::new(Fake::default());
    let app = AppId::new();
    fake.allow.lock().unwrap().insert(
        app,
        vec![
            shared::AllowPattern::parse("http://127.0.0.1:9").unwrap(),
            shared::AllowPattern::parse("http://localhost:9").unwrap(),
        ],
    );
    let executor = executor(fake.clone());
    let out = run(
        &executor,
        app,
        r#"
        let caught = [];
        for attempt in [
            || http::get("https://example.com/"),
            || http::get("http://127.0.0.1:9/"),
            || http::get("http://localhost:9/"),
            || http::get("not a url"),
            || http::get("ftp://127.0.0.1:9/"),
            || http::request(#{ url: "http://127.0.0.1:9/", method: "GET", headers: #{ "bad name": "x" } }),
            || http::request(#{ method: "GET" }),
            || http::request(#{ url: "http://127.0.0.1:9/", timeout: 5 }),
        ] {
            try { attempt.call(); caught.push("no error"); } catch (e) { caught.push(e); }
        }
        caught
        "#,
    );
    let caught: Vec<String> = serde_json::from_str(&body(&out)).unwrap();
    let expected = [
        "http::get: https://example.com:443 is not on the app's outbound allow-list",
        "http::get: 127.0.0.1 is a private or local address, which scripts may not call",
        "http::get: localhost resolves only to private or local addresses",
        "http::get: 'not a url' is not a URL",
        "http::get: 'ftp' URLs are not supported",
        "http::request: 'bad name' is not a valid header name",
        "http::request: the request needs a `url`",
        "http::request: unknown option 'timeout'",
    ];
    assert_eq!(caught.len(), expected.len(), "{caught:?}");
    for (got, want) in caught.iter().zip(expected) {
        assert!(got.starts_with(want), "{got:?} should start with {want:?}");
    }
}

#[test]
fn outbound_http_has_a_per_execution_budget() {
    let fake = Arc::new(Fake::default());
    let executor = executor(fake);
    let out = run(
        &executor,
        AppId::new(),
        r#"
        let errors = [];
        for i in 0..25 {
            try { http::get("https://example.com/"); } catch (e) { errors.push(e); }
        }
        [errors.len(), errors[0], errors[24]]
        "#,
    );
    let value: serde_json::Value = serde_json::from_str(&body(&out)).unwrap();
    assert_eq!(value[0], 25);
    assert!(
        value[1]
            .as_str()
            .unwrap()
            .contains("not on the app's outbound allow-list")
    );
    assert_eq!(
        value[2],
        "http::get: this execution already made 20 outbound requests, the most it may"
    );
}
