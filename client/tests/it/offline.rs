//! Offline compose: messages written with the server down survive a process restart and
//! go out exactly once, in compose order, when the server is back.

use ferry_client::MessageStatus;

use crate::support::{Served, TestDb, TestServer, config, direct, online};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_offline_messages_survive_a_restart() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let url = server.url();
    let addr = server.addr;
    let [alice, bob] = online(&url, ["alice", "bob"]).await;
    let chat = direct(&alice, &bob).await;
    alice.client.stop().await;
    server.stop().await;

    // Server down, engine stopped: compose 200. `send` returns at once with a pending copy.
    for i in 0..200 {
        let m = alice
            .conversation(chat)
            .send(&format!("offline {i}"))
            .expect("send works offline");
        assert_eq!(m.status, MessageStatus::Pending);
    }
    assert_eq!(alice.client.outbox_len().expect("outbox"), 200);

    // The process restarts with a full outbox, then the server comes back on its address.
    let alice = alice.restart(&url).await;
    assert_eq!(
        alice.client.outbox_len().expect("outbox"),
        200,
        "the outbox survived"
    );
    alice.client.start();
    let server = TestServer::start_at(config(&data), addr).await;

    alice
        .until("outbox empty", |c| c.outbox_len().expect("outbox") == 0)
        .await;
    let mine = alice.conversation(chat).messages(None, 1000).expect("read");
    assert!(
        mine.iter()
            .all(|m| m.seq.is_some() && m.status != MessageStatus::Pending),
        "every pending message became sent"
    );
    bob.until("bob has all 200", |c| {
        c.conversation(chat)
            .messages(None, 1000)
            .expect("read")
            .len()
            == 200
    })
    .await;
    let expected: Vec<(Option<i64>, String)> = (0..200)
        .map(|i| (Some(i + 1), format!("offline {i}")))
        .collect();
    assert_eq!(
        bob.history(chat),
        expected,
        "exactly once, in compose order"
    );
    server.stop().await;
}
