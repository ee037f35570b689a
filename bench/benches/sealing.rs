//! Criterion benches of what end-to-end encryption costs a device per message (issue 31):
//! sealing a send and opening an entry with the client core's own MLS code
//! (`ferry_client::mls::Device`), each followed, as in the client core, by writing what
//! changed in the MLS state to the device's SQLite store (`Device::flush`, a committed
//! transaction). In a direct chat, in a group of 100, and in a direct chat of a device
//! that is in 200 groups (the state it keeps grows with its groups). No server: the
//! groups are made between the devices directly, as the delivery service would pass
//! their key packages and welcomes on.

// criterion_group! defines a public function without documentation.
#![allow(missing_docs)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ferry_client::mls::Device;
use ferry_client::store::{DatabaseKey, LocalStore};
use ferry_proto::mls::{
    ClaimedKeyPackage, ClaimedKeyPackages, Device as Named, MlsBytes, SealedContent, Welcome,
};
use ferry_proto::{ConversationId, SessionId, UserId, WelcomeId};

/// A device with its own store.
struct Member {
    device: Device,
    store: LocalStore,
    named: Named,
    _dir: tempfile::TempDir,
}

impl Member {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = LocalStore::open(&dir.path().join("store.db"), &DatabaseKey::new([7; 32]))
            .expect("a store");
        let named = Named {
            user_id: UserId::new(),
            session_id: SessionId::new(),
        };
        Self {
            device: Device::in_memory(named.user_id, named.session_id),
            store,
            named,
            _dir: dir,
        }
    }

    fn flush(&mut self) {
        self.device.flush(&self.store).expect("saved");
    }
}

/// Makes `chat`'s group: `creator` adds every one of `others`, who join by the welcome.
fn group(chat: ConversationId, creator: &mut Member, others: &mut [&mut Member]) {
    let key_packages = others
        .iter_mut()
        .map(|m| {
            let package = m.device.key_packages(1, false).expect("a key package");
            m.flush();
            ClaimedKeyPackage {
                device: m.named,
                key_package: package.into_iter().next().expect("one"),
            }
        })
        .collect();
    let claimed = ClaimedKeyPackages {
        key_packages,
        without_keys: Vec::new(),
    };
    let commit = creator.device.create(chat, &claimed).expect("a group");
    creator.device.committed(chat).expect("merged");
    creator.flush();
    let welcome = Welcome {
        id: WelcomeId::new(),
        conversation_id: chat,
        epoch: 1,
        welcome: commit.welcome.expect("a welcome"),
    };
    for m in others {
        m.device.join(&welcome).expect("joined");
        m.flush();
    }
}

/// A chat line like the benchmarks' (~90 bytes).
fn content(i: u64) -> SealedContent {
    SealedContent {
        body: format!(
            "{i} lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod"
        ),
        ..SealedContent::default()
    }
}

fn seal(m: &mut Member, chat: ConversationId, i: u64) -> MlsBytes {
    let sealed = m
        .device
        .seal(chat, &content(i))
        .expect("sealed")
        .expect("in the group");
    m.flush();
    sealed
}

/// Benches sealing by `a` and opening by `a` of what `b` sealed (untimed) in `chat`: each
/// direction's ratchet moves in order, as in a conversation.
fn seal_and_open(
    c: &mut Criterion,
    name: &str,
    chat: ConversationId,
    a: &mut Member,
    b: &mut Member,
) {
    let mut i = 0;
    c.bench_function(&format!("seal and save: {name}"), |bench| {
        bench.iter(|| {
            i += 1;
            seal(a, chat, i)
        })
    });
    c.bench_function(&format!("open and save: {name}"), |bench| {
        bench.iter_batched(
            || {
                i += 1;
                seal(b, chat, i)
            },
            |sealed| {
                let opened = a.device.unseal(chat, &sealed).expect("opened");
                a.flush();
                opened
            },
            BatchSize::SmallInput,
        )
    });
}

fn sealing(c: &mut Criterion) {
    // A direct chat.
    let (mut alice, mut bob) = (Member::new(), Member::new());
    let direct = ConversationId::new();
    group(direct, &mut alice, &mut [&mut bob]);
    seal_and_open(c, "a direct chat", direct, &mut alice, &mut bob);

    // A group of 100.
    let mut others: Vec<Member> = (0..99).map(|_| Member::new()).collect();
    let hundred = ConversationId::new();
    let mut creator = Member::new();
    {
        let mut refs: Vec<&mut Member> = others.iter_mut().collect();
        group(hundred, &mut creator, &mut refs);
    }
    seal_and_open(c, "a group of 100", hundred, &mut creator, &mut others[0]);

    // A direct chat of two devices that are in 200 groups (of 5) besides.
    let (mut carol, mut dave) = (Member::new(), Member::new());
    let mut friends: Vec<Member> = (0..3).map(|_| Member::new()).collect();
    for _ in 0..200 {
        let chat = ConversationId::new();
        let [f0, f1, f2] = &mut friends[..] else {
            unreachable!("three friends")
        };
        group(chat, &mut carol, &mut [&mut dave, f0, f1, f2]);
    }
    let direct = ConversationId::new();
    group(direct, &mut carol, &mut [&mut dave]);
    seal_and_open(
        c,
        "a direct chat of devices in 200 groups",
        direct,
        &mut carol,
        &mut dave,
    );
}

criterion_group!(benches, sealing);
criterion_main!(benches);
