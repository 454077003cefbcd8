//! `/scripts/{id}/versions` and `/scripts/{id}/rollback`: every source a
//! script has had, and going back to one. A rollback is a new version with
//! the old source, so the history stays linear and nothing is lost.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiJson, ApiQuery};
use crate::auth::Principal;
use crate::store::{Script, ScriptChange, ScriptVersion};
use crate::{Error, ErrorCode, Manager, Result};

pub(super) fn router() -> OpenApiRouter<Manager> {
    OpenApiRouter::new()
        .routes(routes!(list_versions))
        .routes(routes!(show_version))
        .routes(routes!(rollback))
}

/// Who is making a change, for the version it creates: the signed-in
/// user's name, or `token:<name>` for an API token.
pub(super) async fn change(
    m: &Manager,
    principal: &Principal,
    message: Option<String>,
) -> Result<ScriptChange> {
    let author = match principal {
        Principal::Session { user_id, .. } => m.store.user(user_id).await?.username,
        Principal::Token { id, user_id, .. } => match m.store.token_name(id).await? {
            Some(name) => format!("token:{name}"),
            None => match user_id {
                Some(user) => m.store.user(user).await?.username,
                None => String::new(),
            },
        },
    };
    Ok(ScriptChange {
        author,
        message,
        imports: Vec::new(),
    })
}

/// Applies `--versions-keep` after a save. A failure costs only disk, so it
/// is logged rather than failing the save that already happened.
pub(crate) async fn prune(m: &Manager, script: &Script) {
    if let Some(keep) = m.config.versions_keep
        && let Err(err) = m.store.prune_script_versions(script, keep).await
    {
        tracing::warn!(script = %script.id, error = %err, "pruning old script versions failed");
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct VersionsQuery {
    /// Items per page, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    cursor: Option<String>,
}

/// A script's versions, newest first (without their sources).
#[utoipa::path(get, path = "/scripts/{id}/versions", tag = "scripts",
    params(("id" = String, Path, description = "Script id"), VersionsQuery),
    responses(
        (status = 200, description = "`{\"versions\": […], \"next_cursor\": …}`", body = Object),
        (status = 400, description = "`invalid_limit` or `invalid_cursor`", body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
    ))]
async fn list_versions(
    State(m): State<Manager>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<VersionsQuery>,
) -> Result<Json<Value>> {
    let script = m.store.script(super::path_id("script", &id)?).await?;
    let limit = super::page_limit(q.limit)?;
    let before = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().map_err(|_| {
                Error::bad_request(
                    ErrorCode::InvalidCursor,
                    format!("cursor '{c}' is not one this server issued"),
                )
            })
        })
        .transpose()?;
    let mut versions = m.store.script_versions(&script, before, limit + 1).await?;
    let more = versions.len() as i64 > limit;
    versions.truncate(limit as usize);
    let next = more
        .then(|| versions.last().map(|v| v.version.to_string()))
        .flatten();
    Ok(Json(json!({ "versions": versions, "next_cursor": next })))
}

/// One version of a script, with its source.
#[utoipa::path(get, path = "/scripts/{id}/versions/{version}", tag = "scripts",
    params(("id" = String, Path, description = "Script id"),
        ("version" = i64, Path, description = "Version number, from 1")),
    responses(
        (status = 200, description = "The version with its source", body = ScriptVersion),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
    ))]
async fn show_version(
    State(m): State<Manager>,
    Path((id, version)): Path<(String, String)>,
) -> Result<Json<ScriptVersion>> {
    let script = m.store.script(super::path_id("script", &id)?).await?;
    // A number that is not one names no version: 404, as an unknown id.
    let version = version
        .parse::<i64>()
        .map_err(|_| Error::not_found("version", &version))?;
    Ok(Json(m.store.script_version(&script, version).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Rollback {
    /// The version whose source becomes current again.
    version: i64,
    /// Recorded with the new version (default: "rollback to version N").
    message: Option<String>,
}

/// Make an earlier version's source current, as a new version. The routing
/// cache (and every node of a cluster) runs it before the call returns.
#[utoipa::path(post, path = "/scripts/{id}/rollback", tag = "scripts", request_body = Rollback,
    params(("id" = String, Path, description = "Script id")),
    responses(
        (status = 200, description = "The script, running the old source as its newest version (unchanged when that source is already current)", body = Script),
        (status = 400, description = "`invalid_version` or `invalid_message`", body = super::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such script or version", body = super::openapi::ErrorBody),
        (status = 422, description = "`compile_error`: the old source no longer compiles, or imports a module the app no longer has", body = super::openapi::ErrorBody),
    ))]
async fn rollback(
    State(m): State<Manager>,
    Path(id): Path<String>,
    Extension(principal): Extension<Principal>,
    ApiJson(body): ApiJson<Rollback>,
) -> Result<Json<Script>> {
    let script = m.store.script(super::path_id("script", &id)?).await?;
    if body.version < 1 {
        return Err(Error::bad_request(
            ErrorCode::InvalidVersion,
            format!(
                "version {} is not a version number (they start at 1)",
                body.version
            ),
        ));
    }
    crate::store::check_message(body.message.as_deref())?;
    let old = m.store.script_version(&script, body.version).await?;
    let source = old.source.unwrap_or_default();
    // The guest and the app's other scripts may have changed since: the
    // old source is checked as a new one would be, its imports included.
    let imports = m
        .compile_in_app(script.app_id, &script.name, &source)
        .await?;
    let message = body
        .message
        .or_else(|| Some(format!("rollback to version {}", body.version)));
    let mut change = change(&m, &principal, message).await?;
    change.imports = imports;
    let updated = m
        .store
        .update_script_as(&script, None, None, Some(&source), &change)
        .await?;
    prune(&m, &updated).await;
    m.routing_changed().await;
    Ok(Json(updated))
}
