//! A queue that hands items to an async sink in batches, off the caller's
//! path: the execution log's writer in the manager and the orchestrator's
//! sender of execution records in cluster mode. Pushing never waits; a full
//! queue drops the item and counts it, because a stalled sink must not grow
//! memory without bound or slow the requests that produce the items.
//!
//! A batch that would be small waits up to a `linger` for company (group
//! commit): a sink call has a fixed cost (a transaction and its write-ahead
//! log pages, or an HTTP request), and paying it per few items made the
//! execution log the largest cost of a Hello World request under load
//! (docs/performance.md). A flush cuts the wait short, so readers that flush
//! first never see the delay.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};

enum Message<T> {
    Item(Box<T>),
    Flush(oneshot::Sender<()>),
}

/// Handle to the queue and its background task. Cheap to clone.
pub struct BatchQueue<T> {
    tx: mpsc::Sender<Message<T>>,
    dropped: Arc<AtomicU64>,
    /// `picloud_execution_log_records_dropped_total{queue}` for this queue.
    dropped_metric: prometheus::IntCounter,
    /// Wakes the task from its linger when a flush is queued.
    flush_queued: Arc<Notify>,
}

impl<T> Clone for BatchQueue<T> {
    fn clone(&self) -> Self {
        BatchQueue {
            tx: self.tx.clone(),
            dropped: self.dropped.clone(),
            dropped_metric: self.dropped_metric.clone(),
            flush_queued: self.flush_queued.clone(),
        }
    }
}

impl<T> std::fmt::Debug for BatchQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchQueue").finish_non_exhaustive()
    }
}

impl<T: Send + 'static> BatchQueue<T> {
    /// Starts the task on the current runtime: it waits for an item, lets
    /// more arrive for up to `linger` unless `batch` are already queued or a
    /// flush is waiting, takes what has queued up (at most `batch` items)
    /// and awaits `sink` with them, one batch at a time. `capacity` items
    /// may wait; drops are logged as `what` once per batch and counted in
    /// the metrics under `what` with underscores for spaces.
    pub fn start<F, Fut>(
        capacity: usize,
        batch: usize,
        linger: Duration,
        what: &'static str,
        mut sink: F,
    ) -> Self
    where
        F: FnMut(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<Message<T>>(capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let lost = dropped.clone();
        let flush_queued = Arc::new(Notify::new());
        let flush_wakes = flush_queued.clone();
        tokio::spawn(async move {
            let mut waiting = Vec::new();
            while let Some(first) = rx.recv().await {
                let mut items = Vec::with_capacity(batch);
                take(first, &mut items, &mut waiting);
                // Sleep rather than receive item by item: a push then costs
                // no wake-up of this task. A flush queued meanwhile (or
                // since the last batch) ends the sleep at once.
                if waiting.is_empty() && items.len() + rx.len() < batch && !linger.is_zero() {
                    tokio::select! {
                        () = tokio::time::sleep(linger) => {}
                        () = flush_wakes.notified() => {}
                    }
                }
                while items.len() < batch {
                    match rx.try_recv() {
                        Ok(message) => take(message, &mut items, &mut waiting),
                        Err(_) => break,
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
        BatchQueue {
            tx,
            dropped,
            dropped_metric: crate::metrics::metrics()
                .log_dropped
                .with_label_values(&[what.replace(' ', "_").as_str()]),
            flush_queued,
        }
    }

    /// Queues `item`; drops it (counted, not logged here: a line per item
    /// would add a write to stderr to every request of an overload) when
    /// the queue is full.
    pub fn push(&self, item: T) {
        if self.tx.try_send(Message::Item(Box::new(item))).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            self.dropped_metric.inc();
        }
    }

    /// Waits until every item queued before this call went through the sink.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            // A stored permit if the task is not lingering right now: at
            // worst its next linger ends early.
            self.flush_queued.notify_one();
            let _ = wait.await;
        }
    }
}

fn take<T>(message: Message<T>, items: &mut Vec<T>, waiting: &mut Vec<oneshot::Sender<()>>) {
    match message {
        Message::Item(item) => items.push(*item),
        Message::Flush(done) => waiting.push(done),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A linger no test could sit out: a test that waited for it would hang
    /// (and fail at its hang guard) instead of passing.
    const LONG: Duration = Duration::from_secs(3600);

    /// The batches a test's sink was handed, in order.
    type Seen = Arc<std::sync::Mutex<Vec<Vec<u32>>>>;

    fn recording(linger: Duration) -> (BatchQueue<u32>, Seen) {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink_seen = seen.clone();
        let queue = BatchQueue::start(100, 4, linger, "test", move |items| {
            sink_seen.lock().unwrap().push(items);
            async {}
        });
        (queue, seen)
    }

    /// An item pushed while the task lingers over an earlier one joins its
    /// batch; without a linger each would be written alone. A flush then
    /// writes the batch without waiting out the linger.
    #[tokio::test]
    async fn items_within_the_linger_share_a_batch_and_a_flush_ends_it() {
        let (queue, seen) = recording(LONG);
        queue.push(1);
        // The task (same thread) takes item 1 and starts lingering.
        tokio::task::yield_now().await;
        queue.push(2);
        tokio::time::timeout(Duration::from_secs(60), queue.flush())
            .await
            .expect("a flush does not wait for the linger");
        assert_eq!(*seen.lock().unwrap(), vec![vec![1, 2]]);
    }

    /// With no linger, the same pushes are written as they come.
    #[tokio::test]
    async fn without_a_linger_items_are_written_as_they_come() {
        let (queue, seen) = recording(Duration::ZERO);
        queue.push(1);
        tokio::task::yield_now().await;
        queue.push(2);
        queue.flush().await;
        assert_eq!(*seen.lock().unwrap(), vec![vec![1], vec![2]]);
    }

    /// Items arrive in order, in batches no larger than asked, and a flush
    /// returns only after everything pushed before it was handled.
    #[tokio::test]
    async fn batches_in_order_and_flush_waits() {
        let (queue, seen) = recording(LONG);
        for i in 0..10 {
            queue.push(i);
        }
        tokio::time::timeout(Duration::from_secs(60), queue.flush())
            .await
            .expect("a flush does not wait for the linger");
        let batches = seen.lock().unwrap().clone();
        assert!(
            batches.iter().all(|b| !b.is_empty() && b.len() <= 4),
            "{batches:?}"
        );
        assert_eq!(batches.concat(), (0..10).collect::<Vec<_>>());
    }
}
