//! Where a long execution finishes (ADR 004).
//!
//! Every execution starts in the calling task, on the server's runtime, as
//! ADR 002 set up: a Hello World never changes threads. Once an execution has
//! spent [`FOREGROUND_BUDGET`] of time being polled and is still not done, it
//! is a CPU-bound script, and the rest of it moves to the *long lane*: a
//! runtime of its own whose threads run at a lower OS priority. Short requests,
//! the HTTP stack and anything else on the machine (Caddy, the database) then
//! win the CPU from long scripts, so one app's busy loop no longer sets
//! another app's latency. A long script still gets every core nobody else
//! wants.
//!
//! This is a two-level feedback queue, the classic way to favour short jobs
//! without knowing in advance which jobs are short.

use std::future::Future;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio_util::task::AbortOnDropHandle;

/// Time an execution may spend being polled before it moves to the long
/// lane. A fresh-instance Hello World takes 20–40 µs and a handful of
/// key-value calls well under a millisecond, so the requests a latency
/// budget matters for stay where they are; a script this busy pays one
/// hand-off (tens of µs) it will not notice.
pub const FOREGROUND_BUDGET: Duration = Duration::from_millis(1);

/// The `nice` value of the long lane's threads. Linux weighs a nice-10
/// thread at 110 against 1,024 for nice 0: when a request (or another
/// process) wants the core, a long script gets about a tenth of it, so it
/// slows down but keeps going (at nice 19, weight 15, a script using its
/// whole default fuel budget would need about 9 s of wall time on a busy
/// machine and miss its 5 s deadline). When nobody else wants the core, it
/// gets all of it.
pub const LONG_LANE_NICE: i32 = 10;

/// The long lane: a multi-threaded runtime with one thread per core, each at
/// [`LONG_LANE_NICE`]. After every slice of a job (a script yields every
/// [`YIELD_FUEL`](crate::YIELD_FUEL), a few tens of µs) the thread also yields
/// to the OS: the weight alone decides shares, not how soon a waking thread
/// gets the core, and without the yield a request arriving while a long
/// script held the core waited out the scheduler's time slice (noisy
/// neighbour p99 at nice 10: 1.9–2.2x A alone; with the yield: 0.8–1.2x).
/// With nothing else runnable the yield returns at once, one cheap system
/// call per slice.
pub(crate) struct LongLane {
    // An `Option` so `Drop` can take it: dropping a runtime blocks until its
    // threads stop, which tokio refuses inside another runtime's task.
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for LongLane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LongLane").finish_non_exhaustive()
    }
}

impl LongLane {
    /// Starts the lane's threads.
    pub(crate) fn start() -> std::io::Result<Self> {
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("picloud-long")
            .on_thread_start(lower_priority)
            // Host calls made from a long script (outbound HTTP, database
            // reads, timers) run on this runtime's drivers.
            .enable_all()
            .build()?;
        Ok(LongLane {
            runtime: Some(runtime),
        })
    }

    /// Runs `job` in the calling task until it has been polled for
    /// [`FOREGROUND_BUDGET`], then finishes it on the long lane. Dropping the
    /// returned future (the client went away) cancels the job wherever it is.
    pub(crate) async fn run<F>(&self, job: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let mut job = Box::pin(job);
        let mut polled = Duration::ZERO;
        let foreground = std::future::poll_fn(|cx| {
            let started = Instant::now();
            let poll = job.as_mut().poll(cx);
            polled += started.elapsed();
            match poll {
                Poll::Ready(output) => Poll::Ready(Some(output)),
                Poll::Pending if polled >= FOREGROUND_BUDGET => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        if let Some(output) = foreground {
            return output;
        }
        let runtime = self.runtime.as_ref().expect("taken only on drop");
        let job = std::future::poll_fn(move |cx| {
            let poll = job.as_mut().poll(cx);
            if poll.is_pending() {
                std::thread::yield_now();
            }
            poll
        });
        // tokio's plain `JoinHandle` would detach the job when dropped.
        let task = AbortOnDropHandle::new(runtime.spawn(job));
        match task.await {
            Ok(output) => output,
            // Never cancelled while awaited (abort happens only on drop), so
            // this is a panic in the job: let it reach the caller as in the
            // foreground.
            Err(err) => std::panic::resume_unwind(err.into_panic()),
        }
    }
}

impl Drop for LongLane {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Jobs still running are cancelled; nothing waits for them.
            runtime.shutdown_background();
        }
    }
}

/// Sets the calling thread's `nice` value to [`LONG_LANE_NICE`]. Raising
/// one's own nice value needs no privilege; if it fails anyway the lane
/// still works, only without the priority difference.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // On Linux the nice value is per thread, addressed by thread id.
        let tid = rustix::thread::gettid();
        if let Err(err) = rustix::process::setpriority_process(Some(tid), LONG_LANE_NICE) {
            tracing::warn!(error = %err, "could not lower the long lane's thread priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// A job that busy-waits `slice` per poll for `polls` polls, yielding in
    /// between, and records the name of the thread of its last poll.
    async fn busy(polls: u32, slice: Duration) -> Option<String> {
        for _ in 0..polls {
            let until = Instant::now() + slice;
            while Instant::now() < until {
                std::hint::spin_loop();
            }
            tokio::task::yield_now().await;
        }
        std::thread::current().name().map(str::to_owned)
    }

    fn current_nice() -> i32 {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).expect("getpriority")
    }

    #[tokio::test]
    async fn a_short_job_stays_in_the_calling_task() {
        let lane = LongLane::start().expect("lane");
        let caller = std::thread::current().name().map(str::to_owned);
        let ran_on = lane.run(busy(3, Duration::ZERO)).await;
        assert_eq!(ran_on, caller);
    }

    #[tokio::test]
    async fn a_long_job_finishes_on_the_long_lane_at_lower_priority() {
        let lane = LongLane::start().expect("lane");
        let ours = current_nice();
        let (ran_on, nice) = lane
            .run(async {
                let name = busy(20, Duration::from_micros(200)).await;
                (name, current_nice())
            })
            .await;
        assert_eq!(ran_on.as_deref(), Some("picloud-long"));
        assert_eq!(nice, LONG_LANE_NICE);
        // The caller's own priority is untouched.
        assert_eq!(current_nice(), ours);
    }

    #[tokio::test]
    async fn dropping_the_caller_cancels_a_job_on_the_long_lane() {
        let lane = LongLane::start().expect("lane");
        let dropped = Arc::new(AtomicBool::new(false));
        struct Flag(Arc<AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let flag = Flag(dropped.clone());
        let job = async move {
            let _flag = flag;
            busy(u32::MAX, Duration::from_micros(200)).await
        };
        let outcome = tokio::time::timeout(Duration::from_millis(50), lane.run(job)).await;
        assert!(outcome.is_err(), "the job never ends by itself");
        // The abort takes effect at the job's next yield, on another thread.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !dropped.load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "the job was not cancelled");
            tokio::task::yield_now().await;
        }
    }
}
