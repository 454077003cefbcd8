//! `/apps/{app}/triggers`: cron triggers, each running one of the app's
//! scripts on a schedule (the scheduler is in `crate::cron_runner`).

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
use crate::store::{CronTrigger, NewTrigger, TriggerChanges};
use crate::{Manager, Result, TriggerRun};

pub(super) fn router() -> OpenApiRouter<Manager> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, remove))
        .routes(routes!(run))
}

const APP_PARAM: &str = "App id or current slug; an old slug answers 308 with the current URL";
const ID_PARAM: &str = "Trigger id";

/// All of an app's cron triggers.
#[derive(Serialize, ToSchema)]
struct TriggerList {
    /// Oldest first (no paging: an app has at most 100).
    items: Vec<CronTrigger>,
}

/// An app's cron triggers.
#[utoipa::path(get, path = "/apps/{app}/triggers", tag = "triggers",
    params(("app" = String, Path, description = APP_PARAM)),
    responses(
        (status = 200, description = "The triggers", body = TriggerList),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NO_SUCH_APP, body = super::openapi::ErrorBody),
    ))]
async fn list(State(m): State<Manager>, AppPath(app): AppPath) -> Result<Json<TriggerList>> {
    Ok(Json(TriggerList {
        items: m.store.list_triggers(app.id).await?,
    }))
}

/// The body of a `POST`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateTrigger {
    /// The script to run: id or name of one of this app's scripts.
    script: String,
    /// Five-field cron expression (minute hour day-of-month month
    /// day-of-week), e.g. `*/5 * * * *`; `@hourly`-style nicknames too.
    #[schema(max_length = 200)]
    schedule: String,
    /// IANA time zone the schedule is read in (default `UTC`).
    timezone: Option<String>,
    /// Whether it fires (default `true`).
    enabled: Option<bool>,
}

/// Run one of the app's scripts on a schedule. The first run is at the
/// schedule's first time after now, never at once.
#[utoipa::path(post, path = "/apps/{app}/triggers", tag = "triggers", request_body = CreateTrigger,
    params(("app" = String, Path, description = APP_PARAM)),
    responses(
        (status = 201, description = "Created", body = CronTrigger),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_schedule`, `invalid_timezone` or `invalid_script` (the app has no such script), naming the problem", body = ErrorBody),
        (status = 404, description = super::openapi::NO_SUCH_APP, body = super::openapi::ErrorBody),
        (status = 409, description = "`quota_exceeded`: the app has 100 triggers already", body = ErrorBody),
    ))]
async fn create(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    ApiJson(body): ApiJson<CreateTrigger>,
) -> Result<(StatusCode, Json<CronTrigger>)> {
    let trigger = m
        .store
        .create_trigger(
            app.id,
            &NewTrigger {
                script: body.script,
                schedule: body.schedule,
                timezone: body.timezone,
                enabled: body.enabled.unwrap_or(true),
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(trigger)))
}

/// One of the app's triggers.
#[utoipa::path(get, path = "/apps/{app}/triggers/{id}", tag = "triggers",
    params(("app" = String, Path, description = APP_PARAM), ("id" = String, Path, description = ID_PARAM)),
    responses(
        (status = 200, description = "The trigger", body = CronTrigger),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such app, or the app has no such trigger", body = ErrorBody),
    ))]
async fn show(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<CronTrigger>> {
    Ok(Json(m.store.trigger(app.id, &id).await?))
}

/// The body of a `PATCH`; every field is optional.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateTrigger {
    /// Another of this app's scripts, by id or name.
    script: Option<String>,
    /// A new cron expression.
    #[schema(max_length = 200)]
    schedule: Option<String>,
    /// A new IANA time zone.
    timezone: Option<String>,
    /// `false` pauses the trigger, `true` resumes it.
    enabled: Option<bool>,
}

/// Change a trigger's script, schedule, time zone or whether it fires. A new
/// schedule or time zone, or resuming, moves the next run to the schedule's
/// first time after now.
#[utoipa::path(patch, path = "/apps/{app}/triggers/{id}", tag = "triggers", request_body = UpdateTrigger,
    params(("app" = String, Path, description = APP_PARAM), ("id" = String, Path, description = ID_PARAM)),
    responses(
        (status = 200, description = "The updated trigger", body = CronTrigger),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_schedule`, `invalid_timezone` or `invalid_script`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such app, or the app has no such trigger", body = ErrorBody),
    ))]
async fn update(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateTrigger>,
) -> Result<Json<CronTrigger>> {
    let trigger = m
        .store
        .update_trigger(
            app.id,
            &id,
            &TriggerChanges {
                script: body.script,
                schedule: body.schedule,
                timezone: body.timezone,
                enabled: body.enabled,
            },
        )
        .await?;
    Ok(Json(trigger))
}

/// Delete a trigger (its past runs stay in the execution log).
#[utoipa::path(delete, path = "/apps/{app}/triggers/{id}", tag = "triggers",
    params(("app" = String, Path, description = APP_PARAM), ("id" = String, Path, description = ID_PARAM)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such app, or the app has no such trigger", body = ErrorBody),
    ))]
async fn remove(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode> {
    m.store.delete_trigger(app.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Fire a trigger once now, outside its schedule, exactly as the scheduler
/// would (recorded with trigger `cron`); its next and last run times stay.
#[utoipa::path(post, path = "/apps/{app}/triggers/{id}/run", tag = "triggers",
    params(("app" = String, Path, description = APP_PARAM), ("id" = String, Path, description = ID_PARAM)),
    responses(
        (status = 200, description = "The script ran; `error` says whether it failed", body = TriggerRun),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such app, or the app has no such trigger", body = ErrorBody),
    ))]
async fn run(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<TriggerRun>> {
    Ok(Json(m.run_trigger_now(app.id, &id).await?))
}
