//! `picloud`: the all-in-one server and its operator commands.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use picloud::{Server, ServerConfig};

/// PiCloud: Rhai scripts behind HTTP routes, each run in a fresh WebAssembly sandbox.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
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
    },
    /// Manage admin users (on the server, against its database).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Apply database migrations and exit.
    Migrate,
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Create an admin user. The password is read from the first line of
    /// standard input, or generated and printed once when stdin is a terminal
    /// or empty.
    Create {
        /// Login name: 1-64 of a-z 0-9 . _ - @.
        username: String,
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
    /// Executions that may run at once (also the pooled instance slots).
    #[arg(
        long,
        env = "PICLOUD_MAX_CONCURRENT",
        default_value_t = 16,
        global = true
    )]
    max_concurrent: u32,
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

    fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("picloud.db").display()))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PICLOUD_LOG")
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        // The server log goes to stderr, colored only on a terminal; stdout
        // carries what a user acts on (the one-time token, the address).
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let args = cli.serve;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let server = Server::start(ServerConfig {
                listen: args.listen,
                data_dir: args.data_dir.clone(),
                database_url: args.database_url.clone(),
                admin_token: args.admin_token.clone(),
                admin_user: args.first_user()?,
                session_ttl: args.session_ttl,
                log_max_per_app: args.log_max_per_app,
                log_max_age: args.log_max_age,
                public_base_url: args.public_base_url.clone(),
                max_concurrent: args.max_concurrent,
                cache_dir: None,
            })
            .await?;
            if let Some(token) = &server.generated_token {
                println!(
                    "\n  Your admin API token (shown once, only its hash is stored):\n\n    {token}\n\n  \
                     Use it as `Authorization: Bearer <token>`. Create more with `picloud create-token`.\n"
                );
            }
            println!(
                "PiCloud is listening on http://{} (try /hello)",
                server.addr
            );
            server.run_until(shutdown_signal()).await
        }
        Command::CreateToken { name } => {
            let store = args.store().await?;
            let token = manager_core::store::generate_token();
            store.add_token(&name, &token, None).await?;
            println!("{token}");
            Ok(())
        }
        Command::Users { command } => users(&args.store().await?, command).await,
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
        UsersCommand::Create { username } => {
            let username = auth::normalize_username(&username)?;
            let (password, generated) = read_password()?;
            auth::validate_password(&password)?;
            let hash = auth::hash_password(password.clone()).await?;
            let user = store.create_user(&username, &hash).await?;
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
                println!("{}\t{}\t{}", user.id, user.username, user.created_at);
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

/// Ctrl-C or SIGTERM (what systemd and container runtimes send).
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
