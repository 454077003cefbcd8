//! `/scripts` and `/scripts/{id}/routes`.

use crate::ErrorCode;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::apps::{Renamed, app_by_ref};
use super::routes::{Reach, refuse_taken_host};
use super::{ApiJson, ApiQuery, page_request, paged};
use crate::auth::Principal;
use crate::policy::Access;
use crate::store::{DEFAULT_APP_ID, Role, Route, Script};
use crate::{Error, Manager, Result};

pub(super) fn router() -> OpenApiRouter<Manager> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(check))
        .routes(routes!(show, update, replace, remove))
        .routes(routes!(list_routes, create_route))
        .routes(routes!(remove_route))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only this app's scripts (id or slug; an old slug is followed, with a `Warning` header).
    app: Option<String>,
    /// Items per page, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^([0-9a-f]{2})*[.].+$")]
    cursor: Option<String>,
}

/// List scripts by name, one page.
#[utoipa::path(get, path = "/scripts", tag = "scripts", params(ListQuery),
    responses(
        (status = 200, description = "A page of scripts", body = super::openapi::ScriptList),
                (status = 404, description = super::openapi::NO_SUCH_APP, body = super::openapi::ErrorBody),
    ))]
async fn list(
    State(m): State<Manager>,
    Extension(access): Extension<Access>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<(Option<Renamed>, Json<Value>)> {
    let (app_id, renamed) = match q.app {
        Some(app) => {
            let (app, renamed) = app_by_ref(&m, &app).await?;
            (Some(app.id), renamed)
        }
        None => (None, None),
    };
    let page = page_request(q.limit, q.cursor.as_deref())?;
    // `?app=` was checked by the policy; without it, the caller's apps.
    let visible = access.visible_apps();
    let scripts = m
        .store
        .list_scripts_among(app_id, visible.as_deref(), &page)
        .await?;
    Ok((
        renamed,
        Json(paged("scripts", scripts, &page, |s| (s.name.clone(), s.id))),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateScript {
    /// 1-100 of letters, digits, '-', '_' or '.'; unique within the app.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,100}$")]
    name: String,
    /// Rhai source (at most 256 KiB); compiled before it is stored.
    source: String,
    /// App id or slug (an old slug is followed, with a `Warning` header).
    /// May be left out only while `default` is the only app.
    app_id: Option<String>,
    #[serde(default)]
    description: String,
    /// Recorded with version 1 (at most 1,000 bytes).
    message: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CheckScript {
    /// Rhai source (at most 256 KiB).
    source: String,
    /// App id or slug: its scripts are what `import` may name. Without it,
    /// only the syntax is checked.
    app_id: Option<String>,
    /// The script's name, when it is (or will be) one of the app's: an
    /// import that leads back to it is a cycle.
    name: Option<String>,
}

/// One problem `scripts:check` found.
#[derive(Serialize, ToSchema)]
struct Diagnostic {
    /// Always `error` for now.
    severity: &'static str,
    /// What is wrong, as the upload would say it.
    message: String,
    /// Line, from 1, when known.
    line: Option<u32>,
    /// Column, from 1, when known.
    column: Option<u32>,
}

/// What `scripts:check` found.
#[derive(Serialize, ToSchema)]
struct CheckResult {
    /// Whether the source would be accepted as it is.
    ok: bool,
    /// The problems, empty when `ok`.
    diagnostics: Vec<Diagnostic>,
    /// The scripts it imports, when it compiles.
    imports: Vec<String>,
}

/// Check a script without saving it: the same compile (in a fresh sandbox)
/// and import checks as an upload, with the problems as diagnostics (200
/// either way), for an editor to show while the user types.
#[utoipa::path(post, path = "/scripts:check", tag = "scripts", request_body = CheckScript,
    responses(
        (status = 200, description = "Checked: `ok` and the diagnostics", body = CheckResult),
        (status = 400, description = "`source_too_large` or `invalid_json`", body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NO_SUCH_APP, body = super::openapi::ErrorBody),
        (status = 503, description = "`executor_unavailable`: the sandbox could not check the script", body = super::openapi::ErrorBody),
    ))]
async fn check(
    State(m): State<Manager>,
    Extension(access): Extension<Access>,
    ApiJson(body): ApiJson<CheckScript>,
) -> Result<Json<CheckResult>> {
    crate::store::validate_source(&body.source)?;
    let app = match &body.app_id {
        Some(app_id) => Some(
            super::apps::app_for(&m, &access, app_id, Role::Viewer)
                .await?
                .0,
        ),
        None => None,
    };
    let checked = match &app {
        Some(app) => {
            m.compile_in_app(app.id, body.name.as_deref().unwrap_or(""), &body.source)
                .await
        }
        None => m
            .compile(&body.source)
            .await
            .map(|imports| imports.into_iter().map(|i| i.name).collect()),
    };
    Ok(Json(match checked {
        Ok(imports) => CheckResult {
            ok: true,
            diagnostics: Vec::new(),
            imports,
        },
        Err(Error::Compile(failure)) => CheckResult {
            ok: false,
            diagnostics: vec![Diagnostic {
                severity: "error",
                line: failure.position.map(|p| p.line),
                column: failure.position.map(|p| p.column),
                message: failure.message,
            }],
            imports: Vec::new(),
        },
        Err(other) => return Err(other),
    }))
}

/// Create a script (compiled first).
#[utoipa::path(post, path = "/scripts", tag = "scripts", request_body = CreateScript,
    responses(
        (status = 201, description = "Created", body = Script),
        (status = 400, description = "`app_required`, `invalid_name`, `invalid_message` or `source_too_large`", body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NO_SUCH_APP, body = super::openapi::ErrorBody),
        (status = 409, description = "`script_name_taken`", body = super::openapi::ErrorBody),
        (status = 422, description = "`compile_error` with `line` and `column` (also a missing module or an import cycle)", body = super::openapi::ErrorBody),
        (status = 503, description = "`executor_unavailable`: the sandbox could not check the script", body = super::openapi::ErrorBody),
    ))]
async fn create(
    State(m): State<Manager>,
    Extension(principal): Extension<Principal>,
    Extension(access): Extension<Access>,
    ApiJson(body): ApiJson<CreateScript>,
) -> Result<(StatusCode, Option<Renamed>, Json<Script>)> {
    let app_id = match body.app_id {
        Some(app_id) => app_id,
        // With one app there is nothing to choose (a single-app install never
        // has to learn about apps). With more, a guess could put code under
        // the wrong tenant, so the caller must say which.
        None if m.store.count_apps().await? == 1 => DEFAULT_APP_ID.to_string(),
        None => {
            return Err(Error::bad_request(
                ErrorCode::AppRequired,
                "`app_id` is required once the install has more than one app: pass the app's id or slug",
            ));
        }
    };
    let (app, renamed) = super::apps::app_for(&m, &access, &app_id, Role::Developer).await?;
    crate::store::validate_script_name(&body.name)?;
    crate::store::check_message(body.message.as_deref())?;
    let imports = m.compile_in_app(app.id, &body.name, &body.source).await?;
    let mut change = super::versions::change(&m, &principal, body.message).await?;
    change.imports = imports;
    let script = m
        .store
        .create_script_as(app.id, &body.name, &body.description, &body.source, &change)
        .await?;
    m.routing_changed().await;
    Ok((StatusCode::CREATED, renamed, Json(script)))
}

/// One script, with its source.
#[utoipa::path(get, path = "/scripts/{id}", tag = "scripts", params(("id" = String, Path, description = "Script id")),
    responses(
        (status = 200, description = "The script", body = Script),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
    ))]
async fn show(State(m): State<Manager>, Path(id): Path<String>) -> Result<Json<Script>> {
    Ok(Json(m.store.script(super::path_id("script", &id)?).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateScript {
    #[schema(pattern = "^[A-Za-z0-9._-]{1,100}$")]
    name: Option<String>,
    /// A new source becomes a new version; the same source makes none.
    source: Option<String>,
    description: Option<String>,
    /// Recorded with the version a new source makes (at most 1,000
    /// bytes).
    message: Option<String>,
}

/// Change any of name, description and source (a new source is compiled first).
#[utoipa::path(patch, path = "/scripts/{id}", tag = "scripts", request_body = UpdateScript,
    params(("id" = String, Path, description = "Script id")),
    responses(
        (status = 200, description = "The updated script", body = Script),
        (status = 400, description = "`invalid_name`, `invalid_message` or `source_too_large`", body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
        (status = 409, description = "`script_name_taken`, or `module_in_use` (renaming a script other scripts import)", body = super::openapi::ErrorBody),
        (status = 422, description = "`compile_error` (also a missing module or an import cycle); the running version stays", body = super::openapi::ErrorBody),
        (status = 503, description = "`executor_unavailable`", body = super::openapi::ErrorBody),
    ))]
async fn update(
    State(m): State<Manager>,
    Path(id): Path<String>,
    Extension(principal): Extension<Principal>,
    ApiJson(body): ApiJson<UpdateScript>,
) -> Result<Json<Script>> {
    let script = m.store.script(super::path_id("script", &id)?).await?;
    crate::store::check_message(body.message.as_deref())?;
    let imports = match &body.source {
        Some(source) => {
            let name = body.name.as_deref().unwrap_or(&script.name);
            m.compile_in_app(script.app_id, name, source).await?
        }
        None => Vec::new(),
    };
    let mut change = super::versions::change(&m, &principal, body.message).await?;
    change.imports = imports;
    let updated = m
        .store
        .update_script_as(
            &script,
            body.name.as_deref(),
            body.description.as_deref(),
            body.source.as_deref(),
            &change,
        )
        .await?;
    super::versions::prune(&m, &updated).await;
    m.routing_changed().await;
    Ok(Json(updated))
}

/// The same as PATCH.
#[utoipa::path(put, path = "/scripts/{id}", tag = "scripts", request_body = UpdateScript,
    params(("id" = String, Path, description = "Script id")),
    responses(
        (status = 200, description = "The updated script", body = Script),
        (status = 400, description = "`invalid_name`, `invalid_message` or `source_too_large`", body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
        (status = 409, description = "`script_name_taken`, or `module_in_use` (renaming a script other scripts import)", body = super::openapi::ErrorBody),
        (status = 422, description = "`compile_error` (also a missing module or an import cycle); the running version stays", body = super::openapi::ErrorBody),
        (status = 503, description = "`executor_unavailable`", body = super::openapi::ErrorBody),
    ))]
async fn replace(
    state: State<Manager>,
    id: Path<String>,
    principal: Extension<Principal>,
    body: ApiJson<UpdateScript>,
) -> Result<Json<Script>> {
    update(state, id, principal, body).await
}

/// Delete a script and its routes (its execution records stay).
#[utoipa::path(delete, path = "/scripts/{id}", tag = "scripts", params(("id" = String, Path, description = "Script id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
        (status = 409, description = "`module_in_use` (other scripts import it) or `script_in_use` (an interceptor runs it)", body = super::openapi::ErrorBody),
    ))]
async fn remove(State(m): State<Manager>, Path(id): Path<String>) -> Result<StatusCode> {
    m.store
        .delete_script(super::path_id("script", &id)?)
        .await?;
    m.routing_changed().await;
    Ok(StatusCode::NO_CONTENT)
}

/// The script's routes by path, method and host, one page.
#[utoipa::path(get, path = "/scripts/{id}/routes", tag = "scripts", params(("id" = String, Path, description = "Script id"), super::PageQuery),
    responses(
        (status = 200, description = "A page of the routes", body = super::openapi::RouteList),
        (status = 400, description = "`invalid_limit` or `invalid_cursor`", body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
    ))]
async fn list_routes(
    State(m): State<Manager>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<super::PageQuery>,
) -> Result<Json<Value>> {
    let script = m.store.script(super::path_id("script", &id)?).await?;
    let page = q.page()?;
    let mut routes = m.store.list_routes(script.id, &page).await?;
    let reach = Reach::of(&m, &m.store.app_by_id(script.app_id).await?).await?;
    routes.iter_mut().for_each(|r| reach.fill(r));
    Ok(Json(paged("routes", routes, &page, |r| {
        (crate::store::route_key(r), r.id)
    })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateRoute {
    /// GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, or ANY / `*`.
    #[schema(pattern = "^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|ANY|[*])$")]
    method: String,
    /// `/users/:id`, `/static/*`, …
    #[schema(pattern = "^/")]
    path: String,
    /// Only for this host pattern, which must fall within the app's claims.
    host: Option<String>,
}

/// Bind a route to the script.
#[utoipa::path(post, path = "/scripts/{id}/routes", tag = "scripts", request_body = CreateRoute,
    params(("id" = String, Path, description = "Script id")),
    responses(
        (status = 201, description = "Created", body = Route),
        (status = 400, description = "`invalid_method`, `invalid_route_path`, `invalid_host` or `host_not_claimed`", body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
        (status = 409, description = "`route_conflict`: names the route of the same app it collides with; `host_claimed_by_other_app`: another app's claim serves that host", body = super::openapi::ErrorBody),
    ))]
async fn create_route(
    State(m): State<Manager>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CreateRoute>,
) -> Result<(StatusCode, Json<Route>)> {
    let script = m.store.script(super::path_id("script", &id)?).await?;
    let app = m.store.app_by_id(script.app_id).await?;
    let route = m
        .store
        .validate_route(&app, &body.method, &body.path, body.host.as_deref())?;
    refuse_taken_host(&m, &app, &route).await?;
    let mut route = m.store.create_route(&script, route).await?;
    m.routing_changed().await;
    Reach::of(&m, &app).await?.fill(&mut route);
    Ok((StatusCode::CREATED, Json(route)))
}

/// Remove a route.
#[utoipa::path(delete, path = "/scripts/{id}/routes/{route_id}", tag = "scripts",
    params(("id" = String, Path, description = "Script id"), ("route_id" = String, Path, description = "Route id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
    ))]
async fn remove_route(
    State(m): State<Manager>,
    Path((id, route_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    m.store
        .delete_route(
            super::path_id("script", &id)?,
            super::path_id("route", &route_id)?,
        )
        .await?;
    m.routing_changed().await;
    Ok(StatusCode::NO_CONTENT)
}
