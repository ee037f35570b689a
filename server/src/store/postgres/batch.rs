//! The Postgres batch append: a batch of messages, replies, edits and reactions stored in
//! a constant number of statements whatever its size (arrays bound with `UNNEST`), since
//! it is the round trips and the commit, not the rows, that cost.
//!
//! Everything the rules ask is read once, under the conversations' locks: the messages
//! the batch names and the reactions on those it reacts to ([`Named`]). The batch is then
//! judged in order in memory, so a change sees what the batch's earlier entries did (a
//! reaction to a message sent a moment before, a second reaction against the caps), and
//! what it did is written at the end: the rows, the conversations' heads, the senders'
//! read marks, each edited message's last edit and the difference in reactions. The
//! rules themselves are the ones a change stored alone obeys
//! (`store::messages::change_refusal`). Deletions, attachments and the server's own
//! changes are stored one at a time (`SqlStore::append_special`): they are rare, and
//! what they do reaches into files and other tables.

use std::collections::{HashMap, HashSet};

use ferry_proto::{ChangeKind, ConversationId, MemberState, Message, MessageId, UserId};
use sqlx::postgres::PgConnection;
use uuid::Uuid;

use super::PgStore;
use crate::store::messages::{change_refusal, reactions_full, reply_refusal};
use crate::store::rows::{MessageRow, TargetRow};
use crate::store::{
    Append, Authority, NewMessage, Refusal, StoreResult, check_send, same_or_conflict,
    sealing_refusal, stored,
};

/// Whether the batch path takes `new`: a member's message, reply, edit, reaction or
/// reaction taken back, without files.
pub(super) fn takes(new: &NewMessage) -> bool {
    new.attachments.is_empty()
        && new.sealed.is_none()
        && new.authority == Authority::Member
        && new.change.as_ref().is_none_or(|c| {
            matches!(
                c.kind,
                ChangeKind::Edit | ChangeKind::React | ChangeKind::Unreact
            )
        })
}

/// Stores `batch` (every entry one that [`takes`] takes) inside the caller's transaction.
pub(super) async fn append(
    tx: &mut PgConnection,
    batch: &[NewMessage],
) -> StoreResult<Vec<Append>> {
    debug_assert!(batch.iter().all(takes));
    // Plan this batch's statements afresh. A generic plan cached while `conversations`
    // and `members` were small scans them whole for ever after, and every batch leaves
    // dead row versions behind in both, so those scans grow until autovacuum runs (B5:
    // 400 conversations grew to 400 pages, and scanning them was most of Postgres's
    // time). Planned now, with the batch's ids and the tables' real size, the statements
    // use the primary keys.
    sqlx::query("SET LOCAL plan_cache_mode = force_custom_plan")
        .execute(&mut *tx)
        .await?;
    let ids: Vec<MessageId> = batch.iter().map(|m| m.id).collect();
    let existing: Vec<MessageRow> = sqlx::query_as(concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE id = ANY($1)"
    ))
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut known: HashMap<MessageId, Message> = existing
        .into_iter()
        .map(|row| (row.id, Message::from(row)))
        .collect();
    let mut conversations: Vec<ConversationId> = batch.iter().map(|m| m.conversation_id).collect();
    conversations.sort_unstable();
    conversations.dedup();
    // Row locks until commit, taken in id order (as any multi-row writer must): seq
    // order is commit order, and membership read after them is current.
    let locked: Vec<(ConversationId, i64, i64)> = sqlx::query_as(
        "SELECT id, last_seq, mls_epoch FROM conversations WHERE id = ANY($1) \
         ORDER BY id FOR NO KEY UPDATE",
    )
    .bind(&conversations)
    .fetch_all(&mut *tx)
    .await?;
    // A group's epoch, read under the locks: an encrypted conversation takes no plain
    // message (`sealing_refusal`), and none of this batch's is sealed (`takes`).
    let epochs: HashMap<ConversationId, i64> =
        locked.iter().map(|(id, _, epoch)| (*id, *epoch)).collect();
    let mut last_seq: HashMap<ConversationId, i64> =
        locked.into_iter().map(|(id, seq, _)| (id, seq)).collect();
    let member_rows: Vec<(ConversationId, UserId, String)> = sqlx::query_as(
        "SELECT conversation_id, user_id, state FROM members WHERE conversation_id = ANY($1)",
    )
    .bind(&conversations)
    .fetch_all(&mut *tx)
    .await?;
    let mut members: HashMap<ConversationId, Vec<(UserId, String)>> = HashMap::new();
    for (conversation, user, state) in member_rows {
        members.entry(conversation).or_default().push((user, state));
    }
    // Senders whose account was deleted, read under the locks: a deletion (which stamps
    // these conversations) either waits for this batch, whose messages its erasure then
    // finds, or is seen here, and the send refused; none outlives it.
    let mut senders: Vec<UserId> = batch.iter().map(|m| m.sender_id).collect();
    senders.sort_unstable();
    senders.dedup();
    let deleted: Vec<UserId> =
        sqlx::query_scalar("SELECT id FROM users WHERE id = ANY($1) AND deleted_at IS NOT NULL")
            .bind(&senders)
            .fetch_all(&mut *tx)
            .await?;
    let mut named = Named::read(&mut *tx, batch).await?;

    let mut appends = Vec::with_capacity(batch.len());
    let mut inserted: Vec<(&NewMessage, i64)> = Vec::new();
    // Senders whose message request their send accepts (rare: one statement each).
    let mut accepting: Vec<(ConversationId, UserId)> = Vec::new();
    for new in batch {
        if let Some(existing) = known.get(&new.id) {
            appends.push(same_or_conflict(existing.clone(), new));
            continue;
        }
        if deleted.contains(&new.sender_id) {
            appends.push(Append::NotMember);
            continue;
        }
        let seats = members
            .get_mut(&new.conversation_id)
            .map_or(&mut [][..], Vec::as_mut_slice);
        let accepts = match check_send(
            seats.iter().map(|(user, state)| (*user, state.as_str())),
            new.sender_id,
        ) {
            Ok(accepts) => accepts,
            Err(refused) => {
                appends.push(refused.into());
                continue;
            }
        };
        let Some(last) = last_seq.get_mut(&new.conversation_id) else {
            appends.push(Append::NotMember);
            continue;
        };
        let epoch = epochs.get(&new.conversation_id).copied().unwrap_or(0);
        if let Some(refusal) = sealing_refusal(new, epoch) {
            appends.push(Append::Refused(refusal));
            continue;
        }
        if let Some(refusal) = named.refusal(new) {
            appends.push(Append::Refused(refusal));
            continue;
        }
        if accepts {
            // The batch's later sends see the request accepted.
            for (user, state) in seats.iter_mut() {
                if *user == new.sender_id {
                    *state = MemberState::Accepted.as_str().to_owned();
                }
            }
            accepting.push((new.conversation_id, new.sender_id));
        }
        *last += 1;
        named.apply(new, *last);
        let message = stored(new, *last);
        // A repeat of this id later in the batch is an idempotent resend.
        known.insert(new.id, message.clone());
        inserted.push((new, *last));
        appends.push(Append::Stored {
            message,
            members: seats.iter().map(|(user, _)| *user).collect(),
            accepted: accepts,
        });
    }
    if inserted.is_empty() {
        return Ok(appends);
    }
    for (conversation, user) in accepting {
        PgStore::accept_by_sending(&mut *tx, conversation, user).await?;
    }

    let mut rows = MessageColumns::default();
    for (new, seq) in &inserted {
        rows.push(new, *seq);
    }
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, seq, sender_id, body, created_at, reply_to, \
         change_kind, target, emoji) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::int8[], $4::uuid[], $5::text[], \
         $6::int8[], $7::uuid[], $8::text[], $9::uuid[], $10::text[])",
    )
    .bind(&rows.ids)
    .bind(&rows.conversations)
    .bind(&rows.seqs)
    .bind(&rows.senders)
    .bind(&rows.bodies)
    .bind(&rows.created_at)
    .bind(&rows.reply_to)
    .bind(&rows.change_kinds)
    .bind(&rows.targets)
    .bind(&rows.emoji)
    .execute(&mut *tx)
    .await?;
    // Per conversation: its new last seq and latest activity. A message or a reply moves
    // the activity; a change does not (a reaction does not bring a conversation to the
    // top of the list).
    let mut heads: HashMap<ConversationId, (i64, i64)> = HashMap::new();
    // Per (conversation, sender): sending means having read everything up to it.
    let mut marks: HashMap<(ConversationId, UserId), i64> = HashMap::new();
    for (new, seq) in &inserted {
        let activity = if new.change.is_none() {
            new.created_at.as_millis()
        } else {
            i64::MIN
        };
        let head = heads.entry(new.conversation_id).or_insert((0, i64::MIN));
        *head = (head.0.max(*seq), head.1.max(activity));
        let mark = marks
            .entry((new.conversation_id, new.sender_id))
            .or_insert(0);
        *mark = (*mark).max(*seq);
    }
    let (head_ids, head_values): (Vec<ConversationId>, Vec<(i64, i64)>) = heads.into_iter().unzip();
    let (head_seqs, head_times): (Vec<i64>, Vec<i64>) = head_values.into_iter().unzip();
    sqlx::query(
        "UPDATE conversations c SET last_seq = v.last_seq, \
         updated_at = GREATEST(c.updated_at, v.at), \
         change_version = pg_current_xact_id()::text::bigint \
         FROM UNNEST($1::uuid[], $2::int8[], $3::int8[]) AS v(id, last_seq, at) \
         WHERE c.id = v.id",
    )
    .bind(&head_ids)
    .bind(&head_seqs)
    .bind(&head_times)
    .execute(&mut *tx)
    .await?;
    let (pairs, seqs): (Vec<(ConversationId, UserId)>, Vec<i64>) = marks.into_iter().unzip();
    let (mark_conversations, mark_users): (Vec<ConversationId>, Vec<UserId>) =
        pairs.into_iter().unzip();
    sqlx::query(
        "UPDATE members m SET read_seq = GREATEST(m.read_seq, v.seq), \
         delivered_seq = GREATEST(m.delivered_seq, v.seq) \
         FROM UNNEST($1::uuid[], $2::uuid[], $3::int8[]) AS v(conversation_id, user_id, seq) \
         WHERE m.conversation_id = v.conversation_id AND m.user_id = v.user_id",
    )
    .bind(&mark_conversations)
    .bind(&mark_users)
    .bind(&seqs)
    .execute(&mut *tx)
    .await?;
    // After the rows: an edit or a reaction may name a message inserted just now.
    named.write(&mut *tx).await?;
    Ok(appends)
}

/// What a batch's replies and changes name, as the batch's stored entries leave it.
#[derive(Default)]
struct Named {
    /// The messages named, by id, with their conversation: those read, and every entry
    /// the batch stores (a later change may name it).
    messages: HashMap<MessageId, (ConversationId, TargetRow)>,
    /// The reactions (sender, emoji) on each message the batch reacts to, as read, then
    /// as its reactions leave them.
    reactions: HashMap<MessageId, Vec<(UserId, String)>>,
    /// The reactions as read, to write only the difference.
    reactions_read: HashSet<(MessageId, UserId, String)>,
    /// Each edited message's last edit: its text, time and seq.
    edits: HashMap<MessageId, (String, i64, i64)>,
}

impl Named {
    /// Reads what `batch` names: two statements, or none for a batch of plain messages.
    async fn read(tx: &mut PgConnection, batch: &[NewMessage]) -> StoreResult<Self> {
        let mut ids: Vec<MessageId> = batch
            .iter()
            .flat_map(|m| {
                m.reply_to
                    .into_iter()
                    .chain(m.change.as_ref().map(|c| c.target))
            })
            .collect();
        if ids.is_empty() {
            return Ok(Self::default());
        }
        ids.sort_unstable();
        ids.dedup();
        type Row = (
            MessageId,
            ConversationId,
            UserId,
            Option<String>,
            i64,
            Option<i64>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, conversation_id, sender_id, change_kind, created_at, deleted_at \
             FROM messages WHERE id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        let messages = rows
            .into_iter()
            .map(
                |(id, conversation, sender_id, change_kind, created_at, deleted_at)| {
                    let target = TargetRow {
                        sender_id,
                        change_kind,
                        created_at,
                        deleted_at,
                    };
                    (id, (conversation, target))
                },
            )
            .collect();
        let mut reacted: Vec<MessageId> = batch
            .iter()
            .filter_map(|m| m.change.as_ref())
            .filter(|c| matches!(c.kind, ChangeKind::React | ChangeKind::Unreact))
            .map(|c| c.target)
            .collect();
        reacted.sort_unstable();
        reacted.dedup();
        let mut reactions: HashMap<MessageId, Vec<(UserId, String)>> = HashMap::new();
        let mut reactions_read = HashSet::new();
        if !reacted.is_empty() {
            let rows: Vec<(MessageId, UserId, String)> = sqlx::query_as(
                "SELECT message_id, user_id, emoji FROM reactions WHERE message_id = ANY($1)",
            )
            .bind(&reacted)
            .fetch_all(&mut *tx)
            .await?;
            for (message, user, emoji) in rows {
                reactions
                    .entry(message)
                    .or_default()
                    .push((user, emoji.clone()));
                reactions_read.insert((message, user, emoji));
            }
        }
        Ok(Self {
            messages,
            reactions,
            reactions_read,
            edits: HashMap::new(),
        })
    }

    /// The message `id`, if `conversation` has it.
    fn message(&self, conversation: ConversationId, id: MessageId) -> Option<&TargetRow> {
        self.messages
            .get(&id)
            .filter(|(c, _)| *c == conversation)
            .map(|(_, target)| target)
    }

    /// Why the rules refuse `new` (a member's, without files), as things stand now.
    fn refusal(&self, new: &NewMessage) -> Option<Refusal> {
        if let Some(parent) = new.reply_to
            && let Some(refusal) = reply_refusal(self.message(new.conversation_id, parent))
        {
            return Some(refusal);
        }
        let change = new.change.as_ref()?;
        let Some(target) = self.message(new.conversation_id, change.target) else {
            return Some(Refusal::NoSuchMessage);
        };
        let full = change.kind == ChangeKind::React && {
            let emoji = change.emoji.as_deref().unwrap_or_default();
            let on = self
                .reactions
                .get(&change.target)
                .map_or(&[][..], Vec::as_slice);
            let distinct: HashSet<&str> = on.iter().map(|(_, e)| e.as_str()).collect();
            // Reactions are a set of (sender, emoji): the sender's entries are distinct.
            let by_sender = on.iter().filter(|(u, _)| *u == new.sender_id).count();
            let mine = on.iter().any(|(u, e)| *u == new.sender_id && e == emoji);
            reactions_full(distinct.len(), by_sender, distinct.contains(emoji), mine)
        };
        // Deletions are not batched, so no sender here is judged as a group's owner.
        change_refusal(new, change, target, false, full)
    }

    /// Records what `new`, stored at `seq`, does.
    fn apply(&mut self, new: &NewMessage, seq: i64) {
        let target = TargetRow {
            sender_id: new.sender_id,
            change_kind: new.change.as_ref().map(|c| c.kind.as_str().to_owned()),
            created_at: new.created_at.as_millis(),
            deleted_at: None,
        };
        self.messages.insert(new.id, (new.conversation_id, target));
        let Some(change) = &new.change else {
            return;
        };
        let emoji = change.emoji.clone().unwrap_or_default();
        match change.kind {
            ChangeKind::Edit => {
                // Seq order: the last edit in the batch is the one that stays.
                self.edits.insert(
                    change.target,
                    (new.body.clone(), new.created_at.as_millis(), seq),
                );
            }
            ChangeKind::React => {
                let on = self.reactions.entry(change.target).or_default();
                if !on.iter().any(|(u, e)| *u == new.sender_id && *e == emoji) {
                    on.push((new.sender_id, emoji));
                }
            }
            ChangeKind::Unreact => {
                if let Some(on) = self.reactions.get_mut(&change.target) {
                    on.retain(|(u, e)| !(*u == new.sender_id && *e == emoji));
                }
            }
            ChangeKind::Delete => unreachable!("deletions are stored one at a time (`takes`)"),
        }
    }

    /// Writes what the batch's changes did: each edited message's last text, and the
    /// reactions added and taken back (only the difference from what was read).
    async fn write(self, tx: &mut PgConnection) -> StoreResult<()> {
        if !self.edits.is_empty() {
            let mut ids = Vec::new();
            let mut bodies = Vec::new();
            let mut at = Vec::new();
            let mut seqs = Vec::new();
            for (id, (body, time, seq)) in self.edits {
                ids.push(id);
                bodies.push(body);
                at.push(time);
                seqs.push(seq);
            }
            sqlx::query(
                "UPDATE messages m SET body = v.body, edited_at = v.at, edit_seq = v.seq \
                 FROM UNNEST($1::uuid[], $2::text[], $3::int8[], $4::int8[]) \
                 AS v(id, body, at, seq) WHERE m.id = v.id",
            )
            .bind(&ids)
            .bind(&bodies)
            .bind(&at)
            .bind(&seqs)
            .execute(&mut *tx)
            .await?;
        }
        let now: HashSet<(MessageId, UserId, String)> = self
            .reactions
            .into_iter()
            .flat_map(|(message, on)| on.into_iter().map(move |(u, e)| (message, u, e)))
            .collect();
        let added = Reactions::of(now.difference(&self.reactions_read));
        if !added.messages.is_empty() {
            sqlx::query(
                "INSERT INTO reactions (message_id, user_id, emoji) \
                 SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[]) ON CONFLICT DO NOTHING",
            )
            .bind(&added.messages)
            .bind(&added.users)
            .bind(&added.emoji)
            .execute(&mut *tx)
            .await?;
        }
        let removed = Reactions::of(self.reactions_read.difference(&now));
        if !removed.messages.is_empty() {
            sqlx::query(
                "DELETE FROM reactions r \
                 USING UNNEST($1::uuid[], $2::uuid[], $3::text[]) AS v(message_id, user_id, emoji) \
                 WHERE r.message_id = v.message_id AND r.user_id = v.user_id AND r.emoji = v.emoji",
            )
            .bind(&removed.messages)
            .bind(&removed.users)
            .bind(&removed.emoji)
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }
}

/// Reactions as three arrays (for `UNNEST`).
struct Reactions {
    messages: Vec<MessageId>,
    users: Vec<UserId>,
    emoji: Vec<String>,
}

impl Reactions {
    fn of<'a>(rows: impl Iterator<Item = &'a (MessageId, UserId, String)>) -> Self {
        let mut arrays = Self {
            messages: Vec::new(),
            users: Vec::new(),
            emoji: Vec::new(),
        };
        for (message, user, emoji) in rows {
            arrays.messages.push(*message);
            arrays.users.push(*user);
            arrays.emoji.push(emoji.clone());
        }
        arrays
    }
}

/// The columns of messages to insert, one array each (for `UNNEST`).
#[derive(Default)]
struct MessageColumns {
    ids: Vec<MessageId>,
    conversations: Vec<ConversationId>,
    seqs: Vec<i64>,
    senders: Vec<UserId>,
    bodies: Vec<String>,
    created_at: Vec<i64>,
    reply_to: Vec<Option<Uuid>>,
    change_kinds: Vec<Option<String>>,
    targets: Vec<Option<Uuid>>,
    emoji: Vec<Option<String>>,
}

impl MessageColumns {
    fn push(&mut self, new: &NewMessage, seq: i64) {
        let change = new.change.as_ref();
        self.ids.push(new.id);
        self.conversations.push(new.conversation_id);
        self.seqs.push(seq);
        self.senders.push(new.sender_id);
        self.bodies.push(new.body.clone());
        self.created_at.push(new.created_at.as_millis());
        self.reply_to.push(new.reply_to.map(Into::into));
        self.change_kinds
            .push(change.map(|c| c.kind.as_str().to_owned()));
        self.targets.push(change.map(|c| c.target.into()));
        self.emoji.push(change.and_then(|c| c.emoji.clone()));
    }
}
