//! The process's Prometheus metrics: one registry, every metric PiCloud
//! exports declared here (docs/operations.md lists them), rendered by
//! [`render`] in the text exposition format for `GET /metrics`.
//!
//! One process-wide registry rather than one per service: in the single
//! binary the ingress, executor and manager share a process and a scrape must
//! see all three; in a cluster each process exports its own part and
//! Prometheus sums across instances. The `prometheus` crate keeps a counter
//! increment to an atomic add once its labelled child is looked up.
//!
//! Labels are bounded: `app` (an operator creates apps; the slug is what a
//! dashboard shows), a status class, an error code, a trigger, a service
//! operation. Never a path, a host, a script or a client: those are the
//! caller's to choose and would grow the series without bound.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Encoder as _, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::{ExecutionOutcome, Trigger};

/// Execution durations: from a cached Hello World (about a millisecond) to
/// the longest deadline operators configure.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Data-plane operations and database writes: sub-millisecond to a second.
const STORAGE_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Every metric of the process. Read through [`metrics`].
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// `picloud_build_info{version, wit, schema}`: always 1.
    pub build_info: IntGaugeVec,
    /// `picloud_http_requests_total{app, status}`: requests the ingress
    /// answered, by app slug (empty when no app serves the host) and status
    /// class (`2xx` … `5xx`).
    pub http_requests: IntCounterVec,
    /// `picloud_executions_total{app, trigger, outcome}`: finished
    /// executions; outcome `ok` or `error`.
    pub executions: IntCounterVec,
    /// `picloud_execution_duration_seconds{app}`: wall time per execution,
    /// instantiation included.
    pub execution_duration: HistogramVec,
    /// `picloud_execution_fuel_used_total{app}`: fuel consumed.
    pub fuel_used: IntCounterVec,
    /// `picloud_execution_errors_total{app, code}`: failed executions by
    /// error code (docs/api.md, "Script errors").
    pub execution_errors: IntCounterVec,
    /// `picloud_executions_in_flight`: scripts running in this executor.
    pub in_flight: IntGauge,
    /// `picloud_executions_waiting`: executions queued for a slot.
    pub waiting: IntGauge,
    /// `picloud_data_operations_total{service, op, outcome}`: key-value and
    /// document calls scripts made.
    pub data_operations: IntCounterVec,
    /// `picloud_data_operation_duration_seconds{service, op}`.
    pub data_duration: HistogramVec,
    /// `picloud_outbound_http_requests_total{outcome}`: scripts' `http`
    /// calls: `ok` (any response), `denied` (not on the allow-list or over
    /// the per-execution cap) or `error` (the call failed).
    pub outbound_http: IntCounterVec,
    /// `picloud_db_connections{state}`: the database pool's connections,
    /// `in_use` or `idle` (read at scrape time).
    pub db_connections: IntGaugeVec,
    /// `picloud_db_connections_max`: the pool's size limit.
    pub db_connections_max: IntGauge,
    /// `picloud_db_query_duration_seconds{op}`: database work by the
    /// manager's hot paths (`execution_log_write`, and the data operations).
    pub db_query_duration: HistogramVec,
    /// `picloud_execution_log_records_written_total`.
    pub log_written: IntCounter,
    /// `picloud_execution_log_records_dropped_total{queue}`: records lost
    /// to a full queue (`execution_log`: the manager's writer;
    /// `execution_records`: an orchestrator's sender) or a failed write.
    pub log_dropped: IntCounterVec,
    /// `picloud_log_stream_subscribers`: open live-log streams.
    pub log_streams: IntGauge,
    /// `picloud_log_stream_dropped_total`: live-log readers cut off for
    /// falling behind.
    pub log_streams_dropped: IntCounter,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("registered once");
    metric
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> HistogramVec {
    let metric = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )
    .expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("registered once");
    metric
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let metric = IntGauge::new(name, help).expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("registered once");
    metric
}

fn gauges(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let metric = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("registered once");
    metric
}

impl Metrics {
    fn new() -> Metrics {
        let r = Registry::new();
        let build_info = gauges(
            &r,
            "picloud_build_info",
            "PiCloud's version, WIT package and database schema (always 1).",
            &["version", "wit", "schema"],
        );
        Metrics {
            http_requests: counter(
                &r,
                "picloud_http_requests_total",
                "Requests the ingress answered, by app and status class.",
                &["app", "status"],
            ),
            executions: counter(
                &r,
                "picloud_executions_total",
                "Finished script executions, by app, trigger and outcome.",
                &["app", "trigger", "outcome"],
            ),
            execution_duration: histogram(
                &r,
                "picloud_execution_duration_seconds",
                "Wall time of script executions, instantiation included.",
                &["app"],
                DURATION_BUCKETS,
            ),
            fuel_used: counter(
                &r,
                "picloud_execution_fuel_used_total",
                "Fuel (guest instructions) consumed by script executions.",
                &["app"],
            ),
            execution_errors: counter(
                &r,
                "picloud_execution_errors_total",
                "Failed script executions, by app and error code.",
                &["app", "code"],
            ),
            in_flight: gauge(
                &r,
                "picloud_executions_in_flight",
                "Script executions running in this executor.",
            ),
            waiting: gauge(
                &r,
                "picloud_executions_waiting",
                "Script executions queued for an executor slot.",
            ),
            data_operations: counter(
                &r,
                "picloud_data_operations_total",
                "Key-value and document operations scripts made, by service, operation and outcome.",
                &["service", "op", "outcome"],
            ),
            data_duration: histogram(
                &r,
                "picloud_data_operation_duration_seconds",
                "Latency of key-value and document operations.",
                &["service", "op"],
                STORAGE_BUCKETS,
            ),
            outbound_http: counter(
                &r,
                "picloud_outbound_http_requests_total",
                "Outbound HTTP calls scripts made, by outcome (ok, denied, error).",
                &["outcome"],
            ),
            db_connections: gauges(
                &r,
                "picloud_db_connections",
                "Database pool connections, by state (in_use, idle).",
                &["state"],
            ),
            db_connections_max: gauge(
                &r,
                "picloud_db_connections_max",
                "The database pool's connection limit.",
            ),
            db_query_duration: histogram(
                &r,
                "picloud_db_query_duration_seconds",
                "Latency of the manager's database work on the request path, by operation.",
                &["op"],
                STORAGE_BUCKETS,
            ),
            log_written: counter(
                &r,
                "picloud_execution_log_records_written_total",
                "Execution records stored in the execution log.",
                &[],
            )
            .with_label_values(&[] as &[&str]),
            log_dropped: counter(
                &r,
                "picloud_execution_log_records_dropped_total",
                "Execution records lost to a full queue or a failed write, by queue.",
                &["queue"],
            ),
            log_streams: gauge(
                &r,
                "picloud_log_stream_subscribers",
                "Open live execution-log streams.",
            ),
            log_streams_dropped: counter(
                &r,
                "picloud_log_stream_dropped_total",
                "Live execution-log readers cut off for falling behind.",
                &[],
            )
            .with_label_values(&[] as &[&str]),
            build_info,
            registry: r,
        }
    }

    /// Records one finished execution under its app's slug.
    pub fn observe_execution(&self, app: &str, trigger: Trigger, outcome: &ExecutionOutcome) {
        let ok = outcome.outcome.is_ok();
        self.executions
            .with_label_values(&[app, trigger.as_str(), if ok { "ok" } else { "error" }])
            .inc();
        self.execution_duration
            .with_label_values(&[app])
            .observe(outcome.duration.as_secs_f64());
        if outcome.fuel_used > 0 {
            self.fuel_used
                .with_label_values(&[app])
                .inc_by(outcome.fuel_used);
        }
        if let Err(err) = &outcome.outcome {
            self.execution_errors
                .with_label_values(&[app, err.code()])
                .inc();
        }
    }

    /// Counts one answer of the ingress.
    pub fn observe_request(&self, app: &str, status: u16) {
        self.http_requests
            .with_label_values(&[app, status_class(status)])
            .inc();
    }

    /// Records one data-plane call.
    pub fn observe_data(&self, service: &str, op: &str, ok: bool, took: Duration) {
        self.data_operations
            .with_label_values(&[service, op, if ok { "ok" } else { "error" }])
            .inc();
        self.data_duration
            .with_label_values(&[service, op])
            .observe(took.as_secs_f64());
    }

    /// Sets `picloud_build_info`; `schema` is empty in a process without a
    /// database (an orchestrator or executor node).
    pub fn set_build_info(&self, version: &str, schema: &str) {
        self.build_info.reset();
        self.build_info
            .with_label_values(&[version, crate::versions::WIT, schema])
            .set(1);
    }
}

/// `2xx`, `4xx`, …: a status's class, the label dashboards group by.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every metric in the Prometheus text exposition format (0.0.4).
pub fn render() -> String {
    let mut out = Vec::new();
    // Encoding into a Vec fails only on an invalid metric, which the
    // constructors above already rule out.
    if let Err(err) = TextEncoder::new().encode(&metrics().registry.gather(), &mut out) {
        tracing::error!(error = %err, "encoding the metrics failed");
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Holds a gauge one higher while it lives (an execution waiting, one
/// running): the decrement cannot be missed on an early return or a
/// cancelled future.
#[derive(Debug)]
pub struct GaugeGuard(IntGauge);

impl GaugeGuard {
    /// Increments `gauge` until the guard is dropped.
    pub fn hold(gauge: &IntGauge) -> GaugeGuard {
        gauge.inc();
        GaugeGuard(gauge.clone())
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A timer for a histogram: observes the time since it was started.
#[derive(Debug)]
pub struct Timer(std::time::Instant);

impl Timer {
    /// Starts timing.
    pub fn start() -> Timer {
        Timer(std::time::Instant::now())
    }

    /// Time since [`Timer::start`].
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }

    /// Observes the elapsed time into `histogram`.
    pub fn observe(self, histogram: &Histogram) {
        histogram.observe(self.0.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_names_every_family_with_help_and_type() {
        let m = metrics();
        m.set_build_info("0.0.0-test", "8");
        m.observe_request("shop", 503);
        m.observe_execution(
            "shop",
            Trigger::Http,
            &ExecutionOutcome {
                outcome: Err(crate::ExecutionError::FuelExhausted { budget: 10 }),
                fuel_used: 10,
                duration: Duration::from_millis(3),
                logs: Vec::new(),
                logs_dropped: 0,
                next: None,
                children: Vec::new(),
            },
        );
        let text = render();
        assert!(
            text.contains(r#"picloud_http_requests_total{app="shop",status="5xx"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"picloud_execution_errors_total{app="shop",code="fuel_exhausted"} 1"#)
        );
        assert!(text.contains("# TYPE picloud_execution_duration_seconds histogram"));
        assert!(text.contains(
            r#"picloud_build_info{schema="8",version="0.0.0-test",wit="picloud:platform@"#
        ));
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(404), "4xx");
    }
}
