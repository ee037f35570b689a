//! The commands of files in messages: sending files (picked, dropped, pasted), cancelling
//! an upload, and reading what arrived (a preview, the viewer's image, a download saved or
//! opened). Downloads go through the client core's cache, so a file is fetched once.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ferry_client::{ErrorKind, LocalErrorKind, LocalMessage};
use ferry_proto::{ConversationId, MessageId};
use tauri::{AppHandle, State};

use super::Result;
use crate::error::CommandError;
use crate::state::Desktop;
use crate::viewer;

/// Sends files picked in the file dialog or dropped on the window (with `caption` as
/// the message's text); returns at once with the pending message and its previews, the
/// uploads go on in the background.
#[tauri::command]
pub async fn send_files(
    state: State<'_, Desktop>,
    conversation_id: ConversationId,
    paths: Vec<PathBuf>,
    caption: String,
    reply_to: Option<MessageId>,
) -> Result<LocalMessage> {
    let client = state.client()?;
    Ok(client
        .conversation(conversation_id)
        .send_files(&paths, &caption, reply_to)
        .await?)
}

/// Sends one file given as bytes (a pasted image), base64-encoded.
#[tauri::command]
pub async fn send_file_data(
    state: State<'_, Desktop>,
    conversation_id: ConversationId,
    name: String,
    data_base64: String,
    caption: String,
    reply_to: Option<MessageId>,
) -> Result<LocalMessage> {
    let bytes = BASE64
        .decode(data_base64.as_bytes())
        .map_err(|e| CommandError {
            kind: ErrorKind::Code(ferry_proto::ErrorCode::InvalidRequest),
            message: format!("the pasted file could not be read: {e}"),
        })?;
    let client = state.client()?;
    Ok(client
        .conversation(conversation_id)
        .send_file_data(&name, bytes, &caption, reply_to)
        .await?)
}

/// Sends the clipboard's picture as a PNG file, for a paste whose event brought the page
/// neither files nor text (WebKitGTK's, of a screenshot); `None`, sending nothing, when
/// the clipboard holds no picture.
#[tauri::command]
pub async fn send_clipboard_image(
    app: AppHandle,
    state: State<'_, Desktop>,
    conversation_id: ConversationId,
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
            .conversation(conversation_id)
            .send_file_data(&name, png, "", None)
            .await?,
    ))
}

/// Cancels the uploads of an unsent message and removes it.
#[tauri::command]
pub fn cancel_upload(state: State<'_, Desktop>, message_id: MessageId) -> Result<()> {
    let client = state.client()?;
    Ok(client
        .conversation_of(message_id)?
        .cancel_upload(message_id)?)
}

/// A `data:` URL of an image's preview (kept on this device once fetched).
#[tauri::command]
pub async fn attachment_preview(
    state: State<'_, Desktop>,
    message_id: MessageId,
    index: u32,
) -> Result<String> {
    let bytes = state.client()?.files().preview(message_id, index).await?;
    Ok(viewer::data_url(&bytes))
}

/// Downloads a file into the app's cache (unless it is there); returns where it is.
#[tauri::command]
pub async fn download_attachment(
    state: State<'_, Desktop>,
    message_id: MessageId,
    index: u32,
) -> Result<PathBuf> {
    Ok(state.client()?.files().download(message_id, index).await?)
}

/// A `data:` URL of a whole image, for the viewer (downloaded first), when the viewer
/// may show it ([`viewer::shown`]).
#[tauri::command]
pub async fn open_image(
    state: State<'_, Desktop>,
    message_id: MessageId,
    index: u32,
) -> Result<String> {
    let path = state.client()?.files().download(message_id, index).await?;
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
    message_id: MessageId,
    index: u32,
    path: PathBuf,
) -> Result<()> {
    let cached = state.client()?.files().download(message_id, index).await?;
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
    message_id: MessageId,
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
    let cached = client.files().download(message_id, index).await?;
    let id: uuid::Uuid = attachment.id.map_or(message_id.into(), Into::into);
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
