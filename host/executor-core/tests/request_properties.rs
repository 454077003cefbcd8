//! Properties of the request → guest conversion, through the real wasm guest.
//!
//! Whatever a client sends (any Unicode in the method, path, query, headers
//! and params, empty values, large values within the limits, a body that is
//! not UTF-8) the host must neither panic nor see the guest trap: the request
//! crosses the WIT boundary into Rhai's `request` map intact. A script that
//! echoes `request` gets back exactly what was sent, up to the documented
//! normalizations (wit/picloud.wit, docs/scripting.md):
//! - `query`, `headers`, `params` and `host_params` become maps, so a repeated
//!   name keeps its last value;
//! - `body` becomes a string, with invalid UTF-8 replaced by U+FFFD.
//!
//! Cases are few (each is a full execution); `PROPTEST_CASES` raises them.

mod support;

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};
use shared::{ExecutionError, Limits, ScriptRequest};

fn run(source: &str, request: ScriptRequest) -> shared::ExecutionOutcome {
    support::run(support::executor(), source, request, Limits::default())
}

const ECHO: &str = "#{ m: request.method, p: request.path, q: request.query, \
     qa: request.query_all, h: request.headers, params: request.params, \
     hp: request.host_params, b: request.body, u: request.url, ip: request.client_ip, \
     id: request.id }";

/// Text of every kind: arbitrary Unicode, empty, HTTP-ish, and sometimes
/// large (up to 64 KiB of one character, which JSON may escape six-fold).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        2 => "[ -~]{0,20}",
        1 => Just(String::new()),
        1 => (any::<char>(), 0usize..(64 << 10)).prop_map(|(c, n)| c.to_string().repeat(n / c.len_utf8())),
    ]
}

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((prop_oneof![3 => text(), 1 => "[a-c]{1}"], text()), 0..6)
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..512),
        2 => any::<String>().prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..(256 << 10)),
    ]
}

fn request() -> impl Strategy<Value = ScriptRequest> {
    (
        (text(), text(), pairs(), pairs(), pairs(), pairs(), body()),
        (text(), "[0-9.:a-f]{0,39}", "[!-~]{0,128}"),
    )
        .prop_map(
            |((method, path, query, headers, params, host_params, body), (url, client_ip, id))| {
                ScriptRequest {
                    method,
                    path,
                    query,
                    headers,
                    params,
                    host_params,
                    body,
                    url,
                    client_ip,
                    id,
                    locals: String::new(),
                }
            },
        )
}

/// Every value of each name, in order (`request.query_all`).
fn as_arrays(pairs: &[(String, String)]) -> Value {
    let mut map: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in pairs {
        map.entry(k.as_str()).or_default().push(v.as_str());
    }
    json!(map)
}

/// Pairs as the script sees them: a map where the last value of a name wins.
fn as_map(pairs: &[(String, String)]) -> Value {
    let map: BTreeMap<&str, &str> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    json!(map)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The echo script returns the request as sent, up to the documented
    /// normalizations.
    #[test]
    fn scripts_see_the_request_as_sent(request in request()) {
        let expected = json!({
            "m": request.method,
            "p": request.path,
            "q": as_map(&request.query),
            "qa": as_arrays(&request.query),
            "h": as_map(&request.headers),
            "params": as_map(&request.params),
            "hp": as_map(&request.host_params),
            "b": String::from_utf8_lossy(&request.body),
            "u": request.url,
            "ip": request.client_ip,
            "id": request.id,
        });
        let outcome = run(ECHO, request);
        let response = match outcome.outcome {
            Ok(response) => response,
            Err(error) => panic!("echo failed: {error:?} ({})", error.code()),
        };
        prop_assert_eq!(response.status, 200);
        let echoed: Value = serde_json::from_slice(&response.body).expect("the echo is JSON");
        prop_assert_eq!(echoed, expected);
    }

    /// `request.body_blob` is the body's bytes, whatever they are: sent
    /// back, they are byte-identical.
    #[test]
    fn the_body_blob_is_the_bytes_as_sent(request in request()) {
        let body = request.body.clone();
        let outcome = run("request.body_blob", request);
        let response = match outcome.outcome {
            Ok(response) => response,
            Err(error) => panic!("echo failed: {error:?} ({})", error.code()),
        };
        prop_assert_eq!(response.status, 200);
        prop_assert!(response.body == body, "{} bytes in, {} out", body.len(), response.body.len());
    }

    /// Reading the request in other ways (its body as JSON, each field as a
    /// string) ends in a response or a script error, never in a host-side
    /// failure.
    #[test]
    fn reading_the_request_never_breaks_the_host(request in request()) {
        const SCRIPT: &str = r#"
            let n = request.method.len() + request.path.len() + request.body.len();
            for k in request.headers.keys() { n += request.headers[k].len(); }
            for k in request.query.keys() { n += k.len(); }
            let parsed = request.json();
            `${n} ${parsed}`
        "#;
        let outcome = run(SCRIPT, request.clone());
        match outcome.outcome {
            Ok(response) => prop_assert_eq!(response.status, 200),
            // Not JSON: the error the script would see.
            Err(ExecutionError::Runtime(failure)) => {
                prop_assert!(failure.message.contains("invalid JSON"), "{}", failure.message);
            }
            Err(error) => prop_assert!(
                false,
                "{:?} ({}) for a request with {} body bytes",
                error, error.code(), request.body.len()
            ),
        }
    }
}

/// The largest request the orchestrator passes by default (4 MiB body) also
/// arrives intact.
#[test]
fn a_four_mebibyte_body_arrives() {
    let body: Vec<u8> = (0..4 << 20).map(|i: u32| b'a' + (i % 26) as u8).collect();
    let outcome = run(
        "request.body.len()",
        ScriptRequest {
            method: "POST".into(),
            path: "/".into(),
            body,
            ..Default::default()
        },
    );
    let response = outcome.outcome.expect("runs");
    assert_eq!(
        String::from_utf8_lossy(&response.body),
        (4 << 20).to_string()
    );
}
