//! `RouteTable`: one app's routes as a trie over path segments.
//!
//! Precedence at every segment: a literal beats a `:param`, which beats a
//! trailing `*`; the search backtracks, so `POST /users/me` still reaches
//! `POST /users/:id` when `/users/me` exists only for GET. Methods: an exact
//! method beats `*` (any); HEAD falls back to GET.
//!
//! Layout is chosen for a host with thousands of apps, where a lookup's cost
//! is mostly cache misses, not instructions: keys are inline strings (a short
//! path or segment is compared inside the hash bucket, with no pointer to
//! follow), methods are inline arrays, trie nodes live in one vector and point
//! at each other by index, and the route records sit together at the end.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use compact_str::CompactString;
use smallvec::SmallVec;

use shared::path::{PathPattern, Segment};
use shared::{RouteId, RouteSpec, ScriptId};

/// A route as dispatch needs it. Strings are inline when short (most paths,
/// every method and parameter name), so reading a match follows no pointer
/// beyond this record.
#[derive(Debug, Clone)]
pub struct RouteEntry {
    /// The route.
    pub id: RouteId,
    /// The script it runs.
    pub script_id: ScriptId,
    /// `GET`, …, or `*`.
    pub method: CompactString,
    /// The route's path pattern as stored.
    pub path: CompactString,
    /// The script's source, resolved when the table is built.
    pub source: Arc<str>,
    /// The version that source is.
    pub version: i64,
    /// Parameter names in path order (values are captured positionally).
    param_names: SmallVec<[CompactString; 2]>,
    has_wildcard: bool,
}

/// Index of a node in `RouteTable::nodes`, or of a target in `targets`.
type Index = u32;

#[derive(Debug, Default)]
struct Node {
    /// Literal children, sorted by segment (binary search); the first is
    /// inline, as most nodes have one.
    literal: SmallVec<[(CompactString, Index); 1]>,
    param: Option<Index>,
    /// Routes ending in `*` at this depth, by method.
    wildcard: Methods,
    /// Routes ending exactly here, by method.
    routes: Methods,
}

/// The routes of one path, by method: a path has a handful of methods at
/// most, so an inline array of (method, target) pairs (methods compared as
/// eight bytes) beats a hash map and needs no allocation for up to two.
#[derive(Debug, Default)]
struct Methods(SmallVec<[([u8; 8], Index); 2]>);

/// Route methods are validated to `GET`…`OPTIONS` or `*`: all fit in 8 bytes.
fn method_key(method: &str) -> [u8; 8] {
    let mut key = [0u8; 8];
    let bytes = method.as_bytes();
    let n = bytes.len().min(8);
    key[..n].copy_from_slice(&bytes[..n]);
    key
}

impl Methods {
    /// The target previously stored for `method`, if any, is replaced.
    fn insert(&mut self, method: &str, target: Index) {
        let key = method_key(method);
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = target,
            None => self.0.push((key, target)),
        }
    }

    fn get(&self, method: &str) -> Option<Index> {
        let key = method_key(method);
        self.0.iter().find(|(k, _)| *k == key).map(|(_, t)| *t)
    }
}

/// A successful match.
#[derive(Debug, Clone)]
pub struct PathMatch<'a> {
    /// The matched route, with its script's source.
    pub route: &'a RouteEntry,
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
/// Fully static routes (no `:param`, no `*`) live in a hash map keyed by the
/// whole path rather than in the trie: they always win at every segment, so
/// one probe answers for them and a request to a static route touches no trie
/// node. The trie holds the routes with parameters or a wildcard.
#[derive(Debug)]
pub struct RouteTable {
    statics: HashMap<CompactString, Methods>,
    /// `nodes[0]` is the root.
    nodes: Vec<Node>,
    targets: Vec<RouteEntry>,
}

impl Default for RouteTable {
    fn default() -> Self {
        RouteTable {
            statics: HashMap::new(),
            nodes: vec![Node::default()],
            targets: Vec::new(),
        }
    }
}

impl RouteTable {
    /// Adds a route running `source` (version `version` of its script);
    /// routes whose path no longer parses are skipped (they were validated
    /// when created).
    pub fn insert(&mut self, route: RouteSpec, source: Arc<str>, version: i64) {
        let Ok(pattern) = PathPattern::parse(&route.path) else {
            tracing::warn!(route = %route.id, path = %route.path, "skipping a stored route whose path is invalid");
            return;
        };
        let target = Index::try_from(self.targets.len()).expect("fewer than 4 billion routes");
        let mut param_names = SmallVec::new();
        let mut has_wildcard = false;
        let methods = if pattern
            .segments
            .iter()
            .all(|s| matches!(s, Segment::Literal(_)))
        {
            self.statics
                .entry(CompactString::from(canonical_path(&route.path).as_ref()))
                .or_default()
        } else {
            let mut node = 0;
            for segment in &pattern.segments {
                node = match segment {
                    Segment::Literal(text) => self.literal_child(node, &canonical_segment(text)),
                    Segment::Param(name) => {
                        param_names.push(CompactString::from(name.as_str()));
                        self.param_child(node)
                    }
                    Segment::Wildcard => {
                        has_wildcard = true;
                        node
                    }
                };
            }
            let node = &mut self.nodes[node as usize];
            if has_wildcard {
                &mut node.wildcard
            } else {
                &mut node.routes
            }
        };
        methods.insert(&route.method, target);
        self.targets.push(RouteEntry {
            id: route.id,
            script_id: route.script_id,
            method: route.method.as_str().into(),
            path: route.path.as_str().into(),
            source,
            version,
            param_names,
            has_wildcard,
        });
    }

    fn literal_child(&mut self, node: Index, text: &str) -> Index {
        let next = Index::try_from(self.nodes.len()).expect("fewer than 4 billion nodes");
        let literal = &mut self.nodes[node as usize].literal;
        match literal.binary_search_by(|(key, _)| key.as_str().cmp(text)) {
            Ok(i) => literal[i].1,
            Err(i) => {
                literal.insert(i, (CompactString::from(text), next));
                self.nodes.push(Node::default());
                next
            }
        }
    }

    fn param_child(&mut self, node: Index) -> Index {
        if let Some(child) = self.nodes[node as usize].param {
            return child;
        }
        let next = Index::try_from(self.nodes.len()).expect("fewer than 4 billion nodes");
        self.nodes[node as usize].param = Some(next);
        self.nodes.push(Node::default());
        next
    }

    /// Finds the route for `method` and `path` (path without query).
    pub fn find<'a>(&'a self, method: &str, path: &str) -> Result<PathMatch<'a>, RouteMiss> {
        // Literals are stored in canonical percent-encoding; an escape in the
        // request (`/caf%c3%a9`, `/%63afe`) is brought to the same form.
        // Paths without one, nearly all of them, are compared as they are.
        let canonical = canonical_path(path);
        let path = canonical.as_ref();
        let mut allowed = Vec::new();
        if let Some(methods) = self.statics.get(path)
            && let Some(target) = self.pick(methods, method, &mut allowed)
        {
            return Ok(PathMatch {
                route: target,
                params: Vec::new(),
            });
        }
        let segments: SmallVec<[&str; 8]> = match path.strip_prefix('/') {
            Some("") | None => SmallVec::new(),
            Some(rest) => rest.split('/').collect(),
        };
        let mut values = SmallVec::new();
        match self.search(0, &segments, method, &mut values, &mut allowed) {
            Some((target, rest)) => {
                let mut params: Vec<(String, String)> = target
                    .param_names
                    .iter()
                    .map(|name| name.to_string())
                    .zip(values.into_iter().map(decode))
                    .collect();
                if target.has_wildcard {
                    params.push(("wildcard".into(), rest));
                }
                Ok(PathMatch {
                    route: target,
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

    fn pick(
        &self,
        routes: &Methods,
        method: &str,
        allowed: &mut Vec<String>,
    ) -> Option<&RouteEntry> {
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
        match found {
            Some(target) => Some(&self.targets[target as usize]),
            None => {
                allowed.extend(
                    routes
                        .0
                        .iter()
                        .map(|(_, t)| self.targets[*t as usize].method.to_string()),
                );
                None
            }
        }
    }

    /// Depth-first search in precedence order; `values` collects param values.
    fn search<'a, 'p>(
        &'a self,
        node: Index,
        segments: &[&'p str],
        method: &str,
        values: &mut SmallVec<[&'p str; 4]>,
        allowed: &mut Vec<String>,
    ) -> Option<(&'a RouteEntry, String)> {
        let here = &self.nodes[node as usize];
        let Some((first, rest)) = segments.split_first() else {
            if let Some(target) = self.pick(&here.routes, method, allowed) {
                return Some((target, String::new()));
            }
            return self
                .pick(&here.wildcard, method, allowed)
                .map(|t| (t, String::new()));
        };
        if let Ok(i) = here
            .literal
            .binary_search_by(|(key, _)| key.as_str().cmp(first))
            && let Some(found) = self.search(here.literal[i].1, rest, method, values, allowed)
        {
            return Some(found);
        }
        if !first.is_empty()
            && let Some(child) = here.param
        {
            values.push(first);
            if let Some(found) = self.search(child, rest, method, values, allowed) {
                return Some(found);
            }
            values.pop();
        }
        self.pick(&here.wildcard, method, allowed)
            .map(|t| (t, decode(segments.join("/"))))
    }
}

/// Bytes escaped in the canonical form of a path: everything but ASCII
/// letters, digits, `/` and the punctuation `http::Uri` lets through
/// unescaped. Non-ASCII bytes are always escaped.
const ESCAPED_IN_PATH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// The same within one segment, where `/` is data.
const ESCAPED_IN_SEGMENT: &percent_encoding::AsciiSet = &ESCAPED_IN_PATH.add(b'/');

/// One path segment in canonical form: percent-decoded, then escaped with
/// [`ESCAPED_IN_SEGMENT`] (upper-case hex). A route literal `café` and the
/// request segments `caf%C3%A9` and `caf%c3%a9` all become `caf%C3%A9`.
fn canonical_segment(segment: &str) -> Cow<'_, str> {
    if !segment.contains('%') {
        // Borrowed when nothing needs escaping.
        return percent_encoding::utf8_percent_encode(segment, ESCAPED_IN_SEGMENT).into();
    }
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(segment).collect();
    percent_encoding::percent_encode(&bytes, ESCAPED_IN_SEGMENT)
        .to_string()
        .into()
}

/// A path with each segment in canonical form (borrowed when it already is,
/// which is the case for nearly every request).
fn canonical_path(path: &str) -> Cow<'_, str> {
    if !path.contains('%')
        && let Cow::Borrowed(_) =
            Cow::from(percent_encoding::utf8_percent_encode(path, ESCAPED_IN_PATH))
    {
        return path.into();
    }
    path.split('/')
        .map(canonical_segment)
        .collect::<Vec<_>>()
        .join("/")
        .into()
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
                1,
            );
        }
        t
    }

    fn hit(t: &RouteTable, method: &str, path: &str) -> (String, Vec<(String, String)>) {
        let m = t
            .find(method, path)
            .unwrap_or_else(|e| panic!("{method} {path}: {e:?}"));
        (m.route.path.to_string(), m.params)
    }

    /// Clients escape what a URI cannot carry, in either case of hex, and
    /// may escape what they need not; literals match all of those forms.
    #[test]
    fn literals_match_however_the_client_escapes_them() {
        let t = table(&[
            ("GET", "/café"),
            ("GET", "/menu/crème-brûlée/:size"),
            ("GET", "/100%"),
        ]);
        for path in ["/caf%C3%A9", "/caf%c3%a9", "/%63af%C3%A9"] {
            assert_eq!(hit(&t, "GET", path).0, "/café", "{path}");
        }
        let (route, params) = hit(&t, "GET", "/menu/cr%C3%A8me-br%C3%BBl%C3%A9e/l%C3%A0rge");
        assert_eq!(route, "/menu/crème-brûlée/:size");
        assert_eq!(params, [("size".to_owned(), "làrge".to_owned())]);
        assert_eq!(hit(&t, "GET", "/100%25").0, "/100%");
        // An escaped slash is data inside a segment, not a separator.
        assert!(t.find("GET", "/caf%C3%A9%2Fx").is_err());
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
