//! Attachments on this device. A message with files is composed like any other, with a
//! row in `uploads` per file: the copy made in the account's folder when the user
//! attached it, and how far its upload got (so an upload resumes after a restart where
//! it stopped). The outbox holds the message back until every file is stored on the
//! server. Once sent, the message carries its attachments as the server described them
//! (`messages.attachments`), and the copies move to `files`: the files this device keeps
//! (sent from it, or downloaded), a cache that forgets the least recently used past its
//! size limit.

use std::path::{Path, PathBuf};

use ferry_proto::{Attachment, ConversationId, MessageId, Timestamp, UploadId, UserId};
use rusqlite::{OptionalExtension, Transaction, params};

use super::compose::compose_in;
use super::read::{LocalMessage, attach, file_key};
use super::{LocalStore, StoreResult, id_at};

/// A file ready to attach: copied into the account's folder, hashed, typed, previewed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedFile {
    /// The copy.
    pub path: PathBuf,
    /// The name it is sent under.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Media type, from its magic numbers (or its name's extension).
    pub content_type: String,
    /// SHA-256, lowercase hex.
    pub sha256: String,
    /// Pixels, for images.
    pub dimensions: Option<(u32, u32)>,
    /// A small preview, for images.
    pub preview: Option<PathBuf>,
}

/// Where the encrypted form of an attached file's copy at `copy` is made, beside it (a
/// file of an encrypted conversation, `file_seal`), and deleted with it.
pub fn sealed_path(copy: &Path) -> PathBuf {
    copy.with_extension("sealed")
}

/// A file of an unsent message whose upload has not finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingUpload {
    /// The message.
    pub message_id: MessageId,
    /// Which of its files.
    pub index: u32,
    /// The file as prepared.
    pub file: PreparedFile,
    /// The server's id for the upload, once declared.
    pub upload_id: Option<UploadId>,
    /// The message's conversation.
    pub conversation_id: ConversationId,
    /// The key it is encrypted with before it goes up, once chosen (its conversation is
    /// end-to-end encrypted).
    pub file_key: Option<[u8; 32]>,
}

impl LocalStore {
    /// Writes a new pending message with `files` (and `caption` as its text), its outbox
    /// entry and its uploads in one transaction (the uploader sees them all or none).
    #[allow(clippy::too_many_arguments)]
    pub fn compose_files(
        &self,
        me: UserId,
        id: MessageId,
        conversation: ConversationId,
        caption: &str,
        reply_to: Option<MessageId>,
        files: &[PreparedFile],
        now: Timestamp,
    ) -> StoreResult<LocalMessage> {
        self.write(|tx| {
            let mut message = compose_in(tx, me, id, conversation, caption, reply_to, now)?;
            for (index, file) in files.iter().enumerate() {
                tx.execute(
                    "INSERT INTO uploads (message_id, idx, path, name, size, content_type, sha256, \
                     width, height, preview) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![
                        id.to_string(),
                        index as i64,
                        file.path.to_string_lossy(),
                        file.name,
                        file.size as i64,
                        file.content_type,
                        file.sha256,
                        file.dimensions.map(|d| d.0),
                        file.dimensions.map(|d| d.1),
                        file.preview
                            .as_ref()
                            .map(|p| p.to_string_lossy().into_owned()),
                    ],
                )?;
            }
            attach(tx, &mut message)?;
            Ok(message)
        })
    }

    /// The next file to upload: the first unfinished one of the outbox's oldest message
    /// that has one.
    pub fn next_upload(&self) -> StoreResult<Option<PendingUpload>> {
        self.read(|tx| {
            tx.query_row(
                "SELECT u.message_id, u.idx, u.path, u.name, u.size, u.content_type, u.sha256, \
                 u.width, u.height, u.preview, u.upload_id, m.conversation_id, u.file_key \
                 FROM uploads u JOIN outbox o ON o.message_id = u.message_id \
                 JOIN messages m ON m.id = u.message_id \
                 WHERE u.attachment IS NULL ORDER BY o.position, u.idx LIMIT 1",
                [],
                |r| {
                    let width: Option<u32> = r.get(7)?;
                    let height: Option<u32> = r.get(8)?;
                    Ok(PendingUpload {
                        message_id: id_at(r, 0)?,
                        index: r.get(1)?,
                        file: PreparedFile {
                            path: PathBuf::from(r.get::<_, String>(2)?),
                            name: r.get(3)?,
                            size: r.get::<_, i64>(4)? as u64,
                            content_type: r.get(5)?,
                            sha256: r.get(6)?,
                            dimensions: width.zip(height),
                            preview: r.get::<_, Option<String>>(9)?.map(PathBuf::from),
                        },
                        upload_id: r
                            .get::<_, Option<String>>(10)?
                            .and_then(|id| id.parse().ok()),
                        conversation_id: id_at(r, 11)?,
                        file_key: r
                            .get::<_, Option<Vec<u8>>>(12)?
                            .and_then(|k| k.try_into().ok()),
                    })
                },
            )
            .optional()
        })
    }

    /// Records the server's id for an upload (`None`: the server forgot it; start over),
    /// and the bytes it holds. False when the upload is gone (cancelled).
    pub fn set_upload(
        &self,
        message: MessageId,
        index: u32,
        upload_id: Option<UploadId>,
        sent: u64,
    ) -> StoreResult<bool> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE uploads SET upload_id = ?3, sent = ?4 WHERE message_id = ?1 AND idx = ?2",
                params![
                    message.to_string(),
                    index,
                    upload_id.map(|u| u.to_string()),
                    sent as i64
                ],
            )?;
            Ok(n == 1)
        })
    }

    /// An upload finished: the server stored the file as `attachment`. Returns whether
    /// every file of the message is stored now (it may go out).
    pub fn finish_upload(
        &self,
        message: MessageId,
        index: u32,
        attachment: &Attachment,
    ) -> StoreResult<bool> {
        self.write(|tx| {
            tx.execute(
                "UPDATE uploads SET upload_id = ?3, sent = size, attachment = ?4 \
                 WHERE message_id = ?1 AND idx = ?2",
                params![
                    message.to_string(),
                    index,
                    attachment.id.to_string(),
                    serde_json::to_string(attachment).expect("attachments serialize"),
                ],
            )?;
            tx.query_row(
                "SELECT count(*) = 0 FROM uploads WHERE message_id = ?1 AND attachment IS NULL",
                [message.to_string()],
                |r| r.get(0),
            )
        })
    }

    /// Cancels an unsent message with files: it is deleted with its uploads. Returns the
    /// files to delete and the server's uploads to cancel; `None` when there is nothing
    /// to cancel (no such unsent message, or every file is stored and the message may
    /// already be on its way).
    pub fn cancel_files(
        &self,
        id: MessageId,
    ) -> StoreResult<Option<(Vec<PathBuf>, Vec<UploadId>)>> {
        self.write(|tx| {
            let key = id.to_string();
            let (failed, waiting): (bool, i64) = match tx
                .query_row(
                    "SELECT m.state = 'failed', \
                     (SELECT count(*) FROM uploads u WHERE u.message_id = m.id AND u.attachment IS NULL) \
                     FROM messages m WHERE m.id = ?1 AND m.seq IS NULL",
                    [&key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?
            {
                Some(found) => found,
                None => return Ok(None),
            };
            if !failed && waiting == 0 {
                return Ok(None);
            }
            let mut paths = Vec::new();
            let mut uploads = Vec::new();
            {
                let mut rows = tx.prepare(
                    "SELECT path, preview, upload_id FROM uploads WHERE message_id = ?1",
                )?;
                let found = rows.query_map([&key], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ))
                })?;
                for row in found {
                    let (path, preview, upload) = row?;
                    let path = PathBuf::from(path);
                    // Its encrypted form, if it was made (an encrypted conversation).
                    paths.push(sealed_path(&path));
                    paths.push(path);
                    paths.extend(preview.map(PathBuf::from));
                    uploads.extend(upload.and_then(|u| u.parse::<UploadId>().ok()));
                }
            }
            super::outbox::discard_unsent(tx, id)?;
            Ok(Some((paths, uploads)))
        })
    }

    /// Where this device keeps the file `key` (see [`file_key`]), if it does; its use now
    /// keeps it in the cache longest.
    pub fn cached_file(&self, key: &str, now: Timestamp) -> StoreResult<Option<PathBuf>> {
        self.write(|tx| {
            let path: Option<String> = tx
                .query_row("SELECT path FROM files WHERE key = ?1", [key], |r| r.get(0))
                .optional()?;
            if path.is_some() {
                tx.execute(
                    "UPDATE files SET used_at = ?2 WHERE key = ?1",
                    params![key, now.as_millis()],
                )?;
            }
            Ok(path.map(PathBuf::from))
        })
    }

    /// Forgets a file that is no longer where the store said.
    pub fn forget_file(&self, key: &str) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM files WHERE key = ?1", [key])
                .map(drop)
        })
    }

    /// Keeps a downloaded file, then trims the cache to `limit` bytes, least recently
    /// used first: returns the files to delete.
    pub fn keep_file(
        &self,
        key: &str,
        path: &std::path::Path,
        size: u64,
        limit: u64,
        now: Timestamp,
    ) -> StoreResult<Vec<PathBuf>> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO files (key, path, size, used_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (key) DO UPDATE SET path = excluded.path, size = excluded.size, \
                 used_at = excluded.used_at",
                params![key, path.to_string_lossy(), size as i64, now.as_millis()],
            )?;
            trim(tx, limit, key)
        })
    }
}

/// Deletes the least recently used files past `limit` bytes (never `keep`); returns
/// their paths.
fn trim(tx: &Transaction<'_>, limit: u64, keep: &str) -> rusqlite::Result<Vec<PathBuf>> {
    let mut gone = Vec::new();
    let mut total: i64 =
        tx.query_row("SELECT COALESCE(sum(size), 0) FROM files", [], |r| r.get(0))?;
    let mut oldest =
        tx.prepare("SELECT key, path, size FROM files WHERE key != ?1 ORDER BY used_at, key")?;
    let rows: Vec<(String, String, i64)> = oldest
        .query_map([keep], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (key, path, size) in rows {
        if total <= limit as i64 {
            break;
        }
        tx.execute("DELETE FROM files WHERE key = ?1", [&key])?;
        total -= size;
        gone.push(PathBuf::from(path));
    }
    Ok(gone)
}

/// A message of ours with files was stored by the server: it carries its attachments now,
/// and the copies made when they were attached are the files this device keeps of them.
pub(super) fn adopt_uploads(
    tx: &Transaction<'_>,
    id: MessageId,
    now: Timestamp,
) -> rusqlite::Result<()> {
    let key = id.to_string();
    let rows: Vec<(String, Option<String>, Option<String>, i64)> = tx
        .prepare_cached(
            "SELECT path, preview, attachment, size FROM uploads WHERE message_id = ?1 ORDER BY idx",
        )?
        .query_map([&key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut attachments = Vec::new();
    for (path, preview, attachment, size) in rows {
        let Some(attachment) = attachment.and_then(|a| serde_json::from_str::<Attachment>(&a).ok())
        else {
            continue;
        };
        let mut keep = tx.prepare_cached(
            "INSERT OR REPLACE INTO files (key, path, size, used_at) VALUES (?1, ?2, ?3, ?4)",
        )?;
        keep.execute(params![
            file_key(attachment.id, false),
            path,
            size,
            now.as_millis()
        ])?;
        if let Some(preview) = preview {
            let len = std::fs::metadata(&preview).map_or(0, |m| m.len() as i64);
            keep.execute(params![
                file_key(attachment.id, true),
                preview,
                len,
                now.as_millis()
            ])?;
        }
        attachments.push(attachment);
    }
    tx.prepare_cached("UPDATE messages SET attachments = ?2 WHERE id = ?1")?
        .execute(params![
            key,
            serde_json::to_string(&attachments).expect("attachments serialize")
        ])?;
    tx.prepare_cached("DELETE FROM uploads WHERE message_id = ?1")?
        .execute([&key])?;
    Ok(())
}

/// The attachment `index` of a sent message, as the server described it.
pub(super) fn stored_attachment(
    tx: &Transaction<'_>,
    message: MessageId,
    index: u32,
) -> rusqlite::Result<Option<Attachment>> {
    let json: Option<Option<String>> = tx
        .query_row(
            "SELECT attachments FROM messages WHERE id = ?1",
            [message.to_string()],
            |r| r.get(0),
        )
        .optional()?;
    let stored: Vec<Attachment> = json
        .flatten()
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default();
    Ok(stored.into_iter().nth(index as usize))
}

impl LocalStore {
    /// The attachment `index` of the sent message `message`, as the server described it.
    pub fn attachment(&self, message: MessageId, index: u32) -> StoreResult<Option<Attachment>> {
        self.read(|tx| stored_attachment(tx, message, index))
    }

    /// The local preview of an unsent message's file, if it has one.
    pub fn upload_preview(&self, message: MessageId, index: u32) -> StoreResult<Option<PathBuf>> {
        self.read(|tx| {
            let found: Option<Option<String>> = tx
                .query_row(
                    "SELECT preview FROM uploads WHERE message_id = ?1 AND idx = ?2",
                    params![message.to_string(), index],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(found.flatten().map(PathBuf::from))
        })
    }

    /// The copy of an unsent message's file, if it has that file.
    pub fn upload_copy(&self, message: MessageId, index: u32) -> StoreResult<Option<PathBuf>> {
        self.read(|tx| {
            let found: Option<String> = tx
                .query_row(
                    "SELECT path FROM uploads WHERE message_id = ?1 AND idx = ?2",
                    params![message.to_string(), index],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(found.map(PathBuf::from))
        })
    }
}
