//! Files on the way in and out: attaching ([`prepare`]: a copy in the account's folder,
//! hashed, typed by the same rules the server checks, an image's preview made at once, so
//! the message shows before anything is sent), the uploader ([`run_uploads`]: one task
//! that sends the outbox's files in compose order, in chunks, resuming where the server
//! says it stands after a dropped connection or a restart), and downloads and previews
//! (`download`, apart). In an end-to-end encrypted conversation a file goes up encrypted
//! (`file_seal`) under a meaningless name, and is opened after its download.
//!
//! The message itself goes out through the outbox once every file of it is stored (the
//! outbox holds it, and its conversation after it, until then), as matrix-rust-sdk's
//! media send queue orders a media upload before the event that names it.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferry_proto::media::{self, MediaError};
use ferry_proto::{Attachment, ErrorCode, NewUpload, UPLOAD_CHUNK_BYTES};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use uuid::Uuid;

use crate::api::ApiError;
use crate::api::SessionError;
use crate::backoff::retry_delay;
use crate::error::ClientError;
use crate::events::Event;
use crate::file_seal::{self, FileKey};
use crate::store::{Failed, FileSecret, PendingUpload, PreparedFile, sealed_path};
use crate::{Changes, Shared};

mod download;

pub(crate) use download::{download, preview};

/// Images up to this size get their preview made when attached.
const PREVIEW_SOURCE_BYTES: u64 = 32 * 1024 * 1024;
/// How much of a file's start its type is read from.
const HEAD_BYTES: usize = 256 * 1024;

/// The folder of an account's files: `outgoing/` (copies of attached files) and
/// `cache/` (downloads and previews).
pub(crate) fn folder(shared: &Shared, part: &str) -> PathBuf {
    shared.files_dir.join(part)
}

/// Copies a file being attached into `dir` (hashing it on the way), finds its media type
/// and, for an image, its size and a preview. Blocking: run it off the async threads.
pub(crate) fn prepare(
    source: &mut dyn Read,
    name: &str,
    dir: &Path,
) -> Result<PreparedFile, ClientError> {
    std::fs::create_dir_all(dir)?;
    let id = Uuid::new_v4();
    let path = dir.join(id.to_string());
    let mut copy = std::fs::File::create(&path)?;
    let mut hasher = Sha256::new();
    let mut head = Vec::new();
    let mut size = 0u64;
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = source.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        let piece = &buffer[..n];
        hasher.update(piece);
        copy.write_all(piece)?;
        if head.len() < HEAD_BYTES {
            head.extend_from_slice(&piece[..(HEAD_BYTES - head.len()).min(n)]);
        }
        size += n as u64;
    }
    copy.sync_all()?;
    drop(copy);
    let refuse = |text: String| {
        let _ = std::fs::remove_file(&path);
        Err(ClientError::Invalid(text))
    };
    if size == 0 {
        return refuse(format!("{name} is empty: there is nothing to send"));
    }
    let content_type = declared_type(name, &head);
    let mut dimensions = None;
    let mut preview = None;
    if let Some(format) = media::previewable(&content_type) {
        match media::measure(format, &head) {
            Err(e @ MediaError::TooManyPixels { .. }) => return refuse(format!("{name}: {e}")),
            Err(MediaError::Mismatch { .. }) | Ok(None) => {}
            Ok(Some(size)) => dimensions = Some(size),
        }
        if size <= PREVIEW_SOURCE_BYTES {
            match media::preview(format, &std::fs::read(&path)?) {
                // Its frame header was past what `measure` read: the server refuses it too.
                Err(e) => return refuse(format!("{name}: {e}")),
                Ok(None) => {}
                Ok(Some(made)) => {
                    let preview_path = dir.join(format!("{id}.preview"));
                    std::fs::write(&preview_path, &made.bytes)?;
                    dimensions = Some((made.width, made.height));
                    preview = Some(preview_path);
                }
            }
        }
    }
    Ok(PreparedFile {
        path,
        name: name.to_owned(),
        size,
        content_type,
        sha256: hex::encode(hasher.finalize()),
        dimensions,
        preview,
    })
}

/// The media type a file is declared with: its name's guess when the bytes agree (the
/// server checks them by the same rules), else what the bytes say.
pub(crate) fn declared_type(name: &str, head: &[u8]) -> String {
    let guess = mime_guess::from_path(name)
        .first_raw()
        .map_or("application/octet-stream".to_owned(), media::normalize);
    media::checked_type(&guess, head)
        .or_else(|_| media::checked_type("application/octet-stream", head))
        .unwrap_or_else(|_| "application/octet-stream".into())
}

/// A file name fit to send: its last path component without the characters the server
/// refuses in names (control characters, bidirectional overrides), or `file`.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| ferry_proto::clean_file_name(&n.to_string_lossy()))
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "file".into())
}

/// Why one upload stopped.
enum Stop {
    /// Try again later (network, server busy).
    Later(String),
    /// The server refused the file for good: its message fails with this reason.
    Refused(String),
    /// The user cancelled it (its rows are gone).
    Cancelled,
    /// The session ended.
    SignedOut,
}

impl From<SessionError> for Stop {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::SignedOut => Stop::SignedOut,
            SessionError::Api(e) => api_stop(e),
            other => Stop::Later(other.to_string()),
        }
    }
}

fn api_stop(e: ApiError) -> Stop {
    if e.is_transient() {
        Stop::Later(e.to_string())
    } else {
        Stop::Refused(e.to_string())
    }
}

impl From<crate::store::StoreError> for Stop {
    fn from(e: crate::store::StoreError) -> Self {
        Stop::Later(format!("local database: {e}"))
    }
}

impl From<std::io::Error> for Stop {
    fn from(e: std::io::Error) -> Self {
        Stop::Refused(format!("the file to send could not be read: {e}"))
    }
}

/// Uploads the outbox's files, oldest message first, until `stop`. Woken when a file is
/// attached or the connection comes back; after a failure it waits (growing backoff).
pub(crate) async fn run_uploads(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            return;
        }
        let next = match shared.store.next_upload() {
            Ok(next) => next,
            Err(e) => {
                tracing::error!(error = %e, "local database failed");
                None
            }
        };
        let wait = match next {
            None => None,
            Some(pending) => match tokio::select! {
                // Stopping abandons a chunk in flight: the server counts only whole ones.
                _ = stop.changed() => return,
                outcome = upload(&shared, &pending) => outcome,
            } {
                Ok(()) => {
                    failures = 0;
                    continue;
                }
                Err(Stop::Cancelled) => continue,
                Err(Stop::SignedOut) => return,
                Err(Stop::Refused(reason)) => {
                    failures = 0;
                    tracing::warn!(message = %pending.message_id, %reason, "file refused");
                    match shared.store.fail(pending.message_id, &reason) {
                        Ok(failed) => announce_failed(&shared, failed),
                        Err(e) => tracing::error!(error = %e, "local database failed"),
                    }
                    continue;
                }
                Err(Stop::Later(reason)) => {
                    failures += 1;
                    tracing::info!(%reason, "upload paused");
                    Some(retry_delay(failures, None))
                }
            },
        };
        let sleep = async {
            match wait {
                Some(wait) => tokio::time::sleep(wait).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.changed() => {}
            () = shared.uploads.notified() => {}
            () = shared.reconnect_now.notified() => {}
            () = sleep => {}
        }
    }
}

/// Announces a message whose file was refused (a message with files is never a change).
fn announce_failed(shared: &Shared, failed: Failed) {
    if let Failed::Shown(changes) = failed {
        shared.announce(changes);
    }
}

/// Uploads every file waiting, in compose order, now (for a process that runs no engine,
/// the CLI's `send` and `sync`); returns how many were stored. A refused file fails its
/// message and the rest go on; the first failure worth retrying stops it (`Offline`).
pub(crate) async fn upload_all(shared: &Shared) -> Result<usize, ClientError> {
    let mut stored = 0;
    while let Some(pending) = shared.store.next_upload()? {
        match upload(shared, &pending).await {
            Ok(()) => stored += 1,
            Err(Stop::Cancelled) => {}
            Err(Stop::SignedOut) => return Err(ClientError::SignedOut),
            Err(Stop::Refused(reason)) => {
                announce_failed(shared, shared.store.fail(pending.message_id, &reason)?);
            }
            Err(Stop::Later(reason)) => return Err(ClientError::Offline(reason)),
        }
    }
    Ok(stored)
}

/// Uploads one file from where the server stands, chunk by chunk: the file itself, or,
/// in an end-to-end encrypted conversation, the file encrypted with a key of its own.
async fn upload(shared: &Shared, pending: &PendingUpload) -> Result<(), Stop> {
    let (message, index, file) = (pending.message_id, pending.index, &pending.file);
    let mut state = match pending.upload_id {
        Some(id) => {
            match shared.api.upload(id).await {
                Ok(state) => Some(state),
                // The server forgot it (or never finished declaring it): start over.
                Err(SessionError::Api(ApiError::Server {
                    code: ErrorCode::NotFound,
                    ..
                })) => None,
                Err(e) => return Err(e.into()),
            }
        }
        None => None,
    };
    // A file already on its way in the open stays so (its conversation was plain when it
    // started); otherwise one of an encrypted conversation is encrypted first.
    let key = match pending.file_key {
        Some(key) => Some(key),
        None if state.is_none() && shared.store.mls_epoch(pending.conversation_id)? > 0 => {
            let key = file_seal::new_key().map_err(|e| Stop::Later(e.to_string()))?;
            if !shared.store.set_upload_key(message, index, &key)? {
                return Err(Stop::Cancelled);
            }
            Some(key)
        }
        None => None,
    };
    let mut sent = match key {
        Some(key) => Some(sealed_copy(file, key, state.is_none()).await?),
        None => None,
    };
    // A copy remade in a later format than the one declared (an upload begun before an
    // update, its encrypted copy gone since) is not the same bytes: the upload cannot go
    // on where it stopped, so it is declared again.
    if let (Some(old), Some(sealed), Some(key)) = (&state, &sent, key)
        && old.attachment.is_none()
        && old.size != sealed.size
    {
        let _ = shared.api.cancel_upload(old.id).await;
        state = None;
        sent = Some(sealed_copy(file, key, true).await?);
    }
    if state.is_none() {
        let declared = match &sent {
            // The server learns nothing of the file but its encrypted size.
            Some(sealed) => NewUpload {
                name: SEALED_NAME.into(),
                size: sealed.size,
                content_type: "application/octet-stream".into(),
                sha256: sealed.sha256.clone().unwrap_or_default(),
            },
            None => NewUpload {
                name: file.name.clone(),
                size: file.size,
                content_type: file.content_type.clone(),
                sha256: file.sha256.clone(),
            },
        };
        let declared = &declared;
        let created = shared.api.create_upload(declared).await?;
        if !shared
            .store
            .set_upload(message, index, Some(created.id), created.offset)?
        {
            return Err(Stop::Cancelled);
        }
        state = Some(created);
    }
    let mut state = state.expect("declared above");
    let (path, size) = match &sent {
        Some(sealed) => (sealed.path.as_path(), sealed.size),
        None => (file.path.as_path(), file.size),
    };
    let mut source = std::fs::File::open(path)?;
    while state.attachment.is_none() {
        let offset = state.offset;
        let len = (size - offset).min(state.chunk_size.clamp(1, UPLOAD_CHUNK_BYTES));
        let mut chunk = vec![0u8; len as usize];
        source.seek(SeekFrom::Start(offset))?;
        source.read_exact(&mut chunk)?;
        let id = state.id;
        let answer = shared.api.upload_chunk(id, offset, chunk).await;
        state = match answer {
            Ok(state) => state,
            // Another try got there first, or a chunk was lost: ask where it stands.
            Err(SessionError::Api(ApiError::Server {
                code: ErrorCode::Conflict,
                ..
            })) => shared.api.upload(id).await?,
            Err(e) => return Err(e.into()),
        };
        if !shared
            .store
            .set_upload(message, index, Some(state.id), state.offset)?
        {
            // Cancelled meanwhile: the server need not keep it.
            let _ = shared.api.cancel_upload(id).await;
            return Err(Stop::Cancelled);
        }
        shared.emit(Event::UploadProgress {
            message_id: message,
            index,
            // Of the file: the encrypted form is a little larger.
            sent: (u128::from(state.offset) * u128::from(file.size) / u128::from(size.max(1)))
                as u64,
            total: file.size,
        });
    }
    let mut attachment = state.attachment.expect("the loop ends with it");
    if let Some(sealed) = &sent {
        // This device describes the file as it is; the server's description is of the
        // encrypted bytes, which only the key opens. The small preview its sealed message
        // carries is made once, here, not at each try to send it.
        let preview = file.preview.clone();
        let preview = tokio::task::spawn_blocking(move || {
            preview
                .and_then(|path| std::fs::read(path).ok())
                .and_then(|bytes| media::inline_preview(&bytes))
        })
        .await
        .unwrap_or_default();
        shared.store.keep_file_secrets(&[(
            attachment.id,
            FileSecret {
                key: sealed.key,
                size: attachment.size,
                preview,
            },
        )])?;
        attachment = Attachment {
            id: attachment.id,
            name: file.name.clone(),
            size: file.size,
            content_type: file.content_type.clone(),
            sha256: file.sha256.clone(),
            width: file.dimensions.map(|d| d.0),
            height: file.dimensions.map(|d| d.1),
            thumbnail: file.preview.is_some(),
        };
        let _ = std::fs::remove_file(&sealed.path);
    }
    if shared.store.finish_upload(message, index, &attachment)? {
        // Every file of the message is stored: it may go out now.
        shared.announce(Changes::message(message, None));
        shared.wake.notify_one();
    }
    Ok(())
}

/// The name an encrypted file is uploaded under: the server is not told the real one.
const SEALED_NAME: &str = "encrypted";

/// A file's encrypted form, as uploaded, and its key.
struct SealedCopy {
    key: FileKey,
    path: PathBuf,
    size: u64,
    /// Its hash, when it was made now (to declare the upload).
    sha256: Option<String>,
}

/// The encrypted form of `file` under `key`, made beside it: anew when the upload is
/// declared (which needs its hash), or when it is gone (the same key makes the same
/// bytes in the same format, so a resumed upload goes on where it stopped).
async fn sealed_copy(
    file: &PreparedFile,
    key: FileKey,
    declaring: bool,
) -> Result<SealedCopy, Stop> {
    let (plain, path) = (file.path.clone(), sealed_path(&file.path));
    if !declaring && path.exists() {
        return Ok(SealedCopy {
            key,
            size: std::fs::metadata(&path)?.len(),
            path,
            sha256: None,
        });
    }
    let target = path.clone();
    let (sha256, size) =
        tokio::task::spawn_blocking(move || file_seal::seal(&key, &plain, &target))
            .await
            .map_err(|e| Stop::Later(format!("encrypting the file stopped: {e}")))?
            .map_err(|e| Stop::Refused(e.to_string()))?;
    Ok(SealedCopy {
        key,
        path,
        size,
        sha256: Some(sha256),
    })
}
