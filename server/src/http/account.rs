//! `/me` changes and `/account/*`: what a person does with their own account. Their
//! profile (a change reaches their other devices and their contacts live, as a `user`
//! frame), settings, password, email address, the sessions they are signed in with, and
//! deleting the account (its messages are deleted for everyone by `crate::erasure`).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use ferry_proto::endpoints::{self, Endpoint};
use ferry_proto::{
    Account, AccountDeletion, AccountSettings, EmailChange, ErrorBody, ErrorCode, PasswordChange,
    ProfileChange, ServerFrame, SessionId, SessionInfo, Timestamp, User, UserId, validate_password,
};

use crate::auth::{Caller, counted_password_check, end_sessions, password};
use crate::error::{Error, Result};
use crate::http::auth::check_display_name;
use crate::http::extract::{Gives, Json, Path, Takes};
use crate::http::recovery::{confirmation_allowed, mail_confirmation, normalize_email};
use crate::state::App;
use crate::store::AccountRecord;

/// The caller's account record, with their password hash.
async fn record(app: &App, caller: &Caller) -> Result<AccountRecord> {
    app.store
        .account(caller.user_id)
        .await?
        .ok_or_else(|| Error::not_found("user"))
}

/// Checks the caller's password (a stolen session cannot change the account's keys).
/// Counted as sign-in counts its tries (per username and place), so that a stolen token
/// is no way around that limit to guess the password.
async fn check_password(
    app: &App,
    record: &AccountRecord,
    given: String,
    from: IpAddr,
) -> Result<()> {
    let hash = Some(record.password_hash.clone());
    if counted_password_check(app, &record.user.username, from, given, hash).await? {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::InvalidCredentials,
            "the password is wrong",
        ))
    }
}

/// Tells the user's other devices and everyone who shares a conversation with them that
/// their profile changed.
pub(crate) async fn announce_user(app: &App, user: &User) -> Result<()> {
    let contacts = app.contacts.get(user.id).await?;
    let mut to: Vec<UserId> = contacts.iter().map(|c| c.contact).collect();
    to.push(user.id);
    app.announce.frame(
        to,
        None,
        &ServerFrame::User {
            user: Box::new(user.clone()),
        },
    );
    Ok(())
}

/// Changes the caller's display name.
#[utoipa::path(patch, path = endpoints::UpdateProfile::PATH, tag = "account", security(("bearer" = [])),
    request_body = ProfileChange,
    responses((status = 200, body = User), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn update_profile(
    State(app): State<App>,
    caller: Caller,
    Json(change): Json<Takes<endpoints::UpdateProfile>>,
) -> Result<Json<Gives<endpoints::UpdateProfile>>> {
    let Some(name) = change.display_name else {
        return Ok(Json(record(&app, &caller).await?.user));
    };
    let name = check_display_name(&name)?;
    let user = app
        .store
        .set_display_name(caller.user_id, name)
        .await?
        .ok_or_else(|| Error::not_found("user"))?;
    announce_user(&app, &user).await?;
    Ok(Json(user))
}

/// The caller's own account: profile, address, role and settings.
#[utoipa::path(get, path = endpoints::GetAccount::PATH, tag = "account", security(("bearer" = [])),
    responses((status = 200, body = Account), (status = 401, body = ErrorBody)))]
pub async fn account(
    State(app): State<App>,
    caller: Caller,
) -> Result<Json<Gives<endpoints::GetAccount>>> {
    Ok(Json(record(&app, &caller).await?.view()))
}

/// Changes the caller's settings (the fields given).
#[utoipa::path(patch, path = endpoints::UpdateSettings::PATH, tag = "account", security(("bearer" = [])),
    request_body = AccountSettings,
    responses((status = 200, body = Account), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn update_settings(
    State(app): State<App>,
    caller: Caller,
    Json(settings): Json<Takes<endpoints::UpdateSettings>>,
) -> Result<Json<Gives<endpoints::UpdateSettings>>> {
    if let Some(on) = settings.missed_message_mail {
        app.store
            .set_missed_message_mail(caller.user_id, on)
            .await?;
    }
    if let Some(until) = settings.do_not_disturb_until {
        // A time already past is no do-not-disturb: stored as off.
        let until = until.filter(|t| *t > Timestamp::now());
        app.store.set_do_not_disturb(caller.user_id, until).await?;
    }
    let account = record(&app, &caller).await?.view();
    // Every device of theirs follows the settings (do-not-disturb above all).
    app.announce.frame(
        vec![caller.user_id],
        None,
        &ServerFrame::Settings {
            settings: account.settings.clone(),
        },
    );
    Ok(Json(account))
}

/// Changes the password; the caller's other sessions end unless they keep them.
#[utoipa::path(post, path = endpoints::ChangePassword::PATH, tag = "account", security(("bearer" = [])),
    request_body = PasswordChange,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn change_password(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Caller,
    Json(change): Json<Takes<endpoints::ChangePassword>>,
) -> Result<StatusCode> {
    app.limits
        .check_auth_ip(peer.ip())
        .map_err(Error::RateLimited)?;
    validate_password(&change.new_password)
        .map_err(|_| Error::invalid("the new password must be 8 to 1024 characters"))?;
    let current = record(&app, &caller).await?;
    check_password(&app, &current, change.current_password, peer.ip()).await?;
    let hash = password::hash(change.new_password).await?;
    app.store
        .set_password(caller.user_id, &hash, Timestamp::now())
        .await?;
    if !change.keep_other_sessions {
        end_sessions(&app, caller.user_id, None, Some(caller.session_id)).await?;
    }
    tracing::info!(user_id = %caller.user_id, "password changed");
    Ok(StatusCode::NO_CONTENT)
}

/// Sets or removes the caller's address; a new one is confirmed by a mailed link.
#[utoipa::path(put, path = endpoints::ChangeEmail::PATH, tag = "account", security(("bearer" = [])),
    request_body = EmailChange,
    responses((status = 200, body = Account), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn change_email(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Caller,
    Json(change): Json<Takes<endpoints::ChangeEmail>>,
) -> Result<Json<Gives<endpoints::ChangeEmail>>> {
    app.limits
        .check_auth_ip(peer.ip())
        .map_err(Error::RateLimited)?;
    let email = change.email.as_deref().map(normalize_email).transpose()?;
    if email.is_some() && !app.mail.enabled() {
        return Err(Error::invalid(
            "this server sends no mail (no FERRY_SMTP_URL), so it cannot confirm an address",
        ));
    }
    let current = record(&app, &caller).await?;
    check_password(&app, &current, change.password, peer.ip()).await?;
    // Over the hourly limit of confirmations, nothing changes: the address stays as it was.
    if email.is_some() {
        confirmation_allowed(&app, &current.user).await?;
    }
    app.store
        .set_email(caller.user_id, email.as_deref(), Timestamp::now())
        .await?;
    if let Some(email) = email {
        mail_confirmation(&app, &current.user, &email).await?;
    }
    Ok(Json(record(&app, &caller).await?.view()))
}

/// Where the caller is signed in.
#[utoipa::path(get, path = endpoints::Sessions::PATH, tag = "account", security(("bearer" = [])),
    responses((status = 200, body = [SessionInfo]), (status = 401, body = ErrorBody)))]
pub async fn sessions(
    State(app): State<App>,
    caller: Caller,
) -> Result<Json<Gives<endpoints::Sessions>>> {
    let sessions = app.store.sessions_of(caller.user_id).await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| s.view(caller.session_id))
            .collect(),
    ))
}

/// Signs one of the caller's sessions out: its sockets close at once, its tokens stop
/// working.
#[utoipa::path(delete, path = endpoints::EndSession::PATH, tag = "account", security(("bearer" = [])),
    params(("session_id" = SessionId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn end_session(
    State(app): State<App>,
    caller: Caller,
    Path(session): Path<SessionId>,
) -> Result<StatusCode> {
    let ended = end_sessions(&app, caller.user_id, Some(session), None).await?;
    if ended.is_empty() {
        return Err(Error::not_found("session"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes the caller's account: signed out everywhere, its name, address and password
/// erased, its username held for a while, and its messages and reactions deleted for
/// everyone (by `crate::erasure`, which goes on after a restart until it is done).
#[utoipa::path(post, path = endpoints::DeleteAccount::PATH, tag = "account", security(("bearer" = [])),
    request_body = AccountDeletion,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn delete_account(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    caller: Caller,
    Json(deletion): Json<Takes<endpoints::DeleteAccount>>,
) -> Result<StatusCode> {
    app.limits
        .check_auth_ip(peer.ip())
        .map_err(Error::RateLimited)?;
    let current = record(&app, &caller).await?;
    check_password(&app, &current, deletion.password, peer.ip()).await?;
    let now = Timestamp::now();
    let hold = Timestamp::from_millis(
        now.as_millis()
            + i64::try_from(app.config.username_hold_days.saturating_mul(86_400_000))
                .unwrap_or(i64::MAX / 2),
    );
    let ended = app.store.close_account(caller.user_id, now, hold).await?;
    crate::auth::announce_ended(&app, &ended);
    app.erasure.notify_one();
    if let Some(user) = app.store.user(caller.user_id).await? {
        announce_user(&app, &user).await?;
    }
    // The picture goes with the profile (the account's row no longer names it; one set
    // meanwhile is left to the sweep of unused pictures).
    if let Some(picture) = current.user.picture {
        app.files.forget_picture(picture).await;
    }
    tracing::info!(user_id = %caller.user_id, "account deleted");
    Ok(StatusCode::NO_CONTENT)
}
