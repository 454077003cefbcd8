//! Per-app roles over HTTP (docs/api.md, "Roles"): every operation of the
//! OpenAPI document, called by a caller of each role, is allowed or refused
//! as `manager_core::policy::OPERATIONS` says; a token limited to one app
//! cannot learn of any other; owners manage roles; a developer's deploy
//! cannot touch the app's settings or domains. Every test runs on SQLite
//! and on PostgreSQL.

#[macro_use]
mod support;

use manager_core::policy::{Need, need};
use manager_core::store::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Db, TOKEN, TestServer, code};

const PASSWORD: &str = "correct horse battery";

fn main() {
    testkit::harness::run_on_both_databases(tests![
        every_operation_answers_each_role_as_the_table_says,
        a_token_limited_to_one_app_cannot_learn_of_others,
        owners_manage_roles_and_server_admins_stay,
        a_developer_deploys_code_but_not_the_apps_settings,
    ])
}

/// How a caller authenticates.
#[derive(Clone)]
enum Credential {
    Token(String),
    Session { cookie: String, csrf: String },
}

/// A caller of the admin API.
#[derive(Clone)]
struct Caller {
    name: &'static str,
    credential: Credential,
}

/// An answer: status, JSON body (or Null) and content type.
struct Answer {
    status: StatusCode,
    body: Value,
}

impl Caller {
    fn token(name: &'static str, token: &str) -> Caller {
        Caller {
            name,
            credential: Credential::Token(token.to_owned()),
        }
    }

    async fn signed_in(s: &TestServer, name: &'static str) -> Caller {
        let resp = s
            .client
            .post(format!("{}/api/v1/admin/auth/login", s.base))
            .json(&json!({"username": name, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{name} signs in");
        let cookie = resp
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap()
            .to_owned();
        let body: Value = resp.json().await.unwrap();
        Caller {
            name,
            credential: Credential::Session {
                cookie,
                csrf: body["csrf_token"].as_str().unwrap().to_owned(),
            },
        }
    }

    async fn call(
        &self,
        s: &TestServer,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut req = s.client.request(method, format!("{}{path}", s.base));
        req = match &self.credential {
            Credential::Token(token) => req.bearer_auth(token),
            Credential::Session { cookie, csrf } => {
                req.header("cookie", cookie).header("x-csrf-token", csrf)
            }
        };
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let streaming = resp
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        // The live log never ends; its status says enough.
        if streaming {
            return Answer {
                status,
                body: Value::Null,
            };
        }
        let text = resp.text().await.unwrap();
        Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    async fn get(&self, s: &TestServer, path: &str) -> Answer {
        self.call(s, Method::GET, path, None).await
    }
}

async fn create_user(s: &TestServer, username: &str, server_admin: bool) {
    let (status, body) = s
        .admin(
            Method::POST,
            "/api/v1/admin/users",
            Some(json!({"username": username, "password": PASSWORD, "server_admin": server_admin})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["server_admin"], server_admin);
}

async fn grant(s: &TestServer, app: &str, user: &str, role: &str) {
    let (status, body) = s
        .admin(
            Method::PUT,
            &format!("/api/v1/admin/apps/{app}/roles/{user}"),
            Some(json!({"role": role})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], role);
}

/// A token made by the server's token, limited to `app` as `role`.
async fn limited_token(s: &TestServer, app: &str, role: &str) -> String {
    let (status, body) = s
        .admin(
            Method::POST,
            "/api/v1/admin/tokens",
            Some(json!({"name": format!("{app} {role}"), "app": app, "role": role})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["role"], role);
    body["token"].as_str().unwrap().to_owned()
}

/// What the table says `caller` (with `role` on the target app, `None`
/// when it has none; `server` for server-wide powers) gets.
#[derive(Debug, PartialEq)]
enum Expect {
    Allowed,
    /// 403 `insufficient_role`.
    Refused,
    /// The 404 of a missing app (or script, or execution).
    Hidden,
}

fn expect(need: Need, server: bool, role: Option<Role>) -> Expect {
    if server {
        return Expect::Allowed;
    }
    let at_least = |wanted: Role| match role {
        None => Expect::Hidden,
        Some(have) if have >= wanted => Expect::Allowed,
        Some(_) => Expect::Refused,
    };
    match need {
        Need::Signed => Expect::Allowed,
        // The operations below name another user, and only a server admin
        // may touch another user's account.
        Need::OwnAccount | Need::Server => Expect::Refused,
        Need::App(wanted) | Need::Stated(wanted) => at_least(wanted),
        Need::Listed => at_least(Role::Viewer),
    }
}

/// Every operation of the served OpenAPI document (and the execute
/// endpoint), called by callers of every kind against the default app:
/// the answer is what `policy::need` says for that caller. The requests
/// are harmless when allowed (empty bodies that fail validation after the
/// policy, missing sub-resources, the default app that cannot be deleted),
/// except where the test supplies a fresh thing to delete.
async fn every_operation_answers_each_role_as_the_table_says(db: Db) {
    let s = TestServer::start(&db).await;
    s.app_on("blog", "blog.test").await;
    let script = s.script("greet", r#""hello""#).await;
    let (status, _) = s.route(&script, "GET", "/greet").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = s.call(Method::GET, "localhost", "/greet").await;
    assert_eq!(status, StatusCode::OK);
    let (_, executions) = s
        .admin(Method::GET, "/api/v1/admin/executions?app=default", None)
        .await;
    let execution = executions["executions"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (user, admin) in [
        ("root", true),
        ("olly", false),
        ("dave", false),
        ("vera", false),
        ("bob", false),
        ("zed", false),
    ] {
        create_user(&s, user, admin).await;
    }
    grant(&s, "default", "olly", "owner").await;
    grant(&s, "default", "dave", "developer").await;
    grant(&s, "default", "vera", "viewer").await;
    grant(&s, "blog", "bob", "owner").await;
    // (caller, server-wide, role on the default app)
    let callers = vec![
        (
            Caller::token("the server's token", TOKEN),
            true,
            Some(Role::Owner),
        ),
        (Caller::signed_in(&s, "root").await, true, Some(Role::Owner)),
        (
            Caller::signed_in(&s, "olly").await,
            false,
            Some(Role::Owner),
        ),
        (
            Caller::signed_in(&s, "dave").await,
            false,
            Some(Role::Developer),
        ),
        (
            Caller::signed_in(&s, "vera").await,
            false,
            Some(Role::Viewer),
        ),
        (
            Caller::token(
                "a developer token",
                &limited_token(&s, "default", "developer").await,
            ),
            false,
            Some(Role::Developer),
        ),
        (
            Caller::token(
                "a viewer token",
                &limited_token(&s, "default", "viewer").await,
            ),
            false,
            Some(Role::Viewer),
        ),
        (Caller::signed_in(&s, "bob").await, false, None),
        (
            Caller::token(
                "a token of another app",
                &limited_token(&s, "blog", "owner").await,
            ),
            false,
            None,
        ),
    ];

    let (status, document) = s.admin(Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let mut operations: Vec<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(|method| (method.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        // Signing in, and Caddy's question, need no credentials.
        .filter(|(_, path)| path != "/auth/login" && path != "/tls/ask")
        .collect();
    operations.push(("GET".into(), "/api/v1/execute/{id}".into()));
    // Signing out ends the callers' sessions: last.
    operations.sort_by_key(|(_, path)| path == "/auth/logout");
    assert!(operations.len() > 80, "{}", operations.len());

    let mut checked = 0;
    for (method, template) in &operations {
        let needed = need(method, template)
            .unwrap_or_else(|| panic!("{method} {template} is not in policy::OPERATIONS"));
        for (caller, server, role) in &callers {
            // A fresh script for each delete that would succeed.
            let doomed = if method == "DELETE" && template == "/scripts/{id}" {
                s.script(&format!("doomed-{checked}"), "1").await
            } else {
                script.clone()
            };
            let path = concrete(template, &doomed, &execution);
            let body = body_for(method, template, checked);
            let answer = caller.call(&s, method.parse().unwrap(), &path, body).await;
            let expected = expect(needed, *server, *role);
            let got = outcome(&answer);
            assert_eq!(
                got, expected,
                "{method} {template} by {} answered {} {}",
                caller.name, answer.status, answer.body
            );
            checked += 1;
        }
    }
    assert_eq!(checked, operations.len() * callers.len());
    s.stop().await;
}

/// The path of `template` with its parameters filled in: the default app,
/// `script`, `execution`, and names of things that do not exist (deleting
/// them is a 404 of their own, after the policy).
fn concrete(template: &str, script: &str, execution: &str) -> String {
    let path = template
        .replace("{app}", "default")
        .replace("{collection}", "notes")
        .replace("{key}", "no-such-key")
        .replace("{name}", "NO_SUCH_VARIABLE")
        .replace("{domain_id}", "00000000-0000-4000-8000-00000000d0d0")
        .replace("{route_id}", "00000000-0000-4000-8000-00000000f0f0")
        .replace("{version}", "1")
        .replace("{user}", "zed")
        .replace("{queue}", "jobs");
    let id = if path.starts_with("/scripts/") || path.starts_with("/api/v1/execute/") {
        script
    } else if path.starts_with("/executions/") {
        execution
    } else if path.starts_with("/users/") {
        "zed"
    } else {
        "00000000-0000-4000-8000-0000000000aa"
    };
    let path = path.replace("{id}", id);
    if path.starts_with("/api/v1/") {
        path
    } else {
        let separator = if path.contains('?') { "&" } else { "?" };
        let listed = matches!(template, "/scripts" | "/executions");
        let query = if listed {
            format!("{separator}app=default")
        } else {
            String::new()
        };
        format!("/api/v1/admin{path}{query}")
    }
}

/// The body each write sends: empty (refused by validation after the
/// policy) except where the app is named in the body.
fn body_for(method: &str, template: &str, n: usize) -> Option<Value> {
    match (method, template) {
        ("GET" | "DELETE", _) => None,
        ("POST", "/scripts") => {
            Some(json!({"app_id": "default", "name": format!("made-{n}"), "source": "1"}))
        }
        ("POST", "/scripts:check") => Some(json!({"app_id": "default", "source": "1 +"})),
        ("POST", "/routes:check") => {
            Some(json!({"app_id": "default", "method": "GET", "path": "/checked"}))
        }
        ("POST", "/routes:match") => {
            Some(json!({"host": "localhost", "method": "GET", "path": "/greet"}))
        }
        _ => Some(json!({})),
    }
}

fn outcome(answer: &Answer) -> Expect {
    let error = &answer.body["error"];
    let message = error["message"].as_str().unwrap_or("");
    if answer.status == StatusCode::FORBIDDEN && error["code"] == "insufficient_role" {
        Expect::Refused
    } else if answer.status == StatusCode::NOT_FOUND
        && (message == "app 'default' not found"
            || (message.starts_with("script '") && !message.contains("doomed"))
            || message.starts_with("execution '"))
    {
        Expect::Hidden
    } else {
        Expect::Allowed
    }
}

/// A CI token for `shop` as developer: everything of the shop a developer
/// may do, and nothing of the blog, which is, for it, an app that does not
/// exist.
async fn a_token_limited_to_one_app_cannot_learn_of_others(db: Db) {
    let s = TestServer::start(&db).await;
    s.app_on("shop", "shop.test").await;
    s.app_on("blog", "blog.test").await;
    s.deploy("blog", "post", r#""a post""#, "GET", "/post")
        .await;
    let ci = Caller::token("ci", &limited_token(&s, "shop", "developer").await);

    // It deploys to the shop.
    let made = ci
        .call(
            &s,
            Method::POST,
            "/api/v1/admin/scripts",
            Some(json!({"app_id": "shop", "name": "cart", "source": r#""cart""#})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let cart = made.body["id"].as_str().unwrap().to_owned();
    let routed = ci
        .call(
            &s,
            Method::POST,
            &format!("/api/v1/admin/scripts/{cart}/routes"),
            Some(json!({"method": "GET", "path": "/cart"})),
        )
        .await;
    assert_eq!(routed.status, StatusCode::CREATED, "{}", routed.body);
    let (status, body) = s.call(Method::GET, "shop.test", "/cart").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "cart"));

    // The blog is, to it, exactly an app that does not exist.
    let blog = ci.get(&s, "/api/v1/admin/apps/blog").await;
    let nothing = ci.get(&s, "/api/v1/admin/apps/no-such-app").await;
    assert_eq!(blog.status, StatusCode::NOT_FOUND);
    assert_eq!(code(&blog.body), "not_found");
    assert_eq!(
        blog.body["error"]["message"]
            .as_str()
            .unwrap()
            .replace("blog", "X"),
        nothing.body["error"]["message"]
            .as_str()
            .unwrap()
            .replace("no-such-app", "X")
    );
    let apps = ci.get(&s, "/api/v1/admin/apps").await;
    let slugs: Vec<&str> = apps.body["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["shop"]);
    assert_eq!(apps.body["apps"][0]["role"], "developer");
    let scripts = ci.get(&s, "/api/v1/admin/scripts").await;
    assert_eq!(scripts.body["scripts"].as_array().unwrap().len(), 1);
    assert_eq!(scripts.body["scripts"][0]["name"], "cart");
    let in_blog = ci
        .call(
            &s,
            Method::POST,
            "/api/v1/admin/scripts",
            Some(json!({"app_id": "blog", "name": "x", "source": "1"})),
        )
        .await;
    assert_eq!(in_blog.status, StatusCode::NOT_FOUND, "{}", in_blog.body);
    let (_, blog_scripts) = s
        .admin(Method::GET, "/api/v1/admin/scripts?app=blog", None)
        .await;
    let post = blog_scripts["scripts"][0]["id"].as_str().unwrap();
    let read = ci.get(&s, &format!("/api/v1/admin/scripts/{post}")).await;
    assert_eq!(read.status, StatusCode::NOT_FOUND);
    let (_, _) = s.call(Method::GET, "blog.test", "/post").await;
    let (_, _) = s.call(Method::GET, "shop.test", "/cart").await;
    let shop_id = apps.body["apps"][0]["id"].clone();
    let log = ci.get(&s, "/api/v1/admin/executions").await;
    let seen = log.body["executions"].as_array().unwrap();
    assert_eq!(seen.len(), 2, "{}", log.body);
    assert!(seen.iter().all(|e| e["app_id"] == shop_id), "{}", log.body);
    let blog_log = ci.get(&s, "/api/v1/admin/executions?app=blog").await;
    assert_eq!(blog_log.status, StatusCode::NOT_FOUND);
    let matched = ci
        .call(
            &s,
            Method::POST,
            "/api/v1/admin/routes:match",
            Some(json!({"host": "blog.test", "method": "GET", "path": "/post"})),
        )
        .await;
    assert_eq!(matched.body["matched"], false);
    assert_eq!(matched.body["reason"], "unknown_host");
    assert!(!matched.body.to_string().contains("\"blog\""));
    let execute = ci
        .call(&s, Method::GET, &format!("/api/v1/execute/{post}"), None)
        .await;
    assert_eq!(execute.status, StatusCode::NOT_FOUND);

    // A developer's token: not the app's owner, and nothing server-wide.
    let delete = ci
        .call(&s, Method::DELETE, "/api/v1/admin/apps/shop", None)
        .await;
    assert_eq!(delete.status, StatusCode::FORBIDDEN);
    assert_eq!(code(&delete.body), "insufficient_role");
    let domain = ci
        .call(
            &s,
            Method::POST,
            "/api/v1/admin/apps/shop/domains",
            Some(json!({"pattern": "www.shop.test"})),
        )
        .await;
    assert_eq!(domain.status, StatusCode::FORBIDDEN);
    let new_app = ci
        .call(
            &s,
            Method::POST,
            "/api/v1/admin/apps",
            Some(json!({"slug": "mine"})),
        )
        .await;
    assert_eq!(new_app.status, StatusCode::FORBIDDEN);
    // It can hand out no more than it has.
    let owner = ci
        .call(
            &s,
            Method::POST,
            "/api/v1/admin/tokens",
            Some(json!({"name": "more", "app": "shop", "role": "owner"})),
        )
        .await;
    assert_eq!(owner.status, StatusCode::FORBIDDEN, "{}", owner.body);
    let other = ci
        .call(
            &s,
            Method::POST,
            "/api/v1/admin/tokens",
            Some(json!({"name": "other", "app": "blog", "role": "viewer"})),
        )
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.body);
    let me = ci.get(&s, "/api/v1/admin/auth/me").await;
    assert_eq!(me.body["server_admin"], false);
    assert_eq!(me.body["roles"][0]["slug"], "shop");
    assert_eq!(me.body["roles"][0]["role"], "developer");
    let metrics = ci.get(&s, "/metrics").await;
    assert_eq!(metrics.status, StatusCode::FORBIDDEN);

    // Deleting the app revokes the tokens limited to it.
    let (status, _) = s
        .admin(Method::DELETE, "/api/v1/admin/apps/shop", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let gone = ci.get(&s, "/api/v1/admin/auth/me").await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
    s.stop().await;
}

/// Owners give and take roles; the roles decide at once; a user without
/// server-wide powers creates no apps or users but keeps their own
/// account; someone always stays a server admin.
async fn owners_manage_roles_and_server_admins_stay(db: Db) {
    let s = TestServer::start(&db).await;
    s.app_on("shop", "shop.test").await;
    create_user(&s, "olly", false).await;
    create_user(&s, "dave", false).await;
    grant(&s, "shop", "olly", "owner").await;
    let olly = Caller::signed_in(&s, "olly").await;
    let dave = Caller::signed_in(&s, "dave").await;

    // Without a role, the shop does not exist for dave.
    assert_eq!(
        dave.get(&s, "/api/v1/admin/apps/shop").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        dave.get(&s, "/api/v1/admin/apps").await.body["apps"],
        json!([])
    );
    // The owner makes dave a viewer, then a developer.
    for role in ["viewer", "developer"] {
        let given = olly
            .call(
                &s,
                Method::PUT,
                "/api/v1/admin/apps/shop/roles/dave",
                Some(json!({"role": role})),
            )
            .await;
        assert_eq!(given.status, StatusCode::OK, "{}", given.body);
        assert_eq!(given.body["username"], "dave");
        let shop = dave.get(&s, "/api/v1/admin/apps/shop").await;
        assert_eq!(shop.body["role"], role);
    }
    let roles = olly.get(&s, "/api/v1/admin/apps/shop/roles").await;
    let listed: Vec<(&str, &str)> = roles.body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["username"].as_str().unwrap(), g["role"].as_str().unwrap()))
        .collect();
    assert_eq!(listed, [("dave", "developer"), ("olly", "owner")]);
    let bad = olly
        .call(
            &s,
            Method::PUT,
            "/api/v1/admin/apps/shop/roles/dave",
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&bad.body), "invalid_role");
    let nobody = olly
        .call(
            &s,
            Method::PUT,
            "/api/v1/admin/apps/shop/roles/nobody",
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);

    // A developer writes scripts but gives no roles.
    let made = dave
        .call(
            &s,
            Method::POST,
            "/api/v1/admin/scripts",
            Some(json!({"app_id": "shop", "name": "cart", "source": "1"})),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let promote = dave
        .call(
            &s,
            Method::PUT,
            "/api/v1/admin/apps/shop/roles/dave",
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(promote.status, StatusCode::FORBIDDEN);
    assert_eq!(code(&promote.body), "insufficient_role");
    assert!(
        promote.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("owner role on app 'shop'"),
        "{}",
        promote.body
    );

    // Nothing server-wide for either, but their own account is theirs.
    for (caller, path, body) in [
        (&olly, "/api/v1/admin/apps", json!({"slug": "more"})),
        (
            &olly,
            "/api/v1/admin/users",
            json!({"username": "eve", "password": PASSWORD}),
        ),
    ] {
        let refused = caller.call(&s, Method::POST, path, Some(body)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(
        olly.get(&s, "/api/v1/admin/users").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        olly.get(&s, "/api/v1/admin/users/olly").await.status,
        StatusCode::OK
    );
    assert_eq!(
        olly.get(&s, "/api/v1/admin/users/dave").await.status,
        StatusCode::FORBIDDEN
    );
    let changed = olly
        .call(
            &s,
            Method::PUT,
            "/api/v1/admin/users/olly/password",
            Some(json!({"password": "a new and longer password", "current_password": PASSWORD})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
    // Tokens they make are limited to what they have.
    // (`picloud login --username` makes one that acts as its user.)
    let cli = olly
        .call(
            &s,
            Method::POST,
            "/api/v1/admin/tokens",
            Some(json!({"name": "cli"})),
        )
        .await;
    assert_eq!(cli.status, StatusCode::CREATED, "{}", cli.body);
    let cli = Caller::token("olly's cli", cli.body["token"].as_str().unwrap());
    assert_eq!(
        cli.get(&s, "/api/v1/admin/apps/shop").await.body["role"],
        "owner"
    );
    assert_eq!(
        cli.get(&s, "/api/v1/admin/users").await.status,
        StatusCode::FORBIDDEN
    );
    let deploy = olly
        .call(
            &s,
            Method::POST,
            "/api/v1/admin/tokens",
            Some(json!({"name": "deploy", "app": "shop", "role": "developer"})),
        )
        .await;
    assert_eq!(deploy.status, StatusCode::CREATED, "{}", deploy.body);
    let mine = olly.get(&s, "/api/v1/admin/tokens").await;
    assert_eq!(mine.body["tokens"].as_array().unwrap().len(), 2);
    let (_, all) = s.admin(Method::GET, "/api/v1/admin/tokens", None).await;
    assert_eq!(all["tokens"].as_array().unwrap().len(), 3);
    let (_, theirs) = s.admin(Method::GET, "/api/v1/admin/tokens", None).await;
    let server_token = theirs["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["user_id"].is_null())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoke = olly
        .call(
            &s,
            Method::DELETE,
            &format!("/api/v1/admin/tokens/{server_token}"),
            None,
        )
        .await;
    assert_eq!(revoke.status, StatusCode::NOT_FOUND);

    // Taking the role away hides the app again.
    let removed = olly
        .call(
            &s,
            Method::DELETE,
            "/api/v1/admin/apps/shop/roles/dave",
            None,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_eq!(
        dave.get(&s, "/api/v1/admin/apps/shop").await.status,
        StatusCode::NOT_FOUND
    );

    // A server admin made and unmade; the last one stays.
    create_user(&s, "root", true).await;
    let (status, body) = s
        .admin(
            Method::PATCH,
            "/api/v1/admin/users/olly",
            Some(json!({"server_admin": true})),
        )
        .await;
    assert_eq!(
        (status, &body["server_admin"]),
        (StatusCode::OK, &json!(true))
    );
    assert_eq!(
        olly.get(&s, "/api/v1/admin/users").await.status,
        StatusCode::OK
    );
    for user in ["olly", "root"] {
        let (status, body) = s
            .admin(
                Method::PATCH,
                &format!("/api/v1/admin/users/{user}"),
                Some(json!({"server_admin": false})),
            )
            .await;
        if user == "olly" {
            assert_eq!(status, StatusCode::OK, "{body}");
        } else {
            assert_eq!(status, StatusCode::CONFLICT, "{body}");
            assert_eq!(code(&body), "last_server_admin");
        }
    }
    let (status, body) = s
        .admin(Method::DELETE, "/api/v1/admin/users/root", None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(code(&body), "last_server_admin");
    // Deleting the app takes its roles with it.
    let (status, _) = s
        .admin(Method::DELETE, "/api/v1/admin/apps/shop", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let me = olly.get(&s, "/api/v1/admin/auth/me").await;
    assert_eq!(me.body["roles"], json!([]));
    s.stop().await;
}

/// `picloud deploy` with a developer's token: code goes in; the app's
/// settings and domains are its owner's.
async fn a_developer_deploys_code_but_not_the_apps_settings(db: Db) {
    let s = TestServer::start(&db).await;
    s.app_on("shop", "shop.test").await;
    let ci = Caller::token("ci", &limited_token(&s, "shop", "developer").await);
    let manifest = |extra: &str| {
        json!({
            "manifest": format!(
                "slug = \"shop\"\nname = \"shop\"\n{extra}\n\n[[scripts]]\nname = \"cart\"\nfile = \"cart.rhai\"\n\n[[routes]]\nmethod = \"GET\"\npath = \"/cart\"\nscript = \"cart\"\n"
            ),
            "files": {"cart.rhai": "\"cart\""},
        })
    };
    let applied = ci
        .call(
            &s,
            Method::POST,
            "/api/v1/admin/apps/shop/manifest:apply",
            Some(manifest("domains = [\"shop.test\"]")),
        )
        .await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.body);
    let (status, body) = s.call(Method::GET, "shop.test", "/cart").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "cart"));
    let domains = ci
        .call(
            &s,
            Method::POST,
            "/api/v1/admin/apps/shop/manifest:apply",
            Some(manifest("domains = [\"shop.test\", \"www.shop.test\"]")),
        )
        .await;
    assert_eq!(domains.status, StatusCode::FORBIDDEN, "{}", domains.body);
    assert_eq!(code(&domains.body), "insufficient_role");
    assert!(
        domains.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("domain"),
        "{}",
        domains.body
    );
    let (_, app) = s.admin(Method::GET, "/api/v1/admin/apps/shop", None).await;
    assert_eq!(app["domains"].as_array().unwrap().len(), 1);
    // The plan is there to read, as a dry run.
    let plan = ci
        .call(
            &s,
            Method::POST,
            "/api/v1/admin/apps/shop/manifest:plan",
            Some(manifest("domains = [\"shop.test\", \"www.shop.test\"]")),
        )
        .await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
    s.stop().await;
}
