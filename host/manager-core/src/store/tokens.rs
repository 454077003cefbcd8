//! Admin API tokens. Only a SHA-256 of each token is stored; the token itself
//! is shown once, when it is created.

use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Store;
use crate::Result;
use crate::db::now_ms;

/// Prefix that makes PiCloud tokens recognizable (e.g. to secret scanners).
const TOKEN_PREFIX: &str = "pc_";

pub(crate) fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh random token: 32 bytes from a CSPRNG seeded by the OS, hex-encoded.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

impl Store {
    /// Number of admin tokens (zero on a fresh install).
    pub async fn count_tokens(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM admin_tokens")
            .fetch_one(&self.db.pool)
            .await?)
    }

    /// Stores the hash of `token` under `name`.
    pub async fn add_token(&self, name: &str, token: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO admin_tokens (id, name, token_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(name)
        .bind(hash_token(token))
        .bind(now_ms())
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// True when `token` is a known admin token; records its last use.
    pub async fn verify_token(&self, token: &str) -> Result<bool> {
        // The lookup is by hash, so timing reveals nothing about stored tokens.
        let done = sqlx::query("UPDATE admin_tokens SET last_used_at = $1 WHERE token_hash = $2")
            .bind(now_ms())
            .bind(hash_token(token))
            .execute(&self.db.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
