//! `/me` and `/users`: who am I, and finding people to talk to.

use axum::extract::State;
use ferry_proto::endpoints::{self, Endpoint};
use ferry_proto::{ErrorBody, USER_SEARCH_MAX_LIMIT, USER_SEARCH_MIN_CHARS, User, UserSearchQuery};

use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::http::extract::{Gives, Json, Query, Takes};
use crate::state::App;

/// The caller's own account.
#[utoipa::path(get, path = endpoints::Me::PATH, tag = "users", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = ErrorBody)))]
pub async fn me(State(app): State<App>, caller: Caller) -> Result<Json<Gives<endpoints::Me>>> {
    let user = app
        .store
        .user(caller.user_id)
        .await?
        .ok_or_else(|| Error::not_found("user"))?;
    Ok(Json(user))
}

/// Users whose username or display name starts with `q` (at least
/// [`USER_SEARCH_MIN_CHARS`] characters), at most [`USER_SEARCH_MAX_LIMIT`], a few dozen
/// searches a minute per user: finding someone to talk to, not walking the directory.
#[utoipa::path(get, path = endpoints::SearchUsers::PATH, tag = "users", security(("bearer" = [])), params(UserSearchQuery),
    responses((status = 200, body = [User]), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody)))]
pub async fn search(
    State(app): State<App>,
    caller: Caller,
    Query(query): Query<Takes<endpoints::SearchUsers>>,
) -> Result<Json<Gives<endpoints::SearchUsers>>> {
    if ferry_proto::has_control(&query.q) {
        return Err(Error::invalid("a search cannot hold control characters"));
    }
    let prefix = query.q.trim();
    if prefix.chars().count() < USER_SEARCH_MIN_CHARS {
        return Err(Error::invalid(format!(
            "a search needs at least {USER_SEARCH_MIN_CHARS} characters"
        )));
    }
    app.limits
        .check_user_search(caller.user_id)
        .map_err(Error::RateLimited)?;
    let limit = query
        .limit
        .unwrap_or(USER_SEARCH_MAX_LIMIT)
        .clamp(1, USER_SEARCH_MAX_LIMIT);
    let users = app.store.search_users(prefix, limit).await?;
    Ok(Json(users))
}
