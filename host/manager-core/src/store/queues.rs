//! Queues: the messages scripts send with `queue::send`, the triggers that
//! consume them, and the lease that lets any number of consumers share them.
//!
//! A consumer takes a ready message by moving its `attempts` on from the
//! exact value it read and setting a lease, in one conditional `UPDATE`
//! ([`Store::lease_message`]): of two consumers that read the same message
//! only the first update matches (the second finds `attempts` changed), so a
//! message runs on one consumer at a time. A consumer that dies holds the
//! message only until its lease ends; then another takes it again. Every
//! later write about the run (done, retry, dead) names the attempt, so a
//! consumer whose lease ran out cannot undo what the next one did.

use serde::Serialize;
use shared::{AppId, ScriptId};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::Store;
use super::cron::script_of_app;
use crate::db::{now_ms, rfc3339};
use crate::error::ErrorCode;
use crate::store::{Result, StoreError};

/// Largest payload, as JSON text.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Most messages an app may hold (waiting, running or dead).
pub const MAX_MESSAGES_PER_APP: i64 = 10_000;
/// Longest `delay`: a week.
pub const MAX_DELAY_MS: i64 = 7 * 24 * 3_600_000;
/// Runs a message gets by default before it becomes a dead letter.
pub const DEFAULT_MAX_ATTEMPTS: i64 = 5;
/// Most runs a trigger may give a message.
pub const MAX_ATTEMPTS: i64 = 100;
/// Most queue triggers per app.
pub const MAX_QUEUE_TRIGGERS_PER_APP: i64 = 100;

/// Checks a queue name: 1-64 of letters, digits, `.`, `_` and `-`.
pub fn validate_queue_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(StoreError::bad_request(
            ErrorCode::InvalidQueue,
            format!("queue name '{name}' must be 1-64 letters, digits, '.', '_' or '-'"),
        ))
    }
}

/// The internal queues inbound mail goes to: `email:support` for mail to
/// `support@` the app's domains, `email:*` for any other address of the
/// app. A user's queue name cannot hold `:`, so the two never meet.
pub const EMAIL_QUEUE_PREFIX: &str = "email:";

/// Largest inbound message as its run's JSON (attachments in base64).
pub const MAX_INBOUND_PAYLOAD_BYTES: usize = 48 << 20;

/// The internal queue of an email trigger for `local` (a local part, or
/// `*`), lower-cased: 400 `invalid_trigger` naming the rule.
pub fn email_queue(local: &str) -> Result<String> {
    let local = local.trim().to_ascii_lowercase();
    let valid = local == "*"
        || (!local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'+-/=?^_`{|}~.".contains(&b)));
    if valid {
        Ok(format!("{EMAIL_QUEUE_PREFIX}{local}"))
    } else {
        Err(StoreError::bad_request(
            ErrorCode::InvalidTrigger,
            format!(
                "email '{local}' must be the part of an address before the @ (e.g. support, \
                 1-64 letters, digits and . _ + - …) or * for every address"
            ),
        ))
    }
}

/// Checks the name of a queue a trigger can consume: a script's queue, or
/// an email trigger's `email:<local part>`.
pub fn validate_consumer_queue(queue: &str) -> Result<()> {
    match queue.strip_prefix(EMAIL_QUEUE_PREFIX) {
        Some(local) => email_queue(local).map(drop),
        None => validate_queue_name(queue),
    }
}

/// Where inbound mail to an address goes, or why it is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mailbox {
    /// The app's email trigger's queue.
    Queue {
        /// The app.
        app_id: AppId,
        /// `email:<local>` or `email:*`.
        queue: String,
    },
    /// No app claims the domain: PiCloud is not its mail server.
    UnknownDomain,
    /// The app claims the domain but has no email trigger for the address.
    NoTrigger,
}

/// How long a failed message waits before its next run: 1 s after the
/// first attempt, doubling, at most 15 minutes.
pub fn backoff_ms(attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    (1_000_i64 << doublings).min(15 * 60_000)
}

/// A queue trigger as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QueueTrigger {
    /// UUID.
    pub id: String,
    /// The script it runs for each message (one of the same app's).
    #[schema(value_type = String)]
    pub script_id: ScriptId,
    /// That script's name.
    pub script_name: String,
    /// The queue it consumes.
    pub queue: String,
    /// Whether it consumes (a paused queue keeps its messages).
    pub enabled: bool,
    /// Runs a message gets before it becomes a dead letter.
    pub max_attempts: i64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// Changes to a queue trigger; `None` keeps the field.
#[derive(Debug, Clone, Default)]
pub struct QueueTriggerChanges {
    /// Another script of the app, by id or name.
    pub script: Option<String>,
    /// Pause or resume.
    pub enabled: Option<bool>,
    /// A new number of runs.
    pub max_attempts: Option<i64>,
}

/// One queue of an app, as `GET /apps/{app}/queues` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueueStats {
    /// The queue's name.
    pub name: String,
    /// Messages waiting to run now.
    pub ready: i64,
    /// Messages waiting for their delay or their next retry.
    pub delayed: i64,
    /// Messages running now.
    pub in_flight: i64,
    /// Dead letters.
    pub dead: i64,
    /// Milliseconds since the oldest message still to run was sent; `null`
    /// when none is.
    pub oldest_age_ms: Option<i64>,
    /// The trigger that consumes it; `null`: messages wait for one.
    pub trigger_id: Option<String>,
}

/// A dead letter: a message that used up its attempts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeadLetter {
    /// The message id (what `queue::send` returned).
    pub id: String,
    /// The payload.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// Runs it had.
    pub attempts: i64,
    /// Why the last run failed.
    pub last_error: Option<String>,
    /// RFC 3339: when it was sent.
    pub created_at: String,
    /// RFC 3339: when it became a dead letter.
    pub dead_at: String,
}

/// A ready message a consumer may take, with what runs it.
#[derive(Debug, Clone)]
pub struct ReadyMessage {
    /// Message id.
    pub id: String,
    /// Its app.
    pub app_id: AppId,
    /// Its queue.
    pub queue: String,
    /// Runs so far (the lease moves it on from this value).
    pub attempts: i64,
    /// The consuming trigger.
    pub trigger_id: String,
    /// Its script.
    pub script_id: ScriptId,
    /// Its runs before the dead letters.
    pub max_attempts: i64,
}

const TRIGGER_COLUMNS: &str = "t.id, t.script_id, s.name AS script_name, t.queue, t.enabled, \
    t.max_attempts, t.created_at, t.updated_at";
const TRIGGER_FROM: &str = "FROM queue_triggers t JOIN scripts s ON s.id = t.script_id";

fn queue_trigger(row: &AnyRow) -> Result<QueueTrigger> {
    Ok(QueueTrigger {
        id: row.try_get("id")?,
        script_id: super::id_column(row, "script_id")?,
        script_name: row.try_get("script_name")?,
        queue: row.try_get("queue")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        max_attempts: row.try_get("max_attempts")?,
        created_at: rfc3339(row.try_get("created_at")?),
        updated_at: rfc3339(row.try_get("updated_at")?),
    })
}

fn check_attempts(max_attempts: i64) -> Result<()> {
    if (1..=MAX_ATTEMPTS).contains(&max_attempts) {
        Ok(())
    } else {
        Err(StoreError::bad_request(
            ErrorCode::InvalidTrigger,
            format!("max_attempts {max_attempts} is out of range: use 1 to {MAX_ATTEMPTS}"),
        ))
    }
}

impl Store {
    /// Sends `payload` (JSON text) to the app's queue `queue`, to run no
    /// sooner than `delay_ms` from now; returns the message id. 400
    /// `invalid_queue` / `invalid_value`, 409 `quota_exceeded`.
    pub async fn enqueue(
        &self,
        app_id: AppId,
        queue: &str,
        payload: &str,
        delay_ms: i64,
    ) -> Result<String> {
        validate_queue_name(queue)?;
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(StoreError::bad_request(
                ErrorCode::InvalidValue,
                format!(
                    "the payload is {} bytes of JSON, over the {MAX_PAYLOAD_BYTES} a message may carry",
                    payload.len()
                ),
            ));
        }
        if !(0..=MAX_DELAY_MS).contains(&delay_ms) {
            return Err(StoreError::bad_request(
                ErrorCode::InvalidValue,
                format!("delay must be 0 to {} seconds", MAX_DELAY_MS / 1000),
            ));
        }
        let mut tx = self.db.begin_write().await?;
        let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM queue_messages WHERE app_id = $1")
            .bind(app_id.to_string())
            .fetch_one(&mut *tx)
            .await?;
        if held >= MAX_MESSAGES_PER_APP {
            return Err(StoreError::QuotaExceeded(format!(
                "the app holds {held} queued messages, the most it may ({MAX_MESSAGES_PER_APP}); \
                 let its consumers catch up, or discard dead letters"
            )));
        }
        // v7: time-ordered, so a queue lists oldest first by id.
        let id = Uuid::now_v7().to_string();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO queue_messages (id, app_id, queue, payload, attempts, available_at, created_at) \
             VALUES ($1, $2, $3, $4, 0, $5, $6)",
        )
        .bind(&id)
        .bind(app_id.to_string())
        .bind(queue)
        .bind(payload)
        .bind(now + delay_ms)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Where mail to `local@domain` goes: the app whose claim matches
    /// `domain` most specifically (as for HTTP), and its email trigger for
    /// `local`, else its `*` trigger. A paused trigger still receives: the
    /// mail waits for it to resume.
    pub async fn mailbox(&self, domain: &str, local: &str) -> Result<Mailbox> {
        let claims: Vec<(String, String)> =
            sqlx::query_as("SELECT app_id, pattern FROM app_domains")
                .fetch_all(&self.db.pool)
                .await?;
        let best = claims
            .iter()
            .filter_map(|(app, pattern)| {
                let pattern = shared::domain::DomainPattern::parse(pattern).ok()?;
                pattern.matches(domain)?;
                Some((app, pattern))
            })
            .min_by(|a, b| a.1.specificity_cmp(&b.1));
        let Some((app, _)) = best else {
            return Ok(Mailbox::UnknownDomain);
        };
        let exact = format!("{EMAIL_QUEUE_PREFIX}{}", local.to_ascii_lowercase());
        let any = format!("{EMAIL_QUEUE_PREFIX}*");
        let queues: Vec<String> = sqlx::query_scalar(
            "SELECT queue FROM queue_triggers WHERE app_id = $1 AND (queue = $2 OR queue = $3)",
        )
        .bind(app)
        .bind(&exact)
        .bind(&any)
        .fetch_all(&self.db.pool)
        .await?;
        let queue = if queues.contains(&exact) {
            exact
        } else if queues.contains(&any) {
            any
        } else {
            return Ok(Mailbox::NoTrigger);
        };
        Ok(Mailbox::Queue {
            app_id: app
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("app id {app}")))?,
            queue,
        })
    }

    /// Stores one inbound mail for each recipient's trigger (app, queue,
    /// the message as JSON), all or none; the message ids. Past an app's
    /// message quota it is refused (`quota_exceeded`), and the SMTP client
    /// is told to try again later.
    pub async fn enqueue_inbound(
        &self,
        messages: &[(AppId, String, String)],
    ) -> Result<Vec<String>> {
        if let Some((_, _, payload)) = messages
            .iter()
            .find(|m| m.2.len() > MAX_INBOUND_PAYLOAD_BYTES)
        {
            return Err(StoreError::bad_request(
                ErrorCode::InvalidValue,
                format!(
                    "the message is {} bytes as JSON, over {MAX_INBOUND_PAYLOAD_BYTES}",
                    payload.len()
                ),
            ));
        }
        let mut tx = self.db.begin_write().await?;
        let now = now_ms();
        let mut ids = Vec::with_capacity(messages.len());
        for (app_id, queue, payload) in messages {
            let held: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM queue_messages WHERE app_id = $1")
                    .bind(app_id.to_string())
                    .fetch_one(&mut *tx)
                    .await?;
            if held >= MAX_MESSAGES_PER_APP {
                return Err(StoreError::QuotaExceeded(format!(
                    "the app holds {held} queued messages, the most it may ({MAX_MESSAGES_PER_APP})"
                )));
            }
            let id = Uuid::now_v7().to_string();
            sqlx::query(
                "INSERT INTO queue_messages (id, app_id, queue, payload, attempts, available_at, created_at) \
                 VALUES ($1, $2, $3, $4, 0, $5, $5)",
            )
            .bind(&id)
            .bind(app_id.to_string())
            .bind(queue)
            .bind(payload)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Up to `limit` messages ready at `now` whose queue has an enabled
    /// trigger, oldest due first. Reading them takes nothing: a consumer
    /// then tries [`Store::lease_message`] on each.
    pub async fn ready_messages(&self, now: i64, limit: i64) -> Result<Vec<ReadyMessage>> {
        let rows = sqlx::query(
            "SELECT m.id, m.app_id, m.queue, m.attempts, t.id AS trigger_id, t.script_id, t.max_attempts \
             FROM queue_messages m \
             JOIN queue_triggers t ON t.app_id = m.app_id AND t.queue = m.queue AND t.enabled <> 0 \
             WHERE m.dead_at IS NULL AND m.available_at <= $1 \
               AND (m.lease_until IS NULL OR m.lease_until < $1) \
             ORDER BY m.available_at, m.id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ReadyMessage {
                    id: row.try_get("id")?,
                    app_id: super::id_column(row, "app_id")?,
                    queue: row.try_get("queue")?,
                    attempts: row.try_get("attempts")?,
                    trigger_id: row.try_get("trigger_id")?,
                    script_id: super::id_column(row, "script_id")?,
                    max_attempts: row.try_get("max_attempts")?,
                })
            })
            .collect()
    }

    /// Takes `message` for one run until `lease_until`: `Some(payload)`
    /// if this call won it (its attempt is then `message.attempts + 1`),
    /// `None` if another consumer took it first or it is gone.
    pub async fn lease_message(
        &self,
        message: &ReadyMessage,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<String>> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query(
            "UPDATE queue_messages SET attempts = attempts + 1, lease_until = $1 \
             WHERE id = $2 AND attempts = $3 AND dead_at IS NULL \
               AND (lease_until IS NULL OR lease_until < $4)",
        )
        .bind(lease_until)
        .bind(&message.id)
        .bind(message.attempts)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        let payload: Option<String> =
            sqlx::query_scalar("SELECT payload FROM queue_messages WHERE id = $1")
                .bind(&message.id)
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(payload)
    }

    /// Attempt `attempt` of a message finished: it is done and goes.
    pub async fn message_done(&self, id: &str, attempt: i64) -> Result<()> {
        sqlx::query("DELETE FROM queue_messages WHERE id = $1 AND attempts = $2")
            .bind(id)
            .bind(attempt)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// Attempt `attempt` of a message failed with `error`: it runs again at
    /// `retry_at`, or, with `None`, becomes a dead letter.
    pub async fn message_failed(
        &self,
        id: &str,
        attempt: i64,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<()> {
        let query = match retry_at {
            Some(at) => sqlx::query(
                "UPDATE queue_messages SET lease_until = NULL, last_error = $1, available_at = $2 \
                 WHERE id = $3 AND attempts = $4",
            )
            .bind(error)
            .bind(at),
            None => sqlx::query(
                "UPDATE queue_messages SET lease_until = NULL, last_error = $1, dead_at = $2 \
                 WHERE id = $3 AND attempts = $4",
            )
            .bind(error)
            .bind(now_ms()),
        };
        query.bind(id).bind(attempt).execute(&self.db.pool).await?;
        Ok(())
    }

    /// The app's queues: every queue that has messages or a trigger, by name.
    pub async fn queue_stats(&self, app_id: AppId, now: i64) -> Result<Vec<QueueStats>> {
        let rows = sqlx::query(
            "SELECT queue, \
               SUM(CASE WHEN dead_at IS NULL AND available_at <= $2 AND (lease_until IS NULL OR lease_until < $2) THEN 1 ELSE 0 END) AS ready, \
               SUM(CASE WHEN dead_at IS NULL AND available_at > $2 AND (lease_until IS NULL OR lease_until < $2) THEN 1 ELSE 0 END) AS delayed, \
               SUM(CASE WHEN dead_at IS NULL AND lease_until >= $2 THEN 1 ELSE 0 END) AS in_flight, \
               SUM(CASE WHEN dead_at IS NOT NULL THEN 1 ELSE 0 END) AS dead, \
               MIN(CASE WHEN dead_at IS NULL THEN created_at END) AS oldest \
             FROM queue_messages WHERE app_id = $1 GROUP BY queue",
        )
        .bind(app_id.to_string())
        .bind(now)
        .fetch_all(&self.db.pool)
        .await?;
        let mut queues: std::collections::BTreeMap<String, QueueStats> = Default::default();
        for row in &rows {
            let name: String = row.try_get("queue")?;
            let count = |column: &str| -> Result<i64> {
                Ok(row.try_get::<Option<i64>, _>(column)?.unwrap_or(0))
            };
            queues.insert(
                name.clone(),
                QueueStats {
                    name,
                    ready: count("ready")?,
                    delayed: count("delayed")?,
                    in_flight: count("in_flight")?,
                    dead: count("dead")?,
                    oldest_age_ms: row
                        .try_get::<Option<i64>, _>("oldest")?
                        .map(|t| (now - t).max(0)),
                    trigger_id: None,
                },
            );
        }
        for trigger in self.list_queue_triggers(app_id).await? {
            queues
                .entry(trigger.queue.clone())
                .or_insert_with(|| QueueStats {
                    name: trigger.queue.clone(),
                    ready: 0,
                    delayed: 0,
                    in_flight: 0,
                    dead: 0,
                    oldest_age_ms: None,
                    trigger_id: None,
                })
                .trigger_id = Some(trigger.id);
        }
        Ok(queues.into_values().collect())
    }

    /// A queue's dead letters, oldest first, at most `limit`.
    pub async fn dead_letters(
        &self,
        app_id: AppId,
        queue: &str,
        limit: i64,
    ) -> Result<Vec<DeadLetter>> {
        let rows = sqlx::query(
            "SELECT id, payload, attempts, last_error, created_at, dead_at FROM queue_messages \
             WHERE app_id = $1 AND queue = $2 AND dead_at IS NOT NULL ORDER BY dead_at, id LIMIT $3",
        )
        .bind(app_id.to_string())
        .bind(queue)
        .bind(limit)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let payload: String = row.try_get("payload")?;
                Ok(DeadLetter {
                    id: row.try_get("id")?,
                    payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
                    attempts: row.try_get("attempts")?,
                    last_error: row.try_get("last_error")?,
                    created_at: rfc3339(row.try_get("created_at")?),
                    dead_at: rfc3339(row.try_get("dead_at")?),
                })
            })
            .collect()
    }

    /// Sends a queue's dead letters (all, or the one with `id`) back to run
    /// now with fresh attempts; returns how many.
    pub async fn retry_dead_letters(
        &self,
        app_id: AppId,
        queue: &str,
        id: Option<&str>,
    ) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE queue_messages SET dead_at = NULL, attempts = 0, available_at = $1, lease_until = NULL \
             WHERE app_id = $2 AND queue = $3 AND dead_at IS NOT NULL AND ($4 = '' OR id = $4)",
        )
        .bind(now_ms())
        .bind(app_id.to_string())
        .bind(queue)
        .bind(id.unwrap_or(""))
        .execute(&self.db.pool)
        .await?;
        not_none(done.rows_affected(), id)
    }

    /// Deletes a queue's dead letters (all, or the one with `id`); returns
    /// how many.
    pub async fn discard_dead_letters(
        &self,
        app_id: AppId,
        queue: &str,
        id: Option<&str>,
    ) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM queue_messages \
             WHERE app_id = $1 AND queue = $2 AND dead_at IS NOT NULL AND ($3 = '' OR id = $3)",
        )
        .bind(app_id.to_string())
        .bind(queue)
        .bind(id.unwrap_or(""))
        .execute(&self.db.pool)
        .await?;
        not_none(done.rows_affected(), id)
    }

    /// The app's queue triggers, oldest first.
    pub async fn list_queue_triggers(&self, app_id: AppId) -> Result<Vec<QueueTrigger>> {
        let rows = sqlx::query(&format!(
            "SELECT {TRIGGER_COLUMNS} {TRIGGER_FROM} WHERE t.app_id = $1 ORDER BY t.created_at, t.id"
        ))
        .bind(app_id.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter().map(queue_trigger).collect()
    }

    /// One of the app's queue triggers, if it has one by that id.
    pub async fn queue_trigger(&self, app_id: AppId, id: &str) -> Result<Option<QueueTrigger>> {
        let row = sqlx::query(&format!(
            "SELECT {TRIGGER_COLUMNS} {TRIGGER_FROM} WHERE t.app_id = $1 AND t.id = $2"
        ))
        .bind(app_id.to_string())
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(queue_trigger).transpose()
    }

    /// Binds one of the app's scripts to its queue `queue`. 400
    /// `invalid_queue`, `invalid_script` or `invalid_trigger`; 409
    /// `trigger_exists` when the queue has a trigger already, and
    /// `quota_exceeded`.
    pub async fn create_queue_trigger(
        &self,
        app_id: AppId,
        script: &str,
        queue: &str,
        enabled: bool,
        max_attempts: Option<i64>,
    ) -> Result<QueueTrigger> {
        validate_consumer_queue(queue)?;
        let max_attempts = max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
        check_attempts(max_attempts)?;
        let mut tx = self.db.begin_write().await?;
        let script_id = script_of_app(&mut tx, app_id, script, "a trigger runs").await?;
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM queue_triggers WHERE app_id = $1")
                .bind(app_id.to_string())
                .fetch_one(&mut *tx)
                .await?;
        if count >= MAX_QUEUE_TRIGGERS_PER_APP {
            return Err(StoreError::QuotaExceeded(format!(
                "the app has {count} queue triggers, the most it may ({MAX_QUEUE_TRIGGERS_PER_APP}); delete one first"
            )));
        }
        let taken: Option<String> =
            sqlx::query_scalar("SELECT id FROM queue_triggers WHERE app_id = $1 AND queue = $2")
                .bind(app_id.to_string())
                .bind(queue)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(other) = taken {
            let message = match queue.strip_prefix(EMAIL_QUEUE_PREFIX) {
                Some(local) => format!(
                    "mail to {local}@ the app's domains goes to trigger {other} already: one script receives each address"
                ),
                None => format!(
                    "queue '{queue}' is consumed by trigger {other} already: one script runs each queue's messages"
                ),
            };
            return Err(StoreError::conflict(ErrorCode::TriggerExists, message));
        }
        let id = Uuid::now_v7().to_string();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO queue_triggers (id, app_id, script_id, queue, enabled, max_attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(&id)
        .bind(app_id.to_string())
        .bind(&script_id)
        .bind(queue)
        .bind(i64::from(enabled))
        .bind(max_attempts)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.queue_trigger(app_id, &id)
            .await?
            .ok_or_else(|| StoreError::not_found("trigger", &id))
    }

    /// Changes a queue trigger; errors as for creating one, and 404.
    pub async fn update_queue_trigger(
        &self,
        app_id: AppId,
        id: &str,
        changes: &QueueTriggerChanges,
    ) -> Result<QueueTrigger> {
        if let Some(max) = changes.max_attempts {
            check_attempts(max)?;
        }
        let mut tx = self.db.begin_write().await?;
        let script_id = match &changes.script {
            Some(script) => Some(script_of_app(&mut tx, app_id, script, "a trigger runs").await?),
            None => None,
        };
        let done = sqlx::query(
            "UPDATE queue_triggers SET script_id = COALESCE($1, script_id), \
               enabled = COALESCE($2, enabled), max_attempts = COALESCE($3, max_attempts), updated_at = $4 \
             WHERE app_id = $5 AND id = $6",
        )
        .bind(script_id)
        .bind(changes.enabled.map(i64::from))
        .bind(changes.max_attempts)
        .bind(now_ms())
        .bind(app_id.to_string())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("trigger", id));
        }
        tx.commit().await?;
        self.queue_trigger(app_id, id)
            .await?
            .ok_or_else(|| StoreError::not_found("trigger", id))
    }

    /// Deletes a queue trigger (its queue's messages wait for another);
    /// `false` if the app has none by that id.
    pub async fn delete_queue_trigger(&self, app_id: AppId, id: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM queue_triggers WHERE app_id = $1 AND id = $2")
            .bind(app_id.to_string())
            .bind(id)
            .execute(&self.db.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// `count`, or 404 when one message was asked for and none matched.
fn not_none(count: u64, id: Option<&str>) -> Result<u64> {
    match id {
        Some(id) if count == 0 => Err(StoreError::not_found("dead letter", id)),
        _ => Ok(count),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_second_to_a_quarter_hour() {
        assert_eq!(backoff_ms(1), 1_000);
        assert_eq!(backoff_ms(2), 2_000);
        assert_eq!(backoff_ms(4), 8_000);
        assert_eq!(backoff_ms(11), 15 * 60_000);
        assert_eq!(backoff_ms(i64::MAX), 15 * 60_000);
        assert_eq!(backoff_ms(0), 1_000);
    }

    #[test]
    fn queue_names_are_short_and_plain() {
        assert!(validate_queue_name("emails.out_1-a").is_ok());
        assert!(validate_queue_name("").is_err());
        assert!(validate_queue_name("a b").is_err());
        assert!(validate_queue_name(&"q".repeat(65)).is_err());
    }
}
