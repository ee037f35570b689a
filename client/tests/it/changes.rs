//! Edits, deletions, replies and reactions between real clients: live, offline through a
//! restart, after a long absence, and from two devices at once. Every device must end in
//! the same state, and a deleted text must be gone from every store and search index.
//! The live and the offline cases run on both server databases.

use ferry_client::{Client, ClientError, ErrorKind, LocalMessage, MessageStatus};
use ferry_proto::{ConversationId, ErrorCode, MessageId};

use ferry_testkit::Backend;

use crate::support::{Device, Served, TestDb, TestServer, config, direct, online, online_with};

/// What a conversation shows, reduced to what every device must agree on.
type Shown = Vec<(
    Option<i64>,
    String,
    bool,
    bool,
    Option<MessageId>,
    Vec<(String, usize)>,
)>;

fn shown(client: &Client, chat: ConversationId) -> Shown {
    client
        .conversation(chat)
        .messages(None, u32::MAX)
        .expect("messages")
        .into_iter()
        .map(|m| {
            let reactions = m
                .reactions
                .iter()
                .map(|r| (r.emoji.clone(), r.user_ids.len()))
                .collect();
            (m.seq, m.body, m.edited, m.deleted, m.reply_to, reactions)
        })
        .collect()
}

/// Whether `text` is anywhere in a device's database file: every table, and the search
/// index (queried, since FTS keeps its own copy).
fn holds_text(device: &Device, client: &Client, text: &str) -> bool {
    let db = device.open_database();
    let in_rows: i64 = db
        .query_row(
            "SELECT count(*) FROM messages WHERE instr(body, ?1) > 0",
            [text],
            |r| r.get(0),
        )
        .expect("scan");
    let word = text.split_whitespace().next().unwrap_or(text);
    in_rows > 0 || !client.search(word, 10).expect("search").is_empty()
}

async fn settled(device: &Device, chat: ConversationId, want: &Shown, what: &str) {
    let mut events = device.client.events();
    let done = |c: &Client| c.outbox_len().expect("outbox") == 0 && &shown(c, chat) == want;
    let waited = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while !done(&device.client) {
            let _ = events.recv().await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "timed out waiting for {what}: {:?} (outbox {}), want {want:?}",
        shown(&device.client, chat),
        device.client.outbox_len().expect("outbox")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_reaches_every_device_live_on_sqlite() {
    every_change_reaches_every_device_live(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_reaches_every_device_live_on_postgres() {
    every_change_reaches_every_device_live(TestDb::new(Backend::Postgres).await).await;
}

async fn every_change_reaches_every_device_live(data: TestDb) {
    let server = TestServer::start_with(config(&data)).await;
    let url = server.url();
    let [alice, bob] = online(&url, ["alice", "bob"]).await;
    let alice_laptop = Device::login(&url, "alice").await;
    alice_laptop.client.start();
    alice_laptop.online().await;
    let chat = direct(&alice, &bob).await;

    let hello = alice.conversation(chat).send("hello wrold").expect("send");
    bob.until("bob has it", |c| shown(c, chat).len() == 1).await;
    let reply = bob
        .conversation(chat)
        .reply(hello.id, "typo there")
        .expect("reply");
    assert_eq!(reply.quote.as_ref().map(|q| q.id), Some(hello.id));
    // The reply is stored before Alice's edit is made (else either could be seq 2).
    alice
        .until("alice has the reply", |c| shown(c, chat).len() == 2)
        .await;
    let edited = alice
        .conversation(hello.conversation_id)
        .edit(hello.id, "hello world")
        .expect("edit");
    assert!(
        edited.edited,
        "an edit shows at once, before the server has it"
    );
    assert_eq!(edited.body, "hello world");
    bob.conversation(hello.conversation_id)
        .react(hello.id, "👍")
        .expect("react");
    let at_alice = alice.conversation(chat);
    at_alice.react(hello.id, "👍").expect("react");
    at_alice.react(hello.id, "🎉").expect("react");
    at_alice.react(hello.id, "🎉").expect("and take it back");

    let want: Shown = vec![
        (
            Some(1),
            "hello world".into(),
            true,
            false,
            None,
            vec![("👍".into(), 2)],
        ),
        (
            Some(2),
            "typo there".into(),
            false,
            false,
            Some(hello.id),
            vec![],
        ),
    ];
    for device in [&alice, &bob, &alice_laptop] {
        settled(device, chat, &want, "every device shows the same").await;
    }
    // Search finds the new text only; the quote shows the current text.
    for client in [&alice.client, &bob.client] {
        assert!(client.search("wrold", 10).expect("search").is_empty());
        assert_eq!(client.search("world", 10).expect("search").len(), 1);
    }
    let reply_now = bob.client.message(reply.id).expect("read").expect("there");
    assert_eq!(reply_now.quote.map(|q| q.body), Some("hello world".into()));
    // Unread counts only messages: Alice's changes after Bob's last word leave him with
    // three entries of the stream past his watermark, and nothing unread.
    bob.until("the whole stream", |c| {
        c.store().contiguous_seq(chat).expect("seq") == 7
    })
    .await;
    let summary = bob
        .conversation(chat)
        .summary()
        .expect("read")
        .expect("there");
    assert_eq!(summary.last_seq, 7);
    assert_eq!(summary.unread_count, 0, "changes are not unread messages");

    // Alice deletes for everyone: a placeholder everywhere, the text nowhere.
    alice
        .conversation(hello.conversation_id)
        .delete(hello.id)
        .expect("delete");
    let want: Shown = vec![
        (Some(1), String::new(), true, true, None, vec![]),
        (
            Some(2),
            "typo there".into(),
            false,
            false,
            Some(hello.id),
            vec![],
        ),
    ];
    for device in [&alice, &bob, &alice_laptop] {
        settled(device, chat, &want, "deleted everywhere").await;
        assert!(
            !holds_text(device, &device.client, "hello world"),
            "the deleted text is gone from the store and the index"
        );
        assert!(!holds_text(device, &device.client, "hello wrold"));
    }
    let quote = bob
        .client
        .message(reply.id)
        .expect("read")
        .and_then(|m| m.quote)
        .expect("the quote still renders");
    assert!(quote.deleted && quote.body.is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_are_kept_on_the_device_and_by_the_server() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let url = server.url();
    // A plain chat: the reaction caps below are the server's to keep there (in an
    // encrypted one the client keeps them, see encryption.rs).
    let [alice, bob] = online_with(&url, ["alice", "bob"], |o| o.encrypt = false).await;
    let chat = direct(&alice, &bob).await;
    let hello = alice.conversation(chat).send("hello").expect("send");
    bob.until("bob has it", |c| shown(c, chat).len() == 1).await;

    let kind = |e: ClientError| e.kind();
    assert_eq!(
        bob.conversation(hello.conversation_id)
            .edit(hello.id, "mine now")
            .map_err(kind)
            .err(),
        Some(ErrorKind::Code(ErrorCode::Forbidden))
    );
    assert_eq!(
        bob.conversation(hello.conversation_id)
            .delete(hello.id)
            .map_err(kind)
            .err(),
        Some(ErrorKind::Code(ErrorCode::Forbidden))
    );
    assert_eq!(
        alice
            .conversation(hello.conversation_id)
            .edit(hello.id, "  ")
            .map_err(kind)
            .err(),
        Some(ErrorKind::Code(ErrorCode::InvalidRequest))
    );
    assert_eq!(
        alice
            .conversation(hello.conversation_id)
            .react(hello.id, "not one")
            .map_err(kind)
            .err(),
        Some(ErrorKind::Code(ErrorCode::InvalidRequest))
    );
    assert_eq!(
        alice
            .conversation(hello.conversation_id)
            .edit(MessageId::new(), "x")
            .map_err(kind)
            .err(),
        Some(ErrorKind::Code(ErrorCode::NotFound))
    );
    assert_eq!(
        bob.client.outbox_len().expect("outbox"),
        0,
        "nothing queued"
    );

    // A refusal only the server can make (a message takes at most so many different
    // reactions from one person): the change is dropped, the message shows as it was,
    // and the user is told why.
    let mut events = alice.client.events();
    let cap = ferry_proto::MAX_REACTIONS_PER_USER;
    for i in 0..=cap {
        alice
            .conversation(hello.conversation_id)
            .react(hello.id, &format!("e{i}"))
            .expect("queued");
    }
    let reason = crate::support::within("the refusal", async {
        loop {
            if let Ok(ferry_client::Event::ChangeRefused { message, reason }) = events.recv().await
                && message.id == hello.id
            {
                return reason;
            }
        }
    })
    .await;
    assert!(reason.contains("reactions"), "{reason}");
    alice
        .until("the rest sent", |c| c.outbox_len().expect("outbox") == 0)
        .await;
    let back = alice
        .client
        .message(hello.id)
        .expect("read")
        .expect("there");
    assert_eq!(back.reactions.len(), cap, "the refused one is gone");
    assert!(!back.reactions.iter().any(|r| r.emoji == format!("e{cap}")));
    bob.until("bob sees the same", |c| {
        c.message(hello.id)
            .ok()
            .flatten()
            .is_some_and(|m| m.reactions.len() == cap)
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_offline_survive_a_restart_and_converge_on_sqlite() {
    changes_made_offline_survive_a_restart_and_converge(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_offline_survive_a_restart_and_converge_on_postgres() {
    changes_made_offline_survive_a_restart_and_converge(TestDb::new(Backend::Postgres).await).await;
}

async fn changes_made_offline_survive_a_restart_and_converge(data: TestDb) {
    let server = TestServer::start_with(config(&data)).await;
    let url = server.url();
    let addr = server.addr;
    let [alice, bob] = online(&url, ["alice", "bob"]).await;
    let chat = direct(&alice, &bob).await;
    let sent = alice.conversation(chat).send("sent before").expect("send");
    // Stored first (the expected order below says so), before Bob writes.
    alice
        .until("alice's message stored", |c| {
            c.message(sent.id)
                .expect("read")
                .is_some_and(|m| m.seq.is_some())
        })
        .await;
    let doomed = bob
        .conversation(chat)
        .send("bob regrets this")
        .expect("send");
    for device in [&alice, &bob] {
        device
            .until("both sent and seen", |c| {
                c.outbox_len().expect("outbox") == 0 && shown(c, chat).len() == 2
            })
            .await;
    }
    alice.client.stop().await;
    bob.client.stop().await;
    server.stop().await;

    // Offline: edit and react to a sent message, reply to it, compose a message and edit
    // and react to it before it ever went out, compose one more and delete it unsent.
    alice
        .conversation(sent.conversation_id)
        .edit(sent.id, "sent before, edited offline")
        .expect("edit");
    alice
        .conversation(sent.conversation_id)
        .react(sent.id, "✅")
        .expect("react");
    let unsent = alice.conversation(chat).send("draft").expect("send");
    alice
        .conversation(unsent.conversation_id)
        .edit(unsent.id, "draft, final")
        .expect("edit unsent");
    alice
        .conversation(unsent.conversation_id)
        .react(unsent.id, "🚀")
        .expect("react unsent");
    let shown_now = alice
        .client
        .message(unsent.id)
        .expect("read")
        .expect("there");
    assert_eq!(shown_now.status, MessageStatus::Pending);
    // It never went out: the edit replaced its text, and nobody sees "(edited)".
    assert_eq!(
        (shown_now.body.as_str(), shown_now.edited),
        ("draft, final", false)
    );
    let gone = alice.conversation(chat).send("never mind").expect("send");
    assert_eq!(
        alice
            .conversation(gone.conversation_id)
            .delete(gone.id)
            .expect("delete unsent"),
        None
    );
    alice
        .conversation(chat)
        .reply(sent.id, "replying offline")
        .expect("reply");
    bob.conversation(doomed.conversation_id)
        .delete(doomed.id)
        .expect("delete offline");
    bob.conversation(sent.conversation_id)
        .react(sent.id, "✅")
        .expect("react");

    let alice = alice.restart(&url).await;
    let bob = bob.restart(&url).await;
    assert!(
        alice.client.outbox_len().expect("outbox") > 0,
        "the changes survived the restart"
    );
    alice.client.start();
    bob.client.start();
    let server = TestServer::start_at(config(&data), addr).await;

    // The two outboxes interleave as they will: compare what shows without the seqs,
    // then that every message has one, and that each device shows the same.
    let want = vec![
        (
            "sent before, edited offline".to_owned(),
            true,
            false,
            None,
            vec![("✅".to_owned(), 2)],
        ),
        (String::new(), false, true, None, vec![]),
        (
            "draft, final".into(),
            false,
            false,
            None,
            vec![("🚀".into(), 1)],
        ),
        (
            "replying offline".into(),
            false,
            false,
            Some(sent.id),
            vec![],
        ),
    ];
    let without_seqs = |c: &Client| {
        shown(c, chat)
            .into_iter()
            .map(|(_, body, edited, deleted, reply, reactions)| {
                (body, edited, deleted, reply, reactions)
            })
            .collect::<Vec<_>>()
    };
    for device in [&alice, &bob] {
        device
            .until("converged", |c| {
                c.outbox_len().expect("outbox") == 0 && without_seqs(c) == want
            })
            .await;
    }
    // Both devices hold the whole stream (4 messages, 2 + 3 + 1 + 1 changes: the edit of
    // the unsent message is its text; the unsent one deleted never went out, nor did its
    // deletion).
    for device in [&alice, &bob] {
        device
            .until("the whole stream", |c| {
                shown(c, chat).iter().all(|m| m.0.is_some())
                    && c.store().contiguous_seq(chat).expect("seq")
                        == c.conversation(chat)
                            .summary()
                            .expect("read")
                            .expect("there")
                            .last_seq
            })
            .await;
    }
    assert_eq!(shown(&alice.client, chat), shown(&bob.client, chat));
    assert!(!holds_text(&alice, &alice.client, "never mind"));
    for device in [&alice, &bob] {
        assert!(!holds_text(device, &device.client, "regrets"));
    }
    server.stop().await;
}

/// Up, change, Enter on a message still waiting to go out: it goes out once, with the new
/// text, and the other side never sees "(edited)". Once the message was handed to the
/// socket (the server may have it), an edit goes after it as an edit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsent_message_edited_goes_out_with_its_new_text() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let [alice, bob] = online(&server.url(), ["alice", "bob"]).await;
    let chat = direct(&alice, &bob).await;
    // Offline: nothing leaves this device.
    alice.client.stop().await;
    let typo = alice.conversation(chat).send("helo").expect("send");
    let fixed = alice
        .conversation(typo.conversation_id)
        .edit(typo.id, "hello")
        .expect("edit unsent");
    assert_eq!(
        (fixed.body.as_str(), fixed.edited, fixed.status),
        ("hello", false, MessageStatus::Pending)
    );
    assert_eq!(
        alice.client.outbox_len().expect("outbox"),
        1,
        "no edit queued"
    );
    // The next one is handed to a transport (as the engine does before writing its
    // frame) and only then edited: the edit follows it.
    let second = alice.conversation(chat).send("second").expect("send");
    let mut handed: Vec<_> = alice
        .client
        .store()
        .outbox()
        .expect("outbox")
        .into_iter()
        .filter(|item| item.message_id == second.id)
        .collect();
    alice
        .client
        .store()
        .claim_for_sending(&mut handed)
        .expect("claim");
    assert_eq!(handed[0].body, "second");
    let edited = alice
        .conversation(second.conversation_id)
        .edit(second.id, "second!")
        .expect("edit");
    assert_eq!((edited.body.as_str(), edited.edited), ("second!", true));
    assert_eq!(alice.client.outbox_len().expect("outbox"), 3);

    alice.client.start();
    let want = |c: &Client| {
        let typo = c.message(typo.id).expect("read");
        let second = c.message(second.id).expect("read");
        typo.is_some_and(|m| m.seq.is_some() && m.body == "hello" && !m.edited)
            && second.is_some_and(|m| m.seq.is_some() && m.body == "second!" && m.edited)
    };
    bob.until("bob sees the first as written, the second edited", want)
        .await;
    alice.until("alice's copy agrees", want).await;
    // The stream holds two messages and one edit, nothing else.
    assert_eq!(
        bob.conversation(chat)
            .summary()
            .expect("read")
            .expect("there")
            .last_seq,
        3
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_away_through_a_hundred_changes_catches_up() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let url = server.url();
    let [alice, bob] = online(&url, ["alice", "bob"]).await;
    let chat = direct(&alice, &bob).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            alice
                .conversation(chat)
                .send(&format!("message {i}"))
                .expect("send")
                .id,
        );
    }
    bob.until("bob has them", |c| shown(c, chat).len() == 5)
        .await;
    bob.client.stop().await;

    // A hundred changes while Bob is away: edits, reactions on and off, one deletion.
    for i in 0..100 {
        let target = ids[i % 5];
        match i % 4 {
            0 | 1 => {
                alice
                    .conversation(chat)
                    .edit(target, &format!("message {} v{i}", i % 5))
                    .expect("edit");
            }
            2 => {
                alice
                    .conversation(chat)
                    .react(target, "🔁")
                    .expect("toggle");
            }
            _ => {
                alice
                    .conversation(chat)
                    .react(target, ["🍎", "🍐", "🍋"][i % 3])
                    .expect("toggle");
            }
        }
    }
    alice.conversation(chat).delete(ids[4]).expect("delete");
    alice
        .until("all sent", |c| c.outbox_len().expect("outbox") == 0)
        .await;
    let want = shown(&alice.client, chat);
    assert_eq!(want.len(), 5);

    bob.client.start();
    bob.until("bob converged", |c| shown(c, chat) == want).await;
    let summary = bob
        .conversation(chat)
        .summary()
        .expect("read")
        .expect("there");
    assert_eq!(summary.last_seq, 106, "5 messages and 101 changes, no gap");
    assert_eq!(
        bob.client.store().contiguous_seq(chat).expect("seq"),
        106,
        "stored without a gap"
    );
    assert_eq!(summary.unread_count, 5, "changes are not unread messages");
    let last = summary.last_message.expect("preview");
    assert!(last.deleted, "the preview follows the deletion");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_edits_from_two_devices_converge() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let url = server.url();
    let [phone, bob] = online(&url, ["alice", "bob"]).await;
    let laptop = Device::login(&url, "alice").await;
    laptop.client.start();
    laptop.online().await;
    let chat = direct(&phone, &bob).await;
    let m = phone.conversation(chat).send("v0").expect("send");
    for device in [&phone, &laptop, &bob] {
        device
            .until("everyone has it", |c| shown(c, chat).len() == 1)
            .await;
    }
    phone.client.stop().await;
    laptop.client.stop().await;
    // Both devices edit and toggle the same reaction while neither hears the other.
    let (on_phone, on_laptop) = (
        phone.conversation(m.conversation_id),
        laptop.conversation(m.conversation_id),
    );
    on_phone.edit(m.id, "from the phone").expect("edit");
    on_phone.react(m.id, "👍").expect("react");
    on_laptop.edit(m.id, "from the laptop").expect("edit");
    on_laptop.react(m.id, "👍").expect("react");
    assert_eq!(
        phone
            .client
            .message(m.id)
            .expect("read")
            .expect("there")
            .body,
        "from the phone"
    );
    phone.client.start();
    laptop.client.start();
    // Whichever the server stored last wins, on every device alike.
    let agreed = |c: &Client| -> Option<(String, Vec<(String, usize)>)> {
        let m: LocalMessage = c.message(m.id).ok()??;
        (c.outbox_len().ok()? == 0).then(|| {
            (
                m.body,
                m.reactions
                    .iter()
                    .map(|r| (r.emoji.clone(), r.user_ids.len()))
                    .collect(),
            )
        })
    };
    phone
        .until("phone sent", |c| c.outbox_len().expect("outbox") == 0)
        .await;
    laptop
        .until("laptop sent", |c| c.outbox_len().expect("outbox") == 0)
        .await;
    for device in [&phone, &laptop, &bob] {
        device
            .until("the last seq arrived", |c| {
                c.store().contiguous_seq(chat).expect("seq") == 5
            })
            .await;
    }
    let final_state = agreed(&bob.client).expect("bob's state");
    assert!(
        final_state.0 == "from the phone" || final_state.0 == "from the laptop",
        "{final_state:?}"
    );
    for device in [&phone, &laptop] {
        device
            .until("the same as bob", |c| {
                agreed(c).as_ref() == Some(&final_state)
            })
            .await;
    }
    server.stop().await;
}

/// An operator removes a message: the device online shows it as removed by an
/// administrator as soon as the removal arrives, and a device that was away finds the
/// same at its catch-up; the text is gone from both stores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_removal_shows_as_such_on_every_device() {
    let data = TestDb::new(Backend::Sqlite).await;
    let server = TestServer::start_with(config(&data)).await;
    let url = server.url();
    let [alice, bob] = online(&url, ["alice", "bob"]).await;
    let away = Device::login(&url, "alice").await;
    let chat = direct(&alice, &bob).await;
    let awful = bob
        .conversation(chat)
        .send("something awful")
        .expect("send");
    alice
        .until("alice has it", |c| shown(c, chat).len() == 1)
        .await;

    // An administrator (granted as the host's command does) removes it.
    let http = reqwest::Client::new();
    let root = ferry_testkit::administrator(&url, &data.url, "root").await;
    let removed = http
        .post(format!("{url}/api/v1/admin/messages/{}/remove", awful.id))
        .bearer_auth(&root.access_token)
        .json(&serde_json::json!({"reason": "abuse"}))
        .send()
        .await
        .expect("remove");
    assert_eq!(removed.status(), reqwest::StatusCode::NO_CONTENT);

    let is_removed = |c: &Client| {
        c.conversation(chat)
            .messages(None, u32::MAX)
            .expect("messages")
            .iter()
            .any(|m: &LocalMessage| m.id == awful.id && m.deleted && m.removed_by_operator)
    };
    alice.until("alice sees the removal", is_removed).await;
    // Named as from bob, but not his doing: his read mark stays at his message.
    let bobs_mark = alice
        .conversation(chat)
        .summary()
        .expect("summary")
        .expect("the chat")
        .members
        .iter()
        .find(|m| m.user.id == bob.id())
        .map(|m| m.read_seq);
    assert_eq!(bobs_mark, Some(1));
    bob.until("bob sees the removal", is_removed).await;
    away.client.start();
    away.until("the device that was away catches up", is_removed)
        .await;
    for (device, who) in [(&alice, "alice"), (&away, "alice's other device")] {
        assert!(
            !holds_text(device, &device.client, "something awful"),
            "{who} still holds the text"
        );
    }
    server.stop().await;
}
