//! Criterion benches of the client's local store (B10's operations): the conversation
//! list, opening a conversation, full-text search, and applying 1,000 received messages,
//! on a store of 1,000 chats and 100,000 messages (B10's quick size; filling it takes
//! ~10 s before the first bench). B10 in the generator reports the same operations'
//! p99s at 10k chats and 1M messages.

// criterion_group! defines a public function without documentation.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ferry_bench::store_world::StoreWorld;
use ferry_proto::ConversationId;

fn client_store(c: &mut Criterion) {
    let mut world = StoreWorld::fill(1_000, 100).expect("fill the store");
    let me = world.me.id;
    // Drawn before timing, then taken in turn.
    let chats: Vec<ConversationId> = (0..1_000).map(|_| world.random_chat()).collect();
    let words: Vec<String> = (0..1_000).map(|_| world.random_word()).collect();
    c.bench_function("store: conversation list, top 50", |b| {
        b.iter(|| {
            world
                .store
                .conversations(me, None, black_box(50))
                .expect("list")
        })
    });
    let mut i = 0;
    c.bench_function("store: open a conversation, latest 50", |b| {
        b.iter(|| {
            i = (i + 1) % chats.len();
            world.store.messages(me, chats[i], None, 50).expect("page")
        })
    });
    c.bench_function("store: full-text search, top 20", |b| {
        b.iter(|| {
            i = (i + 1) % words.len();
            world.store.search(&words[i], 20).expect("search")
        })
    });
    // Each iteration applies new messages (a burst applied twice would find them known),
    // made outside the timed part.
    let mut group = c.benchmark_group("store");
    group.sample_size(20);
    group.bench_function("apply 1,000 received messages", |b| {
        b.iter_custom(|iterations| {
            let mut spent = Duration::ZERO;
            for _ in 0..iterations {
                let burst = world.burst();
                let started = Instant::now();
                let _ = world.store.apply_messages(&burst).expect("apply");
                spent += started.elapsed();
            }
            spent
        })
    });
    group.finish();
}

criterion_group!(benches, client_store);
criterion_main!(benches);
