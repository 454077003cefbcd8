//! The store's data ([`HostState`]), the per-execution caps it carries
//! ([`LogBuffer`], [`MemoryCap`]), and the host side of the WIT imports that
//! need no backend: `types`, `context` and `log`. The data-plane imports
//! (`kv`, `docs`, `http-client`, `env`) are in services.rs.
//!
//! Every import is a generated `Host` trait implemented on `HostState`, and
//! takes the calling app from `self.context`: the executor sets it before the
//! guest runs and the guest cannot change it, so no argument a script passes
//! can reach another app's data.

use std::sync::Arc;
use std::time::Instant;

use shared::{AppId, LogLevel, LogLine, ScriptId, ServiceProvider, Trigger};
use wasmtime::ResourceLimiter;

use crate::bindings::picloud::platform::{context, log, types};
use crate::outbound::Outbound;

/// Who is running: set by the executor per execution, read by every host
/// service to scope what the guest may touch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExecutionContext {
    /// The execution's record id: what a service keeps per execution (the
    /// mail `email::send` queued) is filed under it.
    pub(crate) execution_id: shared::ExecutionId,
    /// The calling app.
    pub(crate) app_id: AppId,
    /// The running script.
    pub(crate) script_id: ScriptId,
    /// What started the execution (`request.trigger` in the script).
    pub(crate) trigger: Trigger,
    /// The client's address as the orchestrator determined it (trusted
    /// proxies only), which `users::login` throttles by; the guest's copy in
    /// `request.client_ip` is not asked.
    pub(crate) client_ip: Option<std::net::IpAddr>,
}

/// The data of one execution's `Store`.
pub(crate) struct HostState {
    pub(crate) context: ExecutionContext,
    pub(crate) logs: LogBuffer,
    pub(crate) memory: MemoryCap,
    /// The data-plane services (services.rs), called with `context.app_id`.
    pub(crate) services: Arc<dyn ServiceProvider>,
    /// When the execution's wall-clock time runs out: checked each time the
    /// running script yields (execute.rs), and bounds waits on host services.
    pub(crate) deadline: Instant,
    /// The outbound HTTP client (outbound.rs), shared by all executions.
    pub(crate) outbound: Arc<Outbound>,
    /// Outbound requests this execution made, against `outbound.max_calls()`.
    pub(crate) http_calls: u32,
    /// What `invoke` needs: the executor, the chain of callers, and the
    /// callees so far (none for `check`).
    pub(crate) invokes: Option<crate::invoke::Invokes>,
    /// When the execution started: the origin of the script's clock.
    started: Instant,
}

impl HostState {
    pub(crate) fn new(
        context: ExecutionContext,
        logs: LogBuffer,
        memory: MemoryCap,
        services: Arc<dyn ServiceProvider>,
        outbound: Arc<Outbound>,
        deadline: Instant,
        invokes: Option<crate::invoke::Invokes>,
    ) -> Self {
        HostState {
            invokes,
            context,
            logs,
            memory,
            services,
            deadline,
            outbound,
            http_calls: 0,
            started: Instant::now(),
        }
    }
}

impl HostState {
    /// `Err` (the deadline trap) once the execution's time is up. Every host
    /// call checks it: the guest's own work is checked every `YIELD_FUEL`,
    /// but a call that copies a large argument out of the guest costs the
    /// host time that no fuel measures (a loop printing a 64 MiB string ran
    /// for seconds past a 300 ms deadline), so the check after each copy is
    /// what keeps the deadline's granularity to one call.
    pub(crate) fn past_deadline(&self) -> wasmtime::Result<()> {
        if Instant::now() >= self.deadline {
            return Err(wasmtime::Trap::Interrupt.into());
        }
        Ok(())
    }
}

impl types::Host for HostState {}

/// Clock granularity for scripts. A millisecond is enough to time a script's
/// own work (`timestamp()` in Rhai) and far too coarse for the timing side
/// channels a fine clock would give a hostile tenant, the mitigation browsers
/// and edge runtimes use.
const CLOCK_GRANULARITY: std::time::Duration = std::time::Duration::from_millis(1);

impl context::Host for HostState {
    fn trigger(&mut self) -> String {
        self.context.trigger.as_str().to_owned()
    }

    /// Whole milliseconds since the execution started: counting from the
    /// execution also hides the host's uptime.
    fn elapsed_ms(&mut self) -> u64 {
        let elapsed = self.started.elapsed().as_nanos() / CLOCK_GRANULARITY.as_nanos();
        u64::try_from(elapsed).unwrap_or(u64::MAX)
    }

    /// The wall clock in whole milliseconds, the same granularity as
    /// `elapsed_ms`, so a script gains no finer timer from it. A clock set
    /// before 1970 reads as the epoch.
    fn now_ms(&mut self) -> u64 {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
    }
}

impl log::Host for HostState {
    fn write(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        tracing::trace!(app = %self.context.app_id, script = %self.context.script_id, "script log line");
        self.logs.push(level, message);
        self.past_deadline()
    }
}

/// Log lines of one execution, capped in count and bytes.
#[derive(Debug, Default)]
pub(crate) struct LogBuffer {
    pub(crate) lines: Vec<LogLine>,
    pub(crate) dropped: u32,
    bytes: usize,
    max_lines: usize,
    max_bytes: usize,
}

impl LogBuffer {
    pub(crate) fn new(max_lines: u32, max_bytes: u32) -> Self {
        LogBuffer {
            max_lines: max_lines as usize,
            max_bytes: max_bytes as usize,
            ..Default::default()
        }
    }

    fn push(&mut self, level: LogLevel, message: String) {
        if self.lines.len() >= self.max_lines || self.bytes + message.len() > self.max_bytes {
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        self.bytes += message.len();
        self.lines.push(LogLine { level, message });
    }
}

/// Caps linear memory and remembers whether the cap refused a growth, so that
/// the trap which follows (Rust's allocation-failure abort) can be reported as
/// `memory_limit` rather than as a crash.
#[derive(Debug)]
pub(crate) struct MemoryCap {
    limit: usize,
    pub(crate) hit: bool,
}

impl MemoryCap {
    pub(crate) fn new(limit_bytes: u64) -> Self {
        MemoryCap {
            limit: usize::try_from(limit_bytes).unwrap_or(usize::MAX),
            hit: false,
        }
    }
}

/// Table elements a guest may grow to; the interpreter uses a fixed table.
const MAX_TABLE_ELEMENTS: usize = 20_000;

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
