//! Conversations, members, users, receipts and presence as the server describes them,
//! applied to the device's store; drafts and dismissed requests, which are the device's
//! own; notification levels, chosen here or on another device and kept on the server.
//! (The list the UI shows from them is `list`'s.)

use ferry_proto::{
    Conversation, ConversationId, Member, NotifyLevel, Presence, Timestamp, User, UserId,
    UserStatus,
};
use rusqlite::{OptionalExtension, Transaction, params};

use super::{LocalStore, StoreResult, id_at};

pub(super) fn upsert_user(tx: &Transaction<'_>, user: &User) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO users (id, username, display_name, created_at, status, picture) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (id) DO UPDATE SET username = excluded.username, \
         display_name = excluded.display_name, status = excluded.status, \
         picture = excluded.picture",
        params![
            user.id.to_string(),
            user.username,
            user.display_name,
            user.created_at.as_millis(),
            user.status.map(UserStatus::as_str),
            user.picture.map(|p| p.to_string()),
        ],
    )?;
    Ok(())
}

impl LocalStore {
    /// Applies a user's profile as the server describes it now (a `user` frame): the
    /// conversations that show them, whose rows changed.
    pub fn apply_user(&self, user: &User) -> StoreResult<Vec<ConversationId>> {
        self.write(|tx| {
            upsert_user(tx, user)?;
            let mut stmt =
                tx.prepare_cached("SELECT conversation_id FROM members WHERE user_id = ?1")?;
            let rows = stmt.query_map([user.id], |r| id_at(r, 0))?;
            rows.collect()
        })
    }

    /// Applies a conversation from the server (idempotent): its fields, members and users.
    /// Watermarks only move forward; `me` not among the members marks it as left.
    pub fn apply_conversation(&self, me: UserId, c: &Conversation) -> StoreResult<()> {
        self.write(|tx| apply_conversation(tx, me, c))
    }

    /// Applies a change of members (a `members` frame): upserts the rows it lists and
    /// drops the removed. `None` when the conversation is not stored here (the caller
    /// fetches it whole).
    pub fn apply_members(
        &self,
        me: UserId,
        change: &MembersChange<'_>,
    ) -> StoreResult<Option<MembersApplied>> {
        self.write(|tx| apply_members(tx, me, change))
    }

    /// Applies a page of conversations in one transaction.
    pub fn apply_conversations(&self, me: UserId, list: &[Conversation]) -> StoreResult<()> {
        self.write(|tx| list.iter().try_for_each(|c| apply_conversation(tx, me, c)))
    }

    /// Moves a member's watermarks forward (a `receipt`).
    pub fn apply_receipt(
        &self,
        conversation: ConversationId,
        user: UserId,
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
    pub fn contiguous_seq(&self, conversation: ConversationId) -> StoreResult<i64> {
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
    pub fn mark_read_locally(&self, conversation: ConversationId) -> StoreResult<Option<i64>> {
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
    pub fn unsent_reads(&self, me: UserId) -> StoreResult<Vec<(ConversationId, i64)>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT c.id, c.local_read_seq FROM conversations c \
                 JOIN members m ON m.conversation_id = c.id AND m.user_id = ?1 \
                 WHERE c.local_read_seq > m.read_seq AND c.left_at IS NULL",
            )?;
            let rows = stmt.query_map([me.to_string()], |r| Ok((id_at(r, 0)?, r.get(1)?)))?;
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
    pub fn presence(&self, me: UserId) -> StoreResult<Vec<Presence>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, online, last_seen FROM users WHERE id <> ?1 ORDER BY username",
            )?;
            let rows = stmt.query_map([me.to_string()], |r| {
                Ok(Presence {
                    user_id: id_at(r, 0)?,
                    online: r.get(1)?,
                    last_seen: r.get::<_, Option<i64>>(2)?.map(Timestamp::from_millis),
                })
            })?;
            rows.collect()
        })
    }

    /// Saves (or with an empty body, clears) a conversation's draft.
    pub fn set_draft(&self, conversation: ConversationId, body: &str) -> StoreResult<()> {
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

    /// Sets the notification level chosen on this device, to be sent to the server
    /// ([`Self::unsent_notifications`]); until the server has it, the server's copies of
    /// the conversation do not overwrite it. `false` if the conversation is not stored.
    pub fn set_notifications(
        &self,
        conversation: ConversationId,
        level: NotifyLevel,
    ) -> StoreResult<bool> {
        self.write(|tx| {
            tx.execute(
                "UPDATE conversations SET notify = ?2, notify_unsent = 1 WHERE id = ?1",
                params![conversation.to_string(), level.as_str()],
            )
            .map(|n| n == 1)
        })
    }

    /// The levels chosen here that the server does not have yet (conversations this user
    /// left are skipped: the server no longer takes their level).
    pub fn unsent_notifications(&self) -> StoreResult<Vec<(ConversationId, NotifyLevel)>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT id, notify FROM conversations WHERE notify_unsent = 1 AND left_at IS NULL",
            )?;
            let rows = stmt.query_map([], |r| {
                let level: String = r.get(1)?;
                Ok((id_at(r, 0)?, NotifyLevel::parse(&level).unwrap_or_default()))
            })?;
            rows.collect()
        })
    }

    /// The server has `level` for `conversation`: it is no longer unsent, unless a newer
    /// choice was made here meanwhile. Whatever the server's answer, `level` stays.
    pub fn notifications_sent(
        &self,
        conversation: ConversationId,
        level: NotifyLevel,
    ) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE conversations SET notify_unsent = 0 WHERE id = ?1 AND notify = ?2",
                params![conversation.to_string(), level.as_str()],
            )
            .map(drop)
        })
    }

    /// Deletes a message request, or a chat this user blocked, on this device: the list
    /// leaves it out until a message comes past its last seq now (a blocked person sends
    /// none: it stays out until unblocked). `false` (nothing done) when it is neither.
    pub fn dismiss(&self, me: UserId, conversation: ConversationId) -> StoreResult<bool> {
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
    pub fn undismiss(&self, conversation: ConversationId) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE conversations SET dismissed_seq = NULL WHERE id = ?1",
                [conversation.to_string()],
            )
            .map(drop)
        })
    }

    /// Records that this user left a conversation (history stays).
    pub fn mark_left(&self, conversation: ConversationId) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE conversations SET left_at = COALESCE(left_at, ?2) WHERE id = ?1",
                params![conversation.to_string(), Timestamp::now().as_millis()],
            )
            .map(drop)
        })
    }

    /// The direct conversation between `me` and `other`, if known on this device.
    pub fn direct_with(&self, me: UserId, other: UserId) -> StoreResult<Option<ConversationId>> {
        self.read(|tx| {
            tx.query_row(
                "SELECT c.id FROM conversations c \
                 JOIN members a ON a.conversation_id = c.id AND a.user_id = ?1 \
                 JOIN members b ON b.conversation_id = c.id AND b.user_id = ?2 \
                 WHERE c.kind = 'direct'",
                params![me.to_string(), other.to_string()],
                |r| id_at(r, 0),
            )
            .optional()
        })
    }

    /// Whether the conversation is known on this device.
    pub fn has_conversation(&self, id: ConversationId) -> StoreResult<bool> {
        self.read(|tx| {
            tx.query_row(
                "SELECT count(*) > 0 FROM conversations WHERE id = ?1",
                [id.to_string()],
                |r| r.get(0),
            )
        })
    }

    /// Ids of every conversation stored.
    pub fn conversation_ids(&self) -> StoreResult<Vec<ConversationId>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached("SELECT id FROM conversations")?;
            let rows = stmt.query_map([], |r| id_at(r, 0))?;
            rows.collect()
        })
    }
}

fn apply_conversation(tx: &Transaction<'_>, me: UserId, c: &Conversation) -> rusqlite::Result<()> {
    let id = c.id.to_string();
    // Its last message says whether the seqs it brings are someone writing.
    let written = c.last_message.as_ref().map_or(0, |m| m.seq);
    keep_dismissed_past_changes(tx, c.id, written, c.last_seq)?;
    tx.execute(
        "INSERT INTO conversations (id, kind, title, last_seq, created_at, updated_at, mls_epoch) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO UPDATE SET title = excluded.title, \
         last_seq = max(last_seq, excluded.last_seq), \
         updated_at = max(updated_at, excluded.updated_at), \
         mls_epoch = max(mls_epoch, excluded.mls_epoch)",
        params![
            id,
            c.kind.as_str(),
            c.title,
            c.last_seq,
            c.created_at.as_millis(),
            c.updated_at.as_millis(),
            c.mls_epoch
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
    // The server's copy of this user's level, unless one chosen here is still to go.
    if let Some(level) = c.notifications {
        tx.execute(
            "UPDATE conversations SET notify = ?2 WHERE id = ?1 AND notify_unsent = 0",
            params![id, level.as_str()],
        )?;
    }
    if let Some(from) = c.history_from {
        drop_history_below(tx, c.id, from)?;
    }
    // `last_message` is not stored: messages come only through `after_seq` pages and live
    // frames. Messages stored before the conversation was known count from now on.
    advance_contiguous(tx, c.id)
}

/// The server deleted the conversation's history below seq `from` (its retention
/// policy): this device drops it too (the text leaves the search index with the rows),
/// and the history held starts there, so catch-up fetches nothing below it; unread counts
/// leave it out. Messages not sent yet have no seq and stay.
fn drop_history_below(
    tx: &Transaction<'_>,
    conversation: ConversationId,
    from: i64,
) -> rusqlite::Result<()> {
    let key = conversation.to_string();
    tx.prepare_cached(
        "DELETE FROM reactions WHERE message_id IN \
         (SELECT id FROM messages WHERE conversation_id = ?1 AND seq < ?2)",
    )?
    .execute(params![key, from])?;
    tx.prepare_cached("DELETE FROM messages WHERE conversation_id = ?1 AND seq < ?2")?
        .execute(params![key, from])?;
    // What went is not waiting to be read either (the server counts it so): this device's
    // read mark moves to it, as if read here.
    tx.prepare_cached(
        "UPDATE conversations SET contiguous_seq = max(contiguous_seq, ?2 - 1), \
         local_read_seq = max(local_read_seq, ?2 - 1) WHERE id = ?1",
    )?
    .execute(params![key, from])?;
    Ok(())
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
            m.role.as_str(),
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
    me: UserId,
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
    conversation: ConversationId,
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
    me: UserId,
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
    pub conversation_id: ConversationId,
    /// Members who joined or changed.
    pub members: &'a [Member],
    /// Users who are no longer members.
    pub removed: &'a [UserId],
    /// The conversation's `updated_at` after the change.
    pub updated_at: Timestamp,
}

/// Moves `contiguous_seq` over every seq now present right above it.
pub(super) fn advance_contiguous(
    tx: &Transaction<'_>,
    conversation: ConversationId,
) -> rusqlite::Result<()> {
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
