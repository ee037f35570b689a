//! The operators' web console (`/admin/`) in a real browser: Debian's Chromium, headless,
//! driven through chromedriver. An operator signs in, finds a report in the queue, reads
//! the reported message in its context, suspends the sender (whose socket closes at
//! once), removes the message, resolves the report, and finds all of it in the users list
//! and the audit log. Someone who is not an administrator gets no further than sign-in.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client as Browser, ClientBuilder, Locator};
use ferry_proto::ReportReceipt;
use reqwest::Method;
use serde_json::json;

use crate::admin::host_admin_ok;
use crate::support::{Backend, PASSWORD, Served, TestDb, TestServer, User, WAIT, on_both, within};

/// chromedriver on a free port, stopped with the test.
struct Driver {
    child: tokio::process::Child,
    port: u16,
}

impl Driver {
    async fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; scripts/setup.sh installs it)");
        let driver = Self { child, port };
        until("chromedriver ready", async || {
            reqwest::get(format!("http://127.0.0.1:{port}/status"))
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(drop)
        })
        .await;
        driver
    }

    async fn browser(&self) -> Browser {
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                // Root in a container has no sandbox to give; the window is big enough
                // for the console's two panes.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--window-size=1280,900"],
            }),
        );
        within(
            "a WebDriver session",
            ClientBuilder::native()
                .capabilities(caps)
                .connect(&format!("http://127.0.0.1:{}", self.port)),
        )
        .await
        .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn id(test_id: &str) -> String {
    format!("[data-testid=\"{test_id}\"]")
}

/// Waits for an element matching `css`.
async fn wait_css(b: &Browser, css: &str) -> Element {
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
}

async fn find(b: &Browser, test_id: &str) -> Element {
    wait_css(b, &id(test_id)).await
}

/// Looks at `check` until it finds something, failing the test after [`WAIT`]: neither
/// chromedriver nor the page has an event to wait on from here (fantoccini's own waits
/// poll too), so the looks are a cadence, not a guess at how long anything takes.
async fn until<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    within(what, async {
        let mut cadence = tokio::time::interval(Duration::from_millis(50));
        loop {
            cadence.tick().await;
            if let Some(found) = check().await {
                return found;
            }
        }
    })
    .await
}

/// Waits until the text of the element matching `css` satisfies `want`.
async fn text_becomes(b: &Browser, css: &str, what: &str, want: impl Fn(&str) -> bool) -> String {
    until(what, async || {
        let text = b.find(Locator::Css(css)).await.ok()?.text().await.ok()?;
        want(&text).then_some(text)
    })
    .await
}

/// Types `text` into the reason dialog and confirms it.
async fn give_reason(b: &Browser, text: &str) {
    wait_css(b, "textarea[name=\"reason\"]")
        .await
        .send_keys(text)
        .await
        .expect("type the reason");
    find(b, "confirm").await.click().await.expect("confirm");
}

/// Screenshots for a person to look at, when `FERRY_E2E_ARTIFACTS` names a folder.
async fn shot(b: &Browser, name: &str) {
    let Some(dir) = std::env::var_os("FERRY_E2E_ARTIFACTS").map(PathBuf::from) else {
        return;
    };
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(png) = b.screenshot().await {
        let _ = std::fs::write(dir.join(format!("console-{name}.png")), png);
    }
}

async fn sign_in(b: &Browser, username: &str) {
    let name = wait_css(b, "input[name=\"username\"]").await;
    name.clear().await.expect("clear");
    name.send_keys(username).await.expect("username");
    let password = wait_css(b, "input[name=\"password\"]").await;
    password.clear().await.expect("clear");
    password.send_keys(PASSWORD).await.expect("password");
    find(b, "sign-in").await.click().await.expect("sign in");
}

async fn an_operator_works_through_a_report_in_the_console(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = TestServer::start(&db).await;
    User::register(&server, "root").await;
    host_admin_ok(&db.url, &["grant", "root"]).await;
    let alice = User::register(&server, "alice").await;
    let mallory = User::register(&server, "mallory").await;
    let chat = alice.direct_with(&mallory).await.id;
    mallory.accept(chat).await;
    alice.send_rest(chat, "hi there").await;
    let awful = mallory.send_rest(chat, "something awful").await;
    mallory.send_rest(chat, "and more").await;
    let report: ReportReceipt = alice
        .ok(
            Method::POST,
            "/reports",
            Some(json!({"user_id": mallory.id(), "conversation_id": chat,
                "message_id": awful.id, "reason": "threats"})),
        )
        .await;
    let mut mallorys = mallory.ws().await;

    let driver = Driver::start().await;
    let b = driver.browser().await;
    b.goto(&format!("{}/admin/", server.url()))
        .await
        .expect("open the console");

    // Someone who is not an administrator gets no further.
    sign_in(&b, "alice").await;
    let said = text_becomes(&b, &id("error"), "the refusal", |t| !t.is_empty()).await;
    assert!(said.contains("not an administrator"), "{said}");
    assert!(b.find(Locator::Css(&id("tab-reports"))).await.is_err());
    shot(&b, "refused").await;

    sign_in(&b, "root").await;
    let whoami = text_becomes(&b, &id("whoami"), "signed in", |t| !t.is_empty()).await;
    assert!(whoami.contains("root"), "{whoami}");
    let item = wait_css(&b, &format!("[data-report-id=\"{}\"]", report.id)).await;
    item.click().await.expect("open the report");
    find(&b, "report-detail").await;
    let reported = text_becomes(&b, &id("reported-message"), "the reported message", |t| {
        t.contains("something awful")
    })
    .await;
    assert!(!reported.contains("hi there"), "{reported}");
    let context = b
        .find_all(Locator::Css(&id("context-message")))
        .await
        .expect("context");
    let mut around = Vec::new();
    for message in context {
        around.push(message.text().await.expect("text"));
    }
    assert!(
        around.iter().any(|t| t.contains("hi there"))
            && around.iter().any(|t| t.contains("and more")),
        "{around:?}"
    );
    shot(&b, "report").await;

    // Suspend the sender: their socket closes at once.
    find(&b, "suspend-reported")
        .await
        .click()
        .await
        .expect("suspend");
    give_reason(&b, "threats in a direct chat").await;
    text_becomes(&b, &id("notice"), "the suspension's notice", |t| {
        !t.is_empty()
    })
    .await;
    let closed = mallorys.closed().await.expect("a close frame");
    assert_eq!(u16::from(closed.code), ferry_proto::close::TOKEN_EXPIRED);

    find(&b, "remove-message")
        .await
        .click()
        .await
        .expect("remove");
    give_reason(&b, "threats").await;
    text_becomes(&b, &id("reported-message"), "the removal shown", |t| {
        t.contains("removed by an administrator")
    })
    .await;
    let history = alice.history(chat).await;
    assert!(
        history
            .iter()
            .any(|m| m.id == awful.id && m.removed_by_operator),
        "the server holds the removal"
    );
    shot(&b, "removed").await;

    find(&b, "resolve").await.click().await.expect("resolve");
    give_reason(&b, "suspended and removed").await;
    let css = format!("[data-testid=\"report\"][data-report-id=\"{}\"]", report.id);
    until("the report leaves the open queue", async || {
        b.find(Locator::Css(&css)).await.is_err().then_some(())
    })
    .await;

    find(&b, "tab-users").await.click().await.expect("users");
    let search = wait_css(&b, "input[name=\"q\"]").await;
    search.send_keys("mall").await.expect("search");
    text_becomes(
        &b,
        "[data-testid=\"user-row\"][data-username=\"mallory\"] [data-testid=\"user-status\"]",
        "mallory shown suspended",
        |t| t.trim() == "suspended",
    )
    .await;
    shot(&b, "users").await;

    find(&b, "tab-audit").await.click().await.expect("audit");
    for action in ["suspend", "remove_message", "resolve_report", "grant_admin"] {
        wait_css(
            &b,
            &format!("[data-testid=\"audit-row\"][data-action=\"{action}\"]"),
        )
        .await;
    }
    shot(&b, "audit").await;
    find(&b, "sign-out").await.click().await.expect("sign out");
    wait_css(&b, "input[name=\"username\"]").await;
    b.close().await.expect("close the browser");
}

on_both!(an_operator_works_through_a_report_in_the_console);
