//! What the executor's integration tests share: where the compiled guest is
//! cached, one executor per test binary, and checking a script case
//! (`tests/cases/<case>/`, format in `script_cases.rs`) against any executor.

// Each test crate that declares `mod support;` uses a different part of it.
#![allow(dead_code)]

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use executor_core::{Executor, ExecutorConfig};
use serde_json::Value;
use shared::{AppId, ExecutionOutcome, ExecutionRequest, Limits, ScriptId, ScriptRequest};

/// Where every executor test caches the compiled guest, so it is
/// pre-initialized and compiled once per build rather than once per binary.
pub(crate) fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache")
}

/// The default configuration with the shared cache.
pub(crate) fn config() -> ExecutorConfig {
    ExecutorConfig {
        cache_dir: Some(cache_dir()),
        ..Default::default()
    }
}

/// One executor for every test in the binary.
pub(crate) fn executor() -> &'static Executor {
    static EXECUTOR: OnceLock<Executor> = OnceLock::new();
    EXECUTOR.get_or_init(|| Executor::new(config()).expect("executor starts"))
}

/// Runs `source` on `executor` as an HTTP-triggered script of a fresh app.
pub(crate) fn run(
    executor: &Executor,
    source: &str,
    request: ScriptRequest,
    limits: Limits,
) -> ExecutionOutcome {
    testkit::block_on(executor.execute(ExecutionRequest {
        execution_id: shared::ExecutionId::new(),
        app_id: AppId::new(),
        script_id: ScriptId::new(),
        route_id: None,
        source: source.into(),
        request,
        limits,
        trigger: shared::Trigger::Http,
        name: String::new(),
        modules: Default::default(),
        kind: shared::ExecutionKind::Handler,
    }))
}

/// The `tests/cases/<name>/main.rhai` of this crate.
pub(crate) fn case(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cases")
        .join(name)
        .join("main.rhai")
}

/// An object, or an array of `[name, value]` pairs (for repeated names).
fn pairs(value: Option<&Value>) -> Vec<(String, String)> {
    if let Some(Value::Array(items)) = value {
        return items
            .iter()
            .map(|pair| {
                let text = |i: usize| pair[i].as_str().unwrap_or_default().to_owned();
                (text(0), text(1))
            })
            .collect();
    }
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn request_from(value: &Value) -> ScriptRequest {
    ScriptRequest {
        method: value
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("GET")
            .to_owned(),
        path: value
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or("/")
            .to_owned(),
        query: pairs(value.get("query")),
        headers: pairs(value.get("headers")),
        params: pairs(value.get("params")),
        host_params: pairs(value.get("host_params")),
        // `body_bytes` (numbers) for bodies that are not UTF-8.
        body: match value.get("body_bytes").and_then(Value::as_array) {
            Some(bytes) => bytes
                .iter()
                .map(|b| u8::try_from(b.as_u64().unwrap_or_default()).unwrap_or_default())
                .collect(),
            None => value
                .get("body")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .as_bytes()
                .to_vec(),
        },
        url: value
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        client_ip: value
            .get("client_ip")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        id: value
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        locals: value
            .get("locals")
            .map(Value::to_string)
            .unwrap_or_default(),
    }
}

fn limits_from(value: Option<&Value>) -> Limits {
    let mut limits = serde_json::to_value(Limits::default()).unwrap();
    if let Some(Value::Object(overrides)) = value {
        for (k, v) in overrides {
            limits[k] = v.clone();
        }
    }
    serde_json::from_value(limits).expect("valid limit overrides")
}

/// Runs the case whose script is `path` (`<case>/main.rhai`) on `executor`
/// and checks the outcome against the case's `expected.json`; then runs
/// Hello World on the same executor to prove a failing or hostile script left
/// nothing broken behind. Panics (assertion failures) on a mismatch.
pub(crate) fn check_case(executor: &Executor, path: &Path) -> Result<(), Box<dyn Error>> {
    let dir = path.parent().unwrap();
    let source = std::fs::read_to_string(path)?;
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json"))?)?;
    let request = match std::fs::read_to_string(dir.join("request.json")) {
        Ok(text) => request_from(&serde_json::from_str(&text)?),
        Err(_) => request_from(&Value::Null),
    };
    let outcome = run(
        executor,
        &source,
        request,
        limits_from(expected.get("limits")),
    );

    match (
        &outcome.outcome,
        expected.get("error").and_then(Value::as_str),
    ) {
        (Ok(response), None) => {
            let status = expected["status"]
                .as_u64()
                .expect("expected.json needs `status` or `error`");
            assert_eq!(
                u64::from(response.status),
                status,
                "status; body: {}",
                String::from_utf8_lossy(&response.body)
            );
            if let Some(body) = expected.get("body").and_then(Value::as_str) {
                assert_eq!(String::from_utf8_lossy(&response.body), body, "body");
            }
            if let Some(Value::Array(bytes)) = expected.get("body_bytes") {
                let want: Vec<u8> = bytes
                    .iter()
                    .map(|b| u8::try_from(b.as_u64().unwrap_or_default()).unwrap_or_default())
                    .collect();
                assert_eq!(response.body, want, "body bytes");
            }
            if let Some(json) = expected.get("json") {
                let actual: Value = serde_json::from_slice(&response.body)?;
                assert_eq!(&actual, json, "JSON body");
            }
            if let Some(Value::Object(headers)) = expected.get("headers") {
                for (name, value) in headers {
                    let actual = response
                        .headers
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.as_str());
                    assert_eq!(actual, value.as_str(), "header {name}");
                }
            }
        }
        (Err(error), Some(code)) => {
            assert_eq!(error.code(), code, "error code; error: {error}");
            if let Some(line) = expected.get("line") {
                assert_eq!(
                    error.position().map(|p| u64::from(p.line)),
                    line.as_u64(),
                    "line of {error}"
                );
            }
            if let Some(column) = expected.get("column") {
                assert_eq!(
                    error.position().map(|p| u64::from(p.column)),
                    column.as_u64(),
                    "column of {error}"
                );
            }
            if let Some(text) = expected.get("message_contains").and_then(Value::as_str) {
                assert!(
                    error.to_string().contains(text),
                    "{error:?} should mention {text:?}"
                );
            }
        }
        (Ok(response), Some(code)) => panic!(
            "expected error {code}, got status {} with body {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        ),
        (Err(error), None) => panic!("expected a response, got {} ({error})", error.code()),
    }

    if let Some(logs) = expected.get("logs") {
        let actual: Vec<(String, String)> = outcome
            .logs
            .iter()
            .map(|l| (l.level.as_str().to_owned(), l.message.clone()))
            .collect();
        let want: Vec<(String, String)> = serde_json::from_value(logs.clone())?;
        assert_eq!(actual, want, "log lines");
    }
    if let Some(dropped) = expected.get("logs_dropped") {
        assert_eq!(
            Some(u64::from(outcome.logs_dropped)),
            dropped.as_u64(),
            "dropped log lines"
        );
    }
    assert!(outcome.fuel_used > 0, "fuel is metered");

    // Whatever the case did, the same engine still serves the next request.
    let after = run(
        executor,
        r#""Hello, World!""#,
        request_from(&Value::Null),
        Limits::default(),
    );
    let response = after.outcome.expect("hello world after the case");
    assert_eq!(response.body, b"Hello, World!");
    Ok(())
}
