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
    /// Whether everything due went; `false` when the step's bound stopped it short (go
    /// again).
    pub done: bool,
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
    /// Deletes the entries of `conversation` past its policy at `now` (read again under
    /// the conversation's lock: a hold set since it was found due is kept), at most
    /// `step` seqs of them, with their reactions and files (left to the sweeper), and
    /// moves its `history_from` past them, in one transaction; `None` when nothing is
    /// due (another node did it, or its policy changed) or it does not exist.
    async fn trim_history(
        &self,
        conversation: ConversationId,
        server_days: u32,
        now: Timestamp,
        step: i64,
    ) -> StoreResult<Option<Trimmed>>;
}
