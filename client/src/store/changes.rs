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

use std::collections::BTreeMap;

use ferry_proto::{Change, ChangeKind, Timestamp};
use rusqlite::{OptionalExtension, Row, Transaction, params};
use serde::Serialize;
use uuid::Uuid;

use super::messages::LocalMessage;
use super::{LocalStore, StoreResult};

/// The message a reply quotes, as it is now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Quote {
    /// The quoted message.
    pub id: Uuid,
    /// Its author.
    pub sender_id: Uuid,
    /// Its text now (empty once deleted).
    pub body: String,
    /// Its place, to jump to it (`None` while unsent).
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub seq: Option<i64>,
    /// Deleted for everyone.
    pub deleted: bool,
}

/// One emoji on a message and who put it there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Reaction {
    /// The emoji.
    pub emoji: String,
    /// Who reacted with it, in the order they did.
    pub user_ids: Vec<Uuid>,
    /// This user is among them.
    pub mine: bool,
}

/// Reads the change in columns `at` (kind), `at + 1` (target) and `at + 2` (emoji).
pub(super) fn change_at(r: &Row<'_>, at: usize) -> rusqlite::Result<Option<Change>> {
    let kind: Option<String> = r.get(at)?;
    let target: Option<String> = r.get(at + 1)?;
    Ok(
        match (kind.as_deref().and_then(ChangeKind::parse), target) {
            (Some(kind), Some(target)) => target.parse().ok().map(|target| Change {
                kind,
                target,
                emoji: r.get(at + 2).ok().flatten(),
            }),
            _ => None,
        },
    )
}

/// What a change stored at `seq` does to the message it names (idempotent, and
/// independent of the order changes arrive in; see the module header).
pub(super) fn apply_change(
    tx: &Transaction<'_>,
    sender: Uuid,
    change: &Change,
    body: &str,
    seq: i64,
    at: Timestamp,
) -> rusqlite::Result<()> {
    let target = change.target.to_string();
    match change.kind {
        ChangeKind::Edit => {
            tx.prepare_cached(
                "UPDATE messages SET body = ?2, edited_at = ?3, edit_seq = ?4 WHERE id = ?1 \
                 AND deleted_at IS NULL AND (edit_seq IS NULL OR edit_seq < ?4)",
            )?
            .execute(params![target, body, at.as_millis(), seq])?;
        }
        ChangeKind::Delete => {
            // The text goes from this device: the message's, its edits', and the search
            // index's (the update triggers take it out).
            tx.prepare_cached(
                "UPDATE messages SET body = '', attachments = NULL, \
                 deleted_at = COALESCE(deleted_at, ?2) WHERE id = ?1",
            )?
            .execute(params![target, at.as_millis()])?;
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

/// Fills in what other rows say about `message`: its quote, its reactions, and the
/// changes of this user still in the outbox, laid over what the server confirmed.
pub(super) fn decorate(
    tx: &Transaction<'_>,
    me: Uuid,
    message: &mut LocalMessage,
) -> rusqlite::Result<()> {
    let id = message.id.to_string();
    let mut reactions: BTreeMap<(i64, String), Vec<Uuid>> = BTreeMap::new();
    {
        let mut confirmed = tx.prepare_cached(
            "SELECT emoji, user_id, min(seq) OVER (PARTITION BY emoji) AS first \
             FROM reactions WHERE message_id = ?1 AND present = 1 ORDER BY first, seq",
        )?;
        let rows = confirmed.query_map([&id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?))
        })?;
        for row in rows {
            let (emoji, user, first) = row?;
            if let Ok(user) = user.parse() {
                reactions.entry((first, emoji)).or_default().push(user);
            }
        }
    }
    let mut pending = tx.prepare_cached(
        "SELECT change_kind, body, emoji FROM messages \
         WHERE target = ?1 AND seq IS NULL AND state = 'pending' ORDER BY composed",
    )?;
    let changes = pending.query_map([&id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
        ))
    })?;
    for change in changes {
        let (kind, body, emoji) = change?;
        match (ChangeKind::parse(&kind), emoji) {
            (Some(ChangeKind::Edit), _) => {
                message.body = body;
                message.edited = true;
            }
            (Some(ChangeKind::Delete), _) => message.deleted = true,
            (Some(ChangeKind::React), Some(emoji)) => {
                let key = reactions
                    .keys()
                    .find(|(_, e)| *e == emoji)
                    .cloned()
                    .unwrap_or((i64::MAX, emoji));
                let users = reactions.entry(key).or_default();
                if !users.contains(&me) {
                    users.push(me);
                }
            }
            (Some(ChangeKind::Unreact), Some(emoji)) => {
                if let Some(users) = reactions
                    .iter_mut()
                    .find(|((_, e), _)| *e == emoji)
                    .map(|(_, users)| users)
                {
                    users.retain(|u| *u != me);
                }
            }
            _ => {}
        }
    }
    super::files::attach(tx, message)?;
    if message.deleted {
        message.body.clear();
        message.reactions.clear();
        message.attachments.clear();
    } else {
        message.reactions = reactions
            .into_iter()
            .filter(|(_, users)| !users.is_empty())
            .map(|((_, emoji), user_ids)| Reaction {
                mine: user_ids.contains(&me),
                emoji,
                user_ids,
            })
            .collect();
    }
    if let Some(parent) = message.reply_to {
        message.quote = tx
            .prepare_cached(
                "SELECT sender_id, body, seq, deleted_at IS NOT NULL FROM messages \
                 WHERE id = ?1 AND change_kind IS NULL",
            )?
            .query_row([parent.to_string()], |r| {
                Ok(Quote {
                    id: parent,
                    sender_id: super::uuid_at(r, 0)?,
                    body: r.get(1)?,
                    seq: r.get(2)?,
                    deleted: r.get(3)?,
                })
            })
            .optional()?;
    }
    Ok(())
}

/// Removes a message that was never sent, and the unsent changes that named it.
pub(super) fn discard_unsent(tx: &Transaction<'_>, id: Uuid) -> rusqlite::Result<bool> {
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
    conversation: Uuid,
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
    /// the outbox takes it (and its unsent changes) out, and queues the deletion only in
    /// case it went out before: the server then deletes it, or answers that it never
    /// had it. An edit of a message no transport was handed yet replaces its text: it
    /// goes out as edited, once, and nobody sees "(edited)". Returns the message's conversation and the message as it now shows (`None`
    /// when it is gone).
    pub fn compose_change(
        &self,
        me: Uuid,
        id: Uuid,
        change: &Change,
        body: &str,
        now: Timestamp,
    ) -> StoreResult<Result<(Uuid, Option<LocalMessage>), ChangeRefusal>> {
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
                            conversation: super::uuid_at(r, 0)?,
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
            if change.kind == ChangeKind::Delete && seq.is_none() {
                discard_unsent(tx, change.target)?;
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
            tx.execute(
                "INSERT INTO outbox (message_id, conversation_id, position) \
                 VALUES (?1, ?2, (SELECT COALESCE(max(position), 0) + 1 FROM outbox))",
                params![id.to_string(), conversation.to_string()],
            )?;
            Ok(Ok(conversation))
        })?;
        match stored {
            Err(refusal) => Ok(Err(refusal)),
            Ok(conversation) => Ok(Ok((conversation, self.message(me, change.target)?))),
        }
    }

    /// Whether `me` has `emoji` on the message now, counting unsent changes: what a
    /// toggle turns around.
    pub fn has_reacted(&self, me: Uuid, message: Uuid, emoji: &str) -> StoreResult<bool> {
        Ok(self
            .message(me, message)?
            .is_some_and(|m| m.reactions.iter().any(|r| r.emoji == emoji && r.mine)))
    }
}
