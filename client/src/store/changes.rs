//! Edits, deletions and reactions on this device. A change is a row of `messages` with a
//! `change_kind` and a `target`: it is composed into the outbox like a message and gets
//! its seq in the stream the same way, so catch-up and gap filling bring the changes of
//! others as they bring messages.
//!
//! What a change does is applied once it has its seq ([`apply_change`], from the stream
//! or from our own ack), and each part resolves by that seq alone, so devices that apply
//! the same changes in any order agree: the text of the newest edit wins (`edit_seq`), a
//! deletion is final and clears the text of the message and of its edits, and each
//! (message, user, emoji) reaction is a register whose newest change wins. A change still
//! in the outbox is laid over that state when a message is read ([`decorate`]): it shows
//! at once, and vanishes by itself if the server refuses it.

use ferry_proto::{Change, ChangeKind, ConversationId, MessageId, Timestamp, UserId};
use rusqlite::{OptionalExtension, Transaction, params};

use super::outbox::{discard_unsent, enqueue, enqueue_at, offered_place};
use super::read::LocalMessage;
use super::{LocalStore, StoreResult};

/// What a change stored at `seq` does to the message it names (idempotent, and
/// independent of the order changes arrive in; see the module header). `by_operator`:
/// a deletion an operator made, which the message shows as such.
pub(super) fn apply_change(
    tx: &Transaction<'_>,
    sender: UserId,
    change: &Change,
    body: &str,
    seq: i64,
    at: Timestamp,
    by_operator: bool,
) -> rusqlite::Result<()> {
    let target = change.target.to_string();
    match change.kind {
        // Only the author edits: the server checks it, and so does this device, since an
        // end-to-end encrypted edit's author is checked here (its MLS signature) and the
        // server could otherwise move one member's edit onto another's message.
        ChangeKind::Edit => {
            tx.prepare_cached(
                "UPDATE messages SET body = ?2, edited_at = ?3, edit_seq = ?4 WHERE id = ?1 \
                 AND sender_id = ?5 AND deleted_at IS NULL \
                 AND (edit_seq IS NULL OR edit_seq < ?4)",
            )?
            .execute(params![
                target,
                body,
                at.as_millis(),
                seq,
                sender.to_string()
            ])?;
        }
        ChangeKind::Delete => {
            // The text goes from this device: the message's, its edits', and the search
            // index's (the update triggers take it out).
            tx.prepare_cached(
                "UPDATE messages SET body = '', attachments = NULL, \
                 deleted_at = COALESCE(deleted_at, ?2), \
                 removed_by_operator = (removed_by_operator OR ?3) WHERE id = ?1",
            )?
            .execute(params![target, at.as_millis(), by_operator])?;
            tx.prepare_cached(
                "UPDATE messages SET body = '' WHERE target = ?1 AND change_kind = 'edit'",
            )?
            .execute([&target])?;
            tx.prepare_cached("DELETE FROM reactions WHERE message_id = ?1")?
                .execute([&target])?;
        }
        ChangeKind::React | ChangeKind::Unreact => {
            let deleted: bool = tx
                .prepare_cached(
                    "SELECT count(*) > 0 FROM messages WHERE id = ?1 AND deleted_at IS NOT NULL",
                )?
                .query_row([&target], |r| r.get(0))?;
            if !deleted {
                tx.prepare_cached(
                    "INSERT INTO reactions (message_id, user_id, emoji, seq, present) \
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (message_id, user_id, emoji) \
                     DO UPDATE SET seq = excluded.seq, present = excluded.present \
                     WHERE excluded.seq > reactions.seq",
                )?
                .execute(params![
                    target,
                    sender.to_string(),
                    change.emoji.as_deref().unwrap_or_default(),
                    seq,
                    change.kind == ChangeKind::React
                ])?;
            }
        }
    }
    Ok(())
}

/// A message stored after edits of it that this device read (their entries came first,
/// or its text was sealed and the server's `edit_seq` was set aside): the newest of them
/// applies now, as it would have had the message been here.
pub(super) fn apply_stored_edit(tx: &Transaction<'_>, message: MessageId) -> rusqlite::Result<()> {
    let id = message.to_string();
    let newest: Option<(String, i64, i64)> = tx
        .prepare_cached(
            "SELECT body, seq, created_at FROM messages WHERE target = ?1 \
             AND change_kind = 'edit' AND seq IS NOT NULL AND unreadable = 0 \
             AND sender_id = (SELECT sender_id FROM messages WHERE id = ?1) \
             ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    if let Some((body, seq, at)) = newest {
        tx.prepare_cached(
            "UPDATE messages SET body = ?2, edited_at = ?3, edit_seq = ?4 WHERE id = ?1 \
             AND deleted_at IS NULL AND (edit_seq IS NULL OR edit_seq < ?4)",
        )?
        .execute(params![id, body, at, seq])?;
    }
    Ok(())
}

/// Why a change cannot be made on this device (the server checks again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeRefusal {
    /// No such message here (or it is itself a change).
    NoSuchMessage,
    /// Only the author edits; only the author or a group's owner deletes.
    NotAllowed,
    /// The message was deleted.
    Deleted,
}

/// What a change checks about the message it names, read in its transaction.
struct Target {
    conversation: ConversationId,
    sender: String,
    seq: Option<i64>,
    state: String,
    /// Deleted, or a deletion of it waits in the outbox.
    deleted: bool,
    /// Waiting in the outbox, never handed to a transport: the server cannot have it.
    unoffered: bool,
    /// `kind:role` of the conversation and this user in it, e.g. `group:owner`.
    place: Option<String>,
}

impl LocalStore {
    /// Stores a change of `me` to a message and queues it, in one transaction, after
    /// checking what this device can know of the rules. A deletion of a message still in
    /// the outbox takes it (and its unsent changes) out, and is queued only if a
    /// transport was handed the message before, in the message's place: the server then
    /// deletes it, or answers that it never had it (and lifts a send fence it put on
    /// it). An edit of a message no transport was handed yet replaces its text: it
    /// goes out as edited, once, and nobody sees "(edited)". Returns the message's
    /// conversation and the message as it now shows (`None` when it is gone).
    pub fn compose_change(
        &self,
        me: UserId,
        id: MessageId,
        change: &Change,
        body: &str,
        now: Timestamp,
    ) -> StoreResult<Result<(ConversationId, Option<LocalMessage>), ChangeRefusal>> {
        let stored = self.write(|tx| {
            let target = change.target.to_string();
            let row: Option<Target> = tx
                .query_row(
                    "SELECT m.conversation_id, m.sender_id, m.seq, m.state, \
                     m.deleted_at IS NOT NULL OR EXISTS (SELECT 1 FROM messages d \
                       WHERE d.target = m.id AND d.change_kind = 'delete' AND d.state = 'pending'), \
                     (SELECT c.kind || ':' || r.role FROM conversations c JOIN members r \
                       ON r.conversation_id = c.id AND r.user_id = ?2 WHERE c.id = m.conversation_id), \
                     EXISTS (SELECT 1 FROM outbox o WHERE o.message_id = m.id AND o.offered = 0) \
                     FROM messages m WHERE m.id = ?1 AND m.change_kind IS NULL",
                    params![target, me.to_string()],
                    |r| {
                        Ok(Target {
                            conversation: super::id_at(r, 0)?,
                            sender: r.get(1)?,
                            seq: r.get(2)?,
                            state: r.get(3)?,
                            deleted: r.get(4)?,
                            place: r.get(5)?,
                            unoffered: r.get(6)?,
                        })
                    },
                )
                .optional()?;
            let Some(Target {
                conversation,
                sender,
                seq,
                state,
                deleted,
                place,
                unoffered,
            }) = row
            else {
                return Ok(Err(ChangeRefusal::NoSuchMessage));
            };
            let author = sender == me.to_string();
            let refusal = match change.kind {
                ChangeKind::Edit if !author => Some(ChangeRefusal::NotAllowed),
                ChangeKind::Delete if !author && place.as_deref() != Some("group:owner") => {
                    Some(ChangeRefusal::NotAllowed)
                }
                _ if deleted => Some(ChangeRefusal::Deleted),
                // A failed message was never stored: only discarding it makes sense.
                _ if state == "failed" => Some(ChangeRefusal::NoSuchMessage),
                _ => None,
            };
            if let Some(refusal) = refusal {
                return Ok(Err(refusal));
            }
            // Where the deletion of an unsent message goes: nowhere if no transport had
            // it, else in its place.
            let mut place = None;
            if change.kind == ChangeKind::Delete && seq.is_none() {
                place = offered_place(tx, change.target)?;
                discard_unsent(tx, change.target)?;
                if place.is_none() {
                    return Ok(Ok(conversation));
                }
            }
            if change.kind == ChangeKind::Edit && unoffered {
                // Nobody has it yet: it goes out with the new text, as written that way.
                tx.execute(
                    "UPDATE messages SET body = ?2 WHERE id = ?1",
                    params![target, body],
                )?;
                return Ok(Ok(conversation));
            }
            tx.execute(
                "INSERT INTO messages (id, conversation_id, seq, sender_id, body, created_at, \
                 composed, state, change_kind, target, emoji) \
                 VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?5, 'pending', ?6, ?7, ?8)",
                params![
                    id.to_string(),
                    conversation.to_string(),
                    me.to_string(),
                    body,
                    now.as_millis(),
                    change.kind.as_str(),
                    target,
                    change.emoji
                ],
            )?;
            match place {
                Some(position) => enqueue_at(tx, id, conversation, position)?,
                None => enqueue(tx, id, conversation)?,
            }
            Ok(Ok(conversation))
        })?;
        match stored {
            Err(refusal) => Ok(Err(refusal)),
            Ok(conversation) => Ok(Ok((conversation, self.message(me, change.target)?))),
        }
    }

    /// Whether `me` has `emoji` on the message now, counting unsent changes: what a
    /// toggle turns around.
    pub fn has_reacted(&self, me: UserId, message: MessageId, emoji: &str) -> StoreResult<bool> {
        Ok(self
            .message(me, message)?
            .is_some_and(|m| m.reactions.iter().any(|r| r.emoji == emoji && r.mine)))
    }
}

#[cfg(test)]
mod tests {
    use ferry_proto::Message;
    use serde_json::json;
    use uuid::Uuid;

    use super::*;
    use crate::store::DatabaseKey;

    const ALICE: UserId = UserId(Uuid::from_u128(2));
    const BOB: UserId = UserId(Uuid::from_u128(3));
    const BOBS: MessageId = MessageId(Uuid::from_u128(10));

    /// Entry `seq` of one chat, by `sender`, with a change if given.
    fn entry(
        id: u128,
        seq: i64,
        sender: UserId,
        body: &str,
        change: Option<serde_json::Value>,
    ) -> Message {
        let mut m = json!({
            "id": MessageId(Uuid::from_u128(id)), "conversation_id": ConversationId(Uuid::from_u128(1)),
            "seq": seq, "sender_id": sender, "body": body,
            "created_at": Timestamp::from_millis(1_000 * seq),
        });
        if let Some(change) = change {
            m["change"] = change;
        }
        serde_json::from_value(m).expect("a message")
    }

    #[test]
    fn an_edit_changes_only_its_authors_message() {
        // Whichever comes first: the edit applies as it comes, or as the message does.
        for edit_first in [false, true] {
            let dir = tempfile::tempdir().expect("dir");
            let store = LocalStore::open(&dir.path().join("s.db"), &DatabaseKey::new([7; 32]))
                .expect("store");
            let message = entry(10, 1, BOB, "bob's words", None);
            let edit = json!({"kind": "edit", "target": BOBS});
            let edit = entry(11, 2, ALICE, "alice's words", Some(edit));
            let batches = if edit_first {
                [edit, message]
            } else {
                [message, edit]
            };
            for batch in batches {
                let _ = store.apply_messages(&[batch]).expect("apply");
            }
            let shown = store.message(BOB, BOBS).expect("read").expect("held");
            assert_eq!(
                (shown.body.as_str(), shown.edited),
                ("bob's words", false),
                "edit first: {edit_first}"
            );
        }
    }
}
