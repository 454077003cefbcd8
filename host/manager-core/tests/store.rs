//! The repositories against both real databases: every test runs once on a
//! fresh SQLite file and once on a fresh database in a throwaway PostgreSQL
//! cluster that this process starts and stops.

use std::time::{Duration, SystemTime};

use manager_core::store::StoreError;
use manager_core::store::{AppRef, DEFAULT_APP_ID, ExecutionFilter, Page};
use manager_core::{Db, ErrorCode, Store};
use shared::{
    AppId, ExecutionError, ExecutionId, ExecutionOutcome, ExecutionRecord, LogLevel, LogLine,
    RoutingSource, ScriptId, ScriptResponse, Trigger,
};

/// Wraps a test of the store in the harness's signature: it gets a migrated
/// store on a fresh SQLite file (kept until the test ends) or the given
/// PostgreSQL database.
macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        vec![$((
            stringify!($name),
            (|db| Box::pin(async move {
                let dir = tempfile::tempdir().unwrap();
                let url = db.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("picloud.db").display()));
                $name(Store::new(Db::connect(&url).await.unwrap())).await;
            })) as testkit::harness::Test,
        )),*]
    };
}

fn main() {
    testkit::harness::run_on_both_databases(tests![
        default_app_and_schema,
        scripts_are_unique_per_app,
        routes_conflict_only_within_an_app,
        route_hosts_must_be_claimed,
        slug_history_and_takeover,
        domain_shapes_are_unique_across_apps,
        listed_apps_carry_their_own_domains,
        deleting_an_app_cascades,
        execution_log_filters_and_pages,
        tokens_are_stored_hashed,
        routing_snapshot_has_everything,
        execution_log_retention,
        retention_drops_more_than_one_batch,
        a_record_delivered_twice_is_stored_once,
    ])
}

async fn default_app_and_schema(store: Store) {
    assert!(store.db().schema_version().await.unwrap() >= 1);
    let app = store.app("default").await.unwrap();
    assert_eq!(app.id, DEFAULT_APP_ID);
    assert_eq!(
        app.domains
            .iter()
            .map(|d| d.pattern.as_str())
            .collect::<Vec<_>>(),
        ["localhost"]
    );
    assert!(matches!(
        store.delete_app(&app).await,
        Err(StoreError::Invalid {
            code: ErrorCode::DefaultApp,
            ..
        })
    ));
}

async fn scripts_are_unique_per_app(store: Store) {
    let other = store.create_app("other", "Other", "").await.unwrap();
    store
        .create_script(DEFAULT_APP_ID, "same", "", "1")
        .await
        .unwrap();
    store
        .create_script(other.id, "same", "", "2")
        .await
        .expect("same name in another app");
    let dup = store
        .create_script(DEFAULT_APP_ID, "same", "", "3")
        .await
        .unwrap_err();
    assert!(
        matches!(
            &dup,
            StoreError::Conflict {
                code: ErrorCode::ScriptNameTaken,
                ..
            }
        ),
        "{dup}"
    );
    let names: Vec<String> = store
        .list_scripts(Some(other.id), &Page::all())
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.source)
        .collect();
    assert_eq!(names, ["2"]);
}

async fn routes_conflict_only_within_an_app(store: Store) {
    let default = store.app("default").await.unwrap();
    let other = store.create_app("other", "Other", "").await.unwrap();
    let a = store
        .create_script(DEFAULT_APP_ID, "a", "", "1")
        .await
        .unwrap();
    let b = store.create_script(other.id, "b", "", "2").await.unwrap();
    let r = store
        .validate_route(&default, "get", "/users/:id", None)
        .unwrap();
    store.create_route(&a, r).await.unwrap();
    let same_shape = store
        .validate_route(&default, "GET", "/users/:name", None)
        .unwrap();
    let err = store.create_route(&a, same_shape).await.unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Conflict {
                code: ErrorCode::RouteConflict,
                ..
            }
        ) && err.to_string().contains("/users/:id"),
        "{err}"
    );
    let in_other = store
        .validate_route(&other, "GET", "/users/:id", None)
        .unwrap();
    store
        .create_route(&b, in_other)
        .await
        .expect("same path in another app");
    let other_method = store
        .validate_route(&default, "POST", "/users/:id", None)
        .unwrap();
    store
        .create_route(&a, other_method)
        .await
        .expect("same path, other method");
    assert_eq!(
        store
            .list_routes(a.id, &manager_core::store::Page::all())
            .await
            .unwrap()
            .len(),
        2
    );
}

async fn route_hosts_must_be_claimed(store: Store) {
    let app = store.create_app("hosted", "Hosted", "").await.unwrap();
    store
        .add_domain(&app, "{tenant}.example.com")
        .await
        .unwrap();
    let app = store.app("hosted").await.unwrap();
    assert!(
        store
            .validate_route(&app, "GET", "/x", Some("acme.example.com"))
            .is_ok()
    );
    let err = store
        .validate_route(&app, "GET", "/x", Some("acme.example.org"))
        .unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Invalid {
                code: ErrorCode::HostNotClaimed,
                ..
            }
        ),
        "{err}"
    );
}

async fn slug_history_and_takeover(store: Store) {
    let alpha = store.create_app("alpha", "Alpha", "").await.unwrap();
    let beta = store.create_app("beta", "Beta", "").await.unwrap();
    assert_eq!(
        store.check_slug(&alpha, "beta").await.unwrap().status,
        "taken"
    );
    let gamma = store.rename_app(&alpha, "gamma", false).await.unwrap();
    assert_eq!(gamma.slug, "gamma");
    assert!(
        matches!(store.resolve_app("alpha").await.unwrap(), AppRef::Renamed { current_slug } if current_slug == "gamma")
    );
    let verdict = store.check_slug(&beta, "alpha").await.unwrap();
    assert_eq!(
        (verdict.status, verdict.holder.as_deref()),
        ("history", Some("gamma"))
    );
    let err = store.rename_app(&beta, "alpha", false).await.unwrap_err();
    assert!(matches!(
        err,
        StoreError::Conflict {
            code: ErrorCode::SlugInHistory,
            ..
        }
    ));
    let taken = store.rename_app(&beta, "alpha", true).await.unwrap();
    assert_eq!(taken.slug, "alpha");
    assert!(
        matches!(store.resolve_app("alpha").await.unwrap(), AppRef::Found(app) if app.id == beta.id)
    );
    let err = store.rename_app(&gamma, "alpha", true).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                code: ErrorCode::SlugTaken,
                ..
            }
        ),
        "force never takes an active slug"
    );
    let err = store.create_app("Bad_Slug", "x", "").await.unwrap_err();
    assert!(matches!(
        err,
        StoreError::Invalid {
            code: ErrorCode::InvalidSlug,
            ..
        }
    ));
}

async fn domain_shapes_are_unique_across_apps(store: Store) {
    let a = store.create_app("a1", "A", "").await.unwrap();
    let b = store.create_app("b1", "B", "").await.unwrap();
    store.add_domain(&a, "{tenant}.beta.test").await.unwrap();
    let err = store.add_domain(&b, "{x}.BETA.test").await.unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Conflict {
                code: ErrorCode::DomainTaken,
                ..
            }
        ) && err.to_string().contains("a1"),
        "{err}"
    );
    store
        .add_domain(&b, "vip.beta.test")
        .await
        .expect("an exact host inside a wildcard claim is a different shape");
    let err = store
        .add_domain(&b, "api.example.com:443")
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Invalid {
            code: ErrorCode::InvalidDomain,
            ..
        }
    ));
}

/// The app list fetches all of a page's domains at once; each app still gets
/// exactly its own, ordered by pattern, on every page.
async fn listed_apps_carry_their_own_domains(store: Store) {
    let one = store.create_app("list-one", "One", "").await.unwrap();
    let two = store.create_app("list-two", "Two", "").await.unwrap();
    store.create_app("list-zero", "Zero", "").await.unwrap();
    store.add_domain(&one, "b.one.test").await.unwrap();
    store.add_domain(&one, "a.one.test").await.unwrap();
    store.add_domain(&two, "{x}.two.test").await.unwrap();
    let patterns = |apps: &[manager_core::store::App]| {
        apps.iter()
            .map(|a| {
                let domains: Vec<&str> = a.domains.iter().map(|d| d.pattern.as_str()).collect();
                format!("{}: {}", a.slug, domains.join(" "))
            })
            .collect::<Vec<_>>()
    };
    let all = store.list_apps(&Page::all()).await.unwrap();
    assert_eq!(
        patterns(&all),
        [
            "default: localhost",
            "list-one: a.one.test b.one.test",
            "list-two: {x}.two.test",
            "list-zero: ",
        ]
    );
    // A later page: the domains follow their apps across the cursor.
    let second = store
        .list_apps(&Page {
            after: Some(("list-one".into(), one.id.to_string())),
            limit: 1,
        })
        .await
        .unwrap();
    assert_eq!(patterns(&second), ["list-two: {x}.two.test"]);
}

async fn deleting_an_app_cascades(store: Store) {
    let app = store.create_app("doomed", "Doomed", "").await.unwrap();
    store.add_domain(&app, "doomed.test").await.unwrap();
    let app = store.app("doomed").await.unwrap();
    let script = store.create_script(app.id, "s", "", "1").await.unwrap();
    let route = store.validate_route(&app, "GET", "/s", None).unwrap();
    store.create_route(&script, route).await.unwrap();
    store
        .insert_executions(&[record(app.id, script.id, Ok(()))])
        .await
        .unwrap();
    let renamed = store.rename_app(&app, "doomed2", false).await.unwrap();
    store.delete_app(&renamed).await.unwrap();
    assert!(matches!(
        store.script(script.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(
        store
            .list_routes(script.id, &manager_core::store::Page::all())
            .await
            .unwrap()
            .is_empty()
    );
    let filter = ExecutionFilter {
        app_id: Some(app.id),
        limit: 10,
        ..Default::default()
    };
    assert!(store.list_executions(&filter).await.unwrap().is_empty());
    assert!(
        matches!(
            store.resolve_app("doomed").await,
            Err(StoreError::NotFound { .. })
        ),
        "history goes too"
    );
    let snapshot = store.load().await.unwrap();
    assert!(snapshot.apps.iter().all(|a| a.slug != "doomed2"));
}

fn record(
    app_id: AppId,
    script_id: ScriptId,
    result: Result<(), ExecutionError>,
) -> ExecutionRecord {
    ExecutionRecord {
        id: shared::ExecutionId::new(),
        app_id,
        script_id,
        route_id: None,
        script_version: 1,
        trigger: Trigger::Http,
        method: "GET".into(),
        path: "/x".into(),
        host: "Shop.Example.com:8080".into(),
        request_id: "req-1".into(),
        request_headers: vec![("x-seen".into(), "yes".into())],
        status: if result.is_ok() { 200 } else { 500 },
        response_bytes: 2,
        started_at: SystemTime::now(),
        outcome: ExecutionOutcome {
            outcome: result.map(|()| ScriptResponse {
                status: 200,
                headers: vec![],
                body: b"ok".to_vec(),
            }),
            fuel_used: 1234,
            duration: Duration::from_micros(1500),
            logs: vec![LogLine {
                level: LogLevel::Info,
                message: "hi".into(),
            }],
            logs_dropped: 0,
            next: None,
            children: Vec::new(),
        },
        parent_id: None,
        modules: Vec::new(),
        interceptors: Vec::new(),
    }
}

async fn execution_log_filters_and_pages(store: Store) {
    let script = store
        .create_script(DEFAULT_APP_ID, "logged", "", "1")
        .await
        .unwrap();
    let mut records = Vec::new();
    for i in 0..7 {
        let result = if i % 2 == 0 {
            Ok(())
        } else {
            Err(ExecutionError::FuelExhausted { budget: 10 })
        };
        records.push(record(DEFAULT_APP_ID, script.id, result));
    }
    let first = store.insert_executions(&records[..4]).await.unwrap();
    let next = store.insert_executions(&records[4..]).await.unwrap();
    // Numbers follow the order of writing, across batches.
    assert_eq!(next, first + 4);
    let errors = store
        .list_executions(&ExecutionFilter {
            script_id: Some(script.id.to_string()),
            status: Some(manager_core::store::StatusFilter::Error),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(errors.len(), 3);
    // Resuming after the third record gives the rest, oldest first, with
    // what each request carried.
    let rest = store
        .list_executions_detailed(&ExecutionFilter {
            after_seq: Some(first + 2),
            host: Some("shop.example.com".into()),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    let seqs: Vec<i64> = rest.iter().map(|e| e.summary.seq).collect();
    assert_eq!(seqs, (first + 3..first + 7).collect::<Vec<_>>());
    assert_eq!(rest[0].summary.request_id, "req-1");
    assert_eq!(rest[0].summary.response_bytes, 2);
    assert_eq!(rest[0].request_headers["x-seen"], "yes");
    let found = store
        .list_executions(&ExecutionFilter {
            text: Some("HI".into()),
            status: Some(manager_core::store::StatusFilter::Range(500, 599)),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 3);
    assert!(
        errors
            .iter()
            .all(|e| e.error.as_ref().unwrap().code == "fuel_exhausted" && e.status == 500)
    );
    // Page through all seven, three at a time, with the (time, id) cursor.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .list_executions(&ExecutionFilter {
                script_id: Some(script.id.to_string()),
                before: before.clone(),
                limit: 3,
                ..Default::default()
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        let last = page.last().unwrap();
        let ms = humantime_ms(&last.started_at);
        before = Some((ms, last.id.to_string()));
        seen.extend(page.into_iter().map(|e| e.id));
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (7, 7));
    let detail = store.execution(seen[0]).await.unwrap();
    assert_eq!(
        detail.logs,
        vec![LogLine {
            level: LogLevel::Info,
            message: "hi".into()
        }]
    );
    assert_eq!(detail.summary.fuel_used, 1234);
}

fn humantime_ms(text: &str) -> i64 {
    let time = humantime::parse_rfc3339(text).expect("RFC 3339 timestamps");
    time.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn tokens_are_stored_hashed(store: Store) {
    assert_eq!(store.count_tokens().await.unwrap(), 0);
    let token = manager_core::store::generate_token();
    let stored = store.add_token("ci", &token, None).await.unwrap();
    assert_eq!(
        store
            .verify_token(&token)
            .await
            .unwrap()
            .map(|t| (t.id, t.user_id, t.scope)),
        Some((
            stored.id.clone(),
            None,
            manager_core::store::TokenScope::Admin
        ))
    );
    assert_eq!(store.verify_token("pc_wrong").await.unwrap(), None);
    assert_eq!(
        store.verify_token(&token[..token.len() - 1]).await.unwrap(),
        None
    );
    // Listed without the token; the use is recorded.
    let listed = store.list_tokens(None, &Page::all()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used_at.is_some());
    assert!(
        !serde_json::to_string(&listed)
            .unwrap()
            .contains(&token[3..])
    );
    // A user's tokens and sessions go with the user.
    let ada = store
        .create_user("ada", "$argon2id$fake", true)
        .await
        .unwrap();
    let bob = store
        .create_user("bob", "$argon2id$fake", true)
        .await
        .unwrap();
    let ada_token = manager_core::store::generate_token();
    store
        .add_token("laptop", &ada_token, Some(&ada.id))
        .await
        .unwrap();
    let (cookie, _) = store.create_session(&ada.id, 60_000).await.unwrap();
    assert!(store.session(&cookie, None).await.unwrap().is_some());
    store.delete_user(&ada.id).await.unwrap();
    assert_eq!(store.verify_token(&ada_token).await.unwrap(), None);
    assert!(store.session(&cookie, None).await.unwrap().is_none());
    // The last user stays.
    let err = store.delete_user(&bob.id).await.unwrap_err();
    assert_eq!(err.code(), "last_user");
    // An expired session is not live, and is purged.
    let (old, _) = store.create_session(&bob.id, -1).await.unwrap();
    assert!(store.session(&old, None).await.unwrap().is_none());
    assert_eq!(store.purge_expired_sessions(None).await.unwrap(), 1);
    // A live session unused for longer than the idle timeout is not live
    // either, and goes too; one used within it stays.
    let (idle, _) = store.create_session(&bob.id, 3_600_000).await.unwrap();
    assert!(
        store
            .session(&idle, Some(3_600_000))
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.session(&idle, Some(0)).await.unwrap().is_none());
    assert_eq!(
        store.purge_expired_sessions(Some(3_600_000)).await.unwrap(),
        0
    );
    // (-1 ms: "seen before a moment from now", whatever the clock did.)
    assert_eq!(store.purge_expired_sessions(Some(-1)).await.unwrap(), 1);
    // Revoking.
    store.delete_token(&stored.id).await.unwrap();
    assert_eq!(store.verify_token(&token).await.unwrap(), None);
    assert_eq!(
        store.delete_token(&stored.id).await.unwrap_err().code(),
        "not_found"
    );
}

async fn routing_snapshot_has_everything(store: Store) {
    let app = store.create_app("snap", "Snap", "").await.unwrap();
    store.add_domain(&app, "{t}.snap.test").await.unwrap();
    let app = store
        .update_app(
            &app,
            None,
            None,
            Some(Some(serde_json::json!({"fuel": 1000}))),
        )
        .await
        .unwrap();
    let script = store
        .create_script(app.id, "s", "", "\"hi\"")
        .await
        .unwrap();
    let route = store
        .validate_route(&app, "GET", "/s", Some("x.snap.test"))
        .unwrap();
    store.create_route(&script, route).await.unwrap();
    let snapshot = store.load().await.unwrap();
    let snap = snapshot.apps.iter().find(|a| a.slug == "snap").unwrap();
    assert_eq!(snap.domains, ["{t}.snap.test"]);
    assert_eq!(snap.limits.fuel, 1000);
    let id: ScriptId = script.id;
    assert_eq!(
        &*snapshot.scripts.iter().find(|s| s.id == id).unwrap().source,
        "\"hi\""
    );
    let r = snapshot.routes.iter().find(|r| r.script_id == id).unwrap();
    assert_eq!(
        (r.method.as_str(), r.path.as_str(), r.host.as_deref()),
        ("GET", "/s", Some("x.snap.test"))
    );
    assert_eq!(r.app_id, app.id);
}

async fn execution_log_retention(store: Store) {
    let other = store.create_app("other", "Other", "").await.unwrap();
    let mine = store
        .create_script(DEFAULT_APP_ID, "kept", "", "1")
        .await
        .unwrap();
    let theirs = store
        .create_script(other.id, "kept", "", "1")
        .await
        .unwrap();
    let hour = Duration::from_secs(3600);
    let mut records = Vec::new();
    // Default app: 6 recent records and 2 from two days ago; the other app: 2 recent.
    for i in 0..8u32 {
        let mut r = record(DEFAULT_APP_ID, mine.id, Ok(()));
        r.started_at = if i < 2 {
            SystemTime::now() - 48 * hour
        } else {
            SystemTime::now() - Duration::from_millis(u64::from(i))
        };
        records.push(r);
    }
    for _ in 0..2 {
        records.push(record(other.id, theirs.id, Ok(())));
    }
    store.insert_executions(&records).await.unwrap();
    let count = |app: AppId| {
        let store = store.clone();
        async move {
            store
                .list_executions(&ExecutionFilter {
                    app_id: Some(app),
                    limit: 100,
                    ..Default::default()
                })
                .await
                .unwrap()
        }
    };
    // Time range filter: the two old ones only.
    let old = store
        .list_executions(&ExecutionFilter {
            app_id: Some(DEFAULT_APP_ID),
            until_ms: Some(humantime_ms(
                &humantime::format_rfc3339_millis(SystemTime::now() - hour).to_string(),
            )),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(old.len(), 2);
    // Keep one day and at most 4 per app: 2 go for age, 2 more for count.
    let newest: Vec<ExecutionId> = count(DEFAULT_APP_ID)
        .await
        .iter()
        .take(4)
        .map(|e| e.id)
        .collect();
    let removed = store.prune_executions(24 * 3600 * 1000, 4).await.unwrap();
    assert_eq!(removed, 4);
    let left: Vec<ExecutionId> = count(DEFAULT_APP_ID)
        .await
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(left, newest, "the newest four stay");
    assert_eq!(
        count(other.id).await.len(),
        2,
        "other apps keep their own quota"
    );
    assert_eq!(
        store.prune_executions(24 * 3600 * 1000, 4).await.unwrap(),
        0
    );
}

/// Retention deletes in batches of 2,000 rows; a backlog of several batches
/// (old records and records over the count) is cleared in one pass, and the
/// newest records stay.
async fn retention_drops_more_than_one_batch(store: Store) {
    let script = store
        .create_script(DEFAULT_APP_ID, "busy", "", "1")
        .await
        .unwrap();
    let day = Duration::from_secs(24 * 3600);
    let mut records: Vec<ExecutionRecord> = (0..5_000u64)
        .map(|i| {
            let mut r = record(DEFAULT_APP_ID, script.id, Ok(()));
            r.started_at = SystemTime::now() - 3 * day - Duration::from_millis(i);
            r
        })
        .collect();
    records.extend((0..4_500u64).map(|i| {
        let mut r = record(DEFAULT_APP_ID, script.id, Ok(()));
        r.started_at = SystemTime::now() - Duration::from_millis(i);
        r
    }));
    for chunk in records.chunks(500) {
        store.insert_executions(chunk).await.unwrap();
    }
    // 5,000 for age (three batches), then 4,500 - 100 = 4,400 for count.
    let removed = store
        .prune_executions(day.as_millis() as i64, 100)
        .await
        .unwrap();
    assert_eq!(removed, 9_400);
    let left = store
        .list_executions(&ExecutionFilter {
            app_id: Some(DEFAULT_APP_ID),
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut kept: Vec<_> = left.iter().map(|e| e.id).collect();
    let mut newest: Vec<_> = records[5_000..5_100].iter().map(|r| r.id).collect();
    kept.sort_unstable();
    newest.sort_unstable();
    assert_eq!(kept, newest, "the newest 100 stay");
}

/// Cluster mode retries a delivery of records whose answer was lost; the
/// copies are dropped, and the rest of the batch is stored.
async fn a_record_delivered_twice_is_stored_once(store: Store) {
    let script = store
        .create_script(DEFAULT_APP_ID, "twice", "", "1")
        .await
        .unwrap();
    let first = record(DEFAULT_APP_ID, script.id, Ok(()));
    store
        .insert_executions(std::slice::from_ref(&first))
        .await
        .unwrap();
    let second = record(DEFAULT_APP_ID, script.id, Ok(()));
    store
        .insert_executions(&[first.clone(), second])
        .await
        .expect("a batch with a copy is stored");
    let stored = store
        .list_executions(&ExecutionFilter {
            script_id: Some(script.id.to_string()),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
}
