//! Starting the server under test as its own process (Ferry's release binary, or the
//! Socket.IO peer under Node) on a fresh database, waiting until it answers, and
//! reading its CPU time and resident memory from `/proc` (summed over its processes,
//! for the peer's cluster mode); and Postgres's CPU time, which shares the same cores.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::setup::JWT_SECRET;
use crate::wire::Target;

/// A running server.
pub struct Server {
    child: Child,
    pub addr: String,
}

/// CPU seconds (user + system) and resident bytes of a process tree at one moment.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Usage {
    pub cpu_secs: f64,
    pub rss_bytes: u64,
}

impl Server {
    /// Starts `target` on `addr` against the Postgres database `url`; `workers` is the
    /// peer's Node cluster size (Ferry is one process with a thread per core).
    pub async fn start(
        target: Target,
        addr: &str,
        url: &str,
        workers: usize,
    ) -> anyhow::Result<Self> {
        Self::start_with(target, addr, url, workers, &[]).await
    }

    /// [`Server::start`] with more environment: a cluster node's `FERRY_NATS_URL`, the
    /// peer's `SPLIT_PORTS`.
    pub async fn start_with(
        target: Target,
        addr: &str,
        url: &str,
        workers: usize,
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let mut command = match target {
            Target::Ferry => {
                let mut c = Command::new(sibling("ferry-server")?);
                // A directory per node (per address): nodes of a cluster keep their own.
                let dir = std::env::temp_dir().join(format!(
                    "ferry-bench-{}-{}",
                    std::process::id(),
                    addr.replace([':', '.'], "_")
                ));
                c.env("DATABASE_URL", url)
                    .env("FERRY_BIND", addr)
                    .env("FERRY_DATA_DIR", dir)
                    .env("FERRY_JWT_SECRET", JWT_SECRET)
                    // The scenarios are the load; per-user limits would only refuse it.
                    .env("FERRY_SEND_RATE", "1000000")
                    .env("FERRY_SEND_BURST", "1000000")
                    .env("FERRY_FRAME_RATE", "1000000")
                    .env("FERRY_MEMBERSHIP_RATE", "1000000")
                    // Every simulated client comes from loopback.
                    .env("FERRY_MAX_CONNECTIONS_PER_IP", "0")
                    .env("RUST_LOG", "warn");
                c
            }
            Target::Socketio => {
                let dir = peer_dir();
                if !dir.join("node_modules").exists() {
                    bail!(
                        "the Socket.IO peer is not installed: run `npm install` in {}",
                        dir.display()
                    );
                }
                let (host, port) = addr.rsplit_once(':').context("addr is host:port")?;
                let mut c = Command::new("node");
                c.arg(dir.join("server.js"))
                    .env("DATABASE_URL", url)
                    .env("HOST", host)
                    .env("PORT", port)
                    .env("JWT_SECRET", JWT_SECRET)
                    .env("WORKERS", workers.to_string());
                c
            }
        };
        command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {target:?}"))?;
        // Both print a line with "listening" once bound; then wait for readiness.
        let stdout = child.stdout.take().context("stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if line.contains("listening") {
                    return Ok(());
                }
            }
            bail!("{target:?} exited before listening")
        })
        .await
        .context("server start timed out")??;
        // Keep draining its output so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let server = Self {
            child,
            addr: addr.to_owned(),
        };
        if target == Target::Ferry {
            server.wait_ready().await?;
        }
        Ok(server)
    }

    /// Ferry prints its address before migrating; `/readyz` says when it serves.
    async fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(mut s) = tokio::net::TcpStream::connect(&self.addr).await {
                let req = format!(
                    "GET /readyz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                    self.addr
                );
                s.write_all(req.as_bytes()).await?;
                let mut answer = String::new();
                let _ = s.read_to_string(&mut answer).await;
                if answer.starts_with("HTTP/1.1 200") {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!("Ferry did not become ready");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// CPU and memory of the server's processes now.
    pub fn usage(&self) -> Usage {
        let Some(pid) = self.child.id() else {
            return Usage::default();
        };
        let mut total = Usage::default();
        for p in tree(pid) {
            let u = usage_of(p);
            total.cpu_secs += u.cpu_secs;
            total.rss_bytes += u.rss_bytes;
        }
        total
    }

    /// SIGKILLs the server and, for the peer's cluster, its workers (nothing to keep; a
    /// worker left behind would hold connections to a database being dropped). Also
    /// the "crash" of restart scenarios.
    pub async fn kill(&mut self) {
        if let Some(pid) = self.child.id() {
            let pids: Vec<String> = tree(pid).iter().map(u32::to_string).collect();
            let _ = tokio::process::Command::new("kill")
                .arg("-KILL")
                .args(&pids)
                .status()
                .await;
        }
        let _ = self.child.kill().await;
    }

    /// Stops the server for good.
    pub async fn stop(mut self) {
        self.kill().await;
    }
}

/// The directory of the Socket.IO peer.
pub fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/socketio")
}

/// A binary built beside this one (`cargo build --release -p ferry-server -p ferry-bench`).
fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name(name);
    if !path.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p ferry-server -p ferry-bench`",
            path.display()
        );
    }
    Ok(path)
}

/// `pid` and all its descendants (the children of each of a process's threads: a
/// process started from another thread than the main one is that thread's child).
pub(crate) fn tree(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let parent = all[i];
        let threads = std::fs::read_dir(format!("/proc/{parent}/task"))
            .into_iter()
            .flatten();
        for thread in threads.flatten() {
            let children =
                std::fs::read_to_string(thread.path().join("children")).unwrap_or_default();
            all.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
        i += 1;
    }
    all
}

/// CPU seconds of every `postgres` process on this machine: the postmaster, its
/// background workers and every backend, including those that have exited (the
/// postmaster reaps them, so their time is in its children's fields). Counts any other
/// database's work on the same Postgres too.
pub fn postgres_cpu_secs() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == "postgres")
        })
        .map(|pid| {
            let times = cpu_times(pid);
            times.own + times.reaped_children
        })
        .sum()
}

/// A process's CPU seconds (user + system): its own, and that of the children it has
/// waited for.
struct CpuTimes {
    own: f64,
    reaped_children: f64,
}

fn cpu_times(pid: u32) -> CpuTimes {
    let ticks = 100.0; // USER_HZ on Linux
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ") ".
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let num = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime, stime, cutime and cstime are fields 14 to 17 of the line: 11 to 14 counted
    // from the state field, the first after the name.
    CpuTimes {
        own: (num(11) + num(12)) / ticks,
        reaped_children: (num(13) + num(14)) / ticks,
    }
}

fn usage_of(pid: u32) -> Usage {
    let cpu_secs = cpu_times(pid).own;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    Usage {
        cpu_secs,
        rss_bytes: rss_kib * 1024,
    }
}

/// The CPU seconds of one process (not its children).
pub fn process_cpu_secs(pid: u32) -> f64 {
    cpu_times(pid).own
}

/// This process's own CPU and memory.
pub fn own_usage() -> Usage {
    usage_of(std::process::id())
}
