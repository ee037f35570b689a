//! [`DigestStore`] in SQL: users due a missed-message digest, the claim that lets one node
//! send it, and the unread direct messages it lists.

use async_trait::async_trait;
use ferry_proto::{Timestamp, UserId};
use macro_rules_attribute::apply;
use uuid::Uuid;

use super::{Dialect, SqlStore};
use crate::store::{DigestDue, DigestStore, MissedMessage, StoreResult};

/// The unread messages from others in `u`'s accepted direct conversations whose every
/// message they asked to be told of (level `all`), newer than their last digest: a
/// condition on `me` (the user's member rows) and `m` (messages).
const MISSED: &str = "me.state = 'accepted' AND me.notify = 'all' AND c.kind = 'direct' \
     AND m.seq > me.read_seq \
     AND m.sender_id <> me.user_id AND m.change_kind IS NULL AND m.deleted_at IS NULL";

#[apply(driver_bounds!)]
#[async_trait]
impl<D: Dialect> DigestStore for SqlStore<D> {
    async fn digests_due(
        &self,
        offline_before: Timestamp,
        sent_before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<DigestDue>> {
        let rows: Vec<DigestDue> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT u.id AS user_id, u.email, u.last_digest_at FROM users u \
             WHERE u.missed_message_mail = $3 AND u.email IS NOT NULL \
             AND u.email_verified_at IS NOT NULL AND u.deleted_at IS NULL \
             AND u.suspended_at IS NULL \
             AND (u.last_seen_at IS NULL OR u.last_seen_at < $1) \
             AND (u.last_digest_at IS NULL OR u.last_digest_at < $2) \
             AND NOT EXISTS (SELECT 1 FROM node_users n WHERE n.user_id = u.id) \
             AND EXISTS (SELECT 1 FROM members me \
               JOIN conversations c ON c.id = me.conversation_id \
               JOIN messages m ON m.conversation_id = me.conversation_id \
               WHERE me.user_id = u.id AND {MISSED} \
               AND m.created_at > COALESCE(u.last_digest_at, 0)) \
             ORDER BY u.id LIMIT $4"
        )))
        .bind(offline_before.as_millis())
        .bind(sent_before.as_millis())
        .bind(true)
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        Ok(rows)
    }

    async fn claim_digest(
        &self,
        user: UserId,
        sent_before: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let claimed: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE users SET last_digest_at = $3 WHERE id = $1 \
             AND (last_digest_at IS NULL OR last_digest_at < $2) RETURNING id",
        )
        .bind(user)
        .bind(sent_before.as_millis())
        .bind(now.as_millis())
        .fetch_optional(&self.writer)
        .await?;
        Ok(claimed.is_some())
    }

    async fn missed_messages(
        &self,
        user: UserId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<MissedMessage>> {
        let rows: Vec<MissedMessage> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT m.conversation_id, s.display_name AS sender_name, m.body, \
             m.sealed IS NOT NULL AS sealed, m.created_at \
             FROM members me JOIN conversations c ON c.id = me.conversation_id \
             JOIN messages m ON m.conversation_id = me.conversation_id \
             JOIN users s ON s.id = m.sender_id \
             WHERE me.user_id = $1 AND {MISSED} AND m.created_at > $2 \
             ORDER BY m.created_at, m.conversation_id, m.seq LIMIT $3"
        )))
        .bind(user)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        Ok(rows)
    }
}
