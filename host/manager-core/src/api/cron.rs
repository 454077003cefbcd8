//! `/apps/{app}/triggers`: each runs one of the app's scripts, on a
//! schedule (`cron`, the scheduler is in `crate::cron_runner`) or for each
//! message of a queue (`queue`, the consumer is in `crate::queue_runner`),
//! or for each inbound mail to one of the app's addresses (`email`: an
//! internal queue `email:<local part>` the SMTP listener fills, consumed the
//! same way).

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
use crate::store::{
    CronTrigger, NewTrigger, QueueTrigger, QueueTriggerChanges, StoreError, TriggerChanges,
};
use crate::{Error, ErrorCode, Manager, Result, TriggerRun};

pub(super) fn router() -> OpenApiRouter<Manager> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, remove))
        .routes(routes!(run))
}

const APP_PARAM: &str = "App id or current slug; an old slug answers 308 with the current URL";
const ID_PARAM: &str = "Trigger id";

/// A trigger of either kind, told apart by `kind`.
#[derive(Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Trigger {
    /// Runs its script on a schedule.
    Cron(CronTrigger),
    /// Runs its script for each message of a queue.
    Queue(QueueTrigger),
    /// Runs its script for each inbound mail to one of the app's addresses.
    Email(EmailTrigger),
}

/// An email trigger: inbound mail to `email@<a domain the app claims>`
/// runs its script (`request.email`).
#[derive(Serialize, ToSchema)]
struct EmailTrigger {
    /// UUID.
    id: String,
    /// The script it runs for each message.
    #[schema(value_type = String)]
    script_id: shared::ScriptId,
    /// That script's name.
    script_name: String,
    /// The local part it receives (`support` for `support@…`), or `*` for
    /// every address at the app's domains that has no trigger of its own.
    email: String,
    /// Whether it runs (mail to a paused trigger waits).
    enabled: bool,
    /// Runs a message gets before it becomes a dead letter.
    max_attempts: i64,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339.
    updated_at: String,
}

/// A stored queue trigger as the API shows it: an email trigger when it
/// consumes an inbound-mail queue.
fn of_queue(trigger: QueueTrigger) -> Trigger {
    match trigger.queue.strip_prefix(crate::store::EMAIL_QUEUE_PREFIX) {
        Some(local) => Trigger::Email(EmailTrigger {
            email: local.to_owned(),
            id: trigger.id,
            script_id: trigger.script_id,
            script_name: trigger.script_name,
            enabled: trigger.enabled,
            max_attempts: trigger.max_attempts,
            created_at: trigger.created_at,
            updated_at: trigger.updated_at,
        }),
        None => Trigger::Queue(trigger),
    }
}

/// All of an app's triggers.
#[derive(Serialize, ToSchema)]
struct TriggerList {
    /// Cron triggers oldest first, then queue and email triggers oldest
    /// first (no paging: an app has at most 100 of each).
    items: Vec<Trigger>,
}

/// The app's trigger `id`, of whichever kind.
async fn find(m: &Manager, app: shared::AppId, id: &str) -> Result<Trigger> {
    match m.store.trigger(app, id).await {
        Ok(cron) => Ok(Trigger::Cron(cron)),
        Err(StoreError::NotFound { .. }) => m
            .store
            .queue_trigger(app, id)
            .await?
            .map(of_queue)
            .ok_or_else(|| Error::not_found("trigger", id)),
        Err(err) => Err(err.into()),
    }
}

/// A field that only the other kind of trigger has.
fn not_for(kind: &str, field: &str) -> Error {
    Error::bad_request(
        ErrorCode::InvalidTrigger,
        format!("`{field}` is not a setting of a {kind} trigger"),
    )
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
    let cron = m.store.list_triggers(app.id).await?.into_iter();
    let queue = m.store.list_queue_triggers(app.id).await?.into_iter();
    Ok(Json(TriggerList {
        items: cron.map(Trigger::Cron).chain(queue.map(of_queue)).collect(),
    }))
}

/// The body of a `POST`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateTrigger {
    /// The script to run: id or name of one of this app's scripts.
    script: String,
    /// A cron trigger: five-field cron expression (minute hour day-of-month
    /// month day-of-week), e.g. `*/5 * * * *`; `@hourly`-style nicknames too.
    #[schema(max_length = 200)]
    schedule: Option<String>,
    /// A cron trigger: IANA time zone the schedule is read in (default `UTC`).
    timezone: Option<String>,
    /// A queue trigger: the queue (1-64 of letters, digits, `.`, `_`, `-`)
    /// whose messages run the script; one trigger per queue.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    queue: Option<String>,
    /// An email trigger: the local part of the app's address it receives
    /// (`support` for mail to `support@` any domain the app claims), or `*`
    /// for every address that has no trigger of its own.
    #[schema(max_length = 64)]
    email: Option<String>,
    /// A queue or email trigger: runs a message gets before it becomes a
    /// dead letter (1-100, default 5).
    max_attempts: Option<i64>,
    /// Whether it fires (default `true`).
    enabled: Option<bool>,
}

/// Run one of the app's scripts on a schedule (`schedule`), for each
/// message of a queue (`queue`), or for each inbound mail to one of the
/// app's addresses (`email`). A cron trigger's first run is at the
/// schedule's first time after now, never at once.
#[utoipa::path(post, path = "/apps/{app}/triggers", tag = "triggers", request_body = CreateTrigger,
    params(("app" = String, Path, description = APP_PARAM)),
    responses(
        (status = 201, description = "Created", body = Trigger),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_trigger` (not exactly one of `schedule`, `queue` and `email`, or a bad `email`), `invalid_schedule`, `invalid_timezone`, `invalid_queue` or `invalid_script` (the app has no such script), naming the problem", body = ErrorBody),
        (status = 404, description = super::openapi::NO_SUCH_APP, body = super::openapi::ErrorBody),
        (status = 409, description = "`quota_exceeded`: the app has 100 triggers of the kind already; `trigger_exists`: the queue or address has a trigger", body = ErrorBody),
    ))]
async fn create(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    ApiJson(body): ApiJson<CreateTrigger>,
) -> Result<(StatusCode, Json<Trigger>)> {
    let enabled = body.enabled.unwrap_or(true);
    let trigger = match (body.schedule, body.queue, body.email) {
        (Some(schedule), None, None) => {
            if body.max_attempts.is_some() {
                return Err(not_for("cron", "max_attempts"));
            }
            Trigger::Cron(
                m.store
                    .create_trigger(
                        app.id,
                        &NewTrigger {
                            script: body.script,
                            schedule,
                            timezone: body.timezone,
                            enabled,
                        },
                    )
                    .await?,
            )
        }
        (None, Some(queue), None) => {
            if body.timezone.is_some() {
                return Err(not_for("queue", "timezone"));
            }
            crate::store::validate_queue_name(&queue)?;
            let trigger = m
                .store
                .create_queue_trigger(app.id, &body.script, &queue, enabled, body.max_attempts)
                .await?;
            // Messages may be waiting for it already.
            crate::queue_runner::wake();
            of_queue(trigger)
        }
        (None, None, Some(email)) => {
            if body.timezone.is_some() {
                return Err(not_for("email", "timezone"));
            }
            let queue = crate::store::email_queue(&email)?;
            let trigger = m
                .store
                .create_queue_trigger(app.id, &body.script, &queue, enabled, body.max_attempts)
                .await?;
            crate::queue_runner::wake();
            of_queue(trigger)
        }
        _ => {
            return Err(Error::bad_request(
                ErrorCode::InvalidTrigger,
                "a trigger has a `schedule` (cron), a `queue` or an `email` address: give exactly one",
            ));
        }
    };
    Ok((StatusCode::CREATED, Json(trigger)))
}

/// One of the app's triggers.
#[utoipa::path(get, path = "/apps/{app}/triggers/{id}", tag = "triggers",
    params(("app" = String, Path, description = APP_PARAM), ("id" = String, Path, description = ID_PARAM)),
    responses(
        (status = 200, description = "The trigger", body = Trigger),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 404, description = "`not_found`: no such app, or the app has no such trigger", body = ErrorBody),
    ))]
async fn show(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Trigger>> {
    Ok(Json(find(&m, app.id, &id).await?))
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
    /// A queue trigger's runs per message (1-100).
    max_attempts: Option<i64>,
}

/// Change a trigger's script or whether it fires; a cron trigger's schedule
/// or time zone, a queue trigger's `max_attempts`. A new schedule or time
/// zone, or resuming, moves a cron trigger's next run to the schedule's
/// first time after now. A paused queue trigger's messages wait.
#[utoipa::path(patch, path = "/apps/{app}/triggers/{id}", tag = "triggers", request_body = UpdateTrigger,
    params(("app" = String, Path, description = APP_PARAM), ("id" = String, Path, description = ID_PARAM)),
    responses(
        (status = 200, description = "The updated trigger", body = Trigger),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_schedule`, `invalid_timezone`, `invalid_script`, or `invalid_trigger` (a setting of the other kind)", body = ErrorBody),
        (status = 404, description = "`not_found`: no such app, or the app has no such trigger", body = ErrorBody),
    ))]
async fn update(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateTrigger>,
) -> Result<Json<Trigger>> {
    let trigger = match find(&m, app.id, &id).await? {
        Trigger::Cron(_) => {
            if body.max_attempts.is_some() {
                return Err(not_for("cron", "max_attempts"));
            }
            Trigger::Cron(
                m.store
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
                    .await?,
            )
        }
        Trigger::Queue(_) | Trigger::Email(_) => {
            if let Some(field) = [
                ("schedule", body.schedule.is_some()),
                ("timezone", body.timezone.is_some()),
            ]
            .into_iter()
            .find_map(|(field, given)| given.then_some(field))
            {
                return Err(not_for("queue", field));
            }
            let trigger = m
                .store
                .update_queue_trigger(
                    app.id,
                    &id,
                    &QueueTriggerChanges {
                        script: body.script,
                        enabled: body.enabled,
                        max_attempts: body.max_attempts,
                    },
                )
                .await?;
            crate::queue_runner::wake();
            of_queue(trigger)
        }
    };
    Ok(Json(trigger))
}

/// Delete a trigger (its past runs stay in the execution log; a queue's
/// messages wait for another trigger).
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
    match m.store.delete_trigger(app.id, &id).await {
        Err(StoreError::NotFound { .. }) => {
            if !m.store.delete_queue_trigger(app.id, &id).await? {
                return Err(Error::not_found("trigger", &id));
            }
        }
        other => other?,
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Fire a cron trigger once now, outside its schedule, exactly as the
/// scheduler would (recorded with trigger `cron`); its next and last run
/// times stay. A queue trigger runs for messages only (`400
/// invalid_trigger`).
#[utoipa::path(post, path = "/apps/{app}/triggers/{id}/run", tag = "triggers",
    params(("app" = String, Path, description = APP_PARAM), ("id" = String, Path, description = ID_PARAM)),
    responses(
        (status = 200, description = "The script ran; `error` says whether it failed", body = TriggerRun),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_trigger`: a queue trigger", body = ErrorBody),
        (status = 404, description = "`not_found`: no such app, or the app has no such trigger", body = ErrorBody),
    ))]
async fn run(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<TriggerRun>> {
    match find(&m, app.id, &id).await? {
        Trigger::Queue(trigger) => {
            return Err(Error::bad_request(
                ErrorCode::InvalidTrigger,
                format!(
                    "trigger {} runs for the messages of queue '{}': send one with queue::send",
                    trigger.id, trigger.queue
                ),
            ));
        }
        Trigger::Email(trigger) => {
            return Err(Error::bad_request(
                ErrorCode::InvalidTrigger,
                format!(
                    "trigger {} runs for inbound mail to {}@ the app's domains: send it a mail",
                    trigger.id, trigger.email
                ),
            ));
        }
        Trigger::Cron(_) => {}
    }
    Ok(Json(m.run_trigger_now(app.id, &id).await?))
}
