//! Retention (issue 28) on the devices: once the server deleted a conversation's oldest
//! messages, a device online is told to catch up and drops them at once, and a device
//! that was away drops them at its catch-up; neither keeps their text, nor asks the server
//! for what it no longer holds, and both go on with what comes next.

use std::time::Duration;

use ferry_client::Client;
use ferry_proto::ConversationId;
use ferry_testkit::TestDb;

use crate::support::{Device, Served, TestServer, config, direct, online};

/// Makes a conversation's messages up to `seq` look `days` older in the server's SQLite
/// file, as if sent then (the server stamps messages itself).
fn age(data: &TestDb, conversation: ConversationId, seq: i64, days: i64) {
    let path = data
        .url
        .strip_prefix("sqlite://")
        .and_then(|rest| rest.split('?').next())
        .expect("a SQLite URL");
    let db = rusqlite::Connection::open(path).expect("the server's database");
    db.busy_timeout(Duration::from_secs(10)).expect("timeout");
    db.execute(
        "UPDATE messages SET created_at = created_at - ?1 WHERE conversation_id = ?2 AND seq <= ?3",
        rusqlite::params![days * 86_400_000, conversation.0.as_bytes().to_vec(), seq],
    )
    .expect("age");
}

fn bodies(client: &Client, chat: ConversationId) -> Vec<(Option<i64>, String)> {
    client
        .conversation(chat)
        .messages(None, u32::MAX)
        .expect("messages")
        .into_iter()
        .map(|m| (m.seq, m.body))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_drop_what_the_server_no_longer_keeps() {
    let data = TestDb::sqlite();
    let mut settings = config(&data);
    settings.retention_days = 30;
    settings.retention_check_secs = 1;
    let server = TestServer::start_with(settings).await;
    let url = server.url();
    let [alice, bob] = online(&url, ["alice", "bob"]).await;
    let away = Device::login(&url, "bob").await;
    let chat = direct(&alice, &bob).await;
    for text in ["ancient secret one", "ancient secret two", "this week"] {
        alice.conversation(chat).send(text).expect("send");
    }
    for device in [&bob, &alice] {
        device
            .until("all three arrived", |c| bodies(c, chat).len() == 3)
            .await;
    }
    // The device that was away catches up once now, then goes away.
    away.client.start();
    away.until("away has all three", |c| bodies(c, chat).len() == 3)
        .await;
    // A new process on the same files, not started: offline.
    let away = away.restart(&url).await;

    age(&data, chat, 2, 45);
    let kept = vec![(Some(3), "this week".to_owned())];
    let unread = |c: &Client| {
        c.conversation(chat)
            .summary()
            .ok()
            .flatten()
            .map(|s| s.unread_count)
    };
    assert_eq!(unread(&bob.client), Some(3), "bob read nothing yet");
    for (device, who) in [(&alice, "alice"), (&bob, "bob")] {
        device.until(who, |c| bodies(c, chat) == kept).await;
        assert!(
            device
                .client
                .search("ancient", 10)
                .expect("search")
                .is_empty(),
            "{who}'s search index still has it"
        );
    }
    assert_eq!(unread(&bob.client), Some(1), "only what is left is unread");
    assert_eq!(bodies(&away.client, chat).len(), 3, "still offline");
    away.client.start();
    away.until("away drops them at its catch-up", |c| {
        bodies(c, chat) == kept
    })
    .await;
    // And everything goes on from there.
    bob.conversation(chat).send("seen").expect("send");
    for (device, who) in [(&alice, "alice"), (&away, "bob's other device")] {
        device
            .until(who, |c| {
                bodies(c, chat)
                    == [
                        (Some(3), "this week".to_owned()),
                        (Some(4), "seen".to_owned()),
                    ]
            })
            .await;
        assert_eq!(
            device.client.store().contiguous_seq(chat).expect("seq"),
            4,
            "{who} holds everything from where the server does"
        );
    }
    server.stop().await;
}
