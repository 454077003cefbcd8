//! The outbox: mail scripts queued with `email::send`, until the mailer
//! (crate::email) has delivered it or given up, and the record of each
//! send afterwards (recipients, subject, outcome, the relay's reply; the
//! body is dropped once the message left the outbox).
//!
//! The mailer takes a due message the way the queue consumer takes a queue
//! message (store/queues.rs): a conditional `UPDATE` that moves `attempts`
//! on from the value it read, so one process sends it at a time, and a
//! lease (`available_at` pushed past the send's timeout) that lets another
//! process take it again if this one dies mid-send.

use serde::Serialize;
use shared::{AppId, ExecutionId};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::Store;
use crate::db::{now_ms, rfc3339};
use crate::store::{Result, StoreError};

/// A message ready to go into the outbox: addresses already checked.
#[derive(Debug, Clone)]
pub struct NewEmail {
    /// The sender, as a mailbox (`Name <a@b>` or `a@b`).
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Copy recipients.
    pub cc: Vec<String>,
    /// Where replies go.
    pub reply_to: Option<String>,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: Option<String>,
    /// The HTML body.
    pub html: Option<String>,
}

/// One message of the outbox as the admin API and execution records show
/// it: never its body.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EmailSend {
    /// The message id (what `email::send` returned).
    pub id: String,
    /// The execution that sent it.
    pub execution_id: Option<String>,
    /// The sender.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Copy recipients.
    pub cc: Vec<String>,
    /// The subject line.
    pub subject: String,
    /// `queued` (waiting or being retried), `sent` (the relay accepted
    /// it) or `failed` (the relay refused it, or retries ran out).
    pub status: String,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// The relay's last reply (`250 2.0.0 Ok: queued as …`) or why it
    /// could not be reached.
    pub reply: Option<String>,
    /// RFC 3339: when the script sent it.
    pub created_at: String,
    /// RFC 3339: when the relay accepted it.
    pub sent_at: Option<String>,
}

/// A due message the mailer may take, with everything to build it.
#[derive(Debug, Clone)]
pub struct DueEmail {
    /// Message id.
    pub id: String,
    /// Attempts so far (the lease moves it on from this value).
    pub attempts: i64,
    /// The message.
    pub email: NewEmail,
    /// When the script sent it (ms since the epoch): its `Date`.
    pub created_at: i64,
}

const SEND_COLUMNS: &str = "id, execution_id, sender, recipients, subject, status, attempts, \
    reply, created_at, sent_at";

#[derive(serde::Deserialize, Serialize, Default)]
struct Recipients {
    to: Vec<String>,
    cc: Vec<String>,
}

fn recipients(row: &AnyRow) -> Result<Recipients> {
    let text: String = row.try_get("recipients")?;
    serde_json::from_str(&text)
        .map_err(|e| StoreError::Corrupt(format!("stored recipients are not JSON: {e}")))
}

fn email_send(row: &AnyRow) -> Result<EmailSend> {
    let Recipients { to, cc } = recipients(row)?;
    Ok(EmailSend {
        id: row.try_get("id")?,
        execution_id: row.try_get("execution_id")?,
        from: row.try_get("sender")?,
        to,
        cc,
        subject: row.try_get("subject")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        reply: row.try_get("reply")?,
        created_at: rfc3339(row.try_get("created_at")?),
        sent_at: row.try_get::<Option<i64>, _>("sent_at")?.map(rfc3339),
    })
}

impl Store {
    /// The domain patterns the app claims, for the sender check.
    pub async fn domain_patterns(&self, app_id: AppId) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT pattern FROM app_domains WHERE app_id = $1")
                .bind(app_id.to_string())
                .fetch_all(&self.db.pool)
                .await?,
        )
    }

    /// Puts `email` into the outbox, filed under `execution`, unless the
    /// app already sent `per_hour` messages in the last hour (409
    /// `quota_exceeded`); the message id.
    pub async fn queue_email(
        &self,
        app_id: AppId,
        execution: Option<ExecutionId>,
        email: &NewEmail,
        per_hour: u32,
    ) -> Result<String> {
        let now = now_ms();
        let mut tx = self.db.begin_write().await?;
        let sent: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM email_outbox WHERE app_id = $1 AND created_at > $2",
        )
        .bind(app_id.to_string())
        .bind(now - 3_600_000)
        .fetch_one(&mut *tx)
        .await?;
        if sent >= i64::from(per_hour) {
            return Err(StoreError::QuotaExceeded(format!(
                "the app sent {sent} emails in the last hour, its hourly quota ({per_hour})"
            )));
        }
        // v7: time-ordered, so the outbox lists in sending order by id.
        let id = Uuid::now_v7().to_string();
        let recipients = serde_json::to_string(&Recipients {
            to: email.to.clone(),
            cc: email.cc.clone(),
        })
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO email_outbox (id, app_id, execution_id, sender, recipients, reply_to, \
             subject, body_text, body_html, status, attempts, available_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', 0, $10, $10)",
        )
        .bind(&id)
        .bind(app_id.to_string())
        .bind(execution.map(|e| e.to_string()))
        .bind(&email.from)
        .bind(recipients)
        .bind(email.reply_to.as_deref())
        .bind(&email.subject)
        .bind(email.text.as_deref())
        .bind(email.html.as_deref())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Up to `limit` queued messages due at `now`, oldest first. Reading
    /// takes nothing: the mailer then tries [`Store::lease_email`].
    pub async fn due_emails(&self, now: i64, limit: i64) -> Result<Vec<DueEmail>> {
        let rows = sqlx::query(
            "SELECT id, attempts, sender, recipients, reply_to, subject, body_text, body_html, \
             created_at FROM email_outbox WHERE status = 'queued' AND available_at <= $1 \
             ORDER BY available_at, id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let Recipients { to, cc } = recipients(row)?;
                Ok(DueEmail {
                    id: row.try_get("id")?,
                    attempts: row.try_get("attempts")?,
                    created_at: row.try_get("created_at")?,
                    email: NewEmail {
                        from: row.try_get("sender")?,
                        to,
                        cc,
                        reply_to: row.try_get("reply_to")?,
                        subject: row.try_get("subject")?,
                        text: row.try_get("body_text")?,
                        html: row.try_get("body_html")?,
                    },
                })
            })
            .collect()
    }

    /// Takes `email` for one attempt until `lease_until`: whether this call
    /// won it (its attempt is then `email.attempts + 1`).
    pub async fn lease_email(&self, email: &DueEmail, lease_until: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE email_outbox SET attempts = attempts + 1, available_at = $1 \
             WHERE id = $2 AND attempts = $3 AND status = 'queued'",
        )
        .bind(lease_until)
        .bind(&email.id)
        .bind(email.attempts)
        .execute(&self.db.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Attempt `attempt` of message `id` ended with the relay's `reply`:
    /// `status` `sent` or `failed` (the body goes: the record never keeps
    /// it), or, with `retry_at`, queued again for then.
    pub async fn email_attempted(
        &self,
        id: &str,
        attempt: i64,
        reply: &str,
        outcome: EmailOutcome,
    ) -> Result<()> {
        let now = now_ms();
        let query = match outcome {
            EmailOutcome::Retry { at } => sqlx::query(
                "UPDATE email_outbox SET reply = $1, available_at = $2 \
                 WHERE id = $3 AND attempts = $4 AND status = 'queued'",
            )
            .bind(reply)
            .bind(at),
            EmailOutcome::Sent => sqlx::query(
                "UPDATE email_outbox SET reply = $1, status = 'sent', sent_at = $2, \
                 body_text = NULL, body_html = NULL \
                 WHERE id = $3 AND attempts = $4 AND status = 'queued'",
            )
            .bind(reply)
            .bind(now),
            EmailOutcome::Failed => sqlx::query(
                "UPDATE email_outbox SET reply = $1, status = 'failed', available_at = $2, \
                 body_text = NULL, body_html = NULL \
                 WHERE id = $3 AND attempts = $4 AND status = 'queued'",
            )
            .bind(reply)
            .bind(now),
        };
        query.bind(id).bind(attempt).execute(&self.db.pool).await?;
        Ok(())
    }

    /// The mail execution `id` sent, in sending order.
    pub async fn emails_of_execution(&self, id: ExecutionId) -> Result<Vec<EmailSend>> {
        let rows = sqlx::query(&format!(
            "SELECT {SEND_COLUMNS} FROM email_outbox WHERE execution_id = $1 ORDER BY id"
        ))
        .bind(id.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter().map(email_send).collect()
    }

    /// The app's mail, newest first, optionally only one `status`.
    pub async fn list_emails(
        &self,
        app_id: AppId,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<EmailSend>> {
        let rows = sqlx::query(&format!(
            "SELECT {SEND_COLUMNS} FROM email_outbox WHERE app_id = $1 \
             AND ($2 = '' OR status = $2) ORDER BY id DESC LIMIT $3"
        ))
        .bind(app_id.to_string())
        .bind(status.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter().map(email_send).collect()
    }

    /// Removes the records of mail that left the outbox before `cutoff`
    /// (ms since the epoch); how many.
    pub async fn delete_old_emails(&self, cutoff: i64) -> Result<u64> {
        let done =
            sqlx::query("DELETE FROM email_outbox WHERE status <> 'queued' AND created_at < $1")
                .bind(cutoff)
                .execute(&self.db.pool)
                .await?;
        Ok(done.rows_affected())
    }
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailOutcome {
    /// The relay accepted the message.
    Sent,
    /// The relay refused it for good, or the attempts ran out.
    Failed,
    /// A temporary failure: try again at `at` (ms since the epoch).
    Retry {
        /// When.
        at: i64,
    },
}
