//! `ferry-server`: reads the configuration, binds the listener (with a deep backlog for
//! reconnect storms) and runs the server until SIGINT or SIGTERM; or, given a command,
//! does that operator's task on the same configuration's database and files
//! (`backup`, `restore`, `admin …`) and exits.

use std::path::PathBuf;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use ferry_server::Config;
use tokio::net::TcpSocket;
use tracing_subscriber::EnvFilter;

/// Pending connections the kernel may queue; a reconnect storm of 10k clients overflows
/// the default of 1024.
const LISTEN_BACKLOG: u32 = 8192;

/// The server's settings, and an operator's task to do with them instead of serving.
#[derive(Parser)]
#[command(name = "ferry-server", version, about = "The Ferry chat server")]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    task: Option<Task>,
}

/// What an operator does on the host (settings as for serving, before the task's name).
#[derive(Subcommand)]
enum Task {
    /// Copy the database and every file into FOLDER (new or empty), while the server
    /// runs (docs/operations.md, "Backups").
    Backup { folder: PathBuf },
    /// Restore the backup in FOLDER into this configuration's database and file store,
    /// which must hold nothing yet; no server may be running on them.
    Restore { folder: PathBuf },
    /// Act as an operator on this configuration's database: grant the first
    /// administrator, suspend, decide reports, remove messages (docs/operations.md,
    /// "Administration").
    Admin {
        #[command(subcommand)]
        command: ferry_server::admin::host::AdminCommand,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let matches = Cli::command().get_matches();
    // A secret given as a flag is in the process's command line, which every user of the
    // machine reads with `ps`: only the environment or a file may carry it.
    for (id, instead) in [
        ("jwt_secret", "FERRY_JWT_SECRET or --jwt-secret-file"),
        ("s3_secret_access_key", "FERRY_S3_SECRET_ACCESS_KEY"),
        ("ops_token", "FERRY_OPS_TOKEN"),
        ("smtp_url", "FERRY_SMTP_URL"),
    ] {
        if matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine) {
            eprintln!(
                "ferry-server: --{} on the command line is visible to every user of this \
                 machine (ps); use {instead}",
                id.replace('_', "-")
            );
            std::process::exit(2);
        }
    }
    // Mutated only where the open-file limit can lower the connection cap.
    #[cfg_attr(not(unix), allow(unused_mut))]
    let Cli { mut config, task } = Cli::from_arg_matches(&matches)?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if config.log_json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }

    if let Some(task) = task {
        // The cause in words, for the operator at the terminal; no backtrace.
        if let Err(e) = run_task(&config, task).await {
            eprintln!("ferry-server: {e:#}");
            std::process::exit(1);
        }
        return Ok(());
    }

    #[cfg(unix)]
    room_for_connections(&mut config);

    let socket = if config.bind.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket
        .bind(config.bind)
        .with_context(|| format!("cannot bind {}", config.bind))?;
    let listener = socket.listen(LISTEN_BACKLOG)?;
    let addr = listener.local_addr()?;
    let database = ferry_server::redact(&config.effective_database_url());
    // The data directory keeps the JWT secret and, by default, the files, whatever the
    // database: where this server's state lives is said once, here (scripts/run.sh shows
    // this line rather than guess from its flags).
    let data_dir = config.data_dir.display();
    tracing::info!(%addr, database, %data_dir, "Ferry server listening");
    println!("Ferry server listening on http://{addr} (data: {data_dir}, database: {database})");

    ferry_server::run(listener, config, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn run_task(config: &Config, task: Task) -> anyhow::Result<()> {
    match task {
        Task::Backup { folder } => {
            let done = ferry_server::backup::backup(config, &folder)
                .await
                .context("backup failed")?;
            println!(
                "backed up the {} database and the files ({} objects, {} bytes) into {}",
                done.database,
                done.files,
                done.bytes,
                folder.display()
            );
        }
        Task::Admin { command } => ferry_server::admin::host::run(config, command).await?,
        Task::Restore { folder } => {
            let done = ferry_server::backup::restore(config, &folder)
                .await
                .context("restore failed")?;
            println!(
                "restored the backup of {} (the database, and files: {} objects, {} bytes) into {}",
                done.created_at,
                done.files,
                done.bytes,
                ferry_server::redact(&config.effective_database_url())
            );
        }
    }
    Ok(())
}

/// Files kept for what is not a connection: the database, blobs, logs, NATS.
#[cfg(unix)]
const FILES_RESERVED: u64 = 256;

/// Every connection is an open file, and the usual soft limit (1,024) is far below what
/// the server is configured to take: a few hundred silent connections made `accept` fail
/// for everyone. The soft limit is raised to the hard one, and the connection cap is
/// kept under it, so that the cap refuses a connection before the system does. (Windows
/// has no such limit on sockets.)
#[cfg(unix)]
fn room_for_connections(config: &mut Config) {
    let files = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(files) => files,
        Err(e) => {
            tracing::warn!(error = %e, "could not read or raise the open-file limit");
            return;
        }
    };
    let room = usize::try_from(files.saturating_sub(FILES_RESERVED)).unwrap_or(usize::MAX);
    if config.max_connections == 0 || config.max_connections > room {
        tracing::warn!(
            open_files = files,
            configured = config.max_connections,
            max_connections = room,
            "the connection cap is lowered to what the open-file limit allows"
        );
        config.max_connections = room;
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
