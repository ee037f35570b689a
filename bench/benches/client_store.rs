//! Criterion benches of the client's local store (B10's operations): the conversation
//! list, opening a conversation, full-text search, and applying 1,000 received messages,
//! on a store of 1,000 chats and 100,000 messages (B10's quick size; filling it takes
//! ~10 s before the first bench). B10 in the generator reports the same operations'
//! p99s at 10k chats and 1M messages.
//!
//! The `at rest` group measures what encrypting the store (SQLCipher) costs: the same work
//! on a store filled the same way without encryption, in the same run. Its first bench is
//! the live pattern, where the cost shows most: a message is written, so the reading
//! connection's page cache is dropped, and the list and the chat are read again (every page
//! read decrypted and its HMAC checked).

// criterion_group! defines a public function without documentation.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ferry_bench::store_world::{AtRest, StoreWorld};
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
    let mut group = c.benchmark_group("store");
    group.sample_size(20);
    group.bench_function("apply 1,000 received messages", |b| {
        b.iter_custom(|iterations| apply_bursts(&mut world, iterations))
    });
    group.finish();
}

fn at_rest(c: &mut Criterion) {
    let mut group = c.benchmark_group("at rest");
    group.sample_size(20);
    for at_rest in [AtRest::Encrypted, AtRest::Unencrypted] {
        let mut world = StoreWorld::fill_as(1_000, 100, at_rest).expect("fill the store");
        let me = world.me.id;
        let name = format!("{at_rest:?}").to_lowercase();
        group.bench_function(
            format!("{name}: a message arrives, then the list and its chat are read"),
            |b| {
                b.iter_custom(|iterations| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iterations {
                        let message = world.arrival();
                        let started = Instant::now();
                        let chat = message.conversation_id;
                        let _ = world.store.apply_messages(&[message]).expect("apply");
                        black_box(world.store.conversations(me, None, 50).expect("list"));
                        black_box(world.store.messages(me, chat, None, 50).expect("page"));
                        spent += started.elapsed();
                    }
                    spent
                })
            },
        );
        group.bench_function(format!("{name}: apply 1,000 received messages"), |b| {
            b.iter_custom(|iterations| apply_bursts(&mut world, iterations))
        });
    }
    group.finish();
}

/// Applies `iterations` bursts of new messages (a burst applied twice would find them
/// known), each made outside the timed part: the time spent applying them.
fn apply_bursts(world: &mut StoreWorld, iterations: u64) -> Duration {
    let mut spent = Duration::ZERO;
    for _ in 0..iterations {
        let burst = world.burst();
        let started = Instant::now();
        let _ = world.store.apply_messages(&burst).expect("apply");
        spent += started.elapsed();
    }
    spent
}

criterion_group!(benches, client_store, at_rest);
criterion_main!(benches);
