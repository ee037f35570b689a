//! `ferry-bench`: runs the benchmark scenarios (docs/benchmarks.md) against Ferry and the
//! Socket.IO peer in one run, side by side, prints each outcome and a comparison table,
//! and writes every figure to a JSON file.
//!
//! ```text
//! ferry-bench --quick                      # the quick suite (CI runs it with --check)
//! ferry-bench                              # the full suite
//! ferry-bench --scenarios B3 --targets ferry,socketio
//! ```
//!
//! `ferry-bench footprint --app PATH` is B12, the desktop app's own footprint
//! (`scripts/footprint.sh`). The same binary is also the generator's worker process (`ferry-bench worker`, hidden:
//! started by crate::workers, never by hand).

mod chaos;
mod client_store;
mod clock;
mod cluster;
mod cluster_cost;
mod files;
mod footprint;
mod load;
mod outages;
mod proxy;
mod report;
mod resume;
mod scenarios;
mod sealing;
mod services;
mod setup;
mod target;
mod wire;
mod workers;

use std::path::PathBuf;

use anyhow::bail;
use clap::{Parser, Subcommand};

use crate::report::Outcome;
use crate::scenarios::Run;
use crate::wire::Target;

#[derive(Parser)]
#[command(about = "Ferry's benchmarks: the same scenarios against Ferry and the Socket.IO peer")]
struct Args {
    #[command(subcommand)]
    mode: Option<Mode>,
    /// The quick suite: smaller and shorter (under 5 minutes).
    #[arg(long)]
    quick: bool,
    /// Scenarios to run (B1 … B11, B13; B3m is B3 with messages only, no edits or
    /// reactions; B3e, B4e and B8e are B3, B4 and B8 with every conversation end-to-end
    /// encrypted, Ferry only; B9k is B9 with the server killed halfway). B8 and
    /// B11 run clusters on ports after --addr's (+1 to +21).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "B1,B2,B3,B3e,B4,B4e,B5,B6,B7,B8,B9,B9k,B10,B11"
    )]
    scenarios: Vec<String>,
    /// Servers: ferry, socketio (one Node process), socketio-cluster (two, with the
    /// Postgres adapter).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ferry,socketio,socketio-cluster"
    )]
    targets: Vec<String>,
    /// A Postgres database to connect to for creating the benchmark databases.
    #[arg(
        long,
        env = "FERRY_BENCH_ADMIN_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    admin_url: String,
    /// Where the servers listen.
    #[arg(long, default_value = "127.0.0.1:18090")]
    addr: String,
    /// The JSON result file.
    #[arg(long, default_value = "bench-results.json")]
    out: PathBuf,
    /// Exit non-zero when a run on Ferry lost, duplicated or reordered a message, or
    /// dropped a connection (latency is reported, never asserted; the peer's problems
    /// are printed).
    #[arg(long)]
    check: bool,
    /// With --check: B1 also fails when Ferry's server memory grows by more than this
    /// many KiB per connection.
    #[arg(long)]
    max_rss_kib: Option<f64>,
}

#[derive(Subcommand)]
enum Mode {
    /// One of the generator's worker processes: holds a slice of a run's connections.
    #[command(hide = true)]
    Worker(workers::Slice),
    /// B12: the desktop app's start-up time, idle memory and idle CPU with a heavy
    /// user's store (Ferry only; needs a display and a keyring: scripts/footprint.sh).
    Footprint(footprint::Footprint),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.mode {
        Some(Mode::Worker(slice)) => return workers::work(slice).await,
        Some(Mode::Footprint(footprint)) => return footprint::run(footprint).await,
        None => {}
    }
    let mut outcomes: Vec<Outcome> = Vec::new();
    for scenario in &args.scenarios {
        for label in &args.targets {
            let (target, workers) = match label.as_str() {
                "ferry" => (Target::Ferry, 1),
                "socketio" => (Target::Socketio, 1),
                "socketio-cluster" => (Target::Socketio, 2),
                other => bail!("unknown target {other}"),
            };
            let run = Run {
                target,
                workers,
                admin_url: args.admin_url.clone(),
                addr: args.addr.clone(),
                quick: args.quick,
                max_rss_kib: args.max_rss_kib,
            };
            let result = match scenario.as_str() {
                "B1" => scenarios::b1(&run).await,
                "B2" => scenarios::b2(&run).await,
                "B3" => scenarios::b3(&run, true, false).await,
                "B3m" => scenarios::b3(&run, false, false).await,
                "B3e" if target == Target::Ferry => scenarios::b3(&run, true, true).await,
                "B4" => scenarios::b4(&run, false).await,
                "B4e" if target == Target::Ferry => scenarios::b4(&run, true).await,
                "B5" => scenarios::b5(&run).await,
                "B6" => outages::b6(&run).await,
                "B7" => outages::b7(&run).await,
                "B8" if target == Target::Ferry => chaos::b8(&run, false).await,
                "B8e" if target == Target::Ferry => chaos::b8(&run, true).await,
                "B9" if target == Target::Ferry => scenarios::b9(&run, false).await,
                "B10" if target == Target::Ferry => client_store::b10(run.quick).await,
                "B13" if target == Target::Ferry => files::b13(&run).await,
                "B9k" if target == Target::Ferry => scenarios::b9(&run, true).await,
                // B11 runs the peer on one process and on its two-worker cluster itself.
                "B11" if workers == 1 => cluster_cost::b11(&run).await,
                // The peer has no client core with an outbox to drive, and no store a
                // chaos soak could hold it to (docs/benchmarks.md, B8).
                "B8" | "B9" | "B9k" | "B11" => continue,
                // B10 is the client's own store, B13 files (the peer has no file transfer;
                // B13's comparison is the disk's own speed): nothing to compare.
                "B10" | "B13" | "B3e" | "B4e" | "B8e" => continue,
                other => bail!("unknown scenario {other}"),
            };
            let mut outcome = result.map_err(|e| e.context(format!("{scenario} on {label}")))?;
            outcome.scenario = format!("{scenario} {label}");
            outcome.print();
            outcomes.push(outcome);
        }
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&outcomes)?)?;
    println!("results: {}", args.out.display());
    let with_problems = |target: Target| -> Vec<&str> {
        outcomes
            .iter()
            .filter(|o| o.target == target && !o.problems.is_empty())
            .map(|o| o.scenario.as_str())
            .collect()
    };
    let peer = with_problems(Target::Socketio);
    if !peer.is_empty() {
        println!("the peer had correctness problems in: {}", peer.join(", "));
    }
    let ferry = with_problems(Target::Ferry);
    if !ferry.is_empty() {
        println!("Ferry had correctness problems in: {}", ferry.join(", "));
        // Only Ferry's own guarantees fail the check; the peer is measured, not tested.
        if args.check {
            std::process::exit(1);
        }
    }
    Ok(())
}

/// A mutex's guard, even after a panic elsewhere poisoned it: what it guards (counts,
/// samples) stays worth reporting.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
