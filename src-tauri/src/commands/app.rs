//! Commands of the app's own settings (this computer, not the account): theme, language,
//! closing to the tray, starting at login.

use tauri::{AppHandle, State};
use tauri_plugin_autostart::ManagerExt;

use super::Result;
use crate::error::CommandError;
use crate::settings::{AppSettings, Settings};
use crate::state::Desktop;

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
