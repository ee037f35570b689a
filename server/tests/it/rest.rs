//! The REST resources end to end: authentication, users, conversations, membership,
//! history, watermarks, visibility, operations endpoints and rate limits.

use ferry_proto::{
    Conversation, ConversationId, ConversationPage, MessagePage, Tokens, User as ApiUser,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{
    Backend, Served, TestDb, TestServer, User, alice_and_bob, on_both, test_config,
};

fn code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

async fn post_anon(server: &TestServer, path: &str, body: Value) -> (StatusCode, Value) {
    let r = reqwest::Client::new()
        .post(server.api(path))
        .json(&body)
        .send()
        .await
        .expect("send");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn auth_flow(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let (status, body) = post_anon(&server, "/auth/register", json!({"username": "Alice", "password": "correct horse battery", "display_name": "Alice A"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let tokens: Tokens = serde_json::from_value(body).expect("tokens");
    assert_eq!(tokens.user.username, "alice", "capitals are lowercased");
    let (status, body) = post_anon(
        &server,
        "/auth/register",
        json!({"username": "alice", "password": "another password", "display_name": "Imposter"}),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "username_taken")
    );

    // A wrong password and an unknown user look exactly the same.
    let (s1, wrong_pw) = post_anon(
        &server,
        "/auth/login",
        json!({"username": "alice", "password": "wrong password"}),
    )
    .await;
    let (s2, no_user) = post_anon(
        &server,
        "/auth/login",
        json!({"username": "nobody", "password": "wrong password"}),
    )
    .await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(wrong_pw, no_user);
    assert_eq!(code(&wrong_pw), "invalid_credentials");

    let alice = User::with_tokens(&server, tokens.clone());
    let me: ApiUser = alice.ok(Method::GET, "/me", None).await;
    assert_eq!(me.display_name, "Alice A");

    // Refresh rotates, and the old refresh token is single-use.
    let refresh =
        |token: &str| post_anon(&server, "/auth/refresh", json!({"refresh_token": token}));
    let (status, body) = refresh(&tokens.refresh_token).await;
    assert_eq!(status, StatusCode::OK);
    let rotated: Tokens = serde_json::from_value(body).expect("tokens");
    assert_ne!(rotated.refresh_token, tokens.refresh_token);
    assert_eq!(rotated.session_id, tokens.session_id);
    let fresh = User::with_tokens(&server, rotated.clone());
    let _: ApiUser = fresh.ok(Method::GET, "/me", None).await;
    // Its answer lost, the client retries with the old token at once: within the grace
    // window, and while the token it was exchanged for was never presented, that is a
    // retry, not a stolen copy. The lost token is withdrawn; the session lives on.
    let (status, body) = refresh(&tokens.refresh_token).await;
    assert_eq!(status, StatusCode::OK, "a retried refresh: {body}");
    let retried: Tokens = serde_json::from_value(body).expect("tokens");
    assert_eq!(retried.session_id, tokens.session_id);
    let (status, body) = refresh(&rotated.refresh_token).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthorized"),
        "the lost answer's token is withdrawn"
    );
    let (status, body) = refresh(&retried.refresh_token).await;
    assert_eq!(status, StatusCode::OK);
    let moved_on: Tokens = serde_json::from_value(body).expect("tokens");
    let fresh = User::with_tokens(&server, moved_on.clone());
    let _: ApiUser = fresh.ok(Method::GET, "/me", None).await;

    // Once its successor was presented, a used token coming back is a stolen copy: the
    // whole session ends.
    let (status, body) = refresh(&tokens.refresh_token).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let (status, _) = fresh.call(Method::GET, "/me", None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "reuse revoked the whole session"
    );
    let (status, _) = refresh(&moved_on.refresh_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Logout ends a session: its access and refresh tokens stop working.
    let device = User::login(&server, "alice").await;
    device.no_content(Method::POST, "/auth/logout", None).await;
    let (status, _) = device.call(Method::GET, "/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = post_anon(
        &server,
        "/auth/refresh",
        json!({"refresh_token": device.tokens.refresh_token}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn users_search(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    User::register(&server, "albert").await;
    User::register(&server, "bob").await;
    let found: Vec<ApiUser> = alice.ok(Method::GET, "/users?q=al&limit=10", None).await;
    assert_eq!(
        found
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        ["albert", "alice"]
    );
    let (status, _) = reqwest::get(server.api("/users?q=al"))
        .await
        .map(|r| (r.status(), ()))
        .expect("get");
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Finding someone, not listing everyone: an empty or one-letter search is refused,
    // a search returns at most 20, and a few dozen searches a minute is the most.
    for q in ["", "a", "%20a%20"] {
        let (status, body) = alice
            .call(Method::GET, &format!("/users?q={q}"), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "q={q:?}");
        assert_eq!(code(&body), "invalid_request");
    }
    for i in 0..25 {
        User::register(&server, &format!("user{i:02}")).await;
    }
    let found: Vec<ApiUser> = alice.ok(Method::GET, "/users?q=us&limit=500", None).await;
    assert_eq!(found.len(), 20);
    let mut refused = None;
    for n in 0..60 {
        let (status, body) = alice.call(Method::GET, "/users?q=us", None).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some((n, body));
            break;
        }
        assert_eq!(status, StatusCode::OK);
    }
    let (n, body) = refused.expect("60 searches at once are too many");
    assert!(n >= 15, "refused after only {n} searches");
    assert_eq!(code(&body), "rate_limited");
}

async fn direct_conversations(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let bob = User::register(&server, "bob").await;
    let body = json!({"kind": "direct", "member_ids": [bob.id()]});
    let (status, first) = alice
        .call(Method::POST, "/conversations", Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, again) = alice.call(Method::POST, "/conversations", Some(body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["id"], again["id"]);
    let (status, theirs) = bob
        .call(
            Method::POST,
            "/conversations",
            Some(json!({"kind": "direct", "member_ids": [alice.id()]})),
        )
        .await;
    assert_eq!((status, &theirs["id"]), (StatusCode::OK, &first["id"]));
    alice
        .refused(
            Method::POST,
            "/conversations",
            Some(json!({"kind": "direct", "member_ids": [alice.id()]})),
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
    alice
        .refused(
            Method::POST,
            "/conversations",
            Some(json!({"kind": "direct", "member_ids": [Uuid::now_v7()]})),
            (StatusCode::NOT_FOUND, "not_found"),
        )
        .await;
}

async fn group_membership_rules(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let owner = User::register(&server, "owner").await;
    let bob = User::register(&server, "bob").await;
    let carol = User::register(&server, "carol").await;
    let dan = User::register(&server, "dan").await;
    owner
        .refused(
            Method::POST,
            "/conversations",
            Some(json!({"kind": "group", "title": "  ", "member_ids": []})),
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
    let group = owner.group("Team", &[&bob]).await;
    let path = format!("/conversations/{}/members", group.id);

    bob.refused(
        Method::POST,
        &path,
        Some(json!({"user_ids": [carol.id()]})),
        (StatusCode::FORBIDDEN, "forbidden"),
    )
    .await;
    let added: Conversation = owner
        .ok(
            Method::POST,
            &path,
            Some(json!({"user_ids": [carol.id(), dan.id()]})),
        )
        .await;
    assert_eq!(added.members.len(), 4);
    bob.refused(
        Method::DELETE,
        &format!("{path}/{}", carol.id()),
        None,
        (StatusCode::FORBIDDEN, "forbidden"),
    )
    .await;
    let (status, _) = bob
        .call(Method::DELETE, &format!("{path}/{}", bob.id()), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "anyone may leave");
    owner
        .no_content(Method::DELETE, &format!("{path}/{}", dan.id()), None)
        .await;
    let (status, _) = bob
        .call(Method::GET, &format!("/conversations/{}", group.id), None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a former member no longer sees it"
    );
    let now: Conversation = carol
        .ok(Method::GET, &format!("/conversations/{}", group.id), None)
        .await;
    assert_eq!(now.members.len(), 2);

    let direct = owner.direct_with(&bob).await;
    owner
        .refused(
            Method::POST,
            &format!("/conversations/{}/members", direct.id),
            Some(json!({"user_ids": [carol.id()]})),
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
}

async fn history_and_idempotent_rest_send(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let (alice, bob, conv) = alice_and_bob(&server).await;
    let path = format!("/conversations/{conv}/messages");
    let id = Uuid::now_v7();
    let (status, first) = alice
        .call(
            Method::POST,
            &path,
            Some(json!({"id": id, "body": "hello"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, again) = alice
        .call(
            Method::POST,
            &path,
            Some(json!({"id": id, "body": "hello"})),
        )
        .await;
    assert_eq!((status, &again), (StatusCode::OK, &first));
    alice
        .refused(
            Method::POST,
            &path,
            Some(json!({"id": id, "body": "different"})),
            (StatusCode::CONFLICT, "conflict"),
        )
        .await;
    let (status, body) = bob
        .call(
            Method::POST,
            &path,
            Some(json!({"id": id, "body": "hello"})),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "conflict"),
        "another sender cannot claim the id"
    );

    for i in 2..=12 {
        alice.send_rest(conv, &format!("m{i}")).await;
    }
    let latest: MessagePage = bob.ok(Method::GET, &format!("{path}?limit=5"), None).await;
    assert_eq!(
        latest.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [8, 9, 10, 11, 12]
    );
    assert!(latest.has_more);
    let older: MessagePage = bob
        .ok(Method::GET, &format!("{path}?before_seq=8&limit=5"), None)
        .await;
    assert_eq!(
        older.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [3, 4, 5, 6, 7]
    );
    assert!(older.has_more);
    let oldest: MessagePage = bob
        .ok(Method::GET, &format!("{path}?before_seq=3&limit=5"), None)
        .await;
    assert_eq!(
        oldest.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [1, 2]
    );
    assert!(!oldest.has_more);
    let newer: MessagePage = bob
        .ok(Method::GET, &format!("{path}?after_seq=10&limit=5"), None)
        .await;
    assert_eq!(
        newer.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [11, 12]
    );
    assert!(!newer.has_more);
    let capped: MessagePage = bob
        .ok(
            Method::GET,
            &format!("{path}?after_seq=0&limit=100000"),
            None,
        )
        .await;
    assert_eq!(capped.messages.len(), 12);

    // Read watermark: capped at last_seq, only forward, reflected in unread counts.
    let c: Conversation = bob
        .ok(Method::GET, &format!("/conversations/{conv}"), None)
        .await;
    assert_eq!(c.unread_count, 12);
    bob.no_content(
        Method::POST,
        &format!("/conversations/{conv}/read"),
        Some(json!({"seq": 1000})),
    )
    .await;
    bob.no_content(
        Method::POST,
        &format!("/conversations/{conv}/read"),
        Some(json!({"seq": 3})),
    )
    .await;
    let c: Conversation = bob
        .ok(Method::GET, &format!("/conversations/{conv}"), None)
        .await;
    assert_eq!(c.unread_count, 0);
    let me = c
        .members
        .iter()
        .find(|m| m.user.id == bob.id())
        .expect("member");
    assert_eq!((me.read_seq, me.delivered_seq), (12, 12));
    let list: ConversationPage = bob.ok(Method::GET, "/conversations", None).await;
    assert_eq!(
        list.conversations[0]
            .last_message
            .as_ref()
            .map(|m| m.body.as_str()),
        Some("m12")
    );
}

async fn strangers_get_not_found_for_everything(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let bob = User::register(&server, "bob").await;
    let eve = User::register(&server, "eve").await;
    let conv = alice.direct_with(&bob).await.id;
    alice.send_rest(conv, "private").await;
    let group = alice.group("Private group", &[&bob]).await.id;
    for id in [conv, group, ConversationId::new()] {
        for (method, path, body) in [
            (Method::GET, format!("/conversations/{id}"), None),
            (Method::GET, format!("/conversations/{id}/messages"), None),
            (
                Method::POST,
                format!("/conversations/{id}/messages"),
                Some(json!({"id": Uuid::now_v7(), "body": "hi"})),
            ),
            (
                Method::POST,
                format!("/conversations/{id}/read"),
                Some(json!({"seq": 1})),
            ),
            (
                Method::POST,
                format!("/conversations/{id}/delivered"),
                Some(json!({"seq": 1})),
            ),
            (
                Method::POST,
                format!("/conversations/{id}/members"),
                Some(json!({"user_ids": [eve.id()]})),
            ),
            (
                Method::DELETE,
                format!("/conversations/{id}/members/{}", bob.id()),
                None,
            ),
        ] {
            let (status, response) = eve.call(method.clone(), &path, body).await;
            assert_eq!(
                (status, code(&response)),
                (StatusCode::NOT_FOUND, "not_found"),
                "{method} {path}"
            );
        }
    }
    let list: ConversationPage = eve.ok(Method::GET, "/conversations", None).await;
    assert!(list.conversations.is_empty());
    let sync: ferry_proto::SyncPage = eve.ok(Method::GET, "/sync", None).await;
    assert!(sync.conversations.is_empty());
    assert_eq!(
        alice.history(conv).await.len(),
        1,
        "nothing was stored by the stranger"
    );
}

async fn sync_with_latest_messages(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let (alice, bob, conv) = alice_and_bob(&server).await;
    for body in ["one", "two", "three"] {
        bob.send_rest(conv, body).await;
    }
    let sync: ferry_proto::SyncPage = alice.ok(Method::GET, "/sync?messages=2", None).await;
    let got: Vec<(i64, &str)> = sync
        .messages
        .iter()
        .map(|m| (m.seq, m.body.as_str()))
        .collect();
    assert_eq!(got, [(2, "two"), (3, "three")]);
    assert!(sync.messages.iter().all(|m| m.conversation_id == conv));
    // Not asked for: an empty list, as before the addition.
    let (status, plain) = alice.call(Method::GET, "/sync", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(plain["messages"], json!([]));
    alice
        .refused(
            Method::GET,
            "/sync?messages=many",
            None,
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
}

async fn conversation_list_pages(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let other = User::register(&server, &format!("friend{i}")).await;
        ids.push(alice.direct_with(&other).await.id);
    }
    alice.send_rest(ids[2], "bump").await;
    let first: ConversationPage = alice.ok(Method::GET, "/conversations?limit=2", None).await;
    assert_eq!(first.conversations[0].id, ids[2], "newest activity first");
    let mut seen: Vec<ConversationId> = first.conversations.iter().map(|c| c.id).collect();
    let mut next = first.next;
    while let Some(cursor) = next {
        let page: ConversationPage = alice
            .ok(
                Method::GET,
                &format!("/conversations?limit=2&before={cursor}"),
                None,
            )
            .await;
        seen.extend(page.conversations.iter().map(|c| c.id));
        next = page.next;
    }
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids);
    alice
        .refused(
            Method::GET,
            "/conversations?before=garbage",
            None,
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
}

async fn operations_endpoints(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let (alice, _bob, conv) = alice_and_bob(&server).await;
    alice.send_rest(conv, "counted").await;
    let get = |path: &str| reqwest::get(format!("{}{path}", server.url()));
    assert_eq!(
        get("/healthz").await.expect("healthz").status(),
        StatusCode::OK
    );
    // Probed in a burst (load balancers, or anyone), the database is asked once: a good
    // answer stands for a second.
    for _ in 0..50 {
        assert_eq!(
            get("/readyz").await.expect("readyz").status(),
            StatusCode::OK
        );
    }
    let pings = metric(&server, "ferry_readiness_pings_total").await;
    assert!(
        (1..=3).contains(&pings),
        "{pings} database pings for 50 probes"
    );
    let metrics = get("/metrics")
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("ferry_messages_stored_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("route=\"/api/v1/conversations/{id}/messages\""),
        "route templates, not raw paths"
    );
    let openapi: Value = get("/api/v1/openapi.json")
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    for path in [
        "/api/v1/auth/register",
        "/api/v1/conversations/{id}/messages",
        "/api/v1/sync",
    ] {
        assert!(openapi["paths"].get(path).is_some(), "openapi lists {path}");
    }
    // Every schema a body refers to is defined, the message's change among them.
    let text = openapi.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().expect("a name");
        assert!(
            openapi["components"]["schemas"].get(name).is_some(),
            "openapi defines {name}"
        );
    }
    let message = &openapi["components"]["schemas"]["Message"]["properties"];
    for field in ["reply_to", "change", "edited_at", "edit_seq", "deleted_at"] {
        assert!(
            message.get(field).is_some(),
            "Message has {field}: {message}"
        );
    }
    let missing = get("/api/v1/nope").await.expect("404");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body: Value = missing.json().await.expect("json 404");
    assert_eq!(code(&body), "not_found");
}

async fn send_rate_limit(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.send_rate_per_sec = 1;
    config.send_burst = 3;
    config.login_rate_per_min = 2;
    let server = TestServer::start_with(config).await;
    let (alice, _bob, conv) = alice_and_bob(&server).await;
    for _ in 0..3 {
        alice.send_rest(conv, "ok").await;
    }
    let response = alice
        .http
        .post(format!("{}/conversations/{conv}/messages", alice.base))
        .bearer_auth(&alice.tokens.access_token)
        .json(&json!({"id": Uuid::now_v7(), "body": "too fast"}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("secs");
    assert!(retry_after >= 1);
    let body: Value = response.json().await.expect("json");
    assert_eq!(code(&body), "rate_limited");
    assert!(
        body["error"]["retry_after_ms"]
            .as_u64()
            .expect("retry_after_ms")
            > 0
    );
    assert_eq!(
        alice.history(conv).await.len(),
        3,
        "the refused message was not stored"
    );

    // Login attempts per username.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            post_anon(
                &server,
                "/auth/login",
                json!({"username": "bob", "password": "wrong password"}),
            )
            .await
            .0,
        );
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

async fn connection_limit_per_user(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.max_connections_per_user = 2;
    let server = TestServer::start_with(config).await;
    let alice = User::register(&server, "alice").await;
    let _a = alice.ws().await;
    let _b = alice.ws().await;
    let mut third = crate::support::Ws {
        stream: crate::support::try_ws(&alice.ws_url, Some(&alice.tokens.access_token))
            .await
            .expect("upgrade"),
        welcome: ferry_proto::ServerFrame::Pong,
    };
    let close = third.closed().await.expect("close frame");
    assert_eq!(u16::from(close.code), ferry_proto::close::POLICY);
}

/// A sign-in from the loopback address `from` (127.0.0.0/8 is all this machine).
async fn login_from(
    server: &TestServer,
    from: [u8; 4],
    username: &str,
    password: &str,
) -> StatusCode {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(from))
        .build()
        .expect("a client")
        .post(server.api("/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .expect("send")
        .status()
}

async fn guessing_elsewhere_does_not_lock_the_owner_out(backend: Backend) {
    // Wrong passwords count per username and place (here two a minute), right ones not at
    // all; over all places a username takes ten times that before nobody may try.
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.login_rate_per_min = 2;
    let server = TestServer::start_with(config).await;
    User::register(&server, "bob").await;
    let (guesser, owner) = ([127, 0, 0, 2], [127, 0, 0, 3]);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(login_from(&server, guesser, "bob", "wrong password").await);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    for _ in 0..4 {
        assert_eq!(
            login_from(&server, owner, "bob", "correct horse battery").await,
            StatusCode::OK,
            "the owner signs in from their own place, again and again"
        );
    }
    // 2 wrong ones from each of nine more places: 20 over all, the ceiling.
    for last in 10..19 {
        for _ in 0..2 {
            let status = login_from(&server, [127, 0, 0, last], "bob", "wrong password").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
    }
    assert_eq!(
        login_from(&server, owner, "bob", "correct horse battery").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

on_both!(
    sync_long_polls_for_a_change,
    long_polls_wait_only_a_few_at_once,
    membership_changes_are_cheap_and_limited,
    guessing_elsewhere_does_not_lock_the_owner_out,
    auth_flow,
    users_search,
    direct_conversations,
    group_membership_rules,
    history_and_idempotent_rest_send,
    strangers_get_not_found_for_everything,
    sync_with_latest_messages,
    conversation_list_pages,
    operations_endpoints,
    send_rate_limit,
    connection_limit_per_user,
);

/// A metric of the server's `/metrics`.
async fn metric(server: &TestServer, name: &str) -> u64 {
    ferry_testkit::metric_at(server.addr, name).await
}

/// A change to a group of 60 is announced with one frame per distinct view, not one per
/// member: here the `members` frame and the newcomer's whole conversation, and one more
/// whole conversation once a member has a socket that did not ask for `members` frames
/// (everyone's unread count is 0). And membership changes are limited per user.
async fn membership_changes_are_cheap_and_limited(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.membership_rate_per_min = 5;
    let server = TestServer::start_with(config).await;
    let owner = User::register(&server, "owner").await;
    let mut ids = Vec::new();
    for i in 0..59 {
        ids.push(User::register(&server, &format!("member{i}")).await.id());
    }
    let group: ferry_proto::Conversation = owner
        .ok(
            Method::POST,
            "/conversations",
            Some(json!({"kind": "group", "title": "big", "member_ids": ids})),
        )
        .await;
    let before = metric(&server, "ferry_conversation_frames_encoded_total").await;
    let newcomer = User::register(&server, "newcomer").await;
    owner
        .ok::<ferry_proto::Conversation>(
            Method::POST,
            &format!("/conversations/{}/members", group.id),
            Some(json!({"user_ids": [newcomer.id()]})),
        )
        .await;
    let encoded = metric(&server, "ferry_conversation_frames_encoded_total").await - before;
    assert_eq!(encoded, 2, "frames encoded for 61 members");
    let member = User::login(&server, "member0").await;
    let mut whole = member.ws().await;
    let before = metric(&server, "ferry_conversation_frames_encoded_total").await;
    let second = User::register(&server, "second").await;
    owner
        .ok::<ferry_proto::Conversation>(
            Method::POST,
            &format!("/conversations/{}/members", group.id),
            Some(json!({"user_ids": [second.id()]})),
        )
        .await;
    let encoded = metric(&server, "ferry_conversation_frames_encoded_total").await - before;
    assert_eq!(
        encoded, 3,
        "frames encoded for 62 members, one socket wanting it whole"
    );
    let frames = whole.until_pong().await;
    assert!(
        matches!(frames.as_slice(), [ferry_proto::ServerFrame::Conversation { conversation }] if conversation.members.len() == 62),
        "{frames:?}"
    );

    // Five changes a minute (the group's creation and the two adds were three): the
    // sixth waits.
    for member in &ids[1..3] {
        owner
            .no_content(
                Method::DELETE,
                &format!("/conversations/{}/members/{member}", group.id),
                None,
            )
            .await;
    }
    owner
        .refused(
            Method::DELETE,
            &format!("/conversations/{}/members/{}", group.id, ids[3]),
            None,
            (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        )
        .await;
}

/// `/sync?wait=` with nothing new holds its answer until something is (a long-poll):
/// here, until Bob writes.
async fn sync_long_polls_for_a_change(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let (alice, bob, conv) = alice_and_bob(&server).await;
    // Read up to now. (On Postgres `/sync` is at least once: a page may repeat what the
    // last one had until every transaction before it is visible; read until one is
    // empty.)
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/sync?since={c}"),
            None => "/sync".to_owned(),
        };
        let page: ferry_proto::SyncPage = alice.ok(Method::GET, &path, None).await;
        let done = cursor.is_some() && page.conversations.is_empty();
        cursor = Some(page.cursor);
        if done {
            break;
        }
    }
    let cursor = cursor.expect("a cursor");
    let waiting = {
        let alice = alice.clone();
        let cursor = cursor.clone();
        tokio::spawn(async move {
            alice
                .ok::<ferry_proto::SyncPage>(
                    Method::GET,
                    &format!("/sync?since={cursor}&wait=10&messages=5"),
                    None,
                )
                .await
        })
    };
    // Only once the poll is parked does Bob write.
    crate::support::within("the poll to wait", async {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(10));
        while metric(&server, "ferry_sync_waiting").await != 1 {
            tick.tick().await;
        }
    })
    .await;
    bob.send_rest(conv, "are you there?").await;
    let page = crate::support::within("the long-poll to answer", waiting)
        .await
        .expect("the poll");
    assert_eq!(page.conversations.len(), 1, "{page:?}");
    assert!(page.messages.iter().any(|m| m.body == "are you there?"));
}

/// Issue 26: thousands of parked `/sync?wait=` from a few users held their memory, and a
/// change woke them all at once. A user's long-polls wait at most as many at once as
/// their sockets may (two here); more are answered at once, while those two still wait.
async fn long_polls_wait_only_a_few_at_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.max_connections_per_user = 2;
    let server = TestServer::start_with(config).await;
    let (alice, bob, conv) = alice_and_bob(&server).await;
    let page: ferry_proto::SyncPage = alice.ok(Method::GET, "/sync", None).await;
    let poll = |cursor: String| {
        let alice = alice.clone();
        tokio::spawn(async move {
            alice
                .ok::<ferry_proto::SyncPage>(
                    Method::GET,
                    &format!("/sync?since={cursor}&wait=10"),
                    None,
                )
                .await
        })
    };
    // Read to the end first (on Postgres a page may repeat the last until it is empty).
    let mut cursor = page.cursor;
    loop {
        let next: ferry_proto::SyncPage = alice
            .ok(Method::GET, &format!("/sync?since={cursor}"), None)
            .await;
        cursor = next.cursor;
        if next.conversations.is_empty() {
            break;
        }
    }
    let parked = [poll(cursor.clone()), poll(cursor.clone())];
    crate::support::within("two polls to wait", async {
        while metric(&server, "ferry_sync_waiting").await != 2 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    for _ in 0..3 {
        let answered = crate::support::within("a third poll to be answered", poll(cursor.clone()))
            .await
            .expect("the poll");
        assert!(answered.conversations.is_empty());
    }
    assert!(
        parked.iter().all(|p| !p.is_finished()),
        "the first two still wait"
    );
    assert_eq!(metric(&server, "ferry_sync_waiting").await, 2);
    bob.send_rest(conv, "wake up").await;
    for poll in parked {
        let page = crate::support::within("a parked poll to answer", poll)
            .await
            .expect("the poll");
        assert_eq!(page.conversations.len(), 1);
    }
}

/// With an operations token set, `/metrics` answers only a request bearing it; the
/// health checks stay open for load balancers.
#[tokio::test]
async fn metrics_can_require_a_token() {
    let db = TestDb::sqlite();
    let mut config = test_config(&db);
    config.ops_token = Some("ops-token-0123456789".into());
    let server = TestServer::start_with(config).await;
    let http = reqwest::Client::new();
    let get = |auth: Option<&'static str>| {
        let mut request = http.get(format!("{}/metrics", server.url()));
        if let Some(token) = auth {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    assert_eq!(
        get(None).await.expect("GET").status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(Some("ops-token-0123456788"))
            .await
            .expect("GET")
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let ok = get(Some("ops-token-0123456789")).await.expect("GET");
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.text().await.expect("text").contains("ferry_connections"));
    for open in ["/healthz", "/readyz"] {
        let status = http
            .get(format!("{}{open}", server.url()))
            .send()
            .await
            .expect("GET")
            .status();
        assert_eq!(status, StatusCode::OK, "{open}");
    }
}
