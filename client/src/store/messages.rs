//! Messages and the outbox. `compose` writes a pending message and its outbox entry in one
//! transaction; an `ack` (or the message arriving from the server) makes it `sent` and
//! removes the entry; a permanent error makes it `failed` until the user retries or
//! discards it. Received messages are applied idempotently by id.

use std::collections::HashMap;

use ferry_proto::{Change, Message, OutgoingMessage, Timestamp};
use rusqlite::{OptionalExtension, Row, Transaction, params};
use serde::Serialize;
use uuid::Uuid;

use super::changes::{Quote, Reaction, apply_change, change_at, decorate, discard_unsent};
use super::conversations::{MemberView, members};
use super::files::{LocalAttachment, adopt_uploads};
use super::{LocalStore, StoreResult, uuid_at};

/// Where a message is, as its sender sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// In the outbox.
    Pending,
    /// Stored by the server (has a seq).
    Sent,
    /// Every other member has it on a device.
    Delivered,
    /// Every other member has read it.
    Read,
    /// Refused for good; see `error`. The user may retry or discard it.
    Failed,
}

/// A message as the UI shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LocalMessage {
    /// Client id.
    pub id: Uuid,
    /// Where.
    pub conversation_id: Uuid,
    /// Place in the conversation; `None` until the server stored it.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub seq: Option<i64>,
    /// Who wrote it.
    pub sender_id: Uuid,
    /// The text.
    pub body: String,
    /// Server time once sent; compose time before.
    pub created_at: Timestamp,
    /// Written by this user.
    pub mine: bool,
    /// Pending, sent, delivered, read or failed (for others' messages: sent).
    pub status: MessageStatus,
    /// Why it failed.
    pub error: Option<String>,
    /// The message this one replies to.
    pub reply_to: Option<Uuid>,
    /// That message as it is now, if this device has it.
    pub quote: Option<Quote>,
    /// Its text was edited (by a change sent or still in the outbox).
    pub edited: bool,
    /// Deleted for everyone: the text is gone, a placeholder shows.
    pub deleted: bool,
    /// Who reacted with what, in the order the emoji were first used.
    pub reactions: Vec<Reaction>,
    /// Its files, in order (empty for text; gone once deleted).
    pub attachments: Vec<LocalAttachment>,
}

/// An outbox entry due to be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxItem {
    /// The message.
    pub message_id: Uuid,
    /// Where to.
    pub conversation_id: Uuid,
    /// The text.
    pub body: String,
    /// The message it replies to.
    pub reply_to: Option<Uuid>,
    /// Set when the entry is a change to a message rather than a message.
    pub change: Option<Change>,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Not before this time (Unix ms).
    pub next_attempt_at: i64,
    /// Place in compose order (for reading the outbox a page at a time).
    pub position: i64,
    /// The server's ids of its files, in order, once uploaded.
    pub attachments: Vec<Uuid>,
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
        }
    }
}

/// The server's answer that it stored an outbox message (an `ack`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Confirmation {
    /// The message.
    pub id: Uuid,
    /// Its conversation.
    pub conversation_id: Uuid,
    /// Where the server put it.
    pub seq: i64,
    /// The server's time for it.
    pub created_at: Timestamp,
}

/// The columns `message_from_row` reads, as a literal for `concat!`.
macro_rules! message_columns {
    () => {
        "id, conversation_id, seq, sender_id, body, created_at, state, error, reply_to, \
         edited_at IS NOT NULL, deleted_at IS NOT NULL, attachments"
    };
}
pub(super) use message_columns;

/// Reads a message row, deriving its status from the members' watermarks. What other rows
/// add (the quote, reactions, unsent changes) is [`decorate`]'s.
pub(super) fn message_from_row(
    r: &Row<'_>,
    me: Uuid,
    members: &[MemberView],
) -> rusqlite::Result<LocalMessage> {
    let seq: Option<i64> = r.get(2)?;
    let sender_id = uuid_at(r, 3)?;
    let state: String = r.get(6)?;
    let mine = sender_id == me;
    let status = match (state.as_str(), seq) {
        ("failed", _) => MessageStatus::Failed,
        (_, None) => MessageStatus::Pending,
        (_, Some(seq)) if mine => {
            let others = members.iter().filter(|m| m.user.id != me);
            let (mut read, mut delivered, mut any) = (true, true, false);
            for m in others {
                any = true;
                read &= m.read_seq >= seq;
                delivered &= m.delivered_seq >= seq;
            }
            match (any, read, delivered) {
                (true, true, _) => MessageStatus::Read,
                (true, _, true) => MessageStatus::Delivered,
                _ => MessageStatus::Sent,
            }
        }
        _ => MessageStatus::Sent,
    };
    Ok(LocalMessage {
        id: uuid_at(r, 0)?,
        conversation_id: uuid_at(r, 1)?,
        seq,
        sender_id,
        body: r.get(4)?,
        created_at: Timestamp::from_millis(r.get(5)?),
        mine,
        status,
        error: r.get(7)?,
        reply_to: r
            .get::<_, Option<String>>(8)?
            .and_then(|id| id.parse().ok()),
        quote: None,
        edited: r.get(9)?,
        deleted: r.get(10)?,
        reactions: Vec::new(),
        attachments: super::files::from_stored(r.get(11)?),
    })
}

/// Writes a new pending message and its outbox entry inside `tx` (after its uploads, if
/// it has files).
pub(super) fn compose_in(
    tx: &Transaction<'_>,
    me: Uuid,
    id: Uuid,
    conversation: Uuid,
    body: &str,
    reply_to: Option<Uuid>,
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
    tx.execute(
        "INSERT INTO outbox (message_id, conversation_id, position) \
         VALUES (?1, ?2, (SELECT COALESCE(max(position), 0) + 1 FROM outbox))",
        params![id.to_string(), conv],
    )?;
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
        reactions: Vec::new(),
        attachments: Vec::new(),
    };
    decorate(tx, me, &mut message)?;
    Ok(message)
}

/// What applying a received message did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
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
            mark_sent(tx, m.id, m.conversation_id, m.seq, m.created_at)?;
            Ok(Applied::Confirmed)
        }
        None => {
            let change = m.change.as_ref();
            tx.prepare_cached(
                "INSERT INTO messages (id, conversation_id, seq, sender_id, body, created_at, \
                 composed, state, reply_to, change_kind, target, emoji, edited_at, edit_seq, \
                 deleted_at, attachments) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 'sent', ?7, ?8, ?9, \
                 ?10, ?11, ?12, ?13, ?14)",
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
            ])?;
            if let Some(change) = change {
                apply_change(tx, m.sender_id, change, &m.body, m.seq, m.created_at)?;
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
    heads: HashMap<Uuid, (i64, Timestamp)>,
    /// Per conversation and sender: the highest seq they sent.
    senders: HashMap<(Uuid, Uuid), i64>,
    /// Per conversation: the highest seq of a message (not a change).
    written: HashMap<Uuid, i64>,
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
        let sent = self
            .senders
            .entry((m.conversation_id, m.sender_id))
            .or_insert(m.seq);
        *sent = (*sent).max(m.seq);
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
/// of ours takes effect now, in its place in the stream.
fn mark_sent(
    tx: &Transaction<'_>,
    id: Uuid,
    conversation: Uuid,
    seq: i64,
    created_at: Timestamp,
) -> rusqlite::Result<()> {
    let id = id.to_string();
    let changed = tx
        .prepare_cached(
            "UPDATE messages SET seq = ?2, created_at = ?3, state = 'sent', error = NULL \
             WHERE id = ?1 AND seq IS NULL",
        )?
        .execute(params![id, seq, created_at.as_millis()])?;
    tx.prepare_cached("DELETE FROM outbox WHERE message_id = ?1")?
        .execute([&id])?;
    let row: Option<(String, Option<Change>, String)> = tx
        .prepare_cached(
            "SELECT sender_id, change_kind, target, emoji, body FROM messages WHERE id = ?1",
        )?
        .query_row([&id], |r| Ok((r.get(0)?, change_at(r, 1)?, r.get(4)?)))
        .optional()?;
    if changed == 1 {
        adopt_uploads(tx, id.parse().unwrap_or_default(), created_at)?;
    }
    let Some((sender, change, body)) = row else {
        return bump(tx, conversation, seq, Some(created_at));
    };
    let activity = change.is_none().then_some(created_at);
    bump(tx, conversation, seq, activity)?;
    let Ok(sender) = sender.parse() else {
        return Ok(());
    };
    if let Some(change) = change.filter(|_| changed == 1) {
        apply_change(tx, sender, &change, &body, seq, created_at)?;
    }
    sender_has_read(tx, conversation, sender, seq)
}

/// Sending moves the sender's own watermarks to the message (the protocol says so, and the
/// server sends no receipt for it): the ticks of what they were sent follow.
fn sender_has_read(
    tx: &Transaction<'_>,
    conversation: Uuid,
    sender: Uuid,
    seq: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE members SET read_seq = max(read_seq, ?3), delivered_seq = max(delivered_seq, ?3) \
         WHERE conversation_id = ?1 AND user_id = ?2",
    )?
    .execute(params![conversation.to_string(), sender.to_string(), seq])?;
    Ok(())
}

/// A conversation's last seq and activity (`at`, unless a change) move forward with a
/// stored message, and so does its contiguous watermark when the message closes the gap
/// above it.
fn bump(
    tx: &Transaction<'_>,
    conversation: Uuid,
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
    advance_contiguous(tx, conversation)
}

/// Moves `contiguous_seq` over every seq now present right above it.
pub(super) fn advance_contiguous(tx: &Transaction<'_>, conversation: Uuid) -> rusqlite::Result<()> {
    let key = conversation.to_string();
    let Some(mut have): Option<i64> = tx
        .prepare_cached("SELECT contiguous_seq FROM conversations WHERE id = ?1")?
        .query_row([&key], |r| r.get(0))
        .optional()?
    else {
        return Ok(());
    };
    let start = have;
    let mut next = tx.prepare_cached(
        "SELECT count(*) > 0 FROM messages WHERE conversation_id = ?1 AND seq = ?2",
    )?;
    while next.query_row(params![key, have + 1], |r| r.get::<_, bool>(0))? {
        have += 1;
    }
    if have != start {
        tx.prepare_cached("UPDATE conversations SET contiguous_seq = ?2 WHERE id = ?1")?
            .execute(params![key, have])?;
    }
    Ok(())
}

impl LocalStore {
    /// Writes a new pending message (replying to `reply_to`, if set) and its outbox entry
    /// in one transaction.
    pub fn compose(
        &self,
        me: Uuid,
        id: Uuid,
        conversation: Uuid,
        body: &str,
        reply_to: Option<Uuid>,
        now: Timestamp,
    ) -> StoreResult<LocalMessage> {
        self.write(|tx| compose_in(tx, me, id, conversation, body, reply_to, now))
    }

    /// Applies messages from the server in one transaction; returns what each did.
    pub fn apply_messages(&self, messages: &[Message]) -> StoreResult<Vec<Applied>> {
        self.write(|tx| {
            let mut effects = Effects::default();
            let applied = messages
                .iter()
                .map(|m| apply_message(tx, m, &mut effects))
                .collect::<rusqlite::Result<_>>()?;
            effects.write(tx)?;
            Ok(applied)
        })
    }

    /// An outbox message was stored by the server at `seq` (its `ack`).
    pub fn confirm(
        &self,
        id: Uuid,
        conversation: Uuid,
        seq: i64,
        created_at: Timestamp,
    ) -> StoreResult<()> {
        self.write(|tx| mark_sent(tx, id, conversation, seq, created_at))
    }

    /// Several acks at once, in one transaction: acks arrive in bursts when the outbox
    /// drains, and one fsync per ack would make the client, not the link, the limit.
    pub fn confirm_all(&self, acks: &[Confirmation]) -> StoreResult<()> {
        self.write(|tx| {
            acks.iter()
                .try_for_each(|a| mark_sent(tx, a.id, a.conversation_id, a.seq, a.created_at))
        })
    }

    /// A permanent refusal: the message leaves the outbox and shows as failed. A refused
    /// change is dropped instead (the message it named shows as it was); its target is
    /// returned.
    pub fn fail(&self, id: Uuid, reason: &str) -> StoreResult<Option<Uuid>> {
        self.write(|tx| {
            let target: Option<Option<String>> = tx
                .query_row(
                    "SELECT target FROM messages WHERE id = ?1 AND seq IS NULL",
                    [id.to_string()],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(Some(target)) = target {
                tx.execute("DELETE FROM messages WHERE id = ?1", [id.to_string()])?;
                return Ok(target.parse().ok());
            }
            tx.execute(
                "UPDATE messages SET state = 'failed', error = ?2 WHERE id = ?1 AND seq IS NULL",
                params![id.to_string(), reason],
            )?;
            tx.execute("DELETE FROM outbox WHERE message_id = ?1", [id.to_string()])?;
            Ok(None)
        })
    }

    /// Puts a failed message back in the outbox (at the end: it is sent again now).
    pub fn retry(&self, id: Uuid) -> StoreResult<bool> {
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

    /// Deletes a message that was never sent (failed, or pending if the user insists),
    /// with the unsent changes that named it.
    pub fn discard(&self, id: Uuid) -> StoreResult<bool> {
        self.write(|tx| discard_unsent(tx, id))
    }

    /// Schedules the next attempt of an outbox entry after a transient failure.
    pub fn reschedule(&self, id: Uuid, not_before: i64) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2 WHERE message_id = ?1",
                params![id.to_string(), not_before],
            )
            .map(drop)
        })
    }

    /// Failed attempts of an outbox entry so far.
    pub fn attempts(&self, id: Uuid) -> StoreResult<u32> {
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
                    message_id: uuid_at(r, 0)?,
                    conversation_id: uuid_at(r, 1)?,
                    body: r.get(2)?,
                    reply_to: r
                        .get::<_, Option<String>>(6)?
                        .and_then(|id| id.parse().ok()),
                    change: change_at(r, 7)?,
                    attempts: r.get(3)?,
                    next_attempt_at: r.get(4)?,
                    position: r.get(5)?,
                    attachments: serde_json::from_str::<Vec<Option<Uuid>>>(
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

    /// One message; for a change, the message it changes (as it now shows). `None` if
    /// this device does not have it.
    pub fn message(&self, me: Uuid, id: Uuid) -> StoreResult<Option<LocalMessage>> {
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
        me: Uuid,
        conversation: Uuid,
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

    /// Whether `id` is a change (an edit, deletion or reaction) rather than a message.
    pub fn is_change(&self, id: Uuid) -> StoreResult<bool> {
        self.read(|tx| {
            tx.query_row(
                "SELECT count(*) > 0 FROM messages WHERE id = ?1 AND change_kind IS NOT NULL",
                [id.to_string()],
                |r| r.get(0),
            )
        })
    }

    /// A page of a conversation, oldest first: the `limit` sent messages before
    /// `before_seq` (or the latest ones, followed by every unsent message, when `None`).
    pub fn messages(
        &self,
        me: Uuid,
        conversation: Uuid,
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
}
