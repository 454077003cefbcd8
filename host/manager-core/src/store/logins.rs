//! The sign-in throttle's counts (`auth::LoginThrottle` decides what they
//! mean). In the database so that a restart does not reset them and every
//! process of a cluster sees the same failures; each change is one statement,
//! so two processes counting a failure at once both count.

use super::Store;
use crate::store::Result;

/// Rows kept at most: past it the janitor forgets the keys idle longest. An
/// attacker who mints keys (usernames, IPv6 /64s) between two passes adds
/// rows only as fast as it can fail a sign-in.
pub const MAX_LOGIN_KEYS: i64 = 50_000;

impl Store {
    /// The latest `locked_until` (ms) among `keys` that is still ahead of
    /// `now`, if any.
    pub(crate) async fn login_locked_until(
        &self,
        keys: &[String],
        now: i64,
    ) -> Result<Option<i64>> {
        let mut latest = None;
        for key in keys {
            let until: Option<Option<i64>> =
                sqlx::query_scalar("SELECT locked_until FROM login_attempts WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&self.db.pool)
                    .await?;
            if let Some(Some(until)) = until
                && until > now
            {
                latest = latest.max(Some(until));
            }
        }
        Ok(latest)
    }

    /// Counts one failure against `key` at `now`; returns the count.
    pub(crate) async fn login_failed(&self, key: &str, now: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO login_attempts (key, failures, locked_until, last_failure)
             VALUES ($1, 1, NULL, $2)
             ON CONFLICT (key) DO UPDATE
             SET failures = login_attempts.failures + 1, last_failure = $2
             RETURNING failures",
        )
        .bind(key)
        .bind(now)
        .fetch_one(&self.db.pool)
        .await?)
    }

    /// Locks `key` until `until` (ms), unless it is already locked longer
    /// (another process counted a later failure first).
    pub(crate) async fn login_lock(&self, key: &str, until: i64) -> Result<()> {
        sqlx::query(
            "UPDATE login_attempts SET locked_until = $2
             WHERE key = $1 AND (locked_until IS NULL OR locked_until < $2)",
        )
        .bind(key)
        .bind(until)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// Forgets `keys` (a successful sign-in).
    pub(crate) async fn login_cleared(&self, keys: &[String]) -> Result<()> {
        for key in keys {
            sqlx::query("DELETE FROM login_attempts WHERE key = $1")
                .bind(key)
                .execute(&self.db.pool)
                .await?;
        }
        Ok(())
    }

    /// Drops keys whose last failure is before `idle_before` (ms) and are
    /// not locked past `now`, then all but the [`MAX_LOGIN_KEYS`] most
    /// recent; returns how many went.
    pub async fn purge_login_attempts(&self, idle_before: i64, now: i64) -> Result<u64> {
        let mut removed = sqlx::query(
            "DELETE FROM login_attempts WHERE last_failure < $1
             AND (locked_until IS NULL OR locked_until <= $2)",
        )
        .bind(idle_before)
        .bind(now)
        .execute(&self.db.pool)
        .await?
        .rows_affected();
        let cutoff: Option<i64> = sqlx::query_scalar(
            "SELECT last_failure FROM login_attempts ORDER BY last_failure DESC LIMIT 1 OFFSET $1",
        )
        .bind(MAX_LOGIN_KEYS)
        .fetch_optional(&self.db.pool)
        .await?;
        if let Some(cutoff) = cutoff {
            removed += sqlx::query("DELETE FROM login_attempts WHERE last_failure <= $1")
                .bind(cutoff)
                .execute(&self.db.pool)
                .await?
                .rows_affected();
        }
        Ok(removed)
    }
}
