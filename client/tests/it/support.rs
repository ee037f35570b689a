//! Harness: a server (in process on port 0, or the real binary), clients with their own
//! stores, a TCP proxy the test controls, and waiting on store state with a timeout that
//! fails the test (never a sleep).

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use ferry_client::tokens::MemoryTokens;
use ferry_client::{Client, ClientOptions, ConnectionState};
use ferry_server::Config;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// How long any awaited condition may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);
const JWT_SECRET: &str = "ferry-client-test-secret-0123456789abcdef";

pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// A database for the server: a SQLite file in `dir` (kept across restarts).
pub struct ServerData {
    pub dir: tempfile::TempDir,
}

impl ServerData {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("server.db").display())
    }

    pub fn config(&self) -> Config {
        let mut config = Config::defaults();
        config.database_url = Some(self.url());
        config.data_dir = self.dir.path().join("data");
        config.jwt_secret = Some(JWT_SECRET.into());
        config.send_rate_per_sec = 1_000_000;
        config.send_burst = 1_000_000;
        config.frame_rate_per_sec = 1_000_000;
        config.login_rate_per_min = 1_000_000;
        config.auth_rate_per_ip_per_min = 1_000_000;
        config.heartbeat_secs = 1;
        config
    }
}

/// The server in this process.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ferry_server::StartError>>,
}

impl Server {
    pub async fn start(data: &ServerData) -> Self {
        Self::start_with(data.config()).await
    }

    /// Starts on a given address (to come back on the same port after a stop).
    pub async fn start_at(config: Config, addr: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind");
        Self::serve(config, listener).await
    }

    pub async fn start_with(config: Config) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::serve(config, listener).await
    }

    async fn serve(config: Config, listener: TcpListener) -> Self {
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(ferry_server::run(listener, config, async move {
            let _ = stopped.await;
        }));
        let ready = within(
            "server start",
            reqwest::get(format!("http://{addr}/readyz")),
        )
        .await;
        assert!(ready.expect("readyz").status().is_success());
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        within("server stop", &mut self.task)
            .await
            .expect("join")
            .expect("clean stop");
    }

    /// GET requests the server has answered on `route` (from its own metrics).
    pub async fn requests(&self, route: &str) -> u64 {
        requests_at(self.addr, route).await
    }
}

pub async fn requests_at(addr: SocketAddr, route: &str) -> u64 {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .filter(|l| l.starts_with("ferry_http_request_duration_seconds_count{"))
        .filter(|l| l.contains("method=\"GET\"") && l.contains(&format!("route=\"{route}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The real `ferry-server` binary, for tests that kill it with SIGKILL.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
}

fn server_binary() -> PathBuf {
    // Integration tests live in target/<profile>/deps; the workspace's binaries are built
    // next to that directory by `cargo test --workspace`.
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join("ferry-server");
    assert!(
        path.exists(),
        "{} is missing: run `cargo test --workspace`",
        path.display()
    );
    path
}

impl ServerProcess {
    pub async fn start(data: &ServerData, bind: &str) -> Self {
        let mut child = Command::new(server_binary())
            .env("DATABASE_URL", data.url())
            .env("FERRY_BIND", bind)
            .env("FERRY_DATA_DIR", data.dir.path().join("data"))
            .env("FERRY_JWT_SECRET", JWT_SECRET)
            .env("FERRY_SEND_RATE", "1000000")
            .env("FERRY_SEND_BURST", "1000000")
            .env("FERRY_FRAME_RATE", "1000000")
            .env("FERRY_AUTH_RATE_PER_IP", "1000000")
            .env("FERRY_HEARTBEAT_SECS", "1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn ferry-server");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let addr = within("the server to listen", async {
            while let Some(line) = lines.next_line().await.expect("stdout") {
                if let Some(rest) = line.strip_prefix("Ferry server listening on http://") {
                    return rest
                        .split_whitespace()
                        .next()
                        .expect("addr")
                        .parse()
                        .expect("addr");
                }
            }
            panic!("ferry-server exited before listening");
        })
        .await;
        Self { child, addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL");
        within("exit", self.child.wait()).await.expect("wait");
    }
}

/// A client with its own data directory and in-memory credentials, fast reconnects.
pub struct Device {
    pub client: Client,
    pub dir: PathBuf,
    pub tokens: Arc<MemoryTokens>,
    _keep: Arc<tempfile::TempDir>,
}

pub fn options(server_url: &str, dir: &std::path::Path) -> ClientOptions {
    let mut options = ClientOptions::new(server_url, dir);
    options.reconnect_min = Duration::from_millis(50);
    options.reconnect_max = Duration::from_millis(500);
    options
}

impl Device {
    pub async fn register(server_url: &str, username: &str) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let tokens = Arc::new(MemoryTokens::default());
        let client = Client::register(
            options(server_url, dir.path()),
            tokens.clone(),
            username,
            "correct horse battery",
            username,
        )
        .await
        .expect("register");
        Self {
            client,
            dir: dir.path().to_path_buf(),
            tokens,
            _keep: dir,
        }
    }

    /// Another device of an existing account.
    pub async fn login(server_url: &str, username: &str) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let tokens = Arc::new(MemoryTokens::default());
        let client = Client::login(
            options(server_url, dir.path()),
            tokens.clone(),
            username,
            "correct horse battery",
        )
        .await
        .expect("login");
        Self {
            client,
            dir: dir.path().to_path_buf(),
            tokens,
            _keep: dir,
        }
    }

    /// The same device after a process restart: a new `Client` on the same files.
    pub async fn restart(self, server_url: &str) -> Self {
        self.client.stop().await;
        let Device {
            dir,
            tokens,
            _keep,
            client,
        } = self;
        drop(client);
        let client = Client::resume(options(server_url, &dir), tokens.clone())
            .expect("resume")
            .expect("still signed in");
        Self {
            client,
            dir,
            tokens,
            _keep,
        }
    }

    pub fn id(&self) -> Uuid {
        self.client.me().id
    }

    /// Waits until `check` holds on this client's store, re-checking after every event.
    pub async fn until(&self, what: &str, check: impl Fn(&Client) -> bool) {
        let mut events = self.client.events();
        within(what, async {
            loop {
                if check(&self.client) {
                    return;
                }
                // Lagged or not, something changed: look again.
                let _ = events.recv().await;
            }
        })
        .await;
    }

    pub async fn online(&self) {
        let mut state = self.client.connection();
        within("online", state.wait_for(|s| *s == ConnectionState::Online))
            .await
            .expect("state");
    }

    /// Messages of a conversation as (seq, body), all of them.
    pub fn history(&self, conversation: Uuid) -> Vec<(Option<i64>, String)> {
        self.client
            .messages(conversation, None, u32::MAX)
            .expect("messages")
            .into_iter()
            .map(|m| (m.seq, m.body))
            .collect()
    }
}

/// What the proxy does to the connections it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward both ways.
    None,
    /// Close both sides at once (a TCP error the client sees).
    Drop,
    /// Forward nothing, close nothing: only the heartbeat rule can tell.
    Stall,
    /// Close the server side; the client side stays open and silent.
    HalfOpen,
}

/// A TCP proxy in front of the server. A fault applies to the connections open when it is
/// set; connections made later are forwarded normally.
pub struct Proxy {
    pub addr: SocketAddr,
    faults: watch::Sender<(u64, Fault)>,
    task: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let (faults, _) = watch::channel((0u64, Fault::None));
        let sender = faults.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let generation = sender.borrow().0;
                let rx = sender.subscribe();
                tokio::spawn(carry(client, upstream, generation, rx));
            }
        });
        Self { addr, faults, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Applies `fault` to every connection open now.
    pub fn fault(&self, fault: Fault) {
        self.faults.send_modify(|(generation, f)| {
            *f = fault;
            *generation += 1;
        });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn carry(
    client: TcpStream,
    upstream: SocketAddr,
    born: u64,
    mut faults: watch::Receiver<(u64, Fault)>,
) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = tokio::io::copy(&mut client_read, &mut server_write);
    let down = tokio::io::copy(&mut server_read, &mut client_write);
    let fault = async {
        loop {
            if faults.changed().await.is_err() {
                return Fault::None;
            }
            let (generation, fault) = *faults.borrow();
            // Only faults set after this connection was made apply to it.
            if generation > born && fault != Fault::None {
                return fault;
            }
        }
    };
    let outcome = tokio::select! {
        _ = up => return,
        _ = down => return,
        fault = fault => fault,
    };
    match outcome {
        Fault::None | Fault::Drop => {}
        Fault::Stall => {
            // Forward nothing either way. When the server gives up on its side (its own
            // heartbeat rule), the client's side still stays open and silent: only the
            // client's heartbeat rule can tell.
            let (mut from_client, mut from_server) = ([0u8; 4096], [0u8; 4096]);
            loop {
                use tokio::io::AsyncReadExt;
                tokio::select! {
                    r = client_read.read(&mut from_client) => if matches!(r, Ok(0) | Err(_)) { return },
                    r = server_read.read(&mut from_server) => if matches!(r, Ok(0) | Err(_)) { break },
                }
            }
            hold_client_side(client_read).await;
        }
        Fault::HalfOpen => {
            drop(server_read);
            drop(server_write);
            hold_client_side(client_read).await;
        }
    }
}

/// Keeps the client's side of a connection open, reading and dropping whatever it sends,
/// until the client closes it.
async fn hold_client_side(mut client_read: tokio::net::tcp::OwnedReadHalf) {
    use tokio::io::AsyncReadExt;
    let mut sink = [0u8; 4096];
    while !matches!(client_read.read(&mut sink).await, Ok(0) | Err(_)) {}
}

/// Opens the direct conversation between two devices and waits until both know it.
pub async fn direct(a: &Device, b: &Device) -> Uuid {
    let id = a
        .client
        .open_direct(&b.client.me().username)
        .await
        .expect("direct");
    b.until("the other side knows the chat", |c| {
        c.conversation(id).ok().flatten().is_some()
    })
    .await;
    id
}
