//! The real Caddy (Debian's `caddy` package) with `caddy/Caddyfile` in front
//! of `picloud` servers: the admin API, the dashboard, a user route on an
//! app's domain (the Host header reaches PiCloud unchanged), run by id, the
//! on-demand TLS `ask` endpoint and `/healthz`, all through Caddy; round
//! robin over two orchestrators, and losing one costs no request; and
//! `caddy validate` accepts both Caddyfiles. Caddy is required: without it
//! these tests fail and say how to install it.

#[expect(
    unused_macros,
    reason = "only the server and its calls are used here, not the two-database harness"
)]
mod support;

use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use support::{TOKEN, TestServer, code};
use testkit::caddy::{Caddy, caddy, caddyfile, not_installed};

/// The same calls as [`TestServer`]'s, sent to Caddy instead.
fn through(caddy: &Caddy) -> TestServer {
    TestServer {
        server: None,
        base: caddy.base.clone(),
        client: Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        _data: None,
    }
}

/// A script that shows what reached PiCloud.
const WHOAMI: &str = r#"#{
    host: request.headers["host"],
    tenant: request.host_params.tenant,
    forwarded_for: request.headers["x-forwarded-for"],
    forwarded_proto: request.headers["x-forwarded-proto"],
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_fronts_picloud() {
    let server = TestServer::start(&None).await;
    let addr = server.server.as_ref().unwrap().addr;
    let caddy = Caddy::start(&addr.to_string(), &addr.to_string()).await;
    let proxy = through(&caddy);

    // The admin API, authenticated, for every step of the setup.
    let (status, body) = proxy.admin(Method::GET, "/api/v1/admin/apps", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let anonymous = proxy
        .client
        .get(format!("{}/api/v1/admin/apps", proxy.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    proxy.app_on("shop", "{tenant}.shop.example.com").await;
    let (status, script) = proxy
        .admin(
            Method::POST,
            "/api/v1/admin/scripts",
            Some(json!({"app_id": "shop", "name": "whoami", "source": WHOAMI})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{script}");
    let id = script["id"].as_str().unwrap();
    let (status, body) = proxy.route(id, "GET", "/whoami").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // A user route on the app's domain: PiCloud sees the Host the client
    // sent (it resolved the app and the wildcard from it), and Caddy's
    // forwarding headers.
    let (status, body) = proxy
        .call(Method::GET, "acme.shop.example.com", "/whoami")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({
            "host": "acme.shop.example.com",
            "tenant": "acme",
            "forwarded_for": "127.0.0.1",
            "forwarded_proto": "http",
        })
    );
    // Hello World on the default app's localhost, with a port in the Host.
    assert_eq!(
        proxy
            .call(Method::GET, "localhost:80", "/hello?name=Caddy")
            .await,
        (StatusCode::OK, "Hello, Caddy!".to_owned())
    );
    // A script that tries to frame its own response cannot poison the
    // upstream connection Caddy keeps open and reuses: each later request
    // through it gets its own answer (issue 19, finding 1).
    let (status, script) = proxy
        .admin(
            Method::POST,
            "/api/v1/admin/scripts",
            Some(json!({"app_id": "default", "name": "forge",
                "source": r#"response(200, "HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nforged", #{ "content-length": "0" })"#})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{script}");
    let (status, body) = proxy
        .route(script["id"].as_str().unwrap(), "GET", "/forge")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for _ in 0..5 {
        let (status, body) = proxy.call(Method::GET, "localhost", "/forge").await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        assert!(!body.contains("forged"), "{body}");
        assert_eq!(
            proxy.call(Method::GET, "localhost", "/hello").await,
            (StatusCode::OK, "Hello, World!".to_owned())
        );
    }
    // The admin surface is not served through an app's host.
    let (status, _) = proxy
        .call(Method::GET, "localhost", "/api/v1/admin/apps")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A host no app claims gets PiCloud's answer, not Caddy's.
    let (status, body) = proxy.call(Method::GET, "nobody.example.org", "/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&serde_json::from_str(&body).unwrap()), "unknown_host");

    // Run by id, authenticated like the admin API.
    let by_id = proxy
        .client
        .get(format!("{}/api/v1/execute/{id}", proxy.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(by_id.status(), StatusCode::OK);
    let by_id: Value = by_id.json().await.unwrap();
    assert_eq!(by_id["host"], caddy.base.trim_start_matches("http://"));

    // The on-demand TLS gate, unauthenticated, as Caddy itself calls it.
    for (domain, expected) in [
        ("acme.shop.example.com", StatusCode::OK),
        ("localhost", StatusCode::OK),
        ("shop.example.com", StatusCode::NOT_FOUND),
        ("unclaimed.example.org", StatusCode::NOT_FOUND),
        ("acme.shop.example.com:443", StatusCode::BAD_REQUEST),
    ] {
        let response = proxy
            .client
            .get(format!("{}/api/v1/tls/ask", proxy.base))
            .query(&[("domain", domain)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "{domain}");
    }

    // The platform endpoints and the dashboard.
    let health = proxy
        .client
        .get(format!("{}/healthz", proxy.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.text().await.unwrap(), "ok");
    let version: Value = proxy
        .client
        .get(format!("{}/version", proxy.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(version["api"], "v1");
    let ready = proxy
        .client
        .get(format!("{}/healthz/ready", proxy.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let dashboard = proxy
        .client
        .get(format!("{}/admin", proxy.base))
        .send()
        .await
        .unwrap();
    assert!(dashboard.status().is_redirection(), "{dashboard:?}");
    assert_eq!(dashboard.headers()["location"], "/admin/apps");

    drop(caddy);
    server.stop().await;
}

/// Two orchestrators: Caddy takes turns between them, and when one stops,
/// every request is still answered, by the other. (Two whole servers with
/// their own databases stand in for a cluster's orchestrators; each answers
/// `/who` with its own name.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balances_over_orchestrators_and_survives_losing_one() {
    let (a, b) = (
        TestServer::start(&None).await,
        TestServer::start(&None).await,
    );
    for (server, name) in [(&a, "a"), (&b, "b")] {
        server
            .deploy("default", "who", &format!("{name:?}"), "GET", "/who")
            .await;
    }
    let addr = |s: &TestServer| s.server.as_ref().unwrap().addr.to_string();
    let caddy = Caddy::start(&addr(&a), &format!("{} {}", addr(&a), addr(&b))).await;
    let proxy = through(&caddy);
    let mut seen = Vec::new();
    for _ in 0..6 {
        let (status, body) = proxy.call(Method::GET, "localhost", "/who").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        seen.push(body);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["a", "b"], "round robin reaches both");

    b.stop().await;
    for i in 0..20 {
        assert_eq!(
            proxy.call(Method::GET, "localhost", "/who").await,
            (StatusCode::OK, "a".to_owned()),
            "request {i} after b stopped; Caddy's stderr:\n{}",
            caddy.stderr()
        );
    }
    drop(caddy);
    a.stop().await;
}

/// `caddy validate` accepts both files, with every variable at its default
/// and with values like a cluster's; both are formatted as `caddy fmt`
/// writes them, and share their routing word for word.
#[test]
fn caddy_validate_accepts_both_files() {
    let home = tempfile::tempdir().unwrap();
    let cluster = [
        ("PICLOUD_SITE", "http://:8000"),
        ("PICLOUD_MANAGER", "10.0.0.1:8080"),
        ("PICLOUD_ORCHESTRATORS", "10.0.0.2:8080 10.0.0.3:8080"),
        ("PICLOUD_CADDY_ADMIN", "off"),
        ("PICLOUD_DOMAIN", "picloud.example.com"),
        ("PICLOUD_ACME_EMAIL", "ops@example.com"),
    ];
    for file in ["Caddyfile", "Caddyfile.prod"] {
        let path = caddyfile(file);
        for vars in [&[][..], &cluster[..]] {
            let output = caddy(
                home.path(),
                &[
                    "validate",
                    "--config",
                    path.to_str().unwrap(),
                    "--adapter",
                    "caddyfile",
                ],
                vars,
            )
            .output()
            .unwrap_or_else(|err| panic!("{}", not_installed(&err)));
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                output.status.success(),
                "caddy validate {file} with {vars:?}: {}\n{stderr}",
                output.status
            );
            assert!(
                !stderr.contains("not formatted"),
                "{file}: run `caddy fmt --overwrite caddy/{file}`\n{stderr}"
            );
        }
    }

    // Several upstreams in one variable become several upstreams.
    let output = caddy(
        home.path(),
        &[
            "adapt",
            "--config",
            caddyfile("Caddyfile").to_str().unwrap(),
            "--adapter",
            "caddyfile",
        ],
        &cluster,
    )
    .output()
    .unwrap();
    assert!(output.status.success(), "{output:?}");
    let json = String::from_utf8(output.stdout).unwrap();
    for upstream in ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"] {
        assert!(
            json.contains(&format!(r#"{{"dial":"{upstream}"}}"#)),
            "{upstream} in {json}"
        );
    }

    // Caddyfile.prod: the on-demand site (every app's domain) answers the
    // admin surface with a 404 of its own before anything reaches PiCloud,
    // and only the operator's domain routes it to the manager (ADR 006).
    let output = caddy(
        home.path(),
        &[
            "adapt",
            "--config",
            caddyfile("Caddyfile.prod").to_str().unwrap(),
            "--adapter",
            "caddyfile",
        ],
        &cluster,
    )
    .output()
    .unwrap();
    assert!(output.status.success(), "{output:?}");
    let config: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let servers = config["apps"]["http"]["servers"].as_object().unwrap();
    let routes: Vec<&serde_json::Value> = servers
        .values()
        .flat_map(|server| server["routes"].as_array().unwrap())
        .collect();
    let on_demand = routes
        .iter()
        .find(|route| route.get("match").is_none())
        .expect("a catch-all site for apps' domains");
    // Before it only the request id is set (a header handler, which never
    // answers); the first route that matches anything is the admin gate.
    let site_routes = on_demand["handle"][0]["routes"].as_array().unwrap();
    let gate = site_routes
        .iter()
        .position(|route| route.get("match").is_some())
        .expect("a route of the apps' site that matches");
    for earlier in &site_routes[..gate] {
        for handler in earlier["handle"].as_array().unwrap() {
            assert_eq!(handler["handler"], "headers", "{earlier}");
        }
    }
    let first = &site_routes[gate];
    let paths: Vec<&str> = first["match"][0]["path"]
        .as_array()
        .expect("the first route of the apps' site matches paths")
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for path in ["/admin/*", "/api/v1/admin/*", "/api/v1/execute/*"] {
        assert!(paths.contains(&path), "{path} in {paths:?}");
    }
    let answer = &first["handle"][0]["routes"][0]["handle"][0];
    assert_eq!(answer["handler"], "static_response", "{first}");
    assert_eq!(answer["status_code"], 404, "{first}");
    let operator = routes
        .iter()
        .find(|route| route["match"][0]["host"][0] == "picloud.example.com")
        .expect("the operator's site");
    assert!(
        operator.to_string().contains("10.0.0.1:8080"),
        "the operator's domain reaches the manager: {operator}"
    );

    let shared = |file: &str| {
        let text = std::fs::read_to_string(caddyfile(file)).unwrap();
        let start = text.find("# ---- Shared with").expect("start marker");
        let end = text
            .find("# ---- End of the shared part.")
            .expect("end marker");
        // The first line names the other file.
        text[start..end]
            .split_once('\n')
            .map(|(_, rest)| rest.to_owned())
            .unwrap()
    };
    assert_eq!(
        shared("Caddyfile"),
        shared("Caddyfile.prod"),
        "caddy/Caddyfile and caddy/Caddyfile.prod must route the same way"
    );
}
