//! 1. Execution: Hello World in a fresh isolated instance against
//!    (a) an empty component's instantiate + no-op call + drop, the floor of
//!    any instance-per-request design on this engine, (b) the real guest's
//!    instantiate + no-op call (what isolation costs for *this* guest before
//!    any script work), and (c) native Rhai in-process with a reused engine,
//!    the floor without isolation.

use std::hint::black_box;

use executor_core::Executor;
use shared::{AppId, ExecutionRequest, Limits, ScriptId, ScriptRequest};
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Linker};
use wasmtime::{Engine, Store};

use crate::common::{Figure, Opts, Row, Table, Target};

pub(crate) const HELLO_WORLD: &str = r#""Hello, World!""#;

/// The smallest component that can be instantiated and called: no memory, no
/// imports, one function that returns at once.
const EMPTY_COMPONENT_WAT: &str = r#"
(component
  (core module $m (func (export "noop")))
  (core instance $i (instantiate $m))
  (func (export "noop") (canon lift (core func $i "noop")))
)
"#;

pub(crate) fn request(source: &str) -> ExecutionRequest {
    ExecutionRequest {
        execution_id: shared::ExecutionId::new(),
        app_id: AppId::new(),
        script_id: ScriptId::new(),
        route_id: None,
        source: source.into(),
        request: ScriptRequest {
            method: "GET".into(),
            path: "/".into(),
            ..Default::default()
        },
        limits: Limits::default(),
        trigger: shared::Trigger::Http,
        name: String::new(),
        modules: Default::default(),
        kind: shared::ExecutionKind::Handler,
    }
}

/// The empty component on the executor's engine, instantiated and called the
/// way the executor calls the guest (async, with fuel and its yield interval), so the
/// floor pays the same per-store, per-call and allocator bookkeeping.
struct EmptyFloor {
    engine: Engine,
    pre: InstancePre<()>,
    noop: ComponentExportIndex,
    limits: Limits,
}

impl EmptyFloor {
    fn new(executor: &Executor) -> Self {
        let engine = executor.engine().clone();
        let bytes = wat::parse_str(EMPTY_COMPONENT_WAT).expect("valid WAT");
        let component = Component::new(&engine, bytes).expect("valid component");
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

    async fn run(&self) {
        let mut store = Store::new(&self.engine, ());
        store.set_fuel(self.limits.fuel).expect("fuel is enabled");
        store
            .fuel_async_yield_interval(Some(executor_core::YIELD_FUEL))
            .expect("fuel is enabled");
        // The executor's deadline is a clock check where the script yields
        // (nothing to arm on the store); the no-op never yields.
        let instance = self
            .pre
            .instantiate_async(&mut store)
            .await
            .expect("instantiates");
        let noop = instance
            .get_typed_func::<(), ()>(&mut store, &self.noop)
            .expect("`noop: func()`");
        noop.call_async(&mut store, ()).await.expect("returns");
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

/// A 100-line module: 25 four-line functions.
fn module_source() -> String {
    (0..25)
        .map(|i| format!("fn f{i}(x) {{\n    let y = x + {i};\n    y * 2\n}}\n"))
        .collect()
}

/// The same work twice: calling three functions of a 100-line module that
/// the script imports (compiled inside the fresh instance, like every
/// import), and with the module's code pasted into the script.
fn module_requests() -> (ExecutionRequest, ExecutionRequest) {
    let module = module_source();
    let inline = request(&format!("{module}\nf0(1) + f12(2) + f24(3)"));
    let mut imported = request("import \"lib\" as l;\nl::f0(1) + l::f12(2) + l::f24(3)");
    imported.modules = vec![shared::ModuleSource {
        name: "lib".into(),
        script_id: ScriptId::new(),
        version: 1,
        source: module.into(),
    }]
    .into();
    (imported, inline)
}

pub(crate) fn run(opts: &Opts, executor: &Executor, table: &mut Table) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let floor = EmptyFloor::new(executor);
    let rhai_engine = rhai::Engine::new();
    let hello = request(HELLO_WORLD);

    let outcome = rt.block_on(executor.execute(hello.clone()));
    assert_eq!(
        outcome.outcome.expect("Hello World runs").body,
        b"Hello, World!"
    );

    let (imported, inline) = module_requests();
    for request in [&imported, &inline] {
        let outcome = rt.block_on(executor.execute(request.clone()));
        assert_eq!(outcome.outcome.expect("the module runs").body, b"84");
    }

    let (rounds, batch) = opts.pick((31, 100), (3, 5));
    let medians = testkit::bench::interleaved_medians(
        &mut [
            &mut || {
                black_box(rt.block_on(executor.execute(black_box(hello.clone()))));
            },
            &mut || rt.block_on(floor.run()),
            &mut || {
                rt.block_on(executor.instantiate_noop())
                    .expect("instantiates")
            },
            &mut || native_rhai(&rhai_engine),
            &mut || {
                black_box(rt.block_on(executor.execute(black_box(imported.clone()))));
            },
            &mut || {
                black_box(rt.block_on(executor.execute(black_box(inline.clone()))));
            },
        ],
        rounds,
        std::time::Duration::from_millis(batch),
    );
    let [fresh, empty, guest, native, with_module, same_inline] = medians[..] else {
        unreachable!("six workloads")
    };
    // What an import costs (docs/performance.md): measured, no target.
    table.push(Row {
        bench: "1 execution",
        figure: "script importing one 100-line module".into(),
        value: Figure::of_duration_us(with_module),
        reference: Some((
            "the same code inline".into(),
            Figure::of_duration_us(same_inline),
        )),
        target: Target::None,
    });
    let figure = "hello world, fresh instance";
    for (reference, value, target) in [
        (
            "empty component instance + no-op call",
            empty,
            Target::RatioAtMost(1.3),
        ),
        ("guest instance + no-op call", guest, Target::None),
        ("native Rhai, reused engine", native, Target::None),
    ] {
        table.push(Row {
            bench: "1 execution",
            figure: figure.into(),
            value: Figure::of_duration_us(fresh),
            reference: Some((reference.into(), Figure::of_duration_us(value))),
            target,
        });
    }
}
