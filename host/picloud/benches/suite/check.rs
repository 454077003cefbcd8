//! 11. Checking a script while it is typed (issue 28), against the release
//!     binary: the latency of `POST /scripts:check` (a compile in a fresh
//!     sandbox plus the import check, nothing saved) for a 60-line script
//!     with an import, one request at a time as an editor sends them, p50
//!     and p95; the target is a p95 under 150 ms. The reference is a round
//!     trip to the same server that does no work (`GET /version`), so the
//!     ratio shows what the check itself costs.

use std::time::Instant;

use serde_json::json;

use crate::common::{Admin, Figure, Opts, Row, Server, Table, Target, median};

/// A plausible handler: an import, a few functions, maps and loops.
fn source(n: usize) -> String {
    let mut s = String::from("import \"money\" as money;\n");
    for i in 0..10 {
        s += &format!(
            "fn line_{i}(item) {{\n    let qty = item.qty ?? 1;\n    let price = item.price ?? 0;\n    \
             money::format(qty * price)\n}}\n"
        );
    }
    s += &format!(
        "let order = request.json();\nlet total = 0;\nfor item in order.items {{ total += item.price * item.qty; }}\n\
         // edit {n}\n#{{ total: money::format(total), lines: order.items.len() }}\n"
    );
    s
}

pub(crate) fn run(opts: &Opts, rt: &tokio::runtime::Runtime, table: &mut Table) {
    let data = crate::common::warm_data_dir();
    let server = Server::picloud(data.path(), &[]);
    let admin = Admin::new(&server);
    let samples = opts.pick(300, 20);
    rt.block_on(async {
        admin
            .post("/apps", json!({ "slug": "editor", "name": "editor" }))
            .await;
        admin
            .post(
                "/scripts",
                json!({"app_id": "editor", "name": "money",
                       "source": "fn format(cents) { `${cents / 100}.${cents % 100}` }"}),
            )
            .await;
        let client = reqwest::Client::new();
        let check_url = format!("{}/api/v1/admin/scripts:check", server.url());
        let version_url = format!("{}/version", server.url());
        // Warm-up, and a check that the check does what it says.
        let answer = admin
            .post(
                "/scripts:check",
                json!({"app_id": "editor", "name": "order", "source": source(0)}),
            )
            .await;
        assert_eq!(answer["ok"], true, "{answer}");
        let (mut checks, mut trips) = (Vec::new(), Vec::new());
        for n in 0..samples {
            // Every other request has a syntax error, as while typing.
            let text = if n % 2 == 0 {
                source(n)
            } else {
                source(n).replace("let total = 0;", "let total = ;")
            };
            let started = Instant::now();
            let response = client
                .post(&check_url)
                .bearer_auth(crate::common::TOKEN)
                .json(&json!({"app_id": "editor", "name": "order", "source": text}))
                .send()
                .await
                .expect("the check answers");
            assert!(response.status().is_success());
            let body: serde_json::Value = response.json().await.expect("JSON");
            assert_eq!(body["ok"], n % 2 == 0, "{body}");
            checks.push(started.elapsed().as_secs_f64() * 1e3);
            let started = Instant::now();
            client
                .get(&version_url)
                .send()
                .await
                .expect("version answers");
            trips.push(started.elapsed().as_secs_f64() * 1e3);
        }
        let p95 = |values: &mut Vec<f64>| {
            values.sort_by(f64::total_cmp);
            values[(values.len() * 95 / 100).min(values.len() - 1)]
        };
        let trip = median(&mut trips);
        table.push(Row {
            bench: "11 check",
            figure: "POST /scripts:check, 60 lines, p50".into(),
            value: Figure::Millis(median(&mut checks)),
            reference: Some(("GET /version round trip, p50".into(), Figure::Millis(trip))),
            target: Target::None,
        });
        table.push(Row {
            bench: "11 check",
            figure: "POST /scripts:check, 60 lines, p95".into(),
            value: Figure::Millis(p95(&mut checks)),
            reference: None,
            target: Target::AtMost(150.0),
        });
    });
}
