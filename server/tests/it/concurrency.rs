//! 20 tasks send 50 messages each into one conversation while resending random
//! duplicates on other sockets and over REST: exactly 1000 messages are stored with seqs
//! 1..=1000, and every duplicate is answered with the original seq. And one socket's
//! pipelined burst into several conversations is stored in the order it was sent.

use std::collections::HashMap;

use ferry_proto::{ConversationId, MessageId, ServerFrame};
use ferry_server::Config;
use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::support::{Backend, TestDb, TestServer, User, Ws, on_both, test_config, within};

const TASKS: usize = 20;
const PER_TASK: usize = 50;

/// A small deterministic generator, so a failing run can be repeated exactly.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

type Sink = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    WsMessage,
>;

/// Splits a socket: acks and errors arrive on the channel, everything else is drained so
/// the server never sees this client as too slow.
fn split(ws: Ws) -> (Sink, mpsc::UnboundedReceiver<ServerFrame>) {
    let (sink, mut stream) = ws.stream.split();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            if let WsMessage::Text(text) = msg {
                let frame: ServerFrame = serde_json::from_str(&text).expect("frame");
                if matches!(frame, ServerFrame::Ack { .. } | ServerFrame::Error { .. })
                    && tx.send(frame).is_err()
                {
                    break;
                }
            }
        }
    });
    (sink, rx)
}

async fn send(sink: &mut Sink, id: MessageId, conversation: ConversationId, body: &str) {
    let text = serde_json::to_string(&Ws::send_frame(id, conversation, body)).expect("encode");
    sink.send(WsMessage::Text(text.into())).await.expect("send");
}

async fn ack_seq(rx: &mut mpsc::UnboundedReceiver<ServerFrame>, expected_id: MessageId) -> i64 {
    match within("ack", rx.recv()).await.expect("socket open") {
        ServerFrame::Ack { id, seq, .. } => {
            assert_eq!(id, expected_id, "acks come back in send order");
            seq
        }
        other => panic!("expected ack, got {other:?}"),
    }
}

async fn concurrent_senders_with_duplicates(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let mut users = Vec::new();
    for i in 0..4 {
        users.push(User::register(&server, &format!("sender{i}")).await);
    }
    let watcher = User::register(&server, "watcher").await;
    let mut others: Vec<&User> = users[1..].iter().collect();
    others.push(&watcher);
    let conv = users[0].group("Busy", &others).await.id;
    // A member who only listens: live frames must come in seq order, each once.
    let mut watching = watcher.ws().await;
    let watched = tokio::spawn(async move {
        let mut seqs = Vec::new();
        while seqs.len() < TASKS * PER_TASK {
            if let ServerFrame::Message { message } = watching.next().await {
                seqs.push(message.seq);
            }
        }
        seqs
    });

    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let user = users[t % users.len()].clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1));
            let (mut primary, mut primary_acks) = split(user.ws().await);
            let (mut second, mut second_acks) = split(user.ws().await);
            let mut order = Vec::new();
            let mut second_dups = Vec::new();
            let mut rest_dups = Vec::new();
            for i in 0..PER_TASK {
                let id = MessageId::new();
                let body = format!("task {t} message {i}");
                send(&mut primary, id, conv, &body).await;
                order.push(id);
                if rng.chance(25) {
                    send(&mut second, id, conv, &body).await;
                    second_dups.push(id);
                }
                if rng.chance(10) {
                    let user = user.clone();
                    rest_dups.push(tokio::spawn(async move {
                        let (status, message) = user
                            .call(
                                Method::POST,
                                &format!("/conversations/{conv}/messages"),
                                Some(json!({"id": id, "body": body})),
                            )
                            .await;
                        assert!(
                            status == StatusCode::OK || status == StatusCode::CREATED,
                            "{status}"
                        );
                        (id, message["seq"].as_i64().expect("seq"))
                    }));
                }
            }
            let mut seqs = HashMap::new();
            for id in &order {
                seqs.insert(*id, ack_seq(&mut primary_acks, *id).await);
            }
            for id in &second_dups {
                assert_eq!(
                    ack_seq(&mut second_acks, *id).await,
                    seqs[id],
                    "duplicate on another socket"
                );
            }
            for dup in rest_dups {
                let (id, seq) = dup.await.expect("rest dup");
                assert_eq!(seq, seqs[&id], "duplicate over REST");
            }
            seqs
        }));
    }
    let mut all = HashMap::new();
    for task in tasks {
        all.extend(task.await.expect("task"));
    }
    assert_eq!(all.len(), TASKS * PER_TASK);
    let history = users[0].history(conv).await;
    assert_eq!(
        history.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=(TASKS * PER_TASK) as i64).collect::<Vec<_>>()
    );
    for m in &history {
        assert_eq!(
            all.get(&m.id),
            Some(&m.seq),
            "stored once, with the acked seq"
        );
    }
    let seqs = within("the watcher's frames", watched)
        .await
        .expect("watcher");
    assert_eq!(
        seqs,
        (1..=(TASKS * PER_TASK) as i64).collect::<Vec<_>>(),
        "live frames in seq order, each once"
    );
}

/// One socket pipelines 600 sends, round robin into three conversations, without waiting
/// for acks (as a client flushing its outbox): the acks come back in send order, each
/// conversation's seqs follow the send order, and a member sees them live in that order.
async fn pipelined_burst_keeps_send_order(backend: Backend) {
    const SENDS: usize = 600;
    let db = TestDb::new(backend).await;
    // Four group-commit shards (on Postgres; SQLite has one), whatever this machine's
    // cores: the burst's conversations commit side by side, and the order must hold.
    let server = TestServer::start_with(Config {
        committers: 4,
        ..test_config(&db)
    })
    .await;
    let alice = User::register(&server, "alice").await;
    let bob = User::register(&server, "bob").await;
    let mut conversations = vec![alice.direct_with(&bob).await.id];
    for title in ["one", "two", "three", "four", "five"] {
        conversations.push(alice.group(title, &[&bob]).await.id);
    }
    let mut watching = bob.ws().await;
    let watched = tokio::spawn(async move {
        let mut bodies: HashMap<ConversationId, Vec<String>> = HashMap::new();
        for _ in 0..SENDS {
            let message = loop {
                if let ServerFrame::Message { message } = watching.next().await {
                    break message;
                }
            };
            bodies
                .entry(message.conversation_id)
                .or_default()
                .push(message.body);
        }
        bodies
    });

    let (mut sink, mut acks) = split(alice.ws().await);
    let mut sent = Vec::new();
    for i in 0..SENDS {
        let (id, conversation) = (MessageId::new(), conversations[i % conversations.len()]);
        send(&mut sink, id, conversation, &format!("burst {i}")).await;
        sent.push((id, conversation));
    }
    let mut seqs: HashMap<ConversationId, Vec<i64>> = HashMap::new();
    for (id, conversation) in &sent {
        seqs.entry(*conversation)
            .or_default()
            .push(ack_seq(&mut acks, *id).await);
    }
    let per_conversation = (SENDS / conversations.len()) as i64;
    let live = within("bob's frames", watched).await.expect("watcher");
    for (c, conversation) in conversations.iter().enumerate() {
        assert_eq!(
            seqs[conversation],
            (1..=per_conversation).collect::<Vec<_>>(),
            "seqs in send order"
        );
        let expected: Vec<String> = (0..SENDS)
            .filter(|i| i % conversations.len() == c)
            .map(|i| format!("burst {i}"))
            .collect();
        assert_eq!(live[conversation], expected, "live in send order");
        let stored: Vec<String> = alice
            .history(*conversation)
            .await
            .into_iter()
            .map(|m| m.body)
            .collect();
        assert_eq!(stored, expected, "stored in send order");
    }
}

on_both!(
    concurrent_senders_with_duplicates,
    pipelined_burst_keeps_send_order,
);
