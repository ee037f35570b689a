//! Live delivery over real sockets: chat between users, several devices of one user, a
//! group of five, typing, receipts, presence, and the socket's close codes.

use ferry_proto::{
    Change, ChangeKind, ClientFrame, ErrorCode, MessageId, OutgoingMessage, Role, ServerFrame,
    Timestamp, UserId,
};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::support::{
    Backend, TestDb, TestServer, User, Ws, alice_and_bob, departing_users_are, on_both,
    raw_upgrade, test_config, try_ws, within,
};

fn is_message(body: &'static str) -> impl Fn(&ServerFrame) -> bool {
    move |f| matches!(f, ServerFrame::Message { message } if message.body == body)
}

async fn two_users_chat_live(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let (alice, bob, conv) = alice_and_bob(&server).await;
    let mut a = alice.ws().await;
    let mut b = bob.ws().await;

    let id = MessageId::new();
    a.send(&Ws::send_frame(id, conv, "hi bob")).await;
    let ack = a
        .expect("ack", |f| matches!(f, ServerFrame::Ack { .. }))
        .await;
    assert!(
        matches!(ack, ServerFrame::Ack { id: i, seq: 1, conversation_id, .. } if i == id && conversation_id == conv)
    );
    let got = b.expect("bob gets it", is_message("hi bob")).await;
    let ServerFrame::Message { message } = got else {
        unreachable!()
    };
    assert_eq!(
        (message.id, message.seq, message.sender_id),
        (id, 1, alice.id())
    );

    b.send(&Ws::send_frame(MessageId::new(), conv, "hi alice"))
        .await;
    // Alice's next message frame is Bob's: her own message never echoes to her socket.
    let next = a
        .expect("alice gets bob's", |f| {
            matches!(f, ServerFrame::Message { .. })
        })
        .await;
    assert!(is_message("hi alice")(&next), "{next:?}");
    let history = alice.history(conv).await;
    assert_eq!(
        history
            .iter()
            .map(|m| (m.seq, m.body.as_str()))
            .collect::<Vec<_>>(),
        [(1, "hi bob"), (2, "hi alice")]
    );
}

async fn three_devices_see_messages_and_receipts(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let phone = User::register(&server, "alice").await;
    let laptop = User::login(&server, "alice").await;
    let tablet = User::login(&server, "alice").await;
    let bob = User::register(&server, "bob").await;
    let conv = bob.direct_with(&phone).await.id;
    let mut devices = [phone.ws().await, laptop.ws().await, tablet.ws().await];
    let mut b = bob.ws().await;

    b.send(&Ws::send_frame(MessageId::new(), conv, "to all of alice"))
        .await;
    for d in &mut devices {
        d.expect("every device gets it", is_message("to all of alice"))
            .await;
    }
    // A message from one device reaches the user's other devices (and not itself).
    devices[0]
        .send(&Ws::send_frame(MessageId::new(), conv, "from the phone"))
        .await;
    devices[0]
        .expect("ack", |f| matches!(f, ServerFrame::Ack { seq: 2, .. }))
        .await;
    for d in &mut devices[1..] {
        d.expect("other devices get it", is_message("from the phone"))
            .await;
    }
    b.expect("bob gets it", is_message("from the phone")).await;

    // Bob reads; all of Alice's devices see the receipt.
    b.send(&ClientFrame::Read {
        conversation_id: conv,
        seq: 2,
    })
    .await;
    for d in &mut devices {
        let r = d
            .expect("receipt", |f| matches!(f, ServerFrame::Receipt { .. }))
            .await;
        assert!(
            matches!(r, ServerFrame::Receipt { user_id, read_seq: 2, delivered_seq: 2, .. } if user_id == bob.id())
        );
    }
    // Bob writes again; Alice reads it on the laptop, and her other devices learn it (the
    // unread count clears there too).
    b.send(&Ws::send_frame(MessageId::new(), conv, "read me"))
        .await;
    for d in &mut devices {
        d.expect("new message", is_message("read me")).await;
    }
    devices[1]
        .send(&ClientFrame::Read {
            conversation_id: conv,
            seq: 3,
        })
        .await;
    for i in [0, 2] {
        let r = devices[i]
            .expect("own receipt", |f| matches!(f, ServerFrame::Receipt { .. }))
            .await;
        assert!(
            matches!(r, ServerFrame::Receipt { user_id, read_seq: 3, .. } if user_id == phone.id())
        );
    }
    b.expect("bob sees alice read", |f| {
        matches!(f, ServerFrame::Receipt { read_seq: 3, .. })
    })
    .await;
    let seen: ferry_proto::Conversation = tablet
        .ok(Method::GET, &format!("/conversations/{conv}"), None)
        .await;
    assert_eq!(seen.unread_count, 0);
}

async fn group_of_five(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let mut users = Vec::new();
    for name in ["ann", "ben", "cat", "dan", "eve"] {
        users.push(User::register(&server, name).await);
    }
    let mut sockets = Vec::new();
    for u in &users {
        sockets.push(u.ws().await);
    }
    let others: Vec<&User> = users[1..].iter().collect();
    let group = users[0].group("Five", &others).await;
    assert_eq!(group.members.len(), 5);
    for s in &mut sockets {
        let f = s
            .expect("conversation frame", |f| {
                matches!(f, ServerFrame::Conversation { .. })
            })
            .await;
        let ServerFrame::Conversation { conversation } = f else {
            unreachable!()
        };
        assert_eq!(
            (conversation.id, conversation.title.as_deref()),
            (group.id, Some("Five"))
        );
    }
    for (i, s) in sockets.iter_mut().enumerate() {
        s.send(&Ws::send_frame(
            MessageId::new(),
            group.id,
            &format!("from {i}"),
        ))
        .await;
    }
    // Each socket gets its own ack and the four other messages, in seq order, no echo.
    for (i, s) in sockets.iter_mut().enumerate() {
        let (mut acked, mut seqs) = (false, Vec::new());
        while !acked || seqs.len() < 4 {
            match s.next().await {
                ServerFrame::Ack { .. } => acked = true,
                ServerFrame::Message { message } => {
                    assert_ne!(
                        message.body,
                        format!("from {i}"),
                        "no echo to the sender's socket"
                    );
                    seqs.push(message.seq);
                }
                _ => {}
            }
        }
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "in seq order: {seqs:?}"
        );
    }
    assert_eq!(users[4].history(group.id).await.len(), 5);
}

/// The rows and removed ids of the one `members` frame in `frames`, which holds nothing
/// else.
fn one_members_frame(frames: &[ServerFrame]) -> (Vec<ferry_proto::Member>, Vec<UserId>) {
    let [
        ServerFrame::Members {
            members, removed, ..
        },
    ] = frames
    else {
        panic!("one members frame and nothing else: {frames:?}")
    };
    (members.clone(), removed.clone())
}

/// A socket that asked for `members` frames gets just the change when the members of a
/// group it has change: a few hundred bytes whatever the group's size, where the whole
/// conversation grows with every member (O(members²) bytes per change over the group).
/// Sockets that did not ask, and people to whom the group is new, get it whole.
async fn membership_changes_come_as_just_the_change(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let owner = User::register(&server, "owner").await;
    let bob = User::register(&server, "bob").await;
    let mut crowd = Vec::new();
    for i in 0..30 {
        crowd.push(User::register(&server, &format!("member{i}")).await);
    }
    let mut invited: Vec<&User> = vec![&bob];
    invited.extend(crowd.iter());
    let group = owner.group("Crowd", &invited).await;
    let (mut slim, mut whole) = (bob.ws_with_members().await, bob.ws().await);
    let ServerFrame::Welcome { features, .. } = &slim.welcome else {
        unreachable!()
    };
    assert_eq!(features, &["members".to_owned()]);
    let ServerFrame::Welcome { features, .. } = &whole.welcome else {
        unreachable!()
    };
    assert!(
        features.is_empty(),
        "nothing asked, nothing given: {features:?}"
    );

    // Dan joins.
    let dan = User::register(&server, "dan").await;
    let mut dans = dan.ws_with_members().await;
    owner
        .ok::<ferry_proto::Conversation>(
            Method::POST,
            &format!("/conversations/{}/members", group.id),
            Some(serde_json::json!({"user_ids": [dan.id()]})),
        )
        .await;
    let frames = slim.until_pong().await;
    let [
        ServerFrame::Members {
            conversation_id,
            members,
            removed,
            ..
        },
    ] = frames.as_slice()
    else {
        panic!("one members frame and nothing else: {frames:?}")
    };
    assert_eq!(*conversation_id, group.id);
    assert_eq!(
        members.iter().map(|m| m.user.id).collect::<Vec<_>>(),
        [dan.id()]
    );
    assert!(removed.is_empty());
    let size = serde_json::to_string(&frames[0]).expect("encode").len();
    assert!(size < 1024, "a members frame of {size} bytes");
    let frames = whole.until_pong().await;
    let [ServerFrame::Conversation { conversation }] = frames.as_slice() else {
        panic!("one whole conversation: {frames:?}")
    };
    assert_eq!(conversation.members.len(), 33);
    // To Dan the group is new: he gets all of it, even though he asked for `members`.
    let frames = dans.until_pong().await;
    let [ServerFrame::Conversation { conversation }] = frames.as_slice() else {
        panic!("dan gets the group whole: {frames:?}")
    };
    assert_eq!(conversation.members.len(), 33);

    // A member is removed: the others hear who; the removed member gets their last view.
    let mut gone = crowd[0].ws_with_members().await;
    owner
        .no_content(
            Method::DELETE,
            &format!("/conversations/{}/members/{}", group.id, crowd[0].id()),
            None,
        )
        .await;
    let (members, removed) = one_members_frame(&slim.until_pong().await);
    assert_eq!(removed, &[crowd[0].id()]);
    // A removal also lists the owner: it passes on when the owner leaves.
    assert_eq!(
        members
            .iter()
            .map(|m| (m.user.id, m.role))
            .collect::<Vec<_>>(),
        [(owner.id(), Role::Owner)]
    );
    let frames = gone.until_pong().await;
    let [ServerFrame::Conversation { conversation }] = frames.as_slice() else {
        panic!("the removed member's view: {frames:?}")
    };
    assert!(
        !conversation
            .members
            .iter()
            .any(|m| m.user.id == crowd[0].id())
    );

    // The owner leaves: a member who joined with the group (not Dan) becomes owner, and
    // that one row is all that changed besides the removal.
    owner
        .no_content(
            Method::DELETE,
            &format!("/conversations/{}/members/{}", group.id, owner.id()),
            None,
        )
        .await;
    let (members, removed) = one_members_frame(&slim.until_pong().await);
    assert_eq!(removed, &[owner.id()]);
    let [new_owner] = members.as_slice() else {
        panic!("the new owner alone: {members:?}")
    };
    assert_eq!(new_owner.role, Role::Owner);
    assert!(new_owner.user.id != dan.id(), "dan joined last");
}

/// The last member of a group leaves: their other device still hears that they left,
/// though nobody is left to read the group from.
async fn the_last_member_leaving_hears_it(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let solo = User::register(&server, "solo").await;
    let group = solo.group("Just me", &[]).await;
    let mut tablet = solo.ws_with_members().await;
    solo.no_content(
        Method::DELETE,
        &format!("/conversations/{}/members/{}", group.id, solo.id()),
        None,
    )
    .await;
    let frames = tablet.until_pong().await;
    let [ServerFrame::Conversation { conversation }] = frames.as_slice() else {
        panic!("the tablet hears of it: {frames:?}")
    };
    assert_eq!(conversation.id, group.id);
    assert!(
        conversation.members.is_empty(),
        "{:?}",
        conversation.members
    );
}

async fn typing_is_relayed_not_stored(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let bob = User::register(&server, "bob").await;
    let eve = User::register(&server, "eve").await;
    let conv = alice.direct_with(&bob).await.id;
    let mut a = alice.ws().await;
    let mut b = bob.ws().await;
    let mut e = eve.ws().await;

    a.send(&ClientFrame::Typing {
        conversation_id: conv,
        typing: true,
    })
    .await;
    let t = b
        .expect("typing", |f| matches!(f, ServerFrame::Typing { .. }))
        .await;
    assert!(
        matches!(t, ServerFrame::Typing { user_id, typing: true, conversation_id } if user_id == alice.id() && conversation_id == conv)
    );
    a.send(&ClientFrame::Typing {
        conversation_id: conv,
        typing: false,
    })
    .await;
    b.expect("typing stopped", |f| {
        matches!(f, ServerFrame::Typing { typing: false, .. })
    })
    .await;
    assert!(
        alice.history(conv).await.is_empty(),
        "typing is never stored"
    );

    // A stranger cannot type into someone else's conversation.
    e.send(&ClientFrame::Typing {
        conversation_id: conv,
        typing: true,
    })
    .await;
    let err = e
        .expect("error", |f| matches!(f, ServerFrame::Error { .. }))
        .await;
    assert!(matches!(
        err,
        ServerFrame::Error {
            code: ferry_proto::ErrorCode::NotFound,
            ..
        }
    ));
    // ...and Bob heard nothing from Eve: his next frame is the pong to this ping.
    b.send(&ClientFrame::Ping).await;
    assert_eq!(b.next().await, ServerFrame::Pong);
}

async fn presence_goes_online_and_offline(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let bob = User::register(&server, "bob").await;
    let conv = alice.direct_with(&bob).await.id;
    bob.accept(conv).await;
    let mut b = bob.ws().await;

    let mut a1 = alice.ws().await;
    let on = b
        .expect("online", |f| matches!(f, ServerFrame::Presence { .. }))
        .await;
    assert!(
        matches!(on, ServerFrame::Presence { user_id, online: true, last_seen: None } if user_id == alice.id())
    );
    let list: Vec<ferry_proto::Presence> = bob.ok(Method::GET, "/presence", None).await;
    assert_eq!(list.len(), 1);
    assert!(list[0].online);

    // A second device and its closing change nothing; the last socket closing does.
    let mut a2 = alice.ws().await;
    a2.stream.close(None).await.expect("close");
    a1.stream.close(None).await.expect("close");
    let off = b
        .expect("offline", |f| matches!(f, ServerFrame::Presence { .. }))
        .await;
    let ServerFrame::Presence {
        user_id,
        online: false,
        last_seen: Some(seen),
    } = off
    else {
        panic!("expected offline, got {off:?}");
    };
    assert_eq!(user_id, alice.id());
    // Exactly one offline: the next frame Bob gets is the answer to his ping.
    b.send(&ClientFrame::Ping).await;
    assert_eq!(b.next().await, ServerFrame::Pong);
    let list: Vec<ferry_proto::Presence> = bob.ok(Method::GET, "/presence", None).await;
    assert_eq!((list[0].online, list[0].last_seen), (false, Some(seen)));
}

/// A dropped connection that comes back within the presence grace announces nothing:
/// no "offline", no second "online", and Alice shows online throughout. Once she stays
/// away past the grace, one "offline" goes out with `last_seen` the time her socket
/// closed, not the time the grace ended.
async fn presence_rides_out_a_quick_reconnect(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    // Longer than any test: here the grace never ends by itself.
    config.presence_grace_secs = 3600;
    let server = TestServer::start_with(config).await;
    let (alice, bob, conv) = alice_and_bob(&server).await;
    let mut b = bob.ws().await;
    let a = alice.ws().await;
    b.expect("alice online", |f| {
        matches!(f, ServerFrame::Presence { user_id, online: true, .. } if *user_id == alice.id())
    })
    .await;

    drop(a);
    departing_users_are(&server, 1).await;
    let list: Vec<ferry_proto::Presence> = bob.ok(Method::GET, "/presence", None).await;
    assert!(list[0].online, "within the grace: {list:?}");

    let mut a = alice.ws().await;
    // The new socket's registration cancelled the departure before its welcome.
    assert_eq!(
        ferry_testkit::metric_at(server.addr, "ferry_departing_users").await,
        0
    );
    a.send(&Ws::send_frame(MessageId::new(), conv, "back"))
        .await;
    let before = b.until(is_message("back")).await;
    assert!(
        !before
            .iter()
            .any(|f| matches!(f, ServerFrame::Presence { .. })),
        "a quick reconnect was announced: {before:?}"
    );

    // A grace that ends: "offline", with when the socket closed.
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.presence_grace_secs = 1;
    let server = TestServer::start_with(config).await;
    let (alice, bob, _) = alice_and_bob(&server).await;
    let mut b = bob.ws().await;
    let a = alice.ws().await;
    b.expect("alice online", |f| {
        matches!(f, ServerFrame::Presence { online: true, .. })
    })
    .await;
    let closing = Timestamp::now();
    drop(a);
    let off = b
        .expect("offline", |f| matches!(f, ServerFrame::Presence { .. }))
        .await;
    let heard = Timestamp::now();
    let ServerFrame::Presence {
        online: false,
        last_seen: Some(seen),
        ..
    } = off
    else {
        panic!("expected offline, got {off:?}");
    };
    assert!(
        closing <= seen && heard.as_millis() - seen.as_millis() >= 1_000,
        "closing at {closing}, last seen {seen}, heard at {heard}"
    );
    assert_eq!(
        ferry_testkit::metric_at(server.addr, "ferry_departing_users").await,
        0
    );
    let list: Vec<ferry_proto::Presence> = bob.ok(Method::GET, "/presence", None).await;
    assert_eq!((list[0].online, list[0].last_seen), (false, Some(seen)));
}

async fn rest_send_and_read_reach_sockets(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let (alice, bob, conv) = alice_and_bob(&server).await;
    let mut a = alice.ws().await;
    let mut b = bob.ws().await;
    let sent = alice.send_rest(conv, "over rest").await;
    // REST has no socket to spare: every socket of every member hears it, the sender's too.
    a.expect("sender's socket", is_message("over rest")).await;
    b.expect("recipient", is_message("over rest")).await;
    bob.no_content(
        Method::POST,
        &format!("/conversations/{conv}/delivered"),
        Some(json!({"seq": sent.seq})),
    )
    .await;
    a.expect("delivered", |f| {
        matches!(
            f,
            ServerFrame::Receipt {
                delivered_seq: 1,
                read_seq: 0,
                ..
            }
        )
    })
    .await;
    bob.no_content(
        Method::POST,
        &format!("/conversations/{conv}/read"),
        Some(json!({"seq": 1})),
    )
    .await;
    a.expect("read", |f| {
        matches!(f, ServerFrame::Receipt { read_seq: 1, .. })
    })
    .await;
}

async fn logout_closes_sockets_with_4001(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let other_device = User::login(&server, "alice").await;
    let mut a = alice.ws().await;
    let mut keep = other_device.ws().await;
    alice.no_content(Method::POST, "/auth/logout", None).await;
    let close = a.closed().await.expect("close frame");
    assert_eq!(u16::from(close.code), ferry_proto::close::TOKEN_EXPIRED);
    let (status, body) = alice.call(Method::GET, "/me", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    // Only that session ended: the other device still works.
    keep.send(&ClientFrame::Ping).await;
    assert_eq!(keep.next().await, ServerFrame::Pong);
    let refused = try_ws(&alice.ws_url, Some(&alice.tokens.access_token)).await;
    assert!(
        matches!(refused, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 401)
    );
}

async fn token_expiry_closes_with_4001(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.access_ttl_secs = 1;
    let server = TestServer::start_with(config).await;
    let alice = User::register(&server, "alice").await;
    let bob = User::register(&server, "bob").await;
    let mut a = alice.ws().await;
    // A token of another user cannot be swapped in.
    a.send(&ClientFrame::Auth {
        access_token: bob.tokens.access_token.clone(),
    })
    .await;
    let err = a
        .expect("refused", |f| matches!(f, ServerFrame::Error { .. }))
        .await;
    assert!(
        matches!(
            err,
            ServerFrame::Error {
                code: ferry_proto::ErrorCode::Forbidden | ferry_proto::ErrorCode::Unauthorized,
                ..
            }
        ),
        "{err:?}"
    );
    let close = a.closed().await.expect("close frame");
    assert_eq!(u16::from(close.code), ferry_proto::close::TOKEN_EXPIRED);
}

async fn shutdown_closes_sockets_with_1001(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let mut a = alice.ws().await;
    let stopping = tokio::spawn(server.stop());
    let close = a.closed().await.expect("close frame");
    assert_eq!(u16::from(close.code), ferry_proto::close::GOING_AWAY);
    within("server stopped", stopping).await.expect("stop");
}

/// A client that never answers pings is dropped after three heartbeat periods. It speaks
/// raw WebSocket over TCP, because a WebSocket library would answer the pings itself.
async fn silent_client_is_dropped_by_heartbeat(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.heartbeat_secs = 1;
    let server = TestServer::start_with(config).await;
    let alice = User::register(&server, "alice").await;
    let mut tcp = raw_upgrade(&server, &alice.tokens.access_token).await;
    let mut bytes = Vec::new();
    within(
        "server drops the silent socket",
        tcp.read_to_end(&mut bytes),
    )
    .await
    .expect("read");
    let start = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("http response")
        + 4;
    assert!(bytes.starts_with(b"HTTP/1.1 101"), "upgraded");
    // Walk the server's frames (unmasked): welcome, pings, then close 1001.
    let mut rest = &bytes[start..];
    let mut opcodes = Vec::new();
    let mut close_code = None;
    while rest.len() >= 2 {
        let opcode = rest[0] & 0x0f;
        let (len, header) = match rest[1] & 0x7f {
            126 => (u16::from_be_bytes([rest[2], rest[3]]) as usize, 4),
            127 => panic!("unexpected huge frame"),
            n => (n as usize, 2),
        };
        let payload = &rest[header..header + len];
        if opcode == 0x8 {
            close_code = Some(u16::from_be_bytes([payload[0], payload[1]]));
        }
        opcodes.push(opcode);
        rest = &rest[header + len..];
    }
    assert_eq!(opcodes.first(), Some(&0x1), "welcome first");
    assert!(opcodes.contains(&0x9), "the server pinged: {opcodes:?}");
    assert_eq!(close_code, Some(ferry_proto::close::GOING_AWAY));
}

/// After a transient failure, later pipelined sends into the same conversation are refused
/// until the failed one is sent again, so they cannot overtake it.
async fn send_fence_keeps_pipelined_order(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.send_rate_per_sec = 1;
    config.send_burst = 1;
    let server = TestServer::start_with(config).await;
    let (alice, bob, conv) = alice_and_bob(&server).await;
    let other = alice.group("Elsewhere", &[&bob]).await.id;
    let mut a = alice.ws().await;
    let ids: Vec<MessageId> = (0..3).map(|_| MessageId::new()).collect();
    for (i, id) in ids.iter().enumerate() {
        a.send(&Ws::send_frame(*id, conv, &format!("pipelined {i}")))
            .await;
    }
    assert!(matches!(a.next().await, ServerFrame::Ack { id, .. } if id == ids[0]));
    let limited = a.next().await;
    assert!(
        matches!(limited, ServerFrame::Error { reference: Some(r), code: ferry_proto::ErrorCode::RateLimited, retry_after_ms: Some(_), .. } if r == ids[1]),
        "{limited:?}"
    );
    let fenced = a.next().await;
    let ServerFrame::Error {
        reference,
        code,
        message,
        ..
    } = fenced
    else {
        panic!("{fenced:?}")
    };
    assert_eq!(
        (reference, code),
        (Some(ids[2]), ferry_proto::ErrorCode::RateLimited)
    );
    assert!(message.contains("send it again first"), "{message}");
    // The fence is per conversation: elsewhere the socket is not fenced (only rate limited).
    let elsewhere = MessageId::new();
    a.send(&Ws::send_frame(elsewhere, other, "other conversation"))
        .await;
    let reply = a.next().await;
    let ServerFrame::Error { message, .. } = reply else {
        panic!("{reply:?}")
    };
    assert!(!message.contains("send it again first"), "{message}");
    assert_eq!(
        alice.history(conv).await.len(),
        1,
        "nothing overtook the failed message"
    );
    // A deletion of another message is held back like any send.
    let deletion = |target| ClientFrame::Send {
        message: OutgoingMessage {
            change: Some(Change {
                kind: ChangeKind::Delete,
                target,
                emoji: None,
            }),
            ..OutgoingMessage::text(MessageId::new(), conv, "")
        },
    };
    a.send(&deletion(ids[0])).await;
    let reply = a.next().await;
    let ServerFrame::Error { message, .. } = reply else {
        panic!("{reply:?}")
    };
    assert!(message.contains("send it again first"), "{message}");
    // The user gave the failed message up: its deletion lifts the fence. It is then
    // processed as any send: the message was never stored (or the deletion is rate
    // limited itself), but it is no longer refused for the fence.
    a.send(&deletion(ids[1])).await;
    let reply = a.next().await;
    let ServerFrame::Error { code, message, .. } = reply else {
        panic!("{reply:?}")
    };
    assert!(
        matches!(code, ErrorCode::NotFound | ErrorCode::RateLimited)
            && !message.contains("send it again first"),
        "{code:?}: {message}"
    );
}

/// A client that stops reading (but keeps its TCP connection) is dropped: the server's
/// writes time out, its presence goes offline, and nobody else is held up.
async fn stalled_reader_is_dropped(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.heartbeat_secs = 1;
    let server = TestServer::start_with(config).await;
    let (alice, bob, conv) = alice_and_bob(&server).await;
    let mut b = bob.ws().await;
    // Alice's raw socket: upgraded, then never read from again.
    let tcp = raw_upgrade(&server, &alice.tokens.access_token).await;
    b.expect("alice online", |f| {
        matches!(f, ServerFrame::Presence { online: true, .. })
    })
    .await;
    let body = "x".repeat(9_000);
    for _ in 0..1_500 {
        b.send(&Ws::send_frame(MessageId::new(), conv, &body)).await;
    }
    let off = b
        .expect("alice dropped", |f| {
            matches!(f, ServerFrame::Presence { online: false, .. })
        })
        .await;
    assert!(matches!(off, ServerFrame::Presence { user_id, .. } if user_id == alice.id()));
    drop(tcp);
}

/// A user toggling typing as fast as two sockets allow (every notice a change) gets at
/// most their budget relayed, over both sockets, not all 400.
async fn typing_is_budgeted_per_user(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let bob = User::register(&server, "bob").await;
    let conv = alice.direct_with(&bob).await.id;
    let mut sockets = [alice.ws().await, alice.ws().await];
    let mut b = bob.ws().await;
    for i in 0..400 {
        sockets[i % 2]
            .send(&ClientFrame::Typing {
                conversation_id: conv,
                typing: i % 4 < 2,
            })
            .await;
    }
    for socket in &mut sockets {
        socket.send(&ClientFrame::Ping).await;
        socket
            .expect("pong", |f| matches!(f, ServerFrame::Pong))
            .await;
    }
    alice.send_rest(conv, "done typing").await;
    let mut relayed = 0;
    loop {
        match b.next().await {
            ServerFrame::Typing { .. } => relayed += 1,
            ServerFrame::Message { .. } => break,
            _ => {}
        }
    }
    assert!(
        (1..=40).contains(&relayed),
        "{relayed} typing notices relayed"
    );
}

/// Typing goes by a cache of members; a member removed from a group stops getting it at
/// once, and can no longer type there.
async fn typing_repeats_are_not_relayed(backend: Backend) {
    // 50 notices of each kind, back to back: only the changes reach Bob (an honest client
    // repeats `typing:true` every 3 s at most, and receivers keep one for 6 s).
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let bob = User::register(&server, "bob").await;
    let conv = alice.direct_with(&bob).await.id;
    let mut a = alice.ws().await;
    let mut b = bob.ws().await;
    for typing in [true, false, true] {
        for _ in 0..50 {
            a.send(&ClientFrame::Typing {
                conversation_id: conv,
                typing,
            })
            .await;
        }
    }
    // Once Alice's socket has answered a ping, all of them were handled (a socket's
    // frames are, in order); a message sent then reaches Bob after every notice relayed.
    a.send(&ClientFrame::Ping).await;
    a.expect("pong", |f| matches!(f, ServerFrame::Pong)).await;
    alice.send_rest(conv, "done typing").await;
    let mut relayed = Vec::new();
    loop {
        match b.next().await {
            ServerFrame::Typing { typing, .. } => relayed.push(typing),
            ServerFrame::Message { .. } => break,
            _ => {}
        }
    }
    assert_eq!(relayed, [true, false, true]);
}

async fn removed_member_stops_getting_typing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let bob = User::register(&server, "bob").await;
    let carol = User::register(&server, "carol").await;
    let group = alice.group("Team", &[&bob, &carol]).await.id;
    let direct = alice.direct_with(&bob).await.id;
    let mut a = alice.ws().await;
    let mut b = bob.ws().await;
    let typing = |conversation_id| ClientFrame::Typing {
        conversation_id,
        typing: true,
    };
    // Bob gets the group's typing (and the cache now holds its members).
    a.send(&typing(group)).await;
    b.expect(
        "typing in the group",
        |f| matches!(f, ServerFrame::Typing { conversation_id, .. } if *conversation_id == group),
    )
    .await;

    alice
        .no_content(
            Method::DELETE,
            &format!("/conversations/{group}/members/{}", bob.id()),
            None,
        )
        .await;
    // Alice stops typing in the group (a change, so it is relayed to its members), then
    // types in the direct chat: both are queued to Bob's socket in that order, so if the
    // first reached him it would come before the second.
    a.send(&ClientFrame::Typing {
        conversation_id: group,
        typing: false,
    })
    .await;
    a.send(&typing(direct)).await;
    let first = b
        .expect("a typing notice", |f| {
            matches!(f, ServerFrame::Typing { .. })
        })
        .await;
    assert!(
        matches!(first, ServerFrame::Typing { conversation_id, .. } if conversation_id == direct),
        "a removed member got the group's typing: {first:?}"
    );
    b.send(&typing(group)).await;
    let refused = b
        .expect("an error", |f| matches!(f, ServerFrame::Error { .. }))
        .await;
    assert!(
        matches!(
            refused,
            ServerFrame::Error {
                code: ErrorCode::NotFound,
                ..
            }
        ),
        "{refused:?}"
    );
}

on_both!(
    membership_changes_come_as_just_the_change,
    the_last_member_leaving_hears_it,
    typing_repeats_are_not_relayed,
    typing_is_budgeted_per_user,
    removed_member_stops_getting_typing,
    stalled_reader_is_dropped,
    send_fence_keeps_pipelined_order,
    two_users_chat_live,
    three_devices_see_messages_and_receipts,
    group_of_five,
    typing_is_relayed_not_stored,
    presence_goes_online_and_offline,
    presence_rides_out_a_quick_reconnect,
    rest_send_and_read_reach_sockets,
    logout_closes_sockets_with_4001,
    token_expiry_closes_with_4001,
    shutdown_closes_sockets_with_1001,
    silent_client_is_dropped_by_heartbeat,
);
