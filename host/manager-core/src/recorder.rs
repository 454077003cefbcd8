//! Writes execution records off the request path, in batches.
//!
//! The orchestrator hands each record to [`Recorder::record`], which only
//! queues it; a background task writes whatever has queued up in one
//! transaction. Log readers call [`Recorder::flush`] first, so an execution is
//! visible in the log as soon as its response has been sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use shared::{ExecutionRecord, ExecutionRecorder};
use tokio::sync::{mpsc, oneshot};

use crate::store::Store;

/// Records queued beyond this are dropped (and counted in the server log)
/// rather than letting a write stall grow memory without bound.
const QUEUE: usize = 10_000;
/// Records per transaction.
const BATCH: usize = 256;

enum Message {
    Record(Box<ExecutionRecord>),
    Flush(oneshot::Sender<()>),
}

/// Handle to the background writer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Message>,
    /// Records dropped since the writer last reported them.
    dropped: Arc<AtomicU64>,
}

impl Recorder {
    /// Starts the writer task on the current runtime.
    pub fn start(store: Store) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        tokio::spawn(write_loop(store, rx, dropped.clone()));
        Recorder { tx, dropped }
    }

    /// Waits until every record queued before this call is stored.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

impl ExecutionRecorder for Recorder {
    fn record(&self, record: ExecutionRecord) {
        // Counted, not logged here: a line per dropped record would add a
        // write to stderr to every request of an overload, making it worse.
        if self.tx.try_send(Message::Record(Box::new(record))).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Message::Record(_) => "Record",
            Message::Flush(_) => "Flush",
        })
    }
}

async fn write_loop(store: Store, mut rx: mpsc::Receiver<Message>, dropped: Arc<AtomicU64>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut waiting = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Record(record) => batch.push(*record),
                Message::Flush(done) => waiting.push(done),
            }
            if batch.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            if let Err(err) = store.insert_executions(&batch).await {
                tracing::error!(error = %err, records = batch.len(), "writing the execution log failed");
            }
            batch.clear();
        }
        let lost = dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            tracing::warn!(
                records = lost,
                "execution log queue was full; records were dropped"
            );
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}
