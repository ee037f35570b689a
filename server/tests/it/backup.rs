//! Backups: the real `ferry-server backup` copies a server's database and files while it
//! runs, and `ferry-server restore` puts them into a fresh server, which then serves every
//! message and file the backup holds (and nothing sent after it). A restore refuses a
//! database that already holds something, and a folder that is not a backup. On both
//! databases.

use std::path::Path;
use std::process::Output;

use ferry_proto::MessageId;
use ferry_server::backup::{Database, Manifest};
use ferry_testkit::noise;
use reqwest::StatusCode;

use crate::files::{Blobs, fetch, send_with, server, upload};
use crate::support::{Backend, TestDb, TestServer, User, alice_and_bob, on_both, test_config};

/// Runs `ferry-server COMMAND FOLDER` on a database and data directory, as an operator on
/// the host does.
async fn ferry_server(command: &str, folder: &Path, database: &str, data: &Path) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry-server"))
        .arg(command)
        .arg(folder)
        .env_clear()
        .env("DATABASE_URL", database)
        .env("FERRY_DATA_DIR", data)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("ferry-server runs")
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn a_backup_restores_into_a_fresh_server(backend: Backend) {
    let (store, server, _) = server(backend, Blobs::Disk, |_| {}).await;
    let (alice, bob, conv) = alice_and_bob(&server).await;
    for i in 0..40 {
        let from = if i % 2 == 0 { &alice } else { &bob };
        from.send_rest(conv, &format!("message {i}")).await;
    }
    let bytes = noise(700_000, 28);
    let file = upload(&alice, "plans.bin", &bytes, "application/octet-stream").await;
    let (status, sent) = send_with(&alice, conv, MessageId::new(), "the plans", &[file.id]).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let before = bob.history(conv).await;
    assert_eq!(before.len(), 41);

    // Taken while the server runs, with its own settings.
    let data = store.dir();
    let folder = tempfile::tempdir().expect("temp dir");
    let backup = folder.path().join("backup");
    let output = ferry_server("backup", &backup, store.url(), &data).await;
    assert!(output.status.success(), "backup: {}", said(&output));
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).expect("manifest"))
            .expect("a manifest");
    let expected = match backend {
        Backend::Sqlite => Database::Sqlite,
        Backend::Postgres => Database::Postgres,
    };
    assert_eq!(manifest.database, expected);
    assert!(
        manifest.files >= 1 && manifest.bytes >= bytes.len() as u64,
        "{manifest:?}"
    );
    // A second backup into the same folder would mix two: refused.
    let output = ferry_server("backup", &backup, store.url(), &data).await;
    assert!(!output.status.success(), "a second backup into one folder");
    assert!(said(&output).contains("not empty"), "{}", said(&output));
    // What is sent after the backup is not in it.
    alice.send_rest(conv, "after the backup").await;

    // Restored into a fresh database and data directory, then served.
    let fresh = TestDb::new(backend).await;
    let config = test_config(&fresh);
    let output = ferry_server(
        "restore",
        &backup,
        &config.effective_database_url(),
        &config.data_dir,
    )
    .await;
    assert!(output.status.success(), "restore: {}", said(&output));
    let restored = TestServer::start_with(config.clone()).await;
    let bob = User::login(&restored, "bob").await;
    let after = bob.history(conv).await;
    assert_eq!(
        after
            .iter()
            .map(|m| (m.id, m.seq, &m.body))
            .collect::<Vec<_>>(),
        before
            .iter()
            .map(|m| (m.id, m.seq, &m.body))
            .collect::<Vec<_>>(),
        "every message of the backup, and none sent after it"
    );
    let (status, _, got) = fetch(&bob, &format!("/attachments/{}", file.id), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(got == bytes, "the file comes back byte for byte");
    // The restored server goes on where the backup ended.
    let next = bob.send_rest(conv, "on the restored server").await;
    assert_eq!(next.seq, 42);

    // Restoring over a server's data is refused, with words, and changes nothing.
    let output = ferry_server(
        "restore",
        &backup,
        &config.effective_database_url(),
        &config.data_dir,
    )
    .await;
    assert!(!output.status.success(), "a restore over a server's data");
    assert!(
        said(&output).contains("fresh server") || said(&output).contains("not empty"),
        "{}",
        said(&output)
    );
    assert_eq!(bob.history(conv).await.len(), 42);
    restored.stop().await;

    // A folder that is not a backup.
    let empty = TestDb::sqlite();
    let output = ferry_server("restore", empty.dir.path(), &empty.url, empty.dir.path()).await;
    assert!(!output.status.success());
    assert!(
        said(&output).contains("not a Ferry backup"),
        "{}",
        said(&output)
    );
    server.stop().await;
}

on_both!(a_backup_restores_into_a_fresh_server);
