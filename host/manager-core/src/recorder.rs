//! Writes execution records off the request path, in batches.
//!
//! The orchestrator hands each record to [`Recorder::record`], which only
//! queues it; a background task writes whatever has queued up in one
//! transaction. Log readers call [`Recorder::flush`] first, so an execution is
//! visible in the log as soon as its response has been sent.

use std::time::Duration;

use shared::batch::BatchQueue;
use shared::{ExecutionRecord, ExecutionRecorder};

use crate::store::Store;

/// Records queued beyond this are dropped (and counted in the server log)
/// rather than letting a write stall grow memory without bound.
const QUEUE: usize = 10_000;
/// Records per transaction.
const BATCH: usize = 256;
/// How long a small batch waits for more records before it is written. Under
/// load that turns one transaction per handful of executions into one per
/// hundred or so; log readers flush first, so they never wait for it.
const LINGER: Duration = Duration::from_millis(10);

/// Handle to the background writer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Recorder {
    queue: BatchQueue<ExecutionRecord>,
}

impl Recorder {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Store) -> Self {
        let queue = BatchQueue::start(QUEUE, BATCH, LINGER, "execution log", move |batch| {
            let store = store.clone();
            async move {
                if let Err(err) = store.insert_executions(&batch).await {
                    tracing::error!(error = %err, records = batch.len(), "writing the execution log failed");
                }
            }
        });
        Recorder { queue }
    }

    /// Waits until every record queued before this call is stored.
    pub async fn flush(&self) {
        self.queue.flush().await;
    }
}

impl ExecutionRecorder for Recorder {
    fn record(&self, record: ExecutionRecord) {
        self.queue.push(record);
    }
}
