//! Notification levels and do-not-disturb (issue 29): each member's own choice, kept on
//! the server so that every device of theirs follows it, and shown to nobody else. A level
//! reaches the member's other sockets live and their other devices through `/sync`; the
//! views sent to every member never carry it; do-not-disturb reaches every socket of the
//! user as a `settings` frame; missed-message mail leaves out conversations whose level is
//! not `all`.

use ferry_proto::{Account, Conversation, NotifyLevel, ServerFrame, SyncPage, Timestamp};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Backend, TestDb, TestServer, User, alice_and_bob, on_both};

async fn a_level_is_the_members_own_and_reaches_their_devices(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let (alice, bob, _) = alice_and_bob(&server).await;
    let carol = User::register(&server, "carol").await;
    let group = alice.group("Lunch crew", &[&bob]).await;
    let path = format!("/conversations/{}/notifications", group.id);
    let laptop = User::login(&server, "alice").await;
    let mut laptops = laptop.ws().await;
    let mut bobs = bob.ws().await;
    let before: SyncPage = laptop.ok(Method::GET, "/sync", None).await;
    let bobs_before: SyncPage = bob.ok(Method::GET, "/sync", None).await;

    let answered: Conversation = alice
        .ok(Method::PUT, &path, Some(json!({"level": "mentions"})))
        .await;
    assert_eq!(answered.notifications, Some(NotifyLevel::Mentions));

    // Her other device: live, and in /sync since before.
    let frame = laptops
        .expect("alice's level", |f| {
            matches!(f, ServerFrame::Conversation { .. })
        })
        .await;
    let ServerFrame::Conversation { conversation } = frame else {
        unreachable!()
    };
    assert_eq!(conversation.notifications, Some(NotifyLevel::Mentions));
    let changed: SyncPage = laptop
        .ok(Method::GET, &format!("/sync?since={}", before.cursor), None)
        .await;
    let synced = changed.conversations.iter().find(|c| c.id == group.id);
    assert_eq!(
        synced.and_then(|c| c.notifications),
        Some(NotifyLevel::Mentions),
        "{changed:?}"
    );

    // Bob's copy shows his own level, and his /sync does not move for her choice.
    let his: Conversation = bob
        .ok(Method::GET, &format!("/conversations/{}", group.id), None)
        .await;
    assert_eq!(his.notifications, Some(NotifyLevel::All));
    let quiet: SyncPage = bob
        .ok(
            Method::GET,
            &format!("/sync?since={}", bobs_before.cursor),
            None,
        )
        .await;
    // On Postgres a page's horizon is the oldest running transaction of the whole
    // server, other tests' included, so a page may repeat what came before (`/sync` is
    // at least once): whatever comes again carries Bob's own level, never hers.
    assert!(
        quiet
            .conversations
            .iter()
            .all(|c| c.notifications == Some(NotifyLevel::All)),
        "{quiet:?}"
    );
    if matches!(backend, Backend::Sqlite) {
        assert!(quiet.conversations.is_empty(), "{quiet:?}");
    }
    // A change every member hears about carries nobody's level.
    alice
        .ok::<Conversation>(
            Method::POST,
            &format!("/conversations/{}/members", group.id),
            Some(json!({"user_ids": [carol.id()]})),
        )
        .await;
    let frame = bobs
        .expect("the new member", |f| {
            matches!(f, ServerFrame::Conversation { .. })
        })
        .await;
    let ServerFrame::Conversation { conversation } = frame else {
        unreachable!()
    };
    assert_eq!(
        conversation.notifications, None,
        "no one's level in a shared view"
    );
    // Nothing of hers went to Bob before that.
    let mine: Conversation = alice
        .ok(Method::GET, &format!("/conversations/{}", group.id), None)
        .await;
    assert_eq!(mine.notifications, Some(NotifyLevel::Mentions), "kept");

    let none: Conversation = alice
        .ok(Method::PUT, &path, Some(json!({"level": "none"})))
        .await;
    assert_eq!(none.notifications, Some(NotifyLevel::Nothing));
    for bad in [json!({"level": "loud"}), json!({}), json!({"level": null})] {
        let (status, _) = alice.call(Method::PUT, &path, Some(bad.clone())).await;
        assert!(
            status.is_client_error() && status != StatusCode::NOT_FOUND,
            "{bad}: {status}"
        );
    }
    let strangers = format!(
        "/conversations/{}/notifications",
        alice.direct_with(&bob).await.id
    );
    carol
        .refused(
            Method::PUT,
            &strangers,
            Some(json!({"level": "none"})),
            (StatusCode::NOT_FOUND, "not_found"),
        )
        .await;
}

async fn do_not_disturb_reaches_every_device(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    let (alice, _bob, _) = alice_and_bob(&server).await;
    let laptop = User::login(&server, "alice").await;
    let mut laptops = laptop.ws().await;
    let until = Timestamp::from_millis(Timestamp::now().as_millis() + 3_600_000);

    let account: Account = alice
        .ok(
            Method::PATCH,
            "/account/settings",
            Some(json!({"do_not_disturb_until": until})),
        )
        .await;
    assert_eq!(account.settings.do_not_disturb_until, Some(Some(until)));
    assert_eq!(
        account.settings.missed_message_mail,
        Some(true),
        "the rest unchanged"
    );
    let frame = laptops
        .expect("the settings", |f| {
            matches!(f, ServerFrame::Settings { .. })
        })
        .await;
    let ServerFrame::Settings { settings } = frame else {
        unreachable!()
    };
    assert!(settings.quiet_at(Timestamp::now()));
    let seen: Account = laptop.ok(Method::GET, "/account", None).await;
    assert_eq!(seen.settings.do_not_disturb_until, Some(Some(until)));

    // Another setting leaves it as it is; `null` ends it; a time already past is off.
    let account: Account = alice
        .ok(
            Method::PATCH,
            "/account/settings",
            Some(json!({"missed_message_mail": false})),
        )
        .await;
    assert_eq!(account.settings.do_not_disturb_until, Some(Some(until)));
    let account: Account = alice
        .ok(
            Method::PATCH,
            "/account/settings",
            Some(json!({"do_not_disturb_until": null})),
        )
        .await;
    assert_eq!(account.settings.do_not_disturb_until, Some(None));
    let past = Timestamp::from_millis(Timestamp::now().as_millis() - 1_000);
    let account: Account = alice
        .ok(
            Method::PATCH,
            "/account/settings",
            Some(json!({"do_not_disturb_until": past})),
        )
        .await;
    assert_eq!(account.settings.do_not_disturb_until, Some(None));
    let (status, _) = alice
        .call(
            Method::PATCH,
            "/account/settings",
            Some(json!({"do_not_disturb_until": "tomorrow"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

on_both!(
    a_level_is_the_members_own_and_reaches_their_devices,
    do_not_disturb_reaches_every_device,
);
