//! Where the app's logs go: to stderr, for a terminal that started it, and to a file a
//! day in the OS's log directory (Linux: `~/.local/share/<identifier>/logs`, macOS:
//! `~/Library/Logs/<identifier>`, Windows: `%LOCALAPPDATA%\<identifier>\logs`), the last
//! seven days kept. A release build on Windows has no console, so there the file is the
//! only place a log line survives. `FERRY_LOG_DIR` puts the files elsewhere; `RUST_LOG`
//! filters both outputs (default `info`).

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

/// Log files kept, one a day.
const KEEP_DAYS: usize = 7;

/// Keeps the file writer's background thread alive for as long as the app runs.
pub struct Logs {
    _flush: Option<WorkerGuard>,
}

/// Starts logging to stderr and to a daily file in `dir`. If the file cannot be opened,
/// logs go to stderr alone, and the first line says why.
pub fn start(dir: &Path) -> Logs {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter());
    let file = std::fs::create_dir_all(dir)
        .map_err(|e| e.to_string())
        .and_then(|()| {
            RollingFileAppender::builder()
                .rotation(Rotation::DAILY)
                .filename_prefix("ferry-desktop")
                .filename_suffix("log")
                .max_log_files(KEEP_DAYS)
                .build(dir)
                .map_err(|e| e.to_string())
        });
    match file {
        Ok(appender) => {
            let (writer, flush) = tracing_appender::non_blocking(appender);
            let file = fmt::layer()
                .with_ansi(false)
                .with_writer(writer)
                .with_filter(filter());
            let _ = tracing_subscriber::registry()
                .with(stderr)
                .with(file)
                .try_init();
            Logs {
                _flush: Some(flush),
            }
        }
        Err(e) => {
            let _ = tracing_subscriber::registry().with(stderr).try_init();
            tracing::warn!(dir = %dir.display(), error = %e, "logs go to stderr only");
            Logs { _flush: None }
        }
    }
}
