//! `/apps/{app}/kv`: an app's key-value store, as its scripts see it through
//! `kv::*`. Keys go in the path percent-encoded (`a%2Fb` for `a/b`).

use crate::ErrorCode;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::apps::AppPath;
use super::openapi::ErrorBody;
use super::{ApiJson, ApiQuery};
use crate::store::{KvEntry, KvQuota, KvUsage, MAX_LIST_LIMIT};
use crate::{Error, Manager, Result};

pub(super) fn router() -> OpenApiRouter<Manager> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show, put, remove))
}

const APP_PARAM: &str = "App id or current slug; an old slug answers 308 with the current URL";
const KEY_PARAM: &str = "The key, percent-encoded (`/` as `%2F`)";

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only keys starting with this (compared byte for byte; `%` and `_` are plain characters).
    prefix: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Items per page, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// A page of an app's keys with their values, plus its usage and quota.
#[derive(Serialize, ToSchema)]
struct KvList {
    /// Live entries in byte order of their keys.
    items: Vec<KvEntry>,
    /// Pass back as `?cursor=` for the next page; `null` on the last page.
    next_cursor: Option<String>,
    /// What the app's store holds, expired entries not yet purged included.
    usage: KvUsage,
    /// The limits of every app's store.
    quota: KvQuota,
}

/// List an app's keys with their values, one page.
#[utoipa::path(get, path = "/apps/{app}/kv", tag = "kv",
    params(("app" = String, Path, description = APP_PARAM), ListQuery),
    responses(
        (status = 200, description = "A page of entries", body = KvList),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_limit` or `invalid_cursor`", body = ErrorBody),
        (status = 404, description = super::openapi::NO_SUCH_APP, body = super::openapi::ErrorBody),
    ))]
async fn list(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<KvList>> {
    let limit = match q.limit {
        None => 100,
        Some(n) if (1..=i64::from(MAX_LIST_LIMIT)).contains(&n) => n as u32,
        Some(n) => {
            return Err(Error::bad_request(
                ErrorCode::InvalidLimit,
                format!("limit {n} is out of range: use 1 to {MAX_LIST_LIMIT}"),
            ));
        }
    };
    let page = m
        .store
        .kv_entries(
            app.id,
            q.prefix.as_deref().unwrap_or(""),
            q.cursor.as_deref(),
            limit,
        )
        .await?;
    Ok(Json(KvList {
        items: page.items,
        next_cursor: page.next_cursor,
        usage: m.store.kv_usage(app.id).await?,
        quota: m.config.kv_quota,
    }))
}

/// One key with its value, unless absent or expired.
#[utoipa::path(get, path = "/apps/{app}/kv/{key}", tag = "kv",
    params(("app" = String, Path, description = APP_PARAM), ("key" = String, Path, description = KEY_PARAM)),
    responses(
        (status = 200, description = "The entry", body = KvEntry),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_key`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such app, or no live key", body = ErrorBody),
    ))]
async fn show(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, key)): Path<(String, String)>,
) -> Result<Json<KvEntry>> {
    m.store
        .kv_entry(app.id, &key)
        .await?
        .map(Json)
        .ok_or_else(|| Error::not_found("key", key))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PutEntry {
    /// Any JSON value (its JSON text counts toward the size limits).
    value: serde_json::Value,
    /// Seconds until the key disappears, at most 100 years; leave out for never.
    #[schema(minimum = 1, maximum = 3_153_600_000_u64)]
    ttl_seconds: Option<u64>,
}

/// Store a value under a key, replacing any value and TTL.
#[utoipa::path(put, path = "/apps/{app}/kv/{key}", tag = "kv", request_body = PutEntry,
    params(("app" = String, Path, description = APP_PARAM), ("key" = String, Path, description = KEY_PARAM)),
    responses(
        (status = 200, description = "Stored", body = KvEntry),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_key` (empty, too long, NUL), `invalid_value` (too large) or `invalid_ttl`", body = ErrorBody),
        (status = 404, description = super::openapi::NO_SUCH_APP, body = super::openapi::ErrorBody),
        (status = 409, description = "`quota_exceeded`: the app holds as many keys or bytes as its quota allows (the message says which)", body = ErrorBody),
    ))]
async fn put(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, key)): Path<(String, String)>,
    ApiJson(body): ApiJson<PutEntry>,
) -> Result<Json<KvEntry>> {
    let ttl = body.ttl_seconds.map(std::time::Duration::from_secs);
    let value = body.value.to_string();
    let entry = m
        .store
        .kv_set(app.id, &key, &value, ttl, &m.config.kv_quota)
        .await?;
    Ok(Json(entry))
}

/// Delete a key.
#[utoipa::path(delete, path = "/apps/{app}/kv/{key}", tag = "kv",
    params(("app" = String, Path, description = APP_PARAM), ("key" = String, Path, description = KEY_PARAM)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_key`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such app, or no live key", body = ErrorBody),
    ))]
async fn remove(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, key)): Path<(String, String)>,
) -> Result<StatusCode> {
    if m.store.kv_delete(app.id, &key).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found("key", key))
    }
}
