//! Faults: the server process killed (SIGKILL) in the middle of a burst and restarted on
//! the same database loses nothing it acknowledged, and a resending client ends with every
//! message exactly once in compose order; a client that was away catches up through
//! `/sync` and `after_seq` with nothing missed, doubled, or fetched twice. A request
//! dropped while its transaction's `BEGIN` is in flight leaves no transaction behind.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ferry_proto::{
    ConversationId, ErrorCode, MessageId, MessagePage, ServerFrame, SessionId, SyncPage, Timestamp,
};
use ferry_server::store::{NewSession, RefreshGrant};
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, watch};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::support::{
    Backend, TestDb, TestServer, User, Ws, alice_and_bob, on_both, server_process, within,
};

async fn killed_mid_burst_loses_nothing_acked(backend: Backend) {
    // Large enough that the kill, right after the 50th ack, lands mid-burst even though
    // group commit acks hundreds of pipelined sends per commit.
    const BURST: usize = 3000;
    let db = TestDb::new(backend).await;
    let first = server_process(&db).await;
    let alice = User::register(&first, "alice").await;
    let bob = User::register(&first, "bob").await;
    let conv = alice.direct_with(&bob).await.id;

    let ws = alice.ws().await;
    let (mut sink, mut stream) = ws.stream.split();
    let (acks_tx, mut acks) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(WsMessage::Text(text))) = stream.next().await {
            if let Ok(ServerFrame::Ack { id, seq, .. }) = serde_json::from_str(&text)
                && acks_tx.send((id, seq)).is_err()
            {
                break;
            }
        }
    });
    let composed: Vec<(MessageId, String)> = (0..BURST)
        .map(|i| (MessageId::new(), format!("burst {i}")))
        .collect();
    let sender = tokio::spawn({
        let composed = composed.clone();
        async move {
            for (id, body) in &composed {
                let text = serde_json::to_string(&Ws::send_frame(*id, conv, body)).expect("encode");
                if sink.send(WsMessage::Text(text.into())).await.is_err() {
                    break;
                }
            }
        }
    });
    let mut acked = HashMap::new();
    while acked.len() < 50 {
        let (id, seq) = within("early acks", acks.recv()).await.expect("acks");
        acked.insert(id, seq);
    }
    first.kill().await;
    // Acks that were on the wire before the kill still count.
    while let Some((id, seq)) = within("socket end", acks.recv()).await {
        acked.insert(id, seq);
    }
    sender.await.expect("sender");
    assert!(
        acked.len() < BURST,
        "the kill landed mid-burst ({} acked)",
        acked.len()
    );

    let second = server_process(&db).await;
    let alice = User::with_tokens(&second, alice.tokens.clone());
    let stored = alice.history(conv).await;
    assert_eq!(
        stored.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=stored.len() as i64).collect::<Vec<_>>(),
        "gapless"
    );
    let stored_seq: HashMap<MessageId, i64> = stored.iter().map(|m| (m.id, m.seq)).collect();
    for (id, seq) in &acked {
        assert_eq!(
            stored_seq.get(id),
            Some(seq),
            "every acked message survived with its seq"
        );
    }

    // The client resends everything not acknowledged, in compose order, pipelined, as an
    // outbox does; the acks come back in that order.
    let (mut sink, mut stream) = alice.ws().await.stream.split();
    let resent: Vec<(MessageId, String)> = composed
        .iter()
        .filter(|(id, _)| !acked.contains_key(id))
        .cloned()
        .collect();
    let expected: Vec<MessageId> = resent.iter().map(|(id, _)| *id).collect();
    // Read the acks while sending, so neither side's buffers can fill up and stall.
    let acks = tokio::spawn(async move {
        let mut ids = Vec::new();
        while ids.len() < expected.len() {
            match stream.next().await {
                Some(Ok(WsMessage::Text(text))) => match serde_json::from_str(&text) {
                    Ok(ServerFrame::Ack { id, .. }) => ids.push(id),
                    Ok(ServerFrame::Error { .. }) => panic!("resend refused: {text}"),
                    _ => {}
                },
                Some(Ok(_)) => {}
                other => panic!("socket ended: {other:?}"),
            }
        }
        (ids, expected)
    });
    for (id, body) in &resent {
        let text = serde_json::to_string(&Ws::send_frame(*id, conv, body)).expect("encode");
        sink.send(WsMessage::Text(text.into()))
            .await
            .expect("resend");
    }
    let (ids, expected) = within("the resends' acks", acks).await.expect("acks");
    assert_eq!(ids, expected, "acks in resend order");
    let stored = alice.history(conv).await;
    assert_eq!(stored.len(), BURST, "every message exactly once");
    let in_seq_order: Vec<MessageId> = stored.iter().map(|m| m.id).collect();
    let in_compose_order: Vec<MessageId> = composed.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        in_seq_order, in_compose_order,
        "seq order is compose order across the crash"
    );
    second.kill().await;
}

/// Bob's local copy, as a client keeps it: messages by conversation and the sync cursor.
#[derive(Default)]
struct Replica {
    messages: HashMap<ConversationId, Vec<ferry_proto::Message>>,
    cursor: Option<String>,
    requests: usize,
}

impl Replica {
    fn highest(&self, conversation: ConversationId) -> i64 {
        self.messages
            .get(&conversation)
            .and_then(|m| m.last())
            .map_or(0, |m| m.seq)
    }

    fn store(&mut self, message: ferry_proto::Message) {
        let list = self.messages.entry(message.conversation_id).or_default();
        assert!(
            list.iter().all(|m| m.id != message.id),
            "message {} fetched twice",
            message.seq
        );
        assert_eq!(
            message.seq,
            list.last().map_or(1, |m| m.seq + 1),
            "in order, no gap"
        );
        list.push(message);
    }

    /// `/sync`, then `after_seq` pages per changed conversation.
    async fn catch_up(&mut self, user: &User) {
        loop {
            let path = match &self.cursor {
                Some(c) => format!("/sync?since={c}"),
                None => "/sync".to_owned(),
            };
            let page: SyncPage = user.ok(Method::GET, &path, None).await;
            self.requests += 1;
            for conversation in &page.conversations {
                while self.highest(conversation.id) < conversation.last_seq {
                    let after = self.highest(conversation.id);
                    let page: MessagePage = user
                        .ok(
                            Method::GET,
                            &format!(
                                "/conversations/{}/messages?after_seq={after}&limit=7",
                                conversation.id
                            ),
                            None,
                        )
                        .await;
                    self.requests += 1;
                    for m in page.messages {
                        self.store(m);
                    }
                }
            }
            self.cursor = Some(page.cursor);
            if !page.has_more {
                return;
            }
        }
    }
}

async fn reconnecting_client_catches_up(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let bob = User::register(&server, "bob").await;
    let carol = User::register(&server, "carol").await;
    let direct = alice.direct_with(&bob).await.id;
    let group = alice.group("Trio", &[&bob, &carol]).await.id;
    let quiet = carol.direct_with(&bob).await.id;
    let not_bobs = alice.direct_with(&carol).await.id;

    let mut replica = Replica::default();
    replica.catch_up(&bob).await;
    // While online, Bob receives the first five live.
    let mut live = bob.ws().await;
    for i in 0..5 {
        alice.send_rest(direct, &format!("live {i}")).await;
        if let ServerFrame::Message { message } = live
            .expect("live", |f| matches!(f, ServerFrame::Message { .. }))
            .await
        {
            replica.store(message);
        }
    }
    live.stream.close(None).await.expect("close");

    // Away: 30 messages in his conversations, more in one he is not part of.
    for i in 0..15 {
        alice.send_rest(direct, &format!("away {i}")).await;
        carol.send_rest(group, &format!("group {i}")).await;
        alice.send_rest(not_bobs, "not for bob").await;
    }
    replica.requests = 0;
    replica.catch_up(&bob).await;
    assert_eq!(replica.messages[&direct].len(), 20);
    assert_eq!(replica.messages[&group].len(), 15);
    assert!(!replica.messages.contains_key(&not_bobs));
    assert!(
        !replica.messages.contains_key(&quiet),
        "an empty conversation needs no fetch"
    );
    // One sync, then ceil(15/7) pages for each of the two conversations: nothing fetched twice.
    assert_eq!(replica.requests, 1 + 3 + 3);

    replica.requests = 0;
    replica.catch_up(&bob).await;
    assert_eq!(replica.requests, 1, "nothing new: one sync and no fetch");
}

/// A send stuck behind a lock (a transaction of the test's own holds the conversation's
/// row) gives up after Postgres's statement timeout with a retryable error frame, and
/// goes through once the lock is gone. Before, the socket's send waited without end.
#[tokio::test]
async fn a_send_stuck_behind_a_lock_gives_up() {
    use sqlx::Connection;
    let db = TestDb::new(Backend::Postgres).await;
    let server = TestServer::start(&db).await;
    let (alice, _bob, conv) = alice_and_bob(&server).await;
    let mut ws = alice.ws().await;
    let mut hold = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut hold)
        .await
        .expect("begin");
    sqlx::query("SELECT id FROM conversations WHERE id = $1 FOR UPDATE")
        .bind(conv)
        .execute(&mut hold)
        .await
        .expect("lock");

    let id = MessageId::new();
    ws.send(&Ws::send_frame(id, conv, "stuck")).await;
    let answer = ferry_testkit::within_for(
        std::time::Duration::from_secs(40),
        "an answer while the lock is held",
        ws.expect("the send's answer", |f| {
            matches!(f, ServerFrame::Error { .. } | ServerFrame::Ack { .. })
        }),
    )
    .await;
    assert!(
        matches!(answer, ServerFrame::Error { code: ErrorCode::Unavailable, reference: Some(r), .. } if r == id),
        "{answer:?}"
    );

    sqlx::query("ROLLBACK")
        .execute(&mut hold)
        .await
        .expect("rollback");
    ws.send(&Ws::send_frame(id, conv, "stuck")).await;
    ws.expect(
        "stored once the lock is gone",
        |f| matches!(f, ServerFrame::Ack { id: acked, .. } if *acked == id),
    )
    .await;
}

/// A graceful stop answers every send the server took before it closes the socket with
/// 1001: whatever was stored has its ack (before, the socket closed at once, and sends
/// still committing were stored unacknowledged).
async fn a_stop_answers_the_sends_it_took(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let (alice, _bob, conv) = alice_and_bob(&server).await;
    let mut ws = alice.ws().await;
    let ids: Vec<MessageId> = (0..300).map(|_| MessageId::new()).collect();
    for id in &ids {
        ws.send(&Ws::send_frame(*id, conv, "before the stop")).await;
    }
    // The first ack: the server is taking them, and the rest are in its pipeline.
    let first = ws
        .expect("a first ack", |f| matches!(f, ServerFrame::Ack { .. }))
        .await;
    let stopping = tokio::spawn(server.stop());
    let mut acked = std::collections::HashSet::new();
    if let ServerFrame::Ack { id, .. } = first {
        acked.insert(id);
    }
    let code = within("the socket's close", async {
        loop {
            match ws.stream.next().await {
                Some(Ok(WsMessage::Text(text))) => {
                    if let Ok(ServerFrame::Ack { id, .. }) = serde_json::from_str(&text) {
                        acked.insert(id);
                    }
                }
                Some(Ok(WsMessage::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await;
    assert_eq!(code, Some(1001), "closed as going away");
    stopping.await.expect("stopped");

    let again = TestServer::start(&db).await;
    let stored: Vec<MessageId> = alice
        .on(&again)
        .history(conv)
        .await
        .into_iter()
        .map(|m| m.id)
        .collect();
    let unanswered: Vec<&MessageId> = stored.iter().filter(|id| !acked.contains(*id)).collect();
    assert!(
        unanswered.is_empty(),
        "{} of {} stored messages were never acked",
        unanswered.len(),
        stored.len()
    );
}

/// A TCP proxy to Postgres that, once armed, holds back every answer from the moment a
/// client sends `BEGIN` until it is released: a request can then be dropped exactly
/// while its `BEGIN` is in flight, the window no timing can hit reliably.
struct BeginTrap {
    addr: SocketAddr,
    armed: Arc<AtomicBool>,
    held: Arc<watch::Sender<bool>>,
    begun: Arc<Notify>,
}

impl BeginTrap {
    async fn to(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let trap = Self {
            addr: listener.local_addr().expect("addr"),
            armed: Arc::default(),
            held: Arc::new(watch::channel(false).0),
            begun: Arc::default(),
        };
        let (armed, held, begun) = (trap.armed.clone(), trap.held.clone(), trap.begun.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = TcpStream::connect(target)
                    .await
                    .expect("connect to Postgres");
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = upstream.into_split();
                let (armed, held_up, begun) = (armed.clone(), held.clone(), begun.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0; 64 * 1024];
                    while let Ok(n @ 1..) = from_client.read(&mut buf).await {
                        // Held before Postgres can see the BEGIN, so its answer is too.
                        if buf[..n].windows(5).any(|w| w == b"BEGIN")
                            && armed.swap(false, Ordering::SeqCst)
                        {
                            held_up.send_replace(true);
                            begun.notify_one();
                        }
                        if to_server.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                let mut released = held.subscribe();
                tokio::spawn(async move {
                    let mut buf = vec![0; 64 * 1024];
                    while let Ok(n @ 1..) = from_server.read(&mut buf).await {
                        if released.wait_for(|held| !held).await.is_err()
                            || to_client.write_all(&buf[..n]).await.is_err()
                        {
                            break;
                        }
                    }
                });
            }
        });
        trap
    }
}

/// A request dropped while its transaction's `BEGIN` is in flight (its client hung up,
/// so axum dropped the handler) gives its connection back with no transaction open. sqlx
/// counts a transaction only once `BEGIN` is answered, so before `SqlStore::begun` ran
/// `BEGIN` in a task of its own the connection went back inside a transaction nothing
/// would end, and the next autocommit write on it was never committed.
#[tokio::test]
async fn a_request_dropped_during_begin_leaves_no_transaction() {
    let db = TestDb::new(Backend::Postgres).await;
    let options = sqlx::postgres::PgConnectOptions::from_str(&db.url).expect("url");
    let postgres = format!("{}:{}", options.get_host(), options.get_port());
    let target = tokio::net::lookup_host(&postgres)
        .await
        .expect("resolve")
        .next()
        .expect("an address");
    let trap = BeginTrap::to(target).await;
    let through_trap = db.url.replacen(&postgres, &trap.addr.to_string(), 1);
    assert_ne!(through_trap, db.url, "no {postgres} in {}", db.url);
    // One connection, so the write after the drop runs on the connection it gave back.
    let store = ferry_server::open_store(&through_trap, 1)
        .await
        .expect("open store");
    let alice = crate::store::user(&store, "alice", "Alice").await;

    trap.armed.store(true, Ordering::SeqCst);
    let now = Timestamp::now();
    let grant = RefreshGrant {
        token_hash: vec![1; 32],
        expires_at: Timestamp::from_millis(now.as_millis() + 60_000),
    };
    let session = NewSession {
        id: SessionId::new(),
        user: alice,
        device_name: None,
        place: None,
    };
    tokio::select! {
        stored = store.create_session(&session, &grant, now) => {
            panic!("the session's write ended ({stored:?}) while its BEGIN was unanswered")
        }
        () = within("the session's BEGIN", trap.begun.notified()) => {}
    }
    trap.held.send_replace(false);

    let bob = within(
        "a write after the dropped request",
        crate::store::user(&store, "bob", "Bob"),
    )
    .await;
    let direct = ferry_server::open_store(&db.url, 1)
        .await
        .expect("open store");
    assert!(
        direct.user(bob).await.expect("read").is_some(),
        "bob's account, written on the connection the dropped request gave back, was never committed"
    );
}

on_both!(
    a_stop_answers_the_sends_it_took,
    killed_mid_burst_loses_nothing_acked,
    reconnecting_client_catches_up
);
