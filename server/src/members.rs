//! [`Members`]: who is in each conversation, and whether they accepted it, cached for
//! the frames that only relay (typing, receipts) and for history reads' membership check,
//! so that a typing notice costs no database query and a catch-up page one. Sends do not use it: they read the
//! members under the conversation's lock, in their own transaction.
//!
//! An entry is dropped as soon as its conversation's membership changes (after the
//! change commits). A lookup that raced with a change does not store what it read, so a
//! removed member stops getting frames at once. Each node has its own cache; the bus
//! carries every change to every node (`Event::MembersChanged`), and a node that may
//! have missed one clears its cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ferry_proto::{ConversationId, MemberState, UserId};
use moka::sync::Cache;

use crate::store::{Block, Store, StoreResult};

/// The members of one conversation with their states, and the blocks between them
/// (nearly always none).
#[derive(Debug, Default)]
pub struct Roster(Vec<(UserId, MemberState)>, Vec<Block>);

impl Roster {
    /// Whether `user` is a member.
    pub fn contains(&self, user: &UserId) -> bool {
        self.state(*user).is_some()
    }

    /// `user`'s state, if a member.
    pub fn state(&self, user: UserId) -> Option<MemberState> {
        self.0.iter().find(|(u, _)| *u == user).map(|(_, s)| *s)
    }

    /// Everyone.
    pub fn ids(&self) -> impl Iterator<Item = UserId> + '_ {
        self.0.iter().map(|(u, _)| *u)
    }

    /// Whether a block stands between `a` and `b`, either way: neither gets the other's
    /// receipts or typing, in a group both are in too.
    pub fn apart(&self, a: UserId, b: UserId) -> bool {
        self.1.iter().any(|block| {
            (block.blocker, block.blocked) == (a, b) || (block.blocker, block.blocked) == (b, a)
        })
    }

    /// Everyone whose state is not `state`.
    pub fn except(&self, state: MemberState) -> impl Iterator<Item = UserId> + '_ {
        self.0
            .iter()
            .filter(move |(_, s)| *s != state)
            .map(|(u, _)| *u)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Bytes of member lists kept at most (each member 17 bytes, each entry 64 more): a
/// count of entries alone would let a few thousand 1,000-member groups take far more
/// than a million small chats do.
const CAPACITY_BYTES: u64 = 64 * 1024 * 1024;

/// What an entry weighs in [`CAPACITY_BYTES`].
fn weight(_: &ConversationId, members: &Arc<Roster>) -> u32 {
    u32::try_from(64 + members.len() * 17 + members.1.len() * 32).unwrap_or(u32::MAX)
}

/// The cache of conversation members.
pub struct Members {
    cache: Cache<ConversationId, Arc<Roster>>,
    /// Bumped by every membership change; a lookup stores what it read only if no change
    /// happened meanwhile.
    changes: AtomicU64,
}

impl Members {
    /// An empty cache.
    pub fn new() -> Self {
        Self {
            cache: Cache::builder()
                .max_capacity(CAPACITY_BYTES)
                .weigher(weight)
                // A backstop: a change whose invalidation was lost (a panic after the
                // commit, a bus message dropped) is seen within a minute.
                .time_to_live(std::time::Duration::from_secs(60))
                .build(),
            changes: AtomicU64::new(0),
        }
    }

    /// The members of `conversation` (empty if there is no such conversation).
    pub async fn of(
        &self,
        store: &dyn Store,
        conversation: ConversationId,
    ) -> StoreResult<Arc<Roster>> {
        if let Some(members) = self.cache.get(&conversation) {
            return Ok(members);
        }
        let before = self.changes.load(Ordering::Acquire);
        let seats = store.seats(conversation).await?;
        let blocks = if seats.len() > 1 {
            store.blocks_among(conversation).await?
        } else {
            Vec::new()
        };
        let members = Arc::new(Roster(
            seats.into_iter().map(|s| (s.user, s.state)).collect(),
            blocks,
        ));
        // Not cached when empty: the conversation may be created in a moment.
        if !members.is_empty() && self.changes.load(Ordering::Acquire) == before {
            self.cache.insert(conversation, members.clone());
        }
        Ok(members)
    }

    /// Forgets `conversation`'s members; call after a change of members, of their
    /// states or of the blocks between them commits.
    pub fn changed(&self, conversation: ConversationId) {
        self.changes.fetch_add(1, Ordering::AcqRel);
        self.cache.invalidate(&conversation);
    }

    /// Forgets everything: a change may have gone unheard.
    pub fn clear(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
        self.cache.invalidate_all();
    }
}

impl Default for Members {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_is_bounded_by_bytes() {
        let members = Members::new();
        let big = Arc::new(Roster(
            (0..1000)
                .map(|_| (UserId::new(), MemberState::Accepted))
                .collect(),
            Vec::new(),
        ));
        // 10,000 groups of 1,000: 160 MB of ids if entries were all that counted.
        for _ in 0..10_000 {
            members.cache.insert(ConversationId::new(), big.clone());
        }
        members.cache.run_pending_tasks();
        assert!(
            members.cache.weighted_size() <= CAPACITY_BYTES,
            "{} bytes kept",
            members.cache.weighted_size()
        );
        assert!(members.cache.entry_count() < 10_000);
    }
}
