//! The correctness pass (issue 20), over HTTP against a real server, as a new
//! user meets each case: the first run from any address, routes that can
//! never be reached, renamed apps, and the contracts the docs state.

#[expect(
    unused_macros,
    reason = "none of these depend on the database engine; SQLite is enough"
)]
mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{TOKEN, TestServer, code, config, raw_exchange};

/// The first places a user looks: `127.0.0.1` (an admin host, where the
/// default app answers sandboxed), `localhost`, a LAN name that no app
/// claims yet (the 404 says how to claim it), and the public base URL's
/// host, which the default app claims at start, idempotently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_run_answers_where_users_look() {
    let data = tempfile::tempdir().unwrap();
    let mut cfg = config(data.path().to_owned(), &None, Some(TOKEN));
    cfg.control.public_base_url = Some("http://pi.example.test:8080/".into());
    let s = TestServer::at(cfg).await;

    // `curl 127.0.0.1:PORT/hello` (reqwest sends the address as the Host).
    let hello = s
        .client
        .get(format!("{}/hello", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(hello.status(), StatusCode::OK);
    assert_eq!(hello.headers()["content-security-policy"], "sandbox");
    assert_eq!(hello.text().await.unwrap(), "Hello, World!");
    let (status, body) = s.call(Method::GET, "localhost", "/hello").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "Hello, World!"));

    // The public base URL's host answers too.
    let (status, body) = s.call(Method::GET, "pi.example.test:8080", "/hello").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "Hello, World!"));

    // A LAN address: not claimed, and the answer says how to claim it.
    let (status, body) = s.call(Method::GET, "192.168.1.50:8080", "/hello").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(code(&body), "unknown_host");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("picloud domains add default 192.168.1.50"),
        "{body}"
    );

    // Hello World is seeded once: deleted, it stays deleted after a restart,
    // and the public host's claim is not added twice.
    let (status, scripts) = s
        .admin(Method::GET, "/api/v1/admin/scripts?app=default", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let hello = scripts["scripts"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = s
        .admin(
            Method::DELETE,
            &format!("/api/v1/admin/scripts/{hello}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    s.stop().await;
    let mut cfg = config(data.path().to_owned(), &None, Some(TOKEN));
    cfg.control.public_base_url = Some("http://pi.example.test:8080".into());
    let s = TestServer::at(cfg).await;
    let (status, _) = s.call(Method::GET, "localhost", "/hello").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, app) = s
        .admin(Method::GET, "/api/v1/admin/apps/default", None)
        .await;
    let patterns: Vec<&str> = app["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["pattern"].as_str().unwrap())
        .collect();
    assert_eq!(patterns, ["localhost", "pi.example.test"], "{app}");
    s.stop().await;

    // A host another app already claims is left to it.
    let other = tempfile::tempdir().unwrap();
    let s = TestServer::at(config(other.path().to_owned(), &None, Some(TOKEN))).await;
    s.app_on("taken", "pi.example.test").await;
    s.stop().await;
    let mut cfg = config(other.path().to_owned(), &None, Some(TOKEN));
    cfg.control.public_base_url = Some("https://pi.example.test".into());
    let s = TestServer::at(cfg).await;
    let (_, app) = s.admin(Method::GET, "/api/v1/admin/apps/taken", None).await;
    assert_eq!(app["domains"][0]["pattern"], "pi.example.test", "{app}");
    let (_, app) = s
        .admin(Method::GET, "/api/v1/admin/apps/default", None)
        .await;
    assert_eq!(app["domains"].as_array().unwrap().len(), 1, "{app}");
    s.stop().await;
}

/// A route that nothing can reach is not accepted silently: the answer says
/// where it is reachable (nowhere) and why; claims and routes that would
/// take another app's host-scoped routes away are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_that_can_never_be_reached_are_named() {
    let s = TestServer::start(&None).await;

    // An app without a domain: the route answers only through execute-by-id.
    let (status, _) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps",
            Some(json!({"slug": "lonely"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, check) = s
        .admin(
            Method::POST,
            "/api/v1/admin/routes:check",
            Some(json!({"app_id": "lonely", "method": "GET", "path": "/x"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(check["ok"], true);
    assert_eq!(check["reachable_at"], json!([]));
    assert!(
        check["warnings"][0]
            .as_str()
            .unwrap()
            .contains("claims no domain"),
        "{check}"
    );
    let (status, script) = s
        .admin(
            Method::POST,
            "/api/v1/admin/scripts",
            Some(json!({"app_id": "lonely", "name": "x", "source": "\"x\""})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = script["id"].as_str().unwrap();
    let (status, route) = s.route(id, "GET", "/x").await;
    assert_eq!(status, StatusCode::CREATED, "{route}");
    assert_eq!(route["reachable_at"], json!([]));
    let warning = route["warnings"][0].as_str().unwrap();
    assert!(
        warning.contains("claims no domain") && warning.contains(&format!("/api/v1/execute/{id}")),
        "{warning}"
    );
    // The default app's routes name the URLs that answer.
    let (_, routes) = s
        .admin(Method::GET, "/api/v1/admin/apps/default/routes", None)
        .await;
    let port = s.server.as_ref().unwrap().addr.port();
    let hello = &routes["routes"][0];
    assert_eq!(hello["warnings"], json!([]));
    let urls: Vec<&str> = hello["reachable_at"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap())
        .collect();
    assert_eq!(urls[0], format!("http://localhost:{port}/hello"), "{hello}");

    // shop serves {tenant}.shop.test, with a route only for new.shop.test.
    s.app_on("shop", "{tenant}.shop.test").await;
    let (status, script) = s
        .admin(
            Method::POST,
            "/api/v1/admin/scripts",
            Some(json!({"app_id": "shop", "name": "promo", "source": "\"promo\""})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let promo = script["id"].as_str().unwrap().to_owned();
    let (status, body) = s
        .admin(
            Method::POST,
            &format!("/api/v1/admin/scripts/{promo}/routes"),
            Some(json!({"method": "GET", "path": "/promo", "host": "new.shop.test"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["reachable_at"][0],
        format!("http://new.shop.test:{port}/promo")
    );

    // Another app claiming new.shop.test exactly would take that route's
    // only host: refused, naming the route and its app, unless forced.
    let (status, _) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps",
            Some(json!({"slug": "rival"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let claim = |force: bool| {
        s.admin(
            Method::POST,
            "/api/v1/admin/apps/rival/domains",
            Some(json!({"pattern": "new.shop.test", "force": force})),
        )
    };
    let (status, body) = claim(false).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(code(&body), "domain_shadows_routes");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("/promo") && message.contains("'shop'"),
        "{message}"
    );
    let (status, body) = s.call(Method::GET, "new.shop.test", "/promo").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "promo"));
    // A claim elsewhere in the wildcard takes nothing a route needs.
    let (status, body) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps/rival/domains",
            Some(json!({"pattern": "other.shop.test"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Forced, the claim is made, and shop's route says it is now unreachable.
    let (status, body) = claim(true).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, routes) = s
        .admin(
            Method::GET,
            &format!("/api/v1/admin/scripts/{promo}/routes"),
            None,
        )
        .await;
    assert_eq!(routes["routes"][0]["reachable_at"], json!([]), "{routes}");
    assert!(
        routes["routes"][0]["warnings"][0]
            .as_str()
            .unwrap()
            .contains("'rival'"),
        "{routes}"
    );

    // A new route of shop scoped to a host rival claims exactly: refused,
    // and routes:check says so before anything is written.
    let (status, check) = s
        .admin(
            Method::POST,
            "/api/v1/admin/routes:check",
            Some(
                json!({"app_id": "shop", "method": "GET", "path": "/o", "host": "other.shop.test"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(check["ok"], false, "{check}");
    assert_eq!(check["code"], "host_claimed_by_other_app", "{check}");
    let (status, body) = s
        .admin(
            Method::POST,
            &format!("/api/v1/admin/scripts/{promo}/routes"),
            Some(json!({"method": "GET", "path": "/o", "host": "other.shop.test"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(code(&body), "host_claimed_by_other_app");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'rival'"),
        "{body}"
    );
    s.stop().await;
}

/// `?app=` and `app_id` with an old slug follow the history to the app
/// that holds it now, and the answer says so in a `Warning` header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_slug_is_followed_everywhere() {
    let s = TestServer::start(&None).await;
    let (status, app) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps",
            Some(json!({"slug": "before"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = s
        .admin(
            Method::PATCH,
            "/api/v1/admin/apps/before",
            Some(json!({"slug": "after"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let send = |method: Method, path: &str, body: Option<Value>| {
        let mut request = s
            .client
            .request(method, format!("{}{path}", s.base))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    let created = send(
        Method::POST,
        "/api/v1/admin/scripts",
        Some(json!({"app_id": "before", "name": "s", "source": "1"})),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let warning = created.headers()["warning"].to_str().unwrap().to_owned();
    assert!(
        warning.starts_with("299 ") && warning.contains("'after'"),
        "{warning}"
    );
    let script: Value = created.json().await.unwrap();
    assert_eq!(script["app_id"], app["id"]);
    for path in [
        "/api/v1/admin/scripts?app=before",
        "/api/v1/admin/executions?app=before",
    ] {
        let listed = send(Method::GET, path, None).await.unwrap();
        assert_eq!(listed.status(), StatusCode::OK, "{path}");
        assert!(listed.headers().contains_key("warning"), "{path}");
    }
    let listed: Value = send(Method::GET, "/api/v1/admin/scripts?app=before", None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["scripts"][0]["name"], "s");
    // The current slug carries no warning.
    let listed = send(Method::GET, "/api/v1/admin/scripts?app=after", None)
        .await
        .unwrap();
    assert!(!listed.headers().contains_key("warning"));
    s.stop().await;
}

/// What the docs promise: limits above the maximum refused, JSON on every
/// error, HEAD's length, helpful messages for `*` wildcards and raw UTF-8
/// hosts, and public misses that do not name apps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_contracts_hold() {
    let s = TestServer::start(&None).await;

    let (status, body) = s
        .admin(
            Method::PATCH,
            "/api/v1/admin/apps/default",
            Some(json!({"limits": {"fuel": 99_999_999_999u64}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "invalid_limits");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("10000000000"),
        "{body}"
    );
    let (_, app) = s
        .admin(Method::GET, "/api/v1/admin/apps/default", None)
        .await;
    assert_eq!(app["limits"], Value::Null, "nothing was stored: {app}");

    // axum's own 405s, on admin paths and platform paths alike.
    for (method, path) in [
        (Method::PUT, "/api/v1/admin/apps"),
        (Method::DELETE, "/api/v1/admin/routes:check"),
        (Method::POST, "/healthz"),
    ] {
        let (status, body) = s.admin(method.clone(), path, None).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(code(&body), "method_not_allowed", "{method} {path}: {body}");
    }

    // A script's own empty error answer stays empty: only the platform's
    // answers get the JSON error shape.
    s.deploy("default", "gone", "response(404, ())", "GET", "/gone")
        .await;
    let (status, body) = s.call(Method::GET, "localhost", "/gone").await;
    assert_eq!((status, body.as_str()), (StatusCode::NOT_FOUND, ""));

    // HEAD carries the length GET would have.
    let head = s
        .client
        .head(format!("{}/hello", s.base))
        .header("host", "localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], "13");

    let (status, body) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps/default/domains",
            Some(json!({"pattern": "*.shop.test"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("write '{name}.shop.test'"),
        "{body}"
    );

    let answer = raw_exchange(
        &s,
        "GET /hello HTTP/1.1\r\nHost: café.test\r\nConnection: close\r\n\r\n".as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("invalid_host"), "{answer}");
    assert!(answer.contains("not a valid host name"), "{answer}");

    // An anonymous caller learns the path and methods, never the app.
    s.app_on("secret-shop", "secret.test").await;
    s.deploy("secret-shop", "x", "\"x\"", "GET", "/x").await;
    for (method, path, status) in [
        (Method::GET, "/nope", StatusCode::NOT_FOUND),
        (Method::POST, "/x", StatusCode::METHOD_NOT_ALLOWED),
    ] {
        let (got, body) = s.call(method.clone(), "secret.test", path).await;
        assert_eq!(got, status, "{method} {path}: {body}");
        assert!(!body.contains("secret-shop"), "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains(path));
    }
    s.stop().await;
}
