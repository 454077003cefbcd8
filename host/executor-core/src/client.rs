//! The in-process [`ExecutorClient`]: runs executions as futures on the
//! caller's runtime (long ones finish on the long lane, ADR 004), at most
//! `max_concurrent` at a time (one per pooled instance slot), and at most
//! `max_concurrent_per_app` of them for one app, so one busy app cannot
//! make every other app wait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use shared::{AppId, ExecutionError, ExecutionOutcome, ExecutionRequest, ExecutorClient};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::lane::LongLane;
use crate::{Executor, ExecutorConfig, Result};

/// An [`Executor`] behind the [`ExecutorClient`] trait, for the all-in-one
/// binary and for executor nodes.
#[derive(Debug, Clone)]
pub struct LocalExecutor {
    executor: Arc<Executor>,
    slots: Arc<Semaphore>,
    shares: Option<Arc<AppShares>>,
    lane: Arc<LongLane>,
}

/// Each app's share of the slots: a semaphore per app with executions in
/// flight or waiting, and a bound on how many may wait.
#[derive(Debug)]
struct AppShares {
    per_app: usize,
    max_waiting: usize,
    apps: Mutex<HashMap<AppId, AppGate>>,
}

#[derive(Debug)]
struct AppGate {
    permits: Arc<Semaphore>,
    /// Executions holding or waiting for a permit of this gate.
    users: usize,
}

/// An app's place in its gate; leaving (drop) forgets an idle app.
struct Member<'a> {
    shares: &'a Arc<AppShares>,
    app: AppId,
}

impl Drop for Member<'_> {
    fn drop(&mut self) {
        let mut apps = self.shares.apps.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(gate) = apps.get_mut(&self.app) {
            gate.users -= 1;
            if gate.users == 0 {
                apps.remove(&self.app);
            }
        }
    }
}

impl AppShares {
    /// Joins the app's gate, unless as many of its executions already wait
    /// as the queue holds.
    fn join(self: &Arc<Self>, app: AppId) -> Option<(Member<'_>, Arc<Semaphore>)> {
        let mut apps = self.apps.lock().unwrap_or_else(|e| e.into_inner());
        let gate = apps.entry(app).or_insert_with(|| AppGate {
            permits: Arc::new(Semaphore::new(self.per_app)),
            users: 0,
        });
        if gate.users >= self.per_app + self.max_waiting {
            return None;
        }
        gate.users += 1;
        Some((Member { shares: self, app }, gate.permits.clone()))
    }
}

impl LocalExecutor {
    /// Builds the executor (see [`Executor::new`]).
    pub fn new(config: ExecutorConfig) -> Result<Self> {
        let total = config.max_concurrent.max(1) as usize;
        let slots = Arc::new(Semaphore::new(total));
        let per_app = config
            .max_concurrent_per_app
            .map_or(total / 2, |n| n as usize)
            .max(1);
        // A share of every slot is no gate at all.
        let shares = (per_app < total).then(|| {
            Arc::new(AppShares {
                per_app,
                // An app's own queue, then refusals.
                max_waiting: config.max_queued_per_app as usize,
                apps: Mutex::default(),
            })
        });
        Ok(LocalExecutor {
            executor: Arc::new(Executor::new(config)?),
            slots,
            shares,
            lane: Arc::new(LongLane::start().map_err(crate::Error::Runtime)?),
        })
    }

    /// Waits for a free slot. Waiting is bounded by `patience` (the
    /// execution's own deadline): a request that could not even start in that
    /// time gets `executor_overloaded` (503, Retry-After) instead of queueing
    /// without bound.
    async fn slot(
        &self,
        patience: std::time::Duration,
    ) -> Result<OwnedSemaphorePermit, ExecutionError> {
        tokio::time::timeout(patience, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| ExecutionError::Overloaded)?
            .map_err(|_| ExecutionError::Overloaded)
    }
}

#[async_trait]
impl ExecutorClient for LocalExecutor {
    async fn execute(&self, request: ExecutionRequest) -> ExecutionOutcome {
        let patience = request
            .limits
            .capped_by(self.executor.max_limits())
            .deadline();
        let refused = ExecutionOutcome::failed;
        let waited_since = tokio::time::Instant::now();
        let metrics = shared::metrics::metrics();
        let waiting = shared::metrics::GaugeGuard::hold(&metrics.waiting);
        // First the app's share, then a slot: an app at its share waits in
        // its own queue, and other apps' requests pass it by.
        let (member, app_permit) = match &self.shares {
            None => (None, None),
            Some(shares) => {
                let Some((member, gate)) = shares.join(request.app_id) else {
                    return refused(ExecutionError::AppOverloaded);
                };
                match tokio::time::timeout(patience, gate.acquire_owned()).await {
                    Ok(Ok(permit)) => (Some(member), Some(permit)),
                    _ => return refused(ExecutionError::AppOverloaded),
                }
            }
        };
        let left = patience.saturating_sub(waited_since.elapsed());
        let permit = match self.slot(left).await {
            Ok(permit) => permit,
            Err(error) => return refused(error),
        };
        drop(waiting);
        let running = shared::metrics::GaugeGuard::hold(&metrics.in_flight);
        // The job starts in this task: no hand-off to a blocking thread and
        // back (two context switches per request, most of the request path's
        // cost for short scripts; ADR 002). A long script yields every
        // YIELD_FUEL units of fuel, so other tasks on the same worker keep
        // being served, and one still running after FOREGROUND_BUDGET
        // finishes on the lower-priority long lane (ADR 004).
        //
        // The lane may move the job to another runtime, so the job owns its
        // executor handle, and its slot: when the client goes away while the
        // job runs on the lane, the job is aborted there a moment later, and
        // the slot must stay taken until then, or a new execution could find
        // the instance pool full.
        let executor = self.executor.clone();
        let job = async move {
            let _permit = permit;
            let _app_permit = app_permit;
            let _running = running;
            executor.execute(request).await
        };
        let outcome = self.lane.run(job).await;
        drop(member);
        outcome
    }

    async fn check(&self, source: &str) -> Result<Vec<shared::ImportRef>, ExecutionError> {
        let _permit = self.slot(shared::Limits::default().deadline()).await?;
        self.executor.check(source).await
    }
}
