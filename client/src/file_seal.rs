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
//!
//! The file is padded with zeros before it is encrypted, to Padmé's length (Nikitin and
//! others, "Reducing Metadata Leakage from Encrypted Files and Communication with
//! PURBs", 2019): the server, which sees only the encrypted size, learns the file's
//! size to within 12% (3.2% from 64 KiB up) rather than to the byte. The real size
//! travels in the sealed message (`SealedFile::size`), so opening writes only that many
//! bytes. Files of format 1, unpadded, still open.

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

/// What every encrypted file starts with (format 2: padded).
const HEADER: &[u8; 8] = b"FERRYF2\n";
/// What a file of format 1 (before padding) starts with: it still opens.
const HEADER_UNPADDED: &[u8; 8] = b"FERRYF1\n";
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

/// The length a file of `size` bytes is padded to (Padmé): its highest bit and a few
/// more are kept (as many as the bit length of the exponent), the rest rounded up. Of
/// all lengths of the same magnitude only about `log2(size)` remain, so a size says
/// O(log log size) bits about the file, at a cost of at most 12%.
fn padded(size: u64) -> Result<u64, ClientError> {
    if size < 2 {
        return Ok(size);
    }
    let exponent = u64::from(size.ilog2());
    let kept = u64::from(exponent.ilog2()) + 1;
    let mask = (1u64 << (exponent - kept)) - 1;
    size.checked_add(mask)
        .map(|total| total & !mask)
        .ok_or_else(|| ClientError::Invalid("a file too large to encrypt".into()))
}

/// Encrypts the file at `plain` into a new file at `sealed`; returns the encrypted
/// bytes' SHA-256 (lowercase hex) and size, as the upload declares them. Blocking.
pub(crate) fn seal(
    key: &FileKey,
    plain: &Path,
    sealed: &Path,
) -> Result<(String, u64), ClientError> {
    let mut input = File::open(plain)?;
    let size = input.metadata()?.len();
    let mut output = File::create(sealed)?;
    let sealed = seal_stream(key, &mut input, size, &mut output)?;
    output.sync_all()?;
    Ok(sealed)
}

/// Encrypts bytes held in memory (a history, which must never touch the disk in the
/// clear): the encrypted bytes.
pub(crate) fn seal_bytes(key: &FileKey, plain: &[u8]) -> Result<Vec<u8>, ClientError> {
    let mut sealed = Vec::new();
    seal_stream(key, &mut &plain[..], plain.len() as u64, &mut sealed)?;
    Ok(sealed)
}

/// Encrypts the `size` bytes `input` holds into `output`; the encrypted bytes' SHA-256
/// (lowercase hex) and size.
fn seal_stream(
    key: &FileKey,
    input: &mut impl Read,
    size: u64,
    output: &mut impl Write,
) -> Result<(String, u64), ClientError> {
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    let total = padded(size)?;
    let mut hasher = Sha256::new();
    let mut written = HEADER.len() as u64;
    output.write_all(HEADER)?;
    hasher.update(HEADER);
    let count = pieces(total);
    let mut piece = vec![0u8; PIECE];
    for index in 0..count {
        let start = index * PIECE as u64;
        let len = (total - start).min(PIECE as u64) as usize;
        // The file's own bytes, then zeros up to the padded length.
        let own = size.saturating_sub(start).min(len as u64) as usize;
        input.read_exact(&mut piece[..own])?;
        piece[own..len].fill(0);
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
    Ok((hex::encode(hasher.finalize()), written))
}

/// Decrypts the encrypted file at `sealed` into a new file at `plain`, keeping the first
/// `size` bytes (the size the sealed message gave: what follows is padding, and must be
/// zeros); returns the file's SHA-256 (lowercase hex) and size, for the caller to check
/// against what the sealed message said. Blocking.
pub(crate) fn open(
    key: &FileKey,
    sealed: &Path,
    plain: &Path,
    size: u64,
) -> Result<(String, u64), ClientError> {
    let mut input = File::open(sealed)?;
    let total = input.metadata()?.len();
    let mut output = File::create(plain)?;
    let opened = open_stream(key, &mut input, total, &mut output, size)?;
    output.sync_all()?;
    Ok(opened)
}

/// Decrypts encrypted bytes held in memory, keeping the first `size`: the bytes and their
/// SHA-256 (lowercase hex), for the caller to check.
pub(crate) fn open_bytes(
    key: &FileKey,
    sealed: &[u8],
    size: u64,
) -> Result<(Vec<u8>, String), ClientError> {
    let mut plain = Vec::new();
    let (sha256, _) = open_stream(key, &mut &sealed[..], sealed.len() as u64, &mut plain, size)?;
    Ok((plain, sha256))
}

/// Decrypts the `total` encrypted bytes `input` holds into `output`, keeping the first
/// `size`; their SHA-256 (lowercase hex) and how many were kept.
fn open_stream(
    key: &FileKey,
    input: &mut impl Read,
    total: u64,
    output: &mut impl Write,
    size: u64,
) -> Result<(String, u64), ClientError> {
    let damaged = || ClientError::Invalid("the file arrived damaged, or not for this key".into());
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key));
    let mut header = [0u8; HEADER.len()];
    input.read_exact(&mut header).map_err(|_| damaged())?;
    // A file of format 1 has no padding: all of it is kept.
    let keep = match &header {
        h if h == HEADER => size,
        h if h == HEADER_UNPADDED => u64::MAX,
        _ => return Err(damaged()),
    };
    let body = total - HEADER.len() as u64;
    let whole = (PIECE + TAG) as u64;
    let count = body.div_ceil(whole);
    // Every piece holds at least one byte: a last piece of a tag alone was not made here.
    if count == 0 || body - (count - 1) * whole <= TAG as u64 {
        return Err(damaged());
    }
    let mut hasher = Sha256::new();
    let mut kept = 0u64;
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
        let own = (keep - kept).min(opened.len() as u64) as usize;
        if opened[own..].iter().any(|b| *b != 0) {
            return Err(damaged());
        }
        output.write_all(&opened[..own])?;
        hasher.update(&opened[..own]);
        kept += own as u64;
    }
    Ok((hex::encode(hasher.finalize()), kept))
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
/// server's description of its encrypted bytes, and returns what opening them needs.
pub(crate) fn open_files(
    message: &mut Message,
    files: Vec<SealedFile>,
) -> Vec<(UploadId, FileSecret)> {
    let mut secrets = Vec::new();
    for file in files {
        let Some(attachment) = message.attachments.iter_mut().find(|a| a.id == file.id) else {
            continue;
        };
        // What the server holds, before this description replaces its own.
        if let Some((described, secret)) = described(file, attachment.size) {
            *attachment = described;
            secrets.push((attachment.id, secret));
        }
    }
    secrets
}

/// An encrypted file as what it is, and what opening it needs, from what its sealed
/// message (or a history) said of it and the size of its encrypted bytes on the server
/// (`None` for a key that is not one). A sender's words are checked as the server checks
/// a plain file's: a name without control characters or bidirectional overrides, a
/// normalized media type.
pub(crate) fn described(file: SealedFile, stored_size: u64) -> Option<(Attachment, FileSecret)> {
    let key = <[u8; 32]>::try_from(file.key.0.as_slice()).ok()?;
    let preview = file.preview.map(|p| p.0);
    let name = clean_file_name(&file.name);
    let attachment = Attachment {
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
    let secret = FileSecret {
        key,
        size: stored_size,
        preview,
    };
    Some((attachment, secret))
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
        let total = padded(size as u64).expect("padded");
        assert_eq!(
            sealed_size,
            HEADER.len() as u64 + total + pieces(total) * TAG as u64,
            "padded to Padmé's length, then a tag per piece"
        );
        let sealed_bytes = std::fs::read(&sealed).expect("read");
        if size >= 64 {
            assert!(
                !sealed_bytes.windows(64).any(|w| w == &bytes[..64]),
                "the plaintext shows through"
            );
        }
        let (sha, opened_size) = open(&key, &sealed, &back, size as u64).expect("open");
        assert_eq!(opened_size as usize, size);
        assert_eq!(sha, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(std::fs::read(&back).expect("read"), bytes);
    }

    #[test]
    fn files_of_every_size_come_back_whole() {
        for size in [1, 100, 1023, PIECE - 1, PIECE, PIECE + 1, 3 * PIECE + 17] {
            round_trip(size);
        }
    }

    #[test]
    fn padding_hides_all_but_the_magnitude_at_a_bounded_cost() {
        // A 1,000-byte size (10 bits, its highest bit 9) keeps its highest 5 bits.
        let padded = |size| padded(size).expect("padded");
        assert!(
            super::padded(u64::MAX - 1).is_err(),
            "no overflow at the top"
        );
        assert_eq!(padded(1), 1);
        assert_eq!(padded(100), 104);
        assert_eq!(padded(1000), 1024);
        assert_eq!(padded(1025), 1088);
        assert_eq!(padded(99 * 1024 * 1024), 100 * 1024 * 1024);
        let mut lengths = std::collections::BTreeSet::new();
        for size in 1..=1_000_000u64 {
            let total = padded(size);
            assert!(
                total >= size && total - size <= size * 12 / 100 + 1,
                "{size}"
            );
            lengths.insert(total);
        }
        // A million sizes fall into a few hundred lengths.
        assert!(lengths.len() < 400, "{} lengths", lengths.len());
    }

    #[test]
    fn a_file_of_the_unpadded_format_still_opens() {
        let dir = tempfile::tempdir().expect("dir");
        let (sealed, back) = (dir.path().join("sealed"), dir.path().join("back"));
        let bytes: Vec<u8> = (0..PIECE + 300).map(|i| (i % 7) as u8 + 1).collect();
        let key = new_key().expect("key");
        let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(key));
        let mut file = HEADER_UNPADDED.to_vec();
        for (index, piece) in bytes.chunks(PIECE).enumerate() {
            let nonce = Nonce::from(nonce(index as u64, index == 1).expect("nonce"));
            file.extend(cipher.encrypt(&nonce, piece).expect("encrypt"));
        }
        std::fs::write(&sealed, file).expect("write");
        // Whatever size the message says: format 1 has no padding to cut.
        for said in [bytes.len() as u64, 0] {
            let (sha, size) = open(&key, &sealed, &back, said).expect("open");
            let whole = (hex::encode(Sha256::digest(&bytes)), bytes.len() as u64);
            assert_eq!((sha, size), whole);
            assert_eq!(std::fs::read(&back).expect("read"), bytes);
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
        let size = 2 * PIECE as u64 + 5;
        let damaged = |bytes: &[u8], key: &FileKey| {
            std::fs::write(&sealed, bytes).expect("write");
            open(key, &sealed, &back, size).is_err()
        };
        let mut flipped = good.clone();
        flipped[HEADER.len() + 10] ^= 1;
        assert!(damaged(&flipped, &key), "a changed byte");
        let cut = &good[..HEADER.len() + 2 * (PIECE + TAG)];
        assert!(damaged(cut, &key), "the last piece gone");
        assert!(damaged(&good, &new_key().expect("key")), "another key");
        std::fs::write(&sealed, &good).expect("write");
        assert!(
            open(&key, &sealed, &back, size - 1).is_err(),
            "a size short of the file's own bytes (they would be taken for padding)"
        );
        // A size beyond the file keeps its padding too: the caller's check of the size
        // and hash then fails.
        let (_, longer) = open(&key, &sealed, &back, size + 1_000_000).expect("open");
        assert_eq!(longer, padded(size).expect("padded"));
        assert!(!damaged(&good, &key), "the file itself opens");
    }
}
