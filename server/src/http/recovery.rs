//! Mailed one-time links: confirming an email address, and resetting a forgotten
//! password. Each token is random, stored only hashed, works once and for
//! `FERRY_MAIL_TOKEN_MINUTES`. Asking for a reset answers the same whether or not the
//! login names an account (and in the same time: the mail goes out from a task), and is
//! limited per place and per account. The links in a mail open small pages of this
//! server's (`/account/verify-email`, `/account/reset-password`), which post back to the
//! same API the apps use; the apps and the CLI can also take the token itself. The link in
//! a missed-message mail (`crate::digest`) opens `/account/unsubscribe`, which turns that
//! mail off.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use ferry_proto::endpoints::{self, Endpoint};
use ferry_proto::{
    EmailVerification, ErrorBody, PasswordReset, PasswordResetRequest, Timestamp, User, UserId,
    validate_password,
};
use serde::Deserialize;

use crate::auth::password;
use crate::auth::tokens::hash_refresh;
use crate::error::{Error, Result};
use crate::http::extract::{Json, Takes};
use crate::mail::{Mail, is_address};
use crate::state::App;
use crate::store::{MailPurpose, MailToken};

/// Reset mails one account may be sent per hour: enough for a lost mail or two, too few
/// to flood someone's inbox.
const RESETS_PER_HOUR: u64 = 3;
/// Confirmation mails one account may be sent per hour.
const CONFIRMATIONS_PER_HOUR: u64 = 5;

/// `address` trimmed, if it is one.
pub(crate) fn normalize_email(address: &str) -> Result<String> {
    let address = address.trim();
    if is_address(address) {
        Ok(address.to_owned())
    } else {
        Err(Error::invalid("that is not an email address"))
    }
}

/// A new token for `user`, stored hashed; the token itself is returned for the mail.
async fn token_for(
    app: &App,
    user: UserId,
    purpose: MailPurpose,
    email: Option<&str>,
    minutes: u64,
) -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::Internal(format!("getrandom: {e}")))?;
    let token = hex::encode(bytes);
    let now = Timestamp::now();
    let minutes = i64::try_from(minutes).unwrap_or(i64::MAX / 120_000);
    app.store
        .create_mail_token(&MailToken {
            hash: hash_refresh(&token),
            user,
            purpose,
            email: email.map(str::to_owned),
            created_at: now,
            expires_at: Timestamp::from_millis(now.as_millis() + minutes * 60_000),
        })
        .await?;
    Ok(token)
}

/// Whether `user` may be sent another mail of `purpose` this hour.
async fn may_mail(app: &App, user: &User, purpose: MailPurpose, per_hour: u64) -> Result<bool> {
    let hour_ago = Timestamp::from_millis(Timestamp::now().as_millis() - 3_600_000);
    Ok(app
        .store
        .mail_tokens_since(user.id, purpose, hour_ago)
        .await?
        < per_hour)
}

/// Refuses (429) when `user` was sent as many confirmations this hour as they may be.
pub(crate) async fn confirmation_allowed(app: &App, user: &User) -> Result<()> {
    if may_mail(app, user, MailPurpose::VerifyEmail, CONFIRMATIONS_PER_HOUR).await? {
        Ok(())
    } else {
        Err(Error::RateLimited(std::time::Duration::from_secs(3600)))
    }
}

/// Mails `user` a link that confirms `email` (when mail is set up and they were not sent
/// too many this hour).
pub(crate) async fn mail_confirmation(app: &App, user: &User, email: &str) -> Result<()> {
    if !app.mail.enabled() {
        return Ok(());
    }
    confirmation_allowed(app, user).await?;
    let token = token_for(
        app,
        user.id,
        MailPurpose::VerifyEmail,
        Some(email),
        app.config.mail_token_minutes,
    )
    .await?;
    let link = app
        .mail
        .link(&format!("/account/verify-email?token={token}"));
    app.mail.send_later(Mail {
        to: email.to_owned(),
        subject: "Confirm your address for Ferry".into(),
        body: format!(
            "Hello {name},\n\n\
             to confirm that {email} is your address on Ferry, open this link:\n\n{link}\n\n\
             or give this code to the app: {token}\n\n\
             It works for {minutes} minutes. If you did not ask for this, ignore this mail.\n",
            name = user.display_name,
            minutes = app.config.mail_token_minutes,
        ),
    });
    Ok(())
}

/// Confirms an email address with the token a confirmation mail carried.
#[utoipa::path(post, path = endpoints::VerifyEmail::PATH, tag = "auth", request_body = EmailVerification,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn verify_email(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(req): Json<Takes<endpoints::VerifyEmail>>,
) -> Result<StatusCode> {
    app.limits
        .check_auth_ip(peer.ip())
        .map_err(Error::RateLimited)?;
    confirm(&app, req.token.trim()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn confirm(app: &App, token: &str) -> Result<()> {
    let now = Timestamp::now();
    let used = app
        .store
        .use_mail_token(&hash_refresh(token), MailPurpose::VerifyEmail, now)
        .await?;
    let Some((user, Some(email))) = used else {
        return Err(Error::invalid(
            "this link is unknown, used or expired; ask for a new one",
        ));
    };
    if !app.store.confirm_email(user, &email, now).await? {
        return Err(Error::invalid(
            "the account's address changed since this link was sent",
        ));
    }
    tracing::info!(user_id = %user, "email confirmed");
    Ok(())
}

/// Mails a password reset link to the confirmed address of the account a login names.
/// The answer is the same whether or not there is one.
#[utoipa::path(post, path = endpoints::ForgotPassword::PATH, tag = "auth", request_body = PasswordResetRequest,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn forgot_password(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(req): Json<Takes<endpoints::ForgotPassword>>,
) -> Result<StatusCode> {
    app.limits
        .check_auth_ip(peer.ip())
        .map_err(Error::RateLimited)?;
    let login = req.login.trim();
    if login.is_empty() || login.len() > 254 || ferry_proto::has_control(login) {
        return Err(Error::invalid("give a username or an email address"));
    }
    if !app.mail.enabled() {
        return Err(Error::invalid(
            "this server sends no mail (no FERRY_SMTP_URL); ask its operator to reset your password",
        ));
    }
    if let Some((user, Some(email))) = app.store.user_by_login(login).await?
        && may_mail(&app, &user, MailPurpose::ResetPassword, RESETS_PER_HOUR).await?
    {
        let token = token_for(
            &app,
            user.id,
            MailPurpose::ResetPassword,
            None,
            app.config.mail_token_minutes,
        )
        .await?;
        let link = app
            .mail
            .link(&format!("/account/reset-password?token={token}"));
        app.mail.send_later(Mail {
            to: email,
            subject: "Reset your Ferry password".into(),
            body: format!(
                "Hello {name},\n\n\
                 someone (we hope you) asked to reset the password of {username} on Ferry.\n\
                 To choose a new one, open this link:\n\n{link}\n\n\
                 or give this code to the app: {token}\n\n\
                 It works once, for {minutes} minutes, and signs every device out.\n\
                 If you did not ask for this, ignore this mail: your password stays.\n",
                name = user.display_name,
                username = user.username,
                minutes = app.config.mail_token_minutes,
            ),
        });
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Sets a new password with the token a reset mail carried; every session ends.
#[utoipa::path(post, path = endpoints::ResetPassword::PATH, tag = "auth", request_body = PasswordReset,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn reset_password(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(req): Json<Takes<endpoints::ResetPassword>>,
) -> Result<StatusCode> {
    app.limits
        .check_auth_ip(peer.ip())
        .map_err(Error::RateLimited)?;
    reset(&app, req.token.trim(), req.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn reset(app: &App, token: &str, new_password: String) -> Result<()> {
    validate_password(&new_password)
        .map_err(|_| Error::invalid("the new password must be 8 to 1024 characters"))?;
    let used = app
        .store
        .use_mail_token(
            &hash_refresh(token),
            MailPurpose::ResetPassword,
            Timestamp::now(),
        )
        .await?;
    let Some((user, _)) = used else {
        return Err(Error::invalid(
            "this link is unknown, used or expired; ask for a new one",
        ));
    };
    let hash = password::hash(new_password).await?;
    app.store
        .set_password(user, &hash, Timestamp::now())
        .await?;
    crate::auth::end_sessions(app, user, None, None).await?;
    tracing::info!(user_id = %user, "password reset");
    Ok(())
}

/// How long the link in a missed-message mail turns the mail off: a person may read
/// the mail days later.
const UNSUBSCRIBE_DAYS: u64 = 30;

/// A link that turns `user`'s missed-message mail off without signing in (each digest
/// carries a new one).
pub(crate) async fn unsubscribe_link(app: &App, user: UserId) -> Result<String> {
    let token = token_for(
        app,
        user,
        MailPurpose::Unsubscribe,
        None,
        UNSUBSCRIBE_DAYS * 24 * 60,
    )
    .await?;
    Ok(app
        .mail
        .link(&format!("/account/unsubscribe?token={token}")))
}

/// The token in a mailed link.
#[derive(Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    token: String,
}

/// A page's form fields.
#[derive(Deserialize)]
pub struct LinkForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    again: String,
}

/// A small page of the server's own, with `body` (already escaped HTML).
fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{title} · Ferry</title>\
         <style>body{{font:16px system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}\
         input,button{{font:inherit;padding:.4rem;margin:.3rem 0;width:100%}}</style></head>\
         <body><h1>{title}</h1>{body}</body></html>"
    ))
}

/// `text` safe inside HTML text and attribute values.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The page a confirmation link opens: a button, so that a mail scanner that follows
/// links confirms nothing by itself.
pub async fn verify_page(Query(q): Query<LinkQuery>) -> Html<String> {
    page(
        "Confirm your address",
        &format!(
            "<form method=\"post\"><input type=\"hidden\" name=\"token\" value=\"{}\">\
             <button type=\"submit\">Confirm</button></form>",
            escape(&q.token)
        ),
    )
}

/// The confirmation page's form.
pub async fn verify_posted(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    axum::Form(form): axum::Form<LinkForm>,
) -> (StatusCode, Html<String>) {
    if let Err(limited) = app.limits.check_auth_ip(peer.ip()) {
        return failed_page("Confirm your address", &Error::RateLimited(limited));
    }
    match confirm(&app, form.token.trim()).await {
        Ok(()) => (
            StatusCode::OK,
            page("Address confirmed", "<p>You can close this page.</p>"),
        ),
        Err(e) => failed_page("Confirm your address", &e),
    }
}

/// The page a reset link opens: a new password, twice.
pub async fn reset_page(Query(q): Query<LinkQuery>) -> Html<String> {
    reset_form(&q.token, None)
}

fn reset_form(token: &str, problem: Option<&str>) -> Html<String> {
    let problem = problem.map_or(String::new(), |p| {
        format!("<p role=\"alert\">{}</p>", escape(p))
    });
    page(
        "Choose a new password",
        &format!(
            "{problem}<form method=\"post\"><input type=\"hidden\" name=\"token\" value=\"{}\">\
             <label>New password<input type=\"password\" name=\"password\" minlength=\"8\" \
             autocomplete=\"new-password\" required></label>\
             <label>Again<input type=\"password\" name=\"again\" minlength=\"8\" \
             autocomplete=\"new-password\" required></label>\
             <button type=\"submit\">Set the password</button></form>",
            escape(token)
        ),
    )
}

/// The reset page's form.
pub async fn reset_posted(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    axum::Form(form): axum::Form<LinkForm>,
) -> (StatusCode, Html<String>) {
    if let Err(limited) = app.limits.check_auth_ip(peer.ip()) {
        return failed_page("Choose a new password", &Error::RateLimited(limited));
    }
    if form.password != form.again {
        return (
            StatusCode::BAD_REQUEST,
            reset_form(&form.token, Some("The two passwords differ.")),
        );
    }
    match reset(&app, form.token.trim(), form.password).await {
        Ok(()) => (
            StatusCode::OK,
            page(
                "Password changed",
                "<p>Sign in with your new password on each of your devices.</p>",
            ),
        ),
        Err(e) => failed_page("Choose a new password", &e),
    }
}

fn failed_page(title: &str, error: &Error) -> (StatusCode, Html<String>) {
    let api = error.to_api();
    let status = StatusCode::from_u16(api.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        page(
            title,
            &format!("<p role=\"alert\">{}</p>", escape(&api.message)),
        ),
    )
}

/// The page an unsubscribe link opens: a button, so that a mail scanner that follows
/// links turns nothing off.
pub async fn unsubscribe_page(Query(q): Query<LinkQuery>) -> Html<String> {
    page(
        "No more missed-message mail",
        &format!(
            "<p>Ferry mails you unread direct messages when no device of yours is online.</p>\
             <form method=\"post\"><input type=\"hidden\" name=\"token\" value=\"{}\">\
             <button type=\"submit\">Stop these mails</button></form>",
            escape(&q.token)
        ),
    )
}

/// The unsubscribe page's form: the setting goes off (the apps can turn it on again).
pub async fn unsubscribe_posted(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    axum::Form(form): axum::Form<LinkForm>,
) -> (StatusCode, Html<String>) {
    const TITLE: &str = "No more missed-message mail";
    if let Err(limited) = app.limits.check_auth_ip(peer.ip()) {
        return failed_page(TITLE, &Error::RateLimited(limited));
    }
    let used = app
        .store
        .use_mail_token(
            &hash_refresh(form.token.trim()),
            MailPurpose::Unsubscribe,
            Timestamp::now(),
        )
        .await;
    let user = match used {
        Ok(Some((user, _))) => user,
        Ok(None) => {
            return failed_page(
                TITLE,
                &Error::invalid("this link is unknown, used or expired"),
            );
        }
        Err(e) => return failed_page(TITLE, &e.into()),
    };
    if let Err(e) = app.store.set_missed_message_mail(user, false).await {
        return failed_page(TITLE, &e.into());
    }
    tracing::info!(user_id = %user, "missed-message mail turned off by its link");
    (
        StatusCode::OK,
        page(
            "Done",
            "<p>No more missed-message mail. You can turn it on again in the app's settings.</p>",
        ),
    )
}
