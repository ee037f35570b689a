//! The operators' actions (docs/operations.md, "Administration"), shared by the admin API
//! (`crate::http::admin`) and the commands on the server's host ([`host`]): each checks
//! its input, changes the store (which writes the audit log in the same transaction) and
//! hands back what the caller announces, since only the API's caller has the nodes' bus.
//! Who acts is an [`Actor`]: an administrator, or someone at the host's command line.

pub mod host;

use ferry_proto::{
    AdminReport, AdminUser, Change, ChangeKind, ConversationId, MessageId, ReportDecision,
    ReportId, ReportOutcome, ReportState, SessionId, Timestamp, UserId,
};

use prometheus_client::metrics::gauge::Gauge;

use crate::error::{Error, Result};
use crate::store::{Audit, Authority, Decided, NewMessage, ReportRecord, Store};

/// Pages of the admin lists: their default and largest size.
pub const PAGE: u32 = 50;
/// See [`PAGE`].
pub const MAX_PAGE: u32 = 500;
/// Messages shown before and after a reported one.
pub const CONTEXT: u32 = 5;
/// The longest reason or note, in characters.
pub const REASON_MAX_CHARS: usize = 1_000;

/// Who performs an action: kept in the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    /// An administrator, through the admin API or the console.
    Admin(UserId),
    /// Someone at the server's host, through `ferry-server admin`.
    Host,
}

impl Actor {
    fn id(self) -> Option<UserId> {
        match self {
            Self::Admin(id) => Some(id),
            Self::Host => None,
        }
    }

    fn audit(self, action: &'static str, target: impl ToString, reason: &str) -> Audit {
        Audit {
            actor: self.id(),
            action,
            target: target.to_string(),
            reason: reason.to_owned(),
            at: Timestamp::now(),
        }
    }
}

/// Counts the operators' queue (reports open, accounts suspended: the whole server's)
/// into the metrics' gauges.
pub async fn count_queue(store: &dyn Store, reports_open: &Gauge, users_suspended: &Gauge) {
    match store.moderation_counts().await {
        Ok((open, suspended)) => {
            reports_open.set(i64::try_from(open).unwrap_or(i64::MAX));
            users_suspended.set(i64::try_from(suspended).unwrap_or(i64::MAX));
        }
        Err(e) => tracing::warn!(error = %e, "could not count the operators' queue"),
    }
}

/// A page size: the default when none is asked, never more than [`MAX_PAGE`].
pub fn page(limit: Option<u32>) -> u32 {
    limit.unwrap_or(PAGE).clamp(1, MAX_PAGE)
}

/// An operator's reason or note, trimmed: 1 to [`REASON_MAX_CHARS`] characters, with no
/// control characters but tab and line breaks (it is shown to other operators).
pub fn reason(text: &str) -> Result<&str> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::invalid("say why: the reason is empty"));
    }
    if text.chars().count() > REASON_MAX_CHARS {
        return Err(Error::invalid(format!(
            "a reason is at most {REASON_MAX_CHARS} characters"
        )));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(Error::invalid(
            "a reason holds a control character (only tab and line breaks are allowed)",
        ));
    }
    Ok(text)
}

/// One account.
pub async fn account(store: &dyn Store, user: UserId) -> Result<AdminUser> {
    store
        .account_view(user)
        .await?
        .ok_or_else(|| Error::not_found("user"))
}

/// Makes `user` an administrator, or no longer one.
pub async fn set_admin(
    store: &dyn Store,
    actor: Actor,
    user: UserId,
    admin: bool,
    why: &str,
) -> Result<()> {
    let why = reason(why)?;
    let action = if admin { "grant_admin" } else { "revoke_admin" };
    if store
        .set_admin(user, admin, &actor.audit(action, user, why))
        .await?
    {
        Ok(())
    } else {
        Err(Error::not_found("user"))
    }
}

/// Suspends `user`: their sessions end in the same transaction (the caller closes their
/// sockets), and they cannot sign in until reactivated. An administrator cannot suspend
/// themself (the console would lock its only operator out).
pub async fn suspend(
    store: &dyn Store,
    actor: Actor,
    user: UserId,
    why: &str,
) -> Result<(AdminUser, Vec<SessionId>)> {
    let why = reason(why)?;
    if actor == Actor::Admin(user) {
        return Err(Error::invalid("an administrator cannot suspend themself"));
    }
    let ended = store
        .suspend(user, why, &actor.audit("suspend", user, why))
        .await?
        .ok_or_else(|| Error::not_found("user"))?;
    Ok((account(store, user).await?, ended))
}

/// Lifts `user`'s suspension.
pub async fn reactivate(
    store: &dyn Store,
    actor: Actor,
    user: UserId,
    why: &str,
) -> Result<AdminUser> {
    let why = reason(why)?;
    account(store, user).await?;
    // The store says whether it was suspended (and in use), in the same statement that
    // lifts it: two operators at once, one of them lifts it.
    if !store
        .reactivate(user, &actor.audit("reactivate", user, why))
        .await?
    {
        return Err(Error::new(
            ferry_proto::ErrorCode::Conflict,
            "this account is not suspended",
        ));
    }
    account(store, user).await
}

/// A report with its message and what surrounds it.
pub async fn report_view(store: &dyn Store, record: ReportRecord) -> Result<AdminReport> {
    let (message, context) = match (record.conversation_id, record.message_id) {
        (Some(conversation), Some(message)) => {
            match store
                .message_in_context(conversation, message, CONTEXT)
                .await?
            {
                Some((message, context)) => (Some(message), context),
                None => (None, Vec::new()),
            }
        }
        _ => (None, Vec::new()),
    };
    // Only copies of the messages shown: a copy names a message of the report's excerpt.
    let shown: Vec<MessageId> = context.iter().chain(&message).map(|m| m.id).collect();
    let copies = record
        .copies
        .into_iter()
        .filter(|c| shown.contains(&c.message_id))
        .collect();
    Ok(AdminReport {
        id: record.id,
        reporter: record.reporter,
        reported: record.reported,
        conversation_id: record.conversation_id,
        message,
        context,
        copies,
        reason: record.reason,
        created_at: record.created_at,
        state: record.state,
        decided_by: record.decided_by,
        decision_note: record.decision_note,
        decided_at: record.decided_at,
    })
}

/// The reports in `state`, oldest first, each with its message in context.
pub async fn reports(
    store: &dyn Store,
    state: ReportState,
    limit: Option<u32>,
) -> Result<Vec<AdminReport>> {
    let mut out = Vec::new();
    for record in store.reports(state, page(limit)).await? {
        out.push(report_view(store, record).await?);
    }
    Ok(out)
}

/// Resolves or dismisses an open report; one already decided is a conflict (two
/// operators deciding at once: the first one's decision stands).
pub async fn decide(
    store: &dyn Store,
    actor: Actor,
    report: ReportId,
    decision: &ReportDecision,
) -> Result<AdminReport> {
    let note = reason(&decision.note)?;
    let action = match decision.state {
        ReportOutcome::Resolved => "resolve_report",
        ReportOutcome::Dismissed => "dismiss_report",
    };
    match store
        .decide_report(
            report,
            decision.state.into(),
            actor.id(),
            note,
            &actor.audit(action, report, note),
        )
        .await?
    {
        Decided::Now(record) => report_view(store, *record).await,
        Decided::Before(record) => Err(Error::new(
            ferry_proto::ErrorCode::Conflict,
            format!("this report was already {}", record.state.as_str()),
        )),
        Decided::Missing => Err(Error::not_found("report")),
    }
}

/// The deletion that removes message `id` for everyone as an operator: named as from its
/// author (so every client, older ones too, applies it as the author's deletion) and
/// marked `removed_by_operator`. The caller stores it (through the committer, which
/// announces it, or straight into the store from the host) and then calls
/// [`removed`].
pub async fn removal(store: &dyn Store, id: MessageId, why: &str) -> Result<NewMessage> {
    reason(why)?;
    let message = store
        .message_for_operator(id)
        .await?
        .ok_or_else(|| Error::not_found("message"))?;
    if message.deleted_at.is_some() {
        return Err(Error::new(
            ferry_proto::ErrorCode::Conflict,
            "this message was already deleted",
        ));
    }
    Ok(NewMessage {
        id: MessageId::new(),
        conversation_id: message.conversation_id,
        sender_id: message.sender_id,
        body: String::new(),
        created_at: Timestamp::now(),
        reply_to: None,
        change: Some(Change {
            kind: ChangeKind::Delete,
            target: id,
            emoji: None,
        }),
        edit_window_ms: None,
        attachments: Vec::new(),
        authority: Authority::Operator,
        sealed: None,
    })
}

/// The longest retention a conversation can be given, in days (a hundred years).
pub const MAX_RETENTION_DAYS: u32 = 36_500;

/// Sets how long `conversation`'s messages are kept: `days` (0 for ever), or the
/// server's policy (`None`).
pub async fn set_retention(
    store: &dyn Store,
    actor: Actor,
    conversation: ConversationId,
    days: Option<u32>,
    why: &str,
) -> Result<()> {
    let why = reason(why)?;
    if days.is_some_and(|d| d > MAX_RETENTION_DAYS) {
        return Err(Error::invalid(format!(
            "a retention is at most {MAX_RETENTION_DAYS} days (0 keeps messages for ever)"
        )));
    }
    let audit = Audit {
        target: conversation.to_string(),
        reason: match days {
            Some(0) => format!("keep for ever: {why}"),
            Some(days) => format!("{days} days: {why}"),
            None => format!("the server's policy: {why}"),
        },
        ..actor.audit("set_retention", conversation, why)
    };
    if store.set_retention(conversation, days, &audit).await? {
        Ok(())
    } else {
        Err(Error::not_found("conversation"))
    }
}

/// Writes the audit line of a removal once it is stored.
pub async fn removed(store: &dyn Store, actor: Actor, id: MessageId, why: &str) -> Result<()> {
    let why = reason(why)?;
    store.audit(&actor.audit("remove_message", id, why)).await?;
    Ok(())
}
