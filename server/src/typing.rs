//! [`TypingRelay`]: which typing notices are worth relaying. A client repeats
//! `typing:true` at most every 3 s while composing, and receivers drop one that was not
//! repeated for 6 s, so a notice that repeats what this node relayed for the same user
//! and conversation less than [`REPEAT_AFTER`] ago changes nothing for anyone, and
//! neither does a `typing:false` right after another. Relaying them all let one user
//! (16 sockets × 200 frames a second) fan thousands of frames a second out to every
//! member of a group. Kept per node: a user typing through two nodes at once may be
//! relayed by each.

use std::time::{Duration, Instant};

use ferry_proto::{ConversationId, UserId};
use moka::sync::Cache;

/// A `typing:true` repeated within this is not relayed again: under the protocol's
/// 3 s repeat, so an honest client's repeats all go out and receivers never expire a
/// notice its sender keeps up.
const REPEAT_AFTER: Duration = Duration::from_secs(2);

/// (user, conversation) pairs remembered at most; an entry idle longer than a receiver
/// keeps a notice is forgotten.
const CAPACITY: u64 = 100_000;
const FORGET_AFTER: Duration = Duration::from_secs(10);

/// What this node last relayed per user and conversation, and when.
pub struct TypingRelay {
    last: Cache<(UserId, ConversationId), (bool, Instant)>,
}

impl TypingRelay {
    /// Nothing relayed yet.
    pub fn new() -> Self {
        Self {
            last: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_idle(FORGET_AFTER)
                .build(),
        }
    }

    /// Whether `typing` from `user` in `conversation` changes what the other members
    /// see (counted as relayed when it does).
    pub fn relay(&self, user: UserId, conversation: ConversationId, typing: bool) -> bool {
        let now = Instant::now();
        let key = (user, conversation);
        let changes = match self.last.get(&key) {
            None => true,
            Some((was, at)) => was != typing || (typing && now.duration_since(at) >= REPEAT_AFTER),
        };
        if changes {
            self.last.insert(key, (typing, now));
        }
        changes
    }
}

impl Default for TypingRelay {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_and_idle_stops_are_not_relayed() {
        let relay = TypingRelay::new();
        let (alice, bob, chat) = (UserId::new(), UserId::new(), ConversationId::new());
        assert!(relay.relay(alice, chat, true));
        assert!(!relay.relay(alice, chat, true), "a repeat at once");
        assert!(relay.relay(bob, chat, true), "another member");
        assert!(relay.relay(alice, chat, false));
        assert!(!relay.relay(alice, chat, false), "a second stop");
        assert!(relay.relay(alice, chat, true), "typing again");
    }
}
