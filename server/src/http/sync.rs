//! `/sync` (what changed since a cursor) and `/presence` (who of my contacts is online).

use std::time::Duration;

use axum::extract::State;
use ferry_proto::endpoints::{self, Endpoint};
use ferry_proto::{
    ErrorBody, MAX_SYNC_MESSAGES, MAX_SYNC_WAIT_SECS, Presence, SyncPage, SyncQuery,
};

use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::http::extract::{Gives, HeldJson, Json, Query, Takes, page_limit};
use crate::presence;
use crate::state::App;
use crate::store::Latest;

/// The caller's conversations that changed since `since`, and with `messages=N` the
/// latest N messages of each (so a client that missed no more than that needs no history
/// call), as far as `FERRY_SYNC_MESSAGE_BYTES` of bodies go. With `wait=S` and nothing
/// changed, it answers when something does (or after S seconds, at most 10): the
/// long-poll a client uses to receive while it cannot keep a WebSocket open. A user's
/// long-polls wait at most `FERRY_MAX_CONNECTIONS_PER_USER` at once on a node (one per
/// device is all a client needs): more are answered at once, so that thousands parked by
/// a few users hold neither memory nor, when one change wakes them all, the database.
#[utoipa::path(get, path = endpoints::Sync::PATH, tag = "sync", security(("bearer" = [])), params(SyncQuery),
    responses((status = 200, body = SyncPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn sync(
    State(app): State<App>,
    caller: Caller,
    Query(query): Query<Takes<endpoints::Sync>>,
) -> Result<HeldJson<Gives<endpoints::Sync>>> {
    let since = match query.since.as_deref() {
        Some(text) => Some(
            text.parse()
                .map_err(|_| Error::invalid("malformed `since` cursor"))?,
        ),
        None => None,
    };
    let latest = Latest {
        per_conversation: query.messages.unwrap_or(0).min(MAX_SYNC_MESSAGES),
        max_bytes: app.config.sync_message_bytes,
    };
    let wait = Duration::from_secs(u64::from(
        query
            .wait
            .unwrap_or(0)
            .min(MAX_SYNC_WAIT_SECS)
            .min(app.config.request_timeout_secs.saturating_sub(5) as u32),
    ));
    // A long-poll listens before it reads, so a change committed in between still wakes it.
    let waiter = app.hub.waiter(caller.user_id);
    let woken = waiter.notify.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    let limit = page_limit(query.limit);
    let mut turn = app.limits.heavy_reads.turn(caller.user_id).await;
    let mut batch = app.store.sync(caller.user_id, since, limit, latest).await?;
    let room = waiter.of_user() <= app.config.max_connections_per_user.max(1);
    if batch.conversations.is_empty() && !wait.is_zero() && room {
        // Nothing yet: wait for a frame for this user (a message, a receipt, a changed
        // conversation) or the time, without holding a turn of the user's large reads.
        drop(turn);
        app.metrics.sync_waiting.inc();
        let _ = tokio::time::timeout(wait, woken).await;
        app.metrics.sync_waiting.dec();
        turn = app.limits.heavy_reads.turn(caller.user_id).await;
        batch = app.store.sync(caller.user_id, since, limit, latest).await?;
    }
    let page = SyncPage {
        conversations: batch.conversations,
        cursor: batch.cursor.to_string(),
        has_more: batch.has_more,
        messages: batch.messages,
    };
    Ok(HeldJson(page, turn))
}

/// Presence of everyone who shares a conversation with the caller.
#[utoipa::path(get, path = endpoints::ContactsPresence::PATH, tag = "sync", security(("bearer" = [])),
    responses((status = 200, body = [Presence]), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(app): State<App>,
    caller: Caller,
) -> Result<Json<Gives<endpoints::ContactsPresence>>> {
    Ok(Json(presence::of_contacts(&app, caller.user_id).await?))
}
