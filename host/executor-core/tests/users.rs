//! The host side of the `users` imports, through the real guest, with a fake
//! behind `UsersService`: every call carries the running script's app and the
//! client address the orchestrator determined (never what the script put in
//! `request`), results arrive as maps, failures are catchable maps, and an
//! uncaught failure answers the request with the status its code means.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use executor_core::{Executor, ExecutorConfig};
use shared::{
    AppId, AppUser, ExecutionOutcome, ExecutionRequest, Limits, OneTimeToken, ScriptId,
    ScriptRequest, ServiceError, ServiceProvider, UserSession, UsersService,
};

#[derive(Default)]
struct Fake {
    /// (app, function, the client `login` was given).
    calls: Mutex<Vec<(AppId, &'static str, Option<IpAddr>)>>,
}

fn user() -> AppUser {
    AppUser {
        id: "0193c000-0000-7000-8000-000000000001".into(),
        email: "ada@example.com".into(),
        verified: false,
        disabled: false,
        metadata: r#"{"name":"Ada"}"#.into(),
        created_at: "2026-12-07T10:00:00.000Z".into(),
        last_sign_in_at: None,
    }
}

fn token() -> OneTimeToken {
    OneTimeToken {
        token: "t".into(),
        user: user(),
        expires: "2026-12-07T11:00:00.000Z".into(),
        expires_in: 3600,
    }
}

impl Fake {
    fn record(&self, app: AppId, function: &'static str) {
        self.calls.lock().unwrap().push((app, function, None));
    }
}

impl ServiceProvider for Fake {
    fn users(&self) -> Option<&dyn UsersService> {
        Some(self)
    }
}

#[async_trait]
impl UsersService for Fake {
    async fn signup(&self, app: AppId, email: &str, _: &str) -> Result<AppUser, ServiceError> {
        self.record(app, "signup");
        if email == "taken@example.com" {
            return Err(ServiceError::coded("email_taken", "an account exists"));
        }
        Ok(user())
    }
    async fn login(
        &self,
        app: AppId,
        email: &str,
        _: &str,
        client: Option<IpAddr>,
    ) -> Result<UserSession, ServiceError> {
        self.calls.lock().unwrap().push((app, "login", client));
        match email {
            "locked@example.com" => Err(ServiceError {
                retry_after: Some(7),
                ..ServiceError::coded("too_many_attempts", "try again in 7 s")
            }),
            "down@example.com" => Err(ServiceError::unavailable()),
            _ => Ok(UserSession {
                token: "session-token".into(),
                user: user(),
                expires: "2026-12-14T10:00:00.000Z".into(),
                expires_in: 604_800,
            }),
        }
    }
    async fn current(
        &self,
        app: AppId,
        authorization: Option<&str>,
        _: Option<&str>,
    ) -> Result<Option<AppUser>, ServiceError> {
        self.record(app, "current");
        Ok((authorization == Some("Bearer session-token")).then(user))
    }
    async fn logout(&self, app: AppId, token: &str) -> Result<bool, ServiceError> {
        self.record(app, "logout");
        Ok(token == "Bearer session-token" || token == "session-token")
    }
    async fn get(&self, app: AppId, _: &str) -> Result<Option<AppUser>, ServiceError> {
        self.record(app, "get");
        Ok(None)
    }
    async fn update(
        &self,
        app: AppId,
        _: &str,
        metadata: &str,
    ) -> Result<Option<AppUser>, ServiceError> {
        self.record(app, "update");
        Ok(Some(AppUser {
            metadata: metadata.to_owned(),
            ..user()
        }))
    }
    async fn start_reset(&self, app: AppId, _: &str) -> Result<Option<OneTimeToken>, ServiceError> {
        self.record(app, "start_reset");
        Ok(Some(token()))
    }
    async fn finish_reset(&self, app: AppId, _: &str, _: &str) -> Result<AppUser, ServiceError> {
        self.record(app, "finish_reset");
        Err(ServiceError::coded(
            "invalid_token",
            "the reset token is unknown",
        ))
    }
    async fn start_verify(
        &self,
        app: AppId,
        _: &str,
    ) -> Result<Option<OneTimeToken>, ServiceError> {
        self.record(app, "start_verify");
        Ok(None)
    }
    async fn finish_verify(&self, app: AppId, _: &str) -> Result<AppUser, ServiceError> {
        self.record(app, "finish_verify");
        Ok(AppUser {
            verified: true,
            ..user()
        })
    }
}

fn executor(services: Arc<dyn ServiceProvider>) -> Executor {
    let cache_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache");
    Executor::new(ExecutorConfig {
        cache_dir: Some(cache_dir),
        services,
        ..Default::default()
    })
    .expect("executor starts")
}

fn run(executor: &Executor, app: AppId, source: &str) -> ExecutionOutcome {
    testkit::block_on(executor.execute(ExecutionRequest {
        execution_id: shared::ExecutionId::new(),
        app_id: app,
        script_id: ScriptId::new(),
        route_id: None,
        source: source.into(),
        request: ScriptRequest {
            method: "GET".into(),
            headers: vec![("authorization".into(), "Bearer session-token".into())],
            client_ip: "203.0.113.7".into(),
            ..Default::default()
        },
        limits: Limits::default(),
        trigger: shared::Trigger::Http,
        name: String::new(),
        modules: Default::default(),
        kind: shared::ExecutionKind::Handler,
    }))
}

fn answer(outcome: &ExecutionOutcome) -> (u16, String, Vec<(String, String)>) {
    match &outcome.outcome {
        Ok(response) => (
            response.status,
            String::from_utf8_lossy(&response.body).into_owned(),
            response.headers.clone(),
        ),
        Err(error) => panic!("expected a response, got {}: {error}", error.code()),
    }
}

#[test]
fn every_call_carries_the_app_and_the_orchestrators_client() {
    let fake = Arc::new(Fake::default());
    let executor = executor(fake.clone());
    let app = AppId::new();
    let out = run(
        &executor,
        app,
        r#"
        request.client_ip = "198.51.100.1";   // the script's copy: not what is throttled
        let u = users::signup("ada@example.com", "a long passphrase");
        let s = users::login("ada@example.com", "a long passphrase");
        let me = users::current(request);
        let out = users::logout(request);
        let none = users::get("someone");
        let changed = users::update(u.id, #{ metadata: #{ plan: "pro" } });
        let reset = users::start_reset("ada@example.com");
        let verify = users::start_verify(u.id);
        let verified = users::finish_verify("t");
        `${u.metadata.name} ${s.token} ${s.expires_in} ${me.email} ${out} ${none == ()} ${changed.metadata.plan} ${reset.expires_in} ${verify == ()} ${verified.verified} ${u.last_sign_in_at == ()}`
        "#,
    );
    assert_eq!(
        answer(&out).1,
        "Ada session-token 604800 ada@example.com true true pro 3600 true true true"
    );
    let calls = fake.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 9, "{calls:?}");
    assert!(calls.iter().all(|(called, _, _)| *called == app));
    let login = calls.iter().find(|(_, f, _)| *f == "login").unwrap();
    assert_eq!(login.2, Some("203.0.113.7".parse().unwrap()));
}

#[test]
fn failures_are_catchable_maps_and_uncaught_ones_answer_with_their_status() {
    let executor = executor(Arc::new(Fake::default()));
    let app = AppId::new();
    let out = run(
        &executor,
        app,
        r#"
        let seen = [];
        try { users::login("locked@example.com", "x"); } catch (e) { seen.push(`${e.code}/${e.retry_after}/${e.function}`); }
        try { users::signup("taken@example.com", "x"); } catch (e) { seen.push(e.code); }
        try { users::update("id", #{ name: "x" }); } catch (e) { seen.push(`${e.code}: ${e.message}`); }
        seen
        "#,
    );
    assert_eq!(
        answer(&out).1,
        r#"["too_many_attempts/7/users::login","email_taken","invalid_argument: unknown field 'name': only metadata can be updated"]"#
    );

    // Uncaught: the status the code means, the platform's error body, and a
    // log line saying why.
    let out = run(&executor, app, r#"users::login("locked@example.com", "x")"#);
    let (status, body, headers) = answer(&out);
    assert_eq!(status, 429);
    assert!(
        headers.contains(&("retry-after".into(), "7".into())),
        "{headers:?}"
    );
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "too_many_attempts");
    assert!(
        out.logs.iter().any(|l| l
            .message
            .contains("uncaught users::login: too_many_attempts")),
        "{:?}",
        out.logs
    );
    let out = run(
        &executor,
        app,
        r#"users::finish_reset("t", "a new passphrase")"#,
    );
    assert_eq!(answer(&out).0, 401);
    let out = run(&executor, app, r#"users::signup("taken@example.com", "x")"#);
    assert_eq!(answer(&out).0, 409);

    // The server's fault stays a script error.
    let out = run(&executor, app, r#"users::login("down@example.com", "x")"#);
    let error = out.outcome.unwrap_err();
    assert_eq!(error.code(), "runtime_error");
    assert!(
        error.to_string().contains("users::login: unavailable"),
        "{error}"
    );
}
