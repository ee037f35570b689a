//! `/blocks` and `/reports` (additions to v1): blocking someone, and telling the
//! operators about them. A block stops new conversations between the two, closes their
//! direct conversation both ways and hides each one's presence from the other; a report
//! is stored for the operators (docs/operations.md says how to read them).

use axum::extract::State;
use axum::http::StatusCode;
use ferry_proto::endpoints::{self, Endpoint};
use ferry_proto::{
    ConversationId, ErrorBody, NewReport, REPORT_MAX_COPIES, REPORT_REASON_MAX_CHARS, ReportId,
    ReportReceipt, ServerFrame, Timestamp, User, UserId,
};

use crate::auth::Caller;
use crate::chat::{self, MembersChange};
use crate::error::{Error, Result};
use crate::http::extract::{Gives, Json, Path, Takes};
use crate::presence;
use crate::state::App;
use crate::store::{self, StoreResult};

/// Whom the caller blocked, most recent first.
#[utoipa::path(get, path = endpoints::Blocked::PATH, tag = "safety", security(("bearer" = [])),
    responses((status = 200, body = [User]), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(app): State<App>,
    caller: Caller,
) -> Result<Json<Gives<endpoints::Blocked>>> {
    Ok(Json(app.store.blocked_users(caller.user_id).await?))
}

/// Blocks a user (again is no error).
#[utoipa::path(put, path = endpoints::Block::PATH, tag = "safety", security(("bearer" = [])),
    params(("user_id" = Uuid, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn block(
    State(app): State<App>,
    caller: Caller,
    Path(user_id): Path<UserId>,
) -> Result<StatusCode> {
    if user_id == caller.user_id {
        return Err(Error::invalid("you cannot block yourself"));
    }
    app.limits
        .check_membership_change(caller.user_id)
        .map_err(Error::RateLimited)?;
    block_user(&app, caller.user_id, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unblocks a user: their direct conversation, if any, is open again (not blocked is
/// no error).
#[utoipa::path(delete, path = endpoints::Unblock::PATH, tag = "safety", security(("bearer" = [])),
    params(("user_id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn unblock(
    State(app): State<App>,
    caller: Caller,
    Path(user_id): Path<UserId>,
) -> Result<StatusCode> {
    app.limits
        .check_membership_change(caller.user_id)
        .map_err(Error::RateLimited)?;
    let store = app.store.clone();
    let me = caller.user_id;
    let direct = change_blocks(&app, me, user_id, async move {
        store.unblock(me, user_id).await
    })
    .await?;
    if let Some(id) = direct {
        chat::announce_conversation(&app, id, &MembersChange::changed(me)).await?;
    }
    // Contacts again, if they share a conversation both accepted.
    presence::introduce(&app, me, &[user_id]).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reports a user to the operators, optionally with the conversation and message, and
/// blocks them when asked.
#[utoipa::path(post, path = endpoints::Report::PATH, tag = "safety", security(("bearer" = [])),
    request_body = NewReport,
    responses((status = 201, body = ReportReceipt), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn report(
    State(app): State<App>,
    caller: Caller,
    Json(req): Json<Takes<endpoints::Report>>,
) -> Result<(StatusCode, Json<Gives<endpoints::Report>>)> {
    let reason = req.reason.trim();
    if reason.chars().count() > REPORT_REASON_MAX_CHARS {
        return Err(Error::invalid(format!(
            "a report's reason is at most {REPORT_REASON_MAX_CHARS} characters"
        )));
    }
    if reason
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(Error::invalid(
            "a report's reason holds a control character (only tab and line breaks are allowed)",
        ));
    }
    if req.user_id == caller.user_id {
        return Err(Error::invalid("you cannot report yourself"));
    }
    if req.message_id.is_some() && req.conversation_id.is_none() {
        return Err(Error::invalid("a reported message needs its conversation"));
    }
    check_copies(&req, app.config.max_body_chars)?;
    if let Some(id) = req.conversation_id
        && !app
            .members
            .of(&*app.store, id)
            .await?
            .contains(&caller.user_id)
    {
        return Err(Error::not_found("conversation"));
    }
    if app.store.user(req.user_id).await?.is_none() {
        return Err(Error::not_found("user"));
    }
    app.limits
        .check_membership_change(caller.user_id)
        .map_err(Error::RateLimited)?;
    let id = ReportId::new();
    let stored = app
        .store
        .report(&store::NewReport {
            id,
            reporter: caller.user_id,
            reported: req.user_id,
            conversation_id: req.conversation_id,
            message_id: req.message_id,
            reason: reason.to_owned(),
            copies: req.copies.clone(),
            created_at: Timestamp::now(),
        })
        .await?;
    if !stored {
        // Not told apart from a message that does not exist: a report cannot probe.
        return Err(Error::not_found("message"));
    }
    app.metrics.reports.inc();
    crate::http::admin::recount(&app).await;
    tracing::info!(report = %id, reported = %req.user_id, "a user was reported");
    // The report's budget covers its block too.
    if req.block {
        block_user(&app, caller.user_id, req.user_id).await?;
    }
    Ok((StatusCode::CREATED, Json(ReportReceipt { id })))
}

/// Blocks `user` for `me` (the caller checked the rate and that it is not `me`).
async fn block_user(app: &App, me: UserId, user: UserId) -> Result<()> {
    let store = app.store.clone();
    let direct = change_blocks(app, me, user, async move {
        store.block(me, user, Timestamp::now()).await
    })
    .await?;
    if let Some(id) = direct {
        chat::announce_conversation(app, id, &MembersChange::changed(me)).await?;
    }
    // The blocker's app stops showing them online; the blocked user is not told.
    app.announce.frame(
        vec![me],
        None,
        &ServerFrame::Presence {
            user_id: user,
            online: false,
            last_seen: None,
        },
    );
    Ok(())
}

/// Blocks or unblocks between `a` and `b` (`change` does which, and returns their direct
/// conversation if it changed), then drops the cached members of every conversation the
/// two share and of their direct one on every node: the relays there read the blocks
/// between members from that cache.
async fn change_blocks(
    app: &App,
    a: UserId,
    b: UserId,
    change: impl Future<Output = StoreResult<Option<ConversationId>>> + Send + 'static,
) -> Result<Option<ConversationId>> {
    let store = app.store.clone();
    let (direct, _) = chat::change_members(
        app,
        async move {
            // A block changes states, not who is in what: the list holds either side of it.
            let shared = store.shared_conversations(a, b).await?;
            Ok((change.await?, shared))
        },
        |done| {
            let Some((direct, shared)) = done else {
                return Vec::new();
            };
            let mut touched = shared.clone();
            touched.extend(*direct);
            touched.sort_unstable();
            touched.dedup();
            touched
        },
    )
    .await?;
    Ok(direct)
}

/// A report's copies of sealed messages: only with a reported message, at most
/// `REPORT_MAX_COPIES`, each body no longer than a message's on this server. Which
/// messages they are is checked where they are shown (only those of the report's excerpt
/// are).
fn check_copies(report: &NewReport, max_body_chars: usize) -> Result<()> {
    if report.copies.is_empty() {
        return Ok(());
    }
    if report.message_id.is_none() {
        return Err(Error::invalid(
            "a report's copies go with a reported message",
        ));
    }
    if report.copies.len() > REPORT_MAX_COPIES {
        return Err(Error::invalid(format!(
            "a report carries at most {REPORT_MAX_COPIES} copies (the message and five either side)"
        )));
    }
    if report
        .copies
        .iter()
        .any(|c| c.body.chars().count() > max_body_chars)
    {
        return Err(Error::invalid(format!(
            "a copy's body is at most {max_body_chars} characters, as a message's"
        )));
    }
    Ok(())
}
