//! [`Turns`]: one presence announcement at a time per user, so that announcements of one
//! user are published in the order they were decided.

use ferry_proto::UserId;
use tokio::sync::{Mutex, MutexGuard};

/// Lock stripes of [`Turns`]: enough that a reconnect storm's users rarely share one.
const STRIPES: usize = 1024;

/// Turns for presence announcements, per user: an "offline" decided before a reconnect
/// can never be published after that reconnect's "online". Users are striped over a
/// fixed set of locks, so different users do not wait for each other's database
/// lookups (one lock for everyone queued a reconnect storm's 10k announcements one
/// after another, and the `welcome` of each socket with them).
pub struct Turns {
    stripes: Vec<Mutex<()>>,
}

impl Turns {
    /// One unlocked stripe per slot.
    pub fn new() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    /// Waits for `user`'s turn; it lasts while the guard lives.
    pub async fn take(&self, user: UserId) -> MutexGuard<'_, ()> {
        // Ids are UUIDv7: their low bits are random.
        let stripe = (user.0.as_u64_pair().1 % STRIPES as u64) as usize;
        self.stripes[stripe].lock().await
    }
}

impl Default for Turns {
    fn default() -> Self {
        Self::new()
    }
}
