//! Admin users and their browser sessions. Passwords are stored as Argon2id
//! hashes; sessions by the SHA-256 of their cookie value.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::tokens::{generate_secret, hash_token};
use super::{Page, Store};
use crate::db::{now_ms, rfc3339};
use crate::error::ErrorCode;
use crate::store::error::OnConflict;
use crate::store::{Result, StoreError};

/// A user as the API shows it (never the hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct User {
    /// UUID.
    pub id: String,
    /// Lower-case login name.
    pub username: String,
    /// A server-wide admin: creates apps, users and tokens, and is owner of
    /// every app. Otherwise the user has only the roles given per app.
    pub server_admin: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; changes with the password.
    pub updated_at: String,
}

fn user_from_row(row: &AnyRow) -> Result<User> {
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        server_admin: row.try_get::<i64, _>("server_admin")? != 0,
        created_at: rfc3339(row.try_get("created_at")?),
        updated_at: rfc3339(row.try_get("updated_at")?),
    })
}

/// A session's `last_seen_at` is written at most this often: the idle
/// timeout is counted in hours, and a write per dashboard request is waste.
const LAST_SEEN_RESOLUTION_MS: i64 = 60_000;

/// A live session, as `require_admin` needs it.
#[derive(Debug, Clone)]
pub struct Session {
    /// SHA-256 of the cookie value.
    pub id_hash: String,
    /// The signed-in user.
    pub user_id: String,
    /// The token mutating requests must echo in `X-CSRF-Token`.
    pub csrf_token: String,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
}

impl Store {
    /// Number of users (zero on a fresh install).
    pub async fn count_users(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.db.pool)
            .await?)
    }

    /// Users by username, one page.
    pub async fn list_users(&self, page: &Page) -> Result<Vec<User>> {
        let sql = format!(
            "SELECT id, username, server_admin, created_at, updated_at FROM users WHERE 1 = 1{}",
            page.sql("username", 1)
        );
        let rows = page
            .bind(sqlx::query(&sql))
            .fetch_all(&self.db.pool)
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// A user by id or username.
    pub async fn user(&self, id_or_name: &str) -> Result<User> {
        let row = sqlx::query(
            "SELECT id, username, server_admin, created_at, updated_at FROM users WHERE id = $1 OR username = $2",
        )
        .bind(id_or_name)
        .bind(id_or_name.to_lowercase())
        .fetch_optional(&self.db.pool)
        .await?;
        match row {
            Some(row) => user_from_row(&row),
            None => Err(StoreError::not_found("user", id_or_name)),
        }
    }

    /// The id and password hash of a (normalized) username, for login.
    pub async fn user_credentials(&self, username: &str) -> Result<Option<(String, String)>> {
        Ok(
            sqlx::query_as("SELECT id, password_hash FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(&self.db.pool)
                .await?,
        )
    }

    /// The password hash of a user by id.
    pub async fn password_hash(&self, user_id: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&self.db.pool)
                .await?,
        )
    }

    /// Creates a user; `username` is normalized and `password_hash` an
    /// Argon2id PHC string (see `auth`). A `server_admin` has every power;
    /// anyone else only the roles given per app.
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        server_admin: bool,
    ) -> Result<User> {
        let id = Uuid::new_v4().to_string();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, created_at, updated_at, server_admin) VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(&id)
        .bind(username)
        .bind(password_hash)
        .bind(now)
        .bind(i64::from(server_admin))
        .execute(&self.db.pool)
        .await
        .on_conflict(ErrorCode::UsernameTaken, || format!("the username '{username}' is taken"))?;
        self.user(&id).await
    }

    /// Replaces a user's password and ends their sessions, except `keep`
    /// (the session that made the change, if any).
    pub async fn set_password(
        &self,
        user_id: &str,
        password_hash: &str,
        keep: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let done =
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(password_hash)
                .bind(now_ms())
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("user", user_id));
        }
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
            .bind(user_id)
            .bind(keep.unwrap_or(""))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a user with their sessions, tokens and roles. The last user,
    /// and the last server admin, cannot be deleted, so an install with
    /// users always keeps a person who can sign in and create apps.
    pub async fn delete_user(&self, user_id: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *tx)
            .await?;
        let admin: Option<i64> = sqlx::query_scalar("SELECT server_admin FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(admin) = admin else {
            return Err(StoreError::not_found("user", user_id));
        };
        if users <= 1 {
            return Err(StoreError::conflict(
                ErrorCode::LastUser,
                "this is the only user; create another before deleting it",
            ));
        }
        let other_admins: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE server_admin <> 0 AND id <> $1")
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await?;
        if admin != 0 && other_admins == 0 {
            return Err(StoreError::conflict(
                ErrorCode::LastServerAdmin,
                "this is the only server admin; make another user one before deleting it",
            ));
        }
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Starts a session for `user_id` lasting `ttl_ms`; returns the cookie
    /// value (shown to the browser only) and the stored session.
    pub async fn create_session(&self, user_id: &str, ttl_ms: i64) -> Result<(String, Session)> {
        let secret = generate_secret();
        let now = now_ms();
        let session = Session {
            id_hash: hash_token(&secret),
            user_id: user_id.to_owned(),
            csrf_token: generate_secret(),
            expires_at: now.saturating_add(ttl_ms),
        };
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $4)",
        )
        .bind(&session.id_hash)
        .bind(&session.user_id)
        .bind(&session.csrf_token)
        .bind(now)
        .bind(session.expires_at)
        .execute(&self.db.pool)
        .await?;
        Ok((secret, session))
    }

    /// The live session for a cookie value, marking it used; expired ones,
    /// and ones unused for `idle_ms` (when given), are not returned.
    pub async fn session(
        &self,
        cookie_value: &str,
        idle_ms: Option<i64>,
    ) -> Result<Option<Session>> {
        self.session_by_hash(&hash_token(cookie_value), idle_ms)
            .await
    }

    /// The live session by its stored key, marking it used (see
    /// [`Store::session`]).
    pub async fn session_by_hash(
        &self,
        id_hash: &str,
        idle_ms: Option<i64>,
    ) -> Result<Option<Session>> {
        let now = now_ms();
        let row = sqlx::query(
            "SELECT id_hash, user_id, csrf_token, expires_at, last_seen_at FROM sessions
             WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.db.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        // NULL: not used since the idle timeout came in; this use counts.
        let last_seen: Option<i64> = row.try_get("last_seen_at")?;
        if let (Some(idle), Some(seen)) = (idle_ms, last_seen)
            && now.saturating_sub(seen) >= idle
        {
            return Ok(None);
        }
        // Written at most once a minute per session, so the dashboard's
        // requests do not each cost a database write.
        if last_seen.is_none_or(|seen| now - seen >= LAST_SEEN_RESOLUTION_MS) {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
                .bind(now)
                .bind(id_hash)
                .execute(&self.db.pool)
                .await?;
        }
        Ok(Some(Session {
            id_hash: row.try_get("id_hash")?,
            user_id: row.try_get("user_id")?,
            csrf_token: row.try_get("csrf_token")?,
            expires_at: row.try_get("expires_at")?,
        }))
    }

    /// Ends a session (logout).
    pub async fn delete_session(&self, id_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// Removes expired sessions, and ones unused for `idle_ms` (when
    /// given); returns how many.
    pub async fn purge_expired_sessions(&self, idle_ms: Option<i64>) -> Result<u64> {
        let now = now_ms();
        // Without an idle timeout, the cutoff is before any session was seen.
        let seen_before = idle_ms.map_or(i64::MIN, |idle| now.saturating_sub(idle));
        Ok(
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at < $2")
                .bind(now)
                .bind(seen_before)
                .execute(&self.db.pool)
                .await?
                .rows_affected(),
        )
    }
}
