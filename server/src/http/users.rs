//! `/me` and `/users`: who am I, and finding people to talk to.

use axum::extract::State;
use ferry_proto::{ErrorBody, User, UserSearchQuery};

use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::http::extract::{Json, Query, page_limit};
use crate::state::App;

/// The caller's own account.
#[utoipa::path(get, path = "/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = ErrorBody)))]
pub async fn me(State(app): State<App>, caller: Caller) -> Result<Json<User>> {
    let user = app
        .store
        .user(caller.user_id)
        .await?
        .ok_or_else(|| Error::not_found("user"))?;
    Ok(Json(user))
}

/// Users whose username or display name starts with `q`.
#[utoipa::path(get, path = "/users", tag = "users", security(("bearer" = [])), params(UserSearchQuery),
    responses((status = 200, body = [User]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn search(
    State(app): State<App>,
    _caller: Caller,
    Query(query): Query<UserSearchQuery>,
) -> Result<Json<Vec<User>>> {
    if ferry_proto::has_control(&query.q) {
        return Err(Error::invalid("a search cannot hold control characters"));
    }
    let users = app
        .store
        .search_users(query.q.trim(), page_limit(query.limit))
        .await?;
    Ok(Json(users))
}
