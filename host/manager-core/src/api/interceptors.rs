//! `/apps/{app}/interceptors`: scripts that run before the app's route
//! scripts for the paths that start with a prefix, in order. Every change
//! reaches dispatch before the call returns.

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
use crate::store::{Interceptor, InterceptorChanges};
use crate::{Manager, Result};

pub(super) fn router() -> OpenApiRouter<Manager> {
    OpenApiRouter::new()
        .routes(routes!(list_interceptors, create_interceptor))
        .routes(routes!(
            show_interceptor,
            update_interceptor,
            remove_interceptor
        ))
}

const APP_PARAM: &str = "App id or current slug; an old slug answers 308 with the current URL";
const ID_PARAM: &str = "Interceptor id";

/// All of an app's interceptors.
#[derive(Serialize, ToSchema)]
struct InterceptorList {
    /// In run order (no paging: an app has at most 20).
    items: Vec<Interceptor>,
}

/// An app's interceptors, in the order they run.
#[utoipa::path(get, path = "/apps/{app}/interceptors", tag = "interceptors",
    params(("app" = String, Path, description = APP_PARAM)),
    responses(
        (status = 200, description = "The interceptors", body = InterceptorList),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NO_SUCH_APP, body = super::openapi::ErrorBody),
    ))]
async fn list_interceptors(
    State(m): State<Manager>,
    AppPath(app): AppPath,
) -> Result<Json<InterceptorList>> {
    Ok(Json(InterceptorList {
        items: m.store.list_interceptors(app.id).await?,
    }))
}

/// The body of a `POST`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateInterceptor {
    /// The script to run: id or name of one of this app's scripts.
    script: String,
    /// Paths it guards: those starting with it. `/`, `*` or none: every
    /// route; a trailing `*` is dropped (`/v1/*` is `/v1/`).
    #[schema(max_length = 1024)]
    prefix: Option<String>,
    /// Its place in the order, lower first (default: after the last).
    position: Option<i64>,
}

/// Run one of the app's scripts before the route's script, for every
/// request whose path starts with the prefix.
#[utoipa::path(post, path = "/apps/{app}/interceptors", tag = "interceptors", request_body = CreateInterceptor,
    params(("app" = String, Path, description = APP_PARAM)),
    responses(
        (status = 201, description = "Created", body = Interceptor),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_script` (the app has no such script), `invalid_prefix` or `invalid_field` (position)", body = ErrorBody),
        (status = 404, description = super::openapi::NO_SUCH_APP, body = super::openapi::ErrorBody),
        (status = 409, description = "`quota_exceeded`: the app has 20 interceptors already", body = ErrorBody),
    ))]
async fn create_interceptor(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    ApiJson(body): ApiJson<CreateInterceptor>,
) -> Result<(StatusCode, Json<Interceptor>)> {
    let interceptor = m
        .store
        .create_interceptor(
            app.id,
            &InterceptorChanges {
                script: Some(body.script),
                prefix: body.prefix,
                position: body.position,
            },
        )
        .await?;
    m.routing_changed().await;
    Ok((StatusCode::CREATED, Json(interceptor)))
}

/// One of the app's interceptors.
#[utoipa::path(get, path = "/apps/{app}/interceptors/{id}", tag = "interceptors",
    params(("app" = String, Path, description = APP_PARAM), ("id" = String, Path, description = ID_PARAM)),
    responses(
        (status = 200, description = "The interceptor", body = Interceptor),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such app, or the app has no such interceptor", body = ErrorBody),
    ))]
async fn show_interceptor(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Interceptor>> {
    Ok(Json(m.store.interceptor(app.id, &id).await?))
}

/// The body of a `PATCH`; every field is optional.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateInterceptor {
    /// Another of this app's scripts, by id or name.
    script: Option<String>,
    /// A new prefix (`/` for every route).
    #[schema(max_length = 1024)]
    prefix: Option<String>,
    /// A new place in the order.
    position: Option<i64>,
}

/// Change an interceptor's script, prefix or position.
#[utoipa::path(patch, path = "/apps/{app}/interceptors/{id}", tag = "interceptors", request_body = UpdateInterceptor,
    params(("app" = String, Path, description = APP_PARAM), ("id" = String, Path, description = ID_PARAM)),
    responses(
        (status = 200, description = "The updated interceptor", body = Interceptor),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_script`, `invalid_prefix` or `invalid_field`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such app, or the app has no such interceptor", body = ErrorBody),
    ))]
async fn update_interceptor(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateInterceptor>,
) -> Result<Json<Interceptor>> {
    let interceptor = m
        .store
        .update_interceptor(
            app.id,
            &id,
            &InterceptorChanges {
                script: body.script,
                prefix: body.prefix,
                position: body.position,
            },
        )
        .await?;
    m.routing_changed().await;
    Ok(Json(interceptor))
}

/// Delete an interceptor: the paths it guarded reach their scripts without
/// it from the next request on.
#[utoipa::path(delete, path = "/apps/{app}/interceptors/{id}", tag = "interceptors",
    params(("app" = String, Path, description = APP_PARAM), ("id" = String, Path, description = ID_PARAM)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such app, or the app has no such interceptor", body = ErrorBody),
    ))]
async fn remove_interceptor(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode> {
    m.store.delete_interceptor(app.id, &id).await?;
    m.routing_changed().await;
    Ok(StatusCode::NO_CONTENT)
}
