//! The statements behind the `Store::doc_*` methods: every read and write
//! of the `documents` and `docs_usage` tables.

use serde_json::{Map, Value};
use shared::AppId;
use shared::DocQuery;
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::query::{Arg, COLUMNS, Cursor, MAX_FILTERS, MAX_FIND_LIMIT, compile_find, rank};
use super::types::{Collection, DocsQuota, DocsUsage, StoredDoc, StoredDocPage, check_quota};
use super::validate::{
    is_doc_id, merge_patch, parse_object, serialize, validate_collection, validate_field,
};
use crate::db::now_ms;
use crate::error::ErrorCode;
use crate::store::Store;
use crate::store::{Result, StoreError};

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Takes the app's usage row (creating it at zero), which every writer of
/// the app's documents does first: on PostgreSQL the upsert locks the row
/// until commit, so one app's writes queue here. Returns the counters.
async fn lock_usage(tx: &mut Tx, app_id: AppId) -> Result<DocsUsage> {
    let (documents, bytes): (i64, i64) = sqlx::query_as(
        "INSERT INTO docs_usage (app_id, documents, bytes) VALUES ($1, 0, 0)
         ON CONFLICT (app_id) DO UPDATE SET documents = docs_usage.documents
         RETURNING documents, bytes",
    )
    .bind(app_id.to_string())
    .fetch_one(&mut **tx)
    .await?;
    Ok(DocsUsage { documents, bytes })
}

async fn add_usage(tx: &mut Tx, app_id: AppId, documents: i64, bytes: i64) -> Result<()> {
    if documents != 0 || bytes != 0 {
        sqlx::query(
            "UPDATE docs_usage SET documents = documents + $2, bytes = bytes + $3 WHERE app_id = $1",
        )
        .bind(app_id.to_string())
        .bind(documents)
        .bind(bytes)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

fn stored(row: &AnyRow) -> Result<StoredDoc> {
    Ok(StoredDoc {
        id: row.try_get("id")?,
        body: row.try_get("body")?,
        size: row.try_get("size")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Rewrites an existing document in a transaction holding the usage row:
/// `change` turns the stored object into the new one. `None` when absent.
async fn rewrite(
    tx: &mut Tx,
    app_id: AppId,
    collection: &str,
    id: &str,
    quota: &DocsQuota,
    change: impl FnOnce(Map<String, Value>) -> Map<String, Value>,
) -> Result<Option<StoredDoc>> {
    let usage = lock_usage(tx, app_id).await?;
    let current = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM documents d WHERE d.app_id = $1 AND d.collection = $2 AND d.id = $3"
    ))
    .bind(app_id.to_string())
    .bind(collection)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(current) = current.as_ref().map(stored).transpose()? else {
        return Ok(None);
    };
    let old: Map<String, Value> = serde_json::from_str(&current.body).map_err(|_| {
        StoreError::Corrupt(format!(
            "corrupt document '{id}' in the database: not a JSON object"
        ))
    })?;
    let body = serialize(&change(old), quota)?;
    let size = body.len() as i64;
    check_quota(quota, usage, 0, size - current.size)?;
    let now = now_ms();
    sqlx::query(
        "UPDATE documents SET body = $4, size = $5, updated_at = $6
         WHERE app_id = $1 AND collection = $2 AND id = $3",
    )
    .bind(app_id.to_string())
    .bind(collection)
    .bind(id)
    .bind(&body)
    .bind(size)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    add_usage(tx, app_id, 0, size - current.size).await?;
    Ok(Some(StoredDoc {
        body,
        size,
        updated_at: now,
        ..current
    }))
}

/// Stores `body` (a JSON object as text) as document `id` of `collection`,
/// replacing any document by that id, with the given creation and update
/// times: how an import brings a document over with its id and history.
/// Runs inside `tx` (an import writes a whole app's data in one
/// transaction) with the checks, quota and counters of
/// [`Store::doc_insert`] and [`Store::doc_replace`]; `id` must be one the
/// store could have generated, so look-ups keep finding it.
pub(crate) async fn put_document(
    tx: &mut Tx,
    app_id: AppId,
    collection: &str,
    id: &str,
    body: &str,
    (created_at, updated_at): (i64, i64),
    quota: &DocsQuota,
) -> Result<()> {
    validate_collection(collection)?;
    if !is_doc_id(id) {
        let shown = if id.len() <= 80 {
            format!("'{id}'")
        } else {
            format!("of {} bytes", id.len())
        };
        return Err(StoreError::bad_request(
            ErrorCode::InvalidDocument,
            format!("the document id {shown} is invalid: ids are lowercase hyphenated UUIDs"),
        ));
    }
    let body = serialize(&parse_object(body, "document")?, quota)?;
    let size = body.len() as i64;
    let usage = lock_usage(tx, app_id).await?;
    let old: Option<i64> = sqlx::query_scalar(
        "SELECT size FROM documents WHERE app_id = $1 AND collection = $2 AND id = $3",
    )
    .bind(app_id.to_string())
    .bind(collection)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    let (documents, bytes) = match old {
        Some(old) => (0, size - old),
        None => (1, size),
    };
    check_quota(quota, usage, documents, bytes)?;
    sqlx::query(
        "INSERT INTO documents (app_id, collection, id, body, size, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (app_id, collection, id) DO UPDATE SET body = excluded.body,
             size = excluded.size, created_at = excluded.created_at,
             updated_at = excluded.updated_at",
    )
    .bind(app_id.to_string())
    .bind(collection)
    .bind(id)
    .bind(&body)
    .bind(size)
    .bind(created_at)
    .bind(updated_at)
    .execute(&mut **tx)
    .await?;
    add_usage(tx, app_id, documents, bytes).await
}

impl Store {
    /// Stores `body` (a JSON object as text) as a new document of
    /// `collection` under a new id (`docs::insert`). Fails with
    /// `invalid_collection` or `invalid_document` (400) and
    /// `quota_exceeded` (409).
    pub async fn doc_insert(
        &self,
        app_id: AppId,
        collection: &str,
        body: &str,
        quota: &DocsQuota,
    ) -> Result<StoredDoc> {
        validate_collection(collection)?;
        let body = serialize(&parse_object(body, "document")?, quota)?;
        let size = body.len() as i64;
        let mut tx = self.db.begin_write().await?;
        let usage = lock_usage(&mut tx, app_id).await?;
        check_quota(quota, usage, 1, size)?;
        // Generated while holding the app's usage row, so within an app the
        // id order is the commit order: a reader paging by id never finds a
        // new document behind its cursor.
        let id = Uuid::now_v7().hyphenated().to_string();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO documents (app_id, collection, id, body, size, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(app_id.to_string())
        .bind(collection)
        .bind(&id)
        .bind(&body)
        .bind(size)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        add_usage(&mut tx, app_id, 1, size).await?;
        tx.commit().await?;
        Ok(StoredDoc {
            id,
            body,
            size,
            created_at: now,
            updated_at: now,
        })
    }

    /// The document `id` of `collection`, if it exists (`docs::get`).
    pub async fn doc_get(
        &self,
        app_id: AppId,
        collection: &str,
        id: &str,
    ) -> Result<Option<StoredDoc>> {
        validate_collection(collection)?;
        if !is_doc_id(id) {
            return Ok(None);
        }
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM documents d WHERE d.app_id = $1 AND d.collection = $2 AND d.id = $3"
        ))
        .bind(app_id.to_string())
        .bind(collection)
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?
        .as_ref()
        .map(stored)
        .transpose()
    }

    /// Merges `patch` (a JSON object as text) into document `id`, RFC 7386
    /// style: a null removes the field, an object merges recursively
    /// (`docs::update`). The updated document, or `None` if absent. Fails
    /// like [`Store::doc_insert`].
    pub async fn doc_update(
        &self,
        app_id: AppId,
        collection: &str,
        id: &str,
        patch: &str,
        quota: &DocsQuota,
    ) -> Result<Option<StoredDoc>> {
        validate_collection(collection)?;
        let patch = parse_object(patch, "patch")?;
        if !is_doc_id(id) {
            return Ok(None);
        }
        let mut tx = self.db.begin_write().await?;
        let updated = rewrite(&mut tx, app_id, collection, id, quota, |mut document| {
            merge_patch(&mut document, &patch);
            document
        })
        .await?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Replaces document `id` with `body` (a JSON object as text), keeping
    /// its id and creation time (the admin API's `PUT`). `None` if absent.
    pub async fn doc_replace(
        &self,
        app_id: AppId,
        collection: &str,
        id: &str,
        body: &str,
        quota: &DocsQuota,
    ) -> Result<Option<StoredDoc>> {
        validate_collection(collection)?;
        let document = parse_object(body, "document")?;
        if !is_doc_id(id) {
            return Ok(None);
        }
        let mut tx = self.db.begin_write().await?;
        let replaced = rewrite(&mut tx, app_id, collection, id, quota, |_| document).await?;
        tx.commit().await?;
        Ok(replaced)
    }

    /// Removes document `id`; whether it existed (`docs::delete`).
    pub async fn doc_delete(&self, app_id: AppId, collection: &str, id: &str) -> Result<bool> {
        validate_collection(collection)?;
        if !is_doc_id(id) {
            return Ok(false);
        }
        let mut tx = self.db.begin_write().await?;
        lock_usage(&mut tx, app_id).await?;
        let size: Option<i64> = sqlx::query_scalar(
            "DELETE FROM documents WHERE app_id = $1 AND collection = $2 AND id = $3 RETURNING size",
        )
        .bind(app_id.to_string())
        .bind(collection)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(size) = size else {
            return Ok(false);
        };
        add_usage(&mut tx, app_id, -1, -size).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The documents of `collection` matching `query`, one page in the
    /// query's order (`docs::find`). Fails with `invalid_collection`,
    /// `invalid_field`, `invalid_query`, `invalid_limit` or `invalid_cursor`
    /// (400).
    ///
    /// Order: with a sort field, by (type rank, value, id), where the ranks
    /// ascend missing, null, numbers, strings, false, true, arrays, objects;
    /// numbers compare as 64-bit floats, strings byte by byte, arrays and
    /// objects only by id. Without one, by id: insertion order. Descending
    /// reverses all of it, id included.
    pub async fn doc_find(
        &self,
        app_id: AppId,
        collection: &str,
        query: &DocQuery,
    ) -> Result<StoredDocPage> {
        validate_collection(collection)?;
        if query.limit == 0 {
            return Err(StoreError::bad_request(
                ErrorCode::InvalidLimit,
                format!("the limit must be 1 to {MAX_FIND_LIMIT}"),
            ));
        }
        if query.filters.len() > MAX_FILTERS {
            return Err(StoreError::bad_request(
                ErrorCode::InvalidQuery,
                format!(
                    "the query has {} conditions; the most is {MAX_FILTERS}",
                    query.filters.len()
                ),
            ));
        }
        if let Some(sort) = &query.sort {
            validate_field(sort)?;
        }
        let cursor = query
            .cursor
            .as_deref()
            .map(|c| Cursor::decode(c, query))
            .transpose()?;
        let limit = query.limit.min(MAX_FIND_LIMIT);

        let find = compile_find(self.db.is_postgres(), query, cursor.as_ref(), limit)?;

        let mut q = sqlx::query(&find.sql)
            .bind(app_id.to_string())
            .bind(collection);
        for arg in &find.args {
            q = match arg {
                Arg::Text(text) => q.bind(text.as_str()),
                Arg::Real(number) => q.bind(*number),
            };
        }
        let rows = q.fetch_all(&self.db.pool).await?;
        let more = rows.len() > limit as usize;
        let rows = &rows[..rows.len().min(limit as usize)];
        let next = match rows.last() {
            Some(last) if more => {
                let key = match query.sort {
                    None => None,
                    Some(_) => {
                        let rank: i64 = last.try_get("sort_rank")?;
                        let value = match rank {
                            rank::NUMBER => serde_json::Number::from_f64(last.try_get("sort_num")?)
                                .map_or(Value::Null, Value::Number),
                            rank::STRING => Value::String(last.try_get("sort_text")?),
                            _ => Value::Null,
                        };
                        Some((rank, value))
                    }
                };
                Some(
                    Cursor {
                        s: query.sort.clone(),
                        d: query.descending,
                        i: last.try_get("id")?,
                        k: key,
                    }
                    .encode(),
                )
            }
            _ => None,
        };
        Ok(StoredDocPage {
            docs: rows.iter().map(stored).collect::<Result<_>>()?,
            cursor: next,
        })
    }

    /// The app's collections in byte order of their names, with what each holds.
    pub async fn doc_collections(&self, app_id: AppId) -> Result<Vec<Collection>> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT collection, COUNT(*), CAST(SUM(size) AS BIGINT) FROM documents
             WHERE app_id = $1 GROUP BY collection ORDER BY collection",
        )
        .bind(app_id.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(name, documents, bytes)| Collection {
                name,
                documents,
                bytes,
            })
            .collect())
    }

    /// What the app's collections hold together.
    pub async fn doc_usage(&self, app_id: AppId) -> Result<DocsUsage> {
        let usage: Option<(i64, i64)> =
            sqlx::query_as("SELECT documents, bytes FROM docs_usage WHERE app_id = $1")
                .bind(app_id.to_string())
                .fetch_optional(&self.db.pool)
                .await?;
        Ok(usage
            .map(|(documents, bytes)| DocsUsage { documents, bytes })
            .unwrap_or_default())
    }
}
