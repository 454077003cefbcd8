//! Script versions over HTTP, as a user meets them: every change of source
//! is a version, identical saves make none, a rollback brings an old source
//! back as a new version that the route serves as soon as the call returns,
//! execution records name the version that ran, and `versions_keep` prunes
//! the oldest. Every test runs on SQLite and on PostgreSQL.

#[macro_use]
mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Db, TOKEN, TestServer, code, config};

fn main() {
    testkit::harness::run_on_both_databases(tests![
        saves_make_versions_and_a_rollback_serves_the_old_source,
        versions_keep_prunes_the_oldest,
    ])
}

async fn create(s: &TestServer, source: &str, message: &str) -> Value {
    let (status, script) = s
        .admin(
            Method::POST,
            "/api/v1/admin/scripts",
            Some(
                json!({"app_id": "default", "name": "greet", "source": source, "message": message}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{script}");
    let id = script["id"].as_str().unwrap();
    let (status, body) = s.route(id, "GET", "/greet").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    script
}

async fn save(s: &TestServer, id: &str, body: Value) -> Value {
    let (status, script) = s
        .admin(
            Method::PATCH,
            &format!("/api/v1/admin/scripts/{id}"),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{script}");
    script
}

async fn versions(s: &TestServer, id: &str, query: &str) -> Value {
    let (status, page) = s
        .admin(
            Method::GET,
            &format!("/api/v1/admin/scripts/{id}/versions{query}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

fn numbers(page: &Value) -> Vec<i64> {
    page["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect()
}

async fn saves_make_versions_and_a_rollback_serves_the_old_source(db: Db) {
    let s = TestServer::start(&db).await;
    let script = create(&s, "\"one\"", "first cut").await;
    let id = script["id"].as_str().unwrap().to_owned();
    assert_eq!(script["version"], 1);
    let page = versions(&s, &id, "").await;
    assert_eq!(numbers(&page), [1]);
    let v1 = &page["versions"][0];
    assert_eq!(v1["message"], "first cut");
    // The test server's token is the bootstrap one.
    assert_eq!(v1["author"], "token:bootstrap");
    assert_eq!(v1["current"], true);
    assert_eq!(v1["size"], 5);
    assert_eq!(v1["sha256"].as_str().unwrap().len(), 64);
    assert!(v1.get("source").is_none(), "lists carry no source: {v1}");

    // The same source again is no new version; a description alone neither.
    let same = save(
        &s,
        &id,
        json!({"source": "\"one\"", "description": "greets"}),
    )
    .await;
    assert_eq!(same["version"], 1);
    let two = save(&s, &id, json!({"source": "\"two\"", "message": "say two"})).await;
    assert_eq!(two["version"], 2);
    assert_eq!(s.call(Method::GET, "localhost", "/greet").await.1, "two");

    let (status, old) = s
        .admin(
            Method::GET,
            &format!("/api/v1/admin/scripts/{id}/versions/1"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{old}");
    assert_eq!(old["source"], "\"one\"");
    assert_eq!(old["current"], false);
    for missing in ["99", "0", "abc"] {
        let (status, body) = s
            .admin(
                Method::GET,
                &format!("/api/v1/admin/scripts/{id}/versions/{missing}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}: {body}");
    }

    // Back to version 1: a new version 3 with the old source, served as
    // soon as the call returns.
    let (status, rolled) = s
        .admin(
            Method::POST,
            &format!("/api/v1/admin/scripts/{id}/rollback"),
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rolled}");
    assert_eq!(rolled["version"], 3);
    assert_eq!(rolled["source"], "\"one\"");
    assert_eq!(s.call(Method::GET, "localhost", "/greet").await.1, "one");
    let page = versions(&s, &id, "").await;
    assert_eq!(numbers(&page), [3, 2, 1]);
    assert_eq!(page["versions"][0]["message"], "rollback to version 1");
    assert_eq!(page["versions"][0]["current"], true);
    assert_eq!(page["versions"][0]["sha256"], page["versions"][2]["sha256"]);
    // Rolling back to what already runs changes nothing.
    let (status, again) = s
        .admin(
            Method::POST,
            &format!("/api/v1/admin/scripts/{id}/rollback"),
            Some(json!({"version": 1, "message": "again"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["version"], 3);

    // Paging, newest first.
    let first = versions(&s, &id, "?limit=2").await;
    assert_eq!(numbers(&first), [3, 2]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = versions(&s, &id, &format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(numbers(&rest), [1]);
    assert!(rest["next_cursor"].is_null());

    // The execution record names the version that ran.
    let (status, list) = s
        .admin(
            Method::GET,
            "/api/v1/admin/apps/default/executions?path=/greet",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let newest = &list["executions"][0];
    assert_eq!(newest["script_version"], 3, "{newest}");
    assert_eq!(list["executions"][1]["script_version"], 2, "{list}");

    // Bad input names the problem.
    for (body, status, expected) in [
        (
            json!({"version": 0}),
            StatusCode::BAD_REQUEST,
            "invalid_version",
        ),
        (json!({"version": 9}), StatusCode::NOT_FOUND, "not_found"),
        (json!({}), StatusCode::BAD_REQUEST, "invalid_json"),
        (
            json!({"version": 1, "message": "x".repeat(1001)}),
            StatusCode::BAD_REQUEST,
            "invalid_message",
        ),
    ] {
        let (got, answer) = s
            .admin(
                Method::POST,
                &format!("/api/v1/admin/scripts/{id}/rollback"),
                Some(body.clone()),
            )
            .await;
        assert_eq!((got, code(&answer)), (status, expected), "{body}: {answer}");
    }
    let (status, body) = s
        .admin(
            Method::GET,
            &format!("/api/v1/admin/scripts/{id}/versions?cursor=x"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(code(&body), "invalid_cursor");
    s.stop().await;
}

async fn versions_keep_prunes_the_oldest(db: Db) {
    let data = tempfile::tempdir().unwrap();
    let mut cfg = config(data.path().to_owned(), &db, Some(TOKEN));
    cfg.control.manager.versions_keep = Some(2);
    let mut s = TestServer::at(cfg).await;
    s._data = Some(data);
    let script = create(&s, "1", "v1").await;
    let id = script["id"].as_str().unwrap().to_owned();
    for n in 2..=4 {
        let saved = save(&s, &id, json!({"source": n.to_string()})).await;
        assert_eq!(saved["version"], n);
    }
    assert_eq!(numbers(&versions(&s, &id, "").await), [4, 3]);
    // A pruned version is gone; a kept one can still be rolled back to.
    let (status, _) = s
        .admin(
            Method::GET,
            &format!("/api/v1/admin/scripts/{id}/versions/1"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, rolled) = s
        .admin(
            Method::POST,
            &format!("/api/v1/admin/scripts/{id}/rollback"),
            Some(json!({"version": 3})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rolled}");
    assert_eq!(numbers(&versions(&s, &id, "").await), [5, 4]);
    assert_eq!(s.call(Method::GET, "localhost", "/greet").await.1, "3");
    s.stop().await;
}
