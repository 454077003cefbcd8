//! The routing snapshot (`RoutingSource::load`) is one point in time: its
//! lists of apps, domains, scripts and routes never straddle a commit, so the
//! orchestrator never builds a table in which a route names a script or an
//! app that the same table lacks. Both engines, with a real concurrent
//! writer on its own connection.

use std::collections::HashSet;

use manager_core::{Db, Store};
use shared::{RoutingSnapshot, RoutingSource};
use sqlx::Connection as _;

/// What each test gets: the store, the database URL (for connections of its
/// own) and which engine it is.
struct Env {
    store: Store,
    url: String,
    postgres: bool,
}

macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        vec![$((
            stringify!($name),
            (|db| Box::pin(async move {
                let dir = tempfile::tempdir().unwrap();
                let postgres = db.is_some();
                let url = db.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("picloud.db").display()));
                let store = Store::new(Db::connect(&url).await.unwrap());
                $name(Env { store, url, postgres }).await;
            })) as testkit::harness::Test,
        )),*]
    };
}

fn main() {
    testkit::harness::run_on_both_databases(tests![a_commit_during_a_snapshot_is_wholly_in_or_out])
}

const APP: &str = "0190f2a0-0000-7000-8000-00000000a001";
const SCRIPT: &str = "0190f2a0-0000-7000-8000-00000000b001";
const ROUTE: &str = "0190f2a0-0000-7000-8000-00000000c001";

/// One transaction that adds an app with a script and a route: after it,
/// the routing table has all three, before it none.
const ADD_APP: [&str; 3] = [
    "INSERT INTO apps (id, slug, name, created_at, updated_at) \
     VALUES ('0190f2a0-0000-7000-8000-00000000a001', 'late', 'Late', 0, 0)",
    "INSERT INTO scripts (id, app_id, name, source, created_at, updated_at) \
     VALUES ('0190f2a0-0000-7000-8000-00000000b001', '0190f2a0-0000-7000-8000-00000000a001', \
     'hello', '\"hi\"', 0, 0)",
    "INSERT INTO routes (id, app_id, script_id, method, path, host, path_shape, created_at) \
     VALUES ('0190f2a0-0000-7000-8000-00000000c001', '0190f2a0-0000-7000-8000-00000000a001', \
     '0190f2a0-0000-7000-8000-00000000b001', 'GET', '/late', '', '/late', 0)",
];

/// Every reference inside the snapshot resolves, and the late app is either
/// wholly in it or wholly out of it. Returns whether it is in.
fn consistent(snapshot: &RoutingSnapshot) -> bool {
    let apps: HashSet<String> = snapshot.apps.iter().map(|a| a.id.to_string()).collect();
    let scripts: HashSet<String> = snapshot.scripts.iter().map(|s| s.id.to_string()).collect();
    for script in &snapshot.scripts {
        assert!(
            apps.contains(&script.app_id.to_string()),
            "script {} names app {}, which the same snapshot lacks",
            script.id,
            script.app_id
        );
    }
    for route in &snapshot.routes {
        assert!(
            apps.contains(&route.app_id.to_string())
                && scripts.contains(&route.script_id.to_string()),
            "route {} names app {} and script {}, which the same snapshot lacks",
            route.id,
            route.app_id,
            route.script_id
        );
    }
    let parts = [
        apps.contains(APP),
        scripts.contains(SCRIPT),
        snapshot.routes.iter().any(|r| r.id.to_string() == ROUTE),
    ];
    assert!(
        parts == [true; 3] || parts == [false; 3],
        "the snapshot has part of one commit (app, script, route present: {parts:?})"
    );
    parts[0]
}

async fn a_commit_during_a_snapshot_is_wholly_in_or_out(env: Env) {
    let mut writer = sqlx::AnyConnection::connect(&env.url).await.unwrap();
    if env.postgres {
        // The writer holds `scripts` exclusively, so the snapshot reads the
        // apps, then waits at the scripts; the writer then commits the app,
        // its script and its route. Under READ COMMITTED the snapshot's
        // later queries would see that commit and its first would not.
        let mut tx = writer.begin().await.unwrap();
        sqlx::query("LOCK TABLE scripts IN ACCESS EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .unwrap();
        for statement in ADD_APP {
            sqlx::query(statement).execute(&mut *tx).await.unwrap();
        }
        let store = env.store.clone();
        let loading = tokio::spawn(async move { store.load().await });
        let mut watcher = sqlx::AnyConnection::connect(&env.url).await.unwrap();
        // Until the snapshot is waiting for the lock on `scripts`.
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_locks \
                 WHERE NOT granted AND relation = 'scripts'::regclass",
            )
            .fetch_one(&mut watcher)
            .await
            .unwrap();
            if waiting > 0 {
                break;
            }
            assert!(
                !loading.is_finished(),
                "the snapshot did not wait for the lock"
            );
            tokio::task::yield_now().await;
        }
        tx.commit().await.unwrap();
        let snapshot = loading.await.unwrap().unwrap();
        assert!(
            !consistent(&snapshot),
            "a snapshot that began before the commit must not show it"
        );
    } else {
        // SQLite: the writer holds the write lock with the app, script and
        // route written but not committed. A snapshot neither waits for it
        // (a reload must not queue behind admin writes) nor sees any of it.
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut writer)
            .await
            .unwrap();
        for statement in ADD_APP {
            sqlx::query(statement).execute(&mut writer).await.unwrap();
        }
        let snapshot = env
            .store
            .load()
            .await
            .expect("a snapshot does not need the write lock");
        assert!(!consistent(&snapshot));
        sqlx::query("COMMIT").execute(&mut writer).await.unwrap();
    }
    let after = env.store.load().await.unwrap();
    assert!(
        consistent(&after),
        "the committed app is in the next snapshot"
    );
}
