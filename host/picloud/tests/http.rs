//! The server as a user meets it: real binary wiring, real guest, over HTTP on
//! a loopback port from the OS. Every test runs twice: on a fresh SQLite file
//! and on a fresh database in a PostgreSQL cluster this process starts and stops.

#[macro_use]
mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Db, TOKEN, TestServer, code, config, eventually};

fn main() {
    testkit::harness::run_on_both_databases(tests![
        readme_walkthrough,
        admin_and_execute_require_a_token,
        bad_admin_requests_get_clear_4xx,
        user_requests_that_match_nothing_get_clear_errors,
        first_start_seeds_once_and_generates_a_token_once,
        two_apps_on_their_own_domains,
        users_sessions_and_tokens,
        lists_page_with_a_cursor,
        run_panel_and_app_statistics,
        the_run_panel_runs_on_one_of_the_apps_hosts,
        every_body_endpoint_refuses_bad_input_with_4xx,
        dashboard_is_served_at_admin,
    ])
}

async fn readme_walkthrough(db: Db) {
    let s = TestServer::start(&db).await;
    let health = s
        .client
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");
    let version: Value = s
        .client
        .get(format!("{}/version", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(version["api"], "v1");
    assert_eq!(version["wit"], "picloud:platform@0.2.4");
    assert!(version["schema"].as_i64().unwrap() >= 1);
    assert!(
        version["public_base_url"]
            .as_str()
            .unwrap()
            .starts_with("http://")
    );

    assert_eq!(
        s.call(Method::GET, "localhost", "/hello").await,
        (StatusCode::OK, "Hello, World!".into())
    );
    assert_eq!(
        s.call(Method::GET, "localhost:8080", "/hello?name=Pi")
            .await
            .1,
        "Hello, Pi!"
    );

    // Create a script, bind a route, call it.
    let id = s
        .script("greet", "log::info(`greeting ${request.params.name}`);\n#{ greeting: `Hi ${request.params.name}` }")
        .await;
    let (status, route) = s.route(&id, "GET", "/greet/:name").await;
    assert_eq!(status, StatusCode::CREATED, "{route}");
    let (status, body) = s.call(Method::GET, "localhost", "/greet/Ada").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"greeting": "Hi Ada"})
    );

    // While `default` is the only app, a script may leave its app out.
    let (status, script) = s
        .admin(
            Method::POST,
            "/api/v1/admin/scripts",
            Some(json!({"name": "solo", "source": "1"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{script}");
    assert_eq!(script["app_id"], "00000000-0000-4000-8000-000000000001");

    // Its execution log, with the log line.
    let (status, log) = s
        .admin(
            Method::GET,
            &format!("/api/v1/admin/scripts/{id}/executions"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let entry = &log["executions"][0];
    assert_eq!(entry["status"], 200);
    assert_eq!(entry["outcome"], "ok");
    assert!(entry["fuel_used"].as_i64().unwrap() > 0);
    let (_, detail) = s
        .admin(
            Method::GET,
            &format!("/api/v1/admin/executions/{}", entry["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(
        detail["logs"],
        json!([{"level": "info", "message": "greeting Ada"}])
    );

    // A compile error names line and column.
    let (status, body) = s
        .admin(
            Method::POST,
            "/api/v1/admin/scripts",
            Some(json!({"app_id": "default", "name": "broken", "source": "let x = 1;\nlet y = ;"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&body), "compile_error");
    assert_eq!(body["error"]["line"], 2);
    assert_eq!(body["error"]["column"], 9);

    // A limit error: stopped, reported and logged, and the server keeps serving.
    let spin = s.script("spin", "loop { }").await;
    s.route(&spin, "GET", "/spin").await;
    let (status, body) = s.call(Method::GET, "localhost", "/spin").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        code(&serde_json::from_str(&body).unwrap()),
        "fuel_exhausted"
    );
    let (_, log) = s
        .admin(
            Method::GET,
            &format!("/api/v1/admin/executions?script={spin}&status=error"),
            None,
        )
        .await;
    assert_eq!(log["executions"][0]["error"]["code"], "fuel_exhausted");
    assert_eq!(
        s.call(Method::GET, "localhost", "/hello").await.0,
        StatusCode::OK
    );
    s.stop().await;
}

async fn admin_and_execute_require_a_token(db: Db) {
    let s = TestServer::start(&db).await;
    let hello = s.admin(Method::GET, "/api/v1/admin/scripts", None).await.1["scripts"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (method, path) in [
        (Method::GET, "/api/v1/admin/scripts".to_owned()),
        (Method::POST, "/api/v1/admin/scripts".to_owned()),
        (Method::GET, "/api/v1/admin/apps".to_owned()),
        (Method::GET, "/api/v1/admin/executions".to_owned()),
        (Method::DELETE, format!("/api/v1/admin/scripts/{hello}")),
        (Method::GET, format!("/api/v1/execute/{hello}")),
        (Method::GET, "/api/v1/admin/no-such-thing".to_owned()),
        (Method::POST, "/api/v1/admin/auth/logout".to_owned()),
        (Method::GET, "/api/v1/admin/auth/me".to_owned()),
        (Method::GET, "/api/v1/admin/users".to_owned()),
        (Method::POST, "/api/v1/admin/users".to_owned()),
        (Method::DELETE, "/api/v1/admin/users/ada".to_owned()),
        (Method::PUT, "/api/v1/admin/users/ada/password".to_owned()),
        (Method::GET, "/api/v1/admin/tokens".to_owned()),
        (Method::POST, "/api/v1/admin/tokens".to_owned()),
        (Method::DELETE, "/api/v1/admin/tokens/x".to_owned()),
    ] {
        for (name, value) in [
            ("", ""),
            ("authorization", "Bearer wrong-token"),
            ("authorization", "Basic dXNlcjpwYXNz"),
            ("cookie", "picloud_session=not-a-session"),
        ] {
            let auth = (!name.is_empty()).then_some((name, value));
            let mut req = s
                .client
                .request(method.clone(), format!("{}{path}", s.base));
            if let Some((name, value)) = auth {
                req = req.header(name, value);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(
                resp.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {auth:?}"
            );
            let body: Value = resp.json().await.unwrap();
            assert_eq!(code(&body), "unauthorized");
        }
    }
    // Every operation the OpenAPI document lists (generated from the same
    // registrations as the router) rejects anonymous and wrong credentials,
    // except sign-in; and with a token, each reaches a handler rather than
    // the unknown-endpoint fallback.
    let doc: Value = s
        .client
        .get(format!("{}/api/v1/openapi.json", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let base_path = doc["servers"][0]["url"].as_str().unwrap().to_owned();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            // A path item also holds fields that are not operations (`servers`).
            if !["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            let method = method.to_uppercase().parse::<Method>().unwrap();
            operations += 1;
            assert!(
                op["responses"]["500"].is_object(),
                "{method} {path} documents its errors"
            );
            // Path parameters get a placeholder.
            let concrete: String = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { "x" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            // Sign-in, and the platform's endpoints outside the admin API
            // (their path item names its own server), are the public ones.
            let public = op["security"].as_array().is_some_and(|s| s.is_empty());
            assert_eq!(
                public,
                path == "/auth/login" || item.get("servers").is_some(),
                "{method} {path}"
            );
            if public {
                continue;
            }
            let url = format!("{}{base_path}{concrete}", s.base);
            assert!(op["responses"]["401"].is_object(), "{method} {path}");
            for (name, value) in [
                ("x-none", ""),
                ("authorization", "Bearer wrong-token"),
                ("cookie", "picloud_session=not-a-session"),
            ] {
                let resp = s
                    .client
                    .request(method.clone(), &url)
                    .header(name, value)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    resp.status(),
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} with {name}"
                );
            }
            let resp = s
                .client
                .request(method.clone(), &url)
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            let fallback = body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("admin endpoint"));
            assert!(
                !fallback,
                "{method} {path} is documented but not served: {body}"
            );
            assert!(
                op["responses"][status.as_str()].is_object(),
                "{method} {path} answered {status}, which it does not document: {body}"
            );
        }
    }
    assert!(operations >= 35, "{operations} operations documented");
    let mut ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "operationIds are unique");

    // With the token, execute-by-id runs any script regardless of domains.
    let resp = s
        .client
        .get(format!("{}/api/v1/execute/{hello}?name=Direct", s.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "Hello, Direct!");
    s.stop().await;
}

/// Method, path, body, expected status, expected code, a word the message names.
type BadCase = (
    Method,
    String,
    Option<Value>,
    StatusCode,
    &'static str,
    &'static str,
);

async fn bad_admin_requests_get_clear_4xx(db: Db) {
    let s = TestServer::start(&db).await;
    let id = s.script("thing", "\"thing\"").await;
    let cases: Vec<BadCase> = vec![
        (
            Method::POST,
            format!("/api/v1/admin/scripts/{id}/routes"),
            Some(json!({"method": "GET", "path": "/api/evil"})),
            StatusCode::BAD_REQUEST,
            "invalid_route_path",
            "reserved",
        ),
        (
            Method::POST,
            format!("/api/v1/admin/scripts/{id}/routes"),
            Some(json!({"method": "GET", "path": "/admin"})),
            StatusCode::BAD_REQUEST,
            "invalid_route_path",
            "reserved",
        ),
        (
            Method::POST,
            format!("/api/v1/admin/scripts/{id}/routes"),
            Some(json!({"method": "GET", "path": "/users/{id}"})),
            StatusCode::BAD_REQUEST,
            "invalid_route_path",
            ":name",
        ),
        (
            Method::POST,
            format!("/api/v1/admin/scripts/{id}/routes"),
            Some(json!({"method": "FETCH", "path": "/x"})),
            StatusCode::BAD_REQUEST,
            "invalid_method",
            "FETCH",
        ),
        (
            Method::POST,
            format!("/api/v1/admin/scripts/{id}/routes"),
            Some(json!({"method": "GET", "path": "/hello"})),
            StatusCode::CONFLICT,
            "route_conflict",
            "/hello",
        ),
        (
            Method::POST,
            format!("/api/v1/admin/scripts/{id}/routes"),
            Some(json!({"method": "GET", "path": "/x", "host": "elsewhere.example"})),
            StatusCode::BAD_REQUEST,
            "host_not_claimed",
            "elsewhere.example",
        ),
        (
            Method::POST,
            "/api/v1/admin/scripts".into(),
            Some(json!({"app_id": "default", "name": "thing", "source": "1"})),
            StatusCode::CONFLICT,
            "script_name_taken",
            "thing",
        ),
        (
            Method::POST,
            "/api/v1/admin/scripts".into(),
            Some(json!({"app_id": "default", "name": "bad name!", "source": "1"})),
            StatusCode::BAD_REQUEST,
            "invalid_name",
            "bad name!",
        ),
        (
            Method::POST,
            "/api/v1/admin/scripts".into(),
            Some(json!({"app_id": "default", "source": "1"})),
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "name",
        ),
        (
            Method::POST,
            "/api/v1/admin/scripts".into(),
            Some(json!({"app_id": "default", "name": "a", "source": "1", "colour": "red"})),
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "colour",
        ),
        (
            Method::POST,
            "/api/v1/admin/scripts".into(),
            Some(json!({"app_id": "default", "name": 5, "source": "1"})),
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "name",
        ),
        (
            Method::POST,
            "/api/v1/admin/scripts".into(),
            Some(json!({"name": "a", "source": "1", "app_id": "nope"})),
            StatusCode::NOT_FOUND,
            "not_found",
            "nope",
        ),
        (
            Method::GET,
            "/api/v1/admin/scripts/00000000-0000-0000-0000-000000000000".into(),
            None,
            StatusCode::NOT_FOUND,
            "not_found",
            "script",
        ),
        (
            Method::GET,
            "/api/v1/admin/apps?cursor=not-ours".into(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
            "not-ours",
        ),
        (
            Method::GET,
            "/api/v1/admin/scripts?colour=red".into(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "colour",
        ),
        (
            Method::GET,
            "/api/v1/admin/executions?since=yesterday".into(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_time",
            "since",
        ),
        (
            Method::GET,
            "/api/v1/admin/executions?limit=100000".into(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_limit",
            "100000",
        ),
        (
            Method::GET,
            "/api/v1/admin/executions?status=weird".into(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_status",
            "weird",
        ),
        (
            Method::GET,
            "/api/v1/admin/executions?cursor=zzz".into(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
            "zzz",
        ),
        (
            Method::GET,
            "/api/v1/admin/executions?limit=abc".into(),
            None,
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "limit",
        ),
        (
            Method::GET,
            "/api/v1/admin/nope".into(),
            None,
            StatusCode::NOT_FOUND,
            "not_found",
            "GET /api/v1/admin/nope",
        ),
        (
            Method::PATCH,
            "/api/v1/admin/apps/default".into(),
            Some(json!({"limits": {"max_log_lines": 5_000_000_000u64}})),
            StatusCode::BAD_REQUEST,
            "invalid_limits",
            "above its maximum of 10000",
        ),
        // Above the maximum is refused, not stored (nor quietly capped).
        (
            Method::PATCH,
            "/api/v1/admin/apps/default".into(),
            Some(json!({"limits": {"fuel": 99_999_999_999u64}})),
            StatusCode::BAD_REQUEST,
            "invalid_limits",
            "'fuel' is 99999999999, above its maximum of 10000000000",
        ),
        (
            Method::PATCH,
            "/api/v1/admin/apps/default".into(),
            Some(json!({"limits": {"fuel_budget": 5}})),
            StatusCode::BAD_REQUEST,
            "invalid_limits",
            "fuel_budget",
        ),
    ];
    for (method, path, body, status, want_code, mention) in cases {
        let (got, resp) = s.admin(method.clone(), &path, body.clone()).await;
        assert_eq!(got, status, "{method} {path} {body:?}: {resp}");
        assert_eq!(code(&resp), want_code, "{method} {path}: {resp}");
        let message = resp["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(mention),
            "{method} {path}: message {message:?} should mention {mention:?}"
        );
    }
    // A PATCH that fails validation changes nothing, not even the slug.
    let (status, _) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps",
            Some(json!({"slug": "keep"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = s
        .admin(
            Method::PATCH,
            "/api/v1/admin/apps/keep",
            Some(json!({"slug": "kept", "name": " "})),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_name")
    );
    let (status, _) = s.admin(Method::GET, "/api/v1/admin/apps/keep", None).await;
    assert_eq!(status, StatusCode::OK, "the app kept its slug");
    // Malformed JSON and a missing content type.
    let resp = s
        .client
        .post(format!("{}/api/v1/admin/scripts", s.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(&resp.json().await.unwrap()), "invalid_json");
    let resp = s
        .client
        .post(format!("{}/api/v1/admin/scripts", s.base))
        .bearer_auth(TOKEN)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(&resp.json().await.unwrap()), "invalid_content_type");
    // A huge literal within the body limit, over the 256 KiB source limit.
    let literal = format!("let s = \"{}\"; s.len()", "x".repeat(300_000));
    let (status, body) = s
        .admin(
            Method::POST,
            "/api/v1/admin/scripts",
            Some(json!({"app_id": "default", "name": "literal", "source": literal})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "source_too_large");
    // An oversized body.
    let huge = "x".repeat(2 << 20);
    let resp = s
        .client
        .post(format!("{}/api/v1/admin/scripts", s.base))
        .bearer_auth(TOKEN)
        .json(&json!({"app_id": "default", "name": "big", "source": huge}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(resp.headers()["connection"], "close");
    assert_eq!(code(&resp.json().await.unwrap()), "payload_too_large");
    s.stop().await;

    // The limit is the operator's (`--max-body`): a 200 KiB source, within
    // the 256 KiB source limit, is refused by a server configured for 128 KiB,
    // and the message says the limit.
    let data = tempfile::tempdir().unwrap();
    let mut small = config(data.path().to_owned(), &db, Some(TOKEN));
    small.control.manager.max_body_bytes = 128 * 1024;
    let s = TestServer::at(small).await;
    let resp = s
        .client
        .post(format!("{}/api/v1/admin/scripts", s.base))
        .bearer_auth(TOKEN)
        .json(&json!({"app_id": "default", "name": "big", "source": "x".repeat(200 * 1024)}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body = resp.json::<Value>().await.unwrap();
    assert_eq!(code(&body), "payload_too_large");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("131072 bytes"),
        "{body}"
    );
    s.stop().await;
}

async fn user_requests_that_match_nothing_get_clear_errors(db: Db) {
    let s = TestServer::start(&db).await;
    let (status, body) = s.call(Method::GET, "nobody.example", "/hello").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body.contains("unknown_host") && body.contains("nobody.example"),
        "{body}"
    );
    let (status, body) = s.call(Method::GET, "localhost", "/no/such/route").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body.contains("no_route") && body.contains("/no/such/route"),
        "{body}"
    );
    let resp = s
        .client
        .delete(format!("{}/hello", s.base))
        .header("host", "localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(resp.headers()["allow"], "GET");
    // HEAD falls back to GET, without a body.
    let (status, body) = s.call(Method::HEAD, "localhost", "/hello").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, ""));
    // An error sent before a request body is read closes the connection.
    let resp = s
        .client
        .post(format!("{}/nowhere", s.base))
        .header("host", "localhost")
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(resp.headers()["connection"], "close");
    // A request body over the limit.
    let echo = s.script("echo", "request.body.len()").await;
    s.route(&echo, "POST", "/echo").await;
    let resp = s
        .client
        .post(format!("{}/echo", s.base))
        .header("host", "localhost")
        .body("x".repeat(5 << 20))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // The unread body ends the connection, and the client is told so (the
    // next request below then opens a new one instead of failing).
    assert_eq!(resp.headers()["connection"], "close");
    let resp = s
        .client
        .post(format!("{}/echo", s.base))
        .header("host", "localhost")
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), "3");
    // A response over the app's limit is refused with 502.
    let limits = json!({"limits": {"max_response_bytes": 1000}});
    let (status, app) = s
        .admin(Method::PATCH, "/api/v1/admin/apps/default", Some(limits))
        .await;
    assert_eq!(status, StatusCode::OK, "{app}");
    let big = s
        .script("big", "let s = \"x\"; for i in 0..11 { s += s; } s")
        .await;
    s.route(&big, "GET", "/big").await;
    let (status, body) = s.call(Method::GET, "localhost", "/big").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(
        body.contains("response_too_large") && !body.contains("2048"),
        "{body}"
    );
    s.stop().await;
}

async fn first_start_seeds_once_and_generates_a_token_once(db: Db) {
    let data = tempfile::tempdir().unwrap();
    let first = TestServer::at(config(data.path().to_owned(), &db, None)).await;
    assert_eq!(
        first.call(Method::GET, "localhost", "/hello").await.0,
        StatusCode::OK
    );
    let token = first
        .stop()
        .await
        .expect("a token is generated on a fresh install");
    assert!(token.starts_with("pc_") && token.len() > 40);

    let second = TestServer::at(config(data.path().to_owned(), &db, None)).await;
    let scripts: Value = second
        .client
        .get(format!("{}/api/v1/admin/scripts", second.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        scripts["scripts"].as_array().unwrap().len(),
        1,
        "hello is seeded once: {scripts}"
    );
    // Deleting hello is respected only until the app is empty again, by design:
    // a restart with no scripts in the default app seeds it afresh.
    assert_eq!(second.stop().await, None, "no second token");
}

async fn two_apps_on_their_own_domains(db: Db) {
    let s = TestServer::start(&db).await;
    let post = |path: &str, body: Value| {
        let path = path.to_owned();
        let s = &s;
        async move { s.admin(Method::POST, &path, Some(body)).await }
    };
    for slug in ["alpha", "beta"] {
        assert_eq!(
            post("/api/v1/admin/apps", json!({"slug": slug})).await.0,
            StatusCode::CREATED
        );
    }
    assert_eq!(
        post(
            "/api/v1/admin/apps/alpha/domains",
            json!({"pattern": "api.alpha.test"})
        )
        .await
        .0,
        StatusCode::CREATED
    );
    assert_eq!(
        post(
            "/api/v1/admin/apps/beta/domains",
            json!({"pattern": "{tenant}.beta.test"})
        )
        .await
        .0,
        StatusCode::CREATED
    );
    assert_eq!(
        post(
            "/api/v1/admin/apps/alpha/domains",
            json!({"pattern": "vip.beta.test"})
        )
        .await
        .0,
        StatusCode::CREATED
    );
    let (status, body) = post(
        "/api/v1/admin/apps/alpha/domains",
        json!({"pattern": "{x}.beta.test"}),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "domain_taken")
    );
    assert!(
        body["error"]["message"].as_str().unwrap().contains("beta"),
        "{body}"
    );

    // With more than one app, a script must name its app.
    let (status, body) = post(
        "/api/v1/admin/scripts",
        json!({"name": "orphan", "source": "1"}),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "app_required"),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("app_id"),
        "{body}"
    );

    // The same path in two apps, served by different scripts.
    let mut ids = Vec::new();
    for (app, source) in [
        ("alpha", "`alpha ${request.host_params.tenant ?? \"-\"}`"),
        ("beta", "`beta ${request.host_params.tenant}`"),
    ] {
        let (status, script) = post(
            "/api/v1/admin/scripts",
            json!({"app_id": app, "name": "who", "source": source}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{script}");
        let id = script["id"].as_str().unwrap().to_owned();
        assert_eq!(s.route(&id, "GET", "/who").await.0, StatusCode::CREATED);
        ids.push(id);
    }
    assert_eq!(
        s.route(&ids[0], "GET", "/who").await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        s.call(Method::GET, "api.alpha.test", "/who").await.1,
        "alpha -"
    );
    assert_eq!(
        s.call(Method::GET, "API.Alpha.test:8443", "/who").await.1,
        "alpha -"
    );
    assert_eq!(
        s.call(Method::GET, "acme.beta.test", "/who").await.1,
        "beta acme"
    );
    assert_eq!(
        s.call(Method::GET, "vip.beta.test", "/who").await.1,
        "alpha -",
        "exact beats wildcard"
    );
    assert_eq!(
        s.call(Method::GET, "localhost", "/who").await.0,
        StatusCode::NOT_FOUND,
        "the default app has no /who"
    );

    // Each app lists only its own routes.
    let (_, listed) = s
        .admin(Method::GET, "/api/v1/admin/apps/beta/routes", None)
        .await;
    assert_eq!(
        (
            listed["routes"].as_array().unwrap().len(),
            listed["routes"][0]["script_id"].clone()
        ),
        (1, json!(ids[1]))
    );

    // routes:check and routes:match answer as creation and dispatch do.
    let (_, verdict) = post(
        "/api/v1/admin/routes:check",
        json!({"app_id": "beta", "method": "GET", "path": "/who"}),
    )
    .await;
    assert_eq!(verdict["ok"], false);
    assert_eq!(verdict["conflict"]["script_id"], ids[1]);
    let (_, verdict) = post(
        "/api/v1/admin/routes:check",
        json!({"app_id": "beta", "method": "GET", "path": "/other"}),
    )
    .await;
    assert_eq!(verdict["ok"], true);
    let (_, hit) = post(
        "/api/v1/admin/routes:match",
        json!({"host": "acme.beta.test", "method": "get", "path": "/who"}),
    )
    .await;
    assert_eq!(
        (
            hit["matched"].clone(),
            hit["app"]["slug"].clone(),
            hit["script_id"].clone()
        ),
        (json!(true), json!("beta"), json!(ids[1]))
    );
    assert_eq!(hit["host_params"], json!({"tenant": "acme"}));
    let (_, miss) = post(
        "/api/v1/admin/routes:match",
        json!({"host": "nobody.test", "method": "GET", "path": "/who"}),
    )
    .await;
    assert_eq!(miss["reason"], "unknown_host");

    // Renaming keeps the old slug as a permanent redirect.
    let (status, _) = s
        .admin(
            Method::PATCH,
            "/api/v1/admin/apps/alpha",
            Some(json!({"slug": "gamma"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/api/v1/admin/apps/alpha/domains", s.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        resp.headers()["location"],
        "/api/v1/admin/apps/gamma/domains"
    );
    // The app lists its earlier slug.
    let (status, history) = s
        .admin(Method::GET, "/api/v1/admin/apps/gamma/slugs", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let slugs = history["slugs"].as_array().unwrap();
    assert_eq!(slugs.len(), 1, "{history}");
    assert_eq!(slugs[0]["slug"], "alpha");
    assert!(
        slugs[0]["retired_at"].as_str().unwrap().ends_with('Z'),
        "{history}"
    );

    // A claim that a host-scoped route depends on cannot be dropped from under it.
    let (status, route) = s
        .admin(
            Method::POST,
            &format!("/api/v1/admin/scripts/{}/routes", ids[1]),
            Some(json!({"method": "GET", "path": "/scoped", "host": "{t}.beta.test"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{route}");
    let (_, domains) = s
        .admin(Method::GET, "/api/v1/admin/apps/beta/domains", None)
        .await;
    let domain = domains["domains"][0]["id"].as_str().unwrap().to_owned();
    let (status, body) = s
        .admin(
            Method::DELETE,
            &format!("/api/v1/admin/apps/beta/domains/{domain}"),
            None,
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "domain_in_use")
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/scoped"),
        "{body}"
    );
    assert_eq!(
        s.call(Method::GET, "acme.beta.test", "/scoped").await.1,
        "beta acme",
        "the refused delete changed nothing"
    );
    let route_id = route["id"].as_str().unwrap();
    let (status, _) = s
        .admin(
            Method::DELETE,
            &format!("/api/v1/admin/scripts/{}/routes/{route_id}", ids[1]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s
        .admin(
            Method::DELETE,
            &format!("/api/v1/admin/apps/beta/domains/{domain}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Deleting an app takes its domains and routes with it, at once.
    let (status, _) = s
        .admin(Method::DELETE, "/api/v1/admin/apps/beta", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = s.call(Method::GET, "acme.beta.test", "/who").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("unknown_host"), "{body}");
    let (status, _) = s
        .admin(
            Method::GET,
            &format!("/api/v1/admin/scripts/{}", ids[1]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    s.stop().await;
}

/// Signs in; returns status, body and the session cookie (`name=value`).
async fn login(
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
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body, cookie)
}

/// A request authenticated by a session cookie, with an optional CSRF token.
async fn with_cookie(
    s: &TestServer,
    method: Method,
    path: &str,
    cookie: &str,
    csrf: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = s
        .client
        .request(method, format!("{}{path}", s.base))
        .header("cookie", cookie);
    if let Some(csrf) = csrf {
        req = req.header("x-csrf-token", csrf);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn users_sessions_and_tokens(db: Db) {
    let s = TestServer::start(&db).await;
    let post = |path: &'static str, body: Value| s.admin(Method::POST, path, Some(body));
    const PASSWORD: &str = "correct horse battery";

    // Users are created by an admin; the rules are checked and named.
    let (status, ada) = post(
        "/api/v1/admin/users",
        json!({"username": "Ada", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ada}");
    assert_eq!(ada["username"], "ada");
    assert!(ada.get("password_hash").is_none(), "{ada}");
    let (status, body) = post(
        "/api/v1/admin/users",
        json!({"username": "eve", "password": "short"}),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "weak_password")
    );
    let (status, body) = post(
        "/api/v1/admin/users",
        json!({"username": "ada", "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "username_taken")
    );

    // A wrong password and an unknown user get the same answer.
    for (user, password) in [("ada", "wrong password!!"), ("nobody", PASSWORD)] {
        let (status, body, cookie) = login(&s, user, password).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNAUTHORIZED, "bad_credentials")
        );
        assert_eq!(body["error"]["message"], "wrong username or password");
        assert!(cookie.is_none());
    }

    // Sign-in sets an HttpOnly, SameSite=Strict cookie (not Secure over plain HTTP).
    let (status, signed_in, set_cookie) = login(&s, "ADA", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{signed_in}");
    let set_cookie = set_cookie.expect("a session cookie");
    assert!(set_cookie.starts_with("picloud_session="), "{set_cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=3600"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let csrf = signed_in["csrf_token"].as_str().unwrap().to_owned();
    // Behind a TLS-terminating proxy on this machine, the cookie is Secure.
    let behind_tls = s
        .client
        .post(format!("{}/api/v1/admin/auth/login", s.base))
        .header("x-forwarded-proto", "https")
        .json(&json!({"username": "ada", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    // It is also `__Host-` prefixed: no sibling host can plant or shadow it.
    let secure = behind_tls.headers()["set-cookie"].to_str().unwrap();
    assert!(secure.starts_with("__Host-picloud_session="), "{secure}");
    assert!(secure.contains("; Secure"), "{secure}");
    assert!(secure.contains("Path=/"), "{secure}");
    assert!(!secure.contains("Domain"), "{secure}");
    assert_eq!(signed_in["user"]["username"], "ada");

    // Reads need only the cookie; writes also the CSRF token.
    let (status, _) = with_cookie(&s, Method::GET, "/api/v1/admin/apps", &cookie, None, None).await;
    assert_eq!(status, StatusCode::OK);
    let app = json!({"slug": "cookie-app"});
    for csrf in [None, Some("wrong")] {
        let (status, body) = with_cookie(
            &s,
            Method::POST,
            "/api/v1/admin/apps",
            &cookie,
            csrf,
            Some(app.clone()),
        )
        .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::FORBIDDEN, "csrf_failed"),
            "{csrf:?}"
        );
    }
    let (status, _) = s
        .admin(Method::GET, "/api/v1/admin/apps/cookie-app", None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a refused write changes nothing"
    );
    let (status, body) = with_cookie(
        &s,
        Method::POST,
        "/api/v1/admin/apps",
        &cookie,
        Some(&csrf),
        Some(app),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, me) = with_cookie(
        &s,
        Method::GET,
        "/api/v1/admin/auth/me",
        &cookie,
        None,
        None,
    )
    .await;
    assert_eq!(
        (me["kind"].clone(), me["user"]["username"].clone()),
        (json!("session"), json!("ada"))
    );
    assert_eq!(me["csrf_token"], csrf.as_str());

    // Tokens: shown once, listed without the secret, usable, revocable.
    let (status, created) = with_cookie(
        &s,
        Method::POST,
        "/api/v1/admin/tokens",
        &cookie,
        Some(&csrf),
        Some(json!({"name": "ci"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("pc_"));
    assert_eq!(created["user_id"], ada["id"]);
    let as_token = |method: Method, path: &'static str| {
        s.client
            .request(method, format!("{}{path}", s.base))
            .bearer_auth(&token)
            .send()
    };
    let resp = as_token(Method::GET, "/api/v1/admin/auth/me")
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let me: Value = resp.json().await.unwrap();
    assert_eq!(
        (me["kind"].clone(), me["user"]["username"].clone()),
        (json!("token"), json!("ada"))
    );
    let (_, tokens) = s.admin(Method::GET, "/api/v1/admin/tokens", None).await;
    let listed = tokens["tokens"].as_array().unwrap();
    let ci = listed.iter().find(|t| t["name"] == "ci").expect("listed");
    assert!(ci["last_used_at"].is_string(), "{ci}");
    assert!(
        !tokens.to_string().contains(&token[3..]),
        "the secret is never listed"
    );
    let (status, _) = s
        .admin(
            Method::DELETE,
            &format!("/api/v1/admin/tokens/{}", ci["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let resp = as_token(Method::GET, "/api/v1/admin/auth/me")
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // Changing one's own password needs the current one, and ends other sessions.
    let (_, _, other) = login(&s, "ada", PASSWORD).await;
    let other = other.unwrap().split(';').next().unwrap().to_owned();
    let password_path = format!(
        "/api/v1/admin/users/{}/password",
        ada["id"].as_str().unwrap()
    );
    let new_password = "tr0ub4dor & 3 more words";
    let (status, body) = with_cookie(
        &s,
        Method::PUT,
        &password_path,
        &cookie,
        Some(&csrf),
        Some(json!({"password": new_password})),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "current_password_required")
    );
    let (status, body) = with_cookie(
        &s,
        Method::PUT,
        &password_path,
        &cookie,
        Some(&csrf),
        Some(json!({"password": new_password, "current_password": "not it at all"})),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "wrong_password")
    );
    let (status, body) = with_cookie(
        &s,
        Method::PUT,
        &password_path,
        &cookie,
        Some(&csrf),
        Some(json!({"password": new_password, "current_password": PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        with_cookie(&s, Method::GET, "/api/v1/admin/auth/me", &other, None, None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        with_cookie(
            &s,
            Method::GET,
            "/api/v1/admin/auth/me",
            &cookie,
            None,
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(login(&s, "ada", PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(login(&s, "ada", new_password).await.0, StatusCode::OK);

    // Sign-out revokes the session on the server, not just in the browser.
    let (status, _) = with_cookie(
        &s,
        Method::POST,
        "/api/v1/admin/auth/logout",
        &cookie,
        Some(&csrf),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        with_cookie(
            &s,
            Method::GET,
            "/api/v1/admin/auth/me",
            &cookie,
            None,
            None
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );

    // Failed sign-ins back off: after five, the account is locked for a while,
    // even for the right password.
    let (status, _) = post(
        "/api/v1/admin/users",
        json!({"username": "eve", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    for _ in 0..6 {
        assert_eq!(
            login(&s, "eve", "guess guess guess").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let resp = s
        .client
        .post(format!("{}/api/v1/admin/auth/login", s.base))
        .json(&json!({"username": "eve", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));
    assert_eq!(code(&resp.json().await.unwrap()), "too_many_attempts");

    // The last user cannot be deleted.
    let (status, _) = s
        .admin(Method::DELETE, "/api/v1/admin/users/eve", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = s
        .admin(Method::DELETE, "/api/v1/admin/users/ada", None)
        .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "last_user"));
    s.stop().await;

    // A session past its lifetime is refused (a server whose sessions last 0 s).
    let data = tempfile::tempdir().unwrap();
    let mut short = config(data.path().to_owned(), &db, Some(TOKEN));
    short.control.manager.session_ttl = std::time::Duration::ZERO;
    let s = TestServer::at(short).await;
    let (status, _) = s
        .admin(
            Method::POST,
            "/api/v1/admin/users",
            Some(json!({"username": "tim", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, cookie) = login(&s, "tim", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    let cookie = cookie.unwrap().split(';').next().unwrap().to_owned();
    assert_eq!(
        with_cookie(
            &s,
            Method::GET,
            "/api/v1/admin/auth/me",
            &cookie,
            None,
            None
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    s.stop().await;
}

async fn lists_page_with_a_cursor(db: Db) {
    let s = TestServer::start(&db).await;
    for i in 0..5 {
        let (status, _) = s
            .admin(
                Method::POST,
                "/api/v1/admin/apps",
                Some(json!({"slug": format!("app-{i}")})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        s.admin(
            Method::POST,
            "/api/v1/admin/scripts",
            Some(json!({"app_id": format!("app-{i}"), "name": "same", "source": "1"})),
        )
        .await;
    }
    // Five claims and five routes (one host-scoped) on app-0's script.
    for pattern in [
        "e.example",
        "a.example",
        "{x}.c.example",
        "d.example",
        "b.example",
    ] {
        let (status, body) = s
            .admin(
                Method::POST,
                "/api/v1/admin/apps/app-0/domains",
                Some(json!({ "pattern": pattern })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (_, scripts) = s
        .admin(Method::GET, "/api/v1/admin/scripts?app=app-0", None)
        .await;
    let script = scripts["scripts"][0]["id"].as_str().unwrap().to_owned();
    for (method, path, host) in [
        ("GET", "/z", None),
        ("POST", "/a", None),
        ("GET", "/a/b", None),
        ("GET", "/a", Some("a.example")),
        ("GET", "/a", None),
    ] {
        let (status, body) = s
            .admin(
                Method::POST,
                &format!("/api/v1/admin/scripts/{script}/routes"),
                Some(json!({ "method": method, "path": path, "host": host })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let script_routes = format!("/api/v1/admin/scripts/{script}/routes");
    for (path, field, key, total) in [
        ("/api/v1/admin/apps", "apps", "slug", 6),
        ("/api/v1/admin/scripts", "scripts", "id", 6),
        ("/api/v1/admin/apps/app-0/domains", "domains", "pattern", 5),
        ("/api/v1/admin/apps/app-0/routes", "routes", "id", 5),
        (script_routes.as_str(), "routes", "id", 5),
    ] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let url = match &cursor {
                Some(c) => format!("{path}?limit=2&cursor={c}"),
                None => format!("{path}?limit=2"),
            };
            let (status, page) = s.admin(Method::GET, &url, None).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let items = page[field].as_array().unwrap();
            assert!(items.len() <= 2);
            seen.extend(items.iter().map(|i| i[key].as_str().unwrap().to_owned()));
            pages += 1;
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            (seen.len(), unique.len(), pages),
            (total, total, 3),
            "{path}: {seen:?}"
        );
        if field == "domains" {
            assert_eq!(
                seen,
                [
                    "a.example",
                    "b.example",
                    "d.example",
                    "e.example",
                    "{x}.c.example"
                ]
            );
        }
    }
    // Routes page in path, method, host order.
    let (_, all) = s
        .admin(Method::GET, &format!("{script_routes}?limit=500"), None)
        .await;
    let order: Vec<String> = all["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{} {} {}", r["method"], r["path"], r["host"]))
        .collect();
    assert_eq!(
        order,
        [
            r#""GET" "/a" null"#,
            r#""GET" "/a" "a.example""#,
            r#""POST" "/a" null"#,
            r#""GET" "/a/b" null"#,
            r#""GET" "/z" null"#,
        ]
    );
    s.stop().await;
}

/// The dashboard's run panel (`POST /scripts/{id}/run`) and overview
/// (`GET /apps/{app}/stats`), as a developer uses them.
async fn run_panel_and_app_statistics(db: Db) {
    let s = TestServer::start(&db).await;
    let (status, _) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps",
            Some(json!({"slug": "shop"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, script) = s
        .admin(
            Method::POST,
            "/api/v1/admin/scripts",
            Some(json!({"app_id": "shop", "name": "echo", "source":
                "log::info(`id ${request.params.id}`);\n\
                 if request.query.fail == \"1\" { throw \"out of stock\" }\n\
                 response(201, #{ id: request.params.id, q: request.query.q, h: request.headers[\"x-test\"], m: request.method, body: request.body }, #{ \"x-served-by\": \"echo\" })"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{script}");
    let id = script["id"].as_str().unwrap();
    let run = format!("/api/v1/admin/scripts/{id}/run");

    // A request with everything the panel can set comes back whole.
    let (status, result) = s
        .admin(
            Method::POST,
            &run,
            Some(
                json!({"method": "post", "path": "/orders/42", "params": {"id": "42"},
                "query": "?q=x%20y", "headers": {"X-Test": "yes"}, "body": "hi"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["status"], 201);
    assert_eq!(result["headers"]["x-served-by"], "echo");
    assert_eq!(
        serde_json::from_str::<Value>(result["body"].as_str().unwrap()).unwrap(),
        json!({"id": "42", "q": "x y", "h": "yes", "m": "POST", "body": "hi"})
    );
    assert_eq!(
        result["logs"],
        json!([{"level": "info", "message": "id 42"}])
    );
    assert!(result["fuel_used"].as_u64().unwrap() > 0);
    assert!(result["duration_ms"].as_f64().unwrap() > 0.0);
    assert!(result["error"].is_null());

    // A failing script: the status a caller would get, and where it failed.
    let (status, failed) = s
        .admin(Method::POST, &run, Some(json!({"query": "fail=1"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(failed["status"], 500);
    assert_eq!(failed["error"]["code"], "runtime_error");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("out of stock")
    );
    assert_eq!(failed["error"]["line"], 2);
    assert!(failed["body"].is_null());

    // Both runs are in the log with trigger `test`, under the ids returned.
    let (_, detail) = s
        .admin(
            Method::GET,
            &format!(
                "/api/v1/admin/executions/{}",
                result["execution_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(detail["trigger"], "test");
    assert_eq!(detail["method"], "POST");
    assert_eq!(detail["path"], "/orders/42");
    assert_eq!(
        detail["logs"],
        json!([{"level": "info", "message": "id 42"}])
    );

    // Bad input names the problem.
    for (body, needle) in [
        (json!({"method": "GE T"}), "method"),
        (json!({"path": "orders"}), "path"),
        (json!({"headers": {"bad header": "x"}}), "header name"),
        (json!({"headers": {"x": "line\nbreak"}}), "header 'x'"),
    ] {
        let (status, error) = s.admin(Method::POST, &run, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert_eq!(code(&error), "invalid_run");
        assert!(
            error["error"]["message"].as_str().unwrap().contains(needle),
            "{error}"
        );
    }
    let (status, error) = s
        .admin(Method::POST, &run, Some(json!({"verb": "GET"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["error"]["message"].as_str().unwrap().contains("verb"));
    let (status, _) = s
        .admin(
            Method::POST,
            "/api/v1/admin/scripts/00000000-0000-4000-8000-00000000dead/run",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Statistics over the two runs: one failure, one script, every bucket.
    let (status, stats) = s
        .admin(Method::GET, "/api/v1/admin/apps/shop/stats?buckets=6", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(stats["total"], 2);
    assert_eq!(stats["errors"], 1);
    assert_eq!(stats["error_rate"], 0.5);
    assert_eq!(stats["script_count"], 1);
    assert_eq!(stats["bucket_seconds"], 4.0 * 3600.0);
    let buckets = stats["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 6);
    let last = &buckets[5];
    assert_eq!(
        (last["total"].as_i64(), last["errors"].as_i64()),
        (Some(2), Some(1))
    );
    let p50 = stats["p50_ms"].as_f64().unwrap();
    let p95 = stats["p95_ms"].as_f64().unwrap();
    assert!(p50 > 0.0 && p95 >= p50, "{stats}");

    // Other apps' executions do not count; an empty window has no percentiles.
    let (_, other) = s
        .admin(Method::GET, "/api/v1/admin/apps/default/stats", None)
        .await;
    assert_eq!(other["total"], 0);
    assert!(other["p50_ms"].is_null());
    assert_eq!(other["buckets"].as_array().unwrap().len(), 24);
    let (_, past) = s
        .admin(
            Method::GET,
            "/api/v1/admin/apps/shop/stats?since=2020-01-01T00:00:00Z&until=2020-01-02T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(past["total"], 0);
    assert_eq!(past["bucket_seconds"], 3600.0);
    for (query, expected) in [
        (
            "since=2020-01-02T00:00:00Z&until=2020-01-01T00:00:00Z",
            "invalid_window",
        ),
        ("buckets=0", "invalid_buckets"),
        ("since=yesterday", "invalid_time"),
    ] {
        let (status, error) = s
            .admin(
                Method::GET,
                &format!("/api/v1/admin/apps/shop/stats?{query}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {error}");
        assert_eq!(code(&error), expected);
    }
    s.stop().await;
}

/// `/admin` is the dashboard: a redirect to the apps page, the single-page
/// app's `index.html` for any page, and never HTML for a missing asset.
async fn dashboard_is_served_at_admin(db: Db) {
    let s = TestServer::start(&db).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = client
        .get(format!("{}/admin", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(resp.headers()["location"], "/admin/apps");

    let page = client
        .get(format!("{}/admin/apps/shop/settings", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["cache-control"], "no-cache");
    let etag = page.headers()["etag"].clone();
    let html = page.text().await.unwrap().to_ascii_lowercase();
    assert!(html.starts_with("<!doctype html>"), "{html}");
    let again = client
        .get(format!("{}/admin/apps", s.base))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    let missing = client
        .get(format!("{}/admin/_app/immutable/missing.js", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    s.stop().await;
}

/// Every operation that takes a JSON body, from the OpenAPI document, is fed
/// malformed JSON, wrong types, unknown and missing fields, invalid UTF-8,
/// Unicode edge cases and an oversized body: each answers 4xx in the error
/// shape, never 5xx, and the server stays up.
async fn every_body_endpoint_refuses_bad_input_with_4xx(db: Db) {
    let s = TestServer::start(&db).await;
    let doc: Value = s
        .client
        .get(format!("{}/api/v1/openapi.json", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let base_path = doc["servers"][0]["url"].as_str().unwrap().to_owned();
    let hello = s.admin(Method::GET, "/api/v1/admin/scripts", None).await.1["scripts"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let oversized = format!("{{\"name\": \"{}\"}}", "x".repeat(2 << 20));
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("truncated JSON", b"{\"name\": ".to_vec()),
        ("not an object", b"[1, 2, 3]".to_vec()),
        // serde builds a struct of optional fields from an array of nulls.
        ("an array of nulls", b"[null, null]".to_vec()),
        ("a bare string", b"\"hello\"".to_vec()),
        ("wrong types", br#"{"name": 5, "source": [], "slug": {}, "pattern": true, "password": 1, "method": null}"#.to_vec()),
        ("an unknown field", br#"{"surprise_field": 1}"#.to_vec()),
        ("invalid UTF-8", b"{\"name\": \"\xff\xfe\"}".to_vec()),
        ("a lone surrogate", br#"{"name": "\ud800", "slug": "\ud800", "pattern": "\ud800"}"#.to_vec()),
        ("NUL and RTL marks", "{\"name\": \"a\\u0000b\u{202e}\", \"slug\": \"\u{1F600}\", \"pattern\": \"\u{202e}.example\"}".as_bytes().to_vec()),
        ("deep nesting", format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes()),
        ("an oversized body", oversized.into_bytes()),
    ];
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("requestBody").is_none() {
                continue;
            }
            let method = method.to_uppercase().parse::<Method>().unwrap();
            // A document body is any JSON object: one with odd fields is a
            // document like another, so only the bodies that are not an
            // object (or not JSON) must be refused there.
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            let free_form = schema.get("$ref").is_none() && schema.get("properties").is_none();
            // Real ids where the path has them, so the body is what is wrong.
            let concrete: String = path
                .split('/')
                .map(|seg| match seg {
                    "{app}" => "default",
                    "{id}" if path.starts_with("/scripts") => hello.as_str(),
                    seg if seg.starts_with('{') => "x",
                    seg => seg,
                })
                .collect::<Vec<_>>()
                .join("/");
            let url = format!("{}{base_path}{concrete}", s.base);
            for (what, body) in &bodies {
                if free_form && matches!(*what, "wrong types" | "an unknown field") {
                    continue;
                }
                let resp = s
                    .client
                    .request(method.clone(), &url)
                    .bearer_auth(TOKEN)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                let status = resp.status();
                let answer: Value = resp.json().await.unwrap_or(Value::Null);
                assert!(
                    status.is_client_error(),
                    "{method} {path} with {what}: {status} {answer}"
                );
                assert!(
                    answer["error"]["code"].is_string() && answer["error"]["message"].is_string(),
                    "{method} {path} with {what}: {answer}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 10 * bodies.len(), "only {checked} requests");
    let (status, _) = s.admin(Method::GET, "/api/v1/admin/apps", None).await;
    assert_eq!(status, StatusCode::OK);
    s.stop().await;
}

/// The run panel's `host`: a tenant of a wildcard claim fills
/// `request.host_params`, the URL and the `Host` header, and the record
/// keeps the host; a host the app does not claim is refused.
async fn the_run_panel_runs_on_one_of_the_apps_hosts(db: Db) {
    let s = TestServer::start(&db).await;
    s.app_on("shop", "{tenant}.shops.test").await;
    let id = s
        .script_in(
            "shop",
            "whoami",
            "#{ tenant: request.host_params.tenant, url: request.url, host: request.headers.host }",
        )
        .await;
    let run = format!("/api/v1/admin/scripts/{id}/run");
    let (status, result) = s
        .admin(
            Method::POST,
            &run,
            Some(json!({"host": "ACME.shops.test", "path": "/me", "query": "a=1"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    let body: Value = serde_json::from_str(result["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"tenant": "acme", "url": "http://acme.shops.test/me?a=1", "host": "acme.shops.test"})
    );
    let execution = result["execution_id"].as_str().unwrap();
    let record = eventually(
        "the test run's record",
        std::time::Duration::from_secs(30),
        || async {
            let (status, record) = s
                .admin(
                    Method::GET,
                    &format!("/api/v1/admin/executions/{execution}"),
                    None,
                )
                .await;
            (status == StatusCode::OK).then_some(record)
        },
    )
    .await;
    assert_eq!(record["host"], "acme.shops.test");
    let (status, error) = s
        .admin(Method::POST, &run, Some(json!({"host": "bank.example"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(code(&error), "invalid_run");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not one of the app's domains ({tenant}.shops.test)"),
        "{error}"
    );
    s.stop().await;
}
