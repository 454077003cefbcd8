//! Counting while the load runs ([`Stats`], one per connection, merged at the
//! end) and the summary printed afterwards ([`Report`]).

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::Target;

/// Bytes of an unexpected response's body kept as an example for the report.
const SAMPLE_BYTES: usize = 200;

/// What one connection saw of one target.
#[derive(Debug, Clone)]
pub struct TargetStats {
    /// Response latency in microseconds (request written → body read).
    /// Auto-resizing, so a connection that only ever sees fast answers keeps
    /// a small histogram.
    pub latency_us: Histogram<u64>,
    /// Responses per status label (`"200"`, `"500 fuel_exhausted"`).
    pub statuses: BTreeMap<String, u64>,
    /// The subset of `statuses` that the target did not expect.
    pub unexpected: BTreeMap<String, u64>,
    /// The first body seen for each unexpected label, cut to a few hundred bytes.
    pub samples: BTreeMap<String, String>,
    /// Requests that got no response, per error message.
    pub errors: BTreeMap<String, u64>,
}

impl Default for TargetStats {
    fn default() -> Self {
        Self {
            latency_us: Histogram::new(3).expect("3 significant figures is valid"),
            statuses: BTreeMap::new(),
            unexpected: BTreeMap::new(),
            samples: BTreeMap::new(),
            errors: BTreeMap::new(),
        }
    }
}

impl TargetStats {
    /// Records one response.
    pub fn response(&mut self, label: String, expected: bool, latency: Duration, body: &[u8]) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        // `record` grows an auto-resizing histogram; `saturating_record` would
        // clamp to its current (small) range instead.
        if self.latency_us.record(us).is_err() {
            self.latency_us.saturating_record(us);
        }
        if !expected {
            *self.unexpected.entry(label.clone()).or_default() += 1;
            self.samples.entry(label.clone()).or_insert_with(|| {
                String::from_utf8_lossy(&body[..body.len().min(SAMPLE_BYTES)]).into_owned()
            });
        }
        *self.statuses.entry(label).or_default() += 1;
    }

    /// Records a request that got no response.
    pub fn error(&mut self, message: String) {
        *self.errors.entry(message).or_default() += 1;
    }

    fn merge(&mut self, other: Self) {
        self.latency_us
            .add(&other.latency_us)
            .expect("auto-resizing histograms always merge");
        add_counts(&mut self.statuses, other.statuses);
        add_counts(&mut self.unexpected, other.unexpected);
        add_counts(&mut self.errors, other.errors);
        for (label, sample) in other.samples {
            self.samples.entry(label).or_insert(sample);
        }
    }
}

fn add_counts(into: &mut BTreeMap<String, u64>, from: BTreeMap<String, u64>) {
    for (k, n) in from {
        *into.entry(k).or_default() += n;
    }
}

/// Everything one connection counted, indexed like the target list.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Per target, in `--target` order.
    pub targets: Vec<TargetStats>,
    /// TCP connections opened (the first one included).
    pub connects: u64,
}

impl Stats {
    /// Empty counters for `targets` targets.
    pub fn new(targets: usize) -> Self {
        Self {
            targets: vec![TargetStats::default(); targets],
            connects: 0,
        }
    }

    /// Adds another connection's counts to these.
    pub fn merge(&mut self, other: Self) {
        for (mine, theirs) in self.targets.iter_mut().zip(other.targets) {
            mine.merge(theirs);
        }
        self.connects += other.connects;
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest response.
    pub max: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            p50: ms(h.value_at_quantile(0.50)),
            p90: ms(h.value_at_quantile(0.90)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

/// One target's part of the [`Report`].
#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    /// `METHOD PATH [HOST]`.
    pub target: String,
    /// Its weight in the mix.
    pub weight: u32,
    /// Its expected statuses (`[]`: any 2xx), the global list not included.
    pub expect: Vec<String>,
    /// Requests sent (responses + transport errors).
    pub requests: u64,
    /// Latency of its responses.
    pub latency_ms: Latency,
    /// Responses per status label.
    pub statuses: BTreeMap<String, u64>,
    /// Responses it did not expect, per status label.
    pub unexpected: BTreeMap<String, u64>,
    /// The first body of each unexpected status label.
    pub unexpected_samples: BTreeMap<String, String>,
    /// Requests without a response, per error.
    pub transport_errors: BTreeMap<String, u64>,
}

/// The summary of a run, printed as text or (`--json`) as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The server.
    pub url: String,
    /// Concurrent connections, each with one request in flight.
    pub connections: usize,
    /// Wall time from the first connect to the last response.
    pub elapsed_s: f64,
    /// Requests sent (responses + transport errors).
    pub requests: u64,
    /// Responses received.
    pub responses: u64,
    /// Responses per second of `elapsed_s`.
    pub throughput_rps: f64,
    /// Latency of all responses.
    pub latency_ms: Latency,
    /// Responses with a status their target expected.
    pub expected: u64,
    /// Responses with a status their target did not expect.
    pub unexpected: u64,
    /// Requests that got no response (connect, I/O, protocol errors, `--timeout`).
    pub transport_errors: u64,
    /// TCP connections opened; more than `connections` means some were lost.
    pub connects: u64,
    /// Per target, in `--target` order.
    pub targets: Vec<TargetReport>,
    /// No unexpected status and no transport error.
    pub pass: bool,
}

impl Report {
    /// Summarizes the merged `stats` of a run over `targets` that took `elapsed`.
    pub fn new(
        url: &str,
        connections: usize,
        targets: &[Target],
        stats: Stats,
        elapsed: Duration,
    ) -> Self {
        let mut all = Histogram::<u64>::new(3).expect("3 significant figures is valid");
        let mut reports = Vec::with_capacity(targets.len());
        let (mut responses, mut unexpected, mut errors) = (0, 0, 0);
        for (target, s) in targets.iter().zip(stats.targets) {
            all.add(&s.latency_us)
                .expect("auto-resizing histograms always merge");
            let t_responses: u64 = s.statuses.values().sum();
            let t_errors: u64 = s.errors.values().sum();
            responses += t_responses;
            unexpected += s.unexpected.values().sum::<u64>();
            errors += t_errors;
            reports.push(TargetReport {
                target: target.label(),
                weight: target.weight,
                expect: target.expect.iter().map(ToString::to_string).collect(),
                requests: t_responses + t_errors,
                latency_ms: Latency::of(&s.latency_us),
                statuses: s.statuses,
                unexpected: s.unexpected,
                unexpected_samples: s.samples,
                transport_errors: s.errors,
            });
        }
        let secs = elapsed.as_secs_f64();
        Self {
            url: url.to_owned(),
            connections,
            elapsed_s: secs,
            requests: responses + errors,
            responses,
            throughput_rps: if secs > 0.0 {
                responses as f64 / secs
            } else {
                0.0
            },
            latency_ms: Latency::of(&all),
            expected: responses - unexpected,
            unexpected,
            transport_errors: errors,
            connects: stats.connects,
            targets: reports,
            pass: unexpected == 0 && errors == 0,
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.latency_ms;
        writeln!(
            f,
            "{} requests to {} in {:.2} s over {} connections ({} opened): {:.1} req/s",
            self.requests,
            self.url,
            self.elapsed_s,
            self.connections,
            self.connects,
            self.throughput_rps
        )?;
        writeln!(
            f,
            "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            l.p50, l.p90, l.p99, l.max
        )?;
        let width = self
            .targets
            .iter()
            .map(|t| t.target.len())
            .max()
            .unwrap_or(0);
        for t in &self.targets {
            let mut statuses = String::new();
            for (label, n) in &t.statuses {
                let mark = if t.unexpected.contains_key(label) {
                    " UNEXPECTED"
                } else {
                    ""
                };
                let _ = write!(statuses, "  [{label}: {n}{mark}]");
            }
            for (e, n) in &t.transport_errors {
                let _ = write!(statuses, "  [error {e}: {n}]");
            }
            writeln!(
                f,
                "  {:width$}  w{:<3} {:>8} req  p50 {:>8.2}  p99 {:>8.2}  max {:>8.2}{statuses}",
                t.target,
                t.weight,
                t.requests,
                t.latency_ms.p50,
                t.latency_ms.p99,
                t.latency_ms.max
            )?;
            for (label, body) in &t.unexpected_samples {
                writeln!(f, "    first {label} body: {body}")?;
            }
        }
        write!(
            f,
            "{}: {} expected, {} unexpected responses, {} transport errors",
            if self.pass { "PASS" } else { "FAIL" },
            self.expected,
            self.unexpected,
            self.transport_errors
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_arithmetic() {
        let targets: Vec<Target> = ["weight=3 GET /a", "expect=500:fuel_exhausted GET /spin"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        // Two connections' worth, merged the way the runner merges them.
        let mut stats = Stats::new(2);
        let mut other = Stats::new(2);
        for ms in 1..=100 {
            let s = if ms % 2 == 0 { &mut stats } else { &mut other };
            s.targets[0].response("200".into(), true, Duration::from_millis(ms), b"ok");
        }
        stats.targets[1].response(
            "500 fuel_exhausted".into(),
            true,
            Duration::from_secs(1),
            b"",
        );
        other.targets[1].response("200".into(), false, Duration::from_secs(2), b"oops");
        other.targets[1].error("timeout".into());
        stats.connects = 1;
        other.connects = 2;
        stats.merge(other);

        let r = Report::new("http://x", 2, &targets, stats, Duration::from_secs(4));
        assert_eq!((r.requests, r.responses, r.expected), (103, 102, 101));
        assert_eq!((r.unexpected, r.transport_errors, r.connects), (1, 1, 3));
        assert!(!r.pass);
        assert!((r.throughput_rps - 25.5).abs() < 1e-9);
        // hdrhistogram keeps 3 significant figures: 50 ms may read as 50.0xx.
        let a = r.targets[0].latency_ms;
        assert!((a.p50 - 50.0).abs() < 0.1, "{a:?}");
        assert!((a.p90 - 90.0).abs() < 0.1, "{a:?}");
        assert!((a.p99 - 99.0).abs() < 0.1, "{a:?}");
        assert!((a.max - 100.0).abs() < 0.1, "{a:?}");
        assert!((r.latency_ms.max - 2000.0).abs() < 2.0);
        let spin = &r.targets[1];
        assert_eq!(spin.requests, 3);
        assert_eq!(spin.expect, ["500:fuel_exhausted"]);
        assert_eq!(spin.unexpected["200"], 1);
        assert_eq!(spin.unexpected_samples["200"], "oops");
        assert!(r.to_string().contains("[200: 1 UNEXPECTED]"));
        assert!(
            r.to_string()
                .ends_with("FAIL: 101 expected, 1 unexpected responses, 1 transport errors")
        );

        let empty = Report::new("http://x", 1, &targets, Stats::new(2), Duration::ZERO);
        assert!(empty.pass);
        assert_eq!(
            (empty.throughput_rps, empty.latency_ms),
            (0.0, Latency::default())
        );
    }
}
