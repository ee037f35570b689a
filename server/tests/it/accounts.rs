//! People's own accounts (issue 28): the profile reaching other devices and contacts live,
//! the password changed with the current one, the sessions listed and ended (their sockets
//! closed at once), an address confirmed and a forgotten password reset through a real SMTP
//! server, and an account deleted: signed out, its name held, its messages and reactions
//! deleted for everyone, wherever they were.

use ferry_proto::{
    Account, ChangeKind, Conversation, Message, MessageId, ServerFrame, SessionInfo, Tokens,
    UserStatus,
};
use ferry_testkit::{SmtpSink, code_in, smtp_config};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{
    Backend, PASSWORD, Served, TestDb, TestServer, User, Ws, alice_and_bob, on_both, test_config,
};

/// Signs `username` in again with `password`, as a new device.
async fn sign_in(
    server: &impl Served,
    username: &str,
    password: &str,
) -> (StatusCode, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(server.api("/auth/login"))
        .json(&json!({"username": username, "password": password, "device_name": "Phone"}))
        .send()
        .await
        .expect("login request");
    let status = response.status();
    (status, response.json().await.unwrap_or_default())
}

/// A socket's close code once the server closes it.
async fn close_code(ws: &mut Ws) -> Option<u16> {
    ws.closed().await.map(|frame| u16::from(frame.code))
}

async fn a_new_name_reaches_other_devices_and_contacts(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let (alice, bob, conv) = alice_and_bob(&server).await;
    let phone = User::login(&server, "alice").await;
    let mut bobs = bob.ws().await;
    let mut alices_phone = phone.ws().await;

    let renamed: ferry_proto::User = alice
        .ok(
            Method::PATCH,
            "/me",
            Some(json!({"display_name": "  Ada  "})),
        )
        .await;
    assert_eq!(renamed.display_name, "Ada", "trimmed");
    for (who, ws) in [("bob", &mut bobs), ("alice's phone", &mut alices_phone)] {
        let frame = ws
            .expect(who, |f| matches!(f, ServerFrame::User { .. }))
            .await;
        let ServerFrame::User { user } = frame else {
            unreachable!()
        };
        assert_eq!(
            (user.id, user.display_name.as_str()),
            (alice.id(), "Ada"),
            "{who}"
        );
    }
    let seen: Conversation = bob
        .ok(Method::GET, &format!("/conversations/{conv}"), None)
        .await;
    let shown = seen
        .members
        .iter()
        .find(|m| m.user.id == alice.id())
        .expect("alice");
    assert_eq!(shown.user.display_name, "Ada");

    for bad in ["", "   ", "a\u{7}b", &"x".repeat(65)] {
        alice
            .refused(
                Method::PATCH,
                "/me",
                Some(json!({ "display_name": bad })),
                (StatusCode::BAD_REQUEST, "invalid_request"),
            )
            .await;
    }
    let me: ferry_proto::User = alice.ok(Method::GET, "/me", None).await;
    assert_eq!(me.display_name, "Ada", "a refused name changes nothing");
}

async fn a_password_change_needs_the_current_one_and_ends_other_sessions(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    let laptop = User::login(&server, "alice").await;
    let mut laptops = laptop.ws().await;

    alice
        .refused(
            Method::POST,
            "/account/password",
            Some(json!({"current_password": "not it at all", "new_password": "a new secret"})),
            (StatusCode::UNAUTHORIZED, "invalid_credentials"),
        )
        .await;
    alice
        .refused(
            Method::POST,
            "/account/password",
            Some(json!({"current_password": PASSWORD, "new_password": "short"})),
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
    // Kept: the laptop stays signed in.
    alice
        .no_content(
            Method::POST,
            "/account/password",
            Some(json!({"current_password": PASSWORD, "new_password": "a new secret", "keep_other_sessions": true})),
        )
        .await;
    laptop.ok::<Account>(Method::GET, "/account", None).await;
    // Not kept: every other session ends, its socket at once.
    alice
        .no_content(
            Method::POST,
            "/account/password",
            Some(json!({"current_password": "a new secret", "new_password": "another secret"})),
        )
        .await;
    assert_eq!(close_code(&mut laptops).await, Some(4001));
    laptop
        .refused(
            Method::GET,
            "/account",
            None,
            (StatusCode::UNAUTHORIZED, "unauthorized"),
        )
        .await;
    alice.ok::<Account>(Method::GET, "/account", None).await;
    assert_eq!(
        sign_in(&server, "alice", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&server, "alice", "another secret").await.0,
        StatusCode::OK
    );
}

async fn sessions_are_listed_and_ended_one_by_one(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let (alice, bob, _) = alice_and_bob(&server).await;
    let (status, tokens) = sign_in(&server, "alice", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    let phone = User::with_tokens(
        &server,
        serde_json::from_value::<Tokens>(tokens).expect("tokens"),
    );
    let mut phones = phone.ws().await;

    let sessions: Vec<SessionInfo> = alice.ok(Method::GET, "/account/sessions", None).await;
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let here = sessions.iter().find(|s| s.current).expect("this session");
    assert_eq!(here.id, alice.tokens.session_id);
    let there = sessions.iter().find(|s| !s.current).expect("the phone");
    assert_eq!(there.id, phone.tokens.session_id);
    assert_eq!(there.device_name.as_deref(), Some("Phone"));
    assert_eq!(there.last_place.as_deref(), Some("127.0.0.1"));
    assert!(there.last_used_at >= there.created_at);

    // Nobody ends another account's session, nor one that does not exist.
    bob.refused(
        Method::DELETE,
        &format!("/account/sessions/{}", phone.tokens.session_id),
        None,
        (StatusCode::NOT_FOUND, "not_found"),
    )
    .await;
    alice
        .no_content(
            Method::DELETE,
            &format!("/account/sessions/{}", phone.tokens.session_id),
            None,
        )
        .await;
    assert_eq!(close_code(&mut phones).await, Some(4001));
    phone
        .refused(
            Method::GET,
            "/me",
            None,
            (StatusCode::UNAUTHORIZED, "unauthorized"),
        )
        .await;
    let refreshed = reqwest::Client::new()
        .post(server.api("/auth/refresh"))
        .json(&json!({"refresh_token": phone.tokens.refresh_token}))
        .send()
        .await
        .expect("refresh");
    assert_eq!(
        refreshed.status(),
        StatusCode::UNAUTHORIZED,
        "its refresh token is dead"
    );
    alice
        .refused(
            Method::DELETE,
            &format!("/account/sessions/{}", phone.tokens.session_id),
            None,
            (StatusCode::NOT_FOUND, "not_found"),
        )
        .await;
    let left: Vec<SessionInfo> = alice.ok(Method::GET, "/account/sessions", None).await;
    assert_eq!(left.len(), 1);
}

/// A server without mail refuses an address at sign-up, as it does later: one that can
/// never be confirmed would wait for ever. Nothing is made, so the name stays free.
async fn an_address_at_sign_up_needs_a_server_with_mail(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let register = |email: Option<&str>| {
        let mut body = json!({"username": "alice", "password": PASSWORD, "display_name": "Alice"});
        if let Some(email) = email {
            body["email"] = json!(email);
        }
        reqwest::Client::new()
            .post(server.api("/auth/register"))
            .json(&body)
            .send()
    };
    let refused = register(Some("ada@example.com")).await.expect("register");
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let said: serde_json::Value = refused.json().await.expect("JSON");
    assert!(
        said["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("sends no mail")),
        "{said}"
    );
    let made = register(None).await.expect("register");
    assert_eq!(made.status(), StatusCode::CREATED, "the name is still free");
}

async fn a_forgotten_password_is_reset_through_mail(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut sink = SmtpSink::start().await;
    let mut config = test_config(&db);
    smtp_config(&mut config, &sink);
    let server = TestServer::start_with(config).await;

    // An address given at sign-up is confirmed through the mailed link's code.
    let response = reqwest::Client::new()
        .post(server.api("/auth/register"))
        .json(
            &json!({"username": "alice", "password": PASSWORD, "display_name": "Alice",
            "email": "ada@example.com", "device_name": "Laptop"}),
        )
        .send()
        .await
        .expect("register");
    assert_eq!(response.status(), StatusCode::CREATED);
    let alice = User::with_tokens(&server, response.json().await.expect("tokens"));
    let mut alices = alice.ws().await;
    let account: Account = alice.ok(Method::GET, "/account", None).await;
    assert_eq!(
        (account.email.as_deref(), account.email_verified),
        (Some("ada@example.com"), false)
    );
    let confirmation = sink.expect_mail("ada@example.com").await;
    assert!(
        confirmation.body.contains("/account/verify-email?token="),
        "{}",
        confirmation.body
    );

    // Until it is confirmed, the address gets no reset.
    alice
        .no_content(
            Method::POST,
            "/auth/password/forgot",
            Some(json!({"login": "ada@example.com"})),
        )
        .await;
    alice
        .no_content(
            Method::POST,
            "/auth/email/verify",
            Some(json!({"token": code_in(&confirmation)})),
        )
        .await;
    alice
        .refused(
            Method::POST,
            "/auth/email/verify",
            Some(json!({"token": code_in(&confirmation)})),
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
    let account: Account = alice.ok(Method::GET, "/account", None).await;
    assert!(account.email_verified);

    // The same answer for nobody; a mail for the username and for the address.
    for login in ["nobody", "nobody@example.com", "alice", "ADA@example.com"] {
        alice
            .no_content(
                Method::POST,
                "/auth/password/forgot",
                Some(json!({ "login": login })),
            )
            .await;
    }
    let by_name = sink.expect_mail("ada@example.com").await;
    let by_address = sink.expect_mail("ada@example.com").await;
    assert!(by_name.subject.contains("Reset"), "{}", by_name.subject);
    assert_ne!(code_in(&by_name), code_in(&by_address));
    assert!(sink.mail_to("nobody@example.com").is_empty());
    assert_eq!(sink.received().len(), 3, "the confirmation and two resets");

    alice
        .refused(
            Method::POST,
            "/auth/password/reset",
            Some(json!({"token": "0".repeat(64), "new_password": "a brand new one"})),
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
    alice
        .no_content(
            Method::POST,
            "/auth/password/reset",
            Some(json!({"token": code_in(&by_name), "new_password": "a brand new one"})),
        )
        .await;
    // Every session ends; the code works once; the new password signs in.
    assert_eq!(close_code(&mut alices).await, Some(4001));
    alice
        .refused(
            Method::POST,
            "/auth/password/reset",
            Some(json!({"token": code_in(&by_name), "new_password": "yet another one"})),
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
    assert_eq!(
        sign_in(&server, "alice", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&server, "alice", "a brand new one").await.0,
        StatusCode::OK
    );

    // A code mailed before the password changed no longer sets one.
    alice
        .refused(
            Method::POST,
            "/auth/password/reset",
            Some(json!({"token": code_in(&by_address), "new_password": "yet another one"})),
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;

    // The page the link opens sets the password too.
    alice
        .no_content(
            Method::POST,
            "/auth/password/forgot",
            Some(json!({"login": "alice"})),
        )
        .await;
    let fresh = sink.expect_mail("ada@example.com").await;
    let page = reqwest::Client::new()
        .post(format!("{}/account/reset-password", server.url()))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(format!(
            "token={}&password=from+the+page&again=from+the+page",
            code_in(&fresh)
        ))
        .send()
        .await
        .expect("the reset page");
    assert_eq!(
        page.status(),
        StatusCode::OK,
        "{}",
        page.text().await.unwrap_or_default()
    );
    assert_eq!(
        sign_in(&server, "alice", "from the page").await.0,
        StatusCode::OK
    );
    assert!(
        ferry_testkit::metric_at(server.addr(), "ferry_mail_sent_total").await >= 3,
        "mail counted"
    );
}

async fn an_address_is_changed_only_with_the_password(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut sink = SmtpSink::start().await;
    let mut config = test_config(&db);
    smtp_config(&mut config, &sink);
    let server = TestServer::start_with(config).await;
    let alice = User::register(&server, "alice").await;
    alice
        .refused(
            Method::PUT,
            "/account/email",
            Some(json!({"email": "ada@example.com", "password": "not the password"})),
            (StatusCode::UNAUTHORIZED, "invalid_credentials"),
        )
        .await;
    for bad in ["ada", "ada@", "a da@example.com"] {
        alice
            .refused(
                Method::PUT,
                "/account/email",
                Some(json!({"email": bad, "password": PASSWORD})),
                (StatusCode::BAD_REQUEST, "invalid_request"),
            )
            .await;
    }
    let account: Account = alice
        .ok(
            Method::PUT,
            "/account/email",
            Some(json!({"email": "ada@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(account.email.as_deref(), Some("ada@example.com"));
    let first = sink.expect_mail("ada@example.com").await;
    // A new address voids the first one's link.
    alice
        .ok::<Account>(
            Method::PUT,
            "/account/email",
            Some(json!({"email": "lovelace@example.com", "password": PASSWORD})),
        )
        .await;
    alice
        .refused(
            Method::POST,
            "/auth/email/verify",
            Some(json!({"token": code_in(&first)})),
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
    let second = sink.expect_mail("lovelace@example.com").await;
    alice
        .no_content(
            Method::POST,
            "/auth/email/verify",
            Some(json!({"token": code_in(&second)})),
        )
        .await;
    // One confirmed address belongs to one account.
    let bob = User::register(&server, "bob").await;
    bob.ok::<Account>(
        Method::PUT,
        "/account/email",
        Some(json!({"email": "LOVELACE@example.com", "password": PASSWORD})),
    )
    .await;
    let bobs = sink.expect_mail("LOVELACE@example.com").await;
    bob.refused(
        Method::POST,
        "/auth/email/verify",
        Some(json!({"token": code_in(&bobs)})),
        (StatusCode::CONFLICT, "conflict"),
    )
    .await;
    // Removed.
    let account: Account = alice
        .ok(
            Method::PUT,
            "/account/email",
            Some(json!({"email": null, "password": PASSWORD})),
        )
        .await;
    assert_eq!((account.email, account.email_verified), (None, false));

    // At most five confirmations an hour, however often the address changes: past them
    // a change is refused, and the address stays as it was.
    for n in 3..=5 {
        alice
            .ok::<Account>(
                Method::PUT,
                "/account/email",
                Some(json!({"email": format!("ada{n}@example.com"), "password": PASSWORD})),
            )
            .await;
    }
    alice
        .refused(
            Method::PUT,
            "/account/email",
            Some(json!({"email": "ada6@example.com", "password": PASSWORD})),
            (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        )
        .await;
    let account: Account = alice.ok(Method::GET, "/account", None).await;
    assert_eq!(account.email.as_deref(), Some("ada5@example.com"));
    assert!(sink.mail_to("ada6@example.com").is_empty());
}

async fn without_mail_a_reset_says_so(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let alice = User::register(&server, "alice").await;
    alice
        .refused(
            Method::POST,
            "/auth/password/forgot",
            Some(json!({"login": "alice"})),
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
    alice
        .refused(
            Method::PUT,
            "/account/email",
            Some(json!({"email": "ada@example.com", "password": PASSWORD})),
            (StatusCode::BAD_REQUEST, "invalid_request"),
        )
        .await;
}

async fn a_deleted_account_leaves_nothing_readable(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let (alice, bob, direct) = alice_and_bob(&server).await;
    let carol = User::register(&server, "carol").await;
    let group = alice.group("Book club", &[&bob, &carol]).await.id;
    bob.accept(group).await;
    carol.accept(group).await;
    let hello = alice.send_rest(direct, "my phone number is 555").await;
    let bobs = bob.send_rest(direct, "thanks").await;
    alice
        .ok::<Message>(
            Method::POST,
            &format!("/conversations/{direct}/messages"),
            Some(json!({"id": uuid::Uuid::now_v7(), "change": {"kind": "react", "target": bobs.id, "emoji": "👍"}})),
        )
        .await;
    let group_note = alice.send_rest(group, "I live at 12 Rue X").await;
    // Alice leaves the group: what she wrote there goes all the same.
    alice
        .no_content(
            Method::DELETE,
            &format!("/conversations/{group}/members/{}", alice.id()),
            None,
        )
        .await;
    let mut alices = alice.ws().await;
    let mut bobs_socket = bob.ws().await;
    let mut carols = carol.ws().await;

    alice
        .refused(
            Method::POST,
            "/account/delete",
            Some(json!({"password": "not it"})),
            (StatusCode::UNAUTHORIZED, "invalid_credentials"),
        )
        .await;
    alice
        .no_content(
            Method::POST,
            "/account/delete",
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(close_code(&mut alices).await, Some(4001));
    alice
        .refused(
            Method::GET,
            "/me",
            None,
            (StatusCode::UNAUTHORIZED, "unauthorized"),
        )
        .await;
    assert_eq!(
        sign_in(&server, "alice", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Each deletion comes as a change of the stream, to every member, live.
    let changes_to = |kind: ChangeKind, target: MessageId| {
        move |f: &ServerFrame| {
            matches!(f, ServerFrame::Message { message }
                if message.change.as_ref().is_some_and(|c| c.kind == kind && c.target == target))
        }
    };
    carols
        .expect(
            "her group message deleted",
            changes_to(ChangeKind::Delete, group_note.id),
        )
        .await;
    let mut waiting = vec![
        (ChangeKind::Delete, hello.id),
        (ChangeKind::Unreact, bobs.id),
    ];
    while !waiting.is_empty() {
        let frame = bobs_socket
            .expect("her changes in the direct chat", |f| {
                matches!(f, ServerFrame::Message { .. })
            })
            .await;
        waiting.retain(|(kind, target)| !changes_to(*kind, *target)(&frame));
    }
    // Nothing of hers is readable in either history.
    let erased = |history: &[Message]| {
        history
            .iter()
            .filter(|m| m.sender_id == alice.id() && m.is_message())
            .all(|m| m.body.is_empty() && m.deleted_at.is_some())
    };
    let history = bob.history(direct).await;
    assert!(erased(&history), "{history:?}");
    assert!(history.iter().all(|m| !m.body.contains("555")));
    let group_history = carol.history(group).await;
    assert!(erased(&group_history), "{group_history:?}");
    assert!(group_history.iter().all(|m| !m.body.contains("Rue X")));
    // She shows as a deleted user, is found by nobody, and her name stays taken.
    let seen: Conversation = bob
        .ok(Method::GET, &format!("/conversations/{direct}"), None)
        .await;
    let her = seen
        .members
        .iter()
        .find(|m| m.user.id == alice.id())
        .expect("still a member");
    assert_eq!(
        (her.user.status, her.user.display_name.as_str()),
        (Some(UserStatus::Deleted), "Deleted user")
    );
    let found: Vec<ferry_proto::User> = bob.ok(Method::GET, "/users?q=al", None).await;
    assert!(found.iter().all(|u| u.id != alice.id()), "{found:?}");
    let again = reqwest::Client::new()
        .post(server.api("/auth/register"))
        .json(&json!({"username": "alice", "password": PASSWORD, "display_name": "Not Alice"}))
        .send()
        .await
        .expect("register");
    assert_eq!(again.status(), StatusCode::CONFLICT, "the name is held");
}

/// A wrong password given to the account's own settings counts as a wrong sign-in: with
/// a stolen token, nobody guesses the password faster than at the sign-in screen.
async fn wrong_passwords_in_settings_count_as_sign_in_tries(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut config = test_config(&db);
    config.login_rate_per_min = 2;
    let server = TestServer::start_with(config).await;
    let alice = User::register(&server, "alice").await;
    let change =
        |password: &str| json!({"current_password": password, "new_password": "a brand new one"});
    for _ in 0..2 {
        alice
            .refused(
                Method::POST,
                "/account/password",
                Some(change("a wrong guess")),
                (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            )
            .await;
    }
    alice
        .refused(
            Method::POST,
            "/account/password",
            Some(change("another guess")),
            (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        )
        .await;
    // The sign-in screen counts the same tries.
    assert_eq!(
        sign_in(&server, "alice", "a third guess").await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

on_both!(
    an_address_at_sign_up_needs_a_server_with_mail,
    wrong_passwords_in_settings_count_as_sign_in_tries,
    a_new_name_reaches_other_devices_and_contacts,
    a_password_change_needs_the_current_one_and_ends_other_sessions,
    sessions_are_listed_and_ended_one_by_one,
    a_forgotten_password_is_reset_through_mail,
    an_address_is_changed_only_with_the_password,
    without_mail_a_reset_says_so,
    a_deleted_account_leaves_nothing_readable,
);
