//! 6. Start-up: from spawning `picloud serve` to the first `200` from
//!    `/hello`, on a fresh data directory (a new SQLite database: migrations
//!    and the Hello World seed) with a warm compiled-guest cache, and with an
//!    empty one (the first start after an install or upgrade: the guest is
//!    pre-initialized and compiled). The minimal axum handler's spawn → first
//!    response is printed as a reference.

use std::time::{Duration, Instant};

use crate::common::{Figure, Opts, Row, Server, Table, Target, get_status, median};

/// Spawns the server and asks for `/hello` until it answers `200`: the
/// request is sent as soon as the process names its address, and retried
/// only if the answer is not a 200 yet.
fn time_to_hello(start: impl FnOnce() -> Server) -> (Duration, Server) {
    let started = Instant::now();
    let server = start();
    while get_status(&server.addr, "localhost", "/hello") != Some(200) {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no 200 from /hello"
        );
    }
    (started.elapsed(), server)
}

pub(crate) fn run(opts: &Opts, table: &mut Table) {
    let runs = opts.pick(7, 1);
    let mut warm = Vec::new();
    let mut reference = Vec::new();
    for _ in 0..runs {
        let data = crate::common::warm_data_dir();
        let (took, server) = time_to_hello(|| Server::picloud(data.path(), &[]));
        drop(server);
        warm.push(took.as_secs_f64() * 1e3);
        let (took, server) = time_to_hello(Server::baseline);
        drop(server);
        reference.push(took.as_secs_f64() * 1e3);
    }
    let reference = median(&mut reference);
    table.push(Row {
        bench: "6 start-up",
        figure: "spawn → first /hello, warm cache".into(),
        value: Figure::Millis(median(&mut warm)),
        reference: Some(("minimal axum handler".into(), Figure::Millis(reference))),
        target: Target::AtMost(300.0),
    });
    if opts.full {
        // Once: this is the slow path (seconds to minutes on a small board).
        let data = tempfile::tempdir().expect("temp dir");
        let (took, server) = time_to_hello(|| Server::picloud(data.path(), &[]));
        drop(server);
        crate::common::save_cache(data.path());
        table.push(Row {
            bench: "6 start-up",
            figure: "spawn → first /hello, empty cache".into(),
            value: Figure::Millis(took.as_secs_f64() * 1e3),
            reference: Some(("minimal axum handler".into(), Figure::Millis(reference))),
            target: Target::None,
        });
    }
}
