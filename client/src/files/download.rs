//! Files on the way in: [`download`] keeps an attachment in the size-limited cache,
//! fetched once, resumed from a partial file and checked against its SHA-256 (an
//! encrypted one opened after it came), and [`preview`] gives an attachment's preview
//! from where it was made or carried, else from the server.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use ferry_proto::MessageId;

use super::folder;
use crate::error::ClientError;
use crate::file_seal;
use crate::store::file_key;
use crate::{Changes, Shared};

/// Where this device keeps attachment `index` of message `message`, downloading it first
/// if it is not here (resuming a partial download, checking the SHA-256).
pub(crate) async fn download(
    shared: &Shared,
    message: MessageId,
    index: u32,
) -> Result<PathBuf, ClientError> {
    if let Some(copy) = shared.store.upload_copy(message, index)? {
        return Ok(copy);
    }
    let attachment = shared
        .store
        .attachment(message, index)?
        .ok_or(ClientError::NotFound("attachment"))?;
    let key = file_key(attachment.id, false);
    let now = shared.options.clock.now();
    if let Some(path) = shared.store.cached_file(&key, now)? {
        if path.exists() {
            return Ok(path);
        }
        shared.store.forget_file(&key)?;
    }
    let dir = folder(shared, "cache");
    tokio::fs::create_dir_all(&dir).await?;
    let path = dir.join(attachment.id.to_string());
    let partial = dir.join(format!("{}.part", attachment.id));
    let id = attachment.id;
    // An encrypted file comes as the server holds it, and is opened once here.
    let secret = shared.store.file_secret(id)?;
    let wire_size = secret.as_ref().map_or(attachment.size, |s| s.size);
    let start = tokio::fs::metadata(&partial).await.map_or(0, |m| m.len());
    let start = if start >= wire_size { 0 } else { start };
    let mut response = shared.api.download(id, start).await?;
    // A server that ignored the range sends the whole file.
    let resumed = start > 0 && response.status() == reqwest::StatusCode::PARTIAL_CONTENT;
    let mut out = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed)
        .truncate(!resumed)
        .open(&partial)
        .await?;
    use tokio::io::AsyncWriteExt;
    while let Some(piece) = response
        .chunk()
        .await
        .map_err(|e| ClientError::Offline(format!("the download broke off: {e}")))?
    {
        out.write_all(&piece).await?;
    }
    out.sync_all().await?;
    drop(out);
    let (checked, found) = match secret {
        Some(secret) => {
            let (sealed, opened) = (partial.clone(), dir.join(format!("{id}.open")));
            let (target, size) = (opened.clone(), attachment.size);
            let found = tokio::task::spawn_blocking(move || {
                file_seal::open(&secret.key, &sealed, &target, size)
            })
            .await
            .map_err(|e| ClientError::Io(std::io::Error::other(e)))?;
            let _ = tokio::fs::remove_file(&partial).await;
            match found {
                Ok(found) => (opened, found),
                Err(e) => {
                    let _ = tokio::fs::remove_file(&opened).await;
                    return Err(ClientError::Invalid(format!("{}: {e}", attachment.name)));
                }
            }
        }
        None => {
            let check = partial.clone();
            let found = tokio::task::spawn_blocking(move || hashed(&check))
                .await
                .map_err(|e| ClientError::Io(std::io::Error::other(e)))??;
            (partial, found)
        }
    };
    if found != (attachment.sha256.clone(), attachment.size) {
        let _ = tokio::fs::remove_file(&checked).await;
        return Err(ClientError::Invalid(format!(
            "{} arrived damaged (its SHA-256 does not match); download it again",
            attachment.name
        )));
    }
    tokio::fs::rename(&checked, &path).await?;
    let evicted = shared.store.keep_file(
        &key,
        &path,
        attachment.size,
        shared.options.file_cache_bytes,
        now,
    )?;
    for old in evicted {
        let _ = tokio::fs::remove_file(old).await;
    }
    shared.announce(Changes::message(message, None));
    Ok(path)
}

/// The preview of attachment `index` of message `message` (JPEG or PNG bytes): the one
/// made when it was attached, the one an encrypted file's sealed message carried, or the
/// server's, fetched once and kept.
pub(crate) async fn preview(
    shared: &Shared,
    message: MessageId,
    index: u32,
) -> Result<Vec<u8>, ClientError> {
    if let Some(path) = shared.store.upload_preview(message, index)? {
        return Ok(tokio::fs::read(path).await?);
    }
    let attachment = shared
        .store
        .attachment(message, index)?
        .filter(|a| a.thumbnail)
        .ok_or(ClientError::NotFound("preview"))?;
    let key = file_key(attachment.id, true);
    let now = shared.options.clock.now();
    if let Some(path) = shared.store.cached_file(&key, now)? {
        match tokio::fs::read(&path).await {
            Ok(bytes) => return Ok(bytes),
            Err(_) => shared.store.forget_file(&key)?,
        }
    }
    let id = attachment.id;
    // An encrypted file's preview came inside its sealed message; the server has none.
    if let Some(secret) = shared.store.file_secret(id)? {
        return secret.preview.ok_or(ClientError::NotFound("preview"));
    }
    let bytes = shared.api.thumbnail(id).await?;
    let dir = folder(shared, "cache");
    tokio::fs::create_dir_all(&dir).await?;
    let path = dir.join(&key);
    tokio::fs::write(&path, &bytes).await?;
    let evicted = shared.store.keep_file(
        &key,
        &path,
        bytes.len() as u64,
        shared.options.file_cache_bytes,
        now,
    )?;
    for old in evicted {
        let _ = tokio::fs::remove_file(old).await;
    }
    Ok(bytes)
}

/// The SHA-256 (lowercase hex) and size of the file at `path`. Blocking.
fn hashed(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
}
