//! One's own account through the client core (issue 28): a new name reaches the other
//! person's store and this user's other device live; sessions are listed by the name each
//! device gave itself and one is signed out (its client learns it is signed out); a
//! forgotten password is reset through a real SMTP server; a deleted account signs its
//! devices out and its messages vanish from the other person's store.

use ferry_client::{ConnectionState, Event, default_device_name};
use ferry_proto::UserStatus;
#[cfg(target_os = "linux")]
use {
    crate::support::options,
    ferry_client::{forgot_password, reset_password},
    ferry_testkit::{SmtpSink, code_in, smtp_config},
};

use crate::support::{Device, Served, TestDb, TestServer, config, direct, online, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_name_reaches_contacts_and_other_devices() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let [alice, bob] = online(&server.url(), ["alice", "bob"]).await;
    let chat = direct(&alice, &bob).await;
    let phone = Device::login(&server.url(), "alice").await;
    phone.client.start();
    phone.online().await;
    let mut phone_events = phone.client.events();

    let renamed = alice
        .client
        .account()
        .rename("Ada Lovelace")
        .await
        .expect("rename");
    assert_eq!(renamed.display_name, "Ada Lovelace");
    assert_eq!(alice.client.me().display_name, "Ada Lovelace");
    let name_seen_by_bob = |c: &ferry_client::Client| {
        c.conversation(chat)
            .summary()
            .ok()
            .flatten()
            .is_some_and(|s| {
                s.members
                    .iter()
                    .any(|m| m.user.id == alice.id() && m.user.display_name == "Ada Lovelace")
            })
    };
    bob.until("bob's store shows the new name", name_seen_by_bob)
        .await;
    within("the phone hears its own new name", async {
        loop {
            if let Ok(Event::Profile { user }) = phone_events.recv().await
                && user.display_name == "Ada Lovelace"
            {
                return;
            }
        }
    })
    .await;
    assert_eq!(phone.client.me().display_name, "Ada Lovelace");
    // A restart keeps it.
    let phone = phone.restart(&server.url()).await;
    assert_eq!(phone.client.me().display_name, "Ada Lovelace");
}

/// An image file of 40 × 30 pixels.
fn png_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("me.png");
    std::fs::write(&path, crate::files::png(40, 30)).expect("write the image");
    path
}

/// A picture set from a file reaches the contact's store live, its bytes come from the
/// server once and then from the device, and removing it clears it everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_picture_reaches_contacts_and_is_kept() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let [alice, bob] = online(&server.url(), ["alice", "bob"]).await;
    let chat = direct(&alice, &bob).await;
    let dir = tempfile::tempdir().expect("dir");

    let not_an_image = dir.path().join("notes.txt");
    std::fs::write(&not_an_image, "just words").expect("write");
    let refused = alice.client.account().set_picture(&not_an_image).await;
    assert!(refused.is_err(), "a text file is no picture");
    let user = alice
        .client
        .account()
        .set_picture(&png_file(dir.path()))
        .await
        .expect("set the picture");
    let picture = user.picture.expect("a picture");
    assert_eq!(alice.client.me().picture, Some(picture));
    let alice_id = alice.id();
    let shown_to_bob = move |want: Option<ferry_proto::PictureId>| {
        move |c: &ferry_client::Client| {
            c.conversation(chat)
                .summary()
                .ok()
                .flatten()
                .is_some_and(|s| {
                    s.members
                        .iter()
                        .any(|m| m.user.id == alice_id && m.user.picture == want)
                })
        }
    };
    bob.until("bob's store shows the picture", shown_to_bob(Some(picture)))
        .await;
    let bytes = bob.client.picture(picture).await.expect("the picture");
    assert!(
        bytes.starts_with(b"\x89PNG") || bytes.starts_with(&[0xFF, 0xD8]),
        "an image"
    );
    // Kept: the server is gone, the picture is still there.
    let addr = server.addr;
    server.stop().await;
    assert_eq!(bob.client.picture(picture).await.expect("kept"), bytes);
    let _server = TestServer::start_at(config(&data), addr).await;
    alice.online().await;
    bob.online().await;
    alice
        .client
        .account()
        .remove_picture()
        .await
        .expect("remove");
    bob.until("bob's store shows no picture", shown_to_bob(None))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_signed_out_from_another_device() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let [alice] = online(&server.url(), ["alice"]).await;
    let laptop = Device::login(&server.url(), "alice").await;
    laptop.client.start();
    laptop.online().await;

    let sessions = alice.client.account().sessions().await.expect("sessions");
    assert_eq!(sessions.len(), 2);
    assert!(
        sessions
            .iter()
            .all(|s| s.device_name.as_deref() == Some(default_device_name().as_str())),
        "each device names itself by its system and host: {sessions:?}"
    );
    let other = sessions.iter().find(|s| !s.current).expect("the laptop's");
    alice
        .client
        .account()
        .end_session(other.id)
        .await
        .expect("end it");
    let mut state = laptop.client.connection();
    within(
        "the laptop learns it is signed out",
        state.wait_for(|s| *s == ConnectionState::SignedOut),
    )
    .await
    .expect("state");
    let left = alice.client.account().sessions().await.expect("sessions");
    assert_eq!(left.len(), 1);
}

/// Linux only: the mail goes to aiosmtpd, which the test script installs there (this
/// suite also runs under Wine, where it is not).
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_password_is_reset_by_mail() {
    let data = TestDb::sqlite();
    let mut sink = SmtpSink::start().await;
    let mut server_config = config(&data);
    smtp_config(&mut server_config, &sink);
    let server = TestServer::start_with(server_config).await;
    let [alice] = online(&server.url(), ["alice"]).await;
    let account = alice
        .client
        .account()
        .set_email(Some("ada@example.com"), "correct horse battery")
        .await
        .expect("set the address");
    assert!(!account.email_verified);
    let confirmation = sink.expect_mail("ada@example.com").await;
    alice
        .client
        .account()
        .verify_email(&code_in(&confirmation))
        .await
        .expect("confirm");
    assert!(
        alice
            .client
            .account()
            .details()
            .await
            .expect("account")
            .email_verified
    );

    let dir = tempfile::tempdir().expect("dir");
    let signed_out = options(&server.url(), dir.path());
    forgot_password(&signed_out, "ada@example.com")
        .await
        .expect("forgot");
    let reset = sink.expect_mail("ada@example.com").await;
    reset_password(&signed_out, &code_in(&reset), "a whole new password")
        .await
        .expect("reset");
    let mut state = alice.client.connection();
    within(
        "the old session is signed out",
        state.wait_for(|s| *s == ConnectionState::SignedOut),
    )
    .await
    .expect("state");
    let tokens = std::sync::Arc::new(ferry_client::tokens::MemoryTokens::default());
    ferry_client::Client::login(signed_out, tokens, "alice", "a whole new password")
        .await
        .expect("the new password signs in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_account_vanishes_from_the_other_store() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let [alice, bob] = online(&server.url(), ["alice", "bob"]).await;
    let chat = direct(&alice, &bob).await;
    alice
        .conversation(chat)
        .send("my address is 1 Long Lane")
        .expect("send");
    bob.until("bob has it", |c| {
        c.conversation(chat)
            .messages(None, 10)
            .is_ok_and(|m| m.iter().any(|m| m.body.contains("Long Lane")))
    })
    .await;

    alice
        .client
        .account()
        .delete("correct horse battery")
        .await
        .expect("delete");
    bob.until(
        "her message is gone from bob's store, and she shows as deleted",
        |c| {
            let gone = c
                .conversation(chat)
                .messages(None, 10)
                .is_ok_and(|m| m.iter().all(|m| !m.body.contains("Long Lane")));
            let shown = c
                .conversation(chat)
                .summary()
                .ok()
                .flatten()
                .is_some_and(|s| {
                    s.members.iter().any(|m| {
                        m.user.id == alice.id() && m.user.status == Some(UserStatus::Deleted)
                    })
                });
            gone && shown
        },
    )
    .await;
    assert_eq!(
        *alice.client.connection().borrow(),
        ConnectionState::SignedOut,
        "the deleting device is signed out"
    );
}
