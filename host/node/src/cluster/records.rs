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
/// How long a small batch waits for more records before it is sent: fewer,
/// larger requests to the manager under load (shared::batch).
const LINGER: Duration = Duration::from_millis(10);
/// Largest request the manager accepts; senders aim for half of it.
const MAX_REQUEST_BYTES: usize = 64 << 20;
/// Tries per batch before it is dropped; the manager being away for longer
/// than the backoff adds up to (about 3 s) loses those records.
const TRIES: u32 = 4;

pub(super) fn router(recorder: Arc<dyn ExecutionRecorder>) -> Router {
    Router::new()
        .route("/internal/v1/records", post(receive))
        .with_state(recorder)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BYTES))
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
        let queue = BatchQueue::start(QUEUE, BATCH, LINGER, "execution records", move |batch| {
            let manager = manager.clone();
            async move {
                for part in by_size(&batch) {
                    send(&manager, part).await;
                }
            }
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

/// Splits a batch into requests the manager accepts: records carry their
/// log lines (up to an app's `max_log_bytes` each, 1 MiB at most), so 256 of
/// them could exceed the body limit. The size is estimated from the log
/// text, which dominates a record.
fn by_size(batch: &[ExecutionRecord]) -> Vec<&[ExecutionRecord]> {
    let mut parts = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, record) in batch.iter().enumerate() {
        let record_size = 1024
            + record
                .outcome
                .logs
                .iter()
                .map(|line| line.message.len() * 2 + 32)
                .sum::<usize>();
        if i > start && size + record_size > MAX_REQUEST_BYTES / 2 {
            parts.push(&batch[start..i]);
            (start, size) = (i, 0);
        }
        size += record_size;
    }
    if start < batch.len() {
        parts.push(&batch[start..]);
    }
    parts
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

#[cfg(test)]
mod tests {
    use shared::{
        AppId, ExecutionId, ExecutionOutcome, LogLevel, LogLine, ScriptId, ScriptResponse, Trigger,
    };

    use super::*;

    fn record(log_bytes: usize) -> ExecutionRecord {
        ExecutionRecord {
            id: ExecutionId(uuid::Uuid::new_v4()),
            app_id: AppId(uuid::Uuid::new_v4()),
            script_id: ScriptId(uuid::Uuid::new_v4()),
            route_id: None,
            script_version: 1,
            trigger: Trigger::Http,
            method: "GET".into(),
            path: "/".into(),
            host: "localhost".into(),
            request_id: "r".into(),
            request_headers: Vec::new(),
            status: 200,
            response_bytes: 0,
            started_at: std::time::SystemTime::now(),
            outcome: ExecutionOutcome {
                outcome: Ok(ScriptResponse {
                    status: 200,
                    headers: Vec::new(),
                    body: Vec::new(),
                }),
                fuel_used: 1,
                duration: Duration::from_millis(1),
                logs: vec![LogLine {
                    level: LogLevel::Info,
                    message: "x".repeat(log_bytes),
                }],
                logs_dropped: 0,
                next: None,
                children: Vec::new(),
            },
            parent_id: None,
            modules: Vec::new(),
            interceptors: Vec::new(),
        }
    }

    /// Small records go in one request; records with large logs are split so
    /// that every request stays under the manager's limit, in order, none lost.
    #[test]
    fn batches_are_split_by_size() {
        let small: Vec<_> = (0..256).map(|_| record(100)).collect();
        assert_eq!(by_size(&small).len(), 1);

        let large: Vec<_> = (0..100).map(|_| record(1 << 20)).collect();
        let parts = by_size(&large);
        assert!(parts.len() > 1);
        for part in &parts {
            let json = serde_json::to_vec(part).unwrap();
            assert!(json.len() < MAX_REQUEST_BYTES, "{} bytes", json.len());
        }
        let ids: Vec<_> = parts.concat().iter().map(|r| r.id).collect();
        assert_eq!(ids, large.iter().map(|r| r.id).collect::<Vec<_>>());
    }
}
