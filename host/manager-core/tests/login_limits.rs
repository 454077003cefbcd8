//! `POST /auth/login` with input no account can match (issue 19, item 3):
//! a username of half a megabyte, or one that is valid only once trimmed
//! from a long run of blanks, is a plain wrong-credentials answer, costs the
//! server nothing it keeps, and is never counted against the account the
//! trimmed text names. Run on SQLite only: what is checked here happens
//! before the database is asked anything.

mod support;

use std::sync::Arc;

use axum::http::StatusCode;
use manager_core::{Db, Manager, ManagerConfig, Store};
use serde_json::{Value, json};
use support::{Api, NoExecutor, NoRouting};

const PASSWORD: &str = "correct horse battery";

async fn api(dir: &tempfile::TempDir) -> Api {
    let url = format!("sqlite://{}", dir.path().join("picloud.db").display());
    let store = Store::new(Db::connect(&url).await.unwrap());
    let manager = Manager::new(
        store,
        Arc::new(NoExecutor),
        Arc::new(NoRouting),
        ManagerConfig::default(),
    );
    Api::serve(manager).await
}

async fn login(api: &Api, username: &str, password: &str) -> (StatusCode, Value) {
    api.call(
        "POST",
        "/auth/login",
        Some(json!({"username": username, "password": password})),
    )
    .await
}

fn assert_bad_credentials((status, body): (StatusCode, Value)) {
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_credentials")),
        "{body}"
    );
    assert_eq!(body["error"]["message"], "wrong username or password");
}

#[tokio::test]
async fn oversized_sign_in_input_is_bad_credentials_and_locks_no_account() {
    let dir = tempfile::tempdir().unwrap();
    let api = api(&dir).await;
    let (status, body) = api
        .call(
            "POST",
            "/users",
            Some(json!({"username": "ada", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    assert_bad_credentials(login(&api, &"a".repeat(512 << 10), PASSWORD).await);
    // Over-long names that trim to "ada": more failures than the account's
    // free ones, none of them counted against it.
    let padded = format!("{}ADA", " ".repeat(512 << 10));
    for _ in 0..8 {
        assert_bad_credentials(login(&api, &padded, PASSWORD).await);
    }
    // A password longer than any account's is refused the same way.
    assert_bad_credentials(login(&api, "ada", &"x".repeat(600 << 10)).await);

    let (status, body) = login(&api, "ada", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["username"], "ada");
}
