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
    init_tracing(&config);

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

fn init_tracing(config: &Config) {
    let default = if config.debug { "banter=debug,tower_http=debug,info" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = fmt().with_env_filter(filter).with_target(false);
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
