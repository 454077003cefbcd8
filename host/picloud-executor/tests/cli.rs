//! Misconfiguration is refused at start with a message naming the setting,
//! before the guest is loaded. (The executor serving a cluster is exercised
//! end to end in picloud-manager's tests/cluster.rs, which starts this binary.)

use std::process::Command;

fn executor(envs: &[(&str, &str)]) -> (bool, String) {
    let cache = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_picloud-executor"))
        .env_clear()
        .envs(envs.iter().copied())
        .env("PICLOUD_LISTEN", "127.0.0.1:0")
        .env("PICLOUD_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_short_cluster_secret_is_refused() {
    let (ok, stderr) = executor(&[
        ("PICLOUD_CLUSTER_SECRET", "not-long-enough"),
        ("PICLOUD_MANAGER_URL", "http://127.0.0.1:1"),
    ]);
    assert!(!ok);
    assert!(stderr.contains("PICLOUD_CLUSTER_SECRET"), "{stderr}");
    assert!(
        stderr.contains("at least 32 characters (it is 15)"),
        "{stderr}"
    );
}

#[test]
fn the_manager_url_must_be_http() {
    let (ok, stderr) = executor(&[
        ("PICLOUD_CLUSTER_SECRET", "0123456789abcdef0123456789abcdef"),
        ("PICLOUD_MANAGER_URL", "ftp://manager.internal"),
    ]);
    assert!(!ok);
    assert!(stderr.contains("PICLOUD_MANAGER_URL"), "{stderr}");
    assert!(stderr.contains("http:// or https://"), "{stderr}");
}
