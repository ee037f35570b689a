//! [`Departures`]: users whose last socket on this node closed less than the presence
//! grace ago. They are still shown online, and their "offline" is decided when the grace
//! ends: a socket that comes back before then cancels it, so a dropped connection's
//! reconnect announces nothing and writes nothing (as Slack and Discord do).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ferry_proto::{Timestamp, UserId};
use prometheus_client::metrics::gauge::Gauge;

/// One departure: which one (a user can leave, come back and leave again within one
/// grace) and when the last socket closed, the `last_seen` it will store.
#[derive(Clone, Copy, Debug)]
pub struct Departure {
    id: u64,
    /// When the user's last socket closed.
    pub at: Timestamp,
}

/// The departures pending on this node.
pub struct Departures {
    pending: Mutex<HashMap<UserId, Departure>>,
    next: AtomicU64,
    /// How many are pending, for `/metrics`.
    gauge: Gauge,
}

impl Departures {
    /// None pending; `gauge` follows how many are.
    pub fn new(gauge: Gauge) -> Self {
        Self {
            pending: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
            gauge,
        }
    }

    /// Records that `user`'s last socket closed now (replacing an older departure).
    pub fn start(&self, user: UserId) -> Departure {
        let departure = Departure {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            at: Timestamp::now(),
        };
        self.edit(|pending| {
            pending.insert(user, departure);
        });
        departure
    }

    /// A socket of `user` came back: whether a departure was pending (then the user was
    /// never announced offline and is still registered as online).
    pub fn cancel(&self, user: UserId) -> bool {
        self.edit(|pending| pending.remove(&user).is_some())
    }

    /// Ends `departure` when its grace is over: whether it was still pending (not
    /// cancelled, not replaced by a later one).
    pub fn end(&self, user: UserId, departure: Departure) -> bool {
        self.edit(|pending| {
            let current = pending.get(&user).is_some_and(|d| d.id == departure.id);
            if current {
                pending.remove(&user);
            }
            current
        })
    }

    /// Whether `user` is within the grace of a departure (still shown online).
    pub fn is_pending(&self, user: UserId) -> bool {
        self.lock().contains_key(&user)
    }

    /// Forgets every pending departure: another node has announced this node's users
    /// offline already (it presumed this node dead).
    pub fn forget_all(&self) {
        self.edit(HashMap::clear);
    }

    fn edit<T>(&self, change: impl FnOnce(&mut HashMap<UserId, Departure>) -> T) -> T {
        let mut pending = self.lock();
        let out = change(&mut pending);
        self.gauge.set(pending.len() as i64);
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Departure>> {
        // A panic while holding the lock cannot leave the map half-changed.
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
