//! Server-wide settings: small facts that must survive restarts.

use super::Store;
use crate::store::Result;

/// Set once Hello World has been seeded: deleting it is then final.
pub const HELLO_WORLD_SEEDED: &str = "hello_world_seeded";

impl Store {
    /// A setting's value, if it was ever set.
    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM server_settings WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.db.pool)
                .await?,
        )
    }

    /// Sets a setting, replacing any earlier value.
    pub async fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO server_settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }
}
