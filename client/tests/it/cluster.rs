//! The client in a cluster: Alice on node 1, Bob on node 2. NATS goes away and comes
//! back while Alice sends; node 1 keeps acking her, node 2 tells Bob's socket to catch
//! up (`resync`) once NATS is back, and Bob ends with every message, once and in order,
//! without ever reconnecting.

use ferry_testkit::{
    Backend, NatsServer, ServerProcess, TestDb, subject_prefix, within, workspace_binary,
};

use crate::support::{Device, config, direct};

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
