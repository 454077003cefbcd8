//! The in-process [`ExecutorClient`]: runs executions as futures on the
//! caller's runtime, at most `max_concurrent` at a time (one per pooled
//! instance slot).

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use shared::{ExecutionError, ExecutionOutcome, ExecutionRequest, ExecutorClient};
use tokio::sync::Semaphore;

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

    /// Runs `job` once a slot is free. Waiting is bounded by `patience` (the
    /// execution's own deadline): a request that could not even start in that
    /// time gets `executor_overloaded` (503, Retry-After) instead of queueing
    /// without bound.
    ///
    /// The job starts in the calling task: no hand-off to a blocking thread
    /// and back (two context switches per request, most of the request path's
    /// cost for short scripts; ADR 002). A long script yields every
    /// [`YIELD_FUEL`](crate::YIELD_FUEL) units of fuel, so other tasks on
    /// the same worker keep being served, and an execution still running
    /// after [`FOREGROUND_BUDGET`](crate::FOREGROUND_BUDGET) finishes on the
    /// lower-priority long lane (ADR 004).
    async fn run<'a, R, F>(
        &'a self,
        patience: std::time::Duration,
        job: impl FnOnce(&'a Executor) -> F,
    ) -> Result<R, ExecutionError>
    where
        F: Future<Output = R> + 'a,
    {
        let _permit = tokio::time::timeout(patience, self.slots.acquire())
            .await
            .map_err(|_| ExecutionError::Overloaded)?
            .map_err(|_| ExecutionError::Overloaded)?;
        Ok(job(&self.executor).await)
    }
}

#[async_trait]
impl ExecutorClient for LocalExecutor {
    async fn execute(&self, request: ExecutionRequest) -> ExecutionOutcome {
        let patience = request
            .limits
            .capped_by(self.executor.max_limits())
            .deadline();
        // The lane may move the job to another runtime, so it owns its
        // executor handle instead of borrowing this one.
        let executor = self.executor.clone();
        let job = async move { executor.execute(request).await };
        match self.run(patience, move |_| self.lane.run(job)).await {
            Ok(outcome) => outcome,
            Err(error) => ExecutionOutcome {
                outcome: Err(error),
                fuel_used: 0,
                duration: Default::default(),
                logs: Vec::new(),
                logs_dropped: 0,
            },
        }
    }

    async fn check(&self, source: &str) -> Result<(), ExecutionError> {
        let patience = shared::Limits::default().deadline();
        self.run(patience, move |executor| executor.check(source))
            .await?
    }
}
