//! Edits, deletions, replies and reactions: the store's rules on both databases, then the
//! same changes over real sockets and REST, with the errors the protocol documents.

use std::sync::Arc;

use ferry_proto::{
    Change, ChangeKind, ClientFrame, ConversationId, MessageId, OutgoingMessage, ServerFrame,
    Timestamp, UserId,
};
use ferry_server::store::{Append, Latest, NewMessage, Refusal, Store};
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::store::{message, open, user};
use crate::support::{Backend, TestDb, TestServer, alice_and_bob, on_both, test_config};

fn change(
    conversation: ConversationId,
    sender: UserId,
    kind: ChangeKind,
    target: MessageId,
    body: &str,
    emoji: Option<&str>,
) -> NewMessage {
    NewMessage {
        change: Some(Change {
            kind,
            target,
            emoji: emoji.map(str::to_owned),
        }),
        ..message(conversation, sender, body)
    }
}

fn edit(conversation: ConversationId, sender: UserId, target: MessageId, body: &str) -> NewMessage {
    change(conversation, sender, ChangeKind::Edit, target, body, None)
}

fn delete(conversation: ConversationId, sender: UserId, target: MessageId) -> NewMessage {
    change(conversation, sender, ChangeKind::Delete, target, "", None)
}

fn react(
    conversation: ConversationId,
    sender: UserId,
    target: MessageId,
    emoji: &str,
) -> NewMessage {
    change(
        conversation,
        sender,
        ChangeKind::React,
        target,
        "",
        Some(emoji),
    )
}

fn unreact(
    conversation: ConversationId,
    sender: UserId,
    target: MessageId,
    emoji: &str,
) -> NewMessage {
    change(
        conversation,
        sender,
        ChangeKind::Unreact,
        target,
        "",
        Some(emoji),
    )
}

async fn stored(store: &Arc<dyn Store>, m: &NewMessage) -> i64 {
    match store.append(m).await.expect("append") {
        Append::Stored { message, .. } => message.seq,
        other => panic!("expected Stored, got {other:?}"),
    }
}

async fn refusal(store: &Arc<dyn Store>, m: &NewMessage) -> Refusal {
    match store.append(m).await.expect("append") {
        Append::Refused(refusal) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Every entry of the conversation's stream, paging forward.
async fn stream(store: &Arc<dyn Store>, conversation: ConversationId) -> Vec<ferry_proto::Message> {
    store
        .messages_after(conversation, 0, 500)
        .await
        .expect("history")
}

async fn the(
    store: &Arc<dyn Store>,
    conversation: ConversationId,
    id: MessageId,
) -> ferry_proto::Message {
    stream(store, conversation)
        .await
        .into_iter()
        .find(|m| m.id == id)
        .expect("in the stream")
}

async fn pair(store: &Arc<dyn Store>) -> (UserId, UserId, ConversationId) {
    let a = user(store, "alice", "alice").await;
    let b = user(store, "bob", "bob").await;
    let (chat, _) = store
        .direct_conversation(a, b, ConversationId::new(), Timestamp::now())
        .await
        .expect("direct");
    (a, b, chat)
}

/// Carol, and her direct conversation with `alice`: another chat, for what must stay in
/// its own.
async fn carol_and_alice(store: &Arc<dyn Store>, alice: UserId) -> (UserId, ConversationId) {
    let c = user(store, "carol", "carol").await;
    let (chat, _) = store
        .direct_conversation(alice, c, ConversationId::new(), Timestamp::now())
        .await
        .expect("direct");
    (c, chat)
}

async fn edits_replace_the_text_and_the_last_one_wins(backend: Backend) {
    let (_db, store) = open(backend).await;
    let (a, b, chat) = pair(&store).await;
    let original = message(chat, a, "helo");
    assert_eq!(stored(&store, &original).await, 1);
    let first = edit(chat, a, original.id, "hello");
    let second = edit(chat, a, original.id, "hello!");
    assert_eq!(stored(&store, &first).await, 2);
    assert_eq!(stored(&store, &second).await, 3);

    let now = the(&store, chat, original.id).await;
    assert_eq!(now.body, "hello!", "the text of the last edit by seq");
    assert_eq!(now.edit_seq, Some(3));
    assert!(now.edited_at.is_some());
    let entries = stream(&store, chat).await;
    assert_eq!(entries.len(), 3, "each edit is an entry of the stream");
    assert_eq!(
        entries[1].change.as_ref().map(|c| c.kind),
        Some(ChangeKind::Edit)
    );
    assert_eq!(entries[1].body, "hello", "an edit carries its own text");

    assert_eq!(
        refusal(&store, &edit(chat, b, original.id, "not yours")).await,
        Refusal::NotAllowed,
        "only the author edits"
    );
    let late = NewMessage {
        edit_window_ms: Some(60_000),
        created_at: Timestamp::from_millis(now.created_at.as_millis() + 60_001),
        ..edit(chat, a, original.id, "too late")
    };
    assert_eq!(refusal(&store, &late).await, Refusal::TooLate);
    let in_time = NewMessage {
        edit_window_ms: Some(60_000),
        created_at: Timestamp::from_millis(now.created_at.as_millis() + 59_000),
        ..edit(chat, a, original.id, "in time")
    };
    assert_eq!(stored(&store, &in_time).await, 4);

    // Bob's view: one unread message (edits are not messages), shown as edited.
    let view = store
        .conversation(b, chat)
        .await
        .expect("read")
        .expect("member");
    assert_eq!(view.last_seq, 4);
    assert_eq!(view.unread_count, 1, "changes do not count as unread");
    let last = view.last_message.expect("a preview");
    assert_eq!((last.id, last.body.as_str()), (original.id, "in time"));
    assert_eq!(
        store.changes_after(chat, 1).await.expect("changes"),
        vec![2, 3, 4]
    );
}

async fn deletes_clear_the_text_everywhere_on_the_server(backend: Backend) {
    let (_db, store) = open(backend).await;
    let (a, b, chat) = pair(&store).await;
    let secret = message(chat, a, "the secret");
    stored(&store, &secret).await;
    stored(&store, &edit(chat, a, secret.id, "the edited secret")).await;
    stored(&store, &react(chat, b, secret.id, "👀")).await;
    assert_eq!(
        refusal(&store, &delete(chat, b, secret.id)).await,
        Refusal::NotAllowed,
        "in a direct conversation only the author deletes"
    );
    assert_eq!(stored(&store, &delete(chat, a, secret.id)).await, 4);

    for entry in stream(&store, chat).await {
        assert!(
            !entry.body.contains("secret"),
            "no text of a deleted message is left: {entry:?}"
        );
    }
    let now = the(&store, chat, secret.id).await;
    assert!(now.deleted_at.is_some());
    assert_eq!(now.body, "");
    assert_eq!(
        refusal(&store, &edit(chat, a, secret.id, "back")).await,
        Refusal::Deleted
    );
    assert_eq!(
        refusal(&store, &react(chat, b, secret.id, "👍")).await,
        Refusal::Deleted
    );
    // Deleting again changes nothing, and is not an error (another device may have).
    stored(&store, &delete(chat, a, secret.id)).await;
    // The preview is the deleted message: a placeholder, not the text.
    let view = store
        .conversation(b, chat)
        .await
        .expect("read")
        .expect("member");
    let last = view.last_message.expect("preview");
    assert_eq!(last.id, secret.id);
    assert!(last.deleted_at.is_some() && last.body.is_empty());
}

async fn a_group_owner_deletes_any_message(backend: Backend) {
    let (_db, store) = open(backend).await;
    let owner = user(&store, "owner", "owner").await;
    let b = user(&store, "bob", "bob").await;
    let c = user(&store, "carol", "carol").await;
    let group = ConversationId::new();
    store
        .create_group(group, owner, "Team", &[b, c], Timestamp::now())
        .await
        .expect("group");
    let bobs = message(group, b, "spam");
    stored(&store, &bobs).await;
    assert_eq!(
        refusal(&store, &delete(group, c, bobs.id)).await,
        Refusal::NotAllowed,
        "a member deletes only their own"
    );
    assert_eq!(
        refusal(&store, &edit(group, owner, bobs.id, "owned")).await,
        Refusal::NotAllowed,
        "an owner deletes but does not edit others' messages"
    );
    stored(&store, &delete(group, owner, bobs.id)).await;
    assert!(the(&store, group, bobs.id).await.deleted_at.is_some());
}

async fn reactions_are_sets_with_caps(backend: Backend) {
    let (_db, store) = open(backend).await;
    let (a, b, chat) = pair(&store).await;
    let m = message(chat, a, "react to me");
    stored(&store, &m).await;
    stored(&store, &react(chat, b, m.id, "👍")).await;
    // Adding what is there already is stored (the stream says what the user did) and
    // changes nothing; taking it back removes it.
    stored(&store, &react(chat, b, m.id, "👍")).await;
    stored(&store, &unreact(chat, b, m.id, "👍")).await;

    use ferry_proto::{
        MAX_REACTIONS_PER_MESSAGE as PER_MESSAGE, MAX_REACTIONS_PER_USER as PER_USER,
    };
    let emoji: Vec<String> = (0..PER_MESSAGE).map(|i| format!("e{i}")).collect();
    for e in &emoji[..PER_USER] {
        stored(&store, &react(chat, b, m.id, e)).await;
    }
    assert_eq!(
        refusal(&store, &react(chat, b, m.id, "🆕")).await,
        Refusal::TooManyReactions,
        "one user's distinct emoji on a message are capped"
    );
    stored(&store, &react(chat, b, m.id, &emoji[0])).await;

    // In a group, Alice and Bob fill a message up to its cap of distinct emoji; then
    // Carol's new emoji is refused, while hers on one already there is not.
    let c = user(&store, "carol", "carol").await;
    let group = ConversationId::new();
    store
        .create_group(group, a, "Team", &[b, c], Timestamp::now())
        .await
        .expect("group");
    let g = message(group, a, "popular");
    stored(&store, &g).await;
    for (i, e) in emoji.iter().enumerate() {
        let who = if i < PER_USER { a } else { b };
        stored(&store, &react(group, who, g.id, e)).await;
    }
    assert_eq!(
        refusal(&store, &react(group, c, g.id, "🆕")).await,
        Refusal::TooManyReactions,
        "a message's distinct emoji are capped"
    );
    stored(&store, &react(group, c, g.id, &emoji[0])).await;
    // Taking one back makes room again.
    stored(&store, &unreact(group, b, g.id, &emoji[PER_USER])).await;
    stored(&store, &react(group, c, g.id, "🆕")).await;
}

async fn replies_and_changes_name_a_message_of_the_conversation(backend: Backend) {
    let (_db, store) = open(backend).await;
    let (a, b, chat) = pair(&store).await;
    let (_, elsewhere) = carol_and_alice(&store, a).await;
    let there = message(elsewhere, a, "in another chat");
    stored(&store, &there).await;
    let m = message(chat, a, "question?");
    stored(&store, &m).await;

    let reply = NewMessage {
        reply_to: Some(m.id),
        ..message(chat, b, "answer")
    };
    assert_eq!(stored(&store, &reply).await, 2);
    let got = the(&store, chat, reply.id).await;
    assert_eq!(got.reply_to, Some(m.id));
    // A reply is a message: it counts as unread and becomes the preview.
    let view = store
        .conversation(a, chat)
        .await
        .expect("read")
        .expect("member");
    assert_eq!(view.unread_count, 1);
    assert_eq!(view.last_message.map(|l| l.id), Some(reply.id));

    let stray = NewMessage {
        reply_to: Some(there.id),
        ..message(chat, b, "wrong chat")
    };
    assert_eq!(refusal(&store, &stray).await, Refusal::NoSuchMessage);
    assert_eq!(
        refusal(&store, &react(chat, b, there.id, "👍")).await,
        Refusal::NoSuchMessage,
        "a change cannot reach into another conversation"
    );
    assert_eq!(
        refusal(&store, &edit(chat, a, MessageId::new(), "nothing")).await,
        Refusal::NoSuchMessage
    );
    let reaction = react(chat, b, m.id, "👍");
    stored(&store, &reaction).await;
    assert_eq!(
        refusal(&store, &react(chat, a, reaction.id, "👍")).await,
        Refusal::NotAMessage,
        "a change names a message, not another change"
    );
    let to_change = NewMessage {
        reply_to: Some(reaction.id),
        ..message(chat, a, "re: a reaction")
    };
    assert_eq!(refusal(&store, &to_change).await, Refusal::NotAMessage);
    // Nothing refused left a seq behind: the message, the reply, the reaction.
    assert_eq!(stream(&store, chat).await.len(), 3);
}

async fn a_change_is_stored_once(backend: Backend) {
    let (_db, store) = open(backend).await;
    let (a, b, chat) = pair(&store).await;
    let m = message(chat, a, "hi");
    stored(&store, &m).await;
    let fix = edit(chat, a, m.id, "hi there");
    assert_eq!(stored(&store, &fix).await, 2);
    match store.append(&fix).await.expect("again") {
        Append::Existing(existing) => assert_eq!(existing.seq, 2),
        other => panic!("a resend is the same change, got {other:?}"),
    }
    let other = NewMessage {
        change: Some(Change {
            kind: ChangeKind::Delete,
            target: m.id,
            emoji: None,
        }),
        body: String::new(),
        ..fix.clone()
    };
    assert!(matches!(
        store.append(&other).await.expect("conflict"),
        Append::Conflict
    ));
    // The original, resent after its edit, is still the same message.
    assert!(matches!(
        store.append(&m).await.expect("resend"),
        Append::Existing(_)
    ));
    stored(&store, &delete(chat, a, m.id)).await;
    // After the deletion cleared their text, both resends still match.
    assert!(matches!(
        store.append(&fix).await.expect("resend edit"),
        Append::Existing(_)
    ));
    assert!(matches!(
        store.append(&m).await.expect("resend message"),
        Append::Existing(_)
    ));
    let view = store
        .conversation(b, chat)
        .await
        .expect("read")
        .expect("in");
    assert_eq!(view.last_seq, 3);
}

async fn a_batch_mixes_messages_and_changes_in_order(backend: Backend) {
    let (_db, store) = open(backend).await;
    let (a, b, chat) = pair(&store).await;
    // Another conversation with plain messages only, interleaved: it takes the batch
    // path apart, and every answer still comes back in the batch's order.
    let (c, other) = carol_and_alice(&store, a).await;
    let first = message(chat, a, "first");
    let batch = vec![
        message(other, c, "elsewhere 1"),
        first.clone(),
        edit(chat, a, first.id, "first, edited"),
        message(other, a, "elsewhere 2"),
        react(chat, a, first.id, "🎉"),
        NewMessage {
            reply_to: Some(first.id),
            ..message(chat, a, "a reply")
        },
        edit(chat, b, first.id, "refused"),
        message(chat, a, "plain again"),
        message(other, c, "elsewhere 3"),
    ];
    let appends = store.append_batch(&batch).await.expect("batch");
    let seqs: Vec<String> = appends
        .iter()
        .map(|a| match a {
            Append::Stored { message, .. } => message.seq.to_string(),
            Append::Refused(r) => format!("{r:?}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(seqs, ["1", "1", "2", "2", "3", "4", "NotAllowed", "5", "3"]);
    let elsewhere: Vec<String> = stream(&store, other)
        .await
        .into_iter()
        .map(|m| m.body)
        .collect();
    assert_eq!(elsewhere, ["elsewhere 1", "elsewhere 2", "elsewhere 3"]);
    assert_eq!(the(&store, chat, first.id).await.body, "first, edited");
    let view = store
        .conversation(b, chat)
        .await
        .expect("read")
        .expect("in");
    assert_eq!(view.unread_count, 3, "three messages, two changes");
    assert_eq!(
        view.last_message.map(|m| m.body),
        Some("plain again".into())
    );
    // `/sync` brings the changes with the latest messages, so a reconnect sees them.
    let page = store
        .sync(b, None, 10, Latest::of_each(10))
        .await
        .expect("sync");
    assert_eq!(page.messages.len(), 5);
    assert_eq!(page.conversations[0].unread_count, 3);
}

/// A batch judges each reply and change by what came before it, in the batch too, and
/// leaves the table as storing them one at a time would: on Postgres the batch path
/// stores them together (`store::postgres::batch`), on SQLite one by one, and both give
/// these answers.
async fn a_batch_judges_each_change_by_what_came_before_it(backend: Backend) {
    use ferry_proto::MAX_REACTIONS_PER_USER as PER_USER;

    let (_db, store) = open(backend).await;
    let (a, b, chat) = pair(&store).await;
    let (_, elsewhere) = carol_and_alice(&store, a).await;
    let far = message(elsewhere, a, "elsewhere");
    stored(&store, &far).await;
    let old = message(chat, b, "from before the batch");
    stored(&store, &old).await;
    // In the table before the batch, which takes it back.
    stored(&store, &react(chat, a, old.id, "👋")).await;

    let first = message(chat, a, "first");
    let thumbs = react(chat, b, first.id, "👍");
    let fix = edit(chat, a, first.id, "first, edited");
    let mut batch = vec![
        first.clone(),
        // Names a message stored by this batch.
        thumbs.clone(),
        // There already: stored, and changes nothing.
        react(chat, b, first.id, "👍"),
        unreact(chat, b, first.id, "👍"),
        fix.clone(),
        edit(chat, a, first.id, "first, edited twice"),
        edit(chat, b, first.id, "not yours"),
        react(chat, a, fix.id, "🎉"),
        NewMessage {
            reply_to: Some(fix.id),
            ..message(chat, a, "a reply to an edit")
        },
        NewMessage {
            reply_to: Some(far.id),
            ..message(chat, a, "a reply to another conversation")
        },
        react(chat, a, far.id, "🎉"),
        unreact(chat, a, old.id, "👋"),
        NewMessage {
            reply_to: Some(first.id),
            ..message(chat, b, "a reply")
        },
        // A resend within the batch.
        thumbs.clone(),
    ];
    for i in 0..PER_USER {
        batch.push(react(chat, b, old.id, &format!("e{i}")));
    }
    batch.push(react(chat, b, old.id, "one too many"));
    let answers: Vec<String> = store
        .append_batch(&batch)
        .await
        .expect("batch")
        .iter()
        .map(|a| match a {
            Append::Stored { message, .. } => message.seq.to_string(),
            Append::Existing(message) => format!("again {}", message.seq),
            Append::Refused(r) => format!("{r:?}"),
            other => format!("{other:?}"),
        })
        .collect();
    let mut expected: Vec<String> = [
        "3",
        "4",
        "5",
        "6",
        "7",
        "8",
        "NotAllowed",
        "NotAMessage",
        "NotAMessage",
        "NoSuchMessage",
        "NoSuchMessage",
        "9",
        "10",
        "again 4",
    ]
    .map(String::from)
    .to_vec();
    expected.extend((11..11 + PER_USER).map(|seq| seq.to_string()));
    expected.push("TooManyReactions".into());
    assert_eq!(answers, expected);

    // The last edit stays.
    assert_eq!(
        the(&store, chat, first.id).await.body,
        "first, edited twice"
    );
    // The table, as the caps read it. Bob's reactions on `old` were written: one more of
    // his is refused.
    assert_eq!(
        refusal(&store, &react(chat, b, old.id, "🆕")).await,
        Refusal::TooManyReactions,
        "the batch's reactions are in the table"
    );
    // Alice's 👋 was taken back, so she has room for all of hers; so has Bob on
    // `first`, whose 👍 came and went within the batch.
    for i in 0..PER_USER {
        stored(&store, &react(chat, a, old.id, &format!("e{i}"))).await;
    }
    for i in 0..PER_USER {
        stored(&store, &react(chat, b, first.id, &format!("f{i}"))).await;
    }
    // The list shows the reply last: changes do not take its place.
    let view = store
        .conversation(a, chat)
        .await
        .expect("read")
        .expect("in");
    assert_eq!(view.last_message.map(|m| m.body), Some("a reply".into()));
}

/// A user, their access token, and a socket, on a real server.
async fn server_with_pair(backend: Backend) -> (TestDb, TestServer) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start_with(test_config(&db)).await;
    (db, server)
}

fn outgoing(conversation: ConversationId, body: &str) -> OutgoingMessage {
    OutgoingMessage::text(MessageId::new(), conversation, body)
}

async fn changes_travel_live_and_by_rest(backend: Backend) {
    let (_db, server) = server_with_pair(backend).await;
    let (alice, bob, chat) = alice_and_bob(&server).await;
    let mut bob_ws = bob.ws().await;
    let mut alice_ws = alice.ws().await;
    let hello = outgoing(chat, "hello");
    alice_ws
        .send(&ClientFrame::Send {
            message: hello.clone(),
        })
        .await;
    alice_ws
        .expect("ack", |f| matches!(f, ServerFrame::Ack { seq: 1, .. }))
        .await;
    bob_ws
        .expect("the message", |f| matches!(f, ServerFrame::Message { .. }))
        .await;

    // Bob reacts over the socket; Alice hears it live as an entry of the stream.
    let thumbs = OutgoingMessage {
        change: Some(Change {
            kind: ChangeKind::React,
            target: hello.id,
            emoji: Some("👍".into()),
        }),
        ..outgoing(chat, "")
    };
    bob_ws
        .send(&ClientFrame::Send {
            message: thumbs.clone(),
        })
        .await;
    bob_ws
        .expect("ack", |f| matches!(f, ServerFrame::Ack { seq: 2, .. }))
        .await;
    let heard = alice_ws
        .expect("the reaction", |f| matches!(f, ServerFrame::Message { .. }))
        .await;
    let ServerFrame::Message { message } = heard else {
        unreachable!()
    };
    assert_eq!(message.change, thumbs.change);

    // Alice edits and replies over REST.
    let (status, edited) = alice
        .call(
            Method::POST,
            &format!("/conversations/{chat}/messages"),
            Some(json!({"id": Uuid::now_v7(), "body": "hello, Bob",
                        "change": {"kind": "edit", "target": hello.id}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{edited}");
    assert_eq!(edited["change"]["kind"], "edit");
    let reply: ferry_proto::Message = alice
        .ok(
            Method::POST,
            &format!("/conversations/{chat}/messages"),
            Some(json!({"id": Uuid::now_v7(), "body": "and a reply", "reply_to": hello.id})),
        )
        .await;
    assert_eq!(reply.reply_to, Some(hello.id));
    bob_ws
        .expect("the edit", |f| {
            matches!(f, ServerFrame::Message { message } if message.change.as_ref().is_some_and(|c| c.kind == ChangeKind::Edit))
        })
        .await;

    // The rules, with their documented errors.
    let path = format!("/conversations/{chat}/messages");
    bob.refused(
        Method::POST,
        &path,
        Some(json!({"id": Uuid::now_v7(), "body": "mine now",
                    "change": {"kind": "edit", "target": hello.id}})),
        (StatusCode::FORBIDDEN, "forbidden"),
    )
    .await;
    bob.refused(
        Method::POST,
        &path,
        Some(json!({"id": Uuid::now_v7(), "change": {"kind": "delete", "target": hello.id}})),
        (StatusCode::FORBIDDEN, "forbidden"),
    )
    .await;
    bob.refused(
        Method::POST,
        &path,
        Some(json!({"id": Uuid::now_v7(), "change": {"kind": "react", "target": hello.id}})),
        (StatusCode::BAD_REQUEST, "invalid_request"),
    )
    .await;
    bob.refused(
        Method::POST,
        &path,
        Some(json!({"id": Uuid::now_v7(), "body": "why",
                    "change": {"kind": "delete", "target": hello.id}})),
        (StatusCode::BAD_REQUEST, "invalid_request"),
    )
    .await;
    bob.refused(
        Method::POST,
        &path,
        Some(json!({"id": Uuid::now_v7(), "change": {"kind": "react", "target": Uuid::now_v7(), "emoji": "👍"}})),
        (StatusCode::NOT_FOUND, "not_found"),
    )
    .await;
    alice
        .refused(
            Method::POST,
            &path,
            Some(json!({"id": Uuid::now_v7(), "body": "x".repeat(10_001),
                        "change": {"kind": "edit", "target": hello.id}})),
            (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        )
        .await;
    alice
        .refused(
            Method::POST,
            &path,
            Some(json!({"id": Uuid::now_v7(), "body": "hm", "change": {"kind": "shout", "target": hello.id}})),
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;

    // Alice deletes; both see the placeholder, and the text is gone from history.
    alice_ws
        .send(&ClientFrame::Send {
            message: OutgoingMessage {
                change: Some(Change {
                    kind: ChangeKind::Delete,
                    target: hello.id,
                    emoji: None,
                }),
                ..outgoing(chat, "")
            },
        })
        .await;
    alice_ws
        .expect("ack", |f| matches!(f, ServerFrame::Ack { .. }))
        .await;
    for m in bob.history(chat).await {
        assert!(!m.body.contains("hello"), "text left: {m:?}");
    }
    let conversation: ferry_proto::Conversation = bob
        .ok(Method::GET, &format!("/conversations/{chat}"), None)
        .await;
    assert_eq!(conversation.last_seq - 2, 3, "Bob read up to his reaction");
    assert_eq!(
        conversation.unread_count, 1,
        "the reply; the changes after Bob's reaction do not count"
    );
    assert_eq!(conversation.last_message.map(|m| m.id), Some(reply.id));
}

on_both!(
    edits_replace_the_text_and_the_last_one_wins,
    deletes_clear_the_text_everywhere_on_the_server,
    a_group_owner_deletes_any_message,
    reactions_are_sets_with_caps,
    replies_and_changes_name_a_message_of_the_conversation,
    a_change_is_stored_once,
    a_batch_mixes_messages_and_changes_in_order,
    a_batch_judges_each_change_by_what_came_before_it,
    changes_travel_live_and_by_rest,
);
