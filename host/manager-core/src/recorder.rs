//! Writes execution records off the request path, in batches, and tells
//! live readers (the log stream) about each one once it is stored.
//!
//! The orchestrator hands each record to [`Recorder::record`], which only
//! queues it; a background task writes whatever has queued up in one
//! transaction. Log readers call [`Recorder::flush`] first, so an execution is
//! visible in the log as soon as its response has been sent.

use std::sync::Arc;
use std::time::Duration;

use shared::batch::BatchQueue;
use shared::{ExecutionRecord, ExecutionRecorder};
use tokio::sync::broadcast;

use crate::store::{Execution, Store};

/// Records queued beyond this are dropped (and counted in the server log)
/// rather than letting a write stall grow memory without bound.
const QUEUE: usize = 10_000;
/// Records per transaction.
const BATCH: usize = 256;
/// How long a small batch waits for more records before it is written. Under
/// load that turns one transaction per handful of executions into one per
/// hundred or so; log readers flush first, so they never wait for it.
const LINGER: Duration = Duration::from_millis(10);
/// Records a live reader may fall behind before it is cut off: each
/// stream's buffer. Publishing never waits for a reader.
pub(crate) const STREAM_BUFFER: usize = 1024;

/// Handle to the background writer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Recorder {
    queue: BatchQueue<ExecutionRecord>,
    stored: broadcast::Sender<Arc<Execution>>,
}

impl Recorder {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Store) -> Self {
        let (stored, _) = broadcast::channel(STREAM_BUFFER);
        let publish = stored.clone();
        let queue = BatchQueue::start(QUEUE, BATCH, LINGER, "execution log", move |batch| {
            let store = store.clone();
            let publish = publish.clone();
            async move {
                let metrics = shared::metrics::metrics();
                match store.insert_executions(&batch).await {
                    Ok(first) => {
                        metrics.log_written.inc_by(batch.len() as u64);
                        // Building the stream's view costs a copy of each
                        // record: only when someone is watching.
                        if publish.receiver_count() > 0 {
                            for (seq, record) in (first..).zip(&batch) {
                                let _ = publish.send(Arc::new(Execution::from_record(record, seq)));
                            }
                        }
                    }
                    Err(err) => {
                        metrics
                            .log_dropped
                            .with_label_values(&["execution_log"])
                            .inc_by(batch.len() as u64);
                        tracing::error!(error = %err, records = batch.len(), "writing the execution log failed");
                    }
                }
            }
        });
        Recorder { queue, stored }
    }

    /// Waits until every record queued before this call is stored.
    pub async fn flush(&self) {
        self.queue.flush().await;
    }

    /// Every record stored from now on, as it is stored. A receiver that
    /// falls [`STREAM_BUFFER`] records behind gets `Lagged`.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Execution>> {
        self.stored.subscribe()
    }
}

impl ExecutionRecorder for Recorder {
    fn record(&self, record: ExecutionRecord) {
        // The executions it started with `invoke` are records of their own.
        if record.outcome.children.is_empty() {
            self.queue.push(record);
        } else {
            for record in record.flatten() {
                self.queue.push(record);
            }
        }
    }
}
