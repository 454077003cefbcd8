//! Properties of app slug validation. The rule lives in `manager-core`
//! (`validate_slug`, crate-private), so it is checked through the public
//! `Store::check_slug` and `Store::create_app` on a throwaway SQLite file:
//! every input gets an answer (never a panic), the answer follows the
//! documented rule exactly, and an accepted slug is stored and found again
//! unchanged.

use std::sync::OnceLock;

use manager_core::store::AppRef;
use manager_core::store::StoreError;
use manager_core::{Db, Store};
use proptest::prelude::*;

/// One migrated store for all cases of one property (migrating per case
/// would dominate); each property has its own, as they run in parallel and
/// one of them creates apps.
struct Fixture {
    runtime: tokio::runtime::Runtime,
    store: Store,
    _dir: tempfile::TempDir,
}

fn fixture(cell: &'static OnceLock<Fixture>) -> &'static Fixture {
    cell.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("picloud.db").display());
        let store = runtime.block_on(async { Store::new(Db::connect(&url).await.unwrap()) });
        Fixture {
            runtime,
            store,
            _dir: dir,
        }
    })
}

/// The rule as `manager-core` documents it: 1 to 63 lower-case letters, digits
/// and hyphens, starting with a letter and not ending with a hyphen.
fn documented_rule(slug: &str) -> bool {
    (1..=63).contains(&slug.len())
        && slug.starts_with(|c: char| c.is_ascii_lowercase())
        && !slug.ends_with('-')
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn slug_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9_ -]{0,70}",
        "[a-z][a-z0-9-]{0,64}",
        "(default|__internal__|-a|a-|A|é|a b)",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Any text gets an answer that follows the documented rule; a valid
    /// slug nobody holds is `available`.
    #[test]
    fn slug_check_follows_the_rule(slug in slug_like()) {
        static FIXTURE: OnceLock<Fixture> = OnceLock::new();
        let f = fixture(&FIXTURE);
        let verdict = f.runtime.block_on(async {
            let default = f.store.app("default").await.unwrap();
            f.store.check_slug(&default, &slug).await
        });
        match verdict {
            Ok(verdict) => {
                prop_assert!(documented_rule(&slug), "{slug:?} was accepted");
                prop_assert_eq!(&verdict.slug, &slug);
                let expected = if slug == "default" { "current" } else { "available" };
                prop_assert_eq!(verdict.status, expected);
            }
            Err(StoreError::Invalid { code, .. }) => {
                prop_assert!(!documented_rule(&slug), "{slug:?} was refused");
                prop_assert_eq!(code, "invalid_slug");
            }
            Err(other) => prop_assert!(false, "{slug:?}: unexpected {other:?}"),
        }
    }

    /// A valid slug round-trips through the store: the app is created under
    /// exactly that slug and found by it.
    #[test]
    fn valid_slugs_round_trip(slug in "[a-z]([a-z0-9-]{0,61}[a-z0-9])?") {
        static FIXTURE: OnceLock<Fixture> = OnceLock::new();
        let f = fixture(&FIXTURE);
        f.runtime.block_on(async {
            if f.store.app(&slug).await.is_ok() {
                return Ok(()); // generated twice
            }
            let created = f.store.create_app(&slug, "Property", "").await
                .unwrap_or_else(|e| panic!("{slug:?}: {e}"));
            prop_assert_eq!(&created.slug, &slug);
            match f.store.resolve_app(&slug).await {
                Ok(AppRef::Found(app)) => prop_assert_eq!(app.id, created.id),
                other => prop_assert!(false, "{slug:?} resolved to {other:?}"),
            }
            Ok(())
        })?;
    }
}
