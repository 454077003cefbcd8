//! The process-wide wasmtime `Engine`, and the epoch ticker behind deadlines
//! when fuel is off.

use std::sync::{Arc, Weak};
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::ExecutorConfig;

/// One epoch tick; deadlines are rounded up to whole ticks.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(2);

/// Which instance allocator the engine ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocatorKind {
    /// Pre-reserved instance slots: the fastest instantiation.
    Pooling,
    /// mmap per instance; the fallback where the kernel refuses the pool's
    /// address-space reservation (e.g. 39-bit ARM64 kernels on Raspberry Pi OS).
    OnDemand,
}

/// Builds the engine, trying the pooling allocator first and falling back to
/// on-demand allocation when the kernel refuses the reservation.
pub(crate) fn build(config: &ExecutorConfig) -> crate::Result<(Engine, AllocatorKind)> {
    if config.allocator == AllocatorKind::Pooling {
        // Best first: pooling with PAGEMAP_SCAN (Linux 6.7+) resets only the
        // pages an execution dirtied and keeps them resident, so the next
        // instance in the slot takes no page faults. Without the ioctl,
        // keeping memory resident would mean memset-ing it whole, which is
        // slower than madvise; so the second tier is plain pooling.
        for scan in [true, false] {
            match Engine::new(&base_config(config, Some(pooling(config, scan)))) {
                Ok(engine) => return Ok((engine, AllocatorKind::Pooling)),
                Err(err) => tracing::info!(
                    pagemap_scan = scan,
                    error = %format!("{err:#}"),
                    "pooling configuration unavailable"
                ),
            }
        }
        tracing::warn!("pooling allocator unavailable; falling back to on-demand allocation");
    }
    Ok((
        Engine::new(&base_config(config, None))?,
        AllocatorKind::OnDemand,
    ))
}

fn base_config(executor: &ExecutorConfig, pool: Option<PoolingAllocationConfig>) -> Config {
    let mut config = Config::new();
    config
        .consume_fuel(executor.fuel)
        // With fuel on, the script yields every YIELD_FUEL and the executor
        // checks the deadline there (execute.rs); epoch checks in the
        // compiled code would only cost time (about 10% of a CPU-bound
        // script). Without fuel nothing yields, so epochs interrupt.
        .epoch_interruption(!executor.fuel)
        // Snapshot memory is mapped copy-on-write, so instantiating the
        // pre-initialized guest does not copy its multi-megabyte heap.
        .memory_init_cow(true)
        // Wasm may use 1 MiB of the fiber's stack; the rest (async_stack_size
        // defaults to 2 MiB) is headroom for host calls made from it.
        .max_wasm_stack(1 << 20)
        .parallel_compilation(true);
    if let Some(pool) = pool {
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// Bytes of each linear memory kept resident between executions when
/// PAGEMAP_SCAN is available: the guest's snapshot heap plus headroom.
const KEEP_RESIDENT: usize = 16 << 20;

fn pooling(config: &ExecutorConfig, pagemap_scan: bool) -> PoolingAllocationConfig {
    // One instance per slot, and as many again for the callees of
    // `invoke`, which run inside their caller's slot (ADR 010).
    let slots = config.max_concurrent.max(1).saturating_mul(2);
    let mut pool = PoolingAllocationConfig::new();
    // The guest component holds a few core instances (the program plus
    // wit-component's shim/fixup modules) but one memory.
    pool.total_component_instances(slots)
        .total_core_instances(slots * 8)
        .max_core_instances_per_component(8)
        .total_memories(slots)
        .total_tables(slots * 8)
        .total_stacks(slots)
        .max_memory_size(usize::try_from(config.max_limits.memory_bytes).unwrap_or(usize::MAX));
    if pagemap_scan {
        pool.pagemap_scan(Enabled::Yes)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(64 << 10);
    }
    pool
}

/// Advances the engine's epoch every [`EPOCH_TICK`] on a background thread,
/// which ends once the engine is dropped.
pub(crate) fn start_epoch_ticker(engine: &Engine) -> Arc<()> {
    let alive = Arc::new(());
    let weak: Weak<()> = Arc::downgrade(&alive);
    let engine = engine.weak();
    std::thread::Builder::new()
        .name("picloud-epoch".into())
        .spawn(move || {
            while weak.strong_count() > 0 {
                std::thread::sleep(EPOCH_TICK);
                match engine.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })
        .expect("spawning the epoch thread");
    alive
}

/// Epoch ticks for a deadline, rounded up, at least one.
pub(crate) fn deadline_ticks(deadline: Duration) -> u64 {
    let tick = EPOCH_TICK.as_micros();
    u64::try_from(deadline.as_micros().div_ceil(tick))
        .unwrap_or(u64::MAX)
        .max(1)
}
