//! `/apps/{app}/variables`: the variables and secrets an app's scripts read
//! with `env::get`. Secret values go in and never come out.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use super::apps::AppPath;
use super::openapi::ErrorBody;
use crate::store::Variable;
use crate::{Manager, Result};

pub(super) fn router() -> OpenApiRouter<Manager> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(put, remove))
}

const APP_PARAM: &str = "App id or current slug; an old slug answers 308 with the current URL";
const NAME_PARAM: &str = "Variable name: `[A-Za-z_][A-Za-z0-9_]*`, at most 128 characters";

/// All of an app's variables.
#[derive(Serialize, ToSchema)]
struct VariableList {
    /// By name; secrets without their values.
    items: Vec<Variable>,
}

/// An app's variables and secrets by name (secret values are never shown).
#[utoipa::path(get, path = "/apps/{app}/variables", tag = "variables",
    params(("app" = String, Path, description = APP_PARAM)),
    responses(
        (status = 200, description = "The variables", body = VariableList),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NO_SUCH_APP, body = super::openapi::ErrorBody),
    ))]
async fn list(State(m): State<Manager>, AppPath(app): AppPath) -> Result<Json<VariableList>> {
    Ok(Json(VariableList {
        items: m.store.list_variables(app.id).await?,
    }))
}

/// The body of a `PUT`. Not `Debug`: a secret value must not reach a log.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PutVariable {
    /// The value, at most 64 KiB.
    value: String,
    /// Store it encrypted and never show it again.
    #[serde(default)]
    secret: bool,
}

/// Create or replace a variable or secret (a variable may become a secret and back).
#[utoipa::path(put, path = "/apps/{app}/variables/{name}", tag = "variables", request_body = PutVariable,
    params(("app" = String, Path, description = APP_PARAM), ("name" = String, Path, description = NAME_PARAM)),
    responses(
        (status = 200, description = "Stored; a secret's value is not echoed", body = Variable),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_name` or `invalid_value` (over 64 KiB, or a NUL character)", body = ErrorBody),
        (status = 404, description = super::openapi::NO_SUCH_APP, body = super::openapi::ErrorBody),
        (status = 503, description = "`secrets_unavailable`: a secret, but the server has no key for secrets", body = ErrorBody),
    ))]
async fn put(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, name)): Path<(String, String)>,
    ApiJson(body): ApiJson<PutVariable>,
) -> Result<Json<Variable>> {
    let variable = m
        .store
        .set_variable(
            app.id,
            &name,
            &body.value,
            body.secret,
            m.config.secret_key.as_ref(),
        )
        .await?;
    Ok(Json(variable))
}

/// Delete a variable or secret.
#[utoipa::path(delete, path = "/apps/{app}/variables/{name}", tag = "variables",
    params(("app" = String, Path, description = APP_PARAM), ("name" = String, Path, description = NAME_PARAM)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_name`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such app or variable", body = ErrorBody),
    ))]
async fn remove(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, name)): Path<(String, String)>,
) -> Result<StatusCode> {
    m.store.delete_variable(app.id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
