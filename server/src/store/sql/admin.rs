//! [`AdminStore`] in SQL: administrators, suspensions (the account's sessions end in the
//! same transaction), the reports queue, and the audit log, written in the transaction
//! of the change it records.

use std::collections::HashMap;

use async_trait::async_trait;
use ferry_proto::{
    AdminUser, AuditEntry, ConversationId, Message, MessageId, ReportId, ReportState, SessionId,
    Timestamp, User, UserId,
};
use macro_rules_attribute::apply;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::{Conn, Dialect, SqlStore};
use crate::store::rows::{MessageRow, UserRow};
use crate::store::{AdminStore, Audit, Decided, ReportRecord, StoreError, StoreResult};

/// An account with what an operator sees of it.
#[derive(sqlx::FromRow)]
pub(crate) struct AccountViewRow {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub admin: bool,
    pub email: Option<String>,
    pub suspended_reason: Option<String>,
    pub sessions: i64,
    pub open_reports: i64,
}

/// A report as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct ReportRow {
    pub id: ReportId,
    pub reporter_id: UserId,
    pub reported_id: UserId,
    pub conversation_id: Option<ConversationId>,
    pub message_id: Option<MessageId>,
    pub reason: String,
    pub copies: Option<String>,
    pub created_at: i64,
    pub state: String,
    pub decided_by: Option<UserId>,
    pub decision_note: Option<String>,
    pub decided_at: Option<i64>,
}

/// A line of the audit log as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    pub id: Uuid,
    pub actor_id: Option<UserId>,
    pub action: String,
    pub target: String,
    pub reason: String,
    pub at: i64,
}

/// The columns of [`AccountViewRow`], from `users u`.
const ACCOUNT_VIEW: &str = "SELECT u.id, u.username, u.display_name, u.created_at, \
     u.suspended_at, u.deleted_at, u.picture, u.admin, u.email, u.suspended_reason, \
     (SELECT COUNT(*) FROM sessions s WHERE s.user_id = u.id AND s.revoked_at IS NULL) AS sessions, \
     (SELECT COUNT(*) FROM reports r WHERE r.reported_id = u.id AND r.state = 'open') AS open_reports \
     FROM users u";

impl From<AccountViewRow> for AdminUser {
    fn from(r: AccountViewRow) -> Self {
        let suspended_at = r.user.suspended_at.map(Timestamp::from_millis);
        Self {
            user: r.user.into(),
            admin: r.admin,
            email: r.email,
            suspended_at,
            suspended_reason: r.suspended_reason,
            sessions: u32::try_from(r.sessions).unwrap_or(u32::MAX),
            open_reports: u32::try_from(r.open_reports).unwrap_or(u32::MAX),
        }
    }
}

/// The columns of [`ReportRow`].
const REPORT_COLUMNS: &str = "SELECT id, reporter_id, reported_id, conversation_id, message_id, \
     reason, copies, created_at, state, decided_by, decision_note, decided_at FROM reports";

#[apply(driver_bounds!)]
impl<D: Dialect> SqlStore<D> {
    /// Writes `audit` in the caller's transaction.
    pub(super) async fn write_audit(conn: &mut Conn<D>, audit: &Audit) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (id, actor_id, action, target, reason, at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(Uuid::now_v7())
        .bind(audit.actor)
        .bind(audit.action.to_owned())
        .bind(audit.target.clone())
        .bind(audit.reason.clone())
        .bind(audit.at.as_millis())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// The users of `ids`, by id.
    async fn users_by_id(&self, ids: &[UserId]) -> StoreResult<HashMap<UserId, User>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut query =
            QueryBuilder::new(concat!("SELECT ", user_columns!(), " FROM users WHERE "));
        D::push_in(&mut query, "id", ids);
        let rows: Vec<UserRow> = query.build_query_as().fetch_all(&self.readers).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let user = User::from(r);
                (user.id, user)
            })
            .collect())
    }

    /// Report rows with their people.
    async fn report_records(&self, rows: Vec<ReportRow>) -> StoreResult<Vec<ReportRecord>> {
        let mut ids: Vec<UserId> = rows
            .iter()
            .flat_map(|r| [Some(r.reporter_id), Some(r.reported_id), r.decided_by])
            .flatten()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let users = self.users_by_id(&ids).await?;
        let user = |id: UserId| {
            users
                .get(&id)
                .cloned()
                .ok_or_else(|| StoreError::Corrupt(format!("report names a missing user {id}")))
        };
        rows.into_iter()
            .map(|r| {
                Ok(ReportRecord {
                    id: r.id,
                    reporter: user(r.reporter_id)?,
                    reported: user(r.reported_id)?,
                    conversation_id: r.conversation_id,
                    message_id: r.message_id,
                    reason: r.reason,
                    copies: match r.copies {
                        Some(json) => serde_json::from_str(&json)
                            .map_err(|e| StoreError::Corrupt(format!("a report's copies: {e}")))?,
                        None => Vec::new(),
                    },
                    created_at: Timestamp::from_millis(r.created_at),
                    state: ReportState::parse(&r.state)
                        .ok_or_else(|| StoreError::Corrupt(format!("report state {}", r.state)))?,
                    decided_by: r.decided_by.map(user).transpose()?,
                    decision_note: r.decision_note,
                    decided_at: r.decided_at.map(Timestamp::from_millis),
                })
            })
            .collect()
    }
}

#[apply(driver_bounds!)]
#[async_trait]
impl<D: Dialect> AdminStore for SqlStore<D> {
    async fn is_admin(&self, user: UserId) -> StoreResult<bool> {
        let admin: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM users WHERE id = $1 AND admin AND suspended_at IS NULL \
             AND deleted_at IS NULL",
        )
        .bind(user)
        .fetch_optional(&self.readers)
        .await?;
        Ok(admin.is_some())
    }

    async fn user_named(&self, username: &str) -> StoreResult<Option<UserId>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
                .bind(username.to_owned())
                .fetch_optional(&self.readers)
                .await?,
        )
    }

    async fn set_admin(&self, user: UserId, admin: bool, audit: &Audit) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        let changed: Option<Uuid> = sqlx::query_scalar(
            "UPDATE users SET admin = $2 WHERE id = $1 AND deleted_at IS NULL RETURNING id",
        )
        .bind(user)
        .bind(admin)
        .fetch_optional(&mut *tx)
        .await?;
        if changed.is_none() {
            return Ok(false);
        }
        Self::write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn accounts(&self, prefix: Option<&str>, limit: u32) -> StoreResult<Vec<AdminUser>> {
        let mut query = QueryBuilder::new(ACCOUNT_VIEW);
        match prefix {
            // substr rather than LIKE: the prefix is the operator's text, and LIKE would
            // read its `%` and `_` as patterns.
            Some(prefix) => {
                let chars = i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX);
                query
                    .push(" WHERE substr(u.username, 1, CAST(")
                    .push_bind(chars)
                    .push(" AS INTEGER)) = lower(")
                    .push_bind(prefix.to_owned())
                    // The database lowers both sides, by its own rules (SQLite's only
                    // ASCII): a name matches as it would be found by user search.
                    .push(") OR substr(lower(u.display_name), 1, CAST(")
                    .push_bind(chars)
                    .push(" AS INTEGER)) = lower(")
                    .push_bind(prefix.to_owned())
                    .push(")")
                    .push(" ORDER BY u.username");
            }
            None => {
                query.push(" ORDER BY u.created_at DESC, u.id DESC");
            }
        }
        query.push(" LIMIT ").push_bind(i64::from(limit));
        let rows: Vec<AccountViewRow> = query.build_query_as().fetch_all(&self.readers).await?;
        Ok(rows.into_iter().map(AdminUser::from).collect())
    }

    async fn account_view(&self, user: UserId) -> StoreResult<Option<AdminUser>> {
        let mut query = QueryBuilder::new(ACCOUNT_VIEW);
        query.push(" WHERE u.id = ").push_bind(user);
        let row: Option<AccountViewRow> =
            query.build_query_as().fetch_optional(&self.readers).await?;
        Ok(row.map(AdminUser::from))
    }

    async fn suspend(
        &self,
        user: UserId,
        reason: &str,
        audit: &Audit,
    ) -> StoreResult<Option<Vec<SessionId>>> {
        let mut tx = self.write().await?;
        let found: Option<Uuid> = sqlx::query_scalar(
            "UPDATE users SET suspended_at = COALESCE(suspended_at, $2), suspended_reason = $3 \
             WHERE id = $1 AND deleted_at IS NULL RETURNING id",
        )
        .bind(user)
        .bind(audit.at.as_millis())
        .bind(reason.to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        if found.is_none() {
            return Ok(None);
        }
        let ended: Vec<SessionId> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL \
             RETURNING id",
        )
        .bind(user)
        .bind(audit.at.as_millis())
        .fetch_all(&mut *tx)
        .await?;
        // The members of their conversations see the status at their next catch-up.
        Self::mark_shown_in(&mut tx, user).await?;
        Self::write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(Some(ended))
    }

    async fn reactivate(&self, user: UserId, audit: &Audit) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        let changed: Option<Uuid> = sqlx::query_scalar(
            "UPDATE users SET suspended_at = NULL, suspended_reason = NULL \
             WHERE id = $1 AND deleted_at IS NULL AND suspended_at IS NOT NULL RETURNING id",
        )
        .bind(user)
        .fetch_optional(&mut *tx)
        .await?;
        if changed.is_none() {
            return Ok(false);
        }
        Self::mark_shown_in(&mut tx, user).await?;
        Self::write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn reports(&self, state: ReportState, limit: u32) -> StoreResult<Vec<ReportRecord>> {
        let mut query = QueryBuilder::new(REPORT_COLUMNS);
        query
            .push(" WHERE state = ")
            .push_bind(state.as_str().to_owned())
            .push(" ORDER BY created_at, id LIMIT ")
            .push_bind(i64::from(limit));
        let rows: Vec<ReportRow> = query.build_query_as().fetch_all(&self.readers).await?;
        self.report_records(rows).await
    }

    async fn report_record(&self, id: ReportId) -> StoreResult<Option<ReportRecord>> {
        let mut query = QueryBuilder::new(REPORT_COLUMNS);
        query.push(" WHERE id = ").push_bind(id);
        let row: Option<ReportRow> = query.build_query_as().fetch_optional(&self.readers).await?;
        Ok(self.report_records(row.into_iter().collect()).await?.pop())
    }

    async fn message_in_context(
        &self,
        conversation: ConversationId,
        id: MessageId,
        around: u32,
    ) -> StoreResult<Option<(Message, Vec<Message>)>> {
        let mut tx = self.read().await?;
        let target: Option<MessageRow> = sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE id = $1 AND conversation_id = $2"
        ))
        .bind(id)
        .bind(conversation)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(target) = target else {
            return Ok(None);
        };
        let seq = target.seq;
        let mut before: Vec<MessageRow> = sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = $1 AND seq < $2 AND change_kind IS NULL \
             ORDER BY seq DESC LIMIT $3"
        ))
        .bind(conversation)
        .bind(seq)
        .bind(i64::from(around))
        .fetch_all(&mut *tx)
        .await?;
        before.reverse();
        let after: Vec<MessageRow> = sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE conversation_id = $1 AND seq > $2 AND change_kind IS NULL \
             ORDER BY seq LIMIT $3"
        ))
        .bind(conversation)
        .bind(seq)
        .bind(i64::from(around))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let context = before.into_iter().chain(after).map(Message::from).collect();
        Ok(Some((Message::from(target), context)))
    }

    async fn decide_report(
        &self,
        id: ReportId,
        state: ReportState,
        by: Option<UserId>,
        note: &str,
        audit: &Audit,
    ) -> StoreResult<Decided> {
        let mut tx = self.write().await?;
        let changed: Option<Uuid> = sqlx::query_scalar(
            "UPDATE reports SET state = $2, decided_by = $3, decision_note = $4, decided_at = $5 \
             WHERE id = $1 AND state = 'open' RETURNING id",
        )
        .bind(id)
        .bind(state.as_str().to_owned())
        .bind(by)
        .bind(note.to_owned())
        .bind(audit.at.as_millis())
        .fetch_optional(&mut *tx)
        .await?;
        let changed = changed.is_some();
        if changed {
            Self::write_audit(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(match self.report_record(id).await? {
            None => Decided::Missing,
            Some(record) if changed => Decided::Now(Box::new(record)),
            Some(record) => Decided::Before(Box::new(record)),
        })
    }

    async fn message_for_operator(&self, id: MessageId) -> StoreResult<Option<Message>> {
        let row: Option<MessageRow> = sqlx::query_as(concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE id = $1 AND change_kind IS NULL"
        ))
        .bind(id)
        .fetch_optional(&self.readers)
        .await?;
        Ok(row.map(Message::from))
    }

    async fn audit(&self, audit: &Audit) -> StoreResult<()> {
        let mut tx = self.write().await?;
        Self::write_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn audit_log(&self, before: Option<Uuid>, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        let mut query =
            QueryBuilder::new("SELECT id, actor_id, action, target, reason, at FROM audit_log");
        if let Some(before) = before {
            query.push(" WHERE id < ").push_bind(before);
        }
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(limit));
        let rows: Vec<AuditRow> = query.build_query_as().fetch_all(&self.readers).await?;
        let mut actors: Vec<UserId> = rows.iter().filter_map(|r| r.actor_id).collect();
        actors.sort_unstable();
        actors.dedup();
        let users = self.users_by_id(&actors).await?;
        Ok(rows
            .into_iter()
            .map(|r| AuditEntry {
                id: r.id,
                actor: r.actor_id.and_then(|id| users.get(&id).cloned()),
                action: r.action,
                target: r.target,
                reason: r.reason,
                at: Timestamp::from_millis(r.at),
            })
            .collect())
    }

    async fn moderation_counts(&self) -> StoreResult<(u64, u64)> {
        let (open, suspended): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM reports WHERE state = 'open'), \
             (SELECT COUNT(*) FROM users WHERE suspended_at IS NOT NULL AND deleted_at IS NULL)",
        )
        .fetch_one(&self.readers)
        .await?;
        Ok((
            u64::try_from(open).unwrap_or(0),
            u64::try_from(suspended).unwrap_or(0),
        ))
    }

    async fn sessions_ended_since(
        &self,
        since: Timestamp,
    ) -> StoreResult<Vec<(UserId, SessionId)>> {
        Ok(sqlx::query_as::<_, (UserId, SessionId)>(
            "SELECT user_id, id FROM sessions WHERE revoked_at >= $1",
        )
        .bind(since.as_millis())
        .fetch_all(&self.readers)
        .await?)
    }
}
