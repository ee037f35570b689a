//! `/auth/*`: register, login, refresh (rotating, with reuse detection) and logout.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use ferry_proto::endpoints::{self, Endpoint};
use ferry_proto::{
    ErrorBody, ErrorCode, LoginRequest, RefreshRequest, RegisterRequest, Timestamp, Tokens, User,
    normalize_username, validate_password,
};
use uuid::Uuid;

use crate::auth::tokens::hash_refresh;
use crate::auth::{Caller, password};
use crate::error::{Error, Result};
use crate::http::extract::{Gives, Json, Takes};
use crate::state::App;
use crate::store::{NewUser, Rotation};

pub(crate) const DISPLAY_NAME_MAX_CHARS: usize = 64;

/// Opens a session for `user` and returns its tokens.
async fn open_session(app: &App, user: User, device_name: Option<&str>) -> Result<Tokens> {
    let session_id = Uuid::now_v7();
    let (refresh_token, grant) = app.tokens.new_refresh()?;
    app.store
        .create_session(session_id, user.id, device_name, &grant, Timestamp::now())
        .await?;
    let access = app.tokens.issue(user.id, session_id)?;
    Ok(Tokens {
        user,
        session_id,
        access_token: access.token,
        access_expires_at: access.expires_at,
        refresh_token,
    })
}

/// Creates an account and signs it in.
#[utoipa::path(post, path = endpoints::Register::PATH, tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = Tokens), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn register(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(req): Json<Takes<endpoints::Register>>,
) -> Result<(StatusCode, Json<Gives<endpoints::Register>>)> {
    app.limits
        .check_auth_ip(peer.ip())
        .map_err(Error::RateLimited)?;
    let username = normalize_username(&req.username).map_err(|_| {
        Error::invalid("username must be 3-32 characters of a-z, 0-9, '_', '.' or '-'")
    })?;
    validate_password(&req.password)
        .map_err(|_| Error::invalid("password must be 8 to 1024 characters"))?;
    let display_name = req.display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > DISPLAY_NAME_MAX_CHARS {
        return Err(Error::invalid("display name must be 1 to 64 characters"));
    }
    if ferry_proto::has_control(display_name) {
        return Err(Error::invalid(
            "a display name cannot hold control characters",
        ));
    }
    let user = User {
        id: Uuid::now_v7(),
        username,
        display_name: display_name.to_owned(),
        created_at: Timestamp::now(),
    };
    let password_hash = password::hash(req.password).await?;
    app.store
        .create_user(&NewUser {
            user: user.clone(),
            password_hash,
        })
        .await?;
    tracing::info!(user_id = %user.id, "registered");
    let tokens = open_session(&app, user, None).await?;
    Ok((StatusCode::CREATED, Json(tokens)))
}

/// Signs in. A wrong username and a wrong password give the same answer, in the same time.
#[utoipa::path(post, path = endpoints::Login::PATH, tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = Tokens), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn login(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(req): Json<Takes<endpoints::Login>>,
) -> Result<Json<Gives<endpoints::Login>>> {
    app.limits
        .check_auth_ip(peer.ip())
        .map_err(Error::RateLimited)?;
    if req
        .device_name
        .as_deref()
        .is_some_and(ferry_proto::has_control)
    {
        return Err(Error::invalid(
            "a device name cannot hold control characters",
        ));
    }
    let username = req.username.trim().to_ascii_lowercase();
    app.limits
        .failed_logins
        .check(&username, peer.ip())
        .map_err(Error::RateLimited)?;
    // A name no account can have (a NUL in it, say) is looked up as nobody: the same
    // answer, in the same time, as any wrong username.
    let record = match normalize_username(&username) {
        Ok(valid) => app.store.login_record(&valid).await?,
        Err(_) => None,
    };
    let (user, hash) = match record {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let ok = password::verify(req.password, hash).await?;
    let Some(user) = user.filter(|_| ok) else {
        app.limits.failed_logins.failed(&username, peer.ip());
        return Err(Error::new(
            ErrorCode::InvalidCredentials,
            "wrong username or password",
        ));
    };
    app.limits.failed_logins.succeeded(&username, peer.ip());
    let device = req
        .device_name
        .as_deref()
        .map(|d| d.chars().take(100).collect::<String>());
    Ok(Json(open_session(&app, user, device.as_deref()).await?))
}

/// Exchanges a refresh token for new tokens; a reused token revokes its session.
#[utoipa::path(post, path = endpoints::Refresh::PATH, tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = Tokens), (status = 401, body = ErrorBody), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn refresh(
    State(app): State<App>,
    Json(req): Json<Takes<endpoints::Refresh>>,
) -> Result<Json<Gives<endpoints::Refresh>>> {
    let (refresh_token, grant) = app.tokens.new_refresh()?;
    let presented = hash_refresh(req.refresh_token.trim());
    match app
        .store
        .rotate_refresh(&presented, &grant, Timestamp::now())
        .await?
    {
        Rotation::Rotated { user, session_id } => {
            let access = app.tokens.issue(user.id, session_id)?;
            Ok(Json(Tokens {
                user,
                session_id,
                access_token: access.token,
                access_expires_at: access.expires_at,
                refresh_token,
            }))
        }
        Rotation::Reused { session_id } => {
            tracing::warn!(session_id = %session_id, "refresh token reused; session revoked");
            app.announce.session_ended(session_id);
            Err(Error::unauthorized(
                "refresh token already used; the session has been ended",
            ))
        }
        Rotation::Invalid => Err(Error::unauthorized("refresh token is invalid or expired")),
    }
}

/// Ends the caller's session: refresh token, access tokens and open sockets.
#[utoipa::path(post, path = endpoints::Logout::PATH, tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(State(app): State<App>, caller: Caller) -> Result<StatusCode> {
    app.store
        .revoke_session(caller.session_id, Timestamp::now())
        .await?;
    app.announce.session_ended(caller.session_id);
    Ok(StatusCode::NO_CONTENT)
}
