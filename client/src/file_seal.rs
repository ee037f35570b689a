//! Files of end-to-end encrypted conversations (issue 31): each is encrypted on the
//! sender's device with a key of its own before it is uploaded, so the server stores and
//! serves bytes it cannot read; the key travels inside the sealed message
//! (`SealedFile`).
//!
//! AES-256-GCM over 64 KiB pieces, each piece's nonce its number and whether it is the
//! last (the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár): a file cut
//! short, reordered or spliced from two fails to open, and no file is ever held in memory
//! whole. A key is used for one file only, so counting nonces never repeat. A fixed
//! header comes first: it names the format, and keeps the server's type check from
//! taking the random bytes that follow for a type with magic numbers.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use ferry_proto::mls::{MlsBytes, SealedFile};
use ferry_proto::{Attachment, Message, MessageId, UploadId, clean_file_name, media};
use sha2::{Digest, Sha256};

use crate::ClientError;
use crate::store::{FileSecret, LocalStore, StoreError};

/// What every encrypted file starts with (format 1).
const HEADER: &[u8; 8] = b"FERRYF1\n";
/// Bytes of a file per piece.
const PIECE: usize = 64 * 1024;
/// What AES-GCM adds to each piece.
const TAG: usize = 16;

/// A file's key.
pub(crate) type FileKey = [u8; 32];

/// A new random key, for one file.
pub(crate) fn new_key() -> Result<FileKey, ClientError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)
        .map_err(|e| ClientError::Io(std::io::Error::other(format!("no randomness: {e}"))))?;
    Ok(key)
}

/// The nonce of piece `index`: seven zero bytes, its number, and 1 for the last piece.
fn nonce(index: u64, last: bool) -> Result<[u8; 12], ClientError> {
    let index = u32::try_from(index)
        .map_err(|_| ClientError::Invalid("a file too large to encrypt".into()))?;
    let mut nonce = [0u8; 12];
    nonce[7..11].copy_from_slice(&index.to_be_bytes());
    nonce[11] = u8::from(last);
    Ok(nonce)
}

/// How many pieces `size` bytes are cut into (at least one).
fn pieces(size: u64) -> u64 {
    size.div_ceil(PIECE as u64).max(1)
}

/// Encrypts the file at `plain` into a new file at `sealed`; returns the encrypted
/// bytes' SHA-256 (lowercase hex) and size, as the upload declares them. Blocking.
pub(crate) fn seal(
    key: &FileKey,
    plain: &Path,
    sealed: &Path,
) -> Result<(String, u64), ClientError> {
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    let mut input = File::open(plain)?;
    let size = input.metadata()?.len();
    let mut output = File::create(sealed)?;
    let mut hasher = Sha256::new();
    let mut written = HEADER.len() as u64;
    output.write_all(HEADER)?;
    hasher.update(HEADER);
    let count = pieces(size);
    let mut piece = vec![0u8; PIECE];
    for index in 0..count {
        let len = (size - index * PIECE as u64).min(PIECE as u64) as usize;
        input.read_exact(&mut piece[..len])?;
        let encrypted = cipher
            .encrypt(
                &Nonce::from(nonce(index, index + 1 == count)?),
                &piece[..len],
            )
            .map_err(|_| ClientError::Invalid("the file could not be encrypted".into()))?;
        output.write_all(&encrypted)?;
        hasher.update(&encrypted);
        written += encrypted.len() as u64;
    }
    output.sync_all()?;
    Ok((hex::encode(hasher.finalize()), written))
}

/// Decrypts the encrypted file at `sealed` into a new file at `plain`; returns the
/// file's SHA-256 (lowercase hex) and size, for the caller to check against what the
/// sealed message said. Blocking.
pub(crate) fn open(
    key: &FileKey,
    sealed: &Path,
    plain: &Path,
) -> Result<(String, u64), ClientError> {
    let damaged = || ClientError::Invalid("the file arrived damaged, or not for this key".into());
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    let mut input = File::open(sealed)?;
    let total = input.metadata()?.len();
    let mut header = [0u8; HEADER.len()];
    input.read_exact(&mut header).map_err(|_| damaged())?;
    if &header != HEADER {
        return Err(damaged());
    }
    let body = total - HEADER.len() as u64;
    let whole = (PIECE + TAG) as u64;
    let count = body.div_ceil(whole);
    // Every piece holds at least one byte: a last piece of a tag alone was not made here.
    if count == 0 || body - (count - 1) * whole <= TAG as u64 {
        return Err(damaged());
    }
    let mut output = File::create(plain)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut piece = vec![0u8; PIECE + TAG];
    for index in 0..count {
        let len = (body - index * whole).min(whole) as usize;
        input.read_exact(&mut piece[..len])?;
        let opened = cipher
            .decrypt(
                &Nonce::from(nonce(index, index + 1 == count)?),
                &piece[..len],
            )
            .map_err(|_| damaged())?;
        output.write_all(&opened)?;
        hasher.update(&opened);
        size += opened.len() as u64;
    }
    output.sync_all()?;
    Ok((hex::encode(hasher.finalize()), size))
}

/// Bytes of text and inline previews one sealed message carries at most: encrypted and
/// in base64 twice over (inside the entry, and the entry in the frame), more would not
/// fit in a WebSocket frame.
const INLINE_BUDGET: usize = 24 * 1024;

/// What the sealed message `message` (with text `body`) says of its encrypted files that
/// the server has stored: each one's name, type, size, hash and key, and a small preview
/// of each image while they fit.
pub(crate) fn sealed_files(
    store: &LocalStore,
    message: MessageId,
    body: &str,
) -> Result<Vec<SealedFile>, StoreError> {
    let mut budget = INLINE_BUDGET.saturating_sub(body.len());
    let mut files = Vec::new();
    for upload in store.sealed_uploads(message)? {
        let preview = upload.preview.filter(|bytes| bytes.len() <= budget);
        budget -= preview.as_ref().map_or(0, Vec::len);
        let file = upload.attachment;
        files.push(SealedFile {
            id: file.id,
            name: file.name,
            content_type: file.content_type,
            size: file.size,
            sha256: file.sha256,
            key: MlsBytes(upload.key.to_vec()),
            width: file.width,
            height: file.height,
            preview: preview.map(MlsBytes),
        });
    }
    Ok(files)
}

/// Describes each encrypted file of an opened message as what it is, in place of the
/// server's description of its encrypted bytes, and returns what opening them needs. A
/// sender's words are checked as the server checks a plain file's: a name without control
/// characters or bidirectional overrides, a normalized media type.
pub(crate) fn open_files(
    message: &mut Message,
    files: Vec<SealedFile>,
) -> Vec<(UploadId, FileSecret)> {
    let mut secrets = Vec::new();
    for file in files {
        let Some(attachment) = message.attachments.iter_mut().find(|a| a.id == file.id) else {
            continue;
        };
        let Ok(key) = <[u8; 32]>::try_from(file.key.0.as_slice()) else {
            continue;
        };
        let preview = file.preview.map(|p| p.0);
        let name = clean_file_name(&file.name);
        // What the server holds, before this description replaces its own.
        let wire_size = attachment.size;
        *attachment = Attachment {
            id: file.id,
            name: if name.trim().is_empty() {
                "file".into()
            } else {
                name
            },
            size: file.size,
            content_type: media::normalize(&file.content_type),
            sha256: file.sha256,
            width: file.width,
            height: file.height,
            thumbnail: preview.is_some(),
        };
        secrets.push((
            file.id,
            FileSecret {
                key,
                size: wire_size,
                preview,
            },
        ));
    }
    secrets
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(size: usize) {
        let dir = tempfile::tempdir().expect("dir");
        let (plain, sealed, back) = (
            dir.path().join("plain"),
            dir.path().join("sealed"),
            dir.path().join("back"),
        );
        let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        std::fs::write(&plain, &bytes).expect("write");
        let key = new_key().expect("key");
        let (_, sealed_size) = seal(&key, &plain, &sealed).expect("seal");
        assert_eq!(sealed_size, std::fs::metadata(&sealed).expect("meta").len());
        let sealed_bytes = std::fs::read(&sealed).expect("read");
        if size >= 64 {
            assert!(
                !sealed_bytes.windows(64).any(|w| w == &bytes[..64]),
                "the plaintext shows through"
            );
        }
        let (sha, opened_size) = open(&key, &sealed, &back).expect("open");
        assert_eq!(opened_size as usize, size);
        assert_eq!(sha, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(std::fs::read(&back).expect("read"), bytes);
    }

    #[test]
    fn files_of_every_size_come_back_whole() {
        for size in [1, 100, PIECE - 1, PIECE, PIECE + 1, 3 * PIECE + 17] {
            round_trip(size);
        }
    }

    #[test]
    fn a_changed_cut_or_wrongly_keyed_file_does_not_open() {
        let dir = tempfile::tempdir().expect("dir");
        let (plain, sealed, back) = (
            dir.path().join("plain"),
            dir.path().join("sealed"),
            dir.path().join("back"),
        );
        std::fs::write(&plain, vec![7u8; 2 * PIECE + 5]).expect("write");
        let key = new_key().expect("key");
        seal(&key, &plain, &sealed).expect("seal");
        let good = std::fs::read(&sealed).expect("read");
        let damaged = |bytes: &[u8], key: &FileKey| {
            std::fs::write(&sealed, bytes).expect("write");
            open(key, &sealed, &back).is_err()
        };
        let mut flipped = good.clone();
        flipped[HEADER.len() + 10] ^= 1;
        assert!(damaged(&flipped, &key), "a changed byte");
        let cut = &good[..HEADER.len() + 2 * (PIECE + TAG)];
        assert!(damaged(cut, &key), "the last piece gone");
        assert!(damaged(&good, &new_key().expect("key")), "another key");
        assert!(!damaged(&good, &key), "the file itself opens");
    }
}
