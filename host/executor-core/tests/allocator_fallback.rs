//! The pooling allocator's fallback to on-demand allocation, forced for real.
//!
//! The pool reserves the address space of every instance slot when the
//! engine is built: per slot, wasmtime's 4 GiB linear-memory reservation plus
//! guard regions, so about 65 GiB for the default 16 slots. Where the kernel
//! refuses that `mmap` (a 39-bit ARM64 kernel such as Raspberry Pi OS's gives
//! a process 512 GiB of address space in all), the executor must fall back to
//! allocating each instance on demand and still run scripts with every limit
//! enforced.
//!
//! This binary makes the kernel refuse the pool on any Linux machine: it
//! lowers its own soft `RLIMIT_AS` to what it already uses plus
//! [`HEADROOM`], so the pool's reservation fails with `ENOMEM` exactly as it
//! does when the address space runs out, while one on-demand instance (4 GiB
//! and guards) still fits. The limit is process-wide, which is why this test
//! has its own binary (`harness = false` in Cargo.toml) instead of sharing
//! one with tests that need the pool. It checks that:
//! - without the limit the same configuration gets the pool (the premise);
//! - under it, [`Executor::new`] with [`AllocatorKind::Pooling`] requested
//!   succeeds and reports [`AllocatorKind::OnDemand`];
//! - that executor runs the real guest end to end: Hello World, and the
//!   script cases whose limits involve what the allocator provides (fuel,
//!   the memory cap, the stack, the deadline), each followed by Hello World.

mod support;

use std::sync::OnceLock;

use executor_core::{AllocatorKind, Executor};
use libtest_mimic::{Arguments, Failed, Trial};
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
use shared::{Limits, ScriptRequest};

/// Address space left to the process above what it uses before the
/// fallback executor is built: far below the pool's ~65 GiB, above one
/// on-demand instance's ~4.1 GiB (plus the guest's compilation if the cache
/// is cold, and thread stacks).
const HEADROOM: u64 = 16 << 30;

/// Cases from `tests/cases/` run again on the on-demand executor.
const CASES: [&str; 5] = [
    "hello_text",
    "busy_loop_fuel",
    "memory_limit",
    "deep_recursion",
    "deadline",
];

/// What `setup` found, for the trials to assert on.
struct Fallback {
    /// The allocator the executor got before the limit was lowered.
    unlimited: AllocatorKind,
    /// The soft `RLIMIT_AS` in force while the fallback executor runs.
    limit: u64,
    executor: Executor,
}

static FALLBACK: OnceLock<Fallback> = OnceLock::new();

fn main() {
    let mut args = Arguments::from_args();
    // One execution at a time: every on-demand instance reserves its own
    // 4 GiB, and the headroom is sized for one, not one per core.
    args.test_threads = Some(1);
    if !args.list {
        FALLBACK.get_or_init(setup);
    }
    let mut trials = vec![
        Trial::test("pool_granted_without_the_limit", || {
            let fallback = fallback();
            check(
                fallback.unlimited == AllocatorKind::Pooling,
                format!(
                    "premise: without an address-space limit this machine should grant the pool, \
                     but the executor got {:?}; nothing below then proves the fallback",
                    fallback.unlimited
                ),
            )
        }),
        Trial::test("pool_refused_falls_back_to_on_demand", || {
            let fallback = fallback();
            check(
                fallback.executor.allocator() == AllocatorKind::OnDemand,
                format!(
                    "with RLIMIT_AS at {} MiB the executor reports {:?}, expected OnDemand",
                    fallback.limit >> 20,
                    fallback.executor.allocator()
                ),
            )
        }),
        Trial::test("on_demand/hello_world", || {
            let outcome = support::run(
                &fallback().executor,
                "`Hello, ${request.query.name}!`",
                ScriptRequest {
                    method: "GET".into(),
                    query: vec![("name".into(), "Pi".into())],
                    ..Default::default()
                },
                Limits::default(),
            );
            let response = outcome.outcome.map_err(|e| format!("{} ({e})", e.code()))?;
            check(
                response.status == 200 && response.body == b"Hello, Pi!",
                format!(
                    "got {} {:?}",
                    response.status,
                    String::from_utf8_lossy(&response.body)
                ),
            )
        }),
    ];
    trials.extend(CASES.iter().map(|&name| {
        Trial::test(format!("on_demand/{name}"), move || {
            support::check_case(&fallback().executor, &support::case(name))
                .map_err(|e| Failed::from(e.to_string()))
        })
    }));
    libtest_mimic::run(&args, trials).exit();
}

fn fallback() -> &'static Fallback {
    FALLBACK
        .get()
        .expect("set up in main before the trials run")
}

fn check(ok: bool, message: String) -> Result<(), Failed> {
    if ok { Ok(()) } else { Err(message.into()) }
}

/// Builds an executor with and without the pool's address space, in that
/// order: the limit cannot be lifted again once the process is near it.
fn setup() -> Fallback {
    let unlimited = Executor::new(support::config())
        .expect("executor starts without a limit")
        .allocator();

    let limit = vm_size() + HEADROOM;
    let original = getrlimit(Resource::As);
    if original.current.is_some_and(|current| current < limit) {
        panic!(
            "RLIMIT_AS is already {:?} bytes, below the {limit} this test sets; \
             run it without `ulimit -v`",
            original.current
        );
    }
    setrlimit(
        Resource::As,
        Rlimit {
            current: Some(limit),
            maximum: original.maximum,
        },
    )
    .expect("lowering the soft RLIMIT_AS");
    eprintln!(
        "allocator_fallback: RLIMIT_AS lowered to {} MiB ({} MiB in use + {} MiB headroom)",
        limit >> 20,
        (limit - HEADROOM) >> 20,
        HEADROOM >> 20
    );

    let config = support::config();
    assert_eq!(
        config.allocator,
        AllocatorKind::Pooling,
        "the pool is asked for"
    );
    let executor = Executor::new(config).expect("the executor starts without the pool");
    Fallback {
        unlimited,
        limit,
        executor,
    }
}

/// The process's current virtual size (`VmSize` in /proc/self/status).
fn vm_size() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("reading /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmSize:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .map(|kb| kb << 10)
        .expect("a VmSize line in kB")
}
