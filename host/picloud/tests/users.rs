//! End-user accounts (`users::`) over HTTP against the real guest, as an
//! app's clients and its admins see them: the sign-up / sign-in / "me" /
//! sign-out API of docs/scripting.md, resets and verification, the sign-in
//! throttle, the admin API, and that nothing of one app's users is known to
//! another. Every test runs on SQLite and on PostgreSQL.

#[macro_use]
mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Db, TestServer, code};

fn main() {
    testkit::harness::run_on_both_databases(tests![
        an_app_signs_users_up_in_and_out,
        resets_and_verifications_are_single_use,
        sign_in_is_throttled_without_revealing_accounts,
        apps_never_see_each_others_users,
        admins_list_disable_and_delete_accounts,
    ])
}

/// The four routes of docs/scripting.md's example, plus a few more for the
/// rest of the API, deployed into `app`.
async fn deploy_auth_api(s: &TestServer, app: &str) {
    let routes = [
        (
            "signup",
            "POST",
            "/signup",
            r#"let body = parse_json(request.body);
let user = users::signup(body.email, body.password);
response(201, user)"#,
        ),
        (
            "login",
            "POST",
            "/login",
            r#"let body = parse_json(request.body);
let session = users::login(body.email, body.password);
#{ token: session.token, expires: session.expires, expires_in: session.expires_in, user: session.user }"#,
        ),
        (
            "me",
            "GET",
            "/me",
            r#"let user = users::current(request);
if user == () { return response(401, #{ error: "sign in first" }); }
user"#,
        ),
        (
            "logout",
            "POST",
            "/logout",
            r#"#{ ended: users::logout(request) }"#,
        ),
        (
            "profile",
            "PUT",
            "/profile",
            r#"let user = users::current(request);
if user == () { return response(401, ""); }
users::update(user.id, #{ metadata: parse_json(request.body) })"#,
        ),
        (
            "user",
            "GET",
            "/users/:id",
            r#"let user = users::get(request.params.id);
if user == () { response(404, "") } else { user }"#,
        ),
        (
            "reset-start",
            "POST",
            "/reset",
            r#"let t = users::start_reset(parse_json(request.body).email);
if t == () { #{ sent: false } } else { #{ sent: true, token: t.token, email: t.user.email, expires_in: t.expires_in } }"#,
        ),
        (
            "reset-finish",
            "POST",
            "/reset/finish",
            r#"let body = parse_json(request.body);
users::finish_reset(body.token, body.password)"#,
        ),
        (
            "verify-start",
            "POST",
            "/verify",
            r#"let t = users::start_verify(parse_json(request.body).user);
if t == () { #{ sent: false } } else { #{ sent: true, token: t.token } }"#,
        ),
        (
            "verify-finish",
            "POST",
            "/verify/finish",
            r#"users::finish_verify(parse_json(request.body).token)"#,
        ),
        (
            "caught",
            "POST",
            "/caught",
            r#"let body = parse_json(request.body);
let result = "signed in";
try {
    users::login(body.email, body.password);
} catch (e) {
    result = `${e.code}|${e.function}|${e.retry_after ?? "-"}`;
}
result"#,
        ),
    ];
    for (name, method, path, source) in routes {
        s.deploy(app, name, source, method, path).await;
    }
}

/// A client of the app at `host`.
struct Client<'a> {
    s: &'a TestServer,
    host: &'a str,
}

impl Client<'_> {
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .s
            .client
            .request(method, format!("{}{path}", self.s.base))
            .header("host", self.host);
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, body)
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (status, _, body) = self.send(Method::POST, path, Some(body), &[]).await;
        (status, body)
    }

    async fn signup(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post("/signup", json!({"email": email, "password": password}))
            .await
    }

    async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post("/login", json!({"email": email, "password": password}))
            .await
    }

    /// Signs in and returns the token.
    async fn token(&self, email: &str, password: &str) -> String {
        let (status, body) = self.login(email, password).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    async fn me(&self, token: &str) -> (StatusCode, Value) {
        let bearer = format!("Bearer {token}");
        let (status, _, body) = self
            .send(Method::GET, "/me", None, &[("authorization", &bearer)])
            .await;
        (status, body)
    }
}

const PASSWORD: &str = "a long and unusual passphrase";

/// Everything a user's map shows, and nothing secret.
fn assert_public(user: &Value) {
    let text = user.to_string();
    assert!(!text.contains("argon2"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
    for field in [
        "id",
        "email",
        "verified",
        "disabled",
        "metadata",
        "created_at",
    ] {
        assert!(user.get(field).is_some(), "{field} missing from {user}");
    }
}

async fn an_app_signs_users_up_in_and_out(db: Db) {
    let s = TestServer::start(&db).await;
    s.app_on("shop", "shop.test").await;
    deploy_auth_api(&s, "shop").await;
    let c = Client {
        s: &s,
        host: "shop.test",
    };

    // Sign-up: the email is normalized, the password never comes back.
    let (status, user) = c.signup(" Ada@Example.com ", PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_public(&user);
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["verified"], false);
    assert_eq!(user["metadata"], json!({}));
    assert_eq!(user["last_sign_in_at"], Value::Null);

    // An uncaught users:: error answers with its own status and code.
    let (status, body) = c.signup("ADA@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(code(&body), "email_taken");
    let (status, body) = c.signup("bob@example.com", "short").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(code(&body), "weak_password");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at least 8")
    );
    let (status, body) = c.signup("bob@example.com", "Password123").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "weak_password")
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("common")
    );
    let (status, body) = c.signup("not an email", PASSWORD).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_email")
    );

    // Sign-in: a wrong password and an unknown email read the same.
    let (status, wrong) = c.login("ada@example.com", "not the passphrase").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{wrong}");
    let (status, unknown) = c.login("nobody@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{unknown}");
    assert_eq!(wrong, unknown);
    assert_eq!(code(&wrong), "invalid_credentials");

    let (status, session) = c.login("ADA@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();
    assert!(token.len() >= 32, "{session}");
    assert_eq!(session["expires_in"], 7 * 24 * 3600);
    assert!(session["user"]["last_sign_in_at"].is_string(), "{session}");

    // "me" with the bearer token; without one, or with a wrong one, nobody.
    let (status, me) = c.me(&token).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["email"], "ada@example.com");
    assert_public(&me);
    assert_eq!(c.me("0123456789abcdef").await.0, StatusCode::UNAUTHORIZED);
    let (status, _, _) = c.send(Method::GET, "/me", None, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Metadata is the app's; get by id.
    let bearer = format!("Bearer {token}");
    let (status, _, updated) = c
        .send(
            Method::PUT,
            "/profile",
            Some(json!({"name": "Ada", "plan": "pro"})),
            &[("authorization", &bearer)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["metadata"], json!({"name": "Ada", "plan": "pro"}));
    let id = me["id"].as_str().unwrap();
    let (status, _, fetched) = c
        .send(Method::GET, &format!("/users/{id}"), None, &[])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["metadata"]["name"], "Ada");
    let (status, _, _) = c.send(Method::GET, "/users/not-an-id", None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A cookie works once the app names it.
    let cookie = format!("theme=dark; sid={token}");
    let (status, _, _) = c
        .send(Method::GET, "/me", None, &[("cookie", &cookie)])
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "no cookie is configured yet"
    );
    let (status, app) = s
        .admin(
            Method::PATCH,
            "/api/v1/admin/apps/shop",
            Some(json!({"users": {"session_cookie": "sid", "session_ttl": 3600}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{app}");
    assert_eq!(app["users"]["session_cookie"], "sid");
    let (status, _, me) = c
        .send(Method::GET, "/me", None, &[("cookie", &cookie)])
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["email"], "ada@example.com");
    let (_, fresh) = c.login("ada@example.com", PASSWORD).await;
    assert_eq!(fresh["expires_in"], 3600, "{fresh}");
    let (status, body) = s
        .admin(
            Method::PATCH,
            "/api/v1/admin/apps/shop",
            Some(json!({"users": {"session_cookie": "bad name"}})),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_users")
    );

    // Sign-out ends that session only.
    let other = c.token("ada@example.com", PASSWORD).await;
    let (status, _, ended) = c
        .send(Method::POST, "/logout", None, &[("authorization", &bearer)])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ended, json!({"ended": true}));
    assert_eq!(c.me(&token).await.0, StatusCode::UNAUTHORIZED);
    let (_, _, again) = c
        .send(Method::POST, "/logout", None, &[("authorization", &bearer)])
        .await;
    assert_eq!(again, json!({"ended": false}));
    assert_eq!(c.me(&other).await.0, StatusCode::OK);

    // A caught error carries its code and the function.
    let (status, caught) = c
        .post(
            "/caught",
            json!({"email": "ada@example.com", "password": "nope nope"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(caught, "invalid_credentials|users::login|-");

    // The execution log says why a script answered what it did not return.
    let (_, list) = s
        .admin(
            Method::GET,
            "/api/v1/admin/apps/shop/executions?script=login&status=401&limit=1",
            None,
        )
        .await;
    let id = list["executions"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{list}"))
        .to_owned();
    let (_, record) = s
        .admin(Method::GET, &format!("/api/v1/admin/executions/{id}"), None)
        .await;
    assert!(
        record["logs"].to_string().contains("uncaught users::"),
        "{record}"
    );
    assert!(!record.to_string().contains(&other), "no token in the log");
    s.stop().await;
}

async fn resets_and_verifications_are_single_use(db: Db) {
    let s = TestServer::start(&db).await;
    s.app_on("shop", "shop.test").await;
    deploy_auth_api(&s, "shop").await;
    let c = Client {
        s: &s,
        host: "shop.test",
    };
    let (_, user) = c.signup("ada@example.com", PASSWORD).await;
    let session = c.token("ada@example.com", PASSWORD).await;

    // No account: nothing to send, and no error that says so.
    let (status, none) = c
        .post("/reset", json!({"email": "nobody@example.com"}))
        .await;
    assert_eq!((status, none), (StatusCode::OK, json!({"sent": false})));
    let (status, first) = c.post("/reset", json!({"email": "Ada@example.com"})).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["email"], "ada@example.com");
    assert_eq!(first["expires_in"], 3600);
    // Only the newest link works.
    let (_, second) = c.post("/reset", json!({"email": "ada@example.com"})).await;
    let new_password = "another fine passphrase";
    let (status, body) = c
        .post(
            "/reset/finish",
            json!({"token": first["token"], "password": new_password}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    // The policy applies, and a refused password leaves the token usable.
    let (status, body) = c
        .post(
            "/reset/finish",
            json!({"token": second["token"], "password": "123456789"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "weak_password")
    );
    let (status, body) = c
        .post(
            "/reset/finish",
            json!({"token": second["token"], "password": new_password}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"], user["id"]);
    // Used once; every session ended; only the new password signs in.
    let (status, body) = c
        .post(
            "/reset/finish",
            json!({"token": second["token"], "password": "yet another passphrase"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    assert_eq!(c.me(&session).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        c.login("ada@example.com", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    c.token("ada@example.com", new_password).await;

    // Verification, by id or by email.
    let (_, by_email) = c.post("/verify", json!({"user": "ada@example.com"})).await;
    assert_eq!(by_email["sent"], true);
    let (_, by_id) = c.post("/verify", json!({"user": user["id"]})).await;
    let (status, verified) = c
        .post("/verify/finish", json!({"token": by_id["token"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{verified}");
    assert_eq!(verified["verified"], true);
    let (status, body) = c
        .post("/verify/finish", json!({"token": by_id["token"]}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    let (_, none) = c
        .post("/verify", json!({"user": "nobody@example.com"}))
        .await;
    assert_eq!(none, json!({"sent": false}));
    s.stop().await;
}

async fn sign_in_is_throttled_without_revealing_accounts(db: Db) {
    let s = TestServer::start(&db).await;
    s.app_on("shop", "shop.test").await;
    s.app_on("blog", "blog.test").await;
    deploy_auth_api(&s, "shop").await;
    deploy_auth_api(&s, "blog").await;
    let shop = Client {
        s: &s,
        host: "shop.test",
    };
    let blog = Client {
        s: &s,
        host: "blog.test",
    };
    shop.signup("ada@example.com", PASSWORD).await;
    blog.signup("ada@example.com", PASSWORD).await;

    // An account and an email nobody has go through the same steps: five
    // free failures, then 429 with Retry-After.
    for email in ["ada@example.com", "nobody@example.com"] {
        for attempt in 1..=5 {
            let (status, body) = shop.login(email, "wrong password!").await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{email} #{attempt}: {body}"
            );
        }
        // The sixth failure starts the lockout.
        shop.login(email, "wrong password!").await;
        let (status, headers, body) = shop
            .send(
                Method::POST,
                "/login",
                Some(json!({"email": email, "password": PASSWORD})),
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{email}: {body}");
        assert_eq!(code(&body), "too_many_attempts");
        let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=900).contains(&retry), "{retry}");
        // A script that catches it reads the wait.
        let (_, caught) = shop
            .post("/caught", json!({"email": email, "password": PASSWORD}))
            .await;
        assert!(
            caught
                .as_str()
                .unwrap()
                .starts_with("too_many_attempts|users::login|"),
            "{caught}"
        );
    }
    // Another account of the same app, and the same email in another app,
    // are not locked by it.
    shop.signup("bob@example.com", PASSWORD).await;
    shop.token("bob@example.com", PASSWORD).await;
    blog.token("ada@example.com", PASSWORD).await;
    s.stop().await;
}

async fn apps_never_see_each_others_users(db: Db) {
    let s = TestServer::start(&db).await;
    s.app_on("shop", "shop.test").await;
    s.app_on("blog", "blog.test").await;
    deploy_auth_api(&s, "shop").await;
    deploy_auth_api(&s, "blog").await;
    let shop = Client {
        s: &s,
        host: "shop.test",
    };
    let blog = Client {
        s: &s,
        host: "blog.test",
    };
    let (_, user) = shop.signup("ada@example.com", PASSWORD).await;
    let id = user["id"].as_str().unwrap();
    let token = shop.token("ada@example.com", PASSWORD).await;
    let (_, reset) = shop
        .post("/reset", json!({"email": "ada@example.com"}))
        .await;
    let (_, verify) = shop.post("/verify", json!({"user": id})).await;

    // Through every function, the blog knows nothing of the shop's Ada.
    assert_eq!(
        blog.login("ada@example.com", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(blog.me(&token).await.0, StatusCode::UNAUTHORIZED);
    let (status, _, _) = blog
        .send(Method::GET, &format!("/users/{id}"), None, &[])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let bearer = format!("Bearer {token}");
    let (_, _, ended) = blog
        .send(Method::POST, "/logout", None, &[("authorization", &bearer)])
        .await;
    assert_eq!(ended, json!({"ended": false}));
    let (_, sent) = blog
        .post("/reset", json!({"email": "ada@example.com"}))
        .await;
    assert_eq!(sent, json!({"sent": false}));
    let (_, sent) = blog.post("/verify", json!({"user": id})).await;
    assert_eq!(sent, json!({"sent": false}));
    let (status, body) = blog
        .post(
            "/reset/finish",
            json!({"token": reset["token"], "password": "hijacked passphrase"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    let (status, body) = blog
        .post("/verify/finish", json!({"token": verify["token"]}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    blog.deploy_update(&s, id).await;
    // The same email is a separate account there.
    let (status, theirs) = blog.signup("ada@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED, "{theirs}");
    assert_ne!(theirs["id"], user["id"]);
    let (status, _) = s
        .admin(
            Method::GET,
            &format!("/api/v1/admin/apps/blog/users/{id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The shop's session still works: nothing the blog did touched it.
    assert_eq!(shop.me(&token).await.0, StatusCode::OK);
    let (status, _) = shop
        .post(
            "/reset/finish",
            json!({"token": reset["token"], "password": "a fine new passphrase"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Deleting the app deletes its users: a new app of the same slug starts
    // with none, and the old session is nobody's.
    let (status, _) = s
        .admin(Method::DELETE, "/api/v1/admin/apps/shop", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    s.app_on("shop", "shop.test").await;
    let (_, list) = s
        .admin(Method::GET, "/api/v1/admin/apps/shop/users", None)
        .await;
    assert_eq!(list["items"], json!([]), "{list}");
    deploy_auth_api(&s, "shop").await;
    assert_eq!(shop.me(&token).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        shop.login("ada@example.com", "a fine new passphrase")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    s.stop().await;
}

impl Client<'_> {
    /// `users::update` of another app's user id from this app changes
    /// nothing and finds nobody.
    async fn deploy_update(&self, s: &TestServer, id: &str) {
        let app = self.host.trim_end_matches(".test");
        s.deploy(
            app,
            "poke",
            r#"let u = users::update(request.query.id, #{ metadata: #{ pwned: true } });
if u == () { "nobody" } else { "changed" }"#,
            "GET",
            "/poke",
        )
        .await;
        let (status, _, body) = self
            .send(Method::GET, &format!("/poke?id={id}"), None, &[])
            .await;
        assert_eq!((status, body), (StatusCode::OK, json!("nobody")));
    }
}

async fn admins_list_disable_and_delete_accounts(db: Db) {
    let s = TestServer::start(&db).await;
    s.app_on("shop", "shop.test").await;
    deploy_auth_api(&s, "shop").await;
    let c = Client {
        s: &s,
        host: "shop.test",
    };
    for name in ["carol", "ada", "bob", "dave", "adam"] {
        let (status, body) = c.signup(&format!("{name}@example.com"), PASSWORD).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let token = c.token("ada@example.com", PASSWORD).await;
    c.token("ada@example.com", PASSWORD).await;

    // Paged by email; never a hash or a token.
    let (status, page) = s
        .admin(Method::GET, "/api/v1/admin/apps/shop/users?limit=2", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let emails = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(emails(&page), ["ada@example.com", "adam@example.com"]);
    assert_eq!(page["items"][0]["sessions"], 2);
    let text = page.to_string();
    assert!(!text.contains("argon2") && !text.contains(&token), "{text}");
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, next) = s
        .admin(
            Method::GET,
            &format!("/api/v1/admin/apps/shop/users?limit=2&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(emails(&next), ["bob@example.com", "carol@example.com"]);
    let (_, last) = s
        .admin(
            Method::GET,
            &format!(
                "/api/v1/admin/apps/shop/users?limit=2&cursor={}",
                next["next_cursor"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(emails(&last), ["dave@example.com"]);
    assert_eq!(last["next_cursor"], Value::Null);
    let (_, found) = s
        .admin(Method::GET, "/api/v1/admin/apps/shop/users?q=ADA", None)
        .await;
    assert_eq!(emails(&found), ["ada@example.com", "adam@example.com"]);
    let (status, body) = s
        .admin(Method::GET, "/api/v1/admin/apps/shop/users?limit=0", None)
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_limit")
    );

    // Disabling signs the user out and keeps them out.
    let id = page["items"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/admin/apps/shop/users/{id}");
    let (status, disabled) = s
        .admin(Method::PATCH, &path, Some(json!({"disabled": true})))
        .await;
    assert_eq!(status, StatusCode::OK, "{disabled}");
    assert_eq!(
        (disabled["disabled"].clone(), disabled["sessions"].clone()),
        (json!(true), json!(0))
    );
    assert_eq!(c.me(&token).await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = c.login("ada@example.com", PASSWORD).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "account_disabled")
    );
    let (_, body) = c.post("/reset", json!({"email": "ada@example.com"})).await;
    assert_eq!(body, json!({"sent": false}));
    s.admin(Method::PATCH, &path, Some(json!({"disabled": false})))
        .await;
    let token = c.token("ada@example.com", PASSWORD).await;

    // Revoking sessions; deleting the account.
    let (status, revoked) = s
        .admin(Method::DELETE, &format!("{path}/sessions"), None)
        .await;
    assert_eq!((status, revoked), (StatusCode::OK, json!({"revoked": 1})));
    assert_eq!(c.me(&token).await.0, StatusCode::UNAUTHORIZED);
    let (status, _) = s.admin(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = s.admin(Method::GET, &path, None).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    assert_eq!(
        c.login("ada@example.com", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = c.signup("ada@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED, "the email is free again");
    s.stop().await;
}
