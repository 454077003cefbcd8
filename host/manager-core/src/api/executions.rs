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

use crate::store::{Execution, ExecutionFilter};
use crate::{Error, Manager, Result};

pub(super) fn router() -> OpenApiRouter<Manager> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(list_for_script))
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
    /// `ok` or `error`.
    #[param(pattern = "^(ok|error)$")]
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
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<(Option<super::apps::Renamed>, Json<Value>)> {
    let (app_id, renamed) = match &q.app {
        Some(app) => {
            let (app, renamed) = super::apps::app_by_ref(&m, app).await?;
            (Some(app.id), renamed)
        }
        None => (None, None),
    };
    Ok((renamed, page(&m, app_id, q.script.clone(), q).await?))
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
    page(&m, None, Some(script.id.to_string()), q).await
}

async fn page(
    m: &Manager,
    app_id: Option<AppId>,
    script_id: Option<String>,
    q: ListQuery,
) -> Result<Json<Value>> {
    if let Some(status) = q.status.as_deref()
        && status != "ok"
        && status != "error"
    {
        return Err(Error::bad_request(
            ErrorCode::InvalidStatus,
            format!("status '{status}' is unknown: use ok or error"),
        ));
    }
    let before = match q.cursor.as_deref() {
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
    let since_ms = time_param("since", q.since.as_deref())?;
    let until_ms = time_param("until", q.until.as_deref())?;
    let limit = page_limit(q.limit)?;
    // Executions that already answered may still sit in the writer's queue.
    m.recorder.flush().await;
    let items = m
        .store
        .list_executions(&ExecutionFilter {
            app_id,
            script_id,
            outcome: q.status,
            since_ms,
            until_ms,
            before,
            limit: limit + 1,
        })
        .await?;
    Ok(Json(paged(items, limit)))
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
