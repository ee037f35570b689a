//! Criterion bench of fan-out routing on the server: `Hub::deliver`, where the bus hands
//! one message's frame to every socket of its recipients (one lock, one `try_send` of a
//! shared `Utf8Bytes` per socket), plus the socket tasks' side of taking it off their
//! queues. B4 measures the same path end to end, with sockets, the database and the
//! generator; this isolates the routing from them.

// criterion_group! defines a public function without documentation.
#![allow(missing_docs)]

use ferry_proto::{ConversationId, SessionId, UserId};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ferry_server::delivery::Outgoing;
use ferry_server::hub::{Audience, Hub, Joined, SOCKET_QUEUE, SocketHandle};
use std::hint::black_box;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

/// Users connected to the hub (one socket each), as in B4.
const CONNECTED: usize = 1_000;

fn fanout(c: &mut Criterion) {
    let hub = Hub::default();
    let mut users = Vec::with_capacity(CONNECTED);
    let mut queues = Vec::with_capacity(CONNECTED);
    for _ in 0..CONNECTED {
        let user = UserId::new();
        let (frames, queue) = mpsc::channel(SOCKET_QUEUE);
        let (close, _) = watch::channel(None);
        let socket = SocketHandle {
            id: Uuid::now_v7(),
            session_id: SessionId::new(),
            frames,
            close,
            members_feature: true,
        };
        assert!(matches!(hub.join(user, socket, 1), Joined::Yes { .. }));
        users.push(user);
        queues.push(queue);
    }
    // A message frame as the committer encodes it (~300 bytes).
    let frame = format!(
        r#"{{"type":"message","message":{{"id":"{}","conversation_id":"{}","seq":123456,"sender_id":"{}","body":"lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore","created_at":"2026-11-22T08:59:57.455Z"}}}}"#,
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7()
    );
    let conversation = ConversationId::new();
    let mut group = c.benchmark_group("fan-out one message");
    for recipients in [1usize, 4, 49, 99] {
        group.throughput(Throughput::Elements(recipients as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{recipients} recipients")),
            &recipients,
            |b, &n| {
                b.iter(|| {
                    hub.deliver(
                        &users[..n],
                        None,
                        Audience::All,
                        Outgoing::new(black_box(frame.clone()), Some((conversation, 123_456))),
                    );
                    // What each socket task does next: take the frame off its queue.
                    for queue in &mut queues[..n] {
                        black_box(queue.try_recv().expect("the frame was delivered"));
                    }
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
