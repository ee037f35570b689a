//! [`ExportStore`]: what a person's data export (`crate::export`) reads beyond what the
//! other parts of the store already give: every entry they wrote in a conversation, and
//! the files they uploaded.

use async_trait::async_trait;
use ferry_proto::{ConversationId, Message, Timestamp, UploadId, UserId};

use super::StoreResult;

/// A file a person uploaded, whole.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OwnFile {
    /// The upload's id.
    pub id: UploadId,
    /// Its name.
    pub name: String,
    /// Bytes.
    pub size: i64,
    /// Its media type.
    pub content_type: String,
    /// Its blob.
    pub sha256: String,
    /// Where it was sent.
    pub conversation_id: Option<ConversationId>,
    /// The message carrying it.
    pub message_id: Option<ferry_proto::MessageId>,
    /// When the upload began, in milliseconds.
    pub created_at: i64,
}

impl OwnFile {
    /// When the upload began.
    pub fn created(&self) -> Timestamp {
        Timestamp::from_millis(self.created_at)
    }
}

/// The export part of the store.
#[async_trait]
pub trait ExportStore: Send + Sync {
    /// Every entry of `conversation`'s stream that `user` wrote (messages and changes),
    /// in seq order, as the server holds them now.
    async fn entries_by(
        &self,
        user: UserId,
        conversation: ConversationId,
    ) -> StoreResult<Vec<Message>>;
    /// The files `user` uploaded whole, oldest first.
    async fn files_of(&self, user: UserId) -> StoreResult<Vec<OwnFile>>;
    /// Every conversation `user` wrote in, those they left too (a scan of the messages:
    /// there is no index on senders, which every send would pay for; an export is rare).
    async fn conversations_written_in(&self, user: UserId) -> StoreResult<Vec<ConversationId>>;
}
