//! The open-loop driver. One task per connection owns its socket; a scheduler hands
//! each send to its connection at the send's scheduled time whether or not earlier
//! ones were answered, so a slow server shows up as latency rather than as a slower
//! offered rate. Latency is always receive time minus scheduled time (wall clock, in
//! microseconds; the scheduled time travels in the message body). Every connection also
//! checks what it receives ([`Inbox`]): a message id twice is a duplicate, a seq not
//! above the last one of its conversation is a reordering, and what never came is lost.
//! By default a connection ends with its socket; in resume mode ([`Resume`]) it comes
//! back, catches up and resends (crate::resume).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use ferry_proto::mls::{MlsBytes, SealedContent};
use ferry_proto::{Change, ChangeKind, ConversationId, MessageId, UserId};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::net::TcpSocket;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::clock::{micros, now_us};
use crate::lock;
use crate::resume::{Owed, Rejoin, Resume, Resumer};
use crate::sealing::Sealer;
use crate::wire::{AckRef, Incoming, StoredMessage, Target};

/// A latency histogram in µs, 3 significant digits. It grows to the largest value it is
/// given instead of being allocated up to 600 s: a connection keeps three besides its
/// per-step ones, and at full size they took ~480 KiB a connection (3.9 GiB in a worker
/// of 7,500 idle connections), pages the generator zeroed on the shared cores while
/// the server was being measured.
fn histogram() -> Histogram<u64> {
    Histogram::new(3).expect("valid precision")
}

/// What a connection is asked to do.
pub enum Command {
    /// Send a message to a conversation with `recipients` other members. The body
    /// starts with "<scheduled_us> <phase> ": receivers read both from it.
    Send {
        conversation_id: ConversationId,
        recipients: u32,
        scheduled_us: u64,
        phase: usize,
        body: String,
    },
    /// Edit (`kind` Edit, with `body` as the new text) or react to (`kind` React) this
    /// connection's newest acked message in a conversation: a change, stored and
    /// delivered as an entry of the stream like a message. With no acked message there
    /// yet, a plain message with `body` goes instead.
    Change {
        conversation_id: ConversationId,
        recipients: u32,
        scheduled_us: u64,
        phase: usize,
        kind: ChangeKind,
        body: String,
    },
    /// Send a typing notice into conversation number `index`: started or stopped (Ferry
    /// relays only a change, so a rising rate alternates them).
    Typing {
        conversation_id: ConversationId,
        index: usize,
        typing: bool,
        scheduled_us: u64,
    },
}

/// Counters every connection updates as it goes, read by the driver to know when
/// everything expected has arrived.
#[derive(Default)]
pub struct Progress {
    pub ready: AtomicU64,
    pub failed: AtomicU64,
    pub closed: AtomicU64,
    pub acked: AtomicU64,
    pub refused: AtomicU64,
    pub expected_deliveries: AtomicU64,
    pub deliveries: AtomicU64,
    pub typings: AtomicU64,
    /// Resume mode: sockets cut on purpose, new sockets after a loss, catch-ups done,
    /// deliveries that came by catch-up, sends sent again, catch-ups given up.
    pub cuts: AtomicU64,
    pub reconnects: AtomicU64,
    pub caught_up: AtomicU64,
    pub replayed: AtomicU64,
    pub resent: AtomicU64,
    pub catch_up_failures: AtomicU64,
    /// Resume mode: `resync` frames obeyed (a cluster node missed bus traffic), and
    /// sends refused for a passing reason and sent again.
    pub resyncs: AtomicU64,
    pub retried: AtomicU64,
    /// Resume mode on Ferry: gaps fetched because a message or an ack came past one (a
    /// socket never writes a frame below its highest one, so a frame that lost a race
    /// between two nodes, or an ack that overtook a frame, is fetched by the client, as
    /// ferry-client does).
    pub gap_catch_ups: AtomicU64,
    /// Resume mode, now: connections without a socket, and connections that lost one
    /// (or found a gap) and have not caught up yet.
    pub offline: AtomicU64,
    pub behind: AtomicU64,
    /// Resume mode: attempts at a new socket that failed (the first few are printed).
    pub reconnect_failures: AtomicU64,
    /// Encrypted runs: sealed entries that did not open to what was sealed, and sends
    /// that could not be sealed (the first few are printed).
    pub undecryptable: AtomicU64,
    pub unsealed: AtomicU64,
    /// Encrypted runs, at the end: sealed entries still waiting for one below them.
    pub unopened: AtomicU64,
}

impl Progress {
    /// Whether each of a fleet's `size` connections is signed in or has failed to.
    pub fn settled(&self, size: u64) -> bool {
        self.ready.load(Ordering::Relaxed) + self.failed.load(Ordering::Relaxed) >= size
    }
}

/// What one connection saw, merged over all of them at the end. Latencies are kept
/// per phase (a step of a rising-rate scenario), so each step has its own percentiles.
pub struct Tally {
    pub ack: Vec<Histogram<u64>>,
    pub delivery: Vec<Histogram<u64>>,
    pub typing: Histogram<u64>,
    /// Resume mode: socket lost → new socket ready, and socket lost → caught up.
    pub reconnect: Histogram<u64>,
    pub replay: Histogram<u64>,
    pub duplicates: u64,
    /// Resume mode: a message given live on a later socket of the connection after an
    /// earlier socket had it live (a cluster node's bus event that came after the
    /// reconnect). A client drops it by id, as it drops a catch-up's overlap; counted,
    /// not a duplicate on one socket.
    pub later_socket_repeats: u64,
    pub reordered: u64,
    pub refusals: HashMap<String, u64>,
    /// Encrypted runs (crate::sealing): the time to seal a send and to open an entry
    /// (µs).
    pub seal: Histogram<u64>,
    pub open: Histogram<u64>,
}

impl Tally {
    fn new() -> Self {
        Self {
            ack: Vec::new(),
            delivery: Vec::new(),
            typing: histogram(),
            reconnect: histogram(),
            replay: histogram(),
            duplicates: 0,
            later_socket_repeats: 0,
            reordered: 0,
            refusals: HashMap::new(),
            seal: histogram(),
            open: histogram(),
        }
    }

    fn merge(&mut self, other: Tally) {
        merge_phases(&mut self.ack, other.ack);
        merge_phases(&mut self.delivery, other.delivery);
        let _ = self.typing.add(&other.typing);
        let _ = self.reconnect.add(&other.reconnect);
        let _ = self.replay.add(&other.replay);
        self.duplicates += other.duplicates;
        self.later_socket_repeats += other.later_socket_repeats;
        self.reordered += other.reordered;
        let _ = self.seal.add(&other.seal);
        let _ = self.open.add(&other.open);
        for (code, n) in other.refusals {
            *self.refusals.entry(code).or_default() += n;
        }
    }
}

fn merge_phases(into: &mut Vec<Histogram<u64>>, from: Vec<Histogram<u64>>) {
    for (i, h) in from.into_iter().enumerate() {
        let _ = phase(into, i).add(&h);
    }
}

/// The histogram of phase `i`, created when first used.
fn phase(hs: &mut Vec<Histogram<u64>>, i: usize) -> &mut Histogram<u64> {
    while hs.len() <= i {
        hs.push(histogram());
    }
    &mut hs[i]
}

/// The scheduled times of typing notices not yet delivered, per conversation (in B2 one
/// member types and one receives, in order, so the oldest is the one that arrived).
pub type TypingQueues = Arc<Vec<Mutex<VecDeque<u64>>>>;

/// Source addresses a fleet spreads its connections over: each gives the ~28k ephemeral
/// ports of Linux's default range, so 8 are plenty for any fleet here.
pub const SOURCES: u8 = 8;

/// The first source address of a fleet in the generator's own process.
pub const FIRST_SOURCE: u8 = 1;

/// The servers a fleet connects to: one, or the nodes of a cluster (B8, B11), and which
/// node each connection starts on.
pub struct Nodes {
    pub addrs: Vec<String>,
    /// The node (index into `addrs`) of each connection; connections past its end, or
    /// all when it is empty, go round robin.
    pub homes: Vec<usize>,
}

impl Nodes {
    /// One server.
    pub fn one(addr: &str) -> Self {
        Self {
            addrs: vec![addr.to_owned()],
            homes: Vec::new(),
        }
    }

    /// Connections spread round robin over `addrs`.
    pub fn spread(addrs: Vec<String>) -> Self {
        Self {
            addrs,
            homes: Vec::new(),
        }
    }

    fn home(&self, i: usize) -> usize {
        self.homes
            .get(i)
            .copied()
            .unwrap_or(i % self.addrs.len().max(1))
    }
}

/// Whom a fleet's connections are: a token each, and in an encrypted run each one's
/// device (crate::sealing), in the same order.
pub struct Users {
    pub tokens: Vec<String>,
    pub sealers: Vec<Sealer>,
}

impl From<Vec<String>> for Users {
    fn from(tokens: Vec<String>) -> Self {
        Self {
            tokens,
            sealers: Vec::new(),
        }
    }
}

/// All connections of a run.
pub struct Fleet {
    senders: Vec<mpsc::UnboundedSender<Command>>,
    tasks: Vec<JoinHandle<Tally>>,
    stop: watch::Sender<bool>,
    pub progress: Arc<Progress>,
    /// Resume mode's shared part, to turn cuts on and off.
    rejoin: Option<Arc<Rejoin>>,
}

impl Fleet {
    /// Starts opening one connection per token (at most `parallel` handshakes at a time,
    /// from source addresses 127.0.0.`first_source` to 127.0.0.`first_source + SOURCES -
    /// 1` in turn so ephemeral ports never run out; a worker process of crate::workers
    /// gets its own range), and returns without waiting for them ([`Fleet::settled`]
    /// waits). With `resume`, connections come back after losing their socket (in
    /// Ferry's case after a first `/sync`), to any of the `nodes`.
    pub fn open(
        target: Target,
        nodes: &Nodes,
        users: Users,
        typing_queues: Option<(TypingQueues, Arc<HashMap<ConversationId, usize>>)>,
        parallel: usize,
        resume: Option<Resume>,
        first_source: u8,
    ) -> anyhow::Result<Self> {
        let last_source = u16::from(first_source) + u16::from(SOURCES) - 1;
        if first_source == 0 || last_source > 254 {
            anyhow::bail!(
                "source addresses 127.0.0.{first_source}–{last_source} are not all in 127.0.0.1–254"
            );
        }
        let servers: Arc<[SocketAddr]> = nodes
            .addrs
            .iter()
            .map(|a| a.parse().context("server address"))
            .collect::<anyhow::Result<Vec<_>>>()?
            .into();
        anyhow::ensure!(!servers.is_empty(), "no server to connect to");
        let progress = Arc::new(Progress::default());
        let (stop, stopped) = watch::channel(false);
        let gate = Arc::new(Semaphore::new(parallel));
        let rejoin = match &resume {
            Some(r) => Some(Arc::new(Rejoin::new(&nodes.addrs, r.cut_every)?)),
            None => None,
        };
        let Users { tokens, sealers } = users;
        let mut sealers = sealers.into_iter();
        let mut senders = Vec::with_capacity(tokens.len());
        let mut tasks = Vec::with_capacity(tokens.len());
        for (i, token) in tokens.into_iter().enumerate() {
            let (tx, rx) = mpsc::unbounded_channel();
            senders.push(tx);
            let resumer = match (&resume, &rejoin) {
                (Some(r), Some(rejoin)) => Some(Resumer::new(
                    rejoin.clone(),
                    *r.users.get(i).context("a user per token")?,
                    i as u64,
                )),
                _ => None,
            };
            let conn = Connection {
                target,
                servers: servers.clone(),
                node: nodes.home(i),
                source: Ipv4Addr::new(127, 0, 0, first_source + (i % SOURCES as usize) as u8),
                token,
                commands: rx,
                stopped: stopped.clone(),
                progress: progress.clone(),
                typing: typing_queues.clone(),
                gate: gate.clone(),
                resume: resumer,
                sealer: sealers.next(),
                tally: Tally::new(),
                inbox: Inbox::default(),
                pending: HashMap::new(),
                own_newest: HashMap::new(),
                retry: Vec::new(),
                next_ack: 0,
                sends: 0,
            };
            tasks.push(tokio::spawn(conn.run()));
        }
        Ok(Self {
            senders,
            tasks,
            stop,
            progress,
            rejoin,
        })
    }

    /// Waits until every connection is signed in or has failed to.
    pub async fn settled(self) -> Self {
        let size = self.size();
        self.wait_until(Duration::from_secs(300), |p| p.settled(size))
            .await;
        self
    }

    /// How many connections the fleet has.
    pub fn size(&self) -> u64 {
        self.senders.len() as u64
    }

    /// Hands a command to connection `i`.
    pub fn command(&self, i: usize, command: Command) {
        let _ = self.senders[i].send(command);
    }

    /// Resume mode: turns the connections' cuts of their own sockets on or off.
    pub fn set_cutting(&self, on: bool) {
        if let Some(rejoin) = &self.rejoin {
            rejoin.set_cutting(on);
        }
    }

    /// Polls `done` every 10 ms until it holds or `limit` passes; whether it held.
    pub async fn wait_until(&self, limit: Duration, done: impl Fn(&Progress) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while !done(&self.progress) {
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Closes every connection and merges what they saw.
    pub async fn finish(self) -> Tally {
        let _ = self.stop.send(true);
        let mut total = Tally::new();
        for task in self.tasks {
            if let Ok(tally) = task.await {
                total.merge(tally);
            }
        }
        total
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// How a socket's life ended.
enum Ended {
    /// The fleet is done (the socket is handed back to be closed properly).
    Stopped(Box<Socket>),
    /// The socket broke, or was cut.
    Lost,
}

/// How a message reached a connection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    /// Live, on the connection's socket of this number.
    Live(u32),
    CatchUp,
}

/// What one connection has received, to tell a delivery from a duplicate, a reordering,
/// or the overlap of a catch-up with live frames (the same message both ways, which a
/// client drops by id: not the server's fault).
#[derive(Default)]
struct Inbox {
    /// Every message id received, and how it came first.
    seen: HashMap<MessageId, Via>,
    /// The number of the current socket (the first is 0).
    socket: u32,
    /// The highest seq held per conversation with none missing below it, either way
    /// (own acked sends too): where a catch-up starts, as in the client's store.
    last_seq: HashMap<ConversationId, i64>,
    /// Seqs held above a gap, per conversation (none when there is no gap).
    above: HashMap<ConversationId, BTreeSet<i64>>,
    /// The highest seq received live per conversation on the current socket: live
    /// frames must rise. Without resume mode this is always `last_seq`.
    live_last: HashMap<ConversationId, i64>,
}

impl Inbox {
    /// A live message: whether it is a new delivery (a duplicate or a reordering is
    /// counted in `tally`; the overlap with a catch-up is not).
    fn live(
        &mut self,
        id: MessageId,
        conversation_id: ConversationId,
        seq: i64,
        tally: &mut Tally,
    ) -> bool {
        match self.seen.get(&id) {
            Some(Via::Live(socket)) if *socket == self.socket => {
                tally.duplicates += 1;
                return false;
            }
            Some(Via::Live(_)) => {
                tally.later_socket_repeats += 1;
                return false;
            }
            Some(Via::CatchUp) => return false,
            None => {}
        }
        self.seen.insert(id, Via::Live(self.socket));
        let last = self.live_last.entry(conversation_id).or_insert(0);
        if seq <= *last {
            tally.reordered += 1;
        }
        *last = (*last).max(seq);
        true
    }

    /// Holds message `seq` of `conversation` (received either way, or an own send's
    /// ack); `last_seq` moves up while nothing is missing below.
    fn hold(&mut self, conversation: ConversationId, seq: i64) {
        let held = self.last_seq.entry(conversation).or_insert(0);
        if seq <= *held {
            return;
        }
        if seq > *held + 1 {
            self.above.entry(conversation).or_default().insert(seq);
            return;
        }
        *held = seq;
        if let Some(above) = self.above.get_mut(&conversation) {
            while above.remove(&(*held + 1)) {
                *held += 1;
            }
            if above.is_empty() {
                self.above.remove(&conversation);
            }
        }
    }

    /// The conversations with a gap below a seq held: `(conversation, held, highest)`.
    fn gaps(&self) -> Vec<(ConversationId, i64, i64)> {
        self.above
            .iter()
            .filter_map(|(c, above)| {
                let highest = above.last()?;
                Some((*c, self.last_seq.get(c).copied().unwrap_or(0), *highest))
            })
            .collect()
    }

    /// A catch-up's messages (ascending per conversation): deliveries unless already
    /// here or sent by `me`, whose own messages only move the seq on.
    fn caught_up(
        &mut self,
        messages: Vec<StoredMessage>,
        me: UserId,
        now: u64,
        tally: &mut Tally,
        progress: &Progress,
        mut sealer: Option<&mut Sealer>,
    ) {
        let mut previous: HashMap<ConversationId, i64> = HashMap::new();
        for m in messages {
            let before = previous.entry(m.conversation_id).or_insert(0);
            if m.seq <= *before {
                tally.reordered += 1;
            }
            *before = m.seq;
            self.hold(m.conversation_id, m.seq);
            if m.sender_id == me || self.seen.contains_key(&m.id) {
                continue;
            }
            self.seen.insert(m.id, Via::CatchUp);
            progress.replayed.fetch_add(1, Ordering::Relaxed);
            match (&m.sealed, sealer.as_deref_mut()) {
                (Some(sealed), Some(sealer)) => {
                    let arrived = Arrived {
                        id: m.id,
                        conversation: m.conversation_id,
                        seq: m.seq,
                        sender: m.sender_id,
                        sealed,
                    };
                    delivered_sealed(sealer, arrived, now, tally, progress);
                }
                _ => delivered(&m.body, now, tally, progress),
            }
        }
        for conversation in previous.into_keys() {
            open_held(sealer.as_deref_mut(), self, conversation, tally, progress);
        }
    }
}

/// Counts a delivery and its latency, read from the body ("<scheduled_us> <phase> …").
fn delivered(body: &str, now: u64, tally: &mut Tally, progress: &Progress) {
    let mut words = body.split(' ').map(|w| w.parse::<u64>().ok());
    if let (Some(Some(scheduled)), Some(Some(p))) = (words.next(), words.next()) {
        let _ = phase(&mut tally.delivery, p as usize).record(now.saturating_sub(scheduled).max(1));
    }
    progress.deliveries.fetch_add(1, Ordering::Relaxed);
}

/// A sealed entry that arrived.
struct Arrived<'a> {
    id: MessageId,
    conversation: ConversationId,
    seq: i64,
    sender: UserId,
    sealed: &'a MlsBytes,
}

/// Counts the delivery of a sealed entry and its latency by the book
/// (crate::sealing); the sealer keeps it to open when this connection is its opener.
fn delivered_sealed(
    sealer: &mut Sealer,
    entry: Arrived<'_>,
    now: u64,
    tally: &mut Tally,
    progress: &Progress,
) {
    let scheduled = sealer.arrived(
        entry.id,
        entry.conversation,
        entry.seq,
        entry.sender,
        entry.sealed,
    );
    if let Some((scheduled, p)) = scheduled {
        let _ = phase(&mut tally.delivery, p).record(now.saturating_sub(scheduled).max(1));
    }
    progress.deliveries.fetch_add(1, Ordering::Relaxed);
}

/// Opens the sealed entries of `conversation` the sealer keeps, up to the highest seq
/// held with none missing below: in seq order, as a device does.
fn open_held(
    sealer: Option<&mut Sealer>,
    inbox: &Inbox,
    conversation: ConversationId,
    tally: &mut Tally,
    progress: &Progress,
) {
    let (Some(sealer), Some(&held)) = (sealer, inbox.last_seq.get(&conversation)) else {
        return;
    };
    for opened in sealer.open_up_to(conversation, held) {
        match opened {
            Ok(took) => {
                let _ = tally.open.record(took);
            }
            Err(why) => count_and_show(
                &progress.undecryptable,
                format_args!("a sealed entry did not open: {why}"),
            ),
        }
    }
}

/// The emoji of every reaction the benchmarks send (adding it again changes nothing, so
/// no cap on reactions is ever reached).
const REACTION: &str = "👍";

/// A send not answered yet: all it takes to send it again under the same id.
struct PendingSend {
    /// Its place in this connection's sends: resent in this order.
    order: u64,
    id: MessageId,
    conversation_id: ConversationId,
    body: String,
    /// An edit or reaction rather than a message.
    change: Option<Change>,
    scheduled_us: u64,
    recipients: u32,
    phase: usize,
}

struct Connection {
    target: Target,
    servers: Arc<[SocketAddr]>,
    /// Which of `servers` the current (or next) socket goes to.
    node: usize,
    source: Ipv4Addr,
    token: String,
    commands: mpsc::UnboundedReceiver<Command>,
    stopped: watch::Receiver<bool>,
    progress: Arc<Progress>,
    typing: Option<(TypingQueues, Arc<HashMap<ConversationId, usize>>)>,
    gate: Arc<Semaphore>,
    resume: Option<Resumer>,
    /// Encrypted runs: this user's device, which seals every send.
    sealer: Option<Sealer>,
    tally: Tally,
    inbox: Inbox,
    pending: HashMap<AckRef, PendingSend>,
    /// Per conversation, this connection's newest acked message: what a
    /// [`Command::Change`] edits or reacts to.
    own_newest: HashMap<ConversationId, MessageId>,
    /// Resume mode: sends refused for a passing reason (the database away), sent again
    /// on this socket after [`RETRY_REFUSED`], as the client's outbox does.
    retry: Vec<PendingSend>,
    /// Socket.IO's ack numbers, for sends and catch-up requests alike.
    next_ack: u64,
    sends: u64,
}

impl Connection {
    async fn run(mut self) -> Tally {
        let permit = self.gate.clone().acquire_owned().await;
        let first = self.open().await;
        drop(permit);
        let first = match first {
            Ok(socket) => socket,
            Err(e) => return self.failed(e),
        };
        if let Some(resume) = &mut self.resume
            && let Err(e) = resume.first_sync(self.target, &self.token).await
        {
            return self.failed(e.context("first sync"));
        }
        self.progress.ready.fetch_add(1, Ordering::Relaxed);
        let mut socket = first;
        loop {
            match self.serve(socket).await {
                Ended::Stopped(mut socket) => {
                    let _ = SinkExt::close(&mut socket).await;
                    break;
                }
                Ended::Lost if *self.stopped.borrow() => break,
                Ended::Lost => {
                    let Some(resume) = &mut self.resume else {
                        self.progress.closed.fetch_add(1, Ordering::Relaxed);
                        break;
                    };
                    let lost_at = tokio::time::Instant::now();
                    owe_catch_up(resume, &self.inbox, &self.progress);
                    self.progress.offline.fetch_add(1, Ordering::Relaxed);
                    let Some(back) = self.reconnect().await else {
                        break;
                    };
                    let _ = self.tally.reconnect.record(micros(lost_at.elapsed()));
                    self.progress.offline.fetch_sub(1, Ordering::Relaxed);
                    self.progress.reconnects.fetch_add(1, Ordering::Relaxed);
                    self.inbox.live_last.clear();
                    self.inbox.socket += 1;
                    socket = back;
                }
            }
        }
        if let Some(sealer) = &self.sealer {
            self.progress
                .unopened
                .fetch_add(sealer.unopened() as u64, Ordering::Relaxed);
        }
        self.tally
    }

    fn failed(self, e: anyhow::Error) -> Tally {
        count_and_show(
            &self.progress.failed,
            format_args!("connection failed: {e:#}"),
        );
        self.tally
    }

    /// Resume mode: a new socket, after a pause and then paced retries; none when the
    /// fleet stops first.
    async fn reconnect(&mut self) -> Option<Socket> {
        let mut first = true;
        loop {
            let delay = self.resume.as_mut()?.reconnect_delay(first);
            first = false;
            if *self.stopped.borrow() {
                return None;
            }
            tokio::select! {
                _ = self.stopped.changed() => return None,
                () = tokio::time::sleep(delay) => {}
            }
            // Any node of a cluster will do: the one this socket was on may be down.
            if self.servers.len() > 1 {
                let pick = self.resume.as_mut()?.pick(self.servers.len());
                self.node = pick;
            }
            match self.open().await {
                Ok(socket) => return Some(socket),
                Err(e) => count_and_show(
                    &self.progress.reconnect_failures,
                    format_args!("a reconnect failed: {e:#}"),
                ),
            }
        }
    }

    /// Uses one socket until it ends. In resume mode a new socket first gets the sends
    /// still unanswered again, in their order, and starts its catch-up.
    async fn serve(&mut self, mut ws: Socket) -> Ended {
        if *self.stopped.borrow() {
            return Ended::Stopped(Box::new(ws));
        }
        let mut outgoing = self.resend();
        if let Some(resume) = &mut self.resume
            && let Some(frame) = resume.begin(self.target, &self.token, &mut self.next_ack)
        {
            outgoing.push(frame);
        }
        for frame in outgoing {
            if ws.send(WsMessage::text(frame)).await.is_err() {
                return Ended::Lost;
            }
        }
        let mut next_cut = self.resume.as_mut().and_then(Resumer::next_cut);
        let mut retry_at: Option<tokio::time::Instant> = None;
        loop {
            if retry_at.is_none() && !self.retry.is_empty() {
                retry_at = Some(tokio::time::Instant::now() + RETRY_REFUSED);
            }
            let cut_at = next_cut.unwrap_or_else(far_future);
            let retry_when = retry_at.unwrap_or_else(far_future);
            let rest = self.resume.as_mut().and_then(Resumer::rest);
            let catching_up = rest.is_some();
            let rest = async move {
                match rest {
                    Some(task) => task.await,
                    None => std::future::pending().await,
                }
            };
            let mut outgoing = Vec::new();
            tokio::select! {
                _ = self.stopped.changed() => return Ended::Stopped(Box::new(ws)),
                command = self.commands.recv() => {
                    let Some(command) = command else { return Ended::Stopped(Box::new(ws)) };
                    outgoing.extend(self.frame(command));
                }
                frame = ws.next() => {
                    let text = match frame {
                        Some(Ok(WsMessage::Text(text))) => text,
                        Some(Ok(_)) => continue,
                        Some(Err(_)) | None => return Ended::Lost,
                    };
                    self.receive(&text, &mut outgoing);
                }
                () = tokio::time::sleep_until(retry_when), if retry_at.is_some() => {
                    retry_at = None;
                    let mut again = std::mem::take(&mut self.retry);
                    again.sort_by_key(|s| s.order);
                    self.progress.retried.fetch_add(again.len() as u64, Ordering::Relaxed);
                    outgoing.extend(again.into_iter().filter_map(|s| self.track(s)));
                }
                () = tokio::time::sleep_until(cut_at), if next_cut.is_some() => {
                    let resume = self.resume.as_mut().expect("cuts are resume mode's");
                    if resume.cutting() {
                        // No close frame, and a reset rather than a FIN: the socket is
                        // just gone, as when a network drops.
                        let _ = ws.get_ref().set_zero_linger();
                        self.progress.cuts.fetch_add(1, Ordering::Relaxed);
                        return Ended::Lost;
                    }
                    next_cut = resume.next_cut();
                }
                caught = rest, if catching_up => {
                    let resume = self.resume.as_mut().expect("a catch-up is resume mode's");
                    match caught {
                        Ok(Ok(caught)) => {
                            let messages = resume.rest_done(caught);
                            let me = resume.user;
                            self.inbox.caught_up(
                                messages,
                                me,
                                now_us(),
                                &mut self.tally,
                                &self.progress,
                                self.sealer.as_mut(),
                            );
                        }
                        Ok(Err(e)) => {
                            resume.rest_failed();
                            self.catch_up_failed(&e);
                        }
                        Err(e) => {
                            resume.rest_failed();
                            self.catch_up_failed(&e);
                        }
                    }
                    self.maybe_caught_up();
                }
            }
            for frame in outgoing {
                if ws.send(WsMessage::text(frame)).await.is_err() {
                    return Ended::Lost;
                }
            }
        }
    }

    /// The frame for a command, keeping a send pending until answered (none for a send
    /// that could not be sealed).
    fn frame(&mut self, command: Command) -> Option<String> {
        match command {
            Command::Send {
                conversation_id,
                recipients,
                scheduled_us,
                phase,
                body,
            } => {
                let id = MessageId::new();
                self.sends += 1;
                let send = PendingSend {
                    order: self.sends,
                    id,
                    conversation_id,
                    body,
                    change: None,
                    scheduled_us,
                    recipients,
                    phase,
                };
                self.track(send)
            }
            Command::Change {
                conversation_id,
                recipients,
                scheduled_us,
                phase,
                kind,
                body,
            } => {
                let change = self.own_newest.get(&conversation_id).map(|&target| Change {
                    kind,
                    target,
                    emoji: (kind == ChangeKind::React).then(|| REACTION.to_owned()),
                });
                // A reaction carries no text; an edit its new text, as a message would.
                let body = match &change {
                    Some(c) if c.kind != ChangeKind::Edit => String::new(),
                    _ => body,
                };
                self.sends += 1;
                let send = PendingSend {
                    order: self.sends,
                    id: MessageId::new(),
                    conversation_id,
                    body,
                    change,
                    scheduled_us,
                    recipients,
                    phase,
                };
                self.track(send)
            }
            Command::Typing {
                conversation_id,
                index,
                typing,
                scheduled_us,
            } => {
                if let Some((queues, _)) = &self.typing {
                    lock(&queues[index]).push_back(scheduled_us);
                }
                Some(self.target.typing(conversation_id, typing))
            }
        }
    }

    /// Files a send under what its ack will name (a fresh number for Socket.IO) and
    /// returns its frame. In an encrypted run it is sealed here, at every sending, as the
    /// client core seals an outbox entry each time it goes out: a resend or a retry is a
    /// new MLS message (same id), so each sender's messages are in the stream in the
    /// order they were sealed, give or take what was in flight together. A send that
    /// cannot be sealed is not sent, and counted.
    fn track(&mut self, send: PendingSend) -> Option<String> {
        let sealed = match &mut self.sealer {
            Some(sealer) => {
                let content = SealedContent {
                    body: send.body.clone(),
                    emoji: send.change.as_ref().and_then(|c| c.emoji.clone()),
                    files: Vec::new(),
                };
                let sealed = sealer.seal(
                    send.id,
                    send.conversation_id,
                    content,
                    send.scheduled_us,
                    send.phase,
                );
                match sealed {
                    Ok((sealed, took)) => {
                        let _ = self.tally.seal.record(took);
                        Some(sealed)
                    }
                    Err(e) => {
                        count_and_show(
                            &self.progress.unsealed,
                            format_args!("a send could not be sealed: {e:#}"),
                        );
                        return None;
                    }
                }
            }
            None => None,
        };
        self.next_ack += 1;
        let key = match self.target {
            Target::Ferry => AckRef::Id(send.id),
            Target::Socketio => AckRef::Number(self.next_ack),
        };
        // Sealed, its text and emoji are inside and nothing is left in the open.
        let (body, change) = match &sealed {
            Some(_) => {
                let change = send.change.clone().map(|c| Change { emoji: None, ..c });
                (String::new(), change)
            }
            None => (send.body.clone(), send.change.clone()),
        };
        let frame = self.target.send(
            self.next_ack,
            send.id,
            send.conversation_id,
            &body,
            change.as_ref(),
            sealed.as_ref(),
        );
        self.pending.insert(key, send);
        Some(frame)
    }

    /// Every unanswered send again, same id, in the order first sent (empty outside
    /// resume mode, where a socket is used once).
    fn resend(&mut self) -> Vec<String> {
        let mut unanswered: Vec<PendingSend> = self.pending.drain().map(|(_, s)| s).collect();
        unanswered.append(&mut self.retry);
        unanswered.sort_by_key(|s| s.order);
        self.progress
            .resent
            .fetch_add(unanswered.len() as u64, Ordering::Relaxed);
        unanswered
            .into_iter()
            .filter_map(|s| self.track(s))
            .collect()
    }

    /// Handles one text frame; what to send back goes to `outgoing`.
    fn receive(&mut self, text: &str, outgoing: &mut Vec<String>) {
        let now = now_us();
        match self.target.parse(text) {
            Incoming::Ping => outgoing.push(self.target.pong().to_owned()),
            Incoming::Ack(key, seq) => {
                if let Some(send) = self.pending.remove(&key) {
                    if send.change.is_none() {
                        self.own_newest.insert(send.conversation_id, send.id);
                    }
                    if let Some(seq) = seq {
                        self.inbox.hold(send.conversation_id, seq);
                        self.open_held(send.conversation_id);
                        self.mind_gap();
                    }
                    let _ = phase(&mut self.tally.ack, send.phase)
                        .record(now.saturating_sub(send.scheduled_us).max(1));
                    self.progress.acked.fetch_add(1, Ordering::Relaxed);
                    self.progress
                        .expected_deliveries
                        .fetch_add(u64::from(send.recipients), Ordering::Relaxed);
                }
            }
            Incoming::Refused(key, code) => {
                if let (AckRef::Number(n), Some(resume)) = (key, &mut self.resume)
                    && resume.refused(n)
                {
                    self.catch_up_failed(&code);
                    self.maybe_caught_up();
                    return;
                }
                let send = self.pending.remove(&key);
                if let (Some(send), Some(_)) = (send, &self.resume)
                    && PASSING.contains(&code.as_str())
                {
                    self.retry.push(send);
                    return;
                }
                self.progress.refused.fetch_add(1, Ordering::Relaxed);
                *self.tally.refusals.entry(code).or_default() += 1;
            }
            Incoming::Message {
                id,
                conversation_id,
                seq,
                sender_id,
                body,
                sealed,
            } => {
                // In resume mode a user's own message can reach a later socket of
                // theirs (it is not the sending socket): not a delivery to count.
                let own = self.resume.as_ref().is_some_and(|r| r.user == sender_id);
                if self.inbox.live(id, conversation_id, seq, &mut self.tally) && !own {
                    match (&sealed, &mut self.sealer) {
                        (Some(sealed), Some(sealer)) => {
                            let arrived = Arrived {
                                id,
                                conversation: conversation_id,
                                seq,
                                sender: sender_id,
                                sealed,
                            };
                            delivered_sealed(sealer, arrived, now, &mut self.tally, &self.progress);
                        }
                        _ => delivered(&body, now, &mut self.tally, &self.progress),
                    }
                }
                self.inbox.hold(conversation_id, seq);
                self.open_held(conversation_id);
                self.mind_gap();
            }
            Incoming::Resync => {
                // Live frames may have been lost on the way to this node: catch up as
                // after a reconnect, on the same socket.
                if let Some(resume) = &mut self.resume {
                    self.progress.resyncs.fetch_add(1, Ordering::Relaxed);
                    owe_catch_up(resume, &self.inbox, &self.progress);
                    outgoing.extend(resume.begin(self.target, &self.token, &mut self.next_ack));
                }
            }
            Incoming::Synced(number, marks) => {
                if let Some(resume) = &mut self.resume {
                    outgoing.extend(resume.synced(self.target, number, marks, &mut self.next_ack));
                    self.maybe_caught_up();
                }
            }
            Incoming::Page(number, page) => {
                if let Some(resume) = &mut self.resume {
                    let (ours, next) = resume.paged(self.target, number, &page, &mut self.next_ack);
                    if ours {
                        let me = resume.user;
                        outgoing.extend(next);
                        self.inbox.caught_up(
                            page,
                            me,
                            now,
                            &mut self.tally,
                            &self.progress,
                            self.sealer.as_mut(),
                        );
                        self.maybe_caught_up();
                    }
                }
            }
            Incoming::Typing { conversation_id } => {
                if let Some((queues, index)) = &self.typing
                    && let Some(&i) = index.get(&conversation_id)
                    && let Some(scheduled) = lock(&queues[i]).pop_front()
                {
                    let _ = self
                        .tally
                        .typing
                        .record(now.saturating_sub(scheduled).max(1));
                }
                self.progress.typings.fetch_add(1, Ordering::Relaxed);
            }
            Incoming::Ready | Incoming::Open | Incoming::Unauthorized(_) | Incoming::Other => {}
        }
    }

    /// Encrypted runs: opens what became openable in `conversation`.
    fn open_held(&mut self, conversation: ConversationId) {
        open_held(
            self.sealer.as_mut(),
            &self.inbox,
            conversation,
            &mut self.tally,
            &self.progress,
        );
    }

    fn catch_up_failed(&self, why: &dyn std::fmt::Display) {
        count_and_show(
            &self.progress.catch_up_failures,
            format_args!("a catch-up failed: {why}"),
        );
    }

    /// Counts the catch-up done when nothing of it is still out (a loss's replay time
    /// too), and fetches any gap left (its messages were committed after it read).
    fn maybe_caught_up(&mut self) {
        let Some((since, owed)) = self.resume.as_mut().and_then(Resumer::finished) else {
            return;
        };
        if owed == Owed::Loss {
            let _ = self.tally.replay.record(micros(since.elapsed()));
            self.progress.caught_up.fetch_add(1, Ordering::Relaxed);
        }
        self.progress.behind.fetch_sub(1, Ordering::Relaxed);
        self.mind_gap();
    }

    /// Ferry's gap rule in resume mode, as ferry-client applies it: a message (or an own
    /// ack) past the highest seq held + 1 means what lies between did not come here, so
    /// that is fetched; during a catch-up, its end looks again.
    fn mind_gap(&mut self) {
        let Some(resume) = &mut self.resume else {
            return;
        };
        if self.target != Target::Ferry {
            return;
        }
        if resume.gap(self.inbox.gaps(), &self.inbox.last_seq, &self.token) {
            self.progress.gap_catch_ups.fetch_add(1, Ordering::Relaxed);
            self.progress.behind.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn open(&mut self) -> anyhow::Result<Socket> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(self.source.into(), 0))?;
        let server = self.servers[self.node];
        let stream = tokio::time::timeout(Duration::from_secs(30), socket.connect(server))
            .await
            .context("TCP connect timed out")??;
        stream.set_nodelay(true)?;
        // Small per-connection buffers: the frames here are small, and 8 KiB or so per
        // idle connection is what B1 measures on the server side too.
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let request = self.target.request(&server.to_string(), &self.token);
        let (mut ws, _) = tokio::time::timeout(
            Duration::from_secs(30),
            tokio_tungstenite::client_async_with_config(request, stream, Some(config)),
        )
        .await
        .context("WebSocket handshake timed out")??;
        // Signed in when the server says so.
        let until = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let frame = tokio::time::timeout_at(until, ws.next())
                .await
                .context("no welcome")?
                .context("closed before welcome")??;
            let WsMessage::Text(text) = frame else {
                continue;
            };
            match self.target.parse(&text) {
                Incoming::Ready => return Ok(ws),
                Incoming::Open => {
                    ws.send(WsMessage::text(self.target.connect_packet(&self.token)))
                        .await?;
                }
                Incoming::Unauthorized(reason) => anyhow::bail!("refused: {reason}"),
                _ => {}
            }
        }
    }
}

/// Counts a failure on `counter` and prints the first few of its kind (the counts are in
/// the outcome; a few examples say what went wrong without flooding the output).
fn count_and_show(counter: &AtomicU64, what: std::fmt::Arguments<'_>) {
    if counter.fetch_add(1, Ordering::Relaxed) < 3 {
        eprintln!("{what}");
    }
}

/// Resume mode: a catch-up is owed (the socket was lost, or the server said `resync`).
fn owe_catch_up(resume: &mut Resumer, inbox: &Inbox, progress: &Progress) {
    if resume.lost(&inbox.last_seq) {
        progress.behind.fetch_add(1, Ordering::Relaxed);
    }
}

/// Refusals a client retries (ferry-client's outbox does: `Verdict::Retry`): the server
/// could not take the send now, not that it never will. Unauthorized is not among them
/// here, as the generator's tokens do not expire during a run.
const PASSING: &[&str] = &["unavailable", "internal", "rate_limited"];

/// How long a send refused for a passing reason waits before it is sent again.
const RETRY_REFUSED: Duration = Duration::from_millis(250);

/// A deadline that never comes, for a timer that is off.
fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400 * 365)
}

/// Hands out `count` commands at `rate` per second from now, each at its own scheduled
/// time, whatever the answers: `make(i, scheduled_us)` says which connection does what.
pub async fn open_loop(
    fleet: &Fleet,
    count: u64,
    rate: f64,
    mut make: impl FnMut(u64, u64) -> (usize, Command),
) {
    let start = tokio::time::Instant::now();
    let start_us = now_us();
    for i in 0..count {
        let offset = Duration::from_secs_f64(i as f64 / rate);
        let at = start + offset;
        if at > tokio::time::Instant::now() {
            tokio::time::sleep_until(at).await;
        }
        let (conn, command) = make(i, start_us + offset.as_micros() as u64);
        fleet.command(conn, command);
    }
}
