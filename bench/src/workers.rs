//! The generator's multi-process mode, for more idle connections than one process's
//! open-file limit allows (B1 holds 19k; the hard limit here is 20,000 files a
//! process, and the server needs its 19k sockets in one process). [`SplitFleet`] is the
//! parent's side: it spreads tokens over worker processes of this same binary
//! (`ferry-bench worker`, which runs [`work`] on a [`Slice`]), waits on their reports,
//! sums their [`Counts`] and stops them. Each worker opens its slice as an idle
//! [`Fleet`] from its own [`SOURCES`] source addresses, so no two workers draw on the
//! same ephemeral ports, writes its counts to stdout as JSON lines whenever they
//! change, and closes its connections when a line arrives on stdin or stdin ends (so a
//! parent that dies takes its workers with it). These are the generator's processes,
//! not the peer's Node workers ([`crate::scenarios::Run::workers`]).

use std::io::Write;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::load::{Fleet, Nodes, Progress, SOURCES};
use crate::wire::Target;

/// Connections per worker process: half of this machine's hard limit of 20,000 open
/// files a process, so a worker stays well clear of it whatever else it opens (its
/// runtime's epoll and eventfds, stdio, the token file), and 19k takes 2 processes
/// (3 in B1, which adds its last 4k in a process of their own).
pub const PER_PROCESS: usize = 10_000;

/// How long the workers get to open their connections. Each handshake gives up after at
/// most 90 s (crate::load); at 256 at a time 19k take under a minute here.
const OPEN_LIMIT: Duration = Duration::from_secs(300);

/// How long the workers get to close their connections and exit once told to stop.
const CLOSE_LIMIT: Duration = Duration::from_secs(60);

/// How often a worker looks at its counters: thousands of connection tasks bump them,
/// and a tick turns their changes into at most ten report lines a second.
const REPORT_EVERY: Duration = Duration::from_millis(100);

/// What a worker reports: its connections so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Connections it was given.
    pub size: u64,
    pub ready: u64,
    pub failed: u64,
    /// Connections that ended without being asked to (dropped by the server).
    pub closed: u64,
    /// Its last report: its connections are closed and it is exiting.
    pub finished: bool,
}

impl Counts {
    fn of(progress: &Progress, size: u64, finished: bool) -> Self {
        Self {
            size,
            ready: progress.ready.load(Ordering::Relaxed),
            failed: progress.failed.load(Ordering::Relaxed),
            closed: progress.closed.load(Ordering::Relaxed),
            finished,
        }
    }

    /// Every connection is signed in or has failed to.
    fn settled(&self) -> bool {
        self.ready + self.failed >= self.size
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} ready, {} failed, {} dropped",
            self.ready, self.size, self.failed, self.closed
        )
    }
}

/// A worker's orders (`ferry-bench worker …`, from [`SplitFleet`]).
#[derive(clap::Args)]
pub struct Slice {
    /// The server under test.
    #[arg(long, value_enum)]
    target: Target,
    /// Where it listens.
    #[arg(long)]
    addr: String,
    /// A file of tokens, one a line: one connection each. A file rather than arguments,
    /// as 10k JWTs are over 2 MB, past the kernel's limit on a command line.
    #[arg(long)]
    tokens: PathBuf,
    /// The first of this worker's source addresses, 127.0.0.`first_source` onwards.
    #[arg(long)]
    first_source: u8,
    /// Handshakes at once.
    #[arg(long)]
    parallel: usize,
}

/// The worker: opens the slice's connections, reports its counts on stdout whenever
/// they change, and closes them when stdin says so (a line, or its end).
pub async fn work(slice: Slice) -> anyhow::Result<()> {
    let tokens: Vec<String> = std::fs::read_to_string(&slice.tokens)
        .with_context(|| format!("read tokens from {}", slice.tokens.display()))?
        .lines()
        .map(str::to_owned)
        .collect();
    let fleet = Fleet::open(
        slice.target,
        &Nodes::one(&slice.addr),
        tokens.into(),
        None,
        slice.parallel,
        None,
        slice.first_source,
    )?;
    let size = fleet.size();
    let mut stop = tokio::spawn(async {
        let _ = BufReader::new(tokio::io::stdin()).lines().next_line().await;
    });
    let mut tick = tokio::time::interval(REPORT_EVERY);
    let mut reported = None;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {
                let counts = Counts::of(&fleet.progress, size, false);
                if reported != Some(counts) {
                    report(&counts)?;
                    reported = Some(counts);
                }
            }
        }
    }
    let progress = fleet.progress.clone();
    fleet.finish().await;
    report(&Counts::of(&progress, size, true))
}

fn report(counts: &Counts) -> anyhow::Result<()> {
    let line = serde_json::to_string(counts)?;
    // Blocking, but a line to a pipe the parent keeps reading; an error means the parent
    // is gone, and so is the reason to go on.
    writeln!(std::io::stdout().lock(), "{line}").context("report to the parent")
}

/// What the parent hears from a worker.
enum Heard {
    Counts(Counts),
    /// A line that is not a report.
    Garbled(String),
    /// Its stdout ended: it exited, or is exiting.
    Ended,
}

/// One worker process, seen from the parent.
struct Worker {
    child: Child,
    /// A line on it, or its end, tells the worker to stop.
    stdin: Option<ChildStdin>,
    first_source: u8,
    latest: Counts,
    /// The worker reads it at its start; deleted when the worker is dropped.
    _tokens: tempfile::NamedTempFile,
}

/// The connections of a run, over worker processes (see the module's doc).
pub struct SplitFleet {
    target: Target,
    addr: String,
    workers: Vec<Worker>,
    heard: mpsc::UnboundedReceiver<(usize, Heard)>,
    /// Cloned into the stdout reader of each new worker.
    hear: mpsc::UnboundedSender<(usize, Heard)>,
}

impl SplitFleet {
    /// No connections yet, for `target` at `addr`.
    pub fn new(target: Target, addr: &str) -> Self {
        let (hear, heard) = mpsc::unbounded_channel();
        Self {
            target,
            addr: addr.to_owned(),
            workers: Vec::new(),
            heard,
            hear,
        }
    }

    /// Opens one more connection per token, over ⌈tokens / `per_process`⌉ new workers
    /// of equal share with at most `parallel` handshakes at a time between them, and
    /// waits until every worker's connections are signed in or failed.
    pub async fn open(
        &mut self,
        tokens: Vec<String>,
        per_process: usize,
        parallel: usize,
    ) -> anyhow::Result<()> {
        let processes = tokens.len().div_ceil(per_process.max(1)).max(1);
        let share = tokens.len().div_ceil(processes).max(1);
        for slice in tokens.chunks(share) {
            self.spawn(slice, parallel.div_ceil(processes))?;
        }
        let deadline = Instant::now() + OPEN_LIMIT;
        while !self.workers.iter().all(|w| w.latest.settled()) {
            if !self.hear_one(deadline).await? {
                bail!(
                    "the generator's workers did not open their connections within {OPEN_LIMIT:?}: {}",
                    self.counts()
                );
            }
        }
        Ok(())
    }

    /// The counts of all workers, summed, as last reported.
    pub fn counts(&self) -> Counts {
        self.workers
            .iter()
            .fold(Counts::default(), |sum, w| Counts {
                size: sum.size + w.latest.size,
                ready: sum.ready + w.latest.ready,
                failed: sum.failed + w.latest.failed,
                closed: sum.closed + w.latest.closed,
                finished: false,
            })
    }

    /// Keeps the connections open for `period` (a deliberate duration), failing as soon
    /// as a worker dies.
    pub async fn hold(&mut self, period: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + period;
        while self.hear_one(deadline).await? {}
        Ok(())
    }

    /// Tells every worker to close its connections, waits until all have and exited,
    /// and returns their final counts, summed.
    pub async fn finish(mut self) -> anyhow::Result<Counts> {
        for worker in &mut self.workers {
            if let Some(mut stdin) = worker.stdin.take() {
                // A worker that is already gone shows up below, as it ends.
                let _ = stdin.write_all(b"stop\n").await;
            }
        }
        let deadline = Instant::now() + CLOSE_LIMIT;
        while !self.workers.iter().all(|w| w.latest.finished) {
            if !self.hear_one(deadline).await? {
                bail!(
                    "the generator's workers did not close their connections within {CLOSE_LIMIT:?}"
                );
            }
        }
        for (i, worker) in self.workers.iter_mut().enumerate() {
            let status = exit_status(&mut worker.child).await;
            if !status.as_ref().is_ok_and(ExitStatus::success) {
                bail!(
                    "{} closed its connections, then {}",
                    name(i, worker.first_source),
                    describe(status)
                );
            }
        }
        Ok(self.counts())
    }

    /// Starts a worker for `tokens`, with its own source addresses.
    fn spawn(&mut self, tokens: &[String], parallel: usize) -> anyhow::Result<()> {
        let i = self.workers.len();
        // Fleet::open checks that the whole range is in 127.0.0.1–254.
        let first_source = u8::try_from(1 + usize::from(SOURCES) * i)
            .with_context(|| format!("no source addresses left for generator worker {i}"))?;
        let mut file = tempfile::NamedTempFile::new().context("token file")?;
        file.write_all(tokens.join("\n").as_bytes())
            .context("token file")?;
        let target = self
            .target
            .to_possible_value()
            .expect("Target has no skipped variants");
        let mut child = Command::new(std::env::current_exe().context("this binary")?)
            .arg("worker")
            .args(["--target", target.get_name()])
            .args(["--addr", &self.addr])
            .arg("--tokens")
            .arg(file.path())
            .args(["--first-source", &first_source.to_string()])
            .args(["--parallel", &parallel.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // A run that fails part-way leaves no worker holding connections.
            .kill_on_drop(true)
            .spawn()
            .context("start a generator worker")?;
        let stdout = child.stdout.take().context("a worker's stdout")?;
        let hear = self.hear.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let heard = match serde_json::from_str(&line) {
                    Ok(counts) => Heard::Counts(counts),
                    Err(_) => Heard::Garbled(line),
                };
                let _ = hear.send((i, heard));
            }
            let _ = hear.send((i, Heard::Ended));
        });
        self.workers.push(Worker {
            stdin: child.stdin.take(),
            child,
            first_source,
            latest: Counts {
                size: tokens.len() as u64,
                ..Counts::default()
            },
            _tokens: file,
        });
        Ok(())
    }

    /// Takes in one report; false once `deadline` passes first. A worker that ends
    /// before its last report, or says something else, is an error.
    async fn hear_one(&mut self, deadline: Instant) -> anyhow::Result<bool> {
        let Ok(heard) = tokio::time::timeout_at(deadline, self.heard.recv()).await else {
            return Ok(false);
        };
        let (i, heard) = heard.expect("self keeps a sender");
        let worker = &mut self.workers[i];
        match heard {
            Heard::Counts(counts) => worker.latest = counts,
            Heard::Garbled(line) => bail!(
                "{} said something else than its counts: {line}",
                name(i, worker.first_source)
            ),
            Heard::Ended if worker.latest.finished => {}
            Heard::Ended => {
                let status = exit_status(&mut worker.child).await;
                bail!(
                    "{} {} before closing its connections ({}; its own error, if any, is above)",
                    name(i, worker.first_source),
                    describe(status),
                    worker.latest
                );
            }
        }
        Ok(true)
    }
}

/// A worker's exit, which follows the end of its stdout closely (or it is stuck).
async fn exit_status(child: &mut Child) -> anyhow::Result<ExitStatus> {
    tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .context("it did not exit")?
        .context("waiting for it")
}

fn describe(status: anyhow::Result<ExitStatus>) -> String {
    match status {
        Ok(status) => format!("exited ({status})"),
        Err(e) => format!("failed: {e:#}"),
    }
}

fn name(i: usize, first_source: u8) -> String {
    let last = u16::from(first_source) + u16::from(SOURCES) - 1;
    format!("generator worker {i} (127.0.0.{first_source}–{last})")
}
