//! PiCloud's executor: runs Rhai scripts inside the wasm guest under wasmtime.
//!
//! One [`Executor`] per process owns the wasmtime `Engine` and the guest
//! component, pre-initialized (wizer) and compiled once, cached on disk. Every
//! execution gets a fresh `Store` and instance from an `InstancePre`, with a
//! fuel budget, a memory cap and a wall-clock deadline; nothing
//! survives between executions. The host side of each WIT import takes the app
//! from the store's [`ExecutionContext`](host::ExecutionContext), never from an
//! argument the guest passes.
//!
//! ```no_run
//! use executor_core::{Executor, ExecutorConfig};
//! use shared::{
//!     AppId, ExecutionKind, ExecutionRequest, Limits, ScriptId, ScriptRequest, Trigger,
//! };
//!
//! # async fn demo() -> Result<(), executor_core::Error> {
//! let executor = Executor::new(ExecutorConfig::default())?;
//! let outcome = executor.execute(ExecutionRequest {
//!     execution_id: shared::ExecutionId::new(),
//!     app_id: AppId::new(),
//!     script_id: ScriptId::new(),
//!     route_id: None,
//!     source: "`Hello, ${request.query.name}!`".into(),
//!     request: ScriptRequest { method: "GET".into(), ..Default::default() },
//!     limits: Limits::default(),
//!     trigger: Trigger::Http,
//!     name: "hello".into(),
//!     // The scripts of the same app it may `import`, if any.
//!     modules: Default::default(),
//!     kind: ExecutionKind::Handler,
//! }).await;
//! assert_eq!(outcome.outcome.unwrap().status, 200);
//! # Ok(())
//! # }
//! ```
//!
//! The crate has no database dependency: the data-plane services scripts
//! call (`kv`, `env`) reach it through an injected
//! [`shared::ServiceProvider`] ([`ExecutorConfig::services`]).

mod client;
mod component;
mod engine;
mod execute;
mod host;
mod invoke;
mod lane;
mod outbound;
mod services;

/// Host bindings generated from `wit/` (the one WIT source shared with the guest).
mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "script",
        // Exports are called with `call_async`, so a running script is a
        // future that yields to the runtime every `YIELD_FUEL` units of fuel
        // (see execute.rs). The data-plane imports wait for storage, so they
        // are async too, and trappable: a wait that outlives the deadline
        // ends the execution (services.rs).
        imports: {
            // `log` only appends to a buffer, but is trappable so that it can
            // end an execution that is past its deadline (host.rs).
            "picloud:platform/log": trappable,
            "picloud:platform/kv": async | trappable,
            "picloud:platform/docs": async | trappable,
            "picloud:platform/http-client": async | trappable,
            "picloud:platform/env": async | trappable,
            // Argon2 work in the manager: the slowest host calls.
            "picloud:platform/users": async | trappable,
            "picloud:platform/queue": async | trappable,
            // Only writes the outbox: delivery is the manager's, later.
            "picloud:platform/email": async | trappable,
            // Waits for the callee, which runs in an instance of its own.
            "picloud:platform/invoke": async | trappable,
        },
        exports: { default: async },
    });
}

use std::path::PathBuf;
use std::sync::Arc;

use shared::ServiceProvider;

pub use client::LocalExecutor;
pub use engine::AllocatorKind;
pub use execute::{Executor, YIELD_FUEL};
pub use lane::{FOREGROUND_BUDGET, LONG_LANE_NICE};
pub use outbound::OutboundConfig;
pub use services::NoServices;
pub use shared::{MAX_FIND_LIMIT, MAX_LIST_LIMIT};

/// The guest component as built from `guest/` by this crate's build script.
pub const GUEST_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/picloud_guest.wasm"));
/// SHA-256 of [`GUEST_WASM`], part of the compiled-component cache key.
pub const GUEST_SHA256: &str = env!("PICLOUD_GUEST_SHA256");

/// Errors setting up the executor. Script failures are never an `Error`: they
/// are [`shared::ExecutionError`]s inside an outcome.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// wasmtime refused the configuration or the component.
    #[error("wasmtime: {0:#}")]
    Wasmtime(#[from] wasmtime::Error),
    /// Reading or writing the component cache failed.
    #[error("component cache at {path}: {source}")]
    Cache {
        /// The cache file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Pre-initializing the guest failed.
    #[error("pre-initializing the guest: {0}")]
    Wizer(String),
    /// The outbound HTTP client could not be built (its TLS setup).
    #[error("outbound HTTP client: {0}")]
    Outbound(String),
    /// The long lane's threads could not be started (ADR 004).
    #[error("starting the long-execution threads: {0}")]
    Runtime(std::io::Error),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Requests one app may have waiting for its fair share by default. A queue
/// as short as the slots refused half of a 64-connection load on one app as
/// soon as its script yielded once (any script over `YIELD_FUEL`), although
/// every one of those requests would have been served in a few milliseconds;
/// waiting is bounded by the script's deadline anyway (ADR 007).
pub const DEFAULT_MAX_QUEUED_PER_APP: u32 = 256;

/// How deep `invoke` may nest by default: a script may invoke one that
/// invokes another, four levels below the request's own script.
pub const DEFAULT_MAX_INVOKE_DEPTH: u32 = 4;

/// How many `invoke` calls one execution may make by default.
pub const DEFAULT_MAX_INVOKES: u32 = 16;

/// How the executor is set up; one per process.
#[derive(Clone)]
pub struct ExecutorConfig {
    /// Where the compiled guest is cached between restarts; `None` compiles at
    /// every start (tests, read-only installs).
    pub cache_dir: Option<PathBuf>,
    /// Executions that may run at once; also the number of pooled instance
    /// slots. Further requests wait for a slot.
    pub max_concurrent: u32,
    /// Slots one app may hold at once (fair share, docs/scripting.md
    /// "Limits"); `None`: half of `max_concurrent`, at least 1. A share of
    /// every slot turns the per-app gate off.
    pub max_concurrent_per_app: Option<u32>,
    /// Requests of one app that may wait for its share once it is taken;
    /// beyond them, `503 app_overloaded` at once. Waiting is also bounded by
    /// each script's deadline.
    pub max_queued_per_app: u32,
    /// Operator ceilings: per-app limits are capped by these, and the pooling
    /// allocator reserves memory slots of `max_limits.memory_bytes`.
    pub max_limits: shared::Limits,
    /// Which instance allocator to try first.
    pub allocator: AllocatorKind,
    /// Meter fuel (always, in PiCloud). Off only for the benchmark that
    /// measures what metering costs: executions then have no fuel limit,
    /// only their deadline, and never yield to other requests.
    pub fuel: bool,
    /// The data-plane services scripts reach through `kv`, `env`, …; every
    /// call is scoped to the calling app by the host. [`NoServices`] (the
    /// default) fails each call with a clear message.
    pub services: Arc<dyn ServiceProvider>,
    /// Outbound HTTP (`http::…` in scripts): timeouts, size caps, the
    /// per-execution call budget, and whether private addresses are allowed.
    pub outbound: OutboundConfig,
    /// How many levels `invoke` may nest below the request's script. A
    /// callee runs in its caller's slot, in an instance of its own; the
    /// instance pool holds `max_concurrent` more instances for callees, and
    /// a callee that finds them all busy until its caller's deadline fails
    /// with `executor_overloaded` (ADR 010).
    pub max_invoke_depth: u32,
    /// `invoke` calls one execution may make.
    pub max_invokes: u32,
}

impl std::fmt::Debug for ExecutorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutorConfig")
            .field("cache_dir", &self.cache_dir)
            .field("max_concurrent", &self.max_concurrent)
            .field("max_limits", &self.max_limits)
            .field("allocator", &self.allocator)
            .field("fuel", &self.fuel)
            .field("outbound", &self.outbound)
            .field("max_invoke_depth", &self.max_invoke_depth)
            .field("max_invokes", &self.max_invokes)
            .finish_non_exhaustive()
    }
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            cache_dir: None,
            max_concurrent: 16,
            max_concurrent_per_app: None,
            max_queued_per_app: DEFAULT_MAX_QUEUED_PER_APP,
            max_limits: shared::Limits::MAX,
            allocator: AllocatorKind::Pooling,
            fuel: true,
            services: Arc::new(NoServices),
            outbound: OutboundConfig::default(),
            max_invoke_depth: DEFAULT_MAX_INVOKE_DEPTH,
            max_invokes: DEFAULT_MAX_INVOKES,
        }
    }
}
