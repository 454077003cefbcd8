//! The execution log.

use std::collections::BTreeMap;

use serde::Serialize;
use shared::{AppId, ExecutionId, ScriptId};
use shared::{ExecutionRecord, InterceptorRun, LogLine, ModuleUse};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use crate::db::{now_ms, rfc3339, to_ms};
use crate::store::{Result, StoreError};

/// One execution, as listed (without log lines).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExecutionSummary {
    /// UUID.
    #[schema(value_type = String)]
    pub id: ExecutionId,
    /// Position in the order records were written: the live stream's event
    /// id (`Last-Event-ID`).
    pub seq: i64,
    /// The app.
    #[schema(value_type = String)]
    pub app_id: AppId,
    /// The script.
    #[schema(value_type = String)]
    pub script_id: ScriptId,
    /// The version of the script that ran (`null` for records from before
    /// versions were kept).
    pub script_version: Option<i64>,
    /// The route that matched, if any.
    pub route_id: Option<String>,
    /// `http`, `direct`, `test` or `cron`.
    pub trigger: String,
    /// Request method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// The `Host` the request came in on (empty for cron and test runs).
    pub host: String,
    /// The request id (`x-request-id`).
    pub request_id: String,
    /// HTTP status returned to the caller.
    pub status: u16,
    /// Bytes of response body the caller received.
    pub response_bytes: i64,
    /// `ok` or `error`.
    pub outcome: &'static str,
    /// Why it failed, if it did.
    pub error: Option<ExecutionFailure>,
    /// Fuel consumed.
    pub fuel_used: i64,
    /// Wall time in milliseconds (fractional).
    pub duration_ms: f64,
    /// RFC 3339.
    pub started_at: String,
    /// The execution this one ran under: the `invoke` caller, or the
    /// request an interceptor guarded; `null` for a request's own.
    #[schema(value_type = Option<String>)]
    pub parent_id: Option<ExecutionId>,
}

/// The error part of an execution record.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExecutionFailure {
    /// Stable code, e.g. `fuel_exhausted`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// Source line, when known.
    pub line: Option<i64>,
    /// Source column, when known.
    pub column: Option<i64>,
}

/// One execution with its log lines.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Execution {
    /// The summary fields.
    #[serde(flatten)]
    pub summary: ExecutionSummary,
    /// Captured log lines.
    #[schema(value_type = Vec<crate::api::openapi::LogLineSchema>)]
    pub logs: Vec<LogLine>,
    /// Lines dropped because the per-execution cap was reached.
    pub logs_dropped: i64,
    /// The request's headers (lower-case names), with `authorization`,
    /// `cookie` and the configured secret headers `[redacted]`.
    pub request_headers: BTreeMap<String, String>,
    /// The modules (scripts of the app) it was given to import.
    #[schema(value_type = Vec<crate::api::openapi::ModuleUse>)]
    pub modules: Vec<ModuleUse>,
    /// The interceptors that ran before the route's script, in order, and
    /// what each did.
    #[schema(value_type = Vec<crate::api::openapi::InterceptorRun>)]
    pub interceptors: Vec<InterceptorRun>,
    /// Every execution below this one (children, their children, …),
    /// oldest first, each with its `parent_id`: the tree of a request.
    pub descendants: Vec<ExecutionSummary>,
    /// The mail it sent with `email::send`, in sending order: recipients,
    /// subject, outcome and the relay's reply; never the body.
    pub emails: Vec<super::EmailSend>,
}

impl Execution {
    /// The record as the log will show it once stored as number `seq`.
    pub fn from_record(r: &ExecutionRecord, seq: i64) -> Execution {
        let error = r.outcome.outcome.as_ref().err();
        Execution {
            summary: ExecutionSummary {
                id: r.id,
                seq,
                app_id: r.app_id,
                script_id: r.script_id,
                script_version: (r.script_version > 0).then_some(r.script_version),
                route_id: r.route_id.map(|id| id.to_string()),
                trigger: r.trigger.as_str().to_owned(),
                method: truncated(&r.method, MAX_STORED_METHOD).into_owned(),
                path: truncated(&r.path, MAX_STORED_PATH).into_owned(),
                host: truncated(&r.host, MAX_STORED_HOST).into_owned(),
                request_id: r.request_id.clone(),
                status: r.status,
                response_bytes: i64::try_from(r.response_bytes).unwrap_or(i64::MAX),
                outcome: if error.is_some() { "error" } else { "ok" },
                error: error.map(|e| ExecutionFailure {
                    code: e.code().to_owned(),
                    message: truncated(&e.to_string(), MAX_STORED_ERROR).into_owned(),
                    line: e.position().map(|p| i64::from(p.line)),
                    column: e.position().map(|p| i64::from(p.column)),
                }),
                fuel_used: i64::try_from(r.outcome.fuel_used).unwrap_or(i64::MAX),
                duration_ms: r.outcome.duration.as_micros() as f64 / 1000.0,
                started_at: rfc3339(to_ms(r.started_at)),
                parent_id: r.parent_id,
            },
            logs: r.outcome.logs.clone(),
            logs_dropped: i64::from(r.outcome.logs_dropped),
            request_headers: header_map(stored_headers(&r.request_headers)),
            modules: r.modules.clone(),
            interceptors: r.interceptors.clone(),
            descendants: Vec::new(),
            emails: Vec::new(),
        }
    }
}

/// Request headers as stored: the names and values the record carries,
/// each value cut to [`MAX_STORED_HEADER`] and at most [`MAX_STORED_HEADERS`]
/// of them.
fn stored_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .take(MAX_STORED_HEADERS)
        .map(|(name, value)| {
            (
                truncated(name, MAX_STORED_HEADER).into_owned(),
                truncated(value, MAX_STORED_HEADER).into_owned(),
            )
        })
        .collect()
}

fn header_map(pairs: Vec<(String, String)>) -> BTreeMap<String, String> {
    pairs.into_iter().collect()
}

/// Aggregates over one app's executions in a time window.
#[derive(Debug, Clone, Default)]
pub struct ExecutionStats {
    /// Executions in the window.
    pub total: i64,
    /// Of those, the ones that failed.
    pub errors: i64,
    /// Median duration in microseconds (`None` without executions).
    pub p50_us: Option<i64>,
    /// 95th-percentile duration in microseconds.
    pub p95_us: Option<i64>,
    /// Non-empty buckets: (index from the window start, total, errors).
    pub buckets: Vec<(i64, i64, i64)>,
}

/// Which statuses a listing keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// Executions without an error.
    Ok,
    /// Executions that failed.
    Error,
    /// HTTP statuses in `[from, to]` (a class like `4xx`, or one code).
    Range(u16, u16),
}

impl StatusFilter {
    /// `ok`, `error`, `2xx`…`5xx` or a code such as `404`.
    pub fn parse(text: &str) -> Option<StatusFilter> {
        match text {
            "ok" => Some(StatusFilter::Ok),
            "error" => Some(StatusFilter::Error),
            _ => {
                let bytes = text.as_bytes();
                if bytes.len() != 3 || !(b'1'..=b'5').contains(&bytes[0]) {
                    return None;
                }
                if &text[1..] == "xx" {
                    let class = u16::from(bytes[0] - b'0') * 100;
                    return Some(StatusFilter::Range(class, class + 99));
                }
                let code: u16 = text.parse().ok()?;
                Some(StatusFilter::Range(code, code))
            }
        }
    }
}

/// Filters for listing executions; newest first.
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter {
    /// Only this app.
    pub app_id: Option<AppId>,
    /// Only these apps (the ones the caller may see); `None`: any.
    pub among_apps: Option<Vec<AppId>>,
    /// Only this script.
    pub script_id: Option<String>,
    /// Only these statuses.
    pub status: Option<StatusFilter>,
    /// Only this trigger (`http`, `direct`, `test`, `cron`).
    pub trigger: Option<String>,
    /// Only requests on this host (any port; case-insensitive).
    pub host: Option<String>,
    /// Only this method.
    pub method: Option<String>,
    /// Only this path, or with a trailing `*` paths starting with the rest.
    pub path: Option<String>,
    /// Only this request id.
    pub request_id: Option<String>,
    /// Only executions whose log lines or error message contain this
    /// (case-insensitive).
    pub text: Option<String>,
    /// Only records written after this one (`seq`), oldest first: the
    /// live stream's resume.
    pub after_seq: Option<i64>,
    /// Only executions started at or after this (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Only executions started before this (ms since the epoch).
    pub until_ms: Option<i64>,
    /// Paging cursor: only executions ordered after this (started_at ms, id).
    pub before: Option<(i64, String)>,
    /// At most this many.
    pub limit: i64,
}

impl ExecutionFilter {
    /// Whether `e` passes the filter, as the SQL of a listing decides it
    /// (the live stream filters records in memory as they are written).
    /// Paging and time-window fields are not looked at.
    pub fn matches(&self, e: &Execution) -> bool {
        let s = &e.summary;
        let status = match self.status {
            None => true,
            Some(StatusFilter::Ok) => s.error.is_none(),
            Some(StatusFilter::Error) => s.error.is_some(),
            Some(StatusFilter::Range(from, to)) => (from..=to).contains(&s.status),
        };
        let host = self.host.as_deref().is_none_or(|want| {
            let host = s.host.to_ascii_lowercase();
            let want = want.to_ascii_lowercase();
            host == want
                || host
                    .strip_prefix(want.as_str())
                    .is_some_and(|rest| rest.starts_with(':'))
        });
        let path = self
            .path
            .as_deref()
            .is_none_or(|want| match want.strip_suffix('*') {
                Some(prefix) => s.path.starts_with(prefix),
                None => s.path == want,
            });
        let text = self.text.as_deref().is_none_or(|want| {
            let want = want.to_lowercase();
            e.logs
                .iter()
                .any(|l| l.message.to_lowercase().contains(&want))
                || s.error
                    .as_ref()
                    .is_some_and(|err| err.message.to_lowercase().contains(&want))
        });
        self.app_id.is_none_or(|app| app == s.app_id)
            && self
                .script_id
                .as_deref()
                .is_none_or(|id| id == s.script_id.to_string())
            && status
            && self.trigger.as_deref().is_none_or(|t| t == s.trigger)
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(&s.method))
            && host
            && path
            && self
                .request_id
                .as_deref()
                .is_none_or(|id| id == s.request_id)
            && text
    }
}

const COLUMNS: &str = "id, app_id, script_id, route_id, trigger_kind, method, path, status, error_code, \
    error_message, error_line, error_column, fuel_used, duration_us, logs, logs_dropped, started_at, \
    seq, host, request_id, request_headers, response_bytes, script_version, parent_id, modules, \
    interceptors";

fn summary(row: &AnyRow) -> Result<ExecutionSummary> {
    let code: Option<String> = row.try_get("error_code")?;
    let status: i64 = row.try_get("status")?;
    Ok(ExecutionSummary {
        id: super::id_column(row, "id")?,
        seq: row.try_get::<Option<i64>, _>("seq")?.unwrap_or(0),
        app_id: super::id_column(row, "app_id")?,
        script_id: super::id_column(row, "script_id")?,
        script_version: row.try_get("script_version")?,
        route_id: row.try_get("route_id")?,
        trigger: row.try_get("trigger_kind")?,
        method: row.try_get("method")?,
        path: row.try_get("path")?,
        host: row.try_get("host")?,
        request_id: row.try_get("request_id")?,
        status: u16::try_from(status).unwrap_or(0),
        response_bytes: row.try_get("response_bytes")?,
        outcome: if code.is_some() { "error" } else { "ok" },
        error: match code {
            Some(code) => Some(ExecutionFailure {
                code,
                message: row
                    .try_get::<Option<String>, _>("error_message")?
                    .unwrap_or_default(),
                line: row.try_get("error_line")?,
                column: row.try_get("error_column")?,
            }),
            None => None,
        },
        fuel_used: row.try_get("fuel_used")?,
        duration_ms: row.try_get::<i64, _>("duration_us")? as f64 / 1000.0,
        started_at: rfc3339(row.try_get("started_at")?),
        parent_id: row
            .try_get::<Option<String>, _>("parent_id")?
            .and_then(|id| id.parse().ok()),
    })
}

/// Rows per `INSERT` of the execution log: 64 rows of 26 values stay far
/// below both engines' bind-parameter limits (SQLite 32,766, PostgreSQL 65,535).
const ROWS_PER_INSERT: usize = 64;
/// Values per execution-log row (the columns of [`COLUMNS`]).
const VALUES_PER_ROW: usize = 26;

/// `INSERT INTO executions (…) VALUES ($1, …, $17), ($18, …), …` for `rows` rows
/// on PostgreSQL, `(?, …, ?), …` on SQLite.
///
/// SQLite gets anonymous placeholders because it looks a numbered one up by a
/// linear scan of the statement's parameter names, once per bound value: with
/// 1,088 `$N` values a batch cost about a million steps, and the log writer
/// spent more time binding than writing (a fifth of the server's CPU under load).
fn insert_sql(rows: usize, postgres: bool) -> String {
    let mut sql = format!("INSERT INTO executions ({COLUMNS}) VALUES ");
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for value in 0..VALUES_PER_ROW {
            if value > 0 {
                sql.push_str(", ");
            }
            if postgres {
                sql.push_str(&format!("${}", row * VALUES_PER_ROW + value + 1));
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    // A record arrives twice when an orchestrator's delivery was stored but
    // its answer lost (cluster mode retries): the copy is dropped rather
    // than failing the whole batch, and other records with it.
    sql.push_str(" ON CONFLICT (id) DO NOTHING");
    sql
}

/// Longest request path stored with a record. Paths are the caller's to
/// choose (an anonymous 60 KiB path was stored whole, about 600 MiB at
/// 10,000 records per app); the head of a path is what identifies it.
pub(crate) const MAX_STORED_PATH: usize = 1024;
/// Longest request method stored (hyper accepts extension methods of any
/// length).
pub(crate) const MAX_STORED_METHOD: usize = 32;
/// Longest error message stored (a script may throw a value of any size).
pub(crate) const MAX_STORED_ERROR: usize = 4096;
/// Longest `Host` stored.
const MAX_STORED_HOST: usize = 256;
/// Longest header name or value stored with a record.
const MAX_STORED_HEADER: usize = 1024;
/// Most headers stored with a record (the server accepts 100).
const MAX_STORED_HEADERS: usize = 100;

/// `text` cut to at most `max` bytes on a character boundary, with a marker
/// that says how long it was.
pub(crate) fn truncated(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!(
        "{}…[truncated, {} bytes]",
        &text[..end],
        text.len()
    ))
}

/// Rows one retention DELETE removes at most (see
/// [`Store::prune_executions`]): small enough that the log writer waits a
/// few milliseconds at most between batches.
const PRUNE_BATCH: i64 = 2_000;

impl Store {
    /// Writes a batch of records in one transaction (the recorder's flush),
    /// [`ROWS_PER_INSERT`] rows per statement: one statement per record made
    /// the log writer the bottleneck of the whole request path at a few
    /// thousand requests per second (each statement is a round trip to the
    /// database, and for SQLite to sqlx's worker thread).
    ///
    /// Returns the `seq` of the first record; the others follow it in
    /// order. Numbers are taken inside the write transaction, after the
    /// largest stored one, so they increase in the order records are
    /// committed (the manager is the database's only writer).
    pub async fn insert_executions(&self, records: &[ExecutionRecord]) -> Result<i64> {
        let timer = shared::metrics::Timer::start();
        let mut tx = self.db.begin_write().await?;
        let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM executions")
            .fetch_one(&mut *tx)
            .await?;
        let first = last.unwrap_or(0) + 1;
        let mut seq = first;
        for chunk in records.chunks(ROWS_PER_INSERT) {
            let sql = insert_sql(chunk.len(), self.db.is_postgres());
            let mut query = sqlx::query(&sql);
            for r in chunk {
                let error = r.outcome.outcome.as_ref().err();
                let logs = serde_json::to_string(&r.outcome.logs).unwrap_or_else(|_| "[]".into());
                query = query
                    .bind(r.id.to_string())
                    .bind(r.app_id.to_string())
                    .bind(r.script_id.to_string())
                    .bind(r.route_id.map(|id| id.to_string()))
                    .bind(r.trigger.as_str())
                    .bind(truncated(&r.method, MAX_STORED_METHOD).into_owned())
                    .bind(truncated(&r.path, MAX_STORED_PATH).into_owned())
                    .bind(i64::from(r.status))
                    .bind(error.map(|e| e.code()))
                    .bind(error.map(|e| truncated(&e.to_string(), MAX_STORED_ERROR).into_owned()))
                    .bind(error.and_then(|e| e.position()).map(|p| i64::from(p.line)))
                    .bind(
                        error
                            .and_then(|e| e.position())
                            .map(|p| i64::from(p.column)),
                    )
                    .bind(i64::try_from(r.outcome.fuel_used).unwrap_or(i64::MAX))
                    .bind(i64::try_from(r.outcome.duration.as_micros()).unwrap_or(i64::MAX))
                    .bind(logs)
                    .bind(i64::from(r.outcome.logs_dropped))
                    .bind(to_ms(r.started_at))
                    .bind(seq)
                    .bind(truncated(&r.host, MAX_STORED_HOST).into_owned())
                    .bind(truncated(&r.request_id, MAX_STORED_HEADER).into_owned())
                    .bind(
                        serde_json::to_string(&stored_headers(&r.request_headers))
                            .unwrap_or_else(|_| "[]".into()),
                    )
                    .bind(i64::try_from(r.response_bytes).unwrap_or(i64::MAX))
                    .bind((r.script_version > 0).then_some(r.script_version))
                    .bind(r.parent_id.map(|id| id.to_string()))
                    .bind(serde_json::to_string(&r.modules).unwrap_or_else(|_| "[]".into()))
                    .bind(serde_json::to_string(&r.interceptors).unwrap_or_else(|_| "[]".into()));
                seq += 1;
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        timer.observe(
            &shared::metrics::metrics()
                .db_query_duration
                .with_label_values(&["execution_log_write"]),
        );
        Ok(first)
    }

    /// Executions matching `filter`: newest first, or with
    /// `filter.after_seq` oldest first from there.
    pub async fn list_executions(&self, filter: &ExecutionFilter) -> Result<Vec<ExecutionSummary>> {
        Ok(self
            .query_executions(filter, false)
            .await?
            .into_iter()
            .map(|e| e.summary)
            .collect())
    }

    /// Like [`Store::list_executions`], with each record's log lines and
    /// headers (the live stream's backlog).
    pub async fn list_executions_detailed(
        &self,
        filter: &ExecutionFilter,
    ) -> Result<Vec<Execution>> {
        self.query_executions(filter, true).await
    }

    async fn query_executions(
        &self,
        filter: &ExecutionFilter,
        detailed: bool,
    ) -> Result<Vec<Execution>> {
        let mut sql = format!("SELECT {COLUMNS} FROM executions WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        let mut bind = |value: String, binds_sql: &mut String, clause: &str| {
            binds.push(value);
            *binds_sql += &clause.replace("$?", &format!("${}", binds.len()));
        };
        if let Some(app) = &filter.app_id {
            bind(app.to_string(), &mut sql, " AND app_id = $?");
        }
        sql += &super::among_apps("app_id", filter.among_apps.as_deref());
        if let Some(script) = &filter.script_id {
            bind(script.clone(), &mut sql, " AND script_id = $?");
        }
        match filter.status {
            Some(StatusFilter::Ok) => sql += " AND error_code IS NULL",
            Some(StatusFilter::Error) => sql += " AND error_code IS NOT NULL",
            Some(StatusFilter::Range(from, to)) => {
                sql += &format!(" AND status >= {from} AND status <= {to}");
            }
            None => {}
        }
        if let Some(trigger) = &filter.trigger {
            bind(trigger.clone(), &mut sql, " AND trigger_kind = $?");
        }
        if let Some(method) = &filter.method {
            bind(method.to_ascii_uppercase(), &mut sql, " AND method = $?");
        }
        if let Some(host) = &filter.host {
            let host = host.to_ascii_lowercase();
            bind(host.clone(), &mut sql, " AND (LOWER(host) = $?");
            bind(
                format!("{}:%", like_escape(&host)),
                &mut sql,
                r" OR LOWER(host) LIKE $? ESCAPE '\')",
            );
        }
        match filter.path.as_deref().map(|p| (p, p.strip_suffix('*'))) {
            Some((_, Some(prefix))) => bind(
                format!("{}%", like_escape(prefix)),
                &mut sql,
                r" AND path LIKE $? ESCAPE '\'",
            ),
            Some((path, None)) => bind(path.to_owned(), &mut sql, " AND path = $?"),
            None => {}
        }
        if let Some(id) = &filter.request_id {
            bind(id.clone(), &mut sql, " AND request_id = $?");
        }
        if let Some(text) = &filter.text {
            let pattern = format!("%{}%", like_escape(&text.to_lowercase()));
            bind(
                pattern.clone(),
                &mut sql,
                r" AND (LOWER(logs) LIKE $? ESCAPE '\'",
            );
            bind(
                pattern,
                &mut sql,
                r" OR LOWER(COALESCE(error_message, '')) LIKE $? ESCAPE '\')",
            );
        }
        if let Some(ms) = filter.since_ms {
            sql += &format!(" AND started_at >= {ms}");
        }
        if let Some(ms) = filter.until_ms {
            sql += &format!(" AND started_at < {ms}");
        }
        if let Some((ms, id)) = &filter.before {
            bind(
                id.clone(),
                &mut sql,
                &format!(" AND (started_at < {ms} OR (started_at = {ms} AND id < $?))"),
            );
        }
        match filter.after_seq {
            Some(seq) => {
                sql += &format!(
                    " AND seq > {seq} ORDER BY seq LIMIT {}",
                    filter.limit.max(1)
                );
            }
            None => {
                sql += &format!(
                    " ORDER BY started_at DESC, id DESC LIMIT {}",
                    filter.limit.max(1)
                );
            }
        }
        let mut query = sqlx::query(&sql);
        for b in &binds {
            query = query.bind(b);
        }
        let rows = query.fetch_all(&self.db.pool).await?;
        rows.iter()
            .map(|row| {
                if detailed {
                    detail(row)
                } else {
                    Ok(Execution {
                        summary: summary(row)?,
                        logs: Vec::new(),
                        logs_dropped: 0,
                        request_headers: BTreeMap::new(),
                        modules: Vec::new(),
                        interceptors: Vec::new(),
                        descendants: Vec::new(),
                        emails: Vec::new(),
                    })
                }
            })
            .collect()
    }

    /// Applies the execution-log retention: drops records older than
    /// `max_age_ms`, then all but the newest `max_per_app` of each app.
    /// Returns how many were removed.
    ///
    /// Deletes run in batches of [`PRUNE_BATCH`] rows, each its own
    /// statement: one DELETE holds SQLite's only write lock for as long as it
    /// runs, and under load a pass had 130,000 rows to drop (1.3-1.4 s in
    /// which no execution record could be written). Between batches the log
    /// writer gets its turn.
    pub async fn prune_executions(&self, max_age_ms: i64, max_per_app: i64) -> Result<u64> {
        let too_old = now_ms().saturating_sub(max_age_ms);
        let mut removed = 0;
        loop {
            let done = sqlx::query(
                "DELETE FROM executions WHERE id IN
                 (SELECT id FROM executions WHERE started_at < $1 LIMIT $2)",
            )
            .bind(too_old)
            .bind(PRUNE_BATCH)
            .execute(&self.db.pool)
            .await?
            .rows_affected();
            removed += done;
            if done < PRUNE_BATCH.unsigned_abs() {
                break;
            }
        }
        let apps: Vec<String> = sqlx::query_scalar("SELECT id FROM apps")
            .fetch_all(&self.db.pool)
            .await?;
        for app in apps {
            // The newest record past the limit, in the log's own order
            // (started_at, id); it and everything older go.
            let cutoff: Option<(i64, String)> = sqlx::query_as(
                "SELECT started_at, id FROM executions WHERE app_id = $1
                 ORDER BY started_at DESC, id DESC LIMIT 1 OFFSET $2",
            )
            .bind(&app)
            .bind(max_per_app.max(0))
            .fetch_optional(&self.db.pool)
            .await?;
            let Some((ms, id)) = cutoff else { continue };
            loop {
                let done = sqlx::query(
                    "DELETE FROM executions WHERE id IN
                     (SELECT id FROM executions WHERE app_id = $1
                      AND (started_at < $2 OR (started_at = $2 AND id <= $3)) LIMIT $4)",
                )
                .bind(&app)
                .bind(ms)
                .bind(&id)
                .bind(PRUNE_BATCH)
                .execute(&self.db.pool)
                .await?
                .rows_affected();
                removed += done;
                if done < PRUNE_BATCH.unsigned_abs() {
                    break;
                }
            }
        }
        Ok(removed)
    }

    /// One app's executions in `[since_ms, until_ms)`: counts, duration
    /// percentiles and per-bucket counts. All aggregation happens in the
    /// database, so a long window costs no transfer of raw rows.
    pub async fn execution_stats(
        &self,
        app_id: AppId,
        since_ms: i64,
        until_ms: i64,
        bucket_ms: i64,
    ) -> Result<ExecutionStats> {
        const WINDOW: &str =
            "FROM executions WHERE app_id = $1 AND started_at >= $2 AND started_at < $3";
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(&format!(
            "SELECT (started_at - $2) / $4 AS bucket, COUNT(*),
                    SUM(CASE WHEN error_code IS NULL THEN 0 ELSE 1 END)
             {WINDOW} GROUP BY bucket ORDER BY bucket"
        ))
        .bind(app_id.to_string())
        .bind(since_ms)
        .bind(until_ms)
        .bind(bucket_ms.max(1))
        .fetch_all(&self.db.pool)
        .await?;
        let total = rows.iter().map(|(_, n, _)| n).sum::<i64>();
        let errors = rows.iter().map(|(_, _, e)| e).sum::<i64>();
        // Nearest-rank percentile: the ceil(p * n)-th smallest duration.
        let nth_sql = format!("SELECT duration_us {WINDOW} ORDER BY duration_us LIMIT 1 OFFSET $4");
        let percentile = |p: f64| {
            let offset = ((p * total as f64).ceil() as i64 - 1).max(0);
            sqlx::query_scalar::<_, i64>(&nth_sql)
                .bind(app_id.to_string())
                .bind(since_ms)
                .bind(until_ms)
                .bind(offset)
                .fetch_optional(&self.db.pool)
        };
        let (p50_us, p95_us) = if total > 0 {
            (percentile(0.50).await?, percentile(0.95).await?)
        } else {
            (None, None)
        };
        Ok(ExecutionStats {
            total,
            errors,
            p50_us,
            p95_us,
            buckets: rows,
        })
    }

    /// The app an execution ran in, if the record exists.
    pub async fn execution_app(&self, id: ExecutionId) -> Result<Option<AppId>> {
        let app: Option<String> = sqlx::query_scalar("SELECT app_id FROM executions WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.db.pool)
            .await?;
        app.map(|app| super::id(&app)).transpose()
    }

    /// One execution with its log lines and the executions below it.
    pub async fn execution(&self, id: ExecutionId) -> Result<Execution> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM executions WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or_else(|| StoreError::not_found("execution", id))?;
        let mut execution = detail(&row)?;
        execution.descendants = self.descendants(id).await?;
        execution.emails = self.emails_of_execution(id).await?;
        Ok(execution)
    }

    /// The records below `id`, level by level (a request's tree is small:
    /// its interceptors and at most a few levels of `invoke`), oldest first.
    async fn descendants(&self, id: ExecutionId) -> Result<Vec<ExecutionSummary>> {
        let mut found = Vec::new();
        let mut level = vec![id.to_string()];
        // Bounded: `invoke` nests a few levels, and a record never becomes
        // its own ancestor, but a bound costs nothing.
        for _ in 0..16 {
            if level.is_empty() {
                break;
            }
            let placeholders = (1..=level.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT {COLUMNS} FROM executions WHERE parent_id IN ({placeholders}) \
                 ORDER BY started_at, seq"
            );
            let mut query = sqlx::query(&sql);
            for parent in &level {
                query = query.bind(parent.clone());
            }
            let rows = query.fetch_all(&self.db.pool).await?;
            level = Vec::with_capacity(rows.len());
            for row in &rows {
                let child = summary(row)?;
                level.push(child.id.to_string());
                found.push(child);
            }
        }
        found.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.seq.cmp(&b.seq)));
        Ok(found)
    }
}

fn detail(row: &AnyRow) -> Result<Execution> {
    let logs: String = row.try_get("logs")?;
    let headers: String = row.try_get("request_headers")?;
    Ok(Execution {
        summary: summary(row)?,
        logs: serde_json::from_str(&logs).unwrap_or_default(),
        logs_dropped: row.try_get("logs_dropped")?,
        request_headers: header_map(serde_json::from_str(&headers).unwrap_or_default()),
        modules: serde_json::from_str(&row.try_get::<String, _>("modules")?).unwrap_or_default(),
        interceptors: serde_json::from_str(&row.try_get::<String, _>("interceptors")?)
            .unwrap_or_default(),
        descendants: Vec::new(),
        emails: Vec::new(),
    })
}

/// `text` with LIKE's wildcards (and the escape character) escaped by `\`.
pub(crate) fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_with_a_marker() {
        assert_eq!(truncated("/short", 10), "/short");
        let long = format!("/{}", "é".repeat(100));
        let cut = truncated(&long, 10);
        assert!(cut.starts_with("/éééé"), "{cut}");
        assert!(cut.ends_with("…[truncated, 201 bytes]"), "{cut}");
    }

    #[test]
    fn insert_has_one_placeholder_per_column_and_row() {
        assert_eq!(COLUMNS.split(',').count(), VALUES_PER_ROW);
        let sql = insert_sql(3, true);
        assert!(sql.ends_with("$75, $76, $77, $78) ON CONFLICT (id) DO NOTHING"));
        assert_eq!(sql.matches('$').count(), 3 * VALUES_PER_ROW);
        let sql = insert_sql(3, false);
        assert_eq!(sql.matches('?').count(), 3 * VALUES_PER_ROW);
        assert!(!sql.contains('$'));
    }

    #[test]
    fn status_filters_parse_classes_codes_and_outcomes() {
        assert_eq!(StatusFilter::parse("ok"), Some(StatusFilter::Ok));
        assert_eq!(StatusFilter::parse("error"), Some(StatusFilter::Error));
        assert_eq!(
            StatusFilter::parse("4xx"),
            Some(StatusFilter::Range(400, 499))
        );
        assert_eq!(
            StatusFilter::parse("404"),
            Some(StatusFilter::Range(404, 404))
        );
        for bad in ["", "4x", "6xx", "40", "4044", "abc", "0xx", "x4x"] {
            assert_eq!(StatusFilter::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn like_patterns_match_wildcards_literally() {
        assert_eq!(like_escape("50%_off\\"), "50\\%\\_off\\\\");
    }
}
