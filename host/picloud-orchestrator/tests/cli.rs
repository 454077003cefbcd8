//! Misconfiguration is refused at start with a message naming the setting.
//! (The cluster itself is exercised end to end in picloud-manager's
//! tests/cluster.rs, which starts this binary.)

use std::process::Command;

fn orchestrator(envs: &[(&str, &str)]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_picloud-orchestrator"))
        .env_clear()
        .envs(envs.iter().copied())
        .env("PICLOUD_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_short_cluster_secret_is_refused() {
    let (ok, stderr) = orchestrator(&[
        ("PICLOUD_CLUSTER_SECRET", "short"),
        ("PICLOUD_MANAGER_URL", "http://127.0.0.1:1"),
        ("PICLOUD_EXECUTORS", "http://127.0.0.1:2"),
    ]);
    assert!(!ok);
    assert!(stderr.contains("PICLOUD_CLUSTER_SECRET"), "{stderr}");
    assert!(stderr.contains("at least 32 characters"), "{stderr}");
}

#[test]
fn executor_urls_must_be_urls() {
    let (ok, stderr) = orchestrator(&[
        ("PICLOUD_CLUSTER_SECRET", "0123456789abcdef0123456789abcdef"),
        ("PICLOUD_MANAGER_URL", "http://127.0.0.1:1"),
        ("PICLOUD_EXECUTORS", "10.0.0.2:8082"),
    ]);
    assert!(!ok);
    assert!(stderr.contains("'10.0.0.2:8082'"), "{stderr}");
    assert!(stderr.contains("http://"), "{stderr}");
}

#[test]
fn the_manager_url_is_required() {
    let (ok, stderr) = orchestrator(&[
        ("PICLOUD_CLUSTER_SECRET", "0123456789abcdef0123456789abcdef"),
        ("PICLOUD_EXECUTORS", "http://127.0.0.1:2"),
    ]);
    assert!(!ok);
    assert!(stderr.contains("--manager"), "{stderr}");
}
