//! The `picloud` binary as an operator runs it: first start prints the token
//! once, SIGTERM stops it gracefully without losing the execution log, and
//! `create-token` makes a working token.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_picloud");

struct Running {
    child: Child,
    base: String,
    token: Option<String>,
}

impl Drop for Running {
    /// A failing test must not leave a server behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `picloud serve` on a port from the OS and reads its banner.
#[expect(
    clippy::zombie_processes,
    reason = "`Running`'s Drop kills and reaps the child"
)]
fn start(data: &std::path::Path) -> Running {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env_remove("PICLOUD_ADMIN_TOKEN")
        .env("PICLOUD_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("picloud starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut token = None;
    loop {
        let line = lines.next().expect("the banner before EOF").unwrap();
        let trimmed = line.trim();
        if trimmed.starts_with("pc_") {
            token = Some(trimmed.to_owned());
        }
        if let Some(rest) = trimmed.strip_prefix("PiCloud is listening on ") {
            let base = rest.split_whitespace().next().unwrap().to_owned();
            return Running { child, base, token };
        }
    }
}

fn sigterm(running: &mut Running) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &running.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    running.child.wait().unwrap()
}

#[tokio::test]
async fn token_once_graceful_stop_and_create_token() {
    let data = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();

    let mut first = start(data.path());
    let token = first
        .token
        .clone()
        .expect("a fresh install prints its token");
    let hello = client
        .get(format!("{}/hello?name=cli", first.base))
        .header("host", "localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(hello.text().await.unwrap(), "Hello, cli!");
    assert!(sigterm(&mut first).success(), "SIGTERM is a clean exit");

    // The execution made just before SIGTERM was written, and no new token is printed.
    let mut second = start(data.path());
    assert_eq!(second.token, None);
    let log: serde_json::Value = client
        .get(format!("{}/api/v1/admin/executions", second.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log["executions"][0]["path"], "/hello", "{log}");
    sigterm(&mut second);

    // `create-token` adds a token that works on the next start.
    let out = Command::new(BIN)
        .args(["create-token", "--name", "laptop", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let new_token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(new_token.starts_with("pc_"));
    let mut third = start(data.path());
    let resp = client
        .get(format!("{}/api/v1/admin/apps", third.base))
        .bearer_auth(&new_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    sigterm(&mut third);
}
