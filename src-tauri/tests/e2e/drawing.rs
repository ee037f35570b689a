//! The window as people get it, which no WebDriver test can show: started without
//! WebDriver, the app draws its web content on the CPU (`rendering.rs`; a window driven
//! by WebDriver keeps WebKit's default drawing, see there why). The app resumes an
//! account from the keyring and its data folder, says it draws on the CPU, paints its
//! conversation list, and its window's pixels, read back from the X server, show the page
//! drawn (text, the chat's row): not the blank or black window a drawing mode that paints
//! nothing leaves.

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use ferry_client::tokens::KeyringTokens;
use ferry_client::{Client, ClientOptions};
use ferry_testkit::{Served, TestDb, TestServer};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::broadcast::error::RecvError;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt, ImageFormat};

use crate::installed::{app_window, mapped, person};
use crate::{WAIT, kill_group, server_config, within};

/// Colours a drawn page has at the least: its text alone, anti-aliased, has more. A
/// window whose page is not drawn shows one or two (its background, or black).
const DRAWN: usize = 16;

/// The app, with every process it starts (WebKit's), killed when dropped.
struct App {
    child: Child,
    group: u32,
}

impl Drop for App {
    fn drop(&mut self) {
        kill_group(&mut self.child, self.group);
    }
}

/// How many colours the window's pixels hold now (`None` while X cannot say).
fn colours(x: &impl Connection, window: u32) -> Option<usize> {
    let size = x.get_geometry(window).ok()?.reply().ok()?;
    let image = x
        .get_image(
            ImageFormat::Z_PIXMAP,
            window,
            0,
            0,
            size.width,
            size.height,
            !0,
        )
        .ok()?
        .reply()
        .ok()?;
    // Xvfb's 24-bit screen: four bytes a pixel.
    let pixels: HashSet<&[u8]> = image.data.chunks_exact(4).collect();
    Some(pixels.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_people_get_is_drawn_on_the_cpu() {
    let _turn = crate::ONE_APP.lock().await;
    let server_db = TestDb::sqlite();
    let server = TestServer::start_with(server_config(&server_db)).await;
    let url = server.url();

    // The account the app resumes: its token in the keyring, its store in `data`, with
    // a chat in its list.
    let data = tempfile::tempdir().expect("dir");
    let tokens = KeyringTokens::new().expect("the keyring (scripts/with-keyring.sh)");
    let carol = Client::register(
        ClientOptions::new(&url, data.path()),
        Arc::new(tokens),
        "carol",
        "correct horse battery",
        "Carol Writer",
    )
    .await
    .expect("register");
    let (dan, _dan_dir) = person(&url, "dan", "Dan Reader").await;
    let chat = dan.open_direct("carol").await.expect("dan opens a chat");
    dan.conversation(chat)
        .send("Drawn on the CPU?")
        .expect("send");
    let mut events = carol.events();
    carol.start();
    within("carol's store to hold the chat", async {
        while carol
            .conversation(chat)
            .messages(None, 1)
            .expect("carol's messages")
            .is_empty()
        {
            // Lagging behind is fine: the store is read again either way.
            if let Err(RecvError::Closed) = events.recv().await {
                panic!("carol's client stopped");
            }
        }
    })
    .await;
    // The app opens the store itself.
    carol.stop().await;

    let logs = tempfile::tempdir().expect("dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry-desktop"))
        .env("FERRY_CLIENT_DIR", data.path())
        .env("FERRY_LOG_DIR", logs.path())
        .env("RUST_LOG", "info,ferry_desktop::rendering=debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .expect("start the app");
    let stderr = child.stderr.take().expect("its stderr");
    let group = child.id().expect("its pid");
    let _app = App { child, group };
    let mut lines = BufReader::new(stderr).lines();
    let said = within("the app's first paint of its list", async {
        let mut said = Vec::new();
        while let Some(line) = lines.next_line().await.expect("its log") {
            let painted = line.contains("first paint");
            said.push(line);
            if painted {
                return said;
            }
        }
        panic!("the app ended before it painted: {said:#?}")
    })
    .await;
    // Read on, so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    assert!(
        said.iter()
            .any(|l| l.contains("web content is drawn on the CPU")),
        "the app did not say it draws on the CPU: {said:#?}"
    );

    // The pixels follow the paint the page reported as soon as X has them.
    let (x, screen) = x11rb::connect(None).expect("the X display");
    let root = x.setup().roots[screen].root;
    let mut seen = None;
    let mut look = tokio::time::interval(Duration::from_millis(50));
    let drawn = tokio::time::timeout(WAIT, async {
        loop {
            look.tick().await;
            seen = app_window(&x, root)
                .filter(|w| mapped(&x, *w))
                .and_then(|w| colours(&x, w));
            if seen.is_some_and(|n| n >= DRAWN) {
                return;
            }
        }
    })
    .await;
    assert!(
        drawn.is_ok(),
        "the window was not drawn: {seen:?} colours in it at the end (a page has {DRAWN} or more)"
    );
    println!("the window drawn on the CPU: {seen:?} colours");

    dan.stop().await;
    server.stop().await;
}
