//! `AppDomainTable`: a normalized host to the app that claims it.
//!
//! Exact claims are one hash lookup. Wildcard claims are grouped by label
//! count and wildcard mask; a lookup tries only the masks that exist for the
//! host's label count, most specific first (see `shared::domain`), each one a
//! hash lookup of the host with those labels blanked. Cost therefore grows
//! with the number of distinct claim *shapes of that length*, not with the
//! number of claims.

use std::collections::HashMap;

use compact_str::CompactString;
use shared::AppId;
use shared::domain::{DomainPattern, specificity_cmp_masks};
use smallvec::SmallVec;

/// A resolved host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostMatch<T = AppId> {
    /// The claiming app (its id, or wherever the table's owner keeps it).
    pub app: T,
    /// `{name}` captures of a wildcard claim.
    pub host_params: Vec<(String, String)>,
}

#[derive(Debug)]
struct MaskGroup<T> {
    mask: u64,
    /// Key: the host's labels with masked ones removed, joined by '.'. The
    /// value carries the wildcard names, left to right. Keys and names are
    /// inline strings, so a typical host is compared and its captures named
    /// inside the hash bucket, without following a pointer.
    claims: HashMap<CompactString, (T, SmallVec<[CompactString; 2]>)>,
}

/// Host → app lookup for every claim. `T` is what a claim resolves to: an
/// [`AppId`], or an index into the owner's own app table.
#[derive(Debug)]
pub struct AppDomainTable<T = AppId> {
    exact: HashMap<CompactString, T>,
    /// Indexed by label count: mask groups ordered most specific first.
    wildcard: Vec<Vec<MaskGroup<T>>>,
}

impl<T> Default for AppDomainTable<T> {
    fn default() -> Self {
        AppDomainTable {
            exact: HashMap::new(),
            wildcard: Vec::new(),
        }
    }
}

impl<T: Copy + std::fmt::Debug> AppDomainTable<T> {
    /// Adds a claim; claims that fail to parse are skipped (they were
    /// validated when stored).
    pub fn insert(&mut self, app: T, pattern: &str) {
        let Ok(parsed) = DomainPattern::parse(pattern) else {
            tracing::warn!(
                ?app,
                pattern,
                "skipping a stored domain claim that does not parse"
            );
            return;
        };
        if parsed.is_exact() {
            self.exact.insert(parsed.to_string().into(), app);
            return;
        }
        let mask = parsed.wildcard_mask();
        let key = fixed_labels(&parsed.shape_key(), mask);
        if self.wildcard.len() <= parsed.len() {
            self.wildcard.resize_with(parsed.len() + 1, Vec::new);
        }
        let groups = &mut self.wildcard[parsed.len()];
        let index = match groups.iter().position(|g| g.mask == mask) {
            Some(i) => i,
            None => {
                groups.push(MaskGroup {
                    mask,
                    claims: HashMap::new(),
                });
                groups.sort_by(|a, b| specificity_cmp_masks(a.mask, b.mask));
                groups
                    .iter()
                    .position(|g| g.mask == mask)
                    .expect("just inserted")
            }
        };
        groups[index].claims.insert(
            key,
            (
                app,
                parsed
                    .wildcard_names()
                    .iter()
                    .map(CompactString::from)
                    .collect(),
            ),
        );
    }

    /// The app claiming a normalized host, with wildcard captures.
    pub fn resolve(&self, host: &str) -> Option<HostMatch<T>> {
        if let Some(app) = self.exact.get(host) {
            return Some(HostMatch {
                app: *app,
                host_params: Vec::new(),
            });
        }
        let labels = host.split('.').count();
        for group in self.wildcard.get(labels)? {
            if let Some((app, names)) = group.claims.get(&fixed_labels(host, group.mask)) {
                // The fixed labels matched, so the masked ones are the captures.
                let values = host
                    .split('.')
                    .enumerate()
                    .filter(|(i, _)| group.mask & (1 << i) != 0)
                    .map(|(_, label)| label.to_owned());
                return Some(HostMatch {
                    app: *app,
                    host_params: names.iter().map(|n| n.to_string()).zip(values).collect(),
                });
            }
        }
        None
    }
}

/// The labels of `name` whose bit in `mask` is clear, joined by '.'. Labels
/// past the 64th never match a pattern (patterns have at most 64 labels, and
/// a lookup only tries masks of patterns with the host's label count).
fn fixed_labels(name: &str, mask: u64) -> CompactString {
    let mut out = CompactString::with_capacity(name.len());
    for (i, label) in name.split('.').enumerate() {
        if i >= 64 || mask & (1 << i) == 0 {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(label);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_beats_wildcard_and_more_specific_wins() {
        let (a, b, c, d) = (AppId::new(), AppId::new(), AppId::new(), AppId::new());
        let mut t: AppDomainTable = AppDomainTable::default();
        t.insert(a, "vip.beta.test");
        t.insert(b, "{tenant}.beta.test");
        t.insert(c, "{x}.{y}.test");
        t.insert(d, "api.{env}.test");
        assert_eq!(t.resolve("vip.beta.test").unwrap().app, a);
        let m = t.resolve("acme.beta.test").unwrap();
        assert_eq!(
            (m.app, m.host_params),
            (b, vec![("tenant".into(), "acme".into())])
        );
        // One wildcard beats two.
        assert_eq!(t.resolve("acme.gamma.test").unwrap().app, c);
        assert_eq!(t.resolve("api.gamma.test").unwrap().app, d);
        assert_eq!(t.resolve("x.y.z.test"), None);
        assert_eq!(t.resolve("beta.test"), None);
    }
}
