//! 7. Noisy neighbour: the p99 of app A's `GET /hello` (one connection)
//!    while app B runs 4, then 16 concurrent `loop {}` scripts that each burn
//!    their whole fuel budget, against A alone. Rounds alternate between the
//!    two. At 16, B asks for every execution slot: its fair share (half of
//!    them) runs, the rest wait in B's queue or get `503 app_overloaded`.

use std::time::Duration;

use tokio::runtime::Runtime;

use crate::common::{Admin, Figure, Load, Opts, Row, Server, Table, Target, load, median};

pub(crate) fn run(opts: &Opts, rt: &Runtime, table: &mut Table) {
    let data = crate::common::warm_data_dir();
    let server = Server::picloud(data.path(), &[]);
    rt.block_on(Admin::new(&server).app(
        "noisy",
        "noisy.test",
        &[("spin".into(), "/spin".into(), "loop {}".into())],
    ));
    let (rounds, seconds) = opts.pick((3, 5.0), (1, 0.3));
    let duration = Duration::from_secs_f64(seconds);
    let url = server.url();
    rt.block_on(load(&url, "GET /hello localhost", 1, duration / 2));
    for busy in [4, 16] {
        neighbour_rows(rt, table, &url, busy, rounds, duration);
    }
}

fn neighbour_rows(
    rt: &Runtime,
    table: &mut Table,
    url: &str,
    busy: usize,
    rounds: usize,
    duration: Duration,
) {
    let hello = "GET /hello localhost";
    let mut alone: Vec<Load> = Vec::new();
    let mut noisy: Vec<Load> = Vec::new();
    let mut spun = 0.0;
    for _ in 0..rounds {
        alone.push(rt.block_on(load(url, hello, 1, duration)));
        let (a, b) = rt.block_on(async {
            let neighbour = tokio::spawn({
                let url = url.to_owned();
                async move {
                    load(
                        &url,
                        "expect=500:fuel_exhausted,503:app_overloaded GET /spin noisy.test",
                        busy,
                        duration + Duration::from_millis(500),
                    )
                    .await
                }
            });
            let a = load(url, hello, 1, duration).await;
            (a, neighbour.await.expect("neighbour load"))
        });
        noisy.push(a);
        spun += b.rps;
    }
    let m =
        |runs: &[Load], f: fn(&Load) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
    let spins = spun / rounds as f64;
    for (name, f, target) in [
        (
            "p50",
            (|l: &Load| l.p50_ms) as fn(&Load) -> f64,
            Target::None,
        ),
        ("p99", |l: &Load| l.p99_ms, Target::RatioAtMost(2.0)),
    ] {
        table.push(Row {
            bench: "7 noisy neighbour",
            figure: format!("A's /hello {name}, B spinning x{busy} ({spins:.1} answers/s)"),
            value: Figure::Millis(m(&noisy, f)),
            reference: Some(("A alone".into(), Figure::Millis(m(&alone, f)))),
            target,
        });
    }
}
