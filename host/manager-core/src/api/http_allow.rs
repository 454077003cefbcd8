//! `/apps/{app}/http-allow`: where an app's scripts may send outbound HTTP
//! requests. Empty (the default) denies outbound HTTP.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::apps::AppPath;
use super::openapi::ErrorBody;
use super::{ApiJson, ApiQuery};
use crate::store::HttpAllowEntry;
use crate::{Manager, Result};

pub(super) fn router() -> OpenApiRouter<Manager> {
    OpenApiRouter::new().routes(routes!(list, add, remove))
}

const APP_PARAM: &str = "App id or current slug; an old slug answers 308 with the current URL";

/// An app's outbound HTTP allow-list.
#[derive(Serialize, ToSchema)]
struct AllowList {
    /// Entries in canonical form, sorted.
    items: Vec<HttpAllowEntry>,
}

/// The app's outbound HTTP allow-list.
#[utoipa::path(get, path = "/apps/{app}/http-allow", tag = "http-allow",
    params(("app" = String, Path, description = APP_PARAM)),
    responses(
        (status = 200, description = "The allow-list", body = AllowList),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NO_SUCH_APP, body = super::openapi::ErrorBody),
    ))]
async fn list(State(m): State<Manager>, AppPath(app): AppPath) -> Result<Json<AllowList>> {
    Ok(Json(AllowList {
        items: m.store.http_allow_list(app.id).await?,
    }))
}

/// The body of a `POST`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AddEntry {
    /// `https://api.example.com`, `https://*.example.com:8443`, `http://printer.lan:8080`.
    pattern: String,
}

/// Allow the app's scripts to call a scheme, host and port.
#[utoipa::path(post, path = "/apps/{app}/http-allow", tag = "http-allow", request_body = AddEntry,
    params(("app" = String, Path, description = APP_PARAM)),
    responses(
        (status = 201, description = "Added", body = HttpAllowEntry),
        (status = 200, description = "Already on the list (in this or another spelling)", body = HttpAllowEntry),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_pattern`, naming what is wrong", body = ErrorBody),
        (status = 404, description = super::openapi::NO_SUCH_APP, body = super::openapi::ErrorBody),
        (status = 409, description = "`quota_exceeded`: 100 entries already", body = ErrorBody),
    ))]
async fn add(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    ApiJson(body): ApiJson<AddEntry>,
) -> Result<(StatusCode, Json<HttpAllowEntry>)> {
    let (entry, created) = m.store.add_http_allow(app.id, &body.pattern).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(entry)))
}

/// Which entry to remove.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RemoveEntry {
    /// The entry, in any spelling that means it (`https://api.example.com`
    /// removes `https://api.example.com:443`).
    pattern: String,
}

/// Remove an entry from the allow-list.
#[utoipa::path(delete, path = "/apps/{app}/http-allow", tag = "http-allow",
    params(("app" = String, Path, description = APP_PARAM), RemoveEntry),
    responses(
        (status = 204, description = "Removed"),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_pattern`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such app or entry", body = ErrorBody),
    ))]
async fn remove(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    ApiQuery(query): ApiQuery<RemoveEntry>,
) -> Result<StatusCode> {
    m.store.remove_http_allow(app.id, &query.pattern).await?;
    Ok(StatusCode::NO_CONTENT)
}
