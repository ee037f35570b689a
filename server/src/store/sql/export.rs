//! [`ExportStore`] in SQL.

use async_trait::async_trait;
use ferry_proto::{ConversationId, Message, UserId};
use macro_rules_attribute::apply;

use super::{Dialect, SqlStore};
use crate::store::rows::MessageRow;
use crate::store::{ExportStore, OwnFile, StoreResult};

#[apply(driver_bounds!)]
#[async_trait]
impl<D: Dialect> ExportStore for SqlStore<D> {
    async fn entries_by(
        &self,
        user: UserId,
        conversation: ConversationId,
    ) -> StoreResult<Vec<Message>> {
        // The conversation's key, read along: a person's share of a stream.
        let rows: Vec<MessageRow> = sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = $1 AND sender_id = $2 ORDER BY seq"
        ))
        .bind(conversation)
        .bind(user)
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().map(Message::from).collect())
    }

    async fn conversations_written_in(&self, user: UserId) -> StoreResult<Vec<ConversationId>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT conversation_id FROM messages WHERE sender_id = $1 \
             ORDER BY conversation_id",
        )
        .bind(user)
        .fetch_all(&self.readers)
        .await?)
    }

    async fn files_of(&self, user: UserId) -> StoreResult<Vec<OwnFile>> {
        Ok(sqlx::query_as(
            "SELECT id, name, size, content_type, sha256, conversation_id, message_id, created_at \
             FROM uploads WHERE owner_id = $1 AND state = 'stored' ORDER BY created_at, id",
        )
        .bind(user)
        .fetch_all(&self.readers)
        .await?)
    }
}
