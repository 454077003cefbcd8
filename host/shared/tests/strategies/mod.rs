//! Generators shared by the property tests in this folder: hostile text for
//! the "never panics" properties, and valid route/domain patterns together
//! with concrete requests built from them for the round-trip and matching
//! properties. Each test file uses a different subset.
#![allow(
    dead_code,
    reason = "each test crate that includes this module uses only some generators"
)]

use std::collections::HashSet;

use proptest::prelude::*;
use shared::path::Segment;

/// Any text, weighted towards the characters each parser treats specially so
/// that the rejecting branches and the accepting path are both reached.
pub(crate) fn path_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[/:*{}a-zA-Z0-9_ ?#.%~-]{0,40}",
        "(/(:?[a-zA-Z_][a-zA-Z0-9_]{0,3}|[a-z0-9.]{0,4}|\\*|\\{[a-z]{0,3}\\}|\\PC{0,3})){0,8}/?",
        "/(api|API|admin|healthz|version|apis|Api)(/.{0,6})?",
    ]
}

/// Domain-pattern-shaped text: labels, wildcards, IDN, ports, stray dots.
pub(crate) fn domain_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9{}*:._ -]{0,40}",
        "((\\{[a-zA-Z_0-9]{0,4}\\}|[a-zA-Z0-9-]{0,8}|\\PC{0,4}|xn--[a-z0-9-]{0,6})\\.){0,5}[a-zA-Z0-9-]{0,8}\\.?",
        "(bücher|ＡＢＣ|straße|例え|a\u{00AD}b|ｅｘａｍｐｌｅ|a。b|\u{200D}|ß)\\.[a-z]{1,5}",
    ]
}

/// `Host` header values: names with ports, IPv6 literals, junk.
pub(crate) fn host_like() -> impl Strategy<Value = String> {
    prop_oneof![
        domain_like(),
        "\\[?[0-9a-fA-F:.]{0,12}\\]?(:[0-9]{0,6})?",
        "[a-zA-Z0-9.-]{1,20}:[0-9a-z]{0,6}",
        " ?[a-zA-Z0-9.\u{00FC}-]{1,30}\\.* ?",
    ]
}

/// Methods as clients and API callers write them.
pub(crate) fn method_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        " ?(get|Get|POST|put|PATCH|delete|head|options|any|ANY|\\*|FETCH|GETX|ge t)\t?",
    ]
}

/// Unreserved URI characters (RFC 3986): a client sends them unescaped, so a
/// literal segment made of them is compared as the client wrote it.
pub(crate) fn literal_segment() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._~-]{1,12}"
}

/// A valid `:name` / `{name}`.
pub(crate) fn param_name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,15}"
}

/// Segments of a valid route pattern: literals and uniquely named params,
/// optionally ending in a significant trailing slash or a `*` wildcard. The
/// first segment never names one of PiCloud's reserved prefixes.
pub(crate) fn route_segments() -> impl Strategy<Value = Vec<Segment>> {
    let piece = prop_oneof![
        literal_segment().prop_map(Segment::Literal),
        param_name().prop_map(Segment::Param),
    ];
    (prop::collection::vec(piece, 0..6), 0..3u8)
        .prop_map(|(mut segments, tail)| {
            match tail {
                1 if !segments.is_empty() => segments.push(Segment::Literal(String::new())),
                2 => segments.push(Segment::Wildcard),
                _ => {}
            }
            segments
        })
        .prop_filter("parameter names are unique", |segments| {
            let mut seen = HashSet::new();
            segments.iter().all(|s| match s {
                Segment::Param(name) => seen.insert(name.clone()),
                _ => true,
            })
        })
        .prop_filter("the first segment is not reserved", |segments| {
            !matches!(segments.first(), Some(Segment::Literal(first))
                if ["api", "admin", "healthz", "version"].contains(&first.to_ascii_lowercase().as_str()))
        })
}

/// The text a pattern is written as (`PathPattern` has no `Display`; this is
/// its grammar, used to check the parser reads back what it accepted).
pub(crate) fn route_text(segments: &[Segment]) -> String {
    let mut out = String::from("/");
    let parts: Vec<String> = segments
        .iter()
        .map(|s| match s {
            Segment::Literal(text) => text.clone(),
            Segment::Param(name) => format!(":{name}"),
            Segment::Wildcard => "*".into(),
        })
        .collect();
    out.push_str(&parts.join("/"));
    out
}

/// A value for a `:param`: any non-empty text (the client percent-encodes it).
pub(crate) fn param_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
        "[a-zA-Z0-9 %/+?#:.]{1,10}",
    ]
}

/// Values for a pattern's params plus the path segments a `*` absorbs.
pub(crate) fn route_request(
    segments: Vec<Segment>,
) -> impl Strategy<Value = (Vec<Segment>, Vec<String>, Vec<String>)> {
    let params = segments
        .iter()
        .filter(|s| matches!(s, Segment::Param(_)))
        .count();
    (
        Just(segments),
        prop::collection::vec(param_value(), params),
        prop::collection::vec(any::<String>(), 0..4),
    )
}

/// Percent-encodes everything but unreserved characters, as a client does
/// with a path segment.
pub(crate) fn encode_segment(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The concrete request path for a pattern, params and wildcard rest, and the
/// captures a matcher must report for it (`wildcard` last, decoded).
pub(crate) fn concrete_path(
    segments: &[Segment],
    values: &[String],
    rest: &[String],
) -> (String, Vec<(String, String)>) {
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
                let value = values.next().expect("one value per param");
                path.push('/');
                path.push_str(&encode_segment(value));
                captures.push((name.clone(), value.clone()));
            }
            Segment::Wildcard => {
                if !rest.is_empty() {
                    path.push('/');
                    let encoded: Vec<String> = rest.iter().map(|s| encode_segment(s)).collect();
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

/// A label as stored: lower-case letters, digits, inner hyphens.
pub(crate) fn host_label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?"
}

/// One label of a domain pattern: `Ok(literal)` or `Err(wildcard name)`.
pub(crate) type PatternLabel = Result<String, String>;

/// Labels of a valid domain pattern: at least one literal, unique wildcard
/// names, at most 8 labels (the 64-label and 253-byte caps have unit tests).
pub(crate) fn domain_labels() -> impl Strategy<Value = Vec<PatternLabel>> {
    let label = prop_oneof![
        2 => host_label().prop_map(Ok),
        1 => param_name().prop_map(Err),
    ];
    prop::collection::vec(label, 1..8)
        .prop_filter("at least one literal", |labels| {
            labels.iter().any(Result::is_ok)
        })
        .prop_filter("wildcard names are unique", |labels| {
            let mut seen = HashSet::new();
            labels.iter().all(|l| match l {
                Err(name) => seen.insert(name.clone()),
                Ok(_) => true,
            })
        })
}

/// The pattern's text, `{name}` for wildcards.
pub(crate) fn domain_text(labels: &[PatternLabel]) -> String {
    labels
        .iter()
        .map(|l| match l {
            Ok(text) => text.clone(),
            Err(name) => format!("{{{name}}}"),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The pattern's shape key as documented: each wildcard becomes `*`.
pub(crate) fn domain_shape(labels: &[PatternLabel]) -> String {
    labels
        .iter()
        .map(|l| match l {
            Ok(text) => text.as_str(),
            Err(_) => "*",
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// A pattern's labels with a concrete label for each wildcard.
pub(crate) fn domain_request(
    labels: Vec<PatternLabel>,
) -> impl Strategy<Value = (Vec<PatternLabel>, Vec<String>)> {
    let wildcards = labels.iter().filter(|l| l.is_err()).count();
    (Just(labels), prop::collection::vec(host_label(), wildcards))
}

/// The host a pattern matches once its wildcards take `values`, and the
/// captures that match must report.
pub(crate) fn concrete_host(
    labels: &[PatternLabel],
    values: &[String],
) -> (String, Vec<(String, String)>) {
    let mut values = values.iter();
    let mut captures = Vec::new();
    let host: Vec<String> = labels
        .iter()
        .map(|l| match l {
            Ok(text) => text.clone(),
            Err(name) => {
                let value = values.next().expect("one value per wildcard").clone();
                captures.push((name.clone(), value.clone()));
                value
            }
        })
        .collect();
    (host.join("."), captures)
}
