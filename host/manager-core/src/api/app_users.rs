//! `/apps/{app}/users`: the app's end-user accounts, which its scripts
//! manage with `users::` (docs/scripting.md, "Users"). Admins list and
//! search them, disable or delete one, and end its sessions; nothing here
//! ever shows a password hash or a token.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::apps::AppPath;
use super::openapi::ErrorBody;
use super::{ApiJson, ApiQuery};
use crate::error::ErrorCode;
use crate::store::{MAX_USERS_PAGE, UserAccount};
use crate::{Error, Manager, Result};

pub(super) fn router() -> OpenApiRouter<Manager> {
    OpenApiRouter::new()
        .routes(routes!(list_app_users))
        .routes(routes!(show_app_user, update_app_user, remove_app_user))
        .routes(routes!(revoke_app_user_sessions))
}

const APP_PARAM: &str = "App id or current slug; an old slug answers 308 with the current URL";
const ID_PARAM: &str = "The account's id";

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only accounts whose email contains this (case-insensitive).
    #[serde(alias = "search")]
    q: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Accounts per page, 1-200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// A page of an app's accounts.
#[derive(Serialize, ToSchema)]
struct AppUserList {
    /// By email.
    items: Vec<UserAccount>,
    /// Pass back as `?cursor=` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

/// An app's end-user accounts by email, one page; `q` searches emails.
#[utoipa::path(get, path = "/apps/{app}/users", tag = "app-users",
    params(("app" = String, Path, description = APP_PARAM), ListQuery),
    responses(
        (status = 200, description = "A page of accounts", body = AppUserList),
        (status = 308, description = super::openapi::MOVED, body = ErrorBody),
        (status = 400, description = "`invalid_limit`", body = ErrorBody),
        (status = 404, description = super::openapi::NO_SUCH_APP, body = ErrorBody),
    ))]
async fn list_app_users(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<AppUserList>> {
    let limit = match q.limit {
        None => 50,
        Some(n) if (1..=i64::from(MAX_USERS_PAGE)).contains(&n) => n as u32,
        Some(n) => {
            return Err(Error::bad_request(
                ErrorCode::InvalidLimit,
                format!("limit {n} is out of range: use 1 to {MAX_USERS_PAGE}"),
            ));
        }
    };
    let search = q.q.as_deref().filter(|s| !s.trim().is_empty());
    let items = m
        .store
        .app_users_page(app.id, search, q.cursor.as_deref(), limit)
        .await?;
    let next_cursor = (items.len() == limit as usize)
        .then(|| items.last().map(|u| u.email.clone()))
        .flatten();
    Ok(Json(AppUserList { items, next_cursor }))
}

/// One of the app's accounts, with its count of live sessions.
#[utoipa::path(get, path = "/apps/{app}/users/{id}", tag = "app-users",
    params(("app" = String, Path, description = APP_PARAM), ("id" = String, Path, description = ID_PARAM)),
    responses(
        (status = 200, description = "The account", body = UserAccount),
        (status = 308, description = super::openapi::MOVED, body = ErrorBody),
        (status = 404, description = "`not_found`: no such app, or the app has no such account", body = ErrorBody),
    ))]
async fn show_app_user(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<UserAccount>> {
    Ok(Json(m.store.app_user_account(app.id, &id).await?))
}

/// The body of a `PATCH`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateAppUser {
    /// `true`: the account cannot sign in, and its sessions and
    /// single-use tokens end now. `false` enables it again.
    disabled: bool,
}

/// Disable or re-enable an account.
#[utoipa::path(patch, path = "/apps/{app}/users/{id}", tag = "app-users", request_body = UpdateAppUser,
    params(("app" = String, Path, description = APP_PARAM), ("id" = String, Path, description = ID_PARAM)),
    responses(
        (status = 200, description = "The updated account", body = UserAccount),
        (status = 308, description = super::openapi::MOVED, body = ErrorBody),
        (status = 400, description = "`invalid_json`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such app, or the app has no such account", body = ErrorBody),
    ))]
async fn update_app_user(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateAppUser>,
) -> Result<Json<UserAccount>> {
    Ok(Json(
        m.store
            .app_user_set_disabled(app.id, &id, body.disabled)
            .await?,
    ))
}

/// Delete an account with its sessions and tokens.
#[utoipa::path(delete, path = "/apps/{app}/users/{id}", tag = "app-users",
    params(("app" = String, Path, description = APP_PARAM), ("id" = String, Path, description = ID_PARAM)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 308, description = super::openapi::MOVED, body = ErrorBody),
        (status = 404, description = "`not_found`: no such app, or the app has no such account", body = ErrorBody),
    ))]
async fn remove_app_user(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode> {
    m.store.app_user_delete(app.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What ending an account's sessions did.
#[derive(Serialize, ToSchema)]
struct Revoked {
    /// Live sessions that ended.
    revoked: u64,
}

/// End every session of an account (it signs in again to get a new one).
#[utoipa::path(delete, path = "/apps/{app}/users/{id}/sessions", tag = "app-users",
    params(("app" = String, Path, description = APP_PARAM), ("id" = String, Path, description = ID_PARAM)),
    responses(
        (status = 200, description = "Sessions ended", body = Revoked),
        (status = 308, description = super::openapi::MOVED, body = ErrorBody),
        (status = 404, description = "`not_found`: no such app, or the app has no such account", body = ErrorBody),
    ))]
async fn revoke_app_user_sessions(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Revoked>> {
    let revoked = m.store.app_user_revoke_sessions(app.id, &id).await?;
    Ok(Json(Revoked { revoked }))
}
