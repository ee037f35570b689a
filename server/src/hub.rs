//! [`Hub`]: the sockets open on this node, by user, and delivery of frames to them.
//!
//! Each socket task owns a bounded frame queue; the hub only ever `try_send`s into it, so
//! one slow client can never hold up delivery to the others. A socket whose queue is full
//! is told to close through its separate close signal (its client reconnects and catches
//! up through `/sync`). Hints (typing, presence) are dropped instead for a socket whose
//! queue is half full: they never get a socket closed.
//!
//! The hub knows nothing of the bus: the bus's subscriber (`crate::bus`) calls
//! [`Hub::deliver`] and [`Hub::close_session`] for what it receives.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ferry_proto::{SessionId, UserId};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::{Notify, mpsc, watch};
use uuid::Uuid;

use crate::delivery::Outgoing;

/// Frames waiting for one socket before it counts as too slow.
pub const SOCKET_QUEUE: usize = 1024;

/// Which sockets of a frame's recipients it is for: some frames come in two forms, and
/// each socket gets the one it asked for when it opened.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Every socket.
    #[default]
    All,
    /// Sockets that asked for `members` frames (`?features=members`).
    WithMembers,
    /// Sockets that did not: they get whole `conversation` frames instead.
    WithoutMembers,
}

impl Audience {
    fn includes(self, socket: &SocketHandle) -> bool {
        match self {
            Self::All => true,
            Self::WithMembers => socket.members_feature,
            Self::WithoutMembers => !socket.members_feature,
        }
    }
}

/// Why the hub wants a socket closed: a close code and a reason for people.
pub type CloseReason = Option<(u16, &'static str)>;

/// The hub's handle on one socket task.
pub struct SocketHandle {
    /// Unique across the cluster.
    pub id: Uuid,
    /// The session that opened it.
    pub session_id: SessionId,
    /// Frames to write.
    pub frames: mpsc::Sender<Outgoing>,
    /// Set when the socket must close; never blocks.
    pub close: watch::Sender<CloseReason>,
    /// It asked for `members` frames in place of whole conversations.
    pub members_feature: bool,
}

impl SocketHandle {
    fn close(&self, code: u16, reason: &'static str) {
        self.close.send_replace(Some((code, reason)));
    }
}

/// The result of registering a socket.
pub enum Joined {
    /// Registered; `first` when it is the user's first socket on this node.
    Yes {
        /// The user just came online (on this node).
        first: bool,
    },
    /// The user already has the maximum number of sockets.
    TooMany,
}

/// Open sockets of this node, and the long-polls (`/sync?wait=`) waiting on it.
#[derive(Default)]
pub struct Hub {
    /// Bytes of frames queued, each socket counted (`ferry_socket_frame_bytes_total`).
    frame_bytes: Counter,
    sockets: Mutex<HashMap<UserId, Vec<SocketHandle>>>,
    /// Per user: woken by every frame for them that is not a hint.
    waiters: Mutex<HashMap<UserId, Arc<Notify>>>,
    /// How many [`Waiter`]s exist: delivery, the hot path, takes the waiters' lock only
    /// when some long-poll waits.
    waiting: AtomicUsize,
}

/// A long-poll's place among the hub's waiters; its entry goes with the last one.
pub struct Waiter {
    hub: Arc<Hub>,
    user: UserId,
    /// Woken when something for the user passes through this node.
    pub notify: Arc<Notify>,
}

impl Waiter {
    /// How many long-polls of this user wait on this node, this one included.
    pub fn of_user(&self) -> usize {
        // The map holds one reference; each waiter one more.
        Arc::strong_count(&self.notify).saturating_sub(1)
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.hub.waiting.fetch_sub(1, Ordering::AcqRel);
        let mut waiters = self.hub.waiters.lock().unwrap_or_else(|p| p.into_inner());
        // The map's reference and this one: nobody else waits.
        if Arc::strong_count(&self.notify) <= 2 {
            waiters.remove(&self.user);
        }
    }
}

impl Hub {
    /// A hub that counts the bytes it queues in `frame_bytes`.
    pub fn new(frame_bytes: Counter) -> Self {
        Self {
            frame_bytes,
            ..Self::default()
        }
    }

    /// A place to wait for the next frame for `user` (a long-poll's wake-up).
    pub fn waiter(self: &Arc<Self>, user: UserId) -> Waiter {
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let notify = self
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(user)
            .or_default()
            .clone();
        Waiter {
            hub: self.clone(),
            user,
            notify,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Vec<SocketHandle>>> {
        // A panic while holding the lock cannot leave the map half-updated (each
        // operation is one insert or retain), so a poisoned lock is still usable.
        self.sockets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a socket, unless the user already has `max` of them.
    pub fn join(&self, user: UserId, socket: SocketHandle, max: usize) -> Joined {
        let mut map = self.lock();
        let list = map.entry(user).or_default();
        if list.len() >= max {
            return Joined::TooMany;
        }
        list.push(socket);
        Joined::Yes {
            first: list.len() == 1,
        }
    }

    /// Removes a socket; `true` when it was the user's last one on this node.
    pub fn leave(&self, user: UserId, socket_id: Uuid) -> bool {
        let mut map = self.lock();
        let Some(list) = map.get_mut(&user) else {
            return false;
        };
        list.retain(|s| s.id != socket_id);
        if list.is_empty() {
            map.remove(&user);
            true
        } else {
            false
        }
    }

    /// Whether the user has a socket open on this node.
    pub fn is_online(&self, user: UserId) -> bool {
        self.lock().contains_key(&user)
    }

    /// Of `users`, those with a socket on this node that did not ask for `members`
    /// frames (they need whole `conversation` frames).
    pub fn without_members_feature(
        &self,
        users: impl IntoIterator<Item = UserId>,
    ) -> std::collections::HashSet<UserId> {
        let map = self.lock();
        users
            .into_iter()
            .filter(|user| {
                map.get(user)
                    .is_some_and(|sockets| sockets.iter().any(|s| !s.members_feature))
            })
            .collect()
    }

    /// Sockets open on this node.
    pub fn socket_count(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    /// Queues `frame` for every socket of `users` on this node that is in `audience`,
    /// except `except_socket`.
    pub fn deliver(
        &self,
        users: &[UserId],
        except_socket: Option<Uuid>,
        audience: Audience,
        frame: Outgoing,
    ) {
        let map = self.lock();
        for user in users {
            for socket in map.get(user).into_iter().flatten() {
                if Some(socket.id) == except_socket || !audience.includes(socket) {
                    continue;
                }
                if frame.ephemeral {
                    // A hint for a socket already behind goes nowhere: it would be stale
                    // when written, and must never be what gets the socket closed.
                    if socket.frames.capacity() > SOCKET_QUEUE / 2
                        && socket.frames.try_send(frame.clone()).is_ok()
                    {
                        self.frame_bytes.inc_by(frame.frame.len() as u64);
                    }
                } else if socket.frames.try_send(frame.clone()).is_ok() {
                    self.frame_bytes.inc_by(frame.frame.len() as u64);
                } else {
                    // Too slow (or already gone): it must reconnect and catch up.
                    socket.close(ferry_proto::close::POLICY, "too slow to keep up");
                }
            }
        }
        drop(map);
        if !frame.ephemeral && self.waiting.load(Ordering::Acquire) > 0 {
            let waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            for user in users {
                if let Some(waiting) = waiters.get(user) {
                    waiting.notify_waiters();
                }
            }
        }
    }

    /// Tells every socket on this node to catch up (`resync`): frames may have been lost
    /// on the way here.
    pub fn resync_all(&self) {
        let frame = match serde_json::to_string(&ferry_proto::ServerFrame::Resync) {
            Ok(frame) => Outgoing::new(frame, None),
            Err(e) => return tracing::error!(error = %e, "could not encode a frame"),
        };
        let map = self.lock();
        for socket in map.values().flatten() {
            if socket.frames.try_send(frame.clone()).is_err() {
                socket.close(ferry_proto::close::POLICY, "too slow to keep up");
            }
        }
    }

    /// The sessions with a socket on this node.
    pub fn session_ids(&self) -> Vec<SessionId> {
        let mut sessions: Vec<SessionId> = self
            .lock()
            .values()
            .flatten()
            .map(|s| s.session_id)
            .collect();
        sessions.sort_unstable();
        sessions.dedup();
        sessions
    }

    /// The users with a socket on this node.
    pub fn users(&self) -> Vec<UserId> {
        self.lock().keys().copied().collect()
    }

    /// Closes every socket of an ended session on this node with 4001.
    pub fn close_session(&self, session_id: SessionId) {
        self.close_where(
            |s| s.session_id == session_id,
            ferry_proto::close::TOKEN_EXPIRED,
            "session ended",
        );
    }

    /// Closes the sockets of these users' sessions with 4001, looking only at those
    /// users' sockets (the nodes' look at sessions ended lately names a few among many).
    pub fn close_sessions_of(&self, ended: &[(UserId, SessionId)]) {
        let map = self.lock();
        for (user, session) in ended {
            for socket in map.get(user).into_iter().flatten() {
                if socket.session_id == *session {
                    socket.close(ferry_proto::close::TOKEN_EXPIRED, "session ended");
                }
            }
        }
    }

    /// Asks every socket to close (server shutdown).
    pub fn close_all(&self, code: u16, reason: &'static str) {
        self.close_where(|_| true, code, reason);
    }

    fn close_where(&self, pick: impl Fn(&SocketHandle) -> bool, code: u16, reason: &'static str) {
        let map = self.lock();
        for socket in map.values().flatten().filter(|s| pick(s)) {
            socket.close(code, reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(hub: &Hub, user: UserId) -> (mpsc::Receiver<Outgoing>, watch::Receiver<CloseReason>) {
        let (frames, queue) = mpsc::channel(SOCKET_QUEUE);
        let (close, closed) = watch::channel(None);
        let handle = SocketHandle {
            id: Uuid::now_v7(),
            session_id: SessionId::new(),
            frames,
            close,
            members_feature: false,
        };
        assert!(matches!(hub.join(user, handle, 16), Joined::Yes { .. }));
        (queue, closed)
    }

    #[test]
    fn hints_never_close_a_slow_socket() {
        let hub = Hub::default();
        let user = UserId::new();
        let (queue, closed) = socket(&hub, user);
        // A socket that stopped reading: typing floods it, and is dropped past half the
        // queue instead of closing it.
        for _ in 0..SOCKET_QUEUE * 10 {
            hub.deliver(
                &[user],
                None,
                Audience::All,
                Outgoing::ephemeral("{\"type\":\"typing\"}".into()),
            );
        }
        assert_eq!(*closed.borrow(), None, "typing never closes a socket");
        assert_eq!(queue.len(), SOCKET_QUEUE / 2);
        // Messages still fill the rest, and one too many closes it.
        for _ in 0..SOCKET_QUEUE / 2 {
            hub.deliver(
                &[user],
                None,
                Audience::All,
                Outgoing::new("{}".into(), None),
            );
        }
        assert_eq!(*closed.borrow(), None);
        hub.deliver(
            &[user],
            None,
            Audience::All,
            Outgoing::new("{}".into(), None),
        );
        assert!(
            closed.borrow().is_some(),
            "a message that does not fit closes it"
        );
    }
}
