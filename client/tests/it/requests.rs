//! Message requests from the client's side: a stranger's chat arrives as a request
//! (also when it came while this device was off), this user's receipts and presence
//! stay hidden from the stranger until they accept, and a block stops the stranger's
//! sends with the server's words while the message is kept to retry.

use ferry_client::MessageStatus;
use ferry_proto::NewReport;

use crate::support::{Device, Served, TestDb, TestServer, config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_chat_is_a_request_until_accepted() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let url = server.url();
    let mallory = Device::register(&url, "mallory").await;
    // Alice is off when the stranger writes.
    let alice = Device::register(&url, "alice").await;
    mallory.client.start();
    mallory.online().await;
    let chat = mallory.client.open_direct("alice").await.expect("direct");
    let hello = mallory
        .conversation(chat)
        .send("hi, click this")
        .expect("send");
    mallory
        .until("sent", |c| {
            c.message(hello.id)
                .expect("read")
                .is_some_and(|m| m.status != MessageStatus::Pending)
        })
        .await;

    alice.client.start();
    alice
        .until("the request arrives with its message", |c| {
            c.conversation(chat)
                .summary()
                .expect("read")
                .is_some_and(|s| s.request && s.unread_count == 1)
        })
        .await;
    alice.conversation(chat).mark_read().expect("read");
    alice
        .until("read on alice's side", |c| {
            c.conversation(chat)
                .summary()
                .expect("read")
                .is_some_and(|s| s.unread_count == 0)
        })
        .await;
    // The server has her read mark (her own devices follow it), Mallory does not.
    alice.client.sync_now().await.expect("sync");
    mallory.client.sync_now().await.expect("sync");
    let seen = mallory
        .client
        .message(hello.id)
        .expect("read")
        .expect("kept");
    assert_ne!(
        seen.status,
        MessageStatus::Read,
        "no read receipt before accepting"
    );
    let alice_id = alice.id();
    assert!(
        !mallory
            .client
            .presence()
            .expect("presence")
            .iter()
            .any(|p| p.user_id == alice_id && p.online),
        "no presence before accepting"
    );

    // Accepting shares both at once.
    alice.conversation(chat).accept().await.expect("accept");
    assert!(
        !alice
            .conversation(chat)
            .summary()
            .expect("read")
            .expect("known")
            .request
    );
    mallory
        .until("the read receipt and alice's presence arrive", |c| {
            c.message(hello.id)
                .expect("read")
                .is_some_and(|m| m.status == MessageStatus::Read)
                && c.presence()
                    .expect("presence")
                    .iter()
                    .any(|p| p.user_id == alice_id && p.online)
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_refuses_the_strangers_sends_and_loses_nothing() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let url = server.url();
    let mallory = Device::register(&url, "mallory").await;
    let alice = Device::register(&url, "alice").await;
    for d in [&mallory, &alice] {
        d.client.start();
        d.online().await;
    }
    let chat = mallory.client.open_direct("alice").await.expect("direct");
    mallory.conversation(chat).send("buy now").expect("send");
    alice
        .until("the request arrives", |c| {
            c.conversation(chat)
                .summary()
                .expect("read")
                .is_some_and(|s| s.request && s.last_message.is_some())
        })
        .await;

    let mallory_id = mallory.id();
    alice
        .client
        .safety()
        .report(&NewReport {
            user_id: mallory_id,
            conversation_id: Some(chat),
            message_id: None,
            reason: "spam".into(),
            block: true,
            copies: Vec::new(),
        })
        .await
        .expect("report and block");
    let mine = alice
        .conversation(chat)
        .summary()
        .expect("read")
        .expect("known");
    assert!(mine.blocked && !mine.request, "{mine:?}");
    let blocked: Vec<_> = alice
        .client
        .safety()
        .blocked_users()
        .await
        .expect("blocked")
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(blocked, vec![mallory_id]);

    let again = mallory.conversation(chat).send("hello??").expect("queued");
    mallory
        .until("refused with the server's words", |c| {
            c.message(again.id).expect("read").is_some_and(|m| {
                m.status == MessageStatus::Failed
                    && m.error
                        .as_deref()
                        .is_some_and(|e| e.contains("does not take messages from you"))
            })
        })
        .await;
    assert!(
        mallory.client.open_direct("alice").await.is_ok(),
        "the existing chat is still there to read"
    );

    // Unblocked, the kept message goes out on retry, once.
    alice
        .client
        .safety()
        .set_blocked(mallory_id, false)
        .await
        .expect("unblock");
    assert!(
        !alice
            .conversation(chat)
            .summary()
            .expect("read")
            .expect("known")
            .blocked
    );
    mallory
        .conversation(again.conversation_id)
        .retry(again.id)
        .expect("retry");
    alice
        .until("the retried message arrives once", |c| {
            let bodies: Vec<String> = c
                .conversation(chat)
                .messages(None, 10)
                .expect("read")
                .into_iter()
                .map(|m| m.body)
                .collect();
            bodies == ["buy now", "hello??"]
        })
        .await;
}

/// Deleting a request hides it on this device, offline, telling nobody; Mallory writing
/// again brings it back as a request, with the new message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_request_comes_back_when_they_write_again() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let url = server.url();
    let [mallory, alice] = crate::support::online(&url, ["mallory", "alice"]).await;
    let chat = mallory.client.open_direct("alice").await.expect("direct");
    mallory
        .conversation(chat)
        .send("hi, click this")
        .expect("send");
    let listed = |c: &ferry_client::Client| {
        c.conversations(None, 100)
            .expect("list")
            .iter()
            .any(|s| s.id == chat)
    };
    alice
        .until("the request arrives with its message", |c| {
            c.conversation(chat)
                .summary()
                .expect("read")
                .is_some_and(|s| s.last_seq == 1)
        })
        .await;

    // Offline: deleting needs nothing from the server.
    alice.client.stop().await;
    alice.conversation(chat).dismiss_request().expect("dismiss");
    assert!(!listed(&alice.client));
    assert!(
        alice.conversation(chat).dismiss_request().is_ok(),
        "still a request: deleting again is no error"
    );
    alice.client.start();
    alice.online().await;
    assert!(!listed(&alice.client), "catching up does not bring it back");

    let again = mallory.conversation(chat).send("hello??").expect("send");
    alice
        .until("back with the new message", |c| {
            c.conversations(None, 100).expect("list").iter().any(|s| {
                s.id == chat
                    && s.request
                    && !s.dismissed
                    && s.last_message.as_ref().is_some_and(|m| m.id == again.id)
            })
        })
        .await;
    // Only a request can be deleted, or a chat with someone blocked.
    alice.conversation(chat).accept().await.expect("accept");
    assert!(alice.conversation(chat).dismiss_request().is_err());
    alice
        .client
        .safety()
        .set_blocked(mallory.id(), true)
        .await
        .expect("block");
    alice
        .conversation(chat)
        .dismiss_request()
        .expect("delete the blocked chat");
    assert!(!listed(&alice.client), "a blocked chat can be removed");
    // Unblocked (the chat was accepted before the block): it is back.
    alice
        .client
        .safety()
        .set_blocked(mallory.id(), false)
        .await
        .expect("unblock");
    alice.until("back once unblocked", listed).await;
}
