//! The conversation list as the desktop app reads it from the store alone: paged with
//! `after` (no conversation missed or repeated, ties in activity time included), and the
//! per-conversation unread counts the unread total starts from, which must agree with
//! the summaries the list shows, and what a summary says of its encryption.

use ferry_client::ListPosition;
use ferry_client::store::{DatabaseKey, LocalStore};
use ferry_proto::{
    Conversation, ConversationId, ConversationKind, Member, MemberState, Message, MessageId,
    NotifyLevel, Role, Timestamp, User, UserId,
};

/// The key of the databases here: any fixed key does for a test.
const KEY: DatabaseKey = DatabaseKey::new([7; 32]);

fn user(n: u128) -> User {
    User {
        id: UserId::from_u128(n),
        username: format!("user{n}"),
        display_name: format!("User {n}"),
        created_at: Timestamp::from_millis(0),
        status: None,
        picture: None,
    }
}

/// A direct chat with `last_seq` messages, `read` of them read by `me`, last active at
/// `active` (several chats share a time, so the id must break ties).
fn chat(me: &User, n: u128, last_seq: i64, read: i64, active: i64) -> Conversation {
    let member = |user: User, read_seq| Member {
        user,
        role: Role::Member,
        read_seq,
        delivered_seq: last_seq,
        state: MemberState::Accepted,
        joined_at: Timestamp::from_millis(0),
    };
    Conversation {
        id: ConversationId::from_u128(1_000 + n),
        kind: ConversationKind::Direct,
        title: None,
        members: vec![member(me.clone(), read), member(user(100 + n), last_seq)],
        last_seq,
        last_message: None,
        unread_count: 0,
        history_from: None,
        mls_epoch: 0,
        notifications: None,
        created_at: Timestamp::from_millis(0),
        updated_at: Timestamp::from_millis(active),
    }
}

fn messages(c: &Conversation) -> Vec<Message> {
    (1..=c.last_seq)
        .map(|seq| {
            Message::plain(
                MessageId::new(),
                c.id,
                seq,
                c.members[1].user.id,
                format!("message {seq}"),
                c.updated_at,
            )
        })
        .collect()
}

/// 23 chats: activity times in 8 groups of ties; chat n has n % 5 messages, n % 3 of
/// them read (never more than it has).
fn filled() -> (tempfile::TempDir, LocalStore, User) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LocalStore::open(&dir.path().join("store.db"), &KEY).expect("open store");
    let me = user(1);
    for n in 0..23u128 {
        let last_seq = (n % 5) as i64;
        let c = chat(
            &me,
            n,
            last_seq,
            ((n % 3) as i64).min(last_seq),
            (n % 8) as i64,
        );
        store.apply_conversation(me.id, &c).expect("apply chat");
        let _ = store.apply_messages(&messages(&c)).expect("apply messages");
    }
    (dir, store, me)
}

#[test]
fn pages_walk_the_whole_list_once_in_order() {
    let (_dir, store, me) = filled();
    let whole: Vec<ConversationId> = store
        .conversations(me.id, None, 1_000)
        .expect("whole list")
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(whole.len(), 23);

    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store.conversations(me.id, after, 5).expect("page");
        assert!(page.len() <= 5);
        let Some(last) = page.last() else { break };
        after = Some(ListPosition::from(last));
        paged.extend(page.iter().map(|c| c.id));
    }
    assert_eq!(paged, whole, "pages joined are the list, in its order");

    // A row of page 1 becomes active again before page 2 is read: page 2 still starts
    // below where page 1 ended, not below where that row stands now.
    let page1 = store.conversations(me.id, None, 5).expect("page 1");
    let moved = page1[2].id;
    let busier = chat(&me, moved.as_uuid().as_u128() - 1_000, 9, 0, 100);
    store.apply_conversation(me.id, &busier).expect("activity");
    let page2 = store
        .conversations(me.id, Some(ListPosition::from(&page1[4])), 5)
        .expect("page 2");
    assert_eq!(
        page2.iter().map(|c| c.id).collect::<Vec<_>>(),
        whole[5..10],
        "the next five, with no repeat of page 1"
    );
}

#[test]
fn unread_counts_agree_with_the_summaries() {
    let (_dir, store, me) = filled();
    // Chats that notify of nothing do not count; a chat read on this device (not yet told
    // to the server) counts as read.
    store
        .set_notifications(ConversationId::from_u128(1_004), NotifyLevel::Nothing)
        .expect("silence chat 4");
    store
        .mark_read_locally(ConversationId::from_u128(1_009))
        .expect("read chat 9 here");

    let mut expected: Vec<(ConversationId, i64)> = store
        .conversations(me.id, None, 1_000)
        .expect("list")
        .into_iter()
        .filter(|c| c.notify != NotifyLevel::Nothing && c.unread_count > 0)
        .map(|c| (c.id, c.unread_count))
        .collect();
    let mut counts = store.unread_counts(me.id).expect("unread counts");
    expected.sort();
    counts.sort();
    assert_eq!(counts, expected);
    // Chat 4 (4 messages, 1 read) notifies of nothing, chat 9 (4, 0 read) read here: neither counts.
    assert!(
        !counts
            .iter()
            .any(|(id, _)| *id == ConversationId::from_u128(1_004))
    );
    assert!(
        !counts
            .iter()
            .any(|(id, _)| *id == ConversationId::from_u128(1_009))
    );
    assert!(
        counts.len() >= 10,
        "the fixture has many unread chats: {counts:?}"
    );
}

/// A `members` frame applied to the store: joins and changes upserted, the removed
/// dropped (me among them: the chat is left), the count reported so a client can tell
/// when it is out of step; a conversation not stored here is reported as such.
#[test]
fn members_frames_apply_to_the_store() {
    use ferry_client::store::MembersChange;
    fn change<'a>(
        id: ConversationId,
        members: &'a [Member],
        removed: &'a [UserId],
    ) -> MembersChange<'a> {
        MembersChange {
            conversation_id: id,
            members,
            removed,
            updated_at: Timestamp::from_millis(10),
        }
    }
    let (_dir, store, me) = filled();
    let c = chat(&me, 0, 0, 0, 0);
    let (other, newcomer) = (c.members[1].user.id, user(500));
    let joined = [Member {
        user: newcomer.clone(),
        role: Role::Member,
        read_seq: 0,
        delivered_seq: 0,
        state: MemberState::Request,
        joined_at: Timestamp::from_millis(9),
    }];
    let applied = store
        .apply_members(me.id, &change(c.id, &joined, &[]))
        .expect("apply")
        .expect("stored here");
    assert!(applied.new_contacts, "someone joined");
    assert_eq!(applied.member_count, 3);
    let summary = store
        .conversation(me.id, c.id)
        .expect("read")
        .expect("there");
    assert!(summary.members.iter().any(|m| m.user.id == newcomer.id));
    assert_eq!(summary.updated_at, Timestamp::from_millis(10));

    // The same frame again changes nothing, and brings no one new.
    let again = store
        .apply_members(me.id, &change(c.id, &joined, &[]))
        .expect("apply")
        .expect("stored here");
    assert_eq!((again.new_contacts, again.member_count), (false, 3));

    let applied = store
        .apply_members(me.id, &change(c.id, &[], &[other]))
        .expect("apply")
        .expect("stored here");
    assert_eq!((applied.new_contacts, applied.member_count), (false, 2));
    let left = |store: &LocalStore| {
        store
            .conversation(me.id, c.id)
            .expect("read")
            .expect("there")
            .left
    };
    assert!(!left(&store));
    store
        .apply_members(me.id, &change(c.id, &[], &[me.id]))
        .expect("apply");
    assert!(left(&store), "removed: this user left");

    let unknown = change(ConversationId::from_u128(9_999), &joined, &[]);
    assert_eq!(store.apply_members(me.id, &unknown).expect("apply"), None);
}

/// A message request deleted on this device leaves the list and the unread counts, and
/// comes back when a message comes past it, or once it is no longer a request. Only a
/// request can be deleted.
#[test]
fn a_deleted_request_leaves_the_list_until_a_new_message() {
    let (_dir, store, me) = filled();
    let listed = |store: &LocalStore, id: ConversationId| {
        store
            .conversations(me.id, None, 1_000)
            .expect("list")
            .iter()
            .any(|c| c.id == id)
    };
    let counted = |store: &LocalStore, id: ConversationId| {
        store
            .unread_counts(me.id)
            .expect("counts")
            .iter()
            .any(|(c, _)| *c == id)
    };
    let mut request = chat(&me, 50, 2, 0, 100);
    request.members[0].state = MemberState::Request;
    store.apply_conversation(me.id, &request).expect("apply");
    let _ = store.apply_messages(&messages(&request)).expect("messages");
    assert!(listed(&store, request.id) && counted(&store, request.id));

    let accepted = chat(&me, 3, 3, 0, 3);
    assert!(
        !store.dismiss(me.id, accepted.id).expect("dismiss"),
        "not a request"
    );
    assert!(store.dismiss(me.id, request.id).expect("dismiss"));
    assert!(!listed(&store, request.id) && !counted(&store, request.id));
    let summary = store
        .conversation(me.id, request.id)
        .expect("read")
        .expect("kept");
    assert!(summary.dismissed && summary.request);

    // The same again from the server changes nothing, nor does a reaction (a change is
    // not someone writing); a message after them brings it back.
    store.apply_conversation(me.id, &request).expect("apply");
    assert!(!listed(&store, request.id));
    let first = messages(&request).remove(0);
    let reaction = Message {
        body: String::new(),
        change: Some(ferry_proto::Change {
            kind: ferry_proto::ChangeKind::React,
            target: first.id,
            emoji: Some("👍".into()),
        }),
        ..Message::plain(
            MessageId::new(),
            request.id,
            3,
            first.sender_id,
            "",
            first.created_at,
        )
    };
    let _ = store.apply_messages(&[reaction]).expect("reaction");
    assert!(
        !listed(&store, request.id),
        "a reaction does not bring it back"
    );
    // The server's view says seq 4 is a change (its last message is still seq 1): that
    // keeps it hidden too.
    request.last_seq = 4;
    request.last_message = Some(first.clone());
    store.apply_conversation(me.id, &request).expect("apply");
    assert!(
        !listed(&store, request.id),
        "a change seen through the conversation"
    );
    request.last_seq = 5;
    let next = messages(&request).remove(4);
    request.last_message = Some(next.clone());
    store.apply_conversation(me.id, &request).expect("apply");
    let _ = store.apply_messages(&[next]).expect("message");
    assert!(listed(&store, request.id) && counted(&store, request.id));

    // Deleted again, then accepted on another device: back in the list.
    assert!(store.dismiss(me.id, request.id).expect("dismiss"));
    request.members[0].state = MemberState::Accepted;
    store.apply_conversation(me.id, &request).expect("apply");
    assert!(listed(&store, request.id));
}

#[test]
fn a_summary_says_why_encryption_waits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LocalStore::open(&dir.path().join("store.db"), &KEY).expect("open store");
    let me = user(1);
    let mut c = chat(&me, 1, 0, 0, 1);
    let other = c.members[1].user.id;
    let summary = |store: &LocalStore| {
        store
            .conversation(me.id, c.id)
            .expect("read")
            .expect("stored")
    };
    store.apply_conversation(me.id, &c).expect("apply");

    // Plain, and a try found the other's device without keys (and someone who is no
    // longer a member, who is not shown).
    assert!(
        store
            .set_without_keys(c.id, &[other, UserId::from_u128(999)])
            .expect("note")
    );
    assert!(
        !store
            .set_without_keys(c.id, &[other, UserId::from_u128(999)])
            .expect("again"),
        "the same list again changes nothing"
    );
    let s = summary(&store);
    assert!(!s.encrypted && !s.joining);
    assert_eq!(s.without_keys, vec![other]);

    // The server says it is encrypted: until this device is in the group, it is joining.
    c.mls_epoch = 2;
    store.apply_conversation(me.id, &c).expect("apply");
    assert!(summary(&store).encrypted && summary(&store).joining);
    assert!(store.set_mls_member(c.id, true).expect("member"));
    assert!(!store.set_mls_member(c.id, true).expect("again"));
    assert!(!summary(&store).joining);
    assert!(store.set_without_keys(c.id, &[]).expect("everyone's keys"));
    assert!(summary(&store).without_keys.is_empty());

    // A new session is a new device: in no group, waiting for no one yet.
    store.set_without_keys(c.id, &[other]).expect("note");
    store
        .reset_mls(&ferry_client::store::MlsDevice {
            session: ferry_proto::SessionId::new(),
            signer: vec![1],
        })
        .expect("reset");
    let s = summary(&store);
    assert!(s.joining && s.without_keys.is_empty());
}
