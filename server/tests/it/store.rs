//! The `Store` conformance suite: the same expectations on SQLite and on Postgres.

use std::sync::Arc;

use ferry_proto::{
    ConversationId, MemberState, MessageId, ReportId, SessionId, Timestamp, User, UserId,
};
use ferry_server::store::{
    Append, Authority, Contact, Latest, MailPurpose, MailToken, Mark, NewMessage, NewReport,
    NewSession, NewUser, RefreshGrant, Refusal, Rotation, Store, StoreError, Watermarks,
};

use crate::support::{Backend, TestDb, on_both};

pub(crate) async fn open(backend: Backend) -> (TestDb, Arc<dyn Store>) {
    let db = TestDb::new(backend).await;
    let store = ferry_server::open_store(&db.url, 8)
        .await
        .expect("open store");
    (db, store)
}

pub(crate) async fn user(store: &Arc<dyn Store>, name: &str, display: &str) -> UserId {
    let user = User {
        id: UserId::new(),
        username: name.into(),
        display_name: display.into(),
        created_at: Timestamp::now(),
        status: None,
        picture: None,
    };
    store
        .create_user(&NewUser {
            user: user.clone(),
            password_hash: "x".into(),
        })
        .await
        .expect("create user");
    user.id
}

pub(crate) fn message(conversation: ConversationId, sender: UserId, body: &str) -> NewMessage {
    NewMessage {
        id: MessageId::new(),
        conversation_id: conversation,
        sender_id: sender,
        body: body.into(),
        created_at: Timestamp::now(),
        reply_to: None,
        change: None,
        edit_window_ms: None,
        attachments: Vec::new(),
        authority: Authority::Member,
        sealed: None,
    }
}

async fn append_ok(store: &Arc<dyn Store>, m: &NewMessage) -> i64 {
    match store.append(m).await.expect("append") {
        Append::Stored { message, .. } => message.seq,
        other => panic!("expected Stored, got {other:?}"),
    }
}

async fn direct(store: &Arc<dyn Store>, a: UserId, b: UserId) -> ConversationId {
    store
        .direct_conversation(a, b, ConversationId::new(), Timestamp::now())
        .await
        .expect("direct")
        .0
}

/// Alice, Bob and Carol, with a direct conversation between each two of them.
struct Triangle {
    a: UserId,
    b: UserId,
    c: UserId,
    ab: ConversationId,
    ac: ConversationId,
    bc: ConversationId,
}

async fn triangle(store: &Arc<dyn Store>) -> Triangle {
    let a = user(store, "alice", "Alice").await;
    let b = user(store, "bob", "Bob").await;
    let c = user(store, "carol", "Carol").await;
    Triangle {
        a,
        b,
        c,
        ab: direct(store, a, b).await,
        ac: direct(store, a, c).await,
        bc: direct(store, b, c).await,
    }
}

async fn users_and_search(backend: Backend) {
    let (_db, store) = open(backend).await;
    let alice = user(&store, "alice", "Alice Liddell").await;
    user(&store, "alfred", "Batman's Butler").await;
    user(&store, "bob", "Al%ce_x").await;
    user(&store, "emile", "Émile Zola").await;
    let taken = store
        .create_user(&NewUser {
            user: User {
                id: UserId::new(),
                username: "alice".into(),
                display_name: "Other".into(),
                created_at: Timestamp::now(),
                status: None,
                picture: None,
            },
            password_hash: "y".into(),
        })
        .await;
    assert!(matches!(taken, Err(StoreError::UsernameTaken)), "{taken:?}");

    let (found, hash) = store
        .login_record("alice")
        .await
        .expect("login")
        .expect("exists");
    assert_eq!((found.id, hash.as_str()), (alice, "x"));
    assert!(store.login_record("nobody").await.expect("login").is_none());

    let names = |users: Vec<User>| users.into_iter().map(|u| u.username).collect::<Vec<_>>();
    assert_eq!(
        names(store.search_users("al", 10).await.expect("search")),
        ["alfred", "alice", "bob"]
    );
    // Display names match case-insensitively; LIKE wildcards in the query are literal.
    assert_eq!(
        names(store.search_users("batman", 10).await.expect("search")),
        ["alfred"]
    );
    assert_eq!(
        names(store.search_users("al%", 10).await.expect("search")),
        ["bob"]
    );
    assert_eq!(
        names(store.search_users("a_i", 10).await.expect("search")),
        Vec::<String>::new()
    );
    assert_eq!(store.search_users("al", 1).await.expect("search").len(), 1);
    // Lowered by the database on both sides, as the index is: a capital beyond ASCII
    // typed as stored is found.
    assert_eq!(
        names(store.search_users("Ém", 10).await.expect("search")),
        ["emile"]
    );
}

async fn refresh_rotation(backend: Backend) {
    let (_db, store) = open(backend).await;
    let alice = user(&store, "alice", "Alice").await;
    let session = SessionId::new();
    let now = Timestamp::now();
    let at = |ms: i64| Timestamp::from_millis(now.as_millis() + ms);
    let later = at(60_000);
    let grant = |tag: u8| RefreshGrant {
        token_hash: vec![tag; 32],
        expires_at: later,
    };
    store
        .create_session(
            &NewSession {
                id: session,
                user: alice,
                device_name: Some("laptop"),
                place: None,
            },
            &grant(1),
            now,
        )
        .await
        .expect("session");
    assert_eq!(
        store.active_sessions(&[session]).await.expect("active"),
        [session]
    );

    let first = store
        .rotate_refresh(&[1; 32], &grant(2), now)
        .await
        .expect("rotate");
    assert!(matches!(first, Rotation::Rotated { session_id, .. } if session_id == session));
    // The used token comes back past the grace window for a lost answer: the session is
    // revoked, and its live token dies too.
    let reuse = store
        .rotate_refresh(&[1; 32], &grant(3), at(31_000))
        .await
        .expect("rotate");
    assert_eq!(
        reuse,
        Rotation::Reused {
            session_id: session
        }
    );
    assert!(
        store
            .active_sessions(&[session])
            .await
            .expect("active")
            .is_empty()
    );
    let after = store
        .rotate_refresh(&[2; 32], &grant(4), now)
        .await
        .expect("rotate");
    assert_eq!(after, Rotation::Invalid);
    assert_eq!(
        store
            .rotate_refresh(&[9; 32], &grant(5), now)
            .await
            .expect("rotate"),
        Rotation::Invalid
    );

    // Expired tokens are refused.
    let other = SessionId::new();
    let expired = RefreshGrant {
        token_hash: vec![7; 32],
        expires_at: now,
    };
    store
        .create_session(
            &NewSession {
                id: other,
                user: alice,
                device_name: None,
                place: None,
            },
            &expired,
            now,
        )
        .await
        .expect("session");
    assert_eq!(
        store
            .rotate_refresh(&[7; 32], &grant(8), now)
            .await
            .expect("rotate"),
        Rotation::Invalid
    );
    // Many at once: only the live ones come back, and an unknown id is simply absent.
    let third = SessionId::new();
    store
        .create_session(
            &NewSession {
                id: third,
                user: alice,
                device_name: None,
                place: None,
            },
            &grant(6),
            now,
        )
        .await
        .expect("session");
    let mut live = store
        .active_sessions(&[session, other, third, SessionId::new()])
        .await
        .expect("active");
    live.sort();
    let mut expected = vec![other, third];
    expected.sort();
    assert_eq!(live, expected);
    store.revoke_session(other, now).await.expect("revoke");
    assert_eq!(
        store
            .active_sessions(&[other, third])
            .await
            .expect("active"),
        [third]
    );
}

async fn a_retried_refresh_is_not_a_stolen_copy(backend: Backend) {
    // The answer to a refresh can be lost: the client retries with the token it holds.
    let (_db, store) = open(backend).await;
    let alice = user(&store, "alice", "Alice").await;
    let session = SessionId::new();
    let now = Timestamp::now();
    let at = |ms: i64| Timestamp::from_millis(now.as_millis() + ms);
    let grant = |tag: u8| RefreshGrant {
        token_hash: vec![tag; 32],
        expires_at: at(600_000),
    };
    store
        .create_session(
            &NewSession {
                id: session,
                user: alice,
                device_name: None,
                place: None,
            },
            &grant(1),
            now,
        )
        .await
        .expect("session");
    let rotate = |token: u8, next: u8, ms: i64| {
        let (store, next, when) = (store.clone(), grant(next), at(ms));
        async move {
            store
                .rotate_refresh(&[token; 32], &next, when)
                .await
                .expect("rotate")
        }
    };
    assert!(matches!(rotate(1, 2, 0).await, Rotation::Rotated { .. }));
    // 10 s later token 1 again, token 2 never presented: exchanged again, 2 withdrawn.
    assert!(matches!(
        rotate(1, 3, 10_000).await,
        Rotation::Rotated { .. }
    ));
    assert_eq!(rotate(2, 9, 11_000).await, Rotation::Invalid);
    // The window runs from the first use: not slid by the retry.
    assert!(matches!(
        rotate(1, 4, 29_000).await,
        Rotation::Rotated { .. }
    ));
    assert_eq!(
        rotate(1, 5, 31_000).await,
        Rotation::Reused {
            session_id: session
        },
        "past the window it is a stolen copy"
    );
    assert!(
        store
            .active_sessions(&[session])
            .await
            .expect("active")
            .is_empty()
    );

    // Once the successor was presented, the old token coming back ends the session even
    // within the window.
    let other = SessionId::new();
    store
        .create_session(
            &NewSession {
                id: other,
                user: alice,
                device_name: None,
                place: None,
            },
            &grant(11),
            now,
        )
        .await
        .expect("session");
    assert!(matches!(rotate(11, 12, 0).await, Rotation::Rotated { .. }));
    assert!(matches!(
        rotate(12, 13, 1_000).await,
        Rotation::Rotated { .. }
    ));
    assert_eq!(
        rotate(11, 14, 2_000).await,
        Rotation::Reused { session_id: other }
    );
}

async fn ended_sessions_are_forgotten(backend: Backend) {
    let (_db, store) = open(backend).await;
    let alice = user(&store, "alice", "Alice").await;
    let now = Timestamp::now();
    let at = |ms: i64| Timestamp::from_millis(now.as_millis() + ms);
    let grant = |tag: u8, expires_at: Timestamp| RefreshGrant {
        token_hash: vec![tag; 32],
        expires_at,
    };
    let (live, revoked, lapsed, rotated, lately) = (
        SessionId::new(),
        SessionId::new(),
        SessionId::new(),
        SessionId::new(),
        SessionId::new(),
    );
    for (session, tag, expires) in [
        (live, 1, at(60_000)),
        (revoked, 2, at(60_000)),
        (lapsed, 3, at(-1)),
        (rotated, 4, at(-1)),
        (lately, 6, at(60_000)),
    ] {
        store
            .create_session(
                &NewSession {
                    id: session,
                    user: alice,
                    device_name: None,
                    place: None,
                },
                &grant(tag, expires),
                at(-120_000),
            )
            .await
            .expect("session");
    }
    // Ended over ten minutes ago; and just now, which stays a while for the nodes' look at
    // sessions ended lately (`sessions_ended_since`).
    store
        .revoke_session(revoked, at(-11 * 60_000))
        .await
        .expect("revoke");
    store.revoke_session(lately, now).await.expect("revoke");
    // Rotated while its first token was live: that one has expired since, its
    // successor has not.
    let rotation = store
        .rotate_refresh(&[4; 32], &grant(5, at(60_000)), at(-60_000))
        .await
        .expect("rotate");
    assert!(matches!(rotation, Rotation::Rotated { .. }));

    assert_eq!(store.forget_ended_sessions(now).await.expect("forget"), 2);
    assert_eq!(
        store
            .sessions_ended_since(at(-60_000))
            .await
            .expect("ended"),
        vec![(alice, lately)]
    );
    let mut active = store
        .active_sessions(&[live, revoked, lapsed, rotated, lately])
        .await
        .expect("active");
    active.sort();
    let mut expected = vec![live, rotated];
    expected.sort();
    assert_eq!(active, expected);
    // The sessions kept still refresh; the forgotten ones' tokens are unknown.
    for (tag, next) in [(1, 11), (5, 15)] {
        let rotation = store
            .rotate_refresh(&[tag; 32], &grant(next, at(60_000)), now)
            .await
            .expect("rotate");
        assert!(matches!(rotation, Rotation::Rotated { .. }), "token {tag}");
    }
    for tag in [2, 3] {
        let rotation = store
            .rotate_refresh(&[tag; 32], &grant(20 + tag, at(60_000)), now)
            .await
            .expect("rotate");
        assert_eq!(rotation, Rotation::Invalid, "token {tag}");
    }
    // Nothing more to forget.
    assert_eq!(store.forget_ended_sessions(now).await.expect("forget"), 0);
}

async fn direct_conversations_are_unique_per_pair(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = user(&store, "alice", "Alice").await;
    let b = user(&store, "bob", "Bob").await;
    let now = Timestamp::now();
    let (id, created) = store
        .direct_conversation(a, b, ConversationId::new(), now)
        .await
        .expect("direct");
    assert!(created);
    let (again, created) = store
        .direct_conversation(b, a, ConversationId::new(), now)
        .await
        .expect("direct");
    assert_eq!((again, created), (id, false));
    let unknown = store
        .direct_conversation(a, UserId::new(), ConversationId::new(), now)
        .await;
    assert!(
        matches!(unknown, Err(StoreError::UnknownUser)),
        "{unknown:?}"
    );

    let seen = store
        .conversation(b, id)
        .await
        .expect("read")
        .expect("member sees it");
    assert_eq!(seen.members.len(), 2);
    assert_eq!(
        (
            seen.last_seq,
            seen.unread_count,
            seen.last_message.is_none()
        ),
        (0, 0, true)
    );
    let stranger = user(&store, "eve", "Eve").await;
    assert!(
        store
            .conversation(stranger, id)
            .await
            .expect("read")
            .is_none()
    );
}

async fn append_is_idempotent_and_gapless(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = user(&store, "alice", "Alice").await;
    let b = user(&store, "bob", "Bob").await;
    let eve = user(&store, "eve", "Eve").await;
    let conv = direct(&store, a, b).await;

    let first = message(conv, a, "one");
    assert_eq!(append_ok(&store, &first).await, 1);
    assert_eq!(append_ok(&store, &message(conv, b, "two")).await, 2);
    match store.append(&first).await.expect("again") {
        Append::Existing(m) => assert_eq!((m.seq, m.body.as_str()), (1, "one")),
        other => panic!("expected Existing, got {other:?}"),
    }
    let changed = NewMessage {
        body: "changed".into(),
        ..first.clone()
    };
    assert!(matches!(
        store.append(&changed).await.expect("conflict"),
        Append::Conflict
    ));
    let hijack = NewMessage {
        sender_id: b,
        ..first.clone()
    };
    assert!(matches!(
        store.append(&hijack).await.expect("conflict"),
        Append::Conflict
    ));
    assert!(matches!(
        store.append(&message(conv, eve, "x")).await.expect("x"),
        Append::NotMember
    ));
    assert!(matches!(
        store
            .append(&message(ConversationId::new(), a, "x"))
            .await
            .expect("x"),
        Append::NotMember
    ));
    assert_eq!(append_ok(&store, &message(conv, a, "three")).await, 3);

    let view = store
        .conversation(b, conv)
        .await
        .expect("read")
        .expect("visible");
    assert_eq!(view.last_seq, 3);
    assert_eq!(view.last_message.expect("last").body, "three");
    // Bob sent seq 2, so he has read up to 2; seq 3 is unread.
    assert_eq!(view.unread_count, 1);
}

async fn history_pages_both_ways(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = user(&store, "alice", "Alice").await;
    let b = user(&store, "bob", "Bob").await;
    let conv = direct(&store, a, b).await;
    for i in 1..=10 {
        append_ok(&store, &message(conv, a, &format!("m{i}"))).await;
    }
    let seqs = |ms: Vec<ferry_proto::Message>| ms.into_iter().map(|m| m.seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(store.messages_after(conv, 3, 4).await.expect("after")),
        [4, 5, 6, 7]
    );
    assert_eq!(
        seqs(store.messages_after(conv, 8, 4).await.expect("after")),
        [9, 10]
    );
    assert_eq!(
        seqs(
            store
                .messages_before(conv, Some(5), 3)
                .await
                .expect("before")
        ),
        [2, 3, 4]
    );
    assert_eq!(
        seqs(store.messages_before(conv, None, 3).await.expect("latest")),
        [8, 9, 10]
    );
    assert_eq!(
        seqs(
            store
                .messages_before(conv, Some(1), 3)
                .await
                .expect("before")
        ),
        Vec::<i64>::new()
    );
}

async fn watermarks_only_move_forward(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = user(&store, "alice", "Alice").await;
    let b = user(&store, "bob", "Bob").await;
    let eve = user(&store, "eve", "Eve").await;
    let conv = direct(&store, a, b).await;
    for _ in 0..5 {
        append_ok(&store, &message(conv, a, "hi")).await;
    }
    let marks = |read_seq, delivered_seq| Watermarks {
        read_seq,
        delivered_seq,
    };
    assert_eq!(
        store.advance(conv, b, Mark::Delivered, 3).await.expect("x"),
        Some((marks(0, 3), true))
    );
    assert_eq!(
        store.advance(conv, b, Mark::Delivered, 2).await.expect("x"),
        Some((marks(0, 3), false))
    );
    // Read past the end is capped at last_seq, and pulls delivered along.
    assert_eq!(
        store.advance(conv, b, Mark::Read, 99).await.expect("x"),
        Some((marks(5, 5), true))
    );
    assert_eq!(
        store.advance(conv, b, Mark::Read, 1).await.expect("x"),
        Some((marks(5, 5), false))
    );
    assert_eq!(
        store.advance(conv, eve, Mark::Read, 1).await.expect("x"),
        None
    );
    let view = store
        .conversation(b, conv)
        .await
        .expect("read")
        .expect("visible");
    assert_eq!(view.unread_count, 0);
}

async fn sync_returns_what_changed(backend: Backend) {
    let (_db, store) = open(backend).await;
    let Triangle {
        a, c, ab, ac, bc, ..
    } = triangle(&store).await;

    let all = store.sync(a, None, 50, Latest::NONE).await.expect("sync");
    let mut ids: Vec<ConversationId> = all.conversations.iter().map(|c| c.id).collect();
    ids.sort();
    let mut expected = vec![ab, ac];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(!all.has_more);

    // SQLite's clock follows its single writer, so a sync after no change is empty. On
    // Postgres the cursor stops at the snapshot's xmin, which any transaction in flight on
    // the cluster (other tests included) holds back: recent changes may come again, as
    // `/sync`'s at-least-once contract allows, but nothing new or foreign appears.
    let exact = backend == Backend::Sqlite;
    let ids_of = |batch: &ferry_server::store::SyncBatch| {
        batch.conversations.iter().map(|c| c.id).collect::<Vec<_>>()
    };
    let nothing = store
        .sync(a, Some(all.cursor), 50, Latest::NONE)
        .await
        .expect("sync");
    if exact {
        assert!(
            nothing.conversations.is_empty(),
            "{:?}",
            nothing.conversations
        );
    } else {
        assert!(ids_of(&nothing).iter().all(|id| expected.contains(id)));
    }

    append_ok(&store, &message(ac, c, "hello")).await;
    append_ok(&store, &message(bc, c, "not for alice")).await;
    let changed = store
        .sync(a, Some(nothing.cursor), 50, Latest::NONE)
        .await
        .expect("sync");
    let changed_ids = ids_of(&changed);
    assert!(
        changed_ids.contains(&ac) && !changed_ids.contains(&bc),
        "{changed_ids:?}"
    );
    if exact {
        assert_eq!(changed_ids, [ac]);
    }
    let ac_now = changed
        .conversations
        .iter()
        .find(|c| c.id == ac)
        .expect("ac");
    assert_eq!(ac_now.last_seq, 1);

    // A watermark moving is a change too (receipts must reach other devices).
    store.advance(ac, a, Mark::Read, 1).await.expect("read");
    let marked = store
        .sync(a, Some(changed.cursor), 50, Latest::NONE)
        .await
        .expect("sync");
    let ac_marked = marked
        .conversations
        .iter()
        .find(|c| c.id == ac)
        .expect("ac again");
    assert_eq!(ac_marked.unread_count, 0);
    if exact {
        assert_eq!(ids_of(&marked), [ac]);
    }

    // Paging one at a time still yields every conversation.
    assert_eq!(sync_one_at_a_time(&*store, a).await, expected);
}

/// Every conversation one `/sync` pass yields to `viewer`, a page of one at a time:
/// sorted, each once. Fails if the pass does not end within 50 pages.
async fn sync_one_at_a_time(store: &dyn Store, viewer: UserId) -> Vec<ConversationId> {
    let mut cursor = None;
    let mut seen = Vec::new();
    for page in 0.. {
        assert!(page < 50, "sync did not make progress");
        let batch = store
            .sync(viewer, cursor, 1, Latest::NONE)
            .await
            .expect("sync");
        seen.extend(batch.conversations.iter().map(|c| c.id));
        cursor = Some(batch.cursor);
        if !batch.has_more {
            break;
        }
    }
    seen.sort();
    seen.dedup();
    seen
}

async fn sync_brings_the_latest_messages_when_asked(backend: Backend) {
    let (_db, store) = open(backend).await;
    let Triangle {
        a,
        b,
        c,
        ab,
        ac,
        bc,
    } = triangle(&store).await;
    for i in 1..=5 {
        append_ok(&store, &message(ab, b, &format!("ab {i}"))).await;
    }
    append_ok(&store, &message(ac, c, "ac 1")).await;
    append_ok(&store, &message(bc, c, "not for alice")).await;

    // Asked for 3: the latest 3 of each conversation in the page, ascending, nothing
    // from a conversation alice is not in.
    let page = store
        .sync(a, None, 50, Latest::of_each(3))
        .await
        .expect("sync");
    let of = |conv: ConversationId| {
        page.messages
            .iter()
            .filter(|m| m.conversation_id == conv)
            .map(|m| (m.seq, m.body.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        of(ab),
        [(3, "ab 3".into()), (4, "ab 4".into()), (5, "ab 5".into())]
    );
    assert_eq!(of(ac), [(1, "ac 1".to_string())]);
    assert_eq!(page.messages.len(), 4, "{:?}", page.messages);
    // They agree with the conversations of the same snapshot.
    let last = page.conversations.iter().find(|c| c.id == ab).expect("ab");
    assert_eq!(last.last_seq, 5);

    // Not asked: none, and a page holds only its own conversations' messages.
    assert!(
        store
            .sync(a, None, 50, Latest::NONE)
            .await
            .expect("sync")
            .messages
            .is_empty()
    );
    let one = store
        .sync(a, None, 1, Latest::of_each(10))
        .await
        .expect("sync");
    let only = one.conversations[0].id;
    assert!(!one.messages.is_empty());
    assert!(one.messages.iter().all(|m| m.conversation_id == only));
}

/// A page's latest messages stop at the byte budget, read one at a time: what fits is
/// whole messages, ascending within each conversation, and the reading stops at the
/// first that does not fit (a smaller one after it is not taken instead); what is left
/// out comes as history.
async fn sync_latest_messages_stop_at_the_byte_budget(backend: Backend) {
    let (_db, store) = open(backend).await;
    let Triangle { a, b, ab, .. } = triangle(&store).await;
    // Running total 1,000, 2,000, 3,000, 6,000, 6,010 bytes.
    for size in [1_000, 1_000, 1_000, 3_000, 10] {
        append_ok(&store, &message(ab, b, &"x".repeat(size))).await;
    }
    let all = store
        .sync(a, None, 50, Latest::of_each(5))
        .await
        .expect("sync");
    assert_eq!(all.messages.len(), 5);

    let budget = Latest {
        per_conversation: 5,
        max_bytes: 4_500,
    };
    let page = store.sync(a, None, 50, budget).await.expect("sync");
    let seqs: Vec<i64> = page.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [1, 2, 3], "stopped at the 3,000-byte body");
    // The page still lists alice's conversations with their last seq, so a client knows
    // what it is missing.
    assert_eq!(page.conversations.len(), 2);
    let listed = page.conversations.iter().find(|c| c.id == ab).expect("ab");
    assert_eq!(listed.last_seq, 5);

    let exact = Latest {
        per_conversation: 5,
        max_bytes: 3_000,
    };
    let page = store.sync(a, None, 50, exact).await.expect("sync");
    assert_eq!(page.messages.len(), 3, "a body that fits exactly is taken");
    let none = Latest {
        per_conversation: 5,
        max_bytes: 999,
    };
    let page = store.sync(a, None, 50, none).await.expect("sync");
    assert!(page.messages.is_empty(), "not even one body fits");
}

async fn conversation_list_by_activity(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = user(&store, "alice", "Alice").await;
    let mut convs = Vec::new();
    for name in ["bob", "carol", "dave"] {
        let other = user(&store, name, name).await;
        convs.push(direct(&store, a, other).await);
    }
    // Make the first one the most recently active.
    append_ok(
        &store,
        &NewMessage {
            created_at: Timestamp::from_millis(Timestamp::now().as_millis() + 1000),
            ..message(convs[0], a, "bump")
        },
    )
    .await;
    let list = store.conversations(a, None, 10).await.expect("list");
    assert_eq!(list.len(), 3);
    assert_eq!(list[0].id, convs[0]);
    let first = store.conversations(a, None, 2).await.expect("page");
    let rest = store
        .conversations(
            a,
            Some(ferry_server::store::ActivityCursor::after(&first[1])),
            2,
        )
        .await
        .expect("page");
    let mut paged: Vec<ConversationId> = first.iter().chain(&rest).map(|c| c.id).collect();
    assert_eq!(paged.len(), 3);
    paged.sort();
    let mut all = convs.clone();
    all.sort();
    assert_eq!(paged, all);
}

async fn group_membership(backend: Backend) {
    let (_db, store) = open(backend).await;
    let owner = user(&store, "owner", "Owner").await;
    let b = user(&store, "bob", "Bob").await;
    let c = user(&store, "carol", "Carol").await;
    let g = ConversationId::new();
    let now = Timestamp::now();
    store
        .create_group(g, owner, "Team", &[b], now)
        .await
        .expect("group");
    append_ok(&store, &message(g, owner, "before carol")).await;
    store.add_members(g, owner, &[c], now).await.expect("add");
    let view = store
        .conversation(c, g)
        .await
        .expect("read")
        .expect("carol is in");
    assert_eq!(view.members.len(), 3);
    assert_eq!(
        view.unread_count, 0,
        "a new member starts with nothing unread"
    );
    assert!(
        store
            .add_members(g, owner, &[UserId::new()], now)
            .await
            .is_err()
    );

    // The owner leaves: the longest-standing member takes over, so the group is never
    // left without someone who can manage it.
    assert!(
        store
            .remove_member(g, owner, now)
            .await
            .expect("owner leaves")
            .is_some()
    );
    let view = store
        .conversation(b, g)
        .await
        .expect("read")
        .expect("bob is in");
    let new_owner = view
        .members
        .iter()
        .find(|m| m.role == ferry_proto::Role::Owner)
        .expect("an owner");
    assert_eq!(new_owner.user.id, b, "bob joined before carol");
    store.add_members(g, b, &[owner], now).await.expect("back");

    assert_eq!(
        store.remove_member(g, b, now).await.expect("remove"),
        Some(1),
        "the seq at the removal"
    );
    assert_eq!(
        store.remove_member(g, b, now).await.expect("remove twice"),
        None
    );
    assert!(store.conversation(b, g).await.expect("read").is_none());
    assert!(matches!(
        store.append(&message(g, b, "x")).await.expect("x"),
        Append::NotMember
    ));
    let mut members: Vec<UserId> = store
        .seats(g)
        .await
        .expect("members")
        .into_iter()
        .map(|s| s.user)
        .collect();
    members.sort();
    let mut expected = vec![owner, c];
    expected.sort();
    assert_eq!(members, expected);
}

async fn contacts_and_last_seen(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = user(&store, "alice", "Alice").await;
    let b = user(&store, "bob", "Bob").await;
    user(&store, "stranger", "Stranger").await;
    let ab = direct(&store, a, b).await;
    let c = user(&store, "carol", "Carol").await;
    let bc = direct(&store, b, c).await;
    // Contacts are people who both accepted a conversation they share.
    assert_eq!(store.contacts(&[a]).await.expect("contacts"), vec![]);
    store.accept(ab, b).await.expect("accept");
    store.accept(bc, c).await.expect("accept");
    let at = Timestamp::from_millis(1_795_332_388_257);
    store.set_last_seen(b, at).await.expect("seen");
    let contact = |user, contact, last_seen| Contact {
        user,
        contact,
        last_seen,
    };
    assert_eq!(
        store.contacts(&[a]).await.expect("contacts"),
        vec![contact(a, b, Some(at))]
    );
    // Several users in one query: each row says whose contact it is.
    let mut rows = store.contacts(&[a, b]).await.expect("contacts");
    rows.sort_by_key(|r| (r.user, r.contact));
    let mut expected = vec![
        contact(a, b, Some(at)),
        contact(b, a, None),
        contact(b, c, None),
    ];
    expected.sort_by_key(|r| (r.user, r.contact));
    assert_eq!(rows, expected);
}

/// The state of `user` in `conversation`, as the store keeps it.
async fn state_of(
    store: &Arc<dyn Store>,
    conversation: ConversationId,
    user: UserId,
) -> Option<MemberState> {
    store
        .seats(conversation)
        .await
        .expect("seats")
        .into_iter()
        .find(|s| s.user == user)
        .map(|s| s.state)
}

/// `member` as `viewer` sees them in `conversation`.
async fn member_seen(
    store: &Arc<dyn Store>,
    viewer: UserId,
    conversation: ConversationId,
    member: UserId,
) -> ferry_proto::Member {
    store
        .conversation(viewer, conversation)
        .await
        .expect("read")
        .expect("a member")
        .members
        .into_iter()
        .find(|m| m.user.id == member)
        .expect("among the members")
}

async fn requests_and_blocks(backend: Backend) {
    let (_db, store) = open(backend).await;
    let alice = user(&store, "alice", "Alice").await;
    let mallory = user(&store, "mallory", "Mallory").await;
    let carol = user(&store, "carol", "Carol").await;
    let now = Timestamp::now();

    // A stranger's direct conversation is a request to Alice.
    let dm = direct(&store, mallory, alice).await;
    assert_eq!(
        state_of(&store, dm, mallory).await,
        Some(MemberState::Accepted)
    );
    assert_eq!(
        state_of(&store, dm, alice).await,
        Some(MemberState::Request)
    );
    let seq = append_ok(&store, &message(dm, mallory, "hi, click this")).await;
    // Alice reads it: her device's count follows, Mallory sees nothing of it.
    store
        .advance(dm, alice, Mark::Read, seq)
        .await
        .expect("read")
        .expect("member");
    let hers = store
        .conversation(alice, dm)
        .await
        .expect("read")
        .expect("in");
    assert_eq!(hers.unread_count, 0);
    assert_eq!(
        member_seen(&store, alice, dm, alice).await.read_seq,
        seq,
        "her own view keeps her mark"
    );
    let alice_seen = member_seen(&store, mallory, dm, alice).await;
    assert_eq!((alice_seen.read_seq, alice_seen.delivered_seq), (0, 0));
    assert_eq!(alice_seen.state, MemberState::Request);
    assert!(store.contacts(&[alice]).await.expect("contacts").is_empty());

    // Replying accepts, in the send's own transaction.
    match store
        .append(&message(dm, alice, "who are you?"))
        .await
        .expect("append")
    {
        Append::Stored { accepted, .. } => assert!(accepted, "the reply accepts"),
        other => panic!("expected Stored, got {other:?}"),
    }
    assert_eq!(
        state_of(&store, dm, alice).await,
        Some(MemberState::Accepted)
    );
    let alice_seen = member_seen(&store, mallory, dm, alice).await;
    assert_eq!(alice_seen.read_seq, 2, "receipts are shared once accepted");
    assert_eq!(
        store.contacts(&[alice]).await.expect("contacts"),
        vec![Contact {
            user: alice,
            contact: mallory,
            last_seen: None
        }]
    );

    // A group from someone Alice talks to is accepted; from a stranger, a request.
    let known = ConversationId::new();
    store
        .create_group(known, mallory, "Known", &[alice], now)
        .await
        .expect("group");
    assert_eq!(
        state_of(&store, known, alice).await,
        Some(MemberState::Accepted)
    );
    let strange = ConversationId::new();
    store
        .create_group(strange, carol, "Strange", &[alice], now)
        .await
        .expect("group");
    assert_eq!(
        state_of(&store, strange, alice).await,
        Some(MemberState::Request)
    );
    assert_eq!(
        store.accept(strange, alice).await.expect("accept"),
        Some(MemberState::Request)
    );
    assert_eq!(
        state_of(&store, strange, alice).await,
        Some(MemberState::Accepted)
    );
    assert_eq!(
        store.accept(strange, alice).await.expect("again"),
        Some(MemberState::Accepted),
        "accepting twice changes nothing"
    );
    assert_eq!(store.accept(strange, mallory).await.expect("not in"), None);

    // Alice blocks Mallory: their direct conversation is closed both ways.
    assert_eq!(
        store.block(alice, mallory, now).await.expect("block"),
        Some(dm)
    );
    assert_eq!(
        state_of(&store, dm, alice).await,
        Some(MemberState::Blocked)
    );
    assert!(matches!(
        store
            .append(&message(dm, mallory, "hello?"))
            .await
            .expect("append"),
        Append::Refused(Refusal::BlockedYou)
    ));
    assert!(matches!(
        store
            .append(&message(dm, alice, "one last word"))
            .await
            .expect("append"),
        Append::Refused(Refusal::YouBlocked)
    ));
    // No new conversation between them, no presence, even through a group they share.
    assert!(matches!(
        store
            .create_group(ConversationId::new(), mallory, "Again", &[alice], now)
            .await,
        Err(StoreError::Blocked)
    ));
    assert!(matches!(
        store.add_members(strange, alice, &[mallory], now).await,
        Err(StoreError::Blocked)
    ));
    let contacts: Vec<UserId> = store
        .contacts(&[alice])
        .await
        .expect("contacts")
        .into_iter()
        .map(|c| c.contact)
        .collect();
    assert_eq!(
        contacts,
        vec![carol],
        "not mallory, with whom she shares a group"
    );
    assert_eq!(
        store
            .direct_conversation(mallory, alice, ConversationId::new(), now)
            .await
            .expect("same"),
        (dm, false),
        "the existing conversation is still theirs to read"
    );
    let blocked: Vec<UserId> = store
        .blocked_users(alice)
        .await
        .expect("blocked")
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(blocked, vec![mallory]);
    assert_eq!(store.block(alice, mallory, now).await.expect("again"), None);

    // Unblocking opens the conversation again.
    assert_eq!(
        store.unblock(alice, mallory).await.expect("unblock"),
        Some(dm)
    );
    assert_eq!(
        state_of(&store, dm, alice).await,
        Some(MemberState::Accepted)
    );
    append_ok(&store, &message(dm, mallory, "sorry")).await;
    assert!(
        store
            .blocked_users(alice)
            .await
            .expect("blocked")
            .is_empty()
    );

    // A request declined by a block is a request again after unblocking, not accepted.
    let dave = user(&store, "dave", "Dave").await;
    let from_dave = direct(&store, dave, alice).await;
    store.block(alice, dave, now).await.expect("block");
    assert_eq!(
        state_of(&store, from_dave, alice).await,
        Some(MemberState::Blocked)
    );
    store.unblock(alice, dave).await.expect("unblock");
    assert_eq!(
        state_of(&store, from_dave, alice).await,
        Some(MemberState::Request)
    );
    // Being brought into a group by someone does not make Erin someone Alice knows
    // while Erin has not accepted it.
    let erin = user(&store, "erin", "Erin").await;
    store
        .add_members(strange, carol, &[erin], now)
        .await
        .expect("add erin");
    let from_erin = direct(&store, erin, alice).await;
    assert_eq!(
        state_of(&store, from_erin, alice).await,
        Some(MemberState::Request)
    );

    // Blocking a stranger first means they cannot start anything.
    assert!(
        store.block(carol, UserId::new(), now).await.is_err(),
        "no such user"
    );
    store
        .report(&NewReport {
            id: ReportId::new(),
            reporter: alice,
            reported: mallory,
            conversation_id: Some(dm),
            message_id: None,
            reason: "spam".into(),
            copies: Vec::new(),
            created_at: now,
        })
        .await
        .expect("report");
}

async fn concurrent_appends_stay_gapless(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = user(&store, "alice", "Alice").await;
    let b = user(&store, "bob", "Bob").await;
    let conv = direct(&store, a, b).await;
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..25 {
                let sender = if t % 2 == 0 { a } else { b };
                seqs.push(append_ok(&store, &message(conv, sender, &format!("{t}-{i}"))).await);
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let seqs = task.await.expect("task");
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "one writer's seqs increase: {seqs:?}"
        );
        all.extend(seqs);
    }
    all.sort();
    assert_eq!(all, (1..=200).collect::<Vec<i64>>());
}

async fn concurrent_duplicates_store_once(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = user(&store, "alice", "Alice").await;
    let b = user(&store, "bob", "Bob").await;
    let conv = direct(&store, a, b).await;
    let m = message(conv, a, "only once");
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let store = store.clone();
        let m = m.clone();
        tasks.push(tokio::spawn(async move {
            store.append(&m).await.expect("append")
        }));
    }
    let mut stored = 0;
    for task in tasks {
        match task.await.expect("task") {
            Append::Stored { message, .. } => {
                stored += 1;
                assert_eq!(message.seq, 1);
            }
            Append::Existing(message) => assert_eq!(message.seq, 1),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(stored, 1);
    assert_eq!(
        store
            .messages_after(conv, 0, 10)
            .await
            .expect("history")
            .len(),
        1
    );
}

/// While some other transaction keeps the Postgres xmin low, `/sync` pages must still make
/// progress and, across passes, return every change.
async fn sync_progresses_while_a_transaction_is_open(backend: Backend) {
    let (db, store) = open(backend).await;
    let a = user(&store, "alice", "Alice").await;
    // Hold a transaction with an xid open for the whole test (Postgres only: SQLite's
    // versions follow its single writer and have no such horizon).
    let _holder = match backend {
        Backend::Postgres => {
            let mut conn = begin_on_postgres(&db).await;
            sqlx::query("SELECT pg_current_xact_id()")
                .execute(&mut conn)
                .await
                .expect("xid");
            Some(conn)
        }
        Backend::Sqlite => None,
    };
    let mut expected = Vec::new();
    for name in ["bob", "carol", "dave", "erin"] {
        let other = user(&store, name, name).await;
        expected.push(direct(&store, a, other).await);
    }
    expected.sort();
    assert_eq!(sync_one_at_a_time(&*store, a).await, expected);
}

/// A connection to the test's Postgres database with a transaction open on it, for
/// tests that hold locks or snapshots while the store works.
async fn begin_on_postgres(db: &TestDb) -> sqlx::PgConnection {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut conn)
        .await
        .expect("begin");
    conn
}

/// A send that waits for the conversation's lock while the sender is removed must see
/// the removal (Postgres takes row locks; SQLite has a single writer).
async fn removal_while_a_send_waits_wins(backend: Backend) {
    let (db, store) = open(backend).await;
    let owner = user(&store, "owner", "Owner").await;
    let bob = user(&store, "bob", "Bob").await;
    let g = ConversationId::new();
    store
        .create_group(g, owner, "Team", &[bob], Timestamp::now())
        .await
        .expect("group");
    let send = message(g, bob, "too late");
    match backend {
        Backend::Postgres => {
            let mut conn = begin_on_postgres(&db).await;
            sqlx::query("SELECT id FROM conversations WHERE id = $1 FOR UPDATE")
                .bind(g)
                .execute(&mut conn)
                .await
                .expect("lock");
            let pending = tokio::spawn({
                let store = store.clone();
                let send = send.clone();
                async move { store.append(&send).await.expect("append") }
            });
            // Wait until the send is really blocked on the lock.
            crate::support::within("the send to wait for the lock", async {
                loop {
                    let waiting: i64 = sqlx::query_scalar(
                        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                         WHERE NOT l.granted AND a.datname = current_database()",
                    )
                    .fetch_one(&mut conn)
                    .await
                    .expect("pg_locks");
                    if waiting > 0 {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
            })
            .await;
            sqlx::query("DELETE FROM members WHERE conversation_id = $1 AND user_id = $2")
                .bind(g)
                .bind(bob)
                .execute(&mut conn)
                .await
                .expect("remove");
            sqlx::query("COMMIT")
                .execute(&mut conn)
                .await
                .expect("commit");
            assert!(matches!(pending.await.expect("task"), Append::NotMember));
        }
        Backend::Sqlite => {
            store
                .remove_member(g, bob, Timestamp::now())
                .await
                .expect("remove");
            assert!(matches!(
                store.append(&send).await.expect("append"),
                Append::NotMember
            ));
        }
    }
    assert!(
        store
            .messages_after(g, 0, 10)
            .await
            .expect("history")
            .is_empty()
    );
    let view = store
        .conversation(owner, g)
        .await
        .expect("read")
        .expect("visible");
    assert_eq!(view.last_seq, 0, "the refused send left no seq behind");
}

async fn a_batch_appends_as_if_one_by_one(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = user(&store, "alice", "Alice").await;
    let b = user(&store, "bob", "Bob").await;
    let eve = user(&store, "eve", "Eve").await;
    let direct = direct(&store, a, b).await;
    let group = ConversationId::new();
    store
        .create_group(group, a, "Team", &[b], Timestamp::now())
        .await
        .expect("group");
    let before = message(direct, a, "before");
    assert_eq!(append_ok(&store, &before).await, 1);
    assert!(store.append_batch(&[]).await.expect("empty").is_empty());

    let first = message(direct, a, "first");
    let batch = vec![
        first.clone(),
        message(group, b, "in the group"),
        before.clone(),
        message(direct, eve, "not a member"),
        first.clone(),
        NewMessage {
            body: "same id, other text".into(),
            ..first.clone()
        },
        message(ConversationId::new(), a, "no such conversation"),
        message(direct, b, "reply"),
        message(group, a, "second in the group"),
    ];
    let appends = store.append_batch(&batch).await.expect("batch");
    let summary: Vec<String> = appends
        .iter()
        .map(|append| match append {
            Append::Stored {
                message, members, ..
            } => {
                let mut members = members.clone();
                members.sort();
                let mut expected = vec![a, b];
                expected.sort();
                assert_eq!(members, expected, "fan-out goes to the members");
                format!("stored {}", message.seq)
            }
            Append::Existing(message) => format!("existing {}", message.seq),
            Append::Conflict => "conflict".into(),
            Append::NotMember => "not member".into(),
            Append::Refused(refusal) => format!("refused {refusal:?}"),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "stored 2",
            "stored 1",
            "existing 1",
            "not member",
            "existing 2",
            "conflict",
            "not member",
            "stored 3",
            "stored 2",
        ]
    );
    let bodies = |messages: Vec<ferry_proto::Message>| {
        messages
            .into_iter()
            .map(|m| (m.seq, m.body))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        bodies(store.messages_after(direct, 0, 10).await.expect("history")),
        [
            (1, "before".to_owned()),
            (2, "first".to_owned()),
            (3, "reply".to_owned())
        ]
    );
    assert_eq!(
        bodies(store.messages_after(group, 0, 10).await.expect("history")),
        [
            (1, "in the group".to_owned()),
            (2, "second in the group".to_owned())
        ]
    );
    // Each sender has read up to their own last message; the conversation moved on.
    let view = store
        .conversation(a, direct)
        .await
        .expect("read")
        .expect("visible");
    assert_eq!(view.last_seq, 3);
    let read = |who: UserId| {
        view.members
            .iter()
            .find(|m| m.user.id == who)
            .map(|m| (m.read_seq, m.delivered_seq))
    };
    assert_eq!(read(a), Some((2, 2)));
    assert_eq!(read(b), Some((3, 3)));
    // The next single append follows the batch.
    assert_eq!(append_ok(&store, &message(direct, a, "after")).await, 4);
}

/// A deleted account sends nothing more, by any path (one message, a batch, a reply):
/// each is refused inside the transaction that would store it, so the erasure of its
/// messages cannot miss one committed after the deletion.
async fn a_deleted_account_sends_nothing_more(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = user(&store, "alice", "Alice").await;
    let b = user(&store, "bob", "Bob").await;
    let chat = direct(&store, a, b).await;
    let first = message(chat, a, "before");
    assert_eq!(append_ok(&store, &first).await, 1);

    let now = Timestamp::now();
    store
        .close_account(a, now, Timestamp::from_millis(now.as_millis() + 86_400_000))
        .await
        .expect("close");
    assert!(matches!(
        store
            .append(&message(chat, a, "after"))
            .await
            .expect("append"),
        Append::NotMember
    ));
    let batch = store
        .append_batch(&[message(chat, b, "from bob"), message(chat, a, "after")])
        .await
        .expect("batch");
    assert!(matches!(batch[0], Append::Stored { .. }), "{batch:?}");
    assert!(matches!(batch[1], Append::NotMember), "{batch:?}");
    let reply = NewMessage {
        reply_to: Some(first.id),
        ..message(chat, a, "a reply")
    };
    assert!(matches!(
        store.append(&reply).await.expect("append"),
        Append::NotMember
    ));
}

/// Mailed tokens are forgotten once expired before the given time; the others stay, and
/// still count against the hourly limits.
async fn expired_mail_tokens_are_forgotten(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = user(&store, "alice", "Alice").await;
    let now = Timestamp::now().as_millis();
    let token = |n: u8, created: i64, expires: i64| MailToken {
        hash: vec![n; 32],
        user: a,
        purpose: MailPurpose::ResetPassword,
        email: None,
        created_at: Timestamp::from_millis(created),
        expires_at: Timestamp::from_millis(expires),
    };
    let hour = 3_600_000;
    for t in [
        token(1, now - 3 * hour, now - 2 * hour),
        token(2, now - 2 * hour, now - hour / 2),
        token(3, now, now + hour),
    ] {
        store.create_mail_token(&t).await.expect("token");
    }
    let gone = store
        .forget_spent_mail_tokens(Timestamp::from_millis(now - hour))
        .await
        .expect("forget");
    assert_eq!(gone, 1);
    let left = store
        .mail_tokens_since(a, MailPurpose::ResetPassword, Timestamp::from_millis(0))
        .await
        .expect("count");
    assert_eq!(left, 2);
}

/// A suspension or deletion that commits while a sign-in checks the password leaves it no
/// session: the session's insert reads the account again under its row's lock.
async fn a_suspended_account_gets_no_new_session(backend: Backend) {
    let (_db, store) = open(backend).await;
    let mallory = user(&store, "mallory", "Mallory").await;
    let audit = ferry_server::store::Audit {
        actor: None,
        action: "suspend",
        target: mallory.to_string(),
        reason: "spam".into(),
        at: Timestamp::now(),
    };
    let ended = store
        .suspend(mallory, "spam", &audit)
        .await
        .expect("suspend")
        .expect("an account");
    assert!(ended.is_empty());
    let refused = store
        .create_session(
            &NewSession {
                id: SessionId::new(),
                user: mallory,
                device_name: None,
                place: None,
            },
            &RefreshGrant {
                token_hash: vec![9; 32],
                expires_at: Timestamp::from_millis(Timestamp::now().as_millis() + 60_000),
            },
            Timestamp::now(),
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::AccountClosed)),
        "{refused:?}"
    );
}

/// Retention: what is older than a conversation's policy (its own, or the server's) goes,
/// with its reactions and files; the history then starts at the first entry kept, unread
/// counts leave out what went, and a policy of 0 keeps everything.
async fn retention_trims_the_oldest_history(backend: Backend) {
    let (_db, store) = open(backend).await;
    let a = user(&store, "alice", "Alice").await;
    let b = user(&store, "bob", "Bob").await;
    let c = user(&store, "carol", "Carol").await;
    let ab = direct(&store, a, b).await;
    let ac = direct(&store, a, c).await;
    let day = 86_400_000;
    let now = Timestamp::now();
    let ago = |days: i64| Timestamp::from_millis(now.as_millis() - days * day);
    let aged = |conversation, sender, body: &str, days| NewMessage {
        created_at: ago(days),
        ..message(conversation, sender, body)
    };
    let old = aged(ab, a, "forty days ago", 40);
    append_ok(&store, &old).await;
    append_ok(&store, &aged(ab, b, "thirty-five days ago", 35)).await;
    let react = NewMessage {
        change: Some(ferry_proto::Change {
            kind: ferry_proto::ChangeKind::React,
            target: old.id,
            emoji: Some("👍".into()),
        }),
        body: String::new(),
        ..aged(ab, a, "", 34)
    };
    append_ok(&store, &react).await;
    append_ok(&store, &aged(ab, a, "ten days ago", 10)).await;
    append_ok(&store, &message(ab, a, "now")).await;
    append_ok(&store, &aged(ac, a, "old, kept for ever", 400)).await;
    let audit = ferry_server::store::Audit {
        actor: None,
        action: "set_retention",
        target: ac.to_string(),
        reason: "legal hold".into(),
        at: now,
    };
    assert!(store.set_retention(ac, Some(0), &audit).await.expect("set"));
    assert!(
        !store
            .set_retention(ConversationId::new(), Some(5), &audit)
            .await
            .expect("set")
    );

    assert!(
        store
            .retention_due(0, now, 10)
            .await
            .expect("due")
            .is_empty(),
        "no policy: nothing is due"
    );
    let due = store.retention_due(30, now, 10).await.expect("due");
    assert_eq!(due, vec![(ab, 4)], "keep from the ten-day-old message");
    // A hold set after it was found due is read again under the lock: nothing goes.
    assert!(
        store
            .set_retention(ab, Some(0), &audit)
            .await
            .expect("hold")
    );
    assert_eq!(
        store.trim_history(ab, 30, now, 100).await.expect("trim"),
        None
    );
    assert!(store.set_retention(ab, None, &audit).await.expect("lift"));
    // Two seqs a step: two transactions.
    let first = store
        .trim_history(ab, 30, now, 2)
        .await
        .expect("trim")
        .expect("trimmed");
    assert_eq!((first.entries, first.done), (2, false));
    let trimmed = store
        .trim_history(ab, 30, now, 2)
        .await
        .expect("trim")
        .expect("trimmed");
    assert_eq!((trimmed.entries, trimmed.done), (1, true));
    let mut members = trimmed.members.clone();
    members.sort();
    let mut both = vec![a, b];
    both.sort();
    assert_eq!(members, both);
    assert_eq!(
        store.trim_history(ab, 30, now, 100).await.expect("again"),
        None,
        "another node's second go changes nothing"
    );
    assert!(
        store
            .retention_due(30, now, 10)
            .await
            .expect("due")
            .is_empty()
    );

    let held: Vec<(i64, String)> = store
        .messages_after(ab, 0, 100)
        .await
        .expect("history")
        .into_iter()
        .map(|m| (m.seq, m.body))
        .collect();
    assert_eq!(held, [(4, "ten days ago".into()), (5, "now".into())]);
    let seen = store
        .conversation(b, ab)
        .await
        .expect("read")
        .expect("bob's view");
    assert_eq!(seen.history_from, Some(4));
    assert_eq!(seen.last_seq, 5);
    assert_eq!(
        seen.unread_count, 2,
        "bob read up to his own message (seq 2); of what came after, seqs 4 and 5 are left"
    );
    let kept = store
        .conversation(a, ac)
        .await
        .expect("read")
        .expect("view");
    assert_eq!(kept.history_from, None);
    assert_eq!(store.messages_after(ac, 0, 10).await.expect("h").len(), 1);
    // A later, shorter policy of its own moves it on.
    assert!(store.set_retention(ab, Some(5), &audit).await.expect("set"));
    assert_eq!(
        store.retention_due(30, now, 10).await.expect("due"),
        vec![(ab, 5)]
    );
}

on_both!(
    a_suspended_account_gets_no_new_session,
    retention_trims_the_oldest_history,
    expired_mail_tokens_are_forgotten,
    a_deleted_account_sends_nothing_more,
    sync_progresses_while_a_transaction_is_open,
    removal_while_a_send_waits_wins,
    users_and_search,
    refresh_rotation,
    a_retried_refresh_is_not_a_stolen_copy,
    ended_sessions_are_forgotten,
    direct_conversations_are_unique_per_pair,
    append_is_idempotent_and_gapless,
    a_batch_appends_as_if_one_by_one,
    history_pages_both_ways,
    watermarks_only_move_forward,
    sync_returns_what_changed,
    sync_brings_the_latest_messages_when_asked,
    sync_latest_messages_stop_at_the_byte_budget,
    conversation_list_by_activity,
    group_membership,
    contacts_and_last_seen,
    requests_and_blocks,
    concurrent_appends_stay_gapless,
    concurrent_duplicates_store_once,
);
