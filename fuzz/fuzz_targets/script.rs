//! The script entry point: arbitrary source compiled and run through the
//! real executor (wasmtime + the Rhai guest) with small limits.
//!
//! Input is the script source (UTF-8; other inputs are skipped, as the admin
//! API only stores text). Every outcome must be a response or a typed
//! `ExecutionError` naming the script's fault or a limit; `Internal` means
//! the guest trapped unexpectedly or the host failed, which is a bug. A
//! compile error at run time must also be one at upload (`check`).

#![no_main]

use std::sync::OnceLock;

use executor_core::{Executor, ExecutorConfig};
use libfuzzer_sys::fuzz_target;
use shared::{AppId, ExecutionError, ExecutionRequest, Limits, ScriptId, ScriptRequest};

/// Small enough that a hostile input costs milliseconds, not seconds.
const LIMITS: Limits = Limits {
    fuel: 20_000_000,
    memory_bytes: 32 << 20,
    deadline_ms: 500,
    max_response_bytes: 64 << 10,
    max_log_lines: 20,
    max_log_bytes: 4 << 10,
};

/// One engine per fuzzing process, like one per server process. The compiled
/// guest is cached under PICLOUD_FUZZ_CACHE (scripts/fuzz.sh sets it) so
/// that restarts skip the compile.
fn executor() -> &'static Executor {
    static EXECUTOR: OnceLock<Executor> = OnceLock::new();
    EXECUTOR.get_or_init(|| {
        let cache_dir = std::env::var_os("PICLOUD_FUZZ_CACHE")
            .map(Into::into)
            .unwrap_or_else(|| std::env::temp_dir().join("picloud-fuzz-component-cache"));
        Executor::new(ExecutorConfig {
            cache_dir: Some(cache_dir),
            max_concurrent: 1,
            ..Default::default()
        })
        .expect("executor starts")
    })
}

fuzz_target!(
    // Starting the engine (pre-initializing and compiling the guest on the
    // first run, loading the cache later) takes seconds; done here, before
    // libFuzzer's per-input timeout starts counting.
    init: {
        executor();
    },
    |data: &[u8]| run(data)
);

fn run(data: &[u8]) {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let outcome = executor().execute(ExecutionRequest {
        app_id: AppId::new(),
        script_id: ScriptId::new(),
        route_id: None,
        source: source.into(),
        request: ScriptRequest {
            method: "POST".into(),
            path: "/fuzz/é".into(),
            query: vec![("q".into(), "1".into()), ("q".into(), "2".into())],
            headers: vec![("content-type".into(), "application/json".into())],
            params: vec![("id".into(), "42".into())],
            host_params: vec![("tenant".into(), "acme".into())],
            body: br#"{"a": [1, 2.5, "x", null, true]}"#.to_vec(),
        },
        limits: LIMITS,
    });
    match &outcome.outcome {
        Ok(response) => {
            assert!((100..=599).contains(&response.status), "{response:?}");
            assert!(response.body.len() as u64 <= LIMITS.max_response_bytes);
        }
        Err(ExecutionError::Internal) => {
            panic!("internal error (unexpected trap or host failure) for {source:?}")
        }
        Err(ExecutionError::Compile(_)) => {
            assert!(
                matches!(executor().check(source), Err(ExecutionError::Compile(_))),
                "run reports a compile error that check does not: {source:?}"
            );
        }
        Err(_) => {}
    }
    assert!(outcome.logs.len() <= LIMITS.max_log_lines as usize);
}
