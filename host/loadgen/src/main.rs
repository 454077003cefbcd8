//! `picloud-loadgen`: the command line over [`loadgen::run`].

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use loadgen::{Config, Expect, Target};

/// A closed-loop HTTP/1.1 load generator: N keep-alive connections, one
/// request in flight on each, over a weighted round-robin mix of targets.
///
/// Exit status: 0 when every response had an expected status and no request
/// failed in transport, 1 otherwise, 2 for bad options.
#[derive(Debug, Parser)]
#[command(name = "picloud-loadgen", version)]
#[command(group = clap::ArgGroup::new("stop").required(true).args(["requests", "duration"]))]
struct Args {
    /// The server: `http://host[:port]`.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,

    /// Concurrent keep-alive connections, each with one request in flight.
    #[arg(long, short = 'c', default_value_t = 16)]
    connections: usize,

    /// Stop after this many requests in total.
    #[arg(long, short = 'n')]
    requests: Option<u64>,

    /// Stop after this long (`30s`, `10m`); requests in flight still finish.
    #[arg(long, short = 'd', value_parser = humantime::parse_duration)]
    duration: Option<Duration>,

    /// A request of the mix, repeatable:
    /// `[weight=N] [expect=LIST] [body=TEXT|@FILE] METHOD PATH [HOST]`.
    /// HOST is the `Host` header (default: the --url's host and port). LIST is
    /// comma-separated `200`, `2xx` or `500:fuel_exhausted` (status and
    /// PiCloud error code); without `expect=` any 2xx is expected. A body that
    /// is valid JSON is sent as `application/json`, otherwise as text.
    #[arg(long = "target", short = 't', required = true)]
    targets: Vec<Target>,

    /// Statuses expected from every target on top of its own (e.g. the
    /// deliberate `503:executor_overloaded` of an overload test); comma-separated
    /// or repeated, same syntax as `expect=`.
    #[arg(long, value_delimiter = ',')]
    expect_status: Vec<Expect>,

    /// A request with no complete response after this long is a transport
    /// error; its connection is replaced.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    timeout: Duration,

    /// Runtime worker threads. One drives thousands of requests per second;
    /// keeping it low leaves the cores to a server on the same machine.
    #[arg(long, default_value_t = 1)]
    threads: usize,

    /// Print the report as JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("picloud-loadgen: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the load and prints the report; `Ok(pass)`.
fn run(args: Args) -> anyhow::Result<bool> {
    let config = Config {
        connections: args.connections,
        requests: args.requests,
        duration: args.duration,
        targets: args.targets,
        expect: args.expect_status,
        timeout: args.timeout,
        ..Config::new(&args.url)?
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    let report = runtime.block_on(loadgen::run(config))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(report.pass)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn cli() {
        Args::command().debug_assert();
        let a = Args::try_parse_from([
            "picloud-loadgen",
            "-n",
            "10",
            "-t",
            "GET /hello localhost",
            "-t",
            "weight=2 expect=500:fuel_exhausted GET /spin localhost",
            "--expect-status",
            "503,429",
        ])
        .unwrap();
        assert_eq!(a.targets.len(), 2);
        assert_eq!(a.expect_status.len(), 2);
        // Exactly one of --requests and --duration.
        for bad in [
            &["picloud-loadgen", "-t", "GET /"][..],
            &["picloud-loadgen", "-n", "1", "-d", "1s", "-t", "GET /"],
            &["picloud-loadgen", "-n", "1", "-t", "GET"],
        ] {
            assert!(Args::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }
}
