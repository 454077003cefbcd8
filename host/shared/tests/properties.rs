//! Properties of the parsers in `shared` that stand between user input and
//! dispatch: route path patterns, route methods, domain patterns and `Host`
//! values.
//!
//! Two kinds of property matter here. Whatever the input, a parser returns
//! `Ok` or `Err`: a panic would be a 500 from the admin API or, for `Host`,
//! from every request. And what a parser accepts survives a trip through its
//! own output: the manager stores the normalized text, the orchestrator parses
//! it again at every routing reload, and both must mean the same thing.
//!
//! proptest saves any failing input next to this file
//! (`properties.proptest-regressions`) and replays it first on later runs;
//! commit that file. `PROPTEST_CASES=10000 cargo test -p shared --test
//! properties` runs a deeper search (docs/fuzzing.md).

mod strategies;

use std::cmp::Ordering;

use proptest::prelude::*;
use shared::domain::{
    DomainPattern, MAX_PATTERN_LABELS, normalize_host, specificity_cmp_masks, valid_param_name,
};
use shared::path::{PathPattern, RESERVED_PREFIXES, Segment, normalize_method};
use strategies::*;

const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "*",
];

proptest! {
    // ---- route paths -------------------------------------------------------

    /// Any text: `Ok` or `Err`, and an accepted pattern reads back unchanged
    /// from its written form, with the same shape.
    #[test]
    fn path_parse_is_total_and_round_trips(text in path_like()) {
        if let Ok(pattern) = PathPattern::parse(&text) {
            let written = route_text(&pattern.segments);
            // Parsing loses nothing (the route table keys static routes by
            // the stored text, so it must be exactly what the segments say).
            prop_assert_eq!(&written, &text);
            let again = PathPattern::parse(&written)
                .unwrap_or_else(|e| panic!("{text:?} accepted, written form {written:?} refused: {e}"));
            prop_assert_eq!(&again, &pattern);
            prop_assert_eq!(again.shape(), pattern.shape());
            // What was accepted obeys the documented rules.
            prop_assert!(text.starts_with('/') && !text.contains(['?', '#']));
            let lower = text.to_ascii_lowercase();
            for prefix in RESERVED_PREFIXES {
                let under = format!("{prefix}/");
                prop_assert!(lower != prefix && !lower.starts_with(&under), "reserved: {}", text);
            }
            if let Some(i) = pattern.segments.iter().position(|s| *s == Segment::Wildcard) {
                prop_assert_eq!(i + 1, pattern.segments.len(), "'*' only last");
            }
        }
    }

    /// A pattern built from the grammar parses to exactly its segments, and
    /// its shape erases parameter names and nothing else.
    #[test]
    fn valid_paths_parse_to_their_segments(segments in route_segments()) {
        let text = route_text(&segments);
        let pattern = PathPattern::parse(&text)
            .unwrap_or_else(|e| panic!("{text:?} should be valid: {e}"));
        prop_assert_eq!(&pattern.segments, &segments);

        let renamed: Vec<Segment> = segments
            .iter()
            .enumerate()
            .map(|(i, s)| match s {
                Segment::Param(_) => Segment::Param(format!("renamed{i}")),
                other => other.clone(),
            })
            .collect();
        let renamed = PathPattern::parse(&route_text(&renamed)).unwrap();
        prop_assert_eq!(renamed.shape(), pattern.shape());
        let expected_shape = if segments.is_empty() {
            "/".to_owned()
        } else {
            segments
                .iter()
                .map(|s| match s {
                    Segment::Literal(text) => format!("/{text}"),
                    Segment::Param(_) => "/:".into(),
                    Segment::Wildcard => "/*".into(),
                })
                .collect()
        };
        prop_assert_eq!(pattern.shape(), expected_shape);
    }

    /// Patterns differing in a literal never share a shape (else the manager
    /// would report a conflict between routes that cannot collide).
    #[test]
    fn different_literals_give_different_shapes(
        segments in route_segments(),
        replacement in literal_segment(),
    ) {
        let literal = |s: &Segment| matches!(s, Segment::Literal(t) if !t.is_empty());
        let Some(i) = segments.iter().position(literal) else {
            return Ok(());
        };
        let mut other = segments.clone();
        other[i] = Segment::Literal(replacement.clone());
        prop_assume!(segments[i] != other[i]);
        let a = PathPattern::parse(&route_text(&segments));
        let b = PathPattern::parse(&route_text(&other));
        let (Ok(a), Ok(b)) = (a, b) else {
            // Only when the replacement made the first segment reserved.
            return Ok(());
        };
        prop_assert_ne!(a.shape(), b.shape());
    }

    /// Methods: total, the result is one of the documented values, it is
    /// idempotent, and case and surrounding spaces do not matter.
    #[test]
    fn methods_normalize(method in method_like()) {
        match normalize_method(&method) {
            Ok(normalized) => {
                prop_assert!(METHODS.contains(&normalized.as_str()), "{normalized}");
                prop_assert_eq!(normalize_method(&normalized), Ok(normalized.clone()));
                prop_assert_eq!(normalize_method(&method.to_ascii_lowercase()), Ok(normalized));
            }
            Err(message) => prop_assert!(message.contains("not supported")),
        }
    }

    // ---- parameter names ---------------------------------------------------

    /// `:name` and `{name}` follow one documented rule.
    #[test]
    fn param_names_follow_the_rule(name in prop_oneof![any::<String>(), "[A-Za-z0-9_é]{0,70}"]) {
        let rule = name.len() <= 64
            && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        prop_assert_eq!(valid_param_name(&name), rule);
    }

    // ---- domain patterns ---------------------------------------------------

    /// Any text: `Ok` or `Err`; an accepted pattern reads back unchanged from
    /// its `Display` form (which the manager stores), keeps its shape key and
    /// respects the documented caps.
    #[test]
    fn domain_parse_is_total_and_round_trips(text in domain_like()) {
        if let Ok(pattern) = DomainPattern::parse(&text) {
            let written = pattern.to_string();
            let again = DomainPattern::parse(&written)
                .unwrap_or_else(|e| panic!("{text:?} accepted, stored form {written:?} refused: {e}"));
            prop_assert_eq!(&again, &pattern);
            prop_assert_eq!(again.shape_key(), pattern.shape_key());
            prop_assert!(written.len() <= 253);
            prop_assert!((1..=MAX_PATTERN_LABELS).contains(&pattern.len()));
            prop_assert!(!pattern.is_empty());
            let wildcards = pattern.wildcard_mask().count_ones() as usize;
            prop_assert_eq!(pattern.wildcard_names().len(), wildcards);
            prop_assert_eq!(pattern.is_exact(), pattern.wildcard_mask() == 0);
            prop_assert_eq!(pattern.is_exact(), !pattern.shape_key().contains('*'));
            prop_assert_eq!(pattern.shape_key().split('.').count(), pattern.len());
            prop_assert!(pattern.within(&pattern));
            // Stored text is already normalized: lower-case ASCII.
            prop_assert!(written.is_ascii());
            let literals_lower = pattern.shape_key().bytes().all(|b| !b.is_ascii_uppercase());
            prop_assert!(literals_lower);
            // An exact claim matches exactly the host it names, which is what
            // `normalize_host` makes of the same text.
            if pattern.is_exact() {
                prop_assert_eq!(pattern.matches(&written), Some(vec![]));
                prop_assert_eq!(normalize_host(&text), Ok(written));
            }
        }
    }

    /// A pattern built from the grammar parses to itself; case, surrounding
    /// spaces and a trailing dot do not matter; the shape key erases only the
    /// wildcard names.
    #[test]
    fn valid_domains_parse_to_themselves(labels in domain_labels()) {
        let text = domain_text(&labels);
        let pattern = DomainPattern::parse(&text)
            .unwrap_or_else(|e| panic!("{text:?} should be valid: {e}"));
        prop_assert_eq!(pattern.to_string(), text.clone());
        prop_assert_eq!(pattern.shape_key(), domain_shape(&labels));
        let names: Vec<String> = labels.iter().filter_map(|l| l.clone().err()).collect();
        prop_assert_eq!(pattern.wildcard_names(), names);

        // Upper-case literals (not names: `{Tenant}` is its own name), a
        // trailing dot and spaces are normalized away.
        let shouted: Vec<PatternLabel> = labels
            .iter()
            .map(|l| l.as_ref().map(|t| t.to_ascii_uppercase()).map_err(Clone::clone))
            .collect();
        let variant = format!("  {}. ", domain_text(&shouted));
        prop_assert_eq!(DomainPattern::parse(&variant), Ok(pattern.clone()));

        let renamed: Vec<PatternLabel> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| l.clone().map_err(|_| format!("w{i}")))
            .collect();
        let renamed = DomainPattern::parse(&domain_text(&renamed)).unwrap();
        prop_assert_eq!(renamed.shape_key(), pattern.shape_key());
    }

    /// A pattern matches every host made by filling in its wildcards, and
    /// reports exactly the filled-in labels; a host of another length or with
    /// a different literal does not match.
    #[test]
    fn domains_match_hosts_made_from_them(
        (labels, values) in domain_labels().prop_flat_map(domain_request),
        extra in host_label(),
    ) {
        let pattern = DomainPattern::parse(&domain_text(&labels)).unwrap();
        let (host, captures) = concrete_host(&labels, &values);
        prop_assert_eq!(normalize_host(&host), Ok(host.clone()), "generated hosts are normalized");
        prop_assert_eq!(pattern.matches(&host), Some(captures));
        prop_assert_eq!(pattern.matches(&format!("{extra}.{host}")), None);
        prop_assert_eq!(pattern.matches(&format!("{host}.{extra}")), None);

        let i = labels.iter().position(Result::is_ok).expect("one literal");
        let mut other = labels.clone();
        other[i] = Ok(format!("{extra}x"));
        if other[i] != labels[i] {
            prop_assert_eq!(pattern.matches(&concrete_host(&other, &values).0), None);
        }

        // The host itself, claimed exactly, falls within the pattern.
        let exact = DomainPattern::parse(&host).unwrap();
        prop_assert!(exact.within(&pattern));
        let expected = if pattern.is_exact() { Ordering::Equal } else { Ordering::Less };
        prop_assert_eq!(exact.specificity_cmp(&pattern), expected);
    }

    /// `within` means what routes rely on: every host the narrower pattern
    /// matches, the claim matches too. Narrowing a claim (fixing some of its
    /// wildcards) stays within it; widening does not.
    #[test]
    fn within_implies_matching(
        (labels, values) in domain_labels().prop_flat_map(domain_request),
        fix in prop::collection::vec(any::<bool>(), 8),
    ) {
        let claim = DomainPattern::parse(&domain_text(&labels)).unwrap();
        let mut values_iter = values.iter();
        let narrowed: Vec<PatternLabel> = labels
            .iter()
            .zip(&fix)
            .map(|(l, fixed)| match l {
                Err(name) => {
                    let value = values_iter.next().unwrap().clone();
                    if *fixed { Ok(value) } else { Err(name.clone()) }
                }
                literal => literal.clone(),
            })
            .collect();
        let route = DomainPattern::parse(&domain_text(&narrowed)).unwrap();
        prop_assert!(route.within(&claim));
        // Every host of the narrowed pattern is a host of the claim.
        let remaining: Vec<String> = narrowed
            .iter()
            .filter(|l| l.is_err())
            .map(|_| "z0".to_owned())
            .collect();
        let (host, _) = concrete_host(&narrowed, &remaining);
        prop_assert!(route.matches(&host).is_some());
        prop_assert!(claim.matches(&host).is_some());
        // Fixing a wildcard makes the route strictly narrower than the claim.
        let fixed_any = route.wildcard_mask() != claim.wildcard_mask();
        prop_assert_eq!(claim.within(&route), !fixed_any);
        prop_assert_eq!(
            route.specificity_cmp(&claim),
            if fixed_any { Ordering::Less } else { Ordering::Equal }
        );
    }

    /// Precedence is a total order on masks of one length: antisymmetric,
    /// `Equal` only for the same mask, fewer wildcards first.
    #[test]
    fn specificity_is_a_total_order(
        len in 1usize..=64,
        (a, b, c) in (any::<u64>(), any::<u64>(), any::<u64>()),
    ) {
        let keep = if len == 64 { u64::MAX } else { (1u64 << len) - 1 };
        let (a, b, c) = (a & keep, b & keep, c & keep);
        let ab = specificity_cmp_masks(a, b);
        prop_assert_eq!(ab, specificity_cmp_masks(b, a).reverse());
        prop_assert_eq!(ab == Ordering::Equal, a == b);
        if a.count_ones() < b.count_ones() {
            prop_assert_eq!(ab, Ordering::Less);
        }
        let bc = specificity_cmp_masks(b, c);
        if ab != Ordering::Greater && bc != Ordering::Greater {
            prop_assert_ne!(specificity_cmp_masks(a, c), Ordering::Greater, "transitive");
        }
    }

    // ---- Host values -------------------------------------------------------

    /// Any `Host` value: `Ok` or `Err`, and normalizing is idempotent; a
    /// normalized name carries no port, upper case or trailing dot, and a
    /// port on it is ignored.
    #[test]
    fn normalize_host_is_total_and_idempotent(host in host_like(), port in any::<u16>()) {
        if let Ok(normalized) = normalize_host(&host) {
            prop_assert_eq!(normalize_host(&normalized), Ok(normalized.clone()));
            let with_port = format!("{normalized}:{port}");
            prop_assert_eq!(normalize_host(&with_port), Ok(normalized.clone()));
            prop_assert!(!normalized.is_empty() && normalized.len() <= 253);
            if !normalized.starts_with('[') {
                prop_assert!(!normalized.ends_with('.'));
                prop_assert!(normalized
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b)));
                // A claim of exactly this host is valid and matches it (up to
                // the claim's label cap).
                if normalized.split('.').count() <= MAX_PATTERN_LABELS {
                    let claim = DomainPattern::parse(&normalized)
                        .unwrap_or_else(|e| panic!("{host:?} → {normalized:?}, not claimable: {e}"));
                    prop_assert_eq!(claim.to_string(), normalized.clone());
                    prop_assert_eq!(claim.matches(&normalized), Some(vec![]));
                }
            }
        }
    }
}
