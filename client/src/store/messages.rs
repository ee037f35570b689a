//! Messages as the device stores them. A new message is `compose`'s (the
//! pending row and its outbox entry, one transaction); an `ack` (or the message arriving
//! from the server) makes it `sent` and removes its outbox entry; received messages are
//! applied idempotently by id, their changes applied once they have a seq. Reading goes
//! through the read model (`read`).

use std::collections::HashMap;

use ferry_proto::{Change, ConversationId, Message, MessageId, Timestamp, UserId};
use rusqlite::{OptionalExtension, Transaction, params};

use super::changed::Changes;
use super::changes::{apply_change, apply_stored_edit};
use super::files::adopt_uploads;
use super::outbox::dequeue;
use super::read::{LocalMessage, change_at, decorate, members, message_columns, message_from_row};
use super::{LocalStore, StoreResult};

/// The server's answer that it stored an outbox message (an `ack`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Confirmation {
    /// The message.
    pub id: MessageId,
    /// Its conversation.
    pub conversation_id: ConversationId,
    /// Where the server put it.
    pub seq: i64,
    /// The server's time for it.
    pub created_at: Timestamp,
}

/// What applying a received message did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Applied {
    /// New to this device.
    Added,
    /// It was ours and pending (or failed): now sent.
    Confirmed,
    /// Already stored.
    Known,
}

/// Applies one message from the server inside `tx`. What a new message changes in its
/// conversation (last seq, activity, contiguous seq, the sender's watermarks) is noted in
/// `effects` and written once per conversation by [`Effects::write`], not per message.
fn apply_message(
    tx: &Transaction<'_>,
    m: &Message,
    effects: &mut Effects,
) -> rusqlite::Result<Applied> {
    let id = m.id.to_string();
    let existing: Option<Option<i64>> = tx
        .prepare_cached("SELECT seq FROM messages WHERE id = ?1")?
        .query_row([&id], |r| r.get(0))
        .optional()?;
    match existing {
        Some(Some(_)) => Ok(Applied::Known),
        Some(None) => {
            // What shows differently is known from the message itself.
            let _ = mark_sent(tx, m.id, m.conversation_id, m.seq, m.created_at)?;
            Ok(Applied::Confirmed)
        }
        None => {
            let change = m.change.as_ref();
            tx.prepare_cached(
                "INSERT INTO messages (id, conversation_id, seq, sender_id, body, created_at, \
                 composed, state, reply_to, change_kind, target, emoji, edited_at, edit_seq, \
                 deleted_at, attachments, removed_by_operator, unreadable) VALUES (?1, ?2, ?3, ?4, \
                 ?5, ?6, ?6, 'sent', ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?
            .execute(params![
                id,
                m.conversation_id.to_string(),
                m.seq,
                m.sender_id.to_string(),
                m.body,
                m.created_at.as_millis(),
                m.reply_to.map(|r| r.to_string()),
                change.map(|c| c.kind.as_str()),
                change.map(|c| c.target.to_string()),
                change.and_then(|c| c.emoji.as_deref()),
                m.edited_at.map(Timestamp::as_millis),
                m.edit_seq,
                m.deleted_at.map(Timestamp::as_millis),
                (!m.attachments.is_empty()).then(|| {
                    serde_json::to_string(&m.attachments).expect("attachments serialize")
                }),
                m.removed_by_operator,
                // Still sealed here: `e2e` could not open it.
                m.sealed.is_some(),
            ])?;
            if m.sealed.is_some() {
                // A history from another of this user's devices may have said what it is.
                super::transfer::fill_from_kept(tx, m.id)?;
            }
            if change.is_none() && m.edit_seq.is_none() {
                // Its edits may be here already (a page fetched newest first).
                apply_stored_edit(tx, m.id)?;
            }
            // A change this device cannot read changes nothing it shows (unless filled in
            // just now, which applied it).
            if let Some(change) = change.filter(|_| m.sealed.is_none()) {
                apply_change(
                    tx,
                    m.sender_id,
                    change,
                    &m.body,
                    m.seq,
                    m.created_at,
                    m.removed_by_operator,
                )?;
            }
            effects.note(m);
            Ok(Applied::Added)
        }
    }
}

/// What applied messages change in their conversations, gathered over a batch.
#[derive(Default)]
struct Effects {
    /// Per conversation: the highest seq and the latest time.
    heads: HashMap<ConversationId, (i64, Timestamp)>,
    /// Per conversation and sender: the highest seq they sent.
    senders: HashMap<(ConversationId, UserId), i64>,
    /// Per conversation: the highest seq of a message (not a change).
    written: HashMap<ConversationId, i64>,
}

impl Effects {
    fn note(&mut self, m: &Message) {
        // A change moves the conversation's seq but not its activity: a reaction does not
        // bring a conversation to the top of the list.
        let at = if m.is_message() {
            m.created_at
        } else {
            Timestamp::from_millis(0)
        };
        let head = self.heads.entry(m.conversation_id).or_insert((m.seq, at));
        *head = (head.0.max(m.seq), head.1.max(at));
        if m.is_message() {
            let written = self.written.entry(m.conversation_id).or_insert(m.seq);
            *written = (*written).max(m.seq);
        }
        // An operator's removal is named as from the author, but it is not theirs: it
        // says nothing of what they read (the server does not move their mark either).
        if !m.removed_by_operator {
            let sent = self
                .senders
                .entry((m.conversation_id, m.sender_id))
                .or_insert(m.seq);
            *sent = (*sent).max(m.seq);
        }
    }

    fn write(self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        for (conversation, (seq, at)) in self.heads {
            let written = self.written.get(&conversation).copied().unwrap_or(0);
            super::conversations::keep_dismissed_past_changes(tx, conversation, written, seq)?;
            bump(tx, conversation, seq, Some(at))?;
        }
        for ((conversation, sender), seq) in self.senders {
            sender_has_read(tx, conversation, sender, seq)?;
        }
        Ok(())
    }
}

/// A message of ours was stored at `seq`: it leaves the outbox and shows as sent. A change
/// of ours takes effect now, in its place in the stream. Returns what shows differently:
/// the message, or for a change the message it changed.
fn mark_sent(
    tx: &Transaction<'_>,
    id: MessageId,
    conversation: ConversationId,
    seq: i64,
    created_at: Timestamp,
) -> rusqlite::Result<Changes> {
    let message = id;
    let id = id.to_string();
    let changed = tx
        .prepare_cached(
            "UPDATE messages SET seq = ?2, created_at = ?3, state = 'sent', error = NULL \
             WHERE id = ?1 AND seq IS NULL",
        )?
        .execute(params![id, seq, created_at.as_millis()])?;
    dequeue(tx, message)?;
    let row: Option<(String, Option<Change>, String)> = tx
        .prepare_cached(
            "SELECT sender_id, change_kind, target, emoji, body FROM messages WHERE id = ?1",
        )?
        .query_row([&id], |r| Ok((r.get(0)?, change_at(r, 1)?, r.get(4)?)))
        .optional()?;
    if changed == 1 {
        adopt_uploads(tx, message, created_at)?;
    }
    let mut changes = Changes::default();
    let Some((sender, change, body)) = row else {
        changes.note(message, None);
        bump(tx, conversation, seq, Some(created_at))?;
        return Ok(changes);
    };
    changes.note(message, change.as_ref().map(|c| c.target));
    let activity = change.is_none().then_some(created_at);
    bump(tx, conversation, seq, activity)?;
    let Ok(sender) = sender.parse::<UserId>() else {
        return Ok(changes);
    };
    if let Some(change) = change.filter(|_| changed == 1) {
        // This device's own change: never an operator's.
        apply_change(tx, sender, &change, &body, seq, created_at, false)?;
    }
    sender_has_read(tx, conversation, sender, seq)?;
    Ok(changes)
}

/// Sending moves the sender's own watermarks to the message (the protocol says so, and the
/// server sends no receipt for it): the ticks of what they were sent follow.
fn sender_has_read(
    tx: &Transaction<'_>,
    conversation: ConversationId,
    sender: UserId,
    seq: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE members SET read_seq = max(read_seq, ?3), delivered_seq = max(delivered_seq, ?3) \
         WHERE conversation_id = ?1 AND user_id = ?2",
    )?
    .execute(params![conversation, sender, seq])?;
    Ok(())
}

/// A conversation's last seq and activity (`at`, unless a change) move forward with a
/// stored message, and so does its contiguous watermark when the message closes the gap
/// above it.
fn bump(
    tx: &Transaction<'_>,
    conversation: ConversationId,
    seq: i64,
    at: Option<Timestamp>,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE conversations SET last_seq = max(last_seq, ?2), updated_at = max(updated_at, ?3) \
         WHERE id = ?1",
    )?
    .execute(params![
        conversation.to_string(),
        seq,
        at.map_or(0, Timestamp::as_millis)
    ])?;
    super::conversations::advance_contiguous(tx, conversation)
}

impl LocalStore {
    /// Applies messages from the server in one transaction. A message already stored
    /// changes nothing (and is not in the answer). The conversations are left to the
    /// caller to announce: a page of history changes its conversation once, after it.
    pub fn apply_messages(&self, messages: &[Message]) -> StoreResult<Changes> {
        self.write(|tx| {
            let mut effects = Effects::default();
            let mut changes = Changes::default();
            for m in messages {
                if apply_message(tx, m, &mut effects)? != Applied::Known {
                    changes.stored.push(m.id);
                    changes.note(m.id, m.change.as_ref().map(|c| c.target));
                }
            }
            effects.write(tx)?;
            Ok(changes)
        })
    }

    /// An outbox message was stored by the server at `seq` (its `ack`).
    pub fn confirm(
        &self,
        id: MessageId,
        conversation: ConversationId,
        seq: i64,
        created_at: Timestamp,
    ) -> StoreResult<Changes> {
        self.write(|tx| mark_sent(tx, id, conversation, seq, created_at))
    }

    /// Several acks at once, in one transaction: acks arrive in bursts when the outbox
    /// drains, and one fsync per ack would make the client, not the link, the limit.
    pub fn confirm_all(&self, acks: &[Confirmation]) -> StoreResult<Changes> {
        self.write(|tx| {
            let mut changes = Changes::default();
            for a in acks {
                changes.extend(mark_sent(tx, a.id, a.conversation_id, a.seq, a.created_at)?);
            }
            Ok(changes)
        })
    }

    /// One message; for a change, the message it changes (as it now shows). `None` if
    /// this device does not have it.
    pub fn message(&self, me: UserId, id: MessageId) -> StoreResult<Option<LocalMessage>> {
        self.read(|tx| {
            let found: Option<(String, String)> = tx
                .query_row(
                    "SELECT COALESCE(target, id), conversation_id FROM messages WHERE id = ?1",
                    [id.to_string()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((id, conversation)) = found else {
                return Ok(None);
            };
            let members = members(tx, &conversation)?;
            let message = tx
                .query_row(
                    concat!(
                        "SELECT ",
                        message_columns!(),
                        " FROM messages WHERE id = ?1 AND change_kind IS NULL"
                    ),
                    [&id],
                    |r| message_from_row(r, me, &members),
                )
                .optional()?;
            let Some(mut message) = message else {
                return Ok(None);
            };
            decorate(tx, me, &mut message)?;
            Ok(Some(message))
        })
    }

    /// The message at `seq` of a conversation, or (with `None`) this user's newest one that
    /// is not deleted, sent or not: what "edit my last message" means.
    pub fn message_at(
        &self,
        me: UserId,
        conversation: ConversationId,
        seq: Option<i64>,
    ) -> StoreResult<Option<LocalMessage>> {
        let id: Option<String> = self.read(|tx| {
            let key = conversation.to_string();
            match seq {
                Some(seq) => tx.query_row(
                    "SELECT id FROM messages WHERE conversation_id = ?1 AND seq = ?2 \
                     AND change_kind IS NULL",
                    params![key, seq],
                    |r| r.get(0),
                ),
                None => tx.query_row(
                    "SELECT id FROM messages WHERE conversation_id = ?1 AND sender_id = ?2 \
                     AND change_kind IS NULL AND deleted_at IS NULL AND state != 'failed' \
                     ORDER BY seq IS NULL DESC, seq DESC, composed DESC LIMIT 1",
                    params![key, me.to_string()],
                    |r| r.get(0),
                ),
            }
            .optional()
        })?;
        match id.and_then(|id| id.parse().ok()) {
            Some(id) => self.message(me, id),
            None => Ok(None),
        }
    }

    /// A page of a conversation, oldest first: the `limit` sent messages before
    /// `before_seq` (or the latest ones, followed by every unsent message, when `None`).
    pub fn messages(
        &self,
        me: UserId,
        conversation: ConversationId,
        before_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<LocalMessage>> {
        self.read(|tx| {
            let key = conversation.to_string();
            let members = members(tx, &key)?;
            let mut sent = tx.prepare_cached(concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE conversation_id = ?1 AND seq < ?2 AND change_kind IS NULL \
                  ORDER BY seq DESC LIMIT ?3"
            ))?;
            let mut page: Vec<LocalMessage> = sent
                .query_map(params![key, before_seq.unwrap_or(i64::MAX), limit], |r| {
                    message_from_row(r, me, &members)
                })?
                .collect::<rusqlite::Result<_>>()?;
            page.reverse();
            if before_seq.is_none() {
                let mut unsent = tx.prepare_cached(concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM messages WHERE conversation_id = ?1 AND seq IS NULL \
                      AND change_kind IS NULL ORDER BY composed"
                ))?;
                let rows = unsent.query_map([&key], |r| message_from_row(r, me, &members))?;
                for row in rows {
                    page.push(row?);
                }
            }
            for message in &mut page {
                decorate(tx, me, message)?;
            }
            Ok(page)
        })
    }

    /// The `limit` sent messages after `after_seq`, oldest first: what followed a message
    /// (the excerpt a report carries).
    pub fn messages_after(
        &self,
        me: UserId,
        conversation: ConversationId,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<LocalMessage>> {
        self.read(|tx| {
            let key = conversation.to_string();
            let members = members(tx, &key)?;
            let mut after = tx.prepare_cached(concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE conversation_id = ?1 AND seq > ?2 AND change_kind IS NULL \
                  ORDER BY seq LIMIT ?3"
            ))?;
            let mut page: Vec<LocalMessage> = after
                .query_map(params![key, after_seq, limit], |r| {
                    message_from_row(r, me, &members)
                })?
                .collect::<rusqlite::Result<_>>()?;
            for message in &mut page {
                decorate(tx, me, message)?;
            }
            Ok(page)
        })
    }
}
