//! Cron triggers: an app's scripts bound to schedules, and the claim that
//! lets any number of schedulers share them.
//!
//! A trigger stores the next tick it fires at (`next_run_at`). A scheduler
//! fires a due tick only after it has moved that column on, from the exact
//! value it read to the following tick, in one conditional `UPDATE`
//! ([`Store::claim_trigger`]). Two schedulers that read the same due tick
//! both try; the database applies the updates one after the other (SQLite
//! takes its write lock, PostgreSQL's second `UPDATE` waits for the first
//! and re-checks its `WHERE` against the committed row), so the second finds
//! the column changed and matches nothing. That row is the lock: no lease to
//! expire and no process that must stay alive.

use serde::Serialize;
use shared::{AppId, ScriptId};
use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use super::Store;
use crate::cron_expr::{DEFAULT_TIMEZONE, Schedule};
use crate::db::{now_ms, rfc3339};
use crate::error::ErrorCode;
use crate::store::{Result, StoreError};

/// Most triggers one app may have.
pub const MAX_TRIGGERS_PER_APP: i64 = 100;

/// A trigger as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CronTrigger {
    /// UUID.
    pub id: String,
    /// The script it runs (one of the same app's).
    #[schema(value_type = String)]
    pub script_id: ScriptId,
    /// That script's name.
    pub script_name: String,
    /// Five-field cron expression: minute hour day-of-month month day-of-week.
    pub schedule: String,
    /// IANA time zone the schedule is read in.
    pub timezone: String,
    /// Whether it fires.
    pub enabled: bool,
    /// RFC 3339: the next time it fires; `null` while disabled.
    pub next_run_at: Option<String>,
    /// RFC 3339: the last time the scheduler fired it; `null` = never.
    pub last_run_at: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: the last change through the API.
    pub updated_at: String,
}

/// A new trigger, as the admin API receives it.
#[derive(Debug, Clone)]
pub struct NewTrigger {
    /// Script id or name, in the trigger's app.
    pub script: String,
    /// Cron expression.
    pub schedule: String,
    /// IANA time zone; `None` = UTC.
    pub timezone: Option<String>,
    /// Whether it fires (the API's default is `true`).
    pub enabled: bool,
}

/// Changes to a trigger; `None` keeps the field.
#[derive(Debug, Clone, Default)]
pub struct TriggerChanges {
    /// Another script of the app, by id or name.
    pub script: Option<String>,
    /// A new cron expression.
    pub schedule: Option<String>,
    /// A new IANA time zone.
    pub timezone: Option<String>,
    /// Pause or resume.
    pub enabled: Option<bool>,
}

/// A tick that is due, as [`Store::due_triggers`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTrigger {
    /// The trigger.
    pub id: String,
    /// Its app.
    pub app_id: AppId,
    /// The script to run.
    pub script_id: ScriptId,
    /// Its cron expression.
    pub schedule: String,
    /// Its time zone.
    pub timezone: String,
    /// The tick (ms since the epoch): `next_run_at` as it was read.
    pub due_at: i64,
}

/// What a fired trigger runs: the script's current source and its app's
/// stored limit overrides.
#[derive(Debug, Clone)]
pub(crate) struct TriggerTarget {
    pub(crate) source: String,
    pub(crate) limits: Option<String>,
    /// The app's slug, for the execution metrics.
    pub(crate) app_slug: String,
    /// The version of the source.
    pub(crate) version: i64,
    /// The script's name.
    pub(crate) name: String,
}

const COLUMNS: &str = "t.id, t.script_id, s.name AS script_name, t.schedule, t.timezone, \
    t.enabled, t.next_run_at, t.last_run_at, t.created_at, t.updated_at";
const FROM: &str = "FROM cron_triggers t JOIN scripts s ON s.id = t.script_id";

fn trigger(row: &AnyRow) -> Result<CronTrigger> {
    Ok(CronTrigger {
        id: row.try_get("id")?,
        script_id: super::id_column(row, "script_id")?,
        script_name: row.try_get("script_name")?,
        schedule: row.try_get("schedule")?,
        timezone: row.try_get("timezone")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        next_run_at: row.try_get::<Option<i64>, _>("next_run_at")?.map(rfc3339),
        last_run_at: row.try_get::<Option<i64>, _>("last_run_at")?.map(rfc3339),
        created_at: rfc3339(row.try_get("created_at")?),
        updated_at: rfc3339(row.try_get("updated_at")?),
    })
}

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// The id of the app's script named by `script` (an id, else a name);
/// 400 `invalid_script` when the app has none such: a trigger may only run
/// its own app's scripts, and another app's script id is "none such" here.
pub(crate) async fn script_in_app(tx: &mut Tx, app_id: AppId, script: &str) -> Result<String> {
    script_of_app(tx, app_id, script, "a trigger runs").await
}

/// [`script_in_app`] for whatever `role` says runs the script (`an
/// interceptor runs`), in the error message.
pub(crate) async fn script_of_app(
    tx: &mut Tx,
    app_id: AppId,
    script: &str,
    role: &str,
) -> Result<String> {
    let id: Option<String> = sqlx::query_scalar(
        "SELECT id FROM scripts WHERE app_id = $1 AND (id = $2 OR name = $2)
         ORDER BY CASE WHEN id = $2 THEN 0 ELSE 1 END LIMIT 1",
    )
    .bind(app_id.to_string())
    .bind(script)
    .fetch_optional(&mut **tx)
    .await?;
    id.ok_or_else(|| {
        StoreError::bad_request(
            ErrorCode::InvalidScript,
            format!(
                "this app has no script '{script}': {role} one of its own app's scripts, named by id or name"
            ),
        )
    })
}

impl Store {
    /// The app's triggers, oldest first.
    pub async fn list_triggers(&self, app_id: AppId) -> Result<Vec<CronTrigger>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} {FROM} WHERE t.app_id = $1 ORDER BY t.created_at, t.id"
        ))
        .bind(app_id.to_string())
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter().map(trigger).collect()
    }

    /// One of the app's triggers; 404 when the app has none by that id
    /// (also when another app does).
    pub async fn trigger(&self, app_id: AppId, id: &str) -> Result<CronTrigger> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} {FROM} WHERE t.app_id = $1 AND t.id = $2"
        ))
        .bind(app_id.to_string())
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?
        .ok_or_else(|| StoreError::not_found("trigger", id))?;
        trigger(&row)
    }

    /// Creates a trigger. Its first tick is the schedule's first time after
    /// now: creating one never fires it at once. 400 `invalid_schedule`,
    /// `invalid_timezone` or `invalid_script`; 409 `quota_exceeded` beyond
    /// [`MAX_TRIGGERS_PER_APP`].
    pub async fn create_trigger(&self, app_id: AppId, new: &NewTrigger) -> Result<CronTrigger> {
        let schedule = Schedule::parse(
            &new.schedule,
            new.timezone.as_deref().unwrap_or(DEFAULT_TIMEZONE),
        )?;
        let mut tx = self.db.begin_write().await?;
        let script_id = script_in_app(&mut tx, app_id, &new.script).await?;
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cron_triggers WHERE app_id = $1")
            .bind(app_id.to_string())
            .fetch_one(&mut *tx)
            .await?;
        if count >= MAX_TRIGGERS_PER_APP {
            return Err(StoreError::QuotaExceeded(format!(
                "the app has {count} cron triggers, the most it may ({MAX_TRIGGERS_PER_APP}); delete one first"
            )));
        }
        // v7: ids sort in creation order, which the list's tie-break relies
        // on when two triggers are created in the same millisecond.
        let id = Uuid::now_v7().to_string();
        let now = now_ms();
        let next = new.enabled.then(|| schedule.next_after(now)).flatten();
        sqlx::query(
            "INSERT INTO cron_triggers (id, app_id, script_id, schedule, timezone, enabled, next_run_at, last_run_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $8)",
        )
        .bind(&id)
        .bind(app_id.to_string())
        .bind(&script_id)
        .bind(schedule.expression())
        .bind(schedule.timezone())
        .bind(i64::from(new.enabled))
        .bind(next)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.trigger(app_id, &id).await
    }

    /// Changes a trigger. A new schedule or time zone, or resuming a paused
    /// trigger, moves its next tick to the schedule's first time after now
    /// (never at once); pausing clears it. Changing only the script keeps the
    /// tick. Errors as for [`Store::create_trigger`], and 404.
    pub async fn update_trigger(
        &self,
        app_id: AppId,
        id: &str,
        changes: &TriggerChanges,
    ) -> Result<CronTrigger> {
        let mut tx = self.db.begin_write().await?;
        let current: Option<(String, String, String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT script_id, schedule, timezone, enabled, next_run_at FROM cron_triggers WHERE app_id = $1 AND id = $2",
        )
        .bind(app_id.to_string())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((script_id, schedule, timezone, enabled, next_run_at)) = current else {
            return Err(StoreError::not_found("trigger", id));
        };
        let was_enabled = enabled != 0;
        let retimed = changes.schedule.is_some() || changes.timezone.is_some();
        let schedule = Schedule::parse(
            changes.schedule.as_deref().unwrap_or(&schedule),
            changes.timezone.as_deref().unwrap_or(&timezone),
        )?;
        let script_id = match &changes.script {
            Some(script) => script_in_app(&mut tx, app_id, script).await?,
            None => script_id,
        };
        let enabled = changes.enabled.unwrap_or(was_enabled);
        let now = now_ms();
        let next = match (enabled, was_enabled && !retimed) {
            (false, _) => None,
            // Kept as it is, unless there was none (a schedule that had run
            // out, or one that stopped parsing): then from now on.
            (true, true) => next_run_at.or_else(|| schedule.next_after(now)),
            (true, false) => schedule.next_after(now),
        };
        sqlx::query(
            "UPDATE cron_triggers SET script_id = $1, schedule = $2, timezone = $3, enabled = $4,
                 next_run_at = $5, updated_at = $6
             WHERE app_id = $7 AND id = $8",
        )
        .bind(&script_id)
        .bind(schedule.expression())
        .bind(schedule.timezone())
        .bind(i64::from(enabled))
        .bind(next)
        .bind(now)
        .bind(app_id.to_string())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.trigger(app_id, id).await
    }

    /// Deletes one of the app's triggers; 404 when it has none by that id.
    pub async fn delete_trigger(&self, app_id: AppId, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM cron_triggers WHERE app_id = $1 AND id = $2")
            .bind(app_id.to_string())
            .bind(id)
            .execute(&self.db.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("trigger", id));
        }
        Ok(())
    }

    /// Up to `limit` enabled triggers whose tick is at or before `now_ms`,
    /// earliest first (the `cron_triggers_due` index answers it). Finding a
    /// trigger here does not mean this process may fire it: see
    /// [`Store::claim_trigger`].
    pub async fn due_triggers(&self, now_ms: i64, limit: i64) -> Result<Vec<DueTrigger>> {
        let rows: Vec<(String, String, String, String, String, i64)> = sqlx::query_as(
            "SELECT id, app_id, script_id, schedule, timezone, next_run_at FROM cron_triggers
             WHERE enabled = 1 AND next_run_at <= $1 ORDER BY next_run_at, id LIMIT $2",
        )
        .bind(now_ms)
        .bind(limit.max(1))
        .fetch_all(&self.db.pool)
        .await?;
        rows.into_iter()
            .map(|(id, app_id, script_id, schedule, timezone, due_at)| {
                Ok(DueTrigger {
                    id,
                    app_id: super::id(&app_id)?,
                    script_id: super::id(&script_id)?,
                    schedule,
                    timezone,
                    due_at,
                })
            })
            .collect()
    }

    /// Claims `due`'s tick for this process: moves the trigger's next tick
    /// from `due.due_at` to the schedule's first time after `now_ms` and
    /// records `now_ms` as its last run, in one conditional `UPDATE`. `true`
    /// means this caller won the tick and must fire it, once; `false` means
    /// another scheduler did (or the trigger was paused, changed or deleted
    /// since it was read), and it must not.
    ///
    /// Ticks missed while no scheduler ran are coalesced: however far
    /// `due_at` lies behind `now_ms`, one claim covers them all and the next
    /// tick is after `now_ms`.
    pub async fn claim_trigger(&self, due: &DueTrigger, now_ms: i64) -> Result<bool> {
        let next = match Schedule::stored(&due.schedule, &due.timezone) {
            Ok(schedule) => schedule.next_after(now_ms),
            Err(err) => {
                // Only a zone dropped from a newer tz database could get here.
                // The due tick still fires; leaving no next tick parks the
                // trigger instead of repeating this error every second.
                tracing::error!(trigger = %due.id, error = %err, "a stored cron trigger no longer parses; it will not fire again until its schedule is changed");
                None
            }
        };
        let done = sqlx::query(
            "UPDATE cron_triggers SET next_run_at = $1, last_run_at = $2
             WHERE id = $3 AND next_run_at = $4 AND enabled = 1",
        )
        .bind(next)
        .bind(now_ms)
        .bind(&due.id)
        .bind(due.due_at)
        .execute(&self.db.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// What `script_id` runs now: its source and its app's limit overrides.
    /// `None` when the script is gone.
    /// An app's stored limit overrides (JSON), if the app exists.
    pub(crate) async fn app_limits_of(&self, app_id: AppId) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar::<_, Option<String>>("SELECT limits FROM apps WHERE id = $1")
                .bind(app_id.to_string())
                .fetch_optional(&self.db.pool)
                .await?
                .flatten(),
        )
    }

    pub(crate) async fn trigger_target(
        &self,
        script_id: ScriptId,
    ) -> Result<Option<TriggerTarget>> {
        let row: Option<(String, Option<String>, String, i64, String)> = sqlx::query_as(
            "SELECT s.source, a.limits, a.slug, s.version, s.name FROM scripts s JOIN apps a ON a.id = s.app_id WHERE s.id = $1",
        )
        .bind(script_id.to_string())
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(
            row.map(|(source, limits, app_slug, version, name)| TriggerTarget {
                source,
                limits,
                app_slug,
                version,
                name,
            }),
        )
    }
}
