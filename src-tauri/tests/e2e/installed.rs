//! The app as installed software (issue 29), end to end and with the keyboard alone: a
//! person signs up, opens a chat, sends, replies and reacts without a single mouse event;
//! axe-core finds no serious or critical violation on any screen, in the light theme and
//! the dark; Settings turns on starting at login (the system's autostart entry appears)
//! and closing to the tray, and switches the language to German (the window's text and the
//! tray's menu follow). Then the window is closed as a window manager closes it: Ferry
//! keeps running in the tray, which shows the unread count while notifications keep
//! coming; a `ferry://` link given to a second launch brings the window back and starts
//! the chat it names; Quit in the tray's menu ends it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fantoccini::Client as Browser;
use ferry_client::tokens::MemoryTokens;
use ferry_client::{Client, ClientOptions};
use ferry_proto::ConversationId;
use ferry_testkit::{Served, TestDb, TestServer};
use tokio::process::Command;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{AtomEnum, ClientMessageEvent, ConnectionExt, EventMask, MapState};

use crate::notifications::Notifications;
use crate::tray::Tray;
use crate::{Shots, app_running, browser, driver, find, id, server_config, wait_css, within};

const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";
const SHIFT_TAB: &str = "\u{E008}\u{E004}";
const ESCAPE: &str = "\u{E00C}";
const SPACE: &str = "\u{E00D}";
const UP: &str = "\u{E013}";
const CONTROL: &str = "\u{E009}";

/// Types `keys` into whatever has the focus (no element is clicked or picked).
async fn keys(b: &Browser, keys: &str) {
    b.active_element()
        .await
        .expect("something has the focus")
        .send_keys(keys)
        .await
        .expect("keys");
}

/// The `data-testid` of the focused element.
async fn focused(b: &Browser) -> Option<String> {
    let active = b.active_element().await.ok()?;
    active.attr("data-testid").await.ok().flatten()
}

/// Waits until `test_id` has the focus (a dialog gives it to its first field once it has
/// opened); each look is a round trip to the app.
async fn focus_on(b: &Browser, test_id: &str) {
    within(&format!("the focus on {test_id}"), async {
        while focused(b).await.as_deref() != Some(test_id) {}
    })
    .await;
}

/// Moves the focus with Tab (or Shift+Tab) until `test_id` has it: it must be reachable
/// from the keyboard within a sensible number of stops.
async fn tab_to(b: &Browser, test_id: &str, backwards: bool) {
    for _ in 0..40 {
        if focused(b).await.as_deref() == Some(test_id) {
            return;
        }
        keys(b, if backwards { SHIFT_TAB } else { TAB }).await;
    }
    panic!(
        "{test_id} is not reachable with the keyboard (focus is on {:?})",
        focused(b).await
    );
}

/// Runs axe-core over the window: no violation of impact serious or critical.
async fn axe(b: &Browser, shots: &mut Shots, screen: &str) {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui");
    let engine = std::fs::read_to_string(ui.join("node_modules/axe-core/axe.min.js"))
        .expect("axe-core (npm --prefix ui ci)");
    let run = std::fs::read_to_string(ui.join("src/test/axe-webdriver.js")).expect("axe runner");
    b.execute(&engine, vec![]).await.expect("load axe-core");
    let found = b.execute_async(&run, vec![]).await.expect("run axe");
    shots.take(b, &format!("axe-{screen}")).await;
    assert_eq!(found, serde_json::json!([]), "axe on {screen}");
}

/// The X window of the app (a top-level window whose name starts with "Ferry").
pub(crate) fn app_window(x: &impl Connection, root: u32) -> Option<u32> {
    let tree = x.query_tree(root).ok()?.reply().ok()?;
    tree.children.into_iter().find(|w| {
        x.get_property(false, *w, AtomEnum::WM_NAME, AtomEnum::ANY, 0, 256)
            .ok()
            .and_then(|c| c.reply().ok())
            .is_some_and(|p| p.value.starts_with(b"Ferry"))
    })
}

/// Asks the window to close as a window manager's close button does (`WM_DELETE_WINDOW`).
fn close_window(x: &impl Connection, window: u32) {
    let atom = |name: &[u8]| {
        x.intern_atom(false, name)
            .expect("intern")
            .reply()
            .expect("atom")
            .atom
    };
    let event = ClientMessageEvent::new(
        32,
        window,
        atom(b"WM_PROTOCOLS"),
        [atom(b"WM_DELETE_WINDOW"), 0, 0, 0, 0],
    );
    x.send_event(false, window, EventMask::NO_EVENT, event)
        .expect("send the close request");
    x.flush().expect("flush");
}

pub(crate) fn mapped(x: &impl Connection, window: u32) -> bool {
    x.get_window_attributes(window)
        .ok()
        .and_then(|c| c.reply().ok())
        .is_some_and(|a| a.map_state == MapState::VIEWABLE)
}

/// Waits until `check` holds, looking again at a gentle pace (X and /proc say nothing
/// when they change).
async fn until(what: &str, check: impl Fn() -> bool) {
    let mut look = tokio::time::interval(std::time::Duration::from_millis(50));
    within(what, async {
        while !check() {
            look.tick().await;
        }
    })
    .await;
}

/// The autostart entries the app wrote in `home` (`~/.config/autostart`, where desktops
/// look; the autostart plugin writes there whatever XDG_CONFIG_HOME says).
fn autostart_entries(home: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(home.join(".config/autostart"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect()
}

pub(crate) async fn person(url: &str, name: &str, display: &str) -> (Client, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let client = Client::register(
        ClientOptions::new(url, dir.path()),
        Arc::new(MemoryTokens::default()),
        name,
        "correct horse battery",
        display,
    )
    .await
    .expect("register");
    client.start();
    (client, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_installed_app_with_the_keyboard_alone() {
    let _turn = crate::ONE_APP.lock().await;
    let server_db = TestDb::sqlite();
    let server = TestServer::start_with(server_config(&server_db)).await;
    let url = server.url();
    let app_dir = tempfile::tempdir().expect("dir");
    let mut shots = Shots {
        dir: std::env::var_os("FERRY_E2E_ARTIFACTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("ferry-e2e"))
            .join("installed"),
        n: 0,
    };
    std::fs::create_dir_all(&shots.dir).expect("artifacts dir");
    // Before the app starts: its notifications and its tray icon come here.
    let mut notifications = Notifications::start().await;
    let tray = Tray::start().await;
    let (bob, _bob_dir) = person(&url, "bob", "Bob Builder").await;
    let (carol, _carol_dir) = person(&url, "carol", "Carol Danvers").await;

    let driver = driver(&shots.dir, app_dir.path()).await;
    let b = browser(&driver).await;

    // Sign up, keys only.
    find(&b, "server-url").await;
    axe(&b, &mut shots, "sign-in").await;
    tab_to(&b, "server-url", false).await;
    keys(&b, &format!("{CONTROL}a")).await;
    keys(&b, &url).await;
    tab_to(&b, "username", false).await;
    keys(&b, "alice").await;
    tab_to(&b, "password", false).await;
    keys(&b, "correct horse battery").await;
    tab_to(&b, "sign-up", false).await;
    keys(&b, ENTER).await;
    find(&b, "new-chat").await;

    // Bob writes; Alice opens his chat from the quick switcher and accepts.
    let chat = bob.open_direct("alice").await.expect("bob opens a chat");
    bob.conversation(chat).send("Lunch at noon?").expect("send");
    wait_css(
        &b,
        &format!("{}[data-name=\"Bob Builder\"]", id("conversation-item")),
    )
    .await;
    keys(&b, &format!("{CONTROL}k")).await;
    // The switcher's input takes the focus once its dialog has opened: typed before
    // that, the name went to the list behind it.
    focus_on(&b, "quick-switcher-input").await;
    keys(&b, "Bob").await;
    wait_css(
        &b,
        &format!(
            "{}[aria-selected=\"true\"][data-name=\"Bob Builder\"]",
            id("quick-switcher-option")
        ),
    )
    .await;
    keys(&b, ENTER).await;
    find(&b, "request-panel").await;
    tab_to(&b, "accept-request", false).await;
    keys(&b, ENTER).await;
    find(&b, "composer").await;
    tab_to(&b, "composer", false).await;
    keys(&b, &format!("On my way{ENTER}")).await;
    let bobs_view = |bob: &Client, chat: ConversationId| {
        bob.conversation(chat)
            .messages(None, 100)
            .expect("messages")
    };
    let mut events = bob.events();
    within("bob gets alice's message", async {
        while !bobs_view(&bob, chat).iter().any(|m| m.body == "On my way") {
            let _ = events.recv().await;
        }
    })
    .await;

    // Reply to Bob's message: back from the composer to the messages, up to his, R.
    tab_to(&b, "message", true).await;
    keys(&b, UP).await;
    keys(&b, "r").await;
    find(&b, "reply-bar").await;
    tab_to(&b, "composer", false).await;
    keys(&b, &format!("Noon works{ENTER}")).await;
    let asked = bobs_view(&bob, chat)
        .into_iter()
        .find(|m| m.body == "Lunch at noon?")
        .expect("bob's question")
        .id;
    within("bob gets the reply", async {
        while !bobs_view(&bob, chat)
            .iter()
            .any(|m| m.body == "Noon works" && m.reply_to == Some(asked))
        {
            let _ = events.recv().await;
        }
    })
    .await;

    // React to Bob's message: to the messages, up to his, E, Enter on the first emoji.
    tab_to(&b, "message", true).await;
    keys(&b, UP).await;
    keys(&b, UP).await;
    keys(&b, "e").await;
    find(&b, "reaction-picker").await;
    keys(&b, ENTER).await;
    within("bob sees alice's reaction", async {
        while !bobs_view(&bob, chat)
            .iter()
            .any(|m| m.id == asked && !m.reactions.is_empty())
        {
            let _ = events.recv().await;
        }
    })
    .await;
    keys(&b, ESCAPE).await;
    axe(&b, &mut shots, "chat-light").await;

    // Settings with Ctrl+,: every section passes axe; dark theme, start at login, close to
    // the tray, then German.
    keys(&b, &format!("{CONTROL},")).await;
    find(&b, "settings-dialog").await;
    axe(&b, &mut shots, "settings").await;
    tab_to(&b, "settings-tab", false).await;
    let section = |name: &'static str| format!("{}[data-section=\"{name}\"]", id("settings-panel"));
    // The tab list: Down moves to the next section until the App section shows.
    for _ in 0..8 {
        if b.find(fantoccini::Locator::Css(&section("app")))
            .await
            .is_ok()
        {
            break;
        }
        keys(&b, "\u{E015}").await;
    }
    wait_css(&b, &section("app")).await;
    tab_to(&b, "start-at-login", false).await;
    keys(&b, SPACE).await;
    let config = app_dir.path().join("config");
    let home = app_dir.path().join("home");
    until("the autostart entry", || {
        autostart_entries(&home)
            .iter()
            .any(|e| std::fs::read_to_string(e).is_ok_and(|t| t.contains("--at-login")))
    })
    .await;
    tab_to(&b, "close-to-tray", false).await;
    keys(&b, SPACE).await;
    tab_to(&b, "settings-tab", true).await;
    for _ in 0..8 {
        if b.find(fantoccini::Locator::Css(&section("appearance")))
            .await
            .is_ok()
        {
            break;
        }
        keys(&b, "\u{E015}").await;
    }
    // A radio group is one stop: Tab reaches the chosen theme, arrows choose another.
    tab_to(&b, "theme-system", false).await;
    keys(&b, "\u{E015}\u{E015}").await;
    wait_css(&b, "html[data-theme=\"dark\"]").await;
    axe(&b, &mut shots, "settings-dark").await;
    tab_to(&b, "settings-tab", true).await;
    for _ in 0..8 {
        if b.find(fantoccini::Locator::Css(&section("language")))
            .await
            .is_ok()
        {
            break;
        }
        keys(&b, "\u{E015}").await;
    }
    tab_to(&b, "language-select", false).await;
    keys(&b, "Deutsch").await;
    wait_css(&b, "html[lang=\"de\"]").await;
    keys(&b, ESCAPE).await;
    axe(&b, &mut shots, "chat-dark-german").await;

    // The tray: its menu in German; close the window as a window manager would.
    let item = within("the tray icon", tray.item()).await;
    within("the tray's menu in German", async {
        loop {
            let menu = tray.menu(&item).await;
            if menu.iter().any(|(_, l)| l == "Ferry beenden") {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    let (x, screen) = x11rb::connect(None).expect("the X display");
    let root = x.setup().roots[screen].root;
    let window = app_window(&x, root).expect("the app's window");
    close_window(&x, window);
    until("the window hides", || !mapped(&x, window)).await;
    assert!(app_running(), "closing to the tray keeps Ferry running");

    // Bob writes while the window is closed: a notification, and the count in the tray.
    bob.conversation(chat).send("Still on?").expect("send");
    // (The daemon also kept the notification of Bob's first message, from before.)
    let shown = within("a notification while in the tray", async {
        loop {
            let shown = notifications.next().await;
            if shown.body == "Still on?" {
                return shown;
            }
        }
    })
    .await;
    assert_eq!(shown.summary, "Bob Builder");
    within("the unread count in the tray", tray.wait_label(&item, "1")).await;

    // A link to Carol opens the window at a chat with her (a second launch hands it over).
    let handed = Command::new(env!("CARGO_BIN_EXE_ferry-desktop"))
        .arg("ferry://user/carol")
        .env("FERRY_CLIENT_DIR", app_dir.path())
        .env("FERRY_LOG_DIR", app_dir.path().join("logs"))
        .env("XDG_CONFIG_HOME", &config)
        .env("HOME", &home)
        .status();
    let handed = within("the second launch to hand over", handed)
        .await
        .expect("run the app again");
    assert!(handed.success(), "{handed}");
    until("the window shows again", || mapped(&x, window)).await;
    // The running app started the chat, and its window shows it (the header is drawn
    // anew as it opens: read it afresh each time, a stale one is no answer).
    within("carol's chat opens", async {
        loop {
            let shown = match b.find(fantoccini::Locator::Css(&id("thread-title"))).await {
                Ok(title) => title.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if shown.contains("Carol Danvers") {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    shots.take(&b, "deep-link").await;
    let mut carols = carol.events();
    within("the chat the link started reaches carol", async {
        while !carol
            .conversations(None, 10)
            .expect("carol's list")
            .iter()
            .any(|c| c.members.iter().any(|m| m.user.username == "alice"))
        {
            let _ = carols.recv().await;
        }
    })
    .await;

    // Quit from the tray's menu ends the app.
    tray.click(&item, "Ferry beenden").await;
    until("the app quits", || !app_running()).await;
    drop(driver);
}
