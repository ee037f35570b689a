//! A history fills in what this device could not open, whether the entries are here
//! already or come later, applies the changes among them, and never overrides what this
//! device read itself.

use ferry_proto::{ConversationId, Message, MessageId, Timestamp, UserId};
use serde_json::json;
use uuid::Uuid;

use crate::store::{DatabaseKey, LocalStore, OpenedEntry};

const CHAT: ConversationId = ConversationId(Uuid::from_u128(1));
const ALICE: UserId = UserId(Uuid::from_u128(2));

fn id(n: u128) -> MessageId {
    MessageId(Uuid::from_u128(100 + n))
}

/// An entry of the chat at `seq`: sealed (this device could not open it) or plain, with
/// a change if given.
fn entry(
    n: u128,
    seq: i64,
    body: &str,
    sealed: bool,
    change: Option<serde_json::Value>,
) -> Message {
    let mut m = json!({
        "id": id(n), "conversation_id": CHAT, "seq": seq, "sender_id": ALICE,
        "body": body, "created_at": Timestamp::from_millis(1_000 * seq),
    });
    if sealed {
        m["sealed"] = json!("AAAA");
    }
    if let Some(change) = change {
        m["change"] = change;
    }
    serde_json::from_value(m).expect("a message")
}

fn opened(n: u128, body: &str, emoji: Option<&str>) -> OpenedEntry {
    OpenedEntry {
        id: id(n),
        conversation_id: CHAT,
        body: body.into(),
        emoji: emoji.map(Into::into),
        attachments: Vec::new(),
    }
}

fn store() -> (tempfile::TempDir, LocalStore) {
    let dir = tempfile::tempdir().expect("dir");
    let store =
        LocalStore::open(&dir.path().join("s.db"), &DatabaseKey::new([7; 32])).expect("store");
    (dir, store)
}

/// What message `n` shows: its text, whether edited, its reactions, whether unreadable.
fn shown(store: &LocalStore, n: u128) -> (String, bool, Vec<String>, bool) {
    let m = store.message(ALICE, id(n)).expect("read").expect("held");
    let reactions = m.reactions.into_iter().map(|r| r.emoji).collect();
    (m.body, m.edited, reactions, m.unreadable)
}

#[test]
fn a_history_fills_in_what_could_not_be_opened_now_or_later() {
    let (_dir, store) = store();
    let edit = json!({"kind": "edit", "target": id(1)});
    let react = json!({"kind": "react", "target": id(1)});
    let _ = store
        .apply_messages(&[
            entry(1, 1, "", true, None),
            entry(2, 2, "", true, Some(edit)),
            entry(3, 3, "", true, Some(react)),
            entry(4, 4, "read here", false, None),
        ])
        .expect("apply");
    assert_eq!(shown(&store, 1), (String::new(), false, vec![], true));

    // The sender's copy: the message as last edited, the edit, the reaction; one entry
    // this device reads itself (which the history does not override), one not here yet.
    let history = [
        opened(5, "on a page not fetched yet", None),
        opened(4, "not what was read here", None),
        opened(3, "", Some("🎉")),
        opened(2, "new text", None),
        opened(1, "new text", None),
    ];
    let now = Timestamp::from_millis(9_000);
    let (changes, filled) = store.apply_history(&history, &[], now).expect("history");
    assert_eq!(filled, 3);
    assert!(changes.conversations.contains(&CHAT));
    assert_eq!(
        shown(&store, 1),
        ("new text".into(), true, vec!["🎉".into()], false)
    );
    assert_eq!(shown(&store, 4).0, "read here");

    // The entry on the older page comes: filled in as it is stored.
    let _ = store
        .apply_messages(&[entry(5, 5, "", true, None)])
        .expect("apply");
    assert_eq!(
        shown(&store, 5),
        ("on a page not fetched yet".into(), false, vec![], false)
    );
    let found = store.search("fetched", 5).expect("search");
    assert_eq!(found.len(), 1, "in the search index too");
}

#[test]
fn a_message_filled_in_keeps_a_newer_edit_read_here() {
    let (_dir, store) = store();
    // Sealed before this device joined; edited after, which it read.
    let _ = store
        .apply_messages(&[
            entry(1, 1, "", true, None),
            entry(
                2,
                2,
                "the newest text",
                false,
                Some(json!({"kind": "edit", "target": id(1)})),
            ),
        ])
        .expect("apply");
    let _ = store
        .apply_history(
            &[opened(1, "the first text", None)],
            &[],
            Timestamp::from_millis(1),
        )
        .expect("history");
    assert_eq!(
        shown(&store, 1),
        ("the newest text".into(), true, vec![], false)
    );
}

#[test]
fn an_opened_message_takes_the_edits_read_before_or_after_it() {
    // The engine sets aside the server's `edit_seq` of a sealed message (it names a sealed
    // edit), so the message comes as first written, in either order with its edit.
    let edit = || json!({"kind": "edit", "target": id(1)});
    for message_first in [true, false] {
        let (_dir, store) = store();
        let message = entry(1, 1, "as first written", false, None);
        let edit = entry(2, 2, "as edited", false, Some(edit()));
        let batches = if message_first {
            [message, edit]
        } else {
            [edit, message]
        };
        for batch in batches {
            let _ = store.apply_messages(&[batch]).expect("apply");
        }
        assert_eq!(
            shown(&store, 1),
            ("as edited".into(), true, vec![], false),
            "message first: {message_first}"
        );
    }
}
