//! Commands of the app itself (this computer, not the account): its settings (theme,
//! language, closing to the tray, starting at login), its version and its updates.

use tauri::{AppHandle, State};
use tauri_plugin_autostart::ManagerExt;

use super::Result;
use crate::error::CommandError;
use crate::events::AvailableUpdate;
use crate::settings::{AppSettings, Settings};
use crate::state::Desktop;
use crate::update;

/// The app's settings.
#[tauri::command]
pub fn app_settings(stored: State<'_, Settings>) -> AppSettings {
    stored.get()
}

/// Changes the app's settings and answers what is stored: starting at login is set with
/// the system first (refused there, nothing is stored), and a new language relabels the
/// tray.
#[tauri::command]
pub fn set_app_settings(
    app: AppHandle,
    stored: State<'_, Settings>,
    desktop: State<'_, Desktop>,
    settings: AppSettings,
) -> Result<AppSettings> {
    settings.check()?;
    let before = stored.get();
    if settings.start_at_login != before.start_at_login {
        let autostart = app.autolaunch();
        let done = if settings.start_at_login {
            autostart.enable()
        } else {
            autostart.disable()
        };
        done.map_err(|e| CommandError::local(format!("could not change starting at login: {e}")))?;
    }
    stored.set(settings.clone())?;
    if settings.language != before.language {
        crate::tray::relabel(&app, desktop.unread_total());
    }
    Ok(stored.get())
}

/// The version of Ferry running now.
#[tauri::command]
pub fn app_version(app: AppHandle) -> String {
    update::current_version(&app)
}

/// Asks the update feed whether a newer Ferry is published (`null`: this is the newest).
#[tauri::command]
pub async fn check_for_update(app: AppHandle) -> Result<Option<AvailableUpdate>> {
    update::check(&app, update::signed_in_server(&app).as_deref()).await
}

/// Downloads, verifies and installs the update `check_for_update` found, then starts
/// Ferry again as the new version (its progress comes as `update_progress` events).
/// Answers only when it failed, and then nothing changed.
#[tauri::command]
pub async fn install_update(app: AppHandle) -> Result<()> {
    update::install(&app).await
}
