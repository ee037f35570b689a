//! What a sealed entry shows of its length, that it opens only in the name of the member
//! who sealed it, and that a device's MLS state is saved whole though a flush after
//! sealing or opening compares only the group's part (and after reading a group already
//! held, nothing): in-memory devices in groups made without a server, one sealing and
//! the other opening.

use ferry_proto::mls::{ClaimedKeyPackage, ClaimedKeyPackages, Device as Named, Welcome};
use ferry_proto::{WelcomeId, mls::SealedContent};

use super::*;
use crate::store::DatabaseKey;

/// The key of the databases here: any fixed key does for a test.
const KEY: DatabaseKey = DatabaseKey::new([7; 32]);

/// Alice's device and Bob's, in the group of `chat` that Alice made.
fn pair(chat: ConversationId) -> (Device, Device) {
    let bob = UserId::new();
    let mut a = Device::in_memory(UserId::new(), SessionId::new());
    let mut b = Device::in_memory(bob, SessionId::new());
    group(&mut a, (&mut b, bob), chat);
    (a, b)
}

/// Makes the group of `chat`: `a` adds `b` (of user `bob`), who joins by the welcome.
fn group(a: &mut Device, (b, bob): (&mut Device, UserId), chat: ConversationId) {
    let claimed = ClaimedKeyPackages {
        key_packages: vec![ClaimedKeyPackage {
            device: Named {
                user_id: bob,
                session_id: b.session,
            },
            key_package: b.key_packages(1, false).expect("a key package").remove(0),
        }],
        without_keys: Vec::new(),
    };
    let commit = a.create(chat, &claimed).expect("a group");
    a.committed(chat).expect("merged");
    b.join(&Welcome {
        id: WelcomeId::new(),
        conversation_id: chat,
        epoch: 1,
        welcome: commit.welcome.expect("a welcome"),
    })
    .expect("joined");
}

/// The lengths of the entries Alice seals for bodies of 1 to 300 characters, each
/// opened by Bob to the body it carries.
fn sealed_lengths(a: &mut Device, b: &mut Device, chat: ConversationId) -> Vec<usize> {
    (1..=300)
        .map(|n| {
            let content = SealedContent {
                body: "x".repeat(n),
                ..SealedContent::default()
            };
            let sealed = a.seal(chat, &content).expect("seal").expect("in the group");
            assert_eq!(b.unseal(chat, &sealed).expect("open"), content);
            sealed.0.len()
        })
        .collect()
}

#[test]
fn a_sealed_entry_shows_its_length_only_to_within_the_padding() {
    let chat = ConversationId::new();
    let (mut a, mut b) = pair(chat);
    let lengths: HashSet<usize> = sealed_lengths(&mut a, &mut b, chat).into_iter().collect();
    // 300 lengths of body fall into two or three blocks, each PADDING apart.
    let mut lengths: Vec<usize> = lengths.into_iter().collect();
    lengths.sort_unstable();
    assert!(lengths.len() <= 3, "{lengths:?}");
    assert!(
        lengths.windows(2).all(|w| w[1] - w[0] == PADDING),
        "{lengths:?}"
    );
}

#[test]
fn an_entry_opens_only_in_the_name_of_the_member_who_sealed_it() {
    let chat = ConversationId::new();
    let (alice, bob) = (UserId::new(), UserId::new());
    let mut a = Device::in_memory(alice, SessionId::new());
    let mut b = Device::in_memory(bob, SessionId::new());
    group(&mut a, (&mut b, bob), chat);
    let content = SealedContent {
        body: "from alice".into(),
        ..SealedContent::default()
    };
    let sealed = a.seal(chat, &content).expect("seal").expect("in the group");
    assert_eq!(
        b.unseal_from(chat, &sealed, alice).expect("open"),
        Some(content.clone())
    );
    // The server says someone else sent what Alice sealed: not opened in their name.
    let sealed = a.seal(chat, &content).expect("seal").expect("in the group");
    assert_eq!(
        b.unseal_from(chat, &sealed, UserId::new()).expect("open"),
        None
    );
}

#[test]
fn a_group_stored_before_padding_pads_once_read_again() {
    let chat = ConversationId::new();
    let (mut a, mut b) = pair(chat);
    let unpadded = MlsGroupJoinConfig::builder()
        .use_ratchet_tree_extension(true)
        .max_past_epochs(MAX_PAST_EPOCHS)
        .build();
    a.groups
        .get_mut(&chat)
        .expect("the group")
        .set_configuration(a.state.any().storage(), &unpadded)
        .expect("configured");
    let before: HashSet<usize> = sealed_lengths(&mut a, &mut b, chat).into_iter().collect();
    assert!(before.len() > 100, "unpadded, every length shows");
    // As after a restart: the group is read from the storage again.
    a.groups.clear();
    let after: HashSet<usize> = sealed_lengths(&mut a, &mut b, chat).into_iter().collect();
    assert!(after.len() <= 3, "padded again: {after:?}");
}

/// The MLS state a store holds.
fn stored(store: &LocalStore) -> HashMap<Vec<u8>, Vec<u8>> {
    store.mls_state().expect("read").into_iter().collect()
}

/// How many of the device's pairs its store lacks, holds otherwise, or holds but the
/// device no longer does.
fn unsaved(device: &Device, store: &LocalStore) -> usize {
    let (saved, now) = (stored(store), device.state.pairs());
    let keys: HashSet<&Vec<u8>> = saved.keys().chain(now.keys()).collect();
    keys.into_iter()
        .filter(|k| saved.get(*k) != now.get(*k))
        .count()
}

#[test]
fn a_flush_after_sealing_and_opening_saves_all_that_changed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let open = |name: &str| LocalStore::open(&dir.path().join(name), &KEY).expect("a store");
    let (a_store, b_store) = (open("a.db"), open("b.db"));
    let chats: Vec<ConversationId> = (0..4).map(|_| ConversationId::new()).collect();
    let bob = UserId::new();
    let mut a = Device::in_memory(UserId::new(), SessionId::new());
    let mut b = Device::in_memory(bob, SessionId::new());
    for chat in &chats {
        group(&mut a, (&mut b, bob), *chat);
    }
    a.flush(&a_store).expect("saved");
    b.flush(&b_store).expect("saved");
    let before = stored(&a_store);
    assert_eq!(unsaved(&a, &a_store), 0);

    // Both ways, in two of the four groups, each step saved as the engine does.
    for (i, chat) in chats[1..3].iter().enumerate() {
        for n in 0..3 {
            let content = SealedContent {
                body: format!("{i}.{n}"),
                ..SealedContent::default()
            };
            let sealed = a.seal(*chat, &content).expect("seal").expect("in it");
            a.flush(&a_store).expect("saved");
            assert_eq!(b.unseal(*chat, &sealed).expect("open"), content);
            b.flush(&b_store).expect("saved");
            let sealed = b.seal(*chat, &content).expect("seal").expect("in it");
            b.flush(&b_store).expect("saved");
            assert_eq!(a.unseal(*chat, &sealed).expect("open"), content);
            a.flush(&a_store).expect("saved");
        }
    }
    assert!(
        stored(&a_store) != before,
        "sealing and opening moved the state on"
    );
    assert_eq!(unsaved(&a, &a_store), 0, "pairs of Alice's left unsaved");
    assert_eq!(unsaved(&b, &b_store), 0, "pairs of Bob's left unsaved");
}

#[test]
fn reading_a_group_already_held_leaves_the_flush_nothing_to_compare() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LocalStore::open(&dir.path().join("a.db"), &KEY).expect("a store");
    let chat = ConversationId::new();
    let (mut a, _b) = pair(chat);
    a.flush(&store).expect("saved");
    assert_eq!(a.state.marked(), Some(0));
    assert!(a.epoch(chat).expect("read").is_some());
    assert!(a.members(chat).expect("read").is_some());
    assert_eq!(a.state.marked(), Some(0), "a group held is only read");
    // As after a restart: read from the storage, which may re-configure it.
    a.groups.clear();
    assert!(a.epoch(chat).expect("read").is_some());
    assert_eq!(a.state.marked(), Some(1));
    a.flush(&store).expect("saved");
    assert_eq!(unsaved(&a, &store), 0);
}
