//! [`Bus`]: carries live events between server nodes. Operations announce through
//! `crate::announce`, never to sockets directly; what reaches a node, its own events
//! included, is acted on by [`receive`]. [`LocalBus`] is the single-node bus (straight to this node);
//! [`nats::NatsBus`] is the cluster's, chosen by `FERRY_NATS_URL`, behind the same trait.
//!
//! The bus carries whole frames, not notifications to re-read the database: the node
//! that committed a message already holds its frame, and a frame read once per node
//! per event from the database would cost a query per node for every delivery. Delivery
//! is best effort either way: clients catch up through `/sync`, and a node that finds it
//! missed bus traffic tells its sockets to do so at once (`resync`).

pub mod nats;

use std::sync::Arc;

use ferry_proto::{ConversationId, SessionId, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::delivery::Outgoing;
use crate::hub::{Audience, Hub};
use crate::members::Members;
use crate::store::Store;

/// Something every node must act on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Event {
    /// Deliver a frame (already JSON) to every socket of these users, except one socket.
    Deliver {
        /// Recipients.
        users: Vec<UserId>,
        /// The socket that caused it, which already knows.
        except_socket: Option<Uuid>,
        /// The frame's JSON text.
        frame: String,
        /// `(conversation, seq)` when it is a `message` frame: sockets keep those in order.
        #[serde(default)]
        message: Option<(ConversationId, i64)>,
        /// A typing or presence frame: dropped for a socket that falls behind (absent
        /// from older nodes' events: not ephemeral).
        #[serde(default)]
        ephemeral: bool,
        /// Which of the users' sockets (absent from older nodes' events: all; an older
        /// node ignores it and gives a socket both forms, which clients apply alike).
        #[serde(default)]
        audience: Audience,
    },
    /// A session ended: close its sockets with 4001.
    SessionRevoked {
        /// Which session.
        session_id: SessionId,
    },
    /// A conversation's members changed: forget the cached members.
    MembersChanged {
        /// Which conversation.
        conversation_id: ConversationId,
    },
}

/// What the bus can say of itself, for `/readyz` and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BusStatus {
    /// A single node: nothing to connect to.
    Local,
    /// Connected to the cluster.
    Connected,
    /// Cut off from the cluster: this node serves its own sockets only, until it is back.
    Disconnected,
}

/// Publishes events to every node, this one included.
pub trait Bus: Send + Sync + 'static {
    /// Sends an event; this node acts on it before the call returns, other nodes soon
    /// after (best effort: clients catch up through `/sync`).
    fn publish(&self, event: Event);

    /// Whether the bus reaches the other nodes.
    fn status(&self) -> BusStatus;
}

/// What a node acts on when an event reaches it: its sockets and its caches.
#[derive(Clone)]
pub struct Node {
    /// This node's sockets.
    pub hub: Arc<Hub>,
    /// This node's cache of conversation members.
    pub members: Arc<Members>,
    /// The database, to check which of this node's sessions ended while it was not
    /// listening.
    pub store: Arc<dyn Store>,
}

/// The bus of a single node: events go straight to it.
pub struct LocalBus {
    node: Node,
}

impl LocalBus {
    /// A bus that delivers to `node`.
    pub fn new(node: Node) -> Self {
        Self { node }
    }
}

impl Bus for LocalBus {
    fn publish(&self, event: Event) {
        receive(&self.node, event);
    }

    fn status(&self) -> BusStatus {
        BusStatus::Local
    }
}

/// Acts on an event that reached this node: what every bus does with it.
pub fn receive(node: &Node, event: Event) {
    match event {
        Event::Deliver {
            users,
            except_socket,
            frame,
            message,
            ephemeral,
            audience,
        } => {
            let frame = if ephemeral {
                Outgoing::ephemeral(frame)
            } else {
                Outgoing::new(frame, message)
            };
            node.hub.deliver(&users, except_socket, audience, frame);
        }
        Event::SessionRevoked { session_id } => node.hub.close_session(session_id),
        Event::MembersChanged { conversation_id } => node.members.changed(conversation_id),
    }
}

/// This node may have missed events: every cache an event would have invalidated is
/// dropped, every socket is told to catch up, and the sockets of sessions that ended
/// meanwhile (a logout on another node) are closed.
pub fn missed(node: &Node) {
    node.members.clear();
    node.hub.resync_all();
    let node = node.clone();
    tokio::spawn(async move {
        let sessions = node.hub.session_ids();
        match node.store.active_sessions(&sessions).await {
            Ok(active) => {
                for session in sessions.into_iter().filter(|s| !active.contains(s)) {
                    node.hub.close_session(session);
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not check this node's sessions"),
        }
    });
}
