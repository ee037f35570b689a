//! [`RetentionStore`] in SQL: the conversations past their policy, found by walking each
//! one's stream from where it is held (on the `(conversation_id, seq)` key) to its first
//! entry young enough to keep, and the deletion below it.

use async_trait::async_trait;
use ferry_proto::{ConversationId, Timestamp, UserId};
use macro_rules_attribute::apply;
use sqlx::AssertSqlSafe;

use super::{Dialect, SqlStore, locked};
use crate::store::{Audit, RetentionStore, StoreResult, Trimmed};

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;

/// The seq conversation `c` keeps from under its policy (`$1`: the server's days, `$2`:
/// now, `$3`: a day), as a literal for `concat!`: its first entry created at or after its
/// cutoff, from where it is held on (seq order is commit order, so the walk stops at the
/// first young one), or the one after its last when none is young. Only for a policy
/// above 0.
macro_rules! keep_from_of_c {
    () => {
        "COALESCE( \
           (SELECT m.seq FROM messages m WHERE m.conversation_id = c.id \
             AND m.seq >= c.history_from \
             AND m.created_at >= $2 - CAST(COALESCE(c.retention_days, $1) AS BIGINT) * $3 \
             ORDER BY m.seq LIMIT 1), \
           c.last_seq + 1) AS keep_from"
    };
}

#[apply(driver_bounds!)]
#[async_trait]
impl<D: Dialect> RetentionStore for SqlStore<D> {
    async fn set_retention(
        &self,
        conversation: ConversationId,
        days: Option<u32>,
        audit: &Audit,
    ) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        let found: Option<ConversationId> = sqlx::query_scalar(
            "UPDATE conversations SET retention_days = $2 WHERE id = $1 RETURNING id",
        )
        .bind(conversation)
        .bind(days.map(i64::from))
        .fetch_optional(&mut *tx)
        .await?;
        if found.is_none() {
            return Ok(false);
        }
        Self::write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn retention_due(
        &self,
        server_days: u32,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<(ConversationId, i64)>> {
        // Per conversation: its first entry created at or after its cutoff, from where it
        // is held on (seq order is commit order, so the walk stops at the first young
        // one); none young: everything up to its last seq goes.
        let rows: Vec<(ConversationId, i64)> = sqlx::query_as(concat!(
            "SELECT id, keep_from FROM (SELECT c.id, c.history_from, ",
            keep_from_of_c!(),
            " FROM conversations c WHERE COALESCE(c.retention_days, $1) > 0) due \
             WHERE keep_from > history_from ORDER BY id LIMIT $4"
        ))
        .bind(i64::from(server_days))
        .bind(now.as_millis())
        .bind(DAY_MS)
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await?;
        Ok(rows)
    }

    async fn trim_history(
        &self,
        conversation: ConversationId,
        server_days: u32,
        now: Timestamp,
        step: i64,
    ) -> StoreResult<Option<Trimmed>> {
        let mut tx = self.write().await?;
        let held: Option<i64> = sqlx::query_scalar(locked(
            "SELECT c.history_from FROM conversations c WHERE c.id = $1",
            D::lock("c"),
        ))
        .bind(conversation)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(held) = held else {
            return Ok(None);
        };
        // What is due now, under the lock: the policy may have changed since the
        // conversation was found due.
        let due: Option<i64> = sqlx::query_scalar(concat!(
            "SELECT ",
            keep_from_of_c!(),
            " FROM conversations c WHERE c.id = $4 AND COALESCE(c.retention_days, $1) > 0"
        ))
        .bind(i64::from(server_days))
        .bind(now.as_millis())
        .bind(DAY_MS)
        .bind(conversation)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(due) = due.filter(|&due| due > held) else {
            return Ok(None);
        };
        let from = due.min(held.saturating_add(step.max(1)));
        let files: Vec<String> = sqlx::query_scalar(
            "DELETE FROM uploads WHERE message_id IN \
             (SELECT id FROM messages WHERE conversation_id = $1 AND seq < $2) RETURNING sha256",
        )
        .bind(conversation)
        .bind(from)
        .fetch_all(&mut *tx)
        .await?;
        for sha256 in files {
            Self::orphan(&mut tx, &sha256, now.as_millis()).await?;
        }
        sqlx::query(
            "DELETE FROM reactions WHERE message_id IN \
             (SELECT id FROM messages WHERE conversation_id = $1 AND seq < $2)",
        )
        .bind(conversation)
        .bind(from)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM messages WHERE conversation_id = $1 AND seq < $2")
            .bind(conversation)
            .bind(from)
            .execute(&mut *tx)
            .await?;
        // The members' devices find the new start through `/sync`.
        Self::advance_clock(&mut tx).await?;
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE conversations SET history_from = $2, change_version = {} WHERE id = $1",
            D::CHANGE_VERSION
        )))
        .bind(conversation)
        .bind(from)
        .execute(&mut *tx)
        .await?;
        let members: Vec<UserId> =
            sqlx::query_scalar("SELECT user_id FROM members WHERE conversation_id = $1")
                .bind(conversation)
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(Some(Trimmed {
            members,
            // Seqs are gapless where held: every one below `from` was an entry.
            entries: u64::try_from(from - held).unwrap_or(0),
            done: from == due,
        }))
    }
}
