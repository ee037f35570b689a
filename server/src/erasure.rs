//! Erasing deleted accounts: every message a deleted account wrote is deleted for
//! everyone, and every reaction it left is taken back, as if its owner had done it one by
//! one. Each goes through the committer as a change of the conversation's stream, so
//! every device (old clients too) applies it by its seq, at its next catch-up if it is
//! offline, and the message's files are left to the sweeper. The task runs when an
//! account is deleted and once a minute, and goes on after a restart until the account is
//! marked erased, so a deletion interrupted halfway is finished.

use std::time::Duration;

use ferry_proto::{Change, ChangeKind, MessageId, Timestamp, UserId};
use tokio::sync::Notify;

use crate::state::App;
use crate::store::{Authority, Leftover, NewMessage};

/// Changes submitted per round: the committer batches them.
const ROUND: u32 = 500;

/// Erases deleted accounts on every wake-up of `wake` (and once a minute), until the
/// server shuts down. It takes the app: its changes go through the committer.
pub async fn run(app: App, wake: std::sync::Arc<Notify>) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            () = app.shutdown.cancelled() => break,
            () = wake.notified() => {}
            _ = every.tick() => {}
        }
        match app.store.accounts_to_erase().await {
            Ok(users) => {
                for user in users {
                    if let Err(why) = erase(&app, user).await {
                        tracing::warn!(user_id = %user, error = %why, "could not erase an account yet");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list accounts to erase"),
        }
    }
}

/// Deletes everything `user` left, round after round, then marks the account erased.
async fn erase(app: &App, user: UserId) -> Result<(), String> {
    loop {
        let leftovers = app
            .store
            .leftovers(user, ROUND)
            .await
            .map_err(|e| e.to_string())?;
        if leftovers.is_empty() {
            break;
        }
        let submitted: Vec<_> = leftovers
            .iter()
            .map(|left| app.committer.submit(undoing(user, left), None))
            .collect();
        let mut refused = 0;
        for outcome in futures_util::future::join_all(submitted).await {
            if outcome.is_err() {
                refused += 1;
            }
        }
        if refused == leftovers.len() {
            // Nothing moved (the database is away, say): try again at the next tick
            // rather than spin.
            return Err(format!("{refused} changes refused"));
        }
        app.files.sweep.notify_one();
    }
    app.store
        .mark_erased(user, Timestamp::now())
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(user_id = %user, "account erased");
    Ok(())
}

/// The change that undoes one leftover: a deletion of the message, or the reaction taken
/// back.
fn undoing(user: UserId, left: &Leftover) -> NewMessage {
    let change = match &left.emoji {
        None => Change {
            kind: ChangeKind::Delete,
            target: left.target,
            emoji: None,
        },
        Some(emoji) => Change {
            kind: ChangeKind::Unreact,
            target: left.target,
            emoji: Some(emoji.clone()),
        },
    };
    NewMessage {
        id: MessageId::new(),
        conversation_id: left.conversation_id,
        sender_id: user,
        body: String::new(),
        created_at: Timestamp::now(),
        reply_to: None,
        change: Some(change),
        edit_window_ms: None,
        attachments: Vec::new(),
        authority: Authority::Erasure,
        sealed: None,
    }
}
