//! `/conversations/{id}/messages`, `/read` and `/delivered`: history in both directions,
//! the REST fallback for sending, and watermarks.

use axum::extract::State;
use axum::http::StatusCode;
use ferry_proto::endpoints::{self, Endpoint};
use ferry_proto::{
    ConversationId, ErrorBody, HistoryQuery, Message, MessagePage, OutgoingMessage, SendMessage,
    Watermark,
};

use crate::auth::Caller;
use crate::chat;
use crate::error::{Error, Result};
use crate::http::extract::{Gives, HeldJson, Json, Path, Query, Takes, page_limit};
use crate::state::App;
use crate::store::Mark;

/// A page of history, ascending: after `after_seq`, before `before_seq`, or the latest.
#[utoipa::path(get, path = endpoints::History::PATH, tag = "messages",
    security(("bearer" = [])), params(("id" = Uuid, Path), HistoryQuery),
    responses((status = 200, body = MessagePage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn history(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<ConversationId>,
    Query(query): Query<Takes<endpoints::History>>,
) -> Result<HeldJson<Gives<endpoints::History>>> {
    // From the members cache: a change of members drops its entry when it commits.
    if !app
        .members
        .of(&*app.store, id)
        .await?
        .contains(&caller.user_id)
    {
        return Err(Error::not_found("conversation"));
    }
    let limit = page_limit(query.limit);
    // A page holds up to 500 bodies of up to 40 KB: bounded per user in number at once.
    let turn = app.limits.heavy_reads.turn(caller.user_id).await;
    let (mut messages, forward) = match (query.after_seq, query.before_seq) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid("give `after_seq` or `before_seq`, not both"));
        }
        (Some(after), None) => (app.store.messages_after(id, after, limit + 1).await?, true),
        (None, before) => (
            app.store.messages_before(id, before, limit + 1).await?,
            false,
        ),
    };
    let has_more = messages.len() > limit as usize;
    if has_more {
        if forward {
            messages.truncate(limit as usize);
        } else {
            messages.remove(0);
        }
    }
    Ok(HeldJson(MessagePage { messages, has_more }, turn))
}

/// Sends a message, or a change to one (edit, delete, react, unreact), over REST: 201
/// when stored now, 200 when it already was.
#[utoipa::path(post, path = endpoints::Send::PATH, tag = "messages",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = SendMessage,
    responses((status = 201, body = Message), (status = 200, body = Message),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn send(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<ConversationId>,
    Json(req): Json<Takes<endpoints::Send>>,
) -> Result<(StatusCode, Json<Gives<endpoints::Send>>)> {
    let outgoing = OutgoingMessage {
        id: req.id,
        conversation_id: id,
        body: req.body,
        reply_to: req.reply_to,
        change: req.change,
        attachments: req.attachments,
        sealed: req.sealed,
    };
    // Stored and announced in a task of its own: a client that hangs up (or a request
    // timeout) after the commit must not cancel the live fan-out of a stored message.
    let user = caller.user_id;
    let task = tokio::spawn(async move { chat::send(&app, user, outgoing, None).await });
    let (message, new) = task
        .await
        .map_err(|e| Error::Internal(format!("send task: {e}")))??;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(message)))
}

/// Moves the caller's read watermark.
#[utoipa::path(post, path = endpoints::Read::PATH, tag = "messages",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = Watermark,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn read(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<ConversationId>,
    Json(req): Json<Takes<endpoints::Read>>,
) -> Result<StatusCode> {
    chat::mark(&app, caller.user_id, id, Mark::Read, req.seq, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Moves the caller's delivered watermark.
#[utoipa::path(post, path = endpoints::Delivered::PATH, tag = "messages",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = Watermark,
    responses((status = 204), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn delivered(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<ConversationId>,
    Json(req): Json<Takes<endpoints::Delivered>>,
) -> Result<StatusCode> {
    chat::mark(&app, caller.user_id, id, Mark::Delivered, req.seq, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
