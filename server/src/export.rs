//! A person's data export (`GET /account/export`, docs/protocol.md "Exporting one's
//! data"): everything the server holds about them as one tar archive. [`plan`] reads it
//! all but the files' bytes and lays the archive out, so that its exact size is known
//! before the first byte goes (the download shows real progress, and resumes nothing it
//! cannot); [`stream`] then writes it, the files' bytes straight from the blob store.
//!
//! Exports take turns: at most [`AT_ONCE`] on a node, since each holds the person's own
//! words in memory while it streams; one more is asked to come back in a minute.
//!
//! Tar rather than zip: its layout is fixed blocks of 512 bytes, so the size is a sum,
//! and every system's archiver opens it. Paths stay under tar's 100-character name field
//! (files are named by their upload's id; their own names are in `files.json`).

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use ferry_proto::{Conversation, ExportManifest, ExportPart, ExportedFile, SessionInfo, Timestamp};
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};

use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::files::Files;
use crate::state::App;
use crate::store::{ActivityCursor, Store};

/// The archive's block: every header and every file's padded length is a multiple.
const BLOCK: u64 = 512;

/// The format's name and version, in `ferry-export.json`.
pub const FORMAT: &str = "ferry-export";
/// See [`FORMAT`].
pub const VERSION: u32 = 1;

/// Conversations read per page while planning.
const PAGE: u32 = 500;

/// Exports running at once on a node.
pub const AT_ONCE: usize = 2;

/// What one file of the archive holds.
enum Content {
    /// JSON made while planning.
    Made(Bytes),
    /// A blob of the file store, by its SHA-256.
    Blob(String),
}

/// One file of the archive.
struct Part {
    path: String,
    size: u64,
    content: Content,
}

/// An archive laid out, ready to stream.
pub struct Archive {
    /// Its size in bytes, exactly.
    pub size: u64,
    /// A name for the downloaded file.
    pub file_name: String,
    parts: Vec<Part>,
    made_at: Timestamp,
}

/// A part of JSON.
fn json(path: impl Into<String>, value: &impl serde::Serialize) -> Result<Part> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::Internal(format!("export JSON: {e}")))?;
    Ok(Part {
        path: path.into(),
        size: bytes.len() as u64,
        content: Content::Made(Bytes::from(bytes)),
    })
}

/// Every conversation `viewer` is in, newest activity first.
async fn conversations(
    store: &dyn Store,
    viewer: ferry_proto::UserId,
) -> Result<Vec<Conversation>> {
    let mut all = Vec::new();
    let mut before = None;
    loop {
        let page = store.conversations(viewer, before, PAGE).await?;
        let full = page.len() == PAGE as usize;
        before = page.last().map(|c| ActivityCursor {
            updated_at: c.updated_at.as_millis(),
            id: c.id,
        });
        all.extend(page);
        if !full {
            return Ok(all);
        }
    }
}

/// Reads what the server holds about the caller and lays out the archive: the manifest,
/// their account, sessions, blocks, conversations, every entry they wrote, their files'
/// descriptions, then the files' bytes.
pub async fn plan(app: &App, caller: &Caller) -> Result<Archive> {
    let store = &*app.store;
    let record = store
        .account(caller.user_id)
        .await?
        .ok_or_else(|| Error::not_found("user"))?;
    let user = record.user.clone();
    let account = record.view();
    let sessions: Vec<SessionInfo> = store
        .sessions_of(caller.user_id)
        .await?
        .into_iter()
        .map(|s| s.view(caller.session_id))
        .collect();
    // Who is in them and how far each read, but not their last message: an export holds
    // the person's own words, not the others' (they export theirs).
    let conversations: Vec<Conversation> = conversations(store, caller.user_id)
        .await?
        .into_iter()
        .map(|c| Conversation {
            last_message: None,
            ..c
        })
        .collect();
    let mut parts = vec![
        json("account.json", &account)?,
        json("sessions.json", &sessions)?,
        json("blocked.json", &store.blocked_users(caller.user_id).await?)?,
        json("conversations.json", &conversations)?,
    ];
    if let Some(picture) = user.picture {
        let bytes = app.files.picture(picture).await?;
        let kind = if bytes.starts_with(b"\x89PNG") {
            "png"
        } else {
            "jpg"
        };
        parts.push(Part {
            path: format!("picture.{kind}"),
            size: bytes.len() as u64,
            content: Content::Made(bytes),
        });
    }
    // Where they wrote, the conversations they left included: their words are theirs.
    let mut written_in: Vec<_> = conversations.iter().map(|c| c.id).collect();
    written_in.extend(store.conversations_written_in(caller.user_id).await?);
    written_in.sort_unstable();
    written_in.dedup();
    for conversation in written_in {
        let entries = store.entries_by(caller.user_id, conversation).await?;
        if !entries.is_empty() {
            parts.push(json(format!("messages/{conversation}.json"), &entries)?);
        }
    }
    let own = store.files_of(caller.user_id).await?;
    let described: Vec<ExportedFile> = own
        .iter()
        .map(|f| ExportedFile {
            id: f.id,
            name: f.name.clone(),
            size: f.size.max(0) as u64,
            content_type: f.content_type.clone(),
            sha256: f.sha256.clone(),
            conversation_id: f.conversation_id,
            message_id: f.message_id,
            created_at: f.created(),
            path: format!("files/{}", f.id),
        })
        .collect();
    parts.push(json("files.json", &described)?);
    for file in own {
        parts.push(Part {
            path: format!("files/{}", file.id),
            size: file.size.max(0) as u64,
            content: Content::Blob(file.sha256),
        });
    }
    let made_at = Timestamp::now();
    let manifest = ExportManifest {
        format: FORMAT.into(),
        version: VERSION,
        exported_at: made_at,
        user: user.clone(),
        files: parts
            .iter()
            .map(|p| ExportPart {
                path: p.path.clone(),
                size: p.size,
            })
            .collect(),
    };
    parts.insert(0, json("ferry-export.json", &manifest)?);
    let size = parts.iter().map(|p| BLOCK + padded(p.size)).sum::<u64>() + 2 * BLOCK;
    let day = chrono::DateTime::from_timestamp_millis(made_at.as_millis())
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    Ok(Archive {
        size,
        file_name: format!("ferry-export-{}-{day}.tar", user.username),
        parts,
        made_at,
    })
}

/// `size` rounded up to whole blocks.
fn padded(size: u64) -> u64 {
    size.div_ceil(BLOCK) * BLOCK
}

/// A part's tar header.
fn header(part: &Part, made_at: Timestamp) -> io::Result<Bytes> {
    let mut header = tar::Header::new_ustar();
    header.set_path(&part.path)?;
    header.set_size(part.size);
    header.set_mode(0o644);
    header.set_mtime(u64::try_from(made_at.as_millis() / 1000).unwrap_or(0));
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    Ok(Bytes::copy_from_slice(header.as_bytes()))
}

/// The archive's bytes: each part's header, its content and its padding, then the two
/// empty blocks that end a tar archive. A file whose bytes are not the size planned (its
/// blob went meanwhile) ends the stream with an error rather than a broken archive.
pub fn stream(files: Arc<Files>, archive: Archive) -> BoxStream<'static, io::Result<Bytes>> {
    let made_at = archive.made_at;
    let end = stream::once(async { Ok(Bytes::from_static(&[0u8; 2 * BLOCK as usize])) });
    stream::iter(archive.parts)
        .map(move |part| one_part(files.clone(), part, made_at))
        .flatten()
        .chain(end)
        .boxed()
}

fn one_part(
    files: Arc<Files>,
    part: Part,
    made_at: Timestamp,
) -> BoxStream<'static, io::Result<Bytes>> {
    let head = stream::once(std::future::ready(header(&part, made_at)));
    let pad = (padded(part.size) - part.size) as usize;
    let tail = stream::once(std::future::ready(Ok(Bytes::from(vec![0u8; pad]))));
    let body = match part.content {
        Content::Made(bytes) => stream::once(std::future::ready(Ok(bytes))).boxed(),
        Content::Blob(sha256) => {
            let expected = part.size;
            let counted = Arc::new(AtomicU64::new(0));
            let counter = counted.clone();
            let bytes = stream::once(async move {
                files
                    .read(&sha256, 0)
                    .await
                    .map_err(|e| io::Error::other(e.to_string()))
            })
            .map_ok(|blob| {
                blob.into_stream()
                    .map_err(|e| io::Error::other(e.to_string()))
            })
            .try_flatten()
            .inspect_ok(move |piece| {
                counter.fetch_add(piece.len() as u64, Ordering::Relaxed);
            });
            let check = stream::once(async move {
                match counted.load(Ordering::Relaxed) {
                    got if got == expected => Ok(Bytes::new()),
                    got => Err(io::Error::other(format!(
                        "a file of the export changed while it was read ({got} bytes, not {expected})"
                    ))),
                }
            });
            bytes.chain(check).boxed()
        }
    };
    head.chain(body).chain(tail).boxed()
}
