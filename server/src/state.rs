//! [`AppState`]: everything a request or socket needs, shared behind an `Arc` ([`App`]).

use std::collections::HashMap;
use std::sync::Arc;

use ferry_proto::ServerFrame;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::auth::tokens::TokenKeys;
use crate::bus::Bus;
use crate::coalesce::Coalescer;
use crate::commit::Committer;
use crate::config::Config;
use crate::hub::{Audience, Hub};
use crate::limits::Limits;
use crate::members::Members;
use crate::metrics::Metrics;
use crate::store::{Contact, Store};

/// Shared server state.
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Token issuing and checking.
    pub tokens: TokenKeys,
    /// This node's sockets.
    pub hub: Arc<Hub>,
    /// Events to every node.
    pub bus: Arc<dyn Bus>,
    /// Rate limiters.
    pub limits: Limits,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Settings.
    pub config: Config,
    /// Cancelled when the server shuts down; socket tasks close with 1001.
    pub shutdown: CancellationToken,
    /// Socket tasks, awaited on shutdown.
    pub sockets: TaskTracker,
    /// Orders each user's presence announcements.
    pub presence: crate::presence::Turns,
    /// Stores messages in batches and publishes them in seq order.
    pub committer: Committer,
    /// Conversation members, cached for typing, receipts and history reads.
    pub members: Arc<Members>,
    /// This node's place in a cluster; `None` for a single node.
    pub cluster: Option<crate::cluster::Cluster>,
    /// Session checks, coalesced: whether a session is live.
    pub sessions: Coalescer<Uuid, bool>,
    /// Contacts lookups, coalesced: who shares a conversation with a user.
    pub contacts: Coalescer<Uuid, Vec<Contact>>,
    /// Typing notices worth relaying (repeats are not).
    pub typing: crate::typing::TypingRelay,
    /// Attachments' bytes.
    pub files: crate::files::Files,
    /// When the database last answered `/readyz`.
    pub readiness: crate::http::ops::Readiness,
}

/// The state handle that handlers receive.
pub type App = Arc<AppState>;

impl AppState {
    /// Sends `frame` to every socket of `users` on every node, except `except_socket`.
    pub fn publish(&self, users: Vec<Uuid>, except_socket: Option<Uuid>, frame: &ServerFrame) {
        crate::bus::publish(&*self.bus, users, except_socket, Audience::All, frame);
    }

    /// Sends `frame` to the sockets of `users` in `audience` (one of a frame's two forms).
    pub fn publish_to(&self, users: Vec<Uuid>, audience: Audience, frame: &ServerFrame) {
        crate::bus::publish(&*self.bus, users, None, audience, frame);
    }
}

/// The coalesced session check: which of the asked sessions are live.
pub fn session_lookup(store: Arc<dyn Store>) -> Coalescer<Uuid, bool> {
    Coalescer::new(Arc::new(move |ids: Vec<Uuid>| {
        let store = store.clone();
        Box::pin(async move {
            let active = store.active_sessions(&ids).await?;
            Ok(active.into_iter().map(|id| (id, true)).collect())
        })
    }))
}

/// The coalesced contacts lookup: each asked user's contacts.
pub fn contacts_lookup(store: Arc<dyn Store>) -> Coalescer<Uuid, Vec<Contact>> {
    Coalescer::new(Arc::new(move |users: Vec<Uuid>| {
        let store = store.clone();
        Box::pin(async move {
            let mut of: HashMap<Uuid, Vec<Contact>> = HashMap::new();
            for contact in store.contacts(&users).await? {
                of.entry(contact.user).or_default().push(contact);
            }
            Ok(of)
        })
    }))
}
