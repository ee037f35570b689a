//! Message requests, blocks and reports over the wire (additions to v1): a stranger
//! learns nothing of the user (presence, receipts, typing) until the request is accepted,
//! a reply accepts it too, a block stops sends both ways and new conversations, and
//! reports are stored, each refusal with its code.

use ferry_proto::{
    ClientFrame, Conversation, MemberState, Presence, ReportReceipt, ServerFrame, User as Person,
    UserId,
};
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::support::{Backend, TestDb, TestServer, User, on_both};

fn state_of(conversation: &Conversation, user: UserId) -> MemberState {
    conversation
        .members
        .iter()
        .find(|m| m.user.id == user)
        .expect("a member")
        .state
}

/// Alice accepts from a device without a socket (offline, as far as presence goes):
/// Mallory, now her contact, is told so, and when she was last seen, by a frame, as he
/// is told when she is online.
async fn accepting_offline_tells_of_it(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let mallory = User::register(&server, "mallory").await;
    let mut stranger = mallory.ws().await;
    let chat = mallory.direct_with(&alice).await;
    alice.accept(chat.id).await;
    let frames = stranger.until_pong().await;
    let presence: Vec<_> = frames
        .iter()
        .filter(|f| matches!(f, ServerFrame::Presence { user_id, .. } if *user_id == alice.id()))
        .collect();
    assert!(
        matches!(
            presence.as_slice(),
            [ServerFrame::Presence {
                online: false,
                last_seen: None,
                ..
            }]
        ),
        "alice offline, never seen: {frames:?}"
    );
}

async fn a_stranger_learns_nothing_until_accepted(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let mallory = User::register(&server, "mallory").await;
    let mut phone = alice.ws().await;
    let mut laptop = alice.ws().await;
    let mut stranger = mallory.ws().await;

    let chat = mallory.direct_with(&alice).await;
    assert_eq!(state_of(&chat, alice.id()), MemberState::Request);
    assert_eq!(state_of(&chat, mallory.id()), MemberState::Accepted);
    let seen: Vec<Presence> = mallory.ok(Method::GET, "/presence", None).await;
    assert!(seen.is_empty(), "no presence of a request: {seen:?}");
    let hi = mallory.send_rest(chat.id, "hi, click this").await;
    phone
        .expect(
            "the stranger's message",
            |f| matches!(f, ServerFrame::Message { message } if message.id == hi.id),
        )
        .await;

    // Alice types and reads on her phone: her laptop follows the read mark, Mallory
    // gets neither.
    phone
        .send(&ClientFrame::Typing {
            conversation_id: chat.id,
            typing: true,
        })
        .await;
    phone
        .send(&ClientFrame::Read {
            conversation_id: chat.id,
            seq: hi.seq,
        })
        .await;
    laptop
        .expect("her own read mark", |f| {
            matches!(f, ServerFrame::Receipt { user_id, read_seq: 1, .. } if *user_id == alice.id())
        })
        .await;

    // Accepting tells Mallory all at once; nothing of Alice came before it (frames to a
    // socket keep their order, and the typing and read were handled before the accept).
    let accepted = alice.accept(chat.id).await;
    assert_eq!(state_of(&accepted, alice.id()), MemberState::Accepted);
    let mut before = Vec::new();
    let view = loop {
        match stranger.next().await {
            ServerFrame::Conversation { conversation }
                if state_of(&conversation, alice.id()) == MemberState::Accepted =>
            {
                break conversation;
            }
            other => before.push(other),
        }
    };
    assert!(
        !before.iter().any(|f| matches!(f,
            ServerFrame::Typing { user_id, .. }
            | ServerFrame::Receipt { user_id, .. }
            | ServerFrame::Presence { user_id, .. } if *user_id == alice.id())),
        "nothing of alice before she accepted: {before:?}"
    );
    let alice_there = view
        .members
        .iter()
        .find(|m| m.user.id == alice.id())
        .expect("alice");
    assert_eq!(alice_there.read_seq, hi.seq, "her read mark, now shared");
    stranger
        .expect("alice online", |f| {
            matches!(f, ServerFrame::Presence { user_id, online: true, .. } if *user_id == alice.id())
        })
        .await;
    let seen: Vec<Presence> = mallory.ok(Method::GET, "/presence", None).await;
    assert!(seen.iter().any(|p| p.user_id == alice.id() && p.online));
    // Accepting again changes nothing; a non-member cannot.
    alice.accept(chat.id).await;
    let carol = User::register(&server, "carol").await;
    carol
        .refused(
            Method::POST,
            &format!("/conversations/{}/accept", chat.id),
            None,
            (StatusCode::NOT_FOUND, "not_found"),
        )
        .await;
}

async fn a_reply_accepts_and_a_block_stops_both_ways(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let mallory = User::register(&server, "mallory").await;
    let chat = mallory.direct_with(&alice).await.id;
    mallory.send_rest(chat, "hello").await;
    alice.send_rest(chat, "hi, who is this?").await;
    let hers: Conversation = mallory
        .ok(Method::GET, &format!("/conversations/{chat}"), None)
        .await;
    assert_eq!(
        state_of(&hers, alice.id()),
        MemberState::Accepted,
        "replying accepts"
    );

    // A group of Mallory's with Alice is accepted now: they talk.
    let group = mallory.group("Plans", &[&alice]).await;
    assert_eq!(state_of(&group, alice.id()), MemberState::Accepted);

    alice
        .no_content(Method::PUT, &format!("/blocks/{}", mallory.id()), None)
        .await;
    alice
        .no_content(Method::PUT, &format!("/blocks/{}", mallory.id()), None)
        .await;
    let blocked: Vec<Person> = alice.ok(Method::GET, "/blocks", None).await;
    assert_eq!(
        blocked.iter().map(|u| u.id).collect::<Vec<_>>(),
        [mallory.id()]
    );
    let send =
        |id: UserId| Some(json!({"id": Uuid::now_v7(), "body": format!("after the block {id}")}));
    mallory
        .refused(
            Method::POST,
            &format!("/conversations/{chat}/messages"),
            send(mallory.id()),
            (StatusCode::FORBIDDEN, "forbidden"),
        )
        .await;
    alice
        .refused(
            Method::POST,
            &format!("/conversations/{chat}/messages"),
            send(alice.id()),
            (StatusCode::FORBIDDEN, "forbidden"),
        )
        .await;
    alice
        .refused(
            Method::POST,
            &format!("/conversations/{chat}/accept"),
            None,
            (StatusCode::FORBIDDEN, "forbidden"),
        )
        .await;
    mallory
        .refused(
            Method::POST,
            "/conversations",
            Some(json!({"kind": "group", "title": "Again", "member_ids": [alice.id()]})),
            (StatusCode::FORBIDDEN, "forbidden"),
        )
        .await;
    // The group they share goes on, but neither sees the other's presence.
    mallory.send_rest(group.id, "still here").await;
    let _online = alice.ws().await;
    let seen: Vec<Presence> = mallory.ok(Method::GET, "/presence", None).await;
    assert!(seen.is_empty(), "{seen:?}");

    alice
        .no_content(Method::DELETE, &format!("/blocks/{}", mallory.id()), None)
        .await;
    mallory.send_rest(chat, "sorry").await;
    let seen: Vec<Presence> = mallory.ok(Method::GET, "/presence", None).await;
    assert!(seen.iter().any(|p| p.user_id == alice.id() && p.online));
    alice
        .refused(
            Method::PUT,
            &format!("/blocks/{}", alice.id()),
            None,
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
    alice
        .refused(
            Method::PUT,
            &format!("/blocks/{}", Uuid::now_v7()),
            None,
            (StatusCode::NOT_FOUND, "not_found"),
        )
        .await;
}

async fn reports_are_stored_and_checked(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let mallory = User::register(&server, "mallory").await;
    let carol = User::register(&server, "carol").await;
    let chat = mallory.direct_with(&alice).await.id;
    let spam = mallory.send_rest(chat, "buy now").await;

    let bad = [
        (
            json!({"user_id": alice.id(), "reason": "me"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"user_id": mallory.id(), "reason": "x".repeat(1001)}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"user_id": mallory.id(), "reason": "a\u{0}b"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"user_id": mallory.id(), "message_id": spam.id}),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"user_id": Uuid::now_v7()}), StatusCode::NOT_FOUND),
        (json!({"user_id": "not a uuid"}), StatusCode::BAD_REQUEST),
    ];
    for (body, status) in bad {
        let (got, answer) = alice
            .call(Method::POST, "/reports", Some(body.clone()))
            .await;
        assert_eq!(got, status, "{body}: {answer}");
    }
    // Carol is not in the conversation she names.
    let (got, _) = carol
        .call(
            Method::POST,
            "/reports",
            Some(json!({"user_id": mallory.id(), "conversation_id": chat})),
        )
        .await;
    assert_eq!(got, StatusCode::NOT_FOUND);
    assert_eq!(metric(&server).await, 0, "nothing stored by a refusal");

    let receipt: ReportReceipt = alice
        .ok(
            Method::POST,
            "/reports",
            Some(json!({"user_id": mallory.id(), "conversation_id": chat,
                "message_id": spam.id, "reason": "spam\nand more", "block": true})),
        )
        .await;
    assert!(!receipt.id.is_nil());
    assert_eq!(metric(&server).await, 1);
    let blocked: Vec<Person> = alice.ok(Method::GET, "/blocks", None).await;
    assert_eq!(blocked.len(), 1, "reported and blocked");
}

async fn metric(server: &TestServer) -> u64 {
    ferry_testkit::metric_at(server.addr, "ferry_reports_total").await
}

on_both!(
    a_stranger_learns_nothing_until_accepted,
    accepting_offline_tells_of_it,
    a_reply_accepts_and_a_block_stops_both_ways,
    reports_are_stored_and_checked,
);
