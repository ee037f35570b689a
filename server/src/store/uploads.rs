//! [`FileStore`]: the uploads' part of the store (a supertrait of `Store`, so every store
//! has it): uploads declared within a quota, their chunks counted as they arrive, the
//! access rule for downloads, and the blobs no upload names any more.
//!
//! The bytes themselves are in the blob store (`crate::files`); a chunk is stored there
//! before [`FileStore::add_chunk`] counts it (under the object name it was stored as), so
//! the count never runs ahead of the bytes. The quota counts what is really stored: each
//! stored file once, however often sent, and each unfinished upload at its full size,
//! since each holds chunks of its own whatever hash it declared.
//! Attaching an upload to a message is part of storing the message (`sql/messages.rs`),
//! and a deletion of the message hands its blobs to [`FileStore::sweep_orphans`]. The SQL
//! of this trait is `sql/files.rs`.

use async_trait::async_trait;
use ferry_proto::{UploadId, UserId};
use futures_util::future::BoxFuture;

use super::StoreResult;
use super::rows::UploadRow;

/// Unfinished uploads one user may have at once (each may hold a file's worth of chunks
/// for days): a client uploads its files one after another.
pub const MAX_OPEN_UPLOADS: i64 = 100;

/// How long a claim on finishing an upload holds: past it, the node that claimed it is
/// taken for dead and a repeat of the last chunk may finish it (a finish takes at most
/// the file routes' timeout), or a cancel forget it.
pub const FINISH_CLAIM_MS: i64 = 5 * 60 * 1000;

/// Deletes one blob from the blob store (for [`FileStore::sweep_orphans`]); `false` when
/// the blob store failed.
pub type DeleteBlob = dyn Fn(String) -> BoxFuture<'static, bool> + Send + Sync;

/// Why an upload was not declared.
#[derive(Debug, PartialEq, Eq)]
pub enum Declined {
    /// The owner's files would pass the quota.
    Quota,
    /// The owner has [`MAX_OPEN_UPLOADS`] unfinished already.
    TooManyOpen,
}

/// The uploads' part of the store.
#[async_trait]
pub trait FileStore: Send + Sync {
    /// Records a declared upload (`upload.state` is `open`), unless the owner's files
    /// would pass `quota` bytes or too many of their uploads are unfinished. When the
    /// owner already stored the same bytes (hash, size and type), the new upload is
    /// stored at once: they need not be sent again. A stored file counts once against the
    /// quota however often it is sent; an unfinished one counts its full size.
    async fn create_upload(
        &self,
        upload: &UploadRow,
        quota: u64,
    ) -> StoreResult<Result<UploadRow, Declined>>;
    /// One upload.
    async fn upload(&self, id: UploadId) -> StoreResult<Option<UploadRow>>;
    /// Counts a chunk of `len` bytes stored at `start` as blob store `object`, if the
    /// upload is open and holds exactly `start` bytes (a concurrent or repeated chunk is
    /// not counted twice: the caller deletes the object of one that was not).
    async fn add_chunk(
        &self,
        id: UploadId,
        start: i64,
        len: i64,
        object: &str,
    ) -> StoreResult<bool>;
    /// The blob store objects of an upload's chunks, in order.
    async fn chunks(&self, id: UploadId) -> StoreResult<Vec<String>>;
    /// Claims the finishing of a whole upload at `now` (Unix ms): `false` when it is not
    /// open and whole, or someone claimed it after `stale_before`.
    async fn claim_finish(&self, id: UploadId, now: i64, stale_before: i64) -> StoreResult<bool>;
    /// Gives a claim back (the blob store failed; a repeat may try again).
    async fn release_finish(&self, id: UploadId) -> StoreResult<()>;
    /// An upload's bytes were checked and stored: it is an attachment now.
    async fn finish_upload(
        &self,
        id: UploadId,
        content_type: &str,
        size: Option<(u32, u32)>,
        preview: bool,
    ) -> StoreResult<Option<UploadRow>>;
    /// Forgets an upload no message carries (cancelled, or refused when checked); returns
    /// it, with its chunks' objects. Its blob (a stored one's, or a whole one's, whose
    /// chunks a finish may have listed as one) is left to the sweeper. An open upload
    /// being checked under a claim made at or after `stale_before` is left alone (`None`):
    /// its chunks may be becoming a blob's parts. The checker itself passes `i64::MAX`.
    async fn drop_upload(
        &self,
        id: UploadId,
        now: i64,
        stale_before: i64,
    ) -> StoreResult<Option<(UploadRow, Vec<String>)>>;
    /// The stored upload `id` if `viewer` may download it: a member of the conversation
    /// of the message that carries it, or its owner before it is sent.
    async fn attachment(&self, viewer: UserId, id: UploadId) -> StoreResult<Option<UploadRow>>;
    /// Uploads no message carries that were declared before `before` (Unix ms): left
    /// unfinished, or finished and never sent. At most `limit`, oldest first.
    async fn unsent_uploads(&self, before: i64, limit: i64) -> StoreResult<Vec<UploadId>>;
    /// Deletes (with `delete`) the blobs orphaned at or before `before` (Unix ms) that no
    /// upload names, inside the transaction that found them, so that an upload of the
    /// same bytes declared meanwhile waits for it and stores them anew (a blob deleted
    /// after its row was could be found "already stored" in between). Returns how many.
    async fn sweep_orphans(&self, before: i64, delete: &DeleteBlob) -> StoreResult<usize>;
}
