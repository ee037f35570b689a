//! [`SafetyStore`] in SQL: blocks, which set the direct conversation's member state in
//! the same transaction, and reports.

use async_trait::async_trait;
use ferry_proto::{ConversationId, MemberState, Timestamp, User, UserId};
use macro_rules_attribute::apply;
use uuid::Uuid;

use super::{Conn, Dialect, SqlStore, locked};
use crate::store::rows::{UserRow, member_state};
use crate::store::{Block, NewReport, SafetyStore, StoreError, StoreResult, direct_key};

#[apply(driver_bounds!)]
impl<D: Dialect> SqlStore<D> {
    /// Sets `user`'s state in the direct conversation between `user` and `other` where it
    /// is `from`: the conversation, if that changed it.
    pub(super) async fn set_direct_state(
        conn: &mut Conn<D>,
        user: UserId,
        other: UserId,
        from: MemberState,
        to: MemberState,
    ) -> StoreResult<Option<ConversationId>> {
        let id: Option<ConversationId> = sqlx::query_scalar(locked(
            "SELECT c.id FROM conversations c WHERE c.direct_key = $1",
            D::lock("c"),
        ))
        .bind(direct_key(user, other))
        .fetch_optional(&mut *conn)
        .await?;
        let Some(id) = id else {
            return Ok(None);
        };
        let changed: Option<Uuid> = sqlx::query_scalar(
            "UPDATE members SET state = $4 WHERE conversation_id = $1 AND user_id = $2 AND state = $3 \
             RETURNING user_id",
        )
        .bind(id)
        .bind(user)
        .bind(from.as_str().to_owned())
        .bind(to.as_str().to_owned())
        .fetch_optional(&mut *conn)
        .await?;
        if changed.is_none() {
            return Ok(None);
        }
        Self::mark_changed(conn, id).await?;
        Ok(Some(id))
    }
}

#[apply(driver_bounds!)]
#[async_trait]
impl<D: Dialect> SafetyStore for SqlStore<D> {
    async fn block(
        &self,
        blocker: UserId,
        blocked: UserId,
        now: Timestamp,
    ) -> StoreResult<Option<ConversationId>> {
        let mut tx = self.write().await?;
        if !Self::users_exist(&mut tx, &[blocked]).await? {
            return Err(StoreError::UnknownUser);
        }
        let key = direct_key(blocker, blocked);
        // A direct conversation being made between the two commits before this, or sees
        // the block.
        Self::lock_pair(&mut tx, &key).await?;
        let direct: Option<(ConversationId, String)> = sqlx::query_as(locked(
            "SELECT c.id, m.state FROM conversations c \
             JOIN members m ON m.conversation_id = c.id AND m.user_id = $2 \
             WHERE c.direct_key = $1",
            D::lock("c"),
        ))
        .bind(&key)
        .bind(blocker)
        .fetch_optional(&mut *tx)
        .await?;
        // What the blocker's state was, for unblocking to restore: a request declined by
        // a block is a request again afterwards, not a conversation accepted.
        let before = match &direct {
            Some((_, state)) if state == MemberState::Request.as_str() => MemberState::Request,
            _ => MemberState::Accepted,
        };
        let new: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO blocks (blocker_id, blocked_id, created_at, direct_state) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (blocker_id, blocked_id) DO NOTHING \
             RETURNING blocker_id",
        )
        .bind(blocker)
        .bind(blocked)
        .bind(now.as_millis())
        .bind(before.as_str().to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        let changed = match direct {
            Some((id, _)) if new.is_some() => {
                sqlx::query(
                    "UPDATE members SET state = 'blocked' WHERE conversation_id = $1 AND user_id = $2",
                )
                .bind(id)
                .bind(blocker)
                .execute(&mut *tx)
                .await?;
                Self::mark_changed(&mut tx, id).await?;
                Some(id)
            }
            _ => None,
        };
        tx.commit().await?;
        Ok(changed)
    }

    async fn unblock(
        &self,
        blocker: UserId,
        blocked: UserId,
    ) -> StoreResult<Option<ConversationId>> {
        let mut tx = self.write().await?;
        Self::lock_pair(&mut tx, &direct_key(blocker, blocked)).await?;
        let before: Option<String> = sqlx::query_scalar(
            "DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2 RETURNING direct_state",
        )
        .bind(blocker)
        .bind(blocked)
        .fetch_optional(&mut *tx)
        .await?;
        let changed = match before {
            Some(state) => {
                Self::set_direct_state(
                    &mut tx,
                    blocker,
                    blocked,
                    MemberState::Blocked,
                    member_state(&state)?,
                )
                .await?
            }
            None => None,
        };
        tx.commit().await?;
        Ok(changed)
    }

    async fn blocks_among(&self, conversation_id: ConversationId) -> StoreResult<Vec<Block>> {
        Ok(sqlx::query_as(
            "SELECT b.blocker_id AS blocker, b.blocked_id AS blocked FROM blocks b \
             JOIN members m1 ON m1.user_id = b.blocker_id AND m1.conversation_id = $1 \
             JOIN members m2 ON m2.user_id = b.blocked_id AND m2.conversation_id = $1",
        )
        .bind(conversation_id)
        .fetch_all(&self.readers)
        .await?)
    }

    async fn shared_conversations(&self, a: UserId, b: UserId) -> StoreResult<Vec<ConversationId>> {
        Ok(sqlx::query_scalar(
            "SELECT ma.conversation_id FROM members ma JOIN members mb \
             ON mb.conversation_id = ma.conversation_id AND mb.user_id = $2 \
             WHERE ma.user_id = $1",
        )
        .bind(a)
        .bind(b)
        .fetch_all(&self.readers)
        .await?)
    }

    async fn blocked_users(&self, blocker: UserId) -> StoreResult<Vec<User>> {
        let rows: Vec<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(u),
            " FROM blocks b JOIN users u ON u.id = b.blocked_id WHERE b.blocker_id = $1 \
                 ORDER BY b.created_at DESC, u.username"
        ))
        .bind(blocker)
        .fetch_all(&self.readers)
        .await?;
        Ok(rows.into_iter().map(User::from).collect())
    }

    async fn report(&self, report: &NewReport) -> StoreResult<bool> {
        let stored: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO reports (id, reporter_id, reported_id, conversation_id, message_id, reason, created_at, copies) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE $5 IS NULL OR EXISTS \
             (SELECT 1 FROM messages WHERE id = $5 AND conversation_id = $4 AND sender_id = $3) \
             RETURNING id",
        )
        .bind(report.id)
        .bind(report.reporter)
        .bind(report.reported)
        .bind(report.conversation_id)
        .bind(report.message_id)
        .bind(&report.reason)
        .bind(report.created_at.as_millis())
        .bind(copies_json(&report.copies))
        .fetch_optional(&self.writer)
        .await?;
        Ok(stored.is_some())
    }
}

/// A report's copies as stored: JSON, or nothing when there are none.
fn copies_json(copies: &[ferry_proto::ReportedCopy]) -> Option<String> {
    (!copies.is_empty())
        .then(|| serde_json::to_string(copies).expect("ids and strings always serialize"))
}
