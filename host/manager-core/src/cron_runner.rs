//! The cron scheduler: finds due triggers, claims each tick, and runs the
//! trigger's script through the executor the way the orchestrator runs a
//! route, recording every run in the execution log with trigger `cron`.
//!
//! Rules (docs/api.md, "Cron triggers"):
//! - **Once per tick**, however many managers share the database: a tick
//!   fires only in the process whose claim moved the trigger's `next_run_at`
//!   on ([`Store::claim_trigger`](crate::Store::claim_trigger)). If the
//!   database loses the answer to a successful claim, that tick is skipped,
//!   never fired twice: at most once, and exactly once while the database
//!   answers.
//! - **Missed ticks are coalesced**: after downtime (or when a pass ran
//!   late), a trigger whose tick lies in the past fires once, for the most
//!   recent missed tick, and its next tick is the schedule's first time after
//!   now. Ticks are never replayed one by one.
//! - A new or resumed trigger starts at its schedule's first time after now.

use std::time::SystemTime;

use shared::{
    AppId, ExecutionId, ExecutionRecord, ExecutionRecorder as _, ExecutionRequest, ScriptId,
    ScriptRequest, Trigger,
};
use tokio::task::JoinHandle;

use crate::db::{now_ms, to_ms};
use crate::store::{DueTrigger, ExecutionFailure, app_limits};
use crate::{Manager, Result};

/// Due triggers read per query.
const BATCH: i64 = 100;
/// Queries per pass at most, so one pass ends even if triggers keep coming due
/// (with several schedulers, one may keep finding rows another just claimed).
const MAX_BATCHES: usize = 20;

/// The header naming the trigger that started a cron run.
pub const TRIGGER_HEADER: &str = "x-picloud-cron-trigger";
/// The header carrying that trigger's schedule.
pub const SCHEDULE_HEADER: &str = "x-picloud-cron-schedule";

/// One run of a trigger's script, as [`Manager::run_trigger_now`] reports it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TriggerRun {
    /// The execution-log record of the run (trigger `cron`).
    pub execution_id: String,
    /// The status the script answered, or the error's status.
    pub status: u16,
    /// Wall time including sandbox start, in fractional milliseconds.
    pub duration_ms: f64,
    /// Why the script failed, when it did.
    pub error: Option<ExecutionFailure>,
}

impl Manager {
    /// One scheduler pass at `now`: claims every tick due by then and runs
    /// each claimed trigger's script, each in its own task. Returns how many
    /// triggers fired, once their runs have finished and are queued for the
    /// execution log ([`Recorder::flush`](crate::Recorder::flush) makes them
    /// readable). [`Manager::start_scheduler`] calls the same pass every
    /// second without waiting for the runs; tests call this with the clock
    /// they choose.
    pub async fn run_due_triggers(&self, now: SystemTime) -> Result<usize> {
        let runs = self.start_due_triggers(to_ms(now)).await?;
        let fired = runs.len();
        for run in runs {
            if let Err(err) = run.await {
                tracing::error!(error = %err, "a cron run's task failed");
            }
        }
        Ok(fired)
    }

    /// Runs a scheduler pass every `scheduler_interval` (one second by
    /// default) in the background until the returned handle is aborted (or
    /// the runtime stops). A pass does not wait for the scripts it starts,
    /// so a slow script delays neither other triggers nor the next pass.
    /// Aborting the handle stops new runs; runs already started finish.
    pub fn start_scheduler(&self) -> JoinHandle<()> {
        let manager = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(manager.config.scheduler_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match manager.start_due_triggers(now_ms()).await {
                    // The runs go on by themselves; their handles are not needed.
                    Ok(runs) if runs.is_empty() => {}
                    Ok(runs) => tracing::debug!(fired = runs.len(), "cron: fired due triggers"),
                    // A failed pass (database briefly away) is retried next
                    // tick; what was due then is still due (and coalesced).
                    Err(err) => tracing::warn!(error = %err, "cron: scheduler pass failed"),
                }
            }
        })
    }

    /// Claims the ticks due by `now_ms` and starts a task per won claim.
    async fn start_due_triggers(&self, now_ms: i64) -> Result<Vec<JoinHandle<()>>> {
        let mut runs = Vec::new();
        for _ in 0..MAX_BATCHES {
            let due = self.store.due_triggers(now_ms, BATCH).await?;
            let more = due.len() as i64 == BATCH;
            for trigger in due {
                if self.store.claim_trigger(&trigger, now_ms).await? {
                    let manager = self.clone();
                    runs.push(tokio::spawn(async move {
                        if let Err(err) = manager.fire(&trigger).await {
                            tracing::warn!(trigger = %trigger.id, error = %err, "cron: a claimed trigger could not run");
                        }
                    }));
                }
            }
            if !more {
                break;
            }
        }
        Ok(runs)
    }

    /// Runs a claimed trigger's script once.
    async fn fire(&self, due: &DueTrigger) -> Result<Option<TriggerRun>> {
        self.run_trigger(due.app_id, due.script_id, &due.id, &due.schedule)
            .await
    }

    /// Runs one of the app's triggers once now, outside its schedule (the
    /// admin API's `POST /apps/{app}/triggers/{id}/run`), exactly as the
    /// scheduler would; its `next_run_at` and `last_run_at` stay as they are.
    pub async fn run_trigger_now(&self, app_id: AppId, trigger_id: &str) -> Result<TriggerRun> {
        let trigger = self.store.trigger(app_id, trigger_id).await?;
        self.run_trigger(app_id, trigger.script_id, &trigger.id, &trigger.schedule)
            .await?
            // The script went between the two reads: its trigger went with it.
            .ok_or_else(|| crate::Error::not_found("trigger", trigger_id))
    }

    /// Runs `script_id` (its current source, its app's limits) as a cron
    /// run of trigger `trigger_id` and records it. `None` when the script no
    /// longer exists (deleted after the claim).
    async fn run_trigger(
        &self,
        app_id: AppId,
        script_id: ScriptId,
        trigger_id: &str,
        schedule: &str,
    ) -> Result<Option<TriggerRun>> {
        let request = ScriptRequest {
            method: "CRON".into(),
            path: "/".into(),
            headers: vec![
                (TRIGGER_HEADER.into(), trigger_id.into()),
                (SCHEDULE_HEADER.into(), schedule.into()),
            ],
            id: shared::new_request_id(),
            ..ScriptRequest::default()
        };
        self.run_in_background(app_id, script_id, Trigger::Cron, request)
            .await
    }

    /// Runs `script_id` (its current source, its app's limits) for a
    /// trigger that is not a client's request (cron, queue), and records
    /// the run with `trigger`. `None` when the script no longer exists.
    pub(crate) async fn run_in_background(
        &self,
        app_id: AppId,
        script_id: ScriptId,
        trigger: Trigger,
        request: ScriptRequest,
    ) -> Result<Option<TriggerRun>> {
        let Some(target) = self.store.trigger_target(script_id).await? else {
            return Ok(None);
        };
        let (request_id, request_headers) = (request.id.clone(), request.headers.clone());
        let (method, path) = (request.method.clone(), request.path.clone());
        let started_at = SystemTime::now();
        let id = ExecutionId::new();
        let modules = self.store.modules_of(app_id, script_id).await?;
        let used = modules.iter().map(shared::ModuleSource::usage).collect();
        let mut outcome = self
            .executor
            .execute(ExecutionRequest {
                execution_id: id,
                app_id,
                script_id,
                route_id: None,
                source: target.source.into(),
                request,
                limits: app_limits(target.limits.as_deref()),
                trigger,
                name: target.name,
                modules: modules.into(),
                kind: shared::ExecutionKind::Handler,
            })
            .await;
        shared::metrics::metrics().observe_execution(&target.app_slug, trigger, &outcome);
        let (status, error) = match &mut outcome.outcome {
            Ok(response) => {
                // Nobody reads a background run's body and the log never
                // stores bodies: drop it before the record waits in the queue.
                response.body = Vec::new();
                (response.status, None)
            }
            Err(err) => {
                let position = err.position();
                (
                    err.http_status(),
                    Some(ExecutionFailure {
                        code: err.code().to_owned(),
                        message: err.to_string(),
                        line: position.map(|p| i64::from(p.line)),
                        column: position.map(|p| i64::from(p.column)),
                    }),
                )
            }
        };
        let run = TriggerRun {
            execution_id: id.to_string(),
            status,
            duration_ms: outcome.duration.as_secs_f64() * 1000.0,
            error,
        };
        self.recorder.record(ExecutionRecord {
            id,
            app_id,
            script_id,
            route_id: None,
            script_version: target.version,
            trigger,
            method,
            path,
            host: String::new(),
            request_id,
            request_headers,
            status,
            response_bytes: 0,
            started_at,
            outcome,
            parent_id: None,
            modules: used,
            interceptors: Vec::new(),
        });
        Ok(Some(run))
    }
}
