//! The blob store's rules on an in-memory store: chunks becoming a blob's parts, a
//! second copy not kept, lies refused, lists whose parts are gone, chunks a list names
//! kept when their upload is forgotten, and blobs stored whole by older servers.

use futures_util::TryStreamExt;
use object_store::memory::InMemory;
use sha2::{Digest as _, Sha256};

use super::*;

fn files() -> Files {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    Files {
        store: store.clone(),
        chunks: store,
        disk: None,
        location: "memory".into(),
        sweep: tokio::sync::Notify::new(),
        part_bytes: 256 << 10,
        decoding: Arc::new(Semaphore::new(16)),
        decoding_mib: 16,
        running: Mutex::new(HashMap::new()),
        decoding_now: Gauge::default(),
        decoding_peak: Gauge::default(),
    }
}

/// Stores `bytes` as an upload's chunks of `chunk` bytes, each counted (the digest runs)
/// or not (as if the chunks had come through other nodes: they are read back); returns
/// the chunks' objects.
async fn chunks(
    files: &Files,
    upload: UploadId,
    bytes: &[u8],
    chunk: usize,
    count: bool,
) -> Vec<String> {
    let mut objects = Vec::new();
    for (i, piece) in bytes.chunks(chunk).enumerate() {
        let body =
            futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::copy_from_slice(piece))]);
        let written = files
            .put_chunk(upload, (i * chunk) as u64, body, chunk as u64)
            .await
            .expect("written");
        assert_eq!(written.len, piece.len() as u64);
        objects.push(written.object.clone());
        if count {
            files.counted(upload, written);
        }
    }
    assert_eq!(files.running().contains_key(&upload), count);
    objects
}

async fn read_all(files: &Files, sha256: &str, start: u64) -> Vec<u8> {
    let pieces: Vec<Bytes> = files
        .read(sha256, start)
        .await
        .expect("the in-memory store answers")
        .try_collect()
        .await
        .expect("the in-memory store answers");
    pieces.concat()
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

const BIN: &str = "application/octet-stream";

#[tokio::test]
async fn the_chunks_become_the_blob_and_a_second_copy_is_not_kept() {
    let files = files();
    let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let hash = sha(&bytes);
    let first = UploadId::new();
    let objects = chunks(&files, first, &bytes, 3_000, true).await;
    let done = files
        .assemble(first, &objects, 10_000, &hash, BIN)
        .await
        .expect("assembled");
    assert!(done.kept);
    assert_eq!(read_all(&files, &hash, 0).await, bytes);
    assert_eq!(read_all(&files, &hash, 4_321).await, bytes[4_321..]);

    // A repeat of the same finish (its answer lost before the database stored it)
    // finds its own list.
    // It is read back: the running digest went with the first finish.
    let again = files
        .assemble(first, &objects, 10_000, &hash, BIN)
        .await
        .expect("assembled");
    assert!(again.kept);

    // Another upload of the same bytes: checked, not kept.
    let second = UploadId::new();
    let theirs = chunks(&files, second, &bytes, 4_000, false).await;
    let done = files
        .assemble(second, &theirs, 10_000, &hash, BIN)
        .await
        .expect("assembled");
    assert!(!done.kept);

    // A lie about the hash is refused and lists nothing.
    let other = sha(b"something else");
    for count in [true, false] {
        let liar = UploadId::new();
        let lies = chunks(&files, liar, &bytes, 4_000, count).await;
        assert!(matches!(
            files.assemble(liar, &lies, 10_000, &other, BIN).await,
            Err(FileError::Hash)
        ));
    }
    assert!(
        Parts::load(&*files.store, &other)
            .await
            .expect("the in-memory store answers")
            .is_none()
    );

    // Deleting the blob deletes its parts.
    files
        .delete(&hash)
        .await
        .expect("the in-memory store answers");
    assert!(files.read(&hash, 0).await.is_err());
    for object in &objects {
        assert!(
            files
                .store
                .head(&Files::chunk(first, object))
                .await
                .is_err()
        );
    }
}

#[tokio::test]
async fn listed_chunks_are_kept_when_their_upload_is_forgotten() {
    let files = files();
    let bytes = vec![7u8; 5_000];
    let hash = sha(&bytes);
    let crashed = UploadId::new();
    let objects = chunks(&files, crashed, &bytes, 2_000, true).await;
    assert!(
        files
            .assemble(crashed, &objects, 5_000, &hash, BIN)
            .await
            .expect("assembled")
            .kept
    );
    // The node died before the database stored it, and another upload of the same
    // bytes was stored on its list meanwhile: forgetting the first keeps the parts.
    let second = UploadId::new();
    let theirs = chunks(&files, second, &bytes, 2_500, true).await;
    assert!(
        !files
            .assemble(second, &theirs, 5_000, &hash, BIN)
            .await
            .expect("assembled")
            .kept
    );
    files.forget_chunks(crashed, &hash, &objects).await;
    assert_eq!(read_all(&files, &hash, 0).await, bytes);
    // Chunks no list names go.
    let refused = UploadId::new();
    let lies = chunks(&files, refused, &bytes, 2_000, false).await;
    files.forget_chunks(refused, &hash, &lies).await;
    for object in &lies {
        assert!(
            files
                .store
                .head(&Files::chunk(refused, object))
                .await
                .is_err()
        );
    }
}

#[tokio::test]
async fn a_list_whose_parts_are_gone_is_replaced() {
    let files = files();
    let bytes = vec![9u8; 5_000];
    let hash = sha(&bytes);
    let first = UploadId::new();
    let objects = chunks(&files, first, &bytes, 2_000, true).await;
    assert!(
        files
            .assemble(first, &objects, 5_000, &hash, BIN)
            .await
            .expect("assembled")
            .kept
    );
    // A deletion of the blob cut short between its parts and its list.
    files.drop_chunks(first, &objects).await;

    let next = UploadId::new();
    let theirs = chunks(&files, next, &bytes, 2_000, true).await;
    assert!(
        files
            .assemble(next, &theirs, 5_000, &hash, BIN)
            .await
            .expect("assembled")
            .kept
    );
    assert_eq!(read_all(&files, &hash, 0).await, bytes);
}

#[tokio::test]
async fn a_blob_stored_whole_before_parts_is_read_and_deleted() {
    let files = files();
    let bytes = b"stored by an older server".to_vec();
    let hash = sha(&bytes);
    files
        .store
        .put(&Files::blob(&hash), Bytes::from(bytes.clone()).into())
        .await
        .expect("the in-memory store answers");
    assert_eq!(read_all(&files, &hash, 0).await, bytes);
    assert_eq!(read_all(&files, &hash, 10).await, bytes[10..]);
    // The same bytes uploaded again are not kept beside it.
    let upload = UploadId::new();
    let objects = chunks(&files, upload, &bytes, 10, false).await;
    let done = files
        .assemble(upload, &objects, bytes.len() as u64, &hash, BIN)
        .await
        .expect("assembled");
    assert!(!done.kept);
    files
        .delete(&hash)
        .await
        .expect("the in-memory store answers");
    assert!(files.read(&hash, 0).await.is_err());
}
