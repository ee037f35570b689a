//! Receiving without a WebSocket: behind a proxy that refuses every upgrade (as some
//! corporate proxies do), a client still gets new messages, by long-polling `/sync`,
//! without anyone running `sync` — gapless and once each — and still sends, over REST;
//! in an end-to-end encrypted chat too (keys, the group's welcome, sealing and opening).

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use ferry_client::ConnectionState;
use ferry_proto::ConversationId;
use ferry_testkit::holds;

use crate::support::{Device, Served, TestDb, TestServer, config, direct, encrypted, within};

/// An HTTP proxy (to `upstream`) that answers every WebSocket upgrade 403 and passes
/// everything else.
async fn refusing_upgrades(upstream: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                // The first request's head says what this connection is for.
                let mut head = Vec::new();
                let mut byte = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match client.read(&mut byte).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&byte[..n]),
                    }
                }
                if String::from_utf8_lossy(&head)
                    .to_ascii_lowercase()
                    .contains("upgrade: websocket")
                {
                    let _ = client
                        .write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .await;
                    return;
                }
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                if server.write_all(&head).await.is_err() {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    addr
}

/// A server on a fresh SQLite file; Alice's device behind a proxy that refuses every
/// upgrade, Bob's reaching the server directly, both started; and the direct chat Bob
/// opens with her, which even so reaches her by long-poll.
async fn alice_behind_a_refusing_proxy() -> (TestDb, TestServer, Device, Device, ConversationId) {
    let db = TestDb::sqlite();
    let server = TestServer::start_with(config(&db)).await;
    let proxy = refusing_upgrades(server.addr()).await;
    let alice = Device::register(&format!("http://{proxy}"), "alice").await;
    let bob = Device::register(&server.url(), "bob").await;
    bob.client.start();
    bob.online().await;
    alice.client.start();
    let chat = direct(&bob, &alice).await;
    (db, server, alice, bob, chat)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_arrive_behind_a_proxy_that_refuses_websockets() {
    let (_db, _server, alice, bob, chat) = alice_behind_a_refusing_proxy().await;

    // Bob writes while Alice has no socket (and never will): it reaches her by itself.
    for i in 1..=5 {
        bob.conversation(chat)
            .send(&format!("hello {i}"))
            .expect("send");
    }
    alice
        .until("alice has bob's five messages", |c| {
            c.conversation(chat).messages(None, 50).expect("read").len() == 5
        })
        .await;
    let got = alice.history(chat);
    let want: Vec<_> = (1..=5).map(|i| (Some(i), format!("hello {i}"))).collect();
    assert_eq!(got, want, "gapless, in order, once each");
    // What her app shows: connected without a socket, not offline.
    let mut state = alice.client.connection();
    let polling = within(
        "alice's state says polling",
        state.wait_for(|s| matches!(s, ConnectionState::Polling { .. })),
    )
    .await
    .expect("state")
    .clone();
    let ConnectionState::Polling { retry_at, reason } = polling else {
        unreachable!()
    };
    assert!(retry_at.is_some(), "says when the socket is tried again");
    assert!(
        reason.is_some_and(|r| r.contains("403")),
        "says why there is no socket"
    );

    // And she answers, over REST.
    alice.conversation(chat).send("got them").expect("send");
    bob.until("bob has alice's answer", |c| has_in(c, chat, "got them"))
        .await;
    // Still polling after the socket's attempts meanwhile: they leave the state as it
    // is while HTTP works.
    assert!(
        matches!(*state.borrow(), ConnectionState::Polling { .. }),
        "{:?}",
        *state.borrow()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_chat_works_behind_a_proxy_that_refuses_websockets() {
    let (db, _server, alice, bob, chat) = alice_behind_a_refusing_proxy().await;
    // Without a socket, Alice's device publishes its keys and takes its welcome to the
    // chat's group, made by whichever of the two devices got there first.
    for device in [&alice, &bob] {
        device
            .until("the chat is encrypted", |c| encrypted(c, chat))
            .await;
    }
    bob.conversation(chat)
        .send("the sealed hello")
        .expect("send");
    alice
        .until("alice opens bob's message", |c| {
            has_in(c, chat, "the sealed hello")
        })
        .await;
    // Her answer goes sealed over REST: the server refuses plaintext in this chat.
    alice
        .conversation(chat)
        .send("the sealed answer")
        .expect("send");
    bob.until("bob opens alice's answer", |c| {
        has_in(c, chat, "the sealed answer")
    })
    .await;
    assert!(has_in(&alice.client, chat, "the sealed answer"));
    let kept = db.stored_bytes().await;
    for text in ["the sealed hello", "the sealed answer"] {
        assert!(!holds(&kept, text), "the server keeps {text:?}");
    }
}

/// Whether the chat holds a message with this text on this client.
fn has_in(c: &ferry_client::Client, chat: ConversationId, text: &str) -> bool {
    c.conversation(chat)
        .messages(None, 50)
        .expect("read")
        .iter()
        .any(|m| m.body == text)
}
