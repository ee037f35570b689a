//! The conversation list as the UI shows it: each conversation's summary (title,
//! preview, unread count and mentions, typing, draft, notification level), sorted by activity and read a page at a
//! time from a [`ListPosition`], and the dismissed message requests apart.

use ferry_proto::{
    ConversationId, ConversationKind, MemberState, NotifyLevel, Timestamp, UserId, mentions,
};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use super::read::{LocalMessage, MemberView, decorate, members, message_columns, message_from_row};
use super::{LocalStore, StoreResult, id_at};

/// A place in the conversation list: the last row of a page, as its summary gave it
/// (`updated_at`, `id`). The next page starts below that place, wherever that row has
/// moved since (a conversation that became active again is at the top, and the UI has
/// it from its event).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ListPosition {
    /// The row's last activity.
    pub updated_at: Timestamp,
    /// The row's conversation (ties in activity are ordered by id).
    pub id: ConversationId,
}

impl From<&ConversationSummary> for ListPosition {
    fn from(summary: &ConversationSummary) -> Self {
        Self {
            updated_at: summary.updated_at,
            id: summary.id,
        }
    }
}

/// One row of the conversation list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ConversationSummary {
    /// Which.
    pub id: ConversationId,
    /// Direct or group.
    pub kind: ConversationKind,
    /// The group's title, or the other person's name for a direct conversation.
    pub name: String,
    /// Everyone in it.
    pub members: Vec<MemberView>,
    /// The newest seq known.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub last_seq: i64,
    /// The newest message, pending ones included (they show last).
    pub last_message: Option<LocalMessage>,
    /// Messages from others not yet read on any device of this user.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub unread_count: i64,
    /// Last activity.
    pub updated_at: Timestamp,
    /// This user is no longer a member (history stays readable).
    pub left: bool,
    /// A message request to this user: someone they do not talk to started it or added
    /// them. They accept it before they can send, or leave it, or block.
    pub request: bool,
    /// This user blocked the other person of this direct conversation.
    pub blocked: bool,
    /// A message request this user deleted on this device: the list leaves it out until a
    /// new message comes.
    pub dismissed: bool,
    /// What this user is told of its new messages: all, mentions only, or none.
    pub notify: NotifyLevel,
    /// Unread messages from others that mention this user (counted among
    /// `unread_count` too).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub unread_mentions: i64,
    /// The unsent draft, if any.
    pub draft: Option<String>,
    /// Who is typing there now (filled in by the client, which tracks typing in memory).
    pub typing: Vec<UserId>,
    /// End-to-end encrypted (issue 31): what is sent here is sealed for its members'
    /// devices, and the server cannot read it.
    pub encrypted: bool,
    /// Members whose devices here changed (one added or gone: their safety number with
    /// this user changed) since this user last looked at that number.
    pub devices_changed: Vec<UserId>,
    /// Encrypted, but this device is not in the conversation's group yet (it signed in
    /// since the group was made, and joins by itself once online): what is sent here
    /// waits until it has.
    pub joining: bool,
    /// Members whose devices had no keys yet (their app is older, or has not been online
    /// since it was installed) when this device last tried to make the conversation's
    /// group or add them to it: a plain conversation stays plain, and an encrypted one
    /// has not added them (they cannot read it), until their devices have keys.
    pub without_keys: Vec<UserId>,
}

impl LocalStore {
    /// The conversation list: newest activity first, `limit` at a time; `after` pages on
    /// below a place in it (the last row of the page before), walking the
    /// `conversations_activity` index, so a long list costs no more per page than a short
    /// one.
    pub fn conversations(
        &self,
        me: UserId,
        after: Option<ListPosition>,
        limit: u32,
    ) -> StoreResult<Vec<ConversationSummary>> {
        self.read(|tx| {
            let ids: Vec<ConversationId> = match after {
                None => {
                    let mut stmt = tx.prepare_cached(
                        "SELECT id FROM conversations WHERE NOT dismissed ORDER BY updated_at DESC, id DESC \
                         LIMIT ?1",
                    )?;
                    stmt.query_map([limit], |r| id_at(r, 0))?
                        .collect::<rusqlite::Result<_>>()?
                }
                Some(after) => {
                    let mut stmt = tx.prepare_cached(
                        "SELECT id FROM conversations WHERE (updated_at, id) < (?1, ?2) \
                         AND NOT dismissed ORDER BY updated_at DESC, id DESC LIMIT ?3",
                    )?;
                    let place = params![after.updated_at.as_millis(), after.id.to_string(), limit];
                    stmt.query_map(place, |r| id_at(r, 0))?
                        .collect::<rusqlite::Result<_>>()?
                }
            };
            summaries(tx, me, ids)
        })
    }

    /// The message requests deleted on this device (which the list leaves out).
    pub fn dismissed(&self, me: UserId) -> StoreResult<Vec<ConversationSummary>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached("SELECT id FROM conversations WHERE dismissed")?;
            let ids: Vec<ConversationId> = stmt
                .query_map([], |r| id_at(r, 0))?
                .collect::<rusqlite::Result<_>>()?;
            summaries(tx, me, ids)
        })
    }

    /// Each conversation that counts towards the unread total with its share, as its
    /// summary would give it: the unread count where every message notifies, the unread
    /// mentions where only mentions do, nothing where none does. One query over the
    /// conversations and this user's membership, instead of a summary per conversation.
    pub fn unread_counts(&self, me: UserId) -> StoreResult<Vec<(ConversationId, i64)>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT u.id, CASE u.notify WHEN 'all' THEN u.unread ELSE \
                   (SELECT count(*) FROM messages x WHERE x.conversation_id = u.id \
                    AND x.seq > u.read_to AND x.change_kind IS NULL AND x.sender_id <> ?1 \
                    AND instr(x.body, ?2) > 0) END AS share \
                 FROM (SELECT c.id, c.notify, \
                 max(COALESCE(m.read_seq, 0), c.local_read_seq) AS read_to, \
                 c.last_seq - max(COALESCE(m.read_seq, 0), c.local_read_seq) \
                 - (SELECT count(*) FROM messages x WHERE x.conversation_id = c.id \
                    AND x.change_kind IS NOT NULL \
                    AND x.seq > max(COALESCE(m.read_seq, 0), c.local_read_seq)) AS unread \
                 FROM conversations c \
                 LEFT JOIN members m ON m.conversation_id = c.id AND m.user_id = ?1 \
                 WHERE c.notify <> 'none' AND NOT c.dismissed \
                 AND c.last_seq > max(COALESCE(m.read_seq, 0), c.local_read_seq)) AS u \
                 WHERE u.unread > 0 AND share > 0",
            )?;
            let rows = stmt.query_map(params![me.to_string(), mentions::token(me)], |r| {
                Ok((id_at(r, 0)?, r.get(1)?))
            })?;
            rows.collect()
        })
    }

    /// One conversation's summary.
    pub fn conversation(
        &self,
        me: UserId,
        id: ConversationId,
    ) -> StoreResult<Option<ConversationSummary>> {
        self.read(|tx| summary(tx, me, id))
    }
}

/// The summaries of `ids`, in that order (ids not stored are skipped).
fn summaries(
    tx: &Transaction<'_>,
    me: UserId,
    ids: Vec<ConversationId>,
) -> rusqlite::Result<Vec<ConversationSummary>> {
    ids.into_iter()
        .map(|id| summary(tx, me, id))
        .filter_map(Result::transpose)
        .collect()
}

fn summary(
    tx: &Transaction<'_>,
    me: UserId,
    id: ConversationId,
) -> rusqlite::Result<Option<ConversationSummary>> {
    let key = id.to_string();
    let row = tx
        .query_row(
            "SELECT kind, title, last_seq, updated_at, local_read_seq, left_at IS NOT NULL, notify, \
             (SELECT body FROM drafts WHERE conversation_id = c.id), dismissed, mls_epoch > 0, \
             mls_member FROM conversations c WHERE id = ?1",
            [&key],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, bool>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, Option<String>>(7)?,
                    r.get::<_, bool>(8)?,
                    r.get::<_, bool>(9)?,
                    r.get::<_, bool>(10)?,
                ))
            },
        )
        .optional()?;
    let Some((
        kind,
        title,
        last_seq,
        updated_at,
        local_read,
        left,
        notify,
        draft,
        dismissed,
        encrypted,
        member_of_group,
    )) = row
    else {
        return Ok(None);
    };
    let members = members(tx, &key)?;
    let mine = members.iter().find(|m| m.user.id == me);
    let my_read = mine.map_or(0, |m| m.read_seq);
    let my_state = mine.map(|m| m.state);
    let kind = ConversationKind::parse(&kind).unwrap_or(ConversationKind::Direct);
    let name = match (kind, title) {
        (ConversationKind::Group, Some(t)) => t,
        _ => members
            .iter()
            .find(|m| m.user.id != me)
            .map_or_else(|| "(just you)".to_owned(), |m| m.user.display_name.clone()),
    };
    // The newest unsent message shows last; else the newest sent one. Two lookups, each
    // one step down an index (`messages_unsent`, and the unique (conversation, seq)),
    // where one query ordering by `seq IS NULL` would sort the whole conversation.
    let mut unsent = tx.prepare_cached(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE conversation_id = ?1 AND seq IS NULL AND change_kind IS NULL \
          ORDER BY composed DESC LIMIT 1"
    ))?;
    let last_unsent = unsent
        .query_row([&key], |r| message_from_row(r, me, &members))
        .optional()?;
    let last_message = match last_unsent {
        Some(message) => Some(message),
        None => {
            let mut sent = tx.prepare_cached(concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE conversation_id = ?1 AND seq IS NOT NULL \
                  AND change_kind IS NULL ORDER BY seq DESC LIMIT 1"
            ))?;
            sent.query_row([&key], |r| message_from_row(r, me, &members))
                .optional()?
        }
    };
    let last_message = match last_message {
        Some(mut message) => {
            decorate(tx, me, &mut message)?;
            Some(message)
        }
        None => None,
    };
    // Unread counts messages: the changes above the watermark are taken off.
    let read = my_read.max(local_read);
    let unread_changes: i64 = tx
        .prepare_cached(
            "SELECT count(*) FROM messages WHERE conversation_id = ?1 \
             AND change_kind IS NOT NULL AND seq > ?2",
        )?
        .query_row(params![key, read], |r| r.get(0))?;
    let unread_mentions: i64 = tx
        .prepare_cached(
            "SELECT count(*) FROM messages WHERE conversation_id = ?1 AND seq > ?2 \
             AND change_kind IS NULL AND sender_id <> ?3 AND instr(body, ?4) > 0",
        )?
        .query_row(
            params![key, read, me.to_string(), mentions::token(me)],
            |r| r.get(0),
        )?;
    Ok(Some(ConversationSummary {
        id,
        kind,
        name,
        members,
        last_seq,
        last_message,
        unread_count: (last_seq - read - unread_changes).max(0),
        updated_at: Timestamp::from_millis(updated_at),
        left,
        request: my_state == Some(MemberState::Request),
        blocked: my_state == Some(MemberState::Blocked),
        dismissed,
        notify: NotifyLevel::parse(&notify).unwrap_or_default(),
        unread_mentions,
        draft,
        typing: Vec::new(),
        encrypted,
        devices_changed: super::devices::device_changes_in(tx, &key)?,
        joining: encrypted && !member_of_group && !left,
        without_keys: without_keys_in(tx, &key)?,
    }))
}

/// The members of a conversation whose devices had no keys at this device's last try
/// (only those still members).
fn without_keys_in(tx: &Transaction<'_>, key: &str) -> rusqlite::Result<Vec<UserId>> {
    let mut rows = tx.prepare_cached(
        "SELECT w.user_id FROM mls_without_keys w JOIN members m \
         ON m.conversation_id = w.conversation_id AND m.user_id = w.user_id \
         WHERE w.conversation_id = ?1 ORDER BY w.user_id",
    )?;
    let found = rows.query_map([key], |r| id_at(r, 0))?;
    found.collect()
}
