//! A cluster: several real `ferry-server` processes on one Postgres database and one
//! NATS act as one server. Users on different nodes chat in a group; typing, receipts,
//! presence and membership changes cross nodes; a logout closes the session's sockets on
//! every node, as do a session ended from the account and a password change, a note
//! between a user's devices reaches the other device on another node, and a new
//! name reaches contacts on other nodes, and an operator's suspension and removal act on
//! every node; a node SIGKILLed mid-burst loses nothing acked, and its users are seen
//! offline once its lease runs out; a NATS restart mid-burst loses nothing either (the
//! nodes tell their sockets to catch up, and `/readyz` says what happened meanwhile).

use std::collections::HashMap;
use std::path::Path;

use ferry_proto::{ClientFrame, ConversationId, MessageId, MessagePage, ServerFrame, UserId};
use ferry_testkit::{NatsServer, S3Server, nats_url, subject_prefix};
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::Value;
use sha2::Digest;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use uuid::Uuid;

use crate::support::{
    Backend, JWT_SECRET, PASSWORD, Served, ServerProcess, TestDb, User, Ws, alice_and_bob,
    departing_users_are, test_config, within,
};

/// Nodes of one cluster, on one database and one NATS subject prefix.
struct Cluster {
    db: TestDb,
    nats: String,
    subject: String,
    nodes: Vec<Option<ServerProcess>>,
    /// The S3 server and bucket (`s3://…`) every node keeps files in, when the test
    /// asked for one.
    files: Option<(S3Server, String)>,
    /// Each node's presence grace (`FERRY_PRESENCE_GRACE_SECS`).
    grace_secs: u64,
}

impl Cluster {
    async fn start(nodes: usize, nats: String) -> Self {
        let db = TestDb::new(Backend::Postgres).await;
        // Every node reads the one secret from a file, as containers do.
        std::fs::write(db.dir.path().join("jwt-secret"), format!("{JWT_SECRET}\n"))
            .expect("write the secret file");
        let mut cluster = Self {
            db,
            nats,
            subject: subject_prefix(),
            nodes: Vec::new(),
            files: None,
            grace_secs: 0,
        };
        for _ in 0..nodes {
            let node = cluster.start_node().await;
            // A node serves before it is on the bus (and then tells its sockets to
            // catch up); the tests start from a cluster whose nodes all hear each other.
            bus_becomes(&node, "connected").await;
            cluster.nodes.push(Some(node));
        }
        cluster
    }

    /// Nodes that keep a user whose last socket closed online for `grace_secs`.
    async fn start_with_grace(nodes: usize, grace_secs: u64) -> Self {
        let mut cluster = Self::start(0, nats_url()).await;
        cluster.grace_secs = grace_secs;
        for _ in 0..nodes {
            let node = cluster.start_node().await;
            bus_becomes(&node, "connected").await;
            cluster.nodes.push(Some(node));
        }
        cluster
    }

    /// Nodes that may not reach NATS yet (not waited for).
    async fn start_without_bus(nodes: usize, nats: String) -> Self {
        let mut cluster = Self::start(0, nats).await;
        for _ in 0..nodes {
            let node = cluster.start_node().await;
            cluster.nodes.push(Some(node));
        }
        cluster
    }

    async fn start_node(&self) -> ServerProcess {
        let mut config = test_config(&self.db);
        config.jwt_secret = None;
        config.jwt_secret_file = Some(self.db.dir.path().join("jwt-secret"));
        config.nats_url = Some(self.nats.clone());
        config.nats_subject = self.subject.clone();
        config.presence_grace_secs = self.grace_secs;
        // Each node its own data directory, as on separate machines.
        config.data_dir = self.db.dir.path().join(format!("node-{}", Uuid::new_v4()));
        if let Some((s3, bucket)) = &self.files {
            config.files = Some(bucket.clone());
            config.s3_endpoint = Some(s3.endpoint());
            config.s3_region = Some("us-east-1".into());
            config.s3_access_key_id = Some("ferry-test".into());
            config.s3_secret_access_key = Some("ferry-test-secret".into());
        }
        ServerProcess::start(Path::new(env!("CARGO_BIN_EXE_ferry-server")), &config).await
    }

    fn node(&self, i: usize) -> &ServerProcess {
        self.nodes[i].as_ref().expect("a running node")
    }

    async fn kill(&mut self, i: usize) {
        self.nodes[i].take().expect("a running node").kill().await;
    }
}

/// `GET /readyz` of a node.
async fn readyz(node: &impl Served) -> Value {
    reqwest::get(format!("{}/readyz", node.url()))
        .await
        .expect("readyz")
        .json()
        .await
        .expect("readyz body")
}

/// Waits until a node's `/readyz` reports the bus as `status`.
async fn bus_becomes(node: &impl Served, status: &str) {
    within(&format!("the bus to be {status}"), async {
        loop {
            if readyz(node).await["bus"] == status {
                return;
            }
            // Polled: the state is the node's, and it says nothing when it changes.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
}

fn is_presence(user: UserId, online: bool) -> impl Fn(&ServerFrame) -> bool {
    move |f| matches!(f, ServerFrame::Presence { user_id, online: o, .. } if *user_id == user && *o == online)
}

#[tokio::test]
async fn three_nodes_act_as_one_server() {
    let cluster = Cluster::start(3, nats_url()).await;
    let (n1, n2, n3) = (cluster.node(0), cluster.node(1), cluster.node(2));
    let alice = User::register(n1, "alice").await;
    let bob = User::register(n2, "bob").await;
    let carol = User::register(n3, "carol").await;
    let group = alice.group("crew", &[&bob, &carol]).await.id;
    // They know each other: the requests are accepted (requests.rs tests strangers).
    bob.on(n2).accept(group).await;
    carol.on(n3).accept(group).await;

    // Presence crosses nodes both ways.
    let mut a = alice.on(n1).ws().await;
    let mut b = bob.on(n2).ws().await;
    a.expect("bob online, seen from node 1", is_presence(bob.id(), true))
        .await;
    let mut c = carol.on(n3).ws().await;
    a.expect(
        "carol online, seen from node 1",
        is_presence(carol.id(), true),
    )
    .await;
    b.expect(
        "carol online, seen from node 2",
        is_presence(carol.id(), true),
    )
    .await;
    let presence: Vec<ferry_proto::Presence> =
        carol.on(n3).ok(Method::GET, "/presence", None).await;
    assert!(
        presence.iter().all(|p| p.online),
        "node 3 counts sockets on nodes 1 and 2: {presence:?}"
    );

    // Messages from node 1 reach nodes 2 and 3, each once and in seq order.
    const BURST: i64 = 200;
    for i in 0..BURST {
        a.send(&Ws::send_frame(MessageId::new(), group, &format!("m{i}")))
            .await;
    }
    for (name, ws) in [("bob", &mut b), ("carol", &mut c)] {
        let mut seqs = Vec::new();
        while seqs.len() < BURST as usize {
            if let ServerFrame::Message { message } = ws.next().await {
                seqs.push(message.seq);
            }
        }
        assert_eq!(seqs, (1..=BURST).collect::<Vec<_>>(), "{name}'s frames");
        let extra: Vec<_> = ws
            .until_pong()
            .await
            .into_iter()
            .filter(|f| matches!(f, ServerFrame::Message { .. }))
            .collect();
        assert!(extra.is_empty(), "{name} got a message twice: {extra:?}");
    }

    // Typing and receipts from node 2 reach nodes 1 and 3.
    b.send(&ClientFrame::Typing {
        conversation_id: group,
        typing: true,
    })
    .await;
    for ws in [&mut a, &mut c] {
        ws.expect("bob typing", |f| {
            matches!(f, ServerFrame::Typing { user_id, typing: true, .. } if *user_id == bob.id())
        })
        .await;
    }
    c.send(&ClientFrame::Read {
        conversation_id: group,
        seq: BURST,
    })
    .await;
    for ws in [&mut a, &mut b] {
        ws.expect("carol's read receipt", |f| {
            matches!(f, ServerFrame::Receipt { user_id, read_seq, .. } if *user_id == carol.id() && *read_seq == BURST)
        })
        .await;
    }

    // Carol goes offline on node 3: seen on nodes 1 and 2.
    drop(c);
    a.expect(
        "carol offline, seen from node 1",
        is_presence(carol.id(), false),
    )
    .await;
    b.expect(
        "carol offline, seen from node 2",
        is_presence(carol.id(), false),
    )
    .await;

    // A membership change on node 1 reaches node 2's cache of members: after Alice
    // removes Bob, his typing on node 2 reaches nobody, and Carol (back, on node 3)
    // hears Alice's typing but not his.
    let mut c = carol.on(n3).ws().await;
    alice
        .on(n1)
        .no_content(
            Method::DELETE,
            &format!("/conversations/{group}/members/{}", bob.id()),
            None,
        )
        .await;
    b.expect(
        "bob told he left",
        |f| matches!(f, ServerFrame::Conversation { conversation } if conversation.id == group),
    )
    .await;
    b.send(&ClientFrame::Typing {
        conversation_id: group,
        typing: true,
    })
    .await;
    a.send(&ClientFrame::Typing {
        conversation_id: group,
        typing: true,
    })
    .await;
    c.expect(
        "alice typing",
        |f| matches!(f, ServerFrame::Typing { user_id, .. } if *user_id == alice.id()),
    )
    .await;
    let from_bob: Vec<_> = c
        .until_pong()
        .await
        .into_iter()
        .chain(a.until_pong().await)
        .filter(|f| matches!(f, ServerFrame::Typing { user_id, .. } if *user_id == bob.id()))
        .collect();
    assert!(
        from_bob.is_empty(),
        "a removed member's typing went out: {from_bob:?}"
    );
}

#[tokio::test]
async fn messages_committed_on_two_nodes_reach_a_third_in_seq_order() {
    // Alice on node 1 and Bob on node 2 write to one group at once: their frames reach
    // node 3 over two NATS connections, in either order; Carol's socket still gets every
    // message once, in seq order (filled from the database where one overtook another).
    const EACH: usize = 500;
    let cluster = Cluster::start(3, nats_url()).await;
    let (n1, n2, n3) = (cluster.node(0), cluster.node(1), cluster.node(2));
    let alice = User::register(n1, "alice").await;
    let bob = User::register(n2, "bob").await;
    let carol = User::register(n3, "carol").await;
    let group = alice.group("crew", &[&bob, &carol]).await.id;
    // They know each other: the requests are accepted (requests.rs tests strangers).
    bob.on(n2).accept(group).await;
    carol.on(n3).accept(group).await;
    let mut c = carol.on(n3).ws().await;
    // A first message, so that Carol's socket knows where the conversation stands (below
    // its first frame a socket leaves gaps to the client).
    alice.on(n1).send_rest(group, "hello").await;
    c.expect("the first message", |f| {
        matches!(f, ServerFrame::Message { .. })
    })
    .await;
    let (from_alice, mut alice_acks) = pipeline(alice.on(n1).ws().await, group);
    let (from_bob, mut bob_acks) = pipeline(bob.on(n2).ws().await, group);
    for (a, b) in compose(0, EACH).into_iter().zip(compose(EACH, EACH)) {
        from_alice.send(a).expect("queue");
        from_bob.send(b).expect("queue");
    }
    for _ in 0..EACH {
        within("alice's acks", alice_acks.recv())
            .await
            .expect("ack");
        within("bob's acks", bob_acks.recv()).await.expect("ack");
    }
    let total = 2 * EACH as i64 + 1;
    // Frames only ever go up; a `resync` (the node could not fill a gap, say when the
    // database was slow to answer under load) is followed as a client would.
    let mut seqs = vec![1];
    let (mut last_frame, mut resynced) = (1, false);
    while seqs.len() < total as usize {
        let highest = *seqs.last().expect("seq 1");
        match c.next().await {
            ServerFrame::Message { message } => {
                assert!(
                    message.seq > last_frame,
                    "seq {} after {last_frame}: out of order or twice",
                    message.seq
                );
                last_frame = message.seq;
                // After a catch-up the client holds some of these already.
                if message.seq > highest {
                    seqs.push(message.seq);
                }
            }
            ServerFrame::Resync => {
                resynced = true;
                let page: MessagePage = carol
                    .on(n3)
                    .ok(
                        Method::GET,
                        &format!("/conversations/{group}/messages?after_seq={highest}&limit=500"),
                        None,
                    )
                    .await;
                seqs.extend(page.messages.iter().map(|m| m.seq));
            }
            _ => {}
        }
    }
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
    if !resynced {
        let extra: Vec<_> = c
            .until_pong()
            .await
            .into_iter()
            .filter(|f| matches!(f, ServerFrame::Message { .. }))
            .collect();
        assert!(extra.is_empty(), "carol got a message twice: {extra:?}");
    }
}

#[tokio::test]
async fn a_logout_closes_the_session_on_every_node() {
    let cluster = Cluster::start(3, nats_url()).await;
    let alice = User::register(cluster.node(0), "alice").await;
    let other_device = User::login(cluster.node(0), "alice").await;
    let mut on_1 = alice.on(cluster.node(0)).ws().await;
    let mut on_2 = alice.on(cluster.node(1)).ws().await;
    let mut kept = other_device.on(cluster.node(1)).ws().await;

    alice
        .on(cluster.node(2))
        .no_content(Method::POST, "/auth/logout", None)
        .await;
    for ws in [&mut on_1, &mut on_2] {
        let close = ws.closed().await.expect("a close frame");
        assert_eq!(u16::from(close.code), ferry_proto::close::TOKEN_EXPIRED);
    }
    // The other session's socket is untouched.
    assert!(kept.until_pong().await.is_empty());
}

/// A note one device of a user leaves on one node reaches the user's other device on
/// another node live, and waits there too (history transfer's ask and answer go this
/// way).
#[tokio::test]
async fn a_note_between_a_users_devices_crosses_nodes() {
    let cluster = Cluster::start(2, nats_url()).await;
    let laptop = User::register(cluster.node(0), "alice").await;
    let phone = User::login(cluster.node(1), "alice").await;
    let mut at_phone = phone.ws().await;
    let note = serde_json::json!({
        "to_session_id": phone.tokens.session_id,
        "note": ferry_proto::mls::MlsBytes(b"an ask".to_vec()),
    });
    let left: ferry_proto::notes::DeviceNote =
        laptop.ok(Method::POST, "/mls/notes", Some(note)).await;
    let told = at_phone
        .expect("the phone is told on the other node", |f| {
            matches!(f, ServerFrame::MlsNote { .. })
        })
        .await;
    assert!(
        matches!(told, ServerFrame::MlsNote { session_id, ref note }
            if session_id == phone.tokens.session_id && **note == left),
        "{told:?}"
    );
    let waiting: Vec<ferry_proto::notes::DeviceNote> =
        phone.ok(Method::GET, "/mls/notes", None).await;
    assert_eq!(waiting, vec![left]);
}

/// What a person does to their account on one node takes effect on every node at once: a
/// new name reaches a contact's socket elsewhere, a session ended from another node
/// closes its socket, and a password change ends the other sessions' sockets everywhere.
#[tokio::test]
async fn account_changes_take_effect_on_every_node() {
    let cluster = Cluster::start(3, nats_url()).await;
    let (alice, bob, _) = alice_and_bob(cluster.node(0)).await;
    let phone = User::login(cluster.node(0), "alice").await;
    let laptop = User::login(cluster.node(0), "alice").await;
    let mut bobs = bob.on(cluster.node(1)).ws().await;
    let mut phones = phone.on(cluster.node(1)).ws().await;
    let mut laptops = laptop.on(cluster.node(0)).ws().await;

    alice
        .on(cluster.node(2))
        .ok::<ferry_proto::User>(
            Method::PATCH,
            "/me",
            Some(serde_json::json!({"display_name": "Ada"})),
        )
        .await;
    let renamed = bobs
        .expect(
            "bob hears the new name",
            |f| matches!(f, ServerFrame::User { user } if user.display_name == "Ada"),
        )
        .await;
    let ServerFrame::User { user } = renamed else {
        unreachable!()
    };
    assert_eq!(user.id, alice.id());

    alice
        .on(cluster.node(2))
        .no_content(
            Method::DELETE,
            &format!("/account/sessions/{}", phone.tokens.session_id),
            None,
        )
        .await;
    let close = phones.closed().await.expect("a close frame");
    assert_eq!(u16::from(close.code), ferry_proto::close::TOKEN_EXPIRED);

    alice
        .on(cluster.node(1))
        .no_content(
            Method::POST,
            "/account/password",
            Some(serde_json::json!({
                "current_password": PASSWORD,
                "new_password": "a new secret",
            })),
        )
        .await;
    let close = laptops.closed().await.expect("a close frame");
    assert_eq!(u16::from(close.code), ferry_proto::close::TOKEN_EXPIRED);
    // The session that changed it is untouched, on any node.
    alice
        .on(cluster.node(0))
        .ok::<ferry_proto::Account>(Method::GET, "/account", None)
        .await;
}

/// An operator on one node suspends an account whose devices are on the others: every
/// socket of theirs closes at once, their contacts on every node see them suspended, and
/// a removal by the operator reaches the members on every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_act_on_every_node() {
    let cluster = Cluster::start(3, nats_url()).await;
    let root = User::register(cluster.node(0), "root").await;
    crate::admin::host_admin_ok(&cluster.db.url, &["grant", "root"]).await;
    let (alice, bob, chat) = alice_and_bob(cluster.node(0)).await;
    let bobs_phone = User::login(cluster.node(0), "bob").await;
    let awful = bob.send_rest(chat, "something awful").await;
    let mut alices = alice.on(cluster.node(2)).ws().await;
    let mut bobs = bob.on(cluster.node(1)).ws().await;
    let mut phones = bobs_phone.on(cluster.node(2)).ws().await;

    root.on(cluster.node(0))
        .no_content(
            Method::POST,
            &format!("/admin/messages/{}/remove", awful.id),
            Some(serde_json::json!({"reason": "abuse"})),
        )
        .await;
    let removal = alices
        .expect(
            "alice hears the removal",
            |f| matches!(f, ServerFrame::Message { message } if message.removed_by_operator),
        )
        .await;
    let ServerFrame::Message { message } = removal else {
        unreachable!()
    };
    assert_eq!(message.change.map(|c| c.target), Some(awful.id));

    root.on(cluster.node(0))
        .ok::<ferry_proto::AdminUser>(
            Method::POST,
            &format!("/admin/users/{}/suspend", bob.id()),
            Some(serde_json::json!({"reason": "abuse"})),
        )
        .await;
    for (who, ws) in [
        ("bob on node 2", &mut bobs),
        ("bob's phone on node 3", &mut phones),
    ] {
        let close = ws.closed().await.expect("a close frame");
        assert_eq!(
            u16::from(close.code),
            ferry_proto::close::TOKEN_EXPIRED,
            "{who}"
        );
    }
    alices
        .expect("alice sees bob suspended", |f| {
            matches!(f, ServerFrame::User { user }
                if user.id == bob.id() && user.status == Some(ferry_proto::UserStatus::Suspended))
        })
        .await;
}

/// A raw socket that sends whatever is queued on the returned sender, pipelined, and
/// passes on every ack.
#[allow(clippy::type_complexity)]
fn pipeline(
    ws: Ws,
    conversation: ConversationId,
) -> (
    mpsc::UnboundedSender<(MessageId, String)>,
    mpsc::UnboundedReceiver<(MessageId, i64)>,
) {
    let (mut sink, mut stream) = ws.stream.split();
    let (acks_tx, acks) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(WsMessage::Text(text))) = stream.next().await {
            if let Ok(ServerFrame::Ack { id, seq, .. }) = serde_json::from_str(&text)
                && acks_tx.send((id, seq)).is_err()
            {
                break;
            }
        }
    });
    let (sends, mut queue) = mpsc::unbounded_channel::<(MessageId, String)>();
    tokio::spawn(async move {
        while let Some((id, body)) = queue.recv().await {
            let text =
                serde_json::to_string(&Ws::send_frame(id, conversation, &body)).expect("encode");
            if sink.send(WsMessage::Text(text.into())).await.is_err() {
                break;
            }
        }
    });
    (sends, acks)
}

/// Messages to send: `count` of them, numbered from `from`.
fn compose(from: usize, count: usize) -> Vec<(MessageId, String)> {
    (from..from + count)
        .map(|i| (MessageId::new(), format!("burst {i}")))
        .collect()
}

/// The whole conversation, read page by page.
async fn history(user: &User, conversation: ConversationId) -> Vec<ferry_proto::Message> {
    let mut all = Vec::new();
    loop {
        let after = all.last().map_or(0, |m: &ferry_proto::Message| m.seq);
        let page: MessagePage = user
            .ok(
                Method::GET,
                &format!("/conversations/{conversation}/messages?after_seq={after}&limit=500"),
                None,
            )
            .await;
        all.extend(page.messages);
        if !page.has_more {
            return all;
        }
    }
}

/// What a client does with live frames: stores a message, fetching the gap below it
/// first, and catches up on `resync`; returns the seqs it stored, in order, once it holds
/// `last`.
async fn receive_until(
    ws: &mut Ws,
    user: &User,
    conversation: ConversationId,
    last: i64,
) -> Vec<i64> {
    let mut stored: Vec<i64> = Vec::new();
    within("every message to arrive", async {
        while stored.last().copied().unwrap_or(0) < last {
            let target = match ws.next().await {
                ServerFrame::Message { message } => message.seq,
                ServerFrame::Resync => i64::MAX,
                _ => continue,
            };
            loop {
                let highest = stored.last().copied().unwrap_or(0);
                if target <= highest {
                    break; // already stored
                }
                if target == highest + 1 {
                    stored.push(target);
                    break;
                }
                let page: MessagePage = user
                    .ok(
                        Method::GET,
                        &format!(
                            "/conversations/{conversation}/messages?after_seq={highest}&limit=500"
                        ),
                        None,
                    )
                    .await;
                stored.extend(
                    page.messages
                        .iter()
                        .map(|m| m.seq)
                        .take_while(|seq| *seq <= target),
                );
                if !page.has_more {
                    break;
                }
            }
        }
    })
    .await;
    stored
}

/// A user whose socket drops on one node and who comes back on another within the
/// presence grace is announced neither offline nor online again: the first node's
/// registration holds through its grace, and the second node finds it.
#[tokio::test]
async fn a_reconnect_to_another_node_within_the_grace_announces_nothing() {
    // Longer than the test: the grace never ends by itself here.
    let cluster = Cluster::start_with_grace(2, 3600).await;
    let (n1, n2) = (cluster.node(0), cluster.node(1));
    let (alice, bob, conv) = alice_and_bob(n1).await;
    let mut b = bob.on(n2).ws().await;
    let a = alice.on(n1).ws().await;
    b.expect("alice online", is_presence(alice.id(), true))
        .await;

    drop(a);
    departing_users_are(n1, 1).await;
    let seen: Vec<ferry_proto::Presence> = bob.on(n2).ok(Method::GET, "/presence", None).await;
    assert!(seen[0].online, "node 2, within node 1's grace: {seen:?}");

    let mut a = alice.on(n2).ws().await;
    a.send(&Ws::send_frame(MessageId::new(), conv, "back"))
        .await;
    let before = b
        .until(|f| matches!(f, ServerFrame::Message { message } if message.body == "back"))
        .await;
    assert!(
        !before
            .iter()
            .any(|f| matches!(f, ServerFrame::Presence { .. })),
        "a reconnect to another node was announced: {before:?}"
    );
}

#[tokio::test]
async fn a_node_killed_mid_burst_loses_nothing_acked() {
    const BURST: usize = 3000;
    let mut cluster = Cluster::start(2, nats_url()).await;
    let (n1, n2) = (cluster.node(0), cluster.node(1));
    let alice = User::register(n1, "alice").await;
    let bob = User::register(n2, "bob").await;
    let carol = User::register(n1, "carol").await;
    let conv = alice.direct_with(&bob).await.id;
    let bc = bob.direct_with(&carol).await.id;
    carol.on(n1).accept(bc).await;

    let mut b = bob.on(n2).ws().await;
    let _c = carol.on(n1).ws().await;
    b.expect("carol online", is_presence(carol.id(), true))
        .await;

    let composed = compose(0, BURST);
    let (sends, mut acks) = pipeline(alice.on(n1).ws().await, conv);
    for message in &composed {
        sends.send(message.clone()).expect("queue");
    }
    let mut acked = HashMap::new();
    while acked.len() < 50 {
        let (id, seq) = within("early acks", acks.recv()).await.expect("acks");
        acked.insert(id, seq);
    }
    cluster.kill(0).await;
    while let Some((id, seq)) = within("the socket's end", acks.recv()).await {
        acked.insert(id, seq);
    }
    assert!(acked.len() < BURST, "the kill landed after the burst");

    // Node 1's last events may have died with it: node 2, hearing it no more, tells its
    // sockets to catch up. And Carol's only node died: once its lease runs out she is
    // offline on node 2. (Either may come first.)
    let (mut resync, mut carol_offline) = (false, false);
    while !(resync && carol_offline) {
        let frame = b.next().await;
        resync |= matches!(frame, ServerFrame::Resync);
        carol_offline |= is_presence(carol.id(), false)(&frame);
    }

    // Alice's client reconnects to node 2 and sends again whatever was not acked.
    let n2 = cluster.node(1);
    let unacked: Vec<(MessageId, String)> = composed
        .iter()
        .filter(|(id, _)| !acked.contains_key(id))
        .cloned()
        .collect();
    let expected_acks = unacked.len();
    let (sends, mut acks) = pipeline(alice.on(n2).ws().await, conv);
    for message in unacked {
        sends.send(message).expect("queue");
    }
    for _ in 0..expected_acks {
        within("acks after the move", acks.recv())
            .await
            .expect("ack");
    }

    // Bob, on node 2 all along, ends with every message once, in compose order.
    let seqs = receive_until(&mut b, &bob, conv, BURST as i64).await;
    assert_eq!(seqs, (1..=BURST as i64).collect::<Vec<_>>());
    let stored = history(&bob.on(n2), conv).await;
    let bodies: Vec<&str> = stored.iter().map(|m| m.body.as_str()).collect();
    let composed_bodies: Vec<&str> = composed.iter().map(|(_, b)| b.as_str()).collect();
    assert_eq!(
        bodies, composed_bodies,
        "each message once, in compose order"
    );
    for m in &stored {
        if let Some(seq) = acked.get(&m.id) {
            assert_eq!(*seq, m.seq, "an acked message kept its seq");
        }
    }
}

#[tokio::test]
async fn a_nats_restart_mid_burst_loses_nothing() {
    const BURST: usize = 3000;
    let mut nats = NatsServer::start().await;
    let cluster = Cluster::start(2, nats.url()).await;
    let (n1, n2) = (cluster.node(0), cluster.node(1));
    // Its first connection counts one, in a callback of its own: the baseline waits for it.
    let resyncs_before = within("the first connection's resync to be counted", async {
        loop {
            let counted = resyncs(n2).await;
            if counted >= 1 {
                return counted;
            }
            // Polled: the node says nothing when the counter moves.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    let alice = User::register(n1, "alice").await;
    let bob = User::register(n2, "bob").await;
    let conv = alice.direct_with(&bob).await.id;
    let mut b = bob.on(n2).ws().await;

    // A third of the burst before NATS goes away, a third while it is away, the rest
    // after it is back.
    let (sends, mut acks) = pipeline(alice.on(n1).ws().await, conv);
    let third = BURST / 3;
    let mut acked = 0;
    for (i, part) in [
        compose(0, third),
        compose(third, third),
        compose(2 * third, BURST - 2 * third),
    ]
    .into_iter()
    .enumerate()
    {
        match i {
            1 => {
                nats.kill().await;
                // Node 1 keeps serving its own sockets: these sends are still acked.
                bus_becomes(n1, "disconnected").await;
            }
            2 => {
                nats.restart().await;
                bus_becomes(n1, "connected").await;
                bus_becomes(n2, "connected").await;
            }
            _ => {}
        }
        let count = part.len();
        for message in part {
            sends.send(message).expect("queue");
        }
        for _ in 0..count {
            within("acks", acks.recv()).await.expect("ack");
        }
        acked += count;
    }
    assert_eq!(acked, BURST);

    let seqs = receive_until(&mut b, &bob, conv, BURST as i64).await;
    assert_eq!(seqs, (1..=BURST as i64).collect::<Vec<_>>());
    assert!(
        resyncs(n2).await > resyncs_before,
        "node 2 counted its resync"
    );
}

/// A node's `ferry_bus_resyncs_total`.
async fn resyncs(node: &impl Served) -> u64 {
    let metrics = reqwest::get(format!("{}/metrics", node.url()))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("ferry_bus_resyncs_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no ferry_bus_resyncs_total in:\n{metrics}"))
}

#[tokio::test]
async fn a_node_that_joins_the_bus_late_tells_its_sockets_to_catch_up() {
    // A node serves sockets before it reaches NATS; whatever other nodes published until
    // its subscription got there never came to it (a conversation made on another node
    // meanwhile, say), so its first connection is caught up like a return.
    let mut nats = NatsServer::start().await;
    nats.kill().await;
    let cluster = Cluster::start_without_bus(1, nats.url()).await;
    let node = cluster.node(0);
    let alice = User::register(node, "alice").await;
    let mut ws = alice.on(node).ws().await;
    assert!(
        ws.until_pong().await.is_empty(),
        "nothing to catch up before the bus"
    );
    nats.restart().await;
    ws.expect("resync once on the bus", |f| {
        matches!(f, ServerFrame::Resync)
    })
    .await;
    bus_becomes(node, "connected").await;
}

#[tokio::test]
async fn a_cluster_on_sqlite_is_refused() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = test_config(&db);
    config.nats_url = Some(nats_url());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let error = ferry_server::run(listener, config, std::future::pending())
        .await
        .expect_err("refused");
    assert!(error.to_string().contains("needs a Postgres"), "{error}");
}

/// Two nodes sharing one S3 bucket act as one file server: an upload's chunks go to
/// different nodes, and the file comes back whole from either.
#[tokio::test]
async fn nodes_share_files_through_one_bucket() {
    let mut cluster = Cluster::start(0, nats_url()).await;
    let s3 = S3Server::start().await;
    let bucket = format!("s3://{}", s3.bucket().await);
    cluster.files = Some((s3, bucket));
    for _ in 0..2 {
        let node = cluster.start_node().await;
        bus_becomes(&node, "connected").await;
        cluster.nodes.push(Some(node));
    }
    let alice = User::register(cluster.node(0), "alice").await;
    let bob = User::register(cluster.node(1), "bob").await;
    let conv = alice.direct_with(&bob).await.id;
    let alice_on_b = alice.on(cluster.node(1));

    let bytes = ferry_testkit::noise(6 * 1024 * 1024, 9);
    let sha256: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let declared: ferry_proto::Upload = alice
        .ok(
            Method::POST,
            "/uploads",
            Some(
                serde_json::json!({"name": "shared.bin", "size": bytes.len(),
                "content_type": "application/octet-stream", "sha256": sha256}),
            ),
        )
        .await;
    // The first chunk to node A, the rest to node B.
    let mut offset = 0;
    let mut stored = None;
    for (user, part) in [
        (&alice, &bytes[..4 * 1024 * 1024]),
        (&alice_on_b, &bytes[4 * 1024 * 1024..]),
    ] {
        let response = user
            .http
            .patch(format!("{}/uploads/{}", user.base, declared.id))
            .bearer_auth(&user.tokens.access_token)
            .header("upload-offset", offset)
            .body(part.to_vec())
            .send()
            .await
            .expect("PATCH");
        assert!(response.status().is_success(), "{}", response.status());
        let state: ferry_proto::Upload = response.json().await.expect("an upload");
        offset = state.offset;
        stored = state.attachment;
    }
    let file = stored.expect("stored by node B from chunks on both");
    let (status, body) = alice_on_b
        .call(
            Method::POST,
            &format!("/conversations/{conv}/messages"),
            Some(serde_json::json!({"id": Uuid::now_v7(), "body": "", "attachments": [file.id]})),
        )
        .await;
    assert!(status.is_success(), "{body}");
    for node in [0, 1] {
        let viewer = bob.on(cluster.node(node));
        let got = viewer
            .http
            .get(format!("{}/attachments/{}", viewer.base, file.id))
            .bearer_auth(&viewer.tokens.access_token)
            .send()
            .await
            .expect("GET")
            .bytes()
            .await
            .expect("body");
        assert!(got[..] == bytes[..], "byte-identical from node {node}");
    }
}
