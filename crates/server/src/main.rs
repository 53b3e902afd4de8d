//! The `banter` binary: `banter serve` (the default) runs the server, `banter migrate` applies
//! database migrations and exits. Configuration comes from the environment and `.env`.

use std::process::ExitCode;

use anyhow::Context as _;
use banter::{config::LogFormat, Config};
use clap::{Parser, Subcommand};
use tracing_subscriber::{fmt, EnvFilter};

#[derive(Parser)]
#[command(name = "banter", version, about = "A self-hosted real-time chat server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Ask the server on HOST:PORT whether it is ready (`GET /ready`): exit 0 if it is, 1 if
    /// not. For container health checks (no shell or curl needed).
    Healthcheck,
    /// Manage accounts (on the server's database, while it runs).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage invite codes (for REGISTRATION=invite).
    #[command(subcommand)]
    Invite(InviteCommand),
    /// Copy the SQLite database to PATH, consistently, while the server runs (PostgreSQL: use
    /// pg_dump).
    Backup { path: std::path::PathBuf },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account. Without --password-stdin a password is generated and printed once.
    Create {
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        full_name: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List every account.
    List,
    /// Disable an account: it cannot log in, and its sessions and sockets end at once.
    Disable { username: String },
    /// Enable a disabled account.
    Enable { username: String },
    /// Set a new password (from standard input, or generated and printed once); every session
    /// ends.
    ResetPassword {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete an account, as the user could (messages stay, shown as "Deleted User").
    Delete { username: String },
}

#[derive(Subcommand)]
enum InviteCommand {
    /// Make an invite code and print it (shown once).
    Create {
        /// How many accounts it may register.
        #[arg(long, default_value_t = 1)]
        uses: i64,
        /// How long it stays good: 7d, 12h, 30m (default: until used).
        #[arg(long, value_parser = banter::admin::parse_duration)]
        expires: Option<std::time::Duration>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = dotenvy::dotenv() {
        if !e.not_found() {
            eprintln!("banter: cannot read .env: {e}");
            return ExitCode::from(2);
        }
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("banter: {e}");
            return ExitCode::from(2);
        }
    };
    // Operator commands print their results on stdout; only warnings are logged (on stderr).
    let quiet = matches!(cli.command, Some(Command::User(_) | Command::Invite(_) | Command::Backup { .. }));
    init_tracing(&config, quiet);

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("banter: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config).await,
            Command::Migrate => migrate(config).await,
            Command::Healthcheck => healthcheck(&config).await,
            Command::User(command) => user(&config, command).await,
            Command::Invite(InviteCommand::Create { uses, expires }) => {
                let store = banter::admin::open(&config.database_url).await?;
                let code = banter::admin::create_invite(&store, uses, expires).await?;
                println!("{code}");
                Ok(())
            }
            Command::Backup { path } => {
                println!("{}", banter::admin::backup(&config.database_url, &path).await?);
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("banter: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(config: &Config, quiet: bool) {
    let default = match (quiet, config.debug) {
        (true, _) => "warn",
        (false, true) => "banter=debug,tower_http=debug,info",
        (false, false) => "info",
    };
    let filter = if quiet {
        EnvFilter::new(default)
    } else {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
    };
    // The server logs on stdout; operator commands keep stdout for their results.
    let writer = if quiet {
        fmt::writer::BoxMakeWriter::new(std::io::stderr)
    } else {
        fmt::writer::BoxMakeWriter::new(std::io::stdout)
    };
    let builder = fmt().with_env_filter(filter).with_target(false).with_writer(writer);
    match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

async fn healthcheck(config: &Config) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    // A server listening on every address answers on loopback.
    let host = match config.host.as_str() {
        // (IPv4 loopback for `::` too: a container may have IPv6 disabled.)
        "0.0.0.0" | "" | "::" | "[::]" => "127.0.0.1",
        other => other,
    };
    let addr = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{}", config.port)
    } else {
        format!("{host}:{}", config.port)
    };
    let check = async {
        let mut stream =
            tokio::net::TcpStream::connect(&addr).await.with_context(|| format!("connecting to {addr}"))?;
        let request = format!("GET /ready HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.take(64 * 1024).read_to_end(&mut answer).await?;
        anyhow::Ok(String::from_utf8_lossy(&answer).into_owned())
    };
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), check).await.context("no answer in 5 s")??;
    let status = answer.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") && answer.contains(r#""status":"ready""#) {
        println!("ready");
        Ok(())
    } else {
        anyhow::bail!("not ready: {status}")
    }
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let store = banter::store::connect(&config.database_url).await?;
    store.migrate().await.context("applying database migrations")?;
    tracing::info!(database = store.backend(), "migrations applied");
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    match banter::raise_open_files_limit() {
        Ok((before, now, hard)) => tracing::info!(soft_before = before, soft = now, hard, "open files limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open files limit"),
    }
    let addr = format!("{}:{}", config.host, config.port);
    let state = banter::build_state(config).await?;
    let listener = tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("binding {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(
        address = %format!("http://{local}"),
        database = state.store.backend(),
        open_files_limit = banter::open_files_limit(),
        max_connections = state.max_connections,
        "Banter is listening; API docs at /docs"
    );
    banter::run(listener, state, shutdown_signal()).await.context("serving")?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutdown signal received");
}

/// Reads a password from the first line of standard input.
fn password_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(!password.is_empty(), "no password on standard input");
    Ok(password)
}

async fn user(config: &Config, command: UserCommand) -> anyhow::Result<()> {
    use banter::admin;
    let store = admin::open(&config.database_url).await?;
    match command {
        UserCommand::Create { username, email, full_name, password_stdin } => {
            let (password, generated) =
                if password_stdin { (password_from_stdin()?, false) } else { (admin::generate_password(), true) };
            let user = admin::create_user(&store, &username, &email, full_name.as_deref(), &password).await?;
            println!("created {} (id {})", user.username, user.id);
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::List => print!("{}", admin::list_users(&store).await?),
        UserCommand::Disable { username } => println!("{}", admin::set_enabled(&store, &username, false).await?),
        UserCommand::Enable { username } => println!("{}", admin::set_enabled(&store, &username, true).await?),
        UserCommand::ResetPassword { username, password_stdin } => {
            let (password, generated) =
                if password_stdin { (password_from_stdin()?, false) } else { (admin::generate_password(), true) };
            println!("{}", admin::reset_password(&store, &username, &password).await?);
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::Delete { username } => println!("{}", admin::delete_user(&store, &username).await?),
    }
    Ok(())
}
