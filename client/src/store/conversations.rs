//! Conversations, members, users and presence as the device knows them, and the
//! conversation list the UI shows (sorted by activity, with preview and unread count).

use ferry_proto::{
    Conversation, ConversationKind, Member, MemberState, Presence, Role, Timestamp, User,
};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::changes::decorate;
use super::messages::{LocalMessage, message_columns, message_from_row};
use super::{LocalStore, StoreResult, uuid_at};

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
    pub id: Uuid,
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
    pub id: Uuid,
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
    /// Notifications off.
    pub muted: bool,
    /// The unsent draft, if any.
    pub draft: Option<String>,
    /// Who is typing there now (filled in by the client, which tracks typing in memory).
    pub typing: Vec<Uuid>,
}

pub(super) fn upsert_user(tx: &Transaction<'_>, user: &User) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO users (id, username, display_name, created_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (id) DO UPDATE SET username = excluded.username, \
         display_name = excluded.display_name",
        params![
            user.id.to_string(),
            user.username,
            user.display_name,
            user.created_at.as_millis()
        ],
    )?;
    Ok(())
}

fn kind_text(kind: ConversationKind) -> &'static str {
    match kind {
        ConversationKind::Direct => "direct",
        ConversationKind::Group => "group",
    }
}

fn role_text(role: Role) -> &'static str {
    match role {
        Role::Owner => "owner",
        Role::Member => "member",
    }
}

impl LocalStore {
    /// Applies a conversation from the server (idempotent): its fields, members and users.
    /// Watermarks only move forward; `me` not among the members marks it as left.
    pub fn apply_conversation(&self, me: Uuid, c: &Conversation) -> StoreResult<()> {
        self.write(|tx| apply_conversation(tx, me, c))
    }

    /// Applies a change of members (a `members` frame): upserts the rows it lists and
    /// drops the removed. `None` when the conversation is not stored here (the caller
    /// fetches it whole).
    pub fn apply_members(
        &self,
        me: Uuid,
        change: &MembersChange<'_>,
    ) -> StoreResult<Option<MembersApplied>> {
        self.write(|tx| apply_members(tx, me, change))
    }

    /// Applies a page of conversations in one transaction.
    pub fn apply_conversations(&self, me: Uuid, list: &[Conversation]) -> StoreResult<()> {
        self.write(|tx| list.iter().try_for_each(|c| apply_conversation(tx, me, c)))
    }

    /// Moves a member's watermarks forward (a `receipt`).
    pub fn apply_receipt(
        &self,
        conversation: Uuid,
        user: Uuid,
        read_seq: i64,
        delivered_seq: i64,
    ) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE members SET read_seq = max(read_seq, ?3), \
                 delivered_seq = max(delivered_seq, ?4) WHERE conversation_id = ?1 AND user_id = ?2",
                params![conversation.to_string(), user.to_string(), read_seq, delivered_seq],
            )
            .map(drop)
        })
    }

    /// The seq up to which every message of a conversation is stored (0 when none): where
    /// catch-up and gap filling continue from.
    pub fn contiguous_seq(&self, conversation: Uuid) -> StoreResult<i64> {
        self.read(|tx| {
            tx.query_row(
                "SELECT contiguous_seq FROM conversations WHERE id = ?1",
                [conversation.to_string()],
                |r| r.get(0),
            )
            .optional()
            .map(Option::unwrap_or_default)
        })
    }

    /// Marks a conversation read on this device up to its last seq; returns that seq if it
    /// moved (to be sent to the server).
    pub fn mark_read_locally(&self, conversation: Uuid) -> StoreResult<Option<i64>> {
        self.write(|tx| {
            let last: Option<i64> = tx
                .query_row(
                    "SELECT last_seq FROM conversations WHERE id = ?1 AND local_read_seq < last_seq",
                    [conversation.to_string()],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(last) = last {
                tx.execute(
                    "UPDATE conversations SET local_read_seq = ?2 WHERE id = ?1",
                    params![conversation.to_string(), last],
                )?;
            }
            Ok(last)
        })
    }

    /// Conversations whose local read mark is ahead of the server's (to send on connect).
    pub fn unsent_reads(&self, me: Uuid) -> StoreResult<Vec<(Uuid, i64)>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT c.id, c.local_read_seq FROM conversations c \
                 JOIN members m ON m.conversation_id = c.id AND m.user_id = ?1 \
                 WHERE c.local_read_seq > m.read_seq AND c.left_at IS NULL",
            )?;
            let rows = stmt.query_map([me.to_string()], |r| Ok((uuid_at(r, 0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    /// Records a contact's presence.
    pub fn apply_presence(&self, p: &Presence) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE users SET online = ?2, last_seen = COALESCE(?3, last_seen) WHERE id = ?1",
                params![
                    p.user_id.to_string(),
                    p.online,
                    p.last_seen.map(|t| t.as_millis())
                ],
            )
            .map(drop)
        })
    }

    /// Presence of everyone known, except `me`.
    pub fn presence(&self, me: Uuid) -> StoreResult<Vec<Presence>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, online, last_seen FROM users WHERE id <> ?1 ORDER BY username",
            )?;
            let rows = stmt.query_map([me.to_string()], |r| {
                Ok(Presence {
                    user_id: uuid_at(r, 0)?,
                    online: r.get(1)?,
                    last_seen: r.get::<_, Option<i64>>(2)?.map(Timestamp::from_millis),
                })
            })?;
            rows.collect()
        })
    }

    /// Saves (or with an empty body, clears) a conversation's draft.
    pub fn set_draft(&self, conversation: Uuid, body: &str) -> StoreResult<()> {
        self.write(|tx| {
            if body.is_empty() {
                tx.execute(
                    "DELETE FROM drafts WHERE conversation_id = ?1",
                    [conversation.to_string()],
                )?;
            } else {
                tx.execute(
                    "INSERT INTO drafts (conversation_id, body, updated_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (conversation_id) DO UPDATE SET body = excluded.body, \
                     updated_at = excluded.updated_at",
                    params![conversation.to_string(), body, Timestamp::now().as_millis()],
                )?;
            }
            Ok(())
        })
    }

    /// Mutes or unmutes a conversation's notifications.
    pub fn set_muted(&self, conversation: Uuid, muted: bool) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE conversations SET muted = ?2 WHERE id = ?1",
                params![conversation.to_string(), muted],
            )
            .map(drop)
        })
    }

    /// The conversation list: newest activity first, `limit` at a time; `after` pages on
    /// below a place in it (the last row of the page before), walking the
    /// `conversations_activity` index, so a long list costs no more per page than a short
    /// one.
    pub fn conversations(
        &self,
        me: Uuid,
        after: Option<ListPosition>,
        limit: u32,
    ) -> StoreResult<Vec<ConversationSummary>> {
        self.read(|tx| {
            let ids: Vec<Uuid> = match after {
                None => {
                    let mut stmt = tx.prepare_cached(
                        "SELECT id FROM conversations WHERE NOT dismissed ORDER BY updated_at DESC, id DESC \
                         LIMIT ?1",
                    )?;
                    stmt.query_map([limit], |r| uuid_at(r, 0))?
                        .collect::<rusqlite::Result<_>>()?
                }
                Some(after) => {
                    let mut stmt = tx.prepare_cached(
                        "SELECT id FROM conversations WHERE (updated_at, id) < (?1, ?2) \
                         AND NOT dismissed ORDER BY updated_at DESC, id DESC LIMIT ?3",
                    )?;
                    let place = params![after.updated_at.as_millis(), after.id.to_string(), limit];
                    stmt.query_map(place, |r| uuid_at(r, 0))?
                        .collect::<rusqlite::Result<_>>()?
                }
            };
            summaries(tx, me, ids)
        })
    }

    /// The message requests deleted on this device (which the list leaves out).
    pub fn dismissed(&self, me: Uuid) -> StoreResult<Vec<ConversationSummary>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached("SELECT id FROM conversations WHERE dismissed")?;
            let ids: Vec<Uuid> = stmt
                .query_map([], |r| uuid_at(r, 0))?
                .collect::<rusqlite::Result<_>>()?;
            summaries(tx, me, ids)
        })
    }

    /// Each conversation that counts towards the unread total (not muted, something
    /// unread) with its unread count, as its summary would give it: one query over the
    /// conversations and this user's membership, instead of a summary per conversation.
    pub fn unread_counts(&self, me: Uuid) -> StoreResult<Vec<(Uuid, i64)>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, unread FROM (SELECT c.id, \
                 c.last_seq - max(COALESCE(m.read_seq, 0), c.local_read_seq) \
                 - (SELECT count(*) FROM messages x WHERE x.conversation_id = c.id \
                    AND x.change_kind IS NOT NULL \
                    AND x.seq > max(COALESCE(m.read_seq, 0), c.local_read_seq)) AS unread \
                 FROM conversations c \
                 LEFT JOIN members m ON m.conversation_id = c.id AND m.user_id = ?1 \
                 WHERE c.muted = 0 AND NOT c.dismissed \
                 AND c.last_seq > max(COALESCE(m.read_seq, 0), c.local_read_seq)) \
                 WHERE unread > 0",
            )?;
            let rows = stmt.query_map([me.to_string()], |r| Ok((uuid_at(r, 0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    /// One conversation's summary.
    pub fn conversation(&self, me: Uuid, id: Uuid) -> StoreResult<Option<ConversationSummary>> {
        self.read(|tx| summary(tx, me, id))
    }

    /// Deletes a message request, or a chat this user blocked, on this device: the list
    /// leaves it out until a message comes past its last seq now (a blocked person sends
    /// none: it stays out until unblocked). `false` (nothing done) when it is neither.
    pub fn dismiss(&self, me: Uuid, conversation: Uuid) -> StoreResult<bool> {
        self.write(|tx| {
            tx.execute(
                "UPDATE conversations SET dismissed_seq = last_seq WHERE id = ?1 \
                 AND EXISTS (SELECT 1 FROM members WHERE conversation_id = ?1 \
                 AND user_id = ?2 AND state IN ('request', 'blocked'))",
                params![conversation.to_string(), me.to_string()],
            )
            .map(|changed| changed > 0)
        })
    }

    /// Shows a deleted request again (this user opened it themself).
    pub fn undismiss(&self, conversation: Uuid) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE conversations SET dismissed_seq = NULL WHERE id = ?1",
                [conversation.to_string()],
            )
            .map(drop)
        })
    }

    /// Records that this user left a conversation (history stays).
    pub fn mark_left(&self, conversation: Uuid) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE conversations SET left_at = COALESCE(left_at, ?2) WHERE id = ?1",
                params![conversation.to_string(), Timestamp::now().as_millis()],
            )
            .map(drop)
        })
    }

    /// The direct conversation between `me` and `other`, if known on this device.
    pub fn direct_with(&self, me: Uuid, other: Uuid) -> StoreResult<Option<Uuid>> {
        self.read(|tx| {
            tx.query_row(
                "SELECT c.id FROM conversations c \
                 JOIN members a ON a.conversation_id = c.id AND a.user_id = ?1 \
                 JOIN members b ON b.conversation_id = c.id AND b.user_id = ?2 \
                 WHERE c.kind = 'direct'",
                params![me.to_string(), other.to_string()],
                |r| uuid_at(r, 0),
            )
            .optional()
        })
    }

    /// Whether the conversation is known on this device.
    pub fn has_conversation(&self, id: Uuid) -> StoreResult<bool> {
        self.read(|tx| {
            tx.query_row(
                "SELECT count(*) > 0 FROM conversations WHERE id = ?1",
                [id.to_string()],
                |r| r.get(0),
            )
        })
    }

    /// Ids of every conversation stored.
    pub fn conversation_ids(&self) -> StoreResult<Vec<Uuid>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached("SELECT id FROM conversations")?;
            let rows = stmt.query_map([], |r| uuid_at(r, 0))?;
            rows.collect()
        })
    }
}

fn apply_conversation(tx: &Transaction<'_>, me: Uuid, c: &Conversation) -> rusqlite::Result<()> {
    let id = c.id.to_string();
    // Its last message says whether the seqs it brings are someone writing.
    let written = c.last_message.as_ref().map_or(0, |m| m.seq);
    keep_dismissed_past_changes(tx, c.id, written, c.last_seq)?;
    tx.execute(
        "INSERT INTO conversations (id, kind, title, last_seq, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO UPDATE SET title = excluded.title, \
         last_seq = max(last_seq, excluded.last_seq), \
         updated_at = max(updated_at, excluded.updated_at)",
        params![
            id,
            kind_text(c.kind),
            c.title,
            c.last_seq,
            c.created_at.as_millis(),
            c.updated_at.as_millis()
        ],
    )?;
    let is_member = c.members.iter().any(|m| m.user.id == me);
    tx.execute(
        "UPDATE conversations SET left_at = CASE WHEN ?2 THEN NULL ELSE COALESCE(left_at, ?3) END \
         WHERE id = ?1",
        params![id, is_member, Timestamp::now().as_millis()],
    )?;
    // Members not in the new list have left; the rest are upserted, watermarks forward only.
    let keep: Vec<String> = c.members.iter().map(|m| m.user.id.to_string()).collect();
    let mut existing =
        tx.prepare_cached("SELECT user_id FROM members WHERE conversation_id = ?1")?;
    let stored: Vec<String> = existing
        .query_map([&id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for gone in stored.iter().filter(|u| !keep.contains(u)) {
        tx.execute(
            "DELETE FROM members WHERE conversation_id = ?1 AND user_id = ?2",
            params![id, gone],
        )?;
    }
    for m in &c.members {
        upsert_member(tx, &id, m)?;
    }
    forget_dismissal_unless_request(tx, &id, me)?;
    // `last_message` is not stored: messages come only through `after_seq` pages and live
    // frames. Messages stored before the conversation was known count from now on.
    super::messages::advance_contiguous(tx, c.id)
}

/// Stores a member row and its user; watermarks only move forward.
fn upsert_member(tx: &Transaction<'_>, conversation: &str, m: &Member) -> rusqlite::Result<()> {
    upsert_user(tx, &m.user)?;
    tx.execute(
        "INSERT INTO members (conversation_id, user_id, role, read_seq, delivered_seq, joined_at, state) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (conversation_id, user_id) DO UPDATE SET \
         role = excluded.role, read_seq = max(read_seq, excluded.read_seq), \
         delivered_seq = max(delivered_seq, excluded.delivered_seq), state = excluded.state",
        params![
            conversation,
            m.user.id.to_string(),
            role_text(m.role),
            m.read_seq,
            m.delivered_seq,
            m.joined_at.as_millis(),
            m.state.as_str()
        ],
    )?;
    Ok(())
}

/// A deleted request (or blocked chat) stays hidden only while it is a request or
/// blocked: accepted on another device, or unblocked into an accepted chat, it is back in
/// the list. (Left or removed elsewhere, it stays hidden.)
fn forget_dismissal_unless_request(
    tx: &Transaction<'_>,
    conversation: &str,
    me: Uuid,
) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE conversations SET dismissed_seq = NULL WHERE id = ?1 AND dismissed_seq IS NOT NULL \
         AND EXISTS (SELECT 1 FROM members WHERE conversation_id = ?1 AND user_id = ?2 \
         AND state = 'accepted')",
        params![conversation, me.to_string()],
    )?;
    Ok(())
}

/// Entries up to `seq` are being stored in a conversation, messages among them up to
/// `written` (0: none). A change (an edit, a reaction, a deletion) is not someone
/// writing: a request deleted here stays deleted past it; only a message brings it back.
pub(super) fn keep_dismissed_past_changes(
    tx: &Transaction<'_>,
    conversation: Uuid,
    written: i64,
    seq: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE conversations SET dismissed_seq = ?3 WHERE id = ?1 AND dismissed \
         AND ?2 <= dismissed_seq AND dismissed_seq < ?3",
    )?
    .execute(params![conversation.to_string(), written, seq])?;
    Ok(())
}

/// See [`LocalStore::apply_members`].
fn apply_members(
    tx: &Transaction<'_>,
    me: Uuid,
    change: &MembersChange<'_>,
) -> rusqlite::Result<Option<MembersApplied>> {
    let id = change.conversation_id.to_string();
    let updated = tx.execute(
        "UPDATE conversations SET updated_at = max(updated_at, ?2) WHERE id = ?1",
        params![id, change.updated_at.as_millis()],
    )?;
    if updated == 0 {
        return Ok(None);
    }
    let mut new_contacts = false;
    for m in change.members {
        let before: Option<String> = tx
            .query_row(
                "SELECT state FROM members WHERE conversation_id = ?1 AND user_id = ?2",
                params![id, m.user.id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        new_contacts |= before.as_deref() != Some(m.state.as_str());
        upsert_member(tx, &id, m)?;
        if m.user.id == me {
            tx.execute(
                "UPDATE conversations SET left_at = NULL WHERE id = ?1",
                [&id],
            )?;
        }
    }
    for user in change.removed {
        tx.execute(
            "DELETE FROM members WHERE conversation_id = ?1 AND user_id = ?2",
            params![id, user.to_string()],
        )?;
        if *user == me {
            tx.execute(
                "UPDATE conversations SET left_at = COALESCE(left_at, ?2) WHERE id = ?1",
                params![id, Timestamp::now().as_millis()],
            )?;
        }
    }
    forget_dismissal_unless_request(tx, &id, me)?;
    let member_count: i64 = tx.query_row(
        "SELECT count(*) FROM members WHERE conversation_id = ?1",
        [&id],
        |r| r.get(0),
    )?;
    Ok(Some(MembersApplied {
        new_contacts,
        member_count: usize::try_from(member_count).unwrap_or_default(),
    }))
}

/// What applying a `members` frame did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MembersApplied {
    /// Someone joined or changed state: who is a contact (and online) may have changed.
    pub new_contacts: bool,
    /// How many members the conversation has here now.
    pub member_count: usize,
}

/// A change of a conversation's members, as a `members` frame carries it.
#[derive(Clone, Copy, Debug)]
pub struct MembersChange<'a> {
    /// Which conversation.
    pub conversation_id: Uuid,
    /// Members who joined or changed.
    pub members: &'a [Member],
    /// Users who are no longer members.
    pub removed: &'a [Uuid],
    /// The conversation's `updated_at` after the change.
    pub updated_at: Timestamp,
}

/// The summaries of `ids`, in that order (ids not stored are skipped).
fn summaries(
    tx: &Transaction<'_>,
    me: Uuid,
    ids: Vec<Uuid>,
) -> rusqlite::Result<Vec<ConversationSummary>> {
    ids.into_iter()
        .map(|id| summary(tx, me, id))
        .filter_map(Result::transpose)
        .collect()
}

fn summary(
    tx: &Transaction<'_>,
    me: Uuid,
    id: Uuid,
) -> rusqlite::Result<Option<ConversationSummary>> {
    let key = id.to_string();
    let row = tx
        .query_row(
            "SELECT kind, title, last_seq, updated_at, local_read_seq, left_at IS NOT NULL, muted, \
             (SELECT body FROM drafts WHERE conversation_id = c.id), dismissed \
             FROM conversations c WHERE id = ?1",
            [&key],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, bool>(5)?,
                    r.get::<_, bool>(6)?,
                    r.get::<_, Option<String>>(7)?,
                    r.get::<_, bool>(8)?,
                ))
            },
        )
        .optional()?;
    let Some((kind, title, last_seq, updated_at, local_read, left, muted, draft, dismissed)) = row
    else {
        return Ok(None);
    };
    let members = members(tx, &key)?;
    let mine = members.iter().find(|m| m.user.id == me);
    let my_read = mine.map_or(0, |m| m.read_seq);
    let my_state = mine.map(|m| m.state);
    let kind = if kind == "group" {
        ConversationKind::Group
    } else {
        ConversationKind::Direct
    };
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
        muted,
        draft,
        typing: Vec::new(),
    }))
}

pub(super) fn members(
    tx: &Transaction<'_>,
    conversation: &str,
) -> rusqlite::Result<Vec<MemberView>> {
    let mut stmt = tx.prepare_cached(
        "SELECT u.id, u.username, u.display_name, u.created_at, m.role, m.read_seq, \
         m.delivered_seq, u.online, m.state FROM members m JOIN users u ON u.id = m.user_id \
         WHERE m.conversation_id = ?1 ORDER BY m.joined_at, u.username",
    )?;
    let rows = stmt.query_map([conversation], |r| {
        Ok(MemberView {
            user: User {
                id: uuid_at(r, 0)?,
                username: r.get(1)?,
                display_name: r.get(2)?,
                created_at: Timestamp::from_millis(r.get(3)?),
            },
            role: if r.get::<_, String>(4)? == "owner" {
                Role::Owner
            } else {
                Role::Member
            },
            read_seq: r.get(5)?,
            delivered_seq: r.get(6)?,
            online: r.get(7)?,
            state: MemberState::parse(&r.get::<_, String>(8)?).unwrap_or_default(),
        })
    })?;
    rows.collect()
}
