//! A test harness (for `harness = false` test targets) that runs every test
//! twice: on SQLite and on a fresh database in a [`PgCluster`] this process
//! starts, and stops before it exits. Without the PostgreSQL binaries the
//! PostgreSQL half fails with the reason; it is never skipped.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};

use crate::PgCluster;

/// A test: given `None` it runs on SQLite (at a path of its choosing), given
/// `Some(url)` on that PostgreSQL database.
pub type Test = fn(Option<String>) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs `tests` as `sqlite::<name>` and `postgres::<name>` trials, honouring
/// the usual test-binary arguments (filters, `--list`, …), then exits.
pub fn run_on_both_databases(tests: Vec<(&'static str, Test)>) -> ! {
    let args = Arguments::from_args();
    let pg = Arc::new(PgCluster::start());
    let mut trials = Vec::new();
    for (name, test) in tests {
        trials.push(Trial::test(format!("sqlite::{name}"), move || {
            run(None, test)
        }));
        let pg = pg.clone();
        trials.push(Trial::test(format!("postgres::{name}"), move || {
            let cluster = pg.as_ref().as_ref().map_err(|e| Failed::from(e.as_str()))?;
            run(Some(cluster.create_database(name)), test)
        }));
    }
    let conclusion = libtest_mimic::run(&args, trials);
    // Stop the cluster before exiting: `exit` skips destructors.
    drop(pg);
    conclusion.exit()
}

fn run(database: Option<String>, test: Test) -> Result<(), Failed> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(test(database));
    Ok(())
}
