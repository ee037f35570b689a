//! [`SafetyStore`]: blocks and reports. A block ends what the blocked user can send to
//! or see of the blocker (the direct conversation's member state says it, in the same
//! transaction); a report is kept for the operators.

use async_trait::async_trait;
use ferry_proto::{ConversationId, MessageId, ReportId, ReportedCopy, Timestamp, User, UserId};

use super::StoreResult;

/// A report about to be stored.
#[derive(Clone, Debug)]
pub struct NewReport {
    /// Its id.
    pub id: ReportId,
    /// Who reports.
    pub reporter: UserId,
    /// Whom.
    pub reported: UserId,
    /// Where (the reporter is a member; checked by the caller).
    pub conversation_id: Option<ConversationId>,
    /// Which message.
    pub message_id: Option<MessageId>,
    /// In the reporter's words.
    pub reason: String,
    /// The reporter's copies of sealed messages (checked by the caller).
    pub copies: Vec<ReportedCopy>,
    /// When.
    pub created_at: Timestamp,
}

/// One user blocked another (a row of `blocks`, decoded straight into typed ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Block {
    /// Who blocked.
    pub blocker: UserId,
    /// Whom.
    pub blocked: UserId,
}

/// The safety part of the store: blocks and reports.
#[async_trait]
pub trait SafetyStore: Send + Sync {
    /// Blocks `blocked` for `blocker`; the direct conversation between them, if any, is
    /// returned (its `blocker` member is now `blocked`). [`StoreError::UnknownUser`] if
    /// `blocked` does not exist.
    async fn block(
        &self,
        blocker: UserId,
        blocked: UserId,
        now: Timestamp,
    ) -> StoreResult<Option<ConversationId>>;
    /// Undoes [`Self::block`]: `blocker`'s state in the direct conversation between
    /// them, if any, is what it was before the block (accepted, or still a request), and
    /// the conversation is returned.
    async fn unblock(
        &self,
        blocker: UserId,
        blocked: UserId,
    ) -> StoreResult<Option<ConversationId>>;
    /// The blocks between members of a conversation: in a group both are in, neither
    /// gets the other's receipts or typing.
    async fn blocks_among(&self, conversation_id: ConversationId) -> StoreResult<Vec<Block>>;
    /// The conversations both `a` and `b` are in (whose relays a block between them
    /// changes).
    async fn shared_conversations(&self, a: UserId, b: UserId) -> StoreResult<Vec<ConversationId>>;
    /// Whom `blocker` blocked, most recent first.
    async fn blocked_users(&self, blocker: UserId) -> StoreResult<Vec<User>>;
    /// Stores a report for the operators; `false` (nothing stored) when it names a
    /// message that is not the reported user's in the named conversation (an operator
    /// reading the report must not be led to someone else's private message).
    async fn report(&self, report: &NewReport) -> StoreResult<bool>;
}
