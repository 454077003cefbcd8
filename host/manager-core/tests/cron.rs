//! Cron triggers against both real databases: validation, the admin API
//! (through the router), per-app isolation, cascades, and the scheduler
//! (`Manager::run_due_triggers`): due ticks fire once, missed ticks are
//! coalesced, paused triggers never fire, runs reach the execution log, and
//! two schedulers racing on one database fire every tick exactly once. Every
//! test runs once on a fresh SQLite file and once on a fresh PostgreSQL
//! database.
//!
//! Time is never waited for: the scheduler is driven with the clock each test
//! chooses, and a test that needs a tick at a given date moves the trigger's
//! `next_run_at` there through a second connection. Scripts run in a fake
//! executor that keeps every request it was given (the real sandbox's cron
//! run is tested end to end in host/picloud).

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{StatusCode, header};
use manager_core::store::{ExecutionFilter, ExecutionSummary, NewTrigger, TriggerChanges};
use manager_core::{Db, Manager, ManagerConfig, Store};
use serde_json::{Value, json};
use shared::{
    AppId, ExecutionError, ExecutionOutcome, ExecutionRequest, ExecutorClient, Position,
    ScriptFailure, ScriptId, ScriptResponse, Trigger,
};
use support::{Api, NoRouting};

/// What each test gets: the store, its database URL (for a second manager
/// on the same database) and a separate pool for raw reads and writes.
struct Env {
    store: Store,
    url: String,
    raw: sqlx::AnyPool,
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
                $name(Env { store, url, raw }).await;
            })) as testkit::harness::Test,
        )),*]
    };
}

fn main() {
    testkit::harness::run_on_both_databases(tests![
        invalid_triggers_are_refused_with_a_reason,
        admin_api_crud,
        next_run_follows_the_time_zone_across_daylight_saving,
        apps_are_isolated,
        deleting_a_script_or_app_deletes_its_triggers,
        due_ticks_fire_once_and_missed_ticks_are_coalesced,
        runs_are_recorded_in_the_execution_log,
        paused_triggers_never_fire,
        racing_schedulers_fire_every_tick_once,
        run_now_fires_outside_the_schedule,
    ])
}

/// An executor that keeps every request and answers 200, or fails with a
/// runtime error when the source contains `fail`.
#[derive(Default)]
struct FakeExecutor {
    requests: Mutex<Vec<ExecutionRequest>>,
}

impl FakeExecutor {
    fn requests(&self) -> Vec<ExecutionRequest> {
        self.requests.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl ExecutorClient for FakeExecutor {
    async fn execute(&self, request: ExecutionRequest) -> ExecutionOutcome {
        let fails = request.source.contains("fail");
        self.requests.lock().unwrap().push(request);
        ExecutionOutcome {
            outcome: if fails {
                Err(ExecutionError::Runtime(ScriptFailure {
                    message: "boom".into(),
                    position: Some(Position { line: 1, column: 1 }),
                }))
            } else {
                Ok(ScriptResponse {
                    status: 200,
                    headers: Vec::new(),
                    body: b"done".to_vec(),
                })
            },
            fuel_used: 10,
            duration: Duration::from_millis(1),
            logs: Vec::new(),
            logs_dropped: 0,
            next: None,
            children: Vec::new(),
        }
    }

    async fn check(&self, _: &str) -> Result<Vec<shared::ImportRef>, ExecutionError> {
        Ok(Vec::new())
    }
}

fn manager(store: &Store, executor: &Arc<FakeExecutor>) -> Manager {
    Manager::new(
        store.clone(),
        executor.clone(),
        Arc::new(NoRouting),
        ManagerConfig::default(),
    )
}

fn at(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Milliseconds of a UTC date and time.
fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
    chrono::NaiveDate::from_ymd_opt(y, mo, d)
        .unwrap()
        .and_hms_opt(h, mi, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

/// The trigger's stored (next_run_at, last_run_at).
async fn times(env: &Env, id: &str) -> (Option<i64>, Option<i64>) {
    sqlx::query_as("SELECT next_run_at, last_run_at FROM cron_triggers WHERE id = $1")
        .bind(id)
        .fetch_one(&env.raw)
        .await
        .unwrap()
}

/// Moves the trigger's next tick to `ms`, as if it had been scheduled then.
async fn set_next(env: &Env, id: &str, ms: i64) {
    let done = sqlx::query("UPDATE cron_triggers SET next_run_at = $1 WHERE id = $2")
        .bind(ms)
        .bind(id)
        .execute(&env.raw)
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1);
}

async fn count_triggers(env: &Env) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM cron_triggers")
        .fetch_one(&env.raw)
        .await
        .unwrap()
}

async fn app_with_script(env: &Env, slug: &str, script: &str, source: &str) -> (AppId, ScriptId) {
    let app = env.store.create_app(slug, slug, "").await.unwrap();
    let script = env
        .store
        .create_script(app.id, script, "", source)
        .await
        .unwrap();
    (app.id, script.id)
}

async fn new_trigger(env: &Env, app: AppId, script: &str, schedule: &str) -> String {
    env.store
        .create_trigger(
            app,
            &NewTrigger {
                script: script.into(),
                schedule: schedule.into(),
                timezone: None,
                enabled: true,
            },
        )
        .await
        .unwrap()
        .id
}

async fn executions(manager: &Manager, app: AppId) -> Vec<ExecutionSummary> {
    manager.recorder().flush().await;
    manager
        .store()
        .list_executions(&ExecutionFilter {
            app_id: Some(app),
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap()
}

/// The admin router with a token, driven request by request.
impl Api {
    async fn new(manager: Manager) -> Api {
        Api::serve(manager).await
    }

    /// Asserts the status and error code, and that the message has `needle`.
    async fn refuses(
        &self,
        method: &str,
        path: &str,
        body: Value,
        status: u16,
        code: &str,
        needle: &str,
    ) {
        let body = (method != "GET" && method != "DELETE").then_some(body);
        let (got, answer) = self.call(method, path, body).await;
        assert_eq!(
            (got.as_u16(), answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{needle:?} in {message:?}");
    }
}

async fn invalid_triggers_are_refused_with_a_reason(env: Env) {
    let (_, _) = app_with_script(&env, "shop", "tick", "1").await;
    let api = Api::new(manager(&env.store, &Arc::default())).await;
    let post = |schedule: &str| json!({"script": "tick", "schedule": schedule});
    for (body, code, needle) in [
        (post(""), "invalid_schedule", "the schedule is empty"),
        (
            post("* * * *"),
            "invalid_schedule",
            "'* * * *' has 4 fields; a schedule has exactly five",
        ),
        (post("*/10 * * * * *"), "invalid_schedule", "has 6 fields"),
        (
            post("0 0 12 * * * 2030"),
            "invalid_schedule",
            "has 7 fields",
        ),
        (
            post("60 * * * *"),
            "invalid_schedule",
            "'60 * * * *' is not a valid schedule",
        ),
        (
            post("* * * * someday"),
            "invalid_schedule",
            "is not a valid schedule",
        ),
        (
            post("@reboot"),
            "invalid_schedule",
            "is not a valid schedule",
        ),
        (
            post("0 0 31 2 *"),
            "invalid_schedule",
            "'0 0 31 2 *' never fires",
        ),
        (
            post(&"1,".repeat(150)),
            "invalid_schedule",
            "bytes long; the most is 200",
        ),
        (
            json!({"script": "tick", "schedule": "* * * * *", "timezone": "Europe/Atlantis"}),
            "invalid_timezone",
            "'Europe/Atlantis' is not a known time zone",
        ),
        (
            json!({"script": "tick", "schedule": "* * * * *", "timezone": ""}),
            "invalid_timezone",
            "is not a known time zone",
        ),
        (
            json!({"script": "nope", "schedule": "* * * * *"}),
            "invalid_script",
            "this app has no script 'nope'",
        ),
        (json!({"schedule": "* * * * *"}), "invalid_json", "script"),
        (
            json!({"script": "tick", "schedule": "* * * * *", "every": "minute"}),
            "invalid_json",
            "every",
        ),
        (
            json!({"script": "tick", "schedule": "* * * * *", "enabled": "yes"}),
            "invalid_json",
            "enabled",
        ),
    ] {
        api.refuses("POST", "/apps/shop/triggers", body, 400, code, needle)
            .await;
    }
    api.refuses(
        "POST",
        "/apps/nope/triggers",
        post("* * * * *"),
        404,
        "not_found",
        "app 'nope' not found",
    )
    .await;
    assert_eq!(count_triggers(&env).await, 0, "nothing refused was stored");

    // The same checks apply to a PATCH, which then changes nothing.
    let (status, made) = api
        .call("POST", "/apps/shop/triggers", Some(post("0 * * * *")))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let path = format!("/apps/shop/triggers/{}", made["id"].as_str().unwrap());
    for (body, code) in [
        (json!({"schedule": "0 * * *"}), "invalid_schedule"),
        (json!({"timezone": "Mars/Olympus"}), "invalid_timezone"),
        (json!({"script": "nope"}), "invalid_script"),
        (
            json!({"next_run_at": "2030-01-01T00:00:00Z"}),
            "invalid_json",
        ),
    ] {
        let (got, answer) = api.call("PATCH", &path, Some(body)).await;
        assert_eq!(
            (got.as_u16(), answer["error"]["code"].as_str()),
            (400, Some(code)),
            "{answer}"
        );
    }
    let (_, now) = api.call("GET", &path, None).await;
    assert_eq!(now, made);

    // A hundred triggers per app, then 409 with the count.
    for _ in 1..100 {
        let (status, _) = api
            .call("POST", "/apps/shop/triggers", Some(post("*/5 * * * *")))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    api.refuses(
        "POST",
        "/apps/shop/triggers",
        post("* * * * *"),
        409,
        "quota_exceeded",
        "the app has 100 cron triggers, the most it may (100)",
    )
    .await;
    // The cap is per app.
    app_with_script(&env, "other", "tick", "1").await;
    let (status, _) = api
        .call("POST", "/apps/other/triggers", Some(post("* * * * *")))
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn admin_api_crud(env: Env) {
    let (app, tick) = app_with_script(&env, "shop", "tick", "1").await;
    let tock = env.store.create_script(app, "tock", "", "2").await.unwrap();
    let api = Api::new(manager(&env.store, &Arc::default())).await;

    // By name, with the defaults: UTC, enabled, first run after now.
    let before = now_ms();
    let (status, by_name) = api
        .call(
            "POST",
            "/apps/shop/triggers",
            Some(json!({"script": "tick", "schedule": " */5  * * * * "})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{by_name}");
    assert_eq!(by_name["script_id"], tick.to_string());
    assert_eq!(by_name["script_name"], "tick");
    assert_eq!(by_name["schedule"], "*/5 * * * *", "stored normalized");
    assert_eq!(by_name["timezone"], "UTC");
    assert_eq!(by_name["enabled"], true);
    assert_eq!(by_name["last_run_at"], Value::Null);
    let id = by_name["id"].as_str().unwrap().to_owned();
    let (next, _) = times(&env, &id).await;
    let next = next.unwrap();
    assert!(next > before && next <= now_ms() + 5 * MINUTE, "{next}");
    assert_eq!(next % (5 * MINUTE), 0, "on a five-minute boundary");
    assert_eq!(by_name["next_run_at"], rfc3339(next));
    let mut keys: Vec<&str> = by_name
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "created_at",
            "enabled",
            "id",
            "kind",
            "last_run_at",
            "next_run_at",
            "schedule",
            "script_id",
            "script_name",
            "timezone",
            "updated_at"
        ]
    );

    // By id, paused, in a named zone.
    let (status, by_id) = api
        .call(
            "POST",
            &format!("/apps/{app}/triggers"),
            Some(json!({"script": tock.id, "schedule": "0 9 * * MON-FRI",
                        "timezone": "Europe/Oslo", "enabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{by_id}");
    assert_eq!(
        (
            &by_id["script_name"],
            &by_id["timezone"],
            &by_id["enabled"],
            &by_id["next_run_at"]
        ),
        (
            &json!("tock"),
            &json!("Europe/Oslo"),
            &json!(false),
            &Value::Null
        )
    );
    let paused = by_id["id"].as_str().unwrap().to_owned();

    let (status, list) = api.call("GET", "/apps/shop/triggers", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!({"items": [by_name, by_id]}), "oldest first");
    let (status, one) = api
        .call("GET", &format!("/apps/shop/triggers/{id}"), None)
        .await;
    assert_eq!((status, &one), (StatusCode::OK, &by_name));

    // A new schedule moves the next run; a new script keeps it.
    let (status, changed) = api
        .call(
            "PATCH",
            &format!("/apps/shop/triggers/{id}"),
            Some(json!({"schedule": "0 3 * * *", "timezone": "America/New_York"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    let (moved, _) = times(&env, &id).await;
    let moved = moved.unwrap();
    // 03:00 in New York is 07:00 or 08:00 UTC, by season.
    assert!(
        moved % HOUR == 0 && [7, 8].contains(&(moved / HOUR % 24)),
        "{moved}"
    );
    assert_eq!(changed["next_run_at"], rfc3339(moved));
    let (_, changed) = api
        .call(
            "PATCH",
            &format!("/apps/shop/triggers/{id}"),
            Some(json!({"script": "tock"})),
        )
        .await;
    assert_eq!(
        (&changed["script_name"], &changed["next_run_at"]),
        (&json!("tock"), &json!(rfc3339(moved)))
    );
    assert_eq!(changed["schedule"], "0 3 * * *");

    // Pausing clears the next run; resuming sets it from now again.
    let (_, off) = api
        .call(
            "PATCH",
            &format!("/apps/shop/triggers/{id}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(
        (&off["enabled"], &off["next_run_at"]),
        (&json!(false), &Value::Null)
    );
    assert_eq!(times(&env, &id).await.0, None);
    let (_, on) = api
        .call(
            "PATCH",
            &format!("/apps/shop/triggers/{paused}"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(on["enabled"], true);
    let (next, _) = times(&env, &paused).await;
    assert!(next.unwrap() > now_ms() - MINUTE);
    // An empty PATCH changes nothing but the update time.
    let (status, same) = api
        .call(
            "PATCH",
            &format!("/apps/shop/triggers/{paused}"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same["next_run_at"], on["next_run_at"]);

    // After a rename the old slug redirects, trigger id and all.
    let shop = env.store.app("shop").await.unwrap();
    env.store.rename_app(&shop, "store", false).await.unwrap();
    let (status, headers, _) = api
        .call_full("GET", &format!("/apps/shop/triggers/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        headers[header::LOCATION],
        format!("/api/v1/admin/apps/store/triggers/{id}").as_str()
    );

    let (status, _) = api
        .call("DELETE", &format!("/apps/store/triggers/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for method in ["GET", "PATCH", "DELETE"] {
        api.refuses(
            method,
            &format!("/apps/store/triggers/{id}"),
            json!({"enabled": true}),
            404,
            "not_found",
            &format!("trigger '{id}' not found"),
        )
        .await;
    }
    let (_, list) = api.call("GET", "/apps/store/triggers", None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // Every operation is in the OpenAPI document, under its tag.
    let (status, doc) = api.call("GET", "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    for (path, methods) in [
        ("/apps/{app}/triggers", &["get", "post"][..]),
        ("/apps/{app}/triggers/{id}", &["get", "patch", "delete"][..]),
        ("/apps/{app}/triggers/{id}/run", &["post"][..]),
    ] {
        for method in methods {
            let op = &doc["paths"][path][method];
            assert_eq!(op["tags"], json!(["triggers"]), "{method} {path}");
            assert!(op["responses"]["401"].is_object());
            assert!(op["responses"]["404"].is_object());
        }
    }
    let post = &doc["paths"]["/apps/{app}/triggers"]["post"]["responses"];
    assert!(post["201"].is_object() && post["400"].is_object() && post["409"].is_object());
    assert!(doc["components"]["schemas"]["CronTrigger"].is_object());
}

async fn next_run_follows_the_time_zone_across_daylight_saving(env: Env) {
    let (app, _) = app_with_script(&env, "shop", "nightly", "1").await;
    let executor = Arc::new(FakeExecutor::default());
    let m = manager(&env.store, &executor);
    let id = env
        .store
        .create_trigger(
            app,
            &NewTrigger {
                script: "nightly".into(),
                schedule: "30 2 * * *".into(),
                timezone: Some("Europe/Oslo".into()),
                enabled: true,
            },
        )
        .await
        .unwrap()
        .id;
    // The tick of 2026-03-28 02:30 CET (01:30 UTC), the day before the
    // clocks go forward.
    set_next(&env, &id, utc(2026, 3, 28, 1, 30)).await;
    let mut fired_at = Vec::new();
    let mut now = utc(2026, 3, 28, 1, 30);
    for _ in 0..3 {
        assert_eq!(m.run_due_triggers(at(now)).await.unwrap(), 1);
        fired_at.push(now);
        now = times(&env, &id).await.0.unwrap();
    }
    // 2026-03-29: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist:
    // the run is at the first instant after the gap, 03:00 CEST (01:00
    // UTC). From the next day on, 02:30 CEST is 00:30 UTC.
    assert_eq!(
        fired_at,
        [
            utc(2026, 3, 28, 1, 30),
            utc(2026, 3, 29, 1, 0),
            utc(2026, 3, 30, 0, 30)
        ]
    );
    assert_eq!(now, utc(2026, 3, 31, 0, 30));

    // 2026-10-25: 03:00 CEST goes back to 02:00 CET, so 02:30 happens twice;
    // it fires once, at the first (CEST, 00:30 UTC).
    set_next(&env, &id, utc(2026, 10, 24, 0, 30)).await;
    let mut fired_at = Vec::new();
    let mut now = utc(2026, 10, 24, 0, 30);
    for _ in 0..3 {
        assert_eq!(m.run_due_triggers(at(now)).await.unwrap(), 1);
        fired_at.push(now);
        now = times(&env, &id).await.0.unwrap();
    }
    assert_eq!(
        fired_at,
        [
            utc(2026, 10, 24, 0, 30),
            utc(2026, 10, 25, 0, 30),
            utc(2026, 10, 26, 1, 30)
        ]
    );
    assert_eq!(executor.requests().len(), 6);
}

async fn apps_are_isolated(env: Env) {
    let (a, a_script) = app_with_script(&env, "alpha", "job", "1").await;
    let (b, _) = app_with_script(&env, "beta", "other", "2").await;
    let executor = Arc::new(FakeExecutor::default());
    let m = manager(&env.store, &executor);
    let api = Api::new(m.clone()).await;
    let (status, trigger) = api
        .call(
            "POST",
            "/apps/alpha/triggers",
            Some(json!({"script": "job", "schedule": "* * * * *"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = trigger["id"].as_str().unwrap();

    // B sees none of A's triggers and cannot reach one by id.
    let (_, list) = api.call("GET", "/apps/beta/triggers", None).await;
    assert_eq!(list, json!({"items": []}));
    for (method, path) in [
        ("GET", format!("/apps/beta/triggers/{id}")),
        ("PATCH", format!("/apps/beta/triggers/{id}")),
        ("DELETE", format!("/apps/beta/triggers/{id}")),
        ("POST", format!("/apps/beta/triggers/{id}/run")),
    ] {
        api.refuses(
            method,
            &path,
            json!({"enabled": false}),
            404,
            "not_found",
            "not found",
        )
        .await;
    }
    // B cannot bind A's script, by id or by name, nor move A's trigger to it.
    for script in [a_script.to_string().as_str(), "job"] {
        api.refuses(
            "POST",
            "/apps/beta/triggers",
            json!({"script": script, "schedule": "* * * * *"}),
            400,
            "invalid_script",
            &format!("this app has no script '{script}'"),
        )
        .await;
    }
    let b_script = env
        .store
        .list_scripts(Some(b), &manager_core::store::Page::all())
        .await
        .unwrap()[0]
        .id;
    api.refuses(
        "PATCH",
        &format!("/apps/alpha/triggers/{id}"),
        json!({"script": b_script}),
        400,
        "invalid_script",
        "this app has no script",
    )
    .await;
    let err = env
        .store
        .update_trigger(b, id, &TriggerChanges::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");

    // A's trigger is untouched and runs A's script as A.
    let (_, shown) = api
        .call("GET", &format!("/apps/alpha/triggers/{id}"), None)
        .await;
    assert_eq!(shown, trigger);
    assert_eq!(m.run_due_triggers(at(now_ms() + HOUR)).await.unwrap(), 1);
    let request = &executor.requests()[0];
    assert_eq!((request.app_id, request.script_id), (a, a_script));
    assert_eq!(executions(&m, a).await.len(), 1);
    assert!(executions(&m, b).await.is_empty());
}

async fn deleting_a_script_or_app_deletes_its_triggers(env: Env) {
    let (a, job) = app_with_script(&env, "alpha", "job", "1").await;
    let keep = env.store.create_script(a, "keep", "", "1").await.unwrap();
    let (b, other) = app_with_script(&env, "beta", "other", "1").await;
    new_trigger(&env, a, "job", "* * * * *").await;
    new_trigger(&env, a, "job", "0 * * * *").await;
    let kept = new_trigger(&env, a, "keep", "0 * * * *").await;
    new_trigger(&env, b, "other", "* * * * *").await;
    assert_eq!(count_triggers(&env).await, 4);

    env.store.delete_script(job).await.unwrap();
    let left: Vec<String> = env
        .store
        .list_triggers(a)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(left, [kept]);
    assert_eq!(count_triggers(&env).await, 2);

    let beta = env.store.app_by_id(b).await.unwrap();
    env.store.delete_app(&beta).await.unwrap();
    assert_eq!(count_triggers(&env).await, 1);
    assert!(env.store.script(other).await.is_err());
    assert_eq!(
        env.store.list_triggers(a).await.unwrap()[0].script_id,
        keep.id
    );

    // Nothing of the deleted ones fires.
    let executor = Arc::new(FakeExecutor::default());
    let m = manager(&env.store, &executor);
    assert_eq!(
        m.run_due_triggers(at(now_ms() + 2 * HOUR)).await.unwrap(),
        1
    );
    assert_eq!(executor.requests()[0].script_id, keep.id);
}

async fn due_ticks_fire_once_and_missed_ticks_are_coalesced(env: Env) {
    let (app, _) = app_with_script(&env, "shop", "tick", "1").await;
    let executor = Arc::new(FakeExecutor::default());
    let m = manager(&env.store, &executor);
    let id = new_trigger(&env, app, "tick", "*/5 * * * *").await;
    let (Some(first), None) = times(&env, &id).await else {
        panic!("a new trigger has a next run and no last run");
    };
    // Not yet due: nothing.
    assert_eq!(m.run_due_triggers(at(first - 1)).await.unwrap(), 0);
    // Due: it fires once, and its next run is the following tick.
    assert_eq!(m.run_due_triggers(at(first)).await.unwrap(), 1);
    assert_eq!(
        times(&env, &id).await,
        (Some(first + 5 * MINUTE), Some(first))
    );
    // The same moment again (a second pass, or a second scheduler): nothing.
    assert_eq!(m.run_due_triggers(at(first)).await.unwrap(), 0);
    assert_eq!(
        m.run_due_triggers(at(first + 5 * MINUTE - 1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(executor.requests().len(), 1);

    // Down for an hour and a half (18 ticks missed): one run, for all of
    // them, and the next tick is the first after now.
    let back = first + 90 * MINUTE + 42_000;
    assert_eq!(m.run_due_triggers(at(back)).await.unwrap(), 1);
    assert_eq!(executor.requests().len(), 2);
    assert_eq!(
        times(&env, &id).await,
        (Some(first + 95 * MINUTE), Some(back))
    );
    assert_eq!(m.run_due_triggers(at(back)).await.unwrap(), 0);

    // The API shows the last run.
    let shown = env.store.trigger(app, &id).await.unwrap();
    assert_eq!(shown.last_run_at.as_deref(), Some(rfc3339(back).as_str()));
    assert_eq!(
        shown.next_run_at.as_deref(),
        Some(rfc3339(first + 95 * MINUTE).as_str())
    );

    // Many due at once (more than one query's batch): each fires once, in
    // one pass.
    let (more, _) = app_with_script(&env, "more", "tick", "1").await;
    for i in 0..160 {
        let app = if i < 99 { app } else { more };
        new_trigger(&env, app, "tick", "0 * * * *").await;
    }
    let later = back + 3 * HOUR;
    assert_eq!(m.run_due_triggers(at(later)).await.unwrap(), 161);
    assert_eq!(m.run_due_triggers(at(later)).await.unwrap(), 0);
}

async fn runs_are_recorded_in_the_execution_log(env: Env) {
    let (app, tick) = app_with_script(&env, "shop", "tick", "1").await;
    let broken = env
        .store
        .create_script(app, "broken", "", "fail()")
        .await
        .unwrap();
    let shop = env.store.app_by_id(app).await.unwrap();
    env.store
        .update_app(
            &shop,
            None,
            None,
            Some(Some(json!({"fuel": 12345, "deadline_ms": 250}))),
        )
        .await
        .unwrap();
    let executor = Arc::new(FakeExecutor::default());
    let m = manager(&env.store, &executor);
    let ok = new_trigger(&env, app, "tick", "*/15 * * * *").await;
    let failing = new_trigger(&env, app, "broken", "*/15 * * * *").await;
    // The run uses the script's source as it is when the tick fires.
    env.store
        .update_script(
            &env.store.script(tick).await.unwrap(),
            None,
            None,
            Some("2"),
        )
        .await
        .unwrap();
    assert_eq!(m.run_due_triggers(at(now_ms() + HOUR)).await.unwrap(), 2);

    let mut requests = executor.requests();
    requests.sort_by_key(|r| r.script_id != tick);
    let [run, failed] = &requests[..] else {
        panic!("two runs: {requests:?}");
    };
    assert_eq!(run.trigger, Trigger::Cron);
    assert_eq!(run.app_id, app);
    assert_eq!(run.script_id, tick);
    assert_eq!(run.route_id, None);
    assert_eq!(&*run.source, "2");
    assert_eq!(
        (run.request.method.as_str(), run.request.path.as_str()),
        ("CRON", "/")
    );
    assert_eq!(
        run.request.headers,
        [
            ("x-picloud-cron-trigger".to_owned(), ok.clone()),
            (
                "x-picloud-cron-schedule".to_owned(),
                "*/15 * * * *".to_owned()
            )
        ]
    );
    assert!(run.request.query.is_empty() && run.request.params.is_empty());
    assert!(run.request.host_params.is_empty() && run.request.body.is_empty());
    assert_eq!(
        (run.limits.fuel, run.limits.deadline_ms),
        (12345, 250),
        "the app's limits"
    );
    assert_eq!(
        failed.request.headers[0],
        ("x-picloud-cron-trigger".to_owned(), failing.clone())
    );
    assert_eq!(failed.script_id, broken.id);

    let mut log = executions(&m, app).await;
    log.sort_by_key(|e| e.script_id != tick);
    let [ok_run, failed_run] = &log[..] else {
        panic!("two records: {log:?}");
    };
    for record in [ok_run, failed_run] {
        assert_eq!(record.trigger, "cron");
        assert_eq!(
            (record.method.as_str(), record.path.as_str()),
            ("CRON", "/")
        );
        assert_eq!(record.route_id, None);
        assert_eq!(record.fuel_used, 10);
    }
    assert_eq!((ok_run.status, ok_run.outcome), (200, "ok"));
    assert_eq!((failed_run.status, failed_run.outcome), (500, "error"));
    let error = failed_run.error.as_ref().unwrap();
    assert_eq!(
        (error.code.as_str(), error.line),
        ("runtime_error", Some(1))
    );
    assert_eq!(failed_run.script_id, broken.id);
}

async fn paused_triggers_never_fire(env: Env) {
    let (app, _) = app_with_script(&env, "shop", "tick", "1").await;
    let executor = Arc::new(FakeExecutor::default());
    let m = manager(&env.store, &executor);
    let created_paused = env
        .store
        .create_trigger(
            app,
            &NewTrigger {
                script: "tick".into(),
                schedule: "* * * * *".into(),
                timezone: None,
                enabled: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(created_paused.next_run_at, None);
    let paused_later = new_trigger(&env, app, "tick", "* * * * *").await;
    let (due, _) = times(&env, &paused_later).await;
    env.store
        .update_trigger(
            app,
            &paused_later,
            &TriggerChanges {
                enabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // Even a paused row that kept a tick (as one written by hand might) is
    // skipped: the scheduler only looks at enabled triggers.
    set_next(&env, &paused_later, due.unwrap()).await;
    assert_eq!(
        m.run_due_triggers(at(now_ms() + 24 * HOUR)).await.unwrap(),
        0
    );
    assert!(executor.requests().is_empty());
    assert!(executions(&m, app).await.is_empty());

    // Resuming starts at the next minute after now, with no catch-up run
    // for the time it was paused.
    let resumed = env
        .store
        .update_trigger(
            app,
            &created_paused.id,
            &TriggerChanges {
                enabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (next, last) = times(&env, &resumed.id).await;
    assert_eq!(last, None);
    let next = next.unwrap();
    assert!(
        next > now_ms() - MINUTE && next <= now_ms() + MINUTE,
        "{next}"
    );
    assert_eq!(m.run_due_triggers(at(next - 1)).await.unwrap(), 0);
    assert_eq!(m.run_due_triggers(at(next)).await.unwrap(), 1);
}

async fn racing_schedulers_fire_every_tick_once(env: Env) {
    // Two managers with their own connection pools on one database, as two
    // processes would be.
    let other_store = Store::new(Db::connect(&env.url).await.unwrap());
    let (e1, e2) = (
        Arc::new(FakeExecutor::default()),
        Arc::new(FakeExecutor::default()),
    );
    let (m1, m2) = (manager(&env.store, &e1), manager(&other_store, &e2));
    let (a, _) = app_with_script(&env, "alpha", "tick", "1").await;
    let (b, _) = app_with_script(&env, "beta", "tick", "1").await;
    let mut ids = Vec::new();
    for i in 0..24 {
        let app = if i % 2 == 0 { a } else { b };
        ids.push(new_trigger(&env, app, "tick", "* * * * *").await);
    }
    ids.sort();

    // Both read the same due ticks before either claims: exactly one claim
    // of each tick wins.
    let now = now_ms() + HOUR;
    let seen1 = env.store.due_triggers(now, 100).await.unwrap();
    let seen2 = other_store.due_triggers(now, 100).await.unwrap();
    assert_eq!(seen1, seen2);
    assert_eq!(seen1.len(), ids.len());
    let mut winners = 0;
    for (d1, d2) in seen1.iter().zip(&seen2) {
        let (w1, w2) = tokio::join!(
            env.store.claim_trigger(d1, now),
            other_store.claim_trigger(d2, now)
        );
        let (w1, w2) = (w1.unwrap(), w2.unwrap());
        assert!(w1 != w2, "exactly one of two claims wins: {w1} {w2}");
        winners += usize::from(w1) + usize::from(w2);
    }
    assert_eq!(winners, ids.len());
    // A claim of a tick that has moved on loses, also later.
    assert!(!env.store.claim_trigger(&seen1[0], now).await.unwrap());

    // Whole passes racing, minute after minute: every trigger fires once a
    // minute, on one of the two.
    let rounds = 5;
    for round in 1..=rounds {
        let now = now + round * MINUTE;
        let (f1, f2) = tokio::join!(m1.run_due_triggers(at(now)), m2.run_due_triggers(at(now)));
        assert_eq!(f1.unwrap() + f2.unwrap(), ids.len(), "round {round}");
    }
    let mut fired: Vec<String> = e1
        .requests()
        .into_iter()
        .chain(e2.requests())
        .map(|r| {
            r.request
                .headers
                .iter()
                .find(|(name, _)| name == "x-picloud-cron-trigger")
                .unwrap()
                .1
                .clone()
        })
        .collect();
    fired.sort();
    let expected: Vec<String> = ids
        .iter()
        .flat_map(|id| std::iter::repeat_n(id.clone(), rounds as usize))
        .collect();
    assert_eq!(fired, expected, "each trigger once per round");
    // The execution log agrees: one record per run, whichever manager ran it.
    m2.recorder().flush().await;
    let logged = executions(&m1, a).await.len() + executions(&m1, b).await.len();
    assert_eq!(logged, ids.len() * rounds as usize);
}

async fn run_now_fires_outside_the_schedule(env: Env) {
    let (app, _) = app_with_script(&env, "shop", "tick", "1").await;
    env.store
        .create_script(app, "broken", "", "fail()")
        .await
        .unwrap();
    let executor = Arc::new(FakeExecutor::default());
    let m = manager(&env.store, &executor);
    let api = Api::new(m.clone()).await;
    let id = new_trigger(&env, app, "tick", "0 0 1 1 *").await;
    let before = times(&env, &id).await;
    let (status, run) = api
        .call("POST", &format!("/apps/shop/triggers/{id}/run"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!((&run["status"], &run["error"]), (&json!(200), &Value::Null));
    assert_eq!(times(&env, &id).await, before, "the schedule is untouched");
    let request = &executor.requests()[0];
    assert_eq!(
        (request.trigger, request.request.method.as_str()),
        (Trigger::Cron, "CRON")
    );
    let (status, record) = api
        .call(
            "GET",
            &format!("/executions/{}", run["execution_id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(
        (&record["trigger"], &record["status"]),
        (&json!("cron"), &json!(200))
    );

    // A failing script: 200 for the run, its error inside.
    let (_, broken) = api
        .call(
            "PATCH",
            &format!("/apps/shop/triggers/{id}"),
            Some(json!({"script": "broken"})),
        )
        .await;
    assert_eq!(broken["script_name"], "broken");
    let (status, run) = api
        .call("POST", &format!("/apps/shop/triggers/{id}/run"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(run["status"], 500);
    assert_eq!(run["error"]["code"], "runtime_error");
    api.refuses(
        "POST",
        "/apps/shop/triggers/00000000-0000-4000-8000-00000000dead/run",
        Value::Null,
        404,
        "not_found",
        "trigger",
    )
    .await;
}
