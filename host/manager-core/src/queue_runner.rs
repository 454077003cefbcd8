//! The queue consumer: takes ready messages of queues that have a trigger,
//! runs the trigger's script for each (trigger `queue`), and deletes the
//! message when the script returns, or schedules a retry with backoff, or
//! makes it a dead letter once it has used up its attempts.
//!
//! Rules (docs/scripting.md, "Queues"; ADR 013):
//! - **At least once.** A message is deleted only after its script
//!   returned. A run that fails (an error, a limit, a crash of the executor)
//!   is retried; a consumer that dies mid-run holds its lease only until it
//!   ends (the app's deadline plus a margin), then any consumer takes the
//!   message again.
//! - **One run at a time.** A message is taken by a conditional update
//!   ([`Store::lease_message`](crate::Store::lease_message)), so however many
//!   managers share the database, only one runs it at once.
//! - **Bounded.** At most [`ManagerConfig::queue_concurrency`] runs at once
//!   in this process and [`ManagerConfig::queue_concurrency_per_app`] per
//!   app: queue work takes execution slots like requests do, and never all
//!   of them, so HTTP traffic is not starved.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use shared::{AppId, ScriptRequest, Trigger};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::db::now_ms;
use crate::store::{EMAIL_QUEUE_PREFIX, ReadyMessage, app_limits, backoff_ms};
use crate::{Manager, Result};

/// The header naming the queue a message came from.
pub const QUEUE_HEADER: &str = "x-picloud-queue";
/// The header carrying the message's id.
pub const MESSAGE_HEADER: &str = "x-picloud-message-id";
/// The header carrying the attempt number (1 for the first run).
pub const ATTEMPT_HEADER: &str = "x-picloud-attempt";

/// How long a lease outlives the app's deadline: time to record the
/// outcome after the script stopped.
const LEASE_MARGIN_MS: i64 = 10_000;

/// Woken when a message is sent without a delay, or a run ends, so the
/// consumer looks at once instead of at its next poll.
static WAKE: LazyLock<Notify> = LazyLock::new(Notify::new);

/// Tells this process's consumers to look for ready messages now.
pub(crate) fn wake() {
    WAKE.notify_waiters();
}

/// What the consumer has running.
struct Running {
    /// Runs at once in this process.
    slots: Arc<Semaphore>,
    /// Runs at once per app.
    per_app: Mutex<HashMap<AppId, usize>>,
}

impl Manager {
    /// Consumes the apps' queues in the background until the returned
    /// handle is aborted (or the runtime stops): a pass when a message is
    /// sent or a run ends, and every [`ManagerConfig::queue_poll`] for
    /// delayed messages, retries and messages other processes sent.
    /// Aborting stops new runs; runs already started finish.
    pub fn start_queue_consumer(&self) -> JoinHandle<()> {
        let manager = self.clone();
        let running = Arc::new(Running {
            slots: Arc::new(Semaphore::new(self.config.queue_concurrency.max(1))),
            per_app: Mutex::new(HashMap::new()),
        });
        tokio::spawn(async move {
            loop {
                // Registered before the pass, so a wake during it is not lost.
                let woken = WAKE.notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                if let Err(err) = manager.consume_pass(&running).await {
                    // The database briefly away: what was ready stays ready.
                    tracing::warn!(error = %err, "queues: consumer pass failed");
                }
                tokio::select! {
                    () = woken => {}
                    () = tokio::time::sleep(manager.config.queue_poll) => {}
                }
            }
        })
    }

    /// Takes every ready message there is room for and starts its run.
    async fn consume_pass(&self, running: &Arc<Running>) -> Result<()> {
        let free = running.slots.available_permits();
        if free == 0 {
            return Ok(());
        }
        let now = now_ms();
        // More than there is room for, so an app at its share does not hide
        // the others' messages behind its own.
        let limit = i64::try_from(free * 8).unwrap_or(i64::MAX);
        for message in self.store.ready_messages(now, limit).await? {
            let Ok(slot) = running.slots.clone().try_acquire_owned() else {
                break;
            };
            {
                let mut per_app = running.per_app.lock().unwrap_or_else(|e| e.into_inner());
                let count = per_app.entry(message.app_id).or_default();
                if *count >= self.config.queue_concurrency_per_app.max(1) {
                    continue;
                }
                *count += 1;
            }
            let lease_until = now + self.lease_ms(&message).await?;
            let payload = match self.store.lease_message(&message, now, lease_until).await {
                Ok(Some(payload)) => payload,
                // Another consumer took it, or it is gone.
                other => {
                    release(running, message.app_id);
                    other?;
                    continue;
                }
            };
            let manager = self.clone();
            let running = running.clone();
            tokio::spawn(async move {
                let _slot = slot;
                let app = message.app_id;
                if let Err(err) = manager.run_message(&message, payload).await {
                    // The lease runs out and the message is taken again.
                    tracing::warn!(message = %message.id, error = %err, "queues: a run could not be recorded");
                }
                release(&running, app);
                wake();
            });
        }
        Ok(())
    }

    /// How long a consumer holds `message`: its app's deadline and a margin.
    async fn lease_ms(&self, message: &ReadyMessage) -> Result<i64> {
        let limits = self.store.app_limits_of(message.app_id).await?;
        let deadline = app_limits(limits.as_deref()).deadline_ms;
        Ok(i64::try_from(deadline).unwrap_or(i64::MAX / 2) + LEASE_MARGIN_MS)
    }

    /// One run of a leased message; records the outcome on the message.
    async fn run_message(&self, message: &ReadyMessage, payload: String) -> Result<()> {
        let attempt = message.attempts + 1;
        // Inbound mail rides an internal queue (`email:<local part>`): its
        // run is an `email` one, its path the address it was sent to.
        let (trigger, method, path) = match message.queue.strip_prefix(EMAIL_QUEUE_PREFIX) {
            Some(local) => (Trigger::Email, "EMAIL", format!("/{local}")),
            None => (Trigger::Queue, "QUEUE", format!("/{}", message.queue)),
        };
        let request = ScriptRequest {
            method: method.into(),
            path,
            headers: vec![
                (QUEUE_HEADER.into(), message.queue.clone()),
                (MESSAGE_HEADER.into(), message.id.clone()),
                (ATTEMPT_HEADER.into(), attempt.to_string()),
                ("content-type".into(), "application/json".into()),
            ],
            body: payload.into_bytes(),
            id: shared::new_request_id(),
            ..ScriptRequest::default()
        };
        let run = self
            .run_in_background(message.app_id, message.script_id, trigger, request)
            .await?;
        let failure = match run {
            // The trigger's script went with its trigger: nothing consumes
            // the queue now, and the message waits for a new trigger.
            None => Some("the trigger's script no longer exists".to_owned()),
            Some(run) => run
                .error
                .map(|e| format!("{}: {} (execution {})", e.code, e.message, run.execution_id)),
        };
        match failure {
            None => self.store.message_done(&message.id, attempt).await?,
            Some(error) => {
                let retry_at = (attempt < message.max_attempts)
                    .then(|| now_ms().saturating_add(backoff_ms(attempt)));
                if retry_at.is_none() {
                    tracing::warn!(message = %message.id, queue = %message.queue, attempts = attempt, "queues: a message became a dead letter");
                }
                self.store
                    .message_failed(&message.id, attempt, &error, retry_at)
                    .await?;
            }
        }
        Ok(())
    }
}

fn release(running: &Running, app: AppId) {
    let mut per_app = running.per_app.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(count) = per_app.get_mut(&app) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            per_app.remove(&app);
        }
    }
}
