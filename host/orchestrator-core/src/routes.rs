//! `RouteTable`: one app's routes as a trie over path segments.
//!
//! Precedence at every segment: a literal beats a `:param`, which beats a
//! trailing `*`; the search backtracks, so `POST /users/me` still reaches
//! `POST /users/:id` when `/users/me` exists only for GET. Methods: an exact
//! method beats `*` (any); HEAD falls back to GET.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use shared::RouteSpec;
use shared::path::{PathPattern, Segment};

/// What a route resolves to.
#[derive(Debug, Clone)]
pub(crate) struct RouteTarget {
    /// The route.
    pub route: RouteSpec,
    /// Its script's source, resolved when the table is built.
    source: Arc<str>,
    /// Parameter names in path order (values are captured positionally).
    param_names: Vec<String>,
    has_wildcard: bool,
}

#[derive(Debug, Default)]
struct Node {
    literal: HashMap<String, Node>,
    param: Option<Box<Node>>,
    /// Routes ending in `*` at this depth, by method.
    wildcard: Methods,
    /// Routes ending exactly here, by method.
    routes: Methods,
}

/// The routes of one path, by method. A path has a handful of methods at
/// most, so two short vectors (the method names inline, compared as eight
/// bytes) beat a hash map, and keep a lookup within a cache line or two.
#[derive(Debug, Default)]
struct Methods {
    keys: Vec<[u8; 8]>,
    targets: Vec<RouteTarget>,
}

/// Route methods are validated to `GET`…`OPTIONS` or `*`: all fit in 8 bytes.
fn method_key(method: &str) -> [u8; 8] {
    let mut key = [0u8; 8];
    let bytes = method.as_bytes();
    let n = bytes.len().min(8);
    key[..n].copy_from_slice(&bytes[..n]);
    key
}

impl Methods {
    fn insert(&mut self, method: &str, target: RouteTarget) {
        let key = method_key(method);
        match self.keys.iter().position(|k| *k == key) {
            Some(i) => self.targets[i] = target,
            None => {
                self.keys.push(key);
                self.targets.push(target);
            }
        }
    }

    fn get(&self, method: &str) -> Option<&RouteTarget> {
        let key = method_key(method);
        self.keys
            .iter()
            .position(|k| *k == key)
            .map(|i| &self.targets[i])
    }
}

/// A successful match.
#[derive(Debug, Clone)]
pub struct PathMatch<'a> {
    /// The matched route.
    pub route: &'a RouteSpec,
    /// Its script's source.
    pub source: &'a Arc<str>,
    /// `:name` captures, plus `wildcard` for a trailing `*`.
    pub params: Vec<(String, String)>,
}

/// Why nothing matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMiss {
    /// No route has this path.
    NotFound,
    /// Routes have this path, for these other methods.
    MethodNotAllowed(Vec<String>),
}

/// One app's routes (for one host scope).
///
/// Fully static routes (no `:param`, no `*`) live in a hash map keyed by a
/// hash of the whole path rather than in the trie: they always win at every
/// segment, so one probe answers for them, and a request to a static route
/// touches no trie node and no out-of-line key (which matters when thousands
/// of apps' tables compete for the CPU cache). A hit is confirmed against the
/// route's own path; two static paths of one table with the same hash (never
/// seen in practice) would put the second in the trie, which handles literal
/// paths too. The trie holds the routes with parameters or a wildcard.
#[derive(Debug, Default)]
pub struct RouteTable {
    hasher: RandomState,
    statics: HashMap<u64, Methods>,
    root: Node,
}

impl RouteTable {
    /// Adds a route; routes whose path no longer parses are skipped (they
    /// were validated when created).
    pub fn insert(&mut self, route: RouteSpec, source: Arc<str>) {
        let Ok(pattern) = PathPattern::parse(&route.path) else {
            tracing::warn!(route = %route.id, path = %route.path, "skipping a stored route whose path is invalid");
            return;
        };
        let method = route.method.clone();
        let key = self.hasher.hash_one(route.path.as_str());
        let is_static = pattern
            .segments
            .iter()
            .all(|s| matches!(s, Segment::Literal(_)));
        let collides = self
            .statics
            .get(&key)
            .and_then(|m| m.targets.first())
            .is_some_and(|t| t.route.path != route.path);
        if is_static && !collides {
            let target = RouteTarget {
                route,
                source,
                param_names: Vec::new(),
                has_wildcard: false,
            };
            self.statics.entry(key).or_default().insert(&method, target);
            return;
        }
        let mut node = &mut self.root;
        let mut param_names = Vec::new();
        let mut has_wildcard = false;
        for segment in &pattern.segments {
            match segment {
                Segment::Literal(text) => node = node.literal.entry(text.clone()).or_default(),
                Segment::Param(name) => {
                    param_names.push(name.clone());
                    node = node.param.get_or_insert_with(Default::default);
                }
                Segment::Wildcard => has_wildcard = true,
            }
        }
        let target = RouteTarget {
            route,
            source,
            param_names,
            has_wildcard,
        };
        if has_wildcard {
            node.wildcard.insert(&method, target);
        } else {
            node.routes.insert(&method, target);
        }
    }

    /// Finds the route for `method` and `path` (path without query).
    pub fn find<'a>(&'a self, method: &str, path: &str) -> Result<PathMatch<'a>, RouteMiss> {
        let mut allowed = Vec::new();
        let statics = self
            .statics
            .get(&self.hasher.hash_one(path))
            .filter(|m| m.targets.first().is_some_and(|t| t.route.path == path));
        if let Some(target) = statics.and_then(|m| pick(m, method, &mut allowed)) {
            return Ok(PathMatch {
                route: &target.route,
                source: &target.source,
                params: Vec::new(),
            });
        }
        let segments: Vec<&str> = match path.strip_prefix('/') {
            Some("") | None => Vec::new(),
            Some(rest) => rest.split('/').collect(),
        };
        let mut values = Vec::new();
        match search(&self.root, &segments, method, &mut values, &mut allowed) {
            Some((target, rest)) => {
                let mut params: Vec<(String, String)> = target
                    .param_names
                    .iter()
                    .cloned()
                    .zip(values.into_iter().map(decode))
                    .collect();
                if target.has_wildcard {
                    params.push(("wildcard".into(), rest));
                }
                Ok(PathMatch {
                    route: &target.route,
                    source: &target.source,
                    params,
                })
            }
            None if allowed.is_empty() => Err(RouteMiss::NotFound),
            None => {
                allowed.sort();
                allowed.dedup();
                Err(RouteMiss::MethodNotAllowed(allowed))
            }
        }
    }
}

fn pick<'a>(
    routes: &'a Methods,
    method: &str,
    allowed: &mut Vec<String>,
) -> Option<&'a RouteTarget> {
    let found = routes
        .get(method)
        .or_else(|| {
            if method == "HEAD" {
                routes.get("GET")
            } else {
                None
            }
        })
        .or_else(|| routes.get("*"));
    if found.is_none() {
        allowed.extend(routes.targets.iter().map(|t| t.route.method.clone()));
    }
    found
}

/// Depth-first search in precedence order; `values` collects param values.
fn search<'a>(
    node: &'a Node,
    segments: &[&str],
    method: &str,
    values: &mut Vec<String>,
    allowed: &mut Vec<String>,
) -> Option<(&'a RouteTarget, String)> {
    let Some((first, rest)) = segments.split_first() else {
        if let Some(target) = pick(&node.routes, method, allowed) {
            return Some((target, String::new()));
        }
        return pick(&node.wildcard, method, allowed).map(|t| (t, String::new()));
    };
    if let Some(child) = node.literal.get(*first)
        && let Some(found) = search(child, rest, method, values, allowed)
    {
        return Some(found);
    }
    if !first.is_empty()
        && let Some(child) = &node.param
    {
        values.push((*first).to_owned());
        if let Some(found) = search(child, rest, method, values, allowed) {
            return Some(found);
        }
        values.pop();
    }
    pick(&node.wildcard, method, allowed).map(|t| (t, decode(segments.join("/"))))
}

/// Percent-decodes a captured path segment (`+` stays `+` in paths).
fn decode(value: impl AsRef<str>) -> String {
    percent_encoding::percent_decode_str(value.as_ref())
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::{AppId, RouteId, ScriptId};

    fn table(routes: &[(&str, &str)]) -> RouteTable {
        let mut t = RouteTable::default();
        for (method, path) in routes {
            t.insert(
                RouteSpec {
                    id: RouteId::new(),
                    app_id: AppId::new(),
                    script_id: ScriptId::new(),
                    method: method.to_string(),
                    path: path.to_string(),
                    host: None,
                },
                Arc::from("1"),
            );
        }
        t
    }

    fn hit(t: &RouteTable, method: &str, path: &str) -> (String, Vec<(String, String)>) {
        let m = t
            .find(method, path)
            .unwrap_or_else(|e| panic!("{method} {path}: {e:?}"));
        (m.route.path.clone(), m.params)
    }

    #[test]
    fn static_beats_param_beats_wildcard() {
        let t = table(&[
            ("GET", "/users/me"),
            ("GET", "/users/:id"),
            ("GET", "/users/*"),
            ("GET", "/"),
        ]);
        assert_eq!(hit(&t, "GET", "/users/me").0, "/users/me");
        assert_eq!(
            hit(&t, "GET", "/users/42"),
            ("/users/:id".into(), vec![("id".into(), "42".into())])
        );
        assert_eq!(
            hit(&t, "GET", "/users/42/files/a.txt"),
            (
                "/users/*".into(),
                vec![("wildcard".into(), "42/files/a.txt".into())]
            )
        );
        assert_eq!(hit(&t, "GET", "/").0, "/");
    }

    #[test]
    fn backtracks_for_method() {
        let t = table(&[("GET", "/users/me"), ("POST", "/users/:id")]);
        assert_eq!(
            hit(&t, "POST", "/users/me"),
            ("/users/:id".into(), vec![("id".into(), "me".into())])
        );
        assert_eq!(
            t.find("DELETE", "/users/me").unwrap_err(),
            RouteMiss::MethodNotAllowed(vec!["GET".into(), "POST".into()])
        );
    }

    #[test]
    fn head_falls_back_to_get_and_any_method() {
        let t = table(&[("GET", "/a"), ("*", "/b"), ("POST", "/b")]);
        assert_eq!(hit(&t, "HEAD", "/a").0, "/a");
        assert_eq!(t.find("POST", "/b").unwrap().route.method, "POST");
        assert_eq!(t.find("PUT", "/b").unwrap().route.method, "*");
        assert_eq!(t.find("GET", "/c").unwrap_err(), RouteMiss::NotFound);
    }

    #[test]
    fn params_are_percent_decoded_and_trailing_slash_matters() {
        let t = table(&[("GET", "/files/:name"), ("GET", "/dir/")]);
        assert_eq!(
            hit(&t, "GET", "/files/a%20b").1,
            vec![("name".into(), "a b".into())]
        );
        assert!(t.find("GET", "/dir").is_err());
        assert_eq!(hit(&t, "GET", "/dir/").0, "/dir/");
        assert!(
            t.find("GET", "/files/").is_err(),
            "a param never matches an empty segment"
        );
    }
}
