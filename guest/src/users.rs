//! `users::…`: the app's end-user accounts. Each function calls one import
//! of the `users` interface; the host scopes it to the calling app.
//!
//! A failure throws `#{ code, message, function }` (plus `retry_after` for
//! `too_many_attempts`) so that a script can branch on `e.code`. One that no
//! script catches answers the request with the status its code means
//! ([`uncaught_response`]): a sign-in API written without `try` still
//! answers a wrong password with 401 and a throttled client with 429 and
//! `Retry-After`, never with a 500.

use rhai::{Dynamic, EvalAltResult, FuncRegistration, Map, Module, NativeCallContext, Position};

use crate::picloud::platform::users::{self, OneTimeToken, User, UsersError};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// The marker key of a thrown `users::` error.
const FUNCTION: &str = "function";

fn fail(at: Position, function: &str, error: UsersError) -> Box<EvalAltResult> {
    let mut thrown = Map::new();
    thrown.insert("code".into(), error.code.into());
    thrown.insert("message".into(), error.message.into());
    thrown.insert(FUNCTION.into(), function.into());
    if let Some(seconds) = error.retry_after {
        thrown.insert(
            "retry_after".into(),
            rhai::INT::try_from(seconds)
                .unwrap_or(rhai::INT::MAX)
                .into(),
        );
    }
    EvalAltResult::ErrorRuntime(thrown.into(), at).into()
}

/// An argument error raised here, in the same shape as the host's.
fn invalid(at: Position, function: &str, message: String) -> Box<EvalAltResult> {
    fail(
        at,
        function,
        UsersError {
            code: "invalid_argument".into(),
            message,
            retry_after: None,
        },
    )
}

fn user_map(user: User) -> Dynamic {
    let mut map = Map::new();
    map.insert("id".into(), user.id.into());
    map.insert("email".into(), user.email.into());
    map.insert("verified".into(), user.verified.into());
    map.insert("disabled".into(), user.disabled.into());
    let metadata = serde_json::from_str::<serde_json::Value>(&user.metadata)
        .ok()
        .and_then(|value| rhai::serde::to_dynamic(value).ok())
        .unwrap_or_else(|| Map::new().into());
    map.insert("metadata".into(), metadata);
    map.insert("created_at".into(), user.created_at.into());
    map.insert(
        "last_sign_in_at".into(),
        user.last_sign_in_at.map_or(Dynamic::UNIT, Dynamic::from),
    );
    map.into()
}

fn token_map(token: OneTimeToken) -> Dynamic {
    let mut map = Map::new();
    map.insert("token".into(), token.token.into());
    map.insert("user".into(), user_map(token.user));
    map.insert("expires".into(), token.expires.into());
    map.insert(
        "expires_in".into(),
        rhai::INT::try_from(token.expires_in)
            .unwrap_or(rhai::INT::MAX)
            .into(),
    );
    map.into()
}

fn optional<T>(value: Option<T>, to_map: impl FnOnce(T) -> Dynamic) -> Dynamic {
    value.map_or(Dynamic::UNIT, to_map)
}

/// A header of a `request` map (names are lower-case there).
fn header(request: &Map, name: &str) -> Option<String> {
    let headers = request.get("headers")?.read_lock::<Map>()?;
    headers
        .get(name)
        .filter(|v| v.is_string())
        .map(|v| v.to_string())
}

/// `users::signup/login/current/logout/get/update/start_reset/finish_reset/
/// start_verify/finish_verify`.
pub(crate) fn users_module() -> Module {
    let mut m = Module::new();
    FuncRegistration::new("signup").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, email: &str, password: &str| -> Result<Dynamic> {
            users::signup(email, password)
                .map(user_map)
                .map_err(|e| fail(ctx.call_position(), "users::signup", e))
        },
    );
    FuncRegistration::new("login").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, email: &str, password: &str| -> Result<Map> {
            let session = users::login(email, password)
                .map_err(|e| fail(ctx.call_position(), "users::login", e))?;
            let mut map = Map::new();
            map.insert("token".into(), session.token.into());
            map.insert("user".into(), user_map(session.user));
            map.insert("expires".into(), session.expires.into());
            map.insert(
                "expires_in".into(),
                rhai::INT::try_from(session.expires_in)
                    .unwrap_or(rhai::INT::MAX)
                    .into(),
            );
            Ok(map)
        },
    );
    FuncRegistration::new("current").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, request: Map| -> Result<Dynamic> {
            let authorization = header(&request, "authorization");
            let cookie = header(&request, "cookie");
            users::current(authorization.as_deref(), cookie.as_deref())
                .map(|user| optional(user, user_map))
                .map_err(|e| fail(ctx.call_position(), "users::current", e))
        },
    );
    // `logout(token)` or `logout(request)`, whose bearer token it ends.
    FuncRegistration::new("logout").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, token: Dynamic| -> Result<bool> {
            let at = ctx.call_position();
            let token = if let Some(request) = token.read_lock::<Map>() {
                header(&request, "authorization").unwrap_or_default()
            } else if token.is_string() {
                token.to_string()
            } else {
                return Err(invalid(
                    at,
                    "users::logout",
                    format!(
                        "pass the session token (a string) or the request, not a {}",
                        token.type_name()
                    ),
                ));
            };
            users::logout(&token).map_err(|e| fail(at, "users::logout", e))
        },
    );
    FuncRegistration::new("get").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, id: &str| -> Result<Dynamic> {
            users::get(id)
                .map(|user| optional(user, user_map))
                .map_err(|e| fail(ctx.call_position(), "users::get", e))
        },
    );
    FuncRegistration::new("update").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, id: &str, changes: Map| -> Result<Dynamic> {
            let at = ctx.call_position();
            let bad = |message: String| invalid(at, "users::update", message);
            let mut metadata = None;
            for (name, value) in &changes {
                match name.as_str() {
                    "metadata" => {
                        if !value.is_map() {
                            return Err(bad(format!(
                                "metadata must be a map, not a {}",
                                value.type_name()
                            )));
                        }
                        let json = crate::services::to_json(value)
                            .map_err(|e| bad(format!("metadata: {e}")))?;
                        metadata = Some(json.to_string());
                    }
                    other => {
                        return Err(bad(format!(
                            "unknown field '{other}': only metadata can be updated"
                        )));
                    }
                }
            }
            let Some(metadata) = metadata else {
                return Err(bad("nothing to update: pass #{ metadata: … }".into()));
            };
            users::update(id, &metadata)
                .map(|user| optional(user, user_map))
                .map_err(|e| fail(at, "users::update", e))
        },
    );
    FuncRegistration::new("start_reset").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, email: &str| -> Result<Dynamic> {
            users::start_reset(email)
                .map(|token| optional(token, token_map))
                .map_err(|e| fail(ctx.call_position(), "users::start_reset", e))
        },
    );
    FuncRegistration::new("finish_reset").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, token: &str, password: &str| -> Result<Dynamic> {
            users::finish_reset(token, password)
                .map(user_map)
                .map_err(|e| fail(ctx.call_position(), "users::finish_reset", e))
        },
    );
    FuncRegistration::new("start_verify").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, user: &str| -> Result<Dynamic> {
            users::start_verify(user)
                .map(|token| optional(token, token_map))
                .map_err(|e| fail(ctx.call_position(), "users::start_verify", e))
        },
    );
    FuncRegistration::new("finish_verify").set_into_module(
        &mut m,
        |ctx: NativeCallContext<'_>, token: &str| -> Result<Dynamic> {
            users::finish_verify(token)
                .map(user_map)
                .map_err(|e| fail(ctx.call_position(), "users::finish_verify", e))
        },
    );
    m
}

/// Whether a thrown value is what a failed `users::` call throws.
pub(crate) fn is_users_error(value: &Dynamic) -> bool {
    value.read_lock::<Map>().is_some_and(|map| {
        map.get(FUNCTION)
            .is_some_and(|f| f.to_string().starts_with("users::"))
            && map.contains_key("code")
            && map.contains_key("message")
    })
}

fn field(map: &Map, name: &str) -> String {
    map.get(name).map(|v| v.to_string()).unwrap_or_default()
}

/// `users::login: invalid_credentials: …`, for an uncaught error that has
/// no HTTP meaning of its own (`unavailable`).
pub(crate) fn describe_users_error(value: &Dynamic) -> String {
    let map = value.read_lock::<Map>().expect("checked by is_users_error");
    format!(
        "{}: {}: {}",
        field(&map, FUNCTION),
        field(&map, "code"),
        field(&map, "message")
    )
}

/// The response an uncaught `users::` error answers the request with: the
/// status its code means and `{"error": {"code", "message"}}`, as the
/// platform's own errors read; `None` for codes that are the server's
/// fault, which stay script errors.
pub(crate) fn uncaught_response(
    value: &Dynamic,
) -> Option<crate::picloud::platform::types::HttpResponse> {
    if !is_users_error(value) {
        return None;
    }
    let map = value.read_lock::<Map>()?;
    let code = field(&map, "code");
    let status = match code.as_str() {
        "invalid_email" | "weak_password" | "invalid_metadata" | "invalid_argument" => 400,
        "invalid_credentials" | "invalid_token" => 401,
        "account_disabled" => 403,
        "email_taken" => 409,
        "too_many_attempts" => 429,
        _ => return None,
    };
    let body = serde_json::json!({
        "error": { "code": code, "message": field(&map, "message") }
    });
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    if let Some(seconds) = map.get("retry_after").and_then(|v| v.as_int().ok()) {
        headers.push(("retry-after".to_owned(), seconds.max(1).to_string()));
    }
    Some(crate::picloud::platform::types::HttpResponse {
        status,
        headers,
        body: body.to_string().into_bytes(),
    })
}
