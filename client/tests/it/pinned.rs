//! The clock and id source that `ClientOptions` inject: a message composed with pinned
//! ones carries the pinned id and compose time, and the id travels: the server and the
//! other side store the message under it.

use std::sync::Arc;

use ferry_client::tokens::MemoryTokens;
use ferry_client::{Client, Clock, MessageStatus, SequentialIds};
use ferry_proto::Timestamp;

use crate::support::{Device, Served, TestDb, TestServer, config, options};

/// A clock that never moves.
#[derive(Debug)]
struct Frozen(Timestamp);

impl Clock for Frozen {
    fn now(&self) -> Timestamp {
        self.0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_clock_and_ids_reach_the_message() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let bob = Device::register(&server.url(), "bob").await;
    bob.client.start();
    bob.online().await;

    let dir = tempfile::tempdir().expect("temp dir");
    let composed_at = Timestamp::from_millis(1_700_000_000_000);
    let ids = Arc::new(SequentialIds::new(composed_at.as_millis() as u64));
    let mut options = options(&server.url(), dir.path());
    options.ids = ids.clone();
    options.clock = Arc::new(Frozen(composed_at));
    let alice = Client::register(
        options,
        Arc::new(MemoryTokens::default()),
        "alice",
        "correct horse battery",
        "alice",
    )
    .await
    .expect("register");
    let chat = alice.open_direct("bob").await.expect("direct");

    let composed = alice.conversation(chat).send("pinned").expect("send");
    assert_eq!(composed.id, ids.nth(1));
    assert_eq!(composed.created_at, composed_at);
    assert_eq!(composed.status, MessageStatus::Pending);
    assert_eq!(
        alice.conversation(chat).send("next").expect("send").id,
        ids.nth(2)
    );

    alice.start();
    bob.until("bob has both under the pinned ids", |c| {
        let got: Vec<_> = c
            .conversation(chat)
            .messages(None, 10)
            .expect("read")
            .into_iter()
            .map(|m| (m.id, m.body))
            .collect();
        got == vec![(ids.nth(1), "pinned".into()), (ids.nth(2), "next".into())]
    })
    .await;
    alice.stop().await;
}
