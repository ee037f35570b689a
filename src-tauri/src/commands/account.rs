//! The commands of the signed-in user's own account (docs/protocol.md, "Accounts"): the
//! profile (name and picture, and anyone's picture to show), password, email address and
//! where the account is signed in (and the history its devices send each other),
//! exporting its data, deleting it, and
//! the two a person who cannot sign in needs (a reset mail asked for, a new password set
//! with its code). Unlike the others these go to the server, so they fail offline, with
//! the core's error saying so.

use std::path::PathBuf;

use ferry_client::HistoryRequest;
use ferry_proto::{Account, PictureId, SessionId, SessionInfo, Timestamp, User};
use tauri::{AppHandle, Emitter, State};

use super::Result;
use crate::events::{EVENT, UiEvent};
use crate::state::Desktop;

/// The account as the server has it: name, address (confirmed or not), role, settings.
#[tauri::command]
pub async fn account_details(state: State<'_, Desktop>) -> Result<Account> {
    Ok(state.client()?.account().details().await?)
}

/// Changes the name others see; a `profile` event follows, on every device.
#[tauri::command]
pub async fn rename(state: State<'_, Desktop>, display_name: String) -> Result<User> {
    Ok(state.client()?.account().rename(&display_name).await?)
}

/// Changes the password with the current one; other devices are signed out unless kept.
#[tauri::command]
pub async fn change_password(
    state: State<'_, Desktop>,
    current_password: String,
    new_password: String,
    keep_other_sessions: bool,
) -> Result<()> {
    Ok(state
        .client()?
        .account()
        .change_password(&current_password, &new_password, keep_other_sessions)
        .await?)
}

/// Sets the email address (the server mails it a code to confirm), or removes it (`null`).
#[tauri::command]
pub async fn set_email(
    state: State<'_, Desktop>,
    email: Option<String>,
    password: String,
) -> Result<Account> {
    Ok(state
        .client()?
        .account()
        .set_email(email.as_deref(), &password)
        .await?)
}

/// Confirms the address with the code mailed to it.
#[tauri::command]
pub async fn verify_email(state: State<'_, Desktop>, code: String) -> Result<()> {
    Ok(state.client()?.account().verify_email(&code).await?)
}

/// Where the account is signed in, most recently used first (this device marked).
#[tauri::command]
pub async fn account_sessions(state: State<'_, Desktop>) -> Result<Vec<SessionInfo>> {
    Ok(state.client()?.account().sessions().await?)
}

/// Signs another device out: its connection closes at once.
#[tauri::command]
pub async fn end_session(state: State<'_, Desktop>, session_id: SessionId) -> Result<()> {
    Ok(state.client()?.account().end_session(session_id).await?)
}

/// The person's other devices that asked this one for the history of their encrypted
/// conversations, oldest first (a `history_requests` event says when they change).
#[tauri::command]
pub async fn history_requests(state: State<'_, Desktop>) -> Result<Vec<HistoryRequest>> {
    Ok(state.client()?.history_requests()?)
}

/// Sends the history this device holds to the person's device that asked for it: how
/// many entries went.
#[tauri::command]
pub async fn send_history(state: State<'_, Desktop>, session_id: SessionId) -> Result<u32> {
    let sent = state.client()?.send_history(session_id).await?;
    Ok(u32::try_from(sent).unwrap_or(u32::MAX))
}

/// Forgets a device's ask for the history without answering it.
#[tauri::command]
pub async fn dismiss_history_request(
    state: State<'_, Desktop>,
    session_id: SessionId,
) -> Result<bool> {
    Ok(state.client()?.dismiss_history_request(session_id)?)
}

/// Asks the person's other devices again for the history this device could not open:
/// how many were asked.
#[tauri::command]
pub async fn ask_for_history(state: State<'_, Desktop>) -> Result<u32> {
    let asked = state.client()?.ask_for_history().await?;
    Ok(u32::try_from(asked).unwrap_or(u32::MAX))
}

/// Makes the image at `path` (picked in a file dialog) this person's profile picture; a
/// `profile` event follows, on every device, and contacts see it.
#[tauri::command]
pub async fn set_picture(state: State<'_, Desktop>, path: PathBuf) -> Result<User> {
    Ok(state.client()?.account().set_picture(&path).await?)
}

/// Removes this person's profile picture.
#[tauri::command]
pub async fn remove_picture(state: State<'_, Desktop>) -> Result<User> {
    Ok(state.client()?.account().remove_picture().await?)
}

/// A `data:` URL of someone's profile picture (`User.picture`), kept on this device once
/// fetched.
#[tauri::command]
pub async fn user_picture(state: State<'_, Desktop>, picture: PictureId) -> Result<String> {
    let bytes = state.client()?.picture(picture).await?;
    Ok(crate::viewer::data_url(&bytes))
}

/// Saves everything the server holds about this person to `path` (chosen in a save
/// dialog), a tar archive; `export_progress` events say how far it got. Answers its size.
#[tauri::command]
pub async fn export_account(
    app: AppHandle,
    state: State<'_, Desktop>,
    path: PathBuf,
) -> Result<u64> {
    let client = state.client()?;
    let mut shown = 0u64;
    let bytes = client
        .account()
        .export(&path, |received, total| {
            // Each percent at most: the UI redraws a bar, not a byte counter.
            if received == total || received == 0 || received >= shown + (total / 100).max(1) {
                shown = received;
                let _ = app.emit(EVENT, UiEvent::ExportProgress { received, total });
            }
        })
        .await?;
    Ok(bytes)
}

/// Deletes the account for good (with its password); this device is signed out.
#[tauri::command]
pub async fn delete_account(state: State<'_, Desktop>, password: String) -> Result<()> {
    let client = state.client()?;
    client.account().delete(&password).await?;
    state.set_client(None);
    Ok(())
}

/// Asks `server_url` to mail a reset code to the account `login` names (a username or a
/// confirmed address); the answer is the same whether or not it exists.
#[tauri::command]
pub async fn forgot_password(
    state: State<'_, Desktop>,
    server_url: String,
    login: String,
    allow_plain_http: Option<bool>,
) -> Result<()> {
    let options = super::options(&state, &server_url, allow_plain_http);
    Ok(ferry_client::forgot_password(&options, &login).await?)
}

/// Sets a new password with a mailed code; every device of the account is signed out.
#[tauri::command]
pub async fn reset_password(
    state: State<'_, Desktop>,
    server_url: String,
    code: String,
    new_password: String,
    allow_plain_http: Option<bool>,
) -> Result<()> {
    let options = super::options(&state, &server_url, allow_plain_http);
    Ok(ferry_client::reset_password(&options, &code, &new_password).await?)
}

/// Turns missed-message mail on or off (mail of unread direct messages when no device of
/// this user was online for a while).
#[tauri::command]
pub async fn set_missed_message_mail(state: State<'_, Desktop>, on: bool) -> Result<Account> {
    Ok(state
        .client()?
        .account()
        .set_missed_message_mail(on)
        .await?)
}

/// Turns do-not-disturb on until `until`, or off (`null`), on every device of this user;
/// works offline (sent on the next connect).
#[tauri::command]
pub async fn set_do_not_disturb(state: State<'_, Desktop>, until: Option<Timestamp>) -> Result<()> {
    Ok(state.client()?.account().set_do_not_disturb(until).await?)
}

/// Until when do-not-disturb holds (`null`: off), as this device knows it.
#[tauri::command]
pub fn do_not_disturb(state: State<'_, Desktop>) -> Result<Option<Timestamp>> {
    Ok(state.client()?.do_not_disturb_until()?)
}
