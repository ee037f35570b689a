//! `/admin/*`: the admin API that the console (`/admin/`) and operators' scripts use.
//! Every route takes an [`Operator`]: a caller whose account is an administrator in use.
//! Anyone else, signed in or not, gets the same 404 as an address that does not exist, so
//! the API does not tell who runs the server or that it is there. The actions are
//! `crate::admin`'s; what they change is announced here, on every node: a suspension
//! closes the account's sockets at once and shows its status to its contacts, a removal
//! reaches every member as a deletion.

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use ferry_proto::endpoints::{self, Endpoint};
use ferry_proto::{
    AdminReport, AdminUser, AuditEntry, ConversationId, ErrorBody, ErrorCode, MessageId, ReportId,
    ReportState, UserId,
};

use crate::admin::{self, Actor};
use crate::auth::{Caller, announce_ended, bearer};
use crate::error::{Error, Result};
use crate::http::account::announce_user;
use crate::http::extract::{Gives, Json, Path, Query, Takes};
use crate::state::App;

/// The caller of an admin route: an administrator whose account is in use.
#[derive(Clone, Copy, Debug)]
pub struct Operator(pub UserId);

/// What everyone else gets: the answer of an unknown address (`http::unknown_route`).
fn hidden() -> Error {
    Error::new(ErrorCode::NotFound, "no such route")
}

impl FromRequestParts<App> for Operator {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self> {
        let token = bearer(&parts.headers).ok_or_else(hidden)?;
        let caller = Caller::from_token(app, token).await.map_err(|_| hidden())?;
        if app.store.is_admin(caller.user_id).await? {
            Ok(Self(caller.user_id))
        } else {
            Err(hidden())
        }
    }
}

/// Counts the operators' queue again after an action changed it (or a report joined it).
pub(crate) async fn recount(app: &App) {
    admin::count_queue(
        &*app.store,
        &app.metrics.reports_open,
        &app.metrics.users_suspended,
    )
    .await;
}

/// Accounts whose username or display name starts with `q`, or the newest.
#[utoipa::path(get, path = endpoints::AdminUsers::PATH, tag = "admin", security(("bearer" = [])),
    params(ferry_proto::AdminUserQuery),
    responses((status = 200, body = [AdminUser]), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn users(
    State(app): State<App>,
    _: Operator,
    Query(query): Query<Takes<endpoints::AdminUsers>>,
) -> Result<Json<Gives<endpoints::AdminUsers>>> {
    let prefix = query.q.as_deref().map(|q| q.trim().to_owned());
    if prefix.as_deref().is_some_and(ferry_proto::has_control) {
        return Err(Error::invalid("a search cannot hold control characters"));
    }
    let accounts = app
        .store
        .accounts(
            prefix.as_deref().filter(|p| !p.is_empty()),
            admin::page(query.limit),
        )
        .await?;
    Ok(Json(accounts))
}

/// One account.
#[utoipa::path(get, path = endpoints::AdminUserDetail::PATH, tag = "admin", security(("bearer" = [])),
    params(("user_id" = UserId, Path)),
    responses((status = 200, body = AdminUser), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn user(
    State(app): State<App>,
    _: Operator,
    Path(user): Path<UserId>,
) -> Result<Json<Gives<endpoints::AdminUserDetail>>> {
    Ok(Json(admin::account(&*app.store, user).await?))
}

/// Suspends an account: its sockets close at once on every node, its tokens stop
/// working, and its contacts see it as suspended.
#[utoipa::path(post, path = endpoints::Suspend::PATH, tag = "admin", security(("bearer" = [])),
    params(("user_id" = UserId, Path)), request_body = ferry_proto::OperatorReason,
    responses((status = 200, body = AdminUser), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn suspend(
    State(app): State<App>,
    Operator(operator): Operator,
    Path(user): Path<UserId>,
    Json(why): Json<Takes<endpoints::Suspend>>,
) -> Result<Json<Gives<endpoints::Suspend>>> {
    let (view, ended) =
        admin::suspend(&*app.store, Actor::Admin(operator), user, &why.reason).await?;
    announce_ended(&app, &ended);
    announce_user(&app, &view.user).await?;
    recount(&app).await;
    Ok(Json(view))
}

/// Lifts a suspension.
#[utoipa::path(post, path = endpoints::Reactivate::PATH, tag = "admin", security(("bearer" = [])),
    params(("user_id" = UserId, Path)), request_body = ferry_proto::OperatorReason,
    responses((status = 200, body = AdminUser), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn reactivate(
    State(app): State<App>,
    Operator(operator): Operator,
    Path(user): Path<UserId>,
    Json(why): Json<Takes<endpoints::Reactivate>>,
) -> Result<Json<Gives<endpoints::Reactivate>>> {
    let view = admin::reactivate(&*app.store, Actor::Admin(operator), user, &why.reason).await?;
    announce_user(&app, &view.user).await?;
    recount(&app).await;
    Ok(Json(view))
}

/// The reports queue: one state (open by default), oldest first, each with its message
/// in context.
#[utoipa::path(get, path = endpoints::AdminReports::PATH, tag = "admin", security(("bearer" = [])),
    params(ferry_proto::ReportQuery),
    responses((status = 200, body = [AdminReport]), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reports(
    State(app): State<App>,
    _: Operator,
    Query(query): Query<Takes<endpoints::AdminReports>>,
) -> Result<Json<Gives<endpoints::AdminReports>>> {
    let state = query.state.unwrap_or(ReportState::Open);
    Ok(Json(admin::reports(&*app.store, state, query.limit).await?))
}

/// Resolves or dismisses an open report, with a note.
#[utoipa::path(post, path = endpoints::DecideReport::PATH, tag = "admin", security(("bearer" = [])),
    params(("report_id" = ReportId, Path)), request_body = ferry_proto::ReportDecision,
    responses((status = 200, body = AdminReport), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn decide(
    State(app): State<App>,
    Operator(operator): Operator,
    Path(report): Path<ReportId>,
    Json(decision): Json<Takes<endpoints::DecideReport>>,
) -> Result<Json<Gives<endpoints::DecideReport>>> {
    let decided = admin::decide(&*app.store, Actor::Admin(operator), report, &decision).await?;
    recount(&app).await;
    Ok(Json(decided))
}

/// Removes a message for everyone: every member's devices apply it as a deletion (by
/// its seq, at their next catch-up if offline) that says it was an administrator's.
#[utoipa::path(post, path = endpoints::RemoveMessage::PATH, tag = "admin", security(("bearer" = [])),
    params(("message_id" = MessageId, Path)), request_body = ferry_proto::OperatorReason,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn remove_message(
    State(app): State<App>,
    Operator(operator): Operator,
    Path(message): Path<MessageId>,
    Json(why): Json<Takes<endpoints::RemoveMessage>>,
) -> Result<StatusCode> {
    let removal = admin::removal(&*app.store, message, &why.reason).await?;
    app.committer.submit(removal, None).await?;
    // The message's files may be unnamed now.
    app.files.sweep.notify_one();
    admin::removed(&*app.store, Actor::Admin(operator), message, &why.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets how long a conversation's messages are kept (its own policy, or the server's).
#[utoipa::path(put, path = endpoints::SetRetention::PATH, tag = "admin", security(("bearer" = [])),
    params(("conversation_id" = ConversationId, Path)), request_body = ferry_proto::RetentionChange,
    responses((status = 200, body = ferry_proto::Retention), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_retention(
    State(app): State<App>,
    Operator(operator): Operator,
    Path(conversation): Path<ConversationId>,
    Json(change): Json<Takes<endpoints::SetRetention>>,
) -> Result<Json<Gives<endpoints::SetRetention>>> {
    admin::set_retention(
        &*app.store,
        Actor::Admin(operator),
        conversation,
        change.days,
        &change.reason,
    )
    .await?;
    Ok(Json(ferry_proto::Retention {
        conversation_id: conversation,
        days: change.days,
        server_days: app.config.retention_days,
    }))
}

/// The audit log, newest first.
#[utoipa::path(get, path = endpoints::AuditLog::PATH, tag = "admin", security(("bearer" = [])),
    params(ferry_proto::AuditQuery),
    responses((status = 200, body = [AuditEntry]), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn audit(
    State(app): State<App>,
    _: Operator,
    Query(query): Query<Takes<endpoints::AuditLog>>,
) -> Result<Json<Gives<endpoints::AuditLog>>> {
    let entries = app
        .store
        .audit_log(query.before, admin::page(query.limit))
        .await?;
    Ok(Json(entries))
}
