//! Host names and the domain patterns apps claim.
//!
//! A pattern is a dot-separated list of labels, each either literal
//! (`api`) or a `{name}` wildcard matching exactly one label
//! (`{tenant}.example.com`). Its *shape key* replaces each wildcard with `*`;
//! two patterns with the same shape would be ambiguous, so shape keys are
//! unique across all apps. Precedence between patterns that both match a host:
//! fewer wildcards wins; with as many wildcards, the one whose literal labels
//! sit further right (closer to the registered domain) wins. Because shapes are
//! unique this order is total: two claims can never tie.

use std::cmp::Ordering;

/// A parsed, normalized domain pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainPattern {
    labels: Vec<Label>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Label {
    Literal(String),
    Wildcard(String),
}

/// Longest host name (RFC 1035).
const MAX_HOST_LEN: usize = 253;

/// Most labels in a pattern: one bit per label in [`DomainPattern::wildcard_mask`].
/// (A 253-character name could have 127 one-letter labels; nobody claims those.)
pub const MAX_PATTERN_LABELS: usize = 64;

impl DomainPattern {
    /// Parses and normalizes a pattern (lower-case, IDN to punycode), or says
    /// what is wrong with it.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let trimmed = pattern.trim().trim_end_matches('.');
        if trimmed.is_empty() {
            return Err("the domain pattern is empty".into());
        }
        if trimmed.contains(':') {
            return Err(format!(
                "'{pattern}' contains ':'; claim a host without a port (ports are ignored when matching), and use {{name}} for wildcard labels"
            ));
        }
        let mut labels = Vec::new();
        let mut names = Vec::new();
        for raw in trimmed.split('.') {
            if let Some(name) = raw.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
                if !valid_param_name(name) {
                    return Err(format!(
                        "'{{{name}}}' in '{pattern}' is not a valid wildcard: use {{name}} with letters, digits and _ (not starting with a digit)"
                    ));
                }
                if names.contains(&name) {
                    return Err(format!("'{pattern}' uses the wildcard {{{name}}} twice"));
                }
                names.push(name);
                labels.push(Label::Wildcard(name.to_owned()));
            } else if raw == "*" {
                let suggestion = trimmed.replacen('*', "{name}", 1);
                return Err(format!(
                    "'*' is not a wildcard in PiCloud patterns: write '{suggestion}' (a whole label in braces names the wildcard, and scripts read it as request.host_params.name)"
                ));
            } else if raw.contains(['{', '}', '*']) {
                return Err(format!(
                    "label '{raw}' in '{pattern}' mixes a wildcard with text: a wildcard must be a whole label like {{tenant}}"
                ));
            } else {
                labels.push(Label::Literal(
                    normalize_label(raw).map_err(|e| format!("'{pattern}': {e}"))?,
                ));
            }
        }
        if labels.iter().all(|l| matches!(l, Label::Wildcard(_))) {
            return Err(format!(
                "'{pattern}' has no fixed label; it would claim every host"
            ));
        }
        if labels.len() > MAX_PATTERN_LABELS {
            return Err(format!(
                "'{pattern}' has {} labels; a pattern has at most {MAX_PATTERN_LABELS}",
                labels.len()
            ));
        }
        let parsed = DomainPattern { labels };
        if parsed.to_string().len() > MAX_HOST_LEN {
            return Err(format!(
                "'{pattern}' is longer than {MAX_HOST_LEN} characters"
            ));
        }
        Ok(parsed)
    }

    /// The pattern with every wildcard label replaced by `*`.
    pub fn shape_key(&self) -> String {
        self.labels
            .iter()
            .map(|l| match l {
                Label::Literal(s) => s.as_str(),
                Label::Wildcard(_) => "*",
            })
            .collect::<Vec<_>>()
            .join(".")
    }

    /// True when the pattern has no wildcard.
    pub fn is_exact(&self) -> bool {
        self.labels.iter().all(|l| matches!(l, Label::Literal(_)))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Always false: a pattern has at least one label.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bit `i` set when label `i` (from the left) is a wildcard.
    pub fn wildcard_mask(&self) -> u64 {
        self.labels
            .iter()
            .enumerate()
            .filter(|(_, l)| matches!(l, Label::Wildcard(_)))
            .fold(0, |mask, (i, _)| mask | (1 << i))
    }

    /// The `{name}` of each wildcard label, left to right.
    pub fn wildcard_names(&self) -> Vec<String> {
        self.labels
            .iter()
            .filter_map(|l| match l {
                Label::Wildcard(name) => Some(name.clone()),
                Label::Literal(_) => None,
            })
            .collect()
    }

    /// Matches a normalized host, returning the captured `{name}` labels.
    pub fn matches(&self, host: &str) -> Option<Vec<(String, String)>> {
        let parts: Vec<&str> = host.split('.').collect();
        if parts.len() != self.labels.len() {
            return None;
        }
        let mut captures = Vec::new();
        for (label, part) in self.labels.iter().zip(parts) {
            match label {
                Label::Literal(s) if s == part => {}
                Label::Literal(_) => return None,
                Label::Wildcard(name) => captures.push((name.clone(), part.to_owned())),
            }
        }
        Some(captures)
    }

    /// True when every host this pattern matches is also matched by `claim`
    /// (a route's host must fall within its app's claims).
    pub fn within(&self, claim: &DomainPattern) -> bool {
        self.labels.len() == claim.labels.len()
            && self
                .labels
                .iter()
                .zip(&claim.labels)
                .all(|(mine, theirs)| match (mine, theirs) {
                    (_, Label::Wildcard(_)) => true,
                    (Label::Literal(a), Label::Literal(b)) => a == b,
                    (Label::Wildcard(_), Label::Literal(_)) => false,
                })
    }

    /// Precedence: `Less` means `self` is more specific than `other`.
    pub fn specificity_cmp(&self, other: &DomainPattern) -> Ordering {
        specificity_cmp_masks(self.wildcard_mask(), other.wildcard_mask())
    }
}

/// Whether another app's claim `other` would serve every host of a route
/// scoped to `route_host` instead of the route's own app, whose claims are
/// `own`: the route's hosts all lie within `other`, and `other` is more
/// specific than each of the app's claims that covers them (the most
/// specific claim wins a host). Such a route could never be reached.
pub fn takes_over(
    route_host: &DomainPattern,
    own: &[DomainPattern],
    other: &DomainPattern,
) -> bool {
    route_host.within(other)
        && own
            .iter()
            .filter(|claim| route_host.within(claim))
            .all(|claim| other.specificity_cmp(claim) == Ordering::Less)
}

/// Orders wildcard masks: fewer wildcards first,
/// then literals further right first. `Less` = more specific.
/// Patterns of different lengths never match the same host, so only equal
/// lengths are ever compared in practice.
pub fn specificity_cmp_masks(a: u64, b: u64) -> Ordering {
    // Label i is bit i, so the rightmost label is the most significant bit:
    // comparing the masks as numbers compares from the right, and a literal
    // (bit clear) there makes the smaller, more specific mask.
    a.count_ones().cmp(&b.count_ones()).then_with(|| a.cmp(&b))
}

impl std::fmt::Display for DomainPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, label) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            match label {
                Label::Literal(s) => f.write_str(s)?,
                Label::Wildcard(name) => write!(f, "{{{name}}}")?,
            }
        }
        Ok(())
    }
}

/// True for `{name}` wildcard and `:name` route parameter names.
pub fn valid_param_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

fn normalize_label(label: &str) -> Result<String, String> {
    let ascii = if label.is_ascii() {
        label.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(label)
            .map_err(|_| format!("'{label}' is not a valid international domain label"))?
    };
    if ascii.is_empty() || ascii.len() > 63 {
        return Err(format!("label '{label}' must be 1 to 63 characters"));
    }
    if !ascii
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        || ascii.starts_with('-')
        || ascii.ends_with('-')
    {
        return Err(format!(
            "label '{label}' may only hold letters, digits and inner hyphens"
        ));
    }
    Ok(ascii)
}

/// Normalizes a `Host` header value: drops the port, lower-cases, strips a
/// trailing dot and converts international names to punycode. `Err` names the
/// problem (used in the 404/400 the caller sees).
pub fn normalize_host(host: &str) -> Result<String, String> {
    let host = host.trim();
    let without_port = if let Some(rest) = host.strip_prefix('[') {
        // IPv6 literal: [::1]:8080. Only an address may stand between the
        // brackets and only a port after them, as for names below.
        let malformed = || format!("malformed host '{host}'");
        let (literal, after) = rest.split_once(']').ok_or_else(malformed)?;
        let port_only = after
            .strip_prefix(':')
            .is_some_and(|port| port.bytes().all(|b| b.is_ascii_digit()));
        if !(after.is_empty() || port_only) {
            return Err(malformed());
        }
        literal
            .parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("invalid host '{host}': '{literal}' is not an IPv6 address"))?;
        return Ok(format!("[{}]", literal.to_ascii_lowercase()));
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            Some(_) => return Err(format!("malformed host '{host}'")),
            None => host,
        }
    };
    let name = without_port.trim_end_matches('.');
    if name.is_empty() {
        return Err("the request has no host".into());
    }
    let labels: Result<Vec<String>, String> = name.split('.').map(normalize_label).collect();
    let joined = labels
        .map_err(|e| format!("invalid host '{host}': {e}"))?
        .join(".");
    if joined.len() > MAX_HOST_LEN {
        return Err(format!("the host is longer than {MAX_HOST_LEN} characters"));
    }
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalizes() {
        assert!(
            DomainPattern::parse("{9x}.example.com")
                .unwrap_err()
                .contains("not a valid wildcard")
        );
        let p = DomainPattern::parse("{tenant}.Example.COM.").unwrap();
        assert_eq!(p.to_string(), "{tenant}.example.com");
        assert_eq!(p.shape_key(), "*.example.com");
        assert!(!p.is_exact());
        assert_eq!(
            DomainPattern::parse("bücher.example").unwrap().to_string(),
            "xn--bcher-kva.example"
        );
    }

    #[test]
    fn an_exact_claim_takes_over_routes_scoped_to_its_host_only() {
        let p = |s: &str| DomainPattern::parse(s).unwrap();
        let own = [p("{tenant}.shop.test")];
        // Another app's exact claim wins new.shop.test from the wildcard.
        assert!(takes_over(&p("new.shop.test"), &own, &p("new.shop.test")));
        // Routes on other hosts of the wildcard keep answering.
        assert!(!takes_over(&p("old.shop.test"), &own, &p("new.shop.test")));
        assert!(!takes_over(&p("{t}.shop.test"), &own, &p("new.shop.test")));
        // The app's own exact claim is as specific: it keeps its host.
        let own = [p("{tenant}.shop.test"), p("new.shop.test")];
        assert!(!takes_over(&p("new.shop.test"), &own, &p("{x}.shop.test")));
        // A less specific claim never takes a host away.
        let own = [p("api.{t}.test")];
        assert!(!takes_over(&p("api.a.test"), &own, &p("{x}.{y}.test")));
    }

    #[test]
    fn rejects_bad_patterns_with_reasons() {
        for (bad, needle) in [
            ("", "empty"),
            ("api.example.com:8080", "port"),
            ("{a}.{a}.example.com", "twice"),
            ("x{a}.example.com", "whole label"),
            ("*.example.com", "write '{name}.example.com'"),
            ("api.*.example.com", "write 'api.{name}.example.com'"),
            ("{a}.{b}", "no fixed label"),
            ("exa mple.com", "letters"),
            ("-bad.com", "hyphens"),
        ] {
            let err = DomainPattern::parse(bad).unwrap_err();
            assert!(err.contains(needle), "{bad}: {err}");
        }
        let many = format!("{}example.com", "a.".repeat(63));
        let err = DomainPattern::parse(&many).unwrap_err();
        assert!(err.contains("at most 64"), "{err}");
    }

    #[test]
    fn shape_keys_collide_across_names() {
        let a = DomainPattern::parse("{x}.beta.test").unwrap();
        let b = DomainPattern::parse("{tenant}.beta.test").unwrap();
        assert_eq!(a.shape_key(), b.shape_key());
    }

    #[test]
    fn matches_and_captures() {
        let p = DomainPattern::parse("{a}.{b}.example.com").unwrap();
        assert_eq!(
            p.matches("x.y.example.com"),
            Some(vec![("a".into(), "x".into()), ("b".into(), "y".into())])
        );
        assert_eq!(p.matches("y.example.com"), None);
        assert_eq!(p.matches("x.y.example.org"), None);
    }

    #[test]
    fn precedence_exact_then_fewer_wildcards_then_rightmost_literals() {
        let exact = DomainPattern::parse("api.example.com").unwrap();
        let one = DomainPattern::parse("{a}.example.com").unwrap();
        let two = DomainPattern::parse("{a}.{b}.com").unwrap();
        let left_literal = DomainPattern::parse("api.{b}.com").unwrap();
        assert_eq!(exact.specificity_cmp(&one), Ordering::Less);
        assert_eq!(one.specificity_cmp(&two), Ordering::Less);
        // Same wildcard count: the literal closer to the registered domain wins.
        assert_eq!(one.specificity_cmp(&left_literal), Ordering::Less);
        assert_eq!(left_literal.specificity_cmp(&one), Ordering::Greater);
    }

    #[test]
    fn within_claims() {
        let claim = DomainPattern::parse("{t}.example.com").unwrap();
        assert!(
            DomainPattern::parse("acme.example.com")
                .unwrap()
                .within(&claim)
        );
        assert!(
            DomainPattern::parse("{x}.example.com")
                .unwrap()
                .within(&claim)
        );
        assert!(
            !DomainPattern::parse("acme.example.org")
                .unwrap()
                .within(&claim)
        );
        assert!(!claim.within(&DomainPattern::parse("acme.example.com").unwrap()));
    }

    #[test]
    fn normalizes_hosts() {
        assert_eq!(
            normalize_host("API.Alpha.test:8443").unwrap(),
            "api.alpha.test"
        );
        assert_eq!(normalize_host("localhost.").unwrap(), "localhost");
        assert_eq!(normalize_host("[::1]:8080").unwrap(), "[::1]");
        assert_eq!(normalize_host("[FE80::1]").unwrap(), "[fe80::1]");
        // Brackets hold an IPv6 address and nothing follows them but a port.
        assert!(normalize_host("[a b]xyz").is_err());
        assert!(normalize_host("[::1]xyz").is_err());
        assert!(normalize_host("[::1]:80x").is_err());
        assert!(normalize_host("[example.com]").is_err());
        assert!(normalize_host("[::1").is_err());
        assert_eq!(
            normalize_host("bücher.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert!(normalize_host("bad host").is_err());
        assert!(normalize_host("").is_err());
    }
}
