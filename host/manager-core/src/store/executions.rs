//! The execution log.

use serde::Serialize;
use shared::{AppId, ExecutionId, ScriptId};
use shared::{ExecutionRecord, LogLine};
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
    /// The app.
    #[schema(value_type = String)]
    pub app_id: AppId,
    /// The script.
    #[schema(value_type = String)]
    pub script_id: ScriptId,
    /// The route that matched, if any.
    pub route_id: Option<String>,
    /// `http`, `direct`, `test` or `cron`.
    pub trigger: String,
    /// Request method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// HTTP status returned to the caller.
    pub status: u16,
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

/// Filters for listing executions; newest first.
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter {
    /// Only this app.
    pub app_id: Option<AppId>,
    /// Only this script.
    pub script_id: Option<String>,
    /// `ok` or `error`.
    pub outcome: Option<String>,
    /// Only executions started at or after this (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Only executions started before this (ms since the epoch).
    pub until_ms: Option<i64>,
    /// Paging cursor: only executions ordered after this (started_at ms, id).
    pub before: Option<(i64, String)>,
    /// At most this many.
    pub limit: i64,
}

const COLUMNS: &str = "id, app_id, script_id, route_id, trigger_kind, method, path, status, error_code, \
    error_message, error_line, error_column, fuel_used, duration_us, logs, logs_dropped, started_at";

fn summary(row: &AnyRow) -> Result<ExecutionSummary> {
    let code: Option<String> = row.try_get("error_code")?;
    let status: i64 = row.try_get("status")?;
    Ok(ExecutionSummary {
        id: super::id_column(row, "id")?,
        app_id: super::id_column(row, "app_id")?,
        script_id: super::id_column(row, "script_id")?,
        route_id: row.try_get("route_id")?,
        trigger: row.try_get("trigger_kind")?,
        method: row.try_get("method")?,
        path: row.try_get("path")?,
        status: u16::try_from(status).unwrap_or(0),
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
    })
}

/// Rows per `INSERT` of the execution log: 64 rows of 17 values stay far
/// below both engines' bind-parameter limits (SQLite 32,766, PostgreSQL 65,535).
const ROWS_PER_INSERT: usize = 64;
/// Values per execution-log row (the columns of [`COLUMNS`]).
const VALUES_PER_ROW: usize = 17;

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

impl Store {
    /// Writes a batch of records in one transaction (the recorder's flush),
    /// [`ROWS_PER_INSERT`] rows per statement: one statement per record made
    /// the log writer the bottleneck of the whole request path at a few
    /// thousand requests per second (each statement is a round trip to the
    /// database, and for SQLite to sqlx's worker thread).
    pub async fn insert_executions(&self, records: &[ExecutionRecord]) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
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
                    .bind(to_ms(r.started_at));
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Executions matching `filter`, newest first.
    pub async fn list_executions(&self, filter: &ExecutionFilter) -> Result<Vec<ExecutionSummary>> {
        let mut sql = format!("SELECT {COLUMNS} FROM executions WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        if let Some(app) = &filter.app_id {
            binds.push(app.to_string());
            sql += &format!(" AND app_id = ${}", binds.len());
        }
        if let Some(script) = &filter.script_id {
            binds.push(script.clone());
            sql += &format!(" AND script_id = ${}", binds.len());
        }
        match filter.outcome.as_deref() {
            Some("ok") => sql += " AND error_code IS NULL",
            Some("error") => sql += " AND error_code IS NOT NULL",
            _ => {}
        }
        if let Some(ms) = filter.since_ms {
            sql += &format!(" AND started_at >= {ms}");
        }
        if let Some(ms) = filter.until_ms {
            sql += &format!(" AND started_at < {ms}");
        }
        if let Some((ms, id)) = &filter.before {
            binds.push(id.clone());
            sql += &format!(
                " AND (started_at < {ms} OR (started_at = {ms} AND id < ${}))",
                binds.len()
            );
        }
        sql += &format!(
            " ORDER BY started_at DESC, id DESC LIMIT {}",
            filter.limit.max(1)
        );
        let mut query = sqlx::query(&sql);
        for b in &binds {
            query = query.bind(b);
        }
        let rows = query.fetch_all(&self.db.pool).await?;
        rows.iter().map(summary).collect()
    }

    /// Applies the execution-log retention: drops records older than
    /// `max_age_ms`, then all but the newest `max_per_app` of each app.
    /// Returns how many were removed.
    pub async fn prune_executions(&self, max_age_ms: i64, max_per_app: i64) -> Result<u64> {
        let mut removed = sqlx::query("DELETE FROM executions WHERE started_at < $1")
            .bind(now_ms().saturating_sub(max_age_ms))
            .execute(&self.db.pool)
            .await?
            .rows_affected();
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
            if let Some((ms, id)) = cutoff {
                removed += sqlx::query(
                    "DELETE FROM executions WHERE app_id = $1
                     AND (started_at < $2 OR (started_at = $2 AND id <= $3))",
                )
                .bind(&app)
                .bind(ms)
                .bind(&id)
                .execute(&self.db.pool)
                .await?
                .rows_affected();
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

    /// One execution with its log lines.
    pub async fn execution(&self, id: ExecutionId) -> Result<Execution> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM executions WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or_else(|| StoreError::not_found("execution", id))?;
        let logs: String = row.try_get("logs")?;
        Ok(Execution {
            summary: summary(&row)?,
            logs: serde_json::from_str(&logs).unwrap_or_default(),
            logs_dropped: row.try_get("logs_dropped")?,
        })
    }
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
        assert!(sql.ends_with(
            "$35, $36, $37, $38, $39, $40, $41, $42, $43, $44, $45, $46, $47, $48, $49, $50, $51) \
             ON CONFLICT (id) DO NOTHING"
        ));
        assert_eq!(sql.matches('$').count(), 3 * VALUES_PER_ROW);
        let sql = insert_sql(3, false);
        assert_eq!(sql.matches('?').count(), 3 * VALUES_PER_ROW);
        assert!(!sql.contains('$'));
    }
}
