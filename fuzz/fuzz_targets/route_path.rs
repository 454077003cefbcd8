//! Route path patterns: parse, round trip, method normalization, and the
//! orchestrator's `RouteTable` lookup.
//!
//! Input is text, one field per line (seed files in corpus/route_path/ are
//! readable examples): the route pattern, a method, a request path, then
//! values to fill the pattern's `:params` and `*` with. Invalid UTF-8 is
//! read lossily, so the parsers also see U+FFFD.
//!
//! Checked: nothing panics; an accepted pattern reads back unchanged from
//! its written form with the same shape; a normalized method is stable; a
//! path built from the pattern with the given values matches it with exactly
//! those values captured.

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use orchestrator_core::RouteTable;
use shared::path::{PathPattern, Segment, normalize_method};
use shared::{AppId, RouteId, RouteSpec, ScriptId};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let pattern_text = lines.next().unwrap_or_default();
    let method = lines.next().unwrap_or_default();
    let request_path = lines.next().unwrap_or_default();
    let values: Vec<&str> = lines.collect();

    let route_method = match normalize_method(method) {
        Ok(normalized) => {
            assert_eq!(normalize_method(&normalized).as_ref(), Ok(&normalized));
            normalized
        }
        Err(_) => "GET".to_owned(),
    };

    let Ok(pattern) = PathPattern::parse(pattern_text) else {
        return;
    };
    let written = written_form(&pattern.segments);
    // Parsing loses nothing: the table keys static routes by the stored text,
    // so it must be exactly what the segments say.
    assert_eq!(written, pattern_text);
    let again = PathPattern::parse(&written).unwrap_or_else(|e| {
        panic!("{pattern_text:?} accepted, written form {written:?} refused: {e}")
    });
    assert_eq!(again, pattern);
    assert_eq!(again.shape(), pattern.shape());

    let mut table = RouteTable::default();
    let id = RouteId::new();
    table.insert(
        RouteSpec {
            id,
            app_id: AppId::new(),
            script_id: ScriptId::new(),
            method: route_method.clone(),
            path: pattern_text.to_owned(),
            host: None,
        },
        Arc::from(""),
    );
    // Arbitrary requests: any answer but a panic.
    let _ = table.find(method, request_path);
    let _ = table.find(&route_method, request_path);

    // A request made from the pattern matches it, with the values captured.
    let (path, expected) = concrete_path(&pattern.segments, &values);
    let request_method = if route_method == "*" {
        "PATCH"
    } else {
        &route_method
    };
    let found = table
        .find(request_method, &path)
        .unwrap_or_else(|miss| panic!("{pattern_text:?} does not match {path:?}: {miss:?}"));
    assert_eq!(found.route.id, id);
    assert_eq!(found.params, expected, "{pattern_text:?} on {path:?}");
});

/// The pattern's text as its grammar writes it.
fn written_form(segments: &[Segment]) -> String {
    let parts: Vec<String> = segments
        .iter()
        .map(|s| match s {
            Segment::Literal(text) => text.clone(),
            Segment::Param(name) => format!(":{name}"),
            Segment::Wildcard => "*".into(),
        })
        .collect();
    format!("/{}", parts.join("/"))
}

/// Percent-encodes all but unreserved characters, as a client does.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Literals as written (the table compares them raw), each `:param` filled
/// with the next value (never empty: a param never matches an empty
/// segment), `*` with the remaining values as segments.
fn concrete_path(segments: &[Segment], values: &[&str]) -> (String, Vec<(String, String)>) {
    let mut values = values.iter();
    let mut path = String::new();
    let mut captures = Vec::new();
    for segment in segments {
        match segment {
            Segment::Literal(text) => {
                path.push('/');
                path.push_str(text);
            }
            Segment::Param(name) => {
                let value = values.next().filter(|v| !v.is_empty()).unwrap_or(&"v");
                path.push('/');
                path.push_str(&encode(value));
                captures.push((name.clone(), (*value).to_owned()));
            }
            Segment::Wildcard => {
                let rest: Vec<&str> = values.by_ref().copied().collect();
                if !rest.is_empty() {
                    path.push('/');
                    let encoded: Vec<String> = rest.iter().map(|s| encode(s)).collect();
                    path.push_str(&encoded.join("/"));
                }
                captures.push(("wildcard".into(), rest.join("/")));
            }
        }
    }
    if path.is_empty() {
        path.push('/');
    }
    (path, captures)
}
