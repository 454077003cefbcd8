//! The data-plane services end to end: scripts that use `kv` and `env`,
//! deployed through the admin API and called over HTTP, on the real guest and
//! real databases (every test runs on SQLite and on PostgreSQL). The
//! services' own rules (quotas, TTLs, paging, encryption) are tested against
//! the stores in manager-core's tests/data.rs; here is what a user sees.

#[macro_use]
mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Db, TestServer, code, config};

fn main() {
    testkit::harness::run_on_both_databases(tests![
        a_counter_script_and_the_admin_view_of_its_keys,
        apps_never_see_each_others_data,
        quotas_reach_the_script_and_the_api,
        variables_and_secrets,
        secrets_survive_a_restart_and_need_the_same_key,
        documents_end_to_end,
        outbound_http_to_an_allowed_local_service,
        outbound_http_needs_the_allow_list_and_the_operator_setting,
        a_cron_trigger_runs_its_script_as_cron,
    ])
}

const COUNTER: &str = r#"
let n = kv::incr("hits");
kv::set(`visit:${n}`, #{ path: request.path, n: n });
let page = kv::list("visit:");
#{ hits: n, visits: page.keys.len(), greeting: kv::get("greeting") }
"#;

/// The error of the newest failed execution, from the execution log: a
/// route's caller only learns that the script failed, its operator sees why.
async fn latest_error(s: &TestServer) -> Value {
    let (status, log) = s
        .admin(
            Method::GET,
            "/api/v1/admin/executions?status=error&limit=1",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    log["executions"][0]["error"].clone()
}

async fn json_call(s: &TestServer, host: &str, path: &str) -> (StatusCode, Value) {
    let (status, text) = s.call(Method::GET, host, path).await;
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn a_counter_script_and_the_admin_view_of_its_keys(db: Db) {
    let s = TestServer::start(&db).await;
    s.deploy("default", "counter", COUNTER, "GET", "/count")
        .await;
    for expected in 1..=3 {
        let (status, body) = json_call(&s, "localhost", "/count").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["hits"], expected);
        assert_eq!(body["visits"], expected);
        assert_eq!(body["greeting"], Value::Null);
    }

    // The operator sees the keys the script wrote, with their values.
    let (status, list) = s
        .admin(Method::GET, "/api/v1/admin/apps/default/kv", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let keys: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["hits", "visit:1", "visit:2", "visit:3"]);
    assert_eq!(list["items"][0]["value"], 3);
    assert_eq!(list["items"][1]["value"], json!({"path": "/count", "n": 1}));
    assert_eq!(list["usage"]["keys"], 4);

    // A key set through the API (one with a slash in it) is what the script reads.
    let (status, item) = s
        .admin(
            Method::PUT,
            "/api/v1/admin/apps/default/kv/greeting",
            Some(json!({"value": {"text": "hi/there"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{item}");
    let (_, body) = json_call(&s, "localhost", "/count").await;
    assert_eq!(body["greeting"], json!({"text": "hi/there"}));
    let (status, _) = s
        .admin(
            Method::PUT,
            "/api/v1/admin/apps/default/kv/a%2Fb",
            Some(json!({"value": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, item) = s
        .admin(Method::GET, "/api/v1/admin/apps/default/kv/a%2Fb", None)
        .await;
    assert_eq!((status, &item["key"]), (StatusCode::OK, &json!("a/b")));

    // Deleting through the API resets what the script sees.
    let (status, _) = s
        .admin(Method::DELETE, "/api/v1/admin/apps/default/kv/hits", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, body) = json_call(&s, "localhost", "/count").await;
    assert_eq!(body["hits"], 1);
    let (status, body) = s
        .admin(
            Method::GET,
            "/api/v1/admin/apps/default/kv/no-such-key",
            None,
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    s.stop().await;
}

async fn apps_never_see_each_others_data(db: Db) {
    let s = TestServer::start(&db).await;
    for (slug, domain) in [("alpha", "alpha.test"), ("beta", "beta.test")] {
        s.app_on(slug, domain).await;
    }
    let (status, _) = s
        .admin(
            Method::PUT,
            "/api/v1/admin/apps/alpha/variables/TOKEN",
            Some(json!({"value": "alpha-only", "secret": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    s.deploy(
        "alpha",
        "writer",
        r#"kv::set("orders:1", #{ total: 99 }); kv::incr("count"); env::get("TOKEN")"#,
        "GET",
        "/write",
    )
    .await;
    // Beta's script knows alpha's key, variable and prefix names.
    s.deploy(
        "beta",
        "snoop",
        r#"#{
            order: kv::get("orders:1"),
            exists: kv::exists("orders:1"),
            listed: kv::list("orders:").keys,
            deleted: kv::delete("orders:1"),
            count: kv::incr("count"),
            token: env::get("TOKEN"),
        }"#,
        "GET",
        "/snoop",
    )
    .await;
    let (status, body) = s.call(Method::GET, "alpha.test", "/write").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "alpha-only"));
    let (status, body) = json_call(&s, "beta.test", "/snoop").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"order": null, "exists": false, "listed": [], "deleted": false, "count": 1, "token": null})
    );
    // Alpha's data is untouched, and each app's admin view holds its own keys only.
    let (_, alpha) = s
        .admin(Method::GET, "/api/v1/admin/apps/alpha/kv/orders:1", None)
        .await;
    assert_eq!(alpha["value"], json!({"total": 99}));
    let (_, beta) = s
        .admin(Method::GET, "/api/v1/admin/apps/beta/kv", None)
        .await;
    let beta_keys: Vec<&Value> = beta["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["key"])
        .collect();
    assert_eq!(beta_keys, [&json!("count")]);
    let (_, alpha_count) = s
        .admin(Method::GET, "/api/v1/admin/apps/alpha/kv/count", None)
        .await;
    assert_eq!(alpha_count["value"], 1);

    // Deleting an app deletes its data.
    let (status, _) = s
        .admin(Method::DELETE, "/api/v1/admin/apps/alpha", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps",
            Some(json!({"slug": "alpha"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, list) = s
        .admin(Method::GET, "/api/v1/admin/apps/alpha/kv", None)
        .await;
    assert_eq!(list["items"], json!([]));
    let (_, vars) = s
        .admin(Method::GET, "/api/v1/admin/apps/alpha/variables", None)
        .await;
    assert_eq!(vars["items"], json!([]));
    s.stop().await;
}

async fn quotas_reach_the_script_and_the_api(db: Db) {
    let data = tempfile::tempdir().unwrap();
    let mut small = config(data.path().to_owned(), &db, Some(support::TOKEN));
    small.control.manager.kv_quota.max_keys = 3;
    small.control.manager.kv_quota.max_value_bytes = 64;
    let s = TestServer::at(small).await;
    s.deploy(
        "default",
        "filler",
        r#"
        let n = parse_int(request.query.n);
        for i in 0..n { kv::set(`k${i}`, i); }
        let big = "x";
        big.pad(100, "x");
        let caught = "";
        try { kv::set("k0", big); } catch (e) { caught = e; }
        caught
        "#,
        "GET",
        "/fill",
    )
    .await;
    let (status, body) = s.call(Method::GET, "localhost", "/fill?n=3").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.starts_with("kv::set: ") && body.contains("64"),
        "{body}"
    );
    // The fourth key fails the execution with the quota's own message.
    let (status, body) = json_call(&s, "localhost", "/fill?n=4").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(code(&body), "runtime_error");
    let error = latest_error(&s).await;
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("kv::set: the app's key-value store holds 3 keys"),
        "{message}"
    );
    assert_eq!(error["line"], 3, "{error}");
    // The admin API enforces the same quota, with a code.
    let (status, body) = s
        .admin(
            Method::PUT,
            "/api/v1/admin/apps/default/kv/extra",
            Some(json!({"value": true})),
        )
        .await;
    assert_eq!(code(&body), "quota_exceeded", "{status} {body}");
    assert!(status.is_client_error());
    s.stop().await;
}

async fn variables_and_secrets(db: Db) {
    let s = TestServer::start(&db).await;
    for (name, value, secret) in [
        ("UNITS", "metric", false),
        ("API_KEY", "sk-live-0123456789", true),
    ] {
        let (status, body) = s
            .admin(
                Method::PUT,
                &format!("/api/v1/admin/apps/default/variables/{name}"),
                Some(json!({"value": value, "secret": secret})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["secret"], secret);
        assert_eq!(body.get("value").is_some(), !secret, "{body}");
    }
    let (status, list) = s
        .admin(Method::GET, "/api/v1/admin/apps/default/variables", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!list.to_string().contains("sk-live"), "{list}");
    let units = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "UNITS")
        .unwrap();
    assert_eq!(units["value"], "metric");

    s.deploy(
        "default",
        "config",
        r#"`${env::get("UNITS")} ${env::get("API_KEY").len()} ${env::get("MISSING") == ()}`"#,
        "GET",
        "/config",
    )
    .await;
    let (status, body) = s.call(Method::GET, "localhost", "/config").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "metric 18 true"));

    let (status, body) = s
        .admin(
            Method::PUT,
            "/api/v1/admin/apps/default/variables/1BAD",
            Some(json!({"value": "x"})),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_name")
    );
    let (status, _) = s
        .admin(
            Method::DELETE,
            "/api/v1/admin/apps/default/variables/UNITS",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, body) = s.call(Method::GET, "localhost", "/config").await;
    assert_eq!(body, " 18 true");
    s.stop().await;
}

async fn secrets_survive_a_restart_and_need_the_same_key(db: Db) {
    let data = tempfile::tempdir().unwrap();
    let first = TestServer::at(config(data.path().to_owned(), &db, Some(support::TOKEN))).await;
    let (status, _) = first
        .admin(
            Method::PUT,
            "/api/v1/admin/apps/default/variables/PASSWORD",
            Some(json!({"value": "hunter2", "secret": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    first
        .deploy(
            "default",
            "reveal",
            r#"env::get("PASSWORD")"#,
            "GET",
            "/reveal",
        )
        .await;
    first.stop().await;
    // The key was generated into the data directory on first start.
    let key_file = data.path().join("secret.key");
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(key.trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let again = TestServer::at(config(data.path().to_owned(), &db, Some(support::TOKEN))).await;
    let (status, body) = again.call(Method::GET, "localhost", "/reveal").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "hunter2"));
    again.stop().await;

    // Another key cannot read it: the script gets a clear error, not garbage.
    let mut other = config(data.path().to_owned(), &db, Some(support::TOKEN));
    other.control.secret_key = Some("11".repeat(32));
    let wrong = TestServer::at(other).await;
    let (status, body) = json_call(&wrong, "localhost", "/reveal").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    let error = latest_error(&wrong).await;
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("env::get: the service is unavailable, try again later"),
        "{error}"
    );
    wrong.stop().await;
}

const ORDERS: &str = r#"
if request.method == "POST" {
    let order = request.json();
    order.status = "new";
    return response(201, #{ id: docs::insert("orders", order) });
}
if request.method == "PATCH" {
    let order = docs::update("orders", request.params.id, request.json());
    return if order == () { response(404, "no such order") } else { order };
}
let page = docs::find("orders", #{
    where: #{ total: #{ gte: parse_int(request.query.min ?? "0") } },
    sort: "-total",
    limit: 2,
    cursor: request.query.cursor,
});
#{ totals: page.docs.map(|d| d.total), statuses: page.docs.map(|d| d.status), cursor: page.cursor }
"#;

async fn documents_end_to_end(db: Db) {
    let s = TestServer::start(&db).await;
    s.deploy("default", "orders", ORDERS, "ANY", "/orders")
        .await;
    s.deploy("default", "order", ORDERS, "ANY", "/orders/:id")
        .await;
    let mut ids = Vec::new();
    for total in [5, 40, 12, 99] {
        let resp = s
            .client
            .post(format!("{}/orders", s.base))
            .header("host", "localhost")
            .json(&json!({"item": "tea", "total": total}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        let body: Value = resp.json().await.unwrap();
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    // Paid: merge a change into one order.
    let resp = s
        .client
        .patch(format!("{}/orders/{}", s.base, ids[1]))
        .header("host", "localhost")
        .json(&json!({"status": "paid", "item": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let order: Value = resp.json().await.unwrap();
    assert_eq!(order, json!({"_id": ids[1], "status": "paid", "total": 40}));

    // Filtered, sorted, paged.
    let (status, page) = json_call(&s, "localhost", "/orders?min=10").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["totals"], json!([99, 40]));
    assert_eq!(page["statuses"], json!(["new", "paid"]));
    let cursor = page["cursor"].as_str().unwrap().to_owned();
    let next = format!("/orders?min=10&cursor={}", urlencode(&cursor));
    let (_, page) = json_call(&s, "localhost", &next).await;
    assert_eq!(page["totals"], json!([12]));
    assert_eq!(page["cursor"], Value::Null);

    // The operator sees the same documents.
    let (status, list) = s
        .admin(
            Method::GET,
            "/api/v1/admin/apps/default/collections/orders/documents?sort=-total&limit=10",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let totals: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["document"]["total"])
        .collect();
    assert_eq!(totals, [&json!(99), &json!(40), &json!(12), &json!(5)]);

    // Another app with the same collection name and a known id gets nothing.
    s.app_on("other", "other.test").await;
    s.deploy(
        "other",
        "peek",
        &format!(
            r#"[docs::get("orders", "{id}"), docs::update("orders", "{id}", #{{ total: 0 }}), docs::delete("orders", "{id}"), docs::find("orders").docs.len()]"#,
            id = ids[1]
        ),
        "GET",
        "/peek",
    )
    .await;
    let (status, body) = json_call(&s, "other.test", "/peek").await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!([null, null, false, 0]))
    );
    let (_, kept) = s
        .admin(
            Method::GET,
            &format!(
                "/api/v1/admin/apps/default/collections/orders/documents/{}",
                ids[1]
            ),
            None,
        )
        .await;
    assert_eq!(kept["document"]["total"], 40);
    s.stop().await;
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A service on loopback for scripts to call: JSON, an echo, a redirect, a
/// body over the response cap, and an endpoint that never answers.
async fn upstream() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    use axum::routing::{get, post};
    let app = axum::Router::new()
        .route(
            "/hello",
            get(|| async { axum::Json(json!({"greeting": "hi from upstream"})) }),
        )
        .route(
            "/echo",
            post(|headers: axum::http::HeaderMap, body: String| async move {
                let content_type = headers
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                let token = headers
                    .get("x-token")
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default();
                axum::Json(json!({"content_type": content_type, "token": token, "body": body}))
            }),
        )
        .route(
            "/moved",
            get(|| async { (StatusCode::FOUND, [("location", "/hello")], "") }),
        )
        .route("/big", get(|| async { "x".repeat(2 << 20) }))
        .route("/never", get(std::future::pending::<String>));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, task)
}

async fn allow(s: &TestServer, pattern: &str) -> (StatusCode, Value) {
    s.admin(
        Method::POST,
        "/api/v1/admin/apps/default/http-allow",
        Some(json!({ "pattern": pattern })),
    )
    .await
}

async fn outbound_http_to_an_allowed_local_service(db: Db) {
    let (upstream, task) = upstream().await;
    let data = tempfile::tempdir().unwrap();
    let mut config = config(data.path().to_owned(), &db, Some(support::TOKEN));
    // Loopback is what the tests can reach; operators of a home server set
    // the same for devices on their LAN.
    config.outbound.allow_private = true;
    config.outbound.timeout = std::time::Duration::from_millis(500);
    config.outbound.max_response_bytes = 1 << 20;
    let s = TestServer::at(config).await;
    let (status, entry) = allow(&s, &format!("http://{upstream}")).await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    assert_eq!(entry["pattern"], format!("http://{upstream}"));
    let source = format!(
        r#"
        let base = "http://{upstream}";
        let hello = http::get(`${{base}}/hello`);
        let echo = http::request(#{{
            method: "POST",
            url: `${{base}}/echo`,
            headers: #{{ "X-Token": "t0k" }},
            body: #{{ n: 1 }},
        }});
        let moved = http::get(`${{base}}/moved`);
        let errors = [];
        for path in ["/big", "/never"] {{
            try {{ http::get(`${{base}}${{path}}`); errors.push("no error"); }} catch (e) {{ errors.push(e); }}
        }}
        #{{
            status: hello.status,
            greeting: hello.json().greeting,
            content_type: hello.headers["content-type"],
            echo: echo.json(),
            moved: [moved.status, moved.headers.location],
            errors: errors,
        }}
        "#
    );
    s.deploy("default", "caller", &source, "GET", "/call").await;
    let (status, body) = json_call(&s, "localhost", "/call").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], 200);
    assert_eq!(body["greeting"], "hi from upstream");
    assert_eq!(body["content_type"], "application/json");
    assert_eq!(
        body["echo"],
        json!({"content_type": "application/json", "token": "t0k", "body": "{\"n\":1}"})
    );
    assert_eq!(body["moved"], json!([302, "/hello"]));
    let errors = body["errors"].as_array().unwrap();
    assert!(
        errors[0]
            .as_str()
            .unwrap()
            .starts_with("http::get: the response body is larger than 1048576 bytes"),
        "{body}"
    );
    assert!(
        errors[1]
            .as_str()
            .unwrap()
            .starts_with("http::get: no complete response within 500 ms"),
        "{body}"
    );

    // The allow-list is the app's own: the same script in another app is refused.
    s.app_on("other", "other.test").await;
    let probe = format!(
        r#"let r = (); try {{ r = http::get("http://{upstream}/hello").status; }} catch (e) {{ r = e; }} r"#
    );
    s.deploy("other", "caller", &probe, "GET", "/call").await;
    let (_, body) = s.call(Method::GET, "other.test", "/call").await;
    assert_eq!(
        body,
        format!("http::get: http://{upstream} is not on the app's outbound allow-list")
    );
    s.stop().await;
    task.abort();
}

async fn outbound_http_needs_the_allow_list_and_the_operator_setting(db: Db) {
    let (upstream, task) = upstream().await;
    let s = TestServer::start(&db).await;
    let source = format!(
        r#"let r = (); try {{ r = http::get("http://{upstream}/hello").status; }} catch (e) {{ r = e; }} r"#
    );
    s.deploy("default", "caller", &source, "GET", "/call").await;
    // Denied by default: the app has no allow-list.
    let (_, body) = s.call(Method::GET, "localhost", "/call").await;
    assert_eq!(
        body,
        format!("http::get: http://{upstream} is not on the app's outbound allow-list")
    );
    // On the allow-list, loopback is still refused without the operator's setting.
    let (status, _) = allow(&s, &format!("http://{upstream}/")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, body) = s.call(Method::GET, "localhost", "/call").await;
    assert_eq!(
        body,
        "http::get: 127.0.0.1 is a private or local address, which scripts may not call"
    );
    // The same through a name that resolves to loopback.
    let by_name = format!(
        r#"let r = (); try {{ r = http::get("http://localhost:{}/hello").status; }} catch (e) {{ r = e; }} r"#,
        upstream.port()
    );
    s.deploy("default", "by-name", &by_name, "GET", "/by-name")
        .await;
    let (status, _) = allow(&s, &format!("http://localhost:{}", upstream.port())).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, body) = s.call(Method::GET, "localhost", "/by-name").await;
    assert_eq!(
        body,
        "http::get: localhost resolves only to private or local addresses, which scripts may not call"
    );

    // The allow-list through the admin API.
    let (status, again) = allow(&s, &format!("http://{upstream}")).await;
    assert_eq!(
        (status, &again["pattern"]),
        (StatusCode::OK, &json!(format!("http://{upstream}")))
    );
    let (status, body) = allow(&s, "ftp://example.com").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_pattern")
    );
    let (status, list) = s
        .admin(Method::GET, "/api/v1/admin/apps/default/http-allow", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");
    let (status, _) = s
        .admin(
            Method::DELETE,
            &format!(
                "/api/v1/admin/apps/default/http-allow?pattern={}",
                urlencode(&format!("http://{upstream}"))
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, body) = s.call(Method::GET, "localhost", "/call").await;
    assert!(
        body.ends_with("is not on the app's outbound allow-list"),
        "{body}"
    );
    s.stop().await;
    task.abort();
}

async fn a_cron_trigger_runs_its_script_as_cron(db: Db) {
    let s = TestServer::start(&db).await;
    let (status, body) = s
        .admin(
            Method::POST,
            "/api/v1/admin/scripts",
            Some(json!({
                "app_id": "default",
                "name": "nightly",
                "source": r#"kv::set("seen", #{ trigger: request.trigger, method: request.method, schedule: request.headers["x-picloud-cron-schedule"] }); kv::incr("runs"); "done""#,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, trigger) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps/default/triggers",
            Some(json!({"script": "nightly", "schedule": "30 2 * * *", "timezone": "Europe/Oslo"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{trigger}");
    assert!(trigger["next_run_at"].is_string(), "{trigger}");
    let (status, body) = s
        .admin(
            Method::POST,
            "/api/v1/admin/apps/default/triggers",
            Some(json!({"script": "nightly", "schedule": "every night"})),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_schedule")
    );

    // Fire it now through the same path the scheduler uses.
    let id = trigger["id"].as_str().unwrap();
    let (status, run) = s
        .admin(
            Method::POST,
            &format!("/api/v1/admin/apps/default/triggers/{id}/run"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["status"], 200, "{run}");
    let (_, seen) = s
        .admin(Method::GET, "/api/v1/admin/apps/default/kv/seen", None)
        .await;
    assert_eq!(
        seen["value"],
        json!({"trigger": "cron", "method": "CRON", "schedule": "30 2 * * *"})
    );
    // The run is in the execution log as a cron run.
    let (status, log) = s
        .admin(
            Method::GET,
            &format!(
                "/api/v1/admin/executions/{}",
                run["execution_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    assert_eq!(log["trigger"], "cron", "{log}");
    s.stop().await;
}
