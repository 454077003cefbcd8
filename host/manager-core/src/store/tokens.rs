//! Admin API tokens. Only a SHA-256 of each token is stored; the token itself
//! is shown once, when it is created. (SHA-256 rather than a slow hash: a
//! token is 256 random bits, not a guessable password.)

use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use uuid::Uuid;

use super::{Page, Store, id};
use crate::db::{now_ms, rfc3339};
use crate::error::ErrorCode;
use crate::store::Role;
use crate::store::{Result, StoreError};
use shared::AppId;

/// Prefix that makes PiCloud tokens recognizable (e.g. to secret scanners).
const TOKEN_PREFIX: &str = "pc_";

/// `last_used_at` is written at most this often per token, so a busy CLI or
/// CI job does not turn every request into a database write.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

pub(crate) fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// 32 bytes from the OS-seeded CSPRNG, hex-encoded.
pub(crate) fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A fresh API token.
pub fn generate_token() -> String {
    format!("{TOKEN_PREFIX}{}", generate_secret())
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// The whole admin API.
    #[default]
    Admin,
    /// `GET /metrics` and nothing else: what a Prometheus scraper holds.
    Metrics,
}

impl TokenScope {
    /// `admin` or `metrics`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Admin => "admin",
            TokenScope::Metrics => "metrics",
        }
    }

    /// The stored or requested name; `None` for anything else.
    pub fn parse(text: &str) -> Option<TokenScope> {
        match text {
            "admin" => Some(TokenScope::Admin),
            "metrics" => Some(TokenScope::Metrics),
            _ => None,
        }
    }
}

/// A token as the API lists it (never the token or its hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Token {
    /// UUID.
    pub id: String,
    /// What it is for.
    pub name: String,
    /// What it may do: `admin` (the admin API) or `metrics` (`GET /metrics`
    /// only).
    pub scope: TokenScope,
    /// The user it acts for (`null`: bootstrap or operator CLI).
    pub user_id: Option<String>,
    /// The one app it is limited to (`null`: every app its user may use).
    #[schema(value_type = Option<String>)]
    pub app_id: Option<AppId>,
    /// Its role on that app (`null` when it is not limited to one).
    pub role: Option<Role>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, to the minute; `null` if never used.
    pub last_used_at: Option<String>,
}

/// Longest token name.
const MAX_TOKEN_NAME: usize = 100;

/// Checks a token name: 1–100 printable characters.
pub fn validate_token_name(name: &str) -> Result<()> {
    let trimmed = name.trim();
    if trimmed.is_empty()
        || trimmed.chars().count() > MAX_TOKEN_NAME
        || trimmed.chars().any(char::is_control)
    {
        return Err(StoreError::bad_request(
            ErrorCode::InvalidName,
            format!("a token name must be 1-{MAX_TOKEN_NAME} printable characters"),
        ));
    }
    Ok(())
}

impl Store {
    /// Number of admin tokens (zero on a fresh install).
    pub async fn count_tokens(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM admin_tokens")
            .fetch_one(&self.db.pool)
            .await?)
    }

    /// Stores the hash of an admin `token` under `name`, for `user_id` if
    /// given.
    pub async fn add_token(&self, name: &str, token: &str, user_id: Option<&str>) -> Result<Token> {
        self.add_scoped_token(name, token, user_id, TokenScope::Admin, None)
            .await
    }

    /// Stores the hash of `token` with `scope` under `name`, for `user_id`
    /// if given, limited to one app and role if `limit` says so.
    pub async fn add_scoped_token(
        &self,
        name: &str,
        token: &str,
        user_id: Option<&str>,
        scope: TokenScope,
        limit: Option<(AppId, Role)>,
    ) -> Result<Token> {
        validate_token_name(name)?;
        let id = Uuid::new_v4().to_string();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO admin_tokens (id, name, token_hash, created_at, user_id, scope, app_id, role) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(name.trim())
        .bind(hash_token(token))
        .bind(now)
        .bind(user_id)
        .bind(scope.as_str())
        .bind(limit.map(|(app, _)| app.to_string()))
        .bind(limit.map(|(_, role)| role.as_str()))
        .execute(&self.db.pool)
        .await?;
        Ok(Token {
            id,
            name: name.trim().to_owned(),
            scope,
            user_id: user_id.map(str::to_owned),
            app_id: limit.map(|(app, _)| app),
            role: limit.map(|(_, role)| role),
            created_at: rfc3339(now),
            last_used_at: None,
        })
    }

    /// Tokens by name (then id), one page: every token, or only those
    /// acting for `user_id`.
    pub async fn list_tokens(&self, user_id: Option<&str>, page: &Page) -> Result<Vec<Token>> {
        let (filter, next) = match user_id {
            Some(_) => (" AND user_id = $1", 2),
            None => ("", 1),
        };
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM admin_tokens WHERE 1 = 1{filter}{}",
            page.sql("name", next)
        );
        let mut query = sqlx::query(&sql);
        if let Some(user) = user_id {
            query = query.bind(user);
        }
        let rows = page.bind(query).fetch_all(&self.db.pool).await?;
        rows.iter().map(token_from_row).collect()
    }

    /// One token (never the secret), if it exists.
    pub async fn token(&self, id: &str) -> Result<Option<Token>> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM admin_tokens WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    /// A token's name, if it still exists.
    pub async fn token_name(&self, id: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT name FROM admin_tokens WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.db.pool)
                .await?,
        )
    }

    /// Revokes a token.
    pub async fn delete_token(&self, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM admin_tokens WHERE id = $1")
            .bind(id)
            .execute(&self.db.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("token", id));
        }
        Ok(())
    }

    /// `token` if it is a known admin token; records its last use (to the
    /// minute).
    pub async fn verify_token(&self, token: &str) -> Result<Option<VerifiedToken>> {
        // The lookup is by hash, so timing reveals nothing about stored tokens.
        type Row = (
            String,
            Option<String>,
            Option<i64>,
            String,
            Option<String>,
            Option<String>,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT id, user_id, last_used_at, scope, app_id, role FROM admin_tokens WHERE token_hash = $1",
        )
        .bind(hash_token(token))
        .fetch_optional(&self.db.pool)
        .await?;
        let Some((id, user_id, last_used, scope, app_id, role)) = row else {
            return Ok(None);
        };
        // An unknown stored scope grants the least: fail closed.
        let scope = TokenScope::parse(&scope).unwrap_or(TokenScope::Metrics);
        let limit = stored_limit(app_id, role)?;
        let now = now_ms();
        if last_used.is_none_or(|t| now - t >= LAST_USED_RESOLUTION_MS) {
            sqlx::query("UPDATE admin_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&id)
                .execute(&self.db.pool)
                .await?;
        }
        Ok(Some(VerifiedToken {
            id,
            user_id,
            scope,
            limit,
        }))
    }
}

/// The columns [`token_from_row`] reads.
const TOKEN_COLUMNS: &str = "id, name, user_id, created_at, last_used_at, scope, app_id, role";

fn token_from_row(row: &sqlx::any::AnyRow) -> Result<Token> {
    let (app_id, role) = stored_limit(
        row.try_get("app_id")?,
        row.try_get::<Option<String>, _>("role")?,
    )?
    .unzip();
    Ok(Token {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        scope: TokenScope::parse(&row.try_get::<String, _>("scope")?)
            .unwrap_or(TokenScope::Metrics),
        user_id: row.try_get("user_id")?,
        app_id,
        role,
        created_at: rfc3339(row.try_get("created_at")?),
        last_used_at: row.try_get::<Option<i64>, _>("last_used_at")?.map(rfc3339),
    })
}

/// A known token, as `authenticate` needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The token's id.
    pub id: String,
    /// The user it acts for.
    pub user_id: Option<String>,
    /// What it may do.
    pub scope: TokenScope,
    /// The one app and role it is limited to.
    pub limit: Option<(AppId, Role)>,
}

/// A token's stored limit. A role PiCloud did not write grants the least
/// (viewer), so a corrupt row never widens a token.
fn stored_limit(app_id: Option<String>, role: Option<String>) -> Result<Option<(AppId, Role)>> {
    Ok(match app_id {
        Some(app) => Some((
            id(&app)?,
            role.as_deref()
                .and_then(Role::parse)
                .unwrap_or(Role::Viewer),
        )),
        None => None,
    })
}
