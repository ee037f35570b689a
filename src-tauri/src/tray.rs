//! The tray icon: Ferry's place while its window is closed. Its tooltip (and, where the
//! desktop shows one, its label) carries the unread total; its menu opens the window or
//! quits; a click on it opens the window. Closing the window hides it instead of ending
//! the app when the person chose so (`close_to_tray`, see [`crate::settings`]): the
//! engine keeps running and notifications keep coming, until Quit.

use tauri::menu::{Menu, MenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, RunEvent, WindowEvent};

use crate::settings::Settings;
use crate::texts::{self, Texts};

/// The tray icon's id.
const ID: &str = "main";
/// The menu items' ids.
const OPEN: &str = "open";
const QUIT: &str = "quit";

/// Puts Ferry's icon in the tray, its texts in the chosen language.
pub fn start(app: &AppHandle) -> tauri::Result<TrayIcon> {
    let texts = chosen_texts(app);
    let mut builder = TrayIconBuilder::with_id(ID)
        .tooltip((texts.tooltip)(0))
        .menu(&menu(app, texts)?)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| match event.id.as_ref() {
            OPEN => reveal(app),
            QUIT => app.exit(0),
            _ => {}
        })
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                reveal(tray.app_handle());
            }
        });
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)
}

fn menu(app: &AppHandle, texts: &Texts) -> tauri::Result<Menu<tauri::Wry>> {
    let open = MenuItem::with_id(app, OPEN, texts.open, true, None::<&str>)?;
    let quit = MenuItem::with_id(app, QUIT, texts.quit, true, None::<&str>)?;
    Menu::with_items(app, &[&open, &quit])
}

fn chosen_texts(app: &AppHandle) -> &'static Texts {
    let language = app.state::<Settings>().get().language;
    texts::current(language.as_deref())
}

/// Shows the unread total on the tray icon.
pub fn show_unread(app: &AppHandle, total: i64) {
    if let Some(tray) = app.tray_by_id(ID) {
        let tooltip = (chosen_texts(app).tooltip)(total);
        let _ = tray.set_tooltip(Some(&tooltip));
        // A label beside the icon: macOS's menu bar and Linux's indicators show it.
        let _ = tray.set_title((total > 0).then(|| total.to_string()));
    }
}

/// The language changed: the menu and tooltip say it in the new one.
pub fn relabel(app: &AppHandle, total: i64) {
    if let Some(tray) = app.tray_by_id(ID) {
        match menu(app, chosen_texts(app)) {
            Ok(menu) => {
                let _ = tray.set_menu(Some(menu));
            }
            Err(e) => tracing::warn!(error = %e, "could not relabel the tray menu"),
        }
    }
    show_unread(app, total);
}

/// Shows, un-minimises and focuses the window.
pub fn reveal(app: &AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}

/// What the app does with the run loop's own events: on macOS, a click on the Dock icon
/// while the window is closed to the tray opens it again, as Mail and Slack do (the
/// window is only hidden, so without this the click did nothing). Elsewhere the tray
/// icon and a second launch (the single-instance plugin) open it.
pub fn on_run_event(app: &AppHandle, event: RunEvent) {
    #[cfg(target_os = "macos")]
    if let RunEvent::Reopen {
        has_visible_windows: false,
        ..
    } = event
    {
        reveal(app);
    }
    #[cfg(not(target_os = "macos"))]
    let _ = (app, event);
}

/// Whether closing the window should only hide it (the person chose so).
pub fn keeps_running(app: &AppHandle, event: &WindowEvent) -> bool {
    matches!(event, WindowEvent::CloseRequested { .. })
        && app.state::<Settings>().get().close_to_tray
}
