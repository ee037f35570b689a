//! The outside security review's findings (issue 33), each as the attack that found it:
//! an image whose frame header hides past the first 256 KiB, previews decoded all at
//! once, unfinished uploads that bypass the quota, a chunk left behind by a cancel, a
//! stranger reading delivery and read times from `/sync`, a blocked user hearing the
//! blocker in a group, a report that points an operator at someone else's message, and
//! file names that reorder themselves. On both databases.

use ferry_proto::{
    ClientFrame, Conversation, ConversationId, MessageId, ServerFrame, SyncPage, Upload,
};
use ferry_testkit::metric_at;
use futures_util::StreamExt;
use reqwest::header;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::files::{Blobs, declare, patch, send_with, server, sha256, upload};
use crate::support::{Backend, TestDb, TestServer, User, on_both, within};

/// A JPEG whose frame header says `width` × `height` (a 16-pixel image with its header
/// rewritten: nothing that size is encoded) after `padding` bytes of comment segments.
fn jpeg_measured_late(width: u16, height: u16, padding: usize) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::new_rgb8(16, 16)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("a JPEG encodes");
    let mut jpeg = out.into_inner();
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a baseline frame header");
    jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    let mut padded = jpeg[..2].to_vec();
    let mut left = padding;
    while left > 0 {
        let take = left.min(65_000);
        padded.extend_from_slice(&[0xFF, 0xFE]);
        padded.extend_from_slice(&u16::try_from(take + 2).expect("short").to_be_bytes());
        padded.extend(std::iter::repeat_n(b'x', take));
        left -= take;
    }
    padded.extend_from_slice(&jpeg[2..]);
    padded
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::new_rgb8(width, height)
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("a PNG encodes");
    out.into_inner()
}

/// Declares `bytes` and sends all of them; the status and body of the last `PATCH`.
async fn send_all(
    user: &User,
    name: &str,
    bytes: &[u8],
    content_type: &str,
) -> (StatusCode, String) {
    let state: Upload = user
        .ok(
            Method::POST,
            "/uploads",
            Some(declare(name, bytes, content_type)),
        )
        .await;
    let mut offset = 0usize;
    loop {
        let end = (offset + state.chunk_size as usize).min(bytes.len());
        let (status, body) = patch(
            user,
            &user.base,
            state.id,
            offset as u64,
            bytes[offset..end].to_vec(),
        )
        .await
        .expect("PATCH");
        if status != StatusCode::OK || end == bytes.len() {
            return (status, body.to_string());
        }
        offset = end;
    }
}

/// Finding 1: a 20,000 × 20,000 JPEG with 320 KB of comments before its frame header
/// was accepted and decoded (1.15 GB). It is refused now, measured from the whole file.
async fn an_image_measured_late_is_refused(backend: Backend) {
    let (_store, server, _s3) = server(backend, Blobs::Disk, |_| {}).await;
    let alice = User::register(&server, "alice").await;
    let bomb = jpeg_measured_late(20_000, 20_000, 320_000);
    let (status, body) = send_all(&alice, "late.jpg", &bomb, "image/jpeg").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("image_too_large"), "{body}");
    assert_eq!(
        metric_at(server.addr, "ferry_preview_bytes_peak").await,
        0,
        "nothing was decoded"
    );
}

/// Finding 2: previews were decoded all at once (12 PNGs, +2.2 GB). With room for one
/// at a time, four sent together are each previewed, one after another.
async fn previews_take_turns_by_memory(backend: Backend) {
    let (_store, server, _s3) = server(backend, Blobs::Disk, |c| c.preview_memory_mib = 5).await;
    let alice = User::register(&server, "alice").await;
    // 700 × 700 decodes to at most 3.9 MB: two would need more than the 5 MiB allowed.
    let images: Vec<Vec<u8>> = (0..4u8)
        .map(|i| {
            let mut bytes = png(700, 700);
            // Four different files (stored apart), one image each.
            bytes.extend_from_slice(&[0, 0, 0, 0, b't', b'E', b'X', b't', i]);
            bytes
        })
        .collect();
    let weight = 700 * 700 * 8;
    let names: Vec<String> = (0..images.len()).map(|i| format!("{i}.png")).collect();
    let sent = futures_util::future::join_all(
        images
            .iter()
            .zip(&names)
            .map(|(bytes, name)| upload(&alice, name, bytes, "image/png")),
    )
    .await;
    assert!(
        sent.iter().all(|a| a.width == Some(700)),
        "each previewed: {sent:?}"
    );
    let peak = metric_at(server.addr, "ferry_preview_bytes_peak").await;
    assert!(
        peak >= weight && peak < 2 * weight,
        "one preview at a time: at most {peak} bytes held"
    );
}

/// Finding 2, second half: a repeat of the last `PATCH` while the file is checked ran
/// the check again. Finishing is claimed first; only one claim stands until it is stale.
async fn finishing_is_claimed_once(backend: Backend) {
    let (files, server, _s3) = server(backend, Blobs::Disk, |_| {}).await;
    let alice = User::register(&server, "alice").await;
    let bytes = b"twelve bytes".to_vec();
    let state: Upload = alice
        .ok(
            Method::POST,
            "/uploads",
            Some(declare("a.txt", &bytes, "text/plain")),
        )
        .await;
    let store = ferry_server::open_store(files.url(), 2)
        .await
        .expect("the store");
    // The bytes are in, counted, and nobody finished them yet.
    let objects_before = store.chunks(state.id).await.expect("chunks");
    assert!(objects_before.is_empty());
    assert!(
        !store.claim_finish(state.id, 1_000, 0).await.expect("claim"),
        "not whole yet"
    );
    let (status, _) = patch(&alice, &alice.base, state.id, 0, bytes.clone())
        .await
        .expect("PATCH");
    assert_eq!(status, StatusCode::OK);
    // Stored: there is nothing left to claim.
    assert!(!store.claim_finish(state.id, 2_000, 0).await.expect("claim"));

    let other: Upload = alice
        .ok(
            Method::POST,
            "/uploads",
            Some(declare("b.txt", b"other bytes!", "text/plain")),
        )
        .await;
    // Counted by hand, as a PATCH does after storing its chunk, but not finished.
    assert!(
        store
            .add_chunk(other.id, 0, 12, "00000000000000000000-x")
            .await
            .expect("count")
    );
    assert!(
        store
            .claim_finish(other.id, 10_000, 0)
            .await
            .expect("first claim")
    );
    assert!(
        !store
            .claim_finish(other.id, 10_001, 5_000)
            .await
            .expect("second claim"),
        "a second finish while the first runs"
    );
    assert!(
        store
            .claim_finish(other.id, 400_000, 300_000)
            .await
            .expect("stale claim"),
        "a claim whose node died is taken again"
    );
}

/// Finding 4: unfinished uploads counted once per declared hash (150 × 100 MiB declaring
/// one hash passed a 10 GiB quota). Each counts at its full size now, and a user may
/// leave only so many unfinished.
async fn unfinished_uploads_count_against_the_quota(backend: Backend) {
    let (_store, server, _s3) =
        server(backend, Blobs::Disk, |c| c.file_quota_bytes = 20 << 20).await;
    let alice = User::register(&server, "alice").await;
    let same_hash = sha256(b"never sent");
    let declare_big = || json!({"name": "big.bin", "size": 8 << 20, "content_type": "application/octet-stream", "sha256": same_hash});
    alice
        .ok::<Upload>(Method::POST, "/uploads", Some(declare_big()))
        .await;
    alice
        .ok::<Upload>(Method::POST, "/uploads", Some(declare_big()))
        .await;
    alice
        .refused(
            Method::POST,
            "/uploads",
            Some(declare_big()),
            (StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded"),
        )
        .await;

    let bob = User::register(&server, "bob").await;
    for i in 0..100 {
        bob.ok::<Upload>(
            Method::POST,
            "/uploads",
            Some(declare(
                &format!("{i}.txt"),
                format!("file {i}").as_bytes(),
                "text/plain",
            )),
        )
        .await;
    }
    bob.refused(
        Method::POST,
        "/uploads",
        Some(declare("one-more.txt", b"one more", "text/plain")),
        (StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded"),
    )
    .await;
}

/// Finding 5: cancelling an upload while its chunk arrived left the chunk on disk with
/// no row. The chunk that is not counted is deleted now.
async fn a_chunk_cancelled_under_way_leaves_nothing(backend: Backend) {
    let (store, server, _s3) = server(backend, Blobs::Disk, |_| {}).await;
    let alice = User::register(&server, "alice").await;
    let bytes = vec![7u8; 64 * 1024];
    let state: Upload = alice
        .ok(
            Method::POST,
            "/uploads",
            Some(declare("a.bin", &bytes, "application/octet-stream")),
        )
        .await;
    let (go_on, wait) = tokio::sync::oneshot::channel::<()>();
    let (first, rest) = (bytes[..1024].to_vec(), bytes[1024..].to_vec());
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(first)]).chain(
        futures_util::stream::once(async move {
            wait.await.expect("the test goes on");
            Ok(rest)
        }),
    );
    let chunk = alice
        .http
        .patch(format!("{}/uploads/{}", alice.base, state.id))
        .bearer_auth(&alice.tokens.access_token)
        .header("upload-offset", 0)
        .header(header::CONTENT_TYPE, "application/offset+octet-stream")
        .body(reqwest::Body::wrap_stream(body))
        .send();
    let chunk = tokio::spawn(chunk);
    // The chunk's object is being written: its folder is there.
    let folder = store.dir().join("files/uploads").join(state.id.to_string());
    within("the chunk to start arriving", async {
        while !folder.exists() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    alice
        .no_content(Method::DELETE, &format!("/uploads/{}", state.id), None)
        .await;
    go_on.send(()).expect("the body waits");
    let answer = within("the chunk's answer", chunk)
        .await
        .expect("the task")
        .expect("an answer");
    assert_eq!(answer.status(), StatusCode::CONFLICT);
    let left: Vec<_> = std::fs::read_dir(&folder)
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "nothing left of the chunk: {left:?}");
}

/// A cursor past everything `user` can see now. (On Postgres `/sync` is at least once: a
/// page may repeat what the last one had until every transaction before it is visible;
/// read until one is empty.)
async fn synced(user: &User) -> String {
    let mut page: SyncPage = user.ok(Method::GET, "/sync", None).await;
    loop {
        let next: SyncPage = user
            .ok(Method::GET, &format!("/sync?since={}", page.cursor), None)
            .await;
        if next.conversations.is_empty() {
            return next.cursor;
        }
        page = next;
    }
}

/// Finding 7: a stranger polling `/sync` saw their request come back when it was
/// delivered and again when it was read. A member who has not accepted moves their
/// marks for their own devices only.
async fn a_stranger_does_not_learn_when_a_request_is_read(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let laptop = User::login(&server, "alice").await;
    let mallory = User::register(&server, "mallory").await;
    let chat = mallory.direct_with(&alice).await.id;
    let hi = mallory.send_rest(chat, "hi").await;
    let theirs = synced(&mallory).await;
    let mine = synced(&laptop).await;
    for path in ["delivered", "read"] {
        alice
            .no_content(
                Method::POST,
                &format!("/conversations/{chat}/{path}"),
                Some(json!({"seq": hi.seq})),
            )
            .await;
    }
    let after: SyncPage = mallory
        .ok(Method::GET, &format!("/sync?since={theirs}"), None)
        .await;
    assert!(
        after.conversations.is_empty(),
        "nothing changed for mallory: {after:?}"
    );
    // Her own other device sees her marks move.
    let hers: SyncPage = laptop
        .ok(Method::GET, &format!("/sync?since={mine}"), None)
        .await;
    let me = hers
        .conversations
        .iter()
        .find(|c| c.id == chat)
        .and_then(|c| c.members.iter().find(|m| m.user.id == alice.id()))
        .expect("the request, changed for her");
    assert_eq!((me.read_seq, me.delivered_seq), (hi.seq, hi.seq));
}

/// Finding 8: in a group both are in, the blocked user got the blocker's receipts and
/// typing, and saw their watermarks.
async fn a_block_holds_in_a_shared_group(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let bob = User::register(&server, "bob").await;
    let carol = User::register(&server, "carol").await;
    // Known to each other first, so the group is accepted by all.
    for other in [&bob, &carol] {
        let direct = alice.direct_with(other).await;
        other.accept(direct.id).await;
    }
    let bob_and_carol = bob.direct_with(&carol).await;
    carol.accept(bob_and_carol.id).await;
    let group = alice.group("team", &[&bob, &carol]).await.id;
    let hi = alice.send_rest(group, "hi all").await;
    bob.no_content(Method::PUT, &format!("/blocks/{}", alice.id()), None)
        .await;
    let mut blocked = alice.ws().await;
    let mut third = carol.ws().await;
    let mut blocker = bob.ws().await;
    blocker
        .send(&ClientFrame::Typing {
            conversation_id: group,
            typing: true,
        })
        .await;
    blocker
        .send(&ClientFrame::Read {
            conversation_id: group,
            seq: hi.seq,
        })
        .await;
    third
        .expect(
            "bob's read mark",
            |f| matches!(f, ServerFrame::Receipt { user_id, .. } if *user_id == bob.id()),
        )
        .await;
    // Everything Bob's socket sent was relayed before its ping was answered.
    blocker.until_pong().await;
    let heard = blocked.until_pong().await;
    assert!(
        !heard.iter().any(|f| matches!(f,
            ServerFrame::Typing { user_id, .. } | ServerFrame::Receipt { user_id, .. }
                if *user_id == bob.id())),
        "nothing of bob reaches alice: {heard:?}"
    );
    let view: Conversation = alice
        .ok(Method::GET, &format!("/conversations/{group}"), None)
        .await;
    let bob_seen = view
        .members
        .iter()
        .find(|m| m.user.id == bob.id())
        .expect("bob");
    assert_eq!((bob_seen.read_seq, bob_seen.delivered_seq), (0, 0));
    let carols: Conversation = carol
        .ok(Method::GET, &format!("/conversations/{group}"), None)
        .await;
    let bob_for_carol = carols
        .members
        .iter()
        .find(|m| m.user.id == bob.id())
        .expect("bob");
    assert_eq!(
        bob_for_carol.read_seq, hi.seq,
        "carol still sees bob's mark"
    );
}

/// Finding 9: a report took any message id, so an operator could be led to read a
/// private message. The message must be the reported user's, in a conversation the
/// reporter is in.
async fn a_report_names_only_a_message_the_reporter_saw(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let bob = User::register(&server, "bob").await;
    let mallory = User::register(&server, "mallory").await;
    let private = alice.direct_with(&bob).await.id;
    let secret = alice.send_rest(private, "a private message").await;
    let theirs = mallory.direct_with(&alice).await.id;
    let own = mallory.send_rest(theirs, "my own message").await;
    let report = |conversation: ConversationId, message: MessageId| json!({"user_id": alice.id(), "conversation_id": conversation, "message_id": message, "reason": "spam"});
    for (conversation, message) in [
        (private, secret.id),
        (theirs, secret.id),
        (theirs, own.id),
        (theirs, MessageId::new()),
    ] {
        mallory
            .refused(
                Method::POST,
                "/reports",
                Some(report(conversation, message)),
                (StatusCode::NOT_FOUND, "not_found"),
            )
            .await;
    }
    let hello = alice.send_rest(theirs, "hello mallory").await;
    let (status, _) = mallory
        .call(Method::POST, "/reports", Some(report(theirs, hello.id)))
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

/// Checked beside the findings: two sends naming one upload at once, into two
/// conversations (under two locks), must not both take it; one does, the other is told
/// the upload is not the sender's to send.
async fn one_upload_goes_with_one_message(backend: Backend) {
    let (_store, server, _s3) = server(backend, Blobs::Disk, |_| {}).await;
    let (alice, _bob, first) = crate::support::alice_and_bob(&server).await;
    let carol = User::register(&server, "carol").await;
    let second = alice.direct_with(&carol).await.id;
    let file = upload(&alice, "a.txt", b"one file, one message", "text/plain").await;
    let files = [file.id];
    let answers = futures_util::future::join_all(
        [first, second]
            .map(|conversation| send_with(&alice, conversation, MessageId::new(), "", &files)),
    )
    .await;
    let mut statuses: Vec<StatusCode> = answers.iter().map(|(status, _)| *status).collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::CREATED, StatusCode::BAD_REQUEST],
        "{answers:?}"
    );
}

/// Finding 10: `invoice\u{202E}gnp.exe` shows as `invoiceexe.png`. Names with
/// bidirectional overrides are refused.
async fn names_that_reorder_themselves_are_refused(backend: Backend) {
    let (_store, server, _s3) = server(backend, Blobs::Disk, |_| {}).await;
    let alice = User::register(&server, "alice").await;
    for name in ["invoice\u{202E}gnp.exe", "a\u{2066}b.txt", "\u{202A}x.pdf"] {
        alice
            .refused(
                Method::POST,
                "/uploads",
                Some(declare(name, b"hello", "text/plain")),
                (StatusCode::BAD_REQUEST, "invalid_request"),
            )
            .await;
    }
}

on_both!(
    an_image_measured_late_is_refused,
    previews_take_turns_by_memory,
    finishing_is_claimed_once,
    unfinished_uploads_count_against_the_quota,
    a_chunk_cancelled_under_way_leaves_nothing,
    a_stranger_does_not_learn_when_a_request_is_read,
    a_block_holds_in_a_shared_group,
    a_report_names_only_a_message_the_reporter_saw,
    names_that_reorder_themselves_are_refused,
    one_upload_goes_with_one_message,
);
