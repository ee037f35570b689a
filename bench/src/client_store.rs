//! B10: the client's local store at the size of a heavy user's, in process (no server):
//! 10k conversations and 1M messages (1k and 100k with `--quick`), then the reads the
//! app makes all the time (the conversation list, opening a conversation, full-text
//! search) and applying a burst of 1,000 received messages, each timed one by one. It is
//! a scenario of the generator rather than a Criterion bench because its targets are
//! p99s, which Criterion does not report.

use std::time::Instant;

use ferry_client::store::LocalStore;
use ferry_proto::{Conversation, ConversationKind, Member, Message, Role, Timestamp, User};
use hdrhistogram::Histogram;
use uuid::Uuid;

use crate::report::Outcome;
use crate::setup::Rng;
use crate::wire::Target;

/// Words that bodies are made of; search looks for one of them.
const WORDS: usize = 5_000;
/// Messages applied per transaction while filling the store.
const FILL_CHUNK: usize = 10_000;
/// Received messages applied in one go, as a catch-up page would.
const BURST: usize = 1_000;

/// Runs B10 in a blocking thread (the store is synchronous, as the app uses it).
pub async fn b10(quick: bool) -> anyhow::Result<Outcome> {
    tokio::task::spawn_blocking(move || run(quick)).await?
}

fn run(quick: bool) -> anyhow::Result<Outcome> {
    let (conversations, per_conversation) = if quick { (1_000, 100) } else { (10_000, 100) };
    let mut o = Outcome::new("B10", Target::Ferry);
    o.param("conversations", conversations as f64);
    o.param("messages", (conversations * per_conversation) as f64);
    let dir = tempfile::tempdir()?;
    let store = LocalStore::open(&dir.path().join("store.db"))?;
    let mut rng = Rng::new(10);
    let me = user(Uuid::now_v7(), "me");
    let start = Timestamp::now().as_millis() - 30 * 24 * 3600 * 1000;

    let filling = Instant::now();
    let chats: Vec<Conversation> = (0..conversations)
        .map(|i| {
            let partner = user(Uuid::now_v7(), &format!("partner{i}"));
            direct(&me, partner, per_conversation as i64, start)
        })
        .collect();
    for page in chats.chunks(1_000) {
        store.apply_conversations(me.id, page)?;
    }
    let mut messages = Vec::with_capacity(FILL_CHUNK);
    let mut time = start;
    for seq in 1..=per_conversation as i64 {
        for chat in &chats {
            time += 1;
            messages.push(message(chat, seq, time, &mut rng));
            if messages.len() == FILL_CHUNK {
                store.apply_messages(&messages)?;
                messages.clear();
            }
        }
    }
    store.apply_messages(&messages)?;
    o.figure("fill_secs", filling.elapsed().as_secs_f64());
    o.figure(
        "store_mib",
        std::fs::metadata(dir.path().join("store.db"))?.len() as f64 / (1024.0 * 1024.0),
    );

    let mut list = micros();
    for _ in 0..1_000 {
        let t = Instant::now();
        let top = store.conversations(me.id, 50)?;
        list.record(t.elapsed().as_micros() as u64)?;
        anyhow::ensure!(top.len() == 50, "the list has {} conversations", top.len());
    }
    o.latency("conversation list (top 50)", &list);

    let mut open = micros();
    for _ in 0..1_000 {
        let chat = &chats[rng.below(chats.len())];
        let t = Instant::now();
        let page = store.messages(me.id, chat.id, None, 50)?;
        open.record(t.elapsed().as_micros() as u64)?;
        anyhow::ensure!(page.len() == 50, "a page of {} messages", page.len());
    }
    o.latency("open conversation (latest 50)", &open);

    let mut search = micros();
    let mut found = 0;
    for _ in 0..200 {
        let word = word(rng.below(WORDS));
        let t = Instant::now();
        found += store.search(&word, 20)?.len();
        search.record(t.elapsed().as_micros() as u64)?;
    }
    anyhow::ensure!(found > 0, "search found nothing");
    o.latency("full-text search (top 20)", &search);

    // Bursts of received messages: 100 new ones in each of 10 conversations.
    let mut apply = micros();
    let mut next_seq = per_conversation as i64;
    for round in 0..20 {
        next_seq += 1;
        let mut burst = Vec::with_capacity(BURST);
        for k in 0..10 {
            let chat = &chats[(round * 10 + k) % chats.len()];
            for i in 0..(BURST / 10) as i64 {
                time += 1;
                burst.push(message(chat, next_seq + i, time, &mut rng));
            }
        }
        let t = Instant::now();
        store.apply_messages(&burst)?;
        apply.record(t.elapsed().as_micros() as u64)?;
        next_seq += (BURST / 10) as i64 - 1;
    }
    o.latency("apply 1,000 received messages", &apply);
    Ok(o)
}

fn micros() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

fn user(id: Uuid, name: &str) -> User {
    User {
        id,
        username: name.into(),
        display_name: name.into(),
        created_at: Timestamp::from_millis(0),
    }
}

fn direct(me: &User, partner: User, last_seq: i64, at: i64) -> Conversation {
    let member = |user: User| Member {
        user,
        role: Role::Member,
        read_seq: last_seq,
        delivered_seq: last_seq,
        joined_at: Timestamp::from_millis(at),
    };
    Conversation {
        id: Uuid::now_v7(),
        kind: ConversationKind::Direct,
        title: None,
        members: vec![member(me.clone()), member(partner)],
        last_seq,
        last_message: None,
        unread_count: 0,
        created_at: Timestamp::from_millis(at),
        updated_at: Timestamp::from_millis(at),
    }
}

/// A message of 8–16 words; the sender alternates between the two members.
fn message(chat: &Conversation, seq: i64, at: i64, rng: &mut Rng) -> Message {
    let words = 8 + rng.below(9);
    let body: Vec<String> = (0..words).map(|_| word(rng.below(WORDS))).collect();
    Message {
        id: Uuid::now_v7(),
        conversation_id: chat.id,
        seq,
        sender_id: chat.members[(seq % 2) as usize].user.id,
        body: body.join(" "),
        created_at: Timestamp::from_millis(at),
    }
}

/// The `i`th word of the vocabulary: pronounceable, distinct, 4 to 9 letters.
fn word(i: usize) -> String {
    const SYLLABLES: [&str; 16] = [
        "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ba", "de", "fu", "go", "hi", "ja", "pe",
        "zu",
    ];
    let mut n = i + WORDS;
    let mut out = String::new();
    while n > 0 {
        out.push_str(SYLLABLES[n % 16]);
        n /= 16;
    }
    out
}
