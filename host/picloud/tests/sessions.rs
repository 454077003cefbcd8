//! Sign-in throttling and dashboard sessions outlive the process that made
//! them: the throttle's counts and every session's last use are in the
//! database, so a restart does not reset them and two servers on one
//! PostgreSQL database enforce the same limits. Every test runs on SQLite
//! and on PostgreSQL; the two-server ones need a shared database, so they
//! run their second server only on PostgreSQL.

#[macro_use]
mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Db, TOKEN, TestServer, code, config};

const PASSWORD: &str = "correct horse battery";
/// Failures an account gets for free before lockouts start
/// (manager_core::auth::FREE_FAILURES_ACCOUNT).
const FREE: usize = 5;

fn main() {
    testkit::harness::run_on_both_databases(tests![
        the_sign_in_throttle_survives_a_restart_and_is_shared,
        an_idle_session_ends_and_a_used_one_lives_on,
    ])
}

async fn login(s: &TestServer, password: &str) -> (StatusCode, Value, Option<String>) {
    login_as(s, "ada", password).await
}

async fn login_as(
    s: &TestServer,
    username: &str,
    password: &str,
) -> (StatusCode, Value, Option<String>) {
    let resp = s
        .client
        .post(format!("{}/api/v1/admin/auth/login", s.base))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    (status, resp.json().await.unwrap_or_default(), cookie)
}

async fn create_user(s: &TestServer, username: &str) {
    let (status, body) = s
        .admin(
            Method::POST,
            "/api/v1/admin/users",
            Some(json!({"username": username, "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// A second server on the same database (PostgreSQL only: an SQLite file
/// belongs to one server, which holds its data directory's lock).
async fn second_server(db: &Db) -> Option<TestServer> {
    db.as_ref()?;
    let data = tempfile::tempdir().unwrap();
    let mut server = TestServer::at(config(data.path().to_owned(), db, Some(TOKEN))).await;
    server._data = Some(data);
    Some(server)
}

async fn the_sign_in_throttle_survives_a_restart_and_is_shared(db: Db) {
    let data = tempfile::tempdir().unwrap();
    let cfg = || config(data.path().to_owned(), &db, Some(TOKEN));
    let s = TestServer::at(cfg()).await;
    create_user(&s, "ada").await;
    // The free failures, then a restart.
    for _ in 0..FREE {
        assert_eq!(
            login(&s, "wrong password!").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    s.stop().await;
    let s = TestServer::at(cfg()).await;
    // Counted on from where the old process stopped: one more failure
    // locks the account, and even the right password is refused now.
    assert_eq!(
        login(&s, "wrong password!").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body, _) = login(&s, PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(code(&body), "too_many_attempts");

    // Two servers on one database count the same failures: bob's free
    // ones on the first, the one that locks him on the second.
    if let Some(other) = second_server(&db).await {
        create_user(&s, "bob").await;
        for _ in 0..FREE {
            let (status, ..) = login_as(&s, "bob", "wrong password!").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let (status, ..) = login_as(&other, "bob", "wrong password!").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, body, _) = login_as(&s, "bob", PASSWORD).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        let (status, body, _) = login_as(&other, "bob", PASSWORD).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        other.stop().await;
    }
    s.stop().await;
}

/// Sets a session's last use `ago_ms` in the past, as if it had idled.
async fn idle_for(db: &Db, data: &std::path::Path, ago_ms: i64) {
    sqlx::any::install_default_drivers();
    let url = db
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", data.join("picloud.db").display()));
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    sqlx::query("UPDATE sessions SET last_seen_at = $1")
        .bind(now - ago_ms)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

async fn me(s: &TestServer, cookie: &str) -> StatusCode {
    s.client
        .get(format!("{}/api/v1/admin/auth/me", s.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
}

async fn an_idle_session_ends_and_a_used_one_lives_on(db: Db) {
    let data = tempfile::tempdir().unwrap();
    // The default idle timeout: two hours.
    let cfg = || config(data.path().to_owned(), &db, Some(TOKEN));
    let s = TestServer::at(cfg()).await;
    create_user(&s, "ada").await;
    let (status, body, cookie) = login(&s, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cookie = cookie.expect("a session cookie");
    assert_eq!(me(&s, &cookie).await, StatusCode::OK);
    // Unused for an hour: still good, on this server, after a restart, and
    // on a second server over the same database.
    idle_for(&db, data.path(), 60 * 60 * 1000).await;
    s.stop().await;
    let s = TestServer::at(cfg()).await;
    assert_eq!(me(&s, &cookie).await, StatusCode::OK);
    if let Some(other) = second_server(&db).await {
        assert_eq!(me(&other, &cookie).await, StatusCode::OK);
        other.stop().await;
    }
    // Unused for three hours, well within its 12 h lifetime: ended.
    idle_for(&db, data.path(), 3 * 60 * 60 * 1000).await;
    let resp = s
        .client
        .get(format!("{}/api/v1/admin/auth/me", s.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(code(&resp.json().await.unwrap()), "unauthorized");
    s.stop().await;
}
