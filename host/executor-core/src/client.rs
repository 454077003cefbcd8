//! The in-process [`ExecutorClient`]: runs executions as futures on the
//! caller's runtime (long ones finish on the long lane, ADR 004), at most
//! `max_concurrent` at a time (one per pooled instance slot).

use std::sync::Arc;

use async_trait::async_trait;
use shared::{ExecutionError, ExecutionOutcome, ExecutionRequest, ExecutorClient};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::lane::LongLane;
use crate::{Executor, ExecutorConfig, Result};

/// An [`Executor`] behind the [`ExecutorClient`] trait, for the all-in-one
/// binary and for executor nodes.
#[derive(Debug, Clone)]
pub struct LocalExecutor {
    executor: Arc<Executor>,
    slots: Arc<Semaphore>,
    lane: Arc<LongLane>,
}

impl LocalExecutor {
    /// Builds the executor (see [`Executor::new`]).
    pub fn new(config: ExecutorConfig) -> Result<Self> {
        let slots = Arc::new(Semaphore::new(config.max_concurrent.max(1) as usize));
        Ok(LocalExecutor {
            executor: Arc::new(Executor::new(config)?),
            slots,
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
        let permit = match self.slot(patience).await {
            Ok(permit) => permit,
            Err(error) => {
                return ExecutionOutcome {
                    outcome: Err(error),
                    fuel_used: 0,
                    duration: Default::default(),
                    logs: Vec::new(),
                    logs_dropped: 0,
                };
            }
        };
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
            executor.execute(request).await
        };
        self.lane.run(job).await
    }

    async fn check(&self, source: &str) -> Result<(), ExecutionError> {
        let _permit = self.slot(shared::Limits::default().deadline()).await?;
        self.executor.check(source).await
    }
}
