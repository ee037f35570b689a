//! The open-loop driver. One task per connection owns its socket; a scheduler hands
//! each send to its connection at the send's scheduled time whether or not earlier
//! ones were answered, so a slow server shows up as latency rather than as a slower
//! offered rate. Latency is always receive time minus scheduled time (wall clock, in
//! microseconds; the scheduled time travels in the message body). Every connection also
//! checks what it receives: a message id twice is a duplicate, a seq not above the last
//! one of its conversation is a reordering, and what never came is lost.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio::net::TcpSocket;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use uuid::Uuid;

use crate::wire::{AckRef, Incoming, Target};

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds")
}

/// What a connection is asked to do.
pub enum Command {
    /// Send a message to a conversation with `recipients` other members. The body
    /// starts with "<scheduled_us> <phase> ": receivers read both from it.
    Send {
        conversation_id: Uuid,
        recipients: u32,
        scheduled_us: u64,
        phase: usize,
        body: String,
    },
    /// Send a typing notice into conversation number `index`.
    Typing {
        conversation_id: Uuid,
        index: usize,
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
}

/// What one connection saw, merged over all of them at the end. Latencies are kept
/// per phase (a step of a rising-rate scenario), so each step has its own percentiles.
pub struct Tally {
    pub ack: Vec<Histogram<u64>>,
    pub delivery: Vec<Histogram<u64>>,
    pub typing: Histogram<u64>,
    pub duplicates: u64,
    pub reordered: u64,
    pub refusals: HashMap<String, u64>,
}

impl Tally {
    fn new() -> Self {
        Self {
            ack: Vec::new(),
            delivery: Vec::new(),
            typing: histogram(),
            duplicates: 0,
            reordered: 0,
            refusals: HashMap::new(),
        }
    }

    fn merge(&mut self, other: Tally) {
        merge_phases(&mut self.ack, other.ack);
        merge_phases(&mut self.delivery, other.delivery);
        let _ = self.typing.add(&other.typing);
        self.duplicates += other.duplicates;
        self.reordered += other.reordered;
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

/// All connections of a run.
pub struct Fleet {
    senders: Vec<mpsc::UnboundedSender<Command>>,
    tasks: Vec<JoinHandle<Tally>>,
    stop: watch::Sender<bool>,
    pub progress: Arc<Progress>,
}

impl Fleet {
    /// Opens one connection per token (at most `parallel` handshakes at a time, from
    /// source addresses 127.0.0.1–127.0.0.8 in turn so ephemeral ports never run out)
    /// and waits until all are signed in or failed.
    pub async fn connect(
        target: Target,
        addr: &str,
        tokens: Vec<String>,
        typing_queues: Option<(TypingQueues, Arc<HashMap<Uuid, usize>>)>,
        parallel: usize,
    ) -> anyhow::Result<Self> {
        let server: SocketAddr = addr.parse().context("server address")?;
        let progress = Arc::new(Progress::default());
        let (stop, stopped) = watch::channel(false);
        let gate = Arc::new(Semaphore::new(parallel));
        let mut senders = Vec::with_capacity(tokens.len());
        let mut tasks = Vec::with_capacity(tokens.len());
        for (i, token) in tokens.into_iter().enumerate() {
            let (tx, rx) = mpsc::unbounded_channel();
            senders.push(tx);
            let conn = Connection {
                target,
                server,
                source: Ipv4Addr::new(127, 0, 0, 1 + (i % 8) as u8),
                token,
                commands: rx,
                stopped: stopped.clone(),
                progress: progress.clone(),
                typing: typing_queues.clone(),
                gate: gate.clone(),
            };
            tasks.push(tokio::spawn(conn.run()));
        }
        let total = senders.len() as u64;
        let fleet = Self {
            senders,
            tasks,
            stop,
            progress,
        };
        fleet
            .wait_until(Duration::from_secs(300), |p| {
                p.ready.load(Ordering::Relaxed) + p.failed.load(Ordering::Relaxed) >= total
            })
            .await;
        Ok(fleet)
    }

    /// Hands a command to connection `i`.
    pub fn command(&self, i: usize, command: Command) {
        let _ = self.senders[i].send(command);
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

struct Connection {
    target: Target,
    server: SocketAddr,
    source: Ipv4Addr,
    token: String,
    commands: mpsc::UnboundedReceiver<Command>,
    stopped: watch::Receiver<bool>,
    progress: Arc<Progress>,
    typing: Option<(TypingQueues, Arc<HashMap<Uuid, usize>>)>,
    gate: Arc<Semaphore>,
}

impl Connection {
    async fn run(mut self) -> Tally {
        let mut tally = Tally::new();
        let permit = self.gate.clone().acquire_owned().await;
        let socket = match self.open().await {
            Ok(socket) => socket,
            Err(e) => {
                if self.progress.failed.fetch_add(1, Ordering::Relaxed) < 3 {
                    eprintln!("connection failed: {e:#}");
                }
                return tally;
            }
        };
        drop(permit);
        self.progress.ready.fetch_add(1, Ordering::Relaxed);
        let (mut write, mut read) = socket.split();
        let mut pending: HashMap<AckRef, (u64, u32, usize)> = HashMap::new();
        let mut next_ack: u64 = 0;
        let mut seen: HashSet<Uuid> = HashSet::new();
        let mut last_seq: HashMap<Uuid, i64> = HashMap::new();
        loop {
            tokio::select! {
                _ = self.stopped.changed() => break,
                command = self.commands.recv() => {
                    let Some(command) = command else { break };
                    let frame = match command {
                        Command::Send { conversation_id, recipients, scheduled_us, phase, body } => {
                            let id = Uuid::now_v7();
                            next_ack += 1;
                            let key = match self.target {
                                Target::Ferry => AckRef::Id(id),
                                Target::Socketio => AckRef::Number(next_ack),
                            };
                            pending.insert(key, (scheduled_us, recipients, phase));
                            self.target.send(next_ack, id, conversation_id, &body)
                        }
                        Command::Typing { conversation_id, index, scheduled_us } => {
                            if let Some((queues, _)) = &self.typing {
                                lock(&queues[index]).push_back(scheduled_us);
                            }
                            self.target.typing(conversation_id)
                        }
                    };
                    if write.send(WsMessage::text(frame)).await.is_err() {
                        break;
                    }
                }
                frame = read.next() => {
                    let text = match frame {
                        Some(Ok(WsMessage::Text(text))) => text,
                        Some(Ok(_)) => continue,
                        Some(Err(_)) | None => break,
                    };
                    let now = now_us();
                    match self.target.parse(&text) {
                        Incoming::Ping => {
                            if write.send(WsMessage::text(self.target.pong())).await.is_err() {
                                break;
                            }
                        }
                        Incoming::Ack(key) => {
                            if let Some((scheduled, recipients, p)) = pending.remove(&key) {
                                let _ = phase(&mut tally.ack, p).record(now.saturating_sub(scheduled).max(1));
                                self.progress.acked.fetch_add(1, Ordering::Relaxed);
                                self.progress.expected_deliveries.fetch_add(u64::from(recipients), Ordering::Relaxed);
                            }
                        }
                        Incoming::Refused(key, code) => {
                            pending.remove(&key);
                            self.progress.refused.fetch_add(1, Ordering::Relaxed);
                            *tally.refusals.entry(code).or_default() += 1;
                        }
                        Incoming::Message { id, conversation_id, seq, body } => {
                            if !seen.insert(id) {
                                tally.duplicates += 1;
                                continue;
                            }
                            let last = last_seq.entry(conversation_id).or_insert(0);
                            if seq <= *last {
                                tally.reordered += 1;
                            }
                            *last = (*last).max(seq);
                            let mut words = body.split(' ').map(|w| w.parse::<u64>().ok());
                            if let (Some(Some(scheduled)), Some(Some(p))) = (words.next(), words.next()) {
                                let _ = phase(&mut tally.delivery, p as usize).record(now.saturating_sub(scheduled).max(1));
                            }
                            self.progress.deliveries.fetch_add(1, Ordering::Relaxed);
                        }
                        Incoming::Typing { conversation_id } => {
                            if let Some((queues, index)) = &self.typing
                                && let Some(&i) = index.get(&conversation_id)
                                && let Some(scheduled) = lock(&queues[i]).pop_front()
                            {
                                let _ = tally.typing.record(now.saturating_sub(scheduled).max(1));
                            }
                            self.progress.typings.fetch_add(1, Ordering::Relaxed);
                        }
                        Incoming::Ready | Incoming::Open | Incoming::Unauthorized(_) | Incoming::Other => {}
                    }
                }
            }
        }
        if !*self.stopped.borrow() {
            self.progress.closed.fetch_add(1, Ordering::Relaxed);
        }
        let _ = write.close().await;
        tally
    }

    async fn open(
        &mut self,
    ) -> anyhow::Result<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(self.source.into(), 0))?;
        let stream = tokio::time::timeout(Duration::from_secs(30), socket.connect(self.server))
            .await
            .context("TCP connect timed out")??;
        stream.set_nodelay(true)?;
        // Small per-connection buffers: the frames here are small, and 8 KiB or so per
        // idle connection is what B1 measures on the server side too.
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let request = self.target.request(&self.server.to_string(), &self.token);
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
