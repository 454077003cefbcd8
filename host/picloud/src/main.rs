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
    /// Apply database migrations and exit.
    Migrate,
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
            std::fs::create_dir_all(&args.data_dir)?;
            let db = manager_core::Db::connect(&args.database_url())
                .await
                .context("opening the database")?;
            let store = manager_core::Store::new(db);
            let token = manager_core::store::generate_token();
            store.add_token(&name, &token).await?;
            println!("{token}");
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
