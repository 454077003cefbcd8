//! One execution: fresh store, limits, instantiate, call, classify.

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use shared::{
    ExecutionError, ExecutionKind, ExecutionOutcome, ExecutionRequest, ImportRef, LimitKind,
    Limits, ModuleSource, Position, ScriptFailure, ScriptRequest, ScriptResponse, ServiceProvider,
};
use wasmtime::component::Linker;
use wasmtime::{Engine, Store, Trap};

use crate::bindings::picloud::platform::types as wit;
use crate::bindings::{Script, ScriptPre};
use crate::engine::{self, AllocatorKind};
use crate::host::{ExecutionContext, HostState, LogBuffer, MemoryCap};
use crate::invoke::{Chain, Invokes};
use crate::outbound::Outbound;
use crate::{ExecutorConfig, Result, component};

/// Fuel between two yields of a running script to the async runtime: the
/// time slice after which other requests on the same worker thread get a
/// turn. 40–75 µs of guest work (`loop {}`) on the machine in docs/performance.md;
/// smaller slices cost throughput (each yield is a fiber switch and a trip
/// through the scheduler), larger ones let a busy script delay a quick one
/// for longer (the noisy-neighbour benchmark measures both). Each yield is
/// also where the wall-clock deadline is checked (`within_deadline`).
///
/// It was 100,000 until Hello World grew to about 110,000 fuel: every
/// `/hello` then yielded once, which cost 8–15 % of throughput and of CPU per
/// request (ADR 002 has the figures). At 250,000 a typical short script runs
/// in one slice, and the noisy-neighbour p99 stays at about A alone.
pub const YIELD_FUEL: u64 = 250_000;

/// The process-wide executor: engine, pre-linked guest (and, with fuel off,
/// the epoch ticker). A handle: clones share one executor (each running
/// script holds one, to run the scripts it `invoke`s); every call is
/// independent.
#[derive(Clone)]
pub struct Executor(pub(crate) Arc<Inner>);

pub(crate) struct Inner {
    engine: Engine,
    pre: ScriptPre<HostState>,
    allocator: AllocatorKind,
    max_limits: Limits,
    fuel: bool,
    services: Arc<dyn ServiceProvider>,
    outbound: Arc<Outbound>,
    pub(crate) max_invoke_depth: u32,
    pub(crate) max_invokes: u32,
    /// Instances for callees of `invoke`, beyond the one per slot.
    pub(crate) callee_instances: Arc<tokio::sync::Semaphore>,
    _ticker: Option<Arc<()>>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("allocator", &self.0.allocator)
            .finish_non_exhaustive()
    }
}

impl Executor {
    /// Builds the engine and loads the guest (from the cache when possible).
    /// Called once at start; the first start after an upgrade spends a few
    /// seconds pre-initializing and compiling the guest.
    pub fn new(config: ExecutorConfig) -> Result<Self> {
        let (engine, allocator) = engine::build(&config)?;
        let component = component::load(&engine, config.cache_dir.as_deref())?;
        let mut linker: Linker<HostState> = Linker::new(&engine);
        Script::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |state| state)?;
        let pre = ScriptPre::new(linker.instantiate_pre(&component)?)?;
        let ticker = (!config.fuel).then(|| engine::start_epoch_ticker(&engine));
        tracing::info!(?allocator, "executor ready");
        Ok(Executor(Arc::new(Inner {
            engine,
            pre,
            allocator,
            max_limits: config.max_limits,
            fuel: config.fuel,
            services: config.services,
            outbound: Arc::new(
                Outbound::new(config.outbound)
                    .map_err(|e| crate::Error::Outbound(e.to_string()))?,
            ),
            max_invoke_depth: config.max_invoke_depth,
            max_invokes: config.max_invokes,
            callee_instances: Arc::new(tokio::sync::Semaphore::new(
                config.max_concurrent.max(1) as usize
            )),
            _ticker: ticker,
        })))
    }

    /// The instance allocator in use (pooling unless the kernel refused it).
    pub fn allocator(&self) -> AllocatorKind {
        self.0.allocator
    }

    /// The engine, e.g. to measure another component under identical
    /// settings (the benchmark's empty-component floor does).
    pub fn engine(&self) -> &Engine {
        &self.0.engine
    }

    /// The operator ceilings every execution's limits are capped by.
    pub fn max_limits(&self) -> &Limits {
        &self.0.max_limits
    }

    /// Runs one script in a fresh instance. The future does the work when
    /// polled and yields every [`YIELD_FUEL`] units of fuel, so it can run on
    /// an async runtime's worker threads next to other requests without
    /// starving them (ADR 002).
    pub async fn execute(&self, request: ExecutionRequest) -> ExecutionOutcome {
        let chain = Chain::root(request.script_id, &request.name);
        self.run(request, chain, None).await
    }

    /// Runs one execution; `caller_deadline` is the deadline of the script
    /// that `invoke`d this one, which this one cannot outlive.
    pub(crate) async fn run(
        &self,
        request: ExecutionRequest,
        chain: Chain,
        caller_deadline: Option<Instant>,
    ) -> ExecutionOutcome {
        let started = Instant::now();
        let limits = request.limits.capped_by(&self.0.max_limits);
        let context = ExecutionContext {
            execution_id: request.execution_id,
            app_id: request.app_id,
            script_id: request.script_id,
            trigger: request.trigger,
            client_ip: request.request.client_ip.parse().ok(),
        };
        let own_deadline = started + limits.deadline();
        let deadline = caller_deadline.map_or(own_deadline, |d| d.min(own_deadline));
        let invokes = Invokes::new(self.clone(), chain, request.request.id.clone());
        let mut store = self.store(context, &limits, deadline, Some(invokes));
        let modules = to_wit_modules(&request.modules);
        let kind = request.kind;
        let result = self
            .within_deadline(deadline, async {
                let script = self.0.pre.instantiate_async(&mut store).await?;
                let wit_request = to_wit(request.request);
                Ok(match kind {
                    ExecutionKind::Handler => script
                        .call_run(&mut store, &request.source, &wit_request, &modules)
                        .await?
                        .map(|response| (response, None)),
                    ExecutionKind::Interceptor => script
                        .call_intercept(&mut store, &request.source, &wit_request, &modules)
                        .await?
                        .map(|outcome| match outcome {
                            wit::InterceptOutcome::Respond(response) => (response, None),
                            wit::InterceptOutcome::Next(locals) => (
                                wit::HttpResponse {
                                    status: 204,
                                    headers: Vec::new(),
                                    body: Vec::new(),
                                },
                                Some(locals),
                            ),
                        }),
                })
            })
            .await;
        let fuel_used = store
            .get_fuel()
            .map_or(0, |left| limits.fuel.saturating_sub(left));
        let mut next = None;
        let outcome = match result {
            Ok(Ok((response, locals))) => {
                next = locals;
                check_response(response, &limits)
            }
            Ok(Err(script_error)) => Err(from_script_error(script_error)),
            Err(trap) => Err(classify_trap(&trap, store.data(), &limits)),
        };
        let state = store.into_data();
        ExecutionOutcome {
            outcome,
            fuel_used,
            duration: started.elapsed(),
            logs: state.logs.lines,
            logs_dropped: state.logs.dropped,
            next,
            children: state
                .invokes
                .map(Invokes::into_children)
                .unwrap_or_default(),
        }
    }

    /// Instantiates the guest in a fresh store, with the same limits as an
    /// execution, and calls its `init` export (a no-op once pre-initialized).
    /// This is the floor of per-request isolation for this guest: everything
    /// an execution pays except compiling and running the script. Run once at
    /// start as a self-check, and by the benchmark.
    pub async fn instantiate_noop(&self) -> Result<(), ExecutionError> {
        let context = ExecutionContext {
            execution_id: shared::ExecutionId::new(),
            app_id: shared::AppId::new(),
            script_id: shared::ScriptId::new(),
            trigger: shared::Trigger::Test,
            client_ip: None,
        };
        let limits = Limits::default().capped_by(&self.0.max_limits);
        let deadline = Instant::now() + limits.deadline();
        let mut store = self.store(context, &limits, deadline, None);
        let result = self
            .within_deadline(deadline, async {
                let script = self.0.pre.instantiate_async(&mut store).await?;
                script.call_init(&mut store).await
            })
            .await;
        result.map_err(|trap| classify_trap(&trap, store.data(), &limits))
    }

    /// Compiles `source` in a fresh instance without running it; the
    /// `import` statements it has.
    pub async fn check(&self, source: &str) -> Result<Vec<ImportRef>, ExecutionError> {
        let context = ExecutionContext {
            execution_id: shared::ExecutionId::new(),
            app_id: shared::AppId::new(),
            script_id: shared::ScriptId::new(),
            trigger: shared::Trigger::Test,
            client_ip: None,
        };
        let limits = Limits::default().capped_by(&self.0.max_limits);
        let deadline = Instant::now() + limits.deadline();
        let mut store = self.store(context, &limits, deadline, None);
        let result = self
            .within_deadline(deadline, async {
                let script = self.0.pre.instantiate_async(&mut store).await?;
                script.call_check(&mut store, source).await
            })
            .await;
        match result {
            Ok(Ok(imports)) => Ok(imports
                .into_iter()
                .map(|import| ImportRef {
                    name: import.name,
                    position: import.position.map(|p| Position {
                        line: p.line,
                        column: p.column,
                    }),
                })
                .collect()),
            Ok(Err(failure)) => Err(ExecutionError::Compile(from_failure(failure))),
            Err(trap) => Err(classify_trap(&trap, store.data(), &limits)),
        }
    }

    fn store(
        &self,
        context: ExecutionContext,
        limits: &Limits,
        deadline: Instant,
        invokes: Option<Invokes>,
    ) -> Store<HostState> {
        let state = HostState::new(
            context,
            LogBuffer::new(limits.max_log_lines, limits.max_log_bytes),
            MemoryCap::new(limits.memory_bytes),
            self.0.services.clone(),
            self.0.outbound.clone(),
            deadline,
            invokes,
        );
        let mut store = Store::new(&self.0.engine, state);
        store.limiter(|state| &mut state.memory);
        if self.0.fuel {
            store
                .set_fuel(limits.fuel)
                .expect("fuel is enabled in the engine config");
            store
                .fuel_async_yield_interval(Some(YIELD_FUEL))
                .expect("fuel is enabled in the engine config");
        } else {
            store.set_epoch_deadline(engine::deadline_ticks(limits.deadline()));
            store.epoch_deadline_trap();
        }
        store
    }

    /// Runs `call` (instantiate and call the guest) until `deadline`.
    ///
    /// With fuel on, a running script returns `Pending` every [`YIELD_FUEL`];
    /// each time, the clock is read and, once the deadline has passed, the call
    /// is dropped, which makes wasmtime unwind the guest's fiber with a trap.
    /// The store survives, so fuel used and logs written so far are still
    /// reported. Waits on host services are bounded by the same deadline where
    /// they happen (services.rs). With fuel off the engine's epochs interrupt
    /// the guest instead and this only awaits `call`.
    async fn within_deadline<T>(
        &self,
        deadline: Instant,
        call: impl Future<Output = wasmtime::Result<T>>,
    ) -> wasmtime::Result<T> {
        if !self.0.fuel {
            return call.await;
        }
        let mut call = std::pin::pin!(call);
        std::future::poll_fn(|cx| match call.as_mut().poll(cx) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending if Instant::now() >= deadline => Poll::Ready(Err(Trap::Interrupt.into())),
            Poll::Pending => Poll::Pending,
        })
        .await
    }
}

/// Moves the request into the WIT record: the body is copied once, into the
/// guest's memory, and nowhere else.
fn to_wit(request: ScriptRequest) -> wit::HttpRequest {
    wit::HttpRequest {
        method: request.method,
        path: request.path,
        query: request.query,
        headers: request.headers,
        params: request.params,
        host_params: request.host_params,
        body: request.body,
        url: request.url,
        client_ip: request.client_ip,
        id: request.id,
        locals: request.locals,
    }
}

/// The modules as the guest takes them (the sources are copied once, into
/// the guest's memory).
fn to_wit_modules(modules: &[ModuleSource]) -> Vec<wit::ModuleSource> {
    modules
        .iter()
        .map(|module| wit::ModuleSource {
            name: module.name.clone(),
            source: module.source.to_string(),
        })
        .collect()
}

/// Every response passes [`shared::response::check_response`] here, the one
/// place all of an execution's paths (user routes, execute-by-id, test runs,
/// cron, cluster executors) share.
pub(crate) fn check_response(
    response: wit::HttpResponse,
    limits: &Limits,
) -> Result<ScriptResponse, ExecutionError> {
    shared::response::check_response(
        response.status,
        &response.headers,
        response.body.len(),
        limits,
    )?;
    Ok(ScriptResponse {
        status: response.status,
        headers: response.headers,
        body: response.body,
    })
}

fn from_failure(failure: wit::Failure) -> ScriptFailure {
    ScriptFailure {
        message: failure.message,
        position: failure.position.map(|p| Position {
            line: p.line,
            column: p.column,
        }),
    }
}

fn from_script_error(error: wit::ScriptError) -> ExecutionError {
    match error {
        wit::ScriptError::Compile(f) => ExecutionError::Compile(from_failure(f)),
        wit::ScriptError::Runtime(f) => ExecutionError::Runtime(from_failure(f)),
        wit::ScriptError::Limit((kind, f)) => ExecutionError::ScriptLimit {
            kind: match kind {
                wit::LimitKind::Operations => LimitKind::Operations,
                wit::LimitKind::CallDepth => LimitKind::CallDepth,
                wit::LimitKind::ExpressionDepth => LimitKind::ExpressionDepth,
                wit::LimitKind::StringSize => LimitKind::StringSize,
                wit::LimitKind::ArraySize => LimitKind::ArraySize,
                wit::LimitKind::MapSize => LimitKind::MapSize,
            },
            failure: from_failure(f),
        },
        wit::ScriptError::BadResponse(message) => ExecutionError::BadResponse(message),
    }
}

/// Names the host-side limit behind a trap; anything else is a host bug or a
/// guest crash, logged here with its details and reported as `internal_error`.
fn classify_trap(error: &wasmtime::Error, state: &HostState, limits: &Limits) -> ExecutionError {
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => {
            return ExecutionError::FuelExhausted {
                budget: limits.fuel,
            };
        }
        Some(Trap::Interrupt) => {
            return ExecutionError::DeadlineExceeded {
                deadline_ms: limits.deadline_ms,
            };
        }
        Some(Trap::StackOverflow) => {
            return ExecutionError::ScriptLimit {
                kind: LimitKind::CallDepth,
                failure: ScriptFailure {
                    message: "stack overflow".into(),
                    position: None,
                },
            };
        }
        _ => {}
    }
    if state.memory.hit {
        return ExecutionError::MemoryLimit {
            limit_bytes: limits.memory_bytes,
        };
    }
    tracing::error!(
        app = %state.context.app_id,
        script = %state.context.script_id,
        error = %format!("{error:?}"),
        "script execution trapped unexpectedly"
    );
    ExecutionError::Internal
}
