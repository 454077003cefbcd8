//! What per-request isolation costs: Hello World through the real executor (a
//! fresh guest instance per call) against two references measured in the same
//! run, on the same machine:
//!
//! - `empty_instance_floor`: a fresh instance of an empty component on an
//!   engine configured like the executor's. No design that isolates every
//!   request in its own instance can go below this.
//! - `guest_instance_floor`: a fresh instance of the real guest (snapshot
//!   memory, WASI and platform imports) and a call to its no-op `init`: what
//!   isolation costs for *this* guest before any script work.
//! - `native_rhai`: the same script compiled and evaluated by Rhai in-process,
//!   i.e. with no isolation at all.
//!
//! Criterion reports each figure; the ratios printed at the end come from our
//! own interleaved timing loop (criterion's estimates are not exposed to the
//! caller). The project aims for a fresh Hello World under 2x the floor; the
//! ratios are printed, never asserted, so a slow CI machine cannot fail a build
//! over them. docs/performance.md records a run and how to read it.
//!
//! Run with `cargo bench -p executor-core --bench execution`.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::Criterion;
use executor_core::{Executor, ExecutorConfig};
use shared::{AppId, ExecutionRequest, Limits, ScriptId, ScriptRequest};
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Linker};
use wasmtime::{Engine, Store};

const HELLO_WORLD: &str = r#""Hello, World!""#;

/// The smallest component that can be instantiated and called: no memory, no
/// imports, one function that returns at once.
const EMPTY_COMPONENT_WAT: &str = r#"
(component
  (core module $m (func (export "noop")))
  (core instance $i (instantiate $m))
  (func (export "noop") (canon lift (core func $i "noop")))
)
"#;

fn hello_request() -> ExecutionRequest {
    ExecutionRequest {
        app_id: AppId::new(),
        script_id: ScriptId::new(),
        route_id: None,
        source: HELLO_WORLD.into(),
        request: ScriptRequest {
            method: "GET".into(),
            path: "/".into(),
            ..Default::default()
        },
        limits: Limits::default(),
    }
}

fn hello_world_fresh_instance(executor: &Executor, request: &ExecutionRequest) {
    let outcome = executor.execute(black_box(request.clone()));
    black_box(outcome);
}

/// The empty component on the executor's engine, so the floor pays the same
/// per-store and per-instance bookkeeping as the guest.
struct EmptyFloor {
    engine: Engine,
    pre: InstancePre<()>,
    noop: ComponentExportIndex,
    limits: Limits,
}

impl EmptyFloor {
    fn new(executor: &Executor) -> Self {
        // The executor's own engine: identical fuel, epoch, copy-on-write and
        // allocator settings (whichever pooling tier, or on-demand, it got).
        let engine = executor.engine().clone();
        let bytes = wat::parse_str(EMPTY_COMPONENT_WAT).expect("valid WAT");
        let component = Component::new(&engine, bytes).expect("valid component");
        // Look the export up once, as the executor's generated bindings do.
        let noop = component
            .get_export_index(None, "noop")
            .expect("`noop` is exported");
        let pre = Linker::new(&engine)
            .instantiate_pre(&component)
            .expect("no imports to satisfy");
        let limits = Limits::default().capped_by(executor.max_limits());
        EmptyFloor {
            engine,
            pre,
            noop,
            limits,
        }
    }

    fn run(&self) {
        let mut store = Store::new(&self.engine, ());
        store.set_fuel(self.limits.fuel).expect("fuel is enabled");
        // The executor rounds its deadline to 2 ms epoch ticks; the count does
        // not change the cost of setting it.
        store.set_epoch_deadline(self.limits.deadline_ms.div_ceil(2).max(1));
        store.epoch_deadline_trap();
        let instance = self.pre.instantiate(&mut store).expect("instantiates");
        let noop = instance
            .get_typed_func::<(), ()>(&mut store, &self.noop)
            .expect("`noop: func()`");
        noop.call(&mut store, ()).expect("returns");
        black_box(store);
    }
}

/// Compile + eval per call, because the guest also compiles the source on
/// every request; evaluating a cached AST would flatter the native side.
fn native_rhai(engine: &rhai::Engine) {
    let ast = engine.compile(black_box(HELLO_WORLD)).expect("compiles");
    let value: String = engine.eval_ast(&ast).expect("evaluates");
    black_box(value);
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    // `cargo test --benches` runs this binary without `--bench`: criterion then
    // runs each benchmark once, and our own loop should be as brief.
    let full_run = std::env::args().any(|arg| arg == "--bench");

    let config = ExecutorConfig {
        cache_dir: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache")),
        ..Default::default()
    };
    let executor = Executor::new(config.clone()).expect("executor starts");
    let floor = EmptyFloor::new(&executor);
    let rhai_engine = rhai::Engine::new();
    let request = hello_request();

    // A benchmark of an error path would be meaningless; check the script works.
    let outcome = executor.execute(request.clone());
    let response = outcome.outcome.expect("Hello World runs");
    assert_eq!(response.body, b"Hello, World!");

    let mut criterion = Criterion::default().configure_from_args();
    {
        let mut group = criterion.benchmark_group("isolation");
        group.bench_function("hello_world_fresh_instance", |b| {
            b.iter(|| hello_world_fresh_instance(&executor, &request))
        });
        group.bench_function("empty_instance_floor", |b| b.iter(|| floor.run()));
        group.bench_function("guest_instance_floor", |b| {
            b.iter(|| executor.instantiate_noop().expect("instantiates"))
        });
        group.bench_function("native_rhai", |b| b.iter(|| native_rhai(&rhai_engine)));
        group.finish();
    }
    criterion.final_summary();

    let (rounds, batch_time) = if full_run {
        (31, Duration::from_millis(100))
    } else {
        (3, Duration::from_millis(5))
    };
    let medians = testkit::bench::interleaved_medians(
        &mut [
            &mut || hello_world_fresh_instance(&executor, &request),
            &mut || floor.run(),
            &mut || executor.instantiate_noop().expect("instantiates"),
            &mut || native_rhai(&rhai_engine),
        ],
        rounds,
        batch_time,
    );
    let [hello, empty, guest, native] = medians[..] else {
        unreachable!("four workloads")
    };

    println!();
    println!(
        "summary (median of {rounds} interleaved batches of ~{} ms each, allocator: {:?})",
        batch_time.as_millis(),
        executor.allocator()
    );
    println!("  hello_world_fresh_instance  {:>10.2} µs", micros(hello));
    println!("  empty_instance_floor        {:>10.2} µs", micros(empty));
    println!("  guest_instance_floor        {:>10.2} µs", micros(guest));
    println!("  native_rhai                 {:>10.2} µs", micros(native));
    println!(
        "  hello_world_fresh_instance / empty_instance_floor = {:.2}x (target: under 2x)",
        hello.as_secs_f64() / empty.as_secs_f64()
    );
    println!(
        "  hello_world_fresh_instance / guest_instance_floor = {:.2}x",
        hello.as_secs_f64() / guest.as_secs_f64()
    );
    println!(
        "  hello_world_fresh_instance / native_rhai = {:.2}x",
        hello.as_secs_f64() / native.as_secs_f64()
    );
}
