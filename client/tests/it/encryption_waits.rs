//! What a conversation says while its encryption waits (issue 31), on both server
//! databases: a chat that stays plain because one of Alice's own devices (signed in, not
//! online since) has no keys says whom it waits for; once that device has been online and
//! the chat changes, it is encrypted on every device and waits for no one.

use ferry_client::{Client, ConversationSummary};
use ferry_proto::ConversationId;
use ferry_testkit::Backend;

use crate::support::{Device, Served, TestDb, TestServer, config, online};

fn summary(c: &Client, chat: ConversationId) -> Option<ConversationSummary> {
    c.conversation(chat).summary().ok().flatten()
}

async fn a_chat_says_whom_its_encryption_waits_for(backend: Backend) {
    let data = TestDb::new(backend).await;
    let server = TestServer::start_with(config(&data)).await;
    let url = server.url();
    let [alice, bob] = online(&url, ["alice", "bob"]).await;
    let me = alice.id();
    // Alice's phone is signed in but has not been online: it has published no keys.
    let phone = Device::login(&url, "alice").await;
    let chat = alice.client.open_direct("bob").await.expect("open");
    alice
        .until("alice's chat waits for her phone", |c| {
            summary(c, chat).is_some_and(|s| !s.encrypted && s.without_keys == vec![me])
        })
        .await;

    // The phone comes online (keys published before it says so); Bob accepts, which
    // changes the chat, and so it is tried again.
    phone.client.start();
    phone.online().await;
    bob.until("bob has the request", |c| summary(c, chat).is_some())
        .await;
    bob.conversation(chat).accept().await.expect("accept");
    for device in [&alice, &bob, &phone] {
        device
            .until("encrypted, waiting for no one", |c| {
                summary(c, chat)
                    .is_some_and(|s| s.encrypted && !s.joining && s.without_keys.is_empty())
            })
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_says_whom_its_encryption_waits_for_on_sqlite() {
    a_chat_says_whom_its_encryption_waits_for(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_says_whom_its_encryption_waits_for_on_postgres() {
    a_chat_says_whom_its_encryption_waits_for(Backend::Postgres).await;
}
