//! [`SendOrder`]: frames of one conversation leave in seq order. Two sends to one
//! conversation commit one after the other (its row lock), but each publishes its frame
//! after its own commit, from its own task, so a recipient could get seq n+1 before n
//! and have to fetch the gap. A send holds its conversation's turn from before its
//! transaction until its frame is published. Sends to one conversation are serialised by
//! the database anyway, so the turn costs them nothing; conversations share 4096 turns by
//! hash, and two busy ones rarely collide.

use tokio::sync::{Mutex, MutexGuard};
use uuid::Uuid;

const TURNS: usize = 4096;

/// The per-conversation turns to store and publish a message.
pub struct SendOrder {
    turns: Box<[Mutex<()>]>,
}

impl SendOrder {
    /// All turns free.
    pub fn new() -> Self {
        Self {
            turns: (0..TURNS).map(|_| Mutex::new(())).collect(),
        }
    }

    /// Waits for `conversation`'s turn; it is held until the guard is dropped.
    pub async fn turn(&self, conversation: Uuid) -> MutexGuard<'_, ()> {
        // The low bits of a v7 (or v4) UUID are random.
        let slot = (conversation.as_u128() as usize) % TURNS;
        self.turns[slot].lock().await
    }
}

impl Default for SendOrder {
    fn default() -> Self {
        Self::new()
    }
}
