//! Execution records across the network. Only the manager writes to the
//! database, so an orchestrator queues each record ([`RemoteRecorder`]) and
//! a background task posts them to the manager in batches, off the request
//! path; the manager hands them to its own recorder ([`router`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use shared::{ExecutionRecord, ExecutionRecorder};
use tokio::sync::{mpsc, oneshot};

use super::Peer;

/// Records queued beyond this are dropped (and counted in the log) rather
/// than letting a manager outage grow the orchestrator's memory without bound.
const QUEUE: usize = 10_000;
/// Records per request.
const BATCH: usize = 256;
/// Tries per batch before it is dropped; the manager being away for longer
/// than the backoff adds up to (about 3 s) loses those records.
const TRIES: u32 = 4;

pub(super) fn router(recorder: Arc<dyn ExecutionRecorder>) -> Router {
    Router::new()
        .route("/internal/v1/records", post(receive))
        .with_state(recorder)
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
}

async fn receive(
    State(recorder): State<Arc<dyn ExecutionRecorder>>,
    Json(records): Json<Vec<ExecutionRecord>>,
) -> StatusCode {
    for record in records {
        recorder.record(record);
    }
    StatusCode::NO_CONTENT
}

enum Message {
    Record(Box<ExecutionRecord>),
    Flush(oneshot::Sender<()>),
}

/// An orchestrator's [`ExecutionRecorder`]: sends records to the manager.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct RemoteRecorder {
    tx: mpsc::Sender<Message>,
    dropped: Arc<AtomicU64>,
}

impl RemoteRecorder {
    /// Starts the sender task on the current runtime.
    pub fn start(manager: Peer) -> RemoteRecorder {
        let (tx, rx) = mpsc::channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        tokio::spawn(send_loop(manager, rx, dropped.clone()));
        RemoteRecorder { tx, dropped }
    }

    /// Waits until every record queued before this call was sent (or given
    /// up on).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

impl ExecutionRecorder for RemoteRecorder {
    fn record(&self, record: ExecutionRecord) {
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

async fn send_loop(manager: Peer, mut rx: mpsc::Receiver<Message>, dropped: Arc<AtomicU64>) {
    let mut batch: Vec<ExecutionRecord> = Vec::with_capacity(BATCH);
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
            send(&manager, &batch).await;
            batch.clear();
        }
        let lost = dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            tracing::warn!(
                records = lost,
                "execution record queue was full; records were dropped"
            );
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

async fn send(manager: &Peer, batch: &[ExecutionRecord]) {
    let mut backoff = Duration::from_millis(200);
    for attempt in 1..=TRIES {
        match manager
            .post_empty("/internal/v1/records", batch, Duration::from_secs(10))
            .await
        {
            Ok(()) => return,
            Err(err) if attempt < TRIES => {
                tracing::warn!(error = %err, attempt, "sending execution records failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            Err(err) => {
                tracing::error!(error = %err, records = batch.len(), "sending execution records failed; they are lost");
            }
        }
    }
}
