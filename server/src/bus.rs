//! [`Bus`]: carries live events between server nodes. Handlers publish to the bus, never
//! to sockets directly; each node's subscriber hands what it receives to its [`Hub`].
//! [`LocalBus`] is the single-node bus (straight to the hub); a NATS bus implements the
//! same trait for a cluster without touching any handler.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::hub::Hub;

/// Something every node must act on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Event {
    /// Deliver a frame (already JSON) to every socket of these users, except one socket.
    Deliver {
        /// Recipients.
        users: Vec<Uuid>,
        /// The socket that caused it, which already knows.
        except_socket: Option<Uuid>,
        /// The frame's JSON text.
        frame: String,
    },
    /// A session ended: close its sockets with 4001.
    SessionRevoked {
        /// Which session.
        session_id: Uuid,
    },
}

/// Publishes events to every node, this one included.
pub trait Bus: Send + Sync + 'static {
    /// Sends an event; delivery is best effort (clients catch up through `/sync`).
    fn publish(&self, event: Event);
}

/// The bus of a single node: events go straight to the local hub.
pub struct LocalBus {
    hub: Arc<Hub>,
}

impl LocalBus {
    /// A bus that delivers to `hub`.
    pub fn new(hub: Arc<Hub>) -> Self {
        Self { hub }
    }
}

impl Bus for LocalBus {
    fn publish(&self, event: Event) {
        self.hub.dispatch(event);
    }
}
