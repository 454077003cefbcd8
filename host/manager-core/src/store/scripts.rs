//! Scripts: Rhai source owned by an app.

use serde::Serialize;
use shared::{AppId, ScriptId};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Page, Store};
use crate::db::{now_ms, rfc3339};
use crate::error::ErrorCode;
use crate::store::error::OnConflict;
use crate::store::{Result, StoreError};

/// Largest script source accepted, in bytes.
pub(crate) const MAX_SOURCE_BYTES: usize = 256 << 10;

/// A script as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Script {
    /// UUID.
    #[schema(value_type = String)]
    pub id: ScriptId,
    /// Owning app's id.
    #[schema(value_type = String)]
    pub app_id: AppId,
    /// Unique within the app.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Rhai source.
    pub source: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

const COLUMNS: &str = "id, app_id, name, description, source, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<Script> {
    Ok(Script {
        id: super::id_column(row, "id")?,
        app_id: super::id_column(row, "app_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        source: row.try_get("source")?,
        created_at: rfc3339(row.try_get("created_at")?),
        updated_at: rfc3339(row.try_get("updated_at")?),
    })
}

/// Script names: 1–100 characters of letters, digits, `-`, `_`, `.`.
pub fn validate_script_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 100
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(StoreError::bad_request(
            ErrorCode::InvalidName,
            format!(
                "script name '{name}' is invalid: use 1 to 100 letters, digits, '-', '_' or '.'"
            ),
        ));
    }
    Ok(())
}

pub(crate) fn validate_source(source: &str) -> Result<()> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(StoreError::bad_request(
            ErrorCode::SourceTooLarge,
            format!(
                "the script source is {} bytes; the limit is {MAX_SOURCE_BYTES}",
                source.len()
            ),
        ));
    }
    Ok(())
}

impl Store {
    /// Scripts, optionally of one app, ordered by name (then id), one page.
    pub async fn list_scripts(&self, app_id: Option<AppId>, page: &Page) -> Result<Vec<Script>> {
        let rows = match app_id {
            Some(app) => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM scripts WHERE app_id = $1{}",
                    page.sql("name", 2)
                );
                page.bind(sqlx::query(&sql).bind(app.to_string()))
                    .fetch_all(&self.db.pool)
                    .await?
            }
            None => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM scripts WHERE 1 = 1{}",
                    page.sql("name", 1)
                );
                page.bind(sqlx::query(&sql))
                    .fetch_all(&self.db.pool)
                    .await?
            }
        };
        rows.iter().map(from_row).collect()
    }

    /// One script by id.
    pub async fn script(&self, id: ScriptId) -> Result<Script> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM scripts WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.db.pool)
            .await?
            .ok_or_else(|| StoreError::not_found("script", id))?;
        from_row(&row)
    }

    /// The id of the app's script called `name`, if it has one.
    pub async fn script_id_by_name(&self, app_id: AppId, name: &str) -> Result<Option<ScriptId>> {
        let id: Option<String> =
            sqlx::query_scalar("SELECT id FROM scripts WHERE app_id = $1 AND name = $2")
                .bind(app_id.to_string())
                .bind(name)
                .fetch_optional(&self.db.pool)
                .await?;
        Ok(id.and_then(|id| id.parse().ok()))
    }

    /// Stores a new script (the caller has compiled it).
    pub async fn create_script(
        &self,
        app_id: AppId,
        name: &str,
        description: &str,
        source: &str,
    ) -> Result<Script> {
        validate_script_name(name)?;
        validate_source(source)?;
        let id = ScriptId::new();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO scripts (id, app_id, name, description, source, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(id.to_string())
        .bind(app_id.to_string())
        .bind(name)
        .bind(description)
        .bind(source)
        .bind(now)
        .execute(&self.db.pool)
        .await
        .on_conflict(ErrorCode::ScriptNameTaken, || format!("this app already has a script named '{name}'"))?;
        self.script(id).await
    }

    /// Changes name, description and/or source.
    pub async fn update_script(
        &self,
        script: &Script,
        name: Option<&str>,
        description: Option<&str>,
        source: Option<&str>,
    ) -> Result<Script> {
        if let Some(name) = name {
            validate_script_name(name)?;
        }
        if let Some(source) = source {
            validate_source(source)?;
        }
        let name = name.unwrap_or(&script.name);
        sqlx::query("UPDATE scripts SET name = $1, description = $2, source = $3, updated_at = $4 WHERE id = $5")
            .bind(name)
            .bind(description.unwrap_or(&script.description))
            .bind(source.unwrap_or(&script.source))
            .bind(now_ms())
            .bind(script.id.to_string())
            .execute(&self.db.pool)
            .await
            .on_conflict(ErrorCode::ScriptNameTaken, || format!("this app already has a script named '{name}'"))?;
        self.script(script.id).await
    }

    /// Deletes a script and its routes.
    pub async fn delete_script(&self, id: ScriptId) -> Result<()> {
        let done = sqlx::query("DELETE FROM scripts WHERE id = $1")
            .bind(id.to_string())
            .execute(&self.db.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("script", id));
        }
        Ok(())
    }

    /// Number of scripts an app has (the Hello World seed, app statistics).
    pub async fn count_scripts(&self, app_id: AppId) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM scripts WHERE app_id = $1")
                .bind(app_id.to_string())
                .fetch_one(&self.db.pool)
                .await?,
        )
    }
}
