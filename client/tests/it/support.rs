//! Harness: the server from the shared test kit (in process on port 0, or the real
//! binary) with a short heartbeat, clients with their own stores, a TCP proxy the test
//! controls, and waiting on store state with a timeout that fails the test (never a
//! sleep).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ferry_client::tokens::MemoryTokens;
use ferry_client::{Client, ClientOptions, ConnectionState, ConversationHandle, Files};
use ferry_proto::{ConversationId, UserId};
use ferry_server::Config;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use ferry_testkit::{Served, ServerProcess, TestDb, TestServer, within};

/// The server's configuration here: the test kit's, with a one-second heartbeat so that
/// the heartbeat rule notices a dead link within a test's patience.
pub fn config(data: &TestDb) -> Config {
    let mut config = ferry_testkit::test_config(data);
    config.heartbeat_secs = 1;
    config
}

/// The real `ferry-server` binary (built by `cargo test --workspace`) on `data`, bound to
/// `bind`, for tests that kill it with SIGKILL.
pub async fn server_process(data: &TestDb, bind: &str) -> ServerProcess {
    let mut config = config(data);
    config.bind = bind.parse().expect("a socket address");
    ServerProcess::start(&ferry_testkit::workspace_binary("ferry-server"), &config).await
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
    /// The conversation `id`, through this device's client.
    pub fn conversation(&self, id: ConversationId) -> ConversationHandle<'_> {
        self.client.conversation(id)
    }

    /// The files that arrived at this device.
    pub fn files(&self) -> Files<'_> {
        self.client.files()
    }

    /// The path of this device's database: the `ferry.db` in its account folder.
    pub fn database(&self) -> PathBuf {
        ferry_client::current_account_dir(&self.dir)
            .expect("an account folder")
            .join("ferry.db")
    }

    /// A connection of a test's own to this device's database, unlocked with the key its
    /// token store holds for the database's folder.
    pub fn open_database(&self) -> rusqlite::Connection {
        use ferry_client::tokens::TokenStore;
        let path = self.database();
        let folder = path
            .parent()
            .and_then(|p| p.file_name())
            .expect("an account folder")
            .to_string_lossy()
            .into_owned();
        let key = self
            .tokens
            .database_key(&folder)
            .expect("the token store")
            .expect("the folder's database key");
        let db = rusqlite::Connection::open(&path).expect("open the database");
        db.pragma_update(None, "key", format!("x'{}'", *key.to_hex()))
            .expect("give the key");
        db
    }

    pub async fn register(server_url: &str, username: &str) -> Self {
        Self::register_with(server_url, username, |_| {}).await
    }

    /// [`Self::register`], with `tune` applied to the client's options.
    pub async fn register_with(
        server_url: &str,
        username: &str,
        tune: impl FnOnce(&mut ClientOptions),
    ) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let tokens = Arc::new(MemoryTokens::default());
        let mut options = options(server_url, dir.path());
        tune(&mut options);
        let client = Client::register(
            options,
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

    /// The same data folder signed in to again, with a token store that holds nothing (a
    /// keyring wiped, or the folder copied to another machine).
    pub async fn sign_in_with_new_keyring(self, server_url: &str) -> Self {
        self.client.stop().await;
        let Device {
            dir, _keep, client, ..
        } = self;
        let username = client.me().username;
        drop(client);
        let tokens = Arc::new(MemoryTokens::default());
        let client = Client::login(
            options(server_url, &dir),
            tokens.clone(),
            &username,
            "correct horse battery",
        )
        .await
        .expect("sign in again");
        Self {
            client,
            dir,
            tokens,
            _keep,
        }
    }

    /// The same device after a process restart: a new `Client` on the same files.
    pub async fn restart(self, server_url: &str) -> Self {
        self.restart_with(server_url, |_| {}).await
    }

    /// [`Self::restart`], with `tune` applied to the new client's options.
    pub async fn restart_with(
        self,
        server_url: &str,
        tune: impl FnOnce(&mut ClientOptions),
    ) -> Self {
        self.client.stop().await;
        let Device {
            dir,
            tokens,
            _keep,
            client,
        } = self;
        drop(client);
        let mut options = options(server_url, &dir);
        tune(&mut options);
        let client = Client::resume(options, tokens.clone())
            .expect("resume")
            .expect("still signed in");
        Self {
            client,
            dir,
            tokens,
            _keep,
        }
    }

    pub fn id(&self) -> UserId {
        self.client.me().id
    }

    /// Waits until `check` holds on this client's store, re-checking after every event.
    pub async fn until(&self, what: &str, check: impl Fn(&Client) -> bool) {
        if self
            .settle(ferry_testkit::WAIT, check, |holds| *holds)
            .await
            .is_err()
        {
            panic!(
                "timed out after {:?} waiting for {what}",
                ferry_testkit::WAIT
            );
        }
    }

    /// Waits until `read` gives `expected`, re-reading after every event; a timeout fails
    /// the test with what it read last, so that a failure says how far it got.
    pub async fn until_eq<T: PartialEq + std::fmt::Debug>(
        &self,
        expected: &T,
        read: impl Fn(&Client) -> T,
    ) {
        self.until_eq_for(ferry_testkit::WAIT, expected, read).await;
    }

    /// [`until_eq`](Self::until_eq) with a bound of its own, for a wait on more work than
    /// the test kit's `WAIT` is sized for.
    pub async fn until_eq_for<T: PartialEq + std::fmt::Debug>(
        &self,
        limit: std::time::Duration,
        expected: &T,
        read: impl Fn(&Client) -> T,
    ) {
        if let Err(last) = self.settle(limit, read, |got| got == expected).await {
            panic!("timed out after {limit:?} waiting for {expected:?}; last read {last:?}");
        }
    }

    /// Reads this client's store with `read` after every event until `done` holds of what
    /// it read; what it read last if that took longer than `limit`.
    async fn settle<T>(
        &self,
        limit: std::time::Duration,
        read: impl Fn(&Client) -> T,
        done: impl Fn(&T) -> bool,
    ) -> Result<(), T> {
        let mut events = self.client.events();
        let mut last = read(&self.client);
        let waited = tokio::time::timeout(limit, async {
            while !done(&last) {
                // Lagged or not, something changed: look again.
                let _ = events.recv().await;
                last = read(&self.client);
            }
        })
        .await;
        waited.map_err(|_| last)
    }

    pub async fn online(&self) {
        let mut state = self.client.connection();
        within("online", state.wait_for(|s| *s == ConnectionState::Online))
            .await
            .expect("state");
    }

    /// Messages of a conversation as (seq, body), all of them.
    pub fn history(&self, conversation: ConversationId) -> Vec<(Option<i64>, String)> {
        self.conversation(conversation)
            .messages(None, u32::MAX)
            .expect("messages")
            .into_iter()
            .map(|m| (m.seq, m.body))
            .collect()
    }
}

/// Devices of new accounts `names` on the server at `url`, all signed up first, then
/// started, then online.
pub async fn online<const N: usize>(url: &str, names: [&str; N]) -> [Device; N] {
    online_with(url, names, |_| {}).await
}

/// [`online`], with `tune` applied to each client's options.
pub async fn online_with<const N: usize>(
    url: &str,
    names: [&str; N],
    tune: impl Fn(&mut ClientOptions),
) -> [Device; N] {
    let mut devices = Vec::with_capacity(N);
    for name in names {
        devices.push(Device::register_with(url, name, &tune).await);
    }
    for device in &devices {
        device.client.start();
    }
    for device in &devices {
        device.online().await;
    }
    match devices.try_into() {
        Ok(devices) => devices,
        Err(_) => unreachable!("one device per name"),
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
    /// Forward nothing more, and reset the client's side when it next writes: a server
    /// closing a kept-alive connection it found idle just as the client reuses it.
    ResetOnRequest,
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
        Fault::ResetOnRequest => {
            drop(server_read);
            drop(server_write);
            use tokio::io::AsyncReadExt;
            let _ = client_read.read(&mut [0u8; 1]).await;
            if let Ok(client) = client_read.reunite(client_write) {
                // A zero linger makes the close a reset (RST), not a FIN.
                let _ = client.set_zero_linger();
            }
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

/// Whether the conversation is end-to-end encrypted on this device.
pub fn encrypted(c: &Client, chat: ConversationId) -> bool {
    c.conversation(chat)
        .summary()
        .ok()
        .flatten()
        .is_some_and(|s| s.encrypted)
}

/// Alice and Bob online at `url`, in a direct chat that both hold as encrypted.
pub async fn encrypted_chat(url: &str) -> ([Device; 2], ConversationId) {
    let [alice, bob] = online(url, ["alice", "bob"]).await;
    let chat = direct(&alice, &bob).await;
    for device in [&alice, &bob] {
        device
            .until("the chat is encrypted", |c| encrypted(c, chat))
            .await;
    }
    ([alice, bob], chat)
}

/// Opens the direct conversation between two devices, waits until both know it, and has
/// the second accept it: they know each other.
pub async fn direct(a: &Device, b: &Device) -> ConversationId {
    let id = a
        .client
        .open_direct(&b.client.me().username)
        .await
        .expect("direct");
    b.until("the other side knows the chat", |c| {
        c.conversation(id).summary().ok().flatten().is_some()
    })
    .await;
    // They know each other: the message request is accepted (`requests.rs` tests
    // strangers).
    b.conversation(id).accept().await.expect("accept");
    id
}

/// A group `owner` makes with `others`, who know the owner first (a group of strangers
/// is a message request each), once it is end-to-end encrypted on every device.
pub async fn encrypted_group(owner: &Device, others: &[&Device], title: &str) -> ConversationId {
    for other in others {
        direct(owner, other).await;
    }
    let ids: Vec<UserId> = others.iter().map(|d| d.id()).collect();
    let group = owner.client.create_group(title, &ids).await.expect("group");
    for device in std::iter::once(owner).chain(others.iter().copied()) {
        device
            .until("the group is encrypted", |c| encrypted(c, group))
            .await;
    }
    group
}
