//! 3. End to end over HTTP: `GET /hello` through the whole stack (Host → app
//!    → route → executor → response, and the execution log) against the
//!    minimal axum handler, both in their own processes on this machine, in
//!    the same run, with the same closed-loop load generator and connection
//!    count: at 1 connection (latency) and at 64 (throughput). Runs alternate
//!    between the two servers and the medians are compared.

use std::time::Duration;

use tokio::runtime::Runtime;

use crate::common::{Figure, Load, Opts, Row, Server, Table, Target, load, median};

pub(crate) fn run(
    opts: &Opts,
    rt: &Runtime,
    picloud: &Server,
    baseline: &Server,
    table: &mut Table,
) {
    let (rounds, seconds) = opts.pick((3, 5.0), (1, 0.2));
    let duration = Duration::from_secs_f64(seconds);
    let hello = "GET /hello localhost";
    for connections in [1, 64] {
        // Warm-up: connections, caches, the pool's instance slots.
        rt.block_on(load(&picloud.url(), hello, connections, duration / 2));
        rt.block_on(load(&baseline.url(), hello, connections, duration / 2));
        let mut ours: Vec<Load> = Vec::new();
        let mut theirs: Vec<Load> = Vec::new();
        for _ in 0..rounds {
            theirs.push(rt.block_on(load(&baseline.url(), hello, connections, duration)));
            ours.push(rt.block_on(load(&picloud.url(), hello, connections, duration)));
        }
        let m = |runs: &[Load], f: fn(&Load) -> f64| {
            median(&mut runs.iter().map(f).collect::<Vec<_>>())
        };
        let (throughput_target, p99_target) = if connections == 64 {
            (Target::RatioAtLeast(0.5), Target::RatioAtMost(3.0))
        } else {
            (Target::None, Target::None)
        };
        let bench = "3 http /hello";
        table.push(Row {
            bench,
            figure: format!("throughput, {connections} conn."),
            value: Figure::PerSec(m(&ours, |l| l.rps)),
            reference: Some((
                "minimal axum handler".into(),
                Figure::PerSec(m(&theirs, |l| l.rps)),
            )),
            target: throughput_target,
        });
        for (name, f, target) in [
            (
                "p50",
                (|l: &Load| l.p50_ms) as fn(&Load) -> f64,
                Target::None,
            ),
            ("p99", |l: &Load| l.p99_ms, p99_target),
        ] {
            table.push(Row {
                bench,
                figure: format!("{name} latency, {connections} conn."),
                value: Figure::Millis(m(&ours, f)),
                reference: Some(("minimal axum handler".into(), Figure::Millis(m(&theirs, f)))),
                target,
            });
        }
    }
}
