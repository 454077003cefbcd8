//! `/executions`: the execution log.

use crate::ErrorCode;
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiQuery, page_limit};
use shared::AppId;

use crate::store::{Execution, ExecutionFilter, StatusFilter};
use crate::{Error, Manager, Result};

pub(super) fn router() -> OpenApiRouter<Manager> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(list_for_script))
        .routes(routes!(list_for_app))
        .routes(routes!(stream))
        .routes(routes!(stats))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct StatsQuery {
    /// RFC 3339 start of the window (default: 24 hours before `until`).
    #[param(format = DateTime)]
    since: Option<String>,
    /// RFC 3339 end of the window (default: now).
    #[param(format = DateTime)]
    until: Option<String>,
    /// Number of equal time buckets, 1-200 (default 24).
    #[param(minimum = 1, maximum = 200)]
    buckets: Option<i64>,
}

/// Execution counts over time for the dashboard's overview.
#[derive(Serialize, ToSchema)]
struct AppStats {
    /// Window start, RFC 3339.
    since: String,
    /// Window end, RFC 3339.
    until: String,
    /// Length of each bucket in seconds (fractional when the window does
    /// not divide evenly).
    bucket_seconds: f64,
    /// Executions in the window.
    total: i64,
    /// Executions that failed.
    errors: i64,
    /// `errors / total`; 0 without executions.
    error_rate: f64,
    /// Median duration in milliseconds; `null` without executions.
    p50_ms: Option<f64>,
    /// 95th-percentile duration in milliseconds; `null` without executions.
    p95_ms: Option<f64>,
    /// Scripts the app has now.
    script_count: i64,
    /// Every bucket, oldest first (empty ones included).
    buckets: Vec<StatsBucket>,
}

/// One time bucket.
#[derive(Serialize, ToSchema)]
struct StatsBucket {
    /// Bucket start, RFC 3339.
    start: String,
    /// Executions started in it.
    total: i64,
    /// Of those, failed.
    errors: i64,
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// An app's executions over a window: counts, error rate, p50/p95 duration.
#[utoipa::path(get, path = "/apps/{app}/stats", tag = "executions",
    params(("app" = String, Path, description = "App id or slug"), StatsQuery),
    responses(
        (status = 200, description = "Counts and durations over the window", body = AppStats),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_time`, `invalid_window`, `invalid_buckets` or `invalid_query`", body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
    ))]
async fn stats(
    State(m): State<Manager>,
    super::apps::AppPath(app): super::apps::AppPath,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> Result<Json<AppStats>> {
    let until = time_param("until", q.until.as_deref())?.unwrap_or_else(crate::db::now_ms);
    let since = time_param("since", q.since.as_deref())?.unwrap_or(until - DAY_MS);
    if since >= until {
        return Err(Error::bad_request(
            ErrorCode::InvalidWindow,
            "since must be earlier than until",
        ));
    }
    let count = q.buckets.unwrap_or(24);
    if !(1..=200).contains(&count) {
        return Err(Error::bad_request(
            ErrorCode::InvalidBuckets,
            format!("buckets {count} is outside 1-200"),
        ));
    }
    // Ceiling division, so `count` buckets always cover the window.
    let bucket_ms = ((until - since) + count - 1) / count;
    m.recorder.flush().await;
    let s = m
        .store
        .execution_stats(app.id, since, until, bucket_ms)
        .await?;
    let mut buckets: Vec<StatsBucket> = (0..count)
        .map(|i| StatsBucket {
            start: crate::db::rfc3339(since + i * bucket_ms),
            total: 0,
            errors: 0,
        })
        .collect();
    for (index, total, errors) in s.buckets {
        if let Some(bucket) = usize::try_from(index).ok().and_then(|i| buckets.get_mut(i)) {
            bucket.total = total;
            bucket.errors = errors;
        }
    }
    Ok(Json(AppStats {
        since: crate::db::rfc3339(since),
        until: crate::db::rfc3339(until),
        bucket_seconds: bucket_ms as f64 / 1000.0,
        total: s.total,
        errors: s.errors,
        error_rate: if s.total > 0 {
            s.errors as f64 / s.total as f64
        } else {
            0.0
        },
        p50_ms: s.p50_us.map(|us| us as f64 / 1000.0),
        p95_ms: s.p95_us.map(|us| us as f64 / 1000.0),
        script_count: m.store.count_scripts(app.id).await?,
        buckets,
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// App id or slug.
    app: Option<String>,
    /// Script id.
    script: Option<String>,
    /// `ok`, `error`, a status class (`2xx` … `5xx`) or a status code (`404`).
    #[param(pattern = "^(ok|error|[1-5]xx|[1-5][0-9][0-9])$")]
    status: Option<String>,
    /// RFC 3339: only executions started at or after this time.
    #[param(format = DateTime)]
    since: Option<String>,
    /// RFC 3339: only executions started before this time.
    #[param(format = DateTime)]
    until: Option<String>,
    /// Items per page, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// Opaque cursor from a previous page's `next_cursor`.
    #[param(pattern = "^[0-9]{1,18}[.].+$")]
    cursor: Option<String>,
}

/// An RFC 3339 query parameter as milliseconds since the epoch.
fn time_param(name: &str, value: Option<&str>) -> Result<Option<i64>> {
    value
        .map(|text| {
            // Any RFC 3339 time, with any offset (times before 1970 are fine too).
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .ok()
                .and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok())
                .ok_or_else(|| {
                    Error::bad_request(
                        ErrorCode::InvalidTime,
                        format!(
                            "{name} '{text}' is not an RFC 3339 time like 2026-11-26T18:00:00Z"
                        ),
                    )
                })
        })
        .transpose()
}

/// The execution log, newest first, filtered.
#[utoipa::path(get, path = "/executions", tag = "executions", params(ListQuery),
    responses(
        (status = 200, description = "A page of executions, newest first", body = super::openapi::ExecutionList),
        (status = 400, description = "`invalid_status`, `invalid_time`, `invalid_limit`, `invalid_cursor` or `invalid_query`", body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
    ))]
async fn list(
    State(m): State<Manager>,
    axum::Extension(access): axum::Extension<crate::policy::Access>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<(Option<super::apps::Renamed>, Json<Value>)> {
    let (app_id, renamed) = match &q.app {
        Some(app) => {
            let (app, renamed) = super::apps::app_by_ref(&m, app).await?;
            (Some(app.id), renamed)
        }
        None => (None, None),
    };
    // `?app=` was checked by the policy; without it, the caller's apps.
    let among = access.visible_apps();
    Ok((renamed, page(&m, app_id, among, q.script.clone(), q).await?))
}

/// One script's executions (the same filters).
#[utoipa::path(get, path = "/scripts/{id}/executions", tag = "executions",
    params(("id" = String, Path, description = "Script id"), ListQuery),
    responses(
        (status = 200, description = "A page of executions, newest first", body = super::openapi::ExecutionList),
        (status = 400, description = "`invalid_status`, `invalid_time`, `invalid_limit`, `invalid_cursor` or `invalid_query`", body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
    ))]
async fn list_for_script(
    State(m): State<Manager>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>> {
    let script = m.store.script(super::path_id("script", &id)?).await?;
    page(&m, None, None, Some(script.id.to_string()), q).await
}

async fn page(
    m: &Manager,
    app_id: Option<AppId>,
    among_apps: Option<Vec<AppId>>,
    script_id: Option<String>,
    q: ListQuery,
) -> Result<Json<Value>> {
    let filter = ExecutionFilter {
        app_id,
        among_apps,
        script_id,
        status: status_param(q.status.as_deref())?,
        ..ExecutionFilter::default()
    };
    list_page(m, filter, q.since, q.until, q.limit, q.cursor).await
}

/// `status=`: `ok`, `error`, a class or a code.
fn status_param(status: Option<&str>) -> Result<Option<StatusFilter>> {
    status
        .map(|text| {
            StatusFilter::parse(text).ok_or_else(|| {
                Error::bad_request(
                    ErrorCode::InvalidStatus,
                    format!(
                        "status '{text}' is unknown: use ok, error, a class such as 5xx, or a code such as 404"
                    ),
                )
            })
        })
        .transpose()
}

/// `trigger=`: one of the triggers.
fn trigger_param(trigger: Option<String>) -> Result<Option<String>> {
    match trigger.as_deref() {
        None
        | Some(
            "http" | "direct" | "test" | "cron" | "invoke" | "interceptor" | "queue" | "email",
        ) => Ok(trigger),
        Some(other) => Err(Error::bad_request(
            ErrorCode::InvalidTrigger,
            format!(
                "trigger '{other}' is unknown: use http, direct, test, cron, invoke, interceptor, queue or email"
            ),
        )),
    }
}

/// `script=` within an app: a script id, or the name of one of its scripts.
/// A script of another app, or none by that name, matches nothing (an
/// empty list, as any other filter that matches nothing).
async fn script_param(m: &Manager, app: AppId, script: Option<String>) -> Result<Option<String>> {
    let Some(script) = script else {
        return Ok(None);
    };
    if script.parse::<shared::ScriptId>().is_ok() {
        return Ok(Some(script));
    }
    Ok(Some(
        m.store
            .script_id_by_name(app, &script)
            .await?
            .map_or(script, |id| id.to_string()),
    ))
}

async fn list_page(
    m: &Manager,
    filter: ExecutionFilter,
    since: Option<String>,
    until: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
) -> Result<Json<Value>> {
    let before = match cursor.as_deref() {
        Some(c) => Some(
            c.split_once('.')
                .and_then(|(ms, id)| Some((ms.parse::<i64>().ok()?, id.to_owned())))
                .ok_or_else(|| {
                    Error::bad_request(
                        ErrorCode::InvalidCursor,
                        format!("cursor '{c}' is not one this server issued"),
                    )
                })?,
        ),
        None => None,
    };
    let since_ms = time_param("since", since.as_deref())?;
    let until_ms = time_param("until", until.as_deref())?;
    let limit = page_limit(limit)?;
    // Executions that already answered may still sit in the writer's queue.
    m.recorder.flush().await;
    let items = m
        .store
        .list_executions(&ExecutionFilter {
            since_ms,
            until_ms,
            before,
            limit: limit + 1,
            ..filter
        })
        .await?;
    Ok(Json(paged(items, limit)))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AppListQuery {
    /// A script of the app: its id or its name.
    script: Option<String>,
    /// `ok`, `error`, a status class (`2xx` … `5xx`) or a status code (`404`).
    #[param(pattern = "^(ok|error|[1-5]xx|[1-5][0-9][0-9])$")]
    status: Option<String>,
    /// `http`, `direct`, `test`, `cron`, `invoke`, `interceptor` or `queue`.
    #[param(pattern = "^(http|direct|test|cron|invoke|interceptor|queue|email)$")]
    trigger: Option<String>,
    /// The `Host` the request came in on (any port; case-insensitive).
    host: Option<String>,
    /// Request method, e.g. `POST`.
    method: Option<String>,
    /// Request path; with a trailing `*`, every path that starts with the rest.
    path: Option<String>,
    /// The request id (`x-request-id`).
    request_id: Option<String>,
    /// Text the script's log lines or error message contain (case-insensitive;
    /// `search` is the same parameter).
    #[serde(alias = "search")]
    q: Option<String>,
    /// RFC 3339: only executions started at or after this time.
    #[param(format = DateTime)]
    since: Option<String>,
    /// RFC 3339: only executions started before this time.
    #[param(format = DateTime)]
    until: Option<String>,
    /// Items per page, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// Opaque cursor from a previous page's `next_cursor`.
    #[param(pattern = "^[0-9]{1,18}[.].+$")]
    cursor: Option<String>,
}

/// The filters both app-wide views share.
#[allow(clippy::too_many_arguments)]
async fn app_filter(
    m: &Manager,
    app: AppId,
    script: Option<String>,
    status: Option<&str>,
    trigger: Option<String>,
    host: Option<String>,
    method: Option<String>,
    path: Option<String>,
    request_id: Option<String>,
    text: Option<String>,
) -> Result<ExecutionFilter> {
    Ok(ExecutionFilter {
        app_id: Some(app),
        script_id: script_param(m, app, script).await?,
        status: status_param(status)?,
        trigger: trigger_param(trigger)?,
        host: host.filter(|h| !h.is_empty()),
        method: method.filter(|m| !m.is_empty()),
        path: path.filter(|p| !p.is_empty()),
        request_id: request_id.filter(|r| !r.is_empty()),
        text: text.filter(|t| !t.is_empty()),
        ..ExecutionFilter::default()
    })
}

/// An app's executions across its scripts, newest first: filtered by
/// script, status, trigger, host, method, path, request id, time and text
/// in the log lines.
#[utoipa::path(get, path = "/apps/{app}/executions", tag = "executions",
    params(("app" = String, Path, description = "App id or slug"), AppListQuery),
    responses(
        (status = 200, description = "A page of executions, newest first", body = super::openapi::ExecutionList),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_status`, `invalid_trigger`, `invalid_time`, `invalid_limit`, `invalid_cursor` or `invalid_query`", body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
    ))]
async fn list_for_app(
    State(m): State<Manager>,
    super::apps::AppPath(app): super::apps::AppPath,
    ApiQuery(q): ApiQuery<AppListQuery>,
) -> Result<Json<Value>> {
    let filter = app_filter(
        &m,
        app.id,
        q.script,
        q.status.as_deref(),
        q.trigger,
        q.host,
        q.method,
        q.path,
        q.request_id,
        q.q,
    )
    .await?;
    list_page(&m, filter, q.since, q.until, q.limit, q.cursor).await
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct StreamQuery {
    /// A script of the app: its id or its name.
    script: Option<String>,
    /// `ok`, `error`, a status class (`2xx` … `5xx`) or a status code (`404`).
    #[param(pattern = "^(ok|error|[1-5]xx|[1-5][0-9][0-9])$")]
    status: Option<String>,
    /// `http`, `direct`, `test`, `cron`, `invoke`, `interceptor` or `queue`.
    #[param(pattern = "^(http|direct|test|cron|invoke|interceptor|queue|email)$")]
    trigger: Option<String>,
    /// The `Host` the request came in on (any port; case-insensitive).
    host: Option<String>,
    /// Request method, e.g. `POST`.
    method: Option<String>,
    /// Request path; with a trailing `*`, every path that starts with the rest.
    path: Option<String>,
    /// The request id (`x-request-id`).
    request_id: Option<String>,
    /// Text the script's log lines or error message contain (case-insensitive;
    /// `search` is the same parameter).
    #[serde(alias = "search")]
    q: Option<String>,
    /// Resume after this event id (the `seq` of the last record seen), as
    /// the `Last-Event-ID` header does; the header wins.
    #[param(minimum = 0)]
    last_event_id: Option<String>,
}

/// Stored records sent first on a resume, at most.
const RESUME_BACKLOG: i64 = 1000;
/// A comment line this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// Live execution log: Server-Sent Events of the app's new execution
/// records as they are written (`event: execution`, `id:` its `seq`, `data:`
/// the record with its log lines), filtered like the list. `Last-Event-ID`
/// resumes: the stored records after it come first. A reader that falls
/// 1,024 records behind gets `event: dropped` and the stream ends.
#[utoipa::path(get, path = "/apps/{app}/executions/stream", tag = "executions",
    params(("app" = String, Path, description = "App id or slug"), StreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")),
    responses(
        (status = 200, description = "`text/event-stream` of `execution` events (and a final `dropped` for a reader that fell behind)", content_type = "text/event-stream", body = String),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_status`, `invalid_trigger`, `invalid_event_id` or `invalid_query`", body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
    ))]
async fn stream(
    State(m): State<Manager>,
    super::apps::AppPath(app): super::apps::AppPath,
    headers: axum::http::HeaderMap,
    ApiQuery(q): ApiQuery<StreamQuery>,
) -> Result<axum::response::Response> {
    use axum::response::IntoResponse as _;
    use axum::response::sse::{KeepAlive, Sse};
    let last = headers
        .get("last-event-id")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .or(q.last_event_id);
    let after = last
        .map(|text| {
            text.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    Error::bad_request(
                        ErrorCode::InvalidEventId,
                        format!(
                            "Last-Event-ID '{text}' is not an event id this stream sent (a number)"
                        ),
                    )
                })
        })
        .transpose()?;
    let filter = app_filter(
        &m,
        app.id,
        q.script,
        q.status.as_deref(),
        q.trigger,
        q.host,
        q.method,
        q.path,
        q.request_id,
        q.q,
    )
    .await?;
    // Subscribed before the backlog is read: a record stored in between
    // arrives both ways and is sent once (by its seq).
    let live = m.recorder.subscribe();
    let backlog = match after {
        Some(seq) => {
            m.recorder.flush().await;
            m.store
                .list_executions_detailed(&ExecutionFilter {
                    after_seq: Some(seq),
                    limit: RESUME_BACKLOG,
                    ..filter.clone()
                })
                .await?
        }
        None => Vec::new(),
    };
    let events = live_events(filter, backlog, live, after.unwrap_or(0));
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    // Proxies that buffer responses (nginx) would hold the events back.
    response.headers_mut().insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    Ok(response)
}

/// Counts an open stream in the metrics while it lives.
struct StreamGauge;

impl StreamGauge {
    fn open() -> StreamGauge {
        shared::metrics::metrics().log_streams.inc();
        StreamGauge
    }
}

impl Drop for StreamGauge {
    fn drop(&mut self) {
        shared::metrics::metrics().log_streams.dec();
    }
}

struct LiveState {
    filter: ExecutionFilter,
    backlog: std::collections::VecDeque<Execution>,
    live: tokio::sync::broadcast::Receiver<std::sync::Arc<Execution>>,
    /// The last seq sent: live records at or below it were in the backlog.
    last: i64,
    done: bool,
    _gauge: StreamGauge,
}

fn event(e: &Execution) -> axum::response::sse::Event {
    axum::response::sse::Event::default()
        .event("execution")
        .id(e.summary.seq.to_string())
        .data(serde_json::to_string(e).unwrap_or_default())
}

fn live_events(
    filter: ExecutionFilter,
    backlog: Vec<Execution>,
    live: tokio::sync::broadcast::Receiver<std::sync::Arc<Execution>>,
    after: i64,
) -> impl futures_util::Stream<
    Item = std::result::Result<axum::response::sse::Event, std::convert::Infallible>,
> {
    use tokio::sync::broadcast::error::RecvError;
    let state = LiveState {
        filter,
        backlog: backlog.into(),
        live,
        last: after,
        done: false,
        _gauge: StreamGauge::open(),
    };
    futures_util::stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        if let Some(e) = state.backlog.pop_front() {
            state.last = state.last.max(e.summary.seq);
            return Some((Ok(event(&e)), state));
        }
        loop {
            match state.live.recv().await {
                Ok(e) if e.summary.seq > state.last && state.filter.matches(&e) => {
                    state.last = e.summary.seq;
                    return Some((Ok(event(&e)), state));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    shared::metrics::metrics().log_streams_dropped.inc();
                    state.done = true;
                    let data = json!({"error": {
                        "code": "stream_lagged",
                        "message": format!(
                            "this reader fell {missed} records behind and was disconnected; \
                             reconnect with Last-Event-ID: {} to resume",
                            state.last
                        ),
                    }});
                    return Some((
                        Ok(axum::response::sse::Event::default()
                            .event("dropped")
                            .data(data.to_string())),
                        state,
                    ));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

fn paged(mut items: Vec<crate::store::ExecutionSummary>, limit: i64) -> Value {
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next = if more {
        items
            .last()
            .map(|e| format!("{}.{}", millis(&e.started_at), e.id))
    } else {
        None
    };
    json!({ "executions": items, "next_cursor": next })
}

fn millis(started_at: &str) -> String {
    humantime::parse_rfc3339(started_at)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis().to_string())
        .unwrap_or_default()
}

/// One execution with its log lines.
#[utoipa::path(get, path = "/executions/{id}", tag = "executions", params(("id" = String, Path, description = "Execution id")),
    responses(
        (status = 200, description = "The execution", body = Execution),
        (status = 404, description = super::openapi::NOT_FOUND, body = super::openapi::ErrorBody),
    ))]
async fn show(State(m): State<Manager>, Path(id): Path<String>) -> Result<Json<Execution>> {
    m.recorder.flush().await;
    Ok(Json(
        m.store.execution(super::path_id("execution", &id)?).await?,
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use axum::response::IntoResponse as _;
    use shared::{
        AppId, ExecutionId, ExecutionOutcome, ExecutionRecord, ScriptId, ScriptResponse, Trigger,
    };
    use tokio::sync::broadcast;

    use super::*;

    fn stored(app: AppId, seq: i64, path: &str) -> Arc<Execution> {
        let record = ExecutionRecord {
            id: ExecutionId::new(),
            app_id: app,
            script_id: ScriptId(uuid::Uuid::new_v4()),
            route_id: None,
            script_version: 1,
            trigger: Trigger::Http,
            method: "GET".into(),
            path: path.into(),
            host: "localhost".into(),
            request_id: format!("r{seq}"),
            request_headers: Vec::new(),
            status: 200,
            response_bytes: 2,
            started_at: SystemTime::now(),
            outcome: ExecutionOutcome {
                outcome: Ok(ScriptResponse {
                    status: 200,
                    headers: Vec::new(),
                    body: Vec::new(),
                }),
                fuel_used: 1,
                duration: Duration::from_millis(1),
                logs: Vec::new(),
                logs_dropped: 0,
                next: None,
                children: Vec::new(),
            },
            parent_id: None,
            modules: Vec::new(),
            interceptors: Vec::new(),
        };
        Arc::new(Execution::from_record(&record, seq))
    }

    /// The whole stream as the client reads it; it ends when the stream does.
    async fn body(
        filter: ExecutionFilter,
        live: broadcast::Receiver<Arc<Execution>>,
        after: i64,
    ) -> String {
        let response = axum::response::sse::Sse::new(live_events(filter, Vec::new(), live, after))
            .into_response();
        let bytes = tokio::time::timeout(
            Duration::from_secs(10),
            axum::body::to_bytes(response.into_body(), 1 << 20),
        )
        .await
        .expect("the stream ends")
        .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// Records of the app that pass the filter arrive in order with their
    /// seq as the event id; others, and ones at or before the resume
    /// point, do not.
    #[tokio::test]
    async fn a_stream_sends_the_apps_matching_records_after_the_resume_point() {
        let app = AppId(uuid::Uuid::new_v4());
        let (tx, live) = broadcast::channel(16);
        for (app, seq, path) in [
            (app, 4, "/old"),
            (app, 5, "/a"),
            (AppId(uuid::Uuid::new_v4()), 6, "/other-app"),
            (app, 7, "/b"),
        ] {
            tx.send(stored(app, seq, path)).unwrap();
        }
        drop(tx);
        let filter = ExecutionFilter {
            app_id: Some(app),
            ..ExecutionFilter::default()
        };
        let text = body(filter, live, 4).await;
        let ids: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("id: "))
            .collect();
        assert_eq!(ids, ["5", "7"], "{text}");
        assert!(text.contains("event: execution"), "{text}");
        assert!(
            !text.contains("/other-app") && !text.contains("/old"),
            "{text}"
        );
    }

    /// A reader that fell further behind than its buffer is told so, with
    /// where to resume, and its stream ends: publishing never waited for it.
    #[tokio::test]
    async fn a_reader_that_falls_behind_gets_a_final_dropped_event() {
        let app = AppId(uuid::Uuid::new_v4());
        let (tx, live) = broadcast::channel(2);
        for seq in 1..=5 {
            tx.send(stored(app, seq, "/x")).unwrap();
        }
        let filter = ExecutionFilter {
            app_id: Some(app),
            ..ExecutionFilter::default()
        };
        // The sender stays open: only the lag ends the stream.
        let text = body(filter, live, 0).await;
        drop(tx);
        assert!(text.starts_with("event: dropped\n"), "{text}");
        assert!(text.contains("\"code\":\"stream_lagged\""), "{text}");
        assert!(text.contains("fell 3 records behind"), "{text}");
        assert!(!text.contains("event: execution"), "{text}");
    }
}
