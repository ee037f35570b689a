//! B10: the client's local store at the size of a heavy user's, in process (no server):
//! 10k conversations and 1M messages (1k and 100k with `--quick`), then the reads the
//! app makes all the time (the conversation list, opening a conversation, full-text
//! search) and applying a burst of 1,000 received messages, each timed one by one. It is
//! a scenario of the generator because its targets are p99s, which Criterion does not
//! report; `benches/client_store.rs` times the same operations under Criterion.

use std::time::Instant;

use ferry_bench::store_world::StoreWorld;
use hdrhistogram::Histogram;

use crate::report::Outcome;
use crate::wire::Target;

/// Runs B10 in a blocking thread (the store is synchronous, as the app uses it).
pub async fn b10(quick: bool) -> anyhow::Result<Outcome> {
    tokio::task::spawn_blocking(move || run(quick)).await?
}

fn run(quick: bool) -> anyhow::Result<Outcome> {
    let (conversations, per_conversation) = if quick { (1_000, 100) } else { (10_000, 100) };
    let mut o = Outcome::new("B10", Target::Ferry);
    o.param("conversations", conversations as f64);
    o.param("messages", (conversations * per_conversation) as f64);
    let filling = Instant::now();
    let mut world = StoreWorld::fill(conversations, per_conversation)?;
    o.figure("fill_secs", filling.elapsed().as_secs_f64());
    o.figure(
        "store_mib",
        std::fs::metadata(world.path())?.len() as f64 / (1024.0 * 1024.0),
    );
    let store = &world.store;
    let me = world.me.id;

    let mut list = micros();
    for _ in 0..1_000 {
        let t = Instant::now();
        let top = store.conversations(me, None, 50)?;
        list.record(t.elapsed().as_micros() as u64)?;
        anyhow::ensure!(top.len() == 50, "the list has {} conversations", top.len());
    }
    o.latency("conversation list (top 50)", &list);

    let mut open = micros();
    for _ in 0..1_000 {
        let chat = world.random_chat();
        let t = Instant::now();
        let page = world.store.messages(me, chat, None, 50)?;
        open.record(t.elapsed().as_micros() as u64)?;
        anyhow::ensure!(page.len() == 50, "a page of {} messages", page.len());
    }
    o.latency("open conversation (latest 50)", &open);

    let mut search = micros();
    let mut found = 0;
    for _ in 0..200 {
        let word = world.random_word();
        let t = Instant::now();
        found += world.store.search(&word, 20)?.len();
        search.record(t.elapsed().as_micros() as u64)?;
    }
    anyhow::ensure!(found > 0, "search found nothing");
    o.latency("full-text search (top 20)", &search);

    let mut apply = micros();
    for _ in 0..20 {
        let burst = world.burst();
        let t = Instant::now();
        let _ = world.store.apply_messages(&burst)?;
        apply.record(t.elapsed().as_micros() as u64)?;
    }
    o.latency("apply 1,000 received messages", &apply);
    Ok(o)
}

fn micros() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}
