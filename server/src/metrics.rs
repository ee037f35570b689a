//! [`Metrics`]: the Prometheus registry behind `GET /metrics`: open connections, stored
//! messages, messages per commit, request latency by route template, and send-to-ack
//! latency, the cluster bus's health, mail sent and failed, ended sessions told to
//! members' devices, and the operators' queue (reports open, accounts suspended).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::bus::nats::BusMetrics;

/// Labels of one HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// GET, POST, …
    pub method: String,
    /// The route template (`/api/v1/conversations/{id}`), never the raw path.
    pub route: String,
    /// Response status.
    pub status: u16,
}

type LatencyFamily = Family<RequestLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.25 ms to ~8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// The server's metrics, owned by one server instance (no global registry).
pub struct Metrics {
    registry: Registry,
    /// Open WebSocket connections.
    pub connections: Gauge,
    /// Open HTTP connections (a WebSocket leaves this count when it upgrades).
    pub http_connections: Gauge,
    /// Users whose last socket closed within the presence grace (still shown online).
    pub departing_users: Gauge,
    /// Messages stored (duplicates excluded).
    pub messages: Counter,
    /// Sends per group commit.
    pub commit_batch: Histogram,
    /// REST request latency, seconds.
    pub requests: LatencyFamily,
    /// Time from receiving a `send` to writing its `ack`, seconds.
    pub send_latency: Histogram,
    /// The cluster bus.
    pub bus: BusMetrics,
    /// Conversation frames encoded to announce a change of a conversation (one per
    /// distinct view, not one per member).
    pub conversation_frames: Counter,
    /// Bytes of frames queued for this node's sockets (each socket counted), the
    /// outgoing volume of live delivery.
    pub frame_bytes: Counter,
    /// `/sync` long-polls waiting for a change.
    pub sync_waiting: Gauge,
    /// Reports of users stored for the operators.
    pub reports: Counter,
    /// Database pings made by `/readyz` (a good answer stands for a second).
    pub readiness_pings: Counter,
    /// Panics contained in long-lived tasks (`crate::panics`): each is a bug.
    pub panics: Counter,
    /// Memory that image previews being made may take (decoded pixels and the source).
    pub preview_bytes: Gauge,
    /// The most [`Metrics::preview_bytes`] has been since the server started: it stays
    /// within `FERRY_PREVIEW_MEMORY_MIB`.
    pub preview_bytes_peak: Gauge,
    /// Mails handed to the SMTP server.
    pub mail_sent: Counter,
    /// Mails the SMTP server did not take (or that could not be made).
    pub mail_failed: Counter,
    /// Rounds of the missed-message task (`crate::digest`) that ran to the end.
    pub digest_rounds: Counter,
    /// Ended sessions told to the members of their users' encrypted conversations
    /// (`mls_session_ended`), each counted once by every node that told its sockets.
    pub ended_sessions_told: Counter,
    /// Reports waiting for an operator (the whole server's, read from the database).
    pub reports_open: Gauge,
    /// Accounts suspended now (the whole server's, read from the database).
    pub users_suspended: Gauge,
}

impl Metrics {
    /// A fresh registry.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ferry");
        let connections = Gauge::default();
        let messages = Counter::default();
        // 1 to 1024.
        let commit_batch = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        let requests = LatencyFamily::new_with_constructor(latency_histogram);
        let send_latency = latency_histogram();
        registry.register(
            "connections",
            "Open WebSocket connections",
            connections.clone(),
        );
        registry.register("messages_stored", "Messages stored", messages.clone());
        let departing_users = Gauge::default();
        registry.register(
            "departing_users",
            "Users whose last socket closed within the presence grace, still shown online",
            departing_users.clone(),
        );
        let http_connections = Gauge::default();
        registry.register(
            "http_connections",
            "Open HTTP connections, not counting those upgraded to WebSockets",
            http_connections.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "REST request latency",
            requests.clone(),
        );
        registry.register(
            "commit_batch_size",
            "Sends stored per group commit",
            commit_batch.clone(),
        );
        registry.register(
            "send_ack_duration_seconds",
            "Time from a WebSocket send to its ack",
            send_latency.clone(),
        );
        let conversation_frames = Counter::default();
        registry.register(
            "conversation_frames_encoded",
            "Conversation frames encoded to announce changed conversations",
            conversation_frames.clone(),
        );
        let frame_bytes = Counter::default();
        registry.register(
            "socket_frame_bytes",
            "Bytes of frames queued for sockets, each socket counted",
            frame_bytes.clone(),
        );
        let reports = Counter::default();
        registry.register(
            "reports",
            "Reports of users stored for the operators",
            reports.clone(),
        );
        let readiness_pings = Counter::default();
        registry.register(
            "readiness_pings",
            "Database pings made by /readyz",
            readiness_pings.clone(),
        );
        let panics = Counter::default();
        registry.register(
            "panics",
            "Panics contained in long-lived tasks (sockets, committer shards)",
            panics.clone(),
        );
        let preview_bytes = Gauge::default();
        registry.register(
            "preview_bytes",
            "Memory that image previews being made may take",
            preview_bytes.clone(),
        );
        let preview_bytes_peak = Gauge::default();
        registry.register(
            "preview_bytes_peak",
            "The most memory image previews being made took at once",
            preview_bytes_peak.clone(),
        );
        let sync_waiting = Gauge::default();
        registry.register(
            "sync_waiting",
            "Long-polls of /sync waiting for a change",
            sync_waiting.clone(),
        );
        let bus = BusMetrics::default();
        registry.register(
            "bus_connected",
            "1 while this node reaches the cluster bus (always on a single node)",
            bus.connected.clone(),
        );
        registry.register(
            "bus_published",
            "Events sent to the other nodes",
            bus.published.clone(),
        );
        registry.register(
            "bus_received",
            "Events received from the other nodes",
            bus.received.clone(),
        );
        registry.register(
            "bus_dropped",
            "Events not sent because the cluster bus was away too long",
            bus.dropped.clone(),
        );
        registry.register(
            "bus_resyncs",
            "Times this node missed bus traffic and told its sockets to catch up",
            bus.resyncs.clone(),
        );
        let mail_sent = Counter::default();
        registry.register(
            "mail_sent",
            "Mails handed to the SMTP server",
            mail_sent.clone(),
        );
        let mail_failed = Counter::default();
        registry.register(
            "mail_failed",
            "Mails the SMTP server did not take, or that could not be made",
            mail_failed.clone(),
        );
        let digest_rounds = Counter::default();
        registry.register(
            "digest_rounds",
            "Rounds of the missed-message mail task that ran to the end",
            digest_rounds.clone(),
        );
        let ended_sessions_told = Counter::default();
        registry.register(
            "ended_sessions_told",
            "Ended sessions told to their users' encrypted conversations' members",
            ended_sessions_told.clone(),
        );
        let reports_open = Gauge::default();
        registry.register(
            "reports_open",
            "Reports waiting for an operator, server-wide",
            reports_open.clone(),
        );
        let users_suspended = Gauge::default();
        registry.register(
            "users_suspended",
            "Accounts suspended now, server-wide",
            users_suspended.clone(),
        );
        Self {
            reports_open,
            users_suspended,
            mail_sent,
            mail_failed,
            digest_rounds,
            ended_sessions_told,
            bus,
            conversation_frames,
            frame_bytes,
            reports,
            readiness_pings,
            panics,
            preview_bytes,
            preview_bytes_peak,
            sync_waiting,
            registry,
            connections,
            http_connections,
            departing_users,
            messages,
            commit_batch,
            requests,
            send_latency,
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
