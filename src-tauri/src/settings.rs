//! [`AppSettings`]: what the person chose for the app on this computer, apart from their
//! account: the theme, the language, closing the window to the tray, starting at login.
//! Kept as JSON in the app's config directory, written whole to a temporary file and then
//! renamed over the old one, so a crash never leaves half a file. A file that cannot be
//! read gives the defaults (and says so in the log) rather than an app that will not
//! start.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ferry_client::ErrorKind;
use ferry_proto::ErrorCode;
use serde::{Deserialize, Serialize};

use crate::error::CommandError;

/// Light, dark, or as the system says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    /// Follow the system's light or dark appearance, and its changes.
    #[default]
    System,
    /// Always light.
    Light,
    /// Always dark.
    Dark,
}

/// The app's own settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(default)]
pub struct AppSettings {
    /// The colours.
    pub theme: Theme,
    /// The language of the app's text, as a BCP 47 tag (`de`, `en-GB`); `null` follows
    /// the system's.
    pub language: Option<String>,
    /// Closing the window keeps Ferry running in the tray, where notifications keep
    /// coming; Quit in the tray's menu ends it.
    pub close_to_tray: bool,
    /// Ferry starts when the person logs in to the computer.
    pub start_at_login: bool,
}

impl Default for AppSettings {
    fn default() -> Self {
        Self {
            theme: Theme::System,
            language: None,
            // Where the platform expects an app to stay when its window closes (Windows'
            // tray, macOS's dock); on Linux many desktops show no tray, so closing quits.
            close_to_tray: cfg!(any(windows, target_os = "macos")),
            start_at_login: false,
        }
    }
}

impl AppSettings {
    /// Checks what the UI sent: a language must look like a language tag.
    pub fn check(&self) -> Result<(), CommandError> {
        if let Some(tag) = &self.language
            && !is_language_tag(tag)
        {
            return Err(CommandError {
                kind: ErrorKind::Code(ErrorCode::InvalidRequest),
                message: format!("{tag:?} is not a language tag (such as \"de\" or \"en-GB\")"),
            });
        }
        Ok(())
    }
}

/// A language tag as far as the app needs: 2–3 letters, then subtags of 1–8 letters or
/// digits, separated by `-`.
fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or_default();
    tag.len() <= 35
        && (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// The settings and the file they live in.
pub struct Settings {
    path: PathBuf,
    current: Mutex<AppSettings>,
}

impl Settings {
    /// The file's settings, or the defaults when there is none or it cannot be read.
    pub fn load(path: PathBuf) -> Self {
        let current = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "settings unreadable; using the defaults");
                AppSettings::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => AppSettings::default(),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "settings unreadable; using the defaults");
                AppSettings::default()
            }
        };
        Self {
            path,
            current: Mutex::new(current),
        }
    }

    /// The settings now.
    pub fn get(&self) -> AppSettings {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stores `settings` (checked first), on disk and here.
    pub fn set(&self, settings: AppSettings) -> Result<(), CommandError> {
        settings.check()?;
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        write(&self.path, &settings).map_err(|e| {
            CommandError::local(format!(
                "could not save the settings in {}: {e}",
                self.path.display()
            ))
        })?;
        *current = settings;
        Ok(())
    }
}

fn write(path: &Path, settings: &AppSettings) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let json = serde_json::to_vec_pretty(settings).map_err(std::io::Error::other)?;
    let temporary = path.with_extension("json.new");
    std::fs::write(&temporary, json)?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_survive_a_restart_and_a_bad_file_gives_the_defaults() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("settings.json");
        assert_eq!(Settings::load(path.clone()).get(), AppSettings::default());
        let chosen = AppSettings {
            theme: Theme::Dark,
            language: Some("de".into()),
            close_to_tray: true,
            start_at_login: true,
        };
        Settings::load(path.clone())
            .set(chosen.clone())
            .expect("saved");
        assert_eq!(Settings::load(path.clone()).get(), chosen);
        std::fs::write(&path, b"{not json").expect("spoil the file");
        assert_eq!(Settings::load(path).get(), AppSettings::default());
    }

    #[test]
    fn only_language_tags_are_taken() {
        for good in ["de", "en-GB", "zh-Hant-TW", "gsw"] {
            assert!(is_language_tag(good), "{good}");
        }
        for bad in [
            "",
            "d",
            "deutsch",
            "en_GB",
            "de-",
            "../../etc",
            "en-GB-waytoolongsubtag",
        ] {
            assert!(!is_language_tag(bad), "{bad}");
        }
        let settings = AppSettings {
            language: Some("x/y".into()),
            ..AppSettings::default()
        };
        assert!(settings.check().is_err());
    }
}
