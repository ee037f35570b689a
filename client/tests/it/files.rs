//! Files between real clients: attached offline (the message shows at once, with its
//! preview), uploaded when the connection comes back, resumed after the connection drops
//! mid-upload and after the app restarts mid-upload (never from zero), downloaded
//! byte-identical on the other side; cancelled; kept in a cache with a size limit. The
//! round trip runs on both server databases.

use std::path::PathBuf;

use ferry_client::{ClientError, Event, MessageStatus};
use ferry_proto::ConversationId;
use ferry_testkit::{Backend, noise};
use sha2::{Digest, Sha256};

use crate::support::{Device, Fault, Proxy, Served, TestDb, TestServer, config, direct, online};

fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

/// A small PNG (a gradient), as a phone's screenshot would be.
pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("header");
    let data: Vec<u8> = (0..width * height * 3).map(|i| (i % 251) as u8).collect();
    writer.write_image_data(&data).expect("pixels");
    writer.finish().expect("finish");
    out
}

/// Writes `bytes` to a file named `name` in a temporary folder of the test's.
fn file(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write the file to send");
    path
}

async fn offline_first_round_trip(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start_with(config(&db)).await;
    let [alice, bob] = online(&server.url(), ["alice", "bob"]).await;
    let chat = direct(&alice, &bob).await;
    alice.client.stop().await;

    // Offline: the message shows at once, pending, with its files and the image's preview.
    let folder = tempfile::tempdir().expect("temp dir");
    let picture = png(640, 480);
    let report = noise(5 * 1024 * 1024 + 17, 1);
    let paths = [
        file(&folder, "screenshot.png", &picture),
        file(&folder, "report.pdf.bin", &report),
    ];
    let sent = alice
        .conversation(chat)
        .send_files(&paths, "the numbers", None)
        .await
        .expect("attach");
    assert_eq!(sent.status, MessageStatus::Pending);
    assert_eq!(sent.body, "the numbers");
    let names: Vec<_> = sent.attachments.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["screenshot.png", "report.pdf.bin"]);
    assert_eq!(sent.attachments[0].content_type, "image/png");
    assert_eq!(
        (sent.attachments[0].width, sent.attachments[0].height),
        (Some(640), Some(480))
    );
    assert!(sent.attachments[0].has_preview);
    assert_eq!(sent.attachments[1].uploaded, Some(0));
    let preview = alice
        .files()
        .preview(sent.id, 0)
        .await
        .expect("a preview, offline");
    assert!(!preview.is_empty());
    // The originals may go: the app keeps its own copies.
    drop(folder);

    // Back online: the files upload, then the message goes, and reaches bob.
    let alice = alice.restart(&server.url()).await;
    alice.client.start();
    bob.until("bob has the message with its files", |c| {
        c.conversation(chat)
            .messages(None, 10)
            .expect("messages")
            .iter()
            .any(|m| m.attachments.len() == 2 && m.body == "the numbers")
    })
    .await;
    alice
        .until("alice's message is sent", |c| {
            c.message(sent.id)
                .expect("read")
                .is_some_and(|m| m.seq.is_some())
        })
        .await;
    let mine = alice.client.message(sent.id).expect("read").expect("kept");
    assert!(
        mine.attachments
            .iter()
            .all(|a| a.uploaded.is_none() && a.downloaded && a.id.is_some())
    );

    let theirs = bob
        .conversation(chat)
        .messages(None, 10)
        .expect("messages")
        .into_iter()
        .find(|m| m.id == sent.id)
        .expect("the same message, once");
    assert!(!theirs.attachments[1].downloaded);
    let path = bob.files().download(theirs.id, 1).await.expect("download");
    assert_eq!(
        sha256(&std::fs::read(&path).expect("read")),
        sha256(&report),
        "byte-identical"
    );
    let preview = bob
        .files()
        .preview(theirs.id, 0)
        .await
        .expect("the server's preview");
    assert!(
        preview.starts_with(&[0xff, 0xd8]),
        "a JPEG preview of an opaque image"
    );
    let after = bob.client.message(theirs.id).expect("read").expect("kept");
    assert!(after.attachments[1].downloaded);
    assert_eq!(bob.history(chat).len(), 1, "exactly once");
}

async fn offline_first_round_trip_sqlite() {
    offline_first_round_trip(Backend::Sqlite).await;
}
async fn offline_first_round_trip_postgres() {
    offline_first_round_trip(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_on_sqlite() {
    offline_first_round_trip_sqlite().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_on_postgres() {
    offline_first_round_trip_postgres().await;
}

/// A server on SQLite; Alice online through a proxy the test controls, Bob straight to
/// the server; their direct chat.
async fn alice_behind_a_proxy() -> (TestDb, TestServer, Proxy, Device, Device, ConversationId) {
    let db = TestDb::sqlite();
    let server = TestServer::start_with(config(&db)).await;
    let proxy = Proxy::start(server.addr()).await;
    let alice = Device::register(&proxy.url(), "alice").await;
    let bob = Device::register(&server.url(), "bob").await;
    alice.client.start();
    bob.client.start();
    alice.online().await;
    let chat = direct(&alice, &bob).await;
    (db, server, proxy, alice, bob, chat)
}

/// The connection drops once half the file is up: the upload goes on from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_resumes_after_the_connection_drops() {
    let (_db, _server, proxy, alice, bob, chat) = alice_behind_a_proxy().await;

    let bytes = noise(16 * 1024 * 1024, 2);
    let folder = tempfile::tempdir().expect("temp dir");
    let mut events = alice.client.events();
    let sent = alice
        .conversation(chat)
        .send_files(&[file(&folder, "video.mp4.bin", &bytes)], "", None)
        .await
        .expect("attach");
    // Half the file is stored: cut every connection open now (the next chunk's too).
    crate::support::within("half the file uploaded", async {
        loop {
            if let Ok(Event::UploadProgress {
                sent: done, total, ..
            }) = events.recv().await
                && done * 2 >= total
            {
                return;
            }
        }
    })
    .await;
    proxy.fault(Fault::Drop);

    bob.until("bob has the file", |c| {
        c.conversation(chat)
            .messages(None, 10)
            .expect("messages")
            .iter()
            .any(|m| m.id == sent.id)
    })
    .await;
    let path = bob.files().download(sent.id, 0).await.expect("download");
    assert_eq!(sha256(&std::fs::read(path).expect("read")), sha256(&bytes));
    assert_eq!(bob.history(chat).len(), 1, "exactly once");
}

/// The app stops mid-upload (its link stalled, a chunk in flight); started again, it asks
/// the server where the upload stands and goes on from there, never from zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_resumes_after_a_restart() {
    let (_db, server, proxy, alice, bob, chat) = alice_behind_a_proxy().await;

    // Sixteen chunks: far more than can go between the first one and the stall.
    let bytes = noise(64 * 1024 * 1024 + 5, 3);
    let folder = tempfile::tempdir().expect("temp dir");
    let mut events = alice.client.events();
    let sent = alice
        .conversation(chat)
        .send_files(&[file(&folder, "backup.tar", &bytes)], "", None)
        .await
        .expect("attach");
    crate::support::within("a first chunk stored", async {
        loop {
            if let Ok(Event::UploadProgress { sent: done, .. }) = events.recv().await
                && done > 0
            {
                return;
            }
        }
    })
    .await;
    proxy.fault(Fault::Stall);
    let asked_before = server.requests("/api/v1/uploads/{id}").await;
    let alice = alice.restart(&server.url()).await;
    assert!(
        alice
            .client
            .message(sent.id)
            .expect("read")
            .expect("kept")
            .attachments[0]
            .uploaded
            .is_some_and(|done| done < bytes.len() as u64),
        "stopped halfway"
    );
    let mut events = alice.client.events();
    alice.client.start();
    // The first progress after the restart starts past zero: nothing was sent twice.
    let first = crate::support::within("progress after the restart", async {
        loop {
            if let Ok(Event::UploadProgress { sent: done, .. }) = events.recv().await {
                return done;
            }
        }
    })
    .await;
    assert!(
        first > ferry_proto::UPLOAD_CHUNK_BYTES,
        "went on from the stored chunks: {first}"
    );
    assert!(
        server.requests("/api/v1/uploads/{id}").await > asked_before,
        "asked where it stood"
    );
    bob.until("bob has the file", |c| {
        c.message(sent.id).expect("read").is_some()
    })
    .await;
    let path = bob.files().download(sent.id, 0).await.expect("download");
    assert_eq!(sha256(&std::fs::read(path).expect("read")), sha256(&bytes));
    assert_eq!(bob.history(chat).len(), 1, "exactly once");
}

/// Cancelling takes the message and its copies away; a refused file fails its message
/// with the server's reason; files a device cannot send are refused at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_refusals() {
    let db = TestDb::sqlite();
    let mut config = config(&db);
    config.max_file_bytes = 1024 * 1024;
    let server = TestServer::start_with(config).await;
    let [alice, bob] = online(&server.url(), ["alice", "bob"]).await;
    let chat = direct(&alice, &bob).await;
    alice.client.stop().await;

    let folder = tempfile::tempdir().expect("temp dir");
    let sent = alice
        .conversation(chat)
        .send_files(
            &[file(&folder, "a.bin", &noise(1000, 4))],
            "never mind",
            None,
        )
        .await
        .expect("attach");
    let outgoing = ferry_client::current_account_dir(&alice.dir)
        .expect("an account")
        .join("files/outgoing");
    let copies = || std::fs::read_dir(&outgoing).map_or(0, |d| d.count());
    assert_eq!(copies(), 1, "the copy made when attached");
    alice
        .conversation(sent.conversation_id)
        .cancel_upload(sent.id)
        .expect("cancel");
    assert!(alice.client.message(sent.id).expect("read").is_none());
    assert_eq!(copies(), 0, "gone with the message");
    assert_eq!(alice.client.outbox_len().expect("outbox"), 0);

    let empty = alice
        .conversation(chat)
        .send_files(&[file(&folder, "empty.txt", b"")], "", None)
        .await;
    assert!(matches!(empty, Err(ClientError::Invalid(_))), "{empty:?}");

    // Over this server's limit: the message fails, with the server's words.
    let big = alice
        .conversation(chat)
        .send_files(
            &[file(&folder, "big.bin", &noise(2 * 1024 * 1024, 5))],
            "",
            None,
        )
        .await
        .expect("attached here");
    alice.client.start();
    alice
        .until("the big file's message failed", |c| {
            c.message(big.id)
                .expect("read")
                .is_some_and(|m| m.status == MessageStatus::Failed)
        })
        .await;
    let failed = alice.client.message(big.id).expect("read").expect("kept");
    assert!(
        failed
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("at most"),
        "{failed:?}"
    );
    // Discarding it takes its copy too.
    alice
        .conversation(big.conversation_id)
        .discard(big.id)
        .expect("discard");
    assert!(alice.client.message(big.id).expect("read").is_none());
}

/// Downloads stay within the cache's size, the least recently used going first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_keeps_within_its_size() {
    let db = TestDb::sqlite();
    let server = TestServer::start_with(config(&db)).await;
    let [alice, bob] = online(&server.url(), ["alice", "bob"]).await;
    let chat = direct(&alice, &bob).await;
    let folder = tempfile::tempdir().expect("temp dir");
    let mut ids = Vec::new();
    for seed in 0..3 {
        let sent = alice
            .conversation(chat)
            .send_files(
                &[file(&folder, &format!("{seed}.bin"), &noise(400_000, seed))],
                "",
                None,
            )
            .await
            .expect("attach");
        ids.push(sent.id);
    }
    bob.until("bob has the three", |c| {
        ids.iter().all(|id| c.message(*id).expect("read").is_some())
    })
    .await;
    // Bob's device keeps at most 1 MB of downloads.
    let bob = bob
        .restart_with(&server.url(), |o| o.file_cache_bytes = 1_000_000)
        .await;
    let bob = &bob.client;
    let first = bob.files().download(ids[0], 0).await.expect("download");
    bob.files().download(ids[1], 0).await.expect("download");
    assert!(first.exists());
    bob.files().download(ids[2], 0).await.expect("download");
    assert!(!first.exists(), "the least recently used went");
    let shown = bob.message(ids[0]).expect("read").expect("kept");
    assert!(!shown.attachments[0].downloaded);
    // It comes back on demand.
    let again = bob
        .files()
        .download(ids[0], 0)
        .await
        .expect("download again");
    assert_eq!(std::fs::read(again).expect("read"), noise(400_000, 0));
}
