//! Composing: a new pending message and its outbox entry, written in one transaction
//! (by a plain send, and by a send with files after their uploads are recorded).

use ferry_proto::{ConversationId, MessageId, Timestamp, UserId};
use rusqlite::{Transaction, params};

use super::outbox::enqueue;
use super::read::{LocalMessage, MessageStatus, decorate};
use super::{LocalStore, StoreResult};

/// Writes a new pending message and its outbox entry inside `tx` (after its uploads, if
/// it has files).
pub(super) fn compose_in(
    tx: &Transaction<'_>,
    me: UserId,
    id: MessageId,
    conversation: ConversationId,
    body: &str,
    reply_to: Option<MessageId>,
    now: Timestamp,
) -> rusqlite::Result<LocalMessage> {
    let conv = conversation.to_string();
    tx.execute(
        "INSERT INTO messages (id, conversation_id, seq, sender_id, body, created_at, \
         composed, state, reply_to) VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?5, 'pending', ?6)",
        params![
            id.to_string(),
            conv,
            me.to_string(),
            body,
            now.as_millis(),
            reply_to.map(|r| r.to_string())
        ],
    )?;
    enqueue(tx, id, conversation)?;
    tx.execute(
        "UPDATE conversations SET updated_at = max(updated_at, ?2) WHERE id = ?1",
        params![conv, now.as_millis()],
    )?;
    tx.execute("DELETE FROM drafts WHERE conversation_id = ?1", [&conv])?;
    let mut message = LocalMessage {
        id,
        conversation_id: conversation,
        seq: None,
        sender_id: me,
        body: body.to_owned(),
        created_at: now,
        mine: true,
        status: MessageStatus::Pending,
        error: None,
        reply_to,
        quote: None,
        edited: false,
        deleted: false,
        removed_by_operator: false,
        unreadable: false,
        reactions: Vec::new(),
        attachments: Vec::new(),
    };
    decorate(tx, me, &mut message)?;
    Ok(message)
}

impl LocalStore {
    /// Writes a new pending message (replying to `reply_to`, if set) and its outbox entry
    /// in one transaction.
    pub fn compose(
        &self,
        me: UserId,
        id: MessageId,
        conversation: ConversationId,
        body: &str,
        reply_to: Option<MessageId>,
        now: Timestamp,
    ) -> StoreResult<LocalMessage> {
        self.write(|tx| compose_in(tx, me, id, conversation, body, reply_to, now))
    }
}
