//! Execution records across the network. Only the manager writes to the
//! database, so an orchestrator queues each record ([`RemoteRecorder`]) and
//! a background task posts them to the manager in batches, off the request
//! path; the manager hands them to its own recorder ([`router`]).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use shared::batch::BatchQueue;
use shared::{ExecutionRecord, ExecutionRecorder};

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

/// An orchestrator's [`ExecutionRecorder`]: sends records to the manager.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct RemoteRecorder {
    queue: BatchQueue<ExecutionRecord>,
}

impl RemoteRecorder {
    /// Starts the sender task on the current runtime.
    pub fn start(manager: Peer) -> RemoteRecorder {
        let queue = BatchQueue::start(QUEUE, BATCH, "execution record", move |batch| {
            let manager = manager.clone();
            async move { send(&manager, &batch).await }
        });
        RemoteRecorder { queue }
    }

    /// Waits until every record queued before this call was sent (or given
    /// up on).
    pub async fn flush(&self) {
        self.queue.flush().await;
    }
}

impl ExecutionRecorder for RemoteRecorder {
    fn record(&self, record: ExecutionRecord) {
        self.queue.push(record);
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
