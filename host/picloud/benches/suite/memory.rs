//! 5. Memory: PiCloud's RSS idle after start, with 1,000 deployed scripts,
//!    and at its peak under 64 concurrent executions. The minimal axum
//!    handler's idle RSS is printed as a reference.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::runtime::Runtime;

use crate::common::{Admin, Figure, Opts, Row, Server, Table, Target, get_status, load};

/// A script of a realistic size (about 600 bytes): parses a query, builds a
/// map, answers JSON.
fn script(n: usize) -> String {
    format!(
        r#"// Script {n}: a small JSON endpoint.
let name = request.query.name ?? "world";
let limit = parse_int(request.query.limit ?? "10");
if limit > 100 {{ limit = 100; }}
let items = [];
for i in 0..limit {{
    items.push(#{{ id: i, label: `item ${{i}} for ${{name}}`, even: i % 2 == 0 }});
}}
let body = #{{
    script: {n},
    greeting: `Hello, ${{name}}!`,
    count: items.len(),
    items: items,
}};
log::info(`served ${{items.len()}} items`);
response(200, to_json(body)).header("content-type", "application/json")
"#
    )
}

/// Touches memory per execution: ten thousand strings in an array.
const BUSY: &str = "let a = []; for i in 0..10000 { a.push(`entry number ${i}`); } a.len()";

pub(crate) fn run(opts: &Opts, rt: &Runtime, baseline: &Server, table: &mut Table) {
    let data = crate::common::warm_data_dir();
    let server = Server::picloud(data.path(), &[("PICLOUD_MAX_CONCURRENT", "64")]);
    assert_eq!(
        get_status(&server.addr, "localhost", "/healthz/ready"),
        Some(200)
    );
    let idle = server.rss_mib();
    table.push(Row {
        bench: "5 memory",
        figure: "RSS idle after start".into(),
        value: Figure::MiB(idle),
        reference: Some((
            "minimal axum handler".into(),
            Figure::MiB(baseline.rss_mib()),
        )),
        target: Target::AtMost(40.0),
    });

    let admin = Admin::new(&server);
    let (apps, per_app) = opts.pick((10, 100), (2, 5));
    rt.block_on(async {
        for a in 0..apps {
            let scripts: Vec<(String, String, String)> = (0..per_app)
                .map(|s| {
                    let n = a * per_app + s;
                    (format!("s{n}"), format!("/s{n}"), script(n))
                })
                .collect();
            admin
                .app(&format!("bench-{a}"), &format!("bench-{a}.test"), &scripts)
                .await;
        }
    });
    // Every app answers once, so whatever is built lazily is built.
    for a in 0..apps {
        let n = a * per_app;
        assert_eq!(
            get_status(&server.addr, &format!("bench-{a}.test"), &format!("/s{n}")),
            Some(200)
        );
    }
    let deployed = server.rss_mib();
    table.push(Row {
        bench: "5 memory",
        figure: format!("RSS added by {} deployed scripts", apps * per_app),
        value: Figure::MiB(deployed - idle),
        reference: None,
        target: Target::AtMost(20.0),
    });

    rt.block_on(admin.app(
        "bench-busy",
        "busy.test",
        &[("busy".into(), "/busy".into(), BUSY.into())],
    ));
    let peak = Arc::new(std::sync::Mutex::new(0.0f64));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done, pid) = (peak.clone(), done.clone(), server.pid());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                // The server is gone if the load run panicked.
                let Some(rss) = crate::common::try_rss_mib(pid) else {
                    break;
                };
                let mut p = peak.lock().unwrap();
                *p = p.max(rss);
                drop(p);
                // A sampling interval, not a wait for a condition.
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let seconds = opts.pick(5.0, 0.3);
    let busy = rt.block_on(load(
        &server.url(),
        "GET /busy busy.test",
        64,
        Duration::from_secs_f64(seconds),
    ));
    done.store(true, Ordering::Relaxed);
    sampler.join().expect("sampler");
    let peak = *peak.lock().unwrap();
    table.push(Row {
        bench: "5 memory",
        figure: format!("peak RSS, 64 concurrent executions ({:.0} req/s)", busy.rps),
        value: Figure::MiB(peak),
        reference: Some(("idle".into(), Figure::MiB(idle))),
        target: Target::None,
    });
    table.push(Row {
        bench: "5 memory",
        figure: "RSS after the load".into(),
        value: Figure::MiB(server.rss_mib()),
        reference: Some(("idle".into(), Figure::MiB(idle))),
        target: Target::None,
    });
}
