//! Criterion benches of the per-frame work on the server's hot path: decoding a client's
//! `send` frame and encoding the `message` frame that fans out to every recipient (it is
//! encoded once per message, then the same text goes to each socket).

// criterion_group! defines a public function without documentation.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use ferry_proto::{ClientFrame, Message, ServerFrame, Timestamp};
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
        message: Message {
            id: Uuid::now_v7(),
            conversation_id: Uuid::now_v7(),
            seq: 123_456,
            sender_id: Uuid::now_v7(),
            body: body.into(),
            created_at: Timestamp::now(),
        },
    };
    c.bench_function("encode message frame", |b| {
        b.iter(|| serde_json::to_string(black_box(&frame)).expect("serializable"))
    });
    let typing = r#"{"type":"typing","conversation_id":"0190a0b0-0000-7000-8000-000000000001","typing":true}"#;
    c.bench_function("decode typing frame", |b| {
        b.iter(|| serde_json::from_str::<ClientFrame>(black_box(typing)).expect("valid"))
    });
}

criterion_group!(benches, frames);
criterion_main!(benches);
