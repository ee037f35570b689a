//! History transfer between one user's devices (issue 31), with real clients and stores
//! on both server databases: a device that signs in after a chat was encrypted cannot
//! open what was sent there before, asks the user's other device by itself, and once
//! the user sends it from that device reads all of it (texts, an edit, a reaction, a
//! file), finds it in its search, and is asked nothing more. Nothing is sent without the
//! user's word, the server keeps none of it in the clear, and an answered ask is gone.
//! An ask no device answered while the server kept it goes again, and no sooner.

use std::sync::Arc;

use ferry_client::Clock;
use ferry_proto::notes::NOTE_KEPT_MS;
use ferry_proto::{ConversationId, Timestamp};
use ferry_testkit::{Backend, holds};

use crate::support::{Device, Served, TestDb, TestServer, config, encrypted, encrypted_chat};

/// What a device shows of a chat: each sent message's text (none while unreadable), with
/// whether it was edited and the reactions on it.
fn shown(device: &Device, chat: ConversationId) -> Vec<(String, bool, Vec<String>)> {
    device
        .conversation(chat)
        .messages(None, 100)
        .expect("read")
        .into_iter()
        .filter(|m| m.seq.is_some())
        .map(|m| {
            let body = if m.unreadable { "?".to_owned() } else { m.body };
            (
                body,
                m.edited,
                m.reactions.into_iter().map(|r| r.emoji).collect(),
            )
        })
        .collect()
}

async fn a_new_device_gets_the_history_its_user_sends_it(backend: Backend) {
    let data = TestDb::new(backend).await;
    let server = TestServer::start_with(config(&data)).await;
    let url = server.url();
    let ([laptop, bob], chat) = encrypted_chat(&url).await;
    let first = laptop
        .conversation(chat)
        .send("my salary is 93k, keep it quiet")
        .expect("send")
        .id;
    bob.until("bob reads it", |c| {
        c.conversation(chat).messages(None, 10).expect("read").len() == 1
    })
    .await;
    bob.conversation(chat)
        .reply(first, "the flat is at 12 Elm Street")
        .expect("send");
    laptop
        .conversation(chat)
        .edit(first, "my salary is 95k, keep it quiet")
        .expect("edit");
    bob.conversation(chat).react(first, "🎉").expect("react");
    let folder = tempfile::tempdir().expect("temp dir");
    let slip = folder.path().join("payslip-march.txt");
    std::fs::write(&slip, b"HISTORY-FILE-CONTENT-7731 net pay 5,120").expect("write");
    let sent = bob
        .conversation(chat)
        .send_files(std::slice::from_ref(&slip), "the payslip", None)
        .await
        .expect("attach");
    let expected = vec![
        (
            "my salary is 95k, keep it quiet".to_owned(),
            true,
            vec!["🎉".to_owned()],
        ),
        ("the flat is at 12 Elm Street".to_owned(), false, vec![]),
        ("the payslip".to_owned(), false, vec![]),
    ];
    laptop.until_eq(&expected, |_| shown(&laptop, chat)).await;

    // Alice signs in on her phone: it joins the group, cannot open what came before, and
    // asks her laptop, which shows the ask and sends nothing by itself.
    let phone = Device::login(&url, "alice").await;
    phone.client.start();
    phone
        .until("the phone knows the chat", |c| encrypted(c, chat))
        .await;
    let unreadable = vec![
        ("?".to_owned(), false, vec![]),
        ("?".to_owned(), false, vec![]),
        ("?".to_owned(), false, vec![]),
    ];
    phone.until_eq(&unreadable, |_| shown(&phone, chat)).await;
    laptop
        .until("the laptop is asked", |c| {
            c.history_requests().expect("asks").len() == 1
        })
        .await;
    let ask = laptop.client.history_requests().expect("asks").remove(0);
    assert_eq!(
        shown(&phone, chat),
        unreadable,
        "nothing without Alice's word"
    );

    let entries = laptop
        .client
        .send_history(ask.session_id)
        .await
        .expect("send");
    assert!(
        entries >= 5,
        "the messages, the edit and the reaction: {entries}"
    );
    assert!(laptop.client.history_requests().expect("asks").is_empty());
    phone.until_eq(&expected, |_| shown(&phone, chat)).await;
    let hits = phone.client.search("Elm", 10).expect("search");
    assert_eq!(hits.len(), 1, "found in the phone's own search: {hits:?}");
    let file = phone
        .files()
        .download(sent.id, 0)
        .await
        .expect("the file opens on the phone");
    assert_eq!(
        std::fs::read(file).expect("read"),
        b"HISTORY-FILE-CONTENT-7731 net pay 5,120"
    );
    // The file is described as it is, not as the server's opaque upload.
    let attachment = phone
        .conversation(chat)
        .messages(None, 100)
        .expect("read")
        .into_iter()
        .find(|m| m.id == sent.id)
        .expect("the file's message")
        .attachments
        .remove(0);
    assert_eq!(attachment.name, "payslip-march.txt");

    // Answered: a second send finds no ask, and the phone, which got its history, does
    // not ask again when it restarts.
    assert!(laptop.client.send_history(ask.session_id).await.is_err());
    let phone = phone.restart(&url).await;
    phone.client.start();
    assert_eq!(phone.client.sync_now().await.expect("sync"), 0);
    assert!(laptop.client.sync_now().await.is_ok());
    assert!(laptop.client.history_requests().expect("asks").is_empty());

    // The server kept none of it in the clear: not the texts, not the file, not the
    // history's own upload (deleted once read, and encrypted while it was there).
    let kept = data.stored_bytes().await;
    for secret in [
        "salary is 93k",
        "salary is 95k",
        "Elm Street",
        "payslip-march",
        "HISTORY-FILE-CONTENT",
    ] {
        assert!(!holds(&kept, secret), "the server keeps {secret:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_device_gets_the_history_its_user_sends_it_on_sqlite() {
    a_new_device_gets_the_history_its_user_sends_it(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_device_gets_the_history_its_user_sends_it_on_postgres() {
    a_new_device_gets_the_history_its_user_sends_it(Backend::Postgres).await;
}

/// The system's clock, this far ahead: a device that has been away for days.
#[derive(Debug)]
struct Ahead(i64);

impl Clock for Ahead {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(Timestamp::now().as_millis() + self.0)
    }
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

async fn an_ask_unanswered_for_a_week_goes_again(backend: Backend) {
    let data = TestDb::new(backend).await;
    let server = TestServer::start_with(config(&data)).await;
    let url = server.url();
    let ([laptop, _bob], chat) = encrypted_chat(&url).await;
    laptop
        .conversation(chat)
        .send("the door code is 4471")
        .expect("send");
    laptop
        .until("the laptop's message is stored", |c| {
            c.conversation(chat)
                .messages(None, 10)
                .expect("read")
                .iter()
                .any(|m| m.seq.is_some())
        })
        .await;

    // Alice's phone asks when it first syncs; on the laptop she says "not now".
    let phone = Device::login(&url, "alice").await;
    phone.client.sync_now().await.expect("sync");
    assert_eq!(
        shown(&phone, chat),
        vec![("?".to_owned(), false, vec![])],
        "sealed before the phone joined"
    );
    laptop.client.sync_now().await.expect("sync");
    let asks = laptop.client.history_requests().expect("asks");
    assert_eq!(asks.len(), 1, "the laptop is asked: {asks:?}");
    assert!(
        laptop
            .client
            .dismiss_history_request(asks[0].session_id)
            .expect("dismiss")
    );

    // Six days on, its ask still waits where it was left: the phone does not ask again.
    let ahead = |days: i64| {
        move |o: &mut ferry_client::ClientOptions| o.clock = Arc::new(Ahead(days * DAY_MS))
    };
    const { assert!(6 * DAY_MS < NOTE_KEPT_MS) };
    let phone = phone.restart_with(&url, ahead(6)).await;
    phone.client.sync_now().await.expect("sync");
    laptop.client.sync_now().await.expect("sync");
    assert!(
        laptop.client.history_requests().expect("asks").is_empty(),
        "asked again within the week"
    );

    // Eight days on, the server has forgotten the ask: the phone asks again, and the
    // laptop's answer opens what the phone could not.
    let phone = phone.restart_with(&url, ahead(8)).await;
    phone.client.sync_now().await.expect("sync");
    laptop
        .until("the laptop is asked again", |c| {
            c.history_requests().expect("asks").len() == 1
        })
        .await;
    let ask = laptop.client.history_requests().expect("asks").remove(0);
    laptop
        .client
        .send_history(ask.session_id)
        .await
        .expect("send");
    phone.client.sync_now().await.expect("sync");
    assert_eq!(
        shown(&phone, chat),
        vec![("the door code is 4471".to_owned(), false, vec![])]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ask_unanswered_for_a_week_goes_again_on_sqlite() {
    an_ask_unanswered_for_a_week_goes_again(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ask_unanswered_for_a_week_goes_again_on_postgres() {
    an_ask_unanswered_for_a_week_goes_again(Backend::Postgres).await;
}
