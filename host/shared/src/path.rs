//! Route path patterns: `/users/:id`, `/files/*`.
//!
//! Segments are literal, `:name` parameters (one segment each), or a final
//! `*` wildcard that matches the rest of the path (captured as `wildcard`).
//! Paths use `:name`; `{name}` belongs to domain patterns and is rejected here
//! with a message that says so.

use crate::domain::valid_param_name;

/// Path prefixes PiCloud serves itself; routes cannot claim them.
pub const RESERVED_PREFIXES: [&str; 4] = ["/api", "/admin", "/healthz", "/version"];

/// Longest accepted route path.
const MAX_PATH_LEN: usize = 1024;

/// One segment of a route path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Must equal this text.
    Literal(String),
    /// Captures one segment under this name.
    Param(String),
    /// Captures the rest of the path (possibly empty) as `wildcard`.
    Wildcard,
}

/// A validated route path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    /// Segments in order; `/` is the empty list.
    pub segments: Vec<Segment>,
}

impl PathPattern {
    /// Validates `path`; `Err` says what is wrong in words a user can act on.
    pub fn parse(path: &str) -> Result<Self, String> {
        if !path.starts_with('/') {
            return Err(format!("route path '{path}' must start with '/'"));
        }
        if path.len() > MAX_PATH_LEN {
            return Err(format!(
                "route path is longer than {MAX_PATH_LEN} characters"
            ));
        }
        if path.contains(['?', '#']) {
            return Err(format!(
                "route path '{path}' must not contain a query or fragment"
            ));
        }
        let lower = path.to_ascii_lowercase();
        for prefix in RESERVED_PREFIXES {
            if lower == prefix || lower.starts_with(&format!("{prefix}/")) {
                return Err(format!(
                    "route path '{path}' is reserved: PiCloud serves {prefix} itself"
                ));
            }
        }
        let mut segments = Vec::new();
        let mut names: Vec<String> = Vec::new();
        let trimmed = &path[1..];
        let parts: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            if part.is_empty() {
                if last {
                    // A trailing slash is significant in matching; keep it as
                    // an empty literal so `/a/` and `/a` stay distinct.
                    segments.push(Segment::Literal(String::new()));
                    continue;
                }
                return Err(format!("route path '{path}' has an empty segment ('//')"));
            }
            if part.contains(['{', '}']) {
                return Err(format!(
                    "route path '{path}' uses {{...}}: path parameters are written ':name' ({{name}} is for domain patterns)"
                ));
            }
            if let Some(name) = part.strip_prefix(':') {
                if !valid_param_name(name) {
                    return Err(format!(
                        "':{name}' in '{path}' is not a valid parameter: use letters, digits and _ (not starting with a digit)"
                    ));
                }
                if names.iter().any(|n| n == name) {
                    return Err(format!(
                        "route path '{path}' uses the parameter ':{name}' twice"
                    ));
                }
                names.push(name.to_owned());
                segments.push(Segment::Param(name.to_owned()));
            } else if *part == "*" {
                if !last {
                    return Err(format!(
                        "route path '{path}': '*' is only allowed as the last segment"
                    ));
                }
                segments.push(Segment::Wildcard);
            } else if part.contains('*') || part.contains(':') {
                return Err(format!(
                    "segment '{part}' in '{path}' mixes text with ':' or '*': a parameter or wildcard must be a whole segment"
                ));
            } else if part.bytes().any(|b| b.is_ascii_control() || b == b' ') {
                return Err(format!(
                    "route path '{path}' contains spaces or control characters"
                ));
            } else {
                segments.push(Segment::Literal((*part).to_owned()));
            }
        }
        Ok(PathPattern { segments })
    }

    /// The path with parameter names erased: two routes of one shape (per app,
    /// host and method) would shadow each other.
    pub fn shape(&self) -> String {
        if self.segments.is_empty() {
            return "/".into();
        }
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(text) => format!("/{text}"),
                Segment::Param(_) => "/:".into(),
                Segment::Wildcard => "/*".into(),
            })
            .collect()
    }
}

/// Normalizes a method for a route: upper-case; `*` or `ANY` means any method.
pub fn normalize_method(method: &str) -> Result<String, String> {
    let upper = method.trim().to_ascii_uppercase();
    match upper.as_str() {
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" => Ok(upper),
        "*" | "ANY" => Ok("*".into()),
        _ => Err(format!(
            "method '{method}' is not supported: use GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or * (any)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_params_and_wildcards() {
        let p = PathPattern::parse("/users/:id/files/*").unwrap();
        assert_eq!(
            p.segments,
            vec![
                Segment::Literal("users".into()),
                Segment::Param("id".into()),
                Segment::Literal("files".into()),
                Segment::Wildcard
            ]
        );
        assert_eq!(p.shape(), "/users/:/files/*");
        assert_eq!(PathPattern::parse("/").unwrap().shape(), "/");
        assert_eq!(
            PathPattern::parse("/users/:name").unwrap().shape(),
            PathPattern::parse("/users/:id").unwrap().shape()
        );
    }

    #[test]
    fn rejects_with_reasons() {
        for (bad, needle) in [
            ("users", "start with '/'"),
            ("/api/evil", "reserved"),
            ("/API", "reserved"),
            ("/admin/x", "reserved"),
            ("/healthz", "reserved"),
            ("/version", "reserved"),
            ("/users/{id}", ":name"),
            ("/a//b", "empty segment"),
            ("/a/*/b", "last segment"),
            ("/a/:1x", "not a valid parameter"),
            ("/a/:id/:id", "twice"),
            ("/a/x:id", "whole segment"),
            ("/a?b=1", "query"),
        ] {
            let err = PathPattern::parse(bad).unwrap_err();
            assert!(err.contains(needle), "{bad}: {err}");
        }
        // Prefixes only match whole segments.
        assert!(PathPattern::parse("/apis").is_ok());
        assert!(PathPattern::parse("/versions").is_ok());
    }

    #[test]
    fn methods() {
        assert_eq!(normalize_method("get").unwrap(), "GET");
        assert_eq!(normalize_method("any").unwrap(), "*");
        assert!(
            normalize_method("FETCH")
                .unwrap_err()
                .contains("not supported")
        );
    }
}
