//! Domain patterns and `Host` values: `DomainPattern::parse`, shape keys,
//! `matches`, `normalize_host`, and the orchestrator's `AppDomainTable`.
//!
//! Input is text, one field per line (seed files in corpus/domain_pattern/
//! are readable examples): a claim pattern, a `Host` value, then labels to
//! fill the pattern's `{name}` wildcards with.
//!
//! Checked: nothing panics; an accepted pattern reads back unchanged from
//! its stored form with the same shape key; `normalize_host` is idempotent
//! and what it returns can be claimed; the table resolves a host exactly
//! when the pattern matches it; a host built from the pattern matches with
//! the filled-in labels captured.

#![no_main]

use libfuzzer_sys::fuzz_target;
use orchestrator_core::AppDomainTable;
use shared::domain::{DomainPattern, MAX_PATTERN_LABELS, normalize_host};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let pattern_text = lines.next().unwrap_or_default();
    let host_text = lines.next().unwrap_or_default();
    let fill: Vec<&str> = lines.collect();

    let host = normalize_host(host_text).ok();
    if let Some(host) = &host {
        assert_eq!(normalize_host(host).as_ref(), Ok(host), "{host_text:?}");
        if !host.starts_with('[') && host.split('.').count() <= MAX_PATTERN_LABELS {
            let exact = DomainPattern::parse(host).unwrap_or_else(|e| {
                panic!("{host_text:?} normalizes to unclaimable {host:?}: {e}")
            });
            assert_eq!(&exact.to_string(), host);
            assert_eq!(exact.matches(host), Some(vec![]));
        }
    }

    let Ok(pattern) = DomainPattern::parse(pattern_text) else {
        return;
    };
    let stored = pattern.to_string();
    let again = DomainPattern::parse(&stored).unwrap_or_else(|e| {
        panic!("{pattern_text:?} accepted, stored form {stored:?} refused: {e}")
    });
    assert_eq!(again, pattern);
    assert_eq!(again.shape_key(), pattern.shape_key());
    assert!(stored.len() <= 253 && pattern.len() <= MAX_PATTERN_LABELS);
    assert!(pattern.within(&pattern));

    let mut table: AppDomainTable<u8> = AppDomainTable::default();
    table.insert(7, &stored);
    if let Some(host) = &host {
        let resolved = table.resolve(host).map(|m| m.host_params);
        assert_eq!(resolved, pattern.matches(host), "{stored} on {host}");
    }

    // A host made from the pattern: each wildcard takes the next fill label
    // if that is a valid normalized label, else `x`.
    let mut fill = fill.into_iter();
    let mut captures = Vec::new();
    let labels: Vec<String> = stored
        .split('.')
        .map(
            |label| match label.strip_prefix('{').and_then(|l| l.strip_suffix('}')) {
                Some(name) => {
                    let value = fill
                        .next()
                        .filter(|v| !v.contains('.') && normalize_host(v).as_deref() == Ok(*v))
                        .unwrap_or("x")
                        .to_owned();
                    captures.push((name.to_owned(), value.clone()));
                    value
                }
                None => label.to_owned(),
            },
        )
        .collect();
    let made = labels.join(".");
    assert_eq!(
        pattern.matches(&made),
        Some(captures.clone()),
        "{stored} on {made}"
    );
    assert_eq!(table.resolve(&made).map(|m| m.host_params), Some(captures));
});
