//! [`NatsBus`]: the cluster's bus, on core NATS (`FERRY_NATS_URL`). Every node publishes
//! its events to one subject (`<FERRY_NATS_SUBJECT>.events`) and hears everyone else's;
//! an event reaches this node's own sockets directly, before it leaves, so a node cut
//! off from NATS keeps serving its own sockets.
//!
//! Core NATS delivers at most once, so a node must find out when it missed something.
//! Each node numbers what it publishes (1, 2, 3, …) and says its latest number in a beat
//! every second; a listener that sees a number jump (an event lost on the way, dropped
//! here while NATS was away, or a beat ahead of the last event heard) has missed
//! traffic, and so has a node whose own connection dropped or fell behind, and one that
//! stops hearing a node (it died: its last events may have died with it). Either way
//! it acts on [`missed`]: caches dropped, every socket told to catch up. Nothing stored
//! is lost: messages are in the database, and clients fill gaps from there.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::connection::State;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Bus, BusStatus, Event, Node, missed, receive};

/// How often a node says how many events it has published.
const BEAT: Duration = Duration::from_secs(1);

/// Events waiting to go out while NATS is slow or away; past this they are dropped (and
/// the listeners, told by the next number, resync).
const OUTGOING: usize = 65_536;

/// A node not heard from for this long has died (or left): what it published last may
/// never have gone out, so this node's sockets catch up. As long as a lease
/// (`crate::cluster::LEASE`): a node starved of CPU for a few seconds is not dead.
const SILENT: Duration = Duration::from_secs(7);

/// A silent node is forgotten after this long.
const FORGET: Duration = Duration::from_secs(60);

/// What goes over the wire: one event, or a beat (no event).
#[derive(Serialize, Deserialize)]
struct Envelope {
    /// The node that published it.
    node: Uuid,
    /// How many events that node has published, this one included.
    n: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event: Option<Event>,
}

/// The bus's counters, registered with the server's metrics.
#[derive(Clone, Default)]
pub struct BusMetrics {
    /// 1 while connected to NATS.
    pub connected: Gauge,
    /// Events sent to NATS.
    pub published: Counter,
    /// Events received from other nodes.
    pub received: Counter,
    /// Events dropped because NATS was away for too long.
    pub dropped: Counter,
    /// Times this node found it had missed traffic and told its sockets to catch up.
    pub resyncs: Counter,
}

/// The NATS bus of one node.
pub struct NatsBus {
    node: Node,
    client: async_nats::Client,
    outgoing: mpsc::Sender<Event>,
    /// Events that could not be queued, to be counted into the next number.
    dropped: Arc<AtomicU64>,
    metrics: BusMetrics,
}

impl NatsBus {
    /// Connects to `url` (in the background if NATS is not up yet: the node starts
    /// anyway and says so in `/readyz`), subscribes, and starts publishing. The tasks end
    /// with `shutdown`.
    pub async fn start(
        url: &str,
        subject_prefix: &str,
        node: Node,
        metrics: BusMetrics,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, async_nats::Error> {
        let id = Uuid::now_v7();
        let subject = format!("{subject_prefix}.events");
        // Cut off until first connected: the node serves sockets from the start, and what
        // other nodes published before its subscription reached NATS never came here
        // (a conversation made on another node in that moment, say), so its first
        // connection is caught up like a return.
        let cut_off = Arc::new(AtomicBool::new(true));
        let on_event = {
            let (node, metrics, cut_off) = (node.clone(), metrics.clone(), cut_off.clone());
            move |event: async_nats::Event| {
                connection_event(&node, &metrics, &cut_off, event);
                async {}
            }
        };
        let client = async_nats::ConnectOptions::new()
            .name(format!("ferry-server {id}"))
            .retry_on_initial_connect()
            .max_reconnects(None)
            // Back within a second or two of NATS returning, not the default's minutes.
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((100 * attempts as u64).min(2_000))
            })
            // Our own events reached our sockets before they left.
            .no_echo()
            .event_callback(on_event)
            .connect(url)
            .await?;
        let subscription = client.subscribe(subject.clone()).await?;
        let (outgoing, queue) = mpsc::channel(OUTGOING);
        let dropped = Arc::new(AtomicU64::new(0));
        tokio::spawn(send(
            client.clone(),
            subject,
            id,
            queue,
            dropped.clone(),
            metrics.published.clone(),
            shutdown.clone(),
        ));
        tokio::spawn(listen(
            subscription,
            id,
            node.clone(),
            metrics.clone(),
            shutdown,
        ));
        Ok(Arc::new(Self {
            node,
            client,
            outgoing,
            dropped,
            metrics,
        }))
    }
}

impl Bus for NatsBus {
    fn publish(&self, event: Event) {
        receive(&self.node, event.clone());
        if self.outgoing.try_send(event).is_err() {
            self.dropped.fetch_add(1, Ordering::AcqRel);
            self.metrics.dropped.inc();
        }
    }

    fn status(&self) -> BusStatus {
        match self.client.connection_state() {
            State::Connected => BusStatus::Connected,
            State::Disconnected | State::Pending => BusStatus::Disconnected,
        }
    }
}

/// What the NATS connection reports about itself.
fn connection_event(
    node: &Node,
    metrics: &BusMetrics,
    cut_off: &AtomicBool,
    event: async_nats::Event,
) {
    match event {
        async_nats::Event::Connected => {
            metrics.connected.set(1);
            // Whatever other nodes published while we were away did not reach us.
            if cut_off.swap(false, Ordering::AcqRel) {
                tracing::info!("on the cluster bus; sockets catch up");
                metrics.resyncs.inc();
                missed(node);
            }
        }
        async_nats::Event::Disconnected => {
            metrics.connected.set(0);
            cut_off.store(true, Ordering::Release);
            tracing::warn!("cut off from the cluster bus; serving this node's sockets only");
        }
        async_nats::Event::SlowConsumer(_) => {
            tracing::warn!("fell behind the cluster bus; sockets catch up");
            metrics.resyncs.inc();
            missed(node);
        }
        other => tracing::info!(event = %other, "cluster bus"),
    }
}

/// Numbers and sends this node's events in the order they were published, with a beat
/// every [`BEAT`].
async fn send(
    client: async_nats::Client,
    subject: String,
    id: Uuid,
    mut queue: mpsc::Receiver<Event>,
    dropped: Arc<AtomicU64>,
    published: Counter,
    shutdown: CancellationToken,
) {
    let mut n = 0u64;
    let mut beat = tokio::time::interval(BEAT);
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => break,
            event = queue.recv() => match event {
                Some(event) => Some(event),
                None => break,
            },
            _ = beat.tick() => None,
        };
        // Dropped events still take their numbers, so that listeners see the jump.
        n += dropped.swap(0, Ordering::AcqRel);
        if event.is_some() {
            n += 1;
        }
        let envelope = Envelope { node: id, n, event };
        let bytes = match serde_json::to_vec(&envelope) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::error!(error = %e, "could not encode a bus event");
                continue;
            }
        };
        match client.publish(subject.clone(), bytes.into()).await {
            Ok(()) => {
                if envelope.event.is_some() {
                    published.inc();
                }
            }
            // The client is closed (shutdown); others will see the gap if it was not.
            Err(e) => tracing::warn!(error = %e, "could not publish to the cluster bus"),
        }
    }
}

/// Acts on what other nodes publish, and notices what did not arrive.
async fn listen(
    mut subscription: async_nats::Subscriber,
    id: Uuid,
    node: Node,
    metrics: BusMetrics,
    shutdown: CancellationToken,
) {
    use futures_util::StreamExt;
    // The last number heard from each node, when, and whether it has gone silent.
    let mut heard: HashMap<Uuid, Heard> = HashMap::new();
    let mut check = tokio::time::interval(BEAT);
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => break,
            _ = check.tick() => {
                let now = Instant::now();
                heard.retain(|_, h| now.duration_since(h.at) < FORGET);
                let mut died = false;
                for h in heard.values_mut() {
                    if !h.silent && now.duration_since(h.at) > SILENT {
                        h.silent = true;
                        died = true;
                    }
                }
                if died {
                    tracing::warn!("a node went silent on the cluster bus; sockets catch up");
                    metrics.resyncs.inc();
                    missed(&node);
                }
                continue;
            }
            message = subscription.next() => match message {
                Some(message) => message,
                None => break,
            },
        };
        let envelope: Envelope = match serde_json::from_slice(&message.payload) {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::warn!(error = %e, "an unreadable event on the cluster bus");
                continue;
            }
        };
        if envelope.node == id {
            continue;
        }
        // An event should be the one after the last heard; a beat should repeat it.
        let expected = |last: u64| {
            if envelope.event.is_some() {
                last + 1
            } else {
                last
            }
        };
        let now = Heard {
            n: envelope.n,
            at: Instant::now(),
            silent: false,
        };
        let gap = heard
            .insert(envelope.node, now)
            .is_some_and(|last| envelope.n > expected(last.n));
        if gap {
            tracing::warn!(from = %envelope.node, "missed events on the cluster bus; sockets catch up");
            metrics.resyncs.inc();
            missed(&node);
        }
        if let Some(event) = envelope.event {
            metrics.received.inc();
            receive(&node, event);
        }
    }
}

/// What a listener knows of another node.
struct Heard {
    /// The last number heard.
    n: u64,
    /// When.
    at: Instant,
    /// Not heard for [`SILENT`]: its sockets were told to catch up already.
    silent: bool,
}
