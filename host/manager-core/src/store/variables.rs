//! Per-app variables and secrets: what scripts read with `env::get`.
//!
//! A secret is stored encrypted under the server's [`SecretKey`] and never
//! leaves the server again except to the app's own scripts; plain variables
//! are stored and shown as they are.

use serde::Serialize;
use shared::AppId;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use crate::db::{now_ms, rfc3339};
use crate::error::ErrorCode;
use crate::secrets::SecretKey;
use crate::store::{Result, StoreError};

/// Largest variable or secret value, in bytes.
pub const MAX_VARIABLE_BYTES: usize = 64 << 10;

/// A variable as the admin API shows it: a secret's value never appears.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Variable {
    /// `[A-Za-z_][A-Za-z0-9_]*`, at most 128 characters; unique in the app.
    pub name: String,
    /// Whether the value is a secret (stored encrypted, never shown).
    pub secret: bool,
    /// The value of a plain variable; absent for secrets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: the last write.
    pub updated_at: String,
}

/// Names are identifiers, as in a shell environment: `[A-Za-z_][A-Za-z0-9_]{0,127}`.
pub fn validate_variable_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ok {
        return Err(StoreError::bad_request(
            ErrorCode::InvalidName,
            format!(
                "variable name '{name}' is invalid: use 1 to 128 letters, digits and '_', not starting with a digit"
            ),
        ));
    }
    Ok(())
}

pub(crate) fn validate_value(value: &str) -> Result<()> {
    if value.len() > MAX_VARIABLE_BYTES {
        return Err(StoreError::bad_request(
            ErrorCode::InvalidValue,
            format!(
                "the value is {} bytes; the most is {MAX_VARIABLE_BYTES}",
                value.len()
            ),
        ));
    }
    // PostgreSQL text cannot hold NUL; refusing it on both engines keeps them alike.
    if value.contains('\0') {
        return Err(StoreError::bad_request(
            ErrorCode::InvalidValue,
            "the value contains a NUL character, which values may not",
        ));
    }
    Ok(())
}

fn variable(row: &AnyRow) -> Result<Variable> {
    let secret = row.try_get::<i64, _>("secret")? != 0;
    Ok(Variable {
        name: row.try_get("name")?,
        secret,
        value: if secret {
            None
        } else {
            Some(row.try_get("value")?)
        },
        created_at: rfc3339(row.try_get("created_at")?),
        updated_at: rfc3339(row.try_get("updated_at")?),
    })
}

/// Writes variable `name`'s row (`stored` is the value, encrypted for a
/// secret), creating or replacing it; its creation time.
async fn upsert<'e>(
    db: impl sqlx::Executor<'e, Database = sqlx::Any>,
    app_id: AppId,
    name: &str,
    stored: &str,
    secret: bool,
    now: i64,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO app_variables (app_id, name, value, secret, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5)
         ON CONFLICT (app_id, name) DO UPDATE SET value = excluded.value,
             secret = excluded.secret, updated_at = excluded.updated_at
         RETURNING created_at",
    )
    .bind(app_id.to_string())
    .bind(name)
    .bind(stored)
    .bind(i64::from(secret))
    .bind(now)
    .fetch_one(db)
    .await?)
}

/// Creates or replaces plain variable `name` inside `tx`, with
/// [`Store::set_variable`]'s checks: how an import, which writes a whole
/// app's data in one transaction, brings a variable over. (Secrets are never
/// imported: their values never leave the server.)
pub(crate) async fn put_plain_variable(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    app_id: AppId,
    name: &str,
    value: &str,
) -> Result<()> {
    validate_variable_name(name)?;
    validate_value(value)?;
    upsert(&mut **tx, app_id, name, value, false, now_ms()).await?;
    Ok(())
}

impl Store {
    /// Secrets stored across all apps: whether a change of server key would
    /// lose any.
    pub async fn count_secrets(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM app_variables WHERE secret = 1")
                .fetch_one(&self.db.pool)
                .await?,
        )
    }

    /// The app's variables and secrets by name (secrets without values).
    pub async fn list_variables(&self, app_id: AppId) -> Result<Vec<Variable>> {
        let rows = sqlx::query(
            "SELECT name, secret, value, created_at, updated_at FROM app_variables
             WHERE app_id = $1 ORDER BY name",
        )
        .bind(app_id.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter().map(variable).collect()
    }

    /// Creates or replaces variable `name` (a variable may turn into a
    /// secret and back). A secret needs the server key: without one it is
    /// [`StoreError::NoSecretKey`].
    pub async fn set_variable(
        &self,
        app_id: AppId,
        name: &str,
        value: &str,
        secret: bool,
        key: Option<&SecretKey>,
    ) -> Result<Variable> {
        validate_variable_name(name)?;
        validate_value(value)?;
        let stored = if secret {
            key.ok_or(StoreError::NoSecretKey)?
                .encrypt(&app_id.to_string(), name, value)
        } else {
            value.to_owned()
        };
        let now = now_ms();
        let created_at = upsert(&self.db.pool, app_id, name, &stored, secret, now).await?;
        Ok(Variable {
            name: name.to_owned(),
            secret,
            value: (!secret).then(|| value.to_owned()),
            created_at: rfc3339(created_at),
            updated_at: rfc3339(now),
        })
    }

    /// Removes variable `name`; 404 when the app has none by that name.
    pub async fn delete_variable(&self, app_id: AppId, name: &str) -> Result<()> {
        validate_variable_name(name)?;
        let done = sqlx::query("DELETE FROM app_variables WHERE app_id = $1 AND name = $2")
            .bind(app_id.to_string())
            .bind(name)
            .execute(&self.db.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("variable", name));
        }
        Ok(())
    }

    /// The value of variable `name`, a secret decrypted (`env::get`); `None`
    /// when unset. A secret that does not decrypt under `key` (another key,
    /// an altered row) is [`StoreError::Secret`], without the stored text.
    pub async fn variable_value(
        &self,
        app_id: AppId,
        name: &str,
        key: Option<&SecretKey>,
    ) -> Result<Option<String>> {
        validate_variable_name(name)?;
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT value, secret FROM app_variables WHERE app_id = $1 AND name = $2",
        )
        .bind(app_id.to_string())
        .bind(name)
        .fetch_optional(&self.db.pool)
        .await?;
        match row {
            None => Ok(None),
            Some((value, 0)) => Ok(Some(value)),
            Some((sealed, _)) => {
                let key = key.ok_or(StoreError::NoSecretKey)?;
                key.decrypt(&app_id.to_string(), name, &sealed)
                    .map(Some)
                    .map_err(|err| StoreError::Secret {
                        name: name.to_owned(),
                        reason: err,
                    })
            }
        }
    }
}
