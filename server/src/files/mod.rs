//! [`Files`]: the bytes of attachments, in a blob store behind one boundary
//! (`object_store`) with two implementations: a directory on disk (the default, beside the
//! embedded database) and S3-compatible object storage (for containers and clusters,
//! whose nodes share the bucket).
//!
//! An upload arrives in chunks; each is streamed into an object of its own
//! (`uploads/{id}/{start}-{random}`: two tries at one offset never share an object)
//! before the database counts it, so a dropped connection costs at most the chunk in
//! flight and any node can take the next one. The last chunk makes
//! [`Files::assemble`] stream the chunks, in order, into one blob named by the content's
//! SHA-256 (`blobs/{sha256}`): a file sent twice is stored once. On the way the bytes are
//! hashed (they must match the declared hash), their type is checked
//! (`ferry_proto::media`) and an
//! image gets its preview (`previews/{sha256}`). Nothing holds a whole file in memory:
//! a chunk passes through in parts, and an image small enough to preview is held whole
//! only while the memory previews may take (`FERRY_PREVIEW_MEMORY_MIB`) allows: decoding
//! takes turns by the bytes it will need. Profile pictures are small squares made from
//! an uploaded image (`pictures/{id}`), a new object for each new picture.

use std::sync::Arc;

use bytes::Bytes;
use ferry_proto::{PictureId, UploadId};
use futures_util::Stream;
use futures_util::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, GetResult, ObjectStore, ObjectStoreExt, WriteMultipart};
use prometheus_client::metrics::gauge::Gauge;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::config::Config;
use crate::metrics::Metrics;
use ferry_proto::media::{self, MediaError, Preview};

/// Images up to this size are held whole while assembled, to make their preview; larger
/// ones are stored without one (their header is still measured).
const PREVIEW_SOURCE_BYTES: u64 = 32 * 1024 * 1024;
/// How much of a file's start is kept for its magic numbers and an image's header.
const HEAD_BYTES: usize = 256 * 1024;

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

/// What the chunks of an upload became.
pub struct Assembled {
    /// The type the bytes were checked to be.
    pub content_type: String,
    /// Pixels, for images whose header could be read.
    pub size: Option<(u32, u32)>,
    /// Whether a preview was stored.
    pub preview: bool,
}

/// The blob store and the rules about files.
pub struct Files {
    store: Arc<dyn ObjectStore>,
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
            Arc::new(LocalFileSystem::new_with_prefix(dir)?.with_automatic_cleanup(true))
        }
    };
    Ok((store, location))
}

impl Files {
    /// The files in the blob store `config` names ([`object_store`]).
    pub fn open(config: &Config, metrics: &Metrics) -> Result<Self, FileError> {
        let (store, location) = object_store(config)?;
        let s3 = location.starts_with("s3://");
        let decoding_mib = config.preview_memory_mib.max(1);
        Ok(Self {
            store,
            location,
            sweep: tokio::sync::Notify::new(),
            part_bytes: if s3 { 5 << 20 } else { 256 << 10 },
            decoding: Arc::new(Semaphore::new(decoding_mib as usize)),
            decoding_mib,
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

    /// Streams one chunk of an upload, of 1 to `max` bytes, into an object of its own
    /// (before the database counts it); returns the object's name and the chunk's length.
    /// A chunk refused or cut off leaves nothing behind.
    pub async fn put_chunk<E>(
        &self,
        upload: UploadId,
        start: u64,
        mut body: impl Stream<Item = Result<Bytes, E>> + Unpin,
        max: u64,
    ) -> Result<(String, u64), FileError> {
        let object = format!("{start:020}-{}", Uuid::new_v4().simple());
        let path = Self::chunk(upload, &object);
        let mut writer = WriteMultipart::new_with_chunk_size(
            self.store.put_multipart(&path).await?,
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
                Ok((object, len))
            }
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }

    /// Deletes the chunks of an upload (after it was assembled, or given up, or a chunk
    /// the database did not count).
    pub async fn drop_chunks(&self, upload: UploadId, objects: &[String]) {
        for object in objects {
            if let Err(e) = self.store.delete(&Self::chunk(upload, object)).await {
                tracing::warn!(%upload, object, error = %e, "could not delete an upload chunk");
            }
        }
    }

    /// Joins an upload's chunks (`objects`, in order) into its blob, checking the bytes
    /// against the declared `sha256` and `content_type`, and makes an image's preview.
    /// The chunks stay: the caller deletes them once the database agrees.
    pub async fn assemble(
        &self,
        upload: UploadId,
        objects: &[String],
        size: u64,
        sha256: &str,
        content_type: &str,
    ) -> Result<Assembled, FileError> {
        let blob = Self::blob(sha256);
        // Content-addressed: when the blob is there already, the bytes are checked and
        // dropped, not written again.
        let exists = self.store.head(&blob).await.is_ok();
        let mut writer = if exists {
            None
        } else {
            Some(WriteMultipart::new(self.store.put_multipart(&blob).await?))
        };
        let mut hasher = Sha256::new();
        let mut head: Vec<u8> = Vec::new();
        // An image small enough is held whole for its preview (its declared type must be
        // what the bytes are, or the upload fails anyway).
        let keep_whole = media::previewable(content_type).is_some() && size <= PREVIEW_SOURCE_BYTES;
        let mut whole = keep_whole.then(|| Vec::with_capacity(size as usize));
        let mut seen = 0u64;
        let mut checked: Option<(String, Option<image::ImageFormat>)> = None;
        let result: Result<(), FileError> = async {
            for object in objects {
                let mut stream = self
                    .store
                    .get(&Self::chunk(upload, object))
                    .await?
                    .into_stream();
                while let Some(piece) = stream.next().await {
                    let piece = piece?;
                    hasher.update(&piece);
                    seen += piece.len() as u64;
                    if head.len() < HEAD_BYTES {
                        let take = (HEAD_BYTES - head.len()).min(piece.len());
                        head.extend_from_slice(&piece[..take]);
                    }
                    if let Some(whole) = whole.as_mut() {
                        whole.extend_from_slice(&piece);
                    }
                    if checked.is_none() && (head.len() >= HEAD_BYTES || seen >= size) {
                        let found = media::checked_type(content_type, &head)?;
                        let format = media::previewable(&found);
                        if let Some(format) = format {
                            media::measure(format, &head)?;
                        }
                        checked = Some((found, format));
                    }
                    if let Some(writer) = writer.as_mut() {
                        writer.wait_for_capacity(4).await?;
                        writer.write(&piece);
                    }
                }
            }
            Ok(())
        }
        .await;
        let verdict = match result {
            Err(e) => Err(e),
            Ok(()) if seen != size || hex::encode(hasher.finalize()) != sha256 => {
                Err(FileError::Hash)
            }
            Ok(()) => checked.ok_or(FileError::Hash),
        };
        // The head may end before an image's header does (a JPEG's frame header can come
        // after hundreds of KB of other segments): an image held whole is measured whole.
        let verdict = verdict.and_then(|(content_type, format)| {
            let measured = match (format, &whole) {
                (Some(format), Some(bytes)) => media::measure(format, bytes)?,
                (Some(format), None) => media::measure(format, &head)?,
                (None, _) => None,
            };
            Ok((content_type, format, measured))
        });
        let (content_type, format, mut measured) = match verdict {
            Ok(checked) => checked,
            Err(e) => {
                if let Some(writer) = writer {
                    // Nothing half-written stays under the content's name.
                    let _ = writer.abort().await;
                }
                return Err(e);
            }
        };
        if let Some(writer) = writer {
            writer.finish().await?;
        }
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
        Ok(Assembled {
            content_type,
            size: measured,
            preview,
        })
    }

    /// A blob's bytes, whole or from `start` on (a resumed download).
    pub async fn read(&self, sha256: &str, start: u64) -> Result<GetResult, FileError> {
        let options = GetOptions {
            range: (start > 0).then_some(GetRange::Offset(start)),
            ..GetOptions::default()
        };
        Ok(self.store.get_opts(&Self::blob(sha256), options).await?)
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

    fn picture_at(picture: PictureId) -> Path {
        Path::from(format!("pictures/{picture}"))
    }

    /// Makes a profile picture of a stored image: its middle square, small (see
    /// `media::square`); `None` when it is not an image this server decodes, or larger
    /// than it decodes for previews.
    pub async fn make_picture(
        &self,
        sha256: &str,
        content_type: &str,
        size: u64,
        pixels: Option<(u32, u32)>,
    ) -> Result<Option<Bytes>, FileError> {
        let (Some(format), Some((width, height))) = (media::previewable(content_type), pixels)
        else {
            return Ok(None);
        };
        if size > PREVIEW_SOURCE_BYTES {
            return Ok(None);
        }
        let bytes = self.store.get(&Self::blob(sha256)).await?.bytes().await?;
        let turn = self
            .decoding_turn(media::decoded_bytes(width, height) + bytes.len() as u64)
            .await;
        let made = tokio::task::spawn_blocking(move || {
            let made = media::square(format, &bytes, ferry_proto::PICTURE_SIDE);
            drop(turn);
            made
        })
        .await;
        match made {
            Ok(Ok(Some(square))) => Ok(Some(Bytes::from(square))),
            Ok(Ok(None)) | Ok(Err(_)) => Ok(None),
            Err(e) => {
                tracing::warn!(error = %e, "making a profile picture failed");
                Ok(None)
            }
        }
    }

    /// Keeps a profile picture's bytes.
    pub async fn put_picture(&self, picture: PictureId, bytes: Bytes) -> Result<(), FileError> {
        self.store
            .put(&Self::picture_at(picture), bytes.into())
            .await?;
        Ok(())
    }

    /// A profile picture's bytes.
    pub async fn picture(&self, picture: PictureId) -> Result<Bytes, FileError> {
        Ok(self
            .store
            .get(&Self::picture_at(picture))
            .await?
            .bytes()
            .await?)
    }

    /// The profile pictures kept, each with when it was written.
    pub async fn pictures(
        &self,
    ) -> Result<Vec<(PictureId, chrono::DateTime<chrono::Utc>)>, FileError> {
        let mut listing = self.store.list(Some(&Path::from("pictures")));
        let mut found = Vec::new();
        while let Some(meta) = listing.next().await.transpose()? {
            if let Some(Ok(id)) = meta.location.filename().map(str::parse::<PictureId>) {
                found.push((id, meta.last_modified));
            }
        }
        Ok(found)
    }

    /// Deletes a profile picture no one shows any more.
    pub async fn delete_picture(&self, picture: PictureId) -> Result<(), FileError> {
        match self.store.delete(&Self::picture_at(picture)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a blob and its preview (no upload names it any more).
    pub async fn delete(&self, sha256: &str) -> Result<(), FileError> {
        for path in [Self::blob(sha256), Self::preview_of(sha256)] {
            match self.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
