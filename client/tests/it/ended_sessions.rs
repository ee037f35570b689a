//! A device whose session ended is taken out of the MLS groups it was in (issue 31:
//! removal is real), on both server databases: one ended from its user's other device at
//! once, by that device; one that signed itself out by a contact's device, told by the
//! server (`mls_session_ended`) while connected (at once by a device with something to
//! seal), or at its next connection, before the outbox sends what was written meanwhile.
//! What is sent after is sealed for the remaining devices only.

use std::time::Duration;

use ferry_testkit::{Backend, metric_at};

use crate::encryption::holders_are;
use crate::support::{Device, Served, TestDb, TestServer, config, direct, online, within};

async fn ended_sessions_leave_their_groups(backend: Backend) {
    let data = TestDb::new(backend).await;
    let server = TestServer::start_with(config(&data)).await;
    let url = server.url();
    let [alice, bob] = online(&url, ["alice", "bob"]).await;
    let chat = direct(&alice, &bob).await;
    let (a, b) = (alice.id(), bob.id());
    holders_are(&alice, chat, &[a, b]).await;

    // Alice's phone joins the group by itself (an external commit).
    let phone = Device::login(&url, "alice").await;
    phone.client.start();
    holders_are(&phone, chat, &[a, a, b]).await;
    holders_are(&alice, chat, &[a, a, b]).await;
    holders_are(&bob, chat, &[a, a, b]).await;

    // Alice ends the phone's session from her laptop: the laptop takes the phone out of
    // the group at once, and Bob's device follows the commit. (The server's word of the
    // end, below, would have the phone out within seconds too: this wait cannot tell
    // the two ways apart.)
    let sessions = phone.client.account().sessions().await.expect("sessions");
    let phones = sessions.iter().find(|s| s.current).expect("its own").id;
    alice
        .client
        .account()
        .end_session(phones)
        .await
        .expect("end the phone's session");
    holders_are(&alice, chat, &[a, b]).await;
    holders_are(&bob, chat, &[a, b]).await;
    bob.conversation(chat)
        .send("after the phone was signed out")
        .expect("send");
    alice
        .until("alice reads it", |c| {
            c.conversation(chat)
                .messages(None, 10)
                .expect("read")
                .iter()
                .any(|m| m.body == "after the phone was signed out")
        })
        .await;

    // Bob's tablet joins, then signs itself out: no device of Bob's is left to end it.
    // The server tells the members' devices (`mls_session_ended`), and one of them takes
    // it out at once: their own looks are 10 minutes away, well past this wait's timeout.
    let tablet = Device::login(&url, "bob").await;
    tablet.client.start();
    holders_are(&tablet, chat, &[a, b, b]).await;
    holders_are(&alice, chat, &[a, b, b]).await;
    holders_are(&bob, chat, &[a, b, b]).await;
    tablet.client.sign_out().await.expect("sign out");
    holders_are(&alice, chat, &[a, b]).await;
    holders_are(&bob, chat, &[a, b]).await;

    // Another tablet signs itself out while no one else is connected, so no one is told:
    // Alice's device takes it out when it next connects, before it sends what she wrote
    // meanwhile.
    let tablet = Device::login(&url, "bob").await;
    tablet.client.start();
    holders_are(&alice, chat, &[a, b, b]).await;
    holders_are(&bob, chat, &[a, b, b]).await;
    alice.client.stop().await;
    bob.client.stop().await;
    let with_the_tablet: i64 = alice
        .open_database()
        .query_row("SELECT mls_epoch FROM conversations", [], |r| r.get(0))
        .expect("the group's epoch");
    tablet.client.sign_out().await.expect("sign out");
    alice
        .conversation(chat)
        .send("written while the tablet signed out")
        .expect("send");
    let alice = alice.restart(&url).await;
    alice.client.start();
    holders_are(&alice, chat, &[a, b]).await;
    let bob = bob.restart(&url).await;
    bob.client.start();
    holders_are(&bob, chat, &[a, b]).await;
    bob.until("bob reads what alice wrote offline", |c| {
        c.conversation(chat)
            .messages(None, 10)
            .expect("read")
            .iter()
            .any(|m| m.body == "written while the tablet signed out")
    })
    .await;
    // Sealed after the removal: in an epoch the tablet's keys never had.
    let sealed_in = data.sealed_epochs(chat).await;
    assert!(
        sealed_in.last().is_some_and(|e| *e > with_the_tablet),
        "what alice wrote offline was sealed in epoch {:?}, with the tablet still in the \
         group (epoch {with_the_tablet})",
        sealed_in.last()
    );
}

/// A device told that a member's session ended waits a random moment (up to 5 s) before it
/// looks, so that not every device told commits the removal; one with something to seal
/// meanwhile looks first. Bob's tablet signs itself out while Bob's own device is away, so
/// Alice's device is the only one told; she writes the moment it is told, and what she
/// wrote is sealed in an epoch without the tablet.
async fn a_device_told_of_an_end_looks_before_it_seals(backend: Backend) {
    let data = TestDb::new(backend).await;
    let server = TestServer::start_with(config(&data)).await;
    let url = server.url();
    let [alice, bob, carol] = online(&url, ["alice", "bob", "carol"]).await;
    let chat = direct(&alice, &bob).await;
    let with_carol = direct(&carol, &alice).await;
    let (a, b) = (alice.id(), bob.id());
    let tablet = Device::login(&url, "bob").await;
    tablet.client.start();
    holders_are(&alice, chat, &[a, b, b]).await;
    holders_are(&bob, chat, &[a, b, b]).await;
    bob.client.stop().await;
    let with_the_tablet: i64 = alice
        .open_database()
        .query_row(
            "SELECT mls_epoch FROM conversations WHERE id = ?1",
            [chat.to_string()],
            |r| r.get(0),
        )
        .expect("the group's epoch");

    // The server counts an end once it has queued `mls_session_ended` on every socket it
    // tells; Carol's typing, sent after that, reaches Alice's socket after it. So once
    // Alice's device shows Carol typing, it has been told.
    let told = "ferry_ended_sessions_told_total";
    let before = metric_at(server.addr(), told).await;
    tablet.client.sign_out().await.expect("sign out");
    // The count is read from `/metrics`, which says nothing when it moves: look again at
    // a gentle pace.
    let mut look = tokio::time::interval(Duration::from_millis(20));
    within("the server tells of the tablet's end", async {
        while metric_at(server.addr(), told).await == before {
            look.tick().await;
        }
    })
    .await;
    carol.conversation(with_carol).set_typing(true);
    let c = carol.id();
    alice
        .until("alice sees carol typing", |client| {
            client.conversation(with_carol).typing() == vec![c]
        })
        .await;
    alice
        .conversation(chat)
        .send("written as the tablet left")
        .expect("send");

    let bob = bob.restart(&url).await;
    bob.client.start();
    bob.until("bob reads what alice wrote", |c| {
        c.conversation(chat)
            .messages(None, 10)
            .expect("read")
            .iter()
            .any(|m| m.body == "written as the tablet left")
    })
    .await;
    holders_are(&bob, chat, &[a, b]).await;
    let sealed_in = data.sealed_epochs(chat).await;
    assert!(
        sealed_in.last().is_some_and(|e| *e > with_the_tablet),
        "what alice wrote as she was told was sealed in epoch {:?}, with the tablet still \
         in the group (epoch {with_the_tablet})",
        sealed_in.last()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_sessions_leave_their_groups_on_sqlite() {
    ended_sessions_leave_their_groups(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_sessions_leave_their_groups_on_postgres() {
    ended_sessions_leave_their_groups(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_told_of_an_end_looks_before_it_seals_on_sqlite() {
    a_device_told_of_an_end_looks_before_it_seals(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_told_of_an_end_looks_before_it_seals_on_postgres() {
    a_device_told_of_an_end_looks_before_it_seals(Backend::Postgres).await;
}
