//! [`AdminStore`]: what operators read and change: administrators, suspensions, the
//! reports queue and its decisions, and the audit log, which every change here writes in
//! the same transaction as the change itself (an action that happened is always logged,
//! and a logged one always happened). A removal is the exception: it is stored through
//! the committer, and its line written right after (`AdminStore::audit`).

use async_trait::async_trait;
use ferry_proto::{
    AdminUser, AuditEntry, ConversationId, Message, MessageId, ReportId, ReportState, ReportedCopy,
    SessionId, Timestamp, User, UserId,
};
use uuid::Uuid;

use super::StoreResult;

/// One line of the audit log, about to be written.
#[derive(Clone, Debug)]
pub struct Audit {
    /// Who: an administrator, or `None` for a command on the server's host.
    pub actor: Option<UserId>,
    /// What (see `ferry_proto::AuditEntry::action`).
    pub action: &'static str,
    /// On what: an id.
    pub target: String,
    /// Why.
    pub reason: String,
    /// When.
    pub at: Timestamp,
}

/// A stored report, with its people.
#[derive(Clone, Debug)]
pub struct ReportRecord {
    /// Its id.
    pub id: ReportId,
    /// Who reported.
    pub reporter: User,
    /// Whom.
    pub reported: User,
    /// Where.
    pub conversation_id: Option<ConversationId>,
    /// Which message.
    pub message_id: Option<MessageId>,
    /// The reporter's words.
    pub reason: String,
    /// The reporter's copies of sealed messages, as sent.
    pub copies: Vec<ReportedCopy>,
    /// When.
    pub created_at: Timestamp,
    /// Where it stands.
    pub state: ReportState,
    /// Who decided it.
    pub decided_by: Option<User>,
    /// Their note.
    pub decision_note: Option<String>,
    /// When.
    pub decided_at: Option<Timestamp>,
}

/// What a decision on a report found.
#[derive(Clone, Debug)]
pub enum Decided {
    /// Decided now.
    Now(Box<ReportRecord>),
    /// Already decided before (nothing changed).
    Before(Box<ReportRecord>),
    /// No such report.
    Missing,
}

/// The operators' part of the store.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Whether `user` is an administrator whose account is in use (not suspended or
    /// deleted).
    async fn is_admin(&self, user: UserId) -> StoreResult<bool>;
    /// The account named `username` (deleted ones too), for the host's commands.
    async fn user_named(&self, username: &str) -> StoreResult<Option<UserId>>;
    /// Makes `user` an administrator or not; `false` when there is no such account in
    /// use (deleted accounts cannot be administrators).
    async fn set_admin(&self, user: UserId, admin: bool, audit: &Audit) -> StoreResult<bool>;
    /// Accounts whose username or display name starts with `prefix` (both lowered by the
    /// database, as user search does), or every account newest first without one.
    async fn accounts(&self, prefix: Option<&str>, limit: u32) -> StoreResult<Vec<AdminUser>>;
    /// One account.
    async fn account_view(&self, user: UserId) -> StoreResult<Option<AdminUser>>;
    /// Suspends `user` (not deleted) and ends every session of theirs, in one
    /// transaction; the sessions ended, or `None` when there is no such account. An
    /// account already suspended keeps its first time and gets the new reason.
    async fn suspend(
        &self,
        user: UserId,
        reason: &str,
        audit: &Audit,
    ) -> StoreResult<Option<Vec<SessionId>>>;
    /// Lifts a suspension; `false` when there is no such account in use or suspended.
    async fn reactivate(&self, user: UserId, audit: &Audit) -> StoreResult<bool>;
    /// Reports in `state`, oldest first.
    async fn reports(&self, state: ReportState, limit: u32) -> StoreResult<Vec<ReportRecord>>;
    /// One report.
    async fn report_record(&self, id: ReportId) -> StoreResult<Option<ReportRecord>>;
    /// The message `id` in `conversation`, and up to `around` messages (not changes)
    /// before and after it, in seq order.
    async fn message_in_context(
        &self,
        conversation: ConversationId,
        id: MessageId,
        around: u32,
    ) -> StoreResult<Option<(Message, Vec<Message>)>>;
    /// Resolves or dismisses an open report.
    async fn decide_report(
        &self,
        id: ReportId,
        state: ReportState,
        by: Option<UserId>,
        note: &str,
        audit: &Audit,
    ) -> StoreResult<Decided>;
    /// A message (not a change) by its id, wherever it is.
    async fn message_for_operator(&self, id: MessageId) -> StoreResult<Option<Message>>;
    /// Writes one line of the audit log (for actions stored elsewhere: a removal goes
    /// through the committer).
    async fn audit(&self, audit: &Audit) -> StoreResult<()>;
    /// The audit log, newest first, older than `before`.
    async fn audit_log(&self, before: Option<Uuid>, limit: u32) -> StoreResult<Vec<AuditEntry>>;
    /// Reports still open, and accounts suspended now: for the metrics.
    async fn moderation_counts(&self) -> StoreResult<(u64, u64)>;
    /// Sessions that ended at or after `since`: every node closes their sockets, so an
    /// end written by a command on the host (or announced while a node was away) still
    /// takes effect.
    async fn sessions_ended_since(&self, since: Timestamp)
    -> StoreResult<Vec<(UserId, SessionId)>>;
}
