//! `/apps/{app}/queues`: the app's queues as the consumer sees them (depth,
//! oldest age, in flight), and their dead letters, which an admin retries or
//! discards. Messages come from scripts (`queue::send`); the script that
//! consumes a queue is its trigger (`/apps/{app}/triggers`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ApiQuery;
use super::apps::AppPath;
use super::openapi::ErrorBody;
use crate::db::now_ms;
use crate::store::validate_consumer_queue;
use crate::{Manager, Result};

pub(super) fn router() -> OpenApiRouter<Manager> {
    OpenApiRouter::new()
        .routes(routes!(list_queues))
        .routes(routes!(list_dead, discard_all))
        .routes(routes!(retry_all))
        .routes(routes!(discard_one))
        .routes(routes!(retry_one))
}

const APP: &str = "App id or slug";
const QUEUE: &str = "Queue name";
const MESSAGE: &str = "Message id";

/// The app's queues: each that holds messages or has a trigger, by name.
#[utoipa::path(get, path = "/apps/{app}/queues", tag = "queues",
    params(("app" = String, Path, description = APP)),
    responses(
        (status = 200, description = "The queues", body = super::openapi::QueueList),
        (status = 404, description = super::openapi::NOT_FOUND, body = ErrorBody),
    ))]
async fn list_queues(State(m): State<Manager>, AppPath(app): AppPath) -> Result<Json<Value>> {
    Ok(Json(
        json!({ "queues": m.store.queue_stats(app.id, now_ms()).await? }),
    ))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct DeadQuery {
    /// At most this many, 1-500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// The queue's dead letters, oldest first: messages that used up their
/// attempts, with the last error.
#[utoipa::path(get, path = "/apps/{app}/queues/{queue}/dead", tag = "queues",
    params(("app" = String, Path, description = APP), ("queue" = String, Path, description = QUEUE), DeadQuery),
    responses(
        (status = 200, description = "The dead letters", body = super::openapi::DeadLetterList),
        (status = 400, description = "`invalid_queue` or `invalid_limit`", body = ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = ErrorBody),
    ))]
async fn list_dead(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, queue)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<DeadQuery>,
) -> Result<Json<Value>> {
    validate_consumer_queue(&queue)?;
    let limit = super::page_limit(Some(q.limit.unwrap_or(100)))?;
    let dead = m.store.dead_letters(app.id, &queue, limit).await?;
    Ok(Json(json!({ "dead_letters": dead })))
}

/// Retry every dead letter of the queue: each runs again now, with its
/// attempts counted afresh.
#[utoipa::path(post, path = "/apps/{app}/queues/{queue}/dead:retry", tag = "queues",
    params(("app" = String, Path, description = APP), ("queue" = String, Path, description = QUEUE)),
    responses(
        (status = 200, description = "`{\"retried\": n}`", body = Object),
        (status = 400, description = "`invalid_queue`", body = ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = ErrorBody),
    ))]
async fn retry_all(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, queue)): Path<(String, String)>,
) -> Result<Json<Value>> {
    validate_consumer_queue(&queue)?;
    let retried = m.store.retry_dead_letters(app.id, &queue, None).await?;
    crate::queue_runner::wake();
    Ok(Json(json!({ "retried": retried })))
}

/// Discard every dead letter of the queue.
#[utoipa::path(delete, path = "/apps/{app}/queues/{queue}/dead", tag = "queues",
    params(("app" = String, Path, description = APP), ("queue" = String, Path, description = QUEUE)),
    responses(
        (status = 200, description = "`{\"discarded\": n}`", body = Object),
        (status = 400, description = "`invalid_queue`", body = ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = ErrorBody),
    ))]
async fn discard_all(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, queue)): Path<(String, String)>,
) -> Result<Json<Value>> {
    validate_consumer_queue(&queue)?;
    let discarded = m.store.discard_dead_letters(app.id, &queue, None).await?;
    Ok(Json(json!({ "discarded": discarded })))
}

/// Retry one dead letter: it runs again now, with its attempts counted
/// afresh.
#[utoipa::path(post, path = "/apps/{app}/queues/{queue}/dead/{id}/retry", tag = "queues",
    params(("app" = String, Path, description = APP), ("queue" = String, Path, description = QUEUE), ("id" = String, Path, description = MESSAGE)),
    responses(
        (status = 204, description = "Sent back to the queue"),
        (status = 404, description = "`not_found`: no such app, queue or dead letter", body = ErrorBody),
    ))]
async fn retry_one(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, queue, id)): Path<(String, String, String)>,
) -> Result<StatusCode> {
    m.store
        .retry_dead_letters(app.id, &queue, Some(&id))
        .await?;
    crate::queue_runner::wake();
    Ok(StatusCode::NO_CONTENT)
}

/// Discard one dead letter.
#[utoipa::path(delete, path = "/apps/{app}/queues/{queue}/dead/{id}", tag = "queues",
    params(("app" = String, Path, description = APP), ("queue" = String, Path, description = QUEUE), ("id" = String, Path, description = MESSAGE)),
    responses(
        (status = 204, description = "Discarded"),
        (status = 404, description = "`not_found`: no such app, queue or dead letter", body = ErrorBody),
    ))]
async fn discard_one(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, queue, id)): Path<(String, String, String)>,
) -> Result<StatusCode> {
    m.store
        .discard_dead_letters(app.id, &queue, Some(&id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
