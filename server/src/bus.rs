//! [`Bus`]: carries live events between server nodes. Handlers [`publish`] frames to the
//! bus, never to sockets directly; each node's subscriber hands what it receives to its
//! [`Hub`] ([`receive`]). [`LocalBus`] is the single-node bus (straight to the hub); a
//! NATS bus implements the same trait for a cluster without touching any handler.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use ferry_proto::ServerFrame;
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
        receive(&self.hub, event);
    }
}

/// Sends `frame` through `bus` to every socket of `users`, except `except_socket`.
pub fn publish(bus: &dyn Bus, users: Vec<Uuid>, except_socket: Option<Uuid>, frame: &ServerFrame) {
    if users.is_empty() {
        return;
    }
    match serde_json::to_string(frame) {
        Ok(frame) => bus.publish(Event::Deliver {
            users,
            except_socket,
            frame,
        }),
        Err(e) => tracing::error!(error = %e, "could not encode a frame"),
    }
}

/// Acts on an event that reached this node: what every bus's subscriber does with it.
pub fn receive(hub: &Hub, event: Event) {
    match event {
        Event::Deliver {
            users,
            except_socket,
            frame,
        } => hub.deliver(&users, except_socket, Utf8Bytes::from(frame)),
        Event::SessionRevoked { session_id } => hub.close_session(session_id),
    }
}
