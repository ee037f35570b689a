//! Criterion benches of the per-frame work on the hot paths: on the server, decoding a
//! client's `send` frame and encoding the `message` frame that fans out to every
//! recipient (it is encoded once per message, then the same text goes to each socket);
//! in the load generator (bench/src/wire.rs), encoding the `send` frame of each message
//! it offers and decoding the `message` and `ack` frames each of its thousands of
//! connections receives, with `ferry_proto`'s frame types as a client does.

// criterion_group! defines a public function without documentation.
#![allow(missing_docs)]

use ferry_proto::{
    ClientFrame, ConversationId, Message, MessageId, OutgoingMessage, ServerFrame, Timestamp,
    UserId,
};

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use uuid::Uuid;

fn frames(c: &mut Criterion) {
    let body = "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor";
    let send = format!(
        r#"{{"type":"send","message":{{"id":"{}","conversation_id":"{}","body":"{body}"}}}}"#,
        Uuid::now_v7(),
        Uuid::now_v7()
    );
    c.bench_function("decode send frame", |b| {
        b.iter(|| serde_json::from_str::<ClientFrame>(black_box(&send)).expect("valid"))
    });
    let frame = ServerFrame::Message {
        message: Message::plain(
            MessageId::new(),
            ConversationId::new(),
            123_456,
            UserId::new(),
            body,
            Timestamp::now(),
        ),
    };
    c.bench_function("encode message frame", |b| {
        b.iter(|| serde_json::to_string(black_box(&frame)).expect("serializable"))
    });
    let typing = r#"{"type":"typing","conversation_id":"0190a0b0-0000-7000-8000-000000000001","typing":true}"#;
    c.bench_function("decode typing frame", |b| {
        b.iter(|| serde_json::from_str::<ClientFrame>(black_box(typing)).expect("valid"))
    });
    let message = serde_json::to_string(&frame).expect("serializable");
    c.bench_function("generator: decode message frame", |b| {
        b.iter(|| serde_json::from_str::<ServerFrame>(black_box(&message)).expect("valid"))
    });
    let ack = serde_json::to_string(&ServerFrame::Ack {
        id: MessageId::new(),
        conversation_id: ConversationId::new(),
        seq: 123_456,
        created_at: Timestamp::now(),
    })
    .expect("serializable");
    c.bench_function("generator: decode ack frame", |b| {
        b.iter(|| serde_json::from_str::<ServerFrame>(black_box(&ack)).expect("valid"))
    });
    let (id, conversation_id) = (MessageId::new(), ConversationId::new());
    c.bench_function("generator: encode send frame", |b| {
        b.iter(|| {
            let message = OutgoingMessage::text(id, conversation_id, black_box(body));
            serde_json::to_string(&ClientFrame::Send { message }).expect("serializable")
        })
    });
}

criterion_group!(benches, frames);
criterion_main!(benches);
