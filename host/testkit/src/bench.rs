//! Timing for the benchmarks' printed ratios.

use std::time::{Duration, Instant};

/// Per-iteration medians of several workloads, timed in interleaved batches
/// of about `batch_time` each, so that frequency scaling or a noisy neighbour
/// hits every workload alike instead of skewing one side of a ratio. Each
/// workload is warmed up first (which also sizes its batches).
pub fn interleaved_medians(
    workloads: &mut [&mut dyn FnMut()],
    rounds: usize,
    batch_time: Duration,
) -> Vec<Duration> {
    let iterations: Vec<u32> = workloads
        .iter_mut()
        .map(|work| {
            let started = Instant::now();
            let mut n = 0u32;
            while started.elapsed() < batch_time / 2 || n < 10 {
                work();
                n += 1;
            }
            let per_iter = started.elapsed() / n;
            u32::try_from(batch_time.as_nanos() / per_iter.as_nanos().max(1))
                .unwrap_or(u32::MAX)
                .max(1)
        })
        .collect();
    let mut samples = vec![Vec::with_capacity(rounds); workloads.len()];
    for _ in 0..rounds {
        for ((work, &n), samples) in workloads.iter_mut().zip(&iterations).zip(&mut samples) {
            let started = Instant::now();
            for _ in 0..n {
                work();
            }
            samples.push(started.elapsed() / n);
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_unstable();
            s[s.len() / 2]
        })
        .collect()
}
