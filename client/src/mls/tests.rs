//! What a sealed entry shows of its length: two in-memory devices in one group, made
//! without a server, the first sealing and the second opening.

use ferry_proto::mls::{ClaimedKeyPackage, ClaimedKeyPackages, Device as Named, Welcome};
use ferry_proto::{WelcomeId, mls::SealedContent};

use super::*;

/// Alice's device and Bob's, in the group of `chat` that Alice made.
fn pair(chat: ConversationId) -> (Device, Device) {
    let (alice, bob, session) = (UserId::new(), UserId::new(), SessionId::new());
    let mut a = Device::in_memory(alice, SessionId::new());
    let mut b = Device::in_memory(bob, session);
    let claimed = ClaimedKeyPackages {
        key_packages: vec![ClaimedKeyPackage {
            device: Named {
                user_id: bob,
                session_id: session,
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
    (a, b)
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
        .set_configuration(a.provider.storage(), &unpadded)
        .expect("configured");
    let before: HashSet<usize> = sealed_lengths(&mut a, &mut b, chat).into_iter().collect();
    assert!(before.len() > 100, "unpadded, every length shows");
    // As after a restart: the group is read from the storage again.
    a.groups.clear();
    let after: HashSet<usize> = sealed_lengths(&mut a, &mut b, chat).into_iter().collect();
    assert!(after.len() <= 3, "padded again: {after:?}");
}
