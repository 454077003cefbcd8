//! Per-app document collections: the rows behind `docs::*` in scripts and
//! the admin API's `/apps/{app}/collections`.
//!
//! A document is a JSON object stored as compact JSON text under an id the
//! store generates (UUID v7, so ids sort in insertion order). Writes follow
//! the key-value store's pattern: one write transaction that first takes the
//! app's `docs_usage` row, which serializes the app's writers on PostgreSQL
//! (SQLite's `BEGIN IMMEDIATE` serializes all writers anyway), so the usage
//! counters, the quota checks and the read-merge-write of an update are
//! exact under any concurrency.
//!
//! Queries look inside the JSON with each engine's own functions (SQLite's
//! `json_each`, PostgreSQL's `jsonb`), but both reduce a field to the same
//! three values — a type rank, a number (64-bit float) and a string (byte
//! order) — and every comparison and ordering is written once against
//! those, so a query answers the same on both engines.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use shared::{DocFilter, DocOp, DocQuery, Document};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::Store;
use crate::db::{now_ms, rfc3339};
use crate::{Error, Result};

/// Most documents one find page returns, whatever the caller asks for.
pub const MAX_FIND_LIMIT: u32 = 1000;

/// Longest field name a query may name, in bytes.
pub const MAX_FIELD_BYTES: usize = 128;

/// Most conditions one query may have.
const MAX_FILTERS: usize = 32;

/// Most distinct fields one query may look at (its filters and its sort).
/// Each is a join on SQLite, which allows 64 tables in one query.
const MAX_QUERY_FIELDS: usize = 16;

/// The field scripts see a document's id under; never stored in the body.
const ID_FIELD: &str = "_id";

/// The limits of one app's documents (the same for every app; set by the
/// operator through [`ManagerConfig::docs_quota`](crate::ManagerConfig)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocsQuota {
    /// Largest document, in bytes of its compact JSON text.
    pub max_document_bytes: u64,
    /// Most documents an app may hold, over all its collections.
    pub max_documents: u64,
    /// Most bytes of documents an app may hold, over all its collections.
    pub max_total_bytes: u64,
}

impl Default for DocsQuota {
    fn default() -> Self {
        DocsQuota {
            max_document_bytes: 1 << 20,
            max_documents: 100_000,
            max_total_bytes: 256 << 20,
        }
    }
}

/// What an app's collections hold together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DocsUsage {
    /// Documents stored.
    pub documents: i64,
    /// Bytes stored (the documents' JSON text).
    pub bytes: i64,
}

/// One collection of an app, as the admin API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Collection {
    /// The collection's name.
    pub name: String,
    /// Documents in it.
    pub documents: i64,
    /// Bytes of its documents' JSON text.
    pub bytes: i64,
}

/// A stored document as the store returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDoc {
    /// The id the store generated at insert.
    pub id: String,
    /// The document: a JSON object as compact text, without `_id`.
    pub body: String,
    /// Bytes of `body`: what the quota counts.
    pub size: i64,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Milliseconds since the Unix epoch: the last write.
    pub updated_at: i64,
}

/// One document as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DocRecord {
    /// The id (UUID v7: ids sort in insertion order).
    pub id: String,
    /// The document, a JSON object.
    #[schema(value_type = Object)]
    pub document: Value,
    /// RFC 3339: the insert.
    pub created_at: String,
    /// RFC 3339: the last write.
    pub updated_at: String,
    /// Bytes of the document's compact JSON text: what the quota counts.
    pub size: i64,
}

/// One page of [`Store::doc_find`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredDocPage {
    /// The matching documents, in the query's order.
    pub docs: Vec<StoredDoc>,
    /// Pass back in [`DocQuery::cursor`] for the next page; `None` on the last.
    pub cursor: Option<String>,
}

impl StoredDoc {
    /// The admin API's view, with the body parsed.
    pub fn record(&self) -> Result<DocRecord> {
        let document = serde_json::from_str(&self.body).map_err(|_| {
            Error::Config(format!(
                "corrupt document '{}' in the database: not JSON",
                self.id
            ))
        })?;
        Ok(DocRecord {
            id: self.id.clone(),
            document,
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
            size: self.size,
        })
    }
}

impl From<StoredDoc> for Document {
    fn from(doc: StoredDoc) -> Self {
        Document {
            id: doc.id,
            body: doc.body,
        }
    }
}

/// Collection names: `^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`. Never `.` or
/// `..` (the first character is not a dot), so every name is one URL segment.
pub fn validate_collection(name: &str) -> Result<()> {
    let bytes = name.as_bytes();
    let ok = (1..=64).contains(&bytes.len())
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        return Ok(());
    }
    let shown = if name.len() <= 80 {
        format!("'{name}'")
    } else {
        format!("of {} bytes", name.len())
    };
    Err(Error::bad_request(
        "invalid_collection",
        format!(
            "the collection name {shown} is invalid: use 1 to 64 letters, digits, '_', '.' and '-', not starting with '.' or '-'"
        ),
    ))
}

/// Field names in queries: any text of 1 to [`MAX_FIELD_BYTES`] bytes
/// without NUL (which no stored field name contains).
fn validate_field(field: &str) -> Result<()> {
    let problem = if field.is_empty() {
        "a field name is empty".to_owned()
    } else if field.contains('\0') {
        "a field name contains a NUL character".to_owned()
    } else if field.len() > MAX_FIELD_BYTES {
        format!(
            "a field name is {} bytes long; the most is {MAX_FIELD_BYTES}",
            field.len()
        )
    } else {
        return Ok(());
    };
    Err(Error::bad_request("invalid_field", problem))
}

/// Whether `id` is one the store could have generated: a UUID in lowercase
/// hyphenated form. Anything else names no document, so look-ups answer
/// "absent" without asking the database.
fn is_doc_id(id: &str) -> bool {
    id.len() == 36 && Uuid::try_parse(id).is_ok_and(|uuid| uuid.hyphenated().to_string() == id)
}

fn invalid_document(message: impl Into<String>) -> Error {
    Error::bad_request("invalid_document", message)
}

/// Whether any string or field name in `value` contains NUL. PostgreSQL's
/// `jsonb`, which queries read documents through, cannot hold one; refusing
/// it on both engines keeps them alike.
fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// Parses a document or a patch (the guest and the admin API are not
/// trusted to send JSON): a JSON object without `_id` and without NUL.
fn parse_object(text: &str, what: &str) -> Result<Map<String, Value>> {
    let value: Value = serde_json::from_str(text)
        .map_err(|err| invalid_document(format!("the {what} is not JSON: {err}")))?;
    let Value::Object(map) = value else {
        return Err(invalid_document(format!(
            "the {what} must be a JSON object (a map), not {}",
            describe(&value)
        )));
    };
    if map.contains_key(ID_FIELD) {
        return Err(invalid_document(format!(
            "the {what} has a field '_id', which is reserved for the document's id"
        )));
    }
    if map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)) {
        return Err(invalid_document(format!(
            "the {what} contains a NUL character (\\u0000), which documents may not"
        )));
    }
    Ok(map)
}

/// The stored text of a document: compact JSON within the size limit.
fn serialize(document: &Map<String, Value>, quota: &DocsQuota) -> Result<String> {
    let text = serde_json::to_string(document).expect("a JSON map serializes");
    if text.len() as u64 > quota.max_document_bytes {
        return Err(invalid_document(format!(
            "the document is {} bytes of JSON; the most is {}",
            text.len(),
            quota.max_document_bytes
        )));
    }
    Ok(text)
}

/// RFC 7386 JSON merge patch of an object into an object: a null removes
/// the field, an object merges into the field recursively (a field that is
/// not an object becomes one first), anything else replaces it.
fn merge_patch(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(inner) => {
                let slot = target
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                merge_patch(slot.as_object_mut().expect("made an object above"), inner);
            }
            other => {
                target.insert(key.clone(), other.clone());
            }
        }
    }
}

/// Names a JSON value's type for messages; the value itself may be large or
/// private, so it is not quoted.
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Turns the `where` object of the admin API (the shape scripts use) into
/// filters: `{"status": "paid", "total": {"gt": 10, "lte": 99}}`. A scalar
/// means `eq`; an object maps operators (`eq`, `ne`, `lt`, `lte`, `gt`,
/// `gte`) to operands. Operands are checked by [`Store::doc_find`].
pub fn parse_where(value: &Value) -> Result<Vec<DocFilter>> {
    let invalid = |message: String| Err(Error::bad_request("invalid_query", message));
    let Value::Object(fields) = value else {
        return invalid(format!(
            "`where` must be a JSON object of field conditions, not {}",
            describe(value)
        ));
    };
    let mut filters = Vec::new();
    for (field, condition) in fields {
        match condition {
            Value::Object(ops) if ops.is_empty() => {
                return invalid(format!(
                    "the condition on '{field}' is an empty object; give an operator (eq, ne, lt, lte, gt, gte) and a value"
                ));
            }
            Value::Object(ops) => {
                for (op, operand) in ops {
                    let op = match op.as_str() {
                        "eq" => DocOp::Eq,
                        "ne" => DocOp::Ne,
                        "lt" => DocOp::Lt,
                        "lte" => DocOp::Lte,
                        "gt" => DocOp::Gt,
                        "gte" => DocOp::Gte,
                        _ => {
                            return invalid(format!(
                                "unknown operator '{op}' on '{field}': use eq, ne, lt, lte, gt or gte"
                            ));
                        }
                    };
                    filters.push(DocFilter {
                        field: field.clone(),
                        op,
                        value: operand.clone(),
                    });
                }
            }
            scalar => filters.push(DocFilter {
                field: field.clone(),
                op: DocOp::Eq,
                value: scalar.clone(),
            }),
        }
    }
    Ok(filters)
}

/// Type ranks: the first part of every field's sort key, and what equality
/// and range filters test before they compare values. Ascending order is
/// missing, null, numbers, strings, false, true, arrays, objects.
mod rank {
    pub(super) const MISSING: i64 = 0;
    pub(super) const NULL: i64 = 1;
    pub(super) const NUMBER: i64 = 2;
    pub(super) const STRING: i64 = 3;
    pub(super) const FALSE: i64 = 4;
    pub(super) const TRUE: i64 = 5;
    pub(super) const ARRAY: i64 = 6;
    pub(super) const OBJECT: i64 = 7;
}

/// What a find cursor carries: the query's order (so a cursor is not reused
/// with another), and the last document's sort key and id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cursor {
    /// The sort field; `None` sorts by id.
    s: Option<String>,
    /// Descending.
    d: bool,
    /// The last document's id.
    i: String,
    /// Its sort key, with a sort field: type rank and the number or string
    /// (null for the other ranks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<(i64, Value)>,
}

impl Cursor {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a cursor serializes"))
    }

    fn decode(text: &str, query: &DocQuery) -> Result<Cursor> {
        let invalid = || {
            Error::bad_request(
                "invalid_cursor",
                "the cursor is not one this server issued; pass back a page's cursor as it came",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if cursor.s != query.sort || cursor.d != query.descending {
            return Err(Error::bad_request(
                "invalid_cursor",
                "the cursor belongs to a query with another sort; keep the sort (and its direction) of the first page",
            ));
        }
        if !is_doc_id(&cursor.i) {
            return Err(invalid());
        }
        let key_ok = match (&cursor.s, &cursor.k) {
            (None, None) => true,
            (Some(_), Some((rank::NUMBER, Value::Number(n)))) => n.as_f64().is_some(),
            (Some(_), Some((rank::STRING, Value::String(s)))) => !s.contains('\0'),
            (Some(_), Some((rank, Value::Null))) => {
                (rank::MISSING..=rank::OBJECT).contains(rank)
                    && !matches!(*rank, rank::NUMBER | rank::STRING)
            }
            _ => false,
        };
        if !key_ok {
            return Err(invalid());
        }
        Ok(cursor)
    }
}

/// A value bound to a query parameter.
enum Arg {
    Text(String),
    Real(f64),
}

/// How one field of the documents reads in SQL: its type rank, its value
/// as a number (numbers only, else NULL) and as a string (strings only,
/// else NULL; compared byte by byte).
struct FieldSql {
    rank: String,
    num: String,
    text: String,
}

/// Builds a find query: the engine-specific part is only how a field is
/// read ([`QueryBuilder::field`]); filters, order and keyset are the same.
struct QueryBuilder {
    postgres: bool,
    /// Parameters after `$1` (app) and `$2` (collection).
    args: Vec<Arg>,
    joins: String,
    fields: Vec<(String, FieldSql)>,
}

impl QueryBuilder {
    fn new(postgres: bool) -> Self {
        QueryBuilder {
            postgres,
            args: Vec::new(),
            joins: String::new(),
            fields: Vec::new(),
        }
    }

    /// Binds `arg` and returns its placeholder.
    fn bind(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len() + 2)
    }

    /// The SQL of top-level field `name`, joined once however often it is used.
    fn field(&mut self, name: &str) -> Result<usize> {
        if let Some(index) = self.fields.iter().position(|(n, _)| n == name) {
            return Ok(index);
        }
        if self.fields.len() == MAX_QUERY_FIELDS {
            return Err(Error::bad_request(
                "invalid_query",
                format!("a query may look at no more than {MAX_QUERY_FIELDS} different fields"),
            ));
        }
        let index = self.fields.len();
        let key = self.bind(Arg::Text(name.to_owned()));
        let sql = if self.postgres {
            if index == 0 {
                // Parsed once per row: `OFFSET 0` keeps the planner from
                // inlining the cast into every use of `x.j`.
                self.joins
                    .push_str(" CROSS JOIN LATERAL (SELECT d.body::jsonb AS j OFFSET 0) AS x");
            }
            let v = format!("(x.j -> {key})");
            FieldSql {
                rank: format!(
                    "(CASE jsonb_typeof({v}) WHEN 'null' THEN {null} WHEN 'number' THEN {number} \
                     WHEN 'string' THEN {string} \
                     WHEN 'boolean' THEN (CASE WHEN {v} = 'true'::jsonb THEN {t} ELSE {f} END) \
                     WHEN 'array' THEN {array} WHEN 'object' THEN {object} ELSE {missing} END)",
                    null = rank::NULL,
                    number = rank::NUMBER,
                    string = rank::STRING,
                    t = rank::TRUE,
                    f = rank::FALSE,
                    array = rank::ARRAY,
                    object = rank::OBJECT,
                    missing = rank::MISSING,
                ),
                // jsonb numbers are decimals; as float8 they compare as
                // SQLite's REAL values do.
                num: format!("(CASE WHEN jsonb_typeof({v}) = 'number' THEN ({v})::float8 END)"),
                text: format!(
                    "((CASE WHEN jsonb_typeof({v}) = 'string' THEN {v} #>> '{{}}' END) COLLATE \"C\")"
                ),
            }
        } else {
            // `json_each` matches the key as text, so any field name works;
            // a JSON path (`$."name"`) cannot express every name.
            let f = format!("f{index}");
            self.joins.push_str(&format!(
                " LEFT JOIN json_each(d.body) AS {f} ON {f}.key = {key}"
            ));
            FieldSql {
                rank: format!(
                    "(CASE {f}.type WHEN 'null' THEN {null} WHEN 'integer' THEN {number} \
                     WHEN 'real' THEN {number} WHEN 'text' THEN {string} WHEN 'false' THEN {false_} \
                     WHEN 'true' THEN {true_} WHEN 'array' THEN {array} WHEN 'object' THEN {object} \
                     ELSE {missing} END)",
                    null = rank::NULL,
                    number = rank::NUMBER,
                    string = rank::STRING,
                    true_ = rank::TRUE,
                    false_ = rank::FALSE,
                    array = rank::ARRAY,
                    object = rank::OBJECT,
                    missing = rank::MISSING,
                ),
                num: format!(
                    "(CASE WHEN {f}.type IN ('integer', 'real') THEN CAST({f}.atom AS REAL) END)"
                ),
                text: format!("(CASE WHEN {f}.type = 'text' THEN {f}.atom END)"),
            }
        };
        self.fields.push((name.to_owned(), sql));
        Ok(index)
    }

    /// The SQL condition of one filter. Never NULL, so `NOT` of it is exact.
    fn filter(&mut self, filter: &DocFilter) -> Result<String> {
        validate_field(&filter.field)?;
        let index = self.field(&filter.field)?;
        let op = match filter.op {
            DocOp::Eq | DocOp::Ne => "=",
            DocOp::Lt => "<",
            DocOp::Lte => "<=",
            DocOp::Gt => ">",
            DocOp::Gte => ">=",
        };
        let range = !matches!(filter.op, DocOp::Eq | DocOp::Ne);
        let condition = match &filter.value {
            Value::Null | Value::Bool(_) if range => {
                return Err(Error::bad_request(
                    "invalid_query",
                    format!(
                        "the condition on '{}' compares with {}: range comparisons take a number or a string",
                        filter.field,
                        describe(&filter.value)
                    ),
                ));
            }
            Value::Null => format!("({} = {})", self.fields[index].1.rank, rank::NULL),
            Value::Bool(b) => format!(
                "({} = {})",
                self.fields[index].1.rank,
                if *b { rank::TRUE } else { rank::FALSE }
            ),
            Value::Number(n) => {
                let n = n.as_f64().expect("JSON numbers are finite");
                let value = self.bind(Arg::Real(n));
                let sql = &self.fields[index].1;
                format!(
                    "({} = {} AND {} {op} {value})",
                    sql.rank,
                    rank::NUMBER,
                    sql.num
                )
            }
            Value::String(s) => {
                if s.contains('\0') {
                    return Err(Error::bad_request(
                        "invalid_query",
                        format!(
                            "the condition on '{}' compares with a string containing a NUL character, which no document holds",
                            filter.field
                        ),
                    ));
                }
                let value = self.bind(Arg::Text(s.clone()));
                let sql = &self.fields[index].1;
                format!(
                    "({} = {} AND {} {op} {value})",
                    sql.rank,
                    rank::STRING,
                    sql.text
                )
            }
            Value::Array(_) | Value::Object(_) => {
                return Err(Error::bad_request(
                    "invalid_query",
                    format!(
                        "the condition on '{}' compares with {}: conditions take a string, a number, a boolean or null",
                        filter.field,
                        describe(&filter.value)
                    ),
                ));
            }
        };
        Ok(match filter.op {
            DocOp::Ne => format!("NOT {condition}"),
            _ => condition,
        })
    }

    /// The keyset condition: rows after the cursor in the query's order.
    fn after(&mut self, cursor: &Cursor, sort: Option<usize>) -> String {
        let (gt, _) = order_ops(cursor.d);
        let id = self.bind(Arg::Text(cursor.i.clone()));
        let past_id = format!("d.id {gt} {id}");
        let (Some(index), Some((rank, value))) = (sort, &cursor.k) else {
            return past_id;
        };
        let same_rank = match value {
            Value::Number(n) => {
                let v = self.bind(Arg::Real(n.as_f64().expect("checked in decode")));
                let num = &self.fields[index].1.num;
                format!("({num} {gt} {v} OR ({num} = {v} AND {past_id}))")
            }
            Value::String(s) => {
                let v = self.bind(Arg::Text(s.clone()));
                let text = &self.fields[index].1.text;
                format!("({text} {gt} {v} OR ({text} = {v} AND {past_id}))")
            }
            _ => past_id,
        };
        let r = &self.fields[index].1.rank;
        format!("({r} {gt} {rank} OR ({r} = {rank} AND {same_rank}))")
    }
}

/// `(">", "ASC")` ascending, `("<", "DESC")` descending.
fn order_ops(descending: bool) -> (&'static str, &'static str) {
    if descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    }
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Takes the app's usage row (creating it at zero), which every writer of
/// the app's documents does first: on PostgreSQL the upsert locks the row
/// until commit, so one app's writes queue here. Returns the counters.
async fn lock_usage(tx: &mut Tx, app_id: &str) -> Result<DocsUsage> {
    let (documents, bytes): (i64, i64) = sqlx::query_as(
        "INSERT INTO docs_usage (app_id, documents, bytes) VALUES ($1, 0, 0)
         ON CONFLICT (app_id) DO UPDATE SET documents = docs_usage.documents
         RETURNING documents, bytes",
    )
    .bind(app_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(DocsUsage { documents, bytes })
}

/// Refuses a write that adds `documents` documents and `bytes` bytes beyond
/// the quota; only growth is checked, so an app over a lowered quota can
/// still shrink or delete.
fn check_quota(quota: &DocsQuota, usage: DocsUsage, documents: i64, bytes: i64) -> Result<()> {
    let max_documents = i64::try_from(quota.max_documents).unwrap_or(i64::MAX);
    let max_bytes = i64::try_from(quota.max_total_bytes).unwrap_or(i64::MAX);
    if documents > 0 && usage.documents.saturating_add(documents) > max_documents {
        return Err(Error::conflict(
            "quota_exceeded",
            format!(
                "the app's collections hold {} documents, the most it may ({max_documents}); delete documents first",
                usage.documents
            ),
        ));
    }
    if bytes > 0 && usage.bytes.saturating_add(bytes) > max_bytes {
        return Err(Error::conflict(
            "quota_exceeded",
            format!(
                "the app's collections hold {} bytes of documents of their quota of {max_bytes}; this write needs {bytes} more",
                usage.bytes
            ),
        ));
    }
    Ok(())
}

async fn add_usage(tx: &mut Tx, app_id: &str, documents: i64, bytes: i64) -> Result<()> {
    if documents != 0 || bytes != 0 {
        sqlx::query(
            "UPDATE docs_usage SET documents = documents + $2, bytes = bytes + $3 WHERE app_id = $1",
        )
        .bind(app_id)
        .bind(documents)
        .bind(bytes)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

const COLUMNS: &str = "d.id, d.body, d.size, d.created_at, d.updated_at";

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
    app_id: &str,
    collection: &str,
    id: &str,
    quota: &DocsQuota,
    change: impl FnOnce(Map<String, Value>) -> Map<String, Value>,
) -> Result<Option<StoredDoc>> {
    let usage = lock_usage(tx, app_id).await?;
    let current = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM documents d WHERE d.app_id = $1 AND d.collection = $2 AND d.id = $3"
    ))
    .bind(app_id)
    .bind(collection)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(current) = current.as_ref().map(stored).transpose()? else {
        return Ok(None);
    };
    let old: Map<String, Value> = serde_json::from_str(&current.body).map_err(|_| {
        Error::Config(format!(
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
    .bind(app_id)
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

impl Store {
    /// Stores `body` (a JSON object as text) as a new document of
    /// `collection` under a new id (`docs::insert`). Fails with
    /// `invalid_collection` or `invalid_document` (400) and
    /// `quota_exceeded` (409).
    pub async fn doc_insert(
        &self,
        app_id: &str,
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
        .bind(app_id)
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
        app_id: &str,
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
        .bind(app_id)
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
        app_id: &str,
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
        app_id: &str,
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
    pub async fn doc_delete(&self, app_id: &str, collection: &str, id: &str) -> Result<bool> {
        validate_collection(collection)?;
        if !is_doc_id(id) {
            return Ok(false);
        }
        let mut tx = self.db.begin_write().await?;
        lock_usage(&mut tx, app_id).await?;
        let size: Option<i64> = sqlx::query_scalar(
            "DELETE FROM documents WHERE app_id = $1 AND collection = $2 AND id = $3 RETURNING size",
        )
        .bind(app_id)
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
        app_id: &str,
        collection: &str,
        query: &DocQuery,
    ) -> Result<StoredDocPage> {
        validate_collection(collection)?;
        if query.limit == 0 {
            return Err(Error::bad_request(
                "invalid_limit",
                format!("the limit must be 1 to {MAX_FIND_LIMIT}"),
            ));
        }
        if query.filters.len() > MAX_FILTERS {
            return Err(Error::bad_request(
                "invalid_query",
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

        let mut builder = QueryBuilder::new(self.db.is_postgres());
        let mut conditions = Vec::new();
        for filter in &query.filters {
            conditions.push(builder.filter(filter)?);
        }
        let sort = query
            .sort
            .as_deref()
            .map(|s| builder.field(s))
            .transpose()?;
        if let Some(cursor) = &cursor {
            conditions.push(builder.after(cursor, sort));
        }
        let (_, dir) = order_ops(query.descending);
        let mut columns = COLUMNS.to_owned();
        let order = match sort {
            Some(index) => {
                let sql = &builder.fields[index].1;
                columns.push_str(&format!(
                    ", {} AS sort_rank, {} AS sort_num, {} AS sort_text",
                    sql.rank, sql.num, sql.text
                ));
                // Within one rank the number (or the string) is never NULL,
                // so how each engine orders NULLs does not matter.
                format!(
                    "{} {dir}, {} {dir}, {} {dir}, d.id {dir}",
                    sql.rank, sql.num, sql.text
                )
            }
            None => format!("d.id {dir}"),
        };
        let mut sql = format!(
            "SELECT {columns} FROM documents d{} WHERE d.app_id = $1 AND d.collection = $2",
            builder.joins
        );
        for condition in &conditions {
            sql.push_str(" AND ");
            sql.push_str(condition);
        }
        // One more than asked, to learn whether another page follows.
        sql.push_str(&format!(" ORDER BY {order} LIMIT {}", limit + 1));

        let mut q = sqlx::query(&sql).bind(app_id).bind(collection);
        for arg in &builder.args {
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
                let key = match sort {
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
    pub async fn doc_collections(&self, app_id: &str) -> Result<Vec<Collection>> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT collection, COUNT(*), CAST(SUM(size) AS BIGINT) FROM documents
             WHERE app_id = $1 GROUP BY collection ORDER BY collection",
        )
        .bind(app_id)
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
    pub async fn doc_usage(&self, app_id: &str) -> Result<DocsUsage> {
        let usage: Option<(i64, i64)> =
            sqlx::query_as("SELECT documents, bytes FROM docs_usage WHERE app_id = $1")
                .bind(app_id)
                .fetch_optional(&self.db.pool)
                .await?;
        Ok(usage
            .map(|(documents, bytes)| DocsUsage { documents, bytes })
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        // The examples of RFC 7386, appendix A.
        for (original, patch, result) in [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!({"a": "foo"}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ] {
            let mut target = original.as_object().unwrap().clone();
            merge_patch(&mut target, patch.as_object().unwrap());
            assert_eq!(Value::Object(target), result, "{original} + {patch}");
        }
    }

    #[test]
    fn collection_names() {
        for ok in ["a", "orders", "_x", "9lives", "a.b-c_d", &"x".repeat(64)] {
            validate_collection(ok).unwrap();
        }
        for bad in [
            "",
            ".",
            "..",
            "-a",
            ".a",
            "a/b",
            "a b",
            "é",
            &"x".repeat(65),
        ] {
            let err = validate_collection(bad).unwrap_err();
            assert_eq!(err.code(), "invalid_collection", "{bad:?}");
        }
    }

    #[test]
    fn ids_are_canonical_uuids() {
        let id = Uuid::now_v7().hyphenated().to_string();
        assert!(is_doc_id(&id));
        assert!(!is_doc_id(&id.to_uppercase()));
        assert!(!is_doc_id(&id.replace('-', "")));
        assert!(!is_doc_id(""));
        assert!(!is_doc_id(&format!("{{{id}}}")));
    }
}
