//! `/auth/*` (sign-in, sign-out, who am I), `/users` and `/tokens`.

use crate::ErrorCode;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cookie::{Cookie, SameSite};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ApiQuery, PageQuery, page_request, paged};
use crate::auth::{self, Principal, SESSION_COOKIE};
use crate::db::rfc3339;
use crate::policy::Access;
use crate::store::{Role, Token, TokenScope, User, generate_token};
use crate::{Error, Manager, Result};

/// Routes that need no credentials (they are how one gets credentials).
pub(super) fn public_router() -> OpenApiRouter<Manager> {
    OpenApiRouter::new().routes(routes!(login))
}

/// Routes behind `require_admin`.
pub(super) fn router() -> OpenApiRouter<Manager> {
    OpenApiRouter::new()
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(list_users, create_user))
        .routes(routes!(show_user, update_user, delete_user))
        .routes(routes!(set_password))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// The client's address: the TCP peer, or, when the peer is a trusted proxy
/// (Caddy on this machine, by default), the address that proxy appended to
/// `X-Forwarded-For`. Headers from anyone else are ignored, since any client
/// can forge them.
pub(crate) fn client_addr(
    m: &Manager,
    request_peer: Option<SocketAddr>,
    headers: &HeaderMap,
) -> Option<IpAddr> {
    m.config.trusted_proxies.client_ip(
        request_peer,
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

/// Whether the browser reached us over HTTPS (directly configured, or said by
/// a trusted proxy), so the cookie must be `Secure`.
fn over_https(m: &Manager, peer: Option<SocketAddr>, headers: &HeaderMap) -> bool {
    m.config.public_base_url.starts_with("https://")
        || (peer.is_some_and(|p| m.config.trusted_proxies.contains(p.ip()))
            && headers
                .get("x-forwarded-proto")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https")))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Login {
    username: String,
    password: String,
}

/// Sign in: starts a session and sets the `picloud_session` cookie.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = Login,
    responses(
        (status = 200, description = "Signed in; `Set-Cookie` carries the session", body = super::openapi::SignedIn),
        (status = 401, description = "`bad_credentials`: wrong username or password (never says which)", body = super::openapi::ErrorBody),
        (status = 429, description = "`too_many_attempts`; `Retry-After` says when to try again", body = super::openapi::ErrorBody),
    ))]
async fn login(
    State(m): State<Manager>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Login>,
) -> Result<Response> {
    let peer = peer.map(|Extension(ConnectInfo(addr))| addr);
    let addr = client_addr(&m, peer, &headers);
    // The body may hold up to a megabyte. A name no account can have is
    // refused here, before it is copied, looked up or kept by the throttle,
    // and its failure counts against the address alone. Skipping the hash
    // for it, or for a password longer than any account's, reveals nothing:
    // neither can ever sign in.
    let username = auth::login_username(&body.username);
    m.throttle.check(username.as_deref(), addr).await?;
    let plausible = body.password.len() <= auth::MAX_PASSWORD_BYTES;
    let user = match &username {
        Some(name) if plausible => {
            let stored = m.store.user_credentials(name).await?;
            let user_id = stored.as_ref().map(|(id, _)| id.clone());
            let verified = auth::verify_password(body.password, stored.map(|(_, hash)| hash)).await;
            user_id.filter(|_| verified)
        }
        _ => None,
    };
    let Some(user_id) = user else {
        m.throttle.failed(username.as_deref(), addr).await?;
        // The attempted name is logged only when it could be a username: a
        // password typed into the wrong field must not land in the log.
        let shown = username.as_deref().unwrap_or("<not a username>");
        tracing::warn!(username = %shown, client = ?addr, "failed sign-in");
        return Err(Error::BadCredentials);
    };
    m.throttle.succeeded(username.as_deref(), addr).await?;
    let ttl_ms = i64::try_from(m.config.session_ttl.as_millis()).unwrap_or(i64::MAX);
    let (secret, session) = m.store.create_session(&user_id, ttl_ms).await?;
    let user = m.store.user(&user_id).await?;
    tracing::info!(username = %user.username, client = ?addr, "signed in");
    let secure = over_https(&m, peer, &headers);
    let cookie = Cookie::build((session_cookie_name(secure), secret))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/")
        .max_age(cookie::time::Duration::milliseconds(ttl_ms))
        .build();
    let mut response = Json(json!({
        "user": user,
        "csrf_token": session.csrf_token,
        "expires_at": rfc3339(session.expires_at),
    }))
    .into_response();
    set_cookie(&mut response, &cookie);
    Ok(response)
}

/// `__Host-picloud_session` over HTTPS (a secure origin only, the whole host
/// only: no sibling domain can plant or shadow it), `picloud_session` on
/// plain HTTP, where browsers refuse the prefix.
fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        auth::SESSION_COOKIE_SECURE
    } else {
        SESSION_COOKIE
    }
}

fn set_cookie(response: &mut Response, cookie: &Cookie<'_>) {
    if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    // Responses that set a session must never be stored by a cache.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// Sign out: ends the session on the server and clears the cookie.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses(
        (status = 204, description = "Signed out"),
        (status = 400, description = "`not_a_session`: the request used an API token", body = super::openapi::ErrorBody),
    ))]
async fn logout(
    State(m): State<Manager>,
    Extension(principal): Extension<Principal>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Result<Response> {
    let peer = peer.map(|Extension(ConnectInfo(addr))| addr);
    let Principal::Session { id_hash, .. } = principal else {
        return Err(Error::bad_request(
            ErrorCode::NotASession,
            "this request is authenticated by an API token; revoke tokens at /api/v1/admin/tokens",
        ));
    };
    m.store.delete_session(&id_hash).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    let secure = over_https(&m, peer, &headers);
    let expired = Cookie::build((session_cookie_name(secure), ""))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/")
        .max_age(cookie::time::Duration::ZERO)
        .build();
    set_cookie(&mut response, &expired);
    Ok(response)
}

/// Who the request is authenticated as (and the session's CSRF token).
#[utoipa::path(get, path = "/auth/me", tag = "auth",
    responses((status = 200, description = "The caller", body = super::openapi::Me)))]
async fn me(
    State(m): State<Manager>,
    Extension(principal): Extension<Principal>,
    Extension(access): Extension<Access>,
) -> Result<Json<Value>> {
    let user = match principal.user_id() {
        Some(id) => Some(m.store.user(id).await?),
        None => None,
    };
    let mut roles = Vec::new();
    for (app, role) in access.roles().unwrap_or_default() {
        let app = m.store.app_by_id(app).await?;
        roles.push(json!({ "app_id": app.id, "slug": app.slug, "role": role }));
    }
    let mut me = match &principal {
        Principal::Token { id, .. } => json!({ "kind": "token", "token_id": id, "user": user }),
        Principal::Session { id_hash, .. } => {
            let session = m.store.session_by_hash(id_hash, m.idle_ms()).await?;
            json!({
                "kind": "session",
                "user": user,
                "csrf_token": session.as_ref().map(|s| s.csrf_token.clone()),
                "expires_at": session.map(|s| rfc3339(s.expires_at)),
            })
        }
    };
    me["server_admin"] = json!(access.is_server_admin());
    me["roles"] = json!(roles);
    Ok(Json(me))
}

/// Users by username, one page.
#[utoipa::path(get, path = "/users", tag = "auth", params(PageQuery),
    responses((status = 200, description = "A page of users", body = super::openapi::UserList)))]
async fn list_users(
    State(m): State<Manager>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Value>> {
    let page = page_request(q.limit, q.cursor.as_deref())?;
    let users = m.store.list_users(&page).await?;
    Ok(Json(paged("users", users, &page, |u| {
        (u.username.clone(), u.id.clone())
    })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUser {
    /// 1-64 of letters, digits, '.', '_', '-' or '@' (stored lower-case).
    #[schema(pattern = "^[A-Za-z0-9._@-]{1,64}$")]
    username: String,
    /// At least 12 characters, at most 1024 bytes.
    #[schema(min_length = 12, max_length = 1024)]
    password: String,
    /// A server-wide admin (the default, as before roles existed): creates
    /// apps, users and tokens and owns every app. `false`: the user can do
    /// only what the roles given per app allow.
    server_admin: Option<bool>,
}

/// Create a user.
#[utoipa::path(post, path = "/users", tag = "auth", request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 400, description = "`invalid_username`, `weak_password` or `invalid_password`", body = super::openapi::ErrorBody),
        (status = 409, description = "`username_taken`", body = super::openapi::ErrorBody),
    ))]
async fn create_user(
    State(m): State<Manager>,
    ApiJson(body): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<User>)> {
    let username = auth::normalize_username(&body.username)?;
    auth::validate_password(&body.password)?;
    let hash = auth::hash_password(body.password).await?;
    let server_admin = body.server_admin.unwrap_or(true);
    let user = m.store.create_user(&username, &hash, server_admin).await?;
    tracing::info!(username = %user.username, server_admin, "created a user");
    Ok((StatusCode::CREATED, Json(user)))
}

/// One user.
#[utoipa::path(get, path = "/users/{id}", tag = "auth", params(("id" = String, Path, description = "User id or username")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
    ))]
async fn show_user(State(m): State<Manager>, Path(id): Path<String>) -> Result<Json<User>> {
    Ok(Json(m.store.user(&id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UserChanges {
    /// Make the user a server-wide admin, or take that away (their roles on
    /// apps stay).
    server_admin: Option<bool>,
}

/// Change a user: whether they are a server admin.
#[utoipa::path(patch, path = "/users/{id}", tag = "auth", request_body = UserChanges,
    params(("id" = String, Path, description = "User id or username")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
        (status = 409, description = "`last_server_admin`: someone must stay a server admin", body = super::openapi::ErrorBody),
    ))]
async fn update_user(
    State(m): State<Manager>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UserChanges>,
) -> Result<Json<User>> {
    let user = m.store.user(&id).await?;
    if let Some(server_admin) = body.server_admin {
        m.store.set_server_admin(&user.id, server_admin).await?;
        tracing::info!(username = %user.username, server_admin, "changed a user's server-wide powers");
    }
    Ok(Json(m.store.user(&user.id).await?))
}

/// Delete a user with their sessions and tokens.
#[utoipa::path(delete, path = "/users/{id}", tag = "auth", params(("id" = String, Path, description = "User id or username")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
        (status = 409, description = "`last_user` or `last_server_admin`: the only user, or the only server admin, cannot be deleted", body = super::openapi::ErrorBody),
    ))]
async fn delete_user(State(m): State<Manager>, Path(id): Path<String>) -> Result<StatusCode> {
    let user = m.store.user(&id).await?;
    m.store.delete_user(&user.id).await?;
    tracing::info!(username = %user.username, "deleted a user");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewPassword {
    /// At least 12 characters, at most 1024 bytes.
    #[schema(min_length = 12, max_length = 1024)]
    password: String,
    /// Required when changing one's own password.
    current_password: Option<String>,
}

/// Set a user's password; ends the user's other sessions.
#[utoipa::path(put, path = "/users/{id}/password", tag = "auth", request_body = NewPassword,
    params(("id" = String, Path, description = "User id or username")),
    responses(
        (status = 204, description = "Changed"),
        (status = 400, description = "`weak_password`, `invalid_password` or `current_password_required`", body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
        (status = 403, description = "`wrong_password`: `current_password` is wrong", body = super::openapi::ErrorBody),
    ))]
async fn set_password(
    State(m): State<Manager>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewPassword>,
) -> Result<StatusCode> {
    let user = m.store.user(&id).await?;
    auth::validate_password(&body.password)?;
    // Changing one's own password proves knowledge of the current one, so a
    // session left open on a shared screen cannot lock its owner out.
    if principal.user_id() == Some(user.id.as_str()) {
        let Some(current) = body.current_password else {
            return Err(Error::bad_request(
                ErrorCode::CurrentPasswordRequired,
                "changing your own password needs `current_password`",
            ));
        };
        let stored = m.store.password_hash(&user.id).await?;
        if current.len() > auth::MAX_PASSWORD_BYTES || !auth::verify_password(current, stored).await
        {
            return Err(Error::Forbidden {
                code: ErrorCode::WrongPassword,
                message: "`current_password` is not this user's password".into(),
            });
        }
    }
    let hash = auth::hash_password(body.password).await?;
    let keep = match &principal {
        Principal::Session { id_hash, .. } => Some(id_hash.as_str()),
        Principal::Token { .. } => None,
    };
    m.store.set_password(&user.id, &hash, keep).await?;
    tracing::info!(username = %user.username, "changed a password; the user's other sessions ended");
    Ok(StatusCode::NO_CONTENT)
}

/// API tokens by name, one page (never the secrets): every token for a
/// server admin, one's own for anyone else (a token limited to one app
/// that belongs to no user sees itself).
#[utoipa::path(get, path = "/tokens", tag = "auth", params(PageQuery),
    responses((status = 200, description = "A page of tokens", body = super::openapi::TokenList)))]
async fn list_tokens(
    State(m): State<Manager>,
    Extension(principal): Extension<Principal>,
    Extension(access): Extension<Access>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Value>> {
    let page = page_request(q.limit, q.cursor.as_deref())?;
    let tokens = match own_tokens(&access, &principal) {
        OwnTokens::All => m.store.list_tokens(None, &page).await?,
        OwnTokens::OfUser(user) => m.store.list_tokens(Some(user), &page).await?,
        OwnTokens::Itself(id) => m.store.token(id).await?.into_iter().collect(),
    };
    Ok(Json(paged("tokens", tokens, &page, |t| {
        (t.name.clone(), t.id.clone())
    })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewToken {
    /// 1-100 printable characters.
    #[schema(min_length = 1, max_length = 100, pattern = "[^ ]")]
    name: String,
    /// `admin` (default: the admin API) or `metrics` (`GET /metrics` only,
    /// for a scraper).
    #[schema(pattern = "^(admin|metrics)$")]
    scope: Option<String>,
    /// Limit the token to this one app (id or slug); with `role`. Others
    /// do not exist for it (404).
    app: Option<String>,
    /// Its role on `app`: `owner`, `developer` or `viewer`, at most the
    /// creator's own.
    #[schema(pattern = "^(owner|developer|viewer)$")]
    role: Option<String>,
}

/// The tokens a caller may list and revoke.
enum OwnTokens<'a> {
    /// Every token (a server admin).
    All,
    /// Those acting for this user.
    OfUser(&'a str),
    /// Only itself: a token limited to one app that belongs to no user
    /// (made by the server's token or the operator's CLI).
    Itself(&'a str),
}

fn own_tokens<'a>(access: &'a Access, principal: &'a Principal) -> OwnTokens<'a> {
    if access.is_server_admin() {
        return OwnTokens::All;
    }
    match (access.user_id(), principal) {
        (Some(user), _) => OwnTokens::OfUser(user),
        (None, Principal::Token { id, .. }) => OwnTokens::Itself(id),
        // A session always has a user.
        (None, Principal::Session { user_id, .. }) => OwnTokens::OfUser(user_id),
    }
}

/// Create an API token for the caller's user; the secret is shown once.
/// It acts with its user's powers, or, limited to one app, with at most
/// the role given there (never more than the creator has).
#[utoipa::path(post, path = "/tokens", tag = "auth", request_body = NewToken,
    responses(
        (status = 201, description = "Created", body = super::openapi::CreatedToken),
        (status = 400, description = "`invalid_name`, `invalid_scope`, `invalid_role` or `app_required`", body = super::openapi::ErrorBody),
        (status = 403, description = "`insufficient_role`: more than the caller may give", body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NO_SUCH_APP, body = super::openapi::ErrorBody),
    ))]
async fn create_token(
    State(m): State<Manager>,
    Extension(principal): Extension<Principal>,
    Extension(access): Extension<Access>,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<Value>)> {
    let scope = match body.scope.as_deref() {
        None => TokenScope::Admin,
        Some(text) => TokenScope::parse(text).ok_or_else(|| {
            Error::bad_request(
                ErrorCode::InvalidScope,
                format!("scope '{text}' is unknown: use admin or metrics"),
            )
        })?,
    };
    let limit = token_limit(&m, &access, body.app.as_deref(), body.role.as_deref()).await?;
    if scope == TokenScope::Metrics && limit.is_some() {
        return Err(Error::bad_request(
            ErrorCode::InvalidScope,
            "a metrics token reads every app's numbers; it cannot be limited to one app",
        ));
    }
    if scope == TokenScope::Metrics {
        access.require_server_admin()?;
    }
    let secret = generate_token();
    let token: Token = m
        .store
        .add_scoped_token(&body.name, &secret, principal.user_id(), scope, limit)
        .await?;
    let mut shown = serde_json::to_value(&token).expect("a token serializes");
    // The only time the token itself is returned; only its hash is stored.
    shown["token"] = json!(secret);
    Ok((StatusCode::CREATED, Json(shown)))
}

/// The app and role a new token is limited to: both or neither; the
/// caller can give no more than it has. A token made by a limited token is
/// limited too (to the same app, at most the same role).
async fn token_limit(
    m: &Manager,
    access: &Access,
    app: Option<&str>,
    role: Option<&str>,
) -> Result<Option<(shared::AppId, Role)>> {
    let (app, role) = match (app, role) {
        // The token acts with its user's powers, whatever they are then.
        (None, None) => {
            return Ok(access.limit());
        }
        (Some(app), Some(role)) => (app, Role::requested(role)?),
        (None, Some(_)) => {
            return Err(Error::bad_request(
                ErrorCode::AppRequired,
                "a token with a `role` needs the `app` it is limited to",
            ));
        }
        (Some(_), None) => {
            return Err(Error::bad_request(
                ErrorCode::InvalidRole,
                "a token limited to an `app` needs its `role` there: owner, developer or viewer",
            ));
        }
    };
    let (found, _) = super::apps::app_by_ref(m, app)
        .await
        .map_err(|_| Error::not_found("app", app))?;
    access.require(found.id, &found.slug, role, || Error::not_found("app", app))?;
    Ok(Some((found.id, role)))
}

/// Revoke an API token (a server admin any, anyone else their own).
#[utoipa::path(delete, path = "/tokens/{id}", tag = "auth", params(("id" = String, Path, description = "Token id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
    ))]
async fn revoke_token(
    State(m): State<Manager>,
    Extension(principal): Extension<Principal>,
    Extension(access): Extension<Access>,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    // Someone else's token is not there for this caller.
    let own = match own_tokens(&access, &principal) {
        OwnTokens::All => true,
        OwnTokens::OfUser(user) => m
            .store
            .token(&id)
            .await?
            .is_some_and(|t| t.user_id.as_deref() == Some(user)),
        OwnTokens::Itself(me) => me == id,
    };
    if !own {
        return Err(Error::not_found("token", &id));
    }
    m.store.delete_token(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Authenticates a request: a bearer token, else a session cookie (with the
/// CSRF token on anything but GET, HEAD and OPTIONS).
pub(crate) async fn authenticate(
    m: &Manager,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Principal> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        // A bearer token is never sent by a browser on its own, so it needs
        // no CSRF check; if present it decides, cookie or not.
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(Error::Unauthorized)?;
        let token = m
            .store
            .verify_token(token)
            .await?
            .ok_or(Error::Unauthorized)?;
        return Ok(Principal::Token {
            id: token.id,
            user_id: token.user_id,
            scope: token.scope,
            limit: token.limit,
        });
    }
    let mut cookies = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(|c| c.ok())
        .filter(|c| shared::response::is_session_cookie(c.name()));
    let cookie = cookies.next().ok_or(Error::Unauthorized)?;
    // Two session cookies mean one was planted (a longer path, or a
    // sibling host's domain cookie, is sent first): refuse rather than
    // guess which is the admin's own.
    if cookies.next().is_some() {
        return Err(Error::bad_request(
            ErrorCode::AmbiguousSession,
            "the request carries more than one session cookie; clear this site's cookies and sign in again",
        ));
    }
    let session = m
        .store
        .session(cookie.value(), m.idle_ms())
        .await?
        .ok_or(Error::Unauthorized)?;
    // Reads need no token; anything else might change state. (Not
    // `Method::is_safe`, which would also let TRACE and QUERY through.)
    if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        let sent = headers
            .get(auth::CSRF_HEADER)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default();
        let expected = session.csrf_token.as_bytes();
        if !bool::from(subtle::ConstantTimeEq::ct_eq(sent, expected)) {
            return Err(Error::CsrfFailed);
        }
    }
    Ok(Principal::Session {
        id_hash: session.id_hash,
        user_id: session.user_id,
    })
}
