//! Connections that misbehave below HTTP (issue 12): half-sent request heads and idle
//! keep-alive connections are closed after the header timeout, connections are capped per
//! client place, and a graceful shutdown is not held open by a client that never finishes
//! its request. Raw TCP, so no HTTP library finishes what the test leaves half done.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{TestDb, TestServer, test_config, within};

/// Reads until the server closes the connection (EOF or reset); returns what it sent.
async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&buffer[..n]),
        }
    }
}

/// A connection that has sent a request head without its last line.
async fn half_sent(server: &TestServer) -> TcpStream {
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: ferry\r\n")
        .await
        .expect("write");
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_and_idle_connections_are_closed() {
    let db = TestDb::sqlite();
    let mut config = test_config(&db);
    config.header_timeout_secs = 1;
    let server = TestServer::start_with(config).await;
    let mut slow = Vec::new();
    for _ in 0..10 {
        slow.push(half_sent(&server).await);
    }
    within("every half-sent request to be closed", async {
        for stream in &mut slow {
            until_closed(stream).await;
        }
    })
    .await;

    // A finished request is answered; the connection, idle after it, is closed too.
    let mut idle = TcpStream::connect(server.addr).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: ferry\r\n\r\n")
        .await
        .expect("write");
    let answer = within("the answer, then the close", until_closed(&mut idle)).await;
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_per_place() {
    let db = TestDb::sqlite();
    let mut config = test_config(&db);
    config.max_connections_per_ip = 3;
    let server = TestServer::start_with(config).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(half_sent(&server).await);
    }
    // The fourth from the same place is closed without an answer.
    let mut fourth = half_sent(&server).await;
    let got = within(
        "the fourth connection to be closed",
        until_closed(&mut fourth),
    )
    .await;
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    // One closed makes room.
    drop(open.pop());
    let again = within("room again", async {
        loop {
            let mut stream = TcpStream::connect(server.addr).await.expect("connect");
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: ferry\r\nConnection: close\r\n\r\n")
                .await
                .expect("write");
            let answer = until_closed(&mut stream).await;
            // The server may not have counted the dropped one out yet: try again.
            if !answer.is_empty() {
                return answer;
            }
        }
    })
    .await;
    assert!(String::from_utf8_lossy(&again).starts_with("HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_request_does_not_hold_shutdown() {
    let db = TestDb::sqlite();
    let mut config = test_config(&db);
    // Longer than the test's patience: only the shutdown's own grace can end it.
    config.header_timeout_secs = 600;
    config.shutdown_grace_secs = 1;
    let server = TestServer::start_with(config).await;
    let _slow = half_sent(&server).await;
    within_secs(10, "the server to stop", server.stop()).await;
}

async fn within_secs<T>(secs: u64, what: &str, f: impl Future<Output = T>) -> T {
    ferry_testkit::within_for(Duration::from_secs(secs), what, f).await
}

/// HTTP/2's connection preface and an empty SETTINGS frame.
const H2_START: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// An HTTP/2 HEADERS frame on stream 1 with `flags` and an HPACK block for `GET`, `http`
/// and `path` (`/` when empty, else a literal).
fn h2_headers(flags: u8, path: &str) -> Vec<u8> {
    let mut block = vec![0x82, 0x86];
    if path.is_empty() {
        block.push(0x84);
    } else {
        block.push(0x44);
        block.push(u8::try_from(path.len()).expect("a short path"));
        block.extend_from_slice(path.as_bytes());
    }
    let len = u32::try_from(block.len()).expect("short").to_be_bytes();
    let mut frame = vec![len[1], len[2], len[3], 0x01, flags, 0, 0, 0, 1];
    frame.extend_from_slice(&block);
    frame
}

/// Issue 33, finding 6: connections that never make a request were never closed (a
/// silent one, HTTP/2 cleartext after its preface, an HTTP/2 header block never ended),
/// and neither was an idle HTTP/2 connection. Each is closed after the header timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_without_a_request_are_closed() {
    let db = TestDb::sqlite();
    let mut config = test_config(&db);
    config.header_timeout_secs = 1;
    let server = TestServer::start_with(config).await;
    let silent = TcpStream::connect(server.addr).await.expect("connect");
    let mut preface = TcpStream::connect(server.addr).await.expect("connect");
    preface.write_all(H2_START).await.expect("write");
    let mut unended = TcpStream::connect(server.addr).await.expect("connect");
    unended.write_all(H2_START).await.expect("write");
    // END_STREAM without END_HEADERS: the server waits for a CONTINUATION.
    unended
        .write_all(&h2_headers(0x01, ""))
        .await
        .expect("write");
    let mut idle = TcpStream::connect(server.addr).await.expect("connect");
    idle.write_all(H2_START).await.expect("write");
    // END_STREAM and END_HEADERS: a whole request, answered; then nothing.
    idle.write_all(&h2_headers(0x05, "/healthz"))
        .await
        .expect("write");
    let mut all = [silent, preface, unended, idle];
    let answers = within("every connection to be closed", async {
        let mut answers = Vec::new();
        for stream in &mut all {
            answers.push(until_closed(stream).await);
        }
        answers
    })
    .await;
    assert!(answers[0].is_empty(), "the silent one got no answer");
    // The idle one was answered (a HEADERS frame, type 1, on stream 1) before it closed.
    assert!(
        answers[3]
            .windows(9)
            .any(|f| f[3] == 0x01 && f[5..9] == [0, 0, 0, 1]),
        "the request was answered: {:?}",
        answers[3]
    );
}

/// Issue 33, finding 6: a download whose client stopped reading held its connection
/// for ever. A write that makes no progress for the send timeout ends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_nobody_reads_is_cut() {
    let db = TestDb::sqlite();
    let mut config = test_config(&db);
    config.header_timeout_secs = 1;
    config.send_timeout_secs = 1;
    let server = TestServer::start_with(config).await;
    let alice = crate::support::User::register(&server, "alice").await;
    // More than loopback's socket buffers on both sides hold.
    let bytes = ferry_testkit::noise(24 << 20, 7);
    let attachment =
        crate::files::upload(&alice, "big.bin", &bytes, "application/octet-stream").await;
    let mut stalled = TcpStream::connect(server.addr).await.expect("connect");
    stalled
        .write_all(
            format!(
                "GET /api/v1/attachments/{} HTTP/1.1\r\nHost: ferry\r\nAuthorization: Bearer {}\r\n\r\n",
                attachment.id, alice.tokens.access_token
            )
            .as_bytes(),
        )
        .await
        .expect("write");
    // Every other connection is idle and closes after the header timeout; the one left
    // open is the metrics request's own.
    within("the stalled download to be closed", async {
        while ferry_testkit::metric_at(server.addr, "ferry_http_connections").await > 1 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let got = within("what was sent before the cut", until_closed(&mut stalled)).await;
    assert!(
        got.len() < bytes.len(),
        "the download was cut: {} of {} bytes",
        got.len(),
        bytes.len()
    );
}

/// Issue 33, finding 6: under the usual soft limit of open files (1,024) a few hundred
/// silent connections made `accept` fail for everyone. The server raises it to the hard
/// limit at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_file_limit_is_raised_at_start() {
    use tokio::io::AsyncBufReadExt;
    let dir = tempfile::tempdir().expect("a data directory");
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -Sn 512 && exec "$0" --bind 127.0.0.1:0 --data-dir "$1""#)
        .arg(env!("CARGO_BIN_EXE_ferry-server"))
        .arg(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("FERRY_BIND")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("ferry-server starts");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("its output")).lines();
    within("the server to listen", async {
        while let Some(line) = lines.next_line().await.expect("its output") {
            if line.contains("listening") {
                return;
            }
        }
        panic!("ferry-server ended before it listened");
    })
    .await;
    let pid = child.id().expect("running");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("its limits");
    let files: Vec<u64> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("the open-file limit")
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(
        files.len() == 2 && files[0] == files[1] && files[0] > 512,
        "soft raised to hard: {limits}"
    );
    child.kill().await.expect("stopped");
}
