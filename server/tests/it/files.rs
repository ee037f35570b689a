//! Attachments: uploads in chunks, resumed after a connection cut in the middle of one,
//! stored once per content, served only to the conversation's members and never as
//! something a webview runs; the documented refusals (empty, too large, a lying type, a
//! decompression bomb, over quota); previews without metadata; deleting a message frees
//! its file. On both databases, and on both blob stores (a directory, and S3 served by
//! moto).

use std::net::SocketAddr;

use ferry_proto::{Attachment, ConversationId, Message, MessageId, MessagePage, Upload, UploadId};
use ferry_server::Config;
use ferry_testkit::{S3Server, noise, s3_config};
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

use crate::support::{Backend, TestDb, TestServer, User, alice_and_bob, test_config, within};

/// Where a test's server keeps its files.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Blobs {
    Disk,
    S3,
}

/// A server on `backend` with its files on `blobs`, with `tune` applied to its config.
/// The moto server (for S3) lives as long as the returned guard.
pub(crate) async fn server(
    backend: Backend,
    blobs: Blobs,
    tune: impl FnOnce(&mut Config),
) -> (Store, TestServer, Option<S3Server>) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    let s3 = match blobs {
        Blobs::Disk => None,
        Blobs::S3 => {
            let s3 = S3Server::start().await;
            s3_config(&mut config, &s3).await;
            Some(s3)
        }
    };
    tune(&mut config);
    let store = Store {
        bucket: config
            .files
            .as_ref()
            .zip(config.s3_endpoint.as_ref())
            .map(|(url, endpoint)| format!("{endpoint}/{}", url.trim_start_matches("s3://"))),
        db,
    };
    let server = TestServer::start_with(config).await;
    (store, server, s3)
}

/// Where a test server keeps things: its database, and its bucket's URL on S3.
pub(crate) struct Store {
    db: TestDb,
    bucket: Option<String>,
}

impl Store {
    /// Its database's URL.
    pub(crate) fn url(&self) -> &str {
        &self.db.url
    }

    /// Its data directory.
    pub(crate) fn dir(&self) -> std::path::PathBuf {
        self.db.dir.path().join("data")
    }

    /// Whether the blob of `sha256` is stored (the list of its parts), looking in the
    /// directory or the bucket.
    pub(crate) async fn has_blob(&self, sha256: &str) -> bool {
        match &self.bucket {
            None => self
                .db
                .dir
                .path()
                .join("data/files/parts")
                .join(sha256)
                .exists(),
            // Listed, since moto answers an unsigned GET of an object with 403.
            Some(bucket) => {
                let key = format!("parts/{sha256}");
                reqwest::get(format!("{bucket}?list-type=2&prefix={key}"))
                    .await
                    .expect("moto answers")
                    .text()
                    .await
                    .expect("a listing")
                    .contains(&format!("<Key>{key}</Key>"))
            }
        }
    }

    /// How many blobs a disk store holds.
    fn blobs_on_disk(&self) -> usize {
        let dir = self.db.dir.path().join("data/files/parts");
        std::fs::read_dir(dir).map_or(0, |d| d.count())
    }

    /// The bytes of files' contents a disk store holds: its chunks and blobs, not the
    /// lists of parts or the previews.
    fn content_bytes_on_disk(&self) -> u64 {
        fn walk(dir: &std::path::Path) -> u64 {
            std::fs::read_dir(dir).map_or(0, |entries| {
                entries
                    .map(|entry| entry.expect("a directory entry").path())
                    .map(|path| match path.is_dir() {
                        true => walk(&path),
                        false => path.metadata().expect("a file").len(),
                    })
                    .sum()
            })
        }
        let files = self.db.dir.path().join("data/files");
        walk(&files.join("uploads")) + walk(&files.join("blobs"))
    }
}

pub(crate) fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn declare(name: &str, bytes: &[u8], content_type: &str) -> Value {
    json!({"name": name, "size": bytes.len(), "content_type": content_type, "sha256": sha256(bytes)})
}

/// `PATCH /uploads/{id}` with raw bytes at `offset` (to `base`, the server or a proxy).
pub(crate) async fn patch(
    user: &User,
    base: &str,
    id: UploadId,
    offset: u64,
    chunk: Vec<u8>,
) -> reqwest::Result<(StatusCode, Value)> {
    let response = user
        .http
        .patch(format!("{base}/uploads/{id}"))
        .bearer_auth(&user.tokens.access_token)
        .header("upload-offset", offset)
        .header(header::CONTENT_TYPE, "application/offset+octet-stream")
        .body(chunk)
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// Uploads `bytes` whole, chunk by chunk; returns the stored attachment.
pub(crate) async fn upload(
    user: &User,
    name: &str,
    bytes: &[u8],
    content_type: &str,
) -> Attachment {
    let mut state: Upload = user
        .ok(
            Method::POST,
            "/uploads",
            Some(declare(name, bytes, content_type)),
        )
        .await;
    while state.attachment.is_none() {
        let end = (state.offset + state.chunk_size).min(bytes.len() as u64);
        let chunk = bytes[state.offset as usize..end as usize].to_vec();
        let (status, body) = patch(user, &user.base, state.id, state.offset, chunk)
            .await
            .expect("PATCH");
        assert_eq!(status, StatusCode::OK, "{body}");
        state = serde_json::from_value(body).expect("an upload");
    }
    state.attachment.expect("stored")
}

/// `GET` a file: status, headers, bytes.
pub(crate) async fn fetch(
    user: &User,
    path: &str,
    range: Option<u64>,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut request = user
        .http
        .get(format!("{}{path}", user.base))
        .bearer_auth(&user.tokens.access_token);
    if let Some(start) = range {
        request = request.header(header::RANGE, format!("bytes={start}-"));
    }
    let response = request.send().await.expect("GET");
    let (status, headers) = (response.status(), response.headers().clone());
    (
        status,
        headers,
        response.bytes().await.expect("body").to_vec(),
    )
}

/// Sends a message carrying `files` over REST.
pub(crate) async fn send_with(
    user: &User,
    conversation: ConversationId,
    id: MessageId,
    caption: &str,
    files: &[UploadId],
) -> (StatusCode, Value) {
    user.call(
        Method::POST,
        &format!("/conversations/{conversation}/messages"),
        Some(json!({"id": id, "body": caption, "attachments": files})),
    )
    .await
}

async fn round_trip(backend: Backend, blobs: Blobs) {
    let (db, server, _s3) = server(backend, blobs, |_| {}).await;
    let (alice, bob, conv) = alice_and_bob(&server).await;
    let carol = User::register(&server, "carol").await;
    // Three chunks and a bit: 4 MiB, 4 MiB, 4 MiB, 1 KiB.
    let bytes = noise(12 * 1024 * 1024 + 1024, 1);
    let file = upload(&alice, "report.bin", &bytes, "application/octet-stream").await;
    assert_eq!(
        (file.size, file.sha256.as_str()),
        (bytes.len() as u64, sha256(&bytes).as_str())
    );
    assert!(!file.thumbnail);
    if let Blobs::Disk = blobs {
        // The chunks are the blob's parts: every byte is on disk once.
        assert_eq!(db.content_bytes_on_disk(), bytes.len() as u64);
    }

    // Before it is sent only its owner sees it.
    let (status, _, _) = fetch(&bob, &format!("/attachments/{}", file.id), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let id = MessageId::new();
    let (status, sent) = send_with(&alice, conv, id, "", &[file.id]).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let sent: Message = serde_json::from_value(sent).expect("a message");
    assert_eq!(sent.attachments, vec![file.clone()]);
    // A resend is the same message, once.
    let (status, _) = send_with(&alice, conv, id, "", &[file.id]).await;
    assert_eq!(status, StatusCode::OK);
    let page: MessagePage = bob
        .ok(
            Method::GET,
            &format!("/conversations/{conv}/messages"),
            None,
        )
        .await;
    assert_eq!(page.messages.len(), 1);
    assert_eq!(page.messages[0].attachments, vec![file.clone()]);

    let (status, headers, got) = fetch(&bob, &format!("/attachments/{}", file.id), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sha256(&got), file.sha256, "byte-identical");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(
        headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap_or_default()
            .starts_with("attachment;")
    );
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap_or_default()
            .contains("sandbox")
    );
    // A download resumes from where it stopped.
    let (status, headers, rest) =
        fetch(&bob, &format!("/attachments/{}", file.id), Some(5_000_000)).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(rest, bytes[5_000_000..]);
    assert_eq!(
        headers[header::CONTENT_RANGE],
        format!("bytes 5000000-{}/{}", bytes.len() - 1, bytes.len()).as_str()
    );
    // Not a member: not found, as if there were nothing.
    let (status, _, _) = fetch(&carol, &format!("/attachments/{}", file.id), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The same bytes again: alice's are stored at once, bob's are checked and not kept
    // twice.
    let again: Upload = alice
        .ok(
            Method::POST,
            "/uploads",
            Some(declare("copy.bin", &bytes, "application/octet-stream")),
        )
        .await;
    assert_eq!(again.offset, bytes.len() as u64);
    assert!(again.attachment.is_some(), "stored at once");
    let bobs = upload(&bob, "mine.bin", &bytes, "application/octet-stream").await;
    assert_ne!(bobs.id, file.id);
    assert!(db.has_blob(&file.sha256).await);
    if let Blobs::Disk = blobs {
        assert_eq!(db.blobs_on_disk(), 1, "one blob for one content");
        assert_eq!(
            db.content_bytes_on_disk(),
            bytes.len() as u64,
            "bob's chunks went"
        );
    }
}

async fn round_trip_sqlite_disk() {
    round_trip(Backend::Sqlite, Blobs::Disk).await;
}
async fn round_trip_sqlite_s3() {
    round_trip(Backend::Sqlite, Blobs::S3).await;
}
async fn round_trip_postgres_disk() {
    round_trip(Backend::Postgres, Blobs::Disk).await;
}
async fn round_trip_postgres_s3() {
    round_trip(Backend::Postgres, Blobs::S3).await;
}

/// A 20,000 × 20,000 one-bit PNG: 50 KB that a decoder would inflate to 400 MB.
fn png_bomb() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, 20_000, 20_000);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::One);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header().expect("header");
        let mut rows = writer.stream_writer().expect("stream");
        let row = vec![0u8; 2_500];
        for _ in 0..20_000 {
            std::io::Write::write_all(&mut rows, &row).expect("row");
        }
        rows.finish().expect("finish");
    }
    out
}

async fn refusals(backend: Backend, blobs: Blobs) {
    let (db, server, _s3) = server(backend, blobs, |c| {
        c.max_file_bytes = 30 * 1024 * 1024;
        c.file_quota_bytes = 40 * 1024 * 1024;
    })
    .await;
    let (alice, bob, conv) = alice_and_bob(&server).await;

    // Nothing to send.
    alice
        .refused(
            Method::POST,
            "/uploads",
            Some(declare("empty.txt", b"", "text/plain")),
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
    // Over the limit, said before a byte is sent.
    let mut big = declare("big.bin", b"x", "application/octet-stream");
    big["size"] = json!(31 * 1024 * 1024);
    alice
        .refused(
            Method::POST,
            "/uploads",
            Some(big),
            (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        )
        .await;
    // A name that is a path.
    alice
        .refused(
            Method::POST,
            "/uploads",
            Some(declare("../etc/passwd", b"x", "text/plain")),
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;

    // Text that says it is a PNG: refused when its bytes arrive, and forgotten.
    let text = b"this is not a picture".to_vec();
    let liar: Upload = alice
        .ok(
            Method::POST,
            "/uploads",
            Some(declare("cat.png", &text, "image/png")),
        )
        .await;
    let (status, body) = patch(&alice, &alice.base, liar.id, 0, text)
        .await
        .expect("PATCH");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("media_mismatch")),
        "{body}"
    );
    alice
        .refused(
            Method::GET,
            &format!("/uploads/{}", liar.id),
            None,
            (StatusCode::NOT_FOUND, "not_found"),
        )
        .await;
    if let Blobs::Disk = blobs {
        let chunks = db
            .db
            .dir
            .path()
            .join("data/files/uploads")
            .join(liar.id.to_string());
        assert_eq!(
            std::fs::read_dir(chunks).map_or(0, |d| d.count()),
            0,
            "its chunk is gone"
        );
    }

    // A decompression bomb: measured from its header, never decoded.
    let bomb = png_bomb();
    assert!(
        bomb.len() < 1024 * 1024,
        "a small file: {} bytes",
        bomb.len()
    );
    let declared: Upload = alice
        .ok(
            Method::POST,
            "/uploads",
            Some(declare("bomb.png", &bomb, "image/png")),
        )
        .await;
    let (status, body) = patch(&alice, &alice.base, declared.id, 0, bomb)
        .await
        .expect("PATCH");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("image_too_large")),
        "{body}"
    );

    // Bytes that are not the declared hash.
    let bytes = noise(1000, 2);
    let mut wrong = declare("x.bin", &bytes, "application/octet-stream");
    wrong["sha256"] = json!(sha256(b"something else"));
    let declared: Upload = alice.ok(Method::POST, "/uploads", Some(wrong)).await;
    let (status, body) = patch(&alice, &alice.base, declared.id, 0, bytes.clone())
        .await
        .expect("PATCH");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "{body}"
    );

    // A chunk at the wrong place.
    let declared: Upload = alice
        .ok(
            Method::POST,
            "/uploads",
            Some(declare("y.bin", &bytes, "application/octet-stream")),
        )
        .await;
    let (status, body) = patch(&alice, &alice.base, declared.id, 10, bytes[10..].to_vec())
        .await
        .expect("PATCH");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict")),
        "{body}"
    );
    // Someone else's upload: not theirs to patch, see or send.
    let (status, _) = patch(&bob, &bob.base, declared.id, 0, bytes.clone())
        .await
        .expect("PATCH");
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = send_with(&bob, conv, MessageId::new(), "", &[declared.id]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "{body}"
    );
    // An unfinished upload cannot be sent either.
    let (status, body) = send_with(&alice, conv, MessageId::new(), "", &[declared.id]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "{body}"
    );

    // The quota: 40 MiB, of which 25 MiB taken leaves no room for 20 MiB more.
    upload(
        &alice,
        "a.bin",
        &noise(25 * 1024 * 1024, 3),
        "application/octet-stream",
    )
    .await;
    let second = noise(20 * 1024 * 1024, 4);
    alice
        .refused(
            Method::POST,
            "/uploads",
            Some(declare("b.bin", &second, "application/octet-stream")),
            (StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded"),
        )
        .await;
    // Bob's quota is his own.
    upload(&bob, "b.bin", &second, "application/octet-stream").await;
}

async fn refusals_sqlite() {
    refusals(Backend::Sqlite, Blobs::Disk).await;
}
async fn refusals_postgres() {
    refusals(Backend::Postgres, Blobs::S3).await;
}

/// A TCP proxy to `target` that cuts the connection carrying the byte `cut_after` (of all
/// bytes sent from clients to the server, over every connection): once, at that point
/// mid-request; everything before and after passes whole.
async fn cutting_proxy(target: SocketAddr, cut_after: usize) -> SocketAddr {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let sent = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let sent = sent.clone();
            tokio::spawn(async move {
                let Ok(mut upstream) = TcpStream::connect(target).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.split();
                let (mut up_read, mut up_write) = upstream.split();
                let to_server = async {
                    let mut buffer = vec![0u8; 64 * 1024];
                    loop {
                        let n = client_read.read(&mut buffer).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        let before = sent.fetch_add(n, Ordering::SeqCst);
                        if before < cut_after && before + n >= cut_after {
                            let _ = up_write.write_all(&buffer[..cut_after - before]).await;
                            break;
                        }
                        if up_write.write_all(&buffer[..n]).await.is_err() {
                            break;
                        }
                    }
                };
                let to_client = tokio::io::copy(&mut up_read, &mut client_write);
                // Whichever ends first ends the connection, both ways.
                tokio::select! {
                    () = to_server => {}
                    _ = to_client => {}
                }
            });
        }
    });
    addr
}

async fn a_cut_upload_resumes(backend: Backend, blobs: Blobs) {
    let (_db, server, _s3) = server(backend, blobs, |_| {}).await;
    let (alice, bob, conv) = alice_and_bob(&server).await;
    let bytes = noise(8 * 1024 * 1024, 5);
    let state: Upload = alice
        .ok(
            Method::POST,
            "/uploads",
            Some(declare("video.bin", &bytes, "application/octet-stream")),
        )
        .await;
    // The first chunk (4 MiB) arrives whole; the connection is cut halfway through the
    // second, at half the file.
    let proxy = cutting_proxy(server.addr, 4 * 1024 * 1024 + 2 * 1024 * 1024 + 2048).await;
    let via_proxy = format!("http://{proxy}/api/v1");
    let client = reqwest::Client::new();
    let through = User {
        http: client,
        base: via_proxy.clone(),
        ..alice.clone()
    };
    let (status, first) = patch(
        &through,
        &via_proxy,
        state.id,
        0,
        bytes[..4 * 1024 * 1024].to_vec(),
    )
    .await
    .expect("the first chunk passes");
    assert_eq!(status, StatusCode::OK, "{first}");
    let cut = patch(
        &through,
        &via_proxy,
        state.id,
        4 * 1024 * 1024,
        bytes[4 * 1024 * 1024..].to_vec(),
    )
    .await;
    assert!(
        cut.is_err() || !cut.as_ref().is_ok_and(|(s, _)| s.is_success()),
        "the second chunk was cut: {cut:?}"
    );

    // Where does it stand? After the first chunk: nothing of the cut one counts.
    let now: Upload = within(
        "the upload's state",
        alice.ok(Method::GET, &format!("/uploads/{}", state.id), None),
    )
    .await;
    assert_eq!(now.offset, 4 * 1024 * 1024);
    let (status, done) = patch(
        &alice,
        &alice.base,
        state.id,
        now.offset,
        bytes[4 * 1024 * 1024..].to_vec(),
    )
    .await
    .expect("PATCH");
    assert_eq!(status, StatusCode::OK, "{done}");
    let done: Upload = serde_json::from_value(done).expect("an upload");
    let file = done.attachment.expect("stored");
    // The last chunk again (its answer lost, say): the same answer, nothing twice.
    let (status, again) = patch(
        &alice,
        &alice.base,
        state.id,
        4 * 1024 * 1024,
        bytes[4 * 1024 * 1024..].to_vec(),
    )
    .await
    .expect("PATCH");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_value::<Upload>(again)
            .expect("an upload")
            .attachment,
        Some(file.clone())
    );

    let (status, _) = send_with(
        &alice,
        conv,
        MessageId::new(),
        "the whole thing",
        &[file.id],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, _, got) = fetch(&bob, &format!("/attachments/{}", file.id), None).await;
    assert_eq!(sha256(&got), sha256(&bytes), "byte-identical after the cut");
}

async fn cut_sqlite() {
    a_cut_upload_resumes(Backend::Sqlite, Blobs::Disk).await;
}
async fn cut_postgres() {
    a_cut_upload_resumes(Backend::Postgres, Blobs::S3).await;
}

/// A JPEG whose EXIF holds a GPS position.
fn jpeg_with_gps(width: u32, height: u32) -> Vec<u8> {
    let mut plain = std::io::Cursor::new(Vec::new());
    let pixels = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    image::DynamicImage::ImageRgb8(pixels)
        .write_to(&mut plain, image::ImageFormat::Jpeg)
        .expect("a JPEG");
    let plain = plain.into_inner();
    // TIFF, big-endian: IFD0 names the GPS IFD, which holds GPSLatitudeRef = "N".
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    tiff.extend_from_slice(&[0, 1, 0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 26, 0, 0, 0, 0]);
    tiff.extend_from_slice(&[0, 1, 0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0, 0, 0, 0, 0]);
    let mut app1 = vec![0xff, 0xe1];
    app1.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend_from_slice(&tiff);
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&app1);
    out.extend_from_slice(&plain[2..]);
    out
}

async fn previews(backend: Backend) {
    let (_db, server, _s3) = server(backend, Blobs::Disk, |_| {}).await;
    let (alice, bob, conv) = alice_and_bob(&server).await;
    let photo = jpeg_with_gps(1200, 800);
    assert!(photo.windows(4).any(|w| w == b"Exif"));
    let file = upload(&alice, "IMG_0001.JPG", &photo, "image/jpg").await;
    assert_eq!(
        (
            file.content_type.as_str(),
            file.width,
            file.height,
            file.thumbnail
        ),
        ("image/jpeg", Some(1200), Some(800), true)
    );
    send_with(&alice, conv, MessageId::new(), "the view", &[file.id]).await;
    let (status, headers, preview) =
        fetch(&bob, &format!("/attachments/{}/thumbnail", file.id), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/jpeg");
    assert!(
        !preview.windows(4).any(|w| w == b"Exif"),
        "the preview carries no EXIF"
    );
    let small = image::load_from_memory(&preview).expect("the preview decodes");
    assert_eq!((small.width(), small.height()), (320, 213));
    // The original is the sender's file, as sent.
    let (_, _, original) = fetch(&bob, &format!("/attachments/{}", file.id), None).await;
    assert_eq!(original, photo);
    // A page is served as bytes, never rendered.
    let page = b"<!DOCTYPE html><html><script>alert(1)</script></html>".to_vec();
    let html = upload(&alice, "page.html", &page, "text/html").await;
    send_with(&alice, conv, MessageId::new(), "", &[html.id]).await;
    let (_, headers, _) = fetch(&bob, &format!("/attachments/{}", html.id), None).await;
    assert_eq!(headers[header::CONTENT_TYPE], "application/octet-stream");
}

async fn previews_sqlite() {
    previews(Backend::Sqlite).await;
}
async fn previews_postgres() {
    previews(Backend::Postgres).await;
}

async fn deleting_and_leaving(backend: Backend, blobs: Blobs) {
    let (db, server, _s3) = server(backend, blobs, |c| c.file_grace_secs = 0).await;
    let (alice, bob, _) = alice_and_bob(&server).await;
    let carol = User::register(&server, "carol").await;
    let group = alice.group("trip", &[&bob, &carol]).await.id;
    let bytes = noise(100_000, 6);
    let first = upload(&alice, "one.bin", &bytes, "application/octet-stream").await;
    let (status, _) = send_with(&alice, group, MessageId::new(), "", &[first.id]).await;
    assert_eq!(status, StatusCode::CREATED);
    // Carol leaves: she loses access to it.
    alice
        .no_content(
            Method::DELETE,
            &format!("/conversations/{group}/members/{}", carol.id()),
            None,
        )
        .await;
    let (status, _, _) = fetch(&carol, &format!("/attachments/{}", first.id), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The same content in a second message: deleting the first keeps the blob.
    let second = upload(&alice, "two.bin", &bytes, "application/octet-stream").await;
    let kept = MessageId::new();
    send_with(&alice, group, kept, "again", &[second.id]).await;
    let deleted = Uuid::now_v7();
    let first_message = {
        let page: MessagePage = alice
            .ok(
                Method::GET,
                &format!("/conversations/{group}/messages"),
                None,
            )
            .await;
        page.messages
            .iter()
            .find(|m| m.attachments.first().is_some_and(|a| a.id == first.id))
            .expect("the first")
            .id
    };
    let (status, body) = alice
        .call(
            Method::POST,
            &format!("/conversations/{group}/messages"),
            Some(json!({"id": deleted, "change": {"kind": "delete", "target": first_message}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _, _) = fetch(&bob, &format!("/attachments/{}", first.id), None).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a deleted message's file is gone"
    );
    let (status, _, got) = fetch(&bob, &format!("/attachments/{}", second.id), None).await;
    assert_eq!(
        (status, sha256(&got)),
        (StatusCode::OK, sha256(&bytes)),
        "still named by the second"
    );
    assert!(db.has_blob(&second.sha256).await);

    // Deleting the second too: the blob goes once the sweeper ran.
    let (status, _) = alice
        .call(
            Method::POST,
            &format!("/conversations/{group}/messages"),
            Some(json!({"id": Uuid::now_v7(), "change": {"kind": "delete", "target": kept}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    within("the sweeper to delete the blob", async {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
        while db.has_blob(&second.sha256).await {
            tick.tick().await;
        }
    })
    .await;
    if let Blobs::Disk = blobs {
        // Its parts went before the list of them.
        assert_eq!(db.content_bytes_on_disk(), 0);
    }
}

async fn deleting_sqlite() {
    deleting_and_leaving(Backend::Sqlite, Blobs::Disk).await;
}
async fn deleting_postgres() {
    deleting_and_leaving(Backend::Postgres, Blobs::S3).await;
}

/// Uploads never sent expire (here at once): their chunks and rows go at the next sweep.
async fn abandoned_uploads_expire(backend: Backend) {
    let (db, server, _s3) = server(backend, Blobs::Disk, |c| {
        c.upload_ttl_secs = 0;
        c.file_grace_secs = 0;
    })
    .await;
    let (alice, _bob, conv) = alice_and_bob(&server).await;
    let bytes = noise(5 * 1024 * 1024, 7);
    let half: Upload = alice
        .ok(
            Method::POST,
            "/uploads",
            Some(declare("half.bin", &bytes, "application/octet-stream")),
        )
        .await;
    let (status, _) = patch(
        &alice,
        &alice.base,
        half.id,
        0,
        bytes[..4 * 1024 * 1024].to_vec(),
    )
    .await
    .expect("PATCH");
    assert_eq!(status, StatusCode::OK);
    let chunks = db
        .db
        .dir
        .path()
        .join("data/files/uploads")
        .join(half.id.to_string());
    assert!(chunks.exists(), "its first chunk is stored");
    // A deletion wakes the sweeper.
    let id = MessageId::new();
    alice
        .ok::<Message>(
            Method::POST,
            &format!("/conversations/{conv}/messages"),
            Some(json!({"id": id, "body": "oops"})),
        )
        .await;
    alice
        .ok::<Message>(
            Method::POST,
            &format!("/conversations/{conv}/messages"),
            Some(json!({"id": Uuid::now_v7(), "change": {"kind": "delete", "target": id}})),
        )
        .await;
    within("the abandoned upload to go", async {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
        loop {
            let (status, _) = alice
                .call(Method::GET, &format!("/uploads/{}", half.id), None)
                .await;
            // (An emptied folder may stay behind; what counts is that no chunk does.)
            let left = std::fs::read_dir(&chunks).map_or(0, |d| d.count());
            if status == StatusCode::NOT_FOUND && left == 0 {
                return;
            }
            tick.tick().await;
        }
    })
    .await;
}

async fn expiry_sqlite() {
    abandoned_uploads_expire(Backend::Sqlite).await;
}
async fn expiry_postgres() {
    abandoned_uploads_expire(Backend::Postgres).await;
}

macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn run() {
                    super::$name().await;
                }
            }
        )*
    };
}

tests!(
    round_trip_sqlite_disk,
    round_trip_sqlite_s3,
    round_trip_postgres_disk,
    round_trip_postgres_s3,
    refusals_sqlite,
    refusals_postgres,
    cut_sqlite,
    cut_postgres,
    previews_sqlite,
    previews_postgres,
    deleting_sqlite,
    deleting_postgres,
    expiry_sqlite,
    expiry_postgres,
);
