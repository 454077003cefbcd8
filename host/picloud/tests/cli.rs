//! The `picloud` binary as an operator runs it: first start prints the token
//! once, SIGTERM stops it gracefully without losing the execution log, and
//! `create-token` makes a working token, the first admin user can come
//! from the environment or from `picloud users create`, and `healthcheck`
//! tells a running server from a stopped one.

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
fn start(data: &std::path::Path) -> Running {
    start_with(data, &[])
}

fn start_with(data: &std::path::Path, env: &[(&str, &str)]) -> Running {
    start_logging(data, env, &data.join("server-stderr.log"))
}

/// [`start_with`], writing the server log (stderr, at `info`) to `log`.
#[expect(
    clippy::zombie_processes,
    reason = "`Running`'s Drop kills and reaps the child"
)]
fn start_logging(data: &std::path::Path, env: &[(&str, &str)], log: &std::path::Path) -> Running {
    let mut child = Command::new(BIN)
        .stderr(std::fs::File::create(log).unwrap())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env_remove("PICLOUD_ADMIN_TOKEN")
        .env_remove("PICLOUD_ADMIN_USER")
        .env_remove("PICLOUD_ADMIN_PASSWORD")
        .envs(env.iter().copied())
        .env("PICLOUD_LOG", "info")
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

    // `tokens list` shows it (never the secret); `tokens revoke` ends it at once.
    let out = Command::new(BIN)
        .args(["tokens", "list", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(!listed.contains(&new_token[3..]), "{listed}");
    let laptop = listed
        .lines()
        .find(|l| l.split('\t').nth(1) == Some("laptop"))
        .expect("the laptop token is listed");
    let id = laptop.split('\t').next().unwrap();
    let out = Command::new(BIN)
        .args(["tokens", "revoke", id, "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let resp = client
        .get(format!("{}/api/v1/admin/apps", third.base))
        .bearer_auth(&new_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    sigterm(&mut third);
}

async fn login(client: &reqwest::Client, base: &str, username: &str, password: &str) -> u16 {
    client
        .post(format!("{base}/api/v1/admin/auth/login"))
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Runs the binary with `stdin` as its standard input; returns its output.
fn run_with_stdin(command: &mut Command, stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = command
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `picloud users create` with the password on stdin, or none (generated).
fn users_create(data: &std::path::Path, username: &str, stdin: &str) -> std::process::Output {
    run_with_stdin(
        Command::new(BIN)
            .args(["users", "create", username, "--data-dir"])
            .arg(data)
            .env("PICLOUD_LOG", "warn"),
        stdin,
    )
}

#[tokio::test]
async fn first_admin_user_from_env_or_cli() {
    let client = reqwest::Client::new();
    let password = "correct horse battery";

    // From the environment, on a fresh install.
    let data = tempfile::tempdir().unwrap();
    let log = data.path().join("server.log");
    let mut server = start_logging(
        data.path(),
        &[
            ("PICLOUD_ADMIN_USER", "root"),
            ("PICLOUD_ADMIN_PASSWORD", password),
        ],
        &log,
    );
    assert_eq!(login(&client, &server.base, "root", password).await, 200);
    // A failed sign-in is logged, by name and address, never with the password.
    let guess = "hunter2-hunter2";
    assert_eq!(login(&client, &server.base, "root", guess).await, 401);
    sigterm(&mut server);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("failed sign-in") && log.contains("root"),
        "{log}"
    );
    assert!(!log.contains(guess) && !log.contains(password), "{log}");

    // A weak password from the environment stops the start with the reason.
    let weak = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(weak.path())
        .env("PICLOUD_ADMIN_USER", "root")
        .env("PICLOUD_ADMIN_PASSWORD", "short")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("PICLOUD_ADMIN_PASSWORD") && stderr.contains("12"),
        "{stderr}"
    );

    // From the CLI: the password on stdin, or generated and printed once.
    let out = users_create(data.path(), "Ada", &format!("{password}\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(password));
    let out = users_create(data.path(), "bob", "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let generated = stdout
        .trim()
        .rsplit(' ')
        .next()
        .expect("the generated password")
        .to_owned();
    let out = users_create(data.path(), "carl", "short\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 12"));

    let mut server = start(data.path());
    assert_eq!(login(&client, &server.base, "ada", password).await, 200);
    assert_eq!(login(&client, &server.base, "bob", &generated).await, 200);
    assert_eq!(login(&client, &server.base, "carl", "short").await, 401);
    sigterm(&mut server);
}

/// Runs a client command with its own config file; returns (success, stdout + stderr).
fn client(config: &std::path::Path, args: &[&str], stdin: &str) -> (bool, String) {
    let out = run_with_stdin(
        Command::new(BIN)
            .args(args)
            .env("PICLOUD_CONFIG", config)
            .env_remove("PICLOUD_URL")
            .env_remove("PICLOUD_TOKEN"),
        stdin,
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A client command that keeps running (`logs --follow`), its output read
/// line by line; killed when dropped.
struct Follow {
    child: Child,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Follow {
    fn start(config: &std::path::Path, args: &[&str]) -> Follow {
        let mut child = Command::new(BIN)
            .args(args)
            .env("PICLOUD_CONFIG", config)
            .env_remove("PICLOUD_URL")
            .env_remove("PICLOUD_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        Follow {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (up to 30 s) for a line containing `text`.
    async fn wait_for(&mut self, text: &str) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        while !self.seen.iter().any(|l| l.contains(text)) {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => self.seen.push(line),
                _ => panic!(
                    "no line with {text:?}; output so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
        // Later waits look only at what came after this line.
        let at = self.seen.iter().position(|l| l.contains(text)).unwrap();
        self.seen.drain(..=at);
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn client_commands_against_a_running_server() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("picloud.toml");
    let mut server = start(data.path());
    let token = server.token.clone().unwrap();
    let base = server.base.clone();
    let http = reqwest::Client::new();

    // Without a login, a client command says what to do.
    let (ok, out) = client(&config, &["apps", "list"], "");
    assert!(!ok);
    assert!(out.contains("picloud login"), "{out}");

    let (ok, out) = client(&config, &["login", &base, "--token", "pc_wrong"], "");
    assert!(!ok && out.contains("401 unauthorized"), "{out}");
    let (ok, out) = client(&config, &["login", &base, "--token", &token], "");
    assert!(ok, "{out}");
    let mode = std::fs::metadata(&config).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the saved token is private");

    // Deploy creates the script and its route; again, it updates in place.
    let file = home.path().join("greet.rhai");
    std::fs::write(&file, "log::info(\"greeting\");\n\"v1\"").unwrap();
    let file = file.to_str().unwrap();
    let deploy = ["deploy", file, "--app", "default", "--route", "GET /greet"];
    let (ok, out) = client(&config, &deploy, "");
    assert!(
        ok && out.contains("created script 'greet'") && out.contains("added route GET /greet"),
        "{out}"
    );
    let get = || async {
        http.get(format!("{base}/greet"))
            .header("host", "localhost")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert_eq!(get().await, "v1");
    std::fs::write(file, "log::info(\"greeting\");\n\"v2\"").unwrap();
    let (ok, out) = client(&config, &deploy, "");
    assert!(
        ok && out.contains("updated script 'greet'") && out.contains("already"),
        "{out}"
    );
    assert_eq!(get().await, "v2");
    // A script that does not compile is refused with its position.
    std::fs::write(file, "let x = ;").unwrap();
    let (ok, out) = client(&config, &deploy, "");
    assert!(
        !ok && out.contains("compile_error") && out.contains("line 1"),
        "{out}"
    );
    assert_eq!(get().await, "v2", "the running version stays");
    // Each deploy that changed the source is a version; one can come back.
    let (ok, out) = client(
        &config,
        &["scripts", "history", "greet", "--app", "default"],
        "",
    );
    assert!(
        ok && out.starts_with("2 *\t") && out.contains("\n1\t"),
        "{out}"
    );
    let (ok, out) = client(
        &config,
        &[
            "scripts", "rollback", "greet", "1", "--app", "default", "-m", "back",
        ],
        "",
    );
    assert!(ok && out.contains("as version 3"), "{out}");
    assert_eq!(get().await, "v1");
    let (ok, out) = client(
        &config,
        &["scripts", "rollback", "greet", "2", "--app", "default"],
        "",
    );
    assert!(ok && out.contains("as version 4"), "{out}");
    assert_eq!(get().await, "v2");

    let (ok, out) = client(&config, &["apps", "list"], "");
    assert!(
        ok && out.contains("default") && out.contains("localhost"),
        "{out}"
    );
    let (ok, out) = client(&config, &["routes", "list", "--app", "default"], "");
    assert!(
        ok && out.contains("/greet") && out.contains("/hello"),
        "{out}"
    );
    let (ok, out) = client(
        &config,
        &["scripts", "list", "--app", "default", "--json"],
        "",
    );
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    assert!(
        ok && listed.as_array().is_some_and(|s| s.len() == 2),
        "{out}"
    );
    let (ok, out) = client(&config, &["logs", "--app", "default"], "");
    assert!(
        ok && out.contains("GET /greet") && out.contains("[info] greeting"),
        "{out}"
    );

    // `logs --follow` prints the newest record, then each new one as the
    // server writes it (over the live stream), with its log lines.
    let mut follow = Follow::start(
        &config,
        &["logs", "--app", "default", "--limit", "1", "--follow"],
    );
    // The newest record, printed with its log line, before the stream opens.
    follow.wait_for("[info] greeting").await;
    http.get(format!("{base}/greet?from=follow"))
        .header("host", "localhost")
        .send()
        .await
        .unwrap();
    http.get(format!("{base}/hello"))
        .header("host", "localhost")
        .send()
        .await
        .unwrap();
    follow.wait_for("GET /greet").await;
    follow.wait_for("[info] greeting").await;
    follow.wait_for("GET /hello").await;
    drop(follow);

    // A fresh install's unknown host says which command claims it; that
    // command makes the default app answer there (reaching a Pi from the LAN).
    let lan = || async {
        http.get(format!("{base}/hello"))
            .header("host", "raspberrypi.local:8080")
            .send()
            .await
            .unwrap()
    };
    let answer = lan().await;
    assert_eq!(answer.status(), 404);
    let body = answer.text().await.unwrap();
    assert!(
        body.contains("picloud domains add default raspberrypi.local"),
        "{body}"
    );
    let (ok, out) = client(
        &config,
        &["domains", "add", "default", "raspberrypi.local"],
        "",
    );
    assert!(ok && out.contains("now claims raspberrypi.local"), "{out}");
    assert_eq!(lan().await.text().await.unwrap(), "Hello, World!");
    let (ok, out) = client(&config, &["domains", "list", "default"], "");
    assert!(
        ok && out.contains("localhost") && out.contains("raspberrypi.local"),
        "{out}"
    );
    let (ok, out) = client(
        &config,
        &["domains", "remove", "default", "raspberrypi.local"],
        "",
    );
    assert!(ok && out.contains("no longer claims"), "{out}");
    assert_eq!(lan().await.status(), 404);
    let (ok, out) = client(&config, &["domains", "remove", "default", "nope.test"], "");
    assert!(!ok && out.contains("has no claim 'nope.test'"), "{out}");

    // After a rename, deploying with the old slug keeps working, and says
    // what the app is called now.
    let (ok, out) = client(&config, &["domains", "add", "shop", "shop.test"], "");
    assert!(!ok && out.contains("404 not_found"), "{out}");
    let created = http
        .post(format!("{base}/api/v1/admin/apps"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"slug": "old-shop"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let renamed = http
        .patch(format!("{base}/api/v1/admin/apps/old-shop"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"slug": "new-shop"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), 200);
    let (ok, out) = client(&config, &["domains", "add", "old-shop", "shop.test"], "");
    assert!(ok, "{out}");
    std::fs::write(file, "\"shop v0\"").unwrap();
    let (ok, out) = client(
        &config,
        &[
            "deploy",
            file,
            "--app",
            "old-shop",
            "--name",
            "shop",
            "--route",
            "GET /shop",
        ],
        "",
    );
    assert!(ok && out.contains("created script 'shop'"), "{out}");
    assert!(out.contains("renamed to 'new-shop'"), "{out}");
    std::fs::write(file, "\"shop v1\"").unwrap();
    let (ok, out) = client(
        &config,
        &["deploy", file, "--app", "old-shop", "--name", "shop"],
        "",
    );
    assert!(ok && out.contains("updated script 'shop'"), "{out}");
    let shop = http
        .get(format!("{base}/shop"))
        .header("host", "shop.test")
        .send()
        .await
        .unwrap();
    assert_eq!(shop.text().await.unwrap(), "shop v1");

    // Signing in with a password mints a token for this machine; the
    // password itself is not stored.
    let password = "correct horse battery";
    assert!(
        users_create(data.path(), "ada", &format!("{password}\n"))
            .status
            .success()
    );
    let (ok, out) = client(
        &config,
        &["login", &base, "--username", "ada"],
        &format!("{password}\n"),
    );
    assert!(ok && out.contains("as ada"), "{out}");
    let saved = std::fs::read_to_string(&config).unwrap();
    assert!(
        !saved.contains(password) && !saved.contains(&token),
        "{saved}"
    );
    let (ok, out) = client(&config, &["apps", "list"], "");
    assert!(ok, "{out}");
    sigterm(&mut server);
}

/// `picloud healthcheck`, the Docker image's HEALTHCHECK: exit 0 with one
/// line while `/healthz` answers 200 (found from `--listen` alone, a wildcard
/// address probed on loopback, and not sent to the client commands'
/// PICLOUD_URL); exit 1 with the reason otherwise.
#[test]
fn healthcheck_exits_zero_only_for_a_200() {
    let data = tempfile::tempdir().unwrap();
    let mut server = start(data.path());
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let probe = |args: &[&str]| {
        let out = Command::new(BIN)
            .arg("healthcheck")
            .args(args)
            .env_remove("PICLOUD_LISTEN")
            .env("PICLOUD_URL", "http://127.0.0.1:1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(if out.status.success() {
            &out.stdout
        } else {
            &out.stderr
        })
        .into_owned();
        (out.status.code(), text)
    };

    let url = format!("{}/healthz", server.base);
    let (code, text) = probe(&[&url]);
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(text, format!("healthy: {url} answered 200 OK\n"));

    let (code, text) = probe(&["--listen", &format!("0.0.0.0:{port}")]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!("http://127.0.0.1:{port}/healthz")),
        "{text}"
    );

    let missing = format!("{}/healthz/nothing-here", server.base);
    let (code, text) = probe(&[&missing]);
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(
        text,
        format!("unhealthy: {missing} answered 404 Not Found\n")
    );

    assert!(sigterm(&mut server).success());
    let (code, text) = probe(&["--timeout", "2s", &url]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.starts_with(&format!("unhealthy: {url}: ")), "{text}");
    assert!(text.contains("Connection refused"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
}

/// A settings file supplies defaults; the environment and flags override it;
/// a misspelt setting is refused by name. `picloud config` shows the result.
#[test]
fn settings_file_flags_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("picloud.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:9999\"\nlog-max-per-app = 42\nsession_ttl = \"2h\"\nmax_body = \"2MiB\"\n",
    )
    .unwrap();
    let config = |args: &[&str], env: &[(&str, &str)]| {
        let out = Command::new(BIN)
            .arg("config")
            .args(args)
            .env_remove("PICLOUD_CONFIG_FILE")
            .env_remove("PICLOUD_LISTEN")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };
    let setting = |text: &str, name: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .map(|l| l.split_once("= ").unwrap().1.to_owned())
            .unwrap_or_else(|| panic!("{name} missing from:\n{text}"))
    };

    let (ok, text) = config(&["--config-file", file.to_str().unwrap()], &[]);
    assert!(ok, "{text}");
    assert_eq!(setting(&text, "listen"), "127.0.0.1:9999");
    assert_eq!(setting(&text, "log_max_per_app"), "42");
    assert_eq!(setting(&text, "session_ttl"), "2h");
    assert_eq!(setting(&text, "max_body"), "2097152 bytes");

    // The environment names the file too, and beats it per setting; a flag
    // beats both.
    let path = file.to_str().unwrap();
    let (ok, text) = config(
        &[],
        &[
            ("PICLOUD_CONFIG_FILE", path),
            ("PICLOUD_LISTEN", "127.0.0.1:7000"),
        ],
    );
    assert!(ok, "{text}");
    assert_eq!(setting(&text, "listen"), "127.0.0.1:7000");
    assert_eq!(setting(&text, "log_max_per_app"), "42");
    let (ok, text) = config(
        &["--listen", "127.0.0.1:6000"],
        &[
            ("PICLOUD_CONFIG_FILE", path),
            ("PICLOUD_LISTEN", "127.0.0.1:7000"),
        ],
    );
    assert!(ok, "{text}");
    assert_eq!(setting(&text, "listen"), "127.0.0.1:6000");

    // Mistakes name the setting.
    std::fs::write(&file, "lisen = \"127.0.0.1:1\"\n").unwrap();
    let (ok, text) = config(&["--config-file", path], &[]);
    assert!(!ok);
    assert!(text.contains("unknown setting 'lisen'"), "{text}");
    std::fs::write(&file, "max_body = \"1K\"\n").unwrap();
    let (ok, text) = config(&["--config-file", path], &[]);
    assert!(!ok);
    assert!(
        text.contains("max-body") && text.contains("64KiB"),
        "{text}"
    );
    let (ok, text) = config(&["--config-file", "/nonexistent/picloud.toml"], &[]);
    assert!(!ok);
    assert!(text.contains("/nonexistent/picloud.toml"), "{text}");
}

/// `kill -9` in the middle of a stream of admin writes: after a restart,
/// every write the server acknowledged is there, and SQLite's integrity and
/// foreign-key checks pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let data = tempfile::tempdir().unwrap();
    kill_9_during_writes(data.path(), &[]).await;
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        data.path().join("picloud.db").display()
    ))
    .await
    .unwrap();
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    let broken_references = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&db)
        .await
        .unwrap();
    assert!(broken_references.is_empty());
    db.close().await;
}

/// The same against PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_on_postgres() {
    let cluster = testkit::PgCluster::start().expect("PostgreSQL starts");
    let url = cluster.create_database("kill_9");
    let data = tempfile::tempdir().unwrap();
    kill_9_during_writes(data.path(), &[("PICLOUD_DATABASE_URL", url.as_str())]).await;
}

/// Streams app creations from four writers, kills the server with SIGKILL
/// after 200 acknowledgements, restarts it, and checks every acknowledged
/// app is there.
async fn kill_9_during_writes(data: &std::path::Path, env: &[(&str, &str)]) {
    let token = "pc_kill_9_test_token_0123456789";
    let first_env: Vec<(&str, &str)> = env
        .iter()
        .copied()
        .chain([("PICLOUD_ADMIN_TOKEN", token)])
        .collect();
    let mut server = start_with(data, &first_env);
    let client = reqwest::Client::new();
    let (acked, mut count) = tokio::sync::watch::channel(0usize);
    let acked = std::sync::Arc::new(acked);
    let slugs = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (client, base, acked, slugs) = (
                client.clone(),
                server.base.clone(),
                acked.clone(),
                slugs.clone(),
            );
            tokio::spawn(async move {
                for i in 0.. {
                    let slug = format!("w{writer}-{i}");
                    let sent = client
                        .post(format!("{base}/api/v1/admin/apps"))
                        .bearer_auth(token)
                        .json(&serde_json::json!({ "slug": slug }))
                        .send()
                        .await;
                    match sent {
                        Ok(resp) if resp.status() == 201 => {
                            let mut slugs = slugs.lock().unwrap();
                            slugs.push(slug);
                            acked.send_replace(slugs.len());
                        }
                        // The server is gone (or refused): this write was never
                        // acknowledged. Say why, in case it was before the kill.
                        Ok(resp) => return format!("{slug}: {}", resp.status()),
                        Err(e) => return format!("{slug}: {e}"),
                    }
                }
                unreachable!("the loop only ends by returning")
            })
        })
        .collect();
    // Only the writers hold the sender now: if every one of them stops before
    // 200 acknowledgements, the wait ends with an error instead of hanging.
    drop(acked);
    if count.wait_for(|n| *n >= 200).await.is_err() {
        let mut why = Vec::new();
        for writer in writers {
            why.push(writer.await.unwrap());
        }
        panic!("the writers stopped before 200 acknowledgements: {why:?}");
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    for writer in writers {
        writer.await.unwrap();
    }
    let acknowledged = slugs.lock().unwrap().clone();

    let mut again = start_with(data, env);
    let mut present = std::collections::HashSet::new();
    let mut cursor = String::new();
    loop {
        let page: serde_json::Value = client
            .get(format!(
                "{}/api/v1/admin/apps?limit=500{cursor}",
                again.base
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for app in page["apps"].as_array().unwrap() {
            present.insert(app["slug"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|s| !present.contains(*s))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost: {lost:?}",
        lost.len(),
        acknowledged.len()
    );
    sigterm(&mut again);
}

/// An admin call to a server started by [`start`]; panics unless it succeeds.
async fn admin_ok(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let resp = http
        .request(method, format!("{base}/api/v1/admin{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or_default()
}

/// `picloud <args> --data-dir <dir>`: success and what it printed.
fn operator(args: &[&str], data: &std::path::Path) -> (bool, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("PICLOUD_SECRET_KEY")
        .env_remove("PICLOUD_DATABASE_URL")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `picloud backup` while a client keeps writing: the backup restores
/// into another data directory with every write acknowledged before it
/// started, passes SQLite's integrity and foreign-key checks, and its
/// secret decrypts under the same key; under another key, or onto a
/// directory a server is running on, the restore is refused and says why.
#[tokio::test]
async fn a_backup_taken_under_writes_restores_every_acknowledged_write() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let data = tempfile::tempdir().unwrap();
    let mut server = start(data.path());
    let token = server.token.clone().unwrap();
    let base = server.base.clone();
    let http = reqwest::Client::new();
    admin_ok(
        &http,
        &base,
        &token,
        reqwest::Method::PUT,
        "/apps/default/variables/API_KEY",
        serde_json::json!({"value": "s3cret", "secret": true}),
    )
    .await;
    for (name, source, method, path) in [
        (
            "put",
            "kv::set(request.query.k, request.query.k); \"ok\"",
            "POST",
            "/put",
        ),
        ("secret", "env::get(\"API_KEY\")", "GET", "/secret"),
    ] {
        let script = admin_ok(
            &http,
            &base,
            &token,
            reqwest::Method::POST,
            "/scripts",
            serde_json::json!({"app_id": "default", "name": name, "source": source}),
        )
        .await;
        let id = script["id"].as_str().unwrap().to_owned();
        admin_ok(
            &http,
            &base,
            &token,
            reqwest::Method::POST,
            &format!("/scripts/{id}/routes"),
            serde_json::json!({"method": method, "path": path}),
        )
        .await;
    }

    // One writer, one write at a time: `acked` holds the last key the server
    // confirmed.
    let (acked_tx, acked) = tokio::sync::watch::channel(-1i64);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, http, base) = (stop.clone(), http.clone(), base.clone());
        tokio::spawn(async move {
            let mut k = 0;
            while !stop.load(Ordering::SeqCst) {
                let resp = http
                    .post(format!("{base}/put?k=key{k}"))
                    .header("host", "localhost")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), reqwest::StatusCode::OK);
                acked_tx.send_replace(k);
                k += 1;
            }
        })
    };
    let reach = |n: i64| {
        let mut acked = acked.clone();
        async move {
            tokio::time::timeout(
                std::time::Duration::from_secs(60),
                acked.wait_for(|k| *k >= n),
            )
            .await
            .expect("writes stalled")
            .unwrap();
        }
    };
    reach(20).await;
    let before = *acked.borrow();
    let file = data.path().join("backup.db");
    let (ok, out) = {
        let (file, dir) = (file.clone(), data.path().to_owned());
        tokio::task::spawn_blocking(move || operator(&["backup", file.to_str().unwrap()], &dir))
            .await
            .unwrap()
    };
    assert!(ok && out.contains("backed up"), "{out}");
    // The server kept taking writes.
    reach(before + 20).await;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    // A second backup to the same file is refused, the first left alone.
    let (ok, out) = operator(&["backup", file.to_str().unwrap()], data.path());
    assert!(!ok && out.contains("already exists"), "{out}");

    // Restoring onto the running server's directory is refused.
    let (ok, out) = operator(&["restore", file.to_str().unwrap()], data.path());
    assert!(!ok && out.contains("is running"), "{out}");

    // Another directory with the same key: everything acknowledged before
    // the backup began is there, and the secret decrypts.
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(
        data.path().join("secret.key"),
        copy.path().join("secret.key"),
    )
    .unwrap();
    let (ok, out) = operator(&["restore", file.to_str().unwrap()], copy.path());
    assert!(ok && out.contains("restored"), "{out}");
    sigterm(&mut server);
    let restored = start(copy.path());
    for k in 0..=before {
        let resp = http
            .get(format!(
                "{}/api/v1/admin/apps/default/kv/key{k}",
                restored.base
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            reqwest::StatusCode::OK,
            "key{k} of 0..={before}"
        );
    }
    let secret = http
        .get(format!("{}/secret", restored.base))
        .header("host", "localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(secret.text().await.unwrap(), "s3cret");
    drop(restored);
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        copy.path().join("picloud.db").display()
    ))
    .await
    .unwrap();
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    assert!(
        sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&pool)
            .await
            .unwrap()
            .is_empty()
    );
    pool.close().await;

    // One app's data moves on its own: exported from the restored
    // directory, imported into a fresh install; the secret by name only.
    let export = copy.path().join("default.jsonl");
    let (ok, out) = operator(
        &["data", "export", "default", export.to_str().unwrap()],
        copy.path(),
    );
    assert!(ok && out.contains("exported"), "{out}");
    let text = std::fs::read_to_string(&export).unwrap();
    assert!(
        text.contains("\"key\":\"key0\"") && !text.contains("s3cret"),
        "{text}"
    );
    let fresh = tempfile::tempdir().unwrap();
    let (ok, out) = operator(
        &["data", "import", "default", export.to_str().unwrap()],
        fresh.path(),
    );
    assert!(ok && out.contains("set these again: API_KEY"), "{out}");
    let moved = fresh.path().join("moved.jsonl");
    let (ok, out) = operator(
        &["data", "export", "default", moved.to_str().unwrap()],
        fresh.path(),
    );
    assert!(ok, "{out}");
    let item_lines = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains("\"kind\":\"kv\"") || l.contains("\"kind\":\"variable\""))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        item_lines(&std::fs::read_to_string(&moved).unwrap()),
        item_lines(&text)
    );

    // Under another key the restore is refused before anything changes.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(
        other.path().join("secret.key"),
        format!("{}\n", "ab".repeat(32)),
    )
    .unwrap();
    let (ok, out) = operator(&["restore", file.to_str().unwrap()], other.path());
    assert!(!ok && out.contains("fingerprint"), "{out}");
    assert!(!other.path().join("picloud.db").exists());
    // Without any key, a backup holding secrets is refused too.
    let keyless = tempfile::tempdir().unwrap();
    let (ok, out) = operator(&["restore", file.to_str().unwrap()], keyless.path());
    assert!(!ok && out.contains("has no key"), "{out}");
}

/// `kill -9` in the middle of a burst of 1,000 queue messages: after a
/// restart every message runs at least once and none is lost (the runs
/// that were in flight when the server died run again once their lease
/// ends).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_queue_messages_survives_kill_9() {
    const MESSAGES: usize = 1_000;
    let data = tempfile::tempdir().unwrap();
    let token = "pc_queue_kill_9_token_0123456789";
    let env = [("PICLOUD_ADMIN_TOKEN", token)];
    let mut server = start_with(data.path(), &env);
    let http = reqwest::Client::new();
    let post = reqwest::Method::POST;
    let script = admin_ok(
        &http,
        &server.base,
        token,
        post.clone(),
        "/scripts",
        serde_json::json!({"app_id": "default", "name": "worker",
            "source": "kv::incr(\"seen:\" + request.payload, 1); kv::incr(\"runs\", 1);"}),
    )
    .await;
    assert_eq!(script["name"], "worker");
    let burst = admin_ok(
        &http,
        &server.base,
        token,
        post.clone(),
        "/scripts",
        serde_json::json!({"app_id": "default", "name": "burst",
            "source": "let from = parse_json(request.body).from; for i in from..from + 100 { queue::send(\"work\", i); } \"sent\""}),
    )
    .await;
    let burst = burst["id"].as_str().unwrap().to_owned();
    admin_ok(
        &http,
        &server.base,
        token,
        post.clone(),
        "/apps/default/triggers",
        serde_json::json!({"script": "worker", "queue": "work"}),
    )
    .await;
    for from in (0..MESSAGES).step_by(100) {
        let resp = http
            .post(format!("{}/api/v1/execute/{burst}", server.base))
            .bearer_auth(token)
            .json(&serde_json::json!({"from": from}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    }
    // Kill it while the consumers are busy: some messages done, most not.
    let runs = |base: String| {
        let http = http.clone();
        async move {
            let resp = http
                .get(format!("{base}/api/v1/admin/apps/default/kv/runs"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            if resp.status() != 200 {
                return 0;
            }
            let body: serde_json::Value = resp.json().await.unwrap();
            body["value"].as_i64().unwrap_or(0)
        }
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while runs(server.base.clone()).await < 20 {
        assert!(std::time::Instant::now() < deadline, "no message ran");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let before = runs_in_db(data.path()).await;
    assert!(before < MESSAGES as i64, "all {before} ran before the kill");

    let again = start_with(data.path(), &env);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    loop {
        let resp = http
            .get(format!("{}/api/v1/admin/apps/default/queues", again.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = resp.json().await.unwrap();
        let work = &body["queues"][0];
        let empty = work["ready"] == 0
            && work["delayed"] == 0
            && work["in_flight"] == 0
            && work["dead"] == 0;
        if empty {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still queued: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mut lost = Vec::new();
    for n in 0..MESSAGES {
        let resp = http
            .get(format!(
                "{}/api/v1/admin/apps/default/kv/seen:{n}",
                again.base
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        if resp.status() != 200 {
            lost.push(n);
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {MESSAGES} messages never ran: {lost:?}",
        lost.len()
    );
}

/// The `runs` counter as the killed server left it in its SQLite file.
async fn runs_in_db(data: &std::path::Path) -> i64 {
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", data.join("picloud.db").display()))
        .await
        .unwrap();
    let value: Option<String> =
        sqlx::query_scalar("SELECT value FROM kv_entries WHERE key = 'runs'")
            .fetch_optional(&db)
            .await
            .unwrap();
    db.close().await;
    value.and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// `picloud init` writes a template into a new folder, and that folder
/// deploys as it is; a folder with something in it and an unknown template
/// are refused with what to do, and nothing is written.
#[test]
fn init_copies_a_template_that_deploys() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("my-guestbook");
    let init = |dir: &std::path::Path, template: &str| {
        let out = Command::new(BIN)
            .arg("init")
            .arg(dir)
            .args(["--template", template])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, text) = init(&folder, "guestbook");
    assert!(ok, "{text}");
    assert!(
        text.contains("wrote 9 files of the template 'guestbook'"),
        "{text}"
    );
    assert!(folder.join("scripts/common.rhai").is_file());

    let (ok, text) = init(&folder, "link-shortener");
    assert!(!ok && text.contains("is not empty"), "{text}");
    assert!(!folder.join("scripts/links.rhai").exists());
    let (ok, text) = init(&work.path().join("other"), "blog");
    assert!(
        !ok && text.contains("the templates are guestbook, link-shortener, webhook-inbox"),
        "{text}"
    );
    assert!(!work.path().join("other").exists());

    // The copy is an app folder the server takes.
    let mut server = start(data.path());
    let out = Command::new(BIN)
        .arg("deploy")
        .arg(&folder)
        .env("PICLOUD_URL", &server.base)
        .env("PICLOUD_TOKEN", server.token.as_deref().unwrap())
        .env("PICLOUD_CONFIG", work.path().join("config.toml"))
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(printed.contains("+ create app guestbook"), "{printed}");
    assert!(sigterm(&mut server).success());
}
