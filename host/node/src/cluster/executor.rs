//! Executions across the network: [`RemoteExecutor`] is the
//! [`ExecutorClient`] orchestrators and the manager hold in cluster mode;
//! [`executor_router`] serves any [`ExecutorClient`] (an executor node's
//! in-process one) to them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use shared::{ExecutionError, ExecutionOutcome, ExecutionRequest, ExecutorClient};

use super::{CallError, ClusterSecret, Peer, protect};

/// Time on top of an execution's own deadline before the caller gives up on
/// the executor: the executor enforces the deadline itself, so the margin
/// only has to cover queueing for a slot and the network.
const DEADLINE_MARGIN: Duration = Duration::from_secs(5);

/// Executor nodes reached over HTTP, in turn (round robin).
///
/// Retries only where it is safe: an execution may have side effects (a
/// script can write to its key-value store), so it moves to the next node
/// only when the connection to one could not even be made. A compile check
/// has none and is retried on any failure.
#[derive(Clone, Debug)]
pub struct RemoteExecutor {
    nodes: Arc<[Peer]>,
    next: Arc<AtomicUsize>,
}

impl RemoteExecutor {
    /// Executor nodes at `nodes` (at least one).
    pub fn new(nodes: Vec<Peer>) -> Result<RemoteExecutor, String> {
        if nodes.is_empty() {
            return Err("cluster mode needs at least one executor URL".into());
        }
        Ok(RemoteExecutor {
            nodes: nodes.into(),
            next: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The nodes in the order this call tries them.
    fn rotation(&self) -> impl Iterator<Item = &Peer> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..self.nodes.len()).map(move |i| &self.nodes[(start + i) % self.nodes.len()])
    }
}

fn failed(error: ExecutionError) -> ExecutionOutcome {
    ExecutionOutcome::failed(error)
}

/// The answer to `/internal/v1/check`.
#[derive(Debug, Serialize, Deserialize)]
struct Checked {
    /// The source's `import` statements, or why it does not compile.
    result: Result<Vec<shared::ImportRef>, ExecutionError>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CheckRequest {
    source: String,
}

#[async_trait]
impl ExecutorClient for RemoteExecutor {
    async fn execute(&self, request: ExecutionRequest) -> ExecutionOutcome {
        let timeout = request.limits.deadline() + DEADLINE_MARGIN;
        for node in self.rotation() {
            match node
                .post::<_, ExecutionOutcome>("/internal/v1/execute", &request, timeout)
                .await
            {
                Ok(outcome) => return outcome,
                Err(CallError::Connect(err)) => {
                    tracing::warn!(executor = node.base(), error = %err, "executor unreachable; trying the next");
                }
                Err(CallError::Other(err)) => {
                    // It may have run: not retried elsewhere.
                    tracing::error!(executor = node.base(), error = %err, "remote execution failed");
                    return failed(ExecutionError::Internal);
                }
            }
        }
        failed(ExecutionError::Unavailable)
    }

    async fn check(&self, source: &str) -> Result<Vec<shared::ImportRef>, ExecutionError> {
        let request = CheckRequest {
            source: source.to_owned(),
        };
        let timeout = shared::Limits::default().deadline() + DEADLINE_MARGIN;
        for node in self.rotation() {
            match node
                .post::<_, Checked>("/internal/v1/check", &request, timeout)
                .await
            {
                Ok(checked) => return checked.result,
                Err(err) => {
                    tracing::warn!(executor = node.base(), error = %err, "compile check failed; trying the next executor");
                }
            }
        }
        Err(ExecutionError::Unavailable)
    }
}

/// An executor node's side: `/internal/v1/execute` and `/internal/v1/check`
/// behind the cluster secret.
pub fn executor_router(executor: Arc<dyn ExecutorClient>, secret: ClusterSecret) -> Router {
    protect(
        Router::new()
            .route("/internal/v1/execute", post(execute))
            .route("/internal/v1/check", post(check))
            .with_state(executor),
        secret,
    )
    // Script request bodies are bounded by the orchestrator (4 MiB by
    // default) and grow by a third in base64.
    .layer(axum::extract::DefaultBodyLimit::max(16 << 20))
}

/// Runs in a span carrying the user request's id (the `x-request-id` the
/// orchestrator gave it), so this node's log lines for it can be found by
/// the same id as the orchestrator's and the execution record.
async fn execute(
    State(executor): State<Arc<dyn ExecutorClient>>,
    Json(request): Json<ExecutionRequest>,
) -> Json<ExecutionOutcome> {
    use tracing::Instrument as _;
    let span = tracing::info_span!(
        "execution",
        request_id = %request.request.id,
        app = %request.app_id,
        script = %request.script_id,
    );
    Json(executor.execute(request).instrument(span).await)
}

async fn check(
    State(executor): State<Arc<dyn ExecutorClient>>,
    Json(request): Json<CheckRequest>,
) -> Json<Checked> {
    Json(Checked {
        result: executor.check(&request.source).await,
    })
}
