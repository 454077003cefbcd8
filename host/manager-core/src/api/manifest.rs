//! `/apps/{app}/manifest`: apps as code (docs/manifest.md). `:plan` shows
//! what deploying a manifest would change, `:apply` makes those changes in
//! one transaction, and `GET` exports the app as a manifest folder.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use super::apps::AppPath;
use crate::auth::Principal;
use crate::deploy::{self, DeployRequest, Export, Plan};
use crate::policy::Access;
use crate::store::Role;
use crate::{Error, Manager, Result};

pub(super) fn router() -> OpenApiRouter<Manager> {
    OpenApiRouter::new()
        .routes(routes!(plan_manifest))
        .routes(routes!(apply_manifest))
        .routes(routes!(export_manifest))
}

/// What deploying a manifest would change, without changing anything.
#[utoipa::path(post, path = "/apps/{app}/manifest:plan", tag = "apps", request_body = DeployRequest,
    params(("app" = String, Path, description = "The slug to deploy as; the app is created by apply when it does not exist")),
    responses(
        (status = 200, description = "The plan (`applied` is false)", body = Plan),
        (status = 400, description = "`app_renamed` or `invalid_message`", body = super::openapi::ErrorBody),
        (status = 422, description = "`invalid_manifest` with every problem in `problems`", body = super::openapi::ErrorBody),
        (status = 503, description = "`executor_unavailable`: the scripts could not be compiled", body = super::openapi::ErrorBody),
    ))]
async fn plan_manifest(
    State(m): State<Manager>,
    Path(app): Path<String>,
    ApiJson(body): ApiJson<DeployRequest>,
) -> Result<Json<Plan>> {
    Ok(Json(deploy::plan(&m, &app, &body).await?))
}

/// What a plan may change only for an app's owner: the app itself.
const OWNERS_KINDS: &[&str] = &["app", "domain", "limits", "cors", "rate_limit", "users"];

/// Deploys a manifest: every change of its plan in one transaction, or
/// none when anything is wrong. A developer may deploy scripts, routes,
/// triggers, interceptors, variables and the allow-list; changing the app's
/// settings or domains needs its owner.
#[utoipa::path(post, path = "/apps/{app}/manifest:apply", tag = "apps", request_body = DeployRequest,
    params(("app" = String, Path, description = "The slug to deploy as; a new slug creates the app")),
    responses(
        (status = 200, description = "The plan, applied (`unchanged` when there was nothing to do)", body = Plan),
        (status = 400, description = "`app_renamed` or `invalid_message`", body = super::openapi::ErrorBody),
        (status = 403, description = "`insufficient_role`: the plan changes the app's settings or domains, which needs its owner", body = super::openapi::ErrorBody),
        (status = 409, description = "`slug_in_history`, or a claim or route taken at the same moment", body = super::openapi::ErrorBody),
        (status = 422, description = "`invalid_manifest` with every problem in `problems`; nothing changed", body = super::openapi::ErrorBody),
        (status = 503, description = "`executor_unavailable`", body = super::openapi::ErrorBody),
    ))]
async fn apply_manifest(
    State(m): State<Manager>,
    Path(app): Path<String>,
    Extension(principal): Extension<Principal>,
    Extension(access): Extension<Access>,
    ApiJson(body): ApiJson<DeployRequest>,
) -> Result<Json<Plan>> {
    let plan = deploy::plan(&m, &app, &body).await?;
    // A developer deploys code; the app itself (its settings and domains)
    // is the owner's, so a plan that changes it needs one.
    let owners = plan
        .changes
        .iter()
        .find(|c| c.action != "keep" && OWNERS_KINDS.contains(&c.kind));
    if let (Some(change), Some(app_id)) = (owners, plan.app_id) {
        access
            .require(app_id, &plan.app, Role::Owner, || {
                Error::not_found("app", &app)
            })
            .map_err(|err| match err {
                Error::Forbidden { code, message } => Error::Forbidden {
                    code,
                    message: format!("{message} (the plan changes the app's {})", change.kind),
                },
                other => other,
            })?;
    }
    let change = super::versions::change(&m, &principal, body.message).await?;
    Ok(Json(deploy::apply(&m, plan, &change).await?))
}

/// The app as a manifest folder: `picloud.toml` and its script files.
#[utoipa::path(get, path = "/apps/{app}/manifest", tag = "apps",
    params(("app" = String, Path, description = "App id or slug")),
    responses(
        (status = 200, description = "The canonical manifest and the files it names", body = Export),
        (status = 404, description = super::openapi::NO_SUCH_APP, body = super::openapi::ErrorBody),
    ))]
async fn export_manifest(State(m): State<Manager>, AppPath(app): AppPath) -> Result<Json<Export>> {
    Ok(Json(deploy::export(&m, app).await?))
}
