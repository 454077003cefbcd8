//! Script behaviour as data: every folder under `tests/cases/` holds a script
//! (`main.rhai`) and what running it must produce (`expected.json`), optionally
//! with the request to send (`request.json`) and limit overrides. One harness
//! runs them all through the real guest on one shared engine, and after every
//! case runs Hello World on the same engine to prove a failing or hostile script
//! left nothing broken behind. (`allocator_fallback.rs` runs some of these
//! cases again on an executor forced onto on-demand allocation; the checking
//! lives in `support`.)
//!
//! `expected.json` keys (all optional except one of `status`/`error`):
//! - `status`, `body` (exact text), `json` (body parsed as JSON), `headers`
//!   (subset that must be present);
//! - `error` (the stable code, e.g. `fuel_exhausted`), `line`, `column`,
//!   `message_contains`;
//! - `logs` (exact `[[level, message], ...]`), `logs_dropped`;
//! - `limits`: fields of `shared::Limits` to override for this case.

mod support;

use std::path::Path;

fn run_case(path: &Path) -> datatest_stable::Result<()> {
    support::check_case(support::executor(), path)
}

datatest_stable::harness! {
    { test = run_case, root = "tests/cases", pattern = r"main\.rhai$" },
}
