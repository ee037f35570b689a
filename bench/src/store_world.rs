//! [`StoreWorld`]: a client's local store filled to a heavy user's size by [`fill`] (direct
//! chats with bodies of 8–16 words from a 5,000-word vocabulary), and what B10 and the
//! Criterion bench of the store do with it: open a random chat, search a random word, apply a
//! burst of 1,000 received messages as a catch-up page would, and take one message as it
//! arrives live. [`AtRest::Unencrypted`] fills a store without encryption at rest, only to
//! measure what that encryption costs.

use std::path::PathBuf;

use ferry_client::store::{DatabaseKey, LocalStore};
use ferry_proto::{
    Conversation, ConversationId, ConversationKind, Member, MemberState, Message, MessageId, Role,
    Timestamp, User, UserId,
};
use tempfile::TempDir;

use crate::rng::Rng;

/// Words that bodies are made of; search looks for one of them.
const WORDS: usize = 5_000;
/// Messages applied per transaction while filling the store.
const FILL_CHUNK: usize = 10_000;
/// Received messages in one [`StoreWorld::burst`].
pub const BURST: usize = 1_000;
/// Conversations a burst spreads over.
const BURST_CHATS: usize = 10;

/// Whether a [`StoreWorld`]'s database is encrypted at rest, as a device's always is.
#[derive(Clone, Copy, Debug)]
pub enum AtRest {
    /// As on a device: SQLCipher, under a random key.
    Encrypted,
    /// Plain SQLite: the comparison that shows what encryption costs.
    Unencrypted,
}

/// A filled store in a temporary directory (removed on drop).
pub struct StoreWorld {
    /// The store.
    pub store: LocalStore,
    /// Whose store it is.
    pub me: User,
    /// Their chats, each with one partner.
    pub chats: Vec<Conversation>,
    dir: TempDir,
    rng: Rng,
    /// The last message's time, in Unix milliseconds.
    time: i64,
    /// Each chat's highest seq so far.
    last_seqs: Vec<i64>,
    bursts: usize,
}

impl StoreWorld {
    /// `conversations` direct chats of `per_conversation` messages each, encrypted at rest.
    pub fn fill(conversations: usize, per_conversation: usize) -> anyhow::Result<Self> {
        Self::fill_as(conversations, per_conversation, AtRest::Encrypted)
    }

    /// [`Self::fill`], encrypted at rest or not.
    pub fn fill_as(
        conversations: usize,
        per_conversation: usize,
        at_rest: AtRest,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("store.db");
        let store = match at_rest {
            AtRest::Encrypted => LocalStore::open(&path, &DatabaseKey::generate()?)?,
            AtRest::Unencrypted => LocalStore::open_unencrypted(&path)?,
        };
        let mut rng = Rng::new(10);
        let me = user(UserId::new(), "me");
        let (chats, time) = fill(&store, &me, conversations, per_conversation, &mut rng)?;
        Ok(Self {
            store,
            last_seqs: vec![per_conversation as i64; chats.len()],
            me,
            chats,
            dir,
            rng,
            time,
            bursts: 0,
        })
    }

    /// The store's database file.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("store.db")
    }

    /// A chat picked at random.
    pub fn random_chat(&mut self) -> ConversationId {
        self.chats[self.rng.below(self.chats.len())].id
    }

    /// A word of the bodies' vocabulary, picked at random.
    pub fn random_word(&mut self) -> String {
        word(self.rng.below(WORDS))
    }

    /// The next [`BURST`] received messages: 100 new ones in each of 10 chats, the next
    /// 10 chats each time.
    pub fn burst(&mut self) -> Vec<Message> {
        let mut burst = Vec::with_capacity(BURST);
        for k in 0..BURST_CHATS {
            let i = (self.bursts * BURST_CHATS + k) % self.chats.len();
            for _ in 0..BURST / BURST_CHATS {
                self.time += 1;
                self.last_seqs[i] += 1;
                let m = message(&self.chats[i], self.last_seqs[i], self.time, &mut self.rng);
                burst.push(m);
            }
        }
        self.bursts += 1;
        burst
    }

    /// The next message received live, in a chat picked at random.
    pub fn arrival(&mut self) -> Message {
        let i = self.rng.below(self.chats.len());
        self.time += 1;
        self.last_seqs[i] += 1;
        message(&self.chats[i], self.last_seqs[i], self.time, &mut self.rng)
    }
}

/// Fills `store`, whose account is `me`, with `conversations` direct chats of
/// `per_conversation` messages each, all read, over the last 30 days: the chats, and the
/// last message's time. The desktop app's start-up benchmark (B12) fills a signed-in
/// account's own store with it.
pub fn fill(
    store: &LocalStore,
    me: &User,
    conversations: usize,
    per_conversation: usize,
    rng: &mut Rng,
) -> anyhow::Result<(Vec<Conversation>, i64)> {
    let start = Timestamp::now().as_millis() - 30 * 24 * 3600 * 1000;
    let chats: Vec<Conversation> = (0..conversations)
        .map(|i| {
            let partner = user(UserId::new(), &format!("partner{i}"));
            direct(me, partner, per_conversation as i64, start)
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
            messages.push(message(chat, seq, time, rng));
            if messages.len() == FILL_CHUNK {
                let _ = store.apply_messages(&messages)?;
                messages.clear();
            }
        }
    }
    let _ = store.apply_messages(&messages)?;
    Ok((chats, time))
}

fn user(id: UserId, name: &str) -> User {
    User {
        id,
        username: name.into(),
        display_name: name.into(),
        created_at: Timestamp::from_millis(0),
        status: None,
        picture: None,
    }
}

fn direct(me: &User, partner: User, last_seq: i64, at: i64) -> Conversation {
    let member = |user: User| Member {
        user,
        role: Role::Member,
        read_seq: last_seq,
        delivered_seq: last_seq,
        state: MemberState::Accepted,
        joined_at: Timestamp::from_millis(at),
    };
    Conversation {
        id: ConversationId::new(),
        kind: ConversationKind::Direct,
        title: None,
        members: vec![member(me.clone()), member(partner)],
        last_seq,
        last_message: None,
        unread_count: 0,
        history_from: None,
        mls_epoch: 0,
        notifications: None,
        created_at: Timestamp::from_millis(at),
        updated_at: Timestamp::from_millis(at),
    }
}

/// A message of 8–16 words; the sender alternates between the two members.
fn message(chat: &Conversation, seq: i64, at: i64, rng: &mut Rng) -> Message {
    let words = 8 + rng.below(9);
    let body: Vec<String> = (0..words).map(|_| word(rng.below(WORDS))).collect();
    Message::plain(
        MessageId::new(),
        chat.id,
        seq,
        chat.members[(seq % 2) as usize].user.id,
        body.join(" "),
        Timestamp::from_millis(at),
    )
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
