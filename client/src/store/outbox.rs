//! The outbox as the local store keeps it: what waits to be sent, in order
//! ([`OutboxItem`]), claimed for a send, rescheduled after a failure with its attempts
//! counted, failed for good, retried or discarded by the user. Every write of an outbox
//! row is here: [`enqueue`] (for `compose` and `changes`) and [`dequeue`] (for
//! `messages`, when the server stores one) too. (What to send when is decided by the pure
//! `crate::outbox`; the composing is `compose`'s.)

use ferry_proto::{Change, ConversationId, MessageId, OutgoingMessage, UploadId};
use rusqlite::{OptionalExtension, Transaction, params};

use super::changed::Changes;
use super::read::change_at;
use super::{LocalStore, StoreResult, id_at};

/// What failing an outbox entry did.
#[derive(Debug)]
pub enum Failed {
    /// It was a change, and is dropped: `target`, the message it named, shows as it was.
    ChangeDropped {
        /// The message the change named.
        target: MessageId,
    },
    /// What shows differently (the message, failed; or, for a change already stored,
    /// the message it changed).
    Shown(Changes),
}

/// What [`LocalStore::discard`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Discard {
    /// A failed message: it is gone.
    Dropped,
    /// A pending one, left for the caller to delete.
    Pending,
    /// No such message unsent.
    NotUnsent,
}

/// An outbox entry due to be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxItem {
    /// The message.
    pub message_id: MessageId,
    /// Where to.
    pub conversation_id: ConversationId,
    /// The text.
    pub body: String,
    /// The message it replies to.
    pub reply_to: Option<MessageId>,
    /// Set when the entry is a change to a message rather than a message.
    pub change: Option<Change>,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not before this time (Unix ms).
    pub next_attempt_at: i64,
    /// Place in compose order (for reading the outbox a page at a time).
    pub position: i64,
    /// The server's ids of its files, in order, once uploaded.
    pub attachments: Vec<UploadId>,
    /// Some of its files are still uploading: it cannot go out yet, nor anything after
    /// it in its conversation.
    pub waiting: bool,
    /// It was handed to a transport before (the server may have it): its text is fixed.
    pub offered: bool,
}

impl OutboxItem {
    /// The entry as it goes out, on the socket or over REST.
    pub fn outgoing(&self) -> OutgoingMessage {
        OutgoingMessage {
            id: self.message_id,
            conversation_id: self.conversation_id,
            body: self.body.clone(),
            reply_to: self.reply_to,
            change: self.change.clone(),
            attachments: self.attachments.clone(),
            // This client does not seal yet (issue 31).
            sealed: None,
        }
    }
}

/// Puts `id`, a new message or change of `conversation`, last in the outbox (inside the
/// transaction that writes it).
pub(super) fn enqueue(
    tx: &Transaction<'_>,
    id: MessageId,
    conversation: ConversationId,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO outbox (message_id, conversation_id, position) \
         VALUES (?1, ?2, (SELECT COALESCE(max(position), 0) + 1 FROM outbox))",
    )?
    .execute(params![id.to_string(), conversation.to_string()])?;
    Ok(())
}

/// `id` waits no more: the server stored it, or refused it for good.
pub(super) fn dequeue(tx: &Transaction<'_>, id: MessageId) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM outbox WHERE message_id = ?1")?
        .execute([id.to_string()])?;
    Ok(())
}

/// Puts `id`, a deletion of a message given up, at `position`: the place in the outbox
/// of that message, so that it goes before whatever was composed after the message (a
/// server that fenced the conversation on the message lifts the fence for its deletion;
/// docs/protocol.md, "Send fence").
pub(super) fn enqueue_at(
    tx: &Transaction<'_>,
    id: MessageId,
    conversation: ConversationId,
    position: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO outbox (message_id, conversation_id, position) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![id.to_string(), conversation.to_string(), position])?;
    Ok(())
}

/// The place in the outbox of `id`, if a transport was ever handed it: the server may
/// have it then, or have fenced its conversation on it.
pub(super) fn offered_place(tx: &Transaction<'_>, id: MessageId) -> rusqlite::Result<Option<i64>> {
    tx.query_row(
        "SELECT position FROM outbox WHERE message_id = ?1 AND offered = 1",
        [id.to_string()],
        |r| r.get(0),
    )
    .optional()
}

/// Removes a message that was never sent, and the unsent changes that named it (their
/// outbox rows go with them).
pub(super) fn discard_unsent(tx: &Transaction<'_>, id: MessageId) -> rusqlite::Result<bool> {
    let id = id.to_string();
    let n = tx.execute("DELETE FROM messages WHERE id = ?1 AND seq IS NULL", [&id])?;
    if n == 1 {
        tx.execute(
            "DELETE FROM messages WHERE target = ?1 AND seq IS NULL",
            [&id],
        )?;
    }
    Ok(n == 1)
}

impl LocalStore {
    /// A permanent refusal: the message leaves the outbox and shows as failed. A refused
    /// change is dropped instead (the message it named shows as it was).
    pub fn fail(&self, id: MessageId, reason: &str) -> StoreResult<Failed> {
        self.write(|tx| {
            let row: Option<(Option<i64>, Option<String>)> = tx
                .query_row(
                    "SELECT seq, target FROM messages WHERE id = ?1",
                    [id.to_string()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let (unsent, target) = match &row {
                Some((seq, target)) => (seq.is_none(), target.as_deref()),
                None => (false, None),
            };
            let target = target.and_then(|t| t.parse().ok());
            if let (true, Some(target)) = (unsent, target) {
                tx.execute("DELETE FROM messages WHERE id = ?1", [id.to_string()])?;
                return Ok(Failed::ChangeDropped { target });
            }
            tx.execute(
                "UPDATE messages SET state = 'failed', error = ?2 WHERE id = ?1 AND seq IS NULL",
                params![id.to_string(), reason],
            )?;
            dequeue(tx, id)?;
            let mut changes = Changes::default();
            changes.note(id, target);
            Ok(Failed::Shown(changes))
        })
    }

    /// Puts a failed message back in the outbox (at the end: it is sent again now).
    pub fn retry(&self, id: MessageId) -> StoreResult<bool> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE messages SET state = 'pending', error = NULL WHERE id = ?1 AND state = 'failed'",
                [id.to_string()],
            )?;
            if n == 1 {
                // Offered: it went out before (a refusal may even mean the server has the
                // id), so an edit of it from here goes as an edit.
                tx.execute(
                    "INSERT INTO outbox (message_id, conversation_id, position, offered) \
                     SELECT id, conversation_id, \
                     (SELECT COALESCE(max(position), 0) + 1 FROM outbox), 1 \
                     FROM messages WHERE id = ?1",
                    [id.to_string()],
                )?;
                // Its files are asked about again: the server may have let an upload go
                // (unsent too long); the uploader then sends it again.
                tx.execute(
                    "UPDATE uploads SET attachment = NULL WHERE message_id = ?1",
                    [id.to_string()],
                )?;
            }
            Ok(n == 1)
        })
    }

    /// Deletes a failed message, with the unsent changes that named it. A pending one is
    /// left as it is (it may be on its way: it is given up by deleting it, which
    /// [`compose_change`](Self::compose_change) does); so is a sent one.
    pub fn discard(&self, id: MessageId) -> StoreResult<Discard> {
        self.write(|tx| {
            let state: Option<String> = tx
                .query_row(
                    "SELECT state FROM messages WHERE id = ?1 AND seq IS NULL",
                    [id.to_string()],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(match state.as_deref() {
                Some("failed") => {
                    discard_unsent(tx, id)?;
                    Discard::Dropped
                }
                Some(_) => Discard::Pending,
                None => Discard::NotUnsent,
            })
        })
    }

    /// Schedules the next attempt of an outbox entry after a transient failure.
    pub fn reschedule(&self, id: MessageId, not_before: i64) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2 WHERE message_id = ?1",
                params![id.to_string(), not_before],
            )
            .map(drop)
        })
    }

    /// Failed attempts of an outbox entry so far.
    pub fn attempts(&self, id: MessageId) -> StoreResult<u32> {
        self.read(|tx| {
            tx.query_row(
                "SELECT attempts FROM outbox WHERE message_id = ?1",
                [id.to_string()],
                |r| r.get(0),
            )
            .optional()
            .map(Option::unwrap_or_default)
        })
    }

    /// Makes every outbox entry due now (the connection came back).
    pub fn reset_outbox_schedule(&self) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute("UPDATE outbox SET next_attempt_at = 0", [])
                .map(drop)
        })
    }

    /// The whole outbox, in compose order.
    pub fn outbox(&self) -> StoreResult<Vec<OutboxItem>> {
        self.outbox_page(i64::MIN, i64::MAX)
    }

    /// Up to `limit` outbox entries after compose position `after`, in compose order: the
    /// engine reads only as far as its send window reaches, not the whole queue each time.
    pub fn outbox_page(&self, after: i64, limit: i64) -> StoreResult<Vec<OutboxItem>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT o.message_id, o.conversation_id, m.body, o.attempts, o.next_attempt_at, \
                 o.position, m.reply_to, m.change_kind, m.target, m.emoji, \
                 (SELECT json_group_array(upload_id) FROM \
                  (SELECT upload_id FROM uploads WHERE message_id = o.message_id ORDER BY idx)), \
                 EXISTS (SELECT 1 FROM uploads u WHERE u.message_id = o.message_id \
                  AND u.attachment IS NULL), o.offered \
                 FROM outbox o JOIN messages m ON m.id = o.message_id \
                 WHERE o.position > ?1 ORDER BY o.position LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![after, limit], |r| {
                Ok(OutboxItem {
                    message_id: id_at(r, 0)?,
                    conversation_id: id_at(r, 1)?,
                    body: r.get(2)?,
                    reply_to: r
                        .get::<_, Option<String>>(6)?
                        .and_then(|id| id.parse().ok()),
                    change: change_at(r, 7)?,
                    attempts: r.get(3)?,
                    next_attempt_at: r.get(4)?,
                    position: r.get(5)?,
                    attachments: serde_json::from_str::<Vec<Option<UploadId>>>(
                        &r.get::<_, String>(10)?,
                    )
                    .unwrap_or_default()
                    .into_iter()
                    .flatten()
                    .collect(),
                    waiting: r.get(11)?,
                    offered: r.get(12)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Marks `items` (entries a transport is about to send) as offered, and brings the text
    /// of those that were not up to date: until this write an edit may still have
    /// replaced it, after it none can (the edit goes out as an edit). One transaction,
    /// and none when every item was offered before.
    pub fn claim_for_sending(&self, items: &mut [OutboxItem]) -> StoreResult<()> {
        if items.iter().all(|item| item.offered) {
            return Ok(());
        }
        let bodies = self.write(|tx| {
            let mut bodies = Vec::new();
            for item in items.iter().filter(|item| !item.offered) {
                let id = item.message_id.to_string();
                tx.prepare_cached("UPDATE outbox SET offered = 1 WHERE message_id = ?1")?
                    .execute([&id])?;
                let body: Option<String> = tx
                    .prepare_cached("SELECT body FROM messages WHERE id = ?1")?
                    .query_row([&id], |r| r.get(0))
                    .optional()?;
                bodies.push((item.message_id, body));
            }
            Ok(bodies)
        })?;
        for (id, body) in bodies {
            if let Some(item) = items.iter_mut().find(|item| item.message_id == id) {
                item.offered = true;
                // Gone meanwhile (discarded): it goes as read; the deletion queued with the
                // discard follows it, in case.
                if let Some(body) = body {
                    item.body = body;
                }
            }
        }
        Ok(())
    }

    /// How many messages wait to go out.
    pub fn outbox_len(&self) -> StoreResult<usize> {
        self.read(|tx| tx.query_row("SELECT count(*) FROM outbox", [], |r| r.get::<_, i64>(0)))
            .map(|n| n as usize)
    }
}
