//! Ferry's desktop app: a Tauri 2 shell around `ferry-client`. The Rust side owns all
//! state and logic; the UI (`ui/`) renders what the core's events say and calls the
//! typed commands in [`commands`]. This crate owns only what is truly desktop: the window
//! (single instance, remembered size and position, unread count in the title and on the
//! icon: [`badge`], a steady text cursor that lets an idle window rest: [`caret`]), native
//! notifications ([`notify`] decides, [`notifier`] shows them and answers clicks), what
//! is done with files (opened with the system's applications only when passive:
//! [`opening`]; images shown in the viewer only within a pixel budget: [`viewer`];
//! pictures pasted from the system clipboard that the webview does not hand to the page:
//! [`clipboard`]), the OS keyring choice and the app data directory.
//!
//! Every core event is forwarded to the window as a [`events::UiEvent`] (`ferry://event`)
//! that carries what changed; a clicked notification asks the window to open its
//! conversation with `ferry://open`. Failed commands answer with an
//! [`error::CommandError`] whose kind (`ferry_client::ErrorKind`) the UI branches on.

pub mod badge;
pub mod caret;
pub mod clipboard;
pub mod commands;
pub mod deep_link;
pub mod error;
pub mod events;
#[cfg(test)]
mod fixtures;
pub mod logs;
pub mod navigation;
pub mod notifier;
pub mod notify;
pub mod opening;
pub mod rendering;
pub mod settings;
pub mod state;
pub mod texts;
pub mod tray;
pub mod unread;
pub mod update;
pub mod viewer;

use std::sync::{Arc, LazyLock};
use std::time::Instant;

use ferry_client::tokens::KeyringTokens;
use ferry_client::{Client, ClientOptions};
use tauri::{AppHandle, Manager};
use tauri_plugin_deep_link::DeepLinkExt;

use crate::notifier::Notifier;
use crate::state::Desktop;

/// Keeps `client` as the signed-in one, starts its engine and forwards its events.
pub(crate) fn attach(app: &AppHandle, state: &Desktop, client: Client) -> ferry_proto::User {
    // The engine's tasks run on Tauri's Tokio runtime. A command already runs inside it,
    // but `setup` (the silent sign-in at start) does not, and spawning there panics.
    let runtime = tauri::async_runtime::handle();
    let _inside = runtime.inner().enter();
    let client = Arc::new(client);
    let user = client.me().clone();
    let server = client.server_url().to_owned();
    state.set_client(Some(client.clone()));
    // Subscribed before the engine starts, so that no change goes unheard.
    let events = client.events();
    events::forward(app.clone(), client.clone(), events);
    client.start();
    // At start (the silent sign-in) and at each sign-in: the feed is the server's.
    update::check_in_background(app, Some(server));
    user
}

/// The argument the system starts Ferry with at login (see [`settings::AppSettings`]).
const AT_LOGIN: &str = "--at-login";

/// When the process started (near enough: when [`run`] began).
pub(crate) static STARTED: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Starts the app: silent sign-in from the keyring, then the window paints from the store.
pub fn run() {
    LazyLock::force(&STARTED);
    if let Err(e) = open_display() {
        eprintln!("Ferry could not start: {e}");
        std::process::exit(1);
    }
    tauri::Builder::default()
        // Must come first: a second launch focuses the running window instead, and hands
        // over the link it was started with (Linux and Windows start the app with it).
        .plugin(tauri_plugin_single_instance::init(|app, args, _cwd| {
            tray::reveal(app);
            for url in args
                .iter()
                .skip(1)
                .filter_map(|a| tauri::Url::parse(a).ok())
            {
                deep_link::open(app, &url);
            }
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec![AT_LOGIN]),
        ))
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_dialog::init())
        // Used from Rust only (update.rs): the window cannot call the plugin itself.
        .plugin(tauri_plugin_updater::Builder::new().build())
        .plugin(
            tauri::plugin::Builder::<tauri::Wry>::new("navigation-guard")
                .on_navigation(|_, url| {
                    let allowed = navigation::stays_in_app(url);
                    if !allowed {
                        tracing::warn!(%url, "navigation away from the app refused");
                    }
                    allowed
                })
                .build(),
        )
        .on_window_event(|window, event| {
            if tray::keeps_running(window.app_handle(), event)
                && let tauri::WindowEvent::CloseRequested { api, .. } = event
            {
                api.prevent_close();
                let _ = window.hide();
            }
        })
        .setup(|app| {
            let log_dir = match std::env::var_os("FERRY_LOG_DIR") {
                Some(dir) => dir.into(),
                None => app.path().app_log_dir()?,
            };
            app.manage(logs::start(&log_dir));
            let data_dir = match std::env::var_os("FERRY_CLIENT_DIR") {
                Some(dir) => dir.into(),
                None => app.path().app_data_dir()?,
            };
            tracing::info!(
                // The bundle's version (what updates compare), not the crate's.
                version = %update::current_version(app.handle()),
                data_dir = %data_dir.display(),
                log_dir = %log_dir.display(),
                "Ferry desktop starting"
            );
            // Before anything reads them (the tray, notifications' language).
            app.manage(settings::Settings::load(data_dir.join("settings.json")));
            // Before the engine starts: its first message may already notify.
            app.manage(Notifier::start(app.handle()));
            if let Err(e) = tray::start(app.handle()) {
                // Some desktops have no tray; the window works without one.
                tracing::warn!(error = %e, "no tray icon");
            }
            let started_at_login = std::env::args().any(|a| a == AT_LOGIN);
            if started_at_login && app.state::<settings::Settings>().get().close_to_tray {
                // Started with the session: straight to the tray, as Slack and Teams do.
                if let Some(window) = app.get_webview_window("main") {
                    let _ = window.hide();
                }
            }
            caret::keep_steady();
            if let Some(window) = app.get_webview_window("main") {
                rendering::lighten(&window);
            }
            // Before the silent sign-in, which checks for updates.
            app.manage(update::Updates::default());
            // Managed before the silent sign-in: the engine it starts forwards events at
            // once, and the forwarder reads this state (it panicked on a resumed start
            // whose first event came before the state was there).
            app.manage(Desktop::new(data_dir.clone()));
            // Silent sign-in: the account last used here, with its tokens from the keyring.
            if let Ok(tokens) = KeyringTokens::new() {
                match Client::resume(ClientOptions::new("", &data_dir), Arc::new(tokens)) {
                    Ok(Some(client)) => {
                        attach(app.handle(), &app.state::<Desktop>(), client);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "could not resume the last session"),
                }
            }
            if update::has_own_feed(app.handle())
                && update::signed_in_server(app.handle()).is_none()
            {
                // No sign-in to check at: the build's own feed is asked now.
                update::check_in_background(app.handle(), None);
            }
            update::check_daily(app.handle());
            // Links: the one this process was started with, and those handed over later.
            let handle = app.handle().clone();
            app.deep_link().on_open_url(move |event| {
                for url in event.urls() {
                    deep_link::open(&handle, &url);
                }
            });
            if let Ok(Some(urls)) = app.deep_link().get_current() {
                for url in urls {
                    deep_link::open(app.handle(), &url);
                }
            }
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::session,
            commands::sign_in,
            commands::sign_up,
            commands::sign_out,
            commands::conversations,
            commands::conversation,
            commands::messages,
            commands::send_message,
            commands::send_files,
            commands::send_file_data,
            commands::send_clipboard_image,
            commands::cancel_upload,
            commands::attachment_preview,
            commands::download_attachment,
            commands::open_image,
            commands::save_attachment,
            commands::open_attachment,
            commands::edit_message,
            commands::delete_message,
            commands::react,
            commands::retry_message,
            commands::discard_message,
            commands::mark_read,
            commands::set_typing,
            commands::set_draft,
            commands::set_notifications,
            commands::find_users,
            commands::open_direct,
            commands::create_group,
            commands::add_members,
            commands::leave_conversation,
            commands::safety_number,
            commands::accept_request,
            commands::dismiss_request,
            commands::set_blocked,
            commands::blocked_users,
            commands::report_user,
            commands::search,
            commands::presence,
            commands::set_attention,
            commands::reconnect_now,
            commands::first_paint,
            commands::account_details,
            commands::rename,
            commands::change_password,
            commands::set_email,
            commands::verify_email,
            commands::set_missed_message_mail,
            commands::set_do_not_disturb,
            commands::do_not_disturb,
            commands::account_sessions,
            commands::end_session,
            commands::history_requests,
            commands::send_history,
            commands::dismiss_history_request,
            commands::ask_for_history,
            commands::delete_account,
            commands::export_account,
            commands::set_picture,
            commands::remove_picture,
            commands::user_picture,
            commands::forgot_password,
            commands::reset_password,
            commands::app_settings,
            commands::set_app_settings,
            commands::app_version,
            commands::check_for_update,
            commands::install_update,
        ])
        .build(tauri::generate_context!())
        .unwrap_or_else(|e| {
            eprintln!("Ferry could not start: {e}");
            std::process::exit(1);
        })
        .run(tray::on_run_event);
}

/// Starts GTK on this (the main) thread, or says why it cannot: without a display, the
/// window system's own start panicked with a backtrace ("Failed to initialize gtk
/// backend!"). Tauri's start then finds GTK running and goes on.
#[cfg(all(unix, not(target_os = "macos")))]
fn open_display() -> Result<(), String> {
    gtk::init().map_err(|_| {
        let variable = |name| std::env::var(name).unwrap_or_else(|_| "not set".into());
        format!(
            "it needs a graphical session, and GTK could not open a display \
             (DISPLAY: {}, WAYLAND_DISPLAY: {}); run it from a desktop session",
            variable("DISPLAY"),
            variable("WAYLAND_DISPLAY")
        )
    })
}

/// macOS and Windows always have their window system.
#[cfg(not(all(unix, not(target_os = "macos"))))]
fn open_display() -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod command_bindings;

#[cfg(test)]
mod bindings {
    //! The TypeScript declarations of everything the UI receives are generated from these
    //! Rust types into `ui/src/lib/bindings/`; this test fails when the committed files
    //! are stale (run with `FERRY_UPDATE_BINDINGS=1` to rewrite them).

    use std::path::PathBuf;

    use ts_rs::TS;

    fn check<T: TS + 'static + ?Sized>(out: &mut Vec<String>) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui/src/lib/bindings");
        let path = dir.join(format!("{}.ts", T::name(&ts_rs::Config::default())));
        let text = T::export_to_string(&ts_rs::Config::default()).expect("render declaration");
        if std::env::var_os("FERRY_UPDATE_BINDINGS").is_some() {
            std::fs::create_dir_all(&dir).expect("bindings dir");
            std::fs::write(&path, &text).expect("write binding");
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            out.push(path.display().to_string());
        }
    }

    #[test]
    fn typescript_bindings_are_current() {
        let mut stale = Vec::new();
        check::<ferry_proto::User>(&mut stale);
        check::<ferry_proto::Presence>(&mut stale);
        check::<ferry_proto::Role>(&mut stale);
        check::<ferry_proto::ConversationKind>(&mut stale);
        check::<ferry_proto::MemberState>(&mut stale);
        check::<ferry_proto::Timestamp>(&mut stale);
        check::<ferry_proto::UserId>(&mut stale);
        check::<ferry_proto::PictureId>(&mut stale);
        check::<ferry_proto::ConversationId>(&mut stale);
        check::<ferry_proto::MessageId>(&mut stale);
        check::<ferry_proto::UploadId>(&mut stale);
        check::<ferry_proto::UserStatus>(&mut stale);
        check::<ferry_proto::SessionId>(&mut stale);
        check::<ferry_proto::Account>(&mut stale);
        check::<ferry_proto::AccountSettings>(&mut stale);
        check::<ferry_proto::SessionInfo>(&mut stale);
        check::<ferry_client::LocalMessage>(&mut stale);
        check::<ferry_client::Quote>(&mut stale);
        check::<ferry_client::Reaction>(&mut stale);
        check::<ferry_client::MessageStatus>(&mut stale);
        check::<ferry_client::ConversationSummary>(&mut stale);
        check::<ferry_client::MemberView>(&mut stale);
        check::<ferry_client::ListPosition>(&mut stale);
        check::<ferry_client::SearchHit>(&mut stale);
        check::<ferry_client::HistoryRequest>(&mut stale);
        check::<ferry_client::ConnectionState>(&mut stale);
        check::<crate::events::UiEvent>(&mut stale);
        check::<ferry_proto::ErrorCode>(&mut stale);
        check::<ferry_client::LocalErrorKind>(&mut stale);
        check::<ferry_client::ErrorKind>(&mut stale);
        check::<crate::error::CommandError>(&mut stale);
        check::<crate::state::SessionView>(&mut stale);
        check::<crate::state::KnownAccount>(&mut stale);
        check::<ferry_proto::NotifyLevel>(&mut stale);
        check::<crate::settings::AppSettings>(&mut stale);
        check::<crate::settings::Theme>(&mut stale);
        check::<crate::events::AvailableUpdate>(&mut stale);
        assert!(
            stale.is_empty(),
            "stale TypeScript bindings (run FERRY_UPDATE_BINDINGS=1 cargo test -p ferry-desktop): {stale:?}"
        );
    }
}
