//! [`Files`]: the bytes of attachments, in a blob store behind one boundary
//! (`object_store`) with two implementations: a directory on disk (the default, beside the
//! embedded database) and S3-compatible object storage (for containers and clusters,
//! whose nodes share the bucket).
//!
//! An upload arrives in chunks; each is streamed into an object of its own
//! (`uploads/{id}/{start}-{random}`: two tries at one offset never share an object)
//! before the database counts it, so a dropped connection costs at most the chunk in
//! flight and any node can take the next one. The bytes are hashed as they pass, by the
//! node that takes the chunks in order ([`digest`]; otherwise they are read back once),
//! and the last chunk makes [`Files::assemble`] judge them: the hash must match the
//! declared one, their type is checked (`ferry_proto::media`) and an image gets its
//! preview (`previews/{sha256}`). Then the chunks become the parts of the blob named by
//! the content's SHA-256 ([`parts`]): each byte is written once, and a file sent twice
//! is stored once. Nothing holds a whole file in memory:
//! a chunk passes through in parts, and an image small enough to preview is held whole
//! only while the memory previews may take (`FERRY_PREVIEW_MEMORY_MIB`) allows: decoding
//! takes turns by the bytes it will need. Profile pictures are small squares made from
//! an uploaded image (`pictures/{id}`), a new object for each new picture.

mod digest;
mod disk;
mod parts;
mod pictures;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ferry_proto::UploadId;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, WriteMultipart};
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::config::Config;
use crate::metrics::Metrics;
use digest::{Digest, Running};
use disk::Disk;
use ferry_proto::media::{self, MediaError, Preview};
use parts::Parts;

/// Images up to this size are held whole while assembled, to make their preview; larger
/// ones are stored without one (their header is still measured).
const PREVIEW_SOURCE_BYTES: u64 = 32 * 1024 * 1024;
/// Uploads whose digest a node keeps running at once (each holds up to [`digest::HEAD_BYTES`]);
/// more are read back when they finish.
const MAX_RUNNING: usize = 64;
/// A running digest not advanced for this long may make room for another.
const RUNNING_STALE: Duration = Duration::from_secs(10 * 60);

/// Why a blob could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The bytes are not what was declared.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// The bytes do not hash to the declared SHA-256.
    #[error("the bytes do not match the declared SHA-256")]
    Hash,
    /// A chunk longer than the room it has.
    #[error("a chunk here is at most {max} bytes (the rest of the file, or the chunk size)")]
    ChunkTooLarge {
        /// Bytes it may have.
        max: u64,
    },
    /// A chunk with no bytes.
    #[error("a chunk carries at least one byte")]
    EmptyChunk,
    /// The client stopped sending in the middle of a chunk.
    #[error("the chunk's body was cut off")]
    ChunkCut,
    /// The blob store failed.
    #[error("blob store: {0}")]
    Store(#[from] object_store::Error),
}

/// A chunk written, not yet counted by the database.
pub struct Chunk {
    /// Its object's name (under the upload's).
    pub object: String,
    /// Its bytes.
    pub len: u64,
    /// The upload's digest with this chunk taken, when this node had it up to the chunk.
    running: Option<Running>,
}

/// What the chunks of an upload became.
pub struct Assembled {
    /// The type the bytes were checked to be.
    pub content_type: String,
    /// Pixels, for images whose header could be read.
    pub size: Option<(u32, u32)>,
    /// Whether a preview was stored.
    pub preview: bool,
    /// Whether the upload's chunks are now its blob's parts, to be kept; `false` when the
    /// same bytes were stored already, and the chunks may go.
    pub kept: bool,
}

/// The blob store and the rules about files.
pub struct Files {
    store: Arc<dyn ObjectStore>,
    /// Where chunks are written: on S3 the store itself; on disk the same directory
    /// without a sync per write, and the directory, to sync chunks as [`disk`] says.
    chunks: Arc<dyn ObjectStore>,
    disk: Option<Disk>,
    /// Where it is, for logs (`file://…` or `s3://bucket`).
    pub location: String,
    /// Wakes the sweeper (`crate::background`) when a file may have lost its last message.
    pub sweep: tokio::sync::Notify,
    /// Bytes a chunk is written in: S3 wants parts of 5 MiB (but the last), so a chunk is
    /// one part there; a directory takes small ones, so a chunk is never held whole.
    part_bytes: usize,
    /// The memory previews may take, in MiB permits.
    decoding: Arc<Semaphore>,
    /// Its size, in MiB.
    decoding_mib: u32,
    /// The digests of uploads whose chunks came here in order ([`digest`]).
    running: Mutex<HashMap<UploadId, Running>>,
    /// What previews take now, and the most they took (bytes).
    decoding_now: Gauge,
    decoding_peak: Gauge,
}

/// Memory held for one preview; given back when dropped.
struct Decoding {
    _permit: tokio::sync::OwnedSemaphorePermit,
    bytes: i64,
    now: Gauge,
}

impl Drop for Decoding {
    fn drop(&mut self) {
        self.now.dec_by(self.bytes);
    }
}

/// The blob store `config` names, and where it is: `FERRY_FILES` as `s3://bucket`
/// (credentials, endpoint and region from the usual `AWS_*` variables) or a directory
/// path; by default `files/` in the data directory. The files' own, and what a backup
/// copies (`crate::backup`).
pub fn object_store(config: &Config) -> Result<(Arc<dyn ObjectStore>, String), FileError> {
    let location = config
        .files
        .clone()
        .unwrap_or_else(|| config.data_dir.join("files").display().to_string());
    let store: Arc<dyn ObjectStore> = match location.strip_prefix("s3://") {
        Some(bucket) => {
            let mut s3 = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket.trim_end_matches('/'));
            if let Some(endpoint) = &config.s3_endpoint {
                s3 = s3
                    .with_endpoint(endpoint)
                    .with_allow_http(endpoint.starts_with("http://"));
            }
            if let Some(region) = &config.s3_region {
                s3 = s3.with_region(region);
            }
            if let Some(key) = &config.s3_access_key_id {
                s3 = s3.with_access_key_id(key);
            }
            if let Some(secret) = &config.s3_secret_access_key {
                s3 = s3.with_secret_access_key(secret);
            }
            Arc::new(s3.build()?)
        }
        None => {
            let dir = location.strip_prefix("file://").unwrap_or(&location);
            std::fs::create_dir_all(dir).map_err(|e| object_store::Error::Generic {
                store: "LocalFileSystem",
                source: Box::new(e),
            })?;
            // Synced before a write returns, as S3's writes are: a chunk the database has
            // counted, or a blob it has stored, survives a power cut as the rows do.
            Arc::new(
                LocalFileSystem::new_with_prefix(dir)?
                    .with_automatic_cleanup(true)
                    .with_fsync(true),
            )
        }
    };
    Ok((store, location))
}

impl Files {
    /// The files in the blob store `config` names ([`object_store`]).
    pub fn open(config: &Config, metrics: &Metrics) -> Result<Self, FileError> {
        let (store, location) = object_store(config)?;
        let s3 = location.starts_with("s3://");
        let (chunks, disk) = match s3 {
            true => (store.clone(), None),
            false => {
                let dir = location.strip_prefix("file://").unwrap_or(&location);
                let unsynced: Arc<dyn ObjectStore> =
                    Arc::new(LocalFileSystem::new_with_prefix(dir)?.with_automatic_cleanup(true));
                // The prefix as the store resolved it (made absolute).
                let dir = std::fs::canonicalize(dir).map_err(|e| object_store::Error::Generic {
                    store: "LocalFileSystem",
                    source: Box::new(e),
                })?;
                (unsynced, Some(Disk::new(dir)))
            }
        };
        let decoding_mib = config.preview_memory_mib.max(1);
        Ok(Self {
            store,
            chunks,
            disk,
            location,
            sweep: tokio::sync::Notify::new(),
            part_bytes: if s3 { 5 << 20 } else { 256 << 10 },
            decoding: Arc::new(Semaphore::new(decoding_mib as usize)),
            decoding_mib,
            running: Mutex::new(HashMap::new()),
            decoding_now: metrics.preview_bytes.clone(),
            decoding_peak: metrics.preview_bytes_peak.clone(),
        })
    }

    /// Waits until `bytes` more fit in the memory previews may take (an image larger than
    /// all of it waits until it has all of it).
    async fn decoding_turn(&self, bytes: u64) -> Decoding {
        let mib = u32::try_from(bytes.div_ceil(1 << 20))
            .unwrap_or(u32::MAX)
            .clamp(1, self.decoding_mib);
        let permit = self
            .decoding
            .clone()
            .acquire_many_owned(mib)
            .await
            .expect("the semaphore is never closed");
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        let now = self.decoding_now.inc_by(bytes) + bytes;
        if now > self.decoding_peak.get() {
            // Racy against another turn's update, but only ever by a turn that also
            // fit: the peak may read a little low, never above what was held.
            self.decoding_peak.set(now);
        }
        Decoding {
            _permit: permit,
            bytes,
            now: self.decoding_now.clone(),
        }
    }

    fn chunk(upload: UploadId, object: &str) -> Path {
        Path::from(format!("uploads/{upload}/{object}"))
    }

    fn blob(sha256: &str) -> Path {
        Path::from(format!("blobs/{sha256}"))
    }

    fn preview_of(sha256: &str) -> Path {
        Path::from(format!("previews/{sha256}"))
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<UploadId, Running>> {
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Streams one chunk of an upload, of 1 to `max` bytes, into an object of its own
    /// (before the database counts it: then [`Files::counted`]). A chunk refused or cut
    /// off leaves nothing behind.
    pub async fn put_chunk<E>(
        &self,
        upload: UploadId,
        start: u64,
        mut body: impl Stream<Item = Result<Bytes, E>> + Unpin,
        max: u64,
    ) -> Result<Chunk, FileError> {
        let object = format!("{start:020}-{}", Uuid::new_v4().simple());
        let path = Self::chunk(upload, &object);
        // A copy: the kept digest moves on only once the database counted this chunk.
        let mut running = match start {
            0 => Some(Running::new()),
            _ => self
                .running()
                .get(&upload)
                .filter(|running| running.offset == start)
                .cloned(),
        };
        let mut writer = WriteMultipart::new_with_chunk_size(
            self.chunks.put_multipart(&path).await?,
            self.part_bytes,
        );
        let mut len = 0u64;
        let streamed: Result<(), FileError> = async {
            while let Some(piece) = body.next().await {
                let piece = piece.map_err(|_| FileError::ChunkCut)?;
                len += piece.len() as u64;
                if len > max {
                    return Err(FileError::ChunkTooLarge { max });
                }
                writer.wait_for_capacity(2).await?;
                writer.write(&piece);
                if let Some(running) = running.as_mut() {
                    running.take(&piece);
                }
            }
            if len == 0 {
                return Err(FileError::EmptyChunk);
            }
            Ok(())
        }
        .await;
        match streamed {
            Ok(()) => {
                writer.finish().await?;
                if let Some(running) = running.as_mut() {
                    running.chunk_done(path.to_string(), len);
                }
                Ok(Chunk {
                    object,
                    len,
                    running,
                })
            }
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }

    /// The database counted `chunk`: its bytes start for the disk ([`disk`]), and the
    /// upload's digest here moves on by it (when this node had it, and has room).
    pub fn counted(&self, upload: UploadId, chunk: Chunk) {
        if let Some(disk) = &self.disk {
            disk.sync_soon(&Self::chunk(upload, &chunk.object));
        }
        let Some(running) = chunk.running else {
            return;
        };
        let mut kept = self.running();
        if kept.len() >= MAX_RUNNING && !kept.contains_key(&upload) {
            kept.retain(|_, running| running.touched.elapsed() < RUNNING_STALE);
            if kept.len() >= MAX_RUNNING {
                return;
            }
        }
        kept.insert(upload, running);
    }

    /// Deletes the chunks of an upload (given up, or the same bytes stored already, or a
    /// chunk the database did not count).
    pub async fn drop_chunks(&self, upload: UploadId, objects: &[String]) {
        for object in objects {
            if let Err(e) = self.store.delete(&Self::chunk(upload, object)).await {
                tracing::warn!(%upload, object, error = %e, "could not delete an upload chunk");
            }
        }
    }

    /// Checks an upload's chunks (`objects`, in order), read once, against the declared
    /// `sha256` and `content_type`, makes an image's preview, and makes the chunks the
    /// parts of the content's blob unless it is stored already ([`Assembled::kept`]).
    pub async fn assemble(
        &self,
        upload: UploadId,
        objects: &[String],
        size: u64,
        sha256: &str,
        content_type: &str,
    ) -> Result<Assembled, FileError> {
        // An image small enough is held whole for its preview (its declared type must be
        // what the bytes are, or the upload fails anyway).
        let keep_whole = media::previewable(content_type).is_some() && size <= PREVIEW_SOURCE_BYTES;
        let paths: Vec<Path> = objects
            .iter()
            .map(|object| Self::chunk(upload, object))
            .collect();
        let running = self.running().remove(&upload).filter(|running| {
            running.offset == size
                && running
                    .objects()
                    .eq(paths.iter().map(|path| -> &str { path.as_ref() }))
        });
        let digest = match running {
            Some(running) if !keep_whole => running.into_digest(),
            _ => {
                let whole = keep_whole.then_some(size as usize);
                digest::read_back(&*self.store, paths, whole).await?
            }
        };
        let Digest {
            sha256: found,
            len,
            head,
            whole,
            parts: ours,
        } = digest;
        if len != size || found != sha256 {
            return Err(FileError::Hash);
        }
        let content_type = media::checked_type(content_type, &head)?;
        let format = media::previewable(&content_type);
        // The head may end before an image's header does (a JPEG's frame header can come
        // after hundreds of KB of other segments): an image held whole is measured whole.
        let mut measured = match (format, &whole) {
            (Some(format), Some(bytes)) => media::measure(format, bytes)?,
            (Some(format), None) => media::measure(format, &head)?,
            (None, _) => None,
        };
        let mut preview = false;
        // Only an image whose size is known is decoded: the memory it takes is asked for
        // first.
        if let (Some(format), Some(bytes), Some((width, height))) = (format, whole, measured) {
            let turn = self
                .decoding_turn(media::decoded_bytes(width, height) + bytes.len() as u64)
                .await;
            let made = tokio::task::spawn_blocking(move || {
                let made = media::preview(format, &bytes);
                drop(turn);
                made
            })
            .await;
            match made {
                Ok(Ok(Some(Preview {
                    width,
                    height,
                    bytes,
                }))) => {
                    measured = Some((width, height));
                    self.store
                        .put(&Self::preview_of(sha256), Bytes::from(bytes).into())
                        .await?;
                    preview = true;
                }
                Ok(Ok(None)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(%upload, error = %e, "an image measured within the limit decoded larger: no preview")
                }
                Err(e) => tracing::warn!(%upload, error = %e, "making a preview failed"),
            }
        }
        let kept = self.publish(upload, sha256, &ours).await?;
        Ok(Assembled {
            content_type,
            size: measured,
            preview,
            kept,
        })
    }

    /// Lists `ours`, an upload's checked chunks, as the parts of the blob of `sha256`,
    /// unless a whole blob of it is there already: `true` when the chunks are the blob's
    /// now. Of two uploads of the same bytes finishing at once only one creates the list
    /// (a conditional put: a hard link on disk, `If-None-Match` on S3) and the other's
    /// chunks go. A store configured without conditional puts (`AWS_CONDITIONAL_PUT=
    /// disabled`) is put to without one: there the last list wins, and the other chunks
    /// stay behind unnamed, bytes lost to nobody.
    async fn publish(
        &self,
        upload: UploadId,
        sha256: &str,
        ours: &Parts,
    ) -> Result<bool, FileError> {
        if self.store.head(&Self::blob(sha256)).await.is_ok() {
            return Ok(false);
        }
        match self.list(sha256, ours, PutMode::Create).await {
            Ok(()) => return Ok(true),
            // Listed already, or a store that cannot say: look.
            Err(FileError::Store(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::NotImplemented { .. },
            )) => {}
            Err(e) => return Err(e),
        }
        if let Some(found) = Parts::load(&*self.store, sha256).await? {
            if Self::lists_chunks_of(&found, upload) {
                // Listed by an earlier try at finishing this upload that did not reach
                // the database.
                return Ok(true);
            }
            if found.whole(&*self.store).await? {
                return Ok(false);
            }
            // Otherwise a list whose parts are gone: ours replaces it.
        }
        self.list(sha256, ours, PutMode::Overwrite).await?;
        Ok(true)
    }

    /// Puts `ours` as the list of the blob of `sha256`, its parts synced first on disk: a
    /// list never names bytes a power cut could take.
    async fn list(&self, sha256: &str, ours: &Parts, mode: PutMode) -> Result<(), FileError> {
        if let Some(disk) = &self.disk {
            let parts = ours.parts.iter();
            disk.sync(parts.map(|part| Path::from(part.object.as_str())).collect())
                .await?;
        }
        let options = PutOptions {
            mode,
            ..PutOptions::default()
        };
        self.store
            .put_opts(&Parts::key(sha256), ours.encoded().into(), options)
            .await?;
        Ok(())
    }

    /// Whether `list` names chunks of `upload` (a list's parts are one upload's).
    fn lists_chunks_of(list: &Parts, upload: UploadId) -> bool {
        let dir = format!("uploads/{upload}/");
        list.parts.iter().any(|part| part.object.starts_with(&dir))
    }

    /// Deletes the chunks of an upload being forgotten (cancelled, expired, refused),
    /// unless they are the parts of its content's blob: listed by a finish that did not
    /// reach the database (a crash, or a cancel after its claim went stale), another
    /// upload of the same bytes may have been stored on them since. Those go with the
    /// blob, once the sweeper finds no upload naming it (the store marks the content
    /// orphaned when it forgets an upload whose bytes were all in).
    pub async fn forget_chunks(&self, upload: UploadId, sha256: &str, objects: &[String]) {
        match Parts::load(&*self.store, sha256).await {
            Ok(Some(list)) if Self::lists_chunks_of(&list, upload) => {}
            Ok(_) => self.drop_chunks(upload, objects).await,
            // Kept rather than risk a blob's parts: the bytes are lost to nobody.
            Err(e) => {
                tracing::warn!(%upload, error = %e, "could not read a blob's parts; its chunks stay")
            }
        }
    }

    /// A blob's bytes, whole or from `start` on (a resumed download): its parts, or the
    /// single object of a blob stored before parts were.
    pub async fn read(
        &self,
        sha256: &str,
        start: u64,
    ) -> Result<BoxStream<'static, Result<Bytes, FileError>>, FileError> {
        match Parts::load(&*self.store, sha256).await? {
            Some(parts) => parts.read(self.store.clone(), start).await,
            None => parts::get_from(&*self.store, &Self::blob(sha256), start).await,
        }
    }

    /// A blob's preview.
    pub async fn preview(&self, sha256: &str) -> Result<Bytes, FileError> {
        Ok(self
            .store
            .get(&Self::preview_of(sha256))
            .await?
            .bytes()
            .await?)
    }

    /// Deletes a blob (its parts, then their list) and its preview (no upload names it
    /// any more). Parts first: a deletion cut short is done again from the list.
    pub async fn delete(&self, sha256: &str) -> Result<(), FileError> {
        let mut doomed = Vec::new();
        if let Some(parts) = Parts::load(&*self.store, sha256).await? {
            doomed.extend(parts.parts.into_iter().map(|part| Path::from(part.object)));
        }
        doomed.extend([
            Parts::key(sha256),
            Self::blob(sha256),
            Self::preview_of(sha256),
        ]);
        for path in doomed {
            match self.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
