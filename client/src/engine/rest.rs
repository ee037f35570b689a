//! The REST fallback for the outbox: when the socket cannot be opened (a proxy that
//! blocks WebSockets, say), [`push_outbox_over_rest`] sends what is due one call at a
//! time, by the same rules as the socket (the [`Outbox`]'s), and stops at the first
//! network failure. `ferry sync` uses it too.

use super::End;
use super::apply::{confirmed, refused};
use crate::Shared;
use crate::api::ApiError;
use crate::outbox::{Answer, Outbox, Window};
use crate::session::SessionError;
use crate::store::Confirmation;

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
