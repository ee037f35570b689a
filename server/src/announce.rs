//! [`Announcer`]: the one way from a node's operations to sockets and caches, on every
//! node. A frame for users' sockets, a conversation whose members changed, a session
//! that ended: each becomes one bus event, which every node acts on (this one before the
//! call returns). Nothing else publishes to the bus, so everything a node announces goes
//! through these few functions.

use std::sync::Arc;

use ferry_proto::{ConversationId, ServerFrame, SessionId, UserId};
use uuid::Uuid;

use crate::bus::{Bus, BusStatus, Event};
use crate::hub::Audience;

/// Announces to every node through the bus.
#[derive(Clone)]
pub struct Announcer {
    bus: Arc<dyn Bus>,
}

impl Announcer {
    /// Announces through `bus`.
    pub fn new(bus: Arc<dyn Bus>) -> Self {
        Self { bus }
    }

    /// Sends `frame` to every socket of `users` on every node, except `except_socket`.
    pub fn frame(&self, users: Vec<UserId>, except_socket: Option<Uuid>, frame: &ServerFrame) {
        self.deliver(users, except_socket, Audience::All, frame);
    }

    /// Sends `frame` to the sockets of `users` in `audience` (one of a frame's two forms).
    pub fn frame_to(&self, users: Vec<UserId>, audience: Audience, frame: &ServerFrame) {
        self.deliver(users, None, audience, frame);
    }

    /// A conversation's members (or their states) changed: every node drops its cached
    /// members, so that a removed member stops getting frames at once.
    pub fn members_changed(&self, conversation_id: ConversationId) {
        self.bus.publish(Event::MembersChanged { conversation_id });
    }

    /// A session ended: its sockets close with 4001 on whichever node holds them.
    pub fn session_ended(&self, session_id: SessionId) {
        self.bus.publish(Event::SessionRevoked { session_id });
    }

    /// Whether announcements reach the other nodes.
    pub fn status(&self) -> BusStatus {
        self.bus.status()
    }

    fn deliver(
        &self,
        users: Vec<UserId>,
        except_socket: Option<Uuid>,
        audience: Audience,
        frame: &ServerFrame,
    ) {
        if users.is_empty() {
            return;
        }
        let message = match frame {
            ServerFrame::Message { message } => Some((message.conversation_id, message.seq)),
            _ => None,
        };
        let ephemeral = matches!(
            frame,
            ServerFrame::Typing { .. } | ServerFrame::Presence { .. }
        );
        match serde_json::to_string(frame) {
            Ok(frame) => self.bus.publish(Event::Deliver {
                users,
                except_socket,
                frame,
                message,
                ephemeral,
                audience,
            }),
            Err(e) => tracing::error!(error = %e, "could not encode a frame"),
        }
    }
}
