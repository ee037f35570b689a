//! Notification levels, mentions and do-not-disturb through the client core, against the
//! real server: a level chosen offline holds on the device at once, reaches the server
//! when it comes back, and another device of the same person follows it; a mention of this
//! user is counted apart from the unread count, and counts alone towards the unread total
//! where the level is "mentions only"; do-not-disturb set on one device holds on the other.

use ferry_client::ConversationSummary;
use ferry_proto::{ConversationId, NotifyLevel, Timestamp, mentions};

use crate::support::{Device, Served, TestDb, TestServer, config, online};

fn summary(device: &Device, chat: ConversationId) -> ConversationSummary {
    device
        .conversation(chat)
        .summary()
        .expect("summary")
        .expect("the chat is stored")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_level_chosen_offline_reaches_every_device_and_mentions_count_apart() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let url = server.url();
    let addr = server.addr;
    let [alice, bob] = online(&url, ["alice", "bob"]).await;
    let laptop = Device::login(&url, "alice").await;
    laptop.client.start();
    laptop.online().await;
    let group = alice
        .client
        .create_group("Lunch crew", &[bob.id()])
        .await
        .expect("group");
    for device in [&bob, &laptop] {
        device
            .until("the group arrives", |c| {
                c.conversation(group).summary().ok().flatten().is_some()
            })
            .await;
    }
    bob.conversation(group).accept().await.expect("accept");

    // The server goes away; the choice holds at once and waits.
    server.stop().await;
    alice
        .conversation(group)
        .set_notifications(NotifyLevel::Mentions)
        .await
        .expect("works offline");
    assert_eq!(summary(&alice, group).notify, NotifyLevel::Mentions);
    assert_eq!(
        summary(&laptop, group).notify,
        NotifyLevel::All,
        "not there yet"
    );

    // Back: it goes up after the connect, and the laptop follows.
    let server = TestServer::start_at(config(&data), addr).await;
    laptop
        .until("the laptop follows", |c| {
            c.conversation(group)
                .summary()
                .ok()
                .flatten()
                .map(|s| s.notify)
                == Some(NotifyLevel::Mentions)
        })
        .await;

    // Bob writes twice, mentioning Alice once: two unread, one mention; with "mentions
    // only", the unread total counts the mention alone.
    bob.conversation(group)
        .send("lunch at noon?")
        .expect("queued");
    bob.conversation(group)
        .send(&format!("{} are you in?", mentions::token(alice.id())))
        .expect("queued");
    alice
        .until("both arrive", |c| {
            c.conversation(group)
                .summary()
                .ok()
                .flatten()
                .map(|s| s.unread_count)
                == Some(2)
        })
        .await;
    let seen = summary(&alice, group);
    assert_eq!((seen.unread_count, seen.unread_mentions), (2, 1));
    let counts = alice.client.unread_counts().expect("counts");
    assert_eq!(counts, vec![(group, 1)], "only the mention counts");
    // Bob's own summary: his message mentions Alice, not him.
    assert_eq!(summary(&bob, group).unread_mentions, 0);

    // "None" on the laptop: Alice's first device follows, and nothing counts.
    laptop
        .conversation(group)
        .set_notifications(NotifyLevel::Nothing)
        .await
        .expect("online");
    alice
        .until("the phone follows", |c| {
            c.conversation(group)
                .summary()
                .ok()
                .flatten()
                .map(|s| s.notify)
                == Some(NotifyLevel::Nothing)
        })
        .await;
    assert!(alice.client.unread_counts().expect("counts").is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn do_not_disturb_set_on_one_device_holds_on_the_other() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let url = server.url();
    let addr = server.addr;
    let [alice] = online(&url, ["alice"]).await;
    let laptop = Device::login(&url, "alice").await;
    laptop.client.start();
    laptop.online().await;
    let hour = Timestamp::from_millis(Timestamp::now().as_millis() + 3_600_000);

    alice
        .client
        .account()
        .set_do_not_disturb(Some(hour))
        .await
        .expect("online");
    assert_eq!(
        alice.client.do_not_disturb_until().expect("read"),
        Some(hour)
    );
    laptop
        .until("the laptop is quiet too", |c| {
            c.do_not_disturb_until().expect("read") == Some(hour)
        })
        .await;

    // Off, chosen on the laptop while the server is away: it holds there at once and
    // reaches the first device once the server is back.
    server.stop().await;
    laptop
        .client
        .account()
        .set_do_not_disturb(None)
        .await
        .expect("works offline");
    assert_eq!(laptop.client.do_not_disturb_until().expect("read"), None);
    let server = TestServer::start_at(config(&data), addr).await;
    alice
        .until("the first device hears it is off", |c| {
            c.do_not_disturb_until().expect("read").is_none()
        })
        .await;

    // A device started later learns it from the account.
    let tablet = Device::login(&url, "alice").await;
    alice
        .client
        .account()
        .set_do_not_disturb(Some(hour))
        .await
        .expect("online");
    tablet.client.start();
    tablet
        .until("a new device learns it", |c| {
            c.do_not_disturb_until().expect("read") == Some(hour)
        })
        .await;
    server.stop().await;
}
