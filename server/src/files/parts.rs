//! [`Parts`]: a stored file as the chunks it was uploaded in. Each chunk is written once,
//! as an object of its own (`uploads/{id}/…`), and a finished upload's chunks become its
//! blob's parts in place: the blob is a small list of them, `parts/{sha256}`, written
//! when the bytes were checked. Joining the chunks into one object would write every
//! byte a second time (on disk, a copy; on S3, where objects are never renamed, a
//! multipart copy whose parts must be 5 MiB while chunks are 4 MiB), and the upload ran
//! at half the disk's speed for it.
//!
//! Reading a blob streams its parts one after the other, the first from the asked
//! offset. Blobs stored before the list existed are single objects (`blobs/{sha256}`) and
//! are still read, and deleted, as such.

use bytes::Bytes;
use futures_util::stream::{self, BoxStream};
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};

use super::FileError;

/// One part of a blob: an object and its length.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// The object's key in the blob store.
    pub object: String,
    /// Its bytes.
    pub len: u64,
}

/// A blob's parts, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parts {
    /// The parts; together they are the file.
    pub parts: Vec<Part>,
}

impl Parts {
    /// Where the parts of the blob of `sha256` are listed.
    pub fn key(sha256: &str) -> Path {
        Path::from(format!("parts/{sha256}"))
    }

    /// The list of the blob of `sha256`; `None` when there is none.
    pub async fn load(store: &dyn ObjectStore, sha256: &str) -> Result<Option<Self>, FileError> {
        match store.get(&Self::key(sha256)).await {
            Ok(found) => {
                let bytes = found.bytes().await?;
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| FileError::Store(broken(e)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The list as stored.
    pub fn encoded(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).expect("a list of strings and numbers encodes"))
    }

    /// Whether every part is there at its length: a list whose upload was cancelled while
    /// it was written (its chunks deleted) is not a blob to share.
    pub async fn whole(&self, store: &dyn ObjectStore) -> Result<bool, FileError> {
        for part in &self.parts {
            match store.head(&Path::from(part.object.as_str())).await {
                Ok(meta) if meta.size == part.len => {}
                Ok(_) | Err(object_store::Error::NotFound { .. }) => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }

    /// The bytes from `start` on. The first part is asked for before this returns, so a
    /// missing blob is an error here and not a cut in the middle of a response.
    pub async fn read(
        &self,
        store: std::sync::Arc<dyn ObjectStore>,
        start: u64,
    ) -> Result<BoxStream<'static, Result<Bytes, FileError>>, FileError> {
        let mut skipped = 0u64;
        let mut from = Vec::new();
        for part in &self.parts {
            if skipped + part.len > start {
                let offset = start.saturating_sub(skipped);
                from.push((Path::from(part.object.as_str()), offset));
            }
            skipped += part.len;
        }
        let mut rest = from.into_iter();
        let Some((first, offset)) = rest.next() else {
            return Ok(stream::empty().boxed());
        };
        let first = get_from(&*store, &first, offset).await?;
        let rest = stream::iter(rest)
            .then(move |(path, offset)| {
                let store = store.clone();
                async move { get_from(&*store, &path, offset).await }
            })
            .try_flatten();
        Ok(first.chain(rest).boxed())
    }
}

/// One object's bytes from `offset` on.
pub async fn get_from(
    store: &dyn ObjectStore,
    path: &Path,
    offset: u64,
) -> Result<BoxStream<'static, Result<Bytes, FileError>>, FileError> {
    let options = GetOptions {
        range: (offset > 0).then_some(GetRange::Offset(offset)),
        ..GetOptions::default()
    };
    Ok(store
        .get_opts(path, options)
        .await?
        .into_stream()
        .map_err(FileError::from)
        .boxed())
}

/// A list that does not parse: the store holds something Ferry did not write.
fn broken(e: serde_json::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: "parts",
        source: Box::new(e),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::PutPayload;
    use object_store::memory::InMemory;

    use super::*;

    async fn stored(pieces: &[&[u8]]) -> (Arc<dyn ObjectStore>, Parts) {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let mut parts = Parts::default();
        for (i, piece) in pieces.iter().enumerate() {
            let object = format!("uploads/u/{i}");
            store
                .put(
                    &Path::from(object.as_str()),
                    PutPayload::from(piece.to_vec()),
                )
                .await
                .expect("the in-memory store answers");
            parts.parts.push(Part {
                object,
                len: piece.len() as u64,
            });
        }
        (store, parts)
    }

    async fn read_all(parts: &Parts, store: Arc<dyn ObjectStore>, start: u64) -> Vec<u8> {
        let chunks: Vec<Bytes> = parts
            .read(store, start)
            .await
            .expect("the in-memory store answers")
            .try_collect()
            .await
            .expect("the in-memory store answers");
        chunks.concat()
    }

    #[tokio::test]
    async fn reads_the_parts_in_order_from_any_offset() {
        let (store, parts) = stored(&[b"abcd", b"ef", b"ghijk"]).await;
        let whole = b"abcdefghijk";
        assert_eq!(parts.parts.iter().map(|part| part.len).sum::<u64>(), 11);
        for start in 0..11u64 {
            assert_eq!(
                read_all(&parts, store.clone(), start).await,
                whole[start as usize..],
                "from {start}"
            );
        }
        assert!(read_all(&parts, store, 11).await.is_empty());
    }

    #[tokio::test]
    async fn a_missing_first_part_fails_before_any_byte() {
        let (store, parts) = stored(&[b"abcd", b"ef"]).await;
        store
            .delete(&Path::from("uploads/u/0"))
            .await
            .expect("the in-memory store answers");
        assert!(parts.read(store.clone(), 0).await.is_err());
        assert!(
            !parts
                .whole(&*store)
                .await
                .expect("the in-memory store answers")
        );
        // From the second part on, the first is not asked for.
        assert_eq!(read_all(&parts, store, 4).await, b"ef");
    }

    #[tokio::test]
    async fn a_part_of_another_length_is_not_whole() {
        let (store, mut parts) = stored(&[b"abcd"]).await;
        assert!(
            parts
                .whole(&*store)
                .await
                .expect("the in-memory store answers")
        );
        parts.parts[0].len = 5;
        assert!(
            !parts
                .whole(&*store)
                .await
                .expect("the in-memory store answers")
        );
    }

    #[tokio::test]
    async fn the_list_round_trips_and_garbage_is_an_error() {
        let (store, parts) = stored(&[b"abcd", b"ef"]).await;
        assert_eq!(
            Parts::load(&*store, "h")
                .await
                .expect("the in-memory store answers"),
            None
        );
        store
            .put(&Parts::key("h"), parts.encoded().into())
            .await
            .expect("the in-memory store answers");
        assert_eq!(
            Parts::load(&*store, "h")
                .await
                .expect("the in-memory store answers"),
            Some(parts)
        );
        store
            .put(&Parts::key("g"), PutPayload::from_static(b"not json"))
            .await
            .expect("the in-memory store answers");
        assert!(Parts::load(&*store, "g").await.is_err());
    }
}
