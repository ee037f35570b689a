//! `ferry-server admin …`: the operators' actions from the server's host, for the first
//! administrator (granted here, never through the API) and for when the console is not
//! reachable. Each opens the configured database, acts as [`Actor::Host`] (the audit log
//! says so) and prints what it did. It reaches no node's bus: sessions it ends are closed
//! by every node's look at sessions ended lately (within seconds), and a suspension or a
//! removal reaches the other devices at their next catch-up.

use clap::Subcommand;
use ferry_proto::{
    ConversationId, MessageId, ReportDecision, ReportId, ReportOutcome, ReportState, UserId,
};

use super::{Actor, page};
use crate::config::Config;
use crate::error::Error;
use crate::store::{Append, Store};

/// The default reason of a grant or revocation made on the host.
const ON_THE_HOST: &str = "on the server's host";

/// What an operator does from the host's command line.
#[derive(Clone, Debug, Subcommand)]
pub enum AdminCommand {
    /// Makes USERNAME an administrator (who can then use the console and the admin API).
    Grant {
        /// The account.
        username: String,
        /// Why, for the audit log.
        #[arg(long, default_value = ON_THE_HOST)]
        reason: String,
    },
    /// Makes USERNAME no longer an administrator.
    Revoke {
        /// The account.
        username: String,
        /// Why, for the audit log.
        #[arg(long, default_value = ON_THE_HOST)]
        reason: String,
    },
    /// Lists accounts whose username or display name starts with PREFIX (the newest
    /// accounts without one).
    Users {
        /// A prefix of the username or display name.
        prefix: Option<String>,
        /// At most this many (default 50, at most 500).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Suspends USERNAME: signed out everywhere, and no sign-in until reactivated.
    Suspend {
        /// The account.
        username: String,
        /// Why, for the audit log.
        #[arg(long)]
        reason: String,
    },
    /// Lifts USERNAME's suspension.
    Reactivate {
        /// The account.
        username: String,
        /// Why, for the audit log.
        #[arg(long)]
        reason: String,
    },
    /// Lists reports (open ones by default), oldest first, each with its message in
    /// context.
    Reports {
        /// open, resolved or dismissed.
        #[arg(long, default_value = "open", value_parser = parse_state)]
        state: ReportState,
        /// At most this many (default 50, at most 500).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Resolves an open report (something was done about it).
    Resolve {
        /// The report's id.
        report: ReportId,
        /// Why, for the other operators and the audit log.
        #[arg(long)]
        note: String,
    },
    /// Dismisses an open report (nothing to act on).
    Dismiss {
        /// The report's id.
        report: ReportId,
        /// Why, for the other operators and the audit log.
        #[arg(long)]
        note: String,
    },
    /// Removes a message for everyone: it shows as removed by an administrator.
    RemoveMessage {
        /// The message's id.
        message: MessageId,
        /// Why, for the audit log.
        #[arg(long)]
        reason: String,
    },
    /// Sets how long a conversation's messages are kept: `--days N` (0 for ever), or
    /// without it the server's policy (FERRY_RETENTION_DAYS).
    Retention {
        /// The conversation's id.
        conversation: ConversationId,
        /// Days to keep its messages (0: for ever).
        #[arg(long)]
        days: Option<u32>,
        /// Why, for the audit log.
        #[arg(long)]
        reason: String,
    },
    /// The audit log, newest first.
    Audit {
        /// At most this many (default 50, at most 500).
        #[arg(long)]
        limit: Option<u32>,
    },
}

fn parse_state(name: &str) -> Result<ReportState, String> {
    ReportState::parse(name).ok_or_else(|| format!("`{name}` is not open, resolved or dismissed"))
}

/// Why a command on the host failed, in words for the operator (who, unlike a client,
/// is told the server's own causes too).
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The database could not be opened.
    #[error(transparent)]
    Start(#[from] crate::StartError),
    /// The action was refused or failed.
    #[error("{}", said(.0))]
    Refused(Error),
}

impl From<Error> for HostError {
    fn from(e: Error) -> Self {
        Self::Refused(e)
    }
}

/// What an error says to the operator at the host.
fn said(e: &Error) -> String {
    match e {
        Error::Internal(cause) | Error::Unavailable(cause) => cause.clone(),
        other => other.to_api().message,
    }
}

impl From<crate::store::StoreError> for HostError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Refused(e.into())
    }
}

/// Runs `command` on the database `config` names, printing to standard output.
pub async fn run(config: &Config, command: AdminCommand) -> Result<(), HostError> {
    let store = crate::open_store(&config.effective_database_url(), 2).await?;
    let done = act(config, &*store, command).await;
    store.close().await;
    done
}

/// Does `command` on `store`.
async fn act(config: &Config, store: &dyn Store, command: AdminCommand) -> Result<(), HostError> {
    match command {
        AdminCommand::Grant { username, reason } => {
            let user = named(store, &username).await?;
            super::set_admin(store, Actor::Host, user, true, &reason).await?;
            println!("{username} is now an administrator");
        }
        AdminCommand::Revoke { username, reason } => {
            let user = named(store, &username).await?;
            super::set_admin(store, Actor::Host, user, false, &reason).await?;
            println!("{username} is no longer an administrator");
        }
        AdminCommand::Users { prefix, limit } => {
            let prefix = prefix.map(|p| p.trim().to_owned());
            let accounts = store
                .accounts(prefix.as_deref().filter(|p| !p.is_empty()), page(limit))
                .await?;
            if accounts.is_empty() {
                println!("no accounts");
            }
            for account in accounts {
                let status = account
                    .user
                    .status
                    .map_or("active", ferry_proto::UserStatus::as_str);
                println!(
                    "{}\t{}\t{}\t{status}{}\tsessions {}\topen reports {}",
                    account.user.id,
                    account.user.username,
                    account.user.display_name,
                    if account.admin { ", admin" } else { "" },
                    account.sessions,
                    account.open_reports
                );
            }
        }
        AdminCommand::Suspend { username, reason } => {
            let user = named(store, &username).await?;
            let (_, ended) = super::suspend(store, Actor::Host, user, &reason).await?;
            println!(
                "{username} is suspended; {} session(s) ended (their sockets close within seconds)",
                ended.len()
            );
        }
        AdminCommand::Reactivate { username, reason } => {
            let user = named(store, &username).await?;
            super::reactivate(store, Actor::Host, user, &reason).await?;
            println!("{username} is reactivated: they can sign in again");
        }
        AdminCommand::Reports { state, limit } => {
            let reports = super::reports(store, state, limit).await?;
            if reports.is_empty() {
                println!("no {} reports", state.as_str());
            }
            for report in reports {
                println!(
                    "report {} ({}) at {}: {} reported {}: {}",
                    report.id,
                    report.state.as_str(),
                    report.created_at,
                    report.reporter.username,
                    report.reported.username,
                    report.reason
                );
                let reported = report.message.as_ref().map(|m| m.id);
                let mut shown: Vec<_> = report.context.iter().collect();
                shown.extend(report.message.iter());
                shown.sort_by_key(|m| m.seq);
                for message in shown {
                    let mark = if Some(message.id) == reported {
                        ">"
                    } else {
                        " "
                    };
                    let copy = report.copies.iter().find(|c| c.message_id == message.id);
                    let body = if message.removed_by_operator {
                        "(removed by an administrator)".to_owned()
                    } else if message.deleted_at.is_some() {
                        "(deleted)".to_owned()
                    } else if let Some(copy) = copy {
                        format!("{} (encrypted: the reporter's copy, unchecked)", copy.body)
                    } else if message.sealed.is_some() {
                        "(encrypted: no copy from the reporter)".to_owned()
                    } else {
                        message.body.clone()
                    };
                    println!(
                        "  {mark} #{} {} {}: {body}",
                        message.seq, message.id, message.sender_id
                    );
                }
                if let Some(note) = &report.decision_note {
                    println!("  decision: {note}");
                }
            }
        }
        AdminCommand::Resolve { report, note } => {
            decide(store, report, ReportOutcome::Resolved, note).await?;
        }
        AdminCommand::Dismiss { report, note } => {
            decide(store, report, ReportOutcome::Dismissed, note).await?;
        }
        AdminCommand::RemoveMessage { message, reason } => {
            let removal = super::removal(store, message, &reason).await?;
            match store.append(&removal).await? {
                Append::Stored { .. } | Append::Existing(_) => {
                    super::removed(store, Actor::Host, message, &reason).await?;
                    println!(
                        "message {message} is removed for everyone (devices online see it at their next catch-up)"
                    );
                }
                refused => {
                    return Err(
                        Error::invalid(format!("the removal was refused: {refused:?}")).into(),
                    );
                }
            }
        }
        AdminCommand::Retention {
            conversation,
            days,
            reason,
        } => {
            super::set_retention(store, Actor::Host, conversation, days, &reason).await?;
            match days {
                Some(0) => println!("conversation {conversation} keeps its messages for ever"),
                Some(days) => {
                    println!("conversation {conversation} keeps its messages {days} days")
                }
                None => println!(
                    "conversation {conversation} follows the server's retention (FERRY_RETENTION_DAYS={})",
                    config.retention_days
                ),
            }
        }
        AdminCommand::Audit { limit } => {
            let entries = store.audit_log(None, page(limit)).await?;
            if entries.is_empty() {
                println!("nothing in the audit log yet");
            }
            for entry in entries {
                let actor = entry
                    .actor
                    .map_or_else(|| "(host)".to_owned(), |u| u.username);
                println!(
                    "{}\t{actor}\t{}\t{}\t{}",
                    entry.at, entry.action, entry.target, entry.reason
                );
            }
        }
    }
    Ok(())
}

/// Resolves or dismisses `report`.
async fn decide(
    store: &dyn Store,
    report: ReportId,
    state: ReportOutcome,
    note: String,
) -> Result<(), HostError> {
    let decided =
        super::decide(store, Actor::Host, report, &ReportDecision { state, note }).await?;
    println!("report {} is {}", decided.id, decided.state.as_str());
    Ok(())
}

/// The id of the account named `username`.
async fn named(store: &dyn Store, username: &str) -> Result<UserId, HostError> {
    let missing = || Error::invalid(format!("no account is named `{username}`"));
    let name = ferry_proto::normalize_username(username.trim()).map_err(|_| missing())?;
    Ok(store.user_named(&name).await?.ok_or_else(missing)?)
}
