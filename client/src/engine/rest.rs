//! The REST fallback: when the socket cannot be opened (a proxy that blocks WebSockets,
//! say), [`push_outbox_over_rest`] sends what is due one call at a time, by the same
//! rules as the socket (the [`Outbox`]'s), and stops at the first network failure
//! (`ferry sync` uses it too); and [`receive_while_waiting`] receives meanwhile by
//! long-polling `/sync` (the gapless catch-up, waiting for a change when there is none),
//! as Zulip's and Matrix's clients do without a socket.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::End;
use super::apply::{confirmed, refused};
use super::catch_up::catch_up_waiting;
use crate::api::ApiError;
use crate::outbox::{Answer, Outbox, Window};
use crate::session::SessionError;
use crate::store::Confirmation;
use crate::{ConnectionState, Shared};

/// Sends the due outbox over REST, in compose order; returns how many went out.
pub(crate) async fn push_outbox_over_rest(shared: &Shared) -> Result<usize, End> {
    let now = shared.options.clock.now();
    let api = &shared.api;
    let mut outbox = Outbox::new(Window::REST);
    outbox.begin(now);
    let mut sent = 0;
    for item in shared.store.outbox()? {
        if !outbox.offer(&item) {
            continue;
        }
        let (id, outgoing) = (item.message_id, item.outgoing());
        let result = shared
            .session
            .call(|t| {
                let outgoing = &outgoing;
                async move { api.send(&t, outgoing).await }
            })
            .await;
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
        refused(shared, id, &verdict)?;
    }
    Ok(sent)
}

/// How long one long-poll may wait for a change (the server's limit, 10 s).
const LONG_POLL_SECS: u32 = ferry_proto::MAX_SYNC_WAIT_SECS;
/// A long-poll round shorter than this that brought nothing new is followed by a pause
/// this long.
const QUICK_ROUND: Duration = Duration::from_millis(500);

/// Instead of idling until the next socket attempt (`delay` from now): receives over
/// `/sync` long-polls, marks what arrived delivered, and sends the outbox over REST
/// (the state is `polling` once a round succeeds), until then, until asked to reconnect
/// now, or until `stop` (`Ok(false)`). A server that does not answer either leaves the
/// rest of the wait plain.
pub(crate) async fn receive_while_waiting(
    shared: &Shared,
    delay: Duration,
    polling: ConnectionState,
    stop: &mut watch::Receiver<bool>,
) -> Result<bool, End> {
    let deadline = Instant::now() + delay;
    loop {
        let started = Instant::now();
        let round = async {
            let delivered = catch_up_waiting(shared, LONG_POLL_SECS).await?;
            let news = !delivered.is_empty();
            let api = &shared.api;
            for (conversation, seq) in delivered {
                shared
                    .session
                    .call(|t| async move { api.delivered(&t, conversation, seq).await })
                    .await?;
            }
            push_outbox_over_rest(shared).await?;
            Ok::<bool, End>(news)
        };
        let failed = tokio::select! {
            outcome = round => match outcome {
                // A quick answer that brought nothing new: on Postgres `/sync` repeats
                // recent changes until every earlier transaction is visible. Pause
                // rather than spin while it does.
                Ok(false) if started.elapsed() < QUICK_ROUND => {
                    tokio::select! {
                        () = tokio::time::sleep(QUICK_ROUND) => {}
                        _ = stop.changed() => return Ok(false),
                    }
                    false
                }
                Ok(_) => false,
                Err(End::SignedOut) => return Err(End::SignedOut),
                Err(End::Stop) => return Ok(false),
                Err(End::Reconnect(..)) => true,
            },
            () = tokio::time::sleep_until(deadline) => return Ok(true),
            () = shared.reconnect_now.notified() => return Ok(true),
            _ = stop.changed() => return Ok(false),
        };
        if !failed {
            // The server answered: the user is not offline, only not live.
            shared.set_state(polling.clone());
        }
        if failed {
            // Unreachable over HTTP too: wait out the rest.
            return Ok(super::wait_to_reconnect(
                deadline.saturating_duration_since(Instant::now()),
                &shared.reconnect_now,
                stop,
            )
            .await);
        }
        if Instant::now() >= deadline {
            return Ok(true);
        }
    }
}
