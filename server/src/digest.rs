//! Missed-message mail (Zulip's pattern): a desktop app that is closed never notifies, so
//! when someone has had no device online for `FERRY_DIGEST_AFTER_SECS` and unread direct
//! messages wait for them, one mail lists them, at most once per
//! `FERRY_DIGEST_INTERVAL_SECS`. Each message is listed in one digest at most (the next
//! lists only what came after the last), group messages never (they would flood), and
//! neither are message requests (a stranger cannot make the server mail someone). Only a
//! confirmed address gets one, only while the account's setting is on, and every digest
//! carries a link that turns it off without signing in.
//!
//! One task per node runs rounds; on a cluster every node may find the same person due,
//! and the store's claim lets exactly one of them send (a failed send is then not
//! retried until the next interval: at most one digest, never two).

use std::time::Duration;

use ferry_proto::Timestamp;

use crate::http::recovery::unsubscribe_link;
use crate::mail::Mail;
use crate::state::App;
use crate::store::{DigestDue, MissedMessage};

/// People mailed per round at most; the rest wait for the next round.
const PER_ROUND: u32 = 100;
/// Messages one digest lists; it says how many more there are beyond them.
const LISTED: u32 = 20;
/// Characters of each message a digest quotes.
const QUOTED: usize = 200;

/// Runs rounds until the server shuts down, when the server sends mail at all.
pub async fn run(app: App) {
    if !app.mail.enabled() {
        return;
    }
    let after = Duration::from_secs(app.config.digest_after_secs);
    // Often enough that a digest goes out soon after it is due, rarely enough to cost
    // nothing: a round is one query when nobody is due.
    let tick = (after / 4).clamp(Duration::from_millis(250), Duration::from_secs(60));
    let mut every = tokio::time::interval(tick);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = app.shutdown.cancelled() => break,
            _ = every.tick() => {}
        }
        match round(&app).await {
            Ok(()) => {
                app.metrics.digest_rounds.inc();
            }
            Err(e) => tracing::warn!(error = %e, "missed-message mail round failed"),
        }
    }
}

/// Mails everyone due a digest now.
async fn round(app: &App) -> crate::error::Result<()> {
    let now = Timestamp::now();
    let offline_before = before(now, app.config.digest_after_secs);
    let sent_before = before(now, app.config.digest_interval_secs);
    for due in app
        .store
        .digests_due(offline_before, sent_before, PER_ROUND)
        .await?
    {
        // One person's failure (a database hiccup while their mail is made) is theirs
        // alone: the round goes on to the others.
        if let Err(e) = mail_one(app, &due, sent_before, now).await {
            tracing::warn!(user_id = %due.user_id, error = %e, "missed-message mail not made");
        }
    }
    Ok(())
}

/// Claims `due`'s digest and mails it, unless a device of theirs is online or another
/// node claimed it first.
async fn mail_one(
    app: &App,
    due: &DigestDue,
    sent_before: Timestamp,
    now: Timestamp,
) -> crate::error::Result<()> {
    // The store knows the sockets of a cluster's nodes; on a single node only the hub
    // does.
    if app.hub.is_online(due.user_id)
        || !app
            .store
            .claim_digest(due.user_id, sent_before, now)
            .await?
    {
        return Ok(());
    }
    let missed = app
        .store
        .missed_messages(due.user_id, due.last_digest_at.unwrap_or(0), LISTED + 1)
        .await?;
    if missed.is_empty() {
        // Read or deleted since the query: nothing to say.
        return Ok(());
    }
    let link = unsubscribe_link(app, due.user_id).await?;
    let mail = digest(app, due, &missed, &link);
    if let Err(e) = app.mail.send(&mail).await {
        tracing::warn!(user_id = %due.user_id, error = %e, "missed-message mail not sent");
    }
    Ok(())
}

/// `now` less `secs` seconds.
fn before(now: Timestamp, secs: u64) -> Timestamp {
    let millis = i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    Timestamp::from_millis(now.as_millis().saturating_sub(millis))
}

/// The mail listing `missed` (at most [`LISTED`] of them; one more says there are more).
fn digest(app: &App, due: &DigestDue, missed: &[MissedMessage], unsubscribe: &str) -> Mail {
    let more = missed.len() > LISTED as usize;
    let listed = &missed[..missed.len().min(LISTED as usize)];
    let mut body = String::from("Messages wait for you on Ferry:\n\n");
    for message in listed {
        body.push_str(&line(message));
    }
    if more {
        body.push_str("…and more.\n");
    }
    body.push_str(&format!(
        "\nOpen Ferry to read and answer them ({}).\n\n\
         You get this mail because no device of yours was online. To get no more of it, \
         open this link:\n{unsubscribe}\n",
        app.mail.link("")
    ));
    let senders = listed.iter().map(|m| m.sender_name.as_str()).fold(
        Vec::<&str>::new(),
        |mut names, name| {
            if !names.contains(&name) {
                names.push(name);
            }
            names
        },
    );
    Mail {
        to: due.email.clone(),
        subject: format!("Unread messages from {} on Ferry", senders.join(", ")),
        body,
    }
}

/// One line of a message: whitespace folded, at most [`QUOTED`] characters; a message of
/// files alone says so.
/// A digest's line for one message: who wrote, and what, or for an encrypted message
/// only who (the server cannot read it, and says so).
fn line(message: &MissedMessage) -> String {
    let what = if message.sealed {
        "(an encrypted message)".to_owned()
    } else {
        quote(&message.body)
    };
    format!("{}: {what}\n", message.sender_name)
}

fn quote(text: &str) -> String {
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.is_empty() {
        return "(a file)".into();
    }
    match folded.char_indices().nth(QUOTED) {
        Some((cut, _)) => format!("{}…", &folded[..cut]),
        None => folded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quote_is_one_short_line() {
        assert_eq!(quote("  hello\n\n  world "), "hello world");
        assert_eq!(quote(""), "(a file)");
        let long = "é".repeat(QUOTED + 5);
        assert_eq!(quote(&long), format!("{}…", "é".repeat(QUOTED)));
    }

    #[test]
    fn an_encrypted_message_is_listed_by_whom_alone() {
        let missed = |body: &str, sealed| MissedMessage {
            conversation_id: ferry_proto::ConversationId::new(),
            sender_name: "Alice".into(),
            body: body.into(),
            sealed,
            created_at: 0,
        };
        assert_eq!(line(&missed("hi", false)), "Alice: hi\n");
        assert_eq!(line(&missed("", true)), "Alice: (an encrypted message)\n");
    }

    #[test]
    fn before_never_wraps() {
        let now = Timestamp::from_millis(5_000);
        assert_eq!(before(now, 2).as_millis(), 3_000);
        assert_eq!(before(now, u64::MAX).as_millis(), 5_000 - i64::MAX);
    }
}
