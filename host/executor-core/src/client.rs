//! The in-process [`ExecutorClient`]: runs executions on tokio's blocking pool,
//! at most `max_concurrent` at a time (one per pooled instance slot).

use std::sync::Arc;

use async_trait::async_trait;
use shared::{ExecutionError, ExecutionOutcome, ExecutionRequest, ExecutorClient};
use tokio::sync::Semaphore;

use crate::{Executor, ExecutorConfig, Result};

/// An [`Executor`] behind the [`ExecutorClient`] trait, for the all-in-one
/// binary and for executor nodes.
#[derive(Debug, Clone)]
pub struct LocalExecutor {
    executor: Arc<Executor>,
    slots: Arc<Semaphore>,
}

impl LocalExecutor {
    /// Builds the executor (see [`Executor::new`]).
    pub fn new(config: ExecutorConfig) -> Result<Self> {
        let slots = Arc::new(Semaphore::new(config.max_concurrent.max(1) as usize));
        Ok(LocalExecutor {
            executor: Arc::new(Executor::new(config)?),
            slots,
        })
    }

    /// Runs `job` once a slot is free. Waiting is bounded by `patience` (the
    /// execution's own deadline): a request that could not even start in that
    /// time gets `executor_overloaded` (503, Retry-After) instead of queueing
    /// without bound.
    async fn run<R: Send + 'static>(
        &self,
        patience: std::time::Duration,
        job: impl FnOnce(&Executor) -> R + Send + 'static,
    ) -> Result<R, ExecutionError> {
        let _permit = tokio::time::timeout(patience, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| ExecutionError::Overloaded)?
            .map_err(|_| ExecutionError::Overloaded)?;
        let executor = self.executor.clone();
        tokio::task::spawn_blocking(move || job(&executor))
            .await
            .map_err(|err| {
                tracing::error!(error = %err, "execution task failed");
                ExecutionError::Internal
            })
    }
}

#[async_trait]
impl ExecutorClient for LocalExecutor {
    async fn execute(&self, request: ExecutionRequest) -> ExecutionOutcome {
        let patience = request
            .limits
            .capped_by(self.executor.max_limits())
            .deadline();
        match self
            .run(patience, move |executor| executor.execute(request))
            .await
        {
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
        let source = source.to_owned();
        let patience = shared::Limits::default().deadline();
        self.run(patience, move |executor| executor.check(&source))
            .await?
    }
}
