//! `/apps/{app}/collections`: an app's document collections, as its
//! scripts see them through `docs::*`.

use crate::ErrorCode;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::DocQuery;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::apps::AppPath;
use super::openapi::ErrorBody;
use super::{ApiJson, ApiQuery};
use crate::store::{Collection, DocRecord, DocsQuota, DocsUsage, MAX_FIND_LIMIT, parse_where};
use crate::{Error, Manager, Result};

pub(super) fn router() -> OpenApiRouter<Manager> {
    OpenApiRouter::new()
        .routes(routes!(collections))
        .routes(routes!(list, insert))
        .routes(routes!(show, replace, remove))
}

const APP_PARAM: &str = "App id or current slug; an old slug answers 308 with the current URL";
const COLLECTION_PARAM: &str =
    "Collection name: 1-64 of letters, digits, `_`, `.` and `-`, not starting with `.` or `-`";
const ID_PARAM: &str = "Document id, as insert returned it";

/// An app's collections, plus its usage and quota.
#[derive(Serialize, ToSchema)]
struct CollectionList {
    /// Every collection that has documents, in byte order of their names.
    items: Vec<Collection>,
    /// What the app's collections hold together.
    usage: DocsUsage,
    /// The limits of every app's documents.
    quota: DocsQuota,
}

/// List an app's collections with their sizes.
#[utoipa::path(get, path = "/apps/{app}/collections", tag = "docs",
    params(("app" = String, Path, description = APP_PARAM)),
    responses(
        (status = 200, description = "The collections", body = CollectionList),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 404, description = super::openapi::NO_SUCH_APP, body = super::openapi::ErrorBody),
    ))]
async fn collections(
    State(m): State<Manager>,
    AppPath(app): AppPath,
) -> Result<Json<CollectionList>> {
    Ok(Json(CollectionList {
        items: m.store.doc_collections(app.id).await?,
        usage: m.store.doc_usage(app.id).await?,
        quota: m.config.docs_quota,
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct FindQuery {
    /// Conditions on top-level fields, as a JSON object in the shape scripts
    /// use (URL-encoded): `{"status":"paid","total":{"gt":10}}`. A plain
    /// value means equal; an object maps `eq`, `ne`, `lt`, `lte`, `gt`,
    /// `gte` to values. All must hold.
    #[serde(rename = "where")]
    filter: Option<String>,
    /// A top-level field to sort by, with a leading `-` for descending;
    /// without it, by id (insertion order).
    sort: Option<String>,
    /// `next_cursor` of the previous page (with the same `sort`).
    cursor: Option<String>,
    /// Items per page, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// A page of documents.
#[derive(Serialize, ToSchema)]
struct DocList {
    /// The matching documents in the query's order.
    items: Vec<DocRecord>,
    /// Pass back as `?cursor=` (with the same `sort`) for the next page;
    /// `null` on the last page.
    next_cursor: Option<String>,
}

/// Find documents of a collection, one page.
#[utoipa::path(get, path = "/apps/{app}/collections/{collection}/documents", tag = "docs",
    params(("app" = String, Path, description = APP_PARAM), ("collection" = String, Path, description = COLLECTION_PARAM), FindQuery),
    responses(
        (status = 200, description = "A page of documents (an empty page for a collection without documents)", body = DocList),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_collection`, `invalid_field` (a bad field name in `where` or `sort`), `invalid_query` (`where` is not an object of conditions, or a range compares with a boolean or null), `invalid_limit` or `invalid_cursor`", body = ErrorBody),
        (status = 404, description = super::openapi::NO_SUCH_APP, body = super::openapi::ErrorBody),
    ))]
async fn list(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, collection)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<FindQuery>,
) -> Result<Json<DocList>> {
    let limit = match q.limit {
        None => 100,
        Some(n) if (1..=i64::from(MAX_FIND_LIMIT)).contains(&n) => n as u32,
        Some(n) => {
            return Err(Error::bad_request(
                ErrorCode::InvalidLimit,
                format!("limit {n} is out of range: use 1 to {MAX_FIND_LIMIT}"),
            ));
        }
    };
    let filters = match q.filter.as_deref() {
        None => Vec::new(),
        Some(text) => {
            let value = serde_json::from_str(text).map_err(|err| {
                Error::bad_request(
                    ErrorCode::InvalidQuery,
                    format!("`where` is not JSON: {err}; send a URL-encoded JSON object"),
                )
            })?;
            parse_where(&value)?
        }
    };
    let (sort, descending) = match q.sort {
        Some(sort) => match sort.strip_prefix('-') {
            Some(field) => (Some(field.to_owned()), true),
            None => (Some(sort), false),
        },
        None => (None, false),
    };
    let query = DocQuery {
        filters,
        sort,
        descending,
        limit,
        cursor: q.cursor,
    };
    let page = m.store.doc_find(app.id, &collection, &query).await?;
    Ok(Json(DocList {
        items: page
            .docs
            .iter()
            .map(|doc| doc.record())
            .collect::<crate::store::Result<_>>()?,
        next_cursor: page.cursor,
    }))
}

/// Insert a document (the body) under a new id.
#[utoipa::path(post, path = "/apps/{app}/collections/{collection}/documents", tag = "docs",
    request_body(content = Object, description = "The document: a JSON object without an `_id` field"),
    params(("app" = String, Path, description = APP_PARAM), ("collection" = String, Path, description = COLLECTION_PARAM)),
    responses(
        (status = 201, description = "Stored", body = DocRecord),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_collection` or `invalid_document` (an `_id` field, a NUL character, or over the size limit)", body = ErrorBody),
        (status = 404, description = super::openapi::NO_SUCH_APP, body = super::openapi::ErrorBody),
        (status = 409, description = "`quota_exceeded`: the app holds as many documents or bytes as its quota allows (the message says which)", body = ErrorBody),
    ))]
async fn insert(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, collection)): Path<(String, String)>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<(StatusCode, Json<DocRecord>)> {
    let doc = m
        .store
        .doc_insert(app.id, &collection, &body.to_string(), &m.config.docs_quota)
        .await?;
    Ok((StatusCode::CREATED, Json(doc.record()?)))
}

/// One document.
#[utoipa::path(get, path = "/apps/{app}/collections/{collection}/documents/{id}", tag = "docs",
    params(("app" = String, Path, description = APP_PARAM), ("collection" = String, Path, description = COLLECTION_PARAM), ("id" = String, Path, description = ID_PARAM)),
    responses(
        (status = 200, description = "The document", body = DocRecord),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_collection`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such app or document", body = ErrorBody),
    ))]
async fn show(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, collection, id)): Path<(String, String, String)>,
) -> Result<Json<DocRecord>> {
    let doc = m
        .store
        .doc_get(app.id, &collection, &id)
        .await?
        .ok_or_else(|| Error::not_found("document", id))?;
    Ok(Json(doc.record()?))
}

/// Replace a document with the body, keeping its id.
#[utoipa::path(put, path = "/apps/{app}/collections/{collection}/documents/{id}", tag = "docs",
    request_body(content = Object, description = "The new document: a JSON object without an `_id` field"),
    params(("app" = String, Path, description = APP_PARAM), ("collection" = String, Path, description = COLLECTION_PARAM), ("id" = String, Path, description = ID_PARAM)),
    responses(
        (status = 200, description = "Replaced", body = DocRecord),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_collection` or `invalid_document`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such app or document (PUT does not create)", body = ErrorBody),
        (status = 409, description = "`quota_exceeded`: the larger document would exceed the app's byte quota", body = ErrorBody),
    ))]
async fn replace(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, collection, id)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<DocRecord>> {
    let doc = m
        .store
        .doc_replace(
            app.id,
            &collection,
            &id,
            &body.to_string(),
            &m.config.docs_quota,
        )
        .await?
        .ok_or_else(|| Error::not_found("document", id))?;
    Ok(Json(doc.record()?))
}

/// Delete a document.
#[utoipa::path(delete, path = "/apps/{app}/collections/{collection}/documents/{id}", tag = "docs",
    params(("app" = String, Path, description = APP_PARAM), ("collection" = String, Path, description = COLLECTION_PARAM), ("id" = String, Path, description = ID_PARAM)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 308, description = super::openapi::MOVED, body = super::openapi::ErrorBody),
        (status = 400, description = "`invalid_collection`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such app or document", body = ErrorBody),
    ))]
async fn remove(
    State(m): State<Manager>,
    AppPath(app): AppPath,
    Path((_, collection, id)): Path<(String, String, String)>,
) -> Result<StatusCode> {
    if m.store.doc_delete(app.id, &collection, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found("document", id))
    }
}
