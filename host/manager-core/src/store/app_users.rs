//! End-user accounts of apps (`users::` in scripts, `/apps/{app}/users` in
//! the admin API): accounts, their sessions and their single-use tokens.
//! Every query names the app, so an id or token of another app matches
//! nothing. Tokens are stored as their SHA-256 only; the rules (password
//! policy, throttling, lifetimes) are in `crate::app_users`.

use serde::Serialize;
use shared::{AppId, AppUser};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::Store;
use crate::db::{now_ms, rfc3339};
use crate::error::ErrorCode;
use crate::store::error::OnConflict;
use crate::store::{Result, StoreError};

/// Sessions one account keeps at most: signing in once more ends the
/// oldest, so a script that signs in per request cannot grow the table
/// without bound.
pub const MAX_SESSIONS_PER_USER: i64 = 50;

/// Most accounts one admin-API page holds.
pub const MAX_USERS_PAGE: u32 = 200;

/// What a single-use token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenPurpose {
    /// `users::start_reset` / `finish_reset`.
    Reset,
    /// `users::start_verify` / `finish_verify`.
    Verify,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Reset => "reset",
            TokenPurpose::Verify => "verify",
        }
    }
}

/// An account as the admin API shows it: never the hash, never a token.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserAccount {
    /// UUID.
    pub id: String,
    /// Lower-cased; unique in the app.
    pub email: String,
    /// Whether the user redeemed a verification token.
    pub verified: bool,
    /// Whether an admin disabled the account.
    pub disabled: bool,
    /// The app's JSON object for the user.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// Live sessions.
    pub sessions: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// RFC 3339; absent before the first sign-in.
    pub last_sign_in_at: Option<String>,
}

const COLUMNS: &str =
    "id, email, verified, disabled, metadata, created_at, updated_at, last_sign_in_at";
/// [`COLUMNS`] of `app_users u` in a join.
const JOINED_COLUMNS: &str = "u.id, u.email, u.verified, u.disabled, u.metadata, \
    u.created_at, u.updated_at, u.last_sign_in_at";

fn user_from_row(row: &AnyRow) -> Result<AppUser> {
    Ok(AppUser {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        verified: row.try_get::<i64, _>("verified")? != 0,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        metadata: row.try_get("metadata")?,
        created_at: rfc3339(row.try_get("created_at")?),
        last_sign_in_at: row
            .try_get::<Option<i64>, _>("last_sign_in_at")?
            .map(rfc3339),
    })
}

fn account_from_row(row: &AnyRow) -> Result<UserAccount> {
    let user = user_from_row(row)?;
    Ok(UserAccount {
        metadata: serde_json::from_str(&user.metadata).unwrap_or_default(),
        id: user.id,
        email: user.email,
        verified: user.verified,
        disabled: user.disabled,
        sessions: row.try_get("sessions")?,
        created_at: user.created_at,
        updated_at: rfc3339(row.try_get("updated_at")?),
        last_sign_in_at: user.last_sign_in_at,
    })
}

/// A string that cannot be an account id (ids are UUIDs): queries by it are
/// skipped rather than sent.
fn is_user_id(id: &str) -> bool {
    Uuid::try_parse(id).is_ok()
}

impl Store {
    /// Creates an account; `email` is already normalized, `hash` an
    /// Argon2id PHC string.
    pub(crate) async fn app_user_create(
        &self,
        app: AppId,
        email: &str,
        hash: &str,
    ) -> Result<AppUser> {
        let id = Uuid::now_v7().hyphenated().to_string();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO app_users (id, app_id, email, password_hash, verified, disabled, \
             metadata, created_at, updated_at) VALUES ($1, $2, $3, $4, 0, 0, '{}', $5, $5)",
        )
        .bind(&id)
        .bind(app.to_string())
        .bind(email)
        .bind(hash)
        .bind(now)
        .execute(&self.db.pool)
        .await
        .on_conflict(ErrorCode::EmailTaken, || {
            format!("an account with email '{email}' already exists")
        })?;
        self.app_user(app, &id)
            .await?
            .ok_or_else(|| StoreError::not_found("user", id))
    }

    /// The account with `id` in `app`.
    pub(crate) async fn app_user(&self, app: AppId, id: &str) -> Result<Option<AppUser>> {
        if !is_user_id(id) {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM app_users WHERE app_id = $1 AND id = $2"
        ))
        .bind(app.to_string())
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// The account with `email` (normalized) in `app`, with its password
    /// hash.
    pub(crate) async fn app_user_by_email(
        &self,
        app: AppId,
        email: &str,
    ) -> Result<Option<(AppUser, String)>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS}, password_hash FROM app_users WHERE app_id = $1 AND email = $2"
        ))
        .bind(app.to_string())
        .bind(email)
        .fetch_optional(&self.db.pool)
        .await?;
        row.map(|row| Ok((user_from_row(&row)?, row.try_get("password_hash")?)))
            .transpose()
    }

    /// Starts a session for a user who just proved their password: stores
    /// the token's hash, notes the sign-in, and ends the oldest sessions
    /// past [`MAX_SESSIONS_PER_USER`].
    pub(crate) async fn app_user_signed_in(
        &self,
        app: AppId,
        user_id: &str,
        token_hash: &str,
        expires_at: i64,
    ) -> Result<AppUser> {
        let now = now_ms();
        let app_id = app.to_string();
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO app_user_sessions (token_hash, app_id, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(&app_id)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM app_user_sessions WHERE user_id = $1 AND token_hash NOT IN \
             (SELECT token_hash FROM app_user_sessions WHERE user_id = $1 \
              ORDER BY created_at DESC, token_hash LIMIT $2)",
        )
        .bind(user_id)
        .bind(MAX_SESSIONS_PER_USER)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(&format!(
            "UPDATE app_users SET last_sign_in_at = $3 WHERE app_id = $1 AND id = $2 \
             RETURNING {COLUMNS}"
        ))
        .bind(&app_id)
        .bind(user_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        user_from_row(&row)
    }

    /// The enabled account of the live session whose token hashes to
    /// `token_hash`.
    pub(crate) async fn app_user_by_session(
        &self,
        app: AppId,
        token_hash: &str,
    ) -> Result<Option<AppUser>> {
        let row = sqlx::query(&format!(
            "SELECT {JOINED_COLUMNS} FROM app_user_sessions s JOIN app_users u \
             ON u.id = s.user_id WHERE s.app_id = $1 AND s.token_hash = $2 \
             AND s.expires_at > $3 AND u.disabled = 0"
        ))
        .bind(app.to_string())
        .bind(token_hash)
        .bind(now_ms())
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Ends one session; whether it existed (and was live).
    pub(crate) async fn app_user_session_end(&self, app: AppId, token_hash: &str) -> Result<bool> {
        let ended = sqlx::query(
            "DELETE FROM app_user_sessions WHERE app_id = $1 AND token_hash = $2 \
             AND expires_at > $3",
        )
        .bind(app.to_string())
        .bind(token_hash)
        .bind(now_ms())
        .execute(&self.db.pool)
        .await?
        .rows_affected();
        Ok(ended > 0)
    }

    /// Replaces an account's metadata (validated JSON object text).
    pub(crate) async fn app_user_set_metadata(
        &self,
        app: AppId,
        id: &str,
        metadata: &str,
    ) -> Result<Option<AppUser>> {
        if !is_user_id(id) {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "UPDATE app_users SET metadata = $3, updated_at = $4 WHERE app_id = $1 AND id = $2 \
             RETURNING {COLUMNS}"
        ))
        .bind(app.to_string())
        .bind(id)
        .bind(metadata)
        .bind(now_ms())
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Stores a single-use token for `user_id`, replacing any earlier one
    /// of the same purpose: only the newest link a user was sent works.
    pub(crate) async fn app_user_token_issue(
        &self,
        app: AppId,
        user_id: &str,
        purpose: TokenPurpose,
        token_hash: &str,
        expires_at: i64,
    ) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query("DELETE FROM app_user_tokens WHERE user_id = $1 AND purpose = $2")
            .bind(user_id)
            .bind(purpose.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO app_user_tokens (token_hash, app_id, user_id, purpose, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(app.to_string())
        .bind(user_id)
        .bind(purpose.as_str())
        .bind(now_ms())
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Redeems a reset token: deletes it, sets the new password hash and
    /// ends every session of the account, in one transaction; the account,
    /// or `None` when the token is unknown, used or expired.
    pub(crate) async fn app_user_reset(
        &self,
        app: AppId,
        token_hash: &str,
        new_hash: &str,
    ) -> Result<Option<AppUser>> {
        let mut tx = self.db.begin_write().await?;
        let Some(user_id) = redeem(&mut tx, app, token_hash, TokenPurpose::Reset).await? else {
            return Ok(None);
        };
        sqlx::query("DELETE FROM app_user_sessions WHERE user_id = $1")
            .bind(&user_id)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(&format!(
            "UPDATE app_users SET password_hash = $2, updated_at = $3 WHERE id = $1 \
             RETURNING {COLUMNS}"
        ))
        .bind(&user_id)
        .bind(new_hash)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        user_from_row(&row).map(Some)
    }

    /// Redeems a verification token: the account is verified.
    pub(crate) async fn app_user_verify(
        &self,
        app: AppId,
        token_hash: &str,
    ) -> Result<Option<AppUser>> {
        let mut tx = self.db.begin_write().await?;
        let Some(user_id) = redeem(&mut tx, app, token_hash, TokenPurpose::Verify).await? else {
            return Ok(None);
        };
        let row = sqlx::query(&format!(
            "UPDATE app_users SET verified = 1, updated_at = $2 WHERE id = $1 \
             RETURNING {COLUMNS}"
        ))
        .bind(&user_id)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        user_from_row(&row).map(Some)
    }

    // The admin API's side.

    /// The app's accounts by email, one page after `after` (an email), those
    /// whose email contains `search` (case-insensitive) when given.
    pub async fn app_users_page(
        &self,
        app: AppId,
        search: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<UserAccount>> {
        let mut sql = format!(
            "SELECT {COLUMNS}, (SELECT COUNT(*) FROM app_user_sessions s \
             WHERE s.user_id = app_users.id AND s.expires_at > $2) AS sessions \
             FROM app_users WHERE app_id = $1"
        );
        let mut next = 3;
        if search.is_some() {
            sql.push_str(&format!(r" AND email LIKE ${next} ESCAPE '\'"));
            next += 1;
        }
        if after.is_some() {
            sql.push_str(&format!(" AND email > ${next}"));
        }
        sql.push_str(&format!(" ORDER BY email LIMIT {}", limit.max(1)));
        let mut query = sqlx::query(&sql).bind(app.to_string()).bind(now_ms());
        if let Some(search) = search {
            query = query.bind(format!(
                "%{}%",
                super::executions::like_escape(&search.trim().to_lowercase())
            ));
        }
        if let Some(after) = after {
            query = query.bind(after);
        }
        let rows = query.fetch_all(&self.db.pool).await?;
        rows.iter().map(account_from_row).collect()
    }

    /// One account as the admin API shows it.
    pub async fn app_user_account(&self, app: AppId, id: &str) -> Result<UserAccount> {
        let missing = || StoreError::not_found("user", id);
        if !is_user_id(id) {
            return Err(missing());
        }
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS}, (SELECT COUNT(*) FROM app_user_sessions s \
             WHERE s.user_id = app_users.id AND s.expires_at > $3) AS sessions \
             FROM app_users WHERE app_id = $1 AND id = $2"
        ))
        .bind(app.to_string())
        .bind(id)
        .bind(now_ms())
        .fetch_optional(&self.db.pool)
        .await?
        .ok_or_else(missing)?;
        account_from_row(&row)
    }

    /// Disables or re-enables an account; disabling ends its sessions and
    /// voids its tokens.
    pub async fn app_user_set_disabled(
        &self,
        app: AppId,
        id: &str,
        disabled: bool,
    ) -> Result<UserAccount> {
        let account = self.app_user_account(app, id).await?;
        let mut tx = self.db.begin_write().await?;
        sqlx::query("UPDATE app_users SET disabled = $2, updated_at = $3 WHERE id = $1")
            .bind(&account.id)
            .bind(i64::from(disabled))
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        if disabled {
            for table in ["app_user_sessions", "app_user_tokens"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                    .bind(&account.id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        self.app_user_account(app, id).await
    }

    /// Deletes an account with its sessions and tokens.
    pub async fn app_user_delete(&self, app: AppId, id: &str) -> Result<()> {
        let account = self.app_user_account(app, id).await?;
        sqlx::query("DELETE FROM app_users WHERE app_id = $1 AND id = $2")
            .bind(app.to_string())
            .bind(&account.id)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// Ends every session of an account; how many were live.
    pub async fn app_user_revoke_sessions(&self, app: AppId, id: &str) -> Result<u64> {
        let account = self.app_user_account(app, id).await?;
        let live =
            sqlx::query("DELETE FROM app_user_sessions WHERE user_id = $1 AND expires_at > $2")
                .bind(&account.id)
                .bind(now_ms())
                .execute(&self.db.pool)
                .await?
                .rows_affected();
        sqlx::query("DELETE FROM app_user_sessions WHERE user_id = $1")
            .bind(&account.id)
            .execute(&self.db.pool)
            .await?;
        Ok(live)
    }

    /// Drops expired sessions and tokens (the janitor); how many went.
    pub async fn purge_app_user_sessions(&self) -> Result<u64> {
        let now = now_ms();
        let mut removed = 0;
        for table in ["app_user_sessions", "app_user_tokens"] {
            removed += sqlx::query(&format!("DELETE FROM {table} WHERE expires_at <= $1"))
                .bind(now)
                .execute(&self.db.pool)
                .await?
                .rows_affected();
        }
        Ok(removed)
    }
}

/// Deletes the live token of `purpose` that hashes to `token_hash` in `app`;
/// its account's id. Deleting is what makes it single-use: of two
/// concurrent redemptions only one deletes the row.
async fn redeem(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    app: AppId,
    token_hash: &str,
    purpose: TokenPurpose,
) -> Result<Option<String>> {
    let user_id: Option<String> = sqlx::query_scalar(
        "DELETE FROM app_user_tokens WHERE app_id = $1 AND token_hash = $2 AND purpose = $3 \
         AND expires_at > $4 RETURNING user_id",
    )
    .bind(app.to_string())
    .bind(token_hash)
    .bind(purpose.as_str())
    .bind(now_ms())
    .fetch_optional(&mut **tx)
    .await?;
    // A disabled account's tokens are deleted with the disabling; this also
    // covers one disabled between issue and redemption on another node.
    if let Some(id) = &user_id {
        let disabled: Option<i64> =
            sqlx::query_scalar("SELECT disabled FROM app_users WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
        if disabled != Some(0) {
            return Ok(None);
        }
    }
    Ok(user_id)
}
