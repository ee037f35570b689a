//! Faults in the middle of a burst: the connection dropped, stalled or left half-open by a
//! proxy, and the server process killed. Afterwards every message is stored exactly once,
//! in compose order; a stalled link is noticed by the heartbeat rule alone.

use ferry_client::{ConnectionState, Event};
use uuid::Uuid;

use crate::support::{
    Device, Fault, Proxy, Served, TestDb, TestServer, config, direct, online, server_process,
    within,
};

const BURST: usize = 300;

/// Sends a burst from `alice`, runs `fault` once part of it is acknowledged, and checks
/// that `bob` ends with the whole burst exactly once, in compose order.
async fn burst_survives(alice: &Device, bob: &Device, chat: Uuid, fault: impl AsyncFnOnce()) {
    for i in 0..BURST {
        alice
            .client
            .send(chat, &format!("burst {i}"))
            .expect("send");
    }
    alice
        .until("part of the burst acked", |c| {
            c.outbox_len().expect("outbox") <= BURST - 50
        })
        .await;
    fault().await;
    alice
        .until("the whole burst acked", |c| {
            c.outbox_len().expect("outbox") == 0
        })
        .await;
    bob.until("bob has the burst", |c| {
        c.messages(chat, None, 1000).expect("read").len() == BURST
    })
    .await;
    let expected: Vec<(Option<i64>, String)> = (0..BURST)
        .map(|i| (Some(i as i64 + 1), format!("burst {i}")))
        .collect();
    assert_eq!(bob.history(chat), expected);
    assert_eq!(alice.history(chat), expected, "the sender's copy agrees");
}

async fn through_proxy(fault: Fault) -> Vec<String> {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let proxy = Proxy::start(server.addr).await;
    let alice = Device::register(&proxy.url(), "alice").await;
    let bob = Device::register(&server.url(), "bob").await;
    let mut events = alice.client.events();
    alice.client.start();
    bob.client.start();
    alice.online().await;
    bob.online().await;
    let chat = direct(&alice, &bob).await;
    burst_survives(&alice, &bob, chat, async || proxy.fault(fault)).await;
    // Why did Alice go offline on the way?
    let mut reasons = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let Event::Connection {
            state: ConnectionState::Offline {
                reason: Some(r), ..
            },
        } = event
        {
            reasons.push(r);
        }
    }
    reasons
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_dropped_mid_burst() {
    let reasons = through_proxy(Fault::Drop).await;
    assert!(!reasons.is_empty(), "the drop was noticed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_stalled_mid_burst_is_noticed_by_heartbeat() {
    let reasons = through_proxy(Fault::Stall).await;
    assert!(
        reasons.iter().any(|r| r.contains("stopped answering")),
        "no TCP error happens in a stall; only the heartbeat rule can notice: {reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connection_mid_burst_is_noticed_by_heartbeat() {
    let reasons = through_proxy(Fault::HalfOpen).await;
    assert!(
        reasons.iter().any(|r| r.contains("stopped answering")),
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_killed_mid_burst() {
    let data = TestDb::sqlite();
    let first = server_process(&data, "127.0.0.1:0").await;
    let addr = first.addr;
    let url = first.url();
    let [alice, bob] = online(&url, ["alice", "bob"]).await;
    let chat = direct(&alice, &bob).await;
    let mut restarted = None;
    burst_survives(&alice, &bob, chat, async || {
        first.kill().await;
        restarted = Some(server_process(&data, &addr.to_string()).await);
    })
    .await;
    within("kill", restarted.expect("restarted").kill()).await;
}
