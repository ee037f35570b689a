//! [`DigestStore`]: what missed-message mail needs (server/src/digest.rs): who is due one
//! (mail wanted, a confirmed address, no device online for a while, none sent lately, and
//! unread direct messages newer than the last), claiming a user's digest so that one node
//! of a cluster sends it, and the messages it lists.

use async_trait::async_trait;
use ferry_proto::{ConversationId, Timestamp, UserId};

use super::StoreResult;

/// A user due a digest.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct DigestDue {
    /// Whom.
    pub user_id: UserId,
    /// Their confirmed address.
    pub email: String,
    /// When their last digest went (milliseconds), if one did: it listed everything
    /// older, so the next lists only what came after.
    pub last_digest_at: Option<i64>,
}

/// An unread direct message a digest lists.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct MissedMessage {
    /// Where.
    pub conversation_id: ConversationId,
    /// Who wrote it, by the name they show.
    pub sender_name: String,
    /// Its text (a file-only message has none).
    pub body: String,
    /// Sealed for an end-to-end encrypted conversation: the server cannot say what it
    /// says, and must not try.
    pub sealed: bool,
    /// When (milliseconds).
    pub created_at: i64,
}

/// The missed-message part of the store.
#[async_trait]
pub trait DigestStore: Send + Sync {
    /// Up to `limit` users due a digest: mail on, a confirmed address, the account in use,
    /// no socket on any node and last seen before `offline_before` (or never), no digest
    /// since `sent_before`, and an unread message from someone else in an accepted direct
    /// conversation newer than their last digest.
    async fn digests_due(
        &self,
        offline_before: Timestamp,
        sent_before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<DigestDue>>;
    /// Marks `user`'s digest sent at `now` if none was since `sent_before`; whether this
    /// call did (on a cluster, exactly one node's does).
    async fn claim_digest(
        &self,
        user: UserId,
        sent_before: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// `user`'s unread messages from others in accepted direct conversations, newer than
    /// `after` (milliseconds), oldest first, at most `limit`.
    async fn missed_messages(
        &self,
        user: UserId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<MissedMessage>>;
}
