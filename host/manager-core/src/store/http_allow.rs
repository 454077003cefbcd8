//! Per-app outbound HTTP allow-lists: which `scheme://host:port` an app's
//! scripts may call. Entries are validated and stored in their canonical
//! form ([`AllowPattern`]'s `Display`), so `https://API.example.com/` and
//! `https://api.example.com:443` are the same entry.

use serde::Serialize;
use shared::AllowPattern;
use shared::AppId;

use super::Store;
use crate::db::{now_ms, rfc3339};
use crate::error::ErrorCode;
use crate::store::{Result, StoreError};

/// Most entries one app's allow-list may hold.
pub const MAX_ALLOW_ENTRIES: i64 = 100;

/// One allow-list entry as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HttpAllowEntry {
    /// Canonical form: `https://api.example.com:443`, `https://*.example.com:443`.
    pub pattern: String,
    /// RFC 3339.
    pub created_at: String,
}

/// Parses an entry as the admin API receives it; 400 `invalid_pattern`
/// naming the problem.
pub fn parse_allow_pattern(text: &str) -> Result<AllowPattern> {
    AllowPattern::parse(text)
        .map_err(|message| StoreError::bad_request(ErrorCode::InvalidPattern, message))
}

impl Store {
    /// The app's allow-list, in canonical order.
    pub async fn http_allow_list(&self, app_id: AppId) -> Result<Vec<HttpAllowEntry>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT pattern, created_at FROM app_http_allow WHERE app_id = $1 ORDER BY pattern",
        )
        .bind(app_id.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(pattern, created_at)| HttpAllowEntry {
                pattern,
                created_at: rfc3339(created_at),
            })
            .collect())
    }

    /// The app's allow-list, parsed, for the executor. A stored entry that
    /// no longer parses (it never should) is skipped with a warning rather
    /// than failing every request of the app.
    pub async fn http_allow_patterns(&self, app_id: AppId) -> Result<Vec<AllowPattern>> {
        let patterns: Vec<String> =
            sqlx::query_scalar("SELECT pattern FROM app_http_allow WHERE app_id = $1")
                .bind(app_id.to_string())
                .fetch_all(&self.db.pool)
                .await?;
        Ok(patterns
            .iter()
            .filter_map(|p| match AllowPattern::parse(p) {
                Ok(pattern) => Some(pattern),
                Err(err) => {
                    tracing::warn!(app = %app_id, pattern = %p, error = %err, "skipping a stored allow-list entry");
                    None
                }
            })
            .collect())
    }

    /// Adds an entry; adding one that is already there (in any spelling)
    /// returns it unchanged. 409 `quota_exceeded` beyond
    /// [`MAX_ALLOW_ENTRIES`].
    pub async fn add_http_allow(
        &self,
        app_id: AppId,
        text: &str,
    ) -> Result<(HttpAllowEntry, bool)> {
        let pattern = parse_allow_pattern(text)?.to_string();
        let mut tx = self.db.begin_write().await?;
        let existing: Option<i64> = sqlx::query_scalar(
            "SELECT created_at FROM app_http_allow WHERE app_id = $1 AND pattern = $2",
        )
        .bind(app_id.to_string())
        .bind(&pattern)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(created_at) = existing {
            tx.commit().await?;
            return Ok((
                HttpAllowEntry {
                    pattern,
                    created_at: rfc3339(created_at),
                },
                false,
            ));
        }
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM app_http_allow WHERE app_id = $1")
                .bind(app_id.to_string())
                .fetch_one(&mut *tx)
                .await?;
        if count >= MAX_ALLOW_ENTRIES {
            return Err(StoreError::QuotaExceeded(format!(
                "the app's allow-list has {count} entries, the most it may"
            )));
        }
        let now = now_ms();
        sqlx::query("INSERT INTO app_http_allow (app_id, pattern, created_at) VALUES ($1, $2, $3)")
            .bind(app_id.to_string())
            .bind(&pattern)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((
            HttpAllowEntry {
                pattern,
                created_at: rfc3339(now),
            },
            true,
        ))
    }

    /// Removes an entry (given in any spelling); 404 when the app has none
    /// such.
    pub async fn remove_http_allow(&self, app_id: AppId, text: &str) -> Result<()> {
        let pattern = parse_allow_pattern(text)?.to_string();
        let done = sqlx::query("DELETE FROM app_http_allow WHERE app_id = $1 AND pattern = $2")
            .bind(app_id.to_string())
            .bind(&pattern)
            .execute(&self.db.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("allow-list entry", &pattern));
        }
        Ok(())
    }
}
