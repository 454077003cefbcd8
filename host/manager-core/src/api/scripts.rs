//! `/scripts` and `/scripts/{id}/routes`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiJson, ApiQuery, page_request, paged};
use crate::store::{DEFAULT_APP_ID, Route, Script};
use crate::{Error, Manager, Result};

pub(super) fn router() -> Router<Manager> {
    Router::new()
        .route("/scripts", get(list).post(create))
        .route(
            "/scripts/{id}",
            get(show).patch(update).put(update).delete(remove),
        )
        .route("/scripts/{id}/routes", get(list_routes).post(create_route))
        .route("/scripts/{id}/routes/{route_id}", delete(remove_route))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// App id or slug.
    app: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

async fn list(State(m): State<Manager>, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Json<Value>> {
    let app_id = match q.app {
        Some(app) => Some(m.store.app(&app).await?.id),
        None => None,
    };
    let page = page_request(q.limit, q.cursor.as_deref())?;
    let scripts = m.store.list_scripts(app_id.as_deref(), &page).await?;
    Ok(Json(paged("scripts", scripts, &page, |s| (&s.name, &s.id))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateScript {
    name: String,
    source: String,
    /// App id or slug. May be left out only while `default` is the only app.
    app_id: Option<String>,
    #[serde(default)]
    description: String,
}

async fn create(
    State(m): State<Manager>,
    ApiJson(body): ApiJson<CreateScript>,
) -> Result<(StatusCode, Json<Script>)> {
    let app_id = match body.app_id {
        Some(app_id) => app_id,
        // With one app there is nothing to choose (a single-app install never
        // has to learn about apps). With more, a guess could put code under
        // the wrong tenant, so the caller must say which.
        None if m.store.count_apps().await? == 1 => DEFAULT_APP_ID.to_owned(),
        None => {
            return Err(Error::bad_request(
                "app_required",
                "`app_id` is required once the install has more than one app: pass the app's id or slug",
            ));
        }
    };
    let app = m.store.app(&app_id).await?;
    crate::store::validate_script_name(&body.name)?;
    m.compile(&body.source).await?;
    let script = m
        .store
        .create_script(&app.id, &body.name, &body.description, &body.source)
        .await?;
    m.routing_changed().await;
    Ok((StatusCode::CREATED, Json(script)))
}

async fn show(State(m): State<Manager>, Path(id): Path<String>) -> Result<Json<Script>> {
    Ok(Json(m.store.script(&id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateScript {
    name: Option<String>,
    source: Option<String>,
    description: Option<String>,
}

async fn update(
    State(m): State<Manager>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateScript>,
) -> Result<Json<Script>> {
    let script = m.store.script(&id).await?;
    if let Some(source) = &body.source {
        m.compile(source).await?;
    }
    let updated = m
        .store
        .update_script(
            &script,
            body.name.as_deref(),
            body.description.as_deref(),
            body.source.as_deref(),
        )
        .await?;
    m.routing_changed().await;
    Ok(Json(updated))
}

async fn remove(State(m): State<Manager>, Path(id): Path<String>) -> Result<StatusCode> {
    m.store.delete_script(&id).await?;
    m.routing_changed().await;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_routes(State(m): State<Manager>, Path(id): Path<String>) -> Result<Json<Value>> {
    let script = m.store.script(&id).await?;
    Ok(Json(
        json!({ "routes": m.store.list_routes(&script.id).await? }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRoute {
    method: String,
    path: String,
    host: Option<String>,
}

async fn create_route(
    State(m): State<Manager>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CreateRoute>,
) -> Result<(StatusCode, Json<Route>)> {
    let script = m.store.script(&id).await?;
    let app = m.store.app(&script.app_id).await?;
    let route = m
        .store
        .validate_route(&app, &body.method, &body.path, body.host.as_deref())?;
    let route = m.store.create_route(&script, route).await?;
    m.routing_changed().await;
    Ok((StatusCode::CREATED, Json(route)))
}

async fn remove_route(
    State(m): State<Manager>,
    Path((id, route_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    m.store.delete_route(&id, &route_id).await?;
    m.routing_changed().await;
    Ok(StatusCode::NO_CONTENT)
}
