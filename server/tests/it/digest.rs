//! Missed-message mail (issue 28): someone with no device online gets one mail listing
//! their unread direct messages (not group chatter, not what they read, not a chat whose
//! notification level is not `all`), at most once per interval, through a real SMTP
//! server; someone online gets none; the mail's link turns it off without signing in,
//! once.

use std::time::Duration;

use ferry_proto::{Account, ConversationId};
use ferry_testkit::{SmtpSink, code_in, metric_at, smtp_config};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{
    Backend, PASSWORD, Served, TestDb, TestServer, User, alice_and_bob, on_both, test_config,
    within,
};

/// Gives `user` the address `email` and confirms it with the mailed code.
async fn confirm_address(user: &User, sink: &mut SmtpSink, email: &str) {
    user.ok::<Account>(
        Method::PUT,
        "/account/email",
        Some(json!({ "email": email, "password": PASSWORD })),
    )
    .await;
    let mail = sink.expect_mail(email).await;
    user.no_content(
        Method::POST,
        "/auth/email/verify",
        Some(json!({ "token": code_in(&mail) })),
    )
    .await;
}

/// Waits until the server has run `more` whole rounds of the digest task from now: every
/// person due a mail by now has been considered.
async fn rounds(server: &impl Served, more: u64) {
    let start = metric_at(server.addr(), "ferry_digest_rounds_total").await;
    // The count is read from `/metrics`, which says nothing when it moves: look again at
    // a gentle pace.
    let mut look = tokio::time::interval(Duration::from_millis(50));
    within("digest rounds", async {
        while metric_at(server.addr(), "ferry_digest_rounds_total").await < start + more {
            look.tick().await;
        }
    })
    .await;
}

async fn send(from: &User, conversation: ConversationId, text: &str) -> i64 {
    from.send_rest(conversation, text).await.seq
}

async fn missed_messages_are_mailed_once_to_someone_away(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut sink = SmtpSink::start().await;
    let mut config = test_config(&db);
    smtp_config(&mut config, &sink);
    // Away as soon as no device is online; one mail an hour at most.
    config.digest_after_secs = 0;
    config.digest_interval_secs = 3600;
    let server = TestServer::start_with(config).await;
    let (alice, bob, direct) = alice_and_bob(&server).await;
    let carol = User::register(&server, "carol").await;
    let with_carol = alice.direct_with(&carol).await.id;
    carol.accept(with_carol).await;
    let group = alice.group("Book club", &[&bob]).await.id;
    bob.accept(group).await;
    let _carols_laptop = carol.ws().await;
    // Dan asked to be told of nothing in his chat with Alice: no mail of it either.
    let dan = User::register(&server, "dan").await;
    let with_dan = alice.direct_with(&dan).await.id;
    dan.accept(with_dan).await;
    dan.ok::<ferry_proto::Conversation>(
        Method::PUT,
        &format!("/conversations/{with_dan}/notifications"),
        Some(json!({"level": "none"})),
    )
    .await;

    // Everything waits before the addresses are confirmed: nobody is due a mail until
    // then, so the digest finds all of it at once.
    let read = send(&alice, direct, "seen already").await;
    bob.no_content(
        Method::POST,
        &format!("/conversations/{direct}/read"),
        Some(json!({ "seq": read })),
    )
    .await;
    send(&alice, direct, "are you free on Friday?").await;
    send(&alice, direct, "  the   usual place\n at 8  ").await;
    send(&alice, group, "group chatter").await;
    send(&alice, with_carol, "hello Carol").await;
    send(&alice, with_dan, "nothing to mail").await;
    confirm_address(&carol, &mut sink, "carol@example.com").await;
    confirm_address(&dan, &mut sink, "dan@example.com").await;
    confirm_address(&bob, &mut sink, "bob@example.com").await;

    let digest = sink.expect_mail("bob@example.com").await;
    assert!(digest.subject.contains("alice"), "{}", digest.subject);
    assert!(
        digest.body.contains("alice: are you free on Friday?\n")
            && digest.body.contains("alice: the usual place at 8\n"),
        "{}",
        digest.body
    );
    for left_out in ["seen already", "group chatter", "hello Carol"] {
        assert!(!digest.body.contains(left_out), "{}", digest.body);
    }

    // Another message within the hour: no second mail; Carol, online, got none at all.
    send(&alice, direct, "one more thing").await;
    rounds(&server, 2).await;
    assert_eq!(
        sink.mail_to("bob@example.com").len(),
        2,
        "the confirmation and one digest"
    );
    assert_eq!(
        sink.mail_to("carol@example.com").len(),
        1,
        "the confirmation only"
    );
    assert_eq!(
        sink.mail_to("dan@example.com").len(),
        1,
        "the confirmation only: his chat notifies of nothing"
    );
    // Every mail sent is counted, the digest (which its task sends itself) too.
    let mailed = sink.received().len() as u64;
    let mut look = tokio::time::interval(Duration::from_millis(50));
    within("every mail counted", async {
        while metric_at(server.addr(), "ferry_mail_sent_total").await < mailed {
            look.tick().await;
        }
    })
    .await;

    // The link turns the mail off without signing in: a page with a button, then done.
    let token = code_in(&digest);
    assert!(
        digest
            .body
            .contains(&format!("/account/unsubscribe?token={token}"))
    );
    let http = reqwest::Client::new();
    let page = http
        .get(format!(
            "{}/account/unsubscribe?token={token}",
            server.url()
        ))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text()
            .await
            .expect("html")
            .contains("<form method=\"post\"")
    );
    let account: Account = bob.ok(Method::GET, "/account", None).await;
    assert_eq!(
        account.settings.missed_message_mail,
        Some(true),
        "opening the page changes nothing"
    );
    for (expected, text) in [
        (StatusCode::OK, "No more missed-message mail"),
        (StatusCode::BAD_REQUEST, "used or expired"),
    ] {
        let posted = http
            .post(format!("{}/account/unsubscribe", server.url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
            .await
            .expect("post");
        assert_eq!(posted.status(), expected);
        assert!(posted.text().await.expect("html").contains(text));
    }
    let account: Account = bob.ok(Method::GET, "/account", None).await;
    assert_eq!(account.settings.missed_message_mail, Some(false));
}

on_both!(missed_messages_are_mailed_once_to_someone_away);
