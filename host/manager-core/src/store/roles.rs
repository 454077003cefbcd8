//! Per-app roles of admin users (`app_roles`) and the server-wide admin flag
//! (`users.server_admin`): what [`crate::policy`] reads to decide a request.

use serde::Serialize;
use shared::AppId;
use sqlx::Row;

use super::{Store, id};
use crate::db::{now_ms, rfc3339};
use crate::error::ErrorCode;
use crate::store::{Result, StoreError};

/// What a user or token may do on one app, weakest first (the order is the
/// policy's: a role allows everything a weaker one does).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything of the app but secrets' values; follows its logs.
    Viewer,
    /// Also changes scripts, routes, triggers, interceptors, variables,
    /// the outbound allow-list and data; runs scripts.
    Developer,
    /// Also the app itself: settings, domains, roles, deletion.
    Owner,
}

impl Role {
    /// Every role, weakest first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Developer, Role::Owner];

    /// `viewer`, `developer` or `owner`, as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Developer => "developer",
            Role::Owner => "owner",
        }
    }

    /// The stored or requested name; `None` for anything else.
    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// A requested role, or `400 invalid_role` naming the choices.
    pub fn requested(text: &str) -> Result<Role> {
        Role::parse(text).ok_or_else(|| {
            StoreError::bad_request(
                ErrorCode::InvalidRole,
                format!("role '{text}' is unknown: use owner, developer or viewer"),
            )
        })
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user's role on an app, as `GET /apps/{app}/roles` lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Grant {
    /// The user's id.
    pub user_id: String,
    /// The user's login name.
    pub username: String,
    pub role: Role,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; changes with the role.
    pub updated_at: String,
}

/// Everything the policy needs to know about a user.
#[derive(Debug, Clone, Default)]
pub struct UserPowers {
    /// A server-wide admin.
    pub server_admin: bool,
    /// Roles on apps (not needed for a server admin, who owns every app).
    pub roles: Vec<(AppId, Role)>,
}

/// A stored role name read back: one PiCloud did not write grants the
/// least, so a corrupt row never widens anyone's access.
fn stored_role(text: &str) -> Role {
    Role::parse(text).unwrap_or(Role::Viewer)
}

impl Store {
    /// The server-wide flag and app roles of a user; `None` if the user is
    /// gone (its sessions and tokens then grant nothing).
    pub async fn user_powers(&self, user_id: &str) -> Result<Option<UserPowers>> {
        let rows = sqlx::query(
            "SELECT u.server_admin, r.app_id, r.role FROM users u \
             LEFT JOIN app_roles r ON r.user_id = u.id WHERE u.id = $1",
        )
        .bind(user_id)
        .fetch_all(&self.db.pool)
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let mut powers = UserPowers {
            server_admin: first.try_get::<i64, _>("server_admin")? != 0,
            roles: Vec::new(),
        };
        for row in &rows {
            if let Some(app) = row.try_get::<Option<String>, _>("app_id")? {
                let role: String = row.try_get("role")?;
                powers.roles.push((id(&app)?, stored_role(&role)));
            }
        }
        Ok(Some(powers))
    }

    /// The roles on `app`, by username.
    pub async fn grants(&self, app: AppId) -> Result<Vec<Grant>> {
        let rows = sqlx::query(
            "SELECT r.user_id, u.username, r.role, r.created_at, r.updated_at FROM app_roles r \
             JOIN users u ON u.id = r.user_id WHERE r.app_id = $1 ORDER BY u.username",
        )
        .bind(app.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Grant {
                    user_id: row.try_get("user_id")?,
                    username: row.try_get("username")?,
                    role: stored_role(&row.try_get::<String, _>("role")?),
                    created_at: rfc3339(row.try_get("created_at")?),
                    updated_at: rfc3339(row.try_get("updated_at")?),
                })
            })
            .collect()
    }

    /// Gives `user_id` `role` on `app` (replacing any role it had there).
    pub async fn set_grant(&self, app: AppId, user_id: &str, role: Role) -> Result<Grant> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO app_roles (app_id, user_id, role, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (app_id, user_id) DO UPDATE SET role = excluded.role, updated_at = excluded.updated_at",
        )
        .bind(app.to_string())
        .bind(user_id)
        .bind(role.as_str())
        .bind(now)
        .execute(&self.db.pool)
        .await?;
        self.grants(app)
            .await?
            .into_iter()
            .find(|g| g.user_id == user_id)
            .ok_or_else(|| StoreError::not_found("user", user_id))
    }

    /// Takes `user_id`'s role on `app` away.
    pub async fn remove_grant(&self, app: AppId, user_id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM app_roles WHERE app_id = $1 AND user_id = $2")
            .bind(app.to_string())
            .bind(user_id)
            .execute(&self.db.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("role of user", user_id));
        }
        Ok(())
    }

    /// Makes a user a server-wide admin, or takes that away. The last
    /// server admin keeps it, so someone can always create apps and users.
    pub async fn set_server_admin(&self, user_id: &str, server_admin: bool) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        if !server_admin {
            let others: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM users WHERE server_admin <> 0 AND id <> $1",
            )
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
            if others == 0 {
                return Err(StoreError::conflict(
                    ErrorCode::LastServerAdmin,
                    "this is the only server admin; make another user one first",
                ));
            }
        }
        let done = sqlx::query("UPDATE users SET server_admin = $1, updated_at = $2 WHERE id = $3")
            .bind(i64::from(server_admin))
            .bind(now_ms())
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("user", user_id));
        }
        tx.commit().await?;
        Ok(())
    }
}
