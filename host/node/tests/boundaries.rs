//! The process boundaries of docs/architecture.md, checked on the real
//! dependency graph: the orchestrator and executor binaries have no
//! database ("only the manager touches the database"), and the orchestrator
//! never links the executor. A `use` that crosses a boundary fails to
//! compile already; what this catches is a Cargo.toml edit that pulls a whole
//! crate (and sqlx with it) into a process that should not have it.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// The packages `package` links in a release build for this machine
/// (normal dependencies only: build scripts and tests may use anything).
fn linked_packages(package: &str) -> BTreeSet<String> {
    // The run-time variable (cargo sets it for test binaries): a binary
    // reused from a cache shared between checkouts would carry another
    // checkout's compile-time path.
    let this_crate =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or(env!("CARGO_MANIFEST_DIR").into());
    let manifest = Path::new(&this_crate).join("../../Cargo.toml");
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "--edges", "normal"])
        .args(["--prefix", "none", "--format", "{p}", "--package", package])
        .arg("--manifest-path")
        .arg(&manifest)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let packages: BTreeSet<String> = String::from_utf8(output.stdout)
        .expect("cargo tree prints UTF-8")
        .lines()
        // "sqlx-core v0.8.6 (*)" → "sqlx-core"
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect();
    assert!(
        packages.contains(package),
        "cargo tree -p {package} did not list the package itself: {packages:?}"
    );
    packages
}

fn assert_links_none(package: &str, forbidden: &[&str]) {
    let packages = linked_packages(package);
    let found: Vec<&String> = packages
        .iter()
        .filter(|p| {
            forbidden
                .iter()
                .any(|f| p.as_str() == *f || p.starts_with(&format!("{f}-")))
        })
        .collect();
    assert!(
        found.is_empty(),
        "{package} links {found:?}, which belong to another process (docs/architecture.md)"
    );
}

#[test]
fn the_executor_binary_has_no_database() {
    assert_links_none(
        "picloud-executor",
        &[
            "sqlx",
            "manager-core",
            "picloud-control",
            "argon2",
            "utoipa",
        ],
    );
}

#[test]
fn the_orchestrator_binary_has_no_database_and_no_executor() {
    assert_links_none(
        "picloud-orchestrator",
        &[
            "sqlx",
            "manager-core",
            "picloud-control",
            "argon2",
            "utoipa",
            "executor-core",
            "wasmtime",
        ],
    );
}

/// The manager binary does link the database: the check above would pass
/// vacuously if `cargo tree` listed nothing useful.
#[test]
fn the_manager_binary_links_the_database() {
    let packages = linked_packages("picloud-manager");
    assert!(packages.contains("sqlx"), "{packages:?}");
    assert!(!packages.contains("executor-core"), "{packages:?}");
}
