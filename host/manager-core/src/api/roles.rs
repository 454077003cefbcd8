//! `/apps/{app}/roles`: who may do what on one app (docs/api.md, "Roles").
//! Only the app's owners (and server admins) see or change them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use super::apps::AppPath;
use super::openapi::ErrorBody;
use crate::store::{Grant, Role};
use crate::{Manager, Result};

pub(super) fn router() -> OpenApiRouter<Manager> {
    OpenApiRouter::new()
        .routes(routes!(list_roles))
        .routes(routes!(set_role, remove_role))
}

/// The app's roles: each user given one, by username. Server admins are
/// owners of every app without being listed.
#[utoipa::path(get, path = "/apps/{app}/roles", tag = "roles",
    params(("app" = String, Path, description = "App id or slug")),
    responses(
        (status = 200, description = "The roles", body = super::openapi::RoleList),
        (status = 404, description = super::openapi::NOT_FOUND, body = ErrorBody),
    ))]
async fn list_roles(State(m): State<Manager>, AppPath(app): AppPath) -> Result<Json<Value>> {
    Ok(Json(json!({ "roles": m.store.grants(app.id).await? })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SetRole {
    /// `owner`, `developer` or `viewer`.
    #[schema(pattern = "^(owner|developer|viewer)$")]
    role: String,
}

/// Give a user a role on the app, replacing the one they had.
#[utoipa::path(put, path = "/apps/{app}/roles/{user}", tag = "roles", request_body = SetRole,
    params(
        ("app" = String, Path, description = "App id or slug"),
        ("user" = String, Path, description = "User id or username"),
    ),
    responses(
        (status = 200, description = "The role", body = Grant),
        (status = 400, description = "`invalid_role`", body = ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = ErrorBody),
    ))]
async fn set_role(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, user)): Path<(String, String)>,
    ApiJson(body): ApiJson<SetRole>,
) -> Result<Json<Grant>> {
    let role = Role::requested(&body.role)?;
    let user = m.store.user(&user).await?;
    let grant = m.store.set_grant(app.id, &user.id, role).await?;
    tracing::info!(app = %app.slug, username = %user.username, %role, "gave a role");
    Ok(Json(grant))
}

/// Take a user's role on the app away.
#[utoipa::path(delete, path = "/apps/{app}/roles/{user}", tag = "roles",
    params(
        ("app" = String, Path, description = "App id or slug"),
        ("user" = String, Path, description = "User id or username"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = super::openapi::NOT_FOUND, body = ErrorBody),
    ))]
async fn remove_role(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, user)): Path<(String, String)>,
) -> Result<StatusCode> {
    let user = m.store.user(&user).await?;
    m.store.remove_grant(app.id, &user.id).await?;
    tracing::info!(app = %app.slug, username = %user.username, "took a role away");
    Ok(StatusCode::NO_CONTENT)
}
