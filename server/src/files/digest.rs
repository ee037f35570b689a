//! [`Digest`]: what an upload's bytes come to before they are judged: their SHA-256 and
//! length, their first bytes (for the type and an image's header), the whole of an image
//! small enough to preview, and the chunks as the blob's parts.
//!
//! It is made as the chunks arrive ([`Running`]) on the node that took all of them, in
//! order, which is the usual case: then the last chunk needs no second pass over the file,
//! and each byte is written once and read never. When the chunks came through several
//! nodes, or the node restarted, or the file is an image to preview, the chunks are read
//! back once instead ([`read_back`]). A running digest advances only by chunks the
//! database counted (see `Files::counted`), so it always describes the stored bytes.

use std::time::Instant;

use futures_util::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::{Digest as _, Sha256};

use super::FileError;
use super::parts::{Part, Parts};

/// How much of a file's start is kept for its magic numbers and an image's header.
pub const HEAD_BYTES: usize = 256 * 1024;

/// An upload's bytes, summed up.
pub struct Digest {
    /// Their SHA-256, in hex.
    pub sha256: String,
    /// How many there were.
    pub len: u64,
    /// The first [`HEAD_BYTES`] of them.
    pub head: Vec<u8>,
    /// All of them, when asked for (an image to preview).
    pub whole: Option<Vec<u8>>,
    /// The chunks they are in, in order.
    pub parts: Parts,
}

/// A digest in the making, as the chunks of an upload come in order to one node.
#[derive(Clone)]
pub struct Running {
    /// Bytes taken so far: the next chunk must start here.
    pub offset: u64,
    hasher: Sha256,
    head: Vec<u8>,
    parts: Parts,
    /// When a chunk last advanced it (stale ones make room for others).
    pub touched: Instant,
}

impl Running {
    /// Before the first byte.
    pub fn new() -> Self {
        Self {
            offset: 0,
            hasher: Sha256::new(),
            head: Vec::new(),
            parts: Parts::default(),
            touched: Instant::now(),
        }
    }

    /// Takes a piece of the chunk being written.
    pub fn take(&mut self, piece: &[u8]) {
        self.hasher.update(piece);
        keep_head(&mut self.head, piece);
    }

    /// The chunk written as `object` is `len` bytes.
    pub fn chunk_done(&mut self, object: String, len: u64) {
        self.offset += len;
        self.parts.parts.push(Part { object, len });
        self.touched = Instant::now();
    }

    /// The chunks' objects, in order.
    pub fn objects(&self) -> impl Iterator<Item = &str> {
        self.parts.parts.iter().map(|part| part.object.as_str())
    }

    /// The digest of what was taken.
    pub fn into_digest(self) -> Digest {
        Digest {
            sha256: hex::encode(self.hasher.finalize()),
            len: self.offset,
            head: self.head,
            whole: None,
            parts: self.parts,
        }
    }
}

fn keep_head(head: &mut Vec<u8>, piece: &[u8]) {
    if head.len() < HEAD_BYTES {
        let take = (HEAD_BYTES - head.len()).min(piece.len());
        head.extend_from_slice(&piece[..take]);
    }
}

/// Reads the chunks at `paths`, in order, once; keeps them whole when `whole` says how
/// many bytes to expect.
pub async fn read_back(
    store: &dyn ObjectStore,
    paths: Vec<Path>,
    whole: Option<usize>,
) -> Result<Digest, FileError> {
    let mut hasher = Sha256::new();
    let mut head = Vec::new();
    let mut whole = whole.map(Vec::with_capacity);
    let mut parts = Parts::default();
    let mut total = 0u64;
    for path in paths {
        let mut stream = store.get(&path).await?.into_stream();
        let mut len = 0u64;
        while let Some(piece) = stream.next().await {
            let piece = piece?;
            hasher.update(&piece);
            keep_head(&mut head, &piece);
            if let Some(whole) = whole.as_mut() {
                whole.extend_from_slice(&piece);
            }
            len += piece.len() as u64;
        }
        total += len;
        parts.parts.push(Part {
            object: path.to_string(),
            len,
        });
    }
    Ok(Digest {
        sha256: hex::encode(hasher.finalize()),
        len: total,
        head,
        whole,
        parts,
    })
}

#[cfg(test)]
mod tests {
    use object_store::PutPayload;
    use object_store::memory::InMemory;

    use super::*;

    #[tokio::test]
    async fn running_and_read_back_agree() {
        let store = InMemory::new();
        let bytes: Vec<u8> = (0..600_000u32).map(|i| (i % 253) as u8).collect();
        let mut running = Running::new();
        let mut paths = Vec::new();
        for (i, chunk) in bytes.chunks(250_000).enumerate() {
            let path = Path::from(format!("uploads/u/{i}"));
            store
                .put(&path, PutPayload::from(chunk.to_vec()))
                .await
                .expect("the in-memory store answers");
            // In pieces, as a body streams.
            for piece in chunk.chunks(7_000) {
                running.take(piece);
            }
            running.chunk_done(path.to_string(), chunk.len() as u64);
            paths.push(path);
        }
        let ran = running.into_digest();
        let read = read_back(&store, paths, Some(bytes.len()))
            .await
            .expect("the in-memory store answers");
        assert_eq!(ran.sha256, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(
            (ran.sha256, ran.len, &ran.head),
            (read.sha256, read.len, &read.head)
        );
        assert_eq!(ran.head, bytes[..HEAD_BYTES]);
        assert_eq!(ran.parts, read.parts);
        assert_eq!(read.whole.as_deref(), Some(&bytes[..]));
        assert!(ran.whole.is_none());
    }
}
