//! The read model of the local store: a message as the UI shows it ([`LocalMessage`]),
//! read from its row and then decorated with what other rows say about it (its quote,
//! reactions, attachments, and this user's changes still in the outbox), and the members
//! whose watermarks give its status. The writing modules (messages, changes,
//! conversations, files) read through this one and never the reverse, so a plain
//! message's read touches no writer.

use std::collections::BTreeMap;

use ferry_proto::{
    Attachment, Change, ChangeKind, ConversationId, MemberState, MessageId, Role, Timestamp,
    UploadId, User, UserId, UserStatus,
};
use rusqlite::{OptionalExtension, Row, Transaction};
use serde::Serialize;

use super::id_at;

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
    pub id: MessageId,
    /// Where.
    pub conversation_id: ConversationId,
    /// Place in the conversation; `None` until the server stored it.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub seq: Option<i64>,
    /// Who wrote it.
    pub sender_id: UserId,
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
    pub reply_to: Option<MessageId>,
    /// That message as it is now, if this device has it.
    pub quote: Option<Quote>,
    /// Its text was edited (by a change sent or still in the outbox).
    pub edited: bool,
    /// Deleted for everyone: the text is gone, a placeholder shows.
    pub deleted: bool,
    /// Deleted by an operator of the server rather than by its sender: the placeholder
    /// says so.
    pub removed_by_operator: bool,
    /// Sealed for devices this one is not among (end-to-end encryption): sent before this
    /// device joined the conversation's group, so its text cannot be shown here.
    pub unreadable: bool,
    /// Who reacted with what, in the order the emoji were first used.
    pub reactions: Vec<Reaction>,
    /// Its files, in order (empty for text; gone once deleted).
    pub attachments: Vec<LocalAttachment>,
}

/// The columns `message_from_row` reads, as a literal for `concat!`.
macro_rules! message_columns {
    () => {
        "id, conversation_id, seq, sender_id, body, created_at, state, error, reply_to, \
         edited_at IS NOT NULL, deleted_at IS NOT NULL, attachments, removed_by_operator, unreadable"
    };
}

pub(super) use message_columns;

/// Reads a message row, deriving its status from the members' watermarks. What other rows
/// add (the quote, reactions, unsent changes) is [`decorate`]'s.
pub(super) fn message_from_row(
    r: &Row<'_>,
    me: UserId,
    members: &[MemberView],
) -> rusqlite::Result<LocalMessage> {
    let seq: Option<i64> = r.get(2)?;
    let sender_id = id_at(r, 3)?;
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
        id: id_at(r, 0)?,
        conversation_id: id_at(r, 1)?,
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
        removed_by_operator: r.get(12)?,
        unreadable: r.get(13)?,
        reactions: Vec::new(),
        attachments: from_stored(r.get(11)?),
    })
}

/// A member as the UI shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MemberView {
    /// Who.
    pub user: User,
    /// Owner or member.
    pub role: Role,
    /// Read up to.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub read_seq: i64,
    /// Stored up to.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub delivered_seq: i64,
    /// Online now (as last heard).
    pub online: bool,
    /// Accepted, a message request not yet accepted, or blocked.
    pub state: MemberState,
}

pub(super) fn members(
    tx: &Transaction<'_>,
    conversation: &str,
) -> rusqlite::Result<Vec<MemberView>> {
    let mut stmt = tx.prepare_cached(
        "SELECT u.id, u.username, u.display_name, u.created_at, m.role, m.read_seq, \
         m.delivered_seq, u.online, m.state, u.status, u.picture FROM members m \
         JOIN users u ON u.id = m.user_id \
         WHERE m.conversation_id = ?1 ORDER BY m.joined_at, u.username",
    )?;
    let rows = stmt.query_map([conversation], |r| {
        Ok(MemberView {
            user: User {
                id: id_at(r, 0)?,
                username: r.get(1)?,
                display_name: r.get(2)?,
                created_at: Timestamp::from_millis(r.get(3)?),
                status: r
                    .get::<_, Option<String>>(9)?
                    .as_deref()
                    .and_then(UserStatus::parse),
                picture: r.get::<_, Option<String>>(10)?.and_then(|p| p.parse().ok()),
            },
            role: Role::parse(&r.get::<_, String>(4)?).unwrap_or(Role::Member),
            read_seq: r.get(5)?,
            delivered_seq: r.get(6)?,
            online: r.get(7)?,
            state: MemberState::parse(&r.get::<_, String>(8)?).unwrap_or_default(),
        })
    })?;
    rows.collect()
}

/// The message a reply quotes, as it is now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Quote {
    /// The quoted message.
    pub id: MessageId,
    /// Its author.
    pub sender_id: UserId,
    /// Its text now (empty once deleted).
    pub body: String,
    /// Its place, to jump to it (`None` while unsent).
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub seq: Option<i64>,
    /// Deleted for everyone.
    pub deleted: bool,
    /// Sealed before this device joined its conversation's group: its text cannot be
    /// shown here (`body` is empty), as [`LocalMessage::unreadable`].
    pub unreadable: bool,
}

/// One emoji on a message and who put it there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Reaction {
    /// The emoji.
    pub emoji: String,
    /// Who reacted with it, in the order they did.
    pub user_ids: Vec<UserId>,
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

/// Fills in what other rows say about `message`: its quote, its reactions, and the
/// changes of this user still in the outbox, laid over what the server confirmed.
pub(super) fn decorate(
    tx: &Transaction<'_>,
    me: UserId,
    message: &mut LocalMessage,
) -> rusqlite::Result<()> {
    let id = message.id.to_string();
    let mut reactions: BTreeMap<(i64, String), Vec<UserId>> = BTreeMap::new();
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
    attach(tx, message)?;
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
                "SELECT sender_id, body, seq, deleted_at IS NOT NULL, unreadable FROM messages \
                 WHERE id = ?1 AND change_kind IS NULL",
            )?
            .query_row([parent.to_string()], |r| {
                Ok(Quote {
                    id: parent,
                    sender_id: super::id_at(r, 0)?,
                    body: r.get(1)?,
                    seq: r.get(2)?,
                    deleted: r.get(3)?,
                    unreadable: r.get(4)?,
                })
            })
            .optional()?;
    }
    Ok(())
}

/// One file of a message, as the UI shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LocalAttachment {
    /// Its place in the message (0, 1, …).
    pub index: u32,
    /// The server's id once uploaded; `None` while it waits to upload.
    pub id: Option<UploadId>,
    /// The file's name.
    pub name: String,
    /// Bytes.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub size: u64,
    /// Its media type, as checked against its bytes (`image/png`, `application/pdf`…).
    pub content_type: String,
    /// Pixels, for images.
    pub width: Option<u32>,
    /// Pixels, for images.
    pub height: Option<u32>,
    /// An image with a preview to show inline.
    pub has_preview: bool,
    /// While its message waits to go out: bytes uploaded so far. `None` once sent.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub uploaded: Option<u64>,
    /// A copy is on this device (downloaded, or sent from it): open and save work offline.
    pub downloaded: bool,
}

/// The key of a file in `files`: an attachment's bytes, or its preview.
pub(crate) fn file_key(attachment: UploadId, preview: bool) -> String {
    if preview {
        format!("{attachment}.preview")
    } else {
        attachment.to_string()
    }
}

/// Sets a message's attachments as this device has them: its uploads while unsent;
/// once sent, those the server described (read with the row, [`from_stored`]), each
/// marked downloaded when a copy is here.
pub(super) fn attach(tx: &Transaction<'_>, message: &mut LocalMessage) -> rusqlite::Result<()> {
    if message.seq.is_none() {
        let mut rows = tx.prepare_cached(
            "SELECT idx, name, size, content_type, width, height, preview IS NOT NULL, sent, \
             attachment FROM uploads WHERE message_id = ?1 ORDER BY idx",
        )?;
        let found = rows.query_map([message.id.to_string()], |r| {
            let attachment: Option<String> = r.get(8)?;
            Ok(LocalAttachment {
                index: r.get(0)?,
                id: attachment
                    .and_then(|a| serde_json::from_str::<Attachment>(&a).ok())
                    .map(|a| a.id),
                name: r.get(1)?,
                size: r.get::<_, i64>(2)? as u64,
                content_type: r.get(3)?,
                width: r.get(4)?,
                height: r.get(5)?,
                has_preview: r.get(6)?,
                uploaded: Some(r.get::<_, i64>(7)? as u64),
                downloaded: true,
            })
        })?;
        let uploads: Vec<LocalAttachment> = found.collect::<rusqlite::Result<_>>()?;
        if !uploads.is_empty() {
            message.attachments = uploads;
            return Ok(());
        }
    }
    let mut here = tx.prepare_cached("SELECT count(*) > 0 FROM files WHERE key = ?1")?;
    for attachment in &mut message.attachments {
        if let Some(id) = attachment.id {
            attachment.downloaded = here.query_row([file_key(id, false)], |r| r.get(0))?;
        }
    }
    Ok(())
}

/// A message's attachments as the server described them (the row's JSON), not yet
/// looked up on this device.
pub(super) fn from_stored(json: Option<String>) -> Vec<LocalAttachment> {
    let stored: Vec<Attachment> = json
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default();
    stored
        .into_iter()
        .enumerate()
        .map(|(index, a)| LocalAttachment {
            index: index as u32,
            id: Some(a.id),
            name: a.name,
            size: a.size,
            content_type: a.content_type,
            width: a.width,
            height: a.height,
            has_preview: a.thumbnail,
            uploaded: None,
            downloaded: false,
        })
        .collect()
}
