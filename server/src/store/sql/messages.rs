//! [`MessageStore`] in SQL: appends (one, or a batch by the dialect's fastest path),
//! replies and changes checked against the message they name, history pages and
//! watermarks.

use async_trait::async_trait;
use ferry_proto::{
    ChangeKind, ConversationId, ConversationKind, MemberState, Message, MessageId, Role, UserId,
};
use macro_rules_attribute::apply;
use sqlx::{AssertSqlSafe, QueryBuilder};

use super::{Conn, Dialect, SqlStore, is_unique_violation, locked};
use crate::store::messages::{change_refusal, reactions_full, reply_refusal};
use crate::store::rows::{self, MessageRow, TargetRow, UploadRow, member_state};
use crate::store::{
    Append, Authority, Mark, MessageStore, NewMessage, Refusal, StoreError, StoreResult,
    Watermarks, advanced, check_send, same_or_conflict, sealing_refusal, stored,
};

#[apply(driver_bounds!)]
impl<D: Dialect> SqlStore<D> {
    /// Stores a batch that holds messages the dialect's batch path does not take
    /// ([`Dialect::batches`]: on SQLite any reply or change, on Postgres deletions,
    /// attachments and the server's own changes). Order matters only within a
    /// conversation, so the conversations without such a message keep the batch path,
    /// all in one call; in the others, runs of what it takes go through it and each
    /// other message through [`Self::append_special`], in the batch's order (a change may
    /// name a message stored just before it). An id used in
    /// two conversations is a conflict whichever is stored first.
    pub(super) async fn append_mixed(
        conn: &mut Conn<D>,
        batch: &[NewMessage],
    ) -> StoreResult<Vec<Append>> {
        // Every conversation of the batch is locked first, in id order, in one statement
        // (as any multi-row writer must, so that Postgres transactions cannot deadlock);
        // the calls below then find their locks held.
        let mut conversations: Vec<ConversationId> =
            batch.iter().map(|m| m.conversation_id).collect();
        conversations.sort_unstable();
        conversations.dedup();
        let mut lock = QueryBuilder::new("SELECT c.id FROM conversations c WHERE ");
        D::push_in(&mut lock, "c.id", &conversations);
        lock.push(" ORDER BY c.id ").push(D::lock("c"));
        lock.build().execute(&mut *conn).await?;

        let careful: std::collections::HashSet<ConversationId> = batch
            .iter()
            .filter(|m| !D::batches(m))
            .map(|m| m.conversation_id)
            .collect();
        let (slow, fast): (Vec<usize>, Vec<usize>) =
            (0..batch.len()).partition(|&i| careful.contains(&batch[i].conversation_id));
        let mut appends: Vec<Option<Append>> = vec![None; batch.len()];
        if !fast.is_empty() {
            let plain: Vec<NewMessage> = fast.iter().map(|&i| batch[i].clone()).collect();
            for (i, append) in fast.iter().zip(D::append_batch(&mut *conn, &plain).await?) {
                appends[*i] = Some(append);
            }
        }
        let mut rest = &slow[..];
        while let Some(&first) = rest.first() {
            if D::batches(&batch[first]) {
                let run = rest.iter().take_while(|&&i| D::batches(&batch[i])).count();
                let plain: Vec<NewMessage> =
                    rest[..run].iter().map(|&i| batch[i].clone()).collect();
                for (i, append) in rest[..run]
                    .iter()
                    .zip(D::append_batch(&mut *conn, &plain).await?)
                {
                    appends[*i] = Some(append);
                }
                rest = &rest[run..];
            } else {
                appends[first] = Some(Self::append_special(&mut *conn, &batch[first]).await?);
                rest = &rest[1..];
            }
        }
        Ok(appends
            .into_iter()
            .map(|a| a.expect("every message of the batch was stored or refused"))
            .collect())
    }

    /// Whether `user`'s account was deleted: it sends nothing more. Callers read it under
    /// the conversation's lock, which the deletion also takes, so no send of theirs is
    /// stored after the deletion and missed by the erasure.
    pub(crate) async fn sender_deleted(conn: &mut Conn<D>, user: UserId) -> StoreResult<bool> {
        let deleted: Option<i64> = sqlx::query_scalar(
            "SELECT deleted_at FROM users WHERE id = $1 AND deleted_at IS NOT NULL",
        )
        .bind(user)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(deleted.is_some())
    }

    /// Stores one reply or change, checking the rules about the message it names and
    /// applying what a change does to it, all under the conversation's lock (held by
    /// the caller): concurrent edits resolve in seq order, the last one wins.
    pub(super) async fn append_special(
        conn: &mut Conn<D>,
        new: &NewMessage,
    ) -> StoreResult<Append> {
        if let Some(existing) = Self::message_by_id(conn, new.id).await? {
            return Ok(same_or_conflict(existing, new));
        }
        // The conversation's lock first (as every writer takes it), and under it the
        // group's epoch: a commit cannot move it between this check and the insert.
        let epoch: Option<(i64,)> = sqlx::query_as(locked(
            "SELECT c.mls_epoch FROM conversations c WHERE c.id = $1",
            D::lock("c"),
        ))
        .bind(new.conversation_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((epoch,)) = epoch else {
            return Ok(Append::NotMember);
        };
        let seats = Self::seats_in(conn, new.conversation_id).await?;
        let (group_owner, accepts) = match new.authority {
            Authority::Member => {
                // Read under the conversation's lock, as in the batch paths: a deleted
                // account sends no change its erasure could miss.
                if Self::sender_deleted(&mut *conn, new.sender_id).await? {
                    return Ok(Append::NotMember);
                }
                let place: Option<(String, String)> = sqlx::query_as(
                    "SELECT m.role, c.kind FROM members m \
                     JOIN conversations c ON c.id = m.conversation_id \
                     WHERE m.conversation_id = $1 AND m.user_id = $2",
                )
                .bind(new.conversation_id)
                .bind(new.sender_id)
                .fetch_optional(&mut *conn)
                .await?;
                let Some((role, kind)) = place else {
                    return Ok(Append::NotMember);
                };
                let group_owner = rows::role(&role)? == Role::Owner
                    && rows::kind(&kind)? == ConversationKind::Group;
                match check_send(
                    seats.iter().map(|s| (s.user, s.state.as_str())),
                    new.sender_id,
                ) {
                    Ok(accepts) => (group_owner, accepts),
                    Err(refused) => return Ok(refused.into()),
                }
            }
            // Only undoing: the account's own messages and reactions (checked below).
            Authority::Erasure => match &new.change {
                Some(c) if matches!(c.kind, ChangeKind::Delete | ChangeKind::Unreact) => {
                    (false, false)
                }
                _ => return Ok(Append::Refused(Refusal::NotAllowed)),
            },
            // Only a deletion, named as from the message's author (checked below).
            Authority::Operator => match &new.change {
                Some(c) if c.kind == ChangeKind::Delete => (false, false),
                _ => return Ok(Append::Refused(Refusal::NotAllowed)),
            },
        };
        if let Some(refusal) = sealing_refusal(new, epoch) {
            return Ok(Append::Refused(refusal));
        }
        if let Some(parent) = new.reply_to {
            let parent = Self::target(conn, new.conversation_id, parent).await?;
            if let Some(refusal) = reply_refusal(parent.as_ref()) {
                return Ok(Append::Refused(refusal));
            }
        }
        let attachments = match Self::uploads_to_attach(conn, new).await? {
            Ok(attachments) => attachments,
            Err(refusal) => return Ok(Append::Refused(refusal)),
        };
        if let Some(change) = &new.change {
            let Some(target) = Self::target(conn, new.conversation_id, change.target).await? else {
                return Ok(Append::Refused(Refusal::NoSuchMessage));
            };
            // A sealed reaction's emoji is the group's secret: no cap counts it.
            let full = change.kind == ChangeKind::React
                && new.sealed.is_none()
                && Self::reactions_full(conn, new).await?;
            if let Some(refusal) = change_refusal(new, change, &target, group_owner, full) {
                return Ok(Append::Refused(refusal));
            }
        }
        // A reply is a message: it moves the conversation's activity; a change does not
        // (a reaction does not bring a conversation to the top of the list).
        let activity = if new.change.is_none() {
            new.created_at.as_millis()
        } else {
            i64::MIN
        };
        // The seq, the activity and the `/sync` version in one statement.
        Self::advance_clock(conn).await?;
        let seq: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "UPDATE conversations SET last_seq = last_seq + 1, updated_at = {}(updated_at, $2), \
             change_version = {} WHERE id = $1 RETURNING last_seq",
            D::GREATEST,
            D::CHANGE_VERSION
        )))
        .bind(new.conversation_id)
        .bind(activity)
        .fetch_one(&mut *conn)
        .await?;
        let change = new.change.as_ref();
        let attachments_json = (!attachments.is_empty())
            .then(|| serde_json::to_string(&attachments).expect("attachments serialize"));
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, seq, sender_id, body, created_at, \
             reply_to, change_kind, target, emoji, attachments, removed_by_operator, sealed) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(new.id)
        .bind(new.conversation_id)
        .bind(seq)
        .bind(new.sender_id)
        .bind(new.body.clone())
        .bind(new.created_at.as_millis())
        .bind(new.reply_to)
        .bind(change.map(|c| c.kind.as_str().to_owned()))
        .bind(change.map(|c| c.target))
        .bind(change.and_then(|c| c.emoji.clone()))
        .bind(attachments_json)
        .bind(new.authority == Authority::Operator)
        .bind(new.sealed.as_ref().map(|s| s.bytes.clone()))
        .execute(&mut *conn)
        .await?;
        if !new.attachments.is_empty() {
            let mut attach = QueryBuilder::new("UPDATE uploads SET conversation_id = ");
            attach
                .push_bind(new.conversation_id)
                .push(", message_id = ")
                .push_bind(new.id)
                .push(" WHERE ");
            D::push_in(&mut attach, "id", &new.attachments);
            attach.build().execute(&mut *conn).await?;
        }
        if let Some(change) = change {
            Self::apply_change(conn, new, change, seq).await?;
        }
        // Sending anything means the sender has read and stored everything up to it (a
        // member's send: an operator's removal, named as from the author, is not theirs).
        if new.authority != Authority::Operator {
            sqlx::query(AssertSqlSafe(format!(
            "UPDATE members SET read_seq = {g}(read_seq, $3), delivered_seq = {g}(delivered_seq, $3) \
             WHERE conversation_id = $1 AND user_id = $2",
            g = D::GREATEST
        )))
        .bind(new.conversation_id)
        .bind(new.sender_id)
        .bind(seq)
        .execute(&mut *conn)
        .await?;
        }
        let mut message = stored(new, seq);
        message.attachments = attachments;
        if accepts {
            Self::accept_by_sending(conn, new.conversation_id, new.sender_id).await?;
        }
        Ok(Append::Stored {
            message,
            members: seats.iter().map(|s| s.user).collect(),
            accepted: accepts,
        })
    }

    /// The uploads a message names, as attachments in its order, if each is a stored
    /// upload of the sender's that no message carries yet.
    pub(super) async fn uploads_to_attach(
        conn: &mut Conn<D>,
        new: &NewMessage,
    ) -> StoreResult<Result<Vec<ferry_proto::Attachment>, Refusal>> {
        if new.attachments.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        let mut query = QueryBuilder::new(concat!(
            "SELECT ",
            upload_columns!(),
            " FROM uploads WHERE "
        ));
        D::push_in(&mut query, "id", &new.attachments);
        // Locked until the send commits: a second send naming the same upload (from
        // another conversation, so under another lock) waits, then finds it sent.
        query.push(" ");
        query.push(D::lock("uploads"));
        let rows: Vec<UploadRow> = query.build_query_as().fetch_all(&mut *conn).await?;
        let attachments: Option<Vec<ferry_proto::Attachment>> = new
            .attachments
            .iter()
            .map(|id| {
                rows.iter()
                    .find(|r| r.id == *id && r.owner_id == new.sender_id && r.message_id.is_none())
                    .and_then(UploadRow::attachment)
            })
            .collect();
        Ok(attachments.ok_or(Refusal::NoSuchUpload))
    }

    /// The message `id` of `conversation`, as a change or a reply sees it.
    pub(super) async fn target(
        conn: &mut Conn<D>,
        conversation: ConversationId,
        id: MessageId,
    ) -> StoreResult<Option<TargetRow>> {
        Ok(sqlx::query_as(
            "SELECT sender_id, change_kind, created_at, deleted_at FROM messages \
             WHERE id = $1 AND conversation_id = $2",
        )
        .bind(id)
        .bind(conversation)
        .fetch_optional(&mut *conn)
        .await?)
    }

    /// Whether one more reaction by `new`'s sender would pass a cap on the message it
    /// names ([`reactions_full`]), as the table stands.
    pub(super) async fn reactions_full(conn: &mut Conn<D>, new: &NewMessage) -> StoreResult<bool> {
        let Some(change) = &new.change else {
            return Ok(false);
        };
        let (on_message, by_sender, there, mine): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT count(DISTINCT emoji), count(DISTINCT CASE WHEN user_id = $2 THEN emoji END), \
             count(CASE WHEN emoji = $3 THEN 1 END), \
             count(CASE WHEN emoji = $3 AND user_id = $2 THEN 1 END) \
             FROM reactions WHERE message_id = $1",
        )
        .bind(change.target)
        .bind(new.sender_id)
        .bind(change.emoji.clone().unwrap_or_default())
        .fetch_one(&mut *conn)
        .await?;
        let count = |n: i64| usize::try_from(n).unwrap_or(usize::MAX);
        Ok(reactions_full(
            count(on_message),
            count(by_sender),
            there > 0,
            mine > 0,
        ))
    }

    /// What a stored change does to the message it names.
    pub(super) async fn apply_change(
        conn: &mut Conn<D>,
        new: &NewMessage,
        change: &ferry_proto::Change,
        seq: i64,
    ) -> StoreResult<()> {
        let emoji = change.emoji.clone().unwrap_or_default();
        match change.kind {
            ChangeKind::Edit => {
                sqlx::query(
                    "UPDATE messages SET body = $2, edited_at = $3, edit_seq = $4 WHERE id = $1",
                )
                .bind(change.target)
                .bind(new.body.clone())
                .bind(new.created_at.as_millis())
                .bind(seq)
                .execute(&mut *conn)
                .await?;
            }
            ChangeKind::Delete => {
                // The text goes from the server: the message's, and every edit's.
                sqlx::query(
                    "UPDATE messages SET body = '', attachments = NULL, sealed = NULL, \
                     deleted_at = COALESCE(deleted_at, $2), \
                     removed_by_operator = (removed_by_operator OR $3) WHERE id = $1",
                )
                .bind(change.target)
                .bind(new.created_at.as_millis())
                .bind(new.authority == Authority::Operator)
                .execute(&mut *conn)
                .await?;
                // Its files go too: the blobs once nothing else names them (the sweeper).
                let files: Vec<String> = sqlx::query_scalar(
                    "DELETE FROM uploads WHERE message_id = $1 RETURNING sha256",
                )
                .bind(change.target)
                .fetch_all(&mut *conn)
                .await?;
                for sha256 in files {
                    Self::orphan(&mut *conn, &sha256, new.created_at.as_millis()).await?;
                }
                sqlx::query(
                    "UPDATE messages SET body = '', sealed = NULL \
                     WHERE target = $1 AND change_kind = 'edit'",
                )
                .bind(change.target)
                .execute(&mut *conn)
                .await?;
                sqlx::query("DELETE FROM reactions WHERE message_id = $1")
                    .bind(change.target)
                    .execute(&mut *conn)
                    .await?;
            }
            // A sealed reaction's emoji is inside it: the table of who reacted with what
            // (for the caps) knows nothing of it.
            ChangeKind::React | ChangeKind::Unreact if new.sealed.is_some() => {}
            ChangeKind::React => {
                sqlx::query(
                    "INSERT INTO reactions (message_id, user_id, emoji) VALUES ($1, $2, $3) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(change.target)
                .bind(new.sender_id)
                .bind(emoji)
                .execute(&mut *conn)
                .await?;
            }
            ChangeKind::Unreact => {
                sqlx::query(
                    "DELETE FROM reactions WHERE message_id = $1 AND user_id = $2 AND emoji = $3",
                )
                .bind(change.target)
                .bind(new.sender_id)
                .bind(emoji)
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }

    pub(super) async fn message_by_id(
        conn: &mut Conn<D>,
        id: MessageId,
    ) -> StoreResult<Option<Message>> {
        let row: Option<MessageRow> = sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(row.map(Message::from))
    }
}

#[apply(driver_bounds!)]
#[async_trait]
impl<D: Dialect> MessageStore for SqlStore<D> {
    async fn append(&self, new: &NewMessage) -> StoreResult<Append> {
        match self.append_batch(std::slice::from_ref(new)).await {
            Ok(mut appends) => Ok(appends.pop().expect("one result per message")),
            Err(StoreError::Database(e)) if is_unique_violation(&e) => {
                // The same id was committed by a concurrent send in the meantime.
                let mut conn = self.readers.acquire().await?;
                match Self::message_by_id(&mut conn, new.id).await? {
                    Some(existing) => Ok(same_or_conflict(existing, new)),
                    None => Err(StoreError::Database(e)),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn append_batch(&self, batch: &[NewMessage]) -> StoreResult<Vec<Append>> {
        // A unique violation (the same id committed meanwhile by another node) fails the
        // whole batch; the committer then stores its messages one by one.
        let mut tx = self.write().await?;
        let appends = if batch.iter().all(D::batches) {
            D::append_batch(&mut tx, batch).await?
        } else {
            Self::append_mixed(&mut tx, batch).await?
        };
        tx.commit().await?;
        Ok(appends)
    }

    async fn messages_after(
        &self,
        conversation_id: ConversationId,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let rows: Vec<MessageRow> = sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        ))
        .bind(conversation_id)
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().map(Message::from).collect())
    }

    async fn messages_before(
        &self,
        conversation_id: ConversationId,
        before_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        let mut rows: Vec<MessageRow> = sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3"
        ))
        .bind(conversation_id)
        .bind(before_seq.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        rows.reverse();
        Ok(rows.into_iter().map(Message::from).collect())
    }

    async fn changes_after(
        &self,
        conversation_id: ConversationId,
        after_seq: i64,
    ) -> StoreResult<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT seq FROM messages WHERE conversation_id = $1 AND seq > $2 \
             AND change_kind IS NOT NULL ORDER BY seq",
        )
        .bind(conversation_id)
        .bind(after_seq)
        .fetch_all(&self.readers)
        .await?)
    }

    async fn advance(
        &self,
        conversation_id: ConversationId,
        user: UserId,
        mark: Mark,
        seq: i64,
    ) -> StoreResult<Option<(Watermarks, bool)>> {
        let mut tx = self.write().await?;
        // Lock order: conversation, then member row (as in append).
        let last_seq: Option<i64> = sqlx::query_scalar(locked(
            "SELECT c.last_seq FROM conversations c WHERE c.id = $1",
            D::lock("c"),
        ))
        .bind(conversation_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(last_seq) = last_seq else {
            return Ok(None);
        };
        let marks: Option<(i64, i64, String)> = sqlx::query_as(locked(
            "SELECT m.read_seq, m.delivered_seq, m.state FROM members m \
             WHERE m.conversation_id = $1 AND m.user_id = $2",
            D::lock("m"),
        ))
        .bind(conversation_id)
        .bind(user)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((read_seq, delivered_seq, state)) = marks else {
            return Ok(None);
        };
        let (marks, moved) = advanced(
            Watermarks {
                read_seq,
                delivered_seq,
            },
            mark,
            seq,
            last_seq,
        );
        if moved {
            sqlx::query(
                "UPDATE members SET read_seq = $3, delivered_seq = $4 \
                 WHERE conversation_id = $1 AND user_id = $2",
            )
            .bind(conversation_id)
            .bind(user)
            .bind(marks.read_seq)
            .bind(marks.delivered_seq)
            .execute(&mut *tx)
            .await?;
            if member_state(&state)? == MemberState::Accepted {
                Self::mark_changed(&mut tx, conversation_id).await?;
            } else {
                // Only their own devices may see it move: a conversation marked changed
                // for everyone would tell a stranger when their request was delivered
                // and read.
                Self::advance_clock(&mut tx).await?;
                sqlx::query(AssertSqlSafe(format!(
                    "UPDATE members SET own_version = {} \
                     WHERE conversation_id = $1 AND user_id = $2",
                    D::CHANGE_VERSION
                )))
                .bind(conversation_id)
                .bind(user)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(Some((marks, moved)))
    }
}
