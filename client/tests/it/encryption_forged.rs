//! A server that lies about who sent a sealed entry (issue 31), on both server databases.
//! The server stamps each entry with its sender, and the app shows that name; the
//! entry's MLS signature names the member who sealed it. The server's database is
//! rewritten to say that Carol sent what Alice sealed: Bob's device, catching up, does
//! not show Alice's words in Carol's name. It keeps the entry unreadable, and Alice's
//! next message opens as hers.

use ferry_proto::ConversationId;
use ferry_testkit::Backend;

use crate::support::{Device, Served, TestDb, TestServer, config, encrypted_group, online};

/// The entry with this seq, as the device holds it.
fn entry(device: &Device, group: ConversationId, seq: i64) -> Option<ferry_client::LocalMessage> {
    device
        .conversation(group)
        .messages(None, 50)
        .expect("read")
        .into_iter()
        .find(|m| m.seq == Some(seq))
}

async fn a_sealed_entry_is_never_shown_in_another_members_name(backend: Backend) {
    let data = TestDb::new(backend).await;
    let server = TestServer::start_with(config(&data)).await;
    let url = server.url();
    let [alice, bob, carol] = online(&url, ["alice", "bob", "carol"]).await;
    let group = encrypted_group(&alice, &[&bob, &carol], "plans").await;

    // Bob is away while Alice writes and the server rewrites who sent it.
    bob.client.stop().await;
    let words = "alice's own words, not carol's";
    let sent = alice.conversation(group).send(words).expect("send");
    alice
        .until("alice's message is stored", |c| {
            c.message(sent.id)
                .expect("read")
                .is_some_and(|m| m.seq.is_some())
        })
        .await;
    let seq = alice
        .client
        .message(sent.id)
        .expect("read")
        .and_then(|m| m.seq)
        .expect("a seq");
    data.forge_sender(group, seq, carol.id()).await;

    let bob = bob.restart(&url).await;
    bob.client.start();
    bob.until("bob has the entry", |_| entry(&bob, group, seq).is_some())
        .await;
    let forged = entry(&bob, group, seq).expect("held");
    assert!(
        forged.unreadable && forged.body != words,
        "bob's device shows {:?} from {} (carol is {}): it must not show alice's words in \
         carol's name",
        forged.body,
        forged.sender_id,
        carol.id()
    );

    // What Alice writes next opens, as hers.
    let next = alice
        .conversation(group)
        .send("and this one is mine")
        .expect("send");
    bob.until("bob reads alice's next message", |c| {
        c.message(next.id).expect("read").is_some_and(|m| {
            !m.unreadable && m.body == "and this one is mine" && m.sender_id == alice.id()
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_entry_is_never_shown_in_another_members_name_on_sqlite() {
    a_sealed_entry_is_never_shown_in_another_members_name(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sealed_entry_is_never_shown_in_another_members_name_on_postgres() {
    a_sealed_entry_is_never_shown_in_another_members_name(Backend::Postgres).await;
}
