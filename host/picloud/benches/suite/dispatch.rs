//! 4. Dispatch: host resolution + route match for a small install (1 app, 10
//!    routes, one exact and one `{tenant}` wildcard claim) against a large one
//!    (1,000 apps, 1,000 claims, half exact and half wildcards, 10 routes
//!    each: 10,000 routes). Both resolve a rotating set of matching requests
//!    with hosts of the same shapes, so only the size of the tables differs.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use orchestrator_core::Tables;
use shared::{
    AppId, AppRouting, Limits, RouteId, RouteSpec, RoutingSnapshot, ScriptEntry, ScriptId,
};

use crate::common::{Figure, Opts, Row, Table, Target};

/// Ten routes of the shapes real apps use: static, params, a wildcard.
const PATHS: [&str; 10] = [
    "/",
    "/hello",
    "/users",
    "/users/:id",
    "/users/:id/orders",
    "/users/:id/orders/:order",
    "/products/:sku",
    "/search",
    "/static/*",
    "/health/check",
];

/// A concrete request path for each pattern.
const REQUESTS: [&str; 10] = [
    "/",
    "/hello",
    "/users",
    "/users/42",
    "/users/42/orders",
    "/users/42/orders/7",
    "/products/abc-123",
    "/search",
    "/static/css/site.css",
    "/health/check",
];

fn app(snapshot: &mut RoutingSnapshot, domains: Vec<String>) {
    let id = AppId::new();
    snapshot.apps.push(AppRouting {
        id,
        slug: format!("app-{}", snapshot.apps.len()),
        domains,
        limits: Limits::default(),
        cors: None,
        rate_limit: None,
    });
    for path in PATHS {
        let script = ScriptId::new();
        snapshot.scripts.push(ScriptEntry {
            id: script,
            app_id: id,
            name: format!("s{}", snapshot.scripts.len()),
            source: Arc::from("1"),
            version: 1,
            imports: Vec::new(),
        });
        snapshot.routes.push(RouteSpec {
            id: RouteId::new(),
            app_id: id,
            script_id: script,
            method: "GET".into(),
            path: path.into(),
            host: None,
        });
    }
}

fn small() -> (Tables, Vec<(String, &'static str)>) {
    let mut snapshot = RoutingSnapshot::default();
    app(
        &mut snapshot,
        vec![
            "app0.example.com".into(),
            "{tenant}.app1.example.net".into(),
        ],
    );
    let hosts = ["app0.example.com", "acme.app1.example.net"];
    let requests = (0..1000)
        .map(|i| (hosts[i % 2].to_owned(), REQUESTS[(i / 2) % 10]))
        .collect();
    (Tables::build(snapshot), requests)
}

fn large() -> (Tables, Vec<(String, &'static str)>) {
    let mut snapshot = RoutingSnapshot::default();
    let mut hosts = Vec::new();
    for i in 0..1000 {
        if i % 2 == 0 {
            app(&mut snapshot, vec![format!("app{i}.example.com")]);
            hosts.push(format!("app{i}.example.com"));
        } else {
            app(
                &mut snapshot,
                vec![format!("{{tenant}}.app{i}.example.net")],
            );
            hosts.push(format!("acme.app{i}.example.net"));
        }
    }
    // Spread requests over apps and route shapes (a prime stride avoids
    // pairing each host with one path).
    let requests = (0..1000)
        .map(|i| (hosts[(i * 7) % hosts.len()].clone(), REQUESTS[i % 10]))
        .collect();
    (Tables::build(snapshot), requests)
}

/// What dispatch runs per request: `Tables::lookup`, then reading what the
/// executor needs from the hit (`resolve`, used by `routes:match`, would add
/// copies into an owned answer).
fn lookup(tables: &Tables, requests: &[(String, &'static str)], i: &mut usize) {
    let (host, path) = &requests[*i % requests.len()];
    *i += 1;
    match tables.lookup(black_box(host), "GET", black_box(path)) {
        Ok(hit) => {
            black_box((
                hit.app.id,
                hit.app.limits,
                hit.route.route.script_id,
                hit.route.route.id,
                &hit.route.route.source,
                hit.route.params,
                hit.host_params,
            ));
        }
        Err(miss) => panic!("{host} {path}: {miss:?}"),
    }
}

pub(crate) fn run(opts: &Opts, table: &mut Table) {
    let (small_tables, small_requests) = small();
    let (large_tables, large_requests) = large();
    for (tables, requests) in [
        (&small_tables, &small_requests),
        (&large_tables, &large_requests),
    ] {
        for (host, path) in requests {
            assert!(tables.resolve(host, "GET", path).is_ok(), "{host} {path}");
        }
    }
    let (rounds, batch) = opts.pick((41, 100), (3, 2));
    let (mut i, mut j) = (0, 0);
    let medians = testkit::bench::interleaved_medians(
        &mut [
            &mut || lookup(&small_tables, &small_requests, &mut i),
            &mut || lookup(&large_tables, &large_requests, &mut j),
        ],
        rounds,
        Duration::from_millis(batch),
    );
    let ns = |d: Duration| Figure::Nanos(d.as_secs_f64() * 1e9);
    table.push(Row {
        bench: "4 dispatch",
        figure: "lookup, 1,000 apps, 10,000 routes".into(),
        value: ns(medians[1]),
        reference: Some(("1 app, 10 routes".into(), ns(medians[0]))),
        target: Target::RatioAtMost(1.2),
    });
}
