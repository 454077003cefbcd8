//! Routing across the cluster. The manager numbers routing versions and
//! pushes each new number to every connected orchestrator as a server-sent
//! event; an orchestrator reloads its tables from a snapshot and acknowledges
//! the version. The admin call that changed routing returns once every
//! connected orchestrator acknowledged (or [`ACK_PATIENCE`] passed), so "the
//! next request sees the change" holds across the cluster as it does in one
//! process. No orchestrator polls, and none touches the database.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use futures_util::{Stream, StreamExt as _};
use orchestrator_core::RoutingCache;
use serde::{Deserialize, Serialize};
use shared::{Miss, RouteMatch, RoutingSnapshot, RoutingSource, RoutingTables};
use tokio::sync::watch;

use super::Peer;

/// How long an admin call waits for orchestrators to acknowledge a routing
/// change. A node that does not answer in time is logged and catches up on
/// its own (it reloads on every event and on reconnecting).
pub const ACK_PATIENCE: Duration = Duration::from_secs(2);

/// How often the manager sends a keep-alive on the event stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How long an orchestrator waits for a keep-alive before it reconnects.
const SILENCE: Duration = Duration::from_secs(45);

/// The manager's routing tables in cluster mode: its own cache (for
/// `routes:match` and executions by id) plus the event feed to orchestrators.
#[derive(Clone)]
pub struct RoutingHub {
    local: Arc<RoutingCache>,
    version: Arc<AtomicU64>,
    events: watch::Sender<u64>,
    /// Connected orchestrators → the last version each acknowledged.
    acks: watch::Sender<HashMap<String, u64>>,
}

impl RoutingHub {
    /// A hub over the manager's own routing cache.
    pub fn new(local: Arc<RoutingCache>) -> RoutingHub {
        RoutingHub {
            local,
            version: Arc::new(AtomicU64::new(1)),
            events: watch::channel(1).0,
            acks: watch::channel(HashMap::new()).0,
        }
    }

    /// Orchestrators connected to the event feed now.
    pub fn connected(&self) -> Vec<String> {
        self.acks.borrow().keys().cloned().collect()
    }

    fn acknowledge(&self, node: &str, version: u64) {
        self.acks.send_modify(|acks| {
            if let Some(acked) = acks.get_mut(node) {
                *acked = (*acked).max(version);
            }
        });
    }
}

#[async_trait]
impl RoutingTables for RoutingHub {
    async fn routing_changed(&self) {
        self.local.routing_changed().await;
        let version = self.version.fetch_add(1, Ordering::SeqCst) + 1;
        // Two changes at once may get here out of order; the feed only
        // ever moves forward.
        self.events
            .send_modify(|latest| *latest = (*latest).max(version));
        let mut acks = self.acks.subscribe();
        let all_acked = acks.wait_for(|acks| acks.values().all(|acked| *acked >= version));
        if tokio::time::timeout(ACK_PATIENCE, all_acked).await.is_err() {
            let behind: Vec<String> = self
                .acks
                .borrow()
                .iter()
                .filter(|(_, acked)| **acked < version)
                .map(|(node, _)| node.clone())
                .collect();
            tracing::warn!(
                version,
                ?behind,
                "orchestrators did not acknowledge a routing change in time; they catch up on their own"
            );
        }
    }

    fn resolve(&self, host: &str, method: &str, path: &str) -> Result<RouteMatch, Miss> {
        self.local.resolve(host, method, path)
    }
}

#[derive(Debug, Deserialize)]
struct Subscriber {
    node: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Ack {
    node: String,
    version: u64,
}

pub(super) fn router(hub: RoutingHub, source: Arc<dyn RoutingSource>) -> Router {
    Router::new()
        .route("/internal/v1/routing", get(snapshot).with_state(source))
        .route(
            "/internal/v1/routing/events",
            get(events).with_state(hub.clone()),
        )
        .route("/internal/v1/routing/ack", post(ack).with_state(hub))
}

async fn snapshot(
    State(source): State<Arc<dyn RoutingSource>>,
) -> Result<Json<RoutingSnapshot>, (axum::http::StatusCode, String)> {
    source.load().await.map(Json).map_err(|err| {
        tracing::warn!(error = %err, "routing snapshot for an orchestrator failed");
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "the routing data cannot be read now".to_owned(),
        )
    })
}

/// Removes the subscriber when its event stream is dropped (the connection
/// closed), so routing changes stop waiting for it.
struct Subscription {
    hub: RoutingHub,
    node: String,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        tracing::info!(node = %self.node, "orchestrator disconnected from routing events");
        self.hub.acks.send_modify(|acks| {
            acks.remove(&self.node);
        });
    }
}

async fn events(
    State(hub): State<RoutingHub>,
    Query(subscriber): Query<Subscriber>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    tracing::info!(node = %subscriber.node, "orchestrator connected to routing events");
    // Registered at version 0: until it reloads and acknowledges, a change
    // waits for it (it reloads on the first event, which comes at once).
    hub.acks.send_modify(|acks| {
        acks.insert(subscriber.node.clone(), 0);
    });
    let guard = Subscription {
        hub: hub.clone(),
        node: subscriber.node,
    };
    // The current version first, then every change.
    let stream =
        tokio_stream::wrappers::WatchStream::new(hub.events.subscribe()).map(move |version| {
            let _alive = &guard;
            Ok(Event::default().event("routing").data(version.to_string()))
        });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

async fn ack(State(hub): State<RoutingHub>, Json(ack): Json<Ack>) -> axum::http::StatusCode {
    hub.acknowledge(&ack.node, ack.version);
    axum::http::StatusCode::NO_CONTENT
}

/// The manager's routing data, read over the cluster protocol: an
/// orchestrator's [`RoutingSource`].
#[derive(Clone, Debug)]
pub struct RemoteRouting {
    manager: Peer,
}

impl RemoteRouting {
    /// Reads routing from `manager`.
    pub fn new(manager: Peer) -> RemoteRouting {
        RemoteRouting { manager }
    }
}

#[async_trait]
impl RoutingSource for RemoteRouting {
    async fn load(&self) -> Result<RoutingSnapshot, String> {
        self.manager
            .get("/internal/v1/routing", Duration::from_secs(30))
            .await
            .map_err(|err| format!("loading routing from {}: {err}", self.manager.base()))
    }
}

/// Keeps `cache` in step with the manager: subscribes to routing events as
/// `node`, reloads on each and acknowledges it; reconnects (and reloads)
/// after the manager goes away. Requests keep being served from the cached
/// tables meanwhile. Runs until aborted.
pub fn follow_routing(
    manager: Peer,
    node: String,
    cache: Arc<RoutingCache>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            match follow_once(&manager, &node, &cache).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(err) => {
                    tracing::warn!(manager = manager.base(), error = %err, "routing events interrupted; reconnecting");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    })
}

async fn follow_once(manager: &Peer, node: &str, cache: &RoutingCache) -> Result<(), String> {
    use eventsource_stream::Eventsource as _;
    let response = manager
        .request(reqwest::Method::GET, "/internal/v1/routing/events")
        .query(&[("node", node)])
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|err| err.to_string())?;
    tracing::info!(manager = manager.base(), "following routing events");
    // The manager sends a keep-alive every 15 s. A stream silent for longer
    // than SILENCE is a connection whose far end vanished without closing
    // it (a machine that lost power): give up on it and reconnect, or the
    // orchestrator would wait on it forever and miss every change.
    let bytes =
        tokio_stream::StreamExt::timeout(response.bytes_stream(), SILENCE).map(
            |chunk| match chunk {
                Ok(Ok(bytes)) => Ok(bytes),
                Ok(Err(err)) => Err(err.to_string()),
                Err(_) => Err(format!("no word from the manager in {SILENCE:?}")),
            },
        );
    let mut events = std::pin::pin!(bytes.eventsource());
    while let Some(event) = events.next().await {
        let event = event.map_err(|err| err.to_string())?;
        if event.event != "routing" {
            continue;
        }
        let version: u64 = event
            .data
            .trim()
            .parse()
            .map_err(|_| format!("a routing event with a bad version '{}'", event.data))?;
        // A failed reload ends this subscription: reconnecting brings the
        // current version again, and with it another reload.
        cache.reload().await?;
        let ack = Ack {
            node: node.to_owned(),
            version,
        };
        let acked = manager
            .post_empty("/internal/v1/routing/ack", &ack, Duration::from_secs(5))
            .await;
        if let Err(err) = acked {
            tracing::warn!(error = %err, version, "acknowledging a routing version failed");
        }
    }
    Ok(())
}
