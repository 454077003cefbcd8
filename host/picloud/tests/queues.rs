//! Queues over HTTP against the real guest (docs/scripting.md, "Queues"):
//! `queue::send` from a route, the queue trigger's script running for each
//! message with what was sent, delays, retries with backoff into the dead
//! letters and back, apps that never see each other's messages, and two
//! servers on one database that never run a message twice at once. Every
//! test runs on SQLite and on PostgreSQL.

#[macro_use]
mod support;

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Db, TOKEN, TestServer, code, config, eventually};

fn main() {
    testkit::harness::run_on_both_databases(tests![
        a_message_runs_the_queue_script_with_what_was_sent,
        a_failing_message_backs_off_then_waits_as_a_dead_letter,
        servers_sharing_a_database_run_each_message_once_at_a_time,
    ])
}

async fn kv(s: &TestServer, app: &str, key: &str) -> Option<Value> {
    let (status, body) = s
        .admin(
            Method::GET,
            &format!("/api/v1/admin/apps/{app}/kv/{key}"),
            None,
        )
        .await;
    (status == StatusCode::OK).then(|| body["value"].clone())
}

async fn queue_stats(s: &TestServer, app: &str, queue: &str) -> Value {
    let (status, body) = s
        .admin(
            Method::GET,
            &format!("/api/v1/admin/apps/{app}/queues"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == queue)
        .cloned()
        .unwrap_or(Value::Null)
}

async fn queue_trigger(
    s: &TestServer,
    app: &str,
    script: &str,
    queue: &str,
    extra: Value,
) -> Value {
    let mut body = json!({"script": script, "queue": queue});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (status, trigger) = s
        .admin(
            Method::POST,
            &format!("/api/v1/admin/apps/{app}/triggers"),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{trigger}");
    trigger
}

/// A route that sends its JSON body's `payload` to queue `queue` (with its
/// `delay`, if any) and answers the message id.
async fn sender(s: &TestServer, app: &str, queue: &str, path: &str) {
    let source = format!(
        r#"let b = parse_json(request.body);
if b.delay == () {{ queue::send("{queue}", b.payload) }} else {{ queue::send("{queue}", b.payload, #{{ delay: b.delay }}) }}"#
    );
    s.deploy(app, &format!("send-{queue}"), &source, "POST", path)
        .await;
}

async fn post(s: &TestServer, host: &str, path: &str, body: Value) -> (StatusCode, String) {
    let resp = s
        .client
        .post(format!("{}{path}", s.base))
        .header("host", host)
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

async fn a_message_runs_the_queue_script_with_what_was_sent(db: Db) {
    let s = TestServer::start(&db).await;
    s.app_on("shop", "shop.test").await;
    s.app_on("blog", "blog.test").await;
    let worker = r#"kv::set("got:" + request.payload.n, #{
    queue: request.queue, id: request.message_id, attempt: request.attempt,
    trigger: request.trigger, from_body: parse_json(request.body).n, method: request.method
});"#;
    s.script_in("shop", "worker", worker).await;
    sender(&s, "shop", "jobs", "/send").await;
    sender(&s, "shop", "orphans", "/orphan").await;
    let trigger = queue_trigger(&s, "shop", "worker", "jobs", json!({})).await;
    assert_eq!(trigger["kind"], "queue");
    assert_eq!(trigger["queue"], "jobs");
    assert_eq!(trigger["max_attempts"], 5);
    assert_eq!(trigger["script_name"], "worker");

    // Sent from a route; run by the queue's script with what was sent.
    let (status, id) = post(&s, "shop.test", "/send", json!({"payload": {"n": 1}})).await;
    assert_eq!(status, StatusCode::OK, "{id}");
    let got = eventually("message 1 runs", Duration::from_secs(20), || {
        kv(&s, "shop", "got:1")
    })
    .await;
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["queue"], "jobs");
    assert_eq!(got["attempt"], 1);
    assert_eq!(got["trigger"], "queue");
    assert_eq!(got["from_body"], 1);
    assert_eq!(got["method"], "QUEUE");
    let (_, log) = s
        .admin(
            Method::GET,
            "/api/v1/admin/apps/shop/executions?trigger=queue",
            None,
        )
        .await;
    let run = &log["executions"][0];
    assert_eq!(run["trigger"], "queue", "{log}");
    assert_eq!(run["path"], "/jobs");

    // A delay is kept: the message waits, then runs.
    let sent = Instant::now();
    let (status, _) = post(
        &s,
        "shop.test",
        "/send",
        json!({"payload": {"n": 2}, "delay": 1.5}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let jobs = queue_stats(&s, "shop", "jobs").await;
    assert_eq!(jobs["delayed"], 1, "{jobs}");
    assert_eq!(jobs["trigger_id"], trigger["id"]);
    eventually("the delayed message runs", Duration::from_secs(20), || {
        kv(&s, "shop", "got:2")
    })
    .await;
    assert!(sent.elapsed() >= Duration::from_millis(1500));
    let jobs = queue_stats(&s, "shop", "jobs").await;
    assert_eq!(
        (
            &jobs["ready"],
            &jobs["delayed"],
            &jobs["in_flight"],
            &jobs["dead"]
        ),
        (&json!(0), &json!(0), &json!(0), &json!(0)),
        "{jobs}"
    );

    // A queue without a trigger keeps its messages; another app's trigger
    // on a queue of the same name never sees them.
    let (status, _) = post(&s, "shop.test", "/orphan", json!({"payload": {"n": 3}})).await;
    assert_eq!(status, StatusCode::OK);
    s.script_in("blog", "worker", worker).await;
    sender(&s, "blog", "orphans", "/orphan").await;
    queue_trigger(&s, "blog", "worker", "orphans", json!({})).await;
    let (status, _) = post(&s, "blog.test", "/orphan", json!({"payload": {"n": 4}})).await;
    assert_eq!(status, StatusCode::OK);
    eventually(
        "the blog's own message runs",
        Duration::from_secs(20),
        || kv(&s, "blog", "got:4"),
    )
    .await;
    assert_eq!(kv(&s, "blog", "got:3").await, None);
    let orphans = queue_stats(&s, "shop", "orphans").await;
    assert_eq!(orphans["ready"], 1, "{orphans}");
    assert_eq!(orphans["trigger_id"], Value::Null);
    assert!(orphans["oldest_age_ms"].as_i64().unwrap() >= 0);

    // Bad input is the script's error, naming the problem.
    for (payload, expected) in [
        (r#"queue::send("no spaces", 1)"#, "queue name 'no spaces'"),
        (
            r#"let s = "x"; for i in 0..17 { s += s; } queue::send("jobs", s)"#,
            "bytes of JSON",
        ),
        (
            r#"queue::send("jobs", 1, #{ delay: -1 })"#,
            "0 or more seconds",
        ),
        (
            r#"queue::send("jobs", 1, #{ later: 1 })"#,
            "unknown option 'later'",
        ),
    ] {
        let id = s.script_in("shop", "bad", payload).await;
        let (status, body) = s
            .admin(
                Method::POST,
                &format!("/api/v1/admin/scripts/{id}/run"),
                Some(json!({})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains(expected),
            "{payload}: {body}"
        );
        s.admin(Method::DELETE, &format!("/api/v1/admin/scripts/{id}"), None)
            .await;
    }
    // One trigger per queue, and a trigger is one kind or the other.
    let (status, body) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps/shop/triggers",
            Some(json!({"script": "worker", "queue": "jobs"})),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "trigger_exists")
    );
    let (status, body) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps/shop/triggers",
            Some(json!({"script": "worker", "queue": "jobs", "schedule": "* * * * *"})),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_trigger")
    );
    let (status, body) = s
        .admin(
            Method::POST,
            &format!(
                "/api/v1/admin/apps/shop/triggers/{}/run",
                trigger["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_trigger")
    );
    s.stop().await;
}

async fn a_failing_message_backs_off_then_waits_as_a_dead_letter(db: Db) {
    let s = TestServer::start(&db).await;
    s.app_on("shop", "shop.test").await;
    let worker = r#"if kv::get("fixed") == () { throw "the downstream is down"; }
kv::set("done:" + request.payload.n, request.attempt);"#;
    s.script_in("shop", "worker", worker).await;
    sender(&s, "shop", "hooks", "/send").await;
    let trigger = queue_trigger(&s, "shop", "worker", "hooks", json!({"max_attempts": 3})).await;
    let (status, id) = post(&s, "shop.test", "/send", json!({"payload": {"n": 1}})).await;
    assert_eq!(status, StatusCode::OK);

    // Three runs, 1 s then 2 s apart, then a dead letter.
    let hooks = eventually("the message dies", Duration::from_secs(30), || async {
        let hooks = queue_stats(&s, "shop", "hooks").await;
        (hooks["dead"] == 1).then_some(hooks)
    })
    .await;
    assert_eq!(hooks["ready"], 0, "{hooks}");
    let (_, log) = s
        .admin(
            Method::GET,
            "/api/v1/admin/apps/shop/executions?trigger=queue",
            None,
        )
        .await;
    let mut started: Vec<std::time::SystemTime> = log["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["error"]["code"], "runtime_error", "{e}");
            humantime::parse_rfc3339(e["started_at"].as_str().unwrap()).unwrap()
        })
        .collect();
    started.sort();
    assert_eq!(started.len(), 3, "{log}");
    let gap = |a: usize, b: usize| started[b].duration_since(started[a]).unwrap();
    assert!(gap(0, 1) >= Duration::from_millis(1000), "{started:?}");
    assert!(gap(1, 2) >= Duration::from_millis(2000), "{started:?}");
    let (status, dead) = s
        .admin(
            Method::GET,
            "/api/v1/admin/apps/shop/queues/hooks/dead",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let letter = &dead["dead_letters"][0];
    assert_eq!(letter["id"], id.as_str());
    assert_eq!(letter["attempts"], 3);
    assert_eq!(letter["payload"], json!({"n": 1}));
    assert!(
        letter["last_error"]
            .as_str()
            .unwrap()
            .contains("the downstream is down"),
        "{letter}"
    );

    // Fixed downstream, retried: it runs again with fresh attempts.
    let (status, _) = s
        .admin(
            Method::PUT,
            "/api/v1/admin/apps/shop/kv/fixed",
            Some(json!({"value": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s
        .admin(
            Method::POST,
            &format!("/api/v1/admin/apps/shop/queues/hooks/dead/{id}/retry"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let attempt = eventually("the retried message runs", Duration::from_secs(20), || {
        kv(&s, "shop", "done:1")
    })
    .await;
    assert_eq!(attempt, 1);
    assert_eq!(queue_stats(&s, "shop", "hooks").await["dead"], 0);

    // One attempt only, then discarded.
    let (status, _) = s
        .admin(Method::DELETE, "/api/v1/admin/apps/shop/kv/fixed", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = s
        .admin(
            Method::PATCH,
            &format!(
                "/api/v1/admin/apps/shop/triggers/{}",
                trigger["id"].as_str().unwrap()
            ),
            Some(json!({"max_attempts": 1})),
        )
        .await;
    assert_eq!((status, &body["max_attempts"]), (StatusCode::OK, &json!(1)));
    let (_, id) = post(&s, "shop.test", "/send", json!({"payload": {"n": 2}})).await;
    eventually(
        "the second message dies",
        Duration::from_secs(20),
        || async { (queue_stats(&s, "shop", "hooks").await["dead"] == 1).then_some(()) },
    )
    .await;
    let (status, _) = s
        .admin(
            Method::DELETE,
            &format!("/api/v1/admin/apps/shop/queues/hooks/dead/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = s
        .admin(
            Method::DELETE,
            &format!("/api/v1/admin/apps/shop/queues/hooks/dead/{id}"),
            None,
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    assert_eq!(queue_stats(&s, "shop", "hooks").await["dead"], 0);
    s.stop().await;
}

/// Two servers on one PostgreSQL database both consume (on SQLite, one
/// server: the database takes one writer process). No message runs on two
/// at once, and every message runs.
async fn servers_sharing_a_database_run_each_message_once_at_a_time(db: Db) {
    const MESSAGES: usize = 200;
    let first = TestServer::start(&db).await;
    let second = match &db {
        Some(_) => {
            let data = tempfile::tempdir().unwrap();
            let mut server = TestServer::at(config(data.path().to_owned(), &db, Some(TOKEN))).await;
            server._data = Some(data);
            Some(server)
        }
        None => None,
    };
    first.app_on("shop", "shop.test").await;
    let worker = r#"let key = "running:" + request.message_id;
if kv::incr(key, 1) > 1 { kv::incr("overlaps", 1); }
kv::incr("runs", 1);
kv::incr("seen:" + request.payload, 1);
kv::incr(key, -1);"#;
    first.script_in("shop", "worker", worker).await;
    first
        .deploy(
            "shop",
            "burst",
            r#"let from = parse_json(request.body).from;
for i in from..from + 50 { queue::send("work", i); }
"sent""#,
            "POST",
            "/burst",
        )
        .await;
    queue_trigger(&first, "shop", "worker", "work", json!({})).await;
    for from in (0..MESSAGES).step_by(50) {
        let (status, body) = post(&first, "shop.test", "/burst", json!({"from": from})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    eventually("every message runs", Duration::from_secs(120), || async {
        let work = queue_stats(&first, "shop", "work").await;
        let idle = work["ready"] == 0 && work["in_flight"] == 0 && work["delayed"] == 0;
        (idle && kv(&first, "shop", "runs").await.is_some()).then_some(())
    })
    .await;
    assert_eq!(kv(&first, "shop", "overlaps").await, None);
    for n in 0..MESSAGES {
        let seen = kv(&first, "shop", &format!("seen:{n}")).await;
        assert!(seen.is_some_and(|v| v.as_i64() >= Some(1)), "message {n}");
    }
    let runs = kv(&first, "shop", "runs").await.unwrap().as_i64().unwrap();
    assert!(runs >= MESSAGES as i64, "{runs}");
    if let Some(second) = second {
        second.stop().await;
    }
    first.stop().await;
}
