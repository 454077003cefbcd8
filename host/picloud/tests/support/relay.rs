//! A real SMTP server on loopback that plays the operator's mail relay for
//! the suites that send mail (email.rs, examples.rs): it records what it is
//! sent, and can refuse every recipient or be down.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// What the relay does with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Accept,
    /// `550` to every `RCPT TO`.
    Refuse,
}

/// A message the relay accepted.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) from: String,
    pub(crate) to: Vec<String>,
    pub(crate) data: String,
}

/// A real SMTP server on loopback that plays the operator's relay.
#[derive(Clone)]
pub(crate) struct Relay {
    mode: Arc<Mutex<Mode>>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Relay {
    /// Listens on `addr` (port 0 for any) and serves until the test ends.
    pub(crate) async fn start(addr: SocketAddr, mode: Mode) -> (Relay, SocketAddr) {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let relay = Relay {
            mode: Arc::new(Mutex::new(mode)),
            received: Arc::new(Mutex::new(Vec::new())),
        };
        let serving = relay.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let relay = serving.clone();
                tokio::spawn(async move { relay.session(stream).await });
            }
        });
        (relay, addr)
    }

    /// Accepts or refuses from now on.
    pub(crate) fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    async fn session(&self, stream: tokio::net::TcpStream) {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let say = async |w: &mut tokio::net::tcp::OwnedWriteHalf, line: &str| {
            w.write_all(format!("{line}\r\n").as_bytes()).await.unwrap();
        };
        say(&mut write, "220 relay.test ESMTP").await;
        let (mut from, mut to) = (String::new(), Vec::new());
        while let Ok(Some(line)) = lines.next_line().await {
            let upper = line.to_ascii_uppercase();
            if upper.starts_with("EHLO") {
                say(&mut write, "250-relay.test\r\n250 8BITMIME").await;
            } else if upper.starts_with("MAIL FROM:") {
                from = line[10..].trim().to_owned();
                say(&mut write, "250 2.1.0 ok").await;
            } else if upper.starts_with("RCPT TO:") {
                if *self.mode.lock().unwrap() == Mode::Refuse {
                    say(&mut write, "550 5.7.1 relaying denied for this sender").await;
                } else {
                    to.push(line[8..].trim().to_owned());
                    say(&mut write, "250 2.1.5 ok").await;
                }
            } else if upper == "DATA" {
                say(&mut write, "354 go ahead").await;
                let mut data = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    if line == "." {
                        break;
                    }
                    data.push_str(&line);
                    data.push('\n');
                }
                self.received.lock().unwrap().push(Received {
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    data,
                });
                say(&mut write, "250 2.0.0 Ok: queued as R1").await;
            } else if upper == "QUIT" {
                say(&mut write, "221 bye").await;
                return;
            } else {
                say(&mut write, "250 ok").await;
            }
        }
    }
}

/// Runs a Python program (the suites' real SMTP client is Python's smtplib)
/// with `args` and returns the JSON it prints.
pub(crate) fn python_json(program: &str, args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(program)
        .args(args)
        .output()
        .expect("python3 runs (scripts/setup.sh test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Sends the server's mail to `relay` (plain SMTP, allowed on loopback) from
/// `noreply@pi.test`, at most `per_hour` messages an hour per app, and runs
/// its SMTP listener on a free loopback port with a 1 MiB message limit.
pub(crate) fn mail_to(
    config: &mut picloud::ServerConfig,
    relay: Option<SocketAddr>,
    per_hour: u32,
) {
    config.control.manager.email = picloud::MailArgs {
        smtp_url: relay.map(|addr| format!("smtp://{addr}?tls=none")),
        smtp_from: Some("PiCloud <noreply@pi.test>".into()),
        email_per_hour: per_hour,
        smtp_listen: None,
        smtp_max_bytes: 1 << 20,
        smtp_timeout: std::time::Duration::from_secs(60),
    }
    .email()
    .unwrap();
    config.control.manager.smtp_in.listen = Some("127.0.0.1:0".parse().unwrap());
    config.control.manager.smtp_in.max_bytes = 1 << 20;
}
