//! `/conversations`: create (direct, idempotent per pair; or group), list by activity,
//! read one, group membership, and accepting a message request.

use axum::extract::State;
use axum::http::StatusCode;
use ferry_proto::endpoints::{self, Endpoint};
use ferry_proto::{
    AddMembers, Conversation, ConversationId, ConversationKind, ConversationPage,
    CreateConversation, ErrorBody, ListQuery, MemberState, Notifications, Role, ServerFrame,
    TITLE_MAX_CHARS, Timestamp, UserId, has_control,
};

use crate::auth::Caller;
use crate::chat::{self, MembersChange};
use crate::error::{Error, Result};
use crate::http::extract::{Gives, Json, Path, Query, Takes, page_limit};
use crate::state::App;
use crate::store::ActivityCursor;

/// Most members a group may have.
pub(crate) const MAX_GROUP_MEMBERS: usize = 1000;

async fn visible(app: &App, caller: &Caller, id: ConversationId) -> Result<Conversation> {
    app.store
        .conversation(caller.user_id, id)
        .await?
        .ok_or_else(|| Error::not_found("conversation"))
}

/// Creates a conversation: 201 when new, 200 with the existing direct conversation.
#[utoipa::path(post, path = endpoints::CreateConversation::PATH, tag = "conversations", security(("bearer" = [])),
    request_body = CreateConversation,
    responses((status = 201, body = Conversation), (status = 200, body = Conversation),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn create(
    State(app): State<App>,
    caller: Caller,
    Json(req): Json<Takes<endpoints::CreateConversation>>,
) -> Result<(StatusCode, Json<Gives<endpoints::CreateConversation>>)> {
    let now = Timestamp::now();
    let (id, created) = match req.kind {
        ConversationKind::Direct => {
            let [other] = req.member_ids[..] else {
                return Err(Error::invalid(
                    "a direct conversation has exactly one other member",
                ));
            };
            if other == caller.user_id {
                return Err(Error::invalid(
                    "you cannot start a direct conversation with yourself",
                ));
            }
            app.store
                .direct_conversation(caller.user_id, other, ConversationId::new(), now)
                .await?
        }
        ConversationKind::Group => {
            app.limits
                .check_membership_change(caller.user_id)
                .map_err(Error::RateLimited)?;
            let title = req.title.as_deref().map(str::trim).unwrap_or_default();
            if title.is_empty() || title.chars().count() > TITLE_MAX_CHARS {
                return Err(Error::invalid(
                    "a group needs a title of 1 to 200 characters",
                ));
            }
            if has_control(title) {
                return Err(Error::invalid(
                    "a group title cannot hold control characters",
                ));
            }
            let mut members = req.member_ids.clone();
            members.retain(|m| *m != caller.user_id);
            members.sort_unstable();
            members.dedup();
            if members.len() + 1 > MAX_GROUP_MEMBERS {
                return Err(Error::invalid("a group has at most 1000 members"));
            }
            let id = ConversationId::new();
            app.store
                .create_group(id, caller.user_id, title, &members, now)
                .await?;
            (id, true)
        }
    };
    if created {
        chat::announce_conversation(&app, id, &MembersChange::created()).await?;
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(visible(&app, &caller, id).await?)))
}

/// The caller's conversations, newest activity first.
#[utoipa::path(get, path = endpoints::ListConversations::PATH, tag = "conversations", security(("bearer" = [])),
    params(ListQuery), responses((status = 200, body = ConversationPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(app): State<App>,
    caller: Caller,
    Query(query): Query<Takes<endpoints::ListConversations>>,
) -> Result<Json<Gives<endpoints::ListConversations>>> {
    let before = match query.before.as_deref() {
        Some(text) => Some(
            text.parse()
                .map_err(|_| Error::invalid("malformed `before` cursor"))?,
        ),
        None => None,
    };
    let limit = page_limit(query.limit);
    let mut conversations = app
        .store
        .conversations(caller.user_id, before, limit + 1)
        .await?;
    let next = if conversations.len() > limit as usize {
        conversations.truncate(limit as usize);
        conversations
            .last()
            .map(|c| ActivityCursor::after(c).to_string())
    } else {
        None
    };
    Ok(Json(ConversationPage {
        conversations,
        next,
    }))
}

/// One conversation.
#[utoipa::path(get, path = endpoints::GetConversation::PATH, tag = "conversations", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = Conversation), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn get(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<ConversationId>,
) -> Result<Json<Gives<endpoints::GetConversation>>> {
    Ok(Json(visible(&app, &caller, id).await?))
}

/// Adds members to a group (owner only).
#[utoipa::path(post, path = endpoints::AddMembers::PATH, tag = "conversations",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = AddMembers,
    responses((status = 200, body = Conversation), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn add_members(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<ConversationId>,
    Json(req): Json<Takes<endpoints::AddMembers>>,
) -> Result<Json<Gives<endpoints::AddMembers>>> {
    let conversation = visible(&app, &caller, id).await?;
    if conversation.kind == ConversationKind::Direct {
        return Err(Error::invalid("a direct conversation's members are fixed"));
    }
    if !is_owner(&conversation, caller.user_id) {
        return Err(Error::forbidden("only the group's owner may add members"));
    }
    let mut users = req.user_ids;
    users.retain(|u| !conversation.members.iter().any(|m| m.user.id == *u));
    users.sort_unstable();
    users.dedup();
    if users.is_empty() {
        return Ok(Json(conversation));
    }
    if conversation.members.len() + users.len() > MAX_GROUP_MEMBERS {
        return Err(Error::invalid("a group has at most 1000 members"));
    }
    app.limits
        .check_membership_change(caller.user_id)
        .map_err(Error::RateLimited)?;
    let store = app.store.clone();
    let by = caller.user_id;
    let joined = users.clone();
    chat::change_members(
        &app,
        async move { store.add_members(id, by, &users, Timestamp::now()).await },
        move |_| vec![id],
    )
    .await?;
    chat::announce_conversation(&app, id, &MembersChange::joined(joined)).await?;
    Ok(Json(visible(&app, &caller, id).await?))
}

/// Removes a member: the owner removes anyone, anyone removes themself.
#[utoipa::path(delete, path = endpoints::RemoveMember::PATH, tag = "conversations",
    security(("bearer" = [])), params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn remove_member(
    State(app): State<App>,
    caller: Caller,
    Path((id, user_id)): Path<(ConversationId, UserId)>,
) -> Result<StatusCode> {
    let conversation = visible(&app, &caller, id).await?;
    if conversation.kind == ConversationKind::Direct {
        return Err(Error::invalid("a direct conversation's members are fixed"));
    }
    if user_id != caller.user_id && !is_owner(&conversation, caller.user_id) {
        return Err(Error::forbidden("only the group's owner may remove others"));
    }
    app.limits
        .check_membership_change(caller.user_id)
        .map_err(Error::RateLimited)?;
    let store = app.store.clone();
    let removed = chat::change_members(
        &app,
        async move { store.remove_member(id, user_id, Timestamp::now()).await },
        move |_| vec![id],
    )
    .await?;
    let Some(last_seq) = removed else {
        return Err(Error::not_found("member"));
    };
    let change = MembersChange::removed(user_id, last_seq);
    if !chat::announce_conversation(&app, id, &change).await? {
        chat::announce_emptied(&app, conversation, user_id, last_seq);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Accepts a message request (addition to v1): the caller may send in the conversation,
/// and their presence, receipts and typing are shared in it from now on. Accepting an
/// accepted conversation changes nothing.
#[utoipa::path(post, path = endpoints::Accept::PATH, tag = "conversations",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Conversation), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 429, body = ErrorBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn accept(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<ConversationId>,
) -> Result<Json<Gives<endpoints::Accept>>> {
    app.limits
        .check_membership_change(caller.user_id)
        .map_err(Error::RateLimited)?;
    let store = app.store.clone();
    let user = caller.user_id;
    let before = chat::change_members(
        &app,
        async move { store.accept(id, user).await },
        move |_| vec![id],
    )
    .await?;
    match before {
        None => return Err(Error::not_found("conversation")),
        Some(MemberState::Blocked) => {
            return Err(Error::forbidden(
                "you blocked this person: unblock them to talk again",
            ));
        }
        Some(MemberState::Request) => chat::accepted(&app, id, user).await?,
        Some(MemberState::Accepted) => {}
    }
    Ok(Json(visible(&app, &caller, id).await?))
}

/// Sets the caller's notification level in a conversation (addition to v1): all, mentions
/// only, or none. Every device of theirs follows it, live through a `conversation` frame
/// to their sockets and later through `/sync`; nobody else sees it.
#[utoipa::path(put, path = endpoints::SetNotifications::PATH, tag = "conversations",
    security(("bearer" = [])), params(("id" = Uuid, Path)), request_body = Notifications,
    responses((status = 200, body = Conversation), (status = 404, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn set_notifications(
    State(app): State<App>,
    caller: Caller,
    Path(id): Path<ConversationId>,
    Json(req): Json<Takes<endpoints::SetNotifications>>,
) -> Result<Json<Gives<endpoints::SetNotifications>>> {
    app.limits
        .check_membership_change(caller.user_id)
        .map_err(Error::RateLimited)?;
    if !app
        .store
        .set_notifications(id, caller.user_id, req.level)
        .await?
    {
        return Err(Error::not_found("conversation"));
    }
    let conversation = visible(&app, &caller, id).await?;
    app.announce.frame(
        vec![caller.user_id],
        None,
        &ServerFrame::Conversation {
            conversation: Box::new(conversation.clone()),
        },
    );
    Ok(Json(conversation))
}

fn is_owner(conversation: &Conversation, user: UserId) -> bool {
    conversation
        .members
        .iter()
        .any(|m| m.user.id == user && m.role == Role::Owner)
}
