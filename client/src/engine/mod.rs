//! The sync engine: one task that owns the socket for the client's whole life, and
//! reconnects it.
//!
//! Each connection is [`connect`]ed (authenticate, refreshing the token first if needed,
//! and read `welcome`), then served as a [`link`]: catch up over REST ([`catch_up`](mod@catch_up): plan
//! from `/sync`, then fetch exactly what is missing), send read marks made offline, then
//! pipeline the outbox and [`apply`] live frames until the link ends. Between connections
//! [`run`] waits with exponential backoff and jitter (`backoff`), cut short when a
//! server that was unreachable accepts connections again ([`probe`]); after two failed
//! attempts it also pushes the outbox over REST and, until the next attempt, receives by
//! long-polling `/sync` ([`rest`]). Both transports send by the
//! same rules, the [`Outbox`](crate::outbox::Outbox)'s. [`End`] says why a connection
//! ended and what to do next.

mod apply;
mod catch_up;
mod connect;
mod e2e;
mod history;
mod link;
mod probe;
mod rest;

use std::sync::Arc;
use std::time::Duration;

use ferry_proto::ErrorCode;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::Shared;
use crate::api::ApiError;
use crate::api::SessionError;
use crate::backoff::Backoff;
use crate::events::ConnectionState;

pub(crate) use catch_up::catch_up;
pub(crate) use e2e::{
    ask_for_history, dismiss_history_request, prepare as prepare_encryption, send_history,
    settle_groups,
};
pub(crate) use rest::push_outbox_over_rest;

/// Failed socket attempts before the outbox is also tried over REST.
const REST_FALLBACK_AFTER: u32 = 2;
/// A link that lasted this long proves the server healthy enough to reset the backoff.
const LINK_PROVEN: Duration = Duration::from_secs(10);

/// Why a connection ended, and what to do next.
pub(crate) enum End {
    /// The client is shutting down.
    Stop,
    /// The session is over: sign in again.
    SignedOut,
    /// Reconnect after this delay (`None`: the backoff decides), for this reason.
    Reconnect(Option<Duration>, String),
}

impl From<SessionError> for End {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::SignedOut => End::SignedOut,
            other => End::Reconnect(None, other.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for End {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "local database failed");
        End::Reconnect(
            Some(Duration::from_secs(5)),
            "the local database failed".into(),
        )
    }
}

impl From<ApiError> for End {
    fn from(e: ApiError) -> Self {
        match e.code() {
            Some(ErrorCode::Unauthorized) => End::Reconnect(Some(Duration::ZERO), e.to_string()),
            _ => End::Reconnect(None, e.to_string()),
        }
    }
}

/// Runs until `stop` turns true or the session ends.
pub(crate) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut backoff = Backoff::new(shared.options.reconnect_min, shared.options.reconnect_max);
    let mut failures = 0u32;
    // The socket fails but the server answers over HTTP: the state stays `Polling`
    // through the socket's attempts, rather than flickering through `Connecting`.
    let mut polling = false;
    loop {
        if *stop.borrow() {
            break;
        }
        if !polling {
            shared.set_state(ConnectionState::Connecting);
        }
        let (delay, reason) = match connect::connect(&shared).await {
            Ok((socket, heartbeat)) => {
                failures = 0;
                polling = false;
                let opened = Instant::now();
                let end = link::Link::new(&shared, socket, heartbeat)
                    .serve(&mut stop)
                    .await;
                // A link that dies right after opening (a failing catch-up, say) must not
                // reset the backoff, or the client would reconnect in a tight loop.
                if opened.elapsed() >= LINK_PROVEN {
                    backoff.reset();
                }
                match end {
                    End::Stop => break,
                    End::SignedOut => {
                        shared.set_state(ConnectionState::SignedOut);
                        return;
                    }
                    End::Reconnect(delay, reason) => {
                        // The link died: so, most likely, did pooled REST connections.
                        shared.api.reset_connections();
                        (delay, reason)
                    }
                }
            }
            Err(End::SignedOut) => {
                shared.set_state(ConnectionState::SignedOut);
                return;
            }
            Err(End::Stop) => break,
            Err(End::Reconnect(delay, reason)) => {
                failures += 1;
                if failures >= REST_FALLBACK_AFTER
                    && let Err(End::SignedOut) = push_outbox_over_rest(&shared).await
                {
                    shared.set_state(ConnectionState::SignedOut);
                    return;
                }
                (delay, reason)
            }
        };
        let delay = delay.unwrap_or_else(|| backoff.next_delay());
        tracing::debug!(?delay, reason, "offline");
        let retry_at = Some(shared.options.clock.after(delay));
        shared.set_state(if polling {
            ConnectionState::Polling {
                retry_at,
                reason: Some(reason.clone()),
            }
        } else {
            ConnectionState::Offline {
                retry_at,
                reason: Some(reason.clone()),
            }
        });
        // A socket that keeps failing while HTTP works (a proxy refusing upgrades, say):
        // receive by long-polling until the next attempt, rather than not at all.
        let go_on = if failures >= REST_FALLBACK_AFTER {
            let waiting = rest::receive_while_waiting(
                &shared,
                delay,
                retry_at,
                &reason,
                &mut polling,
                &mut stop,
            );
            match waiting.await {
                Ok(go_on) => go_on,
                Err(_) => {
                    shared.set_state(ConnectionState::SignedOut);
                    return;
                }
            }
        } else {
            waiting_offline(&shared, delay, retry_at, &reason, &mut stop).await
        };
        if !go_on {
            break;
        }
    }
    shared.set_state(ConnectionState::Offline {
        retry_at: None,
        reason: Some("stopped".into()),
    });
}

/// Waits offline for the next attempt (see [`wait_to_reconnect`]), knocking on the
/// server meanwhile ([`probe`]): once it refused and then accepts a connection again, the
/// attempt comes at once. A refused knock puts its reason in the state.
pub(crate) async fn waiting_offline(
    shared: &Shared,
    delay: Duration,
    retry_at: Option<ferry_proto::Timestamp>,
    reason: &str,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let Some(probe) = probe::Probe::for_server(&shared.server_url) else {
        return wait_to_reconnect(delay, &shared.reconnect_now, stop).await;
    };
    let back = probe.back(|why| {
        tracing::debug!(why, reason, "the server is not reachable");
        shared.set_state(ConnectionState::Offline {
            retry_at,
            reason: Some(format!("the server is not reachable ({why})")),
        });
    });
    tokio::select! {
        went_on = wait_to_reconnect(delay, &shared.reconnect_now, stop) => went_on,
        () = back => true,
    }
}

/// Waits `delay` before the next attempt, or less if asked to reconnect now; `false` when
/// the client stops meanwhile.
async fn wait_to_reconnect(
    delay: Duration,
    reconnect_now: &Notify,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = reconnect_now.notified() => true,
        _ = stop.changed() => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reconnect waits follow the backoff exactly, by tokio's (paused) clock: doubling
    /// from the minimum with jitter in the upper half, up to the cap.
    #[tokio::test(start_paused = true)]
    async fn reconnect_waits_follow_the_backoff() {
        let (min, max) = (Duration::from_millis(500), Duration::from_secs(30));
        let mut backoff = Backoff::new(min, max);
        let (_stop_tx, mut stop) = watch::channel(false);
        let now = Notify::new();
        for attempt in 0..10 {
            let delay = backoff.next_delay();
            let ceiling = min.saturating_mul(1 << attempt).min(max);
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "attempt {attempt}: {delay:?} vs {ceiling:?}"
            );
            let started = Instant::now();
            assert!(wait_to_reconnect(delay, &now, &mut stop).await);
            // tokio's timers tick in whole milliseconds.
            let waited = started.elapsed();
            assert!(
                waited >= delay && waited <= delay + Duration::from_millis(1),
                "attempt {attempt}: waited {waited:?} for {delay:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= min, "a proven link starts over");
    }

    #[tokio::test(start_paused = true)]
    async fn reconnect_now_cuts_the_wait_short_and_stop_ends_it() {
        let (stop_tx, mut stop) = watch::channel(false);
        let now = Notify::new();
        let started = Instant::now();
        now.notify_one();
        assert!(wait_to_reconnect(Duration::from_secs(30), &now, &mut stop).await);
        assert_eq!(started.elapsed(), Duration::ZERO);

        let waiting = wait_to_reconnect(Duration::from_secs(30), &now, &mut stop);
        let stopping = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            stop_tx.send(true).expect("the waiter listens");
        };
        let (went_on, ()) = tokio::join!(waiting, stopping);
        assert!(!went_on, "stopped");
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }
}
