//! Per-app key-value storage: the rows behind `kv::*` in scripts and the
//! admin API's `/apps/{app}/kv`.
//!
//! Values are JSON text. Every write runs in one write transaction that
//! first takes the app's `kv_usage` row: on PostgreSQL that row lock
//! serializes the app's writers (SQLite's `BEGIN IMMEDIATE` serializes all
//! writers anyway), so the usage counters, the quota checks and `incr` are
//! exact under any concurrency, and a quota check reads one row instead of
//! counting the app's keys.

use shared::AppId;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shared::KvPage;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Store;
use crate::db::{now_ms, rfc3339};
use crate::error::ErrorCode;
use crate::store::{Result, StoreError};

// Defined in `shared`: the executor and the admin API enforce the same cap.
pub use shared::MAX_LIST_LIMIT;

/// Longest TTL accepted: a century is "forever" for any real use, and keeps
/// every expiry time printable as RFC 3339 (which stops at year 9999).
const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The limits of one app's key-value store (the same for every app; set by
/// the operator through [`ManagerConfig::kv_quota`](crate::ManagerConfig)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KvQuota {
    /// Longest key, in bytes of UTF-8.
    pub max_key_bytes: u64,
    /// Largest value, in bytes of its JSON text.
    pub max_value_bytes: u64,
    /// Most keys an app may hold.
    pub max_keys: u64,
    /// Most bytes (keys plus values) an app may hold.
    pub max_total_bytes: u64,
}

impl Default for KvQuota {
    fn default() -> Self {
        KvQuota {
            max_key_bytes: 512,
            max_value_bytes: 256 << 10,
            max_keys: 100_000,
            max_total_bytes: 64 << 20,
        }
    }
}

/// One stored key as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KvEntry {
    /// The key.
    pub key: String,
    /// The value, any JSON.
    pub value: serde_json::Value,
    /// Bytes of key plus value (JSON text): what the quota counts.
    pub size: i64,
    /// RFC 3339: when the key disappears; `null` = never.
    pub expires_at: Option<String>,
    /// RFC 3339: the last write.
    pub updated_at: String,
}

/// One page of [`KvEntry`]s in key order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KvEntryPage {
    /// The entries.
    pub items: Vec<KvEntry>,
    /// The last key of this page when more follow; pass it back as the cursor.
    pub next_cursor: Option<String>,
}

/// What an app's key-value store holds, expired entries not yet purged included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct KvUsage {
    /// Keys stored.
    pub keys: i64,
    /// Bytes stored (keys plus values).
    pub bytes: i64,
}

/// Keys are UTF-8 text of 1 to `max_key_bytes` bytes without NUL (which
/// PostgreSQL text cannot hold). Reads and deletes skip the length check: a
/// key stored before the operator lowered the limit stays reachable.
fn check_key(key: &str, max_bytes: Option<u64>) -> Result<()> {
    let invalid = |message: String| Err(StoreError::bad_request(ErrorCode::InvalidKey, message));
    if key.is_empty() {
        return invalid("the key is empty; keys are 1 or more bytes".into());
    }
    if key.contains('\0') {
        return invalid("the key contains a NUL character, which keys may not".into());
    }
    // `.` and `..` could never be read or deleted through the admin API:
    // clients resolve them as dot segments of the URL even when encoded,
    // and a DELETE of `…/kv/..` would name the app itself.
    if max_bytes.is_some() && (key == "." || key == "..") {
        return invalid(format!(
            "the key '{key}' is not allowed: it cannot appear in a URL"
        ));
    }
    if let Some(max) = max_bytes
        && key.len() as u64 > max
    {
        return invalid(format!(
            "the key is {} bytes long; the most is {max}",
            key.len()
        ));
    }
    Ok(())
}

/// Values must be JSON (the guest is not trusted to send it) within the size limit.
fn check_value(value: &str, quota: &KvQuota) -> Result<serde_json::Value> {
    if value.len() as u64 > quota.max_value_bytes {
        return Err(StoreError::bad_request(
            ErrorCode::InvalidValue,
            format!(
                "the value is {} bytes of JSON; the most is {}",
                value.len(),
                quota.max_value_bytes
            ),
        ));
    }
    serde_json::from_str(value).map_err(|err| {
        StoreError::bad_request(
            ErrorCode::InvalidValue,
            format!("the value is not JSON: {err}"),
        )
    })
}

/// The TTL in whole milliseconds, rounded up so that a tiny TTL still expires
/// in the future rather than at once.
fn ttl_ms(ttl: Duration) -> Result<i64> {
    if ttl.is_zero() {
        return Err(StoreError::bad_request(
            ErrorCode::InvalidTtl,
            "the TTL must be positive; leave it out for a key that never expires",
        ));
    }
    if ttl > MAX_TTL {
        return Err(StoreError::bad_request(
            ErrorCode::InvalidTtl,
            format!(
                "the TTL is {} s; the most is {} s (100 years); leave it out for a key that never expires",
                ttl.as_secs(),
                MAX_TTL.as_secs()
            ),
        ));
    }
    Ok(i64::try_from(ttl.as_nanos().div_ceil(1_000_000)).expect("at most 100 years"))
}

/// Live rows only: an expired entry is invisible before the janitor deletes it.
const LIVE: &str = "(expires_at IS NULL OR expires_at > $2)";

/// The smallest string above every string that starts with `prefix`, if one
/// exists: the prefix with its last incrementable character incremented and
/// the rest dropped. UTF-8 byte order is code-point order, so `key < bound`
/// lets the database stop scanning at the end of the prefix's range instead
/// of walking every later key of the app.
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(c as u32 + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn entry(row: &AnyRow) -> Result<KvEntry> {
    let key: String = row.try_get("key")?;
    let value: String = row.try_get("value")?;
    let value = serde_json::from_str(&value).map_err(|_| {
        StoreError::Corrupt(format!(
            "corrupt key-value entry '{key}' in the database: not JSON"
        ))
    })?;
    let expires_at: Option<i64> = row.try_get("expires_at")?;
    Ok(KvEntry {
        key,
        value,
        size: row.try_get("size")?,
        expires_at: expires_at.map(rfc3339),
        updated_at: rfc3339(row.try_get("updated_at")?),
    })
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Takes the app's usage row (creating it at zero), which every writer of
/// the app's entries does first: on PostgreSQL the upsert locks the row
/// until commit, so one app's writes queue here. Returns the counters.
async fn lock_usage(tx: &mut Tx, app_id: AppId) -> Result<KvUsage> {
    let (keys, bytes): (i64, i64) = sqlx::query_as(
        "INSERT INTO kv_usage (app_id, keys, bytes) VALUES ($1, 0, 0)
         ON CONFLICT (app_id) DO UPDATE SET keys = kv_usage.keys
         RETURNING keys, bytes",
    )
    .bind(app_id.to_string())
    .fetch_one(&mut **tx)
    .await?;
    Ok(KvUsage { keys, bytes })
}

/// Deletes the app's expired entries and takes them off the counters; the
/// caller holds the usage row. Returns how many went.
async fn purge_locked(tx: &mut Tx, app_id: AppId, now: i64) -> Result<u64> {
    let sizes: Vec<i64> = sqlx::query_scalar(
        "DELETE FROM kv_entries WHERE app_id = $1 AND expires_at <= $2 RETURNING size",
    )
    .bind(app_id.to_string())
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    if !sizes.is_empty() {
        sqlx::query("UPDATE kv_usage SET keys = keys - $2, bytes = bytes - $3 WHERE app_id = $1")
            .bind(app_id.to_string())
            .bind(sizes.len() as i64)
            .bind(sizes.iter().sum::<i64>())
            .execute(&mut **tx)
            .await?;
    }
    Ok(sizes.len() as u64)
}

/// The stored row of `key`, expired or not: (size, expires_at).
async fn stored(tx: &mut Tx, app_id: AppId, key: &str) -> Result<Option<(i64, Option<i64>)>> {
    Ok(
        sqlx::query_as("SELECT size, expires_at FROM kv_entries WHERE app_id = $1 AND key = $2")
            .bind(app_id.to_string())
            .bind(key)
            .fetch_optional(&mut **tx)
            .await?,
    )
}

/// What the quota says about a write that adds `keys` keys and `bytes`
/// bytes; only growth is checked, so an app over a lowered quota can still
/// shrink or delete.
fn quota_problem(quota: &KvQuota, usage: KvUsage, keys: i64, bytes: i64) -> Option<String> {
    let max_keys = i64::try_from(quota.max_keys).unwrap_or(i64::MAX);
    let max_bytes = i64::try_from(quota.max_total_bytes).unwrap_or(i64::MAX);
    if keys > 0 && usage.keys.saturating_add(keys) > max_keys {
        return Some(format!(
            "the app's key-value store holds {} keys, the most it may ({max_keys}); delete keys or let them expire first",
            usage.keys
        ));
    }
    if bytes > 0 && usage.bytes.saturating_add(bytes) > max_bytes {
        return Some(format!(
            "the app's key-value store holds {} bytes of its quota of {max_bytes}; this write needs {bytes} more",
            usage.bytes
        ));
    }
    None
}

/// Makes room for `key` to be `size` bytes: checks the quota against the
/// counters (`usage`, as [`lock_usage`] returned them) and, when it would be
/// exceeded, purges the app's expired entries once and checks again.
/// Returns the counter deltas to apply.
async fn reserve(
    tx: &mut Tx,
    app_id: AppId,
    key: &str,
    size: i64,
    quota: &KvQuota,
    now: i64,
    mut usage: KvUsage,
) -> Result<(i64, i64)> {
    let mut purged = false;
    loop {
        let (keys, bytes) = match stored(tx, app_id, key).await? {
            Some((old, _)) => (0, size - old),
            None => (1, size),
        };
        match quota_problem(quota, usage, keys, bytes) {
            None => return Ok((keys, bytes)),
            Some(_) if !purged => {
                purge_locked(tx, app_id, now).await?;
                purged = true;
                usage = lock_usage(tx, app_id).await?;
            }
            Some(message) => return Err(StoreError::QuotaExceeded(message)),
        }
    }
}

/// Writes the row and moves the counters by the deltas [`reserve`] returned.
async fn write(
    tx: &mut Tx,
    app_id: AppId,
    key: &str,
    value: &str,
    expires_at: Option<i64>,
    now: i64,
    (keys, bytes): (i64, i64),
) -> Result<()> {
    sqlx::query(
        "INSERT INTO kv_entries (app_id, key, value, size, expires_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (app_id, key) DO UPDATE SET value = excluded.value, size = excluded.size,
             expires_at = excluded.expires_at, updated_at = excluded.updated_at",
    )
    .bind(app_id.to_string())
    .bind(key)
    .bind(value)
    .bind((key.len() + value.len()) as i64)
    .bind(expires_at)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    if keys != 0 || bytes != 0 {
        sqlx::query("UPDATE kv_usage SET keys = keys + $2, bytes = bytes + $3 WHERE app_id = $1")
            .bind(app_id.to_string())
            .bind(keys)
            .bind(bytes)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Stores `value` (JSON text) under `key` with an absolute expiry, inside
/// `tx`, with [`Store::kv_set`]'s checks, quota and counters: how an import,
/// which writes a whole app's data in one transaction, brings an entry over
/// with the expiry it had. An entry whose expiry has passed is not stored
/// (it would be invisible at once): `false`.
pub(crate) async fn put_entry(
    tx: &mut Tx,
    app_id: AppId,
    key: &str,
    value: &str,
    expires_at: Option<i64>,
    quota: &KvQuota,
) -> Result<bool> {
    check_key(key, Some(quota.max_key_bytes))?;
    check_value(value, quota)?;
    let now = now_ms();
    if let Some(at) = expires_at {
        if at <= now {
            return Ok(false);
        }
        // The same bound a TTL has, so every stored expiry stays printable.
        ttl_ms(Duration::from_millis(at.abs_diff(now)))?;
    }
    let size = (key.len() + value.len()) as i64;
    let usage = lock_usage(tx, app_id).await?;
    let deltas = reserve(tx, app_id, key, size, quota, now, usage).await?;
    write(tx, app_id, key, value, expires_at, now, deltas).await?;
    Ok(true)
}

impl Store {
    /// The JSON text under `key`, unless absent or expired (`kv::get`).
    pub async fn kv_value(&self, app_id: AppId, key: &str) -> Result<Option<String>> {
        check_key(key, None)?;
        Ok(sqlx::query_scalar(&format!(
            "SELECT value FROM kv_entries WHERE app_id = $1 AND {LIVE} AND key = $3"
        ))
        .bind(app_id.to_string())
        .bind(now_ms())
        .bind(key)
        .fetch_optional(&self.db.pool)
        .await?)
    }

    /// `key` with its value and metadata, unless absent or expired.
    pub async fn kv_entry(&self, app_id: AppId, key: &str) -> Result<Option<KvEntry>> {
        check_key(key, None)?;
        sqlx::query(&format!(
            "SELECT key, value, size, expires_at, updated_at FROM kv_entries
             WHERE app_id = $1 AND {LIVE} AND key = $3"
        ))
        .bind(app_id.to_string())
        .bind(now_ms())
        .bind(key)
        .fetch_optional(&self.db.pool)
        .await?
        .as_ref()
        .map(entry)
        .transpose()
    }

    /// Whether `key` holds a value that has not expired.
    pub async fn kv_exists(&self, app_id: AppId, key: &str) -> Result<bool> {
        check_key(key, None)?;
        let found: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT 1 FROM kv_entries WHERE app_id = $1 AND {LIVE} AND key = $3"
        ))
        .bind(app_id.to_string())
        .bind(now_ms())
        .bind(key)
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Stores `value` (JSON text) under `key`, replacing any value and TTL;
    /// with `ttl` the key expires that long from now. Fails with
    /// `invalid_key`, `invalid_value` or `invalid_ttl` (400) and
    /// `quota_exceeded` (409). Returns the stored entry.
    pub async fn kv_set(
        &self,
        app_id: AppId,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
        quota: &KvQuota,
    ) -> Result<KvEntry> {
        check_key(key, Some(quota.max_key_bytes))?;
        let parsed = check_value(value, quota)?;
        let ttl = ttl.map(ttl_ms).transpose()?;
        let size = (key.len() + value.len()) as i64;
        let mut tx = self.db.begin_write().await?;
        let now = now_ms();
        let expires_at = ttl.map(|ms| now.saturating_add(ms));
        let usage = lock_usage(&mut tx, app_id).await?;
        let deltas = reserve(&mut tx, app_id, key, size, quota, now, usage).await?;
        write(&mut tx, app_id, key, value, expires_at, now, deltas).await?;
        tx.commit().await?;
        Ok(KvEntry {
            key: key.to_owned(),
            value: parsed,
            size,
            expires_at: expires_at.map(rfc3339),
            updated_at: rfc3339(now),
        })
    }

    /// Removes `key`; whether a live value was there (deleting an expired
    /// key removes its row but answers `false`, as it was already gone).
    pub async fn kv_delete(&self, app_id: AppId, key: &str) -> Result<bool> {
        check_key(key, None)?;
        let mut tx = self.db.begin_write().await?;
        lock_usage(&mut tx, app_id).await?;
        let now = now_ms();
        let removed: Option<(i64, Option<i64>)> = sqlx::query_as(
            "DELETE FROM kv_entries WHERE app_id = $1 AND key = $2 RETURNING size, expires_at",
        )
        .bind(app_id.to_string())
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((size, expires_at)) = removed else {
            return Ok(false);
        };
        sqlx::query("UPDATE kv_usage SET keys = keys - 1, bytes = bytes - $2 WHERE app_id = $1")
            .bind(app_id.to_string())
            .bind(size)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(expires_at.is_none_or(|at| at > now))
    }

    /// Adds `delta` to the integer under `key` in one step and returns the
    /// sum. An absent or expired key counts as 0 (and gets no TTL); a live
    /// key keeps its TTL. A value that is not a JSON integer fitting 64 bits
    /// is `wrong_type` (409); a sum that does not fit is `incr_overflow` (400).
    pub async fn kv_incr(
        &self,
        app_id: AppId,
        key: &str,
        delta: i64,
        quota: &KvQuota,
    ) -> Result<i64> {
        check_key(key, Some(quota.max_key_bytes))?;
        let mut tx = self.db.begin_write().await?;
        // Taken before the read, so no other writer of the app runs between
        // this read and the write below: that is what makes incr atomic.
        let usage = lock_usage(&mut tx, app_id).await?;
        let now = now_ms();
        let current: Option<(String, Option<i64>)> = sqlx::query_as(&format!(
            "SELECT value, expires_at FROM kv_entries WHERE app_id = $1 AND {LIVE} AND key = $3"
        ))
        .bind(app_id.to_string())
        .bind(now)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        let (base, expires_at) = match current {
            None => (0, None),
            Some((text, expires_at)) => {
                let number = match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(serde_json::Value::Number(n)) if n.is_i64() => n.as_i64(),
                    Ok(serde_json::Value::Number(n)) if n.is_u64() => {
                        return Err(StoreError::WrongType(format!(
                            "the value under '{key}' is {n}, which does not fit a 64-bit signed integer"
                        )));
                    }
                    _ => None,
                };
                let Some(number) = number else {
                    return Err(StoreError::WrongType(format!(
                        "the value under '{key}' is {}, not an integer",
                        describe(&text)
                    )));
                };
                (number, expires_at)
            }
        };
        let sum = base.checked_add(delta).ok_or_else(|| {
            StoreError::bad_request(
                ErrorCode::IncrOverflow,
                format!("adding {delta} to {base} under '{key}' overflows a 64-bit signed integer"),
            )
        })?;
        let value = sum.to_string();
        let size = (key.len() + value.len()) as i64;
        let deltas = reserve(&mut tx, app_id, key, size, quota, now, usage).await?;
        write(&mut tx, app_id, key, &value, expires_at, now, deltas).await?;
        tx.commit().await?;
        Ok(sum)
    }

    /// Live keys starting with `prefix`, in byte order, after `cursor`; at
    /// most `limit` (capped at [`MAX_LIST_LIMIT`]). `cursor` of the page is
    /// its last key when more follow.
    pub async fn kv_keys(
        &self,
        app_id: AppId,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KvPage> {
        let (rows, next) = self.kv_list(app_id, "key", prefix, cursor, limit).await?;
        Ok(KvPage {
            keys: rows
                .iter()
                .map(|row| row.try_get("key"))
                .collect::<Result<_, _>>()?,
            cursor: next,
        })
    }

    /// Like [`Store::kv_keys`], with values and metadata (the admin API).
    pub async fn kv_entries(
        &self,
        app_id: AppId,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<KvEntryPage> {
        let (rows, next) = self
            .kv_list(
                app_id,
                "key, value, size, expires_at, updated_at",
                prefix,
                cursor,
                limit,
            )
            .await?;
        Ok(KvEntryPage {
            items: rows.iter().map(entry).collect::<Result<_>>()?,
            next_cursor: next,
        })
    }

    async fn kv_list(
        &self,
        app_id: AppId,
        columns: &str,
        prefix: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<AnyRow>, Option<String>)> {
        if limit == 0 {
            return Err(StoreError::bad_request(
                ErrorCode::InvalidLimit,
                format!("the limit must be 1 to {MAX_LIST_LIMIT}"),
            ));
        }
        if let Some(cursor) = cursor {
            check_key(cursor, None).map_err(|_| {
                StoreError::bad_request(
                    ErrorCode::InvalidCursor,
                    "the cursor must be a key, as a previous page returned it",
                )
            })?;
        }
        if prefix.contains('\0') {
            // No key contains NUL, so none starts with this.
            return Ok((Vec::new(), None));
        }
        let limit = limit.min(MAX_LIST_LIMIT);
        // Prefix matching by comparison, not LIKE: `%`, `_` and `\` in a
        // prefix are plain characters. `substr`/`length` count characters
        // on both engines, so the test is exact; the bounds let the primary
        // key index find the range.
        let upper = prefix_upper_bound(prefix);
        let mut sql = format!(
            "SELECT {columns} FROM kv_entries WHERE app_id = $1 AND {LIVE}
             AND key >= $3 AND substr(key, 1, length($3)) = $3"
        );
        let mut next = 4;
        if upper.is_some() {
            sql.push_str(&format!(" AND key < ${next}"));
            next += 1;
        }
        if cursor.is_some() {
            sql.push_str(&format!(" AND key > ${next}"));
        }
        // One more than asked, to learn whether another page follows.
        sql.push_str(&format!(" ORDER BY key LIMIT {}", limit + 1));
        let mut query = sqlx::query(&sql)
            .bind(app_id.to_string())
            .bind(now_ms())
            .bind(prefix);
        if let Some(upper) = &upper {
            query = query.bind(upper);
        }
        if let Some(cursor) = cursor {
            query = query.bind(cursor);
        }
        let mut rows = query.fetch_all(&self.db.pool).await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = match rows.last() {
            Some(row) if more => Some(row.try_get("key")?),
            _ => None,
        };
        Ok((rows, next))
    }

    /// What the app's store holds now (expired entries not yet purged included).
    pub async fn kv_usage(&self, app_id: AppId) -> Result<KvUsage> {
        let usage: Option<(i64, i64)> =
            sqlx::query_as("SELECT keys, bytes FROM kv_usage WHERE app_id = $1")
                .bind(app_id.to_string())
                .fetch_optional(&self.db.pool)
                .await?;
        Ok(usage
            .map(|(keys, bytes)| KvUsage { keys, bytes })
            .unwrap_or_default())
    }

    /// Deletes every app's expired entries, keeping the counters right; the
    /// janitor calls it each pass. Returns how many went.
    pub async fn purge_expired_kv(&self) -> Result<u64> {
        let now = now_ms();
        let apps: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT app_id FROM kv_entries WHERE expires_at <= $1")
                .bind(now)
                .fetch_all(&self.db.pool)
                .await?;
        let mut removed = 0;
        // One short transaction per app, so scripts of other apps never wait
        // for the whole pass.
        for app_id in apps {
            let app_id: AppId = super::id(&app_id)?;
            let mut tx = self.db.begin_write().await?;
            lock_usage(&mut tx, app_id).await?;
            removed += purge_locked(&mut tx, app_id, now).await?;
            tx.commit().await?;
        }
        Ok(removed)
    }
}

/// Names the JSON type of a stored value, for `wrong_type` messages; the
/// value itself may be large or private, so it is not quoted.
fn describe(json: &str) -> &'static str {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Null) => "null",
        Ok(serde_json::Value::Bool(_)) => "a boolean",
        Ok(serde_json::Value::Number(_)) => "a non-integer number",
        Ok(serde_json::Value::String(_)) => "a string",
        Ok(serde_json::Value::Array(_)) => "an array",
        Ok(serde_json::Value::Object(_)) => "an object",
        Err(_) => "not JSON",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_bound_covers_exactly_the_prefix() {
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(prefix_upper_bound("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_upper_bound("a%").as_deref(), Some("a&"));
        assert_eq!(
            prefix_upper_bound("x\u{D7FF}").as_deref(),
            Some("x\u{E000}")
        );
        assert_eq!(prefix_upper_bound("x\u{10FFFF}").as_deref(), Some("y"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
        for prefix in ["ab", "é", "a\u{7F}", "日本"] {
            let upper = prefix_upper_bound(prefix).unwrap();
            assert!(upper.as_bytes() > prefix.as_bytes());
            let inside = format!("{prefix}\u{10FFFF}\u{10FFFF}");
            assert!(inside.as_bytes() < upper.as_bytes(), "{prefix}");
        }
    }

    #[test]
    fn ttl_rounds_up_and_is_bounded() {
        assert_eq!(ttl_ms(Duration::from_micros(1)).unwrap(), 1);
        assert_eq!(ttl_ms(Duration::from_secs(2)).unwrap(), 2000);
        assert_eq!(ttl_ms(Duration::ZERO).unwrap_err().code(), "invalid_ttl");
        assert_eq!(
            ttl_ms(MAX_TTL + Duration::from_secs(1)).unwrap_err().code(),
            "invalid_ttl"
        );
    }
}
