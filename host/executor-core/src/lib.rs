//! PiCloud's executor: runs Rhai scripts inside the wasm guest under wasmtime.
//!
//! One [`Executor`] per process owns the wasmtime `Engine` and the guest
//! component, pre-initialized (wizer) and compiled once, cached on disk. Every
//! execution gets a fresh `Store` and instance from an `InstancePre`, with a
//! fuel budget, a memory cap and an epoch-based wall-clock deadline; nothing
//! survives between executions. The host side of each WIT import takes the app
//! from the store's [`ExecutionContext`](host::ExecutionContext), never from an
//! argument the guest passes.
//!
//! ```no_run
//! use executor_core::{Executor, ExecutorConfig};
//! use shared::{AppId, ExecutionRequest, Limits, ScriptId, ScriptRequest};
//!
//! # async fn demo() -> Result<(), executor_core::Error> {
//! let executor = Executor::new(ExecutorConfig::default())?;
//! let outcome = executor.execute(ExecutionRequest {
//!     app_id: AppId::new(),
//!     script_id: ScriptId::new(),
//!     route_id: None,
//!     source: "`Hello, ${request.query.name}!`".into(),
//!     request: ScriptRequest { method: "GET".into(), ..Default::default() },
//!     limits: Limits::default(),
//! }).await;
//! assert_eq!(outcome.outcome.unwrap().status, 200);
//! # Ok(())
//! # }
//! ```
//!
//! The crate has no database dependency; data-plane services will reach it
//! through injected provider traits.

mod client;
mod component;
mod engine;
mod execute;
mod host;

/// Host bindings generated from `wit/` (the one WIT source shared with the guest).
mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "script",
        // Exports are called with `call_async`, so a running script is a
        // future that yields to the runtime every `YIELD_FUEL` units of fuel
        // (see execute.rs); imports stay synchronous until one has to wait.
        exports: { default: async },
    });
}

use std::path::PathBuf;

pub use client::LocalExecutor;
pub use engine::AllocatorKind;
pub use execute::{Executor, YIELD_FUEL};

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
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How the executor is set up; one per process.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Where the compiled guest is cached between restarts; `None` compiles at
    /// every start (tests, read-only installs).
    pub cache_dir: Option<PathBuf>,
    /// Executions that may run at once; also the number of pooled instance
    /// slots. Further requests wait for a slot.
    pub max_concurrent: u32,
    /// Operator ceilings: per-app limits are capped by these, and the pooling
    /// allocator reserves memory slots of `max_limits.memory_bytes`.
    pub max_limits: shared::Limits,
    /// Which instance allocator to try first.
    pub allocator: AllocatorKind,
    /// Meter fuel (always, in PiCloud). Off only for the benchmark that
    /// measures what metering costs: executions then have no fuel limit,
    /// only their deadline, and never yield to other requests.
    pub fuel: bool,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            cache_dir: None,
            max_concurrent: 16,
            max_limits: shared::Limits {
                fuel: 10_000_000_000,
                memory_bytes: 256 << 20,
                deadline_ms: 60_000,
                max_response_bytes: 32 << 20,
                max_log_lines: 10_000,
                max_log_bytes: 1 << 20,
            },
            allocator: AllocatorKind::Pooling,
            fuel: true,
        }
    }
}
