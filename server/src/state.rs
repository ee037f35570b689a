//! [`AppState`]: everything a request or socket needs, shared behind an `Arc` ([`App`]).
//! It is data only: what acts on it lives in the operations (`crate::chat`,
//! `crate::presence`), the protocol's handlers and the background tasks
//! (`crate::background`), none of which this file knows.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_proto::{SessionId, UserId};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::announce::Announcer;
use crate::auth::tokens::TokenKeys;
use crate::cluster::Cluster;
use crate::coalesce::Coalescer;
use crate::commit::Committer;
use crate::config::Config;
use crate::files::Files;
use crate::hub::Hub;
use crate::limits::Limits;
use crate::mail::Mailer;
use crate::members::Members;
use crate::metrics::Metrics;
use crate::presence::departures::Departures;
use crate::presence::turns::Turns;
use crate::store::{Contact, Store};
use crate::typing::TypingRelay;

/// Shared server state.
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Token issuing and checking.
    pub tokens: TokenKeys,
    /// This node's sockets.
    pub hub: Arc<Hub>,
    /// Frames and changes to every node: the only way to the bus.
    pub announce: Announcer,
    /// Rate limiters.
    pub limits: Arc<Limits>,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Settings.
    pub config: Config,
    /// Cancelled when the server shuts down; socket tasks close with 1001.
    pub shutdown: CancellationToken,
    /// Socket tasks, awaited on shutdown.
    pub sockets: TaskTracker,
    /// Orders each user's presence announcements.
    pub presence: Turns,
    /// Users whose last socket closed within the presence grace.
    pub departures: Departures,
    /// Stores messages in batches and publishes them in seq order.
    pub committer: Committer,
    /// Conversation members, cached for typing, receipts and history reads.
    pub members: Arc<Members>,
    /// This node's place in a cluster; `None` for a single node.
    pub cluster: Option<Cluster>,
    /// Session checks, coalesced: whether a session is live.
    pub sessions: Coalescer<SessionId, bool>,
    /// Contacts lookups, coalesced: who shares a conversation with a user.
    pub contacts: Coalescer<UserId, Vec<Contact>>,
    /// Typing notices worth relaying (repeats are not).
    pub typing: TypingRelay,
    /// Attachments' bytes.
    pub files: Arc<Files>,
    /// When the database last answered `/readyz`.
    pub readiness: Readiness,
    /// Mail out, if configured.
    pub mail: Mailer,
    /// Wakes the erasure of deleted accounts (`crate::erasure`).
    pub erasure: Arc<Notify>,
    /// Turns of the data exports running on this node (`crate::export::AT_ONCE`).
    pub exports: Arc<tokio::sync::Semaphore>,
}

/// The state handle that handlers receive.
pub type App = Arc<AppState>;

/// How long a good answer of the database stands for `/readyz`: load balancers probe
/// every second or so from every instance, and anyone may call it; none of that should
/// become a query each.
pub const READY_FOR: Duration = Duration::from_secs(1);

/// When the database last answered `/readyz`'s ping.
#[derive(Default)]
pub struct Readiness {
    last_good: Mutex<Option<Instant>>,
}

impl Readiness {
    /// Whether the last good answer is younger than [`READY_FOR`].
    pub fn fresh(&self) -> bool {
        self.last_good
            .lock()
            .is_ok_and(|at| at.is_some_and(|at| at.elapsed() < READY_FOR))
    }

    /// The database answered just now.
    pub fn answered(&self) {
        if let Ok(mut at) = self.last_good.lock() {
            *at = Some(Instant::now());
        }
    }
}
