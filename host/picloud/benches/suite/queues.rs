//! 10. Queues (issue 26), against the release binary on SQLite with the
//!     execution log on: messages per second through a no-op consumer, with
//!     the same no-op script served over HTTP at as many connections as the
//!     consumer runs at once per app (2) as the reference, so the ratio is
//!     what queueing (an insert, a lease, a delete per message) costs; and
//!     enqueue-to-start latency, p50 and p99, from the end of the execution
//!     that sent a message to the start of the one that consumed it (both
//!     from the execution log, to the millisecond).

use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use crate::common::{Admin, Figure, Opts, Row, Server, Table, Target, load, median};

const NOOP: &str = r#""ok""#;

pub(crate) fn run(opts: &Opts, rt: &tokio::runtime::Runtime, table: &mut Table) {
    let data = crate::common::warm_data_dir();
    let server = Server::picloud(data.path(), &[]);
    let admin = Admin::new(&server);
    let (messages, samples, seconds) = opts.pick((2_000, 200, 5), (100, 10, 1));
    rt.block_on(async {
        admin
            .app(
                "jobs",
                "jobs.bench",
                &[("noop".into(), "/noop".into(), NOOP.into())],
            )
            .await;
        let burst = admin
            .post(
                "/scripts",
                json!({"app_id": "jobs", "name": "burst", "source":
                    "let n = parse_json(request.body).n; for i in 0..n { queue::send(\"work\", i); } n"}),
            )
            .await;
        let one = admin
            .post(
                "/scripts",
                json!({"app_id": "jobs", "name": "one", "source": "queue::send(\"work\", 0)"}),
            )
            .await;
        let execute = |id: &Value, body: Value| {
            let url = format!("{}/api/v1/execute/{}", server.url(), id.as_str().unwrap());
            async move {
                let response = reqwest::Client::new()
                    .post(url)
                    .bearer_auth(crate::common::TOKEN)
                    .json(&body)
                    .send()
                    .await
                    .expect("execute answers");
                assert!(response.status().is_success(), "{}", response.text().await.unwrap());
            }
        };

        // Throughput: fill the queue, then bind the consumer and time the drain.
        for _ in 0..messages / 100 {
            execute(&burst["id"], json!({"n": 100})).await;
        }
        let started = Instant::now();
        admin
            .post(
                "/apps/jobs/triggers",
                json!({"script": "noop", "queue": "work"}),
            )
            .await;
        wait_until_empty(&admin).await;
        let per_second = messages as f64 / started.elapsed().as_secs_f64();
        let http = load(
            &server.url(),
            "GET /noop jobs.bench",
            2,
            Duration::from_secs(seconds),
        )
        .await;
        table.push(Row {
            bench: "10 queues",
            figure: "messages/s through a no-op consumer".into(),
            value: Figure::PerSec(per_second),
            reference: Some((
                "the same script over HTTP, 2 connections".into(),
                Figure::PerSec(http.rps),
            )),
            target: Target::None,
        });

        // Latency: one message at a time, each consumed before the next.
        for _ in 0..samples {
            execute(&one["id"], json!({})).await;
            wait_until_empty(&admin).await;
        }
        let sent = finished(&admin, "direct", samples).await;
        let ran = started_at(&admin, "queue", samples).await;
        let mut latencies: Vec<f64> = sent
            .iter()
            .zip(&ran)
            .map(|(sent, ran)| {
                ran.duration_since(*sent)
                    .unwrap_or_default()
                    .as_secs_f64()
                    * 1e3
            })
            .collect();
        let p50 = median(&mut latencies);
        let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
        for (figure, value) in [("p50", p50), ("p99", p99)] {
            table.push(Row {
                bench: "10 queues",
                figure: format!("send → consumer start, {figure}"),
                value: Figure::Millis(value),
                reference: None,
                target: Target::None,
            });
        }
    });
}

/// Polls the queue's depth until nothing is waiting or running.
async fn wait_until_empty(admin: &Admin) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let queues = admin.get("/apps/jobs/queues").await;
        let work = &queues["queues"][0];
        if work["ready"] == 0 && work["in_flight"] == 0 && work["delayed"] == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the queue does not drain: {queues}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The newest `n` executions with `trigger`, oldest first.
async fn records(admin: &Admin, trigger: &str, n: usize) -> Vec<Value> {
    let page = admin
        .get(&format!(
            "/apps/jobs/executions?trigger={trigger}&limit={}",
            n.min(500)
        ))
        .await;
    let mut records = page["executions"].as_array().cloned().unwrap_or_default();
    records.reverse();
    records
}

fn time(record: &Value) -> SystemTime {
    humantime::parse_rfc3339(record["started_at"].as_str().expect("started_at")).expect("RFC 3339")
}

/// When each of the newest `n` `trigger` executions ended.
async fn finished(admin: &Admin, trigger: &str, n: usize) -> Vec<SystemTime> {
    records(admin, trigger, n)
        .await
        .iter()
        .map(|r| time(r) + Duration::from_secs_f64(r["duration_ms"].as_f64().unwrap_or(0.0) / 1e3))
        .collect()
}

/// When each of the newest `n` `trigger` executions started.
async fn started_at(admin: &Admin, trigger: &str, n: usize) -> Vec<SystemTime> {
    records(admin, trigger, n).await.iter().map(time).collect()
}
