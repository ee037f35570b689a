//! The operators' side (addition to v1, docs/protocol.md "Administration"): what the
//! admin API under `/admin` takes and answers. An operator finds accounts
//! ([`AdminUser`], [`AdminUserQuery`]) and suspends or reactivates them, works through
//! the reports queue ([`AdminReport`], [`ReportQuery`], [`ReportDecision`]), removes a
//! message ([`OperatorReason`]), sets how long a conversation's messages are kept
//! ([`RetentionChange`], [`Retention`]), and reads the audit log of all of it ([`AuditEntry`],
//! [`AuditQuery`]). Every action carries a reason, which the audit log keeps.

use serde::{Deserialize, Serialize};

use crate::{ConversationId, Message, ReportId, ReportedCopy, Timestamp, User};

/// An account as an operator sees it: `GET /admin/users`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminUser {
    /// What everyone sees (its `status` says suspended or deleted).
    pub user: User,
    /// The account administers this server.
    pub admin: bool,
    /// Its address, if it gave one.
    pub email: Option<String>,
    /// When it was suspended, while it is.
    pub suspended_at: Option<Timestamp>,
    /// Why, in the operator's words, while it is.
    pub suspended_reason: Option<String>,
    /// Sessions signed in now.
    pub sessions: u32,
    /// Reports about it still open.
    pub open_reports: u32,
}

/// `GET /admin/users?q=&limit=`: accounts whose username or display name starts with
/// `q` (every account, newest first, without it).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct AdminUserQuery {
    /// A prefix of the username or display name.
    #[serde(default)]
    pub q: Option<String>,
    /// At most this many (default 50, at most 500).
    #[cfg_attr(feature = "openapi", param(format = Int64, maximum = 4294967295u32))]
    pub limit: Option<u32>,
}

/// Why an operator acts: suspend, reactivate, remove a message. Kept in the audit log;
/// 1 to 1,000 characters (tab and line breaks allowed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OperatorReason {
    /// In the operator's words.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 1000))]
    pub reason: String,
}

/// Where a report stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReportState {
    /// Waiting for an operator.
    Open,
    /// An operator acted on it.
    Resolved,
    /// An operator found nothing to act on.
    Dismissed,
}

/// A report with what an operator needs to judge it: `GET /admin/reports`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminReport {
    /// Its id.
    pub id: ReportId,
    /// Who reported.
    pub reporter: User,
    /// Whom.
    pub reported: User,
    /// Where, if the reporter named a conversation.
    pub conversation_id: Option<ConversationId>,
    /// The message reported, as the server holds it now (empty once deleted or
    /// removed), if one was named.
    pub message: Option<Message>,
    /// Up to five messages before the reported one and five after, in seq order (no
    /// edits, deletions or reactions): what the reporter saw around it.
    pub context: Vec<Message>,
    /// The reporter's copies of the messages shown (encrypted conversations, whose
    /// sealed entries the server cannot read): as the reporter's device showed them,
    /// unchecked. Only those of `message` and `context`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<ReportedCopy>,
    /// In the reporter's words.
    pub reason: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// Open, resolved or dismissed.
    pub state: ReportState,
    /// The operator who decided it.
    pub decided_by: Option<User>,
    /// The operator's note.
    pub decision_note: Option<String>,
    /// When it was decided.
    pub decided_at: Option<Timestamp>,
}

/// `GET /admin/reports?state=&limit=`: the queue, oldest first (the longest waiting on
/// top), of one state (default open).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ReportQuery {
    /// Which reports (default open).
    #[serde(default)]
    pub state: Option<ReportState>,
    /// At most this many (default 50, at most 500).
    #[cfg_attr(feature = "openapi", param(format = Int64, maximum = 4294967295u32))]
    pub limit: Option<u32>,
}

/// `POST /admin/reports/{report_id}/decision`: resolves or dismisses an open report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportDecision {
    /// What the operator decided.
    pub state: ReportOutcome,
    /// Why, for the other operators: 1 to 1,000 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 1000))]
    pub note: String,
}

/// How an operator decides a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReportOutcome {
    /// Something was done about it.
    Resolved,
    /// Nothing to act on.
    Dismissed,
}

impl From<ReportOutcome> for ReportState {
    fn from(outcome: ReportOutcome) -> Self {
        match outcome {
            ReportOutcome::Resolved => Self::Resolved,
            ReportOutcome::Dismissed => Self::Dismissed,
        }
    }
}

/// `PUT /admin/conversations/{conversation_id}/retention`: how long a conversation's
/// messages are kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetentionChange {
    /// Days (1 to 36,500), 0 to keep them for ever, or `null` to follow the server's
    /// policy (`FERRY_RETENTION_DAYS`).
    #[serde(default, deserialize_with = "crate::rest::optional_whole")]
    #[cfg_attr(feature = "openapi", schema(maximum = 36500))]
    pub days: Option<u32>,
    /// Why, for the audit log.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 1000))]
    pub reason: String,
}

/// A conversation's retention as set: `PUT /admin/conversations/{conversation_id}/retention`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Retention {
    /// Which conversation.
    pub conversation_id: ConversationId,
    /// Its own policy: days, 0 for ever, or `null` for the server's.
    pub days: Option<u32>,
    /// The server's policy in days (0: for ever).
    pub server_days: u32,
}

/// One thing an operator did: `GET /admin/audit`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// Its id (UUIDv7: in time order).
    pub id: uuid::Uuid,
    /// Who: an administrator, or `null` for a command on the server's host.
    pub actor: Option<User>,
    /// What: `grant_admin`, `revoke_admin`, `suspend`, `reactivate`, `resolve_report`,
    /// `dismiss_report`, `remove_message`, `set_retention`.
    pub action: String,
    /// On what: the id of the user, report, message or conversation.
    pub target: String,
    /// Why, in the operator's words.
    pub reason: String,
    /// When.
    pub at: Timestamp,
}

/// `GET /admin/audit?before=&limit=`: newest first.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct AuditQuery {
    /// Entries older than this one (the last `id` of the previous page).
    #[serde(default)]
    pub before: Option<uuid::Uuid>,
    /// At most this many (default 50, at most 500).
    #[cfg_attr(feature = "openapi", param(format = Int64, maximum = 4294967295u32))]
    pub limit: Option<u32>,
}
