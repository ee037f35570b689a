//! Live chat between real clients: each message stored once with its server seq, ticks,
//! typing, and read state shared between two devices of one user.

use ferry_client::MessageStatus;

use crate::support::{Device, Served, TestDb, TestServer, config, direct, online};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_chat_live() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let [alice, bob] = online(&server.url(), ["alice", "bob"]).await;
    let chat = direct(&alice, &bob).await;
    // Both were online before they shared a chat: the new chat tells who is online.
    let alice_id = alice.id();
    bob.until("alice shows online", |c| {
        c.presence()
            .expect("presence")
            .iter()
            .any(|p| p.user_id == alice_id && p.online)
    })
    .await;

    for i in 0..20 {
        alice
            .conversation(chat)
            .send(&format!("a{i}"))
            .expect("send");
    }
    bob.until("bob has all 20", |c| {
        c.conversation(chat)
            .messages(None, 100)
            .expect("read")
            .len()
            == 20
    })
    .await;
    let expected: Vec<(Option<i64>, String)> =
        (0..20).map(|i| (Some(i + 1), format!("a{i}"))).collect();
    assert_eq!(
        bob.history(chat),
        expected,
        "each once, in order, with the server's seq"
    );

    bob.conversation(chat).send("hi alice").expect("send");
    alice
        .until("alice has the reply", |c| {
            c.conversation(chat)
                .messages(None, 100)
                .expect("read")
                .len()
                == 21
        })
        .await;

    // Bob's reply means he has read everything before it: Alice's ticks turn to read.
    alice
        .until("all of alice's messages read", |c| {
            c.conversation(chat)
                .messages(None, 100)
                .expect("read")
                .iter()
                .filter(|m| m.mine)
                .all(|m| m.status == MessageStatus::Read)
        })
        .await;
    assert_eq!(
        alice
            .conversation(chat)
            .summary()
            .expect("read")
            .expect("chat")
            .unread_count,
        1
    );
    alice.conversation(chat).mark_read().expect("read");
    bob.until("bob's message read", |c| {
        c.conversation(chat)
            .messages(None, 100)
            .expect("read")
            .last()
            .is_some_and(|m| m.status == MessageStatus::Read)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_shows_and_clears() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let [alice, bob] = online(&server.url(), ["alice", "bob"]).await;
    let chat = direct(&alice, &bob).await;
    let alice_id = alice.id();
    // A contact who was online before we connected shows as online (fetched on connect).
    let late = Device::login(&server.url(), "bob").await;
    late.client.start();
    late.until("alice shows online", |c| {
        c.presence()
            .expect("presence")
            .iter()
            .any(|p| p.user_id == alice_id && p.online)
    })
    .await;

    alice.conversation(chat).set_typing(true);
    bob.until("alice is typing", |c| {
        c.conversation(chat).typing() == vec![alice_id]
    })
    .await;
    let listed = bob.client.conversations(None, 10).expect("list");
    assert_eq!(
        listed[0].typing,
        vec![alice_id],
        "the list shows who is typing"
    );
    alice.conversation(chat).send("done typing").expect("send");
    bob.until("typing cleared by the message", |c| {
        c.conversation(chat).typing().is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_on_one_device_clears_unread_on_the_other() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let alice = Device::register(&server.url(), "alice").await;
    let phone = Device::register(&server.url(), "bob").await;
    let laptop = Device::login(&server.url(), "bob").await;
    for d in [&alice, &phone, &laptop] {
        d.client.start();
        d.online().await;
    }
    let chat = direct(&alice, &phone).await;
    laptop
        .until("laptop knows the chat", |c| {
            c.conversation(chat).summary().ok().flatten().is_some()
        })
        .await;
    for i in 0..3 {
        alice
            .conversation(chat)
            .send(&format!("m{i}"))
            .expect("send");
    }
    for d in [&phone, &laptop] {
        d.until("3 unread", |c| {
            c.conversation(chat)
                .summary()
                .expect("read")
                .is_some_and(|s| s.unread_count == 3)
        })
        .await;
    }
    phone.conversation(chat).mark_read().expect("mark read");
    laptop
        .until("unread cleared on the laptop", |c| {
            c.conversation(chat)
                .summary()
                .expect("read")
                .is_some_and(|s| s.unread_count == 0)
        })
        .await;
}

/// Members added, removed and an owner leaving reach a member's store live (as
/// `members` frames: just the change), and the removed member's store says they left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_changes_reach_the_store_live() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let [alice, bob, carol, dan] = online(&server.url(), ["alice", "bob", "carol", "dan"]).await;
    let group = alice
        .client
        .create_group("Team", &[bob.id(), carol.id()])
        .await
        .expect("group");
    let members = |c: &ferry_client::Client| -> Vec<(ferry_proto::UserId, ferry_proto::Role)> {
        let mut members: Vec<_> = c
            .conversation(group)
            .summary()
            .expect("read")
            .map(|s| s.members.iter().map(|m| (m.user.id, m.role)).collect())
            .unwrap_or_default();
        members.sort_by_key(|(id, _)| *id);
        members
    };
    let sorted = |mut list: Vec<(ferry_proto::UserId, ferry_proto::Role)>| {
        list.sort_by_key(|(id, _)| *id);
        list
    };
    use ferry_proto::Role::{Member, Owner};
    bob.until("bob knows the group", |c| members(c).len() == 3)
        .await;

    alice
        .conversation(group)
        .add_members(&[dan.id()])
        .await
        .expect("add dan");
    let four = sorted(vec![
        (alice.id(), Owner),
        (bob.id(), Member),
        (carol.id(), Member),
        (dan.id(), Member),
    ]);
    bob.until("bob sees dan join", |c| members(c) == four).await;
    dan.until("dan has the whole group", |c| members(c) == four)
        .await;

    alice
        .conversation(group)
        .remove_member(carol.id())
        .await
        .expect("remove carol");
    let three = sorted(vec![
        (alice.id(), Owner),
        (bob.id(), Member),
        (dan.id(), Member),
    ]);
    bob.until("bob sees carol go", |c| members(c) == three)
        .await;
    carol
        .until("carol's store says she left", |c| {
            c.conversation(group)
                .summary()
                .expect("read")
                .is_some_and(|s| s.left && !s.members.iter().any(|m| m.user.id == c.me().id))
        })
        .await;

    // The owner leaves: ownership passes to the member who joined first (Bob, with the
    // group; Dan came later).
    alice
        .conversation(group)
        .remove_member(alice.id())
        .await
        .expect("alice leaves");
    let two = sorted(vec![(bob.id(), Owner), (dan.id(), Member)]);
    dan.until("dan sees alice go and bob own the group", |c| {
        members(c) == two
    })
    .await;
    bob.until("so does bob", |c| members(c) == two).await;
}
