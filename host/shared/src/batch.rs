//! A queue that hands items to an async sink in batches, off the caller's
//! path: the execution log's writer in the manager and the orchestrator's
//! sender of execution records in cluster mode. Pushing never waits; a full
//! queue drops the item and counts it, because a stalled sink must not grow
//! memory without bound or slow the requests that produce the items.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};

enum Message<T> {
    Item(Box<T>),
    Flush(oneshot::Sender<()>),
}

/// Handle to the queue and its background task. Cheap to clone.
pub struct BatchQueue<T> {
    tx: mpsc::Sender<Message<T>>,
    dropped: Arc<AtomicU64>,
}

impl<T> Clone for BatchQueue<T> {
    fn clone(&self) -> Self {
        BatchQueue {
            tx: self.tx.clone(),
            dropped: self.dropped.clone(),
        }
    }
}

impl<T> std::fmt::Debug for BatchQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchQueue").finish_non_exhaustive()
    }
}

impl<T: Send + 'static> BatchQueue<T> {
    /// Starts the task on the current runtime: it waits for an item, takes
    /// whatever else has queued up (at most `batch` items) and awaits
    /// `sink` with them, one batch at a time. `capacity` items may wait;
    /// drops are logged as `what` once per batch.
    pub fn start<F, Fut>(capacity: usize, batch: usize, what: &'static str, mut sink: F) -> Self
    where
        F: FnMut(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<Message<T>>(capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let lost = dropped.clone();
        tokio::spawn(async move {
            let mut waiting = Vec::new();
            while let Some(first) = rx.recv().await {
                let mut items = Vec::with_capacity(batch);
                let mut next = Some(first);
                while let Some(message) = next.take() {
                    match message {
                        Message::Item(item) => items.push(*item),
                        Message::Flush(done) => waiting.push(done),
                    }
                    if items.len() < batch {
                        next = rx.try_recv().ok();
                    }
                }
                if !items.is_empty() {
                    sink(items).await;
                }
                let lost = lost.swap(0, Ordering::Relaxed);
                if lost > 0 {
                    tracing::warn!(
                        items = lost,
                        "the {what} queue was full; items were dropped"
                    );
                }
                for done in waiting.drain(..) {
                    let _ = done.send(());
                }
            }
        });
        BatchQueue { tx, dropped }
    }

    /// Queues `item`; drops it (counted, not logged here: a line per item
    /// would add a write to stderr to every request of an overload) when
    /// the queue is full.
    pub fn push(&self, item: T) {
        if self.tx.try_send(Message::Item(Box::new(item))).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits until every item queued before this call went through the sink.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Items arrive in order, in batches no larger than asked, and a flush
    /// returns only after everything pushed before it was handled.
    #[tokio::test]
    async fn batches_in_order_and_flush_waits() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::<Vec<u32>>::new()));
        let sink_seen = seen.clone();
        let queue = BatchQueue::start(100, 4, "test", move |items| {
            sink_seen.lock().unwrap().push(items);
            async {}
        });
        for i in 0..10 {
            queue.push(i);
        }
        queue.flush().await;
        let batches = seen.lock().unwrap().clone();
        assert!(
            batches.iter().all(|b| !b.is_empty() && b.len() <= 4),
            "{batches:?}"
        );
        assert_eq!(batches.concat(), (0..10).collect::<Vec<_>>());
    }
}
