//! Interceptors: scripts of an app that run before its route scripts, for
//! the paths that start with a prefix, in order (docs/api.md,
//! "Interceptors"). Dispatch runs them (orchestrator-core); this keeps them.

use serde::Serialize;
use shared::{AppId, ScriptId};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::Store;
use super::cron::script_of_app;
use crate::db::{now_ms, rfc3339};
use crate::error::ErrorCode;
use crate::store::{Result, StoreError};

/// Most interceptors an app may have: each one is an instance per request.
pub const MAX_INTERCEPTORS_PER_APP: i64 = 20;

/// Longest prefix accepted.
const MAX_PREFIX: usize = 1024;

/// An interceptor as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Interceptor {
    /// UUID.
    pub id: String,
    /// The script it runs (one of the same app's).
    #[schema(value_type = String)]
    pub script_id: ScriptId,
    /// That script's name.
    pub script_name: String,
    /// It runs for requests whose path starts with this; `/` for every route.
    pub prefix: String,
    /// Its place in the order: lower runs first (ties in creation order).
    pub position: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// A new interceptor, or a change to one (absent fields keep their value).
#[derive(Debug, Clone, Default)]
pub struct InterceptorChanges {
    /// Script id or name, in the interceptor's app.
    pub script: Option<String>,
    /// The prefix as given (normalized here).
    pub prefix: Option<String>,
    /// Its position.
    pub position: Option<i64>,
}

const COLUMNS: &str = "i.id, i.script_id, s.name AS script_name, i.prefix, i.position, \
    i.created_at, i.updated_at";
const FROM: &str = "FROM interceptors i JOIN scripts s ON s.id = i.script_id";
const ORDER: &str = "ORDER BY i.position, i.created_at, i.id";

fn interceptor(row: &AnyRow) -> Result<Interceptor> {
    Ok(Interceptor {
        id: row.try_get("id")?,
        script_id: super::id_column(row, "script_id")?,
        script_name: row.try_get("script_name")?,
        prefix: row.try_get("prefix")?,
        position: row.try_get("position")?,
        created_at: rfc3339(row.try_get("created_at")?),
        updated_at: rfc3339(row.try_get("updated_at")?),
    })
}

/// The prefix as stored: `/` for every route (sent as `/`, `*` or not at
/// all), a trailing `*` dropped (`/v1/*` guards what `/v1/` does).
pub fn normalize_prefix(prefix: Option<&str>) -> Result<String> {
    let prefix = prefix.map(str::trim).unwrap_or("/");
    let prefix = if prefix == "*" || prefix.is_empty() {
        "/"
    } else {
        prefix.strip_suffix('*').unwrap_or(prefix)
    };
    let bad = |why: &str| {
        Err(StoreError::bad_request(
            ErrorCode::InvalidPrefix,
            format!("the prefix '{prefix}' {why}; e.g. \"/v1/\", or \"/\" for every route"),
        ))
    };
    if !prefix.starts_with('/') {
        return bad("must start with '/'");
    }
    if prefix.len() > MAX_PREFIX {
        return bad("is too long");
    }
    if prefix
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '?' | '#' | '*'))
    {
        return bad("may not hold spaces, control characters, '?', '#' or a '*' before its end");
    }
    Ok(prefix.to_owned())
}

fn check_position(position: i64) -> Result<i64> {
    if !(0..=1_000_000).contains(&position) {
        return Err(StoreError::bad_request(
            ErrorCode::InvalidField,
            format!("position {position} is out of range: use 0 to 1000000"),
        ));
    }
    Ok(position)
}

const ROLE: &str = "an interceptor runs";

impl Store {
    /// The app's interceptors in run order.
    pub async fn list_interceptors(&self, app_id: AppId) -> Result<Vec<Interceptor>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} {FROM} WHERE i.app_id = $1 {ORDER}"
        ))
        .bind(app_id.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter().map(interceptor).collect()
    }

    /// One of the app's interceptors; 404 for another app's.
    pub async fn interceptor(&self, app_id: AppId, id: &str) -> Result<Interceptor> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} {FROM} WHERE i.app_id = $1 AND i.id = $2"
        ))
        .bind(app_id.to_string())
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?
        .ok_or_else(|| StoreError::not_found("interceptor", id))?;
        interceptor(&row)
    }

    /// Adds an interceptor running one of the app's scripts (by id or
    /// name); without a position, after the last one.
    pub async fn create_interceptor(
        &self,
        app_id: AppId,
        new: &InterceptorChanges,
    ) -> Result<Interceptor> {
        let script = new.script.as_deref().ok_or_else(|| {
            StoreError::bad_request(
                ErrorCode::InvalidScript,
                "an interceptor needs a `script`: the id or name of one of the app's scripts",
            )
        })?;
        let prefix = normalize_prefix(new.prefix.as_deref())?;
        let position = new.position.map(check_position).transpose()?;
        let mut tx = self.db.begin_write().await?;
        let script_id = script_of_app(&mut tx, app_id, script, ROLE).await?;
        let (count, last): (i64, Option<i64>) =
            sqlx::query_as("SELECT COUNT(*), MAX(position) FROM interceptors WHERE app_id = $1")
                .bind(app_id.to_string())
                .fetch_one(&mut *tx)
                .await?;
        if count >= MAX_INTERCEPTORS_PER_APP {
            return Err(StoreError::QuotaExceeded(format!(
                "the app has {count} interceptors, the most it may ({MAX_INTERCEPTORS_PER_APP}); delete one first"
            )));
        }
        let position = position.unwrap_or_else(|| last.map_or(0, |p| p + 1));
        // v7: ids sort in creation order, the list's tie-break.
        let id = Uuid::now_v7().to_string();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO interceptors (id, app_id, script_id, prefix, position, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(&id)
        .bind(app_id.to_string())
        .bind(&script_id)
        .bind(&prefix)
        .bind(position)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.interceptor(app_id, &id).await
    }

    /// Changes an interceptor's script, prefix or position.
    pub async fn update_interceptor(
        &self,
        app_id: AppId,
        id: &str,
        changes: &InterceptorChanges,
    ) -> Result<Interceptor> {
        let prefix = changes
            .prefix
            .as_deref()
            .map(|p| normalize_prefix(Some(p)))
            .transpose()?;
        let position = changes.position.map(check_position).transpose()?;
        let mut tx = self.db.begin_write().await?;
        let current: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT script_id, prefix, position FROM interceptors WHERE app_id = $1 AND id = $2",
        )
        .bind(app_id.to_string())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((script_id, current_prefix, current_position)) = current else {
            return Err(StoreError::not_found("interceptor", id));
        };
        let script_id = match changes.script.as_deref() {
            Some(script) => script_of_app(&mut tx, app_id, script, ROLE).await?,
            None => script_id,
        };
        sqlx::query(
            "UPDATE interceptors SET script_id = $1, prefix = $2, position = $3, updated_at = $4
             WHERE app_id = $5 AND id = $6",
        )
        .bind(&script_id)
        .bind(prefix.unwrap_or(current_prefix))
        .bind(position.unwrap_or(current_position))
        .bind(now_ms())
        .bind(app_id.to_string())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.interceptor(app_id, id).await
    }

    /// Removes an interceptor.
    pub async fn delete_interceptor(&self, app_id: AppId, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM interceptors WHERE app_id = $1 AND id = $2")
            .bind(app_id.to_string())
            .bind(id)
            .execute(&self.db.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("interceptor", id));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_normalize_to_what_they_guard() {
        assert_eq!(normalize_prefix(None).unwrap(), "/");
        assert_eq!(normalize_prefix(Some("*")).unwrap(), "/");
        assert_eq!(normalize_prefix(Some("/")).unwrap(), "/");
        assert_eq!(normalize_prefix(Some("/v1/*")).unwrap(), "/v1/");
        assert_eq!(normalize_prefix(Some("/v1/")).unwrap(), "/v1/");
        assert_eq!(normalize_prefix(Some("/admin")).unwrap(), "/admin");
        for bad in ["v1/", "/a b", "/a?x", "/*/x"] {
            let err = normalize_prefix(Some(bad)).unwrap_err();
            assert!(err.to_string().contains("prefix"), "{bad}: {err}");
        }
    }
}
