//! Property: any interleaving of local sends, live frames, duplicates, acks and catch-up
//! pages leaves the store exactly as applying the server's history once, in order.

use ferry_client::LocalStore;
use ferry_client::store::DatabaseKey;
use ferry_proto::{ConversationId, Message, MessageId, Timestamp, UserId};
use proptest::prelude::*;

/// The key of the databases here: any fixed key does for a test.
const KEY: DatabaseKey = DatabaseKey::new([7; 32]);

/// One step of what can reach a device.
#[derive(Clone, Debug)]
enum Step {
    /// This device composes its message `i` (always before anything about it arrives).
    Compose(usize),
    /// Message `i` arrives live (or again: a duplicate).
    Live(usize),
    /// Messages `from..to` arrive as one catch-up page.
    Page(usize, usize),
    /// This device's send of message `i` is acknowledged.
    Ack(usize),
}

struct History {
    me: UserId,
    messages: Vec<Message>,
    mine: Vec<bool>,
}

fn history(len: usize, mine: Vec<bool>) -> History {
    let me = UserId::from_u128(1);
    let other = UserId::from_u128(2);
    let conversations = [ConversationId::from_u128(10), ConversationId::from_u128(11)];
    let mut seqs = [0i64; 2];
    let messages = (0..len)
        .map(|i| {
            let c = i % 2;
            seqs[c] += 1;
            Message::plain(
                MessageId::from_u128(1000 + i as u128),
                conversations[c],
                seqs[c],
                if mine[i] { me } else { other },
                format!("message {i}"),
                Timestamp::from_millis(1_700_000_000_000 + i as i64),
            )
        })
        .collect();
    History { me, messages, mine }
}

/// A random schedule in which every message arrives at least once (mine are composed
/// first, then acked or seen on the wire), with duplicates and overlapping pages.
fn schedule() -> impl Strategy<Value = (usize, Vec<bool>, Vec<Step>)> {
    (1usize..24).prop_flat_map(|len| {
        (
            Just(len),
            prop::collection::vec(any::<bool>(), len),
            prop::collection::vec((0..len, 0..len, 0u8..4), 0..40),
        )
            .prop_flat_map(|(len, mine, extra)| {
                let mut steps = Vec::new();
                for (i, m) in mine.iter().enumerate() {
                    if *m {
                        steps.push(Step::Compose(i));
                    }
                    steps.push(if *m && i % 3 == 0 {
                        Step::Ack(i)
                    } else {
                        Step::Live(i)
                    });
                }
                for (a, b, kind) in extra {
                    steps.push(match kind {
                        0 => Step::Live(a),
                        1 => Step::Page(a.min(b), a.max(b) + 1),
                        2 if mine[a] => Step::Ack(a),
                        _ => Step::Live(b),
                    });
                }
                (Just(len), Just(mine), Just(steps).prop_shuffle())
            })
    })
}

/// Moves every compose before the first step that mentions its message.
fn causal(steps: Vec<Step>) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    let mut composed = std::collections::HashSet::new();
    let composes: std::collections::HashSet<usize> = steps
        .iter()
        .filter_map(|s| {
            if let Step::Compose(i) = s {
                Some(*i)
            } else {
                None
            }
        })
        .collect();
    let mut ensure = |i: usize, out: &mut Vec<Step>| {
        if composes.contains(&i) && composed.insert(i) {
            out.push(Step::Compose(i));
        }
    };
    for step in steps {
        match step {
            Step::Compose(i) => ensure(i, &mut out),
            Step::Live(i) | Step::Ack(i) => {
                ensure(i, &mut out);
                out.push(step);
            }
            Step::Page(a, b) => {
                for i in a..b {
                    ensure(i, &mut out);
                }
                out.push(step);
            }
        }
    }
    out
}

fn snapshot(
    store: &LocalStore,
    me: UserId,
    conversations: &[ConversationId],
) -> Vec<(MessageId, Option<i64>, String, bool)> {
    conversations
        .iter()
        .flat_map(|c| store.messages(me, *c, None, u32::MAX).expect("read"))
        .map(|m| (m.id, m.seq, m.body, m.mine))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn any_interleaving_converges((len, mine, steps) in schedule()) {
        let h = history(len, mine);
        let conversations = [ConversationId::from_u128(10), ConversationId::from_u128(11)];
        let dir = tempfile::tempdir().expect("dir");

        let reference = LocalStore::open(&dir.path().join("reference.db"), &KEY).expect("open");
        let _ = reference.apply_messages(&h.messages).expect("apply");

        let device = LocalStore::open(&dir.path().join("device.db"), &KEY).expect("open");
        for step in causal(steps) {
            match step {
                Step::Compose(i) => {
                    let m = &h.messages[i];
                    device.compose(h.me, m.id, m.conversation_id, &m.body, None, m.created_at).expect("compose");
                }
                Step::Live(i) => { let _ = device.apply_messages(std::slice::from_ref(&h.messages[i])).expect("live"); }
                Step::Page(a, b) => { let _ = device.apply_messages(&h.messages[a..b]).expect("page"); }
                Step::Ack(i) => {
                    let m = &h.messages[i];
                    let _ = device.confirm(m.id, m.conversation_id, m.seq, m.created_at).expect("ack");
                }
            }
        }
        prop_assert_eq!(snapshot(&device, h.me, &conversations), snapshot(&reference, h.me, &conversations));
        prop_assert_eq!(device.outbox_len().expect("outbox"), 0);
        let _ = &h.mine;
    }
}

/// An own message acked at seq N says nothing about N-1: the contiguous watermark (what
/// catch-up and gap filling start from) stays below the gap until it is filled.
#[test]
fn an_own_message_acked_above_a_gap_does_not_hide_it() {
    use ferry_proto::{Conversation, ConversationKind, Member, MemberState, Role, User};
    let dir = tempfile::tempdir().expect("dir");
    let store = LocalStore::open(&dir.path().join("device.db"), &KEY).expect("open");
    let h = history(4, vec![false, false, false, false]);
    let conversation = h.messages[0].conversation_id;
    let member = |id: UserId| Member {
        user: User {
            id,
            username: format!("u{id}"),
            display_name: "U".into(),
            created_at: Timestamp::from_millis(0),
            status: None,
            picture: None,
        },
        role: Role::Member,
        read_seq: 0,
        delivered_seq: 0,
        state: MemberState::Accepted,
        joined_at: Timestamp::from_millis(0),
    };
    store
        .apply_conversation(
            h.me,
            &Conversation {
                id: conversation,
                kind: ConversationKind::Direct,
                title: None,
                members: vec![member(h.me), member(UserId::from_u128(2))],
                last_seq: 0,
                last_message: None,
                unread_count: 0,
                history_from: None,
                mls_epoch: 0,
                notifications: None,
                created_at: Timestamp::from_millis(0),
                updated_at: Timestamp::from_millis(0),
            },
        )
        .expect("conversation");
    // Conversation 10 holds messages 0 and 2 of the history (seqs 1 and 2).
    let (first, second) = (&h.messages[0], &h.messages[2]);
    let _ = store
        .apply_messages(std::slice::from_ref(first))
        .expect("seq 1");
    assert_eq!(store.contiguous_seq(conversation).expect("read"), 1);
    let mine = MessageId::new();
    store
        .compose(h.me, mine, conversation, "mine", None, Timestamp::now())
        .expect("compose");
    let _ = store
        .confirm(mine, conversation, 3, Timestamp::now())
        .expect("acked at 3");
    assert_eq!(
        store.contiguous_seq(conversation).expect("read"),
        1,
        "seq 2 is still missing"
    );
    let _ = store
        .apply_messages(std::slice::from_ref(second))
        .expect("seq 2 arrives");
    assert_eq!(
        store.contiguous_seq(conversation).expect("read"),
        3,
        "the gap closed"
    );
}
