//! B12: the desktop app's footprint with a heavy user's store, measured on the real app.
//!
//! A Ferry server runs on an embedded SQLite file; a user registers through the client
//! core (tokens in the OS keyring, as the app keeps them) and their store is filled with
//! [`store_world::fill`]'s chats (10,000 conversations of 100 messages by default), which
//! the server does not know, so the app's catch-up has nothing to fetch. Then the app
//! starts on that data directory several times (`--starts`), each timed from `exec` to
//! the UI's first paint of the conversation list (the `first paint` line the app logs
//! when the UI says so, two frames after the list rendered); the median is quoted. The
//! last start then sits idle, signed in and connected: after a settling
//! window the CPU time of the app and its WebKit processes is summed over an idle window
//! of the same length; with `--click`, again with a conversation opened by a click (its
//! composer focused); and their resident (RSS) and proportional (PSS: shared pages split
//! between the processes that map them) memory are summed at the end.
//!
//! It needs a display and a Secret Service keyring: `scripts/footprint.sh` runs it under
//! Xvfb in a private D-Bus session with a throwaway keyring.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ferry_bench::rng::Rng;
use ferry_bench::store_world;
use ferry_client::tokens::KeyringTokens;
use ferry_client::{Client, ClientOptions};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::report::Outcome;
use crate::target::{Server, process_cpu_secs, tree};
use crate::wire::Target;

/// What B12 runs.
#[derive(clap::Args)]
pub struct Footprint {
    /// The desktop app's binary (a release build with its UI embedded).
    #[arg(long)]
    app: PathBuf,
    /// Conversations in the store.
    #[arg(long, default_value_t = 10_000)]
    conversations: usize,
    /// Messages in each conversation.
    #[arg(long, default_value_t = 100)]
    per_conversation: usize,
    /// Seconds the app settles after its first paint, and again the idle window measured.
    #[arg(long, default_value_t = 60)]
    idle_secs: u64,
    /// Times the app is started (each timed to its painted list; the median is quoted),
    /// the last one then left idle.
    #[arg(long, default_value_t = 5)]
    starts: usize,
    /// Where the server listens.
    #[arg(long, default_value = "127.0.0.1:18190")]
    addr: String,
    /// After the idle window with the list alone, click here (`X,Y` on the screen, with
    /// xdotool: the first conversation) and measure a second idle window with that
    /// conversation open and its composer focused.
    #[arg(long)]
    click: Option<String>,
    /// A screenshot of the screen before the memory is read (needs ImageMagick's
    /// `import`), to see what was measured.
    #[arg(long)]
    screenshot: Option<PathBuf>,
    /// The JSON result file.
    #[arg(long, default_value = "b12.json")]
    out: PathBuf,
}

/// How long the app may take to paint before the run fails.
const PAINT_DEADLINE: Duration = Duration::from_secs(120);

/// Runs B12, prints its outcome and writes it to `--out`.
pub async fn run(args: Footprint) -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let db = work.path().join("server.db");
    let server = Server::start(
        Target::Ferry,
        &args.addr,
        &format!("sqlite://{}?mode=rwc", db.display()),
        1,
    )
    .await?;
    let data_dir = work.path().join("client");
    let mut o = Outcome::new("B12", Target::Ferry);
    o.param("conversations", args.conversations as f64);
    o.param(
        "messages",
        (args.conversations * args.per_conversation) as f64,
    );
    o.param("idle_secs", args.idle_secs as f64);

    let filling = Instant::now();
    let store_path = seed(&args, &data_dir).await?;
    o.figure("fill_secs", filling.elapsed().as_secs_f64());
    o.figure("store_mib", file_mib(&store_path));

    // Each start is timed; all but the last are ended once painted (and gone before the
    // next starts: the app is single-instance), and the last is the one left idle.
    let mut painted_ms = Vec::new();
    let (mut app, pid) = loop {
        let (mut app, ms) = start_app(&args.app, &data_dir, &work.path().join("logs")).await?;
        painted_ms.push(ms);
        let pid = app.id().context("the app exited after it painted")?;
        if painted_ms.len() == args.starts.max(1) {
            break (app, pid);
        }
        stop(&mut app, &tree(pid)).await;
    };
    println!("  starts to a painted list (ms): {painted_ms:.0?}");
    painted_ms.sort_by(f64::total_cmp);
    o.figure("start_to_painted_list_ms", painted_ms[painted_ms.len() / 2]);
    o.figure("start_to_painted_list_ms_min", painted_ms[0]);
    o.figure(
        "start_to_painted_list_ms_max",
        painted_ms[painted_ms.len() - 1],
    );
    o.param("starts", painted_ms.len() as f64);

    let idle = Duration::from_secs(args.idle_secs);
    o.figure("idle_cpu_secs_per_min", idle_cpu(pid, idle).await);
    if let Some(at) = &args.click {
        // A conversation open, its composer focused (and its text cursor with it).
        click(at).await?;
        o.figure(
            "idle_cpu_secs_per_min_conversation_open",
            idle_cpu(pid, idle).await,
        );
    }
    if let Some(path) = &args.screenshot {
        screenshot(path).await;
    }
    let processes = tree(pid);
    let (mut rss, mut pss) = (0, 0);
    let mut web_process = false;
    for &p in &processes {
        let m = memory(p);
        // `comm` keeps 15 bytes: "WebKitWebProces".
        web_process |= m.name.starts_with("WebKitWebProc");
        println!(
            "  {:<22} pid {p:>7}  rss {:>7.1} MiB  pss {:>7.1} MiB",
            m.name,
            mib(m.rss_kib),
            mib(m.pss_kib)
        );
        for (mapping, kib) in largest_mappings(p, 5) {
            println!("      {:>7.1} MiB  {mapping}", mib(kib));
        }
        rss += m.rss_kib;
        pss += m.pss_kib;
    }
    o.figure("processes", processes.len() as f64);
    if !web_process {
        // Seen once: the page's process was not in the tree when memory was read, and the
        // run reported less than half the real footprint.
        o.problem("no WebKit web process in the app's tree when memory was read: its figures leave the page out".to_owned());
    }
    o.figure("idle_rss_mib", mib(rss));
    o.figure("idle_pss_mib", mib(pss));

    if let Ok(Some(status)) = app.try_wait() {
        o.problem(format!("the app exited during the idle window: {status}"));
    }
    stop(&mut app, &processes).await;
    server.stop().await;
    o.print();
    std::fs::write(&args.out, serde_json::to_string_pretty(&[&o])?)?;
    println!("results: {}", args.out.display());
    if !o.problems.is_empty() {
        bail!("B12 had problems: {:?}", o.problems);
    }
    Ok(())
}

/// Starts the app on `data_dir` and waits for its first paint of the conversation list:
/// the running app, and the milliseconds from `exec` to that paint.
async fn start_app(
    app: &Path,
    data_dir: &Path,
    log_dir: &Path,
) -> anyhow::Result<(tokio::process::Child, f64)> {
    let started = Instant::now();
    let mut child = Command::new(app)
        .env("FERRY_CLIENT_DIR", data_dir)
        .env("FERRY_LOG_DIR", log_dir)
        .env(
            "RUST_LOG",
            std::env::var("FERRY_B12_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start {}", app.display()))?;
    let mut lines = BufReader::new(child.stderr.take().context("stderr")?).lines();
    tokio::time::timeout(PAINT_DEADLINE, async {
        while let Some(line) = lines.next_line().await? {
            // Its start-up log, so that a start that fails says why.
            println!("  app: {line}");
            if line.contains("first paint") {
                return Ok(());
            }
        }
        bail!("the app exited before it painted")
    })
    .await
    .context("the app did not paint its conversation list in time")??;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    // Keep reading its log so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, ms))
}

/// Registers the user the app resumes as and fills their store; the store's path.
async fn seed(args: &Footprint, data_dir: &Path) -> anyhow::Result<PathBuf> {
    let tokens =
        Arc::new(KeyringTokens::new().context("the OS keyring (run under scripts/footprint.sh)")?);
    let options = ClientOptions::new(format!("http://{}", args.addr), data_dir);
    let client = Client::register(options, tokens, "heavy", "b12-password", "Heavy User")
        .await
        .context("register the benchmark's user")?;
    let (conversations, per_conversation) = (args.conversations, args.per_conversation);
    let me = client.me().clone();
    // The store is synchronous, as the app uses it.
    let client = tokio::task::spawn_blocking(move || -> anyhow::Result<Client> {
        let mut rng = Rng::new(12);
        store_world::fill(
            client.store(),
            &me,
            conversations,
            per_conversation,
            &mut rng,
        )?;
        Ok(client)
    })
    .await??;
    let path = ferry_client::current_account_dir(data_dir)
        .context("the registered account has no folder")?
        .join("ferry.db");
    drop(client);
    Ok(path)
}

/// The CPU time of the app's processes over `idle`, in CPU-seconds per minute, after
/// letting it settle for as long: both windows are the measurement, not a wait for
/// something to happen.
async fn idle_cpu(pid: u32, idle: Duration) -> f64 {
    tokio::time::sleep(idle).await;
    let before: Vec<(u32, f64)> = tree(pid)
        .into_iter()
        .map(|p| (p, process_cpu_secs(p)))
        .collect();
    tokio::time::sleep(idle).await;
    let per_min = 60.0 / idle.as_secs_f64();
    let mut total = 0.0;
    for (p, was) in before {
        let used = (process_cpu_secs(p) - was) * per_min;
        println!("  idle CPU {:<22} {used:>6.2} s/min", memory(p).name);
        total += used;
    }
    total
}

/// Clicks the screen at `x,y` (xdotool).
async fn click(at: &str) -> anyhow::Result<()> {
    let (x, y) = at.split_once(',').context("--click takes X,Y")?;
    let clicked = Command::new("xdotool")
        .args(["mousemove", x, y, "click", "1"])
        .status()
        .await
        .context("xdotool (apt-get install xdotool)")?;
    anyhow::ensure!(clicked.success(), "xdotool failed: {clicked}");
    Ok(())
}

/// One process's name and memory, from `/proc`.
struct Memory {
    name: String,
    rss_kib: u64,
    pss_kib: u64,
}

fn memory(pid: u32) -> Memory {
    let read =
        |file: &str| std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap_or_default();
    let field = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Memory {
        name: read("comm").trim_end().to_owned(),
        rss_kib: field(&read("status"), "VmRSS:"),
        pss_kib: field(&read("smaps_rollup"), "Pss:"),
    }
}

/// Where a process's memory is: its PSS summed per mapped file (anonymous memory as
/// `[anon]`, the heap as `[heap]`), the `n` largest first. It says whether an idle
/// process's memory is its own data or the libraries it shares.
fn largest_mappings(pid: u32, n: usize) -> Vec<(String, u64)> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut by_mapping: std::collections::HashMap<String, u64> = Default::default();
    let mut current = String::new();
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        if first.contains('-') && !first.ends_with(':') {
            // A mapping's header: range, perms, offset, device, inode, then its path.
            let path = words.nth(4).unwrap_or("[anon]");
            current = path.to_owned();
        } else if first == "Pss:" {
            let kib: u64 = words.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            *by_mapping.entry(current.clone()).or_default() += kib;
        }
    }
    let mut largest: Vec<(String, u64)> = by_mapping.into_iter().collect();
    largest.sort_by_key(|&(_, kib)| std::cmp::Reverse(kib));
    largest.truncate(n);
    largest
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn file_mib(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / (1024.0 * 1024.0))
}

async fn screenshot(path: &Path) {
    let shot = Command::new("import")
        .args(["-window", "root"])
        .arg(path)
        .status()
        .await;
    if !matches!(shot, Ok(s) if s.success()) {
        println!("  (no screenshot: ImageMagick's import failed or is missing)");
    }
}

/// Ends the app and every process it started (its WebKit processes would otherwise
/// outlive it for a moment, or for good if they hang).
async fn stop(app: &mut tokio::process::Child, processes: &[u32]) {
    let pids: Vec<String> = processes.iter().map(u32::to_string).collect();
    let _ = Command::new("kill")
        .arg("-KILL")
        .args(&pids)
        .stderr(Stdio::null())
        .status()
        .await;
    // Reaped, so that a next start finds no running instance to hand over to.
    let _ = app.kill().await;
    let _ = app.wait().await;
}
