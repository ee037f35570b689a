//! Ferry updating itself as installed software (issue 29), run by `scripts/update-test.sh`,
//! which builds an older and a newer `.deb` with a key made for the run, signs the newer
//! one, installs the older one and hands the rest over here (so the test is ignored in
//! a plain `cargo test`: without those bundles there is nothing to update).
//!
//! A person signs in on the installed older version and chats; the chat server goes away
//! and a message waits in the outbox. The update feed (a second Ferry server, serving
//! `FERRY_UPDATES_DIR`, whose address the builds carry) first offers a tampered bundle
//! under the genuine signature: Settings shows that it was refused and the installed
//! version stays. Then it offers the genuine one: the app downloads it, checks it,
//! installs it through sudo and dpkg, and starts again as the new version. Opened again,
//! the new version has the conversation and the waiting message, which goes out exactly
//! once when the chat server is back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::{Client as Browser, Locator};
use ferry_testkit::{Served, TestDb, TestServer};

use crate::{Shots, browser_of, driver, find, id, server_config, wait_css, within};

/// Where the package puts the app.
const INSTALLED: &str = "/usr/bin/ferry-desktop";

fn var(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run scripts/update-test.sh, which sets it"))
}

/// The version of the installed `ferry` package.
fn installed_version() -> String {
    let out = std::process::Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", "ferry"])
        .output()
        .expect("dpkg-query");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The processes running the installed app.
fn installed_app_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|p| {
            std::fs::read_link(p.path().join("exe"))
                .is_ok_and(|exe| exe.to_string_lossy().starts_with(INSTALLED))
        })
        .filter_map(|p| p.file_name().to_str()?.parse().ok())
        .collect()
}

/// Whether the app's log says that version `version` started.
fn started_as(log_dir: &Path, version: &str) -> bool {
    let needle = format!("version={version}");
    std::fs::read_dir(log_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|f| std::fs::read_to_string(f.path()).ok())
        .any(|log| {
            log.lines()
                .any(|l| l.contains("Ferry desktop starting") && l.contains(&needle))
        })
}

/// Publishes `bundle` with `signature` as version `version` in `dir`, as an operator does,
/// with `notes`.
fn publish(dir: &Path, feed: &str, version: &str, notes: &str, bundle: &Path, signature: &str) {
    let name = bundle.file_name().expect("a file name");
    std::fs::copy(bundle, dir.join(name)).expect("copy the bundle");
    let manifest = serde_json::json!({
        "version": version,
        "notes": notes,
        "pub_date": "2026-11-26T12:00:00Z",
        "platforms": {
            "linux-x86_64-deb": {
                "signature": signature,
                "url": format!("{feed}/updates/{}", name.to_string_lossy()),
            }
        }
    });
    // Written whole, then renamed: the app never reads half a manifest.
    let tmp = dir.join("latest.json.new");
    std::fs::write(&tmp, manifest.to_string()).expect("manifest");
    std::fs::rename(&tmp, dir.join("latest.json")).expect("publish the manifest");
}

/// Checks for updates (from the account menu, which opens Settings at its updates
/// section, or with the section's own button) and waits until the check found `version`
/// with `notes`.
async fn check_finds(b: &Browser, from_menu: bool, version: &str, notes: &str) {
    if from_menu {
        find(b, "account-menu").await.click().await.expect("menu");
        find(b, "menu-check-for-updates")
            .await
            .click()
            .await
            .expect("check for updates");
    } else {
        find(b, "check-for-updates")
            .await
            .click()
            .await
            .expect("check for updates");
    }
    let mut look = tokio::time::interval(Duration::from_millis(50));
    within("the update on offer", async {
        loop {
            let shown = async |test_id| match b.find(Locator::Css(&id(test_id))).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if shown("update-available-version").await.contains(version)
                && shown("update-notes").await.contains(notes)
            {
                return;
            }
            look.tick().await;
        }
    })
    .await;
}

/// Opens Bob's chat from the list, once it shows there.
async fn open_bobs_chat(b: &Browser) {
    wait_css(
        b,
        &format!("{}[data-name=\"Bob Builder\"]", id("conversation-item")),
    )
    .await
    .click()
    .await
    .expect("open chat");
}

/// Ends the processes of the installed app (the one the update started is not under a
/// driver, which would end it with its process group).
fn kill_installed() {
    for pid in installed_app_pids() {
        let _ = std::process::Command::new("kill")
            .args(["-s", "KILL", &pid.to_string()])
            .status();
    }
}

/// Leaves no installed app running when the test ends, pass or fail.
struct KillInstalled;

impl Drop for KillInstalled {
    fn drop(&mut self) {
        kill_installed();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the bundles scripts/update-test.sh builds and installs; it runs this"]
async fn the_installed_app_updates_itself() {
    let _turn = crate::ONE_APP.lock().await;
    let _kill = KillInstalled;
    let old = var("FERRY_UPDATE_OLD_VERSION");
    let new = var("FERRY_UPDATE_NEW_VERSION");
    let bundle = PathBuf::from(var("FERRY_UPDATE_BUNDLE"));
    let tampered = PathBuf::from(var("FERRY_UPDATE_TAMPERED"));
    let signature = std::fs::read_to_string(var("FERRY_UPDATE_SIGNATURE")).expect("signature");
    let feed_port: u16 = var("FERRY_UPDATE_FEED_PORT").parse().expect("a port");
    assert_eq!(installed_version(), old, "the older version is installed");

    // The publisher's server, at the address the builds carry.
    let updates = tempfile::tempdir().expect("dir");
    let feed_db = TestDb::sqlite();
    let mut feed_config = server_config(&feed_db);
    feed_config.updates_dir = Some(updates.path().to_owned());
    let feed_server = TestServer::start_at(feed_config, ([127, 0, 0, 1], feed_port).into()).await;
    let feed = feed_server.url();
    // First the tampered bundle, under the genuine signature.
    publish(
        updates.path(),
        &feed,
        &new,
        "First offer.",
        &tampered,
        &signature,
    );

    // The chat server, and Bob on it.
    let chat_db = TestDb::sqlite();
    let chat_server = TestServer::start_with(server_config(&chat_db)).await;
    let chat_addr = chat_server.addr;
    let url = chat_server.url();
    let (bob, _bob_dir) = crate::installed::person(&url, "bob", "Bob Builder").await;

    let app_dir = tempfile::tempdir().expect("dir");
    let log_dir = app_dir.path().join("logs");
    let mut shots = Shots {
        dir: std::env::var_os("FERRY_E2E_ARTIFACTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("ferry-e2e"))
            .join("update"),
        n: 0,
    };
    std::fs::create_dir_all(&shots.dir).expect("artifacts dir");

    // The older version: sign up, chat.
    let first_driver = driver(&shots.dir, app_dir.path()).await;
    let b = browser_of(&first_driver, INSTALLED).await;
    let mut look = tokio::time::interval(Duration::from_millis(100));
    within("the older version's start in its log", async {
        while !started_as(&log_dir, &old) {
            look.tick().await;
        }
    })
    .await;
    let server_field = find(&b, "server-url").await;
    server_field.clear().await.expect("clear");
    server_field.send_keys(&url).await.expect("type");
    find(&b, "username")
        .await
        .send_keys("alice")
        .await
        .expect("type");
    find(&b, "password")
        .await
        .send_keys("correct horse battery")
        .await
        .expect("type");
    find(&b, "sign-up").await.click().await.expect("sign up");
    find(&b, "new-chat").await;
    let chat = bob.open_direct("alice").await.expect("bob opens a chat");
    bob.conversation(chat)
        .send("Before the update")
        .expect("send");
    open_bobs_chat(&b).await;
    find(&b, "accept-request")
        .await
        .click()
        .await
        .expect("accept");
    // Accepted once the composer replaces the request panel: the server must still be
    // there to hear it (stopping it at once raced the accept, which then failed).
    let composer = find(&b, "composer").await;

    // The chat server goes away; a message waits in the outbox.
    chat_server.stop().await;
    find(&b, "offline-banner").await;
    composer.send_keys("Written offline").await.expect("type");
    composer.send_keys("\u{E007}").await.expect("enter");
    wait_css(&b, "[data-testid=\"message\"][data-status=\"pending\"]").await;

    // The feed offers the tampered bundle: refused, and nothing changed.
    check_finds(&b, true, &new, "First offer.").await;
    shots.take(&b, "update-offered").await;
    find(&b, "install-update")
        .await
        .click()
        .await
        .expect("install");
    let error = find(&b, "update-error").await;
    within("the refusal", async {
        while !error
            .text()
            .await
            .is_ok_and(|t| t.contains("not signed with Ferry's update key"))
        {
            look.tick().await;
        }
    })
    .await;
    shots.take(&b, "tampered-refused").await;
    assert_eq!(
        installed_version(),
        old,
        "a tampered bundle installs nothing"
    );

    // The genuine bundle: installed, and Ferry starts again as the new version.
    publish(
        updates.path(),
        &feed,
        &new,
        "Second offer.",
        &bundle,
        &signature,
    );
    check_finds(&b, false, &new, "Second offer.").await;
    find(&b, "install-update")
        .await
        .click()
        .await
        .expect("install");
    within("the new version installed and started", async {
        while !(installed_version() == new && started_as(&log_dir, &new)) {
            look.tick().await;
        }
    })
    .await;
    drop(b);
    drop(first_driver);
    // The process the update started is not under WebDriver: it is ended, and the new
    // version is opened again to look at it.
    kill_installed();
    within("the restarted app to end", async {
        while !installed_app_pids().is_empty() {
            look.tick().await;
        }
    })
    .await;

    let second_driver = driver(&shots.dir, app_dir.path()).await;
    let b = browser_of(&second_driver, INSTALLED).await;
    // Signed in still (the keyring and the store are the same), with the chat and the
    // message that waits to go out.
    open_bobs_chat(&b).await;
    wait_css(&b, "[data-testid=\"message\"][data-status=\"pending\"]").await;
    shots.take(&b, "new-version-outbox").await;

    // The chat server is back: the waiting message goes out, once, after Bob's.
    let chat_server = TestServer::start_at(server_config(&chat_db), chat_addr).await;
    let mut events = bob.events();
    let conversation = bob.conversation(chat);
    within("bob gets the message written before the update", async {
        loop {
            let texts: Vec<String> = conversation
                .messages(None, 50)
                .expect("read")
                .into_iter()
                .map(|m| m.body)
                .collect();
            if texts.iter().any(|t| t == "Written offline") {
                assert_eq!(
                    texts,
                    ["Before the update", "Written offline"],
                    "each once, in order"
                );
                return;
            }
            let _ = events.recv().await;
        }
    })
    .await;
    within("the app to show the message sent", async {
        while !b
            .find_all(Locator::Css(
                "[data-testid=\"message\"][data-status=\"pending\"]",
            ))
            .await
            .expect("find")
            .is_empty()
        {
            look.tick().await;
        }
    })
    .await;
    shots.take(&b, "new-version-sent").await;
    drop(chat_server);
    drop(feed_server);
}
