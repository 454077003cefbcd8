//! Client mode: the commands a developer runs on a laptop against a PiCloud
//! server over its admin API (`login`, `apps`, `scripts`, `routes`, `deploy`,
//! `logs`). Credentials come from flags, then the environment
//! (`PICLOUD_URL`, `PICLOUD_TOKEN`), then the config file `picloud login`
//! writes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What `picloud login` stores.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct ClientConfig {
    /// Server base URL, e.g. `https://pi.example.com`.
    pub(crate) url: Option<String>,
    /// API token (`pc_…`).
    pub(crate) token: Option<String>,
}

/// `$PICLOUD_CONFIG`, else `$XDG_CONFIG_HOME/picloud/config.toml`, else
/// `~/.config/picloud/config.toml`.
pub(crate) fn config_path() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("PICLOUD_CONFIG") {
        return Ok(PathBuf::from(path));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            PathBuf::from(std::env::var_os("HOME").context("HOME is not set; set PICLOUD_CONFIG")?)
                .join(".config")
        }
    };
    Ok(base.join("picloud").join("config.toml"))
}

impl ClientConfig {
    /// The stored config, or an empty one when there is no file yet.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                toml::from_str(&text).with_context(|| format!("reading {}", path.display()))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(ClientConfig::default()),
            Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Writes the config readable by its owner only (it holds a token).
    pub(crate) fn save(&self, path: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = toml::to_string(self)?;
        let tmp = path.with_extension("toml.tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

/// An authenticated admin API client.
pub(crate) struct Client {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Client {
    /// From explicit values, falling back to the config file.
    pub(crate) fn new(url: Option<String>, token: Option<String>) -> anyhow::Result<Self> {
        let stored = ClientConfig::load(&config_path()?)?;
        let url = url
            .or(stored.url)
            .context("no server: run `picloud login <url>`, or pass --url / set PICLOUD_URL")?;
        let token = token.or(stored.token).context(
            "no API token: run `picloud login <url>`, or pass --token / set PICLOUD_TOKEN",
        )?;
        Ok(Client {
            http: http_client()?,
            url: url.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// Calls the admin API; a non-2xx answer becomes an error carrying the
    /// server's code and message.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}/api/v1/admin{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("reaching {}", self.url))?;
        answer(method, path, response).await
    }
}

fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("picloud-cli/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

async fn answer(method: Method, path: &str, response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    // The server followed an old app slug (or warns of something else the
    // user should change): say so, without failing the command.
    for warning in response.headers().get_all(reqwest::header::WARNING) {
        if let Ok(warning) = warning.to_str() {
            eprintln!("warning: {warning}");
        }
    }
    let text = response.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let code = body["error"]["code"].as_str().unwrap_or("error");
    let message = body["error"]["message"].as_str().unwrap_or(text.as_str());
    // A refused manifest lists every problem, one per line.
    let problems: Vec<String> = body["error"]["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let at = [p["line"].as_u64(), p["column"].as_u64()]
                .into_iter()
                .map_while(|n| n.map(|n| format!(":{n}")))
                .collect::<String>();
            let key = p["key"]
                .as_str()
                .map(|k| format!(" ({k})"))
                .unwrap_or_default();
            format!(
                "\n  {}{at}{key}: {} [{}]",
                p["file"].as_str().unwrap_or(""),
                p["message"].as_str().unwrap_or(""),
                p["code"].as_str().unwrap_or("")
            )
        })
        .collect();
    if !problems.is_empty() {
        bail!(
            "{method} {path}: {} {code}: nothing was changed; {} problem(s):{}",
            status.as_u16(),
            problems.len(),
            problems.concat()
        )
    }
    bail!("{method} {path}: {} {code}: {message}", status.as_u16())
}

/// `picloud login <url>`: checks the credentials and stores URL and token.
/// With `--username`, signs in with the password (stdin, or a prompt) and
/// creates an API token for this machine, so the password is never stored.
pub(crate) async fn login(
    url: &str,
    token: Option<String>,
    username: Option<String>,
) -> anyhow::Result<()> {
    let url = url.trim_end_matches('/').to_owned();
    let http = http_client()?;
    let token = match (token, username) {
        (Some(token), _) => token,
        (None, Some(username)) => token_from_password(&http, &url, &username).await?,
        (None, None) => bail!("pass --token <API token> or --username <name>"),
    };
    let me = answer(
        Method::GET,
        "/auth/me",
        http.get(format!("{url}/api/v1/admin/auth/me"))
            .bearer_auth(&token)
            .send()
            .await
            .with_context(|| format!("reaching {url}"))?,
    )
    .await?;
    let path = config_path()?;
    ClientConfig {
        url: Some(url.clone()),
        token: Some(token),
    }
    .save(&path)?;
    let who = me["user"]["username"].as_str().unwrap_or("an API token");
    println!(
        "signed in to {url} as {who}; credentials saved in {}",
        path.display()
    );
    Ok(())
}

async fn token_from_password(
    http: &reqwest::Client,
    url: &str,
    username: &str,
) -> anyhow::Result<String> {
    let password = read_secret(&format!("password for {username}: "))?;
    let response = http
        .post(format!("{url}/api/v1/admin/auth/login"))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .with_context(|| format!("reaching {url}"))?;
    let cookie = response
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    let session = answer(Method::POST, "/auth/login", response).await?;
    let cookie = cookie.context("the server set no session cookie")?;
    let csrf = session["csrf_token"].as_str().unwrap_or_default();
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "this machine".into());
    let created = answer(
        Method::POST,
        "/tokens",
        http.post(format!("{url}/api/v1/admin/tokens"))
            .header(reqwest::header::COOKIE, &cookie)
            .header("x-csrf-token", csrf)
            .json(&json!({ "name": format!("cli on {host}") }))
            .send()
            .await?,
    )
    .await?;
    // The session was only needed to mint the token.
    let _ = http
        .post(format!("{url}/api/v1/admin/auth/logout"))
        .header(reqwest::header::COOKIE, &cookie)
        .header("x-csrf-token", csrf)
        .send()
        .await;
    created["token"]
        .as_str()
        .map(str::to_owned)
        .context("the server returned no token")
}

/// A secret from a no-echo prompt on a terminal, else the first line of stdin.
fn read_secret(prompt: &str) -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        return Ok(rpassword::prompt_password(prompt)?);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Prints rows as aligned columns.
fn table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row);
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Every item of a paged list endpoint.
async fn all(client: &Client, path: &str, field: &str) -> anyhow::Result<Vec<Value>> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let separator = if path.contains('?') { '&' } else { '?' };
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}{separator}limit=500&cursor={c}"),
            None => format!("{path}{separator}limit=500"),
        };
        let page = client.call(Method::GET, &url, None).await?;
        items.extend(page[field].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(items),
        }
    }
}

/// Percent-encodes a query value.
pub(crate) fn q(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Prints `items` as JSON, or as a table of the given (header, field) columns.
fn print_list(items: &[Value], as_json: bool, columns: &[(&str, &str)]) -> anyhow::Result<()> {
    if as_json {
        println!("{}", serde_json::to_string_pretty(items)?);
        return Ok(());
    }
    let header: Vec<&str> = columns.iter().map(|(h, _)| *h).collect();
    let rows = items
        .iter()
        .map(|item| columns.iter().map(|(_, f)| text(&item[*f])).collect())
        .collect();
    table(&header, rows);
    Ok(())
}

/// `picloud apps list`.
pub(crate) async fn apps_list(client: &Client, as_json: bool) -> anyhow::Result<()> {
    let mut apps = all(client, "/apps", "apps").await?;
    if !as_json {
        // The table shows the claims as one comma-separated column.
        for app in &mut apps {
            let domains: Vec<String> = app["domains"]
                .as_array()
                .map(|d| d.iter().map(|d| text(&d["pattern"])).collect())
                .unwrap_or_default();
            app["domains"] = Value::String(domains.join(","));
        }
    }
    let columns = [
        ("SLUG", "slug"),
        ("NAME", "name"),
        ("DOMAINS", "domains"),
        ("ID", "id"),
    ];
    print_list(&apps, as_json, &columns)
}

/// `picloud scripts list [--app]`.
pub(crate) async fn scripts_list(
    client: &Client,
    app: Option<&str>,
    as_json: bool,
) -> anyhow::Result<()> {
    let path = match app {
        Some(app) => format!("/scripts?app={}", q(app)),
        None => "/scripts".into(),
    };
    let scripts = all(client, &path, "scripts").await?;
    let columns = [
        ("NAME", "name"),
        ("APP", "app_id"),
        ("UPDATED", "updated_at"),
        ("ID", "id"),
    ];
    print_list(&scripts, as_json, &columns)
}

/// `picloud domains list <app>`.
pub(crate) async fn domains_list(client: &Client, app: &str, as_json: bool) -> anyhow::Result<()> {
    let domains = all(client, &format!("/apps/{}/domains", q(app)), "domains").await?;
    let columns = [
        ("PATTERN", "pattern"),
        ("CREATED", "created_at"),
        ("ID", "id"),
    ];
    print_list(&domains, as_json, &columns)
}

/// `picloud domains add <app> <pattern> [--force]`.
pub(crate) async fn domains_add(
    client: &Client,
    app: &str,
    pattern: &str,
    force: bool,
) -> anyhow::Result<()> {
    let mut body = json!({ "pattern": pattern });
    if force {
        body["force"] = json!(true);
    }
    let created = client
        .call(
            Method::POST,
            &format!("/apps/{}/domains", q(app)),
            Some(body),
        )
        .await?;
    println!("app '{app}' now claims {}", text(&created["pattern"]));
    Ok(())
}

/// `picloud domains remove <app> <pattern>`: the claim is found by its
/// pattern, as listed (or as typed, normalized by the server).
pub(crate) async fn domains_remove(
    client: &Client,
    app: &str,
    pattern: &str,
) -> anyhow::Result<()> {
    let domains = all(client, &format!("/apps/{}/domains", q(app)), "domains").await?;
    let wanted = pattern.trim().trim_end_matches('.').to_ascii_lowercase();
    let Some(domain) = domains
        .iter()
        .find(|d| text(&d["pattern"]) == wanted || text(&d["id"]) == pattern)
    else {
        let claimed: Vec<String> = domains.iter().map(|d| text(&d["pattern"])).collect();
        bail!(
            "app '{app}' has no claim '{pattern}' (it claims: {})",
            if claimed.is_empty() {
                "nothing".to_owned()
            } else {
                claimed.join(", ")
            }
        );
    };
    client
        .call(
            Method::DELETE,
            &format!("/apps/{}/domains/{}", q(app), q(&text(&domain["id"]))),
            None,
        )
        .await?;
    println!("app '{app}' no longer claims {}", text(&domain["pattern"]));
    Ok(())
}

/// `picloud routes list --app`.
pub(crate) async fn routes_list(client: &Client, app: &str, as_json: bool) -> anyhow::Result<()> {
    let routes = all(client, &format!("/apps/{}/routes", q(app)), "routes").await?;
    let columns = [
        ("METHOD", "method"),
        ("HOST", "host"),
        ("PATH", "path"),
        ("SCRIPT", "script_id"),
    ];
    print_list(&routes, as_json, &columns)
}

/// `picloud deploy <file> --app <app> [--name] [--route 'GET /path']…`:
/// creates the script or updates its source, then adds the routes it does
/// not have yet. Safe to run again (CI-friendly).
pub(crate) async fn deploy(
    client: &Client,
    file: &Path,
    app: &str,
    name: Option<String>,
    routes: &[String],
    message: Option<String>,
) -> anyhow::Result<()> {
    let source =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let name = match name {
        Some(name) => name,
        None => file
            .file_stem()
            .and_then(|s| s.to_str())
            .context("cannot derive a script name from the file name; pass --name")?
            .to_owned(),
    };
    let parsed: Vec<(String, String)> = routes
        .iter()
        .map(|r| {
            r.trim()
                .split_once(char::is_whitespace)
                .map(|(m, p)| (m.to_uppercase(), p.trim().to_owned()))
                .with_context(|| format!("route '{r}' must look like 'GET /path'"))
        })
        .collect::<anyhow::Result<_>>()?;
    let existing = all(client, &format!("/scripts?app={}", q(app)), "scripts")
        .await?
        .into_iter()
        .find(|s| s["name"] == name.as_str());
    let script = match existing {
        Some(script) => {
            let id = text(&script["id"]);
            let before = script["version"].as_i64();
            let updated = client
                .call(
                    Method::PATCH,
                    &format!("/scripts/{id}"),
                    Some(with_message(json!({ "source": source }), message)),
                )
                .await?;
            match updated["version"].as_i64() {
                Some(version) if Some(version) != before => {
                    println!("updated script '{name}' ({id}) to version {version}");
                }
                _ => println!("script '{name}' ({id}) is unchanged"),
            }
            id
        }
        None => {
            let created = client
                .call(
                    Method::POST,
                    "/scripts",
                    Some(with_message(
                        json!({ "app_id": app, "name": name, "source": source }),
                        message,
                    )),
                )
                .await?;
            let id = text(&created["id"]);
            println!("created script '{name}' ({id})");
            id
        }
    };
    let have = all(client, &format!("/scripts/{script}/routes"), "routes").await?;
    for (method, path) in parsed {
        let present = have
            .iter()
            .any(|r| r["method"] == method.as_str() && r["path"] == path.as_str());
        if present {
            println!("route {method} {path} already points here");
            continue;
        }
        client
            .call(
                Method::POST,
                &format!("/scripts/{script}/routes"),
                Some(json!({ "method": method, "path": path })),
            )
            .await?;
        println!("added route {method} {path}");
    }
    Ok(())
}

/// `body` with `"message"` when there is one: left out otherwise, so that
/// a server from before versions (whose bodies refuse unknown fields)
/// still takes the call.
fn with_message(mut body: Value, message: Option<String>) -> Value {
    if let Some(message) = message {
        body["message"] = json!(message);
    }
    body
}

/// The app's script called `script` (or with that id).
async fn find_script(client: &Client, app: &str, script: &str) -> anyhow::Result<Value> {
    all(client, &format!("/scripts?app={}", q(app)), "scripts")
        .await?
        .into_iter()
        .find(|s| s["name"] == script || s["id"] == script)
        .with_context(|| format!("app '{app}' has no script '{script}'"))
}

/// `picloud scripts history <script> --app <app>`.
pub(crate) async fn scripts_history(
    client: &Client,
    app: &str,
    script: &str,
    as_json: bool,
) -> anyhow::Result<()> {
    let id = text(&find_script(client, app, script).await?["id"]);
    let versions = all(client, &format!("/scripts/{id}/versions"), "versions").await?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&versions)?);
        return Ok(());
    }
    for v in versions {
        let author = match text(&v["author"]) {
            a if a.is_empty() => "-".to_owned(),
            a => a,
        };
        println!(
            "{}{}\t{}\t{}\t{}\t{}",
            text(&v["version"]),
            if v["current"] == true { " *" } else { "" },
            text(&v["created_at"]),
            author,
            &text(&v["sha256"]).chars().take(12).collect::<String>(),
            v["message"].as_str().unwrap_or(""),
        );
    }
    Ok(())
}

/// `picloud scripts rollback <script> <n> --app <app>`.
pub(crate) async fn scripts_rollback(
    client: &Client,
    app: &str,
    script: &str,
    version: i64,
    message: Option<String>,
) -> anyhow::Result<()> {
    let found = find_script(client, app, script).await?;
    let (id, name) = (text(&found["id"]), text(&found["name"]));
    let updated = client
        .call(
            Method::POST,
            &format!("/scripts/{id}/rollback"),
            Some(with_message(json!({ "version": version }), message)),
        )
        .await?;
    if updated["version"] == found["version"] {
        println!("script '{name}' already runs the source of version {version}; nothing changed");
    } else {
        println!(
            "script '{name}' now runs the source of version {version}, as version {}",
            text(&updated["version"])
        );
    }
    Ok(())
}

/// `picloud logs --app <app> [--follow]`: the newest executions, oldest
/// first; with `--follow`, then every new one as the server writes it, over
/// the app's Server-Sent Events stream (no polling). A dropped connection
/// (or a stream that cut this reader off for falling behind) is resumed
/// from the last record printed, so nothing is skipped or printed twice.
pub(crate) async fn logs(
    client: &Client,
    app: &str,
    limit: u32,
    follow: bool,
) -> anyhow::Result<()> {
    let path = format!("/executions?app={}&limit={}", q(app), limit.clamp(1, 500));
    let page = client.call(Method::GET, &path, None).await?;
    let mut items = page["executions"].as_array().cloned().unwrap_or_default();
    items.reverse();
    // Resume point: the newest record printed; 0 (everything stored, which
    // is nothing newer) when there was none, so a record written between
    // the list and the stream is not missed.
    let mut last = 0;
    for e in &items {
        last = last.max(e["seq"].as_i64().unwrap_or(0));
        let id = text(&e["id"]);
        // The script's log lines live in the execution's detail.
        let detail = client
            .call(Method::GET, &format!("/executions/{id}"), None)
            .await?;
        print_execution(&detail);
    }
    if !follow {
        return Ok(());
    }
    let stream = format!("/apps/{}/executions/stream", q(app));
    let mut backoff = Duration::from_millis(250);
    loop {
        match client
            .follow(&stream, last, |event, data| {
                let record: Value = serde_json::from_str(data).unwrap_or(Value::Null);
                match event {
                    "execution" => {
                        last = last.max(record["seq"].as_i64().unwrap_or(last));
                        print_execution(&record);
                    }
                    "dropped" => {
                        eprintln!("picloud: {}; resuming", text(&record["error"]["message"]))
                    }
                    _ => {}
                }
            })
            .await
        {
            // The server ended the stream (it dropped this reader, or is
            // stopping): reconnect at once.
            Ok(()) => backoff = Duration::from_millis(250),
            Err(err) if err.downcast_ref::<ApiError>().is_some() => return Err(err),
            Err(err) => {
                eprintln!("picloud: the log stream was interrupted ({err:#}); reconnecting");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

fn print_execution(e: &Value) {
    let error = match &e["error"] {
        Value::Null => String::new(),
        err => format!(" {}: {}", text(&err["code"]), text(&err["message"])),
    };
    println!(
        "{} {} {} {} {}ms{error}",
        text(&e["started_at"]),
        text(&e["status"]),
        text(&e["method"]),
        text(&e["path"]),
        text(&e["duration_ms"]),
    );
    for line in e["logs"].as_array().cloned().unwrap_or_default() {
        println!("    [{}] {}", text(&line["level"]), text(&line["message"]));
    }
}

/// The server refused a request (a 4xx or 5xx with the API's error body):
/// retrying the same request would not help.
#[derive(Debug)]
struct ApiError(String);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ApiError {}

/// One Server-Sent Events stream, split into events (WHATWG HTML,
/// "Server-sent events": `field: value` lines, a blank line ends an event,
/// `:` lines are comments).
#[derive(Debug, Default)]
struct SseParser {
    buffer: Vec<u8>,
    event: String,
    data: Vec<String>,
}

impl SseParser {
    /// Feeds bytes as they arrive; calls `on_event(type, data)` for each
    /// complete event.
    fn feed(&mut self, bytes: &[u8], on_event: &mut impl FnMut(&str, &str)) {
        self.buffer.extend_from_slice(bytes);
        while let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
            let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            let line = String::from_utf8_lossy(&line);
            if line.is_empty() {
                if !self.data.is_empty() {
                    let kind = if self.event.is_empty() {
                        "message"
                    } else {
                        self.event.as_str()
                    };
                    on_event(kind, &self.data.join("\n"));
                }
                self.event.clear();
                self.data.clear();
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((&line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.event = value.to_owned(),
                "data" => self.data.push(value.to_owned()),
                _ => {}
            }
        }
    }
}

impl Client {
    /// Reads the admin API's event stream at `path` from after event
    /// `last`, calling `on_event` per event, until the server ends it.
    async fn follow(
        &self,
        path: &str,
        last: i64,
        mut on_event: impl FnMut(&str, &str),
    ) -> anyhow::Result<()> {
        // No overall timeout (the stream is meant to last); a connection
        // that goes silent past three keep-alive intervals is dead.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(45))
            .user_agent(concat!("picloud-cli/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut response = http
            .get(format!("{}/api/v1/admin{path}", self.url))
            .bearer_auth(&self.token)
            .header("last-event-id", last.to_string())
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send()
            .await
            .with_context(|| format!("reaching {}", self.url))?;
        if !response.status().is_success() {
            let err = answer(Method::GET, path, response).await.unwrap_err();
            return Err(ApiError(format!("{err:#}")).into());
        }
        let mut parser = SseParser::default();
        while let Some(chunk) = response.chunk().await? {
            parser.feed(&chunk, &mut on_event);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_are_split_whatever_the_chunking() {
        let stream = b": keep-alive\n\nid: 7\nevent: execution\ndata: {\"seq\":7}\n\n\
                       event: dropped\r\ndata: a\r\ndata: b\r\n\r\ndata: plain\n\n";
        for size in [1, 3, stream.len()] {
            let mut parser = SseParser::default();
            let mut events = Vec::new();
            for chunk in stream.chunks(size) {
                parser.feed(chunk, &mut |kind: &str, data: &str| {
                    events.push((kind.to_owned(), data.to_owned()));
                });
            }
            assert_eq!(
                events,
                [
                    ("execution".into(), "{\"seq\":7}".into()),
                    ("dropped".into(), "a\nb".into()),
                    ("message".into(), "plain".into()),
                ],
                "chunks of {size}"
            );
        }
    }
}
