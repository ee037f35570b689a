//! The commands the UI calls (through `ui/src/lib/backend`). Each is a thin call into the
//! client core; reads answer from the local store, so they work offline. Arguments arrive
//! in camelCase from JavaScript (`conversationId`).

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use ferry_client::tokens::KeyringTokens;
use ferry_client::{
    Client, ClientOptions, ConnectionState, ConversationSummary, ErrorKind, ListPosition,
    LocalErrorKind, LocalMessage, SearchHit,
};
use ferry_proto::{Presence, User};
use tauri::{AppHandle, State};
use uuid::Uuid;

use crate::error::CommandError;
use crate::notify::Attention;
use crate::state::{Desktop, KnownAccount, SessionView};
use crate::viewer;

type Result<T> = std::result::Result<T, CommandError>;

fn tokens() -> Result<Arc<KeyringTokens>> {
    KeyringTokens::new()
        .map(Arc::new)
        .map_err(|e| CommandError {
            kind: ErrorKind::Local(LocalErrorKind::Keyring),
            message: e.to_string(),
        })
}

/// Who is signed in (silently resumed at start) and the connection state.
#[tauri::command]
pub fn session(state: State<'_, Desktop>) -> SessionView {
    match state.client() {
        Ok(client) => SessionView {
            user: Some(client.me().clone()),
            connection: client.connection().borrow().clone(),
            last_account: Some(KnownAccount {
                server_url: client.server_url().to_owned(),
                username: client.me().username.clone(),
            }),
        },
        Err(_) => SessionView {
            user: None,
            connection: ConnectionState::SignedOut,
            // A device that cannot read its last account simply proposes the defaults.
            last_account: Client::last_account(&state.data_dir)
                .ok()
                .flatten()
                .map(|account| KnownAccount {
                    server_url: account.server_url,
                    username: account.user.username,
                }),
        },
    }
}

/// Signs in to an existing account; tokens go to the OS keyring.
#[tauri::command]
pub async fn sign_in(
    app: AppHandle,
    state: State<'_, Desktop>,
    server_url: String,
    username: String,
    password: String,
    allow_plain_http: Option<bool>,
) -> Result<User> {
    let options = options(&state, &server_url, allow_plain_http);
    let client = Client::login(options, tokens()?, &username, &password).await?;
    Ok(crate::attach(&app, &state, client))
}

/// Creates an account and signs in.
#[tauri::command]
pub async fn sign_up(
    app: AppHandle,
    state: State<'_, Desktop>,
    server_url: String,
    username: String,
    password: String,
    display_name: String,
    allow_plain_http: Option<bool>,
) -> Result<User> {
    let options = options(&state, &server_url, allow_plain_http);
    let client = Client::register(options, tokens()?, &username, &password, &display_name).await?;
    Ok(crate::attach(&app, &state, client))
}

/// The core's options for signing in to `server_url`; plain http off this machine only
/// when the user ticked the box that says the password then travels unencrypted.
fn options(state: &Desktop, server_url: &str, allow_plain_http: Option<bool>) -> ClientOptions {
    ClientOptions {
        allow_plain_http: allow_plain_http.unwrap_or(false),
        ..ClientOptions::new(server_url.trim(), &state.data_dir)
    }
}

/// Signs out: ends the session and forgets the tokens (history stays on disk).
#[tauri::command]
pub async fn sign_out(state: State<'_, Desktop>) -> Result<()> {
    let client = state.client()?;
    state.set_client(None);
    client.sign_out().await?;
    Ok(())
}

/// A page of the conversation list, newest activity first: `limit` (default and most
/// 500) conversations below `after`, the place of the last row of the page before.
#[tauri::command]
pub fn conversations(
    state: State<'_, Desktop>,
    after: Option<ListPosition>,
    limit: Option<u32>,
) -> Result<Vec<ConversationSummary>> {
    let limit = limit.unwrap_or(LIST_PAGE).clamp(1, LIST_PAGE);
    Ok(state.client()?.conversations(after, limit)?)
}

/// The most conversations one call of [`conversations`] returns.
const LIST_PAGE: u32 = 500;

/// One conversation's summary (`None` if this device does not know it), for the UI to
/// place a conversation it just created or changed without re-reading the whole list.
#[tauri::command]
pub fn conversation(
    state: State<'_, Desktop>,
    conversation_id: Uuid,
) -> Result<Option<ConversationSummary>> {
    Ok(state.client()?.conversation(conversation_id)?)
}

/// A page of a conversation (oldest first); `before_seq` pages back in history.
#[tauri::command]
pub fn messages(
    state: State<'_, Desktop>,
    conversation_id: Uuid,
    before_seq: Option<i64>,
    limit: u32,
) -> Result<Vec<LocalMessage>> {
    Ok(state
        .client()?
        .messages(conversation_id, before_seq, limit.clamp(1, 500))?)
}

/// The UI has painted the conversation list for the first time: logged with the time
/// since the process started, for the start-up benchmark (B12, docs/benchmarks.md).
#[tauri::command]
pub fn first_paint() {
    tracing::info!(
        since_start_ms = crate::STARTED.elapsed().as_millis() as u64,
        "first paint"
    );
}

/// Writes and queues a message (a reply to `reply_to`, if given); returns at once with its
/// pending copy.
#[tauri::command]
pub fn send_message(
    state: State<'_, Desktop>,
    conversation_id: Uuid,
    body: String,
    reply_to: Option<Uuid>,
) -> Result<LocalMessage> {
    let client = state.client()?;
    Ok(match reply_to {
        Some(parent) => client.reply(conversation_id, parent, &body)?,
        None => client.send(conversation_id, &body)?,
    })
}

/// Sends files picked in the file dialog or dropped on the window (with `caption` as
/// the message's text); returns at once with the pending message and its previews, the
/// uploads go on in the background.
#[tauri::command]
pub async fn send_files(
    state: State<'_, Desktop>,
    conversation_id: Uuid,
    paths: Vec<PathBuf>,
    caption: String,
    reply_to: Option<Uuid>,
) -> Result<LocalMessage> {
    let client = state.client()?;
    Ok(client
        .send_files(conversation_id, &paths, &caption, reply_to)
        .await?)
}

/// Sends one file given as bytes (a pasted image), base64-encoded.
#[tauri::command]
pub async fn send_file_data(
    state: State<'_, Desktop>,
    conversation_id: Uuid,
    name: String,
    data_base64: String,
    caption: String,
    reply_to: Option<Uuid>,
) -> Result<LocalMessage> {
    let bytes = BASE64
        .decode(data_base64.as_bytes())
        .map_err(|e| CommandError {
            kind: ErrorKind::Code(ferry_proto::ErrorCode::InvalidRequest),
            message: format!("the pasted file could not be read: {e}"),
        })?;
    let client = state.client()?;
    Ok(client
        .send_file_data(conversation_id, &name, bytes, &caption, reply_to)
        .await?)
}

/// Sends the clipboard's picture as a PNG file, for a paste whose event brought the page
/// neither files nor text (WebKitGTK's, of a screenshot); `None`, sending nothing, when
/// the clipboard holds no picture.
#[tauri::command]
pub async fn send_clipboard_image(
    app: AppHandle,
    state: State<'_, Desktop>,
    conversation_id: Uuid,
) -> Result<Option<LocalMessage>> {
    let client = state.client()?;
    let picture = crate::clipboard::image(&app)
        .await
        .map_err(|e| CommandError {
            // This device failed, not the server; the UI only shows the message.
            kind: ErrorKind::Local(LocalErrorKind::LocalStorage),
            message: e.to_string(),
        })?;
    let Some((name, png)) = picture else {
        return Ok(None);
    };
    Ok(Some(
        client
            .send_file_data(conversation_id, &name, png, "", None)
            .await?,
    ))
}

/// Cancels the uploads of an unsent message and removes it.
#[tauri::command]
pub fn cancel_upload(state: State<'_, Desktop>, message_id: Uuid) -> Result<()> {
    Ok(state.client()?.cancel_upload(message_id)?)
}

/// A `data:` URL of an image's preview (kept on this device once fetched).
#[tauri::command]
pub async fn attachment_preview(
    state: State<'_, Desktop>,
    message_id: Uuid,
    index: u32,
) -> Result<String> {
    let bytes = state.client()?.preview(message_id, index).await?;
    Ok(viewer::data_url(&bytes))
}

/// Downloads a file into the app's cache (unless it is there); returns where it is.
#[tauri::command]
pub async fn download_attachment(
    state: State<'_, Desktop>,
    message_id: Uuid,
    index: u32,
) -> Result<PathBuf> {
    Ok(state.client()?.download(message_id, index).await?)
}

/// A `data:` URL of a whole image, for the viewer (downloaded first), when the viewer
/// may show it ([`viewer::shown`]).
#[tauri::command]
pub async fn open_image(state: State<'_, Desktop>, message_id: Uuid, index: u32) -> Result<String> {
    let path = state.client()?.download(message_id, index).await?;
    let size = tokio::fs::metadata(&path)
        .await
        .map_err(local_storage)?
        .len();
    if size > viewer::MAX_BYTES {
        return Err(viewer::NotShown::TooManyBytes.into());
    }
    let bytes = tokio::fs::read(&path).await.map_err(local_storage)?;
    // Measuring reads headers only, but a JPEG's may come after megabytes of comments.
    tokio::task::spawn_blocking(move || viewer::shown(&bytes))
        .await
        .map_err(|e| local_storage(std::io::Error::other(e)))?
        .map_err(CommandError::from)
}

/// Copies a file (downloaded first) to `path`, chosen by the user in a save dialog.
#[tauri::command]
pub async fn save_attachment(
    state: State<'_, Desktop>,
    message_id: Uuid,
    index: u32,
    path: PathBuf,
) -> Result<()> {
    let cached = state.client()?.download(message_id, index).await?;
    tokio::fs::copy(&cached, &path)
        .await
        .map_err(local_storage)?;
    Ok(())
}

/// Opens a file (downloaded first) with the system's default application, from a copy
/// under its own name in the app's data folder; a file of a type that is not opened from
/// here, or that no application opens, is refused with words that say to save it.
#[tauri::command]
pub async fn open_attachment(
    app: AppHandle,
    state: State<'_, Desktop>,
    message_id: Uuid,
    index: u32,
) -> Result<()> {
    use crate::opening::{self, NotOpened};
    use tauri_plugin_opener::OpenerExt;
    let client = state.client()?;
    let attachment = client
        .message(message_id)?
        .and_then(|m| m.attachments.into_iter().nth(index as usize))
        .ok_or_else(|| CommandError {
            kind: ErrorKind::Code(ferry_proto::ErrorCode::NotFound),
            message: "no such file".into(),
        })?;
    if !opening::opens_directly(&attachment.name) {
        return Err(NotOpened::may_run_code(&attachment.name).into());
    }
    let cached = client.download(message_id, index).await?;
    let id = attachment.id.unwrap_or(message_id);
    let root = state.data_dir.join("opened");
    let copy = opening::named_copy(&root, id, &cached, &attachment.name).map_err(local_storage)?;
    #[cfg(all(unix, not(target_os = "macos")))]
    if !opening::has_application(&copy) {
        return Err(NotOpened::no_application(&copy).into());
    }
    app.opener()
        .open_path(copy.to_string_lossy(), None::<&str>)
        .map_err(|e| NotOpened::launcher(&copy, &e).into())
}

fn local_storage(e: std::io::Error) -> CommandError {
    CommandError {
        kind: ErrorKind::Local(LocalErrorKind::LocalStorage),
        message: e.to_string(),
    }
}

/// Replaces the text of one of this user's messages; returns it as it now shows.
#[tauri::command]
pub fn edit_message(
    state: State<'_, Desktop>,
    message_id: Uuid,
    body: String,
) -> Result<LocalMessage> {
    Ok(state.client()?.edit(message_id, &body)?)
}

/// Deletes a message for everyone; returns it as it now shows, or nothing when it was
/// never sent and is gone.
#[tauri::command]
pub fn delete_message(state: State<'_, Desktop>, message_id: Uuid) -> Result<Option<LocalMessage>> {
    Ok(state.client()?.delete(message_id)?)
}

/// Adds an emoji to a message, or takes this user's back; returns the message as it
/// now shows.
#[tauri::command]
pub fn react(state: State<'_, Desktop>, message_id: Uuid, emoji: String) -> Result<LocalMessage> {
    Ok(state.client()?.react(message_id, &emoji)?)
}

/// Puts a failed message back in the outbox.
#[tauri::command]
pub fn retry_message(state: State<'_, Desktop>, message_id: Uuid) -> Result<()> {
    Ok(state.client()?.retry(message_id)?)
}

/// Deletes a message that never went out.
#[tauri::command]
pub fn discard_message(state: State<'_, Desktop>, message_id: Uuid) -> Result<()> {
    Ok(state.client()?.discard(message_id)?)
}

/// Marks a conversation read (on every device of this user).
#[tauri::command]
pub fn mark_read(state: State<'_, Desktop>, conversation_id: Uuid) -> Result<()> {
    Ok(state.client()?.mark_read(conversation_id)?)
}

/// The user is composing (or stopped) in a conversation.
#[tauri::command]
pub fn set_typing(state: State<'_, Desktop>, conversation_id: Uuid, composing: bool) -> Result<()> {
    state.client()?.set_typing(conversation_id, composing);
    Ok(())
}

/// Saves a conversation's draft (empty clears it).
#[tauri::command]
pub fn set_draft(state: State<'_, Desktop>, conversation_id: Uuid, body: String) -> Result<()> {
    Ok(state.client()?.set_draft(conversation_id, &body)?)
}

/// Turns a conversation's notifications off or on.
#[tauri::command]
pub fn set_muted(state: State<'_, Desktop>, conversation_id: Uuid, muted: bool) -> Result<()> {
    Ok(state.client()?.set_muted(conversation_id, muted)?)
}

/// Users whose username or display name starts with `prefix`.
#[tauri::command]
pub async fn find_users(state: State<'_, Desktop>, prefix: String) -> Result<Vec<User>> {
    let client = state.client()?;
    let me = client.me().id;
    Ok(client
        .find_users(prefix.trim())
        .await?
        .into_iter()
        .filter(|u| u.id != me)
        .collect())
}

/// The direct conversation with `username` (created if needed).
#[tauri::command]
pub async fn open_direct(state: State<'_, Desktop>, username: String) -> Result<Uuid> {
    Ok(state.client()?.open_direct(&username).await?)
}

/// Creates a group.
#[tauri::command]
pub async fn create_group(
    state: State<'_, Desktop>,
    title: String,
    member_ids: Vec<Uuid>,
) -> Result<Uuid> {
    Ok(state.client()?.create_group(&title, &member_ids).await?)
}

/// Adds people to a group (owner only).
#[tauri::command]
pub async fn add_members(
    state: State<'_, Desktop>,
    conversation_id: Uuid,
    user_ids: Vec<Uuid>,
) -> Result<()> {
    Ok(state
        .client()?
        .add_members(conversation_id, &user_ids)
        .await?)
}

/// Leaves a group.
#[tauri::command]
pub async fn leave_conversation(state: State<'_, Desktop>, conversation_id: Uuid) -> Result<()> {
    let client = state.client()?;
    let me = client.me().id;
    Ok(client.remove_member(conversation_id, me).await?)
}

/// Accepts a message request.
#[tauri::command]
pub async fn accept_request(state: State<'_, Desktop>, conversation_id: Uuid) -> Result<()> {
    Ok(state.client()?.accept(conversation_id).await?)
}

/// Deletes a message request on this device (works offline; nobody is told).
#[tauri::command]
pub fn dismiss_request(state: State<'_, Desktop>, conversation_id: Uuid) -> Result<()> {
    Ok(state.client()?.dismiss_request(conversation_id)?)
}

/// Blocks or unblocks someone.
#[tauri::command]
pub async fn set_blocked(state: State<'_, Desktop>, user_id: Uuid, blocked: bool) -> Result<()> {
    Ok(state.client()?.set_blocked(user_id, blocked).await?)
}

/// Whom this user blocked, most recent first.
#[tauri::command]
pub async fn blocked_users(state: State<'_, Desktop>) -> Result<Vec<User>> {
    Ok(state.client()?.blocked_users().await?)
}

/// Reports someone to the server's operators (and blocks them when `block` is set).
#[tauri::command]
pub async fn report_user(
    state: State<'_, Desktop>,
    user_id: Uuid,
    conversation_id: Option<Uuid>,
    message_id: Option<Uuid>,
    reason: String,
    block: bool,
) -> Result<()> {
    state
        .client()?
        .report(&ferry_proto::NewReport {
            user_id,
            conversation_id,
            message_id,
            reason,
            block,
        })
        .await?;
    Ok(())
}

/// Full-text search over every stored message (works offline).
#[tauri::command]
pub fn search(state: State<'_, Desktop>, query: String, limit: u32) -> Result<Vec<SearchHit>> {
    Ok(state.client()?.search(&query, limit.clamp(1, 200))?)
}

/// Presence of known contacts.
#[tauri::command]
pub fn presence(state: State<'_, Desktop>) -> Result<Vec<Presence>> {
    Ok(state.client()?.presence()?)
}

/// What the window shows: whether it is focused and which conversation is open (for
/// notifications, and to mark the open conversation read).
#[tauri::command]
pub fn set_attention(
    state: State<'_, Desktop>,
    focused: bool,
    open_conversation: Option<Uuid>,
) -> Result<()> {
    *state.attention.lock().unwrap_or_else(|p| p.into_inner()) = Attention {
        focused,
        open: open_conversation,
    };
    if let (true, Some(conversation)) = (focused, open_conversation)
        && let Ok(client) = state.client()
    {
        client.mark_read(conversation)?;
    }
    Ok(())
}

/// Skips the reconnect wait ("retry now" in the offline banner).
#[tauri::command]
pub fn reconnect_now(state: State<'_, Desktop>) -> Result<()> {
    state.client()?.reconnect_now();
    Ok(())
}
