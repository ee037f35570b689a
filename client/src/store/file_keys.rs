//! The keys of files in encrypted conversations (issue 31): the key this device encrypts
//! an upload with (`uploads.file_key`, chosen and kept before anything is sent, so a
//! restart encrypts to the same bytes), and, by the server's id of an encrypted upload,
//! what opening it needs (`file_keys`): its key, its encrypted size and the preview its
//! sealed message carried.

use ferry_proto::{Attachment, MessageId, UploadId};
use rusqlite::{OptionalExtension, Transaction, params};

use super::{LocalStore, StoreResult};

/// What opening an encrypted upload needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSecret {
    /// Its key.
    pub key: [u8; 32],
    /// The encrypted bytes' size, as the server holds them.
    pub size: u64,
    /// The preview its sender made (images).
    pub preview: Option<Vec<u8>>,
}

/// An encrypted file of an unsent message, stored on the server: what its sealed message
/// says of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedUpload {
    /// The file as this device describes it (the server's id, the file's own name, type,
    /// size and hash).
    pub attachment: Attachment,
    /// Its key.
    pub key: [u8; 32],
    /// The small preview made for its sealed message when it was stored (images).
    pub preview: Option<Vec<u8>>,
}

fn key_of(bytes: Vec<u8>) -> rusqlite::Result<[u8; 32]> {
    bytes.try_into().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Blob,
            "a file key that is not 32 bytes".into(),
        )
    })
}

/// What opening upload `upload` needs, when it is an encrypted one, read inside `tx`.
pub(super) fn secret_of(
    tx: &Transaction<'_>,
    upload: UploadId,
) -> rusqlite::Result<Option<FileSecret>> {
    tx.prepare_cached("SELECT key, size, preview FROM file_keys WHERE upload_id = ?1")?
        .query_row([upload.to_string()], |r| {
            Ok(FileSecret {
                key: key_of(r.get(0)?)?,
                size: r.get::<_, i64>(1)? as u64,
                preview: r.get(2)?,
            })
        })
        .optional()
}

/// Keeps what opening encrypted uploads needs, inside `tx`.
pub(super) fn keep_secrets(
    tx: &Transaction<'_>,
    secrets: &[(UploadId, FileSecret)],
) -> rusqlite::Result<()> {
    let mut keep = tx.prepare_cached(
        "INSERT OR REPLACE INTO file_keys (upload_id, key, size, preview) \
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (upload, secret) in secrets {
        keep.execute(params![
            upload.to_string(),
            secret.key.as_slice(),
            secret.size as i64,
            secret.preview
        ])?;
    }
    Ok(())
}

impl LocalStore {
    /// Keeps the key file `index` of unsent message `message` is encrypted with. False
    /// when the file is gone (its message was cancelled).
    pub fn set_upload_key(
        &self,
        message: MessageId,
        index: u32,
        key: &[u8; 32],
    ) -> StoreResult<bool> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE uploads SET file_key = ?3 WHERE message_id = ?1 AND idx = ?2",
                params![message.to_string(), index, key.as_slice()],
            )?;
            Ok(n == 1)
        })
    }

    /// Keeps what opening encrypted uploads needs.
    pub fn keep_file_secrets(&self, secrets: &[(UploadId, FileSecret)]) -> StoreResult<()> {
        if secrets.is_empty() {
            return Ok(());
        }
        self.write(|tx| keep_secrets(tx, secrets))
    }

    /// What opening upload `upload` needs, when it is an encrypted one.
    pub fn file_secret(&self, upload: UploadId) -> StoreResult<Option<FileSecret>> {
        self.read(|tx| secret_of(tx, upload))
    }

    /// The encrypted files of unsent message `message` that the server has stored, in
    /// their order: what its sealed message carries.
    pub fn sealed_uploads(&self, message: MessageId) -> StoreResult<Vec<SealedUpload>> {
        self.read(|tx| {
            let mut rows = tx.prepare_cached(
                "SELECT u.attachment, u.file_key, k.preview FROM uploads u \
                 LEFT JOIN file_keys k ON k.upload_id = u.upload_id \
                 WHERE u.message_id = ?1 AND u.file_key IS NOT NULL \
                 AND u.attachment IS NOT NULL ORDER BY u.idx",
            )?;
            let found = rows.query_map([message.to_string()], |r| {
                let attachment: String = r.get(0)?;
                let attachment = serde_json::from_str(&attachment).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        0,
                        rusqlite::types::Type::Text,
                        Box::new(e),
                    )
                })?;
                Ok(SealedUpload {
                    attachment,
                    key: key_of(r.get(1)?)?,
                    preview: r.get(2)?,
                })
            })?;
            found.collect()
        })
    }
}
