//! The device's database encrypted at rest (issue 31): real clients, each with its own
//! store and token store. What a device sent and received is in none of the files of its
//! data folder (database, log, index), yet it reads, lists and searches it; another key
//! does not open the database; and a device whose keyring lost the key, signing in again,
//! keeps the unreadable file aside and goes on in a new database.

use ferry_client::store::{DatabaseKey, LocalStore, StoreError, is_plaintext};
use ferry_proto::ConversationId;
use ferry_testkit::holds;

use crate::support::{Device, Served, TestDb, TestServer, config, direct, online};

/// Every file under `dir`, as (path, bytes).
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read a file");
                found.push((path, bytes));
            }
        }
    }
    found
}

/// The texts of this test: long enough (at least 8 bytes) that none turns up in
/// ciphertext by chance (see `encryption.rs`).
const SENT: &str = "my salary is 91,234 a year";
const RECEIVED: &str = "call me on 0612 345 678";

/// Waits until `device` holds a message of `chat` whose text is `body`.
async fn arrives(device: &Device, chat: ConversationId, body: &str) {
    device
        .until(&format!("{body:?} arrives"), |c| {
            c.conversation(chat)
                .messages(None, u32::MAX)
                .is_ok_and(|m| m.iter().any(|m| m.body == body))
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_device_keeps_is_unreadable_without_its_key() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let [alice, bob] = online(&server.url(), ["alice", "bob"]).await;
    let chat = direct(&alice, &bob).await;
    alice.conversation(chat).send(SENT).expect("send");
    arrives(&bob, chat, SENT).await;
    bob.conversation(chat).send(RECEIVED).expect("send");
    arrives(&alice, chat, RECEIVED).await;

    for device in [&alice, &bob] {
        // The device itself reads and searches it (the search index is in the database).
        let hits = device.client.search("salary", 10).expect("search");
        assert_eq!(hits.len(), 1, "one hit for 'salary': {hits:?}");
        let files = files_under(&device.dir);
        assert!(
            files.iter().any(|(p, _)| p.ends_with("ferry.db-wal")),
            "the log is among the files read: {:?}",
            files.iter().map(|(p, _)| p).collect::<Vec<_>>()
        );
        for (path, bytes) in &files {
            for text in [SENT, RECEIVED] {
                assert!(!holds(bytes, text), "{} holds {text:?}", path.display());
            }
        }
        let database = device.database();
        assert!(!is_plaintext(&database).expect("read the header"));
        // Another key opens nothing, and says so.
        let other = DatabaseKey::new([1; 32]);
        assert!(matches!(
            LocalStore::open(&database, &other),
            Err(StoreError::WrongKey)
        ));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_whose_keyring_lost_the_key_starts_a_new_database_and_catches_up() {
    let data = TestDb::sqlite();
    let server = TestServer::start_with(config(&data)).await;
    let url = server.url();
    let [alice, bob] = online(&url, ["alice", "bob"]).await;
    let chat = direct(&alice, &bob).await;
    bob.conversation(chat).send(RECEIVED).expect("send");
    arrives(&alice, chat, RECEIVED).await;
    let database = alice.database();
    // The same data folder, a keyring that holds nothing of it: signing in sets the old
    // file aside and makes a new database.
    let alice = alice.sign_in_with_new_keyring(&url).await;
    let kept: Vec<_> = std::fs::read_dir(database.parent().expect("the account folder"))
        .expect("read the folder")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("ferry.db.unreadable-"))
        .collect();
    assert!(
        kept.iter()
            .any(|name| !name.ends_with("-wal") && !name.ends_with("-shm")),
        "the unreadable database is kept: {kept:?}"
    );
    alice.client.start();
    alice.online().await;
    // The new database learns the chat again from the server, and what is sent next.
    bob.conversation(chat).send(SENT).expect("send");
    arrives(&alice, chat, SENT).await;
    server.stop().await;
}
