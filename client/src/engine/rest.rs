//! The REST fallback: when the socket cannot be opened (a proxy that blocks WebSockets,
//! say), [`push_outbox_over_rest`] sends what is due one call at a time, by the same
//! rules as the socket (the [`Outbox`]'s), and stops at the first network failure
//! (`ferry sync` uses it too); and [`receive_while_waiting`] receives meanwhile by
//! long-polling `/sync` (the gapless catch-up, waiting for a change when there is none),
//! as Zulip's and Matrix's clients do without a socket, and keeps end-to-end
//! encryption's groups up as a socket's link would.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::apply::{confirmed, refused};
use super::catch_up::catch_up_waiting;
use super::{End, e2e};
use crate::api::ApiError;
use crate::api::SessionError;
use crate::outbox::{Answer, Outbox, Window};
use crate::store::Confirmation;
use ferry_proto::Timestamp;

use crate::{ConnectionState, Shared};

/// Sends the due outbox over REST, in compose order; returns how many went out.
pub(crate) async fn push_outbox_over_rest(shared: &Shared) -> Result<usize, End> {
    let now = shared.options.clock.now();
    let mut outbox = Outbox::new(Window::REST);
    outbox.begin(now);
    let mut sent = 0;
    for mut item in shared.store.outbox()? {
        if !outbox.offer(&item) {
            continue;
        }
        // Recorded before the request goes: from here an edit goes as an edit.
        shared
            .store
            .claim_for_sending(std::slice::from_mut(&mut item))?;
        let id = item.message_id;
        let in_flight = outbox.epoch_in_flight(item.conversation_id);
        let Some((outgoing, epoch)) = super::e2e::outgoing(shared, &item, in_flight).await? else {
            outbox.withdraw(id);
            continue;
        };
        outbox.went(id, epoch);
        let result = shared.api.send(&outgoing).await;
        let error = match result {
            Ok(m) => {
                outbox.answer(Answer::Stored(id), now);
                let ack = Confirmation {
                    id,
                    conversation_id: m.conversation_id,
                    seq: m.seq,
                    created_at: m.created_at,
                };
                confirmed(shared, &[ack]).await?;
                sent += 1;
                continue;
            }
            // The server is out of reach: the rest waits for the next attempt.
            Err(SessionError::Api(ApiError::Network(_))) => return Ok(sent),
            Err(SessionError::Api(e)) => e,
            Err(other) => return Err(other.into()),
        };
        let retry_after_ms = match &error {
            ApiError::Server { retry_after_ms, .. } => *retry_after_ms,
            _ => None,
        };
        // A server error's text is the server's message, for people.
        let message = error.to_string();
        let answer = Answer::Refused {
            id,
            code: error.code(),
            message: &message,
            retry_after_ms,
        };
        let verdict = outbox.answer(answer, now);
        refused(shared, id, &verdict).await?;
    }
    Ok(sent)
}

/// How long one long-poll may wait for a change (the server's limit, 10 s).
const LONG_POLL_SECS: u32 = ferry_proto::MAX_SYNC_WAIT_SECS;
/// A long-poll round shorter than this that brought nothing new is followed by a pause
/// this long.
const QUICK_ROUND: Duration = Duration::from_millis(500);

/// Instead of idling until the next socket attempt (`retry_at`, `delay` from now):
/// receives over `/sync` long-polls, marks what arrived delivered, and sends the outbox
/// over REST, until then, until asked to reconnect now, or until `stop` (`Ok(false)`).
///
/// `polling` says whether the server answered over HTTP last time; it is kept up to date,
/// and so is the state: [`ConnectionState::Polling`] while rounds succeed (the user is
/// not offline, only not live), `Offline` once one fails, after which the rest of the
/// wait is plain. A first round without `polling` does not wait, so that it is known at
/// once whether the server answers.
pub(crate) async fn receive_while_waiting(
    shared: &Shared,
    delay: Duration,
    retry_at: Option<Timestamp>,
    reason: &str,
    polling: &mut bool,
    stop: &mut watch::Receiver<bool>,
) -> Result<bool, End> {
    let deadline = Instant::now() + delay;
    // End-to-end encryption's upkeep, as a link does it on connecting (keys, welcomes,
    // groups and ended devices before the outbox; notes and new groups after), once per
    // wait: without a socket no frame says that a welcome or a note waits.
    let mut upkeep_due = true;
    loop {
        let started = Instant::now();
        let wait = if *polling { LONG_POLL_SECS } else { 0 };
        let round = async {
            let delivered = catch_up_waiting(shared, wait).await?;
            let news = !delivered.is_empty();
            for (conversation, seq) in delivered {
                shared.api.delivered(conversation, seq).await?;
            }
            if upkeep_due {
                e2e::prepare(shared).await?;
            }
            push_outbox_over_rest(shared).await?;
            if upkeep_due {
                e2e::settle_groups(shared).await?;
            }
            Ok::<bool, End>(news)
        };
        let outcome = tokio::select! {
            outcome = round => outcome,
            () = tokio::time::sleep_until(deadline) => return Ok(true),
            () = shared.reconnect_now.notified() => return Ok(true),
            _ = stop.changed() => return Ok(false),
        };
        let news = match outcome {
            Ok(news) => news,
            Err(End::SignedOut) => return Err(End::SignedOut),
            Err(End::Stop) => return Ok(false),
            Err(End::Reconnect(..)) => {
                // Unreachable over HTTP too: offline, and the rest of the wait is plain.
                *polling = false;
                shared.set_state(ConnectionState::Offline {
                    retry_at,
                    reason: Some(reason.to_owned()),
                });
                return Ok(super::waiting_offline(
                    shared,
                    deadline.saturating_duration_since(Instant::now()),
                    retry_at,
                    reason,
                    stop,
                )
                .await);
            }
        };
        *polling = true;
        upkeep_due = false;
        shared.set_state(ConnectionState::Polling {
            retry_at,
            reason: Some(reason.to_owned()),
        });
        // A quick answer that brought nothing new (a round that did not wait, or `/sync`
        // on Postgres repeating recent changes until every earlier transaction is
        // visible): pause rather than spin.
        if !news && started.elapsed() < QUICK_ROUND {
            tokio::select! {
                () = tokio::time::sleep_until(deadline.min(Instant::now() + QUICK_ROUND)) => {}
                () = shared.reconnect_now.notified() => return Ok(true),
                _ = stop.changed() => return Ok(false),
            }
        }
        if Instant::now() >= deadline {
            return Ok(true);
        }
    }
}
