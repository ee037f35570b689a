//! The client in a cluster: Alice on node 1, Bob on node 2. NATS goes away and comes
//! back while Alice sends; node 1 keeps acking her, node 2 tells Bob's socket to catch
//! up (`resync`) once NATS is back, and Bob ends with every message, once and in order,
//! without ever reconnecting. And an end-to-end encrypted group whose members are on
//! different nodes: its commits, welcomes and sealed messages cross the bus.

use ferry_client::Client;
use ferry_proto::ConversationId;
use ferry_testkit::{
    Backend, NatsServer, ServerProcess, TestDb, holds, subject_prefix, within, workspace_binary,
};

use crate::encryption::holders_are;
use crate::support::{Device, Served, config, direct, encrypted_group};

async fn node(db: &TestDb, nats: &NatsServer, subject: &str) -> ServerProcess {
    let mut config = config(db);
    config.nats_url = Some(nats.url());
    config.nats_subject = subject.to_owned();
    ServerProcess::start(&workspace_binary("ferry-server"), &config).await
}

#[tokio::test]
async fn a_nats_restart_is_caught_up_without_a_reconnect() {
    const COUNT: usize = 200;
    let mut nats = NatsServer::start().await;
    let db = TestDb::new(Backend::Postgres).await;
    let subject = subject_prefix();
    let n1 = node(&db, &nats, &subject).await;
    let n2 = node(&db, &nats, &subject).await;
    let alice = Device::register(&ferry_testkit::Served::url(&n1), "alice").await;
    let bob = Device::register(&ferry_testkit::Served::url(&n2), "bob").await;
    alice.client.start();
    bob.client.start();
    alice.online().await;
    bob.online().await;
    let chat = direct(&alice, &bob).await;
    let mut bob_link = bob.client.connection();
    bob_link.borrow_and_update();

    nats.kill().await;
    for i in 0..COUNT {
        alice
            .conversation(chat)
            .send(&format!("m{i}"))
            .expect("send");
    }
    alice
        .until("node 1 acks without NATS", |c| {
            c.outbox_len().expect("outbox") == 0
        })
        .await;
    nats.restart().await;
    bob.until("bob has every message", |c| {
        c.conversation(chat)
            .messages(None, 1000)
            .expect("read")
            .len()
            == COUNT
    })
    .await;
    let expected: Vec<(Option<i64>, String)> = (0..COUNT)
        .map(|i| (Some(i as i64 + 1), format!("m{i}")))
        .collect();
    assert_eq!(bob.history(chat), expected);
    assert!(
        !bob_link.has_changed().expect("the client is running"),
        "bob's link went down: {:?}",
        *bob_link.borrow()
    );
    within("node 1 to stop", n1.kill()).await;
    within("node 2 to stop", n2.kill()).await;
}

/// Whether this device reads a message with this text in the conversation.
fn reads(c: &Client, chat: ConversationId, text: &str) -> bool {
    c.conversation(chat)
        .messages(None, 100)
        .expect("read")
        .iter()
        .any(|m| m.body == text && !m.unreadable)
}

/// `from` writes `text` in the chat, and each of `readers` reads it.
async fn says(from: &Device, chat: ConversationId, text: &str, readers: &[&Device]) {
    from.conversation(chat).send(text).expect("send");
    for reader in readers {
        reader
            .until(&format!("{text:?} is read"), |c| reads(c, chat, text))
            .await;
    }
}

/// End-to-end encryption in a cluster (issue 31): Alice on node 1, Bob and Carol on node
/// 2. Alice makes a group of the three: her device claims their key packages through node
/// 1 and commits there, and their welcomes and her commit reach node 2's sockets over the
/// bus. Sealed messages go both ways; Carol leaves, Alice's device takes hers out of the
/// group, and what Bob writes after is not for Carol. The database holds none of the
/// texts.
#[tokio::test]
async fn an_encrypted_group_works_across_nodes() {
    let nats = NatsServer::start().await;
    let db = TestDb::new(Backend::Postgres).await;
    let subject = subject_prefix();
    let n1 = node(&db, &nats, &subject).await;
    let n2 = node(&db, &nats, &subject).await;
    let alice = Device::register(&n1.url(), "alice").await;
    let bob = Device::register(&n2.url(), "bob").await;
    let carol = Device::register(&n2.url(), "carol").await;
    for device in [&alice, &bob, &carol] {
        device.client.start();
    }
    for device in [&alice, &bob, &carol] {
        device.online().await;
    }
    let group = encrypted_group(&alice, &[&bob, &carol], "across the nodes").await;
    let (a, b, c) = (alice.id(), bob.id(), carol.id());
    holders_are(&bob, group, &[a, b, c]).await;

    says(
        &alice,
        group,
        "node one says: the budget is 40k",
        &[&bob, &carol],
    )
    .await;
    says(&bob, group, "node two answers: agreed", &[&alice]).await;

    carol.conversation(group).leave().await.expect("leave");
    holders_are(&alice, group, &[a, b]).await;
    holders_are(&bob, group, &[a, b]).await;
    says(&bob, group, "after carol left: the offer is 45k", &[&alice]).await;
    assert!(
        !reads(&carol.client, group, "after carol left: the offer is 45k"),
        "carol reads nothing sent after she left"
    );

    let kept = db.stored_bytes().await;
    for secret in ["the budget is 40k", "answers: agreed", "the offer is 45k"] {
        assert!(!holds(&kept, secret), "the database keeps {secret:?}");
    }
    within("node 1 to stop", n1.kill()).await;
    within("node 2 to stop", n2.kill()).await;
}
