//! [`RetentionStore`]: how long a conversation's messages are kept, and the deletion of
//! those past it. Deleting moves the conversation's `history_from` up: every seq below it
//! is gone from the server (messages, changes, reactions, files), clients drop what they
//! hold below it at their next catch-up, and every seq from it on stays, so the stream
//! is still gapless where it is held.

use async_trait::async_trait;
use ferry_proto::{ConversationId, Timestamp, UserId};

use super::{Audit, StoreResult};

/// What a deletion past the retention did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trimmed {
    /// The conversation's members, whose devices drop what they hold below it.
    pub members: Vec<UserId>,
    /// Stream entries deleted (messages and changes).
    pub entries: u64,
}

/// The retention part of the store.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Sets a conversation's own policy in days (0: for ever; `None`: the server's), with
    /// its audit line; `false` when there is no such conversation.
    async fn set_retention(
        &self,
        conversation: ConversationId,
        days: Option<u32>,
        audit: &Audit,
    ) -> StoreResult<bool>;
    /// Up to `limit` conversations holding messages past their policy (`server_days`
    /// where they have none; 0 keeps for ever) at `now`, each with the seq to keep from:
    /// its first entry young enough to keep, or the one after its last.
    async fn retention_due(
        &self,
        server_days: u32,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<(ConversationId, i64)>>;
    /// Deletes every entry of `conversation` below seq `from`, with their reactions and
    /// files (left to the sweeper from `now`), and moves its `history_from` there, in one
    /// transaction under the conversation's lock; `None` when it already starts there
    /// (another node did it) or does not exist.
    async fn trim_history(
        &self,
        conversation: ConversationId,
        from: i64,
        now: Timestamp,
    ) -> StoreResult<Option<Trimmed>>;
}
