//! `/auth/*`: register, login, refresh (rotating, with reuse detection) and logout. Each
//! session records the device's name and where and when it was last used (its sign-in
//! and each refresh), for the account's list of sessions.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use ferry_proto::endpoints::{self, Endpoint};
use ferry_proto::{
    ErrorBody, ErrorCode, LoginRequest, RefreshRequest, RegisterRequest, SessionId, Timestamp,
    Tokens, User, UserId, UserStatus, normalize_username, validate_password,
};

use crate::auth::tokens::hash_refresh;
use crate::auth::{Caller, password};
use crate::error::{Error, Result};
use crate::http::extract::{Gives, Json, Takes};
use crate::http::recovery::{mail_confirmation, normalize_email};
use crate::state::App;
use crate::store::{NewSession, NewUser, Rotation};

pub(crate) const DISPLAY_NAME_MAX_CHARS: usize = 64;

/// Opens a session for `user` and returns its tokens.
async fn open_session(
    app: &App,
    user: User,
    device_name: Option<&str>,
    peer: SocketAddr,
) -> Result<Tokens> {
    let session_id = SessionId::new();
    let (refresh_token, grant) = app.tokens.new_refresh()?;
    let place = peer.ip().to_string();
    app.store
        .create_session(
            &NewSession {
                id: session_id,
                user: user.id,
                device_name,
                place: Some(&place),
            },
            &grant,
            Timestamp::now(),
        )
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

/// A display name as given, trimmed, if it is one: 1 to [`DISPLAY_NAME_MAX_CHARS`]
/// characters, none of them control characters.
pub(crate) fn check_display_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > DISPLAY_NAME_MAX_CHARS {
        return Err(Error::invalid("display name must be 1 to 64 characters"));
    }
    if ferry_proto::has_control(name) {
        return Err(Error::invalid(
            "a display name cannot hold control characters",
        ));
    }
    Ok(name)
}

/// A device name as given, at most 100 characters, if it holds no control characters.
fn check_device_name(name: Option<&str>) -> Result<Option<String>> {
    match name {
        Some(name) if ferry_proto::has_control(name) => Err(Error::invalid(
            "a device name cannot hold control characters",
        )),
        Some(name) => Ok(Some(name.trim().chars().take(100).collect())),
        None => Ok(None),
    }
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
    let display_name = check_display_name(&req.display_name)?;
    let device = check_device_name(req.device_name.as_deref())?;
    let email = req.email.as_deref().map(normalize_email).transpose()?;
    // Refused before anything is made, as `PUT /account/email` refuses it: an address
    // that can never be confirmed would only wait for ever.
    if email.is_some() && !app.mail.enabled() {
        return Err(Error::invalid(
            "this server sends no mail (no FERRY_SMTP_URL), so it cannot confirm an address",
        ));
    }
    let user = User::new(UserId::new(), username, display_name, Timestamp::now());
    let password_hash = password::hash(req.password).await?;
    app.store
        .create_user(&NewUser {
            user: user.clone(),
            password_hash,
        })
        .await?;
    tracing::info!(user_id = %user.id, "registered");
    if let Some(email) = email {
        app.store
            .set_email(user.id, Some(&email), Timestamp::now())
            .await?;
        mail_confirmation(&app, &user, &email).await?;
    }
    let tokens = open_session(&app, user, device.as_deref(), peer).await?;
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
    let device = check_device_name(req.device_name.as_deref())?;
    let username = req.username.trim().to_ascii_lowercase();
    // A name no account can have (a NUL in it, say) is looked up as nobody: the same
    // answer, in the same time, as any wrong username.
    let record = match normalize_username(&username) {
        Ok(valid) => app.store.login_record(&valid).await?,
        Err(_) => None,
    };
    // A deleted account has no password: it is nobody, answered as any wrong username.
    let (user, hash) = match record {
        Some((user, hash)) if user.status != Some(UserStatus::Deleted) => (Some(user), Some(hash)),
        _ => (None, None),
    };
    let ok =
        crate::auth::counted_password_check(&app, &username, peer.ip(), req.password, hash).await?;
    let Some(user) = user.filter(|_| ok) else {
        return Err(Error::new(
            ErrorCode::InvalidCredentials,
            "wrong username or password",
        ));
    };
    // Only with the right password: a suspension tells nobody else the name exists.
    if user.status == Some(UserStatus::Suspended) {
        return Err(Error::forbidden(
            "this account is suspended by the server's operators",
        ));
    }
    Ok(Json(
        open_session(&app, user, device.as_deref(), peer).await?,
    ))
}

/// Exchanges a refresh token for new tokens; a reused token revokes its session.
#[utoipa::path(post, path = endpoints::Refresh::PATH, tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = Tokens), (status = 401, body = ErrorBody), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn refresh(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
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
            let place = peer.ip().to_string();
            app.store
                .touch_session(session_id, Timestamp::now(), Some(&place))
                .await?;
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
