//! Faults in the middle of a burst: the connection dropped, stalled or left half-open by a
//! proxy, and the server process killed. Afterwards every message is stored exactly once,
//! in compose order; a stalled link is noticed by the heartbeat rule alone. A read whose
//! kept-alive connection is reset under it is sent again; a change is not.

use ferry_client::{ConnectionState, Event};
use ferry_proto::ConversationId;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use crate::support::{
    Device, Fault, Proxy, Served, TestDb, TestServer, config, direct, online, server_process,
    within,
};

const BURST: usize = 300;

/// Sends a burst from `alice`, runs `fault` once part of it is acknowledged, and checks
/// that `bob` ends with the whole burst exactly once, in compose order.
async fn burst_survives(
    alice: &Device,
    bob: &Device,
    chat: ConversationId,
    fault: impl AsyncFnOnce(),
) {
    for i in 0..BURST {
        alice
            .conversation(chat)
            .send(&format!("burst {i}"))
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
        c.conversation(chat)
            .messages(None, 1000)
            .expect("read")
            .len()
            == BURST
    })
    .await;
    let expected: Vec<(Option<i64>, String)> = (0..BURST)
        .map(|i| (Some(i as i64 + 1), format!("burst {i}")))
        .collect();
    assert_eq!(bob.history(chat), expected);
    assert_eq!(alice.history(chat), expected, "the sender's copy agrees");
}

/// Runs the burst through a proxy that applies `fault`, and returns why Alice went
/// offline: the first reason she gave, waited for, then any that followed.
async fn through_proxy(fault: Fault) -> Vec<String> {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let proxy = Proxy::start(server.addr).await;
    let alice = Device::register(&proxy.url(), "alice").await;
    let bob = Device::register(&server.url(), "bob").await;
    let mut offline = offline_reasons(&alice);
    alice.client.start();
    bob.client.start();
    alice.online().await;
    bob.online().await;
    let chat = direct(&alice, &bob).await;
    burst_survives(&alice, &bob, chat, async || proxy.fault(fault)).await;
    // The rest of the burst may have been acknowledged before the fault reached the
    // link; a stalled link is then noticed only when the heartbeat rule runs out, after
    // the burst: wait for it rather than read what happened so far.
    let first = within("alice noticed the fault", offline.recv())
        .await
        .expect("the watcher runs");
    let mut reasons = vec![first];
    while let Ok(reason) = offline.try_recv() {
        reasons.push(reason);
    }
    reasons
}

/// Every reason `device` gives for going offline, read as it happens: a burst raises
/// thousands of events, more than the event channel keeps for a reader that waits.
fn offline_reasons(device: &Device) -> mpsc::UnboundedReceiver<String> {
    let mut events = device.client.events();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(Event::Connection {
                    state:
                        ConnectionState::Offline {
                            reason: Some(reason),
                            ..
                        },
                }) => {
                    if tx.send(reason).is_err() {
                        return;
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    });
    rx
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

/// The server stops, and comes back while the client waits half a minute or more to
/// reconnect (its backoff): it is online within seconds of the server's return, not at
/// the end of that wait. It knocked meanwhile, and its state said the server was not
/// reachable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_comes_back_is_noticed_before_the_backoff_ends() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let (url, addr) = (server.url(), server.addr);
    let device = Device::register(&url, "alice")
        .await
        .restart_with(&url, |options| {
            options.reconnect_min = std::time::Duration::from_secs(60);
            options.reconnect_max = std::time::Duration::from_secs(120);
        })
        .await;
    device.client.start();
    device.online().await;
    server.stop().await;
    let mut state = device.client.connection();
    let offline = within(
        "offline, a knock refused",
        state.wait_for(|s| {
            matches!(s, ConnectionState::Offline { reason: Some(why), .. }
                if why.contains("not reachable"))
        }),
    )
    .await
    .expect("state")
    .clone();
    let ConnectionState::Offline {
        retry_at: Some(retry_at),
        ..
    } = offline
    else {
        panic!("offline with a retry time: {offline:?}");
    };
    let away = retry_at.as_millis() - ferry_proto::Timestamp::now().as_millis();
    assert!(away > 20_000, "the next attempt is {away} ms away");

    let server = TestServer::start_at(config(&data), addr).await;
    ferry_testkit::within_for(
        std::time::Duration::from_secs(10),
        "online again long before the backoff ends",
        state.wait_for(|s| *s == ConnectionState::Online),
    )
    .await
    .expect("state");
    server.stop().await;
}

/// A kept-alive connection reset just as a request goes out on it (as when a server closes
/// a connection it found idle at that moment): a read is sent once more, on a new
/// connection, and succeeds; a change is not sent twice, and says the network failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_on_a_connection_reset_under_it_is_sent_again() {
    let data = TestDb::sqlite();
    let server = TestServer::start(&data).await;
    let proxy = Proxy::start(server.addr()).await;
    // Not started: no socket, so the proxy's only connections are the REST pool's.
    let alice = Device::register(&proxy.url(), "alice").await;
    alice
        .client
        .account()
        .sessions()
        .await
        .expect("a first read, which leaves a kept-alive connection");

    proxy.fault(Fault::ResetOnRequest);
    let sessions = alice
        .client
        .account()
        .sessions()
        .await
        .expect("sent again, on a new connection");
    assert_eq!(sessions.len(), 1, "the answer of the second try");

    proxy.fault(Fault::ResetOnRequest);
    match alice.client.account().rename("Alice A.").await {
        Err(ferry_client::ClientError::Api(ferry_client::ApiError::Network(_))) => {}
        other => panic!("a change is not sent again, and fails as the network: {other:?}"),
    }
}
