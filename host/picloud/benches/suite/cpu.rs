//! 2. CPU-bound scripts: in the guest with fuel metering on (as PiCloud runs
//!    them), with fuel off, and in native Rhai in-process with a reused
//!    engine.

use std::hint::black_box;

use executor_core::Executor;

use crate::common::{Figure, Opts, Row, Table, Target};
use crate::execution::request;

const SCRIPTS: [(&str, &str); 2] = [
    (
        "recursive fib(20)",
        "fn fib(n) { if n < 2 { n } else { fib(n - 1) + fib(n - 2) } } fib(20)",
    ),
    (
        "loop of 100k iterations",
        "let sum = 0; for i in 0..100000 { sum += i * 2 % 7; } sum",
    ),
];

pub(crate) fn run(opts: &Opts, metered: &Executor, unmetered: &Executor, table: &mut Table) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The guest's own engine sets an operation limit, which makes Rhai count
    // operations; the native engine does the same so the comparison isolates
    // wasm and fuel.
    let mut native = rhai::Engine::new();
    native.set_max_operations(50_000_000);
    for (name, source) in SCRIPTS {
        let job = request(source);
        let expected = native.eval::<i64>(source).expect("native run");
        for executor in [metered, unmetered] {
            let outcome = rt.block_on(executor.execute(job.clone()));
            let body = outcome.outcome.expect("the script runs").body;
            assert_eq!(String::from_utf8_lossy(&body), expected.to_string());
        }
        let (rounds, batch) = opts.pick((11, 300), (1, 1));
        let medians = testkit::bench::interleaved_medians(
            &mut [
                &mut || {
                    black_box(rt.block_on(metered.execute(job.clone())));
                },
                &mut || {
                    black_box(rt.block_on(unmetered.execute(job.clone())));
                },
                &mut || {
                    let ast = native.compile(black_box(source)).expect("compiles");
                    black_box(native.eval_ast::<i64>(&ast).expect("runs"));
                },
            ],
            rounds,
            std::time::Duration::from_millis(batch),
        );
        let [fuel_on, fuel_off, native_time] = medians[..] else {
            unreachable!("three workloads")
        };
        let ms = |d: std::time::Duration| Figure::Millis(d.as_secs_f64() * 1e3);
        table.push(Row {
            bench: "2 cpu-bound",
            figure: format!("{name}, guest, fuel on"),
            value: ms(fuel_on),
            reference: Some(("native Rhai".into(), ms(native_time))),
            target: Target::RatioAtMost(1.5),
        });
        table.push(Row {
            bench: "2 cpu-bound",
            figure: format!("{name}, guest, fuel off"),
            value: ms(fuel_off),
            reference: Some(("native Rhai".into(), ms(native_time))),
            target: Target::None,
        });
        table.push(Row {
            bench: "2 cpu-bound",
            figure: format!("{name}, guest, fuel on"),
            value: ms(fuel_on),
            reference: Some(("guest, fuel off".into(), ms(fuel_off))),
            target: Target::None,
        });
    }
}
