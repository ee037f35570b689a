//! The services a cluster scenario runs on, as child processes of its own so that it
//! may kill and restart them without touching the machine's: a NATS server
//! (`nats-server -a 127.0.0.1 -p PORT`) and a Postgres cluster (`initdb` into a
//! temporary directory, then `postgres -D DIR -p PORT -k /tmp`, as the `postgres` user,
//! since Postgres refuses to run as root). Each is started again on the same port and
//! data, and waited for by its "ready" line, with a deadline.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Where Debian's Postgres 15 keeps its programs.
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Debian's NATS server.
const NATS_SERVER: &str = "/usr/sbin/nats-server";

/// How long a service may take to say it is ready.
const START_LIMIT: Duration = Duration::from_secs(60);

/// A child process that prints `ready` (on stdout or stderr) once it serves.
struct Daemon {
    child: Child,
}

impl Daemon {
    /// Starts `command` and waits for a line containing `ready`; the rest of its
    /// output is drained so that it never blocks on a full pipe.
    async fn start(mut command: Command, ready: &'static str) -> anyhow::Result<Self> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {command:?}"))?;
        let stdout = child.stdout.take().context("stdout")?;
        let stderr = child.stderr.take().context("stderr")?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        for stream in [
            Box::new(stdout) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
            Box::new(stderr),
        ] {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let _ = tx.send(line);
                }
            });
        }
        drop(tx);
        let mut said = Vec::new();
        let found = tokio::time::timeout(START_LIMIT, async {
            while let Some(line) = rx.recv().await {
                let hit = line.contains(ready);
                said.push(line);
                if hit {
                    return true;
                }
            }
            false
        })
        .await;
        match found {
            Ok(true) => {}
            Ok(false) => bail!(
                "{command:?} exited before it was ready: {}",
                said.join(" | ")
            ),
            Err(_) => bail!("{command:?} not ready in {}s", START_LIMIT.as_secs()),
        }
        // Keep draining.
        tokio::spawn(async move { while rx.recv().await.is_some() {} });
        Ok(Self { child })
    }

    fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends `signal` and waits for the process to end.
    async fn stop(&mut self, signal: &str) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(pid.to_string())
                .status()
                .await;
        }
        if tokio::time::timeout(START_LIMIT, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// A NATS server of the scenario's own.
pub struct Nats {
    port: u16,
    daemon: Daemon,
}

impl Nats {
    pub async fn start(port: u16) -> anyhow::Result<Self> {
        let daemon = Daemon::start(Self::command(port), "Server is ready").await?;
        Ok(Self { port, daemon })
    }

    fn command(port: u16) -> Command {
        let mut c = Command::new(NATS_SERVER);
        c.args(["-a", "127.0.0.1", "-p", &port.to_string()]);
        c
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// SIGKILLs it (every subscription and message in flight is gone) and starts it
    /// again on the same port.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.daemon.stop("KILL").await;
        self.daemon = Daemon::start(Self::command(self.port), "Server is ready").await?;
        Ok(())
    }

    pub fn cpu_secs(&self) -> f64 {
        self.daemon
            .pid()
            .map_or(0.0, crate::target::process_cpu_secs)
    }

    pub async fn stop(mut self) {
        self.daemon.stop("KILL").await;
    }
}

/// A Postgres cluster of the scenario's own, in a temporary directory.
pub struct Postgres {
    port: u16,
    /// Owned by the `postgres` user; removed on drop.
    dir: tempfile::TempDir,
    daemon: Daemon,
}

impl Postgres {
    /// `initdb` (trust authentication, loopback only) and start.
    pub async fn start(port: u16) -> anyhow::Result<Self> {
        let user = postgres_user()?;
        let dir = tempfile::Builder::new()
            .prefix("ferry-bench-pg-")
            .tempdir()?;
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
        }
        let data = dir.path().join("data");
        let mut initdb = Command::new(Path::new(PG_BIN).join("initdb"));
        initdb
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data);
        as_user(&mut initdb, user);
        let status = initdb
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .await
            .context("initdb")?;
        if !status.status.success() {
            bail!("initdb: {}", String::from_utf8_lossy(&status.stderr));
        }
        let daemon = Daemon::start(Self::command(&data, port, user), "ready to accept").await?;
        Ok(Self { port, dir, daemon })
    }

    fn command(data: &PathBuf, port: u16, user: Option<(u32, u32)>) -> Command {
        let mut c = Command::new(Path::new(PG_BIN).join("postgres"));
        c.arg("-D")
            .arg(data)
            .args(["-p", &port.to_string(), "-k", "/tmp"])
            .args(["-c", "listen_addresses=127.0.0.1"])
            // Three nodes' pools (16 each), their presence and the generator's setup.
            .args(["-c", "max_connections=200"]);
        as_user(&mut c, user);
        c
    }

    /// The admin URL, to create the scenario's database from.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// An immediate shutdown (SIGQUIT: every backend ends at once, nothing is flushed,
    /// the next start runs crash recovery; a SIGKILL of the postmaster alone would
    /// leave its backends holding the shared memory, so that it could not start again
    /// until they noticed), then a start on the same data.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.daemon.stop("QUIT").await;
        let user = postgres_user()?;
        let data = self.dir.path().join("data");
        self.daemon =
            Daemon::start(Self::command(&data, self.port, user), "ready to accept").await?;
        Ok(())
    }

    pub async fn stop(mut self) {
        // A fast shutdown: the directory goes with it.
        self.daemon.stop("INT").await;
    }
}

fn as_user(command: &mut Command, user: Option<(u32, u32)>) {
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid);
    }
}

/// As root, the uid and gid of the `postgres` user (from /etc/passwd) to run Postgres
/// as; as anyone else, none (Postgres runs as that user).
fn postgres_user() -> anyhow::Result<Option<(u32, u32)>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let root = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1))
        == Some("0");
    if !root {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&"postgres"))
                .then(|| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))?
        })
        .map(Some)
        .context("no postgres user (Postgres 15 from Debian creates it)")
}
