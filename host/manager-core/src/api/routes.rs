//! `routes:check` (would this route conflict, and with what?) and
//! `routes:match` (which app, script and params would serve this request?).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use shared::Resolution;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiJson;
use crate::{Manager, Result};

pub(super) fn router() -> OpenApiRouter<Manager> {
    OpenApiRouter::new()
        .routes(routes!(check))
        .routes(routes!(resolve))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CheckRoute {
    /// App id or slug.
    app_id: String,
    #[schema(pattern = "^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|ANY|[*])$")]
    method: String,
    #[schema(pattern = "^/")]
    path: String,
    host: Option<String>,
}

/// Validates the route as creation would; `ok: false` names the route it
/// would collide with. Conflicts are only ever within the app.
#[utoipa::path(post, path = "/routes:check", tag = "routes", request_body = CheckRoute,
    responses(
        (status = 200, description = "The verdict", body = super::openapi::RouteCheck),
        (status = 400, description = "`invalid_method`, `invalid_route_path`, `invalid_host`, `host_not_claimed` or `app_renamed`", body = super::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such app", body = super::openapi::ErrorBody),
    ))]
async fn check(
    State(m): State<Manager>,
    ApiJson(body): ApiJson<CheckRoute>,
) -> Result<Json<Value>> {
    let app = m.store.app(&body.app_id).await?;
    let route = m
        .store
        .validate_route(&app, &body.method, &body.path, body.host.as_deref())?;
    Ok(Json(
        match m.store.route_conflict(&app.id, &route).await? {
            Some(existing) => json!({
                "ok": false,
                "conflict": existing,
                "message": crate::store::conflict_message(&route, &existing),
            }),
            None => json!({ "ok": true }),
        },
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MatchRequest {
    /// The `Host` a request would carry (port allowed).
    host: String,
    method: String,
    /// Path without the query string.
    path: String,
}

/// Asks the orchestrator's live tables, so the answer is what dispatch does.
#[utoipa::path(post, path = "/routes:match", tag = "routes", request_body = MatchRequest,
    responses((status = 200, description = "What dispatch would do", body = super::openapi::RouteMatch)))]
async fn resolve(
    State(m): State<Manager>,
    ApiJson(body): ApiJson<MatchRequest>,
) -> Result<Json<Value>> {
    let method = body.method.to_ascii_uppercase();
    let pairs = |p: &[(String, String)]| -> Value {
        p.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    Ok(Json(
        match m.routing.resolve(&body.host, &method, &body.path) {
            Resolution::Matched(hit) => json!({
                "matched": true,
                "app": { "id": hit.app_id, "slug": hit.app_slug },
                "script_id": hit.script_id,
                "route_id": hit.route_id,
                "route_path": hit.route_path,
                "params": pairs(&hit.params),
                "host_params": pairs(&hit.host_params),
            }),
            Resolution::InvalidHost { message } => {
                json!({ "matched": false, "reason": "invalid_host", "message": message })
            }
            Resolution::UnknownHost { host } => json!({
                "matched": false, "reason": "unknown_host", "message": format!("no app serves the host '{host}'"),
            }),
            Resolution::NoRoute { app_id, app_slug } => json!({
                "matched": false, "reason": "no_route", "app": { "id": app_id, "slug": app_slug },
                "message": format!("app '{app_slug}' has no route for {method} {}", body.path),
            }),
            Resolution::MethodNotAllowed {
                app_id,
                app_slug,
                allowed,
            } => json!({
                "matched": false, "reason": "method_not_allowed", "app": { "id": app_id, "slug": app_slug },
                "allowed": allowed,
                "message": format!("{} in app '{app_slug}' does not accept {method}", body.path),
            }),
        },
    ))
}
