//! `GET /api/v1/tls/ask`, the gate of Caddy's on-demand TLS, against both
//! real databases, with the orchestrator's real routing cache behind the
//! manager: yes only for domains some app claims (exactly or through a
//! `{label}` wildcard), no for the rest, 400 for what is not a domain name,
//! without credentials and without touching the database per call.

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use manager_core::{Db, Manager, ManagerConfig, Store};
use orchestrator_core::RoutingCache;
use serde_json::{Value, json};
use support::{Api, NoExecutor};
use tower::ServiceExt;

macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        vec![$((
            stringify!($name),
            (|db| Box::pin(async move {
                let dir = tempfile::tempdir().unwrap();
                let url = db.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("picloud.db").display()));
                $name(url).await;
            })) as testkit::harness::Test,
        )),*]
    };
}

fn main() {
    testkit::harness::run_on_both_databases(tests![
        claimed_domains_are_allowed,
        what_is_not_a_domain_name_is_refused,
        answers_without_the_database,
        is_in_the_openapi_document,
    ])
}

/// The admin API of a manager whose routing tables are the orchestrator's
/// cache, as in the `picloud` binary.
async fn api(url: &str) -> Api {
    let store = Store::new(Db::connect(url).await.unwrap());
    let cache = RoutingCache::new(Arc::new(store.clone())).await.unwrap();
    let manager = Manager::new(store, Arc::new(NoExecutor), cache, ManagerConfig::default());
    Api::serve(manager).await
}

/// Asks as Caddy does, without credentials; `None` sends no `domain`.
async fn ask(api: &Api, domain: Option<&str>) -> (StatusCode, Value) {
    let query = domain.map(|domain| {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("domain", domain)
            .finish()
    });
    get(api, query.as_deref().unwrap_or(""), None).await
}

/// `GET /api/v1/tls/ask?<query>`, with `authorization` if given.
async fn get(api: &Api, query: &str, authorization: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::builder().uri(format!("/api/v1/tls/ask?{query}"));
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let response = api
        .router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Creates app `slug` claiming each of `patterns`; returns the claims' ids.
async fn app_claiming(api: &Api, slug: &str, patterns: &[&str]) -> Vec<String> {
    let (status, body) = api
        .call("POST", "/apps", Some(json!({ "slug": slug })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut ids = Vec::new();
    for pattern in patterns {
        let (status, body) = api
            .call(
                "POST",
                &format!("/apps/{slug}/domains"),
                Some(json!({ "pattern": pattern })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    ids
}

async fn assert_allowed(api: &Api, domain: &str, normalized: &str) {
    assert_eq!(
        ask(api, Some(domain)).await,
        (StatusCode::OK, json!({ "domain": normalized })),
        "{domain}"
    );
}

async fn assert_refused(api: &Api, domain: &str) {
    let (status, body) = ask(api, Some(domain)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{domain}: {body}");
    assert_eq!(body["error"]["code"], "not_found", "{domain}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("domain claim"),
        "{domain}: {body}"
    );
}

async fn claimed_domains_are_allowed(url: String) {
    let api = api(&url).await;
    // The `default` app claims localhost from the start.
    assert_allowed(&api, "localhost", "localhost").await;
    assert_refused(&api, "shop.example.com").await;

    // Claims count, routes do not: neither app has any.
    let shop = app_claiming(&api, "shop", &["shop.example.com", "bücher.example"]).await;
    app_claiming(&api, "tenants", &["{tenant}.saas.example.net"]).await;
    assert_allowed(&api, "shop.example.com", "shop.example.com").await;
    // Normalized as dispatch normalizes a Host: case, trailing dot, IDN.
    assert_allowed(&api, "Shop.EXAMPLE.com.", "shop.example.com").await;
    assert_allowed(&api, "xn--bcher-kva.example", "xn--bcher-kva.example").await;
    assert_allowed(&api, "bücher.example", "xn--bcher-kva.example").await;
    // A wildcard label matches exactly one label.
    assert_allowed(&api, "acme.saas.example.net", "acme.saas.example.net").await;
    assert_refused(&api, "saas.example.net").await;
    assert_refused(&api, "a.b.saas.example.net").await;
    assert_refused(&api, "example.com").await;
    assert_refused(&api, "www.shop.example.com").await;

    // Credentials play no part: a wrong token is not a 401.
    assert_eq!(
        get(&api, "domain=shop.example.com", Some("Bearer wrong"))
            .await
            .0,
        StatusCode::OK
    );

    // Giving a claim up, or deleting the app, ends the answer at once.
    let (status, _) = api
        .call("DELETE", &format!("/apps/shop/domains/{}", shop[0]), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_refused(&api, "shop.example.com").await;
    assert_allowed(&api, "bücher.example", "xn--bcher-kva.example").await;
    let (status, _) = api.call("DELETE", "/apps/tenants", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_refused(&api, "acme.saas.example.net").await;
}

async fn what_is_not_a_domain_name_is_refused(url: String) {
    let api = api(&url).await;
    for (domain, needle) in [
        (None, "required"),
        (Some(""), "required"),
        (Some("   "), "required"),
        (Some("localhost:443"), "without a port"),
        (Some("[::1]"), "without a port"),
        (Some("*.example.com"), "may only hold"),
        (Some("{tenant}.example.com"), "may only hold"),
        (Some("exa mple.com"), "may only hold"),
        (Some("-bad.example.com"), "may only hold"),
        (Some("a..example.com"), "1 to 63"),
        (Some(&*format!("{}.com", "a".repeat(64))), "1 to 63"),
    ] {
        let (status, body) = ask(&api, domain).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{domain:?}: {body}");
        assert_eq!(
            body["error"]["code"], "invalid_domain",
            "{domain:?}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{domain:?}: {message}");
    }
    // Parameters of the operator's own in the `ask` URL are left alone.
    assert_eq!(
        get(&api, "from=caddy&domain=localhost", None).await,
        (StatusCode::OK, json!({ "domain": "localhost" }))
    );
}

/// Anyone can make Caddy ask (a TLS handshake with any name will do), so the
/// answer must not cost a query: with the claim tables gone from the
/// database, the answers stay right.
async fn answers_without_the_database(url: String) {
    let api = api(&url).await;
    app_claiming(
        &api,
        "shop",
        &["shop.example.com", "{tenant}.shop.example.org"],
    )
    .await;
    let raw = sqlx::AnyPool::connect(&url).await.unwrap();
    for sql in [
        "ALTER TABLE app_domains RENAME TO app_domains_gone",
        "ALTER TABLE apps RENAME TO apps_gone",
    ] {
        sqlx::query(sql).execute(&raw).await.unwrap();
    }
    let (status, body) = api.call("GET", "/apps", None).await;
    assert!(
        status.is_server_error(),
        "the tables are gone: {status} {body}"
    );
    assert_allowed(&api, "shop.example.com", "shop.example.com").await;
    assert_allowed(&api, "eu.shop.example.org", "eu.shop.example.org").await;
    assert_allowed(&api, "localhost", "localhost").await;
    assert_refused(&api, "other.example.com").await;
}

async fn is_in_the_openapi_document(url: String) {
    let api = api(&url).await;
    let (status, doc) = api.call("GET", "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["servers"][0]["url"], "/api/v1/admin");
    let item = &doc["paths"]["/tls/ask"];
    // Outside the admin API: the path item names its own server.
    assert_eq!(item["servers"], json!([{ "url": "/api/v1" }]), "{item}");
    let op = &item["get"];
    assert_eq!(op["tags"], json!(["tls"]));
    assert_eq!(op["security"], json!([]), "unauthenticated: {op}");
    for status in ["200", "400", "404", "500"] {
        assert!(op["responses"][status].is_object(), "{status}: {op}");
    }
    for status in ["401", "403"] {
        assert!(op["responses"].get(status).is_none(), "{status}: {op}");
    }
    let params = op["parameters"].as_array().unwrap();
    assert_eq!(params.len(), 1, "{params:?}");
    assert_eq!(
        (&params[0]["name"], &params[0]["in"], &params[0]["required"]),
        (&json!("domain"), &json!("query"), &json!(true))
    );
    // Sign-in is still the one public operation under the admin server.
    let public: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, item)| item.get("servers").is_none())
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .values()
                .filter(|op| op["security"] == json!([]))
                .map(move |_| path.as_str())
        })
        .collect();
    assert_eq!(public, ["/auth/login"]);
}
