//! `picloud`: the all-in-one server, its operator commands (run on the
//! server, against its database) and client commands (run anywhere, against
//! a server's admin API).

mod client;
mod folder;
mod healthcheck;
mod init;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use manager_core::{DocsQuota, KvQuota};
use picloud::{Server, ServerConfig};

/// PiCloud: Rhai scripts behind HTTP routes, each run in a fresh WebAssembly sandbox.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
    #[command(flatten)]
    remote: RemoteArgs,
}

/// Where client commands send their requests.
#[derive(Debug, clap::Args)]
struct RemoteArgs {
    /// Server URL for client commands (default: the one `picloud login` saved).
    #[arg(long, env = "PICLOUD_URL", global = true)]
    url: Option<String>,
    /// API token for client commands (default: the one `picloud login` saved).
    #[arg(long, env = "PICLOUD_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// Print lists as JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

impl RemoteArgs {
    fn client(&self) -> anyhow::Result<client::Client> {
        client::Client::new(self.url.clone(), self.token.clone())
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default when no command is given).
    Serve,
    /// Create another admin API token and print it once.
    CreateToken {
        /// A name to recognize the token by.
        #[arg(long, default_value = "cli")]
        name: String,
        /// `admin` (the admin API) or `metrics` (only `GET /metrics`, for a
        /// Prometheus scraper).
        #[arg(long, default_value = "admin", value_parser = ["admin", "metrics"])]
        scope: String,
        /// Limit the token to this one app (slug or id), with `--role`: a
        /// CI deploy token that cannot see or touch any other app.
        #[arg(long, requires = "role")]
        app: Option<String>,
        /// The token's role on `--app`.
        #[arg(long, requires = "app", value_parser = ["owner", "developer", "viewer"])]
        role: Option<String>,
    },
    /// List or revoke admin API tokens (on the server, against its database).
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Manage admin users (on the server, against its database).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Copy the SQLite database to a new file while the server runs (a
    /// consistent snapshot; PostgreSQL: use pg_dump, docs/deploy.md).
    Backup {
        /// The backup file to create (it must not exist).
        file: PathBuf,
    },
    /// Replace a stopped server's SQLite database with a backup, after
    /// checking it (integrity, schema, secret key); the replaced database
    /// is kept beside it.
    Restore {
        /// A file made by `picloud backup`.
        file: PathBuf,
    },
    /// Export or import one app's data (key-value entries, documents,
    /// variables; secrets by name only) as JSON lines, to move it to another
    /// server or app.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Print the server configuration this command line and environment give
    /// (secrets masked).
    Config,
    /// Print the admin API's OpenAPI 3.1 document (what the server serves at
    /// /api/v1/openapi.json), for generating clients.
    Openapi,
    /// Client: sign in to a server and save its URL and an API token in the
    /// config file (~/.config/picloud/config.toml, or PICLOUD_CONFIG).
    Login {
        /// Server URL, e.g. https://pi.example.com.
        server: String,
        /// Username; the password is prompted for (or read from stdin) and an
        /// API token is created for this machine. Without it, pass --token.
        #[arg(long)]
        username: Option<String>,
    },
    /// Client: list apps.
    Apps {
        #[command(subcommand)]
        command: ListCommand,
    },
    /// Client: list scripts.
    Scripts {
        #[command(subcommand)]
        command: ScriptsCommand,
    },
    /// Client: list, add or remove an app's domain claims (the hosts it
    /// answers on), e.g. `picloud domains add default raspberrypi.local`.
    Domains {
        #[command(subcommand)]
        command: DomainsCommand,
    },
    /// Client: list an app's routes.
    Routes {
        #[command(subcommand)]
        command: RoutesCommand,
    },
    /// Client: deploy a folder (its picloud.toml and the scripts it names,
    /// docs/manifest.md), or upload one script (create or update by name)
    /// and bind routes.
    Deploy {
        /// A folder with a picloud.toml, or a .rhai file.
        file: PathBuf,
        /// App id or slug (a folder: deploy under this slug instead of the
        /// manifest's, e.g. a staging copy).
        #[arg(long)]
        app: Option<String>,
        /// A folder: print the plan and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// A folder: also delete what the manifest no longer names.
        #[arg(long)]
        prune: bool,
        /// Script name (default: the file name without extension).
        #[arg(long)]
        name: Option<String>,
        /// A route to bind, like 'GET /hello' (repeatable); existing ones are kept.
        #[arg(long = "route")]
        routes: Vec<String>,
        /// A message recorded with the version this deploy makes.
        #[arg(short = 'm', long)]
        message: Option<String>,
    },
    /// Start an app from one of the example apps: copies it into a new
    /// folder to edit and `picloud deploy` (templates: guestbook,
    /// link-shortener, webhook-inbox).
    Init {
        /// The folder to create (it must not exist, or be empty).
        dir: PathBuf,
        /// The example to start from: guestbook, link-shortener or
        /// webhook-inbox.
        #[arg(long)]
        template: String,
    },
    /// Client: write an app as a folder (picloud.toml and its scripts) that
    /// `picloud deploy` takes back.
    Export {
        /// App id or slug.
        app: String,
        /// The folder to write (created if needed; files in it are replaced).
        dir: PathBuf,
    },
    /// Print the JSON Schema of picloud.toml (what the server serves at
    /// /api/v1/schemas/manifest.json).
    ManifestSchema,
    /// Print the role matrix of docs/api.md (who may call which admin
    /// endpoint), from the table the server decides requests with.
    RoleMatrix,
    /// Client: print an app's recent executions with their log lines.
    Logs {
        /// App id or slug.
        #[arg(long)]
        app: String,
        /// How many recent executions to show first.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Keep printing new executions until interrupted.
        #[arg(long, short)]
        follow: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Probe a running server: exit 0 if its `/healthz` answers 200, else
    /// print why and exit 1 (the Docker image's HEALTHCHECK).
    Healthcheck {
        /// The URL to probe (default: /healthz on the --listen address, with
        /// 0.0.0.0 or [::] replaced by loopback).
        // Positional, not `--url`: that global flag (and PICLOUD_URL) names
        // the server of client commands, which this probe must not follow.
        #[arg(value_name = "URL")]
        target: Option<String>,
        /// How long to wait for the answer (e.g. 5s).
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
}

#[derive(Debug, Subcommand)]
enum ListCommand {
    /// List them.
    List,
}

#[derive(Debug, Subcommand)]
enum ScriptsCommand {
    /// List scripts, all or one app's.
    List {
        /// App id or slug.
        #[arg(long)]
        app: Option<String>,
    },
    /// A script's versions, newest first: number, when, who, message.
    History {
        /// Script name (or id).
        script: String,
        /// App id or slug.
        #[arg(long)]
        app: String,
    },
    /// Run an earlier version's source again, as a new version.
    Rollback {
        /// Script name (or id).
        script: String,
        /// The version to go back to.
        version: i64,
        /// App id or slug.
        #[arg(long)]
        app: String,
        /// A message recorded with the new version.
        #[arg(short = 'm', long)]
        message: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum DomainsCommand {
    /// List an app's claims.
    List {
        /// App id or slug.
        app: String,
    },
    /// Claim a host, or a pattern like '{tenant}.example.com', for an app.
    Add {
        /// App id or slug.
        app: String,
        /// The host or pattern (no port).
        pattern: String,
        /// Claim it even if other apps' host-scoped routes would no longer
        /// be reached.
        #[arg(long)]
        force: bool,
    },
    /// Drop one of an app's claims.
    Remove {
        /// App id or slug.
        app: String,
        /// The claimed host or pattern, as listed.
        pattern: String,
    },
}

#[derive(Debug, Subcommand)]
enum RoutesCommand {
    /// List an app's routes.
    List {
        /// App id or slug.
        #[arg(long)]
        app: String,
    },
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Write the app's data to a file (`-` for standard output).
    Export {
        /// App id or slug.
        app: String,
        /// The file to write.
        file: PathBuf,
    },
    /// Add the data in an export to the app (same keys, ids and names are
    /// replaced), all or nothing; prints the secrets to set again.
    Import {
        /// App id or slug.
        app: String,
        /// A file made by `picloud data export` (`-` for standard input).
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum TokensCommand {
    /// List tokens (id, name, scope, user, created, last used, and the
    /// `app:role` a token is limited to); never the secrets.
    List,
    /// Revoke a token by id; it stops working at once.
    Revoke {
        /// Token id (from `picloud tokens list`).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Create an admin user. The password is read from the first line of
    /// standard input, or generated and printed once when stdin is a terminal
    /// or empty.
    Create {
        /// Login name: 1-64 of a-z 0-9 . _ - @.
        username: String,
        /// Not a server admin: the user can do only what the roles given
        /// per app allow (docs/api.md, "Roles").
        #[arg(long)]
        no_server_admin: bool,
    },
    /// List users.
    List,
    /// Set a user's password (read from standard input like `create`) and
    /// end their sessions.
    SetPassword {
        /// Username or id.
        username: String,
    },
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// A TOML file of server settings, keyed by these options' long names
    /// (`listen = "0.0.0.0:8080"`, `data_dir = "/var/lib/picloud"`). Flags
    /// and environment variables take precedence over it.
    #[arg(long, env = "PICLOUD_CONFIG_FILE", global = true)]
    config_file: Option<PathBuf>,
    /// Address to listen on.
    #[arg(
        long,
        env = "PICLOUD_LISTEN",
        default_value = "0.0.0.0:8080",
        global = true
    )]
    listen: SocketAddr,
    /// Directory for the SQLite database and the compiled-guest cache.
    #[arg(
        long,
        env = "PICLOUD_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    data_dir: PathBuf,
    /// Database URL (sqlite://… or postgres://…); default: SQLite in the data directory.
    #[arg(long, env = "PICLOUD_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// Admin token to create on a fresh install (otherwise one is generated and shown once).
    #[arg(
        long,
        env = "PICLOUD_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    admin_token: Option<String>,
    /// First admin user to create on an install without users (with
    /// PICLOUD_ADMIN_PASSWORD). There is never a default password.
    #[arg(long, env = "PICLOUD_ADMIN_USER", global = true)]
    admin_user: Option<String>,
    /// Password for PICLOUD_ADMIN_USER (at least 12 characters).
    #[arg(
        long,
        env = "PICLOUD_ADMIN_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    admin_password: Option<String>,
    /// How long a dashboard sign-in lasts (e.g. 12h, 30m, 7d).
    #[arg(long, env = "PICLOUD_SESSION_TTL", default_value = "12h", value_parser = humantime::parse_duration, global = true)]
    session_ttl: std::time::Duration,
    /// Versions kept per script: the newest N (never fewer than the one it
    /// runs). Default: every version.
    #[arg(long, env = "PICLOUD_VERSIONS_KEEP", value_parser = clap::value_parser!(u64).range(1..), global = true)]
    versions_keep: Option<u64>,
    /// A dashboard sign-in unused for this long ends before its TTL (e.g.
    /// 2h, 30m); 0 turns the idle timeout off.
    #[arg(long, env = "PICLOUD_SESSION_IDLE_TIMEOUT", default_value = "2h", value_parser = humantime::parse_duration, global = true)]
    session_idle_timeout: std::time::Duration,
    /// Execution-log records kept per app (the newest).
    #[arg(
        long,
        env = "PICLOUD_LOG_MAX_PER_APP",
        default_value_t = 10_000,
        global = true
    )]
    log_max_per_app: u64,
    /// Execution-log records older than this are removed (e.g. 30d, 12h).
    #[arg(long, env = "PICLOUD_LOG_MAX_AGE", default_value = "30d", value_parser = humantime::parse_duration, global = true)]
    log_max_age: std::time::Duration,
    /// The URL users reach PiCloud at (shown by /version).
    #[arg(long, env = "PICLOUD_PUBLIC_BASE_URL", global = true)]
    public_base_url: Option<String>,
    /// Largest admin API request body (e.g. 1MiB, 512KiB); larger ones get 413.
    #[arg(
        long,
        env = "PICLOUD_MAX_BODY",
        default_value = "1MiB",
        value_parser = parse_body_size,
        global = true
    )]
    max_body: usize,
    /// Time a client has to send a request's headers (e.g. 10s); then the connection closes.
    #[arg(long, env = "PICLOUD_HEADER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration, global = true)]
    header_timeout: std::time::Duration,
    /// Longest pause within a request body (e.g. 30s); then 408.
    #[arg(long, env = "PICLOUD_BODY_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration, global = true)]
    body_timeout: std::time::Duration,
    /// How long a graceful stop waits for in-flight requests (e.g. 30s).
    #[arg(long, env = "PICLOUD_SHUTDOWN_GRACE", default_value = "30s", value_parser = humantime::parse_duration, global = true)]
    shutdown_grace: std::time::Duration,
    /// Executions that may run at once (also the pooled instance slots).
    #[arg(
        long,
        env = "PICLOUD_MAX_CONCURRENT",
        default_value_t = 16,
        global = true
    )]
    max_concurrent: u32,
    /// Executions one app may run at once (its fair share); beyond it, its
    /// requests wait in its own queue, then get 503 app_overloaded. Default:
    /// half of --max-concurrent, at least 1.
    #[arg(long, env = "PICLOUD_MAX_CONCURRENT_PER_APP", global = true)]
    max_concurrent_per_app: Option<u32>,
    /// Requests of one app that may wait once it runs its share; beyond
    /// them, 503 app_overloaded at once (waiting is also bounded by the
    /// script's deadline).
    #[arg(
        long,
        env = "PICLOUD_MAX_QUEUED_PER_APP",
        default_value_t = executor_core::DEFAULT_MAX_QUEUED_PER_APP,
        global = true
    )]
    max_queued_per_app: u32,
    /// How many levels `invoke()` may nest below a request's script; one
    /// level deeper is an `invoke_depth_exceeded` error for the caller.
    #[arg(
        long,
        env = "PICLOUD_MAX_INVOKE_DEPTH",
        default_value_t = executor_core::DEFAULT_MAX_INVOKE_DEPTH,
        value_parser = clap::value_parser!(u32).range(0..=16),
        global = true
    )]
    max_invoke_depth: u32,
    /// `invoke()` calls one execution may make; one more is an
    /// `invoke_limit_exceeded` error for the caller.
    #[arg(
        long,
        env = "PICLOUD_MAX_INVOKES",
        default_value_t = executor_core::DEFAULT_MAX_INVOKES,
        value_parser = clap::value_parser!(u32).range(0..=1000),
        global = true
    )]
    max_invokes: u32,
    /// Most keys each app's key-value store may hold.
    #[arg(
        long,
        env = "PICLOUD_KV_MAX_KEYS",
        default_value_t = KvQuota::default().max_keys,
        global = true
    )]
    kv_max_keys: u64,
    /// Most bytes (keys plus values) each app's key-value store may hold (e.g. 64MiB).
    #[arg(long, env = "PICLOUD_KV_MAX_TOTAL", default_value = "64MiB", value_parser = parse_size, global = true)]
    kv_max_total: u64,
    /// Largest key-value value, as JSON (e.g. 256KiB).
    #[arg(long, env = "PICLOUD_KV_MAX_VALUE", default_value = "256KiB", value_parser = parse_size, global = true)]
    kv_max_value: u64,
    /// Longest key-value key, in bytes.
    #[arg(
        long,
        env = "PICLOUD_KV_MAX_KEY",
        default_value_t = KvQuota::default().max_key_bytes,
        global = true
    )]
    kv_max_key: u64,
    /// Most documents each app's collections may hold.
    #[arg(
        long,
        env = "PICLOUD_DOCS_MAX_DOCUMENTS",
        default_value_t = DocsQuota::default().max_documents,
        global = true
    )]
    docs_max_documents: u64,
    /// Most bytes each app's documents may hold in all (e.g. 256MiB).
    #[arg(long, env = "PICLOUD_DOCS_MAX_TOTAL", default_value = "256MiB", value_parser = parse_size, global = true)]
    docs_max_total: u64,
    /// Largest document, as JSON (e.g. 1MiB).
    #[arg(long, env = "PICLOUD_DOCS_MAX_DOCUMENT", default_value = "1MiB", value_parser = parse_size, global = true)]
    docs_max_document: u64,
    /// Let scripts call private, loopback and link-local addresses (a home
    /// server talking to devices on its LAN). Off: such addresses are refused
    /// after DNS resolution, whatever an app's allow-list says.
    #[arg(long, env = "PICLOUD_HTTP_ALLOW_PRIVATE", global = true)]
    http_allow_private: bool,
    /// Longest wait for one outbound response (e.g. 10s).
    #[arg(long, env = "PICLOUD_HTTP_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration, global = true)]
    http_timeout: std::time::Duration,
    /// Largest outbound response body a script may receive (e.g. 4MiB).
    #[arg(long, env = "PICLOUD_HTTP_MAX_RESPONSE", default_value = "4MiB", value_parser = parse_size, global = true)]
    http_max_response: u64,
    /// Outbound requests one execution may make.
    #[arg(
        long,
        env = "PICLOUD_HTTP_MAX_CALLS",
        default_value_t = 20,
        global = true
    )]
    http_max_calls: u32,
    /// The key that encrypts app secrets at rest: 64 hex digits (`openssl rand
    /// -hex 32`). Without it, the key in <data-dir>/secret.key, created on
    /// first start. Every process of a cluster needs the same key.
    #[arg(
        long,
        env = "PICLOUD_SECRET_KEY",
        hide_env_values = true,
        global = true
    )]
    secret_key: Option<String>,
    /// Hosts that serve the dashboard and the admin API, comma-separated,
    /// without ports; no app may claim them and no app is served on them
    /// (docs/security.md). Default: the loopback addresses.
    #[arg(
        long,
        env = "PICLOUD_ADMIN_HOSTS",
        default_value = shared::DEFAULT_ADMIN_HOSTS,
        value_parser = shared::AdminHosts::parse,
        global = true
    )]
    admin_hosts: shared::AdminHosts,
    /// Proxies whose X-Forwarded-For/-Proto/-Host are believed (addresses or
    /// CIDR blocks, comma-separated): they give `request.url`,
    /// `request.client_ip` and the sign-in throttle's address. Default: this
    /// machine (loopback).
    #[arg(
        long,
        env = "PICLOUD_TRUSTED_PROXIES",
        default_value = shared::DEFAULT_TRUSTED_PROXIES,
        value_parser = shared::TrustedProxies::parse,
        global = true
    )]
    trusted_proxies: shared::TrustedProxies,
    /// Also serve `GET /metrics` on this address, without authentication:
    /// bind it to a private network or loopback only (docs/operations.md).
    /// `/metrics` on an admin host needs an admin or metrics-only token.
    #[arg(long, env = "PICLOUD_METRICS_LISTEN", global = true)]
    metrics_listen: Option<SocketAddr>,
    /// Request headers whose values execution records store as
    /// `[redacted]`, comma-separated, on top of `authorization`, `cookie`,
    /// `proxy-authorization` and `set-cookie`, which always are.
    #[arg(
        long,
        env = "PICLOUD_REDACT_HEADERS",
        default_value = "",
        value_parser = picloud_node::process::parse_header_names,
        global = true
    )]
    redact_headers: HeaderNames,
    #[command(flatten)]
    mail: picloud::MailArgs,
}

/// A comma-separated list of header names, lower-case.
type HeaderNames = picloud_node::process::HeaderNames;

/// Parses the command line, with the settings file (`--config-file` or
/// `PICLOUD_CONFIG_FILE`) as defaults: clap then applies flag, environment,
/// file, built-in default, in that order.
fn parse_cli() -> anyhow::Result<Cli> {
    use clap::{CommandFactory, FromArgMatches};
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut command = Cli::command();
    if let Some(path) = config_file_arg(&args) {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the settings file {}", path.display()))?;
        let table: toml::Table = toml::from_str(&text)
            .with_context(|| format!("parsing the settings file {}", path.display()))?;
        let settable: Vec<String> = command
            .get_arguments()
            .filter(|arg| arg.get_long().is_some() && arg.get_env().is_some())
            .map(|arg| arg.get_id().to_string())
            .filter(|id| id != "config_file")
            .collect();
        for (key, value) in table {
            let id = key.replace('-', "_");
            if !settable.contains(&id) {
                anyhow::bail!(
                    "{}: unknown setting '{key}'; known: {}",
                    path.display(),
                    settable.join(", ")
                );
            }
            let value = match value {
                toml::Value::String(text) => text,
                toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                    value.to_string()
                }
                other => anyhow::bail!(
                    "{}: setting '{key}' must be a string, number or boolean, not {}",
                    path.display(),
                    other.type_str()
                ),
            };
            command = command.mut_arg(id, |arg| arg.default_value(value));
        }
    }
    Ok(Cli::from_arg_matches(&command.get_matches_from(args))?)
}

/// The settings file named on the command line or in the environment; found
/// before clap parses, because its contents become clap's defaults.
fn config_file_arg(args: &[std::ffi::OsString]) -> Option<PathBuf> {
    let mut iter = args.iter().skip(1);
    while let Some(arg) = iter.next() {
        let arg = arg.to_string_lossy();
        if arg == "--" {
            break;
        }
        if arg == "--config-file" {
            return iter.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config-file=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("PICLOUD_CONFIG_FILE")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
}

/// Parses a size such as `1MiB`, `512 KiB` or `65536`. The floor keeps an
/// operator's typo (`1K`) from refusing every script upload.
fn parse_size(text: &str) -> Result<u64, String> {
    let size: bytesize::ByteSize = text.parse()?;
    if size.as_u64() == 0 {
        return Err(format!("{text} is not a usable limit"));
    }
    Ok(size.as_u64())
}

fn parse_body_size(text: &str) -> Result<usize, String> {
    let size: bytesize::ByteSize = text.parse()?;
    let bytes = usize::try_from(size.as_u64()).map_err(|_| format!("{text} is too large"))?;
    if bytes < 64 * 1024 {
        return Err(format!("{text} is below the smallest allowed limit, 64KiB"));
    }
    Ok(bytes)
}

impl ServeArgs {
    fn first_user(&self) -> anyhow::Result<Option<(String, String)>> {
        match (&self.admin_user, &self.admin_password) {
            (Some(user), Some(password)) => Ok(Some((user.clone(), password.clone()))),
            (None, None) => Ok(None),
            (Some(_), None) => {
                anyhow::bail!("PICLOUD_ADMIN_USER is set but PICLOUD_ADMIN_PASSWORD is not")
            }
            (None, Some(_)) => {
                anyhow::bail!("PICLOUD_ADMIN_PASSWORD is set but PICLOUD_ADMIN_USER is not")
            }
        }
    }

    async fn store(&self) -> anyhow::Result<manager_core::Store> {
        std::fs::create_dir_all(&self.data_dir)?;
        let db = manager_core::Db::connect(&self.database_url())
            .await
            .context("opening the database")?;
        Ok(manager_core::Store::new(db))
    }

    /// The key-value and document quotas every app gets.
    fn quotas(&self) -> (KvQuota, DocsQuota) {
        (
            KvQuota {
                max_key_bytes: self.kv_max_key,
                max_value_bytes: self.kv_max_value,
                max_keys: self.kv_max_keys,
                max_total_bytes: self.kv_max_total,
            },
            DocsQuota {
                max_document_bytes: self.docs_max_document,
                max_documents: self.docs_max_documents,
                max_total_bytes: self.docs_max_total,
            },
        )
    }

    /// The SQLite database file: the URL's path, or picloud.db in the data
    /// directory.
    fn sqlite_path(&self) -> PathBuf {
        match self.database_url.as_deref() {
            Some(url) => {
                let path = url
                    .trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:");
                PathBuf::from(path.split('?').next().unwrap_or(path))
            }
            None => self.data_dir.join("picloud.db"),
        }
    }

    /// The secret key the server would use, if there is one: never creates
    /// one (a backup or restore must not invent a key).
    fn existing_secret_key(&self) -> anyhow::Result<Option<manager_core::SecretKey>> {
        if let Some(hex) = &self.secret_key {
            return Ok(Some(
                manager_core::SecretKey::from_hex(hex).context("PICLOUD_SECRET_KEY")?,
            ));
        }
        let file = self.data_dir.join("secret.key");
        if !file.exists() {
            return Ok(None);
        }
        Ok(Some(manager_core::SecretKey::load_or_create(&file)?))
    }

    fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("picloud.db").display()))
    }
}

/// The app `app` names (id, slug or an old slug) in `store`.
async fn operator_app(store: &manager_core::Store, app: &str) -> anyhow::Result<shared::AppId> {
    use manager_core::store::AppRef;
    Ok(match store.resolve_app(app).await? {
        AppRef::Found(app) => app.id,
        AppRef::Renamed { current_slug } => {
            eprintln!("note: '{app}' is an old name of the app now called '{current_slug}'");
            store.app(&current_slug).await?.id
        }
    })
}

/// `picloud data export|import`.
async fn data(args: &ServeArgs, command: DataCommand) -> anyhow::Result<()> {
    use std::io::Write as _;
    let store = args.store().await?;
    match command {
        DataCommand::Export { app, file } => {
            let app_id = operator_app(&store, &app).await?;
            let summary = if file.as_os_str() == "-" {
                let mut out = std::io::BufWriter::new(std::io::stdout());
                let summary = store.export_app_data(app_id, &mut out).await?;
                out.flush()?;
                summary
            } else {
                // A new file only: an export never overwrites one.
                let created = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&file)
                    .with_context(|| format!("creating {}", file.display()))?;
                let mut out = std::io::BufWriter::new(created);
                let summary = store.export_app_data(app_id, &mut out).await?;
                out.into_inner()
                    .map_err(|err| err.into_error())?
                    .sync_all()?;
                summary
            };
            eprintln!(
                "exported {} key-value entries, {} documents, {} variables and {} secret names",
                summary.kv, summary.documents, summary.variables, summary.secrets
            );
        }
        DataCommand::Import { app, file } => {
            let app_id = operator_app(&store, &app).await?;
            let quotas = args.quotas();
            let summary = if file.as_os_str() == "-" {
                store
                    .import_app_data(app_id, std::io::stdin().lock(), &quotas.0, &quotas.1)
                    .await?
            } else {
                let input = std::fs::File::open(&file)
                    .with_context(|| format!("opening {}", file.display()))?;
                store
                    .import_app_data(app_id, std::io::BufReader::new(input), &quotas.0, &quotas.1)
                    .await?
            };
            println!(
                "imported {} key-value entries ({} had expired), {} documents and {} variables from app '{}' (exported {})",
                summary.kv,
                summary.kv_expired,
                summary.documents,
                summary.variables,
                summary.source_app,
                summary.exported_at
            );
            if !summary.secrets.is_empty() {
                println!(
                    "secrets are never exported; set these again: {}",
                    summary.secrets.join(", ")
                );
            }
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    picloud_node::process::init_tracing();
    let cli = parse_cli()?;
    let args = cli.serve;
    let remote = cli.remote;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let signal = picloud_node::process::shutdown_signal()?;
            let server = Server::start(ServerConfig {
                control: picloud::ControlConfig {
                    database_url: args.database_url.clone(),
                    admin_token: args.admin_token.clone(),
                    admin_user: args.first_user()?,
                    public_base_url: args.public_base_url.clone(),
                    http: picloud::HttpLimits {
                        header_read_timeout: args.header_timeout,
                        body_read_timeout: args.body_timeout,
                        shutdown_grace: args.shutdown_grace,
                        ..Default::default()
                    },
                    secret_key: args.secret_key.clone(),
                    manager: picloud::ManagerConfig {
                        session_ttl: args.session_ttl,
                        session_idle_timeout: args.session_idle_timeout,
                        versions_keep: args.versions_keep,
                        log_max_per_app: args.log_max_per_app,
                        log_max_age: args.log_max_age,
                        max_body_bytes: args.max_body,
                        kv_quota: args.quotas().0,
                        docs_quota: args.quotas().1,
                        admin_hosts: args.admin_hosts.clone(),
                        trusted_proxies: args.trusted_proxies.clone(),
                        redact_headers: args.redact_headers.0.clone(),
                        email: args.mail.email()?,
                        smtp_in: args.mail.smtp_in(),
                        ..Default::default()
                    },
                    metrics_listen: args.metrics_listen,
                    ..picloud::ControlConfig::new(args.listen, args.data_dir.clone())
                },
                max_concurrent: args.max_concurrent,
                max_concurrent_per_app: args.max_concurrent_per_app,
                max_queued_per_app: args.max_queued_per_app,
                max_invoke_depth: args.max_invoke_depth,
                max_invokes: args.max_invokes,
                cache_dir: None,
                outbound: picloud::OutboundConfig {
                    allow_private: args.http_allow_private,
                    timeout: args.http_timeout,
                    max_response_bytes: args.http_max_response,
                    max_calls: args.http_max_calls,
                    ..Default::default()
                },
            })
            .await?;
            let mut banner = String::new();
            if let Some(token) = &server.generated_token {
                banner += &format!(
                    "\n  Your admin API token (shown once, only its hash is stored):\n\n    {token}\n\n  \
                     Use it as `Authorization: Bearer <token>`. Create more with `picloud create-token`.\n\n"
                );
            }
            // URLs that answer: the default app serves localhost, and the
            // dashboard lives on an admin host, never on an app's (ADR 006).
            let port = server.addr.port();
            let admin_host = &args.admin_hosts.hosts()[0];
            banner += &format!("PiCloud is listening on http://{}\n", server.addr);
            banner += &format!("  Hello World:  http://localhost:{port}/hello\n");
            if let Some(url) = &args.public_base_url {
                // The default app claims this URL's host at start.
                banner += &format!("  Hello World:  {}/hello\n", url.trim_end_matches('/'));
            }
            banner += &format!("  Dashboard:    http://{admin_host}:{port}/admin\n");
            if let Some(smtp) = server.smtp_addr {
                banner += &format!("  Inbound mail: smtp://{smtp}\n");
            }
            // One write, and never fatal: a supervisor that reads the first
            // line and closes the pipe must not take the server down with
            // it (`println!` panics on a broken pipe).
            let mut stdout = std::io::stdout().lock();
            let _ = std::io::Write::write_all(&mut stdout, banner.as_bytes())
                .and_then(|()| std::io::Write::flush(&mut stdout));
            drop(stdout);
            server.run_until(signal).await
        }
        Command::Backup { file } => {
            // As the server left it: a backup never migrates the database.
            let db = manager_core::Db::open_as_is(&args.database_url())
                .await
                .context("opening the database")?;
            let key = args.existing_secret_key()?;
            let info = db.backup(&file, key.as_ref()).await?;
            println!(
                "backed up {} apps (schema {}) to {}{}",
                info.apps,
                info.schema,
                file.display(),
                key.map(|k| format!(
                    "; secrets need the key with fingerprint {}",
                    k.fingerprint()
                ))
                .unwrap_or_default()
            );
            Ok(())
        }
        Command::Restore { file } => {
            if args
                .database_url
                .as_deref()
                .is_some_and(|url| !url.starts_with("sqlite:"))
            {
                anyhow::bail!(
                    "picloud restore replaces an SQLite database; restore PostgreSQL with \
                     pg_restore or psql (docs/deploy.md, \"Backup and restore\")"
                );
            }
            std::fs::create_dir_all(&args.data_dir)?;
            let _lock = manager_core::backup::lock_data_dir(&args.data_dir)?;
            let database = args.sqlite_path();
            let key = args.existing_secret_key()?;
            let restored = manager_core::backup::restore(&file, &database, key.as_ref()).await?;
            println!(
                "restored {} apps from {} into {}",
                restored.info.apps,
                file.display(),
                database.display()
            );
            if let Some(previous) = restored.previous {
                println!("the database it replaced is kept as {}", previous.display());
            }
            Ok(())
        }
        Command::Data { command } => data(&args, command).await,
        Command::CreateToken {
            name,
            scope,
            app,
            role,
        } => {
            let store = args.store().await?;
            let token = manager_core::store::generate_token();
            let scope = manager_core::store::TokenScope::parse(&scope)
                .expect("clap allows only the known scopes");
            let limit = match (app, role) {
                (Some(app), Some(role)) => Some((
                    store.app(&app).await?.id,
                    manager_core::store::Role::requested(&role)?,
                )),
                _ => None,
            };
            if limit.is_some() && scope == manager_core::store::TokenScope::Metrics {
                anyhow::bail!("a metrics token reads every app's numbers; it cannot have --app");
            }
            store
                .add_scoped_token(&name, &token, None, scope, limit)
                .await?;
            println!("{token}");
            Ok(())
        }
        Command::Users { command } => users(&args.store().await?, command).await,
        Command::Tokens { command } => {
            let store = args.store().await?;
            match command {
                TokensCommand::List => {
                    for t in store
                        .list_tokens(None, &manager_core::store::Page::all())
                        .await?
                    {
                        let limit = match (t.app_id, t.role) {
                            (Some(app), Some(role)) => {
                                format!("{}:{role}", store.app_by_id(app).await?.slug)
                            }
                            _ => "-".to_owned(),
                        };
                        println!(
                            "{}\t{}\t{}\t{}\t{}\t{}\t{limit}",
                            t.id,
                            t.name,
                            t.scope.as_str(),
                            t.user_id.as_deref().unwrap_or("-"),
                            t.created_at,
                            t.last_used_at.as_deref().unwrap_or("never")
                        );
                    }
                }
                TokensCommand::Revoke { id } => {
                    store.delete_token(&id).await?;
                    println!("revoked token {id}");
                }
            }
            Ok(())
        }
        Command::RoleMatrix => {
            print!("{}", manager_core::policy::matrix_markdown());
            Ok(())
        }
        Command::ManifestSchema => {
            let schema = manager_core::manifest::schema();
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(())
        }
        Command::Openapi => {
            let document = manager_core::api::openapi_document();
            println!("{}", serde_json::to_string_pretty(&document)?);
            Ok(())
        }
        Command::Config => {
            let masked = |set: bool| if set { "(set)" } else { "(not set)" };
            println!(
                "config_file      = {}",
                args.config_file
                    .as_deref()
                    .map_or("(none)".into(), |p| p.display().to_string())
            );
            println!("listen           = {}", args.listen);
            println!("data_dir         = {}", args.data_dir.display());
            println!("database_url     = {}", mask_password(&args.database_url()));
            println!("admin_token      = {}", masked(args.admin_token.is_some()));
            println!(
                "admin_user       = {}",
                args.admin_user.as_deref().unwrap_or("(not set)")
            );
            println!(
                "admin_password   = {}",
                masked(args.admin_password.is_some())
            );
            println!(
                "session_ttl      = {}",
                humantime::format_duration(args.session_ttl)
            );
            println!(
                "versions_keep    = {}",
                args.versions_keep
                    .map_or_else(|| "(all)".to_owned(), |n| n.to_string())
            );
            println!(
                "session_idle_timeout = {}",
                humantime::format_duration(args.session_idle_timeout)
            );
            println!("log_max_per_app  = {}", args.log_max_per_app);
            println!(
                "log_max_age      = {}",
                humantime::format_duration(args.log_max_age)
            );
            println!(
                "public_base_url  = {}",
                args.public_base_url.as_deref().unwrap_or("(from listen)")
            );
            println!("admin_hosts      = {}", args.admin_hosts);
            println!("trusted_proxies  = {}", args.trusted_proxies);
            println!(
                "metrics_listen   = {}",
                args.metrics_listen
                    .map_or_else(|| "(off)".to_owned(), |a| a.to_string())
            );
            println!("redact_headers   = {}", args.redact_headers);
            for (name, value) in args.mail.describe() {
                println!("{name:<16} = {value}");
            }
            println!("max_concurrent   = {}", args.max_concurrent);
            println!(
                "max_concurrent_per_app = {}",
                args.max_concurrent_per_app
                    .map_or_else(|| "(half of max_concurrent)".to_owned(), |n| n.to_string())
            );
            println!("max_queued_per_app = {}", args.max_queued_per_app);
            println!("max_invoke_depth = {}", args.max_invoke_depth);
            println!("max_invokes      = {}", args.max_invokes);
            println!("max_body         = {} bytes", args.max_body);
            println!("kv_max_keys      = {}", args.kv_max_keys);
            println!("kv_max_total     = {} bytes", args.kv_max_total);
            println!("kv_max_value     = {} bytes", args.kv_max_value);
            println!("kv_max_key       = {} bytes", args.kv_max_key);
            println!("docs_max_documents = {}", args.docs_max_documents);
            println!("docs_max_total   = {} bytes", args.docs_max_total);
            println!("docs_max_document = {} bytes", args.docs_max_document);
            println!("http_allow_private = {}", args.http_allow_private);
            println!(
                "http_timeout     = {}",
                humantime::format_duration(args.http_timeout)
            );
            println!("http_max_response = {} bytes", args.http_max_response);
            println!("http_max_calls   = {}", args.http_max_calls);
            println!(
                "secret_key       = {}",
                if args.secret_key.is_some() {
                    "(set)".to_owned()
                } else {
                    format!("(from {})", args.data_dir.join("secret.key").display())
                }
            );
            for (name, value) in [
                ("header_timeout", args.header_timeout),
                ("body_timeout", args.body_timeout),
                ("shutdown_grace", args.shutdown_grace),
            ] {
                println!("{name:<16} = {}", humantime::format_duration(value));
            }
            Ok(())
        }
        Command::Login { server, username } => {
            client::login(&server, remote.token.clone(), username).await
        }
        Command::Apps {
            command: ListCommand::List,
        } => client::apps_list(&remote.client()?, remote.json).await,
        Command::Scripts {
            command: ScriptsCommand::List { app },
        } => client::scripts_list(&remote.client()?, app.as_deref(), remote.json).await,
        Command::Scripts {
            command: ScriptsCommand::History { script, app },
        } => client::scripts_history(&remote.client()?, &app, &script, remote.json).await,
        Command::Scripts {
            command:
                ScriptsCommand::Rollback {
                    script,
                    version,
                    app,
                    message,
                },
        } => client::scripts_rollback(&remote.client()?, &app, &script, version, message).await,
        Command::Domains { command } => {
            let client = remote.client()?;
            match command {
                DomainsCommand::List { app } => {
                    client::domains_list(&client, &app, remote.json).await
                }
                DomainsCommand::Add {
                    app,
                    pattern,
                    force,
                } => client::domains_add(&client, &app, &pattern, force).await,
                DomainsCommand::Remove { app, pattern } => {
                    client::domains_remove(&client, &app, &pattern).await
                }
            }
        }
        Command::Routes {
            command: RoutesCommand::List { app },
        } => client::routes_list(&remote.client()?, &app, remote.json).await,
        Command::Deploy {
            file,
            app,
            dry_run,
            prune,
            name,
            routes,
            message,
        } => {
            if file.is_dir() {
                if name.is_some() || !routes.is_empty() {
                    anyhow::bail!(
                        "--name and --route are for a single file; a folder's picloud.toml names its scripts and routes"
                    );
                }
                let request = folder::DeployFolder {
                    dir: &file,
                    app,
                    message,
                    dry_run,
                    prune,
                };
                folder::deploy(&remote.client()?, request).await
            } else {
                if dry_run || prune {
                    anyhow::bail!("--dry-run and --prune are for a folder with a picloud.toml");
                }
                let app = app.context("--app is required when deploying a single file")?;
                client::deploy(&remote.client()?, &file, &app, name, &routes, message).await
            }
        }
        Command::Init { dir, template } => init::init(&dir, &template),
        Command::Export { app, dir } => folder::export(&remote.client()?, &app, &dir).await,
        Command::Logs { app, limit, follow } => {
            client::logs(&remote.client()?, &app, limit, follow).await
        }
        Command::Healthcheck { target, timeout } => {
            let url = target.unwrap_or_else(|| healthcheck::default_url(args.listen));
            if !healthcheck::probe(&url, timeout).await {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Migrate => {
            std::fs::create_dir_all(&args.data_dir)?;
            let db = manager_core::Db::connect(&args.database_url())
                .await
                .context("opening the database")?;
            println!("schema version {}", db.schema_version().await?);
            Ok(())
        }
    }
}

/// `picloud users …`, straight against the database (for the operator on
/// the server; over HTTP the same is `/api/v1/admin/users`).
async fn users(store: &manager_core::Store, command: UsersCommand) -> anyhow::Result<()> {
    use manager_core::auth;
    match command {
        UsersCommand::Create {
            username,
            no_server_admin,
        } => {
            let username = auth::normalize_username(&username)?;
            let (password, generated) = read_password()?;
            auth::validate_password(&password)?;
            let hash = auth::hash_password(password.clone()).await?;
            let user = store
                .create_user(&username, &hash, !no_server_admin)
                .await?;
            if generated {
                println!(
                    "created user '{}'; password (shown once): {password}",
                    user.username
                );
            } else {
                println!("created user '{}'", user.username);
            }
        }
        UsersCommand::List => {
            for user in store.list_users(&manager_core::store::Page::all()).await? {
                let powers = if user.server_admin {
                    "server-admin"
                } else {
                    "app-roles"
                };
                println!(
                    "{}\t{}\t{}\t{powers}",
                    user.id, user.username, user.created_at
                );
            }
        }
        UsersCommand::SetPassword { username } => {
            let user = store.user(&username).await?;
            let (password, generated) = read_password()?;
            auth::validate_password(&password)?;
            let hash = auth::hash_password(password.clone()).await?;
            store.set_password(&user.id, &hash, None).await?;
            if generated {
                println!(
                    "new password for '{}' (shown once): {password}",
                    user.username
                );
            } else {
                println!(
                    "password changed for '{}'; their sessions ended",
                    user.username
                );
            }
        }
    }
    Ok(())
}

/// A password from the first line of stdin, or a generated one (`true`) when
/// stdin is a terminal or empty: a password typed as an argument would land
/// in shell history and `ps`.
fn read_password() -> anyhow::Result<(String, bool)> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        let line = line.trim_end_matches(['\r', '\n']);
        if !line.is_empty() {
            return Ok((line.to_owned(), false));
        }
    }
    // 24 hex characters from the token generator: 96 random bits.
    Ok((
        manager_core::store::generate_token()[3..27].to_owned(),
        true,
    ))
}

/// A database URL with its password replaced, for printing.
fn mask_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
