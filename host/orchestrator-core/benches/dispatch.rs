//! Dispatch cost per request (host resolution + route match) for a small
//! install against a large one, measured in one run:
//!
//! - `small`: 1 app with 10 routes, claiming one exact and one wildcard domain;
//! - `large`: 1,000 apps with 1,000 domain claims (half exact, half
//!   `{tenant}` wildcards) and 10 routes each: 10,000 routes.
//!
//! Both resolve a rotating set of requests that all match, with hosts of the
//! same shapes (an exact 3-label host, a 4-label host under a wildcard), so
//! that only the table size differs. The aim is that the
//! large table costs no more than 1.2x the small one per lookup; the ratio is
//! printed, never asserted. Run with `cargo bench -p orchestrator-core --bench dispatch`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use orchestrator_core::Tables;
use shared::{
    AppId, AppRouting, Limits, Resolution, RouteId, RouteSpec, RoutingSnapshot, ScriptEntry,
    ScriptId,
};

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
    });
    for path in PATHS {
        let script = ScriptId::new();
        snapshot.scripts.push(ScriptEntry {
            id: script,
            app_id: id,
            name: format!("s{}", snapshot.scripts.len()),
            source: Arc::from("1"),
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

fn main() {
    let full_run = std::env::args().any(|a| a == "--bench");
    let (small_tables, small_requests) = small();
    let (large_tables, large_requests) = large();
    for (tables, requests) in [
        (&small_tables, &small_requests),
        (&large_tables, &large_requests),
    ] {
        for (host, path) in requests {
            assert!(
                matches!(tables.resolve(host, "GET", path), Resolution::Matched(_)),
                "{host} {path}"
            );
        }
    }

    let mut criterion = Criterion::default().configure_from_args();
    {
        let mut group = criterion.benchmark_group("dispatch");
        let mut i = 0;
        group.bench_function("small_1_app_10_routes", |b| {
            b.iter(|| lookup(&small_tables, &small_requests, &mut i))
        });
        let mut j = 0;
        group.bench_function("large_1000_apps_10000_routes", |b| {
            b.iter(|| lookup(&large_tables, &large_requests, &mut j))
        });
        group.finish();
    }
    criterion.final_summary();

    let (rounds, batch_time) = if full_run {
        (41, Duration::from_millis(100))
    } else {
        (3, Duration::from_millis(2))
    };
    let (mut i, mut j) = (0, 0);
    let medians = testkit::bench::interleaved_medians(
        &mut [
            &mut || lookup(&small_tables, &small_requests, &mut i),
            &mut || lookup(&large_tables, &large_requests, &mut j),
        ],
        rounds,
        batch_time,
    );
    let (small, large) = (medians[0], medians[1]);
    println!();
    println!(
        "summary (median of {rounds} interleaved batches of ~{} ms each)",
        batch_time.as_millis()
    );
    println!(
        "  small: 1 app, 10 routes                          {:>8.1} ns/lookup",
        small.as_nanos() as f64
    );
    println!(
        "  large: 1,000 apps, 1,000 claims, 10,000 routes   {:>8.1} ns/lookup",
        large.as_nanos() as f64
    );
    println!(
        "  large / small = {:.2}x (target: at most 1.2x)",
        large.as_secs_f64() / small.as_secs_f64()
    );
}
