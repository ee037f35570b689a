//! [`Members`]: who is in each conversation, cached for the frames that only relay
//! (typing, receipts) and for history reads' membership check, so that a typing notice
//! costs no database query and a catch-up page one. Sends do not use it: they read the
//! members under the conversation's lock, in their own transaction.
//!
//! An entry is dropped as soon as its conversation's membership changes (after the
//! change commits). A lookup that raced with a change does not store what it read, so a
//! removed member stops getting frames at once. Each node has its own cache; the bus
//! carries every change to every node (`Event::MembersChanged`), and a node that may
//! have missed one clears its cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use moka::sync::Cache;
use uuid::Uuid;

use crate::store::{Store, StoreResult};

/// Conversations whose members are kept at most.
const CAPACITY: u64 = 100_000;

/// The cache of conversation members.
pub struct Members {
    cache: Cache<Uuid, Arc<[Uuid]>>,
    /// Bumped by every membership change; a lookup stores what it read only if no change
    /// happened meanwhile.
    changes: AtomicU64,
}

impl Members {
    /// An empty cache.
    pub fn new() -> Self {
        Self {
            cache: Cache::new(CAPACITY),
            changes: AtomicU64::new(0),
        }
    }

    /// The members of `conversation` (empty if there is no such conversation).
    pub async fn of(&self, store: &dyn Store, conversation: Uuid) -> StoreResult<Arc<[Uuid]>> {
        if let Some(members) = self.cache.get(&conversation) {
            return Ok(members);
        }
        let before = self.changes.load(Ordering::Acquire);
        let members: Arc<[Uuid]> = store.member_ids(conversation).await?.into();
        // Not cached when empty: the conversation may be created in a moment.
        if !members.is_empty() && self.changes.load(Ordering::Acquire) == before {
            self.cache.insert(conversation, members.clone());
        }
        Ok(members)
    }

    /// Forgets `conversation`'s members; call after a membership change commits.
    pub fn changed(&self, conversation: Uuid) {
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
